//! The axum extractors of inline mode, and rejections as axum responses.
//!
//! Both extractors are built from the
//! [`VerifiedDelivery`](hookgate_receive::VerifiedDelivery) request extension,
//! which only [`Webhook`](crate::Webhook) attaches, after verification: a
//! handler that takes one cannot run for an unverified request. Without the
//! layer in front (a wiring mistake) they refuse with 500 rather than pass
//! unverified data on. They are types of this crate because Rust's orphan
//! rule lets a crate implement axum's traits only for its own types, and
//! `hookgate-receive` knows no framework; `hookgate-actix` has extractors of
//! its own over the same delivery.

use std::fmt;

use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use hookgate_events::FromDelivery;
use hookgate_receive::{ProblemJson, Rejection, RespondToRejection, VerifiedDelivery, parse_event};
use http::request::Parts;

/// A [`Rejection`] as an axum response: problem+json with its status (and
/// `Retry-After` or `Allow` where it has them).
///
/// The rejection of both extractors; a handler can return one too, through
/// `From<Rejection>`:
///
/// ```
/// use axum::response::IntoResponse;
/// use hookgate_tower::{Rejection, RejectionKind, RejectionResponse};
///
/// async fn handler() -> Result<&'static str, RejectionResponse> {
///     Err(Rejection::new(RejectionKind::InvalidPayload, "no claim in the event").into())
/// }
/// # let res = tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(handler()).into_response();
/// # assert_eq!(res.status(), 422);
/// # assert_eq!(res.headers()["content-type"], "application/problem+json");
/// # let _ = axum::Router::<()>::new().route("/", axum::routing::get(handler));
/// ```
#[derive(Debug, Clone)]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub struct RejectionResponse(Rejection);

impl RejectionResponse {
    /// The rejection.
    pub fn rejection(&self) -> &Rejection {
        &self.0
    }

    /// Consumes `self`, returning the rejection.
    pub fn into_inner(self) -> Rejection {
        self.0
    }
}

impl From<Rejection> for RejectionResponse {
    fn from(rejection: Rejection) -> Self {
        Self(rejection)
    }
}

impl fmt::Display for RejectionResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for RejectionResponse {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

impl IntoResponse for RejectionResponse {
    fn into_response(self) -> Response {
        ProblemJson.respond(&self.0).map(axum::body::Body::from)
    }
}

/// The delivery [`Webhook`](crate::Webhook) attached, or the 500 of a route
/// that is not behind it.
fn attached(parts: &Parts) -> Result<VerifiedDelivery, RejectionResponse> {
    parts
        .extensions
        .get::<VerifiedDelivery>()
        .cloned()
        .ok_or_else(|| Rejection::not_verified().into())
}

/// The verified raw body and its delivery metadata: an axum extractor for
/// inline-mode routes behind [`WebhookLayer`](crate::WebhookLayer).
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
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub struct VerifiedBytes {
    delivery: VerifiedDelivery,
}

impl VerifiedBytes {
    /// The delivery metadata: source, delivery id, event name, verification result.
    pub fn delivery(&self) -> &VerifiedDelivery {
        &self.delivery
    }

    /// The verified raw body (for a `GET`, the query string; see
    /// [`VerifiedDelivery::body`]).
    pub fn bytes(&self) -> &Bytes {
        self.delivery.body()
    }

    /// Consumes `self`, returning the raw body.
    pub fn into_bytes(self) -> Bytes {
        self.delivery.body().clone()
    }
}

impl From<VerifiedDelivery> for VerifiedBytes {
    fn from(delivery: VerifiedDelivery) -> Self {
        Self { delivery }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for VerifiedBytes {
    type Rejection = RejectionResponse;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        attached(parts).map(Self::from)
    }
}

/// The verified delivery's metadata and its typed event, parsed by
/// [`FromDelivery`] from `hookgate-events` (e.g. `Verified<ClarifeEvent>`):
/// an axum extractor for inline-mode routes behind
/// [`WebhookLayer`](crate::WebhookLayer).
///
/// An event that does not parse into `T` is refused with 422; the message
/// names the JSON path at fault ([`parse_event`]).
#[derive(Debug, Clone)]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub struct Verified<T> {
    delivery: VerifiedDelivery,
    event: T,
}

impl<T: FromDelivery> Verified<T> {
    /// Parses the delivery's event (422 when it does not parse, see [`parse_event`]).
    pub fn parse(delivery: VerifiedDelivery) -> Result<Self, Rejection> {
        let event = parse_event(&delivery)?;
        Ok(Self { delivery, event })
    }
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
    type Rejection = RejectionResponse;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::parse(attached(parts)?)?)
    }
}
