//! `miroir verify [--repair]`: asks a running Miroir to compare every shard's replicas
//! (`POST /_miroir/verify`), prints what differs, and with `--repair` has it repaired, waits
//! for the repair and verifies again. Exits with 0 when every replica agrees, 1 otherwise.

use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Args;
use serde_json::{json, Value};

use crate::admin::{AdminClient, Target};

/// Flags of `miroir verify`.
#[derive(Args, Debug)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub target: Target,
    /// Repair what differs (through Miroir's write journal).
    #[arg(long)]
    pub repair: bool,
    /// Only these indexes (repeat the flag; default: every index).
    #[arg(long = "index")]
    pub indexes: Vec<String>,
}

/// Runs the verification; returns whether every replica agrees.
pub async fn run(args: VerifyArgs) -> anyhow::Result<bool> {
    let client = AdminClient::new(&args.target);
    let call = |method: reqwest::Method, path: String, body: Option<Value>| {
        let client = &client;
        async move { client.call(method, &path, body).await }
    };
    let mut body = json!({"repair": args.repair});
    if !args.indexes.is_empty() {
        body["indexUids"] = json!(args.indexes);
    }
    let report = call(
        reqwest::Method::POST,
        "/_miroir/verify".to_string(),
        Some(body),
    )
    .await?;
    print_report(&report);
    if report["consistent"] == true || !args.repair {
        return Ok(report["consistent"] == true);
    }
    let deadline = Instant::now() + Duration::from_secs(600);
    for uid in report["repairTasks"].as_array().into_iter().flatten() {
        loop {
            let task = call(reqwest::Method::GET, format!("/tasks/{uid}"), None).await?;
            match task["status"].as_str() {
                Some("succeeded") => break,
                Some("failed" | "canceled") => bail!("repair task {uid} did not succeed: {task}"),
                _ if Instant::now() > deadline => bail!("repair task {uid} did not finish"),
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        println!("repair task {uid} succeeded");
    }
    let mut again = json!({});
    if !args.indexes.is_empty() {
        again["indexUids"] = json!(args.indexes);
    }
    let after = call(
        reqwest::Method::POST,
        "/_miroir/verify".to_string(),
        Some(again),
    )
    .await?;
    println!("after the repair:");
    print_report(&after);
    Ok(after["consistent"] == true)
}

fn print_report(report: &Value) {
    for index in report["indexes"].as_array().into_iter().flatten() {
        let divergent = index["divergentShards"]
            .as_array()
            .map_or(0, |shards| shards.len());
        println!(
            "index {}: {} shards, {} documents, {} divergent shard(s)",
            index["uid"].as_str().unwrap_or("?"),
            index["shards"],
            index["documents"],
            divergent
        );
        for shard in index["divergentShards"].as_array().into_iter().flatten() {
            println!(
                "  shard {}: missing {} different {}",
                shard["shard"], shard["missing"], shard["different"]
            );
        }
        for skipped in index["skipped"].as_array().into_iter().flatten() {
            println!(
                "  skipped node {} ({})",
                skipped["node"].as_str().unwrap_or("?"),
                skipped["reason"].as_str().unwrap_or("?")
            );
        }
    }
    println!(
        "{}",
        if report["consistent"] == true {
            "every replica agrees"
        } else {
            "replicas differ"
        }
    );
}
