//! The server's one error type, and its single mapping to Meilisearch error objects (the HTTP
//! edge: [`IntoResponse`]).
//!
//! Every error a client sees is `{message, code, type, link}` with Meilisearch's HTTP status.
//! Errors a node returned are passed through unchanged ([`Error::Node`]): the node *is* a
//! Meilisearch, so its object is already the right answer for the client. Whether an error is
//! worth trying again on another replica is [`Error::is_retryable`].

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

pub use crate::wire::error::{ErrorType, MeiliError};

/// Everything the server can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A Meilisearch-shaped error decided by Miroir.
    #[error("{}", .0.message)]
    Meili(MeiliError),
    /// An error object a node answered with, and its status.
    #[error("node error: {body}")]
    Node {
        /// The node's HTTP status.
        status: StatusCode,
        /// The node's error object.
        body: Value,
    },
    /// A node could not be reached or answered something that is not Meilisearch.
    #[error("node `{node}` is unavailable: {reason}")]
    NodeUnavailable {
        /// The node's configured id (never its URL's credentials or its key).
        node: String,
        /// What went wrong.
        reason: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] miroir_store::Error),
    /// The core logic rejected something.
    #[error(transparent)]
    Core(#[from] miroir_core::Error),
    /// No such route (an unknown settings sub-route, say): Meilisearch answers a bare 404
    /// without a body.
    #[error("no such route")]
    RouteNotFound,
    /// The metrics recorder could not be installed (another one was, in this process).
    #[error("metrics: {0}")]
    Metrics(String),
}

/// The server's result type.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Whether another replica may succeed where this failed: a node that could not be reached,
    /// timed out or answered something that is not Meilisearch. A node's own error object is
    /// deterministic (every replica holds the same data under the same settings), so it is not.
    pub(crate) fn is_retryable(&self) -> bool {
        matches!(self, Error::NodeUnavailable { .. })
    }
}

impl Error {
    /// The Meilisearch error object and status for this error.
    pub fn to_meili(&self) -> (StatusCode, Value) {
        match self {
            Error::Meili(e) => (e.status, e.to_json()),
            Error::Node { status, body } => (*status, hide_marker(body.clone())),
            Error::NodeUnavailable { .. } => {
                let e = MeiliError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "miroir_node_unavailable",
                    ErrorType::System,
                    self.to_string(),
                );
                (e.status, e.to_json())
            }
            Error::Store(miroir_store::Error::Fenced) => {
                // A process resumed after a pause past its lease, for the moment it takes to
                // stop its loops: the client retries (or reaches another process).
                let e = MeiliError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "miroir_lease_lost",
                    ErrorType::System,
                    "This Miroir process lost its lease while it was paused and is handing over; retry the request.".to_string(),
                );
                (e.status, e.to_json())
            }
            Error::Store(_) | Error::Metrics(_) => {
                let e = MeiliError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    ErrorType::Internal,
                    self.to_string(),
                );
                (e.status, e.to_json())
            }
            Error::Core(e) => {
                let e = core_error(e);
                (e.status, e.to_json())
            }
            Error::RouteNotFound => (StatusCode::NOT_FOUND, Value::Null),
        }
    }
}

/// Removes the shard marker from a node's error message: nodes list `_miroir` among the
/// filterable attributes, a client must not see it (nor learn that it exists).
fn hide_marker(mut body: Value) -> Value {
    let marker = format!("`{}`", miroir_core::marker::MARKER_FIELD);
    if let Some(message) = body.get("message").and_then(Value::as_str) {
        if message.contains(&marker) {
            let cleaned = message
                .replace(
                    &format!("Available filterable attribute patterns are: {marker}."),
                    "This index does not have configured filterable attributes.",
                )
                .replace(&format!("{marker}, "), "")
                .replace(&format!(", {marker}"), "");
            body["message"] = Value::String(cleaned);
        }
    }
    body
}

/// Maps the core crate's errors to Meilisearch's codes and statuses.
pub(crate) fn core_error(error: &miroir_core::Error) -> MeiliError {
    use miroir_core::Error as C;
    let code = match error {
        C::MissingPayload(_) => "missing_payload",
        C::MalformedPayload { .. } => "malformed_payload",
        C::NoPrimaryKeyCandidate => "index_primary_key_no_candidate_found",
        C::MultiplePrimaryKeyCandidates(_) => "index_primary_key_multiple_candidates_found",
        C::MissingDocumentId { .. } => "missing_document_id",
        C::InvalidDocumentId(_) => "invalid_document_id",
        C::ReservedAttribute(_) => "miroir_reserved_attribute",
        C::InvalidShardCount(_)
        | C::ReplicationFactor { .. }
        | C::DuplicateNode(_)
        | C::InvalidWeight(_) => "bad_request",
    };
    MeiliError::invalid(code, error.to_string())
}

impl From<MeiliError> for Error {
    fn from(e: MeiliError) -> Error {
        Error::Meili(e)
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        if matches!(self, Error::RouteNotFound) {
            return StatusCode::NOT_FOUND.into_response();
        }
        let (status, body) = self.to_meili();
        if status.is_server_error() {
            tracing::warn!(%status, error = %self, "request failed");
        }
        (status, axum::Json(body)).into_response()
    }
}
