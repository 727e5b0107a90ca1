//! `GET /metrics`: sets the state gauges of this Miroir (each node's health, lost flag and
//! reads in flight, its journal backlog, replicas by state, tasks by status, the rebalance, the
//! process's memory), then renders every metric of the recorder (`crate::metrics`) in
//! Prometheus' text format.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use metrics::gauge;

use miroir_core::task::TaskStatus;
use miroir_store::{TaskFilter, TaskPage};

use crate::cluster::Health;
use crate::error::Result;
use crate::state::AppState;

/// `GET /metrics`: the state gauges of this Miroir, then every metric in Prometheus' text
/// format.
pub(crate) async fn render(State(state): State<Arc<AppState>>) -> Result<Response> {
    let handle = crate::metrics::handle()?;
    record_state(&state)?;
    Ok((
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        handle.render(),
    )
        .into_response())
}

fn record_state(state: &AppState) -> Result<()> {
    let now = time::OffsetDateTime::now_utc();
    for (position, node) in state.cluster.nodes().enumerate() {
        let id = node.id.clone();
        let health = state.cluster.health(position);
        for (name, value) in [
            ("healthy", Health::Healthy),
            ("suspect", Health::Suspect),
            ("down", Health::Down),
        ] {
            let current = if health == value { 1.0 } else { 0.0 };
            gauge!("miroir_node_health", "node" => id.clone(), "health" => name).set(current);
        }
        let up = if health == Health::Down { 0.0 } else { 1.0 };
        gauge!("miroir_node_up", "node" => id.clone()).set(up);
        let lost = if state.cluster.is_lost(position) {
            1.0
        } else {
            0.0
        };
        gauge!("miroir_node_lost", "node" => id.clone()).set(lost);
        gauge!("miroir_node_reads_in_flight", "node" => id.clone())
            .set(state.cluster.load(position).in_flight() as f64);
        let backlog = state.store.undelivered(&id, None)?;
        gauge!("miroir_journal_backlog_entries", "node" => id.clone()).set(backlog as f64);
        let bytes = state.store.undelivered_bytes(&id)?;
        gauge!("miroir_journal_backlog_bytes", "node" => id.clone()).set(bytes as f64);
        let age = state
            .store
            .oldest_undelivered(&id)?
            .map_or(0.0, |oldest| (now - oldest).as_seconds_f64().max(0.0));
        gauge!("miroir_journal_oldest_undelivered_age_seconds", "node" => id).set(age);
    }
    let replicas = state.store.list_indexes()?.len() * state.cluster.node_count();
    let stale = state.cluster.stale_replicas().len();
    gauge!("miroir_replicas", "state" => "stale").set(stale as f64);
    gauge!("miroir_replicas", "state" => "in_sync").set(replicas.saturating_sub(stale) as f64);
    for status in [
        TaskStatus::Enqueued,
        TaskStatus::Processing,
        TaskStatus::Succeeded,
        TaskStatus::Failed,
        TaskStatus::Canceled,
    ] {
        let page = TaskPage {
            filter: TaskFilter {
                statuses: Some(vec![status]),
                ..TaskFilter::default()
            },
            from: None,
            limit: 0,
            reverse: false,
        };
        let (_, total) = state.store.list_tasks(&page)?;
        gauge!("miroir_tasks", "status" => status.as_str()).set(total as f64);
    }
    let rebalance = crate::rebalance::progress(state)?;
    let running = if rebalance["state"] == "idle" {
        0.0
    } else {
        1.0
    };
    gauge!("miroir_rebalance_running").set(running);
    for key in ["movesTotal", "movesDone", "documentsCopied"] {
        let value = rebalance[key].as_u64().unwrap_or(0) as f64;
        gauge!("miroir_rebalance", "measure" => key).set(value);
    }
    if let Some(bytes) = resident_memory() {
        gauge!("miroir_process_resident_memory_bytes").set(bytes as f64);
    }
    Ok(())
}

/// The process's resident memory (Linux: `/proc/self/statm`, in pages of 4 KiB).
fn resident_memory() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}
