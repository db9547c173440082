//! The child process of the storage crash test (`tests/tests/storage_crash.rs`).
//!
//! `storage-crash-child churn <db> <handled-log> <rounds>`: rounds of a
//! burst of 4 KB deliveries from concurrent producers (printing `ACK <id>`
//! once each enqueue returned), handled by a worker pool that appends each
//! id to the log, then a pause in which the queue's writer is idle and gives
//! the freed pages back (vacuum steps) and truncates the WAL
//! (checkpoints). The WAL bound is small, so that checkpoints also come
//! under load. The queue's checkpoint and vacuum events are printed on
//! stdout as they happen (its `trace` log), so the parent can kill the
//! process right after one. Runs until killed or done.
//!
//! `storage-crash-child drain <db> <handled-log>`: reopens the queue,
//! handles everything in it, checks `PRAGMA integrity_check`, prints
//! `DRAINED <handled>` and `INTEGRITY <result>`, and exits.

use std::fs::OpenOptions;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use hookgate_queue::{Durability, Enqueue, NewDelivery, Queue, SqliteQueue, WorkerPool};
use hookgate_tests::record_to;

const BURST: usize = 400;
const PRODUCERS: usize = 16;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: storage-crash-child churn|drain <db> <handled-log> [rounds]";
    let mode = args.get(1).expect(usage).clone();
    let db = args.get(2).expect(usage).clone();
    let log = args.get(3).expect(usage).clone();
    let rounds: usize = args.get(4).and_then(|n| n.parse().ok()).unwrap_or(1);

    if mode == "churn" {
        tracing_subscriber::fmt()
            .with_env_filter("hookgate_queue::sqlite=trace")
            .with_writer(std::io::stdout)
            .with_ansi(false)
            .without_time()
            .init();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let queue = Arc::new(
            SqliteQueue::builder(&db)
                .durability(Durability::Fsync)
                .wal_limit(1 << 20)
                // As `hookgate serve` opens it: leases held in memory.
                .exclusive(true)
                .open()
                .expect("open queue"),
        );
        let log = Arc::new(
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log)
                .expect("open handled log"),
        );
        let dyn_queue: Arc<dyn Queue> = queue.clone();
        let pool = WorkerPool::builder(dyn_queue, record_to(log))
            .concurrency(16)
            .poll_interval(Duration::from_millis(5))
            .build();
        match mode.as_str() {
            "churn" => churn(&queue, &pool, rounds).await,
            "drain" => {
                let report = pool.process_ready().await.expect("drain");
                println!("DRAINED {}", report.handled);
                let stats = queue.stats().await.expect("stats");
                assert_eq!(stats.depth() + stats.dead, 0, "everything handled");
                drop(pool);
                let path = queue.path().to_owned();
                drop(queue);
                let conn = rusqlite::Connection::open(path).expect("open for the check");
                let integrity: String = conn
                    .query_row("PRAGMA integrity_check", [], |row| row.get(0))
                    .expect("integrity_check");
                println!("INTEGRITY {integrity}");
            }
            _ => panic!("{usage}"),
        }
    });
}

async fn churn(queue: &Arc<SqliteQueue>, pool: &WorkerPool, rounds: usize) {
    // Ids stay unique across restarts of the test's cycles.
    let run = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("clock")
        .as_nanos();
    for round in 0..rounds {
        let mut producers = tokio::task::JoinSet::new();
        for p in 0..PRODUCERS {
            let queue = queue.clone();
            producers.spawn(async move {
                for i in (p..BURST).step_by(PRODUCERS) {
                    let id = format!("{run}-{round}-{i}");
                    let delivery =
                        NewDelivery::new("crash", id.clone(), SystemTime::now(), vec![b'x'; 4000]);
                    queue.enqueue(delivery).await.expect("enqueue");
                    println!("ACK {id}");
                }
            });
        }
        let handled = pool.process_ready();
        let (handled, ()) = tokio::join!(handled, async {
            while producers.join_next().await.is_some() {}
        });
        handled.expect("handle");
        pool.process_ready().await.expect("handle the rest");
        // Idle: the writer vacuums and truncates the WAL.
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    println!("CHURNED");
}
