//! Refusing new deliveries while the queue runs too late: a bound on the
//! age of the oldest delivery waiting to be handled.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
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
/// The queue's [`Stats`](crate::Stats) are read in the background at most
/// once per [check interval](Self::check_interval), so an enqueue never
/// waits for them. The gate shuts *before* the bound is passed, since
/// what it accepts until the next check still has to wait its turn:
///
/// - **The backlog's drain time.** From one check to the next, the
///   deliveries that left the ready state (the ready count before, plus
///   those enqueued since, minus the ready count now) give the rate at
///   which the workers take them, learnt while they have a backlog (a
///   trickle taken at once says nothing of what they could take; until
///   they have been seen busy, this rule waits), and the enqueues offered
///   give the arrival rate (both smoothed over checks). A delivery accepted now
///   waits behind every ready one and behind what arrives until the gate
///   can next shut (a check interval plus the time a check takes): when
///   that wait reaches the bound, enqueues are refused. So the oldest
///   waiting delivery stays under the bound under overload, instead of
///   passing it by the time two checks take.
/// - **The oldest ready delivery's age**
///   ([`Stats::oldest_ready_age`](crate::Stats::oldest_ready_age), since
///   receipt), plus the same delay, over the bound at two checks in a row:
///   for workers that take nothing at all. One delivery caught between its
///   due time and its lease (a retry of a delivery received long ago) does
///   not refuse anything.
///
/// The gate opens at the first check at which neither holds. Duplicates
/// are refused too while it is shut (the sender retries them later).
///
/// While it is shut, [`Enqueue::refusal`] answers the refusal at once, so
/// that receivers refuse before reading and verifying a body (what the HTTP
/// side saves goes to the workers); while it is open, that question costs
/// one atomic load.
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
    /// [`Gate::shut`], readable without the lock: the open gate's answer to
    /// [`Enqueue::refusal`], asked of every request before its body is read.
    shut: Arc<AtomicBool>,
}

/// What the checks found so far.
#[derive(Debug, Default)]
struct Gate {
    /// Enqueues are refused.
    shut: bool,
    /// The last check found the oldest ready delivery too old.
    exceeded: bool,
    /// A check is running.
    checking: bool,
    /// When the last check started.
    checked_at: Option<Instant>,
    /// Enqueues offered since the gate was made (refused ones too).
    offered: u64,
    /// Enqueues passed on to the queue since the gate was made.
    forwarded: u64,
    /// The previous check's reading, for the rates.
    last: Option<Reading>,
    /// Deliveries leaving the ready state per second, smoothed.
    taken_per_sec: Option<f64>,
    /// Enqueues offered per second, smoothed.
    offered_per_sec: f64,
}

/// What one check read, and the gate's counters at that moment.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Reading {
    /// When the check's stats were read.
    at: Instant,
    /// Ready deliveries.
    ready: u64,
    /// [`Gate::offered`] then.
    offered: u64,
    /// [`Gate::forwarded`] then.
    forwarded: u64,
}

/// The weight of a new rate sample: rates over a few checks, not one (the
/// workers lease in batches, so one short interval may see none taken).
const RATE_WEIGHT: f64 = 0.3;

impl Gate {
    /// Takes in a check's finding (`now`: a reading of the gate's counters
    /// with the queue's ready count; `delay`: how long until the gate can
    /// next shut, a check interval plus a check's time). Returns the new
    /// state if it changed.
    fn record(
        &mut self,
        oldest_ready_age: Option<Duration>,
        now: Reading,
        delay: Duration,
        max_age: Duration,
    ) -> Option<bool> {
        if let Some(last) = self.last
            && let Some(seconds) = now
                .at
                .checked_duration_since(last.at)
                .map(|elapsed| elapsed.as_secs_f64())
                .filter(|&seconds| seconds > 0.0)
        {
            // Ready before, plus enqueued since, minus ready now: taken by
            // the workers (or expired or removed) in between.
            let entered = now.forwarded.saturating_sub(last.forwarded);
            let taken = (last.ready + entered).saturating_sub(now.ready);
            let offered = now.offered.saturating_sub(last.offered);
            let smooth = |old: f64, sample: f64| RATE_WEIGHT.mul_add(sample - old, old);
            let taken_sample = taken as f64 / seconds;
            // Only workers that had a backlog all along show what they can
            // take; otherwise they took what came (a trickle, or nothing
            // while idle, or a burst not reached yet), which says only that
            // they can take at least that: it may raise an estimate, never
            // start one.
            let saturated = last.ready > 0 && now.ready > 0;
            self.taken_per_sec = match self.taken_per_sec {
                Some(old) if saturated => Some(smooth(old, taken_sample)),
                Some(old) => Some(old.max(taken_sample)),
                None => saturated.then_some(taken_sample),
            };
            self.offered_per_sec = smooth(self.offered_per_sec, offered as f64 / seconds);
        }
        self.last = Some(now);

        let too_old = oldest_ready_age.is_some_and(|age| age + delay > max_age);
        let aged_out = too_old && self.exceeded;
        self.exceeded = too_old;
        let shut = aged_out || self.wait_reaches(now.ready, delay, max_age);
        (shut != self.shut).then(|| {
            self.shut = shut;
            shut
        })
    }

    /// Whether a delivery accepted now would wait `max_age` or more: behind
    /// the `ready` ones and those offered until the gate can next shut, at
    /// the rate the workers take them. Unknown (no rate yet, or workers
    /// that took nothing: the age rule covers those) is no.
    fn wait_reaches(&self, ready: u64, delay: Duration, max_age: Duration) -> bool {
        let Some(rate) = self.taken_per_sec.filter(|&rate| rate > 0.0) else {
            return false;
        };
        let ahead = self
            .offered_per_sec
            .mul_add(delay.as_secs_f64(), ready as f64);
        ahead / rate + delay.as_secs_f64() >= max_age.as_secs_f64()
    }
}

impl<Q: Queue> BacklogLimit<Q> {
    /// Wraps `inner`, refusing enqueues before a delivery would wait longer
    /// than `max_age` for a worker (see the type's documentation).
    pub fn new(inner: Q, max_age: Duration) -> Self {
        Self {
            inner: Arc::new(inner),
            max_age,
            retry_after: DEFAULT_BACKLOG_RETRY_AFTER,
            check_interval: DEFAULT_BACKLOG_CHECK_INTERVAL,
            gate: Arc::default(),
            shut: Arc::default(),
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

    /// Whether enqueues are refused now (counting the enqueue as offered,
    /// and as passed on when it is not); starts a check in the background
    /// when the last one is older than the check interval. `ahead`: asked
    /// before the enqueue ([`Enqueue::refusal`]), so before the request was
    /// verified: it counts nothing. An open gate's enqueue follows and is
    /// counted; and were a shut gate's unverified refusals counted, anyone
    /// could hold the gate shut for the senders by sending unsigned requests
    /// (the offered rate keeps it shut while the workers catch up).
    fn shut(&self, ahead: bool) -> bool {
        let mut gate = self.gate();
        if ahead && !gate.shut {
            return false;
        }
        if !ahead {
            gate.offered += 1;
        }
        let due = !gate.checking
            && gate
                .checked_at
                .is_none_or(|at| at.elapsed() >= self.check_interval);
        if due && let Ok(runtime) = tokio::runtime::Handle::try_current() {
            gate.checking = true;
            gate.checked_at = Some(Instant::now());
            let (inner, shared, shut, max_age, interval) = (
                Arc::clone(&self.inner),
                Arc::clone(&self.gate),
                Arc::clone(&self.shut),
                self.max_age,
                self.check_interval,
            );
            runtime.spawn(async move {
                let started = Instant::now();
                let stats = inner.stats().await;
                let at = Instant::now();
                let mut gate = shared.lock().unwrap_or_else(PoisonError::into_inner);
                gate.checking = false;
                let (offered, forwarded) = (gate.offered, gate.forwarded);
                match stats {
                    Ok(stats) => {
                        let change = gate.record(
                            stats.oldest_ready_age,
                            Reading {
                                at,
                                ready: stats.ready,
                                offered,
                                forwarded,
                            },
                            interval + (at - started),
                            max_age,
                        );
                        if let Some(now_shut) = change {
                            // Under the gate's lock, so that the flag follows
                            // the gate in the order of its changes.
                            shut.store(now_shut, Ordering::Relaxed);
                        }
                        match change {
                            Some(true) => tracing::warn!(
                                oldest_ready_age = ?stats.oldest_ready_age,
                                ready = stats.ready,
                                taken_per_sec = gate.taken_per_sec.map(|rate| rate.round()),
                                ?max_age,
                                "backlog at its age bound: refusing new deliveries"
                            ),
                            Some(false) => {
                                tracing::info!("backlog within its age bound: accepting again");
                            }
                            None => {}
                        }
                    }
                    // Keep the last decision: a queue that cannot answer
                    // stats refuses enqueues by itself if it is down.
                    Err(err) => tracing::debug!(error = %err, "could not read the backlog's age"),
                }
            });
        }
        if !gate.shut {
            // Counted before the queue answers: a duplicate or a failed
            // enqueue counts as entered, which only makes the drain time
            // look longer by that one delivery.
            gate.forwarded += 1;
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
        if self.shut(false) {
            metrics::counter!(crate::observe::BACKLOG_REFUSED, "source" => delivery.source)
                .increment(1);
            return Box::pin(std::future::ready(Err(QueueError::full(self.retry_after))));
        }
        self.inner.enqueue(delivery)
    }

    fn refusal(&self, source: &str) -> Option<QueueError> {
        // The lock only while shut: then this request may start the check
        // that opens the gate again (it is not counted as offered: it was
        // not verified).
        if !self.shut.load(Ordering::Relaxed) || !self.shut(true) {
            return self.inner.refusal(source);
        }
        metrics::counter!(crate::observe::BACKLOG_REFUSED, "source" => source.to_owned())
            .increment(1);
        Some(QueueError::full(self.retry_after))
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
        // Shut: the refusal is known before an enqueue, with its hint.
        let offered = queue.gate().offered;
        let refusal = queue.refusal("src").expect("refused in advance");
        for _ in 0..100 {
            assert!(queue.refusal("src").is_some());
        }
        // Unverified: a flood of them must not hold the gate shut.
        assert_eq!(
            queue.gate().offered,
            offered,
            "refusals ahead are not offered"
        );
        assert_eq!(refusal.kind(), QueueErrorKind::Full);
        assert_eq!(refusal.retry_after(), Some(Duration::from_secs(7)));

        // The workers catch up: everything ready is handled.
        let leased = queue
            .lease(LeaseRequest::new(10_000, Duration::from_secs(30)))
            .await
            .unwrap();
        for leased in leased {
            queue.ack(leased.lease).await.unwrap();
        }
        until(&queue, &clock, false).await;
        assert!(queue.refusal("src").is_none(), "open: the enqueue decides");
    }

    /// A reading `ms` milliseconds after `base`.
    fn reading(base: Instant, ms: u64, ready: u64, offered: u64, forwarded: u64) -> Reading {
        Reading {
            at: base + Duration::from_millis(ms),
            ready,
            offered,
            forwarded,
        }
    }

    #[test]
    fn one_check_over_the_bound_refuses_nothing_two_in_a_row_do() {
        let max = Duration::from_secs(60);
        let delay = Duration::from_secs(1);
        let (young, old) = (Some(Duration::from_secs(5)), Some(Duration::from_secs(61)));
        // Workers that take nothing and nothing arriving: the age rule alone.
        let base = Instant::now();
        let idle = |ms| reading(base, ms, 1, 0, 0);
        let mut gate = Gate::default();
        assert_eq!(
            gate.record(old, idle(0), delay, max),
            None,
            "a retry caught before its lease"
        );
        assert_eq!(gate.record(young, idle(1000), delay, max), None);
        assert_eq!(gate.record(None, idle(2000), delay, max), None);
        assert_eq!(gate.record(old, idle(3000), delay, max), None);
        assert_eq!(gate.record(old, idle(4000), delay, max), Some(true), "shut");
        assert_eq!(gate.record(old, idle(5000), delay, max), None, "still shut");
        assert!(gate.shut);
        assert_eq!(
            gate.record(young, idle(6000), delay, max),
            Some(false),
            "open at once"
        );
        assert_eq!(gate.record(old, idle(7000), delay, max), None);
        assert!(!gate.shut);
        // The age plus the delay until the next check is what counts: 59.5 s
        // old, checked every second, is past a 60 s bound by the next check.
        let almost = Some(Duration::from_millis(59_500));
        assert_eq!(gate.record(almost, idle(8000), delay, max), Some(true));
    }

    #[test]
    fn shuts_when_a_delivery_accepted_now_would_wait_past_the_bound() {
        let max = Duration::from_secs(1);
        let delay = Duration::from_millis(100);
        let base = Instant::now();
        let mut gate = Gate::default();
        // Keeping up: 1,000/s offered and taken, nothing waits.
        assert_eq!(
            gate.record(None, reading(base, 0, 0, 0, 0), delay, max),
            None
        );
        assert_eq!(
            gate.record(None, reading(base, 100, 0, 100, 100), delay, max),
            None
        );
        // Never busy yet: what the workers can take is not known.
        assert_eq!(gate.taken_per_sec, None);
        // 2,000/s offered, 1,000/s taken: 100 more ready every 100 ms. No
        // delivery is old yet, but a backlog of 800 at 1,000/s plus what
        // arrives until the next check waits about a second.
        let mut ready = 0;
        let mut shut_at = None;
        for step in 2..=12 {
            ready += 100;
            let (offered, forwarded) = (step * 200 - 100, step * 200 - 100);
            let age = Some(Duration::from_millis(ready));
            if gate.record(
                age,
                reading(base, step * 100, ready, offered, forwarded),
                delay,
                max,
            ) == Some(true)
            {
                shut_at = Some(ready);
                break;
            }
        }
        let shut_at = shut_at.expect("the gate shut");
        assert!(
            (500..1000).contains(&shut_at),
            "shut at a backlog of {shut_at}, before its oldest is a second old"
        );
        // Shut, the backlog drains at 1,000/s: it opens once what is ready
        // (and what would arrive) can be taken within the bound.
        // Still offered 2,000/s, none passed on.
        let last = gate.last.expect("read");
        let (mut at, mut offered, mut ready) = (1300, last.offered, shut_at);
        let opened_at = loop {
            assert!(ready > 0, "never opened while the backlog drained");
            ready -= 100;
            offered += 200;
            at += 100;
            let now = reading(base, at, ready, offered, last.forwarded);
            if gate.record(None, now, delay, max) == Some(false) {
                break ready;
            }
        };
        assert!(!gate.shut);
        assert!(opened_at < shut_at, "opened at {opened_at} of {shut_at}");
    }

    #[test]
    fn a_burst_after_a_trickle_is_not_refused() {
        let max = Duration::from_secs(10);
        let delay = Duration::from_millis(100);
        let base = Instant::now();
        let mut gate = Gate::default();
        // An hour of one delivery every 100 ms, taken at once: the workers
        // are never seen busy.
        let mut count = 0;
        for step in 0..36_000 {
            let now = reading(base, step * 100, 0, count, count);
            assert_eq!(gate.record(None, now, delay, max), None);
            count += 1;
        }
        assert_eq!(gate.taken_per_sec, None, "never seen busy: unknown");
        // A burst of 600 lands just before a check, none taken yet: a rate
        // learnt from the trickle (10/s) would predict a minute's wait.
        count += 600;
        let now = reading(base, 3_600_000, 600, count, count);
        assert_eq!(gate.record(Some(Duration::ZERO), now, delay, max), None);
        // The workers take 100 of it in the next 100 ms: 1,000/s, the
        // other 500 wait half a second.
        let now = reading(base, 3_600_100, 500, count, count);
        let age = Some(Duration::from_millis(100));
        assert_eq!(gate.record(age, now, delay, max), None);
        assert!(!gate.shut);
        assert_eq!(gate.taken_per_sec, Some(1000.0));
    }

    #[test]
    fn workers_that_take_nothing_are_left_to_the_age_rule() {
        let max = Duration::from_secs(60);
        let delay = Duration::from_secs(1);
        let base = Instant::now();
        let mut gate = Gate::default();
        // A slow handler holds every worker: nothing taken for a while, a
        // few deliveries ready and young. No rate, no refusal.
        for step in 0..10 {
            let now = reading(base, step * 1000, 5, step, step.min(5));
            assert_eq!(
                gate.record(Some(Duration::from_secs(step)), now, delay, max),
                None
            );
        }
        assert!(!gate.shut);
    }
}
