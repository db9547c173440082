use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::SystemTime;

use hookgate_events::{AnyEvent, DeliveryInfo, Event, HandlerError, Router, Sender};

use super::*;
use crate::{
    BoxFuture, Enqueue, LeaseRequest, ManualClock, MemoryQueue, NewDelivery, RetrySchedule, Stats,
};

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

/// With a poll interval of an hour, a delivery enqueued into an idle pool is
/// handled at once: the queue's wake-up, not the poll, starts it. (Real
/// time: a paused clock would jump over the hour.)
#[tokio::test]
async fn an_idle_pool_wakes_on_enqueue_without_waiting_for_its_poll() {
    let queue = Arc::new(MemoryQueue::new());
    let (handled_tx, mut handled) = tokio::sync::mpsc::unbounded_channel();
    let pool = WorkerPool::builder(queue.clone(), move |d: Delivery| {
        let handled_tx = handled_tx.clone();
        async move {
            handled_tx.send(d.delivery_id).expect("test alive");
            Ok(())
        }
    })
    .poll_interval(Duration::from_secs(3600))
    .build();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(async move {
        pool.run(
            async move {
                let _ = stopped.await;
            },
            Duration::from_secs(1),
        )
        .await
    });
    // A guard against hanging for an hour, not a timing assertion.
    let patience = Duration::from_secs(60);
    for id in ["first", "second"] {
        // The pool idles between the two: it handled the first, found
        // nothing more, and waits.
        tokio::task::yield_now().await;
        queue
            .enqueue(NewDelivery::new("clarife", id, SystemTime::now(), "{}"))
            .await
            .expect("enqueue");
        let got = tokio::time::timeout(patience, handled.recv())
            .await
            .expect("handled without waiting for the poll interval");
        assert_eq!(got.as_deref(), Some(id));
    }
    stop.send(()).expect("pool running");
    assert_eq!(run.await.expect("pool").handled, 2);
}

/// Deliveries leased ahead of a free slot wait with their lease kept, and
/// are handed back untouched at shutdown.
#[tokio::test(start_paused = true)]
async fn prefetched_deliveries_are_handed_back_untouched_at_shutdown() {
    let (clock, queue) = setup();
    for i in 0..5 {
        enqueue(&queue, &clock, "clarife", &format!("evt-{i}"), "{}").await;
    }
    let started = Arc::new(tokio::sync::Notify::new());
    let notify = started.clone();
    let pool = WorkerPool::builder(queue.clone(), move |_d: Delivery| {
        let notify = notify.clone();
        async move {
            notify.notify_one();
            std::future::pending::<()>().await;
            Ok(())
        }
    })
    .concurrency(1)
    .prefetch(2)
    .clock(clock.clone())
    .build();
    let report = pool
        .run(
            async move { started.notified().await },
            Duration::from_secs(1),
        )
        .await;
    // One running (aborted at the deadline) and two prefetched.
    assert_eq!(report.released, 3);
    let stats = stats(&queue).await;
    assert_eq!((stats.ready, stats.leased), (5, 0));
    let again = queue
        .lease(LeaseRequest::new(10, Duration::from_secs(30)))
        .await
        .unwrap();
    assert!(
        again.iter().all(|l| l.delivery.attempt == 1),
        "no hand-back counted as an attempt"
    );
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

    fn extend(
        &self,
        leases: Vec<LeaseId>,
        visibility: Duration,
    ) -> BoxFuture<'_, Result<Vec<Result<std::time::SystemTime, QueueError>>, QueueError>> {
        self.queue.extend(leases, visibility)
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

    fn dead_letter(&self, lease: LeaseId, error: String) -> BoxFuture<'_, Result<(), QueueError>> {
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

    fn list_dead(&self, limit: usize) -> BoxFuture<'_, Result<Vec<crate::DeadLetter>, QueueError>> {
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

/// Sets its flag when dropped unfinished: shows that a timed-out handler's
/// future was dropped, not left running.
struct DropFlag(Option<Arc<std::sync::atomic::AtomicBool>>);

impl DropFlag {
    fn finished(mut self) {
        self.0 = None;
    }
}

impl Drop for DropFlag {
    fn drop(&mut self) {
        if let Some(flag) = &self.0 {
            flag.store(true, Ordering::SeqCst);
        }
    }
}

#[tokio::test(start_paused = true)]
async fn an_attempt_past_its_timeout_is_dropped_and_retried_as_timed_out() {
    let (clock, queue) = setup();
    enqueue(&queue, &clock, "slow", "s-1", "{}").await;
    enqueue(&queue, &clock, "quick", "q-1", "{}").await;
    let dropped = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = dropped.clone();
    let pool = WorkerPool::builder(queue.clone(), move |d: Delivery| {
        let guard = DropFlag(Some(flag.clone()));
        async move {
            if d.attempt == 1 {
                // 20 s: past the 10 s of "slow", within the hour of the others.
                tokio::time::sleep(Duration::from_secs(20)).await;
            }
            guard.finished();
            Ok(())
        }
    })
    .attempt_timeout(Duration::from_secs(3600))
    .source_attempt_timeout("slow", Duration::from_secs(10))
    .retry(RetryPolicy::new(RetrySchedule::clarife()))
    .clock(clock.clone())
    .build();

    let report = pool.process_ready().await.unwrap();
    assert_eq!((report.handled, report.retried), (1, 1), "{report:?}");
    assert!(
        dropped.load(Ordering::SeqCst),
        "the timed-out handler's future was dropped, not left running"
    );
    clock.advance(Duration::from_secs(1));
    let leased = queue
        .lease(LeaseRequest::new(10, Duration::from_secs(30)))
        .await
        .unwrap();
    assert_eq!(leased.len(), 1);
    assert_eq!(leased[0].delivery.delivery_id, "s-1");
    assert_eq!(leased[0].delivery.attempt, 2);
    assert_eq!(
        leased[0].delivery.last_error.as_deref(),
        Some("attempt timed out after 10s")
    );
    queue.release(leased[0].lease.clone()).await.unwrap();
    assert_eq!(pool.process_ready().await.unwrap().handled, 1);
    assert_eq!(stats(&queue).await.depth(), 0);
}

/// A handler running three times the visibility timeout keeps its delivery:
/// the pool extends the lease while it runs, so a rival worker asking all
/// along never gets it, and it is handled once.
#[tokio::test(start_paused = true)]
async fn a_handler_running_three_visibility_timeouts_is_handled_once() {
    let (clock, queue) = setup();
    enqueue(&queue, &clock, "clarife", "long", "{}").await;
    let visibility = Duration::from_secs(30);
    let calls = Arc::new(AtomicUsize::new(0));
    let rival_got = Arc::new(Mutex::new(Vec::new()));
    let handler = {
        let (clock, queue, calls, rival_got) = (
            clock.clone(),
            queue.clone(),
            calls.clone(),
            rival_got.clone(),
        );
        move |_d: Delivery| {
            let (clock, queue, calls, rival_got) = (
                clock.clone(),
                queue.clone(),
                calls.clone(),
                rival_got.clone(),
            );
            async move {
                calls.fetch_add(1, Ordering::SeqCst);
                // 90 s of work in 5 s steps; after each, another worker
                // tries to lease.
                for _ in 0..18 {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    clock.advance(Duration::from_secs(5));
                    let taken = queue
                        .lease(LeaseRequest::new(10, visibility))
                        .await
                        .expect("lease");
                    rival_got
                        .lock()
                        .unwrap()
                        .extend(taken.into_iter().map(|l| l.delivery.delivery_id));
                }
                Ok(())
            }
        }
    };
    let pool = WorkerPool::builder(queue.clone(), handler)
        .visibility_timeout(visibility)
        .clock(clock.clone())
        .build();
    let report = pool.process_ready().await.unwrap();
    assert_eq!(*rival_got.lock().unwrap(), Vec::<String>::new());
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!((report.handled, report.lease_lost), (1, 0));
    assert_eq!(stats(&queue).await.depth(), 0);
}

/// Without the heartbeat (an interval longer than the lease), the same rival
/// takes the delivery: the test above can fail.
#[tokio::test(start_paused = true)]
async fn without_heartbeats_a_long_handler_loses_its_lease() {
    let (clock, queue) = setup();
    enqueue(&queue, &clock, "clarife", "long", "{}").await;
    let visibility = Duration::from_secs(30);
    let (c, q) = (clock.clone(), queue.clone());
    let pool = WorkerPool::builder(queue.clone(), move |_d: Delivery| {
        let (clock, queue) = (c.clone(), q.clone());
        async move {
            tokio::time::sleep(Duration::from_secs(35)).await;
            clock.advance(Duration::from_secs(35));
            let taken = queue
                .lease(LeaseRequest::new(10, visibility))
                .await
                .expect("lease");
            assert_eq!(taken.len(), 1, "the expired lease was taken by a rival");
            Ok(())
        }
    })
    .visibility_timeout(visibility)
    .heartbeat_interval(Duration::from_secs(3600))
    .clock(clock.clone())
    .build();
    let report = pool.process_ready().await.unwrap();
    assert_eq!(report.lease_lost, 1, "{report:?}");
}

/// Keeps each event as `kind source/id attempt error`.
#[derive(Debug, Default)]
struct Told(Mutex<Vec<String>>);

impl Observer for Told {
    fn observe(&self, event: &DeliveryEvent<'_>) {
        assert!(event.latency.is_some());
        self.0.lock().unwrap().push(format!(
            "{} {}/{} {} {}",
            event.kind,
            event.source,
            event.delivery_id.unwrap_or("-"),
            event.attempt.unwrap_or_default(),
            event.error.unwrap_or("-"),
        ));
    }
}

#[tokio::test]
async fn an_observer_is_told_each_settled_attempt() {
    let (clock, queue) = setup();
    enqueue(&queue, &clock, "clarife", "ok", "{}").await;
    enqueue(&queue, &clock, "clarife", "flaky", "{}").await;
    enqueue(&queue, &clock, "clarife", "bad", "{}").await;
    let told = Arc::new(Told::default());
    let pool = WorkerPool::builder(queue.clone(), |d: Delivery| async move {
        match (d.delivery_id.as_str(), d.attempt) {
            ("flaky", 1) => Err(HandlerError::retry("db down")),
            ("bad", _) => Err(HandlerError::give_up("unknown schema")),
            _ => Ok(()),
        }
    })
    .retry(RetryPolicy::new(RetrySchedule::clarife()))
    .observer(told.clone())
    .clock(clock.clone())
    .build();
    pool.process_ready().await.unwrap();
    clock.advance(Duration::from_secs(1));
    pool.process_ready().await.unwrap();
    let mut lines = told.0.lock().unwrap().clone();
    // The first run's attempts settle in any order.
    lines[..3].sort();
    assert_eq!(
        lines,
        [
            "dead_lettered clarife/bad 1 unknown schema",
            "processed clarife/ok 1 -",
            "retry_scheduled clarife/flaky 1 db down",
            "processed clarife/flaky 2 -",
        ]
    );
}

/// The name of the thread of a pool with `own_runtime(1)`.
const OWN_THREAD: &str = "hookgate-workers";

/// On a runtime of its own, the pool handles deliveries on its own thread,
/// and shutdown is the same: the attempt running when it comes finishes
/// within the deadline, what is left is handed back, and `run` returns the
/// report. (Real time: the pool's runtime has its own clock.)
#[tokio::test]
async fn on_its_own_runtime_the_pool_runs_on_its_thread_and_drains_at_shutdown() {
    let queue = Arc::new(MemoryQueue::new());
    for id in ["quick", "slow"] {
        queue
            .enqueue(NewDelivery::new("clarife", id, SystemTime::now(), "{}"))
            .await
            .expect("enqueue");
    }
    let (started_tx, mut started) = tokio::sync::mpsc::unbounded_channel();
    let (release_tx, release) = tokio::sync::oneshot::channel::<()>();
    let release = Arc::new(Mutex::new(Some(release)));
    let pool = WorkerPool::builder(queue.clone(), move |d: Delivery| {
        let thread = std::thread::current().name().map(str::to_owned);
        started_tx
            .send((d.delivery_id.clone(), thread))
            .expect("test alive");
        let release = (d.delivery_id == "slow").then(|| {
            release
                .lock()
                .expect("release")
                .take()
                .expect("slow runs once")
        });
        async move {
            if let Some(release) = release {
                release.await.expect("released by the test");
            }
            Ok(())
        }
    })
    .own_runtime(1)
    .build();
    let (stop_tx, stop) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(async move {
        pool.run(
            async move {
                let _ = stop.await;
            },
            Duration::from_secs(3600),
        )
        .await
    });
    let patience = Duration::from_secs(60);
    let mut seen = Vec::new();
    for _ in 0..2 {
        let (id, thread) = tokio::time::timeout(patience, started.recv())
            .await
            .expect("both started")
            .expect("pool alive");
        assert_eq!(
            thread.as_deref(),
            Some(OWN_THREAD),
            "{id} ran on the pool's thread"
        );
        seen.push(id);
    }
    seen.sort();
    assert_eq!(seen, ["quick", "slow"]);
    assert_ne!(std::thread::current().name(), Some(OWN_THREAD));
    // Shut down while "slow" runs, then let it finish: it is drained, not
    // aborted (the deadline is an hour).
    stop_tx.send(()).expect("pool running");
    release_tx.send(()).expect("slow waiting");
    let report = tokio::time::timeout(patience, run)
        .await
        .expect("run returned")
        .expect("run did not panic");
    assert_eq!((report.handled, report.released), (2, 0));
    assert_eq!(stats(&queue).await.depth(), 0);
}

/// On a runtime of its own, an attempt still running at the deadline is
/// aborted and handed back, as on the caller's runtime.
#[tokio::test]
async fn on_its_own_runtime_what_outlives_the_deadline_is_handed_back() {
    let queue = Arc::new(MemoryQueue::new());
    queue
        .enqueue(NewDelivery::new(
            "clarife",
            "stuck",
            SystemTime::now(),
            "{}",
        ))
        .await
        .expect("enqueue");
    let started = Arc::new(tokio::sync::Notify::new());
    let notify = started.clone();
    let pool = WorkerPool::builder(queue.clone(), move |_d: Delivery| {
        notify.notify_one();
        std::future::pending::<Result<(), HandlerError>>()
    })
    .own_runtime(1)
    .build();
    let report = pool
        .run(
            async move { started.notified().await },
            Duration::from_millis(50),
        )
        .await;
    assert_eq!((report.handled, report.released), (0, 1));
    let again = queue
        .lease(LeaseRequest::new(10, Duration::from_secs(30)))
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(
        again[0].delivery.attempt, 1,
        "a hand-back is not an attempt"
    );
}

/// Dropping `run`'s future does not abandon a pool on a runtime of its own:
/// it shuts down on its thread and hands back what was running.
#[tokio::test]
async fn dropping_run_shuts_a_pool_on_its_own_runtime_down() {
    let queue = Arc::new(MemoryQueue::new());
    queue
        .enqueue(NewDelivery::new(
            "clarife",
            "stuck",
            SystemTime::now(),
            "{}",
        ))
        .await
        .expect("enqueue");
    let (started_tx, mut started) = tokio::sync::mpsc::unbounded_channel();
    let pool = WorkerPool::builder(queue.clone(), move |_d: Delivery| {
        started_tx.send(()).expect("test alive");
        std::future::pending::<Result<(), HandlerError>>()
    })
    .own_runtime(2)
    .build();
    let run = tokio::spawn(async move {
        pool.run(std::future::pending(), Duration::from_millis(50))
            .await
    });
    let patience = Duration::from_secs(60);
    tokio::time::timeout(patience, started.recv())
        .await
        .expect("started")
        .expect("pool alive");
    run.abort();
    assert!(run.await.unwrap_err().is_cancelled());
    // Handed back on the pool's thread, after its 50 ms deadline.
    tokio::time::timeout(patience, async {
        loop {
            let stats = stats(&queue).await;
            if (stats.ready, stats.leased) == (1, 0) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the running attempt was handed back");
}
