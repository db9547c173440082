//! Coalescing floods: a newer version of an object replaces an older one still waiting.

use std::fmt;
use std::sync::Arc;

use crate::{BoxFuture, Enqueue, EnqueueOutcome, NewDelivery, Queue, QueueError};

/// Computes the coalescing key of a delivery, or `None` to never coalesce it.
pub type CoalesceKeyFn = Arc<dyn Fn(&NewDelivery) -> Option<String> + Send + Sync>;

/// A queue that sets each delivery's coalescing key with a function
/// before enqueueing it in the inner queue.
///
/// Deliveries of the same source with the same key describe versions of the
/// same object (Claravine's `list.updated` for one list id, say). While one
/// version waits, a newer one (by `received_at`) replaces it; an older one
/// arriving later is answered [`EnqueueOutcome::Superseded`]. A version
/// already leased by a worker is never replaced: the newer one waits behind it.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use std::time::{Duration, SystemTime};
/// use hookgate_queue::{Coalescing, Enqueue, MemoryQueue, NewDelivery, Queue};
///
/// // Key by the body here; real code would parse out the object id.
/// let queue = Coalescing::new(MemoryQueue::new(), |d: &NewDelivery| {
///     (d.source == "claravine").then(|| String::from_utf8_lossy(&d.body[..6]).into_owned())
/// });
/// let t = SystemTime::now();
/// queue.enqueue(NewDelivery::new("claravine", "1", t, &b"list-7 v1"[..])).await.unwrap();
/// queue.enqueue(NewDelivery::new("claravine", "2", t + Duration::from_secs(1), &b"list-7 v2"[..]))
///     .await
///     .unwrap();
/// assert_eq!(queue.stats().await.unwrap().ready, 1);
/// # });
/// ```
pub struct Coalescing<Q> {
    inner: Q,
    key: CoalesceKeyFn,
}

impl<Q: Enqueue> Coalescing<Q> {
    /// Wraps `inner`, keying deliveries with `key`.
    pub fn new(
        inner: Q,
        key: impl Fn(&NewDelivery) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        Self {
            inner,
            key: Arc::new(key),
        }
    }

    /// The wrapped queue.
    pub fn get_ref(&self) -> &Q {
        &self.inner
    }

    /// Unwraps the inner queue.
    pub fn into_inner(self) -> Q {
        self.inner
    }
}

impl<Q: fmt::Debug> fmt::Debug for Coalescing<Q> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Coalescing")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<Q: Enqueue> Enqueue for Coalescing<Q> {
    fn enqueue(
        &self,
        mut delivery: NewDelivery,
    ) -> BoxFuture<'_, Result<EnqueueOutcome, QueueError>> {
        if delivery.coalesce_key.is_none() {
            delivery.coalesce_key = (self.key)(&delivery);
        }
        self.inner.enqueue(delivery)
    }

    fn refusal(&self, source: &str) -> Option<QueueError> {
        self.inner.refusal(source)
    }
}

impl<Q: Queue> Queue for Coalescing<Q> {
    forward_queue_methods!(self => self.inner);
}
