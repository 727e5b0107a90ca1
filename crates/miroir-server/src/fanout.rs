//! Fanning a read out to one replica per shard, with failover inside the request.
//!
//! The shards are covered by [`Cluster::search_plan`]; when a node does not answer, it is
//! marked down, and only its shards are planned again over the remaining replicas, in the same
//! request. When some shard has no replica left, the read fails with
//! `miroir_shard_unavailable` rather than answering with part of the data.

use std::future::Future;

use futures::future::join_all;

use axum::http::Method;
use bytes::Bytes;
use serde_json::{Map, Value};

use miroir_core::marker::{and_filter, MARKER_FIELD};

use crate::cluster::{Cluster, Layout};
use crate::error::{Error, Result};
use crate::node::{NodeBody, NodeClient};

/// Runs `request(node, selection)` over a plan covering `shards`, re-planning the shards of
/// nodes that fail to answer. `selection` is what the node must filter on (see
/// [`Cluster::shard_selection`]: empty when the node is asked for every shard it holds).
/// Returns one result per node finally asked.
pub async fn fan_out<T, F, Fut>(
    cluster: &Cluster,
    layout: Layout,
    shards: &[u32],
    request: F,
) -> Result<Vec<T>>
where
    F: Fn(usize, Vec<u32>) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let mut exclude: Vec<usize> = Vec::new();
    let mut pending: Vec<u32> = shards.to_vec();
    let mut results = Vec::new();
    // Each round excludes at least one more node, so this ends after at most one round per node.
    for _ in 0..=cluster.nodes().len() {
        let plan = cluster.search_plan(layout, &pending, &exclude)?;
        let outcomes = join_all(plan.into_iter().map(|(node, shards)| {
            let outcome = request(node, cluster.shard_selection(layout, node, &shards));
            async move { (node, shards, outcome.await) }
        }))
        .await;
        pending.clear();
        for (node, shards, outcome) in outcomes {
            match outcome {
                Ok(result) => results.push(result),
                Err(Error::NodeUnavailable { node: id, reason }) => {
                    tracing::warn!(node = %id, %reason, "node unavailable; failing over");
                    cluster.mark_down(node);
                    exclude.push(node);
                    pending.extend(shards);
                }
                Err(other) => return Err(other),
            }
        }
        if pending.is_empty() {
            return Ok(results);
        }
    }
    // Unreachable in practice: the last round's plan already reports the uncovered shard.
    cluster.search_plan(layout, &pending, &exclude)?;
    Ok(results)
}

/// Every shard of an index with `shard_count` shards.
pub fn all_shards(shard_count: u32) -> Vec<u32> {
    (0..shard_count).collect()
}

/// A node's rejection as one Meilisearch would word it. When the client's filter is at fault,
/// the node's message quotes the filter Miroir sent (the client's ANDed with the shard
/// selection, with character positions in it); asking the node again with the client's filter
/// alone yields the message a single Meilisearch gives. Only used on the error path.
pub async fn client_view(node: &NodeClient, path: &str, client_body: Value, error: Error) -> Error {
    let mentions_marker = matches!(&error, Error::Node { body, .. }
        if body["message"].as_str().is_some_and(|m| m.contains(MARKER_FIELD)));
    if !mentions_marker {
        return error;
    }
    match node
        .json(Method::POST, path, NodeBody::Json(client_body))
        .await
    {
        Err(rejection @ Error::Node { .. }) => rejection,
        _ => error,
    }
}

/// POSTs a client's read `body` to `node`, restricted to `shards` (the shard selection ANDed
/// to the client's filter), and returns the raw answer. A rejection comes back worded as for
/// the client's own request (see [`client_view`]).
pub async fn post_to_shards(
    node: &NodeClient,
    path: &str,
    body: &Map<String, Value>,
    shards: &[u32],
) -> Result<Bytes> {
    let mut restricted = body.clone();
    if let Some(filter) = and_filter(shards, body.get("filter")) {
        restricted.insert("filter".into(), filter);
    }
    let response = node
        .send(
            Method::POST,
            path,
            NodeBody::Json(Value::Object(restricted)),
        )
        .await?;
    if !response.status.is_success() {
        if let Err(error) = response.json(&node.id) {
            return Err(client_view(node, path, Value::Object(body.clone()), error).await);
        }
    }
    Ok(response.body)
}
