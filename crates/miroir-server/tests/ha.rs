//! Two Miroir processes over one Redis (a real `redis-server` on an ephemeral port) and 3
//! nodes at RF=2: clients alternate between them for writes, task polling and searches.
//!
//! - The process holding the lease is killed with SIGKILL under load: every acknowledged task
//!   reaches a final status, nothing acknowledged is lost, no node applied a journal call
//!   twice (each `miroir:{seq}:{call}` tag at most once on each node), every acknowledged
//!   task is announced by webhook — twice only if it was in the one call the killed process
//!   had in flight —, and the survivor takes over within `lease_ttl` plus one second.
//! - The process holding the lease is paused (SIGSTOP) past its lease and resumed (SIGCONT):
//!   it gives the work up, and makes no effective write (the same invariants hold, and it says
//!   it no longer leads).
//!
//! Skipped, with a line on stderr, where `redis-server` is not installed (CI installs it and
//! sets `MIROIR_REQUIRE_REDIS`, which turns the skip into a failure).

#[macro_use]
mod common;

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::routing::post;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use common::{tags_on, task_uid, Backend, Client, MiroirProcess, Node, NODE_KEY};
use miroir_testnode::redis_server::RedisServer;

/// The lease's TTL in these tests: short, so that a takeover is quick to wait for.
const LEASE_TTL: Duration = Duration::from_millis(2000);

/// Two Miroirs over one Redis and three nodes.
struct Pair {
    miroirs: Vec<MiroirProcess>,
    nodes: Vec<Node>,
    logs: tempfile::TempDir,
    _redis: RedisServer,
}

impl Pair {
    async fn start(backend: &Backend) -> Option<Pair> {
        let redis = RedisServer::start()?;
        let mut nodes = Vec::new();
        for _ in 0..3 {
            nodes.push(Node::start(backend).await);
        }
        let logs = tempfile::tempdir().expect("temp dir");
        let store = format!("--task-store={}", redis.url(0));
        let ttl = format!("--lease-ttl-ms={}", LEASE_TTL.as_millis());
        let node_refs: Vec<&Node> = nodes.iter().collect();
        let mut miroirs = Vec::new();
        for i in 0..2 {
            miroirs.push(
                MiroirProcess::start_logged(
                    &node_refs,
                    2,
                    16,
                    &[&store, &ttl],
                    Some(logs.path().join(format!("miroir-{i}.log"))),
                )
                .await,
            );
        }
        Some(Pair {
            miroirs,
            nodes,
            logs,
            _redis: redis,
        })
    }

    fn clients(&self) -> Vec<Client> {
        self.miroirs.iter().map(MiroirProcess::client).collect()
    }

    fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.logs.path().join(format!("miroir-{i}.log")))
            .unwrap_or_default()
    }
}

/// Waits until one of `clients` says it holds the lease; returns its position.
async fn leader(clients: &[Client], within: Duration) -> usize {
    let deadline = Instant::now() + within;
    loop {
        for (i, client) in clients.iter().enumerate() {
            let (status, lease) = client
                .try_send(Method::GET, "/_miroir/lease", Value::Null)
                .await;
            if status == Some(StatusCode::OK) && lease["leading"] == true {
                return i;
            }
        }
        assert!(Instant::now() < deadline, "no process took the lease");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What a webhook receiver got: the uids of the tasks each call announced, call by call.
type Announcements = Arc<Mutex<Vec<Vec<u64>>>>;

/// A webhook receiver recording [`Announcements`].
async fn webhook_receiver() -> (String, Announcements, tokio::task::JoinHandle<()>) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let sink = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        post(move |body: axum::body::Bytes| {
            let sink = sink.clone();
            async move {
                let mut text = String::new();
                let _ = std::io::Read::read_to_string(
                    &mut flate2::read::GzDecoder::new(&body[..]),
                    &mut text,
                );
                let uids = text
                    .lines()
                    .filter_map(|line| serde_json::from_str::<Value>(line).ok())
                    .filter_map(|task| task["uid"].as_u64())
                    .collect();
                sink.lock().expect("sink").push(uids);
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, received, server)
}

/// Writes batches of 20 documents, alternating between `clients`, one every 5 ms or so, until
/// `stop` (at most 2,000 batches or a minute); returns the acknowledged tasks with their document ids. A refused connection
/// (a process down) is not acknowledged; any other answer than `202` fails the test.
async fn write_stream(
    clients: Vec<Client>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> Vec<(u64, Vec<u64>)> {
    let mut acknowledged = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    for batch in 0..2000u64 {
        if stop.load(std::sync::atomic::Ordering::SeqCst) || Instant::now() > deadline {
            break;
        }
        let client = &clients[batch as usize % clients.len()];
        let ids: Vec<u64> = (batch * 20..batch * 20 + 20).collect();
        let documents: Vec<Value> = ids
            .iter()
            .map(|id| json!({"id": id, "batch": batch}))
            .collect();
        let (status, answer) = client
            .try_send(
                Method::POST,
                "/indexes/docs/documents",
                Value::Array(documents),
            )
            .await;
        match status {
            Some(StatusCode::ACCEPTED) => {
                acknowledged.push((task_uid(&answer), ids));
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            None => tokio::time::sleep(Duration::from_millis(20)).await,
            Some(other) => panic!("write refused with {other}: {answer}"),
        }
    }
    acknowledged
}

/// Checks what must hold after the stream: every acknowledged task succeeded (asked of each
/// live process in turn), every acknowledged document is searchable through each, and no node
/// applied a call twice.
async fn check_nothing_lost_or_repeated(
    live: &[Client],
    nodes: &[Node],
    acknowledged: &[(u64, Vec<u64>)],
) {
    for (i, (uid, _)) in acknowledged.iter().enumerate() {
        let task = live[i % live.len()].wait_task(*uid).await;
        assert_eq!(task["status"], "succeeded", "{task}");
    }
    let expected: BTreeSet<u64> = acknowledged
        .iter()
        .flat_map(|(_, ids)| ids.clone())
        .collect();
    for client in live {
        let (status, found) = client
            .post(
                "/indexes/docs/search",
                json!({"q": "", "page": 1, "hitsPerPage": 1}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{found}");
        assert!(
            found["totalHits"].as_u64() >= Some(expected.len() as u64),
            "{} acknowledged documents, {} found",
            expected.len(),
            found["totalHits"]
        );
        let listing = client.all_documents("docs").await;
        let held: BTreeSet<u64> = listing.iter().filter_map(|d| d["id"].as_u64()).collect();
        let lost: Vec<&u64> = expected.difference(&held).collect();
        assert!(lost.is_empty(), "acknowledged documents lost: {lost:?}");
    }
    for (i, node) in nodes.iter().enumerate() {
        let tags = tags_on(&node.client()).await;
        assert!(!tags.is_empty(), "node {i} has tagged tasks");
        let repeated: Vec<_> = tags.iter().filter(|(_, count)| **count > 1).collect();
        assert!(
            repeated.is_empty(),
            "node {i} applied calls twice: {repeated:?}"
        );
    }
}

async fn two_processes_share_one_cluster_and_survive_the_leaseholder(backend: Backend) {
    let Some(mut pair) = Pair::start(&backend).await else {
        return;
    };
    let clients = pair.clients();
    let (hook_url, hooked, hook_server) = webhook_receiver().await;
    let (status, _) = clients[1].post("/webhooks", json!({"url": hook_url})).await;
    assert_eq!(status, StatusCode::CREATED);

    // A task created on one process is visible and pollable on the other at once.
    let (status, created) = clients[0]
        .post("/indexes", json!({"uid": "docs", "primaryKey": "id"}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{created}");
    let uid = task_uid(&created);
    let (status, seen) = clients[1].get(&format!("/tasks/{uid}")).await;
    assert_eq!(status, StatusCode::OK, "{seen}");
    assert_eq!(clients[1].wait_task(uid).await["status"], "succeeded");

    // An API key created on one works on the other; deleted on the other, it stops working
    // on the first (whose key cache must follow).
    let (status, key) = clients[0]
        .post(
            "/keys",
            json!({"actions": ["search"], "indexes": ["docs"], "expiresAt": null}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{key}");
    let searcher = clients[1].with_key(key["key"].as_str());
    let (status, _) = searcher
        .post("/indexes/docs/search", json!({"q": ""}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = clients[0]
        .delete(&format!("/keys/{}", key["uid"].as_str().expect("uid")))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (status, _) = searcher
            .post("/indexes/docs/search", json!({"q": ""}))
            .await;
        if status == StatusCode::FORBIDDEN {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "a deleted key still works on the other process"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Writes alternate between the two while the leaseholder is killed.
    let holder = leader(&clients, LEASE_TTL * 3).await;
    let survivor = 1 - holder;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = tokio::spawn(write_stream(clients.clone(), stop.clone()));
    let searcher = {
        let clients = clients.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut failed = 0;
            let mut round = 0usize;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) && round < 2000 {
                let (status, _) = clients[round % 2]
                    .try_send(Method::POST, "/indexes/docs/search", json!({"q": "1"}))
                    .await;
                if status.is_some_and(|s| s != StatusCode::OK) {
                    failed += 1;
                }
                round += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            failed
        })
    };
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(1500) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    pair.miroirs[holder].kill();
    let killed = Instant::now();
    let took_over = leader(&clients[survivor..=survivor], LEASE_TTL * 3).await;
    assert_eq!(took_over, 0);
    let takeover = killed.elapsed();
    assert!(
        takeover <= LEASE_TTL + Duration::from_secs(1),
        "the survivor took over after {takeover:?}"
    );
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(1500) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let acknowledged = writer.await.expect("writer");
    let failed_searches = searcher.await.expect("searcher");
    assert!(
        acknowledged.len() > 10,
        "only {} writes acknowledged",
        acknowledged.len()
    );
    assert_eq!(failed_searches, 0, "searches answered with an error");
    let live = vec![clients[survivor].clone()];
    check_nothing_lost_or_repeated(&live, &pair.nodes, &acknowledged).await;

    // Webhooks: every acknowledged task announced; a task announced twice only if it was in
    // the one call the killed process had in flight (its successor announces that batch again).
    let deadline = Instant::now() + Duration::from_secs(5);
    let announced = || -> BTreeSet<u64> {
        hooked
            .lock()
            .expect("hooked")
            .iter()
            .flatten()
            .copied()
            .collect()
    };
    loop {
        let missing: Vec<u64> = acknowledged
            .iter()
            .map(|(uid, _)| *uid)
            .filter(|uid| !announced().contains(uid))
            .collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "finished tasks never announced by webhook: {missing:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let calls = hooked.lock().expect("hooked").clone();
    let mut seen = BTreeSet::new();
    let twice: BTreeSet<u64> = calls
        .iter()
        .flatten()
        .filter(|uid| !seen.insert(**uid))
        .copied()
        .collect();
    assert!(
        twice.is_empty()
            || calls
                .iter()
                .any(|call| twice.iter().all(|uid| call.contains(uid))),
        "tasks announced twice beyond the one call in flight at the kill: {twice:?}"
    );
    eprintln!(
        "{} writes acknowledged; takeover after {takeover:?}; {} task completions announced by webhook in {} calls, {} of them again after the kill",
        acknowledged.len(),
        seen.len(),
        calls.len(),
        twice.len()
    );
    hook_server.abort();
}

dual_test!(two_processes_share_one_cluster_and_survive_the_leaseholder);

async fn a_paused_leaseholder_makes_no_effective_write(backend: Backend) {
    let Some(pair) = Pair::start(&backend).await else {
        return;
    };
    let clients = pair.clients();
    clients[0]
        .write_ok(
            Method::POST,
            "/indexes",
            json!({"uid": "docs", "primaryKey": "id"}),
        )
        .await;
    let holder = leader(&clients, LEASE_TTL * 3).await;
    let other = 1 - holder;
    let pid = pair.miroirs[holder].pid().expect("running").to_string();

    // Writes go to the other process only (a paused one would hold them); the holder is
    // paused mid-stream, past its lease, then resumed.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = tokio::spawn(write_stream(vec![clients[other].clone()], stop.clone()));
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(800) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stopped = Command::new("kill").args(["-STOP", &pid]).status();
    assert!(stopped.is_ok_and(|s| s.success()), "SIGSTOP sent");
    let paused = Instant::now();
    let took_over = leader(&clients[other..=other], LEASE_TTL * 3).await;
    assert_eq!(took_over, 0);
    assert!(paused.elapsed() <= LEASE_TTL + Duration::from_secs(1));
    // Past the lease, with the other process delivering.
    while paused.elapsed() < LEASE_TTL * 2 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let resumed = Command::new("kill").args(["-CONT", &pid]).status();
    assert!(resumed.is_ok_and(|s| s.success()), "SIGCONT sent");
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(1500) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let acknowledged = writer.await.expect("writer");
    assert!(
        acknowledged.len() > 10,
        "only {} writes acknowledged",
        acknowledged.len()
    );

    // The resumed process knows it lost the lease, and the other still holds it.
    let (status, lease) = clients[holder].get("/_miroir/lease").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(lease["leading"], false, "{lease}");
    let (_, lease) = clients[other].get("/_miroir/lease").await;
    assert_eq!(lease["leading"], true, "{lease}");
    check_nothing_lost_or_repeated(&clients, &pair.nodes, &acknowledged).await;
    let log = pair.log(holder);
    assert!(
        log.contains("the lease was lost to another process")
            || log.contains("the work that runs once stopped here"),
        "the resumed process did not give the work up"
    );
    eprintln!(
        "{} writes acknowledged; the resumed process had {} writes refused by fencing",
        acknowledged.len(),
        log.matches("fencing").count()
    );
}

dual_test!(a_paused_leaseholder_makes_no_effective_write);

/// Polls `client`'s `path` until `ready` holds for its answer (at most two minutes).
async fn wait_for(client: &Client, path: &str, what: &str, ready: impl Fn(&Value) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (_, answer) = client.get(path).await;
        if ready(&answer) {
            return;
        }
        assert!(Instant::now() < deadline, "timed out: {what}: {answer}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The shards `id` holds in a `/_miroir/topology` answer (`None` when it is not listed).
fn shards_of(topology: &Value, id: &str) -> Option<u64> {
    topology["nodes"]
        .as_array()?
        .iter()
        .find(|node| node["id"] == id)?["shards"]
        .as_u64()
}

async fn nodes_added_and_removed_through_one_process_change_the_others_fleet(backend: Backend) {
    let Some(pair) = Pair::start(&backend).await else {
        return;
    };
    let clients = pair.clients();
    let holder = leader(&clients, LEASE_TTL * 3).await;
    let (leading, following) = (&clients[holder], &clients[1 - holder]);
    let documents: Vec<Value> = (0..200).map(|i| json!({"id": i, "n": i})).collect();
    leading.seed_index("docs", Value::Null, documents).await;

    // Grown through the process that does not hold the lease: the holder moves shards to the
    // newcomer, and both processes read from it.
    let newcomer = Node::start(&backend).await;
    let (status, answer) = following
        .post(
            "/_miroir/nodes",
            json!({"id": "n3", "url": newcomer.url(), "apiKey": NODE_KEY}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    wait_for(leading, "/_miroir/topology", "n3 holds shards", |t| {
        shards_of(t, "n3").is_some_and(|shards| shards > 0)
    })
    .await;
    wait_for(leading, "/_miroir/rebalance", "rebalance idle", |r| {
        r["state"] == "idle"
    })
    .await;

    // Shrunk through it too: n0 drained, then removed.
    let (status, answer) = following.post("/_miroir/nodes/n0/drain", json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    wait_for(leading, "/_miroir/topology", "n0 drained", |t| {
        shards_of(t, "n0") == Some(0)
    })
    .await;
    wait_for(leading, "/_miroir/rebalance", "rebalance idle", |r| {
        r["state"] == "idle"
    })
    .await;
    let (status, answer) = following.delete("/_miroir/nodes/n0").await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    wait_for(
        leading,
        "/_miroir/nodes",
        "n0 left the holder's fleet",
        |nodes| {
            nodes["results"]
                .as_array()
                .is_some_and(|nodes| !nodes.is_empty() && nodes.iter().all(|n| n["id"] != "n0"))
        },
    )
    .await;

    // Each process now writes to the fleet without n0: an index created through either
    // succeeds and reaches the newcomer, never the removed node.
    for (i, client) in [leading, following].into_iter().enumerate() {
        let uid = format!("after-{i}");
        let task = client
            .write(
                Method::POST,
                "/indexes",
                json!({"uid": uid, "primaryKey": "id"}),
            )
            .await;
        assert_eq!(task["status"], "succeeded", "{task}");
        let (on_newcomer, _) = newcomer.client().get(&format!("/indexes/{uid}")).await;
        let (on_removed, _) = pair.nodes[0].client().get(&format!("/indexes/{uid}")).await;
        assert_eq!(on_newcomer, StatusCode::OK, "{uid} reached the newcomer");
        assert_eq!(
            on_removed,
            StatusCode::NOT_FOUND,
            "{uid} reached the removed node through the process {}",
            if i == 0 {
                "holding the lease"
            } else {
                "not holding it"
            }
        );
        let (_, all) = client
            .post("/indexes/docs/search", json!({"page": 1, "hitsPerPage": 1}))
            .await;
        assert_eq!(all["totalHits"], 200, "{all}");
    }
}

dual_test!(nodes_added_and_removed_through_one_process_change_the_others_fleet);
