//! `max_backlog_age` through a real server (axum + `WebhookLayer`): while the
//! oldest waiting delivery is older than the bound, deliveries are refused
//! with 503 and `Retry-After` (nothing queued); once the workers caught up,
//! they are accepted again.

mod receive_common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hookgate_queue::{BacklogLimit, LeaseRequest, ManualClock, MemoryQueue, Queue};
use hookgate_receive::{Receiver, Source};
use hookgate_verify::{Scheme, Verifier};
use receive_common::{Answer, CLARAVINE_TOKEN, claravine_body, send};

async fn server(queue: Arc<dyn Queue>) -> SocketAddr {
    let verifier = Verifier::new(Scheme::Claravine, CLARAVINE_TOKEN).unwrap();
    let receiver = Receiver::builder()
        .queue(queue)
        .source(
            Source::builder("claravine", "/hooks/claravine", verifier)
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_backlog_answers_503_with_retry_after_until_it_is_handled() {
    let clock = ManualClock::default();
    let memory = Arc::new(MemoryQueue::new().with_clock(clock.clone()));
    let queue = BacklogLimit::new(Arc::clone(&memory), Duration::from_secs(60))
        .retry_after(Duration::from_secs(7))
        .check_interval(Duration::ZERO);
    let addr = server(Arc::new(queue)).await;
    let client = reqwest::Client::new();
    let mut next = 0;

    next += 1;
    assert_eq!(deliver(&client, addr, next).await.status, 200);
    // Nobody handles it for a minute and a second.
    clock.advance(Duration::from_secs(61));
    let refused = until_status(&client, addr, &mut next, 503).await;
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
