//! `/indexes/{uid}/settings` and its sub-routes, applied identically to every node.
//!
//! Scores are only comparable across nodes under identical settings, so every update goes to
//! every node (first node alone first, so a value the node rejects is refused before any node
//! changed). Sub-route updates are forwarded to the same sub-route, so validation messages are
//! the node's own. The one rewrite: `filterableAttributes` always carries the shard marker on
//! the nodes, and never shows it to the client.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method};
use axum::response::IntoResponse;
use axum::Json;
use serde_json::{json, Map, Value};

use miroir_core::marker::{strip_settings, with_marker_filterable, without_marker_filterable, MARKER_FIELD};

use crate::error::{Error, ErrorType, MeiliError, Result};
use crate::extract::{json_body, Body};
use crate::indexes::{broadcast, check_path_uid, require_json};
use crate::node::NodeBody;
use crate::state::{AppState, NewTask};
use crate::tasks::summarized;

/// Every settings sub-route of Meilisearch 1.50: URL segment, JSON key, update verb.
pub const SETTINGS: [(&str, &str, UpdateVerb); 22] = [
    ("filterable-attributes", "filterableAttributes", UpdateVerb::Put),
    ("sortable-attributes", "sortableAttributes", UpdateVerb::Put),
    ("displayed-attributes", "displayedAttributes", UpdateVerb::Put),
    ("typo-tolerance", "typoTolerance", UpdateVerb::Patch),
    ("searchable-attributes", "searchableAttributes", UpdateVerb::Put),
    ("stop-words", "stopWords", UpdateVerb::Put),
    ("non-separator-tokens", "nonSeparatorTokens", UpdateVerb::Put),
    ("separator-tokens", "separatorTokens", UpdateVerb::Put),
    ("dictionary", "dictionary", UpdateVerb::Put),
    ("synonyms", "synonyms", UpdateVerb::Put),
    ("distinct-attribute", "distinctAttribute", UpdateVerb::Put),
    ("proximity-precision", "proximityPrecision", UpdateVerb::Put),
    ("localized-attributes", "localizedAttributes", UpdateVerb::Put),
    ("ranking-rules", "rankingRules", UpdateVerb::Put),
    ("faceting", "faceting", UpdateVerb::Patch),
    ("pagination", "pagination", UpdateVerb::Patch),
    ("embedders", "embedders", UpdateVerb::Patch),
    ("search-cutoff-ms", "searchCutoffMs", UpdateVerb::Put),
    ("facet-search", "facetSearch", UpdateVerb::Put),
    ("prefix-search", "prefixSearch", UpdateVerb::Put),
    ("chat", "chat", UpdateVerb::Patch),
    ("foreign-keys", "foreignKeys", UpdateVerb::Put),
];

/// The order Meilisearch lists settings in a reset task's details.
const RESET_ORDER: [&str; 22] = [
    "displayedAttributes",
    "searchableAttributes",
    "filterableAttributes",
    "sortableAttributes",
    "foreignKeys",
    "rankingRules",
    "stopWords",
    "nonSeparatorTokens",
    "separatorTokens",
    "dictionary",
    "synonyms",
    "distinctAttribute",
    "proximityPrecision",
    "typoTolerance",
    "faceting",
    "pagination",
    "embedders",
    "searchCutoffMs",
    "localizedAttributes",
    "facetSearch",
    "prefixSearch",
    "chat",
];

/// The HTTP verb that updates a sub-route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateVerb {
    /// `PUT`
    Put,
    /// `PATCH`
    Patch,
}

impl UpdateVerb {
    /// As an HTTP method.
    pub fn method(self) -> Method {
        match self {
            UpdateVerb::Put => Method::PUT,
            UpdateVerb::Patch => Method::PATCH,
        }
    }
}

fn setting(segment: &str) -> Result<(&'static str, &'static str, UpdateVerb)> {
    SETTINGS
        .iter()
        .find(|(s, _, _)| *s == segment)
        .copied()
        .ok_or_else(|| {
            Error::from(MeiliError::new(
                axum::http::StatusCode::NOT_FOUND,
                "not_found",
                ErrorType::InvalidRequest,
                "Not found",
            ))
        })
}

/// Reads the settings from the first node and hides the marker.
async fn node_settings(state: &AppState, uid: &str) -> Result<Map<String, Value>> {
    state.index(uid)?;
    let settings = state
        .cluster
        .node(0)
        .json(Method::GET, &format!("/indexes/{uid}/settings"), NodeBody::Empty)
        .await?;
    let mut map = match settings {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    strip_settings(&mut map);
    Ok(map)
}

/// `GET /indexes/{uid}/settings`
pub async fn get_settings(
    State(state): State<Arc<AppState>>,
    Path(uid): Path<String>,
) -> Result<Json<Value>> {
    check_path_uid(&uid)?;
    Ok(Json(Value::Object(node_settings(&state, &uid).await?)))
}

/// `PATCH /indexes/{uid}/settings`
pub async fn update_settings(
    State(state): State<Arc<AppState>>,
    Path(uid): Path<String>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<impl IntoResponse> {
    check_path_uid(&uid)?;
    require_json(&headers)?;
    let client: Map<String, Value> = json_body(&body)?;
    let mut toward_nodes = client.clone();
    if let Some(filterable) = toward_nodes.get_mut("filterableAttributes") {
        *filterable = with_marker_filterable(filterable);
    }
    let task = NewTask {
        kind: "settingsUpdate",
        index_uid: Some(uid.clone()),
        details: Some(Value::Object(client)),
    };
    write(&state, &uid, task, Method::PATCH, "", Value::Object(toward_nodes)).await
}

/// `DELETE /indexes/{uid}/settings`: every setting back to its default, marker kept.
pub async fn reset_settings(
    State(state): State<Arc<AppState>>,
    Path(uid): Path<String>,
) -> Result<impl IntoResponse> {
    check_path_uid(&uid)?;
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
    let task = NewTask {
        kind: "settingsUpdate",
        index_uid: Some(uid.clone()),
        details: Some(Value::Object(details)),
    };
    write(&state, &uid, task, Method::PATCH, "", Value::Object(toward_nodes)).await
}

/// `GET /indexes/{uid}/settings/{setting}`
pub async fn get_setting(
    State(state): State<Arc<AppState>>,
    Path((uid, segment)): Path<(String, String)>,
) -> Result<Json<Value>> {
    check_path_uid(&uid)?;
    let (_, key, _) = setting(&segment)?;
    state.index(&uid)?;
    let value = state
        .cluster
        .node(0)
        .json(Method::GET, &format!("/indexes/{uid}/settings/{segment}"), NodeBody::Empty)
        .await?;
    Ok(Json(if key == "filterableAttributes" {
        without_marker_filterable(&value)
    } else {
        value
    }))
}

/// `PUT` or `PATCH /indexes/{uid}/settings/{setting}` (each sub-route has one verb).
pub async fn update_setting(
    State(state): State<Arc<AppState>>,
    Path((uid, segment)): Path<(String, String)>,
    method: Method,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<axum::response::Response> {
    check_path_uid(&uid)?;
    let (_, key, verb) = setting(&segment)?;
    if verb.method() != method {
        return Ok(axum::http::StatusCode::METHOD_NOT_ALLOWED.into_response());
    }
    require_json(&headers)?;
    let client: Value = json_body(&body)?;
    let toward_nodes = if key == "filterableAttributes" {
        with_marker_filterable(&client)
    } else {
        client.clone()
    };
    let task = NewTask {
        kind: "settingsUpdate",
        index_uid: Some(uid.clone()),
        details: Some(json!({ key: client })),
    };
    let path = format!("/{segment}");
    Ok(write(&state, &uid, task, method, &path, toward_nodes)
        .await?
        .into_response())
}

/// `DELETE /indexes/{uid}/settings/{setting}`
pub async fn reset_setting(
    State(state): State<Arc<AppState>>,
    Path((uid, segment)): Path<(String, String)>,
) -> Result<axum::response::Response> {
    check_path_uid(&uid)?;
    let (_, key, verb) = setting(&segment)?;
    let task = NewTask {
        kind: "settingsUpdate",
        index_uid: Some(uid.clone()),
        details: Some(json!({ key: null })),
    };
    let path = format!("/{segment}");
    let response = if key == "filterableAttributes" {
        // Resetting would drop the marker: set it alone instead.
        write(&state, &uid, task, verb.method(), &path, json!([MARKER_FIELD])).await?
    } else {
        write(&state, &uid, task, Method::DELETE, &path, Value::Null).await?
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
) -> Result<impl IntoResponse> {
    let _guard = state.write_lock.lock().await;
    let path = format!("/indexes/{uid}/settings{sub_path}");
    let body = (!body.is_null()).then_some(body);
    let mut calls = broadcast(state, method, &path, body);
    let missing = state.store.get_index(uid)?.is_none();
    if missing {
        // Meilisearch (and so each node) creates a missing index on a settings update; the
        // marker must then be declared filterable right after.
        calls.extend(broadcast(
            state,
            Method::PATCH,
            &format!("/indexes/{uid}/settings"),
            Some(json!({"filterableAttributes": [MARKER_FIELD]})),
        ));
    }
    let record = state.dispatch(task, calls).await?;
    if missing {
        state
            .store
            .put_index(&crate::indexes::new_record(state, uid, None))?;
    }
    Ok(summarized(&record))
}
