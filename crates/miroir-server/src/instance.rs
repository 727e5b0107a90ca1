//! Instance-level routes relayed to the nodes: `/experimental-features`, `/fields`, dumps and
//! snapshots.
//!
//! Experimental features are per node; Miroir shows the first node's and applies a change to
//! every node (the first alone first, so a value it refuses changes nothing anywhere), because
//! a feature a query depends on must be on wherever the query goes.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, Method};
use axum::response::IntoResponse;
use axum::Json;
use futures::future::try_join_all;
use serde_json::Value;

use crate::error::Result;
use crate::extract::{json_body, Body};
use crate::indexes::require_json;
use crate::node::NodeBody;
use crate::state::AppState;

/// `GET /experimental-features`
pub async fn get_features(State(state): State<Arc<AppState>>) -> Result<Json<Value>> {
    let features = state
        .cluster
        .node(0)
        .json(Method::GET, "/experimental-features", NodeBody::Empty)
        .await?;
    Ok(Json(features))
}

/// `PATCH /experimental-features`
pub async fn update_features(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Json<Value>> {
    require_json(&headers)?;
    let change: Value = json_body(&body)?;
    let answer = crate::relay::to_every_node(
        &state,
        Method::PATCH,
        "/experimental-features",
        Some(change),
    )
    .await?;
    Ok(Json(answer.json(&state.cluster.node(0).id)?))
}

/// `POST /indexes/{uid}/fields`: the union of every node's fields (a field only present in
/// documents of some shards is known to those nodes only), without the shard marker, then
/// paginated as Meilisearch does. Field order follows the first node that knows each field.
pub async fn list_fields(
    State(state): State<Arc<AppState>>,
    axum::extract::Path(uid): axum::extract::Path<String>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Json<Value>> {
    crate::indexes::check_path_uid(&uid)?;
    require_json(&headers)?;
    let mut request: serde_json::Map<String, Value> = if body.iter().all(u8::is_ascii_whitespace) {
        serde_json::Map::new()
    } else {
        json_body(&body)?
    };
    state.index(&uid)?;
    let offset = request
        .remove("offset")
        .and_then(|v| v.as_u64())
        .unwrap_or(0) as usize;
    let limit = request
        .remove("limit")
        .and_then(|v| v.as_u64())
        .unwrap_or(20) as usize;
    request.insert("offset".into(), Value::from(0));
    request.insert("limit".into(), Value::from(u32::MAX));
    let path = format!("/indexes/{uid}/fields");
    let answers = try_join_all(state.cluster.nodes().iter().map(|node| {
        node.json(
            Method::POST,
            &path,
            NodeBody::Json(Value::Object(request.clone())),
        )
    }))
    .await?;
    let mut fields: Vec<Value> = Vec::new();
    for answer in answers {
        for field in answer["results"].as_array().into_iter().flatten() {
            let name = field["name"].as_str().unwrap_or_default();
            if miroir_core::marker::is_marker_attribute(name)
                || fields.iter().any(|f| f["name"].as_str() == Some(name))
            {
                continue;
            }
            fields.push(field.clone());
        }
    }
    let total = fields.len();
    let results: Vec<Value> = fields.into_iter().skip(offset).take(limit).collect();
    Ok(Json(serde_json::json!({
        "results": results,
        "offset": offset,
        "limit": limit,
        "total": total,
    })))
}

/// `POST /dumps`: one Miroir task that has every node write a dump of its own data. A cluster
/// is restored by starting each node from its own dump (same node ids and URLs) and Miroir on
/// its state directory (`db_path`), which holds the index metadata and tasks the dumps lack.
pub async fn create_dump(State(state): State<Arc<AppState>>) -> Result<impl IntoResponse> {
    instance_task(
        &state,
        "dumpCreation",
        Some(serde_json::json!({"dumpUid": null})),
        "/dumps",
    )
    .await
}

/// `POST /snapshots`: one Miroir task that has every node take a snapshot (restore as for
/// dumps: each node from its snapshot, Miroir on its own `db_path`).
pub async fn create_snapshot(State(state): State<Arc<AppState>>) -> Result<impl IntoResponse> {
    instance_task(&state, "snapshotCreation", None, "/snapshots").await
}

async fn instance_task(
    state: &AppState,
    kind: &'static str,
    details: Option<Value>,
    path: &str,
) -> Result<impl IntoResponse> {
    let task = crate::state::NewTask {
        kind,
        index_uid: None,
        details,
        custom_metadata: None,
    };
    let _guard = state.write_lock.lock().await;
    let calls = crate::indexes::broadcast(state, Method::POST, path, None);
    let record = state.dispatch(task, calls).await?;
    Ok(crate::tasks::summarized(&record))
}
