//! Search HTTP routes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::Json;
use bytes::Bytes;
use serde_json::{json, Map, Value};

use super::query::{params_to_body, parse_request, SearchRequest};
use super::rank::{compare_weighted, ScoreValue};
use super::{execute, facet_candidates, facets};
use crate::error::{ApiError, ApiResult};
use crate::http::{json_body, Params};
use crate::indexes::{check_path_uid, valid_uid};
use crate::rules::pins_for;
use crate::store::AppState;
use crate::util::{missing_field, type_error, unknown_field, Kind};

fn run(state: &AppState, uid: &str, request: &SearchRequest, metadata: bool) -> ApiResult<Value> {
    let started = Instant::now();
    let store = state.lock();
    let index = store.index(uid)?;
    let pins = pins_for(&store, uid, request.q.as_deref().unwrap_or(""));
    let result = execute(index, request, None, &pins)?;
    let mut out = result.into_json(started.elapsed().as_millis(), None);
    if metadata {
        add_metadata(&mut out, uid, index.primary_key.as_deref());
    }
    Ok(out)
}

/// Whether the request asks for search metadata (`Meili-Include-Metadata: true` or `1`).
fn wants_metadata(headers: &HeaderMap) -> bool {
    headers
        .get("Meili-Include-Metadata")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| matches!(value.to_lowercase().as_str(), "true" | "1"))
}

/// Appends Meilisearch's `metadata` object (after `requestUid`, the last field so far).
fn add_metadata(out: &mut Value, uid: &str, primary_key: Option<&str>) {
    let mut metadata = json!({"queryUid": crate::util::uuid_v7_like(), "indexUid": uid});
    if let Some(key) = primary_key {
        metadata["primaryKey"] = json!(key);
    }
    out["metadata"] = metadata;
}

/// `GET /indexes/{uid}/search`
pub async fn search_get(
    State(state): State<Arc<AppState>>,
    Path(uid): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Value>> {
    check_path_uid(&uid)?;
    let body = params_to_body(&Params::parse(raw.as_deref()))?;
    let request = parse_request(&body, "", &[])?;
    Ok(Json(run(&state, &uid, &request, false)?))
}

/// `POST /indexes/{uid}/search`
pub async fn search_post(
    State(state): State<Arc<AppState>>,
    Path(uid): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    check_path_uid(&uid)?;
    let body = json_body(&headers, &body)?;
    let request = parse_request(&body, "", &[])?;
    Ok(Json(run(&state, &uid, &request, wants_metadata(&headers))?))
}

/// `POST /indexes/{uid}/facet-search`
pub async fn facet_search(
    State(state): State<Arc<AppState>>,
    Path(uid): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let started = Instant::now();
    check_path_uid(&uid)?;
    let body = json_body(&headers, &body)?;
    let Some(object) = body.as_object() else {
        return Err(ApiError::bad_request(type_error("", &[Kind::Map], &body)));
    };
    // Meilisearch ignores fields a facet search does not know (a client may send its whole
    // search parameters).
    let facet_query = match object.get("facetQuery") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            return Err(ApiError::new(
                "invalid_facet_search_query",
                type_error(".facetQuery", &[Kind::Str], other),
            ))
        }
    };
    let facet_name = match object.get("facetName") {
        None => {
            return Err(ApiError::new(
                "missing_facet_search_facet_name",
                missing_field("", "facetName"),
            ))
        }
        Some(Value::String(s)) => s.clone(),
        Some(other) => {
            return Err(ApiError::new(
                "invalid_facet_search_facet_name",
                type_error(".facetName", &[Kind::Str], other),
            ))
        }
    };
    if let Some(value) = object
        .get("exhaustiveFacetCount")
        .filter(|v| !v.is_null() && !v.is_boolean())
    {
        return Err(ApiError::new(
            "invalid_facet_search_exhaustive_facet_count",
            type_error(".exhaustiveFacetCount", &[Kind::Bool], value),
        ));
    }
    let search_part: Map<String, Value> = object
        .iter()
        .filter(|(k, _)| !["facetQuery", "facetName", "exhaustiveFacetCount"].contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let request = parse_request(&Value::Object(search_part), "", &[])?;
    let store = state.lock();
    let index = store.index(&uid)?;
    facets::check_facet_search(index, &facet_name)?;
    let candidates = facet_candidates(index, &request)?;
    let hits = facets::facet_hits(index, &candidates, &facet_name, facet_query.as_deref());
    Ok(Json(json!({
        "facetHits": hits,
        "facetQuery": facet_query,
        "processingTimeMs": started.elapsed().as_millis(),
    })))
}

fn inside(i: usize, error: ApiError) -> ApiError {
    ApiError::new(
        &error.code,
        format!("Inside `.queries[{i}]`: {}", error.message),
    )
}

/// A hit of a federated search before the merge.
struct FederatedHit {
    values: Vec<ScoreValue>,
    weight: f64,
    score: f64,
    index_uid: String,
    internal: u32,
    hit: Map<String, Value>,
}

struct Query {
    index_uid: String,
    request: SearchRequest,
    weight: f64,
}

fn parse_queries(queries: &[Value], federated: bool) -> ApiResult<Vec<Query>> {
    let mut out = Vec::new();
    for (i, query) in queries.iter().enumerate() {
        let path = format!(".queries[{i}]");
        let Some(object) = query.as_object() else {
            return Err(ApiError::bad_request(type_error(
                &path,
                &[Kind::Map],
                query,
            )));
        };
        let index_uid = match object.get("indexUid") {
            None => return Err(ApiError::new("missing_index_uid", missing_field(&path, "indexUid"))),
            Some(Value::String(uid)) if valid_uid(uid) => uid.clone(),
            Some(Value::String(uid)) => {
                return Err(ApiError::new(
                    "invalid_index_uid",
                    format!("Invalid value at `{path}.indexUid`: `{uid}` is not a valid index uid. Index uid can be an integer or a string containing only alphanumeric characters, hyphens (-) and underscores (_), and can not be more than 512 bytes."),
                ))
            }
            Some(other) => {
                return Err(ApiError::new(
                    "invalid_index_uid",
                    type_error(&format!("{path}.indexUid"), &[Kind::Str], other),
                ))
            }
        };
        let mut weight = 1.0;
        if let Some(options) = object.get("federationOptions").filter(|v| !v.is_null()) {
            if !federated {
                return Err(ApiError::new(
                    "invalid_multi_search_federation_options",
                    format!("Inside `.queries[{i}]`: Using `federationOptions` is not allowed in a non-federated search.\n - Hint: remove `federationOptions` from query #{i} or add `federation` to the request."),
                ));
            }
            if let Some(w) = options.get("weight") {
                weight = w.as_f64().filter(|w| *w >= 0.0).ok_or_else(|| {
                    ApiError::new(
                        "invalid_multi_search_weight",
                        type_error(
                            &format!("{path}.federationOptions.weight"),
                            &[Kind::Float],
                            w,
                        ),
                    )
                })?;
            }
        }
        if federated {
            for key in ["offset", "limit", "page", "hitsPerPage"] {
                if object.get(key).is_some_and(|v| !v.is_null()) {
                    return Err(ApiError::new(
                        "invalid_multi_search_query_pagination",
                        format!("Inside `.queries[{i}]`: Using pagination options is not allowed in federated queries.\n - Hint: remove `{key}` from query #{i} or remove `federation` from the request\n - Hint: pass `federation.limit` and `federation.offset` for pagination in federated search"),
                    ));
                }
            }
        }
        let request = parse_request(query, &path, &["indexUid", "federationOptions"])?;
        out.push(Query {
            index_uid,
            request,
            weight,
        });
    }
    Ok(out)
}

/// `POST /multi-search`
pub async fn multi_search(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let started = Instant::now();
    let body = json_body(&headers, &body)?;
    let Some(object) = body.as_object() else {
        return Err(ApiError::bad_request(type_error("", &[Kind::Map], &body)));
    };
    for key in object.keys() {
        if key != "queries" && key != "federation" {
            return Err(ApiError::bad_request(unknown_field(
                "",
                key,
                &["federation", "queries"],
            )));
        }
    }
    let Some(queries) = object.get("queries") else {
        return Err(ApiError::bad_request(missing_field("", "queries")));
    };
    let Some(queries) = queries.as_array() else {
        return Err(ApiError::bad_request(type_error(
            ".queries",
            &[Kind::Seq],
            queries,
        )));
    };
    let federation = match object.get("federation") {
        None | Some(Value::Null) => None,
        Some(Value::Object(f)) => Some(f.clone()),
        Some(other) => {
            return Err(ApiError::new(
                "invalid_multi_search_federated",
                type_error(".federation", &[Kind::Map], other),
            ))
        }
    };
    let queries = parse_queries(queries, federation.is_some())?;
    let store = state.lock();
    let Some(federation) = federation else {
        let mut results = Vec::new();
        for (i, query) in queries.iter().enumerate() {
            let one = Instant::now();
            let index = store.index(&query.index_uid).map_err(|e| inside(i, e))?;
            let pins = pins_for(
                &store,
                &query.index_uid,
                query.request.q.as_deref().unwrap_or(""),
            );
            let result = execute(index, &query.request, None, &pins).map_err(|e| inside(i, e))?;
            let mut out = result.into_json(
                one.elapsed().as_millis(),
                Some(("indexUid", json!(query.index_uid))),
            );
            if wants_metadata(&headers) {
                add_metadata(&mut out, &query.index_uid, index.primary_key.as_deref());
            }
            results.push(out);
        }
        return Ok(Json(json!({"results": results})));
    };

    let number = |key: &str, default: usize| -> ApiResult<usize> {
        match federation.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(Value::Number(n)) if n.is_u64() => Ok(n.as_u64().unwrap_or(0) as usize),
            Some(other) => Err(ApiError::new(
                "invalid_multi_search_federated",
                type_error(&format!(".federation.{key}"), &[Kind::PosInt], other),
            )),
        }
    };
    let page = match federation.get("page") {
        None | Some(Value::Null) => None,
        Some(_) => Some(number("page", 1)?),
    };
    let hits_per_page = match federation.get("hitsPerPage") {
        None | Some(Value::Null) => None,
        Some(_) => Some(number("hitsPerPage", 20)?),
    };
    let (offset, limit) = match (page, hits_per_page) {
        (None, None) => (number("offset", 0)?, number("limit", 20)?),
        (None, Some(per_page)) => (0, per_page),
        (Some(0), _) => (0, 0),
        (Some(page), per_page) => {
            let per_page = per_page.unwrap_or(20);
            ((page - 1).saturating_mul(per_page), per_page)
        }
    };
    let depth = offset.saturating_add(limit);
    let mut merged: Vec<FederatedHit> = Vec::new();
    let mut candidates: BTreeMap<String, std::collections::BTreeSet<u32>> = BTreeMap::new();
    for (i, query) in queries.iter().enumerate() {
        let index = store.index(&query.index_uid).map_err(|e| inside(i, e))?;
        let mut request = query.request.clone();
        request.facets = None;
        let result = execute(index, &request, Some((0, depth)), &[]).map_err(|e| inside(i, e))?;
        candidates
            .entry(query.index_uid.clone())
            .or_default()
            .extend(result.candidates.iter().copied());
        let hits = result
            .hits
            .into_iter()
            .zip(result.scores)
            .zip(result.internal_ids)
            .zip(result.score_values);
        for (((mut hit, score), internal), values) in hits {
            hit.insert(
                "_federation".into(),
                json!({"indexUid": query.index_uid, "queriesPosition": i, "weightedRankingScore": score * query.weight}),
            );
            merged.push(FederatedHit {
                values,
                weight: query.weight,
                score,
                index_uid: query.index_uid.clone(),
                internal,
                hit,
            });
        }
    }
    // Stable sort: ties keep query order, then rank order.
    merged.sort_by(|a, b| {
        compare_weighted(
            (&b.values, b.weight, b.score),
            (&a.values, a.weight, a.score),
        )
    });
    let mut seen = std::collections::HashSet::new();
    let hits: Vec<Value> = merged
        .into_iter()
        .filter(|h| seen.insert((h.index_uid.clone(), h.internal)))
        .skip(offset)
        .take(limit)
        .map(|h| Value::Object(h.hit))
        .collect();
    let total: usize = candidates.values().map(|c| c.len()).sum();
    let mut out = Map::new();
    out.insert("hits".into(), Value::Array(hits));
    out.insert(
        "processingTimeMs".into(),
        json!(started.elapsed().as_millis()),
    );
    match (page, hits_per_page) {
        (None, None) => {
            out.insert("limit".into(), json!(limit));
            out.insert("offset".into(), json!(offset));
            out.insert("estimatedTotalHits".into(), json!(total));
        }
        _ => {
            let total_pages = total
                .saturating_add(limit.saturating_sub(1))
                .checked_div(limit)
                .unwrap_or(0);
            out.insert("hitsPerPage".into(), json!(limit));
            out.insert("page".into(), json!(page.unwrap_or(1)));
            out.insert("totalPages".into(), json!(total_pages));
            out.insert("totalHits".into(), json!(total));
        }
    }
    if let Some(Value::Object(by_index)) = federation.get("facetsByIndex") {
        let mut facets_by_index = BTreeMap::new();
        for (uid, requested) in by_index {
            let Some(query) = queries.iter().find(|q| q.index_uid == *uid) else {
                continue;
            };
            let index = store.index(uid)?;
            let mut request = query.request.clone();
            request.facets = Some(
                requested
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .map(String::from)
                            .collect()
                    })
                    .unwrap_or_default(),
            );
            let result = execute(index, &request, Some((0, 0)), &[])?;
            facets_by_index.insert(
                uid.clone(),
                json!({"distribution": result.facet_distribution, "stats": result.facet_stats}),
            );
        }
        match federation.get("mergeFacets") {
            Some(Value::Object(options)) => {
                let cap = options
                    .get("maxValuesPerFacet")
                    .and_then(Value::as_u64)
                    .unwrap_or(100) as usize;
                let (distribution, stats) = merge_facets(&facets_by_index, cap);
                out.insert("facetDistribution".into(), distribution);
                out.insert("facetStats".into(), stats);
            }
            _ => {
                out.insert("facetsByIndex".into(), json!(facets_by_index));
            }
        }
    }
    out.insert("requestUid".into(), json!(crate::util::uuid_v7_like()));
    if wants_metadata(&headers) {
        let metadata: Vec<Value> = queries
            .iter()
            .map(|query| {
                let mut one = Map::new();
                // The query is named when it has one, empty or not (Meilisearch 1.50).
                if let Some(q) = &query.request.q {
                    one.insert("query".into(), json!(q));
                }
                one.insert("queryUid".into(), json!(crate::util::uuid_v7_like()));
                one.insert("indexUid".into(), json!(query.index_uid));
                let primary_key = store
                    .index(&query.index_uid)
                    .ok()
                    .and_then(|index| index.primary_key.clone());
                if let Some(key) = primary_key {
                    one.insert("primaryKey".into(), json!(key));
                }
                Value::Object(one)
            })
            .collect();
        out.insert("metadata".into(), Value::Array(metadata));
    }
    Ok(Json(Value::Object(out)))
}

/// `mergeFacets`: the per-index distributions summed per facet and value (values in text
/// order, cut at `cap`), stats as the overall min and max.
fn merge_facets(by_index: &BTreeMap<String, Value>, cap: usize) -> (Value, Value) {
    let mut distribution: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    let mut stats: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    for facets in by_index.values() {
        if let Some(Value::Object(per_facet)) = facets.get("distribution") {
            for (facet, values) in per_facet {
                let merged = distribution.entry(facet.clone()).or_default();
                for (value, count) in values.as_object().into_iter().flatten() {
                    *merged.entry(value.clone()).or_default() += count.as_u64().unwrap_or(0);
                }
            }
        }
        if let Some(Value::Object(per_facet)) = facets.get("stats") {
            for (facet, s) in per_facet {
                let (Some(min), Some(max)) = (s["min"].as_f64(), s["max"].as_f64()) else {
                    continue;
                };
                let entry = stats.entry(facet.clone()).or_insert((min, max));
                entry.0 = entry.0.min(min);
                entry.1 = entry.1.max(max);
            }
        }
    }
    let distribution: serde_json::Map<String, Value> = distribution
        .into_iter()
        .map(|(facet, values)| {
            let values: serde_json::Map<String, Value> = values
                .into_iter()
                .take(cap)
                .map(|(v, c)| (v, json!(c)))
                .collect();
            (facet, Value::Object(values))
        })
        .collect();
    let stats: serde_json::Map<String, Value> = stats
        .into_iter()
        .map(|(facet, (min, max))| (facet, json!({"min": min, "max": max})))
        .collect();
    (Value::Object(distribution), Value::Object(stats))
}
