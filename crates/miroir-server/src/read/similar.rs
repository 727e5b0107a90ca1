//! `/indexes/{uid}/similar`: documents similar to a reference document, over every shard.
//!
//! Meilisearch answers `similar` from the reference document's embedding. Behind Miroir the
//! reference lives on one shard, so: (1) find its shard and read it there with its vectors —
//! a missing document is Meilisearch's `not_found_similar_id`; (2) run a purely semantic
//! search with that embedding (`hybrid.semanticRatio = 1`, the same similarity score) over
//! every shard and merge like any search; (3) drop the reference document itself, as
//! `similar` never returns it.
//!
//! Not supported (answered with `miroir_not_supported`, never a wrong result): a reference
//! document without a stored embedding for the embedder (its vector cannot be read back, so
//! it cannot be sent to the other shards).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::{Extension, Json};
use serde_json::{json, Map, Value};

use miroir_core::reserved::reserved_in_filter;

use super::search::search;
use crate::access::Access;
use crate::cluster::fanout::fan_out;
use crate::cluster::node::NodeBody;
use crate::error::{Error, ErrorType, MeiliError, Result};
use crate::extract::{IndexUid, JsonBody, Params};
use crate::state::AppState;
use crate::wire::error::reserved_attribute;
use crate::wire::search::{params_to_body, SearchQuery};

/// `POST /indexes/{uid}/similar`
pub(crate) async fn similar_post(
    State(state): State<Arc<AppState>>,
    Extension(access): Extension<Access>,
    IndexUid(uid): IndexUid,
    JsonBody(mut query): JsonBody<Map<String, Value>>,
) -> Result<Json<Value>> {
    access.apply_rules(&uid, &mut query);
    similar(&state, &uid, query).await.map(Json)
}

/// `GET /indexes/{uid}/similar`
pub(crate) async fn similar_get(
    State(state): State<Arc<AppState>>,
    Extension(access): Extension<Access>,
    IndexUid(uid): IndexUid,
    params: Params,
) -> Result<Json<Value>> {
    let mut query = params_to_body(&params.0)?;
    access.apply_rules(&uid, &mut query);
    similar(&state, &uid, query).await.map(Json)
}

fn not_found(id: &str) -> MeiliError {
    MeiliError::invalid(
        "not_found_similar_id",
        format!("Document `{id}` not found."),
    )
}

/// The embedding stored for `embedder` in a document's `_vectors`, if any.
fn embedding(document: &Value, embedder: &str) -> Option<Value> {
    let vectors = document.get("_vectors")?.get(embedder)?;
    let embeddings = match vectors {
        Value::Object(map) => map.get("embeddings")?.clone(),
        other => other.clone(),
    };
    match embeddings {
        // One embedding, or several (the first is the document's main one).
        Value::Array(items) if items.first().is_some_and(Value::is_array) => items.first().cloned(),
        Value::Array(items) if !items.is_empty() => Some(Value::Array(items)),
        _ => None,
    }
}

/// The fields of a similar query, in Meilisearch's order (its messages list them).
const SIMILAR_FIELDS: [&str; 11] = [
    "id",
    "offset",
    "limit",
    "filter",
    "embedder",
    "attributesToRetrieve",
    "retrieveVectors",
    "showRankingScore",
    "showRankingScoreDetails",
    "showPerformanceDetails",
    "rankingScoreThreshold",
];

async fn similar(state: &AppState, uid: &str, mut query: Map<String, Value>) -> Result<Value> {
    if let Some(unknown) = query
        .keys()
        .find(|key| !SIMILAR_FIELDS.contains(&key.as_str()))
    {
        let expected: Vec<String> = SIMILAR_FIELDS.iter().map(|f| format!("`{f}`")).collect();
        return Err(MeiliError::invalid(
            "bad_request",
            format!(
                "Unknown field `{unknown}`: expected one of {}",
                expected.join(", ")
            ),
        )
        .into());
    }
    let index = state.index(uid)?;
    if let Some(name) = query.get("filter").and_then(reserved_in_filter) {
        return Err(reserved_attribute("invalid_similar_filter", &name).into());
    }
    let id = match query.remove("id") {
        Some(Value::String(id)) => id,
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => n.to_string(),
        Some(other) => {
            return Err(MeiliError::invalid(
                "invalid_similar_id",
                format!("Invalid value at `.id`: the value of `id` is invalid. A document identifier can be of type integer or string, only composed of alphanumeric characters (a-z A-Z 0-9), hyphens (-) and underscores (_), and can not be more than 511 bytes. Found `{other}`."),
            )
            .into())
        }
        None => return Err(MeiliError::invalid("missing_similar_id", "Missing field `id`").into()),
    };
    let embedder = query
        .get("embedder")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| {
            MeiliError::invalid("invalid_similar_embedder", "Missing field `embedder`")
        })?;

    // (1) The reference document, on its shard.
    let shard = state.cluster.shard_of(index.shard_count, &id)?;
    let path = format!(
        "/indexes/{uid}/documents/{}?retrieveVectors=true",
        url::form_urlencoded::byte_serialize(id.as_bytes()).collect::<String>()
    );
    let path = &path;
    let reference = fan_out(
        &state.cluster,
        &state.cluster.scope(&index),
        &[shard],
        |node, _| async move {
            match state
                .cluster
                .node(node)
                .json(Method::GET, path, NodeBody::Empty)
                .await
            {
                Err(Error::Node { status, .. }) if status == StatusCode::NOT_FOUND => Ok(None),
                other => other.map(Some),
            }
        },
    )
    .await?
    .pop()
    .flatten()
    .ok_or_else(|| not_found(&id))?;
    let Some(vector) = embedding(&reference, &embedder) else {
        // Without a stored embedding, a node holding the document says what is wrong (an
        // unknown embedder, for one) as one Meilisearch would; otherwise Miroir cannot help.
        let mut probe = query.clone();
        probe.insert("id".into(), Value::String(id.clone()));
        let plan = state
            .cluster
            .search_plan(&state.cluster.scope(&index), &[shard], &[])?;
        if let Some((node, _)) = plan.first() {
            state
                .cluster
                .node(*node)
                .json(
                    Method::POST,
                    &format!("/indexes/{uid}/similar"),
                    NodeBody::Json(Value::Object(probe)),
                )
                .await?;
        }
        return Err(MeiliError::new(
            StatusCode::NOT_IMPLEMENTED,
            "miroir_not_supported",
            ErrorType::InvalidRequest,
            format!("`similar` through Miroir needs the reference document's stored embedding for `{embedder}`, and document `{id}` has none."),
        )
        .into());
    };

    // (2) A purely semantic search with that embedding over every shard, one hit deeper so
    // that dropping the reference still fills the window.
    let offset = query.get("offset").and_then(Value::as_u64).unwrap_or(0);
    let limit = query.get("limit").and_then(Value::as_u64).unwrap_or(20);
    let primary_key = index
        .primary_key
        .clone()
        .unwrap_or_else(|| "id".to_string());
    let mut semantic = query.clone();
    semantic.remove("embedder");
    semantic.insert("vector".into(), vector);
    semantic.insert(
        "hybrid".into(),
        json!({"embedder": embedder, "semanticRatio": 1.0}),
    );
    semantic.insert("offset".into(), Value::from(0));
    semantic.insert("limit".into(), Value::from(offset + limit + 1));
    let added_key = match semantic.get_mut("attributesToRetrieve") {
        Some(Value::Array(fields))
            if !fields
                .iter()
                .any(|f| f.as_str() == Some("*") || f.as_str() == Some(&primary_key)) =>
        {
            fields.push(Value::String(primary_key.clone()));
            true
        }
        _ => false,
    };
    let result = search(state, uid, SearchQuery::parse(semantic, "")?).await?;

    // (3) Without the reference document, cut to the window.
    let mut hits: Vec<Value> = result["hits"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|hit| {
            hit.get(&primary_key)
                .and_then(|v| miroir_core::hash::canonical_id(v).map(|c| c.into_owned()))
                .as_deref()
                != Some(id.as_str())
        })
        .skip(offset as usize)
        .take(limit as usize)
        .collect();
    if added_key {
        for hit in &mut hits {
            if let Value::Object(map) = hit {
                map.shift_remove(&primary_key);
            }
        }
    }
    let total = result["estimatedTotalHits"]
        .as_u64()
        .unwrap_or(0)
        .saturating_sub(1);
    let mut answer = json!({
        "hits": hits,
        "id": id,
        "processingTimeMs": result["processingTimeMs"],
        "limit": limit,
        "offset": offset,
        "estimatedTotalHits": total,
    });
    // `showPerformanceDetails`: the timings of the semantic search that answered it.
    if let Some(details) = result.get("performanceDetails") {
        answer["performanceDetails"] = details.clone();
    }
    Ok(answer)
}
