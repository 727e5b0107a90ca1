//! Rebuilding the replicas of a node that lost its data (its disk was replaced, its data
//! directory deleted; found by the delivery's reconciliation, `write::delivery`), whose
//! backlog the journal no longer keeps (past `journal_retention`), or that joins the fleet
//! empty (`admin::join`: it gets every index and its settings, and no shard): the node is marked lost —
//! treated as down, its replicas stale — until this rebuild copied every shard it holds from
//! an in-sync peer.
//!
//! How it stays exact while writes go on: the journal head `H` is noted and every peer is held
//! at it (`Outbox::hold_after`): peers apply every entry up to `H` and nothing after, so their
//! data is exactly the state at `H` while it is copied (reads are served as usual; tasks of
//! later writes wait for the peers until the copy ends). For each index the node's copy is
//! created with the peer's settings (shard marker and facet cap included), then the documents
//! of each shard it holds are copied from a peer holding it, selected by the shard marker
//! (offset paging is stable here: the source receives no write while it is read), and the
//! counts are checked. The node's calls up to `H` are then recorded as superseded, the peers
//! released, and the node receives the journal from `H` on like any node catching up; its
//! replicas are in sync once it has.
//!
//! Progress (indexes, shards, documents) is logged. Not copied: stored embeddings (`_vectors`),
//! chat workspaces, and an embedder's API key, which a node never shows.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::Method;
use serde_json::{json, Value};

use miroir_store::IndexRecord;

use super::copy::{copy_shards, count_documents, newest_task, wait_tasks};
use super::delivery::{leaseholder_json, write_key};
use crate::cluster::marks;
use crate::cluster::node::{url_encode, NodeBody};
use crate::cluster::Health;
use crate::error::{Error, Result};
use crate::instance::search_rules;
use crate::state::AppState;

/// The longest a rebuild waits for peers to reach the head.
const PATIENCE: Duration = Duration::from_secs(600);

/// Runs forever: enforces the journal's retention, and rebuilds every node found lost once
/// its health checks see it answering.
pub(crate) async fn run(state: Arc<AppState>) {
    let mut ticks = tokio::time::interval(state.config.health_interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = state.rebuild_wanted.notified() => {}
        }
        if let Err(error) = enforce_retention(&state) {
            tracing::warn!(%error, "journal retention could not be enforced");
        }
        for node in 0..state.cluster.node_count() {
            if !state.cluster.is_lost(node)
                || state.cluster.is_retired(node)
                || state.cluster.health(node) != Health::Healthy
            {
                continue;
            }
            let id = state.cluster.node(node).id.clone();
            let started = Instant::now();
            match rebuild(&state, node).await {
                Ok(documents) => tracing::info!(
                    node = %id,
                    documents,
                    seconds = started.elapsed().as_secs_f64(),
                    "node rebuilt; it catches up on the journal from here"
                ),
                Err(error) => tracing::warn!(node = %id, %error, "rebuild failed; retrying"),
            }
        }
    }
}

/// Drops the backlog of every node that keeps the journal past its retention — its oldest
/// undelivered write is older than `journal_retention`, or the journal holds more than
/// `journal_retention_bytes` of payloads while the node is down — and marks the node lost, so
/// that its replicas are rebuilt from their peers when it is back.
fn enforce_retention(state: &AppState) -> Result<()> {
    let over_bytes = state.store.journal_bytes()? > state.config.journal_retention_bytes;
    for node in 0..state.cluster.node_count() {
        if state.cluster.is_lost(node) {
            continue;
        }
        let id = state.cluster.node(node).id.clone();
        let Some(oldest) = state.store.oldest_undelivered(&id)? else {
            continue;
        };
        let waited = time::OffsetDateTime::now_utc() - oldest;
        let too_old = waited > state.config.journal_retention;
        if !(too_old || (over_bytes && !state.cluster.is_up(node))) {
            continue;
        }
        tracing::warn!(node = %id, "the node's backlog passed the journal retention: dropped; its replicas are rebuilt when it is back");
        super::delivery::mark_lost(state, node)?;
        let head = state.store.journal_head()?;
        state.store.supersede_through(&id, head)?;
    }
    Ok(())
}

/// Rebuilds `node` (see the module docs); returns how many documents were copied.
pub(crate) async fn rebuild(state: &AppState, node: usize) -> Result<u64> {
    let _holding = state.holding.lock().await;
    let peers: Vec<usize> = state
        .cluster
        .fleet()
        .into_iter()
        .filter(|peer| *peer != node)
        .collect();
    let head = {
        let _journaling = state.write_lock.lock().await;
        let head = state.store.journal_head()?;
        for peer in &peers {
            state
                .cluster
                .outbox(*peer)
                .hold_after
                .store(head, Ordering::SeqCst);
        }
        let held: Vec<String> = peers
            .iter()
            .map(|peer| state.cluster.node(*peer).id.clone())
            .collect();
        state.store.set_held_nodes(&held)?;
        head
    };
    tracing::info!(node = %state.cluster.node(node).id, head, "rebuild: peers held at the journal head");
    let copied = copy_all(state, node, &peers, head).await;
    if let Err(error) = state.store.set_held_nodes(&[]) {
        tracing::warn!(%error, "cannot record that no node is held");
    }
    for peer in &peers {
        let outbox = state.cluster.outbox(*peer);
        outbox.hold_after.store(u64::MAX, Ordering::SeqCst);
        outbox.wake.notify_one();
    }
    let copied = copied?;
    let id = state.cluster.node(node).id.clone();
    state.store.supersede_through(&id, head)?;
    let newest = newest_task(state.cluster.node(node)).await?;
    state.store.set_last_node_task(&id, newest)?;
    marks::set_lost(&state.cluster, state.store.as_ref(), node, false)?;
    state
        .cluster
        .outbox(node)
        .unsure
        .store(false, Ordering::SeqCst);
    state.cluster.outbox(node).wake.notify_one();
    state.task_created.notify_one();
    // A node set up may be one that joins: the rebalancer gives it shards.
    state.topology_changed.notify_one();
    Ok(copied)
}

/// Waits for the peers to reach `head`, then copies every index onto `node`.
async fn copy_all(state: &AppState, node: usize, peers: &[usize], head: u64) -> Result<u64> {
    let deadline = Instant::now() + PATIENCE;
    for peer in peers {
        if !state.cluster.is_up(*peer) {
            continue;
        }
        let id = &state.cluster.node(*peer).id;
        while state.store.undelivered_through(id, head)? > 0 || state.store.node_busy(id)? {
            if Instant::now() > deadline {
                return Err(unavailable(
                    state,
                    *peer,
                    "did not reach the journal head in time",
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    copy_features(state, node, peers).await?;
    copy_search_rules(state, node, peers).await?;
    let mut copied = 0;
    for index in state.store.list_indexes()? {
        copied += copy_index(state, node, &index).await?;
    }
    Ok(copied)
}

fn unavailable(state: &AppState, node: usize, reason: &str) -> Error {
    Error::NodeUnavailable {
        node: state.cluster.node(node).id.clone(),
        reason: reason.to_string(),
    }
}

/// The experimental features of the first peer that answers, applied to `node` (settings that
/// depend on a feature are refused without it).
async fn copy_features(state: &AppState, node: usize, peers: &[usize]) -> Result<()> {
    let Some(peer) = peers.iter().find(|p| state.cluster.is_up(**p)) else {
        return Ok(());
    };
    let features = state
        .cluster
        .node(*peer)
        .json(Method::GET, "/experimental-features", NodeBody::Empty)
        .await?;
    leaseholder_json(
        state,
        node,
        Method::PATCH,
        "/experimental-features",
        NodeBody::Json(features),
    )
    .await?;
    Ok(())
}

/// The dynamic search rules of the first peer that answers, set up on `node` one by one (a
/// rule belongs to the instance: every node holds them all). Nothing while the feature is off
/// on that peer (the node then refuses rule changes, and holds none).
async fn copy_search_rules(state: &AppState, node: usize, peers: &[usize]) -> Result<()> {
    const PAGE: usize = 1000;
    let Some(peer) = peers.iter().find(|p| state.cluster.is_up(**p)) else {
        return Ok(());
    };
    let peer = state.cluster.node(*peer);
    let features = peer
        .json(Method::GET, "/experimental-features", NodeBody::Empty)
        .await?;
    if features.get(search_rules::FEATURE).and_then(Value::as_bool) != Some(true) {
        return Ok(());
    }
    let mut offset = 0;
    loop {
        let listing = peer
            .json(
                Method::POST,
                "/dynamic-search-rules",
                NodeBody::Json(json!({"offset": offset, "limit": PAGE})),
            )
            .await?;
        let rules = listing["results"].as_array().cloned().unwrap_or_default();
        for mut rule in rules.iter().cloned() {
            let Some(uid) = rule.as_object_mut().and_then(|r| r.remove("uid")) else {
                continue;
            };
            let uid = uid.as_str().map_or_else(|| uid.to_string(), str::to_string);
            let path = format!("/dynamic-search-rules/{}", url_encode(&uid));
            leaseholder_json(state, node, Method::PATCH, &path, NodeBody::Json(rule)).await?;
        }
        offset += rules.len();
        if rules.len() < PAGE {
            return Ok(());
        }
    }
}

/// The in-sync replica (other than `node`) a shard of `index` is copied from.
fn source_of(state: &AppState, index: &IndexRecord, shard: u32, node: usize) -> Result<usize> {
    let table = state.cluster.table(state.cluster.layout(index))?;
    table
        .replicas(shard)
        .iter()
        .copied()
        .find(|peer| {
            *peer != node
                && state.cluster.is_up(*peer)
                && !state.cluster.is_stale(&index.uid, *peer)
        })
        .ok_or_else(|| {
            Error::from(crate::error::MeiliError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "miroir_shard_unavailable",
                crate::error::ErrorType::System,
                format!(
                    "Shard {shard} of index `{}` has no replica in sync to rebuild from.",
                    index.uid
                ),
            ))
        })
}

/// Recreates `index` on `node` with a peer's settings and copies the documents of the shards
/// `node` holds; returns how many were copied.
async fn copy_index(state: &AppState, node: usize, index: &IndexRecord) -> Result<u64> {
    let uid = &index.uid;
    let target = state.cluster.node(node);
    let layout = state.cluster.layout(index);
    let table = state.cluster.table(layout)?;
    let shards: Vec<u32> = (0..layout.shards)
        .filter(|shard| table.replicas(*shard).contains(&node))
        .collect();
    // Any in-sync holder of a shard has the index's settings (shard 0 when the node holds no
    // shard: a joining node gets the index and its settings all the same).
    let first = shards.first().copied().unwrap_or(0);
    let settings_source = state.cluster.node(source_of(state, index, first, node)?);
    let settings = settings_source
        .json(
            Method::GET,
            &format!("/indexes/{uid}/settings"),
            NodeBody::Empty,
        )
        .await?;
    let mut tasks = Vec::new();
    match leaseholder_json(
        state,
        node,
        Method::DELETE,
        &format!("/indexes/{uid}"),
        NodeBody::Empty,
    )
    .await
    {
        Ok(answer) => tasks.extend(answer["taskUid"].as_u64()),
        Err(Error::Node { .. }) => {}
        Err(other) => return Err(other),
    }
    let created = leaseholder_json(
        state,
        node,
        Method::POST,
        "/indexes",
        NodeBody::Json(json!({"uid": uid, "primaryKey": index.primary_key})),
    )
    .await?;
    tasks.extend(created["taskUid"].as_u64());
    let configured = leaseholder_json(
        state,
        node,
        Method::PATCH,
        &format!("/indexes/{uid}/settings"),
        NodeBody::Json(settings),
    )
    .await?;
    tasks.extend(configured["taskUid"].as_u64());
    wait_tasks(target, &tasks).await?;
    if shards.is_empty() {
        return Ok(0);
    }

    // Shards grouped by the peer they are copied from.
    let mut by_source: Vec<(usize, Vec<u32>)> = Vec::new();
    for shard in &shards {
        let source = source_of(state, index, *shard, node)?;
        match by_source.iter_mut().find(|(s, _)| *s == source) {
            Some((_, list)) => list.push(*shard),
            None => by_source.push((source, vec![*shard])),
        }
    }
    let mut copied = 0u64;
    let key = write_key(state, node).await?;
    for (source, group) in by_source {
        let source = state.cluster.node(source);
        copied += copy_shards(source, (target, key.as_deref()), index, &group, None, None)
            .await?
            .copied;
    }
    let held = count_documents(target, uid, None).await?;
    let expected = count_documents_of_sources(state, index, &shards, node).await?;
    if held != expected {
        return Err(Error::NodeUnavailable {
            node: target.id.clone(),
            reason: format!(
                "holds {held} documents of `{uid}` after the rebuild, expected {expected}"
            ),
        });
    }
    Ok(copied)
}

/// How many documents of `shards` of `index` their sources hold (the rebuilt node's count
/// must match).
async fn count_documents_of_sources(
    state: &AppState,
    index: &IndexRecord,
    shards: &[u32],
    node: usize,
) -> Result<u64> {
    let mut total = 0;
    for shard in shards {
        let source = state.cluster.node(source_of(state, index, *shard, node)?);
        total += count_documents(source, &index.uid, Some(&[*shard])).await?;
    }
    Ok(total)
}
