//! The fleet as the server sees it: the nodes (each behind [`node::NodeApi`]), the placement
//! of every shard, which nodes recently failed, and the read plans built from those.
//!
//! - [`node`]: the node service trait, the HTTP implementation, per-call deadlines;
//! - [`plan`]: which node serves which shard for one read;
//! - [`fanout`]: one request per planned node, with failover inside the request.
//!
//! Placement tables are computed once per layout (indexes may differ in shard count and in
//! copies) and cached.

pub(crate) mod fanout;
pub(crate) mod load;
pub(crate) mod marks;
pub(crate) mod node;
pub(crate) mod placement;
pub(crate) mod plan;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use miroir_core::hash::{document_id_hash, shard_of, ShardCount};
use miroir_core::placement::{NodeSpec, PlacementTable};
use miroir_core::replica::StaleShards;
use miroir_core::reshape::writes_whole;
use miroir_store::IndexRecord;
use placement::{Members, Moving, Placement};

use crate::config::ServerConfig;
use crate::error::{Error, MeiliError, Result};
use node::{HttpNode, Node};

/// A node over HTTP, with the configuration's deadlines.
pub(crate) fn http_node(
    config: &ServerConfig,
    id: &str,
    url: &str,
    api_key: Option<String>,
) -> Result<Node> {
    let connect_timeout = config.node_timeout.min(Duration::from_secs(2));
    let http = HttpNode::http_client(connect_timeout)?;
    let api = HttpNode::new(id.to_string(), url, api_key, http);
    Ok(Node::new(
        id.to_string(),
        Arc::new(api),
        config.node_timeout,
    ))
}

/// How long a node that failed to answer is avoided by read plans.
pub(crate) const DOWN_FOR: Duration = Duration::from_secs(2);

/// How one index is spread over the nodes: its shard count, and whether it is whole (every
/// shard on every placed node) or sharded (each shard on as many nodes as the replication
/// factor).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Layout {
    /// Virtual shards.
    pub shards: u32,
    /// On every placed node.
    pub whole: bool,
}

/// What a read covers: the layout of its indexes, and the indexes whose stale replicas it must
/// avoid (a replica that missed writes serves nothing until it caught up).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Scope {
    /// The indexes' common layout.
    pub layout: Layout,
    /// The indexes read.
    pub indexes: Vec<String>,
}

impl From<Layout> for Scope {
    fn from(layout: Layout) -> Scope {
        Scope {
            layout,
            indexes: Vec::new(),
        }
    }
}

/// A node's health as the checks see it: one failed check makes it suspect (still used), a
/// second one down (avoided by reads, its deliveries wait); one success makes it healthy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Health {
    /// Answering.
    Healthy,
    /// Failed the last check.
    Suspect,
    /// Failed the last two checks.
    Down,
}

/// Per node: what the write path needs to deliver its journal in order.
pub(crate) struct Outbox {
    /// Held while a call is sent to the node and recorded, so that the node receives its
    /// calls one at a time, in journal order.
    pub sending: tokio::sync::Mutex<()>,
    /// Wakes the node's delivery loop when an entry is journaled for it.
    pub wake: Notify,
    /// A send failed without an answer (or Miroir just started): the node may hold calls the
    /// journal does not know it received, so its delivery loop reconciles before sending.
    pub unsure: AtomicBool,
    /// Entries after this sequence number are held back from the node (`u64::MAX`: none), so
    /// that its data stays as of that entry while a rebuild copies from it.
    pub hold_after: AtomicU64,
    /// With a shared store, the key this process's deliveries use on the node while it holds
    /// the lease (see `write::delivery`): `None` until set up under the current lease;
    /// `Some(None)` when the node's configured key cannot manage keys (deliveries then use
    /// it, unfenced on the node).
    pub lease_key: std::sync::Mutex<Option<Option<String>>>,
}

impl Outbox {
    /// The lease key set up on the node, if any (see [`Outbox::lease_key`]).
    pub fn lease_key(&self) -> Option<Option<String>> {
        self.lease_key
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Sets (or forgets, with `None`) the lease key set up on the node.
    pub fn set_lease_key(&self, key: Option<Option<String>>) {
        *self
            .lease_key
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = key;
    }
}

impl Default for Outbox {
    fn default() -> Outbox {
        Outbox {
            sending: tokio::sync::Mutex::new(()),
            wake: Notify::new(),
            unsure: AtomicBool::new(true),
            hold_after: AtomicU64::new(u64::MAX),
            lease_key: std::sync::Mutex::new(None),
        }
    }
}

/// Everything the server keeps about one node. Members are only ever appended (a node added
/// at run time gets the next position; a removed one keeps its slot), so a node's position is
/// stable for the life of the process and per-node loops and read plans can hold it.
struct Member {
    node: Node,
    /// Milliseconds since the cluster's clock until which the node is considered down.
    down_until: AtomicU64,
    /// Its [`Health`] (as `u8`).
    health: AtomicU8,
    /// Its delivery state.
    outbox: Outbox,
    /// It lost its data (see [`Cluster::set_lost`]).
    lost: AtomicBool,
    /// Removed from the fleet (see [`Cluster::retire`]).
    retired: AtomicBool,
    /// Read latency and requests in flight (see [`load`]).
    load: load::NodeLoad,
}

impl Member {
    fn new(node: Node) -> Member {
        Member {
            node,
            down_until: AtomicU64::new(0),
            health: AtomicU8::new(0),
            outbox: Outbox::default(),
            lost: AtomicBool::new(false),
            retired: AtomicBool::new(false),
            load: load::NodeLoad::default(),
        }
    }
}

/// Nodes, placement and recent failures.
pub(crate) struct Cluster {
    /// Every node, by position (`boxcar`: appended through `&self` while requests hold
    /// references to the others).
    members: boxcar::Vec<Member>,
    /// Serializes additions, so that a node id is never added twice.
    adding: Mutex<()>,
    /// Which nodes hold which shards (see [`placement`]).
    placement: Mutex<Placement>,
    /// The clock `down_until` counts from.
    epoch: Instant,
    /// Rotates tie-breaks between equally useful replicas.
    rotation: AtomicUsize,
    /// Stale replicas: `(index uid, node)`.
    stale: RwLock<HashMap<(String, usize), StaleShards>>,
    /// Held while replica marks change or are reloaded (see [`marks`]).
    marks_changing: Mutex<()>,
    /// The current read generation: every read holds a clone while it runs, so a rebalance
    /// that switched a shard's owners knows when no read planned before is left (see
    /// [`Cluster::next_read_generation`]).
    read_generation: Mutex<Arc<()>>,
    /// Whether some index is being reshaped (made whole or sharded again by the rebalancer).
    reshaping: AtomicBool,
}

impl Cluster {
    /// The cluster of a validated configuration, over HTTP. Placement covers the nodes at
    /// positions `placed` (those that hold shards); the others only receive whole-fleet
    /// writes.
    pub fn new(config: &ServerConfig, placed: Vec<usize>) -> Result<Cluster> {
        let nodes = config
            .nodes
            .iter()
            .map(|n| http_node(config, &n.id, &n.url, n.api_key.clone()))
            .collect::<Result<Vec<_>>>()?;
        let cluster = Cluster::with_nodes(config, nodes);
        cluster.set_placement(
            Members {
                placed,
                replication_factor: config.replication_factor,
            },
            None,
        );
        Ok(cluster)
    }

    /// The cluster of a validated configuration over the given nodes, in configuration order,
    /// every one of them placed (tests use in-process fakes).
    pub fn with_nodes(config: &ServerConfig, nodes: Vec<Node>) -> Cluster {
        let specs: Vec<NodeSpec> = config
            .nodes
            .iter()
            .map(|configured| NodeSpec {
                id: configured.id.clone(),
                weight: configured.weight,
                zone: configured.zone.clone(),
            })
            .collect();
        let members = Members {
            placed: (0..nodes.len()).collect(),
            replication_factor: config.replication_factor,
        };
        Cluster {
            members: nodes.into_iter().map(Member::new).collect(),
            adding: Mutex::new(()),
            placement: Mutex::new(Placement::new(specs, members)),
            epoch: Instant::now(),
            rotation: AtomicUsize::new(0),
            stale: RwLock::new(HashMap::new()),
            marks_changing: Mutex::new(()),
            read_generation: Mutex::new(Arc::new(())),
            reshaping: AtomicBool::new(false),
        }
    }

    /// A token of the current read generation, held by a read while it runs.
    pub fn read_guard(&self) -> Arc<()> {
        self.read_generation
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Starts a new read generation and returns the previous one's token: once it is the
    /// only holder left, every read planned before the call has finished.
    pub fn next_read_generation(&self) -> Arc<()> {
        std::mem::replace(
            &mut *self
                .read_generation
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
            Arc::new(()),
        )
    }

    /// Removes a node from the fleet for good: it receives nothing more and is never read
    /// from (its position stays, empty of meaning).
    pub fn retire(&self, node: usize) {
        if let Some(member) = self.members.get(node) {
            member.retired.store(true, Ordering::SeqCst);
        }
    }

    /// Whether a node was removed from the fleet.
    pub fn is_retired(&self, node: usize) -> bool {
        self.members
            .get(node)
            .is_some_and(|m| m.retired.load(Ordering::SeqCst))
    }

    /// The nodes in the fleet (not removed), by position.
    pub fn fleet_nodes(&self) -> impl Iterator<Item = &Node> + '_ {
        self.members
            .iter()
            .filter(|(_, member)| !member.retired.load(Ordering::SeqCst))
            .map(|(_, member)| &member.node)
    }

    /// A node to read what every node holds alike (experimental features, search rules, chat
    /// workspaces): the first node of the fleet that is up and not waiting to be set up (a
    /// joining or rebuilt node lacks that state until then), or the first of the fleet when none
    /// is known to be.
    pub fn live_fleet_node(&self) -> Result<&Node> {
        let fleet = self.fleet();
        fleet
            .iter()
            .find(|node| self.is_up(**node) && !self.is_lost(**node))
            .or(fleet.first())
            .map(|node| self.node(*node))
            .ok_or_else(|| Error::NodeUnavailable {
                node: "-".to_string(),
                reason: "the fleet has no node".to_string(),
            })
    }

    /// The positions of the nodes in the fleet (not removed).
    pub fn fleet(&self) -> Vec<usize> {
        (0..self.node_count())
            .filter(|node| !self.is_retired(*node))
            .collect()
    }

    /// Adds a node at the next position, holding no shard (placement is unchanged). Returns
    /// its position, or `None` when a node with its id is already there.
    pub fn add_node(&self, node: Node, spec: NodeSpec) -> Option<usize> {
        let _adding = self
            .adding
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if self.position(&node.id).is_some() {
            return None;
        }
        // Placement first: a position that exists always has its spec.
        self.placement().add_node(spec);
        Some(self.members.push(Member::new(node)))
    }

    /// How many nodes there are (every position below is valid).
    pub fn node_count(&self) -> usize {
        self.members.count()
    }

    /// Every node, by position.
    pub fn nodes(&self) -> impl Iterator<Item = &Node> + '_ {
        self.members.iter().map(|(_, member)| &member.node)
    }

    /// The node at position `index`.
    pub fn node(&self, index: usize) -> &Node {
        &self.members[index].node
    }

    /// The position of the node with id `id`.
    pub fn position(&self, id: &str) -> Option<usize> {
        self.members
            .iter()
            .find(|(_, member)| member.node.id == id)
            .map(|(position, _)| position)
    }

    /// A node's read load.
    pub fn load(&self, node: usize) -> &load::NodeLoad {
        &self.members[node].load
    }

    /// The shortest hedge ceiling over every node (see [`load::hedge_ceiling`]).
    pub fn hedge_ceiling(&self) -> Option<Duration> {
        load::hedge_ceiling(self.members.iter().map(|(_, member)| &member.load))
    }

    fn placement(&self) -> std::sync::MutexGuard<'_, Placement> {
        // Placement is replaced whole under this lock: a panic cannot leave it half-written.
        self.placement
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Copies of every document of a sharded index (before the running rebalance, if any).
    pub fn replication_factor(&self) -> usize {
        self.placement().from().replication_factor
    }

    /// Copies of each shard of an index with `layout` (before the running rebalance).
    pub fn copies(&self, layout: Layout) -> usize {
        self.placement().from().copies(layout)
    }

    /// The layout of an index: whole indexes (see [`IndexRecord::whole`]) are on every node.
    pub fn layout(&self, index: &IndexRecord) -> Layout {
        Layout {
            shards: index.shard_count,
            whole: index.whole,
        }
    }

    /// The placement table reads use for a layout.
    pub fn table(&self, layout: Layout) -> Result<Arc<PlacementTable>> {
        self.placement().reads(layout)
    }

    /// The node positions writes of `shard` reach (during a rebalance, also the shard's new
    /// owners while they catch up).
    pub fn write_replicas(&self, layout: Layout, shard: u32) -> Result<Vec<usize>> {
        self.placement().writes(layout, shard)
    }

    /// The layout writes of an index use: whole also while it is being made whole
    /// (`miroir_core::reshape::writes_whole`), so that the nodes it is copied to miss no write.
    pub fn write_layout(&self, index: &IndexRecord) -> Layout {
        Layout {
            shards: index.shard_count,
            whole: writes_whole(index.whole, index.reshape.as_ref()),
        }
    }

    /// Whether a node may hold copies of shards it does not serve: while a rebalance moves
    /// shards, or an index is reshaped (being copied to a node, or waiting to be deleted).
    pub fn may_hold_unserved_copies(&self) -> bool {
        self.reshaping.load(Ordering::SeqCst) || self.placement().is_moving()
    }

    /// Records whether some index is being reshaped (see [`Cluster::may_hold_unserved_copies`]).
    pub fn set_reshaping(&self, reshaping: bool) {
        self.reshaping.store(reshaping, Ordering::SeqCst);
    }

    /// Replaces placement: the placement `from` and the running rebalance, if any.
    pub fn set_placement(&self, from: Members, moving: Option<Moving>) {
        self.placement().set(from, moving);
    }

    /// The shard of a canonical document id.
    pub fn shard_of(&self, shard_count: u32, canonical_id: &str) -> Result<u32> {
        let count = ShardCount::new(shard_count)
            .map_err(|e| Error::from(MeiliError::invalid("bad_request", e.to_string())))?;
        Ok(shard_of(document_id_hash(canonical_id), count))
    }

    fn now_millis(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Records that a node failed to answer: plans avoid it for [`DOWN_FOR`].
    pub fn mark_down(&self, node: usize) {
        if let Some(until) = self.members.get(node).map(|m| &m.down_until) {
            until.store(
                self.now_millis() + DOWN_FOR.as_millis() as u64,
                Ordering::Relaxed,
            );
        }
    }

    /// Whether a node is currently considered reachable: not down by its health checks, not
    /// failed by a request in the last [`DOWN_FOR`], and not known to have lost its data.
    pub fn is_up(&self, node: usize) -> bool {
        self.health(node) != Health::Down
            && !self.is_lost(node)
            && !self.is_retired(node)
            && self
                .members
                .get(node)
                .map(|m| &m.down_until)
                .is_some_and(|until| until.load(Ordering::Relaxed) <= self.now_millis())
    }

    /// A node's health by its checks.
    pub fn health(&self, node: usize) -> Health {
        match self
            .members
            .get(node)
            .map(|m| m.health.load(Ordering::Relaxed))
        {
            Some(0) => Health::Healthy,
            Some(1) => Health::Suspect,
            _ => Health::Down,
        }
    }

    /// Records a health check's outcome; returns the new health.
    pub fn checked(&self, node: usize, answered: bool) -> Health {
        let next = if answered {
            if let Some(until) = self.members.get(node).map(|m| &m.down_until) {
                until.store(0, Ordering::Relaxed);
            }
            Health::Healthy
        } else {
            match self.health(node) {
                Health::Healthy => Health::Suspect,
                Health::Suspect | Health::Down => Health::Down,
            }
        };
        if let Some(health) = self.members.get(node).map(|m| &m.health) {
            health.store(next as u8, Ordering::Relaxed);
        }
        next
    }

    /// Marks a node as having lost its data (or not), in memory ([`marks`] persists it
    /// first): such a node is treated as down — it serves no read and receives no write —
    /// until its replicas are rebuilt.
    pub(crate) fn set_lost(&self, node: usize, lost: bool) {
        if let Some(flag) = self.members.get(node).map(|m| &m.lost) {
            flag.store(lost, Ordering::SeqCst);
        }
    }

    /// Whether a node lost its data.
    pub fn is_lost(&self, node: usize) -> bool {
        self.members
            .get(node)
            .is_some_and(|m| m.lost.load(Ordering::SeqCst))
    }

    /// Whether any replica of `index` on `node` is stale.
    pub fn is_stale(&self, index: &str, node: usize) -> bool {
        self.stale_where(index, node, |_| true)
    }

    /// Whether the replica of `shard` of `index` on `node` is stale.
    /// Asked for every replica of every shard a read plans, so it allocates nothing when no
    /// replica is stale (the usual case).
    pub fn is_stale_shard(&self, index: &str, shard: u32, node: usize) -> bool {
        self.stale_where(index, node, |stale| stale.contains(shard))
    }

    fn stale_where(&self, index: &str, node: usize, test: impl Fn(&StaleShards) -> bool) -> bool {
        let stale = self
            .stale
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        !stale.is_empty()
            && stale.iter().any(|((stale_index, stale_node), shards)| {
                *stale_node == node && stale_index == index && test(shards)
            })
    }

    /// Makes `shards` the stale replicas of `index` on `node`, in memory ([`marks`] persists
    /// them first).
    pub(crate) fn set_stale_shards(&self, index: &str, node: usize, shards: StaleShards) {
        self.stale
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert((index.to_string(), node), shards);
    }

    /// The lock replica marks change under (see [`marks`]).
    pub(crate) fn lock_marks(&self) -> std::sync::MutexGuard<'_, ()> {
        self.marks_changing
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The stale shards of `index` on `node`, if any.
    pub fn stale_shards(&self, index: &str, node: usize) -> Option<StaleShards> {
        self.stale
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(&(index.to_string(), node))
            .cloned()
    }

    /// Every replica of `index` on `node` is in sync again, in memory ([`marks`] persists it
    /// first).
    pub(crate) fn clear_stale(&self, index: &str, node: usize) {
        self.stale
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(&(index.to_string(), node));
    }

    /// Makes `marks` the stale replicas, in memory (see [`marks::reload`]).
    pub(crate) fn replace_stale(&self, marks: HashMap<(String, usize), StaleShards>) {
        *self
            .stale
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = marks;
    }

    /// Every stale `(index, node)` replica.
    pub fn stale_replicas(&self) -> Vec<(String, usize)> {
        let set = self
            .stale
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut all: Vec<(String, usize)> = set.keys().cloned().collect();
        all.sort();
        all
    }

    /// Nodes whose load score is more than [`load::SLOW_FACTOR`] times the best measured
    /// node's (at least 1 ms): reads avoid them while other replicas can serve.
    pub fn slow_nodes(&self) -> Vec<usize> {
        let measured: Vec<(usize, u64)> = self
            .members
            .iter()
            .map(|(node, member)| (node, &member.load))
            .filter(|(_, load)| load.measured())
            .map(|(node, load)| (node, load.score()))
            .collect();
        let Some(best) = measured.iter().map(|(_, score)| *score).min() else {
            return Vec::new();
        };
        let bar = best.max(1_000) * load::SLOW_FACTOR;
        measured
            .into_iter()
            .filter(|(_, score)| *score > bar)
            .map(|(node, _)| node)
            .collect()
    }

    /// A node's outbox.
    pub fn outbox(&self, node: usize) -> &Outbox {
        &self.members[node].outbox
    }

    /// The scope of a read of one index.
    pub fn scope(&self, index: &IndexRecord) -> Scope {
        Scope {
            layout: self.layout(index),
            indexes: vec![index.uid.clone()],
        }
    }

    /// The next tie-break offset for read plans.
    fn next_rotation(&self) -> usize {
        self.rotation.fetch_add(1, Ordering::Relaxed)
    }
}

#[cfg(test)]
pub(crate) mod fakes;
