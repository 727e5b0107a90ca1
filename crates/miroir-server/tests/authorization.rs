//! Every route of Miroir's route table, called without a key and with a wrong key: each one
//! refuses (`missing_authorization_header`, `invalid_api_key`) before doing anything, except
//! `/health`. The table and `docs/api-coverage.md` list the same routes, so a route served
//! outside the table (and so without a declared action) fails this test too.

#[macro_use]
mod common;

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};

use common::{Backend, Cluster};
use miroir_server::{routes, Guard};

/// A path with every `{param}` replaced by a plausible value.
fn instance_of(route: &str) -> String {
    route
        .replace("{uid}", "movies")
        .replace("{task_uid}", "0")
        .replace("{batch_uid}", "0")
        .replace("{rule_uid}", "rule")
        .replace("{id}", "1")
        .replace("{setting}", "ranking-rules")
        .replace("{key}", "0c3f8d94-4c51-4bbb-8b1b-43e1ea8dfc2c")
        .replace("{uuid}", "0c3f8d94-4c51-4bbb-8b1b-43e1ea8dfc2c")
        .replace("{workspace}", "ws")
}

/// `{anything}` becomes `{}`, so that parameter names do not matter.
fn shape(route: &str) -> String {
    let mut out = String::new();
    let mut in_param = false;
    for c in route.chars() {
        match c {
            '{' => {
                in_param = true;
                out.push_str("{}");
            }
            '}' => in_param = false,
            _ if in_param => {}
            _ => out.push(c),
        }
    }
    out
}

/// The `(method, route)` pairs of the coverage table.
fn documented() -> BTreeSet<(String, String)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/api-coverage.md");
    let text = std::fs::read_to_string(path).expect("docs/api-coverage.md is readable");
    let mut routes = BTreeSet::new();
    for line in text.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 4 || !cells[2].starts_with("`/") {
            continue;
        }
        let mut route = shape(cells[2].trim_matches('`'));
        // Miroir serves every settings sub-route through one `{setting}` route.
        if route.starts_with("/indexes/{}/settings/") {
            route = "/indexes/{}/settings/{}".to_string();
        }
        for method in cells[1].split('`').map(str::trim).filter(|m| !m.is_empty()) {
            routes.insert((method.to_string(), route.clone()));
        }
    }
    routes
}

#[test]
fn the_route_table_is_the_documented_api() {
    let served: BTreeSet<(String, String)> = routes()
        .iter()
        .map(|r| (r.method.to_string(), shape(r.path)))
        .collect();
    let documented = documented();
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty(),
        "served but not documented: {undocumented:?}"
    );
    assert!(
        unserved.is_empty(),
        "documented but not in the table: {unserved:?}"
    );
}

async fn every_route_refuses_missing_and_wrong_keys(backend: Backend) {
    let cluster = Cluster::start(&backend, 2, 1, 4).await;
    let anonymous = cluster.client().with_key(None);
    let wrong = cluster.client().with_key(Some("not-a-key"));
    let mut checked = 0;
    for route in routes() {
        let method = Method::from_bytes(route.method.as_str().as_bytes()).expect("method");
        let path = instance_of(route.path);
        let call = format!("{} {}", route.method, route.path);
        let json = Some("application/json");
        let (status, body) = anonymous
            .raw(method.clone(), &path, json, b"{}".to_vec())
            .await;
        match route.guard {
            Guard::Public => {
                assert_eq!(status, StatusCode::OK, "{call}: {body}");
                continue;
            }
            Guard::Action(_) => {
                assert_eq!(status, StatusCode::UNAUTHORIZED, "{call}: {body}");
                assert_eq!(body["code"], "missing_authorization_header", "{call}");
            }
        }
        let (status, body) = wrong.raw(method, &path, json, b"{}".to_vec()).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{call}: {body}");
        assert_eq!(body["code"], "invalid_api_key", "{call}");
        checked += 1;
    }
    assert!(checked > 70, "only {checked} routes checked");
    // Nothing was created by any refused call.
    let (status, indexes) = cluster.client().get("/indexes").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(indexes["total"], 0, "{indexes}");
}

dual_test!(every_route_refuses_missing_and_wrong_keys);
