//! `POST /_miroir/nodes`: adds a node to the fleet while Miroir serves.
//!
//! The node is checked before anything changes: it answers `/version` with the key given
//! (`miroir_node_unreachable`, `miroir_node_invalid_api_key`), runs the Meilisearch version the
//! fleet runs (`miroir_node_version_mismatch`) and holds no index
//! (`miroir_node_not_empty`: Miroir must be its only writer). Then, under the journal's
//! lock, it is added at the next position and stored in the topology as *joining* (epoch
//! bumped), so every write journaled from then on that reaches the whole fleet (index
//! creations, settings, deletions) is journaled for it too.
//!
//! A joining node is set up like a node that lost its data (see `write::rebuild`): marked
//! lost, it serves nothing and receives nothing until the rebuild loop has created every index
//! on it with a peer's settings (and the fleet's experimental features); it then receives the
//! journal from that point on, and the rebalancer (`crate::rebalance`) moves its share of the
//! shards to it.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use miroir_core::topology::{NodeState, TopologyNode};
use miroir_store::Error as StoreError;

use crate::background::spawn_node_loops;
use crate::cluster::http_node;
use crate::cluster::node::{Node, NodeBody};
use crate::error::{Error, MeiliError, Result};
use crate::extract::json_body;
use crate::state::AppState;
use crate::wire::error::ErrorType;
use crate::write::delivery::hold_until_rebuilt;

/// The body of `POST /_miroir/nodes`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NewNode {
    id: String,
    url: String,
    api_key: Option<String>,
    zone: Option<String>,
    weight: Option<f64>,
}

fn invalid(message: impl Into<String>) -> Error {
    MeiliError::invalid("miroir_invalid_node", message).into()
}

fn conflict(code: &str, message: impl Into<String>) -> Error {
    MeiliError::new(
        StatusCode::CONFLICT,
        code,
        ErrorType::InvalidRequest,
        message,
    )
    .into()
}

impl NewNode {
    /// Checks the fields' shapes: an id of ASCII letters, digits, `-` and `_`; an http(s)
    /// URL; a positive finite weight.
    fn validate(&self) -> Result<()> {
        let id_ok = !self.id.is_empty()
            && self.id.len() <= 64
            && self
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !id_ok {
            return Err(invalid(format!(
                "Invalid node id `{}`: use 1 to 64 ASCII letters, digits, `-` or `_`.",
                self.id
            )));
        }
        let url_ok = reqwest::Url::parse(&self.url)
            .is_ok_and(|url| matches!(url.scheme(), "http" | "https") && url.has_host());
        if !url_ok {
            return Err(invalid(format!(
                "Invalid node url `{}`: expected an http:// or https:// URL.",
                self.url
            )));
        }
        if let Some(weight) = self.weight {
            if !(weight.is_finite() && weight > 0.0) {
                return Err(invalid(format!(
                    "Invalid node weight `{weight}`: expected a positive number."
                )));
            }
        }
        Ok(())
    }
}

/// The `pkgVersion` a node answers on `/version`.
async fn version_of(node: &Node) -> Result<String> {
    let answer = node.json(Method::GET, "/version", NodeBody::Empty).await?;
    answer["pkgVersion"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| Error::NodeUnavailable {
            node: node.id.clone(),
            reason: "answered /version without a pkgVersion".to_string(),
        })
}

/// Checks the candidate (see the module docs).
async fn check_candidate(state: &AppState, candidate: &Node) -> Result<()> {
    let version = match version_of(candidate).await {
        Ok(version) => version,
        Err(Error::Node { status, .. })
            if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN =>
        {
            return Err(MeiliError::invalid(
                "miroir_node_invalid_api_key",
                format!(
                    "Node `{}` refused the API key given for it (HTTP {status}).",
                    candidate.id
                ),
            )
            .into())
        }
        Err(error) => {
            return Err(MeiliError::invalid(
                "miroir_node_unreachable",
                format!("Node `{}` could not be reached: {error}.", candidate.id),
            )
            .into())
        }
    };
    let reference = (0..state.cluster.node_count()).find(|n| state.cluster.is_up(*n));
    if let Some(reference) = reference {
        let fleet = version_of(state.cluster.node(reference)).await?;
        if fleet != version {
            return Err(MeiliError::invalid(
                "miroir_node_version_mismatch",
                format!(
                    "Node `{}` runs Meilisearch {version}, the fleet runs {fleet}.",
                    candidate.id
                ),
            )
            .into());
        }
    }
    let indexes = candidate
        .json(Method::GET, "/indexes?limit=1", NodeBody::Empty)
        .await?;
    if indexes["total"].as_u64().unwrap_or(0) > 0 {
        return Err(conflict(
            "miroir_node_not_empty",
            format!(
                "Node `{}` already holds indexes; Miroir must be the only writer of its nodes, so a node joins empty.",
                candidate.id
            ),
        ));
    }
    Ok(())
}

/// `POST /_miroir/nodes`
pub(crate) async fn add_node(
    State(state): State<Arc<AppState>>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>)> {
    let request: NewNode = json_body(&body)?;
    request.validate()?;
    let known = |topology: &miroir_core::topology::Topology| {
        topology
            .nodes
            .iter()
            .any(|node| node.id == request.id && node.state != NodeState::Removed)
    };
    let exists = || {
        conflict(
            "miroir_node_already_exists",
            format!("A node with id `{}` is already in the fleet.", request.id),
        )
    };
    let stored = state
        .store
        .topology()?
        .ok_or(Error::Store(StoreError::Corrupt("topology missing")))?;
    if known(&stored) || state.cluster.position(&request.id).is_some() {
        return Err(exists());
    }
    let candidate = http_node(
        &state.config,
        &request.id,
        &request.url,
        request.api_key.clone(),
    )?;
    check_candidate(&state, &candidate).await?;

    let _journaling = state.write_lock.lock().await;
    let mut topology = state
        .store
        .topology()?
        .ok_or(Error::Store(StoreError::Corrupt("topology missing")))?;
    if known(&topology) {
        return Err(exists());
    }
    let added = TopologyNode {
        id: request.id.clone(),
        url: request.url.clone(),
        api_key: request.api_key.clone(),
        zone: request.zone.clone(),
        weight: request.weight.unwrap_or(1.0),
        state: NodeState::Joining,
    };
    topology.nodes.retain(|node| node.id != request.id);
    topology.nodes.push(added.clone());
    topology.epoch += 1;
    state.store.put_topology(&topology)?;
    let position = state
        .cluster
        .add_node(candidate, added.spec())
        .ok_or_else(exists)?;
    // Marked lost before any write is journaled for it: it receives nothing until set up.
    hold_until_rebuilt(&state, position)?;
    state.rebuild_wanted.notify_one();
    spawn_node_loops(&state, position);
    tracing::info!(node = %request.id, epoch = topology.epoch, "node added; it joins once its indexes are set up");
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({
            "epoch": topology.epoch,
            "node": {
                "id": added.id,
                "url": added.url,
                "zone": added.zone,
                "weight": added.weight,
                "state": added.state.name(),
                "shards": 0,
            },
        })),
    ))
}
