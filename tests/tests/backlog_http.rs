//! `max_backlog_age` through a real server (axum + `WebhookLayer`): while the
//! oldest waiting delivery is older than the bound, deliveries are refused
//! with 503 and `Retry-After` (nothing queued), before their body is read;
//! once the workers caught up, they are accepted again.

mod receive_common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hookgate_queue::{BacklogLimit, LeaseRequest, ManualClock, MemoryQueue, Queue};
use hookgate_receive::{Receiver, Source};
use hookgate_verify::{Scheme, Verifier};
use receive_common::{Answer, CLARAVINE_TOKEN, claravine_body, read_answer, send};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long the source waits for a body: longer than any test, so that a
/// server that waited for a body before refusing would never answer.
const READ_TIMEOUT: Duration = Duration::from_secs(3600);
/// How long a test waits for an answer that must come at once: a guard
/// against hanging on a server that waits for the body, not a measurement.
const GUARD: Duration = Duration::from_secs(60);

async fn server(queue: Arc<dyn Queue>) -> SocketAddr {
    let verifier = Verifier::new(Scheme::Claravine, CLARAVINE_TOKEN).unwrap();
    let receiver = Receiver::builder()
        .queue(queue)
        .source(
            Source::builder("claravine", "/hooks/claravine", verifier)
                .read_timeout(READ_TIMEOUT)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let app = axum::Router::new().layer(hookgate_tower::WebhookLayer::new(receiver));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

async fn deliver(client: &reqwest::Client, addr: SocketAddr, n: usize) -> Answer {
    let req = client
        .post(format!("http://{addr}/hooks/claravine"))
        .header("authorization", format!("Bearer {CLARAVINE_TOKEN}"))
        .header("content-type", "application/json")
        .body(claravine_body(&format!("list-{n}")));
    send(client, req).await
}

/// Sends deliveries until one is answered `status` (the age is read in the
/// background, so the answer changes a request or two after the queue's
/// state does); returns that answer and how many were sent.
async fn until_status(
    client: &reqwest::Client,
    addr: SocketAddr,
    next: &mut usize,
    status: u16,
) -> Answer {
    for _ in 0..200 {
        *next += 1;
        let answer = deliver(client, addr, *next).await;
        if answer.status == status {
            return answer;
        }
        tokio::task::yield_now().await;
    }
    panic!("never answered {status}");
}

/// A server whose queue refuses from now on, since its only delivery has
/// waited a minute and a second for a bound of a minute (`Retry-After`: 7 s);
/// the queue itself, and how many deliveries were sent.
async fn refusing_server() -> (SocketAddr, Arc<MemoryQueue>, usize) {
    let clock = ManualClock::default();
    let memory = Arc::new(MemoryQueue::new().with_clock(clock.clone()));
    let queue = BacklogLimit::new(Arc::clone(&memory), Duration::from_secs(60))
        .retry_after(Duration::from_secs(7))
        .check_interval(Duration::ZERO);
    let addr = server(Arc::new(queue)).await;
    let client = reqwest::Client::new();
    let mut next = 1;
    assert_eq!(deliver(&client, addr, next).await.status, 200);
    // Nobody handles it for a minute and a second.
    clock.advance(Duration::from_secs(61));
    until_status(&client, addr, &mut next, 503).await;
    (addr, memory, next)
}

/// A signed delivery's request head (announcing its body's length) and body.
fn request(n: usize) -> (String, String) {
    let body = claravine_body(&format!("raw-{n}"));
    let head = format!(
        "POST /hooks/claravine HTTP/1.1\r\nhost: 127.0.0.1\r\n\
         authorization: Bearer {CLARAVINE_TOKEN}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n",
        body.len()
    );
    (head, body)
}

fn assert_refused(answer: &Answer) {
    assert_eq!(answer.status, 503, "{answer:?}");
    assert_eq!(answer.headers["retry-after"], "7", "{answer:?}");
    assert_eq!(
        answer.problem()["type"],
        "urn:hookgate:problem:queue_unavailable"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_delivery_is_answered_without_its_body_and_the_connection_stays_sound() {
    let (addr, memory, _) = refusing_server().await;
    let depth = memory.stats().await.unwrap().depth();

    // Whole requests on one keep-alive connection: each refused, the body
    // the server did not read is skipped (it had arrived with the head), and
    // the next request on the connection is read as a request.
    let mut conn = TcpStream::connect(addr).await.unwrap();
    for n in 0..3 {
        let (head, body) = request(n);
        conn.write_all(format!("{head}{body}").as_bytes())
            .await
            .unwrap();
        let answer = read_answer(&mut conn)
            .await
            .unwrap_or_else(|| panic!("request {n} on the kept connection was not answered"));
        assert_refused(&answer);
    }

    // The head alone, announcing a body that is never sent: refused at once
    // (a server that read the body first would wait for it for an hour),
    // then the connection is closed: what follows on it would be the unread
    // body, not a request.
    let mut conn = TcpStream::connect(addr).await.unwrap();
    let (head, _) = request(3);
    conn.write_all(head.as_bytes()).await.unwrap();
    let answer = tokio::time::timeout(GUARD, read_answer(&mut conn))
        .await
        .expect("answered without waiting for the body")
        .expect("an answer before the connection closed");
    assert_refused(&answer);
    let mut rest = [0u8; 64];
    let after = tokio::time::timeout(GUARD, conn.read(&mut rest))
        .await
        .expect("the connection is closed, not left waiting for the body");
    assert!(
        matches!(after, Ok(0) | Err(_)),
        "nothing follows the refusal: {after:?}"
    );

    assert_eq!(
        memory.stats().await.unwrap().depth(),
        depth,
        "a refused delivery is not queued"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_backlog_answers_503_with_retry_after_until_it_is_handled() {
    let (addr, memory, mut next) = refusing_server().await;
    let client = reqwest::Client::new();
    next += 1;
    let refused = deliver(&client, addr, next).await;
    assert_eq!(refused.status, 503, "{refused:?}");
    assert_eq!(refused.headers["retry-after"], "7", "{refused:?}");
    assert_eq!(
        refused.problem()["type"],
        "urn:hookgate:problem:queue_unavailable"
    );
    let depth_while_refusing = memory.stats().await.unwrap().depth();
    next += 1;
    assert_eq!(deliver(&client, addr, next).await.status, 503);
    assert_eq!(
        memory.stats().await.unwrap().depth(),
        depth_while_refusing,
        "a refused delivery is not queued"
    );

    // The workers catch up.
    let leased = memory
        .lease(LeaseRequest::new(10_000, Duration::from_secs(30)))
        .await
        .unwrap();
    for leased in leased {
        memory.ack(leased.lease).await.unwrap();
    }
    until_status(&client, addr, &mut next, 200).await;
}
