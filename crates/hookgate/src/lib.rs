//! hookgate: receive webhooks safely. Verify who sent a delivery, answer the
//! sender fast, never lose an event that was acknowledged, and hand typed
//! events to the code that processes them.
//!
//! This crate re-exports the others behind cargo features, so one dependency
//! line brings what a receiver needs:
//!
//! | module | crate | feature | what |
//! |---|---|---|---|
//! | the root | `hookgate-core` | always | [`Clock`] (with [`SystemClock`] and [`ManualClock`] for tests) and [`BoxError`], shared by all the others |
//! | [`verify`] | `hookgate-verify` | always | signature verification over raw bytes, for every scheme; signing helpers for tests |
//! | `events` | `hookgate-events` | `events` (default) | typed payloads per sender, dotted event names, patterns, a router |
//! | `queue` | `hookgate-queue` | `queue` (default) | the durable queue (SQLite), the in-memory one, workers with retries and dead letters |
//! | `receive` | `hookgate-receive` | `receive` | the receiving decisions both integrations share; no web framework |
//! | `tower` | `hookgate-tower` | `tower` | `WebhookLayer` for axum, hyper and any tower server, and axum extractors |
//! | `actix` | `hookgate-actix` | `actix` | the same for actix-web |
//! | `queue_redis` | `hookgate-queue-redis` | `redis` | Redis Streams queue, shared by several receivers |
//! | `queue_nats` | `hookgate-queue-nats` | `nats` | NATS JetStream queue, shared by several receivers |
//! | `queue_postgres` | `hookgate-queue-postgres` | `postgres` | PostgreSQL queue, shared by several receivers |
//! | `admin` | `hookgate-admin` | `admin` | the admin API, event stream and browser console of a receiver |
//!
//! A user of the verification core alone (`default-features = false`)
//! compiles neither tokio nor any web framework; `receive` adds tokio but
//! still no framework: axum comes with `tower`, actix-web with `actix`.
//!
//! # Example
//!
//! What a receiver does with one delivery, step by step (the middleware of
//! `tower` and `actix` does all of it, and answers the sender):
//!
//! ```
//! # #[cfg(all(feature = "events", feature = "queue"))]
//! # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
//! use std::time::{Duration, SystemTime, UNIX_EPOCH};
//! use hookgate::events::{Event, Sender};
//! use hookgate::queue::{Enqueue, EnqueueOutcome, MemoryQueue, NewDelivery};
//! use hookgate::verify::{Scheme, Signer, Verifier, VerifyErrorKind};
//!
//! // A clarife delivery, signed as clarife signs (tests sign their own).
//! let body = br#"{"id":"evt_1","type":"document.created","created_at":"2026-03-28T12:00:00Z",
//!     "data":{"id":"doc_1","title":"Q1 plan"}}"#;
//! let now = 1_774_699_200;
//! let headers = Signer::new(Scheme::Clarife, "whsec_sample")?.sign("evt_1", now, body)?;
//!
//! // 1. Verify the raw bytes: signature, timestamp within 5 minutes.
//! let verifier = Verifier::new(Scheme::Clarife, "whsec_sample")?;
//! let at = UNIX_EPOCH + Duration::from_secs(now + 30);
//! let verified = verifier.verify_at(&headers, body, at)?;
//! assert_eq!(verified.delivery_id(), Some("evt_1"));
//! // A changed byte is refused, with the status to answer.
//! let err = verifier.verify_at(&headers, b"{}", at).unwrap_err();
//! assert!(matches!(err.kind(), VerifyErrorKind::SignatureMismatch { .. }));
//! assert_eq!(err.status().as_u16(), 401);
//!
//! // 2. Queue the verified bytes; only then answer 2xx. A sender's retry
//! //    of the same delivery is a duplicate, answered 2xx, not queued twice.
//! let queue = MemoryQueue::new();
//! let delivery = NewDelivery::new("clarife", "evt_1", SystemTime::now(), &body[..]);
//! assert_eq!(queue.enqueue(delivery.clone()).await?, EnqueueOutcome::Enqueued);
//! assert_eq!(queue.enqueue(delivery).await?, EnqueueOutcome::Duplicate);
//!
//! // 3. In a worker: read the verified bytes, once, as a typed event.
//! let event = Sender::Clarife.parse(&headers, body)?;
//! assert_eq!(event.event_name(), "document.created");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#[cfg(feature = "actix")]
pub use hookgate_actix as actix;
/// The admin API, event stream and browser console of a receiver.
#[cfg(feature = "admin")]
pub use hookgate_admin as admin;
pub use hookgate_core::{BoxError, Clock, ManualClock, SystemClock};
#[cfg(feature = "events")]
pub use hookgate_events as events;
#[cfg(feature = "queue")]
pub use hookgate_queue as queue;
/// The NATS JetStream queue back-end.
#[cfg(feature = "nats")]
pub use hookgate_queue_nats as queue_nats;
/// The PostgreSQL queue back-end.
#[cfg(feature = "postgres")]
pub use hookgate_queue_postgres as queue_postgres;
/// The Redis Streams queue back-end.
#[cfg(feature = "redis")]
pub use hookgate_queue_redis as queue_redis;
#[cfg(feature = "receive")]
pub use hookgate_receive as receive;
#[cfg(feature = "tower")]
pub use hookgate_tower as tower;
pub use hookgate_verify as verify;
