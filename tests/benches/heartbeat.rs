//! What keeping running attempts' leases costs, two ways: one call that
//! extends all of a pool's leases (what `WorkerPool` does, one heartbeat
//! task per pool), against one call per lease, one after another (what a
//! timer per attempt amounts to: attempts start at different times, so their
//! timers fire apart). Per back-end and number of leases held, the time of
//! one heartbeat round.
//!
//! Run with: `cargo bench -p hookgate-tests --bench heartbeat`
//! (`HOOKGATE_BENCH_ROUNDS=50` for more rounds; default 20). Rows for a
//! server that is not reachable are skipped with a message.

use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use hookgate_queue::{LeaseId, LeaseRequest, NewDelivery, Queue, SqliteQueue};
use hookgate_queue_nats::NatsQueue;
use hookgate_queue_postgres::PostgresQueue;
use hookgate_queue_redis::RedisQueue;

const HELD: [usize; 3] = [1, 16, 64];
const VISIBILITY: Duration = Duration::from_secs(30);

/// Leases `n` fresh deliveries from `queue`.
async fn hold(queue: &dyn Queue, n: usize, tag: &str) -> Vec<LeaseId> {
    for i in 0..n {
        let delivery = NewDelivery::new("bench", format!("{tag}-{i}"), SystemTime::now(), "{}");
        queue.enqueue(delivery).await.expect("enqueue");
    }
    let mut leases = Vec::new();
    while leases.len() < n {
        let leased = queue
            .lease(LeaseRequest::new(n - leases.len(), VISIBILITY))
            .await
            .expect("lease");
        assert!(!leased.is_empty(), "enqueued deliveries are due");
        leases.extend(leased.into_iter().map(|l| l.lease));
    }
    leases
}

/// The median time of one round, as `round` does it.
async fn median<F, Fut>(rounds: usize, mut round: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut times = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let started = Instant::now();
        round().await;
        times.push(started.elapsed());
    }
    times.sort_unstable();
    times[times.len() / 2]
}

async fn measure(name: &str, queue: Arc<dyn Queue>, rounds: usize, tag: &str) {
    for held in HELD {
        let leases = hold(queue.as_ref(), held, &format!("{tag}-{held}")).await;
        let batched = median(rounds, || async {
            let extended = queue
                .extend(leases.clone(), VISIBILITY)
                .await
                .expect("extend");
            assert!(extended.iter().all(Result::is_ok));
        })
        .await;
        let one_by_one = median(rounds, || async {
            for lease in &leases {
                let extended = queue
                    .extend(vec![lease.clone()], VISIBILITY)
                    .await
                    .expect("extend");
                assert!(extended[0].is_ok());
            }
        })
        .await;
        println!(
            "{name:<30} {held:>5} {:>14.2?} {:>14.2?} {:>7.1}x",
            batched,
            one_by_one,
            one_by_one.as_secs_f64() / batched.as_secs_f64()
        );
        for lease in leases {
            queue.ack(lease).await.expect("ack");
        }
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
    let rounds = std::env::var("HOOKGATE_BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let tag = format!("hb-{}", std::process::id());
        let dir = tempfile::tempdir().expect("tempdir");
        println!(
            "{:<30} {:>5} {:>14} {:>14} {:>8}",
            "back-end", "held", "one call", "one per lease", "ratio"
        );
        let sqlite = SqliteQueue::open(dir.path().join("heartbeat.db")).expect("sqlite");
        measure("sqlite fsync", Arc::new(sqlite), rounds, &tag).await;
        let prefix = format!("hookgate-bench:{tag}");
        if up("127.0.0.1:6379") {
            let redis = RedisQueue::builder("redis://127.0.0.1:6379")
                .prefix(prefix.clone())
                .build()
                .expect("redis");
            measure("redis", Arc::new(redis), rounds, &tag).await;
        }
        let stream = format!("HGBENCH_HB_{}", std::process::id());
        if up("127.0.0.1:4222") {
            let nats = NatsQueue::builder("nats://127.0.0.1:4222")
                .stream(stream.clone())
                .connect()
                .await
                .expect("nats");
            measure("nats jetstream", Arc::new(nats), rounds, &tag).await;
        }
        let schema = format!("hgbench_hb_{}", std::process::id());
        if up("127.0.0.1:5432") {
            let postgres = PostgresQueue::builder(POSTGRES_URL)
                .schema(schema.clone())
                .connect()
                .await
                .expect("postgres");
            measure("postgres", Arc::new(postgres), rounds, &tag).await;
        }
        cleanup(&prefix, &stream).await;
        if let Ok((client, connection)) =
            tokio_postgres::connect(POSTGRES_URL, tokio_postgres::NoTls).await
        {
            tokio::spawn(connection);
            let _ = client
                .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
                .await;
        }
    });
}

const POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

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
        if !keys.is_empty() {
            let _: Result<(), _> = redis::cmd("DEL").arg(keys).query_async(&mut conn).await;
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
