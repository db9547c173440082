//! The queue conformance suite against a real PostgreSQL: once with a manual
//! clock (every case, no sleeping), once with the server's clock (what
//! production uses).

mod common;

use std::sync::Arc;

use hookgate_queue::{Queue, conformance};
use hookgate_queue_postgres::PostgresQueue;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_queue_conforms_with_a_manual_clock() {
    let Some(url) = common::postgres_url() else {
        return;
    };
    let mut schemas = Vec::new();
    conformance::run_all(|clock| {
        let schema = common::unique_schema("conf_manual");
        schemas.push(schema.clone());
        let url = url.clone();
        async move {
            let queue = PostgresQueue::builder(url)
                .schema(schema)
                .clock(clock)
                .prune_interval(None)
                .connect()
                .await
                .expect("connect");
            Arc::new(queue) as Arc<dyn Queue>
        }
    })
    .await;
    common::drop_schemas(&url, &schemas).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_queue_conforms_with_the_servers_clock() {
    let Some(url) = common::postgres_url() else {
        return;
    };
    let mut schemas = Vec::new();
    conformance::run_all_real_time(|| {
        let schema = common::unique_schema("conf_server");
        schemas.push(schema.clone());
        let url = url.clone();
        async move {
            let queue = PostgresQueue::builder(url)
                .schema(schema)
                .connect()
                .await
                .expect("connect");
            Arc::new(queue) as Arc<dyn Queue>
        }
    })
    .await;
    common::drop_schemas(&url, &schemas).await;
}
