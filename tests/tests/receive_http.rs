//! Every response path of both integrations, through a real server on
//! 127.0.0.1 and a real HTTP client: axum + `WebhookLayer`, and actix-web +
//! `Webhook`, configured identically and checked by the same table.

mod receive_common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hookgate_events::{ClaravineEvent, Event};
use hookgate_queue::{Enqueue, MemoryQueue};
use hookgate_receive::testing::{MisbehavingQueue, Misbehaviour};
use receive_common::{
    check_every_path, check_refusing_queue, check_stalled_queue, receiver, typed_answer,
};

/// How the full queue of the refusing-queue tests asks senders to wait.
const FULL_RETRY_AFTER: Duration = Duration::from_secs(7);

async fn axum_server(queue: Arc<dyn Enqueue>) -> SocketAddr {
    use axum::routing::{get, post};
    let app = axum::Router::new()
        .route("/health", get(|| async { "ok" }))
        .route(
            "/hooks/inline",
            post(|hook: hookgate_tower::VerifiedBytes| async move {
                let d = hook.delivery();
                format!(
                    "verified {} {} {}",
                    d.source(),
                    d.delivery_id(),
                    d.body().len()
                )
            }),
        )
        .route(
            "/hooks/typed",
            post(
                |hook: hookgate_tower::Verified<ClaravineEvent>| async move {
                    typed_answer(hook.event().event_name().as_ref(), hook.delivery().source())
                },
            ),
        )
        .layer(hookgate_tower::WebhookLayer::new(receiver(queue)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn actix_server(queue: Arc<dyn Enqueue>) -> SocketAddr {
    use actix_web::{App, HttpResponse, HttpServer, web};
    let receiver = receiver(queue);
    let server = HttpServer::new(move || {
        App::new()
            .wrap(hookgate_actix::Webhook::new(receiver.clone()))
            .route("/health", web::get().to(|| async { "ok" }))
            .route(
                "/hooks/inline",
                web::post().to(|hook: hookgate_actix::VerifiedBytes| async move {
                    let d = hook.delivery();
                    HttpResponse::Ok().body(format!(
                        "verified {} {} {}",
                        d.source(),
                        d.delivery_id(),
                        d.body().len()
                    ))
                }),
            )
            .route(
                "/hooks/typed",
                web::post().to(
                    |hook: hookgate_actix::Verified<ClaravineEvent>| async move {
                        HttpResponse::Ok().body(typed_answer(
                            hook.event().event_name().as_ref(),
                            hook.delivery().source(),
                        ))
                    },
                ),
            )
    })
    .workers(1)
    .disable_signals()
    .bind(("127.0.0.1", 0))
    .unwrap();
    let addr = server.addrs()[0];
    actix_web::rt::spawn(server.run());
    addr
}

#[tokio::test]
async fn axum_with_webhook_layer_answers_every_path() {
    let queue = Arc::new(MemoryQueue::new());
    let addr = axum_server(queue.clone()).await;
    check_every_path(addr, &queue).await;
}

#[tokio::test]
async fn axum_with_a_stalled_queue_answers_503_with_retry_after() {
    let stalled = Arc::new(MisbehavingQueue::new(Misbehaviour::Stall));
    let addr = axum_server(stalled.clone()).await;
    check_stalled_queue(addr).await;
    assert_eq!(stalled.attempts(), 1);
}

#[tokio::test]
async fn axum_with_a_full_queue_answers_503_with_the_queues_retry_hint() {
    let full = Arc::new(MisbehavingQueue::new(Misbehaviour::Full(FULL_RETRY_AFTER)));
    let addr = axum_server(full.clone()).await;
    check_refusing_queue(addr, &FULL_RETRY_AFTER.as_secs().to_string()).await;
    assert_eq!(full.attempts(), 1);
}

#[tokio::test]
async fn axum_with_a_disk_error_answers_503_with_retry_after() {
    let broken = Arc::new(MisbehavingQueue::new(Misbehaviour::StorageError));
    let addr = axum_server(broken.clone()).await;
    check_refusing_queue(addr, "1").await;
    assert_eq!(broken.attempts(), 1);
}

#[actix_web::test]
async fn actix_with_webhook_middleware_answers_every_path() {
    let queue = Arc::new(MemoryQueue::new());
    let addr = actix_server(queue.clone());
    check_every_path(addr, &queue).await;
}

#[actix_web::test]
async fn actix_with_a_stalled_queue_answers_503_with_retry_after() {
    let stalled = Arc::new(MisbehavingQueue::new(Misbehaviour::Stall));
    let addr = actix_server(stalled.clone());
    check_stalled_queue(addr).await;
    assert_eq!(stalled.attempts(), 1);
}

#[actix_web::test]
async fn actix_with_a_full_queue_answers_503_with_the_queues_retry_hint() {
    let full = Arc::new(MisbehavingQueue::new(Misbehaviour::Full(FULL_RETRY_AFTER)));
    let addr = actix_server(full.clone());
    check_refusing_queue(addr, &FULL_RETRY_AFTER.as_secs().to_string()).await;
    assert_eq!(full.attempts(), 1);
}

#[actix_web::test]
async fn actix_with_a_disk_error_answers_503_with_retry_after() {
    let broken = Arc::new(MisbehavingQueue::new(Misbehaviour::StorageError));
    let addr = actix_server(broken.clone());
    check_refusing_queue(addr, "1").await;
    assert_eq!(broken.attempts(), 1);
}
