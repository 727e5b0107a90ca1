//! `/tasks` as clients see it: one task, the filtered listing with Meilisearch's pagination,
//! and task deletion (a task of Miroir's own, run by the poller). Task cancelation reaches the
//! nodes, so it is a write (`write::cancel`). Each Miroir task is its own batch: `batchUid`
//! equals `uid` once the task started.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::{Extension, Json};
use serde_json::{json, Map, Value};

use miroir_core::marker::strip_document;
use miroir_store::{CallBody, TaskFilter, TaskPage, TaskRecord};

use super::filter::{
    original_filter, parse_filter, reject_unknown_params, require_filters, FILTER_PARAMS,
};
use super::registry::{self, NewTask};
use crate::access::Access;
use crate::error::{Error, ErrorType, MeiliError, Result};
use crate::extract::Params;
use crate::state::AppState;
use crate::wire::task::{summarized_with, task_object};

fn invalid(code: &str, message: String) -> Error {
    MeiliError::invalid(code, message).into()
}

/// `GET /tasks/{uid}`
pub(crate) async fn get_task(
    State(state): State<Arc<AppState>>,
    Path(uid): Path<String>,
) -> Result<Json<Value>> {
    Ok(Json(task_object(&find_task(&state, &uid)?)))
}

/// The task a route's `{uid}` names, with Meilisearch's errors for a uid that is not a number
/// or names no task.
fn find_task(state: &AppState, uid: &str) -> Result<TaskRecord> {
    let parsed = uid.parse::<u64>().map_err(|_| {
        invalid(
            "invalid_task_uids",
            format!("Task uid `{uid}` is invalid. It should only contain numeric characters."),
        )
    })?;
    state.store.get_task(parsed)?.ok_or_else(|| {
        MeiliError::new(
            StatusCode::NOT_FOUND,
            "task_not_found",
            ErrorType::InvalidRequest,
            format!("Task `{parsed}` not found."),
        )
        .into()
    })
}

/// `GET /tasks/{uid}/documents`: the documents of a document addition or update that is still
/// enqueued or processing, as NDJSON — as Meilisearch answers it, behind its
/// `getTaskDocumentsRoute` experimental feature (read from the nodes). Miroir reads them from
/// the task's journal entry, whose payload holds each document once with the shard marker
/// appended (removed here). They come grouped by the nodes their shards live on, in the
/// client's order within a group, rather than in the client's order.
pub(crate) async fn get_task_documents(
    State(state): State<Arc<AppState>>,
    Path(uid): Path<String>,
) -> Result<impl IntoResponse> {
    let features = crate::instance::features::current(&state).await?;
    if features["getTaskDocumentsRoute"] != true {
        return Err(MeiliError::new(
            StatusCode::BAD_REQUEST,
            "feature_not_enabled",
            ErrorType::InvalidRequest,
            "Getting the documents of an enqueued task requires enabling the `get task documents route` experimental feature. See https://github.com/orgs/meilisearch/discussions/808".to_string(),
        )
        .into());
    }
    let task = find_task(&state, &uid)?;
    let uid = task.uid;
    let no_documents = || -> Error {
        MeiliError::new(
            StatusCode::NOT_FOUND,
            "task_file_not_found",
            ErrorType::InvalidRequest,
            format!("Task `{uid}` does not contain any documents. Only `documentAdditionOrUpdate` tasks with the statuses `enqueued` or `processing` contain documents"),
        )
        .into()
    };
    if task.status.is_finished() || task.kind != "documentAdditionOrUpdate" {
        return Err(no_documents());
    }
    let entry = state
        .store
        .journal_entry_of_task(uid)?
        .ok_or_else(no_documents)?;
    let payload_end = entry
        .calls
        .iter()
        .filter_map(|call| match &call.body {
            CallBody::Payload { ranges } => ranges.iter().map(|(_, end)| *end).max(),
            _ => None,
        })
        .max()
        .ok_or_else(no_documents)?;
    let payload = state.store.payload_ranges(entry.seq, &[(0, payload_end)])?;
    let mut documents = Vec::with_capacity(payload.len());
    for line in payload
        .split(|byte| *byte == b'\n')
        .filter(|line| !line.is_empty())
    {
        let corrupt = |_| Error::Store(miroir_store::Error::Corrupt("journal payload line"));
        let mut document: Map<String, Value> = serde_json::from_slice(line).map_err(corrupt)?;
        strip_document(&mut document);
        serde_json::to_writer(&mut documents, &document).map_err(corrupt)?;
        documents.push(b'\n');
    }
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/x-ndjson")],
        documents,
    ))
}

/// `GET /tasks`
pub(crate) async fn list_tasks(
    State(state): State<Arc<AppState>>,
    Extension(access): Extension<Access>,
    params: Params,
) -> Result<Json<Value>> {
    let mut allowed = vec!["limit", "from", "reverse"];
    allowed.extend(FILTER_PARAMS);
    reject_unknown_params(&params, &allowed)?;
    let mut filter = parse_filter(&params)?;
    filter.index_patterns = access.restricted_patterns();
    let limit = params.usize("limit", "invalid_task_limit")?.unwrap_or(20);
    let from = params.usize("from", "invalid_task_from")?.map(|f| f as u64);
    let reverse = match params.get("reverse") {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(invalid(
                "invalid_task_reverse",
                format!("Invalid value in parameter `reverse`: could not parse `{other}` as a boolean, expected either `true` or `false`"),
            ))
        }
    };
    paginate(&state, filter, from, limit, reverse, task_object).map(Json)
}

/// One page of tasks rendered by `render`, with Meilisearch's `from`/`next` pagination:
/// one extra task is read to know whether there is a next page and where it starts.
pub(crate) fn paginate(
    state: &AppState,
    filter: TaskFilter,
    from: Option<u64>,
    limit: usize,
    reverse: bool,
    render: fn(&TaskRecord) -> Value,
) -> Result<Value> {
    let page = TaskPage {
        filter,
        from,
        limit: limit.saturating_add(1),
        reverse,
    };
    let (mut tasks, total) = state.store.list_tasks(&page)?;
    let next = if tasks.len() > limit {
        tasks.pop().map(|t| Value::from(t.uid))
    } else {
        None
    };
    let results: Vec<Value> = tasks.iter().map(render).collect();
    Ok(json!({
        "results": results,
        "total": total,
        "limit": limit,
        "from": tasks.first().map(|t| t.uid),
        "next": next,
    }))
}

/// `DELETE /tasks`: forgets matching finished tasks.
pub(crate) async fn delete_tasks(
    State(state): State<Arc<AppState>>,
    RawQuery(raw): RawQuery,
) -> Result<impl IntoResponse> {
    let params = Params::parse(raw.as_deref());
    require_filters(&params, "delete")?;
    let filter = parse_filter(&params)?;
    let _guard = state.write_lock.lock().await;
    let matched = state.store.matching_task_uids(&filter)?;
    // Like Meilisearch, the deletion runs after every task enqueued before it has finished
    // (see `run_task_deletion`), so a task that was still running when asked is deleted too.
    let record = registry::local(
        &state,
        NewTask {
            kind: "taskDeletion",
            index_uid: None,
            details: Some(json!({
                "matchedTasks": matched.len(),
                "deletedTasks": null,
                "originalFilter": original_filter(&raw),
            })),
            custom_metadata: None,
        },
    )?;
    Ok(summarized_with(StatusCode::OK, &record))
}
