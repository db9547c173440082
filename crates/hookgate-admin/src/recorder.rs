//! The observer behind the admin API: a ring of recent deliveries,
//! counters per source, an hour of per-minute history, and the live stream.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use foldhash::SharedSeed;
use foldhash::fast::SeedableRandomState;
use hookgate_queue::observe::{DeliveryEvent, EventKind, Headers, Observer};
use tokio::sync::Notify;

use crate::time::Rfc3339Writer;

/// How many minutes of history the chart keeps.
pub(crate) const HISTORY_MINUTES: usize = 60;
/// Events a slow stream subscriber may fall behind by before it misses some
/// (and the most the stream's log keeps).
/// The stream writes what gathered every few milliseconds
/// ([`crate::api::GATHER`]): at 20,000 events a second that is a few hundred.
const STREAM_BACKLOG: usize = 4096;

/// One event as the stream and `hookgate tail` see it.
///
/// Built on the request path, so it holds what it was told as is (the
/// ring's copy of the delivery, shared strings, times as `SystemTime`): the
/// JSON, times in RFC 3339 included, is written by the stream's own task,
/// only for a subscriber.
#[derive(Debug, Clone)]
pub(crate) struct StreamEvent {
    /// The ring entry it belongs to, when it has one (not for `received`).
    pub(crate) seq: Option<u64>,
    pub(crate) kind: EventKind,
    pub(crate) source: Arc<str>,
    /// Its delivery id and event name.
    pub(crate) names: Names,
    pub(crate) outcome: Option<&'static str>,
    pub(crate) reason: Option<&'static str>,
    pub(crate) status: Option<u16>,
    pub(crate) latency: Option<Duration>,
    pub(crate) attempt: Option<u32>,
    pub(crate) error: Option<Arc<str>>,
    pub(crate) retry_at: Option<SystemTime>,
    pub(crate) at: SystemTime,
}

/// Where a stream event's delivery id and event name come from: the ring's
/// copy when it has the delivery (no copy per event), else what was told.
#[derive(Debug, Clone)]
pub(crate) enum Names {
    /// As told: `received` (neither yet), or a worker's event for a
    /// delivery no longer in the ring.
    Told {
        delivery_id: Option<Arc<str>>,
        event: Option<Arc<str>>,
    },
    /// The ring's: a decision of the receiving side.
    Kept(Kept),
    /// The id the ring keeps, the event name as told: a worker's event.
    KeptId(Kept, Option<Arc<str>>),
}

impl Names {
    /// The delivery id's bytes (UTF-8), for the stream's JSON: the ring's
    /// copy is not validated as UTF-8 again (it was copied from a `str`).
    fn delivery_id_bytes(&self) -> Option<&[u8]> {
        match self {
            Self::Told { delivery_id, .. } => delivery_id.as_deref().map(str::as_bytes),
            Self::Kept(kept) | Self::KeptId(kept, _) => kept.delivery_id_bytes(),
        }
    }

    /// The event name's bytes, as [`Names::delivery_id_bytes`].
    fn event_bytes(&self) -> Option<&[u8]> {
        match self {
            Self::Told { event, .. } | Self::KeptId(_, event) => {
                event.as_deref().map(str::as_bytes)
            }
            Self::Kept(kept) => kept.event_bytes(),
        }
    }
}

impl StreamEvent {
    /// Appends the event as one line of JSON to `out`, the fields in the
    /// order `openapi.json` lists them; `times` formats its times.
    ///
    /// Written by hand rather than through `Serialize`: the stream writes
    /// two of these per delivery, most of their strings are names known to
    /// need no escaping, and an absent field is one constant `,"key":null`.
    /// What a sender controls goes through [`json_str`] all the same.
    pub(crate) fn write_json(&self, out: &mut Vec<u8>, times: &mut Rfc3339Writer) {
        match self.seq {
            Some(seq) => {
                out.extend_from_slice(b"{\"seq\":");
                json_int(out, seq);
            }
            None => out.extend_from_slice(b"{\"seq\":null"),
        }
        out.extend_from_slice(b",\"kind\":\"");
        out.extend_from_slice(self.kind.as_str().as_bytes());
        out.extend_from_slice(b"\",\"source\":");
        json_str(out, self.source.as_bytes());
        field_str(out, b",\"delivery_id\":", self.names.delivery_id_bytes());
        field_str(out, b",\"event\":", self.names.event_bytes());
        field_name(out, b",\"outcome\":", self.outcome);
        field_name(out, b",\"reason\":", self.reason);
        field_int(out, b",\"status\":", self.status);
        match self.latency {
            Some(latency) => {
                out.extend_from_slice(b",\"latency_ms\":");
                // As `serde_json` writes an `f64` (a NaN as `null`).
                let _ = serde_json::to_writer(&mut *out, &(latency.as_secs_f64() * 1000.0));
            }
            None => out.extend_from_slice(b",\"latency_ms\":null"),
        }
        field_int(out, b",\"attempt\":", self.attempt);
        field_str(
            out,
            b",\"error\":",
            self.error.as_deref().map(str::as_bytes),
        );
        match self.retry_at {
            Some(at) => {
                out.extend_from_slice(b",\"retry_at\":");
                times.write_quoted(out, at);
            }
            None => out.extend_from_slice(b",\"retry_at\":null"),
        }
        out.extend_from_slice(b",\"at\":");
        times.write_quoted(out, self.at);
        out.push(b'}');
    }
}

/// Appends `key` and `value` (UTF-8) as a JSON string, or `null`.
fn field_str(out: &mut Vec<u8>, key: &[u8], value: Option<&[u8]>) {
    out.extend_from_slice(key);
    match value {
        Some(value) => json_str(out, value),
        None => out.extend_from_slice(b"null"),
    }
}

/// Appends `key` and `value` as a JSON number, or `null`.
fn field_int(out: &mut Vec<u8>, key: &[u8], value: Option<impl itoa::Integer>) {
    out.extend_from_slice(key);
    match value {
        Some(value) => json_int(out, value),
        None => out.extend_from_slice(b"null"),
    }
}

/// Appends `key` and `value`, one of our own names (ASCII letters, digits
/// and `_`: nothing to escape), as a JSON string, or `null`.
fn field_name(out: &mut Vec<u8>, key: &[u8], value: Option<&str>) {
    out.extend_from_slice(key);
    match value {
        Some(name) => {
            out.push(b'"');
            out.extend_from_slice(name.as_bytes());
            out.push(b'"');
        }
        None => out.extend_from_slice(b"null"),
    }
}

/// Appends `text` (UTF-8: the bytes of a `str`) as a JSON string exactly as
/// `serde_json` writes it: a string with nothing to escape is copied as it
/// is.
fn json_str(out: &mut Vec<u8>, text: &[u8]) {
    if needs_escape(text) {
        // Writing to a Vec cannot fail; the lossy decoding never replaces
        // anything in what came from a `str`.
        let _ = serde_json::to_writer(out, &String::from_utf8_lossy(text));
    } else {
        out.push(b'"');
        out.extend_from_slice(text);
        out.push(b'"');
    }
}

/// Whether `text` holds a byte that a JSON string escapes: a control
/// character, `"` or `\`. Eight bytes at a time (ids and names are a
/// few dozen bytes, and two of them go into every event of the stream).
fn needs_escape(text: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    // Some byte of `word` is below `n` (n <= 0x80): its subtraction
    // borrows into a high bit that was clear (exact as a yes or no).
    let below = |word: u64, n: u8| word.wrapping_sub(ONES * u64::from(n)) & !word & HIGHS != 0;
    let mut words = text.chunks_exact(8);
    for word in &mut words {
        let word = u64::from_ne_bytes(<[u8; 8]>::try_from(word).unwrap_or_default());
        if below(word, 0x20)
            || below(word ^ (ONES * u64::from(b'"')), 1)
            || below(word ^ (ONES * u64::from(b'\\')), 1)
        {
            return true;
        }
    }
    words
        .remainder()
        .iter()
        .any(|&b| b < 0x20 || b == b'"' || b == b'\\')
}

/// Appends an integer as `serde_json` writes it (with `itoa`, as it does).
fn json_int(out: &mut Vec<u8>, value: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
}

/// A delivery's headers as kept in the ring: `name: value` lines, the
/// values as received and decoded only when read. Unambiguous: `http`
/// refuses line breaks in names and values, and `:` in names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct HeaderLines<'a>(&'a [u8]);

impl<'a> HeaderLines<'a> {
    /// Appends `headers` as lines to `out`.
    fn write(out: &mut BytesMut, headers: Headers<'_>) {
        for (name, value) in headers.iter() {
            out.extend_from_slice(name.as_str().as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\n");
        }
    }

    /// The bytes [`HeaderLines::write`] appends for `headers`.
    fn size(headers: Headers<'_>) -> usize {
        headers
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len() + 3)
            .sum()
    }

    /// The headers' names and values (decoded lossily), in the order received.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (Cow<'a, str>, Cow<'a, str>)> + 'a {
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

thread_local! {
    /// This thread's arena for the ring's copies: each copy is appended to
    /// its current chunk and split off it (a [`Bytes`] sharing the chunk).
    ///
    /// Measured under load, copying a delivery into a buffer of its own
    /// cost the receiving path several times its instructions: the buffer
    /// (freshly allocated, or recycled from the entry the ring evicted) had
    /// last been written a ring's worth of deliveries before, or by the
    /// other core, so every cache line of the copy missed. Appended to a
    /// chunk, the copies of one thread are written one after the other, a
    /// pattern the processor's prefetcher follows.
    ///
    /// A chunk is freed once the thread has moved on to another and the
    /// ring, the stream's log and the API's answers hold none of its copies;
    /// the current one is reused from its start when nothing holds its
    /// copies any more. So the ring's memory is its deliveries' plus up to a
    /// chunk per thread that records (the runtime's workers, in practice),
    /// and the unused end of a chunk that the next copy did not fit.
    static ARENA: RefCell<BytesMut> = RefCell::new(BytesMut::new());
}

/// The size of an arena chunk: some forty 1 KiB deliveries with their
/// headers.
const ARENA_CHUNK: usize = 64 * 1024;

/// Copies larger than this get an allocation of their own size, outside
/// the arena: a chunk holds several, and a large body (up to the ring's
/// body limit) neither wastes most of a chunk nor makes one larger.
const ARENA_LARGEST: usize = ARENA_CHUNK / 4;

/// What the ring copies of a delivery, in one piece of this thread's
/// arena: its id, event name, headers (as [`HeaderLines`]) and body (cut at
/// the limit), shared by reference count with the stream's events and the
/// API's answers.
///
/// A copy, not a share of what the receiver holds: the body and header
/// values may be slices of the server's read buffer, which a kept slice
/// would keep whole for as long as the ring keeps the delivery (measured:
/// the server then allocates a new read buffer for nearly every request,
/// which cost more than the copy).
#[derive(Clone)]
pub(crate) struct Kept {
    /// `id | event | header lines | body`.
    bytes: Bytes,
    id_end: Option<usize>,
    event_end: Option<usize>,
    headers_end: usize,
    has_body: bool,
}

impl std::fmt::Debug for Kept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kept")
            .field("delivery_id", &self.delivery_id())
            .field("event", &self.event())
            .field("bytes", &self.bytes.len())
            .finish_non_exhaustive()
    }
}

impl Kept {
    /// Copies what the ring keeps of `event` into this thread's arena.
    fn new(event: &DeliveryEvent<'_>, body_limit: usize) -> Self {
        let body = event.body.map(|body| &body[..body.len().min(body_limit)]);
        let len = |part: Option<&[u8]>| part.map_or(0, <[u8]>::len);
        let size = len(event.delivery_id.map(str::as_bytes))
            + len(event.event_name.map(str::as_bytes))
            + event.headers.map_or(0, HeaderLines::size)
            + len(body);
        if size > ARENA_LARGEST {
            return Self::write(&mut BytesMut::with_capacity(size), event, body, size);
        }
        ARENA.with_borrow_mut(|arena| {
            // Empty after every copy; cleared all the same, so that what is
            // written next starts at offset 0 whatever happened before.
            arena.clear();
            if arena.capacity() < size && !arena.try_reclaim(ARENA_CHUNK) {
                // The chunk is full and the ring still holds copies in it
                // (else it was reclaimed, from its start): a new one.
                *arena = BytesMut::with_capacity(ARENA_CHUNK);
            }
            Self::write(arena, event, body, size)
        })
    }

    /// Writes what the ring keeps into `out` (empty, with room for `size`
    /// bytes) and splits it off.
    fn write(
        out: &mut BytesMut,
        event: &DeliveryEvent<'_>,
        body: Option<&[u8]>,
        size: usize,
    ) -> Self {
        let end = |out: &mut BytesMut, part: Option<&[u8]>| {
            part.map(|part| {
                out.extend_from_slice(part);
                out.len()
            })
        };
        let id_end = end(out, event.delivery_id.map(str::as_bytes));
        let event_end = end(out, event.event_name.map(str::as_bytes));
        if let Some(headers) = event.headers {
            HeaderLines::write(out, headers);
        }
        let headers_end = out.len();
        end(out, body);
        let bytes = out.split().freeze();
        debug_assert_eq!(bytes.len(), size, "sized what was written");
        Self {
            bytes,
            id_end,
            event_end,
            headers_end,
            has_body: body.is_some(),
        }
    }

    /// The delivery id's bytes: UTF-8, copied from a `str`, so the stream
    /// writes them without validating them again.
    fn delivery_id_bytes(&self) -> Option<&[u8]> {
        self.bytes.get(..self.id_end?)
    }

    /// The event name's bytes, as [`Kept::delivery_id_bytes`].
    fn event_bytes(&self) -> Option<&[u8]> {
        self.bytes.get(self.id_end.unwrap_or(0)..self.event_end?)
    }

    pub(crate) fn delivery_id(&self) -> Option<&str> {
        std::str::from_utf8(self.delivery_id_bytes()?).ok()
    }

    pub(crate) fn event(&self) -> Option<&str> {
        std::str::from_utf8(self.event_bytes()?).ok()
    }

    fn headers_start(&self) -> usize {
        self.event_end.or(self.id_end).unwrap_or(0)
    }

    pub(crate) fn headers(&self) -> HeaderLines<'_> {
        HeaderLines(&self.bytes[self.headers_start()..self.headers_end])
    }

    /// The body as kept (cut at the limit), when there was one.
    pub(crate) fn body(&self) -> Option<&[u8]> {
        self.has_body.then(|| &self.bytes[self.headers_end..])
    }
}

/// A delivery in the ring.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) seq: u64,
    pub(crate) source: Arc<str>,
    /// Id, event name, headers (credentials removed by the receiver), body.
    pub(crate) kept: Kept,
    /// The id's hash, its key in the source's index.
    id_hash: Option<u64>,
    /// The latest event's kind: `refused`, `queued`, `processed` ...
    pub(crate) outcome: &'static str,
    pub(crate) reason: Option<&'static str>,
    pub(crate) status: Option<u16>,
    pub(crate) latency: Option<Duration>,
    pub(crate) attempts: u32,
    pub(crate) last_error: Option<Arc<str>>,
    pub(crate) received_at: SystemTime,
    pub(crate) updated_at: SystemTime,
    pub(crate) body_len: usize,
}

impl Entry {
    pub(crate) fn delivery_id(&self) -> Option<&str> {
        self.kept.delivery_id()
    }

    pub(crate) fn event(&self) -> Option<&str> {
        self.kept.event()
    }

    pub(crate) fn headers(&self) -> HeaderLines<'_> {
        self.kept.headers()
    }

    pub(crate) fn body(&self) -> Option<&[u8]> {
        self.kept.body()
    }
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

/// The hasher of the id index, whose keys are already hashes (of the ids,
/// by a randomly keyed foldhash): it passes them through.
#[derive(Debug, Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `u64` keys are hashed here; anything else is folded in.
        for byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*byte);
        }
    }

    fn write_u64(&mut self, hash: u64) {
        self.0 = hash;
    }
}

/// What the recorder keeps per source.
#[derive(Debug)]
struct SourceState {
    name: Arc<str>,
    counts: Counts,
    /// The hash of a delivery id to the seq of its newest entry, for the
    /// worker's events. Ids are the senders': they are hashed once, kept
    /// with the entry for its eviction, by foldhash with a random key per
    /// recorder, which a sender cannot see, so cannot aim ids at one bucket;
    /// and the index holds at most the ring's N entries whatever it is sent.
    /// Two ids of one hash (one chance in 2^64 a pair) share a key: the
    /// older one's entry then misses the worker's later events, and the
    /// lookup compares the ids, so it never shows another's.
    by_id: HashMap<u64, u64, BuildHasherDefault<Prehashed>>,
}

#[derive(Debug)]
struct State {
    next_seq: u64,
    ring: VecDeque<Entry>,
    /// A handful, named by the configuration: a scan beats hashing the name
    /// (twice per request).
    sources: Vec<SourceState>,
    history: VecDeque<Minute>,
    stream: StreamLog,
}

/// Records delivery events; see the crate docs.
///
/// [`Observer::observe`] runs on the request path: for a decision it first
/// copies what the ring keeps into this thread's arena (outside the lock), then
/// under one short lock it counts and stores, and while someone follows the
/// stream it logs a [`StreamEvent`] sharing that copy. Formatting (JSON, RFC
/// 3339) is the stream task's work, done only when someone listens.
#[derive(Debug)]
pub(crate) struct Recorder {
    state: Mutex<State>,
    capacity: usize,
    body_limit: usize,
    /// Hashes ids for the index, keyed at random per recorder.
    ids: SeedableRandomState,
    /// Wakes the stream's subscribers waiting for an event.
    wake: Notify,
    /// `received` counts of the configured sources (in their order), kept
    /// outside the lock: every request reports `received` before its
    /// decision, and counting it is all the ring does with it while nobody
    /// follows the stream, so a request takes the lock once, not twice.
    received: Box<[(Arc<str>, AtomicU64)]>,
    /// `received` events counted in `received` and not yet in the history's
    /// minutes, all of them in [`Recorder::current_minute`]: added to it
    /// under the lock when the next minute starts or the history is read.
    unminuted: AtomicU64,
    /// The history's newest minute (minutes since the epoch; `u64::MAX`
    /// before the first): a `received` outside it takes the lock, which
    /// starts its minute, so what `unminuted` holds belongs to this one
    /// however sparse the deliveries.
    current_minute: AtomicU64,
    /// The stream's subscribers, as [`StreamLog::subscribers`] (which the
    /// lock guards), readable without the lock.
    followers: AtomicUsize,
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

/// Whether the ring has the worker's `kind` applied to an entry.
fn is_worker_kind(kind: EventKind) -> bool {
    matches!(
        kind,
        EventKind::Processed | EventKind::RetryScheduled | EventKind::DeadLettered
    )
}

impl Recorder {
    pub(crate) fn new(sources: &[String], capacity: usize, body_limit: usize) -> Self {
        let sources: Vec<SourceState> = sources.iter().map(|name| SourceState::new(name)).collect();
        let received = sources
            .iter()
            .map(|source| (Arc::clone(&source.name), AtomicU64::new(0)))
            .collect();
        Self {
            state: Mutex::new(State {
                next_seq: 1,
                ring: VecDeque::with_capacity(capacity.min(4096)),
                sources,
                history: VecDeque::with_capacity(HISTORY_MINUTES),
                stream: StreamLog::default(),
            }),
            capacity: capacity.max(1),
            body_limit,
            // A seed from the operating system's generator (by `rand`) on
            // top of foldhash's process-wide random seed.
            ids: SeedableRandomState::with_seed(rand::random(), SharedSeed::global_random()),
            wake: Notify::new(),
            received,
            unminuted: AtomicU64::new(0),
            current_minute: AtomicU64::new(u64::MAX),
            followers: AtomicUsize::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves counters, never broken invariants.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new subscriber to the live stream, from the next event on.
    pub(crate) fn subscribe(self: &Arc<Self>) -> Subscription {
        let mut state = self.lock();
        state.stream.subscribers += 1;
        self.followers
            .store(state.stream.subscribers, Ordering::Relaxed);
        Subscription {
            recorder: Arc::clone(self),
            next: state.stream.next,
        }
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
        self.lock().entry(seq).cloned()
    }

    /// Counts per source, sorted by name.
    pub(crate) fn counts(&self) -> Vec<(Arc<str>, Counts)> {
        let state = self.lock();
        let mut counts: Vec<_> = state
            .sources
            .iter()
            .map(|source| {
                let mut counts = source.counts;
                if let Some((_, received)) =
                    self.received.iter().find(|(name, _)| *name == source.name)
                {
                    counts[kind_index(EventKind::Received)] += received.load(Ordering::Relaxed);
                }
                (Arc::clone(&source.name), counts)
            })
            .collect();
        counts.sort_by(|a, b| a.0.cmp(&b.0));
        counts
    }

    /// The last hour, oldest first, a minute each (minutes with nothing are
    /// left out).
    pub(crate) fn history(&self) -> Vec<Minute> {
        let now = minute_of(SystemTime::now());
        let mut state = self.lock();
        let unminuted = self.unminuted.swap(0, Ordering::Relaxed);
        if let Some(last) = state.history.back_mut() {
            last.received += unminuted;
        }
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
        self.minute(&mut state, SystemTime::now()).depth = Some(depth);
    }

    /// Counts `event`, applies it to the ring and, while someone follows
    /// the stream, logs it for them; true when a subscriber waits for it.
    fn record(&self, event: &DeliveryEvent<'_>, now: SystemTime) -> bool {
        if event.kind == EventKind::Received
            && self.followers.load(Ordering::Relaxed) == 0
            && self.current_minute.load(Ordering::Relaxed) == minute_of(now)
        {
            // Nobody follows the stream (one who starts now follows from
            // the next event on), and this minute has begun in the
            // history: counted without the lock.
            if let Some((_, received)) = self
                .received
                .iter()
                .find(|(name, _)| **name == *event.source)
            {
                received.fetch_add(1, Ordering::Relaxed);
                self.unminuted.fetch_add(1, Ordering::Relaxed);
                return false;
            }
        }
        // What leaves the ring is dropped once the lock is released.
        let mut evicted = None;
        let (mut state, recorded) = match event.kind {
            EventKind::Received => {
                let mut state = self.lock();
                let source = state.count(event);
                self.minute(&mut state, now).received += 1;
                (state, Recorded::new(source))
            }
            kind if is_worker_kind(kind) => {
                let id_hash = event.delivery_id.map(|id| self.ids.hash_one(id));
                let mut state = self.lock();
                let source = state.count(event);
                let minute = self.minute(&mut state, now);
                if kind == EventKind::Processed {
                    minute.processed += 1;
                }
                let mut recorded = Recorded::new(source);
                if let Some((seq, kept, error)) = state.update(event, id_hash, now) {
                    recorded.seq = Some(seq);
                    // The event's name as the worker tells it (the stream
                    // says what it was told).
                    let told = event.event_name.map(Arc::from);
                    recorded.names = Some(Names::KeptId(kept, told));
                    recorded.error = error;
                }
                (state, recorded)
            }
            _ => {
                // Copied and hashed before the lock is taken.
                let kept = Kept::new(event, self.body_limit);
                let id_hash = event.delivery_id.map(|id| self.ids.hash_one(id));
                let mut state = self.lock();
                let source = state.count(event);
                self.minute(&mut state, now);
                let (seq, error, old) =
                    self.push(&mut state, &source, event, kept.clone(), id_hash, now);
                evicted = old;
                let recorded = Recorded {
                    source,
                    seq: Some(seq),
                    names: Some(Names::Kept(kept)),
                    error,
                };
                (state, recorded)
            }
        };
        // Without a subscriber the stream event is not even built.
        let wake = if state.stream.subscribers == 0 {
            drop(state);
            false
        } else {
            let (wake, dropped) = state.stream.push(stream_event(event, recorded, now));
            drop(state);
            drop(dropped);
            wake
        };
        // Its copy (perhaps its chunk's last) is freed here, not under the lock.
        drop(evicted);
        wake
    }

    /// This minute's history. When it is new, the `received` counted
    /// outside the lock go to the minute before (they were counted while it
    /// was the newest), and the new one becomes the one they count in.
    fn minute<'s>(&self, state: &'s mut State, now: SystemTime) -> &'s mut Minute {
        let current = minute_of(now);
        if state.history.back().is_none_or(|m| m.minute != current) {
            let unminuted = self.unminuted.swap(0, Ordering::Relaxed);
            if let Some(last) = state.history.back_mut() {
                last.received += unminuted;
            }
            let minute = state.minute(now);
            self.current_minute.store(minute.minute, Ordering::Relaxed);
            return minute;
        }
        state.minute(now)
    }

    /// A new ring entry for a decision of the receiving side; returns its
    /// seq, its copy of the error and the entry it evicted.
    fn push(
        &self,
        state: &mut State,
        source: &Arc<str>,
        event: &DeliveryEvent<'_>,
        kept: Kept,
        id_hash: Option<u64>,
        now: SystemTime,
    ) -> (u64, Option<Arc<str>>, Option<Entry>) {
        let seq = state.next_seq;
        state.next_seq += 1;
        let error = event.error.map(Arc::<str>::from);
        if let Some(hash) = id_hash {
            state.source_mut(source).by_id.insert(hash, seq);
        }
        let evicted = if state.ring.len() == self.capacity {
            state.ring.pop_front()
        } else {
            None
        };
        if let Some(old) = &evicted
            && let Some(hash) = old.id_hash
        {
            // Its hash was kept with it: nothing to hash again.
            let index = &mut state.source_mut(&old.source).by_id;
            if index.get(&hash) == Some(&old.seq) {
                index.remove(&hash);
            }
        }
        state.ring.push_back(Entry {
            seq,
            source: Arc::clone(source),
            kept,
            id_hash,
            outcome: event.kind.as_str(),
            reason: event.reason,
            status: event.status,
            latency: event.latency,
            attempts: 0,
            last_error: error.clone(),
            received_at: now,
            updated_at: now,
            body_len: event.body.map_or(0, |body| body.len()),
        });
        (seq, error, evicted)
    }
}

/// The stream's event for `event`, sharing what the ring keeps.
fn stream_event(event: &DeliveryEvent<'_>, recorded: Recorded, at: SystemTime) -> StreamEvent {
    // What the ring did not keep is copied now (`received`, or a
    // worker's event for a delivery no longer in the ring).
    let names = recorded.names.unwrap_or_else(|| Names::Told {
        delivery_id: event.delivery_id.map(Arc::from),
        event: event.event_name.map(Arc::from),
    });
    StreamEvent {
        seq: recorded.seq,
        kind: event.kind,
        source: recorded.source,
        names,
        outcome: event.outcome,
        reason: event.reason,
        status: event.status,
        latency: event.latency,
        attempt: event.attempt,
        error: recorded.error.or_else(|| event.error.map(Arc::from)),
        retry_at: event.retry_at,
        at,
    }
}

/// The events of the live stream not yet read by every subscriber: the
/// last [`STREAM_BACKLOG`], kept only while someone follows the stream.
///
/// Kept under the recorder's lock, which the request path holds anyway:
/// logging an event costs a push (no lock, channel or wake-up of its own),
/// and a subscriber takes what gathered in batches (moved out when it is
/// the only one, copied otherwise).
#[derive(Debug, Default)]
struct StreamLog {
    events: VecDeque<StreamEvent>,
    /// The number of the next event logged (the first one is 0).
    next: u64,
    subscribers: usize,
    /// Whether a subscriber waits for the next event.
    waiting: bool,
}

impl StreamLog {
    /// Logs `told`; returns whether a subscriber waits for it, and the
    /// event it pushed out of a full log (to drop after the lock).
    fn push(&mut self, told: StreamEvent) -> (bool, Option<StreamEvent>) {
        let dropped = if self.events.len() == STREAM_BACKLOG {
            self.events.pop_front()
        } else {
            None
        };
        self.events.push_back(told);
        self.next += 1;
        (std::mem::take(&mut self.waiting), dropped)
    }

    /// The number of the oldest event still logged.
    fn first(&self) -> u64 {
        self.next - self.events.len() as u64
    }
}

/// One subscriber's place in the live stream.
#[derive(Debug)]
pub(crate) struct Subscription {
    recorder: Arc<Recorder>,
    /// The number of the next event to read.
    next: u64,
}

impl Subscription {
    /// Appends up to `max` of the events logged since the last call to
    /// `into`; returns how many were missed first, if any (the subscriber
    /// fell more than [`STREAM_BACKLOG`] behind).
    pub(crate) fn read(&mut self, into: &mut Vec<StreamEvent>, max: usize) -> Option<u64> {
        let mut state = self.recorder.lock();
        let log = &mut state.stream;
        let first = log.first();
        let missed = (self.next < first).then(|| first - self.next);
        self.next = self.next.max(first);
        let from = usize::try_from(self.next - first)
            .unwrap_or(usize::MAX)
            .min(log.events.len());
        let to = from.saturating_add(max).min(log.events.len());
        if log.subscribers == 1 {
            // The only reader: what it read already goes (left by a reader
            // gone since), the rest moves out, neither copied nor dropped
            // under the lock later. The numbering holds: the log keeps
            // events from `next - len` on.
            log.events.drain(..from);
            into.extend(log.events.drain(..to - from));
        } else {
            into.extend(log.events.range(from..to).cloned());
        }
        self.next += (to - from) as u64;
        missed
    }

    /// Completes once an event is logged that this subscriber has not read.
    pub(crate) async fn changed(&self) {
        let notified = self.recorder.wake.notified();
        tokio::pin!(notified);
        // Registered before the check: a wake-up after it is not missed.
        notified.as_mut().enable();
        {
            let mut state = self.recorder.lock();
            if state.stream.next > self.next {
                return;
            }
            state.stream.waiting = true;
        }
        notified.await;
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut state = self.recorder.lock();
        state.stream.subscribers -= 1;
        self.recorder
            .followers
            .store(state.stream.subscribers, Ordering::Relaxed);
        if state.stream.subscribers == 0 {
            // Nobody follows: the log is not kept.
            state.stream.events.clear();
        }
    }
}

/// What [`Recorder::record`] did with an event, for the stream.
struct Recorded {
    /// The source's name.
    source: Arc<str>,
    /// The ring entry, when the event has one.
    seq: Option<u64>,
    /// The ring's copy of the id and event name.
    names: Option<Names>,
    /// The ring's copy of the error.
    error: Option<Arc<str>>,
}

impl Recorded {
    fn new(source: Arc<str>) -> Self {
        Self {
            source,
            seq: None,
            names: None,
            error: None,
        }
    }
}

impl SourceState {
    fn new(name: &str) -> Self {
        Self {
            name: Arc::from(name),
            counts: Counts::default(),
            by_id: HashMap::default(),
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

    /// Counts `event` for its source; returns the source's name.
    fn count(&mut self, event: &DeliveryEvent<'_>) -> Arc<str> {
        let source = self.source_mut(event.source);
        source.counts[kind_index(event.kind)] += 1;
        Arc::clone(&source.name)
    }

    /// The entry `seq`, while it is in the ring.
    fn entry(&self, seq: u64) -> Option<&Entry> {
        // Seqs increase along the ring: find it by its distance from the front.
        let first = self.ring.front()?.seq;
        let entry = self
            .ring
            .get(usize::try_from(seq.checked_sub(first)?).ok()?)?;
        (entry.seq == seq).then_some(entry)
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

    /// Applies a worker's event to the delivery's entry, if it is still in
    /// the ring; returns the entry's seq and copy.
    fn update(
        &mut self,
        event: &DeliveryEvent<'_>,
        id_hash: Option<u64>,
        now: SystemTime,
    ) -> Option<(u64, Kept, Option<Arc<str>>)> {
        let seq = *self.source_mut(event.source).by_id.get(&id_hash?)?;
        // Seqs increase along the ring: find it by its distance from the front.
        let at = usize::try_from(seq.checked_sub(self.ring.front()?.seq)?).ok()?;
        let entry = self.ring.get_mut(at)?;
        // The same hash may be another id's (see `SourceState::by_id`).
        if entry.kept.delivery_id() != event.delivery_id {
            return None;
        }
        entry.outcome = event.kind.as_str();
        entry.attempts = entry.attempts.max(event.attempt.unwrap_or_default());
        let error = event.error.map(Arc::<str>::from);
        if let Some(error) = &error {
            entry.last_error = Some(Arc::clone(error));
        }
        entry.updated_at = now;
        Some((seq, entry.kept.clone(), error))
    }
}

impl Observer for Recorder {
    fn observe(&self, event: &DeliveryEvent<'_>) {
        if self.record(event, SystemTime::now()) {
            self.wake.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use serde_json::{Value, json};

    use super::*;

    fn queued<'a>(id: &'a str, headers: &'a http::HeaderMap, body: &'a Bytes) -> DeliveryEvent<'a> {
        let mut event = DeliveryEvent::new(EventKind::Queued, "github");
        event.delivery_id = Some(id);
        event.headers = Some(Headers::new(headers));
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
            names: Names::Told {
                delivery_id: Some(Arc::from(hostile)),
                event: None,
            },
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
    fn needs_escape_says_what_a_byte_at_a_time_says() {
        let naive = |text: &[u8]| text.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\');
        // Every byte value at every place of strings of 1 to 19 bytes (in
        // and across the words, and in the remainder).
        for len in 1..20 {
            for at in 0..len {
                for byte in 0..=255u8 {
                    let mut text = vec![b'a'; len];
                    text[at] = byte;
                    assert_eq!(needs_escape(&text), naive(&text), "{text:?}");
                }
            }
        }
        assert!(!needs_escape(b""));
        assert!(!needs_escape("évènement.créé~\x7f".as_bytes()));
    }

    #[test]
    fn a_kept_copy_holds_id_event_header_lines_and_the_cut_body() {
        let mut headers = http::HeaderMap::new();
        headers.insert("x-github-event", "issues".parse().unwrap());
        headers.append("x-multi", "one: two".parse().unwrap());
        headers.append("x-multi", "".parse().unwrap());
        headers.insert(
            "x-bytes",
            http::HeaderValue::from_bytes(b"caf\xe9").unwrap(),
        );
        headers.insert("x-secret", "hidden".parse().unwrap());
        let keep = |name: &http::HeaderName| name != "x-secret";
        let body = Bytes::from_static(b"0123456789");
        let mut event = queued("d-1", &headers, &body);
        event.headers = Some(Headers::filtered(&headers, &keep));
        event.event_name = Some("issues.opened");
        let kept = Kept::new(&event, 4);
        assert_eq!(kept.delivery_id(), Some("d-1"));
        assert_eq!(kept.event(), Some("issues.opened"));
        assert_eq!(kept.body(), Some(&b"0123"[..]), "cut at the limit");
        assert_eq!(
            kept.headers()
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

        // Nothing but an id, or nothing at all (a refusal).
        let mut bare = DeliveryEvent::new(EventKind::Duplicate, "github");
        bare.delivery_id = Some("d-2");
        let kept = Kept::new(&bare, 4);
        assert_eq!(
            (kept.delivery_id(), kept.event(), kept.body()),
            (Some("d-2"), None, None)
        );
        assert_eq!(kept.headers().iter().count(), 0);
        let refused = Kept::new(&DeliveryEvent::new(EventKind::Refused, "github"), 4);
        assert_eq!((refused.delivery_id(), refused.event()), (None, None));
        let mut empty_body = queued("", &headers, &body);
        let nothing = Bytes::new();
        empty_body.body = Some(&nothing);
        empty_body.headers = None;
        let kept = Kept::new(&empty_body, 4);
        assert_eq!(
            (kept.delivery_id(), kept.body()),
            (Some(""), Some(&b""[..]))
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
        let ids: Vec<_> = recent.iter().map(Entry::delivery_id).collect();
        assert_eq!(ids, [Some("c"), Some("b")]);
        assert_eq!(recent[0].body(), Some(&b"0123"[..]), "cut");
        assert_eq!(recent[0].body_len, 10);

        let mut processed = DeliveryEvent::new(EventKind::Processed, "github");
        processed.attempt = Some(2);
        for id in ["a", "b"] {
            processed.delivery_id = Some(id);
            recorder.observe(&processed);
        }
        // "a" left the ring (and its index): only "b" changed.
        let mut state = recorder.lock();
        assert_eq!(state.sources[0].by_id.len(), 2);
        let hash_of = |id: &str| recorder.ids.hash_one(id);
        assert!(!state.sources[0].by_id.contains_key(&hash_of("a")));
        // Were another id's hash the same as "c"'s (seq 3), its events
        // would not touch "c".
        state.sources[0].by_id.insert(hash_of("z"), 3);
        drop(state);
        processed.delivery_id = Some("z");
        recorder.observe(&processed);
        let b = recorder.get(2).unwrap();
        assert_eq!((b.outcome, b.attempts), ("processed", 2));
        assert_eq!(recorder.get(3).unwrap().outcome, "queued");
        // Counted all the same, in the ring or not.
        let counts = recorder.counts();
        assert_eq!(counts[0].1[kind_index(EventKind::Processed)], 3);
    }

    #[test]
    fn copies_follow_each_other_in_a_chunk_that_is_reused_once_nothing_holds_it() {
        // The arena is per thread: a thread of its own starts with none.
        std::thread::spawn(|| {
            let recorder = Recorder::new(&["github".to_owned()], 1, ARENA_CHUNK);
            let headers = http::HeaderMap::new();
            let small = Bytes::from_static(b"0123456789");
            // Four of these (and their one-byte ids) fill most of a chunk.
            let quarter = Bytes::from(vec![b'x'; ARENA_LARGEST - 1]);
            let mut seq = 0;
            let mut observe = |id: &str, body: &Bytes| {
                recorder.observe(&queued(id, &headers, body));
                seq += 1;
                let entry = recorder.get(seq).unwrap();
                assert_eq!(
                    (entry.delivery_id(), entry.body()),
                    (Some(id), Some(&body[..]))
                );
                (entry.kept.bytes.as_ptr() as usize, entry)
            };
            let (a, _) = observe("a", &small);
            let (b, held) = observe("b", &small);
            // "b" right after "a" (its id and body, 11 bytes): one chunk.
            assert_eq!(b, a + 11);

            // An answer of the API holds "b" while the ring moves on, over
            // the rest of its chunk ("c" to "e") and into the next ("f").
            let (c, _) = observe("c", &quarter);
            assert_eq!(c, b + 11);
            observe("d", &quarter);
            observe("e", &quarter);
            let (f, _) = observe("f", &quarter);
            assert!(
                f >= a + ARENA_CHUNK || f + ARENA_LARGEST <= a,
                "a new chunk"
            );
            assert_eq!(
                (held.delivery_id(), held.body()),
                (Some("b"), Some(&small[..]))
            );
            // "f" to "i" fill that chunk exactly.
            for id in ["g", "h", "i"] {
                observe(id, &quarter);
            }
            // A copy over the largest goes outside the arena; the ring then
            // holds nothing of the full chunk, which the next copy reuses
            // from its start (it would follow "l", had "l" gone into the
            // arena).
            observe("l", &Bytes::from(vec![b'y'; ARENA_LARGEST + 1]));
            let (m, _) = observe("m", &quarter);
            assert_eq!(m, f, "the chunk reused in place");
        })
        .join()
        .unwrap();
    }

    #[test]
    fn received_is_counted_and_charted_whether_or_not_the_stream_is_followed() {
        let recorder = Arc::new(Recorder::new(&["github".to_owned()], 4, 64));
        let received = DeliveryEvent::new(EventKind::Received, "github");
        let elsewhere = DeliveryEvent::new(EventKind::Received, "unconfigured");
        recorder.observe(&received);
        recorder.observe(&received);
        recorder.observe(&elsewhere);
        let followed = recorder.subscribe();
        recorder.observe(&received);
        drop(followed);
        recorder.observe(&received);
        let counts = recorder.counts();
        let received_of = |name: &str| {
            counts
                .iter()
                .find(|(source, _)| &**source == name)
                .unwrap()
                .1[kind_index(EventKind::Received)]
        };
        assert_eq!((received_of("github"), received_of("unconfigured")), (4, 1));
        let history = recorder.history();
        assert_eq!(history.iter().map(|m| m.received).sum::<u64>(), 5);
    }

    #[test]
    fn sparse_deliveries_are_charted_in_the_minute_they_arrived() {
        let recorder = Recorder::new(&["github".to_owned()], 4, 64);
        let headers = http::HeaderMap::new();
        let body = Bytes::from_static(b"{}");
        let received = DeliveryEvent::new(EventKind::Received, "github");
        // Minutes ago, so the history's hour holds both: one delivery at the
        // start of a minute, two in a minute three minutes later.
        let now = minute_of(SystemTime::now());
        let first = UNIX_EPOCH + Duration::from_secs((now - 10) * 60 + 1);
        let later = first + Duration::from_secs(3 * 60);
        recorder.record(&received, first);
        recorder.record(&queued("a", &headers, &body), first);
        for (id, at) in [("b", later), ("c", later + Duration::from_secs(1))] {
            recorder.record(&received, at);
            recorder.record(&queued(id, &headers, &body), at);
        }
        let charted: Vec<_> = recorder
            .history()
            .iter()
            .map(|m| (m.minute, m.received))
            .collect();
        assert_eq!(charted, [(now - 10, 1), (now - 7, 2)]);
        assert_eq!(recorder.counts()[0].1[kind_index(EventKind::Received)], 3);
    }
}
