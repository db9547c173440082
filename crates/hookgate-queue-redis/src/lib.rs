//! A Redis Streams back-end for the hookgate delivery [`Queue`]: several
//! receivers and worker pools, on several machines, share one queue.
//!
//! # How it maps onto Redis
//!
//! Every operation is one Lua script, so it is atomic on the server and a
//! receiver that dies mid-call leaves nothing half done. With prefix `P`:
//!
//! | key | type | holds |
//! |---|---|---|
//! | `P:seen:<source,id>` | string with TTL | the deduplication window: `SET NX PX` |
//! | `P:d:<n>` | hash | delivery `n`: source, id, received-at, headers, body, attempts, last error, state |
//! | `P:stream` | stream, group `hookgate` | deliveries ready to be leased (`XADD`, `XREADGROUP`) |
//! | `P:leases` | sorted set | leased deliveries by lease expiry |
//! | `P:due` | sorted set | retries (and released deliveries) by due time; moved back to the stream when due |
//! | `P:dead` | stream | dead letters, with their error |
//! | `P:deadidx`, `P:coalesce` | hashes | dead letter by key; waiting delivery by coalescing key |
//!
//! - **Enqueue**: `SET NX` of the dedup key with the window as TTL, then
//!   `XADD`, in one script: a duplicate is never queued twice, and the answer
//!   comes only after the server applied both.
//! - **Lease**: deliveries whose lease expired are taken over first (`XCLAIM`
//!   to the new consumer), then new entries are read with `XREADGROUP`. The
//!   expiry of each lease is kept in `P:leases` rather than read from the
//!   group's idle time (what `XAUTOCLAIM` uses), because every
//!   [`LeaseRequest`] carries its own visibility timeout.
//! - **Extending** leases (a worker's heartbeat) moves their expiry in
//!   `P:leases`, all of a pool's leases in one script call.
//! - **Ack** is `XACK` + `XDEL`; a retry leaves the stream for `P:due` and
//!   comes back with `XADD` when due; a dead letter goes to `P:dead`.
//! - Lease tokens are checked in the same script as the change, so a stale
//!   lease can never touch a newer one. Times (lease expiry, due, dead-at)
//!   are the Redis server's `TIME`, so receivers with skewed clocks agree;
//!   retry times given by workers are absolute, so keep hosts on NTP.
//!
//! # Durability: configure Redis for it
//!
//! The queue answers `Enqueued` once Redis has applied the write **in
//! memory**. Whether it survives a Redis crash is Redis's configuration:
//!
//! - `appendonly yes` with `appendfsync always`: the write is in the
//!   append-only file and `fsync`ed before Redis replies. Nothing
//!   acknowledged is lost, at the cost of one `fsync` per write batch.
//! - `appendonly yes` with `appendfsync everysec` (Redis's default when AOF
//!   is on): up to about one second of acknowledged deliveries can be lost
//!   if the Redis host crashes (not if only the Redis process does).
//! - No AOF (RDB snapshots only, or nothing): a Redis restart loses
//!   everything since the last snapshot. Do not use this in production.
//!
//! Also set `maxmemory-policy noeviction` (evicting queue keys loses
//! deliveries; with `noeviction` a full Redis refuses writes and the queue
//! answers [`QueueErrorKind::Full`](hookgate_queue::QueueErrorKind::Full)).
//! Before that, enqueues are refused `Full` once Redis uses 90% of its
//! `maxmemory` ([`RedisQueueBuilder::max_memory_use`]), so the leases,
//! retries and acknowledgements of what was accepted still have room.
//! With replicas, a failover can lose writes the replica had not received;
//! Redis cannot promise otherwise. The test Redis on the development machine
//! runs with `--appendonly no --save ""`: it proves behaviour, not durability.
//!
//! [`RedisQueue::check_durability`] reads these settings and refuses a server
//! that does not meet a [`Durability`]; `hookgate serve` calls it at start.
//!
//! In Redis Cluster, give a prefix with a hash tag (`{hookgate}`) so all keys
//! of one queue live in one slot, as the scripts require.
//!
//! # Errors
//!
//! A broken or refused connection, a timeout (default 2 s per operation) or a
//! Redis that is loading or read-only is [`QueueErrorKind::Unavailable`](hookgate_queue::QueueErrorKind::Unavailable)
//! with a `Retry-After` hint of 1 s; the connection manager reconnects by
//! itself in the background. An operation that timed out may still have
//! been applied: an enqueue retried by the sender is then a `Duplicate`.
//!
//! # Examples
//!
//! Building never connects, so a receiver starts even while Redis is down:
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use hookgate_queue::QueueErrorKind;
//! use hookgate_queue_redis::RedisQueue;
//!
//! let queue = RedisQueue::builder("redis://127.0.0.1:6379")
//!     .prefix("{orders}")
//!     .build()
//!     .unwrap();
//! assert_eq!(queue.prefix(), "{orders}");
//! let err = RedisQueue::builder("not a url").build().unwrap_err();
//! assert_eq!(err.kind(), QueueErrorKind::Invalid);
//! # });
//! ```
//!
//! Enqueue, lease and acknowledge:
//!
//! ```no_run
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
//! use std::time::{Duration, SystemTime};
//! use hookgate_queue::{EnqueueOutcome, LeaseRequest, NewDelivery, Enqueue, Queue};
//! use hookgate_queue_redis::RedisQueue;
//!
//! let queue = RedisQueue::builder("redis://127.0.0.1:6379")
//!     .prefix("{hookgate}")
//!     .build()?;
//! let delivery = NewDelivery::new("clarife", "evt_1", SystemTime::now(), &b"{}"[..]);
//! assert_eq!(queue.enqueue(delivery.clone()).await?, EnqueueOutcome::Enqueued);
//! assert_eq!(queue.enqueue(delivery).await?, EnqueueOutcome::Duplicate);
//! let leased = queue.lease(LeaseRequest::new(10, Duration::from_secs(30))).await?;
//! queue.ack(leased[0].lease.clone()).await?;
//! # Ok::<(), hookgate_queue::QueueError>(())
//! # }).unwrap();
//! ```

mod codec;
mod scripts;

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use hookgate_queue::{
    BoxFuture, DEFAULT_DEDUP_WINDOW, DeadLetter, Delivery, Enqueue, EnqueueOutcome, LeaseId,
    LeaseRequest, Leased, NewDelivery, Queue, QueueError, ReadySignal, Replay, Stats, StorageLimit,
    Wakeups, observe,
};
pub use hookgate_queue::{Durability, DurabilityCheck};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{RedisError, RetryMethod, Value};

use crate::scripts::Scripts;

/// The default time one operation may take before it fails with `Unavailable`.
pub const DEFAULT_OPERATION_TIMEOUT: Duration = Duration::from_secs(2);
/// The default key prefix.
pub const DEFAULT_PREFIX: &str = "hookgate";
/// The `Retry-After` hint given when Redis cannot be reached.
const UNAVAILABLE_RETRY_AFTER: Duration = Duration::from_secs(1);
/// The `Retry-After` hint given when Redis is out of memory.
const FULL_RETRY_AFTER: Duration = Duration::from_secs(5);

/// Configures a [`RedisQueue`].
#[must_use]
pub struct RedisQueueBuilder {
    url: String,
    prefix: String,
    consumer: Option<String>,
    dedup_window: Duration,
    operation_timeout: Duration,
    max_memory_use: f64,
}

/// The default share of Redis's `maxmemory` past which enqueues are refused.
pub const DEFAULT_MAX_MEMORY_USE: f64 = 0.9;

impl RedisQueueBuilder {
    /// Prefixes every key of the queue (default `hookgate`). Queues with
    /// different prefixes in one Redis are independent.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The consumer name this handle uses in the stream's consumer group
    /// (default `hookgate-<pid>-<random>`). It is informational: `XPENDING`
    /// shows which consumer holds what.
    pub fn consumer(mut self, name: impl Into<String>) -> Self {
        self.consumer = Some(name.into());
        self
    }

    /// How long delivery keys are remembered for deduplication (default 24 h).
    pub fn dedup_window(mut self, window: Duration) -> Self {
        self.dedup_window = window;
        self
    }

    /// The most time one operation may take, connecting included (default
    /// 2 s); past it the operation fails with `Unavailable`.
    pub fn operation_timeout(mut self, timeout: Duration) -> Self {
        self.operation_timeout = timeout;
        self
    }

    /// Enqueues are refused ([`QueueErrorKind::Full`](hookgate_queue::QueueErrorKind::Full)
    /// for [`StorageLimit::StorageFull`], so the receiving side answers 503
    /// with `Retry-After`) while Redis's `used_memory` is above this share
    /// of its `maxmemory` (default [`DEFAULT_MAX_MEMORY_USE`], 0.9; `1.0`
    /// leaves it to Redis, which refuses writes at `maxmemory` with
    /// `noeviction`). Without `maxmemory` (0) nothing is checked. `INFO
    /// memory` is read at most once a second per handle, on an enqueue.
    ///
    /// The margin keeps room for what is already accepted to be handled:
    /// leases, retries and dead letters write too, and a Redis that refuses
    /// those stalls the workers that would free memory.
    pub fn max_memory_use(mut self, share: f64) -> Self {
        self.max_memory_use = if share.is_finite() {
            share.clamp(0.0, 1.0)
        } else {
            DEFAULT_MAX_MEMORY_USE
        };
        self
    }

    /// Creates the queue. No connection is made yet: the first operation
    /// connects, and later ones reconnect after a failure, so a receiver can
    /// start while Redis is down. Fails (`Invalid`) on an invalid URL or
    /// prefix, or when called outside a Tokio runtime (the connection
    /// manager runs a task on it).
    pub fn build(self) -> Result<RedisQueue, QueueError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(QueueError::invalid(
                "RedisQueue must be built inside a tokio runtime",
            ));
        }
        if self.prefix.is_empty() {
            return Err(QueueError::invalid("empty redis key prefix"));
        }
        let client = redis::Client::open(self.url.as_str())
            .map_err(|err| QueueError::invalid(format!("invalid redis url: {err}")))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.operation_timeout))
            .set_response_timeout(Some(self.operation_timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let conn = ConnectionManager::new_lazy_with_config(client, config).map_err(map_err)?;
        let consumer = self.consumer.unwrap_or_else(|| {
            format!(
                "hookgate-{}-{:08x}",
                std::process::id(),
                rand::random::<u32>()
            )
        });
        Ok(RedisQueue {
            inner: Arc::new(Inner {
                ready: ReadySignal::new(),
                conn,
                scripts: Scripts::new(),
                prefix: self.prefix,
                consumer,
                dedup_window: self.dedup_window,
                operation_timeout: self.operation_timeout,
                memory: MemoryGuard::new(self.max_memory_use),
            }),
        })
    }
}

impl fmt::Debug for RedisQueueBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may hold a password.
        f.debug_struct("RedisQueueBuilder")
            .field("url", &"[redacted]")
            .field("prefix", &self.prefix)
            .field("consumer", &self.consumer)
            .field("dedup_window", &self.dedup_window)
            .field("operation_timeout", &self.operation_timeout)
            .field("max_memory_use", &self.max_memory_use)
            .finish()
    }
}

/// A [`Queue`] in Redis Streams, shared by every handle with the same URL and
/// prefix, in any process. Clones share one connection.
#[derive(Clone)]
pub struct RedisQueue {
    inner: Arc<Inner>,
}

struct Inner {
    conn: ConnectionManager,
    scripts: Scripts,
    prefix: String,
    consumer: String,
    dedup_window: Duration,
    operation_timeout: Duration,
    memory: MemoryGuard,
    /// Wakes this process's idle worker pools (see [`Queue::wakeups`]).
    ready: ReadySignal,
}

/// Redis's memory as one handle last read it (see
/// [`RedisQueueBuilder::max_memory_use`]).
struct MemoryGuard {
    max_share: f64,
    last: std::sync::Mutex<Option<MemoryReading>>,
    /// Set once Redis refused `INFO` (an ACL without it, a proxy): the guard
    /// stands down for good rather than refuse every enqueue.
    unreadable: std::sync::atomic::AtomicBool,
}

#[derive(Clone, Copy)]
struct MemoryReading {
    used: u64,
    max: u64,
    at: Instant,
}

impl MemoryGuard {
    const REFRESH: Duration = Duration::from_secs(1);

    fn new(max_share: f64) -> Self {
        Self {
            max_share,
            last: std::sync::Mutex::new(None),
            unreadable: std::sync::atomic::AtomicBool::new(false),
        }
    }

    fn last(&self) -> Option<MemoryReading> {
        *self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn fresh(&self) -> Option<MemoryReading> {
        self.last().filter(|r| r.at.elapsed() < Self::REFRESH)
    }

    fn set(&self, used: u64, max: u64) -> MemoryReading {
        let reading = MemoryReading {
            used,
            max,
            at: Instant::now(),
        };
        *self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(reading);
        reading
    }

    /// `Full` when the reading is past the share of `maxmemory`.
    fn check(&self, reading: MemoryReading) -> Result<(), QueueError> {
        if reading.max == 0 || self.max_share >= 1.0 {
            return Ok(());
        }
        // f64 is exact to 2^53 bytes, far past any server's memory.
        let limit = (reading.max as f64 * self.max_share) as u64;
        if reading.used > limit {
            return Err(QueueError::full_at(
                StorageLimit::StorageFull,
                Some(format!(
                    "redis uses {} of its maxmemory {} bytes, past the {:.0}% kept for the queue's own work",
                    reading.used,
                    reading.max,
                    self.max_share * 100.0
                )),
                FULL_RETRY_AFTER,
            ));
        }
        Ok(())
    }
}

/// `used_memory` and `maxmemory` from `INFO memory`'s `name:value` lines.
fn parse_memory_info(info: &str) -> Option<(u64, u64)> {
    let field = |name: &str| {
        info.lines().find_map(|line| {
            line.strip_prefix(name)
                .and_then(|rest| rest.strip_prefix(':'))
                .and_then(|value| value.trim().parse::<u64>().ok())
        })
    };
    Some((field("used_memory")?, field("maxmemory")?))
}

impl RedisQueue {
    /// A builder for a queue at `url` (`redis://[:password@]host:port[/db]`,
    /// or `rediss://` for TLS when the `redis` crate is built with it).
    pub fn builder(url: impl Into<String>) -> RedisQueueBuilder {
        RedisQueueBuilder {
            url: url.into(),
            prefix: DEFAULT_PREFIX.to_owned(),
            consumer: None,
            dedup_window: DEFAULT_DEDUP_WINDOW,
            operation_timeout: DEFAULT_OPERATION_TIMEOUT,
            max_memory_use: DEFAULT_MAX_MEMORY_USE,
        }
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// Checks that Redis answers (for readiness probes); `Unavailable` if not.
    pub async fn ping(&self) -> Result<(), QueueError> {
        self.bounded(async {
            let mut conn = self.inner.conn.clone();
            redis::cmd("PING").query_async::<()>(&mut conn).await
        })
        .await
    }

    /// Checks that the Redis server keeps an acknowledged enqueue as durable
    /// as `required` says, in the words of the SQLite queue's setting: its
    /// `appendonly` and `appendfsync`, read with `CONFIG GET`.
    ///
    /// - `appendonly no` meets neither level: a Redis restart or crash loses
    ///   every delivery since the last snapshot, acknowledged or not.
    /// - `appendfsync always` meets [`Durability::Fsync`]: each write is
    ///   `fsync`ed before Redis answers.
    /// - `appendfsync everysec` (Redis's default) or `no` meets
    ///   [`Durability::ProcessCrash`]: Redis writes the AOF before it
    ///   answers, so a crash of Redis loses nothing, but a power loss can
    ///   lose the last second (or more) of acknowledged deliveries.
    ///
    /// # Errors
    ///
    /// `Invalid`, naming the setting to change, when the server does not meet
    /// `required`; `Unavailable` when Redis does not answer. Where `CONFIG` is
    /// disabled or not permitted (managed services often rename it), the
    /// answer is [`DurabilityCheck::Unverified`], saying what to check
    /// instead: the caller decides whether to start anyway.
    pub async fn check_durability(
        &self,
        required: Durability,
    ) -> Result<DurabilityCheck, QueueError> {
        let answer = self
            .bounded(async {
                let mut conn = self.inner.conn.clone();
                // `append*`: one pattern, which Redis 6 understands too (it
                // takes a single parameter).
                Ok(redis::cmd("CONFIG")
                    .arg("GET")
                    .arg("append*")
                    .query_async::<std::collections::HashMap<String, String>>(&mut conn)
                    .await)
            })
            .await?;
        let settings = match answer {
            Ok(settings) => settings,
            Err(err)
                if err.is_io_error()
                    || err.is_timeout()
                    || err.is_connection_dropped()
                    || err.is_connection_refusal() =>
            {
                return Err(map_err(err));
            }
            Err(err) => {
                return Ok(DurabilityCheck::Unverified {
                    reason: format!(
                        "CONFIG GET is not available ({}): check that the server has appendonly yes and appendfsync {}",
                        err.code().unwrap_or("error"),
                        if required == Durability::Fsync {
                            "always"
                        } else {
                            "always or everysec"
                        }
                    ),
                });
            }
        };
        let setting = |name: &str| settings.get(name).map_or("", String::as_str);
        match durability_problem(required, setting("appendonly"), setting("appendfsync")) {
            Some(problem) => Err(QueueError::invalid(problem)),
            None => Ok(DurabilityCheck::Met),
        }
    }

    /// Runs `op` within the operation timeout, mapping errors.
    async fn bounded<T>(
        &self,
        op: impl Future<Output = Result<T, RedisError>>,
    ) -> Result<T, QueueError> {
        match tokio::time::timeout(self.inner.operation_timeout, op).await {
            Ok(result) => result.map_err(map_err),
            Err(_) => Err(QueueError::unavailable(format!(
                "redis did not answer within {:?}",
                self.inner.operation_timeout
            ))
            .retry_after_hint(UNAVAILABLE_RETRY_AFTER)),
        }
    }

    /// Runs `script` with the prefix and `args`.
    async fn run(&self, script: &redis::Script, args: &[&[u8]]) -> Result<Value, QueueError> {
        self.bounded(async {
            let mut invocation = script.key(format!("{}:stream", self.inner.prefix));
            invocation.arg(self.inner.prefix.as_bytes());
            for arg in args {
                invocation.arg(*arg);
            }
            let mut conn = self.inner.conn.clone();
            invocation.invoke_async::<Value>(&mut conn).await
        })
        .await
    }

    /// Refuses an enqueue while Redis is near its `maxmemory`, reading
    /// `INFO memory` when the last reading is a second old.
    async fn check_memory(&self) -> Result<(), QueueError> {
        use std::sync::atomic::Ordering::Relaxed;
        let guard = &self.inner.memory;
        if guard.max_share >= 1.0 || guard.unreadable.load(Relaxed) {
            return Ok(());
        }
        let reading = match guard.fresh() {
            Some(reading) => reading,
            None => {
                let answer = self
                    .bounded(async {
                        let mut conn = self.inner.conn.clone();
                        redis::cmd("INFO")
                            .arg("memory")
                            .query_async::<String>(&mut conn)
                            .await
                    })
                    .await;
                let info = match answer {
                    Ok(info) => info,
                    // Redis answered, but not this command: say so once, and
                    // leave the limit to Redis's own refusal at `maxmemory`.
                    Err(err) if err.kind() == hookgate_queue::QueueErrorKind::Storage => {
                        if !guard.unreadable.swap(true, Relaxed) {
                            tracing::warn!(
                                error = %err,
                                "redis refused INFO memory: enqueues are not refused before Redis's maxmemory"
                            );
                        }
                        return Ok(());
                    }
                    Err(err) => return Err(err),
                };
                match parse_memory_info(&info) {
                    Some((used, max)) => guard.set(used, max),
                    // A server that does not say (a proxy, a fork): Redis's
                    // own refusal at `maxmemory` still answers `Full`.
                    None => guard.set(0, 0),
                }
            }
        };
        guard.check(reading)
    }

    async fn enqueue_now(&self, new: NewDelivery) -> Result<EnqueueOutcome, QueueError> {
        if new.source.is_empty() {
            return Err(QueueError::invalid("empty source name"));
        }
        if new.delivery_id.is_empty() {
            return Err(QueueError::invalid("empty delivery id"));
        }
        self.check_memory().await?;
        let received = codec::micros(new.received_at).to_string();
        let headers = hookgate_queue::wire::encode_headers(&new.headers);
        let window = codec::duration_millis(self.inner.dedup_window).to_string();
        let (has_key, key) = match &new.coalesce_key {
            Some(key) => ("1", key.as_str()),
            None => ("0", ""),
        };
        let reply = self
            .run(
                &self.inner.scripts.enqueue,
                &[
                    new.source.as_bytes(),
                    new.delivery_id.as_bytes(),
                    received.as_bytes(),
                    &headers,
                    &new.body,
                    has_key.as_bytes(),
                    key.as_bytes(),
                    window.as_bytes(),
                ],
            )
            .await?;
        match bytes_of(&reply) {
            Some(b"enqueued") => Ok(EnqueueOutcome::Enqueued),
            Some(b"duplicate") => Ok(EnqueueOutcome::Duplicate),
            Some(b"superseded") => Ok(EnqueueOutcome::Superseded),
            _ => Err(unexpected(&reply)),
        }
    }

    async fn lease_now(&self, request: LeaseRequest) -> Result<Vec<Leased>, QueueError> {
        if request.max == 0 {
            return Ok(Vec::new());
        }
        let max = request.max.to_string();
        let visibility = codec::duration_millis(request.visibility).to_string();
        let skipped = request.skip_sources.len().to_string();
        let mut args: Vec<&[u8]> = vec![
            self.inner.consumer.as_bytes(),
            max.as_bytes(),
            visibility.as_bytes(),
            skipped.as_bytes(),
        ];
        args.extend(request.skip_sources.iter().map(|s| s.as_bytes()));
        let reply = self.run(&self.inner.scripts.lease, &args).await?;
        parse_leased(&reply).ok_or_else(|| unexpected(&reply))
    }

    async fn extend_now(
        &self,
        leases: Vec<LeaseId>,
        visibility: Duration,
    ) -> Result<Vec<Result<SystemTime, QueueError>>, QueueError> {
        // Tokens that are not `n.token` cannot be held: lost without asking.
        let parsed: Vec<Option<(&str, &str)>> =
            leases.iter().map(|l| l.as_str().split_once('.')).collect();
        let visibility = codec::duration_millis(visibility).to_string();
        let mut args: Vec<&[u8]> = vec![visibility.as_bytes()];
        for (n, token) in parsed.iter().flatten() {
            args.extend([n.as_bytes(), token.as_bytes()]);
        }
        if args.len() == 1 {
            return Ok(parsed
                .iter()
                .map(|_| Err(QueueError::lease_lost()))
                .collect());
        }
        let reply = self.run(&self.inner.scripts.extend, &args).await?;
        let (expiry, held) = array_of(&reply)
            .and_then(|fields| match fields {
                [expiry, held] => Some((int_of(expiry)?, array_of(held)?)),
                _ => None,
            })
            .ok_or_else(|| unexpected(&reply))?;
        let expires_at = codec::from_millis(u64::try_from(expiry).unwrap_or(0));
        let mut held = held.iter();
        parsed
            .iter()
            .map(|lease| match lease {
                None => Ok(Err(QueueError::lease_lost())),
                Some(_) => match held.next().and_then(int_of) {
                    Some(1) => Ok(Ok(expires_at)),
                    Some(0) => Ok(Err(QueueError::lease_lost())),
                    _ => Err(unexpected(&reply)),
                },
            })
            .collect()
    }

    /// Runs a script that finishes a lease: `1` done, `0` lease lost.
    async fn finish(
        &self,
        script: &redis::Script,
        lease: &LeaseId,
        extra: &[&[u8]],
    ) -> Result<(), QueueError> {
        let (n, token) = lease
            .as_str()
            .split_once('.')
            .ok_or_else(QueueError::lease_lost)?;
        let mut args: Vec<&[u8]> = vec![n.as_bytes(), token.as_bytes()];
        args.extend_from_slice(extra);
        let reply = self.run(script, &args).await?;
        match int_of(&reply) {
            Some(1) => Ok(()),
            Some(0) => Err(QueueError::lease_lost()),
            _ => Err(unexpected(&reply)),
        }
    }

    async fn replay_now(&self, selection: Replay) -> Result<u64, QueueError> {
        let (from, to);
        let args: Vec<&[u8]> = match &selection {
            Replay::One(key) => vec![b"one", key.source.as_bytes(), key.delivery_id.as_bytes()],
            Replay::All => vec![b"all"],
            Replay::ReceivedBetween { from: f, to: t } => {
                from = codec::micros(*f).to_string();
                to = codec::micros(*t).to_string();
                vec![b"window", from.as_bytes(), to.as_bytes()]
            }
            _ => return Err(QueueError::invalid("unsupported replay selection")),
        };
        let reply = self.run(&self.inner.scripts.replay, &args).await?;
        match (int_of(&reply), &selection) {
            (Some(-1), Replay::One(key)) => {
                Err(QueueError::not_found(format!("no dead letter {key}")))
            }
            (Some(count), _) if count >= 0 => Ok(count as u64),
            _ => Err(unexpected(&reply)),
        }
    }

    async fn list_dead_now(&self, limit: usize) -> Result<Vec<DeadLetter>, QueueError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let reply = self.run(&self.inner.scripts.list_dead, &[]).await?;
        let mut dead = parse_dead(&reply).ok_or_else(|| unexpected(&reply))?;
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

    async fn stats_now(&self) -> Result<Stats, QueueError> {
        let reply = self.run(&self.inner.scripts.stats, &[]).await?;
        let fields = array_of(&reply).ok_or_else(|| unexpected(&reply))?;
        let num = |i: usize| fields.get(i).and_then(int_of);
        let (Some(ready), Some(scheduled), Some(leased), Some(dead), Some(oldest), Some(now)) =
            (num(0), num(1), num(2), num(3), num(4), num(5))
        else {
            return Err(unexpected(&reply));
        };
        let mut stats = Stats::default();
        stats.ready = ready.max(0) as u64;
        stats.scheduled = scheduled.max(0) as u64;
        stats.leased = leased.max(0) as u64;
        stats.dead = dead.max(0) as u64;
        stats.oldest_ready_age = (oldest >= 0).then(|| {
            let now = Duration::from_millis(now.max(0) as u64);
            now.saturating_sub(Duration::from_micros(oldest as u64))
        });
        observe::record_stats(&stats);
        Ok(stats)
    }
}

impl fmt::Debug for RedisQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisQueue")
            .field("prefix", &self.inner.prefix)
            .field("consumer", &self.inner.consumer)
            .field("dedup_window", &self.inner.dedup_window)
            .field("operation_timeout", &self.inner.operation_timeout)
            .finish_non_exhaustive()
    }
}

impl RedisQueue {
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

impl Enqueue for RedisQueue {
    fn enqueue(&self, delivery: NewDelivery) -> BoxFuture<'_, Result<EnqueueOutcome, QueueError>> {
        Box::pin(async move {
            let started = Instant::now();
            let source = delivery.source.clone();
            let result = self.enqueue_now(delivery).await;
            self.wake_if_ready(&result);
            observe::record_enqueue(&source, &result, started.elapsed());
            result
        })
    }
}

impl Queue for RedisQueue {
    fn lease(&self, request: LeaseRequest) -> BoxFuture<'_, Result<Vec<Leased>, QueueError>> {
        Box::pin(self.lease_now(request))
    }

    /// Extends all the leases in one script call.
    fn extend(
        &self,
        leases: Vec<LeaseId>,
        visibility: Duration,
    ) -> BoxFuture<'_, Result<Vec<Result<SystemTime, QueueError>>, QueueError>> {
        Box::pin(self.extend_now(leases, visibility))
    }

    fn ack(&self, lease: LeaseId) -> BoxFuture<'_, Result<(), QueueError>> {
        Box::pin(async move { self.finish(&self.inner.scripts.ack, &lease, &[]).await })
    }

    fn retry_at(
        &self,
        lease: LeaseId,
        at: SystemTime,
        error: String,
    ) -> BoxFuture<'_, Result<(), QueueError>> {
        Box::pin(async move {
            let due = codec::millis(at).to_string();
            self.finish(
                &self.inner.scripts.retry,
                &lease,
                &[due.as_bytes(), error.as_bytes()],
            )
            .await
        })
    }

    fn dead_letter(&self, lease: LeaseId, error: String) -> BoxFuture<'_, Result<(), QueueError>> {
        Box::pin(async move {
            self.finish(&self.inner.scripts.dead_letter, &lease, &[error.as_bytes()])
                .await
        })
    }

    fn release(&self, lease: LeaseId) -> BoxFuture<'_, Result<(), QueueError>> {
        Box::pin(async move {
            let result = self.finish(&self.inner.scripts.release, &lease, &[]).await;
            if result.is_ok() {
                self.inner.ready.notify();
            }
            result
        })
    }

    /// Makes expired leases waiting again. Leases that have not expired may
    /// belong to a live worker in another process, so they are left alone.
    fn recover(&self) -> BoxFuture<'_, Result<u64, QueueError>> {
        Box::pin(async move {
            let reply = self.run(&self.inner.scripts.recover, &[]).await?;
            let recovered = int_of(&reply)
                .and_then(|n| u64::try_from(n).ok())
                .ok_or_else(|| unexpected(&reply))?;
            if recovered > 0 {
                self.inner.ready.notify();
            }
            Ok(recovered)
        })
    }

    /// Reads every dead letter to sort them by received time: meant for an
    /// operator's occasional look, not for a hot path.
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
        Box::pin(self.stats_now())
    }
    /// Wakes on this process's enqueues, releases, recoveries and replays
    /// (an in-process signal: Redis is not asked). Enqueues by other
    /// processes are found by the pool's poll.
    fn wakeups(&self) -> Option<Wakeups> {
        Some(self.inner.ready.subscribe())
    }
}

/// Why `appendonly` and `appendfsync` do not meet `required`, naming the
/// setting to change; `None` when they do.
fn durability_problem(required: Durability, appendonly: &str, appendfsync: &str) -> Option<String> {
    let wanted = required.as_str();
    if !appendonly.eq_ignore_ascii_case("yes") {
        return Some(format!(
            "redis has appendonly {appendonly:?}: a restart or crash of Redis loses acknowledged deliveries, \
             which durability = \"{wanted}\" refuses; set appendonly yes (CONFIG SET appendonly yes, and in redis.conf)"
        ));
    }
    if required == Durability::Fsync && !appendfsync.eq_ignore_ascii_case("always") {
        return Some(format!(
            "redis has appendfsync {appendfsync:?}: a power loss can lose the last acknowledged deliveries, \
             which durability = \"fsync\" refuses; set appendfsync always, or durability = \"process-crash\""
        ));
    }
    None
}

/// Connection trouble is `Unavailable` (try again soon), Redis out of memory
/// is `Full`, anything else (a script or data error) is `Storage`.
fn map_err(err: RedisError) -> QueueError {
    if err.code() == Some("OOM") {
        // `/healthz` and the metrics name it as any storage limit.
        return QueueError::full_at(
            StorageLimit::StorageFull,
            Some(err.to_string()),
            FULL_RETRY_AFTER,
        );
    }
    let transient = err.is_io_error()
        || err.is_timeout()
        || err.is_connection_dropped()
        || err.is_connection_refusal()
        || !matches!(err.retry_method(), RetryMethod::NoRetry);
    if transient {
        QueueError::unavailable(err).retry_after_hint(UNAVAILABLE_RETRY_AFTER)
    } else {
        QueueError::storage(err)
    }
}

fn unexpected(reply: &Value) -> QueueError {
    QueueError::storage(format!("unexpected reply from redis script: {reply:?}"))
}

fn bytes_of(value: &Value) -> Option<&[u8]> {
    match value {
        Value::BulkString(bytes) => Some(bytes),
        Value::SimpleString(s) => Some(s.as_bytes()),
        _ => None,
    }
}

fn int_of(value: &Value) -> Option<i64> {
    match value {
        Value::Int(n) => Some(*n),
        other => std::str::from_utf8(bytes_of(other)?).ok()?.parse().ok(),
    }
}

fn array_of(value: &Value) -> Option<&[Value]> {
    match value {
        Value::Array(items) => Some(items),
        _ => None,
    }
}

fn text_of(value: &Value) -> Option<String> {
    String::from_utf8(bytes_of(value)?.to_vec()).ok()
}

/// A reply field that is neither `+value` nor `-`.
struct Malformed;

/// Decodes `+value` / `-` (present / absent).
fn optional_text(value: &Value) -> Result<Option<String>, Malformed> {
    match bytes_of(value).ok_or(Malformed)?.split_first() {
        Some((b'+', rest)) => Ok(Some(
            String::from_utf8(rest.to_vec()).map_err(|_| Malformed)?,
        )),
        Some((b'-', [])) => Ok(None),
        _ => Err(Malformed),
    }
}

/// `src, id, recv, hdr, body, ck, err` at the start of `fields`.
fn new_delivery(fields: &[Value]) -> Option<(NewDelivery, Option<String>)> {
    let [src, id, recv, hdr, body, ck, err, ..] = fields else {
        return None;
    };
    let received_at = codec::from_micros(u64::try_from(int_of(recv)?).ok()?);
    let mut new = NewDelivery::new(
        text_of(src)?,
        text_of(id)?,
        received_at,
        Bytes::copy_from_slice(bytes_of(body)?),
    )
    .with_headers(hookgate_queue::wire::decode_headers(bytes_of(hdr)?)?);
    if let Some(key) = optional_text(ck).ok()? {
        new = new.with_coalesce_key(key);
    }
    Some((new, optional_text(err).ok()?))
}

fn parse_leased(reply: &Value) -> Option<Vec<Leased>> {
    let [expiry, items] = array_of(reply)? else {
        return None;
    };
    let expires_at = codec::from_millis(u64::try_from(int_of(expiry)?).ok()?);
    array_of(items)?
        .iter()
        .map(|item| {
            let fields = array_of(item)?;
            let [n, token, attempt, rest @ ..] = fields else {
                return None;
            };
            let (new, last_error) = new_delivery(rest)?;
            let attempt = u32::try_from(int_of(attempt)?).ok()?;
            let lease = LeaseId::new(format!("{}.{}", text_of(n)?, text_of(token)?));
            Some(Leased::new(
                Delivery::new(new, attempt, last_error),
                lease,
                expires_at,
            ))
        })
        .collect()
}

fn parse_dead(reply: &Value) -> Option<Vec<DeadLetter>> {
    array_of(reply)?
        .iter()
        .map(|item| {
            let fields = array_of(item)?;
            let (new, last_error) = new_delivery(fields)?;
            let [.., attempts, error, dead_at] = fields else {
                return None;
            };
            let attempts = u32::try_from(int_of(attempts)?).ok()?;
            let dead_at = codec::from_millis(u64::try_from(int_of(dead_at)?).ok()?);
            Some(DeadLetter::new(
                Delivery::new(new, attempts, last_error),
                text_of(error)?,
                dead_at,
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_info_reads_used_and_max() {
        let info = "# Memory\r\nused_memory:1048576\r\nused_memory_human:1.00M\r\n\
                    used_memory_rss:2000000\r\nmaxmemory:4194304\r\nmaxmemory_human:4.00M\r\n";
        assert_eq!(parse_memory_info(info), Some((1_048_576, 4_194_304)));
        assert_eq!(parse_memory_info("used_memory:1\r\n"), None);
        let guard = MemoryGuard::new(0.9);
        let at = |used, max| MemoryReading {
            used,
            max,
            at: Instant::now(),
        };
        assert!(guard.check(at(100, 0)).is_ok(), "no maxmemory: no limit");
        assert!(guard.check(at(900, 1000)).is_ok());
        let err = guard.check(at(901, 1000)).unwrap_err();
        assert_eq!(err.kind(), hookgate_queue::QueueErrorKind::Full);
        assert!(MemoryGuard::new(1.0).check(at(1000, 1000)).is_ok());
    }

    #[test]
    fn durability_follows_appendonly_and_appendfsync() {
        let met = |required, appendonly, appendfsync| {
            durability_problem(required, appendonly, appendfsync).is_none()
        };
        for required in [Durability::Fsync, Durability::ProcessCrash] {
            assert!(met(required, "yes", "always"));
            assert!(!met(required, "no", "always"));
            assert!(!met(required, "", ""));
        }
        for appendfsync in ["everysec", "no"] {
            assert!(met(Durability::ProcessCrash, "yes", appendfsync));
            assert!(!met(Durability::Fsync, "yes", appendfsync));
        }
        let problem = durability_problem(Durability::Fsync, "yes", "everysec").unwrap();
        assert!(problem.contains("set appendfsync always"), "{problem}");
        let problem = durability_problem(Durability::ProcessCrash, "no", "everysec").unwrap();
        assert!(problem.contains("set appendonly yes"), "{problem}");
    }
}
