//! The rebalancer: when the topology wants another placement than the one in force (a node
//! joined and was set up, a node drains, a node was force-removed, the replication factor
//! changed), it plans the shard moves (`miroir_core::rebalance::plan_moves`, per layout) and
//! carries them out while Miroir serves; when every move is done, the new placement is in
//! force and the topology's epoch is bumped.
//!
//! One move is shard `s` of every index with one layout (shard count, whole or sharded): the
//! indexes of a layout share their placement. Its steps, each persisted in the store before
//! it acts and each idempotent, so a restarted Miroir resumes every move at its step:
//!
//! 1. **Copying.** Under the journal's lock the targets' replicas of the shard are marked stale
//!    (no task waits for them, no read uses them) and writes of the shard start reaching them.
//!    The journal head `H` is noted; the source (an in-sync owner that keeps its copy, if
//!    any) and the targets are held at `H` (`Outbox::hold_after`) and reach it, so the
//!    source's copy is exactly the state at `H` and stable to page through, and the targets
//!    then receive every write after `H` in order. The shard's documents are copied
//!    (`write::copy`), the holds released. Redone after a crash, the copy gives the same
//!    result: documents are written whole, and the targets have applied everything up to the
//!    new head before it starts.
//! 2. **CatchingUp.** The targets apply the journal from `H` on; the poller marks their
//!    replicas in sync again once they received and finished every write of the index.
//! 3. **Verifying.** Source and targets are held at a new head again and their copies of the
//!    shard compared (count and checksum, `miroir_core::verify`); a difference sends the
//!    move back to copying.
//! 4. **Switched.** Under the journal's lock, reads of the shard move to the new owners and
//!    writes stop reaching the dropped ones; the head is noted and the topology's epoch
//!    bumped. Once every read planned before the switch has ended (read generations,
//!    `Cluster::next_read_generation`) and the dropped owners received every write up to the
//!    noted head (they run their tasks in order), the deletion of their copy of the shard is
//!    sent.
//! 5. **Done.** The rebalance ends once every deletion sent has finished.
//!
//! Moves run `rebalance_concurrency` at a time, one batch through each step together (their
//! holds share one journal head). A rebuild and the rebalance never hold nodes at the same
//! time (`AppState::holding`). The copies and deletions sent directly to nodes carry the
//! `customMetadata` [`MOVE_TAG`], which the journal's reconciliation skips. Indexes created
//! with a layout the plan does not cover get their moves planned before the rebalance ends.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::try_join_all;
use futures::stream::{self, StreamExt, TryStreamExt};
use serde_json::{json, Value};
use time::OffsetDateTime;

use miroir_core::hash::ShardCount;
use miroir_core::journal::MOVE_TAG;
use miroir_core::placement::{NodeSpec, PlacementTable};
use miroir_core::rebalance::{plan_moves, LayoutMove, MoveStep, PlacementRecord, RebalancePlan};
use miroir_core::replica::StaleShards;
use miroir_core::topology::{NodeState, Topology};
use miroir_store::{IndexRecord, Store};

use crate::cluster::placement::{Members, Moving};
use crate::cluster::{marks, Cluster, Layout};
use crate::error::{Error, MeiliError, Result};
use crate::state::AppState;
use crate::write::copy::{copy_shards, shard_summary, wait_tasks};
use crate::write::delivery::write_key;

mod reshape;
mod tools;

pub(crate) use reshape::request as request_reshape;
use tools::delete_shards;
use tools::{bump_epoch, corrupt, reads_planned_before, while_held, COMPARISONS_AT_ONCE};
pub(crate) use tools::{record, topology};

/// How often the rebalancer looks again when nothing woke it.
const TICK: Duration = Duration::from_millis(200);

/// The placement record, seeded on the very first start (or by a Miroir that did not keep
/// one yet) from the topology: its nodes that hold shards, its replication factor.
pub(crate) fn seed_record(store: &dyn Store) -> Result<PlacementRecord> {
    if let Some(record) = store.placement_record()? {
        return Ok(record);
    }
    let topology = topology(store)?;
    let record = PlacementRecord {
        placed: topology.placement_nodes().map(|n| n.id.clone()).collect(),
        replication_factor: topology.replication_factor,
        rebalance: None,
    };
    store.put_placement_record(&record)?;
    Ok(record)
}

fn positions(cluster: &Cluster, ids: &[String]) -> Result<Vec<usize>> {
    ids.iter()
        .map(|id| {
            cluster
                .position(id)
                .ok_or(corrupt("placement names a node the cluster does not have"))
        })
        .collect()
}

/// Makes the cluster's placement the record's (at start, and after every change).
pub(crate) fn apply(cluster: &Cluster, record: &PlacementRecord) -> Result<()> {
    let from = Members {
        placed: positions(cluster, &record.placed)?,
        replication_factor: record.replication_factor,
    };
    let moving = match &record.rebalance {
        None => None,
        Some(plan) => Some(Moving {
            to: Members {
                placed: positions(cluster, &plan.placed)?,
                replication_factor: plan.replication_factor,
            },
            steps: plan
                .moves
                .iter()
                .map(|m| {
                    let layout = Layout {
                        shards: m.shard_count,
                        whole: m.whole,
                    };
                    ((layout, m.change.shard), m.step)
                })
                .collect(),
        }),
    };
    cluster.set_placement(from, moving);
    Ok(())
}

/// The placement the topology wants: its active nodes and the joined ones that are set up
/// (draining, down and removed nodes hold nothing), with its replication factor.
fn wanted(state: &AppState, topology: &Topology) -> Vec<String> {
    topology
        .nodes
        .iter()
        .filter(|node| match node.state {
            NodeState::Active => true,
            NodeState::Joining => state
                .cluster
                .position(&node.id)
                .is_some_and(|p| !state.cluster.is_lost(p)),
            _ => false,
        })
        .map(|node| node.id.clone())
        .collect()
}

fn table(topology: &Topology, ids: &[String], rf: usize, layout: Layout) -> Result<PlacementTable> {
    let specs: Vec<NodeSpec> = ids
        .iter()
        .filter_map(|id| topology.nodes.iter().find(|n| n.id == *id))
        .map(|node| node.spec())
        .collect();
    let count = ShardCount::new(layout.shards)
        .map_err(|e| Error::from(MeiliError::invalid("bad_request", e.to_string())))?;
    let copies = if layout.whole { specs.len() } else { rf };
    PlacementTable::new(&specs, count, copies)
        .map_err(|e| MeiliError::invalid("bad_request", e.to_string()).into())
}

/// The moves of every layout of `indexes` not in `known`, from `record`'s placement to
/// `plan`'s.
fn moves_for(
    topology: &Topology,
    record: &PlacementRecord,
    to: &[String],
    to_rf: usize,
    indexes: &[IndexRecord],
    known: &BTreeSet<(u32, bool)>,
) -> Result<Vec<LayoutMove>> {
    let layouts: BTreeSet<(u32, bool)> = indexes
        .iter()
        .map(|index| (index.shard_count, index.whole))
        .filter(|layout| !known.contains(layout))
        .collect();
    let mut moves = Vec::new();
    for (shards, whole) in layouts {
        let layout = Layout { shards, whole };
        let before = table(topology, &record.placed, record.replication_factor, layout)?;
        let after = table(topology, to, to_rf, layout)?;
        moves.extend(
            plan_moves(&before, &after)
                .into_iter()
                .map(|change| LayoutMove {
                    shard_count: shards,
                    whole,
                    change,
                    step: MoveStep::Planned,
                    documents: 0,
                    switched_at: None,
                    deletions: Vec::new(),
                }),
        );
    }
    Ok(moves)
}

/// Runs forever: starts a rebalance when the topology wants another placement and advances
/// the running one.
pub(crate) async fn run(state: Arc<AppState>) {
    loop {
        match advance(&state).await {
            Ok(true) => continue,
            Ok(false) => {}
            Err(error) => tracing::warn!(%error, "rebalance step failed; retrying"),
        }
        let _ = tokio::time::timeout(TICK, state.topology_changed.notified()).await;
    }
}

/// One round; returns whether something progressed.
async fn advance(state: &AppState) -> Result<bool> {
    let _holding = state.holding.lock().await;
    let record = record(state.store.as_ref())?;
    let Some(plan) = record.rebalance.clone() else {
        if let Some(progressed) = reshape::advance(state).await? {
            return Ok(progressed);
        }
        return start(state, record).await;
    };
    if plan.paused || plan.error.is_some() {
        return Ok(false);
    }
    let concurrency = state.config.rebalance_concurrency.max(1);
    let batch: Vec<usize> = plan
        .moves
        .iter()
        .enumerate()
        .filter(|(_, m)| m.step != MoveStep::Done)
        .map(|(i, _)| i)
        .take(concurrency)
        .collect();
    if batch.is_empty() {
        return finish(state, record).await;
    }
    // The batch advances at the pace of its least advanced move.
    let step = batch
        .iter()
        .map(|i| plan.moves[*i].step)
        .min()
        .unwrap_or(MoveStep::Done);
    let batch: Vec<usize> = batch
        .into_iter()
        .filter(|i| plan.moves[*i].step == step)
        .collect();
    let started = Instant::now();
    let progressed = match step {
        MoveStep::Planned => begin_copy(state, &batch).await,
        MoveStep::Copying => copy(state, &batch).await,
        MoveStep::CatchingUp => caught_up(state, &batch).await,
        MoveStep::Verifying => verify(state, &batch).await,
        MoveStep::Switched => drop_old(state, &batch).await,
        MoveStep::Done => Ok(false),
    }?;
    if progressed {
        let shards: Vec<u32> = batch.iter().map(|i| plan.moves[*i].change.shard).collect();
        tracing::info!(
            ?step,
            ?shards,
            done = plan.moves_done(),
            total = plan.moves.len(),
            seconds = started.elapsed().as_secs_f64(),
            "rebalance: step done"
        );
    }
    Ok(progressed)
}

/// Loads the record, lets `change` edit the plan and the record, stores it and applies it.
fn update(
    state: &AppState,
    change: impl FnOnce(&mut PlacementRecord) -> Result<()>,
) -> Result<PlacementRecord> {
    let mut record = record(state.store.as_ref())?;
    change(&mut record)?;
    state.store.put_placement_record(&record)?;
    apply(&state.cluster, &record)?;
    Ok(record)
}

/// The rebalance under way (an error when there is none: a step runs only during one).
fn running_plan(state: &AppState) -> Result<RebalancePlan> {
    record(state.store.as_ref())?
        .rebalance
        .ok_or(corrupt("rebalance missing"))
}

fn plan_mut(record: &mut PlacementRecord) -> Result<&mut RebalancePlan> {
    record
        .rebalance
        .as_mut()
        .ok_or(corrupt("rebalance missing"))
}

/// Starts a rebalance if the topology wants another placement.
async fn start(state: &AppState, record: PlacementRecord) -> Result<bool> {
    let topology = topology(state.store.as_ref())?;
    let to = wanted(state, &topology);
    let rf = topology.replication_factor;
    let same_nodes = to.iter().collect::<BTreeSet<_>>() == record.placed.iter().collect();
    if same_nodes && rf == record.replication_factor {
        return Ok(false);
    }
    if to.len() < rf {
        tracing::warn!(
            nodes = to.len(),
            rf,
            "not enough nodes for the replication factor; no rebalance"
        );
        return Ok(false);
    }
    let _journaling = state.write_lock.lock().await;
    let indexes = state.store.list_indexes()?;
    let moves = moves_for(&topology, &record, &to, rf, &indexes, &BTreeSet::new())?;
    let started_at_ms = (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as u64;
    tracing::info!(moves = moves.len(), from = ?record.placed, to = ?to, rf, "rebalance starts");
    update(state, |record| {
        record.rebalance = Some(RebalancePlan {
            placed: to,
            replication_factor: rf,
            moves,
            paused: false,
            error: None,
            started_at_ms,
        });
        Ok(())
    })?;
    Ok(true)
}

/// The indexes a move concerns.
fn indexes_of(state: &AppState, m: &LayoutMove) -> Result<Vec<IndexRecord>> {
    Ok(state
        .store
        .list_indexes()?
        .into_iter()
        .filter(|index| index.shard_count == m.shard_count && index.whole == m.whole)
        .collect())
}

fn position(state: &AppState, id: &str) -> Result<usize> {
    state
        .cluster
        .position(id)
        .ok_or(corrupt("a move names a node the cluster does not have"))
}

/// The node a move's shard is copied from: its first source that is up and in sync.
fn source_of(state: &AppState, m: &LayoutMove, indexes: &[IndexRecord]) -> Result<usize> {
    for id in &m.change.sources {
        let Some(node) = state.cluster.position(id) else {
            continue;
        };
        let in_sync = indexes.iter().all(|index| {
            !state
                .cluster
                .is_stale_shard(&index.uid, m.change.shard, node)
        });
        if state.cluster.is_up(node) && in_sync {
            return Ok(node);
        }
    }
    Err(Error::NodeUnavailable {
        node: m.change.sources.join(","),
        reason: format!(
            "no owner of shard {} is up and in sync to copy from",
            m.change.shard
        ),
    })
}

/// Planned → Copying: the targets' replicas go stale and start receiving the shard's writes.
async fn begin_copy(state: &AppState, batch: &[usize]) -> Result<bool> {
    let journaling = state.write_lock.lock().await;
    let plan = running_plan(state)?;
    for i in batch {
        let m = &plan.moves[*i];
        for index in indexes_of(state, m)? {
            for target in &m.change.targets {
                let node = position(state, target)?;
                marks::mark_stale(
                    &state.cluster,
                    state.store.as_ref(),
                    &index.uid,
                    node,
                    StaleShards::touched(Some(&[m.change.shard])),
                )?;
            }
        }
    }
    update(state, |record| {
        let plan = plan_mut(record)?;
        for i in batch {
            plan.moves[*i].step = MoveStep::Copying;
        }
        Ok(())
    })?;
    drop(journaling);
    // A read planned before the rebalance may leave out the marker filter on a node that is
    // about to hold copies it does not serve (`Cluster::shard_selection`).
    reads_planned_before(state).await;
    Ok(true)
}

/// One move of a batch, ready to copy or compare: its position in the plan, the move, the
/// indexes it concerns, its source and its targets.
type MoveWork = (usize, LayoutMove, Vec<IndexRecord>, usize, Vec<usize>);

/// The work of a batch, and every node it holds (sources and targets).
fn batch_work(state: &AppState, batch: &[usize]) -> Result<(Vec<MoveWork>, Vec<usize>)> {
    let plan = running_plan(state)?;
    let mut work = Vec::new();
    let mut held = BTreeSet::new();
    for i in batch {
        let m = plan.moves[*i].clone();
        let indexes = indexes_of(state, &m)?;
        let source = source_of(state, &m, &indexes)?;
        let targets = m
            .change
            .targets
            .iter()
            .map(|id| position(state, id))
            .collect::<Result<Vec<usize>>>()?;
        held.insert(source);
        held.extend(targets.iter().copied());
        work.push((*i, m, indexes, source, targets));
    }
    Ok((work, held.into_iter().collect()))
}

/// Copying → CatchingUp: copies each move's shard to its targets.
async fn copy(state: &AppState, batch: &[usize]) -> Result<bool> {
    let (work, held) = batch_work(state, batch)?;
    // Every copy of the batch at once: a target indexes concurrent additions together. The
    // documents/s limit is shared between them.
    let concurrent: usize = work
        .iter()
        .map(|(_, _, indexes, _, targets)| indexes.len() * targets.len())
        .sum();
    let limit = state
        .config
        .rebalance_max_documents_per_second
        .map(|limit| (limit / concurrent.max(1) as u64).max(1));
    let copies = work.iter().flat_map(|(i, m, indexes, source, targets)| {
        indexes.iter().flat_map(move |index| {
            targets.iter().map(move |target| async move {
                let key = write_key(state, *target).await?;
                let done = copy_shards(
                    state.cluster.node(*source),
                    (state.cluster.node(*target), key.as_deref()),
                    index,
                    &[m.change.shard],
                    Some(MOVE_TAG),
                    limit,
                )
                .await?;
                Ok::<_, Error>((*i, done.copied))
            })
        })
    });
    let done = while_held(state, &held, try_join_all(copies)).await?;
    let mut copied: HashMap<usize, u64> = HashMap::new();
    for (i, documents) in done {
        *copied.entry(i).or_default() += documents;
    }
    update(state, |record| {
        let plan = plan_mut(record)?;
        for i in batch {
            plan.moves[*i].step = MoveStep::CatchingUp;
            plan.moves[*i].documents = copied.get(i).copied().unwrap_or(0);
        }
        Ok(())
    })?;
    Ok(true)
}

/// CatchingUp → Verifying once every target's replicas of the shard are in sync again.
async fn caught_up(state: &AppState, batch: &[usize]) -> Result<bool> {
    let plan = running_plan(state)?;
    for i in batch {
        let m = &plan.moves[*i];
        for index in indexes_of(state, m)? {
            for target in &m.change.targets {
                let node = position(state, target)?;
                if state
                    .cluster
                    .is_stale_shard(&index.uid, m.change.shard, node)
                {
                    state.task_created.notify_one();
                    return Ok(false);
                }
            }
        }
    }
    update(state, |record| {
        let plan = plan_mut(record)?;
        for i in batch {
            plan.moves[*i].step = MoveStep::Verifying;
        }
        Ok(())
    })?;
    Ok(true)
}

/// Verifying → Switched (or back to Copying on a difference).
async fn verify(state: &AppState, batch: &[usize]) -> Result<bool> {
    let (work, held) = batch_work(state, batch)?;
    // Every comparison of the batch at once: each reads one shard from a source and a target.
    let comparisons = work.iter().flat_map(|(i, m, indexes, source, targets)| {
        indexes.iter().flat_map(move |index| {
            targets.iter().map(move |target| async move {
                let (expected, found) = futures::try_join!(
                    shard_summary(state.cluster.node(*source), index, m.change.shard),
                    shard_summary(state.cluster.node(*target), index, m.change.shard),
                )?;
                if found != expected {
                    tracing::warn!(index = %index.uid, shard = m.change.shard, target = %state.cluster.node(*target).id, ?expected, ?found, "moved shard differs from its source; copying again");
                }
                Ok::<_, Error>((found != expected).then_some(*i))
            })
        })
    });
    let compared = stream::iter(comparisons.collect::<Vec<_>>())
        .buffer_unordered(COMPARISONS_AT_ONCE)
        .try_collect::<Vec<_>>();
    let differing: Vec<usize> = while_held(state, &held, compared)
        .await?
        .into_iter()
        .flatten()
        .collect();
    let journaling = state.write_lock.lock().await;
    let head = state.store.journal_head()?;
    update(state, |record| {
        let plan = plan_mut(record)?;
        for i in batch {
            if differing.contains(i) {
                plan.moves[*i].step = MoveStep::Copying;
            } else {
                plan.moves[*i].step = MoveStep::Switched;
                plan.moves[*i].switched_at = Some(head);
            }
        }
        Ok(())
    })?;
    let switched = differing.len() < batch.len();
    if switched {
        bump_epoch(state)?;
    }
    drop(journaling);
    if switched {
        // Reads planned before the switch may still read the dropped owners: the deletion
        // waits for them (`drop_old`).
        reads_planned_before(state).await;
    }
    Ok(true)
}

/// Switched → Done: sends the deletion of the dropped owners' copies once they received every
/// write up to the switch (`finish` waits for them) (a dropped owner that is down or removed is skipped: it holds nothing anyone
/// reads, and a removed node is never reached again).
async fn drop_old(state: &AppState, batch: &[usize]) -> Result<bool> {
    let plan = running_plan(state)?;
    // A dropped owner must have received every write up to the switch; it need not have
    // applied them: a node runs its tasks in order, so the deletion runs after them.
    let mut deletions = Vec::new();
    for i in batch {
        let m = &plan.moves[*i];
        let head = m.switched_at.unwrap_or(0);
        for id in &m.change.drops {
            let node = position(state, id)?;
            if !state.cluster.is_up(node) {
                continue;
            }
            if state.store.undelivered_through(id, head)? > 0 {
                return Ok(false);
            }
            for index in indexes_of(state, m)? {
                deletions.push((*i, node, index.uid, m.change.shard));
            }
        }
    }
    let sent = deletions.iter().map(|(i, node, uid, shard)| async move {
        let (id, task) = delete_shards(state, *node, uid, &[*shard]).await?;
        Ok::<_, Error>((*i, id, task))
    });
    let sent = try_join_all(sent).await?;
    update(state, |record| {
        let plan = plan_mut(record)?;
        for i in batch {
            plan.moves[*i].step = MoveStep::Done;
        }
        for (i, node, task) in sent {
            plan.moves[i].deletions.push((node, task));
        }
        Ok(())
    })?;
    Ok(true)
}

/// Waits for the deletions of the dropped copies (those of nodes still up and in the fleet).
async fn deletions_done(state: &AppState, plan: &RebalancePlan) -> Result<()> {
    let mut by_node: HashMap<&str, Vec<u64>> = HashMap::new();
    for m in &plan.moves {
        for (node, task) in &m.deletions {
            by_node.entry(node.as_str()).or_default().push(*task);
        }
    }
    for (id, tasks) in by_node {
        let Some(node) = state.cluster.position(id) else {
            continue;
        };
        if state.cluster.is_up(node) {
            wait_tasks(state.cluster.node(node), &tasks).await?;
        }
    }
    Ok(())
}

/// Every move done: plans the layouts created meanwhile, or puts the new placement in force.
async fn finish(state: &AppState, record: PlacementRecord) -> Result<bool> {
    if let Some(plan) = &record.rebalance {
        deletions_done(state, plan).await?;
    }
    let _journaling = state.write_lock.lock().await;
    let plan = record
        .rebalance
        .clone()
        .ok_or(corrupt("rebalance missing"))?;
    let topology = topology(state.store.as_ref())?;
    let known: BTreeSet<(u32, bool)> = plan
        .moves
        .iter()
        .map(|m| (m.shard_count, m.whole))
        .collect();
    let indexes = state.store.list_indexes()?;
    let late = moves_for(
        &topology,
        &record,
        &plan.placed,
        plan.replication_factor,
        &indexes,
        &known,
    )?;
    if !late.is_empty() {
        update(state, |record| {
            plan_mut(record)?.moves.extend(late);
            Ok(())
        })?;
        return Ok(true);
    }
    update(state, |record| {
        record.placed = plan.placed.clone();
        record.replication_factor = plan.replication_factor;
        record.rebalance = None;
        Ok(())
    })?;
    let mut topology = topology;
    for node in &mut topology.nodes {
        if node.state == NodeState::Joining && plan.placed.contains(&node.id) {
            node.state = NodeState::Active;
        }
    }
    topology.epoch += 1;
    state.store.put_topology(&topology)?;
    tracing::info!(
        epoch = topology.epoch,
        moves = plan.moves.len(),
        documents = plan.documents_copied(),
        "rebalance done"
    );
    Ok(true)
}

/// The rebalance's progress, as `GET /_miroir/rebalance` answers it.
pub(crate) fn progress(state: &AppState) -> Result<Value> {
    let record = record(state.store.as_ref())?;
    let Some(plan) = record.rebalance else {
        return Ok(json!({
            "state": "idle",
            "movesTotal": 0,
            "movesDone": 0,
            "documentsTotal": 0,
            "documentsCopied": 0,
            "startedAt": null,
            "etaSeconds": null,
        }));
    };
    let status = if plan.error.is_some() {
        "failed"
    } else if plan.paused {
        "paused"
    } else {
        "running"
    };
    let started =
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(plan.started_at_ms) * 1_000_000).ok();
    let total = plan.moves.len();
    let done = plan.moves_done();
    let eta = started.and_then(|started| {
        let elapsed = (OffsetDateTime::now_utc() - started).as_seconds_f64();
        (done > 0).then(|| (elapsed * (total - done) as f64 / done as f64).round() as u64)
    });
    let copied = plan.documents_copied();
    // Estimated from the moves copied so far (a move's documents are counted as it copies).
    let copied_moves = plan
        .moves
        .iter()
        .filter(|m| m.step >= MoveStep::CatchingUp)
        .count();
    let documents_total = if copied_moves == 0 {
        0
    } else {
        copied * total as u64 / copied_moves as u64
    };
    let mut answer = json!({
        "state": status,
        "movesTotal": total,
        "movesDone": done,
        "documentsTotal": documents_total,
        "documentsCopied": copied,
        "startedAt": started.and_then(|at| at.format(&time::format_description::well_known::Rfc3339).ok()),
        "etaSeconds": eta,
    });
    if let Some(error) = plan.error {
        answer["error"] = json!(error);
    }
    Ok(answer)
}

/// Pauses or resumes the running rebalance; `false` when none runs.
pub(crate) fn set_paused(state: &AppState, paused: bool) -> Result<bool> {
    if record(state.store.as_ref())?.rebalance.is_none() {
        return Ok(false);
    }
    update(state, |record| {
        let plan = plan_mut(record)?;
        plan.paused = paused;
        if !paused {
            plan.error = None;
        }
        Ok(())
    })?;
    state.topology_changed.notify_one();
    Ok(true)
}

/// Whether placement gives node `id` shards, now or once the running rebalance is done.
pub(crate) fn holds_shards(state: &AppState, id: &str) -> Result<bool> {
    let record = record(state.store.as_ref())?;
    let later = record
        .rebalance
        .as_ref()
        .is_some_and(|plan| plan.placed.iter().any(|p| p == id));
    Ok(later || record.placed.iter().any(|p| p == id))
}
