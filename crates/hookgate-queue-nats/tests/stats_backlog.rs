//! `stats` under a backlog: the oldest ready delivery's age is the one of the
//! first delivery not yet leased, however many are waiting and whatever the
//! stream deleted before it (superseded versions of a coalesced object).

mod common;

use std::time::{Duration, SystemTime};

use hookgate_queue::{Enqueue, LeaseRequest, NewDelivery, Queue};
use hookgate_queue_nats::NatsQueue;

/// Asserts that `age` is the age of a delivery received at `received`,
/// read between `before` and `after`.
fn assert_age_of(
    age: Option<Duration>,
    received: SystemTime,
    before: SystemTime,
    after: SystemTime,
) {
    let age = age.expect("an oldest ready age");
    let low = before.duration_since(received).expect("received before");
    let high = after.duration_since(received).expect("received before");
    // The envelope keeps microseconds.
    let slack = Duration::from_millis(1);
    assert!(
        age + slack >= low && age <= high + slack,
        "oldest ready age {age:?} is not the age of the delivery expected ({low:?} to {high:?})"
    );
}

async fn connect(url: &str, stream: &str) -> NatsQueue {
    NatsQueue::builder(url)
        .stream(stream)
        .connect()
        .await
        .expect("connect")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_oldest_ready_age_under_a_backlog_of_thousands() {
    let Some(url) = common::nats_url() else {
        return;
    };
    let stream = common::unique_stream("stats_backlog");
    let queue = connect(&url, &stream).await;
    let base = SystemTime::now() - Duration::from_secs(600);
    let received = |i: u64| base + Duration::from_millis(i);
    const BACKLOG: u64 = 3000;
    // One at a time: the stream's order is the received order.
    for i in 0..BACKLOG {
        queue
            .enqueue(NewDelivery::new(
                "src",
                format!("d{i:05}"),
                received(i),
                &b"{}"[..],
            ))
            .await
            .expect("enqueue");
    }
    // A pool holding 16 leases, not finishing them.
    let leased = queue
        .lease(LeaseRequest::new(16, Duration::from_secs(30)))
        .await
        .expect("lease");
    assert_eq!(leased.len(), 16);
    let oldest_left = received(16);
    let before = SystemTime::now();
    let stats = queue.stats().await.expect("stats");
    let after = SystemTime::now();
    assert_eq!((stats.ready, stats.leased), (BACKLOG - 16, 16));
    assert_age_of(stats.oldest_ready_age, oldest_left, before, after);
    common::delete_queue(&url, &stream).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_oldest_ready_age_past_superseded_versions() {
    let Some(url) = common::nats_url() else {
        return;
    };
    let stream = common::unique_stream("stats_superseded");
    let queue = connect(&url, &stream).await;
    let base = SystemTime::now() - Duration::from_secs(600);
    let received = |i: u64| base + Duration::from_millis(i);
    // 200 versions of one object: each deletes the one before it from the
    // stream, leaving 199 deleted sequences ahead of the one that waits.
    for i in 0..200 {
        let mut version = NewDelivery::new("src", format!("v{i:03}"), received(i), &b"{}"[..]);
        version.coalesce_key = Some("object".to_owned());
        queue.enqueue(version).await.expect("enqueue");
    }
    queue
        .enqueue(NewDelivery::new("src", "plain", received(500), &b"{}"[..]))
        .await
        .expect("enqueue");
    let before = SystemTime::now();
    let stats = queue.stats().await.expect("stats");
    let after = SystemTime::now();
    assert_eq!((stats.ready, stats.leased), (2, 0));
    assert_age_of(stats.oldest_ready_age, received(199), before, after);
    common::delete_queue(&url, &stream).await;
}

/// Workers handling deliveries while `stats` is read: every answer names
/// the age of a delivery still waiting. (Reading a fixed window of
/// sequences past the consumer's position, one request each, found none
/// of them left once the workers had moved past it: no age at all, and a
/// `max_backlog_age` that never refused.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_oldest_ready_age_while_workers_drain() {
    let Some(url) = common::nats_url() else {
        return;
    };
    let stream = common::unique_stream("stats_drain");
    let queue = connect(&url, &stream).await;
    let base = SystemTime::now() - Duration::from_secs(600);
    const BACKLOG: u64 = 4000;
    const HANDLED: u64 = 2000;
    for i in 0..BACKLOG {
        queue
            .enqueue(NewDelivery::new(
                "src",
                format!("d{i:05}"),
                base + Duration::from_millis(i),
                &b"{}"[..],
            ))
            .await
            .expect("enqueue");
    }
    let worker = {
        let queue = queue.clone();
        tokio::spawn(async move {
            let mut handled = 0;
            while handled < HANDLED {
                let leased = queue
                    .lease(LeaseRequest::new(16, Duration::from_secs(30)))
                    .await
                    .expect("lease");
                for leased in leased {
                    queue.ack(leased.lease).await.expect("ack");
                    handled += 1;
                }
            }
        })
    };
    loop {
        let before = SystemTime::now();
        let stats = queue.stats().await.expect("stats");
        let age = stats.oldest_ready_age.expect("an age while thousands wait");
        // Received between the first and the last of the backlog.
        let newest = before
            .duration_since(base + Duration::from_millis(BACKLOG))
            .expect("past");
        assert!(
            age >= newest,
            "age {age:?} younger than any waiting delivery"
        );
        if worker.is_finished() {
            break;
        }
    }
    worker.await.expect("worker");
    common::delete_queue(&url, &stream).await;
}

/// A retried delivery, handled at last, leaves nothing in the state bucket
/// (a purge marker per key would make every later `stats` read one more
/// message for each delivery ever retried).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handled_retry_leaves_nothing_in_the_state_bucket() {
    let Some(url) = common::nats_url() else {
        return;
    };
    let stream = common::unique_stream("stats_state");
    let queue = connect(&url, &stream).await;
    queue
        .enqueue(NewDelivery::new("src", "r", SystemTime::now(), &b"{}"[..]))
        .await
        .expect("enqueue");
    let lease = |queue: NatsQueue| async move {
        for _ in 0..100 {
            let leased = queue
                .lease(LeaseRequest::new(1, Duration::from_secs(30)))
                .await
                .expect("lease");
            if let Some(leased) = leased.into_iter().next() {
                return leased;
            }
        }
        panic!("the retry was never delivered again");
    };
    let first = lease(queue.clone()).await;
    queue
        .retry_at(first.lease, SystemTime::now(), "boom".to_owned())
        .await
        .expect("retry");
    let second = lease(queue.clone()).await;
    assert_eq!(second.delivery.attempt, 2);
    queue.ack(second.lease).await.expect("ack");

    let js = async_nats::jetstream::new(async_nats::connect(&url).await.expect("connect"));
    let mut bucket = js
        .get_stream(format!("KV_{stream}_STATE"))
        .await
        .expect("bucket stream");
    let held = bucket.info().await.expect("info").state.messages;
    assert_eq!(held, 0, "messages left in the state bucket");
    let stats = queue.stats().await.expect("stats");
    assert_eq!(stats.depth(), 0);
    common::delete_queue(&url, &stream).await;
}
