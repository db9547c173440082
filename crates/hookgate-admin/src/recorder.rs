//! The observer behind the admin API: a ring of recent deliveries,
//! counters per source, an hour of per-minute history, and the live stream.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hookgate_queue::observe::{DeliveryEvent, EventKind, Observer};
use serde::Serialize;
use tokio::sync::broadcast;

use crate::time::rfc3339;

/// How many minutes of history the chart keeps.
pub(crate) const HISTORY_MINUTES: usize = 60;
/// Events a slow stream subscriber may fall behind by before it misses some.
const STREAM_BACKLOG: usize = 1024;

/// One event as the stream and `hookgate tail` see it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct StreamEvent {
    /// The ring entry it belongs to, when it has one (not for `received`).
    pub(crate) seq: Option<u64>,
    pub(crate) kind: &'static str,
    #[serde(serialize_with = "as_str")]
    pub(crate) source: Arc<str>,
    pub(crate) delivery_id: Option<String>,
    pub(crate) event: Option<String>,
    pub(crate) outcome: Option<&'static str>,
    pub(crate) reason: Option<&'static str>,
    pub(crate) status: Option<u16>,
    pub(crate) latency_ms: Option<f64>,
    pub(crate) attempt: Option<u32>,
    pub(crate) error: Option<String>,
    pub(crate) retry_at: Option<String>,
    pub(crate) at: String,
}

fn as_str<S: serde::Serializer>(value: &Arc<str>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(value)
}

/// A delivery in the ring.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) seq: u64,
    pub(crate) source: Arc<str>,
    pub(crate) delivery_id: Option<String>,
    pub(crate) event: Option<String>,
    /// The latest event's kind: `refused`, `queued`, `processed` ...
    pub(crate) outcome: &'static str,
    pub(crate) reason: Option<&'static str>,
    pub(crate) status: Option<u16>,
    pub(crate) latency: Option<Duration>,
    pub(crate) attempts: u32,
    pub(crate) last_error: Option<String>,
    pub(crate) received_at: SystemTime,
    pub(crate) updated_at: SystemTime,
    /// Header names and values (values lossily decoded), credentials removed.
    pub(crate) headers: Vec<(String, String)>,
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

#[derive(Debug)]
struct State {
    next_seq: u64,
    ring: VecDeque<Entry>,
    /// `(source, delivery id)` to the seq of its newest entry, for the worker's events.
    by_key: HashMap<(Arc<str>, String), u64>,
    counts: HashMap<Arc<str>, Counts>,
    history: VecDeque<Minute>,
}

/// Records delivery events; see the crate docs.
#[derive(Debug)]
pub(crate) struct Recorder {
    state: Mutex<State>,
    capacity: usize,
    body_limit: usize,
    stream: broadcast::Sender<Arc<StreamEvent>>,
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

impl Recorder {
    pub(crate) fn new(sources: &[String], capacity: usize, body_limit: usize) -> Self {
        let counts = sources
            .iter()
            .map(|name| (Arc::from(name.as_str()), Counts::default()))
            .collect();
        Self {
            state: Mutex::new(State {
                next_seq: 1,
                ring: VecDeque::with_capacity(capacity.min(4096)),
                by_key: HashMap::new(),
                counts,
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
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Arc<StreamEvent>> {
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
            .counts
            .iter()
            .map(|(name, counts)| (Arc::clone(name), *counts))
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

    fn record(&self, event: &DeliveryEvent<'_>, now: SystemTime) -> Option<u64> {
        let mut state = self.lock();
        let State { counts, .. } = &mut *state;
        match counts.get_mut(event.source) {
            Some(counts) => counts[kind_index(event.kind)] += 1,
            None => {
                let mut fresh = Counts::default();
                fresh[kind_index(event.kind)] += 1;
                counts.insert(Arc::from(event.source), fresh);
            }
        }
        match event.kind {
            EventKind::Received => {
                state.minute(now).received += 1;
                None
            }
            EventKind::Processed | EventKind::RetryScheduled | EventKind::DeadLettered => {
                if event.kind == EventKind::Processed {
                    state.minute(now).processed += 1;
                }
                state.update(event, now)
            }
            _ => Some(self.push(&mut state, event, now)),
        }
    }

    /// A new ring entry for a decision of the receiving side.
    fn push(&self, state: &mut State, event: &DeliveryEvent<'_>, now: SystemTime) -> u64 {
        let seq = state.next_seq;
        state.next_seq += 1;
        let source = state
            .counts
            .get_key_value(event.source)
            .map_or_else(|| Arc::from(event.source), |(name, _)| Arc::clone(name));
        let headers = event.headers.map_or_else(Vec::new, |headers| {
            headers
                .iter()
                .map(|(name, value)| {
                    let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                    (name.as_str().to_owned(), value)
                })
                .collect()
        });
        // A copy: the body may be a slice of the server's read buffer.
        let body = event
            .body
            .map(|body| Bytes::copy_from_slice(&body[..body.len().min(self.body_limit)]));
        let entry = Entry {
            seq,
            source: Arc::clone(&source),
            delivery_id: event.delivery_id.map(str::to_owned),
            event: event.event_name.map(str::to_owned),
            outcome: event.kind.as_str(),
            reason: event.reason,
            status: event.status,
            latency: event.latency,
            attempts: 0,
            last_error: event.error.map(str::to_owned),
            received_at: now,
            updated_at: now,
            headers,
            body_len: event.body.map_or(0, Bytes::len),
            body,
        };
        if let Some(id) = &entry.delivery_id {
            state.by_key.insert((source, id.clone()), seq);
        }
        if state.ring.len() == self.capacity
            && let Some(old) = state.ring.pop_front()
            && let Some(id) = old.delivery_id
        {
            let key = (old.source, id);
            if state.by_key.get(&key) == Some(&old.seq) {
                state.by_key.remove(&key);
            }
        }
        state.ring.push_back(entry);
        seq
    }

    /// Publishes an event to the live stream, if anyone listens.
    fn publish(&self, event: &DeliveryEvent<'_>, seq: Option<u64>, now: SystemTime) {
        if self.stream.receiver_count() == 0 {
            return;
        }
        let told = StreamEvent {
            seq,
            kind: event.kind.as_str(),
            source: Arc::from(event.source),
            delivery_id: event.delivery_id.map(str::to_owned),
            event: event.event_name.map(str::to_owned),
            outcome: event.outcome,
            reason: event.reason,
            status: event.status,
            latency_ms: event.latency.map(|l| l.as_secs_f64() * 1000.0),
            attempt: event.attempt,
            error: event.error.map(str::to_owned),
            retry_at: event.retry_at.map(rfc3339),
            at: rfc3339(now),
        };
        // Only fails when the last subscriber left meanwhile.
        let _ = self.stream.send(Arc::new(told));
    }
}

impl State {
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
    fn update(&mut self, event: &DeliveryEvent<'_>, now: SystemTime) -> Option<u64> {
        let id = event.delivery_id?;
        // The lookup key borrows nothing: the map's keys are owned.
        let seq = *self.by_key.get(&(Arc::from(event.source), id.to_owned()))?;
        let first = self.ring.front()?.seq;
        let entry = self.ring.get_mut(usize::try_from(seq - first).ok()?)?;
        entry.outcome = event.kind.as_str();
        entry.attempts = entry.attempts.max(event.attempt.unwrap_or_default());
        if let Some(error) = event.error {
            entry.last_error = Some(error.to_owned());
        }
        entry.updated_at = now;
        Some(seq)
    }
}

impl Observer for Recorder {
    fn observe(&self, event: &DeliveryEvent<'_>) {
        let now = SystemTime::now();
        let seq = self.record(event, now);
        self.publish(event, seq, now);
    }
}
