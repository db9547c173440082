//! `[queue]`: which back-end holds the deliveries.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer};
use toml::Spanned;

use super::DEFAULT_QUEUE_FILE;
use super::error::{ConfigError, Ctx};
use super::values::Whole;
use crate::duration::HumanDuration;
use crate::size::{ByteSize, FreeDisk};

/// How durable an acknowledged enqueue is: set by the SQLite queue, checked
/// against the server's settings by the Redis, NATS and PostgreSQL queues.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum DurabilityName {
    /// `fsync` before the 2xx.
    #[default]
    Fsync,
    /// Survives a process crash, may lose the last commits on power loss.
    ProcessCrash,
}

impl From<DurabilityName> for hookgate_queue::Durability {
    fn from(name: DurabilityName) -> Self {
        match name {
            DurabilityName::Fsync => hookgate_queue::Durability::Fsync,
            DurabilityName::ProcessCrash => hookgate_queue::Durability::ProcessCrash,
        }
    }
}

/// The NATS queue's default `durability`: what a client can check of it.
/// JetStream acknowledges a message once it is written to its files, which it
/// `fsync`s every `sync_interval` (2 minutes by default), a setting clients
/// cannot read; "fsync" is accepted with a warning saying what to check.
pub(crate) const NATS_DEFAULT_DURABILITY: DurabilityName = DurabilityName::ProcessCrash;

/// The most replicas a JetStream stream can have.
const NATS_MAX_REPLICAS: u64 = 5;

/// Which queue back-end to use.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) enum QueueBackend {
    /// The embedded durable default: one SQLite file.
    Sqlite {
        /// The file, relative paths resolved against the config file's folder.
        path: PathBuf,
        /// When an enqueue counts as done.
        durability: DurabilityName,
    },
    /// In process memory: lost on restart.
    Memory,
    /// Redis Streams, shared by every receiver configured with the same
    /// server and prefix.
    Redis {
        /// Where the server is.
        endpoint: Endpoint,
        /// The key prefix (the back-end's default when absent).
        prefix: Option<String>,
        /// What the server's settings must guarantee, checked at start.
        durability: DurabilityName,
    },
    /// NATS JetStream, shared by every receiver configured with the same
    /// server and stream.
    Nats {
        /// Where the server is.
        endpoint: Endpoint,
        /// The stream name (the back-end's default when absent).
        stream: Option<String>,
        /// What the streams' settings must guarantee, checked at start.
        durability: DurabilityName,
        /// The replicas of the streams hookgate creates, and the fewest it
        /// accepts in streams that exist.
        replicas: usize,
    },
    /// PostgreSQL, shared by every receiver configured with the same
    /// database and schema.
    Postgres {
        /// Where the server is.
        endpoint: Endpoint,
        /// The schema of the queue's tables (the back-end's default when absent).
        schema: Option<String>,
        /// What the server's settings must guarantee, checked at start.
        durability: DurabilityName,
    },
}

impl QueueBackend {
    /// That the server address is there when it is read from the
    /// environment (checked before connecting, with the other problems).
    pub(crate) fn check_env(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), String> {
        match self {
            QueueBackend::Redis { endpoint, .. }
            | QueueBackend::Nats { endpoint, .. }
            | QueueBackend::Postgres { endpoint, .. } => endpoint.resolve(env).map(drop),
            QueueBackend::Sqlite { .. } | QueueBackend::Memory => Ok(()),
        }
    }
}

/// A distributed queue's server URL: written in the file, or (since a URL
/// may hold a password) read from an environment variable when serving.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// `redis = "redis://…"`, `nats = "nats://…"`, `postgres = "postgres://…"`.
    Url(String),
    /// `redis_env = "NAME"`, `nats_env = "NAME"`, `postgres_env = "NAME"`.
    Env(String),
}

impl Endpoint {
    /// The URL, reading the environment for [`Endpoint::Env`].
    pub(crate) fn resolve(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
        match self {
            Endpoint::Url(url) => Ok(url.clone()),
            Endpoint::Env(name) => env(name)
                .filter(|url| !url.is_empty())
                .ok_or_else(|| format!("queue: environment variable {name} is not set")),
        }
    }
}

/// The `[queue]` table.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct QueueConfig {
    /// The back-end.
    pub(crate) backend: QueueBackend,
    /// How long a delivery id is remembered for deduplication.
    pub(crate) dedup_window: Option<Duration>,
    /// The most deliveries waiting before enqueues are refused (503).
    pub(crate) capacity: Option<u64>,
    /// The most bytes the queue's data may take before enqueues are refused (503).
    pub(crate) max_bytes: Option<u64>,
    /// The free space left on the queue's file system, below which enqueues are refused (503).
    pub(crate) min_free_disk: Option<FreeDisk>,
    /// The bound on the SQLite queue's write-ahead log.
    pub(crate) wal_limit: Option<u64>,
    /// Enqueues are refused (503) while the oldest ready delivery is older.
    pub(crate) max_backlog_age: Option<Duration>,
}

// `FreeDisk` holds an f64 percentage, always finite (checked when read).
impl Eq for QueueConfig {}

/// `queue = "memory"`, or a `[queue]` table.
pub(super) struct RawQueue(RawQueueTable);

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawQueueTable {
    sqlite: Option<Spanned<PathBuf>>,
    memory: Option<Spanned<bool>>,
    redis: Option<Spanned<String>>,
    redis_env: Option<Spanned<String>>,
    nats: Option<Spanned<String>>,
    nats_env: Option<Spanned<String>>,
    postgres: Option<Spanned<String>>,
    postgres_env: Option<Spanned<String>>,
    prefix: Option<Spanned<String>>,
    stream: Option<Spanned<String>>,
    replicas: Option<Spanned<Whole<u64>>>,
    schema: Option<Spanned<String>>,
    durability: Option<Spanned<DurabilityName>>,
    dedup_window: Option<HumanDuration>,
    capacity: Option<Spanned<Whole<u64>>>,
    max_bytes: Option<Spanned<ByteSize>>,
    min_free_disk: Option<Spanned<FreeDisk>>,
    wal_limit: Option<Spanned<ByteSize>>,
    max_backlog_age: Option<Spanned<HumanDuration>>,
}

impl<'de> Deserialize<'de> for RawQueue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;

        impl<'de> de::Visitor<'de> for Visitor {
            type Value = RawQueue;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "\"memory\", \"sqlite\" or a table such as { sqlite = \"hookgate-queue.db\" } \
                     or { redis = \"redis://127.0.0.1:6379\" }",
                )
            }

            fn visit_str<E: de::Error>(self, name: &str) -> Result<RawQueue, E> {
                match name {
                    "memory" => Ok(RawQueue(RawQueueTable {
                        memory: Some(Spanned::new(0..0, true)),
                        ..RawQueueTable::default()
                    })),
                    "sqlite" => Ok(RawQueue(RawQueueTable::default())),
                    other => Err(E::custom(format!(
                        "unknown queue {other:?}; expected \"sqlite\" or \"memory\""
                    ))),
                }
            }

            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<RawQueue, A::Error> {
                RawQueueTable::deserialize(de::value::MapAccessDeserializer::new(map)).map(RawQueue)
            }
        }

        deserializer.deserialize_any(Visitor)
    }
}

pub(super) fn check_queue(
    ctx: &Ctx<'_>,
    base: &Path,
    raw: Option<Spanned<RawQueue>>,
) -> Result<QueueConfig, ConfigError> {
    let Some(raw) = raw else {
        return Ok(QueueConfig {
            backend: QueueBackend::Sqlite {
                path: base.join(DEFAULT_QUEUE_FILE),
                durability: DurabilityName::default(),
            },
            dedup_window: None,
            capacity: None,
            max_bytes: None,
            min_free_disk: None,
            wal_limit: None,
            max_backlog_age: None,
        });
    };
    let span = raw.span();
    let RawQueue(table) = raw.into_inner();
    let memory = table.memory.as_ref().filter(|m| *m.get_ref());
    // Every key that names a back-end, with where it is written.
    let named: Vec<(&str, Range<usize>)> = [
        ("sqlite", table.sqlite.as_ref().map(Spanned::span)),
        ("memory", memory.map(Spanned::span)),
        ("redis", table.redis.as_ref().map(Spanned::span)),
        ("redis_env", table.redis_env.as_ref().map(Spanned::span)),
        ("nats", table.nats.as_ref().map(Spanned::span)),
        ("nats_env", table.nats_env.as_ref().map(Spanned::span)),
        ("postgres", table.postgres.as_ref().map(Spanned::span)),
        (
            "postgres_env",
            table.postgres_env.as_ref().map(Spanned::span),
        ),
    ]
    .into_iter()
    .filter_map(|(key, span)| span.map(|span| (key, span)))
    .collect();
    if let [_, (second, at), ..] = named.as_slice() {
        return Err(ctx.at(
            at.clone(),
            format!(
                "queue: choose one back-end, not both `{}` and `{second}`",
                named[0].0
            ),
        ));
    }
    let chosen = named.first().map_or("sqlite", |(key, _)| *key);
    // Keys that belong to some back-ends only.
    let only = |key: &str, at: Option<Range<usize>>, owners: &[&str], which: &str| match at {
        Some(at) if !owners.contains(&chosen) => {
            Err(ctx.at(at, format!("queue: `{key}` applies to the {which} only")))
        }
        _ => Ok(()),
    };
    fn span_of<T>(value: &Option<Spanned<T>>) -> Option<Range<usize>> {
        value.as_ref().map(Spanned::span)
    }
    only(
        "durability",
        span_of(&table.durability),
        &[
            "sqlite",
            "redis",
            "redis_env",
            "nats",
            "nats_env",
            "postgres",
            "postgres_env",
        ],
        "durable queues (sqlite, redis, nats, postgres)",
    )?;
    only(
        "capacity",
        span_of(&table.capacity),
        &["sqlite", "memory"],
        "sqlite and memory queues",
    )?;
    only(
        "max_bytes",
        span_of(&table.max_bytes),
        &["sqlite", "nats", "nats_env"],
        "sqlite and nats queues (Redis is bounded by its maxmemory)",
    )?;
    for (key, at) in [
        ("min_free_disk", span_of(&table.min_free_disk)),
        ("wal_limit", span_of(&table.wal_limit)),
    ] {
        only(key, at, &["sqlite"], "sqlite queue")?;
    }
    only(
        "prefix",
        span_of(&table.prefix),
        &["redis", "redis_env"],
        "redis queue",
    )?;
    for (key, at) in [
        ("stream", span_of(&table.stream)),
        ("replicas", span_of(&table.replicas)),
    ] {
        only(key, at, &["nats", "nats_env"], "nats queue")?;
    }
    if let Some(replicas) = &table.replicas
        && !(1..=NATS_MAX_REPLICAS).contains(&replicas.get_ref().0)
    {
        return Err(ctx.at(
            replicas.span(),
            format!(
                "queue: `replicas` must be from 1 to {NATS_MAX_REPLICAS} (a JetStream stream's replicas), not {}",
                replicas.get_ref().0
            ),
        ));
    }
    let durability = table.durability.map(Spanned::into_inner);
    only(
        "schema",
        span_of(&table.schema),
        &["postgres", "postgres_env"],
        "postgres queue",
    )?;
    // `redis = URL` or `redis_env = NAME` (likewise nats): at most one is
    // present, as checked above, and the chosen back-end has one.
    let endpoint = |url: Option<Spanned<String>>, env: Option<Spanned<String>>| {
        let (value, is_url) = match (url, env) {
            (Some(url), _) => (url, true),
            (None, Some(env)) => (env, false),
            (None, None) => return Err(ctx.at(span.clone(), "queue: no server address")),
        };
        let at = value.span();
        let value = value.into_inner();
        if value.is_empty() {
            return Err(ctx.at(at, "queue: empty server address"));
        }
        if !is_url {
            return Ok(Endpoint::Env(value));
        }
        // The back-end checks its own schemes when it starts; here, that it is a URL at all.
        url::Url::parse(&value)
            .map_err(|e| ctx.at(at, format!("queue: invalid server URL: {e}")))?;
        Ok(Endpoint::Url(value))
    };
    let backend = match chosen {
        "memory" => QueueBackend::Memory,
        "redis" | "redis_env" => QueueBackend::Redis {
            endpoint: endpoint(table.redis, table.redis_env)?,
            prefix: table.prefix.map(Spanned::into_inner),
            durability: durability.unwrap_or_default(),
        },
        "nats" | "nats_env" => QueueBackend::Nats {
            endpoint: endpoint(table.nats, table.nats_env)?,
            stream: table.stream.map(Spanned::into_inner),
            durability: durability.unwrap_or(NATS_DEFAULT_DURABILITY),
            // At most 5, checked above.
            replicas: table
                .replicas
                .map_or(1, |r| usize::try_from(r.into_inner().0).unwrap_or(1)),
        },
        "postgres" | "postgres_env" => QueueBackend::Postgres {
            endpoint: endpoint(table.postgres, table.postgres_env)?,
            schema: table.schema.map(Spanned::into_inner),
            durability: durability.unwrap_or_default(),
        },
        _ => {
            let path = table
                .sqlite
                .map_or_else(|| PathBuf::from(DEFAULT_QUEUE_FILE), Spanned::into_inner);
            if path.as_os_str().is_empty() {
                return Err(ctx.at(span, "queue: `sqlite` needs a file path"));
            }
            QueueBackend::Sqlite {
                path: base.join(path),
                durability: durability.unwrap_or_default(),
            }
        }
    };
    if let Some(capacity) = &table.capacity
        && capacity.get_ref().0 == 0
    {
        return Err(ctx.at(capacity.span(), "queue: `capacity` must be at least 1"));
    }
    if let Some(max) = &table.max_bytes
        && max.get_ref().0 == 0
    {
        return Err(ctx.at(max.span(), "queue: `max_bytes` must be at least 1 byte"));
    }
    if let Some(limit) = &table.wal_limit
        && limit.get_ref().0 < 1 << 20
    {
        return Err(ctx.at(limit.span(), "queue: `wal_limit` must be at least 1MiB"));
    }
    if let Some(age) = &table.max_backlog_age
        && age.get_ref().0.is_zero()
    {
        return Err(ctx.at(
            age.span(),
            "queue: `max_backlog_age` must be more than 0s (it would refuse nearly everything)",
        ));
    }
    Ok(QueueConfig {
        backend,
        dedup_window: table.dedup_window.map(|d| d.0),
        capacity: table.capacity.map(|c| c.into_inner().0),
        max_bytes: table.max_bytes.map(|b| b.into_inner().0),
        min_free_disk: table.min_free_disk.map(Spanned::into_inner),
        wal_limit: table.wal_limit.map(|b| b.into_inner().0),
        max_backlog_age: table.max_backlog_age.map(|age| age.into_inner().0),
    })
}
