//! The Redis backend, for several Miroir processes sharing one state.
//!
//! Every record lives under the `miroir:` prefix of the database the URL names
//! (`redis://host:port/db`), so one Redis serves several clusters through its database numbers.
//! The layout (`keys` names each key):
//! - a task is a hash (`task:{uid}`) with its node tasks in a list beside it; uids come from one
//!   counter (`INCR`), so every process allocates from the same sequence;
//! - listing uses secondary indexes, sorted sets of uids scored by uid: every task, and tasks by
//!   status, type, index and canceler. A filtered listing unions each filter's sets and
//!   intersects the filters into a short-lived key, then pages by score; date filters, which no
//!   set answers, are applied to the candidates' timestamps. Never `SCAN` or `KEYS`;
//! - a journal entry is a hash (`journal:{seq}`), its payload a string beside it, each node's
//!   undelivered calls a sorted set (`pending:{node}`) scored by `seq · 2^16 + call`, so a
//!   node's next call is the set's first member and a node's backlog its cardinality; node tasks
//!   not finished yet are sorted sets too (per node and global); each entry counts its calls not
//!   finished on their node, and the entries where that count is 0 form the set pruning reads;
//! - index records, API keys, webhooks, topology, placement and stale replicas are JSON values;
//!   finished tasks not yet announced to the webhooks are a sorted set (the webhook outbox).
//!
//! Writes that touch several keys, or depend on what is stored, are Lua scripts (`lua/`): Redis
//! runs each atomically, so two processes never interleave inside one, and one round trip does
//! what SQLite's transactions do. Reads are plain commands, pipelined where they fan out.
//!
//! Connections come from an r2d2 pool of synchronous connections: the [`Store`] trait is
//! synchronous, every call is a short command against a nearby Redis, and a pool lets
//! concurrent requests use several connections instead of queueing on one.
//!
//! A document payload is uploaded in chunks (`APPEND`) to a temporary key that expires if its
//! writer dies, then renamed into place by the script that journals its entry: a large upload
//! is never held whole in memory on its way to Redis.

mod keys;
mod listing;

use std::collections::{BTreeSet, HashMap};
use std::sync::RwLock;
use std::time::Duration;

use ::redis::{Client, Script, ScriptInvocation};
use r2d2::{Pool, PooledConnection};
use time::OffsetDateTime;

use miroir_core::rebalance::PlacementRecord;
use miroir_core::replica::StaleShards;
use miroir_core::task::TaskStatus;
use miroir_core::topology::Topology;

use crate::{
    Delivery, Error, IndexRecord, JournalEntry, Lease, NewEntry, NodeTaskRef, PayloadSource,
    Result, Store, TaskFilter, TaskPage, TaskRecord, Versions, SCHEMA_VERSION,
};

/// How long a payload upload may take before its temporary key expires.
const UPLOAD_TTL_SECONDS: i64 = 3600;
/// Bytes sent per `APPEND` while uploading a payload.
const UPLOAD_CHUNK: usize = 4 << 20;
/// How long a request waits for a pooled connection before failing.
const CONNECTION_WAIT: Duration = Duration::from_secs(5);
/// A journal call's position takes the low 16 bits of its score.
const CALL_BITS: u32 = 16;

/// The Lua scripts, each prepended with the helpers they share.
struct Scripts {
    create_task: Script,
    update_task: Script,
    set_canceled_by: Script,
    delete_tasks: Script,
    record_delivery: Script,
    supersede_through: Script,
    release: Script,
    abandon_entry: Script,
    prune: Script,
    put_record: Script,
    delete_record: Script,
    call: Script,
    acquire_lease: Script,
    renew_lease: Script,
    release_lease: Script,
    unlock_writes: Script,
    extend_write_lock: Script,
}

impl Scripts {
    fn load() -> Scripts {
        let script =
            |body: &str| Script::new(&format!("{}\n{body}", include_str!("lua/common.lua")));
        Scripts {
            create_task: script(include_str!("lua/create_task.lua")),
            update_task: script(include_str!("lua/update_task.lua")),
            set_canceled_by: script(include_str!("lua/set_canceled_by.lua")),
            delete_tasks: script(include_str!("lua/delete_tasks.lua")),
            record_delivery: script(include_str!("lua/record_delivery.lua")),
            supersede_through: script(include_str!("lua/supersede_through.lua")),
            release: script(include_str!("lua/release.lua")),
            abandon_entry: script(include_str!("lua/abandon_entry.lua")),
            prune: script(include_str!("lua/prune.lua")),
            put_record: script(include_str!("lua/put_record.lua")),
            delete_record: script(include_str!("lua/delete_record.lua")),
            call: script(include_str!("lua/call.lua")),
            acquire_lease: script(include_str!("lua/acquire_lease.lua")),
            renew_lease: script(include_str!("lua/renew_lease.lua")),
            release_lease: script(include_str!("lua/release_lease.lua")),
            unlock_writes: script(include_str!("lua/unlock_writes.lua")),
            extend_write_lock: script(include_str!("lua/extend_write_lock.lua")),
        }
    }
}

/// The Redis-backed [`Store`].
pub struct RedisStore {
    pool: Pool<Client>,
    scripts: Scripts,
    /// The lease every write is fenced with (`holder/token`), while this process holds it.
    fence: RwLock<Option<String>>,
}

/// The change counters of [`Versions`], as fields of the `versions` hash.
#[derive(Clone, Copy)]
enum Counter {
    Journal,
    Keys,
    Replicas,
    Topology,
    Indexes,
}

impl Counter {
    fn field(self) -> &'static str {
        match self {
            Counter::Journal => "journal",
            Counter::Keys => "keys",
            Counter::Replicas => "replicas",
            Counter::Topology => "topology",
            Counter::Indexes => "indexes",
        }
    }
}

/// A lease as the `lease` key holds it.
fn lease_value(lease: &Lease) -> String {
    format!("{}/{}", lease.holder, lease.token)
}

/// A script's error, or [`Error::Fenced`] when its fence refused it.
fn script_error(error: ::redis::RedisError) -> Error {
    if error.code() == Some("MIROIR_FENCED") {
        Error::Fenced
    } else {
        Error::Redis(error)
    }
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore").finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Connects to the Redis at `url` (`redis://[:password@]host:port/db`), checks the
    /// schema version it holds and records this Miroir's.
    pub fn open(url: &str) -> Result<RedisStore> {
        let client = Client::open(url)?;
        let pool = Pool::builder()
            .connection_timeout(CONNECTION_WAIT)
            .build(client)?;
        let store = RedisStore {
            pool,
            scripts: Scripts::load(),
            fence: RwLock::new(None),
        };
        let mut connection = store.connection()?;
        let found: Option<u32> = ::redis::cmd("GET")
            .arg(keys::SCHEMA_VERSION)
            .query(&mut *connection)?;
        let found = found.unwrap_or(0);
        if found > SCHEMA_VERSION {
            return Err(Error::NewerSchema {
                found,
                known: SCHEMA_VERSION,
            });
        }
        // Version 1 is the first Redis layout; version 2 adds the webhook outbox, a key that
        // is created when first written: there is nothing to migrate.
        if found < SCHEMA_VERSION {
            ::redis::cmd("SET")
                .arg(keys::SCHEMA_VERSION)
                .arg(SCHEMA_VERSION)
                .exec(&mut *connection)?;
        }
        drop(connection);
        Ok(store)
    }

    fn connection(&self) -> Result<PooledConnection<Client>> {
        Ok(self.pool.get()?)
    }

    /// Runs one command and reads its reply.
    fn query<T: ::redis::FromRedisValue>(&self, command: &mut ::redis::Cmd) -> Result<T> {
        Ok(command.query(&mut *self.connection()?)?)
    }

    /// An invocation of a write script, with its two leading arguments (`lua/common.lua`): this
    /// handle's fence, and the counter the write bumps.
    fn script<'a>(&self, script: &'a Script, bump: Option<Counter>) -> ScriptInvocation<'a> {
        let fence = self
            .fence
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
            .unwrap_or_default();
        let mut invocation = script.prepare_invoke();
        invocation.arg(fence).arg(bump.map_or("", Counter::field));
        invocation
    }

    /// Runs a write script.
    fn run<T: ::redis::FromRedisValue>(&self, invocation: &ScriptInvocation<'_>) -> Result<T> {
        invocation
            .invoke(&mut *self.connection()?)
            .map_err(script_error)
    }

    /// Runs one plain write command (its name and arguments), fenced and bumping `bump`.
    fn write(&self, bump: Option<Counter>, command: &[&str]) -> Result<()> {
        let mut invocation = self.script(&self.scripts.call, bump);
        for part in command {
            invocation.arg(*part);
        }
        self.run::<::redis::Value>(&invocation).map(|_| ())
    }

    /// Every member of a sorted set, in score order.
    fn members<T: ::redis::FromRedisValue>(
        &self,
        key: impl ::redis::ToRedisArgs,
    ) -> Result<Vec<T>> {
        self.query(::redis::cmd("ZRANGE").arg(key).arg(0).arg(-1))
    }

    fn get_json<T: serde::de::DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        let text: Option<String> = self.query(::redis::cmd("GET").arg(key))?;
        Ok(text.map(|t| serde_json::from_str(&t)).transpose()?)
    }

    fn set_json<T: serde::Serialize>(&self, key: &str, value: &T, bump: Counter) -> Result<()> {
        let text = serde_json::to_string(value)?;
        self.write(Some(bump), &["SET", key, &text])
    }

    /// Reads tasks by uid, in the order given, skipping those that do not exist.
    fn read_tasks(&self, uids: &[u64]) -> Result<Vec<TaskRecord>> {
        if uids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = ::redis::pipe();
        for uid in uids {
            pipe.cmd("HGETALL").arg(keys::task(*uid));
            pipe.cmd("LRANGE")
                .arg(keys::task_node_tasks(*uid))
                .arg(0)
                .arg(-1);
        }
        let replies: Vec<::redis::Value> = pipe.query(&mut *self.connection()?)?;
        let mut tasks = Vec::with_capacity(uids.len());
        for (uid, pair) in uids.iter().zip(replies.chunks(2)) {
            let [hash, refs] = pair else {
                return Err(Error::Corrupt("task reply"));
            };
            let fields: HashMap<String, String> =
                ::redis::from_redis_value_ref(hash).map_err(::redis::RedisError::from)?;
            if fields.is_empty() {
                continue;
            }
            let refs: Vec<String> =
                ::redis::from_redis_value_ref(refs).map_err(::redis::RedisError::from)?;
            tasks.push(task_from_fields(*uid, fields, &refs)?);
        }
        Ok(tasks)
    }

    /// The sequence numbers of a node's undelivered calls (each entry once).
    fn pending_entries(&self, node: &str) -> Result<BTreeSet<u64>> {
        let members: Vec<String> = self.members(keys::pending(node))?;
        members
            .iter()
            .map(|m| parse_position(m).map(|(seq, _)| seq))
            .collect()
    }

    /// One field of each of these entries (`None` where absent).
    fn entry_field(&self, seqs: &BTreeSet<u64>, field: &str) -> Result<Vec<Option<String>>> {
        if seqs.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = ::redis::pipe();
        for seq in seqs {
            pipe.cmd("HGET").arg(keys::entry(*seq)).arg(field);
        }
        Ok(pipe.query(&mut *self.connection()?)?)
    }

    fn read_entry(&self, seq: u64) -> Result<Option<JournalEntry>> {
        let fields: HashMap<String, String> =
            self.query(::redis::cmd("HGETALL").arg(keys::entry(seq)))?;
        if fields.is_empty() {
            return Ok(None);
        }
        let number = |name: &'static str| -> Result<i64> {
            fields
                .get(name)
                .and_then(|v| v.parse().ok())
                .ok_or(Error::Corrupt("journal entry"))
        };
        Ok(Some(JournalEntry {
            seq,
            task_uid: number("task_uid")? as u64,
            index_uid: fields.get("index_uid").cloned(),
            created_at: from_nanos(Some(number("created_at")?))
                .ok_or(Error::Corrupt("journal time"))?,
            calls: serde_json::from_str(
                fields.get("calls").ok_or(Error::Corrupt("journal calls"))?,
            )?,
            held: fields.get("held").map(String::as_str) == Some("1"),
        }))
    }

    fn read_deliveries(&self, positions: &[(u64, u32, String)]) -> Result<Vec<Delivery>> {
        if positions.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = ::redis::pipe();
        for (seq, call, node) in positions {
            pipe.cmd("HGETALL").arg(keys::delivery(*seq, *call, node));
        }
        let hashes: Vec<HashMap<String, String>> = pipe.query(&mut *self.connection()?)?;
        positions
            .iter()
            .zip(hashes)
            .filter(|(_, fields)| !fields.is_empty())
            .map(|((seq, call, node), fields)| delivery_from_fields(*seq, *call, node, &fields))
            .collect()
    }

    /// Uploads a payload to a temporary key, which expires unless journaled in time.
    fn upload(&self, payload: &dyn PayloadSource) -> Result<String> {
        let key = keys::upload(&uuid::Uuid::new_v4().to_string());
        let mut connection = self.connection()?;
        let mut writer = Upload {
            connection: &mut connection,
            key: &key,
            buffer: Vec::with_capacity(UPLOAD_CHUNK.min(payload.len() as usize)),
            sent: 0,
        };
        payload.write_to(&mut writer).map_err(Error::Payload)?;
        writer.send().map_err(Error::Payload)?;
        if writer.sent != payload.len() {
            return Err(Error::Corrupt("payload shorter than its declared length"));
        }
        Ok(key)
    }

    fn record_value(&self, table: &str, id: &str) -> Result<Option<serde_json::Value>> {
        let text: Option<String> =
            self.query(::redis::cmd("HGET").arg(keys::records(table)).arg(id))?;
        Ok(text.map(|t| serde_json::from_str(&t)).transpose()?)
    }

    fn list_record_values(&self, table: &str) -> Result<Vec<serde_json::Value>> {
        let ids: Vec<String> = self.members(keys::records_order(table))?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let texts: Vec<Option<String>> =
            self.query(::redis::cmd("HMGET").arg(keys::records(table)).arg(&ids))?;
        texts
            .into_iter()
            .flatten()
            .map(|t| serde_json::from_str(&t).map_err(Error::from))
            .collect()
    }

    fn put_record_value(
        &self,
        table: &str,
        id: &str,
        record: &serde_json::Value,
        bump: Option<Counter>,
    ) -> Result<()> {
        let text = serde_json::to_string(record)?;
        self.run::<i64>(
            self.script(&self.scripts.put_record, bump)
                .arg(table)
                .arg(id)
                .arg(text),
        )?;
        Ok(())
    }

    fn delete_record_value(&self, table: &str, id: &str, bump: Option<Counter>) -> Result<bool> {
        let deleted: i64 = self.run(
            self.script(&self.scripts.delete_record, bump)
                .arg(table)
                .arg(id),
        )?;
        Ok(deleted > 0)
    }

    /// Creates a task, and its journal entry when given, in one script.
    fn create(&self, task: &TaskRecord, entry: Option<(&NewEntry, bool)>) -> Result<(u64, u64)> {
        let upload = match entry.and_then(|(entry, _)| entry.payload.as_ref()) {
            Some(payload) if !payload.is_empty() => Some(self.upload(payload.as_ref())?),
            _ => None,
        };
        let mut invocation = self.script(&self.scripts.create_task, Some(Counter::Journal));
        let fields = task_fields(task)?;
        invocation.arg(fields.len());
        for (name, value) in &fields {
            invocation.arg(*name).arg(value);
        }
        invocation
            .arg(task.status.as_str())
            .arg(&task.kind)
            .arg(task.index_uid.as_deref().unwrap_or(""))
            .arg(task.canceled_by.map(|c| c.to_string()).unwrap_or_default());
        invocation.arg(task.node_tasks.len());
        for node_task in &task.node_tasks {
            invocation.arg(serde_json::to_string(node_task)?);
        }
        match entry {
            None => {
                invocation.arg("0");
            }
            Some((entry, held)) => {
                invocation
                    .arg("1")
                    .arg(if held { "1" } else { "0" })
                    .arg(entry.index_uid.as_deref().unwrap_or(""))
                    .arg(nanos(task.enqueued_at))
                    .arg(serde_json::to_string(&entry.calls)?)
                    .arg(
                        entry
                            .payload
                            .as_ref()
                            .map(|p| p.len().to_string())
                            .unwrap_or_default(),
                    )
                    .arg(upload.as_deref().unwrap_or(""))
                    .arg(entry.calls.len());
                for (position, call) in entry.calls.iter().enumerate() {
                    invocation.arg(&call.node).arg(position);
                }
            }
        }
        let (uid, seq): (u64, u64) = self.run(&invocation)?;
        Ok((uid, seq))
    }
}

/// A payload upload in progress: bytes are buffered and sent by `APPEND` in chunks.
struct Upload<'a> {
    connection: &'a mut PooledConnection<Client>,
    key: &'a str,
    buffer: Vec<u8>,
    sent: u64,
}

impl Upload<'_> {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let first = self.sent == 0;
        let mut pipe = ::redis::pipe();
        pipe.cmd("APPEND").arg(self.key).arg(&self.buffer).ignore();
        if first {
            pipe.cmd("EXPIRE")
                .arg(self.key)
                .arg(UPLOAD_TTL_SECONDS)
                .ignore();
        }
        pipe.query::<()>(&mut **self.connection)
            .map_err(std::io::Error::other)?;
        self.sent += self.buffer.len() as u64;
        self.buffer.clear();
        Ok(())
    }
}

impl std::io::Write for Upload<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let room = UPLOAD_CHUNK - self.buffer.len();
        let taken = bytes.len().min(room);
        self.buffer.extend_from_slice(&bytes[..taken]);
        if self.buffer.len() >= UPLOAD_CHUNK {
            self.send()?;
        }
        Ok(taken)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

/// A call's score in a node's sorted sets: entries in order, then calls in order.
fn call_score(seq: u64, call: u32) -> u64 {
    (seq << CALL_BITS) | u64::from(call)
}

/// `seq:call`, a member of a node's sorted sets.
fn parse_position(member: &str) -> Result<(u64, u32)> {
    member
        .split_once(':')
        .and_then(|(seq, call)| Some((seq.parse().ok()?, call.parse().ok()?)))
        .ok_or(Error::Corrupt("journal position"))
}

fn nanos(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos()).unwrap_or(i64::MAX)
}

fn from_nanos(value: Option<i64>) -> Option<OffsetDateTime> {
    value.and_then(|n| OffsetDateTime::from_unix_timestamp_nanos(i128::from(n)).ok())
}

/// The stored fields of a task's hash (those it has).
fn task_fields(task: &TaskRecord) -> Result<Vec<(&'static str, String)>> {
    let mut fields = vec![
        ("status", task.status.as_str().to_string()),
        ("kind", task.kind.clone()),
        ("enqueued_at", nanos(task.enqueued_at).to_string()),
    ];
    let optional = [
        ("index_uid", task.index_uid.clone()),
        ("canceled_by", task.canceled_by.map(|c| c.to_string())),
        ("details", json_text(&task.details)?),
        ("error", json_text(&task.error)?),
        ("started_at", task.started_at.map(|t| nanos(t).to_string())),
        (
            "finished_at",
            task.finished_at.map(|t| nanos(t).to_string()),
        ),
        ("custom_metadata", task.custom_metadata.clone()),
    ];
    fields.extend(
        optional
            .into_iter()
            .filter_map(|(name, value)| value.map(|v| (name, v))),
    );
    Ok(fields)
}

fn json_text(value: &Option<serde_json::Value>) -> Result<Option<String>> {
    Ok(value.as_ref().map(serde_json::to_string).transpose()?)
}

fn parse_json(text: Option<&String>) -> Result<Option<serde_json::Value>> {
    Ok(text.map(|t| serde_json::from_str(t)).transpose()?)
}

fn parse_time(text: Option<&String>) -> Option<OffsetDateTime> {
    from_nanos(text.and_then(|t| t.parse().ok()))
}

fn task_from_fields(
    uid: u64,
    fields: HashMap<String, String>,
    refs: &[String],
) -> Result<TaskRecord> {
    let status = fields
        .get("status")
        .and_then(|s| TaskStatus::parse(s))
        .ok_or(Error::Corrupt("task status"))?;
    Ok(TaskRecord {
        uid,
        index_uid: fields.get("index_uid").cloned(),
        status,
        kind: fields
            .get("kind")
            .cloned()
            .ok_or(Error::Corrupt("task type"))?,
        canceled_by: fields.get("canceled_by").and_then(|c| c.parse().ok()),
        details: parse_json(fields.get("details"))?,
        error: parse_json(fields.get("error"))?,
        enqueued_at: parse_time(fields.get("enqueued_at")).ok_or(Error::Corrupt("task time"))?,
        started_at: parse_time(fields.get("started_at")),
        finished_at: parse_time(fields.get("finished_at")),
        node_tasks: refs
            .iter()
            .map(|r| serde_json::from_str::<NodeTaskRef>(r))
            .collect::<std::result::Result<_, _>>()?,
        custom_metadata: fields.get("custom_metadata").cloned(),
    })
}

fn delivery_from_fields(
    seq: u64,
    call: u32,
    node: &str,
    fields: &HashMap<String, String>,
) -> Result<Delivery> {
    Ok(Delivery {
        node: node.to_string(),
        seq,
        call,
        node_task: fields.get("node_task").and_then(|t| t.parse().ok()),
        status: fields
            .get("status")
            .and_then(|s| TaskStatus::parse(s))
            .ok_or(Error::Corrupt("delivery status"))?,
        error: parse_json(fields.get("error"))?,
        details: parse_json(fields.get("details"))?,
        started_at: parse_time(fields.get("started_at")),
        finished_at: parse_time(fields.get("finished_at")),
    })
}

impl Store for RedisStore {
    fn create_task(&self, task: &TaskRecord) -> Result<u64> {
        Ok(self.create(task, None)?.0)
    }

    fn update_task(&self, task: &TaskRecord) -> Result<()> {
        self.run::<i64>(
            self.script(&self.scripts.update_task, None)
                .arg(task.uid)
                .arg(task.status.as_str())
                .arg(json_text(&task.details)?.unwrap_or_default())
                .arg(json_text(&task.error)?.unwrap_or_default())
                .arg(
                    task.started_at
                        .map(|t| nanos(t).to_string())
                        .unwrap_or_default(),
                )
                .arg(
                    task.finished_at
                        .map(|t| nanos(t).to_string())
                        .unwrap_or_default(),
                ),
        )?;
        Ok(())
    }

    fn webhook_outbox(&self, limit: usize) -> Result<Vec<u64>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.query(
            ::redis::cmd("ZRANGE")
                .arg(keys::WEBHOOK_OUTBOX)
                .arg(0)
                .arg(limit - 1),
        )
    }

    fn webhooks_sent(&self, uids: &[u64]) -> Result<()> {
        if uids.is_empty() {
            return Ok(());
        }
        let uids: Vec<String> = uids.iter().map(u64::to_string).collect();
        let mut command = vec!["ZREM", keys::WEBHOOK_OUTBOX];
        command.extend(uids.iter().map(String::as_str));
        self.write(None, &command)
    }

    fn set_canceled_by(&self, uid: u64, canceled_by: u64) -> Result<()> {
        self.run::<i64>(
            self.script(&self.scripts.set_canceled_by, None)
                .arg(uid)
                .arg(canceled_by),
        )?;
        Ok(())
    }

    fn create_journaled_task(
        &self,
        task: &TaskRecord,
        entry: &NewEntry,
        held: bool,
    ) -> Result<(u64, u64)> {
        self.create(task, Some((entry, held)))
    }

    fn release_entry(&self, seq: u64) -> Result<()> {
        self.run::<i64>(
            self.script(&self.scripts.release, Some(Counter::Journal))
                .arg("seq")
                .arg(seq),
        )?;
        Ok(())
    }

    fn release_held(&self, journaled_before: OffsetDateTime) -> Result<u64> {
        self.run(
            self.script(&self.scripts.release, Some(Counter::Journal))
                .arg("before")
                .arg(nanos(journaled_before)),
        )
    }

    fn abandon_entry(&self, seq: u64) -> Result<()> {
        self.run::<i64>(self.script(&self.scripts.abandon_entry, None).arg(seq))?;
        Ok(())
    }

    fn journal_entry(&self, seq: u64) -> Result<Option<JournalEntry>> {
        self.read_entry(seq)
    }

    fn journal_entry_of_task(&self, task_uid: u64) -> Result<Option<JournalEntry>> {
        let seq: Option<u64> =
            self.query(::redis::cmd("GET").arg(keys::journal_of_task(task_uid)))?;
        match seq {
            Some(seq) => self.read_entry(seq),
            None => Ok(None),
        }
    }

    fn payload_ranges(&self, seq: u64, ranges: &[(u64, u64)]) -> Result<Vec<u8>> {
        let mut pipe = ::redis::pipe();
        for (start, end) in ranges.iter().filter(|(start, end)| end > start) {
            pipe.cmd("GETRANGE")
                .arg(keys::payload(seq))
                .arg(*start)
                .arg(end - 1);
        }
        let parts: Vec<Vec<u8>> = pipe.query(&mut *self.connection()?)?;
        let mut out = Vec::with_capacity(parts.iter().map(Vec::len).sum());
        for ((start, end), part) in ranges.iter().filter(|(start, end)| end > start).zip(&parts) {
            if part.len() as u64 != end - start {
                return Err(Error::Payload(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("journal entry {seq}: the payload is shorter than its calls"),
                )));
            }
            out.extend_from_slice(part);
        }
        Ok(out)
    }

    fn next_delivery(&self, node: &str) -> Result<Option<(JournalEntry, u32)>> {
        let first: Vec<String> = self.query(
            ::redis::cmd("ZRANGE")
                .arg(keys::pending(node))
                .arg(0)
                .arg(0),
        )?;
        let Some(first) = first.first() else {
            return Ok(None);
        };
        let (seq, call) = parse_position(first)?;
        Ok(self
            .read_entry(seq)?
            .filter(|entry| !entry.held)
            .map(|entry| (entry, call)))
    }

    fn undelivered(&self, node: &str, index_uid: Option<&str>) -> Result<u64> {
        let Some(index_uid) = index_uid else {
            return self.query(::redis::cmd("ZCARD").arg(keys::pending(node)));
        };
        let members: Vec<String> = self.members(keys::pending(node))?;
        let positions = members
            .iter()
            .map(|m| parse_position(m))
            .collect::<Result<Vec<_>>>()?;
        let seqs: BTreeSet<u64> = positions.iter().map(|(seq, _)| *seq).collect();
        let indexes: HashMap<u64, Option<String>> = seqs
            .iter()
            .copied()
            .zip(self.entry_field(&seqs, "index_uid")?)
            .collect();
        Ok(positions
            .iter()
            .filter(|(seq, _)| indexes.get(seq).and_then(|i| i.as_deref()) == Some(index_uid))
            .count() as u64)
    }

    fn record_delivery(&self, delivery: &Delivery) -> Result<()> {
        let reference = match delivery.node_task {
            Some(uid) => serde_json::to_string(&NodeTaskRef {
                node: delivery.node.clone(),
                uid,
            })?,
            None => String::new(),
        };
        self.run::<i64>(
            self.script(&self.scripts.record_delivery, None)
                .arg(delivery.seq)
                .arg(delivery.call)
                .arg(&delivery.node)
                .arg(
                    delivery
                        .node_task
                        .map(|t| t.to_string())
                        .unwrap_or_default(),
                )
                .arg(delivery.status.as_str())
                .arg(json_text(&delivery.error)?.unwrap_or_default())
                .arg(json_text(&delivery.details)?.unwrap_or_default())
                .arg(
                    delivery
                        .started_at
                        .map(|t| nanos(t).to_string())
                        .unwrap_or_default(),
                )
                .arg(
                    delivery
                        .finished_at
                        .map(|t| nanos(t).to_string())
                        .unwrap_or_default(),
                )
                .arg(call_score(delivery.seq, delivery.call))
                .arg(reference),
        )?;
        Ok(())
    }

    fn deliveries(&self, seq: u64) -> Result<Vec<Delivery>> {
        let members: Vec<String> =
            self.query(::redis::cmd("SMEMBERS").arg(keys::entry_deliveries(seq)))?;
        let mut positions = members
            .iter()
            .map(|member| {
                member
                    .split_once(':')
                    .and_then(|(call, node)| Some((seq, call.parse().ok()?, node.to_string())))
                    .ok_or(Error::Corrupt("delivery"))
            })
            .collect::<Result<Vec<(u64, u32, String)>>>()?;
        positions.sort_by(|a, b| (a.1, &a.2).cmp(&(b.1, &b.2)));
        self.read_deliveries(&positions)
    }

    fn unfinished_deliveries(&self) -> Result<Vec<Delivery>> {
        let members: Vec<String> = self.members(keys::UNFINISHED)?;
        let positions = members
            .iter()
            .map(|member| {
                let mut parts = member.splitn(3, ':');
                let seq = parts.next().and_then(|s| s.parse().ok());
                let call = parts.next().and_then(|c| c.parse().ok());
                match (seq, call, parts.next()) {
                    (Some(seq), Some(call), Some(node)) => Ok((seq, call, node.to_string())),
                    _ => Err(Error::Corrupt("unfinished delivery")),
                }
            })
            .collect::<Result<Vec<_>>>()?;
        self.read_deliveries(&positions)
    }

    fn node_busy_with(&self, node: &str, index_uid: &str) -> Result<bool> {
        let members: Vec<String> = self.members(keys::unfinished(node))?;
        let seqs = members
            .iter()
            .map(|m| parse_position(m).map(|(seq, _)| seq))
            .collect::<Result<BTreeSet<u64>>>()?;
        Ok(self
            .entry_field(&seqs, "index_uid")?
            .iter()
            .any(|index| index.as_deref() == Some(index_uid)))
    }

    fn last_node_task(&self, node: &str) -> Result<Option<u64>> {
        self.query(::redis::cmd("HGET").arg(keys::NODE_LAST_TASK).arg(node))
    }

    fn oldest_undelivered(&self, node: &str) -> Result<Option<OffsetDateTime>> {
        let seqs = self.pending_entries(node)?;
        let oldest = self
            .entry_field(&seqs, "created_at")?
            .iter()
            .filter_map(|at| at.as_deref().and_then(|at| at.parse::<i64>().ok()))
            .min();
        Ok(from_nanos(oldest))
    }

    fn journal_bytes(&self) -> Result<u64> {
        let bytes: Option<i64> = self.query(::redis::cmd("GET").arg(keys::JOURNAL_BYTES))?;
        Ok(bytes.unwrap_or(0).max(0) as u64)
    }

    fn undelivered_bytes(&self, node: &str) -> Result<u64> {
        let seqs = self.pending_entries(node)?;
        Ok(self
            .entry_field(&seqs, "payload_len")?
            .iter()
            .filter_map(|len| len.as_deref().and_then(|len| len.parse::<u64>().ok()))
            .sum())
    }

    fn journal_head(&self) -> Result<u64> {
        let head: Option<u64> = self.query(::redis::cmd("GET").arg(keys::NEXT_SEQ))?;
        Ok(head.unwrap_or(0))
    }

    fn undelivered_through(&self, node: &str, seq: u64) -> Result<u64> {
        self.query(
            ::redis::cmd("ZCOUNT")
                .arg(keys::pending(node))
                .arg("-inf")
                .arg(call_score(seq, u32::from(u16::MAX))),
        )
    }

    fn node_busy(&self, node: &str) -> Result<bool> {
        let count: u64 = self.query(::redis::cmd("ZCARD").arg(keys::unfinished(node)))?;
        Ok(count > 0)
    }

    fn supersede_through(&self, node: &str, seq: u64) -> Result<u64> {
        self.run(
            self.script(&self.scripts.supersede_through, None)
                .arg(node)
                .arg(call_score(seq, u32::from(u16::MAX)))
                .arg(nanos(OffsetDateTime::now_utc())),
        )
    }

    fn set_last_node_task(&self, node: &str, uid: Option<u64>) -> Result<()> {
        match uid {
            Some(uid) => self.write(
                None,
                &["HSET", keys::NODE_LAST_TASK, node, &uid.to_string()],
            ),
            None => self.write(None, &["HDEL", keys::NODE_LAST_TASK, node]),
        }
    }

    fn prune_journal(&self) -> Result<u64> {
        self.run(&self.script(&self.scripts.prune, None))
    }

    fn set_node_lost(&self, node: &str, lost: bool) -> Result<()> {
        let command = if lost { "SADD" } else { "SREM" };
        self.write(Some(Counter::Replicas), &[command, keys::LOST_NODES, node])
    }

    fn lost_nodes(&self) -> Result<Vec<String>> {
        let mut nodes: Vec<String> = self.query(::redis::cmd("SMEMBERS").arg(keys::LOST_NODES))?;
        nodes.sort();
        Ok(nodes)
    }

    fn topology(&self) -> Result<Option<Topology>> {
        self.get_json(keys::TOPOLOGY)
    }

    fn put_topology(&self, topology: &Topology) -> Result<()> {
        self.set_json(keys::TOPOLOGY, topology, Counter::Topology)
    }

    fn placement_record(&self) -> Result<Option<PlacementRecord>> {
        self.get_json(keys::PLACEMENT)
    }

    fn put_placement_record(&self, record: &PlacementRecord) -> Result<()> {
        self.set_json(keys::PLACEMENT, record, Counter::Topology)
    }

    fn set_stale(&self, index_uid: &str, node: &str, stale: Option<&StaleShards>) -> Result<()> {
        let field = serde_json::to_string(&(index_uid, node))?;
        let bump = Some(Counter::Replicas);
        match stale {
            Some(shards) => self.write(
                bump,
                &["HSET", keys::STALE, &field, &serde_json::to_string(shards)?],
            ),
            None => self.write(bump, &["HDEL", keys::STALE, &field]),
        }
    }

    fn stale_replicas(&self) -> Result<Vec<(String, String, StaleShards)>> {
        let fields: HashMap<String, String> =
            self.query(::redis::cmd("HGETALL").arg(keys::STALE))?;
        let mut replicas = fields
            .iter()
            .map(|(field, shards)| {
                let (index, node): (String, String) = serde_json::from_str(field)?;
                Ok((index, node, serde_json::from_str(shards)?))
            })
            .collect::<Result<Vec<_>>>()?;
        replicas.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        Ok(replicas)
    }

    fn get_task(&self, uid: u64) -> Result<Option<TaskRecord>> {
        Ok(self.read_tasks(&[uid])?.pop())
    }

    fn list_tasks(&self, page: &TaskPage) -> Result<(Vec<TaskRecord>, u64)> {
        self.page_of_tasks(page)
    }

    fn matching_task_uids(&self, filter: &TaskFilter) -> Result<Vec<u64>> {
        self.matching_uids(filter)
    }

    fn unfinished_tasks(&self) -> Result<Vec<TaskRecord>> {
        let mut uids = Vec::new();
        for status in [TaskStatus::Enqueued, TaskStatus::Processing] {
            let some: Vec<u64> = self.members(keys::tasks_by_status(status.as_str()))?;
            uids.extend(some);
        }
        uids.sort_unstable();
        uids.dedup();
        self.read_tasks(&uids)
    }

    fn delete_tasks(&self, uids: &[u64]) -> Result<u64> {
        if uids.is_empty() {
            return Ok(0);
        }
        let mut invocation = self.script(&self.scripts.delete_tasks, None);
        for uid in uids {
            invocation.arg(*uid);
        }
        self.run(&invocation)
    }

    fn put_index(&self, index: &IndexRecord) -> Result<()> {
        let text = serde_json::to_string(index)?;
        self.write(
            Some(Counter::Indexes),
            &["HSET", keys::INDEXES, &index.uid, &text],
        )
    }

    fn get_index(&self, uid: &str) -> Result<Option<IndexRecord>> {
        let text: Option<String> = self.query(::redis::cmd("HGET").arg(keys::INDEXES).arg(uid))?;
        Ok(text.map(|t| serde_json::from_str(&t)).transpose()?)
    }

    fn list_indexes(&self) -> Result<Vec<IndexRecord>> {
        let texts: Vec<String> = self.query(::redis::cmd("HVALS").arg(keys::INDEXES))?;
        let mut indexes = texts
            .iter()
            .map(|t| serde_json::from_str(t))
            .collect::<std::result::Result<Vec<IndexRecord>, _>>()?;
        indexes.sort_by(|a, b| a.uid.cmp(&b.uid));
        Ok(indexes)
    }

    fn delete_index(&self, uid: &str) -> Result<bool> {
        let deleted: i64 = self.run(
            self.script(&self.scripts.call, Some(Counter::Indexes))
                .arg("HDEL")
                .arg(keys::INDEXES)
                .arg(uid),
        )?;
        Ok(deleted > 0)
    }

    fn put_key(&self, uid: &str, key: &serde_json::Value) -> Result<()> {
        self.put_record_value("keys", uid, key, Some(Counter::Keys))
    }

    fn get_key(&self, uid: &str) -> Result<Option<serde_json::Value>> {
        self.record_value("keys", uid)
    }

    fn list_keys(&self) -> Result<Vec<serde_json::Value>> {
        self.list_record_values("keys")
    }

    fn delete_key(&self, uid: &str) -> Result<bool> {
        self.delete_record_value("keys", uid, Some(Counter::Keys))
    }

    fn put_webhook(&self, uuid: &str, webhook: &serde_json::Value) -> Result<()> {
        self.put_record_value("webhooks", uuid, webhook, None)
    }

    fn list_webhooks(&self) -> Result<Vec<serde_json::Value>> {
        self.list_record_values("webhooks")
    }

    fn delete_webhook(&self, uuid: &str) -> Result<bool> {
        self.delete_record_value("webhooks", uuid, None)
    }

    fn try_lock_writes(&self, holder: &str, ttl: Duration) -> Result<bool> {
        let taken: Option<String> = self.query(
            ::redis::cmd("SET")
                .arg(keys::WRITE_LOCK)
                .arg(holder)
                .arg("NX")
                .arg("PX")
                .arg(ttl.as_millis() as u64),
        )?;
        Ok(taken.is_some())
    }

    fn extend_write_lock(&self, holder: &str, ttl: Duration) -> Result<bool> {
        let extended: i64 = self.run(
            self.script(&self.scripts.extend_write_lock, None)
                .arg(holder)
                .arg(ttl.as_millis() as u64),
        )?;
        Ok(extended == 1)
    }

    fn unlock_writes(&self, holder: &str) -> Result<()> {
        self.run::<i64>(self.script(&self.scripts.unlock_writes, None).arg(holder))?;
        Ok(())
    }

    fn set_held_nodes(&self, nodes: &[String]) -> Result<()> {
        self.set_json(keys::HELD_NODES, &nodes, Counter::Replicas)
    }

    fn held_nodes(&self) -> Result<Vec<String>> {
        Ok(self.get_json(keys::HELD_NODES)?.unwrap_or_default())
    }

    fn versions(&self) -> Result<Versions> {
        let fields: HashMap<String, u64> =
            self.query(::redis::cmd("HGETALL").arg(keys::VERSIONS))?;
        let of = |counter: Counter| fields.get(counter.field()).copied().unwrap_or(0);
        Ok(Versions {
            journal: of(Counter::Journal),
            keys: of(Counter::Keys),
            replicas: of(Counter::Replicas),
            topology: of(Counter::Topology),
            indexes: of(Counter::Indexes),
        })
    }

    fn acquire_lease(&self, holder: &str, ttl: Duration) -> Result<Option<Lease>> {
        let token: Option<u64> = self.run(
            self.script(&self.scripts.acquire_lease, None)
                .arg(holder)
                .arg(ttl.as_millis() as u64),
        )?;
        Ok(token.map(|token| Lease {
            holder: holder.to_string(),
            token,
        }))
    }

    fn renew_lease(&self, lease: &Lease, ttl: Duration) -> Result<bool> {
        let renewed: i64 = self.run(
            self.script(&self.scripts.renew_lease, None)
                .arg(lease_value(lease))
                .arg(ttl.as_millis() as u64),
        )?;
        Ok(renewed == 1)
    }

    fn release_lease(&self, lease: &Lease) -> Result<()> {
        self.run::<i64>(
            self.script(&self.scripts.release_lease, None)
                .arg(lease_value(lease)),
        )?;
        Ok(())
    }

    fn current_lease(&self) -> Result<Option<Lease>> {
        let value: Option<String> = self.query(::redis::cmd("GET").arg(keys::LEASE))?;
        value
            .map(|value| {
                let (holder, token) = value.rsplit_once('/').ok_or(Error::Corrupt("lease"))?;
                Ok(Lease {
                    holder: holder.to_string(),
                    token: token.parse().map_err(|_| Error::Corrupt("lease token"))?,
                })
            })
            .transpose()
    }

    fn set_fence(&self, lease: Option<&Lease>) {
        *self
            .fence
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = lease.map(lease_value);
    }
}
