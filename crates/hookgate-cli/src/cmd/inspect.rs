//! `hookgate inspect`: read a verified body as its sender's typed event.

use clap::Args;
use hookgate_events::{Event as _, Sender};
use hookgate_verify::http::{HeaderMap, HeaderName, HeaderValue};

use super::Failure;
use crate::input;

/// Parse an already verified body as a sender's typed event and print one JSON
/// line `{event, known, id, payload}`: the dotted event name, whether hookgate
/// knows that event, the sender's event id (or null) and the typed payload
/// re-serialized (secrets such as Claravine's token left out). Exit 1 with a
/// one-line reason when the bytes are not that sender's payload.
#[derive(Debug, Args)]
#[command(after_help = "Example (the shipped samples):\n  \
    hookgate inspect --sender clarife --body samples/clarife.json\n  \
    hookgate inspect --sender clarity --body samples/clarity.json\n  \
    hookgate inspect --sender github -H 'X-GitHub-Event: push' --body push.json")]
pub(crate) struct InspectArgs {
    // The help lists the names from the sender table.
    #[arg(
        long,
        value_name = "NAME",
        value_parser = parse_sender,
        help = format!("The sender: {}", Sender::ALL.map(Sender::as_str).join(", "))
    )]
    sender: Sender,

    /// A request header, as `'Name: value'` (GitHub needs `X-GitHub-Event`,
    /// Shopify `X-Shopify-Topic`); repeat for each header.
    #[arg(short = 'H', long = "header", value_name = "'Name: value'", value_parser = input::parse_header)]
    headers: Vec<(HeaderName, HeaderValue)>,

    /// File holding the body exactly as received, or `-` for stdin.
    #[arg(long, value_name = "FILE|-", default_value = "-")]
    body: String,
}

pub(crate) fn run(args: InspectArgs) -> Result<(), Failure> {
    let body = input::read_body(&args.body).map_err(Failure::Usage)?;
    let mut headers = HeaderMap::new();
    for (name, value) in args.headers {
        headers.append(name, value);
    }
    // The parser's message says "not a SENDER payload" and where.
    let event = args
        .sender
        .parse(&headers, &body)
        .map_err(|err| Failure::Failed(super::with_causes(&err)))?;
    let payload = serde_json::to_string(&event)
        .map_err(|err| Failure::Failed(format!("cannot re-serialize the event: {err}")))?;
    // Written field by field so the keys keep the documented order.
    println!(
        "{{\"event\":{},\"known\":{},\"id\":{},\"payload\":{payload}}}",
        serde_json::Value::from(event.event_name().as_str()),
        event.is_known(),
        event
            .event_id()
            .map_or(serde_json::Value::Null, serde_json::Value::from),
    );
    Ok(())
}

fn parse_sender(text: &str) -> Result<Sender, String> {
    text.parse::<Sender>().map_err(|err| err.to_string())
}
