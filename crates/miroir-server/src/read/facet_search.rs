//! `POST /indexes/{uid}/facet-search`: the facet search runs on one replica per shard, and the
//! counts of each value are summed, ordered and cut as the index's faceting settings say.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use miroir_core::facets::{facet_order, merge_counts};
use miroir_core::reserved::{reserved_in_filter, reserved_in_list};

use super::collect::processing_time;
use super::scatter::query_shards;
use crate::access::Access;
use crate::cluster::fanout::{fan_out, post_to_shards};
use crate::error::{Error, Result};
use crate::extract::{IndexUid, JsonBody};
use crate::state::AppState;
use crate::wire::error::reserved_attribute;
use crate::wire::settings::DEFAULT_MAX_VALUES_PER_FACET;

/// One facet value and its count in a node's answer.
#[derive(Deserialize)]
struct FacetHit {
    value: String,
    count: u64,
}

/// What the merge reads of a node's facet search answer.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NodeFacetAnswer {
    #[serde(rename = "facetHits")]
    hits: Vec<FacetHit>,
    #[serde(default)]
    processing_time_ms: u64,
}

/// Parses a node's facet search answer (another shape: the node is not answering as
/// Meilisearch).
fn facet_hits(node: &str, body: &Bytes) -> Result<NodeFacetAnswer> {
    serde_json::from_slice(body).map_err(|e| Error::NodeUnavailable {
        node: node.to_string(),
        reason: format!("answered an unexpected facet search response: {e}"),
    })
}

/// `POST /indexes/{uid}/facet-search`: counts summed over shards, ordered and cut as the
/// index's faceting settings say.
pub(crate) async fn facet_search(
    State(state): State<Arc<AppState>>,
    Extension(access): Extension<Access>,
    IndexUid(uid): IndexUid,
    JsonBody(mut client): JsonBody<Map<String, Value>>,
) -> Result<Json<Value>> {
    access.apply_rules(&uid, &mut client);
    let index = state.index(&uid)?;
    if let Some(name) = client.get("facetName").and_then(reserved_in_list) {
        return Err(reserved_attribute("invalid_facet_search_facet_name", &name).into());
    }
    if let Some(name) = client.get("filter").and_then(reserved_in_filter) {
        return Err(reserved_attribute("invalid_search_filter", &name).into());
    }
    let client_filter = client.get("filter").cloned();
    let path = format!("/indexes/{uid}/facet-search");
    let state = &state;
    let shards = query_shards(state, &index, client_filter.as_ref())?;
    let answers = fan_out(
        &state.cluster,
        &state.cluster.scope(&index),
        &shards,
        |node, shards| {
            let (path, client) = (&path, &client);
            async move {
                let node = state.cluster.node(node);
                let body = post_to_shards(node, path, client, &shards).await?;
                facet_hits(&node.id, &body)
            }
        },
    )
    .await?;
    let started = Instant::now();
    let facet = client
        .get("facetName")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let lists = answers.iter().map(|answer| {
        answer
            .hits
            .iter()
            .map(|h| (h.value.as_str(), h.count))
            .collect::<Vec<_>>()
    });
    let order = facet_order(index.sort_facet_values_by.as_ref(), facet);
    let cap = index
        .max_values_per_facet
        .unwrap_or(DEFAULT_MAX_VALUES_PER_FACET);
    let hits: Vec<Value> = merge_counts(lists, order, cap as usize)
        .into_iter()
        .map(|(value, count)| json!({"value": value, "count": count}))
        .collect();
    Ok(Json(json!({
        "facetHits": hits,
        "facetQuery": client.get("facetQuery").cloned().unwrap_or(Value::Null),
        "processingTimeMs": processing_time(
            answers.iter().map(|a| a.processing_time_ms),
            started,
        ),
    })))
}
