//! The extractors of inline mode, shared by both integrations.
//!
//! Both are built from the [`VerifiedDelivery`] request extension, which only
//! the webhook middleware attaches, after verification: a handler that takes
//! one cannot run for an unverified request. Without the middleware in front
//! (a wiring mistake) they refuse with 500 rather than pass unverified data
//! on. The framework impls sit beside these types because Rust's orphan rule
//! wants them here: axum's `FromRequestParts` (feature `axum`, re-exported by
//! `hookgate-tower`) and actix-web's `FromRequest` (feature `actix`,
//! re-exported by `hookgate-actix`).

use bytes::Bytes;
use hookgate_events::FromDelivery;

use crate::{Rejection, VerifiedDelivery, parse_event};

/// The verified raw body and its delivery metadata.
///
/// As an extractor (axum through `hookgate-tower`, actix-web through
/// `hookgate-actix`) it reads the delivery the middleware attached. Without a
/// framework, it wraps the delivery of an inline-mode [`Accepted`](crate::Accepted):
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// use bytes::Bytes;
/// use hookgate_receive::{Mode, Receiver, RequestHead, Source, VerifiedBytes};
/// use hookgate_verify::{Scheme, Verifier};
/// use http::{HeaderMap, Method};
///
/// let receiver = Receiver::builder()
///     .source(
///         Source::builder("clarity", "/hooks/clarity", Verifier::new(Scheme::Clarity, "route-token")?)
///             .mode(Mode::Inline)
///             .build()?,
///     )
///     .build()?;
/// let mut headers = HeaderMap::new();
/// headers.insert("x-clarity-webhook-token", "route-token".parse()?);
/// let head = RequestHead { method: &Method::POST, query: None, headers: &headers, peer: None };
/// let accepted = receiver.start("/hooks/clarity").expect("a route").complete(head, Bytes::from("{}")).await?;
///
/// let hook = VerifiedBytes::new(accepted.into_delivery().expect("inline mode"));
/// assert_eq!(hook.bytes(), "{}");
/// assert_eq!(hook.delivery().source(), "clarity");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct VerifiedBytes {
    delivery: VerifiedDelivery,
}

impl VerifiedBytes {
    /// Wraps a verified delivery (only this crate creates those, after verification).
    pub fn new(delivery: VerifiedDelivery) -> Self {
        Self { delivery }
    }

    /// What an extractor does: the delivery the middleware attached, or the
    /// 500 of a route that is not behind it.
    #[cfg(any(feature = "axum", feature = "actix"))]
    pub(crate) fn from_attached(attached: Option<&VerifiedDelivery>) -> Result<Self, Rejection> {
        attached
            .cloned()
            .map(Self::new)
            .ok_or_else(Rejection::not_verified)
    }

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
        Self::new(delivery)
    }
}

/// The verified delivery's metadata and its typed event, parsed by
/// [`FromDelivery`] from `hookgate-events` (e.g. `Verified<ClarifeEvent>`).
///
/// An event that does not parse into `T` is refused with 422; the message
/// names the JSON path at fault. An extractor like [`VerifiedBytes`]; without
/// a framework, [`Verified::parse`] a delivery.
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

    /// What an extractor does: parses the delivery the middleware attached,
    /// or refuses with the 500 of a route that is not behind it.
    #[cfg(any(feature = "axum", feature = "actix"))]
    pub(crate) fn from_attached(attached: Option<&VerifiedDelivery>) -> Result<Self, Rejection> {
        Self::parse(attached.cloned().ok_or_else(Rejection::not_verified)?)
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
