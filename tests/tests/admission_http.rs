//! Admission control per source through real servers on 127.0.0.1 (axum +
//! `WebhookLayer`, actix-web + `Webhook`): a source at its `max_in_flight` or
//! over its rate gets 503 with `Retry-After` and nothing is queued, while
//! another source's deliveries are still answered 2xx.

mod receive_common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hookgate_queue::{MemoryQueue, Queue};
use hookgate_receive::{RateLimit, Receiver, Source};
use hookgate_verify::{Scheme, Verifier};
use receive_common::{Answer, CLARAVINE_TOKEN, claravine_body, send};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// Requests of `/hooks/held` received at once.
const HELD_LIMIT: usize = 2;
/// The burst of `/hooks/limited`, whose rate (one an hour) adds nothing
/// during a test.
const LIMITED_BURST: u32 = 3;

/// Three Claravine sources: `held` (at most [`HELD_LIMIT`] in flight),
/// `limited` ([`LIMITED_BURST`], then one an hour) and `calm`, whose limits
/// are configured but never reached.
fn receiver(queue: Arc<dyn Queue>) -> Receiver {
    let claravine = || Verifier::new(Scheme::Claravine, CLARAVINE_TOKEN).unwrap();
    Receiver::builder()
        .queue(queue)
        .source(
            Source::builder("held", "/hooks/held", claravine())
                .max_in_flight(HELD_LIMIT)
                // The held requests must stay in flight for the whole test.
                .read_timeout(Duration::from_secs(60))
                .retry_after(Duration::from_secs(2))
                .build()
                .unwrap(),
        )
        .source(
            Source::builder("limited", "/hooks/limited", claravine())
                .rate_limit(
                    RateLimit::new(1, Duration::from_secs(3600))
                        .unwrap()
                        .with_burst(LIMITED_BURST)
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .source(
            Source::builder("calm", "/hooks/calm", claravine())
                .max_in_flight(64)
                .rate_limit("100000/s".parse().unwrap())
                .build()
                .unwrap(),
        )
        .build()
        .unwrap()
}

async fn axum_server(queue: Arc<dyn Queue>) -> SocketAddr {
    let app = axum::Router::new().layer(hookgate_tower::WebhookLayer::new(receiver(queue)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn actix_server(queue: Arc<dyn Queue>) -> SocketAddr {
    use actix_web::{App, HttpServer};
    let receiver = receiver(queue);
    let server =
        HttpServer::new(move || App::new().wrap(hookgate_actix::Webhook::new(receiver.clone())))
            .workers(1)
            .disable_signals()
            .bind(("127.0.0.1", 0))
            .unwrap();
    let addr = server.addrs()[0];
    actix_web::rt::spawn(server.run());
    addr
}

/// A signed Claravine delivery to `path`, unique per `n`.
async fn deliver(client: &reqwest::Client, addr: SocketAddr, path: &str, n: usize) -> Answer {
    let req = client
        .post(format!("http://{addr}{path}"))
        .header("authorization", format!("Bearer {CLARAVINE_TOKEN}"))
        .header("content-type", "application/json")
        .body(claravine_body(&format!("{path}-{n}")));
    send(client, req).await
}

/// A 503 of admission control: `Retry-After`, and the problem `type` of `reason`.
fn assert_not_admitted(answer: &Answer, reason: &str) {
    assert_eq!(answer.status, 503, "{answer:?}");
    let retry_after: u64 = answer.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1, "{answer:?}");
    assert_eq!(
        answer.problem()["type"],
        format!("urn:hookgate:problem:{reason}")
    );
}

/// A request to `/hooks/held` whose body stops half-way: it stays in flight
/// as long as the connection is open.
async fn hold(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /hooks/held HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer {CLARAVINE_TOKEN}\r\ncontent-length: 100\r\n\r\n{{\"event\":"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

async fn check_in_flight_limit(addr: SocketAddr, queue: &MemoryQueue) {
    let client = reqwest::Client::new();
    let held: Vec<TcpStream> = hold_all(addr).await;
    // The held requests are admitted when the server has read their heads;
    // until then a delivery may still get in (and is answered 200).
    let mut n = 0;
    let refused = loop {
        n += 1;
        assert!(n < 500, "the held requests never filled the source");
        let answer = deliver(&client, addr, "/hooks/held", n).await;
        if answer.status != 200 {
            break answer;
        }
    };
    assert_not_admitted(&refused, "too_many_in_flight");
    assert_eq!(refused.headers["retry-after"], "2");
    let queued = queue.stats().await.unwrap().depth();
    assert_eq!(queued, n as u64 - 1, "the refused delivery was not queued");

    // While `held` stays full, `calm` answers every delivery 2xx, and `held`
    // refuses every one.
    for i in 0..20 {
        let answer = deliver(&client, addr, "/hooks/calm", i).await;
        assert_eq!(answer.status, 200, "{answer:?}");
        assert_not_admitted(
            &deliver(&client, addr, "/hooks/held", 1000 + i).await,
            "too_many_in_flight",
        );
    }
    assert_eq!(queue.stats().await.unwrap().depth(), queued + 20);

    // Closing the held connections gives their places back.
    drop(held);
    let mut attempts = 0;
    loop {
        attempts += 1;
        assert!(
            attempts < 500,
            "the places of the closed requests never came back"
        );
        let answer = deliver(&client, addr, "/hooks/held", 2000 + attempts).await;
        if answer.status == 200 {
            break;
        }
        assert_not_admitted(&answer, "too_many_in_flight");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn hold_all(addr: SocketAddr) -> Vec<TcpStream> {
    let mut held = Vec::new();
    for _ in 0..HELD_LIMIT {
        held.push(hold(addr).await);
    }
    held
}

async fn check_rate_limit_under_flood(addr: SocketAddr, queue: &MemoryQueue) {
    let client = reqwest::Client::new();
    // Eight senders flood `limited` with 200 deliveries at once...
    let flood: Vec<_> = (0..8)
        .map(|sender| {
            let client = client.clone();
            tokio::spawn(async move {
                let mut answers = Vec::new();
                for i in 0..25 {
                    answers.push(deliver(&client, addr, "/hooks/limited", sender * 100 + i).await);
                }
                answers
            })
        })
        .collect();
    // ... while `calm` answers every one of its deliveries 2xx.
    for i in 0..20 {
        let answer = deliver(&client, addr, "/hooks/calm", 5000 + i).await;
        assert_eq!(answer.status, 200, "{answer:?}");
    }
    let mut accepted = 0;
    for sender in flood {
        for answer in sender.await.unwrap() {
            if answer.status == 200 {
                accepted += 1;
            } else {
                assert_not_admitted(&answer, "rate_limited");
                // One an hour: the next admission is most of an hour away.
                let wait: u64 = answer.headers["retry-after"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert!(wait > 3000, "{answer:?}");
            }
        }
    }
    assert_eq!(accepted, LIMITED_BURST, "the burst, and nothing more");
    assert_eq!(
        queue.stats().await.unwrap().depth(),
        u64::from(LIMITED_BURST) + 20,
        "nothing refused was queued"
    );
}

#[tokio::test]
async fn axum_a_source_at_its_in_flight_limit_refuses_and_another_answers_2xx() {
    let queue = Arc::new(MemoryQueue::new());
    let addr = axum_server(queue.clone()).await;
    check_in_flight_limit(addr, &queue).await;
}

#[tokio::test]
async fn axum_a_flood_over_one_sources_rate_does_not_starve_another() {
    let queue = Arc::new(MemoryQueue::new());
    let addr = axum_server(queue.clone()).await;
    check_rate_limit_under_flood(addr, &queue).await;
}

#[actix_web::test]
async fn actix_a_source_at_its_in_flight_limit_refuses_and_another_answers_2xx() {
    let queue = Arc::new(MemoryQueue::new());
    let addr = actix_server(queue.clone());
    check_in_flight_limit(addr, &queue).await;
}

#[actix_web::test]
async fn actix_a_flood_over_one_sources_rate_does_not_starve_another() {
    let queue = Arc::new(MemoryQueue::new());
    let addr = actix_server(queue.clone());
    check_rate_limit_under_flood(addr, &queue).await;
}
