//! In-process CPU cost of one webhook request (no sockets): axum router with
//! `WebhookLayer` and the in-memory queue (or the load run's channel and
//! keeping queues), against the hand-written handler (read body, decode the
//! given signature, HMAC, constant-time compare, bounded mpsc; the same (d)
//! as the load run's) and bare axum. Two more rows put the layer's JSON
//! reads in figures, on the channel queue: a Claravine delivery (bearer
//! token, the token repeated in the body, the event named from the body, as
//! `hookgate serve` configures it) and a Clarity route with three required
//! context fields. One row has admission control configured on the
//! channel queue's source, never reached: what checking it costs.
//!
//! Run with: `cargo bench -p hookgate-tower --bench layer -- --warm-up-time 1 --measurement-time 3`

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{Request, StatusCode};
use axum::routing::post;
use common::{SECRET, channel_queue, hand_written, keeping_queue, sign};
use criterion::{Criterion, criterion_group, criterion_main};
use hookgate_events::Sender;
use hookgate_queue::{Enqueue, MemoryQueue};
use hookgate_receive::{RateLimit, Receiver, Source};
use hookgate_tower::WebhookLayer;
use hookgate_verify::{Scheme, Verifier};
use tower::ServiceExt;

mod common;

const PATH: &str = "/hooks/github";

fn signed(n: u64) -> Request<Body> {
    let mut body = format!("{{\"action\":\"opened\",\"n\":{n},\"pad\":\"").into_bytes();
    body.resize(1022, b'x');
    body.extend_from_slice(b"\"}");
    let signature = sign(&body);
    Request::post(PATH)
        .header("content-type", "application/json")
        .header("content-length", body.len())
        .header("x-github-event", "issues")
        .header("x-github-delivery", format!("delivery-{n}"))
        .header("x-hub-signature-256", signature)
        .body(Body::from(body))
        .expect("request")
}

fn layered(queue: Arc<dyn Enqueue>) -> Router {
    let source = Source::builder(
        "github",
        PATH,
        Verifier::new(Scheme::GitHub, SECRET).expect("secret"),
    )
    .build()
    .expect("source");
    layered_source(queue, source)
}

fn layered_source(queue: Arc<dyn Enqueue>, source: Source) -> Router {
    let receiver = Receiver::builder()
        .queue(queue)
        .source(source)
        .build()
        .expect("receiver");
    Router::new().layer(WebhookLayer::new(receiver))
}

const CLARAVINE_PATH: &str = "/hooks/claravine";
const CLARAVINE_TOKEN: &str = "claravine-client-secret";

/// A Claravine notification of about 1 KiB (its documented fields, a long
/// unknown one, and the token last, where Claravine puts it), unique per `n`.
fn claravine(n: u64, token: &str) -> Request<Body> {
    let mut body = format!(
        "{{\"event\":\"submission\",\"event_time\":1770914863,\"object_id\":\"26679e11-820c-407b-9c5a-17ed1181a81a\",\
         \"href\":\"https://api.claravine.com/v1/datasets/fe11a4d2/transactions/26679e11/data\",\
         \"operation\":\"Completed\",\"version\":1,\"n\":{n},\"notes\":\""
    )
    .into_bytes();
    let tail = format!("\",\"token\":\"{CLARAVINE_TOKEN}\"}}");
    body.resize(1024 - tail.len(), b'x');
    body.extend_from_slice(tail.as_bytes());
    Request::post(CLARAVINE_PATH)
        .header("content-type", "application/json")
        .header("content-length", body.len())
        .header("authorization", format!("Bearer {token}"))
        .body(Body::from(body))
        .expect("request")
}

const CLARITY_PATH: &str = "/hooks/clarity";
const CLARITY_TOKEN: &str = "clarity-route-token";

/// A Clarity Provision Entitlement trigger of about 1 KiB (its context
/// fields, then a long `meta`), unique per `n`.
fn clarity(n: u64, token: &str) -> Request<Body> {
    let mut body = format!(
        "{{\"app_identifier\":\"salesforce\",\"identity_id\":\"8f14e45f-ceea-467f-a8f5-1c3c3e0c2a9b\",\
         \"entitlement_id\":\"c9f0f895-{n}\",\"grant_type\":\"temporary\",\"meta\":{{\"ticket\":\""
    )
    .into_bytes();
    body.resize(1024 - 3, b'x');
    body.extend_from_slice(b"\"}}");
    Request::post(CLARITY_PATH)
        .header("content-type", "application/json")
        .header("content-length", body.len())
        .header("x-clarity-webhook-token", token)
        .body(Body::from(body))
        .expect("request")
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("one request, 1 KiB signed body");
    let counter = Arc::new(AtomicU64::new(0));
    // Before timing a scenario: it accepts a signed delivery and, unless it
    // does not verify (bare axum), refuses one whose body was changed. A
    // baseline that refused everything would look fast for nothing.
    let status = |app: &Router, req: Request<Body>| {
        rt.block_on(app.clone().oneshot(req))
            .expect("infallible")
            .status()
    };
    let check = |app: &Router, verifies: bool| {
        let n = counter.fetch_add(1, Ordering::Relaxed);
        assert_eq!(status(app, signed(n)), StatusCode::OK);
        if verifies {
            let (parts, _) = signed(n + 1_000_000_000).into_parts();
            let forged = Request::from_parts(parts, Body::from(vec![b'x'; 1024]));
            assert_eq!(status(app, forged), StatusCode::UNAUTHORIZED);
        }
    };

    let bare = Router::new().route(PATH, post(|_body: Bytes| async { StatusCode::OK }));
    check(&bare, false);
    group.bench_function("bare axum", |b| {
        b.to_async(&rt).iter(|| {
            let req = signed(counter.fetch_add(1, Ordering::Relaxed));
            bare.clone().oneshot(req)
        })
    });

    let layered_memory = layered(Arc::new(MemoryQueue::new()));
    check(&layered_memory, true);
    group.bench_function("WebhookLayer, in-memory queue", |b| {
        b.to_async(&rt).iter(|| {
            let req = signed(counter.fetch_add(1, Ordering::Relaxed));
            layered_memory.clone().oneshot(req)
        })
    });

    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(1 << 20);
    rt.spawn(async move { while rx.recv().await.is_some() {} });
    let layered_channel = layered(Arc::new(channel_queue(tx)));
    check(&layered_channel, true);
    group.bench_function("WebhookLayer, channel queue", |b| {
        b.to_async(&rt).iter(|| {
            let req = signed(counter.fetch_add(1, Ordering::Relaxed));
            layered_channel.clone().oneshot(req)
        })
    });

    // The same with admission control configured but never reached: what
    // checking `max_in_flight` and the rate costs on every request.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(1 << 20);
    rt.spawn(async move { while rx.recv().await.is_some() {} });
    let admission = Source::builder(
        "github",
        PATH,
        Verifier::new(Scheme::GitHub, SECRET).expect("secret"),
    )
    .max_in_flight(4096)
    .rate_limit(
        RateLimit::per_second(1_000_000_000)
            .and_then(|limit| limit.with_burst(1_000_000_000))
            .expect("rate"),
    )
    .build()
    .expect("source");
    let layered_admission = layered_source(Arc::new(channel_queue(tx)), admission);
    check(&layered_admission, true);
    group.bench_function(
        "WebhookLayer, channel queue, admission control not reached",
        |b| {
            b.to_async(&rt).iter(|| {
                let req = signed(counter.fetch_add(1, Ordering::Relaxed));
                layered_admission.clone().oneshot(req)
            })
        },
    );

    let layered_keeping = layered(Arc::new(keeping_queue()));
    check(&layered_keeping, true);
    group.bench_function("WebhookLayer, queue keeping each body in a Vec", |b| {
        b.to_async(&rt).iter(|| {
            let req = signed(counter.fetch_add(1, Ordering::Relaxed));
            layered_keeping.clone().oneshot(req)
        })
    });

    // The JSON rows: accepted when the token is right, refused (401) when not.
    let check_json = |app: &Router, request: fn(u64, &str) -> Request<Body>, token: &str| {
        let n = counter.fetch_add(1, Ordering::Relaxed);
        assert_eq!(status(app, request(n, token)), StatusCode::OK);
        assert_eq!(status(app, request(n, "guessed")), StatusCode::UNAUTHORIZED);
    };

    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(1 << 20);
    rt.spawn(async move { while rx.recv().await.is_some() {} });
    let claravine_source = Source::builder(
        "claravine",
        CLARAVINE_PATH,
        Verifier::new(Scheme::Claravine, CLARAVINE_TOKEN).expect("token"),
    )
    .sender(Sender::Claravine)
    .build()
    .expect("source");
    let layered_claravine = layered_source(Arc::new(channel_queue(tx)), claravine_source);
    check_json(&layered_claravine, claravine, CLARAVINE_TOKEN);
    group.bench_function("WebhookLayer, Claravine delivery, channel queue", |b| {
        b.to_async(&rt).iter(|| {
            let req = claravine(counter.fetch_add(1, Ordering::Relaxed), CLARAVINE_TOKEN);
            layered_claravine.clone().oneshot(req)
        })
    });

    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(1 << 20);
    rt.spawn(async move { while rx.recv().await.is_some() {} });
    let clarity_source = Source::builder(
        "clarity",
        CLARITY_PATH,
        Verifier::new(Scheme::Clarity, CLARITY_TOKEN).expect("token"),
    )
    .require_context(["app_identifier", "identity_id", "entitlement_id"])
    .build()
    .expect("source");
    let layered_clarity = layered_source(Arc::new(channel_queue(tx)), clarity_source);
    check_json(&layered_clarity, clarity, CLARITY_TOKEN);
    group.bench_function("WebhookLayer, Clarity route, channel queue", |b| {
        b.to_async(&rt).iter(|| {
            let req = clarity(counter.fetch_add(1, Ordering::Relaxed), CLARITY_TOKEN);
            layered_clarity.clone().oneshot(req)
        })
    });

    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(1 << 20);
    rt.spawn(async move { while rx.recv().await.is_some() {} });
    let hand = Router::new().route(PATH, post(hand_written)).with_state(tx);
    check(&hand, true);
    group.bench_function("hand-written handler", |b| {
        b.to_async(&rt).iter(|| {
            let req = signed(counter.fetch_add(1, Ordering::Relaxed));
            hand.clone().oneshot(req)
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
