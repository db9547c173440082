//! The queue handle, its builder, and every operation but the enqueue
//! writer (`writer.rs`).

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Once};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use hookgate_queue::{
    BoxFuture, Clock, DEFAULT_DEDUP_WINDOW, DeadLetter, Delivery, Enqueue, EnqueueOutcome, LeaseId,
    LeaseRequest, Leased, NewDelivery, Queue, QueueError, Replay, Stats, observe,
};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_postgres::Row;

use crate::connect::Target;
use crate::error::{map_pg, map_pool, timed_out, unavailable};
use crate::listen;
use crate::migrate::{self, Migration};
use crate::sql::Sql;
use crate::writer::{self, Pending};
use hookgate_queue::{ReadySignal, Wakeups};

/// The default schema of the queue's tables.
pub const DEFAULT_SCHEMA: &str = "hookgate";
/// The default time one operation may take before it fails with `Unavailable`.
pub const DEFAULT_OPERATION_TIMEOUT: Duration = Duration::from_secs(5);
/// The default number of pooled connections per queue handle.
pub const DEFAULT_POOL_SIZE: usize = 16;
/// The default largest number of enqueues committed in one transaction.
pub const DEFAULT_MAX_BATCH: usize = 256;
/// How often, by default, expired deduplication keys are pruned.
pub const DEFAULT_PRUNE_INTERVAL: Duration = Duration::from_secs(60);
/// The most expired deduplication keys one prune statement deletes, so that
/// pruning a large backlog never holds many row locks at once.
pub const PRUNE_BATCH: i64 = 10_000;
/// The longest lease or visibility asked of the server (about 34,800 years:
/// "for ever" within PostgreSQL's timestamps).
const FOREVER: Duration = Duration::from_secs(1 << 40);

/// How durable an acknowledged enqueue must be: the words of every
/// hookgate queue. For PostgreSQL, [`Durability::Fsync`] needs `fsync = on`,
/// `full_page_writes = on` and `synchronous_commit` not `off`;
/// [`Durability::ProcessCrash`] needs `synchronous_commit` not `off`. See
/// [`PostgresQueue::check_durability`].
pub use hookgate_queue::Durability;

/// Configures and connects a [`PostgresQueue`].
#[must_use]
pub struct PostgresQueueBuilder {
    url: String,
    schema: String,
    dedup_window: Duration,
    prune_interval: Option<Duration>,
    max_batch: usize,
    pool_size: usize,
    operation_timeout: Duration,
    clock: Option<Arc<dyn Clock>>,
    migrate: bool,
}

impl PostgresQueueBuilder {
    /// The schema holding the queue's tables (default `hookgate`), so they
    /// live apart from the application's. Queues in different schemas of one
    /// database are independent. Lowercase letters, digits and `_`, at most
    /// 48 bytes.
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = schema.into();
        self
    }

    /// How long delivery keys are remembered for deduplication (default 24 h).
    pub fn dedup_window(mut self, window: Duration) -> Self {
        self.dedup_window = window;
        self
    }

    /// How often this handle prunes expired deduplication keys in the
    /// background (default 1 minute; `None` never: for short-lived handles
    /// such as the `hookgate queue` commands). Receivers sharing a queue may
    /// all prune: they skip the rows another one is deleting.
    pub fn prune_interval(mut self, interval: Option<Duration>) -> Self {
        self.prune_interval = interval;
        self
    }

    /// The most enqueues committed in one transaction (default 256). `1`
    /// commits every enqueue on its own: useful only to measure what group
    /// commit saves.
    pub fn max_batch(mut self, max_batch: usize) -> Self {
        self.max_batch = max_batch.max(1);
        self
    }

    /// The most connections this handle opens (default 16, at least 2),
    /// besides the one
    /// listening for notifications once [`PostgresQueue::wakeups`] is called.
    pub fn pool_size(mut self, size: usize) -> Self {
        self.pool_size = size.max(2);
        self
    }

    /// The most time one operation may take, waiting for a connection
    /// included (default 5 s); past it the operation fails with
    /// `Unavailable`. It may still have been applied: an enqueue retried by
    /// the sender is then a `Duplicate`.
    pub fn operation_timeout(mut self, timeout: Duration) -> Self {
        self.operation_timeout = timeout;
        self
    }

    /// Reads time from `clock` instead of the server's `now()` (tests use a
    /// [`ManualClock`](hookgate_queue::ManualClock)). By default the server
    /// keeps the time, so that receivers with skewed clocks agree on lease
    /// expiry and due times.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// Whether [`connect`](Self::connect) applies the schema's pending
    /// migrations (default `true`). With `false` nothing is created or
    /// checked: call [`PostgresQueue::pending_migrations`] and
    /// [`PostgresQueue::migrate`] yourself (what `hookgate queue migrate` does).
    pub fn migrate(mut self, migrate: bool) -> Self {
        self.migrate = migrate;
        self
    }

    /// Connects, applies pending migrations (see [`migrate`](Self::migrate))
    /// and starts the enqueue writer and the pruner on the current Tokio
    /// runtime. Fails with `Invalid` for a bad URL or schema name or a schema
    /// newer than this crate, `Unavailable` when the server cannot be reached.
    pub async fn connect(self) -> Result<PostgresQueue, QueueError> {
        migrate::check_schema_name(&self.schema)?;
        let target = Target::parse(&self.url)?;
        let manager = Manager::from_config(
            target.config.clone(),
            target.tls.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(self.pool_size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(self.operation_timeout))
            .create_timeout(Some(self.operation_timeout))
            .build()
            .map_err(|e| QueueError::invalid(format!("postgres pool: {e}")))?;
        let shared = Arc::new(Shared {
            pool,
            target,
            sql: Sql::new(&self.schema),
            schema: self.schema,
            dedup_window: self.dedup_window,
            operation_timeout: self.operation_timeout,
            clock: self.clock,
            ready: ReadySignal::new(),
            max_batch: self.max_batch,
        });
        if self.migrate {
            let mut client = shared.client().await?;
            bounded(
                shared.operation_timeout.max(Duration::from_secs(60)),
                migrate::migrate(&mut client, &shared.schema),
            )
            .await?;
        }
        let (writer, inbox) = mpsc::unbounded_channel();
        tokio::spawn(writer::run(Arc::clone(&shared), inbox));
        let (stop, stopped) = watch::channel(());
        if let Some(interval) = self.prune_interval {
            tokio::spawn(prune_periodically(
                Arc::downgrade(&shared),
                interval,
                stopped.clone(),
            ));
        }
        Ok(PostgresQueue {
            inner: Arc::new(Inner {
                shared,
                writer,
                stop,
                listener: Once::new(),
            }),
        })
    }
}

impl fmt::Debug for PostgresQueueBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may hold a password.
        f.debug_struct("PostgresQueueBuilder")
            .field("url", &"[redacted]")
            .field("schema", &self.schema)
            .field("dedup_window", &self.dedup_window)
            .field("prune_interval", &self.prune_interval)
            .field("max_batch", &self.max_batch)
            .field("pool_size", &self.pool_size)
            .field("operation_timeout", &self.operation_timeout)
            .field("clock", &self.clock)
            .field("migrate", &self.migrate)
            .finish()
    }
}

/// A [`Queue`] in PostgreSQL, shared by every handle on the same database and
/// schema, in any process. Clones share one pool, one writer and one listener.
///
/// See the [crate docs](crate) for the tables and how each operation works.
#[derive(Clone)]
pub struct PostgresQueue {
    inner: Arc<Inner>,
}

/// What the handle owns: dropping the last clone stops the writer (its
/// channel closes), the pruner and the listener (`stop` is dropped).
struct Inner {
    shared: Arc<Shared>,
    writer: mpsc::UnboundedSender<Pending>,
    stop: watch::Sender<()>,
    /// Starts the listener on the first call to `wakeups`.
    listener: Once,
}

/// What the operations, the writer and the background tasks share.
pub(crate) struct Shared {
    pub(crate) pool: Pool,
    pub(crate) target: Target,
    pub(crate) sql: Sql,
    pub(crate) schema: String,
    pub(crate) dedup_window: Duration,
    pub(crate) operation_timeout: Duration,
    pub(crate) clock: Option<Arc<dyn Clock>>,
    /// Counts the times something became ready: bumped by this handle's own
    /// commits and by the listener's notifications.
    pub(crate) ready: ReadySignal,
    pub(crate) max_batch: usize,
}

impl Shared {
    /// The time to pass to a statement: `None` lets the server read its clock.
    pub(crate) fn now(&self) -> Option<SystemTime> {
        self.clock.as_ref().map(|clock| clock.now())
    }

    pub(crate) async fn client(&self) -> Result<deadpool_postgres::Object, QueueError> {
        self.pool.get().await.map_err(map_pool)
    }

    pub(crate) fn window_micros(&self) -> i64 {
        micros(self.dedup_window)
    }

    /// Tells this process's idle workers that something is ready.
    pub(crate) fn wake(&self) {
        self.ready.notify();
    }
}

/// Runs `op` within `limit`.
pub(crate) async fn bounded<T>(
    limit: Duration,
    op: impl Future<Output = Result<T, QueueError>>,
) -> Result<T, QueueError> {
    tokio::time::timeout(limit, op)
        .await
        .unwrap_or_else(|_| Err(timed_out(limit)))
}

/// A duration in microseconds, for `$n::bigint * interval '1 microsecond'`.
pub(crate) fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.min(FOREVER).as_micros()).unwrap_or(i64::MAX)
}

/// A time PostgreSQL can store: at most "for ever" ([`FOREVER`] after the epoch).
fn storable(time: SystemTime) -> SystemTime {
    time.min(SystemTime::UNIX_EPOCH + FOREVER)
}

/// An error message PostgreSQL's text can store: a NUL (a handler may quote
/// any bytes) becomes U+FFFD.
fn storable_text(text: String) -> String {
    if text.contains('\0') {
        text.replace('\0', "\u{fffd}")
    } else {
        text
    }
}

/// `(row id, lease token)` of a lease this crate issued.
fn parse_lease(lease: &LeaseId) -> Result<(i64, i64), QueueError> {
    lease
        .as_str()
        .split_once('.')
        .and_then(|(id, token)| Some((id.parse().ok()?, token.parse().ok()?)))
        .ok_or_else(QueueError::lease_lost)
}

impl PostgresQueue {
    /// A builder for a queue at `url`:
    /// `postgres://user:password@host:port/database?sslmode=require`, or a
    /// `key=value` connection string. See the [crate docs](crate#connecting)
    /// for TLS.
    pub fn builder(url: impl Into<String>) -> PostgresQueueBuilder {
        PostgresQueueBuilder {
            url: url.into(),
            schema: DEFAULT_SCHEMA.to_owned(),
            dedup_window: DEFAULT_DEDUP_WINDOW,
            prune_interval: Some(DEFAULT_PRUNE_INTERVAL),
            max_batch: DEFAULT_MAX_BATCH,
            pool_size: DEFAULT_POOL_SIZE,
            operation_timeout: DEFAULT_OPERATION_TIMEOUT,
            clock: None,
            migrate: true,
        }
    }

    /// The schema holding the queue's tables.
    pub fn schema(&self) -> &str {
        &self.inner.shared.schema
    }

    /// Whether connections use TLS (`sslmode=require` in the URL).
    pub fn uses_tls(&self) -> bool {
        self.inner.shared.target.tls.is_on()
    }

    fn shared(&self) -> &Shared {
        &self.inner.shared
    }

    /// Runs `op` with a pooled connection, within the operation timeout.
    async fn with_client<T, F>(&self, op: F) -> Result<T, QueueError>
    where
        F: AsyncFnOnce(&mut deadpool_postgres::Object) -> Result<T, QueueError>,
    {
        let shared = self.shared();
        bounded(shared.operation_timeout, async {
            let mut client = shared.client().await?;
            op(&mut client).await
        })
        .await
    }

    /// Checks that the server answers (for readiness probes); `Unavailable` if not.
    pub async fn ping(&self) -> Result<(), QueueError> {
        self.with_client(async |client| {
            client.simple_query("").await.map_err(map_pg)?;
            Ok(())
        })
        .await
    }

    /// The migrations the schema still needs (empty when it is up to date);
    /// an error when the schema is newer than this crate.
    pub async fn pending_migrations(&self) -> Result<Vec<Migration>, QueueError> {
        let schema = self.schema().to_owned();
        self.with_client(async |client| migrate::pending(&*client, &schema).await)
            .await
    }

    /// Applies the pending migrations (creating the schema if needed) and
    /// returns them. Safe to run from several processes at once: an advisory
    /// lock makes them take turns, and each migration is applied once.
    pub async fn migrate(&self) -> Result<Vec<Migration>, QueueError> {
        let shared = self.shared();
        bounded(
            shared.operation_timeout.max(Duration::from_secs(60)),
            async {
                let mut client = shared.client().await?;
                migrate::migrate(&mut client, &shared.schema).await
            },
        )
        .await
    }

    /// Checks that the server's settings, as this queue's connections see
    /// them, keep an acknowledged enqueue as durable as `required` says.
    /// Fails with `Invalid`, naming the setting to change, when they do not.
    ///
    /// `synchronous_commit = off` answers a commit before its WAL is written:
    /// a crash of the server loses the last acknowledged deliveries. It meets
    /// neither level. `fsync = off` or `full_page_writes = off` keep writes in
    /// the operating system's cache or risk torn pages: enough for
    /// [`Durability::ProcessCrash`], not for [`Durability::Fsync`].
    pub async fn check_durability(&self, required: Durability) -> Result<(), QueueError> {
        let settings = self
            .with_client(async |client| {
                let row = client
                    .query_one(
                        "SELECT current_setting('synchronous_commit'), current_setting('fsync'),
                                current_setting('full_page_writes')",
                        &[],
                    )
                    .await
                    .map_err(map_pg)?;
                Ok((
                    row.get::<_, String>(0),
                    row.get::<_, String>(1),
                    row.get::<_, String>(2),
                ))
            })
            .await?;
        durability_problem(required, &settings.0, &settings.1, &settings.2)
            .map_or(Ok(()), |problem| Err(QueueError::invalid(problem)))
    }

    /// A handle that resolves when something was enqueued or made ready
    /// again, by this process or (through `LISTEN`/`NOTIFY`) by any other
    /// on the same schema. The first call starts the listening connection,
    /// which reconnects by itself after a failure.
    ///
    /// How a worker pool uses it: keep one `Wakeups` for the pool's life;
    /// after a [`lease`](Queue::lease) that found nothing, wait for
    /// [`Wakeups::ready`] *or* the poll interval, whichever comes first, then
    /// lease again. A notification that arrives while the pool is leasing
    /// is kept, so none is missed; the poll stays as a safety net (a
    /// notification lost with a broken connection, a retry whose time has
    /// come).
    pub fn wakeups(&self) -> Wakeups {
        // Subscribed first, so the listener's first (re)connection wake-up
        // reaches this handle too.
        let wakeups = self.inner.shared.ready.subscribe();
        self.inner.listener.call_once(|| {
            tokio::spawn(listen::run(
                Arc::downgrade(&self.inner.shared),
                self.inner.stop.subscribe(),
            ));
        });
        wakeups
    }

    /// Extends every held lease of `leases` to `visibility` from now, in
    /// one statement; see [`Queue::extend`].
    async fn extend_now(
        &self,
        leases: Vec<LeaseId>,
        visibility: Duration,
    ) -> Result<Vec<Result<SystemTime, QueueError>>, QueueError> {
        // Tokens of another shape cannot be held: lost without asking.
        let parsed: Vec<Option<(i64, i64)>> = leases.iter().map(|l| parse_lease(l).ok()).collect();
        let (ids, tokens): (Vec<i64>, Vec<i64>) = parsed.iter().flatten().copied().unzip();
        let mut extended = std::collections::HashMap::new();
        if !ids.is_empty() {
            let shared = self.shared();
            let now = shared.now();
            let visibility = micros(visibility);
            let rows = self
                .with_client(async |client| {
                    let stmt = client
                        .prepare_cached(&shared.sql.extend)
                        .await
                        .map_err(map_pg)?;
                    client
                        .query(&stmt, &[&ids, &tokens, &now, &visibility])
                        .await
                        .map_err(map_pg)
                })
                .await?;
            for row in rows {
                let key: (i64, i64) = (row.get(0), row.get(1));
                extended.insert(key, row.get::<_, SystemTime>(2));
            }
        }
        Ok(parsed
            .into_iter()
            .map(|lease| {
                lease
                    .and_then(|key| extended.get(&key).copied())
                    .ok_or_else(QueueError::lease_lost)
            })
            .collect())
    }

    /// Deletes deduplication keys older than the window, in statements of at
    /// most [`PRUNE_BATCH`] rows, until none is left; returns how many. The
    /// background pruner calls it every
    /// [`prune_interval`](PostgresQueueBuilder::prune_interval).
    pub async fn prune_seen(&self) -> Result<u64, QueueError> {
        prune(self.shared()).await
    }

    async fn lease_now(&self, request: LeaseRequest) -> Result<Vec<Leased>, QueueError> {
        if request.max == 0 {
            return Ok(Vec::new());
        }
        let shared = self.shared();
        let now = shared.now();
        let max = i64::try_from(request.max).unwrap_or(i64::MAX);
        let visibility = micros(request.visibility);
        // 63 random bits per lease call: a stale holder's token never
        // matches the row's next lease.
        let token = i64::try_from(rand::random::<u64>() >> 1).unwrap_or(0);
        let skip: Vec<&str> = request.skip_sources.iter().map(String::as_str).collect();
        let rows = self
            .with_client(async |client| {
                let stmt = client
                    .prepare_cached(&shared.sql.lease)
                    .await
                    .map_err(map_pg)?;
                client
                    .query(&stmt, &[&now, &skip, &max, &visibility, &token])
                    .await
                    .map_err(map_pg)
            })
            .await?;
        rows.iter()
            .map(|row| {
                let id: i64 = row.get(0);
                let (delivery, expires_at) = read_delivery(row, 1)?;
                Ok(Leased::new(
                    delivery,
                    LeaseId::new(format!("{id}.{token}")),
                    expires_at,
                ))
            })
            .collect()
    }

    /// Runs a statement on a held lease: one row changed, or `LeaseLost`.
    async fn on_lease(
        &self,
        sql: &str,
        lease: &LeaseId,
        extra: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<(), QueueError> {
        let (id, token) = parse_lease(lease)?;
        let changed = self
            .with_client(async |client| {
                let stmt = client.prepare_cached(sql).await.map_err(map_pg)?;
                let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = vec![&id, &token];
                params.extend_from_slice(extra);
                client.execute(&stmt, &params).await.map_err(map_pg)
            })
            .await?;
        if changed == 1 {
            Ok(())
        } else {
            Err(QueueError::lease_lost())
        }
    }

    /// Makes a held delivery waiting again (a retry or a release). A
    /// delivery with a coalescing key goes the slow way: in a transaction
    /// that keeps at most one waiting version of its object.
    async fn to_waiting(
        &self,
        lease: &LeaseId,
        plain: &str,
        any: &str,
        due: Option<SystemTime>,
        error: Option<&str>,
    ) -> Result<(), QueueError> {
        let (id, token) = parse_lease(lease)?;
        let shared = self.shared();
        let result = self
            .with_client(async |client| {
                let mut args: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
                    vec![&id, &token, &due];
                if let Some(error) = &error {
                    args.push(error);
                }
                let stmt = client.prepare_cached(plain).await.map_err(map_pg)?;
                if client.execute(&stmt, &args).await.map_err(map_pg)? == 1 {
                    return Ok(());
                }
                // Lost, or a delivery with a coalescing key.
                let tx = client.transaction().await.map_err(map_pg)?;
                let held = tx
                    .query_opt(&shared.sql.held, &[&id, &token])
                    .await
                    .map_err(map_pg)?
                    .ok_or_else(QueueError::lease_lost)?;
                if place_waiting(&tx, shared, id, &held).await? {
                    let stmt = tx.prepare_cached(any).await.map_err(map_pg)?;
                    tx.execute(&stmt, &args).await.map_err(map_pg)?;
                }
                tx.commit().await.map_err(map_pg)
            })
            .await;
        if result.is_ok() {
            shared.wake();
        }
        result
    }

    async fn recover_now(&self) -> Result<u64, QueueError> {
        let shared = self.shared();
        let now = shared.now();
        let recovered = self
            .with_client(async |client| {
                let stmt = client
                    .prepare_cached(&shared.sql.recover_plain)
                    .await
                    .map_err(map_pg)?;
                let mut count = client.execute(&stmt, &[&now]).await.map_err(map_pg)?;
                let keyed = client
                    .query(&shared.sql.expired_keyed, &[&now])
                    .await
                    .map_err(map_pg)?;
                for row in keyed {
                    let id: i64 = row.get(0);
                    let tx = client.transaction().await.map_err(map_pg)?;
                    // Leased again or handled meanwhile: not ours to recover.
                    if let Some(held) = tx
                        .query_opt(&shared.sql.held_expired, &[&id, &now])
                        .await
                        .map_err(map_pg)?
                    {
                        if place_waiting(&tx, shared, id, &held).await? {
                            tx.execute(&shared.sql.recover_one, &[&id, &now])
                                .await
                                .map_err(map_pg)?;
                        }
                        count += 1;
                    }
                    tx.commit().await.map_err(map_pg)?;
                }
                Ok(count)
            })
            .await?;
        if recovered > 0 {
            shared.wake();
        }
        Ok(recovered)
    }

    async fn replay_now(&self, selection: Replay) -> Result<u64, QueueError> {
        let shared = self.shared();
        let now = shared.now();
        let (source, delivery_id, from, to) = match &selection {
            Replay::One(key) => (
                Some(key.source.as_str()),
                Some(key.delivery_id.as_str()),
                None,
                None,
            ),
            Replay::All => (None, None, None, None),
            Replay::ReceivedBetween { from, to } => {
                (None, None, Some(storable(*from)), Some(storable(*to)))
            }
            _ => return Err(QueueError::invalid("unsupported replay selection")),
        };
        let replayed = self
            .with_client(async |client| {
                let args: [&(dyn tokio_postgres::types::ToSql + Sync); 5] =
                    [&now, &source, &delivery_id, &from, &to];
                let stmt = client
                    .prepare_cached(&shared.sql.replay_plain)
                    .await
                    .map_err(map_pg)?;
                let mut count = client.execute(&stmt, &args).await.map_err(map_pg)?;
                let keyed = client
                    .query(&shared.sql.dead_keyed, &args)
                    .await
                    .map_err(map_pg)?;
                for row in keyed {
                    let id: i64 = row.get(0);
                    let tx = client.transaction().await.map_err(map_pg)?;
                    if let Some(held) = tx
                        .query_opt(&shared.sql.held_dead, &[&id])
                        .await
                        .map_err(map_pg)?
                    {
                        if place_waiting(&tx, shared, id, &held).await? {
                            tx.execute(&shared.sql.replay_one, &[&id, &now])
                                .await
                                .map_err(map_pg)?;
                        }
                        count += 1;
                    }
                    tx.commit().await.map_err(map_pg)?;
                }
                Ok(count)
            })
            .await?;
        if let (Replay::One(key), 0) = (&selection, replayed) {
            return Err(QueueError::not_found(format!("no dead letter {key}")));
        }
        if replayed > 0 {
            shared.wake();
        }
        Ok(replayed)
    }

    async fn stats_now(&self) -> Result<Stats, QueueError> {
        let shared = self.shared();
        let now = shared.now();
        let row = self
            .with_client(async |client| {
                let stmt = client
                    .prepare_cached(&shared.sql.stats)
                    .await
                    .map_err(map_pg)?;
                client.query_one(&stmt, &[&now]).await.map_err(map_pg)
            })
            .await?;
        let count = |i: usize| u64::try_from(row.get::<_, i64>(i)).unwrap_or(0);
        let mut stats = Stats::default();
        stats.ready = count(0);
        stats.scheduled = count(1);
        stats.leased = count(2);
        stats.dead = count(3);
        let oldest: Option<SystemTime> = row.get(4);
        let server_now: SystemTime = row.get(5);
        stats.oldest_ready_age =
            oldest.map(|oldest| server_now.duration_since(oldest).unwrap_or_default());
        observe::record_stats(&stats);
        Ok(stats)
    }

    async fn list_dead_now(&self, limit: usize) -> Result<Vec<DeadLetter>, QueueError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let shared = self.shared();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self
            .with_client(async |client| {
                let stmt = client
                    .prepare_cached(&shared.sql.list_dead)
                    .await
                    .map_err(map_pg)?;
                client.query(&stmt, &[&limit]).await.map_err(map_pg)
            })
            .await?;
        rows.iter()
            .map(|row| {
                let (delivery, dead_at) = read_delivery(row, 1)?;
                let error = delivery.last_error.clone().unwrap_or_default();
                Ok(DeadLetter::new(delivery, error, dead_at))
            })
            .collect()
    }
}

/// Which durability level the settings miss, as a message naming the
/// setting; `None` when they meet `required`.
fn durability_problem(
    required: Durability,
    synchronous_commit: &str,
    fsync: &str,
    full_page_writes: &str,
) -> Option<String> {
    if synchronous_commit == "off" {
        return Some(format!(
            "postgres `synchronous_commit` is `off`: the server acknowledges a commit before \
             writing it, so a server crash loses acknowledged deliveries; durability \
             \"{required}\" needs it `on` (for hookgate's role only: ALTER ROLE <role> SET \
             synchronous_commit = on)"
        ));
    }
    if required == Durability::Fsync {
        for (setting, value) in [("fsync", fsync), ("full_page_writes", full_page_writes)] {
            if value == "off" {
                return Some(format!(
                    "postgres `{setting}` is `off`: a power loss can lose or corrupt acknowledged \
                     deliveries; durability \"fsync\" needs `{setting} = on` (or configure \
                     durability = \"process-crash\")"
                ));
            }
        }
    }
    None
}

/// Keeps at most one waiting delivery per `(source, coalescing key)`, the
/// newest received, before row `id` (`held`: its source, key and received
/// time) becomes waiting. Returns whether `id` should become waiting: false
/// when a newer version already waits, in which case `id` was deleted.
///
/// An advisory lock per key, held to the end of the transaction, makes
/// receivers that place versions of the same object take turns.
pub(crate) async fn place_waiting(
    tx: &impl GenericClient,
    shared: &Shared,
    id: i64,
    held: &Row,
) -> Result<bool, QueueError> {
    let source: String = held.get(0);
    let key: Option<String> = held.get(1);
    let received_at: SystemTime = held.get(2);
    let Some(key) = key else {
        return Ok(true);
    };
    lock_key(tx, shared, &source, &key).await?;
    let others = tx
        .query(&shared.sql.waiting_with_key, &[&source, &key, &id])
        .await
        .map_err(map_pg)?;
    for other in others {
        let (other_id, other_received): (i64, SystemTime) = (other.get(0), other.get(1));
        let victim = if other_received > received_at {
            id
        } else {
            other_id
        };
        tx.execute(&shared.sql.delete_one, &[&victim])
            .await
            .map_err(map_pg)?;
        metrics::counter!(observe::COALESCED, "source" => source.clone()).increment(1);
        if victim == id {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Takes the transaction-scoped advisory lock of one coalescing key.
pub(crate) async fn lock_key(
    tx: &impl GenericClient,
    shared: &Shared,
    source: &str,
    key: &str,
) -> Result<(), QueueError> {
    // Lengths keep ("a:b", "c") and ("a", "b:c") apart.
    let name = format!(
        "hookgate coalesce {}:{}:{source}:{key}",
        shared.schema,
        source.len()
    );
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
        &[&name],
    )
    .await
    .map_err(map_pg)?;
    Ok(())
}

/// Reads the delivery columns starting at `first`, and the `due_at` after
/// them (a lease's expiry, or when a dead letter died).
fn read_delivery(row: &Row, first: usize) -> Result<(Delivery, SystemTime), QueueError> {
    let corrupt = || QueueError::storage("corrupt headers in the postgres queue");
    let headers: &[u8] = row.get(first + 3);
    let headers = hookgate_queue::wire::decode_headers(headers).ok_or_else(corrupt)?;
    let body: Vec<u8> = row.get(first + 4);
    let mut new = NewDelivery::new(
        row.get::<_, String>(first),
        row.get::<_, String>(first + 1),
        row.get::<_, SystemTime>(first + 2),
        Bytes::from(body),
    )
    .with_headers(headers);
    new.coalesce_key = row.get(first + 5);
    let attempts: i32 = row.get(first + 6);
    let delivery = Delivery::new(
        new,
        u32::try_from(attempts).unwrap_or(0),
        row.get(first + 7),
    );
    Ok((delivery, row.get(first + 8)))
}

/// Deletes expired dedup keys in bounded statements until none is left.
async fn prune(shared: &Shared) -> Result<u64, QueueError> {
    let mut total = 0;
    loop {
        let now = shared.now();
        let window = shared.window_micros();
        let deleted = bounded(shared.operation_timeout, async {
            let client = shared.client().await?;
            let stmt = client
                .prepare_cached(&shared.sql.prune)
                .await
                .map_err(map_pg)?;
            client
                .execute(&stmt, &[&now, &window, &PRUNE_BATCH])
                .await
                .map_err(map_pg)
        })
        .await?;
        total += deleted;
        if deleted < PRUNE_BATCH.unsigned_abs() {
            return Ok(total);
        }
    }
}

/// Prunes every `interval` until the queue is dropped.
async fn prune_periodically(
    shared: std::sync::Weak<Shared>,
    interval: Duration,
    mut stop: watch::Receiver<()>,
) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            // The sender is dropped with the queue.
            _ = stop.changed() => return,
        }
        let Some(shared) = shared.upgrade() else {
            return;
        };
        match prune(&shared).await {
            Ok(0) => {}
            Ok(pruned) => tracing::debug!(pruned, "pruned expired dedup keys"),
            Err(err) => tracing::warn!(error = %err, "pruning dedup keys failed; will retry"),
        }
    }
}

impl fmt::Debug for PostgresQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shared = self.shared();
        f.debug_struct("PostgresQueue")
            .field("target", &shared.target)
            .field("schema", &shared.schema)
            .field("dedup_window", &shared.dedup_window)
            .field("max_batch", &shared.max_batch)
            .field("operation_timeout", &shared.operation_timeout)
            .field("clock", &shared.clock)
            .finish_non_exhaustive()
    }
}

impl Enqueue for PostgresQueue {
    fn enqueue(&self, delivery: NewDelivery) -> BoxFuture<'_, Result<EnqueueOutcome, QueueError>> {
        Box::pin(async move {
            let started = Instant::now();
            let source = delivery.source.clone();
            let result = self.enqueue_now(delivery).await;
            observe::record_enqueue(&source, &result, started.elapsed());
            result
        })
    }
}

impl Queue for PostgresQueue {
    fn lease(&self, request: LeaseRequest) -> BoxFuture<'_, Result<Vec<Leased>, QueueError>> {
        Box::pin(self.lease_now(request))
    }

    /// One `UPDATE` for all the leases. A lease that expired but was not
    /// leased again is still extended: its token still matches the row.
    fn extend(
        &self,
        leases: Vec<LeaseId>,
        visibility: Duration,
    ) -> BoxFuture<'_, Result<Vec<Result<SystemTime, QueueError>>, QueueError>> {
        Box::pin(self.extend_now(leases, visibility))
    }

    fn ack(&self, lease: LeaseId) -> BoxFuture<'_, Result<(), QueueError>> {
        Box::pin(async move { self.on_lease(&self.shared().sql.ack, &lease, &[]).await })
    }

    fn retry_at(
        &self,
        lease: LeaseId,
        at: SystemTime,
        error: String,
    ) -> BoxFuture<'_, Result<(), QueueError>> {
        Box::pin(async move {
            let sql = &self.shared().sql;
            self.to_waiting(
                &lease,
                &sql.retry_plain,
                &sql.retry_any,
                Some(storable(at)),
                Some(&storable_text(error)),
            )
            .await
        })
    }

    fn dead_letter(&self, lease: LeaseId, error: String) -> BoxFuture<'_, Result<(), QueueError>> {
        Box::pin(async move {
            let now = self.shared().now();
            let error = storable_text(error);
            self.on_lease(&self.shared().sql.dead_letter, &lease, &[&now, &error])
                .await
        })
    }

    fn release(&self, lease: LeaseId) -> BoxFuture<'_, Result<(), QueueError>> {
        Box::pin(async move {
            let sql = &self.shared().sql;
            let now = self.shared().now();
            self.to_waiting(&lease, &sql.release_plain, &sql.release_any, now, None)
                .await
        })
    }

    /// Makes expired leases waiting again. Leases that have not expired may
    /// belong to a live worker in another process, so they are left alone.
    fn recover(&self) -> BoxFuture<'_, Result<u64, QueueError>> {
        Box::pin(self.recover_now())
    }

    fn list_dead(&self, limit: usize) -> BoxFuture<'_, Result<Vec<DeadLetter>, QueueError>> {
        Box::pin(self.list_dead_now(limit))
    }

    fn replay(&self, selection: Replay) -> BoxFuture<'_, Result<u64, QueueError>> {
        Box::pin(self.replay_now(selection))
    }

    fn stats(&self) -> BoxFuture<'_, Result<Stats, QueueError>> {
        Box::pin(self.stats_now())
    }

    /// [`PostgresQueue::wakeups`]: woken by every process's enqueues and
    /// releases, through `LISTEN`/`NOTIFY`.
    fn wakeups(&self) -> Option<Wakeups> {
        Some(PostgresQueue::wakeups(self))
    }
}

impl PostgresQueue {
    async fn enqueue_now(&self, delivery: NewDelivery) -> Result<EnqueueOutcome, QueueError> {
        if delivery.source.is_empty() {
            return Err(QueueError::invalid("empty source name"));
        }
        if delivery.delivery_id.is_empty() {
            return Err(QueueError::invalid("empty delivery id"));
        }
        // PostgreSQL's text cannot hold NUL: refused here, such a delivery
        // would fail the whole batch it was committed with. (Header values
        // cannot hold one; an id read from a JSON body can: "\u0000".)
        for (field, value) in [
            ("source name", Some(&delivery.source)),
            ("delivery id", Some(&delivery.delivery_id)),
            ("coalescing key", delivery.coalesce_key.as_ref()),
        ] {
            if value.is_some_and(|v| v.contains('\0')) {
                return Err(QueueError::invalid(format!(
                    "the {field} contains a NUL character, which postgres text cannot store"
                )));
            }
        }
        let (reply, answer) = oneshot::channel();
        self.inner
            .writer
            .send(Pending { delivery, reply })
            .map_err(|_| unavailable("the postgres enqueue writer has stopped"))?;
        answer
            .await
            .map_err(|_| unavailable("the postgres enqueue writer dropped the request"))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durability_settings_are_judged_per_level() {
        assert_eq!(
            durability_problem(Durability::Fsync, "on", "on", "on"),
            None
        );
        assert_eq!(
            durability_problem(Durability::Fsync, "remote_apply", "on", "on"),
            None
        );
        let off = durability_problem(Durability::Fsync, "off", "on", "on").unwrap();
        assert!(off.contains("`synchronous_commit` is `off`"), "{off}");
        assert!(
            durability_problem(Durability::ProcessCrash, "off", "on", "on").is_some(),
            "a server crash loses commits that were never written"
        );
        let fsync = durability_problem(Durability::Fsync, "on", "off", "on").unwrap();
        assert!(fsync.contains("`fsync` is `off`"), "{fsync}");
        let pages = durability_problem(Durability::Fsync, "local", "on", "off").unwrap();
        assert!(pages.contains("`full_page_writes` is `off`"), "{pages}");
        assert_eq!(
            durability_problem(Durability::ProcessCrash, "on", "off", "off"),
            None
        );
    }

    #[test]
    fn leases_of_another_shape_are_lost_not_errors() {
        for bad in ["", "1", "x.2", "1.y", "1.2.3"] {
            assert_eq!(
                parse_lease(&LeaseId::new(bad)).unwrap_err().kind(),
                hookgate_queue::QueueErrorKind::LeaseLost,
                "{bad:?}"
            );
        }
        assert_eq!(parse_lease(&LeaseId::new("17.42")).unwrap(), (17, 42));
    }

    #[test]
    fn durations_are_clamped_to_for_ever() {
        assert_eq!(micros(Duration::from_millis(1500)), 1_500_000);
        assert_eq!(micros(Duration::MAX), micros(FOREVER));
        assert_eq!(
            storable(SystemTime::UNIX_EPOCH + Duration::from_secs(u64::MAX / 2)),
            SystemTime::UNIX_EPOCH + FOREVER
        );
    }
}
