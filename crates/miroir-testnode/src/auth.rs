//! Authentication, as Meilisearch checks it: the master key, or an API key the node holds
//! (every key grants every action here; see `keys`).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::store::AppState;

/// Checks `Authorization: Bearer <master key>` on every guarded route.
pub async fn require_key(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    match check(
        &state,
        request
            .headers()
            .get(header::AUTHORIZATION)
            .map(|v| v.as_bytes()),
    ) {
        Ok(()) => next.run(request).await,
        Err(error) => error.into_response(),
    }
}

fn check(state: &AppState, header: Option<&[u8]>) -> Result<(), ApiError> {
    let missing = || {
        ApiError::new(
            "missing_authorization_header",
            "The Authorization header is missing. It must use the bearer authorization method.",
        )
    };
    let invalid = || ApiError::new("invalid_api_key", "The provided API key is invalid.");
    let Some(header) = header else {
        return match state.master_key {
            Some(_) => Err(missing()),
            None => Ok(()),
        };
    };
    let header = String::from_utf8_lossy(header);
    let (scheme, token) = match header.split_once(' ') {
        Some((scheme, token)) => (scheme, token),
        None => (header.as_ref(), ""),
    };
    if scheme != "Bearer" {
        return Err(missing());
    }
    if token.is_empty() {
        return Err(invalid());
    }
    match &state.master_key {
        Some(key) if key != token && !state.lock().keys.values().any(|k| k["key"] == token) => {
            Err(invalid())
        }
        _ => Ok(()),
    }
}
