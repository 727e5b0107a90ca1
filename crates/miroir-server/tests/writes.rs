//! Sharded, replicated writes and document reads, checked behind Miroir's back on every node.

#[macro_use]
mod common;

use std::collections::{BTreeMap, BTreeSet};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use common::{task_uid, Backend, Cluster};
use miroir_core::hash::{document_id_hash, shard_of, ShardCount};
use miroir_core::placement::{NodeSpec, PlacementTable};

const SHARDS: u32 = 16;
const DOCS: usize = 1000;
const GENRES: [&str; 4] = ["drama", "comedy", "horror", "action"];

fn json_documents() -> Vec<Value> {
    (0..DOCS)
        .map(|i| json!({"id": i, "title": format!("movie {i}"), "genre": GENRES[i % 4], "year": 1950 + (i % 70)}))
        .collect()
}

fn ndjson_documents() -> Vec<u8> {
    let mut body = Vec::new();
    for i in 0..DOCS {
        let line =
            json!({"id": format!("nd-{i}"), "title": format!("song {i}"), "genre": GENRES[i % 4]});
        body.extend_from_slice(line.to_string().as_bytes());
        body.push(b'\n');
    }
    body
}

fn csv_documents() -> Vec<u8> {
    let mut body = String::from("id,title,genre,year:number\n");
    for i in 0..DOCS {
        // Integer-looking ids in CSV are strings on Meilisearch, the same documents as integers.
        body.push_str(&format!(
            "{i},book {i},{},{}\n",
            GENRES[i % 4],
            1900 + i % 100
        ));
    }
    body.into_bytes()
}

/// Which node indexes own each shard, computed independently of the server.
fn expected_owners(cluster: &Cluster) -> Vec<BTreeSet<usize>> {
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
    let count = ShardCount::new(SHARDS).expect("shard count");
    let table =
        PlacementTable::new(&specs, count, cluster.config.replication_factor).expect("placement");
    (0..SHARDS)
        .map(|s| table.replicas(s).iter().copied().collect())
        .collect()
}

fn canonical(id: &Value) -> String {
    match id {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Asks every node directly where each document of `index` is, and checks placement: each
/// document on exactly RF nodes, all of them owners of its shard, with the marker of its shard.
async fn check_placement(
    cluster: &Cluster,
    index: &str,
    expected_count: usize,
) -> BTreeMap<String, Value> {
    let owners = expected_owners(cluster);
    let count = ShardCount::new(SHARDS).expect("shard count");
    let mut copies: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let mut documents = BTreeMap::new();
    for (n, node) in cluster.nodes.iter().enumerate() {
        for mut document in node.client().all_documents(index).await {
            let id = canonical(&document["id"]);
            let shard = shard_of(document_id_hash(&id), count);
            assert!(
                owners[shard as usize].contains(&n),
                "document {id} of shard {shard} is on node {n}, which does not own it"
            );
            assert_eq!(
                document["_miroir"],
                json!({ format!("s{shard}"): null }),
                "marker of document {id}"
            );
            copies.entry(id.clone()).or_default().push(n);
            if let Value::Object(map) = &mut document {
                map.remove("_miroir");
            }
            documents.insert(id, document);
        }
    }
    assert_eq!(
        copies.len(),
        expected_count,
        "distinct documents on the nodes"
    );
    for (id, nodes) in &copies {
        assert_eq!(
            nodes.len(),
            cluster.config.replication_factor,
            "copies of {id}: {nodes:?}"
        );
    }
    documents
}

/// Pages through `/documents` on Miroir and returns every id seen, checking no repeats.
async fn list_through_miroir(cluster: &Cluster, index: &str, page: usize) -> Vec<String> {
    let client = cluster.client();
    let mut ids = Vec::new();
    let mut offset = 0;
    loop {
        let (status, body) = client
            .get(&format!(
                "/indexes/{index}/documents?offset={offset}&limit={page}"
            ))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let results = body["results"].as_array().cloned().unwrap_or_default();
        for document in &results {
            assert!(
                document.get("_miroir").is_none(),
                "marker leaked: {document}"
            );
            ids.push(canonical(&document["id"]));
        }
        let total = body["total"].as_u64().unwrap_or(0) as usize;
        offset += page;
        if offset >= total {
            break;
        }
        assert!(offset < 100_000, "listing does not end");
    }
    let unique: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "a document was listed twice");
    ids
}

async fn sharded_writes(backend: Backend) {
    let mut cluster = Cluster::start(&backend, 3, 2, SHARDS).await;
    let client = cluster.client();

    // JSON, with an explicit index creation and integer ids.
    let task = client
        .write_ok(
            Method::POST,
            "/indexes",
            json!({"uid": "json", "primaryKey": "id"}),
        )
        .await;
    assert_eq!(task["type"], "indexCreation");
    client
        .write_ok(
            Method::PATCH,
            "/indexes/json/settings",
            json!({"filterableAttributes": ["genre", "year"], "sortableAttributes": ["year"]}),
        )
        .await;
    let task = client
        .write_ok(
            Method::POST,
            "/indexes/json/documents",
            Value::Array(json_documents()),
        )
        .await;
    assert_eq!(
        task["details"],
        json!({"receivedDocuments": DOCS, "indexedDocuments": DOCS})
    );

    // NDJSON and CSV on indexes created by the addition itself, with inferred primary keys.
    for (index, content_type, body) in [
        ("ndjson", "application/x-ndjson", ndjson_documents()),
        ("csv", "text/csv", csv_documents()),
    ] {
        let (status, answer) = client
            .raw(
                Method::POST,
                &format!("/indexes/{index}/documents"),
                Some(content_type),
                body,
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
        let task = client.wait_task(task_uid(&answer)).await;
        assert_eq!(task["status"], "succeeded", "{task}");
        assert_eq!(task["details"]["indexedDocuments"], DOCS);
        let (_, info) = client.get(&format!("/indexes/{index}")).await;
        assert_eq!(info["primaryKey"], "id");
    }

    for index in ["json", "ndjson", "csv"] {
        check_placement(&cluster, index, DOCS).await;
        let ids = list_through_miroir(&cluster, index, 70).await;
        assert_eq!(ids.len(), DOCS, "{index}: listing");
        let (_, stats) = client.get(&format!("/indexes/{index}/stats")).await;
        assert_eq!(stats["numberOfDocuments"], DOCS, "{index}: {stats}");
        assert!(
            stats["fieldDistribution"].get("_miroir").is_none(),
            "{stats}"
        );
        assert_eq!(stats["fieldDistribution"]["id"], DOCS);
    }

    // One document through Miroir, with and without `fields`.
    let (status, document) = client.get("/indexes/json/documents/42").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        document,
        json!({"id": 42, "title": "movie 42", "genre": "horror", "year": 1992})
    );
    let (_, document) = client.get("/indexes/csv/documents/7?fields=title").await;
    assert_eq!(document, json!({"title": "book 7"}));
    let (status, missing) = client.get("/indexes/json/documents/100000").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(missing["code"], "document_not_found");

    // Filtered fetch through Miroir counts each document once.
    let (_, page) = client
        .post(
            "/indexes/json/documents/fetch",
            json!({"filter": "genre = comedy", "limit": 5, "offset": 3}),
        )
        .await;
    assert_eq!(page["total"], DOCS / 4, "{page}");
    assert_eq!(page["results"].as_array().map(Vec::len), Some(5));

    // Deletions: one id, a batch, and a filter; then look behind Miroir on every node.
    let task = client
        .write_ok(Method::DELETE, "/indexes/json/documents/0", Value::Null)
        .await;
    assert_eq!(
        task["details"],
        json!({"providedIds": 1, "deletedDocuments": 1, "originalFilter": null})
    );
    let task = client
        .write_ok(
            Method::POST,
            "/indexes/json/documents/delete-batch",
            json!([1, 2, "3", 99999]),
        )
        .await;
    assert_eq!(
        task["details"],
        json!({"providedIds": 4, "deletedDocuments": 3, "originalFilter": null})
    );
    let task = client
        .write_ok(
            Method::POST,
            "/indexes/json/documents/delete",
            json!({"filter": "genre = horror"}),
        )
        .await;
    // Ids 0..3 are gone already; id 2 was a horror movie.
    assert_eq!(task["details"]["deletedDocuments"], DOCS / 4 - 1);
    assert_eq!(task["details"]["originalFilter"], "\"genre = horror\"");
    let remaining = check_placement(&cluster, "json", DOCS - 4 - (DOCS / 4 - 1)).await;
    for (id, document) in &remaining {
        assert_ne!(document["genre"], "horror", "{id} survived the filter");
        assert!(
            !["0", "1", "2", "3"].contains(&id.as_str()),
            "{id} survived deletion"
        );
    }
    let task = client
        .write_ok(Method::DELETE, "/indexes/csv/documents", Value::Null)
        .await;
    assert_eq!(task["details"]["deletedDocuments"], DOCS);
    check_placement(&cluster, "csv", 0).await;

    // Settings: identical on every node, and exactly what the user set through Miroir.
    let (_, through_miroir) = client.get("/indexes/json/settings").await;
    assert_eq!(
        through_miroir["filterableAttributes"],
        json!(["genre", "year"])
    );
    let mut on_nodes = Vec::new();
    for node in &cluster.nodes {
        let (status, settings) = node.client().get("/indexes/json/settings").await;
        assert_eq!(status, StatusCode::OK);
        on_nodes.push(settings);
    }
    assert!(
        on_nodes.windows(2).all(|w| w[0] == w[1]),
        "settings differ: {on_nodes:?}"
    );
    let (_, sub) = client
        .get("/indexes/json/settings/filterable-attributes")
        .await;
    assert_eq!(sub, json!(["genre", "year"]));
    client
        .write_ok(
            Method::DELETE,
            "/indexes/json/settings/filterable-attributes",
            Value::Null,
        )
        .await;
    let (_, sub) = client
        .get("/indexes/json/settings/filterable-attributes")
        .await;
    assert_eq!(sub, json!([]));
    // The marker stays usable after the reset: listings still work.
    assert_eq!(
        list_through_miroir(&cluster, "json", 200).await.len(),
        remaining.len()
    );

    // Tasks survive a restart with the same uids and statuses.
    let (_, before) = client.get("/tasks?limit=1000").await;
    cluster.restart_miroir().await;
    let client = cluster.client();
    let (_, after) = client.get("/tasks?limit=1000").await;
    let summary = |tasks: &Value| -> Vec<(u64, String, String)> {
        tasks["results"]
            .as_array()
            .map(|list| {
                list.iter()
                    .map(|t| {
                        (
                            t["uid"].as_u64().unwrap_or(u64::MAX),
                            t["status"].as_str().unwrap_or_default().to_string(),
                            t["type"].as_str().unwrap_or_default().to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(summary(&before).len(), 10, "{before}");
    assert_eq!(summary(&before), summary(&after));
    assert_eq!(before["total"], after["total"]);
    // And new tasks continue the uid sequence.
    let task = client
        .write_ok(Method::DELETE, "/indexes/ndjson", Value::Null)
        .await;
    assert_eq!(
        task["uid"].as_u64(),
        before["results"][0]["uid"].as_u64().map(|u| u + 1)
    );
    assert_eq!(task["details"]["deletedDocuments"], DOCS);
}
dual_test!(sharded_writes);
