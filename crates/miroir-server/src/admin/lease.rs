//! `GET /_miroir/lease`: which process runs the work that runs once (task polling and
//! webhooks, journal delivery, the rebuild, the rebalancer) when several Miroir processes
//! share one Redis store, asked of any of them:
//!
//! ```json
//! {"process": "<the answering process>", "store": "redis", "holder": "<process id>",
//!  "token": 7, "leading": false}
//! ```
//!
//! `holder` and `token` are `null` while nobody holds the lease (between a holder's death and
//! its successor taking over). With the embedded SQLite store the one process runs everything
//! and `store` is `"sqlite"`.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use crate::error::Result;
use crate::state::AppState;

/// `GET /_miroir/lease`
pub(crate) async fn lease(State(state): State<Arc<AppState>>) -> Result<Json<Value>> {
    let current = if state.is_shared() {
        state.store.current_lease()?
    } else {
        None
    };
    Ok(Json(json!({
        "process": state.process_id,
        "store": if state.is_shared() { "redis" } else { "sqlite" },
        "holder": current.as_ref().map(|lease| &lease.holder),
        "token": current.as_ref().map(|lease| lease.token),
        "leading": state.leads(),
    })))
}
