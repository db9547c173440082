//! The actix-web extractors of inline mode, and rejections as actix-web
//! errors and responses.
//!
//! Both extractors are built from the
//! [`VerifiedDelivery`](hookgate_receive::VerifiedDelivery) request extension,
//! which only [`Webhook`](crate::Webhook) attaches, after verification: a
//! handler that takes one cannot run for an unverified request. Without the
//! middleware in front (a wiring mistake) they refuse with 500 rather than
//! pass unverified data on. They are types of this crate because Rust's
//! orphan rule lets a crate implement actix-web's traits only for its own
//! types, and `hookgate-receive` knows no framework; `hookgate-tower` has
//! extractors of its own over the same delivery.

use std::fmt;
use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::StatusCode as ActixStatus;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError};
use bytes::Bytes;
use hookgate_events::FromDelivery;
use hookgate_receive::{ProblemJson, Rejection, RespondToRejection, VerifiedDelivery, parse_event};

/// Converts a response built by `hookgate-receive` (an acknowledgement, or a
/// refusal from a [`RespondToRejection`]) into an actix-web response, keeping
/// status, headers and body. (actix-web 4 uses `http` 0.2, `hookgate-receive`
/// `http` 1.x.)
pub fn actix_response(res: http::Response<Bytes>) -> HttpResponse {
    let (parts, body) = res.into_parts();
    let status =
        ActixStatus::from_u16(parts.status.as_u16()).unwrap_or(ActixStatus::INTERNAL_SERVER_ERROR);
    let mut out = HttpResponse::with_body(status, body);
    let headers = out.headers_mut();
    for (name, value) in &parts.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_str().as_bytes()),
            HeaderValue::from_bytes(value.as_bytes()),
        ) {
            headers.append(name, value);
        }
    }
    out.map_into_boxed_body()
}

/// A [`Rejection`] as an actix-web error: answered with problem+json, its
/// status (and `Retry-After` or `Allow` where it has them).
///
/// The error of both extractors; a handler can return one too, through
/// `From<Rejection>`:
///
/// ```
/// use actix_web::ResponseError;
/// use hookgate_actix::{Rejection, RejectionError, RejectionKind};
///
/// async fn handler() -> Result<&'static str, RejectionError> {
///     Err(Rejection::new(RejectionKind::InvalidPayload, "no claim in the event").into())
/// }
/// # let err = actix_web::rt::System::new().block_on(handler()).unwrap_err();
/// # assert_eq!(err.error_response().status(), 422);
/// # let _ = actix_web::App::new().route("/", actix_web::web::get().to(handler));
/// ```
#[derive(Debug, Clone)]
pub struct RejectionError(Rejection);

impl RejectionError {
    /// The rejection.
    pub fn rejection(&self) -> &Rejection {
        &self.0
    }

    /// Consumes `self`, returning the rejection.
    pub fn into_inner(self) -> Rejection {
        self.0
    }
}

impl From<Rejection> for RejectionError {
    fn from(rejection: Rejection) -> Self {
        Self(rejection)
    }
}

impl fmt::Display for RejectionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for RejectionError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

impl ResponseError for RejectionError {
    fn status_code(&self) -> ActixStatus {
        ActixStatus::from_u16(self.0.status().as_u16())
            .unwrap_or(ActixStatus::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        actix_response(ProblemJson.respond(&self.0))
    }
}

/// The delivery [`Webhook`](crate::Webhook) attached, or the 500 of a route
/// that is not behind it.
fn attached(req: &HttpRequest) -> Result<VerifiedDelivery, RejectionError> {
    req.extensions()
        .get::<VerifiedDelivery>()
        .cloned()
        .ok_or_else(|| Rejection::not_verified().into())
}

/// The verified raw body and its delivery metadata: an actix-web extractor
/// for inline-mode routes behind [`Webhook`](crate::Webhook).
///
/// ```
/// use actix_web::HttpResponse;
/// use hookgate_actix::VerifiedBytes;
///
/// async fn handler(hook: VerifiedBytes) -> HttpResponse {
///     HttpResponse::Ok().body(format!("{} bytes from {}", hook.bytes().len(), hook.delivery().source()))
/// }
/// # let _ = actix_web::App::new().route("/hooks/github", actix_web::web::post().to(handler));
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

impl FromRequest for VerifiedBytes {
    type Error = RejectionError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(attached(req).map(Self::from))
    }
}

/// The verified delivery's metadata and its typed event, parsed by
/// [`FromDelivery`] from `hookgate-events` (e.g. `Verified<ClarifeEvent>`):
/// an actix-web extractor for inline-mode routes behind
/// [`Webhook`](crate::Webhook).
///
/// An event that does not parse into `T` is refused with 422; the message
/// names the JSON path at fault ([`parse_event`]).
#[derive(Debug, Clone)]
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

impl<T: FromDelivery> FromRequest for Verified<T> {
    type Error = RejectionError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(attached(req).and_then(|delivery| Ok(Self::parse(delivery)?)))
    }
}

#[cfg(test)]
mod tests {
    use hookgate_receive::RejectionKind;

    use super::*;

    #[test]
    fn a_rejection_keeps_status_and_headers_in_actix() {
        let rejection = Rejection::new(RejectionKind::MethodNotAllowed, "method PUT");
        let res = RejectionError::from(rejection).error_response();
        assert_eq!(res.status().as_u16(), 405);
        assert_eq!(
            res.headers().get("content-type").unwrap(),
            hookgate_receive::PROBLEM_JSON
        );
        let mut unavailable = http::Response::new(Bytes::from_static(b"{}"));
        *unavailable.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
        unavailable
            .headers_mut()
            .insert("retry-after", http::HeaderValue::from(3));
        let res = actix_response(unavailable);
        assert_eq!(res.status().as_u16(), 503);
        assert_eq!(res.headers().get("retry-after").unwrap(), "3");
    }
}
