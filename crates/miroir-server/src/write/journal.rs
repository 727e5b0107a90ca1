//! The write journal: every accepted write is recorded durably — its Miroir task and one
//! journal entry with a global sequence number, already split into the calls each node must
//! receive — before the client gets its `202`, the moment Meilisearch itself answers (once its
//! update file is on disk). Each node then receives its calls in sequence order from its own
//! delivery loop ([`super::delivery`]): a node that is down, slow or refusing holds back no
//! other node, and its backlog waits in the journal.
//!
//! Document bodies are stored once per write: the routed NDJSON of every shard, grouped by
//! replica set (`miroir_core::route`), written straight into the store, each node's calls
//! naming the byte ranges of the groups it holds.
//!
//! **Synchronous validation.** Meilisearch refuses some writes synchronously (a settings value
//! it rejects, an invalid filter). Miroir keeps that: the entry is journaled *held*, its first
//! call is sent at once to its node (when that node is up and has no backlog, so that the node
//! still receives its calls in order; a document payload, which Miroir validated itself, is not
//! probed), and a refusal goes back to the client as-is while the
//! entry and its task are forgotten — no node received anything. Otherwise the entry is
//! released to the delivery loops. A crash between journaling and the answer leaves a durable
//! write the client was not told about, as when Meilisearch crashes before answering.
//!
//! Writes are journaled under one lock ([`AppState::write_lock`]) held only while the entry is
//! recorded and probed: it keeps Miroir's index metadata in step with the journal order.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::http::{Method, StatusCode};
use serde_json::Value;
use time::OffsetDateTime;

use miroir_core::task::TaskStatus;
use miroir_store::{CallBody, JournalCall, NewEntry, PayloadSource, TaskRecord};

use super::delivery::{deliver, Sender, Sent};
use crate::error::{Error, ErrorType, MeiliError, Result};
use crate::state::AppState;
use crate::tasks::registry::{self, NewTask};
use crate::wire::error::index_not_found;

/// One request to one node as part of a write.
#[derive(Debug, Clone)]
pub(crate) struct NodeCall {
    /// Node index in configuration order.
    pub node: usize,
    /// HTTP method.
    pub method: Method,
    /// Path and query.
    pub path: String,
    /// Body.
    pub body: CallBody,
    /// The index's shards it writes to on the node; `None` for all it holds.
    pub shards: Option<Vec<u32>>,
}

impl NodeCall {
    /// A call with a JSON body (or none).
    pub fn json(node: usize, method: Method, path: String, body: Option<Value>) -> NodeCall {
        NodeCall {
            node,
            method,
            path,
            body: body.map_or(CallBody::Empty, |value| CallBody::Json { value }),
            shards: None,
        }
    }
}

/// Calls toward every node with the same request.
pub(crate) fn broadcast(
    state: &AppState,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Vec<NodeCall> {
    state
        .cluster
        .fleet()
        .into_iter()
        .map(|node| NodeCall::json(node, method.clone(), path.to_string(), body.clone()))
        .collect()
}

/// Journals a write (see the module docs) and returns its task, enqueued; or the first node's
/// synchronous refusal, with nothing journaled. The caller holds [`AppState::write_lock`].
#[tracing::instrument(level = "debug", skip_all, fields(kind = task.kind, calls = calls.len()))]
pub(crate) async fn submit(
    state: &AppState,
    task: NewTask,
    calls: Vec<NodeCall>,
    payload: Option<Arc<dyn PayloadSource>>,
) -> Result<TaskRecord> {
    let Some((first, first_is_payload)) = calls
        .first()
        .map(|c| (c.node, matches!(c.body, CallBody::Payload { .. })))
    else {
        return registry::succeeded(state, task);
    };
    // Meilisearch's own internal indexes (`.meili_dsr`, the dynamic search rules') are named
    // in their tasks but are no Miroir index: their journal entries name none.
    let index_uid = task.index_uid.clone().filter(|uid| !uid.starts_with('.'));
    if let Some(uid) = &index_uid {
        require_in_sync(state, uid)?;
    }
    let entry = NewEntry {
        index_uid,
        calls: calls
            .into_iter()
            .map(|call| JournalCall {
                node: state.cluster.node(call.node).id.clone(),
                method: call.method.to_string(),
                path: call.path,
                body: call.body,
                shards: call.shards,
            })
            .collect(),
        payload,
    };
    let record = TaskRecord {
        uid: 0,
        index_uid: task.index_uid.clone(),
        status: TaskStatus::Enqueued,
        kind: task.kind.to_string(),
        canceled_by: None,
        details: task.details.clone(),
        error: None,
        enqueued_at: OffsetDateTime::now_utc(),
        started_at: None,
        finished_at: None,
        node_tasks: Vec::new(),
        custom_metadata: task.custom_metadata.clone(),
    };
    let node = state.cluster.node(first);
    let outbox = state.cluster.outbox(first);
    // A document payload was validated by Miroir itself: its first call is not probed, so the
    // client's `202` never waits on a node receiving a large body.
    let probe = state.cluster.is_up(first)
        && !first_is_payload
        && !state.store.held_nodes()?.contains(&node.id);
    let sending = if probe {
        Some(outbox.sending.lock().await)
    } else {
        None
    };
    let caught_up = probe
        && outbox.hold_after.load(Ordering::SeqCst) == u64::MAX
        && state.store.undelivered(&node.id, None)? == 0;
    let (uid, seq) = state
        .store
        .create_journaled_task(&record, &entry, caught_up)?;
    if caught_up {
        let journaled = state
            .store
            .journal_entry(seq)?
            .ok_or_else(|| Error::Store(miroir_store::Error::Corrupt("journal entry")))?;
        match deliver(state, first, &journaled, 0, Sender::ConfiguredKey).await {
            Ok(Sent::Accepted) => state.store.release_entry(seq)?,
            Ok(Sent::Refused(refusal)) => {
                state.store.abandon_entry(seq)?;
                return Err(refusal);
            }
            Err(error) => {
                tracing::warn!(node = %node.id, %error, "first call not delivered; the node's delivery loop retries");
                state.cluster.mark_down(first);
                outbox.unsure.store(true, Ordering::SeqCst);
                state.store.release_entry(seq)?;
            }
        }
    }
    drop(sending);
    for call in &entry.calls {
        if let Some(position) = state.cluster.position(&call.node) {
            state.cluster.outbox(position).wake.notify_one();
        }
    }
    state.task_created.notify_one();
    let record = TaskRecord { uid, ..record };
    Ok(record)
}

/// With `min_in_sync` above 1, refuses a write to an index some shard of which has fewer
/// replicas in sync and up than that (as Elasticsearch's `wait_for_active_shards` does):
/// nothing is written. Every shard is checked, not only those the write touches.
fn require_in_sync(state: &AppState, uid: &str) -> Result<()> {
    let needed = state.config.min_in_sync;
    if needed <= 1 {
        return Ok(());
    }
    let Some(index) = state.store.get_index(uid)? else {
        return Ok(());
    };
    let layout = state.cluster.layout(&index);
    let table = state.cluster.table(layout)?;
    for shard in 0..layout.shards {
        let in_sync = table
            .replicas(shard)
            .iter()
            .filter(|n| state.cluster.is_up(**n) && !state.cluster.is_stale_shard(uid, shard, **n))
            .count();
        if in_sync < needed {
            return Err(MeiliError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "miroir_not_enough_replicas",
                ErrorType::System,
                format!(
                    "Index `{uid}` has a shard with {in_sync} replica(s) in sync and up, fewer than `min_in_sync` ({needed}); nothing was written. Retry once the replicas are back."
                ),
            )
            .into());
        }
    }
    Ok(())
}

/// A write that every node applies to an existing index: refused as Meilisearch refuses it
/// (a failed `index_not_found` task) when the index does not exist.
pub(crate) async fn write_to_all(
    state: &AppState,
    uid: &str,
    task: NewTask,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Result<TaskRecord> {
    let _guard = state.write_lock.lock().await;
    if state.store.get_index(uid)?.is_none() {
        return registry::failed(state, task, &index_not_found(uid));
    }
    let calls = broadcast(state, method, path, body);
    submit(state, task, calls, None).await
}
