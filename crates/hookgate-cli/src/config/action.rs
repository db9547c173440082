//! `[action]` and `[sources.NAME.action]`: what is done with each event.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::error::{ConfigError, Ctx, Location};
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
        /// Where `command` is written, for [`Action::check_program`].
        at: Location,
    },
}

impl Action {
    /// How long one attempt may take: the worker pool drops it past this.
    pub(crate) fn timeout(&self) -> Duration {
        match self {
            Action::Forward { timeout, .. } | Action::Command { timeout, .. } => *timeout,
        }
    }

    /// That a command's program can be run: a path (with a `/`, relative to
    /// the directory `hookgate serve` runs in) to an executable file, or a
    /// name found in `PATH`, as the worker will run it. `Ok` for `forward`.
    pub(crate) fn check_program(
        &self,
        path_var: Option<&std::ffi::OsStr>,
    ) -> Result<(), ConfigError> {
        let Action::Command { program, at, .. } = self else {
            return Ok(());
        };
        let problem = if program.contains('/') {
            executable(Path::new(program)).err()
        } else {
            let found = path_var
                .map(|dirs| std::env::split_paths(dirs).collect::<Vec<PathBuf>>())
                .unwrap_or_default()
                .iter()
                .any(|dir| executable(&dir.join(program)).is_ok());
            (!found).then(|| {
                format!(
                    "is not found in any directory of PATH; write its path (e.g. [\"./{program}\"]) or install it"
                )
            })
        };
        match problem {
            None => Ok(()),
            Some(problem) => Err(at.error(format!("action: command {program:?} {problem}"))),
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
            let program = words.next().filter(|p| !p.is_empty()).ok_or_else(|| {
                ctx.at(
                    span.clone(),
                    "action: `command` needs at least a program name",
                )
            })?;
            Ok(Action::Command {
                program,
                args: words.collect(),
                timeout,
                at: ctx.location(span),
            })
        }
    }
}

/// Why `path` cannot be run as a program, if it cannot.
fn executable(path: &Path) -> Result<(), String> {
    let metadata = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            "does not exist (a relative path is taken from the directory hookgate serve runs in)"
                .to_owned()
        }
        _ => format!("cannot be read: {e}"),
    })?;
    if !metadata.is_file() {
        return Err("is not a file".to_owned());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if metadata.permissions().mode() & 0o111 == 0 {
            return Err(format!(
                "is not executable; run `chmod +x {}`",
                path.display()
            ));
        }
    }
    Ok(())
}
