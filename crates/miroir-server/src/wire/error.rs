//! Meilisearch's error object — `{message, code, type, link}` with an HTTP status — and the
//! errors Miroir words itself the way Meilisearch words them.

use axum::http::StatusCode;
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

/// `index_not_found` for `uid`.
/// A client named the attribute Miroir reserves for its shard marker (`_miroir`) where one
/// Meilisearch refuses an attribute it does not know as filterable, sortable or facetable: the
/// same `code` Meilisearch gives there, and a message saying why.
pub(crate) fn reserved_attribute(code: &str, name: &str) -> MeiliError {
    MeiliError::invalid(
        code,
        format!("Attribute `{name}` is reserved by Miroir (it marks each document's shard) and cannot be used here."),
    )
}

pub(crate) fn index_not_found(uid: &str) -> MeiliError {
    MeiliError::new(
        StatusCode::NOT_FOUND,
        "index_not_found",
        ErrorType::InvalidRequest,
        format!("Index `{uid}` not found."),
    )
}

/// `index_already_exists` for `uid`.
pub(crate) fn index_already_exists(uid: &str) -> MeiliError {
    MeiliError::new(
        StatusCode::CONFLICT,
        "index_already_exists",
        ErrorType::InvalidRequest,
        format!("Index `{uid}` already exists."),
    )
}

/// `bad_request` for a body Miroir cannot read.
pub(crate) fn bad_request(message: impl Into<String>) -> MeiliError {
    MeiliError::invalid("bad_request", message)
}

/// `invalid_content_type` (415) or, without any `Content-Type`, `missing_content_type` (415).
pub(crate) fn content_type_error(found: Option<&str>, accepted: &str) -> MeiliError {
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

/// Meilisearch's answer to a key that is unknown, expired or not allowed.
pub(crate) fn invalid_api_key() -> MeiliError {
    MeiliError::new(
        StatusCode::FORBIDDEN,
        "invalid_api_key",
        ErrorType::Auth,
        "The provided API key is invalid.",
    )
}

/// Meilisearch's answer to a request without `Authorization`.
pub(crate) fn missing_authorization_header() -> MeiliError {
    MeiliError::new(
        StatusCode::UNAUTHORIZED,
        "missing_authorization_header",
        ErrorType::Auth,
        "The Authorization header is missing. It must use the bearer authorization method.",
    )
}

/// `payload_too_large` (413), past the configured body limit.
pub(crate) fn payload_too_large() -> MeiliError {
    MeiliError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        ErrorType::InvalidRequest,
        "The provided payload reached the size limit. The maximum accepted payload size is 100 MB.",
    )
}
