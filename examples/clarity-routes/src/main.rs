//! Run with: cargo run -p example-clarity-routes
//!
//! Clarity calls custom routes, each bound to a workflow trigger that needs
//! named context fields, authenticated by a per-route token in the
//! `x-clarity-webhook-token` header. Here: two routes, each with its own
//! token and required fields; a delivery missing a field gets 422 listing
//! them in the declared order, a wrong token 401. Accepted deliveries go to an
//! in-memory queue and a worker prints them.
//!
//! Listens on `HOOKGATE_ADDR` (default `127.0.0.1:3000`). Tokens:
//! `HOOKGATE_TOKEN_PROVISION` (default `dev-provision-token`) and
//! `HOOKGATE_TOKEN_REVOKE` (default `dev-revoke-token`); an empty variable
//! counts as unset. It prints `listening on http://<addr>` once bound, then
//! `<source> trigger <delivery id>: <body or query string>` for each accepted
//! delivery (`clarity-provision` or `clarity-revoke`). Try:
//!
//! ```text
//! curl -i -X POST http://127.0.0.1:3000/clarity/provision \
//!     -H 'x-clarity-webhook-token: dev-provision-token' \
//!     -d '{"app_identifier":"salesforce","identity_id":"42","entitlement_id":"7"}'
//! curl -i 'http://127.0.0.1:3000/clarity/revoke?identity_id=42' \
//!     -H 'x-clarity-webhook-token: dev-revoke-token'          # 422: entitlement_id missing
//! ```

use std::sync::Arc;
use std::time::Duration;

use hookgate_queue::{Delivery, MemoryQueue, Queue, WorkerPool};
use hookgate_tower::server::{Server, shutdown_signal};
use hookgate_tower::{Receiver, Source, WebhookLayer};
use hookgate_verify::{Scheme, Verifier};
use http::Method;

/// `variable`, or the development `default` when it is unset or empty.
fn token(variable: &str, default: &str) -> String {
    std::env::var(variable)
        .ok()
        .filter(|token| !token.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::var("HOOKGATE_ADDR").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let queue: Arc<dyn Queue> = Arc::new(MemoryQueue::new());

    let provision = Source::builder(
        "clarity-provision",
        "/clarity/provision",
        Verifier::new(
            Scheme::Clarity,
            token("HOOKGATE_TOKEN_PROVISION", "dev-provision-token"),
        )?,
    )
    .require_context(["app_identifier", "identity_id", "entitlement_id"])
    .build()?;
    let revoke = Source::builder(
        "clarity-revoke",
        "/clarity/revoke",
        Verifier::new(
            Scheme::Clarity,
            token("HOOKGATE_TOKEN_REVOKE", "dev-revoke-token"),
        )?,
    )
    // GET deliveries carry their context in the query string.
    .methods([Method::GET, Method::POST])
    .require_context(["identity_id", "entitlement_id"])
    .build()?;
    let receiver = Receiver::builder()
        .queue(queue.clone())
        .source(provision)
        .source(revoke)
        .build()?;
    let app = axum::Router::new().layer(WebhookLayer::new(receiver));

    let workers = WorkerPool::builder(Arc::clone(&queue), |delivery: Delivery| async move {
        println!(
            "{} trigger {}: {}",
            delivery.source,
            delivery.delivery_id,
            String::from_utf8_lossy(&delivery.body)
        );
        Ok(())
    })
    .build();
    let worker_task = tokio::spawn(async move {
        workers
            .run(std::future::pending::<()>(), Duration::from_secs(5))
            .await
    });

    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    // hookgate-tower's hardened server: header and idle timeouts, a
    // connection limit, and a graceful stop on SIGTERM or Ctrl-C.
    Server::new()
        .serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await;
    worker_task.abort();
    Ok(())
}
