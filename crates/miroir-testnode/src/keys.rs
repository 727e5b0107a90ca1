//! API keys, as far as Miroir uses them on a node: a Miroir process holding the lease creates
//! a key for its deliveries and deletes the keys of former holders, so that a request a paused
//! former holder sends late is refused (`invalid_api_key`). Every key grants every action
//! (Miroir only creates `*` keys); a key is shown in full, with its value, as Meilisearch
//! shows it to the master key.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::error::{ApiError, ApiResult};
use crate::store::AppState;

/// `GET /keys`
pub async fn list_keys(State(state): State<Arc<AppState>>) -> Json<Value> {
    let store = state.lock();
    let results: Vec<Value> = store.keys.values().cloned().collect();
    let total = results.len();
    Json(json!({"results": results, "offset": 0, "limit": total.max(20), "total": total}))
}

/// `POST /keys`
pub async fn create_key(
    State(state): State<Arc<AppState>>,
    Json(body): Json<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let actions = body
        .get("actions")
        .filter(|a| a.is_array())
        .ok_or_else(|| ApiError::new("missing_api_key_actions", "Missing field `actions`"))?;
    let indexes = body
        .get("indexes")
        .filter(|i| i.is_array())
        .ok_or_else(|| ApiError::new("missing_api_key_indexes", "Missing field `indexes`"))?;
    let uid = uuid::Uuid::new_v4().to_string();
    let now = OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .map_err(|e| ApiError::new("internal", e.to_string()))?;
    let key = json!({
        "name": body.get("name").cloned().unwrap_or(Value::Null),
        "description": body.get("description").cloned().unwrap_or(Value::Null),
        "key": uuid::Uuid::new_v4().simple().to_string(),
        "uid": uid,
        "actions": actions,
        "indexes": indexes,
        "expiresAt": body.get("expiresAt").cloned().unwrap_or(Value::Null),
        "createdAt": now,
        "updatedAt": now,
    });
    let mut store = state.lock();
    store.keys.insert(uid, key.clone());
    state.persist(&store);
    Ok((StatusCode::CREATED, Json(key)))
}

/// `DELETE /keys/{uid_or_key}`
pub async fn delete_key(
    State(state): State<Arc<AppState>>,
    Path(uid_or_key): Path<String>,
) -> ApiResult<StatusCode> {
    let mut store = state.lock();
    let uid = store
        .keys
        .iter()
        .find(|(uid, key)| **uid == uid_or_key || key["key"] == uid_or_key.as_str())
        .map(|(uid, _)| uid.clone())
        .ok_or_else(|| {
            ApiError::new(
                "api_key_not_found",
                format!("API key `{uid_or_key}` not found."),
            )
        })?;
    store.keys.remove(&uid);
    state.persist(&store);
    Ok(StatusCode::NO_CONTENT)
}
