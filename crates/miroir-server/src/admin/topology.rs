//! `GET /_miroir/topology`: the fleet as the stored topology has it — its epoch, replication
//! factor and nodes (id, URL, zone, weight, state, and how many shard copies each holds over
//! every index; never a node's key) — and the rebalance's progress, which
//! `GET /_miroir/rebalance` answers alone.
//!
//! The shape is a contract with outside tooling (see `docs/api-coverage.md`).

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use miroir_store::Error as StoreError;

use axum::http::StatusCode;

use crate::error::{Error, MeiliError, Result};
use crate::rebalance::{progress, set_paused};
use crate::state::AppState;
use crate::wire::error::ErrorType;

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
        "rebalance": progress(&state)?,
    })))
}

/// `GET /_miroir/rebalance`
pub(crate) async fn rebalance(State(state): State<Arc<AppState>>) -> Result<Json<Value>> {
    Ok(Json(progress(&state)?))
}

async fn pause_or_resume(state: &AppState, paused: bool) -> Result<Json<Value>> {
    if !set_paused(state, paused)? {
        return Err(MeiliError::new(
            StatusCode::CONFLICT,
            "miroir_no_rebalance",
            ErrorType::InvalidRequest,
            "No rebalance is running.",
        )
        .into());
    }
    Ok(Json(progress(state)?))
}

/// `POST /_miroir/rebalance/pause`: no move advances until resumed (a move's step in progress
/// finishes first).
pub(crate) async fn pause(State(state): State<Arc<AppState>>) -> Result<Json<Value>> {
    pause_or_resume(&state, true).await
}

/// `POST /_miroir/rebalance/resume`
pub(crate) async fn resume(State(state): State<Arc<AppState>>) -> Result<Json<Value>> {
    pause_or_resume(&state, false).await
}
