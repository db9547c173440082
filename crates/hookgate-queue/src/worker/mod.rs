//! The worker pool: lease deliveries, run the handler, apply the outcome.
//!
//! One loop ([`WorkerPool::drive`]) leases, starts attempts and settles them,
//! for both [`WorkerPool::run`] and [`WorkerPool::process_ready`], while one
//! task beside it keeps the leases of running attempts (`heartbeat`). What an
//! attempt is allowed is decided by plain pieces around the user's handler
//! (`layers`: the attempt timeout, panic isolation), by the retry policy on
//! what comes out, and by the concurrency limits on what goes in (`limits`).
//!
//! The loop never waits on the queue while it could start a handler: the
//! next deliveries are leased while handlers run (prefetch), an attempt's
//! slot is free once its handler returns (its outcome is recorded after,
//! beside the next attempts), and an idle loop wakes on the queue's
//! [wake-ups](Queue::wakeups). On a back-end that group-commits (SQLite),
//! the outcomes of many attempts and the next lease then share one commit.

mod handler;
mod heartbeat;
mod layers;
mod limits;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Poll;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;
use tracing::Instrument;

use crate::observe::{self, DeliveryEvent, EventKind, Observer};
use crate::retry::Verdict;
use crate::{
    BoxFuture, Clock, Delivery, LeaseId, Leased, Queue, QueueError, QueueErrorKind, RetryPolicy,
    SystemClock,
};
pub use handler::{Handler, RouterHandler};
use heartbeat::{Registration, Running};
use layers::{AbortOnDrop, Isolated, Timeout};
use limits::{Limits, SourceSlot};

/// What a pool did, counted by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerReport {
    /// Deliveries handled and acknowledged.
    pub handled: u64,
    /// Failed attempts scheduled again.
    pub retried: u64,
    /// Deliveries moved to the dead letters.
    pub dead_lettered: u64,
    /// Outcomes that could not be recorded because the lease was lost
    /// (expired and taken by another worker, which will handle it again).
    pub lease_lost: u64,
    /// Deliveries handed back unfinished at shutdown.
    pub released: u64,
}

impl WorkerReport {
    fn add(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Handled => self.handled += 1,
            Outcome::Retried => self.retried += 1,
            Outcome::DeadLettered => self.dead_lettered += 1,
            Outcome::LeaseLost => self.lease_lost += 1,
            Outcome::QueueFailed => {}
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Outcome {
    Handled,
    Retried,
    DeadLettered,
    LeaseLost,
    /// The queue refused to record the outcome; the lease will expire and the
    /// delivery will run again.
    QueueFailed,
}

/// Configures a [`WorkerPool`].
#[must_use]
pub struct WorkerPoolBuilder {
    queue: Arc<dyn Queue>,
    handler: Arc<dyn Handler>,
    clock: Arc<dyn Clock>,
    concurrency: usize,
    prefetch: Option<usize>,
    source_limits: HashMap<String, usize>,
    default_source_limit: Option<usize>,
    attempt_timeout: Option<Duration>,
    source_attempt_timeouts: HashMap<String, Duration>,
    visibility: Duration,
    heartbeat: Option<Duration>,
    poll_interval: Duration,
    stats_interval: Duration,
    retry: RetryPolicy,
    observer: Option<Arc<dyn Observer>>,
    own_runtime: Option<usize>,
}

impl WorkerPoolBuilder {
    /// At most `n` deliveries handled at once, all sources together (default 16).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// How many deliveries the pool leases ahead of its free slots, to
    /// start each as soon as a slot frees instead of after a round trip to
    /// the queue (default: as many as the [concurrency](Self::concurrency);
    /// `0` leases only for free slots).
    ///
    /// Prefetched deliveries are leased like running ones: their lease is
    /// extended by the heartbeat, they count against their source's
    /// [limit](Self::source_concurrency), and they are handed back
    /// untouched (the attempt not counted) at shutdown. With several pools
    /// (processes) on one shared queue, each holds up to this many more
    /// deliveries than it runs: lower it when deliveries are few and slow.
    pub fn prefetch(mut self, n: usize) -> Self {
        self.prefetch = Some(n);
        self
    }

    /// At most `n` deliveries of `source` handled at once.
    ///
    /// The pool never leases more of a source than it may run: while a
    /// limited source has room for fewer deliveries than the pool has free
    /// slots, it leases in batches of that size, and once the source is at
    /// its limit, it leases around it.
    pub fn source_concurrency(mut self, source: impl Into<String>, n: usize) -> Self {
        self.source_limits.insert(source.into(), n.max(1));
        self
    }

    /// At most `n` deliveries of any one source without its own limit.
    pub fn default_source_concurrency(mut self, n: usize) -> Self {
        self.default_source_limit = Some(n.max(1));
        self
    }

    /// Bounds every attempt to `timeout` (default 5 minutes;
    /// `Duration::MAX` for no bound). Past it, the handler's future is
    /// dropped (what it awaited is cancelled; a child process spawned with
    /// `kill_on_drop` is killed) and the attempt fails with the retryable
    /// error "attempt timed out after ...", which the [`RetryPolicy`]
    /// handles like any other failure.
    ///
    /// Running attempts keep their lease (see
    /// [`visibility_timeout`](Self::visibility_timeout)), so this is what
    /// frees a delivery whose handler hangs.
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = Some(timeout);
        self
    }

    /// Bounds attempts on deliveries of `source` to `timeout`, instead of
    /// [`attempt_timeout`](Self::attempt_timeout).
    pub fn source_attempt_timeout(mut self, source: impl Into<String>, timeout: Duration) -> Self {
        self.source_attempt_timeouts.insert(source.into(), timeout);
        self
    }

    /// How long a lease lasts without news from its worker (default 30 s):
    /// after a worker crashes, what it held is handled by another worker
    /// within this time.
    ///
    /// While an attempt runs, the pool extends its lease every
    /// [`heartbeat_interval`](Self::heartbeat_interval), so a handler may run
    /// longer than this (up to the [attempt timeout](Self::attempt_timeout))
    /// and is still handled once. Only a pool that stops extending (a crash,
    /// a stall, or a queue unreachable for this whole time) loses its leases.
    pub fn visibility_timeout(mut self, timeout: Duration) -> Self {
        self.visibility = timeout;
        self
    }

    /// How often the leases of running attempts are extended (default a
    /// third of the visibility timeout), all at once, in one call to the queue.
    pub fn heartbeat_interval(mut self, interval: Duration) -> Self {
        self.heartbeat = Some(interval);
        self
    }

    /// How long to wait before asking an empty queue again (default 100 ms).
    ///
    /// A queue that offers [wake-ups](Queue::wakeups) (all of hookgate's
    /// back-ends do, for this process's enqueues; PostgreSQL for every
    /// process's) has its idle pool lease as soon as a delivery arrives, so
    /// the poll only finds what no wake-up announces: retries whose time has
    /// come, and enqueues by other processes on back-ends without
    /// server-side notifications.
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// How often [`run`](WorkerPool::run) publishes queue depth gauges (default 10 s).
    pub fn stats_interval(mut self, interval: Duration) -> Self {
        self.stats_interval = interval;
        self
    }

    /// The retry policy (default: [`RetryPolicy::default`]).
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Tells `observer` about each settled attempt: processed, retry
    /// scheduled, dead-lettered (see [`observe::Observer`]). Without one,
    /// nothing is built for it.
    pub fn observer(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Reads time from `clock` for retry times and age limits.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Makes [`run`](WorkerPool::run) drive the pool on a Tokio runtime of
    /// its own, on `threads` threads of its own (at least 1; 1 is a
    /// current-thread runtime on one thread named `hookgate-workers`),
    /// instead of as tasks of the caller's runtime (the default).
    ///
    /// Beside an HTTP server on the same runtime, the pool's tasks wait in
    /// the same run queues as every connection's: on a small machine under
    /// heavy intake the workers get a small share of the CPU and a backlog
    /// grows that nothing refuses. On threads of its own, the operating
    /// system shares the CPU between the pool and the server's threads.
    /// `hookgate serve` runs its pool this way.
    ///
    /// What stays the same: `run`'s future completes with the pool's report
    /// once the pool stopped, after the same shutdown (stop leasing, give
    /// running attempts the deadline, hand back the rest). Dropping `run`'s
    /// future before then shuts the pool down the same way, on its thread,
    /// instead of abandoning its attempts (whose leases would then expire).
    /// A panic on the pool's thread is resumed by `run`. If the thread or
    /// its runtime cannot be made, the pool runs on the caller's runtime,
    /// with a warning.
    ///
    /// What the handler and the queue spawn while the pool runs lives on the
    /// pool's runtime and ends with it. The queue's [wake-ups](Queue::wakeups)
    /// are subscribed on the caller's runtime (a back-end's listener, like
    /// PostgreSQL's, outlives the pool). [`process_ready`](WorkerPool::process_ready)
    /// always runs on the caller's runtime.
    pub fn own_runtime(mut self, threads: usize) -> Self {
        self.own_runtime = Some(threads.max(1));
        self
    }

    /// Builds the pool.
    pub fn build(self) -> WorkerPool {
        // Innermost first: the timeout drops the user's future, inside the
        // task that isolates the pool from a panic.
        let timed = Timeout::new(
            self.handler,
            self.attempt_timeout,
            self.source_attempt_timeouts,
        );
        let handler = Isolated::new(timed);
        WorkerPool {
            inner: Arc::new(Inner {
                queue: self.queue,
                handler,
                clock: self.clock,
                limits: Limits::new(
                    self.concurrency,
                    self.source_limits,
                    self.default_source_limit,
                ),
                prefetch: self.prefetch.unwrap_or(self.concurrency),
                visibility: self.visibility,
                // `interval` refuses a zero period.
                heartbeat: self
                    .heartbeat
                    .unwrap_or(self.visibility / 3)
                    .max(Duration::from_millis(1)),
                poll_interval: self.poll_interval,
                stats_interval: self.stats_interval,
                retry: self.retry,
                observer: self.observer,
                own_runtime: self.own_runtime,
            }),
        }
    }
}

impl fmt::Debug for WorkerPoolBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkerPoolBuilder")
            .field("queue", &self.queue)
            .field("concurrency", &self.concurrency)
            .field("prefetch", &self.prefetch)
            .field("source_limits", &self.source_limits)
            .field("attempt_timeout", &self.attempt_timeout)
            .field("visibility", &self.visibility)
            .field("heartbeat", &self.heartbeat)
            .field("retry", &self.retry)
            .field("own_runtime", &self.own_runtime)
            .finish_non_exhaustive()
    }
}

/// Leases deliveries and runs a [`Handler`] on them, with retries, dead
/// letters, concurrency limits and graceful shutdown.
///
/// - Success: ack. Failure asking for a retry: scheduled by the
///   [`RetryPolicy`] (or after the delay the handler asked for); past the
///   attempt or age limit, dead letters with the last error. Give up: dead
///   letters at once. A panicking handler counts as a failure to retry, and
///   so does an attempt past the [attempt timeout](WorkerPoolBuilder::attempt_timeout).
/// - While an attempt runs, its lease is extended every heartbeat interval,
///   so it keeps its delivery however long it runs; a crashed pool's leases
///   run out one visibility timeout after its last heartbeat.
/// - Leases that expired (a crashed worker) are recovered at start.
/// - Each attempt runs in a `tracing` span `delivery` with `source`,
///   `delivery_id` and `attempt`.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::sync::Arc;
/// use std::time::SystemTime;
/// use hookgate_queue::{Delivery, MemoryQueue, NewDelivery, Enqueue, Queue, WorkerPool};
///
/// let queue = Arc::new(MemoryQueue::new());
/// queue.enqueue(NewDelivery::new("clarife", "evt_1", SystemTime::now(), &b"{}"[..])).await?;
/// let pool = WorkerPool::builder(queue.clone(), |delivery: Delivery| async move {
///     assert_eq!(delivery.body, &b"{}"[..]);
///     Ok(())
/// })
/// .build();
/// assert_eq!(pool.process_ready().await?.handled, 1);
/// # Ok::<(), hookgate_queue::QueueError>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct WorkerPool {
    inner: Arc<Inner>,
}

struct Inner {
    queue: Arc<dyn Queue>,
    /// The user's handler inside the pool's layers.
    handler: Isolated<Timeout>,
    clock: Arc<dyn Clock>,
    limits: Limits,
    /// Deliveries leased ahead of free slots.
    prefetch: usize,
    visibility: Duration,
    heartbeat: Duration,
    poll_interval: Duration,
    stats_interval: Duration,
    retry: RetryPolicy,
    observer: Option<Arc<dyn Observer>>,
    /// `run` on a runtime of its own, with this many threads.
    own_runtime: Option<usize>,
}

impl fmt::Debug for WorkerPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkerPool")
            .field("queue", &self.inner.queue)
            .field("concurrency", &self.inner.limits.overall)
            .field("prefetch", &self.inner.prefetch)
            .field("source_limits", self.inner.limits.by_source())
            .field("handler", &self.inner.handler)
            .field("visibility", &self.inner.visibility)
            .field("heartbeat", &self.inner.heartbeat)
            .field("retry", &self.inner.retry)
            .field("own_runtime", &self.inner.own_runtime)
            .finish_non_exhaustive()
    }
}

/// The default visibility timeout of a pool's leases.
pub const DEFAULT_VISIBILITY_TIMEOUT: Duration = Duration::from_secs(30);
/// The default attempt timeout.
pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(300);

/// When [`WorkerPool::drive`] stops, and how it treats the queue meanwhile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// [`WorkerPool::process_ready`]: stop once nothing is due and nothing
    /// runs. A failed lease call stops leasing; the run returns its error
    /// once the attempts in progress are settled.
    UntilIdle,
    /// [`WorkerPool::run`]: recover expired leases first, publish the queue's
    /// counts, outlive queue errors (logged, then asked again after the poll
    /// interval), and stop at shutdown.
    UntilShutdown,
}

impl WorkerPool {
    /// Starts configuring a pool over `queue` running `handler`.
    pub fn builder(queue: Arc<dyn Queue>, handler: impl Handler) -> WorkerPoolBuilder {
        WorkerPoolBuilder {
            queue,
            handler: Arc::new(handler),
            clock: Arc::new(SystemClock),
            concurrency: 16,
            prefetch: None,
            source_limits: HashMap::new(),
            default_source_limit: None,
            attempt_timeout: Some(DEFAULT_ATTEMPT_TIMEOUT),
            source_attempt_timeouts: HashMap::new(),
            visibility: DEFAULT_VISIBILITY_TIMEOUT,
            heartbeat: None,
            poll_interval: Duration::from_millis(100),
            stats_interval: Duration::from_secs(10),
            retry: RetryPolicy::default(),
            observer: None,
            own_runtime: None,
        }
    }

    /// Handles every delivery due now, then returns (deliveries that become
    /// due meanwhile, like immediate retries, are handled too). Honours the
    /// concurrency limits. Useful in tests and for one-shot draining.
    ///
    /// A queue error while leasing is returned once the deliveries already
    /// leased are finished.
    pub async fn process_ready(&self) -> Result<WorkerReport, QueueError> {
        let (report, failed) = self
            .drive(
                Mode::UntilIdle,
                std::future::pending(),
                Duration::ZERO,
                None,
            )
            .await;
        failed.map_or(Ok(report), Err)
    }

    /// Runs until `shutdown` completes, then stops leasing and gives in-flight
    /// deliveries until `deadline` to finish; those still running are
    /// aborted and released (due again at once, the attempt not counted).
    ///
    /// Expired leases are recovered first. Queue errors while leasing are
    /// logged and retried after the poll interval: a worker outlives a
    /// database hiccup.
    ///
    /// With [`own_runtime`](WorkerPoolBuilder::own_runtime), the pool runs
    /// on threads of its own and this future waits for it.
    pub async fn run(
        &self,
        shutdown: impl Future<Output = ()> + Send,
        deadline: Duration,
    ) -> WorkerReport {
        match self.inner.own_runtime {
            Some(threads) => self.run_on_own_runtime(threads, shutdown, deadline).await,
            None => self.run_here(shutdown, deadline).await,
        }
    }

    /// [`run`](Self::run) as tasks of the caller's runtime.
    async fn run_here(
        &self,
        shutdown: impl Future<Output = ()> + Send,
        deadline: Duration,
    ) -> WorkerReport {
        let wakeups = self.inner.queue.wakeups();
        self.drive(Mode::UntilShutdown, shutdown, deadline, wakeups)
            .await
            .0
    }

    /// [`run`](Self::run) on a thread (and runtime) of the pool's own: the
    /// caller's future only passes `shutdown` on and waits for the report.
    async fn run_on_own_runtime(
        &self,
        threads: usize,
        shutdown: impl Future<Output = ()> + Send,
        deadline: Duration,
    ) -> WorkerReport {
        // Subscribed here: a back-end that starts a task for its wake-ups
        // starts it on the caller's runtime, which outlives the pool's.
        let wakeups = self.inner.queue.wakeups();
        // Dropped (the caller's future dropped) or sent: either stops the pool.
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (done_tx, done_rx) = tokio::sync::oneshot::channel::<OwnRun>();
        let pool = self.clone();
        let span = tracing::Span::current();
        let spawned = std::thread::Builder::new()
            .name("hookgate-workers".to_owned())
            .spawn(move || {
                let runtime = match own_runtime(threads) {
                    Ok(runtime) => runtime,
                    Err(err) => {
                        let _ = done_tx.send(OwnRun::NoRuntime(err));
                        return;
                    }
                };
                let stop = async move {
                    let _ = stop_rx.await;
                };
                let driving = pool
                    .drive(Mode::UntilShutdown, stop, deadline, wakeups)
                    .instrument(span);
                let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    runtime.block_on(driving).0
                }));
                // The attempts are settled or handed back: what the handler
                // or the queue left running (a blocking read) ends unwatched.
                runtime.shutdown_background();
                let _ = done_tx.send(OwnRun::Done(ran));
            });
        let mut shutdown = std::pin::pin!(shutdown);
        if let Err(err) = spawned {
            tracing::warn!(error = %err, "cannot start the worker pool's thread; running it on the caller's runtime");
            return self.run_here(shutdown, deadline).await;
        }
        let mut stop_tx = Some(stop_tx);
        let mut done_rx = done_rx;
        let done = loop {
            tokio::select! {
                () = &mut shutdown, if stop_tx.is_some() => {
                    if let Some(stop) = stop_tx.take() {
                        let _ = stop.send(());
                    }
                }
                done = &mut done_rx => break done,
            }
        };
        match done {
            Ok(OwnRun::Done(Ok(report))) => report,
            Ok(OwnRun::Done(Err(panic))) => std::panic::resume_unwind(panic),
            Ok(OwnRun::NoRuntime(err)) => {
                tracing::warn!(error = %err, "cannot start the worker pool's runtime; running it on the caller's runtime");
                if stop_tx.is_none() {
                    // Shut down before it could start: nothing was leased.
                    return WorkerReport::default();
                }
                self.run_here(shutdown, deadline).await
            }
            // `catch_unwind` answers every way the thread can end after
            // building its runtime, and a failed build answers too.
            Err(_) => unreachable!("the worker pool's thread ended without an answer"),
        }
    }

    /// The one scheduling loop: start an attempt for each prefetched
    /// delivery there is a free slot for, lease more while attempts run
    /// (for the free slots and the prefetch), record outcomes as attempts
    /// finish, and wait (for a lease, an attempt, a wake-up from the queue,
    /// the poll interval or shutdown) when there is nothing to start.
    /// Returns what it did, and in [`Mode::UntilIdle`] the lease error that
    /// stopped it.
    async fn drive(
        &self,
        mode: Mode,
        shutdown: impl Future<Output = ()> + Send,
        deadline: Duration,
        // Subscribed by the caller before this first lease, so an enqueue
        // that lands after any lease that found nothing wakes the loop.
        mut wakeups: Option<crate::Wakeups>,
    ) -> (WorkerReport, Option<QueueError>) {
        let inner = &self.inner;
        if mode == Mode::UntilShutdown {
            match inner.queue.recover().await {
                Ok(0) => {}
                Ok(recovered) => tracing::info!(recovered, "recovered expired leases"),
                Err(err) => tracing::warn!(error = %err, "could not recover expired leases"),
            }
        }
        let mut report = WorkerReport::default();
        let mut attempts = Attempts::default();
        let _heartbeat = AbortOnDrop(tokio::spawn(heartbeat::keep_alive(
            Arc::clone(&inner.queue),
            Arc::clone(&attempts.running),
            inner.heartbeat,
            inner.visibility,
        )));
        let mut failed = None;
        let mut stats_tick = (mode == Mode::UntilShutdown).then(|| {
            let mut tick = tokio::time::interval(inner.stats_interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick
        });
        let mut shutdown = std::pin::pin!(shutdown);
        let overall = inner.limits.overall;
        let slot_freed = Arc::clone(&attempts.slot_freed);
        let mut prefetched: VecDeque<Prefetched> = VecDeque::new();
        // At most one lease call in flight, with the number it asked for.
        let mut leasing: Option<(BoxFuture<'static, Result<Vec<Leased>, QueueError>>, usize)> =
            None;
        // Whether the queue may have something due that we have not asked
        // for: after a full batch, an outcome recorded, a wake-up, a poll.
        let mut look = true;

        'drive: loop {
            // An outcome was recorded: a retry due at once, or room a
            // limited source was waiting for.
            look |= attempts.settle_finished(&mut report);
            // Outcomes being recorded are bounded too: a queue slow to
            // record them slows the pool down instead of piling them up.
            while attempts.handlers() < overall && attempts.len() < 2 * overall {
                let Some(next) = prefetched.pop_front() else {
                    break;
                };
                attempts.start(inner, next);
            }
            let held = attempts.handlers() + prefetched.len();
            let room = (overall + inner.prefetch).saturating_sub(held);
            if leasing.is_none() && failed.is_none() && look && room > 0 {
                // Shutdown is checked before leasing, never raced against a
                // lease in flight: dropping that call would not undo it (the
                // SQLite writer commits it anyway), and nobody would release
                // the leases until they expire.
                if is_ready(shutdown.as_mut()).await {
                    break;
                }
                let request = inner.limits.next_request(room, inner.visibility);
                let asked = request.max;
                let queue = Arc::clone(&inner.queue);
                leasing = Some((Box::pin(async move { queue.lease(request).await }), asked));
                look = false;
            }
            if mode == Mode::UntilIdle
                && leasing.is_none()
                && attempts.is_empty()
                && prefetched.is_empty()
                && (!look || failed.is_some())
            {
                break;
            }
            let idle = leasing.is_none() && !look && room > 0;
            tokio::select! {
                biased;
                () = &mut shutdown, if leasing.is_none() => break,
                leased = async { (&mut leasing.as_mut().expect("enabled").0).await }, if leasing.is_some() => {
                    let (_, asked) = leasing.take().expect("in flight");
                    match leased {
                        Ok(leased) if is_ready(shutdown.as_mut()).await => {
                            // Shut down while leasing: hand them back untouched.
                            for leased in leased {
                                if inner.hand_back(leased.lease, "at shutdown").await {
                                    report.released += 1;
                                }
                            }
                            break 'drive;
                        }
                        Ok(leased) => {
                            // A full batch: more may be due at once.
                            look |= leased.len() >= asked;
                            for leased in leased {
                                if let Some(next) = attempts.prefetch(inner, leased).await {
                                    prefetched.push_back(next);
                                }
                            }
                        }
                        Err(err) if mode == Mode::UntilIdle => failed = Some(err),
                        Err(err) => tracing::warn!(error = %err, "leasing failed; will retry"),
                    }
                }
                () = slot_freed.notified() => {}
                Some(done) = attempts.tasks.join_next_with_id(), if !attempts.is_empty() => {
                    attempts.settle(done, &mut report);
                    look = true;
                }
                _ = async { stats_tick.as_mut().expect("enabled").tick().await }, if stats_tick.is_some() => {
                    inner.publish_stats().await;
                }
                () = async { wakeups.as_mut().expect("enabled").ready().await }, if idle && wakeups.is_some() => look = true,
                () = tokio::time::sleep(inner.poll_interval), if idle && mode == Mode::UntilShutdown => look = true,
            }
        }

        if mode == Mode::UntilShutdown {
            tracing::info!(
                in_flight = attempts.handlers(),
                prefetched = prefetched.len(),
                "worker pool shutting down"
            );
        }
        // Prefetched deliveries never started: handed back untouched, in
        // both modes (a failed `process_ready` may leave some).
        for next in prefetched.drain(..) {
            let lease = next.leased.lease.clone();
            drop(next);
            if inner.hand_back(lease, "at shutdown").await {
                report.released += 1;
            }
        }
        if mode == Mode::UntilShutdown {
            attempts.finish_within(deadline, &mut report).await;
            for lease in attempts.unsettled() {
                if inner.hand_back(lease, "at shutdown").await {
                    report.released += 1;
                }
            }
            inner.publish_stats().await;
        }
        (report, failed)
    }
}

/// How the pool's own thread ended.
enum OwnRun {
    /// Its runtime could not be built: nothing ran.
    NoRuntime(std::io::Error),
    /// The pool ran: its report, or its panic.
    Done(std::thread::Result<WorkerReport>),
}

/// The runtime of a pool with [`WorkerPoolBuilder::own_runtime`].
fn own_runtime(threads: usize) -> std::io::Result<tokio::runtime::Runtime> {
    if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("hookgate-workers")
            .enable_all()
            .build()
    }
}

/// Whether `future` has completed, polling it once (it stays usable).
async fn is_ready<F: Future<Output = ()> + ?Sized>(mut future: std::pin::Pin<&mut F>) -> bool {
    std::future::poll_fn(|cx| Poll::Ready(future.as_mut().poll(cx).is_ready())).await
}

/// A delivery leased ahead of a free slot: its source's slot is taken and
/// its lease is kept by the heartbeat while it waits.
struct Prefetched {
    leased: Leased,
    slot: SourceSlot,
    running: Registration,
}

/// The attempts a run of the loop has started and not yet settled, with the
/// lease each holds (to hand back those aborted at shutdown), the leases
/// the pool holds (for the heartbeat), and how many handlers run now.
///
/// An attempt's task runs the handler, frees its slot (`handlers` goes down
/// and `slot_freed` wakes the loop), then records the outcome with the
/// queue: the next attempt does not wait for that round trip.
#[derive(Default)]
struct Attempts {
    tasks: JoinSet<Outcome>,
    leases: HashMap<tokio::task::Id, LeaseId>,
    running: Arc<Running>,
    handlers: Arc<AtomicUsize>,
    slot_freed: Arc<tokio::sync::Notify>,
}

/// Frees an attempt's slot when its handler returned (or the attempt was
/// aborted): dropped by the attempt's task before it records the outcome.
struct HandlerSlot {
    handlers: Arc<AtomicUsize>,
    slot_freed: Arc<tokio::sync::Notify>,
}

impl Drop for HandlerSlot {
    fn drop(&mut self) {
        self.handlers.fetch_sub(1, Ordering::SeqCst);
        // A permit is kept if the loop is not waiting yet: never missed.
        self.slot_freed.notify_one();
    }
}

impl Attempts {
    /// Attempts started and not settled: handlers running, and outcomes
    /// being recorded.
    fn len(&self) -> usize {
        self.tasks.len()
    }

    fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Handlers running now.
    fn handlers(&self) -> usize {
        self.handlers.load(Ordering::SeqCst)
    }

    /// Takes the slot of `leased`'s source and keeps its lease alive until
    /// it starts; a delivery whose source has no room is handed back at
    /// once (not counted as an attempt).
    async fn prefetch(&self, inner: &Arc<Inner>, leased: Leased) -> Option<Prefetched> {
        let Some(slot) = inner.limits.reserve(&leased.delivery.source) else {
            tracing::debug!(
                source = %leased.delivery.source,
                "source at its concurrency limit; lease handed back"
            );
            inner
                .hand_back(leased.lease, "of a source at its limit")
                .await;
            return None;
        };
        let running = self.running.enter(leased.lease.clone());
        Some(Prefetched {
            leased,
            slot,
            running,
        })
    }

    /// Starts an attempt on a prefetched delivery.
    fn start(&mut self, inner: &Arc<Inner>, next: Prefetched) {
        let Prefetched {
            leased,
            slot,
            running,
        } = next;
        let lease = leased.lease.clone();
        self.handlers.fetch_add(1, Ordering::SeqCst);
        let handler_slot = HandlerSlot {
            handlers: Arc::clone(&self.handlers),
            slot_freed: Arc::clone(&self.slot_freed),
        };
        let inner = Arc::clone(inner);
        let handle = self
            .tasks
            .spawn(async move { inner.process(leased, slot, running, handler_slot).await });
        self.leases.insert(handle.id(), lease);
    }

    /// Settles every attempt that has finished, without waiting; whether
    /// there was any.
    fn settle_finished(&mut self, report: &mut WorkerReport) -> bool {
        let mut any = false;
        while let Some(done) = self.tasks.try_join_next_with_id() {
            self.settle(done, report);
            any = true;
        }
        any
    }

    /// Records a finished attempt; an aborted one keeps its lease here, to
    /// be handed back.
    fn settle(
        &mut self,
        done: Result<(tokio::task::Id, Outcome), tokio::task::JoinError>,
        report: &mut WorkerReport,
    ) {
        match done {
            Ok((id, outcome)) => {
                self.leases.remove(&id);
                report.add(outcome);
            }
            Err(err) if err.is_cancelled() => {}
            Err(err) => {
                // `process` does not panic (the handler runs in its own
                // task); if it did, the lease expires and the delivery runs
                // again.
                self.leases.remove(&err.id());
                tracing::error!(error = %err, "worker task failed");
            }
        }
    }

    /// Waits up to `deadline` for the attempts in progress, then aborts the rest.
    async fn finish_within(&mut self, deadline: Duration, report: &mut WorkerReport) {
        let finish = async {
            while let Some(done) = self.tasks.join_next_with_id().await {
                self.settle(done, report);
            }
        };
        if tokio::time::timeout(deadline, finish).await.is_err() {
            self.tasks.abort_all();
            while let Some(done) = self.tasks.join_next_with_id().await {
                self.settle(done, report);
            }
        }
    }

    /// The leases of attempts that never settled (aborted).
    fn unsettled(&mut self) -> impl Iterator<Item = LeaseId> + '_ {
        self.leases.drain().map(|(_, lease)| lease)
    }
}

impl Inner {
    /// Hands `lease` back untouched (due again, the attempt not counted);
    /// `why` names the lease in the warning if the queue refuses. Returns
    /// whether it was handed back.
    async fn hand_back(&self, lease: LeaseId, why: &str) -> bool {
        match self.queue.release(lease).await {
            Ok(()) => true,
            Err(err) => {
                tracing::warn!(error = %err, "could not hand back a lease {why}; it will expire");
                false
            }
        }
    }

    async fn publish_stats(&self) {
        match self.queue.stats().await {
            Ok(stats) => observe::record_stats(&stats),
            Err(err) => tracing::debug!(error = %err, "could not read queue stats"),
        }
    }

    async fn process(
        self: Arc<Self>,
        leased: Leased,
        _slot: SourceSlot,
        running: Registration,
        handler_slot: HandlerSlot,
    ) -> Outcome {
        let Leased {
            delivery, lease, ..
        } = leased;
        let span = tracing::info_span!(
            "delivery",
            source = %delivery.source,
            delivery_id = %delivery.delivery_id,
            attempt = delivery.attempt,
            outcome = tracing::field::Empty,
        );
        let outcome = self
            .attempt(delivery, lease, running, handler_slot)
            .instrument(span.clone())
            .await;
        span.record("outcome", format!("{outcome:?}"));
        outcome
    }

    /// Runs the handler (inside its layers) while the heartbeat keeps the
    /// lease, frees the pool's slot, asks the retry policy what a failure
    /// means, and records the outcome with the queue.
    async fn attempt(
        &self,
        delivery: Delivery,
        lease: LeaseId,
        running: Registration,
        handler_slot: HandlerSlot,
    ) -> Outcome {
        let source = delivery.source.clone();
        let attempt = delivery.attempt;
        let age = delivery.age(self.clock.now());
        // Copied only for an observer: the delivery moves into the handler.
        let delivery_id = self.observer.as_ref().map(|_| delivery.delivery_id.clone());
        let started = Instant::now();
        let result = self.handler.handle(delivery).await;
        // Settled from here on: no more extensions, and the next attempt
        // may start while this outcome is recorded.
        drop(running);
        drop(handler_slot);
        let took = started.elapsed();
        metrics::histogram!(observe::HANDLER_LATENCY, "source" => source.clone())
            .record(took.as_secs_f64());
        let notify = |kind, error: Option<&str>, retry_at| {
            if let Some(observer) = &self.observer {
                let mut event = DeliveryEvent::new(kind, &source);
                event.delivery_id = delivery_id.as_deref();
                event.attempt = Some(attempt);
                event.latency = Some(took);
                event.error = error;
                event.retry_at = retry_at;
                observer.observe(&event);
            }
        };

        let recorded = match result {
            Ok(()) => {
                tracing::debug!("handled");
                let recorded = self.queue.ack(lease).await.map(|()| Outcome::Handled);
                if recorded.is_ok() {
                    notify(EventKind::Processed, None, None);
                }
                metrics::counter!(observe::HANDLED, "source" => source).increment(1);
                recorded
            }
            Err(err) => match self.retry.verdict(&err, attempt, age) {
                Verdict::RetryIn(delay) => {
                    tracing::warn!(error = %err, retry_in = ?delay, "attempt failed; will retry");
                    let at = crate::clock::later(self.clock.now(), delay);
                    let error = err.to_string();
                    let told = self.observer.as_ref().map(|_| error.clone());
                    let recorded = self
                        .queue
                        .retry_at(lease, at, error)
                        .await
                        .map(|()| Outcome::Retried);
                    if recorded.is_ok() {
                        notify(EventKind::RetryScheduled, told.as_deref(), Some(at));
                    }
                    metrics::counter!(observe::RETRIES, "source" => source).increment(1);
                    recorded
                }
                Verdict::GiveUp(reason) => {
                    tracing::error!(error = %reason, "delivery moved to the dead letters");
                    let told = self.observer.as_ref().map(|_| reason.clone());
                    let recorded = self
                        .queue
                        .dead_letter(lease, reason)
                        .await
                        .map(|()| Outcome::DeadLettered);
                    if recorded.is_ok() {
                        notify(EventKind::DeadLettered, told.as_deref(), None);
                    }
                    metrics::counter!(observe::DEAD_LETTERS, "source" => source).increment(1);
                    recorded
                }
            },
        };
        recorded.unwrap_or_else(|err| {
            if err.kind() == QueueErrorKind::LeaseLost {
                tracing::warn!("lease lost before the outcome was recorded; the delivery will run again");
                Outcome::LeaseLost
            } else {
                tracing::error!(error = %err, "could not record the outcome; the delivery will run again");
                Outcome::QueueFailed
            }
        })
    }
}
