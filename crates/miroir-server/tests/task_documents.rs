//! `GET /tasks/{uid}/documents` answers as one Meilisearch does: refused unless the
//! `getTaskDocumentsRoute` experimental feature is on, `task_not_found` for an unknown task,
//! the documents of a document addition still enqueued or processing (here: waiting for a
//! killed node), and `task_file_not_found` once it finished.

#[macro_use]
mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use common::{task_uid, Backend, Cluster};

/// The documents of an NDJSON answer (one document parses as a JSON object, several do not
/// parse as JSON and come back as text).
fn ndjson_documents(answer: &Value) -> Vec<Value> {
    match answer {
        Value::String(text) => text
            .lines()
            .filter(|line| !line.is_empty())
            .map(|line| serde_json::from_str(line).expect("an NDJSON line"))
            .collect(),
        Value::Object(_) => vec![answer.clone()],
        other => panic!("not NDJSON: {other}"),
    }
}

async fn a_pending_document_addition_shows_its_documents(backend: Backend) {
    let mut cluster = Cluster::start_processes(&backend, 2, 2, 4, |config| {
        config.replica_timeout = Duration::from_secs(600);
        config.health_interval = Duration::from_millis(100);
    })
    .await;
    let client = cluster.client();
    let (status, refused) = client.get("/tasks/0/documents").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert_eq!(refused["code"], "feature_not_enabled");
    let (status, features) = client
        .send(
            Method::PATCH,
            "/experimental-features",
            json!({"getTaskDocumentsRoute": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{features}");

    let created = client
        .write_ok(
            Method::POST,
            "/indexes",
            json!({"uid": "docs", "primaryKey": "id"}),
        )
        .await;
    let (status, missing) = client.get("/tasks/987654/documents").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{missing}");
    assert_eq!(missing["code"], "task_not_found");
    let (status, none) = client
        .get(&format!("/tasks/{}/documents", created["uid"]))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{none}");
    assert_eq!(none["code"], "task_file_not_found");

    // With one of the two owners down, the addition waits for it (its replica goes stale only
    // after `replica_timeout`): it stays enqueued or processing, and its documents are shown.
    cluster.nodes[1].kill();
    let documents: Vec<Value> = (0..12)
        .map(|i| json!({"id": i, "title": format!("document {i}")}))
        .collect();
    let (status, accepted) = client
        .post("/indexes/docs/documents", Value::Array(documents.clone()))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let uid = task_uid(&accepted);
    let (status, answer) = client.get(&format!("/tasks/{uid}/documents")).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let shown = ndjson_documents(&answer);
    let shown_set: BTreeSet<String> = shown.iter().map(Value::to_string).collect();
    let sent_set: BTreeSet<String> = documents.iter().map(Value::to_string).collect();
    assert_eq!(shown.len(), documents.len(), "each document once");
    assert_eq!(shown_set, sent_set, "the documents as sent, no marker");
    let (_, task) = client.get(&format!("/tasks/{uid}")).await;
    assert!(
        task["status"] == "enqueued" || task["status"] == "processing",
        "{task}"
    );

    cluster.nodes[1].restart().await;
    assert_eq!(client.wait_task(uid).await["status"], "succeeded");
    let (status, gone) = client.get(&format!("/tasks/{uid}/documents")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{gone}");
    assert_eq!(gone["code"], "task_file_not_found");
}

dual_test!(a_pending_document_addition_shows_its_documents);
