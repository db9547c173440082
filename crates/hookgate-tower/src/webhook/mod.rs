//! Middleware that receives webhooks in front of an application.
//!
//! Requests whose path belongs to no source go to the inner service
//! untouched. For a webhook route, in this order: method check (405),
//! `Content-Length` over the limit (413, before a byte is read), the source's
//! admission control (`max_in_flight`, rate limit: 503 with `Retry-After`,
//! before a byte is read, nothing queued), body read
//! with a size cap (413) and a read deadline (408), verification (400/401),
//! required context fields (422), the event filter (200, not queued), then:
//!
//! - **queue mode**: the enqueue under the ACK budget, answered 200 (or the
//!   source's 202/204), 200 for a duplicate, or 503 with `Retry-After`. The
//!   inner service is **not called** for the webhook route: the queue's workers
//!   process the delivery.
//! - **inline mode**: the request goes on to the inner service with the raw
//!   body restored and a [`VerifiedDelivery`](hookgate_receive::VerifiedDelivery)
//!   extension attached; the inner service answers.
//!
//! A refusal is a response, never an `Err`: the inner service's error type is
//! unchanged.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! use std::sync::Arc;
//! use bytes::Bytes;
//! use http::{Request, Response, StatusCode};
//! use http_body_util::Full;
//! use hookgate_queue::MemoryQueue;
//! use hookgate_receive::{Receiver, Source};
//! use hookgate_tower::WebhookLayer;
//! use hookgate_verify::{Scheme, Verifier};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! let receiver = Receiver::builder()
//!     .queue(Arc::new(MemoryQueue::new()))
//!     .source(Source::builder("github", "/hooks/github", Verifier::new(Scheme::GitHub, "s3cret")?).build()?)
//!     .build()?;
//! let app = ServiceBuilder::new()
//!     .layer(WebhookLayer::new(receiver))
//!     .service(service_fn(|_req: Request<_>| async {
//!         Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from("app"))))
//!     }));
//!
//! let unsigned = Request::post("/hooks/github").body(Full::new(Bytes::from("{}")))?;
//! let res = app.oneshot(unsigned).await?;
//! assert_eq!(res.status(), StatusCode::BAD_REQUEST);
//! assert_eq!(res.headers()["content-type"], "application/problem+json");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

mod future;
mod layer;
mod service;
#[cfg(test)]
mod tests;

pub use future::ResponseFuture;
pub use layer::WebhookLayer;
pub use service::Webhook;
