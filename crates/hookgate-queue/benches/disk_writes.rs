//! Bytes written to disk per delivery by the SQLite queue, from enqueue to
//! acknowledgement: the WAL, the checkpoints that copy it into the database
//! file, and the final truncating checkpoint, read from `/proc/self/io`
//! (`write_bytes`: what the process sent towards the disk; Linux only).
//!
//! Run with: `cargo bench -p hookgate-queue --bench disk_writes`
//! (`HOOKGATE_BENCH_DELIVERIES=20000` per run, `HOOKGATE_BENCH_ROUNDS=3`).
//!
//! Each run: 64 producers enqueue N deliveries of 1 KiB (fsync before ack)
//! while a worker pool (16 at a time) acknowledges them; the run ends once
//! everything is acknowledged and the writer, idle, has checkpointed and
//! truncated the WAL, so every byte the deliveries cost is counted. The two
//! set-ups alternate in the same process, `before` first in each round:
//!
//! - `before`: as the queue was before issue 18: a file without
//!   auto-vacuum, a background `PASSIVE` checkpoint after every commit (at
//!   most every 50 ms, `checkpoint_after(0)`), no WAL reset between batches
//!   (`wal_limit` of 1 TiB).
//! - `after`: the defaults (checkpoints every 4 MiB of WAL, the WAL reset at
//!   32 MiB, incremental auto-vacuum).
//!
//! The floor is each delivery's row written once to the WAL and once to the
//! database file: about 2 x (1 KiB body + headers, key and index entries).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use hookgate_queue::{
    Delivery, Enqueue, HandlerError, NewDelivery, Queue, SqliteQueue, WorkerPool,
};

const PRODUCERS: usize = 64;
const BODY: usize = 1024;

/// `(write_bytes, wchar)` of this process so far.
fn io_counters() -> (u64, u64) {
    let io = std::fs::read_to_string("/proc/self/io").expect("/proc/self/io (Linux only)");
    let field = |name: &str| {
        io.lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    (field("write_bytes:"), field("wchar:"))
}

fn wal_len(db: &Path) -> u64 {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    std::fs::metadata(wal).map_or(0, |m| m.len())
}

#[derive(Clone, Copy, PartialEq)]
enum Setup {
    Before,
    After,
}

struct Run {
    write_bytes: u64,
    wchar: u64,
    db_bytes: u64,
    elapsed: Duration,
}

async fn run(setup: Setup, dir: &Path, n: usize) -> Run {
    let db = dir.join(match setup {
        Setup::Before => "before.db",
        Setup::After => "after.db",
    });
    let builder = match setup {
        Setup::Before => {
            // A file as earlier versions made it, which this opener does not migrate.
            let conn = rusqlite::Connection::open(&db).unwrap();
            conn.execute_batch(
                "PRAGMA auto_vacuum = NONE; PRAGMA journal_mode = WAL; CREATE TABLE t (x);",
            )
            .unwrap();
            drop(conn);
            SqliteQueue::builder(&db)
                .recover_leases_on_open(false)
                .checkpoint_after(0)
                .wal_limit(1 << 40)
        }
        Setup::After => SqliteQueue::builder(&db),
    };
    let queue = Arc::new(builder.open().unwrap());
    let dyn_queue: Arc<dyn Queue> = queue.clone();
    let pool = WorkerPool::builder(dyn_queue, |_: Delivery| async {
        Ok::<(), HandlerError>(())
    })
    .concurrency(16)
    .poll_interval(Duration::from_millis(2))
    .build();

    let (before, wchar_before) = io_counters();
    let started = Instant::now();
    let mut producers = tokio::task::JoinSet::new();
    for p in 0..PRODUCERS {
        let queue = queue.clone();
        producers.spawn(async move {
            let body = bytes::Bytes::from(vec![b'x'; BODY]);
            for i in (p..n).step_by(PRODUCERS) {
                let delivery =
                    NewDelivery::new("bench", format!("d-{i}"), SystemTime::now(), body.clone());
                queue.enqueue(delivery).await.unwrap();
            }
        });
    }
    let draining = async {
        let mut handled = 0;
        while handled < n as u64 {
            handled += pool.process_ready().await.unwrap().handled;
            tokio::task::yield_now().await;
        }
    };
    let ((), ()) = tokio::join!(draining, async {
        while producers.join_next().await.is_some() {}
    });
    let elapsed = started.elapsed();
    // The writer, idle for a second, checkpoints and truncates the WAL.
    while wal_len(&db) > 0 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (after, wchar_after) = io_counters();
    let db_bytes = std::fs::metadata(&db).map_or(0, |m| m.len());
    Run {
        write_bytes: after - before,
        wchar: wchar_after - wchar_before,
        db_bytes,
        elapsed,
    }
}

fn main() {
    let n: usize = std::env::var("HOOKGATE_BENCH_DELIVERIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let rounds: usize = std::env::var("HOOKGATE_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!("{n} deliveries of {BODY} B per run, {PRODUCERS} producers, fsync before ack");
    println!(
        "| round | set-up | write_bytes / delivery | wchar / delivery | deliveries/s | db file after |"
    );
    println!("|---:|---|---:|---:|---:|---:|");
    let mut totals = [(0u64, 0u64); 2];
    for round in 1..=rounds {
        for setup in [Setup::Before, Setup::After] {
            let dir = tempfile::tempdir_in(std::env::temp_dir()).unwrap();
            let r = runtime.block_on(run(setup, dir.path(), n));
            let name = if setup == Setup::Before {
                "before"
            } else {
                "after"
            };
            let slot = &mut totals[usize::from(setup == Setup::After)];
            slot.0 += r.write_bytes;
            slot.1 += r.wchar;
            println!(
                "| {round} | {name} | {:.0} B | {:.0} B | {:.0} | {:.1} MB |",
                r.write_bytes as f64 / n as f64,
                r.wchar as f64 / n as f64,
                n as f64 / r.elapsed.as_secs_f64(),
                r.db_bytes as f64 / 1e6
            );
        }
    }
    let per = |bytes: u64| bytes as f64 / (n * rounds) as f64;
    println!(
        "mean write_bytes per delivery: before {:.0} B, after {:.0} B, after/before = {:.2}",
        per(totals[0].0),
        per(totals[1].0),
        per(totals[1].0) / per(totals[0].0)
    );
}
