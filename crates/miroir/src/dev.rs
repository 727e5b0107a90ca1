//! `miroir dev`: N local nodes and Miroir over them, in one command.
//!
//! Uses a real `meilisearch` binary when `MEILI_BIN` names one or one is on `PATH`; otherwise
//! the in-process Meilisearch-compatible test node (test support, not for real data). Node
//! processes are killed when Miroir stops (Ctrl-C or SIGTERM).
//!
//! With `--processes N --task-store redis://…`, N `miroir serve` processes share the Redis
//! store, on consecutive ports from `--http-addr`: a local try of high availability (kill one
//! with SIGKILL and watch `GET /_miroir/lease` on another).

use std::path::PathBuf;

use anyhow::Context;

use crate::local::start_meilisearch;
use clap::Args;
use tokio::process::Child;

use miroir_server::{
    NodeConfig, ServerConfig, DEFAULT_HEALTH_INTERVAL, DEFAULT_JOURNAL_RETENTION,
    DEFAULT_JOURNAL_RETENTION_BYTES, DEFAULT_NODE_TIMEOUT, DEFAULT_PAYLOAD_LIMIT,
    DEFAULT_REPLICA_TIMEOUT,
};

/// Flags of `miroir dev`.
#[derive(Args, Debug)]
pub struct DevArgs {
    /// Number of nodes to start.
    #[arg(long, default_value_t = 3)]
    pub nodes: usize,
    /// Replication factor.
    #[arg(long, default_value_t = 2)]
    pub replication_factor: usize,
    /// Default shard count of new indexes.
    #[arg(long, default_value_t = 64)]
    pub shards: u32,
    /// Index uid patterns (`authors`, `ref_*`) created whole: every node holds all of them.
    #[arg(long, value_delimiter = ',')]
    pub whole_indexes: Vec<String>,
    /// Miroir's address.
    #[arg(long, env = "MIROIR_HTTP_ADDR", default_value = "127.0.0.1:7700")]
    pub http_addr: String,
    /// Key clients use toward Miroir.
    #[arg(long, env = "MIROIR_MASTER_KEY", default_value = "masterKey")]
    pub master_key: String,
    /// Where node data and Miroir's state go (a temporary directory by default).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// How many Miroir processes to start over the nodes (above 1, they share `--task-store`).
    #[arg(long, default_value_t = 1)]
    pub processes: usize,
    /// Where the Miroirs keep their shared state: `redis://host:port/db` (default: the
    /// embedded SQLite store, for one process).
    #[arg(long, env = "MIROIR_TASK_STORE")]
    pub task_store: Option<String>,
}

/// The key Miroir uses toward the local nodes.
const NODE_KEY: &str = "miroir-dev-node-key";

/// Runs the local cluster until Ctrl-C.
pub async fn run(args: DevArgs) -> anyhow::Result<()> {
    if args.processes == 0 {
        anyhow::bail!("processes: at least one Miroir process is needed");
    }
    if args.processes > 1 && args.task_store.is_none() {
        anyhow::bail!(
            "processes: {} Miroir processes share their state through Redis: give --task-store redis://host:port/db",
            args.processes
        );
    }
    let temp;
    let data_dir = match &args.data_dir {
        Some(dir) => dir.clone(),
        None => {
            temp = tempfile::tempdir().context("cannot create a temporary directory")?;
            temp.path().to_path_buf()
        }
    };
    let mut children: Vec<Child> = Vec::new();
    let mut test_nodes = Vec::new();
    let mut nodes = Vec::new();
    match crate::local::meilisearch_binary() {
        Some(binary) => {
            println!(
                "Starting {} Meilisearch nodes with {}",
                args.nodes,
                binary.display()
            );
            for i in 0..args.nodes {
                let (child, url) =
                    start_meilisearch(&binary, &data_dir, &format!("node-{i}"), NODE_KEY).await?;
                children.push(child);
                nodes.push((format!("node-{i}"), url));
            }
        }
        None => {
            println!(
                "No meilisearch binary (MEILI_BIN or PATH): starting {} in-process test nodes \
                 (Meilisearch-compatible test support, in memory, not for real data)",
                args.nodes
            );
            for i in 0..args.nodes {
                let node = miroir_testnode::spawn(miroir_testnode::Config {
                    master_key: Some(NODE_KEY.to_string()),
                    data_dir: None,
                })
                .await
                .context("cannot start a test node")?;
                nodes.push((format!("node-{i}"), node.url()));
                test_nodes.push(node);
            }
        }
    }
    let config = ServerConfig {
        master_key: Some(args.master_key.clone()),
        db_path: data_dir.join("miroir"),
        replication_factor: args.replication_factor,
        shards: args.shards,
        nodes: nodes
            .iter()
            .map(|(id, url)| NodeConfig {
                id: id.clone(),
                url: url.clone(),
                api_key: Some(NODE_KEY.to_string()),
                zone: None,
                weight: 1.0,
            })
            .collect(),
        http_payload_size_limit: DEFAULT_PAYLOAD_LIMIT,
        node_timeout: DEFAULT_NODE_TIMEOUT,
        replica_timeout: DEFAULT_REPLICA_TIMEOUT,
        min_in_sync: 1,
        rebalance_concurrency: 2,
        rebalance_max_documents_per_second: None,
        health_interval: DEFAULT_HEALTH_INTERVAL,
        journal_retention: DEFAULT_JOURNAL_RETENTION,
        journal_retention_bytes: DEFAULT_JOURNAL_RETENTION_BYTES,
        task_store: args.task_store.clone(),
        lease_ttl: miroir_server::DEFAULT_LEASE_TTL,
        whole_indexes: args.whole_indexes.clone(),
    };
    config.validate()?;
    if args.processes > 1 {
        return run_processes(&args, &nodes, &data_dir, children, test_nodes).await;
    }
    let listener = tokio::net::TcpListener::bind(&args.http_addr)
        .await
        .with_context(|| format!("http_addr: cannot listen on {}", args.http_addr))?;
    println!(
        "Miroir is ready at http://{} (master key: {}), {} nodes, RF {}",
        listener.local_addr()?,
        args.master_key,
        nodes.len(),
        args.replication_factor
    );
    for (id, url) in &nodes {
        println!("  node {id}: {url}");
    }
    println!("Press Ctrl-C to stop.");
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot listen for SIGTERM")?;
    tokio::select! {
        result = miroir_server::serve(listener, config) => result?,
        _ = tokio::signal::ctrl_c() => println!("Stopping."),
        _ = terminate.recv() => println!("Stopping."),
    }
    drop(test_nodes);
    drop(children);
    Ok(())
}

/// Starts `args.processes` `miroir serve` processes over `nodes`, sharing `args.task_store`, on
/// consecutive ports from `args.http_addr`; stops them (and the nodes) on Ctrl-C or SIGTERM.
async fn run_processes(
    args: &DevArgs,
    nodes: &[(String, String)],
    data_dir: &std::path::Path,
    mut children: Vec<Child>,
    test_nodes: Vec<miroir_testnode::TestNode>,
) -> anyhow::Result<()> {
    let first: std::net::SocketAddr = args
        .http_addr
        .parse()
        .with_context(|| format!("http_addr: {} is not host:port", args.http_addr))?;
    let binary = std::env::current_exe().context("cannot find the miroir binary")?;
    let store = args.task_store.clone().unwrap_or_default();
    let mut urls = Vec::new();
    for i in 0..args.processes {
        let port = first
            .port()
            .checked_add(i as u16)
            .context("http_addr: no port left for every process")?;
        let addr = std::net::SocketAddr::new(first.ip(), port);
        let mut command = tokio::process::Command::new(&binary);
        command
            .arg("serve")
            .arg(format!("--http-addr={addr}"))
            .arg(format!("--master-key={}", args.master_key))
            .arg(format!(
                "--db-path={}",
                data_dir.join(format!("miroir-{i}")).display()
            ))
            .arg(format!("--task-store={store}"))
            .arg(format!("--replication-factor={}", args.replication_factor))
            .arg(format!("--shards={}", args.shards))
            .arg(format!("--nodes-api-key={NODE_KEY}"))
            .kill_on_drop(true);
        for (id, url) in nodes {
            command.arg(format!("--node={id}={url}"));
        }
        if !args.whole_indexes.is_empty() {
            command.arg(format!("--whole-indexes={}", args.whole_indexes.join(",")));
        }
        let child = command
            .spawn()
            .with_context(|| format!("cannot start Miroir process {}", i + 1))?;
        let pid = child.id().unwrap_or_default();
        children.push(child);
        urls.push((format!("http://{addr}"), pid));
    }
    println!(
        "{} Miroir processes over one store ({store}), master key {}, {} nodes, RF {}:",
        args.processes,
        args.master_key,
        nodes.len(),
        args.replication_factor
    );
    for (url, pid) in &urls {
        println!("  {url} (pid {pid})");
    }
    for (id, url) in nodes {
        println!("  node {id}: {url}");
    }
    println!(
        "GET /_miroir/lease on any of them says which runs the work that runs once; kill that \
         one (kill -9 PID) and another takes over. Press Ctrl-C to stop."
    );
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot listen for SIGTERM")?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => println!("Stopping."),
        _ = terminate.recv() => println!("Stopping."),
    }
    drop(children);
    drop(test_nodes);
    Ok(())
}
