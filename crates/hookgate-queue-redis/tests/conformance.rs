//! The queue conformance suite against a real Redis.

mod common;

use std::sync::Arc;

use hookgate_queue::{Queue, conformance};
use hookgate_queue_redis::RedisQueue;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_queue_conforms() {
    let Some(url) = common::redis_url() else {
        return;
    };
    let mut prefixes = Vec::new();
    conformance::run_all_real_time(|| {
        let prefix = common::unique_prefix("conformance");
        prefixes.push(prefix.clone());
        let url = url.clone();
        async move {
            let queue = RedisQueue::builder(url)
                .prefix(prefix)
                .build()
                .expect("build");
            Arc::new(queue) as Arc<dyn Queue>
        }
    })
    .await;
    for prefix in prefixes {
        common::delete_prefix(&url, &prefix).await;
    }
}
