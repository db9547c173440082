//! The receiving decisions of hookgate, independent of any web framework.
//!
//! `hookgate-tower` (axum, hyper, any tower server) and `hookgate-actix` both
//! drive this crate, so every decision is written once: routing by path, the
//! method check (405), the `Content-Length` precheck and the body cap (413),
//! the client's address against a source's allow-list behind trusted proxies
//! (403), admission control per source (`max_in_flight` and a rate limit: 503
//! with `Retry-After`, before the body is read), the read deadline (408),
//! verification (400/401), required context fields
//! (422), the event filter (200, not queued), the delivery id, and the enqueue
//! under the ACK budget (2xx only once the queue confirmed; 503 with
//! `Retry-After` when it did not in time or refused; 200 for a duplicate).
//! Senders' handshakes (Slack's `url_verification`, Meta's `hub.challenge`,
//! Microsoft Graph's `validationToken` ...) are answered at once and never
//! queued: see [`handshake`].
//!
//! Refusals are [`Rejection`]s with an `application/problem+json` body
//! (RFC 9457: `type`, `title`, `status`, `detail`); how they are turned into
//! a response is swappable through [`RespondToRejection`], which closures
//! implement.
//!
//! What is left to an integration is what differs between frameworks: turning
//! its request into a [`RequestHead`] and a stream of body chunks, acting on
//! the [`Decision`] of [`Reception::receive`] (answer, or call the application
//! with the [`VerifiedDelivery`] attached), and its framework's traits. This
//! crate depends on no web framework (as `sentry-core` beside `sentry-tower`
//! and `sentry-actix`): `hookgate-tower` implements axum's `IntoResponse` and
//! `FromRequestParts` and `hookgate-actix` actix-web's `ResponseError` and
//! `FromRequest`, each for its own `Verified<T>` and `VerifiedBytes`
//! extractors, over what is here: the [`VerifiedDelivery`] request extension,
//! [`parse_event`] (422 when the payload does not parse) and
//! [`Rejection::not_verified`] (500 when a route is not behind the middleware).
//!
//! # Delivery ids
//!
//! The queue deduplicates on `(source, delivery id)`. The id is the sender's
//! own when its scheme has one (Standard Webhooks / Svix `webhook-id`, the
//! clarife envelope `id`, GitHub's `X-GitHub-Delivery` ...); otherwise it is
//! derived from the body: `sha256:<hex of SHA-256 of the raw body>` (see
//! [`derived_delivery_id`]), stable across a sender's retries. A `GET`
//! delivery (Clarity's GET routes) has its payload in the query string: the id
//! is derived from the query string, and the query string is the delivery's
//! body, with `Content-Type: application/x-www-form-urlencoded`, in both
//! modes: what is queued, and [`VerifiedDelivery::body`] in inline mode (the
//! request handed on to the application keeps its own, empty, body).
//!
//! GitHub's and Shopify's ids are not signed: a captured delivery resent with
//! a fresh id verifies and is a new delivery. A source with
//! [`ReplayGuard::Body`] is keyed by the body's SHA-256 instead, whatever id
//! it carries (see its cost there).
//!
//! # ACK budget
//!
//! The budget bounds the enqueue, the only step whose duration hookgate does
//! not control (the body's arrival is bounded by the read timeout). Its
//! default, 400 ms, stays below Claravine's 500 ms deadline.
//!
//! # What is written to the queue
//!
//! The raw body and the request headers except credentials (`Authorization`,
//! `Proxy-Authorization`, `Cookie`, `x-clarity-webhook-token`, and the header
//! a header-token source is configured to read its token from) and hop-by-hop
//! headers. Signature headers (GitHub's, Slack's ...) are kept: they do not
//! reveal the secret. Note that Claravine also repeats its token inside the body, which
//! is stored as received. Body and header values are handed over as the
//! server gave them, often slices of its read buffer: back-ends that write
//! them out (SQLite, Redis, NATS) need no copy, and `MemoryQueue`, which keeps
//! them, copies them into one allocation per delivery (a queue of your own
//! that keeps them in memory should copy them too, or it pins a whole read
//! buffer per delivery).
//!
//! # Observability
//!
//! Each request gets a `webhook` span with `source`, `delivery_id` and
//! `outcome`; metrics are listed in [`metrics`].
//!
//! # Example
//!
//! What an integration does for each request, here by hand:
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! use std::sync::Arc;
//! use bytes::Bytes;
//! use hookgate_queue::MemoryQueue;
//! use hookgate_receive::{Outcome, Receiver, RequestHead, Source};
//! use hookgate_verify::{Scheme, Verifier};
//! use http::{HeaderMap, Method};
//!
//! let receiver = Receiver::builder()
//!     .queue(Arc::new(MemoryQueue::new()))
//!     .source(
//!         Source::builder("claravine", "/hooks/claravine", Verifier::new(Scheme::Claravine, "client-secret")?)
//!             .build()?,
//!     )
//!     .build()?;
//!
//! let mut headers = HeaderMap::new();
//! headers.insert("authorization", "Bearer client-secret".parse()?);
//! let body = Bytes::from_static(br#"{"event":"list","operation":"updated","token":"client-secret"}"#);
//!
//! let mut reception = receiver.start("/hooks/claravine").expect("a webhook route");
//! reception.check_head(&Method::POST, &headers, None)?;
//! let head = RequestHead { method: &Method::POST, query: None, headers: &headers, peer: None };
//! let accepted = reception.complete(head, body).await?;
//! assert_eq!(accepted.outcome(), Outcome::Queued);
//! assert_eq!(accepted.status(), 200);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

mod admission;
mod body;
mod client_ip;
mod context;
pub mod handshake;
mod id;
pub mod metrics;
mod receiver;
mod rejection;
mod source;
#[cfg(feature = "test-util")]
pub mod testing;

pub use admission::RateLimit;
pub use body::{BodyCollector, check_content_length};
pub use client_ip::{Cidr, CidrError, MAX_FORWARDED_HOPS};
pub use handshake::Handshake;
pub use id::derived_delivery_id;
pub use receiver::{
    Accepted, Decision, Outcome, Receiver, ReceiverBuilder, Reception, RequestHead,
    VerifiedDelivery, parse_event,
};
pub use rejection::{PROBLEM_JSON, ProblemJson, Rejection, RejectionKind, RespondToRejection};
pub use source::{
    ConfigError, DEFAULT_ACK_BUDGET, DEFAULT_BODY_LIMIT, DEFAULT_READ_TIMEOUT, DEFAULT_RETRY_AFTER,
    Mode, ReplayGuard, Source, SourceBuilder, default_sender,
};
