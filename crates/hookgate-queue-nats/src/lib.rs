//! A NATS JetStream back-end for the hookgate delivery [`Queue`]: several
//! receivers and worker pools, on several machines, share one queue.
//!
//! # How it maps onto JetStream
//!
//! With stream name `S` (default `HOOKGATE`):
//!
//! - **Enqueue** publishes to `hookgate.S.work` in stream `S` (work-queue
//!   retention, file storage) with `Nats-Msg-Id: <source>/<delivery id>` and
//!   waits for the `PubAck`. A `PubAck` flagged duplicate is
//!   [`EnqueueOutcome::Duplicate`]: the stream's duplicate window (set to the
//!   deduplication window, 24 h by default) is the deduplication.
//! - **Lease** fetches from the durable pull consumer (default `workers`)
//!   with explicit ack. A lease lasts the consumer's `ack_wait`; after it
//!   the server redelivers the message to whoever fetches next.
//! - **Extending** a lease is an in-progress ack (`+WPI`), which restarts
//!   its `ack_wait` on the server.
//! - **Ack** is `+ACK`, **retry** is `-NAK` with a delay, **dead letter**
//!   publishes the delivery to stream `S_DEAD` then `+TERM`s it, **release**
//!   is `-NAK` without delay. Every one of them waits for the server's
//!   confirmation (double ack).
//! - What a message cannot carry (the error of the last attempt, when a
//!   retry is due, attempts that did not count, the waiting version of a
//!   coalesced object) is kept in the key-value bucket `S_STATE`; only
//!   retried, released and coalesced deliveries touch it.
//!
//! # Differences from the contract's other back-ends
//!
//! - The visibility timeout is the consumer's `ack_wait`
//!   ([`NatsQueueBuilder::ack_wait`], default 30 s), not
//!   [`LeaseRequest::visibility`]: JetStream keeps one per consumer. Set it
//!   to the worker pool's visibility. A consumer created earlier with
//!   another `ack_wait` is updated to it when the queue connects.
//! - A lease must be extended or finished (ack, retry, ...) through the
//!   handle that took it: the handle remembers its leases, which is how a stale lease (expired,
//!   finished, or redelivered) is recognised, since JetStream would accept
//!   it. Finishing or extending a lease less than a tenth of `ack_wait` (at
//!   most 1 s) before it expires counts as too late, to stay clear of the
//!   redelivery. [`extend`](Queue::extend) restarts `ack_wait` whatever
//!   visibility it is given.
//! - [`recover`](Queue::recover) has nothing to do (the server redelivers
//!   expired messages) and returns 0.
//! - Skipped sources are handed back with `-NAK`: the message is redelivered
//!   at once and the skip does not count as an attempt.
//! - [`Stats::oldest_ready_age`] is the age of the first delivery the
//!   consumer has not delivered yet, found in one request past the
//!   consumer's position: deliveries handed back for redelivery (released,
//!   expired leases, retries that are due) are counted, but their ages are
//!   not looked at. `stats` reads the retries' side states from the
//!   bucket, one request each (64 at a time).
//! - Deduplication survives a NATS restart only for messages still in the
//!   stream: the server rebuilds its duplicate window from stored messages,
//!   and handled ones are gone (work-queue retention). Handlers are
//!   idempotent anyway (at-least-once).
//!
//! # Durability: configure NATS for it
//!
//! A `PubAck` means the message is in the stream's file, written to the
//! operating system. Standalone NATS `fsync`s it every `sync_interval`
//! (2 minutes by default): a power loss can lose what was acknowledged
//! since. For no loss, run a cluster with [`NatsQueueBuilder::replicas`] 3
//! (a `PubAck` then means a quorum stored it), and/or set
//! `jetstream { sync_interval: always }` (NATS 2.10+). The development
//! machine's NATS runs standalone with the defaults.
//!
//! Streams that exist are used as they are: [`NatsQueue::check_durability`]
//! refuses one with memory storage, fewer replicas than asked for, or limits
//! of its own (at a `max_bytes`, `max_msgs` or `max_age`, NATS removes stored
//! messages: NATS 2.9 removes the oldest even with `discard = new`), and
//! says that `sync_interval` cannot be read; `hookgate serve` calls it at
//! start. [`NatsQueueBuilder::max_bytes`] bounds the work stream by refusing
//! new deliveries instead.
//!
//! # Errors
//!
//! An unreachable server, a broken connection or a timeout (default 2 s per
//! operation) is [`QueueErrorKind::Unavailable`](hookgate_queue::QueueErrorKind::Unavailable)
//! with a `Retry-After` hint of 1 s; the client reconnects by itself. An
//! enqueue that timed out may still be stored: the sender's retry is then a
//! `Duplicate`.
//!
//! # Example
//!
//! ```no_run
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
//! use std::time::{Duration, SystemTime};
//! use hookgate_queue::{EnqueueOutcome, LeaseRequest, NewDelivery, Enqueue, Queue};
//! use hookgate_queue_nats::NatsQueue;
//!
//! let queue = NatsQueue::builder("nats://127.0.0.1:4222")
//!     .stream("ORDERS")
//!     .ack_wait(Duration::from_secs(30))
//!     .connect()
//!     .await?;
//! let delivery = NewDelivery::new("clarife", "evt_1", SystemTime::now(), &b"{}"[..]);
//! assert_eq!(queue.enqueue(delivery.clone()).await?, EnqueueOutcome::Enqueued);
//! assert_eq!(queue.enqueue(delivery).await?, EnqueueOutcome::Duplicate);
//! let leased = queue.lease(LeaseRequest::new(10, Duration::from_secs(30))).await?;
//! queue.ack(leased[0].lease.clone()).await?;
//! # Ok::<(), hookgate_queue::QueueError>(())
//! # }).unwrap();
//! ```
//!
//! Names are checked before anything is sent:
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use hookgate_queue::QueueErrorKind;
//! use hookgate_queue_nats::NatsQueue;
//!
//! let err = NatsQueue::builder("nats://127.0.0.1:4222")
//!     .stream("has.dots")
//!     .connect()
//!     .await
//!     .unwrap_err();
//! assert_eq!(err.kind(), QueueErrorKind::Invalid);
//! # });
//! ```

mod envelope;
mod state;

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use async_nats::jetstream::{self, AckKind, consumer::PullConsumer, kv, stream};
use futures_util::StreamExt;
use hookgate_queue::{
    BoxFuture, DEFAULT_DEDUP_WINDOW, DeadLetter, Delivery, DeliveryKey, Enqueue, EnqueueOutcome,
    LeaseId, LeaseRequest, Leased, NewDelivery, Queue, QueueError, ReadySignal, Replay, Stats,
    StorageLimit, StorageUsage, Wakeups, observe,
};
pub use hookgate_queue::{Durability, DurabilityCheck};

use crate::envelope::Envelope;
use crate::state::State;

/// The default time one operation may take before it fails with `Unavailable`.
pub const DEFAULT_OPERATION_TIMEOUT: Duration = Duration::from_secs(2);
/// The default lease duration (the consumer's `ack_wait`).
pub const DEFAULT_ACK_WAIT: Duration = Duration::from_secs(30);
/// The default stream name.
pub const DEFAULT_STREAM: &str = "HOOKGATE";
/// The default durable consumer name.
pub const DEFAULT_CONSUMER: &str = "workers";
/// The `Retry-After` hint given when NATS cannot be reached.
const UNAVAILABLE_RETRY_AFTER: Duration = Duration::from_secs(1);
/// The `Retry-After` hint given when the work stream is full: it empties as
/// fast as workers handle deliveries.
const FULL_RETRY_AFTER: Duration = Duration::from_secs(5);
/// The longest redelivery delay JetStream can be asked for.
const MAX_NAK_DELAY: Duration = Duration::from_nanos(i64::MAX as u64);
/// How many side states [`NatsQueue::stats`] reads at once.
const STATE_READS_IN_FLIGHT: usize = 64;
const ATTEMPTS_HEADER: &str = "Hookgate-Attempts";
const DEAD_AT_HEADER: &str = "Hookgate-Dead-At";

/// Configures a [`NatsQueue`].
#[must_use]
pub struct NatsQueueBuilder {
    url: String,
    stream: String,
    consumer: String,
    dedup_window: Duration,
    ack_wait: Duration,
    max_deliver: Option<i64>,
    backoff: Vec<Duration>,
    replicas: usize,
    max_bytes: Option<u64>,
    operation_timeout: Duration,
}

impl NatsQueueBuilder {
    /// The work stream's name (default `HOOKGATE`); the dead letters go to
    /// `<name>_DEAD`, the side state to bucket `<name>_STATE`, and subjects
    /// are `hookgate.<name>.*`. Letters, digits, `-` and `_` only.
    pub fn stream(mut self, name: impl Into<String>) -> Self {
        self.stream = name.into();
        self
    }

    /// The durable consumer's name (default `workers`). Every handle of one
    /// queue must use the same name: they share the consumer.
    pub fn consumer(mut self, name: impl Into<String>) -> Self {
        self.consumer = name.into();
        self
    }

    /// The stream's duplicate window (default 24 h).
    pub fn dedup_window(mut self, window: Duration) -> Self {
        self.dedup_window = window;
        self
    }

    /// How long a lease lasts before the server redelivers (default 30 s).
    pub fn ack_wait(mut self, ack_wait: Duration) -> Self {
        self.ack_wait = ack_wait;
        self
    }

    /// The consumer's `max_deliver` (default unlimited). Past it JetStream
    /// stops delivering a message without telling anyone, so keep it above
    /// the worker pool's own limit (which dead-letters properly): it is a
    /// backstop against a handler that crashes the process every time.
    pub fn max_deliver(mut self, max_deliver: u32) -> Self {
        self.max_deliver = Some(i64::from(max_deliver));
        self
    }

    /// The consumer's redelivery `backoff` after a lease expires (default
    /// none: `ack_wait`). Needs [`max_deliver`](Self::max_deliver) above its length.
    pub fn backoff(mut self, backoff: impl IntoIterator<Item = Duration>) -> Self {
        self.backoff = backoff.into_iter().collect();
        self
    }

    /// The streams' replica count (default 1; 3 in a cluster for durability).
    pub fn replicas(mut self, replicas: usize) -> Self {
        self.replicas = replicas.max(1);
        self
    }

    /// The most bytes the work stream may hold (default: no limit). Past it
    /// enqueues fail with
    /// [`QueueErrorKind::Full`](hookgate_queue::QueueErrorKind::Full) for
    /// [`StorageLimit::MaxBytes`]: the receiving side answers `503` with
    /// `Retry-After`.
    ///
    /// The budget is kept by the queue, not by the stream's own `max_bytes`:
    /// NATS 2.9 drops the *oldest* messages of a work-queue stream at its
    /// limit even with `discard = new` (measured: 64 publishes acknowledged,
    /// 13 kept), which would lose acknowledged deliveries. Each handle reads
    /// the stream's size at most once a second and counts its own publishes
    /// in between, so several receivers together may pass the budget by what
    /// they enqueue in that second; nothing is ever dropped.
    pub fn max_bytes(mut self, bytes: u64) -> Self {
        self.max_bytes = Some(bytes);
        self
    }

    /// The most time one operation may take (default 2 s); past it the
    /// operation fails with `Unavailable`.
    pub fn operation_timeout(mut self, timeout: Duration) -> Self {
        self.operation_timeout = timeout;
        self
    }

    /// Connects, and creates the streams, the consumer and the bucket if they
    /// do not exist (existing ones are used as they are). Later connection
    /// losses are repaired in the background.
    pub async fn connect(self) -> Result<NatsQueue, QueueError> {
        let valid = |name: &str| {
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if !valid(&self.stream) {
            return Err(QueueError::invalid(format!(
                "invalid nats stream name {:?}: letters, digits, '-' and '_' only",
                self.stream
            )));
        }
        if !valid(&self.consumer) {
            return Err(QueueError::invalid(format!(
                "invalid nats consumer name {:?}: letters, digits, '-' and '_' only",
                self.consumer
            )));
        }
        let timeout = self.operation_timeout;
        let options = async_nats::ConnectOptions::new()
            .connection_timeout(timeout)
            .request_timeout(Some(timeout));
        let client = bounded(timeout, async {
            options
                .connect(self.url.as_str())
                .await
                .map_err(unavailable)
        })
        .await?;
        let mut js = jetstream::new(client.clone());
        js.set_timeout(timeout);

        let subjects = Subjects::new(&self.stream);
        let work = bounded(timeout, async {
            js.get_or_create_stream(stream::Config {
                name: self.stream.clone(),
                subjects: vec![subjects.work.clone(), subjects.superseded.clone()],
                retention: stream::RetentionPolicy::WorkQueue,
                storage: stream::StorageType::File,
                duplicate_window: self.dedup_window,
                num_replicas: self.replicas,
                ..Default::default()
            })
            .await
            .map_err(|err| setup_error("creating the work stream", err))
        })
        .await?;
        let dead = bounded(timeout, async {
            js.get_or_create_stream(stream::Config {
                name: format!("{}_DEAD", self.stream),
                subjects: vec![subjects.dead.clone()],
                storage: stream::StorageType::File,
                num_replicas: self.replicas,
                ..Default::default()
            })
            .await
            .map_err(|err| setup_error("creating the dead-letter stream", err))
        })
        .await?;
        let config = jetstream::consumer::pull::Config {
            durable_name: Some(self.consumer.clone()),
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            ack_wait: self.ack_wait,
            max_deliver: self.max_deliver.unwrap_or(-1),
            backoff: self.backoff.clone(),
            filter_subject: subjects.work.clone(),
            max_ack_pending: 1_000_000,
            ..Default::default()
        };
        let mut consumer: PullConsumer = bounded(timeout, async {
            work.get_or_create_consumer(&self.consumer, config.clone())
                .await
                .map_err(|err| setup_error("creating the consumer", err))
        })
        .await?;
        // A consumer created earlier keeps its lease duration: bring it to
        // the one asked for, since handles count their leases' deadlines
        // with it (and a long one delays what a crashed worker held).
        let mut ack_wait = self.ack_wait;
        let existing = consumer.cached_info().config.ack_wait;
        if existing != ack_wait {
            match bounded(timeout, async {
                work.create_consumer(config.clone())
                    .await
                    .map_err(|err| setup_error("updating the consumer's ack_wait", err))
            })
            .await
            {
                Ok(updated) => consumer = updated,
                Err(err) => {
                    tracing::warn!(
                        error = %err,
                        consumer = %self.consumer,
                        ?existing,
                        wanted = ?ack_wait,
                        "the consumer keeps its ack_wait; leases last that long"
                    );
                    ack_wait = existing;
                }
            }
        }
        let bucket = format!("{}_STATE", self.stream);
        let state = bounded(timeout, async {
            // The bucket's stream is created by hand, laid out as the KV API
            // expects: `create_key_value` first queries account information
            // in a shape NATS 2.9 does not send.
            js.get_or_create_stream(stream::Config {
                name: format!("KV_{bucket}"),
                subjects: vec![format!("$KV.{bucket}.>")],
                max_messages_per_subject: 1,
                discard: stream::DiscardPolicy::New,
                allow_rollup: true,
                deny_delete: true,
                allow_direct: true,
                storage: stream::StorageType::File,
                num_replicas: self.replicas,
                ..Default::default()
            })
            .await
            .map_err(|err| setup_error("creating the state bucket", err))?;
            js.get_key_value(&bucket)
                .await
                .map_err(|err| setup_error("opening the state bucket", err))
        })
        .await?;
        // A lease finished this close to its expiry may race the redelivery.
        let margin = (ack_wait / 10).min(Duration::from_secs(1));
        Ok(NatsQueue {
            inner: Arc::new(Inner {
                ready: ReadySignal::new(),
                js,
                work,
                dead,
                consumer,
                state,
                subjects,
                stream: self.stream,
                replicas: self.replicas,
                budget: self.max_bytes.map(ByteBudget::new),
                ack_wait,
                margin,
                timeout,
                leases: Mutex::new(HashMap::new()),
            }),
        })
    }
}

impl fmt::Debug for NatsQueueBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may hold credentials.
        f.debug_struct("NatsQueueBuilder")
            .field("url", &"[redacted]")
            .field("stream", &self.stream)
            .field("consumer", &self.consumer)
            .field("dedup_window", &self.dedup_window)
            .field("ack_wait", &self.ack_wait)
            .field("max_deliver", &self.max_deliver)
            .field("backoff", &self.backoff)
            .field("replicas", &self.replicas)
            .field("max_bytes", &self.max_bytes)
            .field("operation_timeout", &self.operation_timeout)
            .finish()
    }
}

#[derive(Debug)]
struct Subjects {
    work: String,
    superseded: String,
    dead: String,
}

impl Subjects {
    fn new(stream: &str) -> Self {
        Self {
            work: format!("hookgate.{stream}.work"),
            superseded: format!("hookgate.{stream}.superseded"),
            dead: format!("hookgate.{stream}.dead"),
        }
    }
}

/// A [`Queue`] in NATS JetStream, shared by every handle with the same
/// stream and consumer names, in any process. Clones share one connection
/// and one lease table.
#[derive(Clone)]
pub struct NatsQueue {
    inner: Arc<Inner>,
}

struct Inner {
    js: jetstream::Context,
    work: stream::Stream,
    dead: stream::Stream,
    consumer: PullConsumer,
    state: kv::Store,
    subjects: Subjects,
    stream: String,
    /// The replicas asked for: those of the streams this handle creates, and
    /// the fewest [`NatsQueue::check_durability`] accepts.
    replicas: usize,
    /// `max_bytes`, kept by this handle (see [`NatsQueueBuilder::max_bytes`]).
    budget: Option<ByteBudget>,
    ack_wait: Duration,
    margin: Duration,
    timeout: Duration,
    leases: Mutex<HashMap<LeaseId, Held>>,
    /// Wakes this process's idle worker pools (see [`Queue::wakeups`]).
    ready: ReadySignal,
}

/// The work stream's byte budget, as one handle sees it: the stream's size
/// read from the server at most once per [`ByteBudget::REFRESH`], plus what
/// this handle published since.
struct ByteBudget {
    max: u64,
    seen: Mutex<SeenSize>,
}

struct SeenSize {
    bytes: u64,
    /// When `bytes` was read from the server; `None` before the first read.
    read_at: Option<Instant>,
}

impl ByteBudget {
    const REFRESH: Duration = Duration::from_secs(1);

    fn new(max: u64) -> Self {
        Self {
            max,
            seen: Mutex::new(SeenSize {
                bytes: 0,
                read_at: None,
            }),
        }
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, SeenSize> {
        // Two plain numbers: consistent whatever panicked.
        self.seen.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the size should be read again from the server.
    fn stale(&self) -> bool {
        self.seen()
            .read_at
            .is_none_or(|at| at.elapsed() >= Self::REFRESH)
    }

    fn set(&self, bytes: u64) {
        *self.seen() = SeenSize {
            bytes,
            read_at: Some(Instant::now()),
        };
    }

    /// Takes `len` bytes of the budget, or says it is spent.
    fn take(&self, len: u64) -> Result<(), QueueError> {
        let mut seen = self.seen();
        if seen.bytes.saturating_add(len) > self.max {
            return Err(QueueError::full_at(
                StorageLimit::MaxBytes,
                Some(format!(
                    "the work stream holds {} bytes of its max_bytes {}",
                    seen.bytes, self.max
                )),
                FULL_RETRY_AFTER,
            ));
        }
        seen.bytes += len;
        Ok(())
    }
}

/// A lease this handle holds.
struct Held {
    message: jetstream::Message,
    sequence: u64,
    deadline: Instant,
    attempt: u32,
    state: Option<State>,
}

/// What to do with a held lease.
enum Finish {
    Ack,
    Retry { at: SystemTime, error: String },
    Dead { error: String },
    Release,
}

impl NatsQueue {
    /// A builder for a queue at `url` (`nats://host:port`).
    pub fn builder(url: impl Into<String>) -> NatsQueueBuilder {
        NatsQueueBuilder {
            url: url.into(),
            stream: DEFAULT_STREAM.to_owned(),
            consumer: DEFAULT_CONSUMER.to_owned(),
            dedup_window: DEFAULT_DEDUP_WINDOW,
            ack_wait: DEFAULT_ACK_WAIT,
            max_deliver: None,
            backoff: Vec::new(),
            replicas: 1,
            max_bytes: None,
            operation_timeout: DEFAULT_OPERATION_TIMEOUT,
        }
    }

    /// The work stream's name.
    pub fn stream(&self) -> &str {
        &self.inner.stream
    }

    /// Checks that the queue's streams keep an acknowledged enqueue as
    /// durable as `required` says, in the words of the SQLite queue's setting.
    ///
    /// [`connect`](NatsQueueBuilder::connect) uses streams that exist as they
    /// are, so one created by hand (or by another tool) may not be what this
    /// builder would create. Each of the three streams (work, dead letters,
    /// state bucket) is read afresh from the server:
    ///
    /// - memory storage meets neither level: a restart of NATS loses every
    ///   acknowledged delivery it holds;
    /// - fewer replicas than [`NatsQueueBuilder::replicas`] asked for is
    ///   refused too: the quorum that acknowledges a write is smaller than
    ///   the operator planned for;
    /// - a limit on the work or dead-letter stream (`max_bytes`, `max_msgs`,
    ///   `max_age`) is refused: at it, NATS removes stored messages, which
    ///   are acknowledged deliveries (NATS 2.9 removes the oldest even with
    ///   `discard = new`); [`NatsQueueBuilder::max_bytes`] is the budget that
    ///   refuses new deliveries instead;
    /// - file storage meets [`Durability::ProcessCrash`]: a `PubAck` means the
    ///   message is written to the stream's files. Whether it is `fsync`ed
    ///   first is the server's `sync_interval` (every 2 minutes by default;
    ///   `always` since NATS 2.10), which clients cannot read: for
    ///   [`Durability::Fsync`] the answer is [`DurabilityCheck::Unverified`],
    ///   saying what to check.
    ///
    /// # Errors
    ///
    /// `Invalid`, naming the stream and the setting to change, when a stream
    /// does not meet `required`; `Unavailable` when the server does not answer.
    pub async fn check_durability(
        &self,
        required: Durability,
    ) -> Result<DurabilityCheck, QueueError> {
        let names = [
            self.inner.stream.clone(),
            format!("{}_DEAD", self.inner.stream),
            format!("KV_{}_STATE", self.inner.stream),
        ];
        for name in names {
            let config = bounded(self.inner.timeout, async {
                let mut stream = self
                    .inner
                    .js
                    .get_stream(&name)
                    .await
                    .map_err(|err| setup_error("reading the stream's settings", err))?;
                let info = stream
                    .info()
                    .await
                    .map_err(|err| setup_error("reading the stream's settings", err))?;
                Ok(info.config.clone())
            })
            .await?;
            if let Some(problem) = durability_problem(required, &name, &config, self.inner.replicas)
            {
                return Err(QueueError::invalid(problem));
            }
        }
        Ok(match required {
            Durability::ProcessCrash => DurabilityCheck::Met,
            _ => DurabilityCheck::Unverified {
                reason: format!(
                    "nats acknowledges a message once it is written to the stream's files, and fsyncs them every \
                     `sync_interval` (2 minutes by default), which a client cannot read: for durability = \"{required}\" \
                     check that the server has `jetstream {{ sync_interval: always }}` (NATS 2.10+), \
                     or set durability = \"process-crash\""
                ),
            },
        })
    }

    fn leases(&self) -> std::sync::MutexGuard<'_, HashMap<LeaseId, Held>> {
        // The map stays consistent whatever panicked: each change is one call.
        self.inner
            .leases
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn state_key(sequence: u64) -> String {
        format!("s.{sequence}")
    }

    fn coalesce_key(source: &str, key: &str) -> String {
        // KV keys allow few characters: hex keeps any source and key apart.
        let mut out = String::from("c.");
        for byte in source.len().to_string().bytes().chain([b'_']) {
            out.push(char::from(byte));
        }
        for byte in source.bytes().chain(key.bytes()) {
            out.push_str(&format!("{byte:02x}"));
        }
        out
    }

    async fn publish(
        &self,
        subject: &str,
        headers: async_nats::HeaderMap,
        payload: bytes::Bytes,
    ) -> Result<jetstream::publish::PublishAck, QueueError> {
        let ack = self
            .inner
            .js
            .publish_with_headers(subject.to_owned(), headers, payload)
            .await
            .map_err(publish_error)?;
        ack.await.map_err(publish_error)
    }

    async fn enqueue_now(&self, new: NewDelivery) -> Result<EnqueueOutcome, QueueError> {
        if new.source.is_empty() {
            return Err(QueueError::invalid("empty source name"));
        }
        if new.delivery_id.is_empty() {
            return Err(QueueError::invalid("empty delivery id"));
        }
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(
            "Nats-Msg-Id",
            DeliveryKey::new(new.source.clone(), new.delivery_id.clone())
                .to_string()
                .as_str(),
        );
        let payload = envelope::encode(&new, None);
        if let Some(budget) = &self.inner.budget {
            if budget.stale() {
                let mut work = self.inner.work.clone();
                let info = work.info().await.map_err(unavailable)?;
                budget.set(info.state.bytes);
            }
            // What the server counts, rounded up: its record (22 bytes and an
            // 8-byte hash), the subject, the header block with the id, the payload.
            let id_len = new.source.len() + 1 + new.delivery_id.len();
            let subject_len = self.inner.subjects.work.len();
            budget.take((payload.len() + subject_len + id_len + 64) as u64)?;
        }
        let Some(key) = &new.coalesce_key else {
            let ack = self
                .publish(&self.inner.subjects.work, headers, payload)
                .await?;
            return Ok(if ack.duplicate {
                EnqueueOutcome::Duplicate
            } else {
                EnqueueOutcome::Enqueued
            });
        };

        // Coalescing: find the version of this object still waiting, if any.
        let slot = Self::coalesce_key(&new.source, key);
        let waiting = self.waiting_version(&slot).await?;
        if let Some((_, received)) = waiting
            && received > envelope::micros(new.received_at)
        {
            // A newer version waits: record the id for deduplication only,
            // on a subject no consumer reads, and drop the message itself.
            let ack = self
                .publish(&self.inner.subjects.superseded, headers, payload)
                .await?;
            if ack.duplicate {
                return Ok(EnqueueOutcome::Duplicate);
            }
            self.inner
                .work
                .delete_message(ack.sequence)
                .await
                .map_err(unavailable)?;
            return Ok(EnqueueOutcome::Superseded);
        }
        let ack = self
            .publish(&self.inner.subjects.work, headers, payload)
            .await?;
        if ack.duplicate {
            return Ok(EnqueueOutcome::Duplicate);
        }
        let value = format!("{} {}", ack.sequence, envelope::micros(new.received_at));
        self.inner
            .state
            .put(&slot, value.into())
            .await
            .map_err(unavailable)?;
        if let Some((older, _)) = waiting {
            // It may have been leased since we looked: then it is simply
            // gone for its holder, and the newer version is handled instead.
            if let Err(err) = self.inner.work.delete_message(older).await {
                tracing::debug!(%err, sequence = older, "older coalesced version already gone");
            }
        }
        Ok(EnqueueOutcome::Enqueued)
    }

    /// The sequence and received time (µs) of the version waiting in `slot`,
    /// if it has not been delivered yet.
    async fn waiting_version(&self, slot: &str) -> Result<Option<(u64, u64)>, QueueError> {
        let Some(value) = self.inner.state.get(slot).await.map_err(unavailable)? else {
            return Ok(None);
        };
        let text = String::from_utf8_lossy(&value);
        let Some((sequence, received)) = text
            .split_once(' ')
            .and_then(|(s, r)| Some((s.parse::<u64>().ok()?, r.parse::<u64>().ok()?)))
        else {
            return Ok(None);
        };
        let mut consumer = self.inner.consumer.clone();
        let delivered = consumer
            .info()
            .await
            .map_err(unavailable)?
            .delivered
            .stream_sequence;
        Ok((sequence > delivered).then_some((sequence, received)))
    }

    async fn lease_now(&self, request: LeaseRequest) -> Result<Vec<Leased>, QueueError> {
        if request.max == 0 {
            return Ok(Vec::new());
        }
        let started = Instant::now();
        let expires_at = SystemTime::now() + self.inner.ack_wait;
        let deadline = started + self.inner.ack_wait.saturating_sub(self.inner.margin);
        let mut batch = self
            .inner
            .consumer
            .fetch()
            .max_messages(request.max)
            .messages()
            .await
            .map_err(unavailable)?;
        let mut leased = Vec::new();
        while let Some(message) = batch.next().await {
            let message = message.map_err(unavailable)?;
            let (sequence, delivered) = match message.info() {
                Ok(info) => (info.stream_sequence, info.delivered),
                Err(err) => {
                    tracing::warn!(%err, "message without jetstream metadata");
                    continue;
                }
            };
            let Some(Envelope {
                delivery,
                last_error,
            }) = envelope::decode(message.payload.clone())
            else {
                tracing::error!(sequence, "undecodable message terminated");
                message
                    .double_ack_with(AckKind::Term)
                    .await
                    .map_err(unavailable)?;
                continue;
            };
            let mut state = if delivered > 1 {
                self.load_state(sequence).await?
            } else {
                None
            };
            if request.skip_sources.contains(&delivery.source) {
                let mut skipped = state.unwrap_or_default();
                skipped.uncounted += 1;
                self.save_state(sequence, &skipped).await?;
                message
                    .double_ack_with(AckKind::Nak(None))
                    .await
                    .map_err(unavailable)?;
                continue;
            }
            if let Some(redelivered) = state.as_mut()
                && redelivered.due.take().is_some()
            {
                // The retry is due and delivered: no longer scheduled.
                self.save_state(sequence, redelivered).await?;
            }
            let uncounted = state.as_ref().map_or(0, |s| s.uncounted);
            let attempt = u32::try_from(delivered.max(1))
                .unwrap_or(u32::MAX)
                .saturating_sub(uncounted)
                .max(1);
            let last_error = state.as_ref().and_then(|s| s.error.clone()).or(last_error);
            let lease = LeaseId::new(format!("{sequence}.{delivered}"));
            let delivery = Delivery::new(delivery, attempt, last_error);
            self.leases().insert(
                lease.clone(),
                Held {
                    message,
                    sequence,
                    deadline,
                    attempt,
                    state,
                },
            );
            leased.push(Leased::new(delivery, lease, expires_at));
        }
        Ok(leased)
    }

    /// Tells the server the attempt on `lease` is still in progress, which
    /// restarts its `ack_wait`; the handle's deadline moves with it.
    async fn extend_one(&self, lease: &LeaseId) -> Result<SystemTime, QueueError> {
        let message = {
            let mut leases = self.leases();
            let Some(held) = leases.get(lease) else {
                return Err(QueueError::lease_lost());
            };
            if Instant::now() >= held.deadline {
                // Redelivered (or about to be): this handle no longer holds it.
                leases.remove(lease);
                return Err(QueueError::lease_lost());
            }
            held.message.clone()
        };
        // The server restarts the lease when the ack arrives, after this.
        let (sent, sent_at) = (Instant::now(), SystemTime::now());
        message
            .double_ack_with(AckKind::Progress)
            .await
            .map_err(unavailable)?;
        let mut leases = self.leases();
        // Finished meanwhile: nothing left to extend.
        let held = leases.get_mut(lease).ok_or_else(QueueError::lease_lost)?;
        held.deadline = sent + self.inner.ack_wait.saturating_sub(self.inner.margin);
        Ok(sent_at + self.inner.ack_wait)
    }

    async fn load_state(&self, sequence: u64) -> Result<Option<State>, QueueError> {
        let value = self
            .inner
            .state
            .get(Self::state_key(sequence))
            .await
            .map_err(unavailable)?;
        Ok(value.and_then(|v| State::decode(&v)))
    }

    async fn save_state(&self, sequence: u64, state: &State) -> Result<(), QueueError> {
        self.inner
            .state
            .put(Self::state_key(sequence), state.encode())
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn finish(&self, lease: &LeaseId, finish: Finish) -> Result<(), QueueError> {
        let held = self
            .leases()
            .remove(lease)
            .ok_or_else(QueueError::lease_lost)?;
        if Instant::now() >= held.deadline {
            return Err(QueueError::lease_lost());
        }
        let sequence = held.sequence;
        let ack = match finish {
            Finish::Ack => AckKind::Ack,
            Finish::Release => {
                let mut state = held.state.clone().unwrap_or_default();
                state.uncounted += 1;
                self.save_state(sequence, &state).await?;
                AckKind::Nak(None)
            }
            Finish::Retry { at, error } => {
                let mut state = held.state.clone().unwrap_or_default();
                state.error = Some(error);
                state.due = Some(envelope::micros(at) / 1000);
                self.save_state(sequence, &state).await?;
                // The server reads the delay as i64 nanoseconds (292 years):
                // a retry further ahead waits that long, instead of a delay
                // the server cannot parse.
                let delay = at
                    .duration_since(SystemTime::now())
                    .unwrap_or(Duration::ZERO)
                    .min(MAX_NAK_DELAY);
                AckKind::Nak(Some(delay))
            }
            Finish::Dead { error } => {
                let Envelope { delivery, .. } = envelope::decode(held.message.payload.clone())
                    .ok_or_else(|| QueueError::storage("undecodable message"))?;
                let mut headers = async_nats::HeaderMap::new();
                headers.insert(ATTEMPTS_HEADER, held.attempt.to_string().as_str());
                let dead_at = envelope::micros(SystemTime::now());
                headers.insert(DEAD_AT_HEADER, dead_at.to_string().as_str());
                let payload = envelope::encode(&delivery, Some(&error));
                self.publish(&self.inner.subjects.dead, headers, payload)
                    .await?;
                AckKind::Term
            }
        };
        let done_with_state = matches!(ack, AckKind::Ack | AckKind::Term);
        held.message
            .double_ack_with(ack)
            .await
            .map_err(unavailable)?;
        if done_with_state && held.state.is_some() {
            // Removed from the bucket's stream altogether: a key-value purge
            // leaves a marker per key, which `stats` (listing the keys) would
            // read for every delivery ever retried or released.
            let subject = format!("{}{}", self.inner.state.prefix, Self::state_key(sequence));
            self.inner
                .state
                .stream
                .purge()
                .filter(subject)
                .await
                .map_err(unavailable)?;
        }
        Ok(())
    }

    /// Every dead letter with its sequence in the dead stream.
    async fn dead_letters(&self) -> Result<Vec<(u64, DeadLetter)>, QueueError> {
        let mut dead = self.inner.dead.clone();
        let info = dead.info().await.map_err(unavailable)?;
        let (first, last, count) = (
            info.state.first_sequence,
            info.state.last_sequence,
            info.state.messages,
        );
        let mut out = Vec::new();
        if count == 0 {
            return Ok(out);
        }
        for sequence in first..=last {
            let Ok(message) = self.inner.dead.get_raw_message(sequence).await else {
                continue; // deleted (replayed)
            };
            let Some(Envelope {
                delivery,
                last_error,
            }) = envelope::decode(message.payload)
            else {
                tracing::error!(sequence, "undecodable dead letter skipped");
                continue;
            };
            let number = |name: &str| {
                message
                    .headers
                    .get(name)
                    .and_then(|v| v.as_str().parse::<u64>().ok())
            };
            let attempts = number(ATTEMPTS_HEADER).unwrap_or(0);
            let dead_at = envelope::from_micros(number(DEAD_AT_HEADER).unwrap_or(0));
            let error = last_error.clone().unwrap_or_default();
            let delivery = Delivery::new(
                delivery,
                u32::try_from(attempts).unwrap_or(u32::MAX),
                last_error,
            );
            out.push((sequence, DeadLetter::new(delivery, error, dead_at)));
        }
        Ok(out)
    }

    async fn list_dead_now(&self, limit: usize) -> Result<Vec<DeadLetter>, QueueError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut dead: Vec<DeadLetter> = self
            .dead_letters()
            .await?
            .into_iter()
            .map(|(_, d)| d)
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
        Ok(dead)
    }

    async fn replay_now(&self, selection: Replay) -> Result<u64, QueueError> {
        let chosen = |d: &Delivery| match &selection {
            Replay::One(key) => key.source == d.source && key.delivery_id == d.delivery_id,
            Replay::All => true,
            Replay::ReceivedBetween { from, to } => d.received_at >= *from && d.received_at < *to,
            _ => false,
        };
        let mut count = 0;
        for (sequence, dead) in self.dead_letters().await? {
            if !chosen(&dead.delivery) {
                continue;
            }
            let delivery = dead.delivery;
            let mut new = NewDelivery::new(
                delivery.source,
                delivery.delivery_id,
                delivery.received_at,
                delivery.body,
            )
            .with_headers(delivery.headers);
            new.coalesce_key = delivery.coalesce_key;
            let mut headers = async_nats::HeaderMap::new();
            // Its own id: the original one is still in the duplicate window,
            // and a replay retried after a failure must not queue it twice.
            let id = format!("replay/{}/{sequence}", self.inner.stream);
            headers.insert("Nats-Msg-Id", id.as_str());
            self.publish(
                &self.inner.subjects.work,
                headers,
                envelope::encode(&new, Some(&dead.error)),
            )
            .await?;
            self.inner
                .dead
                .delete_message(sequence)
                .await
                .map_err(unavailable)?;
            count += 1;
        }
        match selection {
            Replay::One(key) if count == 0 => {
                Err(QueueError::not_found(format!("no dead letter {key}")))
            }
            _ => Ok(count),
        }
    }

    async fn stats_now(&self) -> Result<Stats, QueueError> {
        // Four independent reads, sent together instead of one after another.
        let (info, dead_count, work, (scheduled, due_now)) = tokio::try_join!(
            async {
                let mut consumer = self.inner.consumer.clone();
                Ok::<_, QueueError>(consumer.info().await.map_err(unavailable)?.clone())
            },
            async {
                let mut dead = self.inner.dead.clone();
                Ok(dead.info().await.map_err(unavailable)?.state.messages)
            },
            async {
                let mut work = self.inner.work.clone();
                Ok(work.info().await.map_err(unavailable)?.clone())
            },
            self.retries_waiting(),
        )?;

        let mut stats = Stats::default();
        stats.ready = info.num_pending + due_now;
        stats.scheduled = scheduled;
        stats.leased = (info.num_ack_pending as u64).saturating_sub(scheduled + due_now);
        stats.dead = dead_count;
        let mut storage = StorageUsage::default();
        storage.bytes = work.state.bytes;
        if let Some(budget) = &self.inner.budget {
            budget.set(work.state.bytes);
            if work.state.bytes >= budget.max {
                storage.limit_reached = Some(StorageLimit::MaxBytes);
            }
        }
        stats.storage = Some(storage);
        if info.num_pending > 0 {
            stats.oldest_ready_age = self
                .first_waiting(info.delivered.stream_sequence)
                .await?
                .map(|received| {
                    SystemTime::now()
                        .duration_since(received)
                        .unwrap_or_default()
                });
        }
        observe::record_stats(&stats);
        Ok(stats)
    }

    /// Retries waiting for their time, and those due (both pending acks to
    /// JetStream), from the state bucket: one request per retried or
    /// released delivery, [`STATE_READS_IN_FLIGHT`] at a time.
    async fn retries_waiting(&self) -> Result<(u64, u64), QueueError> {
        let mut sequences = Vec::new();
        let mut keys = self.inner.state.keys().await.map_err(unavailable)?;
        while let Some(key) = keys.next().await {
            let key = key.map_err(unavailable)?;
            if let Some(sequence) = key.strip_prefix("s.").and_then(|s| s.parse::<u64>().ok()) {
                sequences.push(sequence);
            }
        }
        let now_ms = envelope::micros(SystemTime::now()) / 1000;
        let mut states = futures_util::stream::iter(sequences)
            .map(|sequence| self.load_state(sequence))
            .buffer_unordered(STATE_READS_IN_FLIGHT);
        let (mut scheduled, mut due_now) = (0u64, 0u64);
        while let Some(state) = states.next().await {
            if let Some(due) = state?.and_then(|s| s.due) {
                if due > now_ms {
                    scheduled += 1;
                } else {
                    due_now += 1;
                }
            }
        }
        Ok((scheduled, due_now))
    }

    /// The received time of the first delivery the consumer has not
    /// delivered yet: the first message on the work subject from sequence
    /// `delivered + 1` on, found by the server in one request whatever was
    /// deleted before it (handled, or superseded by a newer version).
    ///
    /// Workers go on leasing and acknowledging between the consumer's
    /// position being read and this request; messages acknowledged since
    /// are gone from the stream (work-queue retention), so the answer is
    /// the first one still stored: at worst one leased meanwhile, received
    /// a moment before the oldest ready one. Deliveries handed back for
    /// redelivery (released, expired leases) are not looked at.
    async fn first_waiting(&self, delivered: u64) -> Result<Option<SystemTime>, QueueError> {
        match self
            .inner
            .work
            .get_first_raw_message_by_subject(&self.inner.subjects.work, delivered + 1)
            .await
        {
            Ok(message) => Ok(envelope::decode(message.payload).map(|e| e.delivery.received_at)),
            Err(err) => {
                use async_nats::jetstream::stream::LastRawMessageErrorKind as Kind;
                if matches!(err.kind(), Kind::NoMessageFound) {
                    return Ok(None);
                }
                Err(unavailable(err))
            }
        }
    }

    async fn bounded<T>(
        &self,
        op: impl Future<Output = Result<T, QueueError>>,
    ) -> Result<T, QueueError> {
        bounded(self.inner.timeout, op).await
    }
}

impl fmt::Debug for NatsQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NatsQueue")
            .field("stream", &self.inner.stream)
            .field("subjects", &self.inner.subjects)
            .field("ack_wait", &self.inner.ack_wait)
            .field("operation_timeout", &self.inner.timeout)
            .field("leases_held", &self.leases().len())
            .finish_non_exhaustive()
    }
}

impl NatsQueue {
    /// Wakes idle pools after an enqueue that stored a delivery.
    fn wake_if_ready(&self, result: &Result<EnqueueOutcome, QueueError>) {
        if matches!(
            result,
            Ok(EnqueueOutcome::Enqueued | EnqueueOutcome::Superseded)
        ) {
            self.inner.ready.notify();
        }
    }
}

impl Enqueue for NatsQueue {
    fn enqueue(&self, delivery: NewDelivery) -> BoxFuture<'_, Result<EnqueueOutcome, QueueError>> {
        Box::pin(async move {
            let started = Instant::now();
            let source = delivery.source.clone();
            let result = self.bounded(self.enqueue_now(delivery)).await;
            self.wake_if_ready(&result);
            observe::record_enqueue(&source, &result, started.elapsed());
            result
        })
    }
}

impl Queue for NatsQueue {
    fn lease(&self, request: LeaseRequest) -> BoxFuture<'_, Result<Vec<Leased>, QueueError>> {
        Box::pin(self.bounded(self.lease_now(request)))
    }

    /// Sends an in-progress ack (`+WPI`) for each lease, all at once: the
    /// server restarts each one's `ack_wait`, which is the extension
    /// (`visibility` is not used: JetStream keeps one duration per consumer).
    fn extend(
        &self,
        leases: Vec<LeaseId>,
        _visibility: Duration,
    ) -> BoxFuture<'_, Result<Vec<Result<SystemTime, QueueError>>, QueueError>> {
        Box::pin(async move {
            let extended =
                futures_util::future::join_all(leases.iter().map(|lease| self.extend_one(lease)));
            self.bounded(async { Ok(extended.await) }).await
        })
    }

    fn ack(&self, lease: LeaseId) -> BoxFuture<'_, Result<(), QueueError>> {
        Box::pin(async move { self.bounded(self.finish(&lease, Finish::Ack)).await })
    }

    fn retry_at(
        &self,
        lease: LeaseId,
        at: SystemTime,
        error: String,
    ) -> BoxFuture<'_, Result<(), QueueError>> {
        Box::pin(async move {
            self.bounded(self.finish(&lease, Finish::Retry { at, error }))
                .await
        })
    }

    fn dead_letter(&self, lease: LeaseId, error: String) -> BoxFuture<'_, Result<(), QueueError>> {
        Box::pin(async move {
            self.bounded(self.finish(&lease, Finish::Dead { error }))
                .await
        })
    }

    fn release(&self, lease: LeaseId) -> BoxFuture<'_, Result<(), QueueError>> {
        Box::pin(async move {
            let result = self.bounded(self.finish(&lease, Finish::Release)).await;
            if result.is_ok() {
                self.inner.ready.notify();
            }
            result
        })
    }

    /// JetStream redelivers expired leases by itself: nothing to do.
    fn recover(&self) -> BoxFuture<'_, Result<u64, QueueError>> {
        Box::pin(async { Ok(0) })
    }

    /// Reads the whole dead-letter stream to sort it by received time: meant
    /// for an operator's occasional look, not for a hot path.
    fn list_dead(&self, limit: usize) -> BoxFuture<'_, Result<Vec<DeadLetter>, QueueError>> {
        Box::pin(self.list_dead_now(limit))
    }

    fn replay(&self, selection: Replay) -> BoxFuture<'_, Result<u64, QueueError>> {
        Box::pin(async move {
            let replayed = self.replay_now(selection).await;
            if matches!(replayed, Ok(n) if n > 0) {
                self.inner.ready.notify();
            }
            replayed
        })
    }

    fn stats(&self) -> BoxFuture<'_, Result<Stats, QueueError>> {
        Box::pin(self.bounded(self.stats_now()))
    }
    /// Wakes on this process's enqueues, releases and replays (an
    /// in-process signal: the server is not asked). Enqueues by other
    /// processes, and expired leases the server redelivers, are found by
    /// the pool's poll.
    fn wakeups(&self) -> Option<Wakeups> {
        Some(self.inner.ready.subscribe())
    }
}

async fn bounded<T>(
    timeout: Duration,
    op: impl Future<Output = Result<T, QueueError>>,
) -> Result<T, QueueError> {
    match tokio::time::timeout(timeout, op).await {
        Ok(result) => result,
        Err(_) => Err(
            QueueError::unavailable(format!("nats did not answer within {timeout:?}"))
                .retry_after_hint(UNAVAILABLE_RETRY_AFTER),
        ),
    }
}

/// An error while creating the queue's streams, naming the step.
/// Why a stream's settings do not meet `required`, naming the setting to
/// change; `None` when they do (as far as a client can tell).
fn durability_problem(
    required: Durability,
    name: &str,
    config: &stream::Config,
    wanted_replicas: usize,
) -> Option<String> {
    if config.storage == stream::StorageType::Memory {
        return Some(format!(
            "nats stream {name} keeps its messages in memory (storage: memory): a restart of NATS loses \
             acknowledged deliveries, which durability = \"{required}\" refuses; recreate it with file storage \
             (when it is empty: `nats stream rm {name}`, and hookgate creates it with file storage)"
        ));
    }
    // A stream reports 0 replicas for the default of 1.
    let replicas = config.num_replicas.max(1);
    if replicas < wanted_replicas {
        return Some(format!(
            "nats stream {name} has {replicas} replica(s), fewer than the {wanted_replicas} configured \
             (`replicas`): raise it (`nats stream edit {name} --replicas {wanted_replicas}`) or configure fewer"
        ));
    }
    // The bucket keeps one value per key by design; the streams of
    // deliveries must keep every message until it is handled.
    if !name.starts_with("KV_") {
        let limits = [
            ("max_bytes", config.max_bytes > 0),
            ("max_msgs", config.max_messages > 0),
            ("max_age", !config.max_age.is_zero()),
        ];
        if let Some((limit, _)) = limits.iter().find(|(_, set)| *set) {
            return Some(format!(
                "nats stream {name} has a {limit} limit: at it NATS removes stored messages, acknowledged \
                 deliveries among them, which durability = \"{required}\" refuses; remove the limit \
                 (`nats stream edit {name}`) and use hookgate's max_bytes, which refuses new deliveries instead"
            ));
        }
    }
    None
}

fn setup_error(step: &str, err: impl fmt::Display) -> QueueError {
    unavailable(format!("{step}: {err}"))
}

/// Every client error but a refused publish is about reaching the server.
fn unavailable(err: impl Into<hookgate_queue::BoxError>) -> QueueError {
    QueueError::unavailable(err).retry_after_hint(UNAVAILABLE_RETRY_AFTER)
}

/// A publish that timed out or lost its connection is `Unavailable`; one the
/// server refused (no such stream, message too large) is `Storage`.
/// A stream at its `max_bytes` (or the server out of JetStream storage) is
/// `Full`, so the sender is told to come back.
fn publish_error(err: jetstream::context::PublishError) -> QueueError {
    use jetstream::context::PublishErrorKind as Kind;
    match err.kind() {
        Kind::TimedOut | Kind::BrokenPipe | Kind::MaxAckPending => unavailable(err),
        _ => match full_limit(&err) {
            Some(limit) => QueueError::full_at(limit, Some(err.to_string()), FULL_RETRY_AFTER),
            None => QueueError::storage(err),
        },
    }
}

/// The limit behind a refused publish, from the server's error code.
fn full_limit(err: &jetstream::context::PublishError) -> Option<StorageLimit> {
    use jetstream::ErrorCode;
    let server = std::error::Error::source(err)?.downcast_ref::<jetstream::Error>()?;
    match server.error_code() {
        // `discard = new` at a limit: "maximum bytes exceeded" (or messages).
        ErrorCode::STREAM_STORE_FAILED if server.to_string().contains("maximum bytes") => {
            Some(StorageLimit::MaxBytes)
        }
        ErrorCode::STREAM_STORE_FAILED if server.to_string().contains("maximum messages") => {
            Some(StorageLimit::Capacity)
        }
        ErrorCode::INSUFFICIENT_RESOURCES => Some(StorageLimit::StorageFull),
        _ => None,
    }
}
