//! Paddle Billing: the notification envelope, with `data` left to the user.

use http::HeaderMap;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::from_body;
use crate::json::JsonBody;
use crate::{Event, EventName, FromDelivery, ParseError, Sender};

/// A Paddle Billing notification: `event_type` (already dotted:
/// `transaction.completed`), `event_id`, and `data` as `D`.
///
/// ```
/// use hookgate_events::{Event, PaddleEvent};
///
/// let event: PaddleEvent = serde_json::from_str(r#"{
///     "event_id": "evt_01h8bzakzx3hm2fmen703n5q45", "event_type": "transaction.completed",
///     "occurred_at": "2023-08-21T11:57:47.390028Z", "notification_id": "ntf_01h8bzam1z32agrxjwhjgqk8w6",
///     "data": {"id": "txn_01h8bz8vnexbnpdhm3cgzm8bnd"}
/// }"#)?;
/// assert_eq!(event.event_name(), "transaction.completed");
/// assert_eq!(event.event_id(), Some("evt_01h8bzakzx3hm2fmen703n5q45"));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PaddleEvent<D = Value> {
    /// `event_id`, `evt_...`: the same on every notification of this event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// `event_type`, e.g. `subscription.canceled`.
    #[serde(deserialize_with = "crate::name::lossy")]
    pub event_type: EventName,
    /// `occurred_at`, RFC 3339 as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurred_at: Option<String>,
    /// `notification_id`, `ntf_...`: this notification (one per destination).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification_id: Option<String>,
    /// The entity the event is about.
    pub data: D,
    /// Every other envelope field.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl<D> Event for PaddleEvent<D> {
    fn event_name(&self) -> EventName {
        self.event_type.clone()
    }

    fn event_id(&self) -> Option<&str> {
        self.event_id.as_deref()
    }
}

impl<D: DeserializeOwned> FromDelivery for PaddleEvent<D> {
    fn from_delivery(_headers: &HeaderMap, body: &[u8]) -> Result<Self, ParseError> {
        from_body(Sender::Paddle, body)
    }
}

#[derive(Deserialize)]
struct Names {
    #[serde(deserialize_with = "crate::name::lossy")]
    event_type: EventName,
}

/// Reads just `event_type`.
pub(crate) fn event_name(body: &JsonBody<'_>) -> Result<EventName, ParseError> {
    Ok(body.read::<Names>(Sender::Paddle)?.event_type)
}
