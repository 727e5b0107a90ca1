//! Rebalance planning: from the placement before a topology change and the placement after
//! it, the shard copies to make and to drop, and the steps one shard move goes through.
//!
//! Only shards whose owner set changes are listed ([`PlacementTable::changes`]); a change of
//! replica order alone moves nothing. Each listed shard is one [`ShardMove`]: the nodes that
//! receive a copy, the owners that give it (those that keep their copy first, since they stay
//! in sync for the whole move), and the owners whose copy is deleted once reads switched. A
//! shard's copies are made before any of its copies is dropped, so the shard never has fewer
//! copies than the smaller of the two replication factors.
//!
//! A move goes through [`MoveStep`]s in order; each step is persisted by the server before
//! it acts on it, and each is idempotent, so a restarted Miroir resumes a move at its step.

use serde::{Deserialize, Serialize};

use crate::placement::PlacementTable;

/// One shard's change of owners.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShardMove {
    /// The shard.
    pub shard: u32,
    /// Owners the copy may be taken from, in preference order: those that keep their copy
    /// first (in replica order), then those that lose it.
    pub sources: Vec<String>,
    /// Nodes that receive a copy (owners after, not before), in replica order.
    pub targets: Vec<String>,
    /// Nodes whose copy is deleted once every target holds the shard and reads switched
    /// (owners before, not after), in replica order.
    pub drops: Vec<String>,
}

/// The moves that take every shard from its owners in `before` to its owners in `after`, in
/// shard order. Tables may differ in node list and replication factor, not in shard count.
pub fn plan_moves(before: &PlacementTable, after: &PlacementTable) -> Vec<ShardMove> {
    before
        .changes(after)
        .into_iter()
        .map(|change| {
            let targets: Vec<String> = change.added().into_iter().map(str::to_owned).collect();
            let drops: Vec<String> = change.removed().into_iter().map(str::to_owned).collect();
            let staying = change.before.iter().filter(|id| !drops.contains(id));
            let leaving = change.before.iter().filter(|id| drops.contains(id));
            ShardMove {
                shard: change.shard,
                sources: staying.chain(leaving).cloned().collect(),
                targets,
                drops,
            }
        })
        .collect()
}

/// How many shard copies a plan makes: what the rebalance copies.
pub fn copies_made(moves: &[ShardMove]) -> usize {
    moves.iter().map(|m| m.targets.len()).sum()
}

/// Where one shard move stands. The server persists a move's step before acting on it; every
/// step is idempotent, so a move resumed at its step after a crash redoes at most that step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum MoveStep {
    /// Planned; nothing done yet.
    Planned,
    /// The targets receive every new write of the shard (they are catching up, serving no
    /// read); the copy from a source is under way.
    Copying,
    /// The copy is done; the targets replay the writes journaled since the copy began.
    CatchingUp,
    /// Targets and source are compared (count and checksum).
    Verifying,
    /// Reads use the new owners; the dropped owners' copies are being deleted.
    Switched,
    /// Finished: the shard is on its new owners only.
    Done,
}

impl MoveStep {
    /// The step after this one (`Done` stays `Done`).
    pub fn next(self) -> MoveStep {
        match self {
            MoveStep::Planned => MoveStep::Copying,
            MoveStep::Copying => MoveStep::CatchingUp,
            MoveStep::CatchingUp => MoveStep::Verifying,
            MoveStep::Verifying => MoveStep::Switched,
            MoveStep::Switched | MoveStep::Done => MoveStep::Done,
        }
    }

    /// Whether reads use the move's new owners at this step: only once it switched, so at
    /// every step each shard is read from exactly one owner set.
    pub fn reads_new_owners(self) -> bool {
        self >= MoveStep::Switched
    }

    /// Whether writes of the shard also go to the targets at this step: from the start of
    /// the copy on, so that nothing written during the copy is missed.
    pub fn writes_reach_targets(self) -> bool {
        self >= MoveStep::Copying
    }

    /// Whether writes of the shard still go to the dropped owners: until reads switched. The
    /// switch is also when their copy's deletion is decided, so no later write may reach
    /// them (it would outlive the deletion).
    pub fn writes_reach_drops(self) -> bool {
        self < MoveStep::Switched
    }
}

/// Where placement stands, as the server persists it: the nodes placement covers and the
/// replication factor (which the topology's node states alone cannot say: a drained node is
/// still `draining` until removed, a joined one `joining` until its shards moved), and the
/// rebalance under way, if any.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlacementRecord {
    /// Ids of the nodes placement covers, in the order they were added.
    pub placed: Vec<String>,
    /// Copies of every shard of a sharded index.
    pub replication_factor: usize,
    /// The rebalance under way.
    pub rebalance: Option<RebalancePlan>,
}

/// A rebalance: the placement it leads to and its moves, each at its step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RebalancePlan {
    /// Ids of the nodes placement covers once it is done.
    pub placed: Vec<String>,
    /// The replication factor once it is done.
    pub replication_factor: usize,
    /// Every shard move, by layout.
    pub moves: Vec<LayoutMove>,
    /// Paused by the operator: no move advances.
    pub paused: bool,
    /// Why it stopped, when a move failed for good.
    pub error: Option<String>,
    /// When it started, milliseconds since the Unix epoch.
    pub started_at_ms: u64,
}

impl RebalancePlan {
    /// Moves finished.
    pub fn moves_done(&self) -> usize {
        self.moves
            .iter()
            .filter(|m| m.step == MoveStep::Done)
            .count()
    }

    /// Documents copied so far.
    pub fn documents_copied(&self) -> u64 {
        self.moves.iter().map(|m| m.documents).sum()
    }
}

/// One shard move of every index with one layout (shard count, whole or sharded): the
/// indexes of a layout share their placement, so their shard `s` moves together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LayoutMove {
    /// The layout's shard count.
    pub shard_count: u32,
    /// Whether the layout is whole (every shard on every placed node).
    pub whole: bool,
    /// The shard, its targets, sources and drops.
    pub change: ShardMove,
    /// Where the move stands.
    pub step: MoveStep,
    /// Documents copied to the targets (over every index of the layout).
    pub documents: u64,
    /// The journal head when reads switched: the dropped owners' copy is deleted once they
    /// received every write up to it.
    pub switched_at: Option<u64>,
    /// The deletions of the dropped copies, as `(node id, node task uid)`: sent when the move
    /// is done, waited for before the rebalance ends (so the next batch copies meanwhile).
    #[serde(default)]
    pub deletions: Vec<(String, u64)>,
}

/// How long a copy that wrote `copied` documents in `elapsed` waits before writing more, to
/// stay under `limit` documents per second (`None`: no limit).
pub fn throttle_wait(
    copied: u64,
    elapsed: std::time::Duration,
    limit: Option<u64>,
) -> std::time::Duration {
    match limit {
        Some(limit) if limit > 0 => {
            let due = std::time::Duration::from_secs_f64(copied as f64 / limit as f64);
            due.saturating_sub(elapsed)
        }
        _ => std::time::Duration::ZERO,
    }
}

/// The owners reads use for a shard whose move is at `step` (`None`: not moving): the owners
/// before, until the move switched, then the owners after. Each shard is read from exactly
/// one owner set at any moment.
pub fn read_owners<'a, T>(step: Option<MoveStep>, before: &'a [T], after: &'a [T]) -> &'a [T] {
    match step {
        Some(step) if step.reads_new_owners() => after,
        _ => before,
    }
}

/// The nodes writes of a shard whose move is at `step` (`None`: not moving) reach: the owners
/// reads use, plus the targets from the start of the copy until the switch (they catch up
/// while the old owners still serve).
pub fn write_owners<T: PartialEq + Clone>(
    step: Option<MoveStep>,
    before: &[T],
    after: &[T],
) -> Vec<T> {
    let mut owners = read_owners(step, before, after).to_vec();
    if step.is_some_and(|step| step.writes_reach_targets() && step.writes_reach_drops()) {
        owners.extend(after.iter().filter(|node| !before.contains(node)).cloned());
    }
    owners
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;
    use crate::hash::ShardCount;
    use crate::placement::NodeSpec;

    fn nodes(n: usize) -> Vec<NodeSpec> {
        (0..n).map(|i| NodeSpec::new(format!("node-{i}"))).collect()
    }

    fn table(nodes: &[NodeSpec], shards: u32, rf: usize) -> PlacementTable {
        let count = ShardCount::new(shards).expect("power of two");
        PlacementTable::new(nodes, count, rf).expect("valid placement")
    }

    /// A random node list: 1 to 9 nodes, weights in [0.25, 4], zones among 3 or none.
    fn node_lists() -> impl Strategy<Value = Vec<NodeSpec>> {
        prop::collection::vec((0.25f64..4.0, prop::option::of(0u8..3)), 1..10).prop_map(|specs| {
            specs
                .into_iter()
                .enumerate()
                .map(|(i, (weight, zone))| NodeSpec {
                    id: format!("n{i}"),
                    weight,
                    zone: zone.map(|z| format!("z{z}")),
                })
                .collect()
        })
    }

    fn owners(table: &PlacementTable, shard: u32) -> BTreeSet<String> {
        table.owners(shard).into_iter().map(str::to_owned).collect()
    }

    #[test]
    fn a_drain_moves_each_copy_from_the_drained_node_once() {
        let before = table(&nodes(4), 64, 2);
        let after = table(&nodes(4)[1..], 64, 2);
        let moves = plan_moves(&before, &after);
        assert_eq!(copies_made(&moves), before.shards_of("node-0").len());
        for m in &moves {
            assert_eq!(m.drops, ["node-0"]);
            assert_eq!(m.targets.len(), 1);
            // The staying owner is the preferred source, the drained node the fallback.
            assert_eq!(m.sources.last().map(String::as_str), Some("node-0"));
            assert_eq!(m.sources.len(), 2);
        }
    }

    #[test]
    fn steps_go_forward_and_switch_reads_once() {
        let mut step = MoveStep::Planned;
        let mut seen = vec![step];
        while step != MoveStep::Done {
            step = step.next();
            seen.push(step);
        }
        assert_eq!(seen.len(), 6);
        assert!(seen.windows(2).all(|pair| pair[0] < pair[1]));
        let switches = seen
            .windows(2)
            .filter(|pair| pair[0].reads_new_owners() != pair[1].reads_new_owners())
            .count();
        assert_eq!(switches, 1);
        assert!(!MoveStep::Planned.writes_reach_targets());
        assert!(MoveStep::Copying.writes_reach_targets());
        assert!(MoveStep::Verifying.writes_reach_drops());
        assert!(!MoveStep::Switched.writes_reach_drops());
    }

    #[test]
    fn copies_wait_to_stay_under_the_limit() {
        use std::time::Duration;
        assert_eq!(
            throttle_wait(5000, Duration::from_secs(1), None),
            Duration::ZERO
        );
        assert_eq!(
            throttle_wait(5000, Duration::from_secs(1), Some(1000)),
            Duration::from_secs(4)
        );
        assert_eq!(
            throttle_wait(500, Duration::from_secs(1), Some(1000)),
            Duration::ZERO
        );
        assert_eq!(throttle_wait(10, Duration::ZERO, Some(0)), Duration::ZERO);
    }

    #[test]
    fn owners_follow_the_step() {
        let before = [0, 1];
        let after = [1, 2];
        let reads: Vec<&[usize]> = [
            None,
            Some(MoveStep::Planned),
            Some(MoveStep::Copying),
            Some(MoveStep::Verifying),
            Some(MoveStep::Switched),
            Some(MoveStep::Done),
        ]
        .into_iter()
        .map(|step| read_owners(step, &before, &after))
        .collect();
        assert_eq!(
            reads,
            [&before[..], &before, &before, &before, &after, &after]
        );
        assert_eq!(write_owners(None, &before, &after), [0, 1]);
        assert_eq!(
            write_owners(Some(MoveStep::Planned), &before, &after),
            [0, 1]
        );
        assert_eq!(
            write_owners(Some(MoveStep::Copying), &before, &after),
            [0, 1, 2]
        );
        assert_eq!(
            write_owners(Some(MoveStep::CatchingUp), &before, &after),
            [0, 1, 2]
        );
        assert_eq!(
            write_owners(Some(MoveStep::Switched), &before, &after),
            [1, 2]
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whatever the change, each move turns the owners before into the owners after, and
        /// shards whose owners stay are not moved.
        #[test]
        fn moves_turn_old_owners_into_new(
            before_list in node_lists(),
            after_list in node_lists(),
            rf_before in 1usize..4,
            rf_after in 1usize..4,
        ) {
            let rf_before = rf_before.min(before_list.len());
            let rf_after = rf_after.min(after_list.len());
            let before = table(&before_list, 64, rf_before);
            let after = table(&after_list, 64, rf_after);
            let moves = plan_moves(&before, &after);
            let moved: BTreeSet<u32> = moves.iter().map(|m| m.shard).collect();
            for shard in 0..64 {
                let old = owners(&before, shard);
                let new = owners(&after, shard);
                prop_assert_eq!(moved.contains(&shard), old != new);
            }
            for m in &moves {
                let old = owners(&before, m.shard);
                let mut result = old.clone();
                for drop in &m.drops {
                    prop_assert!(result.remove(drop));
                }
                for target in &m.targets {
                    prop_assert!(!old.contains(target));
                    prop_assert!(result.insert(target.clone()));
                }
                prop_assert_eq!(&result, &owners(&after, m.shard));
                let sources: BTreeSet<String> = m.sources.iter().cloned().collect();
                prop_assert_eq!(sources, old);
            }
        }

        /// Adding one node to N moves about RF·S/(N+1) shard copies, all to the new node.
        #[test]
        fn adding_a_node_moves_its_share(n in 1usize..9, rf in 1usize..4) {
            let rf = rf.min(n);
            let shards = 1024u32;
            let before = table(&nodes(n), shards, rf);
            let after = table(&nodes(n + 1), shards, rf);
            let moves = plan_moves(&before, &after);
            let newcomer = format!("node-{n}");
            prop_assert!(moves.iter().all(|m| m.targets == [newcomer.clone()] && m.drops.len() == 1));
            let expected = (rf * shards as usize) as f64 / (n + 1) as f64;
            let made = copies_made(&moves) as f64;
            // Each shard includes the newcomer with probability RF/(N+1): a binomial count,
            // well within five standard deviations of its mean.
            prop_assert!((made - expected).abs() <= 5.0 * expected.sqrt() + 1.0, "{} vs {}", made, expected);
        }

        /// Draining a node moves exactly its shard copies, one new owner for each.
        #[test]
        fn draining_moves_exactly_the_drained_copies(n in 2usize..9, rf in 1usize..4, gone in 0usize..9) {
            let rf = rf.min(n - 1);
            let all = nodes(n);
            let mut rest = all.clone();
            let drained = rest.remove(gone % n);
            let before = table(&all, 256, rf);
            let after = table(&rest, 256, rf);
            let moves = plan_moves(&before, &after);
            prop_assert_eq!(copies_made(&moves), before.shards_of(&drained.id).len());
            prop_assert!(moves.iter().all(|m| m.drops == [drained.id.clone()] && m.targets.len() == 1));
        }

        /// Raising RF by one adds exactly one copy of every shard and drops none; lowering it
        /// back drops exactly those copies.
        #[test]
        fn changing_rf_adds_or_drops_one_copy_per_shard(n in 2usize..9, rf in 1usize..4) {
            let rf = rf.min(n - 1);
            let list = nodes(n);
            let lower = table(&list, 128, rf);
            let higher = table(&list, 128, rf + 1);
            let up = plan_moves(&lower, &higher);
            prop_assert_eq!(up.len(), 128);
            prop_assert!(up.iter().all(|m| m.targets.len() == 1 && m.drops.is_empty()));
            let down = plan_moves(&higher, &lower);
            prop_assert!(down.iter().all(|m| m.targets.is_empty() && m.drops.len() == 1));
            let added: Vec<&String> = up.iter().flat_map(|m| &m.targets).collect();
            let dropped: Vec<&String> = down.iter().flat_map(|m| &m.drops).collect();
            prop_assert_eq!(added, dropped);
        }
    }
}
