//! Every handshake through both integrations, through a real server on
//! 127.0.0.1 and a real HTTP client: axum + `WebhookLayer`, and actix-web +
//! `Webhook`, configured identically and checked by the same table. The
//! right answer when verified, a refusal when not, and nothing queued.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use hookgate_queue::{MemoryQueue, Queue};
use hookgate_receive::{Handshake, Receiver, Source};
use hookgate_verify::{Scheme, Signer, Verifier};

const SLACK_SECRET: &str = "slack-handshake-secret";
const META_APP_SECRET: &str = "meta-app-secret";
const META_VERIFY_TOKEN: &str = "meatyhamhock";
const DROPBOX_SECRET: &str = "dropbox-app-secret";
const GRAPH_CLIENT_STATE: &str = "graph-client-state";

/// The sources of every server under test, each answering its sender's
/// handshake. Until their own schemes exist, Meta (which signs exactly as
/// GitHub does), Dropbox and Microsoft Graph are verified by stand-ins:
/// their handshakes are not signed, so the answer does not depend on it.
fn receiver(queue: Arc<MemoryQueue>) -> Receiver {
    Receiver::builder()
        .queue(queue)
        .source(
            Source::builder(
                "slack",
                "/hooks/slack",
                Verifier::new(Scheme::Slack, SLACK_SECRET).unwrap(),
            )
            .build()
            .unwrap(),
        )
        .source(
            Source::builder(
                "meta",
                "/hooks/meta",
                Verifier::new(Scheme::GitHub, META_APP_SECRET).unwrap(),
            )
            .handshake(Handshake::meta(META_VERIFY_TOKEN).unwrap())
            .build()
            .unwrap(),
        )
        .source(
            Source::builder(
                "dropbox",
                "/hooks/dropbox",
                Verifier::new(Scheme::GitHub, DROPBOX_SECRET).unwrap(),
            )
            .handshake(Handshake::dropbox())
            .build()
            .unwrap(),
        )
        .source(
            Source::builder(
                "msgraph",
                "/hooks/msgraph",
                Verifier::new(Scheme::Clarity, GRAPH_CLIENT_STATE).unwrap(),
            )
            .handshake(Handshake::microsoft_graph())
            .build()
            .unwrap(),
        )
        .build()
        .unwrap()
}

async fn axum_server(queue: Arc<MemoryQueue>) -> SocketAddr {
    let app = axum::Router::new()
        .route("/health", axum::routing::get(|| async { "ok" }))
        .layer(hookgate_tower::WebhookLayer::new(receiver(queue)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn actix_server(queue: Arc<MemoryQueue>) -> SocketAddr {
    use actix_web::{App, HttpServer, web};
    let receiver = receiver(queue);
    let server = HttpServer::new(move || {
        App::new()
            .wrap(hookgate_actix::Webhook::new(receiver.clone()))
            .route("/health", web::get().to(|| async { "ok" }))
    })
    .workers(1)
    .disable_signals()
    .bind(("127.0.0.1", 0))
    .unwrap();
    let addr = server.addrs()[0];
    actix_web::rt::spawn(server.run());
    addr
}

/// A query string, every byte but ASCII letters and digits percent-encoded.
fn query(pairs: &[(&str, &str)]) -> String {
    let encode = |s: &str| {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect::<String>()
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[derive(Debug)]
struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

async fn send(req: reqwest::RequestBuilder) -> Answer {
    let res = req.send().await.expect("request");
    Answer {
        status: res.status().as_u16(),
        headers: res.headers().clone(),
        body: res.text().await.expect("body"),
    }
}

/// A 200 echo: exactly `echo`, as plain text the browser may not sniff.
fn assert_echo(answer: &Answer, echo: &str) {
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.body, echo, "{answer:?}");
    assert_eq!(
        answer.headers["content-type"], "text/plain; charset=utf-8",
        "{answer:?}"
    );
    assert_eq!(answer.headers["x-content-type-options"], "nosniff");
}

fn signed(
    client: &reqwest::Client,
    url: String,
    scheme: Scheme,
    secret: &str,
    body: &str,
) -> reqwest::RequestBuilder {
    let headers = Signer::new(scheme, secret)
        .unwrap()
        .sign("", now(), body.as_bytes())
        .unwrap();
    let mut req = client
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_owned());
    for (name, value) in &headers {
        req = req.header(name.as_str(), value.to_str().unwrap());
    }
    req
}

/// The table every integration must answer identically.
async fn check_every_handshake(addr: SocketAddr, queue: &MemoryQueue) {
    let client = reqwest::Client::new();
    let url = |path: &str| format!("http://{addr}{path}");

    // Slack: signed url_verification.
    let challenge = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P";
    let verification = format!(
        r#"{{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"{challenge}","type":"url_verification"}}"#
    );
    let answer = send(signed(
        &client,
        url("/hooks/slack"),
        Scheme::Slack,
        SLACK_SECRET,
        &verification,
    ))
    .await;
    assert_echo(&answer, challenge);
    let forged = send(signed(
        &client,
        url("/hooks/slack"),
        Scheme::Slack,
        "not-the-secret",
        &verification,
    ))
    .await;
    assert_eq!(forged.status, 401, "{forged:?}");
    assert!(!forged.body.contains(challenge));
    let hostile = r#"{"challenge":"<script>alert(1)</script>","type":"url_verification"}"#;
    let refused = send(signed(
        &client,
        url("/hooks/slack"),
        Scheme::Slack,
        SLACK_SECRET,
        hostile,
    ))
    .await;
    assert_eq!(refused.status, 400, "{refused:?}");
    assert!(!refused.body.contains("<script>"), "{refused:?}");

    // Meta: GET with the verify token, compared in constant time.
    let subscribe = |token: &str| {
        client.get(url(&format!(
            "/hooks/meta?{}",
            query(&[
                ("hub.mode", "subscribe"),
                ("hub.challenge", "1158201444"),
                ("hub.verify_token", token),
            ])
        )))
    };
    assert_echo(&send(subscribe(META_VERIFY_TOKEN)).await, "1158201444");
    let wrong = send(subscribe("meatyhamhoc")).await;
    assert_eq!(wrong.status, 403, "{wrong:?}");
    assert!(!wrong.body.contains("1158201444"));
    // A GET that is no handshake is not a delivery on a POST route.
    let plain_get = send(client.get(url("/hooks/meta"))).await;
    assert_eq!(plain_get.status, 405, "{plain_get:?}");

    // Dropbox: GET ?challenge=.
    let answer = send(client.get(url(&format!(
        "/hooks/dropbox?{}",
        query(&[("challenge", "dropbox-challenge-42")])
    ))))
    .await;
    assert_echo(&answer, "dropbox-challenge-42");
    let refused = send(client.get(url(&format!(
        "/hooks/dropbox?{}",
        query(&[("challenge", "line\r\nSet-Cookie: x=1")])
    ))))
    .await;
    assert_eq!(refused.status, 400, "{refused:?}");
    assert!(!refused.headers.contains_key("set-cookie"));
    let too_long = send(client.get(url(&format!(
        "/hooks/dropbox?{}",
        query(&[("challenge", &"a".repeat(2000))])
    ))))
    .await;
    assert_eq!(too_long.status, 400, "{too_long:?}");

    // Microsoft Graph: POST ?validationToken=, decoded.
    let token = "Validation: Testing client application reachability for subscription Request-Id: 5e1d8c7f-6d9a-4c5b";
    let answer = send(
        client
            .post(url(&format!(
                "/hooks/msgraph?{}",
                query(&[("validationToken", token)])
            )))
            .header("content-type", "text/plain"),
    )
    .await;
    assert_echo(&answer, token);

    // Nothing was queued.
    assert_eq!(queue.stats().await.unwrap().depth(), 0);

    // The routes still deliver: a signed Slack event is queued.
    let event = r#"{"type":"event_callback","event_id":"Ev1","event":{"type":"app_mention"}}"#;
    let queued = send(signed(
        &client,
        url("/hooks/slack"),
        Scheme::Slack,
        SLACK_SECRET,
        event,
    ))
    .await;
    assert_eq!(queued.status, 200, "{queued:?}");
    assert!(queued.body.is_empty());
    assert_eq!(queue.stats().await.unwrap().depth(), 1);
}

#[tokio::test]
async fn axum_with_webhook_layer_answers_every_handshake() {
    let queue = Arc::new(MemoryQueue::new());
    let addr = axum_server(queue.clone()).await;
    check_every_handshake(addr, &queue).await;
}

#[actix_web::test]
async fn actix_with_webhook_middleware_answers_every_handshake() {
    let queue = Arc::new(MemoryQueue::new());
    let addr = actix_server(queue.clone());
    check_every_handshake(addr, &queue).await;
}
