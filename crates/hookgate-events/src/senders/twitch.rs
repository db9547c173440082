//! Twitch EventSub: the subscription type, by message type.

use http::HeaderMap;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{header, joined, names_and_payload};
use crate::json::JsonBody;
use crate::{Event, EventName, FromDelivery, ParseError, Sender};

/// A Twitch EventSub webhook message: the `Twitch-Eventsub-Message-Type`
/// (`notification` when absent), the body's `subscription.type` (already
/// dotted: `channel.follow`), the message id from
/// `Twitch-Eventsub-Message-Id`, and the body as `D`.
///
/// The event name is the subscription type for a notification
/// (`channel.follow`), `revocation.<type>` for a revocation (delivered as an
/// event), and the message type for anything else
/// (`webhook_callback_verification`, which receivers answer instead).
///
/// ```
/// use hookgate_events::{Event, FromDelivery, TwitchEvent};
///
/// let mut headers = http::HeaderMap::new();
/// headers.insert("twitch-eventsub-message-type", "notification".parse()?);
/// headers.insert("twitch-eventsub-message-id", "befa7b53-d79d-478f-86b9-120f112b044e".parse()?);
/// let body = br#"{"subscription":{"id":"f1c2a387","type":"channel.follow","version":"2"},"event":{"user_id":"1337"}}"#;
/// let event: TwitchEvent = TwitchEvent::from_delivery(&headers, body)?;
/// assert_eq!(event.event_name(), "channel.follow");
/// assert_eq!(event.event_id(), Some("befa7b53-d79d-478f-86b9-120f112b044e"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TwitchEvent<D = Value> {
    /// `Twitch-Eventsub-Message-Type`: `notification`, `revocation` ...
    pub message_type: String,
    /// `subscription.type`, e.g. `channel.follow`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_type: Option<String>,
    /// `Twitch-Eventsub-Message-Id`: the same on every retry of this message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// The body.
    pub payload: D,
}

impl<D> Event for TwitchEvent<D> {
    fn event_name(&self) -> EventName {
        name(&self.message_type, self.subscription_type.as_deref())
    }

    fn event_id(&self) -> Option<&str> {
        self.message_id.as_deref()
    }
}

fn name(message_type: &str, subscription_type: Option<&str>) -> EventName {
    match (message_type, subscription_type) {
        ("notification", Some(kind)) => joined(kind, None),
        // The subscription type is itself dotted (`channel.follow`): it is
        // the rest of the name, not one action segment.
        ("revocation", Some(kind)) if !kind.is_empty() => {
            joined(&format!("revocation.{kind}"), None)
        }
        ("revocation", _) => joined("revocation", None),
        (other, _) => joined(other, None),
    }
}

#[derive(Deserialize)]
struct Names {
    #[serde(default)]
    subscription: Option<Subscription>,
}

#[derive(Deserialize)]
struct Subscription {
    #[serde(rename = "type")]
    kind: String,
}

fn message_type(headers: &HeaderMap) -> Result<String, ParseError> {
    Ok(
        header(Sender::Twitch, headers, "twitch-eventsub-message-type")?
            .filter(|t| !t.is_empty())
            .unwrap_or("notification")
            .to_owned(),
    )
}

impl<D: DeserializeOwned> FromDelivery for TwitchEvent<D> {
    fn from_delivery(headers: &HeaderMap, body: &[u8]) -> Result<Self, ParseError> {
        let (names, payload): (Names, D) = names_and_payload(Sender::Twitch, body)?;
        Ok(Self {
            message_type: message_type(headers)?,
            subscription_type: names.subscription.map(|s| s.kind),
            message_id: header(Sender::Twitch, headers, "twitch-eventsub-message-id")?
                .map(str::to_owned),
            payload,
        })
    }
}

/// Reads the header and `subscription.type`.
pub(crate) fn event_name(
    headers: &HeaderMap,
    body: &JsonBody<'_>,
) -> Result<EventName, ParseError> {
    let names: Names = body.read(Sender::Twitch)?;
    let kind = names.subscription.map(|s| s.kind);
    Ok(name(&message_type(headers)?, kind.as_deref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revocations_and_verifications_are_named_apart() {
        let body = br#"{"challenge":"c","subscription":{"type":"channel.follow"}}"#;
        let mut headers = HeaderMap::new();
        headers.insert(
            "twitch-eventsub-message-type",
            "revocation".parse().unwrap(),
        );
        let event = TwitchEvent::<Value>::from_delivery(&headers, body).unwrap();
        assert_eq!(event.event_name(), "revocation.channel.follow");
        headers.insert(
            "twitch-eventsub-message-type",
            "webhook_callback_verification".parse().unwrap(),
        );
        assert_eq!(
            event_name(&headers, &JsonBody::new(body)).unwrap(),
            "webhook_callback_verification"
        );
    }
}
