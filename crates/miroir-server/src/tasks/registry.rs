//! Recording Miroir tasks: every write becomes one task in the store, with a global uid, in
//! the state it starts in (enqueued with node tasks to wait for, or already finished).
//!
//! A finished task wakes the webhook announcer (the store put it in the webhook outbox as it
//! recorded it); an unfinished one wakes the poller ([`super::poller`]), which derives its
//! state from its node tasks.

use serde_json::Value;
use time::OffsetDateTime;

use miroir_core::task::TaskStatus;
use miroir_store::{NodeTaskRef, TaskRecord};

use crate::error::{MeiliError, Result};
use crate::state::AppState;
use crate::wire::task::{failed_details, succeeded_details};

/// A new Miroir task, before it has a uid.
#[derive(Debug, Clone)]
pub(crate) struct NewTask {
    /// Meilisearch task type.
    pub kind: &'static str,
    /// Index it concerns.
    pub index_uid: Option<String>,
    /// `details` while enqueued.
    pub details: Option<Value>,
    /// The client's `customMetadata`, echoed in the task.
    pub custom_metadata: Option<String>,
}

/// A task's state when it is recorded.
pub(crate) struct Outcome {
    /// Its status.
    pub status: TaskStatus,
    /// Its error object, when failed.
    pub error: Option<Value>,
    /// When it was enqueued.
    pub enqueued_at: OffsetDateTime,
    /// When it finished, if it did.
    pub finished_at: Option<OffsetDateTime>,
}

impl Outcome {
    /// Enqueued at `at`, waiting for node tasks or for the poller.
    pub fn enqueued(at: OffsetDateTime) -> Outcome {
        Outcome {
            status: TaskStatus::Enqueued,
            error: None,
            enqueued_at: at,
            finished_at: None,
        }
    }

    /// Finished now with `status` (and `error` when failed), enqueued at `enqueued_at`.
    pub fn finished(
        status: TaskStatus,
        error: Option<Value>,
        enqueued_at: OffsetDateTime,
    ) -> Outcome {
        Outcome {
            status,
            error,
            enqueued_at,
            finished_at: Some(OffsetDateTime::now_utc()),
        }
    }
}

/// Records a task that failed before reaching any node (Meilisearch fails it asynchronously;
/// so does Miroir: the client gets `202 enqueued`, then sees it failed).
pub(crate) fn failed(state: &AppState, task: NewTask, error: &MeiliError) -> Result<TaskRecord> {
    let details = task.details.clone().map(|d| failed_details(task.kind, d));
    let outcome = Outcome::finished(
        TaskStatus::Failed,
        Some(error.to_json()),
        OffsetDateTime::now_utc(),
    );
    record(state, task, details, Vec::new(), outcome)
}

/// Records a task Miroir runs itself (no node work), enqueued; the poller runs it.
pub(crate) fn local(state: &AppState, task: NewTask) -> Result<TaskRecord> {
    let details = task.details.clone();
    let outcome = Outcome::enqueued(OffsetDateTime::now_utc());
    record(state, task, details, Vec::new(), outcome)
}

/// Records a task with nothing to wait for, already succeeded.
pub(crate) fn succeeded(state: &AppState, task: NewTask) -> Result<TaskRecord> {
    let details = task
        .details
        .clone()
        .map(|d| succeeded_details(task.kind, d));
    let outcome = Outcome::finished(TaskStatus::Succeeded, None, OffsetDateTime::now_utc());
    record(state, task, details, Vec::new(), outcome)
}

/// Records a task in the given state with its node tasks.
pub(crate) fn record(
    state: &AppState,
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
    record.uid = state.store.create_task(&record)?;
    if record.status.is_finished() {
        state.webhooks_due.notify_one();
    }
    state.task_created.notify_one();
    Ok(record)
}
