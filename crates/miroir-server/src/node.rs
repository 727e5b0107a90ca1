//! The client Miroir uses toward one Meilisearch node.
//!
//! One shared `reqwest::Client` (a connection pool per node) for every node. Each request carries
//! the node's own API key from the configuration; the key is never logged and never part of an
//! error message (errors name the node by its configured id).

use std::time::Duration;

use axum::http::{Method, StatusCode};
use bytes::Bytes;
use serde_json::Value;

use crate::error::{Error, Result};

/// How one node is reached.
#[derive(Clone)]
pub struct NodeClient {
    /// The node's configured id.
    pub id: String,
    base_url: String,
    api_key: Option<String>,
    http: reqwest::Client,
}

impl std::fmt::Debug for NodeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The API key stays out of debug output on purpose.
        f.debug_struct("NodeClient")
            .field("id", &self.id)
            .field("base_url", &self.base_url)
            .finish()
    }
}

/// A node's answer: status and raw body.
#[derive(Debug, Clone)]
pub struct NodeResponse {
    /// HTTP status.
    pub status: StatusCode,
    /// Raw body.
    pub body: Bytes,
}

impl NodeResponse {
    /// Parses the body as JSON, or fails as the node's error when the status is not a success.
    pub fn json(&self, node: &str) -> Result<Value> {
        let value: Value = if self.body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&self.body).map_err(|e| Error::NodeUnavailable {
                node: node.to_string(),
                reason: format!("answered a body that is not JSON: {e}"),
            })?
        };
        if self.status.is_success() {
            Ok(value)
        } else if value.get("code").is_some() {
            Err(Error::Node {
                status: self.status,
                body: value,
            })
        } else {
            Err(Error::NodeUnavailable {
                node: node.to_string(),
                reason: format!("answered HTTP {}", self.status),
            })
        }
    }
}

/// A request body toward a node.
pub enum NodeBody {
    /// No body.
    Empty,
    /// A JSON value.
    Json(Value),
    /// Raw bytes with a content type (NDJSON document batches).
    Raw {
        /// `Content-Type` header value.
        content_type: &'static str,
        /// The bytes.
        bytes: Bytes,
    },
}

impl NodeClient {
    /// A client for the node at `base_url` (no trailing slash needed).
    pub fn new(id: String, base_url: &str, api_key: Option<String>, http: reqwest::Client) -> Self {
        NodeClient {
            id,
            base_url: base_url.trim_end_matches('/').to_string(),
            api_key,
            http,
        }
    }

    /// Builds the shared HTTP client with sensible pool settings.
    pub fn http_client() -> reqwest::Client {
        reqwest::Client::builder()
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(64)
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_default()
    }

    /// Sends one request. `path` starts with `/` and may carry a query string.
    pub async fn send(&self, method: Method, path: &str, body: NodeBody) -> Result<NodeResponse> {
        let url = format!("{}{}", self.base_url, path);
        let mut request = self.http.request(method, &url);
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        request = match body {
            NodeBody::Empty => request,
            NodeBody::Json(value) => request.json(&value),
            NodeBody::Raw {
                content_type,
                bytes,
            } => request
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(bytes),
        };
        let response = request.send().await.map_err(|e| self.unavailable(&e))?;
        let status = StatusCode::from_u16(response.status().as_u16())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = response.bytes().await.map_err(|e| self.unavailable(&e))?;
        Ok(NodeResponse { status, body })
    }

    /// Sends a request and parses the JSON answer (node errors become [`Error::Node`]).
    pub async fn json(&self, method: Method, path: &str, body: NodeBody) -> Result<Value> {
        self.send(method, path, body).await?.json(&self.id)
    }

    fn unavailable(&self, error: &reqwest::Error) -> Error {
        // reqwest's message includes the URL; keep only the kind of failure.
        let reason = if error.is_connect() {
            "connection failed"
        } else if error.is_timeout() {
            "timed out"
        } else if error.is_body() || error.is_decode() {
            "broken response body"
        } else {
            "request failed"
        };
        Error::NodeUnavailable {
            node: self.id.clone(),
            reason: reason.to_string(),
        }
    }
}
