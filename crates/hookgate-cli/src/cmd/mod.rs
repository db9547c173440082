//! One module per subcommand, and what they share: the scheme options and the
//! way a failure becomes a message and an exit code.

use std::fmt;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use hookgate_verify::{Scheme, SignatureEncoding, Verifier, VerifierBuilder};

pub(crate) mod init;
pub(crate) mod inspect;
pub(crate) mod queue;
pub(crate) mod send;
pub(crate) mod serve;
pub(crate) mod sign;
pub(crate) mod tail;
pub(crate) mod verify;

/// Why a subcommand did not succeed; decides the exit code.
///
/// Each message says what happened, its cause (the whole chain of an
/// error's sources, see [`with_causes`]) and, where there is one, what to do.
#[derive(Debug)]
pub(crate) enum Failure {
    /// A delivery was refused: the signature, or the receiver's answer (exit 1).
    Refused(String),
    /// Something else did not work: a receiver that cannot be reached, a
    /// dead letter that does not exist, bytes that are not that sender's
    /// payload (exit 1).
    Failed(String),
    /// The command line or its inputs were unusable (exit 2, like clap's own errors).
    Usage(String),
    /// Several problems with the configuration, each on its own line (exit 2).
    Problems(Vec<String>),
}

impl Failure {
    pub(crate) fn usage(message: impl fmt::Display) -> Self {
        Failure::Usage(message.to_string())
    }

    /// Every problem of a configuration, one line each.
    pub(crate) fn config(errors: crate::config::ConfigErrors) -> Self {
        Failure::Problems(errors.iter().map(ToString::to_string).collect())
    }

    /// Prints the one-line reason on stderr and returns the exit code.
    pub(crate) fn report(self) -> ExitCode {
        match self {
            Failure::Refused(reason) => {
                eprintln!("refused: {}", one_line(&reason));
                ExitCode::from(1)
            }
            Failure::Failed(reason) => {
                eprintln!("error: {}", one_line(&reason));
                ExitCode::from(1)
            }
            Failure::Usage(reason) => {
                eprintln!("error: {}", one_line(&reason));
                ExitCode::from(2)
            }
            Failure::Problems(problems) => {
                for problem in &problems {
                    eprintln!("error: {}", one_line(problem));
                }
                if problems.len() > 1 {
                    eprintln!(
                        "error: {} problems; fix them all, then run the command again",
                        problems.len()
                    );
                }
                ExitCode::from(2)
            }
        }
    }
}

/// `error` followed by its causes, `: `-separated. A cause whose text the
/// message already holds (many errors repeat their source's) is not repeated,
/// so "error sending request" ends with "Connection refused (os error 111)"
/// exactly once.
pub(crate) fn with_causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut message = error.to_string();
    let mut cause = error.source();
    while let Some(current) = cause {
        let text = current.to_string();
        if !text.is_empty() && !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        cause = current.source();
    }
    message
}

/// `reason` on one line: each run of control characters (newline, tab,
/// escape ...) or Unicode line separators becomes one space, so a reason that
/// quotes a sender's bytes can neither split the line nor drive the terminal.
fn one_line(reason: &str) -> String {
    let mut line = String::with_capacity(reason.len());
    let mut in_run = false;
    for c in reason.chars() {
        if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') {
            if !in_run {
                line.push(' ');
            }
            in_run = true;
        } else {
            line.push(c);
            in_run = false;
        }
    }
    line
}

/// The scheme and its secrets and options, shared by `sign` and `verify`.
#[derive(Debug, Args)]
pub(crate) struct SchemeArgs {
    // The help lists the names from the scheme table.
    #[arg(
        long,
        value_name = "NAME",
        value_parser = parse_scheme,
        help = format!("Signature scheme: {}", Scheme::ALL.map(Scheme::as_str).join(", "))
    )]
    pub(crate) scheme: Scheme,

    /// Signing secret or token; repeat `verify --secret` to accept several
    /// during a rotation (`sign` uses the first).
    #[arg(long = "secret", value_name = "S", required = true)]
    pub(crate) secrets: Vec<String>,

    /// Header carrying the token (clarity) or the signature (custom).
    #[arg(
        long,
        value_name = "NAME",
        help_heading = "Header-token and custom schemes"
    )]
    pub(crate) signature_header: Option<String>,

    /// Text before the token or signature, e.g. `sha256=` or `Bearer `.
    #[arg(
        long,
        value_name = "TEXT",
        help_heading = "Header-token and custom schemes"
    )]
    pub(crate) prefix: Option<String>,

    /// Signature encoding of the custom scheme: hex or base64.
    #[arg(long, value_name = "ENC", value_parser = parse_encoding, help_heading = "Header-token and custom schemes")]
    pub(crate) encoding: Option<SignatureEncoding>,

    /// What the custom scheme signs, e.g. `{id}.{timestamp}.{body}`.
    #[arg(
        long,
        value_name = "TEMPLATE",
        help_heading = "Header-token and custom schemes"
    )]
    pub(crate) signed_content: Option<String>,

    /// Header carrying the custom scheme's Unix timestamp.
    #[arg(
        long,
        value_name = "NAME",
        help_heading = "Header-token and custom schemes"
    )]
    pub(crate) timestamp_header: Option<String>,

    /// Header carrying the custom scheme's delivery id.
    #[arg(
        long,
        value_name = "NAME",
        help_heading = "Header-token and custom schemes"
    )]
    pub(crate) id_header: Option<String>,
}

impl SchemeArgs {
    /// Builds the verifier these options describe; `tolerance` applies to both
    /// directions when given.
    pub(crate) fn verifier(&self, tolerance: Option<Duration>) -> Result<Verifier, Failure> {
        let mut builder = Verifier::builder(self.scheme);
        for secret in &self.secrets {
            builder = builder.secret(secret).map_err(Failure::usage)?;
        }
        builder = self.options(builder).map_err(Failure::usage)?;
        if let Some(tolerance) = tolerance {
            builder = builder.tolerance(tolerance);
        }
        builder.build().map_err(Failure::usage)
    }

    /// The signer these options describe: the verifier's, except for Ed25519
    /// secret keys (Standard Webhooks' `whsk_…`, Discord's seed), which a
    /// verifier does not take.
    pub(crate) fn signer(&self) -> Result<hookgate_verify::Signer, Failure> {
        let ed25519 = match (self.scheme, self.secrets.first()) {
            (Scheme::Discord, Some(_)) => true,
            (Scheme::Standard, Some(secret)) => secret.starts_with("whsk_"),
            _ => false,
        };
        match self.secrets.first() {
            Some(secret) if ed25519 => {
                hookgate_verify::Signer::new(self.scheme, secret).map_err(Failure::usage)
            }
            _ => Ok(self.verifier(None)?.signer()),
        }
    }

    fn options(
        &self,
        mut builder: VerifierBuilder,
    ) -> Result<VerifierBuilder, hookgate_verify::ConfigError> {
        if let Some(name) = &self.signature_header {
            builder = builder.header(name)?;
        }
        if let Some(prefix) = &self.prefix {
            builder = builder.prefix(prefix)?;
        }
        if let Some(encoding) = self.encoding {
            builder = builder.encoding(encoding)?;
        }
        if let Some(template) = &self.signed_content {
            builder = builder.signed_content(template)?;
        }
        if let Some(name) = &self.timestamp_header {
            builder = builder.timestamp_header(name)?;
        }
        if let Some(name) = &self.id_header {
            builder = builder.id_header(name)?;
        }
        Ok(builder)
    }
}

/// The request context of `--url`: required (a usage error) by the schemes
/// that sign the URL.
pub(crate) fn request_context(
    scheme: Scheme,
    url: Option<&str>,
) -> Result<hookgate_verify::RequestContext<'_>, Failure> {
    match url {
        Some(url) => Ok(hookgate_verify::RequestContext::new().with_url(url)),
        None if scheme.needs_url() => Err(Failure::usage(format!(
            "--scheme {scheme} signs the request URL: give the full URL with --url URL"
        ))),
        None => Ok(hookgate_verify::RequestContext::new()),
    }
}

fn parse_scheme(text: &str) -> Result<Scheme, String> {
    text.parse::<Scheme>().map_err(|err| err.to_string())
}

fn parse_encoding(text: &str) -> Result<SignatureEncoding, String> {
    match text {
        "hex" => Ok(SignatureEncoding::Hex),
        "base64" => Ok(SignatureEncoding::Base64),
        other => Err(format!(
            "unknown encoding {other:?}; expected hex or base64"
        )),
    }
}
