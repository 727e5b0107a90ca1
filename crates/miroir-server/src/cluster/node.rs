//! The node service: what Miroir asks of one Meilisearch node.
//!
//! [`NodeApi`] is the one operation Miroir needs from a node — send a request, get a status and
//! a body — so that fan-out, failover, write dispatch and the task poller can be unit-tested
//! against in-process fakes (a node that fails, stalls, answers late or answers garbage).
//! [`HttpNode`] is the real implementation over one shared `reqwest::Client`.
//!
//! [`Node`] is how the rest of Miroir holds a node: its configured id, its service, and the
//! total deadline every call gets (whatever the implementation), so a stalled node costs a
//! request at most that deadline and then counts as unavailable — a retryable error (see
//! [`Error::is_retryable`]).
//!
//! The node's API key is never logged and never part of an error message: errors name the node
//! by its configured id.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use bytes::Bytes;
use futures::future::BoxFuture;
use serde_json::Value;

use crate::error::{Error, Result};

/// A node's answer: status and raw body.
#[derive(Debug, Clone)]
pub(crate) struct NodeResponse {
    /// HTTP status.
    pub status: StatusCode,
    /// Raw body.
    pub body: Bytes,
}

impl NodeResponse {
    /// Parses the body as JSON, or fails as the node's error when the status is not a success.
    /// A body that is not JSON, or an error status without a Meilisearch error object, means
    /// the node is not answering as Meilisearch: unavailable (retryable).
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

/// Percent-encodes a value for a node request's path or query string.
pub(crate) fn url_encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// A request body toward a node.
#[derive(Debug, Clone)]
pub(crate) enum NodeBody {
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

/// One Meilisearch node, as a service: sends one request (`path` starts with `/` and may carry
/// a query string) and returns the node's status and body. Transport failures are
/// [`Error::NodeUnavailable`].
pub(crate) trait NodeApi: Send + Sync {
    /// Sends one request.
    fn send<'a>(
        &'a self,
        method: Method,
        path: &'a str,
        body: NodeBody,
    ) -> BoxFuture<'a, Result<NodeResponse>>;

    /// Sends one request with `key` instead of the node's configured key (the leaseholder's
    /// own key on the node, which a successor deletes: see `write::delivery`). A service
    /// without keys sends it as any other.
    fn send_as<'a>(
        &'a self,
        method: Method,
        path: &'a str,
        body: NodeBody,
        _key: &'a str,
    ) -> BoxFuture<'a, Result<NodeResponse>> {
        self.send(method, path, body)
    }
}

/// A node as Miroir holds it: id, service, and the deadline of every call.
#[derive(Clone)]
pub(crate) struct Node {
    /// The node's configured id.
    pub id: String,
    api: Arc<dyn NodeApi>,
    timeout: Duration,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node").field("id", &self.id).finish()
    }
}

impl Node {
    /// A node served by `api`, each call bounded by `timeout`.
    pub fn new(id: String, api: Arc<dyn NodeApi>, timeout: Duration) -> Node {
        Node { id, api, timeout }
    }

    /// The total deadline of one call.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Sends one request; past the deadline the node is unavailable.
    #[tracing::instrument(level = "debug", skip(self, body), fields(node = %self.id))]
    pub async fn send(&self, method: Method, path: &str, body: NodeBody) -> Result<NodeResponse> {
        self.within_deadline(self.api.send(method, path, body))
            .await
    }

    /// Runs one call under the node's deadline, and counts it in the metrics.
    async fn within_deadline(
        &self,
        call: BoxFuture<'_, Result<NodeResponse>>,
    ) -> Result<NodeResponse> {
        let started = std::time::Instant::now();
        let answer = match tokio::time::timeout(self.timeout, call).await {
            Ok(answer) => answer,
            Err(_) => Err(Error::NodeUnavailable {
                node: self.id.clone(),
                reason: format!("did not answer within {} ms", self.timeout.as_millis()),
            }),
        };
        crate::metrics::node_call(&self.id, answer.is_ok(), started.elapsed().as_secs_f64());
        answer
    }

    /// [`Node::send`] with `key` instead of the node's configured key.
    #[tracing::instrument(level = "debug", skip(self, body, key), fields(node = %self.id))]
    pub async fn send_as(
        &self,
        method: Method,
        path: &str,
        body: NodeBody,
        key: &str,
    ) -> Result<NodeResponse> {
        self.within_deadline(self.api.send_as(method, path, body, key))
            .await
    }

    /// [`Node::send_as`] with `key` when given, [`Node::send`] (the configured key) otherwise.
    pub async fn send_with(
        &self,
        method: Method,
        path: &str,
        body: NodeBody,
        key: Option<&str>,
    ) -> Result<NodeResponse> {
        match key {
            Some(key) => self.send_as(method, path, body, key).await,
            None => self.send(method, path, body).await,
        }
    }

    /// Sends a request and parses the JSON answer (node errors become [`Error::Node`]).
    pub async fn json(&self, method: Method, path: &str, body: NodeBody) -> Result<Value> {
        self.send(method, path, body).await?.json(&self.id)
    }
}

/// The real node service: HTTP through a shared connection pool, with the node's own key.
pub(crate) struct HttpNode {
    id: String,
    base_url: String,
    api_key: Option<String>,
    http: reqwest::Client,
}

impl HttpNode {
    /// A client for the node at `base_url` (no trailing slash needed).
    pub fn new(id: String, base_url: &str, api_key: Option<String>, http: reqwest::Client) -> Self {
        HttpNode {
            id,
            base_url: base_url.trim_end_matches('/').to_string(),
            api_key,
            http,
        }
    }

    /// The shared HTTP client: pooled connections, and a connect timeout (the total deadline
    /// is [`Node`]'s).
    pub fn http_client(connect_timeout: Duration) -> std::result::Result<reqwest::Client, Error> {
        reqwest::Client::builder()
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(64)
            .tcp_nodelay(true)
            .connect_timeout(connect_timeout)
            .build()
            .map_err(|e| Error::NodeUnavailable {
                node: "*".to_string(),
                reason: format!("the HTTP client could not be built: {e}"),
            })
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

impl NodeApi for HttpNode {
    fn send<'a>(
        &'a self,
        method: Method,
        path: &'a str,
        body: NodeBody,
    ) -> BoxFuture<'a, Result<NodeResponse>> {
        self.request(method, path, body, self.api_key.as_deref())
    }

    fn send_as<'a>(
        &'a self,
        method: Method,
        path: &'a str,
        body: NodeBody,
        key: &'a str,
    ) -> BoxFuture<'a, Result<NodeResponse>> {
        self.request(method, path, body, Some(key))
    }
}

impl HttpNode {
    fn request<'a>(
        &'a self,
        method: Method,
        path: &'a str,
        body: NodeBody,
        key: Option<&'a str>,
    ) -> BoxFuture<'a, Result<NodeResponse>> {
        Box::pin(async move {
            let url = format!("{}{}", self.base_url, path);
            let mut request = self.http.request(method, &url);
            if let Some(key) = key {
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
            let status = StatusCode::from_u16(response.status().as_u16()).map_err(|_| {
                Error::NodeUnavailable {
                    node: self.id.clone(),
                    reason: format!("answered an invalid HTTP status {}", response.status()),
                }
            })?;
            let body = response.bytes().await.map_err(|e| self.unavailable(&e))?;
            Ok(NodeResponse { status, body })
        })
    }
}
