//! The topology lives in Miroir's store: the first start seeds it from the configuration,
//! later starts keep it (a configured node it does not know joins and holds nothing until a
//! rebalance; a stored node the configuration forgot is kept; the stored replication factor
//! stays), and `GET /_miroir/topology` shows it without any node key.

#[macro_use]
mod common;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use common::{Backend, Cluster, Node, NODE_KEY};
use miroir_server::NodeConfig;

fn node_ids(topology: &Value) -> Vec<(String, String)> {
    topology["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|n| {
            (
                n["id"].as_str().unwrap_or_default().to_string(),
                n["state"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn shards_of(topology: &Value) -> Vec<u64> {
    topology["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|n| n["shards"].as_u64().unwrap_or(u64::MAX))
        .collect()
}

async fn the_topology_is_stored_and_kept(backend: Backend) {
    let mut cluster = Cluster::start(&backend, 3, 2, 16).await;
    let client = cluster.client();
    let (status, seeded) = client.get("/_miroir/topology").await;
    assert_eq!(status, StatusCode::OK, "{seeded}");
    assert_eq!(seeded["epoch"], 1);
    assert_eq!(seeded["replicationFactor"], 2);
    assert_eq!(seeded["rebalance"]["state"], "idle");
    assert_eq!(
        node_ids(&seeded),
        [("n0", "active"), ("n1", "active"), ("n2", "active")]
            .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    assert!(
        !seeded.to_string().contains(NODE_KEY),
        "a node key is never shown"
    );
    let (status, _) = cluster
        .client()
        .with_key(Some("not-the-master-key"))
        .get("/_miroir/topology")
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    client
        .write_ok(
            Method::POST,
            "/indexes",
            json!({"uid": "docs", "primaryKey": "id"}),
        )
        .await;
    let (_, topology) = client.get("/_miroir/topology").await;
    assert_eq!(
        shards_of(&topology).iter().sum::<u64>(),
        32,
        "16 shards, 2 copies each"
    );

    // A fourth node in the configuration and a different replication factor: the node joins,
    // holding nothing; the stored replication factor stays.
    let fourth = Node::start(&backend).await;
    cluster.config.nodes.push(NodeConfig {
        id: "n3".to_string(),
        url: fourth.url(),
        api_key: Some(NODE_KEY.to_string()),
        zone: None,
        weight: 1.0,
    });
    cluster.config.replication_factor = 3;
    cluster.nodes.push(fourth);
    cluster.restart_miroir().await;
    let client = cluster.client();
    let (_, joined) = client.get("/_miroir/topology").await;
    assert_eq!(joined["epoch"], 2, "{joined}");
    assert_eq!(joined["replicationFactor"], 2);
    assert_eq!(
        node_ids(&joined)[3],
        ("n3".to_string(), "joining".to_string())
    );
    assert_eq!(shards_of(&joined), {
        let mut before = shards_of(&topology);
        before.push(0);
        before
    });
    let documents: Vec<Value> = (0..60).map(|id| json!({"id": id})).collect();
    client
        .write_ok(
            Method::POST,
            "/indexes/docs/documents",
            Value::Array(documents),
        )
        .await;
    // The index was created before the node joined: the node does not have it at all.
    let (status, stats) = cluster.nodes[3].client().get("/indexes/docs/stats").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{stats}");
    assert_eq!(stats["code"], "index_not_found");
    // An index created after it joined is created on it too, and it holds none of its
    // documents.
    client
        .write_ok(
            Method::POST,
            "/indexes",
            json!({"uid": "later", "primaryKey": "id"}),
        )
        .await;
    let later: Vec<Value> = (0..30).map(|id| json!({"id": id})).collect();
    client
        .write_ok(
            Method::POST,
            "/indexes/later/documents",
            Value::Array(later),
        )
        .await;
    let (status, stats) = cluster.nodes[3].client().get("/indexes/later/stats").await;
    assert_eq!(status, StatusCode::OK, "{stats}");
    assert_eq!(
        stats["numberOfDocuments"], 0,
        "a joining node holds no document"
    );
    let (status, answer) = client
        .post("/indexes/docs/search", json!({"q": "", "limit": 0}))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["estimatedTotalHits"], 60);

    // A node the configuration forgets is kept.
    cluster.config.nodes.remove(1);
    cluster.restart_miroir().await;
    let (_, kept) = cluster.client().get("/_miroir/topology").await;
    assert_eq!(node_ids(&kept).len(), 4, "{kept}");
    assert_eq!(kept["epoch"], 2);
    let (_, answer) = cluster
        .client()
        .post("/indexes/docs/search", json!({"q": "", "limit": 0}))
        .await;
    assert_eq!(answer["estimatedTotalHits"], 60);
}

dual_test!(the_topology_is_stored_and_kept);
