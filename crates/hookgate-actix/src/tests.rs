//! Every response path of the middleware, through actix-web's own test utilities.

use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Payload;
use actix_web::error::PayloadError;
use actix_web::http::{Method, StatusCode, header};
use actix_web::test::{self, TestRequest};
use actix_web::{App, HttpResponse, web};
use bytes::Bytes;
use hmac::{Hmac, KeyInit, Mac};
use hookgate_queue::{Enqueue, LeaseRequest, MemoryQueue, Queue};
use hookgate_receive::testing::{MisbehavingQueue, Misbehaviour};
use hookgate_receive::{Mode, Receiver, Rejection, Source};
use hookgate_verify::{Scheme, Verifier};

use crate::{VerifiedBytes, Webhook};

const CLARAVINE_TOKEN: &str = "client-secret";
const CLARITY_TOKEN: &str = "route-token";
const GITHUB_SECRET: &str = "github-secret";
const CLARIFE_SECRET: &str = "clarife-signing-secret";

fn claravine_body(object_id: &str) -> String {
    format!(
        r#"{{"event":"submission","event_time":1770914863,"object_id":"{object_id}","href":"https://api.claravine.com/v1/x","operation":"Completed","version":1,"token":"{CLARAVINE_TOKEN}"}}"#
    )
}

fn claravine(path: &str, object_id: &str) -> TestRequest {
    TestRequest::post()
        .uri(path)
        .insert_header((header::AUTHORIZATION, format!("Bearer {CLARAVINE_TOKEN}")))
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .set_payload(claravine_body(object_id))
}

fn github(delivery: &str, body: &'static str) -> TestRequest {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(GITHUB_SECRET.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    TestRequest::post()
        .uri("/hooks/github")
        .insert_header(("x-github-event", "issues"))
        .insert_header(("x-github-delivery", delivery))
        .insert_header(("x-hub-signature-256", format!("sha256={hex}")))
        .set_payload(body)
}

fn clarife(id: &str, kind: &str) -> TestRequest {
    let body = format!(
        r#"{{"id":"{id}","type":"{kind}","created_at":"2026-03-28T12:00:00Z","data":{{"id":"d1"}}}}"#
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let signed = hookgate_verify::Signer::new(Scheme::Clarife, CLARIFE_SECRET)
        .unwrap()
        .sign(id, now, body.as_bytes())
        .unwrap();
    let mut req = TestRequest::post().uri("/hooks/clarife");
    for (name, value) in &signed {
        req = req.insert_header((name.as_str(), value.to_str().unwrap()));
    }
    req.set_payload(body)
}

/// An actix payload that yields `chunks` and then never ends (nor fails).
fn stalling(chunks: Vec<Bytes>) -> Payload {
    use futures_util::StreamExt;
    let stream = futures_util::stream::iter(chunks.into_iter().map(Ok::<_, PayloadError>))
        .chain(futures_util::stream::pending());
    let boxed: std::pin::Pin<Box<dyn futures_util::Stream<Item = Result<Bytes, PayloadError>>>> =
        Box::pin(stream);
    Payload::from(boxed)
}

/// A signed Claravine request whose body is [`stalling`] after `$chunks`,
/// announcing `$length` (`Some("…")`) or no length at all. (A macro:
/// actix-web does not re-export the request type.)
macro_rules! claravine_stalling {
    ($length:expr, $chunks:expr) => {{
        let mut req = TestRequest::post()
            .uri("/hooks/claravine")
            .insert_header((header::AUTHORIZATION, format!("Bearer {CLARAVINE_TOKEN}")));
        let length: Option<&str> = $length;
        if let Some(length) = length {
            req = req.insert_header((header::CONTENT_LENGTH, length));
        }
        let req = req.to_request().replace_payload(stalling($chunks)).0;
        assert_eq!(
            actix_web::HttpMessage::headers(&req)
                .get(header::CONTENT_LENGTH)
                .map(|v| v.to_str().unwrap()),
            length
        );
        req
    }};
}

fn receiver(queue: Arc<dyn Enqueue>) -> Receiver {
    Receiver::builder()
        .queue(queue)
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
                "claravine",
                "/hooks/claravine",
                Verifier::new(Scheme::Claravine, CLARAVINE_TOKEN).unwrap(),
            )
            .body_limit(512)
            .build()
            .unwrap(),
        )
        .source(
            Source::builder(
                "clarity",
                "/hooks/clarity/provision",
                Verifier::new(Scheme::Clarity, CLARITY_TOKEN).unwrap(),
            )
            .methods([http::Method::GET, http::Method::POST])
            .require_context(["app_identifier", "identity_id", "entitlement_id"])
            .build()
            .unwrap(),
        )
        .source(
            Source::builder(
                "github",
                "/hooks/github",
                Verifier::new(Scheme::GitHub, GITHUB_SECRET).unwrap(),
            )
            .success_status(http::StatusCode::NO_CONTENT)
            .unwrap()
            .build()
            .unwrap(),
        )
        .source(
            Source::builder(
                "typed",
                "/hooks/typed",
                Verifier::new(Scheme::Claravine, CLARAVINE_TOKEN).unwrap(),
            )
            .mode(Mode::Inline)
            .build()
            .unwrap(),
        )
        .source(
            Source::builder(
                "inline",
                "/hooks/inline",
                Verifier::new(Scheme::Claravine, CLARAVINE_TOKEN).unwrap(),
            )
            .mode(Mode::Inline)
            .build()
            .unwrap(),
        )
        .build()
        .unwrap()
}

async fn inline_handler(hook: VerifiedBytes, body: Bytes) -> HttpResponse {
    // The payload was restored: the handler can read it like any other body.
    assert_eq!(hook.bytes(), &body);
    HttpResponse::Ok().body(format!(
        "app saw verified {} {} ({} bytes)",
        hook.delivery().source(),
        hook.delivery().delivery_id(),
        body.len()
    ))
}

async fn typed(hook: crate::Verified<hookgate_events::ClaravineEvent>) -> HttpResponse {
    use hookgate_events::Event;
    HttpResponse::Ok().body(format!(
        "{} from {}",
        hook.event().event_name(),
        hook.delivery().source()
    ))
}

async fn unprotected(hook: VerifiedBytes) -> HttpResponse {
    HttpResponse::Ok().body(hook.into_bytes())
}

macro_rules! app {
    ($queue:expr) => {
        test::init_service(
            App::new()
                .wrap(Webhook::new(receiver($queue)))
                .route(
                    "/health",
                    web::post().to(|body: Bytes| async move {
                        HttpResponse::Ok().body(format!("app saw /health ({} bytes)", body.len()))
                    }),
                )
                .route("/hooks/inline", web::post().to(inline_handler))
                .route("/unprotected", web::post().to(unprotected))
                .route("/hooks/typed", web::post().to(typed)),
        )
        .await
    };
}

async fn depth(queue: &MemoryQueue) -> u64 {
    queue.stats().await.unwrap().depth()
}

fn problem(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body).unwrap()
}

#[actix_web::test]
async fn other_paths_reach_the_app_untouched() {
    let queue = Arc::new(MemoryQueue::new());
    let app = app!(queue.clone());
    let req = TestRequest::post()
        .uri("/health")
        .set_payload("ping")
        .to_request();
    let body = test::call_and_read_body(&app, req).await;
    assert_eq!(body, "app saw /health (4 bytes)");
    assert_eq!(depth(&queue).await, 0);
}

#[actix_web::test]
async fn a_verified_delivery_is_queued_and_acknowledged() {
    let queue = Arc::new(MemoryQueue::new());
    let app = app!(queue.clone());
    let res = test::call_service(&app, claravine("/hooks/claravine", "obj-1").to_request()).await;
    assert_eq!(res.status(), StatusCode::OK);
    let leased = queue
        .lease(LeaseRequest::new(10, Duration::from_secs(30)))
        .await
        .unwrap();
    assert_eq!(leased.len(), 1);
    let queued = &leased[0].delivery;
    assert_eq!(queued.source, "claravine");
    assert_eq!(queued.body, Bytes::from(claravine_body("obj-1")));
    assert!(queued.headers.get("authorization").is_none());
}

#[actix_web::test]
async fn a_duplicate_gets_200_and_is_queued_once() {
    let queue = Arc::new(MemoryQueue::new());
    let app = app!(queue.clone());
    let body = r#"{"action":"opened"}"#;
    let first = test::call_service(&app, github("d-1", body).to_request()).await;
    assert_eq!(first.status(), StatusCode::NO_CONTENT);
    let again = test::call_service(&app, github("d-1", body).to_request()).await;
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(depth(&queue).await, 1);
}

#[actix_web::test]
async fn a_wrong_method_gets_405_with_allow() {
    let queue = Arc::new(MemoryQueue::new());
    let app = app!(queue.clone());
    let req = TestRequest::default()
        .method(Method::PUT)
        .uri("/hooks/clarity/provision")
        .insert_header(("x-clarity-webhook-token", CLARITY_TOKEN))
        .to_request();
    let res = test::call_service(&app, req).await;
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(res.headers().get(header::ALLOW).unwrap(), "GET, POST");
    assert_eq!(depth(&queue).await, 0);
}

#[actix_web::test]
async fn an_extension_method_is_refused_on_a_get_route_not_taken_for_get() {
    let queue = Arc::new(MemoryQueue::new());
    let app = app!(queue.clone());
    let req = TestRequest::default()
        .method(Method::from_bytes(b"PURGE").unwrap())
        .uri("/hooks/clarity/provision?entitlement_id=e&identity_id=i&app_identifier=a")
        .insert_header(("x-clarity-webhook-token", CLARITY_TOKEN))
        .to_request();
    let res = test::call_service(&app, req).await;
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(res.headers().get(header::ALLOW).unwrap(), "GET, POST");
    let doc = problem(&test::read_body(res).await);
    assert_eq!(
        doc["detail"],
        "method PURGE is not accepted on this webhook route"
    );
    assert_eq!(depth(&queue).await, 0);
}

#[actix_web::test]
async fn an_oversize_body_gets_413() {
    let queue = Arc::new(MemoryQueue::new());
    let app = app!(queue.clone());
    let req = claravine("/hooks/claravine", "obj-1")
        .set_payload(vec![b'x'; 513])
        .to_request();
    let res = test::call_service(&app, req).await;
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        res.headers().get(header::CONTENT_TYPE).unwrap(),
        "application/problem+json"
    );
    let doc = problem(&test::read_body(res).await);
    assert_eq!(doc["detail"], "body exceeds the limit of 512 bytes");
    assert_eq!(depth(&queue).await, 0);
}

/// Bodies that never end: announced over the limit (413 before a byte is
/// read), unannounced and past the limit (413 once passed, without waiting
/// for the rest), and stalled mid-body (408 at the 5 s default read timeout).
/// Under the paused clock a reader that waited for the whole body would get
/// the 408 at once, so the 413 cases fail rather than hang if it did.
#[actix_web::test]
async fn bodies_that_never_end_get_413_or_408_without_being_waited_for() {
    tokio::time::pause();
    let cases = [
        (
            Some("513"),
            Vec::new(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "body exceeds the limit of 512 bytes",
        ),
        (
            None,
            vec![Bytes::from(vec![b'x'; 200]); 3],
            StatusCode::PAYLOAD_TOO_LARGE,
            "body exceeds the limit of 512 bytes",
        ),
        (
            Some("100"),
            vec![Bytes::from_static(b"{")],
            StatusCode::REQUEST_TIMEOUT,
            "body was not received within 5000 ms",
        ),
    ];
    for (length, chunks, status, detail) in cases {
        let queue = Arc::new(MemoryQueue::new());
        let app = app!(queue.clone());
        let res = test::call_service(&app, claravine_stalling!(length, chunks)).await;
        assert_eq!(res.status(), status, "{length:?}");
        let doc = problem(&test::read_body(res).await);
        assert_eq!(doc["detail"], detail, "{length:?}");
        assert_eq!(depth(&queue).await, 0);
    }
}

#[actix_web::test]
async fn a_missing_signature_gets_400_and_a_bad_one_401() {
    let queue = Arc::new(MemoryQueue::new());
    let app = app!(queue.clone());
    let unsigned = TestRequest::post()
        .uri("/hooks/github")
        .set_payload("{}")
        .to_request();
    let res = test::call_service(&app, unsigned).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let doc = problem(&test::read_body(res).await);
    assert_eq!(doc["type"], "urn:hookgate:problem:malformed");

    let forged = github("d-1", r#"{"action":"opened"}"#)
        .set_payload(r#"{"action":"closed"}"#)
        .to_request();
    let res = test::call_service(&app, forged).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(depth(&queue).await, 0);
}

#[actix_web::test]
async fn missing_context_fields_get_422_in_declared_order() {
    let queue = Arc::new(MemoryQueue::new());
    let app = app!(queue.clone());
    let req = TestRequest::post()
        .uri("/hooks/clarity/provision")
        .insert_header(("x-clarity-webhook-token", CLARITY_TOKEN))
        .set_payload(r#"{"identity_id":"i-1"}"#)
        .to_request();
    let res = test::call_service(&app, req).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let doc = problem(&test::read_body(res).await);
    assert_eq!(
        doc["missing_fields"],
        serde_json::json!(["app_identifier", "entitlement_id"])
    );

    let get = TestRequest::get()
        .uri("/hooks/clarity/provision?entitlement_id=e&identity_id=i&app_identifier=a")
        .insert_header(("x-clarity-webhook-token", CLARITY_TOKEN))
        .to_request();
    assert_eq!(test::call_service(&app, get).await.status(), StatusCode::OK);
    assert_eq!(depth(&queue).await, 1);
}

#[actix_web::test]
async fn a_stalled_queue_gets_503_with_retry_after_within_the_budget() {
    tokio::time::pause();
    let queue = Arc::new(MisbehavingQueue::new(Misbehaviour::Stall));
    let app = app!(queue.clone());
    let started = tokio::time::Instant::now();
    let res = test::call_service(&app, claravine("/hooks/claravine", "obj-1").to_request()).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.headers().get(header::RETRY_AFTER).unwrap(), "1");
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

#[actix_web::test]
async fn a_full_queue_gets_503_with_its_retry_hint() {
    let queue = Arc::new(MisbehavingQueue::new(Misbehaviour::Full(
        Duration::from_secs(7),
    )));
    let app = app!(queue);
    let res = test::call_service(&app, claravine("/hooks/claravine", "obj-1").to_request()).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.headers().get(header::RETRY_AFTER).unwrap(), "7");
}

#[actix_web::test]
async fn a_queue_that_cannot_write_gets_503_with_retry_after_and_no_internals() {
    let broken = Arc::new(MisbehavingQueue::new(Misbehaviour::StorageError));
    let app = app!(broken.clone());
    let res = test::call_service(&app, claravine("/hooks/claravine", "obj-1").to_request()).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.headers().get(header::RETRY_AFTER).unwrap(), "1");
    let body = test::read_body(res).await;
    let doc = problem(&body);
    assert_eq!(doc["type"], "urn:hookgate:problem:queue_unavailable");
    assert!(
        !String::from_utf8_lossy(&body).contains("/var/lib"),
        "{doc}"
    );
    assert_eq!(broken.attempts(), 1);
}

#[actix_web::test]
async fn filtered_out_events_get_200_and_are_not_queued() {
    let queue = Arc::new(MemoryQueue::new());
    let app = app!(queue.clone());
    let res = test::call_service(&app, clarife("evt_1", "project.created").to_request()).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(depth(&queue).await, 0);

    let res = test::call_service(&app, clarife("evt_2", "document.updated").to_request()).await;
    assert_eq!(res.status(), StatusCode::OK);
    let leased = queue
        .lease(LeaseRequest::new(10, Duration::from_secs(30)))
        .await
        .unwrap();
    assert_eq!(leased.len(), 1);
    // clarife's envelope id is the delivery id.
    assert_eq!(leased[0].delivery.delivery_id, "evt_2");
}

#[actix_web::test]
async fn inline_mode_restores_the_payload_for_the_handler() {
    let queue = Arc::new(MemoryQueue::new());
    let app = app!(queue.clone());
    let res = test::call_service(&app, claravine("/hooks/inline", "obj-9").to_request()).await;
    assert_eq!(res.status(), StatusCode::OK);
    let id = hookgate_receive::derived_delivery_id(claravine_body("obj-9").as_bytes());
    let body = test::read_body(res).await;
    assert_eq!(
        body,
        format!(
            "app saw verified inline {id} ({} bytes)",
            claravine_body("obj-9").len()
        )
    );
    assert_eq!(depth(&queue).await, 0);
}

#[actix_web::test]
async fn an_extractor_without_the_middleware_refuses_with_500() {
    let queue = Arc::new(MemoryQueue::new());
    let app = app!(queue);
    let req = TestRequest::post()
        .uri("/unprotected")
        .set_payload("{}")
        .to_request();
    let res = test::call_service(&app, req).await;
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let doc = problem(&test::read_body(res).await);
    assert_eq!(doc["type"], "urn:hookgate:problem:not_verified");
}

#[actix_web::test]
async fn the_rejection_response_can_be_swapped_for_a_closure() {
    let queue: Arc<dyn Queue> = Arc::new(MemoryQueue::new());
    let plain = |r: &Rejection| {
        let mut res = http::Response::new(Bytes::from(format!("no: {}", r.body_text())));
        *res.status_mut() = r.status();
        res
    };
    let app = test::init_service(
        App::new().wrap(Webhook::new(receiver(queue)).rejection_response(plain)),
    )
    .await;
    let req = TestRequest::delete().uri("/hooks/github").to_request();
    let res = test::call_service(&app, req).await;
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        test::read_body(res).await,
        "no: method DELETE is not accepted on this webhook route"
    );
}

#[actix_web::test]
async fn verified_extracts_the_typed_event_or_refuses_with_422() {
    let queue = Arc::new(MemoryQueue::new());
    let app = app!(queue);
    let uuid = "26679e11-820c-407b-9c5a-17ed1181a81a";
    let res = test::call_service(&app, claravine("/hooks/typed", uuid).to_request()).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        test::read_body(res).await,
        "submission.completed from typed"
    );

    let req = claravine("/hooks/typed", "obj-1")
        .set_payload(format!(r#"{{"token":"{CLARAVINE_TOKEN}"}}"#))
        .to_request();
    let res = test::call_service(&app, req).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
}
