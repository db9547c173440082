//! Enqueue throughput and latency of the distributed queues (Redis Streams,
//! NATS JetStream) next to the embedded SQLite queue, at 1, 16 and 64
//! concurrent producers, at the queue API (no HTTP).
//!
//! A custom harness, like `hookgate-queue`'s enqueue bench: each cell runs
//! its producers for a fixed time and prints throughput and p50/p99 latency.
//!
//! Run with: `cargo bench -p hookgate-tests --bench distributed_enqueue`
//! (`HOOKGATE_BENCH_SECS=3` to measure longer; default 1.5 s per cell).
//! Rows for a server that is not reachable are skipped with a message.

use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use hookgate_queue::{Enqueue, NewDelivery, SqliteQueue};
use hookgate_queue_nats::NatsQueue;
use hookgate_queue_redis::RedisQueue;

const PRODUCERS: [usize; 3] = [1, 16, 64];
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
            for (name, queue) in rows {
                let mut cell = run(queue, producers, run_for, &tag).await;
                println!(
                    "{:<34} {:>9} {:>12.0} {:>10.2?} {:>10.2?}",
                    name,
                    producers,
                    cell.ops as f64 / cell.elapsed.as_secs_f64(),
                    cell.percentile(0.50),
                    cell.percentile(0.99),
                );
            }
            cleanup(&prefix, &stream).await;
        }
    });
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
