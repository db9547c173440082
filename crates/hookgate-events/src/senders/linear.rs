//! Linear: the event from `Linear-Event` (or the body's `type`) plus `action`.

use http::HeaderMap;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{header, joined, names_and_payload, snake_case};
use crate::json::JsonBody;
use crate::{Event, EventName, FromDelivery, ParseError, Sender};

/// A Linear webhook delivery: the entity type from the `Linear-Event` header
/// (else the body's `type`), the body's `action`, the delivery id from
/// `Linear-Delivery`, and the body as `D`.
///
/// The event name is the snake_case type and the action:
/// `Issue` + `create` is `issue.create`, `IssueLabel` + `remove` is
/// `issue_label.remove`; so `issue.*` matches every issue action.
///
/// ```
/// use hookgate_events::{Event, FromDelivery, LinearEvent};
///
/// let mut headers = http::HeaderMap::new();
/// headers.insert("linear-event", "Issue".parse()?);
/// headers.insert("linear-delivery", "234d1a4e-b617-4388-90fe-adc3633d6b72".parse()?);
/// let body = br#"{"action":"create","type":"Issue","data":{"id":"2174add1"},"webhookTimestamp":1676056940508}"#;
/// let event: LinearEvent = LinearEvent::from_delivery(&headers, body)?;
/// assert_eq!(event.event_name(), "issue.create");
/// assert_eq!(event.event_id(), Some("234d1a4e-b617-4388-90fe-adc3633d6b72"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LinearEvent<D = Value> {
    /// The entity type as sent: `Issue`, `Comment`, `IssueLabel` ...
    pub kind: String,
    /// The action: `create`, `update`, `remove` ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// `Linear-Delivery`: the id of this delivery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<String>,
    /// The body.
    pub payload: D,
}

impl<D> Event for LinearEvent<D> {
    fn event_name(&self) -> EventName {
        joined(&snake_case(&self.kind), self.action.as_deref())
    }

    fn event_id(&self) -> Option<&str> {
        self.delivery.as_deref()
    }
}

#[derive(Deserialize)]
struct Names {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    action: Option<String>,
}

fn kind(headers: &HeaderMap, names: &Names) -> Result<String, ParseError> {
    match header(Sender::Linear, headers, "linear-event")? {
        Some(kind) if !kind.is_empty() => Ok(kind.to_owned()),
        _ => names
            .kind
            .clone()
            .filter(|k| !k.is_empty())
            .ok_or_else(|| ParseError::missing_header(Sender::Linear, "linear-event")),
    }
}

impl<D: DeserializeOwned> FromDelivery for LinearEvent<D> {
    fn from_delivery(headers: &HeaderMap, body: &[u8]) -> Result<Self, ParseError> {
        let (names, payload): (Names, D) = names_and_payload(Sender::Linear, body)?;
        Ok(Self {
            kind: kind(headers, &names)?,
            action: names.action,
            delivery: header(Sender::Linear, headers, "linear-delivery")?.map(str::to_owned),
            payload,
        })
    }
}

/// Reads the header and just enough of the body to name the event.
pub(crate) fn event_name(
    headers: &HeaderMap,
    body: &JsonBody<'_>,
) -> Result<EventName, ParseError> {
    let names: Names = body.read(Sender::Linear)?;
    let kind = kind(headers, &names)?;
    Ok(joined(&snake_case(&kind), names.action.as_deref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_type_stands_in_for_a_missing_header() {
        let body = br#"{"action":"remove","type":"IssueLabel","data":{}}"#;
        let event = LinearEvent::<Value>::from_delivery(&HeaderMap::new(), body).unwrap();
        assert_eq!(event.event_name(), "issue_label.remove");
        assert_eq!(
            event_name(&HeaderMap::new(), &JsonBody::new(body)).unwrap(),
            "issue_label.remove"
        );
        let err = LinearEvent::<Value>::from_delivery(&HeaderMap::new(), b"{}").unwrap_err();
        assert!(err.to_string().contains("linear-event"), "{err}");
    }
}
