//! `POST /_miroir/verify` and `miroir verify --repair`: a document deleted on one node behind
//! Miroir's back, and another changed on one node, are found, and the repair (journaled like
//! any write) makes every replica agree again (with two replicas of a changed document,
//! nothing tells which is right: they agree, on the reference replica's contents).

#[macro_use]
mod common;

use std::process::Command;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use common::{workspace_binary, Backend, Cluster, MASTER_KEY};

/// The nodes (by position) holding document `id` of index `docs`.
async fn holders(cluster: &Cluster, id: u64) -> Vec<usize> {
    let mut held = Vec::new();
    for (position, node) in cluster.nodes.iter().enumerate() {
        let (status, _) = node
            .client()
            .get(&format!("/indexes/docs/documents/{id}"))
            .await;
        if status == StatusCode::OK {
            held.push(position);
        }
    }
    held
}

async fn verify_finds_and_repairs_a_divergence(backend: Backend) {
    let cluster = Cluster::start(&backend, 3, 2, 8).await;
    let client = cluster.client();
    client
        .write_ok(
            Method::POST,
            "/indexes",
            json!({"uid": "docs", "primaryKey": "id"}),
        )
        .await;
    let documents: Vec<Value> = (0..300)
        .map(|id| json!({"id": id, "text": format!("document {id}")}))
        .collect();
    client
        .write_ok(
            Method::POST,
            "/indexes/docs/documents",
            Value::Array(documents),
        )
        .await;
    let (status, report) = client.post("/_miroir/verify", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["consistent"], true, "{report}");
    assert_eq!(report["indexes"][0]["documents"], 300, "{report}");

    // Behind Miroir's back: document 7 deleted on one of its nodes, document 8 changed on one.
    let seven = holders(&cluster, 7).await;
    assert_eq!(seven.len(), 2);
    let node = cluster.nodes[seven[0]].client();
    let (status, answer) = node.delete("/indexes/docs/documents/7").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    node.wait_task(answer["taskUid"].as_u64().expect("task"))
        .await;
    let eight = holders(&cluster, 8).await;
    let node = cluster.nodes[eight[1]].client();
    let (status, answer) = node
        .send(
            Method::PUT,
            "/indexes/docs/documents",
            json!([{"id": 8, "text": "tampered"}]),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    node.wait_task(answer["taskUid"].as_u64().expect("task"))
        .await;

    let (status, report) = client.post("/_miroir/verify", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["consistent"], false, "{report}");
    let text = report.to_string();
    assert!(
        text.contains("\"7\""),
        "the missing document is named: {report}"
    );
    assert!(
        text.contains("\"8\""),
        "the changed document is named: {report}"
    );
    assert!(report["repairTasks"].as_array().is_some_and(Vec::is_empty));

    let output = Command::new(workspace_binary("miroir", "miroir"))
        .args([
            "verify",
            "--url",
            &cluster.url(),
            "--master-key",
            MASTER_KEY,
            "--repair",
        ])
        .output()
        .expect("miroir verify runs");
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{printed}");
    assert!(printed.contains("every replica agrees"), "{printed}");

    let (_, report) = client.post("/_miroir/verify", json!({})).await;
    assert_eq!(report["consistent"], true, "{report}");
    assert_eq!(holders(&cluster, 7).await.len(), 2, "document 7 restored");
    // With two replicas nothing tells which copy of document 8 is right: they agree again.
    let mut copies = Vec::new();
    for position in holders(&cluster, 8).await {
        let (_, document) = cluster.nodes[position]
            .client()
            .get("/indexes/docs/documents/8")
            .await;
        copies.push(document["text"].clone());
    }
    assert_eq!(copies.len(), 2);
    assert_eq!(copies[0], copies[1], "{copies:?}");
    let (status, document) = client.get("/indexes/docs/documents/7").await;
    assert_eq!(status, StatusCode::OK, "{document}");
}

dual_test!(verify_finds_and_repairs_a_divergence);
