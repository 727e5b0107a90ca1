//! Authorization, run by the router before a handler: every route declares what it requires
//! ([`Guard`]) where it is registered (see `http::router`), and this layer checks it before
//! anything reaches a node.
//!
//! With a master key set, every route but `/health` needs `Authorization: Bearer <key>`. The
//! master key may do anything. An API key may do what its `actions` grant on the indexes its
//! `indexes` patterns name, until its `expiresAt` (see `crate::access`); on search routes a
//! tenant token signed with such a key may stand in for it (see [`super::tenant`]). Anything
//! else is Meilisearch's `invalid_api_key`; no key at all is `missing_authorization_header`.
//! Without a master key, Miroir is open, as Meilisearch is.

use std::sync::Arc;

use axum::extract::{RawPathParams, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::access::{authorize, Access, Requirement};
use crate::error::Result;
use crate::instance::keys::key_by_value;
use crate::state::AppState;
use crate::wire::error::{invalid_api_key, missing_authorization_header};

/// What a route requires of the request's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guard {
    /// Nothing: served to anyone (only `/health`).
    Public,
    /// A key granting this action (on the `{uid}` index of the path, when there is one).
    Action(&'static str),
}

/// The layer every registered route runs behind: checks the route's [`Guard`] and hands the
/// request's [`Access`] to the handler as an extension.
pub(crate) async fn authenticate(
    State((state, guard)): State<(Arc<AppState>, Guard)>,
    params: RawPathParams,
    mut request: Request,
    next: Next,
) -> Response {
    let index = params
        .iter()
        .find(|(name, _)| *name == "uid")
        .map(|(_, value)| value.to_string());
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    match access(&state, guard, index, presented.as_deref()) {
        Ok(access) => {
            request.extensions_mut().insert(access);
            next.run(request).await
        }
        Err(refusal) => refusal.into_response(),
    }
}

/// What a request with `authorization` (the header's value) may do on a route guarded by
/// `guard` touching `index`, or why it is refused.
fn access(
    state: &AppState,
    guard: Guard,
    index: Option<String>,
    authorization: Option<&str>,
) -> Result<Access> {
    let Some(master_key) = state.config.master_key.as_deref() else {
        return Ok(Access::master());
    };
    let Guard::Action(action) = guard else {
        return Ok(Access::master());
    };
    // Only the bearer scheme counts; `Bearer` with nothing after it is an invalid key.
    let presented = authorization
        .and_then(|v| v.strip_prefix("Bearer"))
        .map(str::trim)
        .ok_or_else(missing_authorization_header)?;
    if presented == master_key {
        return Ok(Access::master());
    }
    let requirement = Requirement { action, index };
    match key_by_value(state, presented)? {
        Some(key) => {
            authorize(&key, &requirement)?;
            Ok(Access {
                key: Some(key),
                rules: None,
            })
        }
        // Not a key: on search routes it may be a tenant token.
        None if action == "search" && super::tenant::looks_like_jwt(presented) => {
            super::tenant::authenticate(state, presented, &requirement)
        }
        None => Err(invalid_api_key().into()),
    }
}
