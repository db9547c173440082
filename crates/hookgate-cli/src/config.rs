//! `hookgate.toml`: what `hookgate serve` receives, where it queues, and what
//! it does with each event. `hookgate init` writes a commented sample
//! ([`SAMPLE`]); every key is described there.
//!
//! Loading happens in two steps so that `hookgate queue …` works without the
//! secrets: [`Config::parse`] checks everything written in the file (unknown
//! keys, scheme names, durations, URLs, patterns, header names, conflicting
//! options); [`SourceConfig::verifier`] then reads the secrets from the
//! environment. Every error names the file, line and column at fault.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http::{Method, StatusCode};
use serde::Deserialize;
use serde::de::{self, Deserializer};
use toml::Spanned;

use hookgate_events::{Pattern, Sender};
use hookgate_tower::{Cidr, RateLimit};
use hookgate_verify::{Scheme, SignatureEncoding, Verifier, VerifierBuilder};

use crate::duration::HumanDuration;

/// The commented sample that `hookgate init` writes. It passes validation.
pub(crate) const SAMPLE: &str = include_str!("hookgate.sample.toml");

/// The listen address when `[server] listen` is absent.
pub(crate) const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// The queue file when `[queue]` is absent.
pub(crate) const DEFAULT_QUEUE_FILE: &str = "hookgate-queue.db";

/// A configuration problem, with the place in the file when there is one.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The reason.
        source: std::io::Error,
    },
    /// Something in the file is wrong.
    #[error("{file}:{line}:{column}: {message}")]
    At {
        /// The file name as given.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// Something is wrong that has no single place in the file.
    #[error("{file}: {message}")]
    File {
        /// The file name as given.
        file: String,
        /// What is wrong.
        message: String,
    },
}

/// Where a value sits in the file, kept for errors found after parsing
/// (secrets are read from the environment only when serving).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Location {
    file: String,
    line: usize,
    column: usize,
}

impl Location {
    fn error(&self, message: impl Into<String>) -> ConfigError {
        ConfigError::At {
            file: self.file.clone(),
            line: self.line,
            column: self.column,
            message: message.into(),
        }
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// The `[server]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServerConfig {
    /// Where to listen.
    pub(crate) listen: SocketAddr,
    /// How to log.
    pub(crate) log_format: LogFormat,
    /// How long a client may take to send a request head.
    pub(crate) header_timeout: Duration,
    /// How long a connection may stay idle between requests (zero: no keep-alive).
    pub(crate) keep_alive: Duration,
    /// The most connections open at once.
    pub(crate) max_connections: usize,
    /// The proxies whose forwarding headers are believed (for `allow_ips`).
    pub(crate) trusted_proxies: Vec<Cidr>,
}

/// How durable the SQLite (or PostgreSQL) queue's acknowledged enqueue is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum DurabilityName {
    /// `fsync` before the 2xx.
    #[default]
    Fsync,
    /// Survives a process crash, may lose the last commits on power loss.
    ProcessCrash,
}

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
    },
    /// NATS JetStream, shared by every receiver configured with the same
    /// server and stream.
    Nats {
        /// Where the server is.
        endpoint: Endpoint,
        /// The stream name (the back-end's default when absent).
        stream: Option<String>,
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct QueueConfig {
    /// The back-end.
    pub(crate) backend: QueueBackend,
    /// How long a delivery id is remembered for deduplication.
    pub(crate) dedup_window: Option<Duration>,
    /// The most deliveries waiting before enqueues are refused (503).
    pub(crate) capacity: Option<u64>,
}

/// The delays between attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ScheduleConfig {
    /// Exponential backoff from `base`, capped at `cap`, with full jitter unless disabled.
    Exponential {
        /// The first delay (the ceiling of the first, with jitter).
        base: Duration,
        /// The largest delay.
        cap: Duration,
        /// Whether delays are randomised.
        jitter: bool,
    },
    /// Exactly these delays, then dead letters.
    Fixed(Vec<Duration>),
}

/// The `[retry]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RetryConfig {
    /// The delays.
    pub(crate) schedule: ScheduleConfig,
    /// Attempts before dead letters (the schedule's own limit when absent).
    pub(crate) max_attempts: Option<u32>,
    /// Age after which a failing delivery goes to the dead letters.
    pub(crate) max_age: Option<Duration>,
}

/// The `[workers]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WorkersConfig {
    /// Deliveries processed at once.
    pub(crate) concurrency: usize,
    /// How long a lease lasts without a heartbeat from its worker: after a
    /// crash, how soon another worker takes what it held.
    pub(crate) visibility_timeout: Duration,
    /// How often an idle worker looks for due deliveries.
    pub(crate) poll_interval: Duration,
    /// How long shutdown waits for attempts in progress.
    pub(crate) shutdown_timeout: Duration,
}

/// What to do with each event of a source.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) enum Action {
    /// POST the body to `url` with the kept headers and `hookgate-delivery-id`;
    /// a 2xx is success, anything else is retried.
    Forward {
        /// The relay's URL (http).
        url: url::Url,
        /// How long an attempt may take, answer included.
        timeout: Duration,
    },
    /// Run `program args…` with the body on stdin; exit 0 is success,
    /// anything else (or the timeout) is retried.
    Command {
        /// The program.
        program: String,
        /// Its arguments.
        args: Vec<String>,
        /// How long it may run.
        timeout: Duration,
    },
}

impl Action {
    /// How long one attempt may take: the worker pool drops it past this.
    pub(crate) fn timeout(&self) -> Duration {
        match self {
            Action::Forward { timeout, .. } | Action::Command { timeout, .. } => *timeout,
        }
    }

    /// A short description for logs.
    pub(crate) fn describe(&self) -> String {
        match self {
            Action::Forward { url, .. } => format!("forward to {url}"),
            Action::Command { program, .. } => format!("run {program}"),
        }
    }
}

/// Where a source's secrets come from.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct SecretSpec {
    /// Environment variables, each one secret (several during a rotation).
    pub(crate) env: Vec<String>,
    /// A secret written in the file, allowed for development only.
    dev_secret: Option<String>,
    location: Location,
}

impl fmt::Debug for SecretSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretSpec")
            .field("env", &self.env)
            .field(
                "dev_secret",
                &self.dev_secret.as_ref().map(|_| "[redacted]"),
            )
            .finish_non_exhaustive()
    }
}

/// The options a scheme's verifier takes besides secrets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct VerifierOptions {
    tolerance: Option<Duration>,
    header: Option<String>,
    prefix: Option<String>,
    encoding: Option<SignatureEncoding>,
    signed_content: Option<String>,
    timestamp_header: Option<String>,
    id_header: Option<String>,
}

/// One `[sources.NAME]` table: a route hookgate receives on.
#[derive(Debug, Clone)]
pub(crate) struct SourceConfig {
    /// The source name, used in the queue, logs and metrics.
    pub(crate) name: String,
    /// The route path, `/hooks/NAME` by default.
    pub(crate) path: String,
    /// The signature scheme.
    pub(crate) scheme: Scheme,
    /// The payload format, for event names and the filter.
    pub(crate) sender: Option<Sender>,
    /// Events to accept; others get 200 and are not queued. Empty: all.
    pub(crate) events: Vec<Pattern>,
    /// Deadline of the enqueue before answering 503.
    pub(crate) ack_budget: Option<Duration>,
    /// Largest accepted body.
    pub(crate) body_limit: Option<usize>,
    /// Deadline for receiving the body.
    pub(crate) read_timeout: Option<Duration>,
    /// Accepted methods.
    pub(crate) methods: Vec<Method>,
    /// The status of an accepted delivery.
    pub(crate) status: Option<StatusCode>,
    /// Context fields every delivery must carry (Clarity routes).
    pub(crate) required_context: Vec<String>,
    /// The client ranges accepted; `None`: every client.
    pub(crate) allow_ips: Option<Vec<Cidr>>,
    /// Requests of the source received at once, when limited (`max_in_flight`).
    pub(crate) max_in_flight: Option<usize>,
    /// How fast requests of the source may come, when limited (`rate`, `burst`).
    pub(crate) rate_limit: Option<RateLimit>,
    /// What to do with each event.
    pub(crate) action: Action,
    /// Where the secrets come from.
    pub(crate) secrets: SecretSpec,
    options: VerifierOptions,
}

impl SourceConfig {
    fn builder(&self) -> Result<VerifierBuilder, hookgate_verify::ConfigError> {
        let o = &self.options;
        let mut builder = Verifier::builder(self.scheme);
        if let Some(tolerance) = o.tolerance {
            builder = builder.tolerance(tolerance);
        }
        if let Some(header) = &o.header {
            builder = builder.header(header)?;
        }
        if let Some(prefix) = &o.prefix {
            builder = builder.prefix(prefix)?;
        }
        if let Some(encoding) = o.encoding {
            builder = builder.encoding(encoding)?;
        }
        if let Some(template) = &o.signed_content {
            builder = builder.signed_content(template)?;
        }
        if let Some(header) = &o.timestamp_header {
            builder = builder.timestamp_header(header)?;
        }
        if let Some(header) = &o.id_header {
            builder = builder.id_header(header)?;
        }
        Ok(builder)
    }

    /// Whether the verifier falls back to the secret written in the file,
    /// given the environment `env`.
    pub(crate) fn uses_dev_secret(&self, env: &dyn Fn(&str) -> Option<String>) -> bool {
        self.secrets.dev_secret.is_some()
            && self
                .secrets
                .env
                .iter()
                .all(|name| env(name).is_none_or(|v| v.is_empty()))
    }

    /// The verifier, with secrets read through `env` (the process environment
    /// when serving; a map in tests).
    ///
    /// Every variable of `secret_env` must be set, unless none is and the
    /// source has an `insecure_dev_secret`, which is then used.
    pub(crate) fn verifier(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Verifier, ConfigError> {
        let at = &self.secrets.location;
        let wrap =
            |e: hookgate_verify::ConfigError| at.error(format!("sources.{}: {e}", self.name));
        let mut builder = self.builder().map_err(wrap)?;
        if self.uses_dev_secret(env) {
            let secret = self.secrets.dev_secret.as_deref().unwrap_or_default();
            builder = builder
                .secret_with_id("insecure_dev_secret", secret)
                .map_err(wrap)?;
        } else {
            for name in &self.secrets.env {
                let value = env(name).filter(|v| !v.is_empty()).ok_or_else(|| {
                    at.error(format!(
                        "sources.{}: environment variable {name} is not set (it holds the source's secret)",
                        self.name
                    ))
                })?;
                builder = builder.secret_with_id(name.clone(), value).map_err(wrap)?;
            }
        }
        builder.build().map_err(wrap)
    }
}

/// A whole `hookgate.toml`.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// `[server]`.
    pub(crate) server: ServerConfig,
    /// `[queue]`.
    pub(crate) queue: QueueConfig,
    /// `[retry]`.
    pub(crate) retry: RetryConfig,
    /// `[workers]`.
    pub(crate) workers: WorkersConfig,
    /// `[sources.*]`, in the file's order.
    pub(crate) sources: Vec<SourceConfig>,
}

impl Config {
    /// Reads and checks `path`.
    pub(crate) fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let base = path.parent().unwrap_or_else(|| Path::new("."));
        Self::parse(&text, &path.display().to_string(), base)
    }

    /// Checks `text`, the content of the file called `file`; relative paths
    /// are resolved against `base`.
    pub(crate) fn parse(text: &str, file: &str, base: &Path) -> Result<Self, ConfigError> {
        let ctx = Ctx { text, file };
        let raw: RawConfig = toml::from_str(text).map_err(|e| match e.span() {
            Some(span) => ctx.at(span, e.message().trim_end()),
            None => ConfigError::File {
                file: file.to_owned(),
                message: e.message().trim_end().to_owned(),
            },
        })?;
        raw.check(&ctx, base)
    }
}

struct Ctx<'a> {
    text: &'a str,
    file: &'a str,
}

impl Ctx<'_> {
    fn location(&self, span: Range<usize>) -> Location {
        let before = &self.text[..span.start.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        Location {
            file: self.file.to_owned(),
            line,
            column,
        }
    }

    fn at(&self, span: Range<usize>, message: impl Into<String>) -> ConfigError {
        self.location(span).error(message)
    }

    fn file_error(&self, message: impl Into<String>) -> ConfigError {
        ConfigError::File {
            file: self.file.to_owned(),
            message: message.into(),
        }
    }
}

// ---------------------------------------------------------------------------
// The file as written. Values that serde can check (durations, patterns,
// sender names, addresses) are checked while deserializing, so toml reports
// their position; the rest keep their span for the checks below.

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    server: RawServer,
    queue: Option<Spanned<RawQueue>>,
    #[serde(default)]
    retry: RawRetry,
    #[serde(default)]
    workers: RawWorkers,
    action: Option<Spanned<RawAction>>,
    #[serde(default)]
    sources: BTreeMap<Spanned<String>, Spanned<RawSource>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawServer {
    listen: Option<SocketAddr>,
    log_format: Option<LogFormat>,
    header_timeout: Option<Spanned<HumanDuration>>,
    keep_alive: Option<HumanDuration>,
    max_connections: Option<Spanned<usize>>,
    trusted_proxies: Option<Vec<Spanned<String>>>,
}

/// `queue = "memory"`, or a `[queue]` table.
struct RawQueue(RawQueueTable);

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
    schema: Option<Spanned<String>>,
    durability: Option<Spanned<DurabilityName>>,
    dedup_window: Option<HumanDuration>,
    capacity: Option<Spanned<u64>>,
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

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRetry {
    schedule: Option<Spanned<RawSchedule>>,
    base: Option<Spanned<HumanDuration>>,
    cap: Option<Spanned<HumanDuration>>,
    jitter: Option<bool>,
    max_attempts: Option<Spanned<u32>>,
    max_age: Option<HumanDuration>,
}

enum RawSchedule {
    Named(String),
    Delays(Vec<Duration>),
}

impl<'de> Deserialize<'de> for RawSchedule {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;

        impl<'de> de::Visitor<'de> for Visitor {
            type Value = RawSchedule;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "\"exponential\", \"clarife\", \"svix\", \"clazar\" or a list of delays such as [\"1s\", \"10s\"]",
                )
            }

            fn visit_str<E: de::Error>(self, name: &str) -> Result<RawSchedule, E> {
                match name {
                    "exponential" | "clarife" | "svix" | "clazar" => {
                        Ok(RawSchedule::Named(name.to_owned()))
                    }
                    other => Err(E::custom(format!(
                        "unknown retry schedule {other:?}; expected \"exponential\", \"clarife\", \"svix\", \"clazar\" or a list of delays"
                    ))),
                }
            }

            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<RawSchedule, A::Error> {
                let mut delays = Vec::new();
                while let Some(HumanDuration(delay)) = seq.next_element()? {
                    delays.push(delay);
                }
                Ok(RawSchedule::Delays(delays))
            }
        }

        deserializer.deserialize_any(Visitor)
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawWorkers {
    concurrency: Option<Spanned<usize>>,
    visibility_timeout: Option<HumanDuration>,
    poll_interval: Option<HumanDuration>,
    shutdown_timeout: Option<HumanDuration>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAction {
    forward: Option<Spanned<String>>,
    command: Option<Spanned<Vec<String>>>,
    timeout: Option<HumanDuration>,
}

/// One name or a list of names.
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;

        impl<'de> de::Visitor<'de> for Visitor {
            type Value = OneOrMany;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an environment variable name or a list of them")
            }

            fn visit_str<E: de::Error>(self, name: &str) -> Result<OneOrMany, E> {
                Ok(OneOrMany::One(name.to_owned()))
            }

            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<OneOrMany, A::Error> {
                let mut names = Vec::new();
                while let Some(name) = seq.next_element()? {
                    names.push(name);
                }
                Ok(OneOrMany::Many(names))
            }
        }

        deserializer.deserialize_any(Visitor)
    }
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum EncodingName {
    Hex,
    Base64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    scheme: Spanned<String>,
    path: Option<Spanned<String>>,
    secret_env: Option<Spanned<OneOrMany>>,
    insecure_dev_secret: Option<Spanned<String>>,
    sender: Option<Sender>,
    events: Option<Spanned<Vec<Pattern>>>,
    tolerance: Option<HumanDuration>,
    ack_budget: Option<HumanDuration>,
    body_limit: Option<Spanned<usize>>,
    read_timeout: Option<HumanDuration>,
    methods: Option<Vec<Spanned<String>>>,
    status: Option<Spanned<u16>>,
    required_context: Option<Vec<String>>,
    allow_ips: Option<Spanned<Vec<Spanned<String>>>>,
    max_in_flight: Option<NonZeroUsize>,
    rate: Option<Spanned<String>>,
    burst: Option<Spanned<u32>>,
    header: Option<String>,
    prefix: Option<String>,
    encoding: Option<EncodingName>,
    signed_content: Option<String>,
    timestamp_header: Option<String>,
    id_header: Option<String>,
    action: Option<Spanned<RawAction>>,
}

const DEFAULT_ACTION_TIMEOUT: Duration = Duration::from_secs(30);

impl RawConfig {
    fn check(self, ctx: &Ctx<'_>, base: &Path) -> Result<Config, ConfigError> {
        let server = check_server(ctx, self.server)?;
        let queue = check_queue(ctx, base, self.queue)?;
        let retry = check_retry(ctx, self.retry)?;
        let workers = check_workers(ctx, self.workers)?;
        let default_action = self
            .action
            .map(|action| check_action(ctx, action))
            .transpose()?;

        if self.sources.is_empty() {
            return Err(ctx.file_error(
                "no sources: add at least one [sources.NAME] table (run `hookgate init` for a sample)",
            ));
        }
        // Keep the file's order, so routes are listed as written.
        let mut raw_sources: Vec<_> = self.sources.into_iter().collect();
        raw_sources.sort_by_key(|(name, _)| name.span().start);
        let mut sources = Vec::with_capacity(raw_sources.len());
        let mut paths = BTreeSet::new();
        for (name, raw) in raw_sources {
            // The path as written, or the table's name that gives the default path.
            let path_span = raw
                .get_ref()
                .path
                .as_ref()
                .map_or_else(|| name.span(), Spanned::span);
            let source = check_source(ctx, name, raw, default_action.as_ref())?;
            if !paths.insert(source.path.clone()) {
                return Err(ctx.at(
                    path_span,
                    format!(
                        "sources.{}: path {} is already used by another source",
                        source.name, source.path
                    ),
                ));
            }
            sources.push(source);
        }
        Ok(Config {
            server,
            queue,
            retry,
            workers,
            sources,
        })
    }
}

fn check_server(ctx: &Ctx<'_>, raw: RawServer) -> Result<ServerConfig, ConfigError> {
    use hookgate_tower::server;
    if let Some(timeout) = &raw.header_timeout
        && timeout.get_ref().0.is_zero()
    {
        return Err(ctx.at(
            timeout.span(),
            "server: `header_timeout` must be above zero",
        ));
    }
    if let Some(max) = &raw.max_connections
        && *max.get_ref() == 0
    {
        return Err(ctx.at(max.span(), "server: `max_connections` must be at least 1"));
    }
    let trusted_proxies = raw
        .trusted_proxies
        .unwrap_or_default()
        .into_iter()
        .map(|range| cidr(ctx, range, "server: `trusted_proxies`"))
        .collect::<Result<_, _>>()?;
    Ok(ServerConfig {
        listen: raw.listen.unwrap_or_else(|| {
            DEFAULT_LISTEN
                .parse()
                .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8080)))
        }),
        log_format: raw.log_format.unwrap_or_default(),
        header_timeout: raw
            .header_timeout
            .map_or(server::DEFAULT_HEADER_READ_TIMEOUT, |d| d.into_inner().0),
        keep_alive: raw.keep_alive.map_or(server::DEFAULT_KEEP_ALIVE, |d| d.0),
        max_connections: raw
            .max_connections
            .map_or(server::DEFAULT_MAX_CONNECTIONS, Spanned::into_inner),
        trusted_proxies,
    })
}

/// A CIDR range (`192.30.252.0/22`) or one address, with its place for errors.
fn cidr(ctx: &Ctx<'_>, range: Spanned<String>, what: &str) -> Result<Cidr, ConfigError> {
    range
        .get_ref()
        .parse()
        .map_err(|e| ctx.at(range.span(), format!("{what}: {e}")))
}

fn check_queue(
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
        &["sqlite", "postgres", "postgres_env"],
        "sqlite and postgres queues",
    )?;
    only(
        "capacity",
        span_of(&table.capacity),
        &["sqlite", "memory"],
        "sqlite and memory queues",
    )?;
    only(
        "prefix",
        span_of(&table.prefix),
        &["redis", "redis_env"],
        "redis queue",
    )?;
    only(
        "stream",
        span_of(&table.stream),
        &["nats", "nats_env"],
        "nats queue",
    )?;
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
        },
        "nats" | "nats_env" => QueueBackend::Nats {
            endpoint: endpoint(table.nats, table.nats_env)?,
            stream: table.stream.map(Spanned::into_inner),
        },
        "postgres" | "postgres_env" => QueueBackend::Postgres {
            endpoint: endpoint(table.postgres, table.postgres_env)?,
            schema: table.schema.map(Spanned::into_inner),
            durability: table
                .durability
                .map(Spanned::into_inner)
                .unwrap_or_default(),
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
                durability: table
                    .durability
                    .map(Spanned::into_inner)
                    .unwrap_or_default(),
            }
        }
    };
    if let Some(capacity) = &table.capacity
        && *capacity.get_ref() == 0
    {
        return Err(ctx.at(capacity.span(), "queue: `capacity` must be at least 1"));
    }
    Ok(QueueConfig {
        backend,
        dedup_window: table.dedup_window.map(|d| d.0),
        capacity: table.capacity.map(Spanned::into_inner),
    })
}

fn check_retry(ctx: &Ctx<'_>, raw: RawRetry) -> Result<RetryConfig, ConfigError> {
    let base = raw
        .base
        .as_ref()
        .map_or(Duration::from_secs(1), |d| d.get_ref().0);
    let cap = raw
        .cap
        .as_ref()
        .map_or(Duration::from_secs(600), |d| d.get_ref().0);
    let exponential = ScheduleConfig::Exponential {
        base,
        cap,
        jitter: raw.jitter.unwrap_or(true),
    };
    let (schedule, named_span) = match raw.schedule {
        None => (exponential, None),
        Some(spanned) => {
            let span = spanned.span();
            match spanned.into_inner() {
                RawSchedule::Named(name) => match name.as_str() {
                    "clarife" => (
                        ScheduleConfig::Fixed([1, 10, 60].map(Duration::from_secs).to_vec()),
                        Some(span),
                    ),
                    "svix" | "clazar" => (
                        ScheduleConfig::Fixed(
                            [5, 300, 1800, 7200, 18_000, 36_000, 36_000]
                                .map(Duration::from_secs)
                                .to_vec(),
                        ),
                        Some(span),
                    ),
                    _ => (exponential, None),
                },
                RawSchedule::Delays(delays) => {
                    if delays.is_empty() {
                        return Err(ctx.at(
                            span,
                            "retry: `schedule` lists no delays; use max_attempts = 1 to never retry",
                        ));
                    }
                    (ScheduleConfig::Fixed(delays), Some(span))
                }
            }
        }
    };
    if let (Some(span), true) = (named_span, raw.base.is_some() || raw.cap.is_some()) {
        return Err(ctx.at(
            span,
            "retry: `base` and `cap` apply to the exponential schedule only",
        ));
    }
    if base.is_zero() || cap < base {
        // Point at what is written: `base` when it is zero, else `cap`.
        let span = match (&raw.base, &raw.cap) {
            (Some(written), _) if base.is_zero() => Some(written.span()),
            (_, Some(written)) => Some(written.span()),
            (Some(written), None) => Some(written.span()),
            (None, None) => None,
        };
        let message = "retry: `base` must be above zero and `cap` at least `base`";
        return Err(match span {
            Some(span) => ctx.at(span, message),
            None => ctx.file_error(message),
        });
    }
    if let Some(attempts) = &raw.max_attempts
        && *attempts.get_ref() == 0
    {
        return Err(ctx.at(attempts.span(), "retry: `max_attempts` must be at least 1"));
    }
    Ok(RetryConfig {
        schedule,
        max_attempts: raw.max_attempts.map(Spanned::into_inner),
        max_age: raw.max_age.map(|d| d.0),
    })
}

fn check_workers(ctx: &Ctx<'_>, raw: RawWorkers) -> Result<WorkersConfig, ConfigError> {
    if let Some(concurrency) = &raw.concurrency
        && *concurrency.get_ref() == 0
    {
        return Err(ctx.at(
            concurrency.span(),
            "workers: `concurrency` must be at least 1",
        ));
    }
    Ok(WorkersConfig {
        concurrency: raw.concurrency.map_or(8, Spanned::into_inner),
        visibility_timeout: raw
            .visibility_timeout
            .map_or(hookgate_queue::DEFAULT_VISIBILITY_TIMEOUT, |d| d.0),
        poll_interval: raw
            .poll_interval
            .map_or(Duration::from_millis(200), |d| d.0),
        shutdown_timeout: raw
            .shutdown_timeout
            .map_or(Duration::from_secs(10), |d| d.0),
    })
}

fn check_action(ctx: &Ctx<'_>, raw: Spanned<RawAction>) -> Result<Action, ConfigError> {
    let span = raw.span();
    let raw = raw.into_inner();
    let timeout = raw.timeout.map_or(DEFAULT_ACTION_TIMEOUT, |d| d.0);
    match (raw.forward, raw.command) {
        (Some(_), Some(command)) => Err(ctx.at(
            command.span(),
            "action: choose `forward` or `command`, not both",
        )),
        (None, None) => Err(ctx.at(
            span,
            "action: needs `forward = \"http://…\"` or `command = [\"program\", \"arg\"…]`",
        )),
        (Some(forward), None) => {
            let url = url::Url::parse(forward.get_ref())
                .map_err(|e| ctx.at(forward.span(), format!("action: invalid forward URL: {e}")))?;
            if url.scheme() != "http" {
                return Err(ctx.at(
                    forward.span(),
                    format!(
                        "action: forward URL scheme {:?} is not supported; use http:// (put a TLS proxy in front for https)",
                        url.scheme()
                    ),
                ));
            }
            Ok(Action::Forward { url, timeout })
        }
        (None, Some(command)) => {
            let span = command.span();
            let mut words = command.into_inner().into_iter();
            let program = words
                .next()
                .filter(|p| !p.is_empty())
                .ok_or_else(|| ctx.at(span, "action: `command` needs at least a program name"))?;
            Ok(Action::Command {
                program,
                args: words.collect(),
                timeout,
            })
        }
    }
}

fn check_source(
    ctx: &Ctx<'_>,
    name: Spanned<String>,
    raw: Spanned<RawSource>,
    default_action: Option<&Action>,
) -> Result<SourceConfig, ConfigError> {
    let source_span = raw.span();
    let name_span = name.span();
    let name = name.into_inner();
    let raw = raw.into_inner();
    let prefix = format!("sources.{name}");
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(ctx.at(
            name_span,
            format!("{prefix}: a source name is letters, digits, `-` and `_`"),
        ));
    }

    let scheme: Scheme = raw
        .scheme
        .get_ref()
        .parse()
        .map_err(|e| ctx.at(raw.scheme.span(), format!("{prefix}: {e}")))?;

    let path = match raw.path {
        Some(path) => {
            if !path.get_ref().starts_with('/') {
                return Err(ctx.at(path.span(), format!("{prefix}: `path` must start with `/`")));
            }
            path.into_inner()
        }
        None => format!("/hooks/{name}"),
    };

    let sender = raw.sender.or_else(|| default_sender(scheme));
    let events = match raw.events {
        Some(events) => {
            if sender.is_none() {
                return Err(ctx.at(
                    events.span(),
                    format!(
                        "{prefix}: `events` needs to know the payload format; add `sender = \"…\"` ({})",
                        Sender::ALL.map(Sender::as_str).join(", ")
                    ),
                ));
            }
            events.into_inner()
        }
        None => Vec::new(),
    };

    let env = match raw.secret_env {
        Some(env) => {
            let span = env.span();
            let names = match env.into_inner() {
                OneOrMany::One(name) => vec![name],
                OneOrMany::Many(names) => names,
            };
            for var in &names {
                if var.is_empty() || var.contains('=') || var.contains('\0') {
                    return Err(ctx.at(
                        span.clone(),
                        format!("{prefix}: {var:?} is not an environment variable name"),
                    ));
                }
            }
            names
        }
        None => Vec::new(),
    };
    let secret_location = ctx.location(source_span.clone());
    let dev_secret = raw.insecure_dev_secret.map(Spanned::into_inner);
    if env.is_empty() && dev_secret.is_none() {
        return Err(secret_location.error(format!(
            "{prefix}: needs `secret_env = \"VARIABLE\"` (the secret is read from the environment; secrets are not written in this file)"
        )));
    }

    let mut methods = Vec::new();
    for method in raw.methods.unwrap_or_default() {
        let parsed = match method.get_ref().to_ascii_uppercase().as_str() {
            "GET" => Method::GET,
            "POST" => Method::POST,
            "PUT" => Method::PUT,
            "PATCH" => Method::PATCH,
            other => {
                return Err(ctx.at(
                    method.span(),
                    format!(
                        "{prefix}: method {other:?} is not supported; use GET, POST, PUT or PATCH"
                    ),
                ));
            }
        };
        methods.push(parsed);
    }
    if methods.is_empty() {
        methods.push(Method::POST);
    }

    let status = match raw.status {
        Some(status) => match *status.get_ref() {
            200 => Some(StatusCode::OK),
            202 => Some(StatusCode::ACCEPTED),
            204 => Some(StatusCode::NO_CONTENT),
            other => {
                return Err(ctx.at(
                    status.span(),
                    format!("{prefix}: status {other} is not a success status hookgate answers; use 200, 202 or 204"),
                ));
            }
        },
        None => None,
    };
    if let Some(limit) = &raw.body_limit
        && *limit.get_ref() == 0
    {
        return Err(ctx.at(
            limit.span(),
            format!("{prefix}: `body_limit` must be at least 1 byte"),
        ));
    }

    let allow_ips = match raw.allow_ips {
        Some(list) => {
            let span = list.span();
            let ranges = list
                .into_inner()
                .into_iter()
                .map(|range| cidr(ctx, range, &format!("{prefix}: `allow_ips`")))
                .collect::<Result<Vec<_>, _>>()?;
            if ranges.is_empty() {
                return Err(ctx.at(
                    span,
                    format!(
                        "{prefix}: `allow_ips` lists no ranges (it would refuse every delivery)"
                    ),
                ));
            }
            Some(ranges)
        }
        None => None,
    };
    let rate_limit = check_rate(ctx, &prefix, raw.rate, raw.burst)?;

    let action = match raw.action {
        Some(action) => check_action(ctx, action)?,
        None => default_action.cloned().ok_or_else(|| {
            ctx.at(
                source_span.clone(),
                format!("{prefix}: no action; add [sources.{name}.action] or a top-level [action]"),
            )
        })?,
    };

    let source = SourceConfig {
        name,
        path,
        scheme,
        sender,
        events,
        ack_budget: raw.ack_budget.map(|d| d.0),
        body_limit: raw.body_limit.map(Spanned::into_inner),
        read_timeout: raw.read_timeout.map(|d| d.0),
        methods,
        status,
        required_context: raw.required_context.unwrap_or_default(),
        allow_ips,
        max_in_flight: raw.max_in_flight.map(NonZeroUsize::get),
        rate_limit,
        action,
        secrets: SecretSpec {
            env,
            dev_secret,
            location: secret_location,
        },
        options: VerifierOptions {
            tolerance: raw.tolerance.map(|d| d.0),
            header: raw.header,
            prefix: raw.prefix,
            encoding: raw.encoding.map(|e| match e {
                EncodingName::Hex => SignatureEncoding::Hex,
                EncodingName::Base64 => SignatureEncoding::Base64,
            }),
            signed_content: raw.signed_content,
            timestamp_header: raw.timestamp_header,
            id_header: raw.id_header,
        },
    };
    // The scheme's options are checked now, secrets only when serving.
    source
        .builder()
        .map_err(|e| ctx.at(source_span, format!("{prefix}: {e}")))?;
    Ok(source)
}

/// `rate = "100/s"` and `burst = 200`, read by hookgate-receive's
/// [`RateLimit`], whose errors are placed on the key at fault.
fn check_rate(
    ctx: &Ctx<'_>,
    prefix: &str,
    rate: Option<Spanned<String>>,
    burst: Option<Spanned<u32>>,
) -> Result<Option<RateLimit>, ConfigError> {
    let Some(rate) = rate else {
        return match burst {
            Some(burst) => Err(ctx.at(
                burst.span(),
                format!("{prefix}: `burst` needs a `rate`, e.g. rate = \"100/s\""),
            )),
            None => Ok(None),
        };
    };
    let limit: RateLimit = rate
        .get_ref()
        .parse()
        .map_err(|e| ctx.at(rate.span(), format!("{prefix}: {e}")))?;
    match burst {
        Some(burst) => limit
            .with_burst(*burst.get_ref())
            .map(Some)
            .map_err(|e| ctx.at(burst.span(), format!("{prefix}: {e}"))),
        None => Ok(Some(limit)),
    }
}

/// The payload format that usually comes with a scheme.
pub(crate) fn default_sender(scheme: Scheme) -> Option<Sender> {
    match scheme {
        Scheme::Standard => Some(Sender::Standard),
        Scheme::Svix => Some(Sender::Svix),
        Scheme::Clarife => Some(Sender::Clarife),
        Scheme::Stripe => Some(Sender::Stripe),
        Scheme::GitHub => Some(Sender::GitHub),
        Scheme::Slack => Some(Sender::Slack),
        Scheme::Shopify => Some(Sender::Shopify),
        Scheme::Claravine => Some(Sender::Claravine),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, "hookgate.toml", Path::new("/etc/hookgate"))
    }

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    const MINIMAL: &str = r#"
[action]
forward = "http://127.0.0.1:9000/events"

[sources.clarife]
scheme = "clarife"
secret_env = "HOOKGATE_SECRET_CLARIFE"
"#;

    #[test]
    fn the_sample_passes_validation_and_builds_every_verifier() {
        let config = parse(SAMPLE).unwrap();
        assert!(!config.sources.is_empty());
        let mut pairs: Vec<(String, String)> = Vec::new();
        for source in &config.sources {
            for name in &source.secrets.env {
                let secret = match source.scheme {
                    Scheme::Standard | Scheme::Svix => "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                    _ => "sample-secret",
                };
                pairs.push((name.clone(), secret.to_owned()));
            }
        }
        let map: HashMap<String, String> = pairs.into_iter().collect();
        let env = move |name: &str| map.get(name).cloned();
        for source in &config.sources {
            let verifier = source.verifier(&env).unwrap();
            assert_eq!(verifier.scheme(), source.scheme);
        }
    }

    #[test]
    fn defaults_fill_in_what_is_not_written() {
        let config = parse(MINIMAL).unwrap();
        assert_eq!(config.server.listen, DEFAULT_LISTEN.parse().unwrap());
        assert_eq!(config.server.log_format, LogFormat::Text);
        assert_eq!(
            config.queue.backend,
            QueueBackend::Sqlite {
                path: PathBuf::from("/etc/hookgate/hookgate-queue.db"),
                durability: DurabilityName::Fsync
            }
        );
        let source = &config.sources[0];
        assert_eq!(source.path, "/hooks/clarife");
        assert_eq!(source.sender, Some(Sender::Clarife));
        assert_eq!(source.methods, vec![Method::POST]);
        assert!(matches!(source.action, Action::Forward { .. }));
        assert!(matches!(
            config.retry.schedule,
            ScheduleConfig::Exponential { jitter: true, .. }
        ));
    }

    #[test]
    fn server_limits_and_client_ranges() {
        let defaults = parse(MINIMAL).unwrap();
        assert_eq!(defaults.server.header_timeout, Duration::from_secs(10));
        assert_eq!(defaults.server.keep_alive, Duration::from_secs(5));
        assert_eq!(defaults.server.max_connections, 1024);
        assert!(defaults.server.trusted_proxies.is_empty());
        assert_eq!(defaults.sources[0].allow_ips, None);

        let text = format!(
            "[server]\nheader_timeout = \"2s\"\nkeep_alive = \"0s\"\nmax_connections = 64\n\
             trusted_proxies = [\"10.0.0.0/8\", \"fd00::1\"]\n{MINIMAL}\
             allow_ips = [\"192.30.252.0/22\", \"2001:db8::/32\"]\n"
        );
        let config = parse(&text).unwrap();
        assert_eq!(config.server.header_timeout, Duration::from_secs(2));
        assert_eq!(config.server.keep_alive, Duration::ZERO);
        assert_eq!(config.server.max_connections, 64);
        let written: Vec<String> = config
            .server
            .trusted_proxies
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(written, ["10.0.0.0/8", "fd00::1/128"]);
        let allowed = config.sources[0].allow_ips.as_ref().unwrap();
        assert_eq!(allowed.len(), 2);
        assert!(allowed[0].contains("192.30.253.4".parse().unwrap()));

        for (text, message, line) in [
            (
                format!("[server]\nheader_timeout = \"0s\"\n{MINIMAL}"),
                "hookgate.toml:2:18: server: `header_timeout` must be above zero",
                2,
            ),
            (
                format!("[server]\nmax_connections = 0\n{MINIMAL}"),
                "hookgate.toml:2:19: server: `max_connections` must be at least 1",
                2,
            ),
            (
                format!("[server]\ntrusted_proxies = [\"10.0.0.1/8\"]\n{MINIMAL}"),
                "hookgate.toml:2:20: server: `trusted_proxies`: \"10.0.0.1/8\" has bits set past its prefix; the range is 10.0.0.0/8",
                2,
            ),
            (
                format!("{MINIMAL}allow_ips = [\"github\"]\n"),
                "sources.clarife: `allow_ips`: \"github\" is not an IP address or CIDR range",
                8,
            ),
            (
                format!("{MINIMAL}allow_ips = []\n"),
                "sources.clarife: `allow_ips` lists no ranges",
                8,
            ),
        ] {
            let err = parse(&text).unwrap_err().to_string();
            assert!(err.contains(message), "{err}");
            assert!(err.starts_with(&format!("hookgate.toml:{line}:")), "{err}");
        }
    }

    #[test]
    fn queue_spellings() {
        let memory = parse(&format!("queue = \"memory\"\n{MINIMAL}")).unwrap();
        assert_eq!(memory.queue.backend, QueueBackend::Memory);
        let table = parse(&format!(
            "{MINIMAL}\n[queue]\nsqlite = \"/var/lib/q.db\"\ndurability = \"process-crash\"\ndedup_window = \"1h\"\n"
        ))
        .unwrap();
        assert_eq!(
            table.queue.backend,
            QueueBackend::Sqlite {
                path: PathBuf::from("/var/lib/q.db"),
                durability: DurabilityName::ProcessCrash
            }
        );
        assert_eq!(table.queue.dedup_window, Some(Duration::from_secs(3600)));
        let both = parse(&format!(
            "{MINIMAL}\n[queue]\nsqlite = \"q.db\"\nmemory = true\n"
        ))
        .unwrap_err();
        assert!(both.to_string().contains("not both"), "{both}");
    }

    #[test]
    fn distributed_queue_spellings() {
        let redis = parse(&format!(
            "{MINIMAL}\n[queue]\nredis = \"redis://127.0.0.1:6379\"\nprefix = \"{{orders}}\"\ndedup_window = \"2h\"\n"
        ))
        .unwrap();
        assert_eq!(
            redis.queue.backend,
            QueueBackend::Redis {
                endpoint: Endpoint::Url("redis://127.0.0.1:6379".to_owned()),
                prefix: Some("{orders}".to_owned()),
            }
        );
        assert_eq!(redis.queue.dedup_window, Some(Duration::from_secs(7200)));
        let inline = parse(&format!(
            "queue = {{ nats = \"nats://127.0.0.1:4222\", stream = \"ORDERS\" }}\n{MINIMAL}"
        ))
        .unwrap();
        assert_eq!(
            inline.queue.backend,
            QueueBackend::Nats {
                endpoint: Endpoint::Url("nats://127.0.0.1:4222".to_owned()),
                stream: Some("ORDERS".to_owned()),
            }
        );
        let postgres = parse(&format!(
            "{MINIMAL}\n[queue]\npostgres_env = \"DATABASE_URL\"\nschema = \"webhooks\"\ndurability = \"process-crash\"\n"
        ))
        .unwrap();
        assert_eq!(
            postgres.queue.backend,
            QueueBackend::Postgres {
                endpoint: Endpoint::Env("DATABASE_URL".to_owned()),
                schema: Some("webhooks".to_owned()),
                durability: DurabilityName::ProcessCrash,
            }
        );
        let inline = parse(&format!(
            "queue = {{ postgres = \"postgres://hookgate@db/app\" }}\n{MINIMAL}"
        ))
        .unwrap();
        assert_eq!(
            inline.queue.backend,
            QueueBackend::Postgres {
                endpoint: Endpoint::Url("postgres://hookgate@db/app".to_owned()),
                schema: None,
                durability: DurabilityName::Fsync,
            }
        );
        let from_env = parse(&format!("{MINIMAL}\n[queue]\nredis_env = \"REDIS_URL\"\n")).unwrap();
        let QueueBackend::Redis { endpoint, prefix } = &from_env.queue.backend else {
            panic!("{:?}", from_env.queue.backend);
        };
        assert_eq!(prefix, &None);
        let env = |name: &str| (name == "REDIS_URL").then(|| "redis://10.0.0.1".to_owned());
        assert_eq!(endpoint.resolve(&env).unwrap(), "redis://10.0.0.1");
        let unset = endpoint.resolve(&|_: &str| None).unwrap_err();
        assert!(unset.contains("REDIS_URL is not set"), "{unset}");
    }

    #[test]
    fn distributed_queue_mistakes_name_the_key() {
        let cases = [
            (
                "[queue]\nredis = \"redis://h\"\nnats = \"nats://h\"\n",
                "not both `redis` and `nats`",
            ),
            (
                "[queue]\nsqlite = \"q.db\"\nredis_env = \"URL\"\n",
                "not both `sqlite` and `redis_env`",
            ),
            (
                "[queue]\nredis = \"redis://h\"\ndurability = \"fsync\"\n",
                "`durability` applies to the sqlite and postgres queues only",
            ),
            (
                "[queue]\nnats = \"nats://h\"\ncapacity = 10\n",
                "`capacity` applies to the sqlite and memory queues only",
            ),
            (
                "[queue]\nnats = \"nats://h\"\nprefix = \"p\"\n",
                "`prefix` applies to the redis queue only",
            ),
            (
                "[queue]\nredis = \"redis://h\"\nstream = \"S\"\n",
                "`stream` applies to the nats queue only",
            ),
            (
                "[queue]\nredis = \"redis://h\"\nschema = \"s\"\n",
                "`schema` applies to the postgres queue only",
            ),
            (
                "[queue]\npostgres = \"postgres://h/db\"\nnats_env = \"URL\"\n",
                "not both `nats_env` and `postgres`",
            ),
            ("[queue]\nredis = \"localhost\"\n", "invalid server URL"),
            ("[queue]\nnats_env = \"\"\n", "empty server address"),
        ];
        for (queue, expected) in cases {
            let err = parse(&format!("{MINIMAL}\n{queue}"))
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected), "{queue:?}: {err}");
            // The error names the line of the second key of the [queue] table or later.
            let line = MINIMAL.lines().count() + 3;
            assert!(
                err.contains(&format!(":{line}:")) || err.contains(&format!(":{}:", line + 1)),
                "{queue:?}: {err}"
            );
        }
    }

    #[test]
    fn errors_name_the_line_and_column() {
        let cases = [
            ("scheme = \"clarife\"", "scheme = \"md5\"", "unknown scheme"),
            (
                "[action]",
                "[action]\ntimeout = \"fast\"",
                "invalid duration",
            ),
            ("[action]", "[action]\nretries = 3", "unknown field"),
            (
                "forward = \"http://127.0.0.1:9000/events\"",
                "forward = \"https://example.com/\"",
                "use http://",
            ),
        ];
        for (from, to, expected) in cases {
            let text = MINIMAL.replacen(from, to, 1);
            let err = parse(&text).unwrap_err();
            let ConfigError::At { line, file, .. } = &err else {
                panic!("{err} has no position");
            };
            assert_eq!(file, "hookgate.toml");
            let wanted_line = text
                .lines()
                .position(|l| to.lines().last().is_some_and(|last| l == last))
                .unwrap()
                + 1;
            assert_eq!(*line, wanted_line, "{err}");
            assert!(err.to_string().contains(expected), "{err}");
            assert!(
                err.to_string()
                    .starts_with(&format!("hookgate.toml:{wanted_line}:")),
                "{err}"
            );
        }
    }

    #[test]
    fn admission_control_per_source() {
        let config = parse(SAMPLE).unwrap();
        let claravine = config
            .sources
            .iter()
            .find(|s| s.name == "claravine")
            .unwrap();
        assert_eq!(claravine.max_in_flight, Some(64));
        let rate = claravine.rate_limit.unwrap();
        assert_eq!(
            (rate.count(), rate.period(), rate.burst()),
            (100, Duration::from_secs(1), 200)
        );
        let minimal = parse(MINIMAL).unwrap();
        assert_eq!(minimal.sources[0].max_in_flight, None);
        assert_eq!(minimal.sources[0].rate_limit, None);
        let rate_only = parse(&format!("{MINIMAL}rate = \"5/min\"\n")).unwrap();
        assert_eq!(rate_only.sources[0].rate_limit.unwrap().burst(), 5);

        // Each mistake is placed on its key.
        for (added, expected) in [
            ("rate = \"fast\"", "rate \"fast\" is not N/s, N/min or N/h"),
            (
                "rate = \"0/s\"",
                "rate limit count must be greater than zero",
            ),
            ("burst = 10", "`burst` needs a `rate`"),
            (
                "rate = \"1/s\"\nburst = 0",
                "burst must be greater than zero",
            ),
            ("max_in_flight = 0", "nonzero"),
        ] {
            let text = format!("{MINIMAL}{added}\n");
            let err = parse(&text).unwrap_err();
            let ConfigError::At { line, .. } = &err else {
                panic!("{err} has no position");
            };
            assert_eq!(*line, text.lines().count(), "{err}");
            assert!(err.to_string().contains(expected), "{err}");
        }
    }

    #[test]
    fn secrets_come_from_the_environment() {
        let config = parse(MINIMAL).unwrap();
        let source = &config.sources[0];
        let missing = source.verifier(&env_of(&[])).unwrap_err();
        assert!(
            missing
                .to_string()
                .contains("HOOKGATE_SECRET_CLARIFE is not set"),
            "{missing}"
        );
        assert!(!missing.to_string().contains("whsec"));
        let verifier = source
            .verifier(&env_of(&[("HOOKGATE_SECRET_CLARIFE", "s3cret")]))
            .unwrap();
        assert_eq!(verifier.scheme(), Scheme::Clarife);
    }

    #[test]
    fn an_inline_secret_must_say_it_is_for_development() {
        let inline = MINIMAL.replace(
            "secret_env = \"HOOKGATE_SECRET_CLARIFE\"",
            "secret = \"s3cret\"",
        );
        assert!(
            parse(&inline)
                .unwrap_err()
                .to_string()
                .contains("unknown field `secret`")
        );

        let dev = MINIMAL.replace(
            "secret_env = \"HOOKGATE_SECRET_CLARIFE\"",
            "secret_env = \"HOOKGATE_SECRET_CLARIFE\"\ninsecure_dev_secret = \"dev\"",
        );
        let config = parse(&dev).unwrap();
        let source = &config.sources[0];
        assert!(source.uses_dev_secret(&env_of(&[])));
        source.verifier(&env_of(&[])).unwrap();
        assert!(!source.uses_dev_secret(&env_of(&[("HOOKGATE_SECRET_CLARIFE", "real")])));
        assert!(!format!("{:?}", source.secrets).contains("dev\""));
    }

    #[test]
    fn sources_need_a_secret_and_an_action() {
        let no_secret = MINIMAL.replace("secret_env = \"HOOKGATE_SECRET_CLARIFE\"", "");
        assert!(
            parse(&no_secret)
                .unwrap_err()
                .to_string()
                .contains("needs `secret_env")
        );
        let no_action = MINIMAL.replace("[action]\nforward = \"http://127.0.0.1:9000/events\"", "");
        assert!(
            parse(&no_action)
                .unwrap_err()
                .to_string()
                .contains("no action")
        );
        let both = MINIMAL.replace(
            "forward = \"http://127.0.0.1:9000/events\"",
            "forward = \"http://127.0.0.1:9000/events\"\ncommand = [\"cat\"]",
        );
        assert!(parse(&both).unwrap_err().to_string().contains("not both"));
        let none = parse("[action]\nforward = \"http://x/\"\n").unwrap_err();
        assert!(none.to_string().contains("no sources"), "{none}");
    }

    #[test]
    fn scheme_options_are_checked_against_the_scheme() {
        let wrong = MINIMAL.replace(
            "scheme = \"clarife\"",
            "scheme = \"clarife\"\nheader = \"x-token\"",
        );
        let err = parse(&wrong).unwrap_err();
        assert!(err.to_string().contains("header"), "{err}");
        let custom = MINIMAL.replace(
            "scheme = \"clarife\"",
            "scheme = \"custom\"\nheader = \"x-signature\"\nprefix = \"sha256=\"\nencoding = \"base64\"\nsigned_content = \"{timestamp}.{body}\"\ntimestamp_header = \"x-timestamp\"",
        );
        let config = parse(&custom).unwrap();
        let verifier = config.sources[0]
            .verifier(&env_of(&[("HOOKGATE_SECRET_CLARIFE", "k")]))
            .unwrap();
        assert_eq!(verifier.scheme(), Scheme::Custom);
    }

    #[test]
    fn retry_schedules() {
        let clarife = parse(&format!("{MINIMAL}\n[retry]\nschedule = \"clarife\"\n")).unwrap();
        assert_eq!(
            clarife.retry.schedule,
            ScheduleConfig::Fixed(vec![
                Duration::from_secs(1),
                Duration::from_secs(10),
                Duration::from_secs(60)
            ])
        );
        let fixed = parse(&format!(
            "{MINIMAL}\n[retry]\nschedule = [\"50ms\", \"100ms\"]\nmax_attempts = 3\n"
        ))
        .unwrap();
        assert_eq!(
            fixed.retry.schedule,
            ScheduleConfig::Fixed(vec![Duration::from_millis(50), Duration::from_millis(100)])
        );
        assert_eq!(fixed.retry.max_attempts, Some(3));
        let conflicting = parse(&format!(
            "{MINIMAL}\n[retry]\nschedule = \"svix\"\nbase = \"1s\"\n"
        ))
        .unwrap_err();
        assert!(
            conflicting
                .to_string()
                .contains("exponential schedule only")
        );
    }

    #[test]
    fn events_filter_needs_a_payload_format() {
        let clarity = MINIMAL.replace(
            "scheme = \"clarife\"",
            "scheme = \"clarity\"\nevents = [\"claim.*\"]",
        );
        assert!(parse(&clarity).unwrap_err().to_string().contains("sender"));
        let with_sender = clarity.replace("events =", "sender = \"claimable\"\nevents =");
        let config = parse(&with_sender).unwrap();
        assert_eq!(config.sources[0].events.len(), 1);
        let bad = MINIMAL.replace(
            "scheme = \"clarife\"",
            "scheme = \"clarife\"\nevents = [\"a..b\"]",
        );
        assert!(matches!(
            parse(&bad).unwrap_err(),
            ConfigError::At { line: 7, .. }
        ));
    }

    #[test]
    fn two_sources_cannot_share_a_path() {
        let text = format!(
            "{MINIMAL}\n[sources.other]\nscheme = \"github\"\nsecret_env = \"GH\"\npath = \"/hooks/clarife\"\n"
        );
        let err = parse(&text).unwrap_err();
        assert!(err.to_string().contains("already used"), "{err}");
        // The line of the second `path`.
        assert!(matches!(err, ConfigError::At { line: 12, .. }), "{err}");
    }

    #[test]
    fn retry_base_and_cap_errors_name_their_line() {
        let zero = parse(&format!("{MINIMAL}\n[retry]\nbase = \"0s\"\n")).unwrap_err();
        assert!(matches!(zero, ConfigError::At { line: 10, .. }), "{zero}");
        let below = parse(&format!(
            "{MINIMAL}\n[retry]\nbase = \"10s\"\ncap = \"1s\"\n"
        ))
        .unwrap_err();
        assert!(matches!(below, ConfigError::At { line: 11, .. }), "{below}");
        assert!(
            below.to_string().contains("`cap` at least `base`"),
            "{below}"
        );
    }
}
