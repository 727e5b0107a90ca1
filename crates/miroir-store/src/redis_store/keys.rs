//! The names of the Redis keys (the Lua scripts build the same names from the same prefix).

/// Every key starts with this.
const PREFIX: &str = "miroir:";

/// The schema version of the stored layout.
pub(super) const SCHEMA_VERSION: &str = "miroir:schema_version";
/// The last journal sequence number given (the journal's head).
pub(super) const NEXT_SEQ: &str = "miroir:next_seq";
/// Every task uid, scored by uid.
pub(super) const TASKS: &str = "miroir:tasks";
/// The index uids that have tasks (for index patterns).
pub(super) const TASK_INDEXES: &str = "miroir:task_indexes";
/// Every undelivered-or-unfinished node task: `seq:call:node`, scored like a node's calls.
pub(super) const UNFINISHED: &str = "miroir:unfinished";
/// The bytes of payloads the journal holds.
pub(super) const JOURNAL_BYTES: &str = "miroir:journal_bytes";
/// The highest node task uid recorded per node.
pub(super) const NODE_LAST_TASK: &str = "miroir:node_last_task";
/// Nodes marked as having lost their data.
pub(super) const LOST_NODES: &str = "miroir:lost_nodes";
/// The topology (JSON).
pub(super) const TOPOLOGY: &str = "miroir:topology";
/// The placement and rebalance (JSON).
pub(super) const PLACEMENT: &str = "miroir:placement";
/// Stale replicas: field `[index, node]` (JSON), value the stale shards (JSON).
pub(super) const STALE: &str = "miroir:stale";
/// The lease on the work that runs once (`holder/token`), with its expiry.
pub(super) const LEASE: &str = "miroir:lease";
/// The write lock's holder, with its expiry.
pub(super) const WRITE_LOCK: &str = "miroir:write_lock";
/// The nodes the leaseholder holds at a journal head (JSON array).
pub(super) const HELD_NODES: &str = "miroir:held_nodes";
/// The change counters other processes watch (see `Versions`).
pub(super) const VERSIONS: &str = "miroir:versions";
/// Finished tasks not announced to the webhooks yet, scored by uid.
pub(super) const WEBHOOK_OUTBOX: &str = "miroir:webhook_outbox";
/// Index records by uid (JSON).
pub(super) const INDEXES: &str = "miroir:indexes";

pub(super) fn task(uid: u64) -> String {
    format!("{PREFIX}task:{uid}")
}

pub(super) fn task_node_tasks(uid: u64) -> String {
    format!("{PREFIX}task_node_tasks:{uid}")
}

pub(super) fn tasks_by_status(status: &str) -> String {
    format!("{PREFIX}tasks:status:{status}")
}

pub(super) fn tasks_by_type(kind: &str) -> String {
    format!("{PREFIX}tasks:type:{kind}")
}

pub(super) fn tasks_by_index(index: &str) -> String {
    format!("{PREFIX}tasks:index:{index}")
}

pub(super) fn tasks_by_canceler(uid: u64) -> String {
    format!("{PREFIX}tasks:canceled_by:{uid}")
}

/// A short-lived key of a listing's intermediate results.
pub(super) fn scratch(id: &str, part: usize) -> String {
    format!("{PREFIX}scratch:{id}:{part}")
}

pub(super) fn entry(seq: u64) -> String {
    format!("{PREFIX}journal:{seq}")
}

pub(super) fn journal_of_task(uid: u64) -> String {
    format!("{PREFIX}journal_of_task:{uid}")
}

pub(super) fn payload(seq: u64) -> String {
    format!("{PREFIX}payload:{seq}")
}

pub(super) fn upload(id: &str) -> String {
    format!("{PREFIX}upload:{id}")
}

pub(super) fn entry_deliveries(seq: u64) -> String {
    format!("{PREFIX}entry_deliveries:{seq}")
}

pub(super) fn delivery(seq: u64, call: u32, node: &str) -> String {
    format!("{PREFIX}delivery:{seq}:{call}:{node}")
}

pub(super) fn pending(node: &str) -> String {
    format!("{PREFIX}pending:{node}")
}

pub(super) fn unfinished(node: &str) -> String {
    format!("{PREFIX}unfinished:{node}")
}

/// A table of JSON records kept in insertion order (`keys`, `webhooks`).
pub(super) fn records(table: &str) -> String {
    format!("{PREFIX}{table}")
}

pub(super) fn records_order(table: &str) -> String {
    format!("{PREFIX}{table}_order")
}
