//! Instance-level routes whose state lives on every node alike: chat workspaces and
//! `/render-template`.
//!
//! Chat workspace settings are per node and small; Miroir reads them from a live node and
//! applies a change to the first node alone first (so a value it refuses changes nothing
//! anywhere), then to the others, the same way as experimental features. A chat *completion*
//! runs its searches inside one node, which holds only some shards, so it is refused (see
//! `instance::unsupported`).
//!
//! `/render-template` renders a template against one document: when the input names a document
//! of a Miroir index, the request goes to a live node holding that document's shard; otherwise any
//! node renders it (templates are index settings, identical on every node).

use std::sync::Arc;

use axum::extract::{OriginalUri, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde_json::Value;

use crate::access::Access;
use crate::cluster::node::{Node, NodeBody, NodeResponse};
use crate::error::Result;
use crate::extract::{JsonBody, Workspace};
use crate::state::AppState;
use crate::wire::error::invalid_api_key;
use crate::write::relay::to_every_node;

/// Relays a node's answer to the client as it is (status and JSON body); node errors go through
/// the one error mapping.
fn respond(node: &Node, answer: NodeResponse) -> Result<Response> {
    let status = answer.status;
    let value = answer.json(&node.id)?;
    if status == StatusCode::NO_CONTENT || value.is_null() {
        return Ok(status.into_response());
    }
    Ok((status, axum::Json(value)).into_response())
}

/// `GET /chats`, `GET /chats/{workspace}` and `GET /chats/{workspace}/settings`: a live node's
/// answer (every node has the same workspaces).
pub(crate) async fn chats_read(
    State(state): State<Arc<AppState>>,
    OriginalUri(uri): OriginalUri,
) -> Result<Response> {
    let path = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_string(), |p| p.as_str().to_string());
    let node = state.cluster.live_fleet_node()?;
    let answer = node.send(Method::GET, &path, NodeBody::Empty).await?;
    respond(node, answer)
}

/// `PATCH /chats/{workspace}/settings`: applied to every node.
pub(crate) async fn chat_settings_update(
    State(state): State<Arc<AppState>>,
    Workspace(workspace): Workspace,
    JsonBody(change): JsonBody<Value>,
) -> Result<Response> {
    let path = format!("/chats/{workspace}/settings");
    let answer = to_every_node(&state, Method::PATCH, &path, Some(change)).await?;
    respond(state.cluster.live_fleet_node()?, answer)
}

/// `DELETE /chats/{workspace}/settings` and `DELETE /chats/{workspace}`: applied to every node.
pub(crate) async fn chats_delete(
    State(state): State<Arc<AppState>>,
    OriginalUri(uri): OriginalUri,
) -> Result<Response> {
    let answer = to_every_node(&state, Method::DELETE, uri.path(), None).await?;
    respond(state.cluster.live_fleet_node()?, answer)
}

/// `POST /render-template`: rendered by a node that holds the input document (see the module
/// documentation).
pub(crate) async fn render_template(
    State(state): State<Arc<AppState>>,
    Extension(access): Extension<Access>,
    JsonBody(request): JsonBody<Value>,
) -> Result<Response> {
    for uid in [
        &request["template"]["indexUid"],
        &request["input"]["indexUid"],
    ]
    .into_iter()
    .filter_map(Value::as_str)
    {
        if !access.may_use(uid) {
            return Err(invalid_api_key().into());
        }
    }
    // An inline input (no index document) renders on any node.
    let node = state
        .cluster
        .node(document_owner(&state, &request["input"])?.unwrap_or(0));
    let answer = node
        .send(Method::POST, "/render-template", NodeBody::Json(request))
        .await?;
    respond(node, answer)
}

/// The position of a live node holding the document an `indexDocument` input names, when the
/// input names a document of one of Miroir's indexes (`None`: any node renders it, and a node
/// answers a malformed input with Meilisearch's own error).
fn document_owner(state: &AppState, input: &Value) -> Result<Option<usize>> {
    let Some(uid) = input["indexUid"].as_str() else {
        return Ok(None);
    };
    let Ok(id) = miroir_core::document::validate_document_id(&input["id"]) else {
        return Ok(None);
    };
    let Some(index) = state.store.get_index(uid)? else {
        return Ok(None);
    };
    let shard = state.cluster.shard_of(index.shard_count, &id)?;
    let plan = state
        .cluster
        .search_plan(&state.cluster.scope(&index), &[shard], &[])?;
    Ok(plan.first().map(|(node, _)| *node))
}
