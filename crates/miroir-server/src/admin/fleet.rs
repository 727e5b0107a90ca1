//! Changing the fleet while Miroir serves: draining a node (`POST /_miroir/nodes/{id}/drain`),
//! removing one (`DELETE /_miroir/nodes/{id}`, `?force=true` for a dead one) and changing the
//! replication factor (`PATCH /_miroir/topology`). Each changes the stored topology (epoch
//! bumped) and wakes the rebalancer, which moves the shards (`crate::rebalance`); adding a node
//! is `admin::join`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use miroir_core::topology::{NodeState, Topology, TopologyNode};

use crate::error::{Error, MeiliError, Result};
use crate::extract::{json_body, Params};
use crate::rebalance::{holds_shards, topology};
use crate::state::AppState;
use crate::wire::error::ErrorType;
use crate::write::delivery::hold_until_rebuilt;

fn node_object(node: &TopologyNode) -> Value {
    json!({
        "id": node.id,
        "url": node.url,
        "zone": node.zone,
        "weight": node.weight,
        "state": node.state.name(),
    })
}

fn not_found(id: &str) -> Error {
    MeiliError::new(
        StatusCode::NOT_FOUND,
        "miroir_node_not_found",
        ErrorType::InvalidRequest,
        format!("Node `{id}` not found."),
    )
    .into()
}

fn not_enough_nodes(nodes: usize, rf: usize) -> Error {
    MeiliError::invalid(
        "miroir_not_enough_nodes",
        format!(
            "The fleet would keep {nodes} node(s) holding shards, fewer than the replication factor ({rf})."
        ),
    )
    .into()
}

/// The position in the topology of node `id`, which must be in the fleet (not removed).
fn in_fleet(topology: &Topology, id: &str) -> Result<usize> {
    topology
        .nodes
        .iter()
        .position(|n| n.id == id && n.state != NodeState::Removed)
        .ok_or_else(|| not_found(id))
}

/// The nodes that hold shards once the topology's changes are done.
fn keeping(topology: &Topology) -> usize {
    topology
        .nodes
        .iter()
        .filter(|n| matches!(n.state, NodeState::Active | NodeState::Joining))
        .count()
}

/// Stores the topology with its epoch bumped and wakes the rebalancer.
fn commit(state: &AppState, topology: &mut Topology) -> Result<()> {
    topology.epoch += 1;
    state.store.put_topology(topology)?;
    state.topology_changed.notify_one();
    Ok(())
}

/// `POST /_miroir/nodes/{id}/drain`: the node's shards move away; it serves them until they
/// have.
pub(crate) async fn drain(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Value>)> {
    let _journaling = state.write_lock.lock().await;
    let mut topology = topology(state.store.as_ref())?;
    let index = in_fleet(&topology, &id)?;
    if topology.nodes[index].state != NodeState::Draining {
        topology.nodes[index].state = NodeState::Draining;
        let left = keeping(&topology);
        if left < topology.replication_factor {
            return Err(not_enough_nodes(left, topology.replication_factor));
        }
        commit(&state, &mut topology)?;
        tracing::info!(node = %id, epoch = topology.epoch, "node draining");
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"epoch": topology.epoch, "node": node_object(&topology.nodes[index])})),
    ))
}

/// `DELETE /_miroir/nodes/{id}`: removes a node that holds no shard (or, with `force=true`, a
/// dead one, whose shards are copied again from the surviving replicas).
pub(crate) async fn remove(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    params: Params,
) -> Result<Json<Value>> {
    let force = match params.get("force") {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(MeiliError::invalid(
                "bad_request",
                format!("Invalid value `{other}` for `force`: expected `true` or `false`."),
            )
            .into())
        }
    };
    let _journaling = state.write_lock.lock().await;
    let mut topology = topology(state.store.as_ref())?;
    let index = in_fleet(&topology, &id)?;
    if !force && holds_shards(&state, &id)? {
        return Err(MeiliError::new(
            StatusCode::CONFLICT,
            "miroir_node_not_drained",
            ErrorType::InvalidRequest,
            format!("Node `{id}` still holds shards: drain it first (`POST /_miroir/nodes/{id}/drain`), or remove a dead node with `?force=true`."),
        )
        .into());
    }
    topology.nodes[index].state = NodeState::Removed;
    let left = keeping(&topology);
    if left < topology.replication_factor {
        return Err(not_enough_nodes(left, topology.replication_factor));
    }
    if let Some(position) = state.cluster.position(&id) {
        // Nothing more reaches it: no write waits for it, and its backlog is dropped.
        state.cluster.retire(position);
        hold_until_rebuilt(&state, position)?;
        let head = state.store.journal_head()?;
        state.store.supersede_through(&id, head)?;
    }
    commit(&state, &mut topology)?;
    tracing::info!(node = %id, force, epoch = topology.epoch, "node removed");
    Ok(Json(
        json!({"epoch": topology.epoch, "node": node_object(&topology.nodes[index])}),
    ))
}

/// The body of `PATCH /_miroir/topology`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TopologyChange {
    replication_factor: usize,
}

/// `PATCH /_miroir/topology`: changes the replication factor; copies are added or dropped.
pub(crate) async fn change(
    State(state): State<Arc<AppState>>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>)> {
    let change: TopologyChange = json_body(&body)?;
    let _journaling = state.write_lock.lock().await;
    let mut topology = topology(state.store.as_ref())?;
    let rf = change.replication_factor;
    let nodes = keeping(&topology);
    if rf == 0 || rf > nodes || rf < state.config.min_in_sync {
        return Err(MeiliError::invalid(
            "miroir_invalid_replication_factor",
            format!(
                "Invalid replication factor {rf}: it must be between {} (min_in_sync) and {nodes} (the nodes holding shards).",
                state.config.min_in_sync.max(1)
            ),
        )
        .into());
    }
    if rf != topology.replication_factor {
        topology.replication_factor = rf;
        commit(&state, &mut topology)?;
        tracing::info!(rf, epoch = topology.epoch, "replication factor changed");
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"epoch": topology.epoch, "replicationFactor": rf})),
    ))
}
