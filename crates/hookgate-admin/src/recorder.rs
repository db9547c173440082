//! The observer behind the admin API: a ring of recent deliveries,
//! counters per source, an hour of per-minute history, and the live stream.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque, hash_map};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hookgate_queue::observe::{DeliveryEvent, EventKind, Observer};
use serde::Serialize;
use tokio::sync::broadcast;

use crate::time::{Rfc3339, Rfc3339Writer};

/// How many minutes of history the chart keeps.
pub(crate) const HISTORY_MINUTES: usize = 60;
/// Events a slow stream subscriber may fall behind by before it misses some.
/// The stream writes what gathered every few milliseconds
/// ([`crate::api::GATHER`]): at 20,000 events a second that is a few hundred.
const STREAM_BACKLOG: usize = 4096;

/// One event as the stream and `hookgate tail` see it.
///
/// Built on the request path, so it holds what it was told as is (shared
/// strings, times as `SystemTime`): the JSON, times in RFC 3339 included, is
/// written by the stream's own task, only for a subscriber.
#[derive(Debug, Clone)]
pub(crate) struct StreamEvent {
    /// The ring entry it belongs to, when it has one (not for `received`).
    pub(crate) seq: Option<u64>,
    pub(crate) kind: EventKind,
    pub(crate) source: Arc<str>,
    pub(crate) delivery_id: Option<Arc<str>>,
    pub(crate) event: Option<Arc<str>>,
    pub(crate) outcome: Option<&'static str>,
    pub(crate) reason: Option<&'static str>,
    pub(crate) status: Option<u16>,
    pub(crate) latency: Option<Duration>,
    pub(crate) attempt: Option<u32>,
    pub(crate) error: Option<Arc<str>>,
    pub(crate) retry_at: Option<SystemTime>,
    pub(crate) at: SystemTime,
}

impl StreamEvent {
    /// Appends the event as one line of JSON to `out`, the fields in the
    /// order `openapi.json` lists them; `times` formats its times.
    ///
    /// Written by hand rather than through `Serialize`: the stream writes
    /// two of these per delivery, and most of their strings are names
    /// known to need no escaping. What a sender controls goes through
    /// [`json_str`] all the same.
    pub(crate) fn write_json(&self, out: &mut Vec<u8>, times: &mut Rfc3339Writer) {
        out.extend_from_slice(b"{\"seq\":");
        json_number(out, self.seq);
        out.extend_from_slice(b",\"kind\":");
        json_name(out, Some(self.kind.as_str()));
        out.extend_from_slice(b",\"source\":");
        json_str(out, Some(&self.source));
        out.extend_from_slice(b",\"delivery_id\":");
        json_str(out, self.delivery_id.as_deref());
        out.extend_from_slice(b",\"event\":");
        json_str(out, self.event.as_deref());
        out.extend_from_slice(b",\"outcome\":");
        json_name(out, self.outcome);
        out.extend_from_slice(b",\"reason\":");
        json_name(out, self.reason);
        out.extend_from_slice(b",\"status\":");
        json_number(out, self.status);
        out.extend_from_slice(b",\"latency_ms\":");
        json_number(out, self.latency.map(|l| l.as_secs_f64() * 1000.0));
        out.extend_from_slice(b",\"attempt\":");
        json_number(out, self.attempt);
        out.extend_from_slice(b",\"error\":");
        json_str(out, self.error.as_deref());
        out.extend_from_slice(b",\"retry_at\":");
        let retry_at = self.retry_at.map(|at| times.format(at));
        json_name(out, retry_at.as_ref().map(Rfc3339::as_bytes));
        out.extend_from_slice(b",\"at\":");
        json_name(out, Some(times.format(self.at).as_bytes()));
        out.push(b'}');
    }
}

/// Appends `value` as a JSON string, or `null`, exactly as `serde_json`
/// writes it: a string with nothing to escape is copied as it is.
fn json_str(out: &mut Vec<u8>, value: Option<&str>) {
    match value {
        None => out.extend_from_slice(b"null"),
        Some(text) if !text.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') => {
            out.push(b'"');
            out.extend_from_slice(text.as_bytes());
            out.push(b'"');
        }
        // Writing to a Vec cannot fail.
        Some(text) => {
            let _ = serde_json::to_writer(out, text);
        }
    }
}

/// Appends `value`, one of our own names or times (ASCII letters, digits,
/// `_`, `-`, `:`, `.`: nothing to escape), as a JSON string, or `null`.
fn json_name(out: &mut Vec<u8>, value: Option<impl AsRef<[u8]>>) {
    match value {
        None => out.extend_from_slice(b"null"),
        Some(name) => {
            out.push(b'"');
            out.extend_from_slice(name.as_ref());
            out.push(b'"');
        }
    }
}

/// Appends a number as `serde_json` writes it, or `null`.
fn json_number<N: Serialize>(out: &mut Vec<u8>, value: Option<N>) {
    // Writing a number to a Vec cannot fail (a NaN is written `null`).
    let _ = serde_json::to_writer(out, &value);
}

/// A delivery's headers as kept in the ring: `name: value` lines in one
/// buffer (one allocation and copy, instead of two strings a header), the
/// values as received and decoded only when read. Unambiguous: `http`
/// refuses line breaks in names and values, and `:` in names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct HeaderLines(Vec<u8>);

impl HeaderLines {
    fn new(headers: &http::HeaderMap) -> Self {
        let len = headers
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len() + 3)
            .sum();
        let mut lines = Vec::with_capacity(len);
        for (name, value) in headers {
            lines.extend_from_slice(name.as_str().as_bytes());
            lines.extend_from_slice(b": ");
            lines.extend_from_slice(value.as_bytes());
            lines.push(b'\n');
        }
        Self(lines)
    }

    /// The headers' names and values (decoded lossily), in the order received.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> {
        self.0.split(|b| *b == b'\n').filter_map(|line| {
            let colon = line.iter().position(|b| *b == b':')?;
            let value = line[colon + 1..].strip_prefix(b" ")?;
            Some((
                String::from_utf8_lossy(&line[..colon]),
                String::from_utf8_lossy(value),
            ))
        })
    }
}

/// A delivery in the ring.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) seq: u64,
    pub(crate) source: Arc<str>,
    pub(crate) delivery_id: Option<Arc<str>>,
    pub(crate) event: Option<Arc<str>>,
    /// The latest event's kind: `refused`, `queued`, `processed` ...
    pub(crate) outcome: &'static str,
    pub(crate) reason: Option<&'static str>,
    pub(crate) status: Option<u16>,
    pub(crate) latency: Option<Duration>,
    pub(crate) attempts: u32,
    pub(crate) last_error: Option<Arc<str>>,
    pub(crate) received_at: SystemTime,
    pub(crate) updated_at: SystemTime,
    /// Header names and values, credentials removed (by the receiver).
    pub(crate) headers: HeaderLines,
    pub(crate) body: Option<Bytes>,
    pub(crate) body_len: usize,
}

/// Counts by event kind, in [`EventKind::ALL`]'s order.
pub(crate) type Counts = [u64; EventKind::ALL.len()];

/// One minute of history.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Minute {
    /// Minutes since the Unix epoch.
    pub(crate) minute: u64,
    pub(crate) received: u64,
    pub(crate) processed: u64,
    /// The last queue depth sampled during the minute.
    pub(crate) depth: Option<u64>,
}

/// What the recorder keeps per source.
#[derive(Debug)]
struct SourceState {
    name: Arc<str>,
    counts: Counts,
    /// Delivery id to the seq of its newest entry, for the worker's events
    /// (looked up by `&str`: no allocation per lookup).
    by_id: HashMap<Arc<str>, u64>,
}

#[derive(Debug)]
struct State {
    next_seq: u64,
    ring: VecDeque<Entry>,
    /// A handful, named by the configuration: a scan beats hashing the name
    /// (twice per request).
    sources: Vec<SourceState>,
    history: VecDeque<Minute>,
}

/// Records delivery events; see the crate docs.
///
/// [`Observer::observe`] runs on the request path: under one short lock it
/// counts, and for a decision copies what the ring keeps (the body up to the
/// limit, the headers as one string); for a stream subscriber it hands the
/// stream a [`StreamEvent`] sharing those strings. Formatting (JSON, RFC 3339)
/// is the stream task's work, done only when someone listens.
#[derive(Debug)]
pub(crate) struct Recorder {
    state: Mutex<State>,
    capacity: usize,
    body_limit: usize,
    /// Events by value, not in an `Arc`: a subscriber's copy costs a few
    /// reference counts, less than an allocation per event.
    stream: broadcast::Sender<StreamEvent>,
}

fn kind_index(kind: EventKind) -> usize {
    EventKind::ALL
        .iter()
        .position(|k| *k == kind)
        .unwrap_or_default()
}

fn minute_of(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() / 60
}

/// The strings of an event that the ring and the stream share.
#[derive(Debug, Default)]
struct Shared {
    seq: Option<u64>,
    delivery_id: Option<Arc<str>>,
    event: Option<Arc<str>>,
    error: Option<Arc<str>>,
}

impl Recorder {
    pub(crate) fn new(sources: &[String], capacity: usize, body_limit: usize) -> Self {
        let sources = sources.iter().map(|name| SourceState::new(name)).collect();
        Self {
            state: Mutex::new(State {
                next_seq: 1,
                ring: VecDeque::with_capacity(capacity.min(4096)),
                sources,
                history: VecDeque::with_capacity(HISTORY_MINUTES),
            }),
            capacity: capacity.max(1),
            body_limit,
            stream: broadcast::channel(STREAM_BACKLOG).0,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves counters, never broken invariants.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new subscriber to the live stream.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<StreamEvent> {
        self.stream.subscribe()
    }

    /// The newest entries first, filtered.
    pub(crate) fn recent(
        &self,
        source: Option<&str>,
        outcome: Option<&str>,
        limit: usize,
    ) -> Vec<Entry> {
        let state = self.lock();
        state
            .ring
            .iter()
            .rev()
            .filter(|e| source.is_none_or(|s| *e.source == *s))
            .filter(|e| outcome.is_none_or(|o| e.outcome == o))
            .take(limit)
            .cloned()
            .collect()
    }

    /// The entry `seq`, while it is in the ring.
    pub(crate) fn get(&self, seq: u64) -> Option<Entry> {
        let state = self.lock();
        // Seqs increase along the ring: find it by its distance from the front.
        let first = state.ring.front()?.seq;
        let entry = state
            .ring
            .get(usize::try_from(seq.checked_sub(first)?).ok()?)?;
        (entry.seq == seq).then(|| entry.clone())
    }

    /// Counts per source, sorted by name.
    pub(crate) fn counts(&self) -> Vec<(Arc<str>, Counts)> {
        let state = self.lock();
        let mut counts: Vec<_> = state
            .sources
            .iter()
            .map(|source| (Arc::clone(&source.name), source.counts))
            .collect();
        counts.sort_by(|a, b| a.0.cmp(&b.0));
        counts
    }

    /// The last hour, oldest first, a minute each (minutes with nothing are
    /// left out).
    pub(crate) fn history(&self) -> Vec<Minute> {
        let now = minute_of(SystemTime::now());
        let state = self.lock();
        state
            .history
            .iter()
            .filter(|m| m.minute + HISTORY_MINUTES as u64 > now)
            .copied()
            .collect()
    }

    /// Notes the queue's depth in this minute's history.
    pub(crate) fn sample_depth(&self, depth: u64) {
        let mut state = self.lock();
        state.minute(SystemTime::now()).depth = Some(depth);
    }

    /// Counts `event` and applies it to the ring; returns the source's name
    /// and what the stream shares with the ring.
    fn record(&self, event: &DeliveryEvent<'_>, now: SystemTime) -> (Arc<str>, Shared) {
        let mut state = self.lock();
        let by_source = state.source_mut(event.source);
        by_source.counts[kind_index(event.kind)] += 1;
        let source = Arc::clone(&by_source.name);
        let shared = match event.kind {
            EventKind::Received => {
                state.minute(now).received += 1;
                Shared::default()
            }
            EventKind::Processed | EventKind::RetryScheduled | EventKind::DeadLettered => {
                if event.kind == EventKind::Processed {
                    state.minute(now).processed += 1;
                }
                state.update(event, now)
            }
            _ => self.push(&mut state, &source, event, now),
        };
        (source, shared)
    }

    /// A new ring entry for a decision of the receiving side.
    fn push(
        &self,
        state: &mut State,
        source: &Arc<str>,
        event: &DeliveryEvent<'_>,
        now: SystemTime,
    ) -> Shared {
        let seq = state.next_seq;
        state.next_seq += 1;
        let delivery_id = event.delivery_id.map(Arc::<str>::from);
        let event_name = event.event_name.map(Arc::<str>::from);
        let error = event.error.map(Arc::<str>::from);
        // A copy, not a share: the body may be a slice of the server's read
        // buffer, which a kept slice would keep whole.
        let body = event
            .body
            .map(|body| Bytes::copy_from_slice(&body[..body.len().min(self.body_limit)]));
        if let Some(id) = &delivery_id {
            state.source_mut(source).by_id.insert(Arc::clone(id), seq);
        }
        if state.ring.len() == self.capacity
            && let Some(old) = state.ring.pop_front()
            && let Some(id) = old.delivery_id
            && let hash_map::Entry::Occupied(newest) = state.source_mut(&old.source).by_id.entry(id)
            && *newest.get() == old.seq
        {
            newest.remove();
        }
        state.ring.push_back(Entry {
            seq,
            source: Arc::clone(source),
            delivery_id: delivery_id.clone(),
            event: event_name.clone(),
            outcome: event.kind.as_str(),
            reason: event.reason,
            status: event.status,
            latency: event.latency,
            attempts: 0,
            last_error: error.clone(),
            received_at: now,
            updated_at: now,
            headers: event.headers.map(HeaderLines::new).unwrap_or_default(),
            body_len: event.body.map_or(0, Bytes::len),
            body,
        });
        Shared {
            seq: Some(seq),
            delivery_id,
            event: event_name,
            error,
        }
    }

    /// Hands an event to the live stream.
    fn publish(&self, event: &DeliveryEvent<'_>, source: Arc<str>, shared: Shared, at: SystemTime) {
        // What the ring did not keep is copied now (a worker's event for a
        // delivery no longer in the ring, or its name).
        let told = StreamEvent {
            seq: shared.seq,
            kind: event.kind,
            source,
            delivery_id: shared
                .delivery_id
                .or_else(|| event.delivery_id.map(Arc::from)),
            event: shared.event.or_else(|| event.event_name.map(Arc::from)),
            outcome: event.outcome,
            reason: event.reason,
            status: event.status,
            latency: event.latency,
            attempt: event.attempt,
            error: shared.error.or_else(|| event.error.map(Arc::from)),
            retry_at: event.retry_at,
            at,
        };
        // Only fails when the last subscriber left meanwhile.
        let _ = self.stream.send(told);
    }
}

impl SourceState {
    fn new(name: &str) -> Self {
        Self {
            name: Arc::from(name),
            counts: Counts::default(),
            by_id: HashMap::new(),
        }
    }
}

impl State {
    /// What is kept for `name`, added when it is new.
    fn source_mut(&mut self, name: &str) -> &mut SourceState {
        let at = match self.sources.iter().position(|s| *s.name == *name) {
            Some(at) => at,
            None => {
                self.sources.push(SourceState::new(name));
                self.sources.len() - 1
            }
        };
        &mut self.sources[at]
    }

    /// This minute's history, started when it is new; older than an hour is dropped.
    fn minute(&mut self, now: SystemTime) -> &mut Minute {
        let minute = minute_of(now);
        if self.history.back().is_none_or(|m| m.minute != minute) {
            while self.history.len() >= HISTORY_MINUTES
                || self
                    .history
                    .front()
                    .is_some_and(|m| m.minute + HISTORY_MINUTES as u64 <= minute)
            {
                self.history.pop_front();
            }
            self.history.push_back(Minute {
                minute,
                ..Minute::default()
            });
        }
        self.history.back_mut().expect("just pushed")
    }

    /// Applies a worker's event to the delivery's entry, if it is still in the ring.
    fn update(&mut self, event: &DeliveryEvent<'_>, now: SystemTime) -> Shared {
        let Some(seq) = event
            .delivery_id
            .and_then(|id| self.source_mut(event.source).by_id.get(id).copied())
        else {
            return Shared::default();
        };
        // Seqs increase along the ring: find it by its distance from the front.
        let Some(entry) = self
            .ring
            .front()
            .and_then(|first| usize::try_from(seq.checked_sub(first.seq)?).ok())
            .and_then(|at| self.ring.get_mut(at))
        else {
            return Shared::default();
        };
        entry.outcome = event.kind.as_str();
        entry.attempts = entry.attempts.max(event.attempt.unwrap_or_default());
        let error = event.error.map(Arc::<str>::from);
        if let Some(error) = &error {
            entry.last_error = Some(Arc::clone(error));
        }
        entry.updated_at = now;
        // The event's name as the worker tells it (the stream says what it was told).
        Shared {
            seq: Some(seq),
            delivery_id: entry.delivery_id.clone(),
            event: None,
            error,
        }
    }
}

impl Observer for Recorder {
    fn observe(&self, event: &DeliveryEvent<'_>) {
        let now = SystemTime::now();
        let (source, shared) = self.record(event, now);
        // Without a subscriber the stream event is not even built.
        if self.stream.receiver_count() > 0 {
            self.publish(event, source, shared, now);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn queued<'a>(id: &'a str, headers: &'a http::HeaderMap, body: &'a Bytes) -> DeliveryEvent<'a> {
        let mut event = DeliveryEvent::new(EventKind::Queued, "github");
        event.delivery_id = Some(id);
        event.headers = Some(headers);
        event.body = Some(body);
        event
    }

    #[test]
    fn stream_json_is_what_serde_json_writes_with_every_value_escaped() {
        let at = UNIX_EPOCH + Duration::from_millis(1_764_768_000_250);
        let hostile = "a \"quoted\" </script>\n\\ \u{1} é";
        let told = StreamEvent {
            seq: Some(7),
            kind: EventKind::Refused,
            source: Arc::from("github"),
            delivery_id: Some(Arc::from(hostile)),
            event: None,
            outcome: None,
            reason: Some("unauthenticated"),
            status: Some(401),
            latency: Some(Duration::from_micros(1_500)),
            attempt: None,
            error: Some(Arc::from("bad\tsignature")),
            retry_at: Some(at + Duration::from_secs(1)),
            at,
        };
        let mut out = Vec::new();
        told.write_json(&mut out, &mut Rfc3339Writer::default());
        let text = String::from_utf8(out).unwrap();
        assert!(!text.contains('\n'), "one data: line: {text}");
        let written: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            written,
            json!({
                "seq": 7, "kind": "refused", "source": "github",
                "delivery_id": hostile, "event": null, "outcome": null,
                "reason": "unauthenticated", "status": 401, "latency_ms": 1.5,
                "attempt": null, "error": "bad\tsignature",
                "retry_at": "2025-12-03T13:20:01.25Z", "at": "2025-12-03T13:20:00.25Z",
            })
        );
        // Byte for byte as serde_json writes each value.
        assert!(text.contains(&format!(
            "\"delivery_id\":{}",
            serde_json::to_string(hostile).unwrap()
        )));
    }

    #[test]
    fn header_lines_keep_names_and_values_in_order() {
        let mut headers = http::HeaderMap::new();
        headers.insert("x-github-event", "issues".parse().unwrap());
        headers.append("x-multi", "one: two".parse().unwrap());
        headers.append("x-multi", "".parse().unwrap());
        headers.insert(
            "x-bytes",
            http::HeaderValue::from_bytes(b"caf\xe9").unwrap(),
        );
        let lines = HeaderLines::new(&headers);
        assert_eq!(
            lines
                .iter()
                .map(|(name, value)| (name.into_owned(), value.into_owned()))
                .collect::<Vec<_>>(),
            [
                ("x-github-event", "issues"),
                ("x-multi", "one: two"),
                ("x-multi", ""),
                ("x-bytes", "caf\u{fffd}"),
            ]
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
        );
    }

    #[test]
    fn the_ring_keeps_the_last_n_and_finds_them_for_the_workers_events() {
        let recorder = Recorder::new(&["github".to_owned()], 2, 4);
        let headers = http::HeaderMap::new();
        let body = Bytes::from_static(b"0123456789");
        for id in ["a", "b", "c"] {
            recorder.observe(&queued(id, &headers, &body));
        }
        let recent = recorder.recent(None, None, 10);
        let ids: Vec<_> = recent.iter().map(|e| e.delivery_id.as_deref()).collect();
        assert_eq!(ids, [Some("c"), Some("b")]);
        assert_eq!(recent[0].body.as_deref(), Some(&b"0123"[..]), "cut");
        assert_eq!(recent[0].body_len, 10);

        let mut processed = DeliveryEvent::new(EventKind::Processed, "github");
        processed.attempt = Some(2);
        for id in ["a", "b"] {
            processed.delivery_id = Some(id);
            recorder.observe(&processed);
        }
        // "a" left the ring (and its index): only "b" changed.
        let state = recorder.lock();
        assert_eq!(state.sources[0].by_id.len(), 2);
        assert!(!state.sources[0].by_id.contains_key("a"));
        drop(state);
        let b = recorder.get(2).unwrap();
        assert_eq!((b.outcome, b.attempts), ("processed", 2));
        assert_eq!(recorder.get(3).unwrap().outcome, "queued");
        let counts = recorder.counts();
        assert_eq!(counts[0].1[kind_index(EventKind::Processed)], 2);
    }
}
