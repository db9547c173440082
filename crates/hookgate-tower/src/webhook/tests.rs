//! Every response path of the layer, through tower's `oneshot` (no server).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use hmac::{Hmac, KeyInit, Mac};
use hookgate_queue::{Enqueue, LeaseRequest, MemoryQueue, Queue};
use hookgate_receive::testing::{MisbehavingQueue, Misbehaviour};
use hookgate_receive::{Mode, Receiver, Rejection, Source, VerifiedDelivery};
use hookgate_verify::{Scheme, Verifier};
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, StreamBody};
use tower::{ServiceBuilder, ServiceExt, service_fn};

use crate::{RequestBody, WebhookLayer};

const CLARAVINE_TOKEN: &str = "client-secret";
const CLARITY_TOKEN: &str = "route-token";
const GITHUB_SECRET: &str = "github-secret";

fn claravine_body(object_id: &str) -> String {
    format!(
        r#"{{"event":"submission","event_time":1770914863,"object_id":"{object_id}","href":"https://api.claravine.com/v1/x","operation":"Completed","version":1,"token":"{CLARAVINE_TOKEN}"}}"#
    )
}

fn claravine(object_id: &str) -> Request<Full<Bytes>> {
    Request::post("/hooks/claravine")
        .header(header::AUTHORIZATION, format!("Bearer {CLARAVINE_TOKEN}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(claravine_body(object_id))))
        .unwrap()
}

fn github_signature(body: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(GITHUB_SECRET.as_bytes()).unwrap();
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

fn github(delivery: &str, body: &'static str) -> Request<Full<Bytes>> {
    Request::post("/hooks/github")
        .header("x-github-event", "issues")
        .header("x-github-delivery", delivery)
        .header("x-hub-signature-256", github_signature(body.as_bytes()))
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap()
}

fn sources() -> Vec<Source> {
    vec![
        Source::builder(
            "claravine",
            "/hooks/claravine",
            Verifier::new(Scheme::Claravine, CLARAVINE_TOKEN).unwrap(),
        )
        .body_limit(512)
        .read_timeout(Duration::from_secs(2))
        .build()
        .unwrap(),
        Source::builder(
            "clarity",
            "/hooks/clarity/provision",
            Verifier::new(Scheme::Clarity, CLARITY_TOKEN).unwrap(),
        )
        .methods([Method::GET, Method::POST])
        .require_context(["app_identifier", "identity_id", "entitlement_id"])
        .build()
        .unwrap(),
        Source::builder(
            "github",
            "/hooks/github",
            Verifier::new(Scheme::GitHub, GITHUB_SECRET).unwrap(),
        )
        .success_status(StatusCode::ACCEPTED)
        .unwrap()
        .build()
        .unwrap(),
        Source::builder(
            "inline",
            "/hooks/inline",
            Verifier::new(Scheme::Claravine, CLARAVINE_TOKEN).unwrap(),
        )
        .mode(Mode::Inline)
        .build()
        .unwrap(),
    ]
}

fn receiver(queue: Arc<dyn Enqueue>) -> Receiver {
    sources()
        .into_iter()
        .fold(Receiver::builder().queue(queue), |b, s| b.source(s))
        .build()
        .unwrap()
}

/// The application behind the layer: echoes what it was given, so tests
/// see whether and how it was called.
async fn app<B>(req: Request<RequestBody<B>>) -> Result<Response<Full<Bytes>>, Infallible>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: std::fmt::Debug,
{
    let delivery = req.extensions().get::<VerifiedDelivery>().cloned();
    let path = req.uri().path().to_owned();
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let text = match delivery {
        Some(d) => format!(
            "app saw verified {} {} ({} bytes)",
            d.source(),
            d.delivery_id(),
            body.len()
        ),
        None => format!("app saw {path} ({} bytes)", body.len()),
    };
    Ok(Response::new(Full::new(Bytes::from(text))))
}

async fn send<B>(queue: Arc<dyn Enqueue>, req: Request<B>) -> (StatusCode, http::HeaderMap, String)
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: std::fmt::Debug,
{
    let svc = ServiceBuilder::new()
        .layer(WebhookLayer::new(receiver(queue)))
        .service(service_fn(app::<B>));
    let res = svc.oneshot(req).await.unwrap();
    let (parts, body) = res.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    (
        parts.status,
        parts.headers,
        String::from_utf8(body.to_vec()).unwrap(),
    )
}

async fn depth(queue: &MemoryQueue) -> u64 {
    queue.stats().await.unwrap().depth()
}

fn problem(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap()
}

#[tokio::test]
async fn other_paths_reach_the_app_untouched() {
    let queue = Arc::new(MemoryQueue::new());
    let req = Request::post("/health")
        .body(Full::new(Bytes::from_static(b"ping")))
        .unwrap();
    let (status, _, body) = send(queue.clone(), req).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "app saw /health (4 bytes)");
    assert_eq!(depth(&queue).await, 0);
}

#[tokio::test]
async fn a_verified_delivery_is_queued_and_acknowledged_without_calling_the_app() {
    let queue = Arc::new(MemoryQueue::new());
    let (status, _, body) = send(queue.clone(), claravine("obj-1")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "");

    let leased = queue
        .lease(LeaseRequest::new(10, Duration::from_secs(30)))
        .await
        .unwrap();
    assert_eq!(leased.len(), 1);
    let queued = &leased[0].delivery;
    assert_eq!(queued.source, "claravine");
    assert_eq!(
        queued.delivery_id,
        hookgate_receive::derived_delivery_id(claravine_body("obj-1").as_bytes())
    );
    assert_eq!(queued.body, Bytes::from(claravine_body("obj-1")));
    assert_eq!(queued.headers[header::CONTENT_TYPE], "application/json");
    // The bearer token is a credential: it is not written to the queue.
    assert!(queued.headers.get(header::AUTHORIZATION).is_none());
}

#[tokio::test]
async fn a_duplicate_gets_200_and_is_queued_once() {
    let queue = Arc::new(MemoryQueue::new());
    let body = r#"{"action":"opened"}"#;
    assert_eq!(
        send(queue.clone(), github("d-1", body)).await.0,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        send(queue.clone(), github("d-1", body)).await.0,
        StatusCode::OK
    );
    assert_eq!(depth(&queue).await, 1);
    assert_eq!(
        send(queue.clone(), github("d-2", body)).await.0,
        StatusCode::ACCEPTED
    );
    assert_eq!(depth(&queue).await, 2);
}

#[tokio::test]
async fn a_wrong_method_gets_405_with_allow() {
    let queue = Arc::new(MemoryQueue::new());
    let req = Request::put("/hooks/clarity/provision")
        .header("x-clarity-webhook-token", CLARITY_TOKEN)
        .body(Full::new(Bytes::new()))
        .unwrap();
    let (status, headers, body) = send(queue.clone(), req).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(headers[header::ALLOW], "GET, POST");
    assert_eq!(problem(&body)["status"], 405);
    assert_eq!(depth(&queue).await, 0);
}

#[tokio::test]
async fn an_announced_oversize_body_gets_413_before_it_is_read() {
    let queue = Arc::new(MemoryQueue::new());
    // The body never yields: were it read, the test would hang.
    let never = StreamBody::new(futures_util_pending());
    let req = Request::post("/hooks/claravine")
        .header(header::CONTENT_LENGTH, "513")
        .body(never)
        .unwrap();
    let (status, headers, body) = send(queue.clone(), req).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(headers[header::CONTENT_TYPE], "application/problem+json");
    assert_eq!(
        problem(&body)["detail"],
        "body exceeds the limit of 512 bytes"
    );
    assert_eq!(depth(&queue).await, 0);
}

/// A body that never yields a frame.
fn futures_util_pending()
-> impl futures_util::Stream<Item = Result<http_body::Frame<Bytes>, Infallible>> + Send {
    futures_util::stream::pending()
}

/// A chunked body of `chunks` × `size` bytes, without a length.
fn chunked(
    chunks: usize,
    size: usize,
) -> StreamBody<impl futures_util::Stream<Item = Result<http_body::Frame<Bytes>, Infallible>> + Send>
{
    StreamBody::new(futures_util::stream::iter((0..chunks).map(move |_| {
        Ok(http_body::Frame::data(Bytes::from(vec![b'x'; size])))
    })))
}

#[tokio::test]
async fn an_oversize_body_without_length_gets_413() {
    let queue = Arc::new(MemoryQueue::new());
    let req = Request::post("/hooks/claravine")
        .header(header::AUTHORIZATION, format!("Bearer {CLARAVINE_TOKEN}"))
        .body(chunked(5, 200))
        .unwrap();
    let (status, _, body) = send(queue.clone(), req).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(problem(&body)["title"], "payload too large");
    assert_eq!(depth(&queue).await, 0);
}

#[tokio::test(start_paused = true)]
async fn a_body_slower_than_the_read_timeout_gets_408() {
    let queue = Arc::new(MemoryQueue::new());
    // One byte, then nothing: the sender stalls mid-body.
    let stream = futures_util::stream::iter([Ok::<_, Infallible>(http_body::Frame::data(
        Bytes::from_static(b"{"),
    ))])
    .chain(futures_util::stream::pending());
    let req = Request::post("/hooks/claravine")
        .header(header::AUTHORIZATION, format!("Bearer {CLARAVINE_TOKEN}"))
        .body(StreamBody::new(stream))
        .unwrap();
    let started = tokio::time::Instant::now();
    let (status, _, body) = send(queue.clone(), req).await;
    assert_eq!(status, StatusCode::REQUEST_TIMEOUT);
    assert_eq!(
        problem(&body)["detail"],
        "body was not received within 2000 ms"
    );
    // Paused clock: the read timeout elapsed, not a moment more.
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_secs(2) && elapsed <= Duration::from_millis(2001),
        "{elapsed:?}"
    );
    assert_eq!(depth(&queue).await, 0);
}

#[tokio::test]
async fn a_missing_signature_gets_400_and_a_bad_one_401_as_problem_json() {
    let queue = Arc::new(MemoryQueue::new());
    let unsigned = Request::post("/hooks/github")
        .body(Full::new(Bytes::from_static(b"{}")))
        .unwrap();
    let (status, headers, body) = send(queue.clone(), unsigned).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(headers[header::CONTENT_TYPE], "application/problem+json");
    let doc = problem(&body);
    assert_eq!(doc["status"], 400);
    assert_eq!(doc["type"], "urn:hookgate:problem:malformed");
    assert!(
        doc["detail"]
            .as_str()
            .unwrap()
            .contains("x-hub-signature-256")
    );

    let mut forged = github("d-1", r#"{"action":"opened"}"#);
    *forged.body_mut() = Full::new(Bytes::from_static(br#"{"action":"closed"}"#));
    let (status, _, body) = send(queue.clone(), forged).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let doc = problem(&body);
    assert_eq!(doc["type"], "urn:hookgate:problem:unauthenticated");
    assert!(!body.contains(GITHUB_SECRET));
    assert_eq!(depth(&queue).await, 0);
}

#[tokio::test]
async fn missing_context_fields_get_422_in_declared_order() {
    let queue = Arc::new(MemoryQueue::new());
    let req = Request::post("/hooks/clarity/provision")
        .header("x-clarity-webhook-token", CLARITY_TOKEN)
        .body(Full::new(Bytes::from_static(br#"{"identity_id":"i-1"}"#)))
        .unwrap();
    let (status, _, body) = send(queue.clone(), req).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let doc = problem(&body);
    assert_eq!(
        doc["missing_fields"],
        serde_json::json!(["app_identifier", "entitlement_id"])
    );
    assert_eq!(depth(&queue).await, 0);

    let get =
        Request::get("/hooks/clarity/provision?entitlement_id=e&identity_id=i&app_identifier=a")
            .header("x-clarity-webhook-token", CLARITY_TOKEN)
            .body(Full::new(Bytes::new()))
            .unwrap();
    assert_eq!(send(queue.clone(), get).await.0, StatusCode::OK);
    assert_eq!(depth(&queue).await, 1);
}

#[tokio::test(start_paused = true)]
async fn a_stalled_queue_gets_503_with_retry_after_within_the_budget() {
    let queue = Arc::new(MisbehavingQueue::new(Misbehaviour::Stall));
    let started = tokio::time::Instant::now();
    let (status, headers, body) = send(queue.clone(), claravine("obj-1")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(headers[header::RETRY_AFTER], "1");
    assert_eq!(
        problem(&body)["type"],
        "urn:hookgate:problem:ack_budget_exceeded"
    );
    // Paused clock: the answer came at the 400 ms default budget (the timer
    // wheel has millisecond resolution).
    let elapsed = started.elapsed();
    let budget = hookgate_receive::DEFAULT_ACK_BUDGET;
    assert!(
        elapsed >= budget && elapsed <= budget + Duration::from_millis(1),
        "{elapsed:?}"
    );
    assert_eq!(queue.attempts(), 1);
}

#[tokio::test]
async fn a_refusing_queue_gets_503_with_its_retry_hint_and_no_internals() {
    let full = Arc::new(MisbehavingQueue::new(Misbehaviour::Full(
        Duration::from_secs(7),
    )));
    let (status, headers, _) = send(full, claravine("obj-1")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(headers[header::RETRY_AFTER], "7");

    let broken = Arc::new(MisbehavingQueue::new(Misbehaviour::StorageError));
    let (status, headers, body) = send(broken, claravine("obj-1")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(headers[header::RETRY_AFTER], "1");
    assert!(!body.contains("/var/lib"), "{body}");
}

#[tokio::test]
async fn inline_mode_passes_the_raw_body_and_the_verification_on() {
    let queue = Arc::new(MemoryQueue::new());
    let mut req = claravine("obj-9");
    *req.uri_mut() = "/hooks/inline".parse().unwrap();
    let (status, _, body) = send(queue.clone(), req).await;
    assert_eq!(status, StatusCode::OK);
    let id = hookgate_receive::derived_delivery_id(claravine_body("obj-9").as_bytes());
    assert_eq!(
        body,
        format!(
            "app saw verified inline {id} ({} bytes)",
            claravine_body("obj-9").len()
        )
    );
    assert_eq!(depth(&queue).await, 0);

    // Refusals never reach the app.
    let unsigned = Request::post("/hooks/inline")
        .body(Full::new(Bytes::from(claravine_body("obj-9"))))
        .unwrap();
    assert_eq!(send(queue, unsigned).await.0, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_rejection_response_can_be_swapped_for_a_closure() {
    let queue: Arc<dyn Queue> = Arc::new(MemoryQueue::new());
    let plain = |r: &Rejection| {
        let mut res = Response::new(Bytes::from(format!("no: {}", r.body_text())));
        *res.status_mut() = r.status();
        res
    };
    let svc = ServiceBuilder::new()
        .layer(WebhookLayer::new(receiver(queue)).rejection_response(plain))
        .service(service_fn(app::<Full<Bytes>>));
    let req = Request::delete("/hooks/github")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let res = svc.oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        body,
        "no: method DELETE is not accepted on this webhook route"
    );
}

const CLARIFE_SECRET: &str = "clarife-signing-secret";

fn clarife(id: &str, kind: &str) -> Request<Full<Bytes>> {
    let body = format!(
        r#"{{"id":"{id}","type":"{kind}","created_at":"2026-03-28T12:00:00Z","data":{{"id":"d1"}}}}"#
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let signer = hookgate_verify::Signer::new(Scheme::Clarife, CLARIFE_SECRET).unwrap();
    let mut req = Request::post("/hooks/clarife")
        .body(Full::new(Bytes::from(body.clone())))
        .unwrap();
    req.headers_mut()
        .extend(signer.sign(id, now, body.as_bytes()).unwrap());
    req
}

#[tokio::test]
async fn filtered_out_events_get_200_and_are_not_queued() {
    let queue = Arc::new(MemoryQueue::new());
    let receiver = Receiver::builder()
        .queue(queue.clone())
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
        .build()
        .unwrap();
    let svc = ServiceBuilder::new()
        .layer(WebhookLayer::new(receiver))
        .service(service_fn(app::<Full<Bytes>>));

    let res = svc
        .clone()
        .oneshot(clarife("evt_1", "project.created"))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(depth(&queue).await, 0);

    let res = svc
        .oneshot(clarife("evt_2", "document.updated"))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let leased = queue
        .lease(LeaseRequest::new(10, Duration::from_secs(30)))
        .await
        .unwrap();
    assert_eq!(leased.len(), 1);
    // clarife's envelope id is the delivery id.
    assert_eq!(leased[0].delivery.delivery_id, "evt_2");
}
