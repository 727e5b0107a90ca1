//! The fleet as the server sees it: node clients plus the placement of every shard.
//!
//! Placement tables are computed once per shard count (indexes may differ in `S`) and cached.
//! Reads use each shard's first replica in placement order, which makes document listings
//! deterministic (the same node serves the same shard on every page); health-aware replica
//! choice belongs to the failure-handling work.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use miroir_core::hash::{document_id_hash, shard_of, ShardCount};
use miroir_core::placement::{NodeSpec, PlacementTable};

use crate::config::ServerConfig;
use crate::error::{MeiliError, Result};
use crate::node::NodeClient;

/// Node clients and placement.
pub struct Cluster {
    nodes: Vec<NodeClient>,
    specs: Vec<NodeSpec>,
    replication_factor: usize,
    tables: Mutex<HashMap<u32, Arc<PlacementTable>>>,
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
            nodes,
            specs,
            replication_factor: config.replication_factor,
            tables: Mutex::new(HashMap::new()),
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

    /// Copies of every document.
    pub fn replication_factor(&self) -> usize {
        self.replication_factor
    }

    /// The placement table for `shard_count` shards.
    pub fn table(&self, shard_count: u32) -> Result<Arc<PlacementTable>> {
        let mut tables = self
            .tables
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(table) = tables.get(&shard_count) {
            return Ok(table.clone());
        }
        let count = ShardCount::new(shard_count)
            .map_err(|e| MeiliError::invalid("bad_request", e.to_string()))?;
        let table = PlacementTable::new(&self.specs, count, self.replication_factor)
            .map_err(|e| MeiliError::invalid("bad_request", e.to_string()))?;
        let table = Arc::new(table);
        tables.insert(shard_count, table.clone());
        Ok(table)
    }

    /// The shard of a canonical document id.
    pub fn shard_of(&self, shard_count: u32, canonical_id: &str) -> Result<u32> {
        let count = ShardCount::new(shard_count)
            .map_err(|e| MeiliError::invalid("bad_request", e.to_string()))?;
        Ok(shard_of(document_id_hash(canonical_id), count))
    }

    /// For reads: each node with the shards it serves (first replica of every shard), in
    /// configuration order.
    pub fn read_plan(&self, shard_count: u32) -> Result<Vec<(usize, Vec<u32>)>> {
        let table = self.table(shard_count)?;
        let mut plan: BTreeMap<usize, Vec<u32>> = BTreeMap::new();
        for shard in 0..shard_count {
            if let Some(first) = table.replicas(shard).first() {
                plan.entry(*first).or_default().push(shard);
            }
        }
        Ok(plan.into_iter().collect())
    }
}
