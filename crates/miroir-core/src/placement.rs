//! Which nodes hold each shard: weighted rendezvous (HRW) hashing, replicas spread over zones.
//!
//! For every (node, shard) pair a pseudo-random `u` in (0, 1) is drawn from XXH3 of the node id
//! seeded by the shard's placement key; the node's score is `-weight / ln(u)` (the standard
//! logarithmic method: a node's chance of scoring highest is proportional to its weight).
//! A shard's replicas are the best-scoring nodes, taking first one node per zone (a node
//! without a zone is a zone of its own), then the best remaining ones.
//!
//! Why HRW: adding a node to N moves only the shards whose top-RF set now includes it (about
//! `S·RF/(N+1)` replica slots), and removing a node moves only the shards it held — no other
//! shard changes owners, so rebalancing copies the minimum.
//!
//! The placement key is the pair (shard count, shard) and deliberately not the index: every
//! index with the same shard count is placed identically, so swapping or renaming indexes on
//! the nodes never disagrees with placement, and each index is still spread evenly by itself.

use std::collections::{BTreeSet, HashSet};

use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::error::Error;
use crate::hash::ShardCount;

/// A node as placement sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeSpec {
    /// Stable identifier; hashed, so renaming a node moves its shards.
    pub id: String,
    /// Relative capacity (> 0).
    pub weight: f64,
    /// Failure domain.
    pub zone: Option<String>,
}

/// The seed key of one shard for placement.
pub fn placement_key(count: ShardCount, shard: u32) -> u64 {
    let mut bytes = [0u8; 8];
    bytes[..4].copy_from_slice(&count.get().to_le_bytes());
    bytes[4..].copy_from_slice(&shard.to_le_bytes());
    xxh3_64_with_seed(&bytes, 0x706c_6163_656d_656e)
}

/// A node's weighted HRW score for a placement key; higher wins.
pub fn score(node: &NodeSpec, key: u64) -> f64 {
    let hash = xxh3_64_with_seed(node.id.as_bytes(), key);
    // 53 random bits, centred in their interval so u is never 0 or 1.
    let u = ((hash >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    -node.weight / u.ln()
}

fn validate(nodes: &[NodeSpec], rf: usize) -> Result<(), Error> {
    if rf == 0 || rf > nodes.len() {
        return Err(Error::ReplicationFactor {
            rf,
            nodes: nodes.len(),
        });
    }
    let mut seen = HashSet::new();
    for node in nodes {
        if !seen.insert(node.id.as_str()) {
            return Err(Error::DuplicateNode(node.id.clone()));
        }
        if !(node.weight.is_finite() && node.weight > 0.0) {
            return Err(Error::InvalidWeight(node.id.clone()));
        }
    }
    Ok(())
}

/// The ordered replicas (indexes into `nodes`) of the shard with placement key `key`.
/// `nodes` must be valid (see [`PlacementTable::new`]).
pub fn replicas(nodes: &[NodeSpec], key: u64, rf: usize) -> Vec<usize> {
    let mut ranked: Vec<(f64, usize)> = nodes
        .iter()
        .enumerate()
        .map(|(i, node)| (score(node, key), i))
        .collect();
    // Descending score; ties (practically impossible) broken by node id for determinism.
    ranked.sort_by(|a, b| {
        b.0.total_cmp(&a.0)
            .then_with(|| nodes[a.1].id.cmp(&nodes[b.1].id))
    });
    let mut chosen = Vec::with_capacity(rf);
    let mut zones: HashSet<&str> = HashSet::new();
    for (_, i) in &ranked {
        if chosen.len() == rf {
            break;
        }
        let zone = nodes[*i].zone.as_deref().unwrap_or(nodes[*i].id.as_str());
        if zones.insert(zone) {
            chosen.push(*i);
        }
    }
    for (_, i) in &ranked {
        if chosen.len() == rf {
            break;
        }
        if !chosen.contains(i) {
            chosen.push(*i);
        }
    }
    chosen
}

/// The replicas of every shard for one shard count over one node list.
#[derive(Debug, Clone, PartialEq)]
pub struct PlacementTable {
    count: ShardCount,
    node_ids: Vec<String>,
    replicas: Vec<Vec<usize>>,
}

impl PlacementTable {
    /// Computes the table. Fails on `rf` out of range, duplicate ids or bad weights.
    pub fn new(nodes: &[NodeSpec], count: ShardCount, rf: usize) -> Result<PlacementTable, Error> {
        validate(nodes, rf)?;
        let replicas = (0..count.get())
            .map(|shard| replicas(nodes, placement_key(count, shard), rf))
            .collect();
        Ok(PlacementTable {
            count,
            node_ids: nodes.iter().map(|n| n.id.clone()).collect(),
            replicas,
        })
    }

    /// The shard count.
    pub fn shard_count(&self) -> ShardCount {
        self.count
    }

    /// The ordered replicas of `shard` as indexes into the node list (empty out of range).
    pub fn replicas(&self, shard: u32) -> &[usize] {
        self.replicas
            .get(shard as usize)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// The owner ids of `shard`, as a set.
    pub fn owners(&self, shard: u32) -> BTreeSet<&str> {
        self.replicas(shard)
            .iter()
            .map(|i| self.node_ids[*i].as_str())
            .collect()
    }

    /// Shards whose owner set differs between two tables of the same shard count: the shards a
    /// topology change must move.
    pub fn changed_shards(&self, after: &PlacementTable) -> Vec<u32> {
        (0..self.count.get())
            .filter(|shard| self.owners(*shard) != after.owners(*shard))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn nodes(n: usize) -> Vec<NodeSpec> {
        (0..n)
            .map(|i| NodeSpec {
                id: format!("node-{i}"),
                weight: 1.0,
                zone: None,
            })
            .collect()
    }

    fn count(c: u32) -> ShardCount {
        ShardCount::new(c).unwrap_or_else(|_| panic!("bad count {c}"))
    }

    #[test]
    fn validation() {
        assert!(matches!(
            PlacementTable::new(&nodes(2), count(4), 3),
            Err(Error::ReplicationFactor { rf: 3, nodes: 2 })
        ));
        assert!(PlacementTable::new(&nodes(2), count(4), 0).is_err());
        let mut dup = nodes(2);
        dup[1].id = "node-0".into();
        assert_eq!(
            PlacementTable::new(&dup, count(4), 1),
            Err(Error::DuplicateNode("node-0".into()))
        );
        let mut heavy = nodes(2);
        heavy[0].weight = 0.0;
        assert!(PlacementTable::new(&heavy, count(4), 1).is_err());
    }

    #[test]
    fn golden_placement() {
        // Pinned: a change here moves shards of every existing cluster.
        let table = PlacementTable::new(&nodes(3), count(8), 2).unwrap_or_else(|e| panic!("{e}"));
        let all: Vec<Vec<usize>> = (0..8).map(|s| table.replicas(s).to_vec()).collect();
        assert_eq!(
            all,
            [[1, 0], [2, 1], [2, 0], [2, 0], [0, 2], [2, 0], [2, 0], [2, 1]]
        );
    }

    #[test]
    fn zones_are_spread_first() {
        let mut zoned = nodes(6);
        for (i, node) in zoned.iter_mut().enumerate() {
            node.zone = Some(format!("z{}", i % 3));
        }
        let table = PlacementTable::new(&zoned, count(256), 3).unwrap_or_else(|e| panic!("{e}"));
        for shard in 0..256 {
            let zones: HashSet<&str> = table
                .replicas(shard)
                .iter()
                .filter_map(|i| zoned[*i].zone.as_deref())
                .collect();
            assert_eq!(zones.len(), 3, "shard {shard}");
        }
    }

    #[test]
    fn weights_are_proportional() {
        let mut weighted = nodes(3);
        weighted[0].weight = 2.0;
        let table = PlacementTable::new(&weighted, count(4096), 1).unwrap_or_else(|e| panic!("{e}"));
        let mut held = [0usize; 3];
        for shard in 0..4096 {
            held[table.replicas(shard)[0]] += 1;
        }
        // Expected 2048 / 1024 / 1024.
        assert!((1850..2250).contains(&held[0]), "{held:?}");
        assert!((880..1170).contains(&held[1]), "{held:?}");
    }

    #[test]
    fn adding_a_node_moves_about_one_share() {
        let before = PlacementTable::new(&nodes(4), count(4096), 1).unwrap_or_else(|e| panic!("{e}"));
        let after = PlacementTable::new(&nodes(5), count(4096), 1).unwrap_or_else(|e| panic!("{e}"));
        let moved = before.changed_shards(&after).len();
        // Expected 4096 / 5 ≈ 819.
        assert!((700..940).contains(&moved), "{moved}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn replicas_are_distinct_and_stable(n in 1usize..8, rf_seed in 0usize..8, shards in 0u32..7) {
            let rf = 1 + rf_seed % n;
            let c = count(1 << shards);
            let table = PlacementTable::new(&nodes(n), c, rf).unwrap_or_else(|e| panic!("{e}"));
            for shard in 0..c.get() {
                let r = table.replicas(shard);
                prop_assert_eq!(r.len(), rf);
                let unique: HashSet<&usize> = r.iter().collect();
                prop_assert_eq!(unique.len(), rf);
            }
            prop_assert_eq!(&table, &PlacementTable::new(&nodes(n), c, rf).unwrap_or_else(|e| panic!("{e}")));
        }

        #[test]
        fn adding_a_node_only_moves_shards_to_it(n in 1usize..7, rf_seed in 0usize..7) {
            let rf = 1 + rf_seed % n;
            let c = count(256);
            let before = PlacementTable::new(&nodes(n), c, rf).unwrap_or_else(|e| panic!("{e}"));
            let after = PlacementTable::new(&nodes(n + 1), c, rf).unwrap_or_else(|e| panic!("{e}"));
            let newcomer = format!("node-{n}");
            for shard in before.changed_shards(&after) {
                let old = before.owners(shard);
                let new = after.owners(shard);
                prop_assert!(new.contains(newcomer.as_str()));
                // Exactly one old owner was replaced by the new node.
                prop_assert_eq!(old.difference(&new).count(), 1);
                prop_assert_eq!(new.difference(&old).count(), 1);
            }
        }

        #[test]
        fn removing_a_node_only_moves_its_shards(n in 2usize..8, rf_seed in 0usize..7, gone in 0usize..8) {
            let rf = 1 + rf_seed % (n - 1);
            let gone = gone % n;
            let c = count(256);
            let all = nodes(n);
            let mut rest = all.clone();
            let removed = rest.remove(gone);
            let before = PlacementTable::new(&all, c, rf).unwrap_or_else(|e| panic!("{e}"));
            let after = PlacementTable::new(&rest, c, rf).unwrap_or_else(|e| panic!("{e}"));
            for shard in 0..c.get() {
                let old = before.owners(shard);
                let new = after.owners(shard);
                if old.contains(removed.id.as_str()) {
                    prop_assert_eq!(old.difference(&new).count(), 1);
                    prop_assert!(!new.contains(removed.id.as_str()));
                } else {
                    prop_assert_eq!(old, new);
                }
            }
        }
    }
}
