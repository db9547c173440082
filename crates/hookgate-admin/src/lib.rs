//! The operator's view of a hookgate receiver: an admin API, a live stream
//! of delivery events, and a console in the browser.
//!
//! [`Admin`] is an [`Observer`] for a
//! `hookgate_receive::Receiver` and a `hookgate_queue::WorkerPool`
//! (`.observer(admin.observer())` on both builders) and an axum
//! [`axum::Router`] to serve on a listener of its own
//! ([`Admin::router`]). `hookgate serve` runs it from its `[admin]` section.
//!
//! # What it serves
//!
//! | route | what |
//! |---|---|
//! | `GET /` | the console: live feed (filter by source, outcome), a delivery's headers and pretty-printed body, dead letters with a Replay button and replay of a selection, queue depth and throughput over the last hour, per-source counters |
//! | `GET /api/deliveries` | the last N deliveries received (`?source=`, `?outcome=`, `?limit=`), newest first |
//! | `GET /api/deliveries/{seq}` | one of them with its headers (credentials removed); `?body=true` adds the body |
//! | `GET /api/dead-letters` | dead letters with their last error |
//! | `POST /api/dead-letters/replay` | replays one dead letter (`{"source", "delivery_id"}`) |
//! | `POST /api/dead-letters/replay-selection` | replays the dead letters of a source and/or received since a time |
//! | `GET /api/stats` | the queue's counts |
//! | `GET /api/sources` | counters per source and event kind |
//! | `GET /api/history` | received, processed and queue depth per minute, last hour |
//! | `GET /api/events` | Server-Sent Events: `received`, `refused` (with the reason), `duplicate`, `queued`, `verified`, `skipped`, `processed`, `retry_scheduled`, `dead_lettered` (`?source=`), the events of up to 20 ms in one write |
//! | `GET /openapi.json` | the API's OpenAPI 3.1 description |
//!
//! The event streams end only when told to ([`Admin::close_streams`]): a
//! server shutting down gracefully calls it once it stops accepting
//! connections, or its drain waits for the streams until its timeout.
//!
//! # Security
//!
//! - **Where it listens.** Off loopback, a bearer token is required: without
//!   one, [`Admin::check_listen`] refuses the address (call it before
//!   binding). With a token, every request needs `Authorization: Bearer
//!   TOKEN` or the session cookie of the console's login form (401
//!   otherwise). Without one, the `Host` must be an IP address or
//!   `localhost` (no DNS rebinding from a web page).
//! - **CSRF.** Every `POST` carries the console's CSRF token (`X-CSRF-Token`
//!   or a form field), unless authenticated by the `Authorization` header,
//!   which browsers never add on their own.
//! - **What senders control.** Bodies and headers are the sender's; the
//!   console renders them as text only (server-side escaping, `textContent`
//!   in the script), under a Content-Security-Policy that allows no inline
//!   script, nothing from another origin, and no frames. Credentials never
//!   reach the ring: the receiver removes them before any observer sees the
//!   headers.
//! - **Memory.** The ring keeps the last N deliveries ([`AdminBuilder::recent`],
//!   1,000 by default), each body cut at [`AdminBuilder::body_limit`] (16 KiB)
//!   and copied (a slice of the server's read buffer would keep all of it).
//!
//! # Cost
//!
//! The observer runs on the request path: it counts, copies what the ring
//! keeps, and, only while a client follows `/api/events`, hands the stream
//! an event that shares those copies. The JSON and the times are written by
//! the stream's own task, once per 20 ms for what gathered. BENCHMARKS.md
//! (issue 16) has the figures.
//!
//! # Example
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use std::sync::Arc;
//! use hookgate_admin::Admin;
//! use hookgate_queue::{MemoryQueue, Queue};
//!
//! let queue: Arc<dyn Queue> = Arc::new(MemoryQueue::new());
//! let admin = Admin::builder(queue).sources(["github"]).build()?;
//! // Refused: off loopback without a token.
//! assert!(admin.check_listen("0.0.0.0:8081".parse()?).is_err());
//! assert!(admin.check_listen("127.0.0.1:8081".parse()?).is_ok());
//!
//! // The observer goes to the receiver and the worker pool; the router to a listener.
//! let _observer = admin.observer();
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let addr = listener.local_addr()?;
//! tokio::spawn(axum::serve(listener, admin.router()).into_future());
//! let stats = reqwest::get(format!("http://{addr}/api/stats")).await?;
//! assert_eq!(stats.status(), 200);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::routing::{get, post};
use hookgate_queue::observe::Observer;
use hookgate_queue::{DeliveryKey, Queue, QueueError, Replay};
use serde_json::{Value, json};

mod api;
mod auth;
mod console;
mod recorder;
mod time;

use auth::Secrets;
use recorder::Recorder;

/// The API's OpenAPI 3.1 description, as served at `/openapi.json`.
pub const OPENAPI: &str = include_str!("../openapi.json");

/// The default number of recent deliveries kept.
pub const DEFAULT_RECENT: usize = 1000;
/// The default cap on each kept body, in bytes.
pub const DEFAULT_BODY_LIMIT: usize = 16 * 1024;
/// The shortest bearer token accepted.
pub const MIN_TOKEN_LEN: usize = 16;

/// Why an admin listener cannot be configured as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Off loopback without a token.
    #[error(
        "the admin listener {0} is not on loopback: set a bearer token (at least {MIN_TOKEN_LEN} characters) or listen on 127.0.0.1"
    )]
    TokenRequired(SocketAddr),
    /// The token is too short to resist guessing.
    #[error("the admin token is {0} characters long: use at least {MIN_TOKEN_LEN}")]
    TokenTooShort(usize),
}

/// Configures an [`Admin`].
#[must_use]
pub struct AdminBuilder {
    queue: Arc<dyn Queue>,
    sources: Vec<String>,
    recent: usize,
    body_limit: usize,
    token: Option<String>,
}

impl fmt::Debug for AdminBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminBuilder")
            .field("sources", &self.sources)
            .field("recent", &self.recent)
            .field("body_limit", &self.body_limit)
            .field("token", &self.token.as_ref().map(|_| "[redacted]"))
            .finish_non_exhaustive()
    }
}

impl AdminBuilder {
    /// The configured sources, so that each has counters from the start.
    pub fn sources(mut self, names: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.sources = names.into_iter().map(Into::into).collect();
        self
    }

    /// How many recent deliveries the ring keeps (default [`DEFAULT_RECENT`]).
    pub fn recent(mut self, n: usize) -> Self {
        self.recent = n.max(1);
        self
    }

    /// The most bytes of each body kept (default [`DEFAULT_BODY_LIMIT`]);
    /// longer bodies are cut and marked `body_truncated`.
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// Requires `Authorization: Bearer TOKEN` (or the console's session) on
    /// every request. Refuses a token shorter than [`MIN_TOKEN_LEN`].
    pub fn token(mut self, token: impl Into<String>) -> Result<Self, ConfigError> {
        let token = token.into();
        if token.chars().count() < MIN_TOKEN_LEN {
            return Err(ConfigError::TokenTooShort(token.chars().count()));
        }
        self.token = Some(token);
        Ok(self)
    }

    /// Builds the admin state.
    pub fn build(self) -> Result<Admin, ConfigError> {
        let recorder = Arc::new(Recorder::new(&self.sources, self.recent, self.body_limit));
        Ok(Admin {
            inner: Arc::new(Shared {
                queue: self.queue,
                recorder,
                secrets: Secrets::new(self.token),
                sources: self.sources,
                closed: tokio::sync::watch::channel(false).0,
            }),
        })
    }
}

/// The admin API, stream and console of one receiver; cheap to clone.
#[derive(Clone)]
pub struct Admin {
    inner: Arc<Shared>,
}

pub(crate) struct Shared {
    queue: Arc<dyn Queue>,
    recorder: Arc<Recorder>,
    secrets: Secrets,
    sources: Vec<String>,
    /// Raised once by [`Admin::close_streams`].
    closed: tokio::sync::watch::Sender<bool>,
}

impl fmt::Debug for Admin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Admin")
            .field("queue", &self.inner.queue)
            .field("sources", &self.inner.sources)
            .field(
                "token",
                &self.inner.secrets.token.as_ref().map(|_| "[redacted]"),
            )
            .finish_non_exhaustive()
    }
}

impl Admin {
    /// Starts configuring the admin of the receiver whose queue is `queue`.
    pub fn builder(queue: Arc<dyn Queue>) -> AdminBuilder {
        AdminBuilder {
            queue,
            sources: Vec::new(),
            recent: DEFAULT_RECENT,
            body_limit: DEFAULT_BODY_LIMIT,
            token: None,
        }
    }

    /// The observer to give the receiver and the worker pool.
    pub fn observer(&self) -> Arc<dyn Observer> {
        Arc::clone(&self.inner.recorder) as Arc<dyn Observer>
    }

    /// Refuses to listen on `addr` off loopback without a token.
    pub fn check_listen(&self, addr: SocketAddr) -> Result<(), ConfigError> {
        if addr.ip().is_loopback() || self.inner.secrets.token.is_some() {
            Ok(())
        } else {
            Err(ConfigError::TokenRequired(addr))
        }
    }

    /// Whether requests need the bearer token.
    pub fn requires_token(&self) -> bool {
        self.inner.secrets.token.is_some()
    }

    /// The routes (see the [crate docs](crate)), behind authentication and CSRF checks.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/", get(console::page))
            .route("/login", post(console::login))
            .route("/console/replay", post(console::replay_one))
            .route("/console/replay-selection", post(console::replay_selection))
            .route("/assets/console.js", get(console::script))
            .route("/assets/console.css", get(console::style))
            .route("/api/deliveries", get(api::deliveries))
            .route("/api/deliveries/{seq}", get(api::delivery))
            .route("/api/dead-letters", get(api::dead_letters))
            .route("/api/dead-letters/replay", post(api::replay_one))
            .route(
                "/api/dead-letters/replay-selection",
                post(api::replay_selection),
            )
            .route("/api/stats", get(api::stats))
            .route("/api/sources", get(api::sources))
            .route("/api/history", get(api::history))
            .route("/api/events", get(api::events))
            .route("/openapi.json", get(api::openapi))
            .layer(axum::middleware::from_fn_with_state(
                self.clone(),
                auth::gate,
            ))
            .with_state(self.clone())
    }

    /// Ends every live event stream (`/api/events`), for a graceful
    /// shutdown of the admin listener: each client gets the events gathered
    /// so far, then the end of the stream; a stream opened later ends at
    /// once. An event stream never ends by itself, so a server draining its
    /// connections (`with_graceful_shutdown`) waits for this. The API and the
    /// console go on answering.
    pub fn close_streams(&self) {
        self.inner.closed.send_replace(true);
    }

    /// Samples the queue's depth every `period` for the console's chart;
    /// runs until dropped.
    pub async fn sample_depth(&self, period: Duration) {
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Ok(stats) = self.inner.queue.stats().await {
                self.inner.recorder.sample_depth(stats.depth());
            }
        }
    }

    /// Dead letters as the API lists them, of `source` if given.
    async fn dead_letters(
        &self,
        source: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Value>, QueueError> {
        let fetch = if source.is_some() {
            api::MAX_SELECTION
        } else {
            limit
        };
        let dead = self.inner.queue.list_dead(fetch).await?;
        Ok(dead
            .iter()
            .filter(|d| source.is_none_or(|s| d.delivery.source == s))
            .take(limit)
            .map(|d| {
                json!({
                    "source": d.delivery.source,
                    "delivery_id": d.delivery.delivery_id,
                    "received_at": time::rfc3339(d.delivery.received_at),
                    "dead_at": time::rfc3339(d.dead_at),
                    "attempts": d.delivery.attempt,
                    "error": d.error,
                    "body_len": d.delivery.body.len(),
                })
            })
            .collect())
    }

    /// Replays the dead letters of `source` (all sources when `None`)
    /// received since `since` (any time when `None`); returns how many.
    async fn replay_selection(
        &self,
        source: Option<&str>,
        since: Option<SystemTime>,
    ) -> Result<u64, QueueError> {
        let queue = &self.inner.queue;
        let Some(source) = source else {
            let selection = since.map_or(Replay::All, api::since_until_now);
            return queue.replay(selection).await;
        };
        // The queue selects by time only: pick the source's one by one.
        let dead = queue.list_dead(api::MAX_SELECTION).await?;
        let mut replayed = 0;
        for letter in dead.iter().filter(|d| {
            d.delivery.source == source && since.is_none_or(|since| d.delivery.received_at >= since)
        }) {
            let key = DeliveryKey::new(source, letter.delivery.delivery_id.clone());
            match queue.replay(Replay::One(key)).await {
                Ok(n) => replayed += n,
                // Replayed meanwhile by someone else.
                Err(e) if e.kind() == hookgate_queue::QueueErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(replayed)
    }
}
