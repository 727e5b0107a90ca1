//! The state every request handler and background loop shares.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::{Mutex, Notify};
use tokio::task::JoinHandle;

use miroir_store::{IndexRecord, Store};

use crate::cluster::Cluster;
use crate::config::ServerConfig;
use crate::coordination::{Leadership, WriteLock};
use crate::error::Result;
use crate::wire::error::index_not_found;

/// Everything a request handler can reach.
pub struct AppState {
    /// The validated configuration.
    pub(crate) config: ServerConfig,
    /// Persistent state.
    pub(crate) store: Arc<dyn Store>,
    /// Nodes and placement.
    pub(crate) cluster: Cluster,
    /// Orders journaling (see `write::journal`), across every process sharing the store.
    pub(crate) write_lock: WriteLock,
    /// This process's id among those sharing the store (its lease and write lock name it).
    pub(crate) process_id: String,
    /// The lease on the work that runs once, while this process holds it.
    pub(crate) leadership: Leadership,
    /// Wakes the task poller when a task is created.
    pub(crate) task_created: Notify,
    /// Wakes the webhook announcer when tasks finished (see `tasks::webhooks`).
    pub(crate) webhooks_due: Notify,
    /// Held by whoever holds nodes at a journal head (`Outbox::hold_after`): a rebuild or a
    /// rebalance, one at a time.
    pub(crate) holding: Mutex<()>,
    /// Wakes the rebalancer when the topology changed.
    pub(crate) topology_changed: Notify,
    /// Wakes the rebuild loop when a node waits to be set up.
    pub(crate) rebuild_wanted: Notify,
    /// The background loops (see `background`), aborted by [`AppState::stop_loops`]; nodes
    /// added at run time add theirs.
    loops: std::sync::Mutex<Vec<JoinHandle<()>>>,
    /// The loops of the work that runs once, while this process holds the lease (see
    /// `background`); stopped when the lease is lost.
    leader_loops: std::sync::Mutex<Vec<JoinHandle<()>>>,
    /// API keys by value, so that a request with a key does not read every key from the
    /// store (`instance::keys::key_by_value`).
    pub(crate) key_cache: std::sync::Mutex<KeyCache>,
    /// Whether nodes may pin documents in search results (the `dynamicSearchRules`
    /// experimental feature is on, as last seen; see `instance::search_rules`): searches then
    /// ask the nodes for the ranking details that tell a pinned hit.
    pub(crate) pins_possible: std::sync::atomic::AtomicBool,
}

/// API keys by value, read from the store on first use and dropped whenever `/keys` changes
/// one. The generation counts those changes: a reader that read the store before a change
/// does not put what it read in the cache.
#[derive(Default)]
pub(crate) struct KeyCache {
    /// Bumped by every change of the stored keys.
    pub(crate) generation: u64,
    /// The keys by their value, when read since the last change.
    pub(crate) by_value: Option<Arc<std::collections::HashMap<String, serde_json::Value>>>,
}

impl AppState {
    /// Shared state over a store and a cluster.
    pub(crate) fn new(config: ServerConfig, store: Arc<dyn Store>, cluster: Cluster) -> AppState {
        let process_id = uuid::Uuid::new_v4().to_string();
        let write_lock = WriteLock::new(
            config.task_store.is_some().then(|| store.clone()),
            process_id.clone(),
        );
        AppState {
            config,
            store,
            cluster,
            write_lock,
            process_id,
            leadership: Leadership::default(),
            leader_loops: std::sync::Mutex::new(Vec::new()),
            task_created: Notify::new(),
            webhooks_due: Notify::new(),
            holding: Mutex::new(()),
            topology_changed: Notify::new(),
            rebuild_wanted: Notify::new(),
            loops: std::sync::Mutex::new(Vec::new()),
            key_cache: std::sync::Mutex::new(KeyCache::default()),
            pins_possible: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Runs a background loop until [`AppState::stop_loops`].
    pub(crate) fn spawn_loop(&self, work: impl Future<Output = ()> + Send + 'static) {
        let handle = tokio::spawn(work);
        self.loops
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(handle);
    }

    /// Aborts every background loop; gives the lease up if this process holds it.
    pub(crate) fn stop_loops(&self) {
        let loops = std::mem::take(
            &mut *self
                .loops
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        );
        loops.iter().for_each(JoinHandle::abort);
        for handle in self.take_leader_loops() {
            handle.abort();
        }
        if let Some(lease) = self.leadership.lease() {
            self.leadership.drop_lease();
            if let Err(error) = self.store.release_lease(&lease) {
                tracing::warn!(%error, "cannot give the lease up; it expires");
            }
        }
    }

    /// Whether several processes share the store (Redis): the work that runs once needs the
    /// lease, and what other processes change is read back (see `background`).
    pub(crate) fn is_shared(&self) -> bool {
        self.config.task_store.is_some()
    }

    /// Whether this process may do the work that runs once: always with a store of its own,
    /// while it holds the lease with a shared one.
    pub(crate) fn leads(&self) -> bool {
        !self.is_shared() || self.leadership.is_current()
    }

    /// Runs a call of the work that runs once only while this process may do that work: every
    /// poll of it first checks the lease ([`AppState::leads`]), so a process paused past its
    /// lease (SIGSTOP) and resumed sends no further byte — the new leaseholder, which took the
    /// work over, does it instead. (A pause after the request was handed to the connection and
    /// before it was written remains: microseconds, against a lease of seconds.)
    pub(crate) async fn while_leading<T>(
        &self,
        call: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        let mut call = std::pin::pin!(call);
        std::future::poll_fn(|cx| {
            if !self.leads() {
                return std::task::Poll::Ready(Err(crate::error::Error::Store(
                    miroir_store::Error::Fenced,
                )));
            }
            call.as_mut().poll(cx)
        })
        .await
    }

    /// Runs a loop of the work that runs once: at once with a store of this process's own,
    /// under the lease with a shared one (stopped when the lease is lost). Outside the lease
    /// (another process leads), nothing runs.
    pub(crate) fn spawn_leader_loop(&self, work: impl Future<Output = ()> + Send + 'static) {
        if !self.is_shared() {
            self.spawn_loop(work);
        } else if self.leadership.lease().is_some() {
            let handle = tokio::spawn(work);
            self.leader_loops
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .push(handle);
        }
    }

    /// The loops of the work that runs once, taken out to be stopped.
    pub(crate) fn take_leader_loops(&self) -> Vec<JoinHandle<()>> {
        std::mem::take(
            &mut *self
                .leader_loops
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        )
    }

    /// An index's metadata, or `index_not_found`.
    pub(crate) fn index(&self, uid: &str) -> Result<IndexRecord> {
        self.store
            .get_index(uid)?
            .ok_or_else(|| index_not_found(uid).into())
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Shared state over fake nodes and a SQLite store in a temporary directory.

    use std::sync::Arc;

    use miroir_store::SqliteStore;

    use super::AppState;
    use crate::cluster::fakes::{cluster_of, fake_config, FakeNode, FakeService};

    /// State over `nodes` (replication factor `rf`), its fakes, and the store's directory
    /// (removed on drop).
    pub(crate) fn state_over(
        nodes: Vec<FakeNode>,
        rf: usize,
    ) -> (Arc<AppState>, Vec<Arc<FakeService>>, tempfile::TempDir) {
        state_with(nodes, rf, |_| {})
    }

    /// [`state_over`] with the configuration adjusted by `adjust`.
    pub(crate) fn state_with(
        nodes: Vec<FakeNode>,
        rf: usize,
        adjust: impl FnOnce(&mut crate::config::ServerConfig),
    ) -> (Arc<AppState>, Vec<Arc<FakeService>>, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = fake_config(nodes.len(), rf);
        config.db_path = dir.path().join("db");
        adjust(&mut config);
        let store = SqliteStore::open(&config.db_path).expect("store opens");
        let (cluster, fakes) = cluster_of(nodes, rf);
        (
            Arc::new(AppState::new(config, Arc::new(store), cluster)),
            fakes,
            dir,
        )
    }
}
