//! What the real-server tests of both integrations share: the receiver
//! configuration, signed requests, a raw HTTP/1.1 client for bodies that no
//! ordinary client sends (trickling, chunked past the limit), and the table
//! of response paths every integration must produce.

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hookgate_queue::{Enqueue, MemoryQueue, Queue};
use hookgate_receive::{Mode, Receiver, Source};
use hookgate_verify::{Scheme, Signer, Verifier};
use http::Method;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const CLARAVINE_TOKEN: &str = "client-secret";
pub const CLARITY_TOKEN: &str = "route-token";
pub const CLARIFE_SECRET: &str = "clarife-signing-secret";
pub const BODY_LIMIT: usize = 1024;
pub const READ_TIMEOUT: Duration = Duration::from_millis(300);
pub const ACK_BUDGET: Duration = Duration::from_millis(150);

pub fn claravine_body(object_id: &str) -> String {
    format!(
        r#"{{"event":"submission","event_time":1770914863,"object_id":"{object_id}","href":"https://api.claravine.com/v1/x","operation":"Completed","version":1,"token":"{CLARAVINE_TOKEN}"}}"#
    )
}

/// The sources every server under test routes.
pub fn receiver(queue: Arc<dyn Enqueue>) -> Receiver {
    let claravine = || Verifier::new(Scheme::Claravine, CLARAVINE_TOKEN).unwrap();
    Receiver::builder()
        .queue(queue)
        .source(
            Source::builder("claravine", "/hooks/claravine", claravine())
                .body_limit(BODY_LIMIT)
                .read_timeout(READ_TIMEOUT)
                .ack_budget(ACK_BUDGET)
                .build()
                .unwrap(),
        )
        .source(
            Source::builder(
                "clarife",
                "/hooks/clarife",
                Verifier::new(Scheme::Clarife, CLARIFE_SECRET).unwrap(),
            )
            .sender(hookgate_events::Sender::Clarife)
            .filter(hookgate_events::EventFilter::new(["document.*"]).unwrap())
            .build()
            .unwrap(),
        )
        .source(
            Source::builder(
                "clarity",
                "/hooks/clarity/provision",
                Verifier::new(Scheme::Clarity, CLARITY_TOKEN).unwrap(),
            )
            .methods([Method::GET, Method::POST])
            .require_context(["app_identifier", "identity_id", "entitlement_id"])
            .build()
            .unwrap(),
        )
        .source(
            Source::builder("inline", "/hooks/inline", claravine())
                .mode(Mode::Inline)
                .build()
                .unwrap(),
        )
        .source(
            Source::builder("typed", "/hooks/typed", claravine())
                .mode(Mode::Inline)
                .build()
                .unwrap(),
        )
        .source(
            Source::builder("accepted", "/hooks/accepted", claravine())
                .success_status(http::StatusCode::ACCEPTED)
                .unwrap()
                .build()
                .unwrap(),
        )
        .source(
            Source::builder("no-content", "/hooks/no-content", claravine())
                .success_status(http::StatusCode::NO_CONTENT)
                .unwrap()
                .build()
                .unwrap(),
        )
        .build()
        .unwrap()
}

/// What the `/hooks/typed` handler of every server answers for a parsed event.
pub fn typed_answer(event_name: &str, source: &str) -> String {
    format!("typed {event_name} from {source}")
}

/// What a server answered.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn problem(&self) -> serde_json::Value {
        assert_eq!(
            self.headers["content-type"], "application/problem+json",
            "{self:?}"
        );
        serde_json::from_str(&self.body).unwrap()
    }
}

pub async fn send(client: &reqwest::Client, req: reqwest::RequestBuilder) -> Answer {
    let _ = client;
    let res = req.send().await.expect("request");
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let body = res.text().await.expect("body");
    Answer {
        status,
        headers,
        body,
    }
}

fn clarife_request(
    client: &reqwest::Client,
    base: &str,
    id: &str,
    kind: &str,
) -> reqwest::RequestBuilder {
    let body = format!(
        r#"{{"id":"{id}","type":"{kind}","created_at":"2026-03-28T12:00:00Z","data":{{"id":"d1"}}}}"#
    );
    let headers = Signer::new(Scheme::Clarife, CLARIFE_SECRET)
        .unwrap()
        .sign(id, unix_now(), body.as_bytes())
        .unwrap();
    client
        .post(format!("{base}/hooks/clarife"))
        .headers(headers)
        .body(body)
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn claravine_request(
    client: &reqwest::Client,
    url: String,
    object_id: &str,
) -> reqwest::RequestBuilder {
    client
        .post(url)
        .header("authorization", format!("Bearer {CLARAVINE_TOKEN}"))
        .header("content-type", "application/json")
        .body(claravine_body(object_id))
}

/// Writes `head` (without the final blank line), then each body part after
/// its delay, then reads the response; the server may answer before the body
/// is complete.
pub async fn raw(addr: SocketAddr, head: &str, parts: Vec<(Duration, Vec<u8>)>) -> Answer {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(format!("{head}\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n").as_bytes())
        .await
        .expect("write head");
    for (delay, part) in parts {
        tokio::time::sleep(delay).await;
        // The server may already have answered and closed: stop writing then.
        if stream.write_all(&part).await.is_err() {
            break;
        }
    }
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        if let Some(answer) = parse_response(&buf) {
            return answer;
        }
    }
    parse_response(&buf)
        .unwrap_or_else(|| panic!("no complete response: {:?}", String::from_utf8_lossy(&buf)))
}

/// Reads one response from `stream`, a connection kept open for more;
/// `None` when the server closed it first. (One request at a time: nothing
/// is read past the response.)
pub async fn read_answer(stream: &mut TcpStream) -> Option<Answer> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        if let Some(answer) = parse_response(&buf) {
            return Some(answer);
        }
    }
}

fn parse_response(buf: &[u8]) -> Option<Answer> {
    let text = std::str::from_utf8(buf).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let mut lines = head.lines();
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let mut headers = http::HeaderMap::new();
    for line in lines {
        let (name, value) = line.split_once(':')?;
        headers.append(
            http::HeaderName::from_bytes(name.trim().to_ascii_lowercase().as_bytes()).ok()?,
            value.trim().parse().ok()?,
        );
    }
    let length: usize = headers.get("content-length")?.to_str().ok()?.parse().ok()?;
    (body.len() >= length).then(|| Answer {
        status,
        headers,
        body: body[..length].to_owned(),
    })
}

/// Every response path, against a server at `addr` whose queue is `queue`
/// and which routes `/health` (answering `ok`), `/hooks/inline` (answering
/// `verified <source> <delivery id> <body length>`) and `/hooks/typed` (a
/// `Verified<ClaravineEvent>` handler answering [`typed_answer`]) to the
/// application.
pub async fn check_every_path(addr: SocketAddr, queue: &MemoryQueue) {
    let client = reqwest::Client::new();
    let base = format!("http://{addr}");
    let depth = || async { queue.stats().await.unwrap().depth() };

    // Not a webhook route: the application answers.
    let a = send(&client, client.get(format!("{base}/health"))).await;
    assert_eq!((a.status, a.body.as_str()), (200, "ok"));

    // Verified and queued.
    let url = format!("{base}/hooks/claravine");
    let a = send(&client, claravine_request(&client, url.clone(), "obj-1")).await;
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(depth().await, 1);

    // The same delivery again: 200, not queued twice.
    let a = send(&client, claravine_request(&client, url.clone(), "obj-1")).await;
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(depth().await, 1);

    // Unsigned: 400; forged: 401; both problem+json, nothing queued.
    let a = send(
        &client,
        client.post(url.clone()).body(claravine_body("obj-2")),
    )
    .await;
    assert_eq!(a.status, 400);
    assert_eq!(a.problem()["status"], 400);
    let a = send(
        &client,
        client
            .post(url.clone())
            .header("authorization", "Bearer guessed")
            .body(claravine_body("obj-2")),
    )
    .await;
    assert_eq!(a.status, 401);
    assert_eq!(a.problem()["type"], "urn:hookgate:problem:unauthenticated");
    assert!(!a.body.contains(CLARAVINE_TOKEN));

    // A body naming the field verification reads twice (a wrong token, then
    // the right one): 400 naming the field, nothing queued, since the typed
    // payload could read the other one.
    let smuggled =
        claravine_body("obj-2").replacen(r#"{"event""#, r#"{"token":"not-the-token","event""#, 1);
    let a = send(
        &client,
        claravine_request(&client, url.clone(), "obj-2").body(smuggled),
    )
    .await;
    assert_eq!(a.status, 400, "{a:?}");
    assert_eq!(a.problem()["type"], "urn:hookgate:problem:malformed");
    assert_eq!(
        a.problem()["detail"],
        r#"body has the field "token" more than once"#
    );
    // The same for an id read from a signed body (clarife).
    let body = r#"{"id":"evt_a","type":"document.created","id":"evt_b"}"#;
    let headers = Signer::new(Scheme::Clarife, CLARIFE_SECRET)
        .unwrap()
        .sign("", unix_now(), body.as_bytes())
        .unwrap();
    let request = client
        .post(format!("{base}/hooks/clarife"))
        .headers(headers)
        .body(body);
    let a = send(&client, request).await;
    assert_eq!(a.status, 400, "{a:?}");
    assert_eq!(
        a.problem()["detail"],
        r#"body has the field "id" more than once"#
    );
    assert_eq!(depth().await, 1);

    // Wrong method: 405 with Allow.
    let a = send(&client, client.put(url.clone())).await;
    assert_eq!(a.status, 405);
    assert_eq!(a.headers["allow"], "POST");

    // Oversize with Content-Length: 413 before reading.
    let a = send(
        &client,
        claravine_request(&client, url.clone(), "obj-3").body(vec![b'x'; BODY_LIMIT + 1]),
    )
    .await;
    assert_eq!(a.status, 413);
    assert_eq!(a.problem()["status"], 413);

    // Oversize without Content-Length (chunked): 413 once the limit is passed.
    let chunk = |n: usize| {
        let mut c = format!("{n:x}\r\n").into_bytes();
        c.extend(std::iter::repeat_n(b'x', n));
        c.extend_from_slice(b"\r\n");
        c
    };
    let a = raw(
        addr,
        &format!(
            "POST /hooks/claravine HTTP/1.1\r\nauthorization: Bearer {CLARAVINE_TOKEN}\r\ntransfer-encoding: chunked"
        ),
        vec![
            (Duration::ZERO, chunk(600)),
            (Duration::ZERO, chunk(600)),
            (Duration::ZERO, b"0\r\n\r\n".to_vec()),
        ],
    )
    .await;
    assert_eq!(a.status, 413, "{a:?}");

    // A sender that stalls mid-body: 408 after the read timeout.
    let a = raw(
        addr,
        &format!(
            "POST /hooks/claravine HTTP/1.1\r\nauthorization: Bearer {CLARAVINE_TOKEN}\r\ncontent-length: 100"
        ),
        vec![
            (Duration::ZERO, b"{\"event\":".to_vec()),
            (READ_TIMEOUT * 4, b"\"late\"".to_vec()),
        ],
    )
    .await;
    assert_eq!(a.status, 408, "{a:?}");
    assert_eq!(a.problem()["status"], 408);
    assert_eq!(
        depth().await,
        1,
        "none of the refused deliveries was queued"
    );

    // Clarity-style route: context fields checked in declared order (422);
    // a GET with every field in the query is queued.
    let clarity = format!("{base}/hooks/clarity/provision");
    let a = send(
        &client,
        client
            .post(clarity.clone())
            .header("x-clarity-webhook-token", CLARITY_TOKEN)
            .body(r#"{"identity_id":"i-1"}"#),
    )
    .await;
    assert_eq!(a.status, 422);
    assert_eq!(
        a.problem()["missing_fields"],
        serde_json::json!(["app_identifier", "entitlement_id"])
    );
    let a = send(
        &client,
        client
            .get(format!(
                "{clarity}?app_identifier=a&identity_id=i&entitlement_id=e"
            ))
            .header("x-clarity-webhook-token", CLARITY_TOKEN),
    )
    .await;
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(depth().await, 2);

    // Event filter: a verified event outside it gets 200 and is not queued.
    let a = send(
        &client,
        clarife_request(&client, &base, "evt_1", "project.created"),
    )
    .await;
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(depth().await, 2);
    let a = send(
        &client,
        clarife_request(&client, &base, "evt_2", "document.created"),
    )
    .await;
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(depth().await, 3);

    // Inline mode: the application gets the verified delivery and the raw body.
    let a = send(
        &client,
        claravine_request(&client, format!("{base}/hooks/inline"), "obj-9"),
    )
    .await;
    let id = hookgate_receive::derived_delivery_id(claravine_body("obj-9").as_bytes());
    assert_eq!(a.status, 200);
    assert_eq!(
        a.body,
        format!("verified inline {id} {}", claravine_body("obj-9").len())
    );
    assert_eq!(depth().await, 3);

    // The typed extractor: the parsed event, or 422 for a verified payload
    // that does not parse; inline mode queues neither.
    let typed = format!("{base}/hooks/typed");
    let uuid = "26679e11-820c-407b-9c5a-17ed1181a81a";
    let a = send(&client, claravine_request(&client, typed.clone(), uuid)).await;
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(a.body, typed_answer("submission.completed", "typed"));
    let a = send(
        &client,
        claravine_request(&client, typed, uuid).body(format!(r#"{{"token":"{CLARAVINE_TOKEN}"}}"#)),
    )
    .await;
    assert_eq!(a.status, 422, "{a:?}");
    assert_eq!(a.problem()["type"], "urn:hookgate:problem:invalid_payload");
    assert_eq!(depth().await, 3);

    // The configured success statuses, once the delivery is queued.
    for (path, status, queued) in [("accepted", 202, 4), ("no-content", 204, 5)] {
        let url = format!("{base}/hooks/{path}");
        let a = send(&client, claravine_request(&client, url, "obj-10")).await;
        assert_eq!((a.status, a.body.as_str()), (status, ""), "{a:?}");
        assert_eq!(depth().await, queued);
    }
}

/// A server whose queue is full must say 503 with the queue's own
/// `Retry-After` hint (`retry_after`), and one whose queue cannot write (a
/// disk error) 503 with the source's default of 1 s, naming nothing of the
/// queue's internals.
pub async fn check_refusing_queue(addr: SocketAddr, retry_after: &str) {
    let client = reqwest::Client::new();
    let a = send(
        &client,
        claravine_request(&client, format!("http://{addr}/hooks/claravine"), "obj-1"),
    )
    .await;
    assert_eq!(a.status, 503, "{a:?}");
    assert_eq!(a.headers["retry-after"], retry_after);
    assert_eq!(
        a.problem()["type"],
        "urn:hookgate:problem:queue_unavailable"
    );
    assert!(!a.body.contains("/var/lib"), "{a:?}");
}

/// A server whose queue never answers must say 503 with `Retry-After`, not
/// 2xx and not 4xx.
pub async fn check_stalled_queue(addr: SocketAddr) {
    let client = reqwest::Client::new();
    let a = send(
        &client,
        claravine_request(&client, format!("http://{addr}/hooks/claravine"), "obj-1"),
    )
    .await;
    assert_eq!(a.status, 503, "{a:?}");
    assert_eq!(a.headers["retry-after"], "1");
    assert_eq!(
        a.problem()["type"],
        "urn:hookgate:problem:ack_budget_exceeded"
    );
}
