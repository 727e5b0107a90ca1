//! `/experimental-features`, relayed to the nodes.
//!
//! Experimental features are per node; Miroir shows a live node's and applies a change to
//! every node (the first alone first, so a value it refuses changes nothing anywhere), because
//! a feature a query depends on must be on wherever the query goes.

use std::sync::Arc;

use axum::extract::State;
use axum::http::Method;
use axum::Json;
use serde_json::Value;

use crate::cluster::node::NodeBody;
use crate::error::Result;
use crate::extract::JsonBody;
use crate::instance::search_rules;
use crate::state::AppState;
use crate::write::relay::to_every_node;

/// `GET /experimental-features`
pub(crate) async fn get_features(State(state): State<Arc<AppState>>) -> Result<Json<Value>> {
    Ok(Json(current(&state).await?))
}

/// The experimental features in force: a live node's.
pub(crate) async fn current(state: &AppState) -> Result<Value> {
    let features = state
        .cluster
        .live_fleet_node()?
        .json(Method::GET, "/experimental-features", NodeBody::Empty)
        .await?;
    search_rules::follow_features(state, &features);
    Ok(features)
}

/// `PATCH /experimental-features`
pub(crate) async fn update_features(
    State(state): State<Arc<AppState>>,
    JsonBody(change): JsonBody<Value>,
) -> Result<Json<Value>> {
    let answer = to_every_node(
        &state,
        Method::PATCH,
        "/experimental-features",
        Some(change),
    )
    .await?;
    let features = answer.json(&state.cluster.live_fleet_node()?.id)?;
    search_rules::follow_features(&state, &features);
    Ok(Json(features))
}
