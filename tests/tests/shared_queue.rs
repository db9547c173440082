//! Two receivers share one Redis (then one NATS) queue; one is SIGKILLed
//! mid-load. Every delivery that got a 2xx is handled, by either receiver,
//! and after deduplication each is handled once. Prints the counts.
//!
//! Needs the local Redis (127.0.0.1:6379) and NATS (127.0.0.1:4222): skipped
//! with a printed reason when absent, failed when `HOOKGATE_REQUIRE_SERVICES=1`.

use std::collections::{HashMap, HashSet};
use std::net::TcpStream;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hookgate_verify::{Scheme, Signer};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const DELIVERIES: usize = 1200;
const SENDERS: usize = 32;
const SECRET: &str = "shared-queue-secret";
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

async fn spawn(kind: &str, url: &str, name: &str, log: &str) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_shared-queue-receiver"))
        .args([kind, url, name, log])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn receiver");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
    loop {
        let line = stdout
            .next_line()
            .await
            .expect("read receiver")
            .expect("receiver printed LISTENING");
        if let Some(addr) = line.strip_prefix("LISTENING ") {
            return (child, format!("http://{addr}/hooks/shared"));
        }
    }
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

fn count_lines(paths: &[&str]) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for path in paths {
        for line in std::fs::read_to_string(path).unwrap_or_default().lines() {
            *counts.entry(line.to_owned()).or_insert(0) += 1;
        }
    }
    counts
}

async fn two_receivers_one_killed(kind: &str, url: &str, name: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let log_a = dir.path().join("a.log");
    let log_b = dir.path().join("b.log");
    let (log_a, log_b) = (log_a.to_str().unwrap(), log_b.to_str().unwrap());
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as usize;
    let kill_after = DELIVERIES / 10 + seed % (DELIVERIES * 6 / 10);

    let (mut a, url_a) = spawn(kind, url, name, log_a).await;
    let (mut b, url_b) = spawn(kind, url, name, log_b).await;
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

    // Phase 2: the senders retry everything on B (answered 2xx whether new
    // or a duplicate); B's workers take over A's expired leases.
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
    let mut handled = count_lines(&[log_a, log_b]);
    while handled.len() < DELIVERIES && started.elapsed() < DRAIN_GUARD {
        tokio::time::sleep(Duration::from_millis(100)).await;
        handled = count_lines(&[log_a, log_b]);
    }
    b.start_kill().expect("stop receiver B");
    b.wait().await.expect("wait");

    let by_a = count_lines(&[log_a]).values().sum::<usize>();
    let by_b = count_lines(&[log_b]).values().sum::<usize>();
    let missing: Vec<&String> = acked
        .iter()
        .filter(|id| !handled.contains_key(*id))
        .collect();
    let twice = handled.values().filter(|&&n| n > 1).count();
    println!(
        "{kind} shared queue: {DELIVERIES} deliveries from {SENDERS} senders to 2 receivers; \
         A SIGKILLed after {acked_at_kill} 2xx (target {kill_after}, seed {seed}); phase 1: {} \
         2xx, {} refused or cut; all resent to B and 2xx'd; handled {by_a} by A + {by_b} by B = \
         {} times, {} distinct, {twice} twice (in flight at the kill), {} acknowledged but missing",
        acked.len(),
        refused.load(Ordering::Relaxed),
        by_a + by_b,
        handled.len(),
        missing.len(),
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
        twice <= 16,
        "only deliveries in flight at the kill (at most A's concurrency) run twice"
    );
}

fn unique(name: &str) -> String {
    format!("HGSHARED_{name}_{}", std::process::id())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_two_receivers_one_sigkilled() {
    if !reachable("redis", "127.0.0.1:6379") {
        return;
    }
    let url = "redis://127.0.0.1:6379";
    let prefix = unique("redis");
    two_receivers_one_killed("redis", url, &prefix).await;

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
async fn nats_two_receivers_one_sigkilled() {
    if !reachable("nats", "127.0.0.1:4222") {
        return;
    }
    let url = "nats://127.0.0.1:4222";
    let stream = unique("nats");
    two_receivers_one_killed("nats", url, &stream).await;

    let js = async_nats::jetstream::new(async_nats::connect(url).await.expect("connect"));
    for name in [
        stream.clone(),
        format!("{stream}_DEAD"),
        format!("KV_{stream}_STATE"),
    ] {
        let _ = js.delete_stream(&name).await;
    }
}
