//! `hookgate tail`: the admin listener's event stream, one line per event.

use std::error::Error as _;
use std::fmt::Write as _;

use clap::Args;
use serde_json::Value;

use super::Failure;

/// The environment variable holding the admin token: `serve`'s default
/// `[admin] token_env`.
use crate::config::DEFAULT_TOKEN_ENV as TOKEN_ENV;
/// Where `serve`'s admin listener is by default.
pub(crate) const DEFAULT_ADMIN_URL: &str = "http://127.0.0.1:8081";
/// The longest line accepted from the stream; past it the server is not an
/// admin listener (or misbehaves) and tail stops.
const MAX_PENDING: usize = 1024 * 1024;

/// Follow a running `hookgate serve`'s deliveries as they happen.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    hookgate tail\n  \
    hookgate tail --source github\n  \
    hookgate tail --admin http://10.0.0.5:8081 --json | jq .\n\n\
    Needs `hookgate serve` with an [admin] section. One line per event: received, refused\n\
    (with the reason), duplicate, queued, verified, skipped, processed, retry_scheduled,\n\
    dead_lettered. --json prints each event as one JSON object per line (see the admin\n\
    listener's /openapi.json, StreamEvent). When the listener requires a token, set\n\
    HOOKGATE_ADMIN_TOKEN.")]
pub(crate) struct TailArgs {
    /// The admin listener's URL.
    #[arg(long, value_name = "URL", default_value = DEFAULT_ADMIN_URL)]
    admin: String,

    /// Only this source's events.
    #[arg(long, value_name = "NAME")]
    source: Option<String>,

    /// One JSON object per line, for scripts.
    #[arg(long)]
    json: bool,
}

/// `text` on one line, without control characters: delivery ids, event
/// names and errors come from senders and must not drive the terminal.
fn clean(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') {
                ' '
            } else {
                c
            }
        })
        .collect()
}

/// The error and its causes ("connection refused" is usually the last).
fn chain(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let _ = write!(text, ": {cause}");
        source = cause.source();
    }
    text
}

/// One event as a line for people:
/// `13:24:11.123 github   queued          3f2a...  push  202  1.4 ms`.
pub(crate) fn human_line(event: &Value) -> String {
    let text = |key: &str| event[key].as_str().map(clean);
    let at = text("at").unwrap_or_default();
    // `2026-12-03T13:24:11.123456Z` -> `13:24:11.123`
    let time = at
        .split_once('T')
        .map_or(at.as_str(), |(_, t)| t.trim_end_matches('Z'));
    let time: String = time.chars().take(12).collect();
    let kind = text("kind").unwrap_or_default();
    let mut line = format!(
        "{time:<12} {:<12} {kind:<15} {}",
        text("source").unwrap_or_default(),
        text("delivery_id").unwrap_or_else(|| "-".to_owned())
    );
    if let Some(name) = text("event") {
        let _ = write!(line, "  {name}");
    }
    if let Some(reason) = text("reason") {
        let _ = write!(line, "  {reason}");
    }
    if let Some(status) = event["status"].as_u64() {
        let _ = write!(line, "  {status}");
    }
    if let Some(attempt) = event["attempt"].as_u64() {
        let _ = write!(line, "  attempt {attempt}");
    }
    if let Some(ms) = event["latency_ms"].as_f64() {
        let _ = write!(line, "  {ms:.1} ms");
    }
    if let Some(error) = text("error") {
        let _ = write!(line, "  {error}");
    }
    if let Some(at) = text("retry_at") {
        let _ = write!(line, "  (next at {at})");
    }
    line
}

pub(crate) fn run(args: TailArgs) -> Result<(), Failure> {
    let base = args.admin.trim_end_matches('/');
    let mut url = url::Url::parse(&format!("{base}/api/events")).map_err(|e| {
        Failure::usage(format!(
            "--admin {}: {e}; expected a URL such as {DEFAULT_ADMIN_URL}",
            args.admin
        ))
    })?;
    if let Some(source) = &args.source {
        url.query_pairs_mut().append_pair("source", source);
    }
    let token = std::env::var(TOKEN_ENV).ok().filter(|t| !t.is_empty());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::usage(format!("cannot start the runtime: {e}")))?;
    runtime.block_on(follow(url, token, args.json))
}

async fn follow(url: url::Url, token: Option<String>, json: bool) -> Result<(), Failure> {
    let client = reqwest::Client::new();
    let mut request = client
        .get(url.clone())
        .header("accept", "text/event-stream");
    if let Some(token) = &token {
        request = request.bearer_auth(token);
    }
    let mut response = request.send().await.map_err(|e| {
        Failure::usage(format!(
            "cannot reach the admin listener at {url}: {}; is `hookgate serve` running with an [admin] section, and is --admin its address?",
            chain(&e)
        ))
    })?;
    match response.status().as_u16() {
        200 => {}
        401 => {
            return Err(Failure::usage(format!(
                "the admin listener at {url} needs its token: set {TOKEN_ENV}{}",
                if token.is_some() {
                    " (the one set is not it)"
                } else {
                    ""
                }
            )));
        }
        status => {
            return Err(Failure::usage(format!(
                "the admin listener at {url} answered {status}; is --admin the admin listener's address?"
            )));
        }
    }
    let mut pending = String::new();
    loop {
        let chunk = match response.chunk().await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => {
                eprintln!("the admin listener closed the stream (hookgate serve stopped)");
                return Ok(());
            }
            Err(e) => {
                return Err(Failure::usage(format!(
                    "the stream from {url} broke: {}",
                    chain(&e)
                )));
            }
        };
        pending.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = pending.find("\n\n") {
            let block: String = pending.drain(..end + 2).collect();
            print_block(&block, json);
        }
        // What is left is an event not ended yet: a chunk may carry many
        // whole events (the listener writes what gathered at once).
        if pending.len() > MAX_PENDING {
            return Err(Failure::usage(format!(
                "{url} sent more than {MAX_PENDING} bytes without ending an event: not an admin listener's stream"
            )));
        }
    }
}

/// Prints one server-sent event (a `data:` line of JSON, or `lagged`).
fn print_block(block: &str, json: bool) {
    let mut name = None;
    let mut data = String::new();
    for line in block.lines() {
        if let Some(value) = line.strip_prefix("event:") {
            name = Some(value.trim().to_owned());
        } else if let Some(value) = line.strip_prefix("data:") {
            data.push_str(value.strip_prefix(' ').unwrap_or(value));
        }
    }
    if name.as_deref() == Some("lagged") {
        eprintln!(
            "(missed {} events: this terminal fell behind the stream)",
            clean(&data)
        );
        return;
    }
    if data.is_empty() {
        return; // a keep-alive comment
    }
    match serde_json::from_str::<Value>(&data) {
        Ok(event) if json => println!("{event}"),
        Ok(event) => println!("{}", human_line(&event)),
        Err(_) => eprintln!("(skipped an event that is not JSON)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_names_what_happened_and_drives_no_terminal() {
        let event = serde_json::json!({
            "kind": "refused", "source": "github", "delivery_id": null,
            "reason": "unauthenticated", "status": 401, "latency_ms": 0.42,
            "error": "bad\u{1b}[31m signature\nline", "at": "2026-12-03T13:24:11.123456Z",
        });
        assert_eq!(
            human_line(&event),
            "13:24:11.123 github       refused         -  unauthenticated  401  0.4 ms  bad [31m signature line"
        );
    }
}
