//! `miroir serve` settings: flags, `MIROIR_*` environment variables and a TOML file, merged.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use serde::Deserialize;

use miroir_server::{
    NodeConfig, ServerConfig, DEFAULT_HEALTH_INTERVAL, DEFAULT_JOURNAL_RETENTION,
    DEFAULT_JOURNAL_RETENTION_BYTES, DEFAULT_LEASE_TTL, DEFAULT_NODE_TIMEOUT,
    DEFAULT_PAYLOAD_LIMIT, DEFAULT_REPLICA_TIMEOUT,
};

/// Flags of `miroir serve` (each also readable from its environment variable).
#[derive(Args, Debug, Default)]
pub struct ServeArgs {
    /// TOML file with any of the settings below, plus `[[nodes]]` tables.
    #[arg(long, env = "MIROIR_CONFIG_FILE_PATH")]
    pub config_file_path: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, env = "MIROIR_HTTP_ADDR")]
    pub http_addr: Option<String>,
    /// Key clients must present.
    #[arg(long, env = "MIROIR_MASTER_KEY")]
    pub master_key: Option<String>,
    /// Miroir's state directory.
    #[arg(long, env = "MIROIR_DB_PATH")]
    pub db_path: Option<PathBuf>,
    /// Copies of every document.
    #[arg(long, env = "MIROIR_REPLICATION_FACTOR")]
    pub replication_factor: Option<usize>,
    /// Default shard count of new indexes (a power of two).
    #[arg(long, env = "MIROIR_SHARDS")]
    pub shards: Option<u32>,
    /// Largest accepted request body, in bytes.
    #[arg(long, env = "MIROIR_HTTP_PAYLOAD_SIZE_LIMIT")]
    pub http_payload_size_limit: Option<usize>,
    /// A node as `ID=URL`; repeat the flag, or comma-separate in the environment variable.
    #[arg(long = "node", env = "MIROIR_NODES", value_delimiter = ',')]
    pub nodes: Vec<String>,
    /// Index uid patterns (`authors`, `ref_*`) created whole: every node holds all of them.
    #[arg(long, env = "MIROIR_WHOLE_INDEXES", value_delimiter = ',')]
    pub whole_indexes: Vec<String>,
    /// API key Miroir uses toward the nodes given with `--node`.
    #[arg(long, env = "MIROIR_NODES_API_KEY")]
    pub nodes_api_key: Option<String>,
    /// Longest wait for one node request, in milliseconds, before failing over.
    #[arg(long, env = "MIROIR_NODE_TIMEOUT_MS")]
    pub node_timeout_ms: Option<u64>,
    /// How long a write waits for a replica whose node is down before that replica is marked
    /// stale, in milliseconds.
    #[arg(long, env = "MIROIR_REPLICA_TIMEOUT_MS")]
    pub replica_timeout_ms: Option<u64>,
    /// Replicas that must have applied a write for its task to succeed (1 to RF).
    #[arg(long, env = "MIROIR_MIN_IN_SYNC")]
    pub min_in_sync: Option<usize>,
    /// How many shard moves a rebalance runs at a time.
    #[arg(long, env = "MIROIR_REBALANCE_CONCURRENCY")]
    pub rebalance_concurrency: Option<usize>,
    /// The most documents per second a rebalance copies (default: no limit).
    #[arg(long, env = "MIROIR_REBALANCE_MAX_DOCUMENTS_PER_SECOND")]
    pub rebalance_max_documents_per_second: Option<u64>,
    /// How often each node's health is checked, in milliseconds.
    #[arg(long, env = "MIROIR_HEALTH_INTERVAL_MS")]
    pub health_interval_ms: Option<u64>,
    /// How long the journal keeps a node's undelivered writes, in milliseconds (past it, the
    /// node is rebuilt from its peers when it is back).
    #[arg(long, env = "MIROIR_JOURNAL_RETENTION_MS")]
    pub journal_retention_ms: Option<u64>,
    /// How many bytes of document payloads the journal may hold while nodes are down.
    #[arg(long, env = "MIROIR_JOURNAL_RETENTION_BYTES")]
    pub journal_retention_bytes: Option<u64>,
    /// Where the shared state lives: `redis://host:port/db` for several Miroir processes
    /// over one Redis (default: the embedded SQLite store under `db_path`).
    #[arg(long, env = "MIROIR_TASK_STORE")]
    pub task_store: Option<String>,
    /// How long the lease on the work that runs once lasts without renewal, in milliseconds
    /// (a dead holder is replaced within it).
    #[arg(long, env = "MIROIR_LEASE_TTL_MS")]
    pub lease_ttl_ms: Option<u64>,
    /// How log lines are written to standard error: `human` (the default) or `json` (one
    /// JSON object per line, with the request's span and its `request_uid`).
    #[arg(long, env = "MIROIR_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// An OpenTelemetry collector's OTLP/HTTP traces URL (`http://127.0.0.1:4318/v1/traces`)
    /// each request's spans are exported to; needs a binary built with `--features otlp`.
    #[arg(long, env = "MIROIR_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,
}

/// How `miroir serve` writes its log lines.
#[derive(clap::ValueEnum, Deserialize, Debug, Clone, Copy, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Plain text, one event per line.
    #[default]
    Human,
    /// One JSON object per line (for log collectors).
    Json,
}

/// What `miroir serve` runs with: the listen address, the server's configuration and the
/// log format.
#[derive(Debug)]
pub struct Serve {
    /// The address to listen on.
    pub addr: String,
    /// The server's configuration.
    pub config: ServerConfig,
    /// How log lines are written.
    pub log_format: LogFormat,
    /// Where spans are exported, if anywhere.
    pub otlp_endpoint: Option<String>,
}

/// The TOML file's shape.
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    http_addr: Option<String>,
    master_key: Option<String>,
    db_path: Option<PathBuf>,
    replication_factor: Option<usize>,
    shards: Option<u32>,
    http_payload_size_limit: Option<usize>,
    node_timeout_ms: Option<u64>,
    replica_timeout_ms: Option<u64>,
    min_in_sync: Option<usize>,
    rebalance_concurrency: Option<usize>,
    rebalance_max_documents_per_second: Option<u64>,
    health_interval_ms: Option<u64>,
    journal_retention_ms: Option<u64>,
    journal_retention_bytes: Option<u64>,
    log_format: Option<LogFormat>,
    otlp_endpoint: Option<String>,
    task_store: Option<String>,
    lease_ttl_ms: Option<u64>,
    #[serde(default)]
    whole_indexes: Vec<String>,
    #[serde(default)]
    nodes: Vec<FileNode>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct FileNode {
    id: String,
    url: String,
    api_key: Option<String>,
    zone: Option<String>,
    weight: Option<f64>,
}

/// Default listen address, as Meilisearch's.
pub const DEFAULT_HTTP_ADDR: &str = "127.0.0.1:7700";

/// Merges flags, environment and file into the listen address, the server configuration and
/// the log format. Errors are one line naming the setting.
pub fn resolve(args: ServeArgs) -> Result<Serve, String> {
    let file = match &args.config_file_path {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("config_file_path: cannot read {}: {e}", path.display()))?;
            toml::from_str::<FileSettings>(&text).map_err(|e| {
                format!(
                    "config_file_path: {}: {}",
                    path.display(),
                    e.message().replace('\n', " ")
                )
            })?
        }
        None => FileSettings::default(),
    };
    let mut nodes: Vec<NodeConfig> = file
        .nodes
        .into_iter()
        .map(|n| NodeConfig {
            id: n.id,
            url: n.url,
            api_key: n.api_key,
            zone: n.zone,
            weight: n.weight.unwrap_or(1.0),
        })
        .collect();
    if !args.nodes.is_empty() {
        nodes = args
            .nodes
            .iter()
            .map(|spec| {
                let (id, url) = spec
                    .split_once('=')
                    .ok_or_else(|| format!("nodes: `{spec}` is not of the form ID=URL"))?;
                Ok(NodeConfig {
                    id: id.trim().to_string(),
                    url: url.trim().to_string(),
                    api_key: args.nodes_api_key.clone(),
                    zone: None,
                    weight: 1.0,
                })
            })
            .collect::<Result<_, String>>()?;
    }
    let config = ServerConfig {
        master_key: args.master_key.or(file.master_key),
        db_path: args
            .db_path
            .or(file.db_path)
            .unwrap_or_else(|| PathBuf::from("miroir-data")),
        replication_factor: args
            .replication_factor
            .or(file.replication_factor)
            .unwrap_or(1),
        shards: args.shards.or(file.shards).unwrap_or(64),
        nodes,
        http_payload_size_limit: args
            .http_payload_size_limit
            .or(file.http_payload_size_limit)
            .unwrap_or(DEFAULT_PAYLOAD_LIMIT),
        node_timeout: args
            .node_timeout_ms
            .or(file.node_timeout_ms)
            .map_or(DEFAULT_NODE_TIMEOUT, Duration::from_millis),
        replica_timeout: args
            .replica_timeout_ms
            .or(file.replica_timeout_ms)
            .map_or(DEFAULT_REPLICA_TIMEOUT, Duration::from_millis),
        min_in_sync: args.min_in_sync.or(file.min_in_sync).unwrap_or(1),
        rebalance_concurrency: args
            .rebalance_concurrency
            .or(file.rebalance_concurrency)
            .unwrap_or(2)
            .max(1),
        rebalance_max_documents_per_second: args
            .rebalance_max_documents_per_second
            .or(file.rebalance_max_documents_per_second)
            .filter(|limit| *limit > 0),
        health_interval: args
            .health_interval_ms
            .or(file.health_interval_ms)
            .map_or(DEFAULT_HEALTH_INTERVAL, Duration::from_millis),
        journal_retention: args
            .journal_retention_ms
            .or(file.journal_retention_ms)
            .map_or(DEFAULT_JOURNAL_RETENTION, Duration::from_millis),
        journal_retention_bytes: args
            .journal_retention_bytes
            .or(file.journal_retention_bytes)
            .unwrap_or(DEFAULT_JOURNAL_RETENTION_BYTES),
        task_store: args.task_store.or(file.task_store),
        lease_ttl: args
            .lease_ttl_ms
            .or(file.lease_ttl_ms)
            .map_or(DEFAULT_LEASE_TTL, Duration::from_millis),
        whole_indexes: if args.whole_indexes.is_empty() {
            file.whole_indexes
        } else {
            args.whole_indexes
        },
    };
    config.validate().map_err(|e| e.to_string())?;
    let addr = args
        .http_addr
        .or(file.http_addr)
        .unwrap_or_else(|| DEFAULT_HTTP_ADDR.to_string());
    let log_format = args.log_format.or(file.log_format).unwrap_or_default();
    Ok(Serve {
        addr,
        config,
        log_format,
        otlp_endpoint: args.otlp_endpoint.or(file.otlp_endpoint),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_with(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("miroir.toml");
        std::fs::write(&path, text).expect("write config");
        (dir, path)
    }

    #[test]
    fn file_then_flags() {
        let (_dir, path) = file_with(
            r#"
            master_key = "k"
            log_format = "json"
            replication_factor = 2
            shards = 16
            [[nodes]]
            id = "a"
            url = "http://127.0.0.1:7701"
            zone = "z1"
            [[nodes]]
            id = "b"
            url = "http://127.0.0.1:7702"
            weight = 2.0
            "#,
        );
        let args = ServeArgs {
            config_file_path: Some(path),
            shards: Some(32),
            ..ServeArgs::default()
        };
        let Serve {
            addr,
            config,
            log_format,
            ..
        } = resolve(args).expect("valid");
        assert_eq!(addr, DEFAULT_HTTP_ADDR);
        assert_eq!(log_format, LogFormat::Json);
        assert_eq!(config.shards, 32, "the flag wins over the file");
        assert_eq!(config.replication_factor, 2);
        assert_eq!(config.nodes[1].weight, 2.0);
        assert_eq!(config.nodes[0].zone.as_deref(), Some("z1"));
    }

    #[test]
    fn errors_name_the_setting() {
        let (_dir, path) = file_with(
            "replication_factor = 3\n[[nodes]]\nid = \"a\"\nurl = \"http://127.0.0.1:1\"\n",
        );
        let args = ServeArgs {
            config_file_path: Some(path),
            ..ServeArgs::default()
        };
        let error = resolve(args).unwrap_err();
        assert!(error.starts_with("replication_factor:"), "{error}");

        let args = ServeArgs {
            nodes: vec!["a=http://127.0.0.1:1".into(), "a=http://127.0.0.1:2".into()],
            ..ServeArgs::default()
        };
        assert_eq!(resolve(args).unwrap_err(), "nodes: duplicate node id `a`");

        let (_dir, path) = file_with("bogus = 1\n");
        let args = ServeArgs {
            config_file_path: Some(path),
            ..ServeArgs::default()
        };
        assert!(resolve(args).unwrap_err().contains("bogus"));
    }
}
