//! Miroir's HTTP front: one endpoint that looks like a single Meilisearch while each index is
//! striped over a fleet of Meilisearch nodes with a replication factor.
//!
//! - [`app`]: the router and the master-key check;
//! - [`indexes`], [`documents`], [`settings`], [`stats`], [`tasks`]: the Meilisearch routes;
//! - [`state`]: shared state and the write dispatcher (ordering, first-node probe);
//! - [`cluster`], [`node`]: placement and the node clients;
//! - [`error`]: the one error type and its mapping to Meilisearch error objects.

pub mod app;
pub mod auth;
pub mod batches;
pub mod cluster;
pub mod config;
pub mod documents;
pub mod error;
pub mod extract;
pub mod fanout;
pub mod indexes;
pub mod instance;
pub mod keys;
pub mod node;
pub mod relay;
pub mod search;
pub mod settings;
pub mod similar;
pub mod state;
pub mod stats;
pub mod tasks;
pub mod tenant;
pub mod unsupported;
pub mod webhooks;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::{Mutex, Notify};
use tokio::task::JoinHandle;

use miroir_store::SqliteStore;

pub use config::{ConfigError, NodeConfig, ServerConfig, DEFAULT_PAYLOAD_LIMIT};

/// Why Miroir could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The state directory could not be opened.
    #[error(transparent)]
    Store(#[from] miroir_store::Error),
    /// The listener failed.
    #[error("http_addr: {0}")]
    Io(#[from] std::io::Error),
}

/// Validates the configuration, opens the store and builds the state.
pub fn build_state(config: ServerConfig) -> Result<Arc<AppState>, StartError> {
    config.validate()?;
    let store = SqliteStore::open(&config.db_path)?;
    let cluster = cluster::Cluster::new(&config);
    let state = Arc::new(AppState {
        config,
        store: Arc::new(store),
        cluster,
        write_lock: Mutex::new(()),
        task_created: Notify::new(),
    });
    keys::ensure_default_keys(&state).map_err(|e| match e {
        error::Error::Store(e) => StartError::Store(e),
        other => StartError::Io(std::io::Error::other(other.to_string())),
    })?;
    Ok(state)
}

pub use state::AppState;

/// Serves Miroir on `listener` until the future is dropped.
pub async fn serve(listener: TcpListener, config: ServerConfig) -> Result<(), StartError> {
    let state = build_state(config)?;
    let poller = tokio::spawn(tasks::run_poller(state.clone()));
    let result = axum::serve(listener, app::router(state)).await;
    poller.abort();
    result.map_err(StartError::Io)
}

/// A Miroir running on the current runtime (for tests and `miroir dev`); stops on drop.
pub struct RunningMiroir {
    addr: SocketAddr,
    server: JoinHandle<()>,
    poller: JoinHandle<()>,
}

impl RunningMiroir {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for RunningMiroir {
    fn drop(&mut self) {
        self.server.abort();
        self.poller.abort();
    }
}

/// Starts Miroir on `127.0.0.1:0` in the background.
pub async fn spawn(config: ServerConfig) -> Result<RunningMiroir, StartError> {
    let state = build_state(config)?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let poller = tokio::spawn(tasks::run_poller(state.clone()));
    let server = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app::router(state)).await {
            tracing::error!(error = %e, "server stopped");
        }
    });
    Ok(RunningMiroir {
        addr,
        server,
        poller,
    })
}
