//! Queues that misbehave on purpose, to test the ACK path (feature `test-util`).
//!
//! They implement [`Enqueue`], all a receiver asks of a queue.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hookgate_queue::{BoxFuture, Enqueue, EnqueueOutcome, NewDelivery, QueueError};

/// How a [`MisbehavingQueue`] answers `enqueue`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Misbehaviour {
    /// Never completes: the enqueue future stays pending forever.
    Stall,
    /// Fails at once with [`QueueError::full`] and this retry hint.
    Full(Duration),
    /// Fails at once with a storage error and no retry hint.
    StorageError,
}

/// A queue whose `enqueue` stalls or fails, counting the attempts.
///
/// ```
/// use hookgate_receive::testing::{Misbehaviour, MisbehavingQueue};
///
/// let queue = MisbehavingQueue::new(Misbehaviour::Stall);
/// assert_eq!(queue.attempts(), 0);
/// ```
#[derive(Debug, Clone)]
pub struct MisbehavingQueue {
    how: Misbehaviour,
    attempts: Arc<AtomicUsize>,
}

impl MisbehavingQueue {
    /// A queue that misbehaves `how`.
    pub fn new(how: Misbehaviour) -> Self {
        Self {
            how,
            attempts: Arc::default(),
        }
    }

    /// How many enqueues were attempted.
    pub fn attempts(&self) -> usize {
        self.attempts.load(Ordering::SeqCst)
    }
}

impl Enqueue for MisbehavingQueue {
    fn enqueue(&self, _delivery: NewDelivery) -> BoxFuture<'_, Result<EnqueueOutcome, QueueError>> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        let how = self.how;
        Box::pin(async move {
            match how {
                Misbehaviour::Stall => std::future::pending().await,
                Misbehaviour::Full(after) => Err(QueueError::full(after)),
                Misbehaviour::StorageError => Err(QueueError::storage(
                    "disk I/O error at /var/lib/secret-path",
                )),
            }
        })
    }
}
