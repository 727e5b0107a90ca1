//! Instance-level changes applied to every node alike (experimental features, chat
//! workspaces): the first node alone first, so a value it refuses changes nothing anywhere,
//! then every other node, under the write lock so that they apply in the same order everywhere.

use axum::http::Method;
use futures::future::try_join_all;
use serde_json::Value;

use crate::cluster::node::{NodeBody, NodeResponse};
use crate::error::{Error, Result};
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
    let mut fleet = state.cluster.fleet_nodes();
    let Some(first_node) = fleet.next() else {
        return Err(Error::NodeUnavailable {
            node: "-".to_string(),
            reason: "the fleet has no node".to_string(),
        });
    };
    let first = first_node
        .send(method.clone(), path, as_body(&body))
        .await?;
    if !first.status.is_success() {
        first.json(&first_node.id)?;
        return Ok(first);
    }
    try_join_all(fleet.map(|node| {
        let method = method.clone();
        let body = as_body(&body);
        async move { node.send(method, path, body).await?.json(&node.id) }
    }))
    .await?;
    Ok(first)
}
