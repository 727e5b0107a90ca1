//! A client of a running Miroir's admin API (`/_miroir/…`), shared by the commands that
//! talk to one (`verify`, `node`): where Miroir is and its master key, from flags or
//! `MIROIR_URL` / `MIROIR_MASTER_KEY`.

use anyhow::{bail, Context};
use clap::Args;
use reqwest::Method;
use serde_json::Value;

/// How to reach a running Miroir.
#[derive(Args, Debug, Clone)]
pub struct Target {
    /// Miroir's URL.
    #[arg(long, env = "MIROIR_URL", default_value = "http://127.0.0.1:7700")]
    pub url: String,
    /// Miroir's master key.
    #[arg(long, env = "MIROIR_MASTER_KEY")]
    pub master_key: Option<String>,
}

/// Sends JSON requests to a running Miroir.
pub struct AdminClient {
    base: String,
    key: Option<String>,
    http: reqwest::Client,
}

impl AdminClient {
    /// A client of `target`.
    pub fn new(target: &Target) -> AdminClient {
        AdminClient {
            base: target.url.trim_end_matches('/').to_string(),
            key: target.master_key.clone(),
            http: reqwest::Client::new(),
        }
    }

    /// Sends one request; a status that is not a success is an error carrying Miroir's
    /// error message.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(key) = &self.key {
            request = request.bearer_auth(key);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("Miroir does not answer at {}", self.base))?;
        let status = response.status();
        let value: Value = response.json().await.context("Miroir answered garbage")?;
        if !status.is_success() {
            match (value["message"].as_str(), value["code"].as_str()) {
                (Some(message), Some(code)) => {
                    bail!("Miroir answered {status}: {message} ({code})")
                }
                (Some(message), None) => bail!("Miroir answered {status}: {message}"),
                _ => bail!("Miroir answered {status}: {value}"),
            }
        }
        Ok(value)
    }
}
