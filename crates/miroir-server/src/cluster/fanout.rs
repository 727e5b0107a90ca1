//! Fanning a read out to one replica per shard, with failover and hedging inside the request.
//!
//! The shards are covered by [`Cluster::search_plan`] (which prefers the least loaded of
//! equally useful replicas), leaving out nodes far slower than the best (`Cluster::slow_nodes`)
//! when the other replicas cover their shards. Each planned node request then:
//!
//! - **fails over** when it fails with a retryable error (unreachable, past its deadline, not
//!   answering as Meilisearch): the node is marked down and only its shards are planned again
//!   over the remaining replicas, in the same request;
//! - **hedges** when it has not answered within the node's hedge delay (about its recent 95th
//!   percentile, and no longer than the fastest node's; at once for the first read of a node
//!   that was being avoided, a probe — see `cluster::load`): its shards are also planned over the other in-sync
//!   replicas, and whichever side answers first is kept (the other is dropped), so each shard
//!   is still answered exactly once.
//!
//! A node's own error object is the answer (every replica would say the same). When some shard
//! has no replica left, the read fails with `miroir_shard_unavailable` rather than answering
//! with part of the data.

use std::future::Future;
use std::time::Instant;

use futures::future::{join_all, BoxFuture};

use axum::http::Method;
use bytes::Bytes;
use serde_json::{Map, Value};

use miroir_core::marker::{and_filter, MARKER_FIELD};

use super::load::InFlight;
use super::node::{Node, NodeBody};
use super::{Cluster, Scope};
use crate::error::{Error, Result};

/// Runs `request(node, selection)` over a plan covering `shards` (see the module docs).
/// `selection` is what the node must filter on (see [`Cluster::shard_selection`]: empty when
/// the node is asked for every shard it holds). Returns one result per node whose answer was
/// kept.
#[tracing::instrument(level = "debug", skip(cluster, scope, request), fields(shards = shards.len()))]
pub(crate) async fn fan_out<T, F, Fut>(
    cluster: &Cluster,
    scope: &Scope,
    shards: &[u32],
    request: F,
) -> Result<Vec<T>>
where
    T: Send,
    F: Fn(usize, Vec<u32>) -> Fut + Sync,
    Fut: Future<Output = Result<T>> + Send,
{
    let _reading = cluster.read_guard();
    cover(cluster, scope, shards.to_vec(), Vec::new(), &request).await
}

/// Covers `shards` avoiding `exclude`: one attempt per planned node, concurrently.
fn cover<'a, T, F, Fut>(
    cluster: &'a Cluster,
    scope: &'a Scope,
    shards: Vec<u32>,
    exclude: Vec<usize>,
    request: &'a F,
) -> BoxFuture<'a, Result<Vec<T>>>
where
    T: Send,
    F: Fn(usize, Vec<u32>) -> Fut + Sync,
    Fut: Future<Output = Result<T>> + Send,
{
    Box::pin(async move {
        // Far slower nodes are left out when the others cover their shards.
        let slow = cluster.slow_nodes();
        let mut avoiding = exclude.clone();
        avoiding.extend(slow.iter().copied());
        let plan = match cluster.search_plan(scope, &shards, &avoiding) {
            Ok(plan) if !slow.is_empty() => {
                slow.iter().for_each(|node| cluster.load(*node).decay());
                plan
            }
            Ok(plan) => plan,
            Err(_) => cluster.search_plan(scope, &shards, &exclude)?,
        };
        crate::metrics::fan_out_width(plan.len());
        let attempts =
            join_all(plan.into_iter().map(|(node, shards)| {
                attempt(cluster, scope, node, shards, exclude.clone(), request)
            }))
            .await;
        let mut results = Vec::new();
        for attempt in attempts {
            results.extend(attempt?);
        }
        Ok(results)
    })
}

/// Asks `node` for `shards`; fails over on a retryable error, hedges past the node's delay.
fn attempt<'a, T, F, Fut>(
    cluster: &'a Cluster,
    scope: &'a Scope,
    node: usize,
    shards: Vec<u32>,
    exclude: Vec<usize>,
    request: &'a F,
) -> BoxFuture<'a, Result<Vec<T>>>
where
    T: Send,
    F: Fn(usize, Vec<u32>) -> Fut + Sync,
    Fut: Future<Output = Result<T>> + Send,
{
    Box::pin(async move {
        let load = &cluster.load(node);
        let in_flight = load.begin();
        let started = Instant::now();
        let mut primary = Box::pin(request(
            node,
            cluster.shard_selection(scope.layout, node, &shards),
        ));
        let mut without: Vec<usize> = exclude.clone();
        without.push(node);
        // Hedging needs another replica in sync for every shard of this request.
        let can_hedge = cluster.search_plan(scope, &shards, &without).is_ok();
        // The first read of a node that was being avoided is hedged at once.
        let probe = can_hedge && load.take_probe();
        let delay = if probe {
            std::time::Duration::ZERO
        } else {
            load.hedge_delay(cluster.hedge_ceiling(), cluster.node(node).timeout())
        };
        if !can_hedge {
            let outcome = primary.await;
            let fail_over = cover(cluster, scope, shards, without, request);
            return settle(cluster, node, started, in_flight, outcome, fail_over).await;
        }
        tokio::select! {
            outcome = &mut primary => {
                let fail_over = cover(cluster, scope, shards, without, request);
                settle(cluster, node, started, in_flight, outcome, fail_over).await
            }
            () = tokio::time::sleep(delay) => {
                tracing::debug!(node = %cluster.node(node).id, ?delay, "hedging a slow read");
                crate::metrics::hedged();
                let mut backup = cover(cluster, scope, shards, without, request);
                tokio::select! {
                    outcome = &mut primary => {
                        settle(cluster, node, started, in_flight, outcome, backup).await
                    }
                    backup_outcome = &mut backup => match backup_outcome {
                        Ok(results) => {
                            // The node lost the race: it takes longer than this, by how much
                            // is unknown. Counting twice the wait as its latency lets replica
                            // choice learn to avoid it while it stays slow.
                            if probe {
                                load.probe_lost(started.elapsed());
                            } else {
                                load.record(started.elapsed() * 2);
                            }
                            Ok(results)
                        }
                        // The backup failed: the primary may still answer; if it fails too, the
                        // backup's error is the answer.
                        Err(backup_error) => {
                            let outcome = primary.await;
                            let no_replica_left: BoxFuture<'_, Result<Vec<T>>> =
                                Box::pin(async move { Err(backup_error) });
                            settle(cluster, node, started, in_flight, outcome, no_replica_left)
                                .await
                        }
                    },
                }
            }
        }
    })
}

/// What a node's own answer makes of its part: kept (and its latency recorded), the node's
/// refusal, or — on a retryable failure — the node marked down and `fallback` awaited.
async fn settle<T>(
    cluster: &Cluster,
    node: usize,
    started: Instant,
    in_flight: InFlight<'_>,
    outcome: Result<T>,
    fallback: BoxFuture<'_, Result<Vec<T>>>,
) -> Result<Vec<T>> {
    match outcome {
        Ok(result) => {
            cluster.load(node).record(started.elapsed());
            Ok(vec![result])
        }
        Err(error) if error.is_retryable() => {
            tracing::warn!(node = %cluster.node(node).id, %error, "failing over");
            crate::metrics::failed_over();
            cluster.mark_down(node);
            drop(in_flight);
            fallback.await
        }
        Err(error) => Err(error),
    }
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

    /// Fans out over every shard; each node answers its own position.
    async fn asked_nodes(cluster: &Cluster, scope: &Scope) -> Result<Vec<usize>> {
        fan_out(cluster, scope, &all_shards(8), |node, _| {
            let handle = cluster.node(node).clone();
            async move {
                handle
                    .json(Method::GET, "/x", NodeBody::Empty)
                    .await
                    .map(|_| node)
            }
        })
        .await
    }

    const LAYOUT: Layout = Layout {
        shards: 8,
        whole: false,
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
            let answers = asked_nodes(&cluster, &LAYOUT.into())
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
            whole: false,
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

    #[tokio::test]
    async fn a_slow_replica_is_hedged_and_the_first_answer_kept() {
        let (cluster, fakes) = cluster_of(vec![FakeNode::healthy(); 2], 2);
        fakes[0].set(Behaviour::Late(Duration::from_millis(250)));
        // Node 0 looks fast from its past reads, so the plan asks it first.
        for _ in 0..10 {
            cluster.load(0).record(Duration::from_millis(1));
            cluster.load(1).record(Duration::from_millis(5));
        }
        let started = Instant::now();
        let answers = asked_nodes(&cluster, &LAYOUT.into())
            .await
            .expect("an answer");
        assert_eq!(
            answers,
            vec![1],
            "the hedge answered first; each shard answered once"
        );
        assert!(
            started.elapsed() < Duration::from_millis(200),
            "did not wait for the slow replica: {:?}",
            started.elapsed()
        );
        assert_eq!(
            fakes[0].calls().len(),
            1,
            "the slow replica was asked first"
        );
        assert!(cluster.is_up(0), "a slow node is not a down node");
    }
}
