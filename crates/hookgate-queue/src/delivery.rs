//! The values that go into and come out of a queue.

use std::fmt;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use hookgate_events::DeliveryInfo;
use http::HeaderMap;

/// A verified delivery, ready to be queued.
///
/// ```
/// use std::time::SystemTime;
/// use hookgate_queue::NewDelivery;
///
/// let mut headers = http::HeaderMap::new();
/// headers.insert("content-type", "application/json".parse().unwrap());
/// let delivery = NewDelivery::new("clarife", "evt_1", SystemTime::now(), &b"{}"[..])
///     .with_headers(headers);
/// assert_eq!(delivery.key().source, "clarife");
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NewDelivery {
    /// The name of the source (route) it arrived on, e.g. `clarife`.
    pub source: String,
    /// The delivery id: the sender's own, or one derived from the body.
    pub delivery_id: String,
    /// When hookgate received it.
    pub received_at: SystemTime,
    /// The request headers worth keeping (values are stored byte for byte).
    pub headers: HeaderMap,
    /// The verified raw body.
    pub body: Bytes,
    /// When set, a newer delivery of the same source and key replaces this one
    /// while it still waits (see [`Coalescing`](crate::Coalescing)).
    pub coalesce_key: Option<String>,
}

impl NewDelivery {
    /// A delivery with no headers and no coalescing key.
    pub fn new(
        source: impl Into<String>,
        delivery_id: impl Into<String>,
        received_at: SystemTime,
        body: impl Into<Bytes>,
    ) -> Self {
        Self {
            source: source.into(),
            delivery_id: delivery_id.into(),
            received_at,
            headers: HeaderMap::new(),
            body: body.into(),
            coalesce_key: None,
        }
    }

    /// Sets the headers to keep.
    #[must_use]
    pub fn with_headers(mut self, headers: HeaderMap) -> Self {
        self.headers = headers;
        self
    }

    /// Sets the coalescing key.
    #[must_use]
    pub fn with_coalesce_key(mut self, key: impl Into<String>) -> Self {
        self.coalesce_key = Some(key.into());
        self
    }

    /// The deduplication key.
    pub fn key(&self) -> DeliveryKey {
        DeliveryKey::new(self.source.clone(), self.delivery_id.clone())
    }

    /// Refuses deliveries that no back-end can store meaningfully.
    pub(crate) fn validate(&self) -> Result<(), crate::QueueError> {
        if self.source.is_empty() {
            return Err(crate::QueueError::invalid("empty source name"));
        }
        if self.delivery_id.is_empty() {
            return Err(crate::QueueError::invalid("empty delivery id"));
        }
        Ok(())
    }
}

impl fmt::Debug for NewDelivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewDelivery")
            .field("source", &self.source)
            .field("delivery_id", &self.delivery_id)
            .field("received_at", &self.received_at)
            .field("headers", &self.headers.len())
            .field("body_len", &self.body.len())
            .field("coalesce_key", &self.coalesce_key)
            .finish()
    }
}

/// What identifies a delivery for deduplication and replay: its source and id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub struct DeliveryKey {
    /// The source name.
    pub source: String,
    /// The delivery id, unique within the source.
    pub delivery_id: String,
}

impl DeliveryKey {
    /// The key of delivery `delivery_id` from `source`.
    pub fn new(source: impl Into<String>, delivery_id: impl Into<String>) -> Self {
        Self {
            source: source.into(),
            delivery_id: delivery_id.into(),
        }
    }
}

impl fmt::Display for DeliveryKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.source, self.delivery_id)
    }
}

/// What [`Enqueue::enqueue`](crate::Enqueue::enqueue) did with a delivery.
///
/// Every variant means the delivery is safe: the caller may acknowledge it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EnqueueOutcome {
    /// Stored durably (as durably as the back-end is configured to be).
    Enqueued,
    /// The same `(source, delivery id)` was already received within the
    /// deduplication window; nothing was stored.
    Duplicate,
    /// A newer delivery with the same coalescing key is already waiting, so
    /// this older one was recorded (for deduplication) but will not be handled.
    Superseded,
}

/// A delivery as stored, handed to a handler.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Delivery {
    /// The source name.
    pub source: String,
    /// The delivery id.
    pub delivery_id: String,
    /// When hookgate received it.
    pub received_at: SystemTime,
    /// The headers kept at enqueue.
    pub headers: HeaderMap,
    /// The verified raw body.
    pub body: Bytes,
    /// The coalescing key given at enqueue, if any.
    pub coalesce_key: Option<String>,
    /// This attempt's number: 1 for the first, 2 for the first retry, and so on.
    pub attempt: u32,
    /// The error of the previous attempt, if it failed.
    pub last_error: Option<String>,
}

impl Delivery {
    /// A delivery built from its parts; back-ends use this when loading.
    pub fn new(new: NewDelivery, attempt: u32, last_error: Option<String>) -> Self {
        Self {
            source: new.source,
            delivery_id: new.delivery_id,
            received_at: new.received_at,
            headers: new.headers,
            body: new.body,
            coalesce_key: new.coalesce_key,
            attempt,
            last_error,
        }
    }

    /// The deduplication key.
    pub fn key(&self) -> DeliveryKey {
        DeliveryKey::new(self.source.clone(), self.delivery_id.clone())
    }

    /// What handlers from `hookgate-events` are told about this delivery.
    pub fn info(&self) -> DeliveryInfo {
        DeliveryInfo::new(
            self.source.clone(),
            self.delivery_id.clone(),
            self.received_at,
            self.attempt,
        )
    }

    /// How long ago it was received, by `now`.
    pub fn age(&self, now: SystemTime) -> Duration {
        now.duration_since(self.received_at).unwrap_or_default()
    }
}

impl fmt::Debug for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delivery")
            .field("source", &self.source)
            .field("delivery_id", &self.delivery_id)
            .field("received_at", &self.received_at)
            .field("headers", &self.headers.len())
            .field("body_len", &self.body.len())
            .field("coalesce_key", &self.coalesce_key)
            .field("attempt", &self.attempt)
            .field("last_error", &self.last_error)
            .finish()
    }
}

/// Proof that a worker holds a delivery; needed to ack, retry, dead-letter or release it.
///
/// Opaque to callers. Back-ends encode whatever they need to recognise the
/// lease and to refuse it once it is stale: a lease that expired and was
/// leased again by someone else never acknowledges the newer lease.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct LeaseId(String);

impl LeaseId {
    /// Wraps a back-end's lease token.
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// The back-end's lease token.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for LeaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LeaseId({})", self.0)
    }
}

/// A delivery leased to a worker until `expires_at`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Leased {
    /// The delivery; its `attempt` counts this lease.
    pub delivery: Delivery,
    /// The lease to present when done.
    pub lease: LeaseId,
    /// When the lease runs out and the delivery becomes ready again.
    pub expires_at: SystemTime,
}

impl Leased {
    /// A lease on `delivery`.
    pub fn new(delivery: Delivery, lease: LeaseId, expires_at: SystemTime) -> Self {
        Self {
            delivery,
            lease,
            expires_at,
        }
    }
}

/// What to lease.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LeaseRequest {
    /// At most this many deliveries.
    pub max: usize,
    /// How long the worker may hold them before they become ready again.
    pub visibility: Duration,
    /// Sources not to lease from (their concurrency limit is reached).
    pub skip_sources: Vec<String>,
}

impl LeaseRequest {
    /// Up to `max` deliveries for `visibility`.
    pub fn new(max: usize, visibility: Duration) -> Self {
        Self {
            max,
            visibility,
            skip_sources: Vec::new(),
        }
    }

    /// Leaves out the deliveries of these sources.
    #[must_use]
    pub fn skip_sources(mut self, sources: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.skip_sources = sources.into_iter().map(Into::into).collect();
        self
    }
}

/// A delivery that will not be retried, with the reason.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DeadLetter {
    /// The delivery; `attempt` is the number of attempts made.
    pub delivery: Delivery,
    /// The last error.
    pub error: String,
    /// When it was dead-lettered.
    pub dead_at: SystemTime,
}

impl DeadLetter {
    /// A dead letter.
    pub fn new(delivery: Delivery, error: String, dead_at: SystemTime) -> Self {
        Self {
            delivery,
            error,
            dead_at,
        }
    }
}

/// Which dead letters to put back in the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Replay {
    /// One delivery; `NotFound` if it is not a dead letter.
    One(DeliveryKey),
    /// Every dead letter.
    All,
    /// Dead letters received in `from..to` (from inclusive, to exclusive).
    ReceivedBetween {
        /// The start of the window, inclusive.
        from: SystemTime,
        /// The end of the window, exclusive.
        to: SystemTime,
    },
}

impl Replay {
    pub(crate) fn matches(&self, key_source: &str, key_id: &str, received_at: SystemTime) -> bool {
        match self {
            Self::One(key) => key.source == key_source && key.delivery_id == key_id,
            Self::All => true,
            Self::ReceivedBetween { from, to } => received_at >= *from && received_at < *to,
        }
    }
}

/// How many deliveries are in each state, and how late the queue runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Waiting and due now.
    pub ready: u64,
    /// Waiting for a retry time in the future.
    pub scheduled: u64,
    /// Held by a worker (including leases that expired but were not yet taken again).
    pub leased: u64,
    /// In the dead letters.
    pub dead: u64,
    /// The age (since received) of the oldest delivery that is ready now.
    pub oldest_ready_age: Option<Duration>,
    /// What the storage holds and whether a limit refuses enqueues, for
    /// back-ends that can tell (`None` otherwise).
    pub storage: Option<crate::StorageUsage>,
}

impl Stats {
    /// Deliveries still to be handled: ready, scheduled and leased.
    pub fn depth(&self) -> u64 {
        self.ready + self.scheduled + self.leased
    }
}
