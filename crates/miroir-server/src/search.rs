//! `POST`/`GET /indexes/{uid}/search`: scatter to one replica per shard, gather, merge.
//!
//! The root (this module) fans a query out to the nodes of the read plan, each asked only for
//! the shards it serves (shard-marker filter ANDed to the client's) and for `offset + limit`
//! hits from 0, with ranking details so the merge ([`miroir_core::merge`]) can order hits as
//! one index would. Hits stay raw JSON through the merge: only the ranking fields are read,
//! and only the hits that survive the cut are re-written (to drop what the client did not ask
//! for and the shard marker).

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method};
use axum::Json;
use futures::future::try_join_all;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};

use miroir_core::facets::{merge_distributions, merge_stats};
use miroir_core::marker::{and_filter, strip_document};
use miroir_core::merge::{merge_ranked, rank_key, RankKey};

use crate::error::{Error, MeiliError, Result};
use crate::extract::{json_body, Body, Params};
use crate::indexes::{check_path_uid, require_json};
use crate::node::NodeBody;
use crate::state::AppState;

/// The parts of a node's search answer the merge reads; hits stay raw.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NodeAnswer {
    hits: Vec<Box<RawValue>>,
    #[serde(default)]
    estimated_total_hits: Option<u64>,
    #[serde(default)]
    total_hits: Option<u64>,
    #[serde(default)]
    facet_distribution: Option<Map<String, Value>>,
    #[serde(default)]
    facet_stats: Option<Map<String, Value>>,
}

/// The ranking fields of one hit.
#[derive(Deserialize)]
struct HitRanking {
    #[serde(rename = "_rankingScore", default)]
    score: Option<f64>,
    #[serde(rename = "_rankingScoreDetails", default)]
    details: Option<Map<String, Value>>,
}

/// Converts `GET /search` query parameters into the JSON body Meilisearch accepts on `POST`.
pub fn params_to_body(params: &Params) -> Result<Map<String, Value>> {
    let mut body = Map::new();
    for (name, raw) in &params.0 {
        let value = match name.as_str() {
            "offset" | "limit" | "page" | "hitsPerPage" | "cropLength" => {
                let code = format!("invalid_search_{}", snake(name));
                let number = raw.parse::<u64>().map_err(|_| {
                    MeiliError::invalid(
                        &code,
                        format!("Invalid value in parameter `{name}`: could not parse `{raw}` as a positive integer"),
                    )
                })?;
                Value::from(number)
            }
            "rankingScoreThreshold" | "hybridSemanticRatio" => {
                let number = raw.parse::<f64>().map_err(|_| {
                    MeiliError::invalid(
                        &format!("invalid_search_{}", snake(name)),
                        format!("Invalid value in parameter `{name}`: could not parse `{raw}` as a number"),
                    )
                })?;
                json!(number)
            }
            "showMatchesPosition" | "showRankingScore" | "showRankingScoreDetails"
            | "retrieveVectors" => match raw.as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => {
                    return Err(MeiliError::invalid(
                        &format!("invalid_search_{}", snake(name)),
                        format!("Invalid value in parameter `{name}`: could not parse `{raw}` as a boolean, expected either `true` or `false`"),
                    )
                    .into())
                }
            },
            "attributesToRetrieve" | "attributesToCrop" | "attributesToHighlight" | "sort"
            | "facets" | "attributesToSearchOn" | "locales" => Value::Array(
                raw.split(',')
                    .map(|s| Value::String(s.trim().to_string()))
                    .collect(),
            ),
            "vector" => Value::Array(
                raw.split(',')
                    .filter_map(|s| s.trim().parse::<f64>().ok())
                    .map(|f| json!(f))
                    .collect(),
            ),
            "filter" => serde_json::from_str::<Value>(raw)
                .ok()
                .filter(Value::is_array)
                .unwrap_or_else(|| Value::String(raw.clone())),
            _ => Value::String(raw.clone()),
        };
        body.insert(name.clone(), value);
    }
    if let (Some(embedder), ratio) = (body.remove("hybridEmbedder"), body.remove("hybridSemanticRatio")) {
        let mut hybrid = Map::new();
        hybrid.insert("embedder".into(), embedder);
        if let Some(ratio) = ratio {
            hybrid.insert("semanticRatio".into(), ratio);
        }
        body.insert("hybrid".into(), Value::Object(hybrid));
    }
    Ok(body)
}

fn snake(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// `GET /indexes/{uid}/search`
pub async fn search_get(
    State(state): State<Arc<AppState>>,
    Path(uid): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>> {
    check_path_uid(&uid)?;
    let body = params_to_body(&Params::parse(raw.as_deref()))?;
    Ok(Json(search(&state, &uid, body).await?))
}

/// `POST /indexes/{uid}/search`
pub async fn search_post(
    State(state): State<Arc<AppState>>,
    Path(uid): Path<String>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Json<Value>> {
    check_path_uid(&uid)?;
    require_json(&headers)?;
    let body: Map<String, Value> = json_body(&body)?;
    Ok(Json(search(&state, &uid, body).await?))
}

fn count(body: &Map<String, Value>, name: &str) -> Option<u64> {
    body.get(name).and_then(Value::as_u64)
}

fn flag(body: &Map<String, Value>, name: &str) -> bool {
    body.get(name).and_then(Value::as_bool).unwrap_or(false)
}

/// Runs one search over the shards of `uid` and answers as one Meilisearch would.
pub async fn search(state: &AppState, uid: &str, client: Map<String, Value>) -> Result<Value> {
    let started = Instant::now();
    let index = state.index(uid)?;
    let plan = state.cluster.read_plan(index.shard_count)?;

    let page_mode = client.contains_key("page") || client.contains_key("hitsPerPage");
    let (skip, want) = if page_mode {
        let page = count(&client, "page").unwrap_or(1).max(1);
        let per_page = count(&client, "hitsPerPage").unwrap_or(20);
        ((page - 1) * per_page, per_page)
    } else {
        (count(&client, "offset").unwrap_or(0), count(&client, "limit").unwrap_or(20))
    };
    let depth = skip.saturating_add(want);

    let client_filter = client.get("filter").cloned();
    let mut base = client.clone();
    base.insert("showRankingScore".into(), Value::Bool(true));
    base.insert("showRankingScoreDetails".into(), Value::Bool(true));
    if page_mode {
        base.insert("page".into(), Value::from(1));
        base.insert("hitsPerPage".into(), Value::from(depth));
    } else {
        base.insert("offset".into(), Value::from(0));
        base.insert("limit".into(), Value::from(depth));
    }
    let path = format!("/indexes/{uid}/search");
    let answers = try_join_all(plan.iter().map(|(node, shards)| {
        let mut body = base.clone();
        if let Some(filter) = and_filter(shards, client_filter.as_ref()) {
            body.insert("filter".into(), filter);
        }
        let path = path.clone();
        async move {
            let response = state
                .cluster
                .node(*node)
                .send(Method::POST, &path, NodeBody::Json(Value::Object(body)))
                .await?;
            if !response.status.is_success() {
                // Let the node's own error object through.
                response.json(&state.cluster.node(*node).id)?;
            }
            serde_json::from_slice::<NodeAnswer>(&response.body).map_err(|e| Error::NodeUnavailable {
                node: state.cluster.node(*node).id.clone(),
                reason: format!("answered an unexpected search response: {e}"),
            })
        }
    }))
    .await?;

    // Merge hits by rank, then cut to the requested window.
    let keys: Vec<Vec<RankKey>> = answers
        .iter()
        .map(|answer| {
            answer
                .hits
                .iter()
                .map(|hit| {
                    let ranking: HitRanking = serde_json::from_str(hit.get()).unwrap_or(HitRanking {
                        score: None,
                        details: None,
                    });
                    rank_key(ranking.details.as_ref(), ranking.score.unwrap_or(0.0))
                })
                .collect()
        })
        .collect();
    let merged = merge_ranked(&keys, depth as usize);
    let show_score = flag(&client, "showRankingScore");
    let show_details = flag(&client, "showRankingScoreDetails");
    let mut hits = Vec::with_capacity(want as usize);
    for (list, position) in merged.into_iter().skip(skip as usize) {
        let raw = answers[list].hits[position].get();
        let mut hit: Map<String, Value> = serde_json::from_str(raw).unwrap_or_default();
        strip_document(&mut hit);
        if !show_score {
            hit.shift_remove("_rankingScore");
        }
        if !show_details {
            hit.shift_remove("_rankingScoreDetails");
        }
        hits.push(Value::Object(hit));
    }

    let mut response = Map::new();
    response.insert("hits".into(), Value::Array(hits));
    response.insert("query".into(), client.get("q").cloned().unwrap_or(Value::String(String::new())));
    response.insert(
        "processingTimeMs".into(),
        Value::from(started.elapsed().as_millis() as u64),
    );
    if page_mode {
        let total: u64 = answers.iter().filter_map(|a| a.total_hits).sum();
        let per_page = want;
        response.insert("hitsPerPage".into(), Value::from(per_page));
        response.insert("page".into(), Value::from(count(&client, "page").unwrap_or(1).max(1)));
        let pages = if per_page == 0 { 0 } else { total.div_ceil(per_page) };
        response.insert("totalPages".into(), Value::from(pages));
        response.insert("totalHits".into(), Value::from(total));
    } else {
        response.insert("limit".into(), Value::from(want));
        response.insert("offset".into(), Value::from(skip));
        let total: u64 = answers.iter().filter_map(|a| a.estimated_total_hits).sum();
        response.insert("estimatedTotalHits".into(), Value::from(total));
    }
    if client.contains_key("facets") {
        let cap = index
            .max_values_per_facet
            .unwrap_or(crate::settings::DEFAULT_MAX_VALUES_PER_FACET);
        let distributions: Vec<&Map<String, Value>> =
            answers.iter().filter_map(|a| a.facet_distribution.as_ref()).collect();
        let stats: Vec<&Map<String, Value>> =
            answers.iter().filter_map(|a| a.facet_stats.as_ref()).collect();
        let distribution =
            merge_distributions(&distributions, index.sort_facet_values_by.as_ref(), cap as usize);
        response.insert("facetDistribution".into(), Value::Object(distribution));
        response.insert("facetStats".into(), Value::Object(merge_stats(&stats)));
    }
    Ok(Value::Object(response))
}
