//! A webhook registered through Miroir receives the completion of Miroir's tasks, in
//! Meilisearch's format (gzip NDJSON of task objects, the webhook's own headers).

#[macro_use]
mod common;

use std::io::Read;
use std::time::Duration;

use axum::http::HeaderMap;
use axum::routing::post;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use common::{task_uid, Backend, Cluster};

async fn webhook_receives_task_completion(backend: Backend) {
    // A local receiver: every call's headers and decompressed body go to a channel.
    let (sender, mut received) = mpsc::unbounded_channel::<(HeaderMap, String)>();
    let receiver = axum::Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let sender = sender.clone();
            async move {
                let mut text = String::new();
                let _ = flate2::read::GzDecoder::new(&body[..]).read_to_string(&mut text);
                let _ = sender.send((headers, text));
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let hook_url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, receiver).await;
    });

    let cluster = Cluster::start(&backend, 2, 1, 4).await;
    let client = cluster.client();
    let (status, created) = client
        .post(
            "/webhooks",
            json!({"url": hook_url, "headers": {"Authorization": "Bearer a-long-secret-token"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["headers"]["Authorization"], "Bearer a-XXXX...");
    assert_eq!(created["isEditable"], true);
    let (_, listed) = client.get("/webhooks").await;
    assert_eq!(listed["results"][0]["uuid"], created["uuid"]);

    let (status, answer) = client
        .post("/indexes/hooked/documents", json!([{"id": 1}, {"id": 2}]))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let uid = task_uid(&answer);
    client.wait_task(uid).await;

    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let found = loop {
        let next = tokio::time::timeout_at(deadline, received.recv()).await;
        let Ok(Some((headers, body))) = next else {
            panic!("the webhook never received task {uid}");
        };
        assert_eq!(headers["content-encoding"], "gzip");
        assert_eq!(headers["content-type"], "application/x-ndjson");
        assert_eq!(headers["authorization"], "Bearer a-long-secret-token");
        let tasks: Vec<Value> = body
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect();
        if let Some(task) = tasks.into_iter().find(|t| t["uid"] == uid) {
            break task;
        }
    };
    assert_eq!(found["status"], "succeeded");
    assert_eq!(found["type"], "documentAdditionOrUpdate");
    assert_eq!(found["details"]["indexedDocuments"], 2);

    let uuid = created["uuid"].as_str().unwrap_or_default().to_string();
    let (status, updated) = client
        .send(
            Method::PATCH,
            &format!("/webhooks/{uuid}"),
            json!({"headers": {"Authorization": null}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["headers"], json!({}));
    let (status, _) = client.delete(&format!("/webhooks/{uuid}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, error) = client.get(&format!("/webhooks/{uuid}")).await;
    assert_eq!(
        (status, error["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("webhook_not_found"))
    );
    server.abort();
}
dual_test!(webhook_receives_task_completion);
