//! Fanning a read out to one replica per shard, with failover inside the request.
//!
//! The shards are covered by [`Cluster::search_plan`]; when a node fails with a retryable
//! error (unreachable, past its deadline, not answering as Meilisearch), it is marked down, and
//! only its shards are planned again over the remaining replicas, in the same request. A node's
//! own error object is the answer (every replica would say the same). When some shard has no
//! replica left, the read fails with `miroir_shard_unavailable` rather than answering with part
//! of the data.

use std::future::Future;

use futures::future::join_all;

use axum::http::Method;
use bytes::Bytes;
use serde_json::{Map, Value};

use miroir_core::marker::{and_filter, MARKER_FIELD};

use super::node::{Node, NodeBody};
use super::{Cluster, Scope};
use crate::error::{Error, Result};

/// Runs `request(node, selection)` over a plan covering `shards`, re-planning the shards of
/// nodes that fail to answer. `selection` is what the node must filter on (see
/// [`Cluster::shard_selection`]: empty when the node is asked for every shard it holds).
/// Returns one result per node finally asked.
#[tracing::instrument(level = "debug", skip(cluster, scope, request), fields(shards = shards.len()))]
pub(crate) async fn fan_out<T, F, Fut>(
    cluster: &Cluster,
    scope: &Scope,
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
        let plan = cluster.search_plan(scope, &pending, &exclude)?;
        let outcomes = join_all(plan.into_iter().map(|(node, shards)| {
            let outcome = request(node, cluster.shard_selection(scope.layout, node, &shards));
            async move { (node, shards, outcome.await) }
        }))
        .await;
        pending.clear();
        for (node, shards, outcome) in outcomes {
            match outcome {
                Ok(result) => results.push(result),
                Err(error) if error.is_retryable() => {
                    tracing::warn!(node = %cluster.node(node).id, %error, "failing over");
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
    cluster.search_plan(scope, &pending, &exclude)?;
    Ok(results)
}

/// A node's rejection as one Meilisearch would word it. When the client's filter is at fault,
/// the node's message quotes the filter Miroir sent (the client's ANDed with the shard
/// selection, with character positions in it); asking the node again with the client's filter
/// alone yields the message a single Meilisearch gives. Only used on the error path.
pub(crate) async fn client_view(
    node: &Node,
    path: &str,
    client_body: Value,
    error: Error,
) -> Error {
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
pub(crate) async fn post_to_shards(
    node: &Node,
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

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use axum::http::StatusCode;
    use serde_json::json;

    use super::*;
    use crate::cluster::fakes::{cluster_of, Behaviour, FakeNode, FAKE_TIMEOUT};
    use crate::cluster::plan::all_shards;
    use crate::cluster::Layout;

    const LAYOUT: Layout = Layout {
        shards: 8,
        replicas: 2,
    };

    #[tokio::test]
    async fn a_refusing_node_fails_over_to_the_other_replicas() {
        let (cluster, fakes) = cluster_of(vec![FakeNode::healthy(); 3], 2);
        fakes[0].set(Behaviour::Refuse);
        let mut asked = Vec::new();
        for _ in 0..3 {
            let answers = fan_out(
                &cluster,
                &LAYOUT.into(),
                &all_shards(8),
                |node, selection| {
                    let node_handle = cluster.node(node).clone();
                    async move {
                        node_handle
                            .json(Method::POST, "/x", NodeBody::Empty)
                            .await
                            .map(|_| (node, selection))
                    }
                },
            )
            .await
            .expect("the other replicas answer");
            asked.extend(answers.iter().map(|(node, _)| *node));
        }
        assert!(!asked.contains(&0), "node 0 never answers: {asked:?}");
        assert!(!cluster.is_up(0), "a refusing node is marked down");
    }

    #[tokio::test]
    async fn a_stalled_node_costs_one_deadline_then_fails_over() {
        let (cluster, fakes) = cluster_of(vec![FakeNode::healthy(); 2], 2);
        fakes[0].set(Behaviour::Stall);
        fakes[1].set(Behaviour::Stall);
        // Both replicas stalled: the read ends with an error after about one deadline.
        let started = Instant::now();
        let error = fan_out(&cluster, &LAYOUT.into(), &all_shards(8), |node, _| {
            let node = cluster.node(node).clone();
            async move { node.json(Method::POST, "/x", NodeBody::Empty).await }
        })
        .await
        .expect_err("no replica answers");
        assert!(started.elapsed() < FAKE_TIMEOUT * 4, "bounded by deadlines");
        let Error::Meili(e) = error else {
            panic!("expected shard unavailable, got {error:?}")
        };
        assert_eq!(e.code, "miroir_shard_unavailable");

        // One stalled replica: the other answers within the same request.
        let (cluster, fakes) = cluster_of(vec![FakeNode::healthy(); 2], 2);
        fakes[1].set(Behaviour::Stall);
        let mut stalled_was_asked = false;
        for _ in 0..2 {
            let answers = fan_out(&cluster, &LAYOUT.into(), &all_shards(8), |node, _| {
                let handle = cluster.node(node).clone();
                async move {
                    handle
                        .json(Method::POST, "/x", NodeBody::Empty)
                        .await
                        .map(|_| node)
                }
            })
            .await
            .expect("the healthy replica answers");
            assert_eq!(answers, vec![0]);
            stalled_was_asked |= !fakes[1].calls().is_empty();
        }
        assert!(stalled_was_asked, "the plan did try the stalled node once");
    }

    #[tokio::test]
    async fn late_answers_within_the_deadline_are_kept() {
        let (cluster, fakes) = cluster_of(vec![FakeNode::healthy(); 1], 1);
        fakes[0].set(Behaviour::Late(Duration::from_millis(20)));
        let layout = Layout {
            shards: 8,
            replicas: 1,
        };
        let answers = fan_out(&cluster, &layout.into(), &all_shards(8), |node, _| {
            let handle = cluster.node(node).clone();
            async move { handle.json(Method::GET, "/x", NodeBody::Empty).await }
        })
        .await
        .expect("a late answer is an answer");
        assert_eq!(answers, vec![json!({})]);
    }

    #[tokio::test]
    async fn garbage_fails_over_but_a_node_error_is_the_answer() {
        let (cluster, fakes) = cluster_of(vec![FakeNode::healthy(); 2], 2);
        fakes[0].set(Behaviour::Garbage);
        fakes[1].set(Behaviour::Garbage);
        let error = fan_out(&cluster, &LAYOUT.into(), &all_shards(8), |node, _| {
            let handle = cluster.node(node).clone();
            async move { handle.json(Method::GET, "/x", NodeBody::Empty).await }
        })
        .await
        .expect_err("garbage everywhere");
        assert!(matches!(error, Error::Meili(_)), "{error:?}");

        let refusal = FakeNode::answering(|_, _| {
            (
                StatusCode::BAD_REQUEST,
                json!({"message": "bad filter", "code": "invalid_search_filter", "type": "invalid_request", "link": ""}),
            )
        });
        let (cluster, fakes) = cluster_of(vec![refusal; 2], 2);
        let error = fan_out(&cluster, &LAYOUT.into(), &all_shards(8), |node, _| {
            let handle = cluster.node(node).clone();
            async move { handle.json(Method::GET, "/x", NodeBody::Empty).await }
        })
        .await
        .expect_err("the node's refusal");
        assert!(
            matches!(&error, Error::Node { body, .. } if body["code"] == "invalid_search_filter")
        );
        let asked: usize = fakes.iter().map(|f| f.calls().len()).sum();
        assert_eq!(asked, 1, "a deterministic refusal is not retried elsewhere");
        assert!(cluster.is_up(0) && cluster.is_up(1));
    }
}
