//! A byte budget for the work stream (issue 18): past `max_bytes` enqueues
//! fail `Full` for `max_bytes` (the receiving side answers 503 with
//! `Retry-After`) and nothing stored is dropped. The budget is the queue's,
//! not the stream's: NATS 2.9 drops the oldest messages of a stream at its
//! own `max_bytes` even with `discard = new`, which the durability check
//! refuses (second test).

mod common;

use std::time::SystemTime;

use async_nats::jetstream::stream;
use hookgate_queue::{Enqueue, EnqueueOutcome, NewDelivery, Queue, QueueErrorKind, StorageLimit};
use hookgate_queue_nats::{Durability, NatsQueue};

const BUDGET: u64 = 16 * 1024;

fn delivery(n: usize) -> NewDelivery {
    NewDelivery::new(
        "github",
        format!("d-{n}"),
        SystemTime::now(),
        vec![b'x'; 1024],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_max_bytes_enqueues_are_full_and_nothing_is_dropped() {
    let Some(url) = common::nats_url() else {
        return;
    };
    let name = common::unique_stream("max_bytes");
    let queue = NatsQueue::builder(url.clone())
        .stream(name.clone())
        .max_bytes(BUDGET)
        .connect()
        .await
        .expect("connect");
    let mut enqueued = 0;
    let refused = loop {
        match queue.enqueue(delivery(enqueued)).await {
            Ok(outcome) => {
                assert_eq!(outcome, EnqueueOutcome::Enqueued);
                enqueued += 1;
                assert!(enqueued < 64, "16 KiB took {enqueued} deliveries of 1 KiB");
            }
            Err(err) => break err,
        }
    };
    assert!(
        enqueued >= 8,
        "refused after {enqueued} deliveries of 1 KiB"
    );
    assert_eq!(refused.kind(), QueueErrorKind::Full, "{refused}");
    assert_eq!(refused.limit(), Some(StorageLimit::MaxBytes), "{refused}");
    assert!(refused.retry_after().is_some(), "{refused}");
    let stats = queue.stats().await.unwrap();
    // Every delivery acknowledged is still there.
    assert_eq!(stats.ready, enqueued as u64);
    let storage = stats.storage.expect("the stream's bytes");
    assert!(storage.bytes > 0 && storage.bytes <= BUDGET, "{storage:?}");
    common::delete_queue(&url, &name).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_work_stream_with_its_own_limits_is_refused() {
    let Some(url) = common::nats_url() else {
        return;
    };
    let js = async_nats::jetstream::new(async_nats::connect(&url).await.expect("connect"));
    for (limit, config) in [
        (
            "max_bytes",
            stream::Config {
                max_bytes: 1 << 20,
                discard: stream::DiscardPolicy::New,
                ..Default::default()
            },
        ),
        (
            "max_msgs",
            stream::Config {
                max_messages: 1000,
                ..Default::default()
            },
        ),
        (
            "max_age",
            stream::Config {
                max_age: std::time::Duration::from_secs(3600),
                ..Default::default()
            },
        ),
    ] {
        let name = common::unique_stream("limits");
        js.create_stream(stream::Config {
            name: name.clone(),
            subjects: vec![
                format!("hookgate.{name}.work"),
                format!("hookgate.{name}.superseded"),
            ],
            retention: stream::RetentionPolicy::WorkQueue,
            ..config
        })
        .await
        .expect("create the limited stream");
        let queue = NatsQueue::builder(url.clone())
            .stream(name.clone())
            .connect()
            .await
            .expect("connect");
        let err = queue
            .check_durability(Durability::ProcessCrash)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), QueueErrorKind::Invalid, "{err}");
        assert!(
            err.to_string().contains(&format!("has a {limit} limit")),
            "{limit}: {err}"
        );
        common::delete_queue(&url, &name).await;
    }
}
