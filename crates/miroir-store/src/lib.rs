//! Miroir's persistent state behind one trait: the task registry, index metadata, API keys,
//! webhooks, and the write journal (entries, what each node did with each call, stale replicas).
//!
//! The [`Store`] trait is what the server uses; [`SqliteStore`] is the embedded default
//! (one SQLite file under `db_path`, via rusqlite with its bundled SQLite) and [`RedisStore`]
//! the shared one, for several Miroir processes over one state. The trait is synchronous on
//! purpose: every operation is a short indexed read or write (or one Redis round trip), and
//! keeping async out of it keeps the callers the same for both. [`open`] picks the backend
//! from the `task_store` setting.

mod redis_store;
mod sqlite;

pub use redis_store::RedisStore;
pub use sqlite::SqliteStore;

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use miroir_core::rebalance::PlacementRecord;
use miroir_core::replica::StaleShards;
use miroir_core::task::TaskStatus;
use miroir_core::topology::Topology;

/// The store's error type.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// SQLite failed.
    #[error("store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored JSON column could not be read back.
    #[error("store: corrupt JSON column: {0}")]
    Json(#[from] serde_json::Error),
    /// A stored value is not one Miroir writes.
    #[error("store: corrupt {0}")]
    Corrupt(&'static str),
    /// A document payload could not be written into the journal.
    #[error("store: the payload could not be written: {0}")]
    Payload(std::io::Error),
    /// The store was written by a newer Miroir, whose schema this one does not know.
    #[error("store: written by a newer Miroir (schema version {found}; this Miroir knows up to {known}): upgrade Miroir, or give it another state directory")]
    NewerSchema {
        /// The store's schema version.
        found: u32,
        /// The newest version this Miroir knows ([`SCHEMA_VERSION`]).
        known: u32,
    },
    /// Redis failed or refused a command.
    #[error("store: redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// No connection to Redis could be had in time.
    #[error("store: no connection to redis: {0}")]
    Unreachable(#[from] r2d2::Error),
    /// A write made under a lease that is no longer held: another process took over the work
    /// that runs once, and this write was refused so that it cannot undo that process's.
    #[error("store: write refused: the lease it was made under is no longer held (fencing)")]
    Fenced,
    /// The `task_store` setting names no backend Miroir knows.
    #[error("store: task_store {0:?} is not a redis:// URL (leave it unset for the embedded SQLite store under db_path)")]
    UnknownBackend(String),
    /// The state directory could not be created.
    #[error("store: cannot create {path}: {source}")]
    Io {
        /// The directory.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// The version of the stored schema this Miroir writes. A store records its version; at start
/// the migrations up to this one are applied (each idempotent), and a store with a newer one
/// is refused ([`Error::NewerSchema`]) rather than misread.
pub const SCHEMA_VERSION: u32 = 2;

/// The store's result type.
pub type Result<T> = std::result::Result<T, Error>;

/// Opens the store the settings name: Redis when `task_store` is a `redis://` (or
/// `rediss://`, `redis+unix://`, `unix://`) URL, else SQLite under `db_path`.
pub fn open(task_store: Option<&str>, db_path: &std::path::Path) -> Result<Arc<dyn Store>> {
    match task_store {
        None => Ok(Arc::new(SqliteStore::open(db_path)?)),
        Some(url)
            if ["redis://", "rediss://", "redis+unix://", "unix://"]
                .iter()
                .any(|scheme| url.starts_with(scheme)) =>
        {
            Ok(Arc::new(RedisStore::open(url)?))
        }
        Some(other) => Err(Error::UnknownBackend(other.to_string())),
    }
}

/// One node task a Miroir task waits for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeTaskRef {
    /// The node's configured id.
    pub node: String,
    /// The task uid on that node.
    pub uid: u64,
}

/// A Miroir task as stored. The server turns it into Meilisearch's task object.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskRecord {
    /// Global, monotonically increasing uid.
    pub uid: u64,
    /// The index it concerns, if any.
    pub index_uid: Option<String>,
    /// Derived status.
    pub status: TaskStatus,
    /// Meilisearch task type (`documentAdditionOrUpdate`, …).
    pub kind: String,
    /// Uid of the cancelation task that canceled it.
    pub canceled_by: Option<u64>,
    /// Meilisearch's `details` object, counted once per document.
    pub details: Option<Value>,
    /// Meilisearch's error object, for failed tasks.
    pub error: Option<Value>,
    /// When Miroir accepted it.
    pub enqueued_at: OffsetDateTime,
    /// When the first node started it.
    pub started_at: Option<OffsetDateTime>,
    /// When the last node finished it.
    pub finished_at: Option<OffsetDateTime>,
    /// The node tasks it is made of.
    pub node_tasks: Vec<NodeTaskRef>,
    /// The client's `customMetadata`, if any.
    pub custom_metadata: Option<String>,
}

/// Index metadata Miroir keeps itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexRecord {
    /// The index uid, as clients see it.
    pub uid: String,
    /// The primary key once known.
    pub primary_key: Option<String>,
    /// Virtual shard count, fixed at creation.
    pub shard_count: u32,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Last write time.
    pub updated_at: OffsetDateTime,
    /// The client's `faceting.maxValuesPerFacet` (`None`: Meilisearch's default). Nodes keep a
    /// much larger value so that facet counts can be merged exactly; this one is applied at
    /// the merge and shown in the settings.
    #[serde(default)]
    pub max_values_per_facet: Option<u64>,
    /// The client's `faceting.sortFacetValuesBy` (`None`: alphabetical for every facet), used
    /// to order merged facet values.
    #[serde(default)]
    pub sort_facet_values_by: Option<serde_json::Value>,
    /// The index's `distinctAttribute` setting, which the merge applies across shards.
    #[serde(default)]
    pub distinct_attribute: Option<String>,
    /// The index's `pagination.maxTotalHits` (`None`: Meilisearch's default, 1000): no hit
    /// beyond that rank is returned, whatever the window.
    #[serde(default)]
    pub max_total_hits: Option<u64>,
    /// A whole index: every node holds every document (a reference table, such as the target
    /// of a foreign key, which a node can then join without asking any other node).
    #[serde(default)]
    pub whole: bool,
    /// The index's `foreignKeys` setting: the fields whose ids a node replaces with documents
    /// of another index, from which Miroir strips the shard marker.
    #[serde(default)]
    pub foreign_keys: Vec<serde_json::Value>,
    /// The reshape under way, making the index whole or sharded again
    /// (`miroir_core::reshape`).
    #[serde(default)]
    pub reshape: Option<miroir_core::reshape::Reshape>,
}

/// The body of one journaled call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum CallBody {
    /// No body.
    Empty,
    /// A JSON body.
    Json {
        /// The value.
        value: Value,
    },
    /// NDJSON made of byte ranges of the entry's payload (the documents of the shards the
    /// node holds; the payload is stored once for every node).
    Payload {
        /// `[start, end)` byte ranges, in order.
        ranges: Vec<(u64, u64)>,
    },
}

/// One request of a journal entry toward one node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalCall {
    /// The node's configured id.
    pub node: String,
    /// HTTP method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Body.
    pub body: CallBody,
    /// The shards of the index the call writes to on its node; `None` for every shard the
    /// node holds (a write to the whole index). A replica that misses the call is stale for
    /// these shards only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shards: Option<Vec<u32>>,
}

/// A document payload to store with a journal entry, written straight into the store: a
/// 100 MB upload is routed in place and never copied whole into memory on its way to disk.
pub trait PayloadSource: Send + Sync {
    /// Its exact length in bytes.
    fn len(&self) -> u64;
    /// Whether it is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Writes exactly [`PayloadSource::len`] bytes to `out`.
    fn write_to(&self, out: &mut dyn std::io::Write) -> std::io::Result<()>;
}

impl PayloadSource for Vec<u8> {
    fn len(&self) -> u64 {
        self.as_slice().len() as u64
    }

    fn write_to(&self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        out.write_all(self)
    }
}

/// A write to journal, before it has a sequence number.
#[derive(Clone)]
pub struct NewEntry {
    /// The index it concerns, if one.
    pub index_uid: Option<String>,
    /// Its calls, in the order each node must receive them.
    pub calls: Vec<JournalCall>,
    /// The document payload its calls take byte ranges of.
    pub payload: Option<Arc<dyn PayloadSource>>,
}

impl std::fmt::Debug for NewEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewEntry")
            .field("index_uid", &self.index_uid)
            .field("calls", &self.calls)
            .field("payload_bytes", &self.payload.as_ref().map(|p| p.len()))
            .finish()
    }
}

/// A journaled write.
#[derive(Debug, Clone, PartialEq)]
pub struct JournalEntry {
    /// Global sequence number: every node receives its calls in this order.
    pub seq: u64,
    /// The Miroir task it belongs to.
    pub task_uid: u64,
    /// The index it concerns, if one.
    pub index_uid: Option<String>,
    /// When it was journaled.
    pub created_at: OffsetDateTime,
    /// Its calls (a call's number is its position here).
    pub calls: Vec<JournalCall>,
    /// Held: not to be delivered yet.
    pub held: bool,
}

/// What one node did with one journaled call.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// The node's configured id.
    pub node: String,
    /// The entry.
    pub seq: u64,
    /// The call's position in the entry.
    pub call: u32,
    /// The node task it created (`None`: the node refused the call outright).
    pub node_task: Option<u64>,
    /// The node task's status (`failed` for a refusal).
    pub status: TaskStatus,
    /// The node's error object, when failed.
    pub error: Option<Value>,
    /// The node task's `details`.
    pub details: Option<Value>,
    /// When the node started it.
    pub started_at: Option<OffsetDateTime>,
    /// When the node finished it.
    pub finished_at: Option<OffsetDateTime>,
}

/// Filters of `GET /tasks` (and of task cancelation and deletion), already validated.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskFilter {
    /// `uids`
    pub uids: Option<Vec<u64>>,
    /// `statuses`
    pub statuses: Option<Vec<TaskStatus>>,
    /// `types`
    pub types: Option<Vec<String>>,
    /// `indexUids`
    pub index_uids: Option<Vec<String>>,
    /// Index patterns an API key is limited to (`movies*`, `books`): only tasks of matching
    /// indexes, and none without an index.
    pub index_patterns: Option<Vec<String>>,
    /// `canceledBy`
    pub canceled_by: Option<Vec<u64>>,
    /// `beforeEnqueuedAt` (exclusive)
    pub before_enqueued_at: Option<OffsetDateTime>,
    /// `afterEnqueuedAt` (exclusive)
    pub after_enqueued_at: Option<OffsetDateTime>,
    /// `beforeStartedAt`
    pub before_started_at: Option<OffsetDateTime>,
    /// `afterStartedAt`
    pub after_started_at: Option<OffsetDateTime>,
    /// `beforeFinishedAt`
    pub before_finished_at: Option<OffsetDateTime>,
    /// `afterFinishedAt`
    pub after_finished_at: Option<OffsetDateTime>,
}

/// A page of tasks: filters plus `from`, `limit` and `reverse`.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskPage {
    /// Which tasks.
    pub filter: TaskFilter,
    /// Start at this uid (inclusive) in the listing's direction.
    pub from: Option<u64>,
    /// Page size.
    pub limit: usize,
    /// Oldest first instead of newest first.
    pub reverse: bool,
}

/// The lease on the work that must run once per cluster (task polling, journal delivery, the
/// rebalancer, webhooks) when several Miroir processes share one store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// Who holds it: the process's id.
    pub holder: String,
    /// Its fencing token: higher than the token of every lease given before it.
    pub token: u64,
}

/// Counters of what processes sharing a store cache, each bumped by every change of it: a
/// process that sees one move reloads what it caches (and the leaseholder wakes its loops).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Versions {
    /// Tasks created and journal entries released.
    pub journal: u64,
    /// API keys.
    pub keys: u64,
    /// Replica marks: stale replicas and nodes that lost their data.
    pub replicas: u64,
    /// The topology and placement.
    pub topology: u64,
    /// Index records.
    pub indexes: u64,
}

/// Persistence for everything Miroir must not forget across restarts.
pub trait Store: Send + Sync {
    /// Allocates the next task uid and stores the task under it; returns the uid. A task
    /// created finished while a webhook exists joins the webhook outbox in the same write.
    fn create_task(&self, task: &TaskRecord) -> Result<u64>;
    /// Overwrites a task's progress: status, details, error and times. Its node tasks are
    /// only added by [`Store::record_delivery`] and its canceler only set by
    /// [`Store::set_canceled_by`], so a caller holding an older copy of the task (the poller
    /// while a cancelation lands) cannot undo either.
    ///
    /// A task that finishes here while a webhook exists joins the webhook outbox in the same
    /// write: a finished task is announced even if the process that finished it dies.
    fn update_task(&self, task: &TaskRecord) -> Result<()>;
    /// The webhook outbox: uids of tasks that finished while a webhook existed and were not
    /// announced yet, smallest first, at most `limit`.
    fn webhook_outbox(&self, limit: usize) -> Result<Vec<u64>>;
    /// Removes announced tasks from the webhook outbox.
    fn webhooks_sent(&self, uids: &[u64]) -> Result<()>;
    /// Records which task cancels task `uid`, touching nothing else of it (its progress is
    /// the poller's to write, and a finished task may already have been written).
    fn set_canceled_by(&self, uid: u64, canceled_by: u64) -> Result<()>;
    /// Stores a task and its journal entry in one transaction: once this returns, the write is
    /// durable. A `held` entry is delivered to no node until released (while its first call is
    /// sent synchronously). Returns the task uid and the entry's sequence number.
    fn create_journaled_task(
        &self,
        task: &TaskRecord,
        entry: &NewEntry,
        held: bool,
    ) -> Result<(u64, u64)>;
    /// Lets the nodes' deliveries take a held entry.
    fn release_entry(&self, seq: u64) -> Result<()>;
    /// Releases every entry held since before `journaled_before`: after a restart, or when
    /// the process probing it died (whether its first call reached its node is for the
    /// delivery's reconciliation to find out). Returns how many there were.
    fn release_held(&self, journaled_before: OffsetDateTime) -> Result<u64>;
    /// Forgets a held entry and its task (its first call was refused, so nothing was written
    /// anywhere and the client gets the refusal instead of a task).
    fn abandon_entry(&self, seq: u64) -> Result<()>;
    /// The journal entry of a sequence number.
    fn journal_entry(&self, seq: u64) -> Result<Option<JournalEntry>>;
    /// The journal entry of a task.
    fn journal_entry_of_task(&self, task_uid: u64) -> Result<Option<JournalEntry>>;
    /// Byte ranges of an entry's payload, concatenated.
    fn payload_ranges(&self, seq: u64, ranges: &[(u64, u64)]) -> Result<Vec<u8>>;
    /// The first call not delivered to `node` yet: its entry and the call's position (`None`
    /// also while that entry is held).
    fn next_delivery(&self, node: &str) -> Result<Option<(JournalEntry, u32)>>;
    /// How many calls for `node` are not delivered yet, of entries for `index_uid`
    /// (`None`: of every entry).
    fn undelivered(&self, node: &str, index_uid: Option<&str>) -> Result<u64>;
    /// Records (or updates) what a node did with a call; a new node task is also added to
    /// the task's node tasks.
    fn record_delivery(&self, delivery: &Delivery) -> Result<()>;
    /// The deliveries of an entry.
    fn deliveries(&self, seq: u64) -> Result<Vec<Delivery>>;
    /// Deliveries whose node task is not finished yet.
    fn unfinished_deliveries(&self) -> Result<Vec<Delivery>>;
    /// Whether `node` has a node task of an entry for `index_uid` that is not finished.
    fn node_busy_with(&self, node: &str, index_uid: &str) -> Result<bool>;
    /// The highest node task uid recorded for `node` (kept when the journal is pruned).
    fn last_node_task(&self, node: &str) -> Result<Option<u64>>;
    /// When the oldest entry with a call not delivered to `node` was journaled.
    fn oldest_undelivered(&self, node: &str) -> Result<Option<OffsetDateTime>>;
    /// The bytes of document payloads the journal holds.
    fn journal_bytes(&self) -> Result<u64>;
    /// The bytes of document payloads of the entries with a call not delivered to `node`
    /// (each entry's payload counted once).
    fn undelivered_bytes(&self, node: &str) -> Result<u64>;
    /// The highest sequence number journaled so far (0 before the first entry).
    fn journal_head(&self) -> Result<u64>;
    /// How many calls for `node` of entries up to `seq` are not delivered yet.
    fn undelivered_through(&self, node: &str, seq: u64) -> Result<u64>;
    /// Whether `node` has a node task (of any entry) that is not finished.
    fn node_busy(&self, node: &str) -> Result<bool>;
    /// Records every call for `node` of entries up to `seq` that is not delivered or not
    /// finished as succeeded without a node task: a rebuild copied their effect onto the node.
    /// Returns how many calls it concerned.
    fn supersede_through(&self, node: &str, seq: u64) -> Result<u64>;
    /// Sets (or forgets) the highest node task uid recorded for `node` (after a rebuild, the
    /// node's task list starts again).
    fn set_last_node_task(&self, node: &str, uid: Option<u64>) -> Result<()>;
    /// Forgets the entries every node has received and finished, whose task is finished (or
    /// deleted): nothing can need them again. Returns how many were pruned.
    fn prune_journal(&self) -> Result<u64>;
    /// Marks a node as having lost its data (its task list restarted below what Miroir
    /// recorded), or not.
    fn set_node_lost(&self, node: &str, lost: bool) -> Result<()>;
    /// Nodes marked as having lost their data.
    fn lost_nodes(&self) -> Result<Vec<String>>;
    /// The stored topology; `None` before the first start seeded it.
    fn topology(&self) -> Result<Option<Topology>>;
    /// Replaces the stored topology.
    fn put_topology(&self, topology: &Topology) -> Result<()>;
    /// The stored placement and rebalance (`miroir_core::rebalance::PlacementRecord`);
    /// `None` before the first rebalance.
    fn placement_record(&self) -> Result<Option<PlacementRecord>>;
    /// Stores the placement and rebalance, replacing the previous record.
    fn put_placement_record(&self, record: &PlacementRecord) -> Result<()>;
    /// Records which shards of `index_uid` on `node` are stale (they missed writes), or, with
    /// `None`, that all of them are in sync.
    fn set_stale(&self, index_uid: &str, node: &str, stale: Option<&StaleShards>) -> Result<()>;
    /// Every `(index, node)` copy with stale shards, and which.
    fn stale_replicas(&self) -> Result<Vec<(String, String, StaleShards)>>;
    /// One task by uid.
    fn get_task(&self, uid: u64) -> Result<Option<TaskRecord>>;
    /// A page of tasks matching the filter and how many match in all.
    fn list_tasks(&self, page: &TaskPage) -> Result<(Vec<TaskRecord>, u64)>;
    /// Every task matching the filter (for cancelation and deletion).
    fn matching_task_uids(&self, filter: &TaskFilter) -> Result<Vec<u64>>;
    /// Tasks not finished yet, oldest first.
    fn unfinished_tasks(&self) -> Result<Vec<TaskRecord>>;
    /// Deletes tasks; returns how many existed.
    fn delete_tasks(&self, uids: &[u64]) -> Result<u64>;
    /// Creates or replaces an index's metadata.
    fn put_index(&self, index: &IndexRecord) -> Result<()>;
    /// One index's metadata.
    fn get_index(&self, uid: &str) -> Result<Option<IndexRecord>>;
    /// All indexes, ordered by uid.
    fn list_indexes(&self) -> Result<Vec<IndexRecord>>;
    /// Forgets an index; returns whether it existed.
    fn delete_index(&self, uid: &str) -> Result<bool>;
    /// Creates or replaces an API key (stored as its JSON object, keyed by its uid).
    fn put_key(&self, uid: &str, key: &Value) -> Result<()>;
    /// One API key by uid.
    fn get_key(&self, uid: &str) -> Result<Option<Value>>;
    /// Every API key, oldest first.
    fn list_keys(&self) -> Result<Vec<Value>>;
    /// Deletes an API key; returns whether it existed.
    fn delete_key(&self, uid: &str) -> Result<bool>;
    /// Creates or replaces a webhook (its JSON object, keyed by its uuid).
    fn put_webhook(&self, uuid: &str, webhook: &Value) -> Result<()>;
    /// Every webhook, oldest first.
    fn list_webhooks(&self) -> Result<Vec<Value>>;
    /// Deletes a webhook; returns whether it existed.
    fn delete_webhook(&self, uuid: &str) -> Result<bool>;

    /// Takes the cluster-wide write lock as `holder` (unique per taking) for at most `ttl`;
    /// `false` while someone else holds it. Processes sharing a store journal their writes
    /// one at a time under it, as one process does under its own mutex. A store only one
    /// process opens always grants it (that process's mutex is the lock).
    fn try_lock_writes(&self, holder: &str, ttl: Duration) -> Result<bool>;
    /// Extends the write lock by `ttl` from now if `holder` still holds it; `false` if not.
    fn extend_write_lock(&self, holder: &str, ttl: Duration) -> Result<bool>;
    /// Gives the write lock up if `holder` still holds it.
    fn unlock_writes(&self, holder: &str) -> Result<()>;
    /// Records the nodes the leaseholder holds at a journal head (for a rebuild or a shard
    /// move), so that other processes sharing the store do not send them a write directly;
    /// empty when none. A store only one process opens keeps nothing (that process knows).
    fn set_held_nodes(&self, nodes: &[String]) -> Result<()>;
    /// The nodes [`Store::set_held_nodes`] recorded.
    fn held_nodes(&self) -> Result<Vec<String>>;
    /// The change counters of what processes sharing the store cache.
    fn versions(&self) -> Result<Versions>;
    /// Gives `holder` the lease for `ttl` if nobody holds it, with a new fencing token.
    fn acquire_lease(&self, holder: &str, ttl: Duration) -> Result<Option<Lease>>;
    /// Extends `lease` by `ttl` from now if it is still held; `false` if it was lost.
    fn renew_lease(&self, lease: &Lease, ttl: Duration) -> Result<bool>;
    /// Gives `lease` up if it is still held (a stopping process hands over at once).
    fn release_lease(&self, lease: &Lease) -> Result<()>;
    /// The lease in force, if anyone holds it.
    fn current_lease(&self) -> Result<Option<Lease>>;
    /// Fences every later write made through this handle with `lease`: each is refused with
    /// [`Error::Fenced`] unless `lease` is still the one in force when it lands. `None` lifts
    /// the fence (a process that knows it lost the lease, and stopped its loops, writes for
    /// its requests again). A store only one process opens (SQLite) has nobody to fence
    /// against and refuses nothing.
    fn set_fence(&self, lease: Option<&Lease>);
}
