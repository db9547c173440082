//! Running a source's action on each delivery the workers lease: forward it
//! over HTTP, or pipe it into a command.

use std::collections::HashMap;
use std::process::Stdio;
use std::time::{Duration, UNIX_EPOCH};

use hookgate_events::HandlerError;
use hookgate_queue::{BoxFuture, Delivery, Handler};
use http::HeaderMap;
use http::header::{self, HeaderName, HeaderValue};
use tokio::io::AsyncWriteExt as _;

use crate::config::{Action, SourceConfig};

/// Header carrying the delivery id on forwarded requests.
pub(crate) const DELIVERY_ID_HEADER: &str = "hookgate-delivery-id";
/// Header carrying the source name on forwarded requests.
pub(crate) const SOURCE_HEADER: &str = "hookgate-source";
/// Header carrying the attempt number (from 1) on forwarded requests.
pub(crate) const ATTEMPT_HEADER: &str = "hookgate-attempt";
/// Header carrying when hookgate received the delivery (Unix seconds).
pub(crate) const RECEIVED_AT_HEADER: &str = "hookgate-received-at";

/// How much of a failing command's stderr goes into the delivery's error.
const STDERR_TAIL: usize = 512;

/// The workers' handler: each source's configured action.
#[derive(Debug)]
pub(crate) struct Actions {
    by_source: HashMap<String, Action>,
    client: reqwest::Client,
}

impl Actions {
    pub(crate) fn new(sources: &[SourceConfig]) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            // The relay is the user's own service: never follow a redirect
            // elsewhere with the sender's body.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot create the HTTP client: {e}"))?;
        let by_source = sources
            .iter()
            .map(|s| (s.name.clone(), s.action.clone()))
            .collect();
        Ok(Self { by_source, client })
    }

    async fn run(&self, delivery: Delivery) -> Result<(), HandlerError> {
        let Some(action) = self.by_source.get(&delivery.source) else {
            // A delivery queued under a source that is no longer configured:
            // retrying cannot help, replaying after restoring the source can.
            return Err(HandlerError::give_up(format!(
                "source {:?} is not configured",
                delivery.source
            )));
        };
        // The action's `timeout` bounds the whole attempt: the worker pool
        // drops this future past it (`source_attempt_timeout`).
        let result = match action {
            Action::Forward { url, .. } => self.forward(url, &delivery).await,
            Action::Command { program, args, .. } => command(program, args, &delivery).await,
        };
        match &result {
            Ok(()) => tracing::info!(
                source = %delivery.source,
                delivery_id = %delivery.delivery_id,
                attempt = delivery.attempt,
                action = %action.describe(),
                "delivered"
            ),
            Err(err) => tracing::warn!(
                source = %delivery.source,
                delivery_id = %delivery.delivery_id,
                attempt = delivery.attempt,
                action = %action.describe(),
                error = %err.error(),
                "attempt failed"
            ),
        }
        result
    }

    async fn forward(&self, url: &url::Url, delivery: &Delivery) -> Result<(), HandlerError> {
        let response = self
            .client
            .post(url.as_str())
            .headers(forward_headers(delivery))
            .body(delivery.body.clone())
            .send()
            .await
            .map_err(|e| HandlerError::retry(format!("forward to {url}: {}", error_chain(&e))))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let message = format!("forward to {url}: answered {status}");
        let retry_after = response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        Err(match retry_after {
            Some(secs) => HandlerError::retry_after(Duration::from_secs(secs), message),
            None => HandlerError::retry(message),
        })
    }
}

impl Handler for Actions {
    fn handle(&self, delivery: Delivery) -> BoxFuture<'_, Result<(), HandlerError>> {
        Box::pin(self.run(delivery))
    }
}

/// The stored headers minus those that describe the original connection,
/// plus hookgate's own.
pub(crate) fn forward_headers(delivery: &Delivery) -> HeaderMap {
    const CONNECTION_HEADERS: [HeaderName; 8] = [
        header::HOST,
        header::CONTENT_LENGTH,
        header::TRANSFER_ENCODING,
        header::CONNECTION,
        header::EXPECT,
        header::TE,
        header::UPGRADE,
        header::PROXY_AUTHORIZATION,
    ];
    let mut headers = HeaderMap::with_capacity(delivery.headers.len() + 4);
    for (name, value) in &delivery.headers {
        if !CONNECTION_HEADERS.contains(name) && !name.as_str().starts_with("hookgate-") {
            headers.append(name.clone(), value.clone());
        }
    }
    let received = delivery
        .received_at
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    for (name, value) in [
        (DELIVERY_ID_HEADER, delivery.delivery_id.clone()),
        (SOURCE_HEADER, delivery.source.clone()),
        (ATTEMPT_HEADER, delivery.attempt.to_string()),
        (RECEIVED_AT_HEADER, received.to_string()),
    ] {
        // Ids and source names came through HTTP headers or are ASCII we chose.
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
    headers
}

async fn command(program: &str, args: &[String], delivery: &Delivery) -> Result<(), HandlerError> {
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .env("HOOKGATE_SOURCE", &delivery.source)
        .env("HOOKGATE_DELIVERY_ID", &delivery.delivery_id)
        .env("HOOKGATE_ATTEMPT", delivery.attempt.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // A timed-out attempt (its future dropped) must not leave its
        // process behind.
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| HandlerError::retry(format!("cannot start {program}: {e}")))?;
    let stdin = child.stdin.take();
    let body = delivery.body.clone();
    // Write the body while the child runs: a child that answers before
    // reading all of stdin must not block on a full pipe.
    let feed = async move {
        if let Some(mut stdin) = stdin {
            // A child that exits without reading stdin is judged by its exit code.
            let _ = stdin.write_all(&body).await;
        }
    };
    let ((), output) = tokio::join!(feed, child.wait_with_output());
    let output = output.map_err(|e| HandlerError::retry(format!("{program}: {e}")))?;
    if !output.stdout.is_empty() {
        tracing::debug!(
            program,
            stdout = %String::from_utf8_lossy(&output.stdout),
            "command output"
        );
    }
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let tail = tail_chars(stderr.trim(), STDERR_TAIL);
    Err(HandlerError::retry(format!(
        "{program} exited with {}{}{tail}",
        output.status,
        if tail.is_empty() { "" } else { ": " }
    )))
}

fn tail_chars(text: &str, max: usize) -> &str {
    let count = text.chars().count();
    if count <= max {
        return text;
    }
    let skip = text
        .char_indices()
        .nth(count - max)
        .map_or(0, |(index, _)| index);
    &text[skip..]
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;
    use hookgate_queue::NewDelivery;
    use std::time::SystemTime;

    fn delivery(body: impl Into<bytes::Bytes>) -> Delivery {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        headers.insert("x-hub-signature-256", HeaderValue::from_static("sha256=ab"));
        headers.insert("host", HeaderValue::from_static("receiver.example"));
        headers.insert("content-length", HeaderValue::from_static("2"));
        headers.insert("hookgate-attempt", HeaderValue::from_static("99"));
        let new = NewDelivery::new("github", "d-1", SystemTime::now(), body).with_headers(headers);
        Delivery::new(new, 2, None)
    }

    #[test]
    fn forwarded_headers_keep_the_senders_and_add_hookgates() {
        let headers = forward_headers(&delivery(&b"{}"[..]));
        assert_eq!(headers["content-type"], "application/json");
        assert_eq!(headers["x-hub-signature-256"], "sha256=ab");
        assert_eq!(headers[DELIVERY_ID_HEADER], "d-1");
        assert_eq!(headers[SOURCE_HEADER], "github");
        assert_eq!(headers[ATTEMPT_HEADER], "2");
        assert_eq!(headers.get_all(ATTEMPT_HEADER).iter().count(), 1);
        assert!(!headers.contains_key("host"));
        assert!(!headers.contains_key("content-length"));
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn a_command_gets_the_body_on_stdin_and_its_exit_code_decides() {
        runtime().block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let out = dir.path().join("body");
            let script = format!(
                "cat > '{}' && test \"$HOOKGATE_DELIVERY_ID\" = d-1",
                out.display()
            );
            let args = vec!["-c".to_owned(), script];
            command("sh", &args, &delivery(&b"{\"a\":1}"[..]))
                .await
                .unwrap();
            assert_eq!(std::fs::read(&out).unwrap(), b"{\"a\":1}");

            let failing = vec!["-c".to_owned(), "echo broken >&2; exit 3".to_owned()];
            let err = command("sh", &failing, &delivery(&b"{}"[..]))
                .await
                .unwrap_err();
            assert_eq!(
                err.disposition(),
                hookgate_events::Disposition::Retry { after: None }
            );
            let message = err.error().to_string();
            assert!(
                message.contains("exit status: 3") && message.ends_with("broken"),
                "{message}"
            );

            let missing = command("/nonexistent/handler", &[], &delivery(&b"{}"[..]))
                .await
                .unwrap_err();
            assert!(missing.error().to_string().contains("cannot start"));
        });
    }

    #[test]
    fn a_command_that_does_not_read_stdin_is_judged_by_its_exit_code() {
        runtime().block_on(async {
            let big = vec![b'x'; 1 << 20];
            command("true", &[], &delivery(big)).await.unwrap();
        });
    }

    #[test]
    fn stderr_tail_keeps_the_end() {
        assert_eq!(tail_chars("abcdef", 3), "def");
        assert_eq!(tail_chars("é€x", 2), "€x");
        assert_eq!(tail_chars("ab", 3), "ab");
    }
}
