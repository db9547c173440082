//! Meta (Facebook, Instagram, WhatsApp): `object` plus the changed field.

use http::HeaderMap;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{joined, names_and_payload};
use crate::json::JsonBody;
use crate::{Event, EventName, FromDelivery, ParseError, Sender};

/// A Meta Graph API webhook notification: `object` (`page`, `instagram`,
/// `whatsapp_business_account` ...), the field of the first change (`feed`,
/// `messages` ...; `messaging` for Messenger's `entry[].messaging`), and the
/// body as `D`. Meta sends no delivery id: a receiver derives one from the body.
///
/// The event name is `object.field` (`whatsapp_business_account.messages`),
/// or the bare object when no entry names a field.
///
/// ```
/// use hookgate_events::{Event, FromDelivery, MetaEvent};
///
/// let body = br#"{"object":"whatsapp_business_account","entry":[{"id":"102290129340398",
///     "changes":[{"value":{"messaging_product":"whatsapp"},"field":"messages"}]}]}"#;
/// let event: MetaEvent = MetaEvent::from_delivery(&http::HeaderMap::new(), body)?;
/// assert_eq!(event.event_name(), "whatsapp_business_account.messages");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MetaEvent<D = Value> {
    /// `object`: what the subscription is for.
    pub object: String,
    /// The field of the first change, when an entry names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The body (`object` and its `entry` list).
    pub payload: D,
}

impl<D> Event for MetaEvent<D> {
    fn event_name(&self) -> EventName {
        joined(&self.object, self.field.as_deref())
    }
}

#[derive(Deserialize)]
struct Names {
    object: String,
    #[serde(default)]
    entry: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(default)]
    changes: Vec<Change>,
    #[serde(default)]
    messaging: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct Change {
    #[serde(default)]
    field: Option<String>,
}

impl Names {
    fn field(&self) -> Option<&str> {
        self.entry.iter().find_map(|entry| {
            entry
                .changes
                .iter()
                .find_map(|c| c.field.as_deref())
                .or(entry.messaging.map(|_| "messaging"))
        })
    }
}

impl<D: DeserializeOwned> FromDelivery for MetaEvent<D> {
    fn from_delivery(_headers: &HeaderMap, body: &[u8]) -> Result<Self, ParseError> {
        let (names, payload): (Names, D) = names_and_payload(Sender::Meta, body)?;
        Ok(Self {
            field: names.field().map(str::to_owned),
            object: names.object,
            payload,
        })
    }
}

/// Reads `object` and the entries' fields.
pub(crate) fn event_name(body: &JsonBody<'_>) -> Result<EventName, ParseError> {
    let names: Names = body.read(Sender::Meta)?;
    Ok(joined(&names.object, names.field()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messenger_entries_are_messaging() {
        let body = br#"{"object":"page","entry":[{"id":"1","time":1,"messaging":[{"message":{"text":"hi"}}]}]}"#;
        assert_eq!(event_name(&JsonBody::new(body)).unwrap(), "page.messaging");
        assert_eq!(
            event_name(&JsonBody::new(br#"{"object":"page","entry":[]}"#)).unwrap(),
            "page"
        );
    }
}
