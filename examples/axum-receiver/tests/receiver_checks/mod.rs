//! The checks of a complete example receiver, written once and run against
//! both `example-axum-receiver` and `example-actix-receiver` (each test file
//! sets `EXAMPLE` to its binary and includes this module): the two examples
//! promise the same behaviour.
//!
//! Each starts the example as the README's first command does, sends it a
//! delivery of every scheme signed with the documented development secret,
//! and waits for the worker's "processed" line for each.

use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hookgate_verify::{Scheme, Signer};
use reqwest::header::{HeaderMap, HeaderValue};
use tokio::io::{AsyncBufReadExt as _, BufReader, Lines};
use tokio::process::{Child, ChildStderr, Command};

use super::EXAMPLE;

/// A hang guard, not a performance expectation.
const PATIENCE: Duration = Duration::from_secs(60);

/// Every scheme the examples serve: all but the custom HMAC, which needs a
/// sender's description. Derived, so a new scheme is checked (and must be
/// served) without editing this list.
fn served_schemes() -> impl Iterator<Item = Scheme> {
    Scheme::ALL
        .into_iter()
        .filter(|scheme| *scheme != Scheme::Custom)
}

/// The development secrets documented in the example's `main.rs`.
fn documented_secret(scheme: Scheme) -> &'static str {
    match scheme {
        Scheme::Standard | Scheme::Svix => "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        Scheme::Clarife => "whsec_sample",
        Scheme::Stripe => "dev-stripe-secret",
        Scheme::GitHub => "dev-github-secret",
        Scheme::Slack => "dev-slack-secret",
        Scheme::Shopify => "dev-shopify-secret",
        Scheme::Claravine => "dev-claravine-secret",
        Scheme::Clarity => "dev-clarity-secret",
        Scheme::Paddle => "dev-paddle-secret",
        Scheme::Linear => "dev-linear-secret",
        Scheme::Zoom => "dev-zoom-secret",
        Scheme::Twitch => "dev-twitch-secret",
        Scheme::Meta => "dev-meta-secret",
        Scheme::Dropbox => "dev-dropbox-secret",
        Scheme::GitLab => "dev-gitlab-secret",
        Scheme::Twilio => "dev-twilio-secret",
        Scheme::MsGraph => "dev-msgraph-secret",
        // The development seed, whose public key the example verifies with.
        Scheme::Discord => "6464646464646464646464646464646464646464646464646464646464646464",
        other => panic!("the example does not serve {other}"),
    }
}

/// A secret of the right shape that is not the one configured.
fn wrong_secret(scheme: Scheme) -> &'static str {
    match scheme {
        Scheme::Standard | Scheme::Svix => "whsec_d3Jvbmcta2V5",
        Scheme::Discord => "7777777777777777777777777777777777777777777777777777777777777777",
        _ => "wrong-secret",
    }
}

fn sample(scheme: Scheme) -> &'static str {
    match scheme {
        Scheme::Standard => include_str!("../../../../samples/standard.json"),
        Scheme::Svix => include_str!("../../../../samples/svix.json"),
        Scheme::Clarife => include_str!("../../../../samples/clarife.json"),
        Scheme::Stripe => include_str!("../../../../samples/stripe.json"),
        Scheme::GitHub => include_str!("../../../../samples/github.json"),
        Scheme::Slack => include_str!("../../../../samples/slack.json"),
        Scheme::Shopify => include_str!("../../../../samples/shopify.json"),
        Scheme::Claravine => include_str!("../../../../samples/claravine.json"),
        Scheme::Clarity => include_str!("../../../../samples/clarity.json"),
        // Senders without a sample of their own: a body of their shape.
        Scheme::Paddle => {
            r#"{"event_id":"evt_01hv8x2acma2kbqsjzzyaxad2r","event_type":"transaction.paid","data":{"id":"txn_1"}}"#
        }
        Scheme::Linear => r#"{"action":"create","type":"Issue","data":{"id":"issue-1"}}"#,
        Scheme::Zoom => r#"{"event":"meeting.started","payload":{"object":{"id":"1"}}}"#,
        Scheme::Twitch => r#"{"subscription":{"type":"channel.follow"},"event":{"user_id":"1"}}"#,
        Scheme::Meta => r#"{"object":"page","entry":[{"id":"1","changes":[{"field":"feed"}]}]}"#,
        Scheme::Dropbox => r#"{"list_folder":{"accounts":["dbid:1"]}}"#,
        Scheme::GitLab => r#"{"object_kind":"push","ref":"refs/heads/main"}"#,
        Scheme::Discord => r#"{"id":"1180000000000000002","type":2,"data":{"name":"hello"}}"#,
        // Twilio posts a form.
        Scheme::Twilio => "MessageSid=SM1&From=%2B15005550006&To=%2B15005550001&Body=Hello+there",
        Scheme::MsGraph => {
            r#"{"value":[{"subscriptionId":"s-1","changeType":"created","resource":"Users/a/Messages/b"}]}"#
        }
        other => panic!("no sample for {other}"),
    }
}

/// One delivery as its sender would send it, and what the worker must log.
struct Delivery {
    headers: HeaderMap,
    body: Vec<u8>,
    delivery_id: String,
    /// `None` for a delivery read as bytes (no typed sender); `Some("")` for
    /// a sender whose events any name may log.
    event: Option<&'static str>,
    /// For the schemes that sign the URL, signed when it is known.
    signer: Signer,
    sent_id: String,
}

fn delivery(scheme: Scheme, secret: &str) -> Delivery {
    let mut body = sample(scheme).to_owned();
    if scheme == Scheme::Claravine {
        // Claravine sends its token twice: as a bearer token and in the body.
        body = body.replace("\"client-secret\"", &format!("{secret:?}"));
        assert!(body.contains(secret), "the Claravine sample has no token");
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    if scheme == Scheme::Linear {
        // Linear signs its timestamp inside the body, in milliseconds.
        body = body.replacen('{', &format!(r#"{{"webhookTimestamp":{},"#, now * 1000), 1);
    }
    let signer = Signer::new(scheme, secret).unwrap();
    // Microsoft Graph's notifications carry the secret as their clientState.
    let body = signer.prepare_body(body);
    let sent_id = format!("test-{scheme}-1");
    // Twilio signs the URL, known once the example listens: `post` signs it.
    let headers = if scheme.needs_url() {
        HeaderMap::new()
    } else {
        signer.sign(&sent_id, now, &body).unwrap()
    };
    let mut headers = headers;
    let content_type = if scheme == Scheme::Twilio {
        "application/x-www-form-urlencoded"
    } else {
        "application/json"
    };
    headers.insert("content-type", HeaderValue::from_static(content_type));
    let (delivery_id, event) = match scheme {
        Scheme::Standard => (sent_id, Some("contact.created")),
        Scheme::Svix => (sent_id, Some("listing.subscription.created")),
        // clarife's and Stripe's ids are the body's `id`.
        Scheme::Clarife => (
            "evt_a1b2c3d4-5678-90ab-cdef-1234567890ab".to_owned(),
            Some("document.updated"),
        ),
        Scheme::Stripe => (
            "evt_1NG8Du2eZvKYlo2CUI79vXWy".to_owned(),
            Some("invoice.paid"),
        ),
        Scheme::GitHub => {
            headers.insert("x-github-event", HeaderValue::from_static("ping"));
            (sent_id, Some("ping"))
        }
        Scheme::Shopify => {
            headers.insert("x-shopify-topic", HeaderValue::from_static("orders/create"));
            (sent_id, Some("orders.create"))
        }
        // These carry no delivery id: the receiver derives one from the bytes.
        Scheme::Slack => (derived(&body), Some("app_mention")),
        Scheme::Claravine => (derived(&body), Some("submission.completed")),
        // Clarity's body names no event: every delivery is a `trigger`.
        Scheme::Clarity => (derived(&body), Some("trigger")),
        Scheme::Paddle => ("evt_01hv8x2acma2kbqsjzzyaxad2r".to_owned(), typed(scheme)),
        Scheme::Linear | Scheme::Twitch | Scheme::GitLab => (sent_id, typed(scheme)),
        Scheme::Zoom | Scheme::Meta | Scheme::Dropbox => (derived(&body), typed(scheme)),
        Scheme::Discord => ("1180000000000000002".to_owned(), typed(scheme)),
        Scheme::Twilio => (sent_id, typed(scheme)),
        Scheme::MsGraph => (derived(&body), typed(scheme)),
        other => panic!("the example does not serve {other}"),
    };
    Delivery {
        headers,
        body,
        delivery_id,
        event,
        signer,
        sent_id: format!("test-{scheme}-1"),
    }
}

/// What the example logs for a sender whose events are typed (any event
/// name), or by size when hookgate-events has no typed sender of that name.
fn typed(scheme: Scheme) -> Option<&'static str> {
    scheme
        .as_str()
        .parse::<hookgate_events::Sender>()
        .ok()
        .map(|_| "")
}

fn derived(body: &[u8]) -> String {
    hookgate_receive::derived_delivery_id(body)
}

/// The running example; killed when dropped, its queue file removed.
struct Example {
    _child: Child,
    base: String,
    stderr: Lines<BufReader<ChildStderr>>,
    _dir: tempfile::TempDir,
}

impl Example {
    async fn start(env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut command = Command::new(EXAMPLE);
        command
            .env("HOOKGATE_ADDR", "127.0.0.1:0")
            .env("HOOKGATE_QUEUE", dir.path().join("queue.db"))
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        // The documented defaults, whatever the developer's shell exports.
        for scheme in served_schemes() {
            command.env_remove(format!(
                "HOOKGATE_SECRET_{}",
                scheme.as_str().to_uppercase()
            ));
        }
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let base = tokio::time::timeout(PATIENCE, async {
            while let Some(line) = stdout.next_line().await.unwrap() {
                if let Some(base) = line.strip_prefix("listening on ") {
                    return base.to_owned();
                }
            }
            panic!("the example exited before listening");
        })
        .await
        .expect("the example did not start listening");
        let stderr = BufReader::new(child.stderr.take().unwrap()).lines();
        Self {
            _child: child,
            base,
            stderr,
            _dir: dir,
        }
    }

    async fn post(&self, scheme: Scheme, delivery: &Delivery) -> reqwest::Response {
        let url = format!("{}/hooks/{scheme}", self.base);
        let mut headers = delivery.headers.clone();
        if scheme.needs_url() {
            // The example's public URL defaults to the address it bound.
            let context = hookgate_verify::RequestContext::new().with_url(&url);
            let signed = delivery
                .signer
                .sign_with(&delivery.sent_id, 0, &delivery.body, context)
                .unwrap();
            headers.extend(signed);
        }
        reqwest::Client::new()
            .post(url)
            .headers(headers)
            .body(delivery.body.clone())
            .send()
            .await
            .unwrap()
    }

    /// Reads the log until the worker's line for `delivery` from `scheme`.
    async fn processed(&mut self, scheme: Scheme, delivery: &Delivery) -> String {
        let wanted = format!(
            " INFO delivery{{source={scheme} delivery_id={} attempt=1}}: processed ",
            delivery.delivery_id
        );
        let mut seen = Vec::new();
        let found = tokio::time::timeout(PATIENCE, async {
            while let Some(line) = self.stderr.next_line().await.unwrap() {
                if line.contains(&wanted) {
                    return Some(line);
                }
                seen.push(line);
            }
            None
        })
        .await;
        match found {
            Ok(Some(line)) => line,
            _ => panic!(
                "no processed line for {scheme} {}; the log:\n{}",
                delivery.delivery_id,
                seen.join("\n")
            ),
        }
    }
}

#[tokio::test]
async fn every_scheme_is_verified_queued_and_processed_with_the_development_secrets() {
    let mut example = Example::start(&[]).await;
    for scheme in served_schemes() {
        let signed = delivery(scheme, documented_secret(scheme));
        let answer = example.post(scheme, &signed).await;
        assert!(
            answer.status().is_success(),
            "{scheme}: a signed delivery got {}",
            answer.status()
        );

        let forged = delivery(scheme, wrong_secret(scheme));
        let answer = example.post(scheme, &forged).await;
        assert_eq!(answer.status(), 401, "{scheme}: a forged delivery");
        assert_eq!(
            answer.headers()["content-type"],
            "application/problem+json",
            "{scheme}"
        );

        let line = example.processed(scheme, &signed).await;
        match signed.event {
            Some("") => assert!(line.contains("processed event="), "{scheme}: {line}"),
            Some(event) => assert!(
                line.ends_with(&format!("processed event={event}")),
                "{scheme}: {line}"
            ),
            None => assert!(
                line.ends_with(&format!("processed bytes={}", signed.body.len())),
                "{scheme}: {line}"
            ),
        }
    }
}

/// Meta's subscription handshake: answered with the challenge when the verify
/// token is the development one (or `HOOKGATE_VERIFY_TOKEN_META`), 403 otherwise.
#[tokio::test]
async fn meta_s_subscription_is_answered_with_the_verify_token() {
    let get = |base: &str, token: &str| {
        // The tokens used here need no percent-encoding.
        reqwest::Client::new()
            .get(format!(
                "{base}/hooks/meta?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=1158201444"
            ))
            .send()
    };
    let example = Example::start(&[]).await;
    let answer = get(&example.base, "dev-meta-verify-token").await.unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.text().await.unwrap(), "1158201444");
    let answer = get(&example.base, "not-the-token").await.unwrap();
    assert_eq!(answer.status(), 403);

    let example = Example::start(&[("HOOKGATE_VERIFY_TOKEN_META", "from-the-env")]).await;
    let answer = get(&example.base, "from-the-env").await.unwrap();
    assert_eq!(answer.status(), 200);
    let answer = get(&example.base, "dev-meta-verify-token").await.unwrap();
    assert_eq!(answer.status(), 403);
}

#[tokio::test]
async fn a_secret_from_the_environment_replaces_the_default_and_an_empty_one_does_not() {
    let mut example = Example::start(&[
        ("HOOKGATE_SECRET_CLARIFE", "whsec_from_the_environment"),
        ("HOOKGATE_SECRET_GITHUB", ""),
    ])
    .await;

    let default = delivery(Scheme::Clarife, documented_secret(Scheme::Clarife));
    assert_eq!(example.post(Scheme::Clarife, &default).await.status(), 401);
    let configured = delivery(Scheme::Clarife, "whsec_from_the_environment");
    assert!(
        example
            .post(Scheme::Clarife, &configured)
            .await
            .status()
            .is_success()
    );
    example.processed(Scheme::Clarife, &configured).await;

    // `HOOKGATE_SECRET_GITHUB=` counts as unset: the development secret applies.
    let github = delivery(Scheme::GitHub, documented_secret(Scheme::GitHub));
    assert!(
        example
            .post(Scheme::GitHub, &github)
            .await
            .status()
            .is_success()
    );
    example.processed(Scheme::GitHub, &github).await;
}

// ---------------------------------------------------------------------------
// Clients that hold connections: the limits of "Running on the internet".

/// The header timeout the examples are started with here.
const HEADER_TIMEOUT: Duration = Duration::from_secs(2);

/// An example with short limits: a 2 s header timeout, 4 connections, a 1 s body timeout.
async fn start_limited() -> Example {
    Example::start(&[
        ("HOOKGATE_HEADER_TIMEOUT", "2"),
        ("HOOKGATE_MAX_CONNECTIONS", "4"),
        ("HOOKGATE_READ_TIMEOUT", "1"),
    ])
    .await
}

impl Example {
    fn socket_addr(&self) -> std::net::SocketAddr {
        self.base.strip_prefix("http://").unwrap().parse().unwrap()
    }
}

/// Reads until the server closes the connection (EOF or an error), keeping what it sent.
async fn read_until_closed(stream: &mut tokio::net::TcpStream) -> Vec<u8> {
    use tokio::io::AsyncReadExt as _;
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return seen,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

/// The issue's contract: a client whose request head trickles in (one byte
/// every 0.5 s) loses its connection within the header timeout plus 1 s.
#[tokio::test]
async fn a_request_head_that_trickles_is_closed_within_the_header_timeout() {
    use tokio::io::AsyncWriteExt as _;
    let example = start_limited().await;
    let stream = tokio::net::TcpStream::connect(example.socket_addr())
        .await
        .unwrap();
    let (mut reader, mut writer) = stream.into_split();
    writer
        .write_all(b"POST /hooks/github HTTP/1.1\r\nhost: 127.0.0.1\r\nx-trickle: ")
        .await
        .unwrap();
    let trickle = tokio::spawn(async move {
        // Stops on its own well after the contract's deadline.
        for _ in 0..40 {
            tokio::time::sleep(Duration::from_millis(500)).await;
            if writer.write_all(b"a").await.is_err() {
                break;
            }
        }
    });
    let closed = tokio::time::timeout(HEADER_TIMEOUT + Duration::from_secs(1), async {
        use tokio::io::AsyncReadExt as _;
        let mut buf = [0u8; 1024];
        loop {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                // actix-web answers 408 before closing; the tower server just closes.
                Ok(_) => {}
            }
        }
    })
    .await;
    trickle.abort();
    assert!(
        closed.is_ok(),
        "the trickling connection was still open {:?} after it started",
        HEADER_TIMEOUT + Duration::from_secs(1)
    );
}

/// More slow clients than the connection limit: a sender's delivery on a
/// fresh connection waits for a slot (the header timeout frees them) and is
/// answered 2xx.
#[tokio::test]
async fn past_the_connection_limit_a_valid_delivery_is_still_answered() {
    use tokio::io::AsyncWriteExt as _;
    let mut example = start_limited().await;
    let mut slow = Vec::new();
    for _ in 0..10 {
        let mut stream = tokio::net::TcpStream::connect(example.socket_addr())
            .await
            .unwrap();
        // A request head that never ends.
        stream
            .write_all(b"POST /hooks/github HTTP/1.1\r\nhost: 127.0.0.1\r\n")
            .await
            .unwrap();
        slow.push(stream);
    }
    let signed = delivery(Scheme::GitHub, documented_secret(Scheme::GitHub));
    let answer = tokio::time::timeout(PATIENCE, example.post(Scheme::GitHub, &signed))
        .await
        .expect("the delivery was never answered");
    assert!(
        answer.status().is_success(),
        "a signed delivery behind slow clients got {}",
        answer.status()
    );
    example.processed(Scheme::GitHub, &signed).await;
    // Every slow client lost its connection, none got an acknowledgement.
    for mut stream in slow {
        let seen = tokio::time::timeout(PATIENCE, read_until_closed(&mut stream))
            .await
            .expect("a slow client kept its connection");
        assert!(
            !seen.starts_with(b"HTTP/1.1 2"),
            "{:?}",
            String::from_utf8_lossy(&seen)
        );
    }
}

/// A body that arrives too slowly is still refused with 408, as before the
/// server had timeouts of its own.
#[tokio::test]
async fn a_slow_body_gets_408() {
    use tokio::io::AsyncWriteExt as _;
    let example = start_limited().await;
    let mut stream = tokio::net::TcpStream::connect(example.socket_addr())
        .await
        .unwrap();
    stream
        .write_all(
            b"POST /hooks/github HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n\
              content-length: 100\r\nconnection: close\r\n\r\n{\"a\":",
        )
        .await
        .unwrap();
    let seen = tokio::time::timeout(PATIENCE, read_until_closed(&mut stream))
        .await
        .expect("the slow body was never answered");
    let answer = String::from_utf8_lossy(&seen);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
}
