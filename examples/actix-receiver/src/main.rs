//! Run with: cargo run -p example-actix-receiver
//!
//! The `axum-receiver` example for actix-web users: the `Webhook` middleware
//! verifies each delivery, writes it to the embedded SQLite queue, and only
//! then answers 200; a worker pool hands each event, typed, to a `Router`.
//! Routes: `/hooks/clarife`, `/hooks/claravine` and `/hooks/github`.
//!
//! | variable | default |
//! |---|---|
//! | `HOOKGATE_ADDR` | `127.0.0.1:3000` |
//! | `HOOKGATE_QUEUE` | `hookgate-actix-example.db` |
//! | `HOOKGATE_SECRET_<SCHEME>` | `whsec_sample` for clarife, `dev-<scheme>-secret` otherwise (development only) |
//!
//! Try: `cargo run -p hookgate-cli -- send --scheme clarife --secret whsec_sample --url http://127.0.0.1:3000/hooks/clarife`

use std::sync::Arc;
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use hookgate_actix::{Receiver, Source, Webhook};
use hookgate_events::{AnyEvent, DeliveryInfo, Event, HandlerError, Router};
use hookgate_queue::{Queue, RouterHandler, SqliteQueue, WorkerPool};
use hookgate_verify::{Scheme, Verifier};

fn secret(scheme: Scheme) -> String {
    let variable = format!("HOOKGATE_SECRET_{}", scheme.as_str().to_uppercase());
    std::env::var(&variable).unwrap_or_else(|_| match scheme {
        Scheme::Clarife => "whsec_sample".to_owned(),
        other => format!("dev-{other}-secret"),
    })
}

async fn log_event(event: AnyEvent, info: DeliveryInfo) -> Result<(), HandlerError> {
    println!(
        "processed source={} event={} delivery_id={} attempt={}",
        info.source,
        event.event_name(),
        info.delivery_id,
        info.attempt
    );
    Ok(())
}

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::var("HOOKGATE_ADDR").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let queue_path =
        std::env::var("HOOKGATE_QUEUE").unwrap_or_else(|_| "hookgate-actix-example.db".to_owned());
    let queue: Arc<dyn Queue> = Arc::new(SqliteQueue::open(&queue_path)?);

    let mut receiver = Receiver::builder().queue(Arc::clone(&queue));
    for scheme in [Scheme::Clarife, Scheme::Claravine, Scheme::Github] {
        let name = scheme.as_str();
        receiver = receiver.source(
            Source::builder(
                name,
                format!("/hooks/{name}"),
                Verifier::new(scheme, secret(scheme))?,
            )
            .sender(name.parse()?)
            .build()?,
        );
    }
    let receiver = receiver.build()?;

    let workers = WorkerPool::builder(
        Arc::clone(&queue),
        RouterHandler::new(Router::new().on_any(log_event)),
    )
    .build();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker_task = tokio::spawn(async move {
        let mut stopped = stopped;
        let shutdown = async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        };
        workers.run(shutdown, Duration::from_secs(10)).await
    });

    let server = HttpServer::new(move || {
        App::new()
            .wrap(Webhook::new(receiver.clone()))
            .route("/", web::get().to(HttpResponse::Ok))
    })
    .bind(&addr)?;
    for bound in server.addrs() {
        println!("listening on http://{bound}");
    }
    // actix-web stops on Ctrl-C / SIGTERM by itself; then the workers stop.
    server.run().await?;
    let _ = stop.send(true);
    worker_task.await?;
    Ok(())
}
