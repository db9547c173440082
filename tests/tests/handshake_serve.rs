//! Handshakes answered by `hookgate serve` with no more configuration than a
//! source's scheme, through the real binary: the right answer when verified,
//! a refusal when not, and nothing queued (the user's service behind it
//! receives only the one real event sent after them).
//!
//! The binary is the one `cargo test --workspace` built: see
//! [`hookgate_tests::hookgate_bin`].

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hookgate_tests::{Sink, spawn_serve};
use hookgate_verify::{Scheme, Signer};

const SLACK_SECRET: &str = "slack-serve-handshake-secret";

/// A hang guard, not a performance assertion.
const PATIENCE: Duration = Duration::from_secs(60);

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn signed(
    client: &reqwest::Client,
    url: &str,
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

#[tokio::test(flavor = "multi_thread")]
async fn hookgate_serve_answers_handshakes_and_queues_nothing() {
    let sink = Sink::default();
    let sink_addr = sink.start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n\n[queue]\nsqlite = \"{}\"\n\n\
         [workers]\npoll_interval = \"20ms\"\n\n[action]\nforward = \"http://{sink_addr}/slack\"\n\n\
         [sources.slack]\nscheme = \"slack\"\nsecret_env = \"HANDSHAKE_SLACK_SECRET\"\n",
        dir.path().join("queue.db").display()
    );
    let (_child, addr) = spawn_serve(
        dir.path(),
        "hookgate",
        &config,
        &[("HANDSHAKE_SLACK_SECRET", SLACK_SECRET)],
    )
    .await;
    let client = reqwest::Client::new();
    let slack = format!("http://{addr}/hooks/slack");

    let challenge = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P";
    let verification = format!(
        r#"{{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"{challenge}","type":"url_verification"}}"#
    );
    let res = signed(&client, &slack, Scheme::Slack, SLACK_SECRET, &verification)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/plain; charset=utf-8");
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    assert_eq!(res.text().await.unwrap(), challenge);

    let forged = signed(&client, &slack, Scheme::Slack, "guessed", &verification)
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);

    // One real event after the handshakes: the only delivery the service gets.
    let event = r#"{"type":"event_callback","event_id":"Ev0001","event":{"type":"app_mention"}}"#;
    let res = signed(&client, &slack, Scheme::Slack, SLACK_SECRET, event)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let start = Instant::now();
    while sink.counts().0.is_empty() {
        assert!(start.elapsed() < PATIENCE, "the event never arrived");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let health: serde_json::Value = client
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["queue"]["depth"], 0, "{health}");
    let (by_id, by_route) = sink.counts();
    assert_eq!(by_route.get("slack"), Some(&1), "{by_route:?}");
    assert_eq!(by_id.len(), 1, "{by_id:?}");
}
