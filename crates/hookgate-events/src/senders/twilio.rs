//! Twilio: form-encoded webhooks (messaging, voice ...) and JSON ones
//! (Event Streams).

use http::HeaderMap;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{header, joined};
use crate::error::{ParseErrorKind, from_body};
use crate::json::JsonBody;
use crate::{Event, EventName, FromDelivery, ParseError, Sender};

/// The header Twilio repeats on every retry of a request.
const IDEMPOTENCY_TOKEN: &str = "i-twilio-idempotency-token";

/// The prefix of Twilio's CloudEvents types, left out of event names.
const CLOUD_EVENT_PREFIX: &str = "com.twilio.";

/// A Twilio webhook request: what it is about, its status, and its
/// parameters (or JSON body) as `D`.
///
/// Most Twilio webhooks (an incoming SMS or call, a status callback, a
/// recording ...) are `application/x-www-form-urlencoded` forms; Event
/// Streams' webhook sinks post JSON (CloudEvents, in a batch), signed
/// through the `bodySHA256` of the URL. A body whose first character other
/// than white space is `{` or `[` is read as JSON, any other as a form: a
/// form's names and values are percent-decoded (`+` is a space; bytes that
/// are not UTF-8 become U+FFFD), in one pass over the body, and the payload
/// is the JSON object of its parameters. A form holds no raw space, control
/// or non-ASCII byte: a body with one is refused (it is not what Twilio
/// sends).
///
/// Twilio's signature covers the parameters sorted, each exact repeat of a
/// name and value counted once: their order and such repeats are not
/// signed, so nothing read here depends on them. A name sent with several
/// different values holds the array of those values, sorted (exact repeats
/// once); a naming parameter (below) whose non-empty values disagree names
/// nothing.
///
/// The event name, for a form, is the first rule that applies:
///
/// | parameters | event name |
/// |---|---|
/// | `EventType` (TaskRouter, Conversations) | as sent: `task.created`, `onMessageAdded` |
/// | `TranscriptionSid` | `transcription.<TranscriptionStatus>` |
/// | `RecordingSid` | `recording.<RecordingStatus>`: `recording.completed` |
/// | `ConferenceSid` and `StatusCallbackEvent` | `conference.<StatusCallbackEvent>`: `conference.participant-join` |
/// | `MessageSid`, `SmsSid` or `SmsMessageSid` | `message.<MessageStatus or SmsStatus>`: `message.received` (an incoming message), `message.delivered` |
/// | `CallSid` | `call.<CallStatus>`: `call.ringing` (an incoming call), `call.completed`, `call.no-answer` |
/// | none of these | `webhook` (not [known](Event::is_known)) |
///
/// (a missing status leaves the bare kind: `message`). For JSON, the
/// CloudEvent's `type` (the first one of a batch) without `com.twilio.`:
/// `com.twilio.messaging.message.delivered` is
/// `messaging.message.delivered`; JSON without one is `webhook`.
///
/// The event id is `I-Twilio-Idempotency-Token`, the same on every retry
/// of a request; without it, the `id` of a single CloudEvent.
///
/// ```
/// use hookgate_events::{Event, FromDelivery, TwilioEvent};
///
/// let body = b"ToCountry=US&SmsMessageSid=SM2c1d7a3e4b5f60718293a4b5c6d7e8f9&SmsStatus=received\
///     &Body=Hello+from+Twilio%21&To=%2B15005550006&From=%2B14155238886\
///     &MessageSid=SM2c1d7a3e4b5f60718293a4b5c6d7e8f9&AccountSid=AC3f8e2b1c4d5a69788796a5b4c3d2e1f0";
/// let event: TwilioEvent = TwilioEvent::from_delivery(&http::HeaderMap::new(), body)?;
/// assert_eq!(event.event_name(), "message.received");
/// assert_eq!(event.payload["Body"], "Hello from Twilio!");
/// assert_eq!(event.payload["From"], "+14155238886");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TwilioEvent<D = Value> {
    /// How the body was encoded.
    pub format: TwilioFormat,
    /// What the request is about: `message`, `call`, `recording`,
    /// `transcription`, `conference`, an `EventType` or a CloudEvent type
    /// (without `com.twilio.`) as sent; `None` when nothing names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Its status, for a form: `received`, `delivered`, `completed`,
    /// `in-progress` ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The sid of what the request is about (`MessageSid`, `CallSid` ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// `AccountSid`, for a form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_sid: Option<String>,
    /// `I-Twilio-Idempotency-Token`, else the id of a single CloudEvent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The form's parameters as a JSON object, or the JSON body.
    pub payload: D,
}

/// How a Twilio request's body was encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum TwilioFormat {
    /// `application/x-www-form-urlencoded` parameters.
    Form,
    /// JSON (Event Streams).
    Json,
}

impl<D> Event for TwilioEvent<D> {
    fn event_name(&self) -> EventName {
        name(self.kind.as_deref(), self.status.as_deref())
    }

    fn event_id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    fn is_known(&self) -> bool {
        self.kind.is_some()
    }
}

fn name(kind: Option<&str>, status: Option<&str>) -> EventName {
    match kind {
        Some(kind) => joined(kind, status),
        None => EventName::from_static("webhook"),
    }
}

/// Whether `body` is JSON rather than a form: its first byte other than
/// JSON white space opens an object or an array (a form's first byte is
/// the first of a name, and a form encoder escapes both).
fn is_json(body: &[u8]) -> bool {
    body.iter()
        .find(|byte| !matches!(byte, b' ' | b'\t' | b'\n' | b'\r'))
        .is_some_and(|byte| matches!(byte, b'{' | b'['))
}

/// The parameters of a form body, decoded lazily by the caller's loop: an
/// error for a byte a form encoder never leaves raw (a space, a control
/// byte, a non-ASCII byte), with its line and column.
fn form(body: &[u8]) -> Result<url::form_urlencoded::Parse<'_>, ParseError> {
    if let Some(at) = body.iter().position(|byte| !byte.is_ascii_graphic()) {
        let before = &body[..at];
        let line = 1 + before.iter().filter(|&&byte| byte == b'\n').count();
        let column = 1 + at
            - before
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |nl| nl + 1);
        return Err(ParseError::new(
            Sender::Twilio,
            ParseErrorKind::Body {
                path: ".".to_owned(),
                message: format!(
                    "neither JSON nor a form: byte {:#04x}, which a form-encoded body never holds unescaped{}",
                    body[at],
                    // What a file saved by an editor ends with.
                    if body[at..] == *b"\n" || body[at..] == *b"\r\n" {
                        " (a trailing newline: send the form without it)"
                    } else {
                        ""
                    }
                ),
                position: Some((line, column)),
            },
        ));
    }
    Ok(url::form_urlencoded::parse(body))
}

/// The form parameters that name a request, in the order of [`NAMED`].
const NAMED: [&str; 15] = [
    "EventType",
    "TranscriptionSid",
    "TranscriptionStatus",
    "RecordingSid",
    "RecordingStatus",
    "ConferenceSid",
    "StatusCallbackEvent",
    "MessageSid",
    "SmsSid",
    "SmsMessageSid",
    "MessageStatus",
    "SmsStatus",
    "CallSid",
    "CallStatus",
    "AccountSid",
];

/// The value of each of the [`NAMED`] parameters of a form, when its
/// non-empty values agree: the order of a form's parameters is not signed,
/// so "the first" of two different values is whichever a replayer puts
/// first.
#[derive(Debug, Default)]
struct FormNames([Named; NAMED.len()]);

/// What a form says of one of the [`NAMED`] parameters.
#[derive(Debug, Default)]
enum Named {
    /// Absent, or only empty.
    #[default]
    Unseen,
    /// One non-empty value, however often sent.
    One(String),
    /// Different non-empty values: it names nothing.
    Disagree,
}

impl FormNames {
    /// Notes `value` when `name` is one of [`NAMED`].
    fn see(&mut self, name: &str, value: &str) {
        if value.is_empty() {
            return;
        }
        if let Some(at) = NAMED.iter().position(|named| *named == name) {
            let seen = &mut self.0[at];
            match seen {
                Named::Unseen => *seen = Named::One(value.to_owned()),
                Named::One(first) if first != value => *seen = Named::Disagree,
                Named::One(_) | Named::Disagree => {}
            }
        }
    }

    fn get(&self, name: &str) -> Option<&str> {
        let at = NAMED.iter().position(|named| *named == name)?;
        match &self.0[at] {
            Named::One(value) => Some(value),
            Named::Unseen | Named::Disagree => None,
        }
    }

    /// What the request is about, its status and its sid.
    fn describe(&self) -> Described {
        let of = |kind: &str, sid: &str, status: &str| Described {
            kind: Some(kind.to_owned()),
            status: self.get(status).map(str::to_owned),
            sid: self.get(sid).map(str::to_owned),
        };
        if let Some(event_type) = self.get("EventType") {
            return Described {
                kind: Some(event_type.to_owned()),
                status: None,
                sid: None,
            };
        }
        if self.get("TranscriptionSid").is_some() {
            return of("transcription", "TranscriptionSid", "TranscriptionStatus");
        }
        if self.get("RecordingSid").is_some() {
            return of("recording", "RecordingSid", "RecordingStatus");
        }
        if self.get("ConferenceSid").is_some() && self.get("StatusCallbackEvent").is_some() {
            return of("conference", "ConferenceSid", "StatusCallbackEvent");
        }
        if let Some(sid) = ["MessageSid", "SmsSid", "SmsMessageSid"]
            .into_iter()
            .find_map(|name| self.get(name))
        {
            return Described {
                kind: Some("message".to_owned()),
                status: self
                    .get("MessageStatus")
                    .or_else(|| self.get("SmsStatus"))
                    .map(str::to_owned),
                sid: Some(sid.to_owned()),
            };
        }
        if self.get("CallSid").is_some() {
            return of("call", "CallSid", "CallStatus");
        }
        Described::default()
    }
}

#[derive(Debug, Default)]
struct Described {
    kind: Option<String>,
    status: Option<String>,
    sid: Option<String>,
}

/// The kind of a JSON body: the `type` of the CloudEvent (or the first of a
/// batch) without `com.twilio.`; and the `id` of a single CloudEvent.
fn json_names(body: &Value) -> (Option<String>, Option<String>) {
    let (first, single) = match body {
        Value::Array(items) => (items.first(), items.len() == 1),
        other => (Some(other), true),
    };
    let text = |key| {
        first
            .and_then(|event| event.get(key))
            .and_then(Value::as_str)
            .filter(|text| !text.is_empty())
    };
    let kind = text("type").map(|kind| {
        kind.strip_prefix(CLOUD_EVENT_PREFIX)
            .filter(|rest| !rest.is_empty())
            .unwrap_or(kind)
            .to_owned()
    });
    let id = text("id").filter(|_| single).map(str::to_owned);
    (kind, id)
}

/// The form's parameters as a JSON object, as they were signed: each name
/// with its value, or, sent with different values, the array of them
/// sorted; an exact repeat of a name and value counts once (Twilio's
/// signature sorts the parameters and counts such a repeat once, so
/// neither their order nor a repeat may change what is read).
fn form_object(
    pairs: url::form_urlencoded::Parse<'_>,
    names: &mut FormNames,
) -> Map<String, Value> {
    let mut object = Map::new();
    for (name, value) in pairs {
        names.see(&name, &value);
        let value = Value::String(value.into_owned());
        match object.get_mut(name.as_ref()) {
            None => {
                object.insert(name.into_owned(), value);
            }
            Some(Value::Array(values)) => {
                if let Err(at) = values.binary_search_by(|v| compare(v, &value)) {
                    values.insert(at, value);
                }
            }
            Some(first) if *first == value => {}
            Some(first) => {
                let mut values = vec![first.take(), value];
                values.sort_by(compare);
                *first = Value::Array(values);
            }
        }
    }
    object
}

/// The order of a repeated parameter's values: as strings (every value of
/// a form is one).
fn compare(a: &Value, b: &Value) -> std::cmp::Ordering {
    a.as_str().cmp(&b.as_str())
}

impl<D: DeserializeOwned> FromDelivery for TwilioEvent<D> {
    fn from_delivery(headers: &HeaderMap, body: &[u8]) -> Result<Self, ParseError> {
        let token = header(Sender::Twilio, headers, IDEMPOTENCY_TOKEN)?
            .filter(|token| !token.is_empty())
            .map(str::to_owned);
        if is_json(body) {
            let tree: Value = from_body(Sender::Twilio, body)?;
            let (kind, id) = json_names(&tree);
            let payload = match D::deserialize(tree) {
                Ok(payload) => payload,
                Err(_) => from_body(Sender::Twilio, body)?,
            };
            return Ok(Self {
                format: TwilioFormat::Json,
                kind,
                status: None,
                sid: None,
                account_sid: None,
                id: token.or(id),
                payload,
            });
        }
        let mut names = FormNames::default();
        let object = Value::Object(form_object(form(body)?, &mut names));
        let payload = crate::error::from_value(Sender::Twilio, &object, "")?;
        let described = names.describe();
        Ok(Self {
            format: TwilioFormat::Form,
            kind: described.kind,
            status: described.status,
            sid: described.sid,
            account_sid: names.get("AccountSid").map(str::to_owned),
            id: token,
            payload,
        })
    }
}

/// Reads the naming parameters of a form (nothing is kept of the others),
/// or the `type` of a JSON body.
pub(crate) fn event_name(body: &JsonBody<'_>) -> Result<EventName, ParseError> {
    let bytes = body.bytes();
    if is_json(bytes) {
        let tree: Value = body.read(Sender::Twilio)?;
        return Ok(name(json_names(&tree).0.as_deref(), None));
    }
    let mut names = FormNames::default();
    for (name, value) in form(bytes)? {
        names.see(&name, &value);
    }
    let described = names.describe();
    Ok(name(described.kind.as_deref(), described.status.as_deref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &[u8]) -> Result<TwilioEvent, ParseError> {
        TwilioEvent::from_delivery(&HeaderMap::new(), body)
    }

    /// The name of a body, checked to be the same from both readers.
    fn named(body: &[u8]) -> String {
        let event = parse(body).unwrap_or_else(|e| panic!("{e}"));
        let name = event_name(&JsonBody::new(body)).unwrap();
        assert_eq!(event.event_name(), name);
        name.as_str().to_owned()
    }

    #[test]
    fn an_incoming_sms_is_message_received() {
        let body = include_bytes!("../../../../samples/twilio.form");
        assert_eq!(named(body), "message.received");
        let event = parse(body).unwrap();
        assert_eq!(event.format, TwilioFormat::Form);
        assert!(event.is_known());
        assert_eq!(
            event.sid.as_deref(),
            Some("SM2c1d7a3e4b5f60718293a4b5c6d7e8f9")
        );
        assert_eq!(
            event.account_sid.as_deref(),
            Some("AC3f8e2b1c4d5a69788796a5b4c3d2e1f0")
        );
        assert_eq!(event.payload["Body"], "Hello from Twilio! Ça va? 👋");
        assert_eq!(event.payload["To"], "+15005550006");
        assert_eq!(event.payload["ToCity"], "SAN FRANCISCO");
        assert_eq!(event.event_id(), None);
    }

    #[test]
    fn each_kind_of_form_is_named_by_its_sid_and_status() {
        let cases: &[(&[u8], &str)] = &[
            (
                b"MessageSid=SM1&SmsSid=SM1&AccountSid=AC1&MessageStatus=delivered&SmsStatus=delivered",
                "message.delivered",
            ),
            (b"SmsSid=SM1&SmsStatus=undelivered&ErrorCode=30003", "message.undelivered"),
            (b"MessageSid=SM1&Body=hi", "message"),
            (b"CallSid=CA1&CallStatus=ringing&Direction=inbound", "call.ringing"),
            (b"CallSid=CA1&CallStatus=no-answer", "call.no-answer"),
            (b"CallSid=CA1&CallStatus=in-progress&Digits=1234", "call.in-progress"),
            (
                b"CallSid=CA1&RecordingSid=RE1&RecordingStatus=completed&CallStatus=completed",
                "recording.completed",
            ),
            (
                b"CallSid=CA1&RecordingSid=RE1&TranscriptionSid=TR1&TranscriptionStatus=completed",
                "transcription.completed",
            ),
            (
                b"ConferenceSid=CF1&StatusCallbackEvent=participant-join&CallSid=CA1",
                "conference.participant-join",
            ),
            (b"ConferenceSid=CF1&CallSid=CA1&CallStatus=completed", "call.completed"),
            (b"EventType=task.created&TaskSid=WT1", "task.created"),
            (
                b"EventType=onMessageAdded&ConversationSid=CH1&MessageSid=IM1",
                "onMessageAdded",
            ),
            // The order of parameters is not signed: a naming parameter
            // whose values disagree names nothing, either way round.
            (b"CallSid=CA1&CallStatus=busy&CallStatus=failed", "call"),
            (b"CallSid=CA1&CallStatus=failed&CallStatus=busy", "call"),
            // An empty value names nothing, and does not hide another.
            (b"CallSid=&CallSid=CA1&CallStatus=busy", "call.busy"),
            // An exact repeat is one value.
            (b"CallSid=CA1&CallStatus=busy&CallStatus=busy", "call.busy"),
            // Names are compared decoded.
            (b"Call%53id=CA1&CallStatus=queued", "call.queued"),
        ];
        for &(body, name) in cases {
            assert_eq!(named(body), name, "{}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn unknown_forms_are_kept() {
        for body in [
            &b"AccountSid=AC1&Foo=bar"[..],
            b"",
            b"&&=&",
            b"EventType=&x=1",
        ] {
            assert_eq!(named(body), "webhook");
            assert!(!parse(body).unwrap().is_known());
        }
        let event = parse(b"AccountSid=AC1&Foo=bar").unwrap();
        assert_eq!(event.account_sid.as_deref(), Some("AC1"));
        assert_eq!(event.payload["Foo"], "bar");
        // An odd status is escaped into the name, not refused.
        assert_eq!(
            named(b"CallSid=CA1&CallStatus=in+progress"),
            "call.in%20progress"
        );
    }

    #[test]
    fn repeated_names_hold_their_different_values_sorted() {
        let event = parse(b"A=3&B=x&A=1&A=2&A=1&C&B=x").unwrap();
        assert_eq!(event.payload["A"], serde_json::json!(["1", "2", "3"]));
        // An exact repeat counts once, as in the signature.
        assert_eq!(event.payload["B"], "x");
        assert_eq!(event.payload["C"], "");
    }

    /// What Twilio signs is the sorted set of parameters: a replayer who
    /// reorders them or repeats one changes nothing that is read.
    #[test]
    fn reordered_or_repeated_parameters_read_the_same() {
        let signed: [&[u8]; 4] = [
            b"CallSid=CA1&CallStatus=busy&To=%2B1&To=%2B2",
            b"To=%2B2&CallStatus=busy&To=%2B1&CallSid=CA1",
            b"CallStatus=busy&CallSid=CA1&CallSid=CA1&To=%2B1&To=%2B2&To=%2B1",
            b"To=%2B1&CallStatus=busy&CallStatus=busy&To=%2B2&CallSid=CA1",
        ];
        let first = parse(signed[0]).unwrap();
        assert_eq!(first.event_name(), "call.busy");
        assert_eq!(first.payload["To"], serde_json::json!(["+1", "+2"]));
        for body in &signed[1..] {
            assert_eq!(
                parse(body).unwrap(),
                first,
                "{}",
                String::from_utf8_lossy(body)
            );
            assert_eq!(named(body), "call.busy");
        }
    }

    #[test]
    fn hostile_forms_decode_without_panics_or_surprises() {
        let event = parse(b"Body=%ZZ%4%&%E2%82=%FF%FE+&%00=%0A").unwrap();
        assert_eq!(event.payload["Body"], "%ZZ%4%");
        assert_eq!(event.payload["\u{FFFD}"], "\u{FFFD}\u{FFFD} ");
        assert_eq!(event.payload["\0"], "\n");
        for raw in [
            &b"Body=two words"[..],
            b"Body=line\nbreak",
            b"Body=caf\xc3\xa9",
            b"not json",
        ] {
            let err = parse(raw).unwrap_err();
            assert_eq!(err.sender(), Sender::Twilio);
            assert_eq!(err.path(), Some("."));
            assert!(
                err.to_string().starts_with("not a twilio payload (line "),
                "{err}"
            );
            assert!(event_name(&JsonBody::new(raw)).is_err());
        }
        let err = parse(b"A=1\n\nB=2 3").unwrap_err();
        assert!(err.to_string().contains("(line 1, column 4)"), "{err}");
        let err = parse(b"A=1&B=2 3").unwrap_err();
        assert!(err.to_string().contains("(line 1, column 8)"), "{err}");
        assert!(!err.to_string().contains("trailing newline"), "{err}");
        // A form saved by an editor: refused, and told why.
        for saved in [&b"CallSid=CA1\n"[..], b"CallSid=CA1\r\n"] {
            let err = parse(saved).unwrap_err();
            assert!(err.to_string().contains("a trailing newline"), "{err}");
        }
    }

    #[test]
    fn event_streams_json_is_named_by_its_cloud_event_type() {
        let batch = br#"[{"specversion":"1.0","type":"com.twilio.messaging.message.delivered",
            "source":"/2010-04-01/Accounts/AC1/Messages/SM1.json","id":"EZ1","dataschema":"https://events-schemas.twilio.com/Messaging.MessageStatus/1",
            "datacontenttype":"application/json","time":"2026-12-04T15:00:00.000Z","data":{"messageSid":"SM1"}},
            {"type":"com.twilio.messaging.message.sent","id":"EZ2"}]"#;
        assert_eq!(named(batch), "messaging.message.delivered");
        let event = parse(batch).unwrap();
        assert_eq!(event.format, TwilioFormat::Json);
        assert_eq!(event.event_id(), None, "a batch has no single id");
        assert_eq!(event.payload[1]["id"], "EZ2");
        let single = br#" {"type":"com.twilio.voice.status-callback.call.completed","id":"EZ3"}"#;
        assert_eq!(named(single), "voice.status-callback.call.completed");
        assert_eq!(parse(single).unwrap().event_id(), Some("EZ3"));
        assert_eq!(named(br#"[{"type":"other.kind","id":"x"}]"#), "other.kind");
        assert_eq!(named(br#"{"type":"com.twilio."}"#), "com.twilio%2E");
        for body in [&b"[]"[..], b"{}", br#"{"type":7}"#, b"[1]"] {
            assert_eq!(named(body), "webhook");
        }
        let err = parse(b"{\"type\":").unwrap_err();
        assert_eq!(err.path(), Some("type"), "{err}");
        assert!(err.to_string().contains("(line 1, column 8)"), "{err}");
    }

    #[test]
    fn the_idempotency_token_is_the_id() {
        let mut headers = HeaderMap::new();
        headers.insert(IDEMPOTENCY_TOKEN, "AC1-idem-1".parse().unwrap());
        let event: TwilioEvent = TwilioEvent::from_delivery(&headers, b"CallSid=CA1").unwrap();
        assert_eq!(event.event_id(), Some("AC1-idem-1"));
        let json: TwilioEvent =
            TwilioEvent::from_delivery(&headers, br#"{"type":"a","id":"EZ"}"#).unwrap();
        assert_eq!(json.event_id(), Some("AC1-idem-1"));
    }

    #[test]
    fn a_typed_payload_reads_the_parameters() {
        #[derive(Debug, Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Sms {
            message_sid: String,
            body: String,
        }
        let event: TwilioEvent<Sms> =
            TwilioEvent::from_delivery(&HeaderMap::new(), b"MessageSid=SM1&Body=a+b&To=x").unwrap();
        assert_eq!(event.payload.message_sid, "SM1");
        assert_eq!(event.payload.body, "a b");
        let err = TwilioEvent::<Sms>::from_delivery(&HeaderMap::new(), b"Body=x").unwrap_err();
        assert!(err.to_string().contains("MessageSid"), "{err}");
    }

    proptest::proptest! {
        /// Any form of the bytes that matter reads, names itself the same
        /// way from both readers, and keeps what `url`'s decoder reads.
        #[test]
        fn any_form_reads_and_names_itself_consistently(
            form in proptest::collection::vec(
                proptest::sample::select(b"&=%+2BaFz0CallSidStatus\xff ".to_vec()), 0..64),
        ) {
            let parsed = parse(&form);
            let named = event_name(&JsonBody::new(&form));
            proptest::prop_assert_eq!(parsed.is_ok(), named.is_ok());
            if let (Ok(event), Ok(name)) = (parsed, named) {
                proptest::prop_assert_eq!(event.event_name(), name);
                for (name, value) in url::form_urlencoded::parse(&form) {
                    let kept = &event.payload[name.as_ref()];
                    let found = kept == value.as_ref()
                        || kept.as_array().is_some_and(|all| all.iter().any(|v| v == value.as_ref()));
                    proptest::prop_assert!(found, "{name}={value}");
                }
            }
        }
    }
}
