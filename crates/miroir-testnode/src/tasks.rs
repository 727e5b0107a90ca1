//! `/tasks` routes: list with Meilisearch's filters and pagination, get one, cancel, delete.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Map, Value};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, Duration, OffsetDateTime, Time};

use crate::error::{ApiError, ApiResult};
use crate::http::Params;
use crate::indexes::valid_uid;
use crate::store::{AppState, Op, Status, Task, TASK_TYPES};

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

/// The filters of `GET /tasks`, `POST /tasks/cancel` and `DELETE /tasks`.
#[derive(Debug, Default, Clone)]
pub struct TaskFilter {
    uids: Option<Vec<u32>>,
    batch_uids: Option<Vec<u32>>,
    canceled_by: Option<Vec<u32>>,
    types: Option<Vec<&'static str>>,
    statuses: Option<Vec<Status>>,
    index_uids: Option<Vec<String>>,
    dates: Vec<(DateField, bool, OffsetDateTime)>,
}

#[derive(Debug, Clone, Copy)]
enum DateField {
    Enqueued,
    Started,
    Finished,
}

fn list(raw: &str) -> Option<Vec<&str>> {
    let items: Vec<&str> = raw.split(',').map(str::trim).collect();
    if items.contains(&"*") {
        None
    } else {
        Some(items)
    }
}

fn element_name(name: &str, index: usize, count: usize) -> String {
    if count > 1 {
        format!("{name}[{index}]")
    } else {
        name.to_string()
    }
}

fn parse_u32_list(params: &Params, name: &str, code: &str) -> ApiResult<Option<Vec<u32>>> {
    let Some(raw) = params.get(name) else {
        return Ok(None);
    };
    let Some(items) = list(raw) else {
        return Ok(None);
    };
    let count = items.len();
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            item.parse::<u32>().map_err(|_| {
                ApiError::new(
                    code,
                    format!(
                        "Invalid value in parameter `{}`: could not parse `{item}` as a positive integer",
                        element_name(name, i, count)
                    ),
                )
            })
        })
        .collect::<ApiResult<Vec<u32>>>()
        .map(Some)
}

fn parse_date(params: &Params, name: &str, after: bool) -> ApiResult<Option<OffsetDateTime>> {
    let Some(raw) = params.get(name) else {
        return Ok(None);
    };
    if raw.trim() == "*" {
        return Ok(None);
    }
    if let Ok(date) = OffsetDateTime::parse(raw, &Rfc3339) {
        return Ok(Some(date));
    }
    if let Ok(day) = Date::parse(raw, format_description!("[year]-[month]-[day]")) {
        let midnight = day.with_time(Time::MIDNIGHT).assume_utc();
        return Ok(Some(if after {
            midnight + Duration::DAY
        } else {
            midnight
        }));
    }
    let mut code = String::from("invalid_task_");
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            code.push('_');
            code.push(c.to_ascii_lowercase());
        } else {
            code.push(c);
        }
    }
    Err(ApiError::new(
        &code,
        format!("Invalid value in parameter `{name}`: `{raw}` is an invalid date-time. It should follow the YYYY-MM-DD or RFC 3339 date-time format."),
    ))
}

impl TaskFilter {
    /// Parses the filter parameters.
    pub fn parse(params: &Params) -> ApiResult<Self> {
        let mut filter = TaskFilter {
            uids: parse_u32_list(params, "uids", "invalid_task_uids")?,
            batch_uids: parse_u32_list(params, "batchUids", "invalid_batch_uids")?,
            canceled_by: parse_u32_list(params, "canceledBy", "invalid_task_canceled_by")?,
            ..TaskFilter::default()
        };
        if let Some(items) = params.get("types").and_then(list) {
            let count = items.len();
            let mut types = Vec::new();
            for (i, item) in items.into_iter().enumerate() {
                match TASK_TYPES.iter().find(|t| t.eq_ignore_ascii_case(item)) {
                    Some(t) => types.push(*t),
                    None => {
                        return Err(ApiError::new(
                            "invalid_task_types",
                            format!(
                                "Invalid value in parameter `{}`: `{item}` is not a valid task type. Available types are {}.",
                                element_name("types", i, count),
                                crate::util::quoted_list(&TASK_TYPES)
                            ),
                        ))
                    }
                }
            }
            filter.types = Some(types);
        }
        if let Some(items) = params.get("statuses").and_then(list) {
            let count = items.len();
            let mut statuses = Vec::new();
            for (i, item) in items.into_iter().enumerate() {
                match Status::ALL.iter().find(|s| s.as_str().eq_ignore_ascii_case(item)) {
                    Some(s) => statuses.push(*s),
                    None => {
                        return Err(ApiError::new(
                            "invalid_task_statuses",
                            format!(
                                "Invalid value in parameter `{}`: `{item}` is not a valid task status. Available statuses are `enqueued`, `processing`, `succeeded`, `failed`, `canceled`.",
                                element_name("statuses", i, count)
                            ),
                        ))
                    }
                }
            }
            filter.statuses = Some(statuses);
        }
        if let Some(items) = params.get("indexUids").and_then(list) {
            let count = items.len();
            let mut uids = Vec::new();
            for (i, item) in items.into_iter().enumerate() {
                if !valid_uid(item) {
                    return Err(ApiError::new(
                        "invalid_index_uid",
                        format!(
                            "Invalid value in parameter `{}`: `{item}` is not a valid index uid. Index uid can be an integer or a string containing only alphanumeric characters, hyphens (-) and underscores (_), and can not be more than 512 bytes.",
                            element_name("indexUids", i, count)
                        ),
                    ));
                }
                uids.push(item.to_string());
            }
            filter.index_uids = Some(uids);
        }
        for (name, field, after) in [
            ("afterEnqueuedAt", DateField::Enqueued, true),
            ("beforeEnqueuedAt", DateField::Enqueued, false),
            ("afterStartedAt", DateField::Started, true),
            ("beforeStartedAt", DateField::Started, false),
            ("afterFinishedAt", DateField::Finished, true),
            ("beforeFinishedAt", DateField::Finished, false),
        ] {
            if let Some(date) = parse_date(params, name, after)? {
                filter.dates.push((field, after, date));
            }
        }
        Ok(filter)
    }

    /// Whether a task matches every filter.
    pub fn matches(&self, task: &Task) -> bool {
        if let Some(uids) = &self.uids {
            if !uids.contains(&task.uid) {
                return false;
            }
        }
        if let Some(batches) = &self.batch_uids {
            if !task.batch_uid.is_some_and(|b| batches.contains(&b)) {
                return false;
            }
        }
        if let Some(by) = &self.canceled_by {
            if !task.canceled_by.is_some_and(|c| by.contains(&c)) {
                return false;
            }
        }
        if let Some(types) = &self.types {
            if !types.contains(&task.kind) {
                return false;
            }
        }
        if let Some(statuses) = &self.statuses {
            if !statuses.contains(&task.status) {
                return false;
            }
        }
        if let Some(uids) = &self.index_uids {
            match &task.index_uid {
                Some(uid) if uids.contains(uid) => {}
                _ => return false,
            }
        }
        for (field, after, bound) in &self.dates {
            let date = match field {
                DateField::Enqueued => Some(task.enqueued_at),
                DateField::Started => task.started_at,
                DateField::Finished => task.finished_at,
            };
            let Some(date) = date else {
                return false;
            };
            if (*after && date <= *bound) || (!*after && date >= *bound) {
                return false;
            }
        }
        true
    }
}

fn task_uid(raw: &str) -> ApiResult<u32> {
    raw.parse::<u32>().map_err(|_| {
        ApiError::new(
            "invalid_task_uids",
            format!("Task uid `{raw}` is invalid. It should only contain numeric characters."),
        )
    })
}

/// `GET /tasks/{uid}`
pub async fn get_task(
    State(state): State<Arc<AppState>>,
    Path(raw): Path<String>,
) -> ApiResult<Json<Value>> {
    let uid = task_uid(&raw)?;
    let store = state.lock();
    store
        .tasks
        .get(&uid)
        .map(|t| Json(t.view()))
        .ok_or_else(|| ApiError::new("task_not_found", format!("Task `{uid}` not found.")))
}

/// `GET /tasks`
pub async fn list_tasks(
    State(state): State<Arc<AppState>>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Value>> {
    let params = Params::parse(raw.as_deref());
    let mut accepted = vec!["limit", "from", "reverse"];
    accepted.extend(FILTER_PARAMS);
    params.deny_unknown(&accepted)?;
    let limit = params.usize("limit", "invalid_task_limit")?.unwrap_or(20);
    let from = params.usize("from", "invalid_task_from")?;
    let reverse = params
        .bool("reverse", "invalid_task_reverse")?
        .unwrap_or(false);
    let filter = TaskFilter::parse(&params)?;
    let store = state.lock();
    let mut matching: Vec<&Task> = store.tasks.values().filter(|t| filter.matches(t)).collect();
    let total = matching.len();
    if !reverse {
        matching.reverse();
    }
    let page: Vec<&Task> = matching
        .into_iter()
        .filter(|t| match from {
            Some(from) if reverse => t.uid as usize >= from,
            Some(from) => t.uid as usize <= from,
            None => true,
        })
        .take(limit.saturating_add(1))
        .collect();
    let next = page.get(limit).map(|t| t.uid);
    let results: Vec<Value> = page.iter().take(limit).map(|t| t.view()).collect();
    let first = page.first().filter(|_| limit > 0).map(|t| t.uid);
    Ok(Json(json!({
        "results": results,
        "total": total,
        "limit": limit,
        "from": first,
        "next": next,
    })))
}

fn matched(state: &AppState, raw: Option<&str>, verb: &str) -> ApiResult<(Vec<u32>, String)> {
    let params = Params::parse(raw);
    params.deny_unknown(&FILTER_PARAMS)?;
    let filter = TaskFilter::parse(&params)?;
    if params.is_empty() {
        return Err(ApiError::new(
            "missing_task_filters",
            format!("Query parameters to filter the tasks to {verb} are missing. Available query parameters are: `uids`, `indexUids`, `statuses`, `types`, `canceledBy`, `beforeEnqueuedAt`, `afterEnqueuedAt`, `beforeStartedAt`, `afterStartedAt`, `beforeFinishedAt`, `afterFinishedAt`."),
        ));
    }
    let store = state.lock();
    let uids = store
        .tasks
        .values()
        .filter(|t| filter.matches(t))
        .map(|t| t.uid)
        .collect();
    Ok((uids, format!("?{}", raw.unwrap_or(""))))
}

fn details(matched: usize, counter: &str, original: String) -> Map<String, Value> {
    let mut details = Map::new();
    details.insert("matchedTasks".into(), json!(matched));
    details.insert(counter.into(), Value::Null);
    details.insert("originalFilter".into(), json!(original));
    details
}

/// `POST /tasks/cancel` (answers 200, like Meilisearch).
pub async fn cancel_tasks(
    State(state): State<Arc<AppState>>,
    RawQuery(raw): RawQuery,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (uids, original) = matched(&state, raw.as_deref(), "cancel")?;
    let details = details(uids.len(), "canceledTasks", original);
    let summary = state.register(
        "taskCancelation",
        None,
        Some(details),
        Op::CancelTasks(uids),
    );
    Ok((StatusCode::OK, Json(summary)))
}

/// `DELETE /tasks` (answers 200, like Meilisearch).
pub async fn delete_tasks(
    State(state): State<Arc<AppState>>,
    RawQuery(raw): RawQuery,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (uids, original) = matched(&state, raw.as_deref(), "delete")?;
    let details = details(uids.len(), "deletedTasks", original);
    let summary = state.register("taskDeletion", None, Some(details), Op::DeleteTasks(uids));
    Ok((StatusCode::OK, Json(summary)))
}
