//! actix-web extractors for routes behind [`Webhook`](crate::Webhook) in inline mode.
//!
//! Both read the [`VerifiedDelivery`] extension that only the middleware
//! attaches, after verification: a handler that takes one cannot run for an
//! unverified request. Without the middleware in front (a wiring mistake),
//! they refuse with 500 rather than pass unverified data on.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use bytes::Bytes;
use hookgate_events::FromDelivery;
use hookgate_receive::{Rejection, RejectionKind, VerifiedDelivery};

fn delivery(req: &HttpRequest) -> Result<VerifiedDelivery, Rejection> {
    req.extensions().get::<VerifiedDelivery>().cloned().ok_or_else(|| {
        Rejection::new(
            RejectionKind::NotVerified,
            "no verified webhook delivery: the route is not behind the Webhook middleware in inline mode",
        )
    })
}

/// The verified raw body and its delivery metadata.
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

impl FromRequest for VerifiedBytes {
    type Error = Rejection;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(delivery(req).map(|delivery| Self { delivery }))
    }
}

/// The verified delivery's metadata and its typed event, parsed by
/// [`FromDelivery`] from `hookgate-events` (e.g. `Verified<ClarifeEvent>`).
///
/// A payload that does not parse is refused with 422; the message names the
/// JSON path at fault.
#[derive(Debug, Clone)]
pub struct Verified<T> {
    delivery: VerifiedDelivery,
    event: T,
}

impl<T> Verified<T> {
    /// The delivery metadata.
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
    type Error = Rejection;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(delivery(req).and_then(|delivery| {
            let event = hookgate_receive::parse_event::<T>(&delivery)?;
            Ok(Self { delivery, event })
        }))
    }
}
