#![warn(missing_docs)]
//! Which nodes hold each shard: weighted rendezvous (HRW) hashing, replicas spread over zones.
//!
//! **Scores.** Every (node, shard) pair gets a pseudo-random `u` in the open interval (0, 1):
//! the top 53 bits of XXH3-64 of the node id's UTF-8 bytes, seeded by the shard's placement key
//! ([`placement_key`]). The node's score is `-weight / ln(u)`, the standard logarithmic method
//! of weighted rendezvous hashing: the chance that a node scores highest for a shard is exactly
//! its share of the total weight, and no node's score depends on the other nodes.
//!
//! **Replicas.** A shard's ordered replicas are picked by walking the nodes by descending score
//! (ties, which need two equal floats, broken by node id): first take each node whose zone is
//! not used yet (a node without a zone is a zone of its own), then fill the remaining slots with
//! the best nodes not taken. So replicas are in distinct zones whenever there are at least RF
//! zones, and the first replica is the best-scoring node overall.
//!
//! **Why HRW.** A node's score for a shard never depends on the rest of the topology, so
//! without zones, adding one node to N moves only the shards whose top-RF set now includes the
//! newcomer (it replaces exactly one old owner, about `S·RF/(N+1)` shards), and removing a node
//! moves only the shards it held (each gets exactly one replacement). Nothing else changes owner,
//! so a rebalance copies the minimum ([`PlacementTable::changes`] lists what moves). It needs no
//! stored state beyond the node list, and no coordination between Miroir instances.
//!
//! **Placement key.** The key of a shard is the pair (shard count, shard) and deliberately not
//! the index: every index with the same shard count is placed identically. An index swap (which
//! exchanges the contents of two indexes on every node) or any other per-index operation then
//! never disagrees with placement, and each index is still spread evenly on its own. Including
//! the shard count keeps indexes of different counts from sharing the same pattern of hot nodes.
//!
//! **Stability.** Placement is a pure function of the node ids, weights and zones, the shard
//! count, the shard and RF, independent of the order of the node list. The hashes are fixed by
//! XXH3 and the seeds below; `ln` may differ in the last bit between platforms' math libraries,
//! which could only reorder two scores equal to about 15 digits (probability about 2^-50 per
//! comparison). A golden-value test pins the result.

use std::collections::{BTreeSet, HashSet};

use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::error::Error;
use crate::hash::ShardCount;

/// Seed of [`placement_key`]: `"placemen"` in ASCII. Changing it moves almost every shard.
pub const PLACEMENT_SEED: u64 = 0x706c_6163_656d_656e;

/// A node as placement sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeSpec {
    /// Stable identifier. It is what gets hashed, so renaming a node moves its shards, while
    /// changing its address does not.
    pub id: String,
    /// Relative capacity, a finite number above 0: a node of weight 2 gets about twice the
    /// shards of a node of weight 1.
    pub weight: f64,
    /// Failure domain (rack, availability zone): replicas go to distinct zones first. `None`
    /// makes the node a zone of its own.
    pub zone: Option<String>,
}

impl NodeSpec {
    /// A node of weight 1 without zone.
    pub fn new(id: impl Into<String>) -> NodeSpec {
        NodeSpec {
            id: id.into(),
            weight: 1.0,
            zone: None,
        }
    }

    /// The same node with another weight.
    pub fn with_weight(self, weight: f64) -> NodeSpec {
        NodeSpec { weight, ..self }
    }

    /// The same node in a zone.
    pub fn with_zone(self, zone: impl Into<String>) -> NodeSpec {
        NodeSpec {
            zone: Some(zone.into()),
            ..self
        }
    }
}

/// The placement key of a shard: XXH3-64 of the shard count then the shard (both `u32`,
/// little-endian) with [`PLACEMENT_SEED`]. It seeds every node's score for that shard.
///
/// It does not depend on the index (see the module documentation).
pub fn placement_key(count: ShardCount, shard: u32) -> u64 {
    let mut bytes = [0u8; 8];
    bytes[..4].copy_from_slice(&count.get().to_le_bytes());
    bytes[4..].copy_from_slice(&shard.to_le_bytes());
    xxh3_64_with_seed(&bytes, PLACEMENT_SEED)
}

/// A node's weighted rendezvous score for a placement key: `-weight / ln(u)` with `u` in (0, 1)
/// drawn from the node id and the key. Higher wins. Positive and finite for a valid weight.
pub fn score(node: &NodeSpec, key: u64) -> f64 {
    let hash = xxh3_64_with_seed(node.id.as_bytes(), key);
    // The top 53 bits, centred in their interval: u is never 0 nor 1, so ln(u) is finite and
    // negative.
    let u = ((hash >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    -node.weight / u.ln()
}

/// Checks a node list and replication factor: `rf` in `1..=nodes.len()`, unique ids, and
/// finite positive weights.
pub fn validate(nodes: &[NodeSpec], rf: usize) -> Result<(), Error> {
    if rf == 0 || rf > nodes.len() {
        return Err(Error::ReplicationFactor {
            rf,
            nodes: nodes.len(),
        });
    }
    let mut seen = HashSet::with_capacity(nodes.len());
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

/// The failure domain of a node: its zone, or the node alone (a key that cannot collide with a
/// zone name, even one equal to a node id).
#[derive(PartialEq, Eq, Hash)]
enum Domain<'a> {
    Zone(&'a str),
    Alone(usize),
}

/// The ordered replicas of one shard as indexes into `nodes`, for a list already validated.
fn pick(nodes: &[NodeSpec], key: u64, rf: usize) -> Vec<usize> {
    let mut ranked: Vec<(f64, usize)> = nodes
        .iter()
        .enumerate()
        .map(|(i, node)| (score(node, key), i))
        .collect();
    ranked.sort_by(|a, b| {
        b.0.total_cmp(&a.0)
            .then_with(|| nodes[a.1].id.cmp(&nodes[b.1].id))
    });
    let mut chosen = Vec::with_capacity(rf);
    let mut used = HashSet::with_capacity(rf);
    // One node per zone, best first.
    for &(_, i) in &ranked {
        if chosen.len() == rf {
            return chosen;
        }
        let domain = match &nodes[i].zone {
            Some(zone) => Domain::Zone(zone),
            None => Domain::Alone(i),
        };
        if used.insert(domain) {
            chosen.push(i);
        }
    }
    // Fewer zones than replicas: the best nodes not taken yet.
    for &(_, i) in &ranked {
        if chosen.len() == rf {
            break;
        }
        if !chosen.contains(&i) {
            chosen.push(i);
        }
    }
    chosen
}

/// The ordered replicas of `shard` (out of `count`) as indexes into `nodes`: `rf` distinct
/// nodes, in distinct zones first, the first one being the best-scoring node.
///
/// Fails like [`validate`]. `shard` is not checked against `count`; a table of every shard is
/// [`PlacementTable::new`].
pub fn shard_replicas(
    nodes: &[NodeSpec],
    count: ShardCount,
    shard: u32,
    rf: usize,
) -> Result<Vec<usize>, Error> {
    validate(nodes, rf)?;
    Ok(pick(nodes, placement_key(count, shard), rf))
}

/// The replicas of every shard for one shard count, node list and replication factor.
///
/// Replicas are stored as indexes into the node list the table was built from (the server's
/// configuration order), with the node ids kept to compare tables built from different lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacementTable {
    count: ShardCount,
    rf: usize,
    node_ids: Vec<String>,
    replicas: Vec<Vec<usize>>,
}

impl PlacementTable {
    /// Computes the replicas of shards `0..count`. Fails like [`validate`].
    pub fn new(nodes: &[NodeSpec], count: ShardCount, rf: usize) -> Result<PlacementTable, Error> {
        validate(nodes, rf)?;
        let replicas = count
            .shards()
            .map(|shard| pick(nodes, placement_key(count, shard), rf))
            .collect();
        Ok(PlacementTable {
            count,
            rf,
            node_ids: nodes.iter().map(|n| n.id.clone()).collect(),
            replicas,
        })
    }

    /// The same table with its nodes renumbered: the node at index `i` of the list the table
    /// was built from becomes `positions[i]` of `all_ids` (a server numbers every node it
    /// knows, while placement covers only those that hold shards). `None` when a position is
    /// out of `all_ids` or names another node.
    pub fn renumbered(&self, positions: &[usize], all_ids: &[String]) -> Option<PlacementTable> {
        let same_nodes = positions.len() == self.node_ids.len()
            && positions
                .iter()
                .zip(&self.node_ids)
                .all(|(position, id)| all_ids.get(*position) == Some(id));
        if !same_nodes {
            return None;
        }
        Some(PlacementTable {
            count: self.count,
            rf: self.rf,
            node_ids: all_ids.to_vec(),
            replicas: self
                .replicas
                .iter()
                .map(|set| set.iter().map(|i| positions[*i]).collect())
                .collect(),
        })
    }

    /// This table with the replicas of some shards replaced (a rebalance in progress: the
    /// shards it switched already read from their new owners). `replicas(shard)` gives the
    /// replacement of each shard that has one. Node ids stay this table's.
    pub fn with_replicas(
        &self,
        mut replicas: impl FnMut(u32) -> Option<Vec<usize>>,
    ) -> PlacementTable {
        let mut table = self.clone();
        for (shard, set) in table.replicas.iter_mut().enumerate() {
            if let Some(replacement) = replicas(shard as u32) {
                *set = replacement;
            }
        }
        table
    }

    /// The shard count.
    pub fn shard_count(&self) -> ShardCount {
        self.count
    }

    /// The replication factor: how many replicas every shard has.
    pub fn replication_factor(&self) -> usize {
        self.rf
    }

    /// The node ids, in the order of the list the table was built from.
    pub fn node_ids(&self) -> &[String] {
        &self.node_ids
    }

    /// The ordered replicas of `shard` as indexes into the node list; empty if `shard` is out
    /// of range.
    pub fn replicas(&self, shard: u32) -> &[usize] {
        self.replicas
            .get(shard as usize)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// The ordered replica ids of `shard`; empty if `shard` is out of range.
    pub fn replica_ids(&self, shard: u32) -> Vec<&str> {
        self.replicas(shard)
            .iter()
            .filter_map(|i| self.node_ids.get(*i).map(String::as_str))
            .collect()
    }

    /// The owners of `shard` as a set of ids (order ignored); empty if `shard` is out of range.
    pub fn owners(&self, shard: u32) -> BTreeSet<&str> {
        self.replica_ids(shard).into_iter().collect()
    }

    /// The shards held by the node with id `node_id`, in increasing order.
    pub fn shards_of(&self, node_id: &str) -> Vec<u32> {
        self.count
            .shards()
            .filter(|shard| self.replica_ids(*shard).contains(&node_id))
            .collect()
    }

    /// The shards whose owner set differs from `self` (before) to `after`, in increasing order:
    /// the shards a topology change must copy. A change of replica order alone is not listed.
    ///
    /// Nodes are compared by id, so the two tables may come from differently ordered lists.
    /// With different shard counts every shard of the larger count is compared, a shard absent
    /// from one table having no owner there.
    pub fn changed_shards(&self, after: &PlacementTable) -> Vec<u32> {
        self.changes(after).into_iter().map(|c| c.shard).collect()
    }

    /// What [`changed_shards`](Self::changed_shards) lists, with the owners before and after:
    /// the input of a rebalancing plan.
    pub fn changes(&self, after: &PlacementTable) -> Vec<ShardChange> {
        let shards = self.count.get().max(after.count.get());
        (0..shards)
            .filter(|shard| self.owners(*shard) != after.owners(*shard))
            .map(|shard| ShardChange {
                shard,
                before: own(self.replica_ids(shard)),
                after: own(after.replica_ids(shard)),
            })
            .collect()
    }
}

fn own(ids: Vec<&str>) -> Vec<String> {
    ids.into_iter().map(str::to_owned).collect()
}

/// A shard whose owner set changes between two placement tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardChange {
    /// The shard.
    pub shard: u32,
    /// Its ordered replica ids before the change.
    pub before: Vec<String>,
    /// Its ordered replica ids after the change.
    pub after: Vec<String>,
}

impl ShardChange {
    /// Nodes that must receive a copy: owners after, not before (in replica order).
    pub fn added(&self) -> Vec<&str> {
        difference(&self.after, &self.before)
    }

    /// Nodes whose copy is dropped once the move is done: owners before, not after (in replica
    /// order).
    pub fn removed(&self) -> Vec<&str> {
        difference(&self.before, &self.after)
    }
}

fn difference<'a>(a: &'a [String], b: &[String]) -> Vec<&'a str> {
    a.iter()
        .filter(|id| !b.contains(id))
        .map(String::as_str)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn nodes(n: usize) -> Vec<NodeSpec> {
        (0..n).map(|i| NodeSpec::new(format!("node-{i}"))).collect()
    }

    fn count(c: u32) -> ShardCount {
        ShardCount::new(c).unwrap()
    }

    fn table(nodes: &[NodeSpec], c: u32, rf: usize) -> PlacementTable {
        PlacementTable::new(nodes, count(c), rf).unwrap()
    }

    fn domain(node: &NodeSpec) -> String {
        match &node.zone {
            Some(zone) => format!("zone {zone}"),
            None => format!("node {}", node.id),
        }
    }

    #[test]
    fn validation() {
        assert_eq!(
            PlacementTable::new(&nodes(2), count(4), 3),
            Err(Error::ReplicationFactor { rf: 3, nodes: 2 })
        );
        assert_eq!(
            PlacementTable::new(&nodes(2), count(4), 0),
            Err(Error::ReplicationFactor { rf: 0, nodes: 2 })
        );
        assert_eq!(
            PlacementTable::new(&[], count(4), 1),
            Err(Error::ReplicationFactor { rf: 1, nodes: 0 })
        );
        let mut dup = nodes(3);
        dup[2].id = "node-0".into();
        assert_eq!(
            PlacementTable::new(&dup, count(4), 1),
            Err(Error::DuplicateNode("node-0".into()))
        );
        for weight in [0.0, -1.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let mut bad = nodes(2);
            bad[1].weight = weight;
            assert_eq!(
                PlacementTable::new(&bad, count(4), 1),
                Err(Error::InvalidWeight("node-1".into())),
                "{weight}"
            );
            assert!(shard_replicas(&bad, count(4), 0, 1).is_err());
        }
        let tiny = nodes(2)
            .into_iter()
            .map(|n| n.with_weight(f64::MIN_POSITIVE))
            .collect::<Vec<_>>();
        assert!(PlacementTable::new(&tiny, count(4), 2).is_ok());
    }

    #[test]
    fn golden_placement() {
        // Pinned: if this fails, the scores changed, and every existing cluster would move
        // shards on upgrade.
        let t = table(&nodes(3), 8, 2);
        let all: Vec<Vec<usize>> = count(8).shards().map(|s| t.replicas(s).to_vec()).collect();
        #[rustfmt::skip]
        let expected = [[1, 0], [2, 1], [2, 0], [2, 0], [0, 2], [2, 0], [2, 0], [2, 1]];
        assert_eq!(all, expected);
        assert_eq!(placement_key(count(64), 5), 0xc942_ff1d_4c5e_cc3a);

        // Weights and zones (values cross-checked with an independent implementation over the
        // reference C xxHash library).
        let zoned = [
            NodeSpec::new("a").with_zone("east"),
            NodeSpec::new("b").with_zone("east").with_weight(2.0),
            NodeSpec::new("c").with_zone("west"),
            NodeSpec::new("d").with_weight(0.5),
            NodeSpec::new("e").with_zone("west"),
        ];
        let t = table(&zoned, 16, 3);
        let all: Vec<Vec<usize>> = count(16).shards().map(|s| t.replicas(s).to_vec()).collect();
        #[rustfmt::skip]
        let expected = [
            [4, 1, 3], [1, 3, 4], [2, 0, 3], [2, 1, 3], [3, 2, 1], [0, 3, 4], [4, 0, 3], [3, 1, 4],
            [4, 1, 3], [1, 2, 3], [0, 2, 3], [1, 4, 3], [4, 1, 3], [1, 2, 3], [1, 3, 4], [2, 0, 3],
        ];
        assert_eq!(all, expected);
    }

    #[test]
    fn table_accessors() {
        let list = nodes(4);
        let t = table(&list, 16, 2);
        assert_eq!(t.shard_count(), count(16));
        assert_eq!(t.replication_factor(), 2);
        assert_eq!(t.node_ids().len(), 4);
        assert!(t.replicas(16).is_empty());
        assert!(t.owners(99).is_empty());
        for shard in count(16).shards() {
            assert_eq!(
                shard_replicas(&list, count(16), shard, 2).unwrap(),
                t.replicas(shard)
            );
        }
        let held: usize = list.iter().map(|n| t.shards_of(&n.id).len()).sum();
        assert_eq!(held, 16 * 2);
        assert!(t.shards_of("nobody").is_empty());
        assert!(t.changes(&t).is_empty());
    }

    #[test]
    fn zones_are_spread_first() {
        let zoned: Vec<NodeSpec> = (0..6)
            .map(|i| NodeSpec::new(format!("node-{i}")).with_zone(format!("z{}", i % 3)))
            .collect();
        let t = table(&zoned, 256, 3);
        for shard in count(256).shards() {
            let zones: HashSet<&str> = t
                .replicas(shard)
                .iter()
                .filter_map(|i| zoned[*i].zone.as_deref())
                .collect();
            assert_eq!(zones.len(), 3, "shard {shard}");
        }
        // RF above the zone count: one node per zone, then the best remaining node.
        let t = table(&zoned, 256, 4);
        for shard in count(256).shards() {
            let zones: HashSet<&str> = t
                .replicas(shard)
                .iter()
                .filter_map(|i| zoned[*i].zone.as_deref())
                .collect();
            assert_eq!(zones.len(), 3, "shard {shard}");
        }
    }

    #[test]
    fn a_node_without_zone_is_its_own_zone() {
        // The zone-less node is named like the other nodes' zone; still two distinct domains,
        // so it holds every shard, next to one of the two zoned nodes.
        let list = vec![
            NodeSpec::new("alpha"),
            NodeSpec::new("b").with_zone("alpha"),
            NodeSpec::new("c").with_zone("alpha"),
        ];
        let t = table(&list, 256, 2);
        for shard in count(256).shards() {
            let owners = t.owners(shard);
            assert!(owners.contains("alpha"), "shard {shard}: {owners:?}");
        }
    }

    #[test]
    fn adding_a_node_moves_about_one_share() {
        // S = 4096: a shard moves when the newcomer enters its top RF, with probability
        // RF/(N+1). The bound is 6 binomial standard deviations (deterministic anyway).
        for n in [1usize, 2, 3, 4, 7, 10] {
            let before_nodes = nodes(n);
            let after_nodes = nodes(n + 1);
            for rf in [1usize, 2, 3].into_iter().filter(|rf| *rf <= n) {
                let before = table(&before_nodes, 4096, rf);
                let after = table(&after_nodes, 4096, rf);
                let moved = before.changed_shards(&after).len() as f64;
                let p = rf as f64 / (n + 1) as f64;
                let expected = 4096.0 * p;
                let bound = 6.0 * (4096.0 * p * (1.0 - p)).sqrt();
                assert!(
                    (moved - expected).abs() <= bound,
                    "n={n} rf={rf}: {moved} moved, {expected:.0} expected"
                );
                let newcomer = format!("node-{n}");
                assert_eq!(after.shards_of(&newcomer).len(), moved as usize);
            }
        }
    }

    #[test]
    fn weights_are_proportional() {
        // One node of weight 2 and four of weight 1, RF 1: expected shares 1/3 and 1/6.
        let mut list = nodes(5);
        list[0].weight = 2.0;
        let t = table(&list, 4096, 1);
        let held: Vec<usize> = list.iter().map(|n| t.shards_of(&n.id).len()).collect();
        assert!((1200..=1530).contains(&held[0]), "{held:?}");
        let light = held[1..].iter().sum::<usize>() as f64 / 4.0;
        let ratio = held[0] as f64 / light;
        assert!((1.7..=2.3).contains(&ratio), "{held:?}: ratio {ratio}");
        for n in &held[1..] {
            assert!((560..=800).contains(n), "{held:?}");
        }
        // Scaling every weight changes nothing.
        let scaled: Vec<NodeSpec> = list
            .iter()
            .map(|n| n.clone().with_weight(n.weight * 3.5))
            .collect();
        assert!(t.changed_shards(&table(&scaled, 4096, 1)).is_empty());
    }

    #[test]
    fn changes_list_old_and_new_owners() {
        let before = table(&nodes(3), 64, 2);
        let after = table(&nodes(4), 64, 2);
        let changes = before.changes(&after);
        assert!(!changes.is_empty());
        for change in &changes {
            assert_eq!(change.added(), ["node-3"]);
            assert_eq!(change.removed().len(), 1);
            assert_eq!(before.replica_ids(change.shard), change.before);
            assert_eq!(after.replica_ids(change.shard), change.after);
        }
        // Different shard counts: every shard of the larger count is compared.
        let finer = table(&nodes(3), 128, 2);
        let changed = before.changed_shards(&finer);
        assert!(changed.iter().any(|s| *s >= 64));
        assert!(changed.iter().all(|s| *s < 128));
    }

    #[test]
    fn renumbering_keeps_owners_and_moves_indexes() {
        let members = nodes(3);
        let before = table(&members, 16, 2);
        let all: Vec<String> = ["gone", "node-0", "joining", "node-1", "node-2"]
            .map(str::to_owned)
            .to_vec();
        let renumbered = before.renumbered(&[1, 3, 4], &all).expect("same nodes");
        for shard in 0..16 {
            assert_eq!(before.replica_ids(shard), renumbered.replica_ids(shard));
            assert!(renumbered
                .replicas(shard)
                .iter()
                .all(|p| [1, 3, 4].contains(p)));
        }
        assert_eq!(renumbered.shards_of("node-1"), before.shards_of("node-1"));
        assert!(before.renumbered(&[0, 3, 4], &all).is_none());
        assert!(before.renumbered(&[1, 3], &all).is_none());
    }

    /// A random node list: 1 to 9 nodes, weights in [0.25, 4], zones among 4 or none.
    fn node_lists() -> impl Strategy<Value = Vec<NodeSpec>> {
        prop::collection::vec((0.25f64..4.0, prop::option::of(0u8..4)), 1..10).prop_map(|specs| {
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

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        #[test]
        fn replicas_are_distinct_zoned_stable(list in node_lists(), rf_seed in 0usize..9, bits in 0u32..8) {
            let rf = 1 + rf_seed % list.len();
            let c = 1u32 << bits;
            let t = table(&list, c, rf);
            let zones: HashSet<String> = list.iter().map(domain).collect();
            for shard in count(c).shards() {
                let r = t.replicas(shard);
                prop_assert_eq!(r.len(), rf);
                let unique: HashSet<usize> = r.iter().copied().collect();
                prop_assert_eq!(unique.len(), rf);
                // As many distinct zones as possible: all distinct when there are >= RF zones.
                let used: HashSet<String> = r.iter().map(|i| domain(&list[*i])).collect();
                prop_assert_eq!(used.len(), rf.min(zones.len()));
            }
            // Deterministic, and independent of the order of the node list.
            prop_assert_eq!(&t, &table(&list, c, rf));
            let mut reversed = list.clone();
            reversed.reverse();
            let r = table(&reversed, c, rf);
            for shard in count(c).shards() {
                prop_assert_eq!(t.replica_ids(shard), r.replica_ids(shard));
            }
        }

        #[test]
        fn adding_a_node_only_moves_shards_to_it(n in 1usize..9, rf_seed in 0usize..9) {
            let rf = 1 + rf_seed % n;
            let before = table(&nodes(n), 256, rf);
            let after = table(&nodes(n + 1), 256, rf);
            let newcomer = format!("node-{n}");
            let changed: HashSet<u32> = before.changed_shards(&after).into_iter().collect();
            for shard in count(256).shards() {
                let old = before.owners(shard);
                let new = after.owners(shard);
                if changed.contains(&shard) {
                    // Exactly one old owner replaced by the newcomer.
                    prop_assert!(new.contains(newcomer.as_str()));
                    prop_assert_eq!(old.difference(&new).count(), 1);
                    prop_assert_eq!(new.difference(&old).copied().collect::<Vec<_>>(), [newcomer.as_str()]);
                } else {
                    // Untouched shards keep even their replica order.
                    prop_assert_eq!(before.replica_ids(shard), after.replica_ids(shard));
                }
            }
        }

        #[test]
        fn removing_a_node_only_moves_its_shards(n in 2usize..10, rf_seed in 0usize..9, gone in 0usize..10) {
            let rf = 1 + rf_seed % (n - 1);
            let all = nodes(n);
            let mut rest = all.clone();
            let removed = rest.remove(gone % n);
            let before = table(&all, 256, rf);
            let after = table(&rest, 256, rf);
            for shard in count(256).shards() {
                let old = before.owners(shard);
                let new = after.owners(shard);
                if old.contains(removed.id.as_str()) {
                    // The removed node replaced by exactly one other node.
                    prop_assert_eq!(old.difference(&new).copied().collect::<Vec<_>>(), [removed.id.as_str()]);
                    prop_assert_eq!(new.difference(&old).count(), 1);
                } else {
                    prop_assert_eq!(before.replica_ids(shard), after.replica_ids(shard));
                }
            }
            prop_assert_eq!(before.changed_shards(&after), before.shards_of(&removed.id));
        }
    }
}
