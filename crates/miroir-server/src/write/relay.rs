//! Instance-level changes applied to every node alike (experimental features, chat
//! workspaces): the first node alone first, so a value it refuses changes nothing anywhere,
//! then every other node, under the write lock so that they apply in the same order everywhere.

use axum::http::Method;
use futures::future::try_join_all;
use serde_json::Value;

use crate::cluster::node::{NodeBody, NodeResponse};
use crate::error::Result;
use crate::state::AppState;

/// Sends `body` to the first node, then (if it accepted) to every other node; answers the first
/// node's response.
pub(crate) async fn to_every_node(
    state: &AppState,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Result<NodeResponse> {
    let as_body = |body: &Option<Value>| match body {
        Some(value) => NodeBody::Json(value.clone()),
        None => NodeBody::Empty,
    };
    let _guard = state.write_lock.lock().await;
    let first = state
        .cluster
        .node(0)
        .send(method.clone(), path, as_body(&body))
        .await?;
    let first_id = &state.cluster.node(0).id;
    if !first.status.is_success() {
        first.json(first_id)?;
        return Ok(first);
    }
    try_join_all(state.cluster.nodes().skip(1).map(|node| {
        let method = method.clone();
        let body = as_body(&body);
        async move { node.send(method, path, body).await?.json(&node.id) }
    }))
    .await?;
    Ok(first)
}
