//! Local Meilisearch processes for `miroir dev` and `miroir bench --spawn`: each on a free
//! 127.0.0.1 port, with its own data directory, killed when its handle is dropped.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use tokio::process::{Child, Command};

/// The `meilisearch` binary: `MEILI_BIN` if set, else one on `PATH`.
pub fn meilisearch_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("MEILI_BIN") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("meilisearch"))
        .find(|candidate| candidate.is_file())
}

/// A port nobody listens on right now.
pub fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// Waits (at most 30 s) until `url` answers `GET /health`.
pub async fn wait_healthy(url: &str) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    for _ in 0..600 {
        if let Ok(response) = client.get(format!("{url}/health")).send().await {
            if response.status().is_success() {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("{url} did not become healthy within 30 s")
}

/// Starts `binary` with its data (database, dumps, snapshots) under `dir/name*`, waits until
/// it is healthy, and answers the process and its URL.
pub async fn start_meilisearch(
    binary: &Path,
    dir: &Path,
    name: &str,
    master_key: &str,
) -> anyhow::Result<(Child, String)> {
    let port = free_port()?;
    let child = Command::new(binary)
        .arg("--db-path")
        .arg(dir.join(name))
        .arg("--http-addr")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--master-key")
        .arg(master_key)
        .arg("--no-analytics")
        .arg("--dump-dir")
        .arg(dir.join(format!("{name}-dumps")))
        .arg("--snapshot-dir")
        .arg(dir.join(format!("{name}-snapshots")))
        .kill_on_drop(true)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .with_context(|| format!("cannot start {}", binary.display()))?;
    let url = format!("http://127.0.0.1:{port}");
    wait_healthy(&url).await?;
    Ok((child, url))
}
