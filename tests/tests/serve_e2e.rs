//! End to end through the `hookgate` binary: `hookgate serve` with a config,
//! a local HTTP sink standing in for the user's service, `hookgate send` for
//! signed deliveries of every scheme, and `hookgate queue` for dead letters.
//!
//! The binary is the one `cargo test --workspace` built: see
//! [`hookgate_tests::hookgate_bin`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hookgate_tests::{CapturedStderr, hookgate_bin};
use hookgate_verify::{Scheme, Verifier};

/// Every scheme `hookgate send` has a sample for, with the secret used here.
const SCHEMES: [(&str, &str); 9] = [
    ("standard", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
    ("svix", "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"),
    ("clarife", "whsec_clarife_e2e"),
    ("stripe", "whsec_stripe_e2e"),
    ("github", "github-e2e-secret"),
    ("slack", "slack-e2e-signing-secret"),
    ("shopify", "shopify-e2e-secret"),
    ("claravine", "claravine-e2e-token"),
    ("clarity", "clarity-e2e-token"),
];

/// How long to wait for something that normally takes milliseconds, before
/// declaring the test failed (not a performance assertion: a hang guard).
const PATIENCE: Duration = Duration::from_secs(60);

/// What the sink received.
#[derive(Debug, Clone)]
struct Received {
    headers: HeaderMap,
    body: Bytes,
    answered: StatusCode,
}

/// A local HTTP service standing in for the user's: records every request,
/// and fails the first `fail_first` of them (all of them while `fail_all`).
/// While `hold` is set, a request waits for `release` before it is answered
/// (an attempt in progress); `arrived` counts requests as they come in.
#[derive(Clone, Default)]
struct Sink {
    received: Arc<Mutex<Vec<Received>>>,
    fail_first: Arc<AtomicUsize>,
    fail_all: Arc<std::sync::atomic::AtomicBool>,
    hold: Arc<std::sync::atomic::AtomicBool>,
    release: Arc<tokio::sync::Notify>,
    arrived: Arc<AtomicUsize>,
}

impl Sink {
    async fn start(&self) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new()
            .route("/sink", post(record))
            .with_state(self.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    fn accepted(&self) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.answered.is_success())
            .collect()
    }
}

async fn record(State(sink): State<Sink>, headers: HeaderMap, body: Bytes) -> StatusCode {
    sink.arrived.fetch_add(1, Ordering::SeqCst);
    if sink.hold.load(Ordering::SeqCst) {
        sink.release.notified().await;
    }
    let fail = sink.fail_all.load(Ordering::SeqCst)
        || sink
            .fail_first
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
    let answered = if fail {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    };
    sink.received.lock().unwrap().push(Received {
        headers,
        body,
        answered,
    });
    answered
}

/// A running `hookgate serve`, killed on drop.
struct Server {
    child: Child,
    addr: SocketAddr,
    config: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts `hookgate serve` with every scheme as a source forwarding to
    /// `sink`, and `retry` as the `[retry]` table.
    fn start(sink: SocketAddr, retry: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n\n[queue]\nsqlite = \"queue.db\"\n\n[retry]\n{retry}\n\n\
             [workers]\npoll_interval = \"20ms\"\n\n[action]\nforward = \"http://{sink}/sink\"\ntimeout = \"5s\"\n"
        );
        for (scheme, _) in SCHEMES {
            config.push_str(&format!(
                "\n[sources.{scheme}]\nscheme = \"{scheme}\"\nsecret_env = \"E2E_SECRET_{}\"\n",
                scheme.to_uppercase()
            ));
        }
        // GitHub again, deduplicated on its body (replay_guard).
        config.push_str(
            "\n[sources.github-body]\nscheme = \"github\"\nsecret_env = \"E2E_SECRET_GITHUB\"\n\
             replay_guard = \"body\"\n",
        );
        let path = dir.path().join("hookgate.toml");
        std::fs::write(&path, config).unwrap();

        let mut command = Command::new(hookgate_bin());
        command
            .args(["serve", "--config"])
            .arg(&path)
            .env("HOOKGATE_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (scheme, secret) in SCHEMES {
            command.env(format!("E2E_SECRET_{}", scheme.to_uppercase()), secret);
        }
        let mut child = command.spawn().expect("hookgate serve starts");
        // Shown only if the test fails.
        CapturedStderr::std(&mut child, "hookgate serve");
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line from hookgate serve: {line:?}"))
            .parse()
            .unwrap();
        Server {
            child,
            addr,
            config: path,
            _dir: dir,
        }
    }

    fn url(&self, scheme: &str) -> String {
        format!("http://{}/hooks/{scheme}", self.addr)
    }

    /// Runs `hookgate queue ARGS --config <this server's config> --json`.
    fn queue(&self, args: &[&str]) -> Output {
        Command::new(hookgate_bin())
            .arg("queue")
            .args(args)
            .arg("--config")
            .arg(&self.config)
            .arg("--json")
            .output()
            .unwrap()
    }

    async fn health(&self) -> serde_json::Value {
        reqwest::get(format!("http://{}/healthz", self.addr))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

fn send(server: &Server, scheme: &str, secret: &str, extra: &[&str]) -> Output {
    Command::new(hookgate_bin())
        .args(["send", "--scheme", scheme, "--secret", secret, "--url"])
        .arg(server.url(scheme))
        .args(extra)
        .output()
        .unwrap()
}

fn assert_success(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what}: {:?}\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Waits until `done` holds, polling; panics after [`PATIENCE`].
async fn eventually(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let start = Instant::now();
    while !done().await {
        assert!(start.elapsed() < PATIENCE, "gave up waiting: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_scheme_arrives_at_the_sink_exactly_once_with_its_body_intact() {
    let sink = Sink::default();
    let server = Server::start(
        sink.start().await,
        "schedule = [\"50ms\"]\nmax_attempts = 5",
    );

    let dir = tempfile::tempdir().unwrap();
    let mut sent_bodies = HashMap::new();
    for (scheme, secret) in SCHEMES {
        // The scheme's own sample, as a sender's "send test event" would.
        let sample = send(&server, scheme, secret, &[]);
        assert_success(&sample, &format!("send the {scheme} sample"));
        assert!(String::from_utf8_lossy(&sample.stdout).starts_with("200"));

        // And a body of ours, to compare byte for byte (Claravine's token
        // must be in it; the odd spacing must survive).
        let body = format!(
            "{{\"type\": \"e2e.{scheme}\",  \"id\": \"body-{scheme}\", \"token\": \"{secret}\", \"n\": [1,2 ,3]}}\n"
        );
        let file = dir.path().join(format!("{scheme}.json"));
        std::fs::write(&file, &body).unwrap();
        let id = format!("own-{scheme}");
        let own = send(
            &server,
            scheme,
            secret,
            &["--body", file.to_str().unwrap(), "--id", &id],
        );
        assert_success(&own, &format!("send a body to {scheme}"));
        sent_bodies.insert(scheme, body);
    }

    let expected = SCHEMES.len() * 2;
    eventually("every delivery reaches the sink", async || {
        sink.accepted().len() >= expected
    })
    .await;
    eventually("the queue is drained", async || {
        server.health().await["queue"]["depth"] == 0
    })
    .await;

    let received = sink.received();
    assert_eq!(
        received.len(),
        expected,
        "nothing arrives twice, nothing fails"
    );
    let mut per_source: HashMap<String, Vec<&Received>> = HashMap::new();
    let mut delivery_ids = std::collections::HashSet::new();
    for r in &received {
        let source = r.headers["hookgate-source"].to_str().unwrap().to_owned();
        let id = r.headers["hookgate-delivery-id"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            delivery_ids.insert((source.clone(), id)),
            "a delivery arrived twice"
        );
        assert_eq!(r.headers["hookgate-attempt"], "1");
        per_source.entry(source).or_default().push(r);
    }
    for (scheme, secret) in SCHEMES {
        let got = &per_source[scheme];
        assert_eq!(got.len(), 2, "{scheme}: the sample and our body");
        assert!(
            got.iter().any(|r| r.body == sent_bodies[scheme].as_bytes()),
            "{scheme}: our body arrived byte for byte"
        );
        let scheme: Scheme = scheme.parse().unwrap();
        if !scheme.is_token() {
            // The sender's signature headers are forwarded: the sink can
            // verify again, which also proves every byte is intact.
            let verifier = Verifier::new(scheme, secret).unwrap();
            for r in got {
                verifier
                    .verify(&r.headers, &r.body)
                    .unwrap_or_else(|e| panic!("{scheme}: {e}"));
            }
        } else {
            // Credentials are not forwarded.
            assert!(got.iter().all(|r| !r.headers.contains_key("authorization")
                && !r.headers.contains_key("x-clarity-webhook-token")));
        }
    }

    // A sender's retry of one delivery (same id: in the body for clarife,
    // derived from the bytes for Claravine and Clarity) is answered 2xx and
    // arrives once.
    let retried = ["clarife", "claravine", "clarity"];
    for scheme in retried {
        let secret = SCHEMES.iter().find(|(s, _)| *s == scheme).unwrap().1;
        for attempt in ["first", "retry"] {
            let out = send(&server, scheme, secret, &["--id", "sent-twice"]);
            assert_success(&out, &format!("{scheme}: {attempt} send"));
            assert!(String::from_utf8_lossy(&out.stdout).starts_with("200"));
        }
    }
    let expected = expected + retried.len();
    eventually("each retried delivery reaches the sink", async || {
        sink.accepted().len() >= expected
    })
    .await;
    // A duplicate never enters the queue: once it is empty, nothing more comes.
    eventually("the queue is drained", async || {
        server.health().await["queue"]["depth"] == 0
    })
    .await;
    assert_eq!(sink.received().len(), expected, "a retry arrives once");

    // Prometheus metrics count what happened.
    let metrics = reqwest::get(format!("http://{}/metrics", server.addr))
        .await
        .unwrap();
    assert_eq!(metrics.status(), StatusCode::OK);
    let content_type = metrics.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let metrics = metrics.text().await.unwrap();
    for scheme in retried {
        for line in [
            format!("hookgate_receive_duplicates_total{{source=\"{scheme}\"}} 1"),
            format!("hookgate_queue_handled_total{{source=\"{scheme}\"}} 3"),
        ] {
            assert!(
                metrics.lines().any(|l| l == line),
                "no `{line}` in:\n{metrics}"
            );
        }
    }
    assert!(
        metrics.contains("hookgate_receive_ack_seconds"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn inspecting_the_queue_while_serve_runs_leaves_attempts_in_progress_alone() {
    let sink = Sink::default();
    sink.hold.store(true, Ordering::SeqCst);
    let server = Server::start(sink.start().await, "schedule = [\"50ms\"]");
    let (scheme, secret) = SCHEMES[2];
    assert_success(&send(&server, scheme, secret, &[]), "send");
    eventually("the attempt is in progress", async || {
        sink.arrived.load(Ordering::SeqCst) == 1
    })
    .await;

    // Opening the SQLite file from another process must not hand the
    // delivery that `serve` is handling to another of its workers. `serve`
    // holds its leases in memory (it has the file to itself), so the file,
    // and the inspector reading it, count the delivery as ready; `serve`
    // itself counts it as leased.
    for _ in 0..2 {
        let stats = server.queue(&["stats"]);
        assert_success(&stats, "queue stats");
        let stats: serde_json::Value = serde_json::from_slice(&stats.stdout).unwrap();
        assert_eq!(stats["leased"], 0, "{stats}");
        assert_eq!(stats["ready"], 1, "{stats}");
        let health = server.health().await;
        assert_eq!(health["queue"]["leased"], 1, "{health}");
        assert_eq!(health["queue"]["ready"], 0, "{health}");
    }
    // Long enough for a worker to lease a delivery made ready again (the
    // poll interval is 20 ms): none is.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sink.arrived.load(Ordering::SeqCst), 1, "handled twice");

    sink.hold.store(false, Ordering::SeqCst);
    sink.release.notify_waiters();
    eventually("the queue is drained", async || {
        server.health().await["queue"]["depth"] == 0
    })
    .await;
    assert_eq!(sink.arrived.load(Ordering::SeqCst), 1, "handled once");
    assert_eq!(sink.accepted().len(), 1);
}

/// A GitHub delivery captured and resent under a fresh `X-GitHub-Delivery`
/// (which GitHub does not sign) is handled twice by a default source, once by
/// one with `replay_guard = "body"`.
#[tokio::test(flavor = "multi_thread")]
async fn a_replay_under_a_fresh_id_is_handled_once_with_the_body_guard() {
    let sink = Sink::default();
    let server = Server::start(sink.start().await, "max_attempts = 1");
    let (scheme, secret) = SCHEMES[4];
    assert_eq!(scheme, "github");
    let body = r#"{"action":"opened","number":7}"#;
    let signed = hookgate_verify::Signer::new(Scheme::GitHub, secret)
        .unwrap()
        .sign("", 0, body.as_bytes())
        .unwrap();
    let client = reqwest::Client::new();
    for path in ["github", "github-body"] {
        for delivery in ["d-1", "d-2"] {
            let answer = client
                .post(server.url(path))
                .headers(signed.clone())
                .header("x-github-event", "pull_request")
                .header("x-github-delivery", delivery)
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(answer.status(), 200, "{path} {delivery}");
        }
    }
    eventually("both deliveries of the default source arrive", async || {
        let accepted = sink.accepted();
        accepted
            .iter()
            .filter(|r| r.headers["hookgate-source"] == "github")
            .count()
            == 2
    })
    .await;
    eventually("the queue is drained", async || {
        server.health().await["queue"]["depth"] == 0
    })
    .await;
    let guarded: Vec<_> = sink
        .accepted()
        .into_iter()
        .filter(|r| r.headers["hookgate-source"] == "github-body")
        .collect();
    assert_eq!(guarded.len(), 1, "the replay was a duplicate");
    let id = hookgate_receive::derived_delivery_id(body.as_bytes());
    assert_eq!(guarded[0].headers["hookgate-delivery-id"], id.as_str());
    assert_eq!(guarded[0].headers["x-github-delivery"], "d-1");
}

/// A second `hookgate serve` on the SQLite file of a running one refuses to
/// start, naming the file, instead of recovering (and handling again) the
/// first one's leases; `hookgate queue` keeps working beside it.
#[tokio::test(flavor = "multi_thread")]
async fn a_second_serve_on_one_sqlite_file_refuses_to_start() {
    let sink = Sink::default();
    let server = Server::start(sink.start().await, "max_attempts = 1");
    let mut second = Command::new(hookgate_bin())
        .args(["serve", "--config"])
        .arg(&server.config)
        .env("HOOKGATE_LOG", "off")
        .envs(
            SCHEMES
                .map(|(scheme, secret)| (format!("E2E_SECRET_{}", scheme.to_uppercase()), secret)),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(status) = second.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > PATIENCE {
            let _ = second.kill();
            panic!("the second hookgate serve kept running");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let output = second.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!status.success(), "{stderr}");
    assert!(stderr.contains("queue.db"), "{stderr}");
    assert!(stderr.contains("in use by another process"), "{stderr}");
    // The first one still answers, and the queue commands still open the file.
    assert_eq!(server.health().await["queue"]["depth"], 0);
    assert_success(&server.queue(&["stats"]), "queue stats beside serve");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_sink_gets_retries_then_the_delivery() {
    let sink = Sink::default();
    sink.fail_first.store(3, Ordering::SeqCst);
    let server = Server::start(
        sink.start().await,
        "schedule = [\"50ms\", \"50ms\", \"50ms\", \"50ms\"]\nmax_attempts = 5",
    );
    let (scheme, secret) = SCHEMES[2];
    assert_success(&send(&server, scheme, secret, &[]), "send");

    eventually("the delivery gets through", async || {
        !sink.accepted().is_empty()
    })
    .await;
    eventually("the queue is drained", async || {
        server.health().await["queue"]["depth"] == 0
    })
    .await;
    let received = sink.received();
    let attempts: Vec<_> = received
        .iter()
        .map(|r| r.headers["hookgate-attempt"].to_str().unwrap().to_owned())
        .collect();
    assert_eq!(attempts, ["1", "2", "3", "4"]);
    assert_eq!(sink.accepted().len(), 1);
    let ids: std::collections::HashSet<_> = received
        .iter()
        .map(|r| r.headers["hookgate-delivery-id"].clone())
        .collect();
    assert_eq!(ids.len(), 1, "the same delivery each time");
    assert!(received.iter().all(|r| r.body == received[0].body));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sink_that_keeps_failing_leads_to_dead_letters_that_replay_delivers() {
    let sink = Sink::default();
    sink.fail_all.store(true, Ordering::SeqCst);
    let server = Server::start(
        sink.start().await,
        "schedule = [\"50ms\"]\nmax_attempts = 2",
    );
    for (scheme, secret) in &SCHEMES[..2] {
        assert_success(&send(&server, scheme, secret, &[]), "send");
    }

    eventually("both deliveries are dead letters", async || {
        server.health().await["queue"]["dead"] == 2
    })
    .await;
    assert_eq!(sink.received().len(), 4, "two attempts each");
    assert!(sink.accepted().is_empty());

    let listed = server.queue(&["list", "--dead"]);
    assert_success(&listed, "queue list --dead");
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert!(
        lines
            .iter()
            .all(|l| l["attempts"] == 2 && l["error"].as_str().unwrap().contains("500"))
    );

    let stats = server.queue(&["stats"]);
    assert_success(&stats, "queue stats");
    let stats: serde_json::Value = serde_json::from_slice(&stats.stdout).unwrap();
    assert_eq!(stats["dead"], 2);

    // The service is fixed: replay one by id, then the rest by age.
    sink.fail_all.store(false, Ordering::SeqCst);
    let first = lines[0]["id"].as_str().unwrap();
    let one = server.queue(&["replay", first]);
    assert_success(&one, "queue replay ID");
    assert_eq!(
        String::from_utf8_lossy(&one.stdout).trim(),
        r#"{"replayed":1}"#
    );
    eventually("the replayed delivery arrives", async || {
        sink.accepted().len() == 1
    })
    .await;

    let rest = server.queue(&["replay", "--dead", "--since", "1h"]);
    assert_success(&rest, "queue replay --dead --since 1h");
    assert_eq!(
        String::from_utf8_lossy(&rest.stdout).trim(),
        r#"{"replayed":1}"#
    );
    eventually("every replayed delivery arrives", async || {
        sink.accepted().len() == 2
    })
    .await;
    eventually("nothing is left", async || {
        let health = server.health().await;
        health["queue"]["depth"] == 0 && health["queue"]["dead"] == 0
    })
    .await;

    let sources: std::collections::HashSet<_> = sink
        .accepted()
        .iter()
        .map(|r| r.headers["hookgate-source"].to_str().unwrap().to_owned())
        .collect();
    assert_eq!(sources.len(), 2, "each dead letter delivered once");

    let missing = server.queue(&["replay", "standard/no-such-id"]);
    assert_eq!(missing.status.code(), Some(1));
}
