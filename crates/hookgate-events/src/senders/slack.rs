//! Slack Events API: the outer envelope and the inner event's type.

use http::HeaderMap;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::error::from_body;
use crate::json::JsonBody;
use crate::{Event, EventName, FromDelivery, ParseError, Sender, Token};

/// A Slack Events API request body, with the inner event's fields as `D`.
///
/// The event name is the inner event's `type` for an `event_callback`
/// (`app_mention`, `message`), and the outer `type` otherwise
/// (`url_verification`, `app_rate_limited`). The legacy verification
/// `token` is never printed or serialized.
///
/// ```
/// use hookgate_events::{Event, SlackEvent};
///
/// let event: SlackEvent = serde_json::from_str(r#"{
///     "type": "event_callback", "token": "legacy", "team_id": "T1", "event_id": "Ev1",
///     "event": {"type": "app_mention", "text": "hi", "user": "U1"}
/// }"#)?;
/// assert_eq!(event.event_name(), "app_mention");
/// assert_eq!(event.event.as_ref().unwrap().data["text"], "hi");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound(deserialize = "D: Deserialize<'de>"))]
#[non_exhaustive]
pub struct SlackEvent<D = Value> {
    /// The outer type: `event_callback`, `url_verification`, `app_rate_limited` ...
    #[serde(rename = "type", deserialize_with = "crate::name::lossy")]
    pub kind: EventName,
    /// The workspace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_id: Option<String>,
    /// The app the event is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_app_id: Option<String>,
    /// The event id, unique across retries of this event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// When the event happened, in Unix seconds as sent. Kept as the raw
    /// number because Slack's own examples put microseconds here; see
    /// [`occurred_at`](Self::occurred_at).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_time: Option<i64>,
    /// The inner event, for `event_callback`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<SlackInnerEvent<D>>,
    /// The challenge to echo, for `url_verification`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenge: Option<String>,
    /// The deprecated verification token; not serialized.
    #[serde(default, skip_serializing)]
    pub token: Option<Token>,
    /// Every other field (`authorizations`, `event_context` ...), kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The inner `event` of a Slack `event_callback`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SlackInnerEvent<D = Value> {
    /// The event type, e.g. `message`.
    #[serde(rename = "type", deserialize_with = "crate::name::lossy")]
    pub kind: EventName,
    /// Every other field of the event, as `D`.
    #[serde(flatten)]
    pub data: D,
}

impl<D> SlackEvent<D> {
    /// `event_time` as a date, when present and a plausible number of seconds.
    pub fn occurred_at(&self) -> Option<OffsetDateTime> {
        OffsetDateTime::from_unix_timestamp(self.event_time?).ok()
    }
}

fn name(kind: &EventName, inner: Option<&EventName>) -> EventName {
    match inner {
        Some(inner) if kind == "event_callback" => inner.clone(),
        _ => kind.clone(),
    }
}

impl<D> Event for SlackEvent<D> {
    fn event_name(&self) -> EventName {
        name(&self.kind, self.event.as_ref().map(|e| &e.kind))
    }

    fn event_id(&self) -> Option<&str> {
        self.event_id.as_deref()
    }
}

impl<D: DeserializeOwned> FromDelivery for SlackEvent<D> {
    fn from_delivery(_headers: &HeaderMap, body: &[u8]) -> Result<Self, ParseError> {
        from_body(Sender::Slack, body)
    }
}

/// Reads just enough of the body to name the event.
pub(crate) fn event_name(body: &JsonBody<'_>) -> Result<EventName, ParseError> {
    #[derive(Deserialize)]
    struct Inner {
        #[serde(rename = "type", deserialize_with = "crate::name::lossy")]
        kind: EventName,
    }
    #[derive(Deserialize)]
    struct Outer {
        #[serde(rename = "type", deserialize_with = "crate::name::lossy")]
        kind: EventName,
        #[serde(default)]
        event: Option<Inner>,
    }
    let outer: Outer = body.read(Sender::Slack)?;
    Ok(name(&outer.kind, outer.event.as_ref().map(|e| &e.kind)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The `app_mention` example of Slack's Events API documentation.
    const SAMPLE: &str = r#"{
    "token": "ZZZZZZWSxiZZZ2yIvs3peJ",
    "team_id": "T061EG9R6",
    "api_app_id": "A0MDYCDME",
    "event": {
        "type": "app_mention",
        "user": "U061F7AUR",
        "text": "What is the hour of the pearl, <@U0LAN0Z89>?",
        "ts": "1515449522.000016",
        "channel": "C0LAN2Q65",
        "event_ts": "1515449522000016"
    },
    "type": "event_callback",
    "event_id": "Ev0LAN670R",
    "event_time": 1515449522000016,
    "authed_users": ["U0LAN0Z89"]
}"#;

    fn parse(body: &str) -> Result<SlackEvent, ParseError> {
        SlackEvent::from_delivery(&HeaderMap::new(), body.as_bytes())
    }

    #[test]
    fn sample_parses_and_round_trips() {
        let event = parse(SAMPLE).unwrap();
        // Slack's own example puts microseconds in `event_time`: kept, not a date.
        assert_eq!(event.event_time, Some(1515449522000016));
        assert_eq!(event.occurred_at(), None);
        let body = SAMPLE.replace("1515449522000016,", "1515449522,");
        let event = parse(&body).unwrap();
        assert_eq!(event.event_name(), "app_mention");
        assert_eq!(event.event_id(), Some("Ev0LAN670R"));
        assert_eq!(event.team_id.as_deref(), Some("T061EG9R6"));
        assert_eq!(event.occurred_at().unwrap().unix_timestamp(), 1515449522);
        let inner = event.event.as_ref().unwrap();
        assert_eq!(inner.data["user"], "U061F7AUR");
        assert!(inner.data.get("type").is_none());
        assert_eq!(event.extra["authed_users"], json!(["U0LAN0Z89"]));
        assert_eq!(
            event.token.as_ref().unwrap().expose(),
            "ZZZZZZWSxiZZZ2yIvs3peJ"
        );
        assert!(!format!("{event:?}").contains("ZZZZZZWSxiZZZ2yIvs3peJ"));
        assert_eq!(
            super::event_name(&crate::JsonBody::new(body.as_bytes())).unwrap(),
            "app_mention"
        );

        let json = serde_json::to_string(&event).unwrap();
        assert!(!json.contains("ZZZZZZWSxiZZZ2yIvs3peJ"));
        assert_eq!(
            parse(&json).unwrap(),
            SlackEvent {
                token: None,
                ..event
            }
        );
    }

    #[test]
    fn url_verification_and_unknown_types() {
        let event = parse(r#"{"token": "t", "challenge": "3eZbrw1a", "type": "url_verification"}"#)
            .unwrap();
        assert_eq!(event.event_name(), "url_verification");
        assert_eq!(event.challenge.as_deref(), Some("3eZbrw1a"));
        assert_eq!(event.event, None);

        let event =
            parse(r#"{"type": "event_callback", "event": {"type": "brand_new_thing"}}"#).unwrap();
        assert_eq!(event.event_name(), "brand_new_thing");

        let err = parse(r#"{"type": "event_callback", "event": {"text": "no type"}}"#).unwrap_err();
        assert_eq!(err.path(), Some("event"));

        // A legacy token of the wrong type is not quoted back.
        let err = parse(r#"{"type": "url_verification", "token": 9876543210}"#).unwrap_err();
        assert_eq!(err.path(), Some("token"));
        assert!(!err.to_string().contains("9876543210"), "{err}");
    }
}
