//! The task poller: follows the node tasks the journal's deliveries created, derives each
//! Miroir task's state from them, and keeps the replica states.
//!
//! The poller wakes when a task is created and then polls every node that has unfinished
//! node tasks (one `GET /tasks?uids=…` per node per round, every [`POLL_INTERVAL`]) until
//! nothing is left to follow. A node that does not answer leaves its tasks as they are until
//! a later round.
//!
//! Replica states (node granularity per index: a node that misses a write of an index misses
//! it for every shard of that index it holds, so its replicas of that index go stale
//! together): a replica whose node is down while a write of its index waits longer than
//! `replica_timeout` becomes **stale**; stale replicas serve no read and no task waits for
//! them. A stale replica whose node is back, has received every call of its index and finished
//! them is **in sync** again. Both are persisted, so a restarted Miroir does not trust a stale
//! replica.
//!
//! A journaled task finishes when every in-sync target replica received and finished its calls
//! and at least `min_in_sync` of them count ([`miroir_core::journal::settle`]); its details are
//! then completed (documents counted once per copy, from the counted replicas), its side
//! effects applied (a primary key adopted), and the webhook announcer woken (the store put
//! the task in the webhook outbox as it recorded it finished).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use axum::http::Method;
use byte_unit::{Byte, UnitType};
use futures::future::join_all;
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use miroir_core::journal::{settle, Part};
use miroir_core::replica::StaleShards;
use miroir_core::task::{NodeTaskState, TaskStatus};
use miroir_store::{Delivery, JournalEntry, TaskFilter, TaskRecord};

use super::filter::parse_filter;
use crate::cluster::marks;
use crate::cluster::node::NodeBody;
use crate::error::Result;
use crate::extract::Params;
use crate::state::AppState;

/// How often unfinished tasks are polled on the nodes.
pub(crate) const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// What one node said about one of its tasks.
pub(crate) struct NodeTaskView {
    /// Status, error and times.
    pub state: NodeTaskState,
    /// The node task's `details`.
    pub details: Option<Value>,
}

fn parse_time(value: Option<&Value>) -> Option<OffsetDateTime> {
    value
        .and_then(Value::as_str)
        .and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok())
}

/// Reads a node's task object (an unknown status reads as `enqueued`: not finished).
pub(crate) fn node_task_state(task: &Value) -> NodeTaskView {
    let status = task
        .get("status")
        .and_then(Value::as_str)
        .and_then(TaskStatus::parse)
        .unwrap_or(TaskStatus::Enqueued);
    NodeTaskView {
        state: NodeTaskState {
            status,
            error: task.get("error").filter(|e| !e.is_null()).cloned(),
            started_at: parse_time(task.get("startedAt")),
            finished_at: parse_time(task.get("finishedAt")),
        },
        details: task.get("details").cloned(),
    }
}

fn delivery_state(delivery: &Delivery) -> NodeTaskState {
    NodeTaskState {
        status: delivery.status,
        error: delivery.error.clone(),
        started_at: delivery.started_at,
        finished_at: delivery.finished_at,
    }
}

/// Runs forever: keeps Miroir task states in step with their node tasks.
pub(crate) async fn run_poller(state: Arc<AppState>) {
    loop {
        let next = match poll_once(&state).await {
            Ok(next) => next,
            Err(e) => {
                tracing::warn!(error = %e, "task poll failed");
                Next::Following
            }
        };
        match next {
            Next::Following => tokio::time::sleep(POLL_INTERVAL).await,
            // Waiting for stale replicas to catch up (their node may stay down for long), or
            // idle: until a task is created or a node comes back, or a while.
            Next::Watching | Next::Idle => {
                let wait = if next == Next::Watching {
                    WATCH_INTERVAL
                } else {
                    Duration::from_secs(1)
                };
                let _ = tokio::time::timeout(wait, state.task_created.notified()).await;
            }
        }
    }
}

/// What the poller has left after a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    /// Node tasks or Miroir tasks to follow: poll again soon.
    Following,
    /// Only stale replicas to watch for catching up.
    Watching,
    /// Nothing.
    Idle,
}

/// How often stale replicas are checked for having caught up while nothing else is pending.
const WATCH_INTERVAL: Duration = Duration::from_millis(200);

/// One polling round.
async fn poll_once(state: &AppState) -> Result<Next> {
    let following = refresh_deliveries(state).await?;
    let unfinished = state.store.unfinished_tasks()?;
    let pending_uids: Vec<u64> = unfinished.iter().map(|t| t.uid).collect();
    let mut finished = false;
    for mut task in unfinished {
        let Some(entry) = state.store.journal_entry_of_task(task.uid)? else {
            if task.kind == "taskDeletion" && pending_uids.iter().all(|uid| *uid >= task.uid) {
                run_task_deletion(state, &mut task)?;
                state.store.update_task(&task)?;
                finished = true;
            }
            continue;
        };
        let deliveries = state.store.deliveries(entry.seq)?;
        mark_stale_replicas(state, &task, &entry, &deliveries)?;
        let parts = parts_of(state, &entry, &deliveries)?;
        let derived = settle(
            &parts
                .iter()
                .map(|(_, part)| part.clone())
                .collect::<Vec<_>>(),
            state.config.min_in_sync,
        );
        let changed = derived.status != task.status
            || derived.started_at.map(|at| at.max(task.enqueued_at)) != task.started_at;
        if !changed {
            continue;
        }
        task.status = derived.status;
        // Node clocks may run slightly behind Miroir's: never start before enqueued.
        task.started_at = derived.started_at.map(|at| at.max(task.enqueued_at));
        task.finished_at = derived
            .finished_at
            .map(|at| at.max(task.started_at.unwrap_or(task.enqueued_at)));
        task.error = derived.error;
        if task.status.is_finished() {
            let counted: Vec<&String> = parts
                .iter()
                .filter(|(_, part)| !part.excluded)
                .map(|(node, _)| node)
                .collect();
            let node_details: Vec<Value> = deliveries
                .iter()
                .filter(|d| counted.contains(&&d.node))
                .filter_map(|d| d.details.clone())
                .collect();
            finish(state, &mut task, &node_details)?;
        }
        state.store.update_task(&task)?;
        finished |= task.status.is_finished();
    }
    if finished {
        state.webhooks_due.notify_one();
        state.store.prune_journal()?;
    }
    restore_caught_up_replicas(state)?;
    Ok(if following || !pending_uids.is_empty() {
        Next::Following
    } else if !state.cluster.stale_replicas().is_empty() {
        Next::Watching
    } else {
        Next::Idle
    })
}

/// Asks each node about its node tasks that are not finished and records what changed.
/// Returns whether there were any.
async fn refresh_deliveries(state: &AppState) -> Result<bool> {
    let unfinished = state.store.unfinished_deliveries()?;
    if unfinished.is_empty() {
        return Ok(false);
    }
    let mut wanted: HashMap<&str, HashSet<u64>> = HashMap::new();
    for delivery in &unfinished {
        if let Some(uid) = delivery.node_task {
            wanted
                .entry(delivery.node.as_str())
                .or_default()
                .insert(uid);
        }
    }
    let queries = state.cluster.nodes().filter_map(|node| {
        let uids = wanted.get(node.id.as_str())?;
        let list: Vec<String> = uids.iter().map(u64::to_string).collect();
        let path = format!("/tasks?uids={}&limit={}", list.join(","), uids.len());
        Some(async move {
            (
                node.id.clone(),
                node.json(Method::GET, &path, NodeBody::Empty).await,
            )
        })
    });
    let mut views: HashMap<(String, u64), NodeTaskView> = HashMap::new();
    for (node, answer) in join_all(queries).await {
        match answer {
            Ok(body) => {
                let results = body.get("results").and_then(Value::as_array);
                for task in results.into_iter().flatten() {
                    if let Some(uid) = task.get("uid").and_then(Value::as_u64) {
                        views.insert((node.clone(), uid), node_task_state(task));
                    }
                }
            }
            Err(e) => tracing::debug!(%node, error = %e, "node unreachable while polling tasks"),
        }
    }
    for delivery in unfinished {
        let Some(uid) = delivery.node_task else {
            continue;
        };
        let Some(view) = views.remove(&(delivery.node.clone(), uid)) else {
            continue;
        };
        let updated = Delivery {
            status: view.state.status,
            error: view.state.error,
            details: view.details,
            started_at: view.state.started_at,
            finished_at: view.state.finished_at,
            ..delivery.clone()
        };
        if updated != delivery {
            state.store.record_delivery(&updated)?;
        }
    }
    Ok(true)
}

/// Each target node's part of a journaled task: stale replicas are excluded (for a task of no
/// index, a node that is down counts as stale).
fn parts_of(
    state: &AppState,
    entry: &JournalEntry,
    deliveries: &[Delivery],
) -> Result<Vec<(String, Part)>> {
    let mut parts: Vec<(String, Part)> = Vec::new();
    for (position, call) in entry.calls.iter().enumerate() {
        let delivery = deliveries
            .iter()
            .find(|d| d.node == call.node && d.call as usize == position);
        let index = parts.iter().position(|(node, _)| *node == call.node);
        let part = match index {
            Some(i) => &mut parts[i].1,
            None => {
                let excluded = match (state.cluster.position(&call.node), &entry.index_uid) {
                    (None, _) => false,
                    (Some(node), Some(index)) => {
                        let mut all_stale = true;
                        for other in entry.calls.iter().filter(|c| c.node == call.node) {
                            all_stale &=
                                replica_stale(state, index, node, other.shards.as_deref())?;
                        }
                        all_stale
                    }
                    (Some(node), None) => {
                        !state.cluster.is_up(node) && overdue(state, entry.created_at)
                    }
                };
                parts.push((
                    call.node.clone(),
                    Part {
                        excluded,
                        delivered: true,
                        states: Vec::new(),
                    },
                ));
                let last = parts.len() - 1;
                &mut parts[last].1
            }
        };
        match delivery {
            Some(delivery) => part.states.push(delivery_state(delivery)),
            None => part.delivered = false,
        }
    }
    Ok(parts)
}

/// Whether a task enqueued at `at` has waited longer than `replica_timeout`.
fn overdue(state: &AppState, at: OffsetDateTime) -> bool {
    let waited = OffsetDateTime::now_utc() - at;
    waited > state.config.replica_timeout
}

/// Whether `node`'s replicas of the `shards` of `index` (`None`: every shard it holds) are all
/// stale, so a write to them does not wait for the node.
fn replica_stale(
    state: &AppState,
    index: &str,
    node: usize,
    shards: Option<&[u32]>,
) -> Result<bool> {
    let stale = |shards: &[u32]| {
        shards
            .iter()
            .all(|shard| state.cluster.is_stale_shard(index, *shard, node))
    };
    if let Some(shards) = shards {
        return Ok(stale(shards));
    }
    let Some(record) = state.store.get_index(index)? else {
        // The index is gone: its replicas count as stale once any is.
        return Ok(state.cluster.is_stale(index, node));
    };
    let layout = state.cluster.layout(&record);
    let table = state.cluster.table(layout)?;
    let held: Vec<u32> = (0..layout.shards)
        .filter(|shard| table.replicas(*shard).contains(&node))
        .collect();
    Ok(stale(&held))
}

/// A replica that keeps a task waiting longer than `replica_timeout` while its node is down
/// becomes stale: it leaves the in-sync set (reads avoid it, tasks stop waiting for it) until
/// it has caught up.
fn mark_stale_replicas(
    state: &AppState,
    task: &TaskRecord,
    entry: &JournalEntry,
    deliveries: &[Delivery],
) -> Result<()> {
    let Some(index) = &entry.index_uid else {
        return Ok(());
    };
    if !overdue(state, task.enqueued_at) {
        return Ok(());
    }
    for (position, call) in entry.calls.iter().enumerate() {
        let Some(node) = state.cluster.position(&call.node) else {
            continue;
        };
        if state.cluster.is_up(node) || replica_stale(state, index, node, call.shards.as_deref())? {
            continue;
        }
        let done = deliveries
            .iter()
            .any(|d| d.node == call.node && d.call as usize == position && d.status.is_finished());
        if !done {
            tracing::warn!(%index, node = %call.node, task = task.uid, shards = ?call.shards, "replica stale: its node is down and a write waited past replica_timeout");
            marks::mark_stale(
                &state.cluster,
                state.store.as_ref(),
                index,
                node,
                StaleShards::touched(call.shards.as_deref()),
            )?;
        }
    }
    Ok(())
}

/// A stale replica whose node is up, has received every call of its index and finished them
/// all is in sync again.
fn restore_caught_up_replicas(state: &AppState) -> Result<()> {
    for (index, node) in state.cluster.stale_replicas() {
        if !state.cluster.is_up(node) {
            continue;
        }
        let id = &state.cluster.node(node).id;
        if state.store.undelivered(id, Some(&index))? == 0
            && !state.store.node_busy_with(id, &index)?
        {
            tracing::info!(%index, node = %id, "replica caught up: in sync again");
            marks::clear_stale(&state.cluster, state.store.as_ref(), &index, node)?;
        }
    }
    Ok(())
}

/// Runs a task deletion once every earlier task finished: deletes the finished tasks its
/// filter matches among those enqueued before it.
fn run_task_deletion(state: &AppState, task: &mut TaskRecord) -> Result<()> {
    let raw = task
        .details
        .as_ref()
        .and_then(|d| d.get("originalFilter"))
        .and_then(Value::as_str)
        .unwrap_or("?")
        .trim_start_matches('?')
        .to_string();
    let filter = parse_filter(&Params::parse(Some(&raw)))?;
    let mut targets = Vec::new();
    for uid in state.store.matching_task_uids(&filter)? {
        if uid >= task.uid {
            continue;
        }
        if let Some(target) = state.store.get_task(uid)? {
            if target.status.is_finished() {
                targets.push(uid);
            }
        }
    }
    let deleted = state.store.delete_tasks(&targets)?;
    let now = OffsetDateTime::now_utc();
    task.status = TaskStatus::Succeeded;
    task.started_at = Some(now);
    task.finished_at = Some(now);
    if let Some(Value::Object(details)) = &mut task.details {
        details.insert("deletedTasks".into(), Value::from(deleted));
    }
    Ok(())
}

/// Final `details` and side effects of a task that just finished.
fn finish(state: &AppState, task: &mut TaskRecord, node_details: &[Value]) -> Result<()> {
    let succeeded = task.status == TaskStatus::Succeeded;
    // Each document is counted once per copy: by the index's layout when it still exists.
    let index = match task.index_uid.as_deref() {
        Some(uid) => state.store.get_index(uid)?,
        None => None,
    };
    let rf = index
        .map_or(state.cluster.replication_factor(), |index| {
            state.cluster.copies(state.cluster.write_layout(&index))
        })
        .max(1) as u64;
    let node_sum = |key: &str| -> u64 {
        node_details
            .iter()
            .filter_map(|d| d.get(key).and_then(Value::as_u64))
            .sum()
    };
    // Every node clears all the dynamic search rules (the instance's, not an index's): one
    // node's count is the cluster's.
    let deleted = if task.kind == "dsrClear" {
        node_details
            .iter()
            .filter_map(|d| d.get("deletedDocuments").and_then(Value::as_u64))
            .max()
            .unwrap_or(0)
    } else {
        node_sum("deletedDocuments") / rf
    };
    let edited = node_sum("editedDocuments") / rf;
    let canceled = if task.kind == "taskCancelation" {
        let filter = TaskFilter {
            canceled_by: Some(vec![task.uid]),
            statuses: Some(vec![TaskStatus::Canceled]),
            ..TaskFilter::default()
        };
        state.store.matching_task_uids(&filter)?.len() as u64
    } else {
        0
    };
    if let Some(Value::Object(details)) = &mut task.details {
        if details.contains_key("indexedDocuments") {
            let received = details
                .get("receivedDocuments")
                .cloned()
                .unwrap_or(Value::from(0));
            let indexed = if succeeded { received } else { Value::from(0) };
            details.insert("indexedDocuments".into(), indexed);
        }
        if details.contains_key("deletedDocuments") {
            let value = if succeeded { deleted } else { 0 };
            details.insert("deletedDocuments".into(), Value::from(value));
        }
        if details.contains_key("editedDocuments") {
            let value = if succeeded { edited } else { 0 };
            details.insert("editedDocuments".into(), Value::from(value));
        }
        if details.contains_key("dumpUid") {
            let uid = node_details
                .iter()
                .find_map(|d| d.get("dumpUid").filter(|u| !u.is_null()).cloned())
                .unwrap_or(Value::Null);
            details.insert("dumpUid".into(), if succeeded { uid } else { Value::Null });
        }
        for key in ["preCompactionSize", "postCompactionSize"] {
            if details.contains_key(key) {
                let size = succeeded.then(|| summed_size(node_details, key)).flatten();
                details.insert(key.into(), size.map_or(Value::Null, Value::String));
            }
        }
        if details.contains_key("canceledTasks") {
            details.insert("canceledTasks".into(), Value::from(canceled));
        }
    }
    if succeeded && task.kind == "indexUpdate" {
        apply_index_update(state, task)?;
    }
    Ok(())
}

/// The sum of the nodes' `key` sizes (human-readable, as Meilisearch writes a compaction's),
/// written the same way; `None` when a node gave none Miroir can read.
fn summed_size(node_details: &[Value], key: &str) -> Option<String> {
    let mut total: u64 = 0;
    for details in node_details {
        let text = details.get(key)?.as_str()?;
        total += Byte::parse_str(text, true).ok()?.as_u64();
    }
    Some(
        Byte::from_u64(total)
            .get_appropriate_unit(UnitType::Both)
            .to_string(),
    )
}

/// Adopts a primary key once an `indexUpdate` task succeeded on every node.
fn apply_index_update(state: &AppState, task: &TaskRecord) -> Result<()> {
    let Some(details) = &task.details else {
        return Ok(());
    };
    let Some(primary_key) = details.get("primaryKey").and_then(Value::as_str) else {
        return Ok(());
    };
    let Some(uid) = details
        .get("newIndexUid")
        .and_then(Value::as_str)
        .or(task.index_uid.as_deref())
    else {
        return Ok(());
    };
    if let Some(mut index) = state.store.get_index(uid)? {
        index.primary_key = Some(primary_key.to_string());
        index.updated_at = OffsetDateTime::now_utc();
        state.store.put_index(&index)?;
    }
    Ok(())
}
