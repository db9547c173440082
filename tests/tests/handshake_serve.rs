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
const META_VERIFY_TOKEN: &str = "serve-meta-verify-token";
/// Zoom's documented example secret token and plainToken; the answer was
/// computed apart (Python's hmac).
const ZOOM_SECRET: &str = "Wvs0_T9rQ_2oVTNrjLjFDw";
const ZOOM_ENCRYPTED_TOKEN: &str =
    "49a9765f5ae5f5e635183e90fd274671287fa2896a3106fd314501110f82b7f6";
const TWITCH_SECRET: &str = "twitch-serve-secret";

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
    let mut headers = Signer::new(scheme, secret)
        .unwrap()
        .sign("serve-message-1", now(), body.as_bytes())
        .unwrap();
    if scheme == Scheme::Twitch {
        // Not covered by the signature.
        headers.insert(
            "twitch-eventsub-message-type",
            http::HeaderValue::from_static("webhook_callback_verification"),
        );
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

#[tokio::test(flavor = "multi_thread")]
async fn hookgate_serve_answers_handshakes_and_queues_nothing() {
    let sink = Sink::default();
    let sink_addr = sink.start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n\n[queue]\nsqlite = \"{}\"\n\n\
         [workers]\npoll_interval = \"20ms\"\n\n[action]\nforward = \"http://{sink_addr}/slack\"\n\n\
         [sources.slack]\nscheme = \"slack\"\nsecret_env = \"HANDSHAKE_SLACK_SECRET\"\n\n\
         [sources.meta]\nscheme = \"meta\"\nsecret_env = \"HANDSHAKE_META_SECRET\"\nverify_token_env = \"HANDSHAKE_META_VERIFY_TOKEN\"\n\n\
         [sources.dropbox]\nscheme = \"dropbox\"\nsecret_env = \"HANDSHAKE_DROPBOX_SECRET\"\n\n\
         [sources.zoom]\nscheme = \"zoom\"\nsecret_env = \"HANDSHAKE_ZOOM_SECRET\"\n\n\
         [sources.twitch]\nscheme = \"twitch\"\nsecret_env = \"HANDSHAKE_TWITCH_SECRET\"\n\n\
         [sources.msgraph]\nscheme = \"msgraph\"\nsecret_env = \"HANDSHAKE_GRAPH_CLIENT_STATE\"\n\n\
         [sources.discord]\nscheme = \"discord\"\nsecret_env = \"HANDSHAKE_DISCORD_PUBLIC_KEY\"\n",
        dir.path().join("queue.db").display()
    );
    let (_child, addr) = spawn_serve(
        dir.path(),
        "hookgate",
        &config,
        &[
            ("HANDSHAKE_SLACK_SECRET", SLACK_SECRET),
            ("HANDSHAKE_META_SECRET", "meta-app-secret"),
            ("HANDSHAKE_META_VERIFY_TOKEN", META_VERIFY_TOKEN),
            ("HANDSHAKE_DROPBOX_SECRET", "dropbox-app-secret"),
            ("HANDSHAKE_ZOOM_SECRET", ZOOM_SECRET),
            ("HANDSHAKE_TWITCH_SECRET", TWITCH_SECRET),
            ("HANDSHAKE_GRAPH_CLIENT_STATE", "graph-client-state"),
            // RFC 8032's test 2 public key; `hookgate send` signs with its seed.
            (
                "HANDSHAKE_DISCORD_PUBLIC_KEY",
                "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
            ),
        ],
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

    // Meta: the verify token from verify_token_env.
    let meta = |token: &str| {
        client.get(format!(
            "http://{addr}/hooks/meta?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token={token}"
        ))
    };
    let res = meta(META_VERIFY_TOKEN).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "1158201444");
    let res = meta("serve-meta-verify-toke").send().await.unwrap();
    assert_eq!(res.status(), 403);

    // Dropbox: GET ?challenge=.
    let res = client
        .get(format!("http://{addr}/hooks/dropbox?challenge=dbx-42"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    assert_eq!(res.text().await.unwrap(), "dbx-42");

    // Zoom: the plainToken signed with the source's secret.
    let validation = r#"{"payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event_ts":1654503849680,"event":"endpoint.url_validation"}"#;
    let zoom = format!("http://{addr}/hooks/zoom");
    let res = signed(&client, &zoom, Scheme::Zoom, ZOOM_SECRET, validation)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let answer: serde_json::Value = res.json().await.unwrap();
    assert_eq!(answer["encryptedToken"], ZOOM_ENCRYPTED_TOKEN);
    let res = signed(&client, &zoom, Scheme::Zoom, "guessed", validation)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);

    // Twitch: the challenge of a signed webhook_callback_verification.
    let verification = r#"{"challenge":"pogchamp-kappa-360noscope-vohiyo","subscription":{"id":"f1c2a387","type":"channel.follow","version":"2"}}"#;
    let twitch = format!("http://{addr}/hooks/twitch");
    let res = signed(
        &client,
        &twitch,
        Scheme::Twitch,
        TWITCH_SECRET,
        verification,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.text().await.unwrap(),
        "pogchamp-kappa-360noscope-vohiyo"
    );

    // `hookgate send --handshake` sends each one and checks the answer.
    let send = |scheme: &str, secret: &str, extra: &[&str]| {
        let output = std::process::Command::new(hookgate_tests::hookgate_bin())
            .args([
                "send",
                "--handshake",
                "--scheme",
                scheme,
                "--secret",
                secret,
            ])
            .arg("--url")
            .arg(format!("http://{addr}/hooks/{scheme}"))
            .args(extra)
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    for (scheme, secret, extra) in [
        ("slack", SLACK_SECRET, &[][..]),
        ("zoom", ZOOM_SECRET, &[]),
        ("twitch", TWITCH_SECRET, &[]),
        (
            "meta",
            "meta-app-secret",
            &["--verify-token", META_VERIFY_TOKEN],
        ),
        ("dropbox", "dropbox-app-secret", &[]),
        ("msgraph", "graph-client-state", &[]),
        (
            "discord",
            "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
            &[],
        ),
    ] {
        let (code, stdout, stderr) = send(scheme, secret, extra);
        assert_eq!(code, Some(0), "{scheme}: {stdout}{stderr}");
        assert!(stdout.starts_with("200"), "{scheme}: {stdout}");
    }
    let (code, stdout, _) = send("slack", "guessed", &[]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.starts_with("401"), "{stdout}");
    let (code, _, _) = send("meta", "meta-app-secret", &["--verify-token", "guessed"]);
    assert_eq!(code, Some(1));
    // A PING signed by another key: Discord expects 401, and send says no.
    let other_seed = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    let (code, stdout, _) = send("discord", other_seed, &[]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.starts_with("401"), "{stdout}");
    let (code, _, stderr) = send("meta", "meta-app-secret", &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--verify-token"), "{stderr}");

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
    // The sink counts the event before `serve` has its answer and commits
    // the acknowledgement: the queue empties a moment later.
    loop {
        let health: serde_json::Value = client
            .get(format!("http://{addr}/healthz"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if health["queue"]["depth"] == 0 {
            break;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "the queue keeps the event: {health}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (by_id, by_route) = sink.counts();
    assert_eq!(by_route.get("slack"), Some(&1), "{by_route:?}");
    assert_eq!(by_id.len(), 1, "{by_id:?}");
}
