//! Opening the queue a configuration names, for `serve` and `queue`.

use std::sync::Arc;
use std::time::Duration;

use hookgate_queue::sqlite::MinFreeDisk;
use hookgate_queue::{Durability, MemoryQueue, Queue, RetryPolicy, RetrySchedule, SqliteQueue};

use crate::cmd::with_causes;
use crate::config::{
    Config, DurabilityName, QueueBackend, QueueConfig, RetryConfig, ScheduleConfig,
};
use crate::size::FreeDisk;

// The back-ends' defaults, spelled here too so that `describe` needs neither
// crate (they are optional); a test checks they agree.
const REDIS_DEFAULT_PREFIX: &str = "hookgate";
const NATS_DEFAULT_STREAM: &str = "HOOKGATE";
const POSTGRES_DEFAULT_SCHEMA: &str = "hookgate";

/// Who opens the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Opener {
    /// `hookgate serve`: the queue's owner. Opening the SQLite file recovers
    /// the leases a previous, dead process left.
    Receiver,
    /// `hookgate queue …`, perhaps while `serve` runs: must leave the live
    /// leases of the running receiver alone.
    Inspector,
}

/// Opens the configured queue; `env` reads the environment (a distributed
/// queue's URL may be kept there). SQLite opens its file synchronously, which
/// is fine here: this runs once, in `block_on` on the main thread, before
/// anything is served.
pub(crate) async fn open(
    config: &Config,
    env: &dyn Fn(&str) -> Option<String>,
    opener: Opener,
) -> Result<Arc<dyn Queue>, String> {
    let queue = &config.queue;
    match &queue.backend {
        QueueBackend::Sqlite { path, durability } => {
            if let Some(parent) = path.parent()
                && !parent.as_os_str().is_empty()
            {
                std::fs::create_dir_all(parent).map_err(|e| {
                    format!("cannot create the queue's folder {}: {e}", parent.display())
                })?;
            }
            let mut builder = SqliteQueue::builder(path)
                .durability(Durability::from(*durability))
                .recover_leases_on_open(opener == Opener::Receiver)
                // A second `serve` on the file would recover (and handle again)
                // this one's leases; the `queue` commands only inspect.
                .exclusive(opener == Opener::Receiver);
            if let Some(window) = queue.dedup_window {
                builder = builder.dedup_window(window);
            }
            if let Some(capacity) = queue.capacity {
                builder = builder.capacity(capacity);
            }
            if let Some(max) = queue.max_bytes {
                builder = builder.max_bytes(max);
            }
            if let Some(floor) = queue.min_free_disk {
                builder = builder.min_free_disk(match floor {
                    FreeDisk::Bytes(bytes) => MinFreeDisk::Bytes(bytes),
                    FreeDisk::Percent(percent) => MinFreeDisk::Percent(percent),
                });
            }
            if let Some(limit) = queue.wal_limit {
                builder = builder.wal_limit(limit);
            }
            let opened = builder.open().map_err(|e| {
                format!(
                    "cannot open the queue {}: {}",
                    path.display(),
                    with_causes(&e)
                )
            })?;
            Ok(Arc::new(opened))
        }
        QueueBackend::Memory => {
            let mut opened = MemoryQueue::new();
            if let Some(window) = queue.dedup_window {
                opened = opened.with_dedup_window(window);
            }
            if let Some(capacity) = queue.capacity {
                opened = opened.with_capacity(capacity);
            }
            Ok(Arc::new(opened))
        }
        QueueBackend::Redis {
            endpoint,
            prefix,
            durability,
        } => {
            open_redis(
                &endpoint.resolve(env)?,
                prefix.as_deref(),
                queue.dedup_window,
                (opener == Opener::Receiver).then_some(*durability),
            )
            .await
        }
        QueueBackend::Nats {
            endpoint,
            stream,
            durability,
            replicas,
        } => {
            open_nats(
                &endpoint.resolve(env)?,
                stream.as_deref(),
                queue.dedup_window,
                config.workers.visibility_timeout,
                *replicas,
                queue.max_bytes,
                (opener == Opener::Receiver).then_some(*durability),
            )
            .await
        }
        QueueBackend::Postgres {
            endpoint,
            schema,
            durability,
        } => {
            open_postgres(
                &endpoint.resolve(env)?,
                schema.as_deref(),
                *durability,
                queue.dedup_window,
                opener,
            )
            .await
        }
    }
}

#[cfg(feature = "postgres")]
fn postgres_builder(
    url: &str,
    schema: Option<&str>,
    dedup_window: Option<Duration>,
) -> hookgate_queue_postgres::PostgresQueueBuilder {
    let mut builder = hookgate_queue_postgres::PostgresQueue::builder(url);
    if let Some(schema) = schema {
        builder = builder.schema(schema);
    }
    if let Some(window) = dedup_window {
        builder = builder.dedup_window(window);
    }
    builder
}

/// `serve` migrates the schema, checks the server's durability settings
/// and prunes dedup keys; the `queue` commands change nothing of the schema
/// and refuse one that needs migrating.
#[cfg(feature = "postgres")]
async fn open_postgres(
    url: &str,
    schema: Option<&str>,
    durability: DurabilityName,
    dedup_window: Option<Duration>,
    opener: Opener,
) -> Result<Arc<dyn Queue>, String> {
    let failed = |e: hookgate_queue::QueueError| {
        format!(
            "cannot open the postgres queue: {}; is PostgreSQL running at the URL of [queue], and may its user connect?",
            with_causes(&e)
        )
    };
    let builder = postgres_builder(url, schema, dedup_window);
    match opener {
        Opener::Receiver => {
            let opened = builder.connect().await.map_err(failed)?;
            let required = hookgate_queue::Durability::from(durability);
            opened.check_durability(required).await.map_err(|e| {
                format!(
                    "the postgres queue does not meet durability = \"{required}\": {}",
                    with_causes(&e)
                )
            })?;
            Ok(Arc::new(opened))
        }
        Opener::Inspector => {
            let opened = builder
                .migrate(false)
                .prune_interval(None)
                .connect()
                .await
                .map_err(failed)?;
            let pending = opened.pending_migrations().await.map_err(failed)?;
            if !pending.is_empty() {
                return Err(format!(
                    "the postgres queue schema {} needs {} migration(s) first: run `hookgate queue migrate` (or start `hookgate serve`)",
                    opened.schema(),
                    pending.len()
                ));
            }
            Ok(Arc::new(opened))
        }
    }
}

#[cfg(not(feature = "postgres"))]
async fn open_postgres(
    _: &str,
    _: Option<&str>,
    _: DurabilityName,
    _: Option<Duration>,
    _: Opener,
) -> Result<Arc<dyn Queue>, String> {
    Err(not_built("postgres"))
}

/// What `hookgate queue migrate` found or did: one line per migration.
#[derive(Debug)]
pub(crate) struct MigrationReport {
    /// The schema.
    pub(crate) schema: String,
    /// `(version, name)` of each migration pending (`--check`) or applied.
    pub(crate) migrations: Vec<(u32, &'static str)>,
}

/// Lists (`check`) or applies the pending migrations of the configured
/// queue; only the PostgreSQL queue has any.
pub(crate) async fn migrate(
    config: &Config,
    env: &dyn Fn(&str) -> Option<String>,
    check: bool,
) -> Result<MigrationReport, String> {
    let QueueBackend::Postgres {
        endpoint, schema, ..
    } = &config.queue.backend
    else {
        return Err(format!(
            "`hookgate queue migrate` applies to the postgres queue; the configured queue is {} \
             (the sqlite queue creates its tables when it opens the file)",
            describe(&config.queue)
        ));
    };
    migrate_postgres(
        &endpoint.resolve(env)?,
        schema.as_deref(),
        config.queue.dedup_window,
        check,
    )
    .await
}

#[cfg(feature = "postgres")]
async fn migrate_postgres(
    url: &str,
    schema: Option<&str>,
    dedup_window: Option<Duration>,
    check: bool,
) -> Result<MigrationReport, String> {
    let failed = |e: hookgate_queue::QueueError| format!("postgres queue: {}", with_causes(&e));
    let queue = postgres_builder(url, schema, dedup_window)
        .migrate(false)
        .prune_interval(None)
        .connect()
        .await
        .map_err(failed)?;
    let migrations = if check {
        queue.pending_migrations().await
    } else {
        queue.migrate().await
    }
    .map_err(failed)?;
    Ok(MigrationReport {
        schema: queue.schema().to_owned(),
        migrations: migrations.iter().map(|m| (m.version, m.name)).collect(),
    })
}

#[cfg(not(feature = "postgres"))]
async fn migrate_postgres(
    _: &str,
    _: Option<&str>,
    _: Option<Duration>,
    _: bool,
) -> Result<MigrationReport, String> {
    Err(not_built("postgres"))
}

/// `check`: the durability `serve` requires of the server, checked before
/// anything is served (the `queue` commands only inspect, and check nothing).
#[cfg(feature = "redis")]
async fn open_redis(
    url: &str,
    prefix: Option<&str>,
    dedup_window: Option<Duration>,
    check: Option<DurabilityName>,
) -> Result<Arc<dyn Queue>, String> {
    let mut builder = hookgate_queue_redis::RedisQueue::builder(url);
    if let Some(prefix) = prefix {
        builder = builder.prefix(prefix);
    }
    if let Some(window) = dedup_window {
        builder = builder.dedup_window(window);
    }
    // Building does not connect: the `queue` commands start while Redis is
    // down (and say so when they ask it something).
    let opened = builder
        .build()
        .map_err(|e| format!("cannot open the redis queue: {}", with_causes(&e)))?;
    if let Some(required) = check {
        // `serve` must know what a 2xx will mean before it answers one, so
        // Redis must answer now: a receiver started while it is down would
        // learn its settings only after acknowledging deliveries on them.
        let found = opened
            .check_durability(required.into())
            .await
            .map_err(|e| refused_durability("redis", required, &e))?;
        warn_unverified("redis", found);
    }
    Ok(Arc::new(opened))
}

/// `serve`'s refusal of a server that does not keep what `durability` says,
/// or that cannot be asked.
#[cfg(any(feature = "redis", feature = "nats"))]
fn refused_durability(
    backend: &str,
    required: DurabilityName,
    err: &hookgate_queue::QueueError,
) -> String {
    let required = hookgate_queue::Durability::from(required);
    if err.kind() == hookgate_queue::QueueErrorKind::Invalid {
        // The reason alone: "invalid queue request" would say nothing here.
        let reason =
            std::error::Error::source(err).map_or_else(|| err.to_string(), ToString::to_string);
        format!("the {backend} queue does not meet durability = \"{required}\": {reason}")
    } else {
        format!(
            "cannot check the {backend} queue's durability (durability = \"{required}\"): {}; is {backend} running at the URL of [queue]?",
            with_causes(err)
        )
    }
}

/// Starts anyway when a setting could not be read, saying what to check.
#[cfg(any(feature = "redis", feature = "nats"))]
fn warn_unverified(backend: &str, found: hookgate_queue::DurabilityCheck) {
    if let hookgate_queue::DurabilityCheck::Unverified { reason } = found {
        tracing::warn!(queue = backend, "durability not verified: {reason}");
    }
}

#[cfg(not(feature = "redis"))]
async fn open_redis(
    _: &str,
    _: Option<&str>,
    _: Option<Duration>,
    _: Option<DurabilityName>,
) -> Result<Arc<dyn Queue>, String> {
    Err(not_built("redis"))
}

#[cfg(feature = "nats")]
async fn open_nats(
    url: &str,
    stream: Option<&str>,
    dedup_window: Option<Duration>,
    visibility: Duration,
    replicas: usize,
    max_bytes: Option<u64>,
    check: Option<DurabilityName>,
) -> Result<Arc<dyn Queue>, String> {
    // JetStream keeps one lease duration per consumer (`ack_wait`): it is the
    // workers' visibility timeout, as the other back-ends take it per lease.
    let mut builder = hookgate_queue_nats::NatsQueue::builder(url)
        .ack_wait(visibility)
        .replicas(replicas);
    if let Some(stream) = stream {
        builder = builder.stream(stream);
    }
    if let Some(window) = dedup_window {
        builder = builder.dedup_window(window);
    }
    if let Some(max) = max_bytes {
        builder = builder.max_bytes(max);
    }
    let opened = builder
        .connect()
        .await
        .map_err(|e| {
            format!(
                "cannot open the nats queue: {}; is nats-server running with JetStream (-js) at the URL of [queue]?",
                with_causes(&e)
            )
        })?;
    if let Some(required) = check {
        let found = opened
            .check_durability(required.into())
            .await
            .map_err(|e| refused_durability("nats", required, &e))?;
        warn_unverified("nats", found);
    }
    Ok(Arc::new(opened))
}

#[cfg(not(feature = "nats"))]
async fn open_nats(
    _: &str,
    _: Option<&str>,
    _: Option<Duration>,
    _: Duration,
    _: usize,
    _: Option<u64>,
    _: Option<DurabilityName>,
) -> Result<Arc<dyn Queue>, String> {
    Err(not_built("nats"))
}

#[cfg(not(all(feature = "redis", feature = "nats", feature = "postgres")))]
fn not_built(feature: &str) -> String {
    format!("this hookgate was built without the `{feature}` queue (cargo feature `{feature}`)")
}

/// A short description of the queue for logs and messages (never a URL,
/// which may hold a password).
pub(crate) fn describe(config: &QueueConfig) -> String {
    match &config.backend {
        QueueBackend::Sqlite { path, .. } => format!("sqlite {}", path.display()),
        QueueBackend::Memory => "memory".to_owned(),
        QueueBackend::Redis { prefix, .. } => format!(
            "redis prefix {}",
            prefix.as_deref().unwrap_or(REDIS_DEFAULT_PREFIX)
        ),
        QueueBackend::Nats { stream, .. } => format!(
            "nats stream {}",
            stream.as_deref().unwrap_or(NATS_DEFAULT_STREAM)
        ),
        QueueBackend::Postgres { schema, .. } => format!(
            "postgres schema {}",
            schema.as_deref().unwrap_or(POSTGRES_DEFAULT_SCHEMA)
        ),
    }
}

/// The worker's retry policy for `[retry]`.
pub(crate) fn retry_policy(config: &RetryConfig) -> RetryPolicy {
    let schedule = match &config.schedule {
        ScheduleConfig::Exponential { base, cap, jitter } => {
            let schedule = RetrySchedule::exponential(*base, *cap);
            if *jitter {
                schedule
            } else {
                schedule.without_jitter()
            }
        }
        ScheduleConfig::Fixed(delays) => RetrySchedule::fixed(delays.iter().copied()),
    };
    let mut policy = RetryPolicy::new(schedule);
    if let Some(attempts) = config.max_attempts {
        policy = policy.max_attempts(attempts);
    }
    if let Some(age) = config.max_age {
        policy = policy.max_age(age);
    }
    policy
}

#[cfg(all(test, feature = "redis", feature = "nats", feature = "postgres"))]
mod tests {
    #[test]
    fn described_defaults_are_the_back_ends_own() {
        assert_eq!(
            super::REDIS_DEFAULT_PREFIX,
            hookgate_queue_redis::DEFAULT_PREFIX
        );
        assert_eq!(
            super::NATS_DEFAULT_STREAM,
            hookgate_queue_nats::DEFAULT_STREAM
        );
        assert_eq!(
            super::POSTGRES_DEFAULT_SCHEMA,
            hookgate_queue_postgres::DEFAULT_SCHEMA
        );
    }
}
