//! A durable queue for verified webhook deliveries, and the workers that
//! process it with retries, dead letters and replay.
//!
//! A `2xx` tells the sender to forget the event, so hookgate answers `2xx`
//! only once the delivery is in a [`Queue`]; from then on nothing is lost.
//!
//! # Semantics
//!
//! - **At-least-once.** An enqueued delivery is handed to a handler until the
//!   handler succeeds, gives up, or runs out of attempts (dead letters). A
//!   worker that crashes mid-delivery loses nothing: its lease expires (30 s
//!   after its last heartbeat, by default) and the delivery runs again, so
//!   handlers must be idempotent.
//! - **Deduplication** is by `(source, delivery id)`, for a window counted from
//!   the first enqueue (24 h by default). A repeat within the window returns
//!   [`EnqueueOutcome::Duplicate`] whatever happened to the first copy (still
//!   waiting, handled, or dead). A handler can still see a delivery twice when
//!   its worker dies mid-attempt, or stalls until its lease expires: dedup is
//!   about the sender's retries.
//! - **No ordering.** Retries, expired leases and concurrent workers reorder
//!   deliveries; compare versions in the payload when order matters, or use
//!   [`Coalescing`] to keep only the newest version of an object.
//!
//! # Back-ends
//!
//! - [`SqliteQueue`] (feature `sqlite`, default): one SQLite file in WAL mode;
//!   concurrent enqueues are group-committed by a single writer thread, and
//!   with [`Durability::Fsync`] (default) `Ok` means `fsync`ed. The schema is
//!   documented in the [`sqlite`] module and inspectable with `sqlite3`.
//! - [`MemoryQueue`]: in process memory, for tests and for users who accept loss.
//! - Other back-ends implement [`Enqueue`] and [`Queue`] and prove it with
//!   the `conformance` suite (feature `conformance`).
//!
//! The receiving side needs only [`Enqueue`] (one method); workers and
//! operators use [`Queue`], which builds on it.
//!
//! Wrap any of them in [`Coalescing`] to let a newer version of an object
//! replace an older one still waiting, and in [`BacklogLimit`] to refuse
//! new deliveries (`503` with `Retry-After` from a receiver) while the
//! oldest waiting one is older than a bound.
//!
//! # Workers
//!
//! A [`WorkerPool`] leases deliveries and runs a [`Handler`]: any
//! `async fn(Delivery) -> Result<(), HandlerError>`, or a
//! `hookgate_events::Router` through [`RouterHandler`]. Failures are retried
//! per a [`RetryPolicy`] (exponential backoff with full jitter by default, or
//! a sender's own schedule such as [`RetrySchedule::clarife`] and
//! [`RetrySchedule::svix`]), then dead-lettered with the last error; dead
//! letters can be listed and replayed ([`Replay`]). An attempt is bounded by
//! an attempt timeout, and while it runs the pool extends its lease
//! ([`Queue::extend`]), so leases can be short (30 s by default) and a crashed
//! worker's deliveries come back quickly. Time is read through a
//! [`Clock`], so tests use a [`ManualClock`] and never sleep. Metrics names
//! are in [`observe`].
//!
//! # Example
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! use std::sync::Arc;
//! use std::time::{Duration, SystemTime};
//! use hookgate_queue::{EnqueueOutcome, LeaseRequest, MemoryQueue, NewDelivery, Enqueue, Queue};
//!
//! let queue: Arc<dyn Queue> = Arc::new(MemoryQueue::new());
//! let delivery = NewDelivery::new("clarife", "evt_1", SystemTime::now(), &b"{}"[..]);
//! assert_eq!(queue.enqueue(delivery.clone()).await?, EnqueueOutcome::Enqueued);
//! assert_eq!(queue.enqueue(delivery).await?, EnqueueOutcome::Duplicate);
//!
//! let leased = queue.lease(LeaseRequest::new(10, Duration::from_secs(30))).await?;
//! assert_eq!(leased[0].delivery.attempt, 1);
//! queue.ack(leased[0].lease.clone()).await?;
//! assert_eq!(queue.stats().await?.depth(), 0);
//! # Ok::<(), hookgate_queue::QueueError>(())
//! # }).unwrap();
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]

/// The `Queue` methods of a queue that hands each one to another (`$inner`,
/// an expression of `self`): an `Arc`, and the wrappers that change only how
/// deliveries are taken (`Enqueue`). One list, so a method added to `Queue`
/// is forwarded by every wrapper or by none, never silently defaulted in one.
macro_rules! forward_queue_methods {
    ($self:ident => $inner:expr) => {
        fn lease(
            &$self,
            request: $crate::LeaseRequest,
        ) -> $crate::BoxFuture<'_, Result<Vec<$crate::Leased>, $crate::QueueError>> {
            $inner.lease(request)
        }

        fn extend(
            &$self,
            leases: Vec<$crate::LeaseId>,
            visibility: std::time::Duration,
        ) -> $crate::BoxFuture<
            '_,
            Result<Vec<Result<std::time::SystemTime, $crate::QueueError>>, $crate::QueueError>,
        > {
            $inner.extend(leases, visibility)
        }

        fn ack(&$self, lease: $crate::LeaseId) -> $crate::BoxFuture<'_, Result<(), $crate::QueueError>> {
            $inner.ack(lease)
        }

        fn retry_at(
            &$self,
            lease: $crate::LeaseId,
            at: std::time::SystemTime,
            error: String,
        ) -> $crate::BoxFuture<'_, Result<(), $crate::QueueError>> {
            $inner.retry_at(lease, at, error)
        }

        fn dead_letter(
            &$self,
            lease: $crate::LeaseId,
            error: String,
        ) -> $crate::BoxFuture<'_, Result<(), $crate::QueueError>> {
            $inner.dead_letter(lease, error)
        }

        fn release(&$self, lease: $crate::LeaseId) -> $crate::BoxFuture<'_, Result<(), $crate::QueueError>> {
            $inner.release(lease)
        }

        fn recover(&$self) -> $crate::BoxFuture<'_, Result<u64, $crate::QueueError>> {
            $inner.recover()
        }

        fn list_dead(
            &$self,
            limit: usize,
        ) -> $crate::BoxFuture<'_, Result<Vec<$crate::DeadLetter>, $crate::QueueError>> {
            $inner.list_dead(limit)
        }

        fn replay(&$self, selection: $crate::Replay) -> $crate::BoxFuture<'_, Result<u64, $crate::QueueError>> {
            $inner.replay(selection)
        }

        fn stats(&$self) -> $crate::BoxFuture<'_, Result<$crate::Stats, $crate::QueueError>> {
            $inner.stats()
        }

        fn wakeups(&$self) -> Option<$crate::Wakeups> {
            $inner.wakeups()
        }
    };
}

mod backlog;
mod clock;
mod coalesce;
#[cfg(feature = "conformance")]
#[cfg_attr(docsrs, doc(cfg(feature = "conformance")))]
pub mod conformance;
mod delivery;
mod durability;
mod error;
mod memory;
pub mod observe;
mod queue;
mod retry;
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub mod sqlite;
mod storage;
mod wake;
pub mod wire;
mod worker;

pub use backlog::{BacklogLimit, DEFAULT_BACKLOG_CHECK_INTERVAL, DEFAULT_BACKLOG_RETRY_AFTER};
pub use clock::{Clock, ManualClock, SystemClock};
pub use coalesce::{CoalesceKeyFn, Coalescing};
pub use delivery::{
    DeadLetter, Delivery, DeliveryKey, EnqueueOutcome, LeaseId, LeaseRequest, Leased, NewDelivery,
    Replay, Stats,
};
pub use durability::{Durability, DurabilityCheck};
pub use error::{BoxError, QueueError, QueueErrorKind};
/// Re-exported from `hookgate-events`: what handlers return and are told.
pub use hookgate_events::{DeliveryInfo, Disposition, HandlerError};
pub use memory::{DEFAULT_CAPACITY, DEFAULT_DEDUP_WINDOW, MemoryQueue};
pub use queue::{BoxFuture, Enqueue, Queue};
pub use retry::{RetryPolicy, RetrySchedule};
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use sqlite::{SqliteQueue, SqliteQueueBuilder};
pub use storage::{StorageLimit, StorageUsage};
pub use wake::{ReadySignal, Wakeups};
pub use worker::{
    DEFAULT_ATTEMPT_TIMEOUT, DEFAULT_VISIBILITY_TIMEOUT, Handler, RouterHandler, WorkerPool,
    WorkerPoolBuilder, WorkerReport,
};
