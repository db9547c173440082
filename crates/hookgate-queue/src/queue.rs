//! The contract every back-end fulfils, in two traits: [`Enqueue`], all the
//! receiving side needs, and [`Queue`], what workers and operators need on
//! top of it.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::{
    DeadLetter, EnqueueOutcome, LeaseId, LeaseRequest, Leased, NewDelivery, QueueError, Replay,
    Stats, Wakeups,
};

/// A boxed, sendable future: what [`Enqueue`] and [`Queue`] methods return,
/// so the traits stay dyn-compatible (`Arc<dyn Queue>` chosen at run time by
/// configuration).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where a receiver puts what it verified: the one thing the receiving side
/// asks of a queue.
///
/// Every [`Queue`] is an `Enqueue`, and an `Arc<dyn Queue>` converts into an
/// `Arc<dyn Enqueue>` (trait upcasting). A test double, or a queue that only
/// forwards deliveries elsewhere, implements this one method:
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use std::sync::Arc;
/// use std::time::SystemTime;
/// use hookgate_queue::{BoxFuture, Enqueue, EnqueueOutcome, NewDelivery, QueueError};
///
/// /// Refuses everything, as a full queue would.
/// #[derive(Debug)]
/// struct AlwaysFull;
///
/// impl Enqueue for AlwaysFull {
///     fn enqueue(&self, _: NewDelivery) -> BoxFuture<'_, Result<EnqueueOutcome, QueueError>> {
///         Box::pin(async { Err(QueueError::full(std::time::Duration::from_secs(5))) })
///     }
/// }
///
/// let queue: Arc<dyn Enqueue> = Arc::new(AlwaysFull);
/// let delivery = NewDelivery::new("clarife", "evt_1", SystemTime::now(), &b"{}"[..]);
/// assert!(queue.enqueue(delivery).await.unwrap_err().is_transient());
/// # });
/// ```
pub trait Enqueue: Send + Sync + fmt::Debug + 'static {
    /// Stores a delivery, or recognises a duplicate. Returns only once the
    /// delivery is as durable as the back-end promises.
    ///
    /// The body and header values may be slices of a server's read buffer
    /// (hookgate's receivers hand them over as the server gave them): a
    /// back-end that keeps them in memory should copy them, as
    /// [`MemoryQueue`](crate::MemoryQueue) does, or each delivery it holds
    /// pins a whole buffer.
    fn enqueue(&self, delivery: NewDelivery) -> BoxFuture<'_, Result<EnqueueOutcome, QueueError>>;

    /// The error an enqueue of `source`'s delivery made now would fail with
    /// before the delivery is looked at, if the queue knows it without any
    /// I/O: a [`BacklogLimit`](crate::BacklogLimit) whose gate is shut
    /// answers its [`Full`](crate::QueueErrorKind::Full) refusal. `None` (the
    /// default) means nothing is known in advance: the enqueue decides.
    ///
    /// Receivers ask before they read and verify the body
    /// (`hookgate-receive`'s `Reception::check_head`), so that refusing a
    /// flood costs less than accepting it: under overload, what the HTTP
    /// side spends on requests it refuses anyway is taken from the workers.
    /// The request has not been verified when it is asked, so neither
    /// answer should count as an offered delivery (`BacklogLimit` counts
    /// neither: unsigned requests must not move its rates); on `None` the
    /// enqueue follows and is counted then.
    fn refusal(&self, source: &str) -> Option<QueueError> {
        let _ = source;
        None
    }
}

/// A durable queue of verified deliveries.
///
/// # Semantics every back-end guarantees
///
/// - **At-least-once.** Once [`enqueue`](Enqueue::enqueue) returned `Ok`, the
///   delivery is handed to a worker until it is acknowledged, dead-lettered,
///   or replaced by coalescing. A worker that dies holding a lease loses
///   nothing: the lease expires and the delivery is leased again.
/// - **Deduplication** by `(source, delivery id)`: a second enqueue of the same
///   key within the back-end's deduplication window returns
///   [`EnqueueOutcome::Duplicate`] and stores nothing, whether the first copy
///   is still waiting, leased, acknowledged or dead.
/// - **No ordering.** Deliveries are usually leased oldest-due first, but a
///   retry, an expired lease or concurrent workers reorder them freely.
///   Handlers must tolerate any order (compare versions or timestamps in the
///   payload when it matters).
/// - **Leases are exclusive.** A delivery is held by at most one unexpired
///   lease; a stale lease (expired, then leased again) fails with
///   [`QueueErrorKind::LeaseLost`](crate::QueueErrorKind::LeaseLost) and never
///   touches the newer lease.
///
/// The conformance suite (feature `conformance`) checks all of this.
///
/// Workers lease and settle deliveries; operators list and replay dead
/// letters and read the counts. One trait holds both: every back-end serves
/// both, and a worker pool publishes the counts too. Only the receiving side
/// gets by with less ([`Enqueue`]).
pub trait Queue: Enqueue {
    /// Leases up to `request.max` deliveries that are due, for `request.visibility`.
    ///
    /// Each leased delivery's attempt counter goes up by one. Deliveries whose
    /// lease has expired are due again. Never returns deliveries of
    /// `request.skip_sources`. An empty result means nothing is due.
    fn lease(&self, request: LeaseRequest) -> BoxFuture<'_, Result<Vec<Leased>, QueueError>>;

    /// Extends each of `leases` to `visibility` from now, so that a worker
    /// still running an attempt keeps its delivery. Returns, in the order
    /// given, each lease's new expiry, or why it was not extended:
    /// [`LeaseLost`](crate::QueueErrorKind::LeaseLost) for a lease no longer
    /// held (expired and leased again, or already acknowledged, retried,
    /// dead-lettered or released). The call as a whole fails only when the
    /// back-end could not be asked.
    ///
    /// One call extends many leases (a worker pool extends all its running
    /// attempts at once), so that a back-end can do it in one round trip or
    /// one transaction. A lease that expired but was not leased again may
    /// still be extended where the back-end can tell that no one else took
    /// it. A back-end whose server keeps the lease duration (NATS
    /// JetStream's `ack_wait`) extends by its own duration instead of
    /// `visibility`, and says so.
    fn extend(
        &self,
        leases: Vec<LeaseId>,
        visibility: Duration,
    ) -> BoxFuture<'_, Result<Vec<Result<SystemTime, QueueError>>, QueueError>>;

    /// The delivery was handled: forget it (its key stays in the deduplication window).
    fn ack(&self, lease: LeaseId) -> BoxFuture<'_, Result<(), QueueError>>;

    /// The attempt failed: make the delivery due again at `at`, keeping `error`.
    fn retry_at(
        &self,
        lease: LeaseId,
        at: SystemTime,
        error: String,
    ) -> BoxFuture<'_, Result<(), QueueError>>;

    /// Give up: move the delivery to the dead letters with `error`.
    fn dead_letter(&self, lease: LeaseId, error: String) -> BoxFuture<'_, Result<(), QueueError>>;

    /// Hand the delivery back untouched (shutting down): due now, and this
    /// lease does not count as an attempt.
    fn release(&self, lease: LeaseId) -> BoxFuture<'_, Result<(), QueueError>>;

    /// Makes deliveries whose lease has expired due again; returns how many.
    /// A lease that has not expired is never touched: its worker may still be
    /// running it. Worker pools call it at start.
    ///
    /// Every back-end recovers expired leases this way (an expired lease is
    /// also due for [`lease`](Queue::lease) without it). A back-end whose
    /// server redelivers expired leases by itself (NATS JetStream) has
    /// nothing to do and returns 0. [`SqliteQueue`](crate::SqliteQueue)
    /// also recovers *every* lease when it opens its file, since the process
    /// that held them is gone (unless opened with
    /// [`recover_leases_on_open(false)`](crate::SqliteQueueBuilder::recover_leases_on_open)).
    fn recover(&self) -> BoxFuture<'_, Result<u64, QueueError>>;

    /// Up to `limit` dead letters, oldest received first.
    fn list_dead(&self, limit: usize) -> BoxFuture<'_, Result<Vec<DeadLetter>, QueueError>>;

    /// Puts the selected dead letters back in the queue, due now with their
    /// attempt counter reset; returns how many.
    fn replay(&self, selection: Replay) -> BoxFuture<'_, Result<u64, QueueError>>;

    /// Counts by state, and the age of the oldest ready delivery.
    fn stats(&self) -> BoxFuture<'_, Result<Stats, QueueError>>;

    /// A handle that resolves when deliveries may have become ready (an
    /// enqueue, a release, a replay), so that an idle worker pool leases at
    /// once instead of at its next poll; `None` (the default) when the
    /// back-end cannot tell, and pools only poll.
    ///
    /// A wake-up is a hint: the pool leases, and may find nothing. What no
    /// wake-up covers (a retry whose time has come, or, depending on the
    /// back-end, an enqueue by another process) is found by polling. Each
    /// back-end says what wakes its pools: [`MemoryQueue`](crate::MemoryQueue)
    /// and [`SqliteQueue`](crate::SqliteQueue) wake on this process's
    /// changes, from a [`ReadySignal`](crate::ReadySignal).
    fn wakeups(&self) -> Option<Wakeups> {
        None
    }
}

/// An `Arc` of a queue takes deliveries, so `Arc<dyn Enqueue>` can be wrapped and shared.
impl<Q: Enqueue + ?Sized> Enqueue for Arc<Q> {
    fn enqueue(&self, delivery: NewDelivery) -> BoxFuture<'_, Result<EnqueueOutcome, QueueError>> {
        (**self).enqueue(delivery)
    }

    fn refusal(&self, source: &str) -> Option<QueueError> {
        (**self).refusal(source)
    }
}

/// An `Arc` of a queue is a queue, so `Arc<dyn Queue>` can be wrapped and shared.
impl<Q: Queue + ?Sized> Queue for Arc<Q> {
    forward_queue_methods!(self => (**self));
}
