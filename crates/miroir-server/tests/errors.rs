//! Bad input gets Meilisearch's error object and status, nothing panics, and nothing
//! half-written stays behind. Each case is also sent to one plain node (a real Meilisearch when
//! `MEILI_BIN` is set), and Miroir must answer with the same status and code.

#[macro_use]
mod common;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use common::{task_uid, Backend, Client, Cluster, Node};

/// A request and the same request's answer from Miroir and from one node.
async fn same_answer(
    miroir: &Client,
    node: &Client,
    method: Method,
    path: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> (StatusCode, Value) {
    let (status, answer) = miroir
        .raw(method.clone(), path, content_type, body.to_vec())
        .await;
    let (node_status, node_answer) = node.raw(method, path, content_type, body.to_vec()).await;
    assert_eq!(
        status, node_status,
        "{path}: Miroir {answer} vs node {node_answer}"
    );
    assert_eq!(
        answer["code"], node_answer["code"],
        "{path}: Miroir {answer} vs node {node_answer}"
    );
    assert_eq!(answer["type"], node_answer["type"], "{path}");
    if status.is_client_error() && !answer.is_null() {
        for field in ["message", "code", "type", "link"] {
            assert!(
                answer[field].is_string(),
                "{path}: `{field}` missing in {answer}"
            );
        }
    }
    (status, answer)
}

async fn bad_input(backend: Backend) {
    let cluster = Cluster::start(&backend, 3, 2, 16).await;
    let miroir = cluster.client();
    let reference = Node::start(&backend).await;
    let node = reference.client();
    for client in [&miroir, &node] {
        client
            .write_ok(
                Method::POST,
                "/indexes",
                json!({"uid": "movies", "primaryKey": "id"}),
            )
            .await;
    }

    let cases: Vec<(Method, &str, Option<&str>, &[u8])> = vec![
        (
            Method::POST,
            "/indexes/movies/documents",
            Some("application/json"),
            b"[{\"id\": 1",
        ),
        (
            Method::POST,
            "/indexes/movies/documents",
            Some("application/x-ndjson"),
            b"{\"id\": 1}\n{\"id\":",
        ),
        (
            Method::POST,
            "/indexes/movies/documents",
            Some("text/plain"),
            b"[]",
        ),
        (
            Method::POST,
            "/indexes/movies/documents",
            Some("application/json"),
            b"",
        ),
        (
            Method::POST,
            "/indexes/movies/documents?csvDelimiter=ab",
            Some("text/csv"),
            b"id\n1\n",
        ),
        (
            Method::POST,
            "/indexes/movies/documents?csvDelimiter=;",
            Some("application/json"),
            b"[]",
        ),
        (
            Method::POST,
            "/indexes",
            Some("application/json"),
            b"{\"uid\": \"a b\"}",
        ),
        (
            Method::POST,
            "/indexes",
            Some("application/json"),
            b"{\"uid\": \"x\", \"nope\": 1}",
        ),
        (
            Method::POST,
            "/indexes",
            Some("application/json"),
            b"{\"uid\": ",
        ),
        (
            Method::POST,
            "/indexes",
            Some("text/plain"),
            b"{\"uid\": \"x\"}",
        ),
        (Method::GET, "/indexes/unknown", None, b""),
        (Method::GET, "/indexes/unknown/documents", None, b""),
        (Method::GET, "/indexes/unknown/settings", None, b""),
        (Method::GET, "/indexes/movies/documents/404", None, b""),
        (Method::GET, "/indexes/a%20b", None, b""),
        (Method::GET, "/tasks/999999", None, b""),
        (Method::GET, "/tasks?uids=abc", None, b""),
        (Method::GET, "/tasks?statuses=nope", None, b""),
        (Method::DELETE, "/tasks", None, b""),
        (Method::POST, "/tasks/cancel", None, b""),
        (Method::GET, "/no-such-route", None, b""),
        (
            Method::PATCH,
            "/indexes/movies/settings",
            Some("application/json"),
            b"{\"rankingRules\": [\"nope\"]}",
        ),
        (
            Method::PUT,
            "/indexes/movies/settings/ranking-rules",
            Some("application/json"),
            b"[\"nope\"]",
        ),
        (
            Method::PATCH,
            "/indexes/movies/settings",
            Some("application/json"),
            b"{\"unknownSetting\": 1}",
        ),
    ];
    for (method, path, content_type, body) in cases {
        let (status, _) = same_answer(&miroir, &node, method, path, content_type, body).await;
        assert!(status.is_client_error(), "{path}: {status}");
    }

    // A filter on an attribute that is not filterable: the node's message must not reveal
    // the hidden shard marker, whether or not the index has filterable attributes.
    for settings in [json!({}), json!({"filterableAttributes": ["title"]})] {
        for client in [&miroir, &node] {
            client
                .write_ok(Method::PATCH, "/indexes/movies/settings", settings.clone())
                .await;
        }
        let path = "/indexes/movies/documents?filter=genre%20%3D%20x";
        let (_, a) = miroir.get(path).await;
        let (_, b) = node.get(path).await;
        assert_eq!(a["message"], b["message"], "{a} vs {b}");
        let body = json!({"q": "", "filter": "genre = x"});
        let (_, a) = miroir.post("/indexes/movies/search", body.clone()).await;
        let (_, b) = node.post("/indexes/movies/search", body).await;
        assert_eq!(a["message"], b["message"], "{a} vs {b}");
    }

    // Asynchronous failures: a document without id, an invalid id, no primary-key candidate.
    let async_cases = [
        (
            "movies",
            json!([{"id": 1, "title": "ok"}, {"title": "no id"}]),
            "missing_document_id",
        ),
        (
            "movies",
            json!([{"id": "not valid!"}]),
            "invalid_document_id",
        ),
        (
            "fresh",
            json!([{"title": "no candidate"}]),
            "index_primary_key_no_candidate_found",
        ),
        (
            "fresh",
            json!([{"id": 1, "author_id": 2}]),
            "index_primary_key_multiple_candidates_found",
        ),
    ];
    for (index, documents, code) in async_cases {
        let path = format!("/indexes/{index}/documents");
        let mut errors = Vec::new();
        for client in [&miroir, &node] {
            let (status, answer) = client.post(&path, documents.clone()).await;
            assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
            let task = client.wait_task(task_uid(&answer)).await;
            assert_eq!(task["status"], "failed", "{task}");
            assert_eq!(task["details"]["indexedDocuments"], 0, "{task}");
            errors.push(task["error"].clone());
        }
        assert_eq!(errors[0]["code"], code, "{errors:?}");
        assert_eq!(
            errors[0], errors[1],
            "Miroir and the node fail the same way"
        );
    }
    // Nothing half-written: the valid document of the failed batch is nowhere, and the index
    // whose first addition failed was not created.
    for node in &cluster.nodes {
        assert!(node.client().all_documents("movies").await.is_empty());
        let (status, _) = node.client().get("/indexes/fresh").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    let (status, _) = miroir.get("/indexes/fresh").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Auth: missing and wrong keys; `/health` stays open.
    let anonymous = miroir.with_key(None);
    let (status, answer) = anonymous.get("/indexes").await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (
            StatusCode::UNAUTHORIZED,
            Some("missing_authorization_header")
        )
    );
    let (status, answer) = miroir.with_key(Some("wrong")).get("/indexes").await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("invalid_api_key"))
    );
    let (status, answer) = anonymous.get("/health").await;
    assert_eq!(
        (status, answer),
        (StatusCode::OK, json!({"status": "available"}))
    );
}
dual_test!(bad_input);

/// Node API keys never appear in what Miroir answers, even when a node is unreachable.
#[tokio::test]
async fn node_keys_never_leak() {
    let cluster = Cluster::start(&Backend::TestNode, 2, 1, 4).await;
    let client = cluster.client();
    client
        .write_ok(Method::POST, "/indexes", json!({"uid": "k"}))
        .await;
    let mut config = cluster.config.clone();
    config.nodes[1].url = "http://127.0.0.1:9".to_string();
    config.db_path = config.db_path.with_extension("other");
    let broken = miroir_server::spawn(config).await.expect("starts");
    let client = Client::new(broken.url(), common::MASTER_KEY);
    let (status, answer) = client.get("/stats").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{answer}");
    let text = answer.to_string();
    assert!(!text.contains(common::NODE_KEY), "{text}");
    assert!(!text.contains("127.0.0.1:9"), "{text}");
}

/// Bodies above `http_payload_size_limit` are refused with Meilisearch's `payload_too_large`.
#[tokio::test]
async fn payload_limit() {
    let cluster = Cluster::start(&Backend::TestNode, 1, 1, 4).await;
    let mut config = cluster.config.clone();
    config.http_payload_size_limit = 1_000;
    config.db_path = config.db_path.with_extension("limited");
    let limited = miroir_server::spawn(config).await.expect("starts");
    let client = Client::new(limited.url(), common::MASTER_KEY);
    let documents: Vec<Value> = (0..100)
        .map(|i| json!({"id": i, "text": "x".repeat(20)}))
        .collect();
    let (status, error) = client
        .post("/indexes/big/documents", Value::Array(documents))
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{error}");
    assert_eq!(error["code"], "payload_too_large");
    assert_eq!(error["type"], "invalid_request");
    let (status, _) = client
        .post("/indexes/big/documents", json!([{"id": 1}]))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
}
