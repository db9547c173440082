//! Clarity's custom routes: the context fields of a workflow trigger.

use std::fmt;

use http::HeaderMap;
use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::error::from_body;
use crate::{Event, EventName, FromDelivery, ParseError, Sender};

/// The one event name of Clarity deliveries: a route is bound to one
/// workflow trigger, and the body names no event.
const TRIGGER: EventName = EventName::from_static("trigger");

/// A request to a Clarity custom route (a `POST` with a JSON body): the
/// context fields its workflow trigger requires, in the order sent (Clarity
/// requires "these parameters, in the order displayed").
///
/// Clarity's body names no event: each route is bound to one trigger, so
/// every delivery is named `trigger`, and the route (the source) tells
/// triggers apart. `GET` routes carry their context in the query string,
/// which is not this type's.
///
/// ```
/// use hookgate_events::{ClarityEvent, Event};
///
/// let event: ClarityEvent = serde_json::from_str(
///     r#"{"app_identifier": "salesforce", "identity_id": "42", "meta": {"ticket": "IT-1"}}"#,
/// )?;
/// assert_eq!(event.event_name(), "trigger");
/// assert_eq!(event.get("identity_id").unwrap(), "42");
/// let names: Vec<&str> = event.context.iter().map(|(name, _)| name.as_str()).collect();
/// assert_eq!(names, ["app_identifier", "identity_id", "meta"]);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ClarityEvent {
    /// The context fields, in the order sent.
    pub context: Vec<(String, Value)>,
}

impl ClarityEvent {
    /// The context field `name`, when sent.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.context
            .iter()
            .find(|(field, _)| field == name)
            .map(|(_, value)| value)
    }
}

impl Event for ClarityEvent {
    fn event_name(&self) -> EventName {
        TRIGGER
    }
}

impl FromDelivery for ClarityEvent {
    fn from_delivery(_headers: &HeaderMap, body: &[u8]) -> Result<Self, ParseError> {
        from_body(Sender::Clarity, body)
    }
}

impl<'de> Deserialize<'de> for ClarityEvent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Fields;

        impl<'de> Visitor<'de> for Fields {
            type Value = ClarityEvent;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object of context fields")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ClarityEvent, A::Error> {
                let mut context = Vec::new();
                while let Some(field) = map.next_entry::<String, Value>()? {
                    context.push(field);
                }
                Ok(ClarityEvent { context })
            }
        }

        deserializer.deserialize_map(Fields)
    }
}

impl Serialize for ClarityEvent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.context.len()))?;
        for (name, value) in &self.context {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

/// Clarity's body names no event: every delivery is a `trigger`.
pub(crate) fn event_name() -> EventName {
    TRIGGER
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_context_keeps_its_order_and_round_trips() {
        let sample = include_str!("../../../../samples/clarity.json");
        let event = ClarityEvent::from_delivery(&HeaderMap::new(), sample.as_bytes()).unwrap();
        let names: Vec<&str> = event.context.iter().map(|(n, _)| n.as_str()).collect();
        // Clarity's Provision Entitlement trigger, in its documented order.
        assert_eq!(
            names,
            [
                "app_identifier",
                "identity_id",
                "entitlement_id",
                "expiration",
                "grant_type",
                "meta",
                "creator_id"
            ]
        );
        assert_eq!(event.get("meta").unwrap()["ticket"], "IT-4821");
        let json = serde_json::to_string(&event).unwrap();
        assert!(json.starts_with("{\"app_identifier\":\"salesforce\",\"identity_id\":"));
        assert_eq!(event.event_name(), "trigger");
    }

    #[test]
    fn a_body_that_is_no_object_is_not_clarity_s() {
        for body in ["[1, 2]", "\"text\"", "not json"] {
            let err = ClarityEvent::from_delivery(&HeaderMap::new(), body.as_bytes()).unwrap_err();
            assert_eq!(err.sender(), Sender::Clarity);
        }
    }
}
