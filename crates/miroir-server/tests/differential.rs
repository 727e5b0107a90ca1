//! Malformed and edge-case requests answer as one Meilisearch does: a generated corpus (bad and
//! truncated JSON, invalid UTF-8, wrong and missing content types, wrong JSON types, unknown
//! fields, out-of-range numbers, deep nesting, bad query strings, odd paths) is sent to Miroir
//! (3 nodes, RF 2) and to one plain node holding the same index; the status, `code` and `type`
//! must match. The differences that remain are listed, with their reason, in the table "Known
//! differences on malformed input" of `docs/api-coverage.md`, which this test reads: a
//! difference not listed fails it, and so does a listed one that no longer happens.
//!
//! With `MEILI_BIN` the plain node is real Meilisearch, and its answers are checked against
//! the recorded ones (`tests/fixtures/malformed-answers.json`); on test nodes (CI) Miroir is
//! compared with those recorded answers, so Meilisearch's behaviour is checked even where no
//! Meilisearch binary is at hand.

#[macro_use]
mod common;

use std::collections::{BTreeMap, BTreeSet};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use common::{Backend, Client, Cluster, Node};

/// One request of the corpus.
struct Case {
    method: Method,
    path: String,
    content_type: Option<&'static str>,
    body: Vec<u8>,
}

impl Case {
    fn name(&self) -> String {
        let body = String::from_utf8_lossy(&self.body);
        let body = if body.chars().count() > 160 {
            let head: String = body.chars().take(100).collect();
            format!("{head}… ({} bytes)", self.body.len())
        } else {
            body.into_owned()
        };
        format!(
            "{} {} [{}] {}",
            self.method,
            self.path,
            self.content_type.unwrap_or("-"),
            body
        )
    }
}

const JSON: Option<&str> = Some("application/json");

fn deep(levels: usize) -> Vec<u8> {
    format!("{{\"q\": {}1{}}}", "[".repeat(levels), "]".repeat(levels)).into_bytes()
}

/// The corpus: every body mutation on every JSON route, search parameters of the wrong type or
/// range (POST and GET), bad listing parameters, odd paths.
fn corpus() -> Vec<Case> {
    let mut cases = Vec::new();
    let json_routes = [
        (Method::POST, "/indexes/docs/search"),
        (Method::POST, "/multi-search"),
        (Method::POST, "/indexes/docs/facet-search"),
        (Method::POST, "/indexes/docs/documents/fetch"),
        (Method::POST, "/indexes/docs/documents/delete-batch"),
        (Method::POST, "/indexes/docs/documents/delete"),
        (Method::PATCH, "/indexes/docs/settings"),
        (Method::PUT, "/indexes/docs/settings/filterable-attributes"),
        (Method::POST, "/indexes"),
        (Method::PATCH, "/indexes/docs"),
        (Method::POST, "/keys"),
        (Method::POST, "/swap-indexes"),
        (Method::POST, "/indexes/docs/similar"),
    ];
    let bodies: Vec<(Option<&'static str>, Vec<u8>)> = vec![
        (JSON, b"".to_vec()),
        (JSON, b"{".to_vec()),
        (JSON, b"{\"q\": \"\xff\xfe\"}".to_vec()),
        (Some("text/plain"), b"{}".to_vec()),
        (None, b"{}".to_vec()),
        (JSON, b"[]".to_vec()),
        (JSON, b"1".to_vec()),
        (JSON, b"null".to_vec()),
        (JSON, b"{\"unknownField\": 1}".to_vec()),
        (JSON, deep(300)),
        (JSON, b"{\"limit\": 1e400}".to_vec()),
    ];
    for (method, path) in &json_routes {
        for (content_type, body) in &bodies {
            cases.push(Case {
                method: method.clone(),
                path: path.to_string(),
                content_type: *content_type,
                body: body.clone(),
            });
        }
    }
    let search_bodies = [
        json!({"limit": -1}),
        json!({"limit": 1e20}),
        json!({"limit": "5"}),
        json!({"offset": "x"}),
        json!({"hitsPerPage": -3}),
        json!({"page": -1}),
        json!({"q": 123}),
        json!({"q": []}),
        json!({"attributesToRetrieve": "title"}),
        json!({"attributesToCrop": 1}),
        json!({"cropLength": -1}),
        json!({"filter": 5}),
        json!({"filter": "title ="}),
        json!({"filter": "unknown = 1"}),
        json!({"sort": "title:asc"}),
        json!({"sort": ["nope:asc"]}),
        json!({"facets": "title"}),
        json!({"matchingStrategy": "bogus"}),
        json!({"rankingScoreThreshold": 2}),
        json!({"showRankingScore": "yes"}),
        json!({"highlightPreTag": 1}),
        json!({"distinct": 5}),
        json!({"distinct": "nope"}),
        json!({"locales": ["xx"]}),
        json!({"attributesToSearchOn": ["nope"]}),
        json!({"retrieveVectors": "x"}),
        json!({"vector": "x"}),
    ];
    for body in search_bodies {
        cases.push(Case {
            method: Method::POST,
            path: "/indexes/docs/search".to_string(),
            content_type: JSON,
            body: body.to_string().into_bytes(),
        });
        let queries = json!({"queries": [{"indexUid": "docs"}, {"indexUid": "docs"}]});
        let mut multi = queries;
        if let (Some(query), Some(fields)) = (multi["queries"][1].as_object_mut(), body.as_object())
        {
            query.extend(fields.clone());
        }
        cases.push(Case {
            method: Method::POST,
            path: "/multi-search".to_string(),
            content_type: JSON,
            body: multi.to_string().into_bytes(),
        });
    }
    let gets = [
        "/indexes/docs/search?limit=-1",
        "/indexes/docs/search?limit=abc",
        "/indexes/docs/search?offset=x",
        "/indexes/docs/search?hitsPerPage=0",
        "/indexes/docs/search?page=x",
        "/indexes/docs/search?filter=(",
        "/indexes/docs/search?sort=nope:asc",
        "/indexes/docs/search?showRankingScore=maybe",
        "/indexes/docs/search?matchingStrategy=bogus",
        "/indexes/docs/documents?limit=-1",
        "/indexes/docs/documents?offset=x",
        "/indexes/docs/documents?filter=(",
        "/indexes/docs/documents?retrieveVectors=maybe",
        "/tasks?limit=-1",
        "/tasks?uids=abc",
        "/tasks?statuses=bogus",
        "/tasks?types=bogus",
        "/tasks?from=x",
        "/tasks?afterEnqueuedAt=notadate",
        "/tasks?unknownParameter=1",
        "/batches?limit=-1",
        "/indexes?limit=-1",
        "/indexes?offset=x",
        "/keys?limit=x",
        "/stats?sizeFormat=bogus",
        "/stats?showInternalDatabaseSizes=maybe",
        "/stats?unknownParameter=1",
        "/stats?sizeFormat=human&showInternalDatabaseSizes=true",
        "/indexes/docs/stats?sizeFormat=HUMAN",
        "/indexes/docs/stats?sizeFormat=human",
        "/indexes/a%20b",
        "/indexes/%C3%A9",
        "/indexes/docs/documents/a%20b",
        "/indexes/docs/documents/999999",
        "/indexes/docs/settings/nope",
        "/indexes/nope/search",
        "/indexes/nope/documents",
        "/tasks/abc",
        "/tasks/99999999",
        "/keys/not-a-key",
    ];
    for path in gets {
        cases.push(Case {
            method: Method::GET,
            path: path.to_string(),
            content_type: None,
            body: Vec::new(),
        });
    }
    let missing_indexes = [
        (
            Method::POST,
            "/multi-search",
            json!({"queries": [{"indexUid": "nope"}]}),
        ),
        (
            Method::POST,
            "/multi-search",
            json!({"queries": [{"indexUid": "docs"}, {"indexUid": "nope"}]}),
        ),
        (
            Method::POST,
            "/multi-search",
            json!({"federation": {}, "queries": [{"indexUid": "nope"}]}),
        ),
        (Method::POST, "/indexes/nope/search", json!({})),
        (
            Method::POST,
            "/indexes/nope/facet-search",
            json!({"facetName": "title"}),
        ),
        (Method::POST, "/indexes/nope/documents/fetch", json!({})),
    ];
    for (method, path, body) in missing_indexes {
        cases.push(Case {
            method,
            path: path.to_string(),
            content_type: JSON,
            body: body.to_string().into_bytes(),
        });
    }
    for (method, path) in [
        (Method::POST, "/tasks/cancel"),
        (Method::POST, "/tasks/cancel?uids=abc"),
        (Method::POST, "/tasks/cancel?statuses=bogus"),
        (Method::DELETE, "/tasks"),
        (Method::DELETE, "/tasks?types=bogus"),
        (Method::DELETE, "/tasks?beforeEnqueuedAt=yesterday"),
    ] {
        cases.push(Case {
            method,
            path: path.to_string(),
            content_type: None,
            body: Vec::new(),
        });
    }
    cases.push(Case {
        method: Method::GET,
        path: format!("/indexes/{}", "a".repeat(400)),
        content_type: None,
        body: Vec::new(),
    });
    cases
}

/// What is compared: status, `code` and `type`.
fn outline(answer: &(StatusCode, Value)) -> Outline {
    let (status, body) = answer;
    (
        status.as_u16(),
        body.get("code").cloned().unwrap_or(Value::Null),
        body.get("type").cloned().unwrap_or(Value::Null),
    )
}

/// The cases `docs/api-coverage.md` lists as known differences (first column of its table).
fn documented() -> BTreeSet<String> {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/api-coverage.md"
    ))
    .expect("docs/api-coverage.md");
    let Some((_, section)) = doc.split_once("## Known differences on malformed input") else {
        return BTreeSet::new();
    };
    section
        .lines()
        .take_while(|line| !line.starts_with("## "))
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|line| line.split_once("` |"))
        .map(|(case, _)| case.replace("\\|", "|"))
        .collect()
}

async fn setup(client: &Client) {
    let documents = (0..20)
        .map(|id| json!({"id": id, "title": format!("title {id}")}))
        .collect();
    client
        .seed_index(
            "docs",
            json!({"filterableAttributes": ["title"], "sortableAttributes": ["title"]}),
            documents,
        )
        .await;
}

/// Meilisearch 1.50's answers to the corpus, recorded: what CI compares Miroir with on test
/// nodes. A run with `MEILI_BIN` checks it is still exact (and rewrites it when
/// `MIROIR_UPDATE_FIXTURES=1`).
const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/malformed-answers.json"
);

type Outline = (u16, Value, Value);

fn read_fixture() -> BTreeMap<String, Outline> {
    let text = std::fs::read_to_string(FIXTURE).expect("the recorded answers");
    serde_json::from_str(&text).expect("the recorded answers are JSON")
}

async fn send(client: &Client, case: &Case) -> Outline {
    outline(
        &client
            .raw(
                case.method.clone(),
                &case.path,
                case.content_type,
                case.body.clone(),
            )
            .await,
    )
}

/// Where the test node (test support, not Meilisearch) answers differently from Meilisearch on a
/// request Miroir relays to the nodes as it is; over real Meilisearch Miroir matches (checked
/// with `MEILI_BIN`). Only allowed on test nodes.
const TEST_NODE_GAPS: [(&str, &str); 2] = [
    (
        "POST /indexes/docs/search [application/json] {\"locales\":[\"xx\"]}",
        "the test node does not check locale codes against Meilisearch's list",
    ),
    (
        "POST /multi-search [application/json] {\"queries\":[{\"indexUid\":\"docs\"},{\"indexUid\":\"docs\",\"locales\":[\"xx\"]}]}",
        "the same, inside a multi-search",
    ),
];

async fn malformed_input_answers_as_one_node(backend: Backend) {
    let cluster = Cluster::start(&backend, 3, 2, 8).await;
    let miroir = cluster.client();
    setup(&miroir).await;
    let cases = corpus();
    let expected: BTreeMap<String, Outline> = match backend {
        Backend::Real(_) => {
            let reference = Node::start(&backend).await;
            let plain = reference.client();
            setup(&plain).await;
            let mut answers = BTreeMap::new();
            for case in &cases {
                answers.insert(case.name(), send(&plain, case).await);
            }
            if std::env::var_os("MIROIR_UPDATE_FIXTURES").is_some() {
                let text = serde_json::to_string_pretty(&answers).expect("answers as JSON");
                std::fs::write(FIXTURE, text + "\n").expect("the fixture is written");
            } else {
                assert_eq!(
                    read_fixture(),
                    answers,
                    "Meilisearch's recorded answers are stale: run with MIROIR_UPDATE_FIXTURES=1"
                );
            }
            answers
        }
        Backend::TestNode => read_fixture(),
    };
    let mut known = documented();
    if matches!(backend, Backend::TestNode) {
        known.extend(TEST_NODE_GAPS.iter().map(|(case, _)| case.to_string()));
    }
    let mut differing = BTreeSet::new();
    for case in &cases {
        let through = send(&miroir, case).await;
        let wanted = expected.get(&case.name()).cloned();
        if Some(&through) != wanted.as_ref() {
            eprintln!(
                "differs: {}\n  miroir      {through:?}\n  meilisearch {wanted:?}",
                case.name()
            );
            differing.insert(case.name());
        }
    }
    eprintln!("{} cases, {} differ", cases.len(), differing.len());
    let unlisted: Vec<&String> = differing.difference(&known).collect();
    assert!(
        unlisted.is_empty(),
        "differences not listed in docs/api-coverage.md: {unlisted:#?}"
    );
    let gone: Vec<&String> = known.difference(&differing).collect();
    assert!(
        gone.is_empty(),
        "listed differences that no longer happen: {gone:#?}"
    );
}

dual_test!(malformed_input_answers_as_one_node);
