//! Document reads: one document from a replica of its shard, and listings (`GET /documents`,
//! `POST /documents/fetch`) gathered from one replica per shard.
//!
//! Each shard is read from its first replica (see `Cluster::read_plan`); a node is asked only
//! for its shards with the marker filter ANDed to the client's. Listings concatenate nodes in
//! configuration order (each node in its own document order), which is stable across pages.
//! With `offset = 0` one round trip suffices; deeper pages first ask every node for its count,
//! then only for the slice that falls in the requested window. With `sort`, every node returns
//! its first `offset + limit` documents in that order and the lists are merged.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::Method;
use axum::Json;
use futures::future::try_join_all;
use serde_json::{json, Map, Value};

use miroir_core::marker::{and_filter, strip_documents};
use miroir_core::merge::compare_sort_values;
use miroir_core::reserved::{reserved_in_filter, reserved_in_sort};
use miroir_store::IndexRecord;

use crate::cluster::fanout::fan_out;
use crate::cluster::node::{url_encode, NodeBody};
use crate::error::{Error, MeiliError, Result};
use crate::extract::{DocumentId, IndexUid, JsonBody, Params};
use crate::state::AppState;
use crate::wire::error::reserved_attribute;
use crate::wire::json_kind;

/// A listing answer's `total`; without one the node is not answering as Meilisearch.
fn listing_total(state: &AppState, node: usize, answer: &Value) -> Result<usize> {
    answer
        .get("total")
        .and_then(Value::as_u64)
        .map(|total| total as usize)
        .ok_or_else(|| Error::NodeUnavailable {
            node: state.cluster.node(node).id.clone(),
            reason: "answered a document listing without a total".to_string(),
        })
}

/// `GET /indexes/{uid}/documents/{id}`: from the first replica of the id's shard.
pub(crate) async fn get_document(
    State(state): State<Arc<AppState>>,
    IndexUid(uid): IndexUid,
    DocumentId(id): DocumentId,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>> {
    let index = state.index(&uid)?;
    let shard = state.cluster.shard_of(index.shard_count, &id)?;
    let mut path = format!(
        "/indexes/{uid}/documents/{}",
        url_encode(&id).replace('+', "%20")
    );
    if let Some(query) = raw {
        path = format!("{path}?{query}");
    }
    let path = &path;
    let state = &state;
    let mut answers = fan_out(
        &state.cluster,
        &state.cluster.scope(&index),
        &[shard],
        |node, _| async move {
            state
                .cluster
                .node(node)
                .json(Method::GET, path, NodeBody::Empty)
                .await
        },
    )
    .await?;
    // One shard, so one answer: the node that finally served it.
    let mut document = answers.pop().unwrap_or(Value::Null);
    if let Value::Object(map) = &mut document {
        miroir_core::marker::strip_document(map);
    }
    Ok(Json(document))
}

/// The listing parameters shared by `GET /documents` and `POST /documents/fetch`.
struct Listing {
    offset: usize,
    limit: usize,
    /// Everything else, passed to the nodes as given (fields, filter, ids, retrieveVectors…).
    rest: Map<String, Value>,
}

/// `GET /indexes/{uid}/documents`
pub(crate) async fn list_documents(
    State(state): State<Arc<AppState>>,
    IndexUid(uid): IndexUid,
    params: Params,
) -> Result<Json<Value>> {
    let offset = params
        .usize("offset", "invalid_document_offset")?
        .unwrap_or(0);
    let limit = params
        .usize("limit", "invalid_document_limit")?
        .unwrap_or(20);
    let mut rest = Map::new();
    for (name, value) in &params.0 {
        match name.as_str() {
            "offset" | "limit" => {}
            "fields" | "ids" | "sort" => {
                let list: Vec<Value> = value
                    .split(',')
                    .map(|s| Value::String(s.trim().to_string()))
                    .collect();
                rest.insert(name.clone(), Value::Array(list));
            }
            "retrieveVectors" => {
                let flag = match value.as_str() {
                    "true" => true,
                    "false" => false,
                    other => {
                        return Err(MeiliError::invalid(
                            "invalid_document_retrieve_vectors",
                            format!("Invalid value in parameter `retrieveVectors`: could not parse `{other}` as a boolean, expected either `true` or `false`"),
                        )
                        .into())
                    }
                };
                rest.insert(name.clone(), Value::Bool(flag));
            }
            _ => {
                rest.insert(name.clone(), Value::String(value.clone()));
            }
        }
    }
    let index = state.index(&uid)?;
    fetch_listing(
        &state,
        &index,
        Listing {
            offset,
            limit,
            rest,
        },
    )
    .await
}

/// `POST /indexes/{uid}/documents/fetch`
pub(crate) async fn fetch_documents(
    State(state): State<Arc<AppState>>,
    IndexUid(uid): IndexUid,
    JsonBody(mut rest): JsonBody<Map<String, Value>>,
) -> Result<Json<Value>> {
    let read_count = |value: Option<Value>, name: &str, default: usize| -> Result<usize> {
        match value {
            None | Some(Value::Null) => Ok(default),
            Some(v) => v.as_u64().map(|n| n as usize).ok_or_else(|| {
                Error::from(MeiliError::invalid(
                    &format!("invalid_document_{name}"),
                    format!("Invalid value type at `.{name}`: expected a positive integer, but found {}: `{v}`", json_kind(&v)),
                ))
            }),
        }
    };
    let offset = read_count(rest.remove("offset"), "offset", 0)?;
    let limit = read_count(rest.remove("limit"), "limit", 20)?;
    let index = state.index(&uid)?;
    fetch_listing(
        &state,
        &index,
        Listing {
            offset,
            limit,
            rest,
        },
    )
    .await
}

#[tracing::instrument(level = "debug", skip_all, fields(index = %index.uid))]
async fn fetch_listing(
    state: &AppState,
    index: &IndexRecord,
    listing: Listing,
) -> Result<Json<Value>> {
    if let Some(name) = listing.rest.get("filter").and_then(reserved_in_filter) {
        return Err(reserved_attribute("invalid_document_filter", &name).into());
    }
    if let Some(name) = listing.rest.get("sort").and_then(reserved_in_sort) {
        return Err(reserved_attribute("invalid_document_sort", &name).into());
    }
    // A node that fails is marked down; the listing is then planned again without it (the
    // read plan only changes when a node fails, so pages stay consistent otherwise).
    for _ in 1..state.cluster.node_count() {
        match fetch_listing_once(state, index, &listing).await {
            Err(Error::NodeUnavailable { node, reason }) => {
                tracing::warn!(%node, %reason, "listing again without the node");
                if let Some(position) = state.cluster.position(&node) {
                    state.cluster.mark_down(position);
                }
            }
            other => return other,
        }
    }
    fetch_listing_once(state, index, &listing).await
}

async fn fetch_listing_once(
    state: &AppState,
    index: &IndexRecord,
    listing: &Listing,
) -> Result<Json<Value>> {
    let plan = state.cluster.read_plan(&state.cluster.scope(index))?;
    if let Some(Value::Array(sort)) = listing.rest.get("sort") {
        let sort = sort.clone();
        return fetch_sorted(state, index, listing, &plan, &sort).await;
    }
    let path = format!("/indexes/{}/documents/fetch", index.uid);
    let client_filter = listing.rest.get("filter").cloned();
    let request = |shards: &[u32], offset: usize, limit: usize| {
        let mut body = listing.rest.clone();
        if let Some(filter) = and_filter(shards, client_filter.as_ref()) {
            body.insert("filter".into(), filter);
        }
        body.insert("offset".into(), Value::from(offset));
        body.insert("limit".into(), Value::from(limit));
        Value::Object(body)
    };
    let ask = |node: usize, body: Value| {
        let path = path.clone();
        async move {
            state
                .cluster
                .node(node)
                .json(Method::POST, &path, NodeBody::Json(body))
                .await
        }
    };

    // First round: counts (and, for the first page, the documents themselves).
    let first_page = listing.offset == 0;
    let first_limit = if first_page { listing.limit } else { 0 };
    let answers = try_join_all(
        plan.iter()
            .map(|(node, shards)| ask(*node, request(shards, 0, first_limit))),
    )
    .await?;
    let totals: Vec<usize> = answers
        .iter()
        .zip(&plan)
        .map(|(answer, (node, _))| listing_total(state, *node, answer))
        .collect::<Result<_>>()?;
    let total: usize = totals.iter().sum();

    let mut results: Vec<Value> = Vec::new();
    if first_page {
        for answer in answers {
            if let Some(Value::Array(documents)) = answer.get("results") {
                for document in documents {
                    if results.len() < listing.limit {
                        results.push(document.clone());
                    }
                }
            }
        }
    } else {
        // Second round: only the slice of each node that overlaps [offset, offset + limit).
        let window_end = listing.offset.saturating_add(listing.limit);
        let mut start = 0usize;
        let mut slices = Vec::new();
        for ((node, shards), count) in plan.iter().zip(&totals) {
            let end = start + count;
            let from = listing.offset.max(start);
            let to = window_end.min(end);
            if from < to {
                slices.push(ask(*node, request(shards, from - start, to - from)));
            }
            start = end;
        }
        for answer in try_join_all(slices).await? {
            if let Some(Value::Array(documents)) = answer.get("results") {
                results.extend(documents.iter().cloned());
            }
        }
    }
    strip_documents(&mut results);
    Ok(Json(json!({
        "results": results,
        "offset": listing.offset,
        "limit": listing.limit,
        "total": total,
    })))
}

/// A listing with `sort`: every node returns its first `offset + limit` documents in that
/// order, and the lists are merged by the sort values (ties keep node order), then cut.
async fn fetch_sorted(
    state: &AppState,
    index: &IndexRecord,
    listing: &Listing,
    plan: &[(usize, Vec<u32>)],
    sort: &[Value],
) -> Result<Json<Value>> {
    let rules: Vec<(String, bool)> = sort
        .iter()
        .filter_map(Value::as_str)
        .map(|rule| match rule.rsplit_once(':') {
            Some((field, "desc")) => (field.to_string(), false),
            Some((field, _)) => (field.to_string(), true),
            None => (rule.to_string(), true),
        })
        .collect();
    let mut body = listing.rest.clone();
    // The merge needs the sort fields even when the client restricts `fields`.
    let mut added: Vec<String> = Vec::new();
    if let Some(Value::Array(fields)) = body.get_mut("fields") {
        for (field, _) in &rules {
            let covered = fields
                .iter()
                .any(|f| f.as_str() == Some("*") || f.as_str() == Some(field.as_str()));
            if !covered {
                fields.push(Value::String(field.clone()));
                added.push(field.clone());
            }
        }
    }
    let client_filter = body.get("filter").cloned();
    let depth = listing.offset.saturating_add(listing.limit);
    let path = format!("/indexes/{}/documents/fetch", index.uid);
    let answers = try_join_all(plan.iter().map(|(node, shards)| {
        let mut body = body.clone();
        if let Some(filter) = and_filter(shards, client_filter.as_ref()) {
            body.insert("filter".into(), filter);
        }
        body.insert("offset".into(), Value::from(0));
        body.insert("limit".into(), Value::from(depth));
        let path = path.clone();
        async move {
            state
                .cluster
                .node(*node)
                .json(Method::POST, &path, NodeBody::Json(Value::Object(body)))
                .await
        }
    }))
    .await?;
    let total: usize = answers
        .iter()
        .zip(plan)
        .map(|(answer, (node, _))| listing_total(state, *node, answer))
        .sum::<Result<usize>>()?;
    let lists: Vec<Vec<Value>> = answers
        .into_iter()
        .map(|mut a| match a.get_mut("results").map(Value::take) {
            Some(Value::Array(documents)) => documents,
            _ => Vec::new(),
        })
        .collect();
    let mut cursors = vec![0usize; lists.len()];
    let mut merged = Vec::new();
    while merged.len() < depth {
        let mut best: Option<usize> = None;
        for (list, documents) in lists.iter().enumerate() {
            let Some(candidate) = documents.get(cursors[list]) else {
                continue;
            };
            let better = match best {
                None => true,
                Some(current) => {
                    let incumbent = &lists[current][cursors[current]];
                    compare_documents(candidate, incumbent, &rules) == std::cmp::Ordering::Greater
                }
            };
            if better {
                best = Some(list);
            }
        }
        let Some(list) = best else { break };
        merged.push(lists[list][cursors[list]].clone());
        cursors[list] += 1;
    }
    let mut results: Vec<Value> = merged.into_iter().skip(listing.offset).collect();
    for document in &mut results {
        if let Value::Object(map) = document {
            for field in &added {
                map.shift_remove(field);
            }
        }
    }
    strip_documents(&mut results);
    Ok(Json(json!({
        "results": results,
        "offset": listing.offset,
        "limit": listing.limit,
        "total": total,
    })))
}

/// Compares two documents by sort rules; `Greater` means `left` comes first.
fn compare_documents(left: &Value, right: &Value, rules: &[(String, bool)]) -> std::cmp::Ordering {
    for (field, ascending) in rules {
        let l = left
            .pointer(&format!("/{}", field.replace('.', "/")))
            .unwrap_or(&Value::Null);
        let r = right
            .pointer(&format!("/{}", field.replace('.', "/")))
            .unwrap_or(&Value::Null);
        let order = compare_sort_values(*ascending, l, r);
        if order.is_ne() {
            return order;
        }
    }
    std::cmp::Ordering::Equal
}
