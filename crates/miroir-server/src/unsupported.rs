//! Meilisearch routes Miroir does not serve yet, answered with a Meilisearch-shaped error that
//! says so and why — never a bare 404 that a client would read as "no such index".

use axum::extract::OriginalUri;
use axum::http::StatusCode;

use crate::error::{Error, ErrorType, MeiliError};

/// Why each unsupported route family is not served through Miroir.
const REASONS: [(&str, &str); 6] = [
    (
        "/network",
        "Miroir is itself the network layer; Meilisearch's network mode does not apply behind it",
    ),
    (
        "/export",
        "exporting a sharded cluster is not orchestrated by Miroir yet",
    ),
    ("/chats", "chat workspaces are not relayed by Miroir yet"),
    (
        "/metrics",
        "node metrics are per node; Miroir does not aggregate them yet",
    ),
    ("/logs", "logs are per node; read them on each node"),
    (
        "/indexes/",
        "this index route is not served through Miroir yet",
    ),
];

/// `miroir_not_supported` (501) for the request's route.
pub async fn not_supported(OriginalUri(uri): OriginalUri) -> Error {
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
