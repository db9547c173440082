//! `hookgate serve` with a SQLite queue that runs out of room (issue 18):
//! the byte budget and the free-space floor answer `503` + `Retry-After`
//! and `/healthz` names the limit; and a real disk that fills up (a small
//! tmpfs mounted by the test) answers `503` + `Retry-After` while full,
//! keeps every delivery it acknowledged, passes `integrity_check`, and
//! answers `2xx` again by itself once space is freed.
//!
//! The server's log is captured (it logs the failed writes, as it should)
//! and printed only when a test fails.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hookgate_tests::{hookgate_bin, signed_github_delivery};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

const SECRET: &str = "storage-github-secret";

/// `hookgate serve` with its stderr kept in a buffer.
struct Serve {
    child: tokio::process::Child,
    addr: SocketAddr,
    log: Arc<Mutex<Vec<u8>>>,
}

impl Serve {
    /// `queue` is the body of the `[queue]` table; deliveries are forwarded
    /// to a port where nothing listens, so they stay in the queue.
    async fn start(dir: &Path, queue: &str) -> Self {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let nowhere = closed.local_addr().unwrap();
        drop(closed);
        let config = format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n\n[queue]\n{queue}\n\n\
             [action]\nforward = \"http://{nowhere}/github\"\n\n\
             [sources.github]\nscheme = \"github\"\nsecret_env = \"STORAGE_SECRET\"\n"
        );
        let path = dir.join("hookgate.toml");
        std::fs::write(&path, config).unwrap();
        let mut child = tokio::process::Command::new(hookgate_bin())
            .args(["serve", "--config"])
            .arg(&path)
            .env("STORAGE_SECRET", SECRET)
            .env("HOOKGATE_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("hookgate serve starts");
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let Ok(Some(line)) = stdout.next_line().await else {
            panic!(
                "hookgate serve did not start: {}",
                String::from_utf8_lossy(&log.lock().unwrap())
            );
        };
        let addr = line
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .parse()
            .unwrap();
        tokio::spawn(async move { while let Ok(Some(_)) = stdout.next_line().await {} });
        Self { child, addr, log }
    }

    /// The server's log so far, for a failure message.
    fn log(&self) -> String {
        String::from_utf8_lossy(&self.log.lock().unwrap()).into_owned()
    }

    async fn post(&self, n: usize) -> reqwest::Response {
        let (headers, body) = signed_github_delivery(n, SECRET);
        reqwest::Client::new()
            .post(format!("http://{}/hooks/github", self.addr))
            .headers(headers)
            .body(body)
            .send()
            .await
            .unwrap()
    }

    async fn healthz(&self) -> (u16, serde_json::Value) {
        let response = reqwest::get(format!("http://{}/healthz", self.addr))
            .await
            .unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }
}

/// Asserts a 503 with a `Retry-After` of whole seconds.
fn assert_refused(response: &reqwest::Response, log: impl Fn() -> String) {
    assert_eq!(response.status().as_u16(), 503, "{}", log());
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    assert!(
        retry_after.is_some_and(|s| s >= 1),
        "503 without a Retry-After: {:?}",
        response.headers()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_byte_budget_answers_503_and_healthz_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path(), "sqlite = \"queue.db\"\nmax_bytes = \"300KB\"").await;
    let (status, health) = serve.healthz().await;
    assert_eq!((status, &health["status"]), (200, &"ok".into()), "{health}");
    assert!(health["queue"]["storage"]["bytes"].as_u64().unwrap() > 0);

    let mut accepted = 0;
    let refused = loop {
        let response = serve.post(accepted).await;
        if response.status().is_success() {
            accepted += 1;
            assert!(accepted < 1000, "the budget never refused");
        } else {
            break response;
        }
    };
    assert_refused(&refused, || serve.log());
    assert!(
        accepted > 50,
        "about 300 KB of 1 KiB deliveries: {accepted}"
    );
    let (status, health) = serve.healthz().await;
    assert_eq!(status, 503, "{health}");
    assert_eq!(health["status"], "full");
    assert_eq!(health["limit"], "max_bytes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_free_space_floor_answers_503_and_healthz_names_it() {
    let dir = tempfile::tempdir().unwrap();
    // No disk keeps all of itself free.
    let serve = Serve::start(
        dir.path(),
        "sqlite = \"queue.db\"\nmin_free_disk = \"100%\"",
    )
    .await;
    assert_refused(&serve.post(0).await, || serve.log());
    let (status, health) = serve.healthz().await;
    assert_eq!(status, 503, "{health}");
    assert_eq!(health["limit"], "min_free_disk");
    assert!(
        health["queue"]["storage"]["free_disk_bytes"]
            .as_u64()
            .unwrap()
            > 0
    );
}

/// A tmpfs of `size` mounted on a fresh directory, unmounted on drop.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    /// `None`, with the reason printed, where this process may not mount.
    fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .stderr(Stdio::piped())
            .output();
        match mounted {
            Ok(out) if out.status.success() => Some(Self { dir }),
            Ok(out) => {
                eprintln!(
                    "skipped: cannot mount a tmpfs ({}); run as root to test a full disk",
                    String::from_utf8_lossy(&out.stderr).trim()
                );
                None
            }
            Err(err) => {
                eprintln!("skipped: cannot run mount ({err}); run as root to test a full disk");
                None
            }
        }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().to_owned()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_answers_503_loses_nothing_and_recovers_by_itself() {
    let Some(disk) = SmallDisk::mount("4m") else {
        return;
    };
    // Space to give back later.
    let filler = disk.path().join("filler");
    std::fs::write(&filler, vec![0u8; 1 << 20]).unwrap();
    let db = disk.path().join("queue.db");
    let config_dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(
        config_dir.path(),
        &format!("sqlite = \"{}\"\nwal_limit = \"1MiB\"", db.display()),
    )
    .await;

    // Fill the disk: 8 senders until 20 deliveries were refused.
    let serve = Arc::new(serve);
    let accepted = Arc::new(Mutex::new(Vec::new()));
    let refusals = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut senders = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (serve, accepted, refusals, next) = (
            serve.clone(),
            accepted.clone(),
            refusals.clone(),
            next.clone(),
        );
        senders.spawn(async move {
            use std::sync::atomic::Ordering::Relaxed;
            while refusals.load(Relaxed) < 20 {
                let n = next.fetch_add(1, Relaxed);
                assert!(n < 20_000, "the disk never filled");
                let response = serve.post(n).await;
                if response.status().is_success() {
                    accepted.lock().unwrap().push(format!("d-{n}"));
                } else {
                    assert_refused(&response, || serve.log());
                    refusals.fetch_add(1, Relaxed);
                }
            }
        });
    }
    while let Some(done) = senders.join_next().await {
        done.unwrap();
    }
    let accepted_while_filling = accepted.lock().unwrap().len();
    assert!(accepted_while_filling > 100, "{accepted_while_filling}");
    let (status, health) = serve.healthz().await;
    assert_eq!(status, 503, "{health}\n{}", serve.log());
    assert_eq!(health["limit"], "storage_full", "{health}");

    // Space comes back: the server answers 2xx again, without a restart.
    std::fs::remove_file(&filler).unwrap();
    let first = next.load(std::sync::atomic::Ordering::Relaxed);
    let mut recovered = false;
    for n in first..first + 200 {
        let response = serve.post(n).await;
        if response.status().is_success() {
            accepted.lock().unwrap().push(format!("d-{n}"));
            recovered = true;
            break;
        }
        assert_refused(&response, || serve.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        recovered,
        "still refusing after space was freed:\n{}",
        serve.log()
    );

    let (status, health) = serve.healthz().await;
    assert_eq!(status, 200, "healthy again: {health}");

    // Stop it hard, then look at the file.
    let mut serve = Arc::into_inner(serve).expect("the senders are done");
    serve.child.kill().await.unwrap();
    let conn = rusqlite::Connection::open(&db).unwrap();
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    let mut stored = conn
        .prepare("SELECT delivery_id FROM deliveries WHERE source = 'github'")
        .unwrap();
    let stored: std::collections::HashSet<String> = stored
        .query_map([], |row| row.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let accepted = accepted.lock().unwrap();
    let lost: Vec<&String> = accepted.iter().filter(|id| !stored.contains(*id)).collect();
    println!(
        "full disk: {} deliveries acknowledged ({accepted_while_filling} while filling), \
         {} stored, {} lost; 20 refused with 503",
        accepted.len(),
        stored.len(),
        lost.len()
    );
    assert!(lost.is_empty(), "acknowledged but not stored: {lost:?}");
}
