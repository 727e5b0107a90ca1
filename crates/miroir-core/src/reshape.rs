//! Reshaping one filled index while it serves: making a sharded index whole (every shard on
//! every placed node, as the target of a foreign key must be) or a whole index sharded again.
//!
//! Both directions reuse the steps of a shard move ([`MoveStep`]), over every shard of the
//! index at once, with the sharded placement table as the reference: a placed node *lacks*
//! the shards the sharded table does not give it.
//!
//! - **Widening** (sharded → whole): `Planned` → `Copying` (writes reach every placed node;
//!   each node is sent the shards it lacks) → `CatchingUp` → `Verifying` → `Done`. Reads use
//!   the sharded table until the index is recorded whole at the end of verification, which is
//!   the switch; nothing is dropped.
//! - **Narrowing** (whole → sharded): `Planned` → `Switched` (the index is recorded sharded:
//!   reads and writes use the sharded table; each node's copy of the shards it lacks is
//!   deleted once it received every write up to the switch) → `Done` once every deletion ran.
//!
//! Only one owner set is read for a shard at any moment (the sharded owners, all placed nodes
//! after a widening's switch), so searches count every document exactly once throughout.

use serde::{Deserialize, Serialize};

use crate::placement::PlacementTable;
use crate::rebalance::MoveStep;

/// A reshape under way, persisted with the index it reshapes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reshape {
    /// The layout it leads to: whole (`true`) or sharded.
    pub whole: bool,
    /// Where it stands (see the module docs for each direction's steps).
    pub step: MoveStep,
    /// Documents copied so far (widening), over every node.
    pub documents: u64,
    /// The journal head when a narrowing switched: a node's lacked shards are deleted once it
    /// received every write up to it.
    pub switched_at: Option<u64>,
    /// The deletions sent (narrowing), as `(node id, node task uid)`, waited for before done.
    pub deletions: Vec<(String, u64)>,
}

impl Reshape {
    /// A reshape towards `whole`, nothing done yet.
    pub fn new(whole: bool) -> Reshape {
        Reshape {
            whole,
            step: MoveStep::Planned,
            documents: 0,
            switched_at: None,
            deletions: Vec::new(),
        }
    }

    /// The step after the current one in this direction.
    pub fn next_step(&self) -> MoveStep {
        match (self.whole, self.step) {
            (true, MoveStep::Verifying) => MoveStep::Done,
            (false, MoveStep::Planned) => MoveStep::Switched,
            (_, step) => step.next(),
        }
    }
}

/// Whether writes of an index recorded `whole` reach every placed node, given its reshape: a
/// whole index's do; a widening index's do from its copy on, so that nothing written during
/// the copy is missed.
pub fn writes_whole(whole: bool, reshape: Option<&Reshape>) -> bool {
    whole || reshape.is_some_and(|r| r.whole && r.step >= MoveStep::Copying)
}

/// The shards node `node` (a position in `sharded`) lacks in the sharded placement: those a
/// widening copies to it and a narrowing deletes from it.
pub fn lacked_shards(sharded: &PlacementTable, node: usize) -> Vec<u32> {
    (0..sharded.shard_count().get())
        .filter(|shard| !sharded.replicas(*shard).contains(&node))
        .collect()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::hash::ShardCount;
    use crate::placement::NodeSpec;

    fn walk(mut reshape: Reshape) -> Vec<MoveStep> {
        let mut steps = vec![reshape.step];
        while reshape.step != MoveStep::Done {
            reshape.step = reshape.next_step();
            steps.push(reshape.step);
        }
        steps
    }

    #[test]
    fn widening_copies_catches_up_and_verifies_before_it_is_done() {
        assert_eq!(
            walk(Reshape::new(true)),
            [
                MoveStep::Planned,
                MoveStep::Copying,
                MoveStep::CatchingUp,
                MoveStep::Verifying,
                MoveStep::Done
            ]
        );
    }

    #[test]
    fn narrowing_switches_then_deletes() {
        assert_eq!(
            walk(Reshape::new(false)),
            [MoveStep::Planned, MoveStep::Switched, MoveStep::Done]
        );
    }

    #[test]
    fn writes_reach_every_node_from_a_widening_copy_on() {
        let mut widening = Reshape::new(true);
        assert!(!writes_whole(false, Some(&widening)));
        widening.step = MoveStep::Copying;
        assert!(writes_whole(false, Some(&widening)));
        assert!(!writes_whole(false, None));
        assert!(writes_whole(true, None));
        // A narrowing index is recorded sharded at its switch: from then on, sharded writes.
        let mut narrowing = Reshape::new(false);
        narrowing.step = MoveStep::Switched;
        assert!(!writes_whole(false, Some(&narrowing)));
    }

    proptest! {
        #[test]
        fn every_shard_is_owned_or_lacked_by_each_node(
            nodes in 1usize..7,
            shards_log2 in 0u32..7,
            rf_seed in 0usize..8,
        ) {
            let shards = 1u32 << shards_log2;
            let specs: Vec<NodeSpec> = (0..nodes).map(|i| NodeSpec::new(format!("n{i}"))).collect();
            let rf = 1 + rf_seed % nodes;
            let table = PlacementTable::new(&specs, ShardCount::new(shards).unwrap(), rf).unwrap();
            let mut lacking = vec![0usize; shards as usize];
            for node in 0..nodes {
                let lacked = lacked_shards(&table, node);
                for shard in 0..shards {
                    let owns = table.replicas(shard).contains(&node);
                    prop_assert_eq!(owns, !lacked.contains(&shard));
                }
                for shard in lacked {
                    lacking[shard as usize] += 1;
                }
            }
            // Each shard is lacked by exactly the nodes beyond its RF owners: a widening
            // copies it that many times.
            prop_assert!(lacking.iter().all(|n| *n == nodes - rf));
        }
    }
}
