//! Placement as it stands: which node positions hold each shard, for reads and for writes,
//! including while a rebalance moves shards from one placement to another
//! (`miroir_core::rebalance`).
//!
//! Outside a rebalance, placement is weighted rendezvous hashing over the placed nodes with
//! the replication factor (every placed node for a whole index). During one, each moving shard
//! has a step: reads use its owners before until the step switched, then its owners after;
//! writes also reach the new owners from the start of its copy. Tables are renumbered to node
//! positions (placement hashes only the placed nodes) and cached until placement changes.

use std::collections::HashMap;
use std::sync::Arc;

use miroir_core::hash::ShardCount;
use miroir_core::placement::{NodeSpec, PlacementTable};
use miroir_core::rebalance::{read_owners, write_owners, MoveStep};

use super::Layout;
use crate::error::{Error, MeiliError, Result};

/// One placement: the positions of the nodes it covers and the replication factor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Members {
    /// Positions of the nodes that hold shards.
    pub placed: Vec<usize>,
    /// Copies of every shard of a sharded index.
    pub replication_factor: usize,
}

impl Members {
    /// Copies of each shard of an index with `layout`.
    pub fn copies(&self, layout: Layout) -> usize {
        if layout.whole {
            self.placed.len()
        } else {
            self.replication_factor
        }
    }
}

/// A rebalance in progress as placement sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Moving {
    /// The placement it leads to.
    pub to: Members,
    /// The step of each moving shard, by layout and shard.
    pub steps: HashMap<(Layout, u32), MoveStep>,
}

/// Which table of a layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Side {
    /// Before the rebalance (or the only one).
    Before,
    /// After the rebalance.
    After,
    /// What reads use: before, with the switched shards' owners after.
    Reads,
}

/// Placement, and the tables computed from it.
pub(crate) struct Placement {
    /// Every node as placement sees it, by position.
    specs: Vec<NodeSpec>,
    from: Members,
    moving: Option<Moving>,
    tables: HashMap<(Layout, Side), Arc<PlacementTable>>,
}

impl Placement {
    /// Placement of the nodes `specs` (by position) over `from`, no rebalance running.
    pub fn new(specs: Vec<NodeSpec>, from: Members) -> Placement {
        Placement {
            specs,
            from,
            moving: None,
            tables: HashMap::new(),
        }
    }

    /// Records a node added at the next position (placed by no placement yet).
    pub fn add_node(&mut self, spec: NodeSpec) {
        self.specs.push(spec);
        self.tables.clear();
    }

    /// The placement shards are read from outside the moving shards.
    pub fn from(&self) -> &Members {
        &self.from
    }

    /// Whether a rebalance is moving shards.
    pub fn is_moving(&self) -> bool {
        self.moving.is_some()
    }

    /// Starts, updates or (with `None`) ends a rebalance; ending one makes its target the
    /// placement (`to` when given).
    pub fn set(&mut self, from: Members, moving: Option<Moving>) {
        self.from = from;
        self.moving = moving;
        self.tables.clear();
    }

    fn build(&self, members: &Members, layout: Layout) -> Result<Arc<PlacementTable>> {
        let count = ShardCount::new(layout.shards)
            .map_err(|e| MeiliError::invalid("bad_request", e.to_string()))?;
        let corrupt = || {
            Error::Store(miroir_store::Error::Corrupt(
                "placement names a node the cluster does not have",
            ))
        };
        let node_specs = members
            .placed
            .iter()
            .map(|p| self.specs.get(*p).cloned().ok_or_else(corrupt))
            .collect::<Result<Vec<NodeSpec>>>()?;
        let ids: Vec<String> = self.specs.iter().map(|spec| spec.id.clone()).collect();
        let table = PlacementTable::new(&node_specs, count, members.copies(layout))
            .map_err(|e| MeiliError::invalid("bad_request", e.to_string()))?
            .renumbered(&members.placed, &ids)
            .ok_or_else(corrupt)?;
        Ok(Arc::new(table))
    }

    fn side(&mut self, layout: Layout, side: Side) -> Result<Arc<PlacementTable>> {
        if let Some(table) = self.tables.get(&(layout, side)) {
            return Ok(table.clone());
        }
        let table = match (side, self.moving.clone()) {
            (Side::Before, _) | (Side::Reads, None) | (Side::After, None) => {
                self.build(&self.from, layout)?
            }
            (Side::After, Some(moving)) => self.build(&moving.to, layout)?,
            (Side::Reads, Some(moving)) => {
                let before = self.side(layout, Side::Before)?;
                let after = self.side(layout, Side::After)?;
                Arc::new(before.with_replicas(|shard| {
                    let step = moving.steps.get(&(layout, shard)).copied();
                    Some(read_owners(step, before.replicas(shard), after.replicas(shard)).to_vec())
                }))
            }
        };
        self.tables.insert((layout, side), table.clone());
        Ok(table)
    }

    /// The table reads use for `layout`.
    pub fn reads(&mut self, layout: Layout) -> Result<Arc<PlacementTable>> {
        self.side(layout, Side::Reads)
    }

    /// The positions writes of `shard` reach.
    pub fn writes(&mut self, layout: Layout, shard: u32) -> Result<Vec<usize>> {
        let before = self.side(layout, Side::Before)?;
        let Some(moving) = &self.moving else {
            return Ok(before.replicas(shard).to_vec());
        };
        let step = moving.steps.get(&(layout, shard)).copied();
        let after = self.side(layout, Side::After)?;
        Ok(write_owners(
            step,
            before.replicas(shard),
            after.replicas(shard),
        ))
    }
}
