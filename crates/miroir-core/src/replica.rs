//! Replica states: which shards of an index a node's copy holds stale.
//!
//! A replica is one node's copy of one shard of an index. It is *in sync* unless it missed a
//! write — its node was down past `replica_timeout` while a write to that shard waited, or the
//! node lost its data — and then *stale*: reads avoid it and tasks stop waiting for it, until
//! it has caught up (or been rebuilt). A write names the shards it touches on each node (a
//! document batch, the shards of its documents; a deletion by ids, the shards of those ids);
//! a write that applies to the whole index (settings, a deletion by filter) touches every
//! shard the node holds. So a node that missed a batch for shard 3 keeps serving its other
//! shards of the index.
//!
//! A node delivers its writes in journal order, so it catches up on all its stale shards of an
//! index together: they return to in sync at once, when the node has no write of the index
//! left to process.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// The stale shards of one node's copy of one index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum StaleShards {
    /// Every shard the node holds (a whole-index write was missed, or the node lost its
    /// data).
    All,
    /// These shards.
    Shards(BTreeSet<u32>),
}

impl StaleShards {
    /// The shards a missed write touched: `None` means every shard.
    pub fn touched(shards: Option<&[u32]>) -> StaleShards {
        match shards {
            None => StaleShards::All,
            Some(shards) => StaleShards::Shards(shards.iter().copied().collect()),
        }
    }

    /// Whether `shard` is stale.
    pub fn contains(&self, shard: u32) -> bool {
        match self {
            StaleShards::All => true,
            StaleShards::Shards(shards) => shards.contains(&shard),
        }
    }

    /// Whether no shard is stale (a write that touched no shard).
    pub fn is_empty(&self) -> bool {
        matches!(self, StaleShards::Shards(shards) if shards.is_empty())
    }

    /// Adds the shards of another missed write.
    pub fn merge(&mut self, other: StaleShards) {
        match (&mut *self, other) {
            (StaleShards::All, _) => {}
            (_, StaleShards::All) => *self = StaleShards::All,
            (StaleShards::Shards(mine), StaleShards::Shards(theirs)) => mine.extend(theirs),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_whole_index_write_makes_every_shard_stale() {
        let mut stale = StaleShards::touched(Some(&[3, 5]));
        assert!(stale.contains(3) && !stale.contains(4));
        stale.merge(StaleShards::touched(Some(&[4])));
        assert!(stale.contains(4));
        stale.merge(StaleShards::touched(None));
        assert_eq!(stale, StaleShards::All);
        stale.merge(StaleShards::touched(Some(&[1])));
        assert_eq!(stale, StaleShards::All);
        assert!(StaleShards::touched(Some(&[])).is_empty());
        assert!(!StaleShards::All.is_empty());
    }

    proptest! {
        /// Merging is a union: a shard is stale after merging iff some missed write touched it.
        #[test]
        fn merge_is_a_union(
            writes in proptest::collection::vec(
                proptest::option::of(proptest::collection::vec(0u32..16, 0..5)), 1..6),
        ) {
            let mut stale = StaleShards::touched(writes[0].as_deref());
            for write in &writes[1..] {
                stale.merge(StaleShards::touched(write.as_deref()));
            }
            for shard in 0..16 {
                let touched = writes.iter().any(|w| w.as_ref().is_none_or(|s| s.contains(&shard)));
                prop_assert_eq!(stale.contains(shard), touched);
            }
        }
    }
}
