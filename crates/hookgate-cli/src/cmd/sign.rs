//! `hookgate sign`: print the headers a sender would set.

use std::time::{SystemTime, UNIX_EPOCH};

use clap::Args;

use super::{Failure, SchemeArgs};
use crate::input;

/// Print the headers a sender would set, one `Name: value` per line.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  \
    hookgate sign --scheme clarife --secret whsec_sample --timestamp 1774699200 --body samples/clarife.json\n\n\
    The output can be passed to `hookgate verify` with -H, or to curl with -H.\n\
    For claravine the body must also carry the token in its `token` field.")]
pub(crate) struct SignArgs {
    #[command(flatten)]
    scheme: SchemeArgs,

    /// Delivery id for schemes that send one (default: a fresh `msg_…`).
    #[arg(long, value_name = "ID")]
    id: Option<String>,

    /// Unix time of the signature (default: now).
    #[arg(long, value_name = "UNIX")]
    timestamp: Option<u64>,

    /// File holding the body, or `-` for stdin.
    #[arg(long, value_name = "FILE|-", default_value = "-")]
    body: String,

    /// The full URL the request is sent to, query included: the schemes that
    /// sign it (twilio) need it.
    #[arg(long, value_name = "URL")]
    url: Option<String>,
}

pub(crate) fn run(args: SignArgs) -> Result<(), Failure> {
    let signer = args.scheme.signer()?;
    let body = input::read_body(&args.body).map_err(Failure::Usage)?;
    let timestamp = args.timestamp.unwrap_or_else(input::unix_now);
    let id = args.id.unwrap_or_else(fresh_id);
    let context = super::request_context(signer.scheme(), args.url.as_deref())?;
    let headers = signer
        .sign_with(&id, timestamp, &body, context)
        .map_err(Failure::usage)?;
    for (name, value) in &headers {
        // Every value the signer produces is ASCII.
        println!("{name}: {}", value.to_str().unwrap_or_default());
    }
    Ok(())
}

/// A delivery id unique enough for manual testing: the current time in
/// nanoseconds and the process id.
fn fresh_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos());
    format!("msg_{nanos:x}{:x}", std::process::id())
}
