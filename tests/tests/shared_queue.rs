//! Two `hookgate serve` processes share one Redis (then one NATS) queue; one
//! is SIGKILLed mid-load. Every delivery that got a 2xx is handled (forwarded
//! to the user's service) by either receiver, and after deduplication each is
//! handled once. Prints the counts.
//!
//! Needs the local Redis (127.0.0.1:6379) and NATS (127.0.0.1:4222): skipped
//! with a printed reason when absent, failed when `HOOKGATE_REQUIRE_SERVICES=1`.

use std::collections::{HashMap, HashSet};
use std::net::{SocketAddr, TcpStream};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hookgate_tests::hookgate_bin;
use hookgate_verify::{Scheme, Signer};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const DELIVERIES: usize = 1200;
const SENDERS: usize = 32;
const SECRET: &str = "shared-queue-secret";
/// Each receiver's workers: the most deliveries one receiver has in flight,
/// so the most a SIGKILL can leave handled but not yet acknowledged.
const CONCURRENCY: usize = 16;
/// Only a hang reaches this: the survivor takes over 2 s leases.
const DRAIN_GUARD: Duration = Duration::from_secs(120);

fn reachable(what: &str, addr: &str) -> bool {
    if TcpStream::connect_timeout(&addr.parse().expect("addr"), Duration::from_secs(1)).is_ok() {
        return true;
    }
    let reason = format!("{what} is not reachable at {addr}");
    if std::env::var("HOOKGATE_REQUIRE_SERVICES").as_deref() == Ok("1") {
        panic!("{reason}, and HOOKGATE_REQUIRE_SERVICES=1");
    }
    eprintln!("skipped: {reason} (set HOOKGATE_REQUIRE_SERVICES=1 to fail instead)");
    false
}

/// The user's service: records which receiver (`/a` or `/b`) forwarded
/// which delivery id, and accepts everything.
#[derive(Clone, Default)]
struct Sink {
    handled: Arc<Mutex<Vec<(String, String)>>>,
}

impl Sink {
    async fn start(&self) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new()
            .route("/{receiver}", post(record))
            .with_state(self.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr
    }

    /// Times each delivery id was handled, and how many handlings each receiver made.
    fn counts(&self) -> (HashMap<String, usize>, usize, usize) {
        let handled = self.handled.lock().unwrap();
        let mut by_id = HashMap::new();
        let mut by_a = 0;
        for (receiver, id) in handled.iter() {
            *by_id.entry(id.clone()).or_insert(0) += 1;
            by_a += usize::from(receiver == "a");
        }
        (by_id, by_a, handled.len() - by_a)
    }
}

async fn record(
    State(sink): State<Sink>,
    Path(receiver): Path<String>,
    headers: HeaderMap,
) -> StatusCode {
    let Some(id) = headers
        .get("hookgate-delivery-id")
        .and_then(|v| v.to_str().ok())
    else {
        return StatusCode::BAD_REQUEST;
    };
    sink.handled.lock().unwrap().push((receiver, id.to_owned()));
    StatusCode::OK
}

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
         [workers]\nconcurrency = {CONCURRENCY}\n\
         # Short leases, so a killed receiver's deliveries come back quickly.\n\
         visibility_timeout = \"2s\"\npoll_interval = \"5ms\"\nshutdown_timeout = \"1s\"\n\n\
         [retry]\nschedule = [\"50ms\"]\nmax_attempts = 10\n\n\
         [action]\nforward = \"http://{sink}/{name}\"\ntimeout = \"1s\"\n\n\
         [sources.shared]\nscheme = \"github\"\nsecret_env = \"SHARED_QUEUE_SECRET\"\n"
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, config).unwrap();
    let mut child = Command::new(hookgate_bin())
        .args(["serve", "--config"])
        .arg(&path)
        .env("SHARED_QUEUE_SECRET", SECRET)
        .env("HOOKGATE_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("hookgate serve starts");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let line = stdout
        .next_line()
        .await
        .expect("read hookgate serve")
        .expect("hookgate serve printed its address");
    let addr = line
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line from hookgate serve: {line:?}"))
        .to_owned();
    // Keep reading, so the pipe stays open for whatever it prints later.
    tokio::spawn(async move { while let Ok(Some(_)) = stdout.next_line().await {} });
    (child, format!("http://{addr}/hooks/shared"))
}

fn request(client: &reqwest::Client, url: &str, i: usize) -> reqwest::RequestBuilder {
    let id = format!("d-{i}");
    let mut body = format!("{{\"action\":\"opened\",\"n\":{i},\"pad\":\"").into_bytes();
    body.resize(1022, b'x');
    body.extend_from_slice(b"\"}");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let headers = Signer::new(Scheme::Github, SECRET)
        .unwrap()
        .sign(&id, now, &body)
        .unwrap();
    client
        .post(url)
        .headers(headers)
        .header("x-github-event", "issues")
        .body(body)
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
    let started = Instant::now();
    let unhandled = |sink: &Sink| {
        let (handled, _, _) = sink.counts();
        acked.iter().filter(|id| !handled.contains_key(*id)).count()
    };
    while unhandled(&sink) > 0 && started.elapsed() < DRAIN_GUARD {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let missing_before_resend = unhandled(&sink);

    // Phase 2: the senders retry everything on B (answered 2xx whether new
    // or a duplicate), as senders do with what was refused or cut.
    let mut retries = tokio::task::JoinSet::new();
    for s in 0..SENDERS {
        let (client, url_b) = (client.clone(), url_b.clone());
        retries.spawn(async move {
            let mut not_ok = Vec::new();
            for i in (s..DELIVERIES).step_by(SENDERS) {
                let res = request(&client, &url_b, i).send().await.expect("retry");
                if !res.status().is_success() {
                    not_ok.push((i, res.status()));
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

    let (handled, by_a, by_b) = sink.counts();
    let missing: Vec<&String> = acked
        .iter()
        .filter(|id| !handled.contains_key(*id))
        .collect();
    let twice = handled.values().filter(|&&n| n > 1).count();
    println!(
        "{kind} shared queue: {DELIVERIES} deliveries from {SENDERS} senders to 2 `hookgate serve` \
         processes; A SIGKILLed after {acked_at_kill} 2xx (target {kill_after}, seed {seed}); \
         phase 1: {} 2xx, {} refused or cut; {missing_before_resend} of them unhandled before \
         any resend; all resent to B and 2xx'd; handled {by_a} by A + {by_b} by B = {} times, \
         {} distinct, {twice} twice (in flight at the kill), {} acknowledged but missing",
        acked.len(),
        refused.load(Ordering::Relaxed),
        by_a + by_b,
        handled.len(),
        missing.len(),
    );
    assert_eq!(
        missing_before_resend, 0,
        "deliveries answered 2xx were not handled by the surviving receiver"
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
    assert!(
        twice <= CONCURRENCY,
        "only deliveries in flight at the kill (at most A's concurrency) run twice"
    );
}

fn unique(name: &str) -> String {
    format!("HGSHARED_{name}_{}", std::process::id())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_two_serve_processes_one_sigkilled() {
    if !reachable("redis", "127.0.0.1:6379") {
        return;
    }
    let url = "redis://127.0.0.1:6379";
    let prefix = unique("redis");
    two_receivers_one_killed(
        "redis",
        &format!("redis = \"{url}\"\nprefix = \"{prefix}\""),
    )
    .await;

    let client = redis::Client::open(url).expect("url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut conn)
        .await
        .expect("keys");
    if !keys.is_empty() {
        let _: () = redis::cmd("DEL")
            .arg(keys)
            .query_async(&mut conn)
            .await
            .expect("del");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_two_serve_processes_one_sigkilled() {
    if !reachable("nats", "127.0.0.1:4222") {
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
