//! `/indexes/{uid}/documents`: writes routed by shard, reads gathered from one replica per shard.
//!
//! Writes: the payload is parsed and validated here (see `miroir_core::document`), every
//! document gets its shard marker and goes to the RF nodes of its shard, as one NDJSON request
//! per node per client call. A payload that Meilisearch would fail asynchronously (missing or
//! invalid id, primary-key inference failure) becomes a failed task before any node sees it.
//!
//! Reads: each shard is read from its first replica; a node is asked only for its shards with
//! the marker filter ANDed to the client's. Listings concatenate nodes in configuration order
//! (each node in its own document order), which is stable across pages. With `offset = 0` one
//! round trip suffices; deeper pages first ask every node for its count, then only for the
//! slice that falls in the requested window.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method};
use axum::response::IntoResponse;
use axum::Json;
use bytes::Bytes;
use futures::future::try_join_all;
use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use miroir_core::document::{infer_primary_key, parse_payload, Document, PayloadFormat};
use miroir_core::marker::{and_filter, strip_documents};
use miroir_core::merge::compare_sort_values;
use miroir_store::IndexRecord;

use crate::error::{core_error, Error, MeiliError, Result};
use crate::extract::{content_type, json_body, Body, Params};
use crate::fanout::fan_out;
use crate::indexes::{check_path_uid, creation_calls, new_record, require_json};
use crate::node::NodeBody;
use crate::state::{AppState, NewTask, NodeCall};
use crate::tasks::summarized;

const ACCEPTED_TYPES: &str = "`application/json`, `application/x-ndjson`, `text/csv`";

fn payload_format(headers: &HeaderMap, params: &Params) -> Result<PayloadFormat> {
    let kind = content_type(headers);
    let delimiter = match params.get("csvDelimiter") {
        None => None,
        Some(raw) => {
            let mut chars = raw.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) if c.is_ascii() => Some(c as u8),
                _ => {
                    return Err(MeiliError::invalid(
                        "invalid_document_csv_delimiter",
                        format!("Invalid value in parameter `csvDelimiter`: expected a string of one character, but found the following string of {} characters: `{raw}`", raw.chars().count()),
                    )
                    .into())
                }
            }
        }
    };
    let format = match kind.as_deref() {
        Some("application/json") => PayloadFormat::Json,
        Some("application/x-ndjson") => PayloadFormat::Ndjson,
        Some("text/csv") => PayloadFormat::Csv {
            delimiter: delimiter.unwrap_or(b','),
        },
        other => return Err(crate::error::content_type_error(other, ACCEPTED_TYPES).into()),
    };
    if delimiter.is_some() && !matches!(format, PayloadFormat::Csv { .. }) {
        return Err(MeiliError::new(
            axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid_content_type",
            crate::error::ErrorType::InvalidRequest,
            format!(
                "The Content-Type `{}` does not support the use of a csv delimiter. The csv delimiter can only be used with the Content-Type `text/csv`.",
                kind.unwrap_or_default()
            ),
        )
        .into());
    }
    Ok(format)
}

/// `POST /indexes/{uid}/documents` (add or replace).
pub async fn add_documents(
    state: State<Arc<AppState>>,
    path: Path<String>,
    query: RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<impl IntoResponse> {
    write_documents(state, path, query, headers, body, Method::POST).await
}

/// `PUT /indexes/{uid}/documents` (add or update).
pub async fn update_documents(
    state: State<Arc<AppState>>,
    path: Path<String>,
    query: RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<impl IntoResponse> {
    write_documents(state, path, query, headers, body, Method::PUT).await
}

async fn write_documents(
    State(state): State<Arc<AppState>>,
    Path(uid): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    Body(body): Body,
    method: Method,
) -> Result<impl IntoResponse> {
    check_path_uid(&uid)?;
    let params = Params::parse(raw.as_deref());
    let format = payload_format(&headers, &params)?;
    let documents = parse_payload(&body, format)?;
    drop(body);
    let requested_key = params.get("primaryKey").map(str::to_string);

    let task = NewTask {
        kind: "documentAdditionOrUpdate",
        index_uid: Some(uid.clone()),
        details: Some(json!({"receivedDocuments": documents.len(), "indexedDocuments": null})),
        custom_metadata: params.get("customMetadata").map(str::to_string),
    };
    let _guard = state.write_lock.lock().await;
    let existing = state.store.get_index(&uid)?;
    let known_key = existing.as_ref().and_then(|i| i.primary_key.clone());
    let primary_key = match (&known_key, &requested_key) {
        (Some(known), Some(requested)) if known != requested => {
            let error = MeiliError::invalid(
                "index_primary_key_already_exists",
                format!("Index `{uid}`: Index already has a primary key: `{known}`."),
            );
            let record = state.failed_task(task, &error)?;
            return Ok(summarized(&record));
        }
        (Some(known), _) => Some(known.clone()),
        (None, Some(requested)) => Some(requested.clone()),
        (None, None) => match documents.first() {
            None => None,
            Some(first) => match infer_primary_key(first) {
                Ok(key) => Some(key),
                Err(e) => {
                    let record = state.failed_task(task, &core_error(&e))?;
                    return Ok(summarized(&record));
                }
            },
        },
    };

    let mut index = match existing {
        Some(index) => index,
        None => new_record(&state, &uid, None),
    };
    let mut calls = Vec::new();
    if let Some(key) = &primary_key {
        let batches = match route_documents(&state, &index, key, documents) {
            Ok(batches) => batches,
            Err(e) => {
                let record = state.failed_task(task, &core_error(&e))?;
                return Ok(summarized(&record));
            }
        };
        let mut path = format!("/indexes/{uid}/documents?primaryKey={}", url_encode(key));
        // Each node skips the documents it does not hold already, which are exactly the ones
        // the single index would skip (a document lives on its shard's nodes only).
        if let Some(skip) = params.get("skipCreation") {
            path.push_str(&format!("&skipCreation={}", url_encode(skip)));
        }
        for (node, bytes) in batches.into_iter().enumerate() {
            if let Some(bytes) = bytes {
                calls.push(NodeCall {
                    node,
                    method: method.clone(),
                    path: path.clone(),
                    body: NodeBody::Raw {
                        content_type: "application/x-ndjson",
                        bytes,
                    },
                });
            }
        }
    }
    let created = state.store.get_index(&uid)?.is_none();
    if created {
        let mut all = creation_calls(&state, &uid, primary_key.as_deref());
        all.extend(calls);
        calls = all;
    }
    let record = state.dispatch(task, calls).await?;
    index.primary_key = index.primary_key.or(primary_key);
    index.updated_at = OffsetDateTime::now_utc();
    state.store.put_index(&index)?;
    Ok(summarized(&record))
}

/// Validates every document, injects its shard marker and builds one NDJSON body per node
/// (`None` for nodes that receive nothing).
fn route_documents(
    state: &AppState,
    index: &IndexRecord,
    primary_key: &str,
    documents: Vec<Document>,
) -> std::result::Result<Vec<Option<Bytes>>, miroir_core::Error> {
    let node_count = state.cluster.nodes().len();
    let mut bodies: Vec<Vec<u8>> = vec![Vec::new(); node_count];
    let invalid = || miroir_core::Error::InvalidShardCount(u64::from(index.shard_count));
    let table = state
        .cluster
        .table(state.cluster.layout(index))
        .map_err(|_| invalid())?;
    let count = miroir_core::hash::ShardCount::new(index.shard_count).map_err(|_| invalid())?;
    for routed in miroir_core::split::routed_lines(documents, primary_key, count) {
        let (shard, line) = routed?;
        for node in table.replicas(shard) {
            bodies[*node].extend_from_slice(&line);
        }
    }
    Ok(bodies
        .into_iter()
        .map(|b| (!b.is_empty()).then(|| Bytes::from(b)))
        .collect())
}

fn url_encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// Groups canonical ids by the nodes holding them.
fn ids_by_node(state: &AppState, index: &IndexRecord, ids: &[Value]) -> Result<Vec<Vec<Value>>> {
    let table = state.cluster.table(state.cluster.layout(index))?;
    let mut groups = vec![Vec::new(); state.cluster.nodes().len()];
    for id in ids {
        let canonical = match id {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            other => other.to_string(),
        };
        let shard = state.cluster.shard_of(index.shard_count, &canonical)?;
        for node in table.replicas(shard) {
            groups[*node].push(id.clone());
        }
    }
    Ok(groups)
}

/// `DELETE /indexes/{uid}/documents/{id}`
pub async fn delete_document(
    State(state): State<Arc<AppState>>,
    Path((uid, id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<impl IntoResponse> {
    check_path_uid(&uid)?;
    delete_ids(&state, &uid, vec![Value::String(id)], metadata(&raw)).await
}

/// The `customMetadata` query parameter, echoed in the task.
fn metadata(raw: &Option<String>) -> Option<String> {
    Params::parse(raw.as_deref())
        .get("customMetadata")
        .map(str::to_string)
}

/// `POST /indexes/{uid}/documents/delete-batch`
pub async fn delete_batch(
    State(state): State<Arc<AppState>>,
    Path(uid): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<impl IntoResponse> {
    check_path_uid(&uid)?;
    require_json(&headers)?;
    let ids: Vec<Value> = json_body(&body)?;
    delete_ids(&state, &uid, ids, metadata(&raw)).await
}

async fn delete_ids(
    state: &AppState,
    uid: &str,
    ids: Vec<Value>,
    custom_metadata: Option<String>,
) -> Result<impl IntoResponse> {
    let task = NewTask {
        kind: "documentDeletion",
        index_uid: Some(uid.to_string()),
        details: Some(
            json!({"providedIds": ids.len(), "deletedDocuments": null, "originalFilter": null}),
        ),
        custom_metadata,
    };
    let _guard = state.write_lock.lock().await;
    let Some(index) = state.store.get_index(uid)? else {
        let record = state.failed_task(task, &crate::error::index_not_found(uid))?;
        return Ok(summarized(&record));
    };
    let groups = ids_by_node(state, &index, &ids)?;
    let calls = groups
        .into_iter()
        .enumerate()
        .filter(|(_, ids)| !ids.is_empty())
        .map(|(node, ids)| NodeCall {
            node,
            method: Method::POST,
            path: format!("/indexes/{uid}/documents/delete-batch"),
            body: NodeBody::Json(Value::Array(ids)),
        })
        .collect();
    let record = state.dispatch(task, calls).await?;
    Ok(summarized(&record))
}

/// `POST /indexes/{uid}/documents/delete`: delete by filter, on every node.
pub async fn delete_by_filter(
    State(state): State<Arc<AppState>>,
    Path(uid): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<impl IntoResponse> {
    check_path_uid(&uid)?;
    require_json(&headers)?;
    let request: Map<String, Value> = json_body(&body)?;
    for key in request.keys() {
        if key != "filter" {
            return Err(MeiliError::invalid(
                "bad_request",
                format!("Unknown field `{key}`: expected one of `filter`"),
            )
            .into());
        }
    }
    let Some(filter) = request.get("filter").filter(|f| !f.is_null()) else {
        return Err(
            MeiliError::invalid("missing_document_filter", "Missing field `filter`").into(),
        );
    };
    let task = NewTask {
        kind: "documentDeletion",
        index_uid: Some(uid.clone()),
        details: Some(json!({
            "providedIds": 0,
            "deletedDocuments": null,
            "originalFilter": filter.to_string(),
        })),
        custom_metadata: metadata(&raw),
    };
    let record = state
        .write_to_all(
            task,
            Method::POST,
            &format!("/indexes/{uid}/documents/delete"),
            Some(json!({"filter": filter})),
        )
        .await?;
    Ok(summarized(&record))
}

/// `DELETE /indexes/{uid}/documents`: delete all, on every node.
pub async fn delete_all(
    State(state): State<Arc<AppState>>,
    Path(uid): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<impl IntoResponse> {
    check_path_uid(&uid)?;
    let task = NewTask {
        kind: "documentDeletion",
        index_uid: Some(uid.clone()),
        details: Some(json!({"deletedDocuments": null})),
        custom_metadata: metadata(&raw),
    };
    let record = state
        .write_to_all(
            task,
            Method::DELETE,
            &format!("/indexes/{uid}/documents"),
            None,
        )
        .await?;
    Ok(summarized(&record))
}

/// `GET /indexes/{uid}/documents/{id}`: from the first replica of the id's shard.
pub async fn get_document(
    State(state): State<Arc<AppState>>,
    Path((uid, id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>> {
    check_path_uid(&uid)?;
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
        state.cluster.layout(&index),
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
pub async fn list_documents(
    State(state): State<Arc<AppState>>,
    Path(uid): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>> {
    check_path_uid(&uid)?;
    let params = Params::parse(raw.as_deref());
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
                rest.insert(name.clone(), Value::Bool(value == "true"));
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
pub async fn fetch_documents(
    State(state): State<Arc<AppState>>,
    Path(uid): Path<String>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Json<Value>> {
    check_path_uid(&uid)?;
    require_json(&headers)?;
    let mut rest: Map<String, Value> = if body.iter().all(u8::is_ascii_whitespace) {
        Map::new()
    } else {
        json_body(&body)?
    };
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

/// How Meilisearch names a JSON value's kind in its validation messages.
pub fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

async fn fetch_listing(
    state: &AppState,
    index: &IndexRecord,
    listing: Listing,
) -> Result<Json<Value>> {
    // A node that fails is marked down; the listing is then planned again without it (the
    // read plan only changes when a node fails, so pages stay consistent otherwise).
    for _ in 1..state.cluster.nodes().len() {
        match fetch_listing_once(state, index, &listing).await {
            Err(Error::NodeUnavailable { node, .. }) => {
                if let Some(position) = state.cluster.nodes().iter().position(|n| n.id == node) {
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
    let plan = state.cluster.read_plan(state.cluster.layout(index))?;
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
        .map(|a| a.get("total").and_then(Value::as_u64).unwrap_or(0) as usize)
        .collect();
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
    let total: u64 = answers
        .iter()
        .filter_map(|a| a.get("total").and_then(Value::as_u64))
        .sum();
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

/// `POST /indexes/{uid}/documents/edit` (edit by function, an experimental feature): every
/// node runs the function over the documents it holds, so each replica of a document is edited
/// identically. The function sees the hidden shard marker like any field; a function that
/// rewrites every field wholesale would drop it, which is not guarded against.
pub async fn edit_documents(
    State(state): State<Arc<AppState>>,
    Path(uid): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<impl IntoResponse> {
    check_path_uid(&uid)?;
    require_json(&headers)?;
    let request: Map<String, Value> = json_body(&body)?;
    let task = NewTask {
        kind: "documentEdition",
        index_uid: Some(uid.clone()),
        details: Some(json!({
            "editedDocuments": null,
            "deletedDocuments": null,
            "originalFilter": request.get("filter").map(|f| Value::String(f.to_string())).unwrap_or(Value::Null),
            "context": request.get("context").cloned().unwrap_or(Value::Null),
            "function": request.get("function").cloned().unwrap_or(Value::Null),
        })),
        custom_metadata: metadata(&raw),
    };
    let record = state
        .write_to_all(
            task,
            Method::POST,
            &format!("/indexes/{uid}/documents/edit"),
            Some(Value::Object(request)),
        )
        .await?;
    Ok(summarized(&record))
}
