//! The loops that run beside the HTTP server.
//!
//! Every process runs one health check loop per node, and follows the nodes' experimental
//! features (`instance::search_rules`). The work that runs once per cluster —
//! the task poller, the webhook announcer, the rebuild of nodes that lost their data, the
//! rebalancer and one journal delivery loop per node — runs at once in a process with a store
//! of its own (SQLite). With a shared store (Redis) it runs in the process holding the lease
//! (see `coordination`): every process tries to take the lease, its holder renews it three
//! times per `lease_ttl` and stops that work the moment it is lost; and every process follows
//! the store's change counters to reload what it keeps in memory (replica marks, API keys,
//! placement, nodes added elsewhere). Loops stop when their handles are aborted.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::Method;
use time::OffsetDateTime;

use miroir_core::topology::NodeState;
use miroir_store::{Lease, Versions};

use crate::cluster::node::NodeBody;
use crate::cluster::{http_node, marks, Health};
use crate::instance::search_rules;
use crate::state::AppState;
use crate::tasks::poller::run_poller;
use crate::tasks::webhooks;
use crate::write::{delivery, rebuild};

/// How often every process reads the store's change counters.
const FOLLOW_INTERVAL: Duration = Duration::from_millis(50);
/// The longest a process waits between two tries to take a free lease.
const LEASE_POLL: Duration = Duration::from_millis(200);

/// Starts every background loop (stopped by `AppState::stop_loops`).
pub(crate) fn spawn_all(state: &Arc<AppState>) {
    for node in 0..state.cluster.node_count() {
        state.spawn_loop(check_health(state.clone(), node));
    }
    state.spawn_loop(search_rules::follow_features_loop(state.clone()));
    if state.is_shared() {
        state.spawn_loop(follow_store(state.clone()));
        state.spawn_loop(hold_lease(state.clone()));
    } else {
        spawn_work_that_runs_once(state);
    }
}

/// Starts the loops that run once per cluster: the poller, the webhook announcer, the rebuild,
/// the rebalancer and every node's delivery.
fn spawn_work_that_runs_once(state: &Arc<AppState>) {
    state.spawn_leader_loop(run_poller(state.clone()));
    state.spawn_leader_loop(webhooks::run_announcer(state.clone()));
    state.spawn_leader_loop(rebuild::run(state.clone()));
    state.spawn_leader_loop(crate::rebalance::run(state.clone()));
    for node in 0..state.cluster.node_count() {
        state.spawn_leader_loop(delivery::run(state.clone(), node));
    }
}

/// Starts the loops of a node added at run time: its health checks, and its journal delivery
/// where the work that runs once runs.
pub(crate) fn spawn_node_loops(state: &Arc<AppState>, node: usize) {
    state.spawn_leader_loop(delivery::run(state.clone(), node));
    state.spawn_loop(check_health(state.clone(), node));
}

/// Takes the lease whenever it is free, and does the work that runs once while it holds it.
async fn hold_lease(state: Arc<AppState>) {
    let ttl = state.config.lease_ttl;
    loop {
        let asked = Instant::now();
        match state.store.acquire_lease(&state.process_id, ttl) {
            Ok(Some(lease)) => lead(&state, lease, asked).await,
            Ok(None) => {}
            Err(error) => tracing::warn!(%error, "cannot ask for the lease"),
        }
        tokio::time::sleep(LEASE_POLL.min(ttl / 3)).await;
    }
}

/// Runs the work that runs once under `lease` (taken at `asked`) until the lease is lost,
/// then stops that work before this process writes unfenced again.
async fn lead(state: &Arc<AppState>, lease: Lease, asked: Instant) {
    let ttl = state.config.lease_ttl;
    state.store.set_fence(Some(&lease));
    state.leadership.hold(lease.clone(), asked + ttl);
    tracing::info!(process = %state.process_id, token = lease.token, "this process holds the lease: it runs the task poller, webhooks, the journal delivery, the rebuild and the rebalancer");
    take_over(state);
    loop {
        tokio::time::sleep(ttl / 3).await;
        let asked = Instant::now();
        match state.store.renew_lease(&lease, ttl) {
            Ok(true) => state.leadership.hold(lease.clone(), asked + ttl),
            Ok(false) => {
                tracing::warn!(token = lease.token, "the lease was lost to another process");
                break;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot renew the lease");
                if !state.leadership.is_current() {
                    break;
                }
            }
        }
        release_abandoned_probes(state);
    }
    for handle in state.take_leader_loops() {
        handle.abort();
        // Aborted at its next await: none of its writes can land after this.
        let _ = handle.await;
    }
    state.leadership.drop_lease();
    state.store.set_fence(None);
    tracing::info!(token = lease.token, "the work that runs once stopped here");
}

/// What a new leaseholder does before the work starts: nodes a former holder held at a journal
/// head are free again, every node's delivery sets up this lease's key on its node (deleting
/// the former holders') and reconciles with the node before sending (a former holder may have
/// sent a call it did not record), and the loops start.
fn take_over(state: &Arc<AppState>) {
    if let Err(error) = state.store.set_held_nodes(&[]) {
        tracing::warn!(%error, "cannot free the nodes a former leaseholder held");
    }
    for node in 0..state.cluster.node_count() {
        let outbox = state.cluster.outbox(node);
        outbox.hold_after.store(u64::MAX, Ordering::SeqCst);
        outbox.unsure.store(true, Ordering::SeqCst);
        outbox.set_lease_key(None);
    }
    reload_replica_marks(state);
    spawn_work_that_runs_once(state);
}

/// Releases the entries a process held to probe their first node and never released (it
/// died): the node's delivery reconciles and sends them.
fn release_abandoned_probes(state: &AppState) {
    let Ok(patience) = time::Duration::try_from(state.config.node_timeout * 2) else {
        return;
    };
    match state
        .store
        .release_held(OffsetDateTime::now_utc() - patience)
    {
        Ok(0) => {}
        Ok(released) => {
            tracing::info!(
                released,
                "journal entries held by a process that did not finish probing were released"
            );
            // Whether their first call reached its node is for reconciliation to find out.
            for node in 0..state.cluster.node_count() {
                state
                    .cluster
                    .outbox(node)
                    .unsure
                    .store(true, Ordering::SeqCst);
            }
        }
        Err(error) => tracing::warn!(%error, "cannot release abandoned probes"),
    }
}

/// Reads the store's change counters and reloads what changed: replica marks, API keys, the
/// topology and placement; wakes the work that runs once when tasks were created elsewhere.
async fn follow_store(state: Arc<AppState>) {
    // Until a first reading, every counter counts as moved: the first reading reloads all.
    let mut seen = match state.store.versions() {
        Ok(versions) => versions,
        Err(error) => {
            tracing::warn!(%error, "cannot read the store's change counters");
            Versions::default()
        }
    };
    let mut ticks = tokio::time::interval(FOLLOW_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let now = match state.store.versions() {
            Ok(now) => now,
            Err(error) => {
                tracing::warn!(%error, "cannot read the store's change counters");
                continue;
            }
        };
        apply_changes(&state, &seen, &now);
        seen = now;
    }
}

/// Reloads what moved between two readings of the change counters.
fn apply_changes(state: &Arc<AppState>, seen: &Versions, now: &Versions) {
    if now.keys != seen.keys {
        crate::instance::keys::forget_cached_keys(state);
    }
    if now.topology != seen.topology {
        reload_topology(state);
    }
    if now.replicas != seen.replicas {
        reload_replica_marks(state);
    }
    if now.indexes != seen.indexes {
        match state.store.list_indexes() {
            Ok(indexes) => state
                .cluster
                .set_reshaping(indexes.iter().any(|i| i.reshape.is_some())),
            Err(error) => tracing::warn!(%error, "cannot reload the index records"),
        }
    }
    if state.leadership.lease().is_none() {
        return;
    }
    if now.journal != seen.journal {
        for node in 0..state.cluster.node_count() {
            state.cluster.outbox(node).wake.notify_one();
        }
        state.task_created.notify_one();
        state.webhooks_due.notify_one();
    }
    if now.topology != seen.topology || now.replicas != seen.replicas {
        state.topology_changed.notify_one();
        state.rebuild_wanted.notify_one();
    }
}

/// Makes the in-memory stale replicas and lost nodes the store's.
fn reload_replica_marks(state: &AppState) {
    if let Err(error) = marks::reload(&state.cluster, state.store.as_ref()) {
        tracing::warn!(%error, "cannot reload the replica marks");
    }
}

/// Adds the nodes another process added, retires the ones it removed, and makes the
/// placement the stored one.
fn reload_topology(state: &Arc<AppState>) {
    let topology = match state.store.topology() {
        Ok(Some(topology)) => topology,
        Ok(None) => return,
        Err(error) => {
            tracing::warn!(%error, "cannot reload the topology");
            return;
        }
    };
    for node in &topology.nodes {
        let Some(position) = state.cluster.position(&node.id) else {
            continue;
        };
        if node.state == NodeState::Removed && !state.cluster.is_retired(position) {
            tracing::info!(node = %node.id, "a node removed by another process leaves this one's fleet");
            state.cluster.retire(position);
        }
    }
    for node in topology.reachable_nodes() {
        if state.cluster.position(&node.id).is_some() {
            continue;
        }
        let handle = match http_node(&state.config, &node.id, &node.url, node.api_key.clone()) {
            Ok(handle) => handle,
            Err(error) => {
                tracing::warn!(node = %node.id, %error, "cannot reach a node another process added");
                continue;
            }
        };
        // `None`: added meanwhile by this process's own request.
        if let Some(position) = state.cluster.add_node(handle, node.spec()) {
            tracing::info!(node = %node.id, "a node added by another process joins this one's fleet");
            spawn_node_loops(state, position);
        }
    }
    match crate::rebalance::seed_record(state.store.as_ref())
        .and_then(|record| crate::rebalance::apply(&state.cluster, &record))
    {
        Ok(()) => {}
        Err(error) => tracing::warn!(%error, "cannot apply the stored placement"),
    }
}

/// Checks `node`'s `/health` every `health_interval` (see [`Health`]); a node seen back wakes
/// its delivery loop.
async fn check_health(state: Arc<AppState>, node: usize) {
    let mut ticks = tokio::time::interval(state.config.health_interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let handle = state.cluster.node(node);
        let before = state.cluster.health(node);
        // A stalled node must not hold the check for a whole node deadline.
        let deadline = state.config.health_interval * 2;
        let answered = tokio::time::timeout(
            deadline,
            handle.json(Method::GET, "/health", NodeBody::Empty),
        )
        .await
        .is_ok_and(|answer| answer.is_ok_and(|health| health["status"] == "available"));
        let after = state.cluster.checked(node, answered);
        if after != before {
            tracing::info!(node = %handle.id, ?before, ?after, "node health changed");
            if after == Health::Healthy {
                // A node seen back may have restarted, possibly empty: its delivery loop
                // reconciles (and finds out) before sending anything.
                let outbox = state.cluster.outbox(node);
                outbox
                    .unsure
                    .store(true, std::sync::atomic::Ordering::SeqCst);
                outbox.wake.notify_one();
                state.task_created.notify_one();
            }
        }
    }
}
