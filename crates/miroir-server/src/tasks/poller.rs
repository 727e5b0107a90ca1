//! The task poller: derives each Miroir task's state from its node tasks.
//!
//! The poller wakes when a task is created and then polls every node that has unfinished
//! node tasks (one `GET /tasks?uids=…` per node per round, every [`POLL_INTERVAL`]) until
//! nothing is left to wait for. A node that does not answer leaves its tasks as they are until
//! a later round. A task finishes when every node task did ([`miroir_core::task::aggregate`]):
//! its details are completed (documents counted once per copy), its side effects applied (a
//! primary key adopted), and the webhooks told.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use axum::http::Method;
use futures::future::join_all;
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use miroir_core::task::{aggregate, NodeTaskState, TaskStatus};
use miroir_store::{TaskFilter, TaskRecord};

use super::filter::parse_filter;
use crate::cluster::node::NodeBody;
use crate::error::Result;
use crate::extract::Params;
use crate::state::AppState;
use crate::wire::task::task_object;

/// How often unfinished tasks are polled on the nodes.
pub(crate) const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// What one node said about one of its tasks.
struct NodeTaskView {
    state: NodeTaskState,
    details: Option<Value>,
}

fn parse_time(value: Option<&Value>) -> Option<OffsetDateTime> {
    value
        .and_then(Value::as_str)
        .and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok())
}

fn node_task_view(task: &Value) -> Option<(u64, NodeTaskView)> {
    let uid = task.get("uid")?.as_u64()?;
    let status = TaskStatus::parse(task.get("status")?.as_str()?)?;
    Some((
        uid,
        NodeTaskView {
            state: NodeTaskState {
                status,
                error: task.get("error").filter(|e| !e.is_null()).cloned(),
                started_at: parse_time(task.get("startedAt")),
                finished_at: parse_time(task.get("finishedAt")),
            },
            details: task.get("details").cloned(),
        },
    ))
}

/// Runs forever: keeps Miroir task states in step with their node tasks.
pub(crate) async fn run_poller(state: Arc<AppState>) {
    loop {
        let pending = match poll_once(&state).await {
            Ok(pending) => pending,
            Err(e) => {
                tracing::warn!(error = %e, "task poll failed");
                true
            }
        };
        if pending {
            tokio::time::sleep(POLL_INTERVAL).await;
        } else {
            // Idle until a task is created; the timeout is a safety net only.
            let _ =
                tokio::time::timeout(Duration::from_secs(1), state.task_created.notified()).await;
        }
    }
}

/// One polling round. Returns whether unfinished tasks remain.
async fn poll_once(state: &AppState) -> Result<bool> {
    let unfinished = state.store.unfinished_tasks()?;
    if unfinished.is_empty() {
        return Ok(false);
    }
    let mut wanted: HashMap<&str, HashSet<u64>> = HashMap::new();
    for task in &unfinished {
        for node_task in &task.node_tasks {
            wanted
                .entry(node_task.node.as_str())
                .or_default()
                .insert(node_task.uid);
        }
    }
    let queries = state.cluster.nodes().iter().filter_map(|node| {
        let uids = wanted.get(node.id.as_str())?;
        let list: Vec<String> = uids.iter().map(u64::to_string).collect();
        let path = format!("/tasks?uids={}&limit={}", list.join(","), uids.len());
        Some(async move {
            (
                node.id.clone(),
                node.json(Method::GET, &path, NodeBody::Empty).await,
            )
        })
    });
    let mut views: HashMap<(String, u64), NodeTaskView> = HashMap::new();
    for (node, answer) in join_all(queries).await {
        match answer {
            Ok(body) => {
                let results = body.get("results").and_then(Value::as_array);
                for task in results.into_iter().flatten() {
                    if let Some((uid, view)) = node_task_view(task) {
                        views.insert((node.clone(), uid), view);
                    }
                }
            }
            Err(e) => tracing::debug!(%node, error = %e, "node unreachable while polling tasks"),
        }
    }
    let pending_uids: Vec<u64> = unfinished.iter().map(|t| t.uid).collect();
    let mut finished = Vec::new();
    for mut task in unfinished {
        if task.kind == "taskDeletion" && task.node_tasks.is_empty() {
            if pending_uids.iter().all(|uid| *uid >= task.uid) {
                run_task_deletion(state, &mut task)?;
                state.store.update_task(&task)?;
                finished.push(task_object(&task));
            }
            continue;
        }
        let mut states = Vec::with_capacity(task.node_tasks.len());
        let mut node_details = Vec::new();
        let mut complete = true;
        for node_task in &task.node_tasks {
            match views.get(&(node_task.node.clone(), node_task.uid)) {
                Some(view) => {
                    states.push(view.state.clone());
                    node_details.extend(view.details.clone());
                }
                None => complete = false,
            }
        }
        if !complete {
            continue;
        }
        let derived = aggregate(&states);
        let changed = derived.status != task.status
            || derived.started_at.map(|at| at.max(task.enqueued_at)) != task.started_at;
        if !changed {
            continue;
        }
        task.status = derived.status;
        // Node clocks may run slightly behind Miroir's: never start before enqueued.
        task.started_at = derived.started_at.map(|at| at.max(task.enqueued_at));
        task.finished_at = derived
            .finished_at
            .map(|at| at.max(task.started_at.unwrap_or(task.enqueued_at)));
        task.error = derived.error;
        if task.status.is_finished() {
            finish(state, &mut task, &node_details)?;
        }
        state.store.update_task(&task)?;
        if task.status.is_finished() {
            finished.push(task_object(&task));
        }
    }
    super::webhooks::notify(state, &finished);
    Ok(true)
}

/// Runs a task deletion once every earlier task finished: deletes the finished tasks its
/// filter matches among those enqueued before it.
fn run_task_deletion(state: &AppState, task: &mut TaskRecord) -> Result<()> {
    let raw = task
        .details
        .as_ref()
        .and_then(|d| d.get("originalFilter"))
        .and_then(Value::as_str)
        .unwrap_or("?")
        .trim_start_matches('?')
        .to_string();
    let filter = parse_filter(&Params::parse(Some(&raw)))?;
    let mut targets = Vec::new();
    for uid in state.store.matching_task_uids(&filter)? {
        if uid >= task.uid {
            continue;
        }
        if let Some(target) = state.store.get_task(uid)? {
            if target.status.is_finished() {
                targets.push(uid);
            }
        }
    }
    let deleted = state.store.delete_tasks(&targets)?;
    let now = OffsetDateTime::now_utc();
    task.status = TaskStatus::Succeeded;
    task.started_at = Some(now);
    task.finished_at = Some(now);
    if let Some(Value::Object(details)) = &mut task.details {
        details.insert("deletedTasks".into(), Value::from(deleted));
    }
    Ok(())
}

/// Final `details` and side effects of a task that just finished.
fn finish(state: &AppState, task: &mut TaskRecord, node_details: &[Value]) -> Result<()> {
    let succeeded = task.status == TaskStatus::Succeeded;
    // Each document is counted once per copy: by the index's layout when it still exists.
    let index = match task.index_uid.as_deref() {
        Some(uid) => state.store.get_index(uid)?,
        None => None,
    };
    let rf = index
        .map_or(state.cluster.replication_factor(), |index| {
            state.cluster.layout(&index).replicas
        })
        .max(1) as u64;
    let node_sum = |key: &str| -> u64 {
        node_details
            .iter()
            .filter_map(|d| d.get(key).and_then(Value::as_u64))
            .sum()
    };
    let deleted = node_sum("deletedDocuments") / rf;
    let edited = node_sum("editedDocuments") / rf;
    let canceled = if task.kind == "taskCancelation" {
        let filter = TaskFilter {
            canceled_by: Some(vec![task.uid]),
            statuses: Some(vec![TaskStatus::Canceled]),
            ..TaskFilter::default()
        };
        state.store.matching_task_uids(&filter)?.len() as u64
    } else {
        0
    };
    if let Some(Value::Object(details)) = &mut task.details {
        if details.contains_key("indexedDocuments") {
            let received = details
                .get("receivedDocuments")
                .cloned()
                .unwrap_or(Value::from(0));
            let indexed = if succeeded { received } else { Value::from(0) };
            details.insert("indexedDocuments".into(), indexed);
        }
        if details.contains_key("deletedDocuments") {
            let value = if succeeded { deleted } else { 0 };
            details.insert("deletedDocuments".into(), Value::from(value));
        }
        if details.contains_key("editedDocuments") {
            let value = if succeeded { edited } else { 0 };
            details.insert("editedDocuments".into(), Value::from(value));
        }
        if details.contains_key("dumpUid") {
            let uid = node_details
                .iter()
                .find_map(|d| d.get("dumpUid").filter(|u| !u.is_null()).cloned())
                .unwrap_or(Value::Null);
            details.insert("dumpUid".into(), if succeeded { uid } else { Value::Null });
        }
        if details.contains_key("canceledTasks") {
            details.insert("canceledTasks".into(), Value::from(canceled));
        }
    }
    if succeeded && task.kind == "indexUpdate" {
        apply_index_update(state, task)?;
    }
    Ok(())
}

/// Adopts a primary key once an `indexUpdate` task succeeded on every node.
fn apply_index_update(state: &AppState, task: &TaskRecord) -> Result<()> {
    let Some(details) = &task.details else {
        return Ok(());
    };
    let Some(primary_key) = details.get("primaryKey").and_then(Value::as_str) else {
        return Ok(());
    };
    let Some(uid) = details
        .get("newIndexUid")
        .and_then(Value::as_str)
        .or(task.index_uid.as_deref())
    else {
        return Ok(());
    };
    if let Some(mut index) = state.store.get_index(uid)? {
        index.primary_key = Some(primary_key.to_string());
        index.updated_at = OffsetDateTime::now_utc();
        state.store.put_index(&index)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use axum::http::StatusCode;
    use serde_json::json;

    use super::*;
    use crate::cluster::fakes::{Behaviour, FakeNode};
    use crate::state::testing::state_over;
    use crate::tasks::registry::{record, NewTask, Outcome};
    use miroir_store::NodeTaskRef;

    /// A node whose every task has the status in `status`, with `deletedDocuments: 3`.
    fn node_with(status: &Arc<Mutex<&'static str>>) -> FakeNode {
        let status = status.clone();
        FakeNode::answering(move |call, _| {
            let current = *status.lock().unwrap();
            let uids: Vec<u64> = call
                .path
                .split("uids=")
                .nth(1)
                .and_then(|rest| rest.split('&').next())
                .map(|list| list.split(',').filter_map(|u| u.parse().ok()).collect())
                .unwrap_or_default();
            let finished = matches!(current, "succeeded" | "failed");
            let results: Vec<Value> = uids
                .iter()
                .map(|uid| {
                    json!({
                        "uid": uid,
                        "status": current,
                        "details": {"deletedDocuments": 3},
                        "error": null,
                        "startedAt": "2026-01-01T00:00:01Z",
                        "finishedAt": if finished { json!("2026-01-01T00:00:02Z") } else { Value::Null },
                    })
                })
                .collect();
            (StatusCode::OK, json!({ "results": results }))
        })
    }

    #[tokio::test]
    async fn a_task_follows_its_node_tasks_to_the_end() {
        let first = Arc::new(Mutex::new("succeeded"));
        let second = Arc::new(Mutex::new("processing"));
        let (state, fakes, _dir) = state_over(vec![node_with(&first), node_with(&second)], 2);
        let task = NewTask {
            kind: "documentDeletion",
            index_uid: None,
            details: Some(json!({"deletedDocuments": null})),
            custom_metadata: None,
        };
        let node_tasks = vec![
            NodeTaskRef {
                node: "n0".into(),
                uid: 7,
            },
            NodeTaskRef {
                node: "n1".into(),
                uid: 9,
            },
        ];
        let enqueued_at = OffsetDateTime::now_utc();
        let created = record(
            &state,
            task.clone(),
            task.details.clone(),
            node_tasks,
            Outcome::enqueued(enqueued_at),
        )
        .unwrap();

        assert!(poll_once(&state).await.unwrap(), "still waiting");
        let seen = state.store.get_task(created.uid).unwrap().unwrap();
        assert_eq!(seen.status, TaskStatus::Processing);
        assert!(fakes[1].calls()[0].path.contains("uids=9"));

        // A node that stops answering leaves the task as it was.
        fakes[1].set(Behaviour::Refuse);
        *second.lock().unwrap() = "succeeded";
        poll_once(&state).await.unwrap();
        let seen = state.store.get_task(created.uid).unwrap().unwrap();
        assert_eq!(seen.status, TaskStatus::Processing);

        fakes[1].set(Behaviour::Answer);
        poll_once(&state).await.unwrap();
        let done = state.store.get_task(created.uid).unwrap().unwrap();
        assert_eq!(done.status, TaskStatus::Succeeded);
        assert!(done.finished_at.is_some() && done.started_at >= Some(enqueued_at));
        // 3 deleted on each of 2 copies: 3 documents.
        assert_eq!(done.details.unwrap()["deletedDocuments"], 3);
        assert!(
            !poll_once(&state).await.unwrap(),
            "nothing left to wait for"
        );
    }

    #[tokio::test]
    async fn one_failed_node_task_fails_the_task() {
        let first = Arc::new(Mutex::new("succeeded"));
        let second = Arc::new(Mutex::new("failed"));
        let (state, _fakes, _dir) = state_over(vec![node_with(&first), node_with(&second)], 2);
        let task = NewTask {
            kind: "documentDeletion",
            index_uid: None,
            details: Some(json!({"deletedDocuments": null})),
            custom_metadata: None,
        };
        let node_tasks = vec![
            NodeTaskRef {
                node: "n0".into(),
                uid: 1,
            },
            NodeTaskRef {
                node: "n1".into(),
                uid: 1,
            },
        ];
        let created = record(
            &state,
            task.clone(),
            task.details.clone(),
            node_tasks,
            Outcome::enqueued(OffsetDateTime::now_utc()),
        )
        .unwrap();
        poll_once(&state).await.unwrap();
        let done = state.store.get_task(created.uid).unwrap().unwrap();
        assert_eq!(done.status, TaskStatus::Failed);
        assert_eq!(done.details.unwrap()["deletedDocuments"], 0);
    }
}
