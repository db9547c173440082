//! `[workers]`: how deliveries are processed.

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::error::{ConfigError, Ctx};
use super::values::Whole;
use crate::duration::HumanDuration;

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
    /// Threads of the worker pool's own runtime; 0 runs the pool on the
    /// server's runtime.
    pub(crate) threads: usize,
}

/// The most threads `[workers] threads` may ask for.
const MAX_THREADS: usize = 64;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWorkers {
    concurrency: Option<Spanned<Whole<usize>>>,
    visibility_timeout: Option<HumanDuration>,
    poll_interval: Option<HumanDuration>,
    shutdown_timeout: Option<HumanDuration>,
    threads: Option<Spanned<Whole<usize>>>,
}

pub(super) fn check_workers(ctx: &Ctx<'_>, raw: RawWorkers) -> Result<WorkersConfig, ConfigError> {
    if let Some(concurrency) = &raw.concurrency
        && concurrency.get_ref().0 == 0
    {
        return Err(ctx.at(
            concurrency.span(),
            "workers: `concurrency` must be at least 1",
        ));
    }
    if let Some(threads) = &raw.threads
        && threads.get_ref().0 > MAX_THREADS
    {
        return Err(ctx.at(
            threads.span(),
            format!("workers: `threads` must be at most {MAX_THREADS} (1, the default, suits most receivers; 0 runs the workers on the server's threads)"),
        ));
    }
    Ok(WorkersConfig {
        concurrency: raw.concurrency.map_or(8, |c| c.into_inner().0),
        visibility_timeout: raw
            .visibility_timeout
            .map_or(hookgate_queue::DEFAULT_VISIBILITY_TIMEOUT, |d| d.0),
        poll_interval: raw
            .poll_interval
            .map_or(Duration::from_millis(200), |d| d.0),
        shutdown_timeout: raw
            .shutdown_timeout
            .map_or(Duration::from_secs(10), |d| d.0),
        threads: raw.threads.map_or(1, |t| t.into_inner().0),
    })
}
