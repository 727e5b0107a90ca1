//! Prometheus metrics at `GET /metrics` (the route Meilisearch uses, under the same
//! `metrics.get` action), in the text format, through the `metrics` facade and
//! `metrics-exporter-prometheus`.
//!
//! Events are counted where they happen: every HTTP request by route template and status
//! (with a latency histogram, [`http_request`], recorded by the request middleware), every node call by node and outcome (with a
//! latency histogram, `Node::send`), each search's fan-out width, hedges and failovers
//! (`cluster::fanout`). This module depends on nothing else in the crate, so that any module
//! can record. States are read when the page is scraped (`instance::metrics`): each node's
//! health, lost flag and reads in flight, its journal backlog (undelivered calls, their payload bytes
//! and the age of the oldest), replicas by state, tasks by status, the rebalance's moves and documents, and
//! the process's resident memory.
//!
//! The recorder is process-wide (the `metrics` facade has one); Miroirs run in one process
//! (tests) share the event counters, and each scrape sets the state gauges of its own Miroir.

use std::sync::OnceLock;

use metrics::{counter, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::error::{Error, Result};

/// Latency buckets, in seconds: from half a millisecond to the node deadline's order.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Fan-out width buckets (nodes asked by one search).
const WIDTH_BUCKETS: [f64; 8] = [1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 16.0, 32.0];

static RECORDER: OnceLock<std::result::Result<PrometheusHandle, String>> = OnceLock::new();

/// The process-wide recorder's handle, installed on first use.
pub(crate) fn handle() -> Result<&'static PrometheusHandle> {
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

/// Records one answered HTTP request by method, route template and status, with how long it
/// took (called by the request middleware).
pub(crate) fn http_request(method: &str, route: &str, status: u16, seconds: f64) {
    counter!("miroir_http_requests_total", "method" => method.to_string(), "route" => route.to_string(), "status" => status.to_string()).increment(1);
    histogram!("miroir_http_request_duration_seconds", "method" => method.to_string(), "route" => route.to_string())
        .record(seconds);
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
