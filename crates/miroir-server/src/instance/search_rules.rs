//! `/dynamic-search-rules`: rules that pin documents at positions of the search results.
//!
//! Rules belong to the instance, not to an index, so every node holds all of them. A change
//! (`PATCH /dynamic-search-rules/{uid}`, `DELETE /dynamic-search-rules/{uid}`, `DELETE
//! /dynamic-search-rules`) is one Miroir task relayed to every node through the write journal,
//! like any write: the first node's synchronous refusal (the experimental feature off, a
//! malformed rule) goes back to the client with nothing journaled, and a node that is down
//! receives the change when it is back. Reads (`POST /dynamic-search-rules`, `GET
//! /dynamic-search-rules/{uid}`) are a live node's answer. A node set up by a rebuild or a join
//! receives the rules of a peer (`write::rebuild`).
//!
//! Searches: each node applies the rules to its own documents, so a pinned document comes back
//! from the one node asked for its shard, marked by its ranking details; the merge places it
//! (`miroir_core::pins`). Nodes tell a pin only in the ranking details, which a search asks of
//! the nodes only while the `dynamicSearchRules` experimental feature may be on
//! ([`AppState::pins_possible`]): set when a feature change or a rule change goes through this
//! process, and re-read from a live node every `health_interval` (a change made through another
//! Miroir process is followed within that interval).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::{OriginalUri, State};
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::cluster::node::NodeBody;
use crate::error::{Error, Result};
use crate::extract::{JsonBody, Params};
use crate::state::AppState;
use crate::tasks::registry::NewTask;
use crate::wire::task::summarized;
use crate::write::journal::{broadcast, submit};

/// The experimental feature that turns dynamic search rules on.
pub(crate) const FEATURE: &str = "dynamicSearchRules";
/// The index Meilisearch names in the tasks of rule changes (its internal rules index).
const RULES_INDEX: &str = ".meili_dsr";

/// `POST /dynamic-search-rules`: the listing, a live node's (every node holds the same rules).
pub(crate) async fn list_rules(
    State(state): State<Arc<AppState>>,
    JsonBody(query): JsonBody<Value>,
) -> Result<Json<Value>> {
    read(
        &state,
        Method::POST,
        "/dynamic-search-rules",
        NodeBody::Json(query),
    )
    .await
}

/// `GET /dynamic-search-rules/{uid}`: a live node's answer.
pub(crate) async fn get_rule(
    State(state): State<Arc<AppState>>,
    OriginalUri(uri): OriginalUri,
) -> Result<Json<Value>> {
    read(&state, Method::GET, uri.path(), NodeBody::Empty).await
}

async fn read(state: &AppState, method: Method, path: &str, body: NodeBody) -> Result<Json<Value>> {
    let node = state.cluster.live_fleet_node()?;
    node.json(method, path, body).await.map(Json)
}

/// `PATCH /dynamic-search-rules/{uid}`: creates the rule or changes the fields given.
pub(crate) async fn update_rule(
    State(state): State<Arc<AppState>>,
    OriginalUri(uri): OriginalUri,
    params: Params,
    JsonBody(change): JsonBody<Value>,
) -> Result<Response> {
    let details = json!({"rule": change, "updatedRules": 1});
    let call = (Method::PATCH, uri.path(), Some(change));
    rule_task(&state, "dsrUpdate", details, call, &params).await
}

/// `DELETE /dynamic-search-rules/{uid}`
pub(crate) async fn delete_rule(
    State(state): State<Arc<AppState>>,
    OriginalUri(uri): OriginalUri,
    params: Params,
) -> Result<Response> {
    let details = json!({"updatedRules": 1});
    let call = (Method::DELETE, uri.path(), None);
    rule_task(&state, "dsrUpdate", details, call, &params).await
}

/// `DELETE /dynamic-search-rules`: every rule.
pub(crate) async fn clear_rules(
    State(state): State<Arc<AppState>>,
    params: Params,
) -> Result<Response> {
    let details = json!({"deletedDocuments": null});
    let call = (Method::DELETE, "/dynamic-search-rules", None);
    rule_task(&state, "dsrClear", details, call, &params).await
}

/// One Miroir task relaying a rule change to every node (see the module docs).
async fn rule_task(
    state: &AppState,
    kind: &'static str,
    details: Value,
    (method, path, body): (Method, &str, Option<Value>),
    params: &Params,
) -> Result<Response> {
    let task = NewTask {
        kind,
        index_uid: Some(RULES_INDEX.to_string()),
        details: Some(details),
        custom_metadata: params.custom_metadata(),
    };
    let record = {
        let _guard = state.write_lock.lock().await;
        let calls = broadcast(state, method, path, body);
        submit(state, task, calls, None).await?
    };
    // The first node took the change: the feature is on.
    state.pins_possible.store(true, Ordering::SeqCst);
    Ok(summarized(&record).into_response())
}

/// Follows a node's experimental features (`GET` or `PATCH /experimental-features` answer):
/// whether nodes may pin documents.
pub(crate) fn follow_features(state: &AppState, features: &Value) {
    let on = features.get(FEATURE).and_then(Value::as_bool) == Some(true);
    state.pins_possible.store(on, Ordering::SeqCst);
}

/// Re-reads the experimental features from a live node every `health_interval`, so that a
/// change made through another Miroir process is followed (see the module docs).
pub(crate) async fn follow_features_loop(state: Arc<AppState>) {
    let mut ticks = tokio::time::interval(state.config.health_interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Ok(node) = state.cluster.live_fleet_node() else {
            continue;
        };
        match node
            .json(Method::GET, "/experimental-features", NodeBody::Empty)
            .await
        {
            Ok(features) => follow_features(&state, &features),
            Err(Error::NodeUnavailable { .. }) => {}
            Err(error) => {
                tracing::debug!(node = %node.id, %error, "cannot read the experimental features")
            }
        }
    }
}
