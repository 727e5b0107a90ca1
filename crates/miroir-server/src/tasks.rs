//! Miroir's task registry as clients see it: task objects, `/tasks` routes, and the poller
//! that derives each Miroir task's state from its node tasks.
//!
//! The poller wakes when a task is created and then polls every node that has unfinished
//! node tasks (one `GET /tasks?uids=…` per node per round, every [`POLL_INTERVAL`]) until
//! nothing is left to wait for. Each Miroir task is its own batch: `batchUid` equals `uid` once
//! the task started.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, RawQuery, State};
use axum::http::{Method, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use futures::future::join_all;
use serde_json::{json, Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use miroir_core::task::{aggregate, format_duration, NodeTaskState, TaskStatus, TASK_TYPES};
use miroir_store::{TaskFilter, TaskPage, TaskRecord};

use crate::error::{Error, ErrorType, MeiliError, Result};
use crate::extract::Params;
use crate::node::NodeBody;
use crate::state::{AppState, NewTask};

/// How often unfinished tasks are polled on the nodes.
pub const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// Formats a timestamp as Meilisearch does (RFC 3339, UTC, fractional seconds).
pub fn format_time(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_default()
}

fn format_opt(at: Option<OffsetDateTime>) -> Value {
    at.map(|t| Value::String(format_time(t)))
        .unwrap_or(Value::Null)
}

/// The `202` answer to a write: Meilisearch's summarized task.
pub fn summarized(task: &TaskRecord) -> impl IntoResponse {
    summarized_with(StatusCode::ACCEPTED, task)
}

/// The summarized task with another status: task cancelation and deletion answer `200` on
/// Meilisearch (a known quirk of its API, kept for compatibility).
pub fn summarized_with(status: StatusCode, task: &TaskRecord) -> impl IntoResponse {
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

/// Meilisearch's full task object.
pub fn task_object(task: &TaskRecord) -> Value {
    let duration = match (task.started_at, task.finished_at) {
        (Some(start), Some(end)) => Value::String(format_duration(end - start)),
        _ => Value::Null,
    };
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
    object.insert("duration".into(), duration);
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

// ---------------------------------------------------------------------------------------------
// Query parsing
// ---------------------------------------------------------------------------------------------

fn invalid(code: &str, message: String) -> Error {
    MeiliError::invalid(code, message).into()
}

fn parse_uids(params: &Params, name: &str, code: &str) -> Result<Option<Vec<u64>>> {
    let Some(list) = params.list(name) else {
        return Ok(None);
    };
    if list.iter().any(|v| v == "*") {
        return Ok(None);
    }
    list.iter()
        .map(|raw| {
            raw.parse::<u64>().map_err(|_| {
                invalid(
                    code,
                    format!("Invalid value in parameter `{name}`: could not parse `{raw}` as a positive integer"),
                )
            })
        })
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

fn parse_date(params: &Params, name: &str, code: &str) -> Result<Option<OffsetDateTime>> {
    let Some(raw) = params.get(name) else {
        return Ok(None);
    };
    if raw == "*" {
        return Ok(None);
    }
    if let Ok(at) = OffsetDateTime::parse(raw, &Rfc3339) {
        return Ok(Some(at));
    }
    // A bare date means the whole day: `before` that day's midnight, `after` the next midnight.
    let format = time::macros::format_description!("[year]-[month]-[day]");
    match time::Date::parse(raw, &format) {
        Ok(date) => {
            let day = date.midnight().assume_utc();
            Ok(Some(if name.starts_with("after") {
                day + time::Duration::days(1)
            } else {
                day
            }))
        }
        Err(_) => Err(invalid(
            code,
            format!("Invalid value in parameter `{name}`: `{raw}` is an invalid date-time. It should follow the YYYY-MM-DD or RFC 3339 date-time format."),
        )),
    }
}

/// Parses the task filters shared by `GET /tasks`, `POST /tasks/cancel` and `DELETE /tasks`.
pub fn parse_filter(params: &Params) -> Result<TaskFilter> {
    let statuses = match params.list("statuses") {
        Some(list) if !list.iter().any(|s| s == "*") => Some(
            list.iter()
                .map(|raw| {
                    TaskStatus::parse(raw).ok_or_else(|| {
                        invalid(
                            "invalid_task_statuses",
                            format!("Invalid value in parameter `statuses`: `{raw}` is not a valid task status. Available statuses are `enqueued`, `processing`, `succeeded`, `failed`, `canceled`."),
                        )
                    })
                })
                .collect::<Result<Vec<_>>>()?,
        ),
        _ => None,
    };
    let types = match params.list("types") {
        Some(list) if !list.iter().any(|s| s == "*") => {
            for raw in &list {
                if !TASK_TYPES.contains(&raw.as_str()) {
                    let available: Vec<String> =
                        TASK_TYPES.iter().map(|t| format!("`{t}`")).collect();
                    return Err(invalid(
                        "invalid_task_types",
                        format!("Invalid value in parameter `types`: `{raw}` is not a valid task type. Available types are {}.", available.join(", ")),
                    ));
                }
            }
            Some(list)
        }
        _ => None,
    };
    let index_uids = match params.list("indexUids") {
        Some(list) if !list.iter().any(|s| s == "*") => {
            for raw in &list {
                if !crate::indexes::valid_index_uid(raw) {
                    return Err(invalid(
                        "invalid_index_uid",
                        format!("Invalid value in parameter `indexUids`: `{raw}` is not a valid index uid. Index uid can be an integer or a string containing only alphanumeric characters, hyphens (-) and underscores (_), and can not be more than 512 bytes."),
                    ));
                }
            }
            Some(list)
        }
        _ => None,
    };
    let uids = parse_uids(params, "uids", "invalid_task_uids")?;
    // Each Miroir task is its own batch, so a batch uid names the task of the same uid.
    let batch_uids = parse_uids(params, "batchUids", "invalid_batch_uids")?;
    let uids = match (uids, batch_uids) {
        (Some(a), Some(b)) => Some(a.into_iter().filter(|u| b.contains(u)).collect()),
        (a, b) => a.or(b),
    };
    Ok(TaskFilter {
        index_patterns: None,
        uids,
        statuses,
        types,
        index_uids,
        canceled_by: parse_uids(params, "canceledBy", "invalid_task_canceled_by")?,
        before_enqueued_at: parse_date(
            params,
            "beforeEnqueuedAt",
            "invalid_task_before_enqueued_at",
        )?,
        after_enqueued_at: parse_date(params, "afterEnqueuedAt", "invalid_task_after_enqueued_at")?,
        before_started_at: parse_date(params, "beforeStartedAt", "invalid_task_before_started_at")?,
        after_started_at: parse_date(params, "afterStartedAt", "invalid_task_after_started_at")?,
        before_finished_at: parse_date(
            params,
            "beforeFinishedAt",
            "invalid_task_before_finished_at",
        )?,
        after_finished_at: parse_date(params, "afterFinishedAt", "invalid_task_after_finished_at")?,
    })
}

/// Filter parameters, in the order Meilisearch lists them in "unknown parameter" errors.
const FILTER_PARAMS: [&str; 12] = [
    "uids",
    "batchUids",
    "canceledBy",
    "types",
    "statuses",
    "indexUids",
    "afterEnqueuedAt",
    "beforeEnqueuedAt",
    "afterStartedAt",
    "beforeStartedAt",
    "afterFinishedAt",
    "beforeFinishedAt",
];

/// The list Meilisearch prints when cancelation or deletion has no filter (its own order).
const MISSING_FILTERS_LIST: &str = "`uids`, `indexUids`, `statuses`, `types`, `canceledBy`, `beforeEnqueuedAt`, `afterEnqueuedAt`, `beforeStartedAt`, `afterStartedAt`, `beforeFinishedAt`, `afterFinishedAt`";

fn reject_unknown_params(params: &Params, allowed: &[&str]) -> Result<()> {
    for name in params.0.keys() {
        if !allowed.contains(&name.as_str()) {
            let expected: Vec<String> = allowed.iter().map(|a| format!("`{a}`")).collect();
            return Err(invalid(
                "bad_request",
                format!(
                    "Unknown parameter `{name}`: expected one of {}",
                    expected.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Routes
// ---------------------------------------------------------------------------------------------

/// `GET /tasks/{uid}`
pub async fn get_task(
    State(state): State<Arc<AppState>>,
    Path(uid): Path<String>,
) -> Result<Json<Value>> {
    let parsed = uid.parse::<u64>().map_err(|_| {
        invalid(
            "invalid_task_uids",
            format!("Task uid `{uid}` is invalid. It should only contain numeric characters."),
        )
    })?;
    match state.store.get_task(parsed)? {
        Some(task) => Ok(Json(task_object(&task))),
        None => Err(MeiliError::new(
            StatusCode::NOT_FOUND,
            "task_not_found",
            ErrorType::InvalidRequest,
            format!("Task `{parsed}` not found."),
        )
        .into()),
    }
}

/// `GET /tasks`
pub async fn list_tasks(
    State(state): State<Arc<AppState>>,
    axum::Extension(access): axum::Extension<crate::auth::Access>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>> {
    let params = Params::parse(raw.as_deref());
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
pub fn paginate(
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

fn original_filter(raw: &Option<String>) -> String {
    format!("?{}", raw.as_deref().unwrap_or_default())
}

fn require_filters(params: &Params, action: &str) -> Result<()> {
    reject_unknown_params(params, &FILTER_PARAMS)?;
    if params.0.is_empty() {
        return Err(invalid(
            "missing_task_filters",
            format!(
                "Query parameters to filter the tasks to {action} are missing. Available query parameters are: {MISSING_FILTERS_LIST}."
            ),
        ));
    }
    Ok(())
}

/// `POST /tasks/cancel`: cancels matching enqueued or processing tasks on their nodes.
pub async fn cancel_tasks(
    State(state): State<Arc<AppState>>,
    RawQuery(raw): RawQuery,
) -> Result<impl IntoResponse> {
    let params = Params::parse(raw.as_deref());
    require_filters(&params, "cancel")?;
    let filter = parse_filter(&params)?;
    let _guard = state.write_lock.lock().await;
    // Like Meilisearch, `matchedTasks` counts every task the filter matches; only those still
    // enqueued or processing are actually canceled.
    let matched = state.store.matching_task_uids(&filter)?;
    let mut per_node: HashMap<String, Vec<u64>> = HashMap::new();
    let mut targets = Vec::new();
    for uid in &matched {
        if let Some(task) = state.store.get_task(*uid)? {
            if task.status.is_finished() {
                continue;
            }
            for node_task in &task.node_tasks {
                per_node
                    .entry(node_task.node.clone())
                    .or_default()
                    .push(node_task.uid);
            }
            targets.push(task);
        }
    }
    let mut calls = Vec::new();
    for (index, node) in state.cluster.nodes().iter().enumerate() {
        if let Some(uids) = per_node.get(&node.id) {
            let list: Vec<String> = uids.iter().map(u64::to_string).collect();
            calls.push(crate::state::NodeCall {
                node: index,
                method: Method::POST,
                path: format!("/tasks/cancel?uids={}", list.join(",")),
                body: NodeBody::Empty,
            });
        }
    }
    let details = json!({
        "matchedTasks": matched.len(),
        "canceledTasks": null,
        "originalFilter": original_filter(&raw),
    });
    let task = NewTask {
        kind: "taskCancelation",
        index_uid: None,
        details: Some(details),
        custom_metadata: None,
    };
    let record = state.dispatch(task, calls).await?;
    for mut target in targets {
        target.canceled_by = Some(record.uid);
        state.store.update_task(&target)?;
    }
    Ok(summarized_with(StatusCode::OK, &record))
}

/// `DELETE /tasks`: forgets matching finished tasks.
pub async fn delete_tasks(
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
    let record = state.local_task(NewTask {
        kind: "taskDeletion",
        index_uid: None,
        details: Some(json!({
            "matchedTasks": matched.len(),
            "deletedTasks": null,
            "originalFilter": original_filter(&raw),
        })),
        custom_metadata: None,
    })?;
    Ok(summarized_with(StatusCode::OK, &record))
}

// ---------------------------------------------------------------------------------------------
// Poller
// ---------------------------------------------------------------------------------------------

/// What one node said about one of its tasks.
struct NodeTaskView {
    state: NodeTaskState,
    details: Option<Value>,
}

fn parse_time(value: Option<&Value>) -> Option<OffsetDateTime> {
    value
        .and_then(Value::as_str)
        .and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok())
}

fn node_task_view(task: &Value) -> Option<(u64, NodeTaskView)> {
    let uid = task.get("uid")?.as_u64()?;
    let status = TaskStatus::parse(task.get("status")?.as_str()?)?;
    Some((
        uid,
        NodeTaskView {
            state: NodeTaskState {
                status,
                error: task.get("error").filter(|e| !e.is_null()).cloned(),
                started_at: parse_time(task.get("startedAt")),
                finished_at: parse_time(task.get("finishedAt")),
            },
            details: task.get("details").cloned(),
        },
    ))
}

/// Runs forever: keeps Miroir task states in step with their node tasks.
pub async fn run_poller(state: Arc<AppState>) {
    loop {
        let pending = match poll_once(&state).await {
            Ok(pending) => pending,
            Err(e) => {
                tracing::warn!(error = %e, "task poll failed");
                true
            }
        };
        if pending {
            tokio::time::sleep(POLL_INTERVAL).await;
        } else {
            // Idle until a task is created; the timeout is a safety net only.
            let _ =
                tokio::time::timeout(Duration::from_secs(1), state.task_created.notified()).await;
        }
    }
}

/// One polling round. Returns whether unfinished tasks remain.
async fn poll_once(state: &AppState) -> Result<bool> {
    let unfinished = state.store.unfinished_tasks()?;
    if unfinished.is_empty() {
        return Ok(false);
    }
    let mut wanted: HashMap<&str, HashSet<u64>> = HashMap::new();
    for task in &unfinished {
        for node_task in &task.node_tasks {
            wanted
                .entry(node_task.node.as_str())
                .or_default()
                .insert(node_task.uid);
        }
    }
    let queries = state.cluster.nodes().iter().filter_map(|node| {
        let uids = wanted.get(node.id.as_str())?;
        let list: Vec<String> = uids.iter().map(u64::to_string).collect();
        let path = format!("/tasks?uids={}&limit={}", list.join(","), uids.len());
        Some(async move {
            (
                node.id.clone(),
                node.json(Method::GET, &path, NodeBody::Empty).await,
            )
        })
    });
    let mut views: HashMap<(String, u64), NodeTaskView> = HashMap::new();
    for (node, answer) in join_all(queries).await {
        match answer {
            Ok(body) => {
                let results = body.get("results").and_then(Value::as_array);
                for task in results.into_iter().flatten() {
                    if let Some((uid, view)) = node_task_view(task) {
                        views.insert((node.clone(), uid), view);
                    }
                }
            }
            Err(e) => tracing::debug!(%node, error = %e, "node unreachable while polling tasks"),
        }
    }
    let pending_uids: Vec<u64> = unfinished.iter().map(|t| t.uid).collect();
    let mut finished = Vec::new();
    for mut task in unfinished {
        if task.kind == "taskDeletion" && task.node_tasks.is_empty() {
            if pending_uids.iter().all(|uid| *uid >= task.uid) {
                run_task_deletion(state, &mut task)?;
                state.store.update_task(&task)?;
                finished.push(task_object(&task));
            }
            continue;
        }
        let mut states = Vec::with_capacity(task.node_tasks.len());
        let mut node_details = Vec::new();
        let mut complete = true;
        for node_task in &task.node_tasks {
            match views.get(&(node_task.node.clone(), node_task.uid)) {
                Some(view) => {
                    states.push(view.state.clone());
                    node_details.extend(view.details.clone());
                }
                None => complete = false,
            }
        }
        if !complete {
            continue;
        }
        let derived = aggregate(&states);
        let changed = derived.status != task.status
            || derived.started_at.map(|at| at.max(task.enqueued_at)) != task.started_at;
        if !changed {
            continue;
        }
        task.status = derived.status;
        // Node clocks may run slightly behind Miroir's: never start before enqueued.
        task.started_at = derived.started_at.map(|at| at.max(task.enqueued_at));
        task.finished_at = derived
            .finished_at
            .map(|at| at.max(task.started_at.unwrap_or(task.enqueued_at)));
        task.error = derived.error;
        if task.status.is_finished() {
            finish(state, &mut task, &node_details)?;
        }
        state.store.update_task(&task)?;
        if task.status.is_finished() {
            finished.push(task_object(&task));
        }
    }
    crate::webhooks::notify(state, &finished);
    Ok(true)
}

/// Runs a task deletion once every earlier task finished: deletes the finished tasks its
/// filter matches among those enqueued before it.
fn run_task_deletion(state: &AppState, task: &mut TaskRecord) -> Result<()> {
    let raw = task
        .details
        .as_ref()
        .and_then(|d| d.get("originalFilter"))
        .and_then(Value::as_str)
        .unwrap_or("?")
        .trim_start_matches('?')
        .to_string();
    let filter = parse_filter(&Params::parse(Some(&raw)))?;
    let mut targets = Vec::new();
    for uid in state.store.matching_task_uids(&filter)? {
        if uid >= task.uid {
            continue;
        }
        if let Some(target) = state.store.get_task(uid)? {
            if target.status.is_finished() {
                targets.push(uid);
            }
        }
    }
    let deleted = state.store.delete_tasks(&targets)?;
    let now = OffsetDateTime::now_utc();
    task.status = TaskStatus::Succeeded;
    task.started_at = Some(now);
    task.finished_at = Some(now);
    if let Some(Value::Object(details)) = &mut task.details {
        details.insert("deletedTasks".into(), Value::from(deleted));
    }
    Ok(())
}

/// Final `details` and side effects of a task that just finished.
fn finish(state: &AppState, task: &mut TaskRecord, node_details: &[Value]) -> Result<()> {
    let succeeded = task.status == TaskStatus::Succeeded;
    // Each document is counted once per copy: by the index's layout when it still exists.
    let rf = task
        .index_uid
        .as_deref()
        .and_then(|uid| state.store.get_index(uid).ok().flatten())
        .map_or(state.cluster.replication_factor(), |index| {
            state.cluster.layout(&index).replicas
        })
        .max(1) as u64;
    let node_sum = |key: &str| -> u64 {
        node_details
            .iter()
            .filter_map(|d| d.get(key).and_then(Value::as_u64))
            .sum()
    };
    let deleted = node_sum("deletedDocuments") / rf;
    let edited = node_sum("editedDocuments") / rf;
    let canceled = if task.kind == "taskCancelation" {
        let filter = TaskFilter {
            canceled_by: Some(vec![task.uid]),
            statuses: Some(vec![TaskStatus::Canceled]),
            ..TaskFilter::default()
        };
        state.store.matching_task_uids(&filter)?.len() as u64
    } else {
        0
    };
    if let Some(Value::Object(details)) = &mut task.details {
        if details.contains_key("indexedDocuments") {
            let received = details
                .get("receivedDocuments")
                .cloned()
                .unwrap_or(Value::from(0));
            let indexed = if succeeded { received } else { Value::from(0) };
            details.insert("indexedDocuments".into(), indexed);
        }
        if details.contains_key("deletedDocuments") {
            let value = if succeeded { deleted } else { 0 };
            details.insert("deletedDocuments".into(), Value::from(value));
        }
        if details.contains_key("editedDocuments") {
            let value = if succeeded { edited } else { 0 };
            details.insert("editedDocuments".into(), Value::from(value));
        }
        if details.contains_key("dumpUid") {
            let uid = node_details
                .iter()
                .find_map(|d| d.get("dumpUid").filter(|u| !u.is_null()).cloned())
                .unwrap_or(Value::Null);
            details.insert("dumpUid".into(), if succeeded { uid } else { Value::Null });
        }
        if details.contains_key("canceledTasks") {
            details.insert("canceledTasks".into(), Value::from(canceled));
        }
    }
    if succeeded && task.kind == "indexUpdate" {
        crate::indexes::apply_index_update(state, task)?;
    }
    Ok(())
}
