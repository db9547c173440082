//! The child process of the HTTP crash test (`tests/tests/http_crash.rs`).
//!
//! `http-crash-child serve <db> <handled-log>`: an axum server with
//! `WebhookLayer` in front of the SQLite queue (fsync before the ACK) on
//! 127.0.0.1, and a worker pool that appends each handled delivery id to the
//! log. Prints `LISTENING <addr>`, then runs until killed.
//!
//! `http-crash-child drain <db> <handled-log>`: the restart after the kill.
//! First handles everything the queue holds before accepting any request,
//! and prints `RECOVERED <handled>`: whatever got a 2xx must be handled by
//! then. Then serves (without workers) for the senders' retries, printing
//! `LISTENING <addr>`; once stdin closes, handles everything left, prints
//! `DRAINED <handled>` and exits (non-zero if anything is left).

use std::fs::OpenOptions;
use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use hookgate_queue::{Queue, SqliteQueue, WorkerPool};
use hookgate_receive::{Receiver, Source};
use hookgate_tests::record_to;
use hookgate_tower::WebhookLayer;
use hookgate_verify::{Scheme, Verifier};

/// The GitHub-style secret the parent signs with.
const SECRET: &str = "crash-test-secret";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: http-crash-child serve|drain <db> <handled-log>";
    let mode = args.get(1).expect(usage).clone();
    let db = args.get(2).expect(usage).clone();
    let log = args.get(3).expect(usage).clone();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let queue: Arc<dyn Queue> = Arc::new(SqliteQueue::open(&db).expect("open queue"));
        let log = Arc::new(
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log)
                .expect("open handled log"),
        );
        let pool = WorkerPool::builder(queue.clone(), record_to(log))
            .concurrency(16)
            .poll_interval(Duration::from_millis(5))
            .build();

        if mode == "drain" {
            // Nothing is sent before this: acknowledged deliveries must all
            // come out of the queue the killed process left behind.
            let report = pool.process_ready().await.expect("drain after restart");
            println!("RECOVERED {}", report.handled);
        }

        let receiver = Receiver::builder()
            .queue(queue.clone())
            .source(
                Source::builder(
                    "crash",
                    "/hooks/crash",
                    Verifier::new(Scheme::GitHub, SECRET).expect("secret"),
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
        let server = tokio::spawn(async move { axum::serve(listener, app).await });

        match mode.as_str() {
            "serve" => {
                pool.run(std::future::pending(), Duration::from_secs(1))
                    .await;
            }
            "drain" => {
                // The parent closes stdin once every retry was answered.
                tokio::task::spawn_blocking(|| {
                    let _ = std::io::stdin().read_to_end(&mut Vec::new());
                })
                .await
                .expect("stdin reader");
                server.abort();
                let report = pool.process_ready().await.expect("drain");
                println!("DRAINED {}", report.handled);
                let stats = queue.stats().await.expect("stats");
                assert_eq!(stats.depth() + stats.dead, 0, "everything handled");
            }
            _ => panic!("{usage}"),
        }
    });
}
