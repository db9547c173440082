//! Load run for the receiving middleware (not part of CI).
//!
//! Run with: `cargo bench -p hookgate-tower --bench load -- [SECONDS] [rounds=N] [SCENARIOS]`
//! (SCENARIOS: letters among `abcdefghijklmnopq`, `abcd` by default; N rounds, default
//! 3, of SECONDS, default 2, per scenario, visiting the scenarios in turn, each
//! round from the next one on).
//!
//! One server per scenario on 127.0.0.1, each in a process of its own (this
//! binary re-run with `--serve LETTER`), visited in turn by the load
//! generator in this process: 64 keep-alive HTTP/1.1 connections sending
//! 1 KiB bodies signed GitHub-style (`X-Hub-Signature-256`, unique
//! `X-GitHub-Delivery`). Separate processes keep the scenarios from sharing
//! a heap or a scheduler with each other or with the generator: a queue that
//! holds 100,000 deliveries in memory slows every allocation in its process,
//! and measured in one process it slowed the next scenario too.
//!
//! - (a) bare axum answering 200;
//! - (b) axum + `WebhookLayer`, in-memory queue;
//! - (c) axum + `WebhookLayer`, SQLite queue with fsync before the ACK;
//! - (f), on request only: (b) with a task that leases and acknowledges
//!   what is queued, as (d) has a consumer draining its channel;
//! - (e), on request only: (c) with `Durability::ProcessCrash` (no fsync before
//!   the ACK), to separate the cost of the fsync from the rest;
//! - (d) a hand-written axum handler: read the body, decode the given
//!   signature, HMAC-SHA256 the body, compare in constant time, push the bytes
//!   into a bounded tokio mpsc (the same handler as the `layer` bench's);
//! - (g), (h), on request only: (c) with the Redis Streams (127.0.0.1:6379)
//!   or NATS JetStream (127.0.0.1:4222) queue instead of SQLite, each under a
//!   key prefix or stream of its own, deleted at the end; (n) likewise with
//!   the PostgreSQL queue (127.0.0.1:5432, database `test`) in a schema of its
//!   own (`cghn` puts the four durable back-ends side by side);
//! - (i), on request only: (b) with a queue that only pushes the body into a
//!   bounded mpsc, as (d) does: the layer's own cost under load, apart from
//!   the in-memory queue's bookkeeping;
//! - (k), on request only: (c) served by `hookgate_tower::server::Server`
//!   (header and idle timeouts, connection limit, peer address on each
//!   request) instead of `axum::serve`: the hardened server's cost (`ck`);
//! - (l), on request only: the same for (b), without the fsync's noise (`bl`);
//! - (j), on request only: (b) with a queue that only keeps a copy of each
//!   body in a `Vec`: the floor under any queue that holds what it
//!   acknowledged in process memory;
//! - (m), on request only: (c) with admission control configured on its
//!   source (`max_in_flight`, a rate limit) but never reached: what checking
//!   it costs (`cm` puts them side by side);
//! - (o), on request only: (c) observed by `hookgate-admin` (the ring of
//!   recent deliveries with each body copied, the counters and history) with
//!   one client following its event stream (`/api/events`, as `hookgate tail`
//!   does, from the load generator's process: a `hookgate tail` is a process
//!   of its own, and its reading is not the receiver's work): what the admin
//!   listener costs the receiving path (`co`);
//! - (p), on request only: (o) without a client on the stream (its admin
//!   listener served all the same): the ring, counters and history alone
//!   (`cpo` puts the three side by side);
//!   `HOOKGATE_BENCH_RECENT=N` sets the size of their ring (default the
//!   admin's 1,000), to tell what its memory costs from what its work does;
//! - (q), on request only: (c) in a file of 4 KiB pages (SQLite's default,
//!   and the queue's before issue 18; (c) has 1 KiB pages): what the page
//!   size costs the ACK path (`cq`).
//!
//! With `callgrind`, each server runs under `valgrind --tool=callgrind`
//! (instrumented from its first request on) and the table adds the
//! instructions it executed per request: a figure the machine's load does
//! not move, unlike CPU time, though it leaves out the kernel's work
//! (syscalls) and runs everything some 50 times slower. `conns=N` sets the
//! number of connections (64 by default; fewer under valgrind keep the
//! answers within the ACK budget).
//!
//! Prints requests/s and p50/p99 latency side by side, as a Markdown table,
//! and (on Linux) each server's CPU time per request: user + system time of
//! its process over every request it was sent, warm-up included. Requests/s
//! and latency count only the requests answered 200 (the work the scenario
//! exists for: a fast 503 is not throughput); the others, any other status
//! or a failed request, are counted in their own column (CPU per request is
//! comparable only between scenarios whose column says 0). On a machine
//! shared with other work, requests/s moves with the neighbours' load by
//! 10% from run to run; CPU per request moves much less, so compare servers
//! by it when the machine is busy. A second table gives each scenario's CPU
//! per request relative to the first's round by round (the median and range
//! over the rounds): a round disturbed by other work is one outlier there,
//! where the totals take it in whole; many short rounds (`1 rounds=40`) make
//! that median the steadiest figure of the run.

use std::future::IntoFuture as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::http::StatusCode;
use axum::routing::post;
use common::{SECRET, channel_queue, hand_written, keeping_queue, sign};
use hookgate_queue::{Enqueue, MemoryQueue, Queue};
use hookgate_receive::{RateLimit, Receiver, Source, SourceBuilder};
use hookgate_tower::WebhookLayer;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

mod common;

const CONNECTIONS: usize = 64;
const BODY_SIZE: usize = 1024;
const PATH: &str = "/hooks/github";

fn body_for(n: u64) -> Vec<u8> {
    let mut body = format!("{{\"action\":\"opened\",\"n\":{n},\"pad\":\"").into_bytes();
    body.resize(BODY_SIZE - 2, b'x');
    body.extend_from_slice(b"\"}");
    body
}

fn layered(queue: Arc<dyn Enqueue>) -> Router {
    layered_with(queue, |source| source)
}

/// [`layered`], every delivery event told to `observer`.
fn layered_observed(
    queue: Arc<dyn Enqueue>,
    observer: Arc<dyn hookgate_queue::observe::Observer>,
) -> Router {
    let verifier = hookgate_verify::Verifier::new(hookgate_verify::Scheme::GitHub, SECRET)
        .expect("valid secret");
    let receiver = Receiver::builder()
        .queue(queue)
        .observer(observer)
        .source(
            Source::builder("github", PATH, verifier)
                .build()
                .expect("valid source"),
        )
        .build()
        .expect("valid receiver");
    Router::new()
        .route("/health", axum::routing::get(|| async { "ok" }))
        .layer(WebhookLayer::new(receiver))
}

/// Follows the event stream of the admin listener at `addr` from one client,
/// reading every event (what `hookgate tail` does), for as long as this
/// process lives.
async fn follow_admin_stream(addr: SocketAddr) {
    let stream = TcpStream::connect(addr)
        .await
        .expect("connect to the admin listener");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    let request = http::Request::get("/api/events")
        .header("host", "127.0.0.1")
        .body(Full::new(Bytes::new()))
        .expect("request");
    let response = sender
        .send_request(request)
        .await
        .expect("the event stream");
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body();
    tokio::spawn(async move { while let Some(Ok(_)) = body.frame().await {} });
}

/// [`layered`], the source configured further by `configure`.
fn layered_with(
    queue: Arc<dyn Enqueue>,
    configure: impl FnOnce(SourceBuilder) -> SourceBuilder,
) -> Router {
    let verifier = hookgate_verify::Verifier::new(hookgate_verify::Scheme::GitHub, SECRET)
        .expect("valid secret");
    let receiver = Receiver::builder()
        .queue(queue)
        .source(
            configure(Source::builder("github", PATH, verifier))
                .build()
                .expect("valid source"),
        )
        .build()
        .expect("valid receiver");
    Router::new()
        .route("/health", axum::routing::get(|| async { "ok" }))
        .layer(WebhookLayer::new(receiver))
}

async fn serve(app: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    addr
}

/// [`serve`] on the hardened server, with its defaults.
async fn serve_hardened(app: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let serving = hookgate_tower::server::Server::new().serve(listener, app);
    let addr = serving.local_addr().expect("local addr");
    tokio::spawn(serving.into_future());
    addr
}

const REDIS_URL: &str = "redis://127.0.0.1:6379";
const NATS_URL: &str = "nats://127.0.0.1:4222";

/// Deletes what scenario (g) left under `prefix`, in batches.
async fn delete_redis_keys(prefix: &str) {
    let client = redis::Client::open(REDIS_URL).expect("redis url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    let mut cursor = 0u64;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}:*"))
            .arg("COUNT")
            .arg(10_000)
            .query_async(&mut conn)
            .await
            .expect("scan");
        if !keys.is_empty() {
            let _: () = redis::cmd("UNLINK")
                .arg(keys)
                .query_async(&mut conn)
                .await
                .expect("unlink");
        }
        if next == 0 {
            break;
        }
        cursor = next;
    }
}

/// What one connection saw while measuring: the latencies of the requests
/// answered 200, and how many were not.
#[derive(Default)]
struct Run {
    latencies: Vec<Duration>,
    errors: u64,
}

async fn connection(
    addr: SocketAddr,
    counter: Arc<AtomicU64>,
    measuring: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
) -> Run {
    let stream = TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    let mut run = Run::default();
    while !stop.load(Ordering::Relaxed) {
        let n = counter.fetch_add(1, Ordering::Relaxed);
        let body = body_for(n);
        let req = http::Request::post(PATH)
            .header("host", "127.0.0.1")
            .header("content-type", "application/json")
            .header("x-github-event", "issues")
            .header("x-github-delivery", format!("delivery-{n}"))
            .header("x-hub-signature-256", sign(&body))
            .body(Full::new(Bytes::from(body)))
            .expect("request");
        let started = Instant::now();
        let ok = match sender.send_request(req).await {
            Ok(res) => {
                let ok = res.status() == StatusCode::OK;
                let _ = res.into_body().collect().await;
                ok
            }
            Err(_) => false,
        };
        if measuring.load(Ordering::Relaxed) {
            if ok {
                run.latencies.push(started.elapsed());
            } else {
                run.errors += 1;
            }
        }
    }
    run
}

#[derive(Default)]
struct Samples {
    latencies: Vec<Duration>,
    measured: Duration,
    errors: u64,
}

/// Requests/s and percentiles of the 200 answers; `errors`, the others.
struct Figures {
    rps: f64,
    p50: Option<Duration>,
    p99: Option<Duration>,
    errors: u64,
}

impl Samples {
    fn figures(mut self) -> Figures {
        self.latencies.sort_unstable();
        let ok = &self.latencies;
        let pct = |p: f64| {
            let last = ok.len().checked_sub(1)?;
            Some(ok[((ok.len() as f64 * p) as usize).min(last)])
        };
        Figures {
            rps: ok.len() as f64 / self.measured.as_secs_f64(),
            p50: pct(0.50),
            p99: pct(0.99),
            errors: self.errors,
        }
    }
}

fn millis(latency: Option<Duration>) -> String {
    latency.map_or_else(
        || "-".to_owned(),
        |d| format!("{:.2} ms", d.as_secs_f64() * 1e3),
    )
}

/// One round against `addr`: 0.5 s of warm-up, then `seconds` measured.
/// `counter` numbers the deliveries across rounds, so none is a duplicate.
async fn load(
    addr: SocketAddr,
    connections: usize,
    seconds: u64,
    counter: &Arc<AtomicU64>,
    into: &mut Samples,
) {
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            tokio::spawn(connection(
                addr,
                Arc::clone(counter),
                Arc::clone(&measuring),
                Arc::clone(&stop),
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    measuring.store(false, Ordering::Relaxed);
    into.measured += started.elapsed();
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        let run = task.await.expect("load task");
        into.latencies.extend(run.latencies);
        into.errors += run.errors;
    }
}

/// What `--serve LETTER` needs to build its scenario.
struct ServeArgs {
    letter: char,
    dir: std::path::PathBuf,
    distributed_name: String,
}

fn value_of(args: &[String], flag: &str) -> Option<String> {
    let at = args.iter().position(|a| a == flag)?;
    args.get(at + 1).cloned()
}

const SCENARIOS: &str = "abcdefghijklmnopq";
const POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(letter) = value_of(&args, "--serve") {
        let serve = ServeArgs {
            letter: letter.chars().next().expect("a scenario letter"),
            dir: value_of(&args, "--dir").expect("--dir").into(),
            distributed_name: value_of(&args, "--name").expect("--name"),
        };
        tokio::runtime::Runtime::new()
            .expect("runtime")
            .block_on(serve_scenario(serve));
        return;
    }
    tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(generate_load(args));
}

/// The server of one scenario: prints its address, serves until stdin closes
/// (the load generator exited or is done), then exits without freeing what
/// its queue holds.
async fn serve_scenario(args: ServeArgs) {
    let (name, app, admin) = scenario(&args).await;
    let addr = match args.letter {
        'k' | 'l' => serve_hardened(app).await,
        _ => serve(app).await,
    };
    // The admin listener, when the scenario has one; its address is told
    // to the load generator only when it follows its stream.
    let admin = match admin {
        Some(AdminListener { router, followed }) => {
            let addr = serve(router).await;
            if followed {
                addr.to_string()
            } else {
                "-".to_owned()
            }
        }
        None => "-".to_owned(),
    };
    println!("{addr} {admin} {name}");
    tokio::task::spawn_blocking(|| std::io::copy(&mut std::io::stdin(), &mut std::io::sink()))
        .await
        .expect("stdin watcher")
        .ok();
    std::process::exit(0);
}

/// A scenario's admin listener.
struct AdminListener {
    router: Router,
    /// Whether the load generator follows its event stream.
    followed: bool,
}

/// The scenario's name and app, and its admin listener, if any.
async fn scenario(args: &ServeArgs) -> (&'static str, Router, Option<AdminListener>) {
    let ServeArgs { letter, dir, .. } = args;
    match letter {
        'o' | 'p' => {
            let queue: Arc<dyn Queue> = Arc::new(
                hookgate_queue::SqliteQueue::open(dir.join(format!("load-admin-{letter}.db")))
                    .expect("sqlite queue"),
            );
            // HOOKGATE_BENCH_RECENT: the ring's size (default the admin's),
            // to see what its memory costs beside what its work costs.
            let recent = std::env::var("HOOKGATE_BENCH_RECENT")
                .ok()
                .and_then(|n| n.parse().ok())
                .unwrap_or(hookgate_admin::DEFAULT_RECENT);
            let admin = hookgate_admin::Admin::builder(Arc::clone(&queue))
                .sources(["github"])
                .recent(recent)
                .build()
                .expect("admin");
            let app = layered_observed(queue, admin.observer());
            let followed = *letter == 'o';
            let name = if followed {
                "(o) = (c) with the admin listener and a client on its event stream"
            } else {
                "(p) = (c) with the admin listener, no stream client"
            };
            (
                name,
                app,
                Some(AdminListener {
                    router: admin.router(),
                    followed,
                }),
            )
        }
        _ => {
            let (name, app) = plain_scenario(args).await;
            (name, app, None)
        }
    }
}

async fn plain_scenario(args: &ServeArgs) -> (&'static str, Router) {
    let ServeArgs {
        letter,
        dir,
        distributed_name,
    } = args;
    match letter {
        'a' => (
            "(a) bare axum, 200",
            Router::new().route(PATH, post(|_body: Bytes| async { StatusCode::OK })),
        ),
        'b' => (
            "(b) axum + WebhookLayer, in-memory queue",
            layered(Arc::new(MemoryQueue::new())),
        ),
        'f' => {
            let memory: Arc<dyn Queue> = Arc::new(MemoryQueue::new());
            let drained = Arc::clone(&memory);
            tokio::spawn(async move {
                let request = || hookgate_queue::LeaseRequest::new(1024, Duration::from_secs(30));
                loop {
                    let leased = drained.lease(request()).await.expect("lease");
                    if leased.is_empty() {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                    for l in leased {
                        drained.ack(l.lease).await.expect("ack");
                    }
                }
            });
            (
                "(f) = (b) with a consumer draining the queue",
                layered(memory),
            )
        }
        'c' => (
            "(c) axum + WebhookLayer, SQLite queue (fsync)",
            layered(Arc::new(
                hookgate_queue::SqliteQueue::open(dir.join("load.db")).expect("sqlite queue"),
            )),
        ),
        'q' => (
            "(q) = (c) in a file of 4 KiB pages",
            layered(Arc::new(
                hookgate_queue::SqliteQueue::builder(dir.join("load-4k.db"))
                    .page_size(4096)
                    .open()
                    .expect("sqlite queue"),
            )),
        ),
        'k' => (
            "(k) = (c) through the hardened server",
            layered(Arc::new(
                hookgate_queue::SqliteQueue::open(dir.join("load-hardened.db"))
                    .expect("sqlite queue"),
            )),
        ),
        'l' => (
            "(l) = (b) through the hardened server",
            layered(Arc::new(MemoryQueue::new())),
        ),
        'm' => (
            "(m) = (c) with admission control configured, never reached",
            layered_with(
                Arc::new(
                    hookgate_queue::SqliteQueue::open(dir.join("load-admission.db"))
                        .expect("sqlite queue"),
                ),
                // 64 connections never reach 4096 in flight nor 10M/s: what
                // is measured is the cost of checking, on every request.
                |source| {
                    source.max_in_flight(4096).rate_limit(
                        RateLimit::per_second(10_000_000)
                            .and_then(|limit| limit.with_burst(10_000_000))
                            .expect("valid rate"),
                    )
                },
            ),
        ),
        'e' => (
            "(e) axum + WebhookLayer, SQLite queue (no fsync before ACK)",
            layered(Arc::new(
                hookgate_queue::SqliteQueue::builder(dir.join("load-nosync.db"))
                    .durability(hookgate_queue::Durability::ProcessCrash)
                    .open()
                    .expect("sqlite queue"),
            )),
        ),
        'g' => (
            "(g) axum + WebhookLayer, Redis Streams queue",
            layered(Arc::new(
                hookgate_queue_redis::RedisQueue::builder(REDIS_URL)
                    .prefix(distributed_name.as_str())
                    .build()
                    .expect("redis queue"),
            )),
        ),
        'h' => (
            "(h) axum + WebhookLayer, NATS JetStream queue",
            layered(Arc::new(
                hookgate_queue_nats::NatsQueue::builder(NATS_URL)
                    .stream(distributed_name.as_str())
                    .connect()
                    .await
                    .expect("nats queue (is nats-server -js running on 127.0.0.1:4222?)"),
            )),
        ),
        'n' => (
            "(n) axum + WebhookLayer, PostgreSQL queue",
            layered(Arc::new(
                hookgate_queue_postgres::PostgresQueue::builder(POSTGRES_URL)
                    .schema(distributed_name.to_lowercase())
                    .connect()
                    .await
                    .expect("postgres queue (is PostgreSQL running on 127.0.0.1:5432?)"),
            )),
        ),
        'j' => (
            "(j) = (b) with a queue keeping a copy of each body in a Vec",
            layered(Arc::new(keeping_queue())),
        ),
        'i' => {
            let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(1 << 20);
            tokio::spawn(async move { while rx.recv().await.is_some() {} });
            (
                "(i) = (b) with a channel queue (bounded mpsc, as (d))",
                layered(Arc::new(channel_queue(tx))),
            )
        }
        _ => {
            let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(1 << 20);
            tokio::spawn(async move { while rx.recv().await.is_some() {} });
            (
                "(d) hand-written: body, HMAC, ct-compare, bounded mpsc",
                Router::new().route(PATH, post(hand_written)).with_state(tx),
            )
        }
    }
}

/// A running scenario server, stopped when dropped.
struct Server {
    letter: char,
    name: String,
    addr: SocketAddr,
    /// Its admin listener, whose event stream the generator follows.
    admin: Option<SocketAddr>,
    child: std::process::Child,
    /// Its CPU time once it listened, before any load.
    cpu_at_start: Option<Duration>,
    /// Where callgrind writes its counts, when it runs under callgrind.
    callgrind_out: Option<std::path::PathBuf>,
}

/// The instructions a server ran under callgrind, from the `totals:` (or
/// `summary:`) line of its output, once it exited.
fn callgrind_instructions(out: &std::path::Path) -> Option<u64> {
    let text = std::fs::read_to_string(out).ok()?;
    text.lines().find_map(|line| {
        let rest = line
            .strip_prefix("totals:")
            .or_else(|| line.strip_prefix("summary:"))?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// Each scenario's CPU time per request relative to the first's, round by
/// round (the two measured a few seconds apart, under the same load): the
/// median and the range over the rounds. Rounds of a few seconds are only
/// some hundred clock ticks of CPU, so a figure moves by about 1% per tick.
fn print_round_ratios(servers: &[Server], round_cpu: &[Vec<Option<f64>>]) {
    let Some(first) = round_cpu.first() else {
        return;
    };
    if servers.len() < 2 || first.len() < 2 {
        return;
    }
    println!(
        "\n| scenario | CPU/request relative to the first, round by round: median | min | max |"
    );
    println!("|---|---:|---:|---:|");
    for (server, rounds) in servers.iter().zip(round_cpu).skip(1) {
        // Round by round: a round missing on either side is left out.
        let mut ratios: Vec<f64> = rounds
            .iter()
            .zip(first)
            .filter_map(|(cpu, base)| Some((*cpu)? / (*base).filter(|base| *base > 0.0)? - 1.0))
            .collect();
        if ratios.is_empty() {
            continue;
        }
        ratios.sort_by(f64::total_cmp);
        let median = if ratios.len() % 2 == 1 {
            ratios[ratios.len() / 2]
        } else {
            (ratios[ratios.len() / 2 - 1] + ratios[ratios.len() / 2]) / 2.0
        };
        println!(
            "| ({}) | {:+.1}% | {:+.1}% | {:+.1}% |",
            server.letter,
            median * 100.0,
            ratios[0] * 100.0,
            ratios[ratios.len() - 1] * 100.0
        );
    }
}

/// User + system CPU time of process `pid` so far, from `/proc/PID/stat`
/// (Linux; `None` elsewhere). Clock ticks are USER_HZ, 100 on every Linux
/// architecture Rust supports.
fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces), from `state` on:
    // utime and stime are fields 14 and 15 of the line, 11 and 12 here.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

impl Drop for Server {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

fn spawn_server(
    letter: char,
    dir: &std::path::Path,
    distributed_name: &str,
    callgrind: bool,
) -> Server {
    use std::io::BufRead;
    let exe = std::env::current_exe().expect("current exe");
    // Kept after the run, for `callgrind_annotate` to say where they went.
    let callgrind_out = callgrind.then(|| {
        std::env::temp_dir().join(format!(
            "hookgate-load.{}.{letter}.callgrind",
            std::process::id()
        ))
    });
    let mut command = match &callgrind_out {
        Some(out) => {
            let mut valgrind = std::process::Command::new("valgrind");
            valgrind
                .args(["--tool=callgrind", "--instr-atstart=no"])
                .arg(format!("--callgrind-out-file={}", out.display()))
                .arg(exe)
                .stderr(std::process::Stdio::null());
            valgrind
        }
        None => std::process::Command::new(exe),
    };
    let mut child = command
        .args(["--serve", &letter.to_string(), "--name", distributed_name])
        .arg("--dir")
        .arg(dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("scenario server");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("piped stdout"))
        .read_line(&mut line)
        .expect("scenario server's address");
    let mut fields = line.trim_end().splitn(3, ' ');
    let (Some(addr), Some(admin), Some(name)) = (fields.next(), fields.next(), fields.next())
    else {
        panic!("scenario {letter} did not start: {line:?}");
    };
    let cpu_at_start = cpu_time(child.id());
    if callgrind {
        // Count from here on: the requests, not the start.
        let on = std::process::Command::new("callgrind_control")
            .args(["--instr=on", &child.id().to_string()])
            .stdout(std::process::Stdio::null())
            .status()
            .expect("callgrind_control (valgrind)");
        assert!(on.success(), "callgrind_control --instr=on failed");
    }
    Server {
        letter,
        name: name.to_owned(),
        addr: addr.parse().expect("address"),
        admin: (admin != "-").then(|| admin.parse().expect("admin address")),
        child,
        cpu_at_start,
        callgrind_out,
    }
}

async fn generate_load(args: Vec<String>) {
    let seconds = args.iter().find_map(|a| a.parse::<u64>().ok()).unwrap_or(2);
    let rounds = args
        .iter()
        .find_map(|a| a.strip_prefix("rounds=")?.parse::<usize>().ok())
        .unwrap_or(3);
    // Letters of the scenarios to run (e.g. `bd`); `abcd` by default.
    let only = args
        .iter()
        .find(|a| !a.is_empty() && a.chars().all(|c| SCENARIOS.contains(c)))
        .cloned()
        .unwrap_or_else(|| "abcd".to_owned());
    let dir = tempfile::tempdir().expect("tempdir");
    let distributed_name = format!("HGLOAD_{}", std::process::id());
    let callgrind = args.iter().any(|a| a == "callgrind");
    let connections = args
        .iter()
        .find_map(|a| a.strip_prefix("conns=")?.parse::<usize>().ok())
        .unwrap_or(CONNECTIONS);

    // Every server first; then rounds that visit each in turn, so a change in
    // the machine's load during the run affects all scenarios alike.
    let servers: Vec<Server> = only
        .chars()
        .map(|letter| spawn_server(letter, dir.path(), &distributed_name, callgrind))
        .collect();
    for admin in servers.iter().filter_map(|server| server.admin) {
        follow_admin_stream(admin).await;
    }

    let counter = Arc::new(AtomicU64::new(0));
    let mut samples: Vec<Samples> = servers.iter().map(|_| Samples::default()).collect();
    // Requests sent to each server, warm-up included (the rounds run one at a
    // time, so the shared counter's progress during a round is that server's).
    let mut sent = vec![0u64; servers.len()];
    // Each round's CPU time per request, per server: a round disturbed by
    // the machine's other work shows as one outlier, where the run's total
    // takes it in whole.
    // (`None` for a round whose figure could not be read.)
    let mut round_cpu: Vec<Vec<Option<f64>>> = servers.iter().map(|_| Vec::new()).collect();
    for round in 0..rounds {
        // Each round starts one scenario further on, so that none is always
        // the one measured first.
        for i in (0..servers.len()).map(|k| (k + round) % servers.len()) {
            let server = &servers[i];
            let before = counter.load(Ordering::Relaxed);
            let cpu_before = cpu_time(server.child.id());
            load(server.addr, connections, seconds, &counter, &mut samples[i]).await;
            let sent_now = counter.load(Ordering::Relaxed) - before;
            sent[i] += sent_now;
            let used = match (cpu_before, cpu_time(server.child.id())) {
                (Some(start), Some(end)) if sent_now > 0 => {
                    Some(end.saturating_sub(start).as_secs_f64() / sent_now as f64)
                }
                _ => None,
            };
            round_cpu[i].push(used);
        }
    }
    let cpu_per_request: Vec<Option<Duration>> = servers
        .iter()
        .zip(&sent)
        .map(|(server, &sent)| {
            let used = cpu_time(server.child.id())?.checked_sub(server.cpu_at_start?)?;
            Some(used / u32::try_from(sent.max(1)).unwrap_or(u32::MAX))
        })
        .collect();

    println!(
        "\n{connections} connections, {BODY_SIZE} B signed bodies, {rounds} rounds of {seconds} s per scenario (after 0.5 s of warm-up each){}\n",
        if callgrind {
            ", servers under callgrind"
        } else {
            ""
        }
    );
    println!("req/s, p50 and p99: requests answered 200 only; non-200: the others\n");
    println!("| scenario | req/s | p50 | p99 | non-200 | CPU/request |");
    println!("|---|---:|---:|---:|---:|---:|");
    let mut rows = Vec::new();
    for ((server, samples), cpu) in servers.iter().zip(samples).zip(&cpu_per_request) {
        let f = samples.figures();
        println!(
            "| {} | {:.0} | {} | {} | {} | {} |",
            server.name,
            f.rps,
            millis(f.p50),
            millis(f.p99),
            f.errors,
            cpu.map_or_else(
                || "-".to_owned(),
                |d| format!("{:.1} µs", d.as_secs_f64() * 1e6)
            ),
        );
        rows.push((server.letter, f.rps, *cpu));
    }
    print_round_ratios(&servers, &round_cpu);
    // Callgrind writes its counts as each server exits.
    let callgrind_outs: Vec<_> = servers.iter().map(|s| s.callgrind_out.clone()).collect();
    drop(servers);
    if callgrind {
        println!("\n| scenario | instructions/request | relative to the first |");
        println!("|---|---:|---:|");
        let mut first = None;
        for ((letter, _, _), (out, sent)) in rows.iter().zip(callgrind_outs.iter().zip(&sent)) {
            let Some(total) = out.as_deref().and_then(callgrind_instructions) else {
                println!("| ({letter}) | - | - |");
                continue;
            };
            let per_request = total as f64 / (*sent).max(1) as f64;
            let base = *first.get_or_insert(per_request);
            println!(
                "| ({letter}) | {per_request:.0} | {:+.1}% |",
                (per_request / base - 1.0) * 100.0
            );
        }
        for out in callgrind_outs.iter().flatten() {
            println!("callgrind_annotate {}", out.display());
        }
    }
    if only.contains('g') {
        delete_redis_keys(&distributed_name).await;
    }
    if only.contains('h') {
        let client = async_nats::connect(NATS_URL).await.expect("nats");
        let js = async_nats::jetstream::new(client);
        for stream in [
            distributed_name.clone(),
            format!("{distributed_name}_DEAD"),
            format!("KV_{distributed_name}_STATE"),
        ] {
            let _ = js.delete_stream(&stream).await;
        }
    }
    if only.contains('n') {
        let (client, connection) = tokio_postgres::connect(POSTGRES_URL, tokio_postgres::NoTls)
            .await
            .expect("postgres");
        tokio::spawn(connection);
        client
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS \"{}\" CASCADE",
                distributed_name.to_lowercase()
            ))
            .await
            .expect("drop the load run's schema");
    }
    let rps = |letter: char| rows.iter().find(|r| r.0 == letter).map(|r| r.1);
    let cpu = |letter: char| rows.iter().find(|r| r.0 == letter).and_then(|r| r.2);
    if let (Some(a), Some(b), Some(c), Some(d)) = (rps('a'), rps('b'), rps('c'), rps('d')) {
        println!(
            "\n(b)/(d) = {:.2} (target >= 0.95); (c)/(b) = {:.2} (target >= 0.5); (d)/(a) = {:.2}",
            b / d,
            c / b,
            d / a
        );
    }
    for (plain, hardened) in [('c', 'k'), ('b', 'l')] {
        if let (Some(p), Some(h)) = (rps(plain), rps(hardened)) {
            print!(
                "({hardened})/({plain}) = {:.3} req/s (the hardened server, target >= 0.97)",
                h / p
            );
            if let (Some(p), Some(h)) = (cpu(plain), cpu(hardened)) {
                print!(", {:.3} CPU/request", h.as_secs_f64() / p.as_secs_f64());
            }
            println!();
        }
    }
    if let (Some(d), Some(i)) = (rps('d'), rps('i')) {
        println!("(i)/(d) = {:.2} (the layer's own cost)", i / d);
    }
    if let (Some(d), Some(j)) = (rps('d'), rps('j')) {
        println!("(j)/(d) = {:.2} (keeping the bodies in memory)", j / d);
    }
}
