//! `/similar` through Miroir answers like one Meilisearch: the reference document is found on
//! its shard and the most similar documents of every shard come back, in the same order with
//! the same scores; hybrid and vector searches answer as one node does. Needs vector search,
//! which only real Meilisearch has.

#[macro_use]
mod common;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use common::{Backend, Client, Cluster, Node};

async fn load(client: &Client) {
    client
        .write_ok(
            Method::PATCH,
            "/indexes/items/settings",
            json!({"embedders": {"default": {"source": "userProvided", "dimensions": 3}}, "filterableAttributes": ["kind"]}),
        )
        .await;
    let documents: Vec<Value> = (0..200)
        .map(|i| {
            let a = i as f64;
            json!({
                "id": i,
                "kind": if i % 2 == 0 { "even" } else { "odd" },
                "_vectors": {"default": [a.sin(), a.cos(), (a / 50.0).sin()]},
            })
        })
        .collect();
    client
        .write_ok(
            Method::POST,
            "/indexes/items/documents?primaryKey=id",
            Value::Array(documents),
        )
        .await;
}

async fn similar_documents(backend: Backend) {
    if matches!(backend, Backend::TestNode) {
        eprintln!("skipped: the test node has no vector search");
        return;
    }
    let cluster = Cluster::start(&backend, 3, 2, 16).await;
    let reference = Node::start(&backend).await;
    let miroir = cluster.client();
    let single = reference.client();
    load(&miroir).await;
    load(&single).await;
    for body in [
        json!({"id": 7, "embedder": "default", "limit": 10, "showRankingScore": true}),
        json!({"id": "42", "embedder": "default", "limit": 5, "offset": 3, "filter": "kind = odd", "showRankingScore": true}),
    ] {
        let (status_a, a) = miroir.post("/indexes/items/similar", body.clone()).await;
        let (status_b, b) = single.post("/indexes/items/similar", body.clone()).await;
        assert_eq!(status_a, StatusCode::OK, "{a}");
        assert_eq!(status_b, StatusCode::OK, "{b}");
        let summary = |v: &Value| -> Vec<(String, String)> {
            v["hits"]
                .as_array()
                .map(|hits| {
                    hits.iter()
                        .map(|h| {
                            (
                                h["id"].to_string(),
                                format!("{:.6}", h["_rankingScore"].as_f64().unwrap_or(-1.0)),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        assert_eq!(summary(&a), summary(&b), "{body}");
        assert_eq!(a["id"], b["id"]);
        assert!(a.get("performanceDetails").is_none(), "{a}");
    }
    let timed = json!({"id": 3, "embedder": "default", "limit": 3, "showPerformanceDetails": true});
    for client in [&miroir, &single] {
        let (status, answer) = client.post("/indexes/items/similar", timed.clone()).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert!(
            answer["performanceDetails"]
                .as_object()
                .is_some_and(|timings| !timings.is_empty()),
            "{answer}"
        );
    }
    let (status, error) = miroir
        .post(
            "/indexes/items/similar",
            json!({"id": 100000, "embedder": "default"}),
        )
        .await;
    let (node_status, node_error) = single
        .post(
            "/indexes/items/similar",
            json!({"id": 100000, "embedder": "default"}),
        )
        .await;
    assert_eq!(
        (status, &error["code"]),
        (node_status, &node_error["code"]),
        "{error} vs {node_error}"
    );
}
dual_test!(similar_documents);

/// Hybrid and vector searches through Miroir answer like one Meilisearch: the same hits in the
/// same order with the same scores, never more than the window, and the same
/// `semanticHitCount` (the returned hits that came from the semantic side).
async fn hybrid_search(backend: Backend) {
    if matches!(backend, Backend::TestNode) {
        eprintln!("skipped: the test node has no vector search");
        return;
    }
    let cluster = Cluster::start(&backend, 3, 2, 16).await;
    let reference = Node::start(&backend).await;
    let miroir = cluster.client();
    let single = reference.client();
    load(&miroir).await;
    load(&single).await;
    let hybrid = |ratio: f64| json!({"embedder": "default", "semanticRatio": ratio});
    for body in [
        json!({"vector": [0.3, 0.2, 0.1], "hybrid": hybrid(1.0), "limit": 20, "showRankingScore": true}),
        json!({"q": "zzz", "vector": [0.9, -0.1, 0.4], "hybrid": hybrid(0.5), "limit": 10, "offset": 5, "showRankingScore": true}),
        json!({"q": "zzz", "vector": [-0.5, 0.5, 0.0], "hybrid": hybrid(0.2), "page": 2, "hitsPerPage": 7, "showRankingScore": true}),
        json!({"vector": [0.1, 0.1, 0.9], "hybrid": hybrid(1.0), "limit": 5, "filter": "kind = even", "showRankingScoreDetails": true, "showRankingScore": true}),
    ] {
        let (status_a, a) = miroir.post("/indexes/items/search", body.clone()).await;
        let (status_b, b) = single.post("/indexes/items/search", body.clone()).await;
        assert_eq!(status_a, StatusCode::OK, "{a}");
        assert_eq!(status_b, StatusCode::OK, "{b}");
        let ranked = |v: &Value| -> Vec<(String, String, bool)> {
            v["hits"]
                .as_array()
                .map(|hits| {
                    hits.iter()
                        .map(|h| {
                            (
                                h["id"].to_string(),
                                format!("{:.6}", h["_rankingScore"].as_f64().unwrap_or(-1.0)),
                                h.get("_rankingScoreDetails").is_some(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        assert_eq!(ranked(&a), ranked(&b), "{body}");
        assert_eq!(a["semanticHitCount"], b["semanticHitCount"], "{body}");
        let window = body["limit"].as_u64().or(body["hitsPerPage"].as_u64());
        assert!(
            a["hits"].as_array().map(Vec::len).unwrap_or(0) as u64 <= window.unwrap_or(20),
            "{a}"
        );
    }
}
dual_test!(hybrid_search);
