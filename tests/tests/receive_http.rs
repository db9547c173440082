//! Every response path of both integrations, through a real server on
//! 127.0.0.1 and a real HTTP client: axum + `WebhookLayer`, and actix-web +
//! `Webhook`, configured identically and checked by the same table.

mod receive_common;

use std::net::SocketAddr;
use std::sync::Arc;

use hookgate_queue::{MemoryQueue, Queue};
use hookgate_receive::testing::{MisbehavingQueue, Misbehaviour};
use receive_common::{check_every_path, check_stalled_queue, receiver};

async fn axum_server(queue: Arc<dyn Queue>) -> SocketAddr {
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
        .layer(hookgate_tower::WebhookLayer::new(receiver(queue)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn actix_server(queue: Arc<dyn Queue>) -> SocketAddr {
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
