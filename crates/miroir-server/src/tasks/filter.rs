//! The task filters of `/tasks`, `/batches`, task cancelation and deletion, parsed from the
//! query string with Meilisearch's error codes.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use miroir_core::task::{TaskStatus, TASK_TYPES};
use miroir_store::TaskFilter;

use crate::error::{Error, MeiliError, Result};
use crate::extract::Params;
use crate::wire::index::valid_index_uid;

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
pub(crate) fn parse_filter(params: &Params) -> Result<TaskFilter> {
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
                if !valid_index_uid(raw) {
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
pub(crate) const FILTER_PARAMS: [&str; 12] = [
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

pub(crate) fn reject_unknown_params(params: &Params, allowed: &[&str]) -> Result<()> {
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

/// The filter as the task's `originalFilter` shows it.
pub(crate) fn original_filter(raw: &Option<String>) -> String {
    format!("?{}", raw.as_deref().unwrap_or_default())
}

pub(crate) fn require_filters(params: &Params, action: &str) -> Result<()> {
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
