//! What the SQLite queue costs the disk (issue 18): a WAL that stays under
//! its bound under load and shrinks once the load stops, and the pages of
//! handled deliveries given back to the file system; the byte budget and
//! the free-space floor.
#![cfg(feature = "sqlite")]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use hookgate_queue::sqlite::MinFreeDisk;
use hookgate_queue::{
    Durability, Enqueue, EnqueueOutcome, LeaseRequest, NewDelivery, Queue, QueueErrorKind,
    SqliteQueue, StorageLimit,
};

fn delivery(id: &str, size: usize) -> NewDelivery {
    NewDelivery::new("src", id, SystemTime::now(), vec![b'x'; size])
}

fn wal_path(db: &Path) -> PathBuf {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    PathBuf::from(wal)
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// Polls `condition` every 50 ms until it holds; false after `deadline`
/// (generous: the machine may be busy; nothing here measures time).
async fn eventually(deadline: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < deadline {
        if condition() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    condition()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wal_stays_under_its_bound_under_load_and_shrinks_when_it_stops() {
    const WAL_LIMIT: u64 = 2 << 20;
    const PRODUCERS: usize = 16;
    const PER_PRODUCER: usize = 400;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("queue.db");
    let queue = Arc::new(
        SqliteQueue::builder(&path)
            .durability(Durability::ProcessCrash)
            .wal_limit(WAL_LIMIT)
            .open()
            .unwrap(),
    );

    // Samples the WAL file while the producers run.
    let wal = wal_path(&path);
    let largest = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (largest, done, wal) = (largest.clone(), done.clone(), wal.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                largest.fetch_max(file_len(&wal), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(1));
            }
        })
    };
    let mut producers = tokio::task::JoinSet::new();
    for p in 0..PRODUCERS {
        let queue = queue.clone();
        producers.spawn(async move {
            for i in 0..PER_PRODUCER {
                let outcome = queue
                    .enqueue(delivery(&format!("{p}-{i}"), 2048))
                    .await
                    .unwrap();
                assert_eq!(outcome, EnqueueOutcome::Enqueued);
            }
        });
    }
    while let Some(done) = producers.join_next().await {
        done.unwrap();
    }
    done.store(true, Ordering::Relaxed);
    sampler.join().unwrap();

    let written = (PRODUCERS * PER_PRODUCER * 2048) as u64;
    let largest = largest.load(Ordering::Relaxed);
    assert!(
        written > 4 * WAL_LIMIT,
        "the load writes several times the bound"
    );
    assert!(
        largest <= WAL_LIMIT,
        "the WAL reached {largest} bytes, over its bound of {WAL_LIMIT} ({written} bytes enqueued)"
    );
    assert!(
        eventually(Duration::from_secs(30), || file_len(&wal) == 0).await,
        "the WAL is truncated once the load stops: still {} bytes",
        file_len(&wal)
    );
    assert_eq!(
        queue.stats().await.unwrap().ready,
        (PRODUCERS * PER_PRODUCER) as u64
    );
}

/// A running worker pool keeps asking for leases when there is nothing to
/// do (at its poll interval): commands that write nothing. The files are
/// still tidied once nothing was written for a while, as `hookgate serve`
/// needs (its workers never stop polling).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wal_is_truncated_after_the_load_while_workers_keep_polling() {
    for exclusive in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("queue.db");
        let queue = Arc::new(
            SqliteQueue::builder(&path)
                .exclusive(exclusive)
                .open()
                .unwrap(),
        );
        let dyn_queue: Arc<dyn Queue> = queue.clone();
        let handled = Arc::new(AtomicU64::new(0));
        let counter = handled.clone();
        let pool =
            hookgate_queue::WorkerPool::builder(dyn_queue, move |_: hookgate_queue::Delivery| {
                counter.fetch_add(1, Ordering::Relaxed);
                async { Ok::<(), hookgate_queue::HandlerError>(()) }
            })
            .poll_interval(Duration::from_millis(20))
            .build();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let workers = tokio::spawn(async move {
            pool.run(
                async {
                    let _ = stopped.await;
                },
                Duration::from_secs(5),
            )
            .await
        });
        for i in 0..200 {
            queue
                .enqueue(delivery(&format!("d{i}"), 1024))
                .await
                .unwrap();
        }
        assert!(
            eventually(Duration::from_secs(30), || handled.load(Ordering::Relaxed)
                == 200)
            .await,
            "every delivery handled"
        );
        let wal = wal_path(&path);
        assert!(
            eventually(Duration::from_secs(30), || file_len(&wal) == 0).await,
            "exclusive {exclusive}: the WAL is truncated while the pool polls: still {} bytes",
            file_len(&wal)
        );
        let _ = stop.send(());
        workers.await.unwrap();
    }
}

/// The bytes the remaining deliveries hold (bodies and headers).
fn live_bytes(path: &Path) -> u64 {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row(
        "SELECT coalesce(sum(length(body) + length(headers)), 0) FROM deliveries",
        [],
        |row| row.get::<_, i64>(0),
    )
    .unwrap()
    .unsigned_abs()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drained_queue_gives_its_pages_back_once_the_dedup_window_passes() {
    const HANDLED: usize = 3000;
    const KEPT: usize = 100;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("queue.db");
    let queue = SqliteQueue::builder(&path)
        .durability(Durability::ProcessCrash)
        .dedup_window(Duration::from_secs(1))
        .prune_interval(Duration::from_millis(200))
        .open()
        .unwrap();
    for i in 0..HANDLED + KEPT {
        queue
            .enqueue(delivery(&format!("d{i}"), 4000))
            .await
            .unwrap();
    }
    let full = file_len(&path) + file_len(&wal_path(&path));
    // Handle all but the last KEPT deliveries (the oldest are leased first).
    let mut handled = 0;
    while handled < HANDLED {
        let max = (HANDLED - handled).min(256);
        let leased = queue
            .lease(LeaseRequest::new(max, Duration::from_secs(600)))
            .await
            .unwrap();
        for lease in leased {
            queue.ack(lease.lease).await.unwrap();
            handled += 1;
        }
    }
    assert_eq!(queue.stats().await.unwrap().ready, KEPT as u64);

    let live = live_bytes(&path);
    let on_disk = || file_len(&path) + file_len(&wal_path(&path));
    let shrunk = eventually(Duration::from_secs(60), || on_disk() <= 2 * live).await;
    assert!(
        shrunk,
        "{} bytes on disk for {live} live bytes ({full} before the drain)",
        on_disk()
    );
    // The kept deliveries are intact and still leasable.
    let leased = queue
        .lease(LeaseRequest::new(KEPT + 1, Duration::from_secs(60)))
        .await
        .unwrap();
    assert_eq!(leased.len(), KEPT);
    assert!(leased.iter().all(|l| l.delivery.body.len() == 4000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_made_without_auto_vacuum_is_migrated_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("queue.db");
    {
        // A file as earlier versions made it: WAL, no auto-vacuum, a delivery in it.
        let queue = SqliteQueue::open(&path).unwrap();
        queue.enqueue(delivery("old", 100)).await.unwrap();
        drop(queue);
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA auto_vacuum = NONE; VACUUM;")
            .unwrap();
        let mode: i64 = conn
            .query_row("PRAGMA auto_vacuum", [], |row| row.get(0))
            .unwrap();
        assert_eq!(mode, 0, "the old layout");
    }
    let queue = SqliteQueue::open(&path).unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let mode: i64 = conn
        .query_row("PRAGMA auto_vacuum", [], |row| row.get(0))
        .unwrap();
    assert_eq!(mode, 2, "incremental");
    assert_eq!(
        queue.enqueue(delivery("old", 100)).await.unwrap(),
        EnqueueOutcome::Duplicate,
        "the dedup key survived the migration"
    );
    assert_eq!(queue.stats().await.unwrap().ready, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_byte_budget_refuses_enqueues_whole_until_deliveries_are_handled() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("queue.db");
    let queue = SqliteQueue::builder(&path)
        .durability(Durability::ProcessCrash)
        .max_bytes(1 << 20)
        .open()
        .unwrap();
    let mut stored = 0;
    let refused = loop {
        match queue.enqueue(delivery(&format!("d{stored}"), 8000)).await {
            Ok(outcome) => {
                assert_eq!(outcome, EnqueueOutcome::Enqueued);
                stored += 1;
                assert!(stored < 1000, "the budget never refused");
            }
            Err(err) => break err,
        }
    };
    assert_eq!(refused.kind(), QueueErrorKind::Full);
    assert_eq!(refused.limit(), Some(StorageLimit::MaxBytes));
    assert!(refused.retry_after().is_some());
    assert!(
        (100..=130).contains(&stored),
        "about 1 MiB of 8 KB deliveries stored: {stored}"
    );
    let stats = queue.stats().await.unwrap();
    let usage = stats.storage.expect("the sqlite queue reports its storage");
    assert_eq!(usage.limit_reached, Some(StorageLimit::MaxBytes));
    assert!(usage.bytes <= 1 << 20, "{usage:?}");
    assert_eq!(stats.ready, stored as u64);

    // Nothing of the refused delivery was kept: not even its dedup key.
    let leased = queue
        .lease(LeaseRequest::new(50, Duration::from_secs(60)))
        .await
        .unwrap();
    for lease in leased {
        queue.ack(lease.lease).await.unwrap();
    }
    assert_eq!(
        queue
            .enqueue(delivery(&format!("d{stored}"), 8000))
            .await
            .unwrap(),
        EnqueueOutcome::Enqueued,
        "accepted once deliveries were handled, and not a duplicate"
    );
    let usage = queue.stats().await.unwrap().storage.unwrap();
    assert_eq!(usage.limit_reached, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_free_space_floor_refuses_enqueues_and_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("queue.db");
    // No file system keeps all of itself free: every enqueue is refused.
    let queue = SqliteQueue::builder(&path)
        .min_free_disk(MinFreeDisk::Percent(100.0))
        .open()
        .unwrap();
    let err = queue.enqueue(delivery("d", 10)).await.unwrap_err();
    assert_eq!(err.kind(), QueueErrorKind::Full);
    assert_eq!(err.limit(), Some(StorageLimit::MinFreeDisk));
    let usage = queue.stats().await.unwrap().storage.unwrap();
    assert_eq!(usage.limit_reached, Some(StorageLimit::MinFreeDisk));
    assert!(usage.free_disk.is_some_and(|free| free > 0));
    assert_eq!(queue.stats().await.unwrap().ready, 0);
    drop(queue);

    // A floor the disk is above lets deliveries in.
    let queue = SqliteQueue::builder(&path)
        .min_free_disk(MinFreeDisk::Bytes(1))
        .open()
        .unwrap();
    assert_eq!(
        queue.enqueue(delivery("d", 10)).await.unwrap(),
        EnqueueOutcome::Enqueued,
        "the refused enqueue left no dedup key"
    );
    let usage = queue.stats().await.unwrap().storage.unwrap();
    assert_eq!(usage.limit_reached, None);
    assert!(usage.bytes > 0 && usage.wal_bytes.is_some());
}
