//! `/indexes` and `/swap-indexes`: index lifecycle over every node.
//!
//! Miroir's own index metadata (uid, primary key, shard count) reflects every write it has
//! *enqueued*, so that a document addition sent right after an index creation routes with the
//! right primary key without waiting. The one exception is a primary-key change on an existing
//! index: a node refuses it asynchronously when the index holds documents, so Miroir adopts the
//! new key only once every node accepted it.
//!
//! Each node holds one Meilisearch index per logical index, under the same uid. At creation
//! Miroir also declares the shard marker filterable on it (see `miroir_core::marker`).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, Method};
use axum::response::IntoResponse;
use axum::Extension;
use serde::Deserialize;
use serde_json::{json, Value};
use time::OffsetDateTime;

use miroir_core::marker::MARKER_FIELD;
use miroir_core::task::TaskStatus;
use miroir_store::{IndexRecord, TaskFilter};

use super::journal::{broadcast, submit, write_to_all, NodeCall};
use crate::access::Access;
use crate::error::{MeiliError, Result};
use crate::extract::{json_body, require_json, Body, IndexUid, JsonBody, Params};
use crate::read::stats::{per_node_index_stats, SizeParams};
use crate::state::AppState;
use crate::tasks::registry::{self, NewTask};
use crate::wire::error::{bad_request, index_already_exists, index_not_found};
use crate::wire::index::{invalid_uid_at, valid_index_uid};
use crate::wire::task::summarized;

/// The node requests that create an index on every node, with the shard marker filterable.
pub(crate) fn creation_calls(
    state: &AppState,
    uid: &str,
    primary_key: Option<&str>,
) -> Vec<NodeCall> {
    let mut calls = Vec::new();
    for node in state.cluster.fleet() {
        calls.push(NodeCall::json(
            node,
            Method::POST,
            "/indexes".to_string(),
            Some(json!({"uid": uid, "primaryKey": primary_key})),
        ));
        calls.push(NodeCall::json(
            node,
            Method::PATCH,
            format!("/indexes/{uid}/settings"),
            Some(node_defaults()),
        ));
    }
    calls
}

/// How many facet values each node returns per facet. Far above any client's setting so that
/// per-value counts summed over shards are exact up to that many distinct values per shard;
/// the client's own `maxValuesPerFacet` is applied after the merge.
pub(crate) const NODE_MAX_VALUES_PER_FACET: u64 = 10_000;

/// The settings Miroir itself needs on every node's copy of an index: the shard marker
/// filterable and the facet cap raised.
pub(crate) fn node_defaults() -> Value {
    json!({
        "filterableAttributes": [MARKER_FIELD],
        "faceting": {"maxValuesPerFacet": NODE_MAX_VALUES_PER_FACET},
    })
}

/// A fresh metadata record.
pub(crate) fn new_record(
    state: &AppState,
    uid: &str,
    primary_key: Option<String>,
) -> Result<IndexRecord> {
    let now = OffsetDateTime::now_utc();
    Ok(IndexRecord {
        uid: uid.to_string(),
        primary_key,
        shard_count: state.config.shards,
        created_at: now,
        updated_at: now,
        max_values_per_facet: None,
        sort_facet_values_by: None,
        distinct_attribute: None,
        max_total_hits: None,
        whole: state.config.is_whole(uid) || is_foreign_target(state, uid)?,
        foreign_keys: Vec::new(),
        reshape: None,
    })
}

/// Before a `foreignKeys` setting is sent: every foreign index must be whole, since a node
/// joins only what it holds. An existing sharded index that is empty and idle becomes whole (no
/// document has to move); one that already holds documents is refused. One not created yet will
/// be created whole (see [`new_record`]). Called under the write lock.
pub(crate) async fn make_foreign_targets_whole(state: &AppState, keys: &[Value]) -> Result<()> {
    for target in keys
        .iter()
        .filter_map(|key| key["foreignIndexUid"].as_str())
    {
        let Some(mut index) = state.store.get_index(target)? else {
            continue;
        };
        if index.whole && index.reshape.is_none() {
            continue;
        }
        if index.reshape.is_some() {
            return Err(MeiliError::invalid(
                "miroir_foreign_index_not_whole",
                format!(
                    "Index `{target}` is being reshaped. Set the foreign key once `GET /_miroir/indexes/{target}` shows it whole with no reshape under way."
                ),
            )
            .into());
        }
        if !is_empty_and_idle(state, target).await? {
            return Err(MeiliError::invalid(
                "miroir_foreign_index_not_whole",
                format!(
                    "Index `{target}` is sharded and already holds documents, so no node can join it. Make it whole first (`PATCH /_miroir/indexes/{target}` with `{{\"whole\": true}}`), then set the foreign key."
                ),
            )
            .into());
        }
        index.whole = true;
        state.store.put_index(&index)?;
    }
    Ok(())
}

/// No unfinished Miroir task on the index and no document on any node.
async fn is_empty_and_idle(state: &AppState, uid: &str) -> Result<bool> {
    let unfinished = TaskFilter {
        index_uids: Some(vec![uid.to_string()]),
        statuses: Some(vec![TaskStatus::Enqueued, TaskStatus::Processing]),
        ..TaskFilter::default()
    };
    if !state.store.matching_task_uids(&unfinished)?.is_empty() {
        return Ok(false);
    }
    let stats = per_node_index_stats(state, uid, SizeParams::default()).await?;
    Ok(stats
        .iter()
        .all(|s| s["numberOfDocuments"].as_u64() == Some(0)))
}

/// Whether some index's `foreignKeys` names `uid`: such an index is created whole, so that the
/// nodes can join it.
pub(crate) fn is_foreign_target(state: &AppState, uid: &str) -> Result<bool> {
    Ok(state.store.list_indexes()?.iter().any(|index| {
        index
            .foreign_keys
            .iter()
            .any(|key| key["foreignIndexUid"].as_str() == Some(uid))
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct CreateIndex {
    uid: Option<Value>,
    #[serde(default)]
    primary_key: Option<String>,
}

/// `POST /indexes`
pub(crate) async fn create_index(
    State(state): State<Arc<AppState>>,
    Extension(access): Extension<Access>,
    JsonBody(request): JsonBody<CreateIndex>,
) -> Result<impl IntoResponse> {
    let uid = match request.uid {
        None => return Err(MeiliError::invalid("missing_index_uid", "Missing field `uid`").into()),
        Some(Value::String(uid)) => uid,
        Some(Value::Number(n)) => n.to_string(),
        Some(other) => return Err(invalid_uid_at(&other.to_string(), ".uid").into()),
    };
    if !valid_index_uid(&uid) {
        return Err(invalid_uid_at(&uid, ".uid").into());
    }
    access.check(&uid)?;
    let task = NewTask {
        kind: "indexCreation",
        index_uid: Some(uid.clone()),
        details: Some(json!({"primaryKey": request.primary_key})),
        custom_metadata: None,
    };
    let _guard = state.write_lock.lock().await;
    if state.store.get_index(&uid)?.is_some() {
        let record = registry::failed(&state, task, &index_already_exists(&uid))?;
        return Ok(summarized(&record));
    }
    let calls = creation_calls(&state, &uid, request.primary_key.as_deref());
    let record = submit(&state, task, calls, None).await?;
    state
        .store
        .put_index(&new_record(&state, &uid, request.primary_key)?)?;
    Ok(summarized(&record))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct UpdateIndex {
    #[serde(default)]
    primary_key: Option<String>,
    #[serde(default)]
    uid: Option<String>,
}

/// `PATCH /indexes/{uid}`: primary key and/or rename.
pub(crate) async fn update_index(
    State(state): State<Arc<AppState>>,
    IndexUid(uid): IndexUid,
    headers: HeaderMap,
    Body(bytes): Body,
) -> Result<impl IntoResponse> {
    require_json(&headers)?;
    let request: UpdateIndex = json_body(&bytes)?;
    let body: Value = serde_json::from_slice(&bytes).map_err(|e| bad_request(e.to_string()))?;
    if let Some(new_uid) = &request.uid {
        if !valid_index_uid(new_uid) {
            return Err(invalid_uid_at(new_uid, ".uid").into());
        }
    }
    let mut details = json!({"primaryKey": request.primary_key});
    if let Some(new_uid) = &request.uid {
        details["oldIndexUid"] = json!(uid);
        details["newIndexUid"] = json!(new_uid);
    }
    let task = NewTask {
        kind: "indexUpdate",
        index_uid: Some(uid.clone()),
        details: Some(details),
        custom_metadata: None,
    };
    let _guard = state.write_lock.lock().await;
    let Some(mut index) = state.store.get_index(&uid)? else {
        let record = registry::failed(&state, task, &index_not_found(&uid))?;
        return Ok(summarized(&record));
    };
    if let Some(new_uid) = &request.uid {
        if new_uid != &uid && state.store.get_index(new_uid)?.is_some() {
            let record = registry::failed(&state, task, &index_already_exists(new_uid))?;
            return Ok(summarized(&record));
        }
    }
    let calls = broadcast(
        &state,
        Method::PATCH,
        &format!("/indexes/{uid}"),
        Some(body),
    );
    let record = submit(&state, task, calls, None).await?;
    if let Some(new_uid) = request.uid.filter(|n| n != &uid) {
        state.store.delete_index(&uid)?;
        index.uid = new_uid;
        index.updated_at = OffsetDateTime::now_utc();
        state.store.put_index(&index)?;
    }
    Ok(summarized(&record))
}

/// `DELETE /indexes/{uid}`
pub(crate) async fn delete_index(
    State(state): State<Arc<AppState>>,
    IndexUid(uid): IndexUid,
) -> Result<impl IntoResponse> {
    let task = NewTask {
        kind: "indexDeletion",
        index_uid: Some(uid.clone()),
        details: Some(json!({"deletedDocuments": null})),
        custom_metadata: None,
    };
    let _guard = state.write_lock.lock().await;
    if state.store.get_index(&uid)?.is_none() {
        let record = registry::failed(&state, task, &index_not_found(&uid))?;
        return Ok(summarized(&record));
    }
    let calls = broadcast(&state, Method::DELETE, &format!("/indexes/{uid}"), None);
    let record = submit(&state, task, calls, None).await?;
    state.store.delete_index(&uid)?;
    Ok(summarized(&record))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Swap {
    indexes: Vec<String>,
    #[serde(default)]
    rename: bool,
}

/// `POST /swap-indexes`
pub(crate) async fn swap_indexes(
    State(state): State<Arc<AppState>>,
    Extension(access): Extension<Access>,
    headers: HeaderMap,
    Body(bytes): Body,
) -> Result<impl IntoResponse> {
    require_json(&headers)?;
    let swaps: Vec<Swap> = json_body(&bytes)?;
    let body: Value = serde_json::from_slice(&bytes).map_err(|e| bad_request(e.to_string()))?;
    for uid in swaps.iter().flat_map(|s| s.indexes.iter()) {
        access.check(uid)?;
    }
    for swap in &swaps {
        if swap.indexes.len() != 2 {
            return Err(MeiliError::invalid(
                "invalid_swap_indexes",
                format!(
                    "Two indexes must be given for each swap. The list `{}` contains {} indexes.",
                    Value::from(swap.indexes.clone()),
                    swap.indexes.len()
                ),
            )
            .into());
        }
        for uid in &swap.indexes {
            if !valid_index_uid(uid) {
                return Err(invalid_uid_at(uid, ".indexes").into());
            }
        }
    }
    let mut named: Vec<&String> = Vec::new();
    for uid in swaps.iter().flat_map(|s| s.indexes.iter()) {
        if named.contains(&uid) {
            return Err(MeiliError::invalid(
                "invalid_swap_duplicate_index_found",
                format!("Indexes must be declared only once during a swap. `{uid}` was specified several times."),
            )
            .into());
        }
        named.push(uid);
    }
    let details_swaps: Vec<Value> = swaps
        .iter()
        .map(|s| json!({"indexes": s.indexes, "rename": s.rename}))
        .collect();
    let task = NewTask {
        kind: "indexSwap",
        index_uid: None,
        details: Some(json!({"swaps": details_swaps})),
        custom_metadata: None,
    };
    let _guard = state.write_lock.lock().await;
    let mut missing = Vec::new();
    for swap in &swaps {
        let required = if swap.rename {
            &swap.indexes[..1]
        } else {
            &swap.indexes[..]
        };
        for uid in required {
            if state.store.get_index(uid)?.is_none() && !missing.contains(uid) {
                missing.push(uid.clone());
            }
        }
    }
    if !missing.is_empty() {
        let names: Vec<String> = missing.iter().map(|m| format!("`{m}`")).collect();
        let message = if names.len() == 1 {
            format!("Index {} not found.", names[0])
        } else {
            format!("Indexes {} not found.", names.join(", "))
        };
        let error = MeiliError {
            message,
            ..index_not_found("")
        };
        let record = registry::failed(&state, task, &error)?;
        return Ok(summarized(&record));
    }
    let calls = broadcast(&state, Method::POST, "/swap-indexes", Some(body));
    let record = submit(&state, task, calls, None).await?;
    let now = OffsetDateTime::now_utc();
    for swap in &swaps {
        let (a, b) = (&swap.indexes[0], &swap.indexes[1]);
        let first = state.store.get_index(a)?;
        let second = state.store.get_index(b)?;
        state.store.delete_index(a)?;
        state.store.delete_index(b)?;
        if let Some(mut record) = first {
            record.uid = b.clone();
            record.updated_at = now;
            state.store.put_index(&record)?;
        }
        if let Some(mut record) = second {
            record.uid = a.clone();
            record.updated_at = now;
            state.store.put_index(&record)?;
        }
    }
    Ok(summarized(&record))
}

/// `POST /indexes/{uid}/compact`: one `indexCompaction` task that every node runs on its own
/// copy of the index; its sizes before and after are the sums of the nodes' (see the
/// poller's `finish`). An index that does not exist fails the task, as on Meilisearch.
pub(crate) async fn compact_index(
    State(state): State<Arc<AppState>>,
    IndexUid(uid): IndexUid,
    params: Params,
) -> Result<impl IntoResponse> {
    let task = NewTask {
        kind: "indexCompaction",
        index_uid: Some(uid.clone()),
        details: Some(json!({"preCompactionSize": null, "postCompactionSize": null})),
        custom_metadata: params.custom_metadata(),
    };
    let record = write_to_all(
        &state,
        &uid,
        task,
        Method::POST,
        &format!("/indexes/{uid}/compact"),
        None,
    )
    .await?;
    Ok(summarized(&record))
}
