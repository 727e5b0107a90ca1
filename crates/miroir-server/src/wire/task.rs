//! Meilisearch's task and batch objects, the summarized task a write answers with, and the
//! `details` rules of finished tasks.

use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde_json::{json, Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use miroir_core::task::{format_duration, TaskStatus};
use miroir_store::TaskRecord;

/// Formats a timestamp as Meilisearch does (RFC 3339, UTC, fractional seconds). A time RFC 3339
/// cannot express (a year past 9999) is shown in `time`'s own format rather than hidden.
pub(crate) fn format_time(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_else(|_| at.to_string())
}

fn format_opt(at: Option<OffsetDateTime>) -> Value {
    at.map(|t| Value::String(format_time(t)))
        .unwrap_or(Value::Null)
}

/// The `202` answer to a write: Meilisearch's summarized task.
pub(crate) fn summarized(task: &TaskRecord) -> impl IntoResponse {
    summarized_with(StatusCode::ACCEPTED, task)
}

/// The summarized task with another status: task cancelation and deletion answer `200` on
/// Meilisearch (a known quirk of its API, kept for compatibility).
pub(crate) fn summarized_with(status: StatusCode, task: &TaskRecord) -> impl IntoResponse {
    let mut summary = json!({
        "taskUid": task.uid,
        "indexUid": task.index_uid,
        "status": "enqueued",
        "type": task.kind,
        "enqueuedAt": format_time(task.enqueued_at),
    });
    if let Some(metadata) = &task.custom_metadata {
        summary["customMetadata"] = Value::String(metadata.clone());
    }
    (status, Json(summary))
}

fn duration(task: &TaskRecord) -> Value {
    match (task.started_at, task.finished_at) {
        (Some(start), Some(end)) => Value::String(format_duration(end - start)),
        _ => Value::Null,
    }
}

/// Meilisearch's full task object.
pub(crate) fn task_object(task: &TaskRecord) -> Value {
    let batch_uid = if task.status == TaskStatus::Enqueued {
        Value::Null
    } else {
        Value::from(task.uid)
    };
    let canceled_by = match (task.status, task.canceled_by) {
        (TaskStatus::Canceled, Some(by)) => Value::from(by),
        _ => Value::Null,
    };
    let mut object = Map::new();
    object.insert("uid".into(), Value::from(task.uid));
    object.insert("batchUid".into(), batch_uid);
    object.insert("indexUid".into(), json!(task.index_uid));
    object.insert("status".into(), Value::from(task.status.as_str()));
    object.insert("type".into(), Value::from(task.kind.clone()));
    object.insert("canceledBy".into(), canceled_by);
    if let Some(details) = &task.details {
        object.insert("details".into(), details.clone());
    }
    object.insert("error".into(), task.error.clone().unwrap_or(Value::Null));
    object.insert("duration".into(), duration(task));
    object.insert(
        "enqueuedAt".into(),
        Value::String(format_time(task.enqueued_at)),
    );
    object.insert("startedAt".into(), format_opt(task.started_at));
    object.insert("finishedAt".into(), format_opt(task.finished_at));
    if let Some(metadata) = &task.custom_metadata {
        object.insert("customMetadata".into(), Value::String(metadata.clone()));
    }
    Value::Object(object)
}

/// Meilisearch's batch object for one task (Miroir records one batch per task).
pub(crate) fn batch_object(task: &TaskRecord) -> Value {
    let mut types = Map::new();
    types.insert(task.kind.clone(), Value::from(1));
    let mut statuses = Map::new();
    statuses.insert(task.status.as_str().to_string(), Value::from(1));
    let mut index_uids = Map::new();
    if let Some(uid) = &task.index_uid {
        index_uids.insert(uid.clone(), Value::from(1));
    }
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
        "duration": duration(task),
        "startedAt": task.started_at.map(format_time),
        "finishedAt": task.finished_at.map(format_time),
        "batchStrategy": "Miroir records one batch per task",
    })
}

/// `details` of a task that failed: counts of work done become 0, as on Meilisearch.
pub(crate) fn failed_details(kind: &str, mut details: Value) -> Value {
    if let Value::Object(map) = &mut details {
        for key in ["indexedDocuments", "deletedDocuments", "editedDocuments"] {
            if map.contains_key(key) {
                map.insert(key.to_string(), Value::from(0));
            }
        }
        if kind == "taskCancelation" {
            map.insert("canceledTasks".to_string(), Value::from(0));
        }
    }
    details
}

/// `details` of a task that succeeded without node work (e.g. an empty document batch).
pub(crate) fn succeeded_details(kind: &str, mut details: Value) -> Value {
    if let Value::Object(map) = &mut details {
        if kind == "documentAdditionOrUpdate" {
            let received = map
                .get("receivedDocuments")
                .cloned()
                .unwrap_or(Value::from(0));
            map.insert("indexedDocuments".to_string(), received);
        }
        for key in ["deletedDocuments", "editedDocuments", "canceledTasks"] {
            if map.get(key).is_some_and(Value::is_null) {
                map.insert(key.to_string(), Value::from(0));
            }
        }
    }
    details
}
