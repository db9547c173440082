//! The consumer's `ack_wait` is the lease duration: a queue connecting with
//! another one than the consumer has brings the consumer to it.

mod common;

use std::time::Duration;

use hookgate_queue_nats::NatsQueue;

async fn ack_wait_of(url: &str, stream: &str) -> Duration {
    let js = async_nats::jetstream::new(async_nats::connect(url).await.expect("connect"));
    let stream = js.get_stream(stream).await.expect("stream");
    let mut consumer: async_nats::jetstream::consumer::PullConsumer = stream
        .get_consumer(hookgate_queue_nats::DEFAULT_CONSUMER)
        .await
        .expect("consumer");
    consumer.info().await.expect("info").config.ack_wait
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_consumer_takes_the_configured_ack_wait() {
    let Some(url) = common::nats_url() else {
        return;
    };
    let stream = common::unique_stream("ack_wait");
    let connect = |ack_wait: Duration| {
        NatsQueue::builder(url.clone())
            .stream(stream.clone())
            .ack_wait(ack_wait)
            .connect()
    };
    let first = connect(Duration::from_secs(300)).await.expect("connect");
    assert_eq!(ack_wait_of(&url, &stream).await, Duration::from_secs(300));
    drop(first);
    let _second = connect(hookgate_queue_nats::DEFAULT_ACK_WAIT)
        .await
        .expect("connect");
    assert_eq!(
        ack_wait_of(&url, &stream).await,
        hookgate_queue_nats::DEFAULT_ACK_WAIT,
        "the consumer follows the configuration instead of keeping 5 minutes"
    );
    common::delete_queue(&url, &stream).await;
}
