//! `POST /dumps` and `POST /snapshots`: one Miroir task over every node.

use std::sync::Arc;

use axum::extract::State;
use axum::http::Method;
use axum::response::IntoResponse;
use serde_json::{json, Value};

use crate::error::Result;
use crate::state::AppState;
use crate::tasks::registry::NewTask;
use crate::wire::task::summarized;
use crate::write::journal::{broadcast, submit};

/// `POST /dumps`: one Miroir task that has every node write a dump of its own data. A cluster
/// is restored by starting each node from its own dump (same node ids and URLs) and Miroir on
/// its state directory (`db_path`), which holds the index metadata and tasks the dumps lack.
pub(crate) async fn create_dump(State(state): State<Arc<AppState>>) -> Result<impl IntoResponse> {
    instance_task(
        &state,
        "dumpCreation",
        Some(json!({"dumpUid": null})),
        "/dumps",
    )
    .await
}

/// `POST /snapshots`: one Miroir task that has every node take a snapshot (restore as for
/// dumps: each node from its snapshot, Miroir on its own `db_path`).
pub(crate) async fn create_snapshot(
    State(state): State<Arc<AppState>>,
) -> Result<impl IntoResponse> {
    instance_task(&state, "snapshotCreation", None, "/snapshots").await
}

async fn instance_task(
    state: &AppState,
    kind: &'static str,
    details: Option<Value>,
    path: &str,
) -> Result<impl IntoResponse> {
    let task = NewTask {
        kind,
        index_uid: None,
        details,
        custom_metadata: None,
    };
    let _guard = state.write_lock.lock().await;
    let calls = broadcast(state, Method::POST, path, None);
    let record = submit(state, task, calls, None).await?;
    Ok(summarized(&record))
}
