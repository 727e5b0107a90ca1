//! Per-node delivery: one loop per node sends that node's journal calls in sequence order and
//! records what the node did with each (the node task it created, or its refusal).
//!
//! A node that is down, slow or refusing to answer is retried with bounded exponential
//! back-off ([`MIN_BACKOFF`] to [`MAX_BACKOFF`]); its backlog waits in the journal while every
//! other node goes on. A call the node refuses outright (a Meilisearch error object with a 4xx
//! status) is recorded as a failed node task: nodes hold the same data under the same
//! settings, so the refusal is the write's own fault and fails its task.
//!
//! **Exactly once per node, across Miroir crashes.** The window is between "the node accepted
//! a call" and "Miroir recorded the node task": a crash (or a send that timed out after the node
//! accepted) leaves a call the node has but the journal does not know it has. Before sending
//! again after a start or a failed send, the loop reconciles ([`reconcile`]): the nodes'
//! task uids are sequential and Miroir is each node's only writer, so the node tasks above the
//! last uid Miroir recorded for the node are, in order, the calls it sent and did not record.
//! Each is matched against the next undelivered call by its task type and, for document
//! writes, by the `customMetadata` tag Miroir put on the call (`miroir:{seq}:{call}`), and
//! recorded; the first that does not match ends the reconciliation, and sending resumes after
//! the last matched call. A call is therefore never sent twice to a node that accepted it.
//! Node tasks tagged by the rebalance (`miroir_core::journal::MOVE_TAG`: the copies and deletions it
//! sends directly) are skipped.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::http::Method;
use serde_json::Value;

use miroir_core::journal::{delivery_tag, expected_task_type, MOVE_TAG};
use miroir_core::replica::StaleShards;
use miroir_core::task::TaskStatus;
use miroir_store::{CallBody, Delivery, JournalEntry};

use crate::cluster::marks;
use crate::cluster::node::{NodeBody, NodeResponse};
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::tasks::poller::node_task_state;

/// First wait after a failed send.
pub(crate) const MIN_BACKOFF: Duration = Duration::from_millis(50);
/// Longest wait between two attempts on a node that keeps failing.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// How long an idle loop waits before looking at the journal again (it is also woken
/// whenever an entry is journaled for its node).
const IDLE_WAIT: Duration = Duration::from_secs(1);

/// Who sends a call, and so with which key.
#[derive(Clone, Copy)]
pub(crate) enum Sender<'a> {
    /// With the node's configured key: a request's synchronous probe of its first node (any
    /// process may probe), or a delivery loop over a store of this process's own.
    ConfiguredKey,
    /// A delivery loop under the lease (see `AppState::while_leading`), with the lease's own key on
    /// the node when it has one (see [`lease_key`]).
    Leaseholder(Option<&'a str>),
}

/// Whether a node's error says the key was refused.
fn refuses_the_key(body: &Value) -> bool {
    matches!(
        body["code"].as_str(),
        Some("invalid_api_key" | "missing_authorization_header")
    )
}

/// The prefix of the names of the keys leaseholders create on the nodes.
const LEASE_KEY_PREFIX: &str = "miroir-lease-";

/// The key this process's deliveries use on `node` under its lease, set up on first use: every
/// key a former leaseholder created on the node is deleted first, so that a call a paused
/// former holder sends late is refused by the node itself (`invalid_api_key`) — fencing where
/// the store's cannot reach — and then this lease's key is created. Reconciliation follows
/// (calls that landed before the deletion are found there). `None` when the node's configured
/// key cannot manage keys: deliveries use it, without that fence (logged once per lease).
async fn lease_key(state: &AppState, node: usize) -> Result<Option<String>> {
    let outbox = state.cluster.outbox(node);
    if let Some(key) = outbox.lease_key() {
        return Ok(key);
    }
    let lease = state
        .leadership
        .lease()
        .ok_or(Error::Store(miroir_store::Error::Fenced))?;
    let handle = state.cluster.node(node);
    let name = format!("{LEASE_KEY_PREFIX}{}", lease.token);
    let listing = match state
        .while_leading(handle.json(Method::GET, "/keys?limit=100000", NodeBody::Empty))
        .await
    {
        Ok(listing) => listing,
        Err(Error::Node { body, .. }) if refuses_the_key(&body) => {
            tracing::warn!(node = %handle.id, "the node's key cannot manage API keys: deliveries to it are not fenced on the node (a paused former leaseholder's late call could land)");
            outbox.set_lease_key(Some(None));
            return Ok(None);
        }
        Err(error) => return Err(error),
    };
    let mut own = None;
    for key in listing["results"].as_array().into_iter().flatten() {
        let Some(key_name) = key["name"].as_str() else {
            continue;
        };
        if key_name == name {
            own = key["key"].as_str().map(str::to_string);
        } else if let (true, Some(uid)) =
            (key_name.starts_with(LEASE_KEY_PREFIX), key["uid"].as_str())
        {
            match state
                .while_leading(handle.send(
                    Method::DELETE,
                    &format!("/keys/{uid}"),
                    NodeBody::Empty,
                ))
                .await?
                .json(&handle.id)
            {
                Ok(_) => {}
                Err(Error::Node { status, .. }) if status == axum::http::StatusCode::NOT_FOUND => {}
                Err(error) => return Err(error),
            }
        }
    }
    let key = match own {
        Some(key) => key,
        None => {
            let created = state.while_leading(
                handle.json(
                    Method::POST,
                    "/keys",
                    NodeBody::Json(serde_json::json!({
                        "name": name,
                        "description": "Miroir's journal deliveries under one lease; the next leaseholder deletes it",
                        "actions": ["*"],
                        "indexes": ["*"],
                        "expiresAt": null,
                    })),
                ),
            )
            .await?;
            created["key"]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| Error::NodeUnavailable {
                    node: handle.id.clone(),
                    reason: "created an API key without a value".to_string(),
                })?
        }
    };
    tracing::info!(node = %handle.id, token = lease.token, "the lease's key is set up on the node; former leaseholders' keys are deleted");
    outbox.unsure.store(true, Ordering::SeqCst);
    outbox.set_lease_key(Some(Some(key.clone())));
    Ok(Some(key))
}

/// The key the work that runs once writes to `node` with: this lease's key with a shared
/// store (see [`lease_key`]), the node's configured key (`None`) otherwise.
pub(crate) async fn write_key(state: &AppState, node: usize) -> Result<Option<String>> {
    if state.is_shared() {
        lease_key(state, node).await
    } else {
        Ok(None)
    }
}

/// A write of the work that runs once other than a journal call (a rebuild's or a
/// rebalance's), fenced like a delivery: made with [`write_key`], and only while this process
/// leads, so a paused former leaseholder's late write is refused by the node. A lease key the
/// node refuses (the node restarted empty, or an operator deleted it) is set up again once.
pub(crate) async fn leaseholder_json(
    state: &AppState,
    node: usize,
    method: Method,
    path: &str,
    body: NodeBody,
) -> Result<Value> {
    let handle = state.cluster.node(node);
    let mut set_up_again = false;
    loop {
        let key = write_key(state, node).await?;
        let response = state
            .while_leading(handle.send_with(method.clone(), path, body.clone(), key.as_deref()))
            .await?;
        match response.json(&handle.id) {
            Err(Error::Node { body, .. })
                if key.is_some() && refuses_the_key(&body) && !set_up_again =>
            {
                state.cluster.outbox(node).set_lease_key(None);
                set_up_again = true;
            }
            answer => return answer,
        }
    }
}

/// What a node did with a call it received.
pub(crate) enum Sent {
    /// It enqueued a task.
    Accepted,
    /// It refused the call with this error.
    Refused(Error),
}

/// Whether a call's node task carries Miroir's tag (Meilisearch accepts `customMetadata` on
/// document writes only).
fn tagged(method: &str, path: &str) -> bool {
    matches!(
        expected_task_type(method, path),
        Some("documentAdditionOrUpdate" | "documentDeletion" | "documentEdition")
    )
}

/// Sends call `call` of `entry` to `node` and records what the node did with it. Transport
/// failures (and a node failing with a 5xx) come back as retryable errors, with nothing
/// recorded. The caller holds the node's outbox lock.
pub(crate) async fn deliver(
    state: &AppState,
    node: usize,
    entry: &JournalEntry,
    call: u32,
    sender: Sender<'_>,
) -> Result<Sent> {
    let target = &entry.calls[call as usize];
    let method = Method::from_bytes(target.method.as_bytes())
        .map_err(|_| Error::Store(miroir_store::Error::Corrupt("journal call method")))?;
    let mut path = target.path.clone();
    if tagged(&target.method, &target.path) {
        let separator = if path.contains('?') { '&' } else { '?' };
        path = format!(
            "{path}{separator}customMetadata={}",
            delivery_tag(entry.seq, call as usize)
        );
    }
    let body = match &target.body {
        CallBody::Empty => NodeBody::Empty,
        CallBody::Json { value } => NodeBody::Json(value.clone()),
        CallBody::Payload { ranges } => NodeBody::Raw {
            content_type: "application/x-ndjson",
            bytes: state.store.payload_ranges(entry.seq, ranges)?.into(),
        },
    };
    let handle = state.cluster.node(node);
    // Checked here, after the payload was read from the store (a process may be paused in
    // that read), right before the first byte goes out.
    let response: NodeResponse = match sender {
        Sender::ConfiguredKey => handle.send(method, &path, body).await?,
        Sender::Leaseholder(key) => {
            state
                .while_leading(handle.send_with(method, &path, body, key))
                .await?
        }
    };
    let mut delivery = Delivery {
        node: handle.id.clone(),
        seq: entry.seq,
        call,
        node_task: None,
        status: TaskStatus::Enqueued,
        error: None,
        details: None,
        started_at: None,
        finished_at: None,
    };
    match response.json(&handle.id) {
        Ok(answer) => {
            let uid = answer
                .get("taskUid")
                .and_then(Value::as_u64)
                .ok_or_else(|| Error::NodeUnavailable {
                    node: handle.id.clone(),
                    reason: "answered a write without a taskUid".to_string(),
                })?;
            delivery.node_task = Some(uid);
            state.store.record_delivery(&delivery)?;
            Ok(Sent::Accepted)
        }
        Err(Error::Node { body, .. })
            if matches!(sender, Sender::Leaseholder(Some(_))) && refuses_the_key(&body) =>
        {
            // The lease key was deleted: a successor took the lease (this process is being
            // stopped), or an operator deleted it (set up again before the next send).
            state.cluster.outbox(node).set_lease_key(None);
            Err(Error::Store(miroir_store::Error::Fenced))
        }
        Err(Error::Node { status, body }) if status.is_client_error() => {
            let refusal = Error::Node { status, body };
            delivery.status = TaskStatus::Failed;
            delivery.error = Some(refusal.to_meili().1);
            state.store.record_delivery(&delivery)?;
            Ok(Sent::Refused(refusal))
        }
        Err(Error::Node { status, body }) => Err(Error::NodeUnavailable {
            node: handle.id.clone(),
            reason: format!(
                "answered HTTP {status}: {}",
                body["message"].as_str().unwrap_or("no message")
            ),
        }),
        Err(other) => Err(other),
    }
}

/// Records the calls `node` accepted but Miroir did not record (see the module docs).
/// Returns how many were found. A node whose task list restarted below the last task Miroir
/// recorded has lost its data: it is marked lost (see [`mark_lost`]) and gets nothing more.
pub(crate) async fn reconcile(state: &AppState, node: usize) -> Result<usize> {
    let handle = state.cluster.node(node);
    let last = state.store.last_node_task(&handle.id)?;
    if let Some(last) = last {
        let newest = handle
            .json(Method::GET, "/tasks?limit=1", NodeBody::Empty)
            .await?;
        let newest = newest["results"][0]["uid"].as_u64();
        if newest.is_none_or(|newest| newest < last) {
            mark_lost(state, node)?;
            return Err(Error::NodeUnavailable {
                node: handle.id.clone(),
                reason: format!(
                    "its task list ends at {newest:?}, below task {last} Miroir recorded: it lost its data"
                ),
            });
        }
    }
    let from = last.map_or(0, |last| last + 1);
    let listing = handle
        .json(
            Method::GET,
            &format!("/tasks?reverse=true&from={from}&limit=100"),
            NodeBody::Empty,
        )
        .await?;
    let tasks = listing["results"]
        .as_array()
        .cloned()
        .ok_or_else(|| Error::NodeUnavailable {
            node: handle.id.clone(),
            reason: "answered a task listing without results".to_string(),
        })?;
    let mut found = 0;
    for task in tasks {
        // The rebalance's own copies and deletions are not journal calls.
        if task["customMetadata"]
            .as_str()
            .is_some_and(|tag| tag.starts_with(MOVE_TAG))
        {
            continue;
        }
        let Some((entry, call)) = state.store.next_delivery(&handle.id)? else {
            break;
        };
        let target = &entry.calls[call as usize];
        let Some(uid) = task["uid"].as_u64() else {
            break;
        };
        // Only tasks enqueued once the entry existed can be its calls (a node may hold tasks
        // from before this Miroir's journal).
        let enqueued_after = task["enqueuedAt"]
            .as_str()
            .and_then(|at| {
                time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339).ok()
            })
            .is_some_and(|at| at >= entry.created_at - time::Duration::minutes(1));
        let same_type = task["type"].as_str() == expected_task_type(&target.method, &target.path);
        let tag = task["customMetadata"].as_str();
        let same_tag = !tagged(&target.method, &target.path)
            || tag.is_none()
            || tag == Some(delivery_tag(entry.seq, call as usize).as_str());
        if !(enqueued_after && same_type && same_tag) {
            break;
        }
        let view = node_task_state(&task);
        state.store.record_delivery(&Delivery {
            node: handle.id.clone(),
            seq: entry.seq,
            call,
            node_task: Some(uid),
            status: view.state.status,
            error: view.state.error,
            details: view.details,
            started_at: view.state.started_at,
            finished_at: view.state.finished_at,
        })?;
        found += 1;
    }
    if found > 0 {
        tracing::info!(node = %handle.id, found, "recorded calls the node had already accepted");
    }
    Ok(found)
}

/// Marks a node that lost its data: every replica it holds is stale (persisted), and it is
/// treated as down, receiving no write, until its replicas are rebuilt.
pub(crate) fn mark_lost(state: &AppState, node: usize) -> Result<()> {
    let id = &state.cluster.node(node).id;
    tracing::error!(node = %id, "the node lost its data: its replicas are stale and it receives no write until they are rebuilt");
    hold_until_rebuilt(state, node)
}

/// Makes `node` wait for the rebuild loop (a node that lost its data, or one that joins
/// empty): every replica it holds is stale (persisted), and it is treated as down, receiving
/// no write, until the rebuild set it up.
pub(crate) fn hold_until_rebuilt(state: &AppState, node: usize) -> Result<()> {
    marks::set_lost(&state.cluster, state.store.as_ref(), node, true)?;
    for index in state.store.list_indexes()? {
        marks::mark_stale(
            &state.cluster,
            state.store.as_ref(),
            &index.uid,
            node,
            StaleShards::All,
        )?;
    }
    Ok(())
}

/// Runs forever: delivers `node`'s journal calls in order (see the module docs).
pub(crate) async fn run(state: Arc<AppState>, node: usize) {
    let id = state.cluster.node(node).id.clone();
    let mut backoff = MIN_BACKOFF;
    loop {
        match step(&state, node).await {
            Ok(true) => backoff = MIN_BACKOFF,
            Ok(false) => {
                let outbox = state.cluster.outbox(node);
                // Idle: sleep until an entry is journaled for this node (or a while).
                let _ = tokio::time::timeout(IDLE_WAIT, outbox.wake.notified()).await;
            }
            Err(error) => {
                if error.is_retryable() {
                    state.cluster.mark_down(node);
                }
                tracing::debug!(node = %id, %error, "delivery failed; retrying");
                state
                    .cluster
                    .outbox(node)
                    .unsure
                    .store(true, Ordering::SeqCst);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// Delivers the node's next call, reconciling first when needed. Returns whether a call was
/// delivered (or reconciled).
async fn step(state: &AppState, node: usize) -> Result<bool> {
    let id = &state.cluster.node(node).id;
    let outbox = state.cluster.outbox(node);
    match state.store.next_delivery(id)? {
        None => return Ok(false),
        // Held back while a rebuild copies this node's data.
        Some((entry, _)) if entry.seq > outbox.hold_after.load(Ordering::SeqCst) => {
            return Ok(false)
        }
        Some(_) => {}
    }
    if !state.cluster.is_up(node) {
        // Down by its health checks: wait for them to see it back rather than hammer it.
        return Err(Error::NodeUnavailable {
            node: id.clone(),
            reason: "down".to_string(),
        });
    }
    let _sending = outbox.sending.lock().await;
    let key = write_key(state, node).await?;
    if outbox.unsure.load(Ordering::SeqCst) {
        let found = reconcile(state, node).await?;
        outbox.unsure.store(false, Ordering::SeqCst);
        if found > 0 {
            return Ok(true);
        }
    }
    // The entry may have been delivered meanwhile (by a synchronous first call).
    let Some((entry, call)) = state.store.next_delivery(id)? else {
        return Ok(false);
    };
    if entry.seq > outbox.hold_after.load(Ordering::SeqCst) {
        return Ok(false);
    }
    let sender = if state.is_shared() {
        Sender::Leaseholder(key.as_deref())
    } else {
        Sender::ConfiguredKey
    };
    deliver(state, node, &entry, call, sender).await?;
    state.task_created.notify_one();
    Ok(true)
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use axum::http::StatusCode;
    use serde_json::json;

    use super::*;
    use crate::cluster::fakes::{meili_like, Behaviour, FakeNode};
    use crate::state::testing::{state_over, state_with};
    use crate::tasks::poller::run_poller;
    use crate::tasks::registry::NewTask;
    use crate::write::indexes::new_record;
    use crate::write::journal::{broadcast, submit};

    /// The delivery loops and the poller (node health follows failed requests alone here).
    fn spawn_all(state: &Arc<AppState>) -> Vec<tokio::task::JoinHandle<()>> {
        let mut loops = vec![tokio::spawn(run_poller(state.clone()))];
        for node in 0..state.cluster.node_count() {
            loops.push(tokio::spawn(run(state.clone(), node)));
        }
        loops
    }

    /// Polls `condition` every 10 ms for at most 10 s.
    async fn eventually(what: &str, condition: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !condition() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn settings_task() -> NewTask {
        NewTask {
            kind: "settingsUpdate",
            index_uid: Some("movies".into()),
            details: Some(json!({})),
            custom_metadata: None,
        }
    }

    /// Journals one settings write to every node, with `tag` in its path.
    async fn write(state: &AppState, tag: usize) -> Result<miroir_store::TaskRecord> {
        let _guard = state.write_lock.lock().await;
        let calls = broadcast(
            state,
            Method::PATCH,
            &format!("/indexes/movies/settings?w={tag}"),
            Some(json!({})),
        );
        submit(state, settings_task(), calls, None).await
    }

    fn paths(tasks: &Arc<Mutex<Vec<Value>>>) -> Vec<String> {
        tasks
            .lock()
            .map(|tasks| tasks.iter().map(|t| t["path"].to_string()).collect())
            .unwrap_or_default()
    }

    fn count(tasks: &Arc<Mutex<Vec<Value>>>) -> usize {
        tasks.lock().map(|t| t.len()).unwrap_or(0)
    }

    #[tokio::test]
    async fn a_node_that_was_down_receives_its_backlog_in_order() {
        let nodes: Vec<(FakeNode, Arc<Mutex<Vec<Value>>>)> = (0..3).map(|_| meili_like()).collect();
        let lists: Vec<_> = nodes.iter().map(|(_, l)| l.clone()).collect();
        let (state, fakes, _dir) = state_over(nodes.into_iter().map(|(n, _)| n).collect(), 2);
        fakes[2].set(Behaviour::Refuse);
        let loops = spawn_all(&state);
        let mut uids = Vec::new();
        for tag in 0..5 {
            uids.push(write(&state, tag).await.expect("journaled").uid);
        }
        eventually("nodes 0 and 1 to apply every write", || {
            count(&lists[0]) == 5 && count(&lists[1]) == 5
        })
        .await;
        assert_eq!(count(&lists[2]), 0, "node 2 is down");
        fakes[2].set(Behaviour::Answer);
        eventually("node 2 to catch up", || count(&lists[2]) == 5).await;
        assert_eq!(
            paths(&lists[2]),
            paths(&lists[0]),
            "same writes, same order"
        );
        eventually("every task to succeed", || {
            uids.iter().all(|uid| {
                state
                    .store
                    .get_task(*uid)
                    .ok()
                    .flatten()
                    .is_some_and(|t| t.status == TaskStatus::Succeeded)
            })
        })
        .await;
        loops.iter().for_each(|l| l.abort());
    }

    #[tokio::test]
    async fn a_call_accepted_without_an_answer_is_never_sent_again() {
        let (node, list) = meili_like();
        let (state, fakes, _dir) = state_over(vec![node], 1);
        fakes[0].set(Behaviour::AnswerLost);
        let task = write(&state, 0).await.expect("journaled");
        assert_eq!(
            count(&list),
            1,
            "the node accepted the call; its answer is lost"
        );
        fakes[0].set(Behaviour::Answer);
        let loops = spawn_all(&state);
        eventually("the task to succeed", || {
            state
                .store
                .get_task(task.uid)
                .ok()
                .flatten()
                .is_some_and(|t| t.status == TaskStatus::Succeeded)
        })
        .await;
        let second = write(&state, 1).await.expect("journaled");
        eventually("the next write", || count(&list) == 2).await;
        assert_eq!(
            paths(&list),
            vec![
                "\"/indexes/movies/settings\"",
                "\"/indexes/movies/settings\""
            ]
        );
        let node_tasks = state
            .store
            .get_task(second.uid)
            .unwrap()
            .unwrap()
            .node_tasks;
        assert_eq!(
            node_tasks[0].uid, 1,
            "the first call was recorded as node task 0"
        );
        loops.iter().for_each(|l| l.abort());
    }

    #[tokio::test]
    async fn a_refused_first_call_leaves_nothing_anywhere() {
        let refusing = FakeNode::answering(|_, _| {
            (
                StatusCode::BAD_REQUEST,
                json!({"message": "no", "code": "invalid_settings_ranking_rules", "type": "invalid_request", "link": ""}),
            )
        });
        let (other, list) = meili_like();
        let (state, fakes, _dir) = state_over(vec![refusing, other], 2);
        let error = write(&state, 0).await.unwrap_err();
        assert!(matches!(error, Error::Node { status, .. } if status == StatusCode::BAD_REQUEST));
        let loops = spawn_all(&state);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(count(&list), 0, "no other node received the write");
        let writes: Vec<_> = fakes[0]
            .calls()
            .into_iter()
            .filter(|c| c.method != Method::GET)
            .collect();
        assert_eq!(writes.len(), 1, "only the refused call");
        assert_eq!(writes[0].body, json!({}));
        assert!(state.store.unfinished_tasks().unwrap().is_empty());
        assert!(state.store.next_delivery("n1").unwrap().is_none());
        loops.iter().for_each(|l| l.abort());
    }

    #[tokio::test]
    async fn a_replica_down_past_the_timeout_goes_stale_then_catches_up() {
        let nodes: Vec<(FakeNode, Arc<Mutex<Vec<Value>>>)> = (0..2).map(|_| meili_like()).collect();
        let lists: Vec<_> = nodes.iter().map(|(_, l)| l.clone()).collect();
        let (state, fakes, _dir) = state_over(nodes.into_iter().map(|(n, _)| n).collect(), 2);
        fakes[1].set(Behaviour::Stall);
        let loops = spawn_all(&state);
        let task = write(&state, 0).await.expect("journaled");
        let started = Instant::now();
        eventually("the task to succeed without the stalled replica", || {
            state
                .store
                .get_task(task.uid)
                .ok()
                .flatten()
                .is_some_and(|t| t.status == TaskStatus::Succeeded)
        })
        .await;
        assert!(
            started.elapsed() >= state.config.replica_timeout,
            "the task waited for the replica first"
        );
        assert!(state.cluster.is_stale("movies", 1));
        let stale = state.store.stale_replicas().unwrap();
        assert_eq!(stale.len(), 1);
        assert_eq!((stale[0].0.as_str(), stale[0].1.as_str()), ("movies", "n1"));
        fakes[1].set(Behaviour::Answer);
        eventually("the replica to catch up", || {
            !state.cluster.is_stale("movies", 1)
        })
        .await;
        assert_eq!(count(&lists[1]), 1);
        assert!(state.store.stale_replicas().unwrap().is_empty());
        loops.iter().for_each(|l| l.abort());
    }

    #[tokio::test]
    async fn a_node_that_lost_its_data_is_marked_and_gets_nothing_more() {
        let (first, wiped) = meili_like();
        let (second, kept) = meili_like();
        let (state, fakes, _dir) = state_over(vec![first, second], 2);
        let index = new_record(&state, "movies", None).unwrap();
        state.store.put_index(&index).unwrap();
        let loops = spawn_all(&state);
        let before = write(&state, 0).await.expect("journaled");
        eventually("the first write everywhere", || {
            count(&wiped) == 1 && count(&kept) == 1
        })
        .await;
        // The node goes down, then comes back empty (its disk was replaced).
        fakes[0].set(Behaviour::Refuse);
        let during = write(&state, 1).await.expect("journaled");
        eventually("the second write on the live node", || count(&kept) == 2).await;
        wiped.lock().unwrap().clear();
        fakes[0].set(Behaviour::Answer);
        eventually("the node to be found lost", || state.cluster.is_lost(0)).await;
        assert!(state.cluster.is_stale("movies", 0));
        assert_eq!(state.store.lost_nodes().unwrap(), vec!["n0".to_string()]);
        for uid in [before.uid, during.uid] {
            eventually("the tasks to succeed on the live replica", || {
                state
                    .store
                    .get_task(uid)
                    .ok()
                    .flatten()
                    .is_some_and(|t| t.status == TaskStatus::Succeeded)
            })
            .await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(
            count(&wiped),
            0,
            "nothing is written to a node that lost its data"
        );
        loops.iter().for_each(|l| l.abort());
    }

    #[tokio::test]
    async fn too_few_replicas_in_sync_refuse_a_write_up_front() {
        let (state, fakes, _dir) = state_with(vec![meili_like().0, meili_like().0], 2, |config| {
            config.min_in_sync = 2
        });
        let index = new_record(&state, "movies", None).unwrap();
        state.store.put_index(&index).unwrap();
        write(&state, 0).await.expect("both replicas in sync");
        state
            .cluster
            .set_stale_shards("movies", 1, StaleShards::All);
        let Err(Error::Meili(refusal)) = write(&state, 1).await else {
            panic!("expected a refusal");
        };
        assert_eq!(refusal.code, "miroir_not_enough_replicas");
        assert_eq!(refusal.status, StatusCode::SERVICE_UNAVAILABLE);
        let writes = |i: usize| {
            fakes[i]
                .calls()
                .iter()
                .filter(|c| c.method != Method::GET)
                .count()
        };
        assert_eq!(
            writes(0) + writes(1),
            1,
            "only the first write's probe was sent"
        );
        assert_eq!(state.store.unfinished_tasks().unwrap().len(), 1);
    }
}
