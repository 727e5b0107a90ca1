//! `POST /tasks/cancel`: cancels the matching Miroir tasks that are still enqueued or
//! processing: their calls not delivered yet are canceled in the journal, and their node
//! tasks already enqueued are canceled on their nodes, as one Miroir task.
//!
//! The cancelation only ever sets the canceled tasks' `canceledBy`
//! ([`miroir_store::Store::set_canceled_by`]): their status is the poller's to derive, and
//! the poller may finish one (a node task that ran before its cancelation arrived) at any
//! moment.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{Method, StatusCode};
use axum::response::IntoResponse;
use serde_json::json;
use time::OffsetDateTime;

use miroir_core::task::TaskStatus;
use miroir_store::Delivery;

use super::delivery::reconcile;
use super::journal::{submit, NodeCall};
use crate::error::Result;
use crate::extract::Params;
use crate::state::AppState;
use crate::tasks::filter::{original_filter, parse_filter, require_filters};
use crate::tasks::registry::NewTask;
use crate::wire::task::summarized_with;

/// The call `node` may hold without the journal knowing (its last send failed after the node
/// may have accepted it), as `(seq, call)`: the node's first undelivered call, when a
/// reconciliation cannot settle it now. Such a call is never canceled in the journal: the
/// node's delivery loop records it or sends it, and it finishes as the node runs it.
/// The caller holds the node's outbox lock.
async fn in_doubt_call(state: &AppState, node: usize) -> Result<Option<(u64, u32)>> {
    let outbox = state.cluster.outbox(node);
    if !outbox.unsure.load(Ordering::SeqCst) {
        return Ok(None);
    }
    if reconcile(state, node).await.is_ok() {
        outbox.unsure.store(false, Ordering::SeqCst);
        return Ok(None);
    }
    let id = &state.cluster.node(node).id;
    Ok(state
        .store
        .next_delivery(id)?
        .map(|(entry, call)| (entry.seq, call)))
}

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
    let mut targets = Vec::new();
    for uid in &matched {
        if let Some(task) = state.store.get_task(*uid)? {
            if !task.status.is_finished() {
                targets.push(task);
            }
        }
    }
    let mut entries = Vec::new();
    for target in &targets {
        entries.extend(state.store.journal_entry_of_task(target.uid)?);
    }
    // Calls not delivered yet are canceled in the journal: their nodes never receive them.
    let now = OffsetDateTime::now_utc();
    for node in 0..state.cluster.node_count() {
        let id = &state.cluster.node(node).id;
        let outbox = state.cluster.outbox(node);
        let _sending = outbox.sending.lock().await;
        let in_doubt = in_doubt_call(&state, node).await?;
        for entry in &entries {
            let delivered = state.store.deliveries(entry.seq)?;
            for (position, call) in entry.calls.iter().enumerate() {
                let known = delivered
                    .iter()
                    .any(|d| d.node == *id && d.call as usize == position);
                if call.node == *id && !known && in_doubt != Some((entry.seq, position as u32)) {
                    state.store.record_delivery(&Delivery {
                        node: id.clone(),
                        seq: entry.seq,
                        call: position as u32,
                        node_task: None,
                        status: TaskStatus::Canceled,
                        error: None,
                        details: None,
                        started_at: None,
                        finished_at: Some(now),
                    })?;
                }
            }
        }
    }
    // Node tasks already enqueued are canceled on their nodes, by a journaled call that each
    // node receives after everything it was sent before.
    let mut per_node: HashMap<String, Vec<u64>> = HashMap::new();
    for entry in &entries {
        for delivery in state.store.deliveries(entry.seq)? {
            if let (Some(uid), false) = (delivery.node_task, delivery.status.is_finished()) {
                per_node.entry(delivery.node.clone()).or_default().push(uid);
            }
        }
    }
    let mut calls = Vec::new();
    for (index, node) in state.cluster.nodes().enumerate() {
        if let Some(uids) = per_node.get(&node.id) {
            let list: Vec<String> = uids.iter().map(u64::to_string).collect();
            calls.push(NodeCall::json(
                index,
                Method::POST,
                format!("/tasks/cancel?uids={}", list.join(",")),
                None,
            ));
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
    let record = submit(&state, task, calls, None).await?;
    for target in &targets {
        state.store.set_canceled_by(target.uid, record.uid)?;
    }
    Ok(summarized_with(StatusCode::OK, &record))
}
