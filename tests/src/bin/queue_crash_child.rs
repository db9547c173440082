//! The child process of the queue crash test (`tests/tests/queue_crash.rs`).
//!
//! `queue-crash-child produce <db> <handled-log> <n> <producers>`: enqueues
//! deliveries `d-0..d-n` from concurrent producers into the SQLite queue
//! (fsync before ack), printing `ACK <id>` once each enqueue returned, while
//! a worker pool handles them, appending each handled id to the log. Runs
//! until killed.
//!
//! `queue-crash-child drain <db> <handled-log> <n> <producers>`: reopens the
//! queue after the crash and handles everything in it without enqueueing
//! anything, prints `DRAINED <handled>`, and exits (non-zero if anything is
//! left). Whatever was acknowledged must be handled by now.
//!
//! `queue-crash-child resend <db> <handled-log> <n> <producers>`: sends
//! every delivery again from concurrent producers (as senders retrying what
//! was not acknowledged would), printing `NEW <id>` for each one the queue
//! had not seen, then `RESENT <enqueued> <duplicates>`; handles everything
//! left, prints `DRAINED <handled>` and exits.
//!
//! `queue-crash-child settle <db> <handled-log> <n>`: enqueues `d-0..d-n`
//! first (all committed, then `QUEUED`), then only handles them: each
//! handler appends its id to the log and prints `HANDLED <id>`, while the
//! outcomes of many attempts (and the next leases) are group-committed
//! together by the writer. Runs until killed, somewhere between a batch of
//! acknowledgements and its commit.

use std::fs::{File, OpenOptions};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use hookgate_queue::{
    Delivery, Enqueue, EnqueueOutcome, NewDelivery, Queue, SqliteQueue, WorkerPool,
};
use hookgate_tests::record_to;

fn delivery(i: usize) -> NewDelivery {
    NewDelivery::new(
        "crash",
        format!("d-{i}"),
        SystemTime::now(),
        vec![b'x'; 1024],
    )
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: queue-crash-child produce|drain|resend <db> <handled-log> <n> [producers]";
    let mode = args.get(1).expect(usage).clone();
    let db = args.get(2).expect(usage).clone();
    let log = args.get(3).expect(usage).clone();
    let n: usize = args.get(4).and_then(|n| n.parse().ok()).expect(usage);
    let producers: usize = args.get(5).and_then(|p| p.parse().ok()).unwrap_or(64);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        // As `hookgate serve` opens it: exclusive, leases held in memory
        // (the HTTP crash test's child opens it as a library user would).
        let queue: Arc<dyn Queue> = Arc::new(
            SqliteQueue::builder(&db)
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
        let pool = WorkerPool::builder(queue.clone(), record_to(log.clone()))
            .concurrency(16)
            .poll_interval(Duration::from_millis(5))
            .build();
        match mode.as_str() {
            "produce" => produce(queue, pool, n, producers).await,
            "drain" => drain(&queue, &pool).await,
            "resend" => {
                resend(&queue, n, producers).await;
                drain(&queue, &pool).await;
            }
            "settle" => settle(queue, log, n).await,
            _ => panic!("{usage}"),
        }
    });
}

/// Queues `n` deliveries, then handles them until killed.
async fn settle(queue: Arc<dyn Queue>, log: Arc<File>, n: usize) {
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let queue = queue.clone();
        tasks.spawn(async move { queue.enqueue(delivery(i)).await.expect("enqueue") });
    }
    while let Some(outcome) = tasks.join_next().await {
        assert_eq!(outcome.expect("enqueue task"), EnqueueOutcome::Enqueued);
    }
    println!("QUEUED");
    let record = record_to(log);
    let pool = WorkerPool::builder(queue, move |delivery: Delivery| {
        let id = delivery.delivery_id.clone();
        let recorded = record(delivery);
        async move {
            let result = recorded.await;
            // After the log line: the parent kills on this one.
            println!("HANDLED {id}");
            result
        }
    })
    .concurrency(16)
    .poll_interval(Duration::from_millis(5))
    .build();
    pool.run(std::future::pending(), Duration::from_secs(1))
        .await;
}

async fn produce(queue: Arc<dyn Queue>, pool: WorkerPool, n: usize, producers: usize) {
    let workers = tokio::spawn(async move {
        pool.run(std::future::pending(), Duration::from_secs(1))
            .await;
    });
    let mut tasks = tokio::task::JoinSet::new();
    for p in 0..producers {
        let queue = queue.clone();
        tasks.spawn(async move {
            for i in (p..n).step_by(producers) {
                let outcome = queue.enqueue(delivery(i)).await.expect("enqueue");
                assert_eq!(outcome, EnqueueOutcome::Enqueued);
                // Line-buffered stdout: the parent sees each ack as it happens.
                println!("ACK d-{i}");
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    println!("PRODUCED");
    workers.await.expect("worker pool");
}

/// Handles everything the queue holds, then checks that nothing is left.
async fn drain(queue: &Arc<dyn Queue>, pool: &WorkerPool) {
    let report = pool.process_ready().await.expect("drain");
    println!("DRAINED {}", report.handled);
    let stats = queue.stats().await.expect("stats");
    assert_eq!(stats.depth() + stats.dead, 0, "everything handled");
}

async fn resend(queue: &Arc<dyn Queue>, n: usize, producers: usize) {
    let mut tasks = tokio::task::JoinSet::new();
    for p in 0..producers {
        let queue = queue.clone();
        tasks.spawn(async move {
            let (mut enqueued, mut duplicates) = (0, 0);
            for i in (p..n).step_by(producers) {
                match queue.enqueue(delivery(i)).await.expect("enqueue") {
                    EnqueueOutcome::Enqueued => {
                        println!("NEW d-{i}");
                        enqueued += 1;
                    }
                    EnqueueOutcome::Duplicate => duplicates += 1,
                    other => panic!("unexpected {other:?}"),
                }
            }
            (enqueued, duplicates)
        });
    }
    let (mut enqueued, mut duplicates) = (0, 0);
    while let Some(counts) = tasks.join_next().await {
        let (e, d) = counts.expect("producer");
        enqueued += e;
        duplicates += d;
    }
    println!("RESENT {enqueued} {duplicates}");
}
