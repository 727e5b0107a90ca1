//! The write dispatcher: sends a write's node requests and records its Miroir task.
//!
//! Writes are dispatched under one cluster-wide lock ([`AppState::write_lock`]). Each node runs
//! its tasks in the order it enqueued them, so enqueueing every write on every node in the same
//! order is what keeps the replicas identical (a delete sent after an addition is applied after
//! it everywhere). The lock is held only while requests are *enqueued* on the nodes, not while
//! they are processed; every node call is bounded by the node's deadline, so a stalled node
//! holds the lock for at most one deadline per call.
//!
//! A write's first node request is sent alone: if that node refuses it synchronously (a settings
//! value it rejects, an invalid filter), the refusal goes back to the client as-is and no other
//! node received anything — nothing half-written stays behind. A node that fails after that
//! fails the task (the write journal replaces this with per-node delivery).

use axum::http::Method;
use futures::future::join_all;
use serde_json::Value;
use time::OffsetDateTime;

use miroir_core::task::TaskStatus;
use miroir_store::{NodeTaskRef, TaskRecord};

use crate::cluster::node::NodeBody;
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::tasks::registry::{self, NewTask, Outcome};
use crate::wire::error::index_not_found;
use crate::wire::task::failed_details;

/// One request to one node as part of a write.
#[derive(Debug, Clone)]
pub(crate) struct NodeCall {
    /// Node index in configuration order.
    pub node: usize,
    /// HTTP method.
    pub method: Method,
    /// Path and query.
    pub path: String,
    /// Body.
    pub body: NodeBody,
}

/// Calls toward every node with the same request.
pub(crate) fn broadcast(
    state: &AppState,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Vec<NodeCall> {
    (0..state.cluster.nodes().len())
        .map(|node| NodeCall {
            node,
            method: method.clone(),
            path: path.to_string(),
            body: NodeBody::json_or_empty(body.clone()),
        })
        .collect()
}

/// Sends a write's node requests (see the module docs for ordering and the first-node probe)
/// and records the Miroir task. The caller holds [`AppState::write_lock`].
#[tracing::instrument(level = "debug", skip_all, fields(kind = task.kind, calls = calls.len()))]
pub(crate) async fn dispatch(
    state: &AppState,
    task: NewTask,
    calls: Vec<NodeCall>,
) -> Result<TaskRecord> {
    // Enqueued before any node saw it, so no node can have started it earlier.
    let enqueued_at = OffsetDateTime::now_utc();
    let mut calls = calls.into_iter();
    let mut node_tasks = Vec::new();
    let Some(first) = calls.next() else {
        return registry::succeeded(state, task);
    };
    node_tasks.push(call(state, first).await?);

    // The rest: concurrently across nodes, in order within a node.
    let mut per_node: Vec<Vec<NodeCall>> = Vec::new();
    for call in calls {
        match per_node.iter_mut().find(|c| c[0].node == call.node) {
            Some(list) => list.push(call),
            None => per_node.push(vec![call]),
        }
    }
    let results = join_all(per_node.into_iter().map(|list| async move {
        let mut refs = Vec::new();
        for node_call in list {
            refs.push(call(state, node_call).await?);
        }
        Ok::<_, Error>(refs)
    }))
    .await;
    let mut failure = None;
    for result in results {
        match result {
            Ok(refs) => node_tasks.extend(refs),
            Err(e) => failure = failure.or(Some(e)),
        }
    }
    match failure {
        None => {
            let details = task.details.clone();
            registry::record(
                state,
                task,
                details,
                node_tasks,
                Outcome::enqueued(enqueued_at),
            )
        }
        Some(error) => {
            // Some nodes accepted the write and one did not: the task is failed now, and
            // the replica that missed it must be repaired before it serves again.
            let (_, body) = error.to_meili();
            let details = task.details.clone().map(|d| failed_details(task.kind, d));
            registry::record(
                state,
                task,
                details,
                node_tasks,
                Outcome::finished(TaskStatus::Failed, Some(body), enqueued_at),
            )
        }
    }
}

/// A write that every node applies to an existing index: refused as Meilisearch refuses it
/// (a failed `index_not_found` task) when the index does not exist.
pub(crate) async fn write_to_all(
    state: &AppState,
    uid: &str,
    task: NewTask,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Result<TaskRecord> {
    let _guard = state.write_lock.lock().await;
    if state.store.get_index(uid)?.is_none() {
        return registry::failed(state, task, &index_not_found(uid));
    }
    let calls = broadcast(state, method, path, body);
    dispatch(state, task, calls).await
}

async fn call(state: &AppState, call: NodeCall) -> Result<NodeTaskRef> {
    let node = state.cluster.node(call.node);
    let answer = node.json(call.method, &call.path, call.body).await?;
    let uid = answer
        .get("taskUid")
        .and_then(Value::as_u64)
        .ok_or_else(|| Error::NodeUnavailable {
            node: node.id.clone(),
            reason: "answered a write without a taskUid".to_string(),
        })?;
    Ok(NodeTaskRef {
        node: node.id.clone(),
        uid,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use axum::http::StatusCode;
    use serde_json::json;

    use super::*;
    use crate::cluster::fakes::{Behaviour, FakeNode, FAKE_TIMEOUT};
    use crate::state::testing::state_over;

    /// A node that logs `(node, path)` into `log` and accepts every write.
    fn logging(node: usize, log: &Arc<Mutex<Vec<(usize, String)>>>) -> FakeNode {
        let log = log.clone();
        FakeNode::answering(move |call, counter| {
            if let Ok(mut log) = log.lock() {
                log.push((node, call.path.clone()));
            }
            (StatusCode::ACCEPTED, json!({"taskUid": counter}))
        })
    }

    fn write_task() -> NewTask {
        NewTask {
            kind: "documentAdditionOrUpdate",
            index_uid: Some("movies".into()),
            details: Some(json!({"receivedDocuments": 2, "indexedDocuments": null})),
            custom_metadata: None,
        }
    }

    fn call(node: usize, path: &str) -> NodeCall {
        NodeCall {
            node,
            method: Method::POST,
            path: path.to_string(),
            body: NodeBody::Json(json!([])),
        }
    }

    #[tokio::test]
    async fn the_first_call_goes_alone_and_each_node_keeps_its_order() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let (state, fakes, _dir) = state_over((0..3).map(|n| logging(n, &log)).collect(), 2);
        let calls = vec![
            call(1, "/first"),
            call(0, "/a1"),
            call(2, "/b1"),
            call(0, "/a2"),
            call(2, "/b2"),
            call(0, "/a3"),
        ];
        let record = dispatch(&state, write_task(), calls).await.unwrap();
        assert_eq!(record.status, TaskStatus::Enqueued);
        assert_eq!(record.node_tasks.len(), 6);
        let log = log.lock().unwrap().clone();
        assert_eq!(
            log[0],
            (1, "/first".to_string()),
            "the probe is sent before anything"
        );
        let of = |node: usize| -> Vec<String> {
            log.iter()
                .filter(|(n, _)| *n == node)
                .map(|(_, p)| p.clone())
                .collect()
        };
        assert_eq!(of(0), ["/a1", "/a2", "/a3"]);
        assert_eq!(of(2), ["/b1", "/b2"]);
        assert!(fakes[0].calls().iter().all(|c| c.body == json!([])));
    }

    #[tokio::test]
    async fn a_refusal_by_the_first_node_reaches_no_other_node() {
        let refusing = FakeNode::answering(|_, _| {
            (
                StatusCode::BAD_REQUEST,
                json!({"message": "no", "code": "invalid_settings_ranking_rules", "type": "invalid_request", "link": ""}),
            )
        });
        let (state, fakes, _dir) = state_over(vec![refusing, FakeNode::healthy()], 2);
        let error = dispatch(&state, write_task(), vec![call(0, "/x"), call(1, "/x")])
            .await
            .unwrap_err();
        assert!(matches!(error, Error::Node { status, .. } if status == StatusCode::BAD_REQUEST));
        assert!(fakes[1].calls().is_empty(), "nothing half-written");
        let all = miroir_store::TaskPage {
            filter: Default::default(),
            from: None,
            limit: 10,
            reverse: false,
        };
        assert_eq!(
            state.store.list_tasks(&all).unwrap().1,
            0,
            "no task recorded"
        );
    }

    #[tokio::test]
    async fn a_node_that_fails_after_the_probe_fails_the_task() {
        for behaviour in [Behaviour::Refuse, Behaviour::Garbage, Behaviour::Stall] {
            let (state, fakes, _dir) = state_over(vec![FakeNode::healthy(); 3], 2);
            fakes[2].set(behaviour.clone());
            let started = Instant::now();
            let record = dispatch(
                &state,
                write_task(),
                vec![call(0, "/x"), call(1, "/x"), call(2, "/x")],
            )
            .await
            .unwrap();
            assert!(
                started.elapsed() < FAKE_TIMEOUT + Duration::from_secs(2),
                "{behaviour:?}: a stalled node costs one deadline"
            );
            assert_eq!(record.status, TaskStatus::Failed, "{behaviour:?}");
            let error = record.error.clone().unwrap();
            assert_eq!(error["code"], "miroir_node_unavailable", "{behaviour:?}");
            assert_eq!(record.node_tasks.len(), 2, "{behaviour:?}");
            assert_eq!(record.details.unwrap()["indexedDocuments"], 0);
        }
    }

    #[tokio::test]
    async fn a_write_without_node_calls_succeeds_at_once() {
        let (state, _fakes, _dir) = state_over(vec![FakeNode::healthy()], 1);
        let record = dispatch(&state, write_task(), Vec::new()).await.unwrap();
        assert_eq!(record.status, TaskStatus::Succeeded);
        assert_eq!(record.details.unwrap()["indexedDocuments"], 2);
    }
}
