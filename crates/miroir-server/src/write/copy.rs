//! Copying shards between nodes, by the shard marker: what rebuilding a node and moving a
//! shard both do. The caller makes the source quiet (held at a journal head, see
//! `Outbox::hold_after`) while it is read, so offset paging is stable: Meilisearch offers no
//! snapshot cursor, and a listing under writes may skip or repeat documents.
//!
//! Copied documents keep their marker (the source answers it like any field), so the target's
//! copy is selected by the same filters. A copy is idempotent: documents are written whole
//! (`POST`, replacing), so copying again after an interruption gives the same copy.

use std::time::{Duration, Instant};

use axum::http::Method;
use serde_json::json;

use miroir_core::marker::shards_filter;
use miroir_core::rebalance::throttle_wait;
use miroir_core::verify::{document_digest, summary, Replica};
use miroir_store::IndexRecord;

use crate::cluster::node::{url_encode, Node, NodeBody};
use crate::error::{Error, Result};

/// Documents copied per request.
const PAGE: usize = 1000;
/// The longest a copy waits for a node to finish its tasks.
const PATIENCE: Duration = Duration::from_secs(600);

/// What a copy did.
pub(crate) struct Copied {
    /// Documents written to the target.
    pub copied: u64,
}

fn garbled(node: &Node, what: &str) -> Error {
    Error::NodeUnavailable {
        node: node.id.clone(),
        reason: what.to_string(),
    }
}

/// One page of a node's documents of `uid` selected by `filter`, from `offset`.
async fn fetch_page(
    node: &Node,
    uid: &str,
    filter: Option<&str>,
    offset: usize,
) -> Result<Vec<serde_json::Value>> {
    let mut page = node
        .json(
            Method::POST,
            &format!("/indexes/{uid}/documents/fetch"),
            NodeBody::Json(json!({"filter": filter, "offset": offset, "limit": PAGE})),
        )
        .await?;
    match page["results"].take() {
        serde_json::Value::Array(documents) => Ok(documents),
        _ => Err(garbled(node, "answered a document listing without results")),
    }
}

/// Copies the documents of `shards` of `index` from `source` to `target`, and waits until the
/// target applied them. Writes use `target_key` when given (the lease's key on the target, see
/// `delivery::write_key`), the target's configured key otherwise. `tag` marks the target's
/// node tasks (`customMetadata`), so that the journal's reconciliation knows them for Miroir's
/// own; `limit` caps the documents written per second.
pub(crate) async fn copy_shards(
    source: &Node,
    (target, target_key): (&Node, Option<&str>),
    index: &IndexRecord,
    shards: &[u32],
    tag: Option<&str>,
    limit: Option<u64>,
) -> Result<Copied> {
    let uid = &index.uid;
    let mut path = match &index.primary_key {
        Some(key) => format!("/indexes/{uid}/documents?primaryKey={}", url_encode(key)),
        None => format!("/indexes/{uid}/documents"),
    };
    if let Some(tag) = tag {
        let separator = if path.contains('?') { '&' } else { '?' };
        path = format!("{path}{separator}customMetadata={}", url_encode(tag));
    }
    let filter = shards_filter(shards);
    let started = Instant::now();
    let mut offset = 0;
    let mut copied = 0u64;
    let mut tasks = Vec::new();
    loop {
        let documents = fetch_page(source, uid, filter.as_deref(), offset).await?;
        if documents.is_empty() {
            break;
        }
        let mut ndjson = Vec::new();
        for document in &documents {
            serde_json::to_writer(&mut ndjson, document).map_err(|e| {
                garbled(
                    source,
                    &format!("answered a document Miroir cannot re-encode: {e}"),
                )
            })?;
            ndjson.push(b'\n');
        }
        let body = NodeBody::Raw {
            content_type: "application/x-ndjson",
            bytes: ndjson.into(),
        };
        let answer = target
            .send_with(Method::POST, &path, body, target_key)
            .await?
            .json(&target.id)?;
        tasks.extend(answer["taskUid"].as_u64());
        copied += documents.len() as u64;
        offset += documents.len();
        tokio::time::sleep(throttle_wait(copied, started.elapsed(), limit)).await;
        tracing::info!(
            from = %source.id, to = %target.id, index = %uid, shards = shards.len(), copied,
            seconds = started.elapsed().as_secs_f64(),
            "copying documents"
        );
    }
    wait_tasks(target, &tasks).await?;
    Ok(Copied { copied })
}

/// How many documents of `index` a node holds (of `shards` only, when given).
pub(crate) async fn count_documents(node: &Node, uid: &str, shards: Option<&[u32]>) -> Result<u64> {
    let filter = shards.and_then(shards_filter);
    let answer = node
        .json(
            Method::POST,
            &format!("/indexes/{uid}/documents/fetch"),
            NodeBody::Json(json!({"filter": filter, "limit": 0})),
        )
        .await?;
    answer["total"]
        .as_u64()
        .ok_or_else(|| garbled(node, "answered a document listing without a total"))
}

/// The count and order-independent checksum of the documents of `shard` of `index` on a
/// node (`miroir_core::verify`).
pub(crate) async fn shard_summary(
    node: &Node,
    index: &IndexRecord,
    shard: u32,
) -> Result<(u64, u64)> {
    let uid = &index.uid;
    let key = index
        .primary_key
        .clone()
        .unwrap_or_else(|| "id".to_string());
    let filter = shards_filter(&[shard]);
    let mut replica = Replica::new();
    let mut offset = 0;
    loop {
        let documents = fetch_page(node, uid, filter.as_deref(), offset).await?;
        if documents.is_empty() {
            break;
        }
        for document in &documents {
            let id = match &document[&key] {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            replica.insert(id, document_digest(document));
        }
        offset += documents.len();
    }
    Ok(summary(&replica))
}

/// The newest task uid on a node (`None`: no task).
pub(crate) async fn newest_task(node: &Node) -> Result<Option<u64>> {
    let answer = node
        .json(Method::GET, "/tasks?limit=1", NodeBody::Empty)
        .await?;
    Ok(answer["results"][0]["uid"].as_u64())
}

/// Waits until every task of `uids` finished on `node`; a failed one is an error.
pub(crate) async fn wait_tasks(node: &Node, uids: &[u64]) -> Result<()> {
    if uids.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = uids.iter().map(u64::to_string).collect();
    let path = format!("/tasks?uids={}&limit={}", list.join(","), uids.len());
    let deadline = Instant::now() + PATIENCE;
    loop {
        let answer = node.json(Method::GET, &path, NodeBody::Empty).await?;
        let tasks = answer["results"]
            .as_array()
            .cloned()
            .ok_or_else(|| garbled(node, "answered a task listing without results"))?;
        let finished = tasks
            .iter()
            .filter(|t| {
                matches!(
                    t["status"].as_str(),
                    Some("succeeded" | "failed" | "canceled")
                )
            })
            .count();
        let failed = tasks
            .iter()
            .find(|t| t["status"] == "failed" && t["type"] != "indexDeletion");
        if let Some(failed) = failed {
            return Err(garbled(
                node,
                &format!("a copy task failed: {}", failed["error"]),
            ));
        }
        if finished == uids.len() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(garbled(node, "copy tasks did not finish in time"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
