//! Zoom: the event envelope (`event`, `event_ts`, `payload`).

use http::HeaderMap;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::from_body;
use crate::json::JsonBody;
use crate::{Event, EventName, FromDelivery, ParseError, Sender};

/// A Zoom webhook event: `event` (already dotted: `meeting.started`),
/// `event_ts` (Unix milliseconds) and `payload` as `D`. Zoom sends no event
/// id: a receiver derives one from the body.
///
/// ```
/// use hookgate_events::{Event, ZoomEvent};
///
/// let event: ZoomEvent = serde_json::from_str(r#"{
///     "event": "meeting.started", "event_ts": 1626230691572,
///     "payload": {"account_id": "AAAAAABBBB", "object": {"id": "1234567890"}}
/// }"#)?;
/// assert_eq!(event.event_name(), "meeting.started");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ZoomEvent<D = Value> {
    /// `event`, e.g. `meeting.participant_joined`.
    #[serde(deserialize_with = "crate::name::lossy")]
    pub event: EventName,
    /// `event_ts`, Unix milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_ts: Option<i64>,
    /// The event's payload.
    pub payload: D,
    /// Every other envelope field.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl<D> Event for ZoomEvent<D> {
    fn event_name(&self) -> EventName {
        self.event.clone()
    }
}

impl<D: DeserializeOwned> FromDelivery for ZoomEvent<D> {
    fn from_delivery(_headers: &HeaderMap, body: &[u8]) -> Result<Self, ParseError> {
        from_body(Sender::Zoom, body)
    }
}

#[derive(Deserialize)]
struct Names {
    #[serde(deserialize_with = "crate::name::lossy")]
    event: EventName,
}

/// Reads just `event`.
pub(crate) fn event_name(body: &JsonBody<'_>) -> Result<EventName, ParseError> {
    Ok(body.read::<Names>(Sender::Zoom)?.event)
}
