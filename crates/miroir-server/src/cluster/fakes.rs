//! In-process fake nodes for unit tests: a node that answers, fails to connect, stalls,
//! answers late or answers garbage, and records every request it received.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{Method, StatusCode};
use bytes::Bytes;
use futures::future::BoxFuture;
use serde_json::{json, Value};

use super::node::{Node, NodeApi, NodeBody, NodeResponse};
use super::Cluster;
use crate::config::{NodeConfig, ServerConfig, DEFAULT_PAYLOAD_LIMIT};
use crate::error::{Error, Result};

/// The deadline fake clusters give every node call.
pub(crate) const FAKE_TIMEOUT: Duration = Duration::from_millis(300);

/// How a fake node behaves.
#[derive(Clone, Debug)]
pub(crate) enum Behaviour {
    /// Answers with its handler.
    Answer,
    /// Refuses connections.
    Refuse,
    /// Never answers.
    Stall,
    /// Answers with its handler after a delay.
    Late(Duration),
    /// Answers `200` with a body that is not JSON.
    Garbage,
    /// Runs its handler (the node accepts the call) but the answer never arrives.
    AnswerLost,
}

/// One request a fake node received.
#[derive(Clone, Debug)]
pub(crate) struct Call {
    /// Method.
    pub method: Method,
    /// Path and query.
    pub path: String,
    /// The body: JSON as sent, raw bytes as a string, or `null`.
    pub body: Value,
}

type Handler = Arc<dyn Fn(&Call, u64) -> (StatusCode, Value) + Send + Sync>;

/// A fake node's recipe (cloned into as many nodes as a test needs).
#[derive(Clone)]
pub(crate) struct FakeNode {
    behaviour: Behaviour,
    handler: Handler,
}

impl FakeNode {
    /// A node that accepts every write with a fresh `taskUid` and answers reads with `{}`.
    pub fn healthy() -> FakeNode {
        FakeNode::answering(|call, counter| {
            if call.method == Method::GET {
                (StatusCode::OK, json!({}))
            } else {
                (StatusCode::ACCEPTED, json!({"taskUid": counter}))
            }
        })
    }

    /// A node answering with `handler` (given the call and a per-node request counter).
    pub fn answering(
        handler: impl Fn(&Call, u64) -> (StatusCode, Value) + Send + Sync + 'static,
    ) -> FakeNode {
        FakeNode {
            behaviour: Behaviour::Answer,
            handler: Arc::new(handler),
        }
    }
}

/// A node that behaves like Meilisearch where Miroir's write path depends on it: every write
/// enqueues a task (of the call's type, with its `customMetadata`) that succeeds at once;
/// `GET /tasks` answers by `uids` or from a uid upwards (`reverse=true&from=`); `/health`
/// answers `available`. Its task list is shared with the test.
pub(crate) fn meili_like() -> (FakeNode, Arc<Mutex<Vec<Value>>>) {
    let tasks: Arc<Mutex<Vec<Value>>> = Arc::new(Mutex::new(Vec::new()));
    let list = tasks.clone();
    let node = FakeNode::answering(move |call, _| {
        let Ok(mut tasks) = list.lock() else {
            return (StatusCode::INTERNAL_SERVER_ERROR, json!({}));
        };
        let (path, query) = call
            .path
            .split_once('?')
            .unwrap_or((call.path.as_str(), ""));
        let param = |name: &str| {
            query
                .split('&')
                .find_map(|pair| pair.strip_prefix(&format!("{name}=")))
                .map(str::to_string)
        };
        if call.method == Method::GET && path == "/health" {
            return (StatusCode::OK, json!({"status": "available"}));
        }
        if call.method == Method::GET && path == "/tasks" {
            let results: Vec<Value> = match (param("uids"), param("from")) {
                (Some(uids), _) => {
                    let wanted: Vec<u64> = uids.split(',').filter_map(|u| u.parse().ok()).collect();
                    tasks
                        .iter()
                        .filter(|t| t["uid"].as_u64().is_some_and(|u| wanted.contains(&u)))
                        .cloned()
                        .collect()
                }
                (None, from) if param("reverse").as_deref() == Some("true") => {
                    let from: u64 = from.and_then(|f| f.parse().ok()).unwrap_or(0);
                    tasks
                        .iter()
                        .filter(|t| t["uid"].as_u64().is_some_and(|u| u >= from))
                        .cloned()
                        .collect()
                }
                // Newest first, as Meilisearch lists tasks by default.
                (None, _) => {
                    let limit: usize = param("limit").and_then(|l| l.parse().ok()).unwrap_or(20);
                    tasks.iter().rev().take(limit).cloned().collect()
                }
            };
            return (StatusCode::OK, json!({ "results": results }));
        }
        let Some(kind) = miroir_core::journal::expected_task_type(call.method.as_str(), &call.path)
        else {
            return (StatusCode::OK, json!({}));
        };
        let uid = tasks.len() as u64;
        let now = "2026-01-01T00:00:00Z";
        tasks.push(json!({
            "uid": uid,
            "type": kind,
            "status": "succeeded",
            "path": path,
            "customMetadata": param("customMetadata"),
            "enqueuedAt": time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            "startedAt": now,
            "finishedAt": now,
            "details": {},
            "error": null,
        }));
        (StatusCode::ACCEPTED, json!({"taskUid": uid}))
    });
    (node, tasks)
}

/// A running fake node.
pub(crate) struct FakeService {
    id: String,
    behaviour: Mutex<Behaviour>,
    handler: Handler,
    counter: AtomicU64,
    calls: Mutex<Vec<Call>>,
}

impl FakeService {
    /// Every request received so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// Changes the behaviour from now on.
    pub fn set(&self, behaviour: Behaviour) {
        if let Ok(mut current) = self.behaviour.lock() {
            *current = behaviour;
        }
    }

    fn behaviour(&self) -> Behaviour {
        self.behaviour
            .lock()
            .map(|b| b.clone())
            .unwrap_or(Behaviour::Refuse)
    }
}

impl NodeApi for FakeService {
    fn send<'a>(
        &'a self,
        method: Method,
        path: &'a str,
        body: NodeBody,
    ) -> BoxFuture<'a, Result<NodeResponse>> {
        Box::pin(async move {
            let body = match body {
                NodeBody::Empty => Value::Null,
                NodeBody::Json(value) => value,
                NodeBody::Raw { bytes, .. } => {
                    Value::String(String::from_utf8_lossy(&bytes).into_owned())
                }
            };
            let call = Call {
                method,
                path: path.to_string(),
                body,
            };
            if let Ok(mut calls) = self.calls.lock() {
                calls.push(call.clone());
            }
            let answer = |call: &Call| {
                let (status, value) =
                    (self.handler)(call, self.counter.fetch_add(1, Ordering::SeqCst));
                Ok(NodeResponse {
                    status,
                    body: Bytes::from(value.to_string()),
                })
            };
            match self.behaviour() {
                Behaviour::Answer => answer(&call),
                Behaviour::Refuse => Err(Error::NodeUnavailable {
                    node: self.id.clone(),
                    reason: "connection failed".to_string(),
                }),
                Behaviour::Stall => futures::future::pending().await,
                Behaviour::Late(delay) => {
                    tokio::time::sleep(delay).await;
                    answer(&call)
                }
                Behaviour::AnswerLost => {
                    let _accepted = answer(&call);
                    futures::future::pending().await
                }
                Behaviour::Garbage => Ok(NodeResponse {
                    status: StatusCode::OK,
                    body: Bytes::from_static(b"<html>not meilisearch</html>"),
                }),
            }
        })
    }
}

/// A configuration over `count` nodes `n0`, `n1`, … with replication factor `rf`.
pub(crate) fn fake_config(count: usize, rf: usize) -> ServerConfig {
    ServerConfig {
        master_key: None,
        db_path: std::path::PathBuf::from("unused"),
        replication_factor: rf,
        shards: 8,
        nodes: (0..count)
            .map(|i| NodeConfig {
                id: format!("n{i}"),
                url: format!("http://127.0.0.1:{}", 1 + i),
                api_key: None,
                zone: None,
                weight: 1.0,
            })
            .collect(),
        http_payload_size_limit: DEFAULT_PAYLOAD_LIMIT,
        whole_indexes: Vec::new(),
        node_timeout: FAKE_TIMEOUT,
        replica_timeout: Duration::from_millis(500),
        min_in_sync: 1,
        rebalance_concurrency: 2,
        rebalance_max_documents_per_second: None,
        health_interval: Duration::from_millis(50),
        journal_retention: Duration::from_secs(3600),
        journal_retention_bytes: 1 << 30,
        task_store: None,
        lease_ttl: crate::config::DEFAULT_LEASE_TTL,
    }
}

/// A cluster over fake nodes, and the running fakes (in node order).
pub(crate) fn cluster_of(nodes: Vec<FakeNode>, rf: usize) -> (Cluster, Vec<Arc<FakeService>>) {
    let config = fake_config(nodes.len(), rf);
    let services: Vec<Arc<FakeService>> = nodes
        .into_iter()
        .enumerate()
        .map(|(i, recipe)| {
            Arc::new(FakeService {
                id: format!("n{i}"),
                behaviour: Mutex::new(recipe.behaviour),
                handler: recipe.handler,
                counter: AtomicU64::new(0),
                calls: Mutex::new(Vec::new()),
            })
        })
        .collect();
    let nodes = services
        .iter()
        .map(|s| Node::new(s.id.clone(), s.clone(), config.node_timeout))
        .collect();
    (Cluster::with_nodes(&config, nodes), services)
}
