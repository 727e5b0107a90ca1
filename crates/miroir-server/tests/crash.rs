//! Miroir itself killed with SIGKILL in the middle of a write stream, then started again on
//! its state directory: every acknowledged task reaches a final status (succeeded), nothing
//! acknowledged is lost, and no node applied a journal call twice (each node's task list shows
//! each `miroir:{seq}:{call}` tag at most once).

#[macro_use]
mod common;

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use common::{
    free_port, tags_on, task_uid, workspace_binary, Backend, Client, Node, MASTER_KEY, NODE_KEY,
};

/// `miroir serve` as a process over `nodes`, on `db_path`.
struct MiroirProcess {
    args: Vec<String>,
    log: std::path::PathBuf,
    child: Option<Child>,
    url: String,
}

impl MiroirProcess {
    async fn start(nodes: &[Node], db_path: &std::path::Path) -> MiroirProcess {
        let port = free_port();
        let mut args = vec![
            "serve".to_string(),
            "--http-addr".to_string(),
            format!("127.0.0.1:{port}"),
            "--master-key".to_string(),
            MASTER_KEY.to_string(),
            "--db-path".to_string(),
            db_path.display().to_string(),
            "--replication-factor".to_string(),
            "2".to_string(),
            "--shards".to_string(),
            "16".to_string(),
            "--nodes-api-key".to_string(),
            NODE_KEY.to_string(),
        ];
        for (i, node) in nodes.iter().enumerate() {
            args.push("--node".to_string());
            args.push(format!("n{i}={}", node.url()));
        }
        let mut miroir = MiroirProcess {
            args,
            log: db_path.with_extension("log"),
            child: None,
            url: format!("http://127.0.0.1:{port}"),
        };
        miroir.spawn().await;
        miroir
    }

    async fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log file");
        let child = Command::new(workspace_binary("miroir", "miroir"))
            .args(&self.args)
            .env("MIROIR_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("miroir starts");
        self.child = Some(child);
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = http.get(format!("{}/health", self.url)).send().await {
                if r.status().is_success() {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "miroir did not come up");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("SIGKILL sent");
            child.wait().expect("miroir reaped");
        }
    }
}

impl Drop for MiroirProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn miroir_killed_mid_stream_loses_and_repeats_nothing(backend: Backend) {
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(Node::start_process(&backend).await);
    }
    let state = tempfile::tempdir().expect("temp dir");
    let mut miroir = MiroirProcess::start(&nodes, &state.path().join("miroir")).await;
    let client = Client::new(miroir.url.clone(), MASTER_KEY);
    client
        .write_ok(
            Method::POST,
            "/indexes",
            json!({"uid": "docs", "primaryKey": "id"}),
        )
        .await;

    // A stream of writes, sent without waiting for their tasks, while Miroir is killed (its
    // delivery loops busy sending) and started again. Requests that reach no running Miroir
    // are not acknowledged; every acknowledged one must take effect exactly once.
    let writer = {
        let client = client.clone();
        tokio::spawn(async move {
            let mut acknowledged: Vec<(u64, Vec<u64>)> = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(60);
            for batch in 0..120u64 {
                if Instant::now() > deadline {
                    break;
                }
                let ids: Vec<u64> = (batch * 25..batch * 25 + 25).collect();
                let documents: Vec<Value> =
                    ids.iter().map(|id| json!({"id": id, "n": batch})).collect();
                let (status, answer) = client
                    .try_send(
                        Method::POST,
                        "/indexes/docs/documents",
                        Value::Array(documents),
                    )
                    .await;
                if status == Some(StatusCode::ACCEPTED) {
                    acknowledged.push((task_uid(&answer), ids));
                } else {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            acknowledged
        })
    };
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(300) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    miroir.kill();
    miroir.spawn().await;
    let acknowledged = writer.await.expect("writer");
    assert!(
        acknowledged.len() > 40,
        "only {} writes acknowledged",
        acknowledged.len()
    );
    for (uid, _) in &acknowledged {
        let task = client.wait_task(*uid).await;
        assert_eq!(task["status"], "succeeded", "{task}");
    }
    let (status, listing) = client
        .get("/indexes/docs/documents?limit=5000&fields=id")
        .await;
    assert_eq!(status, StatusCode::OK);
    let held: BTreeSet<u64> = listing["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter_map(|d| d["id"].as_u64())
        .collect();
    for (uid, ids) in &acknowledged {
        for id in ids {
            assert!(
                held.contains(id),
                "document {id} of acknowledged task {uid} is lost"
            );
        }
    }
    let log = std::fs::read_to_string(&miroir.log).unwrap_or_default();
    eprintln!(
        "{} writes acknowledged; after the restart, {} delivery loops found calls their node had accepted unrecorded",
        acknowledged.len(),
        log.matches("recorded calls the node had already accepted").count()
    );
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

dual_test!(miroir_killed_mid_stream_loses_and_repeats_nothing);
