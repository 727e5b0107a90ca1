//! The official Rust SDK (`meilisearch-sdk`) drives Miroir with unchanged client code.

#[macro_use]
mod common;

use meilisearch_sdk::client::Client;
use meilisearch_sdk::settings::{FilterableAttribute, Settings};
use serde::{Deserialize, Serialize};

use common::{Backend, Cluster};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Movie {
    id: u32,
    title: String,
    genre: String,
}

async fn official_rust_sdk(backend: Backend) {
    let cluster = Cluster::start(&backend, 3, 2, 16).await;
    let client = Client::new(cluster.url(), Some(common::MASTER_KEY)).expect("client");

    let task = client
        .create_index("movies", Some("id"))
        .await
        .expect("create index")
        .wait_for_completion(&client, None, None)
        .await
        .expect("task finishes");
    assert!(task.is_success(), "{task:?}");
    let index = client.index("movies");

    let movies: Vec<Movie> = (0..200)
        .map(|i| Movie {
            id: i,
            title: format!("Movie number {i}"),
            genre: ["comedy", "drama"][i as usize % 2].to_string(),
        })
        .collect();
    let task = index
        .add_documents(&movies, Some("id"))
        .await
        .expect("add documents")
        .wait_for_completion(&client, None, None)
        .await
        .expect("task finishes");
    assert!(task.is_success(), "{task:?}");

    let page = index.get_documents::<Movie>().await.expect("get documents");
    assert_eq!(page.total, 200);
    assert_eq!(page.results.len(), 20);
    let one: Movie = index.get_document("17").await.expect("get document");
    assert_eq!(one, movies[17]);

    let settings = Settings::new()
        .with_filterable_attributes(["genre"])
        .with_sortable_attributes(["title"]);
    let task = index
        .set_settings(&settings)
        .await
        .expect("set settings")
        .wait_for_completion(&client, None, None)
        .await
        .expect("task finishes");
    assert!(task.is_success(), "{task:?}");
    let read = index.get_settings().await.expect("get settings");
    let filterable: Vec<String> = read
        .filterable_attributes
        .unwrap_or_default()
        .into_iter()
        .map(|a| match a {
            FilterableAttribute::Attribute(name) => name,
            FilterableAttribute::Settings(other) => format!("{other:?}"),
        })
        .collect();
    assert_eq!(filterable, ["genre"]);
    assert_eq!(read.sortable_attributes, Some(vec!["title".to_string()]));

    let stats = index.get_stats().await.expect("stats");
    assert_eq!(stats.number_of_documents, 200);
    let tasks = client.get_tasks().await.expect("tasks");
    // Index creation, document addition, settings update.
    assert_eq!(tasks.results.len(), 3);
}
dual_test!(official_rust_sdk);
