//! The topology lives in Miroir's store: the first start seeds it from the configuration,
//! later starts keep it (a configured node it does not know joins: it is set up and given its
//! share of the shards; a stored node the configuration forgot is kept; the stored replication
//! factor stays), and `GET /_miroir/topology` shows it without any node key.

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
    let (status, rebalance) = client.get("/_miroir/rebalance").await;
    assert_eq!(status, StatusCode::OK, "{rebalance}");
    assert_eq!(rebalance, seeded["rebalance"]);
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

    // A fourth node in the configuration and a different replication factor: the node joins
    // (set up, then given its share of the shards); the stored replication factor stays.
    let documents: Vec<Value> = (0..60).map(|id| json!({"id": id})).collect();
    client
        .write_ok(
            Method::POST,
            "/indexes/docs/documents",
            Value::Array(documents),
        )
        .await;
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
    assert!(joined["epoch"].as_u64() >= Some(2), "{joined}");
    assert_eq!(joined["replicationFactor"], 2);
    assert_eq!(node_ids(&joined)[3].0, "n3");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let active = loop {
        let (_, topology) = client.get("/_miroir/topology").await;
        if node_ids(&topology)[3].1 == "active" && topology["rebalance"]["state"] == "idle" {
            break topology;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "n3 did not become active: {topology}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(shards_of(&active).iter().sum::<u64>(), 32, "{active}");
    assert!(shards_of(&active)[3] > 0, "{active}");
    let (status, stats) = cluster.nodes[3].client().get("/indexes/docs/stats").await;
    assert_eq!(status, StatusCode::OK, "{stats}");
    assert!(stats["numberOfDocuments"].as_u64() > Some(0), "{stats}");
    let (status, answer) = client
        .post("/indexes/docs/search", json!({"q": "", "limit": 0}))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["estimatedTotalHits"], 60);
    let epoch = active["epoch"].clone();

    // A node the configuration forgets is kept.
    cluster.config.nodes.remove(1);
    cluster.restart_miroir().await;
    let (_, kept) = cluster.client().get("/_miroir/topology").await;
    assert_eq!(node_ids(&kept).len(), 4, "{kept}");
    assert_eq!(kept["epoch"], epoch);
    let (_, answer) = cluster
        .client()
        .post("/indexes/docs/search", json!({"q": "", "limit": 0}))
        .await;
    assert_eq!(answer["estimatedTotalHits"], 60);
}

dual_test!(the_topology_is_stored_and_kept);

/// Polls `probe` until it returns `Some`, for at most 60 seconds.
async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    mut probe: impl FnMut() -> F,
) -> T {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(std::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// A node's settings of `index` once they equal `expected`.
async fn settings_reach(node: &Node, index: &str, expected: &Value) {
    let client = node.client();
    let path = format!("/indexes/{index}/settings");
    eventually(&format!("{path} on {}", node.url()), || {
        let client = client.clone();
        let path = path.clone();
        async move {
            let (status, settings) = client.get(&path).await;
            (status == StatusCode::OK && settings == *expected).then_some(())
        }
    })
    .await;
}

/// `POST /_miroir/nodes` checks the node, adds it as joining, sets up every index on it with
/// the fleet's settings, moves its share of the shards to it, and from then on it receives the
/// fleet's writes, across a restart of Miroir that the configuration does not know it from.
async fn a_node_added_through_the_api_joins(backend: Backend) {
    let mut cluster = Cluster::start(&backend, 2, 2, 4).await;
    let client = cluster.client();
    let documents: Vec<Value> = (0..40)
        .map(|i| json!({"id": i, "genre": if i % 2 == 0 { "drama" } else { "comedy" }}))
        .collect();
    client
        .seed_index(
            "movies",
            json!({"filterableAttributes": ["genre"]}),
            documents,
        )
        .await;
    // A dynamic search rule, which every node holds (the instance's, not an index's).
    let (status, _) = client
        .send(
            Method::PATCH,
            "/experimental-features",
            json!({"dynamicSearchRules": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let rule = json!({"active": true, "actions": [{"selector": {"id": "3"}, "action": {"type": "pin", "position": 0}}]});
    client
        .write_ok(Method::PATCH, "/dynamic-search-rules/promo", rule)
        .await;
    let newcomer = Node::start(&backend).await;
    let add = |body: Value| {
        let client = client.clone();
        async move { client.post("/_miroir/nodes", body).await }
    };

    // Checked before anything changes.
    let (status, answer) = add(json!({"id": "n9", "url": newcomer.url(), "apiKey": "wrong"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["code"], "miroir_node_invalid_api_key");
    let nowhere = format!("http://127.0.0.1:{}", common::free_port());
    let (status, answer) = add(json!({"id": "n9", "url": nowhere, "apiKey": NODE_KEY})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["code"], "miroir_node_unreachable");
    let (status, answer) =
        add(json!({"id": "n0", "url": newcomer.url(), "apiKey": NODE_KEY})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert_eq!(answer["code"], "miroir_node_already_exists");
    let (status, answer) = add(json!({"id": "n 9", "url": newcomer.url()})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["code"], "miroir_invalid_node");
    let (status, answer) = add(json!({"id": "n9", "url": newcomer.url(), "port": 1})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["type"], "invalid_request");
    let occupied = Node::start(&backend).await;
    occupied
        .client()
        .write_ok(Method::POST, "/indexes", json!({"uid": "mine"}))
        .await;
    let (status, answer) =
        add(json!({"id": "n8", "url": occupied.url(), "apiKey": NODE_KEY})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert_eq!(answer["code"], "miroir_node_not_empty");
    let (status, _) = client
        .with_key(Some("not-the-master-key"))
        .post("/_miroir/nodes", json!({"id": "n9", "url": newcomer.url()}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, unchanged) = client.get("/_miroir/topology").await;
    assert_eq!(unchanged["epoch"], 1, "{unchanged}");

    let (status, answer) =
        add(json!({"id": "n9", "url": newcomer.url(), "apiKey": NODE_KEY, "zone": "z9"})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(answer["epoch"], 2);
    assert_eq!(answer["node"]["state"], "joining");
    assert_eq!(answer["node"]["shards"], 0);
    // The move can finish before the next read: the newcomer is listed, joining or already done.
    let (_, topology) = client.get("/_miroir/topology").await;
    let listed = node_ids(&topology).last().cloned();
    assert!(
        matches!(&listed, Some((id, state)) if id == "n9" && (state == "joining" || state == "active")),
        "{topology}"
    );

    // Set up with the fleet's settings (marker included), then given its share of the shards.
    let (_, fleet) = cluster.nodes[0]
        .client()
        .get("/indexes/movies/settings")
        .await;
    settings_reach(&newcomer, "movies", &fleet).await;
    let active = eventually("n9 active", || {
        let client = client.clone();
        async move {
            let (_, topology) = client.get("/_miroir/topology").await;
            let done = node_ids(&topology).last().map(|(_, state)| state.as_str())
                == Some("active")
                && topology["rebalance"]["state"] == "idle";
            done.then_some(topology)
        }
    })
    .await;
    assert_eq!(
        active["epoch"].as_u64().map(|e| e > 2),
        Some(true),
        "{active}"
    );
    // It was given the fleet's rules.
    let (status, promo) = newcomer.client().get("/dynamic-search-rules/promo").await;
    assert_eq!(status, StatusCode::OK, "{promo}");
    assert_eq!(promo["actions"][0]["selector"]["id"], "3", "{promo}");

    // From then on it receives whole-index writes, in journal order.
    client
        .write_ok(
            Method::PATCH,
            "/indexes/movies/settings",
            json!({"sortableAttributes": ["id"]}),
        )
        .await;
    let (_, fleet) = cluster.nodes[0]
        .client()
        .get("/indexes/movies/settings")
        .await;
    assert_eq!(fleet["sortableAttributes"], json!(["id"]));
    settings_reach(&newcomer, "movies", &fleet).await;

    // The stored topology keeps it across a restart the configuration knows nothing of.
    cluster.restart_miroir().await;
    let client = cluster.client();
    let (_, topology) = client.get("/_miroir/topology").await;
    assert_eq!(topology["epoch"], active["epoch"], "{topology}");
    assert_eq!(
        node_ids(&topology).last(),
        Some(&("n9".to_string(), "active".to_string()))
    );
    client
        .write_ok(
            Method::POST,
            "/indexes",
            json!({"uid": "later", "primaryKey": "id"}),
        )
        .await;
    let (_, fleet) = cluster.nodes[0]
        .client()
        .get("/indexes/later/settings")
        .await;
    settings_reach(&newcomer, "later", &fleet).await;
    // Searches count every document once.
    let (status, found) = client
        .post(
            "/indexes/movies/search",
            json!({"filter": "genre = drama", "hitsPerPage": 100}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(found["totalHits"], 20, "{found}");
}
dual_test!(a_node_added_through_the_api_joins);
