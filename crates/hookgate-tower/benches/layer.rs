//! In-process CPU cost of one webhook request (no sockets): axum router with
//! `WebhookLayer` and the in-memory queue (or the load run's channel and
//! keeping queues), against the hand-written handler (read body, decode the
//! given signature, HMAC, constant-time compare, bounded mpsc; the same (d)
//! as the load run's) and bare axum.
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
use hookgate_queue::{Enqueue, MemoryQueue};
use hookgate_receive::{Receiver, Source};
use hookgate_tower::WebhookLayer;
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
    let receiver = Receiver::builder()
        .queue(queue)
        .source(
            Source::builder(
                "github",
                PATH,
                hookgate_verify::Verifier::new(hookgate_verify::Scheme::GitHub, SECRET)
                    .expect("secret"),
            )
            .build()
            .expect("source"),
        )
        .build()
        .expect("receiver");
    Router::new().layer(WebhookLayer::new(receiver))
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

    let layered_keeping = layered(Arc::new(keeping_queue()));
    check(&layered_keeping, true);
    group.bench_function("WebhookLayer, queue keeping each body in a Vec", |b| {
        b.to_async(&rt).iter(|| {
            let req = signed(counter.fetch_add(1, Ordering::Relaxed));
            layered_keeping.clone().oneshot(req)
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
