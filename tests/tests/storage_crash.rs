//! Crash test for the SQLite queue's upkeep (issue 18): SIGKILL the process
//! right after its writer took a checkpoint and then a vacuum step (moving
//! freed pages, shrinking the file), restart it, and check that every
//! acknowledged delivery is handled and `PRAGMA integrity_check` says `ok`.
//! Three kills on the same file, each at a pseudo-random vacuum step.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

const CYCLES: usize = 3;

fn child(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_storage-crash-child"));
    command
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    command
}

#[test]
fn a_kill_between_a_checkpoint_and_a_vacuum_step_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("queue.db");
    let log = dir.path().join("handled.log");
    let (db, log) = (db.to_str().expect("utf-8"), log.to_str().expect("utf-8"));
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .subsec_nanos() as usize;

    let mut acked = HashSet::new();
    for cycle in 0..CYCLES {
        // Kill at the k-th vacuum step that follows a checkpoint.
        let kill_at = 1 + (seed >> (cycle * 3)) % 6;
        let mut churn = child(&["churn", db, log, "6"]).spawn().expect("spawn");
        let stdout = churn.stdout.take().expect("stdout");
        let (mut checkpointed, mut steps, mut killed) = (false, 0, false);
        for line in BufReader::new(stdout).lines() {
            let line = line.expect("read child stdout");
            if let Some(id) = line.strip_prefix("ACK ") {
                acked.insert(id.to_owned());
            } else if line.contains("sqlite checkpoint done") {
                checkpointed = true;
            } else if line.contains("incremental vacuum step") && checkpointed {
                steps += 1;
                if steps == kill_at {
                    churn.kill().expect("SIGKILL");
                    killed = true;
                    break;
                }
            }
        }
        let status = churn.wait().expect("wait");
        assert!(
            killed && !status.success(),
            "cycle {cycle}: the child ended before its {kill_at}th vacuum step after a checkpoint \
             ({steps} seen)"
        );

        let drained = child(&["drain", db, log]).output().expect("run drain");
        assert!(drained.status.success(), "drain failed: {drained:?}");
        let stdout = String::from_utf8_lossy(&drained.stdout);
        assert!(
            stdout.lines().any(|l| l == "INTEGRITY ok"),
            "cycle {cycle}: integrity check after the kill: {stdout}"
        );
        let handled: HashSet<String> = std::fs::read_to_string(log)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect();
        let mut lost: Vec<&String> = acked.iter().filter(|id| !handled.contains(*id)).collect();
        lost.sort();
        println!(
            "storage crash test, cycle {cycle}: killed at vacuum step {kill_at} after a \
             checkpoint; {} acknowledged so far, {} handled, {} lost",
            acked.len(),
            handled.len(),
            lost.len()
        );
        assert!(lost.is_empty(), "acknowledged but never handled: {lost:?}");
    }
}
