//! Every route listed in `docs/api-coverage.md`, called through Miroir with each listed method:
//! the status and the shape of the answer are checked, and the table and this test are checked
//! against each other (a route listed and never called, or called and never listed, fails).

#[macro_use]
mod common;

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use common::{task_uid, Backend, Client, Cluster};

/// The `(method, route)` pairs of the coverage table.
fn documented_routes() -> BTreeSet<(String, String)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/api-coverage.md");
    let text = std::fs::read_to_string(path).expect("docs/api-coverage.md is readable");
    let mut routes = BTreeSet::new();
    for line in text.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // `| methods | route | treatment |` splits into ["", methods, route, treatment, ""].
        if cells.len() < 4 || !cells[2].starts_with("`/") {
            continue;
        }
        let route = cells[2].trim_matches('`').to_string();
        for method in cells[1].split('`').map(str::trim).filter(|m| !m.is_empty()) {
            routes.insert((method.to_string(), route.clone()));
        }
    }
    routes
}

/// The expected answer of one call.
enum Shape {
    /// This status and a JSON object with these keys.
    Object(StatusCode, &'static [&'static str]),
    /// This status and any JSON value (a setting's value).
    Any(StatusCode),
    /// `202` and a summarized task, which then succeeds.
    Task,
    /// An empty answer with this status.
    Empty(StatusCode),
    /// A Meilisearch error object with this status and code.
    Error(StatusCode, &'static str),
}

/// Calls routes and remembers which `(method, route)` pairs were checked.
struct Checker {
    client: Client,
    checked: BTreeSet<(String, String)>,
}

impl Checker {
    /// Calls `method path` (an instance of `route`) with `body` and checks the answer's shape.
    async fn check(
        &mut self,
        method: Method,
        route: &str,
        path: &str,
        body: Option<Value>,
        shape: Shape,
    ) -> Value {
        let (status, answer) = match body {
            Some(body) => self.client.send(method.clone(), path, body).await,
            None => {
                self.client
                    .raw(method.clone(), path, None, Vec::new())
                    .await
            }
        };
        let call = format!("{method} {path}");
        match shape {
            Shape::Object(expected, keys) => {
                assert_eq!(status, expected, "{call}: {answer}");
                assert!(answer.is_object(), "{call}: {answer}");
                for key in keys {
                    assert!(answer.get(*key).is_some(), "{call}: no `{key}` in {answer}");
                }
            }
            Shape::Any(expected) => assert_eq!(status, expected, "{call}: {answer}"),
            Shape::Task => {
                assert_eq!(status, StatusCode::ACCEPTED, "{call}: {answer}");
                for key in ["taskUid", "indexUid", "status", "type", "enqueuedAt"] {
                    assert!(answer.get(key).is_some(), "{call}: no `{key}` in {answer}");
                }
                assert_eq!(answer["status"], "enqueued", "{call}");
                let task = self.client.wait_task(task_uid(&answer)).await;
                assert_eq!(task["status"], "succeeded", "{call}: {task}");
            }
            Shape::Empty(expected) => {
                assert_eq!(status, expected, "{call}: {answer}");
                assert!(answer.is_null(), "{call}: {answer}");
            }
            Shape::Error(expected, code) => {
                assert_eq!(status, expected, "{call}: {answer}");
                assert_eq!(answer["code"], code, "{call}: {answer}");
                for key in ["message", "type", "link"] {
                    assert!(answer[key].is_string(), "{call}: no `{key}` in {answer}");
                }
                if code == "miroir_not_supported" {
                    let message = answer["message"].as_str().unwrap_or_default();
                    assert!(
                        message.contains(path.split('?').next().unwrap_or(path)),
                        "{call}: {message}"
                    );
                }
            }
        }
        self.checked.insert((method.to_string(), route.to_string()));
        answer
    }
}

async fn every_documented_route(backend: Backend) {
    let cluster = Cluster::start(&backend, 3, 2, 4).await;
    let mut c = Checker {
        client: cluster.client(),
        checked: BTreeSet::new(),
    };
    use Method as M;
    use StatusCode as S;
    let ok = S::OK;

    // Instance.
    c.check(
        M::GET,
        "/health",
        "/health",
        None,
        Shape::Object(ok, &["status"]),
    )
    .await;
    c.check(
        M::GET,
        "/version",
        "/version",
        None,
        Shape::Object(ok, &["pkgVersion", "commitSha", "commitDate"]),
    )
    .await;
    let features = json!({"chatCompletions": true, "renderRoute": true, "foreignKeys": true, "dynamicSearchRules": true});
    c.check(
        M::PATCH,
        "/experimental-features",
        "/experimental-features",
        Some(features),
        Shape::Object(ok, &["chatCompletions", "renderRoute"]),
    )
    .await;
    c.check(
        M::GET,
        "/experimental-features",
        "/experimental-features",
        None,
        Shape::Object(ok, &["foreignKeys", "network"]),
    )
    .await;

    // Indexes and documents.
    c.check(
        M::POST,
        "/indexes",
        "/indexes",
        Some(json!({"uid": "movies", "primaryKey": "id"})),
        Shape::Task,
    )
    .await;
    c.check(
        M::GET,
        "/indexes",
        "/indexes",
        None,
        Shape::Object(ok, &["results", "offset", "limit", "total"]),
    )
    .await;
    c.check(
        M::GET,
        "/indexes/{uid}",
        "/indexes/movies",
        None,
        Shape::Object(ok, &["uid", "primaryKey", "createdAt", "updatedAt"]),
    )
    .await;
    c.check(
        M::PATCH,
        "/indexes/{uid}",
        "/indexes/movies",
        Some(json!({"primaryKey": "id"})),
        Shape::Task,
    )
    .await;
    let movies: Vec<Value> = (0..40)
        .map(|i| json!({"id": i, "title": format!("movie {i}"), "genre": if i % 2 == 0 { "drama" } else { "comedy" }}))
        .collect();
    c.check(
        M::POST,
        "/indexes/{uid}/documents",
        "/indexes/movies/documents",
        Some(json!(movies)),
        Shape::Task,
    )
    .await;
    c.check(
        M::PUT,
        "/indexes/{uid}/documents",
        "/indexes/movies/documents",
        Some(json!([{"id": 0, "year": 1999}])),
        Shape::Task,
    )
    .await;
    c.check(
        M::GET,
        "/indexes/{uid}/documents",
        "/indexes/movies/documents?limit=5",
        None,
        Shape::Object(ok, &["results", "offset", "limit", "total"]),
    )
    .await;
    c.check(
        M::POST,
        "/indexes/{uid}/documents/fetch",
        "/indexes/movies/documents/fetch",
        Some(json!({"limit": 5})),
        Shape::Object(ok, &["results", "offset", "limit", "total"]),
    )
    .await;
    c.check(
        M::GET,
        "/indexes/{uid}/documents/{id}",
        "/indexes/movies/documents/0",
        None,
        Shape::Object(ok, &["id", "title", "year"]),
    )
    .await;
    c.check(
        M::POST,
        "/indexes/{uid}/fields",
        "/indexes/movies/fields",
        Some(json!({})),
        Shape::Object(ok, &["results", "offset", "limit", "total"]),
    )
    .await;
    c.check(
        M::GET,
        "/indexes/{uid}/stats",
        "/indexes/movies/stats",
        None,
        Shape::Object(
            ok,
            &["numberOfDocuments", "isIndexing", "fieldDistribution"],
        ),
    )
    .await;
    c.check(
        M::GET,
        "/stats",
        "/stats",
        None,
        Shape::Object(ok, &["databaseSize", "lastUpdate", "indexes"]),
    )
    .await;
    c.check(
        M::GET,
        "/indexes/{uid}/settings",
        "/indexes/movies/settings",
        None,
        Shape::Object(ok, &["filterableAttributes", "rankingRules"]),
    )
    .await;
    c.check(
        M::PATCH,
        "/indexes/{uid}/settings",
        "/indexes/movies/settings",
        Some(json!({"filterableAttributes": ["genre"]})),
        Shape::Task,
    )
    .await;

    // Search.
    let hits: &[&str] = &["hits", "query", "processingTimeMs", "estimatedTotalHits"];
    c.check(
        M::GET,
        "/indexes/{uid}/search",
        "/indexes/movies/search?q=movie",
        None,
        Shape::Object(ok, hits),
    )
    .await;
    c.check(
        M::POST,
        "/indexes/{uid}/search",
        "/indexes/movies/search",
        Some(json!({"q": "movie", "filter": "genre = drama"})),
        Shape::Object(ok, hits),
    )
    .await;
    c.check(
        M::POST,
        "/indexes/{uid}/facet-search",
        "/indexes/movies/facet-search",
        Some(json!({"facetName": "genre"})),
        Shape::Object(ok, &["facetHits", "facetQuery", "processingTimeMs"]),
    )
    .await;
    c.check(
        M::POST,
        "/multi-search",
        "/multi-search",
        Some(json!({"queries": [{"indexUid": "movies", "q": "movie"}]})),
        Shape::Object(ok, &["results"]),
    )
    .await;
    let no_embedder = Shape::Error(S::BAD_REQUEST, "invalid_similar_embedder");
    c.check(
        M::GET,
        "/indexes/{uid}/similar",
        "/indexes/movies/similar?id=1&embedder=default",
        None,
        no_embedder,
    )
    .await;
    let no_embedder = Shape::Error(S::BAD_REQUEST, "invalid_similar_embedder");
    c.check(
        M::POST,
        "/indexes/{uid}/similar",
        "/indexes/movies/similar",
        Some(json!({"id": 1, "embedder": "default"})),
        no_embedder,
    )
    .await;

    // Document deletions and edition (its feature is off: refused as Meilisearch refuses it).
    c.check(
        M::POST,
        "/indexes/{uid}/documents/edit",
        "/indexes/movies/documents/edit",
        Some(json!({"function": "doc.title = 1"})),
        Shape::Error(S::BAD_REQUEST, "feature_not_enabled"),
    )
    .await;
    c.check(
        M::POST,
        "/indexes/{uid}/documents/delete-batch",
        "/indexes/movies/documents/delete-batch",
        Some(json!([2, 3])),
        Shape::Task,
    )
    .await;
    c.check(
        M::POST,
        "/indexes/{uid}/documents/delete",
        "/indexes/movies/documents/delete",
        Some(json!({"filter": "genre = comedy"})),
        Shape::Task,
    )
    .await;
    c.check(
        M::DELETE,
        "/indexes/{uid}/documents/{id}",
        "/indexes/movies/documents/4",
        None,
        Shape::Task,
    )
    .await;

    // Every settings sub-route: read, write back what was read, reset.
    let documented = documented_routes();
    let sub_routes: BTreeSet<&String> = documented
        .iter()
        .map(|(_, route)| route)
        .filter(|route| route.starts_with("/indexes/{uid}/settings/"))
        .collect();
    assert_eq!(sub_routes.len(), 22, "every settings sub-route is listed");
    for route in sub_routes {
        let path = route.replace("{uid}", "movies");
        let current = c.check(M::GET, route, &path, None, Shape::Any(ok)).await;
        let update = documented
            .iter()
            .find(|(method, r)| r == route && (method == "PUT" || method == "PATCH"))
            .map(|(method, _)| method.clone())
            .expect("an update verb");
        let method = Method::from_bytes(update.as_bytes()).expect("a method");
        c.check(method, route, &path, Some(current), Shape::Task)
            .await;
        c.check(M::DELETE, route, &path, None, Shape::Task).await;
    }
    c.check(
        M::DELETE,
        "/indexes/{uid}/settings",
        "/indexes/movies/settings",
        None,
        Shape::Task,
    )
    .await;

    // Swaps.
    c.client
        .write_ok(M::POST, "/indexes", json!({"uid": "movies2"}))
        .await;
    c.check(
        M::POST,
        "/swap-indexes",
        "/swap-indexes",
        Some(json!([{"indexes": ["movies", "movies2"]}])),
        Shape::Task,
    )
    .await;
    c.client
        .write_ok(
            M::POST,
            "/swap-indexes",
            json!([{"indexes": ["movies", "movies2"]}]),
        )
        .await;

    // Tasks and batches.
    c.check(
        M::GET,
        "/tasks",
        "/tasks?limit=3",
        None,
        Shape::Object(ok, &["results", "total", "limit", "from", "next"]),
    )
    .await;
    c.check(
        M::GET,
        "/tasks/{uid}",
        "/tasks/0",
        None,
        Shape::Object(ok, &["uid", "status", "type", "details", "duration"]),
    )
    .await;
    c.check(
        M::POST,
        "/tasks/cancel",
        "/tasks/cancel?uids=999999",
        None,
        Shape::Object(ok, &["taskUid", "type"]),
    )
    .await;
    c.check(
        M::DELETE,
        "/tasks",
        "/tasks?uids=0",
        None,
        Shape::Object(ok, &["taskUid", "type"]),
    )
    .await;
    c.check(
        M::GET,
        "/batches",
        "/batches?limit=2",
        None,
        Shape::Object(ok, &["results", "total", "limit", "from", "next"]),
    )
    .await;
    c.check(
        M::GET,
        "/batches/{uid}",
        "/batches/1",
        None,
        Shape::Object(ok, &["uid", "progress", "details", "stats", "duration"]),
    )
    .await;

    // Keys.
    c.check(
        M::GET,
        "/keys",
        "/keys",
        None,
        Shape::Object(ok, &["results", "offset", "limit", "total"]),
    )
    .await;
    let key = c
        .check(
            M::POST,
            "/keys",
            "/keys",
            Some(json!({"actions": ["search"], "indexes": ["movies"], "expiresAt": null})),
            Shape::Object(
                S::CREATED,
                &["key", "uid", "actions", "indexes", "expiresAt"],
            ),
        )
        .await;
    let key_path = format!("/keys/{}", key["uid"].as_str().unwrap_or_default());
    c.check(
        M::GET,
        "/keys/{key}",
        &key_path,
        None,
        Shape::Object(ok, &["key", "uid", "name"]),
    )
    .await;
    c.check(
        M::PATCH,
        "/keys/{key}",
        &key_path,
        Some(json!({"name": "search movies"})),
        Shape::Object(ok, &["name"]),
    )
    .await;
    c.check(
        M::DELETE,
        "/keys/{key}",
        &key_path,
        None,
        Shape::Empty(S::NO_CONTENT),
    )
    .await;

    // Webhooks (toward a closed local port: nothing is sent anywhere else).
    c.check(
        M::GET,
        "/webhooks",
        "/webhooks",
        None,
        Shape::Object(ok, &["results"]),
    )
    .await;
    let hook = c
        .check(
            M::POST,
            "/webhooks",
            "/webhooks",
            Some(json!({"url": "http://127.0.0.1:9/hook"})),
            Shape::Object(S::CREATED, &["uuid", "url", "headers", "isEditable"]),
        )
        .await;
    let hook_path = format!("/webhooks/{}", hook["uuid"].as_str().unwrap_or_default());
    c.check(
        M::GET,
        "/webhooks/{uuid}",
        &hook_path,
        None,
        Shape::Object(ok, &["uuid", "url"]),
    )
    .await;
    c.check(
        M::PATCH,
        "/webhooks/{uuid}",
        &hook_path,
        Some(json!({"headers": {"x-test": "1"}})),
        Shape::Object(ok, &["headers"]),
    )
    .await;
    c.check(
        M::DELETE,
        "/webhooks/{uuid}",
        &hook_path,
        None,
        Shape::Empty(S::NO_CONTENT),
    )
    .await;

    // Dumps and snapshots.
    c.check(M::POST, "/dumps", "/dumps", None, Shape::Task)
        .await;
    c.check(M::POST, "/snapshots", "/snapshots", None, Shape::Task)
        .await;

    // Chat workspaces and templates.
    c.check(
        M::PATCH,
        "/chats/{workspace}/settings",
        "/chats/support/settings",
        Some(json!({"source": "openAi", "apiKey": "sk-test-0123456789"})),
        Shape::Object(ok, &["source", "apiKey", "prompts"]),
    )
    .await;
    c.check(
        M::GET,
        "/chats",
        "/chats",
        None,
        Shape::Object(ok, &["results", "offset", "limit", "total"]),
    )
    .await;
    c.check(
        M::GET,
        "/chats/{workspace}",
        "/chats/support",
        None,
        Shape::Object(ok, &["uid"]),
    )
    .await;
    let settings = c
        .check(
            M::GET,
            "/chats/{workspace}/settings",
            "/chats/support/settings",
            None,
            Shape::Object(ok, &["source", "prompts"]),
        )
        .await;
    assert_ne!(
        settings["apiKey"], "sk-test-0123456789",
        "the LLM key is redacted"
    );
    c.check(
        M::DELETE,
        "/chats/{workspace}/settings",
        "/chats/support/settings",
        None,
        Shape::Object(ok, &["source"]),
    )
    .await;
    c.check(
        M::DELETE,
        "/chats/{workspace}",
        "/chats/support",
        None,
        Shape::Empty(S::NO_CONTENT),
    )
    .await;
    for node in &cluster.nodes {
        let (status, _) = node.client().get("/chats/support").await;
        assert_eq!(status, S::NOT_FOUND, "deleted on every node");
    }
    let render = json!({
        "template": {"kind": "inlineDocumentTemplate", "inline": "{{doc.title}} ({{doc.year}})"},
        "input": {"kind": "indexDocument", "indexUid": "movies", "id": "0"}
    });
    let rendered = c
        .check(
            M::POST,
            "/render-template",
            "/render-template",
            Some(render),
            Shape::Object(ok, &["template", "rendered"]),
        )
        .await;
    assert_eq!(rendered["rendered"], "movie 0 (1999)", "{rendered}");

    // Routes with no sound meaning behind Miroir.
    c.check(
        M::POST,
        "/indexes/{uid}/compact",
        "/indexes/movies/compact",
        None,
        Shape::Task,
    )
    .await;
    // Behind its experimental feature, as on Meilisearch (the documents are checked in
    // tests/task_documents.rs).
    c.check(
        M::GET,
        "/tasks/{uid}/documents",
        "/tasks/1/documents",
        None,
        Shape::Error(S::BAD_REQUEST, "feature_not_enabled"),
    )
    .await;
    // Dynamic search rules: changes are tasks over every node, reads a node's (the pins they
    // place in searches are checked in tests/equivalence.rs).
    let rule = json!({"active": true, "actions": [{"selector": {"id": "1"}, "action": {"type": "pin", "position": 0}}]});
    let rule_route = "/dynamic-search-rules/{uid}";
    c.check(
        M::PATCH,
        rule_route,
        "/dynamic-search-rules/sale",
        Some(rule),
        Shape::Task,
    )
    .await;
    c.check(
        M::GET,
        rule_route,
        "/dynamic-search-rules/sale",
        None,
        Shape::Object(ok, &["uid", "active", "conditions", "actions"]),
    )
    .await;
    c.check(
        M::POST,
        "/dynamic-search-rules",
        "/dynamic-search-rules",
        Some(json!({})),
        Shape::Object(ok, &["results", "offset", "limit", "total"]),
    )
    .await;
    c.check(
        M::DELETE,
        rule_route,
        "/dynamic-search-rules/sale",
        None,
        Shape::Task,
    )
    .await;
    c.check(
        M::DELETE,
        "/dynamic-search-rules",
        "/dynamic-search-rules",
        None,
        Shape::Task,
    )
    .await;
    let unsupported: [(Method, &str, &str); 7] = [
        (M::POST, "/tasks/compact", "/tasks/compact"),
        (
            M::POST,
            "/chats/{workspace}/chat/completions",
            "/chats/support/chat/completions",
        ),
        (M::GET, "/network", "/network"),
        (M::PATCH, "/network", "/network"),
        (M::POST, "/network/control", "/network/control"),
        (M::POST, "/export", "/export"),
        (M::POST, "/logs/stderr", "/logs/stderr"),
    ];
    for (method, route, path) in unsupported {
        c.check(
            method,
            route,
            path,
            None,
            Shape::Error(S::NOT_IMPLEMENTED, "miroir_not_supported"),
        )
        .await;
    }
    for method in [M::POST, M::DELETE] {
        c.check(
            method,
            "/logs/stream",
            "/logs/stream",
            None,
            Shape::Error(S::NOT_IMPLEMENTED, "miroir_not_supported"),
        )
        .await;
    }

    // Prometheus' text page (its samples are checked in tests/metrics.rs).
    let page = c
        .check(M::GET, "/metrics", "/metrics", None, Shape::Any(ok))
        .await;
    assert!(
        page.as_str()
            .is_some_and(|text| text.contains("miroir_http_requests_total")),
        "{page}"
    );

    // Miroir's own routes.
    c.check(
        M::GET,
        "/_miroir/nodes",
        "/_miroir/nodes",
        None,
        Shape::Object(ok, &["results"]),
    )
    .await;
    c.check(
        M::GET,
        "/_miroir/topology",
        "/_miroir/topology",
        None,
        Shape::Object(ok, &["epoch", "replicationFactor", "nodes", "rebalance"]),
    )
    .await;
    let lease = c
        .check(
            M::GET,
            "/_miroir/lease",
            "/_miroir/lease",
            None,
            Shape::Object(ok, &["process", "store", "holder", "token", "leading"]),
        )
        .await;
    assert_eq!(lease["store"], "sqlite", "{lease}");
    assert_eq!(
        lease["leading"], true,
        "one process with its own store runs everything"
    );
    let map = c
        .check(
            M::GET,
            "/_miroir/shards",
            "/_miroir/shards",
            None,
            Shape::Object(ok, &["results"]),
        )
        .await;
    assert!(map["results"].is_array(), "{map}");
    for (route, marker) in [
        ("/_miroir/ui", "<title>Miroir cluster</title>"),
        ("/_miroir/ui/", "<title>Miroir cluster</title>"),
        ("/_miroir/ui/app.js", "/_miroir/topology"),
        ("/_miroir/ui/style.css", ".replica.stale"),
    ] {
        let file = c.check(M::GET, route, route, None, Shape::Any(ok)).await;
        assert!(
            file.as_str().is_some_and(|text| text.contains(marker)),
            "{route}: {file}"
        );
    }
    c.check(
        M::GET,
        "/_miroir/rebalance",
        "/_miroir/rebalance",
        None,
        Shape::Object(ok, &["state", "movesTotal", "movesDone", "documentsCopied"]),
    )
    .await;
    c.check(
        M::POST,
        "/_miroir/nodes",
        "/_miroir/nodes",
        Some(json!({"id": "n0", "url": "http://127.0.0.1:1"})),
        Shape::Error(StatusCode::CONFLICT, "miroir_node_already_exists"),
    )
    .await;
    c.check(
        M::POST,
        "/_miroir/nodes/{id}/drain",
        "/_miroir/nodes/nowhere/drain",
        Some(json!({})),
        Shape::Error(StatusCode::NOT_FOUND, "miroir_node_not_found"),
    )
    .await;
    c.check(
        M::DELETE,
        "/_miroir/nodes/{id}",
        "/_miroir/nodes/nowhere",
        None,
        Shape::Error(StatusCode::NOT_FOUND, "miroir_node_not_found"),
    )
    .await;
    c.check(
        M::PATCH,
        "/_miroir/topology",
        "/_miroir/topology",
        Some(json!({"replicationFactor": 99})),
        Shape::Error(StatusCode::BAD_REQUEST, "miroir_invalid_replication_factor"),
    )
    .await;
    c.check(
        M::GET,
        "/_miroir/indexes/{uid}",
        "/_miroir/indexes/nowhere",
        None,
        Shape::Error(StatusCode::NOT_FOUND, "index_not_found"),
    )
    .await;
    c.check(
        M::PATCH,
        "/_miroir/indexes/{uid}",
        "/_miroir/indexes/nowhere",
        Some(json!({"whole": true})),
        Shape::Error(StatusCode::NOT_FOUND, "index_not_found"),
    )
    .await;
    c.check(
        M::POST,
        "/_miroir/rebalance/pause",
        "/_miroir/rebalance/pause",
        Some(json!({})),
        Shape::Error(StatusCode::CONFLICT, "miroir_no_rebalance"),
    )
    .await;
    c.check(
        M::POST,
        "/_miroir/rebalance/resume",
        "/_miroir/rebalance/resume",
        Some(json!({})),
        Shape::Error(StatusCode::CONFLICT, "miroir_no_rebalance"),
    )
    .await;
    c.check(
        M::POST,
        "/_miroir/verify",
        "/_miroir/verify",
        Some(json!({})),
        Shape::Object(ok, &["consistent", "indexes", "repairTasks"]),
    )
    .await;

    // Cleanup routes last.
    c.check(
        M::DELETE,
        "/indexes/{uid}/documents",
        "/indexes/movies/documents",
        None,
        Shape::Task,
    )
    .await;
    c.check(
        M::DELETE,
        "/indexes/{uid}",
        "/indexes/movies",
        None,
        Shape::Task,
    )
    .await;

    let missing: Vec<_> = documented.difference(&c.checked).collect();
    assert!(missing.is_empty(), "listed but not checked: {missing:?}");
    let unlisted: Vec<_> = c.checked.difference(&documented).collect();
    assert!(unlisted.is_empty(), "checked but not listed: {unlisted:?}");
}
dual_test!(every_documented_route);
