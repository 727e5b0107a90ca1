//! The route table: every Meilisearch route Miroir serves, each registered with its method,
//! its handler and the action it requires ([`Guard`]), in one place.
//!
//! The router is built only from this table, and every entry runs behind the authorization
//! layer with its own guard, so a route cannot be served without declaring what it requires.
//! [`routes`] exposes the table (method, path, guard) for tests and documentation. Unknown
//! routes answer an empty 404 without any key check, as Meilisearch does; a known path with
//! another method answers 405.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::http::{Method, StatusCode};
use axum::middleware;
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::Router;

use super::auth::{authenticate, Guard};
use crate::admin::{fleet, join, layout, lease, nodes, shards, topology, verify};
use crate::instance::{chats, dumps, features, keys, search_rules, unsupported};
use crate::read::{documents as read_documents, facet_search, fields, indexes as read_indexes};
use crate::read::{multi_search, search, settings as read_settings, similar, stats};
use crate::state::AppState;
use crate::tasks::{batches, routes as tasks, webhooks};
use crate::ui;
use crate::write::{cancel, documents, indexes, settings};

/// The methods routes are registered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verb {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Verb {
    fn filter(self) -> MethodFilter {
        match self {
            Verb::Get => MethodFilter::GET,
            Verb::Post => MethodFilter::POST,
            Verb::Put => MethodFilter::PUT,
            Verb::Patch => MethodFilter::PATCH,
            Verb::Delete => MethodFilter::DELETE,
        }
    }

    fn method(self) -> Method {
        match self {
            Verb::Get => Method::GET,
            Verb::Post => Method::POST,
            Verb::Put => Method::PUT,
            Verb::Patch => Method::PATCH,
            Verb::Delete => Method::DELETE,
        }
    }
}

/// One registered route, as [`routes`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSpec {
    /// The HTTP method.
    pub method: Method,
    /// The path, with `{name}` parameters (`{uid}` is always an index uid).
    pub path: &'static str,
    /// What the route requires.
    pub guard: Guard,
}

/// A route and its handler.
struct Entry {
    verb: Verb,
    path: &'static str,
    guard: Guard,
    handler: MethodRouter<Arc<AppState>>,
}

fn route<H, T>(verb: Verb, path: &'static str, guard: Guard, handler: H) -> Entry
where
    H: Handler<T, Arc<AppState>>,
    T: 'static,
{
    Entry {
        verb,
        path,
        guard,
        handler: on(verb.filter(), handler),
    }
}

use Guard::{Action, Public};
use Verb::{Delete, Get, Patch, Post, Put};

/// The table. Index routes name the index `{uid}`; the authorization layer checks the key's
/// index patterns against it.
fn table() -> Vec<Entry> {
    let not_supported = unsupported::not_supported;
    vec![
        route(Get, "/health", Public, stats::health),
        route(Get, "/version", Action("version"), stats::version),
        route(Get, "/stats", Action("stats.get"), stats::global_stats),
        route(Get, "/tasks", Action("tasks.get"), tasks::list_tasks),
        route(
            Delete,
            "/tasks",
            Action("tasks.delete"),
            tasks::delete_tasks,
        ),
        route(
            Post,
            "/tasks/cancel",
            Action("tasks.cancel"),
            cancel::cancel_tasks,
        ),
        route(
            Post,
            "/tasks/compact",
            Action("tasks.compact"),
            not_supported,
        ),
        route(
            Get,
            "/tasks/{task_uid}",
            Action("tasks.get"),
            tasks::get_task,
        ),
        route(
            Get,
            "/tasks/{task_uid}/documents",
            Action("tasks.get"),
            tasks::get_task_documents,
        ),
        route(Get, "/batches", Action("tasks.get"), batches::list_batches),
        route(
            Get,
            "/batches/{batch_uid}",
            Action("tasks.get"),
            batches::get_batch,
        ),
        route(
            Get,
            "/indexes",
            Action("indexes.get"),
            read_indexes::list_indexes,
        ),
        route(
            Post,
            "/indexes",
            Action("indexes.create"),
            indexes::create_index,
        ),
        route(
            Get,
            "/indexes/{uid}",
            Action("indexes.get"),
            read_indexes::get_index,
        ),
        route(
            Patch,
            "/indexes/{uid}",
            Action("indexes.update"),
            indexes::update_index,
        ),
        route(
            Delete,
            "/indexes/{uid}",
            Action("indexes.delete"),
            indexes::delete_index,
        ),
        route(
            Post,
            "/swap-indexes",
            Action("indexes.swap"),
            indexes::swap_indexes,
        ),
        route(
            Get,
            "/indexes/{uid}/stats",
            Action("stats.get"),
            stats::index_stats,
        ),
        route(
            Get,
            "/indexes/{uid}/search",
            Action("search"),
            search::search_get,
        ),
        route(
            Post,
            "/indexes/{uid}/search",
            Action("search"),
            search::search_post,
        ),
        route(
            Post,
            "/indexes/{uid}/facet-search",
            Action("search"),
            facet_search::facet_search,
        ),
        route(
            Get,
            "/indexes/{uid}/similar",
            Action("search"),
            similar::similar_get,
        ),
        route(
            Post,
            "/indexes/{uid}/similar",
            Action("search"),
            similar::similar_post,
        ),
        route(
            Post,
            "/multi-search",
            Action("search"),
            multi_search::multi_search,
        ),
        route(
            Get,
            "/indexes/{uid}/documents",
            Action("documents.get"),
            read_documents::list_documents,
        ),
        route(
            Post,
            "/indexes/{uid}/documents",
            Action("documents.add"),
            documents::add_documents,
        ),
        route(
            Put,
            "/indexes/{uid}/documents",
            Action("documents.add"),
            documents::update_documents,
        ),
        route(
            Delete,
            "/indexes/{uid}/documents",
            Action("documents.delete"),
            documents::delete_all,
        ),
        route(
            Post,
            "/indexes/{uid}/documents/fetch",
            Action("documents.get"),
            read_documents::fetch_documents,
        ),
        route(
            Post,
            "/indexes/{uid}/documents/delete-batch",
            Action("documents.delete"),
            documents::delete_batch,
        ),
        route(
            Post,
            "/indexes/{uid}/documents/delete",
            Action("documents.delete"),
            documents::delete_by_filter,
        ),
        route(
            Post,
            "/indexes/{uid}/documents/edit",
            Action("documents.*"),
            documents::edit_documents,
        ),
        route(
            Get,
            "/indexes/{uid}/documents/{id}",
            Action("documents.get"),
            read_documents::get_document,
        ),
        route(
            Delete,
            "/indexes/{uid}/documents/{id}",
            Action("documents.delete"),
            documents::delete_document,
        ),
        route(
            Post,
            "/indexes/{uid}/fields",
            Action("fields.post"),
            fields::list_fields,
        ),
        route(
            Post,
            "/indexes/{uid}/compact",
            Action("indexes.compact"),
            indexes::compact_index,
        ),
        route(
            Get,
            "/indexes/{uid}/settings",
            Action("settings.get"),
            read_settings::get_settings,
        ),
        route(
            Patch,
            "/indexes/{uid}/settings",
            Action("settings.update"),
            settings::update_settings,
        ),
        route(
            Delete,
            "/indexes/{uid}/settings",
            Action("settings.update"),
            settings::reset_settings,
        ),
        route(
            Get,
            "/indexes/{uid}/settings/{setting}",
            Action("settings.get"),
            read_settings::get_setting,
        ),
        route(
            Put,
            "/indexes/{uid}/settings/{setting}",
            Action("settings.update"),
            settings::update_setting,
        ),
        route(
            Patch,
            "/indexes/{uid}/settings/{setting}",
            Action("settings.update"),
            settings::update_setting,
        ),
        route(
            Delete,
            "/indexes/{uid}/settings/{setting}",
            Action("settings.update"),
            settings::reset_setting,
        ),
        route(Get, "/keys", Action("keys.get"), keys::list_keys),
        route(Post, "/keys", Action("keys.create"), keys::create_key),
        route(Get, "/keys/{key}", Action("keys.get"), keys::get_key),
        route(
            Patch,
            "/keys/{key}",
            Action("keys.update"),
            keys::update_key,
        ),
        route(
            Delete,
            "/keys/{key}",
            Action("keys.delete"),
            keys::delete_key,
        ),
        route(Get, "/webhooks", Action("webhooks.get"), webhooks::list),
        route(
            Post,
            "/webhooks",
            Action("webhooks.create"),
            webhooks::create,
        ),
        route(
            Get,
            "/webhooks/{uuid}",
            Action("webhooks.get"),
            webhooks::get,
        ),
        route(
            Patch,
            "/webhooks/{uuid}",
            Action("webhooks.update"),
            webhooks::update,
        ),
        route(
            Delete,
            "/webhooks/{uuid}",
            Action("webhooks.delete"),
            webhooks::delete,
        ),
        route(
            Get,
            "/experimental-features",
            Action("experimental.get"),
            features::get_features,
        ),
        route(
            Patch,
            "/experimental-features",
            Action("experimental.update"),
            features::update_features,
        ),
        route(Post, "/dumps", Action("dumps.create"), dumps::create_dump),
        route(
            Post,
            "/snapshots",
            Action("snapshots.create"),
            dumps::create_snapshot,
        ),
        route(Get, "/chats", Action("chats.get"), chats::chats_read),
        route(
            Get,
            "/chats/{workspace}",
            Action("chats.get"),
            chats::chats_read,
        ),
        route(
            Delete,
            "/chats/{workspace}",
            Action("chats.delete"),
            chats::chats_delete,
        ),
        route(
            Get,
            "/chats/{workspace}/settings",
            Action("chatsSettings.get"),
            chats::chats_read,
        ),
        route(
            Patch,
            "/chats/{workspace}/settings",
            Action("chatsSettings.update"),
            chats::chat_settings_update,
        ),
        route(
            Delete,
            "/chats/{workspace}/settings",
            Action("chatsSettings.update"),
            chats::chats_delete,
        ),
        route(
            Post,
            "/chats/{workspace}/chat/completions",
            Action("chatCompletions"),
            not_supported,
        ),
        route(
            Post,
            "/render-template",
            Action("settings.get"),
            chats::render_template,
        ),
        route(
            Post,
            "/dynamic-search-rules",
            Action("dynamicSearchRules.get"),
            search_rules::list_rules,
        ),
        route(
            Delete,
            "/dynamic-search-rules",
            Action("dynamicSearchRules.delete"),
            search_rules::clear_rules,
        ),
        route(
            Get,
            "/dynamic-search-rules/{rule_uid}",
            Action("dynamicSearchRules.get"),
            search_rules::get_rule,
        ),
        route(
            Patch,
            "/dynamic-search-rules/{rule_uid}",
            Action("dynamicSearchRules.update"),
            search_rules::update_rule,
        ),
        route(
            Delete,
            "/dynamic-search-rules/{rule_uid}",
            Action("dynamicSearchRules.delete"),
            search_rules::delete_rule,
        ),
        route(Get, "/network", Action("network.get"), not_supported),
        route(Patch, "/network", Action("network.update"), not_supported),
        route(
            Post,
            "/network/control",
            Action("network.update"),
            not_supported,
        ),
        route(Post, "/export", Action("export"), not_supported),
        route(
            Get,
            "/metrics",
            Action("metrics.get"),
            crate::instance::metrics::render,
        ),
        route(Post, "/logs/stream", Action("metrics.get"), not_supported),
        route(Delete, "/logs/stream", Action("metrics.get"), not_supported),
        route(Post, "/logs/stderr", Action("metrics.get"), not_supported),
        route(Get, "/_miroir/nodes", Action("*"), nodes::nodes),
        route(Post, "/_miroir/nodes", Action("*"), join::add_node),
        route(Post, "/_miroir/nodes/{id}/drain", Action("*"), fleet::drain),
        route(Delete, "/_miroir/nodes/{id}", Action("*"), fleet::remove),
        route(Get, "/_miroir/shards", Action("*"), shards::shards),
        route(Get, "/_miroir/topology", Action("*"), topology::topology),
        route(Get, "/_miroir/lease", Action("*"), lease::lease),
        route(Patch, "/_miroir/topology", Action("*"), fleet::change),
        route(Get, "/_miroir/rebalance", Action("*"), topology::rebalance),
        route(
            Post,
            "/_miroir/rebalance/pause",
            Action("*"),
            topology::pause,
        ),
        route(
            Post,
            "/_miroir/rebalance/resume",
            Action("*"),
            topology::resume,
        ),
        route(Get, "/_miroir/indexes/{uid}", Action("*"), layout::layout),
        route(
            Patch,
            "/_miroir/indexes/{uid}",
            Action("*"),
            layout::reshape,
        ),
        route(Post, "/_miroir/verify", Action("*"), verify::verify),
        // The cluster page's static files hold no data; the API calls it makes need the key.
        route(Get, "/_miroir/ui", Public, ui::page),
        route(Get, "/_miroir/ui/", Public, ui::page),
        route(Get, "/_miroir/ui/app.js", Public, ui::script),
        route(Get, "/_miroir/ui/style.css", Public, ui::style),
    ]
}

/// Every route Miroir serves: method, path and what it requires.
pub fn routes() -> Vec<RouteSpec> {
    table()
        .into_iter()
        .map(|entry| RouteSpec {
            method: entry.verb.method(),
            path: entry.path,
            guard: entry.guard,
        })
        .collect()
}

/// Builds the HTTP application from the table.
pub(crate) fn router(state: Arc<AppState>) -> Router {
    let limit = state.config.http_payload_size_limit;
    let mut paths: BTreeMap<&'static str, MethodRouter<Arc<AppState>>> = BTreeMap::new();
    for entry in table() {
        let guarded = entry.handler.route_layer(middleware::from_fn_with_state(
            (state.clone(), entry.guard),
            authenticate,
        ));
        let merged = match paths.remove(entry.path) {
            Some(existing) => existing.merge(guarded),
            None => guarded,
        };
        paths.insert(entry.path, merged);
    }
    paths
        .into_iter()
        .fold(Router::new(), |router, (path, methods)| {
            router.route(path, methods)
        })
        // Each matched request's uid, span and metrics (`crate::request`), around the rest.
        .route_layer(middleware::from_fn(crate::request::trace))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

/// Unknown routes: Meilisearch answers an empty 404.
async fn not_found() -> StatusCode {
    StatusCode::NOT_FOUND
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_health_and_the_page_files_are_public_and_no_route_is_registered_twice() {
        let routes = routes();
        let public: Vec<&str> = routes
            .iter()
            .filter(|r| r.guard == Public)
            .map(|r| r.path)
            .collect();
        assert_eq!(
            public,
            [
                "/health",
                "/_miroir/ui",
                "/_miroir/ui/",
                "/_miroir/ui/app.js",
                "/_miroir/ui/style.css"
            ]
        );
        let mut seen = std::collections::HashSet::new();
        for route in &routes {
            assert!(
                seen.insert((route.method.clone(), route.path)),
                "{} {} registered twice",
                route.method,
                route.path
            );
            if let Action(action) = route.guard {
                assert!(
                    crate::access::ACTIONS.contains(&action),
                    "{action} is not a Meilisearch action"
                );
            }
        }
    }
}
