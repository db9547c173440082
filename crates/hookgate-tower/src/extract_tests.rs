//! The axum extractors through axum and [`WebhookLayer`]: what a handler
//! gets, and that they refuse without the layer.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::routing::post;
use hookgate_events::ClaravineEvent;
use hookgate_queue::MemoryQueue;
use hookgate_receive::{Mode, Receiver, Source};
use hookgate_verify::{Scheme, Verifier};
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

use crate::{Verified, VerifiedBytes, WebhookLayer};

const TOKEN: &str = "client-secret";

fn app() -> Router {
    let inline = |path: &str| {
        Source::builder(
            path.trim_start_matches("/hooks/"),
            path,
            Verifier::new(Scheme::Claravine, TOKEN).unwrap(),
        )
        .mode(Mode::Inline)
        .build()
        .unwrap()
    };
    let receiver = Receiver::builder()
        .queue(Arc::new(MemoryQueue::new()))
        .source(inline("/hooks/typed"))
        .source(inline("/hooks/bytes"))
        .build()
        .unwrap();
    Router::new()
        .route(
            "/hooks/typed",
            post(|hook: Verified<ClaravineEvent>| async move {
                use hookgate_events::Event;
                format!(
                    "{} from {}",
                    hook.event().event_name(),
                    hook.delivery().source()
                )
            }),
        )
        .route(
            "/hooks/bytes",
            post(|hook: VerifiedBytes| async move { hook.into_bytes() }),
        )
        .route(
            "/unprotected",
            post(|hook: VerifiedBytes| async move { hook.into_bytes() }),
        )
        .layer(WebhookLayer::new(receiver))
}

async fn call(path: &str, body: &str, signed: bool) -> (StatusCode, String) {
    let mut req = Request::post(path);
    if signed {
        req = req.header("authorization", format!("Bearer {TOKEN}"));
    }
    let res = app()
        .oneshot(req.body(Body::from(body.to_owned())).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

const LIST_UPDATED: &str = r#"{"event":"list","event_time":1770923476,"object_id":"ef512810-0919-4e47-ab41-d3c69ea27ed0","href":"https://api.claravine.com/v1/lists/ef512810-0919-4e47-ab41-d3c69ea27ed0","operation":"updated","version":2,"token":"client-secret"}"#;

#[tokio::test]
async fn verified_extracts_the_typed_event() {
    let (status, body) = call("/hooks/typed", LIST_UPDATED, true).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, "list.updated from typed");
}

#[tokio::test]
async fn a_payload_of_the_wrong_shape_gets_422() {
    let (status, body) = call("/hooks/typed", r#"{"token":"client-secret"}"#, true).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("invalid_payload"), "{body}");
}

#[tokio::test]
async fn verified_bytes_are_the_raw_body() {
    let (status, body) = call("/hooks/bytes", LIST_UPDATED, true).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, LIST_UPDATED);
    let (status, _) = call("/hooks/bytes", LIST_UPDATED, false).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn extractors_refuse_to_exist_without_the_layer() {
    let (status, body) = call("/unprotected", LIST_UPDATED, true).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(body.contains("not_verified"), "{body}");
}
