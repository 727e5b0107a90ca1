//! The servers a benchmark measures: given by URL, or started by `--spawn` (N nodes, one
//! reference node and Miroir as a child process, so that its memory is its own). Everything
//! started here listens on 127.0.0.1 and stops when the fleet is dropped.

use std::path::{Path, PathBuf};

use anyhow::Context;
use tokio::process::{Child, Command};

use crate::local::{free_port, start_meilisearch, wait_healthy};

/// The key Miroir uses toward spawned nodes.
const NODE_KEY: &str = "miroir-bench-node-key";

/// One server and the key to reach it.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// Base URL.
    pub url: String,
    /// Bearer key, if any.
    pub key: Option<String>,
}

/// Miroir, its nodes and the reference, and whatever keeps them running.
pub struct Fleet {
    /// Miroir.
    pub miroir: Endpoint,
    /// The reference Meilisearch.
    pub reference: Endpoint,
    /// Miroir's nodes (known only when spawned).
    pub nodes: Vec<Endpoint>,
    /// Nodes started but not given to Miroir, to add later (`--add-node`).
    pub spares: Vec<Endpoint>,
    /// Miroir's process id (known only when spawned), for its memory.
    pub miroir_pid: Option<u32>,
    /// `meilisearch` or `test node`.
    pub backend: String,
    _children: Vec<Child>,
    _test_nodes: Vec<miroir_testnode::TestNode>,
    _dir: Option<tempfile::TempDir>,
}

/// How to spawn a fleet.
pub struct SpawnSpec<'a> {
    /// Nodes behind Miroir.
    pub nodes: usize,
    /// Replication factor.
    pub replication_factor: usize,
    /// Shards per index.
    pub shards: u32,
    /// Miroir's master key.
    pub master_key: &'a str,
    /// A `meilisearch` binary, or `None` for in-process test nodes.
    pub meilisearch: Option<PathBuf>,
    /// Nodes to start beside the fleet, not given to Miroir.
    pub spares: usize,
    /// Miroir's `task_store` (`None`: SQLite under its state directory).
    pub task_store: Option<String>,
}

impl Fleet {
    /// A fleet of servers that already run.
    pub fn existing(miroir: Endpoint, reference: Endpoint) -> Fleet {
        Fleet {
            miroir,
            reference,
            nodes: Vec::new(),
            spares: Vec::new(),
            miroir_pid: None,
            backend: "given by URL".into(),
            _children: Vec::new(),
            _test_nodes: Vec::new(),
            _dir: None,
        }
    }

    /// Starts `spec.nodes` nodes, the reference node and Miroir over the nodes.
    pub async fn spawn(spec: SpawnSpec<'_>) -> anyhow::Result<Fleet> {
        let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
        let mut children = Vec::new();
        let mut test_nodes = Vec::new();
        let mut started = Vec::new();
        for i in 0..=spec.nodes + spec.spares {
            let url = match &spec.meilisearch {
                Some(binary) => {
                    let (child, url) =
                        start_meilisearch(binary, dir.path(), &format!("node-{i}"), NODE_KEY)
                            .await?;
                    children.push(child);
                    url
                }
                None => {
                    let node = miroir_testnode::spawn(miroir_testnode::Config {
                        master_key: Some(NODE_KEY.to_string()),
                        data_dir: None,
                    })
                    .await
                    .context("cannot start a test node")?;
                    let url = node.url();
                    test_nodes.push(node);
                    url
                }
            };
            started.push(Endpoint {
                url,
                key: Some(NODE_KEY.to_string()),
            });
        }
        let reference = started.pop().context("no reference node")?;
        let spares = started.split_off(spec.nodes);
        let (miroir, pid) = spawn_miroir(&spec, &started, dir.path()).await?;
        children.push(miroir.0);
        Ok(Fleet {
            miroir: miroir.1,
            reference,
            nodes: started,
            spares,
            miroir_pid: pid,
            backend: match spec.meilisearch {
                Some(binary) => format!("meilisearch ({})", binary.display()),
                None => "test node".into(),
            },
            _children: children,
            _test_nodes: test_nodes,
            _dir: Some(dir),
        })
    }
}

/// Runs `miroir serve` (this very binary) over `nodes`.
async fn spawn_miroir(
    spec: &SpawnSpec<'_>,
    nodes: &[Endpoint],
    dir: &Path,
) -> anyhow::Result<((Child, Endpoint), Option<u32>)> {
    let port = free_port()?;
    let exe = std::env::current_exe().context("cannot find the miroir binary")?;
    // `MIROIR_BENCH_LOG=info` shows the spawned Miroir's log (by default only its warnings,
    // which are not printed).
    let log = std::env::var("MIROIR_BENCH_LOG").ok();
    let mut command = Command::new(exe);
    command
        .arg("serve")
        .arg("--http-addr")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--master-key")
        .arg(spec.master_key)
        .arg("--db-path")
        .arg(dir.join("miroir"))
        .arg("--replication-factor")
        .arg(spec.replication_factor.to_string())
        .arg("--shards")
        .arg(spec.shards.to_string())
        .arg("--nodes-api-key")
        .arg(NODE_KEY)
        .env("MIROIR_LOG", log.as_deref().unwrap_or("warn"))
        .env_remove("MIROIR_NODES")
        .env_remove("MIROIR_CONFIG_FILE_PATH")
        .kill_on_drop(true)
        .stdout(if log.is_some() {
            std::process::Stdio::inherit()
        } else {
            std::process::Stdio::null()
        });
    for (i, node) in nodes.iter().enumerate() {
        command.arg("--node").arg(format!("n{i}={}", node.url));
    }
    if let Some(store) = &spec.task_store {
        command.arg("--task-store").arg(store);
    }
    let child = command.spawn().context("cannot start miroir serve")?;
    let pid = child.id();
    let url = format!("http://127.0.0.1:{port}");
    wait_healthy(&url).await?;
    Ok((
        (
            child,
            Endpoint {
                url,
                key: Some(spec.master_key.to_string()),
            },
        ),
        pid,
    ))
}
