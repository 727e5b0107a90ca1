//! The measurements: indexing, parity, latency and throughput, memory. Every wait is a bounded
//! poll; every request goes to the fleet's own 127.0.0.1 servers or to the URLs given.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures::stream::{self, StreamExt};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Map, Value};

use miroir_core::marker::MARKER_FIELD;
use miroir_core::parity::{compare_hits, RankedHit};

use super::fleet::Endpoint;
use super::workload::Dataset;

/// The index every benchmark writes to, on both sides.
pub const INDEX: &str = "bench";

/// A small JSON client toward one endpoint.
#[derive(Clone)]
pub struct Http {
    endpoint: Endpoint,
    client: reqwest::Client,
}

impl Http {
    /// A client with a connection pool big enough for the highest concurrency.
    pub fn new(endpoint: Endpoint) -> Http {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(256)
            .tcp_nodelay(true)
            .build()
            .unwrap_or_default();
        Http { endpoint, client }
    }

    /// Sends a request; answers the status and the JSON body (`Null` when empty or not JSON).
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<(Vec<u8>, &str)>,
    ) -> anyhow::Result<(u16, Value)> {
        let mut request = self
            .client
            .request(method, format!("{}{}", self.endpoint.url, path));
        if let Some(key) = &self.endpoint.key {
            request = request.bearer_auth(key);
        }
        if let Some((bytes, content_type)) = body {
            request = request.header("Content-Type", content_type).body(bytes);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("{} did not answer", self.endpoint.url))?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.unwrap_or_default();
        Ok((
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        ))
    }

    async fn json(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &Value,
    ) -> anyhow::Result<(u16, Value)> {
        let bytes = serde_json::to_vec(body)?;
        self.send(method, path, Some((bytes, "application/json")))
            .await
    }

    /// Waits (at most `bound`) for a task to finish; answers the task object.
    async fn wait_task(&self, uid: u64, bound: Duration) -> anyhow::Result<Value> {
        let deadline = Instant::now() + bound;
        loop {
            let (_, task) = self
                .send(reqwest::Method::GET, &format!("/tasks/{uid}"), None)
                .await?;
            if matches!(
                task["status"].as_str(),
                Some("succeeded" | "failed" | "canceled")
            ) {
                return Ok(task);
            }
            if Instant::now() > deadline {
                bail!(
                    "task {uid} on {} did not finish within {bound:?}",
                    self.endpoint.url
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// How long one side took to index the dataset.
pub struct Indexing {
    /// Documents sent.
    pub documents: usize,
    /// From the first byte sent until the last task succeeded.
    pub seconds: f64,
}

/// Creates the index (with `settings`, if any), sends every batch, and waits for the last task.
pub async fn load(
    http: &Http,
    side: &str,
    dataset: &Dataset,
    settings: Option<&Value>,
) -> anyhow::Result<Indexing> {
    let bound = Duration::from_secs(3600);
    let started = Instant::now();
    let (status, task) = http
        .json(
            reqwest::Method::POST,
            "/indexes",
            &json!({"uid": INDEX, "primaryKey": dataset.primary_key}),
        )
        .await?;
    if status != 202 {
        bail!("{side}: creating the index failed: {task}");
    }
    if let Some(settings) = settings {
        let (status, answer) = http
            .json(
                reqwest::Method::PATCH,
                &format!("/indexes/{INDEX}/settings"),
                settings,
            )
            .await?;
        if status != 202 {
            bail!("{side}: the settings were refused: {answer}");
        }
    }
    let batches = dataset.batches();
    let bar = ProgressBar::new(dataset.documents.len() as u64).with_style(
        ProgressStyle::with_template("{prefix:>10} {bar:40} {pos}/{len} documents {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_prefix(side.to_string());
    let mut uids = Vec::new();
    for (bytes, count) in batches {
        let (status, answer) = http
            .send(
                reqwest::Method::POST,
                &format!(
                    "/indexes/{INDEX}/documents?primaryKey={}",
                    dataset.primary_key
                ),
                Some((bytes, "application/x-ndjson")),
            )
            .await?;
        if status != 202 {
            bail!("{side}: a batch was refused: {answer}");
        }
        uids.push(answer["taskUid"].as_u64().context("no taskUid")?);
        bar.inc(count as u64);
    }
    bar.set_message("sent; indexing…");
    for uid in uids {
        let task = http.wait_task(uid, bound).await?;
        if task["status"] != "succeeded" {
            bail!("{side}: task {uid} did not succeed: {task}");
        }
    }
    bar.finish_with_message("indexed");
    Ok(Indexing {
        documents: dataset.documents.len(),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// What one large upload cost Miroir in memory.
pub struct Upload {
    /// The payload's size.
    pub bytes: usize,
    /// Its documents.
    pub documents: usize,
    /// Miroir's RSS just before the upload.
    pub rss_before: u64,
    /// Miroir's highest RSS from the upload until its task succeeded.
    pub rss_peak: u64,
    /// From the first byte sent until the task succeeded.
    pub seconds: f64,
}

/// Sends `payload` (NDJSON) as one request to a fresh index and waits for its task, sampling
/// Miroir's RSS (`pid`) all along.
pub async fn upload(
    http: &Http,
    pid: u32,
    sampler: &RssSampler,
    primary_key: &str,
    (payload, documents): (Vec<u8>, usize),
) -> anyhow::Result<Upload> {
    let bytes = payload.len();
    let rss_before = rss_bytes(pid, "VmRSS:").context("Miroir's RSS is not readable")?;
    sampler.take_peak();
    let started = Instant::now();
    let (status, answer) = http
        .send(
            reqwest::Method::POST,
            &format!("/indexes/{UPLOAD_INDEX}/documents?primaryKey={primary_key}"),
            Some((payload, "application/x-ndjson")),
        )
        .await?;
    if status != 202 {
        bail!("the upload was refused: {answer}");
    }
    let uid = answer["taskUid"].as_u64().context("no taskUid")?;
    let task = http.wait_task(uid, Duration::from_secs(3600)).await?;
    if task["status"] != "succeeded" {
        bail!("the upload's task {uid} did not succeed: {task}");
    }
    Ok(Upload {
        bytes,
        documents,
        rss_before,
        rss_peak: sampler.take_peak().max(rss_before),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The index the upload measurement writes to.
const UPLOAD_INDEX: &str = "bench-upload";

/// What adding a node cost.
pub struct NodeAdded {
    /// Documents of the measured index the new node holds once the rebalance is done.
    pub documents: u64,
    /// From the request to the rebalance being idle (the old copies deleted).
    pub seconds: f64,
    /// From the request to every move switched: the new owners serve the whole share, only
    /// the old copies' deletions remain.
    pub serving_seconds: f64,
    /// Shard moves the rebalance made.
    pub moves: u64,
}

/// Adds `node` to Miroir's fleet and waits until the rebalance that moves its share onto it
/// is done (at most an hour).
pub async fn add_node(miroir: &Http, node: &Endpoint) -> anyhow::Result<NodeAdded> {
    let started = Instant::now();
    let body = json!({"id": "added", "url": node.url, "apiKey": node.key});
    let (status, answer) = miroir
        .send(
            reqwest::Method::POST,
            "/_miroir/nodes",
            Some((serde_json::to_vec(&body)?, "application/json")),
        )
        .await?;
    if status != 202 {
        bail!("adding a node was refused ({status}): {answer}");
    }
    let mut moves = 0;
    let mut serving_seconds = None;
    loop {
        let (_, topology) = miroir
            .send(reqwest::Method::GET, "/_miroir/topology", None)
            .await?;
        let progress = &topology["rebalance"];
        moves = moves.max(progress["movesTotal"].as_u64().unwrap_or(0));
        if serving_seconds.is_none() && moves > 0 && progress["movesDone"].as_u64() == Some(moves) {
            serving_seconds = Some(started.elapsed().as_secs_f64());
        }
        let active = topology["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|n| n["id"] == "added" && n["state"] == "active");
        if active && topology["rebalance"]["state"] == "idle" {
            break;
        }
        if started.elapsed() > Duration::from_secs(3600) {
            bail!("the rebalance did not finish within an hour: {topology}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    let serving_seconds = serving_seconds.unwrap_or(seconds);
    let documents = stats(&Http::new(node.clone())).await["numberOfDocuments"]
        .as_u64()
        .unwrap_or(0);
    Ok(NodeAdded {
        documents,
        seconds,
        serving_seconds,
        moves,
    })
}

/// The index the fresh load of a moved share writes to (on the reference node).
const SHARE_INDEX: &str = "bench-share";

/// Loads, from scratch, the documents a node holds (the share a rebalance moved onto it) into
/// a new index with `settings` on `reference`, as one request: the time a fresh load of that
/// share takes on one node, to set beside the move's. The shard marker is left out.
pub async fn fresh_load_of_share(
    node: &Endpoint,
    reference: &Http,
    primary_key: &str,
    settings: Option<&Value>,
) -> anyhow::Result<f64> {
    let node = Http::new(node.clone());
    let mut payload = Vec::new();
    let mut offset = 0;
    loop {
        let (status, mut page) = node
            .json(
                reqwest::Method::POST,
                &format!("/indexes/{INDEX}/documents/fetch"),
                &json!({"offset": offset, "limit": 1000}),
            )
            .await?;
        if status != 200 {
            bail!("reading the moved share failed: {page}");
        }
        let Value::Array(documents) = page["results"].take() else {
            bail!("a document listing without results: {page}");
        };
        if documents.is_empty() {
            break;
        }
        offset += documents.len();
        for mut document in documents {
            if let Some(fields) = document.as_object_mut() {
                fields.remove(MARKER_FIELD);
            }
            serde_json::to_writer(&mut payload, &document)?;
            payload.push(b'\n');
        }
    }
    let (status, answer) = reference
        .json(
            reqwest::Method::POST,
            "/indexes",
            &json!({"uid": SHARE_INDEX, "primaryKey": primary_key}),
        )
        .await?;
    if status != 202 {
        bail!("creating the share's index failed: {answer}");
    }
    if let Some(settings) = settings {
        let (status, answer) = reference
            .json(
                reqwest::Method::PATCH,
                &format!("/indexes/{SHARE_INDEX}/settings"),
                settings,
            )
            .await?;
        let uid = answer["taskUid"].as_u64().context("no taskUid")?;
        if status != 202
            || reference.wait_task(uid, Duration::from_secs(600)).await?["status"] != "succeeded"
        {
            bail!("the share's settings were refused: {answer}");
        }
    }
    let started = Instant::now();
    let (status, answer) = reference
        .send(
            reqwest::Method::POST,
            &format!("/indexes/{SHARE_INDEX}/documents?primaryKey={primary_key}"),
            Some((payload, "application/x-ndjson")),
        )
        .await?;
    if status != 202 {
        bail!("the share's load was refused: {answer}");
    }
    let uid = answer["taskUid"].as_u64().context("no taskUid")?;
    let task = reference.wait_task(uid, Duration::from_secs(3600)).await?;
    if task["status"] != "succeeded" {
        bail!("the share's load {uid} did not succeed: {task}");
    }
    Ok(started.elapsed().as_secs_f64())
}

/// Parity over the query set.
pub struct Parity {
    /// Queries compared.
    pub queries: usize,
    /// Exact matches up to ties.
    pub exact: usize,
    /// Mean top-10 overlap.
    pub top10_overlap: f64,
    /// Mean NDCG@10.
    pub ndcg10: f64,
    /// Queries whose totals differ.
    pub totals_mismatches: usize,
    /// Queries whose facets differ.
    pub facets_mismatches: usize,
    /// Each differing query and how it differs.
    pub differing: Vec<Value>,
}

fn ranked(answer: &Value, primary_key: &str) -> Vec<RankedHit> {
    answer["hits"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|hit| RankedHit {
            id: match &hit[primary_key] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            },
            score: hit["_rankingScore"].as_f64(),
        })
        .collect()
}

fn total(answer: &Value) -> Value {
    answer
        .get("totalHits")
        .or_else(|| answer.get("estimatedTotalHits"))
        .cloned()
        .unwrap_or(Value::Null)
}

/// The body sent for a query: the query with ranking scores shown, so ties can be told apart.
pub fn with_scores(query: &Map<String, Value>) -> Value {
    let mut body = query.clone();
    body.entry("showRankingScore").or_insert(Value::Bool(true));
    Value::Object(body)
}

/// Runs every query on both sides and compares the answers.
pub async fn parity(
    miroir: &Http,
    reference: &Http,
    queries: &[Map<String, Value>],
    primary_key: &str,
) -> anyhow::Result<Parity> {
    let path = format!("/indexes/{INDEX}/search");
    let bar = ProgressBar::new(queries.len() as u64).with_prefix("parity");
    let mut parity = Parity {
        queries: queries.len(),
        exact: 0,
        top10_overlap: 0.0,
        ndcg10: 0.0,
        totals_mismatches: 0,
        facets_mismatches: 0,
        differing: Vec::new(),
    };
    for query in queries {
        let body = with_scores(query);
        let (status_m, answer_m) = miroir.json(reqwest::Method::POST, &path, &body).await?;
        let (status_r, answer_r) = reference.json(reqwest::Method::POST, &path, &body).await?;
        bar.inc(1);
        let mut reasons = Vec::new();
        if status_m != status_r {
            reasons.push(format!("status {status_m} instead of {status_r}"));
        } else if status_r != 200 {
            if answer_m["code"] != answer_r["code"] {
                reasons.push(format!(
                    "error {} instead of {}",
                    answer_m["code"], answer_r["code"]
                ));
            }
            if reasons.is_empty() {
                parity.exact += 1;
                parity.top10_overlap += 1.0;
                parity.ndcg10 += 1.0;
            } else {
                parity
                    .differing
                    .push(json!({"query": query, "differences": reasons}));
            }
            continue;
        }
        let hits = compare_hits(
            &ranked(&answer_r, primary_key),
            &ranked(&answer_m, primary_key),
        );
        parity.top10_overlap += hits.top10_overlap;
        parity.ndcg10 += hits.ndcg10;
        if !hits.exact_order {
            reasons.push("hits differ".to_string());
        }
        if total(&answer_m) != total(&answer_r) {
            parity.totals_mismatches += 1;
            reasons.push(format!(
                "total {} instead of {}",
                total(&answer_m),
                total(&answer_r)
            ));
        }
        if answer_m.get("facetDistribution") != answer_r.get("facetDistribution")
            || answer_m.get("facetStats") != answer_r.get("facetStats")
        {
            parity.facets_mismatches += 1;
            reasons.push("facets differ".to_string());
        }
        if hits.exact_order && reasons.is_empty() {
            parity.exact += 1;
        } else {
            parity.differing.push(json!({
                "query": query,
                "differences": reasons,
                "top10Overlap": hits.top10_overlap,
                "ndcg10": hits.ndcg10,
            }));
        }
    }
    bar.finish_and_clear();
    let n = queries.len().max(1) as f64;
    parity.top10_overlap /= n;
    parity.ndcg10 /= n;
    Ok(parity)
}

/// Latencies and throughput of one side at one concurrency.
#[derive(Default)]
pub struct SideLoad {
    /// Per-request latencies, in microseconds.
    pub latencies_us: Vec<u64>,
    /// Failed requests.
    pub errors: usize,
    /// Time spent in this side's rounds.
    pub busy: Duration,
}

impl SideLoad {
    /// The `p`-th percentile latency in milliseconds.
    pub fn percentile_ms(&self, p: f64) -> f64 {
        let mut sorted = self.latencies_us.clone();
        sorted.sort_unstable();
        if sorted.is_empty() {
            return 0.0;
        }
        let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        sorted[rank - 1] as f64 / 1000.0
    }

    /// Adds a round's outcomes (a latency, or `None` for a failure) and its duration.
    fn record(&mut self, outcomes: Vec<Option<u64>>, busy: Duration) {
        self.busy += busy;
        for outcome in outcomes {
            match outcome {
                Some(latency) => self.latencies_us.push(latency),
                None => self.errors += 1,
            }
        }
    }

    /// Requests per second over this side's rounds.
    pub fn throughput(&self) -> f64 {
        let seconds = self.busy.as_secs_f64();
        if seconds == 0.0 {
            0.0
        } else {
            self.latencies_us.len() as f64 / seconds
        }
    }
}

/// POSTs a JSON body and times it: its latency in microseconds when it answered `expected`.
async fn timed_post(http: &Http, path: &str, body: &Value, expected: u16) -> Option<u64> {
    let bytes = serde_json::to_vec(body).ok()?;
    let sent = Instant::now();
    match http
        .send(
            reqwest::Method::POST,
            path,
            Some((bytes, "application/json")),
        )
        .await
    {
        Ok((status, _)) if status == expected => Some(sent.elapsed().as_micros() as u64),
        _ => None,
    }
}

async fn round(
    http: &Http,
    bodies: &[Value],
    first: usize,
    count: usize,
    concurrency: usize,
    side: &mut SideLoad,
) {
    let path = format!("/indexes/{INDEX}/search");
    let started = Instant::now();
    let outcomes: Vec<Option<u64>> = stream::iter(0..count)
        .map(|i| timed_post(http, &path, &bodies[(first + i) % bodies.len()], 200))
        .buffer_unordered(concurrency)
        .collect()
        .await;
    side.record(outcomes, started.elapsed());
}

/// Replays `requests` queries per side at `concurrency`, alternating rounds between Miroir and
/// the reference so that both see the same machine conditions.
pub async fn replay(
    miroir: &Http,
    reference: &Http,
    bodies: &[Value],
    concurrency: usize,
    requests: usize,
) -> (SideLoad, SideLoad) {
    let chunk = (concurrency * 4).max(40);
    let (mut m, mut r) = (SideLoad::default(), SideLoad::default());
    let bar = ProgressBar::new((requests * 2) as u64).with_prefix(format!("c={concurrency}"));
    let mut done = 0;
    while done < requests {
        let count = chunk.min(requests - done);
        round(miroir, bodies, done, count, concurrency, &mut m).await;
        round(reference, bodies, done, count, concurrency, &mut r).await;
        done += count;
        bar.inc((count * 2) as u64);
    }
    bar.finish_and_clear();
    (m, r)
}

/// Creates an API key on `http` that may only search, every index; answers its value.
pub async fn create_search_key(http: &Http) -> anyhow::Result<String> {
    let (status, key) = http
        .json(
            reqwest::Method::POST,
            "/keys",
            &serde_json::json!({
                "name": "miroir bench search key",
                "actions": ["search"],
                "indexes": ["*"],
                "expiresAt": null,
            }),
        )
        .await?;
    match key["key"].as_str() {
        Some(value) if status == 201 => Ok(value.to_string()),
        _ => bail!("creating a search key answered {status}: {key}"),
    }
}

/// A process's resident set size (`VmRSS`) or peak (`VmHWM`) in bytes, from `/proc`.
pub fn rss_bytes(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with(field))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Samples a process's RSS every 20 ms, keeping the highest value seen since the last reset.
pub struct RssSampler {
    peak: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl RssSampler {
    /// Starts sampling `pid`.
    pub fn start(pid: u32) -> RssSampler {
        let peak = Arc::new(AtomicU64::new(0));
        let seen = peak.clone();
        let task = tokio::spawn(async move {
            loop {
                if let Some(rss) = rss_bytes(pid, "VmRSS:") {
                    seen.fetch_max(rss, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        RssSampler { peak, task }
    }

    /// The highest RSS since the last call, then starts over.
    pub fn take_peak(&self) -> u64 {
        self.peak.swap(0, Ordering::Relaxed)
    }
}

impl Drop for RssSampler {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `/stats` of one server (its index sizes), or `null` when it does not answer.
pub async fn stats(http: &Http) -> Value {
    match http.send(reqwest::Method::GET, "/stats", None).await {
        Ok((200, stats)) => json!({
            "databaseSize": stats["databaseSize"],
            "usedDatabaseSize": stats["usedDatabaseSize"],
            "numberOfDocuments": stats["indexes"][INDEX]["numberOfDocuments"],
            "rawDocumentDbSize": stats["indexes"][INDEX]["rawDocumentDbSize"],
        }),
        _ => Value::Null,
    }
}

/// Creates `count` tasks on one side (one-document additions to their own index, `bench_tasks`,
/// `concurrency` at a time) and measures how fast their `202`s come back: the cost of
/// journaling a task in the store, which is what differs between SQLite and Redis.
pub async fn create_tasks(http: &Http, count: usize, concurrency: usize) -> SideLoad {
    let mut side = SideLoad::default();
    let started = Instant::now();
    let outcomes: Vec<Option<u64>> = stream::iter(0..count)
        .map(|i| async move {
            let document = json!([{"id": i, "n": i}]);
            timed_post(
                http,
                "/indexes/bench_tasks/documents?primaryKey=id",
                &document,
                202,
            )
            .await
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    side.record(outcomes, started.elapsed());
    side
}
