//! Standard Webhooks (and Svix, which follows it): `{type, timestamp, data}`.

use http::HeaderMap;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::header;
use crate::error::from_body;
use crate::json::JsonBody;
use crate::{Event, EventName, FromDelivery, ParseError, Sender};

/// A Standard Webhooks payload, `{type, timestamp, data}`, with `data` left to
/// the user as `D` (JSON by default).
///
/// The message id travels in the `webhook-id` (or `svix-id`) header, not in
/// the body; [`FromDelivery`] copies it into [`message_id`](Self::message_id).
///
/// ```
/// use hookgate_events::{Event, StandardEvent};
///
/// #[derive(serde::Deserialize, Clone, Debug)]
/// struct Contract { contract_id: String }
///
/// let event: StandardEvent<Contract> = serde_json::from_str(r#"{
///     "type": "contract.updated", "timestamp": "2024-05-01T10:00:00.123Z",
///     "data": {"contract_id": "c-1"}
/// }"#)?;
/// assert_eq!(event.event_name(), "contract.updated");
/// assert_eq!(event.data.contract_id, "c-1");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StandardEvent<D = Value> {
    /// The event type, e.g. `invoice.paid` (an unforeseen spelling is kept
    /// escaped, see [`EventName::new_lossy`]).
    #[serde(rename = "type", deserialize_with = "crate::name::lossy")]
    pub kind: EventName,
    /// When the event happened.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub timestamp: Option<OffsetDateTime>,
    /// The event's data.
    pub data: D,
    /// The message id from the `webhook-id` or `svix-id` header (not part of
    /// the body, so not serialized).
    #[serde(skip)]
    pub message_id: Option<String>,
    /// Fields beyond the standard envelope, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl<D> Event for StandardEvent<D> {
    fn event_name(&self) -> EventName {
        self.kind.clone()
    }

    fn event_id(&self) -> Option<&str> {
        self.message_id.as_deref()
    }
}

impl<D: DeserializeOwned> FromDelivery for StandardEvent<D> {
    fn from_delivery(headers: &HeaderMap, body: &[u8]) -> Result<Self, ParseError> {
        parse(Sender::Standard, headers, body)
    }
}

/// Parses as `sender` (Standard Webhooks or Svix; only error messages differ).
pub(crate) fn parse<D: DeserializeOwned>(
    sender: Sender,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<StandardEvent<D>, ParseError> {
    let mut event: StandardEvent<D> = from_body(sender, body)?;
    let id = match header(sender, headers, "webhook-id")? {
        Some(id) => Some(id),
        None => header(sender, headers, "svix-id")?,
    };
    event.message_id = id.map(str::to_owned);
    Ok(event)
}

/// Reads just enough of the body to name the event.
pub(crate) fn event_name(sender: Sender, body: &JsonBody<'_>) -> Result<EventName, ParseError> {
    #[derive(Deserialize)]
    struct Name {
        #[serde(rename = "type", deserialize_with = "crate::name::lossy")]
        kind: EventName,
    }
    Ok(body.read::<Name>(sender)?.kind)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The example payload of the Standard Webhooks specification.
    const SAMPLE: &str = r#"{
  "type": "contact.created",
  "timestamp": "2022-11-03T20:26:10.344522Z",
  "data": {
    "id": "1f81eb52-5198-4599-803e-771906343485",
    "type": "contact",
    "name": "Some Name"
  }
}"#;

    #[test]
    fn sample_parses_and_round_trips() {
        let mut headers = HeaderMap::new();
        headers.insert("svix-id", "msg_p5jXN8AQM9LWM0D4loKWxJek".parse().unwrap());
        let event = StandardEvent::<Value>::from_delivery(&headers, SAMPLE.as_bytes()).unwrap();
        assert_eq!(event.kind, "contact.created");
        assert_eq!(
            event.timestamp,
            Some(time::macros::datetime!(2022-11-03 20:26:10.344522 UTC))
        );
        assert_eq!(event.data["name"], "Some Name");
        assert_eq!(event.event_id(), Some("msg_p5jXN8AQM9LWM0D4loKWxJek"));
        assert_eq!(
            event_name(Sender::Svix, &JsonBody::new(SAMPLE.as_bytes())).unwrap(),
            "contact.created"
        );
        let json = serde_json::to_string(&event).unwrap();
        let again = StandardEvent::<Value>::from_delivery(&headers, json.as_bytes()).unwrap();
        assert_eq!(again, event);
    }

    #[test]
    fn extra_fields_kept_and_timestamp_optional() {
        let event: StandardEvent =
            serde_json::from_str(r#"{"type": "x.y", "data": null, "version": 2}"#).unwrap();
        assert_eq!(event.timestamp, None);
        assert_eq!(event.extra["version"], json!(2));
        assert_eq!(event.message_id, None);
    }

    #[test]
    fn typed_data_errors_name_the_field() {
        #[derive(Debug, Deserialize)]
        struct Data {
            #[allow(dead_code)]
            amount: u64,
        }
        let err = StandardEvent::<Data>::from_delivery(
            &HeaderMap::new(),
            br#"{"type": "x.y", "data": {"amount": "ten"}}"#,
        )
        .unwrap_err();
        assert_eq!(err.path(), Some("data.amount"));
        assert!(
            err.to_string()
                .starts_with("not a standard payload at `data.amount`"),
            "{err}"
        );
    }
}
