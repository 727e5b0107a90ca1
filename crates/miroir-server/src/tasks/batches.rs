//! `/batches`: Meilisearch's batch objects for Miroir's tasks.
//!
//! Miroir does not group client tasks: each Miroir task is its own batch, with the task's uid
//! (its node tasks are batched by each node as the node sees fit). A task gets its batch when
//! it starts, as on Meilisearch, so enqueued tasks have none.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::Value;

use miroir_core::task::TaskStatus;

use super::filter::parse_filter;
use super::routes::paginate;
use crate::error::{ErrorType, MeiliError, Result};
use crate::extract::Params;
use crate::state::AppState;
use crate::wire::task::batch_object;

const STARTED: [TaskStatus; 4] = [
    TaskStatus::Processing,
    TaskStatus::Succeeded,
    TaskStatus::Failed,
    TaskStatus::Canceled,
];

/// `GET /batches`
pub(crate) async fn list_batches(
    State(state): State<Arc<AppState>>,
    params: Params,
) -> Result<Json<Value>> {
    let mut filter = parse_filter(&params)?;
    filter.statuses = Some(match filter.statuses.take() {
        Some(list) => list.into_iter().filter(|s| STARTED.contains(s)).collect(),
        None => STARTED.to_vec(),
    });
    // Meilisearch reads a batch listing's parameters as a task listing's (same codes).
    let limit = params.usize("limit", "invalid_task_limit")?.unwrap_or(20);
    let from = params.usize("from", "invalid_task_from")?.map(|f| f as u64);
    let reverse = params.get("reverse") == Some("true");
    paginate(&state, filter, from, limit, reverse, batch_object).map(Json)
}

/// `GET /batches/{uid}`
pub(crate) async fn get_batch(
    State(state): State<Arc<AppState>>,
    Path(uid): Path<String>,
) -> Result<Json<Value>> {
    let not_found = |uid: &str| {
        MeiliError::new(
            StatusCode::NOT_FOUND,
            "batch_not_found",
            ErrorType::InvalidRequest,
            format!("Batch `{uid}` not found."),
        )
    };
    let parsed = uid.parse::<u64>().map_err(|_| {
        MeiliError::invalid(
            "invalid_batch_uids",
            format!("Batch uid `{uid}` is invalid. It should only contain numeric characters."),
        )
    })?;
    match state.store.get_task(parsed)? {
        Some(task) if task.status != TaskStatus::Enqueued => Ok(Json(batch_object(&task))),
        _ => Err(not_found(&uid).into()),
    }
}
