//! Request extraction with Meilisearch's errors instead of the framework's.
//!
//! axum's own extractors reject with plain-text bodies; a Meilisearch client expects an error
//! object, so bodies are read as bytes and query strings as raw text, then parsed here. The
//! preamble every handler used to repeat is one extractor each:
//!
//! - [`IndexUid`]: the `{uid}` path parameter, checked against Meilisearch's uid rule;
//! - [`JsonBody`]: `Content-Type: application/json` required, body parsed into `T`;
//! - [`OptionalJsonBody`]: the same, an empty body reading as `T::default()`;
//! - [`Body`]: the raw body, with `payload_too_large` past the configured limit;
//! - [`Params`]: the decoded query string.
//!
//! Tenant-token rules are applied where a search body is read (`read::query`).

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use bytes::BytesMut;
use futures::StreamExt;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{Error, MeiliError, Result};
use crate::state::AppState;
use crate::wire::error::{content_type_error, payload_too_large};
use crate::wire::index::{invalid_path_uid, valid_index_uid};

/// The raw request body, with `payload_too_large` past the configured limit.
///
/// Read into one buffer sized from `Content-Length` up front (the client's declaration,
/// capped by the limit): collecting the frames first and copying them into one buffer after
/// would hold a large upload twice.
pub(crate) struct Body(pub Bytes);

impl FromRequest<Arc<AppState>> for Body {
    type Rejection = Error;

    async fn from_request(req: Request, state: &Arc<AppState>) -> Result<Self> {
        let limit = state.config.http_payload_size_limit;
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<usize>().ok());
        if declared.is_some_and(|declared| declared > limit) {
            return Err(payload_too_large().into());
        }
        let mut buffer = BytesMut::with_capacity(declared.unwrap_or(0));
        let mut frames = req.into_body().into_data_stream();
        loop {
            let next = tokio::time::timeout(BODY_IDLE_TIMEOUT, frames.next())
                .await
                .map_err(|_| body_stalled())?;
            let Some(frame) = next else { break };
            let frame = frame.map_err(|e| MeiliError::invalid("bad_request", e.to_string()))?;
            if buffer.len() + frame.len() > limit {
                return Err(payload_too_large().into());
            }
            buffer.extend_from_slice(&frame);
        }
        Ok(Body(buffer.freeze()))
    }
}

/// How long a request body may stop arriving before its request is ended (a slow-loris client
/// would otherwise hold a connection and a buffer forever; the header read limit is
/// `http::serve`'s).
pub(crate) const BODY_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// A request body that stopped arriving.
fn body_stalled() -> MeiliError {
    MeiliError::new(
        axum::http::StatusCode::REQUEST_TIMEOUT,
        "miroir_request_timeout",
        crate::error::ErrorType::InvalidRequest,
        format!(
            "The request body stopped arriving: nothing was received for {} s.",
            BODY_IDLE_TIMEOUT.as_secs()
        ),
    )
}

/// The request's `Content-Type` without parameters, lowercased.
pub(crate) fn content_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let essence = value.split(';').next().unwrap_or(value);
    Some(essence.trim().to_ascii_lowercase())
}

/// Requires `Content-Type: application/json` on JSON routes, as Meilisearch does.
pub(crate) fn require_json(headers: &HeaderMap) -> Result<()> {
    match content_type(headers).as_deref() {
        Some("application/json") => Ok(()),
        other => Err(content_type_error(other, "`application/json`").into()),
    }
}

/// Parses a JSON request body into `T`, with Meilisearch's `bad_request` on failure.
pub(crate) fn json_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(MeiliError::invalid("missing_payload", "A json payload is missing.").into());
    }
    // As Meilisearch: a body that is not JSON at all is `malformed_payload`, whatever it holds;
    // one of the wrong shape is `bad_request`. Told apart only when the typed parse failed, so
    // a good body (every search) is parsed once.
    serde_json::from_slice(bytes).map_err(|typed| {
        let error = match serde_json::from_slice::<Value>(bytes) {
            Err(e) => MeiliError::invalid(
                "malformed_payload",
                format!("The json payload provided is malformed. `{e}`."),
            ),
            Ok(_) => MeiliError::invalid("bad_request", typed.to_string()),
        };
        error.into()
    })
}

/// A JSON body parsed into `T`, after checking its content type.
pub(crate) struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<Arc<AppState>> for JsonBody<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &Arc<AppState>) -> Result<Self> {
        require_json(req.headers())?;
        let Body(bytes) = Body::from_request(req, state).await?;
        json_body(&bytes).map(JsonBody)
    }
}

/// A JSON body parsed into `T`, an empty body reading as `T::default()` (routes whose body is
/// optional, such as `documents/fetch`).
pub(crate) struct OptionalJsonBody<T>(pub T);

impl<T: DeserializeOwned + Default> FromRequest<Arc<AppState>> for OptionalJsonBody<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &Arc<AppState>) -> Result<Self> {
        require_json(req.headers())?;
        let Body(bytes) = Body::from_request(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJsonBody(T::default()));
        }
        json_body(&bytes).map(OptionalJsonBody)
    }
}

/// One path parameter by name (routes declare their parameters, so a missing one is a
/// router mistake, answered as an unknown route).
async fn path_param(parts: &mut Parts, name: &str) -> Result<String> {
    let params = RawPathParams::from_request_parts(parts, &())
        .await
        .map_err(|_| Error::RouteNotFound)?;
    params
        .iter()
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_string())
        .ok_or(Error::RouteNotFound)
}

/// The `{uid}` path parameter, a valid index uid.
pub(crate) struct IndexUid(pub String);

impl<S: Send + Sync> FromRequestParts<S> for IndexUid {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self> {
        let uid = path_param(parts, "uid").await?;
        if valid_index_uid(&uid) {
            Ok(IndexUid(uid))
        } else {
            Err(invalid_path_uid(&uid).into())
        }
    }
}

/// Declares an extractor for one named path parameter.
macro_rules! path_param {
    ($(#[$doc:meta])* $name:ident, $param:literal) => {
        $(#[$doc])*
        pub(crate) struct $name(pub String);

        impl<S: Send + Sync> FromRequestParts<S> for $name {
            type Rejection = Error;

            async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self> {
                path_param(parts, $param).await.map($name)
            }
        }
    };
}

path_param!(
    /// The `{id}` path parameter: a document id.
    DocumentId,
    "id"
);
path_param!(
    /// The `{setting}` path parameter: a settings sub-route.
    SettingSegment,
    "setting"
);
path_param!(
    /// The `{workspace}` path parameter: a chat workspace.
    Workspace,
    "workspace"
);
path_param!(
    /// The `{key}` path parameter: an API key's uid or value.
    KeyParam,
    "key"
);
path_param!(
    /// The `{uuid}` path parameter: a webhook.
    UuidParam,
    "uuid"
);

/// Query-string parameters, decoded. A repeated key keeps its last value.
#[derive(Debug, Default, Clone)]
pub(crate) struct Params(pub HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self> {
        Ok(Params::parse(parts.uri.query()))
    }
}

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

    /// The `customMetadata` parameter, echoed in a write's task.
    pub fn custom_metadata(&self) -> Option<String> {
        self.get("customMetadata").map(str::to_string)
    }

    /// A non-negative integer parameter, or Meilisearch's error `code` naming it.
    pub fn usize(&self, name: &str, code: &str) -> Result<Option<usize>> {
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
