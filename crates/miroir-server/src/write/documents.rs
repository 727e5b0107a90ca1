//! Document writes: additions and updates routed by shard, deletions by id routed the same way,
//! deletions by filter, delete-all and edit-by-function sent to every node.
//!
//! The payload is validated and routed here in place (see `miroir_core::route`: only each
//! document's id is parsed, its routed line is the client's bytes plus the shard marker), and
//! goes to the RF nodes of its shard: one NDJSON call per node per client call, cut into
//! several when a node's share is larger than [`MAX_CALL_BYTES`]. The routed payload is written
//! straight into the journal (never copied whole in memory), so a 100 MB upload costs about
//! its own size. A payload that Meilisearch would fail asynchronously (missing or invalid id,
//! primary-key inference failure) becomes a failed task before any node sees it.
//!
//! Document reads are `read::documents`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::IntoResponse;
use bytes::Bytes;
use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use miroir_core::document::PayloadFormat;
use miroir_core::hash::ShardCount;
use miroir_core::reserved::reserved_in_filter;
use miroir_core::route::{route_payload, Route, RoutedPayload};
use miroir_store::{CallBody, IndexRecord, PayloadSource};

use super::indexes::{creation_calls, new_record};
use super::journal::{submit, write_to_all, NodeCall};
use crate::cluster::node::url_encode;
use crate::error::{core_error, ErrorType, MeiliError, Result};
use crate::extract::{content_type, require_json, Body, DocumentId, IndexUid, JsonBody, Params};
use crate::state::AppState;
use crate::tasks::registry::{self, NewTask};
use crate::wire::error::{content_type_error, index_not_found, reserved_attribute};
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
    let requested_key = params.get("primaryKey").map(str::to_string);

    // Routing a large payload takes a while: it is done outside the write lock, by the index
    // as it is now, and done again under the lock in the rare case the index changed
    // meanwhile (its primary key set, or the index deleted and created again).
    let mut plan = RoutePlan::of(state, &uid, requested_key.as_deref())?;
    let mut routed = route_off_thread(body.clone(), format, plan.clone()).await?;
    let _guard = state.write_lock.lock().await;
    let current = RoutePlan::of(state, &uid, requested_key.as_deref())?;
    if current != plan {
        routed = route_off_thread(body.clone(), format, current.clone()).await?;
        plan = current;
    }

    let task = NewTask {
        kind: "documentAdditionOrUpdate",
        index_uid: Some(uid.clone()),
        details: Some(json!({"receivedDocuments": routed.documents(), "indexedDocuments": null})),
        custom_metadata: params.custom_metadata(),
    };
    if let (Some(known), Some(requested)) = (&plan.index.primary_key, &requested_key) {
        if known != requested {
            let error = MeiliError::invalid(
                "index_primary_key_already_exists",
                format!("Index `{uid}`: Index already has a primary key: `{known}`."),
            );
            let record = registry::failed(state, task, &error)?;
            return Ok(summarized(&record));
        }
    }
    if let Some(failure) = routed.failure() {
        let record = registry::failed(state, task, &core_error(failure))?;
        return Ok(summarized(&record));
    }
    let primary_key = routed.primary_key().map(str::to_string);

    let mut calls = Vec::new();
    if let Some(key) = &primary_key {
        let mut path = format!("/indexes/{uid}/documents?primaryKey={}", url_encode(key));
        // Each node skips the documents it does not hold already, which are exactly the ones
        // the single index would skip (a document lives on its shard's nodes only).
        if let Some(skip) = params.get("skipCreation") {
            path.push_str(&format!("&skipCreation={}", url_encode(skip)));
        }
        for node in 0..state.cluster.node_count() {
            for call in routed.calls(&plan.groups_of_node(node), MAX_CALL_BYTES) {
                calls.push(NodeCall {
                    node,
                    method: method.clone(),
                    path: path.clone(),
                    body: CallBody::Payload {
                        ranges: call.ranges,
                    },
                    shards: Some(call.shards),
                });
            }
        }
    }
    let mut index = plan.index;
    if plan.created {
        let mut all = creation_calls(state, &uid, primary_key.as_deref());
        all.extend(calls);
        calls = all;
    }
    let payload: Option<Arc<dyn PayloadSource>> = (!routed.is_empty())
        .then(|| Arc::new(RoutedBody { body, routed }) as Arc<dyn PayloadSource>);
    let record = submit(state, task, calls, payload).await?;
    index.primary_key = index.primary_key.or(primary_key);
    index.updated_at = OffsetDateTime::now_utc();
    state.store.put_index(&index)?;
    Ok(summarized(&record))
}

/// The most bytes of documents one node call carries. A node refuses a body past its payload
/// limit (100 MB by default) and holds each call in memory while it is sent, so a node's share
/// of a large upload goes as several calls (consecutive document additions, which Meilisearch
/// batches together again).
const MAX_CALL_BYTES: u64 = 16 * 1024 * 1024;

/// What a payload is routed by: the index (as stored, or as it will be created), the key to
/// route by, and the group of each shard — the replica set of the shard, so that documents
/// going to the same nodes are stored together and a node holding everything gets them in the
/// client's order, as one Meilisearch.
#[derive(Clone, PartialEq)]
struct RoutePlan {
    index: IndexRecord,
    created: bool,
    primary_key: Option<String>,
    replica_sets: Vec<Vec<usize>>,
    group_of_shard: Vec<usize>,
}

impl RoutePlan {
    fn of(state: &AppState, uid: &str, requested_key: Option<&str>) -> Result<RoutePlan> {
        let existing = state.store.get_index(uid)?;
        let created = existing.is_none();
        let index = match existing {
            Some(index) => index,
            None => new_record(state, uid, None)?,
        };
        let layout = state.cluster.write_layout(&index);
        let mut replica_sets: Vec<Vec<usize>> = Vec::new();
        let group_of_shard = (0..index.shard_count)
            .map(|shard| {
                let mut set = state.cluster.write_replicas(layout, shard)?;
                set.sort_unstable();
                Ok(match replica_sets.iter().position(|known| *known == set) {
                    Some(group) => group,
                    None => {
                        replica_sets.push(set);
                        replica_sets.len() - 1
                    }
                })
            })
            .collect::<Result<Vec<usize>>>()?;
        let primary_key = index
            .primary_key
            .clone()
            .or_else(|| requested_key.map(str::to_string));
        Ok(RoutePlan {
            index,
            created,
            primary_key,
            replica_sets,
            group_of_shard,
        })
    }

    /// The groups whose documents `node` holds.
    fn groups_of_node(&self, node: usize) -> Vec<u32> {
        (0..self.replica_sets.len())
            .filter(|group| self.replica_sets[*group].contains(&node))
            .map(|group| group as u32)
            .collect()
    }
}

/// Routes the payload on a blocking thread (it is CPU work proportional to its size).
/// A payload that is not valid JSON, NDJSON or CSV is refused here, synchronously.
async fn route_off_thread(
    body: Bytes,
    format: PayloadFormat,
    plan: RoutePlan,
) -> Result<RoutedPayload> {
    let routed = tokio::task::spawn_blocking(move || {
        let count = ShardCount::new(plan.index.shard_count)?;
        let route = Route {
            primary_key: plan.primary_key.as_deref(),
            count,
            group_of_shard: &plan.group_of_shard,
        };
        route_payload(&body, format, route)
    })
    .await
    .map_err(|e| {
        MeiliError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            ErrorType::Internal,
            format!("document routing stopped: {e}"),
        )
    })?;
    Ok(routed?)
}

/// The routed payload as the journal stores it: written from the client's bytes.
struct RoutedBody {
    body: Bytes,
    routed: RoutedPayload,
}

impl PayloadSource for RoutedBody {
    fn len(&self) -> u64 {
        self.routed.len()
    }

    fn write_to(&self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        self.routed.write_to(&self.body, out)
    }
}

/// Groups ids by the nodes holding them, with the shards they belong to on each node.
fn ids_by_node(
    state: &AppState,
    index: &IndexRecord,
    ids: &[Value],
) -> Result<Vec<(Vec<Value>, Vec<u32>)>> {
    let layout = state.cluster.write_layout(index);
    let mut groups = vec![(Vec::new(), Vec::new()); state.cluster.node_count()];
    for id in ids {
        let canonical = match id {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            other => other.to_string(),
        };
        let shard = state.cluster.shard_of(index.shard_count, &canonical)?;
        for node in state.cluster.write_replicas(layout, shard)? {
            if groups.len() <= node {
                groups.resize(node + 1, (Vec::new(), Vec::new()));
            }
            let (ids, shards): &mut (Vec<Value>, Vec<u32>) = &mut groups[node];
            ids.push(id.clone());
            if !shards.contains(&shard) {
                shards.push(shard);
            }
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
///
/// Meilisearch reads this body with a plain JSON extractor, so every unreadable body —
/// not JSON at all, or not a list — is a `bad_request` here (not `malformed_payload`).
pub(crate) async fn delete_batch(
    State(state): State<Arc<AppState>>,
    IndexUid(uid): IndexUid,
    params: Params,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<impl IntoResponse> {
    require_json(&headers)?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(MeiliError::invalid("missing_payload", "A json payload is missing.").into());
    }
    let ids: Vec<Value> = serde_json::from_slice(&body)
        .map_err(|e| MeiliError::invalid("bad_request", format!("Json deserialize error: {e}")))?;
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
        .filter(|(_, (ids, _))| !ids.is_empty())
        .map(|(node, (ids, mut shards))| {
            shards.sort_unstable();
            NodeCall {
                shards: Some(shards),
                ..NodeCall::json(
                    node,
                    Method::POST,
                    format!("/indexes/{uid}/documents/delete-batch"),
                    Some(Value::Array(ids)),
                )
            }
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
    // A node would delete a whole shard; one Meilisearch fails the task (the attribute is not
    // filterable).
    if let Some(name) = reserved_in_filter(filter) {
        if state.store.get_index(&uid)?.is_some() {
            let error = reserved_attribute("invalid_document_filter", &name);
            let record = registry::failed(&state, task, &error)?;
            return Ok(summarized(&record));
        }
    }
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
