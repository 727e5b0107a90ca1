//! What the rebalance and the reshapes share: the stored topology and placement record,
//! holding nodes at the journal head while a copy is read or compared, waiting for the reads
//! planned before a switch, and deleting the copies a node no longer owns.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::Method;
use serde_json::json;

use miroir_core::journal::MOVE_TAG;
use miroir_core::marker::shards_filter;
use miroir_core::rebalance::PlacementRecord;
use miroir_core::topology::Topology;
use miroir_store::{Error as StoreError, Store};

use crate::cluster::node::{url_encode, NodeBody};
use crate::error::{Error, Result};
use crate::write::delivery::leaseholder_json;

/// Shard comparisons (each paging one shard from a source and a target) run at once when
/// verifying: enough to overlap the nodes' answers, few enough to bound the pages in memory.
pub(crate) const COMPARISONS_AT_ONCE: usize = 4;
use crate::state::AppState;

/// How long a step waits for nodes to reach a journal head or finish their tasks.
pub(crate) const PATIENCE: Duration = Duration::from_secs(600);

/// A store that lacks what Miroir always writes.
pub(crate) fn corrupt(what: &'static str) -> Error {
    Error::Store(StoreError::Corrupt(what))
}

/// The stored topology.
pub(crate) fn topology(store: &dyn Store) -> Result<Topology> {
    store.topology()?.ok_or(corrupt("topology missing"))
}

/// The stored placement record.
pub(crate) fn record(store: &dyn Store) -> Result<PlacementRecord> {
    store
        .placement_record()?
        .ok_or(corrupt("placement record missing"))
}

/// The ids of `nodes`.
fn ids(state: &AppState, nodes: &[usize]) -> Vec<String> {
    nodes
        .iter()
        .map(|node| state.cluster.node(*node).id.clone())
        .collect()
}

/// Holds `nodes` at the journal head and waits until they reached it; returns the head. The
/// caller releases them with [`release`].
async fn hold(state: &AppState, nodes: &[usize]) -> Result<u64> {
    let head = {
        let _journaling = state.write_lock.lock().await;
        let head = state.store.journal_head()?;
        for node in nodes {
            state
                .cluster
                .outbox(*node)
                .hold_after
                .store(head, std::sync::atomic::Ordering::SeqCst);
        }
        state.store.set_held_nodes(&ids(state, nodes))?;
        head
    };
    let deadline = Instant::now() + PATIENCE;
    for node in nodes {
        let id = &state.cluster.node(*node).id;
        while state.store.undelivered_through(id, head)? > 0 || state.store.node_busy(id)? {
            if Instant::now() > deadline {
                return Err(Error::NodeUnavailable {
                    node: id.clone(),
                    reason: "did not reach the journal head in time".to_string(),
                });
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    Ok(head)
}

fn release(state: &AppState, nodes: &[usize]) {
    if let Err(error) = state.store.set_held_nodes(&[]) {
        tracing::warn!(%error, "cannot record that no node is held");
    }
    for node in nodes {
        let outbox = state.cluster.outbox(*node);
        outbox
            .hold_after
            .store(u64::MAX, std::sync::atomic::Ordering::SeqCst);
        outbox.wake.notify_one();
    }
}

/// Runs `work` with `nodes` held at the journal head, and releases them whatever happens.
pub(crate) async fn while_held<T>(
    state: &AppState,
    nodes: &[usize],
    work: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    let outcome = match hold(state, nodes).await {
        Ok(_) => work.await,
        Err(error) => Err(error),
    };
    release(state, nodes);
    outcome
}

/// Waits until every read planned before the call has ended (bounded by twice the node
/// deadline, past which a read has failed over or given up anyway).
pub(crate) async fn reads_planned_before(state: &AppState) {
    let previous = state.cluster.next_read_generation();
    let deadline = Instant::now() + state.config.node_timeout * 2;
    while Arc::strong_count(&previous) > 1 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Bumps the topology's epoch (placement changed); returns the new one.
pub(crate) fn bump_epoch(state: &AppState) -> Result<u64> {
    let mut topology = topology(state.store.as_ref())?;
    topology.epoch += 1;
    state.store.put_topology(&topology)?;
    Ok(topology.epoch)
}

/// Deletes the documents of `shards` of index `uid` from `node` (copies it no longer owns),
/// fenced like every write of the work that runs once; returns the node and its task.
pub(crate) async fn delete_shards(
    state: &AppState,
    node: usize,
    uid: &str,
    shards: &[u32],
) -> Result<(String, u64)> {
    let id = state.cluster.node(node).id.clone();
    let answer = leaseholder_json(
        state,
        node,
        Method::POST,
        &format!(
            "/indexes/{uid}/documents/delete?customMetadata={}",
            url_encode(MOVE_TAG)
        ),
        NodeBody::Json(json!({"filter": shards_filter(shards)})),
    )
    .await?;
    let task = answer["taskUid"]
        .as_u64()
        .ok_or_else(|| Error::NodeUnavailable {
            node: id.clone(),
            reason: "answered a deletion without a taskUid".to_string(),
        })?;
    Ok((id, task))
}
