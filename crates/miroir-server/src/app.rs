//! The router: every Meilisearch route Miroir serves, behind the master-key check.

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::Router;

use crate::error::Error;
use crate::state::AppState;
use crate::{
    auth, batches, documents, indexes, instance, keys, relay, search, settings, similar, stats,
    tasks, tenant, unsupported, webhooks,
};

/// Builds the HTTP application.
pub fn router(state: Arc<AppState>) -> Router {
    let limit = state.config.http_payload_size_limit;
    Router::new()
        .route("/health", get(stats::health))
        .route("/version", get(stats::version))
        .route("/stats", get(stats::global_stats))
        .route("/tasks", get(tasks::list_tasks).delete(tasks::delete_tasks))
        .route("/tasks/cancel", post(tasks::cancel_tasks))
        .route("/tasks/{uid}", get(tasks::get_task))
        .route(
            "/indexes",
            get(indexes::list_indexes).post(indexes::create_index),
        )
        .route(
            "/indexes/{uid}",
            get(indexes::get_index)
                .patch(indexes::update_index)
                .delete(indexes::delete_index),
        )
        .route("/swap-indexes", post(indexes::swap_indexes))
        .route("/indexes/{uid}/stats", get(stats::index_stats))
        .route(
            "/indexes/{uid}/search",
            get(search::search_get).post(search::search_post),
        )
        .route("/indexes/{uid}/facet-search", post(search::facet_search))
        .route("/multi-search", post(search::multi_search))
        .route(
            "/indexes/{uid}/documents",
            get(documents::list_documents)
                .post(documents::add_documents)
                .put(documents::update_documents)
                .delete(documents::delete_all),
        )
        .route(
            "/indexes/{uid}/documents/fetch",
            post(documents::fetch_documents),
        )
        .route(
            "/indexes/{uid}/documents/delete-batch",
            post(documents::delete_batch),
        )
        .route(
            "/indexes/{uid}/documents/delete",
            post(documents::delete_by_filter),
        )
        .route(
            "/indexes/{uid}/documents/{id}",
            get(documents::get_document).delete(documents::delete_document),
        )
        .route(
            "/indexes/{uid}/settings",
            get(settings::get_settings)
                .patch(settings::update_settings)
                .delete(settings::reset_settings),
        )
        .route(
            "/indexes/{uid}/settings/{setting}",
            get(settings::get_setting)
                .put(settings::update_setting)
                .patch(settings::update_setting)
                .delete(settings::reset_setting),
        )
        .route("/keys", get(keys::list_keys).post(keys::create_key))
        .route(
            "/keys/{key}",
            get(keys::get_key)
                .patch(keys::update_key)
                .delete(keys::delete_key),
        )
        .route("/batches", get(batches::list_batches))
        .route("/batches/{uid}", get(batches::get_batch))
        .route("/dumps", post(instance::create_dump))
        .route("/snapshots", post(instance::create_snapshot))
        .route(
            "/experimental-features",
            get(instance::get_features).patch(instance::update_features),
        )
        .route("/network", any(unsupported::not_supported))
        .route("/network/control", any(unsupported::not_supported))
        .route("/chats", get(relay::chats_read))
        .route(
            "/chats/{workspace}",
            get(relay::chats_read).delete(relay::chats_delete),
        )
        .route(
            "/chats/{workspace}/settings",
            get(relay::chats_read)
                .patch(relay::chat_settings_update)
                .delete(relay::chats_delete),
        )
        .route(
            "/chats/{workspace}/chat/completions",
            any(unsupported::not_supported),
        )
        .route("/render-template", post(relay::render_template))
        .route("/dynamic-search-rules", any(unsupported::not_supported))
        .route(
            "/dynamic-search-rules/{uid}",
            any(unsupported::not_supported),
        )
        .route("/tasks/compact", any(unsupported::not_supported))
        .route("/tasks/{uid}/documents", any(unsupported::not_supported))
        .route("/logs/stderr", any(unsupported::not_supported))
        .route("/webhooks", get(webhooks::list).post(webhooks::create))
        .route(
            "/webhooks/{uuid}",
            get(webhooks::get)
                .patch(webhooks::update)
                .delete(webhooks::delete),
        )
        .route("/export", any(unsupported::not_supported))
        .route("/metrics", any(unsupported::not_supported))
        .route("/logs/stream", any(unsupported::not_supported))
        .route(
            "/indexes/{uid}/similar",
            get(similar::similar_get).post(similar::similar_post),
        )
        .route(
            "/indexes/{uid}/documents/edit",
            post(documents::edit_documents),
        )
        .route("/indexes/{uid}/compact", any(unsupported::not_supported))
        .route("/indexes/{uid}/fields", post(instance::list_fields))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

/// Unknown routes: Meilisearch answers an empty 404.
async fn not_found() -> StatusCode {
    StatusCode::NOT_FOUND
}

/// Authorization (see [`crate::auth`]): the master key, or an API key allowed to do this.
async fn authenticate(
    State(state): State<Arc<AppState>>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(master_key) = state.config.master_key.as_deref() else {
        request.extensions_mut().insert(auth::Access::master());
        return next.run(request).await;
    };
    let Some(requirement) = auth::requirement(request.method(), request.uri().path()) else {
        return next.run(request).await;
    };
    // Only the bearer scheme counts; `Bearer` with nothing after it is an invalid key.
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer"))
        .map(|v| v.trim().to_string());
    let Some(presented) = presented else {
        return Error::from(auth::missing_authorization_header()).into_response();
    };
    if presented == master_key {
        request.extensions_mut().insert(auth::Access::master());
        return next.run(request).await;
    }
    match keys::key_by_value(&state, &presented) {
        Ok(Some(key)) => match auth::authorize(&key, &requirement) {
            Ok(()) => {
                request.extensions_mut().insert(auth::Access {
                    key: Some(key),
                    rules: None,
                });
                next.run(request).await
            }
            Err(refusal) => Error::from(refusal).into_response(),
        },
        // Not a key: on search routes it may be a tenant token.
        Ok(None) if requirement.action == "search" && tenant::looks_like_jwt(&presented) => {
            match tenant::authenticate(&state, &presented, &requirement) {
                Ok(access) => {
                    request.extensions_mut().insert(access);
                    next.run(request).await
                }
                Err(refusal) => Error::from(refusal).into_response(),
            }
        }
        Ok(None) => Error::from(auth::invalid_api_key()).into_response(),
        Err(e) => e.into_response(),
    }
}
