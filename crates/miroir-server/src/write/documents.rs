//! Document writes: additions and updates routed by shard, deletions by id routed the same way,
//! deletions by filter, delete-all and edit-by-function sent to every node.
//!
//! The payload is parsed and validated here (see `miroir_core::document`), every
//! document gets its shard marker and goes to the RF nodes of its shard, as one NDJSON request
//! per node per client call. A payload that Meilisearch would fail asynchronously (missing or
//! invalid id, primary-key inference failure) becomes a failed task before any node sees it.
//!
//! Document reads are `read::documents`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::IntoResponse;
use bytes::Bytes;
use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use miroir_core::document::{infer_primary_key, parse_payload, Document, PayloadFormat};
use miroir_core::hash::ShardCount;
use miroir_core::split::{concat_groups, ranges_of};
use miroir_store::{CallBody, IndexRecord};

use super::indexes::{creation_calls, new_record};
use super::journal::{submit, write_to_all, NodeCall};
use crate::cluster::node::url_encode;
use crate::error::{core_error, ErrorType, MeiliError, Result};
use crate::extract::{content_type, Body, DocumentId, IndexUid, JsonBody, Params};
use crate::state::AppState;
use crate::tasks::registry::{self, NewTask};
use crate::wire::error::{content_type_error, index_not_found};
use crate::wire::task::summarized;

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
        other => return Err(content_type_error(other, ACCEPTED_TYPES).into()),
    };
    if delimiter.is_some() && !matches!(format, PayloadFormat::Csv { .. }) {
        return Err(MeiliError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid_content_type",
            ErrorType::InvalidRequest,
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
pub(crate) async fn add_documents(
    State(state): State<Arc<AppState>>,
    IndexUid(uid): IndexUid,
    params: Params,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<impl IntoResponse> {
    write_documents(&state, uid, params, &headers, body, Method::POST).await
}

/// `PUT /indexes/{uid}/documents` (add or update).
pub(crate) async fn update_documents(
    State(state): State<Arc<AppState>>,
    IndexUid(uid): IndexUid,
    params: Params,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<impl IntoResponse> {
    write_documents(&state, uid, params, &headers, body, Method::PUT).await
}

#[tracing::instrument(level = "debug", skip_all, fields(index = %uid, bytes = body.len()))]
async fn write_documents(
    state: &AppState,
    uid: String,
    params: Params,
    headers: &HeaderMap,
    body: Bytes,
    method: Method,
) -> Result<impl IntoResponse> {
    let format = payload_format(headers, &params)?;
    let documents = parse_payload(&body, format)?;
    drop(body);
    let requested_key = params.get("primaryKey").map(str::to_string);

    let task = NewTask {
        kind: "documentAdditionOrUpdate",
        index_uid: Some(uid.clone()),
        details: Some(json!({"receivedDocuments": documents.len(), "indexedDocuments": null})),
        custom_metadata: params.custom_metadata(),
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
            let record = registry::failed(state, task, &error)?;
            return Ok(summarized(&record));
        }
        (Some(known), _) => Some(known.clone()),
        (None, Some(requested)) => Some(requested.clone()),
        (None, None) => match documents.first() {
            None => None,
            Some(first) => match infer_primary_key(first) {
                Ok(key) => Some(key),
                Err(e) => {
                    let record = registry::failed(state, task, &core_error(&e))?;
                    return Ok(summarized(&record));
                }
            },
        },
    };

    let mut index = match existing {
        Some(index) => index,
        None => new_record(state, &uid, None)?,
    };
    let mut calls = Vec::new();
    let mut payload = None;
    if let Some(key) = &primary_key {
        let routed = match route_documents(state, &index, key, documents) {
            Ok(routed) => routed,
            Err(e) => {
                let record = registry::failed(state, task, &core_error(&e))?;
                return Ok(summarized(&record));
            }
        };
        let mut path = format!("/indexes/{uid}/documents?primaryKey={}", url_encode(key));
        // Each node skips the documents it does not hold already, which are exactly the ones
        // the single index would skip (a document lives on its shard's nodes only).
        if let Some(skip) = params.get("skipCreation") {
            path.push_str(&format!("&skipCreation={}", url_encode(skip)));
        }
        for (node, ranges) in routed.ranges.into_iter().enumerate() {
            if !ranges.is_empty() {
                calls.push(NodeCall {
                    node,
                    method: method.clone(),
                    path: path.clone(),
                    body: CallBody::Payload { ranges },
                });
            }
        }
        payload = Some(routed.payload);
    }
    let created = state.store.get_index(&uid)?.is_none();
    if created {
        let mut all = creation_calls(state, &uid, primary_key.as_deref());
        all.extend(calls);
        calls = all;
    }
    let record = submit(state, task, calls, payload).await?;
    index.primary_key = index.primary_key.or(primary_key);
    index.updated_at = OffsetDateTime::now_utc();
    state.store.put_index(&index)?;
    Ok(summarized(&record))
}

/// A document batch routed by shard: one payload (every document's NDJSON line once, grouped
/// by the replica set of its shard), and the byte ranges of it each node receives (empty for
/// nodes that receive nothing).
struct Routed {
    payload: Vec<u8>,
    ranges: Vec<Vec<(u64, u64)>>,
}

/// Validates every document, injects its shard marker and routes it to the nodes of its shard.
fn route_documents(
    state: &AppState,
    index: &IndexRecord,
    primary_key: &str,
    documents: Vec<Document>,
) -> std::result::Result<Routed, miroir_core::Error> {
    let invalid = || miroir_core::Error::InvalidShardCount(u64::from(index.shard_count));
    let table = state
        .cluster
        .table(state.cluster.layout(index))
        .map_err(|_| invalid())?;
    let count = ShardCount::new(index.shard_count).map_err(|_| invalid())?;
    // Documents grouped by the replica set of their shard, in the client's order within a
    // group: a node holding everything gets them in the client's order, as one Meilisearch.
    let mut replica_sets: Vec<Vec<usize>> = Vec::new();
    let group_of_shard: Vec<usize> = (0..index.shard_count)
        .map(|shard| {
            let mut set = table.replicas(shard).to_vec();
            set.sort_unstable();
            match replica_sets.iter().position(|known| *known == set) {
                Some(group) => group,
                None => {
                    replica_sets.push(set);
                    replica_sets.len() - 1
                }
            }
        })
        .collect();
    let (payload, group_ranges) = concat_groups(documents, primary_key, count, &group_of_shard)?;
    let ranges = (0..state.cluster.nodes().len())
        .map(|node| {
            let groups: Vec<u32> = (0..replica_sets.len())
                .filter(|group| replica_sets[*group].contains(&node))
                .map(|group| group as u32)
                .collect();
            ranges_of(&group_ranges, &groups)
        })
        .collect();
    Ok(Routed { payload, ranges })
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
pub(crate) async fn delete_document(
    State(state): State<Arc<AppState>>,
    IndexUid(uid): IndexUid,
    DocumentId(id): DocumentId,
    params: Params,
) -> Result<impl IntoResponse> {
    delete_ids(
        &state,
        &uid,
        vec![Value::String(id)],
        params.custom_metadata(),
    )
    .await
}

/// `POST /indexes/{uid}/documents/delete-batch`
pub(crate) async fn delete_batch(
    State(state): State<Arc<AppState>>,
    IndexUid(uid): IndexUid,
    params: Params,
    JsonBody(ids): JsonBody<Vec<Value>>,
) -> Result<impl IntoResponse> {
    delete_ids(&state, &uid, ids, params.custom_metadata()).await
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
        let record = registry::failed(state, task, &index_not_found(uid))?;
        return Ok(summarized(&record));
    };
    let groups = ids_by_node(state, &index, &ids)?;
    let calls = groups
        .into_iter()
        .enumerate()
        .filter(|(_, ids)| !ids.is_empty())
        .map(|(node, ids)| {
            NodeCall::json(
                node,
                Method::POST,
                format!("/indexes/{uid}/documents/delete-batch"),
                Some(Value::Array(ids)),
            )
        })
        .collect();
    let record = submit(state, task, calls, None).await?;
    Ok(summarized(&record))
}

/// `POST /indexes/{uid}/documents/delete`: delete by filter, on every node.
pub(crate) async fn delete_by_filter(
    State(state): State<Arc<AppState>>,
    IndexUid(uid): IndexUid,
    params: Params,
    JsonBody(request): JsonBody<Map<String, Value>>,
) -> Result<impl IntoResponse> {
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
        custom_metadata: params.custom_metadata(),
    };
    let record = write_to_all(
        &state,
        &uid,
        task,
        Method::POST,
        &format!("/indexes/{uid}/documents/delete"),
        Some(json!({"filter": filter})),
    )
    .await?;
    Ok(summarized(&record))
}

/// `DELETE /indexes/{uid}/documents`: delete all, on every node.
pub(crate) async fn delete_all(
    State(state): State<Arc<AppState>>,
    IndexUid(uid): IndexUid,
    params: Params,
) -> Result<impl IntoResponse> {
    let task = NewTask {
        kind: "documentDeletion",
        index_uid: Some(uid.clone()),
        details: Some(json!({"deletedDocuments": null})),
        custom_metadata: params.custom_metadata(),
    };
    let record = write_to_all(
        &state,
        &uid,
        task,
        Method::DELETE,
        &format!("/indexes/{uid}/documents"),
        None,
    )
    .await?;
    Ok(summarized(&record))
}

/// `POST /indexes/{uid}/documents/edit` (edit by function, an experimental feature): every
/// node runs the function over the documents it holds, so each replica of a document is edited
/// identically. The function sees the hidden shard marker like any field; a function that
/// rewrites every field wholesale would drop it, which is not guarded against.
pub(crate) async fn edit_documents(
    State(state): State<Arc<AppState>>,
    IndexUid(uid): IndexUid,
    params: Params,
    JsonBody(request): JsonBody<Map<String, Value>>,
) -> Result<impl IntoResponse> {
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
        custom_metadata: params.custom_metadata(),
    };
    let record = write_to_all(
        &state,
        &uid,
        task,
        Method::POST,
        &format!("/indexes/{uid}/documents/edit"),
        Some(Value::Object(request)),
    )
    .await?;
    Ok(summarized(&record))
}
