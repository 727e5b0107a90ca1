//! The fleet as the server sees it: node clients plus the placement of every shard.
//!
//! Placement tables are computed once per shard count (indexes may differ in `S`) and cached.
//!
//! Two read plans:
//! - [`Cluster::read_plan`] (document listings): each shard from its first reachable replica in
//!   placement order, so the same node serves the same shard on every page and paging is
//!   stable;
//! - [`Cluster::search_plan`] (searches): a greedy cover that asks as few nodes as possible
//!   (each extra node is one more request to wait for), breaking ties between equally useful
//!   nodes with a rotating counter so that load spreads over the replicas.
//!
//! A node that fails to answer is considered down for [`DOWN_FOR`]; plans avoid it while any
//! replica of the shard is up, and a shard with no reachable replica is an error
//! (`miroir_shard_unavailable`), never a silently short result.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::StatusCode;

use miroir_core::hash::{document_id_hash, shard_of, ShardCount};
use miroir_core::placement::{NodeSpec, PlacementTable};

use miroir_store::IndexRecord;

use crate::config::ServerConfig;
use crate::error::{ErrorType, MeiliError, Result};

/// How long a node that failed to answer is avoided by read plans.
pub const DOWN_FOR: Duration = Duration::from_secs(2);

fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A read plan: nodes, each with the shards it is asked for.
pub type Plan = Vec<(usize, Vec<u32>)>;

/// How one index is spread over the nodes: its shard count and the copies of each shard
/// (the cluster's replication factor, or every node for a whole index).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Layout {
    /// Virtual shards.
    pub shards: u32,
    /// Copies of each shard.
    pub replicas: usize,
}
use crate::node::NodeClient;

/// Node clients and placement.
pub struct Cluster {
    nodes: Vec<NodeClient>,
    specs: Vec<NodeSpec>,
    replication_factor: usize,
    tables: Mutex<HashMap<Layout, Arc<PlacementTable>>>,
    /// Per node: Unix milliseconds until which it is considered down.
    down_until: Vec<AtomicU64>,
    /// Rotates tie-breaks between equally useful replicas.
    rotation: AtomicUsize,
}

impl Cluster {
    /// Builds the cluster from a validated configuration.
    pub fn new(config: &ServerConfig) -> Cluster {
        let http = NodeClient::http_client();
        let nodes = config
            .nodes
            .iter()
            .map(|n| NodeClient::new(n.id.clone(), &n.url, n.api_key.clone(), http.clone()))
            .collect();
        let specs = config
            .nodes
            .iter()
            .map(|n| NodeSpec {
                id: n.id.clone(),
                weight: n.weight,
                zone: n.zone.clone(),
            })
            .collect();
        Cluster {
            down_until: config.nodes.iter().map(|_| AtomicU64::new(0)).collect(),
            nodes,
            specs,
            replication_factor: config.replication_factor,
            tables: Mutex::new(HashMap::new()),
            rotation: AtomicUsize::new(0),
        }
    }

    /// Every node, in configuration order.
    pub fn nodes(&self) -> &[NodeClient] {
        &self.nodes
    }

    /// The node at `index` in configuration order.
    pub fn node(&self, index: usize) -> &NodeClient {
        &self.nodes[index]
    }

    /// Copies of every document of a sharded index.
    pub fn replication_factor(&self) -> usize {
        self.replication_factor
    }

    /// The layout of an index: whole indexes (see [`IndexRecord::whole`]) are on every node.
    pub fn layout(&self, index: &IndexRecord) -> Layout {
        Layout {
            shards: index.shard_count,
            replicas: if index.whole {
                self.nodes.len()
            } else {
                self.replication_factor
            },
        }
    }

    /// The placement table of a layout.
    pub fn table(&self, layout: Layout) -> Result<Arc<PlacementTable>> {
        let mut tables = self
            .tables
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(table) = tables.get(&layout) {
            return Ok(table.clone());
        }
        let count = ShardCount::new(layout.shards)
            .map_err(|e| MeiliError::invalid("bad_request", e.to_string()))?;
        let table = PlacementTable::new(&self.specs, count, layout.replicas)
            .map_err(|e| MeiliError::invalid("bad_request", e.to_string()))?;
        let table = Arc::new(table);
        tables.insert(layout, table.clone());
        Ok(table)
    }

    /// The shard of a canonical document id.
    pub fn shard_of(&self, shard_count: u32, canonical_id: &str) -> Result<u32> {
        let count = ShardCount::new(shard_count)
            .map_err(|e| MeiliError::invalid("bad_request", e.to_string()))?;
        Ok(shard_of(document_id_hash(canonical_id), count))
    }

    /// Records that a node failed to answer.
    pub fn mark_down(&self, node: usize) {
        if let Some(until) = self.down_until.get(node) {
            until.store(
                now_millis() + DOWN_FOR.as_millis() as u64,
                Ordering::Relaxed,
            );
        }
    }

    /// Whether a node is currently considered reachable.
    pub fn is_up(&self, node: usize) -> bool {
        self.down_until
            .get(node)
            .is_some_and(|until| until.load(Ordering::Relaxed) <= now_millis())
    }

    /// The replicas of a shard that may be asked: up and not excluded, in placement order.
    fn usable<'a>(
        &'a self,
        table: &'a PlacementTable,
        shard: u32,
        exclude: &'a [usize],
    ) -> impl Iterator<Item = usize> + 'a {
        table
            .replicas(shard)
            .iter()
            .copied()
            .filter(move |n| !exclude.contains(n) && self.is_up(*n))
    }

    /// The shards a request to `node` must select with the marker filter: `shards`, or none
    /// when the node holds no other shard of this layout (a node holds exactly the documents
    /// of its shards, so the filter would select everything; leaving it out spares the node
    /// evaluating it on every query).
    pub fn shard_selection(&self, layout: Layout, node: usize, shards: &[u32]) -> Vec<u32> {
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
    pub fn read_plan(&self, layout: Layout) -> Result<Plan> {
        let table = self.table(layout)?;
        let mut plan: BTreeMap<usize, Vec<u32>> = BTreeMap::new();
        for shard in 0..layout.shards {
            let node = self
                .usable(&table, shard, &[])
                .next()
                .ok_or_else(|| self.unavailable(&table, shard))?;
            plan.entry(node).or_default().push(shard);
        }
        Ok(plan.into_iter().collect())
    }

    /// For searches: covers `shards` with as few usable nodes as possible, avoiding `exclude`.
    pub fn search_plan(&self, layout: Layout, shards: &[u32], exclude: &[usize]) -> Result<Plan> {
        let table = self.table(layout)?;
        let node_count = self.nodes.len();
        let mut candidates: Vec<Vec<u32>> = vec![Vec::new(); node_count];
        for &shard in shards {
            let mut any = false;
            for node in self.usable(&table, shard, exclude) {
                candidates[node].push(shard);
                any = true;
            }
            if !any {
                return Err(self.unavailable(&table, shard));
            }
        }
        let start = self.rotation.fetch_add(1, Ordering::Relaxed) % node_count.max(1);
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
                    // Among equals, the first in rotated order wins (max_by_key keeps the last
                    // maximum, so rank by reverse position).
                    (
                        covered,
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

    fn unavailable(&self, table: &PlacementTable, shard: u32) -> crate::error::Error {
        let replicas: Vec<String> = table
            .replicas(shard)
            .iter()
            .map(|n| format!("`{}`", self.nodes[*n].id))
            .collect();
        MeiliError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "miroir_shard_unavailable",
            ErrorType::System,
            format!(
                "Shard {shard} has no reachable replica (replicas: {}); the request cannot cover every document, so Miroir refuses to answer with partial results.",
                replicas.join(", ")
            ),
        )
        .into()
    }
}
