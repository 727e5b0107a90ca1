//! The collector of a search: rank keys of the nodes' hits for the merge
//! ([`miroir_core::merge`]), the re-writing of the hits that survive the cut, and the answer
//! built as one Meilisearch would build it (totals summed, facets merged, `processingTimeMs`).
//!
//! Hits stay raw JSON through the merge: only the ranking fields are read, and only the hits
//! that survive the cut are parsed and re-written (to drop what the client did not ask for and
//! the shard marker).

use std::sync::atomic::Ordering;
use std::time::Instant;

use axum::http::HeaderMap;

use serde_json::value::RawValue;
use serde_json::{Map, Value};

use miroir_core::facets::{merge_distributions, merge_stats};
use miroir_core::marker::{strip_document, strip_nested};
use miroir_core::merge::{rank_key_of_hit, score_only, RankKey};
use miroir_core::pins::pinned_position;
use miroir_store::IndexRecord;

use crate::error::{Error, Result};
use crate::state::AppState;
use crate::wire::search::{NodeSearchAnswer, SearchQuery};
use crate::wire::settings::DEFAULT_MAX_VALUES_PER_FACET;

/// Rank keys of every hit of every answer, in answer order: by the ranking details when the
/// search sorts (sort values are compared), by the global score otherwise (which orders hits
/// exactly, and is all a hybrid search's mix of keyword and semantic hits can be compared by).
pub(crate) fn rank_keys(
    answers: &[NodeSearchAnswer],
    weight: f64,
    by_sort: bool,
) -> Vec<Vec<RankKey>> {
    answers
        .iter()
        .map(|answer| {
            answer
                .hits
                .iter()
                .map(|hit| rank_key_for(hit.get(), weight, by_sort))
                .collect()
        })
        .collect()
}

/// The rank key of one raw hit (see [`rank_keys`]).
pub(crate) fn rank_key_for(hit: &str, weight: f64, by_sort: bool) -> RankKey {
    let mut key = rank_key_of_hit(hit);
    if !by_sort {
        key = score_only(key.score);
    }
    if weight != 1.0 {
        key.weigh(weight);
    }
    key
}

/// The nodes' hits split into those a dynamic search rule pinned and the others (see
/// `miroir_core::pins`): the merge ranks the organic hits and then places the pinned ones.
pub(crate) struct Pinned {
    /// For each answer, the positions of its organic hits, ascending.
    pub organic: Vec<Vec<usize>>,
    /// The pinned hits: `(pinned position, (answer, position))`.
    pub pins: Vec<(u32, (usize, usize))>,
}

impl Pinned {
    /// Splits the hits of `answers`; every hit is organic while nodes cannot pin (their hits
    /// then carry no details to read).
    pub fn apart(state: &AppState, answers: &[NodeSearchAnswer]) -> Pinned {
        let pins_possible = state.pins_possible.load(Ordering::SeqCst);
        let mut pinned = Pinned {
            organic: Vec::with_capacity(answers.len()),
            pins: Vec::new(),
        };
        for (list, answer) in answers.iter().enumerate() {
            let mut organic = Vec::with_capacity(answer.hits.len());
            for (position, hit) in answer.hits.iter().enumerate() {
                match pins_possible.then(|| pinned_position(hit.get())).flatten() {
                    Some(pinned_at) => pinned.pins.push((pinned_at, (list, position))),
                    None => organic.push(position),
                }
            }
            pinned.organic.push(organic);
        }
        pinned
    }
}

/// Which ranking fields the client asked to see in hits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shown {
    /// `_rankingScore`.
    pub score: bool,
    /// `_rankingScoreDetails`.
    pub details: bool,
}

impl Shown {
    /// What `query` asked for.
    pub fn of(query: &SearchQuery) -> Shown {
        Shown {
            score: query.show_ranking_score,
            details: query.show_ranking_score_details,
        }
    }
}

/// Re-writes a surviving hit for the client: no marker, and ranking fields only if asked. A
/// hit that is not a JSON object means `node` is not answering as Meilisearch.
pub(crate) fn finish_hit(raw: &RawValue, node: &str, shown: Shown) -> Result<Map<String, Value>> {
    let mut hit: Map<String, Value> =
        serde_json::from_str(raw.get()).map_err(|e| Error::NodeUnavailable {
            node: node.to_string(),
            reason: format!("answered a hit that is not a JSON object: {e}"),
        })?;
    let removed = strip_document(&mut hit);
    // Joined foreign documents carry their own markers; only then is the hit walked.
    if raw.get().matches("\"_miroir\"").count() > removed {
        hit.values_mut().for_each(strip_nested);
    }
    if !shown.score {
        hit.shift_remove("_rankingScore");
    }
    if !shown.details {
        hit.shift_remove("_rankingScoreDetails");
    }
    Ok(hit)
}

/// Whether a hybrid search's hit came from its semantic side: its ranking details are a
/// vector similarity (`vectorSort`), as one Meilisearch counts it in `semanticHitCount`.
pub(crate) fn is_semantic(raw: &RawValue) -> bool {
    #[derive(serde::Deserialize)]
    struct Details {
        #[serde(rename = "_rankingScoreDetails")]
        details: Option<Map<String, Value>>,
    }
    serde_json::from_str::<Details>(raw.get())
        .ok()
        .and_then(|hit| hit.details)
        .is_some_and(|details| details.contains_key("vectorSort"))
}

/// Reads a (possibly dotted) attribute of a hit.
pub(crate) fn attribute<'a>(hit: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
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

/// Whether the client asked for search metadata (`Meili-Include-Metadata: true` or `1`).
pub(crate) fn wants_metadata(headers: &HeaderMap) -> bool {
    headers
        .get("Meili-Include-Metadata")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| matches!(value.to_lowercase().as_str(), "true" | "1"))
}

/// Adds Meilisearch's `metadata` object to a search answer, right after its `requestUid`: a
/// fresh query uid, the index and its primary key.
pub(crate) fn add_metadata(answer: &mut Value, index: &IndexRecord) {
    insert_after_request_uid(answer, "metadata", query_metadata(index, None));
}

/// One query's `metadata` object: `query` (given for a federated search's queries), a query
/// uid of its own (a fresh UUID v7, distinct from the request's, as on Meilisearch), the index
/// and its primary key.
pub(crate) fn query_metadata(index: &IndexRecord, query: Option<&str>) -> Value {
    let mut metadata = Map::new();
    if let Some(query) = query {
        metadata.insert("query".into(), Value::String(query.to_string()));
    }
    metadata.insert(
        "queryUid".into(),
        Value::String(uuid::Uuid::now_v7().to_string()),
    );
    metadata.insert("indexUid".into(), Value::String(index.uid.clone()));
    if let Some(key) = &index.primary_key {
        metadata.insert("primaryKey".into(), Value::String(key.clone()));
    }
    Value::Object(metadata)
}

/// Inserts `key` into an answer right after its `requestUid` (where Meilisearch puts
/// `metadata`), or last when it has none.
pub(crate) fn insert_after_request_uid(answer: &mut Value, key: &str, value: Value) {
    let Value::Object(map) = answer else {
        return;
    };
    let at = map
        .keys()
        .position(|key| key == "requestUid")
        .map_or(map.len(), |position| position + 1);
    map.shift_insert(at, key.to_string(), value);
}

/// The request's `requestUid` (a UUID v7, as Meilisearch gives every search request; the uid
/// of the request's span, `crate::request`).
pub(crate) fn request_uid() -> Value {
    Value::String(crate::request::uid().to_string())
}

/// `processingTimeMs` as one Meilisearch would report it: the slowest shard's own processing
/// time plus Miroir's merge (`merge_started` marks the end of the scatter). Network time
/// between Miroir and the nodes is not processing, as it is not on a single node either.
pub(crate) fn processing_time(nodes: impl Iterator<Item = u64>, merge_started: Instant) -> u64 {
    nodes.max().unwrap_or(0) + merge_started.elapsed().as_millis() as u64
}

/// Builds the client's answer to a search from the nodes' answers and the final hits, of which
/// `semantic_hits` came from a hybrid search's semantic side.
pub(crate) fn respond(
    index: &IndexRecord,
    query: &SearchQuery,
    answers: &[NodeSearchAnswer],
    hits: Vec<Value>,
    semantic_hits: u64,
    merge_started: Instant,
) -> Value {
    let window = query.window;
    let mut response = Map::new();
    response.insert("hits".into(), Value::Array(hits));
    response.insert("query".into(), query.q());
    response.insert(
        "processingTimeMs".into(),
        Value::from(processing_time(
            answers.iter().map(|a| a.processing_time_ms),
            merge_started,
        )),
    );
    if window.page_mode {
        let total: u64 = answers.iter().filter_map(|a| a.total_hits).sum();
        let per_page = window.per_page;
        response.insert("hitsPerPage".into(), Value::from(per_page));
        response.insert("page".into(), Value::from(window.page));
        let pages = if per_page == 0 {
            0
        } else {
            total.div_ceil(per_page)
        };
        response.insert("totalPages".into(), Value::from(pages));
        response.insert("totalHits".into(), Value::from(total));
    } else {
        response.insert("limit".into(), Value::from(window.want));
        response.insert("offset".into(), Value::from(window.skip));
        let total: u64 = answers.iter().filter_map(|a| a.estimated_total_hits).sum();
        response.insert("estimatedTotalHits".into(), Value::from(total));
    }
    if query.body.contains_key("facets") {
        let cap = index
            .max_values_per_facet
            .unwrap_or(DEFAULT_MAX_VALUES_PER_FACET);
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
    if answers.iter().any(|a| a.semantic_hit_count.is_some()) {
        response.insert("semanticHitCount".into(), Value::from(semantic_hits));
    }
    if query.show_performance_details {
        if let Some(details) = answers.iter().find_map(|a| a.performance_details.clone()) {
            response.insert("performanceDetails".into(), details);
        }
    }
    response.insert("requestUid".into(), request_uid());
    Value::Object(response)
}
