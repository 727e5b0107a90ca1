//! Read plans: which node serves which shard for one read.
//!
//! - [`Cluster::read_plan`] (document listings): each shard from its first reachable replica in
//!   placement order, so the same node serves the same shard on every page and paging is
//!   stable;
//! - [`Cluster::search_plan`] (searches): a greedy cover that asks as few nodes as possible
//!   (each extra node is one more request to wait for), preferring among equally useful nodes
//!   the least loaded (latency and reads in flight, see `cluster::load`), then a rotating
//!   counter so that load spreads over the replicas.
//!
//! A node that recently failed (see [`Cluster::mark_down`]) is avoided while any replica of the
//! shard is up, and a shard with no reachable replica is an error (`miroir_shard_unavailable`),
//! never a silently short result.

use std::collections::BTreeMap;

use axum::http::StatusCode;

use miroir_core::placement::PlacementTable;

use super::{Cluster, Layout, Scope};
use crate::error::{Error, ErrorType, MeiliError, Result};

/// A read plan: nodes, each with the shards it is asked for.
pub(crate) type Plan = Vec<(usize, Vec<u32>)>;

/// Every shard of an index with `shard_count` shards.
pub(crate) fn all_shards(shard_count: u32) -> Vec<u32> {
    (0..shard_count).collect()
}

impl Cluster {
    /// The replicas of a shard that may be asked: up, that shard in sync for every index of
    /// the scope, and not excluded, in placement order.
    fn usable<'a>(
        &'a self,
        table: &'a PlacementTable,
        scope: &'a Scope,
        shard: u32,
        exclude: &'a [usize],
    ) -> impl Iterator<Item = usize> + 'a {
        table.replicas(shard).iter().copied().filter(move |n| {
            !exclude.contains(n)
                && self.is_up(*n)
                && !scope
                    .indexes
                    .iter()
                    .any(|index| self.is_stale_shard(index, shard, *n))
        })
    }

    /// The shards a request to `node` must select with the marker filter: `shards`, or none
    /// when the node holds no other shard of this layout (a node holds exactly the documents
    /// of its shards, so the filter would select everything; leaving it out spares the node
    /// evaluating it on every query). Without a placement table, or while a rebalance or a
    /// reshape runs (a node may then also hold copies it does not serve: being copied to it,
    /// or waiting to be deleted), the selection is kept, which is always correct.
    pub fn shard_selection(&self, layout: Layout, node: usize, shards: &[u32]) -> Vec<u32> {
        if self.may_hold_unserved_copies() {
            return shards.to_vec();
        }
        let Ok(table) = self.table(layout) else {
            return shards.to_vec();
        };
        let holds_other = (0..layout.shards)
            .any(|shard| !shards.contains(&shard) && table.replicas(shard).contains(&node));
        if holds_other {
            shards.to_vec()
        } else {
            Vec::new()
        }
    }

    /// For document listings: each shard from its first usable replica (see the module docs).
    pub fn read_plan(&self, scope: &Scope) -> Result<Plan> {
        let table = self.table(scope.layout)?;
        let mut plan: BTreeMap<usize, Vec<u32>> = BTreeMap::new();
        for shard in 0..scope.layout.shards {
            let node = self
                .usable(&table, scope, shard, &[])
                .next()
                .ok_or_else(|| self.unavailable(&table, shard))?;
            plan.entry(node).or_default().push(shard);
        }
        Ok(plan.into_iter().collect())
    }

    /// For searches: covers `shards` with as few usable nodes as possible, avoiding `exclude`.
    pub fn search_plan(&self, scope: &Scope, shards: &[u32], exclude: &[usize]) -> Result<Plan> {
        let table = self.table(scope.layout)?;
        let node_count = self.node_count();
        let mut candidates: Vec<Vec<u32>> = vec![Vec::new(); node_count];
        for &shard in shards {
            let mut any = false;
            for node in self.usable(&table, scope, shard, exclude) {
                candidates[node].push(shard);
                any = true;
            }
            if !any {
                return Err(self.unavailable(&table, shard));
            }
        }
        let start = self.next_rotation() % node_count.max(1);
        let mut uncovered: Vec<u32> = shards.to_vec();
        let mut plan: Plan = Vec::new();
        while !uncovered.is_empty() {
            let best = (0..node_count)
                .map(|i| (start + i) % node_count)
                .filter(|n| !plan.iter().any(|(p, _)| p == n))
                .max_by_key(|n| {
                    let covered = candidates[*n]
                        .iter()
                        .filter(|s| uncovered.contains(s))
                        .count();
                    // Among nodes covering as much, the least loaded (adaptive replica choice,
                    // see `load`); among equals, the first in rotated order (max_by_key keeps
                    // the last maximum, so rank by reverse position).
                    (
                        covered,
                        std::cmp::Reverse(self.load(*n).score()),
                        node_count - ((*n + node_count - start) % node_count),
                    )
                });
            let Some(node) = best else { break };
            let taken: Vec<u32> = candidates[node]
                .iter()
                .copied()
                .filter(|s| uncovered.contains(s))
                .collect();
            if taken.is_empty() {
                break;
            }
            uncovered.retain(|s| !taken.contains(s));
            plan.push((node, taken));
        }
        plan.sort_by_key(|(node, _)| *node);
        Ok(plan)
    }

    fn unavailable(&self, table: &PlacementTable, shard: u32) -> Error {
        let replicas: Vec<String> = table
            .replicas(shard)
            .iter()
            .map(|n| format!("`{}`", self.node(*n).id))
            .collect();
        MeiliError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "miroir_shard_unavailable",
            ErrorType::System,
            format!(
                "Shard {shard} has no reachable replica in sync (replicas: {}); the request cannot cover every document, so Miroir refuses to answer with partial or outdated results.",
                replicas.join(", ")
            ),
        )
        .into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::fakes::{cluster_of, FakeNode};
    use crate::cluster::Health;
    use miroir_core::replica::StaleShards;

    fn covered(plan: &Plan) -> Vec<u32> {
        let mut shards: Vec<u32> = plan.iter().flat_map(|(_, s)| s.clone()).collect();
        shards.sort_unstable();
        shards
    }

    #[test]
    fn a_search_plan_covers_every_shard_exactly_once() {
        let (cluster, _) = cluster_of(vec![FakeNode::healthy(); 3], 2);
        let layout = Layout {
            shards: 16,
            whole: false,
        };
        for _ in 0..6 {
            let plan = cluster
                .search_plan(&layout.into(), &all_shards(16), &[])
                .unwrap();
            assert_eq!(covered(&plan), all_shards(16));
            // RF 2 over 3 nodes: two nodes always suffice to cover every shard.
            assert!(plan.len() <= 2, "{plan:?}");
        }
    }

    #[test]
    fn ties_rotate_over_replicas() {
        let (cluster, _) = cluster_of(vec![FakeNode::healthy(); 3], 3);
        let layout = Layout {
            shards: 4,
            whole: false,
        };
        let chosen: std::collections::BTreeSet<usize> = (0..6)
            .map(|_| {
                cluster
                    .search_plan(&layout.into(), &all_shards(4), &[])
                    .unwrap()[0]
                    .0
            })
            .collect();
        assert_eq!(chosen.len(), 3, "every node serves in turn");
    }

    #[test]
    fn down_and_excluded_nodes_are_avoided_until_no_replica_is_left() {
        let (cluster, _) = cluster_of(vec![FakeNode::healthy(); 3], 2);
        let layout = Layout {
            shards: 8,
            whole: false,
        };
        cluster.mark_down(1);
        let plan = cluster
            .search_plan(&layout.into(), &all_shards(8), &[0])
            .unwrap_err();
        let Error::Meili(e) = plan else {
            panic!("expected a Miroir error")
        };
        assert_eq!(e.code, "miroir_shard_unavailable");
        let plan = cluster
            .search_plan(&layout.into(), &all_shards(8), &[])
            .unwrap();
        assert!(plan.iter().all(|(node, _)| *node != 1), "{plan:?}");
        assert_eq!(covered(&plan), all_shards(8));
        let listing = cluster.read_plan(&layout.into()).unwrap();
        assert!(listing.iter().all(|(node, _)| *node != 1));
        assert_eq!(covered(&listing), all_shards(8));
    }

    #[test]
    fn stale_replicas_serve_no_read_of_their_index() {
        let (cluster, _) = cluster_of(vec![FakeNode::healthy(); 3], 2);
        let scope = Scope {
            layout: Layout {
                shards: 8,
                whole: false,
            },
            indexes: vec!["movies".to_string()],
        };
        cluster.set_stale_shards("movies", 2, StaleShards::All);
        for _ in 0..3 {
            let plan = cluster.search_plan(&scope, &all_shards(8), &[]).unwrap();
            assert!(plan.iter().all(|(node, _)| *node != 2), "{plan:?}");
            assert_eq!(covered(&plan), all_shards(8));
        }
        let other = Scope {
            indexes: vec!["books".to_string()],
            ..scope.clone()
        };
        let uses_two = (0..6).any(|_| {
            let plan = cluster.search_plan(&other, &all_shards(8), &[]).unwrap();
            plan.iter().any(|(node, _)| *node == 2)
        });
        assert!(uses_two, "another index still reads node 2");
        cluster.set_stale_shards("movies", 1, StaleShards::All);
        assert!(cluster.search_plan(&scope, &all_shards(8), &[]).is_err());
        cluster.clear_stale("movies", 1);
        cluster.clear_stale("movies", 2);
        assert_eq!(cluster.checked(0, false), Health::Suspect);
        assert!(cluster.is_up(0), "a suspect node is still used");
        assert_eq!(cluster.checked(0, false), Health::Down);
        assert!(!cluster.is_up(0));
        assert_eq!(cluster.checked(0, true), Health::Healthy);
        assert!(cluster.is_up(0));
    }

    #[test]
    fn a_replica_stale_for_some_shards_still_serves_the_others() {
        let (cluster, _) = cluster_of(vec![FakeNode::healthy(); 3], 2);
        let layout = Layout {
            shards: 8,
            whole: false,
        };
        let scope = Scope {
            layout,
            indexes: vec!["movies".to_string()],
        };
        let table = cluster.table(layout).unwrap();
        let held: Vec<u32> = (0..8).filter(|s| table.replicas(*s).contains(&2)).collect();
        let (stale, fresh) = held.split_at(held.len() / 2);
        cluster.set_stale_shards("movies", 2, StaleShards::touched(Some(stale)));
        for _ in 0..6 {
            for (node, shards) in cluster.search_plan(&scope, &all_shards(8), &[]).unwrap() {
                assert!(
                    node != 2 || shards.iter().all(|s| !stale.contains(s)),
                    "{shards:?}"
                );
            }
            let listing = cluster.read_plan(&scope).unwrap();
            assert!(listing
                .iter()
                .all(|(node, shards)| *node != 2 || shards.iter().all(|s| !stale.contains(s))));
        }
        let only_two = cluster.search_plan(&scope, fresh, &[0, 1]).unwrap();
        assert_eq!(
            only_two,
            vec![(2, fresh.to_vec())],
            "its in-sync shards are served"
        );
        assert!(cluster.search_plan(&scope, stale, &[0, 1]).is_err());
    }

    #[test]
    fn a_slow_replica_is_avoided_when_another_covers_as_much() {
        let (cluster, _) = cluster_of(vec![FakeNode::healthy(); 2], 2);
        let layout = Layout {
            shards: 4,
            whole: false,
        };
        for _ in 0..10 {
            cluster
                .load(0)
                .record(std::time::Duration::from_millis(300));
            cluster.load(1).record(std::time::Duration::from_millis(3));
        }
        for _ in 0..4 {
            let plan = cluster
                .search_plan(&layout.into(), &all_shards(4), &[])
                .unwrap();
            assert_eq!(plan, vec![(1, all_shards(4))]);
        }
    }

    #[test]
    fn no_selection_toward_a_node_asked_for_all_it_holds() {
        let (cluster, _) = cluster_of(vec![FakeNode::healthy(); 2], 2);
        let layout = Layout {
            shards: 4,
            whole: false,
        };
        assert!(cluster
            .shard_selection(layout, 0, &all_shards(4))
            .is_empty());
        assert_eq!(cluster.shard_selection(layout, 0, &[1, 2]), vec![1, 2]);
    }
}
