//! `GET /_miroir/shards`: the shard map — for every index, each shard's replicas and their
//! state — as the cluster page (`crate::ui`) draws it.
//!
//! A replica is `inSync` (serves reads), `stale` (missed writes: serves no read until it has
//! caught up or been repaired) or `catchingUp` (a new owner a rebalance or a reshape is filling:
//! it receives writes and serves no read yet). Whether its node answers is the node's health,
//! in `GET /_miroir/nodes`.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use crate::error::Result;
use crate::state::AppState;

/// `GET /_miroir/shards`
pub(crate) async fn shards(State(state): State<Arc<AppState>>) -> Result<Json<Value>> {
    let mut results = Vec::new();
    for index in state.store.list_indexes()? {
        let reads = state.cluster.table(state.cluster.layout(&index))?;
        let write_layout = state.cluster.write_layout(&index);
        let mut shards = Vec::new();
        for shard in 0..index.shard_count {
            let serving = reads.replicas(shard);
            let mut replicas: Vec<Value> = serving
                .iter()
                .map(|&node| {
                    let replica_state = if state.cluster.is_stale_shard(&index.uid, shard, node) {
                        "stale"
                    } else {
                        "inSync"
                    };
                    json!({"node": state.cluster.node(node).id, "state": replica_state})
                })
                .collect();
            for node in state.cluster.write_replicas(write_layout, shard)? {
                if !serving.contains(&node) {
                    replicas.push(json!({
                        "node": state.cluster.node(node).id,
                        "state": "catchingUp",
                    }));
                }
            }
            shards.push(json!({"shard": shard, "replicas": replicas}));
        }
        results.push(json!({
            "indexUid": index.uid,
            "whole": index.whole,
            "shards": shards,
        }));
    }
    Ok(Json(json!({ "results": results })))
}
