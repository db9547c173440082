//! Claimable: dotted event names with `source` and `performed_by` metadata.

use std::borrow::Cow;
use std::fmt;

use http::HeaderMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use super::macros::event_catalogue;
use crate::error::from_body;
use crate::json::JsonBody;
use crate::{Event, EventName, FromDelivery, ParseError, Sender};

/// A Claimable webhook delivery.
///
/// Claimable documents the metadata (`event_name`, `source`, `performed_by`)
/// and says the body carries "the object that is the target of the action,
/// e.g. `claim`, `contact`". Its exact layout is not published, so the target
/// is kept as JSON under its own key; [`target`](Self::target) finds it from
/// the event name.
///
/// ```
/// use hookgate_events::{ClaimableEvent, ClaimableEventName, ClaimableSource};
///
/// let event: ClaimableEvent = serde_json::from_str(r#"{
///     "event_name": "claim.label_added", "source": "api", "performed_by": "CRM sync",
///     "claim": {"id": 42, "label": "urgent"}
/// }"#)?;
/// assert_eq!(event.event_name, ClaimableEventName::ClaimLabelAdded);
/// assert_eq!(event.source, Some(ClaimableSource::Api));
/// assert_eq!(event.target().unwrap()["id"], 42);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ClaimableEvent {
    /// What happened.
    pub event_name: ClaimableEventName,
    /// Whether a user (`ui`) or an integration (`api`) did it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<ClaimableSource>,
    /// The name of the user or API token that did it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub performed_by: Option<ClaimablePerformer>,
    /// The claim, for `claim.*` events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<Value>,
    /// The contact, for `contact.*` events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<Value>,
    /// Every other field (targets of future events among them), kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ClaimableEvent {
    /// The target object: the field named after the event's resource
    /// (`claim` for `claim.created`), when present.
    pub fn target(&self) -> Option<&Value> {
        // From the raw name, so an unusual resource still finds its field.
        let raw = self.event_name.as_str();
        let resource = raw.rsplit_once('.').map_or(raw, |(resource, _)| resource);
        match resource {
            "claim" => self.claim.as_ref(),
            "contact" => self.contact.as_ref(),
            other => self.extra.get(other),
        }
    }
}

event_catalogue! {
    /// The events Claimable documents, plus any it adds later.
    pub enum ClaimableEventName {
        /// A claim was created.
        ClaimCreated = "claim.created",
        /// A claim's status became "closed".
        ClaimClosed = "claim.closed",
        /// A claim's status became "open" after being "closed".
        ClaimReopened = "claim.reopened",
        /// A label was added to a claim.
        ClaimLabelAdded = "claim.label_added",
        /// A label was removed from a claim.
        ClaimLabelRemoved = "claim.label_removed",
        /// A claim was assigned to a user.
        ClaimAssigned = "claim.assigned",
        /// A claim was unassigned and is no longer assigned to anyone.
        ClaimUnassigned = "claim.unassigned",
        /// A claim's type was changed.
        ClaimSwitchedType = "claim.switched_type",
        /// A contact was created.
        ContactCreated = "contact.created",
    }
}

/// Who started the action that triggered a Claimable event.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ClaimableSource {
    /// A user, in Claimable's interface (`ui`).
    Ui,
    /// An integration, through the API (`api`).
    Api,
    /// A source this crate does not know yet, kept as sent.
    Unknown(String),
}

impl ClaimableSource {
    /// The wire spelling.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Ui => "ui",
            Self::Api => "api",
            Self::Unknown(raw) => raw,
        }
    }
}

impl fmt::Display for ClaimableSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ClaimableSource {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ClaimableSource {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = Cow::<'de, str>::deserialize(deserializer)?;
        Ok(match &*s {
            "ui" => Self::Ui,
            "api" => Self::Api,
            _ => Self::Unknown(s.into_owned()),
        })
    }
}

/// Who performed the action: documented as "the name of the user or API
/// token"; anything else Claimable sends there is kept as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum ClaimablePerformer {
    /// The name of the user or API token.
    Name(String),
    /// Any other shape, as sent.
    Other(Value),
}

impl Event for ClaimableEvent {
    fn event_name(&self) -> EventName {
        self.event_name.name()
    }

    fn is_known(&self) -> bool {
        self.event_name.is_known()
    }
}

impl FromDelivery for ClaimableEvent {
    fn from_delivery(_headers: &HeaderMap, body: &[u8]) -> Result<Self, ParseError> {
        from_body(Sender::Claimable, body)
    }
}

/// Reads just enough of a Claimable body to name the event.
pub(crate) fn event_name(body: &JsonBody<'_>) -> Result<EventName, ParseError> {
    #[derive(Deserialize)]
    struct Name {
        event_name: ClaimableEventName,
    }
    Ok(body.read::<Name>(Sender::Claimable)?.event_name.name())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(body: &str) -> Result<ClaimableEvent, ParseError> {
        ClaimableEvent::from_delivery(&HeaderMap::new(), body.as_bytes())
    }

    #[test]
    fn documented_events_parse_and_round_trip() {
        assert_eq!(ClaimableEventName::KNOWN.len(), 9);
        for name in ClaimableEventName::KNOWN {
            let target = name.split('.').next().unwrap();
            let body = json!({
                "event_name": name,
                "source": "ui",
                "performed_by": "Jane Doe",
                target: {"id": 7},
            })
            .to_string();
            let event = parse(&body).unwrap();
            assert!(event.event_name.is_known(), "{name}");
            assert_eq!(event.event_name(), *name);
            assert_eq!(event.source, Some(ClaimableSource::Ui));
            assert_eq!(
                event.performed_by,
                Some(ClaimablePerformer::Name("Jane Doe".to_owned()))
            );
            assert_eq!(event.target(), Some(&json!({"id": 7})));
            assert!(event.extra.is_empty());
            assert_eq!(
                super::event_name(&crate::JsonBody::new(body.as_bytes())).unwrap(),
                *name
            );
            let json = serde_json::to_string(&event).unwrap();
            assert_eq!(parse(&json).unwrap(), event);
        }
    }

    #[test]
    fn unknown_events_sources_and_fields_are_kept() {
        let event = parse(
            r#"{"event_name": "invoice.paid", "source": "automation",
                "performed_by": {"id": 3, "name": "Rule"}, "invoice": {"id": 9}, "trace": "t1"}"#,
        )
        .unwrap();
        assert_eq!(
            event.event_name,
            ClaimableEventName::Unknown("invoice.paid".to_owned())
        );
        assert!(!event.is_known());
        assert_eq!(
            event.source,
            Some(ClaimableSource::Unknown("automation".to_owned()))
        );
        assert_eq!(
            event.performed_by,
            Some(ClaimablePerformer::Other(json!({"id": 3, "name": "Rule"})))
        );
        assert_eq!(event.target(), Some(&json!({"id": 9})));
        assert_eq!(event.extra["trace"], "t1");
        let json = serde_json::to_string(&event).unwrap();
        assert_eq!(parse(&json).unwrap(), event);
    }

    #[test]
    fn only_event_name_is_required() {
        let event = parse(r#"{"event_name": "contact.created"}"#).unwrap();
        assert_eq!(event.source, None);
        assert_eq!(event.performed_by, None);
        assert_eq!(event.target(), None);
        let err = parse(r#"{"source": "ui"}"#).unwrap_err();
        assert!(
            err.to_string().contains("missing field `event_name`"),
            "{err}"
        );
        let err = parse(r#"{"event_name": ""}"#).unwrap_err();
        assert_eq!(err.path(), Some("event_name"));
    }

    #[test]
    fn unusual_event_names_are_kept_raw_and_still_route() {
        let body = r#"{"event_name": "claim created", "claim created": {"id": 1}}"#;
        let event = parse(body).unwrap();
        assert_eq!(
            event.event_name,
            ClaimableEventName::Unknown("claim created".to_owned())
        );
        assert_eq!(event.event_name.as_str(), "claim created");
        assert!(!event.is_known());
        assert_eq!(event.event_name(), "claim%20created");
        assert_eq!(
            super::event_name(&crate::JsonBody::new(body.as_bytes())).unwrap(),
            "claim%20created"
        );
        assert_eq!(event.target(), Some(&json!({"id": 1})));
        assert_eq!(
            serde_json::to_value(&event).unwrap()["event_name"],
            "claim created"
        );
        assert!(crate::Pattern::any().matches(&event.event_name()));

        let event = parse(r#"{"event_name": "claim.étiqueté"}"#).unwrap();
        assert_eq!(event.event_name.as_str(), "claim.étiqueté");
        assert_eq!(event.event_name(), "claim.%C3%A9tiquet%C3%A9");
        assert!(
            crate::Pattern::new("claim.*")
                .unwrap()
                .matches(&event.event_name())
        );
        assert_eq!(
            "claim created".parse::<ClaimableEventName>().unwrap(),
            ClaimableEventName::Unknown("claim created".to_owned())
        );
    }
}
