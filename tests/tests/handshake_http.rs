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
/// Zoom's documented example secret token; its answer for
/// [`ZOOM_PLAIN_TOKEN`] is [`ZOOM_ENCRYPTED_TOKEN`], computed apart (Python's hmac).
const ZOOM_SECRET: &str = "Wvs0_T9rQ_2oVTNrjLjFDw";
const ZOOM_PLAIN_TOKEN: &str = "qgg8vlvZRS6UYooatFL8Aw";
const ZOOM_ENCRYPTED_TOKEN: &str =
    "49a9765f5ae5f5e635183e90fd274671287fa2896a3106fd314501110f82b7f6";
const TWITCH_SECRET: &str = "twitch-eventsub-secret";
/// RFC 8032's test 2 key pair: Discord signs with the seed, the receiver
/// holds the public key.
const DISCORD_SEED: &str = "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb";
const DISCORD_PUBLIC_KEY: &str = "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c";
/// Another seed (RFC 8032's test 1): a signature Discord did not make.
const OTHER_SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const GRAPH_CLIENT_STATE: &str = "graph-client-state";

/// The sources of every server under test, each answering its sender's
/// handshake with no more configuration than its scheme (and Meta's verify
/// token).
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
                Verifier::new(Scheme::Meta, META_APP_SECRET).unwrap(),
            )
            .handshake(Handshake::meta(META_VERIFY_TOKEN).unwrap())
            .build()
            .unwrap(),
        )
        .source(
            Source::builder(
                "dropbox",
                "/hooks/dropbox",
                Verifier::new(Scheme::Dropbox, DROPBOX_SECRET).unwrap(),
            )
            .build()
            .unwrap(),
        )
        .source(
            Source::builder(
                "zoom",
                "/hooks/zoom",
                Verifier::new(Scheme::Zoom, ZOOM_SECRET).unwrap(),
            )
            .build()
            .unwrap(),
        )
        .source(
            Source::builder(
                "twitch",
                "/hooks/twitch",
                Verifier::new(Scheme::Twitch, TWITCH_SECRET).unwrap(),
            )
            .build()
            .unwrap(),
        )
        .source(
            Source::builder(
                "msgraph",
                "/hooks/msgraph",
                Verifier::new(Scheme::MsGraph, GRAPH_CLIENT_STATE).unwrap(),
            )
            .build()
            .unwrap(),
        )
        .source(
            Source::builder(
                "discord",
                "/hooks/discord",
                Verifier::new(Scheme::Discord, DISCORD_PUBLIC_KEY).unwrap(),
            )
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
    signed_with(client, url, scheme, secret, body, &[])
}

/// A signed request, with `overrides` set after signing (headers the
/// signature does not cover, such as Twitch's message type).
fn signed_with(
    client: &reqwest::Client,
    url: String,
    scheme: Scheme,
    secret: &str,
    body: &str,
    overrides: &[(&'static str, &'static str)],
) -> reqwest::RequestBuilder {
    let mut headers = Signer::new(scheme, secret)
        .unwrap()
        .sign("e2e-message-1", now(), body.as_bytes())
        .unwrap();
    for (name, value) in overrides {
        headers.insert(*name, http::HeaderValue::from_static(value));
    }
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

    // Zoom: signed endpoint.url_validation, answered with the signed token.
    let validation = format!(
        r#"{{"payload":{{"plainToken":"{ZOOM_PLAIN_TOKEN}"}},"event_ts":1654503849680,"event":"endpoint.url_validation"}}"#
    );
    let answer = send(signed(
        &client,
        url("/hooks/zoom"),
        Scheme::Zoom,
        ZOOM_SECRET,
        &validation,
    ))
    .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.headers["content-type"], "application/json");
    let json: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"plainToken": ZOOM_PLAIN_TOKEN, "encryptedToken": ZOOM_ENCRYPTED_TOKEN})
    );
    let forged = send(signed(
        &client,
        url("/hooks/zoom"),
        Scheme::Zoom,
        "not-the-secret",
        &validation,
    ))
    .await;
    assert_eq!(forged.status, 401, "{forged:?}");
    assert!(!forged.body.contains(ZOOM_ENCRYPTED_TOKEN));

    // Twitch: signed webhook_callback_verification, answered with the challenge.
    let verification = r#"{"challenge":"pogchamp-kappa-360noscope-vohiyo","subscription":{"id":"f1c2a387-161a-49f9-a165-0f21d7a4e1c4","status":"webhook_callback_verification_pending","type":"channel.follow","version":"2"}}"#;
    let verification_type = [(
        "twitch-eventsub-message-type",
        "webhook_callback_verification",
    )];
    let answer = send(signed_with(
        &client,
        url("/hooks/twitch"),
        Scheme::Twitch,
        TWITCH_SECRET,
        verification,
        &verification_type,
    ))
    .await;
    assert_echo(&answer, "pogchamp-kappa-360noscope-vohiyo");
    let forged = send(signed_with(
        &client,
        url("/hooks/twitch"),
        Scheme::Twitch,
        "not-the-secret",
        verification,
        &verification_type,
    ))
    .await;
    assert!(matches!(forged.status, 401 | 403), "{forged:?}");
    assert!(!forged.body.contains("pogchamp"));

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

    // Discord: an Ed25519-signed PING is answered PONG; an invalid
    // signature 401 (Discord checks both when the URL is saved).
    let ping = r#"{"id":"1180000000000000001","application_id":"1180000000000000000","type":1,"version":1,"token":"aW50ZXJhY3Rpb24"}"#;
    let answer = send(signed(
        &client,
        url("/hooks/discord"),
        Scheme::Discord,
        DISCORD_SEED,
        ping,
    ))
    .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.body, r#"{"type":1}"#);
    assert_eq!(answer.headers["content-type"], "application/json");
    let forged = send(signed(
        &client,
        url("/hooks/discord"),
        Scheme::Discord,
        OTHER_SEED,
        ping,
    ))
    .await;
    assert_eq!(forged.status, 401, "{forged:?}");

    // Nothing was queued.
    assert_eq!(queue.stats().await.unwrap().depth(), 0);

    // A Twitch revocation is an event: delivered, not answered.
    let revocation = r#"{"subscription":{"id":"f1c2a387","status":"authorization_revoked","type":"channel.follow","version":"2"}}"#;
    let queued = send(signed_with(
        &client,
        url("/hooks/twitch"),
        Scheme::Twitch,
        TWITCH_SECRET,
        revocation,
        &[("twitch-eventsub-message-type", "revocation")],
    ))
    .await;
    assert_eq!(queued.status, 200, "{queued:?}");
    assert!(queued.body.is_empty());
    assert_eq!(queue.stats().await.unwrap().depth(), 1);

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
    assert_eq!(queue.stats().await.unwrap().depth(), 2);
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
