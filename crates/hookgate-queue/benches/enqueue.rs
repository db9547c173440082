//! Enqueue throughput and latency at 1, 16 and 64 concurrent producers.
//!
//! A custom harness (criterion measures one future at a time, which hides
//! exactly what group commit is for): each cell runs its producers for a
//! fixed time and prints throughput and p50/p99 latency.
//!
//! Run with: `cargo bench -p hookgate-queue --bench enqueue`
//! (`HOOKGATE_BENCH_SECS=3` to measure longer; default 1.5 s per cell).
//!
//! Rows:
//! - `sqlite fsync, group commit`: the default back-end (`Durability::Fsync`).
//! - `sqlite fsync, 4 KiB pages`: the same in a file of 4 KiB pages
//!   (SQLite's default, and the queue's before issue 18).
//! - `sqlite fsync, 1 tx/enqueue`: the same with `max_batch(1)`.
//! - `memory`: the in-memory back-end.
//! - `append+fdatasync`: no database: 1 KiB appends to a file on the same
//!   disk, `k` records per `fdatasync` for k = 1, 16, 64 (serial). This is the
//!   physical limit; its latency column is the time of one write+fdatasync.
//!
//! `CPU µs/op`: the process's user and system time (every thread: producers,
//! the writer, checkpoints) per enqueue, from `/proc/self/stat` (10 ms
//! ticks; Linux only, else 0).

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use hookgate_queue::{Enqueue, MemoryQueue, NewDelivery, Queue, SqliteQueue};

const PRODUCERS: [usize; 3] = [1, 16, 64];
const BODY: usize = 1024;

/// User and system CPU time of this process (all threads) so far.
fn cpu_time() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return Duration::ZERO;
    };
    // The fields after the command name (which may hold spaces) in brackets:
    // utime and stime, fields 14 and 15 of the line, in 1/100 s.
    let fields: Vec<u64> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|f| f.parse().ok())
        .collect();
    Duration::from_millis(fields.iter().sum::<u64>() * 10)
}

struct Cell {
    cpu: Duration,
    ops: u64,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Cell {
    fn per_sec(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&mut self, p: f64) -> Duration {
        self.latencies.sort_unstable();
        let index = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies.get(index).copied().unwrap_or_default()
    }
}

async fn run_queue(queue: Arc<dyn Queue>, producers: usize, run_for: Duration) -> Cell {
    let next = Arc::new(AtomicU64::new(0));
    let cpu = cpu_time();
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..producers {
        let (queue, next) = (queue.clone(), next.clone());
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            let body = bytes::Bytes::from(vec![b'x'; BODY]);
            while started.elapsed() < run_for {
                let id = next.fetch_add(1, Ordering::Relaxed);
                let delivery =
                    NewDelivery::new("bench", format!("d-{id}"), SystemTime::now(), body.clone());
                let t = Instant::now();
                queue.enqueue(delivery).await.expect("enqueue");
                latencies.push(t.elapsed());
            }
            latencies
        });
    }
    let mut latencies = Vec::new();
    while let Some(part) = tasks.join_next().await {
        latencies.extend(part.expect("producer"));
    }
    Cell {
        cpu: cpu_time() - cpu,
        ops: latencies.len() as u64,
        elapsed: started.elapsed(),
        latencies,
    }
}

fn run_fdatasync(dir: &Path, per_sync: usize, run_for: Duration) -> Cell {
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(format!("append-{per_sync}.log")))
        .expect("open");
    let record = vec![b'x'; BODY];
    let mut latencies = Vec::new();
    let cpu = cpu_time();
    let started = Instant::now();
    while started.elapsed() < run_for {
        let t = Instant::now();
        for _ in 0..per_sync {
            file.write_all(&record).expect("write");
        }
        file.sync_data().expect("fdatasync");
        latencies.push(t.elapsed());
    }
    Cell {
        cpu: cpu_time() - cpu,
        ops: latencies.len() as u64 * per_sync as u64,
        elapsed: started.elapsed(),
        latencies,
    }
}

fn print_row(name: &str, producers: usize, cell: &mut Cell) {
    println!(
        "| {name:<28} | {producers:>9} | {:>12.0} | {:>9.3} | {:>9.3} | {:>9.1} |",
        cell.per_sec(),
        cell.percentile(0.50).as_secs_f64() * 1e3,
        cell.percentile(0.99).as_secs_f64() * 1e3,
        cell.cpu.as_secs_f64() * 1e6 / cell.ops.max(1) as f64,
    );
}

fn main() {
    // `cargo test --benches` runs benches with `--bench` absent: do nothing then.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let run_for = Duration::from_secs_f64(
        std::env::var("HOOKGATE_BENCH_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(1.5),
    );
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");

    println!(
        "| {:<28} | producers | enqueues/s   | p50 ms    | p99 ms    | CPU µs/op |",
        "back-end"
    );
    println!(
        "|{:-<30}|{:-<11}|{:-<14}|{:-<11}|{:-<11}|{:-<11}|",
        "", "", "", "", "", ""
    );
    // The SQLite set-ups alternate at each producer count, so that a change
    // in the machine's load hits them alike.
    for producers in PRODUCERS {
        for (name, max_batch, page_size) in [
            ("sqlite fsync, group commit", 1024, 1024),
            ("sqlite fsync, 4 KiB pages", 1024, 4096),
            ("sqlite fsync, 1 tx/enqueue", 1, 1024),
        ] {
            let path = dir
                .path()
                .join(format!("q-{max_batch}-{page_size}-{producers}.db"));
            let queue = SqliteQueue::builder(path)
                .max_batch(max_batch)
                .page_size(page_size)
                .open()
                .expect("open");
            let mut cell = runtime.block_on(run_queue(Arc::new(queue), producers, run_for));
            print_row(name, producers, &mut cell);
        }
    }
    for producers in PRODUCERS {
        let mut cell =
            runtime.block_on(run_queue(Arc::new(MemoryQueue::new()), producers, run_for));
        print_row("memory", producers, &mut cell);
    }
    for per_sync in PRODUCERS {
        let mut cell = run_fdatasync(dir.path(), per_sync, run_for);
        print_row("append+fdatasync (k/sync)", per_sync, &mut cell);
    }
}
