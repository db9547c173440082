//! axum extractors for routes behind [`WebhookLayer`](crate::WebhookLayer) in inline mode.
//!
//! Both read the [`VerifiedDelivery`] extension that only the middleware
//! attaches, after verification: a handler that takes one cannot run for an
//! unverified request. Without the middleware in front (a wiring mistake),
//! they refuse with 500 rather than pass unverified data on.

use axum::extract::FromRequestParts;
use bytes::Bytes;
use hookgate_events::FromDelivery;
use hookgate_receive::{Rejection, RejectionKind, VerifiedDelivery};
use http::request::Parts;

fn delivery(parts: &Parts) -> Result<VerifiedDelivery, Rejection> {
    parts
        .extensions
        .get::<VerifiedDelivery>()
        .cloned()
        .ok_or_else(|| {
            Rejection::new(
                RejectionKind::NotVerified,
                "no verified webhook delivery: the route is not behind WebhookLayer in inline mode",
            )
        })
}

/// The verified raw body and its delivery metadata.
///
/// ```
/// use hookgate_tower::VerifiedBytes;
///
/// async fn handler(hook: VerifiedBytes) -> String {
///     format!("{} bytes from {}", hook.bytes().len(), hook.delivery().source())
/// }
/// # let _ = axum::Router::<()>::new().route("/hooks/github", axum::routing::post(handler));
/// ```
#[derive(Debug, Clone)]
pub struct VerifiedBytes {
    delivery: VerifiedDelivery,
}

impl VerifiedBytes {
    /// The delivery metadata: source, delivery id, event name, verification result.
    pub fn delivery(&self) -> &VerifiedDelivery {
        &self.delivery
    }

    /// The verified raw body.
    pub fn bytes(&self) -> &Bytes {
        self.delivery.body()
    }

    /// Consumes `self`, returning the raw body.
    pub fn into_bytes(self) -> Bytes {
        self.delivery.body().clone()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for VerifiedBytes {
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self {
            delivery: delivery(parts)?,
        })
    }
}

/// The verified delivery's metadata and its typed event, parsed by
/// [`FromDelivery`] from `hookgate-events` (e.g. `Verified<ClarifeEvent>`).
///
/// An event that does not parse into `T` is refused with 422; the
/// message names the JSON path at fault.
#[derive(Debug, Clone)]
pub struct Verified<T> {
    delivery: VerifiedDelivery,
    event: T,
}

impl<T> Verified<T> {
    /// The delivery metadata: source, delivery id, event name, verification result.
    pub fn delivery(&self) -> &VerifiedDelivery {
        &self.delivery
    }

    /// The typed event.
    pub fn event(&self) -> &T {
        &self.event
    }

    /// Consumes `self`, returning metadata and event.
    pub fn into_parts(self) -> (VerifiedDelivery, T) {
        (self.delivery, self.event)
    }
}

impl<T, S> FromRequestParts<S> for Verified<T>
where
    T: FromDelivery,
    S: Send + Sync,
{
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let delivery = delivery(parts)?;
        let event = hookgate_receive::parse_event(&delivery)?;
        Ok(Self { delivery, event })
    }
}

#[cfg(test)]
mod tests {
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

    use super::*;
    use crate::WebhookLayer;

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
}
