//! The conformance suite on the built-in back-ends.
#![cfg(feature = "conformance")]

use std::sync::Arc;

use hookgate_queue::{MemoryQueue, Queue, conformance};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_queue_conforms() {
    conformance::run_all(|clock| async move {
        Arc::new(MemoryQueue::new().with_clock(clock)) as Arc<dyn Queue>
    })
    .await;
}
