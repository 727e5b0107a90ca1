//! Each HTTP request's identity: a UUID (v7) given when it arrives, carried by its tracing span
//! (`request`, with the method and route template, so that every log line of the request and of
//! its node calls says which request it belongs to) and returned as the `requestUid` of the
//! search answers that have one, as Meilisearch returns it, so that a client's `requestUid` finds
//! the request's log lines.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;
use uuid::Uuid;

tokio::task_local! {
    static REQUEST_UID: Uuid;
}

/// The current request's uid; a new one outside a request (background work).
pub(crate) fn uid() -> Uuid {
    REQUEST_UID
        .try_with(|uid| *uid)
        .unwrap_or_else(|_| Uuid::now_v7())
}

/// Middleware: gives the request its uid and runs it inside its span, which ends with one
/// debug line (status and duration); the same figures go to the metrics (`crate::metrics`).
pub(crate) async fn trace(request: Request, next: Next) -> Response {
    let uid = Uuid::now_v7();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_string();
    let method = request.method().clone();
    let span = tracing::info_span!(
        "request",
        method = %method,
        route = %route,
        request_uid = %uid,
    );
    let started = Instant::now();
    REQUEST_UID
        .scope(uid, async move {
            let response = next.run(request).await;
            let status = response.status().as_u16();
            let seconds = started.elapsed().as_secs_f64();
            tracing::debug!(status, ms = seconds * 1000.0, "answered");
            crate::metrics::http_request(method.as_str(), &route, status, seconds);
            response
        })
        .instrument(span)
        .await
}
