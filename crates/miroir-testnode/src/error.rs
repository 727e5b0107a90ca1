//! Meilisearch-shaped error objects: `{message, code, type, link}` with the HTTP status
//! Meilisearch uses for each code.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

/// One Meilisearch error: a code (which fixes the status and the type) and a message.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ApiError {
    /// The snake_case Meilisearch error code, e.g. `index_not_found`.
    pub code: String,
    /// The human readable message, as Meilisearch words it.
    pub message: String,
}

/// Shorthand for results whose error is an [`ApiError`].
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// An error with the given code and message.
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        ApiError {
            code: code.to_string(),
            message: message.into(),
        }
    }

    /// `bad_request`, used for unknown fields and parameters.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new("bad_request", message)
    }

    /// `internal`, for states that should not happen.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new("internal", message)
    }

    /// `index_not_found` for `uid`.
    pub fn index_not_found(uid: &str) -> Self {
        Self::new("index_not_found", format!("Index `{uid}` not found."))
    }

    /// The HTTP status Meilisearch answers with for this code.
    pub fn status(&self) -> StatusCode {
        match self.code.as_str() {
            "index_not_found" | "document_not_found" | "task_not_found" | "batch_not_found"
            | "chat_not_found" | "api_key_not_found" => StatusCode::NOT_FOUND,
            "index_already_exists" => StatusCode::CONFLICT,
            "missing_authorization_header" | "missing_master_key" => StatusCode::UNAUTHORIZED,
            "invalid_api_key" => StatusCode::FORBIDDEN,
            "invalid_content_type" | "missing_content_type" => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "payload_too_large" => StatusCode::PAYLOAD_TOO_LARGE,
            "internal" => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// The error `type` field.
    pub fn kind(&self) -> &'static str {
        match self.code.as_str() {
            "missing_authorization_header" | "missing_master_key" | "invalid_api_key" => "auth",
            "internal" => "internal",
            _ => "invalid_request",
        }
    }

    /// The JSON error object, keys in Meilisearch's order.
    pub fn to_json(&self) -> Value {
        json!({
            "message": self.message,
            "code": self.code,
            "type": self.kind(),
            "link": format!("https://docs.meilisearch.com/errors#{}", self.code),
        })
    }

    /// The same error with an `Index `uid`: ` prefix, as batch-level task errors carry.
    pub fn with_index_prefix(mut self, uid: &str) -> Self {
        self.message = format!("Index `{uid}`: {}", self.message);
        self
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status(), Json(self.to_json())).into_response()
    }
}
