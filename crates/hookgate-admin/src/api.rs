//! The JSON API and the live stream; documented in `openapi.json`.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use bytes::Bytes;
use hookgate_queue::{DeliveryKey, QueueError, QueueErrorKind, Replay};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::Admin;
use crate::recorder::{Entry, Minute, StreamEvent, Subscription};
use crate::time::{Rfc3339Writer, parse_rfc3339, rfc3339};
use hookgate_queue::observe::EventKind;

/// The most entries or dead letters one answer lists.
pub(crate) const MAX_LIST: usize = 1000;
/// The most dead letters a replay of a selection by source looks through.
pub(crate) const MAX_SELECTION: usize = 10_000;

/// An `application/problem+json` answer (RFC 9457).
pub(crate) fn problem(status: StatusCode, detail: &str) -> Response {
    let body = json!({
        "type": "about:blank",
        "title": status.canonical_reason().unwrap_or("error"),
        "status": status.as_u16(),
        "detail": detail,
    });
    let mut response = (status, Json(body)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    response
}

/// A queue error as an answer: its kind only (its cause may name files or hosts).
fn queue_problem(error: &QueueError) -> Response {
    match error.kind() {
        QueueErrorKind::NotFound => problem(StatusCode::NOT_FOUND, "no such dead letter"),
        QueueErrorKind::Invalid => problem(StatusCode::BAD_REQUEST, &error.kind().to_string()),
        kind => {
            tracing::warn!(%error, "admin: the queue did not answer");
            problem(StatusCode::SERVICE_UNAVAILABLE, &kind.to_string())
        }
    }
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

pub(crate) fn summary(entry: &Entry) -> Value {
    json!({
        "seq": entry.seq,
        "source": &*entry.source,
        "delivery_id": entry.delivery_id(),
        "event": entry.event(),
        "outcome": entry.outcome,
        "reason": entry.reason,
        "status": entry.status,
        "latency_ms": entry.latency.map(millis),
        "attempts": entry.attempts,
        "last_error": entry.last_error.as_deref(),
        "received_at": rfc3339(entry.received_at),
        "updated_at": rfc3339(entry.updated_at),
        "body_len": entry.body_len,
    })
}

/// The body as text when it is UTF-8, else base64.
pub(crate) fn body_text(body: &[u8]) -> (String, &'static str) {
    match std::str::from_utf8(body) {
        Ok(text) => (text.to_owned(), "utf-8"),
        Err(_) => (
            base64::engine::general_purpose::STANDARD.encode(body),
            "base64",
        ),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct ListQuery {
    source: Option<String>,
    outcome: Option<String>,
    limit: Option<usize>,
}

/// `GET /api/deliveries`
pub(crate) async fn deliveries(
    State(admin): State<Admin>,
    Query(query): Query<ListQuery>,
) -> Response {
    let limit = query.limit.unwrap_or(100).min(MAX_LIST);
    let entries =
        admin
            .inner
            .recorder
            .recent(query.source.as_deref(), query.outcome.as_deref(), limit);
    Json(json!({ "deliveries": entries.iter().map(summary).collect::<Vec<_>>() })).into_response()
}

#[derive(Debug, Deserialize)]
pub(crate) struct DetailQuery {
    #[serde(default)]
    body: bool,
}

/// `GET /api/deliveries/{seq}`
pub(crate) async fn delivery(
    State(admin): State<Admin>,
    Path(seq): Path<u64>,
    Query(query): Query<DetailQuery>,
) -> Response {
    let Some(entry) = admin.inner.recorder.get(seq) else {
        return problem(
            StatusCode::NOT_FOUND,
            "no such delivery among the recent ones (the ring keeps the last N)",
        );
    };
    Json(detail(&entry, query.body)).into_response()
}

pub(crate) fn detail(entry: &Entry, with_body: bool) -> Value {
    let mut value = summary(entry);
    value["headers"] = entry
        .headers()
        .iter()
        .map(|(name, value)| json!([name, value]))
        .collect();
    if with_body {
        let body = entry.body().unwrap_or_default();
        let (text, encoding) = body_text(body);
        value["body"] = json!(entry.body().map(|_| text));
        value["body_encoding"] = json!(encoding);
        value["body_truncated"] = json!(body.len() < entry.body_len);
    }
    value
}

#[derive(Debug, Deserialize)]
pub(crate) struct DeadQuery {
    source: Option<String>,
    limit: Option<usize>,
}

/// `GET /api/dead-letters`
pub(crate) async fn dead_letters(
    State(admin): State<Admin>,
    Query(query): Query<DeadQuery>,
) -> Response {
    let limit = query.limit.unwrap_or(100).min(MAX_LIST);
    match admin.dead_letters(query.source.as_deref(), limit).await {
        Ok(list) => Json(json!({ "dead_letters": list })).into_response(),
        Err(error) => queue_problem(&error),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct ReplayOne {
    source: String,
    delivery_id: String,
}

/// `POST /api/dead-letters/replay`
pub(crate) async fn replay_one(
    State(admin): State<Admin>,
    Json(body): Json<ReplayOne>,
) -> Response {
    let key = DeliveryKey::new(body.source, body.delivery_id);
    match admin.inner.queue.replay(Replay::One(key)).await {
        Ok(replayed) => Json(json!({ "replayed": replayed })).into_response(),
        Err(error) => queue_problem(&error),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct ReplaySelection {
    pub(crate) source: Option<String>,
    pub(crate) since: Option<String>,
}

/// `POST /api/dead-letters/replay-selection`
pub(crate) async fn replay_selection(
    State(admin): State<Admin>,
    Json(body): Json<ReplaySelection>,
) -> Response {
    let since = match body
        .since
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(parse_rfc3339)
    {
        None => None,
        Some(Ok(since)) => Some(since),
        Some(Err(expected)) => {
            return problem(StatusCode::BAD_REQUEST, &format!("since: {expected}"));
        }
    };
    let source = body.source.as_deref().filter(|s| !s.is_empty());
    match admin.replay_selection(source, since).await {
        Ok(replayed) => Json(json!({ "replayed": replayed })).into_response(),
        Err(error) => queue_problem(&error),
    }
}

/// `GET /api/stats`
pub(crate) async fn stats(State(admin): State<Admin>) -> Response {
    match admin.inner.queue.stats().await {
        Ok(stats) => {
            admin.inner.recorder.sample_depth(stats.depth());
            Json(json!({
                "depth": stats.depth(),
                "ready": stats.ready,
                "scheduled": stats.scheduled,
                "leased": stats.leased,
                "dead": stats.dead,
                "oldest_ready_age_seconds": stats.oldest_ready_age.map(|age| age.as_secs_f64()),
            }))
            .into_response()
        }
        Err(error) => queue_problem(&error),
    }
}

pub(crate) fn source_counts(admin: &Admin) -> Vec<Value> {
    admin
        .inner
        .recorder
        .counts()
        .into_iter()
        .map(|(name, counts)| {
            let mut by_kind = serde_json::Map::new();
            for (kind, count) in EventKind::ALL.iter().zip(counts) {
                by_kind.insert(kind.as_str().to_owned(), json!(count));
            }
            json!({ "source": &*name, "counts": by_kind })
        })
        .collect()
}

/// `GET /api/sources`
pub(crate) async fn sources(State(admin): State<Admin>) -> Response {
    Json(json!({ "sources": source_counts(&admin) })).into_response()
}

fn minute_json(minute: &Minute) -> Value {
    let start = UNIX_EPOCH + Duration::from_secs(minute.minute * 60);
    json!({
        "start": rfc3339(start),
        "received": minute.received,
        "processed": minute.processed,
        "depth": minute.depth,
    })
}

/// `GET /api/history`
pub(crate) async fn history(State(admin): State<Admin>) -> Response {
    let minutes = admin.inner.recorder.history();
    Json(json!({ "minutes": minutes.iter().map(minute_json).collect::<Vec<_>>() })).into_response()
}

#[derive(Debug, Deserialize)]
pub(crate) struct EventsQuery {
    source: Option<String>,
}

/// How long the stream lets events gather before writing them: one write,
/// and one wake-up of the stream's task, per this period instead of per
/// event (two per delivery). Short for a person watching.
pub(crate) const GATHER: Duration = Duration::from_millis(20);
/// The most bytes of events one write carries (the rest follow at once).
const MAX_FRAME: usize = 64 * 1024;
/// The most events taken from the log under one lock.
const READ_BATCH: usize = 64;
/// The least capacity a frame starts with.
const MIN_FRAME: usize = 4 * 1024;
/// A comment line goes out on a stream with nothing written for a whole
/// tick of this period (so never more than twice this long without a
/// write), so proxies keep it open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// One subscriber's stream.
struct Subscriber {
    subscription: Subscription,
    /// The events of one read, written then dropped.
    batch: Vec<StreamEvent>,
    source: Option<Arc<str>>,
    times: Rfc3339Writer,
    /// Raised by [`Admin::close_streams`](crate::Admin::close_streams).
    closed: watch::Receiver<bool>,
    /// The last frame went out after the close: the stream ends.
    ended: bool,
    /// Ticks every [`KEEP_ALIVE`]: a comment goes out if nothing else did.
    keep_alive: tokio::time::Interval,
    /// Whether a frame went out since the last tick.
    wrote: bool,
    /// The capacity to start the next frame with.
    frame_hint: usize,
}

/// Completes once the streams are closed (or the admin is gone).
async fn closing(closed: &mut watch::Receiver<bool>) {
    let _ = closed.wait_for(|closed| *closed).await;
}

impl Subscriber {
    /// Appends `told` as one event, unless filtered out.
    fn write(&mut self, out: &mut Vec<u8>, told: &StreamEvent) {
        if self.source.as_ref().is_some_and(|s| *s != told.source) {
            return;
        }
        out.extend_from_slice(b"data: ");
        // JSON escapes line breaks: the event is one `data:` line.
        told.write_json(out, &mut self.times);
        out.extend_from_slice(b"\n\n");
    }

    fn write_lagged(out: &mut Vec<u8>, missed: u64) {
        out.extend_from_slice(format!("event: lagged\ndata: {missed}\n\n").as_bytes());
    }

    /// Appends the events already waiting, up to [`MAX_FRAME`].
    fn drain(&mut self, out: &mut Vec<u8>) {
        let mut batch = std::mem::take(&mut self.batch);
        while out.len() < MAX_FRAME {
            if let Some(missed) = self.subscription.read(&mut batch, READ_BATCH) {
                Self::write_lagged(out, missed);
            }
            if batch.is_empty() {
                break;
            }
            for told in batch.drain(..) {
                self.write(out, &told);
            }
        }
        self.batch = batch;
    }

    /// The next write: the events that gathered, or a keep-alive comment;
    /// `None` once the streams are closed (after a last frame with what
    /// had gathered).
    async fn next_frame(&mut self) -> Option<Bytes> {
        if self.ended {
            return None;
        }
        // Room for a frame like the last one at once, without reserving a
        // full frame's worth for a few events.
        let mut out = Vec::with_capacity(self.frame_hint);
        loop {
            // What is already there (the rest of a full frame) goes at once.
            self.drain(&mut out);
            if *self.closed.borrow() {
                // Closed: what gathered is the last frame.
                self.ended = true;
                return (!out.is_empty()).then(|| self.frame(out));
            }
            if !out.is_empty() {
                return Some(self.frame(out));
            }
            tokio::select! {
                () = closing(&mut self.closed) => continue,
                // One timer for the stream's life, not one per frame.
                _ = self.keep_alive.tick() => {
                    if !std::mem::take(&mut self.wrote) {
                        return Some(Bytes::from_static(b":\n\n"));
                    }
                    continue;
                }
                () = self.subscription.changed() => {}
            }
            // Events gather while it sleeps; meanwhile it waits for none, so
            // the request path wakes nobody.
            tokio::select! {
                () = tokio::time::sleep(GATHER) => {}
                () = closing(&mut self.closed) => {}
            }
        }
    }

    /// `out` as a frame to write; notes its size for the next one.
    fn frame(&mut self, out: Vec<u8>) -> Bytes {
        self.wrote = true;
        self.frame_hint = (out.len() + out.len() / 2).clamp(MIN_FRAME, MAX_FRAME + 1024);
        Bytes::from(out)
    }
}

/// `GET /api/events`: Server-Sent Events, one `data:` line of JSON per
/// delivery event; a subscriber that falls too far behind is told how many
/// it missed (`event: lagged`). The events of a few milliseconds
/// ([`GATHER`]) go out in one write.
pub(crate) async fn events(
    State(admin): State<Admin>,
    Query(query): Query<EventsQuery>,
) -> Response {
    let subscriber = Subscriber {
        subscription: admin.inner.recorder.subscribe(),
        batch: Vec::new(),
        source: query.source.map(Arc::from),
        times: Rfc3339Writer::default(),
        closed: admin.inner.closed.subscribe(),
        ended: false,
        keep_alive: {
            let start = tokio::time::Instant::now() + KEEP_ALIVE;
            let mut tick = tokio::time::interval_at(start, KEEP_ALIVE);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick
        },
        wrote: false,
        frame_hint: MIN_FRAME,
    };
    let frames = futures_util::stream::unfold(subscriber, |mut subscriber| async move {
        let frame = subscriber.next_frame().await?;
        Some((Ok::<_, Infallible>(frame), subscriber))
    });
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(frames),
    )
        .into_response()
}

/// `GET /openapi.json`
pub(crate) async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], crate::OPENAPI).into_response()
}

/// `since` to `now`, for a replay of everything received since then.
pub(crate) fn since_until_now(since: SystemTime) -> Replay {
    // A minute ahead: what arrives while replaying is not a dead letter yet.
    let to = SystemTime::now() + Duration::from_secs(60);
    Replay::ReceivedBetween { from: since, to }
}
