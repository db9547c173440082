//! The in-memory back-end: same contract, nothing survives the process.

use std::collections::{BTreeMap, BTreeSet, HashMap, hash_map};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue};

use crate::{
    BoxFuture, Clock, DeadLetter, Delivery, Enqueue, EnqueueOutcome, LeaseId, LeaseRequest, Leased,
    NewDelivery, Queue, QueueError, ReadySignal, Replay, Stats, SystemClock, Wakeups,
};
use crate::{observe, wire};

/// The default number of deliveries a queue holds before refusing with `Full`.
pub const DEFAULT_CAPACITY: u64 = 1_000_000;
/// The default deduplication window.
pub const DEFAULT_DEDUP_WINDOW: Duration = Duration::from_secs(24 * 60 * 60);
/// The `Retry-After` hint given with `Full`.
pub(crate) const FULL_RETRY_AFTER: Duration = Duration::from_secs(5);

/// A queue in process memory, for tests and for users who accept losing
/// queued deliveries when the process stops.
///
/// It honours the whole [`Queue`] contract (it passes the conformance suite);
/// it is simply not durable. Each delivery is kept as a copy of its headers
/// and body in one allocation, so a body handed over as a slice of a server's
/// read buffer does not keep that buffer alive.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use std::time::{Duration, SystemTime};
/// use hookgate_queue::{EnqueueOutcome, LeaseRequest, MemoryQueue, NewDelivery, Enqueue, Queue};
///
/// let queue = MemoryQueue::new();
/// let delivery = NewDelivery::new("clarife", "evt_1", SystemTime::now(), &b"{}"[..]);
/// assert_eq!(queue.enqueue(delivery.clone()).await.unwrap(), EnqueueOutcome::Enqueued);
/// assert_eq!(queue.enqueue(delivery).await.unwrap(), EnqueueOutcome::Duplicate);
///
/// let leased = queue.lease(LeaseRequest::new(10, Duration::from_secs(30))).await.unwrap();
/// assert_eq!(leased.len(), 1);
/// queue.ack(leased[0].lease.clone()).await.unwrap();
/// assert_eq!(queue.stats().await.unwrap().depth(), 0);
/// # });
/// ```
pub struct MemoryQueue {
    clock: Arc<dyn Clock>,
    capacity: u64,
    dedup_window: Duration,
    state: Mutex<State>,
    /// Wakes this queue's idle worker pools (see [`Queue::wakeups`]).
    ready: ReadySignal,
}

impl MemoryQueue {
    /// An empty queue on the system clock, with the default capacity and window.
    pub fn new() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            capacity: DEFAULT_CAPACITY,
            dedup_window: DEFAULT_DEDUP_WINDOW,
            state: Mutex::new(State::default()),
            ready: ReadySignal::new(),
        }
    }

    /// Reads time from `clock` (tests use a [`ManualClock`](crate::ManualClock)).
    #[must_use]
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Refuses enqueues with `Full` once `capacity` deliveries wait or are leased.
    #[must_use]
    pub fn with_capacity(mut self, capacity: u64) -> Self {
        self.capacity = capacity;
        self
    }

    /// Remembers delivery keys for `window` after their first enqueue.
    #[must_use]
    pub fn with_dedup_window(mut self, window: Duration) -> Self {
        self.dedup_window = window;
        self
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves the maps consistent (every
        // mutation is a few infallible steps), so keep serving.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn enqueue_now(&self, new: NewDelivery) -> Result<EnqueueOutcome, QueueError> {
        new.validate()?;
        // Copying and packing happen before taking the lock.
        let packed = Packed::new(&new.headers, &new.body);
        let delivery_id: Arc<str> = Arc::from(new.delivery_id);
        let coalesce_key = new.coalesce_key.map(Arc::from);
        let now = self.clock.now();
        let mut state = self.state();
        state.prune_seen(now, self.dedup_window);
        let full = state.live >= self.capacity;
        let seen = state.seen_of(&new.source);
        let source = Arc::clone(&seen.name);
        // One lookup answers both questions. A duplicate is answered as such
        // even when full: it is safe already.
        match seen.ids.entry(Arc::clone(&delivery_id)) {
            hash_map::Entry::Occupied(first) if within(now, *first.get(), self.dedup_window) => {
                return Ok(EnqueueOutcome::Duplicate);
            }
            _ if full => {
                return Err(QueueError::full_at(
                    crate::StorageLimit::Capacity,
                    None,
                    FULL_RETRY_AFTER,
                ));
            }
            hash_map::Entry::Occupied(mut expired) => {
                expired.insert(now);
            }
            hash_map::Entry::Vacant(first) => {
                first.insert(now);
            }
        }
        let id = state.next_id;
        state.next_id += 1;
        let has_coalesce_key = coalesce_key.is_some();
        state.entries.insert(
            id,
            Entry {
                stored: Stored {
                    source,
                    delivery_id,
                    received_at: new.received_at,
                    coalesce_key,
                    packed,
                },
                phase: Phase::Waiting { due: now },
                attempts: 0,
                last_error: None,
                token: 0,
            },
        );
        state.due.insert((now, id));
        state.live += 1;
        if !has_coalesce_key || state.place_waiting(id) {
            Ok(EnqueueOutcome::Enqueued)
        } else {
            Ok(EnqueueOutcome::Superseded)
        }
    }

    fn lease_now(&self, request: &LeaseRequest) -> Vec<Leased> {
        let now = self.clock.now();
        let until = crate::clock::later(now, request.visibility);
        let mut state = self.state();
        let picked: Vec<(SystemTime, u64)> = state
            .due
            .iter()
            .take_while(|(due, _)| *due <= now)
            .filter(|(_, id)| {
                let source = &*state.entries[id].stored.source;
                !request.skip_sources.iter().any(|skip| skip == source)
            })
            .take(request.max)
            .copied()
            .collect();
        let mut leased = Vec::with_capacity(picked.len());
        for (due, id) in picked {
            state.due.remove(&(due, id));
            state.due.insert((until, id));
            state.next_token += 1;
            let token = state.next_token;
            let entry = state.entries.get_mut(&id).expect("indexed entries exist");
            entry.phase = Phase::Leased { until };
            entry.attempts += 1;
            entry.token = token;
            let delivery = Delivery::new(
                entry.stored.unpack(),
                entry.attempts,
                entry.last_error.clone(),
            );
            let coalesce = entry
                .stored
                .coalesce_key
                .clone()
                .map(|k| (Arc::clone(&entry.stored.source), k));
            if let Some(slot) = coalesce
                && state.coalesce.get(&slot) == Some(&id)
            {
                state.coalesce.remove(&slot);
            }
            leased.push(Leased::new(
                delivery,
                LeaseId::new(format!("{id}.{token}")),
                until,
            ));
        }
        leased
    }

    /// Moves the expiry of `lease` to `until`, if it is still held.
    fn extend_one(
        state: &mut State,
        lease: &LeaseId,
        until: SystemTime,
    ) -> Result<SystemTime, QueueError> {
        let (id, token) = parse_lease(lease).ok_or_else(QueueError::lease_lost)?;
        let entry = state
            .entries
            .get_mut(&id)
            .ok_or_else(QueueError::lease_lost)?;
        let Phase::Leased { until: old } = entry.phase else {
            return Err(QueueError::lease_lost());
        };
        if entry.token != token {
            return Err(QueueError::lease_lost());
        }
        entry.phase = Phase::Leased { until };
        state.due.remove(&(old, id));
        state.due.insert((until, id));
        Ok(until)
    }

    /// Applies `finish` to the entry held by `lease`, after checking the lease.
    fn finish(
        &self,
        lease: &LeaseId,
        finish: impl FnOnce(&mut State, u64, SystemTime),
    ) -> Result<(), QueueError> {
        let (id, token) = parse_lease(lease).ok_or_else(QueueError::lease_lost)?;
        let now = self.clock.now();
        let mut state = self.state();
        let until = match state.entries.get(&id) {
            Some(Entry {
                phase: Phase::Leased { until },
                token: held,
                ..
            }) if *held == token => *until,
            _ => return Err(QueueError::lease_lost()),
        };
        state.due.remove(&(until, id));
        finish(&mut state, id, now);
        Ok(())
    }
}

impl Default for MemoryQueue {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for MemoryQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state();
        f.debug_struct("MemoryQueue")
            .field("clock", &self.clock)
            .field("capacity", &self.capacity)
            .field("dedup_window", &self.dedup_window)
            .field("entries", &state.entries.len())
            .finish()
    }
}

fn within(now: SystemTime, then: SystemTime, window: Duration) -> bool {
    now.duration_since(then).map_or(true, |age| age < window)
}

fn parse_lease(lease: &LeaseId) -> Option<(u64, u64)> {
    let (id, token) = lease.as_str().split_once('.')?;
    Some((id.parse().ok()?, token.parse().ok()?))
}

#[derive(Default)]
struct State {
    next_id: u64,
    next_token: u64,
    /// By id, which grows with every enqueue: new entries go to the right
    /// edge, and growing never rehashes (moves) the entries under the lock.
    entries: BTreeMap<u64, Entry>,
    /// Waiting entries by due time and leased ones by lease expiry: the
    /// prefix up to "now" is exactly what may be leased.
    due: BTreeSet<(SystemTime, u64)>,
    /// First enqueue of each delivery id, by source name.
    seen: HashMap<Arc<str>, Seen>,
    /// The waiting entry holding each `(source, coalescing key)`.
    coalesce: HashMap<(Arc<str>, Arc<str>), u64>,
    /// Entries not dead: what counts against the capacity.
    live: u64,
    last_prune: Option<SystemTime>,
}

/// The deliveries seen from one source.
struct Seen {
    /// The one copy of the source's name, which its entries share.
    name: Arc<str>,
    /// When each delivery id was first enqueued.
    ids: HashMap<Arc<str>, SystemTime>,
}

struct Entry {
    stored: Stored,
    phase: Phase,
    attempts: u32,
    last_error: Option<String>,
    token: u64,
}

/// A delivery as this queue keeps it: names shared with the indexes, headers
/// and body in one allocation of its own.
struct Stored {
    source: Arc<str>,
    delivery_id: Arc<str>,
    received_at: SystemTime,
    coalesce_key: Option<Arc<str>>,
    packed: Packed,
}

impl Stored {
    fn unpack(&self) -> NewDelivery {
        let (headers, body) = self.packed.unpack();
        let mut new = NewDelivery::new(&*self.source, &*self.delivery_id, self.received_at, body)
            .with_headers(headers);
        if let Some(key) = &self.coalesce_key {
            new = new.with_coalesce_key(&**key);
        }
        new
    }
}

/// Headers and body copied out of whatever buffers they came in.
///
/// Servers (hyper) hand out header values and bodies as slices of their read
/// buffer: kept as given for as long as a delivery waits, they would pin a
/// whole buffer each (8 KiB per 1 KiB delivery, measured) and make the server
/// allocate a new one for every request. Packed, a waiting delivery costs one
/// allocation the size of what it holds, instead of one per header; leased
/// copies share it (their header map is rebuilt at each lease, its values
/// slices of the packed bytes).
struct Packed {
    /// [`wire`]-encoded headers, then the body.
    bytes: Bytes,
    body_at: usize,
    /// Headers kept as a map instead, when a value is marked sensitive or is
    /// not visible ASCII (both rare): `wire` keeps no sensitive flag, and
    /// visible ASCII is what [`wire::decode_headers_shared`] is sure to read
    /// back.
    unusual_headers: Option<HeaderMap>,
}

impl Packed {
    fn new(headers: &HeaderMap, body: &[u8]) -> Self {
        let packable = headers
            .values()
            .all(|value| !value.is_sensitive() && value.to_str().is_ok());
        let mut bytes = Vec::with_capacity(
            if packable {
                wire::encoded_len(headers)
            } else {
                0
            } + body.len(),
        );
        let unusual_headers = if packable {
            wire::encode_headers_into(headers, &mut bytes);
            None
        } else {
            let mut copy = HeaderMap::new();
            for (name, value) in headers {
                copy.append(name.clone(), copied(value));
            }
            Some(copy)
        };
        let body_at = bytes.len();
        bytes.extend_from_slice(body);
        Self {
            bytes: Bytes::from(bytes),
            body_at,
            unusual_headers,
        }
    }

    fn unpack(&self) -> (HeaderMap, Bytes) {
        let headers = match &self.unusual_headers {
            Some(headers) => headers.clone(),
            None => {
                wire::decode_headers_shared(&self.bytes, 0..self.body_at).unwrap_or_else(|| {
                    unreachable!("visible ASCII values written by `wire` read back")
                })
            }
        };
        (headers, self.bytes.slice(self.body_at..))
    }
}

/// `value` in an allocation of its own.
fn copied(value: &HeaderValue) -> HeaderValue {
    match HeaderValue::from_bytes(value.as_bytes()) {
        Ok(mut copy) => {
            copy.set_sensitive(value.is_sensitive());
            copy
        }
        Err(_) => value.clone(),
    }
}

enum Phase {
    Waiting { due: SystemTime },
    Leased { until: SystemTime },
    Dead { error: String, at: SystemTime },
}

impl State {
    fn prune_seen(&mut self, now: SystemTime, window: Duration) {
        let every = (window / 24).max(Duration::from_secs(1));
        if self.last_prune.is_some_and(|last| within(now, last, every)) {
            return;
        }
        self.last_prune = Some(now);
        for seen in self.seen.values_mut() {
            seen.ids.retain(|_, seen_at| within(now, *seen_at, window));
        }
    }

    /// What was seen from `source` (created on its first delivery).
    fn seen_of(&mut self, source: &str) -> &mut Seen {
        // Sources are few and known (routes): the miss happens once each.
        if !self.seen.contains_key(source) {
            let name: Arc<str> = Arc::from(source);
            let seen = Seen {
                name: Arc::clone(&name),
                ids: HashMap::new(),
            };
            self.seen.insert(name, seen);
        }
        self.seen.get_mut(source).expect("inserted above")
    }

    /// Registers waiting entry `id` under its coalescing key. Returns false
    /// when a newer delivery with the same key already waits, in which case
    /// `id` was dropped; an older one waiting is dropped in favour of `id`.
    fn place_waiting(&mut self, id: u64) -> bool {
        let entry = &self.entries[&id];
        let Some(key) = entry.stored.coalesce_key.clone() else {
            return true;
        };
        let slot = (Arc::clone(&entry.stored.source), key);
        let received_at = entry.stored.received_at;
        let keep_new = match self.coalesce.get(&slot) {
            Some(&other) => {
                let other_received = self.entries[&other].stored.received_at;
                if other_received > received_at {
                    self.drop_waiting(id);
                    false
                } else {
                    self.drop_waiting(other);
                    true
                }
            }
            None => true,
        };
        if keep_new {
            self.coalesce.insert(slot, id);
        }
        keep_new
    }

    fn drop_waiting(&mut self, id: u64) {
        if let Some(entry) = self.entries.remove(&id) {
            if let Phase::Waiting { due } = entry.phase {
                self.due.remove(&(due, id));
            }
            self.live -= 1;
            let source = entry.stored.source.to_string();
            metrics::counter!(observe::COALESCED, "source" => source).increment(1);
        }
    }

    fn make_waiting(&mut self, id: u64, due: SystemTime) {
        if let Some(entry) = self.entries.get_mut(&id) {
            entry.phase = Phase::Waiting { due };
            self.due.insert((due, id));
            self.place_waiting(id);
        }
    }
}

impl Enqueue for MemoryQueue {
    fn enqueue(&self, delivery: NewDelivery) -> BoxFuture<'_, Result<EnqueueOutcome, QueueError>> {
        let started = Instant::now();
        let source = delivery.source.clone();
        let result = self.enqueue_now(delivery);
        if matches!(
            result,
            Ok(EnqueueOutcome::Enqueued | EnqueueOutcome::Superseded)
        ) {
            self.ready.notify();
        }
        observe::record_enqueue(&source, &result, started.elapsed());
        Box::pin(async move { result })
    }
}

impl Queue for MemoryQueue {
    fn lease(&self, request: LeaseRequest) -> BoxFuture<'_, Result<Vec<Leased>, QueueError>> {
        let leased = self.lease_now(&request);
        Box::pin(async move { Ok(leased) })
    }

    fn extend(
        &self,
        leases: Vec<LeaseId>,
        visibility: Duration,
    ) -> BoxFuture<'_, Result<Vec<Result<SystemTime, QueueError>>, QueueError>> {
        let until = crate::clock::later(self.clock.now(), visibility);
        let mut state = self.state();
        let extended = leases
            .iter()
            .map(|lease| Self::extend_one(&mut state, lease, until))
            .collect();
        Box::pin(async move { Ok(extended) })
    }

    fn ack(&self, lease: LeaseId) -> BoxFuture<'_, Result<(), QueueError>> {
        let result = self.finish(&lease, |state, id, _| {
            state.entries.remove(&id);
            state.live -= 1;
        });
        Box::pin(async move { result })
    }

    fn retry_at(
        &self,
        lease: LeaseId,
        at: SystemTime,
        error: String,
    ) -> BoxFuture<'_, Result<(), QueueError>> {
        let mut due_now = false;
        let result = self.finish(&lease, |state, id, now| {
            if let Some(entry) = state.entries.get_mut(&id) {
                entry.last_error = Some(error);
            }
            due_now = at <= now;
            state.make_waiting(id, at);
        });
        if due_now {
            self.ready.notify();
        }
        Box::pin(async move { result })
    }

    fn dead_letter(&self, lease: LeaseId, error: String) -> BoxFuture<'_, Result<(), QueueError>> {
        let result = self.finish(&lease, |state, id, now| {
            if let Some(entry) = state.entries.get_mut(&id) {
                entry.last_error = Some(error.clone());
                entry.phase = Phase::Dead { error, at: now };
                state.live -= 1;
            }
        });
        Box::pin(async move { result })
    }

    fn release(&self, lease: LeaseId) -> BoxFuture<'_, Result<(), QueueError>> {
        let result = self.finish(&lease, |state, id, now| {
            if let Some(entry) = state.entries.get_mut(&id) {
                entry.attempts = entry.attempts.saturating_sub(1);
            }
            state.make_waiting(id, now);
        });
        if result.is_ok() {
            self.ready.notify();
        }
        Box::pin(async move { result })
    }

    fn recover(&self) -> BoxFuture<'_, Result<u64, QueueError>> {
        let now = self.clock.now();
        let mut state = self.state();
        let expired: Vec<(SystemTime, u64)> = state
            .entries
            .iter()
            .filter_map(|(id, entry)| match entry.phase {
                Phase::Leased { until } if until <= now => Some((until, *id)),
                _ => None,
            })
            .collect();
        for &(until, id) in &expired {
            state.due.remove(&(until, id));
            state.make_waiting(id, until);
        }
        let count = expired.len() as u64;
        drop(state);
        if count > 0 {
            self.ready.notify();
        }
        Box::pin(async move { Ok(count) })
    }

    fn list_dead(&self, limit: usize) -> BoxFuture<'_, Result<Vec<DeadLetter>, QueueError>> {
        let state = self.state();
        let mut dead: Vec<DeadLetter> = state
            .entries
            .values()
            .filter_map(|entry| match &entry.phase {
                Phase::Dead { error, at } => Some(DeadLetter::new(
                    Delivery::new(
                        entry.stored.unpack(),
                        entry.attempts,
                        entry.last_error.clone(),
                    ),
                    error.clone(),
                    *at,
                )),
                _ => None,
            })
            .collect();
        dead.sort_by(|a, b| {
            (
                a.delivery.received_at,
                &a.delivery.source,
                &a.delivery.delivery_id,
            )
                .cmp(&(
                    b.delivery.received_at,
                    &b.delivery.source,
                    &b.delivery.delivery_id,
                ))
        });
        dead.truncate(limit);
        Box::pin(async move { Ok(dead) })
    }

    fn replay(&self, selection: Replay) -> BoxFuture<'_, Result<u64, QueueError>> {
        let now = self.clock.now();
        let mut state = self.state();
        let chosen: Vec<u64> = state
            .entries
            .iter()
            .filter(|(_, entry)| {
                matches!(entry.phase, Phase::Dead { .. })
                    && selection.matches(
                        &entry.stored.source,
                        &entry.stored.delivery_id,
                        entry.stored.received_at,
                    )
            })
            .map(|(id, _)| *id)
            .collect();
        for &id in &chosen {
            if let Some(entry) = state.entries.get_mut(&id) {
                entry.attempts = 0;
            }
            state.live += 1;
            state.make_waiting(id, now);
        }
        let result = match selection {
            Replay::One(key) if chosen.is_empty() => {
                Err(QueueError::not_found(format!("no dead letter {key}")))
            }
            _ => Ok(chosen.len() as u64),
        };
        drop(state);
        if !chosen.is_empty() {
            self.ready.notify();
        }
        Box::pin(async move { result })
    }

    fn stats(&self) -> BoxFuture<'_, Result<Stats, QueueError>> {
        let now = self.clock.now();
        let state = self.state();
        let mut stats = Stats::default();
        let mut oldest: Option<SystemTime> = None;
        for entry in state.entries.values() {
            match entry.phase {
                Phase::Waiting { due } if due <= now => {
                    stats.ready += 1;
                    let received = entry.stored.received_at;
                    oldest = Some(oldest.map_or(received, |o| o.min(received)));
                }
                Phase::Waiting { .. } => stats.scheduled += 1,
                Phase::Leased { .. } => stats.leased += 1,
                Phase::Dead { .. } => stats.dead += 1,
            }
        }
        stats.oldest_ready_age = oldest.map(|o| now.duration_since(o).unwrap_or_default());
        Box::pin(async move { Ok(stats) })
    }
    /// Wakes on this queue's enqueues, releases, replays and recoveries,
    /// and retries due at once.
    fn wakeups(&self) -> Option<Wakeups> {
        Some(self.ready.subscribe())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn points_into(value: &[u8], buffer: &Bytes) -> bool {
        let start = buffer.as_ptr() as usize;
        (start..start + buffer.len()).contains(&(value.as_ptr() as usize))
    }

    async fn round_trip(headers: HeaderMap, buffer: &Bytes, body: Bytes) -> Delivery {
        let queue = MemoryQueue::new();
        let new = NewDelivery::new("github", "d-1", SystemTime::UNIX_EPOCH, body)
            .with_headers(headers.clone())
            .with_coalesce_key("issue-7");
        assert_eq!(
            queue.enqueue(new.clone()).await.unwrap(),
            EnqueueOutcome::Enqueued
        );
        let leased = queue
            .lease(LeaseRequest::new(1, Duration::from_secs(1)))
            .await
            .unwrap();
        let delivery = leased[0].delivery.clone();
        assert_eq!(delivery.headers, headers);
        assert_eq!(delivery.body, new.body);
        assert_eq!(delivery.coalesce_key.as_deref(), Some("issue-7"));
        assert!(!points_into(&delivery.body, buffer));
        for value in delivery.headers.values() {
            assert!(!points_into(value.as_bytes(), buffer));
        }
        delivery
    }

    // As a server hands them out: header values and body are slices of one
    // read buffer, which a waiting delivery must not keep alive.
    #[tokio::test]
    async fn kept_deliveries_are_copies_not_slices_of_the_callers_buffer() {
        let buffer = Bytes::from_static(b"issuessha256=ab{\"n\":1}");
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-github-event",
            HeaderValue::from_maybe_shared(buffer.slice(0..6)).unwrap(),
        );
        headers.append("x-multi", HeaderValue::from_static("one"));
        headers.append("x-multi", HeaderValue::from_static("two"));
        headers.insert(
            "x-hub-signature-256",
            HeaderValue::from_maybe_shared(buffer.slice(6..15)).unwrap(),
        );
        round_trip(headers, &buffer, buffer.slice(15..)).await;
    }

    #[tokio::test]
    async fn header_values_that_are_not_ascii_are_kept_byte_for_byte() {
        let buffer = Bytes::from_static(b"caf\xc3\xa9 \x80\xff{}");
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-opaque",
            HeaderValue::from_maybe_shared(buffer.slice(0..8)).unwrap(),
        );
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        let delivery = round_trip(headers, &buffer, buffer.slice(8..)).await;
        assert_eq!(
            delivery.headers["x-opaque"].as_bytes(),
            b"caf\xc3\xa9 \x80\xff"
        );
    }

    #[tokio::test]
    async fn a_sensitive_value_stays_marked_sensitive() {
        let buffer = Bytes::from_static(b"Bearer t{}");
        let mut token = HeaderValue::from_maybe_shared(buffer.slice(0..8)).unwrap();
        token.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert("x-token", token);
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        let delivery = round_trip(headers, &buffer, buffer.slice(8..)).await;
        assert!(delivery.headers["x-token"].is_sensitive());
        assert!(!format!("{:?}", delivery.headers).contains("Bearer"));
    }
}
