//! The root of a search: one request per node of the read plan, each asked only for the shards
//! it serves (shard-marker filter ANDed to the client's) and for the first `depth` hits from 0,
//! with what the merge needs (scores, and ranking details when sort values must be compared).
//! Failover between replicas happens inside [`fan_out`].

use axum::body::Bytes;
use serde_json::{Map, Value};

use miroir_core::planner::pinned_ids;
use miroir_store::IndexRecord;

use crate::cluster::fanout::{fan_out, post_to_shards};
use crate::cluster::plan::all_shards;
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::wire::search::NodeSearchAnswer;

/// Parses a node's search answer; an answer of another shape means the node is not answering
/// as Meilisearch (retryable on another replica).
pub(crate) fn parse_answer(node: &str, body: &Bytes, what: &str) -> Result<NodeSearchAnswer> {
    let mut answer: NodeSearchAnswer =
        serde_json::from_slice(body).map_err(|e| Error::NodeUnavailable {
            node: node.to_string(),
            reason: format!("answered an unexpected {what} response: {e}"),
        })?;
    answer.node = node.to_string();
    Ok(answer)
}

/// Sends one search to the nodes of the read plan (each filtered to its shards), asking for the
/// first `depth` hits with ranking details, and returns the nodes' answers.
#[tracing::instrument(level = "debug", skip_all, fields(index = %index.uid, depth))]
pub(crate) async fn scatter(
    state: &AppState,
    index: &IndexRecord,
    client: &Map<String, Value>,
    page_mode: bool,
    depth: u64,
) -> Result<Vec<NodeSearchAnswer>> {
    let client_filter = client.get("filter").cloned();
    let mut base = client.clone();
    base.remove("indexUid");
    base.remove("federationOptions");
    base.insert("showRankingScore".into(), Value::Bool(true));
    // Without `sort`, the global score orders hits exactly (see `merge::score_only`); details
    // are only needed to compare sort values.
    // A hybrid search's `semanticHitCount` counts the returned hits that came from the
    // semantic side, which their details tell (`collect::is_semantic`).
    // A pinned hit is told by its details too (`collect::Pinned`).
    if client.contains_key("sort")
        || client.contains_key("hybrid")
        || state
            .pins_possible
            .load(std::sync::atomic::Ordering::SeqCst)
    {
        base.insert("showRankingScoreDetails".into(), Value::Bool(true));
    }
    if page_mode {
        base.insert("page".into(), Value::from(1));
        base.insert("hitsPerPage".into(), Value::from(depth));
    } else {
        base.insert("offset".into(), Value::from(0));
        base.insert("limit".into(), Value::from(depth));
    }
    let path = format!("/indexes/{}/search", index.uid);
    let shards = query_shards(state, index, client_filter.as_ref())?;
    fan_out(
        &state.cluster,
        &state.cluster.scope(index),
        &shards,
        |node, shards| {
            let (path, base) = (&path, &base);
            async move {
                let node = state.cluster.node(node);
                let body = post_to_shards(node, path, base, &shards).await?;
                parse_answer(&node.id, &body, "search")
            }
        },
    )
    .await
}

/// The shards a query must ask: those of the primary keys its filter pins, or all of them.
pub(crate) fn query_shards(
    state: &AppState,
    index: &IndexRecord,
    filter: Option<&Value>,
) -> Result<Vec<u32>> {
    let pinned = match (filter, index.primary_key.as_deref()) {
        (Some(filter), Some(primary_key)) => pinned_ids(filter, primary_key),
        _ => None,
    };
    match pinned {
        Some(ids) if !ids.is_empty() => {
            let mut shards = ids
                .iter()
                .map(|id| state.cluster.shard_of(index.shard_count, id))
                .collect::<Result<Vec<u32>>>()?;
            shards.sort_unstable();
            shards.dedup();
            Ok(shards)
        }
        _ => Ok(all_shards(index.shard_count)),
    }
}
