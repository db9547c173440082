//! The queue conformance suite against a real NATS JetStream.

mod common;

use std::sync::Arc;
use std::time::Duration;

use hookgate_queue::{Queue, conformance};
use hookgate_queue_nats::NatsQueue;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_queue_conforms() {
    let Some(url) = common::nats_url() else {
        return;
    };
    let mut streams = Vec::new();
    // `recover` returns 0: JetStream redelivers expired leases itself.
    conformance::run_all_real_time_with(conformance::Recovery::ByServer, || {
        let stream = common::unique_stream("conformance");
        streams.push(stream.clone());
        let url = url.clone();
        async move {
            let queue = NatsQueue::builder(url)
                .stream(stream)
                // The suite leases for 2 s; JetStream's lease is ack_wait.
                .ack_wait(Duration::from_secs(2))
                .connect()
                .await
                .expect("connect");
            Arc::new(queue) as Arc<dyn Queue>
        }
    })
    .await;
    for stream in streams {
        common::delete_queue(&url, &stream).await;
    }
}
