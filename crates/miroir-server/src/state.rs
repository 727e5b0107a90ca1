//! Shared server state and the write dispatcher.
//!
//! Writes are dispatched under one cluster-wide lock. Each node runs its tasks in the order it
//! enqueued them, so enqueueing every write on every node in the same order is what keeps the
//! replicas identical (a delete sent after an addition is applied after it everywhere). The lock
//! is held only while requests are *enqueued* on the nodes, not while they are processed.
//!
//! A write's first node request is sent alone: if that node refuses it synchronously (a settings
//! value it rejects, an invalid filter), the refusal goes back to the client as-is and no other
//! node received anything — nothing half-written stays behind.

use std::sync::Arc;

use axum::http::Method;
use futures::future::join_all;
use serde_json::Value;
use time::OffsetDateTime;
use tokio::sync::{Mutex, Notify};

use miroir_core::task::TaskStatus;
use miroir_store::{IndexRecord, NodeTaskRef, Store, TaskRecord};

use crate::cluster::Cluster;
use crate::config::ServerConfig;
use crate::error::{index_not_found, Error, MeiliError, Result};
use crate::node::NodeBody;

/// Everything a request handler can reach.
pub struct AppState {
    /// The validated configuration.
    pub config: ServerConfig,
    /// Persistent state.
    pub store: Arc<dyn Store>,
    /// Nodes and placement.
    pub cluster: Cluster,
    /// Serializes write dispatch (see the module docs).
    pub write_lock: Mutex<()>,
    /// Wakes the task poller when a task is created.
    pub task_created: Notify,
}

/// One request to one node as part of a write.
pub struct NodeCall {
    /// Node index in configuration order.
    pub node: usize,
    /// HTTP method.
    pub method: Method,
    /// Path and query.
    pub path: String,
    /// Body.
    pub body: NodeBody,
}

/// How a task is recorded: its state at creation.
struct Outcome {
    status: TaskStatus,
    error: Option<Value>,
    enqueued_at: OffsetDateTime,
    finished_at: Option<OffsetDateTime>,
}

/// A new Miroir task, before it has a uid.
pub struct NewTask {
    /// Meilisearch task type.
    pub kind: &'static str,
    /// Index it concerns.
    pub index_uid: Option<String>,
    /// `details` while enqueued.
    pub details: Option<Value>,
    /// The client's `customMetadata`, echoed in the task.
    pub custom_metadata: Option<String>,
}

impl AppState {
    /// An index's metadata, or `index_not_found`.
    pub fn index(&self, uid: &str) -> Result<IndexRecord> {
        self.store
            .get_index(uid)?
            .ok_or_else(|| index_not_found(uid).into())
    }

    /// Records a task that failed before reaching any node (Meilisearch fails it asynchronously;
    /// so does Miroir: the client gets `202 enqueued`, then sees it failed).
    pub fn failed_task(&self, task: NewTask, error: &MeiliError) -> Result<TaskRecord> {
        let now = OffsetDateTime::now_utc();
        let details = task.details.clone().map(|d| failed_details(task.kind, d));
        self.record(
            task,
            details,
            Vec::new(),
            Outcome {
                status: TaskStatus::Failed,
                error: Some(error.to_json()),
                enqueued_at: now,
                finished_at: Some(now),
            },
        )
    }

    /// Records a task Miroir runs itself (no node work), enqueued; the poller runs it.
    pub fn local_task(&self, task: NewTask) -> Result<TaskRecord> {
        let details = task.details.clone();
        let now = OffsetDateTime::now_utc();
        self.record(
            task,
            details,
            Vec::new(),
            Outcome {
                status: TaskStatus::Enqueued,
                error: None,
                enqueued_at: now,
                finished_at: None,
            },
        )
    }

    /// Records a task with nothing to wait for, already succeeded.
    pub fn succeeded_task(&self, task: NewTask, details: Option<Value>) -> Result<TaskRecord> {
        let now = OffsetDateTime::now_utc();
        self.record(
            task,
            details,
            Vec::new(),
            Outcome {
                status: TaskStatus::Succeeded,
                error: None,
                enqueued_at: now,
                finished_at: Some(now),
            },
        )
    }

    fn record(
        &self,
        task: NewTask,
        details: Option<Value>,
        node_tasks: Vec<NodeTaskRef>,
        outcome: Outcome,
    ) -> Result<TaskRecord> {
        let Outcome {
            status,
            error,
            enqueued_at,
            finished_at,
        } = outcome;
        let mut record = TaskRecord {
            uid: 0,
            index_uid: task.index_uid,
            status,
            kind: task.kind.to_string(),
            canceled_by: None,
            details,
            error,
            enqueued_at,
            started_at: finished_at,
            finished_at,
            node_tasks,
            custom_metadata: task.custom_metadata,
        };
        record.uid = self.store.create_task(&record)?;
        if record.status.is_finished() {
            crate::webhooks::notify(self, &[crate::tasks::task_object(&record)]);
        }
        self.task_created.notify_one();
        Ok(record)
    }

    /// Sends a write's node requests (see the module docs for ordering and the first-node
    /// probe) and records the Miroir task. The caller holds [`AppState::write_lock`].
    pub async fn dispatch(&self, task: NewTask, calls: Vec<NodeCall>) -> Result<TaskRecord> {
        // Enqueued before any node saw it, so no node can have started it earlier.
        let enqueued_at = OffsetDateTime::now_utc();
        let mut calls = calls.into_iter();
        let mut node_tasks = Vec::new();
        let Some(first) = calls.next() else {
            let details = task
                .details
                .clone()
                .map(|d| succeeded_details(task.kind, d));
            return self.succeeded_task(task, details);
        };
        node_tasks.push(self.call(first).await?);

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
            for call in list {
                refs.push(self.call(call).await?);
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
                self.record(
                    task,
                    details,
                    node_tasks,
                    Outcome {
                        status: TaskStatus::Enqueued,
                        error: None,
                        enqueued_at,
                        finished_at: None,
                    },
                )
            }
            Some(error) => {
                // Some nodes accepted the write and one did not: the task is failed now, and
                // the replica that missed it must be repaired before it serves again.
                let (_, body) = error.to_meili();
                let details = task.details.clone().map(|d| failed_details(task.kind, d));
                let now = OffsetDateTime::now_utc();
                self.record(
                    task,
                    details,
                    node_tasks,
                    Outcome {
                        status: TaskStatus::Failed,
                        error: Some(body),
                        enqueued_at,
                        finished_at: Some(now),
                    },
                )
            }
        }
    }

    /// A write that every node applies to an existing index: refused as Meilisearch refuses it
    /// (a failed `index_not_found` task) when the index does not exist.
    pub async fn write_to_all(
        &self,
        task: NewTask,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<TaskRecord> {
        let uid = task.index_uid.clone().unwrap_or_default();
        let _guard = self.write_lock.lock().await;
        if self.store.get_index(&uid)?.is_none() {
            return self.failed_task(task, &crate::error::index_not_found(&uid));
        }
        let calls = crate::indexes::broadcast(self, method, path, body);
        self.dispatch(task, calls).await
    }

    async fn call(&self, call: NodeCall) -> Result<NodeTaskRef> {
        let node = self.cluster.node(call.node);
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
}

/// `details` of a task that failed: counts of work done become 0, as on Meilisearch.
pub fn failed_details(kind: &str, mut details: Value) -> Value {
    if let Value::Object(map) = &mut details {
        for key in ["indexedDocuments", "deletedDocuments", "editedDocuments"] {
            if map.contains_key(key) {
                map.insert(key.to_string(), Value::from(0));
            }
        }
        if kind == "taskCancelation" {
            map.insert("canceledTasks".to_string(), Value::from(0));
        }
    }
    details
}

/// `details` of a task that succeeded without node work (e.g. an empty document batch).
pub fn succeeded_details(kind: &str, mut details: Value) -> Value {
    if let Value::Object(map) = &mut details {
        if kind == "documentAdditionOrUpdate" {
            let received = map
                .get("receivedDocuments")
                .cloned()
                .unwrap_or(Value::from(0));
            map.insert("indexedDocuments".to_string(), received);
        }
        for key in ["deletedDocuments", "editedDocuments", "canceledTasks"] {
            if map.get(key).is_some_and(Value::is_null) {
                map.insert(key.to_string(), Value::from(0));
            }
        }
    }
    details
}
