//! `NatsQueue::check_durability`: file streams meet "process-crash", "fsync"
//! is unverified (the server's `sync_interval` cannot be read by a client),
//! and a stream with fewer replicas than asked for, or kept in memory, is
//! refused, naming the stream and the setting.

mod common;

use async_nats::jetstream::stream;
use hookgate_queue::QueueErrorKind;
use hookgate_queue_nats::{Durability, DurabilityCheck, NatsQueue};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_streams_meet_process_crash_and_leave_fsync_unverified() {
    let Some(url) = common::nats_url() else {
        return;
    };
    let name = common::unique_stream("durability");
    let queue = NatsQueue::builder(url.clone())
        .stream(name.clone())
        .connect()
        .await
        .expect("connect");
    assert_eq!(
        queue
            .check_durability(Durability::ProcessCrash)
            .await
            .unwrap(),
        DurabilityCheck::Met
    );
    let DurabilityCheck::Unverified { reason } =
        queue.check_durability(Durability::Fsync).await.unwrap()
    else {
        panic!("fsync cannot be verified from a client");
    };
    assert!(reason.contains("sync_interval: always"), "{reason}");

    // The same streams, asked for three replicas: refused, since a standalone
    // server's streams have one.
    let replicated = NatsQueue::builder(url.clone())
        .stream(name.clone())
        .replicas(3)
        .connect()
        .await
        .expect("connect to the existing streams");
    let err = replicated
        .check_durability(Durability::ProcessCrash)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), QueueErrorKind::Invalid, "{err}");
    assert!(
        err.to_string().contains("fewer than the 3 configured"),
        "{err}"
    );
    common::delete_queue(&url, &name).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_kept_in_memory_is_refused() {
    let Some(url) = common::nats_url() else {
        return;
    };
    let name = common::unique_stream("memory");
    let js = async_nats::jetstream::new(async_nats::connect(&url).await.expect("connect"));
    // The dead-letter stream made by hand, in memory: hookgate uses it as it is.
    js.create_stream(stream::Config {
        name: format!("{name}_DEAD"),
        subjects: vec![format!("hookgate.{name}.dead")],
        storage: stream::StorageType::Memory,
        ..Default::default()
    })
    .await
    .expect("create the memory stream");
    let queue = NatsQueue::builder(url.clone())
        .stream(name.clone())
        .connect()
        .await
        .expect("connect");
    for required in [Durability::ProcessCrash, Durability::Fsync] {
        let err = queue.check_durability(required).await.unwrap_err();
        assert_eq!(err.kind(), QueueErrorKind::Invalid, "{err}");
        let message = err.to_string();
        assert!(message.contains(&format!("{name}_DEAD")), "{message}");
        assert!(message.contains("storage: memory"), "{message}");
    }
    common::delete_queue(&url, &name).await;
}
