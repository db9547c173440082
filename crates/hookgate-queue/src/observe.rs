//! Metric names, recorded through the [`metrics`] facade.
//!
//! Install any `metrics` recorder (e.g. `metrics-exporter-prometheus`) to
//! collect them; without one they cost almost nothing. Back-ends in other
//! crates call [`record_enqueue`] so every back-end reports the same series.
//!
//! Beside metrics, an [`Observer`] is told about each delivery as it happens
//! (received, refused, queued, processed, retried, dead-lettered): what an
//! admin console or `hookgate tail` shows.

use std::time::Duration;

use crate::{EnqueueOutcome, QueueError, Stats, StorageLimit};

/// Counter: deliveries stored, by `source`.
pub const RECEIVED: &str = "hookgate_queue_received_total";
/// Counter: enqueues refused as duplicates, by `source`.
pub const DUPLICATES: &str = "hookgate_queue_duplicates_total";
/// Counter: deliveries replaced by a newer one with the same coalescing key, by `source`.
pub const COALESCED: &str = "hookgate_queue_coalesced_total";
/// Counter: enqueues that failed, by `source` and error `kind`.
pub const ENQUEUE_ERRORS: &str = "hookgate_queue_enqueue_errors_total";
/// Histogram: seconds from calling enqueue to its answer.
pub const ENQUEUE_LATENCY: &str = "hookgate_queue_enqueue_seconds";
/// Gauge: deliveries by `state` (`ready`, `scheduled`, `leased`, `dead`).
pub const DEPTH: &str = "hookgate_queue_depth";
/// Gauge: age in seconds of the oldest ready delivery (0 when none).
pub const OLDEST_READY_AGE: &str = "hookgate_queue_oldest_ready_seconds";
/// Gauge: bytes the queue's data takes (SQLite: database pages in use).
pub const STORAGE_BYTES: &str = "hookgate_queue_storage_bytes";
/// Gauge: bytes of the queue's write-ahead log file (SQLite).
pub const WAL_BYTES: &str = "hookgate_queue_wal_bytes";
/// Gauge: free bytes on the file system holding the queue (SQLite).
pub const DISK_FREE: &str = "hookgate_queue_disk_free_bytes";
/// Gauge: 1 while a storage limit refuses enqueues, by `limit`
/// (`capacity`, `max_bytes`, `min_free_disk`, `storage_full`), else 0.
pub const LIMIT_REACHED: &str = "hookgate_queue_limit_reached";
/// Counter: deliveries handled successfully, by `source`.
pub const HANDLED: &str = "hookgate_queue_handled_total";
/// Counter: attempts that failed and were scheduled again, by `source`.
pub const RETRIES: &str = "hookgate_queue_retries_total";
/// Counter: deliveries moved to the dead letters, by `source`.
pub const DEAD_LETTERS: &str = "hookgate_queue_dead_letters_total";
/// Counter: enqueues refused because the backlog was too old
/// ([`BacklogLimit`](crate::BacklogLimit)), by `source`.
pub const BACKLOG_REFUSED: &str = "hookgate_queue_backlog_refused_total";
/// Histogram: seconds a handler took, by `source`.
pub const HANDLER_LATENCY: &str = "hookgate_queue_handler_seconds";

/// Describes these metrics to the installed recorder (the `# HELP` lines of
/// Prometheus' text format). Call it once, after installing the recorder.
///
/// ```
/// hookgate_queue::observe::describe();
/// ```
pub fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(RECEIVED, "Deliveries stored in the queue, by source.");
    describe_counter!(
        DUPLICATES,
        "Enqueues refused as duplicates of a delivery id already seen, by source."
    );
    describe_counter!(
        COALESCED,
        "Deliveries replaced by a newer one with the same coalescing key, by source."
    );
    describe_counter!(
        ENQUEUE_ERRORS,
        "Enqueues that failed, by source and error kind."
    );
    describe_histogram!(
        ENQUEUE_LATENCY,
        Unit::Seconds,
        "Time from calling enqueue to its answer."
    );
    describe_gauge!(
        DEPTH,
        "Deliveries in the queue, by state (ready, scheduled, leased, dead)."
    );
    describe_gauge!(
        OLDEST_READY_AGE,
        Unit::Seconds,
        "Age of the oldest delivery ready to be handled (0 when none)."
    );
    describe_counter!(HANDLED, "Deliveries handled successfully, by source.");
    describe_counter!(
        RETRIES,
        "Attempts that failed and were scheduled again, by source."
    );
    describe_counter!(
        DEAD_LETTERS,
        "Deliveries moved to the dead letters, by source."
    );
    describe_histogram!(
        HANDLER_LATENCY,
        Unit::Seconds,
        "Time a handler took, by source."
    );
}

/// Records the result of one enqueue.
pub fn record_enqueue(
    source: &str,
    result: &Result<EnqueueOutcome, QueueError>,
    elapsed: Duration,
) {
    metrics::histogram!(ENQUEUE_LATENCY).record(elapsed.as_secs_f64());
    let source = source.to_owned();
    match result {
        Ok(EnqueueOutcome::Duplicate) => {
            metrics::counter!(DUPLICATES, "source" => source).increment(1)
        }
        Ok(_) => metrics::counter!(RECEIVED, "source" => source).increment(1),
        Err(err) => metrics::counter!(
            ENQUEUE_ERRORS,
            "source" => source,
            "kind" => format!("{:?}", err.kind())
        )
        .increment(1),
    }
}

/// Publishes queue statistics as gauges.
pub fn record_stats(stats: &Stats) {
    for (state, value) in [
        ("ready", stats.ready),
        ("scheduled", stats.scheduled),
        ("leased", stats.leased),
        ("dead", stats.dead),
    ] {
        metrics::gauge!(DEPTH, "state" => state).set(value as f64);
    }
    metrics::gauge!(OLDEST_READY_AGE).set(stats.oldest_ready_age.unwrap_or_default().as_secs_f64());
    if let Some(storage) = &stats.storage {
        metrics::gauge!(STORAGE_BYTES).set(storage.bytes as f64);
        if let Some(wal) = storage.wal_bytes {
            metrics::gauge!(WAL_BYTES).set(wal as f64);
        }
        if let Some(free) = storage.free_disk {
            metrics::gauge!(DISK_FREE).set(free as f64);
        }
        for limit in [
            StorageLimit::Capacity,
            StorageLimit::MaxBytes,
            StorageLimit::MinFreeDisk,
            StorageLimit::StorageFull,
        ] {
            let reached = storage.limit_reached == Some(limit);
            metrics::gauge!(LIMIT_REACHED, "limit" => limit.as_str())
                .set(f64::from(u8::from(reached)));
        }
    }
}

/// What happened to a delivery, as told to an [`Observer`].
///
/// The receiving side (`hookgate-receive`) reports the first six, a
/// [`WorkerPool`](crate::WorkerPool) the last three.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EventKind {
    /// A request arrived on a source's route (nothing is known about it yet).
    Received,
    /// The request was refused; [`DeliveryEvent::reason`] says why.
    Refused,
    /// The delivery had been received before: acknowledged, not stored again.
    Duplicate,
    /// The delivery is durably queued.
    Queued,
    /// Inline mode: verified and handed to the application (not queued).
    Verified,
    /// Verified and acknowledged, but not queued: excluded by the source's
    /// event filter, or superseded by a newer version of the same object.
    Skipped,
    /// A worker's handler succeeded.
    Processed,
    /// An attempt failed and the delivery was scheduled again.
    RetryScheduled,
    /// The delivery was moved to the dead letters.
    DeadLettered,
}

impl EventKind {
    /// A stable snake_case name (`received`, `refused`, `duplicate`,
    /// `queued`, `verified`, `skipped`, `processed`, `retry_scheduled`,
    /// `dead_lettered`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Received => "received",
            Self::Refused => "refused",
            Self::Duplicate => "duplicate",
            Self::Queued => "queued",
            Self::Verified => "verified",
            Self::Skipped => "skipped",
            Self::Processed => "processed",
            Self::RetryScheduled => "retry_scheduled",
            Self::DeadLettered => "dead_lettered",
        }
    }

    /// Every kind, in the order a delivery meets them.
    pub const ALL: [EventKind; 9] = [
        Self::Received,
        Self::Refused,
        Self::Duplicate,
        Self::Queued,
        Self::Verified,
        Self::Skipped,
        Self::Processed,
        Self::RetryScheduled,
        Self::DeadLettered,
    ];
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One event in a delivery's life, borrowed from the code that reports it:
/// an [`Observer`] copies what it keeps.
///
/// Fields that do not apply to a kind are `None`. Headers never hold
/// credentials (the receiving side removes them before anything sees them,
/// as it does before the queue); headers and body come from the sender and
/// must be treated as hostile (escape them wherever they are shown).
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct DeliveryEvent<'a> {
    /// What happened.
    pub kind: EventKind,
    /// The source the delivery arrived on.
    pub source: &'a str,
    /// The delivery id, once known (after verification).
    pub delivery_id: Option<&'a str>,
    /// The event name, when the source's sender names it.
    pub event_name: Option<&'a str>,
    /// A finer outcome than the kind: the receiver's
    /// [`Outcome`](https://docs.rs/hookgate-receive) name (`queued`,
    /// `verified`, `filtered_out`, `superseded`, `duplicate`) for
    /// acknowledgements.
    pub outcome: Option<&'static str>,
    /// Why a request was refused (a `RejectionKind` name, e.g. `unauthenticated`).
    pub reason: Option<&'static str>,
    /// The HTTP status answered to the sender.
    pub status: Option<u16>,
    /// From the request's arrival to the answer, or a handler's run time.
    pub latency: Option<Duration>,
    /// The attempt number (worker events).
    pub attempt: Option<u32>,
    /// The refusal's detail, or the handler's error.
    pub error: Option<&'a str>,
    /// When a scheduled retry is due.
    pub retry_at: Option<std::time::SystemTime>,
    /// The headers as queued (credentials removed), for accepted deliveries.
    pub headers: Option<Headers<'a>>,
    /// The body as queued, for accepted deliveries. It may be a slice of the
    /// server's read buffer: an observer that keeps it should copy it.
    pub body: Option<&'a bytes::Bytes>,
}

impl<'a> DeliveryEvent<'a> {
    /// An event of `kind` on `source`, every other field empty.
    pub fn new(kind: EventKind, source: &'a str) -> Self {
        Self {
            kind,
            source,
            delivery_id: None,
            event_name: None,
            outcome: None,
            reason: None,
            status: None,
            latency: None,
            attempt: None,
            error: None,
            retry_at: None,
            headers: None,
            body: None,
        }
    }
}

/// A delivery's headers as an [`Observer`] is shown them: a map, or only
/// the headers of a map that a filter keeps, borrowed either way.
///
/// The receiver hands the queue a copy of the request's headers with the
/// credentials (and connection headers) left out; it shows an observer the
/// same headers as the request's map seen through the same filter, so that
/// telling an observer copies nothing. The filter is the receiver's: an
/// observer only ever reads what it lets through.
///
/// ```
/// use hookgate_queue::observe::Headers;
///
/// let mut map = http::HeaderMap::new();
/// map.insert("x-github-event", "issues".parse().unwrap());
/// map.insert("authorization", "Bearer secret".parse().unwrap());
/// let keep = |name: &http::HeaderName| *name != http::header::AUTHORIZATION;
/// let headers = Headers::filtered(&map, &keep);
/// let names: Vec<_> = headers.iter().map(|(name, _)| name.as_str()).collect();
/// assert_eq!(names, ["x-github-event"]);
/// assert!(headers.get("authorization").is_none());
/// ```
#[derive(Clone, Copy)]
pub struct Headers<'a> {
    map: &'a http::HeaderMap,
    keep: Option<&'a (dyn Fn(&http::HeaderName) -> bool + Sync)>,
}

impl<'a> Headers<'a> {
    /// Every header of `map`.
    pub fn new(map: &'a http::HeaderMap) -> Self {
        Self { map, keep: None }
    }

    /// The headers of `map` whose name `keep` accepts.
    pub fn filtered(
        map: &'a http::HeaderMap,
        keep: &'a (dyn Fn(&http::HeaderName) -> bool + Sync),
    ) -> Self {
        Self {
            map,
            keep: Some(keep),
        }
    }

    /// Names and values, in the map's order (a name with several values
    /// once per value).
    pub fn iter(&self) -> impl Iterator<Item = (&'a http::HeaderName, &'a http::HeaderValue)> + 'a {
        let keep = self.keep;
        self.map
            .iter()
            .filter(move |(name, _)| keep.is_none_or(|keep| keep(name)))
    }

    /// The first value of `name` (any case), when kept.
    pub fn get(&self, name: &str) -> Option<&'a http::HeaderValue> {
        self.iter()
            .find(|(kept, _)| *kept == name)
            .map(|(_, value)| value)
    }

    /// An owned copy (what the queue was given).
    pub fn to_header_map(&self) -> http::HeaderMap {
        let mut map = http::HeaderMap::with_capacity(self.map.len());
        for (name, value) in self.iter() {
            map.append(name.clone(), value.clone());
        }
        map
    }
}

impl<'a> From<&'a http::HeaderMap> for Headers<'a> {
    fn from(map: &'a http::HeaderMap) -> Self {
        Self::new(map)
    }
}

impl std::fmt::Debug for Headers<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// Told about every [`DeliveryEvent`] of the receivers and worker pools it is
/// given to (`ReceiverBuilder::observer`, [`WorkerPoolBuilder::observer`](crate::WorkerPoolBuilder::observer)).
///
/// Called inline on the request or worker path: keep it quick and never
/// block (copy what you need, then hand it to a channel). Without an
/// observer, nothing is built or allocated for it.
///
/// ```
/// use std::sync::Mutex;
/// use hookgate_queue::observe::{DeliveryEvent, EventKind, Observer};
///
/// #[derive(Debug, Default)]
/// struct Log(Mutex<Vec<String>>);
///
/// impl Observer for Log {
///     fn observe(&self, event: &DeliveryEvent<'_>) {
///         self.0.lock().unwrap().push(format!("{} {}", event.kind, event.source));
///     }
/// }
///
/// let log = Log::default();
/// log.observe(&DeliveryEvent::new(EventKind::Received, "github"));
/// assert_eq!(log.0.lock().unwrap()[0], "received github");
/// ```
pub trait Observer: Send + Sync + std::fmt::Debug + 'static {
    /// One event happened.
    fn observe(&self, event: &DeliveryEvent<'_>);
}
