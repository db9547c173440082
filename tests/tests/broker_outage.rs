//! A broker restart under load, through the real HTTP path: `hookgate serve`
//! on a private Redis (then NATS, then PostgreSQL) server, which is SIGKILLed while senders
//! are sending and started again on the same data. While it is down, every
//! request is answered 503 with `Retry-After` (never 2xx, never a 4xx that
//! would make a sender give up); afterwards the receiver serves again by
//! itself, and every delivery answered 2xx is handled. Prints the counts.
//!
//! The private servers keep their data on disk (Redis with `appendfsync
//! always`, NATS JetStream file storage, PostgreSQL with its defaults), as a
//! production broker must for a 2xx to survive its restart. Needs
//! `redis-server`, `nats-server` and PostgreSQL's server binaries
//! (`/usr/lib/postgresql/<version>/bin`, run as the `postgres` user through
//! `setpriv`) installed: skipped with a printed reason when absent, failed
//! when `HOOKGATE_REQUIRE_SERVICES=1`.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hookgate_tests::{Sink, signed_github_delivery, spawn_serve};

const SECRET: &str = "broker-outage-secret";
const SENDERS: usize = 8;
/// Deliveries answered 2xx before the broker is killed.
const BEFORE_KILL: usize = 150;
/// How long the broker stays down.
const OUTAGE: Duration = Duration::from_millis(1500);
/// Deliveries answered 2xx after it is back, before the senders stop.
const AFTER_RESTART: usize = 150;
/// Only a hang reaches these.
const HANG: Duration = Duration::from_secs(90);

/// A private broker on its own port and data folder (never the shared one).
struct Broker {
    program: &'static str,
    args: Vec<String>,
    port: u16,
    child: Option<Child>,
    /// A command that succeeds once the server answers queries, beyond
    /// accepting connections (PostgreSQL accepts them while starting up).
    ready: Option<(PathBuf, Vec<String>)>,
}

/// Says why a test cannot run: skipped, or failed under `HOOKGATE_REQUIRE_SERVICES=1`.
fn missing(reason: &str) -> Option<Broker> {
    if std::env::var("HOOKGATE_REQUIRE_SERVICES").as_deref() == Ok("1") {
        panic!("{reason}, and HOOKGATE_REQUIRE_SERVICES=1");
    }
    eprintln!("skipped: {reason} (set HOOKGATE_REQUIRE_SERVICES=1 to fail instead)");
    None
}

/// The newest PostgreSQL server's binaries, as Debian installs them.
fn postgres_bin() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("postgres").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

/// `command` run as the `postgres` user (PostgreSQL refuses to run as
/// root); `setpriv` execs it, so killing the child kills the server itself.
fn as_postgres(command: &Path) -> Vec<String> {
    [
        "--reuid=postgres",
        "--regid=postgres",
        "--init-groups",
        "--",
        command.to_str().expect("utf-8 path"),
    ]
    .map(str::to_owned)
    .to_vec()
}

/// A fresh PostgreSQL cluster in `data`, owned by the `postgres` user.
fn init_postgres(bin: &Path, data: &Path) {
    let postgres = Command::new("id")
        .args(["-u", "postgres"])
        .output()
        .expect("id -u postgres");
    let uid: u32 = String::from_utf8_lossy(&postgres.stdout)
        .trim()
        .parse()
        .expect("the postgres user exists");
    // The test's temporary folder is root's: let the server reach its data.
    let mut folder = data.parent();
    while let Some(dir) =
        folder.filter(|d| d.starts_with(std::env::temp_dir()) && *d != std::env::temp_dir())
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        folder = dir.parent();
    }
    std::os::unix::fs::chown(data, Some(uid), None).expect("chown the data folder");
    let status = Command::new(SETPRIV)
        .args(as_postgres(&bin.join("initdb")))
        .arg("-D")
        .arg(data)
        .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("initdb");
    assert!(status.success(), "initdb failed");
}

const SETPRIV: &str = "/usr/bin/setpriv";

impl Broker {
    fn new(kind: &str, data: &Path) -> Option<Self> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        if kind == "postgres" {
            let Some(bin) = postgres_bin().filter(|_| Path::new(SETPRIV).exists()) else {
                return missing("PostgreSQL's server binaries (or setpriv) are not installed");
            };
            init_postgres(&bin, data);
            let mut args = as_postgres(&bin.join("postgres"));
            args.extend(
                [
                    "-D",
                    data.to_str().expect("utf-8 temp path"),
                    "-p",
                    &port.to_string(),
                    "-k",
                    data.to_str().expect("utf-8 temp path"),
                    "-c",
                    "listen_addresses=127.0.0.1",
                ]
                .map(str::to_owned),
            );
            let ready = (
                bin.join("pg_isready"),
                ["-h", "127.0.0.1", "-p", &port.to_string(), "-U", "postgres"]
                    .map(str::to_owned)
                    .to_vec(),
            );
            let mut broker = Broker {
                program: SETPRIV,
                args,
                port,
                child: None,
                ready: Some(ready),
            };
            broker.start();
            return Some(broker);
        }
        let data = data.to_str().expect("utf-8 temp path").to_owned();
        let (program, args): (&'static str, Vec<String>) = match kind {
            "redis" => (
                "/usr/bin/redis-server",
                [
                    "--port",
                    &port.to_string(),
                    "--bind",
                    "127.0.0.1",
                    "--dir",
                    &data,
                    "--appendonly",
                    "yes",
                    "--appendfsync",
                    "always",
                    "--save",
                    "",
                ]
                .map(str::to_owned)
                .to_vec(),
            ),
            _ => (
                "/usr/sbin/nats-server",
                [
                    "-js",
                    "-a",
                    "127.0.0.1",
                    "-p",
                    &port.to_string(),
                    "-sd",
                    &data,
                ]
                .map(str::to_owned)
                .to_vec(),
            ),
        };
        if !Path::new(program).exists() {
            return missing(&format!("{program} is not installed"));
        }
        let mut broker = Broker {
            program,
            args,
            port,
            child: None,
            ready: None,
        };
        broker.start();
        Some(broker)
    }

    /// Starts the server and waits until it accepts connections. A server
    /// that exits at once is started again: PostgreSQL refuses to start
    /// while the killed server's last processes still hold its memory.
    fn start(&mut self) {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let started = Instant::now();
        loop {
            let mut child = Command::new(self.program)
                .args(&self.args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start the broker");
            loop {
                assert!(started.elapsed() < HANG, "{} did not start", self.program);
                if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok()
                    && self.ready.as_ref().is_none_or(|(program, args)| {
                        Command::new(program)
                            .args(args)
                            .stdout(Stdio::null())
                            .stderr(Stdio::null())
                            .status()
                            .is_ok_and(|status| status.success())
                    })
                {
                    self.child = Some(child);
                    return;
                }
                if child.try_wait().expect("the broker's status").is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("SIGKILL the broker");
            child.wait().expect("reap the broker");
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// What the senders were answered, in order of answer.
#[derive(Default)]
struct Answers {
    /// Delivery ids answered 2xx.
    acked: Vec<String>,
    /// Delivery ids not answered 2xx, to send again at the end.
    refused: Vec<usize>,
    /// Answers by status, with whether a 503 carried `Retry-After`.
    statuses: BTreeMap<String, usize>,
    /// Answers other than 2xx or 503 + Retry-After.
    wrong: Vec<String>,
}

async fn outage_under_load(kind: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let data: PathBuf = dir.path().join("broker");
    std::fs::create_dir_all(&data).expect("data folder");
    let Some(mut broker) = Broker::new(kind, &data) else {
        return;
    };
    let queue = match kind {
        "redis" => format!("redis = \"redis://127.0.0.1:{}\"", broker.port),
        "postgres" => format!(
            "postgres = \"postgres://postgres@127.0.0.1:{}/postgres\"",
            broker.port
        ),
        _ => format!("nats = \"nats://127.0.0.1:{}\"", broker.port),
    };
    let sink = Sink::default();
    let sink_addr = sink.start().await;
    let config = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n\n[queue]\n{queue}\n\n\
         [workers]\nconcurrency = 8\nvisibility_timeout = \"5s\"\npoll_interval = \"10ms\"\n\n\
         [retry]\nschedule = [\"100ms\"]\nmax_attempts = 50\n\n\
         [action]\nforward = \"http://{sink_addr}/sink\"\ntimeout = \"2s\"\n\n\
         [sources.outage]\nscheme = \"github\"\nsecret_env = \"OUTAGE_SECRET\"\n"
    );
    let (_serve, addr) = spawn_serve(dir.path(), kind, &config, &[("OUTAGE_SECRET", SECRET)]).await;
    let url = format!("http://{addr}/hooks/outage");

    let answers = Arc::new(Mutex::new(Answers::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let client = reqwest::Client::new();
    let mut senders = tokio::task::JoinSet::new();
    for _ in 0..SENDERS {
        let (client, url, answers, stop, next) = (
            client.clone(),
            url.clone(),
            Arc::clone(&answers),
            Arc::clone(&stop),
            Arc::clone(&next),
        );
        senders.spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let (headers, body) = signed_github_delivery(n, SECRET);
                let answer = client.post(&url).headers(headers).body(body).send().await;
                // The answer, as a status key, and whether it is a refusal.
                let (key, ok, refusal_ok) = match &answer {
                    Ok(res) if res.status().is_success() => ("2xx".to_owned(), true, true),
                    Ok(res) => {
                        let retry_after = res.headers().contains_key("retry-after");
                        let key = format!(
                            "{}{}",
                            res.status().as_u16(),
                            if retry_after { " + Retry-After" } else { "" }
                        );
                        (key, false, res.status().as_u16() == 503 && retry_after)
                    }
                    Err(err) => (format!("no answer: {err}"), false, false),
                };
                {
                    let mut answers = answers.lock().unwrap();
                    *answers.statuses.entry(key.clone()).or_insert(0) += 1;
                    if ok {
                        answers.acked.push(format!("d-{n}"));
                    } else {
                        answers.refused.push(n);
                    }
                    if !refusal_ok {
                        answers.wrong.push(format!("d-{n}: {key}"));
                    }
                }
                if !ok {
                    // A sender backs off before its next delivery.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        });
    }
    let acked_count = |answers: &Arc<Mutex<Answers>>| answers.lock().unwrap().acked.len();
    let wait_for = async |what: &str, done: &dyn Fn() -> bool| {
        let started = Instant::now();
        while !done() {
            assert!(started.elapsed() < HANG, "gave up waiting: {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };

    wait_for("2xx before the kill", &|| {
        acked_count(&answers) >= BEFORE_KILL
    })
    .await;
    broker.kill();
    let acked_at_kill = acked_count(&answers);
    // Give requests in flight at the kill time to be answered, then count
    // only what was answered while the broker was surely down.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let during_from = acked_count(&answers);
    tokio::time::sleep(OUTAGE).await;
    let during_to = acked_count(&answers);
    let refused_during = answers.lock().unwrap().refused.len();
    broker.start();
    wait_for("2xx again after the restart", &|| {
        acked_count(&answers) >= during_to + AFTER_RESTART
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    while let Some(done) = senders.join_next().await {
        done.expect("sender");
    }

    // What was refused is sent again, as a sender's retry would be.
    let refused = answers.lock().unwrap().refused.clone();
    for n in &refused {
        let (headers, body) = signed_github_delivery(*n, SECRET);
        let res = client
            .post(&url)
            .headers(headers)
            .body(body)
            .send()
            .await
            .expect("resend");
        assert!(res.status().is_success(), "d-{n} resent: {}", res.status());
    }

    // Every sender has finished: take the answers out of the lock.
    let answers = std::mem::take(&mut *answers.lock().unwrap());
    let total = next.load(Ordering::Relaxed);
    let started = Instant::now();
    let unhandled = || {
        let (handled, _) = sink.counts();
        (0..total)
            .filter(|n| !handled.contains_key(&format!("d-{n}")))
            .count()
    };
    while unhandled() > 0 && started.elapsed() < HANG {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (handled, _) = sink.counts();
    let acked_missing: Vec<&String> = answers
        .acked
        .iter()
        .filter(|id| !handled.contains_key(*id))
        .collect();
    println!(
        "{kind} broker SIGKILLed after {acked_at_kill} 2xx, down {} ms: {} deliveries sent, \
         answers {:?}; 2xx while surely down: {}; {refused_during} refused by then, {} in all, \
         each resent and 2xx'd; {} distinct handled, {} acknowledged but missing",
        OUTAGE.as_millis(),
        total,
        answers.statuses,
        during_to - during_from,
        refused.len(),
        handled.len(),
        acked_missing.len()
    );
    assert!(
        answers.wrong.is_empty(),
        "answers other than 2xx or 503 + Retry-After: {:?}",
        answers.wrong
    );
    assert_eq!(
        during_to - during_from,
        0,
        "2xx answered while the broker was down"
    );
    assert!(
        refused_during > 0,
        "no request was refused during the outage: it was not exercised"
    );
    assert!(
        acked_missing.is_empty(),
        "acknowledged but never handled: {acked_missing:?}"
    );
    assert_eq!(unhandled(), 0, "every delivery handled once resent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restart_under_load_answers_503_then_recovers() {
    outage_under_load("redis").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_restart_under_load_answers_503_then_recovers() {
    outage_under_load("nats").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restart_under_load_answers_503_then_recovers() {
    outage_under_load("postgres").await;
}
