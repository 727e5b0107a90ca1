//! The shard marker's name (`_miroir`) is reserved: a client can neither write it nor query it.
//! A document carrying it fails its task; a filter, facet, sort or distinct naming it gets the
//! error one Meilisearch gives for an attribute it cannot use; a deletion by filter on it fails
//! its task instead of deleting a shard; settings naming it are refused.

#[macro_use]
mod common;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use common::{task_uid, Backend, Client, Cluster};

async fn expect_error(client: &Client, method: Method, path: &str, body: Value, code: &str) {
    let (status, answer) = client.send(method.clone(), path, body.clone()).await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some(code)),
        "{method} {path} {body}: {answer}"
    );
    assert_eq!(answer["type"], "invalid_request");
}

async fn total(client: &Client) -> u64 {
    let (status, answer) = client
        .post("/indexes/docs/search", json!({"q": "", "limit": 0}))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer["estimatedTotalHits"].as_u64().unwrap_or(u64::MAX)
}

async fn the_marker_name_is_reserved(backend: Backend) {
    let cluster = Cluster::start(&backend, 3, 2, 8).await;
    let client = cluster.client();
    let documents = (0..40)
        .map(|id| json!({"id": id, "title": if id == 7 { "_miroir".to_string() } else { format!("t{id}") }}))
        .collect();
    client
        .seed_index(
            "docs",
            json!({"filterableAttributes": ["title"], "sortableAttributes": ["title"]}),
            documents,
        )
        .await;
    assert_eq!(total(&client).await, 40);

    // Writing the marker.
    let task = client
        .write(
            Method::POST,
            "/indexes/docs/documents",
            json!([{"id": 100}, {"id": 101, "_miroir": {"s0": null}}]),
        )
        .await;
    assert_eq!(task["status"], "failed", "{task}");
    assert_eq!(task["error"]["code"], "miroir_reserved_attribute");
    assert_eq!(
        total(&client).await,
        40,
        "nothing of that batch was written"
    );

    // Querying it.
    let search = "/indexes/docs/search";
    for (body, code) in [
        (
            json!({"filter": "_miroir.s1 EXISTS"}),
            "invalid_search_filter",
        ),
        (
            json!({"filter": ["title = t1", ["title = t2", "\"_miroir\" EXISTS"]]}),
            "invalid_search_filter",
        ),
        (json!({"facets": ["_miroir"]}), "invalid_search_facets"),
        (json!({"sort": ["_miroir.s0:asc"]}), "invalid_search_sort"),
        (json!({"distinct": "_miroir"}), "invalid_search_distinct"),
    ] {
        expect_error(&client, Method::POST, search, body, code).await;
    }
    let (status, answer) = client
        .get("/indexes/docs/search?filter=_miroir.s1%20EXISTS")
        .await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_search_filter"))
    );
    expect_error(
        &client,
        Method::POST,
        "/multi-search",
        json!({"queries": [{"indexUid": "docs", "filter": "_miroir.s2 EXISTS"}]}),
        "invalid_search_filter",
    )
    .await;
    expect_error(
        &client,
        Method::POST,
        "/indexes/docs/facet-search",
        json!({"facetName": "_miroir"}),
        "invalid_facet_search_facet_name",
    )
    .await;
    expect_error(
        &client,
        Method::POST,
        "/indexes/docs/documents/fetch",
        json!({"filter": "_miroir.s3 EXISTS"}),
        "invalid_document_filter",
    )
    .await;
    let (status, answer) = client
        .get("/indexes/docs/documents?filter=_miroir.s3%20EXISTS")
        .await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_document_filter")),
        "{answer}"
    );

    // A value equal to the name is any other value.
    let (status, answer) = client
        .post(search, json!({"filter": "title = \"_miroir\""}))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["hits"][0]["id"], 7);

    // Deleting by it fails the task; nothing is deleted.
    let (status, accepted) = client
        .post(
            "/indexes/docs/documents/delete",
            json!({"filter": "_miroir.s1 EXISTS"}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let task = client.wait_task(task_uid(&accepted)).await;
    assert_eq!(task["status"], "failed", "{task}");
    assert_eq!(task["error"]["code"], "invalid_document_filter");
    assert_eq!(total(&client).await, 40, "no shard was deleted");

    // Settings naming it.
    expect_error(
        &client,
        Method::PATCH,
        "/indexes/docs/settings",
        json!({"filterableAttributes": ["title", "_miroir"]}),
        "miroir_reserved_attribute",
    )
    .await;
    expect_error(
        &client,
        Method::PUT,
        "/indexes/docs/settings/ranking-rules",
        json!(["words", "_miroir:asc"]),
        "miroir_reserved_attribute",
    )
    .await;
    let (_, settings) = client.get("/indexes/docs/settings").await;
    assert_eq!(settings["filterableAttributes"], json!(["title"]));
}

dual_test!(the_marker_name_is_reserved);
