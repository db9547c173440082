//! The worker pool: lease deliveries, run the handler, apply the outcome.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Poll;
use std::time::{Duration, Instant};

use hookgate_events::{AnyEvent, Disposition, Event, HandlerError, Router, Sender};
use tokio::task::{JoinHandle, JoinSet};
use tracing::Instrument;

use crate::observe;
use crate::{
    BoxFuture, Clock, Delivery, LeaseId, LeaseRequest, Leased, Queue, QueueError, QueueErrorKind,
    RetryPolicy, SystemClock,
};

/// Processes one delivery. Implemented for every
/// `Fn(Delivery) -> impl Future<Output = Result<(), HandlerError>>`, and by
/// [`RouterHandler`] for a `hookgate_events::Router`.
///
/// Handlers must be idempotent: delivery is at-least-once.
pub trait Handler: Send + Sync + 'static {
    /// Handles `delivery`; an error's [`Disposition`] decides retry or dead letter.
    fn handle(&self, delivery: Delivery) -> BoxFuture<'_, Result<(), HandlerError>>;
}

impl<F, Fut> Handler for F
where
    F: Fn(Delivery) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
{
    fn handle(&self, delivery: Delivery) -> BoxFuture<'_, Result<(), HandlerError>> {
        Box::pin(self(delivery))
    }
}

/// Runs a [`Router`] from `hookgate-events` on each delivery: parses the
/// stored body into the sender's typed event, then dispatches it.
///
/// By default the source name is the sender's name (`clarife`,
/// `claravine`, ...); map other source names with [`source`](Self::source).
/// A body that does not parse, or a source with no known sender, is given up
/// at once (dead letters): retrying cannot fix it, replaying after a fix can.
///
/// ```
/// use hookgate_events::{AnyEvent, DeliveryInfo, Router, Sender};
/// use hookgate_queue::{RouterHandler, WorkerPool, MemoryQueue};
/// use std::sync::Arc;
///
/// let router = Router::new().on("claim.*", |_event: AnyEvent, _info: DeliveryInfo| async { Ok(()) });
/// let handler = RouterHandler::new(router).source("claims-prod", Sender::Claimable);
/// let pool = WorkerPool::builder(Arc::new(MemoryQueue::new()), handler).build();
/// # drop(pool);
/// ```
pub struct RouterHandler<E = AnyEvent> {
    router: Router<E>,
    parse: Arc<ParseFn<E>>,
    senders: HashMap<String, Sender>,
}

type ParseFn<E> =
    dyn Fn(&HashMap<String, Sender>, &Delivery) -> Result<E, HandlerError> + Send + Sync;

impl RouterHandler<AnyEvent> {
    /// Dispatches typed events parsed with the source's [`Sender`].
    pub fn new(router: Router<AnyEvent>) -> Self {
        Self {
            router,
            parse: Arc::new(parse_any),
            senders: HashMap::new(),
        }
    }

    /// Parses deliveries of `source` as `sender`'s events.
    #[must_use]
    pub fn source(mut self, source: impl Into<String>, sender: Sender) -> Self {
        self.senders.insert(source.into(), sender);
        self
    }
}

fn parse_any(
    senders: &HashMap<String, Sender>,
    delivery: &Delivery,
) -> Result<AnyEvent, HandlerError> {
    let sender = match senders.get(&delivery.source) {
        Some(sender) => *sender,
        None => Sender::from_str(&delivery.source).map_err(HandlerError::give_up)?,
    };
    sender
        .parse(&delivery.headers, &delivery.body)
        .map_err(HandlerError::give_up)
}

impl<E> RouterHandler<E>
where
    E: Event + Clone + Send + Sync + 'static,
{
    /// Dispatches events made from each delivery by `parse` (any event type).
    pub fn with_parser(
        router: Router<E>,
        parse: impl Fn(&Delivery) -> Result<E, HandlerError> + Send + Sync + 'static,
    ) -> Self {
        Self {
            router,
            parse: Arc::new(move |_: &HashMap<String, Sender>, delivery: &Delivery| {
                parse(delivery)
            }),
            senders: HashMap::new(),
        }
    }
}

impl<E> fmt::Debug for RouterHandler<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RouterHandler")
            .field("router", &self.router)
            .field("senders", &self.senders)
            .finish_non_exhaustive()
    }
}

impl<E> Handler for RouterHandler<E>
where
    E: Event + Clone + Send + Sync + 'static,
{
    fn handle(&self, delivery: Delivery) -> BoxFuture<'_, Result<(), HandlerError>> {
        let event = (self.parse)(&self.senders, &delivery);
        Box::pin(async move {
            self.router.dispatch(event?, delivery.info()).await?;
            Ok(())
        })
    }
}

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
    source_limits: HashMap<String, usize>,
    default_source_limit: Option<usize>,
    visibility: Duration,
    poll_interval: Duration,
    stats_interval: Duration,
    retry: RetryPolicy,
}

impl WorkerPoolBuilder {
    /// At most `n` deliveries handled at once, all sources together (default 16).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
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

    /// How long a worker holds a lease (default 5 minutes). A handler running
    /// longer may see its delivery handled again by another worker.
    pub fn visibility_timeout(mut self, timeout: Duration) -> Self {
        self.visibility = timeout;
        self
    }

    /// How long to wait before asking an empty queue again (default 100 ms).
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

    /// Reads time from `clock` for retry times and age limits.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Builds the pool.
    pub fn build(self) -> WorkerPool {
        WorkerPool {
            inner: Arc::new(Inner {
                queue: self.queue,
                handler: self.handler,
                clock: self.clock,
                concurrency: self.concurrency,
                source_limits: self.source_limits,
                default_source_limit: self.default_source_limit,
                visibility: self.visibility,
                poll_interval: self.poll_interval,
                stats_interval: self.stats_interval,
                retry: self.retry,
                source_running: Arc::new(Mutex::new(HashMap::new())),
            }),
        }
    }
}

impl fmt::Debug for WorkerPoolBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkerPoolBuilder")
            .field("queue", &self.queue)
            .field("concurrency", &self.concurrency)
            .field("source_limits", &self.source_limits)
            .field("visibility", &self.visibility)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

/// Leases deliveries and runs a [`Handler`] on them, with retries, dead
/// letters, concurrency limits and graceful shutdown.
///
/// - Success: ack. Failure asking for a retry: scheduled by the
///   [`RetryPolicy`] (or after the delay the handler asked for); past the
///   attempt or age limit, dead letters with the last error. Give up: dead
///   letters at once. A panicking handler counts as a failure to retry.
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
    handler: Arc<dyn Handler>,
    clock: Arc<dyn Clock>,
    concurrency: usize,
    source_limits: HashMap<String, usize>,
    default_source_limit: Option<usize>,
    visibility: Duration,
    poll_interval: Duration,
    stats_interval: Duration,
    retry: RetryPolicy,
    /// Deliveries of each limited source this pool holds a lease on (running
    /// or about to): never more than the source's limit.
    source_running: Arc<Mutex<HashMap<String, usize>>>,
}

impl fmt::Debug for WorkerPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkerPool")
            .field("queue", &self.inner.queue)
            .field("concurrency", &self.inner.concurrency)
            .field("source_limits", &self.inner.source_limits)
            .field("visibility", &self.inner.visibility)
            .field("retry", &self.inner.retry)
            .finish_non_exhaustive()
    }
}

/// Aborts the handler task when the attempt is dropped (shutdown deadline).
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One unit of a source's concurrency limit, held while this pool holds the
/// lease of one of its deliveries; given back on drop (finished or aborted).
struct SourceSlot {
    /// `None` for a source without a limit.
    running: Option<Arc<Mutex<HashMap<String, usize>>>>,
    source: String,
}

impl Drop for SourceSlot {
    fn drop(&mut self) {
        let Some(running) = &self.running else {
            return;
        };
        let mut running = running.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(held) = running.get_mut(&self.source) {
            *held = held.saturating_sub(1);
            if *held == 0 {
                running.remove(&self.source);
            }
        }
    }
}

/// Whether `future` has completed, polling it once (it stays usable).
async fn is_ready<F: Future<Output = ()> + ?Sized>(mut future: std::pin::Pin<&mut F>) -> bool {
    std::future::poll_fn(|cx| Poll::Ready(future.as_mut().poll(cx).is_ready())).await
}

impl WorkerPool {
    /// Starts configuring a pool over `queue` running `handler`.
    pub fn builder(queue: Arc<dyn Queue>, handler: impl Handler) -> WorkerPoolBuilder {
        WorkerPoolBuilder {
            queue,
            handler: Arc::new(handler),
            clock: Arc::new(SystemClock),
            concurrency: 16,
            source_limits: HashMap::new(),
            default_source_limit: None,
            visibility: Duration::from_secs(300),
            poll_interval: Duration::from_millis(100),
            stats_interval: Duration::from_secs(10),
            retry: RetryPolicy::default(),
        }
    }

    /// Handles every delivery due now, then returns (deliveries that become
    /// due meanwhile, like immediate retries, are handled too). Honours the
    /// concurrency limits. Useful in tests and for one-shot draining.
    ///
    /// A queue error while leasing is returned once the deliveries already
    /// leased are finished.
    pub async fn process_ready(&self) -> Result<WorkerReport, QueueError> {
        let inner = &self.inner;
        let mut report = WorkerReport::default();
        let mut tasks: JoinSet<Outcome> = JoinSet::new();
        let mut failed = None;
        loop {
            let free = inner.concurrency.saturating_sub(tasks.len());
            let mut started = 0;
            if free > 0 && failed.is_none() {
                match inner.queue.lease(inner.next_request(free)).await {
                    Ok(leased) => started = inner.start(leased, &mut tasks).await,
                    Err(err) => failed = Some(err),
                }
            }
            if started > 0 {
                continue;
            }
            // Nothing more to start now: wait for a running delivery (its
            // source may have been the one at its limit), or stop.
            match tasks.join_next().await {
                Some(outcome) => report.add(outcome.map_err(QueueError::unavailable)?),
                None => return failed.map_or(Ok(report), Err),
            }
            while let Some(outcome) = tasks.try_join_next() {
                report.add(outcome.map_err(QueueError::unavailable)?);
            }
        }
    }

    /// Runs until `shutdown` completes, then stops leasing and gives in-flight
    /// deliveries until `deadline` to finish; those still running are
    /// aborted and released (due again at once, the attempt not counted).
    ///
    /// Expired leases are recovered first. Queue errors while leasing are
    /// logged and retried after the poll interval: a worker outlives a
    /// database hiccup.
    pub async fn run(
        &self,
        shutdown: impl Future<Output = ()> + Send,
        deadline: Duration,
    ) -> WorkerReport {
        let inner = &self.inner;
        match inner.queue.recover().await {
            Ok(0) => {}
            Ok(recovered) => tracing::info!(recovered, "recovered expired leases"),
            Err(err) => tracing::warn!(error = %err, "could not recover expired leases"),
        }
        let mut report = WorkerReport::default();
        let mut tasks: JoinSet<Outcome> = JoinSet::new();
        let mut in_flight: HashMap<tokio::task::Id, LeaseId> = HashMap::new();
        let mut stats_tick = tokio::time::interval(inner.stats_interval);
        stats_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut shutdown = std::pin::pin!(shutdown);

        loop {
            while let Some(done) = tasks.try_join_next_with_id() {
                settle(done, &mut in_flight, &mut report);
            }
            let free = inner.concurrency.saturating_sub(tasks.len());
            let mut started = 0;
            if free > 0 {
                // Shutdown is checked before leasing, never raced against a
                // lease in flight: dropping that call would not undo it (the
                // SQLite writer commits it anyway), and nobody would release
                // the leases until they expire.
                if is_ready(shutdown.as_mut()).await {
                    break;
                }
                match inner.queue.lease(inner.next_request(free)).await {
                    Ok(leased) if is_ready(shutdown.as_mut()).await => {
                        // Shut down while leasing: hand them back untouched.
                        for leased in leased {
                            match inner.queue.release(leased.lease).await {
                                Ok(()) => report.released += 1,
                                Err(err) => {
                                    tracing::warn!(error = %err, "could not release a lease at shutdown")
                                }
                            }
                        }
                        break;
                    }
                    Ok(leased) => {
                        started = inner
                            .start_tracked(leased, &mut tasks, &mut in_flight)
                            .await;
                    }
                    Err(err) => tracing::warn!(error = %err, "leasing failed; will retry"),
                }
            }
            if started == 0 {
                tokio::select! {
                    biased;
                    () = &mut shutdown => break,
                    Some(done) = tasks.join_next_with_id(), if !tasks.is_empty() => {
                        settle(done, &mut in_flight, &mut report);
                    }
                    _ = stats_tick.tick() => inner.publish_stats().await,
                    () = tokio::time::sleep(inner.poll_interval), if free > 0 => {}
                }
            }
        }

        tracing::info!(in_flight = tasks.len(), "worker pool shutting down");
        let drain = async {
            while let Some(done) = tasks.join_next_with_id().await {
                settle(done, &mut in_flight, &mut report);
            }
        };
        if tokio::time::timeout(deadline, drain).await.is_err() {
            tasks.abort_all();
            while let Some(done) = tasks.join_next_with_id().await {
                settle(done, &mut in_flight, &mut report);
            }
        }
        for (_, lease) in in_flight.drain() {
            match inner.queue.release(lease).await {
                Ok(()) => report.released += 1,
                Err(err) => tracing::warn!(error = %err, "could not release a lease at shutdown"),
            }
        }
        inner.publish_stats().await;
        report
    }
}

/// Records a finished task; an aborted one stays in `in_flight` to be released.
fn settle(
    done: Result<(tokio::task::Id, Outcome), tokio::task::JoinError>,
    in_flight: &mut HashMap<tokio::task::Id, LeaseId>,
    report: &mut WorkerReport,
) {
    match done {
        Ok((id, outcome)) => {
            in_flight.remove(&id);
            report.add(outcome);
        }
        Err(err) if err.is_cancelled() => {}
        Err(err) => {
            // `process` does not panic (the handler runs in its own task);
            // if it did, the lease expires and the delivery runs again.
            in_flight.remove(&err.id());
            tracing::error!(error = %err, "worker task failed");
        }
    }
}

impl Inner {
    fn source_limit(&self, source: &str) -> Option<usize> {
        self.source_limits
            .get(source)
            .copied()
            .or(self.default_source_limit)
    }

    /// The next lease request for `free` slots: sources at their limit are
    /// skipped, and no more is asked for than the limited source with the
    /// least room can run, so the pool never holds a lease it cannot start
    /// at once (one that would wait while its visibility timeout runs down,
    /// taking a slot from other sources). A limited source with nothing due
    /// can make batches smaller, never wrong.
    fn next_request(&self, free: usize) -> LeaseRequest {
        let running = self
            .source_running
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut max = free;
        let mut skip = Vec::new();
        let mut consider = |source: &String, limit: usize, held: usize| {
            if held >= limit {
                skip.push(source.clone());
            } else {
                max = max.min(limit - held);
            }
        };
        for (source, &limit) in &self.source_limits {
            consider(source, limit, running.get(source).copied().unwrap_or(0));
        }
        if let Some(limit) = self.default_source_limit {
            for (source, &held) in running.iter() {
                if !self.source_limits.contains_key(source) {
                    consider(source, limit, held);
                }
            }
            // A source not seen yet may fill the whole batch.
            max = max.min(limit);
        }
        LeaseRequest::new(max.max(1), self.visibility).skip_sources(skip)
    }

    /// Takes a slot of `source`'s limit, or `None` when it has no room (a
    /// back-end returned more than asked, or another clone of the pool took
    /// the room meanwhile). A source without a limit always gets one.
    fn reserve(&self, source: &str) -> Option<SourceSlot> {
        let Some(limit) = self.source_limit(source) else {
            return Some(SourceSlot {
                running: None,
                source: String::new(),
            });
        };
        let mut running = self
            .source_running
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let held = running.entry(source.to_owned()).or_insert(0);
        if *held >= limit {
            return None;
        }
        *held += 1;
        Some(SourceSlot {
            running: Some(Arc::clone(&self.source_running)),
            source: source.to_owned(),
        })
    }

    /// Starts a task for each leased delivery whose source has room, and
    /// hands the others back at once (not counted as an attempt). Returns
    /// how many started.
    async fn start(self: &Arc<Self>, leased: Vec<Leased>, tasks: &mut JoinSet<Outcome>) -> usize {
        self.start_tracked(leased, tasks, &mut HashMap::new()).await
    }

    /// [`start`](Self::start), remembering each task's lease in `in_flight`.
    async fn start_tracked(
        self: &Arc<Self>,
        leased: Vec<Leased>,
        tasks: &mut JoinSet<Outcome>,
        in_flight: &mut HashMap<tokio::task::Id, LeaseId>,
    ) -> usize {
        let mut started = 0;
        for leased in leased {
            let Some(slot) = self.reserve(&leased.delivery.source) else {
                tracing::debug!(
                    source = %leased.delivery.source,
                    "source at its concurrency limit; lease handed back"
                );
                if let Err(err) = self.queue.release(leased.lease).await {
                    tracing::warn!(error = %err, "could not hand back a surplus lease; it will expire");
                }
                continue;
            };
            let lease = leased.lease.clone();
            let inner = Arc::clone(self);
            let handle = tasks.spawn(async move { inner.process(leased, slot).await });
            in_flight.insert(handle.id(), lease);
            started += 1;
        }
        started
    }

    async fn publish_stats(&self) {
        match self.queue.stats().await {
            Ok(stats) => observe::record_stats(&stats),
            Err(err) => tracing::debug!(error = %err, "could not read queue stats"),
        }
    }

    async fn process(self: Arc<Self>, leased: Leased, _slot: SourceSlot) -> Outcome {
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
        let outcome = self.attempt(delivery, lease).instrument(span.clone()).await;
        span.record("outcome", format!("{outcome:?}"));
        outcome
    }

    async fn attempt(self: &Arc<Self>, delivery: Delivery, lease: LeaseId) -> Outcome {
        let source = delivery.source.clone();
        let attempt = delivery.attempt;
        let age = delivery.age(self.clock.now());
        let started = Instant::now();
        // The handler runs in its own task so a panic is contained, and the
        // guard aborts it if this attempt is aborted at shutdown.
        let handler = Arc::clone(&self.handler);
        let mut task = AbortOnDrop(tokio::spawn(
            async move { handler.handle(delivery).await }.in_current_span(),
        ));
        let result = match (&mut task.0).await {
            Ok(result) => result,
            Err(err) => Err(HandlerError::retry(format!("handler panicked: {err}"))),
        };
        metrics::histogram!(observe::HANDLER_LATENCY, "source" => source.clone())
            .record(started.elapsed().as_secs_f64());

        let recorded = match result {
            Ok(()) => {
                tracing::debug!("handled");
                metrics::counter!(observe::HANDLED, "source" => source).increment(1);
                self.queue.ack(lease).await.map(|()| Outcome::Handled)
            }
            Err(err) => {
                let requested = match err.disposition() {
                    Disposition::GiveUp => None,
                    Disposition::Retry { after } => Some(after),
                    // A disposition this version does not know: the safe default.
                    _ => Some(None),
                };
                let next = requested.and_then(|after| self.retry.next_delay(attempt, age, after));
                match next {
                    Some(delay) => {
                        tracing::warn!(error = %err, retry_in = ?delay, "attempt failed; will retry");
                        metrics::counter!(observe::RETRIES, "source" => source).increment(1);
                        let at = crate::clock::later(self.clock.now(), delay);
                        self.queue
                            .retry_at(lease, at, err.to_string())
                            .await
                            .map(|()| Outcome::Retried)
                    }
                    None => {
                        let reason = if requested.is_none() {
                            err.to_string()
                        } else {
                            format!("gave up after {attempt} attempts: {err}")
                        };
                        tracing::error!(error = %reason, "delivery moved to the dead letters");
                        metrics::counter!(observe::DEAD_LETTERS, "source" => source).increment(1);
                        self.queue
                            .dead_letter(lease, reason)
                            .await
                            .map(|()| Outcome::DeadLettered)
                    }
                }
            }
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use hookgate_events::DeliveryInfo;

    use super::*;
    use crate::{Enqueue, ManualClock, MemoryQueue, NewDelivery, RetrySchedule, Stats};

    fn setup() -> (ManualClock, Arc<MemoryQueue>) {
        let clock = ManualClock::default();
        let queue = Arc::new(MemoryQueue::new().with_clock(clock.clone()));
        (clock, queue)
    }

    async fn enqueue(queue: &MemoryQueue, clock: &ManualClock, source: &str, id: &str, body: &str) {
        queue
            .enqueue(NewDelivery::new(source, id, clock.now(), body.to_owned()))
            .await
            .expect("enqueue");
    }

    async fn stats(queue: &MemoryQueue) -> Stats {
        queue.stats().await.expect("stats")
    }

    #[tokio::test]
    async fn failures_follow_the_schedule_then_dead_letter_with_the_last_error() {
        let (clock, queue) = setup();
        enqueue(&queue, &clock, "clarife", "evt-1", "{}").await;
        let pool = WorkerPool::builder(queue.clone(), |d: Delivery| async move {
            Err(HandlerError::retry(format!(
                "db down (attempt {})",
                d.attempt
            )))
        })
        .retry(RetryPolicy::new(RetrySchedule::clarife()))
        .clock(clock.clone())
        .build();

        for wait in [1, 10, 60] {
            assert_eq!(pool.process_ready().await.unwrap().retried, 1);
            assert_eq!(stats(&queue).await.scheduled, 1);
            clock.advance(Duration::from_secs(wait - 1));
            assert_eq!(
                pool.process_ready().await.unwrap(),
                WorkerReport::default(),
                "not yet due"
            );
            clock.advance(Duration::from_secs(1));
        }
        assert_eq!(pool.process_ready().await.unwrap().dead_lettered, 1);
        let dead = queue.list_dead(10).await.unwrap();
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].delivery.attempt, 4);
        assert_eq!(
            dead[0].error,
            "gave up after 4 attempts: db down (attempt 4)"
        );
        assert_eq!(stats(&queue).await.depth(), 0);
    }

    #[tokio::test]
    async fn give_up_dead_letters_at_once_and_replay_runs_it_again() {
        let (clock, queue) = setup();
        enqueue(&queue, &clock, "clarife", "evt-1", "bad").await;
        let pool = WorkerPool::builder(queue.clone(), |d: Delivery| async move {
            if d.body == "bad" && d.last_error.is_none() {
                Err(HandlerError::give_up("unknown schema"))
            } else {
                Ok(())
            }
        })
        .clock(clock.clone())
        .build();
        assert_eq!(pool.process_ready().await.unwrap().dead_lettered, 1);
        let dead = queue.list_dead(10).await.unwrap();
        assert_eq!(dead[0].error, "unknown schema");
        assert_eq!(queue.replay(crate::Replay::All).await.unwrap(), 1);
        assert_eq!(pool.process_ready().await.unwrap().handled, 1);
    }

    #[tokio::test]
    async fn requested_delay_and_max_age_are_honoured() {
        let (clock, queue) = setup();
        enqueue(&queue, &clock, "clarife", "evt-1", "{}").await;
        let pool = WorkerPool::builder(queue.clone(), |_d: Delivery| async {
            Err(HandlerError::retry_after(
                Duration::from_secs(600),
                "rate limited",
            ))
        })
        .retry(RetryPolicy::new(RetrySchedule::clarife()).max_age(Duration::from_secs(900)))
        .clock(clock.clone())
        .build();
        assert_eq!(pool.process_ready().await.unwrap().retried, 1);
        clock.advance(Duration::from_secs(599));
        assert_eq!(pool.process_ready().await.unwrap(), WorkerReport::default());
        clock.advance(Duration::from_secs(1));
        // Age 600 s + 600 s more would pass the 900 s limit.
        assert_eq!(pool.process_ready().await.unwrap().dead_lettered, 1);
    }

    #[tokio::test]
    async fn a_panicking_handler_is_retried() {
        let (clock, queue) = setup();
        enqueue(&queue, &clock, "clarife", "evt-1", "{}").await;
        let pool = WorkerPool::builder(queue.clone(), |d: Delivery| async move {
            assert!(d.attempt > 1, "first attempt panics");
            Ok(())
        })
        .retry(RetryPolicy::new(RetrySchedule::clarife()))
        .clock(clock.clone())
        .build();
        assert_eq!(pool.process_ready().await.unwrap().retried, 1);
        clock.advance(Duration::from_secs(1));
        assert_eq!(pool.process_ready().await.unwrap().handled, 1);
        assert_eq!(stats(&queue).await.depth(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn per_source_and_overall_limits_hold() {
        let (clock, queue) = setup();
        for i in 0..12 {
            enqueue(&queue, &clock, "slow", &format!("s{i}"), "{}").await;
            enqueue(&queue, &clock, "fast", &format!("f{i}"), "{}").await;
        }
        let running = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
        let peaks = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
        let (r, p) = (running.clone(), peaks.clone());
        let pool = WorkerPool::builder(queue.clone(), move |d: Delivery| {
            let (running, peaks) = (r.clone(), p.clone());
            async move {
                let i = usize::from(d.source == "fast");
                let now = running[i].fetch_add(1, Ordering::SeqCst) + 1;
                peaks[i].fetch_max(now, Ordering::SeqCst);
                let total = running[0].load(Ordering::SeqCst) + running[1].load(Ordering::SeqCst);
                assert!(total <= 6, "overall limit");
                tokio::time::sleep(Duration::from_millis(10)).await;
                running[i].fetch_sub(1, Ordering::SeqCst);
                Ok(())
            }
        })
        .concurrency(6)
        .source_concurrency("slow", 2)
        .clock(clock.clone())
        .build();
        let report = pool.process_ready().await.unwrap();
        assert_eq!(report.handled, 24);
        assert!(peaks[0].load(Ordering::SeqCst) <= 2, "slow limited to 2");
        assert!(peaks[1].load(Ordering::SeqCst) >= 3, "fast used the rest");
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_releases_what_did_not_finish_within_the_deadline() {
        let (clock, queue) = setup();
        enqueue(&queue, &clock, "clarife", "stuck", "{}").await;
        enqueue(&queue, &clock, "clarife", "quick", "{}").await;
        let started = Arc::new(tokio::sync::Notify::new());
        let notify = started.clone();
        let pool = WorkerPool::builder(queue.clone(), move |d: Delivery| {
            let notify = notify.clone();
            async move {
                if d.delivery_id == "stuck" {
                    notify.notify_one();
                    std::future::pending::<()>().await;
                }
                Ok(())
            }
        })
        .clock(clock.clone())
        .build();
        let report = pool
            .run(
                async move { started.notified().await },
                Duration::from_millis(50),
            )
            .await;
        assert_eq!(report.released, 1);
        assert_eq!(report.handled, 1);
        let again = queue
            .lease(LeaseRequest::new(10, Duration::from_secs(30)))
            .await
            .unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].delivery.delivery_id, "stuck");
        assert_eq!(
            again[0].delivery.attempt, 1,
            "a released attempt does not count"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn run_recovers_expired_leases_and_handles_new_deliveries() {
        let (clock, queue) = setup();
        enqueue(&queue, &clock, "clarife", "crashed", "{}").await;
        // A worker that died holding a lease.
        let _lost = queue
            .lease(LeaseRequest::new(1, Duration::from_secs(30)))
            .await
            .unwrap();
        clock.advance(Duration::from_secs(31));
        let handled = Arc::new(AtomicUsize::new(0));
        let done = Arc::new(tokio::sync::Notify::new());
        let (count, notify) = (handled.clone(), done.clone());
        let pool = WorkerPool::builder(queue.clone(), move |_d: Delivery| {
            let (count, notify) = (count.clone(), notify.clone());
            async move {
                if count.fetch_add(1, Ordering::SeqCst) + 1 == 2 {
                    notify.notify_one();
                }
                Ok(())
            }
        })
        .poll_interval(Duration::from_millis(5))
        .clock(clock.clone())
        .build();
        let producer = {
            let (queue, clock) = (queue.clone(), clock.clone());
            async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                enqueue(&queue, &clock, "clarife", "later", "{}").await;
            }
        };
        let (report, ()) = tokio::join!(
            pool.run(async move { done.notified().await }, Duration::from_secs(1)),
            producer
        );
        assert_eq!(report.handled, 2);
        assert_eq!(stats(&queue).await.depth(), 0);
    }

    #[tokio::test]
    async fn router_handler_parses_and_dispatches_by_source() {
        let (clock, queue) = setup();
        let body = r#"{"event_name": "claim.created", "source": "ui", "claim": {"id": 1}}"#;
        enqueue(&queue, &clock, "claims-prod", "d-1", body).await;
        enqueue(&queue, &clock, "claims-prod", "d-2", "not json").await;
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let router = Router::new().on("claim.*", move |event: AnyEvent, info: DeliveryInfo| {
            let log = log.clone();
            async move {
                log.lock().unwrap().push((
                    event.event_name().to_string(),
                    info.delivery_id,
                    info.attempt,
                ));
                Ok::<_, HandlerError>(())
            }
        });
        let handler = RouterHandler::new(router).source("claims-prod", Sender::Claimable);
        let pool = WorkerPool::builder(queue.clone(), handler)
            .clock(clock.clone())
            .build();
        let report = pool.process_ready().await.unwrap();
        assert_eq!((report.handled, report.dead_lettered), (1, 1));
        assert_eq!(
            *seen.lock().unwrap(),
            [("claim.created".to_owned(), "d-1".to_owned(), 1)]
        );
        let dead = queue.list_dead(10).await.unwrap();
        assert_eq!(
            dead[0].delivery.delivery_id, "d-2",
            "unparseable bodies are given up"
        );
    }

    /// A queue in front of a [`MemoryQueue`] that watches what workers do
    /// with their leases: how many each source has outstanding (and the most
    /// it ever had), and when each lease runs out. Leasing can be slowed down
    /// (after the lease is taken, like a back-end whose reply is on its way).
    #[derive(Debug)]
    struct Watched {
        queue: Arc<MemoryQueue>,
        /// Outstanding leases: source and expiry.
        held: Mutex<HashMap<LeaseId, (String, std::time::SystemTime)>>,
        /// Each delivery id's current lease expiry.
        expiry: Mutex<HashMap<String, std::time::SystemTime>>,
        peak: Mutex<HashMap<String, usize>>,
        lease_delay: Duration,
        leased: tokio::sync::Notify,
    }

    impl Watched {
        fn new(queue: Arc<MemoryQueue>) -> Self {
            Self {
                queue,
                held: Mutex::new(HashMap::new()),
                expiry: Mutex::new(HashMap::new()),
                peak: Mutex::new(HashMap::new()),
                lease_delay: Duration::ZERO,
                leased: tokio::sync::Notify::new(),
            }
        }

        fn peak(&self, source: &str) -> usize {
            self.peak.lock().unwrap().get(source).copied().unwrap_or(0)
        }

        fn expires_at(&self, delivery_id: &str) -> std::time::SystemTime {
            self.expiry.lock().unwrap()[delivery_id]
        }

        fn forget(&self, lease: &LeaseId) {
            self.held.lock().unwrap().remove(lease);
        }
    }

    impl Enqueue for Watched {
        fn enqueue(
            &self,
            delivery: NewDelivery,
        ) -> BoxFuture<'_, Result<crate::EnqueueOutcome, QueueError>> {
            self.queue.enqueue(delivery)
        }
    }

    impl Queue for Watched {
        fn lease(&self, request: LeaseRequest) -> BoxFuture<'_, Result<Vec<Leased>, QueueError>> {
            let taken = self.queue.lease(request);
            Box::pin(async move {
                let leased = taken.await?;
                {
                    let mut held = self.held.lock().unwrap();
                    for l in &leased {
                        let source = l.delivery.source.clone();
                        held.insert(l.lease.clone(), (source.clone(), l.expires_at));
                        self.expiry
                            .lock()
                            .unwrap()
                            .insert(l.delivery.delivery_id.clone(), l.expires_at);
                        let now = held.values().filter(|(s, _)| *s == source).count();
                        let mut peak = self.peak.lock().unwrap();
                        let peak = peak.entry(source).or_insert(0);
                        *peak = (*peak).max(now);
                    }
                }
                if !leased.is_empty() {
                    self.leased.notify_one();
                }
                tokio::time::sleep(self.lease_delay).await;
                Ok(leased)
            })
        }

        fn ack(&self, lease: LeaseId) -> BoxFuture<'_, Result<(), QueueError>> {
            self.forget(&lease);
            self.queue.ack(lease)
        }

        fn retry_at(
            &self,
            lease: LeaseId,
            at: std::time::SystemTime,
            error: String,
        ) -> BoxFuture<'_, Result<(), QueueError>> {
            self.forget(&lease);
            self.queue.retry_at(lease, at, error)
        }

        fn dead_letter(
            &self,
            lease: LeaseId,
            error: String,
        ) -> BoxFuture<'_, Result<(), QueueError>> {
            self.forget(&lease);
            self.queue.dead_letter(lease, error)
        }

        fn release(&self, lease: LeaseId) -> BoxFuture<'_, Result<(), QueueError>> {
            self.forget(&lease);
            self.queue.release(lease)
        }

        fn recover(&self) -> BoxFuture<'_, Result<u64, QueueError>> {
            self.queue.recover()
        }

        fn list_dead(
            &self,
            limit: usize,
        ) -> BoxFuture<'_, Result<Vec<crate::DeadLetter>, QueueError>> {
            self.queue.list_dead(limit)
        }

        fn replay(&self, selection: crate::Replay) -> BoxFuture<'_, Result<u64, QueueError>> {
            self.queue.replay(selection)
        }

        fn stats(&self) -> BoxFuture<'_, Result<Stats, QueueError>> {
            self.queue.stats()
        }
    }

    /// 20 deliveries of a source limited to 1 wait ahead of 5 of another
    /// source; each slow one takes 20 s of a 30 s lease. Holding surplus
    /// slow leases would let them run out while they wait for the one
    /// running (another worker could then take and handle them too), and
    /// when `slow_waits_for_fast`, would block the fast ones for good
    /// (caught by the guard).
    async fn limited_source_scenario(
        slow_waits_for_fast: bool,
        drive: fn(WorkerPool, Arc<tokio::sync::Notify>) -> BoxFuture<'static, WorkerReport>,
    ) {
        let (clock, memory) = setup();
        for i in 0..20 {
            enqueue(&memory, &clock, "slow", &format!("s{i}"), "{}").await;
        }
        for i in 0..5 {
            enqueue(&memory, &clock, "fast", &format!("f{i}"), "{}").await;
        }
        let queue = Arc::new(Watched::new(memory.clone()));
        let handled = Arc::new(Mutex::new(HashMap::<String, usize>::new()));
        let late = Arc::new(Mutex::new(Vec::new()));
        let (fast_done, fast_rx) = tokio::sync::watch::channel(0usize);
        let fast_done = Arc::new(fast_done);
        let all_done = Arc::new(tokio::sync::Notify::new());
        let handler = {
            let (queue, clock, handled, late, all_done) = (
                queue.clone(),
                clock.clone(),
                handled.clone(),
                late.clone(),
                all_done.clone(),
            );
            move |d: Delivery| {
                let (queue, clock, handled, late, all_done, fast_done) = (
                    queue.clone(),
                    clock.clone(),
                    handled.clone(),
                    late.clone(),
                    all_done.clone(),
                    fast_done.clone(),
                );
                let mut fast_rx = fast_rx.clone();
                async move {
                    if clock.now() >= queue.expires_at(&d.delivery_id) {
                        late.lock().unwrap().push(d.delivery_id.clone());
                    }
                    if d.source == "slow" {
                        if slow_waits_for_fast {
                            fast_rx.wait_for(|&n| n == 5).await.expect("sender alive");
                        }
                        clock.advance(Duration::from_secs(20));
                    } else {
                        fast_done.send_modify(|n| *n += 1);
                    }
                    let total = {
                        let mut handled = handled.lock().unwrap();
                        *handled.entry(d.delivery_id).or_insert(0) += 1;
                        handled.values().sum::<usize>()
                    };
                    if total == 25 {
                        all_done.notify_one();
                    }
                    Ok(())
                }
            }
        };
        let pool = WorkerPool::builder(queue.clone(), handler)
            .concurrency(4)
            .source_concurrency("slow", 1)
            .visibility_timeout(Duration::from_secs(30))
            .poll_interval(Duration::from_millis(5))
            .clock(clock.clone())
            .build();
        let report = tokio::time::timeout(Duration::from_secs(3600), drive(pool, all_done))
            .await
            .expect("the slow source's leases starved the fast one");
        assert_eq!(report.handled, 25);
        let handled = handled.lock().unwrap().clone();
        assert_eq!(handled.len(), 25);
        assert!(
            handled.values().all(|&n| n == 1),
            "handled twice: {handled:?}"
        );
        assert_eq!(
            *late.lock().unwrap(),
            Vec::<String>::new(),
            "handlers that started after their lease ran out"
        );
        assert_eq!(
            queue.peak("slow"),
            1,
            "never more slow leases than it may run"
        );
        if slow_waits_for_fast {
            assert!(queue.peak("fast") >= 3, "fast used the other slots");
        }
        assert_eq!(stats(&memory).await.depth(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn run_holds_no_surplus_lease_of_a_limited_source() {
        for slow_waits_for_fast in [true, false] {
            limited_source_scenario(slow_waits_for_fast, |pool, done| {
                Box::pin(async move {
                    pool.run(async move { done.notified().await }, Duration::from_secs(1))
                        .await
                })
            })
            .await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn process_ready_holds_no_surplus_lease_of_a_limited_source() {
        for slow_waits_for_fast in [true, false] {
            limited_source_scenario(slow_waits_for_fast, |pool, _done| {
                Box::pin(async move { pool.process_ready().await.expect("process") })
            })
            .await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_during_a_lease_call_releases_what_it_returned() {
        let (clock, memory) = setup();
        enqueue(&memory, &clock, "clarife", "evt-1", "{}").await;
        let mut watched = Watched::new(memory.clone());
        // The lease is taken at once; its answer arrives a second later.
        watched.lease_delay = Duration::from_secs(1);
        let queue = Arc::new(watched);
        let pool = WorkerPool::builder(queue.clone(), |_d: Delivery| async {
            panic!("nothing is handled after shutdown")
        })
        .clock(clock.clone())
        .build();
        let leased = queue.clone();
        let report = tokio::time::timeout(
            Duration::from_secs(3600),
            pool.run(
                async move { leased.leased.notified().await },
                Duration::from_secs(1),
            ),
        )
        .await
        .expect("run returned");
        assert_eq!(report.released, 1, "the lease in flight was handed back");
        assert_eq!(report.handled + report.retried, 0);
        let stats = stats(&memory).await;
        assert_eq!((stats.ready, stats.leased), (1, 0), "no lease stranded");
        let again = memory
            .lease(LeaseRequest::new(10, Duration::from_secs(30)))
            .await
            .unwrap();
        assert_eq!(again[0].delivery.attempt, 1, "the release did not count");
    }

    #[tokio::test]
    async fn a_huge_retry_delay_schedules_far_ahead_instead_of_panicking() {
        let (clock, queue) = setup();
        enqueue(&queue, &clock, "clarife", "evt-1", "{}").await;
        let pool = WorkerPool::builder(queue.clone(), |_d: Delivery| async {
            Err(HandlerError::retry_after(Duration::MAX, "come back never"))
        })
        .retry(RetryPolicy::new(RetrySchedule::clarife()))
        .clock(clock.clone())
        .build();
        assert_eq!(pool.process_ready().await.unwrap().retried, 1);
        assert_eq!(stats(&queue).await.scheduled, 1);
    }
}
