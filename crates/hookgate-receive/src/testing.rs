//! Queues that misbehave on purpose, to test the ACK path (feature `test-util`).
//!
//! Only [`Queue::enqueue`] is meaningful; the worker-side methods report the
//! queue as unavailable.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use hookgate_queue::{
    BoxFuture, DeadLetter, EnqueueOutcome, LeaseId, LeaseRequest, Leased, NewDelivery, Queue,
    QueueError, Replay, Stats,
};

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

fn not_a_worker_queue<T: Send + 'static>() -> BoxFuture<'static, Result<T, QueueError>> {
    Box::pin(async {
        Err(QueueError::unavailable(
            "this test queue only takes enqueues",
        ))
    })
}

impl Queue for MisbehavingQueue {
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

    fn lease(&self, _request: LeaseRequest) -> BoxFuture<'_, Result<Vec<Leased>, QueueError>> {
        not_a_worker_queue()
    }

    fn ack(&self, _lease: LeaseId) -> BoxFuture<'_, Result<(), QueueError>> {
        not_a_worker_queue()
    }

    fn retry_at(
        &self,
        _lease: LeaseId,
        _at: SystemTime,
        _error: String,
    ) -> BoxFuture<'_, Result<(), QueueError>> {
        not_a_worker_queue()
    }

    fn dead_letter(
        &self,
        _lease: LeaseId,
        _error: String,
    ) -> BoxFuture<'_, Result<(), QueueError>> {
        not_a_worker_queue()
    }

    fn release(&self, _lease: LeaseId) -> BoxFuture<'_, Result<(), QueueError>> {
        not_a_worker_queue()
    }

    fn recover(&self) -> BoxFuture<'_, Result<u64, QueueError>> {
        not_a_worker_queue()
    }

    fn list_dead(&self, _limit: usize) -> BoxFuture<'_, Result<Vec<DeadLetter>, QueueError>> {
        not_a_worker_queue()
    }

    fn replay(&self, _selection: Replay) -> BoxFuture<'_, Result<u64, QueueError>> {
        not_a_worker_queue()
    }

    fn stats(&self) -> BoxFuture<'_, Result<Stats, QueueError>> {
        not_a_worker_queue()
    }
}
