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
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};

use miroir_core::facets::{facet_order, merge_counts, merge_distributions, merge_stats};
use miroir_core::marker::{and_filter, strip_document, strip_nested};
use miroir_core::merge::{merge_ranked, rank_key, rank_key_of_hit, RankKey};
use miroir_core::planner::pinned_ids;

use crate::cluster::Layout;
use crate::error::{Error, MeiliError, Result};
use crate::extract::{json_body, Body, Params};
use crate::fanout::{all_shards, fan_out, post_to_shards};
use crate::indexes::{check_path_uid, require_json};
use crate::node::NodeBody;
use crate::state::AppState;

/// The parts of a node's search (or federated multi-search) answer the merge reads; hits
/// stay raw.
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
    #[serde(default)]
    facets_by_index: Option<Map<String, Value>>,
    #[serde(default)]
    processing_time_ms: u64,
    #[serde(default)]
    semantic_hit_count: Option<u64>,
    #[serde(default)]
    performance_details: Option<Value>,
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
            | "retrieveVectors" | "showPerformanceDetails" | "exhaustiveFacetCount" => {
                match raw.as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => {
                    return Err(MeiliError::invalid(
                        &format!("invalid_search_{}", snake(name)),
                        format!("Invalid value in parameter `{name}`: could not parse `{raw}` as a boolean, expected either `true` or `false`"),
                    )
                    .into())
                }
                }
            }
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
    if let (Some(embedder), ratio) = (
        body.remove("hybridEmbedder"),
        body.remove("hybridSemanticRatio"),
    ) {
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
    axum::Extension(access): axum::Extension<crate::auth::Access>,
    Path(uid): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>> {
    check_path_uid(&uid)?;
    let mut body = params_to_body(&Params::parse(raw.as_deref()))?;
    access.apply_rules(&uid, &mut body);
    Ok(Json(search(&state, &uid, body).await?))
}

/// `POST /indexes/{uid}/search`
pub async fn search_post(
    State(state): State<Arc<AppState>>,
    axum::Extension(access): axum::Extension<crate::auth::Access>,
    Path(uid): Path<String>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Json<Value>> {
    check_path_uid(&uid)?;
    require_json(&headers)?;
    let mut body: Map<String, Value> = json_body(&body)?;
    access.apply_rules(&uid, &mut body);
    Ok(Json(search(&state, &uid, body).await?))
}

fn count(body: &Map<String, Value>, name: &str) -> Option<u64> {
    body.get(name).and_then(Value::as_u64)
}

fn flag(body: &Map<String, Value>, name: &str) -> bool {
    body.get(name).and_then(Value::as_bool).unwrap_or(false)
}

/// The window of hits a query asks for, in either pagination mode.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// `page`/`hitsPerPage` mode (exact totals) rather than `offset`/`limit`.
    pub page_mode: bool,
    /// Hits to skip.
    pub skip: u64,
    /// Hits to return.
    pub want: u64,
    /// Hits to fetch from each shard (the window's end, clipped by [`Window::within`]).
    fetch: u64,
}

/// Meilisearch's default `pagination.maxTotalHits`.
pub const DEFAULT_MAX_TOTAL_HITS: u64 = 1000;

impl Window {
    /// Reads the pagination parameters of a search body.
    pub fn of(body: &Map<String, Value>) -> Window {
        let page_mode = body.contains_key("page") || body.contains_key("hitsPerPage");
        if page_mode {
            let page = count(body, "page").unwrap_or(1);
            let per_page = count(body, "hitsPerPage").unwrap_or(20);
            // Page 0 exists and is always empty (its totals are still computed).
            let (skip, want) = match page.checked_sub(1) {
                Some(before) => (before.saturating_mul(per_page), per_page),
                None => (0, 0),
            };
            Window {
                page_mode,
                skip,
                want,
                fetch: skip.saturating_add(want),
            }
        } else {
            let (skip, want) = (
                count(body, "offset").unwrap_or(0),
                count(body, "limit").unwrap_or(20),
            );
            Window {
                page_mode,
                skip,
                want,
                fetch: skip.saturating_add(want),
            }
        }
    }

    /// Clips the window to `pagination.maxTotalHits`: no hit beyond that rank is reachable,
    /// as on Meilisearch (the totals are not capped).
    pub fn within(mut self, max_total_hits: Option<u64>) -> Window {
        let max = max_total_hits.unwrap_or(DEFAULT_MAX_TOTAL_HITS);
        self.fetch = self.depth().min(max);
        self
    }

    /// How deep every shard must be searched: the window's end, within `maxTotalHits`.
    pub fn depth(&self) -> u64 {
        self.fetch
    }
}

/// Sends one search to the nodes of the read plan (each filtered to its shards), asking for the
/// first `depth` hits with ranking details, and returns the nodes' answers.
async fn scatter(
    state: &AppState,
    index: &miroir_store::IndexRecord,
    client: &Map<String, Value>,
    page_mode: bool,
    depth: u64,
) -> Result<Vec<NodeAnswer>> {
    let client_filter = client.get("filter").cloned();
    let mut base = client.clone();
    base.remove("indexUid");
    base.remove("federationOptions");
    base.insert("showRankingScore".into(), Value::Bool(true));
    // Without `sort`, the global score orders hits exactly (see `merge::score_only`); details
    // are only needed to compare sort values.
    if client.contains_key("sort") {
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
        state.cluster.layout(index),
        &shards,
        |node, shards| {
            let (path, base) = (&path, &base);
            async move {
                let node = state.cluster.node(node);
                let body = post_to_shards(node, path, base, &shards).await?;
                serde_json::from_slice::<NodeAnswer>(&body).map_err(|e| Error::NodeUnavailable {
                    node: node.id.clone(),
                    reason: format!("answered an unexpected search response: {e}"),
                })
            }
        },
    )
    .await
}

/// The shards a query must ask: those of the primary keys its filter pins, or all of them.
fn query_shards(
    state: &AppState,
    index: &miroir_store::IndexRecord,
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

/// Rank keys of every hit of every answer, in answer order.
fn rank_keys(answers: &[NodeAnswer], weight: f64) -> Vec<Vec<RankKey>> {
    answers
        .iter()
        .map(|answer| {
            answer
                .hits
                .iter()
                .map(|hit| {
                    let mut key = rank_key_of_hit(hit.get());
                    if weight != 1.0 {
                        key.weigh(weight);
                    }
                    key
                })
                .collect()
        })
        .collect()
}

/// Re-writes a surviving hit for the client: no marker, and ranking fields only if asked.
fn finish_hit(raw: &RawValue, client: &Map<String, Value>) -> Map<String, Value> {
    let mut hit: Map<String, Value> = serde_json::from_str(raw.get()).unwrap_or_default();
    let removed = strip_document(&mut hit);
    // Joined foreign documents carry their own markers; only then is the hit walked.
    if raw.get().matches("\"_miroir\"").count() > removed {
        hit.values_mut().for_each(strip_nested);
    }
    if !flag(client, "showRankingScore") {
        hit.shift_remove("_rankingScore");
    }
    if !flag(client, "showRankingScoreDetails") {
        hit.shift_remove("_rankingScoreDetails");
    }
    hit
}

/// Runs one search over the shards of `uid` and answers as one Meilisearch would.
pub async fn search(state: &AppState, uid: &str, client: Map<String, Value>) -> Result<Value> {
    let index = state.index(uid)?;
    let window = Window::of(&client).within(index.max_total_hits);
    let (page_mode, skip, depth) = (window.page_mode, window.skip, window.depth());
    let distinct = client
        .get("distinct")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| index.distinct_attribute.clone());
    let Some(distinct) = distinct else {
        let answers = scatter(state, &index, &client, page_mode, depth).await?;
        let started = Instant::now();
        // Merge hits by rank, then cut to the requested window.
        let keys = rank_keys(&answers, 1.0);
        let merged = merge_ranked(&keys, depth as usize);
        let hits: Vec<Value> = merged
            .into_iter()
            .skip(skip as usize)
            .map(|(list, position)| {
                Value::Object(finish_hit(&answers[list].hits[position], &client))
            })
            .collect();
        return Ok(respond(&index, &client, window, &answers, hits, started));
    };
    let (answers, hits) = distinct_search(state, &index, &client, window, &distinct).await?;
    Ok(respond(
        &index,
        &client,
        window,
        &answers,
        hits,
        Instant::now(),
    ))
}

/// Reads a (possibly dotted) attribute of a hit.
fn attribute<'a>(hit: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    if let Some(value) = hit.get(name) {
        return Some(value);
    }
    let mut parts = name.split('.');
    let mut current = hit.get(parts.next()?)?;
    for part in parts {
        current = current.get(part)?;
    }
    Some(current)
}

/// A search with `distinct`: each node already keeps one hit per value; across shards the
/// same value can still come from several nodes, so the merged list keeps only the first hit
/// of each value. Duplicates shorten the list, so shards are asked deeper until the window is
/// full or the nodes have nothing more.
async fn distinct_search(
    state: &AppState,
    index: &miroir_store::IndexRecord,
    client: &Map<String, Value>,
    window: Window,
    distinct: &str,
) -> Result<(Vec<NodeAnswer>, Vec<Value>)> {
    let mut toward_nodes = client.clone();
    let mut added_attribute = false;
    if let Some(Value::Array(fields)) = toward_nodes.get_mut("attributesToRetrieve") {
        let covered = fields
            .iter()
            .any(|f| f.as_str() == Some("*") || f.as_str() == Some(distinct));
        if !covered {
            fields.push(Value::String(distinct.to_string()));
            added_attribute = true;
        }
    }
    // Each node's facet values of the distinct attribute tell how many distinct values match
    // across shards (the union), which is what one index counts.
    let client_facets: Vec<Value> = match client.get("facets") {
        Some(Value::Array(facets)) => facets.clone(),
        _ => Vec::new(),
    };
    // The `distinct` parameter requires a filterable attribute, so its facet can be asked for;
    // the `distinctAttribute` setting does not, and its totals stay per-shard sums (Meilisearch
    // itself calls them estimates).
    let counts_distinct = client.contains_key("distinct");
    if counts_distinct && !client_facets.iter().any(|f| f.as_str() == Some(distinct)) {
        let mut facets = client_facets.clone();
        facets.push(Value::String(distinct.to_string()));
        toward_nodes.insert("facets".into(), Value::Array(facets));
    }
    let mut depth = window.depth();
    let mut rounds = 0;
    loop {
        rounds += 1;
        let mut answers = scatter(state, index, &toward_nodes, window.page_mode, depth).await?;
        if counts_distinct {
            count_distinct(&mut answers, distinct, &client_facets);
        }
        let keys = rank_keys(&answers, 1.0);
        let merged = merge_ranked(&keys, usize::MAX);
        let mut seen: Vec<Value> = Vec::new();
        let mut kept = Vec::new();
        for (list, position) in merged {
            let mut hit = finish_hit(&answers[list].hits[position], client);
            match attribute(&hit, distinct).cloned() {
                Some(value) if !value.is_null() => {
                    if seen.contains(&value) {
                        continue;
                    }
                    seen.push(value);
                }
                // Documents without the attribute are each their own group, as on Meilisearch.
                _ => {}
            }
            if added_attribute {
                hit.shift_remove(distinct);
            }
            kept.push(Value::Object(hit));
        }
        let exhausted = answers.iter().all(|a| (a.hits.len() as u64) < depth);
        if kept.len() as u64 >= window.depth() || exhausted || rounds >= 4 {
            let hits = kept
                .into_iter()
                .skip(window.skip as usize)
                .take(window.want as usize)
                .collect();
            return Ok((answers, hits));
        }
        depth = depth.saturating_mul(2);
    }
}

/// Replaces each node's total by its share of the cross-shard distinct count: the union of the
/// distinct attribute's values is counted once (on the first node that has each value), plus
/// each node's documents without a value. Removes the helper facet unless the client asked.
fn count_distinct(answers: &mut [NodeAnswer], distinct: &str, client_facets: &[Value]) {
    let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
    for answer in answers.iter_mut() {
        let values: Vec<String> = answer
            .facet_distribution
            .as_ref()
            .and_then(|d| d.get(distinct))
            .and_then(Value::as_object)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        let node_values = values.len() as u64;
        let new_values = values
            .into_iter()
            .filter(|v| seen.insert(v.clone()))
            .count() as u64;
        for total in [&mut answer.estimated_total_hits, &mut answer.total_hits]
            .into_iter()
            .flatten()
        {
            let without_value = total.saturating_sub(node_values);
            *total = new_values + without_value;
        }
        if !client_facets.iter().any(|f| f.as_str() == Some(distinct)) {
            if let Some(distribution) = &mut answer.facet_distribution {
                distribution.remove(distinct);
            }
            if let Some(stats) = &mut answer.facet_stats {
                stats.remove(distinct);
            }
        }
    }
}

/// A fresh `requestUid` (a UUID v7, as Meilisearch generates for every search).
fn request_uid() -> Value {
    Value::String(uuid::Uuid::now_v7().to_string())
}

/// `processingTimeMs` as one Meilisearch would report it: the slowest shard's own processing
/// time plus Miroir's merge (`merge_started` marks the end of the scatter). Network time
/// between Miroir and the nodes is not processing, as it is not on a single node either.
fn processing_time(nodes: impl Iterator<Item = u64>, merge_started: Instant) -> u64 {
    nodes.max().unwrap_or(0) + merge_started.elapsed().as_millis() as u64
}

/// Builds the client's answer from the nodes' answers and the final hits.
fn respond(
    index: &miroir_store::IndexRecord,
    client: &Map<String, Value>,
    window: Window,
    answers: &[NodeAnswer],
    hits: Vec<Value>,
    started: Instant,
) -> Value {
    let (page_mode, skip, want) = (window.page_mode, window.skip, window.want);

    let mut response = Map::new();
    response.insert("hits".into(), Value::Array(hits));
    response.insert(
        "query".into(),
        client
            .get("q")
            .cloned()
            .unwrap_or(Value::String(String::new())),
    );
    response.insert(
        "processingTimeMs".into(),
        Value::from(processing_time(
            answers.iter().map(|a| a.processing_time_ms),
            started,
        )),
    );
    if page_mode {
        let total: u64 = answers.iter().filter_map(|a| a.total_hits).sum();
        let per_page = count(client, "hitsPerPage").unwrap_or(20);
        response.insert("hitsPerPage".into(), Value::from(per_page));
        response.insert(
            "page".into(),
            Value::from(count(client, "page").unwrap_or(1)),
        );
        let pages = if per_page == 0 {
            0
        } else {
            total.div_ceil(per_page)
        };
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
        let distributions: Vec<&Map<String, Value>> = answers
            .iter()
            .filter_map(|a| a.facet_distribution.as_ref())
            .collect();
        let stats: Vec<&Map<String, Value>> = answers
            .iter()
            .filter_map(|a| a.facet_stats.as_ref())
            .collect();
        let distribution = merge_distributions(
            &distributions,
            index.sort_facet_values_by.as_ref(),
            cap as usize,
        );
        response.insert("facetDistribution".into(), Value::Object(distribution));
        response.insert("facetStats".into(), Value::Object(merge_stats(&stats)));
    }
    let semantic: Vec<u64> = answers
        .iter()
        .filter_map(|a| a.semantic_hit_count)
        .collect();
    if !semantic.is_empty() {
        response.insert(
            "semanticHitCount".into(),
            Value::from(semantic.iter().sum::<u64>()),
        );
    }
    if flag(client, "showPerformanceDetails") {
        if let Some(details) = answers.iter().find_map(|a| a.performance_details.clone()) {
            response.insert("performanceDetails".into(), details);
        }
    }
    response.insert("requestUid".into(), request_uid());
    Value::Object(response)
}

/// `POST /indexes/{uid}/facet-search`: counts summed over shards, ordered and cut as the
/// index's faceting settings say.
pub async fn facet_search(
    State(state): State<Arc<AppState>>,
    axum::Extension(access): axum::Extension<crate::auth::Access>,
    Path(uid): Path<String>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Json<Value>> {
    check_path_uid(&uid)?;
    require_json(&headers)?;
    let mut client: Map<String, Value> = json_body(&body)?;
    access.apply_rules(&uid, &mut client);
    let index = state.index(&uid)?;
    let client_filter = client.get("filter").cloned();
    let path = format!("/indexes/{uid}/facet-search");
    let state = &state;
    let shards = query_shards(state, &index, client_filter.as_ref())?;
    let answers = fan_out(
        &state.cluster,
        state.cluster.layout(&index),
        &shards,
        |node, shards| {
            let (path, client) = (&path, &client);
            async move {
                let node = state.cluster.node(node);
                let body = post_to_shards(node, path, client, &shards).await?;
                serde_json::from_slice::<Value>(&body).map_err(|e| Error::NodeUnavailable {
                    node: node.id.clone(),
                    reason: format!("answered an unexpected facet search response: {e}"),
                })
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
            .get("facetHits")
            .and_then(Value::as_array)
            .map(|hits| {
                hits.iter()
                    .filter_map(|h| Some((h.get("value")?.as_str()?, h.get("count")?.as_u64()?)))
                    .collect()
            })
            .unwrap_or_default()
    });
    let order = facet_order(index.sort_facet_values_by.as_ref(), facet);
    let cap = index
        .max_values_per_facet
        .unwrap_or(crate::settings::DEFAULT_MAX_VALUES_PER_FACET);
    let hits: Vec<Value> = merge_counts(lists, order, cap as usize)
        .into_iter()
        .map(|(value, count)| json!({"value": value, "count": count}))
        .collect();
    Ok(Json(json!({
        "facetHits": hits,
        "facetQuery": client.get("facetQuery").cloned().unwrap_or(Value::Null),
        "processingTimeMs": processing_time(
            answers.iter().filter_map(|a| a.get("processingTimeMs").and_then(Value::as_u64)),
            started,
        ),
    })))
}

/// `POST /multi-search`: plain (one result per query) or federated (one merged list).
pub async fn multi_search(
    State(state): State<Arc<AppState>>,
    axum::Extension(access): axum::Extension<crate::auth::Access>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Json<Value>> {
    require_json(&headers)?;
    let request: Map<String, Value> = json_body(&body)?;
    if let Some(Value::Array(queries)) = request.get("queries") {
        for (position, query) in queries.iter().enumerate() {
            if let Some(uid) = query.get("indexUid").and_then(Value::as_str) {
                access
                    .check(uid)
                    .map_err(|e| in_query(Error::Meili(e), position))?;
            }
        }
    }
    let queries: Vec<Map<String, Value>> = match request.get("queries") {
        Some(Value::Array(queries)) => queries
            .iter()
            .map(|q| {
                let mut query = q.as_object().cloned().unwrap_or_default();
                if let Some(uid) = query.get("indexUid").and_then(Value::as_str) {
                    let uid = uid.to_string();
                    access.apply_rules(&uid, &mut query);
                }
                query
            })
            .collect(),
        _ => {
            return Err(MeiliError::invalid(
                "missing_multi_search_queries",
                "Missing field `queries`",
            )
            .into())
        }
    };
    let uid_of = |position: usize, query: &Map<String, Value>| -> Result<String> {
        query
            .get("indexUid")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| {
                MeiliError::invalid(
                    "missing_index_uid",
                    format!("Missing field `indexUid` inside `.queries[{position}]`"),
                )
                .into()
            })
    };
    match request.get("federation").filter(|f| !f.is_null()) {
        None => {
            let mut results = Vec::with_capacity(queries.len());
            for (position, query) in queries.iter().enumerate() {
                let uid = uid_of(position, query)?;
                let mut body = query.clone();
                body.remove("indexUid");
                let mut result = search(&state, &uid, body)
                    .await
                    .map_err(|e| in_query(e, position))?;
                if let Value::Object(map) = &mut result {
                    map.shift_insert(0, "indexUid".into(), Value::String(uid));
                }
                results.push(result);
            }
            Ok(Json(json!({ "results": results })))
        }
        Some(federation) => {
            let federation = federation.as_object().cloned().unwrap_or_default();
            federated(&state, queries, &federation).await.map(Json)
        }
    }
}

/// Prefixes an error with the query it came from, as Meilisearch does in multi-search.
fn in_query(error: Error, position: usize) -> Error {
    match error {
        Error::Meili(mut e) => {
            e.message = format!("Inside `.queries[{position}]`: {}", e.message);
            Error::Meili(e)
        }
        Error::Node { status, mut body } => {
            if let Some(message) = body.get("message").and_then(Value::as_str) {
                let prefixed = format!("Inside `.queries[{position}]`: {message}");
                body["message"] = Value::String(prefixed);
            }
            Error::Node { status, body }
        }
        other => other,
    }
}

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
    federation: Option<FederationInfo>,
}

/// Federated multi-search. Each node runs the federated search itself over the shards it
/// serves (every query filtered to them): the node deduplicates documents matched by several
/// queries and counts the union of their matches, exactly as one index does — a document
/// lives in one shard, so no two nodes of the read plan can return the same one. Miroir then
/// merges the nodes' lists with the same weighted rank comparison and sums the counts.
async fn federated(
    state: &AppState,
    queries: Vec<Map<String, Value>>,
    federation: &Map<String, Value>,
) -> Result<Value> {
    let window = Window::of(federation);
    let depth = window.depth();
    let mut layout = None;
    for (position, query) in queries.iter().enumerate() {
        let uid = query
            .get("indexUid")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let index = state.index(uid).map_err(|e| in_query(e, position))?;
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
        replicas: state.cluster.replication_factor(),
    });
    let weights: Vec<f64> = queries
        .iter()
        .map(|q| {
            q.get("federationOptions")
                .and_then(|o| o.get("weight"))
                .and_then(Value::as_f64)
                .unwrap_or(1.0)
        })
        .collect();

    let mut node_federation = federation.clone();
    for key in ["offset", "limit", "page", "hitsPerPage"] {
        node_federation.remove(key);
    }
    node_federation.insert("offset".into(), Value::from(0));
    node_federation.insert("limit".into(), Value::from(depth));
    let shards = all_shards(layout.shards);
    let node_federation = &node_federation;
    let queries_ref = &queries;
    let answers = fan_out(&state.cluster, layout, &shards, |node, shards| {
        let node_queries: Vec<Value> = queries_ref
            .iter()
            .map(|query| {
                let mut query = query.clone();
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
            serde_json::from_slice::<NodeAnswer>(&response.body).map_err(|e| {
                Error::NodeUnavailable {
                    node: node.id.clone(),
                    reason: format!("answered an unexpected multi-search response: {e}"),
                }
            })
        }
    })
    .await?;

    let started = Instant::now();
    let mut origins: Vec<Vec<usize>> = Vec::with_capacity(answers.len());
    let keys: Vec<Vec<RankKey>> = answers
        .iter()
        .map(|answer| {
            let mut positions = Vec::with_capacity(answer.hits.len());
            let keys = answer
                .hits
                .iter()
                .map(|hit| {
                    let parsed: Option<FederatedHit> = serde_json::from_str(hit.get()).ok();
                    let position = parsed
                        .as_ref()
                        .and_then(|h| h.federation.as_ref())
                        .map(|f| f.position)
                        .unwrap_or(0);
                    positions.push(position);
                    let (details, score) = parsed
                        .map(|h| (h.details, h.score.unwrap_or(0.0)))
                        .unwrap_or((None, 0.0));
                    let mut key = rank_key(details.as_ref(), score);
                    let weight = weights.get(position).copied().unwrap_or(1.0);
                    if weight != 1.0 {
                        key.weigh(weight);
                    }
                    key
                })
                .collect();
            origins.push(positions);
            keys
        })
        .collect();
    // Each node applied `federation.distinct` over its shards; across nodes the first hit of
    // each value is kept (the lists may then come out shorter than the window).
    let distinct = federation.get("distinct").and_then(Value::as_str);
    let mut seen: Vec<Value> = Vec::new();
    let hits: Vec<Value> = merge_ranked(&keys, usize::MAX)
        .into_iter()
        .filter_map(|(list, position)| {
            let query = &queries[origins[list][position].min(queries.len().saturating_sub(1))];
            let hit = finish_hit(&answers[list].hits[position], query);
            if let Some(value) = distinct
                .and_then(|d| attribute(&hit, d))
                .filter(|v| !v.is_null())
            {
                if seen.contains(value) {
                    return None;
                }
                seen.push(value.clone());
            }
            Some(Value::Object(hit))
        })
        .take(depth as usize)
        .skip(window.skip as usize)
        .collect();

    let estimated: u64 = answers
        .iter()
        .filter_map(|a| a.estimated_total_hits.or(a.total_hits))
        .sum();
    let mut response = Map::new();
    response.insert("hits".into(), Value::Array(hits));
    if flag(federation, "showPerformanceDetails") {
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
        let per_page = window.want;
        response.insert("hitsPerPage".into(), Value::from(per_page));
        response.insert(
            "page".into(),
            Value::from(window.skip / per_page.max(1) + 1),
        );
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
            .get("mergeFacets")
            .and_then(|m| m.get("maxValuesPerFacet"))
            .and_then(Value::as_u64)
            .unwrap_or(crate::settings::DEFAULT_MAX_VALUES_PER_FACET);
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
    if federation.contains_key("facetsByIndex") && !federation.contains_key("mergeFacets") {
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
                .unwrap_or(crate::settings::DEFAULT_MAX_VALUES_PER_FACET);
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
