//! Crash test: SIGKILL a process that is enqueueing and handling deliveries,
//! restart it, and check that every acknowledged delivery is handled.
//!
//! Until the receiving middleware exists this goes through the queue API;
//! an `ACK` line stands for the `2xx` a sender would get.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

const DELIVERIES: usize = 3000;
const PRODUCERS: usize = 64;

fn child(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_queue-crash-child"));
    command
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    command
}

#[test]
fn every_acknowledged_delivery_survives_sigkill() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("queue.db");
    let log = dir.path().join("handled.log");
    let (db, log) = (db.to_str().expect("utf-8"), log.to_str().expect("utf-8"));
    let n = DELIVERIES.to_string();
    let producers = PRODUCERS.to_string();

    // Kill after a pseudo-random number of acks, between 10 % and 90 %.
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .subsec_nanos() as usize;
    let kill_after = DELIVERIES / 10 + seed % (DELIVERIES * 8 / 10);

    let mut producer = child(&["produce", db, log, &n, &producers])
        .spawn()
        .expect("spawn producer");
    let stdout = producer.stdout.take().expect("stdout");
    let mut acked = HashSet::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("read child stdout");
        if let Some(id) = line.strip_prefix("ACK ") {
            acked.insert(id.to_owned());
            if acked.len() == kill_after {
                producer.kill().expect("SIGKILL");
                break;
            }
        }
    }
    let status = producer.wait().expect("wait");
    assert!(!status.success(), "the producer was killed, not finished");
    let handled_before_kill = count_lines(log).values().sum::<usize>();

    let drained = child(&["drain", db, log, &n, &producers])
        .output()
        .expect("run drain");
    assert!(drained.status.success(), "drain failed: {drained:?}");
    let stdout = String::from_utf8(drained.stdout).expect("utf-8");
    let resent: Vec<usize> = stdout
        .lines()
        .find_map(|l| l.strip_prefix("RESENT "))
        .expect("RESENT line")
        .split(' ')
        .map(|n| n.parse().expect("count"))
        .collect();
    let (resent_enqueued, resent_duplicates) = (resent[0], resent[1]);

    let handled = count_lines(log);
    let missing: Vec<&String> = acked
        .iter()
        .filter(|id| !handled.contains_key(*id))
        .collect();
    let handled_twice = handled.values().filter(|&&count| count > 1).count();
    let raw_handled: usize = handled.values().sum();
    println!(
        "crash test: killed after {kill_after} acks (seed {seed}); acked {}, handled before kill \
         {handled_before_kill}; on restart resent {DELIVERIES}: {resent_enqueued} new, \
         {resent_duplicates} duplicates; handled {raw_handled} times, {} distinct, \
         {handled_twice} handled twice (in flight at the kill), missing {}",
        acked.len(),
        handled.len(),
        missing.len()
    );

    assert!(
        missing.is_empty(),
        "acknowledged but never handled: {missing:?}"
    );
    assert!(
        resent_duplicates >= acked.len(),
        "every acknowledged delivery is a duplicate when sent again"
    );
    assert_eq!(resent_enqueued + resent_duplicates, DELIVERIES);
    assert_eq!(
        handled.len(),
        DELIVERIES,
        "after dedup, each delivery handled"
    );
    assert!(
        handled_twice <= 16,
        "only deliveries in flight at the kill (at most the pool's concurrency) run twice"
    );
}

fn count_lines(path: &str) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    let text = std::fs::read_to_string(path).unwrap_or_default();
    for line in text.lines() {
        *counts.entry(line.to_owned()).or_insert(0) += 1;
    }
    counts
}
