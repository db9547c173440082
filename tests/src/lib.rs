//! Shared helpers for hookgate's cross-crate tests (servers, processes, free ports).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hookgate_verify::{Scheme, Signer};
use tokio::io::{AsyncBufReadExt, BufReader};

/// The `hookgate` binary that `cargo test --workspace` built.
///
/// `CARGO_BIN_EXE_hookgate` exists only for the tests of `hookgate-cli`
/// itself, and cargo has no stable way to depend on another package's binary.
/// `cargo test --workspace` builds `target/<profile>/hookgate` anyway (the CLI
/// has integration tests of its own), next to the calling test's
/// `target/<profile>/deps/` folder, so the binary is looked up there. When
/// this package is tested alone (`cargo test -p hookgate-tests`), build the
/// binary first: `cargo build -p hookgate-cli`. Set `HOOKGATE_BIN` to test
/// another build.
pub fn hookgate_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("HOOKGATE_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("the test's own path");
    // target/<profile>/deps/<test>-<hash> -> target/<profile>/hookgate
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test runs from target/<profile>/deps");
    let bin = profile_dir.join(format!("hookgate{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} not found: run `cargo build -p hookgate-cli` first, or set HOOKGATE_BIN",
        bin.display()
    );
    bin
}

/// Whether a service the test needs answers at `addr`. When it does not, the
/// test skips with a printed reason, unless `HOOKGATE_REQUIRE_SERVICES=1`
/// (set by CI), where it fails.
pub fn service_available(what: &str, addr: &str) -> bool {
    let addr: SocketAddr = addr.parse().expect("a socket address");
    if std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok() {
        return true;
    }
    let reason = format!("{what} is not reachable at {addr}");
    if std::env::var("HOOKGATE_REQUIRE_SERVICES").as_deref() == Ok("1") {
        panic!("{reason}, and HOOKGATE_REQUIRE_SERVICES=1");
    }
    eprintln!("skipped: {reason} (set HOOKGATE_REQUIRE_SERVICES=1 to fail instead)");
    false
}

/// The user's service behind `hookgate serve`: records which route
/// (`/<name>`) was forwarded which `hookgate-delivery-id`, and accepts all.
#[derive(Debug, Clone, Default)]
pub struct Sink {
    handled: Arc<Mutex<Vec<(String, String)>>>,
}

impl Sink {
    /// Serves on a free port of 127.0.0.1; forward to `http://ADDR/<name>`.
    pub async fn start(&self) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the sink");
        let addr = listener.local_addr().expect("the sink's address");
        let app = axum::Router::new()
            .route("/{route}", post(record))
            .with_state(self.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr
    }

    /// How many times each delivery id was handled, and how many handlings
    /// came through each route.
    pub fn counts(&self) -> (HashMap<String, usize>, HashMap<String, usize>) {
        let handled = self.handled.lock().expect("sink lock");
        let (mut by_id, mut by_route) = (HashMap::new(), HashMap::new());
        for (route, id) in handled.iter() {
            *by_id.entry(id.clone()).or_insert(0) += 1;
            *by_route.entry(route.clone()).or_insert(0) += 1;
        }
        (by_id, by_route)
    }
}

async fn record(
    State(sink): State<Sink>,
    axum::extract::Path(route): axum::extract::Path<String>,
    headers: HeaderMap,
) -> StatusCode {
    let Some(id) = headers
        .get("hookgate-delivery-id")
        .and_then(|v| v.to_str().ok())
    else {
        return StatusCode::BAD_REQUEST;
    };
    sink.handled
        .lock()
        .expect("sink lock")
        .push((route, id.to_owned()));
    StatusCode::OK
}

/// The stderr of the child processes a test started: kept in memory and
/// written out only when the test fails (a passing run prints no WARN or
/// ERROR line of the servers it broke on purpose).
///
/// The captures belong to the thread that registered them, the test's own
/// (libtest runs each test on a thread of its own); a panic hook installed
/// once writes that thread's captures before the panic message, where
/// libtest shows a failing test's output.
#[derive(Debug, Clone)]
pub struct CapturedStderr {
    label: String,
    text: Arc<Mutex<Vec<u8>>>,
}

thread_local! {
    static CAPTURED: std::cell::RefCell<Vec<CapturedStderr>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

impl CapturedStderr {
    /// Reads `child`'s stderr (which must be piped) from now on, on a thread
    /// of its own, and shows it if this test fails.
    pub fn std(child: &mut std::process::Child, label: impl Into<String>) -> Self {
        let captured = Self::register(label.into());
        if let Some(mut stderr) = child.stderr.take() {
            let text = Arc::clone(&captured.text);
            std::thread::spawn(move || {
                use std::io::Read as _;
                let mut chunk = [0u8; 4096];
                while let Ok(n @ 1..) = stderr.read(&mut chunk) {
                    text.lock()
                        .expect("stderr lock")
                        .extend_from_slice(&chunk[..n]);
                }
            });
        }
        captured
    }

    /// [`std`](Self::std) for a tokio child (its stderr must be piped).
    pub fn tokio(child: &mut tokio::process::Child, label: impl Into<String>) -> Self {
        let captured = Self::register(label.into());
        if let Some(mut stderr) = child.stderr.take() {
            let text = Arc::clone(&captured.text);
            tokio::spawn(async move {
                use tokio::io::AsyncReadExt as _;
                let mut chunk = [0u8; 4096];
                while let Ok(n @ 1..) = stderr.read(&mut chunk).await {
                    text.lock()
                        .expect("stderr lock")
                        .extend_from_slice(&chunk[..n]);
                }
            });
        }
        captured
    }

    /// What the child wrote so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.text.lock().expect("stderr lock")).into_owned()
    }

    fn register(label: String) -> Self {
        static HOOK: std::sync::Once = std::sync::Once::new();
        HOOK.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                // try_with: nothing to show on a thread being torn down.
                let _ = CAPTURED.try_with(|captured| {
                    for capture in captured.borrow().iter() {
                        eprintln!(
                            "---- stderr of {} ----\n{}---- end of {} ----",
                            capture.label,
                            capture.text(),
                            capture.label
                        );
                    }
                });
                previous(info);
            }));
        });
        let captured = Self {
            label,
            text: Arc::default(),
        };
        CAPTURED.with(|all| all.borrow_mut().push(captured.clone()));
        captured
    }
}

/// Starts `hookgate serve` with `config` (written to `dir/<name>.toml`) and
/// the environment `env`; returns the child (killed on drop) and the address
/// it listens on, read from its first line of output. Its log is
/// [captured](CapturedStderr): shown only if the test fails.
pub async fn spawn_serve(
    dir: &Path,
    name: &str,
    config: &str,
    env: &[(&str, &str)],
) -> (tokio::process::Child, SocketAddr) {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, config).expect("write the config");
    let mut child = tokio::process::Command::new(hookgate_bin())
        .args(["serve", "--config"])
        .arg(&path)
        .envs(env.iter().copied())
        .env("HOOKGATE_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("hookgate serve starts");
    CapturedStderr::tokio(&mut child, format!("hookgate serve ({name})"));
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let line = stdout
        .next_line()
        .await
        .expect("read hookgate serve")
        .expect("hookgate serve printed its address");
    let addr = line
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line from hookgate serve: {line:?}"))
        .parse()
        .expect("an address");
    // Keep reading, so the pipe stays open for whatever it prints later.
    tokio::spawn(async move { while let Ok(Some(_)) = stdout.next_line().await {} });
    (child, addr)
}

/// Delivery `d-<n>`: a 1 KiB body signed GitHub-style with `secret`, now,
/// with the headers a GitHub `issues` delivery carries.
pub fn signed_github_delivery(n: usize, secret: &str) -> (HeaderMap, Vec<u8>) {
    let id = format!("d-{n}");
    let mut body = format!("{{\"action\":\"opened\",\"n\":{n},\"pad\":\"").into_bytes();
    body.resize(1022, b'x');
    body.extend_from_slice(b"\"}");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let mut headers = Signer::new(Scheme::GitHub, secret)
        .expect("a valid secret")
        .sign(&id, now, &body)
        .expect("signed");
    headers.insert("x-github-event", "issues".parse().expect("a header value"));
    (headers, body)
}

/// The README's Rust code blocks, compiled (and, where not `no_run`, run)
/// as doc tests, so the quick starts stay true.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeQuickStarts;

/// A handler for the crash children that appends the delivery id to the log: one `write` per line,
/// so a SIGKILL never leaves half a line.
pub fn record_to(
    log: Arc<std::fs::File>,
) -> impl Fn(hookgate_queue::Delivery) -> std::future::Ready<Result<(), hookgate_queue::HandlerError>>
+ Send
+ Sync
+ 'static {
    move |delivery: hookgate_queue::Delivery| {
        let line = format!("{}\n", delivery.delivery_id);
        let result = std::io::Write::write_all(&mut &*log, line.as_bytes())
            .map_err(hookgate_queue::HandlerError::from);
        std::future::ready(result)
    }
}

/// A `redis-server` of the test's own, on a free port, with its data in a
/// folder the test owns and the settings it asks for (`appendonly`, ...):
/// the development machine's shared Redis keeps nothing on disk, which
/// `hookgate serve` rightly refuses. Killed on drop.
#[derive(Debug)]
pub struct PrivateRedis {
    child: std::process::Child,
    port: u16,
}

impl PrivateRedis {
    /// Where Debian installs the server.
    const PROGRAM: &'static str = "/usr/bin/redis-server";

    /// Starts the server with `settings` (command-line options such as
    /// `--appendonly yes`), its files in `dir`; waits until it answers.
    /// `None`, with the reason printed, when `redis-server` is not installed
    /// (a failure under `HOOKGATE_REQUIRE_SERVICES=1`).
    pub fn start(dir: &Path, settings: &[&str]) -> Option<Self> {
        if !Path::new(Self::PROGRAM).exists() {
            let reason = format!("{} is not installed", Self::PROGRAM);
            if std::env::var("HOOKGATE_REQUIRE_SERVICES").as_deref() == Ok("1") {
                panic!("{reason}, and HOOKGATE_REQUIRE_SERVICES=1");
            }
            eprintln!("skipped: {reason} (set HOOKGATE_REQUIRE_SERVICES=1 to fail instead)");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let child = std::process::Command::new(Self::PROGRAM)
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .arg("--dir")
            .arg(dir)
            .args(settings)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        let mut redis = PrivateRedis { child, port };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let started = std::time::Instant::now();
        while std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_err() {
            if let Some(status) = redis.child.try_wait().expect("redis-server's status") {
                panic!("redis-server {settings:?} exited at start: {status}");
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "redis-server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(redis)
    }

    /// Its URL, `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
