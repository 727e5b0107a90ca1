//! Index lifecycle (create, list, get, update, swap, delete), partial updates and the task
//! API's filters, pagination, cancelation and deletion, compared with one plain node.

#[macro_use]
mod common;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use common::{task_uid, Backend, Client, Cluster, Node};

/// Runs the same scenario on Miroir and on a plain node; returns what both answered.
async fn scenario(client: &Client) -> Vec<Value> {
    let mut seen = Vec::new();
    for uid in ["alpha", "beta", "gamma"] {
        let task = client
            .write_ok(Method::POST, "/indexes", json!({"uid": uid}))
            .await;
        seen.push(task["details"].clone());
    }
    let (_, list) = client.get("/indexes?offset=1&limit=1").await;
    let uids: Vec<&str> = list["results"]
        .as_array()
        .map(|r| r.iter().filter_map(|i| i["uid"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(uids, ["beta"]);
    assert_eq!(
        (
            list["offset"].as_u64(),
            list["limit"].as_u64(),
            list["total"].as_u64()
        ),
        (Some(1), Some(1), Some(3))
    );

    // Primary key of an empty index can be set; then documents route with it.
    let task = client
        .write_ok(
            Method::PATCH,
            "/indexes/alpha",
            json!({"primaryKey": "key"}),
        )
        .await;
    seen.push(task["details"].clone());
    let (_, alpha) = client.get("/indexes/alpha").await;
    assert_eq!(alpha["primaryKey"], "key");
    let documents: Vec<Value> = (0..60)
        .map(|i| json!({"key": format!("k{i}"), "n": i, "tag": "old"}))
        .collect();
    client
        .write_ok(
            Method::POST,
            "/indexes/alpha/documents",
            Value::Array(documents),
        )
        .await;
    // Changing the key of a non-empty index fails, as on Meilisearch.
    let task = client
        .write(Method::PATCH, "/indexes/alpha", json!({"primaryKey": "n"}))
        .await;
    assert_eq!(task["status"], "failed", "{task}");
    seen.push(task["error"]["code"].clone());
    let (_, alpha) = client.get("/indexes/alpha").await;
    assert_eq!(alpha["primaryKey"], "key");

    // PUT merges fields, POST replaces documents.
    client
        .write_ok(
            Method::PUT,
            "/indexes/alpha/documents",
            json!([{"key": "k1", "tag": "new"}]),
        )
        .await;
    client
        .write_ok(
            Method::POST,
            "/indexes/alpha/documents",
            json!([{"key": "k2", "tag": "replaced"}]),
        )
        .await;
    let (_, k1) = client.get("/indexes/alpha/documents/k1").await;
    assert_eq!(k1, json!({"key": "k1", "n": 1, "tag": "new"}));
    let (_, k2) = client.get("/indexes/alpha/documents/k2").await;
    assert_eq!(k2, json!({"key": "k2", "tag": "replaced"}));

    // Swap: alpha's documents now answer under beta.
    let task = client
        .write_ok(
            Method::POST,
            "/swap-indexes",
            json!([{"indexes": ["alpha", "beta"]}]),
        )
        .await;
    seen.push(task["details"].clone());
    let (_, beta) = client.get("/indexes/beta/documents?limit=100").await;
    assert_eq!(beta["total"], 60);
    let (_, alpha) = client.get("/indexes/alpha/documents").await;
    assert_eq!(alpha["total"], 0);
    let (_, beta_info) = client.get("/indexes/beta").await;
    assert_eq!(beta_info["primaryKey"], "key");

    // Rename.
    let task = client
        .write_ok(Method::PATCH, "/indexes/gamma", json!({"uid": "delta"}))
        .await;
    seen.push(task["details"].clone());
    let (status, _) = client.get("/indexes/gamma").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = client.get("/indexes/delta").await;
    assert_eq!(status, StatusCode::OK);

    // Deletion, and deleting what does not exist.
    let task = client
        .write_ok(Method::DELETE, "/indexes/beta", Value::Null)
        .await;
    seen.push(task["details"].clone());
    let task = client
        .write(Method::DELETE, "/indexes/beta", Value::Null)
        .await;
    seen.push(task["error"]["code"].clone());

    // Task listing: filters and pagination.
    let (_, page) = client
        .get("/tasks?limit=2&types=indexCreation&reverse=true")
        .await;
    assert_eq!(page["results"].as_array().map(Vec::len), Some(2));
    assert_eq!(page["total"], 3);
    let next = page["next"].as_u64().unwrap_or(u64::MAX);
    let (_, rest) = client
        .get(&format!(
            "/tasks?limit=2&types=indexCreation&reverse=true&from={next}"
        ))
        .await;
    assert_eq!(rest["results"].as_array().map(Vec::len), Some(1));
    assert_eq!(rest["next"], Value::Null);
    let (_, failed) = client.get("/tasks?statuses=failed").await;
    assert_eq!(failed["total"], 2);
    let (_, by_index) = client.get("/tasks?indexUids=delta,gamma").await;
    seen.push(by_index["total"].clone());

    // Task deletion answers 200 and removes finished tasks.
    let (status, answer) = client
        .raw(Method::DELETE, "/tasks?statuses=failed", None, Vec::new())
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let task = client.wait_task(task_uid(&answer)).await;
    assert_eq!(task["details"]["deletedTasks"], 2, "{task}");
    seen.push(task["details"].clone());
    let (_, failed) = client.get("/tasks?statuses=failed").await;
    assert_eq!(failed["total"], 0);
    seen
}

async fn index_lifecycle(backend: Backend) {
    let cluster = Cluster::start(&backend, 3, 2, 8).await;
    let reference = Node::start(&backend).await;
    let through_miroir = scenario(&cluster.client()).await;
    let on_one_node = scenario(&reference.client()).await;
    assert_eq!(through_miroir, on_one_node);
}
dual_test!(index_lifecycle);

async fn task_cancelation(backend: Backend) {
    let cluster = Cluster::start(&backend, 2, 2, 4).await;
    let client = cluster.client();
    // A large addition keeps the nodes busy while later tasks wait.
    let documents: Vec<Value> = (0..20_000)
        .map(|i| json!({"id": i, "text": format!("document number {i} with some words")}))
        .collect();
    let (_, first) = client
        .post("/indexes/busy/documents", Value::Array(documents.clone()))
        .await;
    let (_, second) = client
        .post("/indexes/busy/documents", Value::Array(documents))
        .await;
    let target = task_uid(&second);
    let (status, answer) = client
        .raw(
            Method::POST,
            &format!("/tasks/cancel?uids={target}"),
            None,
            Vec::new(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["type"], "taskCancelation");
    let cancel = client.wait_task(task_uid(&answer)).await;
    assert_eq!(cancel["status"], "succeeded", "{cancel}");
    assert_eq!(cancel["details"]["matchedTasks"], 1);
    let canceled = client.wait_task(target).await;
    let done = client.wait_task(task_uid(&first)).await;
    assert_eq!(done["status"], "succeeded");
    // The second addition was either canceled in time, or had already finished.
    if canceled["status"] == "canceled" {
        assert_eq!(canceled["canceledBy"], cancel["uid"]);
        assert_eq!(cancel["details"]["canceledTasks"], 1);
    } else {
        assert_eq!(canceled["status"], "succeeded");
        assert_eq!(cancel["details"]["canceledTasks"], 0);
    }
}
dual_test!(task_cancelation);

/// Each Miroir task is its own batch, with Meilisearch's batch object shape.
#[tokio::test]
async fn batches_mirror_tasks() {
    let cluster = Cluster::start(&Backend::TestNode, 2, 1, 4).await;
    let client = cluster.client();
    let task = client
        .write_ok(
            Method::POST,
            "/indexes/b/documents",
            json!([{"id": 1}, {"id": 2}]),
        )
        .await;
    let uid = task["uid"].as_u64().unwrap_or(u64::MAX);
    let (status, batch) = client.get(&format!("/batches/{uid}")).await;
    assert_eq!(status, StatusCode::OK, "{batch}");
    assert_eq!(batch["uid"], uid);
    assert_eq!(batch["details"], task["details"]);
    assert_eq!(batch["stats"]["totalNbTasks"], 1);
    assert_eq!(
        batch["stats"]["types"],
        json!({"documentAdditionOrUpdate": 1})
    );
    assert_eq!(batch["stats"]["status"], json!({"succeeded": 1}));
    assert_eq!(batch["stats"]["indexUids"], json!({"b": 1}));
    assert_eq!(batch["duration"], task["duration"]);
    let (_, list) = client.get("/batches?limit=1").await;
    assert_eq!(list["results"][0]["uid"], uid);
    assert_eq!(list["total"], 1);
    let (status, missing) = client.get("/batches/999").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(missing["code"], "batch_not_found");
}

/// Dumps and snapshots: one Miroir task over every node.
async fn dumps_and_snapshots(backend: Backend) {
    let cluster = Cluster::start(&backend, 2, 1, 4).await;
    let client = cluster.client();
    let (status, answer) = client.raw(Method::POST, "/dumps", None, Vec::new()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(answer["type"], "dumpCreation");
    let task = client.wait_task(task_uid(&answer)).await;
    assert_eq!(task["status"], "succeeded", "{task}");
    assert!(task["details"]["dumpUid"].is_string(), "{task}");
    let (status, answer) = client
        .raw(Method::POST, "/snapshots", None, Vec::new())
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    let task = client.wait_task(task_uid(&answer)).await;
    assert_eq!(task["status"], "succeeded", "{task}");
    assert!(task.get("details").is_none(), "{task}");
}
dual_test!(dumps_and_snapshots);
