//! End-to-end checks of the test node over HTTP: task lifecycle, document round trips in every
//! payload format, filters (including Miroir's shard-marker filter), the invisibility of a
//! null-valued marker to search, and a few search, ranking and facet checks.
//! Every wait is a bounded poll.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use miroir_testnode::{spawn, Config, TestNode};

const KEY: &str = "test-master-key";

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    async fn start() -> (TestNode, Client) {
        let node = spawn(Config {
            master_key: Some(KEY.into()),
            data_dir: None,
        })
        .await
        .expect("node starts");
        let client = Client {
            http: reqwest::Client::new(),
            base: node.url(),
        };
        (node, client)
    }

    async fn raw(
        &self,
        method: Method,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{}", self.base, path))
            .bearer_auth(KEY);
        if let Some((content_type, bytes)) = body {
            request = request.header("Content-Type", content_type).body(bytes);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status();
        let bytes = response.bytes().await.expect("body read");
        let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, value)
    }

    async fn json(&self, method: Method, path: &str, body: Value) -> (StatusCode, Value) {
        self.raw(
            method,
            path,
            Some(("application/json", body.to_string().into_bytes())),
        )
        .await
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.raw(Method::GET, path, None).await
    }

    /// Polls a task until it is finished (at most 10 s).
    async fn wait(&self, uid: &Value) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (status, task) = self.get(&format!("/tasks/{uid}")).await;
            assert_eq!(status, StatusCode::OK, "{task}");
            if ["succeeded", "failed", "canceled"].contains(&task["status"].as_str().unwrap_or(""))
            {
                return task;
            }
            assert!(
                Instant::now() < deadline,
                "task {uid} never finished: {task}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Sends a task-creating request and waits for the task.
    async fn task(&self, method: Method, path: &str, body: Option<(&str, Vec<u8>)>) -> Value {
        let (status, summary) = self.raw(method, path, body).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{summary}");
        self.wait(&summary["taskUid"]).await
    }

    async fn task_json(&self, method: Method, path: &str, body: Value) -> Value {
        self.task(
            method,
            path,
            Some(("application/json", body.to_string().into_bytes())),
        )
        .await
    }

    async fn search(&self, index: &str, body: Value) -> Value {
        let (status, answer) = self
            .json(Method::POST, &format!("/indexes/{index}/search"), body)
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        answer
    }
}

#[tokio::test]
async fn auth_and_health() {
    let (_node, client) = Client::start().await;
    let http = reqwest::Client::new();
    let health: Value = http
        .get(format!("{}/health", client.base))
        .send()
        .await
        .expect("health")
        .json()
        .await
        .expect("json");
    assert_eq!(health, json!({"status": "available"}));
    let response = http
        .get(format!("{}/indexes", client.base))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["code"], "missing_authorization_header");
    let response = http
        .get(format!("{}/indexes", client.base))
        .bearer_auth("wrong")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body: Value = response.json().await.expect("json");
    assert_eq!(
        body,
        json!({
            "message": "The provided API key is invalid.",
            "code": "invalid_api_key",
            "type": "auth",
            "link": "https://docs.meilisearch.com/errors#invalid_api_key"
        })
    );
    let (status, list) = client.get("/indexes/").await;
    assert_eq!(
        status,
        StatusCode::OK,
        "trailing slashes are trimmed: {list}"
    );
    let (status, _) = client.get("/no-such-route").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, version) = client.get("/version").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(version["pkgVersion"], "1.50.0");
}

#[tokio::test]
async fn task_lifecycle() {
    let (_node, client) = Client::start().await;
    let (status, summary) = client
        .json(
            Method::POST,
            "/indexes/movies/documents",
            json!([{"id": 1, "title": "Carol"}]),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let keys: Vec<&String> = summary.as_object().expect("object").keys().collect();
    assert_eq!(
        keys,
        ["taskUid", "indexUid", "status", "type", "enqueuedAt"]
    );
    assert_eq!(summary["status"], "enqueued");
    assert_eq!(summary["type"], "documentAdditionOrUpdate");
    let task = client.wait(&summary["taskUid"]).await;
    let keys: Vec<&String> = task.as_object().expect("object").keys().collect();
    assert_eq!(
        keys,
        [
            "uid",
            "batchUid",
            "indexUid",
            "status",
            "type",
            "canceledBy",
            "details",
            "error",
            "duration",
            "enqueuedAt",
            "startedAt",
            "finishedAt"
        ]
    );
    assert_eq!(task["status"], "succeeded");
    assert_eq!(
        task["details"],
        json!({"receivedDocuments": 1, "indexedDocuments": 1})
    );
    assert!(task["duration"]
        .as_str()
        .is_some_and(|d| d.starts_with("PT") && d.ends_with('S')));
    assert!(task["finishedAt"]
        .as_str()
        .is_some_and(|d| d.ends_with('Z')));

    // A failing task: no primary key candidate.
    let task = client
        .task_json(
            Method::POST,
            "/indexes/other/documents",
            json!([{"name": "x"}]),
        )
        .await;
    assert_eq!(task["status"], "failed");
    assert_eq!(
        task["error"]["code"],
        "index_primary_key_no_candidate_found"
    );
    assert_eq!(
        task["details"],
        json!({"receivedDocuments": 1, "indexedDocuments": 0})
    );

    // Invalid id.
    let task = client
        .task_json(
            Method::POST,
            "/indexes/movies/documents",
            json!([{"id": "a b"}]),
        )
        .await;
    assert_eq!(task["error"]["code"], "invalid_document_id");
    assert_eq!(
        task["error"]["message"],
        "Document identifier `\"a b\"` is invalid. A document identifier can be of type integer or string, only composed of alphanumeric characters (a-z A-Z 0-9), hyphens (-) and underscores (_), and can not be more than 511 bytes."
    );

    // Index creation conflict is a task failure.
    let task = client
        .task_json(Method::POST, "/indexes", json!({"uid": "movies"}))
        .await;
    assert_eq!(task["error"]["code"], "index_already_exists");

    // Listing with filters and pagination.
    let (status, list) = client.get("/tasks?limit=2&statuses=failed").await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["total"], 3);
    assert_eq!(list["results"].as_array().map(Vec::len), Some(2));
    assert_eq!(list["results"][0]["uid"], 3);
    assert_eq!(list["next"], 1);
    let (_, list) = client
        .get("/tasks?reverse=true&indexUids=movies&types=documentAdditionOrUpdate")
        .await;
    assert_eq!(list["results"][0]["uid"], 0);
    assert_eq!(list["total"], 2);
    let (status, error) = client.get("/tasks?statuses=doggo").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["code"], "invalid_task_statuses");
    let (status, error) = client.get("/tasks/999").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error["message"], "Task `999` not found.");

    // Cancel and delete need filters.
    let (status, error) = client.raw(Method::POST, "/tasks/cancel", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["code"], "missing_task_filters");
    let (status, summary) = client.raw(Method::DELETE, "/tasks?uids=1,2", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(summary["type"], "taskDeletion");
    let task = client.wait(&summary["taskUid"]).await;
    assert_eq!(
        task["details"],
        json!({"matchedTasks": 2, "deletedTasks": 2, "originalFilter": "?uids=1,2"})
    );
    let (status, _) = client.get("/tasks/1").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Stats.
    let (_, stats) = client.get("/indexes/movies/stats").await;
    assert_eq!(stats["numberOfDocuments"], 1);
    assert_eq!(stats["fieldDistribution"], json!({"id": 1, "title": 1}));
}

#[tokio::test]
async fn documents_round_trip_in_every_format() {
    let (_node, client) = Client::start().await;
    let task = client
        .task(
            Method::POST,
            "/indexes/json/documents",
            Some((
                "application/json",
                br#"[{"id": 1, "name": "a"}, {"id": "2", "name": "b", "n": {"x": null}}]"#.to_vec(),
            )),
        )
        .await;
    assert_eq!(task["status"], "succeeded", "{task}");
    let task = client
        .task(
            Method::POST,
            "/indexes/ndjson/documents",
            Some((
                "application/x-ndjson",
                b"{\"id\": 1, \"name\": \"a\"}\n{\"id\": 2, \"name\": \"b\"}\n".to_vec(),
            )),
        )
        .await;
    assert_eq!(task["status"], "succeeded", "{task}");
    let task = client
        .task(
            Method::POST,
            "/indexes/csv/documents?csvDelimiter=%3B",
            Some((
                "text/csv",
                b"id;name;score:number;ok:boolean\n1;a;1.5;true\n2;b;;false\n".to_vec(),
            )),
        )
        .await;
    assert_eq!(task["status"], "succeeded", "{task}");
    assert_eq!(task["details"]["indexedDocuments"], 2);

    let (_, page) = client.get("/indexes/json/documents").await;
    assert_eq!(
        page,
        json!({"results": [{"id": 1, "name": "a"}, {"id": "2", "name": "b", "n": {"x": null}}], "offset": 0, "limit": 20, "total": 2})
    );
    let (_, page) = client
        .get("/indexes/ndjson/documents?fields=name&limit=1&offset=1")
        .await;
    assert_eq!(page["results"], json!([{"name": "b"}]));
    assert_eq!(page["total"], 2);
    let (_, doc) = client.get("/indexes/csv/documents/2").await;
    assert_eq!(
        doc,
        json!({"id": "2", "name": "b", "score": null, "ok": false})
    );
    let (_, doc) = client.get("/indexes/csv/documents/1").await;
    assert_eq!(doc["score"], 1.5);

    // `1` and `"1"` are the same document; PUT merges top-level fields.
    let task = client
        .task_json(
            Method::PUT,
            "/indexes/json/documents",
            json!([{"id": "1", "extra": true}]),
        )
        .await;
    assert_eq!(task["status"], "succeeded");
    let (_, doc) = client.get("/indexes/json/documents/1").await;
    assert_eq!(doc, json!({"id": "1", "name": "a", "extra": true}));

    // Content-type errors are synchronous.
    let (status, error) = client
        .raw(
            Method::POST,
            "/indexes/json/documents",
            Some(("text/plain", b"x".to_vec())),
        )
        .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(error["code"], "invalid_content_type");
    let (status, error) = client
        .raw(
            Method::POST,
            "/indexes/json/documents",
            Some(("application/json", b"[{\"id\": 1,".to_vec())),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["code"], "malformed_payload");
    let (status, error) = client
        .raw(Method::POST, "/indexes/json/documents", None)
        .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(error["code"], "missing_content_type");

    // Deletions.
    let task = client
        .task_json(
            Method::POST,
            "/indexes/ndjson/documents/delete-batch",
            json!([1, "nope"]),
        )
        .await;
    assert_eq!(
        task["details"],
        json!({"providedIds": 2, "deletedDocuments": 1, "originalFilter": null})
    );
    let task = client
        .task(Method::DELETE, "/indexes/ndjson/documents", None)
        .await;
    assert_eq!(task["details"], json!({"deletedDocuments": 1}));
    let task = client
        .task(Method::DELETE, "/indexes/missing/documents/1", None)
        .await;
    assert_eq!(task["error"]["code"], "index_not_found");
}

#[tokio::test]
async fn shard_marker_filter() {
    let (_node, client) = Client::start().await;
    let task = client
        .task_json(
            Method::PATCH,
            "/indexes/m/settings",
            json!({"filterableAttributes": ["_miroir", "genre"]}),
        )
        .await;
    assert_eq!(task["status"], "succeeded", "{task}");
    assert_eq!(task["type"], "settingsUpdate");
    let docs: Vec<Value> = (0..10)
        .map(|i| json!({"id": i, "genre": if i % 2 == 0 { "even" } else { "odd" }, "_miroir": {format!("s{}", i % 4): null}}))
        .collect();
    let task = client
        .task_json(Method::POST, "/indexes/m/documents", Value::Array(docs))
        .await;
    assert_eq!(task["status"], "succeeded");

    let (status, page) = client
        .json(
            Method::POST,
            "/indexes/m/documents/fetch",
            json!({"filter": "_miroir.s1 EXISTS OR _miroir.s2 EXISTS", "fields": ["id"], "limit": 100}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(
        page["results"],
        json!([{"id": 1}, {"id": 2}, {"id": 5}, {"id": 6}, {"id": 9}])
    );
    let (_, page) = client
        .get("/indexes/m/documents?filter=(_miroir.s1%20EXISTS%20OR%20_miroir.s2%20EXISTS)%20AND%20genre%20%3D%20odd&fields=id")
        .await;
    assert_eq!(page["results"], json!([{"id": 1}, {"id": 5}, {"id": 9}]));
    let (_, page) = client
        .json(
            Method::POST,
            "/indexes/m/documents/fetch",
            json!({"filter": [["_miroir.s3 EXISTS"], "genre = odd"], "fields": ["id"]}),
        )
        .await;
    assert_eq!(page["results"], json!([{"id": 3}, {"id": 7}]));

    // Not filterable → Meilisearch's message with the location.
    let (status, error) = client
        .json(
            Method::POST,
            "/indexes/m/documents/fetch",
            json!({"filter": "doggo = bernese"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        error["message"],
        "Attribute `doggo` is not filterable. Available filterable attribute patterns are: `_miroir`, `genre`.\n1:6 doggo = bernese"
    );
    assert_eq!(error["code"], "invalid_document_filter");

    let task = client
        .task_json(
            Method::POST,
            "/indexes/m/documents/delete",
            json!({"filter": "_miroir.s0 EXISTS"}),
        )
        .await;
    assert_eq!(
        task["details"],
        json!({"providedIds": 0, "deletedDocuments": 3, "originalFilter": "\"_miroir.s0 EXISTS\""})
    );
    let (_, stats) = client.get("/indexes/m/stats").await;
    assert_eq!(stats["numberOfDocuments"], 7);
    assert_eq!(
        stats["fieldDistribution"],
        json!({"_miroir": 7, "genre": 7, "id": 7})
    );
}

#[tokio::test]
async fn settings_defaults_and_errors() {
    let (_node, client) = Client::start().await;
    client
        .task_json(
            Method::POST,
            "/indexes",
            json!({"uid": "s", "primaryKey": "id"}),
        )
        .await;
    let (status, settings) = client.get("/indexes/s/settings").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(settings.as_object().map(|o| o.len()), Some(20));
    assert_eq!(settings["pagination"], json!({"maxTotalHits": 1000}));
    let (status, error) = client
        .json(
            Method::PATCH,
            "/indexes/s/settings",
            json!({"displayedAttributes": "doggo"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["code"], "invalid_settings_displayed_attributes");
    assert_eq!(
        error["message"],
        "Invalid value type at `.displayedAttributes`: expected an array, but found a string: `\"doggo\"`"
    );
    let (status, error) = client
        .json(
            Method::PUT,
            "/indexes/s/settings/ranking-rules",
            json!(["custom"]),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["code"], "invalid_settings_ranking_rules");
    let task = client
        .task_json(
            Method::PATCH,
            "/indexes/s/settings/typo-tolerance",
            json!({"minWordSizeForTypos": {"oneTypo": 4}}),
        )
        .await;
    assert_eq!(
        task["details"],
        json!({"typoTolerance": {"minWordSizeForTypos": {"oneTypo": 4}}})
    );
    let (_, typo) = client.get("/indexes/s/settings/typo-tolerance").await;
    assert_eq!(
        typo["minWordSizeForTypos"],
        json!({"oneTypo": 4, "twoTypos": 9})
    );
    let task = client
        .task(Method::DELETE, "/indexes/s/settings/typo-tolerance", None)
        .await;
    assert_eq!(task["status"], "succeeded");
    let (_, typo) = client.get("/indexes/s/settings/typo-tolerance").await;
    assert_eq!(
        typo["minWordSizeForTypos"],
        json!({"oneTypo": 5, "twoTypos": 9})
    );
}

fn hit_ids(answer: &Value) -> Vec<Value> {
    answer["hits"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|h| h["id"].clone())
        .collect()
}

#[tokio::test]
async fn null_marker_never_matches_nor_changes_scores() {
    let (_node, client) = Client::start().await;
    let words = ["alpha", "bravo", "charlie", "delta", "echo"];
    let plain: Vec<Value> = (0..120)
        .map(|i| {
            json!({
                "id": i,
                "title": format!("{} {}", words[i % 5], i % 40),
                "note": if i % 3 == 0 { Value::Null } else { json!(format!("s{} miroir", i % 7)) },
            })
        })
        .collect();
    let marked: Vec<Value> = plain
        .iter()
        .enumerate()
        .map(|(i, doc)| {
            let mut doc = doc.clone();
            doc["_miroir"] = json!({format!("s{}", i % 64): null});
            doc
        })
        .collect();
    client
        .task_json(
            Method::PATCH,
            "/indexes/marked/settings",
            json!({"filterableAttributes": ["_miroir"]}),
        )
        .await;
    assert_eq!(
        client
            .task_json(
                Method::POST,
                "/indexes/plain/documents",
                Value::Array(plain)
            )
            .await["status"],
        "succeeded"
    );
    assert_eq!(
        client
            .task_json(
                Method::POST,
                "/indexes/marked/documents",
                Value::Array(marked)
            )
            .await["status"],
        "succeeded"
    );
    for q in [
        "", "1", "12", "3", "s", "s1", "s12", "s63", "miroir", "_miroir", "null", "alpha 1",
        "echo s3", "charlie", "delta 12",
    ] {
        let body = json!({"q": q, "limit": 1000, "showRankingScore": true, "attributesToRetrieve": ["id"]});
        let a = client.search("plain", body.clone()).await;
        let b = client.search("marked", body).await;
        let scores = |answer: &Value| -> Vec<(String, String)> {
            let mut out: Vec<(String, String)> = answer["hits"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|h| {
                    (
                        h["id"].to_string(),
                        format!("{:.12}", h["_rankingScore"].as_f64().unwrap_or(-1.0)),
                    )
                })
                .collect();
            out.sort();
            out
        };
        assert_eq!(
            scores(&a),
            scores(&b),
            "query `{q}` differs because of the marker"
        );
        assert_eq!(
            a["estimatedTotalHits"], b["estimatedTotalHits"],
            "query `{q}`"
        );
    }
    // The marker itself never matches.
    for q in ["s12", "s63", "null"] {
        let answer = client.search("marked", json!({"q": q})).await;
        assert_eq!(answer["hits"], json!([]), "query `{q}`");
    }
    // And the shard filter works in search too.
    let answer = client
        .search("marked", json!({"q": "", "filter": "_miroir.s1 EXISTS OR _miroir.s2 EXISTS", "limit": 100, "attributesToRetrieve": ["id"]}))
        .await;
    assert_eq!(
        hit_ids(&answer),
        vec![json!(1), json!(2), json!(65), json!(66)]
    );
}

#[tokio::test]
async fn search_ranking_and_facets() {
    let (_node, client) = Client::start().await;
    client
        .task_json(
            Method::PATCH,
            "/indexes/movies/settings",
            json!({"filterableAttributes": ["genre", "year"], "sortableAttributes": ["year"]}),
        )
        .await;
    let docs = json!([
        {"id": 1, "title": "How to Train Your Dragon", "genre": "Animation", "year": 2010},
        {"id": 2, "title": "Dragon Ball", "genre": "Animation", "year": 1986},
        {"id": 3, "title": "The Girl with the Dragon Tattoo", "genre": "Thriller", "year": 2011},
        {"id": 4, "title": "Train to Busan", "genre": "Horror", "year": 2016},
        {"id": 5, "title": "Room 12", "genre": ["Drama", "Thriller"], "year": 2012}
    ]);
    let task = client
        .task_json(Method::POST, "/indexes/movies/documents", docs)
        .await;
    assert_eq!(task["status"], "succeeded");

    // Prefix on the last word: `1` matches `12` (and `1`, `1986`); the exact match first.
    let answer = client.search("movies", json!({"q": "1"})).await;
    assert_eq!(hit_ids(&answer), vec![json!(1), json!(2), json!(5)]);
    // Typo tolerance: `dragen` (6 letters) allows one typo.
    let answer = client.search("movies", json!({"q": "dragen"})).await;
    assert_eq!(answer["estimatedTotalHits"], 3);
    // Words then proximity: both words close first.
    let answer = client
        .search(
            "movies",
            json!({"q": "train dragon", "showRankingScore": true, "showRankingScoreDetails": true}),
        )
        .await;
    let ids = hit_ids(&answer);
    assert_eq!(ids[0], json!(1), "{answer}");
    assert_eq!(
        answer["hits"][0]["_rankingScoreDetails"]["words"]["matchingWords"],
        2
    );
    assert_eq!(
        answer["hits"][0]["_rankingScoreDetails"]["proximity"]["score"],
        0.75
    );
    let first = answer["hits"][0]["_rankingScore"].as_f64().unwrap_or(0.0);
    assert!(first > 0.0 && first <= 1.0);
    assert!(answer["hits"].as_array().is_some_and(|h| h
        .windows(2)
        .all(|w| w[0]["_rankingScore"].as_f64() >= w[1]["_rankingScore"].as_f64())));
    // `last` strategy keeps documents with only `train` (never only `dragon`); `all` does not.
    assert_eq!(ids, vec![json!(1), json!(4)]);
    let answer = client
        .search(
            "movies",
            json!({"q": "train dragon", "matchingStrategy": "all"}),
        )
        .await;
    assert_eq!(hit_ids(&answer), vec![json!(1)]);

    // Sort, filter, facets.
    let answer = client
        .search(
            "movies",
            json!({"q": "", "sort": ["year:desc"], "filter": "year >= 2010", "facets": ["genre", "year"], "showRankingScoreDetails": true}),
        )
        .await;
    assert_eq!(
        hit_ids(&answer),
        vec![json!(4), json!(5), json!(3), json!(1)]
    );
    assert_eq!(
        answer["hits"][0]["_rankingScoreDetails"],
        json!({"year:desc": {"order": 0, "value": 2016.0}})
    );
    assert_eq!(
        answer["facetDistribution"]["genre"],
        json!({"Animation": 1, "Drama": 1, "Horror": 1, "Thriller": 2})
    );
    assert_eq!(
        answer["facetStats"]["year"],
        json!({"min": 2010.0, "max": 2016.0})
    );

    // Pages.
    let answer = client
        .search("movies", json!({"hitsPerPage": 2, "page": 2}))
        .await;
    assert_eq!(answer["totalHits"], 5);
    assert_eq!(answer["totalPages"], 3);
    assert_eq!(hit_ids(&answer), vec![json!(3), json!(4)]);

    // Highlight and matches position.
    let answer = client
        .search(
            "movies",
            json!({"q": "busan", "attributesToHighlight": ["title"], "showMatchesPosition": true}),
        )
        .await;
    assert_eq!(
        answer["hits"][0]["_formatted"]["title"],
        "Train to <em>Busan</em>"
    );
    assert_eq!(
        answer["hits"][0]["_matchesPosition"]["title"],
        json!([{"start": 9, "length": 5}])
    );

    // Distinct.
    let answer = client
        .search("movies", json!({"q": "dragon", "distinct": "genre"}))
        .await;
    assert_eq!(answer["estimatedTotalHits"], 2);

    // Errors.
    let (status, error) = client
        .json(
            Method::POST,
            "/indexes/movies/search",
            json!({"filter": "title = x"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["code"], "invalid_search_filter");
    assert_eq!(
        error["message"],
        "Index `movies`: Attribute `title` is not filterable. Available filterable attribute patterns are: `genre`, `year`.\n1:6 title = x"
    );
    let (status, error) = client
        .json(Method::POST, "/indexes/nope/search", json!({"q": "x"}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error["code"], "index_not_found");
    let (status, error) = client
        .json(
            Method::POST,
            "/indexes/movies/search",
            json!({"limit": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["code"], "invalid_search_limit");
    let (status, answer) = client
        .get("/indexes/movies/search?q=dragon&limit=1&attributesToRetrieve=id")
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["hits"], json!([{"id": 2}]));

    // Facet search.
    let (status, answer) = client
        .json(
            Method::POST,
            "/indexes/movies/facet-search",
            json!({"facetName": "genre", "facetQuery": "thr"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        answer["facetHits"],
        json!([{"value": "Thriller", "count": 2}])
    );
    assert_eq!(answer["facetQuery"], "thr");

    // Multi-search, plain and federated.
    let (status, answer) = client
        .json(
            Method::POST,
            "/multi-search",
            json!({"queries": [{"indexUid": "movies", "q": "busan"}, {"indexUid": "movies", "q": "ball"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["results"][0]["indexUid"], "movies");
    assert_eq!(hit_ids(&answer["results"][1]), vec![json!(2)]);
    let (status, answer) = client
        .json(
            Method::POST,
            "/multi-search",
            json!({"federation": {"limit": 5}, "queries": [{"indexUid": "movies", "q": "busan"}, {"indexUid": "movies", "q": "ball"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["estimatedTotalHits"], 2);
    assert_eq!(answer["hits"][1]["_federation"]["queriesPosition"], 1);
}

#[tokio::test]
async fn cancelation_and_index_operations() {
    let (_node, client) = Client::start().await;
    // Queue many writes, then cancel whatever is still enqueued.
    let mut last = Value::Null;
    for i in 0..50 {
        let (status, summary) = client
            .json(Method::POST, "/indexes/c/documents", json!([{"id": i}]))
            .await;
        assert_eq!(status, StatusCode::ACCEPTED);
        last = summary["taskUid"].clone();
    }
    let (status, summary) = client
        .raw(
            Method::POST,
            "/tasks/cancel?statuses=enqueued,processing&indexUids=c",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{summary}");
    let cancel = client.wait(&summary["taskUid"]).await;
    assert_eq!(cancel["status"], "succeeded", "{cancel}");
    let canceled = cancel["details"]["canceledTasks"].as_u64().unwrap_or(0);
    assert!(canceled <= cancel["details"]["matchedTasks"].as_u64().unwrap_or(0));
    client.wait(&last).await;
    let (_, list) = client
        .get(&format!("/tasks?canceledBy={}&limit=100", cancel["uid"]))
        .await;
    assert_eq!(list["total"].as_u64(), Some(canceled));
    for task in list["results"].as_array().cloned().unwrap_or_default() {
        assert_eq!(task["status"], "canceled");
        assert_eq!(task["details"]["indexedDocuments"], 0);
        assert_eq!(task["batchUid"], cancel["batchUid"]);
    }
    let (_, stats) = client.get("/indexes/c/stats").await;
    assert_eq!(stats["numberOfDocuments"].as_u64(), Some(50 - canceled));

    // Rename, swap, delete.
    client
        .task_json(
            Method::POST,
            "/indexes",
            json!({"uid": "d", "primaryKey": "key"}),
        )
        .await;
    let task = client
        .task_json(
            Method::POST,
            "/swap-indexes",
            json!([{"indexes": ["c", "d"]}]),
        )
        .await;
    assert_eq!(task["status"], "succeeded", "{task}");
    assert_eq!(task["indexUid"], Value::Null);
    let (_, index) = client.get("/indexes/c").await;
    assert_eq!(index["primaryKey"], "key");
    let task = client
        .task_json(Method::PATCH, "/indexes/d", json!({"uid": "e"}))
        .await;
    assert_eq!(
        task["details"],
        json!({"primaryKey": null, "oldIndexUid": "d", "newIndexUid": "e"})
    );
    let (_, list) = client.get("/indexes").await;
    let uids: Vec<&str> = list["results"]
        .as_array()
        .map(|r| r.iter().filter_map(|i| i["uid"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(uids, ["c", "e"]);
    let task = client.task(Method::DELETE, "/indexes/e", None).await;
    assert_eq!(
        task["details"]["deletedDocuments"].as_u64(),
        Some(50 - canceled)
    );
    let task = client.task(Method::DELETE, "/indexes/e", None).await;
    assert_eq!(task["error"]["code"], "index_not_found");
    let (status, error) = client
        .json(
            Method::POST,
            "/swap-indexes",
            json!([{"indexes": ["c", "c"]}]),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["code"], "invalid_swap_duplicate_index_found");
}
