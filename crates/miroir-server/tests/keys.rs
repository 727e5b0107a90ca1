//! API keys: Miroir authorizes every request with Meilisearch's rules, before any node sees it.

#[macro_use]
mod common;

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use common::{Backend, Client, Cluster};

async fn key(master: &Client, body: Value) -> (String, String) {
    let (status, created) = master.post("/keys", body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    (
        created["key"].as_str().unwrap_or_default().to_string(),
        created["uid"].as_str().unwrap_or_default().to_string(),
    )
}

async fn search_status(client: &Client, index: &str) -> (StatusCode, Value) {
    client
        .post(&format!("/indexes/{index}/search"), json!({"q": "a"}))
        .await
}

async fn scoped_keys(backend: Backend) {
    let cluster = Cluster::start(&backend, 3, 2, 8).await;
    let master = cluster.client();
    for index in ["movies", "movies_2024", "books"] {
        master
            .write_ok(
                Method::POST,
                &format!("/indexes/{index}/documents"),
                json!([{"id": 1, "title": "a title"}]),
            )
            .await;
    }

    // Default keys exist, newest first, as on a fresh Meilisearch.
    let (status, keys) = master.get("/keys").await;
    assert_eq!(status, StatusCode::OK, "{keys}");
    let names: Vec<&str> = keys["results"]
        .as_array()
        .map(|k| k.iter().filter_map(|k| k["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        names,
        [
            "Default Search API Key",
            "Default Admin API Key",
            "Default Read-Only Admin API Key",
            "Default Chat API Key"
        ]
    );

    // A search-only key on `movies*`, with a chosen uid: its value is Meilisearch's derivation.
    let uid = "5a2e7b3c-1d4f-4e6a-8b9c-0d1e2f3a4b5c";
    let (search_key, _) = key(
        &master,
        json!({"uid": uid, "actions": ["search"], "indexes": ["movies*"], "expiresAt": null, "name": "front"}),
    )
    .await;
    assert_eq!(
        search_key,
        miroir_server::key_value(uid, common::MASTER_KEY)
    );
    let front = master.with_key(Some(&search_key));
    for index in ["movies", "movies_2024"] {
        let (status, answer) = search_status(&front, index).await;
        assert_eq!(status, StatusCode::OK, "{index}: {answer}");
        assert_eq!(answer["hits"][0]["id"], 1);
    }
    let refused = [
        front.post("/indexes/books/search", json!({"q": "a"})).await,
        front
            .post("/indexes/movies/documents", json!([{"id": 2}]))
            .await,
        front.get("/indexes/movies/settings").await,
        front.get("/keys").await,
        front
            .post(
                "/multi-search",
                json!({"queries": [{"indexUid": "movies"}, {"indexUid": "books"}]}),
            )
            .await,
    ];
    for (status, error) in refused {
        assert_eq!(status, StatusCode::FORBIDDEN, "{error}");
        assert_eq!(error["code"], "invalid_api_key", "{error}");
    }
    let (status, _) = front
        .post(
            "/multi-search",
            json!({"queries": [{"indexUid": "movies"}, {"indexUid": "movies_2024"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // Get by uid or by value, update the name, delete: then the key no longer works.
    let (_, by_value) = master.get(&format!("/keys/{search_key}")).await;
    let (_, by_uid) = master.get(&format!("/keys/{uid}")).await;
    assert_eq!(by_value, by_uid);
    let (status, updated) = master
        .send(
            Method::PATCH,
            &format!("/keys/{uid}"),
            json!({"name": "renamed"}),
        )
        .await;
    assert_eq!(
        (status, updated["name"].as_str()),
        (StatusCode::OK, Some("renamed"))
    );
    let (status, error) = master
        .send(
            Method::PATCH,
            &format!("/keys/{uid}"),
            json!({"actions": ["*"]}),
        )
        .await;
    assert_eq!(
        (status, error["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("immutable_api_key_actions"))
    );
    let (status, _) = master.delete(&format!("/keys/{uid}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, error) = search_status(&front, "movies").await;
    assert_eq!(
        (status, error["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("invalid_api_key"))
    );
    let (status, error) = master.get(&format!("/keys/{uid}")).await;
    assert_eq!(
        (status, error["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("api_key_not_found"))
    );

    // An expired key is refused: one that expires in two seconds works, then stops working.
    let expires = time::OffsetDateTime::now_utc() + time::Duration::seconds(2);
    let expires = expires
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let (short, _) = key(
        &master,
        json!({"actions": ["*"], "indexes": ["*"], "expiresAt": expires}),
    )
    .await;
    let short_lived = master.with_key(Some(&short));
    let (status, _) = search_status(&short_lived, "books").await;
    assert_eq!(status, StatusCode::OK);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, error) = search_status(&short_lived, "books").await;
        if status == StatusCode::FORBIDDEN {
            assert_eq!(error["code"], "invalid_api_key");
            break;
        }
        assert!(Instant::now() < deadline, "the key never expired");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Creation errors.
    let (status, error) = master
        .post("/keys", json!({"indexes": ["*"], "expiresAt": null}))
        .await;
    assert_eq!(
        (status, error["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("missing_api_key_actions"))
    );
    let (status, error) = master
        .post(
            "/keys",
            json!({"actions": ["nope"], "indexes": ["*"], "expiresAt": null}),
        )
        .await;
    assert_eq!(
        (status, error["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_api_key_actions"))
    );
    let (status, error) = master
        .post(
            "/keys",
            json!({"actions": ["*"], "indexes": ["*"], "expiresAt": "2000-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(
        (status, error["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_api_key_expires_at"))
    );

    // The same flows through the official Rust SDK.
    let (sdk_key, _) = key(
        &master,
        json!({"actions": ["search"], "indexes": ["movies*"], "expiresAt": null}),
    )
    .await;
    let sdk = meilisearch_sdk::client::Client::new(cluster.url(), Some(sdk_key)).expect("client");
    let found = sdk
        .index("movies_2024")
        .search()
        .with_query("title")
        .execute::<Value>()
        .await
        .expect("search allowed");
    assert_eq!(found.hits.len(), 1);
    let refused = sdk
        .index("books")
        .search()
        .with_query("title")
        .execute::<Value>()
        .await;
    assert!(refused.is_err(), "books must be refused");
    let refused = sdk
        .index("movies")
        .add_documents(&[json!({"id": 3})], None)
        .await;
    assert!(refused.is_err(), "adding documents must be refused");
}
dual_test!(scoped_keys);
