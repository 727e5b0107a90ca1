//! Request extraction with Meilisearch's errors instead of the framework's.
//!
//! axum's own extractors reject with plain-text bodies; a Meilisearch client expects an error
//! object, so bodies are read as bytes and query strings as raw text, then parsed here.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;

use crate::error::{Error, ErrorType, MeiliError};

/// The raw request body, with `payload_too_large` past the configured limit.
pub struct Body(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Bytes::from_request(req, state).await {
            Ok(bytes) => Ok(Body(bytes)),
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(MeiliError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    ErrorType::InvalidRequest,
                    "The provided payload reached the size limit. The maximum accepted payload size is 100 MB.",
                )
                .into())
            }
            Err(rejection) => Err(MeiliError::invalid("bad_request", rejection.body_text()).into()),
        }
    }
}

/// The request's `Content-Type` without parameters, lowercased.
pub fn content_type(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
}

/// Parses a JSON request body into `T`, with Meilisearch's `bad_request` on failure.
pub fn json_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(MeiliError::invalid("missing_payload", "A json payload is missing.").into());
    }
    serde_json::from_slice(bytes).map_err(|e| {
        let message = match e.classify() {
            serde_json::error::Category::Data => e.to_string(),
            _ => format!("The json payload provided is malformed. `{e}`."),
        };
        let code = match e.classify() {
            serde_json::error::Category::Data => "bad_request",
            _ => "malformed_payload",
        };
        MeiliError::invalid(code, message).into()
    })
}

/// Query-string parameters, decoded. A repeated key keeps its last value.
#[derive(Debug, Default, Clone)]
pub struct Params(pub HashMap<String, String>);

impl Params {
    /// Parses a raw query string.
    pub fn parse(raw: Option<&str>) -> Params {
        Params(
            url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
                .into_owned()
                .collect(),
        )
    }

    /// One parameter.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// A non-negative integer parameter, or Meilisearch's error `code` naming it.
    pub fn usize(&self, name: &str, code: &str) -> Result<Option<usize>, Error> {
        match self.get(name) {
            None => Ok(None),
            Some(raw) => raw.parse::<usize>().map(Some).map_err(|_| {
                MeiliError::invalid(
                    code,
                    format!("Invalid value in parameter `{name}`: could not parse `{raw}` as a positive integer"),
                )
                .into()
            }),
        }
    }

    /// A comma-separated list parameter.
    pub fn list(&self, name: &str) -> Option<Vec<String>> {
        self.get(name).map(|raw| {
            raw.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
    }
}
