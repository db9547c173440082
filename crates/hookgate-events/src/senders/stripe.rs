//! Stripe: the event envelope, with `data.object` left to the user.

use http::HeaderMap;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::error::from_body;
use crate::json::JsonBody;
use crate::{Event, EventName, FromDelivery, ParseError, Sender};

/// A Stripe event (the "snapshot" events of API v1), with `data.object` as `D`.
///
/// Stripe's catalogue of objects is not modelled here: use `D` for the object
/// type you expect, or the default JSON value.
///
/// ```
/// use hookgate_events::{Event, StripeEvent};
///
/// let event: StripeEvent = serde_json::from_str(r#"{
///     "id": "evt_1", "object": "event", "type": "invoice.paid", "created": 1700000000,
///     "data": {"object": {"id": "in_1", "object": "invoice"}}
/// }"#)?;
/// assert_eq!(event.event_name(), "invoice.paid");
/// assert_eq!(event.data.object["id"], "in_1");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StripeEvent<D = Value> {
    /// The event id, `evt_...`.
    pub id: String,
    /// The event type, e.g. `customer.subscription.deleted`.
    #[serde(rename = "type", deserialize_with = "crate::name::lossy")]
    pub kind: EventName,
    /// When the event was created (Unix seconds on the wire).
    #[serde(with = "time::serde::timestamp")]
    pub created: OffsetDateTime,
    /// The API version the payload was rendered with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Whether the event happened in live mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub livemode: Option<bool>,
    /// The object the event is about.
    pub data: StripeEventData<D>,
    /// Every other envelope field (`object`, `request`, `pending_webhooks` ...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The `data` of a Stripe event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StripeEventData<D = Value> {
    /// The object, as of the event.
    pub object: D,
    /// For `*.updated` events, the previous values of the changed fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_attributes: Option<Value>,
    /// Fields Stripe may add later, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl<D> Event for StripeEvent<D> {
    fn event_name(&self) -> EventName {
        self.kind.clone()
    }

    fn event_id(&self) -> Option<&str> {
        // An empty id identifies nothing (hookgate-verify ignores it too).
        Some(self.id.as_str()).filter(|id| !id.is_empty())
    }
}

impl<D: DeserializeOwned> FromDelivery for StripeEvent<D> {
    fn from_delivery(_headers: &HeaderMap, body: &[u8]) -> Result<Self, ParseError> {
        from_body(Sender::Stripe, body)
    }
}

/// Reads just enough of the body to name the event.
pub(crate) fn event_name(body: &JsonBody<'_>) -> Result<EventName, ParseError> {
    #[derive(Deserialize)]
    struct Name {
        #[serde(rename = "type", deserialize_with = "crate::name::lossy")]
        kind: EventName,
    }
    Ok(body.read::<Name>(Sender::Stripe)?.kind)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SAMPLE: &str = r#"{
  "id": "evt_1NG8Du2eZvKYlo2CUI79vXWy",
  "object": "event",
  "api_version": "2019-02-19",
  "created": 1686089970,
  "data": {
    "object": {"id": "seti_1NG8Du2eZvKYlo2C9XMqbR0x", "object": "setup_intent", "status": "succeeded"},
    "previous_attributes": {"status": "requires_confirmation"}
  },
  "livemode": false,
  "pending_webhooks": 0,
  "request": {"id": null, "idempotency_key": null},
  "type": "setup_intent.succeeded"
}"#;

    #[test]
    fn sample_parses_and_round_trips() {
        let event =
            StripeEvent::<Value>::from_delivery(&HeaderMap::new(), SAMPLE.as_bytes()).unwrap();
        assert_eq!(event.id, "evt_1NG8Du2eZvKYlo2CUI79vXWy");
        assert_eq!(event.kind, "setup_intent.succeeded");
        assert_eq!(event.created.unix_timestamp(), 1686089970);
        assert_eq!(event.api_version.as_deref(), Some("2019-02-19"));
        assert_eq!(event.livemode, Some(false));
        assert_eq!(event.data.object["status"], "succeeded");
        assert_eq!(
            event.data.previous_attributes,
            Some(json!({"status": "requires_confirmation"}))
        );
        assert_eq!(event.extra["object"], "event");
        assert_eq!(event.extra["pending_webhooks"], 0);
        assert_eq!(event.event_id(), Some("evt_1NG8Du2eZvKYlo2CUI79vXWy"));
        assert_eq!(
            event_name(&JsonBody::new(SAMPLE.as_bytes())).unwrap(),
            "setup_intent.succeeded"
        );
        let value = serde_json::to_value(&event).unwrap();
        assert_eq!(value, serde_json::from_str::<Value>(SAMPLE).unwrap());
        assert_eq!(serde_json::from_value::<StripeEvent>(value).unwrap(), event);
    }

    #[test]
    fn typed_object_and_missing_optionals() {
        #[derive(Debug, Clone, PartialEq, Deserialize)]
        struct Invoice {
            id: String,
        }
        let event = StripeEvent::<Invoice>::from_delivery(
            &HeaderMap::new(),
            br#"{"id": "evt_1", "type": "invoice.paid", "created": 1, "data": {"object": {"id": "in_1"}}}"#,
        )
        .unwrap();
        assert_eq!(
            event.data.object,
            Invoice {
                id: "in_1".to_owned()
            }
        );
        assert_eq!(event.api_version, None);
        assert_eq!(event.livemode, None);
        let err = StripeEvent::<Invoice>::from_delivery(
            &HeaderMap::new(),
            br#"{"id": "evt_1", "type": "invoice.paid", "created": 1, "data": {"object": {}}}"#,
        )
        .unwrap_err();
        assert_eq!(err.path(), Some("data.object"));
    }
}
