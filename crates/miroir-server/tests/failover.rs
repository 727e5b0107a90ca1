//! Reads fail over to another replica inside the same request; a shard with no reachable
//! replica fails the request with `miroir_shard_unavailable`, never a short answer.

#[macro_use]
mod common;

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use common::{Backend, Client, Cluster};

async fn all_ids(client: &Client) -> BTreeSet<String> {
    let (status, answer) = client
        .post("/indexes/films/search", json!({"q": "", "limit": 1000}))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer["hits"]
        .as_array()
        .map(|hits| hits.iter().map(|h| h["id"].to_string()).collect())
        .unwrap_or_default()
}

async fn load(client: &Client) {
    let documents: Vec<Value> = (0..300)
        .map(|i| json!({"id": i, "title": format!("film {i}")}))
        .collect();
    client
        .write_ok(
            Method::POST,
            "/indexes/films/documents",
            Value::Array(documents),
        )
        .await;
}

async fn reads_survive_a_lost_node(backend: Backend) {
    let mut cluster = Cluster::start_processes(&backend, 3, 2, 8, |_| {}).await;
    let client = cluster.client();
    load(&client).await;
    let before = all_ids(&client).await;
    assert_eq!(before.len(), 300);

    // Stop one node: every shard still has a replica.
    drop(cluster.nodes.remove(1));
    for _ in 0..3 {
        assert_eq!(all_ids(&client).await, before);
    }
    for id in [0, 77, 150, 299] {
        let (status, document) = client.get(&format!("/indexes/films/documents/{id}")).await;
        assert_eq!(status, StatusCode::OK, "{document}");
        assert_eq!(document["id"], id);
    }
    let (status, page) = client.get("/indexes/films/documents?limit=1000").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["total"], 300);
    let (status, facets) = client
        .post("/indexes/films/facet-search", json!({"facetName": "title"}))
        .await;
    // `title` is not filterable: the node's own error comes through, not an outage.
    assert_eq!(status, StatusCode::BAD_REQUEST, "{facets}");
}
dual_test!(reads_survive_a_lost_node);

async fn no_replica_left_is_an_error(backend: Backend) {
    let mut cluster = Cluster::start_processes(&backend, 2, 1, 8, |_| {}).await;
    let client = cluster.client();
    load(&client).await;
    drop(cluster.nodes.remove(0));
    let (status, error) = client
        .post("/indexes/films/search", json!({"q": "film"}))
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{error}");
    assert_eq!(error["code"], "miroir_shard_unavailable");
    assert_eq!(error["type"], "system");
    assert!(error["message"]
        .as_str()
        .is_some_and(|m| m.contains("no reachable replica")));
    assert_eq!(
        error["link"],
        "https://docs.meilisearch.com/errors#miroir_shard_unavailable"
    );
    let (status, error) = client.get("/indexes/films/documents").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{error}");
    assert_eq!(error["code"], "miroir_shard_unavailable");
}
dual_test!(no_replica_left_is_an_error);

/// A filter pinning primary keys asks only the shards of those keys: with every other node
/// stopped, the pinned search still answers, while an unpinned one cannot.
async fn pinned_ids_ask_only_their_shards(backend: Backend) {
    use miroir_core::hash::{document_id_hash, shard_of, ShardCount};
    use miroir_core::placement::{NodeSpec, PlacementTable};

    let mut cluster = Cluster::start_processes(&backend, 3, 1, 8, |_| {}).await;
    let client = cluster.client();
    load(&client).await;
    client
        .write_ok(
            Method::PATCH,
            "/indexes/films/settings",
            json!({"filterableAttributes": ["id"]}),
        )
        .await;
    let specs: Vec<NodeSpec> = cluster
        .config
        .nodes
        .iter()
        .map(|n| NodeSpec {
            id: n.id.clone(),
            weight: n.weight,
            zone: n.zone.clone(),
        })
        .collect();
    let count = ShardCount::new(8).expect("shard count");
    let table = PlacementTable::new(&specs, count, 1).expect("placement");
    let owner = table.replicas(shard_of(document_id_hash("42"), count))[0];
    // Keep only the owner of id 42 running.
    let mut index = cluster.nodes.len();
    while index > 0 {
        index -= 1;
        if index != owner {
            drop(cluster.nodes.remove(index));
        }
    }
    let (status, answer) = client
        .post(
            "/indexes/films/search",
            json!({"q": "film", "filter": "id = 42"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["hits"][0]["id"], 42);
    assert_eq!(answer["estimatedTotalHits"], 1);
    let (status, answer) = client
        .post(
            "/indexes/films/search",
            json!({"q": "film", "filter": "id > 41"}),
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{answer}");
}
dual_test!(pinned_ids_ask_only_their_shards);
