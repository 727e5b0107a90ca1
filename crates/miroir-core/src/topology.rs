//! The topology: which nodes make up the fleet, in which state, under which replication factor,
//! versioned by an epoch.
//!
//! On the very first start the configured nodes seed it, all *active*. Afterwards the stored
//! topology is the truth and only the admin API changes it; the configuration still supplies
//! how to reach a node it names (URL and key), since addresses change when nodes are
//! redeployed. [`reconcile`] decides what a start does with a configuration that differs from
//! the stored topology: a configured node the topology does not know joins (state *joining*: it
//! receives index creations and settings, and holds no shard until a rebalance moves shards to
//! it), and a stored node the configuration does not name is kept, with a notice.
//!
//! Placement covers the nodes that hold shards ([`Topology::placement_nodes`]: active and
//! draining); the others are reached for whole-fleet writes but never read from.

use serde::{Deserialize, Serialize};

use crate::placement::NodeSpec;

/// A node's place in the fleet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum NodeState {
    /// Added; holds no shard until a rebalance moves shards to it.
    Joining,
    /// Holds the shards placement gives it.
    Active,
    /// Its shards are moving away; it serves them until they have.
    Draining,
    /// Known to be dead and kept out of placement until removed or back.
    Down,
    /// Removed from the fleet; kept only as history.
    Removed,
}

impl NodeState {
    /// The name the admin API shows.
    pub fn name(self) -> &'static str {
        match self {
            NodeState::Joining => "joining",
            NodeState::Active => "active",
            NodeState::Draining => "draining",
            NodeState::Down => "down",
            NodeState::Removed => "removed",
        }
    }

    /// Whether placement gives the node shards.
    pub fn holds_shards(self) -> bool {
        matches!(self, NodeState::Active | NodeState::Draining)
    }
}

/// One node of the topology.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopologyNode {
    /// Stable identifier; placement hashes it.
    pub id: String,
    /// Base URL.
    pub url: String,
    /// The key Miroir uses toward the node (never shown).
    pub api_key: Option<String>,
    /// Failure domain.
    pub zone: Option<String>,
    /// Relative capacity.
    pub weight: f64,
    /// Its place in the fleet.
    pub state: NodeState,
}

impl TopologyNode {
    /// The node as placement sees it.
    pub fn spec(&self) -> NodeSpec {
        NodeSpec {
            id: self.id.clone(),
            weight: self.weight,
            zone: self.zone.clone(),
        }
    }
}

/// The fleet and its replication factor, at one epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Topology {
    /// Bumped on every change.
    pub epoch: u64,
    /// Copies of every document of a sharded index.
    pub replication_factor: usize,
    /// Every node ever added, in the order it was added.
    pub nodes: Vec<TopologyNode>,
}

impl Topology {
    /// The nodes placement gives shards, in the order they were added.
    pub fn placement_nodes(&self) -> impl Iterator<Item = &TopologyNode> {
        self.nodes.iter().filter(|node| node.state.holds_shards())
    }

    /// The nodes Miroir talks to: every node not removed, in the order they were added.
    pub fn reachable_nodes(&self) -> Vec<&TopologyNode> {
        self.nodes
            .iter()
            .filter(|node| node.state != NodeState::Removed)
            .collect()
    }
}

/// What a start noticed while reconciling the configuration with the stored topology.
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    /// A configured node the topology did not know joins.
    Joined(String),
    /// A stored node the configuration does not name is kept.
    NotConfigured(String),
    /// The configured replication factor differs from the stored one, which stays.
    ReplicationFactorKept {
        /// The stored replication factor (kept).
        stored: usize,
        /// The configured one (ignored).
        configured: usize,
    },
    /// A configured node's zone or weight differs from the stored one, which stays (changing
    /// them moves shards: that is the admin API's to do).
    PlacementKept(String),
}

/// The topology a start runs with (see the module docs): the stored one updated from the
/// configuration, or, on the very first start, the configuration itself (epoch 1). The epoch
/// is bumped when nodes join.
pub fn reconcile(
    stored: Option<Topology>,
    configured: &[TopologyNode],
    replication_factor: usize,
) -> (Topology, Vec<Notice>) {
    let Some(mut topology) = stored else {
        let nodes = configured
            .iter()
            .map(|node| TopologyNode {
                state: NodeState::Active,
                ..node.clone()
            })
            .collect();
        let seeded = Topology {
            epoch: 1,
            replication_factor,
            nodes,
        };
        return (seeded, Vec::new());
    };
    let mut notices = Vec::new();
    if topology.replication_factor != replication_factor {
        notices.push(Notice::ReplicationFactorKept {
            stored: topology.replication_factor,
            configured: replication_factor,
        });
    }
    let mut joined = false;
    for node in configured {
        match topology.nodes.iter_mut().find(|known| known.id == node.id) {
            Some(known) => {
                known.url.clone_from(&node.url);
                known.api_key.clone_from(&node.api_key);
                if known.zone != node.zone || known.weight != node.weight {
                    notices.push(Notice::PlacementKept(node.id.clone()));
                }
            }
            None => {
                topology.nodes.push(TopologyNode {
                    state: NodeState::Joining,
                    ..node.clone()
                });
                notices.push(Notice::Joined(node.id.clone()));
                joined = true;
            }
        }
    }
    for node in &topology.nodes {
        let named = configured.iter().any(|c| c.id == node.id);
        if !named && node.state != NodeState::Removed {
            notices.push(Notice::NotConfigured(node.id.clone()));
        }
    }
    if joined {
        topology.epoch += 1;
    }
    (topology, notices)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, url: &str) -> TopologyNode {
        TopologyNode {
            id: id.to_string(),
            url: url.to_string(),
            api_key: Some(format!("key-{id}")),
            zone: None,
            weight: 1.0,
            state: NodeState::Active,
        }
    }

    #[test]
    fn the_first_start_seeds_the_configuration() {
        let (topology, notices) = reconcile(None, &[node("a", "u1"), node("b", "u2")], 2);
        assert_eq!(topology.epoch, 1);
        assert_eq!(topology.replication_factor, 2);
        assert!(topology.nodes.iter().all(|n| n.state == NodeState::Active));
        assert!(notices.is_empty());
    }

    #[test]
    fn afterwards_the_store_is_the_truth() {
        let (stored, _) = reconcile(None, &[node("a", "u1"), node("b", "u2")], 2);
        let mut moved = node("a", "u9");
        moved.weight = 2.0;
        let (topology, notices) = reconcile(Some(stored), &[moved, node("c", "u3")], 3);
        assert_eq!(topology.epoch, 2, "a node joined");
        assert_eq!(topology.replication_factor, 2);
        let a = &topology.nodes[0];
        assert_eq!(
            (a.url.as_str(), a.weight),
            ("u9", 1.0),
            "address followed, weight kept"
        );
        assert_eq!(topology.nodes[2].state, NodeState::Joining);
        assert_eq!(
            notices,
            vec![
                Notice::ReplicationFactorKept {
                    stored: 2,
                    configured: 3
                },
                Notice::PlacementKept("a".into()),
                Notice::Joined("c".into()),
                Notice::NotConfigured("b".into()),
            ]
        );
        let reachable: Vec<&str> = topology
            .reachable_nodes()
            .iter()
            .map(|n| n.id.as_str())
            .collect();
        assert_eq!(reachable, ["a", "b", "c"]);
        let placed: Vec<&str> = topology.placement_nodes().map(|n| n.id.as_str()).collect();
        assert_eq!(placed, ["a", "b"]);
        let (same, notices) = reconcile(Some(topology.clone()), &[node("a", "u9")], 2);
        assert_eq!(same.epoch, topology.epoch, "nothing joined: same epoch");
        assert_eq!(notices.len(), 2, "{notices:?}");
    }

    #[test]
    fn removed_nodes_are_not_reached() {
        let mut joining = node("j", "u0");
        joining.state = NodeState::Joining;
        let mut removed = node("r", "u4");
        removed.state = NodeState::Removed;
        let mut draining = node("d", "u5");
        draining.state = NodeState::Draining;
        let topology = Topology {
            epoch: 3,
            replication_factor: 1,
            nodes: vec![joining, node("a", "u1"), removed, draining],
        };
        let ids: Vec<&str> = topology
            .reachable_nodes()
            .iter()
            .map(|n| n.id.as_str())
            .collect();
        assert_eq!(ids, ["j", "a", "d"]);
    }
}
