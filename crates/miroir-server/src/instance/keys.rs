//! `/keys`: API keys, kept in Miroir's store and checked by Miroir itself.
//!
//! A key's value is derived as Meilisearch derives it — HMAC-SHA256 of the key's hyphenated
//! uid, keyed by the master key, in lowercase hex — so a key created with a given uid has the
//! same value as on a single Meilisearch with the same master key. Nodes never see client
//! keys: Miroir authorizes every request (see `http::auth`) and talks to nodes with their own keys.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use hmac::{Hmac, Mac};
use serde_json::{json, Map, Value};
use sha2::Sha256;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::access::{is_global, ACTIONS};
use crate::error::{ErrorType, MeiliError, Result};
use crate::extract::{json_body, require_json, Body, KeyParam, Params};
use crate::state::{AppState, KeyCache};
use crate::wire::index::valid_index_uid;
use crate::wire::json_kind;
use crate::wire::task::format_time;

/// The value of the key with `uid`, as Meilisearch computes it.
pub fn key_value(uid: &str, master_key: &str) -> String {
    match <Hmac<Sha256> as Mac>::new_from_slice(master_key.as_bytes()) {
        Ok(mut mac) => {
            mac.update(uid.to_ascii_lowercase().as_bytes());
            format!("{:x}", mac.finalize().into_bytes())
        }
        // HMAC takes keys of any length: never taken, and an empty value matches no request.
        Err(_) => String::new(),
    }
}

fn missing_master_key() -> MeiliError {
    MeiliError::new(
        StatusCode::UNAUTHORIZED,
        "missing_master_key",
        ErrorType::Auth,
        "Meilisearch is running without a master key. To access this API endpoint, you must have set a master key at launch.",
    )
}

fn master_key(state: &AppState) -> Result<&str> {
    state
        .config
        .master_key
        .as_deref()
        .ok_or_else(|| missing_master_key().into())
}

fn not_found(key: &str) -> MeiliError {
    MeiliError::new(
        StatusCode::NOT_FOUND,
        "api_key_not_found",
        ErrorType::InvalidRequest,
        format!("API key `{key}` not found."),
    )
}

/// Creates the default keys on first start, as Meilisearch does.
pub(crate) fn ensure_default_keys(state: &AppState) -> Result<()> {
    let Some(master) = state.config.master_key.as_deref() else {
        return Ok(());
    };
    if !state.store.list_keys()?.is_empty() {
        return Ok(());
    }
    // Created in Meilisearch's order, so that listings (newest first) match.
    let defaults = [
        (
            "Default Chat API Key",
            "Use it to chat and search from the frontend",
            json!(["chatCompletions", "search"]),
        ),
        (
            "Default Read-Only Admin API Key",
            "Use it to read information across the whole database. Caution! Do not expose this key on a public frontend",
            json!(["*.get", "keys.get"]),
        ),
        (
            "Default Admin API Key",
            "Use it for anything that is not a search operation. Caution! Do not expose it on a public frontend",
            json!(["*"]),
        ),
        ("Default Search API Key", "Use it to search from the frontend", json!(["search"])),
    ];
    for (name, description, actions) in defaults {
        // Named by the master key and the key's name: processes sharing a store that start
        // together write the same four keys, not four each.
        let uid = uuid::Uuid::new_v5(
            &uuid::Uuid::NAMESPACE_OID,
            format!("{master}\u{0}{name}").as_bytes(),
        )
        .to_string();
        let now = format_time(OffsetDateTime::now_utc());
        let key = json!({
            "name": name,
            "description": description,
            "key": key_value(&uid, master),
            "uid": uid,
            "actions": actions,
            "indexes": ["*"],
            "expiresAt": null,
            "createdAt": now,
            "updatedAt": now,
        });
        put_key(state, &uid, &key)?;
    }
    Ok(())
}

/// The stored key whose value is `value` (how requests present keys), from the key cache
/// (`AppState::key_cache`), which is filled from the store when empty.
pub(crate) fn key_by_value(state: &AppState, value: &str) -> Result<Option<Value>> {
    let generation = {
        let cache = lock_cache(state);
        if let Some(keys) = &cache.by_value {
            return Ok(keys.get(value).cloned());
        }
        cache.generation
    };
    let keys: HashMap<String, Value> = state
        .store
        .list_keys()?
        .into_iter()
        .filter_map(|key| Some((key["key"].as_str()?.to_string(), key)))
        .collect();
    let found = keys.get(value).cloned();
    let mut cache = lock_cache(state);
    if cache.generation == generation {
        cache.by_value = Some(Arc::new(keys));
    }
    Ok(found)
}

fn lock_cache(state: &AppState) -> std::sync::MutexGuard<'_, KeyCache> {
    state
        .key_cache
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Stores a key and drops the key cache.
fn put_key(state: &AppState, uid: &str, key: &Value) -> Result<()> {
    let stored = state.store.put_key(uid, key);
    forget_cached_keys(state);
    Ok(stored?)
}

/// Drops the key cache after the stored keys changed (or may have).
pub(crate) fn forget_cached_keys(state: &AppState) {
    let mut cache = lock_cache(state);
    cache.generation += 1;
    cache.by_value = None;
}

/// Finds a key by its uid or its value.
pub(crate) fn find_key(state: &AppState, key_or_uid: &str) -> Result<Option<Value>> {
    if let Some(key) = state.store.get_key(&key_or_uid.to_ascii_lowercase())? {
        return Ok(Some(key));
    }
    key_by_value(state, key_or_uid)
}

fn invalid(code: &str, message: String) -> crate::error::Error {
    MeiliError::invalid(code, message).into()
}

fn kind(value: &Value) -> &'static str {
    json_kind(value)
}

/// A stored key's uid (every key Miroir stores has one).
fn stored_uid(key: &Value) -> Result<String> {
    key["uid"].as_str().map(str::to_string).ok_or_else(|| {
        MeiliError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            ErrorType::Internal,
            "A stored API key has no uid.",
        )
        .into()
    })
}

/// `POST /keys`
pub(crate) async fn create_key(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<impl IntoResponse> {
    let master = master_key(&state)?.to_string();
    require_json(&headers)?;
    let mut request: Map<String, Value> = json_body(&body)?;
    const FIELDS: [&str; 6] = [
        "description",
        "name",
        "uid",
        "actions",
        "indexes",
        "expiresAt",
    ];
    for field in request.keys() {
        if !FIELDS.contains(&field.as_str()) {
            return Err(invalid(
                "bad_request",
                format!("Unknown field `{field}`: expected one of `description`, `name`, `uid`, `actions`, `indexes`, `expiresAt`"),
            ));
        }
    }
    let actions = match request.remove("actions") {
        None => {
            return Err(invalid(
                "missing_api_key_actions",
                "Missing field `actions`".into(),
            ))
        }
        Some(Value::Array(actions)) => {
            for (position, action) in actions.iter().enumerate() {
                let Some(name) = action.as_str() else {
                    return Err(invalid(
                        "invalid_api_key_actions",
                        format!(
                            "Invalid value type at `.actions[{position}]`: expected a string, but found {}: `{action}`",
                            kind(action)
                        ),
                    ));
                };
                if !ACTIONS.contains(&name) {
                    let listed: Vec<String> = ACTIONS.iter().map(|a| format!("`{a}`")).collect();
                    return Err(invalid(
                        "invalid_api_key_actions",
                        format!(
                            "Unknown value `{name}` at `.actions[{position}]`: expected one of {}",
                            listed.join(", ")
                        ),
                    ));
                }
            }
            actions
        }
        Some(other) => {
            return Err(invalid(
                "invalid_api_key_actions",
                format!(
                    "Invalid value type at `.actions`: expected an array, but found {}: `{other}`",
                    kind(&other)
                ),
            ))
        }
    };
    let indexes = match request.remove("indexes") {
        None => {
            return Err(invalid(
                "missing_api_key_indexes",
                "Missing field `indexes`".into(),
            ))
        }
        Some(Value::Array(indexes)) => {
            for (position, index) in indexes.iter().enumerate() {
                let Some(pattern) = index.as_str() else {
                    return Err(invalid(
                        "invalid_api_key_indexes",
                        format!(
                            "Invalid value type at `.indexes[{position}]`: expected a string, but found {}: `{index}`",
                            kind(index)
                        ),
                    ));
                };
                let base = pattern.strip_suffix('*').unwrap_or(pattern);
                if pattern != "*" && !valid_index_uid(base) {
                    return Err(invalid(
                        "invalid_api_key_indexes",
                        format!("Invalid value at `.indexes[{position}]`: `{pattern}` is not a valid index uid pattern. Index uid patterns can be an integer or a string containing only alphanumeric characters, hyphens (-), underscores (_), and optionally end with a star (*)."),
                    ));
                }
            }
            indexes
        }
        Some(other) => {
            return Err(invalid(
                "invalid_api_key_indexes",
                format!(
                    "Invalid value type at `.indexes`: expected an array, but found {}: `{other}`",
                    kind(&other)
                ),
            ))
        }
    };
    // A key limited to some indexes cannot grant instance-wide actions.
    let scoped = !indexes.is_empty() && !indexes.iter().any(|i| i.as_str() == Some("*"));
    if scoped {
        if let Some(global) = actions
            .iter()
            .filter_map(Value::as_str)
            .find(|a| is_global(a))
        {
            return Err(invalid(
                "index_scoped_api_key_with_global_action",
                format!("cannot create index-scoped API key with global action `\"{global}\"`\n  - Hint: remove action `\"{global}\"` from the action list, or remove `indexes` to make the key global"),
            ));
        }
    }
    let expires_at = match request.remove("expiresAt") {
        None => {
            return Err(invalid(
                "missing_api_key_expires_at",
                "Missing field `expiresAt`".into(),
            ))
        }
        Some(Value::Null) => Value::Null,
        Some(Value::String(raw)) => {
            let parsed = OffsetDateTime::parse(&raw, &Rfc3339).ok().or_else(|| {
                let date = time::macros::format_description!("[year]-[month]-[day]");
                let t = time::macros::format_description!(
                    "[year]-[month]-[day]T[hour]:[minute]:[second]"
                );
                let space = time::macros::format_description!(
                    "[year]-[month]-[day] [hour]:[minute]:[second]"
                );
                time::PrimitiveDateTime::parse(&raw, &t)
                    .or_else(|_| time::PrimitiveDateTime::parse(&raw, &space))
                    .map(|d| d.assume_utc())
                    .ok()
                    .or_else(|| {
                        time::Date::parse(&raw, &date)
                            .ok()
                            .map(|d| d.midnight().assume_utc())
                    })
            });
            match parsed {
                Some(at) if at > OffsetDateTime::now_utc() => Value::String(format_time(at)),
                _ => {
                    return Err(invalid(
                        "invalid_api_key_expires_at",
                        format!("Invalid value at `.expiresAt`: `{raw}` is not a valid date. It should follow the RFC 3339 format to represents a date or datetime in the future or specified as a null value. e.g. 'YYYY-MM-DD' or 'YYYY-MM-DD HH:MM:SS'.\n"),
                    ))
                }
            }
        }
        Some(other) => {
            return Err(invalid(
                "invalid_api_key_expires_at",
                format!(
                "Invalid value type at `.expiresAt`: expected a string, but found {}: `{other}`",
                kind(&other)
            ),
            ))
        }
    };
    let uid = match request.remove("uid") {
        None | Some(Value::Null) => uuid::Uuid::new_v4().to_string(),
        Some(Value::String(raw)) => match uuid::Uuid::parse_str(&raw) {
            Ok(parsed) => parsed.hyphenated().to_string(),
            Err(e) => {
                return Err(invalid(
                    "invalid_api_key_uid",
                    format!("Invalid value at `.uid`: {e}"),
                ))
            }
        },
        Some(other) => {
            return Err(invalid(
                "invalid_api_key_uid",
                format!(
                    "Invalid value type at `.uid`: expected a string, but found {}: `{other}`",
                    kind(&other)
                ),
            ))
        }
    };
    if state.store.get_key(&uid)?.is_some() {
        return Err(MeiliError::new(
            StatusCode::CONFLICT,
            "api_key_already_exists",
            ErrorType::InvalidRequest,
            format!("`uid` field value `{uid}` is already an existing API key."),
        )
        .into());
    }
    let now = format_time(OffsetDateTime::now_utc());
    let key = json!({
        "name": request.remove("name").unwrap_or(Value::Null),
        "description": request.remove("description").unwrap_or(Value::Null),
        "key": key_value(&uid, &master),
        "uid": uid,
        "actions": actions,
        "indexes": indexes,
        "expiresAt": expires_at,
        "createdAt": now,
        "updatedAt": now,
    });
    put_key(&state, &uid, &key)?;
    Ok((StatusCode::CREATED, Json(key)))
}

/// `GET /keys`
pub(crate) async fn list_keys(
    State(state): State<Arc<AppState>>,
    params: Params,
) -> Result<Json<Value>> {
    master_key(&state)?;
    let offset = params
        .usize("offset", "invalid_api_key_offset")?
        .unwrap_or(0);
    let limit = params
        .usize("limit", "invalid_api_key_limit")?
        .unwrap_or(20);
    // Newest first, as Meilisearch lists them.
    let mut keys = state.store.list_keys()?;
    keys.reverse();
    let total = keys.len();
    let results: Vec<Value> = keys.into_iter().skip(offset).take(limit).collect();
    Ok(Json(
        json!({"results": results, "offset": offset, "limit": limit, "total": total}),
    ))
}

/// `GET /keys/{key_or_uid}`
pub(crate) async fn get_key(
    State(state): State<Arc<AppState>>,
    KeyParam(key): KeyParam,
) -> Result<Json<Value>> {
    master_key(&state)?;
    find_key(&state, &key)?
        .map(Json)
        .ok_or_else(|| not_found(&key).into())
}

/// `PATCH /keys/{key_or_uid}`: only `name` and `description` change.
pub(crate) async fn update_key(
    State(state): State<Arc<AppState>>,
    KeyParam(key): KeyParam,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Json<Value>> {
    master_key(&state)?;
    require_json(&headers)?;
    let request: Map<String, Value> = json_body(&body)?;
    for field in request.keys() {
        let code = match field.as_str() {
            "name" | "description" => continue,
            "uid" => "immutable_api_key_uid",
            "actions" => "immutable_api_key_actions",
            "indexes" => "immutable_api_key_indexes",
            "expiresAt" => "immutable_api_key_expires_at",
            "createdAt" => "immutable_api_key_created_at",
            "updatedAt" => "immutable_api_key_updated_at",
            "key" => "immutable_api_key_key",
            _ => "bad_request",
        };
        let message = if code == "bad_request" {
            format!("Unknown field `{field}`: expected one of `description`, `name`")
        } else {
            format!("Immutable field `{field}`: expected one of `description`, `name`")
        };
        return Err(invalid(code, message));
    }
    let mut stored = find_key(&state, &key)?.ok_or_else(|| not_found(&key))?;
    for field in ["name", "description"] {
        if let Some(value) = request.get(field) {
            stored[field] = value.clone();
        }
    }
    stored["updatedAt"] = Value::String(format_time(OffsetDateTime::now_utc()));
    let uid = stored_uid(&stored)?;
    put_key(&state, &uid, &stored)?;
    Ok(Json(stored))
}

/// `DELETE /keys/{key_or_uid}`
pub(crate) async fn delete_key(
    State(state): State<Arc<AppState>>,
    KeyParam(key): KeyParam,
) -> Result<StatusCode> {
    master_key(&state)?;
    let stored = find_key(&state, &key)?.ok_or_else(|| not_found(&key))?;
    let deleted = state.store.delete_key(&stored_uid(&stored)?);
    forget_cached_keys(&state);
    deleted?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_values_match_meilisearch() {
        // Created on Meilisearch 1.50 with master key `masterKey1234567890` and this uid.
        assert_eq!(
            key_value(
                "01b4bc42-eb33-4041-b481-254d00cce834",
                "masterKey1234567890"
            ),
            "2b3795195ae60e47083eb8d6ad2938ce94293ddd0071b6ab910e5a18c959906c"
        );
    }
}
