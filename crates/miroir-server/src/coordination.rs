//! What several Miroir processes sharing one store (Redis) coordinate, and the one-process
//! equivalents when the store is this process's alone (SQLite).
//!
//! - [`WriteLock`]: writes are journaled one at a time — under this process's mutex and, when
//!   the store is shared, under the store's cluster-wide write lock — so index metadata stays
//!   in step with the journal order whichever process a client writes through.
//! - [`Leadership`]: the lease on the work that runs once per cluster (task polling and
//!   finishing, webhooks, each node's journal delivery, the rebuild and the rebalancer) and
//!   when this process last renewed it, so that work can check the lease is still its own
//!   before it acts on a node. `background` takes, renews and gives the lease up.
//!
//! Choices the design left open:
//! - **One lease for all the work that runs once**, not one per loop: those loops share
//!   in-memory state (a node held at a journal head by the rebuild is one the delivery loop
//!   must not feed, the poller is woken by deliveries), so keeping them in one process keeps
//!   that state where it is used. Requests are served by every process.
//! - **The write lock expires** [`WRITE_LOCK_TTL`] after it was taken or last extended; its
//!   holder extends it while it holds it (a write's synchronous probe of its first node may
//!   take up to `node_timeout`), so a process killed while holding it delays the other
//!   processes' writes by at most that long.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as SyncMutex};
use std::time::{Duration, Instant};

use tokio::sync::{Mutex, MutexGuard};

use miroir_store::{Lease, Store};

/// How long a taker of a busy cluster-wide write lock waits between tries.
const LOCK_RETRY: Duration = Duration::from_millis(2);
/// How long the cluster-wide write lock lasts unless its holder extends it (every third of
/// it): the longest a dead holder delays other processes' writes.
pub(crate) const WRITE_LOCK_TTL: Duration = Duration::from_secs(2);

/// Journals writes one at a time across every process sharing the store.
pub(crate) struct WriteLock {
    local: Mutex<()>,
    /// The store whose lock is taken too, when several processes share it.
    shared: Option<Arc<dyn Store>>,
    /// This process's id: with a counter, names each taking of the cluster-wide lock.
    process: String,
    takings: AtomicU64,
}

/// The write lock, given up on drop.
pub(crate) struct WriteGuard<'a> {
    _local: MutexGuard<'a, ()>,
    shared: Option<SharedHold<'a>>,
}

/// The cluster-wide part of a [`WriteGuard`]: who holds it, and the task extending it.
struct SharedHold<'a> {
    store: &'a dyn Store,
    holder: String,
    extending: tokio::task::JoinHandle<()>,
}

impl WriteLock {
    /// A lock over this process's mutex and, when `shared` is given, the store's lock.
    pub(crate) fn new(shared: Option<Arc<dyn Store>>, process: String) -> Self {
        WriteLock {
            local: Mutex::new(()),
            shared,
            process,
            takings: AtomicU64::new(0),
        }
    }

    /// Waits for the lock. The cluster-wide part is waited for at most twice its expiry (any
    /// dead holder's lock has expired by then); past that the store is failing, or a live
    /// holder is stuck, and the write goes on (to meet the store's failure when it journals).
    pub(crate) async fn lock(&self) -> WriteGuard<'_> {
        let local = self.local.lock().await;
        let Some(shared) = &self.shared else {
            return WriteGuard {
                _local: local,
                shared: None,
            };
        };
        let store = shared.as_ref();
        let holder = format!(
            "{}/{}",
            self.process,
            self.takings.fetch_add(1, Ordering::Relaxed)
        );
        let give_up = Instant::now() + WRITE_LOCK_TTL * 2;
        loop {
            match store.try_lock_writes(&holder, WRITE_LOCK_TTL) {
                Ok(true) => {
                    let extending = tokio::spawn(extend(shared.clone(), holder.clone()));
                    return WriteGuard {
                        _local: local,
                        shared: Some(SharedHold {
                            store,
                            holder,
                            extending,
                        }),
                    };
                }
                Ok(false) => {}
                Err(error) => tracing::warn!(%error, "cannot take the cluster-wide write lock"),
            }
            if Instant::now() > give_up {
                tracing::error!(
                    "the cluster-wide write lock was not had in time; journaling without it"
                );
                return WriteGuard {
                    _local: local,
                    shared: None,
                };
            }
            tokio::time::sleep(LOCK_RETRY).await;
        }
    }
}

/// Extends the cluster-wide write lock every third of its TTL while its guard lives.
async fn extend(store: Arc<dyn Store>, holder: String) {
    loop {
        tokio::time::sleep(WRITE_LOCK_TTL / 3).await;
        match store.extend_write_lock(&holder, WRITE_LOCK_TTL) {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(
                    "the cluster-wide write lock expired while held (this process was paused?)"
                );
                return;
            }
            Err(error) => tracing::warn!(%error, "cannot extend the cluster-wide write lock"),
        }
    }
}

impl Drop for WriteGuard<'_> {
    fn drop(&mut self) {
        if let Some(hold) = self.shared.take() {
            hold.extending.abort();
            if let Err(error) = hold.store.unlock_writes(&hold.holder) {
                tracing::warn!(%error, "cannot give the cluster-wide write lock up; it expires");
            }
        }
    }
}

/// The lease this process holds, if any, and until when it is surely still its own.
#[derive(Default)]
pub(crate) struct Leadership {
    held: SyncMutex<Option<(Lease, Instant)>>,
}

impl Leadership {
    /// Records `lease` as held until `until` (the time of the request that took or renewed
    /// it, plus the lease's TTL: the store's expiry can only be later).
    pub(crate) fn hold(&self, lease: Lease, until: Instant) {
        *self.guard() = Some((lease, until));
    }

    /// Forgets the lease.
    pub(crate) fn drop_lease(&self) {
        *self.guard() = None;
    }

    /// The lease held, even if its time ran out (for the admin API).
    pub(crate) fn lease(&self) -> Option<Lease> {
        self.guard().as_ref().map(|(lease, _)| lease.clone())
    }

    /// Whether the lease is held and its time has not run out: a process paused past its
    /// lease finds out here, before it sends anything to a node.
    pub(crate) fn is_current(&self) -> bool {
        self.guard()
            .as_ref()
            .is_some_and(|(_, until)| *until > Instant::now())
    }

    fn guard(&self) -> std::sync::MutexGuard<'_, Option<(Lease, Instant)>> {
        self.held
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(token: u64) -> Lease {
        Lease {
            holder: "p".to_string(),
            token,
        }
    }

    #[test]
    fn a_lease_counts_only_until_its_time_runs_out() {
        let leadership = Leadership::default();
        assert!(!leadership.is_current(), "nothing held");
        leadership.hold(lease(1), Instant::now() + Duration::from_secs(60));
        assert!(leadership.is_current());
        leadership.hold(lease(1), Instant::now() - Duration::from_millis(1));
        assert!(
            !leadership.is_current(),
            "run out: as after a pause past the lease"
        );
        assert_eq!(
            leadership.lease(),
            Some(lease(1)),
            "still known, for the admin API"
        );
        leadership.drop_lease();
        assert_eq!(leadership.lease(), None);
    }

    #[tokio::test]
    async fn without_a_shared_store_the_write_lock_is_this_process_mutex() {
        let lock = WriteLock::new(None, "p".to_string());
        let guard = lock.lock().await;
        assert!(lock.local.try_lock().is_err(), "held");
        drop(guard);
        assert!(lock.local.try_lock().is_ok(), "given up on drop");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn processes_sharing_a_store_take_the_write_lock_in_turn() {
        let Some(redis) = miroir_testnode::redis_server::RedisServer::start() else {
            return;
        };
        let store: Arc<dyn Store> =
            Arc::new(miroir_store::RedisStore::open(&redis.url(0)).expect("a redis store"));
        let one = WriteLock::new(Some(store.clone()), "one".to_string());
        let other = WriteLock::new(Some(store), "other".to_string());
        let held = one.lock().await;
        let waited = tokio::time::timeout(Duration::from_millis(300), other.lock()).await;
        assert!(
            waited.is_err(),
            "the other process waits while one holds the lock"
        );
        drop(held);
        let taken = tokio::time::timeout(Duration::from_secs(5), other.lock()).await;
        assert!(taken.is_ok(), "taken once given up");
    }
}
