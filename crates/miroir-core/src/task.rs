//! Miroir tasks: their vocabulary, and how a task's state follows from its node tasks.
//!
//! One client write becomes one Miroir task that maps to one or more node tasks (one per node
//! it touched, sometimes several per node, e.g. create index then declare the shard marker
//! filterable). The Miroir task's status, error and timestamps are derived here from the node
//! tasks' own, so that a client polling `/tasks/{uid}` sees Meilisearch's lifecycle:
//! `enqueued` → `processing` → `succeeded` | `failed` | `canceled`.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

/// A task status, spelled as Meilisearch spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TaskStatus {
    /// Accepted, not started anywhere.
    Enqueued,
    /// Started on at least one node, not finished everywhere.
    Processing,
    /// Finished everywhere without error.
    Succeeded,
    /// Finished, and at least one node task failed.
    Failed,
    /// Canceled before it could finish.
    Canceled,
}

impl TaskStatus {
    /// Every status, in Meilisearch's order.
    pub const ALL: [TaskStatus; 5] = [
        TaskStatus::Enqueued,
        TaskStatus::Processing,
        TaskStatus::Succeeded,
        TaskStatus::Failed,
        TaskStatus::Canceled,
    ];

    /// The wire name (`succeeded`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Enqueued => "enqueued",
            TaskStatus::Processing => "processing",
            TaskStatus::Succeeded => "succeeded",
            TaskStatus::Failed => "failed",
            TaskStatus::Canceled => "canceled",
        }
    }

    /// Parses a wire name.
    pub fn parse(name: &str) -> Option<TaskStatus> {
        TaskStatus::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// True once the status can no longer change.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            TaskStatus::Succeeded | TaskStatus::Failed | TaskStatus::Canceled
        )
    }
}

/// Meilisearch's task types (the `type` field).
pub const TASK_TYPES: [&str; 18] = [
    "documentAdditionOrUpdate",
    "documentEdition",
    "documentDeletion",
    "settingsUpdate",
    "indexCreation",
    "indexDeletion",
    "indexUpdate",
    "indexSwap",
    "taskCancelation",
    "taskDeletion",
    "dumpCreation",
    "snapshotCreation",
    "export",
    "upgradeDatabase",
    "indexCompaction",
    "networkTopologyChange",
    "dsrUpdate",
    "dsrClear",
];

/// What Miroir knows of one node task when it aggregates.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeTaskState {
    /// The node task's status.
    pub status: TaskStatus,
    /// The node's error object, when it failed.
    pub error: Option<Value>,
    /// When the node started it.
    pub started_at: Option<OffsetDateTime>,
    /// When the node finished it.
    pub finished_at: Option<OffsetDateTime>,
}

/// The state of a Miroir task derived from its node tasks.
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregate {
    /// Derived status.
    pub status: TaskStatus,
    /// The first node error, for a failed task.
    pub error: Option<Value>,
    /// Earliest node start.
    pub started_at: Option<OffsetDateTime>,
    /// Latest node finish, once every node task finished.
    pub finished_at: Option<OffsetDateTime>,
}

/// Derives a Miroir task's state from its node tasks.
///
/// Rules: while any node task is unfinished the task is `processing` if any node task has
/// started (or finished), else `enqueued`. Once all are finished: `failed` if any failed (with
/// the first failure's error, since nodes fail the same write the same way), else `canceled` if
/// any was canceled, else `succeeded`. An empty list is a task with nothing to wait for and
/// counts as succeeded.
pub fn aggregate(nodes: &[NodeTaskState]) -> Aggregate {
    let started_at = nodes.iter().filter_map(|n| n.started_at).min();
    let all_finished = nodes.iter().all(|n| n.status.is_finished());
    if !all_finished {
        let any_started = nodes
            .iter()
            .any(|n| n.status != TaskStatus::Enqueued || n.started_at.is_some());
        return Aggregate {
            status: if any_started {
                TaskStatus::Processing
            } else {
                TaskStatus::Enqueued
            },
            error: None,
            started_at: if any_started { started_at } else { None },
            finished_at: None,
        };
    }
    let finished_at = nodes.iter().filter_map(|n| n.finished_at).max();
    let failure = nodes.iter().find(|n| n.status == TaskStatus::Failed);
    let status = if failure.is_some() {
        TaskStatus::Failed
    } else if nodes.iter().any(|n| n.status == TaskStatus::Canceled) {
        TaskStatus::Canceled
    } else {
        TaskStatus::Succeeded
    };
    Aggregate {
        status,
        error: failure.and_then(|n| n.error.clone()),
        started_at: started_at.or(finished_at),
        finished_at,
    }
}

/// Formats a duration as Meilisearch does in task objects: ISO 8601, seconds with a fraction
/// (`PT0.001101960S`, `PT41.751156S`, `PT3.000S`: 3, 6 or 9 fractional digits).
pub fn format_duration(duration: time::Duration) -> String {
    let nanos = duration.whole_nanoseconds().max(0);
    let seconds = nanos / 1_000_000_000;
    let fraction = nanos % 1_000_000_000;
    // Meilisearch prints milli-, micro- or nanosecond precision, whichever is exact.
    if fraction % 1_000_000 == 0 {
        format!("PT{seconds}.{:03}S", fraction / 1_000_000)
    } else if fraction % 1_000 == 0 {
        format!("PT{seconds}.{:06}S", fraction / 1_000)
    } else {
        format!("PT{seconds}.{fraction:09}S")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn at(seconds: i64) -> Option<OffsetDateTime> {
        OffsetDateTime::from_unix_timestamp(seconds).ok()
    }

    fn node(status: TaskStatus, started: Option<i64>, finished: Option<i64>) -> NodeTaskState {
        NodeTaskState {
            status,
            error: (status == TaskStatus::Failed).then(|| json!({"code": "x"})),
            started_at: started.and_then(at),
            finished_at: finished.and_then(at),
        }
    }

    #[test]
    fn lifecycle() {
        use TaskStatus::*;
        let a = aggregate(&[node(Enqueued, None, None), node(Enqueued, None, None)]);
        assert_eq!(a.status, Enqueued);
        let a = aggregate(&[
            node(Succeeded, Some(5), Some(6)),
            node(Enqueued, None, None),
        ]);
        assert_eq!((a.status, a.started_at), (Processing, at(5)));
        assert_eq!(a.finished_at, None);
        let a = aggregate(&[
            node(Succeeded, Some(5), Some(9)),
            node(Succeeded, Some(4), Some(7)),
        ]);
        assert_eq!(
            (a.status, a.started_at, a.finished_at),
            (Succeeded, at(4), at(9))
        );
        let a = aggregate(&[
            node(Succeeded, Some(5), Some(9)),
            node(Failed, Some(4), Some(7)),
        ]);
        assert_eq!(a.status, Failed);
        assert_eq!(a.error, Some(json!({"code": "x"})));
        let a = aggregate(&[
            node(Canceled, None, Some(3)),
            node(Succeeded, Some(1), Some(2)),
        ]);
        assert_eq!(a.status, Canceled);
        assert_eq!(aggregate(&[]).status, Succeeded);
    }

    #[test]
    fn durations() {
        assert_eq!(
            format_duration(time::Duration::milliseconds(12)),
            "PT0.012S"
        );
        assert_eq!(format_duration(time::Duration::seconds(3)), "PT3.000S");
        assert_eq!(
            format_duration(time::Duration::microseconds(41_751_156)),
            "PT41.751156S"
        );
        assert_eq!(
            format_duration(time::Duration::nanoseconds(1_500_000_001)),
            "PT1.500000001S"
        );
    }

    fn any_status() -> impl Strategy<Value = TaskStatus> {
        prop::sample::select(TaskStatus::ALL.to_vec())
    }

    proptest! {
        #[test]
        fn finished_only_when_every_node_finished(statuses in prop::collection::vec(any_status(), 1..6)) {
            let nodes: Vec<NodeTaskState> = statuses
                .iter()
                .map(|s| node(*s, s.is_finished().then_some(1), s.is_finished().then_some(2)))
                .collect();
            let a = aggregate(&nodes);
            prop_assert_eq!(a.status.is_finished(), statuses.iter().all(|s| s.is_finished()));
            prop_assert_eq!(a.status == TaskStatus::Failed, statuses.iter().all(|s| s.is_finished()) && statuses.contains(&TaskStatus::Failed));
        }
    }
}
