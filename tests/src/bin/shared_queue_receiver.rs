//! One of several receivers sharing one distributed queue, for the
//! multi-receiver SIGKILL test (`tests/tests/shared_queue.rs`).
//!
//! `shared-queue-receiver <redis|nats> <url> <queue name> <handled-log>`: an
//! axum server with `WebhookLayer` in front of the Redis (key prefix = queue
//! name) or NATS (stream = queue name) queue, and a worker pool that appends
//! each handled delivery id to the log. Leases last 2 s, so the deliveries a
//! killed receiver held are soon taken over by the others. Prints
//! `LISTENING <addr>`, then runs until killed.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use hookgate_queue::{Delivery, HandlerError, Queue, WorkerPool};
use hookgate_queue_nats::NatsQueue;
use hookgate_queue_redis::RedisQueue;
use hookgate_receive::{Receiver, Source};
use hookgate_tower::WebhookLayer;
use hookgate_verify::{Scheme, Verifier};

/// The GitHub-style secret the parent signs with.
const SECRET: &str = "shared-queue-secret";
/// The lease: short, so a killed receiver's deliveries come back quickly.
const LEASE: Duration = Duration::from_secs(2);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: shared-queue-receiver <redis|nats> <url> <queue name> <handled-log>";
    let [_, kind, url, name, log] = &args[..] else {
        panic!("{usage}");
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let queue: Arc<dyn Queue> = match kind.as_str() {
            "redis" => Arc::new(
                RedisQueue::builder(url.as_str())
                    .prefix(name.as_str())
                    .build()
                    .expect("redis queue"),
            ),
            "nats" => Arc::new(
                NatsQueue::builder(url.as_str())
                    .stream(name.as_str())
                    .ack_wait(LEASE)
                    .connect()
                    .await
                    .expect("nats queue"),
            ),
            _ => panic!("{usage}"),
        };
        let log = Arc::new(
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .expect("open handled log"),
        );
        let pool = WorkerPool::builder(queue.clone(), record_to(log))
            .concurrency(16)
            .visibility_timeout(LEASE)
            .poll_interval(Duration::from_millis(5))
            .build();
        let receiver = Receiver::builder()
            .queue(queue)
            .source(
                Source::builder(
                    "shared",
                    "/hooks/shared",
                    Verifier::new(Scheme::Github, SECRET).expect("secret"),
                )
                .build()
                .expect("source"),
            )
            .build()
            .expect("receiver");
        let app = axum::Router::new().layer(WebhookLayer::new(receiver));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        println!("LISTENING {}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        pool.run(std::future::pending(), Duration::from_secs(1))
            .await;
    });
}

/// Appends the delivery id to the log, one `write` per line, so a SIGKILL
/// never leaves half a line.
fn record_to(
    log: Arc<File>,
) -> impl Fn(Delivery) -> std::future::Ready<Result<(), HandlerError>> + Send + Sync + 'static {
    move |delivery: Delivery| {
        let line = format!("{}\n", delivery.delivery_id);
        std::future::ready(
            (&*log)
                .write_all(line.as_bytes())
                .map_err(HandlerError::from),
        )
    }
}
