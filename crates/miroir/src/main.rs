//! The `miroir` binary.
//!
//! - `miroir serve`: the proxy. Every setting is a flag, a `MIROIR_*` environment variable, or
//!   a key of the TOML file given by `--config-file-path` (flag > environment > file > default),
//!   as Meilisearch does with its own settings.
//! - `miroir dev`: a local cluster in one command (N nodes plus Miroir), for trying Miroir out.
//! - `miroir bench`: Miroir against one Meilisearch with the same data: parity, latency,
//!   throughput, memory (see `docs/benchmarks.md`).
//! - `miroir verify [--repair]`: compares every shard's replicas through a running Miroir.
//! - `miroir node add|drain|remove|list`: changes and shows the fleet of a running Miroir.
//! - `miroir status [--watch]`: the fleet and its rebalance, followed until idle.

mod admin;
mod bench;
mod dev;
mod local;
mod logging;
mod node;
mod settings;
mod status;
mod verify;

use anyhow::Context;
use clap::{Parser, Subcommand};

use settings::{LogFormat, Serve, ServeArgs};

/// Miroir: one Meilisearch endpoint over a fleet of Meilisearch nodes.
#[derive(Parser)]
#[command(name = "miroir", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the proxy.
    Serve(ServeArgs),
    #[command(flatten)]
    Tool(Tool),
}

/// The subcommands other than `serve`, which log as text.
#[derive(Subcommand)]
enum Tool {
    /// Starts local nodes and Miroir over them, and prints the URL and key.
    Dev(dev::DevArgs),
    /// Measures Miroir against one Meilisearch holding the same data.
    Bench(bench::BenchArgs),
    /// Compares every shard's replicas through a running Miroir (and repairs them).
    Verify(verify::VerifyArgs),
    /// Adds, drains, removes and lists the nodes of a running Miroir's fleet.
    Node(node::NodeArgs),
    /// Shows the fleet and its rebalance (`--watch`: follows it until idle).
    Status(status::StatusArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    match cli.command {
        Command::Serve(args) => {
            let Serve {
                addr,
                config,
                log_format,
                otlp_endpoint,
            } = match settings::resolve(args) {
                Ok(resolved) => resolved,
                Err(e) => {
                    eprintln!("error: {e}");
                    std::process::exit(1);
                }
            };
            let _telemetry = match logging::init(log_format, otlp_endpoint.as_deref()) {
                Ok(telemetry) => telemetry,
                Err(e) => {
                    eprintln!("error: {e}");
                    std::process::exit(1);
                }
            };
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind(&addr)
                    .await
                    .with_context(|| format!("http_addr: cannot listen on {addr}"))?;
                match miroir_server::serve(listener, config).await {
                    Ok(()) => Ok(()),
                    Err(e) => {
                        eprintln!("error: {e}");
                        std::process::exit(1);
                    }
                }
            })
        }
        Command::Tool(tool) => {
            let _telemetry = logging::init(LogFormat::Human, None)?;
            // One line, as `serve` reports its errors.
            if let Err(e) = run_tool(tool, &runtime) {
                eprintln!("error: {e:#}");
                std::process::exit(1);
            }
            Ok(())
        }
    }
}

/// Runs a subcommand other than `serve`.
fn run_tool(tool: Tool, runtime: &tokio::runtime::Runtime) -> anyhow::Result<()> {
    match tool {
        Tool::Dev(args) => runtime.block_on(dev::run(args)),
        Tool::Bench(args) => runtime.block_on(bench::run(args)),
        Tool::Node(args) => runtime.block_on(node::run(args)),
        Tool::Status(args) => runtime.block_on(status::run(args)),
        Tool::Verify(args) => {
            let consistent = runtime.block_on(verify::run(args))?;
            if !consistent {
                std::process::exit(1);
            }
            Ok(())
        }
    }
}
