//! The task worker: one background loop that processes the global queue one task at a time,
//! in Meilisearch's priority order (latest cancelation first, then task deletions, then the
//! oldest enqueued task). No autobatching: every task is its own batch.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use crate::documents::{document_filter, extract_id, infer_primary_key};
use crate::error::ApiError;
use crate::filter;
use crate::store::{AppState, Index, Op, Status, Store};

/// Runs the worker until the task is aborted.
pub async fn run(state: Arc<AppState>) {
    loop {
        match start_next(&state) {
            Some(uid) => {
                // Let readers observe the `processing` state before the task finishes.
                tokio::task::yield_now().await;
                finish(&state, uid);
            }
            None => state.wake.notified().await,
        }
    }
}

fn start_next(state: &AppState) -> Option<u32> {
    let mut store = state.lock();
    let enqueued = || {
        store
            .tasks
            .values()
            .filter(|t| t.status == Status::Enqueued)
    };
    let uid = enqueued()
        .filter(|t| t.kind == "taskCancelation")
        .map(|t| t.uid)
        .max()
        .or_else(|| {
            enqueued()
                .filter(|t| t.kind == "taskDeletion")
                .map(|t| t.uid)
                .min()
        })
        .or_else(|| enqueued().map(|t| t.uid).min())?;
    let batch = store.next_batch;
    store.next_batch += 1;
    let task = store.tasks.get_mut(&uid)?;
    task.status = Status::Processing;
    task.batch_uid = Some(batch);
    task.started_at = Some(OffsetDateTime::now_utc());
    Some(uid)
}

/// What the processing of one task needs to know about it.
struct Context {
    uid: u32,
    index_uid: Option<String>,
    batch_uid: Option<u32>,
    started_at: Option<OffsetDateTime>,
    details: Map<String, Value>,
}

fn finish(state: &AppState, uid: u32) {
    let mut store = state.lock();
    let Some(task) = store.tasks.get_mut(&uid) else {
        return;
    };
    let op = std::mem::replace(&mut task.op, Op::Done);
    let context = Context {
        uid,
        index_uid: task.index_uid.clone(),
        batch_uid: task.batch_uid,
        started_at: task.started_at,
        details: task.details.clone().unwrap_or_default(),
    };
    let has_details = task.details.is_some();
    let result = process(&mut store, &context, op);
    let Some(task) = store.tasks.get_mut(&uid) else {
        return;
    };
    task.finished_at = Some(OffsetDateTime::now_utc());
    match result {
        Ok(details) => {
            task.status = Status::Succeeded;
            if has_details {
                task.details = Some(details);
            }
        }
        Err(error) => {
            task.status = Status::Failed;
            task.error = Some(error);
            task.fail_details();
        }
    }
    state.persist(&store);
}

fn index_uid(context: &Context) -> Result<&str, ApiError> {
    context
        .index_uid
        .as_deref()
        .ok_or_else(|| ApiError::internal("index task without index"))
}

fn existing<'a>(store: &'a mut Store, uid: &str) -> Result<&'a mut Index, ApiError> {
    store
        .indexes
        .get_mut(uid)
        .ok_or_else(|| ApiError::index_not_found(uid))
}

fn touch(index: &mut Index) {
    index.updated_at = OffsetDateTime::now_utc();
}

fn process(store: &mut Store, context: &Context, op: Op) -> Result<Map<String, Value>, ApiError> {
    let mut details = context.details.clone();
    match op {
        Op::Done => {}
        Op::AddDocuments {
            documents,
            primary_key,
            replace,
        } => {
            let uid = index_uid(context)?;
            let index = store
                .indexes
                .entry(uid.to_string())
                .or_insert_with(|| Index::new(uid, None));
            let key = match (&index.primary_key, primary_key) {
                (Some(current), Some(asked)) if *current != asked => {
                    return Err(ApiError::new(
                        "index_primary_key_already_exists",
                        format!("Index already has a primary key: `{current}`."),
                    ))
                }
                (Some(current), _) => Some(current.clone()),
                (None, Some(asked)) => Some(asked),
                (None, None) => match documents.first() {
                    Some(first) => Some(infer_primary_key(first)?),
                    None => None,
                },
            };
            let mut ids = Vec::with_capacity(documents.len());
            if let Some(key) = &key {
                for doc in &documents {
                    ids.push(extract_id(doc, key)?);
                }
            }
            if index.primary_key.is_none() {
                index.primary_key = key;
            }
            let mut distinct = HashSet::new();
            for (id, doc) in ids.into_iter().zip(documents) {
                distinct.insert(id.clone());
                let body = match (replace, index.get(&id)) {
                    (false, Some(old)) => {
                        let mut merged = old.body.clone();
                        for (k, v) in doc {
                            merged.insert(k, v);
                        }
                        merged
                    }
                    _ => doc,
                };
                index.put(id, body);
            }
            touch(index);
            details.insert("indexedDocuments".into(), json!(distinct.len()));
        }
        Op::DeleteIds(ids) => {
            let index = existing(store, index_uid(context)?)?;
            let deleted = ids.iter().filter(|id| index.remove(id)).count();
            touch(index);
            details.insert("deletedDocuments".into(), json!(deleted));
        }
        Op::DeleteByFilter(filter_value) => {
            let uid = index_uid(context)?;
            let index = existing(store, uid)?;
            let expr =
                document_filter(index, &filter_value).map_err(|e| e.with_index_prefix(uid))?;
            let doomed: Vec<String> = match &expr {
                Some(expr) => index
                    .docs
                    .values()
                    .filter(|d| filter::matches(expr, &d.body))
                    .map(|d| d.id.clone())
                    .collect(),
                None => Vec::new(),
            };
            for id in &doomed {
                index.remove(id);
            }
            touch(index);
            details.insert("deletedDocuments".into(), json!(doomed.len()));
        }
        Op::Clear => {
            let index = existing(store, index_uid(context)?)?;
            let deleted = index.clear();
            touch(index);
            details.insert("deletedDocuments".into(), json!(deleted));
        }
        Op::Settings(update) => {
            let uid = index_uid(context)?;
            let index = store
                .indexes
                .entry(uid.to_string())
                .or_insert_with(|| Index::new(uid, None));
            index.settings.apply(&update);
            touch(index);
        }
        Op::CreateIndex { primary_key } => {
            let uid = index_uid(context)?;
            if store.indexes.contains_key(uid) {
                return Err(ApiError::new(
                    "index_already_exists",
                    format!("Index `{uid}` already exists."),
                ));
            }
            store
                .indexes
                .insert(uid.to_string(), Index::new(uid, primary_key));
        }
        Op::UpdateIndex {
            primary_key,
            new_uid,
        } => {
            let uid = index_uid(context)?.to_string();
            if let Some(new_uid) = new_uid.as_ref().filter(|n| **n != uid) {
                if !store.indexes.contains_key(&uid) {
                    return Err(ApiError::index_not_found(&uid));
                }
                if store.indexes.contains_key(new_uid) {
                    return Err(ApiError::new(
                        "index_already_exists",
                        format!("Index `{new_uid}` already exists."),
                    ));
                }
            }
            let index = existing(store, &uid)?;
            if let Some(key) = primary_key {
                match &index.primary_key {
                    Some(current) if *current != key && !index.docs.is_empty() => {
                        return Err(ApiError::new(
                            "index_primary_key_already_exists",
                            format!("Index `{uid}`: Index already has a primary key: `{current}`."),
                        ))
                    }
                    _ => index.primary_key = Some(key),
                }
            }
            touch(index);
            if let Some(new_uid) = new_uid.filter(|n| *n != uid) {
                if let Some(mut index) = store.indexes.remove(&uid) {
                    index.uid = new_uid.clone();
                    store.indexes.insert(new_uid, index);
                }
            }
        }
        Op::DeleteIndex => {
            let uid = index_uid(context)?;
            let index = store
                .indexes
                .remove(uid)
                .ok_or_else(|| ApiError::index_not_found(uid))?;
            details.insert("deletedDocuments".into(), json!(index.docs.len()));
        }
        Op::Compact => {
            let index = existing(store, index_uid(context)?)?;
            // The size of its documents as JSON, written as Meilisearch writes sizes.
            let bytes: usize = index
                .docs
                .values()
                .map(|doc| Value::Object(doc.body.clone()).to_string().len())
                .sum();
            details.insert("preCompactionSize".into(), json!(format!("{bytes} B")));
            details.insert("postCompactionSize".into(), json!(format!("{bytes} B")));
        }
        Op::Swap(swaps) => swap(store, &swaps)?,
        Op::CancelTasks(uids) => {
            let now = OffsetDateTime::now_utc();
            let mut canceled = 0;
            for uid in uids {
                if uid == context.uid {
                    continue;
                }
                if let Some(task) = store.tasks.get_mut(&uid) {
                    if task.status == Status::Enqueued {
                        task.status = Status::Canceled;
                        task.canceled_by = Some(context.uid);
                        task.batch_uid = context.batch_uid;
                        task.started_at = context.started_at;
                        task.finished_at = Some(now);
                        task.op = Op::Done;
                        task.fail_details();
                        canceled += 1;
                    }
                }
            }
            details.insert("canceledTasks".into(), json!(canceled));
        }
        Op::DeleteTasks(uids) => {
            let mut deleted = 0;
            for uid in uids {
                if store
                    .tasks
                    .get(&uid)
                    .is_some_and(|t| t.status.is_finished())
                {
                    store.tasks.remove(&uid);
                    deleted += 1;
                }
            }
            details.insert("deletedTasks".into(), json!(deleted));
        }
    }
    Ok(details)
}

fn swap(store: &mut Store, swaps: &[(String, String, bool)]) -> Result<(), ApiError> {
    let mut missing = Vec::new();
    for (a, b, rename) in swaps {
        if *rename {
            if !store.indexes.contains_key(a) {
                missing.push(a.clone());
            }
        } else {
            for uid in [a, b] {
                if !store.indexes.contains_key(uid) && !missing.contains(uid) {
                    missing.push(uid.clone());
                }
            }
        }
    }
    match missing.len() {
        0 => {}
        1 => return Err(ApiError::index_not_found(&missing[0])),
        _ => {
            let list = missing
                .iter()
                .map(|m| format!("`{m}`"))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(ApiError::new(
                "index_not_found",
                format!("Indexes {list} not found."),
            ));
        }
    }
    for (a, b, rename) in swaps {
        if *rename && store.indexes.contains_key(b) {
            return Err(ApiError::new(
                "index_already_exists",
                format!("Cannot rename `{a}` to `{b}` as the index already exists. Hint: You can remove `{b}` first and then do your remove."),
            ));
        }
    }
    for (a, b, rename) in swaps {
        if *rename {
            if let Some(mut index) = store.indexes.remove(a) {
                index.uid = b.clone();
                store.indexes.insert(b.clone(), index);
            }
        } else if let (Some(mut first), Some(mut second)) =
            (store.indexes.remove(a), store.indexes.remove(b))
        {
            std::mem::swap(&mut first.uid, &mut second.uid);
            store.indexes.insert(first.uid.clone(), first);
            store.indexes.insert(second.uid.clone(), second);
        }
    }
    Ok(())
}
