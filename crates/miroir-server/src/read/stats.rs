//! `/stats`, `/indexes/{uid}/stats`, `/health` and `/version`.
//!
//! Every document lives on exactly RF nodes, so per-document counts summed over all nodes are
//! divided by RF to count each document once; sizes are summed as they are (they are the
//! fleet's real disk use). Nodes are always asked for raw byte counts, so sizes can be summed;
//! `sizeFormat=human` formats the sums as Meilisearch does (binary units, two decimals at most),
//! and `showInternalDatabaseSizes=true` sums each internal database's size over the nodes.

use std::sync::Arc;

use axum::extract::State;
use axum::http::Method;
use axum::{Extension, Json};
use byte_unit::{Byte, UnitType};
use futures::future::try_join_all;
use serde_json::{json, Map, Value};

use miroir_core::marker::strip_field_distribution;

use crate::access::Access;
use crate::cluster::node::NodeBody;
use crate::error::{MeiliError, Result};
use crate::extract::{IndexUid, Params};
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

/// How the client wants sizes shown (`GET /stats` and `/indexes/{uid}/stats` parameters).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SizeParams {
    /// `showInternalDatabaseSizes`
    internal: bool,
    /// `sizeFormat=human`
    human: bool,
}

impl SizeParams {
    fn parse(params: &Params) -> Result<SizeParams> {
        let mut parsed = SizeParams::default();
        for (name, value) in &params.0 {
            match name.as_str() {
                "showInternalDatabaseSizes" => {
                    parsed.internal = match value.as_str() {
                        "true" => true,
                        "false" => false,
                        other => return Err(MeiliError::invalid(
                            "invalid_stats_show_internal_database_sizes",
                            format!("Invalid value in parameter `showInternalDatabaseSizes`: could not parse `{other}` as a boolean, expected either `true` or `false`"),
                        )
                        .into()),
                    }
                }
                "sizeFormat" => {
                    parsed.human = match value.as_str() {
                        "human" => true,
                        "raw" => false,
                        other => return Err(MeiliError::invalid(
                            "invalid_stats_size_format",
                            format!("Unknown value `{other}` for parameter `sizeFormat`: expected one of `human`, `raw`"),
                        )
                        .into()),
                    }
                }
                other => {
                    return Err(MeiliError::invalid(
                        "bad_request",
                        format!("Unknown parameter `{other}`: expected one of `showInternalDatabaseSizes`, `sizeFormat`"),
                    )
                    .into())
                }
            }
        }
        Ok(parsed)
    }

    /// The query string nodes are asked with: raw sizes, so that they can be summed.
    fn toward_nodes(self) -> &'static str {
        if self.internal {
            "?showInternalDatabaseSizes=true&sizeFormat=raw"
        } else {
            "?sizeFormat=raw"
        }
    }

    /// A byte count as the client asked for it.
    fn size(self, bytes: u64) -> Value {
        if self.human {
            let adjusted = Byte::from_u64(bytes).get_appropriate_unit(UnitType::Binary);
            Value::String(format!("{adjusted:#.2}"))
        } else {
            Value::from(bytes)
        }
    }
}

/// Merges per-node index stats into one, counting each document once.
fn merge_index_stats(per_node: &[Value], replication_factor: u64, sizes: SizeParams) -> Value {
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
    let mut merged = json!({
        "numberOfDocuments": documents_on_nodes / replication_factor,
        "rawDocumentDbSize": sizes.size(raw_size),
        "avgDocumentSize": sizes.size(raw_size.checked_div(documents_on_nodes).unwrap_or(0)),
        "isIndexing": per_node.iter().any(|s| s.get("isIndexing").and_then(Value::as_bool).unwrap_or(false)),
        "numberOfEmbeddings": sum("numberOfEmbeddings") / replication_factor,
        "numberOfEmbeddedDocuments": sum("numberOfEmbeddedDocuments") / replication_factor,
        "fieldDistribution": distribution,
    });
    if sizes.internal {
        let mut internal: Map<String, Value> = Map::new();
        let mut totals: Vec<(String, u64)> = Vec::new();
        for stats in per_node {
            for (name, size) in stats
                .get("internalDatabaseSizes")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                let bytes = size.as_u64().unwrap_or(0);
                match totals.iter_mut().find(|(known, _)| known == name) {
                    Some((_, total)) => *total += bytes,
                    None => totals.push((name.clone(), bytes)),
                }
            }
        }
        for (name, total) in totals {
            internal.insert(name, sizes.size(total));
        }
        if !internal.is_empty() {
            merged["internalDatabaseSizes"] = Value::Object(internal);
        }
    }
    merged
}

/// `GET /indexes/{uid}/stats`
pub(crate) async fn index_stats(
    State(state): State<Arc<AppState>>,
    IndexUid(uid): IndexUid,
    params: Params,
) -> Result<Json<Value>> {
    let sizes = SizeParams::parse(&params)?;
    let index = state.index(&uid)?;
    let per_node = per_node_index_stats(&state, &uid, sizes).await?;
    let copies = state.cluster.copies(state.cluster.layout(&index)) as u64;
    Ok(Json(merge_index_stats(&per_node, copies, sizes)))
}

/// Every node's own stats of index `uid`, in node order.
pub(crate) async fn per_node_index_stats(
    state: &AppState,
    uid: &str,
    sizes: SizeParams,
) -> Result<Vec<Value>> {
    let path = format!("/indexes/{uid}/stats{}", sizes.toward_nodes());
    try_join_all(
        state
            .cluster
            .fleet_nodes()
            .map(|node| node.json(Method::GET, &path, NodeBody::Empty)),
    )
    .await
}

/// `GET /stats`
pub(crate) async fn global_stats(
    State(state): State<Arc<AppState>>,
    Extension(access): Extension<Access>,
    params: Params,
) -> Result<Json<Value>> {
    let sizes = SizeParams::parse(&params)?;
    let path = format!("/stats{}", sizes.toward_nodes());
    let per_node = try_join_all(
        state
            .cluster
            .fleet_nodes()
            .map(|node| node.json(Method::GET, &path, NodeBody::Empty)),
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
        let copies = state.cluster.copies(state.cluster.layout(&index)) as u64;
        indexes.insert(index.uid.clone(), merge_index_stats(&stats, copies, sizes));
    }
    Ok(Json(json!({
        "databaseSize": sizes.size(sum("databaseSize")),
        "usedDatabaseSize": sizes.size(sum("usedDatabaseSize")),
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
        let merged = merge_index_stats(&[a, b], 2, SizeParams::default());
        assert_eq!(merged["numberOfDocuments"], 5);
        assert_eq!(merged["isIndexing"], true);
        assert_eq!(merged["fieldDistribution"], json!({"id": 5, "title": 3}));
        assert_eq!(merged["avgDocumentSize"], 100);
    }

    #[test]
    fn human_sizes_and_internal_databases() {
        let a = json!({"numberOfDocuments": 1, "rawDocumentDbSize": 10000,
            "internalDatabaseSizes": {"documents": 8000, "wordDocids": 100}});
        let b = json!({"numberOfDocuments": 1, "rawDocumentDbSize": 2288,
            "internalDatabaseSizes": {"documents": 192}});
        let sizes = SizeParams {
            internal: true,
            human: true,
        };
        let merged = merge_index_stats(&[a, b], 1, sizes);
        assert_eq!(merged["rawDocumentDbSize"], "12 KiB");
        assert_eq!(merged["avgDocumentSize"], "6 KiB");
        assert_eq!(
            merged["internalDatabaseSizes"],
            json!({"documents": "8 KiB", "wordDocids": "100 B"})
        );
        assert_eq!(SizeParams::default().size(5), 5);
    }
}
