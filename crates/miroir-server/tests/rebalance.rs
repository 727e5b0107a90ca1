//! Live topology changes move shards while Miroir serves: a node added through the API
//! receives its share, a drained node gives all of it away and is removed, the replication
//! factor goes up and down, and a dead node removed with `force` has its shards copied again
//! from the survivors. Throughout, a search counting a fixed set of documents returns the exact
//! count and every write succeeds; afterwards every document is on exactly RF live nodes.

#[macro_use]
mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use common::{task_uid, Backend, Client, Cluster, MiroirProcess, Node, NODE_KEY};

/// Documents of the fixed set every search counts.
const FIXED: u64 = 300;

fn seed_documents() -> Vec<Value> {
    (0..1200)
        .map(|i| {
            let group = if (i as u64) < FIXED { "fixed" } else { "other" };
            json!({"id": i, "group": group, "text": format!("document {i}")})
        })
        .collect()
}

/// Polls `/_miroir/rebalance` until no rebalance runs, for at most 180 seconds.
async fn wait_idle(client: &Client) -> Value {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let (status, progress) = client.get("/_miroir/rebalance").await;
        assert_eq!(status, StatusCode::OK, "{progress}");
        assert_ne!(progress["state"], "failed", "{progress}");
        if progress["state"] == "idle" {
            return progress;
        }
        assert!(
            Instant::now() < deadline,
            "rebalance did not finish: {progress}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls the topology until `ready` holds for it.
async fn wait_topology(client: &Client, what: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let (_, topology) = client.get("/_miroir/topology").await;
        if ready(&topology) {
            return topology;
        }
        assert!(Instant::now() < deadline, "timed out: {what}: {topology}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn node_of<'a>(topology: &'a Value, id: &str) -> &'a Value {
    topology["nodes"]
        .as_array()
        .and_then(|nodes| nodes.iter().find(|n| n["id"] == id))
        .unwrap_or(&Value::Null)
}

/// How many of `nodes` hold each document id of `index`.
async fn copies(nodes: &[&Node], index: &str) -> HashMap<String, usize> {
    let mut copies = HashMap::new();
    for node in nodes {
        for document in node.client().all_documents(index).await {
            *copies.entry(document["id"].to_string()).or_default() += 1;
        }
    }
    copies
}

/// A writer and a searcher running through Miroir until stopped.
struct Traffic {
    stop: Arc<AtomicBool>,
    searches: Arc<AtomicU64>,
    writer: tokio::task::JoinHandle<Vec<u64>>,
    searcher: tokio::task::JoinHandle<Vec<String>>,
}

impl Traffic {
    fn start(client: &Client) -> Traffic {
        let stop = Arc::new(AtomicBool::new(false));
        let searches = Arc::new(AtomicU64::new(0));
        let writer = {
            let client = client.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut tasks = Vec::new();
                for batch in 0..400u64 {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let documents: Vec<Value> = (0..5)
                        .map(|i| json!({"id": 100_000 + batch * 5 + i, "group": "written"}))
                        .collect();
                    let (status, answer) = client
                        .try_send(
                            Method::POST,
                            "/indexes/docs/documents",
                            Value::Array(documents),
                        )
                        .await;
                    // `None`: Miroir itself is down (killed by the test), nothing answered.
                    if let Some(status) = status {
                        assert_eq!(status, StatusCode::ACCEPTED, "write rejected: {answer}");
                        tasks.push(task_uid(&answer));
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                tasks
            })
        };
        let searcher = {
            let client = client.clone();
            let stop = stop.clone();
            let searches = searches.clone();
            tokio::spawn(async move {
                let mut wrong = Vec::new();
                for _ in 0..100_000 {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let (status, found) = client
                        .try_send(
                            Method::POST,
                            "/indexes/docs/search",
                            json!({"filter": "group = fixed", "page": 1, "hitsPerPage": 1}),
                        )
                        .await;
                    if let Some(status) = status {
                        searches.fetch_add(1, Ordering::SeqCst);
                        if status != StatusCode::OK || found["totalHits"] != FIXED {
                            wrong.push(format!("{status}: {found}"));
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                wrong
            })
        };
        Traffic {
            stop,
            searches,
            writer,
            searcher,
        }
    }

    /// Stops both; asserts every search that was answered counted exactly and every write
    /// accepted succeeded (requests nothing answered, while Miroir was down, are not
    /// counted). Returns how many documents were written.
    async fn stop(self, client: &Client) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        let tasks = self.writer.await.expect("writer ran");
        let wrong = self.searcher.await.expect("searcher ran");
        assert!(self.searches.load(Ordering::SeqCst) > 0, "searches ran");
        assert!(
            wrong.is_empty(),
            "{} wrong searches, first: {:?}",
            wrong.len(),
            wrong.first()
        );
        for uid in &tasks {
            let task = client.wait_task(*uid).await;
            assert_eq!(task["status"], "succeeded", "{task}");
        }
        tasks.len() as u64 * 5
    }
}

async fn a_node_joins_then_another_drains_and_leaves(backend: Backend) {
    let cluster = Cluster::start(&backend, 3, 2, 16).await;
    let client = cluster.client();
    client
        .seed_index(
            "docs",
            json!({"filterableAttributes": ["group"]}),
            seed_documents(),
        )
        .await;
    let newcomer = Node::start(&backend).await;
    let traffic = Traffic::start(&client);

    let (status, answer) = client
        .post(
            "/_miroir/nodes",
            json!({"id": "n3", "url": newcomer.url(), "apiKey": NODE_KEY}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    let topology = wait_topology(&client, "n3 active", |t| {
        node_of(t, "n3")["state"] == "active"
    })
    .await;
    assert!(
        node_of(&topology, "n3")["shards"].as_u64().unwrap_or(0) > 0,
        "{topology}"
    );
    wait_idle(&client).await;

    let (status, answer) = client.post("/_miroir/nodes/n0/drain", json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(answer["node"]["state"], "draining");
    let (status, refused) = client.delete("/_miroir/nodes/n0").await;
    assert!(
        status == StatusCode::CONFLICT || status == StatusCode::OK,
        "{refused}"
    );
    if status == StatusCode::CONFLICT {
        assert_eq!(refused["code"], "miroir_node_not_drained");
        wait_topology(&client, "n0 drained", |t| node_of(t, "n0")["shards"] == 0).await;
        wait_idle(&client).await;
        let (status, removed) = client.delete("/_miroir/nodes/n0").await;
        assert_eq!(status, StatusCode::OK, "{removed}");
        assert_eq!(removed["node"]["state"], "removed");
    }
    let written = traffic.stop(&client).await;

    let live = [&cluster.nodes[1], &cluster.nodes[2], &newcomer];
    let per_id = copies(&live, "docs").await;
    assert_eq!(
        per_id.len() as u64,
        1200 + written,
        "every document is somewhere"
    );
    let misplaced: Vec<_> = per_id.iter().filter(|(_, n)| **n != 2).collect();
    assert!(
        misplaced.is_empty(),
        "documents not on exactly 2 nodes: {misplaced:?}"
    );
    assert!(!newcomer.client().all_documents("docs").await.is_empty());
    assert!(
        cluster.nodes[0]
            .client()
            .all_documents("docs")
            .await
            .is_empty(),
        "the removed node holds nothing"
    );
    let (_, all) = client
        .post("/indexes/docs/search", json!({"page": 1, "hitsPerPage": 1}))
        .await;
    assert_eq!(all["totalHits"], 1200 + written, "{all}");
    let (_, topology) = client.get("/_miroir/topology").await;
    assert_eq!(node_of(&topology, "n0")["state"], "removed", "{topology}");
}
dual_test!(a_node_joins_then_another_drains_and_leaves);

async fn the_replication_factor_goes_up_and_down(backend: Backend) {
    let cluster = Cluster::start(&backend, 3, 2, 16).await;
    let client = cluster.client();
    client
        .seed_index(
            "docs",
            json!({"filterableAttributes": ["group"]}),
            seed_documents(),
        )
        .await;
    let (status, answer) = client
        .send(
            Method::PATCH,
            "/_miroir/topology",
            json!({"replicationFactor": 4}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["code"], "miroir_invalid_replication_factor");
    let nodes: Vec<&Node> = cluster.nodes.iter().collect();
    for rf in [3, 2] {
        let traffic = Traffic::start(&client);
        let (status, answer) = client
            .send(
                Method::PATCH,
                "/_miroir/topology",
                json!({"replicationFactor": rf}),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
        wait_topology(&client, "rf applied", |t| t["replicationFactor"] == rf).await;
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            let progress = wait_idle(&client).await;
            let per_id = copies(&nodes, "docs").await;
            if per_id.values().all(|n| *n == rf) {
                assert_eq!(progress["state"], "idle");
                break;
            }
            assert!(Instant::now() < deadline, "copies did not reach {rf}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let written = traffic.stop(&client).await;
        let per_id = copies(&nodes, "docs").await;
        assert!(per_id.len() as u64 >= 1200 + written);
        assert!(
            per_id.values().all(|n| *n == rf),
            "every document on {rf} nodes"
        );
    }
}
dual_test!(the_replication_factor_goes_up_and_down);

async fn a_dead_node_removed_with_force_is_replaced_by_copies(backend: Backend) {
    let mut cluster = Cluster::start_processes(&backend, 3, 2, 16, |_| {}).await;
    let client = cluster.client();
    client
        .seed_index(
            "docs",
            json!({"filterableAttributes": ["group"]}),
            seed_documents(),
        )
        .await;
    cluster.nodes[2].kill();
    let (status, refused) = client.delete("/_miroir/nodes/n2").await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert_eq!(refused["code"], "miroir_node_not_drained");
    let (status, removed) = client.delete("/_miroir/nodes/n2?force=true").await;
    assert_eq!(status, StatusCode::OK, "{removed}");
    wait_topology(&client, "n2 holds nothing", |t| {
        node_of(t, "n2")["shards"] == 0
    })
    .await;
    wait_idle(&client).await;
    let survivors = [&cluster.nodes[0], &cluster.nodes[1]];
    let per_id = copies(&survivors, "docs").await;
    assert_eq!(per_id.len(), 1200);
    assert!(
        per_id.values().all(|n| *n == 2),
        "every document on both survivors"
    );
    let (_, found) = client
        .post(
            "/indexes/docs/search",
            json!({"filter": "group = fixed", "page": 1, "hitsPerPage": 1}),
        )
        .await;
    assert_eq!(found["totalHits"], FIXED, "{found}");
    // Writes go on without the removed node.
    client
        .write_ok(
            Method::POST,
            "/indexes/docs/documents",
            json!([{"id": 5000, "group": "late"}]),
        )
        .await;
}
dual_test!(a_dead_node_removed_with_force_is_replaced_by_copies);

/// The whole story with Miroir as a process: 3 nodes, RF 2, 16 shards, 20,000 documents, a
/// writer and a searcher running; a fourth node is added and Miroir killed with SIGKILL in the
/// middle of the move, then started again: the rebalance resumes and finishes. Then the first
/// node is drained and removed. Every answered search counts exactly, every accepted write
/// succeeds, and every document ends on exactly 2 live nodes.
async fn a_rebalance_survives_miroir_being_killed(backend: Backend) {
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(Node::start(&backend).await);
    }
    let refs: Vec<&Node> = nodes.iter().collect();
    let mut miroir = MiroirProcess::start(&refs, 2, 16).await;
    let client = miroir.client();
    let documents: Vec<Value> = (0..20_000)
        .map(|i| {
            let group = if (i as u64) < FIXED { "fixed" } else { "other" };
            json!({"id": i, "group": group})
        })
        .collect();
    client
        .seed_index(
            "docs",
            json!({"filterableAttributes": ["group"]}),
            documents,
        )
        .await;
    let newcomer = Node::start(&backend).await;
    let traffic = Traffic::start(&client);
    let (status, answer) = client
        .post(
            "/_miroir/nodes",
            json!({"id": "n3", "url": newcomer.url(), "apiKey": NODE_KEY}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    // Killed once the rebalance runs (at its first move's copy at the latest).
    let deadline = Instant::now() + Duration::from_secs(60);
    let killed_at = loop {
        let (_, progress) = client.get("/_miroir/rebalance").await;
        if progress["state"] == "running" {
            break progress;
        }
        assert!(
            Instant::now() < deadline,
            "the rebalance did not start: {progress}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    miroir.kill();
    assert!(
        killed_at["movesDone"].as_u64() < killed_at["movesTotal"].as_u64(),
        "killed mid-rebalance: {killed_at}"
    );
    miroir.restart().await;
    let topology = wait_topology(&client, "n3 active", |t| {
        node_of(t, "n3")["state"] == "active"
    })
    .await;
    assert!(
        node_of(&topology, "n3")["shards"].as_u64().unwrap_or(0) > 0,
        "{topology}"
    );
    wait_idle(&client).await;

    let (status, answer) = client.post("/_miroir/nodes/n0/drain", json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    wait_topology(&client, "n0 drained", |t| {
        node_of(t, "n0")["shards"] == 0 && t["rebalance"]["state"] == "idle"
    })
    .await;
    let (status, removed) = client.delete("/_miroir/nodes/n0").await;
    assert_eq!(status, StatusCode::OK, "{removed}");
    let written = traffic.stop(&client).await;

    let live = [&nodes[1], &nodes[2], &newcomer];
    let per_id = copies(&live, "docs").await;
    assert!(
        per_id.len() as u64 >= 20_000 + written,
        "every accepted document is somewhere"
    );
    let misplaced = per_id.values().filter(|n| **n != 2).count();
    assert_eq!(misplaced, 0, "documents not on exactly 2 live nodes");
    assert!(!newcomer.client().all_documents("docs").await.is_empty());
    assert!(
        nodes[0].client().all_documents("docs").await.is_empty(),
        "the removed node holds nothing"
    );
    let (_, found) = client
        .post(
            "/indexes/docs/search",
            json!({"filter": "group = fixed", "page": 1, "hitsPerPage": 1}),
        )
        .await;
    assert_eq!(found["totalHits"], FIXED, "{found}");
}
dual_test!(a_rebalance_survives_miroir_being_killed);

/// Polls `GET /_miroir/indexes/{uid}` until the index is `whole` with no reshape under way.
async fn wait_layout(client: &Client, uid: &str, whole: bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let (status, layout) = client.get(&format!("/_miroir/indexes/{uid}")).await;
        assert_eq!(status, StatusCode::OK, "{layout}");
        if layout["whole"] == whole && layout["reshape"].is_null() {
            return layout;
        }
        assert!(
            Instant::now() < deadline,
            "reshape did not finish: {layout}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A filled sharded index is made whole while a writer and a searcher run, then sharded
/// again: every answered search counts exactly, every write succeeds, and the copies follow
/// (every document on every node, then on exactly RF nodes).
async fn a_filled_index_is_made_whole_and_sharded_again(backend: Backend) {
    let cluster = Cluster::start(&backend, 3, 1, 16).await;
    let client = cluster.client();
    client
        .seed_index(
            "docs",
            json!({"filterableAttributes": ["group"]}),
            seed_documents(),
        )
        .await;
    let nodes: Vec<&Node> = cluster.nodes.iter().collect();
    let (status, unknown) = client
        .send(
            Method::PATCH,
            "/_miroir/indexes/nope",
            json!({"whole": true}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{unknown}");
    assert_eq!(unknown["code"], "index_not_found");
    let (status, bad) = client
        .send(Method::PATCH, "/_miroir/indexes/docs", json!({"whole": 1}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");

    let mut written = 0;
    for (whole, copies_each) in [(true, 3), (false, 1)] {
        let traffic = Traffic::start(&client);
        let (status, answer) = client
            .send(
                Method::PATCH,
                "/_miroir/indexes/docs",
                json!({"whole": whole}),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
        assert_eq!(answer["reshape"]["whole"], whole, "{answer}");
        let layout = wait_layout(&client, "docs", whole).await;
        assert_eq!(layout["shards"], 16, "{layout}");
        // Each writer writes the same ids from the first on.
        written = written.max(traffic.stop(&client).await);
        let per_id = copies(&nodes, "docs").await;
        assert_eq!(
            per_id.len() as u64,
            1200 + written,
            "every document is somewhere"
        );
        let misplaced = per_id.values().filter(|n| **n != copies_each).count();
        assert_eq!(
            misplaced, 0,
            "documents not on exactly {copies_each} node(s)"
        );
        let (_, all) = client
            .post("/indexes/docs/search", json!({"page": 1, "hitsPerPage": 1}))
            .await;
        assert_eq!(all["totalHits"], 1200 + written, "{all}");
        let (status, again) = client
            .send(
                Method::PATCH,
                "/_miroir/indexes/docs",
                json!({"whole": whole}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "nothing to do: {again}");
    }
}
dual_test!(a_filled_index_is_made_whole_and_sharded_again);

/// A reshape resumes where it stood when Miroir is killed with SIGKILL in the middle of it:
/// the index ends whole, every document on every node, and every answered search counted
/// exactly meanwhile.
async fn a_reshape_survives_miroir_being_killed(backend: Backend) {
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(Node::start(&backend).await);
    }
    let refs: Vec<&Node> = nodes.iter().collect();
    let mut miroir = MiroirProcess::start(&refs, 1, 16).await;
    let client = miroir.client();
    let documents: Vec<Value> = (0..20_000)
        .map(|i| {
            let group = if (i as u64) < FIXED { "fixed" } else { "other" };
            json!({"id": i, "group": group})
        })
        .collect();
    client
        .seed_index(
            "docs",
            json!({"filterableAttributes": ["group"]}),
            documents,
        )
        .await;
    let traffic = Traffic::start(&client);
    let (status, answer) = client
        .send(
            Method::PATCH,
            "/_miroir/indexes/docs",
            json!({"whole": true}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    let deadline = Instant::now() + Duration::from_secs(60);
    let killed_at = loop {
        let (_, layout) = client.get("/_miroir/indexes/docs").await;
        if layout["reshape"]["step"] != "planned" {
            break layout;
        }
        assert!(
            Instant::now() < deadline,
            "the reshape did not start: {layout}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    miroir.kill();
    assert_eq!(killed_at["whole"], false, "killed mid-reshape: {killed_at}");
    miroir.restart().await;
    wait_layout(&client, "docs", true).await;
    let written = traffic.stop(&client).await;
    let per_id = copies(&refs, "docs").await;
    assert!(per_id.len() as u64 >= 20_000 + written);
    let misplaced = per_id.values().filter(|n| **n != 3).count();
    assert_eq!(misplaced, 0, "documents not on every node");
    let (_, found) = client
        .post(
            "/indexes/docs/search",
            json!({"filter": "group = fixed", "page": 1, "hitsPerPage": 1}),
        )
        .await;
    assert_eq!(found["totalHits"], FIXED, "{found}");
}
dual_test!(a_reshape_survives_miroir_being_killed);

/// Runs the `miroir` command line toward `miroir_url` (at most 120 seconds); returns its exit
/// code and what it printed.
async fn cli(miroir_url: &str, args: &[&str]) -> (i32, String) {
    let mut command = tokio::process::Command::new(common::workspace_binary("miroir", "miroir"));
    command
        .args(args)
        .env("MIROIR_URL", miroir_url)
        .env("MIROIR_MASTER_KEY", common::MASTER_KEY)
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(120), command.output())
        .await
        .unwrap_or_else(|_| panic!("`miroir {}` did not end", args.join(" ")))
        .expect("the miroir binary runs");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), printed)
}

/// The command line grows and shrinks the fleet: `miroir node add`, `miroir status --watch`
/// (which ends once the rebalance is idle), `miroir node list`, `drain` and `remove`, and says
/// why when it is refused.
async fn the_command_line_adds_drains_and_removes_nodes(backend: Backend) {
    let cluster = Cluster::start(&backend, 2, 1, 8).await;
    let client = cluster.client();
    client
        .seed_index(
            "docs",
            json!({"filterableAttributes": ["group"]}),
            seed_documents(),
        )
        .await;
    let newcomer = Node::start(&backend).await;
    let url = cluster.url();
    let newcomer_url = newcomer.url();

    let (code, printed) = cli(
        &url,
        &["node", "add", "n2", &newcomer_url, "--api-key", NODE_KEY],
    )
    .await;
    assert_eq!(code, 0, "{printed}");
    let (code, printed) = cli(&url, &["status", "--watch"]).await;
    assert_eq!(code, 0, "{printed}");
    let (_, progress) = client.get("/_miroir/rebalance").await;
    assert_eq!(
        progress["state"], "idle",
        "--watch ends when idle: {progress}"
    );
    wait_topology(&client, "n2 active", |t| {
        node_of(t, "n2")["state"] == "active"
    })
    .await;
    let (code, listed) = cli(&url, &["node", "list"]).await;
    assert_eq!(code, 0, "{listed}");
    assert!(
        listed
            .lines()
            .any(|l| l.contains("n2") && l.contains("active")),
        "{listed}"
    );

    let (code, printed) = cli(&url, &["node", "drain", "n0"]).await;
    assert_eq!(code, 0, "{printed}");
    let (code, printed) = cli(&url, &["status", "--watch"]).await;
    assert_eq!(code, 0, "{printed}");
    wait_topology(&client, "n0 drained", |t| {
        node_of(t, "n0")["shards"] == 0 && t["rebalance"]["state"] == "idle"
    })
    .await;
    let (code, printed) = cli(&url, &["node", "remove", "n0"]).await;
    assert_eq!(code, 0, "{printed}");
    let (code, refused) = cli(&url, &["node", "remove", "nowhere"]).await;
    assert_ne!(code, 0, "{refused}");
    assert!(refused.contains("miroir_node_not_found"), "{refused}");

    let (_, all) = client
        .post("/indexes/docs/search", json!({"page": 1, "hitsPerPage": 1}))
        .await;
    assert_eq!(all["totalHits"], 1200, "{all}");
    assert!(cluster.nodes[0]
        .client()
        .all_documents("docs")
        .await
        .is_empty());
}
dual_test!(the_command_line_adds_drains_and_removes_nodes);
