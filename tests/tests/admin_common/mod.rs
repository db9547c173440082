//! What the admin listener's tests share: a `hookgate serve` with an
//! `[admin]` table, and the user's service behind it.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hookgate_tests::{hookgate_bin, signed_github_delivery};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

pub const SECRET: &str = "admin-e2e-secret";
/// A hang guard, not a performance assertion.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// The user's service: fails every delivery while `failing`, records the ids it accepted.
#[derive(Clone, Default)]
pub struct Sink {
    pub failing: Arc<AtomicBool>,
    pub accepted: Arc<Mutex<Vec<String>>>,
}

async fn record(State(sink): State<Sink>, headers: HeaderMap, _body: Bytes) -> StatusCode {
    if sink.failing.load(Ordering::SeqCst) {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    let id = headers["hookgate-delivery-id"].to_str().unwrap().to_owned();
    sink.accepted.lock().unwrap().push(id);
    StatusCode::OK
}

impl Sink {
    pub async fn start(&self) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new()
            .route("/sink", post(record))
            .with_state(self.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr
    }
}

/// A running `hookgate serve` (killed on drop), its addresses and its config file.
pub struct Serve {
    pub child: Child,
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    /// Its log, shown only when the test fails.
    log: Arc<Mutex<String>>,
    _dir: tempfile::TempDir,
}

impl Drop for Serve {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("hookgate serve's log:\n{}", self.log.lock().unwrap());
        }
    }
}

pub fn config(sink: SocketAddr, admin_listen: &str) -> String {
    format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n\n[queue]\nsqlite = \"queue.db\"\n\n\
         [retry]\nschedule = [\"50ms\"]\nmax_attempts = 1\n\n[workers]\npoll_interval = \"20ms\"\n\n\
         [admin]\nlisten = \"{admin_listen}\"\nrecent = 50\n\n\
         [action]\nforward = \"http://{sink}/sink\"\ntimeout = \"5s\"\n\n\
         [sources.github]\nscheme = \"github\"\nsecret_env = \"ADMIN_E2E_SECRET\"\n"
    )
}

pub async fn next_line(lines: &mut Lines<BufReader<ChildStdout>>, what: &str) -> String {
    tokio::time::timeout(PATIENCE, lines.next_line())
        .await
        .unwrap_or_else(|_| panic!("{what}: nothing within {PATIENCE:?}"))
        .unwrap()
        .unwrap_or_else(|| panic!("{what}: the output ended"))
}

pub async fn start(sink: SocketAddr, admin_listen: &str, env: &[(&str, &str)]) -> Serve {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hookgate.toml");
    std::fs::write(&path, config(sink, admin_listen)).unwrap();
    let mut child = Command::new(hookgate_bin())
        .args(["serve", "--config"])
        .arg(&path)
        .env("ADMIN_E2E_SECRET", SECRET)
        .envs(env.iter().copied())
        .env("HOOKGATE_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let log = Arc::new(Mutex::new(String::new()));
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let kept = Arc::clone(&log);
    tokio::spawn(async move {
        while let Ok(Some(line)) = stderr.next_line().await {
            let mut log = kept.lock().unwrap();
            log.push_str(&line);
            log.push('\n');
        }
    });
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = next_line(&mut lines, "hookgate serve").await;
    let addr = first
        .strip_prefix("listening on http://")
        .unwrap()
        .parse()
        .unwrap();
    let second = next_line(&mut lines, "hookgate serve").await;
    let admin = second
        .strip_prefix("admin on http://")
        .unwrap()
        .parse()
        .unwrap();
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Serve {
        child,
        addr,
        admin,
        log,
        _dir: dir,
    }
}

impl Serve {
    pub async fn deliver(&self, n: usize, signed: bool) -> StatusCode {
        let (mut headers, body) = signed_github_delivery(n, SECRET);
        if !signed {
            headers.remove("x-hub-signature-256");
        }
        let response = reqwest::Client::new()
            .post(format!("http://{}/hooks/github", self.addr))
            .headers(headers)
            .body(body)
            .send()
            .await
            .unwrap();
        response.status()
    }

    /// POSTs `body` signed GitHub-style as delivery `id`, with `extra` headers.
    pub async fn deliver_body(&self, id: &str, body: &str, extra: &[(&str, &str)]) -> StatusCode {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let mut headers = hookgate_verify::Signer::new(hookgate_verify::Scheme::GitHub, SECRET)
            .unwrap()
            .sign(id, now, body.as_bytes())
            .unwrap();
        headers.insert("x-github-event", "issues".parse().unwrap());
        for (name, value) in extra {
            headers.insert(
                axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        reqwest::Client::new()
            .post(format!("http://{}/hooks/github", self.addr))
            .headers(headers)
            .body(body.to_owned())
            .send()
            .await
            .unwrap()
            .status()
    }

    pub async fn get(&self, path: &str) -> Value {
        let response = reqwest::get(format!("http://{}{path}", self.admin))
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.unwrap()
    }
}

/// Waits until `check` holds, polling.
pub async fn eventually<F: Fn() -> bool>(what: &str, check: F) {
    tokio::time::timeout(PATIENCE, async {
        while !check() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{what}: not within {PATIENCE:?}"));
}
