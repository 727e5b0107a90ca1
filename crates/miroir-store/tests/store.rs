//! The store's contract, run against both backends: SQLite in a temporary directory and Redis
//! in a real `redis-server` (skipped, with a line on stderr, where it is not installed and
//! `MIROIR_REQUIRE_REDIS` is not set).

use std::sync::Arc;

use serde_json::json;
use time::{Duration, OffsetDateTime};

use miroir_core::replica::StaleShards;
use miroir_core::task::TaskStatus;
use miroir_core::topology::{NodeState, Topology, TopologyNode};
use miroir_store::{
    CallBody, Delivery, Error, IndexRecord, JournalCall, NewEntry, NodeTaskRef, RedisStore, Result,
    SqliteStore, Store, TaskFilter, TaskPage, TaskRecord, SCHEMA_VERSION,
};
use miroir_testnode::redis_server::RedisServer;

/// Where a store lives, so that a test can open it again.
enum Backend {
    Sqlite(tempfile::TempDir),
    Redis(RedisServer),
}

impl Backend {
    fn sqlite() -> Backend {
        Backend::Sqlite(tempfile::tempdir().expect("temp dir"))
    }

    fn redis() -> Option<Backend> {
        RedisServer::start().map(Backend::Redis)
    }

    fn open(&self) -> Result<Box<dyn Store>> {
        Ok(match self {
            Backend::Sqlite(dir) => Box::new(SqliteStore::open(dir.path())?),
            Backend::Redis(server) => Box::new(RedisStore::open(&server.url(0))?),
        })
    }
}

/// One test per backend.
macro_rules! on_both {
    ($name:ident) => {
        mod $name {
            #[test]
            fn sqlite() -> miroir_store::Result<()> {
                super::$name(&super::Backend::sqlite())
            }

            #[test]
            fn redis() -> miroir_store::Result<()> {
                match super::Backend::redis() {
                    Some(backend) => super::$name(&backend),
                    None => Ok(()),
                }
            }
        }
    };
}

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

fn page(filter: TaskFilter, limit: usize, reverse: bool) -> TaskPage {
    TaskPage {
        filter,
        from: None,
        limit,
        reverse,
    }
}

fn uids(tasks: &[TaskRecord]) -> Vec<u64> {
    tasks.iter().map(|t| t.uid).collect()
}

on_both!(tasks_survive_reopen_and_filter);
fn tasks_survive_reopen_and_filter(backend: &Backend) -> Result<()> {
    {
        let store = backend.open()?;
        assert_eq!(store.create_task(&task("a", "indexCreation"))?, 0);
        assert_eq!(
            store.create_task(&task("b", "documentAdditionOrUpdate"))?,
            1
        );
        let mut third = task("a", "documentAdditionOrUpdate");
        third.uid = store.create_task(&third)?;
        let stale_copy = third.clone();
        third.status = TaskStatus::Succeeded;
        store.update_task(&third)?;
        // A cancelation landing late changes neither status nor anything else…
        store.set_canceled_by(third.uid, 1)?;
        let read = store.get_task(third.uid)?;
        assert_eq!(read.as_ref().map(|t| t.status), Some(TaskStatus::Succeeded));
        assert_eq!(read.and_then(|t| t.canceled_by), Some(1));
        // …and progress written from an older copy keeps the canceler.
        store.update_task(&stale_copy)?;
        assert_eq!(
            store.get_task(third.uid)?.and_then(|t| t.canceled_by),
            Some(1)
        );
        store.update_task(&third)?;
    }
    let store = backend.open()?;
    let (tasks, total) = store.list_tasks(&page(TaskFilter::default(), 2, false))?;
    assert_eq!(total, 3);
    assert_eq!(uids(&tasks), [2, 1]);
    assert_eq!(tasks[0].status, TaskStatus::Succeeded);
    assert_eq!(tasks[0].node_tasks[0].uid, 7);

    let filtered = TaskFilter {
        index_uids: Some(vec!["a".into()]),
        statuses: Some(vec![TaskStatus::Enqueued]),
        ..TaskFilter::default()
    };
    let (tasks, total) = store.list_tasks(&page(filtered, 20, true))?;
    assert_eq!((uids(&tasks), total), (vec![0], 1));

    let patterned = TaskFilter {
        index_patterns: Some(vec!["a*".into()]),
        ..TaskFilter::default()
    };
    assert_eq!(store.list_tasks(&page(patterned, 20, false))?.1, 2);

    assert_eq!(store.unfinished_tasks()?.len(), 2);
    assert_eq!(store.delete_tasks(&[0, 5])?, 1);
    // Uids keep growing after a deletion.
    assert_eq!(store.create_task(&task("c", "indexCreation"))?, 3);
    // A deleted task is not brought back by a late update.
    let mut gone = task("a", "indexCreation");
    gone.uid = 0;
    store.update_task(&gone)?;
    store.set_canceled_by(0, 3)?;
    assert!(store.get_task(0)?.is_none());
    assert_eq!(
        store.list_tasks(&page(TaskFilter::default(), 20, false))?.1,
        3
    );
    Ok(())
}

on_both!(every_task_filter_and_page);
fn every_task_filter_and_page(backend: &Backend) -> Result<()> {
    let store = backend.open()?;
    let start = OffsetDateTime::now_utc();
    for (position, (index, kind)) in [
        ("movies", "indexCreation"),
        ("movies", "documentAdditionOrUpdate"),
        ("books", "documentAdditionOrUpdate"),
        ("moviesArchive", "settingsUpdate"),
        ("books", "documentDeletion"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut record = task(index, kind);
        record.enqueued_at = start + Duration::seconds(position as i64);
        store.create_task(&record)?;
    }
    let mut no_index = task("x", "taskCancelation");
    no_index.index_uid = None;
    no_index.enqueued_at = start + Duration::seconds(5);
    assert_eq!(store.create_task(&no_index)?, 5);
    let mut finished = store.get_task(1)?.expect("task 1");
    finished.status = TaskStatus::Succeeded;
    finished.started_at = Some(start + Duration::seconds(10));
    finished.finished_at = Some(start + Duration::seconds(11));
    store.update_task(&finished)?;
    store.set_canceled_by(2, 5)?;
    store.set_canceled_by(4, 5)?;

    let list = |filter: TaskFilter| -> Result<(Vec<u64>, u64)> {
        let (tasks, total) = store.list_tasks(&page(filter, 20, true))?;
        Ok((uids(&tasks), total))
    };
    let types = TaskFilter {
        types: Some(vec![
            "documentAdditionOrUpdate".into(),
            "documentDeletion".into(),
        ]),
        ..TaskFilter::default()
    };
    assert_eq!(list(types.clone())?, (vec![1, 2, 4], 3));
    let types_and_index = TaskFilter {
        index_uids: Some(vec!["books".into()]),
        ..types
    };
    assert_eq!(list(types_and_index)?, (vec![2, 4], 2));
    let cancelers = TaskFilter {
        canceled_by: Some(vec![5]),
        ..TaskFilter::default()
    };
    assert_eq!(list(cancelers)?, (vec![2, 4], 2));
    let explicit = TaskFilter {
        uids: Some(vec![0, 3, 42]),
        ..TaskFilter::default()
    };
    assert_eq!(list(explicit)?, (vec![0, 3], 2));
    let patterns = TaskFilter {
        index_patterns: Some(vec!["movies*".into(), "books".into()]),
        statuses: Some(vec![TaskStatus::Enqueued]),
        ..TaskFilter::default()
    };
    assert_eq!(list(patterns)?, (vec![0, 2, 3, 4], 4));
    let nothing = TaskFilter {
        statuses: Some(vec![]),
        ..TaskFilter::default()
    };
    assert_eq!(list(nothing)?, (vec![], 0));
    let unknown_pattern = TaskFilter {
        index_patterns: Some(vec!["zzz*".into()]),
        ..TaskFilter::default()
    };
    assert_eq!(list(unknown_pattern)?, (vec![], 0));

    // Dates are exclusive bounds; a task that has not started passes no started filter.
    let enqueued = TaskFilter {
        after_enqueued_at: Some(start + Duration::seconds(1)),
        before_enqueued_at: Some(start + Duration::seconds(4)),
        ..TaskFilter::default()
    };
    assert_eq!(list(enqueued.clone())?, (vec![2, 3], 2));
    let started = TaskFilter {
        after_started_at: Some(start),
        ..TaskFilter::default()
    };
    assert_eq!(list(started)?, (vec![1], 1));
    let finished_before = TaskFilter {
        before_finished_at: Some(start + Duration::seconds(11)),
        ..TaskFilter::default()
    };
    assert_eq!(list(finished_before)?, (vec![], 0));

    // Pages: newest first from a uid, or oldest first from one, with and without dates.
    let from = |from: u64, reverse: bool, filter: TaskFilter| -> Result<(Vec<u64>, u64)> {
        let (tasks, total) = store.list_tasks(&TaskPage {
            filter,
            from: Some(from),
            limit: 2,
            reverse,
        })?;
        Ok((uids(&tasks), total))
    };
    assert_eq!(from(3, false, TaskFilter::default())?, (vec![3, 2], 6));
    assert_eq!(from(3, true, TaskFilter::default())?, (vec![3, 4], 6));
    assert_eq!(from(2, false, enqueued.clone())?, (vec![2], 2));
    assert_eq!(from(2, true, enqueued.clone())?, (vec![2, 3], 2));

    assert_eq!(store.matching_task_uids(&enqueued)?, vec![2, 3]);
    assert_eq!(
        store.matching_task_uids(&TaskFilter::default())?,
        vec![0, 1, 2, 3, 4, 5]
    );
    // A status change moves the task between the status filters.
    let succeeded = TaskFilter {
        statuses: Some(vec![TaskStatus::Succeeded]),
        ..TaskFilter::default()
    };
    assert_eq!(list(succeeded)?, (vec![1], 1));
    assert_eq!(uids(&store.unfinished_tasks()?), vec![0, 2, 3, 4, 5]);
    Ok(())
}

on_both!(indexes_round_trip);
fn indexes_round_trip(backend: &Backend) -> Result<()> {
    let store = backend.open()?;
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
        foreign_keys: vec![json!({"foreignIndexUid": "authors", "fieldName": "author"})],
        reshape: Some(miroir_core::reshape::Reshape::new(false)),
    };
    store.put_index(&record)?;
    let other = IndexRecord {
        uid: "books".into(),
        ..record.clone()
    };
    store.put_index(&other)?;
    assert_eq!(store.get_index("movies")?, Some(record.clone()));
    let listed: Vec<String> = store.list_indexes()?.into_iter().map(|i| i.uid).collect();
    assert_eq!(listed, ["books", "movies"]);
    assert!(store.delete_index("movies")?);
    assert!(!store.delete_index("movies")?);
    assert_eq!(store.get_index("movies")?, None);
    Ok(())
}

on_both!(keys_and_webhooks_keep_their_order);
fn keys_and_webhooks_keep_their_order(backend: &Backend) -> Result<()> {
    let store = backend.open()?;
    store.put_key("k2", &json!({"uid": "k2", "name": "second"}))?;
    store.put_key("k1", &json!({"uid": "k1", "name": "first"}))?;
    store.put_key("k2", &json!({"uid": "k2", "name": "renamed"}))?;
    let names: Vec<serde_json::Value> = store
        .list_keys()?
        .into_iter()
        .map(|k| k["name"].clone())
        .collect();
    assert_eq!(names, [json!("renamed"), json!("first")]);
    assert_eq!(
        store.get_key("k1")?,
        Some(json!({"uid": "k1", "name": "first"}))
    );
    assert!(store.delete_key("k2")?);
    assert!(!store.delete_key("k2")?);
    assert_eq!(store.list_keys()?.len(), 1);
    assert_eq!(store.get_key("k2")?, None);

    store.put_webhook("w1", &json!({"url": "http://127.0.0.1:1/a"}))?;
    store.put_webhook("w0", &json!({"url": "http://127.0.0.1:1/b"}))?;
    assert_eq!(store.list_webhooks()?[0]["url"], "http://127.0.0.1:1/a");
    assert!(store.delete_webhook("w1")?);
    assert_eq!(store.list_webhooks()?.len(), 1);
    Ok(())
}

on_both!(finished_tasks_wait_in_the_webhook_outbox_until_sent);
fn finished_tasks_wait_in_the_webhook_outbox_until_sent(backend: &Backend) -> Result<()> {
    let store = backend.open()?;
    let mut finished = task("a", "indexCreation");
    finished.status = TaskStatus::Failed;
    // Without a webhook, nothing is to be announced.
    store.create_task(&finished)?;
    assert_eq!(store.webhook_outbox(10)?, Vec::<u64>::new());

    store.put_webhook("w1", &json!({"url": "http://127.0.0.1:1/a"}))?;
    let created_finished = store.create_task(&finished)?;
    let mut followed = task("a", "documentAdditionOrUpdate");
    followed.uid = store.create_task(&followed)?;
    followed.status = TaskStatus::Processing;
    store.update_task(&followed)?;
    assert_eq!(store.webhook_outbox(10)?, [created_finished]);
    followed.status = TaskStatus::Succeeded;
    store.update_task(&followed)?;
    // Updating a finished task again announces it once.
    store.update_task(&followed)?;
    assert_eq!(store.webhook_outbox(10)?, [created_finished, followed.uid]);
    assert_eq!(store.webhook_outbox(1)?, [created_finished]);
    drop(store);

    // The outbox outlives the process that filled it.
    let store = backend.open()?;
    store.webhooks_sent(&[created_finished])?;
    assert_eq!(store.webhook_outbox(10)?, [followed.uid]);
    store.update_task(&followed)?;
    assert_eq!(store.webhook_outbox(10)?, [followed.uid]);
    // A deleted task has nothing left to announce.
    store.delete_tasks(&[followed.uid])?;
    assert_eq!(store.webhook_outbox(10)?, Vec::<u64>::new());
    Ok(())
}

fn call(node: &str, path: &str, body: CallBody) -> JournalCall {
    JournalCall {
        node: node.into(),
        method: "POST".into(),
        path: path.into(),
        body,
        shards: None,
    }
}

fn delivered(node: &str, seq: u64, call: u32, node_task: u64) -> Delivery {
    Delivery {
        node: node.into(),
        seq,
        call,
        node_task: Some(node_task),
        status: TaskStatus::Enqueued,
        error: None,
        details: None,
        started_at: None,
        finished_at: None,
    }
}

on_both!(journal_delivers_each_node_its_calls_in_order);
fn journal_delivers_each_node_its_calls_in_order(backend: &Backend) -> Result<()> {
    let store = backend.open()?;
    let payload = b"{\"id\":1}\n{\"id\":2}\n".to_vec();
    let entry = NewEntry {
        index_uid: Some("movies".into()),
        calls: vec![
            call("a", "/indexes", CallBody::Empty),
            call("b", "/indexes", CallBody::Empty),
            call(
                "a",
                "/indexes/movies/documents",
                CallBody::Payload {
                    ranges: vec![(0, 9)],
                },
            ),
        ],
        payload: Some(Arc::new(payload)),
    };
    let (uid, first) =
        store.create_journaled_task(&task("movies", "indexCreation"), &entry, true)?;
    assert!(store.next_delivery("a")?.is_none(), "held");
    let journaled = OffsetDateTime::now_utc();
    assert_eq!(
        store.release_held(journaled - Duration::hours(1))?,
        0,
        "held since later"
    );
    assert_eq!(store.release_held(journaled + Duration::seconds(1))?, 1);
    assert_eq!(store.release_held(journaled + Duration::seconds(1))?, 0);
    let (_, second) =
        store.create_journaled_task(&task("movies", "indexCreation"), &entry, false)?;
    assert!(second > first);
    assert_eq!(
        store
            .journal_entry_of_task(uid)?
            .map(|e| (e.seq, e.calls.len())),
        Some((first, 3))
    );
    let (next, position) = store.next_delivery("a")?.expect("a has calls");
    assert_eq!((next.seq, position, next.task_uid), (first, 0, uid));
    assert_eq!(store.undelivered("a", Some("movies"))?, 4);
    assert_eq!(store.undelivered("a", Some("books"))?, 0);
    assert_eq!(store.undelivered("a", None)?, 4);
    store.record_delivery(&delivered("a", first, 0, 7))?;
    assert_eq!(
        store.next_delivery("a")?.map(|(e, c)| (e.seq, c)),
        Some((first, 2))
    );
    assert_eq!(store.payload_ranges(first, &[(0, 9)])?, b"{\"id\":1}\n");
    assert_eq!(
        store.payload_ranges(first, &[(9, 18), (0, 9)])?,
        b"{\"id\":2}\n{\"id\":1}\n"
    );
    store.record_delivery(&delivered("a", first, 2, 8))?;
    assert_eq!(
        store.next_delivery("a")?.map(|(e, c)| (e.seq, c)),
        Some((second, 0))
    );
    assert_eq!(store.last_node_task("a")?, Some(8));
    assert_eq!(store.last_node_task("b")?, None);
    let before = task("movies", "indexCreation").node_tasks.len();
    let refs = store.get_task(uid)?.expect("task").node_tasks;
    assert_eq!(
        refs.len(),
        before + 2,
        "each new node task is added to the task"
    );
    assert!(store.node_busy_with("a", "movies")?);
    assert!(!store.node_busy_with("a", "books")?);
    let mut done = delivered("a", first, 0, 7);
    done.status = TaskStatus::Succeeded;
    done.details = Some(json!({"indexedDocuments": 1}));
    store.record_delivery(&done)?;
    assert_eq!(store.unfinished_deliveries()?.len(), 1);
    assert_eq!(store.deliveries(first)?[0], done);
    assert_eq!(store.deliveries(first)?.len(), 2);
    assert_eq!(
        store.get_task(uid)?.expect("task").node_tasks.len(),
        before + 2
    );
    store.set_stale("movies", "b", Some(&StaleShards::touched(Some(&[2, 7]))))?;
    store.set_stale("books", "b", Some(&StaleShards::All))?;
    assert_eq!(
        store.stale_replicas()?,
        vec![
            ("books".to_string(), "b".to_string(), StaleShards::All),
            (
                "movies".to_string(),
                "b".to_string(),
                StaleShards::touched(Some(&[7, 2]))
            ),
        ]
    );
    store.set_stale("movies", "b", None)?;
    store.set_stale("books", "b", None)?;
    assert!(store.stale_replicas()?.is_empty());
    assert_eq!(store.journal_head()?, second);
    assert!(store.oldest_undelivered("b")?.is_some());
    assert!(store.oldest_undelivered("nobody")?.is_none());
    assert_eq!(store.journal_bytes()?, 2 * 18);
    assert_eq!(store.undelivered_bytes("b")?, 2 * 18);
    assert_eq!(store.undelivered_bytes("nobody")?, 0);
    assert_eq!(store.undelivered_through("b", first)?, 1);
    assert_eq!(store.supersede_through("b", first)?, 1);
    assert_eq!(store.undelivered_through("b", first)?, 0);
    assert_eq!(store.undelivered_bytes("b")?, 18);
    assert!(!store.node_busy("b")?);
    assert!(store.node_busy("a")?);
    store.set_last_node_task("b", Some(1))?;
    assert_eq!(store.last_node_task("b")?, Some(1));
    store.set_last_node_task("b", None)?;
    assert_eq!(store.last_node_task("b")?, None);
    store.set_node_lost("b", true)?;
    assert_eq!(store.lost_nodes()?, vec!["b".to_string()]);
    store.set_node_lost("b", false)?;
    assert!(store.lost_nodes()?.is_empty());
    // Finished everywhere, but its task is not: kept.
    let mut last = delivered("a", first, 2, 8);
    last.status = TaskStatus::Succeeded;
    store.record_delivery(&last)?;
    assert_eq!(
        store.prune_journal()?,
        0,
        "every call is finished or superseded, but the entry's task is not finished"
    );
    let (uid, first) =
        store.create_journaled_task(&task("movies", "indexCreation"), &entry, false)?;
    for (node, call, node_task) in [("a", 0, 20), ("a", 2, 21)] {
        let mut finished = delivered(node, first, call, node_task);
        finished.status = TaskStatus::Succeeded;
        store.record_delivery(&finished)?;
    }
    assert_eq!(
        store.prune_journal()?,
        0,
        "node b has not received its call"
    );
    let mut on_b = delivered("b", first, 1, 3);
    on_b.status = TaskStatus::Succeeded;
    store.record_delivery(&on_b)?;
    assert_eq!(store.prune_journal()?, 0, "its task is not finished");
    let mut finished = store.get_task(uid)?.expect("task");
    finished.status = TaskStatus::Succeeded;
    store.update_task(&finished)?;
    assert_eq!(store.prune_journal()?, 1);
    assert!(store.journal_entry(first)?.is_none());
    assert!(store.deliveries(first)?.is_empty());
    assert_eq!(store.last_node_task("a")?, Some(21));
    assert_eq!(
        store.next_delivery("a")?.map(|(e, c)| (e.seq, c)),
        Some((second, 0))
    );
    // A refused probe leaves nothing behind.
    let (refused, third) =
        store.create_journaled_task(&task("movies", "settingsUpdate"), &entry, true)?;
    store.abandon_entry(third)?;
    assert!(store.get_task(refused)?.is_none());
    assert!(store.journal_entry(third)?.is_none());
    assert_eq!(
        store.journal_bytes()?,
        2 * 18,
        "the two unpruned entries are left"
    );
    drop(store);
    let reopened = backend.open()?;
    assert_eq!(
        reopened.next_delivery("b")?.map(|(e, c)| (e.seq, c)),
        Some((second, 1))
    );
    assert_eq!(reopened.last_node_task("b")?, Some(3));
    Ok(())
}

on_both!(a_large_payload_is_stored_whole);
fn a_large_payload_is_stored_whole(backend: &Backend) -> Result<()> {
    let store = backend.open()?;
    // Larger than one upload chunk, with a range across the chunk boundary.
    let payload: Vec<u8> = (0..9_000_000u32).map(|i| (i % 251) as u8).collect();
    let entry = NewEntry {
        index_uid: Some("movies".into()),
        calls: vec![call("a", "/indexes/movies/documents", CallBody::Empty)],
        payload: Some(Arc::new(payload.clone())),
    };
    let (_, seq) =
        store.create_journaled_task(&task("movies", "documentAdditionOrUpdate"), &entry, false)?;
    let boundary = 4 << 20;
    let ranges = [(boundary - 10, boundary + 10), (8_999_990, 9_000_000)];
    let mut expected = payload[boundary as usize - 10..boundary as usize + 10].to_vec();
    expected.extend_from_slice(&payload[8_999_990..]);
    assert_eq!(store.payload_ranges(seq, &ranges)?, expected);
    assert_eq!(store.journal_bytes()?, 9_000_000);
    Ok(())
}

on_both!(the_topology_and_placement_survive_a_reopen);
fn the_topology_and_placement_survive_a_reopen(backend: &Backend) -> Result<()> {
    let store = backend.open()?;
    assert_eq!(store.topology()?, None);
    assert_eq!(store.placement_record()?, None);
    let mut topology = Topology {
        epoch: 1,
        replication_factor: 2,
        nodes: vec![TopologyNode {
            id: "a".into(),
            url: "http://127.0.0.1:1".into(),
            api_key: Some("key".into()),
            zone: Some("z1".into()),
            weight: 1.5,
            state: NodeState::Active,
        }],
    };
    store.put_topology(&topology)?;
    topology.epoch = 2;
    topology.nodes[0].state = NodeState::Draining;
    store.put_topology(&topology)?;
    let record = miroir_core::rebalance::PlacementRecord {
        placed: vec!["a".into()],
        replication_factor: 1,
        rebalance: None,
    };
    store.put_placement_record(&record)?;
    drop(store);
    let reopened = backend.open()?;
    assert_eq!(reopened.topology()?, Some(topology));
    assert_eq!(reopened.placement_record()?, Some(record));
    Ok(())
}

on_both!(one_process_holds_the_lease_at_a_time);
fn one_process_holds_the_lease_at_a_time(backend: &Backend) -> Result<()> {
    let store = backend.open()?;
    let ttl = std::time::Duration::from_secs(30);
    assert_eq!(store.current_lease()?, None);
    let first = store.acquire_lease("a", ttl)?.expect("nobody holds it");
    assert_eq!(store.acquire_lease("b", ttl)?, None, "a holds it");
    assert_eq!(store.current_lease()?, Some(first.clone()));
    assert!(store.renew_lease(&first, ttl)?);
    store.release_lease(&first)?;
    assert!(!store.renew_lease(&first, ttl)?, "given up");
    let second = store.acquire_lease("b", std::time::Duration::from_millis(200))?;
    let second = second.expect("given up by a");
    assert!(second.token > first.token, "every lease has a higher token");
    let expired = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let third = loop {
        if let Some(lease) = store.acquire_lease("a", ttl)? {
            break lease;
        }
        assert!(
            std::time::Instant::now() < expired,
            "b's lease never expired"
        );
        std::thread::yield_now();
    };
    assert!(third.token > second.token);
    assert!(
        !store.renew_lease(&second, ttl)?,
        "b's lease expired and a took it"
    );
    Ok(())
}

#[test]
fn the_redis_write_lock_is_held_by_one_taker_at_a_time() -> Result<()> {
    let Some(server) = RedisServer::start() else {
        return Ok(());
    };
    let one = RedisStore::open(&server.url(0))?;
    let other = RedisStore::open(&server.url(0))?;
    let ttl = std::time::Duration::from_secs(30);
    assert!(one.try_lock_writes("one/1", ttl)?);
    assert!(!other.try_lock_writes("other/1", ttl)?);
    other.unlock_writes("other/1")?;
    assert!(
        !other.try_lock_writes("other/2", ttl)?,
        "only its holder unlocks it"
    );
    assert!(one.extend_write_lock("one/1", ttl)?);
    assert!(
        !other.extend_write_lock("other/1", ttl)?,
        "only its holder extends it"
    );
    one.unlock_writes("one/1")?;
    assert!(!one.extend_write_lock("one/1", ttl)?, "given up");
    assert!(other.try_lock_writes("other/3", std::time::Duration::from_millis(100))?);
    let expired = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !one.try_lock_writes("one/2", ttl)? {
        assert!(
            std::time::Instant::now() < expired,
            "the lock never expired"
        );
        std::thread::yield_now();
    }
    Ok(())
}

#[test]
fn a_redis_write_under_a_lost_lease_is_refused() -> Result<()> {
    let Some(server) = RedisServer::start() else {
        return Ok(());
    };
    let former = RedisStore::open(&server.url(0))?;
    let successor = RedisStore::open(&server.url(0))?;
    let ttl = std::time::Duration::from_secs(30);
    let lease = former.acquire_lease("former", ttl)?.expect("free");
    former.set_fence(Some(&lease));
    let uid = former.create_task(&task("movies", "indexCreation"))?;
    let mut done = former.get_task(uid)?.expect("task");
    done.status = TaskStatus::Processing;
    former.update_task(&done)?;
    // The former holder is paused past its lease; another process takes over.
    former.release_lease(&lease)?;
    let taken = successor.acquire_lease("successor", ttl)?.expect("free");
    successor.set_fence(Some(&taken));
    done.status = TaskStatus::Failed;
    assert!(matches!(former.update_task(&done), Err(Error::Fenced)));
    assert!(matches!(
        former.create_task(&task("movies", "indexCreation")),
        Err(Error::Fenced)
    ));
    assert!(matches!(
        former.set_stale("movies", "b", Some(&StaleShards::All)),
        Err(Error::Fenced)
    ));
    assert!(matches!(
        former.put_key("k", &json!({"uid": "k"})),
        Err(Error::Fenced)
    ));
    assert_eq!(
        successor.get_task(uid)?.map(|t| t.status),
        Some(TaskStatus::Processing),
        "the refused write changed nothing"
    );
    assert!(successor.stale_replicas()?.is_empty());
    assert!(matches!(
        former.set_held_nodes(&["a".into()]),
        Err(Error::Fenced)
    ));
    successor.set_held_nodes(&["b".into()])?;
    assert_eq!(former.held_nodes()?, vec!["b".to_string()]);
    successor.set_held_nodes(&[])?;
    assert!(former.held_nodes()?.is_empty());
    assert!(successor.list_keys()?.is_empty());
    done.status = TaskStatus::Succeeded;
    successor.update_task(&done)?;
    assert_eq!(
        successor.get_task(uid)?.map(|t| t.status),
        Some(TaskStatus::Succeeded)
    );
    // Unfenced, the former holder serves requests again.
    former.set_fence(None);
    former.create_task(&task("movies", "indexCreation"))?;
    Ok(())
}

#[test]
fn redis_versions_count_the_changes_other_processes_cache() -> Result<()> {
    let Some(server) = RedisServer::start() else {
        return Ok(());
    };
    let store = RedisStore::open(&server.url(0))?;
    let before = store.versions()?;
    store.put_key("k", &json!({"uid": "k"}))?;
    store.create_task(&task("movies", "indexCreation"))?;
    store.set_node_lost("b", true)?;
    let after = store.versions()?;
    assert_eq!(after.keys, before.keys + 1);
    assert_eq!(after.journal, before.journal + 1);
    assert_eq!(after.replicas, before.replicas + 1);
    assert_eq!(after.topology, before.topology);
    Ok(())
}

#[test]
fn a_redis_store_of_a_newer_schema_is_refused() -> Result<()> {
    let Some(server) = RedisServer::start() else {
        return Ok(());
    };
    drop(RedisStore::open(&server.url(0))?);
    let client = redis::Client::open(server.url(0))?;
    let mut connection = client.get_connection()?;
    let version: u32 = redis::cmd("GET")
        .arg("miroir:schema_version")
        .query(&mut connection)?;
    assert_eq!(version, SCHEMA_VERSION);
    drop(RedisStore::open(&server.url(0))?);
    redis::cmd("SET")
        .arg("miroir:schema_version")
        .arg(SCHEMA_VERSION + 1)
        .exec(&mut connection)?;
    match RedisStore::open(&server.url(0)) {
        Err(Error::NewerSchema { found, known }) => {
            assert_eq!((found, known), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
        }
        other => panic!(
            "a newer schema must be refused, got {:?}",
            other.map(|_| ())
        ),
    }
    let version: u32 = redis::cmd("GET")
        .arg("miroir:schema_version")
        .query(&mut connection)?;
    assert_eq!(version, SCHEMA_VERSION + 1, "nothing was written to it");
    // Another database of the same Redis is another store.
    assert!(RedisStore::open(&server.url(1))?.topology()?.is_none());
    Ok(())
}

#[test]
fn an_unknown_task_store_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    match miroir_store::open(Some("postgres://127.0.0.1/x"), dir.path()) {
        Err(Error::UnknownBackend(url)) => assert_eq!(url, "postgres://127.0.0.1/x"),
        other => panic!("expected a refusal, got {:?}", other.map(|_| ())),
    }
}
