//! `miroir status [--watch]`: the fleet and the rebalance of a running Miroir. With `--watch`
//! the rebalance's moves are followed with a progress bar and an ETA until it is idle.

use std::time::Duration;

use anyhow::bail;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::Method;
use serde_json::Value;

use crate::admin::{AdminClient, Target};
use crate::node::node_table;

/// Flags of `miroir status`.
#[derive(Args, Debug)]
pub struct StatusArgs {
    #[command(flatten)]
    pub target: Target,
    /// Follow the rebalance until it is idle.
    #[arg(long)]
    pub watch: bool,
}

/// One line about the rebalance.
fn rebalance_line(progress: &Value) -> String {
    match progress["state"].as_str() {
        Some("idle") | None => "rebalance: idle".to_string(),
        Some(state) => format!(
            "rebalance: {state}, {}/{} moves, {} documents copied{}",
            progress["movesDone"],
            progress["movesTotal"],
            progress["documentsCopied"],
            progress["error"]
                .as_str()
                .map(|e| format!(", error: {e}"))
                .unwrap_or_default()
        ),
    }
}

/// Whether nothing is under way: the rebalance is idle and no node is still joining (a node
/// added is set up first, and its shards move to it only then: between the two the rebalance
/// reads idle).
fn settled(topology: &serde_json::Value) -> bool {
    topology["rebalance"]["state"] == "idle"
        && !topology["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|node| node["state"] == "joining")
}

/// Runs `miroir status`.
pub async fn run(args: StatusArgs) -> anyhow::Result<()> {
    let client = AdminClient::new(&args.target);
    let topology = client.call(Method::GET, "/_miroir/topology", None).await?;
    print!("{}", node_table(&topology));
    println!("{}", rebalance_line(&topology["rebalance"]));
    if !args.watch || settled(&topology) {
        return Ok(());
    }
    let bar = ProgressBar::new(topology["rebalance"]["movesTotal"].as_u64().unwrap_or(0));
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} moves, {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    loop {
        let topology = client.call(Method::GET, "/_miroir/topology", None).await?;
        let progress = &topology["rebalance"];
        if settled(&topology) {
            bar.finish_with_message("done");
            break;
        }
        if progress["state"] == "failed" {
            bar.abandon();
            bail!("{}", rebalance_line(progress));
        }
        bar.set_length(progress["movesTotal"].as_u64().unwrap_or(0));
        bar.set_position(progress["movesDone"].as_u64().unwrap_or(0));
        let eta = progress["etaSeconds"]
            .as_u64()
            .map(|s| format!(", about {s} s left"))
            .unwrap_or_default();
        bar.set_message(format!(
            "{} documents copied{eta}{}",
            progress["documentsCopied"],
            if progress["state"] == "paused" {
                " (paused)"
            } else if progress["state"] == "idle" {
                " (a node joining is being set up)"
            } else {
                ""
            }
        ));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let topology = client.call(Method::GET, "/_miroir/topology", None).await?;
    print!("{}", node_table(&topology));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_rebalance_line_says_where_it_stands() {
        assert_eq!(rebalance_line(&json!({"state": "idle"})), "rebalance: idle");
        let line = rebalance_line(
            &json!({"state": "running", "movesDone": 3, "movesTotal": 8, "documentsCopied": 1200}),
        );
        assert_eq!(line, "rebalance: running, 3/8 moves, 1200 documents copied");
        let failed = rebalance_line(
            &json!({"state": "failed", "movesDone": 1, "movesTotal": 8, "documentsCopied": 0, "error": "boom"}),
        );
        assert!(failed.ends_with("error: boom"));
    }

    #[test]
    fn a_joining_node_keeps_the_watch_going_while_the_rebalance_reads_idle() {
        let idle = json!({"state": "idle"});
        assert!(settled(
            &json!({"rebalance": idle, "nodes": [{"state": "active"}]})
        ));
        assert!(!settled(
            &json!({"rebalance": idle, "nodes": [{"state": "active"}, {"state": "joining"}]})
        ));
        assert!(!settled(
            &json!({"rebalance": {"state": "running"}, "nodes": []})
        ));
    }
}
