//! Replica marks — stale replicas and nodes that lost their data — kept both in the cluster's
//! memory (every read consults them) and in the store (they outlive a restart, and processes
//! sharing a store share them).
//!
//! Every change goes through here, store first and memory second, under the cluster's marks
//! lock; a reload from the store (another process changed marks) takes the same lock. So a
//! reload never lands between a change's two halves and never brings back a state older than
//! one this process already wrote: without the lock, a reload that read the store just before
//! a change was persisted and applied its reading just after the change reached memory would
//! drop the mark until the next reload.

use std::collections::HashMap;

use miroir_core::replica::StaleShards;
use miroir_store::Store;

use super::Cluster;

/// Adds `shards` to the stale replicas of `index` on `node`.
pub(crate) fn mark_stale(
    cluster: &Cluster,
    store: &dyn Store,
    index: &str,
    node: usize,
    shards: StaleShards,
) -> miroir_store::Result<()> {
    let _changing = cluster.lock_marks();
    let mut merged = cluster
        .stale_shards(index, node)
        .unwrap_or(StaleShards::touched(Some(&[])));
    merged.merge(shards);
    store.set_stale(index, &cluster.node(node).id, Some(&merged))?;
    cluster.set_stale_shards(index, node, merged);
    Ok(())
}

/// Every replica of `index` on `node` is in sync again.
pub(crate) fn clear_stale(
    cluster: &Cluster,
    store: &dyn Store,
    index: &str,
    node: usize,
) -> miroir_store::Result<()> {
    let _changing = cluster.lock_marks();
    store.set_stale(index, &cluster.node(node).id, None)?;
    cluster.clear_stale(index, node);
    Ok(())
}

/// Marks `node` as having lost its data, or not (see [`Cluster::set_lost`]).
pub(crate) fn set_lost(
    cluster: &Cluster,
    store: &dyn Store,
    node: usize,
    lost: bool,
) -> miroir_store::Result<()> {
    let _changing = cluster.lock_marks();
    store.set_node_lost(&cluster.node(node).id, lost)?;
    cluster.set_lost(node, lost);
    Ok(())
}

/// Makes `cluster`'s marks the ones `store` records (at start, and whenever another process
/// changed them).
pub(crate) fn reload(cluster: &Cluster, store: &dyn Store) -> miroir_store::Result<()> {
    let _changing = cluster.lock_marks();
    let stale = store.stale_replicas()?;
    let lost = store.lost_nodes()?;
    let marks: HashMap<(String, usize), _> = stale
        .into_iter()
        .filter_map(|(index, node, shards)| Some(((index, cluster.position(&node)?), shards)))
        .collect();
    cluster.replace_stale(marks);
    for node in 0..cluster.node_count() {
        cluster.set_lost(node, lost.contains(&cluster.node(node).id));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use miroir_store::SqliteStore;

    use super::*;
    use crate::cluster::fakes::{cluster_of, FakeNode};

    /// Stale replicas as `(index, node id) → shards`.
    type Marks = BTreeMap<(String, String), StaleShards>;

    /// The stale replicas, from memory and from the store.
    fn both_views(cluster: &Cluster, store: &dyn Store) -> (Marks, Marks) {
        let memory = cluster
            .stale_replicas()
            .into_iter()
            .filter_map(|(index, node)| {
                let shards = cluster.stale_shards(&index, node)?;
                Some(((index, cluster.node(node).id.clone()), shards))
            })
            .collect();
        let stored = store
            .stale_replicas()
            .expect("stored marks")
            .into_iter()
            .map(|(index, node, shards)| ((index, node), shards))
            .collect();
        (memory, stored)
    }

    #[test]
    fn changes_reach_the_store_and_memory_and_a_reload_restores_them() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteStore::open(dir.path()).expect("store");
        let (cluster, _) = cluster_of(vec![FakeNode::healthy(), FakeNode::healthy()], 2);
        mark_stale(
            &cluster,
            &store,
            "movies",
            1,
            StaleShards::touched(Some(&[3])),
        )
        .unwrap();
        mark_stale(
            &cluster,
            &store,
            "movies",
            1,
            StaleShards::touched(Some(&[5])),
        )
        .unwrap();
        set_lost(&cluster, &store, 0, true).unwrap();
        let (memory, stored) = both_views(&cluster, &store);
        assert_eq!(memory, stored);
        let shards = &stored[&("movies".to_string(), "n1".to_string())];
        assert!(shards.contains(3) && shards.contains(5) && !shards.contains(4));
        assert_eq!(store.lost_nodes().unwrap(), ["n0"]);

        let (fresh, _) = cluster_of(vec![FakeNode::healthy(), FakeNode::healthy()], 2);
        reload(&fresh, &store).unwrap();
        assert_eq!(both_views(&fresh, &store).0, stored);
        assert!(fresh.is_lost(0) && !fresh.is_lost(1));

        clear_stale(&cluster, &store, "movies", 1).unwrap();
        set_lost(&cluster, &store, 0, false).unwrap();
        let (memory, stored) = both_views(&cluster, &store);
        assert!(memory.is_empty() && stored.is_empty());
        assert!(!cluster.is_lost(0));
    }

    #[test]
    fn a_reload_running_alongside_changes_never_drops_one() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteStore::open(dir.path()).expect("store");
        let (cluster, _) = cluster_of(vec![FakeNode::healthy(), FakeNode::healthy()], 2);
        let marking = std::sync::atomic::AtomicBool::new(true);
        let mut reloads = 0;
        std::thread::scope(|scope| {
            scope.spawn(|| {
                for index in 0..300 {
                    // The reloads stop before the last marks: a reload after every mark would
                    // repair what an earlier one dropped.
                    if index == 250 {
                        marking.store(false, std::sync::atomic::Ordering::SeqCst);
                    }
                    let name = format!("index-{index}");
                    mark_stale(&cluster, &store, &name, index % 2, StaleShards::All).unwrap();
                }
            });
            scope.spawn(|| {
                while marking.load(std::sync::atomic::Ordering::SeqCst) {
                    reload(&cluster, &store).unwrap();
                    reloads += 1;
                }
            });
        });
        assert!(reloads > 0);
        let (memory, stored) = both_views(&cluster, &store);
        assert_eq!(stored.len(), 300);
        assert_eq!(memory, stored, "memory lost marks a reload read too early");
    }
}
