//! `POST /tasks/cancel`: cancels the matching Miroir tasks that are still enqueued or
//! processing, by canceling their node tasks on each node that holds some, as one Miroir task.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{Method, StatusCode};
use axum::response::IntoResponse;
use serde_json::json;

use super::dispatch::{dispatch, NodeCall};
use crate::cluster::node::NodeBody;
use crate::error::Result;
use crate::extract::Params;
use crate::state::AppState;
use crate::tasks::filter::{original_filter, parse_filter, require_filters};
use crate::tasks::registry::NewTask;
use crate::wire::task::summarized_with;

/// `POST /tasks/cancel`: cancels matching enqueued or processing tasks on their nodes.
pub(crate) async fn cancel_tasks(
    State(state): State<Arc<AppState>>,
    RawQuery(raw): RawQuery,
) -> Result<impl IntoResponse> {
    let params = Params::parse(raw.as_deref());
    require_filters(&params, "cancel")?;
    let filter = parse_filter(&params)?;
    let _guard = state.write_lock.lock().await;
    // Like Meilisearch, `matchedTasks` counts every task the filter matches; only those still
    // enqueued or processing are actually canceled.
    let matched = state.store.matching_task_uids(&filter)?;
    let mut per_node: HashMap<String, Vec<u64>> = HashMap::new();
    let mut targets = Vec::new();
    for uid in &matched {
        if let Some(task) = state.store.get_task(*uid)? {
            if task.status.is_finished() {
                continue;
            }
            for node_task in &task.node_tasks {
                per_node
                    .entry(node_task.node.clone())
                    .or_default()
                    .push(node_task.uid);
            }
            targets.push(task);
        }
    }
    let mut calls = Vec::new();
    for (index, node) in state.cluster.nodes().iter().enumerate() {
        if let Some(uids) = per_node.get(&node.id) {
            let list: Vec<String> = uids.iter().map(u64::to_string).collect();
            calls.push(NodeCall {
                node: index,
                method: Method::POST,
                path: format!("/tasks/cancel?uids={}", list.join(",")),
                body: NodeBody::Empty,
            });
        }
    }
    let details = json!({
        "matchedTasks": matched.len(),
        "canceledTasks": null,
        "originalFilter": original_filter(&raw),
    });
    let task = NewTask {
        kind: "taskCancelation",
        index_uid: None,
        details: Some(details),
        custom_metadata: None,
    };
    let record = dispatch(&state, task, calls).await?;
    for mut target in targets {
        target.canceled_by = Some(record.uid);
        state.store.update_task(&target)?;
    }
    Ok(summarized_with(StatusCode::OK, &record))
}
