//! The in-memory state of a node: indexes with their documents and settings, and the task
//! queue. Everything lives behind one mutex in [`AppState`]; nothing is persisted.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard};

use serde_json::{json, Map, Value};
use time::OffsetDateTime;
use tokio::sync::Notify;

use crate::error::ApiError;
use crate::settings::Settings;
use crate::util::{date_value, iso_duration, rfc3339};

/// State shared by every request handler and the task worker.
pub struct AppState {
    store: Mutex<Store>,
    /// Woken whenever a task is registered.
    pub wake: Notify,
    /// The master key, if the node was started with one.
    pub master_key: Option<String>,
}

impl AppState {
    /// A fresh, empty node.
    pub fn new(master_key: Option<String>) -> Self {
        AppState {
            store: Mutex::new(Store {
                features: default_features(),
                ..Store::default()
            }),
            wake: Notify::new(),
            master_key,
        }
    }

    /// Locks the store (a poisoned lock is recovered: the state stays usable).
    pub fn lock(&self) -> MutexGuard<'_, Store> {
        self.store
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// Registers a task, wakes the worker and returns the 202 summarized task.
    pub fn register(
        &self,
        kind: &'static str,
        index_uid: Option<String>,
        details: Option<Map<String, Value>>,
        op: Op,
    ) -> Value {
        let summary = self.lock().register(kind, index_uid, details, op);
        self.wake.notify_one();
        summary
    }
}

/// Everything a node holds.
#[derive(Default)]
pub struct Store {
    /// Indexes by uid.
    pub indexes: BTreeMap<String, Index>,
    /// Tasks by uid.
    pub tasks: BTreeMap<u32, Task>,
    /// Next task uid (never reused).
    pub next_task: u32,
    /// Next batch uid.
    pub next_batch: u32,
    /// Experimental features by name.
    pub features: Map<String, Value>,
    /// Chat workspace settings by workspace uid.
    pub chats: BTreeMap<String, Value>,
}

impl Store {
    /// Appends a task to the queue and returns its summarized view.
    pub fn register(
        &mut self,
        kind: &'static str,
        index_uid: Option<String>,
        details: Option<Map<String, Value>>,
        op: Op,
    ) -> Value {
        let uid = self.next_task;
        self.next_task += 1;
        let task = Task {
            uid,
            batch_uid: None,
            index_uid,
            status: Status::Enqueued,
            kind,
            canceled_by: None,
            details,
            error: None,
            enqueued_at: OffsetDateTime::now_utc(),
            started_at: None,
            finished_at: None,
            op,
        };
        let summary = task.summary();
        self.tasks.insert(uid, task);
        summary
    }

    /// The index, or `index_not_found`.
    pub fn index(&self, uid: &str) -> Result<&Index, ApiError> {
        self.indexes
            .get(uid)
            .ok_or_else(|| ApiError::index_not_found(uid))
    }

    /// Whether a task of this index is being processed.
    pub fn is_indexing(&self, uid: &str) -> bool {
        self.tasks
            .values()
            .any(|t| t.status == Status::Processing && t.index_uid.as_deref() == Some(uid))
    }
}

/// A task status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Waiting in the queue.
    Enqueued,
    /// Being processed.
    Processing,
    /// Done.
    Succeeded,
    /// Done, with an error.
    Failed,
    /// Canceled before processing.
    Canceled,
}

impl Status {
    /// All statuses, in Meilisearch's order.
    pub const ALL: [Status; 5] = [
        Status::Enqueued,
        Status::Processing,
        Status::Succeeded,
        Status::Failed,
        Status::Canceled,
    ];

    /// The camelCase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Enqueued => "enqueued",
            Status::Processing => "processing",
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
            Status::Canceled => "canceled",
        }
    }

    /// Whether the task is finished.
    pub fn is_finished(self) -> bool {
        matches!(self, Status::Succeeded | Status::Failed | Status::Canceled)
    }
}

/// Task types, in Meilisearch's order (used in error messages).
pub const TASK_TYPES: [&str; 18] = [
    "documentAdditionOrUpdate",
    "documentEdition",
    "documentDeletion",
    "settingsUpdate",
    "indexCreation",
    "indexDeletion",
    "indexUpdate",
    "indexSwap",
    "taskCancelation",
    "taskDeletion",
    "dumpCreation",
    "snapshotCreation",
    "export",
    "upgradeDatabase",
    "indexCompaction",
    "networkTopologyChange",
    "dsrUpdate",
    "dsrClear",
];

/// What a task does when processed (released once it is finished).
#[derive(Debug, Clone)]
pub enum Op {
    /// Nothing left to do (finished task).
    Done,
    /// `POST` (replace) or `PUT` (merge) documents.
    AddDocuments {
        /// The parsed payload.
        documents: Vec<Map<String, Value>>,
        /// The `primaryKey` parameter.
        primary_key: Option<String>,
        /// Replace (`POST`) rather than merge (`PUT`).
        replace: bool,
    },
    /// Delete documents by external id.
    DeleteIds(Vec<String>),
    /// Delete documents matching a filter (the JSON filter as sent).
    DeleteByFilter(Value),
    /// Delete every document.
    Clear,
    /// Apply a validated settings update (`null` resets a key).
    Settings(Map<String, Value>),
    /// Create an index.
    CreateIndex {
        /// Its primary key.
        primary_key: Option<String>,
    },
    /// Change the primary key and/or rename.
    UpdateIndex {
        /// New primary key, if any.
        primary_key: Option<String>,
        /// New uid, if renamed.
        new_uid: Option<String>,
    },
    /// Delete an index.
    DeleteIndex,
    /// Swap (or rename) pairs of indexes.
    Swap(Vec<(String, String, bool)>),
    /// Cancel these tasks.
    CancelTasks(Vec<u32>),
    /// Delete these tasks.
    DeleteTasks(Vec<u32>),
}

/// One task, as Meilisearch shows it plus the work it carries.
#[derive(Debug, Clone)]
pub struct Task {
    /// Global, sequential uid.
    pub uid: u32,
    /// Batch uid once started.
    pub batch_uid: Option<u32>,
    /// The index, for index tasks.
    pub index_uid: Option<String>,
    /// Status.
    pub status: Status,
    /// Task type.
    pub kind: &'static str,
    /// Uid of the cancelation task that canceled this one.
    pub canceled_by: Option<u32>,
    /// The details object (absent for some types).
    pub details: Option<Map<String, Value>>,
    /// The error of a failed task.
    pub error: Option<ApiError>,
    /// Registration time.
    pub enqueued_at: OffsetDateTime,
    /// Processing start.
    pub started_at: Option<OffsetDateTime>,
    /// Processing end.
    pub finished_at: Option<OffsetDateTime>,
    /// The work to do.
    pub op: Op,
}

impl Task {
    /// The 202 summarized task.
    pub fn summary(&self) -> Value {
        json!({
            "taskUid": self.uid,
            "indexUid": self.index_uid,
            "status": "enqueued",
            "type": self.kind,
            "enqueuedAt": rfc3339(self.enqueued_at),
        })
    }

    /// The full task object.
    pub fn view(&self) -> Value {
        let mut out = Map::new();
        out.insert("uid".into(), json!(self.uid));
        out.insert("batchUid".into(), json!(self.batch_uid));
        out.insert("indexUid".into(), json!(self.index_uid));
        out.insert("status".into(), json!(self.status.as_str()));
        out.insert("type".into(), json!(self.kind));
        out.insert("canceledBy".into(), json!(self.canceled_by));
        if let Some(details) = &self.details {
            out.insert("details".into(), Value::Object(details.clone()));
        }
        out.insert(
            "error".into(),
            self.error
                .as_ref()
                .map(ApiError::to_json)
                .unwrap_or(Value::Null),
        );
        let duration = match (self.started_at, self.finished_at) {
            (Some(start), Some(end)) => iso_duration(end - start).map(Value::String),
            _ => None,
        };
        out.insert("duration".into(), duration.unwrap_or(Value::Null));
        out.insert("enqueuedAt".into(), date_value(Some(self.enqueued_at)));
        out.insert("startedAt".into(), date_value(self.started_at));
        out.insert("finishedAt".into(), date_value(self.finished_at));
        Value::Object(out)
    }

    /// Rewrites the details the way Meilisearch reports a failed or canceled task.
    pub fn fail_details(&mut self) {
        let Some(details) = self.details.as_mut() else {
            return;
        };
        for key in [
            "indexedDocuments",
            "deletedDocuments",
            "editedDocuments",
            "canceledTasks",
            "deletedTasks",
        ] {
            if details.contains_key(key) {
                details.insert(key.into(), json!(0));
            }
        }
    }
}

/// One stored document.
#[derive(Debug, Clone)]
pub struct Doc {
    /// External id (the primary key value as a string).
    pub id: String,
    /// The document.
    pub body: Map<String, Value>,
    /// Its text leaves, tokenized on first search (the body never changes: an update stores
    /// a new `Doc`).
    pub leaves: std::sync::OnceLock<Vec<crate::search::tokenize::TokenizedLeaf>>,
}

impl Doc {
    /// The document's tokenized text leaves.
    pub fn leaves(&self) -> &[crate::search::tokenize::TokenizedLeaf] {
        self.leaves
            .get_or_init(|| crate::search::tokenize::tokenized_leaves(&self.body))
    }
}

/// One index.
#[derive(Debug, Clone)]
pub struct Index {
    /// Uid.
    pub uid: String,
    /// Creation date.
    pub created_at: OffsetDateTime,
    /// Last update date.
    pub updated_at: OffsetDateTime,
    /// Primary key, once known.
    pub primary_key: Option<String>,
    /// Top-level field names in first-seen order (Meilisearch's field id order).
    pub fields: Vec<String>,
    /// Documents by internal id (ascending = Meilisearch's storage order).
    pub docs: BTreeMap<u32, Doc>,
    /// External id → internal id.
    pub ids: HashMap<String, u32>,
    free_ids: BTreeSet<u32>,
    next_id: u32,
    /// Settings.
    pub settings: Settings,
}

impl Index {
    /// A new, empty index.
    pub fn new(uid: &str, primary_key: Option<String>) -> Self {
        let now = OffsetDateTime::now_utc();
        Index {
            uid: uid.to_string(),
            created_at: now,
            updated_at: now,
            primary_key,
            fields: Vec::new(),
            docs: BTreeMap::new(),
            ids: HashMap::new(),
            free_ids: BTreeSet::new(),
            next_id: 0,
            settings: Settings::default(),
        }
    }

    /// The index object of `GET /indexes`.
    pub fn view(&self) -> Value {
        json!({
            "uid": self.uid,
            "createdAt": rfc3339(self.created_at),
            "updatedAt": rfc3339(self.updated_at),
            "primaryKey": self.primary_key,
        })
    }

    /// Stores a document under `id`, keeping its internal id when it already exists.
    pub fn put(&mut self, id: String, body: Map<String, Value>) {
        for key in body.keys() {
            if !self.fields.iter().any(|f| f == key) {
                self.fields.push(key.clone());
            }
        }
        let internal = match self.ids.get(&id) {
            Some(internal) => *internal,
            None => {
                let internal = match self.free_ids.pop_first() {
                    Some(free) => free,
                    None => {
                        self.next_id += 1;
                        self.next_id - 1
                    }
                };
                self.ids.insert(id.clone(), internal);
                internal
            }
        };
        self.docs.insert(
            internal,
            Doc {
                id,
                body,
                leaves: std::sync::OnceLock::new(),
            },
        );
    }

    /// Removes a document; true when it existed.
    pub fn remove(&mut self, id: &str) -> bool {
        match self.ids.remove(id) {
            Some(internal) => {
                self.docs.remove(&internal);
                self.free_ids.insert(internal);
                true
            }
            None => false,
        }
    }

    /// Removes every document.
    pub fn clear(&mut self) -> usize {
        let count = self.docs.len();
        self.docs.clear();
        self.ids.clear();
        self.free_ids.clear();
        self.next_id = 0;
        count
    }

    /// A document by external id.
    pub fn get(&self, id: &str) -> Option<&Doc> {
        self.ids
            .get(id)
            .and_then(|internal| self.docs.get(internal))
    }

    /// A document's fields in the index's field order, as Meilisearch returns them.
    pub fn ordered(&self, body: &Map<String, Value>) -> Map<String, Value> {
        let mut out = Map::new();
        for field in &self.fields {
            if let Some(value) = body.get(field) {
                out.insert(field.clone(), value.clone());
            }
        }
        out
    }

    /// Top-level field name → number of documents having it.
    pub fn field_distribution(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for doc in self.docs.values() {
            for key in doc.body.keys() {
                *out.entry(key.clone()).or_insert(0) += 1;
            }
        }
        out
    }

    /// Sum of the documents' JSON sizes (a stand-in for the database size).
    pub fn raw_size(&self) -> u64 {
        self.docs
            .values()
            .map(|d| Value::Object(d.body.clone()).to_string().len() as u64)
            .sum()
    }
}

/// Meilisearch 1.50's experimental features, all off.
pub fn default_features() -> Map<String, Value> {
    let names = [
        "metrics",
        "logsRoute",
        "editDocumentsByFunction",
        "containsFilter",
        "dynamicSearchRules",
        "network",
        "getTaskDocumentsRoute",
        "taskQueueCompactionRoute",
        "compositeEmbedders",
        "chatCompletions",
        "multimodal",
        "foreignKeys",
        "disableDocumentsFetchQueue",
        "legacySearch",
        "renderRoute",
    ];
    names
        .into_iter()
        .map(|name| (name.to_string(), Value::Bool(false)))
        .collect()
}
