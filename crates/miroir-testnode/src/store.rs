//! The state of a node: indexes with their documents and settings, and the task queue.
//! Everything lives behind one mutex in [`AppState`]. Started with a data directory, the node
//! writes its whole state there (`state.json`, replaced atomically) whenever a task is
//! registered or finished, so that a node killed and started again on its directory has every
//! task it acknowledged, as Meilisearch does (test support: fine for test-sized data).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
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
    /// Where the state is persisted, if anywhere.
    data_dir: Option<PathBuf>,
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
            data_dir: None,
        }
    }

    /// A node persisted in `dir`: its saved state if there is one (a task that was processing
    /// when the node stopped is enqueued again), else a fresh one.
    pub fn open(master_key: Option<String>, dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let mut state = AppState::new(master_key);
        let file = dir.join(STATE_FILE);
        if file.exists() {
            let bytes = std::fs::read(&file)?;
            let mut store: Store = serde_json::from_slice(&bytes).map_err(std::io::Error::other)?;
            for task in store.tasks.values_mut() {
                if task.status == Status::Processing {
                    task.status = Status::Enqueued;
                    task.started_at = None;
                }
            }
            state.store = Mutex::new(store);
        }
        state.data_dir = Some(dir.to_path_buf());
        Ok(state)
    }

    /// Writes the state to the data directory, if any (a temporary file renamed over the
    /// previous one, so a kill mid-write leaves the previous state whole).
    pub fn persist(&self, store: &Store) {
        let Some(dir) = &self.data_dir else { return };
        let result = serde_json::to_vec(store)
            .map_err(std::io::Error::other)
            .and_then(|bytes| {
                let temporary = dir.join(format!("{STATE_FILE}.tmp"));
                std::fs::write(&temporary, bytes)?;
                std::fs::rename(&temporary, dir.join(STATE_FILE))
            });
        if let Err(e) = result {
            tracing::error!(error = %e, "could not persist the node's state");
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
        self.register_tagged(kind, index_uid, details, op, None)
    }

    /// [`AppState::register`] with the client's `customMetadata` (document writes).
    pub fn register_tagged(
        &self,
        kind: &'static str,
        index_uid: Option<String>,
        details: Option<Map<String, Value>>,
        op: Op,
        custom_metadata: Option<String>,
    ) -> Value {
        let mut store = self.lock();
        let summary = store.register(kind, index_uid, details, op);
        if let Some(task) = store.tasks.values_mut().next_back() {
            task.custom_metadata = custom_metadata;
        }
        self.persist(&store);
        drop(store);
        self.wake.notify_one();
        summary
    }
}

/// The file the state is persisted in, under the data directory.
const STATE_FILE: &str = "state.json";

/// Everything a node holds.
#[derive(Default, Serialize, Deserialize)]
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
    /// API keys by uid (see `keys`).
    #[serde(default)]
    pub keys: BTreeMap<String, Value>,
    /// Dynamic search rules by uid, in creation order (see `rules`).
    #[serde(default)]
    pub rules: Map<String, Value>,
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
            custom_metadata: None,
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Serialize, Deserialize)]
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
    /// Compact an index (sizes only: the test node keeps no database file).
    Compact,
    /// Swap (or rename) pairs of indexes.
    Swap(Vec<(String, String, bool)>),
    /// Cancel these tasks.
    CancelTasks(Vec<u32>),
    /// Delete these tasks.
    DeleteTasks(Vec<u32>),
}

/// One task, as Meilisearch shows it plus the work it carries.
#[derive(Debug, Clone, Serialize, Deserialize)]
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
    #[serde(with = "task_kind")]
    pub kind: TaskKind,
    /// Uid of the cancelation task that canceled this one.
    pub canceled_by: Option<u32>,
    /// The details object (absent for some types).
    pub details: Option<Map<String, Value>>,
    /// The error of a failed task.
    pub error: Option<ApiError>,
    /// Registration time.
    #[serde(with = "time::serde::rfc3339")]
    pub enqueued_at: OffsetDateTime,
    /// Processing start.
    #[serde(with = "time::serde::rfc3339::option")]
    pub started_at: Option<OffsetDateTime>,
    /// Processing end.
    #[serde(with = "time::serde::rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
    /// The work to do.
    pub op: Op,
    /// The client's `customMetadata`, echoed in the task object.
    #[serde(default)]
    pub custom_metadata: Option<String>,
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
        if let Some(metadata) = &self.custom_metadata {
            out.insert("customMetadata".into(), json!(metadata));
        }
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
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Doc {
    /// External id (the primary key value as a string).
    pub id: String,
    /// The document.
    pub body: Map<String, Value>,
    /// Its text leaves, tokenized on first search (the body never changes: an update stores
    /// a new `Doc`).
    #[serde(skip)]
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
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Index {
    /// Uid.
    pub uid: String,
    /// Creation date.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last update date.
    #[serde(with = "time::serde::rfc3339")]
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
    /// The words of the documents, built on the first search after a change (see
    /// [`Index::word_index`]).
    #[serde(skip)]
    words: std::sync::OnceLock<std::sync::Arc<crate::search::words::WordIndex>>,
}

impl Index {
    /// The inverted index of the documents' words (see `search::words`).
    pub fn word_index(&self) -> &crate::search::words::WordIndex {
        self.words.get_or_init(|| {
            let docs = self.docs.iter().map(|(id, doc)| (*id, doc.leaves()));
            std::sync::Arc::new(crate::search::words::WordIndex::build(docs))
        })
    }

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
            words: std::sync::OnceLock::new(),
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
        self.words = std::sync::OnceLock::new();
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
                self.words = std::sync::OnceLock::new();
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
        self.words = std::sync::OnceLock::new();
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

/// A task type, one of [`TASK_TYPES`] (an alias, so that serde does not take the field for a
/// string borrowed from the input).
pub type TaskKind = &'static str;

/// Task types as stored: the name, read back as the static name of [`TASK_TYPES`].
mod task_kind {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(kind: &&'static str, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(kind)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<&'static str, D::Error> {
        let name = String::deserialize(deserializer)?;
        super::TASK_TYPES
            .iter()
            .find(|kind| **kind == name)
            .copied()
            .ok_or_else(|| serde::de::Error::custom(format!("unknown task type `{name}`")))
    }
}
