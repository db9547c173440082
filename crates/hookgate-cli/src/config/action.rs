//! `[action]` and `[sources.NAME.action]`: what is done with each event.

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::error::{ConfigError, Ctx};
use crate::duration::HumanDuration;

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAction {
    forward: Option<Spanned<String>>,
    command: Option<Spanned<Vec<String>>>,
    timeout: Option<HumanDuration>,
}

const DEFAULT_ACTION_TIMEOUT: Duration = Duration::from_secs(30);

pub(super) fn check_action(ctx: &Ctx<'_>, raw: Spanned<RawAction>) -> Result<Action, ConfigError> {
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
