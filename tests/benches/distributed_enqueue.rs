//! Enqueue throughput and latency of the distributed queues (Redis Streams,
//! NATS JetStream, PostgreSQL) next to the embedded SQLite queue, at 1, 8, 16
//! and 64 concurrent producers, at the queue API (no HTTP).
//!
//! A custom harness, like `hookgate-queue`'s enqueue bench: each cell runs
//! its producers for a fixed time and prints throughput and p50/p99 latency.
//! PostgreSQL runs twice: group-committed (the default) and with one
//! transaction per enqueue (`max_batch(1)`); their ratio is printed. Then the
//! wake-up latency of an idle PostgreSQL worker: from `enqueue` returning in
//! one queue handle to another handle's [`Wakeups`] resolving (only
//! `LISTEN`/`NOTIFY` connects them) and to its lease returning the delivery.
//!
//! Run with: `cargo bench -p hookgate-tests --bench distributed_enqueue`
//! (`HOOKGATE_BENCH_SECS=3` to measure longer; default 1.5 s per cell).
//! Rows for a server that is not reachable are skipped with a message.
//!
//! [`Wakeups`]: hookgate_queue_postgres::Wakeups

use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use hookgate_queue::{Enqueue, LeaseRequest, NewDelivery, Queue, SqliteQueue};
use hookgate_queue_nats::NatsQueue;
use hookgate_queue_postgres::PostgresQueue;
use hookgate_queue_redis::RedisQueue;

const PRODUCERS: [usize; 4] = [1, 8, 16, 64];
const POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
/// Idle-worker wake-ups measured.
const WAKEUPS: usize = 300;
const BODY: usize = 1024;

struct Cell {
    ops: u64,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Cell {
    fn percentile(&mut self, p: f64) -> Duration {
        self.latencies.sort_unstable();
        let index = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies.get(index).copied().unwrap_or_default()
    }
}

async fn run(queue: Arc<dyn Enqueue>, producers: usize, run_for: Duration, tag: &str) -> Cell {
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..producers {
        let (queue, next, tag) = (queue.clone(), next.clone(), tag.to_owned());
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            let body = bytes::Bytes::from(vec![b'x'; BODY]);
            while started.elapsed() < run_for {
                let id = next.fetch_add(1, Ordering::Relaxed);
                let delivery = NewDelivery::new(
                    "bench",
                    format!("{tag}-{id}"),
                    SystemTime::now(),
                    body.clone(),
                );
                let t = Instant::now();
                queue.enqueue(delivery).await.expect("enqueue");
                latencies.push(t.elapsed());
            }
            latencies
        });
    }
    let mut latencies = Vec::new();
    while let Some(done) = tasks.join_next().await {
        latencies.extend(done.expect("producer"));
    }
    Cell {
        ops: latencies.len() as u64,
        elapsed: started.elapsed(),
        latencies,
    }
}

fn up(addr: &str) -> bool {
    let ok =
        TcpStream::connect_timeout(&addr.parse().expect("addr"), Duration::from_secs(1)).is_ok();
    if !ok {
        eprintln!("skipped: nothing listening at {addr}");
    }
    ok
}

fn main() {
    let run_for = Duration::from_secs_f64(
        std::env::var("HOOKGATE_BENCH_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(1.5),
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let tag = format!(
            "{}-{:x}",
            std::process::id(),
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos()
        );
        let dir = tempfile::tempdir().expect("tempdir");
        println!(
            "{:<34} {:>9} {:>12} {:>10} {:>10}",
            "back-end", "producers", "enqueues/s", "p50", "p99"
        );
        let postgres = up("127.0.0.1:5432");
        let mut schemas = Vec::new();
        for producers in PRODUCERS {
            let mut rows: Vec<(&str, Arc<dyn Enqueue>)> = Vec::new();
            let sqlite =
                SqliteQueue::open(dir.path().join(format!("q{producers}.db"))).expect("sqlite");
            rows.push(("sqlite fsync, group commit", Arc::new(sqlite)));
            let prefix = format!("hookgate-bench:{tag}:{producers}");
            if up("127.0.0.1:6379") {
                let redis = RedisQueue::builder("redis://127.0.0.1:6379")
                    .prefix(prefix.clone())
                    .build()
                    .expect("redis");
                rows.push(("redis (no AOF on this machine)", Arc::new(redis)));
            }
            let stream = format!("HGBENCH_{}_{producers}", std::process::id());
            if up("127.0.0.1:4222") {
                let nats = NatsQueue::builder("nats://127.0.0.1:4222")
                    .stream(stream.clone())
                    .connect()
                    .await
                    .expect("nats");
                rows.push(("nats jetstream (file, R1)", Arc::new(nats)));
            }
            if postgres {
                for (name, max_batch) in [
                    ("postgres, group commit", 256),
                    // Every enqueue a transaction of its own, committed one
                    // after the other by the writer.
                    ("postgres, 1 transaction/enqueue", 1),
                ] {
                    let schema = format!("hgbench_{}_{producers}_{max_batch}", std::process::id());
                    schemas.push(schema.clone());
                    let queue = PostgresQueue::builder(POSTGRES_URL)
                        .schema(schema)
                        .max_batch(max_batch)
                        .connect()
                        .await
                        .expect("postgres");
                    rows.push((name, Arc::new(queue)));
                }
            }
            let mut grouped = None;
            for (name, queue) in rows {
                let mut cell = run(queue, producers, run_for, &tag).await;
                let rate = cell.ops as f64 / cell.elapsed.as_secs_f64();
                println!(
                    "{:<34} {:>9} {:>12.0} {:>10.2?} {:>10.2?}",
                    name,
                    producers,
                    rate,
                    cell.percentile(0.50),
                    cell.percentile(0.99),
                );
                match name {
                    "postgres, group commit" => grouped = Some(rate),
                    "postgres, 1 transaction/enqueue" => {
                        if let Some(grouped) = grouped {
                            println!(
                                "{:<34} {:>9} {:>11.1}x",
                                "  postgres group commit ratio",
                                producers,
                                grouped / rate
                            );
                        }
                    }
                    _ => {}
                }
            }
            cleanup(&prefix, &stream).await;
        }
        if postgres {
            wake_latency(&tag).await;
            drop_schemas(&schemas).await;
        }
    });
}

/// From `enqueue` returning in one handle to an idle worker on another
/// handle being woken (`LISTEN`/`NOTIFY`), and to its lease returning the
/// delivery.
async fn wake_latency(tag: &str) {
    let schema = format!("hgbench_wake_{}", std::process::id());
    let open = || {
        PostgresQueue::builder(POSTGRES_URL)
            .schema(schema.clone())
            .connect()
    };
    let producer = open().await.expect("postgres");
    let other = open().await.expect("postgres");
    println!(
        "\n{:<34} {:>9} {:>10} {:>10} {:>10} {:>10}",
        "idle postgres worker", "wake-ups", "woken p50", "woken p99", "leased p50", "leased p99"
    );
    // (Within one handle the writer signals idle workers before `enqueue`
    // even returns: nothing to measure from the acknowledgement.)
    let (name, worker) = ("another handle (LISTEN/NOTIFY)", other);
    let mut wakeups = worker.wakeups();
    // The listener's first connection counts as one wake-up.
    wakeups.ready().await;
    let (report, mut reports) = tokio::sync::mpsc::unbounded_channel();
    let worker_task = tokio::spawn(async move {
        loop {
            wakeups.ready().await;
            let woken = Instant::now();
            let leased = worker
                .lease(LeaseRequest::new(10, Duration::from_secs(30)))
                .await
                .expect("lease");
            let leased_at = Instant::now();
            for lease in leased {
                worker.ack(lease.lease).await.expect("ack");
            }
            if report.send((woken, leased_at)).is_err() {
                return;
            }
        }
    });
    let (mut woken, mut leased) = (Vec::new(), Vec::new());
    for i in 0..WAKEUPS {
        // Let the worker go idle again, waiting on its wake-ups.
        tokio::time::sleep(Duration::from_millis(3)).await;
        let delivery = NewDelivery::new(
            "bench",
            format!("{tag}-wake-{name}-{i}"),
            SystemTime::now(),
            &b"{}"[..],
        );
        producer.enqueue(delivery).await.expect("enqueue");
        let acknowledged = Instant::now();
        let (w, l) = reports.recv().await.expect("the worker reports");
        woken.push(w.saturating_duration_since(acknowledged));
        leased.push(l.saturating_duration_since(acknowledged));
    }
    worker_task.abort();
    let mut woken = Cell {
        ops: 0,
        elapsed: Duration::ZERO,
        latencies: woken,
    };
    let mut leased = Cell {
        ops: 0,
        elapsed: Duration::ZERO,
        latencies: leased,
    };
    println!(
        "{:<34} {:>9} {:>10.2?} {:>10.2?} {:>10.2?} {:>10.2?}",
        name,
        WAKEUPS,
        woken.percentile(0.50),
        woken.percentile(0.99),
        leased.percentile(0.50),
        leased.percentile(0.99),
    );
    drop_schemas(&[schema]).await;
}

/// Drops the schemas the PostgreSQL rows used.
async fn drop_schemas(schemas: &[String]) {
    let Ok((client, connection)) =
        tokio_postgres::connect(POSTGRES_URL, tokio_postgres::NoTls).await
    else {
        return;
    };
    tokio::spawn(connection);
    for schema in schemas {
        let _ = client
            .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
            .await;
    }
}

/// Removes what the bench stored in the shared servers.
async fn cleanup(prefix: &str, stream: &str) {
    if let Ok(client) = redis::Client::open("redis://127.0.0.1:6379")
        && let Ok(mut conn) = client.get_multiplexed_async_connection().await
    {
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{prefix}:*"))
            .query_async(&mut conn)
            .await
            .unwrap_or_default();
        for chunk in keys.chunks(10_000) {
            let _: Result<(), _> = redis::cmd("DEL").arg(chunk).query_async(&mut conn).await;
        }
    }
    if let Ok(client) = async_nats::connect("nats://127.0.0.1:4222").await {
        let js = async_nats::jetstream::new(client);
        for name in [
            stream.to_owned(),
            format!("{stream}_DEAD"),
            format!("KV_{stream}_STATE"),
        ] {
            let _ = js.delete_stream(&name).await;
        }
    }
}
