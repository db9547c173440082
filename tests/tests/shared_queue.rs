//! Two `hookgate serve` processes share one Redis (then one NATS, then one
//! PostgreSQL) queue, with the default worker settings (visibility timeout,
//! heartbeats, polling); one
//! is SIGKILLed mid-load. Every delivery that got a 2xx is handled (forwarded
//! to the user's service) by either receiver within 60 s of the kill, and
//! after deduplication each is handled once. Prints the counts and how long
//! the survivor took.
//!
//! Needs `redis-server` (started privately, with its append-only file, as
//! `hookgate serve` requires), the local NATS (127.0.0.1:4222) and
//! PostgreSQL (127.0.0.1:5432, database `test`): skipped
//! with a printed reason when absent, failed when `HOOKGATE_REQUIRE_SERVICES=1`.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hookgate_tests::{PrivateRedis, Sink, service_available, signed_github_delivery, spawn_serve};
use tokio::process::Child;

const DELIVERIES: usize = 1200;
const SENDERS: usize = 32;
const SECRET: &str = "shared-queue-secret";
/// Each receiver's workers: the most deliveries one receiver has in flight,
/// so the most a SIGKILL can leave handled but not yet acknowledged.
const CONCURRENCY: usize = 16;
/// What the killed receiver held must be handled by the survivor within
/// this time of the kill: its leases run out at most one visibility timeout
/// (30 s by default) after its last heartbeat.
const TAKEOVER_LIMIT: Duration = Duration::from_secs(60);
/// How often the resend phase sends one delivery that is answered 503.
const MAX_TRIES: usize = 10;
/// Only a hang reaches this, after the resend.
const DRAIN_GUARD: Duration = Duration::from_secs(120);

/// Starts `hookgate serve` on the shared queue, forwarding to `sink/<name>`.
/// Returns the child and its webhook URL.
async fn serve(
    dir: &std::path::Path,
    queue: &str,
    sink: SocketAddr,
    name: &str,
) -> (Child, String) {
    let config = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n\n\
         [queue]\n{queue}\n\n\
         # The default visibility timeout, heartbeat and polling.\n\
         [workers]\nconcurrency = {CONCURRENCY}\n\n\
         [retry]\nschedule = [\"50ms\"]\nmax_attempts = 10\n\n\
         [action]\nforward = \"http://{sink}/{name}\"\ntimeout = \"1s\"\n\n\
         [sources.shared]\nscheme = \"github\"\nsecret_env = \"SHARED_QUEUE_SECRET\"\n"
    );
    let (child, addr) = spawn_serve(dir, name, &config, &[("SHARED_QUEUE_SECRET", SECRET)]).await;
    (child, format!("http://{addr}/hooks/shared"))
}

fn request(client: &reqwest::Client, url: &str, i: usize) -> reqwest::RequestBuilder {
    let (headers, body) = signed_github_delivery(i, SECRET);
    client.post(url).headers(headers).body(body)
}

/// `queue` is the `[queue]` table's body, naming the shared queue.
async fn two_receivers_one_killed(kind: &str, queue: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let sink = Sink::default();
    let sink_addr = sink.start().await;
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as usize;
    let kill_after = DELIVERIES / 10 + seed % (DELIVERIES * 6 / 10);

    let (mut a, url_a) = serve(dir.path(), queue, sink_addr, "a").await;
    let (mut b, url_b) = serve(dir.path(), queue, sink_addr, "b").await;
    let urls = Arc::new([url_a, url_b.clone()]);

    // Phase 1: senders alternate between the receivers until A is killed.
    let client = reqwest::Client::new();
    let acked = Arc::new(Mutex::new(HashSet::new()));
    let refused = Arc::new(AtomicUsize::new(0));
    let mut senders = tokio::task::JoinSet::new();
    for s in 0..SENDERS {
        let (client, urls, acked, refused) = (
            client.clone(),
            Arc::clone(&urls),
            Arc::clone(&acked),
            Arc::clone(&refused),
        );
        senders.spawn(async move {
            for i in (s..DELIVERIES).step_by(SENDERS) {
                match request(&client, &urls[i % 2], i).send().await {
                    Ok(res) if res.status().is_success() => {
                        acked.lock().unwrap().insert(format!("d-{i}"));
                    }
                    // A connection cut by the kill, or a 503: the sender
                    // would retry later.
                    _ => {
                        refused.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        });
    }
    while acked.lock().unwrap().len() < kill_after && !senders.is_empty() {
        tokio::time::sleep(Duration::from_millis(1)).await;
        if let Some(done) = senders.try_join_next() {
            done.expect("sender");
        }
    }
    a.start_kill().expect("SIGKILL receiver A");
    let killed_at = Instant::now();
    let status = a.wait().await.expect("wait");
    assert!(!status.success(), "receiver A was killed");
    let acked_at_kill = acked.lock().unwrap().len();
    while let Some(done) = senders.join_next().await {
        done.expect("sender");
    }
    let acked = acked.lock().unwrap().clone();

    // Before anything is sent again, B alone must handle every delivery
    // that got a 2xx: those A had queued but not leased, and (once their
    // leases expire) those A was handling when it died. A resend first
    // would hide a lost delivery by queueing it anew.
    let unhandled = |sink: &Sink| {
        let (handled, _) = sink.counts();
        acked.iter().filter(|id| !handled.contains_key(*id)).count()
    };
    while unhandled(&sink) > 0 && killed_at.elapsed() < TAKEOVER_LIMIT {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let takeover = killed_at.elapsed();
    let missing_before_resend = unhandled(&sink);

    // Phase 2: the senders retry everything on B (answered 2xx whether new
    // or a duplicate), as senders do with what was refused or cut.
    let mut retries = tokio::task::JoinSet::new();
    for s in 0..SENDERS {
        let (client, url_b) = (client.clone(), url_b.clone());
        retries.spawn(async move {
            let mut not_ok = Vec::new();
            for i in (s..DELIVERIES).step_by(SENDERS) {
                // A 503 (the queue did not confirm within the ACK budget on a
                // loaded machine) is retried after its `Retry-After`, as a
                // sender does; anything else, or a 503 that persists, fails.
                let mut tries = 0;
                let status = loop {
                    let res = request(&client, &url_b, i).send().await.expect("retry");
                    let status = res.status();
                    tries += 1;
                    if status != reqwest::StatusCode::SERVICE_UNAVAILABLE || tries == MAX_TRIES {
                        break status;
                    }
                    let wait = res
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
                        .unwrap_or(1)
                        .min(2);
                    tokio::time::sleep(Duration::from_secs(wait)).await;
                };
                if !status.is_success() {
                    not_ok.push((i, status));
                }
            }
            not_ok
        });
    }
    let mut not_ok = Vec::new();
    while let Some(done) = retries.join_next().await {
        not_ok.extend(done.expect("retry sender"));
    }
    assert!(not_ok.is_empty(), "retries refused: {not_ok:?}");

    let started = Instant::now();
    while sink.counts().0.len() < DELIVERIES && started.elapsed() < DRAIN_GUARD {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Give anything still in flight a moment to show up as a second handling.
    tokio::time::sleep(Duration::from_millis(500)).await;
    b.start_kill().expect("stop receiver B");
    b.wait().await.expect("wait");

    let (handled, by_route) = sink.counts();
    let by_a = by_route.get("a").copied().unwrap_or_default();
    let by_b = by_route.get("b").copied().unwrap_or_default();
    let missing: Vec<&String> = acked
        .iter()
        .filter(|id| !handled.contains_key(*id))
        .collect();
    let twice = handled.values().filter(|&&n| n > 1).count();
    println!(
        "{kind} shared queue: {DELIVERIES} deliveries from {SENDERS} senders to 2 `hookgate serve` \
         processes; A SIGKILLed after {acked_at_kill} 2xx (target {kill_after}, seed {seed}); \
         phase 1: {} 2xx, {} refused or cut; {missing_before_resend} of them unhandled \
         {:.1} s after the kill (limit {TAKEOVER_LIMIT:?}), before any resend; all resent to B and 2xx'd; handled {by_a} by A + {by_b} by B = {} times, \
         {} distinct, {twice} twice (in flight at the kill), {} acknowledged but missing",
        acked.len(),
        refused.load(Ordering::Relaxed),
        takeover.as_secs_f64(),
        by_a + by_b,
        handled.len(),
        missing.len(),
    );
    assert_eq!(
        missing_before_resend, 0,
        "deliveries answered 2xx were not handled by the surviving receiver within {TAKEOVER_LIMIT:?} of the kill"
    );
    assert!(
        missing.is_empty(),
        "acknowledged but never handled: {missing:?}"
    );
    assert_eq!(
        handled.len(),
        DELIVERIES,
        "after dedup, every delivery handled"
    );
    // In flight at the kill: A's running handlers (at most its concurrency)
    // and the attempts whose outcome it was still recording with the queue
    // (the pool frees a handler's slot before that round trip, so a slow
    // acknowledgement, NATS's double ack under load, adds up to about
    // another concurrency's worth). Anything beyond is not in-flight work.
    assert!(
        twice <= 2 * CONCURRENCY,
        "only deliveries in flight at the kill (handlers running or outcomes being recorded) run twice"
    );
}

fn unique(name: &str) -> String {
    format!("HGSHARED_{name}_{}", std::process::id())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_two_serve_processes_one_sigkilled() {
    // A Redis of the test's own, with the append-only file `fsync`ed on every
    // write: `hookgate serve` refuses the shared development Redis, which
    // keeps nothing on disk.
    let data = tempfile::tempdir().expect("tempdir");
    let Some(redis) = PrivateRedis::start(
        data.path(),
        &["--appendonly", "yes", "--appendfsync", "always"],
    ) else {
        return;
    };
    two_receivers_one_killed("redis", &format!("redis = \"{}\"", redis.url())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_two_serve_processes_one_sigkilled() {
    if !service_available("nats", "127.0.0.1:4222") {
        return;
    }
    let url = "nats://127.0.0.1:4222";
    let stream = unique("nats");
    two_receivers_one_killed("nats", &format!("nats = \"{url}\"\nstream = \"{stream}\"")).await;

    let js = async_nats::jetstream::new(async_nats::connect(url).await.expect("connect"));
    for name in [
        stream.clone(),
        format!("{stream}_DEAD"),
        format!("KV_{stream}_STATE"),
    ] {
        let _ = js.delete_stream(&name).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_two_serve_processes_one_sigkilled() {
    if !service_available("postgres", "127.0.0.1:5432") {
        return;
    }
    let url = "postgres://postgres@127.0.0.1:5432/test";
    let schema = unique("postgres").to_lowercase();
    two_receivers_one_killed(
        "postgres",
        &format!("postgres = \"{url}\"\nschema = \"{schema}\""),
    )
    .await;

    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    client
        .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
        .await
        .expect("drop the test schema");
}
