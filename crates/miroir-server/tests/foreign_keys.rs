//! Foreign keys: the foreign index is kept whole on every node, so each node joins locally and
//! every hit comes back with its foreign document, as on one Meilisearch. A sharded index that
//! already holds documents cannot become a foreign index until it is made whole
//! (`PATCH /_miroir/indexes/{uid}`), and says so.

#[macro_use]
mod common;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use common::{Backend, Cluster};

async fn foreign_index_is_whole_and_joined(backend: Backend) {
    // RF 1: a sharded index has one copy of each document, so a join on a node that lacks the
    // foreign document would show at once.
    let cluster = Cluster::start(&backend, 3, 1, 8).await;
    let client = cluster.client();
    let (status, features) = client
        .send(
            Method::PATCH,
            "/experimental-features",
            json!({"foreignKeys": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{features}");
    for uid in ["authors", "books"] {
        client
            .write_ok(
                Method::POST,
                "/indexes",
                json!({"uid": uid, "primaryKey": "id"}),
            )
            .await;
    }
    let keys = json!([{"foreignIndexUid": "authors", "fieldName": "author"}]);
    client
        .write_ok(
            Method::PUT,
            "/indexes/books/settings/foreign-keys",
            keys.clone(),
        )
        .await;
    let (_, shown) = client.get("/indexes/books/settings/foreign-keys").await;
    assert_eq!(shown, keys);

    let authors: Vec<Value> = (0..20)
        .map(|i| json!({"id": i, "name": format!("author {i}")}))
        .collect();
    let books: Vec<Value> = (0..60)
        .map(|i| json!({"id": i, "title": format!("book {i}"), "author": i % 20}))
        .collect();
    client
        .write_ok(Method::POST, "/indexes/authors/documents", json!(authors))
        .await;
    client
        .write_ok(Method::POST, "/indexes/books/documents", json!(books))
        .await;

    // Whole: every node holds every author; books stay sharded (60 documents in all).
    let mut books_on_nodes = 0;
    for node in &cluster.nodes {
        assert_eq!(node.client().all_documents("authors").await.len(), 20);
        books_on_nodes += node.client().all_documents("books").await.len();
    }
    assert_eq!(books_on_nodes, 60, "books keep one copy each");
    let (_, stats) = client.get("/indexes/authors/stats").await;
    assert_eq!(stats["numberOfDocuments"], 20, "{stats}");
    let (status, page) = client
        .post("/indexes/authors/search", json!({"q": "", "limit": 100}))
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["estimatedTotalHits"], 20, "{page}");

    if matches!(backend, Backend::Real(_)) {
        let (status, page) = client
            .post("/indexes/books/search", json!({"q": "book", "limit": 60}))
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let hits = page["hits"].as_array().cloned().unwrap_or_default();
        assert_eq!(hits.len(), 60, "{page}");
        for hit in &hits {
            let expected = hit["id"].as_u64().unwrap_or(0) % 20;
            assert_eq!(
                hit["author"],
                json!({"id": expected, "name": format!("author {expected}")}),
                "joined author of {hit}"
            );
        }
    } else {
        eprintln!("the test node does not join foreign documents: join check skipped");
    }

    // A sharded index with documents cannot become a foreign index.
    client
        .write_ok(
            Method::POST,
            "/indexes/publishers/documents",
            json!([{"id": 1, "name": "p"}]),
        )
        .await;
    let (status, error) = client
        .send(
            Method::PATCH,
            "/indexes/books/settings",
            json!({"foreignKeys": [{"foreignIndexUid": "publishers", "fieldName": "publisher"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert_eq!(error["code"], "miroir_foreign_index_not_whole", "{error}");
    assert_eq!(error["type"], "invalid_request");

    // Made whole (its documents copied to every node), it can.
    let (status, answer) = client
        .send(
            Method::PATCH,
            "/_miroir/indexes/publishers",
            json!({"whole": true}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let (_, layout) = client.get("/_miroir/indexes/publishers").await;
        if layout["whole"] == true && layout["reshape"].is_null() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not made whole: {layout}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    for node in &cluster.nodes {
        assert_eq!(node.client().all_documents("publishers").await.len(), 1);
    }
    client
        .write_ok(
            Method::PATCH,
            "/indexes/books/settings",
            json!({"foreignKeys": [{"foreignIndexUid": "publishers", "fieldName": "publisher"}]}),
        )
        .await;
    // A foreign index stays whole.
    let (status, refused) = client
        .send(
            Method::PATCH,
            "/_miroir/indexes/publishers",
            json!({"whole": false}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert_eq!(
        refused["code"], "miroir_foreign_index_not_whole",
        "{refused}"
    );

    // An index named by a foreign key before it exists is created whole.
    client
        .write_ok(
            Method::PUT,
            "/indexes/books/settings/foreign-keys",
            json!([
                {"foreignIndexUid": "authors", "fieldName": "author"},
                {"foreignIndexUid": "editors", "fieldName": "editor"}
            ]),
        )
        .await;
    let editors: Vec<Value> = (0..10).map(|i| json!({"id": i})).collect();
    client
        .write_ok(Method::POST, "/indexes/editors/documents", json!(editors))
        .await;
    for node in &cluster.nodes {
        assert_eq!(node.client().all_documents("editors").await.len(), 10);
    }
}
dual_test!(foreign_index_is_whole_and_joined);
