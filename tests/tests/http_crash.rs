//! Crash test through the real HTTP path: concurrent senders post signed
//! deliveries to a child process (axum + `WebhookLayer` + SQLite queue +
//! workers), which is SIGKILLed at a random point, restarted, sent every
//! delivery again (as senders retry what was not acknowledged), and drained.
//! Every delivery that got a 2xx must be handled, and after deduplication
//! each delivery is handled once.

use std::collections::{HashMap, HashSet};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hookgate_verify::{Scheme, Signer};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdout, Command};

const DELIVERIES: usize = 2400;
const SENDERS: usize = 32;
const SECRET: &str = "crash-test-secret";

fn spawn(mode: &str, db: &str, log: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_http-crash-child"))
        .args([mode, db, log])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn child")
}

async fn listening(stdout: &mut tokio::io::Lines<BufReader<ChildStdout>>) -> String {
    loop {
        let line = stdout
            .next_line()
            .await
            .expect("read child")
            .expect("child printed LISTENING");
        if let Some(addr) = line.strip_prefix("LISTENING ") {
            return format!("http://{addr}/hooks/crash");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_delivery_acknowledged_over_http_survives_sigkill() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("queue.db");
    let log = dir.path().join("handled.log");
    let (db, log) = (db.to_str().unwrap(), log.to_str().unwrap());

    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as usize;
    let kill_after = DELIVERIES / 10 + seed % (DELIVERIES * 8 / 10);

    // Phase 1: senders post until the receiver is killed.
    let mut child = spawn("serve", db, log);
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = Arc::new(listening(&mut stdout).await);
    let client = reqwest::Client::new();
    let acked = Arc::new(Mutex::new(HashSet::new()));
    let refused = Arc::new(AtomicUsize::new(0));
    let (killed_tx, killed_rx) = tokio::sync::watch::channel(false);
    let mut senders = tokio::task::JoinSet::new();
    for s in 0..SENDERS {
        let (client, url, acked, refused) = (
            client.clone(),
            Arc::clone(&url),
            Arc::clone(&acked),
            Arc::clone(&refused),
        );
        let mut killed = killed_rx.clone();
        senders.spawn(async move {
            for i in (s..DELIVERIES).step_by(SENDERS) {
                if *killed.borrow_and_update() {
                    return;
                }
                match request(&client, &url, i).send().await {
                    Ok(res) if res.status().is_success() => {
                        acked.lock().unwrap().insert(format!("d-{i}"));
                    }
                    // 503 (queue busy) or a connection cut by the kill: the
                    // sender would retry later.
                    _ => {
                        refused.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        });
    }
    loop {
        if acked.lock().unwrap().len() >= kill_after || senders.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
        if let Some(done) = senders.try_join_next() {
            done.expect("sender");
        }
    }
    child.start_kill().expect("SIGKILL");
    let status = child.wait().await.expect("wait");
    killed_tx.send(true).expect("tell senders");
    while let Some(done) = senders.join_next().await {
        done.expect("sender");
    }
    assert!(!status.success(), "the receiver was killed, not finished");
    let acked = acked.lock().unwrap().clone();
    let handled_before_kill = count_lines(log).values().sum::<usize>();

    // Phase 2: restart; the senders retry everything; then drain.
    let mut child = spawn("drain", db, log);
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = Arc::new(listening(&mut stdout).await);
    let mut retries = tokio::task::JoinSet::new();
    for s in 0..SENDERS {
        let (client, url) = (client.clone(), Arc::clone(&url));
        retries.spawn(async move {
            let mut not_ok = Vec::new();
            for i in (s..DELIVERIES).step_by(SENDERS) {
                let res = request(&client, &url, i).send().await.expect("retry");
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
    drop(child.stdin.take());
    let mut drained = None;
    while let Some(line) = stdout.next_line().await.expect("read child") {
        if let Some(n) = line.strip_prefix("DRAINED ") {
            drained = Some(n.parse::<usize>().expect("count"));
        }
    }
    let status = child.wait().await.expect("wait");
    assert!(status.success(), "drain failed: {status:?}");
    let drained = drained.expect("DRAINED line");

    let handled = count_lines(log);
    let missing: Vec<&String> = acked
        .iter()
        .filter(|id| !handled.contains_key(*id))
        .collect();
    let handled_twice = handled.values().filter(|&&n| n > 1).count();
    let raw_handled: usize = handled.values().sum();
    println!(
        "http crash test: {DELIVERIES} deliveries from {SENDERS} senders; killed after {} 2xx \
         (target {kill_after}, seed {seed}), {} not acknowledged before the kill; handled before \
         kill {handled_before_kill}; after restart every delivery resent and 2xx'd, {drained} \
         handled while draining; handled {raw_handled} times, {} distinct, {handled_twice} twice \
         (in flight at the kill), {} acknowledged but missing",
        acked.len(),
        refused.load(Ordering::Relaxed),
        handled.len(),
        missing.len()
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
        handled_twice <= 16,
        "only deliveries in flight at the kill (at most the pool's concurrency) run twice"
    );
}

fn count_lines(path: &str) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for line in std::fs::read_to_string(path).unwrap_or_default().lines() {
        *counts.entry(line.to_owned()).or_insert(0) += 1;
    }
    counts
}
