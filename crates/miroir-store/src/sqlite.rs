//! The embedded SQLite backend.
//!
//! One connection behind a mutex: Miroir's store traffic is a few small statements per client
//! write and per task poll, far below what one SQLite connection serves, and a single writer
//! avoids `SQLITE_BUSY` handling altogether. Timestamps are stored as Unix nanoseconds so the
//! `/tasks` date filters are plain integer comparisons. WAL mode keeps writes cheap.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::types::Value as SqlValue;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row};
use time::OffsetDateTime;

use miroir_core::task::TaskStatus;

use crate::{Error, IndexRecord, Result, Store, TaskFilter, TaskPage, TaskRecord};

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
CREATE TABLE IF NOT EXISTS counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
";

/// The SQLite-backed [`Store`].
pub struct SqliteStore {
    connection: Mutex<Connection>,
    /// Index records already read or written: every search reads its index's record, and
    /// this process is the database's only writer, so the copy stays exact.
    index_cache: Mutex<HashMap<String, IndexRecord>>,
}

impl SqliteStore {
    /// Opens (creating if needed) `miroir.sqlite` in `dir`.
    pub fn open(dir: &Path) -> Result<SqliteStore> {
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            path: dir.display().to_string(),
            source,
        })?;
        let connection = Connection::open(dir.join("miroir.sqlite"))?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "NORMAL")?;
        connection.execute_batch(SCHEMA)?;
        Ok(SqliteStore {
            connection: Mutex::new(connection),
            index_cache: Mutex::new(HashMap::new()),
        })
    }

    fn cached_indexes(&self) -> MutexGuard<'_, HashMap<String, IndexRecord>> {
        self.index_cache
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

impl Store for SqliteStore {
    fn create_task(&self, task: &TaskRecord) -> Result<u64> {
        let mut connection = self.lock();
        let tx = connection.transaction()?;
        // Uids are never reused, even after task deletion, as on Meilisearch.
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
        tx.commit()?;
        Ok(next as u64)
    }

    fn update_task(&self, task: &TaskRecord) -> Result<()> {
        self.lock().execute(
            "UPDATE tasks SET status = ?2, canceled_by = ?3, details = ?4, error = ?5,
                 started_at = ?6, finished_at = ?7, node_tasks = ?8 WHERE uid = ?1",
            params![
                task.uid as i64,
                task.status.as_str(),
                task.canceled_by.map(|c| c as i64),
                json_column(&task.details)?,
                json_column(&task.error)?,
                task.started_at.map(nanos),
                task.finished_at.map(nanos),
                serde_json::to_string(&task.node_tasks)?,
            ],
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
            for uid in uids {
                deleted += statement.execute(params![*uid as i64])? as u64;
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NodeTaskRef;
    use serde_json::json;

    fn task(index: &str, kind: &str) -> TaskRecord {
        TaskRecord {
            uid: 0,
            index_uid: Some(index.to_string()),
            status: TaskStatus::Enqueued,
            kind: kind.to_string(),
            canceled_by: None,
            details: Some(json!({"receivedDocuments": 3})),
            error: None,
            enqueued_at: OffsetDateTime::now_utc(),
            started_at: None,
            finished_at: None,
            node_tasks: vec![NodeTaskRef {
                node: "n1".into(),
                uid: 7,
            }],
            custom_metadata: None,
        }
    }

    #[test]
    fn tasks_survive_reopen_and_filter() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|source| Error::Io {
            path: "tmp".into(),
            source,
        })?;
        {
            let store = SqliteStore::open(dir.path())?;
            assert_eq!(store.create_task(&task("a", "indexCreation"))?, 0);
            assert_eq!(
                store.create_task(&task("b", "documentAdditionOrUpdate"))?,
                1
            );
            let mut third = task("a", "documentAdditionOrUpdate");
            third.uid = store.create_task(&third)?;
            third.status = TaskStatus::Succeeded;
            store.update_task(&third)?;
        }
        let store = SqliteStore::open(dir.path())?;
        let page = TaskPage {
            filter: TaskFilter::default(),
            from: None,
            limit: 2,
            reverse: false,
        };
        let (tasks, total) = store.list_tasks(&page)?;
        assert_eq!(total, 3);
        assert_eq!(tasks.iter().map(|t| t.uid).collect::<Vec<_>>(), [2, 1]);
        assert_eq!(tasks[0].status, TaskStatus::Succeeded);
        assert_eq!(tasks[0].node_tasks[0].uid, 7);

        let filtered = TaskPage {
            filter: TaskFilter {
                index_uids: Some(vec!["a".into()]),
                statuses: Some(vec![TaskStatus::Enqueued]),
                ..TaskFilter::default()
            },
            from: None,
            limit: 20,
            reverse: true,
        };
        let (tasks, total) = store.list_tasks(&filtered)?;
        assert_eq!((tasks.len(), total), (1, 1));
        assert_eq!(tasks[0].uid, 0);

        let patterned = TaskPage {
            filter: TaskFilter {
                index_patterns: Some(vec!["a*".into()]),
                ..TaskFilter::default()
            },
            from: None,
            limit: 20,
            reverse: false,
        };
        assert_eq!(store.list_tasks(&patterned)?.1, 2);

        assert_eq!(store.unfinished_tasks()?.len(), 2);
        assert_eq!(store.delete_tasks(&[0, 5])?, 1);
        // Uids keep growing after a deletion.
        assert_eq!(store.create_task(&task("c", "indexCreation"))?, 3);
        Ok(())
    }

    #[test]
    fn indexes_round_trip() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|source| Error::Io {
            path: "tmp".into(),
            source,
        })?;
        let store = SqliteStore::open(dir.path())?;
        let now = OffsetDateTime::now_utc();
        let record = IndexRecord {
            uid: "movies".into(),
            primary_key: None,
            shard_count: 16,
            created_at: now,
            updated_at: now,
            max_values_per_facet: Some(7),
            sort_facet_values_by: None,
            distinct_attribute: None,
            max_total_hits: None,
            whole: true,
            foreign_keys: vec![
                serde_json::json!({"foreignIndexUid": "authors", "fieldName": "author"}),
            ],
        };
        store.put_index(&record)?;
        assert_eq!(store.get_index("movies")?, Some(record.clone()));
        assert_eq!(store.list_indexes()?.len(), 1);
        assert!(store.delete_index("movies")?);
        assert_eq!(store.get_index("movies")?, None);
        Ok(())
    }
}
