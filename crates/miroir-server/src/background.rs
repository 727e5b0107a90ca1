//! The loops that run beside the HTTP server: the task poller, the rebuild of nodes that lost
//! their data, the rebalancer, one journal delivery loop per node, and one health check loop per node. They stop when their handles are aborted.

use std::sync::Arc;

use axum::http::Method;

use crate::cluster::node::NodeBody;
use crate::cluster::Health;
use crate::state::AppState;
use crate::tasks::poller::run_poller;
use crate::write::{delivery, rebuild};

/// Starts every background loop (stopped by `AppState::stop_loops`).
pub(crate) fn spawn_all(state: &Arc<AppState>) {
    state.spawn_loop(run_poller(state.clone()));
    state.spawn_loop(rebuild::run(state.clone()));
    state.spawn_loop(crate::rebalance::run(state.clone()));
    for node in 0..state.cluster.node_count() {
        spawn_node_loops(state, node);
    }
}

/// Starts the loops of one node: its journal delivery and its health checks.
pub(crate) fn spawn_node_loops(state: &Arc<AppState>, node: usize) {
    state.spawn_loop(delivery::run(state.clone(), node));
    state.spawn_loop(check_health(state.clone(), node));
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
