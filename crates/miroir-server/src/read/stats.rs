//! `/stats`, `/indexes/{uid}/stats`, `/health` and `/version`.
//!
//! Every document lives on exactly RF nodes, so per-document counts summed over all nodes are
//! divided by RF to count each document once; sizes are summed as they are (they are the
//! fleet's real disk use).

use std::sync::Arc;

use axum::extract::State;
use axum::http::Method;
use axum::{Extension, Json};
use futures::future::try_join_all;
use serde_json::{json, Map, Value};

use miroir_core::marker::strip_field_distribution;

use crate::access::Access;
use crate::cluster::node::NodeBody;
use crate::error::Result;
use crate::extract::IndexUid;
use crate::state::AppState;

/// `GET /health`: Miroir itself is up. (Node health is the failure handling's business.)
pub(crate) async fn health() -> Json<Value> {
    Json(json!({"status": "available"}))
}

/// `GET /version`: the nodes' Meilisearch version, which is the API Miroir speaks.
pub(crate) async fn version(State(state): State<Arc<AppState>>) -> Result<Json<Value>> {
    let version = state
        .cluster
        .node(0)
        .json(Method::GET, "/version", NodeBody::Empty)
        .await?;
    Ok(Json(version))
}

/// Merges per-node index stats into one, counting each document once.
fn merge_index_stats(per_node: &[Value], replication_factor: u64) -> Value {
    let sum = |key: &str| -> u64 {
        per_node
            .iter()
            .filter_map(|s| s.get(key).and_then(Value::as_u64))
            .sum()
    };
    let documents_on_nodes = sum("numberOfDocuments");
    let raw_size = sum("rawDocumentDbSize");
    let mut distribution: Map<String, Value> = Map::new();
    for stats in per_node {
        if let Some(Value::Object(fields)) = stats.get("fieldDistribution") {
            for (field, count) in fields {
                let previous = distribution.get(field).and_then(Value::as_u64).unwrap_or(0);
                let total = previous + count.as_u64().unwrap_or(0);
                distribution.insert(field.clone(), Value::from(total));
            }
        }
    }
    for count in distribution.values_mut() {
        *count = Value::from(count.as_u64().unwrap_or(0) / replication_factor);
    }
    strip_field_distribution(&mut distribution);
    distribution.sort_keys();
    json!({
        "numberOfDocuments": documents_on_nodes / replication_factor,
        "rawDocumentDbSize": raw_size,
        "avgDocumentSize": raw_size.checked_div(documents_on_nodes).unwrap_or(0),
        "isIndexing": per_node.iter().any(|s| s.get("isIndexing").and_then(Value::as_bool).unwrap_or(false)),
        "numberOfEmbeddings": sum("numberOfEmbeddings") / replication_factor,
        "numberOfEmbeddedDocuments": sum("numberOfEmbeddedDocuments") / replication_factor,
        "fieldDistribution": distribution,
    })
}

/// `GET /indexes/{uid}/stats`
pub(crate) async fn index_stats(
    State(state): State<Arc<AppState>>,
    IndexUid(uid): IndexUid,
) -> Result<Json<Value>> {
    let index = state.index(&uid)?;
    let per_node = per_node_index_stats(&state, &uid).await?;
    let copies = state.cluster.layout(&index).replicas as u64;
    Ok(Json(merge_index_stats(&per_node, copies)))
}

/// Every node's own stats of index `uid`, in node order.
pub(crate) async fn per_node_index_stats(state: &AppState, uid: &str) -> Result<Vec<Value>> {
    let path = format!("/indexes/{uid}/stats");
    try_join_all(
        state
            .cluster
            .nodes()
            .iter()
            .map(|node| node.json(Method::GET, &path, NodeBody::Empty)),
    )
    .await
}

/// `GET /stats`
pub(crate) async fn global_stats(
    State(state): State<Arc<AppState>>,
    Extension(access): Extension<Access>,
) -> Result<Json<Value>> {
    let per_node = try_join_all(
        state
            .cluster
            .nodes()
            .iter()
            .map(|node| node.json(Method::GET, "/stats", NodeBody::Empty)),
    )
    .await?;
    let sum = |key: &str| -> u64 {
        per_node
            .iter()
            .filter_map(|s| s.get(key).and_then(Value::as_u64))
            .sum()
    };
    let last_update = per_node
        .iter()
        .filter_map(|s| s.get("lastUpdate").and_then(Value::as_str))
        .max()
        .map(|s| Value::String(s.to_string()))
        .unwrap_or(Value::Null);
    let mut indexes = Map::new();
    for index in state.store.list_indexes()? {
        // A key limited to some indexes sees only those, as on Meilisearch.
        if !access.may_use(&index.uid) {
            continue;
        }
        let stats: Vec<Value> = per_node
            .iter()
            .filter_map(|s| s.get("indexes").and_then(|i| i.get(&index.uid)).cloned())
            .collect();
        let copies = state.cluster.layout(&index).replicas as u64;
        indexes.insert(index.uid.clone(), merge_index_stats(&stats, copies));
    }
    Ok(Json(json!({
        "databaseSize": sum("databaseSize"),
        "usedDatabaseSize": sum("usedDatabaseSize"),
        "lastUpdate": last_update,
        "indexes": indexes,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_each_document_once() {
        let a = json!({"numberOfDocuments": 6, "rawDocumentDbSize": 600, "isIndexing": false,
            "fieldDistribution": {"id": 6, "_miroir": 6, "title": 4}});
        let b = json!({"numberOfDocuments": 4, "rawDocumentDbSize": 400, "isIndexing": true,
            "fieldDistribution": {"id": 4, "_miroir": 4, "title": 2}});
        let merged = merge_index_stats(&[a, b], 2);
        assert_eq!(merged["numberOfDocuments"], 5);
        assert_eq!(merged["isIndexing"], true);
        assert_eq!(merged["fieldDistribution"], json!({"id": 5, "title": 3}));
        assert_eq!(merged["avgDocumentSize"], 100);
    }
}
