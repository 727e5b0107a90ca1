//! The shard marker is invisible to matching and ranking: a node holding documents written
//! through Miroir (with markers) answers every query exactly like a node holding the same
//! documents written directly (without markers) — same hits, same scores, same totals.

#[macro_use]
mod common;

use reqwest::Method;
use serde_json::{json, Value};

use common::{Backend, Cluster, Node};

fn documents() -> Value {
    let words = ["alpha", "bravo", "charlie", "delta", "echo"];
    Value::Array(
        (0..300)
            .map(|i| {
                json!({
                    "id": i,
                    "title": format!("{} {}", words[i % 5], i % 40),
                    "note": if i % 3 == 0 { Value::Null } else { json!(format!("s{} miroir", i % 7)) },
                })
            })
            .collect(),
    )
}

/// Hits as (id, score) sorted, plus the estimated total.
async fn search(client: &common::Client, query: &str) -> (Vec<(String, String)>, Value) {
    let (status, answer) = client
        .post(
            "/indexes/leak/search",
            json!({"q": query, "limit": 1000, "showRankingScore": true, "attributesToRetrieve": ["id"]}),
        )
        .await;
    assert!(status.is_success(), "{query}: {answer}");
    let mut hits: Vec<(String, String)> = answer["hits"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|h| {
            (
                h["id"].to_string(),
                format!("{:.9}", h["_rankingScore"].as_f64().unwrap_or(-1.0)),
            )
        })
        .collect();
    hits.sort();
    (hits, answer["estimatedTotalHits"].clone())
}

async fn marker_is_invisible(backend: Backend) {
    // One node holding every shard, so its answers can be compared with a plain node's.
    let cluster = Cluster::start(&backend, 1, 1, 64).await;
    let miroir = cluster.client();
    let reference = Node::start(&backend).await;
    let plain = reference.client();
    miroir
        .write_ok(Method::POST, "/indexes/leak/documents", documents())
        .await;
    plain
        .write_ok(Method::POST, "/indexes/leak/documents", documents())
        .await;
    // The node behind Miroir does hold markers.
    let stored = cluster.nodes[0].client().all_documents("leak").await;
    assert!(
        stored.iter().all(|d| d["_miroir"].is_object()),
        "markers missing"
    );

    let behind = cluster.nodes[0].client();
    for query in [
        "", "1", "12", "3", "s", "s1", "s12", "s63", "miroir", "_miroir", "null", "alpha 1",
        "echo s3", "charlie", "delta 12",
    ] {
        let with_markers = search(&behind, query).await;
        let without = search(&plain, query).await;
        assert_eq!(
            with_markers, without,
            "query `{query}` differs because of the marker"
        );
    }
}
dual_test!(marker_is_invisible);
