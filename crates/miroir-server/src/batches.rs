//! `/batches`: Meilisearch's batch objects for Miroir's tasks.
//!
//! Miroir does not group client tasks: each Miroir task is its own batch, with the task's uid
//! (its node tasks are batched by each node as the node sees fit). A task gets its batch when
//! it starts, as on Meilisearch, so enqueued tasks have none.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Map, Value};

use miroir_core::task::{format_duration, TaskStatus};
use miroir_store::TaskRecord;

use crate::error::{ErrorType, MeiliError, Result};
use crate::extract::Params;
use crate::tasks::{format_time, parse_filter};

/// Meilisearch's batch object for one task.
pub fn batch_object(task: &TaskRecord) -> Value {
    let mut types = Map::new();
    types.insert(task.kind.clone(), Value::from(1));
    let mut statuses = Map::new();
    statuses.insert(task.status.as_str().to_string(), Value::from(1));
    let mut index_uids = Map::new();
    if let Some(uid) = &task.index_uid {
        index_uids.insert(uid.clone(), Value::from(1));
    }
    let duration = match (task.started_at, task.finished_at) {
        (Some(start), Some(end)) => Value::String(format_duration(end - start)),
        _ => Value::Null,
    };
    json!({
        "uid": task.uid,
        "progress": null,
        "details": task.details.clone().unwrap_or_else(|| json!({})),
        "stats": {
            "totalNbTasks": 1,
            "status": statuses,
            "types": types,
            "indexUids": index_uids,
            "progressTrace": {},
        },
        "duration": duration,
        "startedAt": task.started_at.map(format_time),
        "finishedAt": task.finished_at.map(format_time),
        "batchStrategy": "Miroir records one batch per task",
    })
}

const STARTED: [TaskStatus; 4] = [
    TaskStatus::Processing,
    TaskStatus::Succeeded,
    TaskStatus::Failed,
    TaskStatus::Canceled,
];

/// `GET /batches`
pub async fn list_batches(
    State(state): State<Arc<crate::state::AppState>>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>> {
    let params = Params::parse(raw.as_deref());
    let mut filter = parse_filter(&params)?;
    filter.statuses = Some(match filter.statuses.take() {
        Some(list) => list.into_iter().filter(|s| STARTED.contains(s)).collect(),
        None => STARTED.to_vec(),
    });
    let limit = params.usize("limit", "invalid_batch_limit")?.unwrap_or(20);
    let from = params
        .usize("from", "invalid_batch_from")?
        .map(|f| f as u64);
    let reverse = params.get("reverse") == Some("true");
    crate::tasks::paginate(&state, filter, from, limit, reverse, batch_object).map(Json)
}

/// `GET /batches/{uid}`
pub async fn get_batch(
    State(state): State<Arc<crate::state::AppState>>,
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
