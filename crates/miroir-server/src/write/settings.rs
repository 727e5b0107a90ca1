//! `/indexes/{uid}/settings` and its sub-routes, applied identically to every node.
//!
//! Scores are only comparable across nodes under identical settings, so every update goes to
//! every node (first node alone first, so a value the node rejects is refused before any node
//! changed). Sub-route updates are forwarded to the same sub-route, so validation messages are
//! the node's own. The one rewrite: `filterableAttributes` always carries the shard marker on
//! the nodes, and never shows it to the client.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use miroir_core::marker::{with_marker_filterable, MARKER_FIELD};
use miroir_core::reserved::reserved_in_setting;

use super::indexes::{
    make_foreign_targets_whole, new_record, node_defaults, NODE_MAX_VALUES_PER_FACET,
};
use super::journal::{broadcast, submit};
use crate::error::{core_error, Error, MeiliError, Result};
use crate::extract::{json_body, require_json, Body, IndexUid, JsonBody, SettingSegment};
use crate::state::AppState;
use crate::tasks::registry::NewTask;
use crate::wire::json_kind;
use crate::wire::settings::{setting, RESET_ORDER};
use crate::wire::task::summarized;

/// What a settings write changes in the settings Miroir itself applies at the merge (facet
/// cap and order, distinct attribute). `None` leaves a value as it is; `Some(None)` resets it
/// to Meilisearch's default.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct SettingsChange {
    /// The client's `maxValuesPerFacet`.
    cap: Option<Option<u64>>,
    /// The client's `sortFacetValuesBy`.
    sort: Option<Option<Value>>,
    /// The index's `distinctAttribute`.
    distinct: Option<Option<String>>,
    /// The index's `pagination.maxTotalHits`.
    max_total_hits: Option<Option<u64>>,
    /// The index's `foreignKeys` (empty: none).
    foreign_keys: Option<Vec<Value>>,
}

impl SettingsChange {
    fn reset() -> SettingsChange {
        SettingsChange {
            cap: Some(None),
            sort: Some(None),
            distinct: Some(None),
            max_total_hits: Some(None),
            foreign_keys: Some(Vec::new()),
        }
    }

    /// What a `foreignKeys` value (or its reset, `null`) changes; another type is left for
    /// the nodes to refuse.
    fn foreign_keys(value: &Value) -> SettingsChange {
        let foreign_keys = match value {
            Value::Null => Some(Vec::new()),
            Value::Array(keys) => Some(keys.clone()),
            _ => None,
        };
        SettingsChange {
            foreign_keys,
            ..SettingsChange::default()
        }
    }

    /// What a `pagination` value (or its reset, `null`) changes.
    fn pagination(value: &Value) -> SettingsChange {
        let max_total_hits = match value {
            Value::Null => Some(None),
            Value::Object(map) => map.get("maxTotalHits").map(Value::as_u64),
            _ => None,
        };
        SettingsChange {
            max_total_hits,
            ..SettingsChange::default()
        }
    }
}

/// Rewrites a client `faceting` value for the nodes: the nodes keep
/// [`NODE_MAX_VALUES_PER_FACET`]; the client's cap and sort order are returned to be applied
/// by Miroir. `at` is the JSON path Meilisearch names in its validation message.
pub(crate) fn rewrite_faceting(faceting: &Value, at: &str) -> Result<(Value, SettingsChange)> {
    match faceting {
        Value::Null => Ok((
            json!({"maxValuesPerFacet": NODE_MAX_VALUES_PER_FACET, "sortFacetValuesBy": null}),
            SettingsChange::reset(),
        )),
        Value::Object(map) => {
            let mut toward_nodes = map.clone();
            let mut change = SettingsChange::default();
            match map.get("maxValuesPerFacet") {
                None => {}
                Some(Value::Null) => change.cap = Some(None),
                Some(value) => match value.as_u64() {
                    Some(n) => change.cap = Some(Some(n)),
                    None => {
                        return Err(MeiliError::invalid(
                            "invalid_settings_faceting",
                            format!(
                                "Invalid value type at `{at}.maxValuesPerFacet`: expected a positive integer, but found {}: `{value}`",
                                json_kind(value)
                            ),
                        )
                        .into())
                    }
                },
            }
            if change.cap.is_some() {
                toward_nodes.insert(
                    "maxValuesPerFacet".into(),
                    Value::from(NODE_MAX_VALUES_PER_FACET),
                );
            }
            // The node validates the sort order itself; Miroir only remembers it.
            if let Some(sort) = map.get("sortFacetValuesBy") {
                change.sort = Some((!sort.is_null()).then(|| sort.clone()));
            }
            Ok((Value::Object(toward_nodes), change))
        }
        // Any other type: the node rejects it with Meilisearch's own message.
        other => Ok((other.clone(), SettingsChange::default())),
    }
}

/// Refuses a setting that names the reserved marker attribute (one Meilisearch would accept
/// the name, so the error is Miroir's own, `miroir_reserved_attribute`).
fn refuse_reserved(key: &str, value: &Value) -> Result<()> {
    match reserved_in_setting(key, value) {
        Some(name) => Err(core_error(&miroir_core::Error::ReservedAttribute(name)).into()),
        None => Ok(()),
    }
}

/// `PATCH /indexes/{uid}/settings`
pub(crate) async fn update_settings(
    State(state): State<Arc<AppState>>,
    IndexUid(uid): IndexUid,
    JsonBody(client): JsonBody<Map<String, Value>>,
) -> Result<impl IntoResponse> {
    for (key, value) in &client {
        refuse_reserved(key, value)?;
    }
    let mut toward_nodes = client.clone();
    if let Some(filterable) = toward_nodes.get_mut("filterableAttributes") {
        *filterable = with_marker_filterable(filterable);
    }
    let mut cap = SettingsChange::default();
    if let Some(faceting) = toward_nodes.get_mut("faceting") {
        let (rewritten, change) = rewrite_faceting(faceting, ".faceting")?;
        *faceting = rewritten;
        cap = change;
    }
    if let Some(distinct) = toward_nodes.get("distinctAttribute") {
        cap.distinct = Some(distinct.as_str().map(str::to_string));
    }
    if let Some(pagination) = toward_nodes.get("pagination") {
        cap.max_total_hits = SettingsChange::pagination(pagination).max_total_hits;
    }
    if let Some(keys) = toward_nodes.get("foreignKeys") {
        cap.foreign_keys = SettingsChange::foreign_keys(keys).foreign_keys;
    }
    let task = NewTask {
        kind: "settingsUpdate",
        index_uid: Some(uid.clone()),
        details: Some(Value::Object(client)),
        custom_metadata: None,
    };
    write(
        &state,
        &uid,
        task,
        Method::PATCH,
        "",
        Value::Object(toward_nodes),
        cap,
    )
    .await
}

/// `DELETE /indexes/{uid}/settings`: every setting back to its default, marker kept.
pub(crate) async fn reset_settings(
    State(state): State<Arc<AppState>>,
    IndexUid(uid): IndexUid,
) -> Result<impl IntoResponse> {
    let mut details = Map::new();
    let mut toward_nodes = Map::new();
    for key in RESET_ORDER {
        let shown = match key {
            "displayedAttributes" | "searchableAttributes" => json!(["*"]),
            _ => Value::Null,
        };
        details.insert(key.to_string(), shown);
        // Settings behind experimental features may not be sent unless enabled; a null for
        // them changes nothing anyway.
        if !matches!(key, "chat" | "foreignKeys") {
            toward_nodes.insert(key.to_string(), Value::Null);
        }
    }
    toward_nodes.insert("filterableAttributes".into(), json!([MARKER_FIELD]));
    let (faceting, _) = rewrite_faceting(&Value::Null, ".faceting")?;
    toward_nodes.insert("faceting".into(), faceting);
    let cap = SettingsChange::reset();
    let task = NewTask {
        kind: "settingsUpdate",
        index_uid: Some(uid.clone()),
        details: Some(Value::Object(details)),
        custom_metadata: None,
    };
    write(
        &state,
        &uid,
        task,
        Method::PATCH,
        "",
        Value::Object(toward_nodes),
        cap,
    )
    .await
}

/// `PUT` or `PATCH /indexes/{uid}/settings/{setting}` (each sub-route has one verb).
pub(crate) async fn update_setting(
    State(state): State<Arc<AppState>>,
    IndexUid(uid): IndexUid,
    SettingSegment(segment): SettingSegment,
    method: Method,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response> {
    let (key, verb) = setting(&segment).ok_or(Error::RouteNotFound)?;
    if verb.method() != method {
        return Ok(StatusCode::METHOD_NOT_ALLOWED.into_response());
    }
    require_json(&headers)?;
    let client: Value = json_body(&body)?;
    refuse_reserved(key, &client)?;
    let (toward_nodes, cap) = match key {
        "filterableAttributes" => (with_marker_filterable(&client), SettingsChange::default()),
        "faceting" => rewrite_faceting(&client, "")?,
        "pagination" => (client.clone(), SettingsChange::pagination(&client)),
        "foreignKeys" => (client.clone(), SettingsChange::foreign_keys(&client)),
        "distinctAttribute" => (
            client.clone(),
            SettingsChange {
                distinct: Some(client.as_str().map(str::to_string)),
                ..SettingsChange::default()
            },
        ),
        _ => (client.clone(), SettingsChange::default()),
    };
    let task = NewTask {
        kind: "settingsUpdate",
        index_uid: Some(uid.clone()),
        details: Some(json!({ key: client })),
        custom_metadata: None,
    };
    let path = format!("/{segment}");
    Ok(write(&state, &uid, task, method, &path, toward_nodes, cap)
        .await?
        .into_response())
}

/// `DELETE /indexes/{uid}/settings/{setting}`
pub(crate) async fn reset_setting(
    State(state): State<Arc<AppState>>,
    IndexUid(uid): IndexUid,
    SettingSegment(segment): SettingSegment,
) -> Result<Response> {
    let (key, verb) = setting(&segment).ok_or(Error::RouteNotFound)?;
    let task = NewTask {
        kind: "settingsUpdate",
        index_uid: Some(uid.clone()),
        details: Some(json!({ key: null })),
        custom_metadata: None,
    };
    let path = format!("/{segment}");
    let response = match key {
        // Resetting would drop the marker: set it alone instead.
        "filterableAttributes" => {
            let body = json!([MARKER_FIELD]);
            write(
                &state,
                &uid,
                task,
                verb.method(),
                &path,
                body,
                SettingsChange::default(),
            )
            .await?
        }
        // Resetting would drop the raised node cap: reset the rest, keep the cap.
        "faceting" => {
            let (body, cap) = rewrite_faceting(&Value::Null, "")?;
            write(&state, &uid, task, verb.method(), &path, body, cap).await?
        }
        "foreignKeys" => {
            let cap = SettingsChange::foreign_keys(&Value::Null);
            write(&state, &uid, task, Method::DELETE, &path, Value::Null, cap).await?
        }
        _ => {
            write(
                &state,
                &uid,
                task,
                Method::DELETE,
                &path,
                Value::Null,
                SettingsChange::default(),
            )
            .await?
        }
    };
    Ok(response.into_response())
}

/// Sends one settings write to every node and records the task.
async fn write(
    state: &AppState,
    uid: &str,
    task: NewTask,
    method: Method,
    sub_path: &str,
    body: Value,
    cap: SettingsChange,
) -> Result<impl IntoResponse> {
    let _guard = state.write_lock.lock().await;
    if let Some(keys) = &cap.foreign_keys {
        make_foreign_targets_whole(state, keys).await?;
    }
    let path = format!("/indexes/{uid}/settings{sub_path}");
    // A JSON `null` is a real value on PUT/PATCH (it resets); only DELETE has no body.
    let body = (method != Method::DELETE).then_some(body);
    // The keys this write sets, so that Miroir's own node defaults do not overwrite them.
    let touched: Vec<String> = match (sub_path.strip_prefix('/'), &body) {
        (Some(segment), _) => vec![setting(segment).ok_or(Error::RouteNotFound)?.0.to_string()],
        (None, Some(Value::Object(map))) => map.keys().cloned().collect(),
        (None, _) => Vec::new(),
    };
    let mut calls = broadcast(state, method, &path, body);
    let missing = state.store.get_index(uid)?.is_none();
    if missing {
        let mut defaults = node_defaults();
        if let Value::Object(map) = &mut defaults {
            map.retain(|key, _| !touched.contains(key));
        }
        // Meilisearch (and so each node) creates a missing index on a settings update; the
        // marker must then be declared filterable right after.
        calls.extend(broadcast(
            state,
            Method::PATCH,
            &format!("/indexes/{uid}/settings"),
            Some(defaults),
        ));
    }
    let record = submit(state, task, calls, None).await?;
    let mut index = match state.store.get_index(uid)? {
        Some(index) => index,
        None => new_record(state, uid, None)?,
    };
    if let Some(value) = cap.cap {
        index.max_values_per_facet = value;
    }
    if let Some(value) = cap.sort {
        index.sort_facet_values_by = value;
    }
    if let Some(value) = cap.distinct {
        index.distinct_attribute = value;
    }
    if let Some(value) = cap.max_total_hits {
        index.max_total_hits = value;
    }
    if let Some(keys) = cap.foreign_keys {
        index.foreign_keys = keys;
    }
    state.store.put_index(&index)?;
    Ok(summarized(&record))
}
