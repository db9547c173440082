//! `[admin]`: the admin listener (API, event stream, console), off unless
//! the table is present.

use std::net::SocketAddr;

use serde::Deserialize;
use toml::Spanned;

use super::error::{ConfigError, Ctx};
use super::values::{ListenAddr, Whole};

/// The environment variable holding the admin token when `token_env` is absent.
pub(crate) const DEFAULT_TOKEN_ENV: &str = "HOOKGATE_ADMIN_TOKEN";

/// The `[admin]` table (defaults: `127.0.0.1:8081`, `HOOKGATE_ADMIN_TOKEN`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AdminConfig {
    /// Where to listen (loopback unless a token is set).
    pub(crate) listen: SocketAddr,
    /// The environment variable holding the bearer token.
    pub(crate) token_env: String,
    /// How many recent deliveries to keep.
    pub(crate) recent: usize,
    /// The most bytes of each kept body.
    pub(crate) body_limit: usize,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAdmin {
    listen: Option<ListenAddr>,
    token_env: Option<Spanned<String>>,
    recent: Option<Spanned<Whole<usize>>>,
    body_limit: Option<Whole<usize>>,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8081)),
            token_env: DEFAULT_TOKEN_ENV.to_owned(),
            recent: hookgate_admin::DEFAULT_RECENT,
            body_limit: hookgate_admin::DEFAULT_BODY_LIMIT,
        }
    }
}

pub(super) fn check_admin(ctx: &Ctx<'_>, raw: RawAdmin) -> Result<AdminConfig, ConfigError> {
    if let Some(recent) = &raw.recent
        && recent.get_ref().0 == 0
    {
        return Err(ctx.at(recent.span(), "admin: `recent` must be at least 1"));
    }
    if let Some(name) = &raw.token_env
        && (name.get_ref().is_empty() || name.get_ref().contains(['=', '\0']))
    {
        return Err(ctx.at(
            name.span(),
            "admin: `token_env` must name an environment variable, e.g. HOOKGATE_ADMIN_TOKEN",
        ));
    }
    let defaults = AdminConfig::default();
    Ok(AdminConfig {
        listen: raw.listen.map_or(defaults.listen, |listen| listen.0),
        token_env: raw
            .token_env
            .map_or(defaults.token_env, Spanned::into_inner),
        recent: raw.recent.map_or(defaults.recent, |r| r.into_inner().0),
        body_limit: raw.body_limit.map_or(defaults.body_limit, |limit| limit.0),
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::Config;

    const SOURCE: &str = "[action]\nforward = \"http://127.0.0.1:3000/\"\n\n[sources.github]\nscheme = \"github\"\nsecret_env = \"S\"\n";

    fn parse(admin: &str) -> Result<Config, String> {
        Config::parse(
            &format!("{admin}\n{SOURCE}"),
            "hookgate.toml",
            Path::new("."),
        )
        .map_err(|e| e.to_string())
    }

    #[test]
    fn the_admin_table_is_off_unless_present_and_has_loopback_defaults() {
        assert_eq!(parse("").unwrap().admin, None);
        let admin = parse("[admin]").unwrap().admin.unwrap();
        assert_eq!(admin.listen.to_string(), "127.0.0.1:8081");
        assert_eq!(admin.token_env, "HOOKGATE_ADMIN_TOKEN");
        assert_eq!(admin.recent, hookgate_admin::DEFAULT_RECENT);
        let admin = parse(
            "[admin]\nlisten = \"0.0.0.0:9000\"\ntoken_env = \"T\"\nrecent = 5\nbody_limit = 10",
        )
        .unwrap()
        .admin
        .unwrap();
        assert_eq!(
            (admin.listen.port(), admin.recent, admin.body_limit),
            (9000, 5, 10)
        );
        assert_eq!(admin.token_env, "T");
    }

    #[test]
    fn admin_mistakes_are_named_where_they_are() {
        let error = parse("[admin]\nrecent = 0").unwrap_err();
        assert!(
            error.starts_with("hookgate.toml:2:10: admin: `recent` must be at least 1"),
            "{error}"
        );
        let error = parse("[admin]\ntoken_env = \"\"").unwrap_err();
        assert!(
            error.contains("`token_env` must name an environment variable"),
            "{error}"
        );
        let error = parse("[admin]\ntoken = \"x\"").unwrap_err();
        assert!(error.contains("unknown field `token`"), "{error}");
        // In people's words, with the value (issue 16 item 8), as in the other tables.
        let error = parse("[admin]\nlisten = \"localhost:8081\"").unwrap_err();
        assert!(
            error.contains("\"localhost:8081\" is not an IP address and a port"),
            "{error}"
        );
        let error = parse("[admin]\nrecent = -1").unwrap_err();
        assert!(error.contains("-1 is below zero"), "{error}");
        assert!(!error.contains("usize"), "{error}");
    }
}
