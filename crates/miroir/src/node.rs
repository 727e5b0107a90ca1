//! `miroir node …`: changes and shows the fleet of a running Miroir through its admin API.
//!
//! - `miroir node add ID URL [--api-key K] [--zone Z] [--weight W]`: `POST /_miroir/nodes`;
//!   the node joins once Miroir set its indexes up;
//! - `miroir node drain ID`: `POST /_miroir/nodes/{id}/drain`; its shards move away;
//! - `miroir node remove ID [--force]`: `DELETE /_miroir/nodes/{id}` (a drained node, or with
//!   `--force` a dead one);
//! - `miroir node list`: the topology (`GET /_miroir/topology`), one line per node.

use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{json, Value};

use crate::admin::{AdminClient, Target};

/// Flags of `miroir node`.
#[derive(Args, Debug)]
pub struct NodeArgs {
    #[command(flatten)]
    pub target: Target,
    #[command(subcommand)]
    pub command: NodeCommand,
}

/// What `miroir node` does.
#[derive(Subcommand, Debug)]
pub enum NodeCommand {
    /// Adds a node to the fleet (it must be empty and run the fleet's Meilisearch version).
    Add {
        /// The node's id (ASCII letters, digits, `-`, `_`).
        id: String,
        /// The node's URL.
        url: String,
        /// The key Miroir uses toward the node.
        #[arg(long, env = "MIROIR_NODE_API_KEY")]
        api_key: Option<String>,
        /// The node's failure domain: replicas go to distinct zones first.
        #[arg(long)]
        zone: Option<String>,
        /// The node's relative capacity.
        #[arg(long)]
        weight: Option<f64>,
    },
    /// Moves a node's shards away (it serves them until they have).
    Drain {
        /// The node's id.
        id: String,
    },
    /// Removes a drained node (or, with `--force`, a dead one: its shards are copied again
    /// from the surviving replicas).
    Remove {
        /// The node's id.
        id: String,
        /// Remove a node that still holds shards (it must be dead).
        #[arg(long)]
        force: bool,
    },
    /// Lists the fleet's nodes.
    List,
}

/// Runs `miroir node`.
pub async fn run(args: NodeArgs) -> anyhow::Result<()> {
    let client = AdminClient::new(&args.target);
    match args.command {
        NodeCommand::Add {
            id,
            url,
            api_key,
            zone,
            weight,
        } => {
            let mut body = json!({"id": id, "url": url});
            if let Some(key) = api_key {
                body["apiKey"] = json!(key);
            }
            if let Some(zone) = zone {
                body["zone"] = json!(zone);
            }
            if let Some(weight) = weight {
                body["weight"] = json!(weight);
            }
            let answer = client
                .call(Method::POST, "/_miroir/nodes", Some(body))
                .await?;
            println!(
                "node {} added ({}), topology epoch {}",
                answer["node"]["id"].as_str().unwrap_or("?"),
                answer["node"]["state"].as_str().unwrap_or("?"),
                answer["epoch"]
            );
        }
        NodeCommand::Drain { id } => {
            let answer = client
                .call(
                    Method::POST,
                    &format!("/_miroir/nodes/{id}/drain"),
                    Some(json!({})),
                )
                .await?;
            println!(
                "node {id} draining, topology epoch {}; follow with `miroir status --watch`",
                answer["epoch"]
            );
        }
        NodeCommand::Remove { id, force } => {
            let path = if force {
                format!("/_miroir/nodes/{id}?force=true")
            } else {
                format!("/_miroir/nodes/{id}")
            };
            let answer = client.call(Method::DELETE, &path, None).await?;
            println!("node {id} removed, topology epoch {}", answer["epoch"]);
        }
        NodeCommand::List => {
            let topology = client.call(Method::GET, "/_miroir/topology", None).await?;
            print!("{}", node_table(&topology));
        }
    }
    Ok(())
}

/// The topology as text: a header line, then one line per node.
pub fn node_table(topology: &Value) -> String {
    let mut out = format!(
        "epoch {}, replication factor {}\n{:<16} {:<9} {:>6} {:>6} {:<12} URL\n",
        topology["epoch"], topology["replicationFactor"], "ID", "STATE", "SHARDS", "WEIGHT", "ZONE"
    );
    for node in topology["nodes"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "{:<16} {:<9} {:>6} {:>6} {:<12} {}\n",
            node["id"].as_str().unwrap_or("?"),
            node["state"].as_str().unwrap_or("?"),
            node["shards"],
            node["weight"],
            node["zone"].as_str().unwrap_or("-"),
            node["url"].as_str().unwrap_or("?"),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_node_table_has_one_line_per_node() {
        let topology = json!({
            "epoch": 2,
            "replicationFactor": 2,
            "nodes": [
                {"id": "n0", "url": "http://a", "zone": null, "weight": 1.0, "state": "active", "shards": 8},
                {"id": "n9", "url": "http://b", "zone": "z9", "weight": 2.0, "state": "joining", "shards": 0},
            ],
        });
        let table = node_table(&topology);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 4, "{table}");
        assert!(lines[0].contains("epoch 2, replication factor 2"));
        assert!(
            lines[2].starts_with("n0") && lines[2].contains("active") && lines[2].contains(" 8 ")
        );
        assert!(
            lines[3].contains("joining")
                && lines[3].contains("z9")
                && lines[3].ends_with("http://b")
        );
    }
}
