//! `hookgate verify`: check a delivery and print what was verified.

use std::time::{Duration, UNIX_EPOCH};

use clap::Args;
use hookgate_verify::http::{HeaderMap, HeaderName, HeaderValue};

use super::{Failure, SchemeArgs};
use crate::input;

/// Verify a delivery: exit 0 and print one JSON line `{scheme, id, timestamp,
/// key}`; exit 1 with a one-line reason on stderr when it is refused; exit 2 on
/// usage errors.
#[derive(Debug, Args)]
#[command(after_help = "Example (the shipped sample):\n  \
    hookgate verify --scheme clarife --secret whsec_sample \\\n    \
    -H 'X-Clarife-Signature: t=1774699200,v1=9c710756f7069d313542208bc0003147b1b1b7a6aa18bca44d4a4f3b585b2a74' \\\n    \
    --now 1774699230 --body samples/clarife.json\n\n\
    prints {\"scheme\":\"clarife\",\"id\":\"evt_a1b2c3d4-5678-90ab-cdef-1234567890ab\",\"timestamp\":1774699200,\"key\":0}")]
pub(crate) struct VerifyArgs {
    #[command(flatten)]
    scheme: SchemeArgs,

    /// A request header, as `'Name: value'`; repeat for each header.
    #[arg(short = 'H', long = "header", value_name = "'Name: value'", value_parser = input::parse_header)]
    headers: Vec<(HeaderName, HeaderValue)>,

    /// Accepted age and future skew of the signed timestamp, in seconds
    /// (default: the scheme's, 300 for most; paddle 5, linear 60, twitch 600).
    #[arg(long, value_name = "SECS")]
    tolerance: Option<u64>,

    /// Verify as if the time were this Unix time (default: now).
    #[arg(long, value_name = "UNIX")]
    now: Option<u64>,

    /// File holding the body exactly as received, or `-` for stdin.
    #[arg(long, value_name = "FILE|-", default_value = "-")]
    body: String,

    /// The full URL the request is sent to, query included: the schemes that
    /// sign it (twilio) need it.
    #[arg(long, value_name = "URL")]
    url: Option<String>,
}

pub(crate) fn run(args: VerifyArgs) -> Result<(), Failure> {
    let verifier = args
        .scheme
        .verifier(args.tolerance.map(Duration::from_secs))?;
    let body = input::read_body(&args.body).map_err(Failure::Usage)?;
    let mut headers = HeaderMap::new();
    for (name, value) in args.headers {
        headers.append(name, value);
    }
    let now = UNIX_EPOCH + Duration::from_secs(args.now.unwrap_or_else(input::unix_now));
    let context = super::request_context(verifier.scheme(), args.url.as_deref())?;
    let verified = verifier
        .verify_with_at(&headers, &body, context, now)
        .map_err(|err| Failure::Refused(format!("{err} ({})", err.status())))?;
    let key = match verified.key().id() {
        Some(id) => serde_json::Value::from(id),
        None => serde_json::Value::from(verified.key().index()),
    };
    // Written field by field so the keys keep the documented order.
    let line = format!(
        "{{\"scheme\":{},\"id\":{},\"timestamp\":{},\"key\":{}}}",
        serde_json::Value::from(verified.scheme().as_str()),
        serde_json::Value::from(verified.delivery_id()),
        serde_json::Value::from(verified.timestamp()),
        key,
    );
    println!("{line}");
    Ok(())
}
