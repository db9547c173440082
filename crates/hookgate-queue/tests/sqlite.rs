//! Behaviour specific to the SQLite back-end: persistence across reopen,
//! lease recovery at open (and a second opener that leaves leases alone),
//! capacity, durability settings, a writer that outlives a bad batch, and
//! idle worker pools woken by enqueues.
#![cfg(feature = "sqlite")]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use hookgate_queue::{
    Clock, Delivery, Durability, Enqueue, EnqueueOutcome, LeaseRequest, ManualClock, NewDelivery,
    Queue, QueueErrorKind, Replay, SqliteQueue, WorkerPool,
};

fn delivery(id: &str) -> NewDelivery {
    NewDelivery::new("clarife", id, SystemTime::now(), &b"{}"[..])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_dedup_keys_and_leases_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("queue.db");
    {
        let queue = SqliteQueue::open(&path).unwrap();
        queue.enqueue(delivery("a")).await.unwrap();
        queue.enqueue(delivery("b")).await.unwrap();
        let leased = queue
            .lease(LeaseRequest::new(1, Duration::from_secs(3600)))
            .await
            .unwrap();
        assert_eq!(leased.len(), 1);
        // Dropped while holding the lease, as a crashed process would.
    }
    let queue = SqliteQueue::open(&path).unwrap();
    assert_eq!(
        queue.enqueue(delivery("a")).await.unwrap(),
        EnqueueOutcome::Duplicate
    );
    let stats = queue.stats().await.unwrap();
    assert_eq!(
        (stats.ready, stats.leased),
        (2, 0),
        "the lease of the previous process was recovered at open"
    );
    let leased = queue
        .lease(LeaseRequest::new(10, Duration::from_secs(30)))
        .await
        .unwrap();
    let mut attempts: Vec<u32> = leased.iter().map(|l| l.delivery.attempt).collect();
    attempts.sort_unstable();
    assert_eq!(attempts, [1, 2], "the crashed attempt counts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_refuses_with_a_retry_hint_but_still_recognises_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let queue = SqliteQueue::builder(dir.path().join("queue.db"))
        .capacity(2)
        .open()
        .unwrap();
    queue.enqueue(delivery("a")).await.unwrap();
    queue.enqueue(delivery("b")).await.unwrap();
    let err = queue.enqueue(delivery("c")).await.unwrap_err();
    assert_eq!(err.kind(), QueueErrorKind::Full);
    assert!(err.retry_after().is_some());
    assert_eq!(
        queue.enqueue(delivery("a")).await.unwrap(),
        EnqueueOutcome::Duplicate
    );

    let leased = queue
        .lease(LeaseRequest::new(1, Duration::from_secs(30)))
        .await
        .unwrap();
    queue.ack(leased[0].lease.clone()).await.unwrap();
    assert_eq!(
        queue.enqueue(delivery("c")).await.unwrap(),
        EnqueueOutcome::Enqueued,
        "a refused delivery was not remembered as seen"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unbatched_and_crash_only_modes_keep_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let queue = std::sync::Arc::new(
        SqliteQueue::builder(dir.path().join("queue.db"))
            .durability(Durability::ProcessCrash)
            .max_batch(1)
            .open()
            .unwrap(),
    );
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..50 {
        let queue = queue.clone();
        tasks.spawn(async move { queue.enqueue(delivery(&format!("d{i}"))).await.unwrap() });
    }
    while let Some(outcome) = tasks.join_next().await {
        assert_eq!(outcome.unwrap(), EnqueueOutcome::Enqueued);
    }
    assert_eq!(queue.stats().await.unwrap().ready, 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_dedup_keys_are_pruned() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("queue.db");
    let clock = ManualClock::default();
    let queue = SqliteQueue::builder(&path)
        .clock(clock.clone())
        .dedup_window(Duration::from_secs(60))
        .prune_interval(Duration::from_secs(1))
        .open()
        .unwrap();
    for id in ["a", "b", "c"] {
        queue.enqueue(delivery(id)).await.unwrap();
    }
    clock.advance(Duration::from_secs(61));
    queue.enqueue(delivery("d")).await.unwrap();
    drop(queue);
    // Read the file as an operator would with `sqlite3`: by the documented names.
    let conn = rusqlite::Connection::open(&path).unwrap();
    let keys: i64 = conn
        .query_row("SELECT count(*) FROM seen", [], |row| row.get(0))
        .unwrap();
    assert_eq!(keys, 1, "only d's key is left");
    let waiting: i64 = conn
        .query_row(
            "SELECT count(*) FROM deliveries WHERE state = 'waiting'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(waiting, 4, "pruning forgets keys, never deliveries");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skipped_sources_are_filtered_without_reading_their_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("queue.db");
    let queue = SqliteQueue::open(&path).unwrap();
    for i in 0..50 {
        let busy = NewDelivery::new("busy", format!("b{i}"), SystemTime::now(), &b"{}"[..]);
        queue.enqueue(busy).await.unwrap();
    }
    queue.enqueue(delivery("idle")).await.unwrap();
    // The busy source's backlog sits at the head of the due index, with
    // headers no one can decode: a lease that skips it must not read them.
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute(
            "UPDATE deliveries SET headers = x'ffffffff' WHERE source = 'busy'",
            [],
        )
        .unwrap();
    let leased = queue
        .lease(LeaseRequest::new(10, Duration::from_secs(30)).skip_sources(["busy", "other"]))
        .await
        .expect("skipped rows are not decoded");
    assert_eq!(leased.len(), 1);
    assert_eq!(leased[0].delivery.delivery_id, "idle");
    let stats = queue.stats().await.unwrap();
    assert_eq!((stats.ready, stats.leased), (50, 1));
}

/// A clock that panics once when told to, as a bug deep in a batch would.
#[derive(Debug, Clone, Default)]
struct PanickingClock {
    clock: ManualClock,
    panic_next: Arc<AtomicBool>,
}

impl Clock for PanickingClock {
    fn now(&self) -> SystemTime {
        assert!(
            !self.panic_next.swap(false, Ordering::SeqCst),
            "clock panicked (on purpose)"
        );
        self.clock.now()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_writer_survives_a_panicking_batch_and_answers_it_with_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let clock = PanickingClock::default();
    let queue = SqliteQueue::builder(dir.path().join("queue.db"))
        .clock(clock.clone())
        .open()
        .unwrap();
    clock.panic_next.store(true, Ordering::SeqCst);
    let err = queue
        .enqueue(delivery("a"))
        .await
        .expect_err("the batch failed");
    assert_eq!(err.kind(), QueueErrorKind::Unavailable);
    assert!(err.retry_after().is_some());
    assert_eq!(
        queue.enqueue(delivery("a")).await.unwrap(),
        EnqueueOutcome::Enqueued,
        "the failed batch stored nothing, and the writer still runs"
    );
    assert_eq!(queue.stats().await.unwrap().ready, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_durations_saturate_instead_of_killing_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    let queue = SqliteQueue::open(dir.path().join("queue.db")).unwrap();
    queue.enqueue(delivery("a")).await.unwrap();
    let leased = queue
        .lease(LeaseRequest::new(1, Duration::MAX))
        .await
        .expect("a lease for ever");
    assert!(leased[0].expires_at > SystemTime::now() + Duration::from_secs(1000 * 365 * 86400));
    queue.enqueue(delivery("b")).await.unwrap();
    let stats = queue.stats().await.unwrap();
    assert_eq!((stats.ready, stats.leased), (1, 1));
    queue.ack(leased[0].lease.clone()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_opener_can_leave_the_servers_leases_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("queue.db");
    let server = SqliteQueue::open(&path).unwrap();
    server.enqueue(delivery("in-flight")).await.unwrap();
    let held = server
        .lease(LeaseRequest::new(1, Duration::from_secs(3600)))
        .await
        .unwrap()
        .pop()
        .unwrap();

    // `hookgate queue stats` while the server runs.
    let inspector = SqliteQueue::builder(&path)
        .recover_leases_on_open(false)
        .open()
        .unwrap();
    let stats = inspector.stats().await.unwrap();
    assert_eq!((stats.ready, stats.leased), (0, 1), "the lease still holds");
    assert!(
        inspector
            .lease(LeaseRequest::new(10, Duration::from_secs(30)))
            .await
            .unwrap()
            .is_empty(),
        "nobody else can take the delivery in flight"
    );
    assert_eq!(inspector.recover().await.unwrap(), 0, "it has not expired");
    drop(inspector);
    server.ack(held.lease.clone()).await.expect("still held");

    // A plain open takes the file over: the lease of the process before is
    // recovered (the documented default, for a restart after a crash).
    server.enqueue(delivery("next")).await.unwrap();
    let held = server
        .lease(LeaseRequest::new(1, Duration::from_secs(3600)))
        .await
        .unwrap()
        .pop()
        .unwrap();
    let takeover = SqliteQueue::open(&path).unwrap();
    assert_eq!(takeover.stats().await.unwrap().ready, 1);
    assert_eq!(
        server.ack(held.lease).await.unwrap_err().kind(),
        QueueErrorKind::LeaseLost
    );
}

/// `hookgate serve` holds its leases in memory (exclusive open): its file
/// never says `leased`, so an inspector beside it counts deliveries in
/// flight as ready, while replays still touch dead letters only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exclusive_server_holds_its_leases_where_inspectors_do_not_see_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("queue.db");
    let server = SqliteQueue::builder(&path).exclusive(true).open().unwrap();
    for id in ["in-flight", "failed"] {
        server.enqueue(delivery(id)).await.unwrap();
    }
    let mut held = None;
    for leased in server
        .lease(LeaseRequest::new(10, Duration::from_secs(3600)))
        .await
        .unwrap()
    {
        if leased.delivery.delivery_id == "failed" {
            server
                .dead_letter(leased.lease, "down".to_owned())
                .await
                .unwrap();
        } else {
            held = Some(leased);
        }
    }
    let held = held.expect("leased");
    let stats = server.stats().await.unwrap();
    assert_eq!((stats.ready, stats.leased, stats.dead), (0, 1, 1));
    assert_eq!(stats.oldest_ready_age, None, "the held one is not waiting");

    let inspector = SqliteQueue::builder(&path)
        .recover_leases_on_open(false)
        .open()
        .unwrap();
    let stats = inspector.stats().await.unwrap();
    assert_eq!(
        (stats.ready, stats.leased, stats.dead),
        (1, 0, 1),
        "the file does not know of the lease"
    );
    assert_eq!(inspector.replay(Replay::All).await.unwrap(), 1);
    drop(inspector);

    server
        .ack(held.lease)
        .await
        .expect("the replay left it alone");
    let again = server
        .lease(LeaseRequest::new(10, Duration::from_secs(30)))
        .await
        .unwrap();
    let ids: Vec<&str> = again
        .iter()
        .map(|l| l.delivery.delivery_id.as_str())
        .collect();
    assert_eq!(ids, ["failed"], "only the replayed dead letter is due");
    assert_eq!(again[0].delivery.attempt, 1, "replay resets the attempts");
}

/// A crash (here: the queue dropped while holding leases, then the lock
/// released) ends leases held in memory; the attempt it cut short was
/// never written, so the delivery comes back with the attempt number it
/// had, while a retried attempt was written and counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_held_in_memory_end_with_the_process_and_settled_attempts_count() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("queue.db");
    {
        let server = SqliteQueue::builder(&path).exclusive(true).open().unwrap();
        for id in ["a", "b"] {
            server.enqueue(delivery(id)).await.unwrap();
        }
        for leased in server
            .lease(LeaseRequest::new(10, Duration::from_secs(3600)))
            .await
            .unwrap()
        {
            if leased.delivery.delivery_id == "a" {
                server
                    .retry_at(leased.lease, SystemTime::now(), "refused".to_owned())
                    .await
                    .unwrap();
            }
        }
        let leased = server
            .lease(LeaseRequest::new(10, Duration::from_secs(3600)))
            .await
            .unwrap();
        assert_eq!(leased.len(), 1, "only a, retried, is due: b is still held");
        assert_eq!(leased[0].delivery.attempt, 2);
    }
    let server = SqliteQueue::builder(&path).exclusive(true).open().unwrap();
    assert_eq!(server.stats().await.unwrap().ready, 2);
    let mut attempts: Vec<(String, u32)> = server
        .lease(LeaseRequest::new(10, Duration::from_secs(30)))
        .await
        .unwrap()
        .into_iter()
        .map(|l| (l.delivery.delivery_id, l.delivery.attempt))
        .collect();
    attempts.sort();
    assert_eq!(
        attempts,
        [("a".to_owned(), 2), ("b".to_owned(), 1)],
        "a's retried attempt was written; the attempts cut short were not"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capacity_counts_what_another_process_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("queue.db");
    let server = SqliteQueue::builder(&path).capacity(2).open().unwrap();
    for id in ["a", "b"] {
        server.enqueue(delivery(id)).await.unwrap();
    }
    for leased in server
        .lease(LeaseRequest::new(10, Duration::from_secs(30)))
        .await
        .unwrap()
    {
        server
            .dead_letter(leased.lease, "down".to_owned())
            .await
            .unwrap();
    }
    // `hookgate queue replay --all` from another process.
    let operator = SqliteQueue::builder(&path)
        .recover_leases_on_open(false)
        .open()
        .unwrap();
    assert_eq!(operator.replay(Replay::All).await.unwrap(), 2);
    drop(operator);
    let err = server
        .enqueue(delivery("c"))
        .await
        .expect_err("two live deliveries fill a capacity of 2");
    assert_eq!(err.kind(), QueueErrorKind::Full);
}

/// With a poll interval of an hour, a delivery enqueued into an idle pool is
/// handled at once: the writer wakes the pool once the enqueue commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_pool_wakes_on_enqueue_without_waiting_for_its_poll() {
    let dir = tempfile::tempdir().unwrap();
    let queue = Arc::new(SqliteQueue::open(dir.path().join("queue.db")).unwrap());
    let (handled_tx, mut handled) = tokio::sync::mpsc::unbounded_channel();
    let pool = WorkerPool::builder(queue.clone(), move |d: Delivery| {
        let handled_tx = handled_tx.clone();
        async move {
            handled_tx.send(d.delivery_id).expect("test alive");
            Ok(())
        }
    })
    .poll_interval(Duration::from_secs(3600))
    .build();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(async move {
        pool.run(
            async move {
                let _ = stopped.await;
            },
            Duration::from_secs(1),
        )
        .await
    });
    // A guard against hanging for an hour, not a timing assertion.
    let patience = Duration::from_secs(60);
    for id in ["first", "second", "third"] {
        queue.enqueue(delivery(id)).await.unwrap();
        let got = tokio::time::timeout(patience, handled.recv())
            .await
            .expect("handled without waiting for the poll interval");
        assert_eq!(got.as_deref(), Some(id));
    }
    stop.send(()).expect("pool running");
    assert_eq!(run.await.unwrap().handled, 3);
}
