//! The embedded SQLite backend.
//!
//! One connection behind a mutex: Miroir's store traffic is a few small statements per client
//! write and per task poll, far below what one SQLite connection serves, and a single writer
//! avoids `SQLITE_BUSY` handling altogether. Timestamps are stored as Unix nanoseconds so the
//! `/tasks` date filters are plain integer comparisons. WAL mode keeps writes cheap.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rusqlite::types::Value as SqlValue;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row};
use time::OffsetDateTime;

use miroir_core::rebalance::PlacementRecord;
use miroir_core::replica::StaleShards;
use miroir_core::task::TaskStatus;
use miroir_core::topology::Topology;

use crate::{
    Delivery, Error, IndexRecord, JournalEntry, Lease, NewEntry, NodeTaskRef, Result, Store,
    TaskFilter, TaskPage, TaskRecord, Versions, SCHEMA_VERSION,
};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS tasks (
    uid INTEGER PRIMARY KEY,
    index_uid TEXT,
    status TEXT NOT NULL,
    kind TEXT NOT NULL,
    canceled_by INTEGER,
    details TEXT,
    error TEXT,
    enqueued_at INTEGER NOT NULL,
    started_at INTEGER,
    finished_at INTEGER,
    node_tasks TEXT NOT NULL,
    custom_metadata TEXT
);
CREATE INDEX IF NOT EXISTS tasks_status ON tasks(status);
CREATE TABLE IF NOT EXISTS indexes (
    uid TEXT PRIMARY KEY,
    record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS api_keys (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS webhooks (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS webhook_outbox (
    task_uid INTEGER PRIMARY KEY
);
CREATE TABLE IF NOT EXISTS counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS journal (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    task_uid INTEGER NOT NULL,
    index_uid TEXT,
    created_at INTEGER NOT NULL,
    calls TEXT NOT NULL,
    held INTEGER NOT NULL DEFAULT 0,
    payload_len INTEGER
);
CREATE INDEX IF NOT EXISTS journal_task ON journal(task_uid);
CREATE TABLE IF NOT EXISTS journal_targets (
    node TEXT NOT NULL,
    seq INTEGER NOT NULL,
    call INTEGER NOT NULL,
    PRIMARY KEY (node, seq, call)
);
CREATE TABLE IF NOT EXISTS deliveries (
    node TEXT NOT NULL,
    seq INTEGER NOT NULL,
    call INTEGER NOT NULL,
    node_task INTEGER,
    status TEXT NOT NULL,
    error TEXT,
    details TEXT,
    started_at INTEGER,
    finished_at INTEGER,
    PRIMARY KEY (node, seq, call)
);
CREATE INDEX IF NOT EXISTS deliveries_status ON deliveries(status);
CREATE TABLE IF NOT EXISTS node_marks (
    node TEXT PRIMARY KEY,
    last_task INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS topology (
    id INTEGER PRIMARY KEY CHECK (id = 0),
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS placement (
    id INTEGER PRIMARY KEY CHECK (id = 0),
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS lost_nodes (
    node TEXT PRIMARY KEY
);
CREATE TABLE IF NOT EXISTS stale_replicas (
    index_uid TEXT NOT NULL,
    node TEXT NOT NULL,
    shards TEXT,
    PRIMARY KEY (index_uid, node)
);
";

/// The SQLite-backed [`Store`].
///
/// Document payloads of journal entries are files beside the database
/// (`payloads/{seq}.ndjson`), not blobs in it: written through a small buffer, read by byte
/// range without the connection's lock, and removed with their entry. A large blob written in
/// one SQLite transaction costs about twice its size in memory (measured: +200 MB for a 99 MB
/// payload); a file costs a buffer. A file is written before its entry's transaction commits,
/// with the same durability as the database's `synchronous = NORMAL` commits (it survives
/// Miroir's crash, not the machine's); one left by a transaction that never committed is
/// removed when the store opens.
pub struct SqliteStore {
    connection: Mutex<Connection>,
    payload_dir: PathBuf,
    /// Index records already read or written: every search reads its index's record, and
    /// this process is the database's only writer, so the copy stays exact.
    index_cache: Mutex<HashMap<String, IndexRecord>>,
    /// The lease and the last token given: one process opens the database, so they live in
    /// memory (they matter only to processes sharing a store).
    lease: Mutex<LeaseState>,
}

/// The in-memory lease of a store one process opens.
#[derive(Debug, Default)]
struct LeaseState {
    held: Option<(Lease, Instant)>,
    last_token: u64,
}

impl LeaseState {
    /// The lease in force: held and not expired.
    fn current(&self) -> Option<&Lease> {
        self.held
            .as_ref()
            .filter(|(_, until)| *until > Instant::now())
            .map(|(lease, _)| lease)
    }
}

impl SqliteStore {
    /// Opens (creating if needed) `miroir.sqlite` in `dir`.
    pub fn open(dir: &Path) -> Result<SqliteStore> {
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            path: dir.display().to_string(),
            source,
        })?;
        let connection = Connection::open(dir.join("miroir.sqlite"))?;
        // Before anything is written: a newer Miroir's store is left as it is.
        let found: u32 = connection.pragma_query_value(None, "user_version", |row| row.get(0))?;
        if found > SCHEMA_VERSION {
            return Err(Error::NewerSchema {
                found,
                known: SCHEMA_VERSION,
            });
        }
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "NORMAL")?;
        connection.execute_batch(SCHEMA)?;
        let payload_dir = dir.join("payloads");
        std::fs::create_dir_all(&payload_dir).map_err(|source| Error::Io {
            path: payload_dir.display().to_string(),
            source,
        })?;
        migrate(&connection, &payload_dir, found)?;
        remove_orphan_payloads(&connection, &payload_dir)?;
        Ok(SqliteStore {
            payload_dir,
            connection: Mutex::new(connection),
            index_cache: Mutex::new(HashMap::new()),
            lease: Mutex::new(LeaseState::default()),
        })
    }

    fn payload_path(&self, seq: u64) -> PathBuf {
        payload_path(&self.payload_dir, seq)
    }

    /// Removes the payload files of entries that no longer exist. A file that cannot be
    /// removed now is harmless (nothing refers to it) and is removed when the store opens next.
    fn remove_payloads(&self, seqs: &[u64]) {
        for seq in seqs {
            let _ = std::fs::remove_file(self.payload_path(*seq));
        }
    }

    fn cached_indexes(&self) -> MutexGuard<'_, HashMap<String, IndexRecord>> {
        self.index_cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn leases(&self) -> MutexGuard<'_, LeaseState> {
        self.lease
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent (statements are
        // atomic), so a poisoned lock is still safe to use.
        self.connection
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Tables of JSON records kept in insertion order under a string id.
#[derive(Clone, Copy)]
enum RecordTable {
    ApiKeys,
    Webhooks,
}

impl RecordTable {
    fn name(self) -> &'static str {
        match self {
            RecordTable::ApiKeys => "api_keys",
            RecordTable::Webhooks => "webhooks",
        }
    }
}

impl SqliteStore {
    fn put_record(&self, table: RecordTable, id: &str, record: &serde_json::Value) -> Result<()> {
        self.lock().execute(
            &format!(
                "INSERT INTO {}(id, record) VALUES (?1, ?2)
                 ON CONFLICT(id) DO UPDATE SET record = excluded.record",
                table.name()
            ),
            params![id, serde_json::to_string(record)?],
        )?;
        Ok(())
    }

    fn get_record(&self, table: RecordTable, id: &str) -> Result<Option<serde_json::Value>> {
        let text: Option<String> = self
            .lock()
            .query_row(
                &format!("SELECT record FROM {} WHERE id = ?1", table.name()),
                params![id],
                |row| row.get(0),
            )
            .optional()?;
        Ok(match text {
            Some(t) => Some(serde_json::from_str(&t)?),
            None => None,
        })
    }

    fn list_records(&self, table: RecordTable) -> Result<Vec<serde_json::Value>> {
        self.list_json(&format!("SELECT record FROM {} ORDER BY seq", table.name()))
    }

    /// Every row of a one-column `SELECT` of JSON texts, parsed.
    fn list_json<T: serde::de::DeserializeOwned>(&self, sql: &str) -> Result<Vec<T>> {
        let connection = self.lock();
        let mut statement = connection.prepare(sql)?;
        let texts = statement
            .query_map([], |row| row.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        texts
            .iter()
            .map(|t| serde_json::from_str(t).map_err(Error::from))
            .collect()
    }

    fn delete_record(&self, table: RecordTable, id: &str) -> Result<bool> {
        Ok(self.lock().execute(
            &format!("DELETE FROM {} WHERE id = ?1", table.name()),
            params![id],
        )? > 0)
    }
}

fn nanos(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos()).unwrap_or(i64::MAX)
}

fn from_nanos(value: Option<i64>) -> Option<OffsetDateTime> {
    value.and_then(|n| OffsetDateTime::from_unix_timestamp_nanos(i128::from(n)).ok())
}

fn json_column(value: &Option<serde_json::Value>) -> Result<Option<String>> {
    Ok(match value {
        Some(v) => Some(serde_json::to_string(v)?),
        None => None,
    })
}

fn read_task(row: &Row<'_>) -> rusqlite::Result<RawTask> {
    Ok(RawTask {
        uid: row.get(0)?,
        index_uid: row.get(1)?,
        status: row.get(2)?,
        kind: row.get(3)?,
        canceled_by: row.get(4)?,
        details: row.get(5)?,
        error: row.get(6)?,
        enqueued_at: row.get(7)?,
        started_at: row.get(8)?,
        finished_at: row.get(9)?,
        node_tasks: row.get(10)?,
        custom_metadata: row.get(11)?,
    })
}

/// A row as SQLite returns it, before JSON columns are parsed.
struct RawTask {
    uid: i64,
    index_uid: Option<String>,
    status: String,
    kind: String,
    canceled_by: Option<i64>,
    details: Option<String>,
    error: Option<String>,
    enqueued_at: i64,
    started_at: Option<i64>,
    finished_at: Option<i64>,
    node_tasks: String,
    custom_metadata: Option<String>,
}

impl RawTask {
    fn into_record(self) -> Result<TaskRecord> {
        let parse = |text: Option<String>| -> Result<Option<serde_json::Value>> {
            Ok(match text {
                Some(t) => Some(serde_json::from_str(&t)?),
                None => None,
            })
        };
        Ok(TaskRecord {
            uid: self.uid as u64,
            index_uid: self.index_uid,
            status: TaskStatus::parse(&self.status).unwrap_or(TaskStatus::Failed),
            kind: self.kind,
            canceled_by: self.canceled_by.map(|c| c as u64),
            details: parse(self.details)?,
            error: parse(self.error)?,
            enqueued_at: from_nanos(Some(self.enqueued_at)).unwrap_or(OffsetDateTime::UNIX_EPOCH),
            started_at: from_nanos(self.started_at),
            finished_at: from_nanos(self.finished_at),
            node_tasks: serde_json::from_str(&self.node_tasks)?,
            custom_metadata: self.custom_metadata,
        })
    }
}

const TASK_COLUMNS: &str = "uid, index_uid, status, kind, canceled_by, details, error, \
                            enqueued_at, started_at, finished_at, node_tasks, custom_metadata";

/// Appends `column IN (?, ?, …)` for a list filter.
fn push_in(
    clauses: &mut Vec<String>,
    args: &mut Vec<SqlValue>,
    column: &str,
    values: Vec<SqlValue>,
) {
    let marks = vec!["?"; values.len()].join(", ");
    clauses.push(format!("{column} IN ({marks})"));
    args.extend(values);
}

fn push_cmp(
    clauses: &mut Vec<String>,
    args: &mut Vec<SqlValue>,
    column: &str,
    op: &str,
    at: Option<OffsetDateTime>,
) {
    if let Some(at) = at {
        clauses.push(format!("{column} {op} ?"));
        args.push(SqlValue::Integer(nanos(at)));
    }
}

/// Builds the WHERE clause of a task filter.
fn where_clause(filter: &TaskFilter) -> (String, Vec<SqlValue>) {
    let mut clauses = Vec::new();
    let mut args = Vec::new();
    if let Some(uids) = &filter.uids {
        let values = uids.iter().map(|u| SqlValue::Integer(*u as i64)).collect();
        push_in(&mut clauses, &mut args, "uid", values);
    }
    if let Some(statuses) = &filter.statuses {
        let values = statuses
            .iter()
            .map(|s| SqlValue::Text(s.as_str().to_string()))
            .collect();
        push_in(&mut clauses, &mut args, "status", values);
    }
    if let Some(types) = &filter.types {
        let values = types.iter().map(|t| SqlValue::Text(t.clone())).collect();
        push_in(&mut clauses, &mut args, "kind", values);
    }
    if let Some(index_uids) = &filter.index_uids {
        let values = index_uids
            .iter()
            .map(|t| SqlValue::Text(t.clone()))
            .collect();
        push_in(&mut clauses, &mut args, "index_uid", values);
    }
    if let Some(patterns) = &filter.index_patterns {
        let mut alternatives = Vec::new();
        for pattern in patterns {
            match pattern.strip_suffix('*') {
                Some(prefix) => {
                    let escaped = prefix
                        .replace('\\', "\\\\")
                        .replace('%', "\\%")
                        .replace('_', "\\_");
                    alternatives.push("index_uid LIKE ? ESCAPE '\\'".to_string());
                    args.push(SqlValue::Text(format!("{escaped}%")));
                }
                None => {
                    alternatives.push("index_uid = ?".to_string());
                    args.push(SqlValue::Text(pattern.clone()));
                }
            }
        }
        if alternatives.is_empty() {
            clauses.push("0 = 1".to_string());
        } else {
            clauses.push(format!("({})", alternatives.join(" OR ")));
        }
    }
    if let Some(canceled_by) = &filter.canceled_by {
        let values = canceled_by
            .iter()
            .map(|u| SqlValue::Integer(*u as i64))
            .collect();
        push_in(&mut clauses, &mut args, "canceled_by", values);
    }
    push_cmp(
        &mut clauses,
        &mut args,
        "enqueued_at",
        "<",
        filter.before_enqueued_at,
    );
    push_cmp(
        &mut clauses,
        &mut args,
        "enqueued_at",
        ">",
        filter.after_enqueued_at,
    );
    push_cmp(
        &mut clauses,
        &mut args,
        "started_at",
        "<",
        filter.before_started_at,
    );
    push_cmp(
        &mut clauses,
        &mut args,
        "started_at",
        ">",
        filter.after_started_at,
    );
    push_cmp(
        &mut clauses,
        &mut args,
        "finished_at",
        "<",
        filter.before_finished_at,
    );
    push_cmp(
        &mut clauses,
        &mut args,
        "finished_at",
        ">",
        filter.after_finished_at,
    );
    if clauses.is_empty() {
        ("1 = 1".to_string(), args)
    } else {
        (clauses.join(" AND "), args)
    }
}

/// Inserts a task under the next uid, inside a transaction. Uids are never reused, even
/// after task deletion, as on Meilisearch.
fn insert_task(tx: &rusqlite::Transaction<'_>, task: &TaskRecord) -> Result<u64> {
    let next: i64 = tx
        .query_row(
            "SELECT value FROM counters WHERE name = 'task_uid'",
            [],
            |row| row.get(0),
        )
        .optional()?
        .unwrap_or(0);
    tx.execute(
        "INSERT INTO counters(name, value) VALUES ('task_uid', ?1)
         ON CONFLICT(name) DO UPDATE SET value = excluded.value",
        params![next + 1],
    )?;
    tx.execute(
        &format!("INSERT INTO tasks ({TASK_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"),
        params![
            next,
            task.index_uid,
            task.status.as_str(),
            task.kind,
            task.canceled_by.map(|c| c as i64),
            json_column(&task.details)?,
            json_column(&task.error)?,
            nanos(task.enqueued_at),
            task.started_at.map(nanos),
            task.finished_at.map(nanos),
            serde_json::to_string(&task.node_tasks)?,
            task.custom_metadata,
        ],
    )?;
    if task.status.is_finished() {
        tx.execute(
            "INSERT INTO webhook_outbox(task_uid)
             SELECT ?1 WHERE EXISTS (SELECT 1 FROM webhooks)",
            params![next],
        )?;
    }
    Ok(next as u64)
}

/// Inserts or replaces a delivery row.
fn upsert_delivery(tx: &rusqlite::Transaction<'_>, delivery: &Delivery) -> Result<()> {
    tx.execute(
        &format!(
            "INSERT OR REPLACE INTO deliveries ({DELIVERY_COLUMNS})
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
        ),
        params![
            delivery.node,
            delivery.seq as i64,
            delivery.call as i64,
            delivery.node_task.map(|uid| uid as i64),
            delivery.status.as_str(),
            json_column(&delivery.error)?,
            json_column(&delivery.details)?,
            delivery.started_at.map(nanos),
            delivery.finished_at.map(nanos),
        ],
    )?;
    Ok(())
}

const DELIVERY_COLUMNS: &str =
    "node, seq, call, node_task, status, error, details, started_at, finished_at";

/// A delivery row as SQLite returns it.
struct RawDelivery {
    node: String,
    seq: i64,
    call: i64,
    node_task: Option<i64>,
    status: String,
    error: Option<String>,
    details: Option<String>,
    started_at: Option<i64>,
    finished_at: Option<i64>,
}

fn read_delivery(row: &Row<'_>) -> rusqlite::Result<RawDelivery> {
    Ok(RawDelivery {
        node: row.get(0)?,
        seq: row.get(1)?,
        call: row.get(2)?,
        node_task: row.get(3)?,
        status: row.get(4)?,
        error: row.get(5)?,
        details: row.get(6)?,
        started_at: row.get(7)?,
        finished_at: row.get(8)?,
    })
}

impl RawDelivery {
    fn into_delivery(self) -> Result<Delivery> {
        let parse = |text: Option<String>| -> Result<Option<serde_json::Value>> {
            Ok(match text {
                Some(t) => Some(serde_json::from_str(&t)?),
                None => None,
            })
        };
        Ok(Delivery {
            node: self.node,
            seq: self.seq as u64,
            call: self.call as u32,
            node_task: self.node_task.map(|uid| uid as u64),
            status: TaskStatus::parse(&self.status).ok_or(Error::Corrupt("delivery status"))?,
            error: parse(self.error)?,
            details: parse(self.details)?,
            started_at: from_nanos(self.started_at),
            finished_at: from_nanos(self.finished_at),
        })
    }
}

/// One journal entry by `column` (`seq` or `task_uid`).
fn payload_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq}.ndjson"))
}

/// Schema migrations, in order: `(version, step)`; a store at version `v` gets every step
/// above `v`. Each step is idempotent (a store that predates versions, at 0, may already have
/// some of its changes), and the version is recorded once they all ran.
const MIGRATIONS: [(u32, Migration); 2] = [(1, upgrade), (2, add_webhook_outbox)];

/// One migration step: the connection and the payload directory.
type Migration = fn(&Connection, &Path) -> Result<()>;

/// Applies the migrations above `found` and records [`SCHEMA_VERSION`].
fn migrate(connection: &Connection, dir: &Path, found: u32) -> Result<()> {
    for (version, step) in MIGRATIONS {
        if version > found {
            step(connection, dir)?;
        }
    }
    connection.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    Ok(())
}

/// Version 2 adds the webhook outbox, a table the schema creates: there is nothing to move.
fn add_webhook_outbox(_: &Connection, _: &Path) -> Result<()> {
    Ok(())
}

/// Version 1. Brings a store written by an earlier version up to date: stale replicas gain their shards
/// (a row without them covers every shard), and the payloads of a journal written before
/// payloads were files (a `payload` blob column) move into files, so no journaled write is
/// lost across the upgrade.
fn upgrade(connection: &Connection, dir: &Path) -> Result<()> {
    let columns: Vec<String> = connection
        .prepare("SELECT name FROM pragma_table_info('journal')")?
        .query_map([], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let stale_columns: Vec<String> = connection
        .prepare("SELECT name FROM pragma_table_info('stale_replicas')")?
        .query_map([], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    if !stale_columns.iter().any(|c| c == "shards") {
        connection.execute("ALTER TABLE stale_replicas ADD COLUMN shards TEXT", [])?;
    }
    if !columns.iter().any(|c| c == "payload_len") {
        connection.execute("ALTER TABLE journal ADD COLUMN payload_len INTEGER", [])?;
    }
    if !columns.iter().any(|c| c == "payload") {
        return Ok(());
    }
    let blobs: Vec<(i64, Vec<u8>)> = connection
        .prepare("SELECT seq, payload FROM journal WHERE payload IS NOT NULL")?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (seq, blob) in blobs {
        std::fs::write(payload_path(dir, seq as u64), &blob).map_err(Error::Payload)?;
        connection.execute(
            "UPDATE journal SET payload = NULL, payload_len = ?2 WHERE seq = ?1",
            params![seq, blob.len() as i64],
        )?;
    }
    Ok(())
}

/// Removes payload files whose entry does not exist (written by a transaction that did not
/// commit, or left behind by a failed removal).
fn remove_orphan_payloads(connection: &Connection, dir: &Path) -> Result<()> {
    let listing = std::fs::read_dir(dir).map_err(|source| Error::Io {
        path: dir.display().to_string(),
        source,
    })?;
    let mut exists = connection.prepare("SELECT 1 FROM journal WHERE seq = ?1")?;
    for file in listing.flatten() {
        let name = file.file_name();
        let Some(seq) = name
            .to_str()
            .and_then(|name| name.strip_suffix(".ndjson"))
            .and_then(|seq| seq.parse::<i64>().ok())
        else {
            continue;
        };
        if !exists.exists(params![seq])? {
            let _ = std::fs::remove_file(file.path());
        }
    }
    Ok(())
}

fn read_entry(connection: &Connection, column: &str, value: u64) -> Result<Option<JournalEntry>> {
    type EntryRow = (i64, i64, Option<String>, i64, String, bool);
    let row: Option<EntryRow> = connection
        .query_row(
            &format!(
                "SELECT seq, task_uid, index_uid, created_at, calls, held FROM journal WHERE {column} = ?1"
            ),
            params![value as i64],
            |row| {
                Ok((
                    row.get(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    row.get(3)?,
                    row.get(4)?,
                    row.get(5)?,
                ))
            },
        )
        .optional()?;
    let Some((seq, task_uid, index_uid, created_at, calls, held)) = row else {
        return Ok(None);
    };
    Ok(Some(JournalEntry {
        seq: seq as u64,
        task_uid: task_uid as u64,
        index_uid,
        created_at: from_nanos(Some(created_at)).ok_or(Error::Corrupt("journal time"))?,
        calls: serde_json::from_str(&calls)?,
        held,
    }))
}

impl Store for SqliteStore {
    fn create_task(&self, task: &TaskRecord) -> Result<u64> {
        let mut connection = self.lock();
        let tx = connection.transaction()?;
        let uid = insert_task(&tx, task)?;
        tx.commit()?;
        Ok(uid)
    }

    fn create_journaled_task(
        &self,
        task: &TaskRecord,
        entry: &NewEntry,
        held: bool,
    ) -> Result<(u64, u64)> {
        let mut connection = self.lock();
        let tx = connection.transaction()?;
        let uid = insert_task(&tx, task)?;
        tx.execute(
            "INSERT INTO journal (task_uid, index_uid, created_at, calls, held, payload_len)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                uid as i64,
                entry.index_uid,
                nanos(task.enqueued_at),
                serde_json::to_string(&entry.calls)?,
                held,
                entry.payload.as_ref().map(|p| p.len() as i64),
            ],
        )?;
        let seq = tx.last_insert_rowid();
        if let Some(payload) = &entry.payload {
            // A sequence number of a transaction that did not commit may be given again: the
            // file is created anew.
            let file =
                std::fs::File::create(self.payload_path(seq as u64)).map_err(Error::Payload)?;
            let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
            payload.write_to(&mut out).map_err(Error::Payload)?;
            let file = out
                .into_inner()
                .map_err(|e| Error::Payload(e.into_error()))?;
            let written = file.metadata().map_err(Error::Payload)?.len();
            if written != payload.len() {
                return Err(Error::Corrupt("payload shorter than its declared length"));
            }
        }
        for (position, call) in entry.calls.iter().enumerate() {
            tx.execute(
                "INSERT INTO journal_targets (node, seq, call) VALUES (?1, ?2, ?3)",
                params![call.node, seq, position as i64],
            )?;
        }
        tx.commit()?;
        Ok((uid, seq as u64))
    }

    fn release_entry(&self, seq: u64) -> Result<()> {
        self.lock().execute(
            "UPDATE journal SET held = 0 WHERE seq = ?1",
            params![seq as i64],
        )?;
        Ok(())
    }

    fn release_held(&self, journaled_before: OffsetDateTime) -> Result<u64> {
        let released = self.lock().execute(
            "UPDATE journal SET held = 0 WHERE held = 1 AND created_at < ?1",
            params![nanos(journaled_before)],
        )?;
        Ok(released as u64)
    }

    fn abandon_entry(&self, seq: u64) -> Result<()> {
        let mut connection = self.lock();
        let tx = connection.transaction()?;
        tx.execute(
            "DELETE FROM tasks WHERE uid = (SELECT task_uid FROM journal WHERE seq = ?1)",
            params![seq as i64],
        )?;
        tx.execute("DELETE FROM deliveries WHERE seq = ?1", params![seq as i64])?;
        tx.execute(
            "DELETE FROM journal_targets WHERE seq = ?1",
            params![seq as i64],
        )?;
        tx.execute("DELETE FROM journal WHERE seq = ?1", params![seq as i64])?;
        tx.commit()?;
        drop(connection);
        self.remove_payloads(&[seq]);
        Ok(())
    }

    fn journal_entry(&self, seq: u64) -> Result<Option<JournalEntry>> {
        let connection = self.lock();
        read_entry(&connection, "seq", seq)
    }

    fn journal_entry_of_task(&self, task_uid: u64) -> Result<Option<JournalEntry>> {
        let connection = self.lock();
        read_entry(&connection, "task_uid", task_uid)
    }

    fn payload_ranges(&self, seq: u64, ranges: &[(u64, u64)]) -> Result<Vec<u8>> {
        use std::os::unix::fs::FileExt;
        let file = std::fs::File::open(self.payload_path(seq)).map_err(Error::Payload)?;
        let total: u64 = ranges.iter().map(|(start, end)| end - start).sum();
        let mut out = vec![0u8; total as usize];
        let mut at = 0usize;
        for (start, end) in ranges {
            let len = (end - start) as usize;
            file.read_exact_at(&mut out[at..at + len], *start)
                .map_err(Error::Payload)?;
            at += len;
        }
        Ok(out)
    }

    fn next_delivery(&self, node: &str) -> Result<Option<(JournalEntry, u32)>> {
        let connection = self.lock();
        let next: Option<(i64, i64)> = connection
            .query_row(
                "SELECT t.seq, t.call FROM journal_targets t
                 LEFT JOIN deliveries d ON d.node = t.node AND d.seq = t.seq AND d.call = t.call
                 WHERE t.node = ?1 AND d.node IS NULL ORDER BY t.seq, t.call LIMIT 1",
                params![node],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?;
        let Some((seq, call)) = next else {
            return Ok(None);
        };
        Ok(read_entry(&connection, "seq", seq as u64)?
            .filter(|entry| !entry.held)
            .map(|entry| (entry, call as u32)))
    }

    fn undelivered(&self, node: &str, index_uid: Option<&str>) -> Result<u64> {
        let count: i64 = self.lock().query_row(
            "SELECT COUNT(*) FROM journal_targets t
             JOIN journal j ON j.seq = t.seq
             LEFT JOIN deliveries d ON d.node = t.node AND d.seq = t.seq AND d.call = t.call
             WHERE t.node = ?1 AND d.node IS NULL AND (?2 IS NULL OR j.index_uid = ?2)",
            params![node, index_uid],
            |row| row.get(0),
        )?;
        Ok(count as u64)
    }

    fn record_delivery(&self, delivery: &Delivery) -> Result<()> {
        let mut connection = self.lock();
        let tx = connection.transaction()?;
        let known: Option<Option<i64>> = tx
            .query_row(
                "SELECT node_task FROM deliveries WHERE node = ?1 AND seq = ?2 AND call = ?3",
                params![delivery.node, delivery.seq as i64, delivery.call as i64],
                |row| row.get(0),
            )
            .optional()?;
        upsert_delivery(&tx, delivery)?;
        if let Some(node_task) = delivery.node_task {
            tx.execute(
                "INSERT INTO node_marks (node, last_task) VALUES (?1, ?2)
                 ON CONFLICT(node) DO UPDATE SET last_task = MAX(last_task, excluded.last_task)",
                params![delivery.node, node_task as i64],
            )?;
        }
        let new_node_task = delivery
            .node_task
            .filter(|uid| known.flatten() != Some(*uid as i64));
        if let Some(node_task) = new_node_task {
            let task: Option<(i64, String)> = tx
                .query_row(
                    "SELECT t.uid, t.node_tasks FROM tasks t JOIN journal j ON j.task_uid = t.uid
                     WHERE j.seq = ?1",
                    params![delivery.seq as i64],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional()?;
            if let Some((uid, node_tasks)) = task {
                let mut refs: Vec<NodeTaskRef> = serde_json::from_str(&node_tasks)?;
                refs.push(NodeTaskRef {
                    node: delivery.node.clone(),
                    uid: node_task,
                });
                tx.execute(
                    "UPDATE tasks SET node_tasks = ?2 WHERE uid = ?1",
                    params![uid, serde_json::to_string(&refs)?],
                )?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn deliveries(&self, seq: u64) -> Result<Vec<Delivery>> {
        let connection = self.lock();
        let mut statement = connection.prepare(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE seq = ?1 ORDER BY call, node"
        ))?;
        let rows = statement
            .query_map(params![seq as i64], read_delivery)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter().map(RawDelivery::into_delivery).collect()
    }

    fn unfinished_deliveries(&self) -> Result<Vec<Delivery>> {
        let connection = self.lock();
        let mut statement = connection.prepare(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries
             WHERE status IN ('enqueued', 'processing') ORDER BY seq, call"
        ))?;
        let rows = statement
            .query_map([], read_delivery)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter().map(RawDelivery::into_delivery).collect()
    }

    fn node_busy_with(&self, node: &str, index_uid: &str) -> Result<bool> {
        let count: i64 = self.lock().query_row(
            "SELECT COUNT(*) FROM deliveries d JOIN journal j ON j.seq = d.seq
             WHERE d.node = ?1 AND j.index_uid = ?2 AND d.status IN ('enqueued', 'processing')",
            params![node, index_uid],
            |row| row.get(0),
        )?;
        Ok(count > 0)
    }

    fn last_node_task(&self, node: &str) -> Result<Option<u64>> {
        let last: Option<i64> = self
            .lock()
            .query_row(
                "SELECT last_task FROM node_marks WHERE node = ?1",
                params![node],
                |row| row.get(0),
            )
            .optional()?;
        Ok(last.map(|uid| uid as u64))
    }

    fn oldest_undelivered(&self, node: &str) -> Result<Option<OffsetDateTime>> {
        let oldest: Option<i64> = self.lock().query_row(
            "SELECT MIN(j.created_at) FROM journal_targets t
             JOIN journal j ON j.seq = t.seq
             LEFT JOIN deliveries d ON d.node = t.node AND d.seq = t.seq AND d.call = t.call
             WHERE t.node = ?1 AND d.node IS NULL",
            params![node],
            |row| row.get(0),
        )?;
        Ok(from_nanos(oldest))
    }

    fn journal_bytes(&self) -> Result<u64> {
        let bytes: Option<i64> =
            self.lock()
                .query_row("SELECT SUM(payload_len) FROM journal", [], |row| row.get(0))?;
        Ok(bytes.unwrap_or(0) as u64)
    }

    fn undelivered_bytes(&self, node: &str) -> Result<u64> {
        let bytes: Option<i64> = self.lock().query_row(
            "SELECT SUM(payload_len) FROM journal WHERE seq IN (
                SELECT t.seq FROM journal_targets t
                LEFT JOIN deliveries d ON d.node = t.node AND d.seq = t.seq AND d.call = t.call
                WHERE t.node = ?1 AND d.node IS NULL)",
            params![node],
            |row| row.get(0),
        )?;
        Ok(bytes.unwrap_or(0) as u64)
    }

    fn journal_head(&self) -> Result<u64> {
        let head: Option<i64> =
            self.lock()
                .query_row("SELECT MAX(seq) FROM journal", [], |row| row.get(0))?;
        Ok(head.unwrap_or(0) as u64)
    }

    fn undelivered_through(&self, node: &str, seq: u64) -> Result<u64> {
        let count: i64 = self.lock().query_row(
            "SELECT COUNT(*) FROM journal_targets t
             LEFT JOIN deliveries d ON d.node = t.node AND d.seq = t.seq AND d.call = t.call
             WHERE t.node = ?1 AND t.seq <= ?2 AND d.node IS NULL",
            params![node, seq as i64],
            |row| row.get(0),
        )?;
        Ok(count as u64)
    }

    fn node_busy(&self, node: &str) -> Result<bool> {
        let count: i64 = self.lock().query_row(
            "SELECT COUNT(*) FROM deliveries
             WHERE node = ?1 AND status IN ('enqueued', 'processing')",
            params![node],
            |row| row.get(0),
        )?;
        Ok(count > 0)
    }

    fn supersede_through(&self, node: &str, seq: u64) -> Result<u64> {
        let mut connection = self.lock();
        let tx = connection.transaction()?;
        let now = nanos(OffsetDateTime::now_utc());
        let delivered = tx.execute(
            "UPDATE deliveries SET status = 'succeeded', finished_at = ?3
             WHERE node = ?1 AND seq <= ?2 AND status IN ('enqueued', 'processing')",
            params![node, seq as i64, now],
        )?;
        let undelivered = tx.execute(
            "INSERT INTO deliveries (node, seq, call, node_task, status, started_at, finished_at)
             SELECT t.node, t.seq, t.call, NULL, 'succeeded', ?3, ?3 FROM journal_targets t
             LEFT JOIN deliveries d ON d.node = t.node AND d.seq = t.seq AND d.call = t.call
             WHERE t.node = ?1 AND t.seq <= ?2 AND d.node IS NULL",
            params![node, seq as i64, now],
        )?;
        tx.commit()?;
        Ok((delivered + undelivered) as u64)
    }

    fn set_last_node_task(&self, node: &str, uid: Option<u64>) -> Result<()> {
        let connection = self.lock();
        match uid {
            Some(uid) => connection.execute(
                "INSERT INTO node_marks (node, last_task) VALUES (?1, ?2)
                 ON CONFLICT(node) DO UPDATE SET last_task = excluded.last_task",
                params![node, uid as i64],
            )?,
            None => connection.execute("DELETE FROM node_marks WHERE node = ?1", params![node])?,
        };
        Ok(())
    }

    fn prune_journal(&self) -> Result<u64> {
        let mut connection = self.lock();
        let tx = connection.transaction()?;
        let pruned: Vec<u64> = tx
            .prepare(
            "DELETE FROM journal WHERE held = 0 AND seq IN (
                 SELECT j.seq FROM journal j LEFT JOIN tasks t ON t.uid = j.task_uid
                 WHERE (t.uid IS NULL OR t.status IN ('succeeded', 'failed', 'canceled'))
                 AND NOT EXISTS (
                     SELECT 1 FROM journal_targets g
                     LEFT JOIN deliveries d ON d.node = g.node AND d.seq = g.seq AND d.call = g.call
                     WHERE g.seq = j.seq AND (d.node IS NULL OR d.status IN ('enqueued', 'processing'))
                 )
             ) RETURNING seq",
            )?
            .query_map([], |row| row.get::<_, i64>(0).map(|seq| seq as u64))?
            .collect::<rusqlite::Result<_>>()?;
        tx.execute(
            "DELETE FROM journal_targets WHERE seq NOT IN (SELECT seq FROM journal)",
            [],
        )?;
        tx.execute(
            "DELETE FROM deliveries WHERE seq NOT IN (SELECT seq FROM journal)",
            [],
        )?;
        tx.commit()?;
        drop(connection);
        self.remove_payloads(&pruned);
        Ok(pruned.len() as u64)
    }

    fn set_node_lost(&self, node: &str, lost: bool) -> Result<()> {
        let sql = if lost {
            "INSERT OR IGNORE INTO lost_nodes (node) VALUES (?1)"
        } else {
            "DELETE FROM lost_nodes WHERE node = ?1"
        };
        self.lock().execute(sql, params![node])?;
        Ok(())
    }

    fn topology(&self) -> Result<Option<Topology>> {
        let value: Option<String> = self
            .lock()
            .query_row("SELECT value FROM topology WHERE id = 0", [], |row| {
                row.get(0)
            })
            .optional()?;
        Ok(value
            .map(|value| serde_json::from_str(&value))
            .transpose()?)
    }

    fn put_topology(&self, topology: &Topology) -> Result<()> {
        self.lock().execute(
            "INSERT INTO topology (id, value) VALUES (0, ?1)
             ON CONFLICT (id) DO UPDATE SET value = excluded.value",
            params![serde_json::to_string(topology)?],
        )?;
        Ok(())
    }

    fn placement_record(&self) -> Result<Option<PlacementRecord>> {
        let value: Option<String> = self
            .lock()
            .query_row("SELECT value FROM placement WHERE id = 0", [], |row| {
                row.get(0)
            })
            .optional()?;
        Ok(value
            .map(|value| serde_json::from_str(&value))
            .transpose()?)
    }

    fn put_placement_record(&self, record: &PlacementRecord) -> Result<()> {
        self.lock().execute(
            "INSERT INTO placement (id, value) VALUES (0, ?1)
             ON CONFLICT (id) DO UPDATE SET value = excluded.value",
            params![serde_json::to_string(record)?],
        )?;
        Ok(())
    }

    fn lost_nodes(&self) -> Result<Vec<String>> {
        let connection = self.lock();
        let mut statement = connection.prepare("SELECT node FROM lost_nodes ORDER BY node")?;
        let rows = statement
            .query_map([], |row| row.get(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?;
        Ok(rows)
    }

    fn set_stale(&self, index_uid: &str, node: &str, stale: Option<&StaleShards>) -> Result<()> {
        let connection = self.lock();
        match stale {
            Some(shards) => connection.execute(
                "INSERT INTO stale_replicas (index_uid, node, shards) VALUES (?1, ?2, ?3)
                 ON CONFLICT (index_uid, node) DO UPDATE SET shards = excluded.shards",
                params![index_uid, node, serde_json::to_string(shards)?],
            )?,
            None => connection.execute(
                "DELETE FROM stale_replicas WHERE index_uid = ?1 AND node = ?2",
                params![index_uid, node],
            )?,
        };
        Ok(())
    }

    fn stale_replicas(&self) -> Result<Vec<(String, String, StaleShards)>> {
        let connection = self.lock();
        let mut statement = connection
            .prepare("SELECT index_uid, node, shards FROM stale_replicas ORDER BY 1, 2")?;
        let rows = statement
            .query_map([], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get::<_, Option<String>>(2)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter()
            .map(|(index, node, shards)| {
                // A row written before replicas were tracked per shard covers every shard.
                let shards = match shards {
                    Some(json) => serde_json::from_str(&json)?,
                    None => StaleShards::All,
                };
                Ok((index, node, shards))
            })
            .collect()
    }

    fn update_task(&self, task: &TaskRecord) -> Result<()> {
        let mut connection = self.lock();
        let tx = connection.transaction()?;
        if task.status.is_finished() {
            tx.execute(
                "INSERT OR IGNORE INTO webhook_outbox(task_uid)
                 SELECT uid FROM tasks WHERE uid = ?1 AND status IN ('enqueued', 'processing')
                     AND EXISTS (SELECT 1 FROM webhooks)",
                params![task.uid as i64],
            )?;
        }
        tx.execute(
            "UPDATE tasks SET status = ?2, details = ?3, error = ?4,
                 started_at = ?5, finished_at = ?6 WHERE uid = ?1",
            params![
                task.uid as i64,
                task.status.as_str(),
                json_column(&task.details)?,
                json_column(&task.error)?,
                task.started_at.map(nanos),
                task.finished_at.map(nanos),
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn webhook_outbox(&self, limit: usize) -> Result<Vec<u64>> {
        let connection = self.lock();
        let mut statement =
            connection.prepare("SELECT task_uid FROM webhook_outbox ORDER BY task_uid LIMIT ?1")?;
        let uids = statement
            .query_map(params![limit as i64], |row| row.get::<_, i64>(0))?
            .map(|uid| uid.map(|uid| uid as u64))
            .collect::<rusqlite::Result<_>>()?;
        Ok(uids)
    }

    fn webhooks_sent(&self, uids: &[u64]) -> Result<()> {
        let mut connection = self.lock();
        let tx = connection.transaction()?;
        {
            let mut statement = tx.prepare("DELETE FROM webhook_outbox WHERE task_uid = ?1")?;
            for uid in uids {
                statement.execute(params![*uid as i64])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn set_canceled_by(&self, uid: u64, canceled_by: u64) -> Result<()> {
        self.lock().execute(
            "UPDATE tasks SET canceled_by = ?2 WHERE uid = ?1",
            params![uid as i64, canceled_by as i64],
        )?;
        Ok(())
    }

    fn get_task(&self, uid: u64) -> Result<Option<TaskRecord>> {
        let raw = self
            .lock()
            .query_row(
                &format!("SELECT {TASK_COLUMNS} FROM tasks WHERE uid = ?1"),
                params![uid as i64],
                read_task,
            )
            .optional()?;
        raw.map(RawTask::into_record).transpose()
    }

    fn list_tasks(&self, page: &TaskPage) -> Result<(Vec<TaskRecord>, u64)> {
        let (clause, args) = where_clause(&page.filter);
        let connection = self.lock();
        let total: i64 = connection.query_row(
            &format!("SELECT COUNT(*) FROM tasks WHERE {clause}"),
            params_from_iter(args.iter()),
            |row| row.get(0),
        )?;
        let mut args = args;
        let (from_clause, order) = match (page.from, page.reverse) {
            (Some(_), false) => (" AND uid <= ?", "DESC"),
            (Some(_), true) => (" AND uid >= ?", "ASC"),
            (None, false) => ("", "DESC"),
            (None, true) => ("", "ASC"),
        };
        if let Some(from) = page.from {
            args.push(SqlValue::Integer(from.min(i64::MAX as u64) as i64));
        }
        args.push(SqlValue::Integer(page.limit.min(i64::MAX as usize) as i64));
        let sql = format!(
            "SELECT {TASK_COLUMNS} FROM tasks WHERE {clause}{from_clause} ORDER BY uid {order} LIMIT ?"
        );
        let mut statement = connection.prepare(&sql)?;
        let raws = statement
            .query_map(params_from_iter(args.iter()), read_task)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let records = raws
            .into_iter()
            .map(RawTask::into_record)
            .collect::<Result<Vec<_>>>()?;
        Ok((records, total as u64))
    }

    fn matching_task_uids(&self, filter: &TaskFilter) -> Result<Vec<u64>> {
        let (clause, args) = where_clause(filter);
        let connection = self.lock();
        let mut statement = connection.prepare(&format!(
            "SELECT uid FROM tasks WHERE {clause} ORDER BY uid"
        ))?;
        let uids = statement
            .query_map(params_from_iter(args.iter()), |row| row.get::<_, i64>(0))?
            .map(|uid| uid.map(|u| u as u64))
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(uids)
    }

    fn unfinished_tasks(&self) -> Result<Vec<TaskRecord>> {
        let connection = self.lock();
        let mut statement = connection.prepare(&format!(
            "SELECT {TASK_COLUMNS} FROM tasks WHERE status IN ('enqueued', 'processing') ORDER BY uid"
        ))?;
        let raws = statement
            .query_map([], read_task)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        raws.into_iter().map(RawTask::into_record).collect()
    }

    fn delete_tasks(&self, uids: &[u64]) -> Result<u64> {
        let mut connection = self.lock();
        let tx = connection.transaction()?;
        let mut deleted = 0;
        {
            let mut statement = tx.prepare("DELETE FROM tasks WHERE uid = ?1")?;
            let mut unannounced = tx.prepare("DELETE FROM webhook_outbox WHERE task_uid = ?1")?;
            for uid in uids {
                deleted += statement.execute(params![*uid as i64])? as u64;
                unannounced.execute(params![*uid as i64])?;
            }
        }
        tx.commit()?;
        Ok(deleted)
    }

    fn put_index(&self, index: &IndexRecord) -> Result<()> {
        self.lock().execute(
            "INSERT INTO indexes(uid, record) VALUES (?1, ?2)
             ON CONFLICT(uid) DO UPDATE SET record = excluded.record",
            params![index.uid, serde_json::to_string(index)?],
        )?;
        self.cached_indexes()
            .insert(index.uid.clone(), index.clone());
        Ok(())
    }

    fn get_index(&self, uid: &str) -> Result<Option<IndexRecord>> {
        if let Some(index) = self.cached_indexes().get(uid) {
            return Ok(Some(index.clone()));
        }
        let text: Option<String> = self
            .lock()
            .query_row(
                "SELECT record FROM indexes WHERE uid = ?1",
                params![uid],
                |row| row.get(0),
            )
            .optional()?;
        let index: Option<IndexRecord> = match text {
            Some(t) => Some(serde_json::from_str(&t)?),
            None => None,
        };
        if let Some(index) = &index {
            self.cached_indexes().insert(uid.to_string(), index.clone());
        }
        Ok(index)
    }

    fn list_indexes(&self) -> Result<Vec<IndexRecord>> {
        self.list_json("SELECT record FROM indexes ORDER BY uid")
    }

    fn put_key(&self, uid: &str, key: &serde_json::Value) -> Result<()> {
        self.put_record(RecordTable::ApiKeys, uid, key)
    }

    fn get_key(&self, uid: &str) -> Result<Option<serde_json::Value>> {
        self.get_record(RecordTable::ApiKeys, uid)
    }

    fn list_keys(&self) -> Result<Vec<serde_json::Value>> {
        self.list_records(RecordTable::ApiKeys)
    }

    fn delete_key(&self, uid: &str) -> Result<bool> {
        self.delete_record(RecordTable::ApiKeys, uid)
    }

    fn put_webhook(&self, uuid: &str, webhook: &serde_json::Value) -> Result<()> {
        self.put_record(RecordTable::Webhooks, uuid, webhook)
    }

    fn list_webhooks(&self) -> Result<Vec<serde_json::Value>> {
        self.list_records(RecordTable::Webhooks)
    }

    fn delete_webhook(&self, uuid: &str) -> Result<bool> {
        self.delete_record(RecordTable::Webhooks, uuid)
    }

    fn delete_index(&self, uid: &str) -> Result<bool> {
        let deleted = self
            .lock()
            .execute("DELETE FROM indexes WHERE uid = ?1", params![uid])?
            > 0;
        self.cached_indexes().remove(uid);
        Ok(deleted)
    }

    fn try_lock_writes(&self, _holder: &str, _ttl: Duration) -> Result<bool> {
        Ok(true)
    }

    fn extend_write_lock(&self, _holder: &str, _ttl: Duration) -> Result<bool> {
        Ok(true)
    }

    fn unlock_writes(&self, _holder: &str) -> Result<()> {
        Ok(())
    }

    fn set_held_nodes(&self, _nodes: &[String]) -> Result<()> {
        Ok(())
    }

    fn held_nodes(&self) -> Result<Vec<String>> {
        Ok(Vec::new())
    }

    fn versions(&self) -> Result<Versions> {
        // Nobody else writes the database: nothing another process could have changed.
        Ok(Versions::default())
    }

    fn acquire_lease(&self, holder: &str, ttl: Duration) -> Result<Option<Lease>> {
        let mut state = self.leases();
        if state.current().is_some() {
            return Ok(None);
        }
        state.last_token += 1;
        let lease = Lease {
            holder: holder.to_string(),
            token: state.last_token,
        };
        state.held = Some((lease.clone(), Instant::now() + ttl));
        Ok(Some(lease))
    }

    fn renew_lease(&self, lease: &Lease, ttl: Duration) -> Result<bool> {
        let mut state = self.leases();
        if state.current() != Some(lease) {
            return Ok(false);
        }
        state.held = Some((lease.clone(), Instant::now() + ttl));
        Ok(true)
    }

    fn release_lease(&self, lease: &Lease) -> Result<()> {
        let mut state = self.leases();
        if state.current() == Some(lease) {
            state.held = None;
        }
        Ok(())
    }

    fn current_lease(&self) -> Result<Option<Lease>> {
        Ok(self.leases().current().cloned())
    }

    fn set_fence(&self, _lease: Option<&Lease>) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_version_is_recorded_and_a_newer_one_refused() -> Result<()> {
        let dir = tempfile::tempdir().expect("temp dir");
        drop(SqliteStore::open(dir.path())?);
        let raw = Connection::open(dir.path().join("miroir.sqlite"))?;
        let version: u32 = raw.pragma_query_value(None, "user_version", |row| row.get(0))?;
        assert_eq!(version, SCHEMA_VERSION);
        // Reopening is idempotent.
        drop(SqliteStore::open(dir.path())?);
        raw.pragma_update(None, "user_version", SCHEMA_VERSION + 1)?;
        drop(raw);
        match SqliteStore::open(dir.path()) {
            Err(Error::NewerSchema { found, known }) => {
                assert_eq!((found, known), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
            }
            other => panic!(
                "a newer schema must be refused, got {:?}",
                other.map(|_| ())
            ),
        }
        // Nothing was written to it.
        let raw = Connection::open(dir.path().join("miroir.sqlite"))?;
        let version: u32 = raw.pragma_query_value(None, "user_version", |row| row.get(0))?;
        assert_eq!(version, SCHEMA_VERSION + 1);
        Ok(())
    }
}
