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
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

mod action;
mod admin;
mod error;
mod queue;
mod retry;
mod server;
mod source;
mod workers;

pub(crate) use action::Action;
use action::{RawAction, check_action};
pub(crate) use admin::{AdminConfig, DEFAULT_TOKEN_ENV};
use admin::{RawAdmin, check_admin};
pub(crate) use error::ConfigError;
use error::Ctx;
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

/// The commented sample that `hookgate init` writes. It passes validation.
pub(crate) const SAMPLE: &str = include_str!("../hookgate.sample.toml");

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
    /// `[admin]`, when present.
    pub(crate) admin: Option<AdminConfig>,
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
    admin: Option<RawAdmin>,
}
impl RawConfig {
    fn check(self, ctx: &Ctx<'_>, base: &Path) -> Result<Config, ConfigError> {
        let server = check_server(ctx, self.server)?;
        let queue = check_queue(ctx, base, self.queue)?;
        let retry = check_retry(ctx, self.retry)?;
        let workers = check_workers(ctx, self.workers)?;
        let admin = self.admin.map(|raw| check_admin(ctx, raw)).transpose()?;
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
            admin,
        })
    }
}

#[cfg(test)]
mod tests;
