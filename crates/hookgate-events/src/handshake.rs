//! The handshake messages senders send before (or while) they deliver
//! events: a receiver answers them synchronously, and never queues them.
//!
//! Each type recognises its message and checks the one value a receiver
//! echoes back (the challenge or token) with [`check_echo`]: at most
//! [`MAX_ECHO_LEN`] bytes of visible ASCII or spaces, so that echoing it
//! can neither smuggle markup nor control characters nor a large body.
//!
//! | Sender | Message | Answer |
//! |---|---|---|
//! | Slack | [`SlackUrlVerification`] (signed `POST`) | the challenge |
//! | Zoom | [`ZoomUrlValidation`] (signed `POST`) | `{"plainToken","encryptedToken"}` |
//! | Twitch | [`TwitchCallbackVerification`] (signed `POST`) | the challenge |
//! | Discord | [`DiscordPing`] (signed `POST`) | `{"type":1}` |
//! | Meta | [`MetaSubscribe`] (`GET`, verify token) | the challenge |
//! | Dropbox | [`DropboxChallenge`] (`GET`) | the challenge |
//! | Microsoft Graph | [`GraphValidation`] (`POST ?validationToken=`) | the token |
//!
//! ```
//! use hookgate_events::{JsonBody, MetaSubscribe, SlackUrlVerification};
//!
//! let body = JsonBody::new(br#"{"token":"legacy","challenge":"3eZbrw1aBm2rZgRN","type":"url_verification"}"#);
//! let message = SlackUrlVerification::from_json(&body).expect("a url_verification")?;
//! assert_eq!(message.challenge, "3eZbrw1aBm2rZgRN");
//!
//! let query = "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=meatyhamhock";
//! let subscribe = MetaSubscribe::from_query(query).expect("a subscription")?;
//! assert_eq!(subscribe.challenge, "1158201444");
//! assert_eq!(subscribe.verify_token.expose(), "meatyhamhock");
//!
//! // What would be echoed is checked: no markup, no control characters.
//! let hostile = "hub.mode=subscribe&hub.challenge=%3Cscript%3E%0A&hub.verify_token=t";
//! assert!(MetaSubscribe::from_query(hostile).expect("a subscription").is_err());
//! # Ok::<(), hookgate_events::InvalidHandshake>(())
//! ```

use std::fmt;

use http::HeaderMap;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{JsonBody, Token};

/// The longest value a receiver echoes back: 1024 bytes (Microsoft Graph's
/// validation tokens, the longest, are a few hundred).
pub const MAX_ECHO_LEN: usize = 1024;

/// A message that is a handshake, but not one that can be answered: a
/// missing or malformed field, or a value that may not be echoed. Its
/// message never quotes the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {message} handshake: {reason}")]
pub struct InvalidHandshake {
    message: &'static str,
    reason: &'static str,
}

impl InvalidHandshake {
    fn new(message: &'static str, reason: &'static str) -> Self {
        Self { message, reason }
    }

    /// The message at fault (`url_verification`, `hub.challenge` ...).
    pub fn message(&self) -> &'static str {
        self.message
    }

    /// What is wrong with it.
    pub fn reason(&self) -> &'static str {
        self.reason
    }
}

/// Checks a value that a receiver will echo back to the sender: 1 to
/// [`MAX_ECHO_LEN`] bytes, each a visible ASCII character or a space.
///
/// Senders' challenges and tokens are all of that shape; anything else is
/// refused rather than escaped, because the sender compares the echo byte
/// for byte.
///
/// ```
/// use hookgate_events::check_echo;
///
/// assert!(check_echo("Validation: Testing client application reachability").is_ok());
/// assert!(check_echo("").is_err());
/// assert!(check_echo("two\nlines").is_err());
/// assert!(check_echo("<b>").is_err());
/// assert!(check_echo(&"x".repeat(1025)).is_err());
/// ```
pub fn check_echo(value: &str) -> Result<(), &'static str> {
    if value.is_empty() {
        return Err("the value to echo is empty");
    }
    if value.len() > MAX_ECHO_LEN {
        return Err("the value to echo is longer than 1024 bytes");
    }
    // Markup characters are refused too: an echo is sent as text/plain with
    // nosniff, but a browser or proxy that ignores both must find no markup.
    if value
        .bytes()
        .any(|b| !(0x20..0x7f).contains(&b) || matches!(b, b'<' | b'>' | b'"' | b'\'' | b'&'))
    {
        return Err("the value to echo has characters other than visible ASCII");
    }
    Ok(())
}

/// A JSON string member of `body`, `None` when absent.
fn string_member(
    body: &JsonBody<'_>,
    key: &'static str,
    message: &'static str,
) -> Result<Option<String>, InvalidHandshake> {
    match body.member(key) {
        None | Some("null") => Ok(None),
        Some(raw) => serde_json::from_str::<String>(raw)
            .map(Some)
            .map_err(|_| InvalidHandshake::new(message, "a field is not a string")),
    }
}

fn echoable(value: String, message: &'static str) -> Result<String, InvalidHandshake> {
    check_echo(&value).map_err(|reason| InvalidHandshake::new(message, reason))?;
    Ok(value)
}

/// Slack's `url_verification`: `{"type":"url_verification","challenge":C,"token":T}`,
/// signed like any Events API request. Answered with `C`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SlackUrlVerification {
    /// The challenge to echo (checked by [`check_echo`]).
    pub challenge: String,
    /// The deprecated verification token, if sent; never printed.
    pub token: Option<Token>,
}

impl SlackUrlVerification {
    /// `None` when `body` is not a `url_verification` message; an error when
    /// it is one without a challenge that can be echoed.
    pub fn from_json(body: &JsonBody<'_>) -> Option<Result<Self, InvalidHandshake>> {
        const MESSAGE: &str = "url_verification";
        if body.member("type")? != "\"url_verification\"" {
            return None;
        }
        Some((|| {
            let challenge = string_member(body, "challenge", MESSAGE)?
                .ok_or(InvalidHandshake::new(MESSAGE, "challenge is missing"))?;
            let token = string_member(body, "token", MESSAGE)?.map(Token::new);
            Ok(Self {
                challenge: echoable(challenge, MESSAGE)?,
                token,
            })
        })())
    }
}

/// Zoom's `endpoint.url_validation`:
/// `{"event":"endpoint.url_validation","payload":{"plainToken":P},"event_ts":…}`,
/// signed like any Zoom event. Answered with
/// `{"plainToken":P,"encryptedToken":hex(HMAC-SHA256(secret,P))}`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ZoomUrlValidation {
    /// The token to echo and sign (checked by [`check_echo`]).
    pub plain_token: String,
    /// When Zoom sent it, in Unix milliseconds.
    pub event_ts: Option<i64>,
}

impl ZoomUrlValidation {
    /// `None` when `body` is not an `endpoint.url_validation` event; an
    /// error when it is one without a `payload.plainToken` that can be echoed.
    pub fn from_json(body: &JsonBody<'_>) -> Option<Result<Self, InvalidHandshake>> {
        const MESSAGE: &str = "endpoint.url_validation";
        if body.member("event")? != "\"endpoint.url_validation\"" {
            return None;
        }
        #[derive(Deserialize)]
        struct Payload {
            #[serde(rename = "plainToken")]
            plain_token: String,
        }
        Some((|| {
            let payload = body
                .member("payload")
                .ok_or(InvalidHandshake::new(MESSAGE, "payload is missing"))?;
            // An object only: serde's derived struct would also read a JSON
            // array (`"payload":["tok"]`) as `plainToken`, a token that a
            // JSON reader of the same body does not see there (what the
            // handshakes fuzz target's check against serde_json flags).
            if !payload.trim_start().starts_with('{') {
                return Err(InvalidHandshake::new(MESSAGE, "payload is not an object"));
            }
            let payload: Payload = serde_json::from_str(payload).map_err(|_| {
                InvalidHandshake::new(MESSAGE, "payload.plainToken is missing or not a string")
            })?;
            let event_ts = body
                .member("event_ts")
                .and_then(|raw| serde_json::from_str(raw).ok());
            Ok(Self {
                plain_token: echoable(payload.plain_token, MESSAGE)?,
                event_ts,
            })
        })())
    }
}

/// The `Twitch-Eventsub-Message-Type` header.
pub const TWITCH_MESSAGE_TYPE: &str = "twitch-eventsub-message-type";

/// Twitch EventSub's `webhook_callback_verification` (header
/// `Twitch-Eventsub-Message-Type`), signed like any notification:
/// `{"challenge":C,"subscription":{…}}`. Answered with `C` as `text/plain`.
/// (`revocation` messages are events, delivered as such.)
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TwitchCallbackVerification {
    /// The challenge to echo (checked by [`check_echo`]).
    pub challenge: String,
    /// The subscription being verified, as sent (`id`, `type`, `version`,
    /// `condition`, `transport` ...).
    pub subscription: Map<String, Value>,
}

impl TwitchCallbackVerification {
    /// `None` when the message type header is not
    /// `webhook_callback_verification`; an error when the body has no
    /// challenge that can be echoed.
    pub fn from_delivery(
        headers: &HeaderMap,
        body: &JsonBody<'_>,
    ) -> Option<Result<Self, InvalidHandshake>> {
        const MESSAGE: &str = "webhook_callback_verification";
        let kind = headers.get(TWITCH_MESSAGE_TYPE)?;
        if !kind.as_bytes().eq_ignore_ascii_case(MESSAGE.as_bytes()) {
            return None;
        }
        Some((|| {
            let challenge = string_member(body, "challenge", MESSAGE)?
                .ok_or(InvalidHandshake::new(MESSAGE, "challenge is missing"))?;
            let subscription = body
                .member("subscription")
                .and_then(|raw| serde_json::from_str(raw).ok())
                .unwrap_or_default();
            Ok(Self {
                challenge: echoable(challenge, MESSAGE)?,
                subscription,
            })
        })())
    }
}

/// Discord's interaction `PING` (`{"type":1,…}`, Ed25519-signed), sent when
/// an interactions endpoint URL is saved. Answered with `{"type":1}`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DiscordPing {
    /// The interaction id.
    pub id: Option<String>,
    /// The application the endpoint belongs to.
    pub application_id: Option<String>,
}

impl DiscordPing {
    /// The body of the answer: `{"type":1}` (a `PONG`).
    pub const PONG: &'static str = r#"{"type":1}"#;

    /// `None` when `body` is not an interaction of type 1.
    pub fn from_json(body: &JsonBody<'_>) -> Option<Self> {
        if body.member("type")?.trim() != "1" {
            return None;
        }
        let text = |key| {
            body.member(key)
                .and_then(|raw| serde_json::from_str::<String>(raw).ok())
        };
        Some(Self {
            id: text("id"),
            application_id: text("application_id"),
        })
    }
}

/// The value of the query parameter `key` (decoded), the first if repeated;
/// at most 16 parameters are looked at, so a long query costs nothing more.
fn query_param(query: &str, key: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .take(16)
        .find(|(name, _)| name == key)
        .map(|(_, value)| value.into_owned())
}

/// Meta's (Facebook, Instagram, WhatsApp) subscription check:
/// `GET ?hub.mode=subscribe&hub.verify_token=T&hub.challenge=C`. Answered
/// with `C` when `T` is the source's verify token, 403 otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MetaSubscribe {
    /// `hub.mode`: `subscribe`.
    pub mode: String,
    /// `hub.verify_token`, to compare (in constant time) with the source's; never printed.
    pub verify_token: Token,
    /// `hub.challenge`, the value to echo (checked by [`check_echo`]).
    pub challenge: String,
}

impl MetaSubscribe {
    /// `None` when the query has no `hub.mode`; an error when it is not
    /// `subscribe`, or a parameter is missing, or the challenge may not be echoed.
    pub fn from_query(query: &str) -> Option<Result<Self, InvalidHandshake>> {
        const MESSAGE: &str = "hub.challenge";
        let mode = query_param(query, "hub.mode")?;
        Some((|| {
            if mode != "subscribe" {
                return Err(InvalidHandshake::new(MESSAGE, "hub.mode is not subscribe"));
            }
            let verify_token = query_param(query, "hub.verify_token").ok_or(
                InvalidHandshake::new(MESSAGE, "hub.verify_token is missing"),
            )?;
            let challenge = query_param(query, "hub.challenge")
                .ok_or(InvalidHandshake::new(MESSAGE, "hub.challenge is missing"))?;
            Ok(Self {
                mode,
                verify_token: Token::new(verify_token),
                challenge: echoable(challenge, MESSAGE)?,
            })
        })())
    }
}

/// Dropbox's endpoint check: `GET ?challenge=C`, answered with `C` as
/// `text/plain` with `X-Content-Type-Options: nosniff`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DropboxChallenge {
    /// The challenge to echo (checked by [`check_echo`]).
    pub challenge: String,
}

impl DropboxChallenge {
    /// `None` when the query has no `challenge`; an error when it may not be echoed.
    pub fn from_query(query: &str) -> Option<Result<Self, InvalidHandshake>> {
        let challenge = query_param(query, "challenge")?;
        Some(echoable(challenge, "challenge").map(|challenge| Self { challenge }))
    }
}

/// Microsoft Graph's subscription validation: `POST ?validationToken=T`
/// (empty body), answered within 10 seconds with the decoded `T` as
/// `text/plain`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GraphValidation {
    /// The decoded token to echo (checked by [`check_echo`]).
    pub validation_token: String,
}

impl GraphValidation {
    /// `None` when the query has no `validationToken`; an error when it may not be echoed.
    pub fn from_query(query: &str) -> Option<Result<Self, InvalidHandshake>> {
        let token = query_param(query, "validationToken")?;
        Some(echoable(token, "validationToken").map(|validation_token| Self { validation_token }))
    }
}

/// Any handshake message, for tools that show what a request is
/// (`hookgate inspect`).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum HandshakeMessage {
    /// Slack's `url_verification`.
    Slack(SlackUrlVerification),
    /// Zoom's `endpoint.url_validation`.
    Zoom(ZoomUrlValidation),
    /// Twitch's `webhook_callback_verification`.
    Twitch(TwitchCallbackVerification),
    /// Discord's `PING`.
    Discord(DiscordPing),
    /// Meta's `hub.mode=subscribe`.
    Meta(MetaSubscribe),
    /// Dropbox's `challenge`.
    Dropbox(DropboxChallenge),
    /// Microsoft Graph's `validationToken`.
    Graph(GraphValidation),
}

impl HandshakeMessage {
    /// The message's name, as a sender's documentation calls it.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Slack(_) => "url_verification",
            Self::Zoom(_) => "endpoint.url_validation",
            Self::Twitch(_) => "webhook_callback_verification",
            Self::Discord(_) => "ping",
            Self::Meta(_) => "hub.subscribe",
            Self::Dropbox(_) => "challenge",
            Self::Graph(_) => "validation_token",
        }
    }
}

impl fmt::Display for HandshakeMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What [`HandshakeMessage`] serializes as: its name and the echoed value
/// (never a token).
impl Serialize for HandshakeMessage {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;
        let echo = match self {
            Self::Slack(m) => Some(m.challenge.as_str()),
            Self::Zoom(m) => Some(m.plain_token.as_str()),
            Self::Twitch(m) => Some(m.challenge.as_str()),
            Self::Discord(_) => None,
            Self::Meta(m) => Some(m.challenge.as_str()),
            Self::Dropbox(m) => Some(m.challenge.as_str()),
            Self::Graph(m) => Some(m.validation_token.as_str()),
        };
        let mut s = serializer.serialize_struct("HandshakeMessage", 2)?;
        s.serialize_field("handshake", self.name())?;
        s.serialize_field("echo", &echo)?;
        s.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_url_verification_is_recognised_and_checked() {
        let body = JsonBody::new(br#"{"type":"event_callback","challenge":"x"}"#);
        assert!(SlackUrlVerification::from_json(&body).is_none());
        let body = JsonBody::new(br#"{"type":"url_verification"}"#);
        let err = SlackUrlVerification::from_json(&body).unwrap().unwrap_err();
        assert_eq!(err.reason(), "challenge is missing");
        let body = JsonBody::new(br#"{"type":"url_verification","challenge":7}"#);
        assert!(SlackUrlVerification::from_json(&body).unwrap().is_err());
        let body = JsonBody::new(br#"{"type":"url_verification","challenge":"a\u0000b"}"#);
        let err = SlackUrlVerification::from_json(&body).unwrap().unwrap_err();
        assert!(!err.to_string().contains('\0'));
        let body = JsonBody::new(br#"{"type":"url_verification","challenge":"c","token":"t"}"#);
        let ok = SlackUrlVerification::from_json(&body).unwrap().unwrap();
        assert_eq!(ok.challenge, "c");
        assert_eq!(format!("{ok:?}").matches("[redacted]").count(), 1);
    }

    #[test]
    fn zoom_url_validation_reads_the_plain_token() {
        let body = JsonBody::new(
            br#"{"payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event_ts":1654503849680,"event":"endpoint.url_validation"}"#,
        );
        let ok = ZoomUrlValidation::from_json(&body).unwrap().unwrap();
        assert_eq!(ok.plain_token, "qgg8vlvZRS6UYooatFL8Aw");
        assert_eq!(ok.event_ts, Some(1_654_503_849_680));
        let other = JsonBody::new(br#"{"event":"meeting.started","payload":{}}"#);
        assert!(ZoomUrlValidation::from_json(&other).is_none());
        let bad = JsonBody::new(br#"{"event":"endpoint.url_validation","payload":{}}"#);
        assert!(ZoomUrlValidation::from_json(&bad).unwrap().is_err());
        // A payload that is an array has no `plainToken` (serde's derived
        // struct read the array's first string; fuzz/ handshakes target).
        let array = JsonBody::new(br#"{"event":"endpoint.url_validation","payload":["tok"]}"#);
        let err = ZoomUrlValidation::from_json(&array).unwrap().unwrap_err();
        assert_eq!(err.reason(), "payload is not an object");
    }

    #[test]
    fn twitch_verification_needs_its_header() {
        let body = JsonBody::new(
            br#"{"challenge":"pogchamp-kappa-360noscope-vohiyo","subscription":{"id":"f1c2","type":"channel.follow","version":"1"}}"#,
        );
        assert!(TwitchCallbackVerification::from_delivery(&HeaderMap::new(), &body).is_none());
        let mut headers = HeaderMap::new();
        headers.insert(TWITCH_MESSAGE_TYPE, "notification".parse().unwrap());
        assert!(TwitchCallbackVerification::from_delivery(&headers, &body).is_none());
        headers.insert(
            TWITCH_MESSAGE_TYPE,
            "webhook_callback_verification".parse().unwrap(),
        );
        let ok = TwitchCallbackVerification::from_delivery(&headers, &body)
            .unwrap()
            .unwrap();
        assert_eq!(ok.challenge, "pogchamp-kappa-360noscope-vohiyo");
        assert_eq!(ok.subscription["type"], "channel.follow");
    }

    #[test]
    fn discord_ping_is_type_1_only() {
        let ping = JsonBody::new(br#"{"type":1,"id":"123","application_id":"456","version":1}"#);
        let ok = DiscordPing::from_json(&ping).unwrap();
        assert_eq!(ok.application_id.as_deref(), Some("456"));
        let command = JsonBody::new(br#"{"type":2,"id":"123"}"#);
        assert!(DiscordPing::from_json(&command).is_none());
        assert!(DiscordPing::from_json(&JsonBody::new(b"[1]")).is_none());
    }

    #[test]
    fn query_handshakes_are_decoded_and_checked() {
        let graph = "validationToken=Validation%3A+Testing+client+application+reachability+for+subscription+Request-Id%3A+5e1d8c7f";
        let ok = GraphValidation::from_query(graph).unwrap().unwrap();
        assert_eq!(
            ok.validation_token,
            "Validation: Testing client application reachability for subscription Request-Id: 5e1d8c7f"
        );
        assert!(GraphValidation::from_query("other=1").is_none());
        assert!(
            GraphValidation::from_query("validationToken=%E2%80%AE")
                .unwrap()
                .is_err()
        );
        let ok = DropboxChallenge::from_query("challenge=abc123")
            .unwrap()
            .unwrap();
        assert_eq!(ok.challenge, "abc123");
        assert!(DropboxChallenge::from_query("challenge=").unwrap().is_err());
        let long = format!("challenge={}", "a".repeat(MAX_ECHO_LEN + 1));
        assert!(DropboxChallenge::from_query(&long).unwrap().is_err());
        let meta = "hub.mode=unsubscribe&hub.challenge=1&hub.verify_token=t";
        assert_eq!(
            MetaSubscribe::from_query(meta)
                .unwrap()
                .unwrap_err()
                .reason(),
            "hub.mode is not subscribe"
        );
        assert!(
            MetaSubscribe::from_query("hub.mode=subscribe&hub.challenge=1")
                .unwrap()
                .is_err()
        );
        assert!(MetaSubscribe::from_query("challenge=1").is_none());
    }

    #[test]
    fn a_message_serializes_without_its_token() {
        let meta = MetaSubscribe::from_query(
            "hub.mode=subscribe&hub.challenge=42&hub.verify_token=sesame",
        )
        .unwrap()
        .unwrap();
        let json = serde_json::to_string(&HandshakeMessage::Meta(meta)).unwrap();
        assert_eq!(json, r#"{"handshake":"hub.subscribe","echo":"42"}"#);
    }

    proptest::proptest! {
        #[test]
        fn an_accepted_echo_is_always_safe(value in ".{0,1100}") {
            if check_echo(&value).is_ok() {
                proptest::prop_assert!(value.len() <= MAX_ECHO_LEN);
                proptest::prop_assert!(value.bytes().all(|b| (0x20..0x7f).contains(&b) && !b"<>\"'&".contains(&b)));
            }
        }

        #[test]
        fn query_parsing_never_panics(query in "\\PC{0,200}") {
            let _ = MetaSubscribe::from_query(&query);
            let _ = DropboxChallenge::from_query(&query);
            let _ = GraphValidation::from_query(&query);
        }
    }
}
