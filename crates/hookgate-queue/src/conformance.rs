//! The behaviour every [`Queue`] back-end must show, written once.
//!
//! Back-ends run it from their own tests:
//!
//! ```
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
//! use std::sync::Arc;
//! use hookgate_queue::{MemoryQueue, Enqueue, Queue, conformance};
//!
//! conformance::run_all(|clock| async move {
//!     Arc::new(MemoryQueue::new().with_clock(clock)) as Arc<dyn Queue>
//! })
//! .await;
//! # });
//! ```
//!
//! The factory is called once per case and must return an **empty** queue
//! with the default 24 h deduplication window and room for a few hundred
//! deliveries. Back-ends that read the time through a [`Clock`]
//! use [`run_all`] and the [`ManualClock`] they are given: the suite then
//! never sleeps. Back-ends whose server keeps the time (Redis, NATS) use
//! [`run_all_real_time`], which waits real seconds where the suite needs time
//! to pass and skips the cases that would need hours; a back-end whose server
//! redelivers expired leases by itself (so that [`Queue::recover`] has
//! nothing to do) says so with [`run_all_real_time_with`] and
//! [`Recovery::ByServer`].
//!
//! A failing case panics with its name. Every case needs a multi-threaded
//! tokio runtime (`#[tokio::test(flavor = "multi_thread")]`).

use std::collections::HashSet;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::{
    BoxFuture, Clock, DeliveryKey, Enqueue, EnqueueOutcome, LeaseRequest, Leased, ManualClock,
    NewDelivery, Queue, QueueErrorKind, Replay,
};

/// The visibility timeout the suite leases with.
const VISIBILITY: Duration = Duration::from_secs(2);
/// A delay long enough for any lease the suite took to expire.
const PAST_VISIBILITY: Duration = Duration::from_secs(3);

/// How a case moves time forward.
#[derive(Debug)]
enum Time {
    Manual(ManualClock),
    Real,
}

/// What a back-end's [`Queue::recover`] does, as the back-end documents it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Recovery {
    /// `recover` makes every expired lease due again and returns how many;
    /// a lease that has not expired is never touched (the built-in
    /// back-ends, Redis).
    #[default]
    Expired,
    /// The server redelivers expired leases by itself, so `recover` has
    /// nothing to do and returns 0 (NATS JetStream). The suite still checks
    /// that the expired lease, and only it, is due again.
    ByServer,
}

/// What each case gets: a fresh queue and a way to make time pass.
#[derive(Debug)]
struct Harness {
    queue: Arc<dyn Queue>,
    time: Time,
    recovery: Recovery,
}

impl Harness {
    /// Now, in whole seconds (back-ends may store coarse timestamps).
    fn now(&self) -> SystemTime {
        let now = match &self.time {
            Time::Manual(clock) => clock.now(),
            Time::Real => SystemTime::now(),
        };
        let secs = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    async fn advance(&self, by: Duration) {
        match &self.time {
            Time::Manual(clock) => clock.advance(by),
            Time::Real => tokio::time::sleep(by).await,
        }
    }

    fn is_manual(&self) -> bool {
        matches!(self.time, Time::Manual(_))
    }

    fn delivery(&self, source: &str, id: &str) -> NewDelivery {
        NewDelivery::new(source, id, self.now(), Bytes::from(format!("body of {id}")))
    }

    async fn enqueue(&self, delivery: NewDelivery) -> EnqueueOutcome {
        self.queue.enqueue(delivery).await.expect("enqueue")
    }

    async fn lease(&self, max: usize) -> Vec<Leased> {
        self.queue
            .lease(LeaseRequest::new(max, VISIBILITY))
            .await
            .expect("lease")
    }
}

type Case = for<'a> fn(&'a Harness) -> BoxFuture<'a, ()>;

/// Every case, by name.
const CASES: &[(&str, Case)] = &[
    ("round_trip_keeps_every_byte", round_trip_keeps_every_byte),
    ("duplicates_are_refused", duplicates_are_refused),
    (
        "invalid_deliveries_are_refused",
        invalid_deliveries_are_refused,
    ),
    ("leases_are_exclusive", leases_are_exclusive),
    ("ack_forgets_the_delivery", ack_forgets_the_delivery),
    (
        "stale_lease_cannot_touch_the_new_one",
        stale_lease_cannot_touch_the_new_one,
    ),
    (
        "extension_keeps_the_lease_and_a_stale_one_is_lost",
        extension_keeps_the_lease_and_a_stale_one_is_lost,
    ),
    ("retry_waits_until_its_time", retry_waits_until_its_time),
    (
        "dead_letters_are_listed_and_replayed",
        dead_letters_are_listed_and_replayed,
    ),
    (
        "replay_all_and_by_received_window",
        replay_all_and_by_received_window,
    ),
    (
        "release_does_not_count_an_attempt",
        release_does_not_count_an_attempt,
    ),
    ("stats_count_every_state", stats_count_every_state),
    (
        "skipped_sources_are_not_leased",
        skipped_sources_are_not_leased,
    ),
    (
        "coalescing_keeps_the_newest_waiting",
        coalescing_keeps_the_newest_waiting,
    ),
    (
        "recover_frees_expired_leases_only",
        recover_frees_expired_leases_only,
    ),
    ("huge_durations_mean_for_ever", huge_durations_mean_for_ever),
    ("dedup_window_expires", dedup_window_expires),
    (
        "concurrent_enqueues_are_all_kept_once",
        concurrent_enqueues_are_all_kept_once,
    ),
    (
        "wakeups_follow_enqueues_and_releases",
        wakeups_follow_enqueues_and_releases,
    ),
];

/// The names of all cases, in the order they run.
pub fn case_names() -> impl Iterator<Item = &'static str> {
    CASES.iter().map(|(name, _)| *name)
}

/// Runs every case against fresh queues from `make`, which must read time
/// from the [`ManualClock`] it is given.
pub async fn run_all<F, Fut>(mut make: F)
where
    F: FnMut(ManualClock) -> Fut,
    Fut: Future<Output = Arc<dyn Queue>>,
{
    for (name, case) in CASES {
        let clock = ManualClock::default();
        let harness = Harness {
            queue: make(clock.clone()).await,
            time: Time::Manual(clock),
            recovery: Recovery::Expired,
        };
        run_case(name, *case, &harness).await;
    }
}

/// Runs every case against fresh queues from `make`, letting real time pass
/// where needed (a few seconds per case) and skipping cases that need hours.
/// `recover` must free expired leases ([`Recovery::Expired`]).
pub async fn run_all_real_time<F, Fut>(make: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Arc<dyn Queue>>,
{
    run_all_real_time_with(Recovery::Expired, make).await;
}

/// [`run_all_real_time`] for a back-end whose `recover` behaves as `recovery`
/// says (e.g. [`Recovery::ByServer`] when the server redelivers by itself).
pub async fn run_all_real_time_with<F, Fut>(recovery: Recovery, mut make: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Arc<dyn Queue>>,
{
    for (name, case) in CASES {
        let harness = Harness {
            queue: make().await,
            time: Time::Real,
            recovery,
        };
        run_case(name, *case, &harness).await;
    }
}

async fn run_case(name: &str, case: Case, harness: &Harness) {
    if let Err(panic) = (CatchUnwind(case(harness))).await {
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default();
        panic!("conformance case `{name}` failed: {message}");
    }
}

/// Catches a panic from a case, so the report names the case
/// (std has no `catch_unwind` for futures).
struct CatchUnwind<'a>(BoxFuture<'a, ()>);

impl Future for CatchUnwind<'_> {
    type Output = Result<(), Box<dyn std::any::Any + Send>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let future = &mut self.0;
        match std::panic::catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
            Ok(Poll::Ready(())) => Poll::Ready(Ok(())),
            Ok(Poll::Pending) => Poll::Pending,
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}

fn round_trip_keeps_every_byte(h: &Harness) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        headers.append("x-multi", HeaderValue::from_static("one"));
        headers.append("x-multi", HeaderValue::from_static("two"));
        headers.insert(
            HeaderName::from_static("x-binary"),
            HeaderValue::from_bytes(&[0x80, 0xff, b'a', b' ', 0xfe]).expect("opaque bytes"),
        );
        let body: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
        let new = NewDelivery::new("clarife", "evt-1", h.now(), body.clone()).with_headers(headers);
        assert_eq!(h.enqueue(new.clone()).await, EnqueueOutcome::Enqueued);

        let leased = h.lease(10).await;
        assert_eq!(leased.len(), 1, "one delivery leased");
        let got = &leased[0].delivery;
        assert_eq!(got.source, "clarife");
        assert_eq!(got.delivery_id, "evt-1");
        assert_eq!(got.received_at, new.received_at);
        assert_eq!(got.body, Bytes::from(body));
        assert_eq!(got.headers, new.headers);
        assert_eq!(
            got.headers.get_all("x-multi").iter().collect::<Vec<_>>(),
            ["one", "two"],
            "repeated headers keep their order"
        );
        assert_eq!(got.attempt, 1);
        assert_eq!(got.last_error, None);
        assert_eq!(got.coalesce_key, None);
        assert!(leased[0].expires_at > h.now());
    })
}

fn duplicates_are_refused(h: &Harness) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let first = h.delivery("clarife", "evt-1");
        assert_eq!(h.enqueue(first.clone()).await, EnqueueOutcome::Enqueued);
        assert_eq!(h.enqueue(first.clone()).await, EnqueueOutcome::Duplicate);
        assert_eq!(
            h.enqueue(h.delivery("claravine", "evt-1")).await,
            EnqueueOutcome::Enqueued,
            "the same id from another source is another delivery"
        );

        let leased = h.lease(10).await;
        assert_eq!(leased.len(), 2, "the duplicate was not stored");
        for lease in leased {
            if lease.delivery.source == "clarife" {
                h.queue.ack(lease.lease).await.expect("ack");
            } else {
                h.queue
                    .dead_letter(lease.lease, "bad".to_owned())
                    .await
                    .expect("dead letter");
            }
        }
        assert_eq!(
            h.enqueue(first).await,
            EnqueueOutcome::Duplicate,
            "still a duplicate after ack"
        );
        assert_eq!(
            h.enqueue(h.delivery("claravine", "evt-1")).await,
            EnqueueOutcome::Duplicate,
            "still a duplicate after dead-lettering"
        );
        assert!(h.lease(10).await.is_empty());
    })
}

fn invalid_deliveries_are_refused(h: &Harness) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        for bad in [h.delivery("", "evt-1"), h.delivery("clarife", "")] {
            let err = h.queue.enqueue(bad).await.expect_err("refused");
            assert_eq!(err.kind(), QueueErrorKind::Invalid);
        }
    })
}

fn leases_are_exclusive(h: &Harness) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        for id in ["a", "b", "c"] {
            h.enqueue(h.delivery("clarife", id)).await;
        }
        let first = h.lease(2).await;
        assert_eq!(first.len(), 2, "lease honours max");
        let second = h.lease(10).await;
        assert_eq!(second.len(), 1, "leased deliveries are hidden");
        assert!(h.lease(10).await.is_empty());
        let ids: HashSet<String> = first
            .iter()
            .chain(&second)
            .map(|l| l.delivery.delivery_id.clone())
            .collect();
        assert_eq!(ids.len(), 3, "no delivery leased twice");
        assert!(
            h.queue
                .lease(LeaseRequest::new(0, VISIBILITY))
                .await
                .expect("lease")
                .is_empty()
        );
    })
}

fn ack_forgets_the_delivery(h: &Harness) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        h.enqueue(h.delivery("clarife", "a")).await;
        let leased = h.lease(1).await.pop().expect("leased");
        h.queue.ack(leased.lease.clone()).await.expect("ack");
        let stats = h.queue.stats().await.expect("stats");
        assert_eq!(stats.depth(), 0);
        assert_eq!(stats.dead, 0);
        let again = h.queue.ack(leased.lease).await.expect_err("second ack");
        assert_eq!(again.kind(), QueueErrorKind::LeaseLost);
        h.advance(PAST_VISIBILITY).await;
        assert!(
            h.lease(10).await.is_empty(),
            "an acked delivery never returns"
        );
    })
}

fn stale_lease_cannot_touch_the_new_one(h: &Harness) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        h.enqueue(h.delivery("clarife", "a")).await;
        let old = h.lease(1).await.pop().expect("leased");
        assert_eq!(old.delivery.attempt, 1);
        h.advance(PAST_VISIBILITY).await;
        let new = h.lease(1).await.pop().expect("expired lease is due again");
        assert_eq!(
            new.delivery.attempt, 2,
            "the expired lease counted as an attempt"
        );
        assert_ne!(old.lease, new.lease);

        for result in [
            h.queue.ack(old.lease.clone()).await,
            h.queue
                .retry_at(old.lease.clone(), h.now(), "late".to_owned())
                .await,
            h.queue
                .dead_letter(old.lease.clone(), "late".to_owned())
                .await,
            h.queue.release(old.lease.clone()).await,
        ] {
            assert_eq!(
                result.expect_err("stale lease").kind(),
                QueueErrorKind::LeaseLost
            );
        }
        assert_eq!(h.queue.stats().await.expect("stats").leased, 1);
        h.queue
            .ack(new.lease)
            .await
            .expect("the new lease still holds");
        assert_eq!(h.queue.stats().await.expect("stats").depth(), 0);
    })
}

fn extension_keeps_the_lease_and_a_stale_one_is_lost(h: &Harness) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        assert!(
            h.queue
                .extend(Vec::new(), VISIBILITY)
                .await
                .expect("extend nothing")
                .is_empty()
        );
        h.enqueue(h.delivery("clarife", "a")).await;
        let old = h.lease(1).await.pop().expect("leased");
        // Halfway through the lease, the worker says it is still at work.
        h.advance(VISIBILITY / 2).await;
        let extended = h
            .queue
            .extend(vec![old.lease.clone()], VISIBILITY)
            .await
            .expect("extend");
        assert_eq!(extended.len(), 1);
        let until = extended[0].as_ref().expect("a held lease is extended");
        assert!(*until > old.expires_at, "the lease runs longer than before");
        // Past the first expiry, within the extension: still held.
        h.advance(VISIBILITY * 3 / 4).await;
        assert!(
            h.lease(10).await.is_empty(),
            "an extended lease is not leased again before its new expiry"
        );
        assert_eq!(h.queue.stats().await.expect("stats").leased, 1);

        // The worker stalls past the extension; another one takes over.
        h.advance(PAST_VISIBILITY).await;
        let new = h.lease(1).await.pop().expect("due again once expired");
        assert_eq!(new.delivery.attempt, 2);
        let both = h
            .queue
            .extend(vec![old.lease.clone(), new.lease.clone()], VISIBILITY)
            .await
            .expect("extend");
        assert_eq!(both.len(), 2, "one result per lease, in order");
        assert_eq!(
            both[0].as_ref().expect_err("the stale lease").kind(),
            QueueErrorKind::LeaseLost
        );
        assert!(both[1].is_ok(), "the new lease is extended: {:?}", both[1]);
        assert_eq!(
            h.queue
                .ack(old.lease.clone())
                .await
                .expect_err("still stale")
                .kind(),
            QueueErrorKind::LeaseLost
        );
        h.queue.ack(new.lease.clone()).await.expect("ack");
        let after_ack = h
            .queue
            .extend(vec![new.lease], VISIBILITY)
            .await
            .expect("extend");
        assert_eq!(
            after_ack[0].as_ref().expect_err("acknowledged").kind(),
            QueueErrorKind::LeaseLost
        );
        assert_eq!(h.queue.stats().await.expect("stats").depth(), 0);
    })
}

fn retry_waits_until_its_time(h: &Harness) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        h.enqueue(h.delivery("clarife", "a")).await;
        let leased = h.lease(1).await.pop().expect("leased");
        let at = h.now() + PAST_VISIBILITY;
        h.queue
            .retry_at(leased.lease.clone(), at, "connection refused".to_owned())
            .await
            .expect("retry");
        assert!(h.lease(1).await.is_empty(), "not due yet");
        let stats = h.queue.stats().await.expect("stats");
        assert_eq!((stats.ready, stats.scheduled, stats.leased), (0, 1, 0));
        assert_eq!(
            h.queue.ack(leased.lease).await.expect_err("retried").kind(),
            QueueErrorKind::LeaseLost
        );

        h.advance(PAST_VISIBILITY + Duration::from_secs(1)).await;
        let again = h.lease(1).await.pop().expect("due now");
        assert_eq!(again.delivery.attempt, 2);
        assert_eq!(
            again.delivery.last_error.as_deref(),
            Some("connection refused")
        );
        h.queue.ack(again.lease).await.expect("ack");
    })
}

fn dead_letters_are_listed_and_replayed(h: &Harness) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        h.enqueue(h.delivery("clarife", "a")).await;
        h.enqueue(h.delivery("clarife", "b")).await;
        for leased in h.lease(10).await {
            if leased.delivery.delivery_id == "a" {
                h.queue
                    .dead_letter(leased.lease, "schema mismatch".to_owned())
                    .await
                    .expect("dead letter");
            } else {
                h.queue.ack(leased.lease).await.expect("ack");
            }
        }
        let stats = h.queue.stats().await.expect("stats");
        assert_eq!((stats.depth(), stats.dead), (0, 1));

        let dead = h.queue.list_dead(10).await.expect("list");
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].delivery.delivery_id, "a");
        assert_eq!(dead[0].delivery.attempt, 1);
        assert_eq!(dead[0].error, "schema mismatch");
        assert!(h.queue.list_dead(0).await.expect("list").is_empty());

        let missing = h
            .queue
            .replay(Replay::One(DeliveryKey::new("clarife", "b")))
            .await
            .expect_err("b is not dead");
        assert_eq!(missing.kind(), QueueErrorKind::NotFound);

        let replayed = h
            .queue
            .replay(Replay::One(DeliveryKey::new("clarife", "a")))
            .await
            .expect("replay");
        assert_eq!(replayed, 1);
        assert!(h.queue.list_dead(10).await.expect("list").is_empty());
        let again = h.lease(10).await;
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].delivery.delivery_id, "a");
        assert_eq!(again[0].delivery.attempt, 1, "replay resets the attempts");
        h.queue.ack(again[0].lease.clone()).await.expect("ack");
    })
}

fn replay_all_and_by_received_window(h: &Harness) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let t0 = h.now() - Duration::from_secs(100);
        for (i, id) in ["a", "b", "c"].into_iter().enumerate() {
            let received = t0 + Duration::from_secs(10 * i as u64);
            h.enqueue(NewDelivery::new("clarife", id, received, &b"{}"[..]))
                .await;
        }
        for leased in h.lease(10).await {
            h.queue
                .dead_letter(leased.lease, "down".to_owned())
                .await
                .expect("dead letter");
        }
        let dead = h.queue.list_dead(10).await.expect("list");
        let order: Vec<&str> = dead
            .iter()
            .map(|d| d.delivery.delivery_id.as_str())
            .collect();
        assert_eq!(order, ["a", "b", "c"], "oldest received first");

        let window = Replay::ReceivedBetween {
            from: t0 + Duration::from_secs(5),
            to: t0 + Duration::from_secs(20),
        };
        assert_eq!(h.queue.replay(window).await.expect("replay"), 1, "only b");
        let leased = h.lease(10).await;
        assert_eq!(leased.len(), 1);
        assert_eq!(leased[0].delivery.delivery_id, "b");
        assert_eq!(h.queue.replay(Replay::All).await.expect("replay"), 2);
        assert_eq!(h.queue.replay(Replay::All).await.expect("replay"), 0);
        let stats = h.queue.stats().await.expect("stats");
        assert_eq!((stats.ready, stats.leased, stats.dead), (2, 1, 0));
    })
}

fn release_does_not_count_an_attempt(h: &Harness) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        h.enqueue(h.delivery("clarife", "a")).await;
        let leased = h.lease(1).await.pop().expect("leased");
        h.queue
            .release(leased.lease.clone())
            .await
            .expect("release");
        let again = h.lease(1).await.pop().expect("due at once");
        assert_eq!(again.delivery.attempt, 1);
        assert_eq!(
            h.queue
                .release(leased.lease)
                .await
                .expect_err("released")
                .kind(),
            QueueErrorKind::LeaseLost
        );
    })
}

fn stats_count_every_state(h: &Harness) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let empty = h.queue.stats().await.expect("stats");
        assert_eq!(empty.depth() + empty.dead, 0);
        assert_eq!(empty.oldest_ready_age, None);

        for id in ["leased", "retried", "dead"] {
            h.enqueue(h.delivery("clarife", id)).await;
        }
        for leased in h.lease(10).await {
            match leased.delivery.delivery_id.as_str() {
                "retried" => h
                    .queue
                    .retry_at(
                        leased.lease,
                        h.now() + Duration::from_secs(3600),
                        "x".to_owned(),
                    )
                    .await
                    .expect("retry"),
                "dead" => h
                    .queue
                    .dead_letter(leased.lease, "x".to_owned())
                    .await
                    .expect("dead"),
                _ => {}
            }
        }
        let old = NewDelivery::new(
            "clarife",
            "ready",
            h.now() - Duration::from_secs(30),
            &b"{}"[..],
        );
        h.enqueue(old).await;
        let stats = h.queue.stats().await.expect("stats");
        assert_eq!(
            (stats.ready, stats.scheduled, stats.leased, stats.dead),
            (1, 1, 1, 1)
        );
        assert_eq!(stats.depth(), 3);
        let age = stats.oldest_ready_age.expect("one ready");
        assert!(age >= Duration::from_secs(30), "age {age:?}");
        if h.is_manual() {
            assert_eq!(age, Duration::from_secs(30));
        }
    })
}

fn skipped_sources_are_not_leased(h: &Harness) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        h.enqueue(h.delivery("busy", "a")).await;
        h.enqueue(h.delivery("idle", "b")).await;
        let leased = h
            .queue
            .lease(LeaseRequest::new(10, VISIBILITY).skip_sources(["busy"]))
            .await
            .expect("lease");
        assert_eq!(leased.len(), 1);
        assert_eq!(leased[0].delivery.source, "idle");
        assert_eq!(h.lease(10).await.len(), 1, "the skipped one is still ready");
    })
}

fn coalescing_keeps_the_newest_waiting(h: &Harness) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let t = h.now();
        let version = |id: &str, secs: u64| {
            NewDelivery::new(
                "claravine",
                id,
                t + Duration::from_secs(secs),
                id.to_owned(),
            )
            .with_coalesce_key("list-7")
        };
        assert_eq!(h.enqueue(version("v1", 1)).await, EnqueueOutcome::Enqueued);
        assert_eq!(h.enqueue(version("v3", 3)).await, EnqueueOutcome::Enqueued);
        assert_eq!(
            h.enqueue(version("v2", 2)).await,
            EnqueueOutcome::Superseded,
            "an older version arriving late is not handled"
        );
        assert_eq!(h.enqueue(version("v2", 2)).await, EnqueueOutcome::Duplicate);
        h.enqueue(h.delivery("claravine", "other")).await;
        let stats = h.queue.stats().await.expect("stats");
        assert_eq!(stats.ready, 2, "v1 was replaced by v3");

        let leased = h.lease(10).await;
        let ids: HashSet<&str> = leased
            .iter()
            .map(|l| l.delivery.delivery_id.as_str())
            .collect();
        assert_eq!(ids, HashSet::from(["v3", "other"]));
        let v3 = leased
            .iter()
            .find(|l| l.delivery.delivery_id == "v3")
            .expect("v3");
        assert_eq!(v3.delivery.coalesce_key.as_deref(), Some("list-7"));

        assert_eq!(
            h.enqueue(version("v4", 4)).await,
            EnqueueOutcome::Enqueued,
            "a leased version is never replaced: the new one waits"
        );
        let stats = h.queue.stats().await.expect("stats");
        assert_eq!((stats.ready, stats.leased), (1, 2));
    })
}

fn recover_frees_expired_leases_only(h: &Harness) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        // Two sources, so that each lease can be taken on its own.
        h.enqueue(h.delivery("gone", "crashed")).await;
        let crashed = h.lease(1).await.pop().expect("leased");
        // The worker holding `crashed` dies; its lease runs out.
        h.advance(PAST_VISIBILITY).await;
        h.enqueue(h.delivery("alive", "live")).await;
        // A live worker leases `live` for an hour, leaving `crashed` alone.
        // Only `live` can match, so asking for more changes nothing, but a
        // back-end that hands skipped deliveries back one by one (JetStream's
        // `-NAK`) needs room to reach it, and maybe a second try.
        let mut live = Vec::new();
        for _ in 0..10 {
            live = h
                .queue
                .lease(LeaseRequest::new(10, Duration::from_secs(3600)).skip_sources(["gone"]))
                .await
                .expect("lease");
            if !live.is_empty() {
                break;
            }
        }
        let live = live.pop().expect("the live delivery was leased");
        assert_eq!(live.delivery.delivery_id, "live");

        match h.recovery {
            Recovery::Expired => {
                let before = h.queue.stats().await.expect("stats");
                assert_eq!(
                    (before.ready, before.leased),
                    (0, 2),
                    "an expired lease counts as leased until recovered or leased again"
                );
                let recovered = h.queue.recover().await.expect("recover");
                assert_eq!(
                    recovered, 1,
                    "the expired lease is recovered, the live one is not"
                );
                let after = h.queue.stats().await.expect("stats");
                assert_eq!(
                    (after.ready, after.leased),
                    (1, 1),
                    "the recovered delivery is ready, the live lease still held"
                );
                assert_eq!(h.queue.recover().await.expect("recover"), 0, "idempotent");
            }
            Recovery::ByServer => {
                assert_eq!(
                    h.queue.recover().await.expect("recover"),
                    0,
                    "the server redelivers expired leases: recover has nothing to do"
                );
            }
        }

        let again = h.lease(10).await;
        assert_eq!(again.len(), 1, "only the expired lease is due again");
        assert_eq!(again[0].delivery.delivery_id, "crashed");
        assert_eq!(
            again[0].delivery.attempt, 2,
            "the expired lease counted as an attempt"
        );
        assert_eq!(
            h.queue
                .ack(crashed.lease)
                .await
                .expect_err("the dead worker's lease is stale")
                .kind(),
            QueueErrorKind::LeaseLost
        );
        h.queue
            .ack(live.lease)
            .await
            .expect("the live lease was never recovered: it still holds");
        h.queue
            .ack(again[0].lease.clone())
            .await
            .expect("ack the recovered delivery");
        assert_eq!(h.queue.stats().await.expect("stats").depth(), 0);
    })
}

fn huge_durations_mean_for_ever(h: &Harness) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        h.enqueue(h.delivery("clarife", "a")).await;
        h.enqueue(h.delivery("clarife", "b")).await;
        let forever = h
            .queue
            .lease(LeaseRequest::new(1, Duration::MAX))
            .await
            .expect("a lease for ever is a long lease, not an error")
            .pop()
            .expect("leased");
        assert!(forever.expires_at > h.now());
        let other = h.lease(10).await.pop().expect("the other one");
        // What a worker asks for when a handler says "retry after Duration::MAX".
        let never = crate::clock::later(h.now(), Duration::MAX);
        h.queue
            .retry_at(other.lease, never, "come back never".to_owned())
            .await
            .expect("a retry far ahead");
        assert_eq!(
            h.enqueue(h.delivery("clarife", "c")).await,
            EnqueueOutcome::Enqueued,
            "the queue still works"
        );
        let stats = h.queue.stats().await.expect("stats");
        assert_eq!((stats.ready, stats.scheduled, stats.leased), (1, 1, 1));
        h.queue.ack(forever.lease).await.expect("ack");
    })
}

fn dedup_window_expires(h: &Harness) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        if !h.is_manual() {
            eprintln!("conformance: dedup_window_expires skipped (needs 24 h of real time)");
            return;
        }
        let first = h.delivery("clarife", "a");
        h.enqueue(first.clone()).await;
        let leased = h.lease(1).await.pop().expect("leased");
        h.queue.ack(leased.lease).await.expect("ack");
        h.advance(Duration::from_secs(23 * 3600)).await;
        assert_eq!(h.enqueue(first.clone()).await, EnqueueOutcome::Duplicate);
        h.advance(Duration::from_secs(2 * 3600)).await;
        assert_eq!(
            h.enqueue(first).await,
            EnqueueOutcome::Enqueued,
            "after 24 h the key is forgotten"
        );
    })
}

fn concurrent_enqueues_are_all_kept_once(h: &Harness) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..200 {
            for _copy in 0..2 {
                let queue = Arc::clone(&h.queue);
                let delivery = h.delivery("clarife", &format!("evt-{i}"));
                tasks.spawn(async move { queue.enqueue(delivery).await.expect("enqueue") });
            }
        }
        let (mut enqueued, mut duplicates) = (0, 0);
        while let Some(outcome) = tasks.join_next().await {
            match outcome.expect("task") {
                EnqueueOutcome::Enqueued => enqueued += 1,
                EnqueueOutcome::Duplicate => duplicates += 1,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!((enqueued, duplicates), (200, 200));
        let mut seen = HashSet::new();
        loop {
            let batch = h.lease(64).await;
            if batch.is_empty() {
                break;
            }
            for leased in batch {
                assert!(seen.insert(leased.delivery.delivery_id.clone()));
                h.queue.ack(leased.lease).await.expect("ack");
            }
        }
        assert_eq!(seen.len(), 200);
    })
}

/// A back-end that offers wake-ups wakes a subscriber after an enqueue and
/// after a release (a spurious wake-up is allowed; a missing one is not).
fn wakeups_follow_enqueues_and_releases(h: &Harness) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let Some(mut wakeups) = h.queue.wakeups() else {
            return;
        };
        // Long enough for any server round trip; reached only when broken.
        let patience = Duration::from_secs(30);
        h.enqueue(h.delivery("src", "w-1")).await;
        tokio::time::timeout(patience, wakeups.ready())
            .await
            .expect("no wake-up after an enqueue");
        let leased = h.lease(1).await;
        assert_eq!(leased.len(), 1);
        // Subscribed after the enqueue: only the release can wake this one.
        let mut later = h.queue.wakeups().expect("offered once, offered always");
        h.queue
            .release(leased[0].lease.clone())
            .await
            .expect("release");
        tokio::time::timeout(patience, later.ready())
            .await
            .expect("no wake-up after a release");
    })
}
