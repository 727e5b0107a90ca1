//! `GET /_miroir/nodes`: the state of each node of the fleet (removed nodes are left out) as
//! this Miroir process sees it — health (healthy, suspect, down),
//! whether it lost its data (and waits to be rebuilt), the indexes whose replicas on it are
//! stale (`staleIndexes`) and which of their shards (`staleShards`: a list, or `"all"`), its
//! journal lag (calls it has not received yet, their payload bytes, the age in seconds of the
//! oldest) and the reads it is serving now.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use miroir_core::replica::StaleShards;

use crate::cluster::Health;
use crate::error::Result;
use crate::state::AppState;

/// `GET /_miroir/nodes`
pub(crate) async fn nodes(State(state): State<Arc<AppState>>) -> Result<Json<Value>> {
    let stale = state.cluster.stale_replicas();
    let now = time::OffsetDateTime::now_utc();
    let mut results = Vec::new();
    for (position, node) in state.cluster.nodes().enumerate() {
        if state.cluster.is_retired(position) {
            continue;
        }
        let health = match state.cluster.health(position) {
            Health::Healthy => "healthy",
            Health::Suspect => "suspect",
            Health::Down => "down",
        };
        let stale_indexes: Vec<&String> = stale
            .iter()
            .filter(|(_, n)| *n == position)
            .map(|(index, _)| index)
            .collect();
        let stale_shards: serde_json::Map<String, Value> = stale_indexes
            .iter()
            .map(|index| {
                let shards = match state.cluster.stale_shards(index, position) {
                    Some(StaleShards::Shards(shards)) => json!(shards),
                    _ => json!("all"),
                };
                (index.to_string(), shards)
            })
            .collect();
        results.push(json!({
            "id": node.id,
            "health": health,
            "lost": state.cluster.is_lost(position),
            "staleIndexes": stale_indexes,
            "staleShards": stale_shards,
            "undelivered": state.store.undelivered(&node.id, None)?,
            "undeliveredBytes": state.store.undelivered_bytes(&node.id)?,
            "oldestUndeliveredSeconds": state
                .store
                .oldest_undelivered(&node.id)?
                .map(|oldest| (now - oldest).as_seconds_f64().max(0.0)),
            "readsInFlight": state.cluster.load(position).in_flight(),
        }));
    }
    Ok(Json(json!({ "results": results })))
}
