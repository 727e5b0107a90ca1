//! Prometheus metrics at `GET /metrics` (the route Meilisearch uses, under the same
//! `metrics.get` action), in the text format, through the `metrics` facade and
//! `metrics-exporter-prometheus`.
//!
//! Events are counted where they happen: every HTTP request by route template and status
//! (with a latency histogram, [`track_request`]), every node call by node and outcome (with a
//! latency histogram, `Node::send`), each search's fan-out width, hedges and failovers
//! (`cluster::fanout`). States are read when the page is scraped ([`render`]): each node's
//! health, lost flag and reads in flight, its journal backlog (undelivered calls, their payload bytes
//! and the age of the oldest), replicas by state, tasks by status, the rebalance's moves and documents, and
//! the process's resident memory.
//!
//! The recorder is process-wide (the `metrics` facade has one); Miroirs run in one process
//! (tests) share the event counters, and each scrape sets the state gauges of its own Miroir.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use miroir_core::task::TaskStatus;
use miroir_store::{TaskFilter, TaskPage};

use crate::cluster::Health;
use crate::error::{Error, Result};
use crate::state::AppState;

/// Latency buckets, in seconds: from half a millisecond to the node deadline's order.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Fan-out width buckets (nodes asked by one search).
const WIDTH_BUCKETS: [f64; 8] = [1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 16.0, 32.0];

static RECORDER: OnceLock<std::result::Result<PrometheusHandle, String>> = OnceLock::new();

/// The process-wide recorder's handle, installed on first use.
fn handle() -> Result<&'static PrometheusHandle> {
    RECORDER
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &LATENCY_BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("miroir_search_fanout_nodes".into()),
                        &WIDTH_BUCKETS,
                    )
                })
                .map_err(|e| e.to_string())?
                .install_recorder()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|reason| Error::Metrics(reason.clone()))
}

/// Installs the recorder (at start, so that the first requests are counted).
pub(crate) fn install() {
    if let Err(error) = handle() {
        tracing::warn!(%error, "metrics are not recorded");
    }
}

/// Counts one HTTP request by route template, method and status, and times it.
pub(crate) async fn track_request(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = request.method().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    counter!("miroir_http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status).increment(1);
    histogram!("miroir_http_request_duration_seconds", "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

/// Records one node call: its outcome and how long it took.
pub(crate) fn node_call(node: &str, ok: bool, seconds: f64) {
    let outcome = if ok { "ok" } else { "error" };
    counter!("miroir_node_requests_total", "node" => node.to_string(), "outcome" => outcome)
        .increment(1);
    histogram!("miroir_node_request_duration_seconds", "node" => node.to_string()).record(seconds);
}

/// Records how many nodes one read plan asked (a failover's new plan is one more).
pub(crate) fn fan_out_width(nodes: usize) {
    histogram!("miroir_search_fanout_nodes").record(nodes as f64);
}

/// Counts a read sent to a second replica because the first was slow.
pub(crate) fn hedged() {
    counter!("miroir_search_hedged_total").increment(1);
}

/// Counts a read moved to another replica because its node failed.
pub(crate) fn failed_over() {
    counter!("miroir_search_failovers_total").increment(1);
}

/// `GET /metrics`: the state gauges of this Miroir, then every metric in Prometheus' text
/// format.
pub(crate) async fn render(State(state): State<Arc<AppState>>) -> Result<Response> {
    let handle = handle()?;
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
