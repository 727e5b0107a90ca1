//! Meilisearch routes Miroir does not serve yet, answered with a Meilisearch-shaped error that
//! says so and why — never a bare 404 that a client would read as "no such index".

use axum::extract::OriginalUri;
use axum::http::StatusCode;

use crate::error::{Error, ErrorType, MeiliError};

/// Why each unsupported route family is not served through Miroir, by path prefix (the first
/// match wins). `docs/api-coverage.md` lists the routes.
const REASONS: [(&str, &str); 6] = [
    (
        "/network",
        "Miroir is itself the network layer; Meilisearch's network mode does not apply behind it",
    ),
    (
        "/export",
        "each node holds only some shards, and a copy of their documents would carry Miroir's shard markers",
    ),
    (
        "/chats/",
        "a chat completion searches inside one node, which holds only some shards of each index",
    ),
    (
        "/metrics",
        "Meilisearch's metrics describe one node; read them on each node",
    ),
    ("/logs", "logs are per node; read them on each node"),
    (
        "/tasks/compact",
        "Miroir's task queue lives in its own store; compact each node's queue on the node",
    ),
];

/// `miroir_not_supported` (501) for the request's route.
pub(crate) async fn not_supported(OriginalUri(uri): OriginalUri) -> Error {
    let path = uri.path();
    let reason = REASONS
        .iter()
        .find(|(prefix, _)| path.starts_with(prefix))
        .map(|(_, reason)| *reason)
        .unwrap_or("this route is not served through Miroir yet");
    MeiliError::new(
        StatusCode::NOT_IMPLEMENTED,
        "miroir_not_supported",
        ErrorType::InvalidRequest,
        format!("`{path}` is not supported through Miroir: {reason}."),
    )
    .into()
}
