//! Instance-level routes whose state lives on every node alike: chat workspaces and
//! `/render-template`.
//!
//! Chat workspace settings are per node and small; Miroir reads them from the first node and
//! applies a change to the first node alone first (so a value it refuses changes nothing
//! anywhere), then to the others, the same way as experimental features. A chat *completion*
//! runs its searches inside one node, which holds only some shards, so it is refused (see
//! [`crate::unsupported`]).
//!
//! `/render-template` renders a template against one document: when the input names a document
//! of a Miroir index, the request goes to a live node holding that document's shard; otherwise any
//! node renders it (templates are index settings, identical on every node).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::future::try_join_all;
use serde_json::Value;

use crate::auth::Access;
use crate::error::Result;
use crate::extract::{json_body, Body};
use crate::indexes::require_json;
use crate::node::{NodeBody, NodeClient, NodeResponse};
use crate::state::AppState;

/// Sends `body` to the first node, then (if it accepted) to every other node; answers the first
/// node's response.
pub async fn to_every_node(
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
    try_join_all(state.cluster.nodes().iter().skip(1).map(|node| {
        let method = method.clone();
        let body = as_body(&body);
        async move { node.send(method, path, body).await?.json(&node.id) }
    }))
    .await?;
    Ok(first)
}

/// Relays a node's answer to the client as it is (status and JSON body); node errors go through
/// the one error mapping.
fn respond(node: &NodeClient, answer: NodeResponse) -> Result<Response> {
    let status = answer.status;
    let value = answer.json(&node.id)?;
    if status == StatusCode::NO_CONTENT || value.is_null() {
        return Ok(status.into_response());
    }
    Ok((status, axum::Json(value)).into_response())
}

/// `GET /chats`, `GET /chats/{workspace}` and `GET /chats/{workspace}/settings`: the first node's
/// answer (every node has the same workspaces).
pub async fn chats_read(
    State(state): State<Arc<AppState>>,
    axum::extract::OriginalUri(uri): axum::extract::OriginalUri,
) -> Result<Response> {
    let path = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_string(), |p| p.as_str().to_string());
    let node = state.cluster.node(0);
    let answer = node.send(Method::GET, &path, NodeBody::Empty).await?;
    respond(node, answer)
}

/// `PATCH /chats/{workspace}/settings`: applied to every node.
pub async fn chat_settings_update(
    State(state): State<Arc<AppState>>,
    Path(workspace): Path<String>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response> {
    require_json(&headers)?;
    let change: Value = json_body(&body)?;
    let path = format!("/chats/{workspace}/settings");
    let answer = to_every_node(&state, Method::PATCH, &path, Some(change)).await?;
    respond(state.cluster.node(0), answer)
}

/// `DELETE /chats/{workspace}/settings` and `DELETE /chats/{workspace}`: applied to every node.
pub async fn chats_delete(
    State(state): State<Arc<AppState>>,
    axum::extract::OriginalUri(uri): axum::extract::OriginalUri,
) -> Result<Response> {
    let answer = to_every_node(&state, Method::DELETE, uri.path(), None).await?;
    respond(state.cluster.node(0), answer)
}

/// `POST /render-template`: rendered by a node that holds the input document (see the module
/// documentation).
pub async fn render_template(
    State(state): State<Arc<AppState>>,
    axum::Extension(access): axum::Extension<Access>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response> {
    require_json(&headers)?;
    let request: Value = json_body(&body)?;
    for uid in [
        &request["template"]["indexUid"],
        &request["input"]["indexUid"],
    ]
    .into_iter()
    .filter_map(Value::as_str)
    {
        if !access.may_use(uid) {
            return Err(crate::auth::invalid_api_key().into());
        }
    }
    let node = state
        .cluster
        .node(document_owner(&state, &request["input"]).unwrap_or(0));
    let answer = node
        .send(Method::POST, "/render-template", NodeBody::Json(request))
        .await?;
    respond(node, answer)
}

/// The position of a live node holding the document an `indexDocument` input names, when the
/// index is one of Miroir's.
fn document_owner(state: &AppState, input: &Value) -> Option<usize> {
    let uid = input["indexUid"].as_str()?;
    let id = miroir_core::document::validate_document_id(&input["id"]).ok()?;
    let index = state.index(uid).ok()?;
    let shard = state.cluster.shard_of(index.shard_count, &id).ok()?;
    let plan = state
        .cluster
        .search_plan(state.cluster.layout(&index), &[shard], &[])
        .ok()?;
    plan.first().map(|(node, _)| *node)
}
