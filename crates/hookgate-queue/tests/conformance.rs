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

/// The contract on fresh SQLite files, opened `exclusive` or not.
#[cfg(feature = "sqlite")]
async fn sqlite_conforms(exclusive: bool) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut n = 0;
    conformance::run_all(|clock| {
        n += 1;
        let path = dir.path().join(format!("queue-{n}.db"));
        async move {
            let queue = hookgate_queue::SqliteQueue::builder(path)
                .exclusive(exclusive)
                .clock(clock)
                .open()
                .expect("open");
            Arc::new(queue) as Arc<dyn Queue>
        }
    })
    .await;
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_queue_conforms() {
    sqlite_conforms(false).await;
}

/// `hookgate serve` opens its file exclusively, and then keeps leases in
/// memory instead of writing them: the same contract must hold.
#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exclusive_sqlite_queue_conforms() {
    sqlite_conforms(true).await;
}
