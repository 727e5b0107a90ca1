//! The write journal's pure rules: which node task each journaled call creates, how a call is
//! tagged so that a node's task list says which call it came from, and when a Miroir task is
//! settled given the parts of its target nodes (some of which may be stale, and so excluded).

use crate::task::{aggregate, Aggregate, NodeTaskState, TaskStatus};

/// The Meilisearch task type a write call creates on a node (`None`: not a task-creating
/// call).
pub fn expected_task_type(method: &str, path: &str) -> Option<&'static str> {
    let path = path.split('?').next().unwrap_or(path);
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let kind = match (method, segments.as_slice()) {
        ("POST", ["indexes"]) => "indexCreation",
        ("PATCH", ["indexes", _]) => "indexUpdate",
        ("DELETE", ["indexes", _]) => "indexDeletion",
        ("POST", ["indexes", _, "documents", "edit"]) => "documentEdition",
        ("POST", ["indexes", _, "documents", "delete-batch" | "delete"]) => "documentDeletion",
        ("POST" | "PUT", ["indexes", _, "documents"]) => "documentAdditionOrUpdate",
        ("DELETE", ["indexes", _, "documents"]) => "documentDeletion",
        ("DELETE", ["indexes", _, "documents", _]) => "documentDeletion",
        (_, ["indexes", _, "settings", ..]) => "settingsUpdate",
        ("POST", ["indexes", _, "compact"]) => "indexCompaction",
        ("POST", ["swap-indexes"]) => "indexSwap",
        ("POST", ["tasks", "cancel"]) => "taskCancelation",
        ("POST", ["dumps"]) => "dumpCreation",
        ("POST", ["snapshots"]) => "snapshotCreation",
        _ => return None,
    };
    Some(kind)
}

/// The `customMetadata` Miroir gives the node task of call `call` of journal entry `seq`
/// (document routes accept it), so that a node's task list names the call it came from.
pub fn delivery_tag(seq: u64, call: usize) -> String {
    format!("miroir:{seq}:{call}")
}

/// The `customMetadata` of the node tasks the rebalance sends directly (its copies and
/// deletions), which are not journal calls: reconciliation leaves them alone.
pub const MOVE_TAG: &str = "miroir:move";

/// One target node's part of a journaled task, as the poller sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    /// The replica is stale (its node missed writes and is not counted until it catches up).
    pub excluded: bool,
    /// Every call of the entry has been delivered to the node.
    pub delivered: bool,
    /// The node tasks of the calls delivered so far.
    pub states: Vec<NodeTaskState>,
}

/// The state of a journaled Miroir task: derived from the node tasks of the replicas that
/// count (those not excluded). It finishes only when every counted replica received and
/// finished its calls and at least `min_in_sync` replicas count (fewer than that: it waits for
/// a replica to come back, never failing for lack of replicas). A task that targets fewer
/// nodes than `min_in_sync` needs all of them.
pub fn settle(parts: &[Part], min_in_sync: usize) -> Aggregate {
    let counted: Vec<&Part> = parts.iter().filter(|p| !p.excluded).collect();
    let states: Vec<NodeTaskState> = counted.iter().flat_map(|p| p.states.clone()).collect();
    let mut derived = aggregate(&states);
    let enough = counted.len() >= min_in_sync.min(parts.len()).max(1);
    let all_delivered = counted.iter().all(|p| p.delivered);
    if derived.status.is_finished() && !(enough && all_delivered) {
        derived = Aggregate {
            status: if states.is_empty() {
                TaskStatus::Enqueued
            } else {
                TaskStatus::Processing
            },
            error: None,
            started_at: derived.started_at.filter(|_| !states.is_empty()),
            finished_at: None,
        };
    }
    derived
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn state(status: TaskStatus) -> NodeTaskState {
        NodeTaskState {
            status,
            error: None,
            started_at: None,
            finished_at: None,
        }
    }

    fn part(excluded: bool, delivered: bool, statuses: &[TaskStatus]) -> Part {
        Part {
            excluded,
            delivered,
            states: statuses.iter().map(|s| state(*s)).collect(),
        }
    }

    #[test]
    fn task_types_of_calls() {
        assert_eq!(
            expected_task_type("POST", "/indexes"),
            Some("indexCreation")
        );
        assert_eq!(
            expected_task_type("POST", "/indexes/m/documents?primaryKey=id"),
            Some("documentAdditionOrUpdate")
        );
        assert_eq!(
            expected_task_type("POST", "/indexes/m/documents/delete-batch"),
            Some("documentDeletion")
        );
        assert_eq!(
            expected_task_type("DELETE", "/indexes/m/settings/ranking-rules"),
            Some("settingsUpdate")
        );
        assert_eq!(
            expected_task_type("POST", "/tasks/cancel?uids=1"),
            Some("taskCancelation")
        );
        assert_eq!(
            expected_task_type("POST", "/indexes/m/compact"),
            Some("indexCompaction")
        );
        assert_eq!(expected_task_type("GET", "/indexes/m"), None);
        assert_eq!(delivery_tag(42, 1), "miroir:42:1");
    }

    #[test]
    fn stale_replicas_do_not_hold_a_task() {
        use TaskStatus::*;
        let done = part(false, true, &[Succeeded]);
        let down = part(false, false, &[]);
        let stale = part(true, false, &[]);
        assert_eq!(settle(&[done.clone(), down.clone()], 1).status, Processing);
        assert_eq!(settle(&[done.clone(), stale.clone()], 1).status, Succeeded);
        // Two replicas required, one left: the task waits for the other to return.
        assert_eq!(settle(&[done.clone(), stale.clone()], 2).status, Processing);
        // Every replica stale: nothing counts, the task waits.
        assert_eq!(settle(&[stale.clone(), stale.clone()], 1).status, Enqueued);
        assert_eq!(
            settle(&[part(false, true, &[Failed]), done.clone()], 1).status,
            Failed
        );
        // Delivered calls all finished, but one call not delivered yet.
        assert_eq!(
            settle(&[part(false, false, &[Succeeded]), done], 1).status,
            Processing
        );
    }

    fn any_status() -> impl Strategy<Value = TaskStatus> {
        prop::sample::select(TaskStatus::ALL.to_vec())
    }

    proptest! {
        #[test]
        fn finished_only_when_every_counted_replica_finished(
            parts in prop::collection::vec(
                (any::<bool>(), any::<bool>(), prop::collection::vec(any_status(), 0..3)),
                1..5,
            ),
            min_in_sync in 1usize..4,
        ) {
            let parts: Vec<Part> = parts
                .into_iter()
                .map(|(excluded, delivered, statuses)| part(excluded, delivered, &statuses))
                .collect();
            let settled = settle(&parts, min_in_sync);
            let counted: Vec<&Part> = parts.iter().filter(|p| !p.excluded).collect();
            if settled.status.is_finished() {
                prop_assert!(!counted.is_empty());
                prop_assert!(counted.len() >= min_in_sync.min(parts.len()));
                for p in counted {
                    prop_assert!(p.delivered);
                    prop_assert!(p.states.iter().all(|s| s.status.is_finished()));
                }
            }
        }
    }
}
