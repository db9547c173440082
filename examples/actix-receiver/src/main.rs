//! Run with: cargo run -p example-actix-receiver
//!
//! The `axum-receiver` example for actix-web users, and it behaves the same:
//! the `Webhook` middleware verifies each delivery, writes it to the embedded
//! SQLite queue, and only then answers 200; a worker pool reads the queue and
//! hands each event, typed, to a `Router` of handlers, retrying failures with
//! backoff.
//!
//! It serves `POST /hooks/<scheme>` for every scheme of `hookgate verify`:
//! `standard`, `svix`, `clarife`, `stripe`, `github`, `slack`, `shopify`,
//! `paddle`, `linear`, `zoom`, `twitch`, `meta`, `dropbox`, `discord`, `claravine`,
//! `clarity` (header `x-clarity-webhook-token`) and `gitlab`: every scheme
//! but `custom`, which needs a sender's description.
//!
//! | variable | default |
//! |---|---|
//! | `HOOKGATE_ADDR` | `127.0.0.1:3000` |
//! | `HOOKGATE_QUEUE` | `hookgate-actix-example.db` (in the current folder; not `axum-receiver`'s, so both can run side by side) |
//! | `HOOKGATE_SECRET_<SCHEME>` | a development secret, see below |
//! | `HOOKGATE_VERIFY_TOKEN_META` | `dev-meta-verify-token`: the verify token Meta's subscription `GET` must carry |
//! | `HOOKGATE_PUBLIC_URL` | `http://<the address bound>`: where senders reach the receiver, for the schemes that sign the URL (`twilio`) |
//! | `HOOKGATE_HEADER_TIMEOUT` | `10` seconds to send the first request head (then 408 and the connection is closed) |
//! | `HOOKGATE_KEEP_ALIVE` | `5` seconds idle between requests (`0`: one request per connection) |
//! | `HOOKGATE_MAX_CONNECTIONS` | `1024` connections at once, divided among the workers (more wait until one closes) |
//! | `HOOKGATE_READ_TIMEOUT` | `5` seconds to send a request body (then 408) |
//!
//! Durations are in seconds (`2`, `0.5`). actix-web has its own server: the
//! settings above are `HttpServer`'s equivalents of hookgate-tower's hardened
//! `Server` (see `hookgate_actix::server`). It stops on SIGTERM or Ctrl-C:
//! no new connections, requests in progress answered, then the workers
//! finish their attempts.
//!
//! Development secrets, used when `HOOKGATE_SECRET_<SCHEME>` is unset or
//! empty (never in production; a warning is logged for each):
//!
//! | scheme | development secret |
//! |---|---|
//! | `standard`, `svix` | `whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw` (the Standard Webhooks spec's example) |
//! | `clarife` | `whsec_sample` (the secret of `samples/clarife.json`) |
//! | `discord` | the public key `2bc2800b…d270f653` of the development seed `6464…64` (64 hex digits, 32 bytes of 0x64), with which `hookgate sign --scheme discord` signs |
//! | any other | `dev-<scheme>-secret`, e.g. `dev-github-secret` |
//!
//! Try it from another terminal:
//!
//! ```text
//! cargo run -p hookgate-cli -- send --scheme clarife --secret whsec_sample \
//!     --url http://127.0.0.1:3000/hooks/clarife --event document.created
//! ```
//!
//! It prints `listening on http://<addr>` on stdout once bound (so port 0
//! works), and logs to stderr one line per processed event, inside the
//! worker's `delivery` span:
//!
//! ```text
//! 2026-03-28T12:00:00.000000Z  INFO delivery{source=clarife delivery_id=evt_msg_… attempt=1}: processed event=document.created
//! 2026-03-28T12:00:00.000000Z  INFO delivery{source=gitlab delivery_id=… attempt=1}: processed bytes=…
//! ```

use std::io::IsTerminal as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::KeepAlive;
use actix_web::{App, HttpServer, web};
use hookgate_actix::{Handshake, Receiver, Source, Webhook};
use hookgate_events::{AnyEvent, DeliveryInfo, Event, HandlerError, Router, Sender};
use hookgate_queue::{Delivery, Handler, Queue, RouterHandler, SqliteQueue, WorkerPool};
use hookgate_verify::{Scheme, Verifier};

/// The schemes served, each on `/hooks/<name>`: all but the custom HMAC.
fn schemes() -> impl Iterator<Item = Scheme> {
    Scheme::ALL
        .into_iter()
        .filter(|scheme| *scheme != Scheme::Custom)
}

/// Discord's development public key: that of the seed of 32 bytes 0x64.
const DISCORD_DEV_PUBLIC_KEY: &str =
    "2bc2800b3316e009209ffd757dab19ccf0ae84bc7ae90654e1e81712d270f653";

/// The secret for `scheme`: `HOOKGATE_SECRET_<SCHEME>`, or the development
/// default when it is unset or empty (an empty secret cannot verify anything,
/// and `VAR=` is how shells and compose files "unset" a variable).
fn secret(scheme: Scheme) -> String {
    let variable = format!("HOOKGATE_SECRET_{}", scheme.as_str().to_uppercase());
    if let Ok(secret) = std::env::var(&variable)
        && !secret.is_empty()
    {
        return secret;
    }
    tracing::warn!("{variable} is unset or empty: using the development secret for {scheme}");
    match scheme {
        Scheme::Standard | Scheme::Svix => "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned(),
        Scheme::Clarife => "whsec_sample".to_owned(),
        // A public key: the development seed signs (`hookgate sign --scheme
        // discord --secret 6464…64`, 32 bytes of 0x64).
        Scheme::Discord => DISCORD_DEV_PUBLIC_KEY.to_owned(),
        other => format!("dev-{other}-secret"),
    }
}

/// Meta's verify token (`HOOKGATE_VERIFY_TOKEN_META`), which its subscription
/// handshake (`GET ?hub.mode=subscribe&hub.verify_token=...`) must carry.
fn meta_verify_token() -> String {
    match std::env::var("HOOKGATE_VERIFY_TOKEN_META") {
        Ok(token) if !token.is_empty() => token,
        _ => {
            tracing::warn!(
                "HOOKGATE_VERIFY_TOKEN_META is unset or empty: using the development verify token"
            );
            "dev-meta-verify-token".to_owned()
        }
    }
}

/// Where senders reach this receiver (`HOOKGATE_PUBLIC_URL`), for the
/// schemes that sign the URL they called (Twilio): by default the address
/// bound, over plain HTTP.
fn public_url(bound: SocketAddr) -> String {
    match std::env::var("HOOKGATE_PUBLIC_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => format!("http://{bound}"),
    }
}

/// `variable` in seconds (`2`, `0.5`), or `default` when it is unset or empty.
fn seconds(variable: &str, default: Duration) -> Result<Duration, String> {
    match std::env::var(variable) {
        Ok(value) if !value.is_empty() => value
            .parse::<f64>()
            .ok()
            .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
            .ok_or_else(|| format!("{variable}={value:?} is not a number of seconds")),
        _ => Ok(default),
    }
}

/// Every event of every sender ends up here; a real receiver adds its own
/// `.on("claim.*", ...)` handlers next to it. The worker's `delivery` span
/// already names the source, delivery id and attempt (also in `_info`).
async fn log_event(event: AnyEvent, _info: DeliveryInfo) -> Result<(), HandlerError> {
    tracing::info!(event = %event.event_name(), "processed");
    Ok(())
}

/// Claravine's completed submissions, as an example of a specific handler.
async fn on_submission_completed(event: AnyEvent, _info: DeliveryInfo) -> Result<(), HandlerError> {
    if let AnyEvent::Claravine(submission) = event {
        tracing::info!(object_id = %submission.object_id, "a Claravine submission completed");
    }
    Ok(())
}

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        // Plain lines when piped to a file or another program.
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();

    let addr: SocketAddr = std::env::var("HOOKGATE_ADDR")
        .unwrap_or_else(|_| "127.0.0.1:3000".to_owned())
        .parse()?;
    let queue_path =
        std::env::var("HOOKGATE_QUEUE").unwrap_or_else(|_| "hookgate-actix-example.db".to_owned());
    let queue: Arc<dyn Queue> = Arc::new(SqliteQueue::open(&queue_path)?);
    if let Err(error) = hookgate_actix::raise_open_files_limit() {
        tracing::info!(%error, "could not raise the open-file limit");
    }
    let header_timeout = seconds("HOOKGATE_HEADER_TIMEOUT", Duration::from_secs(10))?;
    let keep_alive = match seconds("HOOKGATE_KEEP_ALIVE", Duration::from_secs(5))? {
        idle if idle.is_zero() => KeepAlive::Disabled,
        idle => KeepAlive::Timeout(idle),
    };
    let max_connections: usize = match std::env::var("HOOKGATE_MAX_CONNECTIONS") {
        Ok(n) if !n.is_empty() => n
            .parse()
            .map_err(|_| format!("HOOKGATE_MAX_CONNECTIONS={n:?} is not a number"))?,
        _ => 1024,
    };
    let read_timeout = seconds("HOOKGATE_READ_TIMEOUT", Duration::from_secs(5))?;

    // Receiving: one source per scheme, verified, queued, then 200.
    // Bound first: the public URL defaults to the address bound (port 0 too).
    let listener = std::net::TcpListener::bind(addr)?;
    let public_url = public_url(listener.local_addr()?);

    let mut receiver = Receiver::builder().queue(queue.clone());
    for scheme in schemes() {
        let name = scheme.as_str();
        let mut source = Source::builder(
            name,
            format!("/hooks/{name}"),
            Verifier::new(scheme, secret(scheme))?,
        )
        .read_timeout(read_timeout)
        .public_url(&public_url);
        if scheme == Scheme::Meta {
            // Meta subscribes an endpoint with a GET carrying this token.
            source = source.handshake(Handshake::meta(meta_verify_token())?);
        }
        if let Ok(sender) = name.parse() {
            // Names the events (logs, filters); Clarity's are all `trigger`.
            source = source.sender(sender);
        }
        receiver = receiver.source(source.build()?);
    }
    let receiver = receiver.build()?;

    // Processing: typed events through a Router; deliveries of senders
    // without typed events (`custom`, the one scheme hookgate-events has no sender for) are
    // handled on their own.
    let router = Router::new()
        .on("submission.completed", on_submission_completed)
        .on_any(log_event);
    let events = Arc::new(RouterHandler::new(router));
    let handler = move |delivery: Delivery| {
        let events = Arc::clone(&events);
        async move {
            // Senders without typed events are
            // logged by size.
            if delivery.source.parse::<Sender>().is_err() {
                tracing::info!(bytes = delivery.body.len(), "processed");
                return Ok(());
            }
            events.handle(delivery).await
        }
    };
    let workers = WorkerPool::builder(Arc::clone(&queue), handler).build();

    // actix-web runs the factory once per worker thread: each gets a clone.
    // Its connection limit is per worker: share the total among them.
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let server = HttpServer::new(move || {
        App::new().wrap(Webhook::new(receiver.clone())).route(
            "/",
            web::get().to(|| async { "hookgate example receiver: POST /hooks/<scheme>\n" }),
        )
    })
    .workers(threads)
    .client_request_timeout(header_timeout)
    .keep_alive(keep_alive)
    .max_connections(max_connections.div_ceil(threads).max(1))
    .client_disconnect_timeout(Duration::from_secs(1))
    .shutdown_timeout(30)
    .listen(listener)?;
    for bound in server.addrs() {
        tracing::info!(queue = %queue_path, "listening on http://{bound}");
        // For scripts and tests that start the example on port 0.
        println!("listening on http://{bound}");
    }

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker_task = tokio::spawn(async move {
        let mut stopped = stopped;
        let shutdown = async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        };
        workers.run(shutdown, Duration::from_secs(10)).await
    });
    // actix-web stops on Ctrl-C / SIGTERM by itself; then the workers stop.
    server.run().await?;
    let _ = stop.send(true);
    worker_task.await?;
    Ok(())
}
