//! hookgate for tower: a [`WebhookLayer`] that verifies webhooks, enqueues
//! them durably and acknowledges within the sender's deadline, for axum,
//! hyper or any tower-based server; and a hardened [`Server`] to run it on
//! the open internet (header-read timeout, idle timeout, connection limit,
//! graceful shutdown), to use instead of `axum::serve`.
//!
//! The decisions live in [`hookgate_receive`] (shared with `hookgate-actix`,
//! and free of any framework); this crate reads the body and speaks tower.
//! See [`webhook`] for the order of work and the two modes. With the `axum`
//! feature (default) it also speaks axum: `Verified<T>` and `VerifiedBytes`,
//! the extractors of inline mode, and `RejectionResponse`, a [`Rejection`] as
//! an axum response.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! use std::sync::Arc;
//! use axum::{Router, body::Body, routing::get};
//! use hookgate_queue::MemoryQueue;
//! use hookgate_tower::{Receiver, Source, WebhookLayer};
//! use hookgate_verify::{Scheme, Verifier};
//! use http::{Request, StatusCode};
//! use tower::ServiceExt;
//!
//! let receiver = Receiver::builder()
//!     .queue(Arc::new(MemoryQueue::new()))
//!     .source(Source::builder("claravine", "/hooks/claravine", Verifier::new(Scheme::Claravine, "client-secret")?).build()?)
//!     .build()?;
//! // Webhook routes need no handler in queue mode; the rest of the app is unchanged.
//! let app = Router::new()
//!     .route("/health", get(|| async { "ok" }))
//!     .layer(WebhookLayer::new(receiver));
//!
//! let forged = Request::post("/hooks/claravine")
//!     .header("authorization", "Bearer guessed")
//!     .body(Body::from(r#"{"token":"guessed"}"#))?;
//! assert_eq!(app.clone().oneshot(forged).await?.status(), StatusCode::UNAUTHORIZED);
//!
//! let signed = Request::post("/hooks/claravine")
//!     .header("authorization", "Bearer client-secret")
//!     .body(Body::from(r#"{"event":"list","operation":"updated","token":"client-secret"}"#))?;
//! assert_eq!(app.oneshot(signed).await?.status(), StatusCode::OK);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]

mod body;
#[cfg(feature = "axum")]
mod extract;
#[cfg(all(test, feature = "axum"))]
mod extract_tests;
pub mod server;
pub mod webhook;

pub use body::{RequestBody, ResponseBody};
#[cfg(feature = "axum")]
pub use extract::{RejectionResponse, Verified, VerifiedBytes};
pub use hookgate_receive::{
    Cidr, Handshake, Mode, Outcome, ProblemJson, RateLimit, Receiver, Rejection, RejectionKind,
    RespondToRejection, Source, VerifiedDelivery, default_sender,
};
pub use server::{PeerAddr, Server};
pub use webhook::{ResponseFuture, Webhook, WebhookLayer};
