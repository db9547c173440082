//! Crash test: SIGKILL a process that is enqueueing and handling deliveries,
//! restart it, and check that every acknowledged delivery is handled by the
//! restarted process before anything is sent again; then resend everything
//! (as senders retry what was not acknowledged) and check that each delivery
//! is handled once after deduplication.
//!
//! Until the receiving middleware exists this goes through the queue API;
//! an `ACK` line stands for the `2xx` a sender would get.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

const DELIVERIES: usize = 3000;
const PRODUCERS: usize = 64;
/// The crash child's worker pool concurrency.
const CONCURRENCY: usize = 16;

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

    // Restart and drain, sending nothing: whatever was acknowledged must be
    // in the queue (or already handled), not come back with a resend.
    let restarted = child(&["drain", db, log, &n, &producers])
        .output()
        .expect("run drain");
    assert!(restarted.status.success(), "drain failed: {restarted:?}");
    let drained_on_restart = drained(&restarted.stdout);
    let handled_on_restart = count_lines(log);
    let mut lost: Vec<&String> = acked
        .iter()
        .filter(|id| !handled_on_restart.contains_key(*id))
        .collect();
    lost.sort();
    println!(
        "crash test: killed after {kill_after} acks (seed {seed}); acked {}, handled before kill \
         {handled_before_kill}; restart without resending: {drained_on_restart} handled, {} \
         acknowledged deliveries never handled",
        acked.len(),
        lost.len()
    );
    assert!(
        lost.is_empty(),
        "acknowledged before the kill, but not in the queue after the restart: {lost:?}"
    );

    // Now the senders retry everything (the unacknowledged ones for real).
    let resent = child(&["resend", db, log, &n, &producers])
        .output()
        .expect("run resend");
    assert!(resent.status.success(), "resend failed: {resent:?}");
    let stdout = String::from_utf8(resent.stdout.clone()).expect("utf-8");
    let counts: Vec<usize> = stdout
        .lines()
        .find_map(|l| l.strip_prefix("RESENT "))
        .expect("RESENT line")
        .split(' ')
        .map(|n| n.parse().expect("count"))
        .collect();
    let (resent_enqueued, resent_duplicates) = (counts[0], counts[1]);
    let new: HashSet<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("NEW "))
        .collect();
    let drained_after_resend = drained(&resent.stdout);

    let handled = count_lines(log);
    let missing: Vec<&String> = acked
        .iter()
        .filter(|id| !handled.contains_key(*id))
        .collect();
    let acked_but_new: Vec<&String> = acked
        .iter()
        .filter(|id| new.contains(id.as_str()))
        .collect();
    let handled_twice = handled.values().filter(|&&count| count > 1).count();
    let raw_handled: usize = handled.values().sum();
    println!(
        "crash test: then resent {DELIVERIES}: {resent_enqueued} new, {resent_duplicates} \
         duplicates, {drained_after_resend} handled; handled {raw_handled} times, {} distinct, \
         {handled_twice} handled twice (in flight at the kill), missing {}",
        handled.len(),
        missing.len()
    );

    assert!(
        missing.is_empty(),
        "acknowledged but never handled: {missing:?}"
    );
    assert!(
        acked_but_new.is_empty(),
        "acknowledged, yet the queue had forgotten them: {acked_but_new:?}"
    );
    assert!(
        resent_duplicates >= acked.len(),
        "every acknowledged delivery is a duplicate when sent again"
    );
    assert_eq!(resent_enqueued + resent_duplicates, DELIVERIES);
    assert_eq!(new.len(), resent_enqueued, "one NEW line per new delivery");
    assert_eq!(
        handled.len(),
        DELIVERIES,
        "after dedup, each delivery handled"
    );
    assert!(
        handled_twice <= 2 * CONCURRENCY,
        "only deliveries in flight at the kill run twice: at most the pool's concurrency \
         running, and as many handled whose outcome was not yet committed"
    );
}

/// Kills a pool that only handles (everything was queued first) while the
/// outcomes of its attempts are group-committed with its next leases: a
/// delivery whose handler finished but whose acknowledgement was in a batch
/// not yet committed must run again after the restart, never be lost; a
/// delivery acknowledged in a committed batch must not run again.
#[test]
fn a_kill_between_a_batch_of_acknowledgements_and_its_commit_loses_nothing() {
    const QUEUED: usize = 2000;
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("queue.db");
    let log = dir.path().join("handled.log");
    let (db, log) = (db.to_str().expect("utf-8"), log.to_str().expect("utf-8"));
    let n = QUEUED.to_string();
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .subsec_nanos() as usize;
    let kill_after = QUEUED / 10 + seed % (QUEUED * 8 / 10);

    let mut worker = child(&["settle", db, log, &n]).spawn().expect("spawn");
    let stdout = worker.stdout.take().expect("stdout");
    let mut handled_seen = 0;
    let mut queued = false;
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("read child stdout");
        queued |= line == "QUEUED";
        if line.starts_with("HANDLED ") {
            handled_seen += 1;
            if handled_seen == kill_after {
                worker.kill().expect("SIGKILL");
                break;
            }
        }
    }
    let status = worker.wait().expect("wait");
    assert!(queued, "every delivery was queued before handling began");
    assert!(!status.success(), "the worker was killed, not finished");
    let before = count_lines(log);

    let restarted = child(&["drain", db, log, &n, "1"])
        .output()
        .expect("run drain");
    assert!(restarted.status.success(), "drain failed: {restarted:?}");
    let drained = drained(&restarted.stdout);
    let after = count_lines(log);
    let lost: Vec<String> = (0..QUEUED)
        .map(|i| format!("d-{i}"))
        .filter(|id| !after.contains_key(id))
        .collect();
    let run_again = before
        .keys()
        .filter(|id| after.get(*id).copied().unwrap_or(0) > before[*id])
        .count();
    println!(
        "ack crash test: killed after {kill_after} handled (seed {seed}); {} distinct handled \
         before the kill, {drained} handled on restart, of which {run_again} had run before \
         (their outcome not committed), {} lost",
        before.len(),
        lost.len()
    );
    assert!(lost.is_empty(), "queued, never handled: {lost:?}");
    assert_eq!(
        drained,
        QUEUED - before.len() + run_again,
        "the restart ran exactly what was not acknowledged"
    );
    assert!(
        run_again <= 2 * CONCURRENCY,
        "only outcomes in flight at the kill are lost: {run_again}"
    );
}

/// The count of the child's `DRAINED <n>` line.
fn drained(stdout: &[u8]) -> usize {
    String::from_utf8_lossy(stdout)
        .lines()
        .find_map(|l| l.strip_prefix("DRAINED "))
        .expect("DRAINED line")
        .parse()
        .expect("count")
}

fn count_lines(path: &str) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    let text = std::fs::read_to_string(path).unwrap_or_default();
    for line in text.lines() {
        *counts.entry(line.to_owned()).or_insert(0) += 1;
    }
    counts
}
