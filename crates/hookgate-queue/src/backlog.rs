//! Refusing new deliveries while the queue runs too late: a bound on the
//! age of the oldest delivery waiting to be handled.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::{BoxFuture, Enqueue, EnqueueOutcome, NewDelivery, Queue, QueueError};

/// The default `Retry-After` given while the backlog is too old.
pub const DEFAULT_BACKLOG_RETRY_AFTER: Duration = Duration::from_secs(30);
/// The default time between two looks at the backlog's age.
pub const DEFAULT_BACKLOG_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// A queue that refuses enqueues with [`Full`](crate::QueueErrorKind::Full)
/// (which receivers answer `503` with `Retry-After`) while its oldest ready
/// delivery is older than a bound: work the workers cannot reach within the
/// senders' patience is refused while the senders can still retry it,
/// instead of being accepted and then handled too late.
///
/// The age is [`Stats::oldest_ready_age`](crate::Stats::oldest_ready_age) (since receipt, of the oldest
/// delivery due and not leased), read in the background at most once per
/// [check interval](Self::check_interval), so an enqueue never waits for
/// it. Enqueues are refused once two checks in a row found the backlog too
/// old, and accepted again at the first check that finds it young enough:
/// one delivery caught between its due time and its lease (a retry of a
/// delivery received long ago) does not refuse anything. Duplicates are
/// refused too while the gate is shut (the sender retries them later).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::time::Duration;
/// use hookgate_queue::{BacklogLimit, MemoryQueue, Queue};
///
/// let queue = BacklogLimit::new(MemoryQueue::new(), Duration::from_secs(120))
///     .retry_after(Duration::from_secs(60));
/// assert_eq!(queue.max_backlog_age(), Duration::from_secs(120));
/// assert_eq!(queue.stats().await.unwrap().depth(), 0);
/// # });
/// ```
pub struct BacklogLimit<Q> {
    inner: Arc<Q>,
    max_age: Duration,
    retry_after: Duration,
    check_interval: Duration,
    gate: Arc<Mutex<Gate>>,
}

/// What the checks found so far.
#[derive(Debug, Default)]
struct Gate {
    /// Enqueues are refused.
    shut: bool,
    /// The last check found the backlog too old.
    exceeded: bool,
    /// A check is running.
    checking: bool,
    /// When the last check started.
    checked_at: Option<Instant>,
}

impl Gate {
    /// Takes in a check's finding: shut after two checks in a row over the
    /// bound, open at the first under it. Returns the new state if it changed.
    fn record(&mut self, oldest_ready_age: Option<Duration>, max_age: Duration) -> Option<bool> {
        let exceeded = oldest_ready_age.is_some_and(|age| age > max_age);
        let shut = exceeded && self.exceeded;
        self.exceeded = exceeded;
        (shut != self.shut).then(|| {
            self.shut = shut;
            shut
        })
    }
}

impl<Q: Queue> BacklogLimit<Q> {
    /// Wraps `inner`, refusing enqueues while its oldest ready delivery is
    /// older than `max_age`.
    pub fn new(inner: Q, max_age: Duration) -> Self {
        Self {
            inner: Arc::new(inner),
            max_age,
            retry_after: DEFAULT_BACKLOG_RETRY_AFTER,
            check_interval: DEFAULT_BACKLOG_CHECK_INTERVAL,
            gate: Arc::default(),
        }
    }

    /// The `Retry-After` hint of a refusal (default 30 s).
    #[must_use]
    pub fn retry_after(mut self, after: Duration) -> Self {
        self.retry_after = after;
        self
    }

    /// How often the backlog's age is read (default 1 s): each read is one
    /// [`Queue::stats`] call, in the background.
    #[must_use]
    pub fn check_interval(mut self, interval: Duration) -> Self {
        self.check_interval = interval;
        self
    }

    /// The bound on the backlog's age.
    pub fn max_backlog_age(&self) -> Duration {
        self.max_age
    }

    /// The wrapped queue.
    pub fn get_ref(&self) -> &Q {
        &self.inner
    }

    fn gate(&self) -> std::sync::MutexGuard<'_, Gate> {
        // Each change is a few plain assignments: consistent after a panic.
        self.gate.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether enqueues are refused now; starts a check in the background
    /// when the last one is older than the check interval.
    fn shut(&self) -> bool {
        let mut gate = self.gate();
        let due = !gate.checking
            && gate
                .checked_at
                .is_none_or(|at| at.elapsed() >= self.check_interval);
        if due && let Ok(runtime) = tokio::runtime::Handle::try_current() {
            gate.checking = true;
            gate.checked_at = Some(Instant::now());
            let (inner, shared, max_age) = (
                Arc::clone(&self.inner),
                Arc::clone(&self.gate),
                self.max_age,
            );
            runtime.spawn(async move {
                let stats = inner.stats().await;
                let mut gate = shared.lock().unwrap_or_else(PoisonError::into_inner);
                gate.checking = false;
                match stats {
                    Ok(stats) => match gate.record(stats.oldest_ready_age, max_age) {
                        Some(true) => tracing::warn!(
                            oldest_ready_age = ?stats.oldest_ready_age,
                            ?max_age,
                            "backlog too old: refusing new deliveries"
                        ),
                        Some(false) => {
                            tracing::info!("backlog within its age bound: accepting again");
                        }
                        None => {}
                    },
                    // Keep the last decision: a queue that cannot answer
                    // stats refuses enqueues by itself if it is down.
                    Err(err) => tracing::debug!(error = %err, "could not read the backlog's age"),
                }
            });
        }
        gate.shut
    }
}

impl<Q: fmt::Debug> fmt::Debug for BacklogLimit<Q> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BacklogLimit")
            .field("inner", &self.inner)
            .field("max_age", &self.max_age)
            .field("retry_after", &self.retry_after)
            .field("check_interval", &self.check_interval)
            .finish_non_exhaustive()
    }
}

impl<Q: Queue> Enqueue for BacklogLimit<Q> {
    fn enqueue(&self, delivery: NewDelivery) -> BoxFuture<'_, Result<EnqueueOutcome, QueueError>> {
        if self.shut() {
            metrics::counter!(crate::observe::BACKLOG_REFUSED, "source" => delivery.source)
                .increment(1);
            return Box::pin(std::future::ready(Err(QueueError::full(self.retry_after))));
        }
        self.inner.enqueue(delivery)
    }
}

impl<Q: Queue> Queue for BacklogLimit<Q> {
    forward_queue_methods!(self => self.inner);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Clock, LeaseRequest, ManualClock, MemoryQueue, QueueErrorKind};

    /// Enqueues `id` until the gate has answered as `refused` (each
    /// enqueue may start a check; its answer lands a moment later).
    async fn until(queue: &BacklogLimit<MemoryQueue>, clock: &ManualClock, refused: bool) -> u32 {
        for attempt in 0..1000 {
            let id = format!("probe-{}-{attempt}", u8::from(refused));
            let result = queue
                .enqueue(NewDelivery::new("src", id, clock.now(), &b"{}"[..]))
                .await;
            if result.is_err() == refused {
                if let Err(err) = result {
                    assert_eq!(err.kind(), QueueErrorKind::Full);
                    assert_eq!(err.retry_after(), Some(Duration::from_secs(7)));
                }
                return attempt;
            }
            tokio::task::yield_now().await;
        }
        panic!("the gate never became refused = {refused}");
    }

    #[tokio::test]
    async fn refuses_while_the_oldest_ready_delivery_is_too_old_then_accepts_again() {
        let clock = ManualClock::default();
        let queue = BacklogLimit::new(
            MemoryQueue::new().with_clock(clock.clone()),
            Duration::from_secs(60),
        )
        .retry_after(Duration::from_secs(7))
        .check_interval(Duration::ZERO);
        queue
            .enqueue(NewDelivery::new("src", "old", clock.now(), &b"{}"[..]))
            .await
            .unwrap();
        clock.advance(Duration::from_secs(61));
        until(&queue, &clock, true).await;

        // The workers catch up: everything ready is handled.
        let leased = queue
            .lease(LeaseRequest::new(10_000, Duration::from_secs(30)))
            .await
            .unwrap();
        for leased in leased {
            queue.ack(leased.lease).await.unwrap();
        }
        until(&queue, &clock, false).await;
    }

    #[test]
    fn one_check_over_the_bound_refuses_nothing_two_in_a_row_do() {
        let max = Duration::from_secs(60);
        let (young, old) = (Some(Duration::from_secs(5)), Some(Duration::from_secs(61)));
        let mut gate = Gate::default();
        assert_eq!(
            gate.record(old, max),
            None,
            "a retry caught before its lease"
        );
        assert_eq!(gate.record(young, max), None);
        assert_eq!(gate.record(None, max), None);
        assert_eq!(gate.record(old, max), None);
        assert_eq!(gate.record(old, max), Some(true), "shut");
        assert_eq!(gate.record(old, max), None, "still shut");
        assert!(gate.shut);
        assert_eq!(gate.record(young, max), Some(false), "open at once");
        assert_eq!(gate.record(old, max), None);
        assert!(!gate.shut);
    }
}
