//! `GET`/`POST /indexes/{uid}/search`: one search over every shard of an index, answered as
//! one Meilisearch holding all the documents would answer it.
//!
//! How a search flows: the handler reads the body once ([`SearchQuery`], tenant rules ANDed in
//! by `read::query`), [`scatter`] asks one replica per shard for the first `offset + limit` hits,
//! `miroir_core::merge` orders the hits as one index would, and [`collect`] cuts the window,
//! strips what the client did not ask for and builds the answer. With `distinct`, the merged
//! list keeps the first hit of each value (and shards are asked deeper when duplicates leave
//! the window short).
//!
//! [`scatter`]: super::scatter
//! [`collect`]: super::collect

use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::{Extension, Json};
use serde_json::{Map, Value};

use miroir_core::merge::{merge_ranked, merge_ranked_lazily};
use miroir_core::pins::place_pins;
use miroir_store::IndexRecord;

use super::collect::{
    add_metadata, attribute, finish_hit, is_semantic, rank_key_for, rank_keys, respond,
    wants_metadata, Pinned, Shown,
};
use super::query::{get_query, post_query};
use super::scatter::scatter;
use crate::access::Access;
use crate::error::Result;
use crate::extract::{IndexUid, JsonBody, Params};
use crate::state::AppState;
use crate::wire::search::{NodeSearchAnswer, SearchQuery, Window};

/// `GET /indexes/{uid}/search`
pub(crate) async fn search_get(
    State(state): State<Arc<AppState>>,
    Extension(access): Extension<Access>,
    IndexUid(uid): IndexUid,
    params: Params,
    headers: HeaderMap,
) -> Result<Json<Value>> {
    let query = get_query(&access, &uid, &params)?;
    answer_with_metadata(&state, &uid, query, &headers).await
}

/// `POST /indexes/{uid}/search`
pub(crate) async fn search_post(
    State(state): State<Arc<AppState>>,
    Extension(access): Extension<Access>,
    IndexUid(uid): IndexUid,
    headers: HeaderMap,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> Result<Json<Value>> {
    let query = post_query(&access, &uid, body, "")?;
    answer_with_metadata(&state, &uid, query, &headers).await
}

/// A search's answer, with `metadata` when the client asked for it (see
/// [`super::collect::wants_metadata`]).
async fn answer_with_metadata(
    state: &AppState,
    uid: &str,
    query: SearchQuery,
    headers: &HeaderMap,
) -> Result<Json<Value>> {
    let mut answer = search(state, uid, query).await?;
    if wants_metadata(headers) {
        add_metadata(&mut answer, &state.index(uid)?);
    }
    Ok(Json(answer))
}

/// Runs one search over the shards of `uid` and answers as one Meilisearch would.
#[tracing::instrument(level = "debug", skip(state, query))]
pub(crate) async fn search(state: &AppState, uid: &str, query: SearchQuery) -> Result<Value> {
    let index = state.index(uid)?;
    let window = query.window.within(index.max_total_hits);
    let distinct = query
        .distinct()
        .map(str::to_string)
        .or_else(|| index.distinct_attribute.clone());
    let Some(distinct) = distinct else {
        let depth = window.depth();
        let answers = scatter(state, &index, &query.body, window.page_mode, depth).await?;
        let started = Instant::now();
        // Merge hits by rank, then cut to the requested window; only the hits that reach the
        // head of their node's list have their ranking read.
        let by_sort = query.body.contains_key("sort");
        let shown = Shown::of(&query);
        let Pinned { organic, pins } = Pinned::apart(state, &answers);
        let lengths: Vec<usize> = organic.iter().map(Vec::len).collect();
        let merged = merge_ranked_lazily(
            &lengths,
            |list, position| {
                let hit = &answers[list].hits[organic[list][position]];
                rank_key_for(hit.get(), 1.0, by_sort)
            },
            depth as usize,
        )
        .into_iter()
        .map(|(list, position)| (list, organic[list][position]));
        let picked: Vec<(usize, usize)> = place_pins(
            pins,
            window.skip as usize,
            depth.saturating_sub(window.skip) as usize,
            merged,
        );
        let semantic_hits = semantic_count(&query, &answers, &picked);
        let hits = picked
            .into_iter()
            .map(|(list, position)| {
                let answer = &answers[list];
                finish_hit(&answer.hits[position], &answer.node, shown).map(Value::Object)
            })
            .collect::<Result<Vec<Value>>>()?;
        return Ok(respond(
            &index,
            &query,
            &answers,
            hits,
            semantic_hits,
            started,
        ));
    };
    let (answers, hits, semantic_hits) =
        distinct_search(state, &index, &query, window, &distinct).await?;
    Ok(respond(
        &index,
        &query,
        &answers,
        hits,
        semantic_hits,
        Instant::now(),
    ))
}

/// How many of the hits picked (`(answer, position)`) came from a hybrid search's semantic
/// side (0 for other searches, whose hits carry no such details).
fn semantic_count(
    query: &SearchQuery,
    answers: &[NodeSearchAnswer],
    picked: &[(usize, usize)],
) -> u64 {
    if !query.body.contains_key("hybrid") {
        return 0;
    }
    picked
        .iter()
        .filter(|(list, position)| is_semantic(&answers[*list].hits[*position]))
        .count() as u64
}

/// A search with `distinct`: each node already keeps one hit per value; across shards the
/// same value can still come from several nodes, so the merged list keeps only the first hit
/// of each value. Duplicates shorten the list, so shards are asked deeper until the window is
/// full or the nodes have nothing more.
async fn distinct_search(
    state: &AppState,
    index: &IndexRecord,
    query: &SearchQuery,
    window: Window,
    distinct: &str,
) -> Result<(Vec<NodeSearchAnswer>, Vec<Value>, u64)> {
    let client = &query.body;
    let shown = Shown::of(query);
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
        let keys = rank_keys(&answers, 1.0, client.contains_key("sort"));
        let merged = merge_ranked(&keys, usize::MAX);
        // Pinned hits bypass `distinct`, as on one node (they are placed after it).
        let Pinned { organic, pins } = Pinned::apart(state, &answers);
        let is_organic =
            |list: usize, position: usize| organic[list].binary_search(&position).is_ok();
        let mut seen: Vec<Value> = Vec::new();
        let mut kept = Vec::new();
        for (list, position) in merged {
            if !is_organic(list, position) {
                continue;
            }
            let answer = &answers[list];
            let mut hit = finish_hit(&answer.hits[position], &answer.node, shown)?;
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
            kept.push((Value::Object(hit), (list, position)));
        }
        let exhausted = answers.iter().all(|a| (a.hits.len() as u64) < depth);
        if kept.len() as u64 >= window.depth() || exhausted || rounds >= 4 {
            let pinned = pins
                .into_iter()
                .map(|(pinned_at, (list, position))| {
                    let answer = &answers[list];
                    let mut hit = finish_hit(&answer.hits[position], &answer.node, shown)?;
                    if added_attribute {
                        hit.shift_remove(distinct);
                    }
                    Ok((pinned_at, (Value::Object(hit), (list, position))))
                })
                .collect::<Result<Vec<_>>>()?;
            let page = place_pins(pinned, window.skip as usize, window.want as usize, kept);
            let returned: Vec<(usize, usize)> = page.iter().map(|(_, at)| *at).collect();
            let semantic_hits = semantic_count(query, &answers, &returned);
            let hits = page.into_iter().map(|(hit, _)| hit).collect();
            return Ok((answers, hits, semantic_hits));
        }
        depth = depth.saturating_mul(2);
    }
}

/// Replaces each node's total by its share of the cross-shard distinct count: the union of the
/// distinct attribute's values is counted once (on the first node that has each value), plus
/// each node's documents without a value. Removes the helper facet unless the client asked.
fn count_distinct(answers: &mut [NodeSearchAnswer], distinct: &str, client_facets: &[Value]) {
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
