//! The server's one error type, and its single mapping to Meilisearch error objects.
//!
//! Every error a client sees is `{message, code, type, link}` with Meilisearch's HTTP status.
//! Errors a node returned are passed through unchanged ([`Error::Node`]): the node *is* a
//! Meilisearch, so its object is already the right answer for the client.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

/// Meilisearch's error `type`s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    /// The request was wrong.
    InvalidRequest,
    /// Miroir or a node failed.
    Internal,
    /// Authentication failed.
    Auth,
    /// Something is not available right now.
    System,
}

impl ErrorType {
    fn as_str(self) -> &'static str {
        match self {
            ErrorType::InvalidRequest => "invalid_request",
            ErrorType::Internal => "internal",
            ErrorType::Auth => "auth",
            ErrorType::System => "system",
        }
    }
}

/// A fully described Meilisearch-shaped error.
#[derive(Debug, Clone, PartialEq)]
pub struct MeiliError {
    /// HTTP status.
    pub status: StatusCode,
    /// Human message.
    pub message: String,
    /// Machine code (`index_not_found`, …).
    pub code: String,
    /// Error type.
    pub kind: ErrorType,
}

impl MeiliError {
    /// Builds an error object.
    pub fn new(
        status: StatusCode,
        code: impl Into<String>,
        kind: ErrorType,
        message: impl Into<String>,
    ) -> MeiliError {
        MeiliError {
            status,
            message: message.into(),
            code: code.into(),
            kind,
        }
    }

    /// A 400 `invalid_request` error with the given code.
    pub fn invalid(code: &str, message: impl Into<String>) -> MeiliError {
        MeiliError::new(
            StatusCode::BAD_REQUEST,
            code,
            ErrorType::InvalidRequest,
            message,
        )
    }

    /// The JSON object Meilisearch sends (also stored in failed tasks).
    pub fn to_json(&self) -> Value {
        json!({
            "message": self.message,
            "code": self.code,
            "type": self.kind.as_str(),
            "link": format!("https://docs.meilisearch.com/errors#{}", self.code),
        })
    }
}

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
}

/// The server's result type.
pub type Result<T> = std::result::Result<T, Error>;

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
            Error::Store(e) => {
                let e = MeiliError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    ErrorType::Internal,
                    e.to_string(),
                );
                (e.status, e.to_json())
            }
            Error::Core(e) => {
                let e = core_error(e);
                (e.status, e.to_json())
            }
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
pub fn core_error(error: &miroir_core::Error) -> MeiliError {
    use miroir_core::Error as C;
    let code = match error {
        C::MissingPayload(_) => "missing_payload",
        C::MalformedPayload { .. } => "malformed_payload",
        C::NoPrimaryKeyCandidate => "index_primary_key_no_candidate_found",
        C::MultiplePrimaryKeyCandidates(_) => "index_primary_key_multiple_candidates_found",
        C::MissingDocumentId { .. } => "missing_document_id",
        C::InvalidDocumentId(_) => "invalid_document_id",
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
        let (status, body) = self.to_meili();
        if status.is_server_error() {
            tracing::warn!(%status, error = %self, "request failed");
        }
        (status, axum::Json(body)).into_response()
    }
}

/// `index_not_found` for `uid`.
pub fn index_not_found(uid: &str) -> MeiliError {
    MeiliError::new(
        StatusCode::NOT_FOUND,
        "index_not_found",
        ErrorType::InvalidRequest,
        format!("Index `{uid}` not found."),
    )
}

/// `index_already_exists` for `uid`.
pub fn index_already_exists(uid: &str) -> MeiliError {
    MeiliError::new(
        StatusCode::CONFLICT,
        "index_already_exists",
        ErrorType::InvalidRequest,
        format!("Index `{uid}` already exists."),
    )
}

/// `bad_request` for a body Miroir cannot read.
pub fn bad_request(message: impl Into<String>) -> MeiliError {
    MeiliError::invalid("bad_request", message)
}

/// `invalid_content_type` (415) or, without any `Content-Type`, `missing_content_type` (415).
pub fn content_type_error(found: Option<&str>, accepted: &str) -> MeiliError {
    match found {
        Some(found) => MeiliError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid_content_type",
            ErrorType::InvalidRequest,
            format!("The Content-Type `{found}` is invalid. Accepted values for the Content-Type header are: {accepted}"),
        ),
        None => MeiliError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "missing_content_type",
            ErrorType::InvalidRequest,
            format!("A Content-Type header is missing. Accepted values for the Content-Type header are: {accepted}"),
        ),
    }
}
