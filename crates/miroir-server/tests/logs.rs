//! `miroir serve --log-format json` at `debug`: through searches, writes, a node failure and
//! recovery and a node joining, every log line is one JSON object, a search's `requestUid`
//! finds its request's lines, and neither the nodes' API key nor the master key is ever written.

#[macro_use]
mod common;

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use common::{Backend, Client, MiroirProcess, Node, MASTER_KEY, NODE_KEY};

/// Polls `GET /_miroir/nodes` until `ready` holds for it (at most 60 seconds).
async fn nodes_until(client: &Client, what: &str, ready: impl Fn(&Value) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, nodes) = client.get("/_miroir/nodes").await;
        assert_eq!(status, StatusCode::OK, "{nodes}");
        if ready(&nodes) {
            return;
        }
        assert!(Instant::now() < deadline, "timed out: {what}: {nodes}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn undelivered(nodes: &Value, id: &str) -> u64 {
    nodes["results"]
        .as_array()
        .and_then(|all| all.iter().find(|n| n["id"] == id))
        .and_then(|n| n["undelivered"].as_u64())
        .unwrap_or(u64::MAX)
}

async fn json_logs_carry_request_uids_and_no_key(backend: Backend) {
    let mut nodes = Vec::new();
    for _ in 0..4 {
        nodes.push(Node::start_process(&backend).await);
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("miroir.log");
    let first_three: Vec<&Node> = nodes.iter().take(3).collect();
    let miroir = MiroirProcess::start_logged(
        &first_three,
        2,
        8,
        &["--log-format=json", "--replica-timeout-ms=300"],
        Some(log.clone()),
    )
    .await;
    let client = miroir.client();
    let documents: Vec<Value> = (0..100)
        .map(|i| json!({"id": i, "text": format!("line {i}")}))
        .collect();
    client.seed_index("docs", Value::Null, documents).await;
    let (status, found) = client
        .post("/indexes/docs/search", json!({"q": "line"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    let request_uid = found["requestUid"]
        .as_str()
        .expect("a requestUid")
        .to_string();
    let (status, _) = client.get("/indexes/missing/documents").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A node fails, misses a write, comes back and catches up.
    nodes[2].kill();
    let (status, accepted) = client
        .send(
            Method::POST,
            "/indexes/docs/documents",
            json!([{"id": 500, "text": "while n2 is down"}]),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    nodes_until(&client, "n2 behind", |n| undelivered(n, "n2") > 0).await;
    nodes[2].restart().await;
    nodes_until(&client, "n2 caught up", |n| undelivered(n, "n2") == 0).await;

    // A node joins with its key.
    let (status, joined) = client
        .send(
            Method::POST,
            "/_miroir/nodes",
            json!({"id": "n3", "url": nodes[3].url(), "apiKey": NODE_KEY}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{joined}");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (_, rebalance) = client.get("/_miroir/rebalance").await;
        if rebalance["state"] == "idle" {
            break;
        }
        assert!(Instant::now() < deadline, "rebalance: {rebalance}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(miroir);

    let text = std::fs::read_to_string(&log).expect("the log");
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(lines.len() > 10, "only {} log lines", lines.len());
    let mut of_the_search = 0;
    for line in &lines {
        let event: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        for key in ["timestamp", "level", "fields"] {
            assert!(event.get(key).is_some(), "no `{key}`: {line}");
        }
        assert!(!line.contains(NODE_KEY), "a node key is logged: {line}");
        assert!(
            !line.contains(MASTER_KEY),
            "the master key is logged: {line}"
        );
        if event["span"]["request_uid"] == request_uid.as_str() {
            assert_eq!(event["span"]["route"], "/indexes/{uid}/search", "{line}");
            of_the_search += 1;
        }
    }
    assert!(of_the_search > 0, "no line of request {request_uid}");
}
dual_test!(json_logs_carry_request_uids_and_no_key);
