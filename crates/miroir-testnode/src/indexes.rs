//! Index routes (`/indexes`, `/swap-indexes`), stats, version and health.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use bytes::Bytes;
use serde_json::{json, Map, Value};

use crate::error::{ApiError, ApiResult};
use crate::http::{json_body, Params};
use crate::store::{AppState, Index, Op, Store};
use crate::util::{invalid_value, missing_field, type_error, unknown_field, Kind};

const UID_RULE: &str = "Index uid can be an integer or a string containing only alphanumeric characters, hyphens (-) and underscores (_), and can not be more than 512 bytes.";

/// Meilisearch's index uid rule: non-empty ASCII alphanumerics, `-` and `_`, at most 400 bytes.
pub fn valid_uid(uid: &str) -> bool {
    !uid.is_empty()
        && uid.len() <= 400
        && uid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Rejects an invalid index uid taken from the path.
pub fn check_path_uid(uid: &str) -> ApiResult<()> {
    if valid_uid(uid) {
        Ok(())
    } else {
        Err(ApiError::new(
            "invalid_index_uid",
            format!("`{uid}` is not a valid index uid. {UID_RULE}"),
        ))
    }
}

fn check_body_uid(path: &str, value: &Value) -> ApiResult<String> {
    let Some(uid) = value.as_str() else {
        return Err(ApiError::new(
            "invalid_index_uid",
            type_error(path, &[Kind::Str], value),
        ));
    };
    if !valid_uid(uid) {
        return Err(ApiError::new(
            "invalid_index_uid",
            invalid_value(
                path,
                &format!("`{uid}` is not a valid index uid. {UID_RULE}"),
            ),
        ));
    }
    Ok(uid.to_string())
}

fn primary_key_param(value: Option<&Value>) -> ApiResult<Option<String>> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(ApiError::new(
            "invalid_index_primary_key",
            type_error(".primaryKey", &[Kind::Str], other),
        )),
    }
}

fn object(body: &Value) -> ApiResult<&Map<String, Value>> {
    body.as_object()
        .ok_or_else(|| ApiError::bad_request(type_error("", &[Kind::Map], body)))
}

/// `GET /health`
pub async fn health() -> Json<Value> {
    Json(json!({"status": "available"}))
}

/// `GET /`
pub async fn root() -> Json<Value> {
    Json(json!({"status": "Meilisearch is running"}))
}

/// `GET /version`
pub async fn version() -> Json<Value> {
    Json(json!({"commitSha": "unknown", "commitDate": "unknown", "pkgVersion": "1.50.0"}))
}

/// `GET /indexes`
pub async fn list_indexes(
    State(state): State<Arc<AppState>>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Value>> {
    let params = Params::parse(raw.as_deref());
    params.deny_unknown(&["offset", "limit"])?;
    let offset = params.usize("offset", "invalid_index_offset")?.unwrap_or(0);
    let limit = params.usize("limit", "invalid_index_limit")?.unwrap_or(20);
    let store = state.lock();
    let results: Vec<Value> = store
        .indexes
        .values()
        .skip(offset)
        .take(limit)
        .map(Index::view)
        .collect();
    Ok(Json(json!({
        "results": results,
        "offset": offset,
        "limit": limit,
        "total": store.indexes.len(),
    })))
}

/// `POST /indexes`
pub async fn create_index(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let body = json_body(&headers, &body)?;
    let object = object(&body)?;
    for key in object.keys() {
        if key != "uid" && key != "primaryKey" {
            return Err(ApiError::bad_request(unknown_field(
                "",
                key,
                &["uid", "primaryKey"],
            )));
        }
    }
    let Some(uid) = object.get("uid") else {
        return Err(ApiError::new("missing_index_uid", missing_field("", "uid")));
    };
    let uid = check_body_uid(".uid", uid)?;
    let primary_key = primary_key_param(object.get("primaryKey"))?;
    let mut details = Map::new();
    details.insert("primaryKey".into(), json!(primary_key));
    let summary = state.register(
        "indexCreation",
        Some(uid),
        Some(details),
        Op::CreateIndex { primary_key },
    );
    Ok((StatusCode::ACCEPTED, Json(summary)))
}

/// `GET /indexes/{uid}`
pub async fn get_index(
    State(state): State<Arc<AppState>>,
    Path(uid): Path<String>,
) -> ApiResult<Json<Value>> {
    check_path_uid(&uid)?;
    let store = state.lock();
    Ok(Json(store.index(&uid)?.view()))
}

/// `PATCH /indexes/{uid}`
pub async fn update_index(
    State(state): State<Arc<AppState>>,
    Path(uid): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    check_path_uid(&uid)?;
    let body = json_body(&headers, &body)?;
    let object = object(&body)?;
    for key in object.keys() {
        match key.as_str() {
            "primaryKey" | "uid" => {}
            "createdAt" => {
                return Err(ApiError::new(
                    "immutable_index_created_at",
                    "Immutable field `createdAt`: expected one of `primaryKey`, `uid`",
                ))
            }
            "updatedAt" => {
                return Err(ApiError::new(
                    "immutable_index_updated_at",
                    "Immutable field `updatedAt`: expected one of `primaryKey`, `uid`",
                ))
            }
            _ => {
                return Err(ApiError::bad_request(unknown_field(
                    "",
                    key,
                    &["primaryKey", "uid"],
                )))
            }
        }
    }
    let primary_key = primary_key_param(object.get("primaryKey"))?;
    let new_uid = match object.get("uid") {
        None | Some(Value::Null) => None,
        Some(value) => Some(check_body_uid(".uid", value)?),
    };
    let mut details = Map::new();
    details.insert("primaryKey".into(), json!(primary_key));
    if let Some(new_uid) = &new_uid {
        details.insert("oldIndexUid".into(), json!(uid));
        details.insert("newIndexUid".into(), json!(new_uid));
    }
    let summary = state.register(
        "indexUpdate",
        Some(uid),
        Some(details),
        Op::UpdateIndex {
            primary_key,
            new_uid,
        },
    );
    Ok((StatusCode::ACCEPTED, Json(summary)))
}

/// `DELETE /indexes/{uid}`
pub async fn delete_index(
    State(state): State<Arc<AppState>>,
    Path(uid): Path<String>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    check_path_uid(&uid)?;
    let mut details = Map::new();
    details.insert("deletedDocuments".into(), Value::Null);
    let summary = state.register("indexDeletion", Some(uid), Some(details), Op::DeleteIndex);
    Ok((StatusCode::ACCEPTED, Json(summary)))
}

/// `POST /indexes/{uid}/compact`: an `indexCompaction` task (an index that does not exist
/// fails it).
pub async fn compact_index(
    State(state): State<Arc<AppState>>,
    Path(uid): Path<String>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    check_path_uid(&uid)?;
    let mut details = Map::new();
    details.insert("preCompactionSize".into(), Value::Null);
    details.insert("postCompactionSize".into(), Value::Null);
    let summary = state.register("indexCompaction", Some(uid), Some(details), Op::Compact);
    Ok((StatusCode::ACCEPTED, Json(summary)))
}

/// `POST /swap-indexes`
pub async fn swap_indexes(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let body = json_body(&headers, &body)?;
    let Some(items) = body.as_array() else {
        return Err(ApiError::bad_request(type_error("", &[Kind::Seq], &body)));
    };
    let mut swaps = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let path = format!("[{i}]");
        let Some(object) = item.as_object() else {
            return Err(ApiError::bad_request(type_error(&path, &[Kind::Map], item)));
        };
        for key in object.keys() {
            if key != "indexes" && key != "rename" {
                return Err(ApiError::bad_request(unknown_field(
                    &path,
                    key,
                    &["indexes", "rename"],
                )));
            }
        }
        let Some(indexes) = object.get("indexes") else {
            return Err(ApiError::new(
                "missing_swap_indexes",
                missing_field(&path, "indexes"),
            ));
        };
        let indexes_path = format!("{path}.indexes");
        let Some(list) = indexes.as_array() else {
            return Err(ApiError::new(
                "invalid_swap_indexes",
                type_error(&indexes_path, &[Kind::Seq], indexes),
            ));
        };
        let mut uids = Vec::new();
        for (j, uid) in list.iter().enumerate() {
            uids.push(check_body_uid(&format!("{indexes_path}[{j}]"), uid)?);
        }
        if uids.len() != 2 {
            return Err(ApiError::new(
                "invalid_swap_indexes",
                format!(
                    "Two indexes must be given for each swap. The list `{}` contains {} indexes.",
                    Value::Array(list.clone()),
                    uids.len()
                ),
            ));
        }
        let rename = match object.get("rename") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                return Err(ApiError::new(
                    "invalid_swap_rename",
                    type_error(&format!("{path}.rename"), &[Kind::Bool], other),
                ))
            }
        };
        swaps.push((uids[0].clone(), uids[1].clone(), rename));
    }
    let mut seen = BTreeSet::new();
    let mut duplicates = Vec::new();
    for (a, b, _) in &swaps {
        for uid in [a, b] {
            if !seen.insert(uid.clone()) && !duplicates.contains(uid) {
                duplicates.push(uid.clone());
            }
        }
    }
    if !duplicates.is_empty() {
        let list = duplicates
            .iter()
            .map(|d| format!("`{d}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let verb = if duplicates.len() == 1 { "was" } else { "were" };
        return Err(ApiError::new(
            "invalid_swap_duplicate_index_found",
            format!("Indexes must be declared only once during a swap. {list} {verb} specified several times."),
        ));
    }
    let mut details = Map::new();
    details.insert(
        "swaps".into(),
        Value::Array(
            swaps
                .iter()
                .map(|(a, b, rename)| json!({"indexes": [a, b], "rename": rename}))
                .collect(),
        ),
    );
    let summary = state.register("indexSwap", None, Some(details), Op::Swap(swaps));
    Ok((StatusCode::ACCEPTED, Json(summary)))
}

fn index_stats(store: &Store, index: &Index) -> Value {
    let count = index.docs.len() as u64;
    let size = index.raw_size();
    let distribution: Map<String, Value> = index
        .field_distribution()
        .into_iter()
        .map(|(k, v)| (k, json!(v)))
        .collect();
    json!({
        "numberOfDocuments": count,
        "rawDocumentDbSize": size,
        "avgDocumentSize": size.checked_div(count).unwrap_or(0),
        "isIndexing": store.is_indexing(&index.uid),
        "numberOfEmbeddings": 0,
        "numberOfEmbeddedDocuments": 0,
        "fieldDistribution": distribution,
    })
}

const STATS_PARAMS: [&str; 2] = ["showInternalDatabaseSizes", "sizeFormat"];

/// `GET /indexes/{uid}/stats`
pub async fn get_index_stats(
    State(state): State<Arc<AppState>>,
    Path(uid): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Value>> {
    Params::parse(raw.as_deref()).deny_unknown(&STATS_PARAMS)?;
    check_path_uid(&uid)?;
    let store = state.lock();
    let index = store.index(&uid)?;
    Ok(Json(index_stats(&store, index)))
}

/// `GET /stats`
pub async fn get_stats(
    State(state): State<Arc<AppState>>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Value>> {
    Params::parse(raw.as_deref()).deny_unknown(&STATS_PARAMS)?;
    let store = state.lock();
    let mut indexes = Map::new();
    let mut total = 0;
    for index in store.indexes.values() {
        total += index.raw_size();
        indexes.insert(index.uid.clone(), index_stats(&store, index));
    }
    let last_update = store.indexes.values().map(|i| i.updated_at).max();
    Ok(Json(json!({
        "databaseSize": total,
        "usedDatabaseSize": total,
        "lastUpdate": crate::util::date_value(last_update),
        "indexes": indexes,
    })))
}
