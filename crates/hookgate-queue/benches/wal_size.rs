//! The SQLite queue's WAL file under sustained load, sampled every second
//! (issue 18: it must stay under its bound, 64 MiB by default, and shrink
//! back within seconds once the load stops).
//!
//! Run with: `cargo bench -p hookgate-queue --bench wal_size`
//! (`HOOKGATE_BENCH_SECONDS=600` of load, `HOOKGATE_BENCH_RATE=2000`
//! deliveries/s, `HOOKGATE_BENCH_CSV=wal_size.csv`).
//!
//! The queue is opened as `hookgate serve` opens it (exclusive, fsync before
//! ack, the default WAL bound) and a worker pool of 16 acknowledges what
//! arrives (a no-op handler). The load is open loop: every 10 ms the
//! deliveries due in that tick are started without waiting for earlier ones
//! (1 KiB bodies, ids spread as random ones are), so a slow commit does not
//! lower the offered rate. After the load, sampling goes on for
//! `HOOKGATE_BENCH_COOLDOWN=15` seconds. Each second the CSV gets a row:
//! seconds since start, whether the load was on, the WAL file's bytes, the
//! database file's bytes, deliveries acknowledged and handled so far, and
//! the backlog (waiting and leased).

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use hookgate_queue::{
    Delivery, Enqueue, HandlerError, NewDelivery, Queue, SqliteQueue, WorkerPool,
};

const BODY: usize = 1024;
/// The default `wal_limit`, which the queue here keeps.
const WAL_BOUND: u64 = 64 << 20;
const TICK: Duration = Duration::from_millis(10);

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// A distinct id per delivery, spread over the key space (splitmix64).
fn delivery_id(i: u64) -> String {
    let mut z = i.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    format!("{z:016x}-{i:08x}")
}

struct Sample {
    second: u64,
    load: bool,
    wal: u64,
    db: u64,
    acked: u64,
    handled: u64,
    backlog: u64,
}

/// The `q` quantile (0..=1) of `values`, nearest rank.
fn quantile(values: &[u64], q: f64) -> u64 {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / f64::from(1 << 20)
}

fn main() {
    let seconds: u64 = env("HOOKGATE_BENCH_SECONDS", 600);
    let rate: u64 = env("HOOKGATE_BENCH_RATE", 2000);
    let cooldown: u64 = env("HOOKGATE_BENCH_COOLDOWN", 15);
    let csv_path: String = env("HOOKGATE_BENCH_CSV", "wal_size.csv".to_owned());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir_in(std::env::temp_dir()).unwrap();
    let db = dir.path().join("queue.db");
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    let wal = std::path::PathBuf::from(wal);

    let samples = runtime.block_on(async {
        let queue = Arc::new(SqliteQueue::builder(&db).exclusive(true).open().unwrap());
        let handled = Arc::new(AtomicU64::new(0));
        let counter = handled.clone();
        let dyn_queue: Arc<dyn Queue> = queue.clone();
        let pool = WorkerPool::builder(dyn_queue, move |_: Delivery| {
            counter.fetch_add(1, Ordering::Relaxed);
            async { Ok::<(), HandlerError>(()) }
        })
        .concurrency(16)
        .build();
        let (stop_workers, stopped) = tokio::sync::oneshot::channel::<()>();
        let workers = tokio::spawn(async move {
            pool.run(
                async {
                    let _ = stopped.await;
                },
                Duration::from_secs(5),
            )
            .await
        });

        let acked = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let load = {
            let (queue, acked, failed) = (queue.clone(), acked.clone(), failed.clone());
            tokio::spawn(async move {
                let body = bytes::Bytes::from(vec![b'x'; BODY]);
                let started = Instant::now();
                let mut ticker = tokio::time::interval(TICK);
                ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
                let mut sent = 0u64;
                while started.elapsed() < Duration::from_secs(seconds) {
                    ticker.tick().await;
                    // What the schedule says should have been sent by now.
                    let due = (started.elapsed().as_secs_f64() * rate as f64) as u64;
                    while sent < due {
                        let delivery = NewDelivery::new(
                            "bench",
                            delivery_id(sent),
                            SystemTime::now(),
                            body.clone(),
                        );
                        let (queue, acked, failed) = (queue.clone(), acked.clone(), failed.clone());
                        tokio::spawn(async move {
                            match queue.enqueue(delivery).await {
                                Ok(_) => acked.fetch_add(1, Ordering::Relaxed),
                                Err(_) => failed.fetch_add(1, Ordering::Relaxed),
                            };
                        });
                        sent += 1;
                    }
                }
                sent
            })
        };

        let mut samples = Vec::new();
        let started = Instant::now();
        let mut next = started;
        for second in 1..=seconds + cooldown {
            next += Duration::from_secs(1);
            tokio::time::sleep_until(next.into()).await;
            let backlog = queue.stats().await.map_or(0, |s| s.ready + s.leased);
            samples.push(Sample {
                second,
                load: second <= seconds,
                wal: file_len(&wal),
                db: file_len(&db),
                acked: acked.load(Ordering::Relaxed),
                handled: handled.load(Ordering::Relaxed),
                backlog,
            });
        }
        let sent = load.await.unwrap();
        let _ = stop_workers.send(());
        let _ = workers.await;
        println!(
            "sent {sent}, acknowledged {}, refused or failed {}",
            acked.load(Ordering::Relaxed),
            failed.load(Ordering::Relaxed)
        );
        samples
    });

    let mut csv = std::fs::File::create(&csv_path).unwrap();
    writeln!(
        csv,
        "second,load,wal_bytes,db_bytes,acknowledged,handled,backlog"
    )
    .unwrap();
    for s in &samples {
        writeln!(
            csv,
            "{},{},{},{},{},{},{}",
            s.second,
            u8::from(s.load),
            s.wal,
            s.db,
            s.acked,
            s.handled,
            s.backlog
        )
        .unwrap();
    }

    let under_load: Vec<u64> = samples.iter().filter(|s| s.load).map(|s| s.wal).collect();
    let last_loaded = samples.iter().rfind(|s| s.load);
    let after = samples.last();
    println!(
        "{seconds} s at {rate} deliveries/s of {BODY} B (open loop), WAL bound {:.0} MiB; samples in {csv_path}",
        mib(WAL_BOUND)
    );
    println!(
        "WAL under load: max {:.1} MiB, p99 {:.1} MiB, p50 {:.1} MiB, at the end of the load {:.1} MiB",
        mib(under_load.iter().copied().max().unwrap_or(0)),
        mib(quantile(&under_load, 0.99)),
        mib(quantile(&under_load, 0.5)),
        mib(last_loaded.map_or(0, |s| s.wal)),
    );
    if let Some(s) = last_loaded {
        println!(
            "at the end of the load: acknowledged {}/s on average, handled {}, backlog {}",
            s.acked / seconds.max(1),
            s.handled,
            s.backlog
        );
    }
    if let Some(s) = after {
        let shrunk = samples
            .iter()
            .find(|s| !s.load && s.wal == 0)
            .map(|s| s.second - seconds);
        println!(
            "{cooldown} s after the load: WAL {:.1} MiB (0 B first after {} s), database file {:.1} MiB, backlog {}",
            mib(s.wal),
            shrunk.map_or("-".to_owned(), |s| s.to_string()),
            mib(s.db),
            s.backlog
        );
    }
}
