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
//! - **The write lock expires** after `max(lease_ttl, 2 × node_timeout)`: long enough for a
//!   write's synchronous probe of its first node, short enough that a process killed while
//!   holding it delays other processes' writes by at most that long.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as SyncMutex};
use std::time::{Duration, Instant};

use tokio::sync::{Mutex, MutexGuard};

use miroir_store::{Lease, Store};

/// How long a taker of a busy cluster-wide write lock waits between tries.
const LOCK_RETRY: Duration = Duration::from_millis(2);

/// Journals writes one at a time across every process sharing the store.
pub(crate) struct WriteLock {
    local: Mutex<()>,
    /// The store whose lock is taken too, when several processes share it.
    shared: Option<Arc<dyn Store>>,
    /// This process's id: with a counter, names each taking of the cluster-wide lock.
    process: String,
    takings: AtomicU64,
    ttl: Duration,
}

/// The write lock, given up on drop.
pub(crate) struct WriteGuard<'a> {
    _local: MutexGuard<'a, ()>,
    shared: Option<(&'a dyn Store, String)>,
}

impl WriteLock {
    /// A lock over this process's mutex and, when `shared` is given, the store's lock
    /// (held at most `ttl`).
    pub(crate) fn new(shared: Option<Arc<dyn Store>>, process: String, ttl: Duration) -> Self {
        WriteLock {
            local: Mutex::new(()),
            shared,
            process,
            takings: AtomicU64::new(0),
            ttl,
        }
    }

    /// Waits for the lock. The cluster-wide part is waited for at most twice its expiry (any
    /// holder's lock has expired by then); past that the store is failing, and the write goes
    /// on to meet the same failure when it journals.
    pub(crate) async fn lock(&self) -> WriteGuard<'_> {
        let local = self.local.lock().await;
        let Some(store) = self.shared.as_deref() else {
            return WriteGuard {
                _local: local,
                shared: None,
            };
        };
        let holder = format!(
            "{}/{}",
            self.process,
            self.takings.fetch_add(1, Ordering::Relaxed)
        );
        let give_up = Instant::now() + self.ttl * 2;
        loop {
            match store.try_lock_writes(&holder, self.ttl) {
                Ok(true) => {
                    return WriteGuard {
                        _local: local,
                        shared: Some((store, holder)),
                    }
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

impl Drop for WriteGuard<'_> {
    fn drop(&mut self) {
        if let Some((store, holder)) = self.shared.take() {
            if let Err(error) = store.unlock_writes(&holder) {
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
