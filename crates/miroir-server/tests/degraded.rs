//! RAID degraded mode, with real processes: over 3 nodes at RF 2, a writer adds and deletes
//! documents and searchers search through Miroir while one node is killed with SIGKILL and
//! later started again on its own data. No search fails, no write is refused, every task
//! succeeds, every acknowledged addition is readable and every acknowledged deletion gone, and
//! once the node is back every document is on exactly 2 nodes again (asked of each node).
//! Tasks written during the outage succeed while the node is still down (its replicas went
//! stale after `replica_timeout`), and the node catches up on its own once it is back.

#[macro_use]
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use common::{task_uid, Backend, Client, Cluster};

const ROUNDS: usize = 45;
const PER_ROUND: usize = 20;

/// Searches until told to stop (bounded in count and time); returns (searches, failures).
async fn search_until(client: Client, stop: Arc<AtomicBool>) -> (usize, Vec<String>) {
    let mut done = 0;
    let mut failures = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !stop.load(Ordering::SeqCst) && done < 20_000 && Instant::now() < deadline {
        let (status, answer) = client
            .post(
                "/indexes/docs/search",
                json!({"q": format!("word{}", done % 7), "limit": 5}),
            )
            .await;
        if status != StatusCode::OK {
            failures.push(format!("{status}: {answer}"));
        }
        done += 1;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    (done, failures)
}

/// Every document id each node holds of index `docs`, asked of the node directly (none while
/// the node has no such index).
async fn ids_on(client: &Client) -> Vec<String> {
    let (status, answer) = client
        .get("/indexes/docs/documents?limit=100000&fields=id")
        .await;
    if status == StatusCode::NOT_FOUND {
        return Vec::new();
    }
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|d| d["id"].to_string())
        .collect()
}

async fn a_node_killed_and_restarted_costs_nothing(backend: Backend) {
    let mut cluster = Cluster::start_processes(&backend, 3, 2, 16, |config| {
        config.replica_timeout = Duration::from_secs(2);
        config.health_interval = Duration::from_millis(200);
        config.node_timeout = Duration::from_secs(3);
    })
    .await;
    let client = cluster.client();
    client
        .write_ok(
            Method::POST,
            "/indexes",
            json!({"uid": "docs", "primaryKey": "id"}),
        )
        .await;

    let stop = Arc::new(AtomicBool::new(false));
    let searchers: Vec<_> = (0..2)
        .map(|_| tokio::spawn(search_until(cluster.client(), stop.clone())))
        .collect();

    let mut tasks: Vec<u64> = Vec::new();
    let mut present: BTreeSet<u64> = BTreeSet::new();
    let mut deleted: BTreeSet<u64> = BTreeSet::new();
    let rejected = AtomicUsize::new(0);
    let mut next_id = 0u64;
    for round in 0..ROUNDS {
        if round == 10 {
            cluster.nodes[1].kill();
        }
        if round == 30 {
            // A task never waits longer than `replica_timeout` for a dead node: one written
            // while the node was down has succeeded before the node is back.
            let during_outage = tasks[12];
            let task = client.wait_task(during_outage).await;
            assert_eq!(task["status"], "succeeded", "{task}");
            cluster.nodes[1].restart().await;
        }
        let documents: Vec<Value> = (0..PER_ROUND)
            .map(|i| {
                let id = next_id + i as u64;
                json!({"id": id, "text": format!("word{} round{round}", id % 7)})
            })
            .collect();
        let (status, answer) = client
            .send(
                Method::POST,
                "/indexes/docs/documents",
                Value::Array(documents),
            )
            .await;
        if status == StatusCode::ACCEPTED {
            tasks.push(task_uid(&answer));
            present.extend(next_id..next_id + PER_ROUND as u64);
        } else {
            rejected.fetch_add(1, Ordering::SeqCst);
        }
        next_id += PER_ROUND as u64;
        if round % 3 == 2 {
            let victims: Vec<u64> = present.iter().copied().step_by(7).take(5).collect();
            let (status, answer) = client
                .post("/indexes/docs/documents/delete-batch", json!(victims))
                .await;
            if status == StatusCode::ACCEPTED {
                tasks.push(task_uid(&answer));
                for id in victims {
                    present.remove(&id);
                    deleted.insert(id);
                }
            } else {
                rejected.fetch_add(1, Ordering::SeqCst);
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(rejected.load(Ordering::SeqCst), 0, "writes refused");

    let mut statuses: BTreeMap<String, usize> = BTreeMap::new();
    for uid in &tasks {
        let task = client.wait_task(*uid).await;
        *statuses
            .entry(task["status"].as_str().unwrap_or("?").to_string())
            .or_default() += 1;
        assert_eq!(task["status"], "succeeded", "{task}");
    }
    stop.store(true, Ordering::SeqCst);
    let mut searches = 0;
    for searcher in searchers {
        let (done, failures) = searcher.await.expect("searcher");
        assert!(failures.is_empty(), "failed searches: {failures:?}");
        searches += done;
    }
    assert!(searches > 50, "only {searches} searches ran");

    for id in present.iter().step_by(11) {
        let (status, document) = client.get(&format!("/indexes/docs/documents/{id}")).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "acknowledged document {id}: {document}"
        );
    }
    for id in &deleted {
        let (status, _) = client.get(&format!("/indexes/docs/documents/{id}")).await;
        assert_eq!(
            status,
            StatusCode::NOT_FOUND,
            "deleted document {id} is back"
        );
    }

    // Once the node has caught up, every document is on exactly 2 nodes.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut copies: BTreeMap<String, usize> = BTreeMap::new();
        for node in &cluster.nodes {
            for id in ids_on(&node.client()).await {
                *copies.entry(id).or_default() += 1;
            }
        }
        let expected: BTreeSet<String> = present.iter().map(|id| id.to_string()).collect();
        let held: BTreeSet<String> = copies.keys().cloned().collect();
        let exact = held == expected && copies.values().all(|c| *c == 2);
        if exact {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "replicas did not converge: {} ids held, {} expected, copies {:?}",
            held.len(),
            expected.len(),
            copies.values().collect::<BTreeSet<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!(
        "{} writes ({statuses:?}), {searches} searches, {} documents on 2 nodes each",
        tasks.len(),
        present.len()
    );
}

dual_test!(a_node_killed_and_restarted_costs_nothing);

/// Documents `n0..n1` with a filterable field.
fn batch(from: u64, to: u64) -> Value {
    Value::Array(
        (from..to)
            .map(|id| json!({"id": id, "group": id % 5}))
            .collect(),
    )
}

async fn a_node_back_empty_is_rebuilt(backend: Backend) {
    rebuilt_after_an_outage(backend, Outage::DataLost).await;
}

async fn a_backlog_past_retention_is_rebuilt(backend: Backend) {
    rebuilt_after_an_outage(backend, Outage::PastRetention).await;
}

/// How node 2 misses writes.
#[derive(PartialEq)]
enum Outage {
    /// It dies, loses its data directory, and comes back empty.
    DataLost,
    /// It dies and comes back with its data, after the journal dropped its backlog.
    PastRetention,
}

/// Node 2 misses writes (see [`Outage`]); once back it is rebuilt: every document on exactly 2
/// nodes, exact counts, settings restored.
async fn rebuilt_after_an_outage(backend: Backend, outage: Outage) {
    let mut cluster = Cluster::start_processes(&backend, 3, 2, 16, |config| {
        config.replica_timeout = Duration::from_secs(1);
        config.health_interval = Duration::from_millis(200);
        config.node_timeout = Duration::from_secs(3);
        config.journal_retention = Duration::from_secs(2);
    })
    .await;
    let client = cluster.client();
    client
        .write_ok(
            Method::POST,
            "/indexes",
            json!({"uid": "docs", "primaryKey": "id"}),
        )
        .await;
    client
        .write_ok(
            Method::PUT,
            "/indexes/docs/settings/filterable-attributes",
            json!(["group"]),
        )
        .await;
    for start in (0..600).step_by(200) {
        client
            .write_ok(
                Method::POST,
                "/indexes/docs/documents",
                batch(start, start + 200),
            )
            .await;
    }
    // The node dies (and loses its disk); writes go on meanwhile.
    cluster.nodes[2].kill();
    if outage == Outage::DataLost {
        cluster.nodes[2].wipe();
    }
    let mut tasks = Vec::new();
    for start in (600..1000).step_by(100) {
        let (status, answer) = client
            .send(
                Method::POST,
                "/indexes/docs/documents",
                batch(start, start + 100),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
        tasks.push(task_uid(&answer));
    }
    let (status, answer) = client
        .post(
            "/indexes/docs/documents/delete",
            json!({"filter": "group = 3"}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    tasks.push(task_uid(&answer));
    if outage == Outage::PastRetention {
        // The backlog passes the 2 s retention: dropped, the node marked lost.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (status, nodes) = client.get("/_miroir/nodes").await;
            assert_eq!(status, StatusCode::OK, "{nodes}");
            if nodes["results"][2]["lost"] == true {
                assert_eq!(nodes["results"][2]["undelivered"], 0, "{nodes}");
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the backlog was never dropped: {nodes}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    cluster.nodes[2].restart().await;
    for uid in &tasks {
        let task = client.wait_task(*uid).await;
        assert_eq!(task["status"], "succeeded", "{task}");
    }
    let expected: BTreeSet<String> = (0..1000u64)
        .filter(|id| id % 5 != 3)
        .map(|id| id.to_string())
        .collect();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let mut copies: BTreeMap<String, usize> = BTreeMap::new();
        for node in &cluster.nodes {
            for id in ids_on(&node.client()).await {
                *copies.entry(id).or_default() += 1;
            }
        }
        let held: BTreeSet<String> = copies.keys().cloned().collect();
        if held == expected && copies.values().all(|c| *c == 2) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the empty node was not rebuilt: {} ids held of {}, copies {:?}",
            held.len(),
            expected.len(),
            copies.values().collect::<BTreeSet<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (status, settings) = cluster.nodes[2]
        .client()
        .get("/indexes/docs/settings/filterable-attributes")
        .await;
    assert_eq!(status, StatusCode::OK, "{settings}");
    assert!(
        settings.to_string().contains("group"),
        "the rebuilt copy has the index's settings: {settings}"
    );
    let (status, stats) = client.get("/indexes/docs/stats").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stats["numberOfDocuments"], expected.len(), "{stats}");
}

dual_test!(a_node_back_empty_is_rebuilt);
dual_test!(a_backlog_past_retention_is_rebuilt);
