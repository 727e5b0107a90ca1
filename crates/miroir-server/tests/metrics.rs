//! `GET /metrics` in Prometheus' text format, scraped from a Miroir process after a search, a
//! write and a node failure: requests by route and status, node calls, fan-out, node states,
//! the journal backlog of the dead node, replicas, tasks, the rebalance and memory, with
//! values that follow what happened.

#[macro_use]
mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use common::{Backend, Client, MiroirProcess, Node};

/// One scrape: every sample, by metric name, with its labels.
struct Scrape(Vec<(String, BTreeMap<String, String>, f64)>);

impl Scrape {
    async fn of(client: &Client) -> Scrape {
        let (status, body) = client.get("/metrics").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let text = body.as_str().expect("a text page").to_string();
        let mut samples = Vec::new();
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let (series, value) = line.rsplit_once(' ').expect("a sample line");
            let value: f64 = value.parse().expect("a number");
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => {
                    let labels = rest
                        .trim_end_matches('}')
                        .split("\",")
                        .filter(|pair| !pair.is_empty())
                        .filter_map(|pair| pair.split_once('='))
                        .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
                        .collect();
                    (name.to_string(), labels)
                }
                None => (series.to_string(), BTreeMap::new()),
            };
            samples.push((name, labels, value));
        }
        Scrape(samples)
    }

    /// The sum of the samples of `name` whose labels include `labels`.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let matching: Vec<f64> = self
            .0
            .iter()
            .filter(|(n, l, _)| {
                n == name
                    && labels
                        .iter()
                        .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|(_, _, v)| *v)
            .collect();
        (!matching.is_empty()).then(|| matching.iter().sum())
    }
}

/// Scrapes until `ready` holds (at most 60 seconds), searching meanwhile so that failures are
/// noticed.
async fn scrape_until(client: &Client, what: &str, ready: impl Fn(&Scrape) -> bool) -> Scrape {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let scrape = Scrape::of(client).await;
        if ready(&scrape) {
            return scrape;
        }
        assert!(Instant::now() < deadline, "timed out: {what}");
        client
            .post("/indexes/docs/search", json!({"q": "document"}))
            .await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn metrics_follow_requests_nodes_and_the_journal(backend: Backend) {
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(Node::start_process(&backend).await);
    }
    let refs: Vec<&Node> = nodes.iter().collect();
    let miroir = MiroirProcess::start(&refs, 2, 16).await;
    let client = miroir.client();
    let documents: Vec<Value> = (0..200)
        .map(|i| json!({"id": i, "text": format!("document {i}")}))
        .collect();
    client.seed_index("docs", Value::Null, documents).await;
    let (status, found) = client
        .post("/indexes/docs/search", json!({"q": "document"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{found}");

    let (status, refused) = client.with_key(None).get("/metrics").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{refused}");
    assert_eq!(refused["code"], "missing_authorization_header");

    let scrape = Scrape::of(&client).await;
    let search = [("route", "/indexes/{uid}/search"), ("status", "200")];
    assert!(scrape.value("miroir_http_requests_total", &search) >= Some(1.0));
    assert!(
        scrape.value(
            "miroir_http_request_duration_seconds_count",
            &[("route", "/indexes/{uid}/search")]
        ) >= Some(1.0)
    );
    let written = [("route", "/indexes/{uid}/documents"), ("status", "202")];
    assert!(scrape.value("miroir_http_requests_total", &written) >= Some(1.0));
    for node in ["n0", "n1", "n2"] {
        assert!(
            scrape.value(
                "miroir_node_requests_total",
                &[("node", node), ("outcome", "ok")]
            ) >= Some(1.0),
            "{node}"
        );
        assert_eq!(scrape.value("miroir_node_up", &[("node", node)]), Some(1.0));
        assert_eq!(
            scrape.value(
                "miroir_node_health",
                &[("node", node), ("health", "healthy")]
            ),
            Some(1.0)
        );
    }
    assert!(scrape.value("miroir_search_fanout_nodes_count", &[]) >= Some(1.0));
    assert!(scrape.value("miroir_tasks", &[("status", "succeeded")]) >= Some(2.0));
    assert_eq!(
        scrape.value("miroir_tasks", &[("status", "failed")]),
        Some(0.0)
    );
    assert_eq!(
        scrape.value("miroir_replicas", &[("state", "stale")]),
        Some(0.0)
    );
    assert_eq!(
        scrape.value("miroir_replicas", &[("state", "in_sync")]),
        Some(3.0)
    );
    assert_eq!(scrape.value("miroir_rebalance_running", &[]), Some(0.0));
    assert!(scrape.value("miroir_process_resident_memory_bytes", &[]) > Some(1e6));
    assert_eq!(
        scrape.value("miroir_journal_backlog_entries", &[("node", "n2")]),
        Some(0.0)
    );

    // A dead node: down, and the writes it misses wait in its journal backlog.
    nodes[2].kill();
    let (status, accepted) = client
        .send(
            Method::POST,
            "/indexes/docs/documents",
            json!([{"id": 1000, "text": "written while n2 is down"}]),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let down = scrape_until(&client, "n2 down with a backlog", |s| {
        s.value("miroir_node_up", &[("node", "n2")]) == Some(0.0)
            && s.value("miroir_journal_backlog_entries", &[("node", "n2")]) > Some(0.0)
    })
    .await;
    assert_eq!(
        down.value("miroir_node_health", &[("node", "n2"), ("health", "down")]),
        Some(1.0)
    );
    assert!(
        down.value(
            "miroir_node_requests_total",
            &[("node", "n2"), ("outcome", "error")]
        ) >= Some(1.0)
    );
    assert!(down.value("miroir_journal_backlog_bytes", &[("node", "n2")]) > Some(0.0));
    assert!(
        down.value(
            "miroir_journal_oldest_undelivered_age_seconds",
            &[("node", "n2")]
        ) >= Some(0.0)
    );

    // Back: healthy again, its backlog delivered.
    nodes[2].restart().await;
    scrape_until(&client, "n2 back with no backlog", |s| {
        s.value("miroir_node_up", &[("node", "n2")]) == Some(1.0)
            && s.value("miroir_journal_backlog_entries", &[("node", "n2")]) == Some(0.0)
            && s.value("miroir_journal_backlog_bytes", &[("node", "n2")]) == Some(0.0)
    })
    .await;
}
dual_test!(metrics_follow_requests_nodes_and_the_journal);

/// The `miroir_*` metric names in `text`, histogram suffixes removed.
fn metric_names(text: &str) -> std::collections::BTreeSet<String> {
    let mut names = std::collections::BTreeSet::new();
    let mut rest = text;
    while let Some(start) = rest.find("miroir_") {
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
            .unwrap_or(tail.len());
        let name = &tail[..end];
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix))
            .unwrap_or(name);
        names.insert(family.to_string());
        rest = &tail[end..];
    }
    names
}

#[test]
fn dashboards_and_alerts_use_documented_metrics() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let read = |path: &str| {
        std::fs::read_to_string(format!("{root}/{path}")).unwrap_or_else(|e| panic!("{path}: {e}"))
    };
    let documented = metric_names(&read("docs/operations.md"));
    assert!(documented.len() >= 15, "{documented:?}");
    for file in [
        "deploy/grafana/miroir-dashboard.json",
        "deploy/prometheus/alerts.yml",
    ] {
        let used = metric_names(&read(file));
        assert!(!used.is_empty(), "{file} uses no metric");
        let unknown: Vec<_> = used.difference(&documented).collect();
        assert!(
            unknown.is_empty(),
            "{file} uses undocumented metrics: {unknown:?}"
        );
    }
    let dashboard: Value =
        serde_json::from_str(&read("deploy/grafana/miroir-dashboard.json")).expect("JSON");
    assert!(dashboard["panels"]
        .as_array()
        .is_some_and(|p| p.len() >= 10));
}
