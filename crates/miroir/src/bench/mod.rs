//! `miroir bench`: Miroir measured side by side with one Meilisearch holding the same data.
//!
//! One run loads the dataset into Miroir and into the reference (one after the other, so that
//! neither slows the other), compares every query's answers (parity), replays the queries at
//! each concurrency level alternating rounds between the two sides (so that both see the same
//! machine), and reads Miroir's memory and every node's index size. Choices:
//! - queries are sent with `showRankingScore`, so tied hits (ordered by internal ids, which
//!   differ between a shard and the whole) are recognised as ties, not as differences;
//! - `--spawn` runs Miroir as a child process (`miroir serve`, this binary) so its peak RSS is
//!   its own, read from `/proc`; nodes are real `meilisearch` processes when `MEILI_BIN` is
//!   set, in-process test nodes otherwise (test support: their speed says nothing about
//!   Meilisearch's);
//! - the whole result goes to `--out` as JSON; the terminal gets a table.

mod fleet;
mod measure;
mod workload;

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;
use serde_json::{json, Value};

use fleet::{Endpoint, Fleet, SpawnSpec};
use measure::{Http, RssSampler};
use workload::Dataset;

/// Flags of `miroir bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// The documents: a JSON array, NDJSON (`.ndjson`/`.jsonl`) or CSV file, optionally `.gz`.
    #[arg(long)]
    pub dataset: PathBuf,
    /// One JSON search body per line; without it, a default set is drawn from the dataset.
    #[arg(long)]
    pub queries: Option<PathBuf>,
    /// Size of the default query set.
    #[arg(long, default_value_t = 200)]
    pub query_count: usize,
    /// Index settings (a JSON file) applied on both sides before the documents.
    #[arg(long)]
    pub settings: Option<PathBuf>,
    /// Start the nodes, the reference and Miroir here (real `meilisearch` when `MEILI_BIN` is
    /// set, test nodes otherwise).
    #[arg(long)]
    pub spawn: bool,
    /// Miroir's URL (without `--spawn`).
    #[arg(long)]
    pub miroir_url: Option<String>,
    /// The reference Meilisearch's URL (without `--spawn`).
    #[arg(long)]
    pub reference_url: Option<String>,
    /// Key for Miroir (and for the reference unless `--reference-key` is given).
    #[arg(long, env = "MIROIR_MASTER_KEY", default_value = "masterKey")]
    pub master_key: String,
    /// Key for the reference.
    #[arg(long)]
    pub reference_key: Option<String>,
    /// Nodes behind Miroir (with `--spawn`).
    #[arg(long, default_value_t = 3)]
    pub nodes: usize,
    /// Replication factor (with `--spawn`).
    #[arg(long, default_value_t = 2)]
    pub replication_factor: usize,
    /// Shards per index (with `--spawn`).
    #[arg(long, default_value_t = 16)]
    pub shards: u32,
    /// Concurrency levels of the replay.
    #[arg(long, value_delimiter = ',', default_value = "1,8,64")]
    pub concurrency: Vec<usize>,
    /// Requests per side at each concurrency level.
    #[arg(long, default_value_t = 1000)]
    pub requests: usize,
    /// After the replay, send one NDJSON upload of this many megabytes (10^6 bytes) of the
    /// dataset's documents (fresh ids) to Miroir as a single request and report its peak RSS
    /// growth (with `--spawn`). 0 skips it.
    #[arg(long, default_value_t = 0)]
    pub upload_mb: usize,
    /// After the measures, add one more node through the admin API and time the rebalance
    /// that moves its share onto it (with `--spawn`).
    #[arg(long)]
    pub add_node: bool,
    /// Where to write the whole result as JSON.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Tasks to create on Miroir (one-document writes, 8 at a time) to measure task creation
    /// per second; 0 skips it.
    #[arg(long, default_value_t = 0)]
    pub task_creations: usize,
    /// With `--spawn`: the spawned Miroir's `task_store` (`redis://…`; default SQLite).
    #[arg(long)]
    pub task_store: Option<String>,
    /// After the replay, create a search-only API key on Miroir and replay the queries with
    /// it against the same replay with the master key, at each concurrency level (the cost of
    /// checking an API key on every search).
    #[arg(long)]
    pub search_key: bool,
}

fn megabytes(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn round3(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

/// Runs the benchmark and prints its table.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    if args.concurrency.is_empty() || args.concurrency.contains(&0) {
        bail!("concurrency: every level must be at least 1");
    }
    println!("Reading {}", args.dataset.display());
    let dataset = Dataset::load(&args.dataset)?;
    let queries = match &args.queries {
        Some(path) => workload::read_queries(path)?,
        None => workload::default_queries(&dataset, args.query_count),
    };
    let settings: Option<Value> = match &args.settings {
        Some(path) => Some(
            serde_json::from_str(
                &std::fs::read_to_string(path)
                    .with_context(|| format!("settings: cannot read {}", path.display()))?,
            )
            .with_context(|| format!("settings: {} is not JSON", path.display()))?,
        ),
        None => None,
    };
    let fleet = if args.spawn {
        let meilisearch = std::env::var_os("MEILI_BIN").map(PathBuf::from);
        println!(
            "Starting {} nodes, a reference node and Miroir ({})",
            args.nodes,
            if meilisearch.is_some() {
                "meilisearch from MEILI_BIN"
            } else {
                "test nodes: MEILI_BIN not set"
            }
        );
        Fleet::spawn(SpawnSpec {
            nodes: args.nodes,
            replication_factor: args.replication_factor,
            shards: args.shards,
            master_key: &args.master_key,
            meilisearch,
            spares: usize::from(args.add_node),
            task_store: args.task_store.clone(),
        })
        .await?
    } else {
        let (Some(miroir), Some(reference)) = (&args.miroir_url, &args.reference_url) else {
            bail!("give --spawn, or both --miroir-url and --reference-url");
        };
        Fleet::existing(
            Endpoint {
                url: miroir.trim_end_matches('/').to_string(),
                key: Some(args.master_key.clone()),
            },
            Endpoint {
                url: reference.trim_end_matches('/').to_string(),
                key: Some(
                    args.reference_key
                        .clone()
                        .unwrap_or_else(|| args.master_key.clone()),
                ),
            },
        )
    };
    let miroir = Http::new(fleet.miroir.clone());
    let reference = Http::new(fleet.reference.clone());
    let sampler = fleet.miroir_pid.map(RssSampler::start);

    let indexed_miroir = measure::load(&miroir, "miroir", &dataset, settings.as_ref()).await?;
    let indexed_reference =
        measure::load(&reference, "reference", &dataset, settings.as_ref()).await?;
    let indexing = |i: &measure::Indexing| {
        json!({
            "documents": i.documents,
            "seconds": round3(i.seconds),
            "documentsPerSecond": round3(i.documents as f64 / i.seconds.max(1e-9)),
        })
    };

    let parity = measure::parity(&miroir, &reference, &queries, &dataset.primary_key).await?;

    let bodies: Vec<Value> = queries.iter().map(measure::with_scores).collect();
    let mut latency = Vec::new();
    for &level in &args.concurrency {
        if let Some(sampler) = &sampler {
            sampler.take_peak();
        }
        let (m, r) = measure::replay(&miroir, &reference, &bodies, level, args.requests).await;
        let side = |s: &measure::SideLoad| {
            json!({
                "p50Ms": round3(s.percentile_ms(0.50)),
                "p95Ms": round3(s.percentile_ms(0.95)),
                "p99Ms": round3(s.percentile_ms(0.99)),
                "requestsPerSecond": round3(s.throughput()),
                "requests": s.latencies_us.len(),
                "errors": s.errors,
            })
        };
        latency.push(json!({
            "concurrency": level,
            "miroir": side(&m),
            "reference": side(&r),
            "p50AddedMs": round3(m.percentile_ms(0.50) - r.percentile_ms(0.50)),
            "throughputRatio": round3(m.throughput() / r.throughput().max(1e-9)),
            "miroirPeakRssMb": sampler.as_ref().map(|s| round3(megabytes(s.take_peak()))),
        }));
    }

    let search_key = if args.search_key {
        println!("Replaying with a search key against the master key");
        let key = measure::create_search_key(&miroir).await?;
        let with_key = Http::new(Endpoint {
            url: fleet.miroir.url.clone(),
            key: Some(key),
        });
        let mut levels = Vec::new();
        for &level in &args.concurrency {
            let (k, m) = measure::replay(&with_key, &miroir, &bodies, level, args.requests).await;
            levels.push(json!({
                "concurrency": level,
                "searchKeyRequestsPerSecond": round3(k.throughput()),
                "masterKeyRequestsPerSecond": round3(m.throughput()),
                "throughputRatio": round3(k.throughput() / m.throughput().max(1e-9)),
                "searchKeyP50Ms": round3(k.percentile_ms(0.50)),
                "masterKeyP50Ms": round3(m.percentile_ms(0.50)),
                "errors": k.errors + m.errors,
            }));
        }
        Value::Array(levels)
    } else {
        Value::Null
    };

    let task_creation = if args.task_creations > 0 {
        println!("Creating {} tasks on Miroir", args.task_creations);
        let created = measure::create_tasks(&miroir, args.task_creations, 8).await;
        json!({
            "tasks": created.latencies_us.len(),
            "errors": created.errors,
            "concurrency": 8,
            "tasksPerSecond": round3(created.throughput()),
            "p50Ms": round3(created.percentile_ms(0.50)),
            "p99Ms": round3(created.percentile_ms(0.99)),
        })
    } else {
        Value::Null
    };

    let upload = match (fleet.miroir_pid, &sampler) {
        (Some(pid), Some(sampler)) if args.upload_mb > 0 => {
            println!("Uploading {} MB to Miroir in one request", args.upload_mb);
            let payload = dataset.upload(args.upload_mb * 1_000_000);
            let upload =
                measure::upload(&miroir, pid, sampler, &dataset.primary_key, payload).await?;
            let growth = upload.rss_peak.saturating_sub(upload.rss_before);
            json!({
                "bytes": upload.bytes,
                "documents": upload.documents,
                "seconds": round3(upload.seconds),
                "rssBeforeMb": round3(megabytes(upload.rss_before)),
                "rssPeakMb": round3(megabytes(upload.rss_peak)),
                "rssGrowthMb": round3(megabytes(growth)),
                "growthPerUploadByte": round3(growth as f64 / upload.bytes.max(1) as f64),
            })
        }
        _ => Value::Null,
    };

    let rebalance = match fleet.spares.first() {
        Some(spare) => {
            println!("Adding a node and timing the rebalance");
            let added = measure::add_node(&miroir, spare).await?;
            println!("Loading the moved share from scratch on the reference node");
            let fresh = measure::fresh_load_of_share(
                spare,
                &reference,
                &dataset.primary_key,
                settings.as_ref(),
            )
            .await?;
            json!({
                "documentsMoved": added.documents,
                "seconds": round3(added.seconds),
                "servingSeconds": round3(added.serving_seconds),
                "documentsPerSecond": round3(added.documents as f64 / added.seconds.max(1e-9)),
                "freshLoadOfShareSeconds": round3(fresh),
                "moves": added.moves,
            })
        }
        None => Value::Null,
    };

    let mut nodes = Vec::new();
    for node in &fleet.nodes {
        nodes.push(
            json!({"url": node.url, "stats": measure::stats(&Http::new(node.clone())).await}),
        );
    }
    let report = json!({
        "date": time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        "machine": {"cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)},
        "setup": {
            "backend": fleet.backend,
            "spawned": args.spawn,
            "nodes": if args.spawn { json!(args.nodes) } else { Value::Null },
            "replicationFactor": if args.spawn { json!(args.replication_factor) } else { Value::Null },
            "shards": if args.spawn { json!(args.shards) } else { Value::Null },
            "taskStore": if args.spawn { json!(args.task_store.as_deref().unwrap_or("sqlite")) } else { Value::Null },
            "dataset": args.dataset.display().to_string(),
            "documents": dataset.documents.len(),
            "datasetBytes": dataset.bytes,
            "primaryKey": dataset.primary_key,
            "queries": queries.len(),
            "requestsPerLevel": args.requests,
        },
        "indexing": {"miroir": indexing(&indexed_miroir), "reference": indexing(&indexed_reference)},
        "parity": {
            "queries": parity.queries,
            "exactOrderMatches": parity.exact,
            "exactOrderRate": round3(parity.exact as f64 / parity.queries.max(1) as f64),
            "meanTop10Overlap": round3(parity.top10_overlap),
            "meanNdcg10": round3(parity.ndcg10),
            "totalsMismatches": parity.totals_mismatches,
            "facetsMismatches": parity.facets_mismatches,
            "differing": parity.differing,
        },
        "latency": latency,
        "searchKey": search_key,
        "taskCreation": task_creation,
        "upload": upload,
        "rebalance": rebalance,
        "memory": {
            "miroirPeakRssMb": fleet.miroir_pid.and_then(|pid| measure::rss_bytes(pid, "VmHWM:")).map(|b| round3(megabytes(b))),
            "nodes": nodes,
            "reference": measure::stats(&reference).await,
        },
    });
    print_table(&report);
    if let Some(out) = &args.out {
        std::fs::write(out, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("out: cannot write {}", out.display()))?;
        println!("Result written to {}", out.display());
    }
    Ok(())
}

/// A JSON value as table text (strings unquoted, missing values as `-`).
fn cell(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => "-".to_string(),
        other => other.to_string(),
    }
}

fn print_table(report: &Value) {
    let setup = &report["setup"];
    println!();
    println!(
        "{} documents, {} queries, backend: {}",
        cell(&setup["documents"]),
        cell(&setup["queries"]),
        cell(&setup["backend"])
    );
    println!("{:<22} {:>12} {:>12}", "indexing", "miroir", "reference");
    for key in ["seconds", "documentsPerSecond"] {
        println!(
            "{:<22} {:>12} {:>12}",
            key,
            cell(&report["indexing"]["miroir"][key]),
            cell(&report["indexing"]["reference"][key])
        );
    }
    let parity = &report["parity"];
    println!(
        "parity: {}/{} exact, top-10 overlap {}, NDCG@10 {}, totals differ {}, facets differ {}",
        cell(&parity["exactOrderMatches"]),
        cell(&parity["queries"]),
        cell(&parity["meanTop10Overlap"]),
        cell(&parity["meanNdcg10"]),
        cell(&parity["totalsMismatches"]),
        cell(&parity["facetsMismatches"])
    );
    for differing in parity["differing"]
        .as_array()
        .into_iter()
        .flatten()
        .take(10)
    {
        println!(
            "  differs: {} {}",
            differing["query"], differing["differences"]
        );
    }
    println!(
        "{:>5} {:>8} {:>8} {:>8} {:>9} | {:>8} {:>8} {:>8} {:>9} | {:>8} {:>6} {:>8}",
        "conc",
        "m p50",
        "m p95",
        "m p99",
        "m req/s",
        "r p50",
        "r p95",
        "r p99",
        "r req/s",
        "+p50 ms",
        "thr x",
        "RSS MB"
    );
    for level in report["latency"].as_array().into_iter().flatten() {
        let (m, r) = (&level["miroir"], &level["reference"]);
        println!(
            "{:>5} {:>8} {:>8} {:>8} {:>9} | {:>8} {:>8} {:>8} {:>9} | {:>8} {:>6} {:>8}",
            cell(&level["concurrency"]),
            cell(&m["p50Ms"]),
            cell(&m["p95Ms"]),
            cell(&m["p99Ms"]),
            cell(&m["requestsPerSecond"]),
            cell(&r["p50Ms"]),
            cell(&r["p95Ms"]),
            cell(&r["p99Ms"]),
            cell(&r["requestsPerSecond"]),
            cell(&level["p50AddedMs"]),
            cell(&level["throughputRatio"]),
            cell(&level["miroirPeakRssMb"])
        );
    }
    println!(
        "Miroir peak RSS: {} MB",
        cell(&report["memory"]["miroirPeakRssMb"])
    );
    for level in report["searchKey"].as_array().into_iter().flatten() {
        println!(
            "Search key vs master key at concurrency {}: {} vs {} req/s ({}x), p50 {} vs {} ms, {} errors",
            cell(&level["concurrency"]),
            cell(&level["searchKeyRequestsPerSecond"]),
            cell(&level["masterKeyRequestsPerSecond"]),
            cell(&level["throughputRatio"]),
            cell(&level["searchKeyP50Ms"]),
            cell(&level["masterKeyP50Ms"]),
            cell(&level["errors"])
        );
    }
    let created = &report["taskCreation"];
    if !created.is_null() {
        println!(
            "Task creation ({} store): {} tasks at concurrency {}, {} tasks/s, p50 {} ms, p99 {} ms, {} errors",
            cell(&report["setup"]["taskStore"]),
            cell(&created["tasks"]),
            cell(&created["concurrency"]),
            cell(&created["tasksPerSecond"]),
            cell(&created["p50Ms"]),
            cell(&created["p99Ms"]),
            cell(&created["errors"])
        );
    }
    let upload = &report["upload"];
    if !upload.is_null() {
        println!(
            "Upload of {} bytes ({} documents) in {} s: RSS {} MB before, {} MB peak, growth {} MB = {}x the upload",
            cell(&upload["bytes"]),
            cell(&upload["documents"]),
            cell(&upload["seconds"]),
            cell(&upload["rssBeforeMb"]),
            cell(&upload["rssPeakMb"]),
            cell(&upload["rssGrowthMb"]),
            cell(&upload["growthPerUploadByte"])
        );
    }
    let rebalance = &report["rebalance"];
    if !rebalance.is_null() {
        println!(
            "Adding a node: {} documents moved in {} moves, {} s = {} documents/s, served by the new owners after {} s (a fresh load of that share on one node: {} s)",
            cell(&rebalance["documentsMoved"]),
            cell(&rebalance["moves"]),
            cell(&rebalance["seconds"]),
            cell(&rebalance["documentsPerSecond"]),
            cell(&rebalance["servingSeconds"]),
            cell(&rebalance["freshLoadOfShareSeconds"])
        );
    }
    for node in report["memory"]["nodes"].as_array().into_iter().flatten() {
        println!(
            "node {}: {} documents, database {} bytes",
            cell(&node["url"]),
            cell(&node["stats"]["numberOfDocuments"]),
            cell(&node["stats"]["databaseSize"])
        );
    }
}
