//! The server's configuration, already merged from flags, environment and file by the binary,
//! and its validation: every rejection names the setting at fault in one line.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

/// One Meilisearch node of the fleet.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeConfig {
    /// Stable identifier; placement hashes it, so renaming a node moves its shards.
    pub id: String,
    /// Base URL, `http://host:port`.
    pub url: String,
    /// The node's API key (its master key or an admin key), used only toward the node.
    pub api_key: Option<String>,
    /// Failure domain; replicas of a shard go to distinct zones first.
    pub zone: Option<String>,
    /// Relative capacity; a node of weight 2 holds about twice the shards of weight 1.
    pub weight: f64,
}

/// Everything `miroir serve` needs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Key clients must present (`Authorization: Bearer …`); `None` leaves Miroir open.
    pub master_key: Option<String>,
    /// Miroir's own state directory (task registry, index metadata).
    pub db_path: PathBuf,
    /// Copies of every document.
    pub replication_factor: usize,
    /// Default virtual shard count of new indexes.
    pub shards: u32,
    /// The fleet.
    pub nodes: Vec<NodeConfig>,
    /// Largest accepted request body, in bytes (Meilisearch's default: 100 MB).
    pub http_payload_size_limit: usize,
    /// Index uid patterns (`authors`, `ref_*`) of indexes created whole: every node holds every
    /// document, as reference tables that foreign keys join.
    pub whole_indexes: Vec<String>,
    /// The longest Miroir waits for one node request (connect, send, answer) before it counts
    /// the node as unavailable and fails over; connecting alone gets at most 2 s of it.
    pub node_timeout: Duration,
    /// How long a task waits for a replica whose node is down before that replica is marked
    /// stale (out of the in-sync set until it caught up) and the task goes on without it.
    pub replica_timeout: Duration,
    /// How many replicas of a write must have applied it for its task to succeed (1 to RF).
    pub min_in_sync: usize,
    /// How often every node's `/health` is checked.
    pub health_interval: Duration,
    /// How many shard moves a rebalance runs at a time (each holds its source and targets at
    /// a journal head while it copies).
    pub rebalance_concurrency: usize,
    /// The most documents per second a rebalance copies, over all its moves (`None`: as fast
    /// as the nodes go).
    pub rebalance_max_documents_per_second: Option<u64>,
    /// How long the journal keeps a node's undelivered writes: past it, the node's backlog is
    /// dropped and its replicas are rebuilt from their peers when it is back.
    pub journal_retention: Duration,
    /// How many bytes of document payloads the journal may hold: past it, the backlogs of the
    /// nodes that are down are dropped (and their replicas rebuilt when they are back).
    pub journal_retention_bytes: u64,
    /// Where the shared state lives: `None` for the embedded SQLite store under `db_path`
    /// (one Miroir process), or a `redis://host:port/db` URL shared by several processes.
    pub task_store: Option<String>,
    /// How long the lease on the work that runs once (task polling, journal delivery, the
    /// rebalancer, webhooks) lasts without renewal: a dead holder is replaced within it.
    pub lease_ttl: Duration,
}

/// Default [`ServerConfig::journal_retention`]: one day.
pub const DEFAULT_JOURNAL_RETENTION: Duration = Duration::from_secs(24 * 3600);
/// Default [`ServerConfig::journal_retention_bytes`]: 10 GiB.
pub const DEFAULT_JOURNAL_RETENTION_BYTES: u64 = 10 * 1024 * 1024 * 1024;

/// Default [`ServerConfig::lease_ttl`].
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(10);

/// The shortest [`ServerConfig::lease_ttl`]: the lease is renewed three times per TTL, and a
/// renewal must fit in a third of it even on a busy machine.
pub const MIN_LEASE_TTL: Duration = Duration::from_millis(300);

/// Default [`ServerConfig::replica_timeout`].
pub const DEFAULT_REPLICA_TIMEOUT: Duration = Duration::from_secs(10);
/// Default [`ServerConfig::health_interval`].
pub const DEFAULT_HEALTH_INTERVAL: Duration = Duration::from_secs(1);

/// Default [`ServerConfig::node_timeout`]: long enough for a 100 MB document batch to reach a
/// node's disk, short enough that a stalled node does not hold a request for long.
pub const DEFAULT_NODE_TIMEOUT: Duration = Duration::from_secs(10);

/// Meilisearch's default `http_payload_size_limit`: 100 MB (decimal).
pub const DEFAULT_PAYLOAD_LIMIT: usize = 100_000_000;

/// A configuration mistake, naming the setting.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// No node at all.
    #[error("nodes: at least one node is required")]
    NoNodes,
    /// RF out of range.
    #[error("replication_factor: {rf} is invalid with {nodes} node(s); it must be between 1 and the number of nodes")]
    ReplicationFactor {
        /// The configured RF.
        rf: usize,
        /// How many nodes there are.
        nodes: usize,
    },
    /// Shard count not a power of two in range.
    #[error("shards: {0} is invalid; it must be a power of two between 1 and 65536")]
    Shards(u32),
    /// Two nodes share an id.
    #[error("nodes: duplicate node id `{0}`")]
    DuplicateNodeId(String),
    /// A node id is empty.
    #[error("nodes: a node has an empty id")]
    EmptyNodeId,
    /// A node URL does not parse or is not http(s).
    #[error("nodes.url: `{url}` of node `{id}` is not a valid http(s) URL")]
    NodeUrl {
        /// The node.
        id: String,
        /// The bad URL.
        url: String,
    },
    /// A node weight is not a positive finite number.
    #[error("nodes.weight: node `{id}` has weight {weight}; it must be a positive number")]
    NodeWeight {
        /// The node.
        id: String,
        /// The bad weight.
        weight: f64,
    },
    /// The master key is set but empty.
    #[error("master_key: must not be empty when set")]
    EmptyMasterKey,
    /// The node timeout is zero.
    #[error("node_timeout_ms: must be at least 1")]
    NodeTimeout,
    /// `min_in_sync` out of range.
    #[error(
        "min_in_sync: {min} is invalid; it must be between 1 and the replication factor ({rf})"
    )]
    MinInSync {
        /// The configured value.
        min: usize,
        /// The replication factor.
        rf: usize,
    },
    /// A zero interval.
    #[error("{0}: must be at least 1 ms")]
    ZeroInterval(&'static str),
    /// A lease too short to be renewed reliably.
    #[error("lease_ttl_ms: {} ms is below the minimum of {} ms", .0.as_millis(), MIN_LEASE_TTL.as_millis())]
    LeaseTtl(Duration),
}

impl ServerConfig {
    /// Whether a new index named `uid` is created whole (see [`ServerConfig::whole_indexes`]).
    pub fn is_whole(&self, uid: &str) -> bool {
        self.whole_indexes
            .iter()
            .any(|pattern| match pattern.strip_suffix('*') {
                Some(prefix) => uid.starts_with(prefix),
                None => uid == pattern,
            })
    }

    /// Checks the configuration as a whole.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.master_key.as_deref() == Some("") {
            return Err(ConfigError::EmptyMasterKey);
        }
        if self.nodes.is_empty() {
            return Err(ConfigError::NoNodes);
        }
        if self.node_timeout.is_zero() {
            return Err(ConfigError::NodeTimeout);
        }
        if self.replica_timeout.is_zero() {
            return Err(ConfigError::ZeroInterval("replica_timeout_ms"));
        }
        if self.health_interval.is_zero() {
            return Err(ConfigError::ZeroInterval("health_interval_ms"));
        }
        if self.lease_ttl < MIN_LEASE_TTL {
            return Err(ConfigError::LeaseTtl(self.lease_ttl));
        }
        if self.replication_factor == 0 || self.replication_factor > self.nodes.len() {
            return Err(ConfigError::ReplicationFactor {
                rf: self.replication_factor,
                nodes: self.nodes.len(),
            });
        }
        if self.min_in_sync == 0 || self.min_in_sync > self.replication_factor {
            return Err(ConfigError::MinInSync {
                min: self.min_in_sync,
                rf: self.replication_factor,
            });
        }
        if !self.shards.is_power_of_two() || self.shards > 65536 {
            return Err(ConfigError::Shards(self.shards));
        }
        let mut seen = HashSet::new();
        for node in &self.nodes {
            if node.id.is_empty() {
                return Err(ConfigError::EmptyNodeId);
            }
            if !seen.insert(node.id.as_str()) {
                return Err(ConfigError::DuplicateNodeId(node.id.clone()));
            }
            let valid_url = url::Url::parse(&node.url)
                .map(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
                .unwrap_or(false);
            if !valid_url {
                return Err(ConfigError::NodeUrl {
                    id: node.id.clone(),
                    url: node.url.clone(),
                });
            }
            if !(node.weight.is_finite() && node.weight > 0.0) {
                return Err(ConfigError::NodeWeight {
                    id: node.id.clone(),
                    weight: node.weight,
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, url: &str) -> NodeConfig {
        NodeConfig {
            id: id.into(),
            url: url.into(),
            api_key: None,
            zone: None,
            weight: 1.0,
        }
    }

    fn config(nodes: Vec<NodeConfig>, rf: usize, shards: u32) -> ServerConfig {
        ServerConfig {
            master_key: None,
            db_path: PathBuf::from("x"),
            replication_factor: rf,
            whole_indexes: Vec::new(),
            shards,
            nodes,
            http_payload_size_limit: DEFAULT_PAYLOAD_LIMIT,
            node_timeout: DEFAULT_NODE_TIMEOUT,
            replica_timeout: DEFAULT_REPLICA_TIMEOUT,
            min_in_sync: 1,
            rebalance_concurrency: 2,
            rebalance_max_documents_per_second: None,
            health_interval: DEFAULT_HEALTH_INTERVAL,
            journal_retention: DEFAULT_JOURNAL_RETENTION,
            journal_retention_bytes: DEFAULT_JOURNAL_RETENTION_BYTES,
            task_store: None,
            lease_ttl: DEFAULT_LEASE_TTL,
        }
    }

    #[test]
    fn rejections_name_the_setting() {
        let two = vec![
            node("a", "http://127.0.0.1:1"),
            node("b", "http://127.0.0.1:2"),
        ];
        assert!(config(two.clone(), 2, 64).validate().is_ok());
        let e = config(two.clone(), 3, 64).validate().unwrap_err();
        assert!(e.to_string().starts_with("replication_factor:"), "{e}");
        let e = config(two.clone(), 1, 48).validate().unwrap_err();
        assert!(e.to_string().starts_with("shards:"), "{e}");
        let dup = vec![
            node("a", "http://127.0.0.1:1"),
            node("a", "http://127.0.0.1:2"),
        ];
        assert_eq!(
            config(dup, 1, 64).validate(),
            Err(ConfigError::DuplicateNodeId("a".into()))
        );
        let bad = vec![node("a", "127.0.0.1:1")];
        let e = config(bad, 1, 64).validate().unwrap_err();
        assert!(e.to_string().starts_with("nodes.url:"), "{e}");
        assert_eq!(config(vec![], 1, 64).validate(), Err(ConfigError::NoNodes));
    }
}
