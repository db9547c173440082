//! hookgate for actix-web: a middleware that verifies webhooks, enqueues them
//! durably and acknowledges within the sender's deadline, and extractors for
//! inline mode.
//!
//! Every decision (routing, limits, verification, context fields, filter,
//! enqueue under the ACK budget, the problem+json refusals) comes from
//! [`hookgate_receive`], shared with `hookgate-tower` and free of any
//! framework; this crate reads the actix payload and speaks actix: the
//! [`Webhook`] middleware, the inline-mode extractors [`Verified`] and
//! [`VerifiedBytes`] (both read the delivery that only [`Webhook`] attaches,
//! after verification; without the middleware in front they refuse with 500;
//! `Verified<T>` refuses a payload that does not parse into `T` with 422),
//! and [`RejectionError`], a [`Rejection`] as an actix-web error. Order of
//! work and modes are described in [`hookgate_receive::Receiver`] and
//! [`Webhook`].
//!
//! ```
//! # actix_web::rt::System::new().block_on(async {
//! use std::sync::Arc;
//! use actix_web::{App, HttpResponse, test, web};
//! use hookgate_actix::{Receiver, Source, Verified, Webhook};
//! use hookgate_events::{ClaravineEvent, Event};
//! use hookgate_queue::MemoryQueue;
//! use hookgate_verify::{Scheme, Verifier};
//!
//! let receiver = Receiver::builder()
//!     .queue(Arc::new(MemoryQueue::new()))
//!     .source(Source::builder("claravine", "/hooks/claravine", Verifier::new(Scheme::Claravine, "client-secret")?).build()?)
//!     .build()?;
//! let app = test::init_service(
//!     App::new()
//!         .wrap(Webhook::new(receiver))
//!         .route("/health", web::get().to(HttpResponse::Ok)),
//! )
//! .await;
//!
//! let forged = test::TestRequest::post()
//!     .uri("/hooks/claravine")
//!     .insert_header(("authorization", "Bearer guessed"))
//!     .set_payload(r#"{"token":"guessed"}"#)
//!     .to_request();
//! assert_eq!(test::call_service(&app, forged).await.status(), 401);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

mod extract;
mod middleware;
pub mod server;
#[cfg(test)]
mod tests;

pub use extract::{RejectionError, Verified, VerifiedBytes, actix_response};
pub use hookgate_receive::{
    Handshake, Mode, Outcome, ProblemJson, RateLimit, Receiver, Rejection, RejectionKind,
    RespondToRejection, Source, VerifiedDelivery,
};
pub use middleware::{Webhook, WebhookMiddleware};
pub use server::raise_open_files_limit;
