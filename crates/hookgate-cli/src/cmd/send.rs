//! `hookgate send`: the senders' "send test event" button, from the terminal.
//!
//! Builds a realistic delivery for the scheme (the sample payloads in
//! `samples/`, taken from the senders' documentation), gives it a fresh
//! delivery id and the current time, signs it like the sender would, POSTs
//! it, and prints the answer.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Args;
use hookgate_verify::Scheme;
use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

use super::{Failure, SchemeArgs};
use crate::input;

/// The sample body of each scheme: the senders' documented examples.
fn sample(scheme: Scheme) -> Option<&'static str> {
    Some(match scheme {
        Scheme::Standard => include_str!("../../../../samples/standard.json"),
        Scheme::Svix => include_str!("../../../../samples/svix.json"),
        Scheme::Clarife => include_str!("../../../../samples/clarife.json"),
        Scheme::Stripe => include_str!("../../../../samples/stripe.json"),
        Scheme::GitHub => include_str!("../../../../samples/github.json"),
        Scheme::Slack => include_str!("../../../../samples/slack.json"),
        Scheme::Shopify => include_str!("../../../../samples/shopify.json"),
        Scheme::Claravine => include_str!("../../../../samples/claravine.json"),
        Scheme::Clarity => include_str!("../../../../samples/clarity.json"),
        Scheme::Paddle => include_str!("../../../../samples/paddle.json"),
        Scheme::Linear => include_str!("../../../../samples/linear.json"),
        Scheme::Zoom => include_str!("../../../../samples/zoom.json"),
        Scheme::Twitch => include_str!("../../../../samples/twitch.json"),
        Scheme::Meta => include_str!("../../../../samples/meta.json"),
        Scheme::Dropbox => include_str!("../../../../samples/dropbox.json"),
        Scheme::GitLab => include_str!("../../../../samples/gitlab.json"),
        Scheme::MsGraph => include_str!("../../../../samples/msgraph.json"),
        // Twilio posts forms (`application/x-www-form-urlencoded`).
        Scheme::Twilio => include_str!("../../../../samples/twilio.form"),
        _ => return None,
    })
}

/// The event each scheme's sample is, for the headers that name it.
fn default_event(scheme: Scheme) -> &'static str {
    match scheme {
        Scheme::GitHub => "ping",
        Scheme::Shopify => "orders.create",
        _ => "",
    }
}

/// Send a signed sample delivery to a receiver and print its answer.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    hookgate send --scheme clarife --secret whsec_sample --url http://127.0.0.1:3000/hooks/clarife\n  \
    hookgate send --scheme github --secret s3cret --url http://127.0.0.1:3000/hooks/github --event push\n  \
    hookgate send --scheme stripe --secret whsec_test --url http://127.0.0.1:8080/hooks/stripe --body event.json\n\n\
    Without --body, the scheme's sample payload (samples/*.json, from the senders' docs) is sent with a\n\
    fresh id; --event renames its event (`type`, Claravine's event.operation, GitHub's X-GitHub-Event and\n\
    `action`, Shopify's X-Shopify-Topic, Twilio's SMS status: message.delivered, Microsoft Graph's\n\
    kind.changeType or lifecycle.<event>). Twilio's sample is a form, signed with the --url sent to.\n\
    Prints the status line, then the answer's body.\n\
    Exit 0 on a 2xx, 1 on any other answer or when the receiver cannot be reached, 2 on usage errors.\n\n\
    --handshake sends the scheme's handshake (Slack url_verification, Zoom endpoint.url_validation,\n\
    Twitch webhook_callback_verification, Meta GET hub.challenge with --verify-token, Dropbox GET\n\
    challenge, Microsoft Graph validationToken, Discord PING) and exits 0 only when the answer is the one the sender expects:\n  \
    hookgate send --scheme slack --secret s3cret --url http://127.0.0.1:3000/hooks/slack --handshake")]
pub(crate) struct SendArgs {
    #[command(flatten)]
    scheme: SchemeArgs,

    /// The receiver's URL, e.g. http://127.0.0.1:3000/hooks/clarife.
    #[arg(long, value_name = "URL")]
    url: String,

    /// The event to send, as a dotted name (e.g. `document.created`, `template.created`, `push`).
    #[arg(long, value_name = "NAME")]
    event: Option<String>,

    /// Send this body (a file, or `-` for stdin) instead of the sample, as is.
    #[arg(long, value_name = "FILE|-")]
    body: Option<String>,

    /// Delivery id for schemes that carry one (default: a fresh `msg_…`).
    #[arg(long, value_name = "ID")]
    id: Option<String>,

    /// Seconds to wait for the answer.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    timeout: u64,

    /// Send the scheme's handshake instead of an event (slack, zoom, twitch,
    /// meta, dropbox, msgraph, discord), with a fresh challenge; exit 0 only when the receiver
    /// answers it as the sender expects.
    #[arg(long, conflicts_with_all = ["event", "body"])]
    handshake: bool,

    /// Meta's verify token, for `--handshake` with the meta scheme.
    #[arg(long, value_name = "TOKEN", requires = "handshake")]
    verify_token: Option<String>,
}

pub(crate) fn run(args: SendArgs) -> Result<(), Failure> {
    if args.handshake {
        return handshake::send(&args);
    }
    let scheme = args.scheme.scheme;
    let secret = args.scheme.secrets.first().cloned().unwrap_or_default();
    let signer = args.scheme.signer()?;
    let id = args.id.clone().unwrap_or_else(fresh_id);
    let now = input::unix_now();
    let event = args
        .event
        .clone()
        .unwrap_or_else(|| default_event(scheme).to_owned());

    let body = match &args.body {
        Some(path) => input::read_body(path).map_err(Failure::Usage)?,
        None => {
            let sample = sample(scheme).ok_or_else(|| {
                Failure::usage(format!(
                    "there is no sample payload for the {scheme} scheme; give one with --body"
                ))
            })?;
            sample_body(scheme, sample, &id, &event, &secret, now)?
        }
    };
    // The URL sent to is the URL signed, for the schemes that sign it.
    let context = hookgate_verify::RequestContext::new().with_url(&args.url);
    let mut headers = signer
        .sign_with(&id, now, &body, context)
        .map_err(Failure::usage)?;
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(scheme, &body)),
    );
    event_headers(scheme, &event, &mut headers)?;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::usage(format!("cannot start the runtime: {e}")))?;
    let (status, answer) = runtime.block_on(post(
        &args.url,
        headers,
        body,
        Duration::from_secs(args.timeout),
    ))?;
    println!("{status}");
    if !answer.is_empty() {
        println!("{answer}");
    }
    if status.is_success() {
        Ok(())
    } else {
        Err(Failure::Refused(format!("the receiver answered {status}")))
    }
}

async fn post(
    url: &str,
    headers: HeaderMap,
    body: Vec<u8>,
    timeout: Duration,
) -> Result<(http::StatusCode, String), Failure> {
    request(http::Method::POST, url, headers, body, timeout).await
}

async fn request(
    method: http::Method,
    url: &str,
    headers: HeaderMap,
    body: Vec<u8>,
    timeout: Duration,
) -> Result<(http::StatusCode, String), Failure> {
    let client = reqwest::Client::builder()
        .build()
        .map_err(|e| Failure::usage(format!("cannot create the HTTP client: {e}")))?;
    let response = client
        .request(method, url)
        .headers(headers)
        .body(body)
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| {
            let cause = super::with_causes(&e);
            if e.is_builder() {
                Failure::usage(format!(
                    "invalid --url {url:?}: {cause}; give an http:// or https:// URL"
                ))
            } else if e.is_timeout() {
                Failure::Failed(format!(
                    "no answer from {url} within {}s: {cause}; is the receiver overloaded? (--timeout SECS waits longer)",
                    timeout.as_secs()
                ))
            } else if e.is_connect() {
                Failure::Failed(format!(
                    "cannot connect to {url}: {cause}; is the receiver running and listening on that address and port?"
                ))
            } else {
                Failure::Failed(format!("cannot send to {url}: {cause}"))
            }
        })?;
    let status = response.status();
    let answer = response.text().await.unwrap_or_default();
    Ok((status, answer))
}

/// The body's media type: JSON, except Twilio's forms (a Twilio body that
/// opens a JSON object or array is Event Streams JSON).
fn content_type(scheme: Scheme, body: &[u8]) -> &'static str {
    let json = body
        .iter()
        .find(|byte| !byte.is_ascii_whitespace())
        .is_some_and(|byte| matches!(byte, b'{' | b'['));
    if scheme == Scheme::Twilio && !json {
        "application/x-www-form-urlencoded"
    } else {
        "application/json"
    }
}

/// The sample with a fresh id and time, the event asked for, and (for
/// Claravine and Microsoft Graph) the secret in the body, as the sender
/// would send it.
fn sample_body(
    scheme: Scheme,
    sample: &str,
    id: &str,
    event: &str,
    secret: &str,
    now: u64,
) -> Result<Vec<u8>, Failure> {
    if scheme == Scheme::Twilio {
        return twilio_form(sample, id, event);
    }
    let mut value: Value = serde_json::from_str(sample)
        .map_err(|e| Failure::usage(format!("the {scheme} sample is not JSON: {e}")))?;
    let Some(object) = value.as_object_mut() else {
        return Err(Failure::usage(format!(
            "the {scheme} sample is not a JSON object"
        )));
    };
    match scheme {
        Scheme::Clarife | Scheme::Stripe => {
            // These senders' ids are in the body, and receivers deduplicate on them.
            object.insert("id".to_owned(), Value::from(format!("evt_{id}")));
            if !event.is_empty() {
                object.insert("type".to_owned(), Value::from(event));
            }
            if scheme == Scheme::Stripe {
                object.insert("created".to_owned(), Value::from(now));
            }
        }
        Scheme::Standard | Scheme::Svix if !event.is_empty() => {
            object.insert("type".to_owned(), Value::from(event));
        }
        Scheme::Claravine => {
            if !event.is_empty() {
                let (kind, operation) = event.split_once('.').ok_or_else(|| {
                    Failure::usage(format!(
                        "claravine events are named object.operation (e.g. template.created), not {event:?}"
                    ))
                })?;
                object.insert("event".to_owned(), Value::from(kind));
                object.insert("operation".to_owned(), Value::from(operation));
            }
            // Claravine carries no delivery id, so receivers tell deliveries
            // apart by their bytes. Each send is about an object of its own
            // (derived from the delivery id: `--id X` twice is one delivery,
            // as a sender's retry would be), at the time of sending.
            let object_id = uuid_from(id);
            if let Some(Value::String(old)) = object.get("object_id").cloned()
                && let Some(Value::String(href)) = object.get_mut("href")
            {
                *href = href.replace(&old, &object_id);
            }
            object.insert("object_id".to_owned(), Value::from(object_id));
            object.insert("event_time".to_owned(), Value::from(now));
            object.insert("token".to_owned(), Value::from(secret));
        }
        Scheme::Clarity => {
            // Clarity's context fields say nothing unique either: tag the
            // body with the delivery id, for the same reason as Claravine's.
            object.insert("hookgate_send_id".to_owned(), Value::from(id));
        }
        Scheme::GitHub => {
            if let Some((_, action)) = event.split_once('.') {
                object.insert("action".to_owned(), Value::from(action));
            }
        }
        Scheme::Slack => {
            if !event.is_empty()
                && let Some(inner) = object.get_mut("event").and_then(Value::as_object_mut)
            {
                inner.insert("type".to_owned(), Value::from(event));
            }
            object.insert("event_id".to_owned(), Value::from(format!("Ev{id}")));
        }
        Scheme::Paddle => {
            object.insert("event_id".to_owned(), Value::from(format!("evt_{id}")));
            if !event.is_empty() {
                object.insert("event_type".to_owned(), Value::from(event));
            }
        }
        Scheme::Zoom => {
            if !event.is_empty() {
                object.insert("event".to_owned(), Value::from(event));
            }
            object.insert("event_ts".to_owned(), Value::from(now.saturating_mul(1000)));
        }
        Scheme::Twitch => {
            if !event.is_empty()
                && let Some(sub) = object
                    .get_mut("subscription")
                    .and_then(Value::as_object_mut)
            {
                sub.insert("type".to_owned(), Value::from(event));
            }
        }
        Scheme::Linear => {
            // `issue.update`: the entity type (`Issue`) and the action.
            if let Some((kind, action)) = event.split_once('.') {
                object.insert("type".to_owned(), Value::from(camel_case(kind)));
                object.insert("action".to_owned(), Value::from(action));
            }
            object.insert("webhookId".to_owned(), Value::from(id));
            // Linear signs its time in the body; receivers check it (60 s).
            object.insert(
                "webhookTimestamp".to_owned(),
                Value::from(now.saturating_mul(1000)),
            );
        }
        Scheme::MsGraph => graph_notifications(object, event, secret)?,
        Scheme::GitLab if !event.is_empty() => {
            let (kind, action) = event.split_once('.').unwrap_or((event, ""));
            object.insert("object_kind".to_owned(), Value::from(kind));
            object.insert("event_type".to_owned(), Value::from(kind));
            if let Some(attributes) = object
                .get_mut("object_attributes")
                .and_then(Value::as_object_mut)
            {
                if action.is_empty() {
                    attributes.remove("action");
                } else {
                    attributes.insert("action".to_owned(), Value::from(action));
                }
            }
        }
        _ => {}
    }
    let mut body = serde_json::to_vec_pretty(&value)
        .map_err(|e| Failure::usage(format!("cannot write the body: {e}")))?;
    body.push(b'\n');
    Ok(body)
}

/// Twilio's sample SMS as a fresh message (its sids derived from the
/// delivery id, so that `--id X` twice is one message), with the status
/// `--event message.<status>` asks for (`message.received`, the sample's,
/// is an incoming message; another status is a status callback).
fn twilio_form(sample: &str, id: &str, event: &str) -> Result<Vec<u8>, Failure> {
    let status = match event.split_once('.') {
        _ if event.is_empty() => None,
        Some(("message", status)) if !status.is_empty() && !status.contains('.') => Some(status),
        _ => {
            return Err(Failure::usage(format!(
                "the twilio sample is an SMS: --event message.<status> (message.received, \
                 message.delivered ...), not {event:?}; send other requests with --body"
            )));
        }
    };
    let sid = format!("SM{}", uuid_from(id).replace('-', ""));
    let mut params: Vec<(String, String)> = url::form_urlencoded::parse(sample.trim().as_bytes())
        .map(|(name, value)| {
            let value = match name.as_ref() {
                "MessageSid" | "SmsSid" | "SmsMessageSid" => sid.clone(),
                "SmsStatus" => status.unwrap_or(value.as_ref()).to_owned(),
                _ => value.into_owned(),
            };
            (name.into_owned(), value)
        })
        .collect();
    // Status callbacks carry `MessageStatus` beside `SmsStatus`.
    if let Some(status) = status.filter(|status| *status != "received") {
        params.retain(|(name, _)| name != "MessageStatus");
        params.push(("MessageStatus".to_owned(), status.to_owned()));
    }
    Ok(url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish()
        .into_bytes())
}

/// Microsoft Graph's sample: every notification carries the secret as its
/// `clientState` (what the `msgraph` scheme checks), and `--event` names
/// the change (`message.updated`: the `changeType` and the resource's
/// `@odata.type`) or the lifecycle event (`lifecycle.missed`).
fn graph_notifications(
    object: &mut serde_json::Map<String, Value>,
    event: &str,
    secret: &str,
) -> Result<(), Failure> {
    let Some(Value::Array(items)) = object.get_mut("value") else {
        return Err(Failure::usage("the msgraph sample has no `value` list"));
    };
    let named = if event.is_empty() {
        None
    } else {
        Some(event.split_once('.').ok_or_else(|| {
            Failure::usage(format!(
                "msgraph events are named kind.changeType (message.updated) or lifecycle.<event> (lifecycle.missed), not {event:?}"
            ))
        })?)
    };
    for item in items.iter_mut().filter_map(Value::as_object_mut) {
        item.insert("clientState".to_owned(), Value::from(secret));
        match named {
            None => {}
            Some(("lifecycle", lifecycle)) => {
                let mut camel = camel_case(lifecycle);
                if let Some(first) = camel.get_mut(..1) {
                    first.make_ascii_lowercase();
                }
                item.insert("lifecycleEvent".to_owned(), Value::from(camel));
                for field in ["changeType", "resource", "resourceData"] {
                    item.remove(field);
                }
            }
            Some((kind, change)) => {
                item.insert("changeType".to_owned(), Value::from(change));
                if let Some(data) = item.get_mut("resourceData").and_then(Value::as_object_mut) {
                    if kind == "resource" {
                        data.remove("@odata.type");
                    } else {
                        let odata = format!("#Microsoft.Graph.{}", camel_case(kind));
                        data.insert("@odata.type".to_owned(), Value::from(odata));
                    }
                }
            }
        }
    }
    Ok(())
}

/// Headers that name the event, for the senders that name it in a header.
fn event_headers(scheme: Scheme, event: &str, headers: &mut HeaderMap) -> Result<(), Failure> {
    let (name, value) = match scheme {
        Scheme::GitHub => (
            "x-github-event",
            event
                .split_once('.')
                .map_or(event, |(kind, _)| kind)
                .to_owned(),
        ),
        Scheme::Shopify => ("x-shopify-topic", event.replacen('.', "/", 1)),
        Scheme::Linear => (
            "linear-event",
            // The sample's type, `Issue`, unless another was asked for.
            event
                .split_once('.')
                .map_or_else(|| "Issue".to_owned(), |(kind, _)| camel_case(kind)),
        ),
        _ => return Ok(()),
    };
    if value.is_empty() {
        return Ok(());
    }
    let value = HeaderValue::from_str(&value)
        .map_err(|_| Failure::usage(format!("--event {event:?} cannot be sent in a header")))?;
    headers.insert(HeaderName::from_static(name), value);
    Ok(())
}

/// `hookgate send --handshake`: what a sender sends to check an endpoint,
/// and the check of the answer.
mod handshake {
    use std::time::Duration;

    use hookgate_verify::Scheme;
    use http::{HeaderValue, Method};
    use serde_json::{Value, json};

    use super::{Failure, SendArgs, fresh_id, input};

    /// What the receiver must answer.
    enum Expected {
        /// Exactly this body (the challenge).
        Echo(String),
        /// This JSON value.
        Json(Value),
    }

    pub(super) fn send(args: &SendArgs) -> Result<(), Failure> {
        let scheme = args.scheme.scheme;
        // Ed25519 schemes sign with a seed, not the verifier's public key.
        let signer = args.scheme.signer()?;
        let now = input::unix_now();
        let id = args.id.clone().unwrap_or_else(fresh_id);
        // Letters, digits and `_`: what every sender's challenges look like.
        let challenge = format!("hookgate_{}", fresh_id());
        let signed = |body: Value| -> Result<(http::HeaderMap, Vec<u8>), Failure> {
            let body = serde_json::to_vec(&body)
                .map_err(|e| Failure::usage(format!("cannot write the body: {e}")))?;
            let mut headers = signer.sign(&id, now, &body).map_err(Failure::usage)?;
            headers.insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            Ok((headers, body))
        };
        let with_query = |params: &[(&str, &str)]| {
            let query: String = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(params)
                .finish();
            let sep = if args.url.contains('?') { '&' } else { '?' };
            format!("{}{sep}{query}", args.url)
        };
        let (method, url, headers, body, expected) = match scheme {
            Scheme::Slack => {
                let (headers, body) = signed(json!({
                    "token": "hookgate-send", "challenge": challenge, "type": "url_verification"
                }))?;
                let url = args.url.clone();
                (Method::POST, url, headers, body, Expected::Echo(challenge))
            }
            Scheme::Zoom => {
                let (headers, body) = signed(json!({
                    "payload": {"plainToken": challenge},
                    "event_ts": now.saturating_mul(1000),
                    "event": "endpoint.url_validation"
                }))?;
                let encrypted = args
                    .scheme
                    .verifier(None)?
                    .hmac_sha256_hex(challenge.as_bytes())
                    .unwrap_or_default();
                let expected = Expected::Json(json!({
                    "plainToken": challenge, "encryptedToken": encrypted
                }));
                (Method::POST, args.url.clone(), headers, body, expected)
            }
            Scheme::Twitch => {
                let (mut headers, body) = signed(json!({
                    "challenge": challenge,
                    "subscription": {
                        "id": id, "status": "webhook_callback_verification_pending",
                        "type": "channel.follow", "version": "2", "cost": 0,
                        "condition": {"broadcaster_user_id": "1337", "moderator_user_id": "1337"},
                        "transport": {"method": "webhook", "callback": args.url}
                    }
                }))?;
                headers.insert(
                    "twitch-eventsub-message-type",
                    HeaderValue::from_static("webhook_callback_verification"),
                );
                let url = args.url.clone();
                (Method::POST, url, headers, body, Expected::Echo(challenge))
            }
            Scheme::Meta => {
                let token = args.verify_token.as_deref().ok_or_else(|| {
                    Failure::usage("the meta handshake needs --verify-token TOKEN (the verify token set in Meta's dashboard)")
                })?;
                let url = with_query(&[
                    ("hub.mode", "subscribe"),
                    ("hub.challenge", &challenge),
                    ("hub.verify_token", token),
                ]);
                let headers = http::HeaderMap::new();
                (
                    Method::GET,
                    url,
                    headers,
                    Vec::new(),
                    Expected::Echo(challenge),
                )
            }
            Scheme::Dropbox => {
                let url = with_query(&[("challenge", &challenge)]);
                let headers = http::HeaderMap::new();
                (
                    Method::GET,
                    url,
                    headers,
                    Vec::new(),
                    Expected::Echo(challenge),
                )
            }
            Scheme::MsGraph => {
                let url = with_query(&[("validationToken", &challenge)]);
                let mut headers = http::HeaderMap::new();
                headers.insert(
                    http::header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain"),
                );
                let expected = Expected::Echo(challenge);
                (Method::POST, url, headers, Vec::new(), expected)
            }
            Scheme::Discord => {
                let (headers, body) = signed(json!({
                    "id": id, "application_id": "hookgate-send", "type": 1, "version": 1
                }))?;
                let expected = Expected::Json(json!({"type": 1}));
                (Method::POST, args.url.clone(), headers, body, expected)
            }
            other => {
                return Err(Failure::usage(format!(
                    "hookgate send knows no handshake of the {other} scheme; it sends those of slack, zoom, twitch, meta, dropbox, msgraph and discord"
                )));
            }
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Failure::usage(format!("cannot start the runtime: {e}")))?;
        let (status, answer) = runtime.block_on(super::request(
            method,
            &url,
            headers,
            body,
            Duration::from_secs(args.timeout),
        ))?;
        println!("{status}");
        if !answer.is_empty() {
            println!("{answer}");
        }
        if !status.is_success() {
            return Err(Failure::Refused(format!("the receiver answered {status}")));
        }
        let right = match &expected {
            Expected::Echo(challenge) => answer == *challenge,
            Expected::Json(value) => {
                serde_json::from_str::<Value>(&answer).is_ok_and(|got| got == *value)
            }
        };
        if right {
            Ok(())
        } else {
            Err(Failure::Refused(format!(
                "the receiver answered {status} but not what the {scheme} handshake expects"
            )))
        }
    }
}

/// `issue_label` as `IssueLabel`: Linear's entity types from the snake_case
/// segment of an event name (the reverse of hookgate-events' naming).
fn camel_case(snake: &str) -> String {
    snake
        .split('_')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect()
}

/// A UUID (version 4 layout, variant 1) that is a function of `id`: FNV-1a
/// over the id, spread over 128 bits. Not random, and not meant to be: the
/// same `--id` gives the same object.
fn uuid_from(id: &str) -> String {
    let mut hash: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    for byte in id.bytes() {
        hash ^= u128::from(byte);
        hash = hash.wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013b);
    }
    let bytes = ((hash & !(0xf << 76) & !(0x3 << 62)) | (0x4 << 76) | (0x2 << 62)).to_be_bytes();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// A delivery id unique across quick successive runs: time in nanoseconds
/// and the process id.
fn fresh_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos());
    format!("msg_{nanos:x}{:x}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hookgate_events::Sender;
    use hookgate_verify::{Signer, Verifier};

    fn secret_for(scheme: Scheme) -> &'static str {
        match scheme {
            Scheme::Standard | Scheme::Svix => "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            _ => "client-secret",
        }
    }

    #[test]
    fn every_sample_is_signed_verifiable_and_names_the_event_asked_for() {
        let cases = [
            (Scheme::Standard, "invoice.paid", Some(Sender::Standard)),
            (
                Scheme::Svix,
                "listing.subscription.cancelled",
                Some(Sender::Svix),
            ),
            (Scheme::Clarife, "document.created", Some(Sender::Clarife)),
            (Scheme::Stripe, "customer.created", Some(Sender::Stripe)),
            (Scheme::GitHub, "pull_request.opened", Some(Sender::GitHub)),
            (Scheme::Slack, "message", Some(Sender::Slack)),
            (Scheme::Shopify, "orders.create", Some(Sender::Shopify)),
            (
                Scheme::Claravine,
                "template.created",
                Some(Sender::Claravine),
            ),
            (Scheme::Clarity, "", None),
            (
                Scheme::Paddle,
                "subscription.canceled",
                Some(Sender::Paddle),
            ),
            (Scheme::Linear, "issue_label.remove", Some(Sender::Linear)),
            (Scheme::Zoom, "meeting.ended", Some(Sender::Zoom)),
            (Scheme::Twitch, "stream.online", Some(Sender::Twitch)),
            (
                Scheme::Meta,
                "whatsapp_business_account.messages",
                Some(Sender::Meta),
            ),
            (Scheme::GitLab, "merge_request.merge", Some(Sender::GitLab)),
            (Scheme::GitLab, "push", Some(Sender::GitLab)),
            (
                Scheme::Dropbox,
                "list_folder.changed",
                Some(Sender::Dropbox),
            ),
            (Scheme::MsGraph, "message.created", Some(Sender::MsGraph)),
            (Scheme::MsGraph, "event.deleted", Some(Sender::MsGraph)),
            (Scheme::MsGraph, "resource.updated", Some(Sender::MsGraph)),
            (
                Scheme::MsGraph,
                "lifecycle.reauthorization_required",
                Some(Sender::MsGraph),
            ),
            (Scheme::Twilio, "message.received", Some(Sender::Twilio)),
            (Scheme::Twilio, "message.delivered", Some(Sender::Twilio)),
        ];
        let url = "https://hooks.example.com/hooks/twilio?source=test";
        let context = hookgate_verify::RequestContext::new().with_url(url);
        for (scheme, event, sender) in cases {
            let secret = secret_for(scheme);
            let now = 1_774_699_200;
            let body = sample_body(scheme, sample(scheme).unwrap(), "msg_1", event, secret, now)
                .unwrap_or_else(|f| panic!("{scheme}: {f:?}"));
            let mut headers = Signer::new(scheme, secret)
                .unwrap()
                .sign_with("msg_1", now, &body, context)
                .unwrap();
            event_headers(scheme, event, &mut headers).unwrap();
            let verifier = Verifier::new(scheme, secret).unwrap();
            verifier
                .verify_with_at(
                    &headers,
                    &body,
                    context,
                    UNIX_EPOCH + Duration::from_secs(now),
                )
                .unwrap_or_else(|e| panic!("{scheme}: {e}"));
            if let Some(sender) = sender {
                let name = sender
                    .event_name(&headers, &body)
                    .unwrap_or_else(|e| panic!("{scheme}: {e}"));
                assert_eq!(name.as_str(), event, "{scheme}");
            }
        }
    }

    #[test]
    fn twilio_sends_a_fresh_form_and_refuses_events_its_sample_cannot_be() {
        let sample = sample(Scheme::Twilio).unwrap();
        let body = |id, event| sample_body(Scheme::Twilio, sample, id, event, "s", 1);
        let first = body("a", "").unwrap();
        assert_ne!(first, body("b", "").unwrap());
        assert_eq!(
            first,
            body("a", "").unwrap(),
            "the same --id is the same message"
        );
        assert_eq!(
            content_type(Scheme::Twilio, &first),
            "application/x-www-form-urlencoded"
        );
        assert_eq!(content_type(Scheme::Twilio, b" [{}]"), "application/json");
        let params: Vec<(String, String)> =
            url::form_urlencoded::parse(&first).into_owned().collect();
        let get = |name: &str| {
            params
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("Body"), Some("Hello from Twilio! Ça va? 👋"));
        let sid = get("MessageSid").unwrap();
        assert!(sid.starts_with("SM") && sid.len() == 34, "{sid}");
        assert_eq!(get("SmsSid"), Some(sid));
        assert_eq!(get("MessageStatus"), None);
        let delivered = body("a", "message.delivered").unwrap();
        let delivered = String::from_utf8(delivered).unwrap();
        assert!(delivered.contains("&SmsStatus=delivered&"), "{delivered}");
        assert!(
            delivered.ends_with("&MessageStatus=delivered"),
            "{delivered}"
        );
        for event in ["call.completed", "message", "message.", "message.a.b"] {
            assert!(body("a", event).is_err(), "{event}");
        }
    }

    #[test]
    fn ids_in_bodies_are_fresh_so_two_sends_are_two_deliveries() {
        let first = sample_body(
            Scheme::Clarife,
            sample(Scheme::Clarife).unwrap(),
            "a",
            "",
            "s",
            1,
        )
        .unwrap();
        let second = sample_body(
            Scheme::Clarife,
            sample(Scheme::Clarife).unwrap(),
            "b",
            "",
            "s",
            1,
        )
        .unwrap();
        assert_ne!(first, second);
        let value: Value = serde_json::from_slice(&first).unwrap();
        assert_eq!(value["id"], "evt_a");
        assert_eq!(
            value["type"], "document.updated",
            "the sample's own event by default"
        );
    }

    #[test]
    fn bodies_without_an_id_field_differ_per_delivery_id_within_one_second() {
        for scheme in [Scheme::Claravine, Scheme::Clarity] {
            let body = |id| sample_body(scheme, sample(scheme).unwrap(), id, "", "s", 7).unwrap();
            assert_ne!(body("a"), body("b"), "{scheme}");
            assert_eq!(
                body("a"),
                body("a"),
                "{scheme}: the same --id is the same delivery"
            );
        }
        let value: Value = serde_json::from_slice(
            &sample_body(
                Scheme::Claravine,
                sample(Scheme::Claravine).unwrap(),
                "a",
                "",
                "s",
                7,
            )
            .unwrap(),
        )
        .unwrap();
        let object_id = value["object_id"].as_str().unwrap();
        let parsed = uuid::Uuid::parse_str(object_id).unwrap();
        assert_eq!(parsed.get_version_num(), 4);
        assert!(
            value["href"]
                .as_str()
                .unwrap()
                .ends_with(&format!("/{object_id}/data"))
        );
    }

    #[test]
    fn a_claravine_event_must_be_object_dot_operation() {
        let err = sample_body(
            Scheme::Claravine,
            sample(Scheme::Claravine).unwrap(),
            "a",
            "template",
            "s",
            1,
        )
        .unwrap_err();
        assert!(matches!(err, Failure::Usage(m) if m.contains("template.created")));
    }
}
