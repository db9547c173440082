//! `hookgate.toml`: what `hookgate serve` receives, where it queues, and what
//! it does with each event. `hookgate init` writes a commented sample
//! ([`SAMPLE`]); every key is described there.
//!
//! Loading happens in two steps so that `hookgate queue …` works without the
//! secrets: [`Config::parse`] checks everything written in the file (unknown
//! keys, scheme names, durations, URLs, patterns, header names, conflicting
//! options); [`SourceConfig::verifier`] then reads the secrets from the
//! environment. Every error names the file, line and column at fault.

use std::path::Path;
use std::sync::Arc;

use hookgate_queue::Enqueue;
use hookgate_receive::{Receiver, Source};

use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

mod action;
mod error;
mod queue;
mod retry;
mod server;
mod source;
mod values;
mod workers;

pub(crate) use action::Action;
use action::{RawAction, check_action};
use error::Ctx;
pub(crate) use error::{ConfigError, ConfigErrors};
pub(crate) use queue::{DurabilityName, QueueBackend, QueueConfig};
use queue::{RawQueue, check_queue};
use retry::{RawRetry, check_retry};
pub(crate) use retry::{RetryConfig, ScheduleConfig};
pub(crate) use server::{LogFormat, ServerConfig};
use server::{RawServer, check_server};
pub(crate) use source::SourceConfig;
use source::{RawSource, check_source};
pub(crate) use workers::WorkersConfig;
use workers::{RawWorkers, check_workers};

/// The commented tour of every option that `hookgate init --full` writes.
/// It passes validation.
pub(crate) const SAMPLE: &str = include_str!("../hookgate.sample.toml");
/// The minimal configuration that `hookgate init` writes: one source.
pub(crate) const MINIMAL_SAMPLE: &str = include_str!("../hookgate.minimal.toml");

/// The listen address when `[server] listen` is absent.
pub(crate) const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// The queue file when `[queue]` is absent.
pub(crate) const DEFAULT_QUEUE_FILE: &str = "hookgate-queue.db";

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
    /// The file's name as given, for errors found after parsing.
    file: String,
}

impl Config {
    /// Reads and checks `path`.
    pub(crate) fn load(path: &Path) -> Result<Self, ConfigErrors> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let base = path.parent().unwrap_or_else(|| Path::new("."));
        Self::parse(&text, &path.display().to_string(), base)
    }

    /// Checks `text`, the content of the file called `file`; relative paths
    /// are resolved against `base`. Every problem is reported, not only the
    /// first: each section and each source is read and checked on its own.
    pub(crate) fn parse(text: &str, file: &str, base: &Path) -> Result<Self, ConfigErrors> {
        let ctx = Ctx { text, file };
        let mut errors = Vec::new();
        let raw = RawConfig::read(&ctx, text, &mut errors)?;
        let config = raw.check(&ctx, base, &mut errors);
        ConfigErrors::check(errors)?;
        config.ok_or_else(|| ctx.file_error("invalid configuration").into())
    }

    /// Every source's [`Source`], with the secrets read through `env`, once
    /// what serving needs beyond the file is there: the secrets, the queue's
    /// server address when it is read from the environment, the commands'
    /// programs (found through `path_var`, the `PATH`). Every problem is
    /// reported, not only the first.
    pub(crate) fn sources(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
        path_var: Option<&std::ffi::OsStr>,
    ) -> Result<Vec<Source>, ConfigErrors> {
        let mut errors = Vec::new();
        let mut sources = Vec::with_capacity(self.sources.len());
        for source in &self.sources {
            match source.build(env) {
                Ok(built) => sources.push(built),
                Err(e) => errors.push(e),
            }
            if let Err(e) = source.action.check_program(path_var) {
                // A top-level [action] shared by several sources is reported once.
                let message = e.to_string();
                if !errors.iter().any(|known| known.to_string() == message) {
                    errors.push(e);
                }
            }
        }
        if let Err(message) = self.queue.backend.check_env(env) {
            errors.push(ConfigError::File {
                file: self.file.clone(),
                message,
            });
        }
        ConfigErrors::check(errors)?;
        Ok(sources)
    }

    /// The receiver of `sources` (built by [`SourceConfig::build`], in the
    /// file's order) enqueueing into `queue`. hookgate-receive checks what
    /// concerns several sources (two on one path); its errors are placed on
    /// the source at fault.
    pub(crate) fn receiver(
        &self,
        sources: Vec<Source>,
        queue: Arc<dyn Enqueue>,
    ) -> Result<Receiver, ConfigError> {
        let mut builder = Receiver::builder()
            .queue(queue)
            .trusted_proxies(self.server.trusted_proxies.iter().copied());
        for source in sources {
            builder = builder.source(source);
        }
        builder.build().map_err(|error| {
            // The later of two sources on one path is the one to change.
            let at_fault = match &error {
                hookgate_receive::ConfigError::DuplicatePath(path) => {
                    self.sources.iter().rev().find(|s| &s.path == path)
                }
                _ => None,
            };
            match at_fault {
                Some(source) => source.place(&error),
                None => ConfigError::File {
                    file: self.file.clone(),
                    message: error.to_string(),
                },
            }
        })
    }
}
// ---------------------------------------------------------------------------
// The file as written. Values that serde can check (durations, patterns,
// sender names, addresses) are checked while deserializing, so toml reports
// their position; the rest keep their span for the checks below. Each
// section and each source is deserialized on its own, so that one mistake
// does not hide the others.

/// The sections a file may have, for the message about an unknown one.
const SECTIONS: [&str; 6] = ["server", "queue", "retry", "workers", "action", "sources"];

#[derive(Default)]
struct RawConfig {
    server: RawServer,
    queue: Option<Spanned<RawQueue>>,
    retry: RawRetry,
    workers: RawWorkers,
    action: Option<Spanned<RawAction>>,
    /// Whether `[action]` is written but could not be read.
    action_unreadable: bool,
    /// The sources that could be read, in the file's order.
    sources: Vec<(Spanned<String>, Spanned<RawSource>)>,
    /// Whether some source could not be read.
    sources_unreadable: bool,
}

/// The value of `result`, or `None` with its error added to `errors`.
fn keep<T>(errors: &mut Vec<ConfigError>, result: Result<T, ConfigError>) -> Option<T> {
    result.map_err(|e| errors.push(e)).ok()
}

/// `value`, the table or value `what`, as a `T`, or `None` with toml's
/// error (naming `what`) added to `errors`.
fn read_value<T: DeserializeOwned>(
    ctx: &Ctx<'_>,
    what: &str,
    value: Spanned<DeValue<'_>>,
    errors: &mut Vec<ConfigError>,
) -> Option<T> {
    T::deserialize(ValueDeserializer::from(value))
        .map_err(|e| {
            let message = format!("{what}: {}", e.message().trim_end());
            errors.push(match e.span() {
                Some(span) => ctx.at(span, message),
                None => ctx.file_error(message),
            });
        })
        .ok()
}

impl RawConfig {
    /// The sections of `text`; a syntax error stops here (what follows it
    /// cannot be read reliably).
    fn read(
        ctx: &Ctx<'_>,
        text: &str,
        errors: &mut Vec<ConfigError>,
    ) -> Result<Self, ConfigErrors> {
        let root = DeTable::parse(text).map_err(|e| ctx.toml_error(&e))?;
        let mut raw = RawConfig::default();
        for (key, value) in root.into_inner() {
            match key.get_ref().as_ref() {
                "server" => {
                    raw.server = read_value(ctx, "server", value, errors).unwrap_or_default();
                }
                "queue" => raw.queue = read_value(ctx, "queue", value, errors),
                "retry" => raw.retry = read_value(ctx, "retry", value, errors).unwrap_or_default(),
                "workers" => {
                    raw.workers = read_value(ctx, "workers", value, errors).unwrap_or_default();
                }
                "action" => {
                    raw.action = read_value(ctx, "action", value, errors);
                    raw.action_unreadable = raw.action.is_none();
                }
                "sources" => {
                    let span = value.span();
                    let DeValue::Table(table) = value.into_inner() else {
                        errors.push(
                            ctx.at(span, "`sources` holds one [sources.NAME] table per source"),
                        );
                        raw.sources_unreadable = true;
                        continue;
                    };
                    for (name, source) in table {
                        let name = Spanned::new(name.span(), name.into_inner().into_owned());
                        let what = format!("sources.{}", name.get_ref());
                        match read_value(ctx, &what, source, errors) {
                            Some(source) => raw.sources.push((name, source)),
                            None => raw.sources_unreadable = true,
                        }
                    }
                }
                other => errors.push(ctx.at(
                    key.span(),
                    format!(
                        "unknown section `{other}`, expected one of {}",
                        SECTIONS.map(|s| format!("`{s}`")).join(", ")
                    ),
                )),
            }
        }
        // Keep the file's order, so routes are listed as written.
        raw.sources.sort_by_key(|(name, _)| name.span().start);
        Ok(raw)
    }

    /// The configuration, or `None` when some part of it is wrong (every
    /// problem found is in `errors`).
    fn check(self, ctx: &Ctx<'_>, base: &Path, errors: &mut Vec<ConfigError>) -> Option<Config> {
        let server = keep(errors, check_server(ctx, self.server));
        let queue = keep(errors, check_queue(ctx, base, self.queue));
        let retry = keep(errors, check_retry(ctx, self.retry));
        let workers = keep(errors, check_workers(ctx, self.workers));
        // A source without its own action is not also blamed for an
        // `[action]` already reported.
        let action_written = self.action.is_some() || self.action_unreadable;
        let default_action = self
            .action
            .and_then(|action| keep(errors, check_action(ctx, action)));
        let default_unreadable = action_written && default_action.is_none();

        if self.sources.is_empty() && !self.sources_unreadable {
            errors.push(ctx.file_error(
                "no sources: add at least one [sources.NAME] table (run `hookgate init` for a sample)",
            ));
        }
        let mut sources = Vec::with_capacity(self.sources.len());
        for (name, raw) in self.sources {
            if default_unreadable && raw.get_ref().action.is_none() {
                continue;
            }
            match check_source(ctx, name, raw, default_action.as_ref()) {
                Ok(source) => sources.push(source),
                Err(e) => errors.push(e),
            }
        }
        if !errors.is_empty() {
            return None;
        }
        Some(Config {
            server: server?,
            queue: queue?,
            retry: retry?,
            workers: workers?,
            sources,
            file: ctx.file.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests;
