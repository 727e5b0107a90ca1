//! Miroir's HTTP front: one endpoint that looks like a single Meilisearch while each index is
//! striped over a fleet of Meilisearch nodes with a replication factor.
//!
//! Dependencies point one way, from the edge down:
//!
//! ```text
//! http (router, auth) ─▶ read / write / tasks / instance / admin ─▶ state ─▶ cluster ─▶ node
//!                  every layer may use: extract, access, error, wire (Meilisearch's JSON shapes)
//! ```
//!
//! - [`http`]: the route table — each route registered with the action it requires — and the
//!   authorization layer (API keys, tenant tokens);
//! - [`read`]: searches, facet search, multi-search, `similar`, document reads, stats;
//! - [`write`]: document writes, index lifecycle, settings, cancelation, the write journal and
//!   its per-node delivery;
//! - [`tasks`]: the task registry, the poller that follows node tasks, `/tasks`, `/batches`,
//!   webhooks;
//! - [`instance`]: keys, chats, experimental features, dumps, unsupported routes;
//! - [`admin`]: Miroir's own API under `/_miroir/` (replica verification and repair);
//! - [`cluster`]: nodes behind the [`cluster::node::NodeApi`] trait, placement, read plans,
//!   fan-out with failover;
//! - [`state`], [`extract`], [`access`], [`error`], [`wire`], [`config`]: what they say.
//!
//! **Following a search**: `http::router` routes `POST /indexes/{uid}/search` through
//! `http::auth` to `read::search::search_post`; `read::query` reads the body once
//! (`wire::search::SearchQuery`, tenant filter ANDed in); `read::search::search` asks
//! `read::scatter` for the nodes' answers — a plan from `cluster::plan`, one request per node
//! through `cluster::fanout` (failover) and `cluster::node` (deadline) — merges them with
//! `miroir_core::merge` and builds the answer in `read::collect`.
//!
//! **Following a document write**: `http::router` routes `POST /indexes/{uid}/documents` to
//! `write::documents::add_documents`; the payload is parsed and split by shard
//! (`miroir_core::document`, `miroir_core::split`) into one request per node;
//! `write::journal::submit` records the task and the journal entry durably (the client's `202`);
//! `write::delivery` sends each node its calls in journal order; `tasks::poller` follows the
//! node tasks until the task is finished.

mod access;
mod admin;
mod background;
mod cluster;
pub mod config;
mod coordination;
mod error;
mod extract;
mod http;
mod instance;
mod metrics;
mod read;
mod rebalance;
mod request;
mod state;
mod tasks;
mod ui;
mod wire;
mod write;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use miroir_store::Store;

use miroir_core::replica::StaleShards;
use miroir_core::topology::{reconcile, NodeState, Notice, TopologyNode};
use state::AppState;

pub use config::{
    ConfigError, NodeConfig, ServerConfig, DEFAULT_HEALTH_INTERVAL, DEFAULT_JOURNAL_RETENTION,
    DEFAULT_JOURNAL_RETENTION_BYTES, DEFAULT_LEASE_TTL, DEFAULT_NODE_TIMEOUT,
    DEFAULT_PAYLOAD_LIMIT, DEFAULT_REPLICA_TIMEOUT,
};
pub use http::auth::Guard;
pub use http::router::{routes, RouteSpec};
pub use instance::keys::key_value;

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
    /// Something else failed while starting.
    #[error("{0}")]
    Other(String),
}

/// Validates the configuration, opens the store and builds the state.
fn build_state(config: ServerConfig) -> Result<Arc<AppState>, StartError> {
    metrics::install();
    config.validate()?;
    let store = miroir_store::open(config.task_store.as_deref(), &config.db_path)?;
    let (config, placed) = with_stored_topology(config, store.as_ref())?;
    let cluster =
        cluster::Cluster::new(&config, placed).map_err(|e| StartError::Other(e.to_string()))?;
    let placement =
        rebalance::seed_record(store.as_ref()).map_err(|e| StartError::Other(e.to_string()))?;
    rebalance::apply(&cluster, &placement).map_err(|e| StartError::Other(e.to_string()))?;
    // A reshape left under way: nodes may hold copies they do not serve until it resumes.
    cluster.set_reshaping(store.list_indexes()?.iter().any(|i| i.reshape.is_some()));
    // An entry held when Miroir stopped had its first call in flight: the node's delivery
    // loop reconciles before sending it, so it is delivered exactly once either way. Another
    // process sharing the store may be probing its own: the leaseholder releases those only
    // once their prober is surely gone (`background`).
    if config.task_store.is_none() {
        let released = store.release_held(time::OffsetDateTime::now_utc())?;
        if released > 0 {
            tracing::info!(released, "journal entries held at the last stop released");
        }
    }
    cluster::marks::reload(&cluster, store.as_ref())?;
    let state = Arc::new(AppState::new(config, store, cluster));
    instance::keys::ensure_default_keys(&state).map_err(|e| match e {
        error::Error::Store(e) => StartError::Store(e),
        other => StartError::Other(other.to_string()),
    })?;
    Ok(state)
}

/// The configuration as the stored topology has it (see `miroir_core::topology`): seeded from
/// the configuration on the very first start, the store's afterwards (the configuration only
/// supplies addresses, and nodes to add). Returns it with its nodes in the server's order (the
/// topology's, removed nodes left out) and the positions of those that hold shards.
fn with_stored_topology(
    mut config: ServerConfig,
    store: &dyn Store,
) -> Result<(ServerConfig, Vec<usize>), StartError> {
    let configured: Vec<TopologyNode> = config
        .nodes
        .iter()
        .map(|node| TopologyNode {
            id: node.id.clone(),
            url: node.url.clone(),
            api_key: node.api_key.clone(),
            zone: node.zone.clone(),
            weight: node.weight,
            state: NodeState::Active,
        })
        .collect();
    let (topology, notices) = reconcile(store.topology()?, &configured, config.replication_factor);
    for notice in notices {
        match notice {
            Notice::Joined(node) => {
                tracing::info!(%node, "a configured node joins the topology: it is set up, then a rebalance moves its share of the shards to it");
                // Set up like a node added through the API: held until the rebuild loop
                // created every index on it (`admin::join`).
                store.set_node_lost(&node, true)?;
                for index in store.list_indexes()? {
                    store.set_stale(&index.uid, &node, Some(&StaleShards::All))?;
                }
            }
            Notice::NotConfigured(node) => tracing::warn!(%node, "a node of the stored topology is not in the configuration; it is kept (remove it through the admin API)"),
            Notice::ReplicationFactorKept { stored, configured } => tracing::warn!(stored, configured, "the configured replication factor differs from the stored topology's, which is kept (change it through the admin API)"),
            Notice::PlacementKept(node) => tracing::warn!(%node, "the configured zone or weight differs from the stored topology's, which is kept"),
        }
    }
    store.put_topology(&topology)?;
    let reachable = topology.reachable_nodes();
    let placed: Vec<usize> = reachable
        .iter()
        .enumerate()
        .filter(|(_, node)| node.state.holds_shards())
        .map(|(position, _)| position)
        .collect();
    config.nodes = reachable
        .into_iter()
        .map(|node| NodeConfig {
            id: node.id.clone(),
            url: node.url.clone(),
            api_key: node.api_key.clone(),
            zone: node.zone.clone(),
            weight: node.weight,
        })
        .collect();
    config.replication_factor = topology.replication_factor;
    if config.min_in_sync > config.replication_factor {
        return Err(StartError::Other(format!(
            "min_in_sync: {} is above the replication factor of the stored topology ({})",
            config.min_in_sync, config.replication_factor
        )));
    }
    Ok((config, placed))
}

/// Serves Miroir on `listener` until the future is dropped.
pub async fn serve(listener: TcpListener, config: ServerConfig) -> Result<(), StartError> {
    let state = build_state(config)?;
    background::spawn_all(&state);
    // Said once the store is open and the nodes are known: from here on requests are served.
    tracing::info!(
        addr = %listener.local_addr().map_or_else(|e| e.to_string(), |a| a.to_string()),
        nodes = state.cluster.node_count(),
        rf = state.cluster.replication_factor(),
        "Miroir listening"
    );
    http::serve::serve(listener, http::router::router(state.clone())).await;
    state.stop_loops();
    Ok(())
}

/// A Miroir running on the current runtime (for tests and `miroir dev`); stops on drop.
pub struct RunningMiroir {
    addr: SocketAddr,
    server: JoinHandle<()>,
    state: Arc<AppState>,
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
        self.state.stop_loops();
    }
}

/// Starts Miroir on `127.0.0.1:0` in the background.
pub async fn spawn(config: ServerConfig) -> Result<RunningMiroir, StartError> {
    let state = build_state(config)?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    background::spawn_all(&state);
    let server = tokio::spawn(http::serve::serve(
        listener,
        http::router::router(state.clone()),
    ));
    Ok(RunningMiroir {
        addr,
        server,
        state,
    })
}
