//! `[server]`: where to listen and the connection limits.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use hookgate_tower::Cidr;

use super::DEFAULT_LISTEN;
use super::error::{ConfigError, Ctx};
use super::values::{ListenAddr, Whole};
use crate::duration::HumanDuration;

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

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawServer {
    listen: Option<ListenAddr>,
    log_format: Option<LogFormat>,
    header_timeout: Option<Spanned<HumanDuration>>,
    keep_alive: Option<HumanDuration>,
    max_connections: Option<Spanned<Whole<usize>>>,
    trusted_proxies: Option<Vec<Spanned<String>>>,
}

pub(super) fn check_server(ctx: &Ctx<'_>, raw: RawServer) -> Result<ServerConfig, ConfigError> {
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
        && max.get_ref().0 == 0
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
        listen: raw.listen.map(|l| l.0).unwrap_or_else(|| {
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
            .map_or(server::DEFAULT_MAX_CONNECTIONS, |max| max.into_inner().0),
        trusted_proxies,
    })
}

/// A CIDR range (`192.30.252.0/22`) or one address, with its place for errors.
pub(super) fn cidr(ctx: &Ctx<'_>, range: Spanned<String>, what: &str) -> Result<Cidr, ConfigError> {
    range
        .get_ref()
        .parse()
        .map_err(|e| ctx.at(range.span(), format!("{what}: {e}")))
}
