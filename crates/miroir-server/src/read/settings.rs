//! `GET /indexes/{uid}/settings` and its sub-routes: read from the first node (every node
//! holds the same settings), with the shard marker hidden and the client's own facet cap shown.

use std::sync::Arc;

use axum::extract::State;
use axum::http::Method;
use axum::Json;
use serde_json::{Map, Value};

use miroir_core::marker::{strip_settings, without_marker_filterable};

use crate::cluster::node::{Node, NodeBody};
use crate::error::{Error, Result};
use crate::extract::{IndexUid, SettingSegment};
use crate::state::AppState;
use crate::wire::settings::{setting, DEFAULT_MAX_VALUES_PER_FACET};

/// The node settings are read from.
fn first_node(state: &AppState) -> &Node {
    state.cluster.node(0)
}

/// Shows the client's cap in a `faceting` object read from a node.
fn show_faceting(faceting: &mut Value, cap: Option<u64>) {
    if let Value::Object(map) = faceting {
        map.insert(
            "maxValuesPerFacet".into(),
            Value::from(cap.unwrap_or(DEFAULT_MAX_VALUES_PER_FACET)),
        );
    }
}

/// Reads the settings from the first node and hides the marker.
async fn node_settings(state: &AppState, uid: &str) -> Result<Map<String, Value>> {
    let index = state.index(uid)?;
    let settings = first_node(state)
        .json(
            Method::GET,
            &format!("/indexes/{uid}/settings"),
            NodeBody::Empty,
        )
        .await?;
    let Value::Object(mut map) = settings else {
        return Err(Error::NodeUnavailable {
            node: first_node(state).id.clone(),
            reason: "answered settings that are not a JSON object".to_string(),
        });
    };
    strip_settings(&mut map);
    if let Some(faceting) = map.get_mut("faceting") {
        show_faceting(faceting, index.max_values_per_facet);
    }
    Ok(map)
}

/// `GET /indexes/{uid}/settings`
pub(crate) async fn get_settings(
    State(state): State<Arc<AppState>>,
    IndexUid(uid): IndexUid,
) -> Result<Json<Value>> {
    Ok(Json(Value::Object(node_settings(&state, &uid).await?)))
}

/// `GET /indexes/{uid}/settings/{setting}`
pub(crate) async fn get_setting(
    State(state): State<Arc<AppState>>,
    IndexUid(uid): IndexUid,
    SettingSegment(segment): SettingSegment,
) -> Result<Json<Value>> {
    let (key, _) = setting(&segment).ok_or(Error::RouteNotFound)?;
    let index = state.index(&uid)?;
    let mut value = first_node(&state)
        .json(
            Method::GET,
            &format!("/indexes/{uid}/settings/{segment}"),
            NodeBody::Empty,
        )
        .await?;
    match key {
        "filterableAttributes" => value = without_marker_filterable(&value),
        "faceting" => show_faceting(&mut value, index.max_values_per_facet),
        _ => {}
    }
    Ok(Json(value))
}
