//! Every integration hands the peer address to the allow-list: hookgate's
//! own server, axum's `ConnectInfo`, and actix-web, through real servers on
//! 127.0.0.1; without a peer address (plain `axum::serve`), a source with an
//! allow-list refuses rather than guesses.

use std::net::SocketAddr;
use std::sync::Arc;

use hookgate_queue::{MemoryQueue, Queue};
use hookgate_receive::{Receiver, Source};
use hookgate_verify::{Scheme, Verifier};

const TOKEN: &str = "route-token";

/// `/open` admits 127.0.0.0/8; `/closed` only 192.30.252.0/22, even through
/// a forwarding header (no proxy is trusted).
fn receiver(queue: Arc<dyn Queue>) -> Receiver {
    let source = |name: &str, allow: &str| {
        Source::builder(
            name,
            format!("/{name}"),
            Verifier::new(Scheme::Clarity, TOKEN).unwrap(),
        )
        .allow_ips([allow.parse().unwrap()])
        .build()
        .unwrap()
    };
    Receiver::builder()
        .queue(queue)
        .source(source("open", "127.0.0.0/8"))
        .source(source("closed", "192.30.252.0/22"))
        .build()
        .unwrap()
}

async fn post(addr: SocketAddr, path: &str) -> (u16, String) {
    let answer = reqwest::Client::new()
        .post(format!("http://{addr}{path}"))
        .header("x-clarity-webhook-token", TOKEN)
        .header("x-forwarded-for", "192.30.252.7")
        .body("{}")
        .send()
        .await
        .unwrap();
    let status = answer.status().as_u16();
    (status, answer.text().await.unwrap())
}

/// The open route is answered 200 and the closed one 403 naming the peer;
/// only the open route's delivery is queued.
async fn check(addr: SocketAddr, queue: &MemoryQueue, what: &str) {
    let (status, _) = post(addr, "/open").await;
    assert_eq!(status, 200, "{what}");
    let (status, problem) = post(addr, "/closed").await;
    assert_eq!(status, 403, "{what}");
    assert!(
        problem.contains("client address 127.0.0.1 is not allowed"),
        "{what}: {problem}"
    );
    assert_eq!(queue.stats().await.unwrap().depth(), 1, "{what}");
}

#[tokio::test]
async fn hookgates_server_passes_the_peer_address() {
    let queue = Arc::new(MemoryQueue::new());
    let app = axum::Router::new().layer(hookgate_tower::WebhookLayer::new(receiver(queue.clone())));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let serve = hookgate_tower::Server::new()
        .raise_open_files_limit(false)
        .serve(listener, app);
    let addr = serve.local_addr().unwrap();
    tokio::spawn(std::future::IntoFuture::into_future(serve));
    check(addr, &queue, "hookgate_tower::Server").await;
}

#[tokio::test]
async fn axums_connect_info_passes_the_peer_address() {
    let queue = Arc::new(MemoryQueue::new());
    let app = axum::Router::new().layer(hookgate_tower::WebhookLayer::new(receiver(queue.clone())));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    check(addr, &queue, "axum ConnectInfo").await;
}

#[tokio::test]
async fn without_a_peer_address_an_allow_list_refuses() {
    let queue = Arc::new(MemoryQueue::new());
    let app = axum::Router::new().layer(hookgate_tower::WebhookLayer::new(receiver(queue.clone())));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let (status, problem) = post(addr, "/open").await;
    assert_eq!(status, 403);
    assert!(
        problem.contains("the server passed no peer address"),
        "{problem}"
    );
    assert_eq!(queue.stats().await.unwrap().depth(), 0);
}

#[actix_web::test]
async fn actix_web_passes_the_peer_address() {
    use actix_web::{App, HttpServer};
    let queue = Arc::new(MemoryQueue::new());
    let receiver = receiver(queue.clone());
    let server =
        HttpServer::new(move || App::new().wrap(hookgate_actix::Webhook::new(receiver.clone())))
            .workers(1)
            .disable_signals()
            .bind(("127.0.0.1", 0))
            .unwrap();
    let addr = server.addrs()[0];
    actix_web::rt::spawn(server.run());
    check(addr, &queue, "actix-web").await;
}
