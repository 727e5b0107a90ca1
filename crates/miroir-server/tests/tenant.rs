//! Tenant tokens: a JWT signed with an API key restricts searches by per-index filters.

#[macro_use]
mod common;

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use common::{Backend, Cluster};

fn token(key: &str, claims: Value, algorithm: Algorithm) -> String {
    encode(
        &Header::new(algorithm),
        &claims,
        &EncodingKey::from_secret(key.as_bytes()),
    )
    .expect("token")
}

fn ids(answer: &Value) -> Vec<u64> {
    let mut ids: Vec<u64> = answer["hits"]
        .as_array()
        .map(|h| h.iter().filter_map(|h| h["id"].as_u64()).collect())
        .unwrap_or_default();
    ids.sort_unstable();
    ids
}

async fn tenant_tokens(backend: Backend) {
    let cluster = Cluster::start(&backend, 3, 2, 8).await;
    let master = cluster.client();
    let movies: Vec<Value> = (0..40)
        .map(|i| {
            let genre = if i % 2 == 0 { "comedy" } else { "drama" };
            json!({"id": i, "genre": genre, "year": 1980 + i})
        })
        .collect();
    master
        .write_ok(
            Method::PATCH,
            "/indexes/movies/settings",
            json!({"filterableAttributes": ["genre", "year"]}),
        )
        .await;
    master
        .write_ok(
            Method::POST,
            "/indexes/movies/documents",
            Value::Array(movies),
        )
        .await;
    master
        .write_ok(Method::POST, "/indexes/books/documents", json!([{"id": 1}]))
        .await;
    let (_, created) = master
        .post(
            "/keys",
            json!({"actions": ["search"], "indexes": ["*"], "expiresAt": null}),
        )
        .await;
    let key = created["key"].as_str().unwrap_or_default().to_string();
    let uid = created["uid"].as_str().unwrap_or_default().to_string();
    let exp = time::OffsetDateTime::now_utc().unix_timestamp() + 3600;
    let rules = json!({"movies": {"filter": "genre = comedy"}});

    for algorithm in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
        let jwt = token(
            &key,
            json!({"searchRules": rules, "apiKeyUid": uid, "exp": exp}),
            algorithm,
        );
        let front = master.with_key(Some(&jwt));
        let (status, answer) = front
            .post("/indexes/movies/search", json!({"q": "", "limit": 100}))
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(ids(&answer), (0..40).step_by(2).collect::<Vec<u64>>());
        // Combined with the request's own filter.
        let (_, answer) = front
            .post(
                "/indexes/movies/search",
                json!({"q": "", "limit": 100, "filter": "year >= 2010"}),
            )
            .await;
        assert_eq!(ids(&answer), (30..40).step_by(2).collect::<Vec<u64>>());
    }
    let jwt = token(
        &key,
        json!({"searchRules": rules, "apiKeyUid": uid}),
        Algorithm::HS256,
    );
    let front = master.with_key(Some(&jwt));
    let (_, multi) = front
        .post(
            "/multi-search",
            json!({"queries": [{"indexUid": "movies", "q": "", "limit": 100}]}),
        )
        .await;
    assert_eq!(ids(&multi["results"][0]).len(), 20);

    // Refusals, with Meilisearch's messages.
    let (status, error) = front.post("/indexes/books/search", json!({"q": ""})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        error["message"],
        "The provided tenant token cannot acces the index `books`, allowed indexes are [\"movies\"]."
    );
    let forged = token(
        "not-the-key",
        json!({"searchRules": rules, "apiKeyUid": uid}),
        Algorithm::HS256,
    );
    let (status, error) = master
        .with_key(Some(&forged))
        .post("/indexes/movies/search", json!({"q": ""}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        error["message"],
        "Could not decode tenant token, InvalidSignature."
    );
    let expired = token(
        &key,
        json!({"searchRules": rules, "apiKeyUid": uid, "exp": 1_000_000}),
        Algorithm::HS256,
    );
    let (status, error) = master
        .with_key(Some(&expired))
        .post("/indexes/movies/search", json!({"q": ""}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("Tenant token expired.")),
        "{error}"
    );
    // Tokens only open search routes.
    let (status, error) = front.get("/indexes/movies/documents").await;
    assert_eq!(
        (status, error["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("invalid_api_key"))
    );
}
dual_test!(tenant_tokens);
