//! Test harness: a Miroir over N nodes, each node either the in-process test node or a real
//! `meilisearch` process (when `MEILI_BIN` is set). Everything binds to 127.0.0.1 on ephemeral
//! ports; every process started here is killed on drop. Every wait is a bounded poll.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use miroir_server::{
    NodeConfig, RunningMiroir, ServerConfig, DEFAULT_HEALTH_INTERVAL, DEFAULT_JOURNAL_RETENTION,
    DEFAULT_JOURNAL_RETENTION_BYTES, DEFAULT_NODE_TIMEOUT, DEFAULT_PAYLOAD_LIMIT,
    DEFAULT_REPLICA_TIMEOUT,
};

/// The key clients use toward Miroir in tests.
pub const MASTER_KEY: &str = "masterKey";
/// The key Miroir (and tests looking behind it) use toward the nodes.
pub const NODE_KEY: &str = "nodeKey-for-tests-0123456789";

/// Which kind of node a test runs on.
#[derive(Clone, Debug)]
pub enum Backend {
    /// The in-process Meilisearch-compatible test node.
    TestNode,
    /// A real `meilisearch` binary.
    Real(PathBuf),
}

impl Backend {
    /// The real binary from `MEILI_BIN`, if set.
    pub fn real() -> Option<Backend> {
        std::env::var_os("MEILI_BIN").map(|p| Backend::Real(PathBuf::from(p)))
    }
}

/// Runs a test body on the test node, and its twin on real Meilisearch when `MEILI_BIN` is set.
#[macro_export]
macro_rules! dual_test {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_test_nodes() {
                super::$name($crate::common::Backend::TestNode).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_real_meilisearch() {
                match $crate::common::Backend::real() {
                    Some(backend) => super::$name(backend).await,
                    None => eprintln!("skipped: MEILI_BIN not set"),
                }
            }
        }
    };
}

/// One running node.
pub enum Node {
    /// In-process test node.
    Test(miroir_testnode::TestNode),
    /// A node process (real Meilisearch, or the test node's binary), which tests may kill and
    /// start again on its data.
    Process(Box<NodeProcess>),
}

/// A node running as a process, with what it takes to start it again on the same data.
pub struct NodeProcess {
    /// The binary.
    binary: PathBuf,
    /// Its arguments (data directory and port included).
    args: Vec<String>,
    /// The process while it runs; killed on drop.
    child: Option<Child>,
    /// Its URL.
    url: String,
    /// Its data directory (inside `_dir`).
    data: PathBuf,
    /// Its data.
    _dir: tempfile::TempDir,
}

impl NodeProcess {
    fn spawn(&mut self) {
        let child = Command::new(&self.binary)
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("node process starts");
        self.child = Some(child);
    }

    async fn wait_healthy(&self) {
        wait_healthy(&self.url).await;
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A binary of the workspace, next to the test binaries (built by `cargo test --workspace`;
/// built here when only this package's tests are being built).
pub fn workspace_binary(package: &str, name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target directory")
        .to_path_buf();
    let binary = dir.join(name);
    if !binary.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", package, "--bin", name])
            .status()
            .expect("cargo runs");
        assert!(status.success(), "{name} builds");
    }
    binary
}

fn testnode_binary() -> PathBuf {
    workspace_binary("miroir-testnode", "miroir-testnode")
}

/// Polls `{url}/health` until it answers a success, for at most 30 seconds.
async fn wait_healthy(url: &str) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = client.get(format!("{url}/health")).send().await {
            if r.status().is_success() {
                return;
            }
        }
        assert!(Instant::now() < deadline, "{url} did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

impl Node {
    /// Starts one node (in-process for the test node).
    pub async fn start(backend: &Backend) -> Node {
        match backend {
            Backend::TestNode => Node::Test(
                miroir_testnode::spawn(miroir_testnode::Config {
                    master_key: Some(NODE_KEY.to_string()),
                    data_dir: None,
                })
                .await
                .expect("test node starts"),
            ),
            Backend::Real(_) => Node::start_process(backend).await,
        }
    }

    /// Starts one node as a process with its data in a directory, so that it can be killed
    /// and started again on its data.
    pub async fn start_process(backend: &Backend) -> Node {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let data_path = dir.path().join("data.ms");
        let data = data_path.display().to_string();
        let addr = format!("127.0.0.1:{port}");
        let (binary, args) = match backend {
            Backend::TestNode => (
                testnode_binary(),
                vec![
                    "--db-path".to_string(),
                    data,
                    "--http-addr".to_string(),
                    addr,
                    "--master-key".to_string(),
                    NODE_KEY.to_string(),
                ],
            ),
            Backend::Real(binary) => (
                binary.clone(),
                vec![
                    "--db-path".to_string(),
                    data,
                    "--http-addr".to_string(),
                    addr,
                    "--master-key".to_string(),
                    NODE_KEY.to_string(),
                    "--no-analytics".to_string(),
                    "--dump-dir".to_string(),
                    dir.path().join("dumps").display().to_string(),
                    "--snapshot-dir".to_string(),
                    dir.path().join("snapshots").display().to_string(),
                ],
            ),
        };
        let mut process = NodeProcess {
            binary,
            args,
            child: None,
            url: format!("http://127.0.0.1:{port}"),
            data: data_path,
            _dir: dir,
        };
        process.spawn();
        process.wait_healthy().await;
        Node::Process(Box::new(process))
    }

    /// Kills the node's process with SIGKILL.
    pub fn kill(&mut self) {
        let Node::Process(process) = self else {
            panic!("only node processes can be killed");
        };
        if let Some(mut child) = process.child.take() {
            child.kill().expect("SIGKILL sent");
            child.wait().expect("process reaped");
        }
    }

    /// The process id of a running node process.
    pub fn pid(&self) -> u32 {
        let Node::Process(process) = self else {
            panic!("only node processes have a pid");
        };
        process.child.as_ref().expect("the node runs").id()
    }

    /// Deletes the node's data directory (the node must be stopped): it starts again empty.
    pub fn wipe(&mut self) {
        let Node::Process(process) = self else {
            panic!("only node processes have a data directory");
        };
        assert!(process.child.is_none(), "wipe a stopped node only");
        std::fs::remove_dir_all(&process.data).expect("data directory removed");
    }

    /// Starts the node's process again on its own data.
    pub async fn restart(&mut self) {
        let Node::Process(process) = self else {
            panic!("only node processes can be restarted");
        };
        process.spawn();
        process.wait_healthy().await;
    }

    /// The node's base URL.
    pub fn url(&self) -> String {
        match self {
            Node::Test(node) => node.url(),
            Node::Process(process) => process.url.clone(),
        }
    }

    /// A client that talks to this node directly.
    pub fn client(&self) -> Client {
        Client::new(self.url(), NODE_KEY)
    }
}

/// Miroir over a set of nodes.
pub struct Cluster {
    /// The nodes, in configuration order (ids `n0`, `n1`, …).
    pub nodes: Vec<Node>,
    /// The configuration Miroir runs with.
    pub config: ServerConfig,
    miroir: Option<RunningMiroir>,
    _state: tempfile::TempDir,
}

impl Cluster {
    /// Starts `nodes` nodes and Miroir with `rf` copies and `shards` shards per index.
    pub async fn start(backend: &Backend, nodes: usize, rf: usize, shards: u32) -> Cluster {
        let mut started = Vec::new();
        for _ in 0..nodes {
            started.push(Node::start(backend).await);
        }
        Cluster::over(started, rf, shards, |_| {}).await
    }

    /// Starts `nodes` node processes (which tests may kill and restart) and Miroir with `rf`
    /// copies and `shards` shards per index, its configuration adjusted by `adjust`.
    pub async fn start_processes(
        backend: &Backend,
        nodes: usize,
        rf: usize,
        shards: u32,
        adjust: impl FnOnce(&mut ServerConfig),
    ) -> Cluster {
        let mut started = Vec::new();
        for _ in 0..nodes {
            started.push(Node::start_process(backend).await);
        }
        Cluster::over(started, rf, shards, adjust).await
    }

    async fn over(
        started: Vec<Node>,
        rf: usize,
        shards: u32,
        adjust: impl FnOnce(&mut ServerConfig),
    ) -> Cluster {
        let state = tempfile::tempdir().expect("temp dir");
        let config = ServerConfig {
            master_key: Some(MASTER_KEY.to_string()),
            db_path: state.path().join("miroir"),
            replication_factor: rf,
            shards,
            nodes: started
                .iter()
                .enumerate()
                .map(|(i, n)| NodeConfig {
                    id: format!("n{i}"),
                    url: n.url(),
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
            task_store: None,
            lease_ttl: miroir_server::DEFAULT_LEASE_TTL,
            whole_indexes: Vec::new(),
        };
        let mut config = config;
        adjust(&mut config);
        let miroir = miroir_server::spawn(config.clone())
            .await
            .expect("miroir starts");
        Cluster {
            nodes: started,
            config,
            miroir: Some(miroir),
            _state: state,
        }
    }

    /// A client toward Miroir with the master key.
    pub fn client(&self) -> Client {
        Client::new(self.url(), MASTER_KEY)
    }

    /// Miroir's URL.
    pub fn url(&self) -> String {
        self.miroir.as_ref().map(|m| m.url()).unwrap_or_default()
    }

    /// Stops Miroir and starts it again on the same state directory.
    pub async fn restart_miroir(&mut self) {
        self.miroir = None;
        self.miroir = Some(
            miroir_server::spawn(self.config.clone())
                .await
                .expect("miroir restarts"),
        );
    }
}

/// A small JSON HTTP client.
#[derive(Clone)]
pub struct Client {
    base: String,
    key: Option<String>,
    http: reqwest::Client,
}

/// A response: status and JSON body (`Null` when empty).
pub type Answer = (StatusCode, Value);

impl Client {
    /// A client for `base` using `key`.
    pub fn new(base: String, key: &str) -> Client {
        Client {
            base,
            key: Some(key.to_string()),
            http: reqwest::Client::new(),
        }
    }

    /// The same client with another key (or none).
    pub fn with_key(&self, key: Option<&str>) -> Client {
        Client {
            key: key.map(str::to_string),
            ..self.clone()
        }
    }

    /// Sends a raw request.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Answer {
        let mut request = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(key) = &self.key {
            request = request.bearer_auth(key);
        }
        if let Some(content_type) = content_type {
            request = request.header("Content-Type", content_type);
        }
        if !body.is_empty() {
            request = request.body(body);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status();
        let bytes = response.bytes().await.expect("body read");
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        (status, value)
    }

    /// POSTs JSON with one extra request header.
    pub async fn post_with_header(&self, path: &str, header: (&str, &str), body: Value) -> Answer {
        let mut request = self
            .http
            .post(format!("{}{}", self.base, path))
            .header(header.0, header.1)
            .json(&body);
        if let Some(key) = &self.key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Sends a JSON request; `None` as the status when nothing answered (connection refused).
    pub async fn try_send(
        &self,
        method: Method,
        path: &str,
        body: Value,
    ) -> (Option<StatusCode>, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{}", self.base, path))
            .json(&body);
        if let Some(key) = &self.key {
            request = request.bearer_auth(key);
        }
        match request.send().await {
            Ok(response) => {
                let status = response.status();
                let value = response.json().await.unwrap_or(Value::Null);
                (Some(status), value)
            }
            Err(_) => (None, Value::Null),
        }
    }

    /// GET
    pub async fn get(&self, path: &str) -> Answer {
        self.raw(Method::GET, path, None, Vec::new()).await
    }

    /// DELETE
    pub async fn delete(&self, path: &str) -> Answer {
        self.raw(Method::DELETE, path, None, Vec::new()).await
    }

    /// A JSON request.
    pub async fn send(&self, method: Method, path: &str, body: Value) -> Answer {
        let bytes = serde_json::to_vec(&body).expect("json");
        self.raw(method, path, Some("application/json"), bytes)
            .await
    }

    /// POST JSON
    pub async fn post(&self, path: &str, body: Value) -> Answer {
        self.send(Method::POST, path, body).await
    }

    /// Waits (bounded) for a task to finish and returns it.
    pub async fn wait_task(&self, uid: u64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (status, task) = self.get(&format!("/tasks/{uid}")).await;
            assert_eq!(status, StatusCode::OK, "task {uid}: {task}");
            if matches!(
                task["status"].as_str(),
                Some("succeeded" | "failed" | "canceled")
            ) {
                return task;
            }
            assert!(
                Instant::now() < deadline,
                "task {uid} did not finish: {task}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Sends a write, checks the 202, waits for the task and returns it.
    pub async fn write(&self, method: Method, path: &str, body: Value) -> Value {
        let (status, answer) = self.send(method, path, body).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{path}: {answer}");
        self.wait_task(task_uid(&answer)).await
    }

    /// Like [`Client::write`], and asserts the task succeeded.
    pub async fn write_ok(&self, method: Method, path: &str, body: Value) -> Value {
        let task = self.write(method, path, body).await;
        assert_eq!(task["status"], "succeeded", "{path}: {task}");
        task
    }

    /// Creates index `uid` (primary key `id`), applies `settings` (when not null) and adds
    /// `documents`, each step waited for and required to succeed.
    pub async fn seed_index(&self, uid: &str, settings: Value, documents: Vec<Value>) {
        self.write_ok(
            Method::POST,
            "/indexes",
            json!({"uid": uid, "primaryKey": "id"}),
        )
        .await;
        if !settings.is_null() {
            self.write_ok(Method::PATCH, &format!("/indexes/{uid}/settings"), settings)
                .await;
        }
        self.write_ok(
            Method::POST,
            &format!("/indexes/{uid}/documents"),
            Value::Array(documents),
        )
        .await;
    }

    /// Every document of an index, asked of this server directly (`_miroir` included when the
    /// server is a node).
    pub async fn all_documents(&self, index: &str) -> Vec<Value> {
        let (status, page) = self
            .post(
                &format!("/indexes/{index}/documents/fetch"),
                json!({"limit": 100000}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        page["results"].as_array().cloned().unwrap_or_default()
    }
}

/// The `taskUid` of a summarized task.
pub fn task_uid(answer: &Value) -> u64 {
    answer["taskUid"]
        .as_u64()
        .unwrap_or_else(|| panic!("no taskUid in {answer}"))
}

/// Miroir running as a process (`miroir serve`), which tests may kill with SIGKILL and start
/// again on its state directory.
pub struct MiroirProcess {
    binary: PathBuf,
    args: Vec<String>,
    child: Option<Child>,
    url: String,
    /// Where its log lines go (appended), at `debug`; `None`: discarded.
    log: Option<PathBuf>,
    _state: tempfile::TempDir,
}

impl MiroirProcess {
    /// Starts `miroir serve` over `nodes` (ids `n0`, `n1`, …) with `rf` copies and `shards`
    /// shards per index.
    pub async fn start(nodes: &[&Node], rf: usize, shards: u32) -> MiroirProcess {
        MiroirProcess::start_with(nodes, rf, shards, &[]).await
    }

    /// [`MiroirProcess::start`] with more `miroir serve` arguments.
    pub async fn start_with(
        nodes: &[&Node],
        rf: usize,
        shards: u32,
        extra: &[&str],
    ) -> MiroirProcess {
        MiroirProcess::start_logged(nodes, rf, shards, extra, None).await
    }

    /// [`MiroirProcess::start_with`], its `debug` log lines appended to `log`.
    pub async fn start_logged(
        nodes: &[&Node],
        rf: usize,
        shards: u32,
        extra: &[&str],
        log: Option<PathBuf>,
    ) -> MiroirProcess {
        let state = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let mut args = vec![
            "serve".to_string(),
            format!("--http-addr=127.0.0.1:{port}"),
            format!("--master-key={MASTER_KEY}"),
            format!("--db-path={}", state.path().join("miroir").display()),
            format!("--replication-factor={rf}"),
            format!("--shards={shards}"),
            format!("--nodes-api-key={NODE_KEY}"),
            "--health-interval-ms=100".to_string(),
        ];
        for (i, node) in nodes.iter().enumerate() {
            args.push(format!("--node=n{i}={}", node.url()));
        }
        args.extend(extra.iter().map(|arg| arg.to_string()));
        let mut process = MiroirProcess {
            binary: workspace_binary("miroir", "miroir"),
            args,
            child: None,
            url: format!("http://127.0.0.1:{port}"),
            log,
            _state: state,
        };
        process.spawn().await;
        process
    }

    async fn spawn(&mut self) {
        let (level, stderr) = match &self.log {
            Some(path) => {
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .expect("log file");
                ("debug", Stdio::from(file))
            }
            None => ("warn", Stdio::null()),
        };
        let child = Command::new(&self.binary)
            .args(&self.args)
            .env("MIROIR_LOG", level)
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("miroir starts");
        self.child = Some(child);
        wait_healthy(&self.url).await;
    }

    /// Kills Miroir with SIGKILL.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("SIGKILL sent");
            child.wait().expect("process reaped");
        }
    }

    /// Starts Miroir again on its state directory.
    pub async fn restart(&mut self) {
        self.spawn().await;
    }

    /// The process id, while it runs (to send it signals).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// A client of this Miroir with the master key.
    pub fn client(&self) -> Client {
        Client::new(self.url.clone(), MASTER_KEY)
    }

    /// Its base URL.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for MiroirProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Every tag Miroir put on a node's tasks, with how many tasks carry it.
pub async fn tags_on(node: &Client) -> BTreeMap<String, usize> {
    let (status, answer) = node.get("/tasks?limit=100000").await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let mut tags = BTreeMap::new();
    for task in answer["results"].as_array().expect("results") {
        if let Some(tag) = task["customMetadata"].as_str() {
            *tags.entry(tag.to_string()).or_insert(0) += 1;
        }
    }
    tags
}
