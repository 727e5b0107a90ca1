//! Federated multi-search. Each node runs the federated search itself over the shards it
//! serves (every query filtered to them): the node deduplicates documents matched by several
//! queries and counts the union of their matches, exactly as one index does — a document lives
//! in one shard, so no two nodes of the read plan can return the same one. Miroir then merges
//! the nodes' lists with the same weighted rank comparison and sums the counts.

use std::time::Instant;

use axum::http::Method;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use miroir_core::facets::{merge_distributions, merge_stats};
use miroir_core::marker::and_filter;
use miroir_core::merge::{merge_ranked, rank_key, RankKey};
use miroir_core::pins::{pinned_position, place_pins};

use super::collect::{attribute, finish_hit, processing_time, request_uid, Shown};
use super::multi_search::{in_query, IndexQuery};
use super::scatter::parse_answer;
use crate::cluster::fanout::fan_out;
use crate::cluster::node::NodeBody;
use crate::cluster::plan::all_shards;
use crate::cluster::{Layout, Scope};
use crate::error::{Error, MeiliError, Result};
use crate::state::AppState;
use crate::wire::search::SearchQuery;
use crate::wire::settings::DEFAULT_MAX_VALUES_PER_FACET;

/// The query a federated hit came from.
#[derive(Deserialize)]
struct FederationInfo {
    #[serde(rename = "queriesPosition")]
    position: usize,
}

#[derive(Deserialize)]
struct FederatedHit {
    #[serde(rename = "_rankingScore", default)]
    score: Option<f64>,
    #[serde(rename = "_rankingScoreDetails", default)]
    details: Option<Map<String, Value>>,
    #[serde(rename = "_federation")]
    federation: FederationInfo,
}

#[tracing::instrument(level = "debug", skip_all, fields(queries = queries.len()))]
pub(crate) async fn federated(
    state: &AppState,
    queries: Vec<IndexQuery>,
    federation: Map<String, Value>,
) -> Result<Value> {
    let federation = SearchQuery::parse(federation, ".federation")?;
    let window = federation.window;
    let depth = window.depth();
    let mut shown = Vec::with_capacity(queries.len());
    for (position, query) in queries.iter().enumerate() {
        let parsed = SearchQuery::parse(query.body.clone(), &format!(".queries[{position}]"))?;
        shown.push(Shown::of(&parsed));
    }
    let mut layout = None;
    for (position, query) in queries.iter().enumerate() {
        let index = state.index(&query.uid).map_err(|e| in_query(e, position))?;
        let this = state.cluster.layout(&index);
        match layout {
            None => layout = Some(this),
            Some(common) if common == this => {}
            Some(_) => {
                return Err(MeiliError::invalid(
                    "miroir_federation_shard_count_mismatch",
                    "Federated search through Miroir needs every queried index to have the same shard count and to be either sharded or whole.",
                )
                .into())
            }
        }
    }
    let layout = layout.unwrap_or(Layout {
        shards: 1,
        whole: false,
    });
    let weights: Vec<f64> = queries
        .iter()
        .map(|q| {
            q.body
                .get("federationOptions")
                .and_then(|o| o.get("weight"))
                .and_then(Value::as_f64)
                .unwrap_or(1.0)
        })
        .collect();

    let mut node_federation = federation.body.clone();
    for key in ["offset", "limit", "page", "hitsPerPage"] {
        node_federation.remove(key);
    }
    node_federation.insert("offset".into(), Value::from(0));
    node_federation.insert("limit".into(), Value::from(depth));
    let shards = all_shards(layout.shards);
    let scope = Scope {
        layout,
        indexes: queries.iter().map(|q| q.uid.clone()).collect(),
    };
    let node_federation = &node_federation;
    let queries_ref = &queries;
    let answers = fan_out(&state.cluster, &scope, &shards, |node, shards| {
        let node_queries: Vec<Value> = queries_ref
            .iter()
            .map(|IndexQuery { uid, body }| {
                let mut query = body.clone();
                query.insert("indexUid".into(), Value::String(uid.clone()));
                let filter = and_filter(&shards, query.get("filter"));
                if let Some(filter) = filter {
                    query.insert("filter".into(), filter);
                }
                query.insert("showRankingScore".into(), Value::Bool(true));
                query.insert("showRankingScoreDetails".into(), Value::Bool(true));
                Value::Object(query)
            })
            .collect();
        let body = json!({"federation": node_federation, "queries": node_queries});
        async move {
            let node = state.cluster.node(node);
            let response = node
                .send(Method::POST, "/multi-search", NodeBody::Json(body))
                .await?;
            if !response.status.is_success() {
                response.json(&node.id)?;
            }
            parse_answer(&node.id, &response.body, "multi-search")
        }
    })
    .await?;

    let started = Instant::now();
    let mut origins: Vec<Vec<usize>> = Vec::with_capacity(answers.len());
    let mut keys: Vec<Vec<RankKey>> = Vec::with_capacity(answers.len());
    // Hits pinned by dynamic search rules are placed after the merge (`miroir_core::pins`);
    // the keys are those of the other hits, `organic` maps them back to their positions.
    let mut organic: Vec<Vec<usize>> = Vec::with_capacity(answers.len());
    let mut pins: Vec<(u32, (usize, usize))> = Vec::new();
    for (answer_at, answer) in answers.iter().enumerate() {
        let mut positions = Vec::with_capacity(answer.hits.len());
        let mut list = Vec::with_capacity(answer.hits.len());
        let mut unpinned = Vec::with_capacity(answer.hits.len());
        for (hit_at, hit) in answer.hits.iter().enumerate() {
            let parsed: FederatedHit =
                serde_json::from_str(hit.get()).map_err(|e| Error::NodeUnavailable {
                    node: answer.node.clone(),
                    reason: format!("answered a federated hit Miroir cannot read: {e}"),
                })?;
            let position = parsed.federation.position;
            positions.push(position);
            if let Some(pinned_at) = pinned_position(hit.get()) {
                pins.push((pinned_at, (answer_at, hit_at)));
                continue;
            }
            unpinned.push(hit_at);
            let mut key = rank_key(parsed.details.as_ref(), parsed.score.unwrap_or(0.0));
            let weight = weights.get(position).copied().unwrap_or(1.0);
            if weight != 1.0 {
                key.weigh(weight);
            }
            list.push(key);
        }
        origins.push(positions);
        keys.push(list);
        organic.push(unpinned);
    }
    // Each node applied `federation.distinct` over its shards; across nodes the first hit of
    // each value is kept (the lists may then come out shorter than the window).
    let distinct = federation.distinct();
    let mut seen: Vec<Value> = Vec::new();
    let mut hits: Vec<Value> = Vec::new();
    // A position outside the queries is the node's mistake; its weight and flags are then
    // those of no query (`weights.get` above), and here the first query's flags.
    let finish = |list: usize, position: usize| {
        let answer = &answers[list];
        let query = origins[list][position].min(shown.len().saturating_sub(1));
        let shown = shown.get(query).copied().unwrap_or(Shown {
            score: false,
            details: false,
        });
        finish_hit(&answer.hits[position], &answer.node, shown)
    };
    for (list, at) in merge_ranked(&keys, usize::MAX) {
        if hits.len() as u64 >= depth {
            break;
        }
        let hit = finish(list, organic[list][at])?;
        if let Some(value) = distinct
            .and_then(|d| attribute(&hit, d))
            .filter(|v| !v.is_null())
        {
            if seen.contains(value) {
                continue;
            }
            seen.push(value.clone());
        }
        hits.push(Value::Object(hit));
    }
    let pinned = pins
        .into_iter()
        .map(|(pinned_at, (list, position))| {
            Ok((pinned_at, Value::Object(finish(list, position)?)))
        })
        .collect::<Result<Vec<_>>>()?;
    let hits = place_pins(
        pinned,
        window.skip as usize,
        depth.saturating_sub(window.skip) as usize,
        hits,
    );

    let estimated: u64 = answers
        .iter()
        .filter_map(|a| a.estimated_total_hits.or(a.total_hits))
        .sum();
    let mut response = Map::new();
    response.insert("hits".into(), Value::Array(hits));
    if federation.show_performance_details {
        if let Some(details) = answers.iter().find_map(|a| a.performance_details.clone()) {
            response.insert("performanceDetails".into(), details);
        }
    }
    response.insert(
        "processingTimeMs".into(),
        Value::from(processing_time(
            answers.iter().map(|a| a.processing_time_ms),
            started,
        )),
    );
    if window.page_mode {
        let per_page = window.per_page;
        response.insert("hitsPerPage".into(), Value::from(per_page));
        response.insert("page".into(), Value::from(window.page));
        let pages = if per_page == 0 {
            0
        } else {
            estimated.div_ceil(per_page)
        };
        response.insert("totalPages".into(), Value::from(pages));
        response.insert("totalHits".into(), Value::from(estimated));
    } else {
        response.insert("limit".into(), Value::from(window.want));
        response.insert("offset".into(), Value::from(window.skip));
        response.insert("estimatedTotalHits".into(), Value::from(estimated));
    }
    let distributions: Vec<&Map<String, Value>> = answers
        .iter()
        .filter_map(|a| a.facet_distribution.as_ref())
        .collect();
    if !distributions.is_empty() {
        let cap = federation
            .body
            .get("mergeFacets")
            .and_then(|m| m.get("maxValuesPerFacet"))
            .and_then(Value::as_u64)
            .unwrap_or(DEFAULT_MAX_VALUES_PER_FACET);
        let stats: Vec<&Map<String, Value>> = answers
            .iter()
            .filter_map(|a| a.facet_stats.as_ref())
            .collect();
        response.insert(
            "facetDistribution".into(),
            Value::Object(merge_distributions(&distributions, None, cap as usize)),
        );
        response.insert("facetStats".into(), Value::Object(merge_stats(&stats)));
    }
    if federation.body.contains_key("facetsByIndex") && !federation.body.contains_key("mergeFacets")
    {
        let mut by_index = Map::new();
        let mut uids: Vec<&String> = Vec::new();
        for answer in &answers {
            for uid in answer.facets_by_index.iter().flat_map(|m| m.keys()) {
                if !uids.contains(&uid) {
                    uids.push(uid);
                }
            }
        }
        for uid in uids {
            let per_node: Vec<&Value> = answers
                .iter()
                .filter_map(|a| a.facets_by_index.as_ref()?.get(uid))
                .collect();
            let distributions: Vec<&Map<String, Value>> = per_node
                .iter()
                .filter_map(|f| f.get("distribution")?.as_object())
                .collect();
            let stats: Vec<&Map<String, Value>> = per_node
                .iter()
                .filter_map(|f| f.get("stats")?.as_object())
                .collect();
            let index = state.index(uid)?;
            let cap = index
                .max_values_per_facet
                .unwrap_or(DEFAULT_MAX_VALUES_PER_FACET);
            let distribution = merge_distributions(
                &distributions,
                index.sort_facet_values_by.as_ref(),
                cap as usize,
            );
            by_index.insert(
                uid.clone(),
                json!({"distribution": distribution, "stats": merge_stats(&stats)}),
            );
        }
        response.insert("facetsByIndex".into(), Value::Object(by_index));
    }
    response.insert("requestUid".into(), request_uid());
    Ok(Value::Object(response))
}
