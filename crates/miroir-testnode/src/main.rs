//! `miroir-testnode`: runs the Meilisearch-compatible test node as a process, accepting the
//! command line of `meilisearch` it needs to stand in for (test support, not a product).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

/// A Meilisearch-compatible in-memory test node (test support, not a product).
#[derive(Debug, Parser)]
#[command(name = "miroir-testnode", version)]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "MEILI_HTTP_ADDR", default_value = "127.0.0.1:7700")]
    http_addr: SocketAddr,
    /// Master key required on every route but `/health`.
    #[arg(long, env = "MEILI_MASTER_KEY")]
    master_key: Option<String>,
    /// Where the node persists its state (in memory only without it).
    #[arg(long)]
    db_path: Option<PathBuf>,
    /// Accepted and ignored.
    #[arg(long)]
    env: Option<String>,
    /// Accepted and ignored.
    #[arg(long)]
    no_analytics: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let listener = tokio::net::TcpListener::bind(args.http_addr).await?;
    tracing::info!(
        "miroir-testnode (in-memory Meilisearch stand-in for tests) listening on http://{}",
        listener.local_addr()?
    );
    miroir_testnode::serve(
        listener,
        miroir_testnode::Config {
            master_key: args.master_key,
            data_dir: args.db_path,
        },
    )
    .await?;
    Ok(())
}
