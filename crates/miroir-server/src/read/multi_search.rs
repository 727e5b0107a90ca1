//! `POST /multi-search`: plain (one result per query, each run as its own search) or federated
//! (one merged list, see [`super::federated`]).

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::{Extension, Json};
use serde_json::{json, Map, Value};

use super::collect::{add_metadata, insert_after_request_uid, query_metadata, wants_metadata};
use super::federated::federated;
use super::query::post_query;
use super::search::search;
use crate::access::Access;
use crate::error::{Error, MeiliError, Result};
use crate::extract::JsonBody;
use crate::state::AppState;
use crate::wire::json_kind;

/// One query of a multi-search: its index and its search body (tenant rules applied).
pub(crate) struct IndexQuery {
    /// The index it searches.
    pub uid: String,
    /// Its body, without `indexUid`.
    pub body: Map<String, Value>,
}

/// `POST /multi-search`
pub(crate) async fn multi_search(
    State(state): State<Arc<AppState>>,
    Extension(access): Extension<Access>,
    headers: HeaderMap,
    JsonBody(mut request): JsonBody<Map<String, Value>>,
) -> Result<Json<Value>> {
    if let Some(unknown) = request
        .keys()
        .find(|key| !matches!(key.as_str(), "queries" | "federation"))
    {
        return Err(MeiliError::invalid(
            "bad_request",
            format!("Unknown field `{unknown}`: expected one of `federation`, `queries`"),
        )
        .into());
    }
    let queries = match request.remove("queries") {
        Some(Value::Array(queries)) => queries,
        None => {
            return Err(MeiliError::invalid(
                "missing_multi_search_queries",
                "Missing field `queries`",
            )
            .into())
        }
        Some(other) => {
            return Err(MeiliError::invalid(
                "bad_request",
                format!(
                    "Invalid value type at `.queries`: expected an array, but found {}: `{other}`",
                    json_kind(&other)
                ),
            )
            .into())
        }
    };
    let mut parsed = Vec::with_capacity(queries.len());
    for (position, query) in queries.into_iter().enumerate() {
        parsed.push(index_query(&access, position, query)?);
    }
    match request.remove("federation").filter(|f| !f.is_null()) {
        None => {
            let mut results = Vec::with_capacity(parsed.len());
            for (position, IndexQuery { uid, body }) in parsed.into_iter().enumerate() {
                let query = post_query(&access, &uid, body, &format!(".queries[{position}]"))?;
                let mut result = search(&state, &uid, query)
                    .await
                    .map_err(|e| in_query(e, position))?;
                if wants_metadata(&headers) {
                    add_metadata(&mut result, &state.index(&uid)?);
                }
                if let Value::Object(map) = &mut result {
                    map.shift_insert(0, "indexUid".into(), Value::String(uid));
                }
                results.push(result);
            }
            Ok(Json(json!({ "results": results })))
        }
        Some(Value::Object(federation)) => {
            let metadata = if wants_metadata(&headers) {
                Some(federated_metadata(&state, &parsed)?)
            } else {
                None
            };
            let queries = parsed
                .into_iter()
                .map(|mut q| {
                    access.apply_rules(&q.uid, &mut q.body);
                    q
                })
                .collect();
            let mut answer = federated(&state, queries, federation).await?;
            if let Some(metadata) = metadata {
                insert_after_request_uid(&mut answer, "metadata", Value::Array(metadata));
            }
            Ok(Json(answer))
        }
        Some(other) => Err(MeiliError::invalid(
            "invalid_multi_search_federated",
            format!(
                "Invalid value type at `.federation`: expected an object, but found {}: `{other}`",
                json_kind(&other)
            ),
        )
        .into()),
    }
}

/// The `metadata` of a federated search, as Meilisearch 1.50 gives it: one object per query,
/// in query order, naming its `q` when the query has one (an empty one included).
fn federated_metadata(state: &AppState, queries: &[IndexQuery]) -> Result<Vec<Value>> {
    queries
        .iter()
        .map(|query| {
            let q = query.body.get("q").and_then(Value::as_str);
            Ok(query_metadata(&state.index(&query.uid)?, q))
        })
        .collect()
}

/// Reads one query: an object naming an index the request may use.
fn index_query(access: &Access, position: usize, query: Value) -> Result<IndexQuery> {
    let Value::Object(mut body) = query else {
        return Err(MeiliError::invalid(
            "bad_request",
            format!(
                "Invalid value type at `.queries[{position}]`: expected an object, but found {}: `{query}`",
                json_kind(&query)
            ),
        )
        .into());
    };
    let uid = match body.remove("indexUid") {
        Some(Value::String(uid)) => uid,
        _ => {
            return Err(MeiliError::invalid(
                "missing_index_uid",
                format!("Missing field `indexUid` inside `.queries[{position}]`"),
            )
            .into())
        }
    };
    access
        .check(&uid)
        .map_err(|e| in_query(Error::Meili(e), position))?;
    Ok(IndexQuery { uid, body })
}

/// Prefixes an error with the query it came from, as Meilisearch does in multi-search.
pub(crate) fn in_query(error: Error, position: usize) -> Error {
    match error {
        Error::Meili(mut e) => {
            e.message = format!("Inside `.queries[{position}]`: {}", e.message);
            // The missing index is not part of the URL here: Meilisearch answers 400, not 404.
            if e.code == "index_not_found" {
                e.status = axum::http::StatusCode::BAD_REQUEST;
            }
            Error::Meili(e)
        }
        Error::Node { status, mut body } => {
            if let Some(message) = body.get("message").and_then(Value::as_str) {
                let prefixed = format!("Inside `.queries[{position}]`: {message}");
                body["message"] = Value::String(prefixed);
            }
            Error::Node { status, body }
        }
        other => other,
    }
}
