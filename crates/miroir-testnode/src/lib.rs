//! # miroir-testnode
//!
//! **Test support, not a product.** A small, in-memory HTTP server that speaks the subset of
//! Meilisearch 1.50's API that Miroir uses, so Miroir's tests (and `miroir dev`) can run
//! without a real `meilisearch` binary. Everything lives behind one mutex, persisted to a
//! directory when one is given (`--db-path`); one background worker processes the task queue. It is faithful where Miroir depends
//! on it (task lifecycle and objects, error objects and codes, document ids and primary-key
//! inference, filters, ranking score details) and deliberately simple everywhere else.
//!
//! ## Implemented
//! - `GET /health`, `GET /version`, `GET /stats`, `GET /indexes/{uid}/stats`.
//! - Master-key auth (`Authorization: Bearer …`), except on `/health` and `/`.
//! - Tasks: a global FIFO queue processed one task at a time (enqueued → processing →
//!   succeeded/failed/canceled), full task objects, `GET /tasks` with every filter and
//!   pagination, `GET /tasks/{uid}`, `POST /tasks/cancel`, `DELETE /tasks`.
//! - Indexes: create, list, get, update (primary key, rename), delete, `POST /swap-indexes`.
//! - Documents: add/replace (`POST`) and update (`PUT`) in JSON, NDJSON and CSV (typed
//!   headers, `csvDelimiter`), primary-key inference and id validation as task failures,
//!   browse (`GET`), fetch (`POST …/fetch`), get one, delete one / batch / by filter / all.
//! - Settings: every route and sub-route listed in [`settings::SUB_ROUTES`], Meilisearch's
//!   defaults, synchronous validation, updates as `settingsUpdate` tasks.
//! - Filters: the whole expression grammar (`=`, `!=`, `>`, `>=`, `<`, `<=`, `TO`, `IN`,
//!   `NOT IN`, `EXISTS`, `IS [NOT] NULL`, `IS [NOT] EMPTY`, `AND`, `OR`, `NOT`, parentheses,
//!   quotes, nested fields, `_geoRadius`, `_geoBoundingBox`), string and array forms, checked
//!   against `filterableAttributes` (strings and pattern objects).
//! - Search (`GET`/`POST /indexes/{uid}/search`), facet search and multi-search: see the
//!   [`search`] module for what is and is not modelled.
//! - Experimental features, dumps, snapshots, chat workspace settings and `/render-template`,
//!   minimally: see the [`instance`] module.
//! - Dynamic search rules and the documents they pin in search: see the [`rules`] module.
//!
//! ## Not implemented
//! API keys (`/keys`) and tenant tokens (only the master key is checked), persisted dumps and
//! snapshots, `/batches`, chat completions, embedders and hybrid/vector search (embedder settings
//! are stored only), document edition by function, `CONTAINS`/`STARTS WITH` filters,
//! `_geoPolygon`, `_geojson`, synonyms and the tokenizer settings (dictionary, separator
//! tokens), `proximityPrecision: byAttribute`, localized attributes, search cutoff,
//! `mergeFacets` and remote/network options in federated search, autobatching (every task is
//! its own batch), payload size limits beyond a fixed 100 MB, compressed request bodies,
//! `customMetadata` on anything but document writes (there it is echoed in the task).

#![warn(missing_docs)]

pub mod auth;
pub mod documents;
pub mod error;
pub mod filter;
pub mod http;
pub mod indexes;
pub mod instance;
pub mod keys;
pub mod payload;
pub mod redis_server;
pub mod rules;
pub mod search;
pub mod settings;
pub mod settings_routes;
pub mod store;
pub mod tasks;
pub mod util;
pub mod worker;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post, MethodRouter};
use axum::Router;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::store::AppState;

/// Node configuration.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// The master key every request (but `/health`) must present, if any.
    pub master_key: Option<String>,
    /// Where the node persists its state (`None`: in memory only).
    pub data_dir: Option<std::path::PathBuf>,
}

/// Adds a route and its trailing-slash twin (Meilisearch trims trailing slashes).
fn route(
    router: Router<Arc<AppState>>,
    path: &str,
    method: MethodRouter<Arc<AppState>>,
) -> Router<Arc<AppState>> {
    router
        .route(path, method.clone())
        .route(&format!("{path}/"), method)
}

/// The application's routes over a shared state.
pub fn router(state: Arc<AppState>) -> Router {
    let table: Vec<(&str, MethodRouter<Arc<AppState>>)> = vec![
        ("/version", get(indexes::version)),
        ("/stats", get(indexes::get_stats)),
        ("/tasks", get(tasks::list_tasks).delete(tasks::delete_tasks)),
        ("/tasks/cancel", post(tasks::cancel_tasks)),
        ("/tasks/{uid}", get(tasks::get_task)),
        (
            "/indexes",
            get(indexes::list_indexes).post(indexes::create_index),
        ),
        (
            "/indexes/{uid}",
            get(indexes::get_index)
                .patch(indexes::update_index)
                .delete(indexes::delete_index),
        ),
        ("/indexes/{uid}/stats", get(indexes::get_index_stats)),
        ("/indexes/{uid}/compact", post(indexes::compact_index)),
        ("/swap-indexes", post(indexes::swap_indexes)),
        (
            "/indexes/{uid}/documents",
            get(documents::get_documents)
                .post(documents::replace_documents)
                .put(documents::update_documents)
                .delete(documents::clear_documents),
        ),
        (
            "/indexes/{uid}/documents/fetch",
            post(documents::fetch_documents),
        ),
        (
            "/indexes/{uid}/documents/delete-batch",
            post(documents::delete_batch),
        ),
        (
            "/indexes/{uid}/documents/delete",
            post(documents::delete_by_filter),
        ),
        (
            "/indexes/{uid}/documents/{id}",
            get(documents::get_document).delete(documents::delete_document),
        ),
        (
            "/indexes/{uid}/settings",
            get(settings_routes::get_settings)
                .patch(settings_routes::update_settings)
                .delete(settings_routes::reset_settings),
        ),
        (
            "/indexes/{uid}/settings/{name}",
            get(settings_routes::sub_route)
                .put(settings_routes::sub_route)
                .patch(settings_routes::sub_route)
                .delete(settings_routes::sub_route),
        ),
        (
            "/indexes/{uid}/search",
            get(search::routes::search_get).post(search::routes::search_post),
        ),
        (
            "/indexes/{uid}/facet-search",
            post(search::routes::facet_search),
        ),
        ("/multi-search", post(search::routes::multi_search)),
        (
            "/experimental-features",
            get(instance::get_features).patch(instance::update_features),
        ),
        ("/dumps", post(instance::create_dump)),
        ("/snapshots", post(instance::create_snapshot)),
        ("/chats", get(instance::list_chats)),
        (
            "/chats/{workspace}",
            get(instance::get_chat).delete(instance::delete_chat),
        ),
        (
            "/chats/{workspace}/settings",
            get(instance::get_chat_settings)
                .patch(instance::update_chat_settings)
                .delete(instance::reset_chat_settings),
        ),
        ("/render-template", post(instance::render_template)),
        (
            "/dynamic-search-rules",
            post(rules::list_rules).delete(rules::clear_rules),
        ),
        (
            "/dynamic-search-rules/{rule_uid}",
            get(rules::get_rule)
                .patch(rules::update_rule)
                .delete(rules::delete_rule),
        ),
        ("/keys", get(keys::list_keys).post(keys::create_key)),
        ("/keys/{key}", axum::routing::delete(keys::delete_key)),
        ("/indexes/{uid}/fields", post(instance::list_fields)),
        (
            "/indexes/{uid}/similar",
            get(instance::similar).post(instance::similar),
        ),
        (
            "/indexes/{uid}/documents/edit",
            post(instance::edit_documents),
        ),
    ];
    let mut guarded = Router::new();
    for (path, method) in table {
        guarded = route(guarded, path, method);
    }
    let guarded = guarded.route_layer(axum::middleware::from_fn_with_state(
        state.clone(),
        auth::require_key,
    ));
    route(Router::new(), "/health", get(indexes::health))
        .route("/", get(indexes::root))
        .merge(guarded)
        .layer(DefaultBodyLimit::max(100_000_000))
        .with_state(state)
}

struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Serves until the listener is dropped / the task is aborted.
pub async fn serve(listener: TcpListener, config: Config) -> std::io::Result<()> {
    let state = Arc::new(match &config.data_dir {
        Some(dir) => AppState::open(config.master_key, dir)?,
        None => AppState::new(config.master_key),
    });
    let _worker = AbortOnDrop(tokio::spawn(worker::run(state.clone())));
    axum::serve(listener, router(state)).await
}

/// A node running on the current tokio runtime; the server task is aborted on drop.
pub struct TestNode {
    addr: SocketAddr,
    task: JoinHandle<std::io::Result<()>>,
}

impl TestNode {
    /// The address the node listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Binds 127.0.0.1:0 and spawns the server on the current tokio runtime.
pub async fn spawn(config: Config) -> std::io::Result<TestNode> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(serve(listener, config));
    Ok(TestNode { addr, task })
}
