//! Bytes written to disk per delivery by the SQLite queue, from enqueue to
//! acknowledgement: the WAL, the checkpoints that copy it into the database
//! file, and the final truncating checkpoint, read from `/proc/self/io`
//! (`write_bytes`: what the process sent towards the disk; Linux only).
//!
//! Run with: `cargo bench -p hookgate-queue --bench disk_writes`
//! (`HOOKGATE_BENCH_DELIVERIES=20000` per run, `HOOKGATE_BENCH_ROUNDS=3`;
//! `HOOKGATE_BENCH_IDS=random` for delivery ids spread like UUIDs instead
//! of `d-0`, `d-1`, ..., which a batch inserts next to each other in the
//! dedup table).
//!
//! Each run: 64 producers enqueue N deliveries of 1 KiB (fsync before ack)
//! while a worker pool (16 at a time) acknowledges them; the run ends once
//! everything is acknowledged and the writer, idle, has checkpointed and
//! truncated the WAL, so every byte the deliveries cost is counted. The
//! set-ups alternate in the same process, in this order in each round:
//!
//! - `before`: as the queue was before issue 18: a file without
//!   auto-vacuum, a background `PASSIVE` checkpoint after every commit (at
//!   most every 50 ms, `checkpoint_after(0)`), no WAL reset between batches
//!   (`wal_limit` of 1 TiB).
//! - `shared`: the defaults of a queue opened without the lock (checkpoints
//!   every 4 MiB of WAL, the WAL reset at 32 MiB, incremental auto-vacuum,
//!   1 KiB pages), which writes its leases.
//! - `excl-4k`: opened as `hookgate serve` opens it (`exclusive(true)`:
//!   leases held in memory) but with SQLite's default 4 KiB pages.
//! - `after`: opened as `hookgate serve` opens it, all defaults.
//!
//! `HOOKGATE_BENCH_SETUPS=after,excl-4k` runs only those (e.g. one at a
//! time under `valgrind --tool=callgrind`, to count instructions).
//!
//! `HOOKGATE_BENCH_BREAKDOWN=1` then runs the `after` set-up once more with
//! a WAL that is never reset (`wal_limit` of 1 TiB), copies the WAL before
//! the writer truncates it, and counts its frames by the b-tree each page
//! belongs to at the end (`dbstat`; pages free by then, such as the
//! overflow pages of acknowledged bodies, are "free or other").
//!
//! `CPU / delivery` is the process's user and system time (all threads:
//! producers, workers, the writer and checkpoints) per delivery, from
//! `/proc/self/stat` (10 ms ticks).
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
    Shared,
    Exclusive4k,
    After,
}

impl Setup {
    const ALL: [Self; 4] = [Self::Before, Self::Shared, Self::Exclusive4k, Self::After];

    fn name(self) -> &'static str {
        match self {
            Self::Before => "before",
            Self::Shared => "shared",
            Self::Exclusive4k => "excl-4k",
            Self::After => "after",
        }
    }
}

/// User and system CPU time of this process (all threads) so far.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat (Linux only)");
    // The fields after the command name (which may hold spaces) in brackets.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 here, in
    // clock ticks (USER_HZ, 100 on Linux).
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10)
}

/// The delivery id of the `i`th delivery.
fn delivery_id(i: usize, random: bool) -> String {
    if !random {
        return format!("d-{i}");
    }
    // splitmix64: distinct ids spread over the key space as random ones are.
    let mut z = (i as u64)
        .wrapping_add(1)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    format!("{z:016x}-{i:08x}")
}

struct Run {
    cpu: Duration,
    write_bytes: u64,
    wchar: u64,
    db_bytes: u64,
    elapsed: Duration,
}

/// Counts the frames of the WAL beside `db` by the b-tree their page is in
/// (read from a copy, so the queue may go on) and prints them per delivery.
fn print_breakdown(db: &Path, n: usize) {
    let dir = tempfile::tempdir_in(std::env::temp_dir()).unwrap();
    let copy = dir.path().join("copy.db");
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    // The WAL first: frames committed after it was read are not counted,
    // and the database file is only written by checkpoints of older ones.
    let frames = std::fs::read(&wal).unwrap();
    std::fs::copy(db, &copy).unwrap();
    std::fs::write(dir.path().join("copy.db-wal"), &frames).unwrap();
    let page = u32::from_be_bytes(frames[8..12].try_into().unwrap()) as usize;
    let salt = frames[16..24].to_vec();
    let conn = rusqlite::Connection::open(&copy).unwrap();
    let mut owner = std::collections::HashMap::new();
    let mut stmt = conn
        .prepare("SELECT pageno, name || ' ' || pagetype FROM dbstat")
        .unwrap();
    for row in stmt
        .query_map([], |row| {
            Ok((row.get::<_, u32>(0)?, row.get::<_, String>(1)?))
        })
        .unwrap()
    {
        let (page, name) = row.unwrap();
        owner.insert(page, name);
    }
    // With auto-vacuum, pointer-map pages are page 2 and every
    // (page size / 5 + 1) pages after it.
    let ptrmap_every = (page / 5) as u32 + 1;
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    let (mut total, mut commits) = (0usize, 0usize);
    let mut at = 32;
    while at + 24 + page <= frames.len() && frames[at + 8..at + 16] == salt[..] {
        let number = u32::from_be_bytes(frames[at..at + 4].try_into().unwrap());
        if frames[at + 4..at + 8] != [0; 4] {
            commits += 1;
        }
        let name = match number {
            1 => "page 1 (header)".to_owned(),
            n if n >= 2 && (n - 2) % ptrmap_every == 0 => "pointer map".to_owned(),
            n => owner
                .get(&n)
                .cloned()
                .unwrap_or_else(|| "free or other (freed overflow, free list)".to_owned()),
        };
        *counts.entry(name).or_default() += 1;
        total += 1;
        at += 24 + page;
    }
    let per = |frames: usize| (frames * (page + 24)) as f64 / n as f64;
    println!(
        "WAL frames of the `after` set-up ({page} B pages): {total} frames in {commits} commits, \
         {:.1} deliveries per commit, {:.0} B of WAL per delivery",
        n as f64 / commits.max(1) as f64,
        per(total)
    );
    let mut rows: Vec<_> = counts.into_iter().collect();
    rows.sort_by_key(|row| std::cmp::Reverse(row.1));
    println!("| pages of | frames | WAL bytes / delivery |");
    println!("|---|---:|---:|");
    for (name, frames) in rows {
        println!("| {name} | {frames} | {:.0} B |", per(frames));
    }
}

async fn run(setup: Setup, dir: &Path, n: usize, random_ids: bool) -> Run {
    run_with(setup, dir, n, random_ids, false).await
}

async fn run_with(setup: Setup, dir: &Path, n: usize, random_ids: bool, breakdown: bool) -> Run {
    let db = dir.join(format!("{}.db", setup.name()));
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
        Setup::Shared => SqliteQueue::builder(&db),
        Setup::Exclusive4k => SqliteQueue::builder(&db).exclusive(true).page_size(4096),
        Setup::After if breakdown => SqliteQueue::builder(&db).exclusive(true).wal_limit(1 << 40),
        Setup::After => SqliteQueue::builder(&db).exclusive(true),
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
    let cpu_before = cpu_time();
    let started = Instant::now();
    let mut producers = tokio::task::JoinSet::new();
    for p in 0..PRODUCERS {
        let queue = queue.clone();
        producers.spawn(async move {
            let body = bytes::Bytes::from(vec![b'x'; BODY]);
            for i in (p..n).step_by(PRODUCERS) {
                let delivery = NewDelivery::new(
                    "bench",
                    delivery_id(i, random_ids),
                    SystemTime::now(),
                    body.clone(),
                );
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
    if breakdown {
        print_breakdown(&db, n);
    }
    // The writer, idle for a second, checkpoints and truncates the WAL.
    while wal_len(&db) > 0 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (after, wchar_after) = io_counters();
    let cpu = cpu_time() - cpu_before;
    let db_bytes = std::fs::metadata(&db).map_or(0, |m| m.len());
    Run {
        cpu,
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
    let random_ids = std::env::var("HOOKGATE_BENCH_IDS").is_ok_and(|v| v == "random");
    println!(
        "{n} deliveries of {BODY} B per run, {PRODUCERS} producers, fsync before ack, {} ids",
        if random_ids { "random" } else { "sequential" }
    );
    println!(
        "| round | set-up | write_bytes / delivery | wchar / delivery | CPU / delivery | deliveries/s | db file after |"
    );
    println!("|---:|---|---:|---:|---:|---:|---:|");
    let mut totals = [0u64; Setup::ALL.len()];
    let mut cpu = [Duration::ZERO; Setup::ALL.len()];
    let chosen = std::env::var("HOOKGATE_BENCH_SETUPS").ok();
    let runs = |setup: Setup| {
        chosen
            .as_deref()
            .is_none_or(|list| list.split(',').any(|name| name.trim() == setup.name()))
    };
    for round in 1..=rounds {
        for (slot, setup) in Setup::ALL.into_iter().enumerate() {
            if !runs(setup) {
                continue;
            }
            let dir = tempfile::tempdir_in(std::env::temp_dir()).unwrap();
            let r = runtime.block_on(run(setup, dir.path(), n, random_ids));
            totals[slot] += r.write_bytes;
            cpu[slot] += r.cpu;
            println!(
                "| {round} | {} | {:.0} B | {:.0} B | {:.1} µs | {:.0} | {:.1} MB |",
                setup.name(),
                r.write_bytes as f64 / n as f64,
                r.wchar as f64 / n as f64,
                r.cpu.as_secs_f64() * 1e6 / n as f64,
                n as f64 / r.elapsed.as_secs_f64(),
                r.db_bytes as f64 / 1e6
            );
        }
    }
    let per = |bytes: u64| bytes as f64 / (n * rounds) as f64;
    let before = per(totals[0]);
    print!("mean write_bytes per delivery: before {before:.0} B");
    for (slot, setup) in Setup::ALL.into_iter().enumerate().skip(1) {
        let mean = per(totals[slot]);
        print!(", {} {mean:.0} B ({:.2}x)", setup.name(), mean / before);
    }
    println!();
    if std::env::var("HOOKGATE_BENCH_BREAKDOWN").is_ok_and(|v| v == "1") {
        let dir = tempfile::tempdir_in(std::env::temp_dir()).unwrap();
        runtime.block_on(run_with(Setup::After, dir.path(), n, random_ids, true));
    }
    print!("mean CPU per delivery:");
    for (slot, setup) in Setup::ALL.into_iter().enumerate() {
        let micros = cpu[slot].as_secs_f64() * 1e6 / (n * rounds) as f64;
        print!(" {} {micros:.1} µs", setup.name());
    }
    println!();
}
