//! The cluster page at `/_miroir/ui/`: nodes with their state, load and shards, the shard map
//! (stale replicas highlighted), each node's journal lag, the rebalance with a progress bar,
//! and buttons to add, drain and remove nodes and change the replication factor.
//!
//! The page is three static files compiled into the binary (`include_str!`: no CDN, nothing
//! fetched at run time), plain HTML, CSS and JavaScript with no framework, as there is no build
//! step to bundle one. The files hold no data, so they are served to anyone; the page asks for
//! the master key in a form, keeps it in the tab's session storage only, and sends it with each
//! call to the admin API (`/_miroir/topology`, `/_miroir/nodes`, `/_miroir/shards`,
//! `/_miroir/rebalance/*`), which refuses a call without it. It polls once a second: the
//! fleet changes slowly and polling needs no connection held per viewer.

use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use axum::response::IntoResponse;

const INDEX_HTML: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const STYLE_CSS: &str = include_str!("assets/style.css");

/// Only this origin's script, style and API: the page cannot load or send anything elsewhere.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'";

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, content_type),
            (CONTENT_SECURITY_POLICY, POLICY),
            (CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
}

/// `GET /_miroir/ui` and `/_miroir/ui/`: the page.
pub(crate) async fn page() -> impl IntoResponse {
    asset("text/html; charset=utf-8", INDEX_HTML)
}

/// `GET /_miroir/ui/app.js`
pub(crate) async fn script() -> impl IntoResponse {
    asset("text/javascript; charset=utf-8", APP_JS)
}

/// `GET /_miroir/ui/style.css`
pub(crate) async fn style() -> impl IntoResponse {
    asset("text/css; charset=utf-8", STYLE_CSS)
}
