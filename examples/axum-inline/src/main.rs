//! Run with: cargo run -p example-axum-inline
//!
//! Inline mode: no queue. `WebhookLayer` verifies each delivery, then passes
//! it on to your handler, which takes a `Verified<T>`: the typed event and its
//! delivery metadata. The extractor exists only behind the layer, so a
//! handler cannot run on an unverified request. Your handler's answer is what
//! the sender sees, so keep it within the sender's deadline (or use the queue
//! mode of the `axum-receiver` example).
//!
//! Listens on `HOOKGATE_ADDR` (default `127.0.0.1:3000`); the clarife secret is
//! `HOOKGATE_SECRET_CLARIFE` (development default `whsec_sample`, used when it
//! is unset or empty). It prints `listening on http://<addr>` once bound, then
//! one line per event handled. Try:
//!
//! ```text
//! cargo run -p hookgate-cli -- send --scheme clarife --secret whsec_sample \
//!     --url http://127.0.0.1:3000/hooks/clarife --event document.created
//! ```

use axum::http::StatusCode;
use axum::routing::post;
use hookgate_events::{ClarifeEvent, Event};
use hookgate_tower::server::{Server, shutdown_signal};
use hookgate_tower::{Mode, Receiver, Source, Verified, WebhookLayer};
use hookgate_verify::{Scheme, Verifier};

async fn on_clarife(hook: Verified<ClarifeEvent>) -> StatusCode {
    println!(
        "{} (delivery {}, signed with key #{})",
        hook.event().event_name(),
        hook.delivery().delivery_id(),
        hook.delivery().verified().key().index()
    );
    StatusCode::NO_CONTENT
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Unset or empty means the development secret, as in `axum-receiver`.
    let secret = std::env::var("HOOKGATE_SECRET_CLARIFE")
        .ok()
        .filter(|secret| !secret.is_empty())
        .unwrap_or_else(|| "whsec_sample".to_owned());
    let addr = std::env::var("HOOKGATE_ADDR").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());

    let receiver = Receiver::builder()
        .source(
            Source::builder(
                "clarife",
                "/hooks/clarife",
                Verifier::new(Scheme::Clarife, secret)?,
            )
            .mode(Mode::Inline)
            .build()?,
        )
        .build()?;
    let app = axum::Router::new()
        .route("/hooks/clarife", post(on_clarife))
        .layer(WebhookLayer::new(receiver));

    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    // hookgate-tower's hardened server: header and idle timeouts, a
    // connection limit, and a graceful stop on SIGTERM or Ctrl-C.
    Server::new()
        .serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await;
    Ok(())
}
