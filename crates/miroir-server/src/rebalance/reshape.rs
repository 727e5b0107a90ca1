//! Reshaping a filled index while it serves (`PATCH /_miroir/indexes/{uid}` with
//! `{"whole": …}`): making a sharded index whole, as the target of a foreign key must be, or a
//! whole index sharded again. The steps are `miroir_core::reshape`'s; each is persisted in the
//! index's record (`IndexRecord::reshape`) before it acts and is idempotent, so a restarted
//! Miroir resumes where it stood.
//!
//! The rebalancer's loop runs reshapes, one index at a time, when no rebalance runs: a
//! rebalance changes the placement a reshape copies along, so neither starts while the other
//! runs (a reshape asked for during a rebalance waits for it; a topology change waits for the
//! reshape). They share the rebalance's tools: holds at the journal head while copying and
//! comparing, the `customMetadata` tag of the copies and deletions, read generations before
//! deleting.
//!
//! Widening copies, to each placed node, the shards it lacks all at once, from one up and
//! in-sync owner of each (grouped per source, so a node receives one stream per source):
//! the index is then on every node in one step, and reads switch once, for every shard
//! together, when it is recorded whole. Narrowing has nothing to copy: it records the index
//! sharded, then deletes what each node lacks.

use std::collections::BTreeMap;

use futures::future::try_join_all;
use futures::stream::{self, StreamExt, TryStreamExt};

use miroir_core::journal::MOVE_TAG;
use miroir_core::placement::PlacementTable;
use miroir_core::rebalance::MoveStep;
use miroir_core::replica::StaleShards;
use miroir_core::reshape::{lacked_shards, Reshape};
use miroir_store::IndexRecord;

use super::tools::{
    bump_epoch, corrupt, delete_shards, reads_planned_before, while_held, COMPARISONS_AT_ONCE,
};
use crate::cluster::{marks, Layout};
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::write::copy::{copy_shards, shard_summary, wait_tasks};
use crate::write::delivery::write_key;

/// One round of the first reshape under way; `None` when no index is being reshaped.
pub(crate) async fn advance(state: &AppState) -> Result<Option<bool>> {
    let pending = state
        .store
        .list_indexes()?
        .into_iter()
        .find_map(|index| index.reshape.clone().map(|reshape| (index, reshape)));
    let Some((index, reshape)) = pending else {
        state.cluster.set_reshaping(false);
        return Ok(None);
    };
    state.cluster.set_reshaping(true);
    let progressed = match (reshape.whole, reshape.step) {
        (true, MoveStep::Planned) => begin_widening(state, &index).await,
        (true, MoveStep::Copying) => copy(state, &index).await,
        (true, MoveStep::CatchingUp) => caught_up(state, &index).await,
        (true, MoveStep::Verifying) => verify(state, &index).await,
        (false, MoveStep::Planned) => switch_to_sharded(state, &index).await,
        (false, MoveStep::Switched) => delete_lacked(state, &index).await,
        (_, MoveStep::Done) => finish(state, &index).await,
        _ => Err(corrupt("a reshape step that its direction does not have")),
    }?;
    if progressed {
        tracing::info!(index = %index.uid, whole = reshape.whole, step = ?reshape.step, "reshape: step done");
    }
    Ok(Some(progressed))
}

/// Starts making `uid` whole or sharded (the API's half: the loop does the rest).
pub(crate) fn request(state: &AppState, index: &mut IndexRecord, whole: bool) -> Result<()> {
    index.reshape = Some(Reshape::new(whole));
    state.store.put_index(index)?;
    state.cluster.set_reshaping(true);
    state.topology_changed.notify_one();
    Ok(())
}

/// Changes the reshape of index `uid` under the journal's lock, re-reading the record so that
/// no concurrent change of it is lost.
async fn update(state: &AppState, uid: &str, change: impl FnOnce(&mut Reshape)) -> Result<()> {
    let _journaling = state.write_lock.lock().await;
    let Some(mut index) = state.store.get_index(uid)? else {
        return Ok(());
    };
    let Some(mut reshape) = index.reshape.take() else {
        return Ok(());
    };
    change(&mut reshape);
    index.reshape = Some(reshape);
    Ok(state.store.put_index(&index)?)
}

/// The sharded placement of `index`, and every placed node.
fn sharded(
    state: &AppState,
    index: &IndexRecord,
) -> Result<(std::sync::Arc<PlacementTable>, Vec<usize>)> {
    let table = state.cluster.table(Layout {
        shards: index.shard_count,
        whole: false,
    })?;
    let placed = state
        .cluster
        .table(Layout {
            shards: index.shard_count,
            whole: true,
        })?
        .replicas(0)
        .to_vec();
    Ok((table, placed))
}

/// Planned → Copying: each node's replicas of the shards it lacks go stale (no task waits for
/// them) and writes of the index reach every placed node.
async fn begin_widening(state: &AppState, index: &IndexRecord) -> Result<bool> {
    let (table, placed) = sharded(state, index)?;
    {
        let _journaling = state.write_lock.lock().await;
        for node in &placed {
            let lacked = lacked_shards(&table, *node);
            if lacked.is_empty() {
                continue;
            }
            marks::mark_stale(
                &state.cluster,
                state.store.as_ref(),
                &index.uid,
                *node,
                StaleShards::touched(Some(&lacked)),
            )?;
        }
    }
    update(state, &index.uid, |reshape| {
        reshape.step = MoveStep::Copying
    })
    .await?;
    // A read planned before may leave out the marker filter on a node about to receive
    // shards it does not serve (`Cluster::shard_selection`).
    reads_planned_before(state).await;
    Ok(true)
}

/// What a widening copies: `(source, target) → shards`, each lacked shard from its first up
/// and in-sync owner.
fn copies(state: &AppState, index: &IndexRecord) -> Result<BTreeMap<(usize, usize), Vec<u32>>> {
    let (table, placed) = sharded(state, index)?;
    let mut work: BTreeMap<(usize, usize), Vec<u32>> = BTreeMap::new();
    for target in placed {
        for shard in lacked_shards(&table, target) {
            let source = table
                .replicas(shard)
                .iter()
                .copied()
                .find(|node| {
                    state.cluster.is_up(*node)
                        && !state.cluster.is_stale_shard(&index.uid, shard, *node)
                })
                .ok_or_else(|| Error::NodeUnavailable {
                    node: table.replica_ids(shard).join(","),
                    reason: format!("no owner of shard {shard} is up and in sync to copy from"),
                })?;
            work.entry((source, target)).or_default().push(shard);
        }
    }
    Ok(work)
}

fn nodes_of(work: &BTreeMap<(usize, usize), Vec<u32>>) -> Vec<usize> {
    let mut nodes: Vec<usize> = work.keys().flat_map(|(s, t)| [*s, *t]).collect();
    nodes.sort_unstable();
    nodes.dedup();
    nodes
}

/// Copying → CatchingUp: sends each node the shards it lacks, sources and targets held at the
/// journal head meanwhile.
async fn copy(state: &AppState, index: &IndexRecord) -> Result<bool> {
    let work = copies(state, index)?;
    let limit = state
        .config
        .rebalance_max_documents_per_second
        .map(|limit| (limit / work.len().max(1) as u64).max(1));
    let sends = work.iter().map(|((source, target), shards)| async move {
        let key = write_key(state, *target).await?;
        copy_shards(
            state.cluster.node(*source),
            (state.cluster.node(*target), key.as_deref()),
            index,
            shards,
            Some(MOVE_TAG),
            limit,
        )
        .await
    });
    let done = while_held(state, &nodes_of(&work), try_join_all(sends)).await?;
    let documents: u64 = done.iter().map(|copied| copied.copied).sum();
    update(state, &index.uid, |reshape| {
        reshape.step = MoveStep::CatchingUp;
        reshape.documents = documents;
    })
    .await?;
    Ok(true)
}

/// CatchingUp → Verifying once no node's replica of the index is stale any more.
async fn caught_up(state: &AppState, index: &IndexRecord) -> Result<bool> {
    let (table, placed) = sharded(state, index)?;
    let lagging = placed.iter().any(|node| {
        lacked_shards(&table, *node)
            .iter()
            .any(|shard| state.cluster.is_stale_shard(&index.uid, *shard, *node))
    });
    if lagging {
        state.task_created.notify_one();
        return Ok(false);
    }
    update(state, &index.uid, |reshape| {
        reshape.step = MoveStep::Verifying
    })
    .await?;
    Ok(true)
}

/// Verifying → whole (or back to Copying on a difference): every copied shard compared with
/// its source, all held at one journal head; then the index is recorded whole, which switches
/// its reads to every node.
async fn verify(state: &AppState, index: &IndexRecord) -> Result<bool> {
    let work = copies(state, index)?;
    let comparisons = work.iter().flat_map(|((source, target), shards)| {
        shards.iter().map(move |shard| async move {
            let (expected, found) = futures::try_join!(
                shard_summary(state.cluster.node(*source), index, *shard),
                shard_summary(state.cluster.node(*target), index, *shard),
            )?;
            if found != expected {
                tracing::warn!(index = %index.uid, shard, target = %state.cluster.node(*target).id, ?expected, ?found, "copied shard differs from its source; copying again");
            }
            Ok::<_, Error>(found != expected)
        })
    });
    let compared = stream::iter(comparisons.collect::<Vec<_>>())
        .buffer_unordered(COMPARISONS_AT_ONCE)
        .try_collect::<Vec<_>>();
    let differing = while_held(state, &nodes_of(&work), compared)
        .await?
        .contains(&true);
    if differing {
        update(state, &index.uid, |reshape| {
            reshape.step = MoveStep::Copying
        })
        .await?;
        return Ok(true);
    }
    let _journaling = state.write_lock.lock().await;
    if let Some(mut index) = state.store.get_index(&index.uid)? {
        index.whole = true;
        index.reshape = None;
        state.store.put_index(&index)?;
    }
    bump_epoch(state)?;
    Ok(true)
}

/// Planned → Switched: the index is recorded sharded (reads and writes use the sharded
/// placement from now on); the journal head is noted for the deletions.
async fn switch_to_sharded(state: &AppState, index: &IndexRecord) -> Result<bool> {
    {
        let _journaling = state.write_lock.lock().await;
        let head = state.store.journal_head()?;
        if let Some(mut index) = state.store.get_index(&index.uid)? {
            index.whole = false;
            if let Some(reshape) = &mut index.reshape {
                reshape.step = MoveStep::Switched;
                reshape.switched_at = Some(head);
            }
            state.store.put_index(&index)?;
        }
        bump_epoch(state)?;
    }
    // Reads planned before the switch may still read every shard anywhere.
    reads_planned_before(state).await;
    Ok(true)
}

/// Switched → Done: deletes from each node the shards it lacks, once it received every write
/// up to the switch (it runs its tasks in order, so the deletion runs after them). A node
/// that is down is skipped: its copy is stale and rebuilt when it is back.
async fn delete_lacked(state: &AppState, index: &IndexRecord) -> Result<bool> {
    let head = index
        .reshape
        .as_ref()
        .and_then(|r| r.switched_at)
        .unwrap_or(0);
    let (table, placed) = sharded(state, index)?;
    let mut deletions = Vec::new();
    for node in placed {
        let lacked = lacked_shards(&table, node);
        if lacked.is_empty() || !state.cluster.is_up(node) {
            continue;
        }
        let id = &state.cluster.node(node).id;
        if state.store.undelivered_through(id, head)? > 0 {
            return Ok(false);
        }
        deletions.push((node, lacked));
    }
    let uid = &index.uid;
    let sent = deletions
        .iter()
        .map(|(node, lacked)| delete_shards(state, *node, uid, lacked));
    let sent = try_join_all(sent).await?;
    update(state, uid, |reshape| {
        reshape.step = MoveStep::Done;
        reshape.deletions = sent;
    })
    .await?;
    Ok(true)
}

/// Done: waits for the deletions (of nodes still up), then ends the reshape.
async fn finish(state: &AppState, index: &IndexRecord) -> Result<bool> {
    if let Some(reshape) = &index.reshape {
        for (id, task) in &reshape.deletions {
            let Some(node) = state.cluster.position(id) else {
                continue;
            };
            if state.cluster.is_up(node) {
                wait_tasks(state.cluster.node(node), &[*task]).await?;
            }
        }
    }
    let _journaling = state.write_lock.lock().await;
    if let Some(mut index) = state.store.get_index(&index.uid)? {
        index.reshape = None;
        state.store.put_index(&index)?;
    }
    tracing::info!(index = %index.uid, "reshape done");
    Ok(true)
}
