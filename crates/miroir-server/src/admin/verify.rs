//! `POST /_miroir/verify`: compares every shard's replicas — count and an order-independent
//! checksum over ids and contents (`miroir_core::verify`) — and reports, or repairs, what
//! differs (for example a document deleted on one node behind Miroir's back).
//!
//! Each node's copy of an index is read once (paged) and its documents grouped by their shard
//! marker; each shard is compared over its replicas that are up and in sync (stale replicas
//! are still catching up, and are reported as skipped). Run it while the index is quiet:
//! under concurrent writes a replica may be read before and another after a write, which
//! shows as a divergence the journal resolves by itself.
//!
//! Repairs go through the write journal, as one document write per index (a Miroir task with
//! `customMetadata` `miroir:repair`) whose calls reach only the replicas that need them, so they
//! are ordered with every other write of those nodes. The policy is
//! `miroir_core::verify::repair_plan`'s: a missing document is copied from a replica that has
//! it, a differing one takes the contents most replicas hold (the first in-sync replica's in
//! placement order on a tie).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::Method;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use miroir_core::marker::MARKER_FIELD;
use miroir_core::split::{concat_shards, ranges_of};
use miroir_core::verify::{compare, document_digest, repair_plan, summary, Replica};
use miroir_store::{CallBody, IndexRecord};

use crate::cluster::node::{url_encode, Node, NodeBody};
use crate::error::{Error, Result};
use crate::extract::OptionalJsonBody;
use crate::state::AppState;
use crate::tasks::registry::NewTask;
use crate::write::journal::{submit, NodeCall};

/// Documents read per request.
const PAGE: usize = 1000;

/// The request body (every field optional).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct VerifyRequest {
    /// Repair what differs.
    #[serde(default)]
    repair: bool,
    /// The indexes to verify (default: every index).
    #[serde(default)]
    index_uids: Option<Vec<String>>,
}

/// `POST /_miroir/verify`
pub(crate) async fn verify(
    State(state): State<Arc<AppState>>,
    OptionalJsonBody(request): OptionalJsonBody<VerifyRequest>,
) -> Result<Json<Value>> {
    let mut reports = Vec::new();
    let mut consistent = true;
    let mut repair_tasks = Vec::new();
    for index in state.store.list_indexes()? {
        if let Some(wanted) = &request.index_uids {
            if !wanted.contains(&index.uid) {
                continue;
            }
        }
        let report = verify_index(&state, &index, request.repair).await?;
        consistent &= report.consistent;
        repair_tasks.extend(report.repair_task);
        reports.push(report.json);
    }
    Ok(Json(json!({
        "consistent": consistent,
        "indexes": reports,
        "repairTasks": repair_tasks,
    })))
}

/// One index's verification.
struct IndexReport {
    consistent: bool,
    repair_task: Option<u64>,
    json: Value,
}

/// The shard a document's marker names.
fn shard_of_document(document: &Value) -> Option<u32> {
    document
        .get(MARKER_FIELD)?
        .as_object()?
        .keys()
        .find_map(|key| key.strip_prefix('s')?.parse().ok())
}

/// Every document of `uid` on `node`, grouped by shard (id → digest), paged.
async fn read_node(node: &Node, uid: &str, primary_key: &str) -> Result<BTreeMap<u32, Replica>> {
    let mut shards: BTreeMap<u32, Replica> = BTreeMap::new();
    let mut offset = 0;
    loop {
        let page = node
            .json(
                Method::POST,
                &format!("/indexes/{uid}/documents/fetch"),
                NodeBody::Json(json!({"offset": offset, "limit": PAGE})),
            )
            .await?;
        let documents = page["results"]
            .as_array()
            .ok_or_else(|| Error::NodeUnavailable {
                node: node.id.clone(),
                reason: "answered a document listing without results".to_string(),
            })?;
        for document in documents {
            let (Some(shard), Some(id)) = (
                shard_of_document(document),
                document
                    .get(primary_key)
                    .and_then(miroir_core::hash::canonical_id),
            ) else {
                continue;
            };
            shards
                .entry(shard)
                .or_default()
                .insert(id.into_owned(), document_digest(document));
        }
        if documents.len() < PAGE {
            return Ok(shards);
        }
        offset += documents.len();
    }
}

async fn verify_index(state: &AppState, index: &IndexRecord, repair: bool) -> Result<IndexReport> {
    let uid = &index.uid;
    let Some(primary_key) = index.primary_key.clone() else {
        return Ok(IndexReport {
            consistent: true,
            repair_task: None,
            json: json!({"uid": uid, "shards": index.shard_count, "documents": 0, "divergentShards": [], "skipped": []}),
        });
    };
    let layout = state.cluster.layout(index);
    let table = state.cluster.table(layout)?;
    let mut readable: Vec<usize> = Vec::new();
    let mut skipped = Vec::new();
    for node in 0..state.cluster.node_count() {
        if !state.cluster.is_up(node) {
            skipped.push(json!({"node": state.cluster.node(node).id, "reason": "down"}));
        } else if state.cluster.is_stale(uid, node) {
            skipped.push(json!({"node": state.cluster.node(node).id, "reason": "stale"}));
        } else {
            readable.push(node);
        }
    }
    let mut contents: BTreeMap<usize, BTreeMap<u32, Replica>> = BTreeMap::new();
    for node in &readable {
        contents.insert(
            *node,
            read_node(state.cluster.node(*node), uid, &primary_key).await?,
        );
    }
    let empty = Replica::new();
    let mut divergent = Vec::new();
    let mut documents = 0u64;
    // Per target node: (shard, id, source node) to write.
    let mut writes: BTreeMap<usize, Vec<(u32, String, usize)>> = BTreeMap::new();
    for shard in 0..layout.shards {
        let replicas: Vec<usize> = table
            .replicas(shard)
            .iter()
            .copied()
            .filter(|n| readable.contains(n))
            .collect();
        let held: Vec<Replica> = replicas
            .iter()
            .map(|n| {
                contents
                    .get(n)
                    .and_then(|shards| shards.get(&shard))
                    .unwrap_or(&empty)
                    .clone()
            })
            .collect();
        documents += held.iter().map(|r| r.len() as u64).max().unwrap_or(0);
        let divergence = compare(&held);
        if divergence.is_empty() {
            continue;
        }
        let mut missing = Map::new();
        for (position, ids) in divergence.missing.iter().enumerate() {
            if !ids.is_empty() {
                missing.insert(
                    state.cluster.node(replicas[position]).id.clone(),
                    json!(ids),
                );
            }
        }
        let summaries: Vec<Value> = replicas
            .iter()
            .zip(&held)
            .map(|(node, replica)| {
                let (count, checksum) = summary(replica);
                json!({
                    "node": state.cluster.node(*node).id,
                    "documents": count,
                    "checksum": format!("{checksum:016x}"),
                })
            })
            .collect();
        divergent.push(json!({
            "shard": shard,
            "replicas": summaries,
            "missing": missing,
            "different": divergence.different,
        }));
        for (target, planned) in repair_plan(&held, 0) {
            let list = writes.entry(replicas[target]).or_default();
            list.extend(
                planned
                    .into_iter()
                    .map(|(id, source)| (shard, id, replicas[source])),
            );
        }
    }
    let consistent = divergent.is_empty();
    let repair_task = if repair && !writes.is_empty() {
        Some(journal_repair(state, index, &primary_key, writes).await?)
    } else {
        None
    };
    Ok(IndexReport {
        consistent,
        repair_task,
        json: json!({
            "uid": uid,
            "shards": layout.shards,
            "documents": documents,
            "divergentShards": divergent,
            "skipped": skipped,
        }),
    })
}

/// Journals the documents each target node must receive, read from their source nodes.
async fn journal_repair(
    state: &AppState,
    index: &IndexRecord,
    primary_key: &str,
    writes: BTreeMap<usize, Vec<(u32, String, usize)>>,
) -> Result<u64> {
    let uid = &index.uid;
    // Bodies per target, stored once as one payload with a range per target.
    let mut bodies: Vec<Vec<u8>> = Vec::new();
    let mut targets: Vec<(usize, Vec<u32>)> = Vec::new();
    let mut received = 0;
    for (target, list) in writes {
        let mut shards: Vec<u32> = list.iter().map(|(shard, _, _)| *shard).collect();
        shards.sort_unstable();
        shards.dedup();
        let mut by_source: BTreeMap<usize, Vec<String>> = BTreeMap::new();
        for (_, id, source) in list {
            by_source.entry(source).or_default().push(id);
        }
        let mut body = Vec::new();
        for (source, ids) in by_source {
            let node = state.cluster.node(source);
            let fetched = node
                .json(
                    Method::POST,
                    &format!("/indexes/{uid}/documents/fetch"),
                    NodeBody::Json(json!({"ids": ids, "limit": ids.len()})),
                )
                .await?;
            for document in fetched["results"].as_array().into_iter().flatten() {
                serde_json::to_writer(&mut body, document).map_err(|e| Error::NodeUnavailable {
                    node: node.id.clone(),
                    reason: format!("answered a document Miroir cannot re-encode: {e}"),
                })?;
                body.push(b'\n');
                received += 1;
            }
        }
        bodies.push(body);
        targets.push((target, shards));
    }
    let (payload, ranges) = concat_shards(bodies);
    let path = format!(
        "/indexes/{uid}/documents?primaryKey={}",
        url_encode(primary_key)
    );
    let calls = targets
        .iter()
        .enumerate()
        .map(|(position, (target, shards))| NodeCall {
            node: *target,
            method: Method::POST,
            path: path.clone(),
            body: CallBody::Payload {
                ranges: ranges_of(&ranges, &[position as u32]),
            },
            shards: Some(shards.clone()),
        })
        .collect();
    let task = NewTask {
        kind: "documentAdditionOrUpdate",
        index_uid: Some(uid.clone()),
        details: Some(json!({"receivedDocuments": received, "indexedDocuments": null})),
        custom_metadata: Some("miroir:repair".to_string()),
    };
    let _journaling = state.write_lock.lock().await;
    let record = submit(state, task, calls, Some(std::sync::Arc::new(payload))).await?;
    tracing::info!(index = %uid, task = record.uid, documents = received, "repair journaled");
    Ok(record.uid)
}
