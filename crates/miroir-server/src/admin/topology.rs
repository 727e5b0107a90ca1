//! `GET /_miroir/topology`: the fleet as the stored topology has it — its epoch, replication
//! factor and nodes (id, URL, zone, weight, state, and how many shard copies each holds over
//! every index; never a node's key) — and the rebalance's progress, which
//! `GET /_miroir/rebalance` answers alone.
//!
//! The shape is a contract with outside tooling (see `docs/api-coverage.md`). No rebalance
//! runs yet: a node that joined holds nothing until one does, and `rebalance` says `idle`.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use miroir_store::Error as StoreError;

use crate::error::{Error, Result};
use crate::state::AppState;

/// `GET /_miroir/topology`
pub(crate) async fn topology(State(state): State<Arc<AppState>>) -> Result<Json<Value>> {
    let topology = state
        .store
        .topology()?
        .ok_or(Error::Store(StoreError::Corrupt("topology missing")))?;
    let mut held = vec![0usize; state.cluster.node_count()];
    for index in state.store.list_indexes()? {
        let table = state.cluster.table(state.cluster.layout(&index))?;
        for shard in 0..index.shard_count {
            for node in table.replicas(shard) {
                held[*node] += 1;
            }
        }
    }
    let nodes: Vec<Value> = topology
        .nodes
        .iter()
        .map(|node| {
            let shards = state
                .cluster
                .position(&node.id)
                .map_or(0, |position| held[position]);
            json!({
                "id": node.id,
                "url": node.url,
                "zone": node.zone,
                "weight": node.weight,
                "state": node.state.name(),
                "shards": shards,
            })
        })
        .collect();
    Ok(Json(json!({
        "epoch": topology.epoch,
        "replicationFactor": topology.replication_factor,
        "nodes": nodes,
        "rebalance": rebalance_progress(),
    })))
}

/// The rebalance's progress, in the shape `GET /_miroir/rebalance` answers. No rebalance
/// runs yet: it is always idle.
fn rebalance_progress() -> Value {
    json!({
        "state": "idle",
        "movesTotal": 0,
        "movesDone": 0,
        "documentsTotal": 0,
        "documentsCopied": 0,
        "startedAt": null,
        "etaSeconds": null,
    })
}

/// `GET /_miroir/rebalance`
pub(crate) async fn rebalance() -> Json<Value> {
    Json(rebalance_progress())
}
