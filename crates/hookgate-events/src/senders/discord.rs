//! Discord interactions: the interaction type (and the command's name).

use http::HeaderMap;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{joined, names_and_payload};
use crate::json::JsonBody;
use crate::{Event, EventName, FromDelivery, ParseError, Sender};

/// A Discord interaction sent to an interactions endpoint: its `type`, `id`,
/// the command's `data.name` for commands, and the body as `D`.
///
/// The event name is the type's name in Discord's documentation, in
/// snake_case: `ping` (1, which receivers answer), `application_command` (2,
/// as `application_command.<name>` when the command is named),
/// `message_component` (3), `application_command_autocomplete` (4),
/// `modal_submit` (5); another number is kept as `type_<n>`.
///
/// ```
/// use hookgate_events::{DiscordInteraction, Event, FromDelivery};
///
/// let body = br#"{"type":2,"id":"786008729715212338","application_id":"775799577604522054","data":{"name":"blep"}}"#;
/// let event: DiscordInteraction = DiscordInteraction::from_delivery(&http::HeaderMap::new(), body)?;
/// assert_eq!(event.event_name(), "application_command.blep");
/// assert_eq!(event.event_id(), Some("786008729715212338"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DiscordInteraction<D = Value> {
    /// The interaction type: 1 to 5 today.
    pub kind: u64,
    /// The interaction id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The command's name (`data.name`), for commands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// The body.
    pub payload: D,
}

impl<D> Event for DiscordInteraction<D> {
    fn event_name(&self) -> EventName {
        name(self.kind, self.command.as_deref())
    }

    fn event_id(&self) -> Option<&str> {
        self.id.as_deref()
    }
}

fn name(kind: u64, command: Option<&str>) -> EventName {
    match kind {
        1 => EventName::from_static("ping"),
        2 => joined("application_command", command),
        3 => EventName::from_static("message_component"),
        4 => EventName::from_static("application_command_autocomplete"),
        5 => EventName::from_static("modal_submit"),
        other => joined(&format!("type_{other}"), None),
    }
}

#[derive(Deserialize)]
struct Names {
    #[serde(rename = "type")]
    kind: u64,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    data: Option<Data>,
}

#[derive(Deserialize)]
struct Data {
    #[serde(default)]
    name: Option<String>,
}

impl<D: DeserializeOwned> FromDelivery for DiscordInteraction<D> {
    fn from_delivery(_headers: &HeaderMap, body: &[u8]) -> Result<Self, ParseError> {
        let (names, payload): (Names, D) = names_and_payload(Sender::Discord, body)?;
        Ok(Self {
            kind: names.kind,
            id: names.id,
            command: names.data.and_then(|d| d.name),
            payload,
        })
    }
}

/// Reads `type` and the command's name.
pub(crate) fn event_name(body: &JsonBody<'_>) -> Result<EventName, ParseError> {
    let names: Names = body.read(Sender::Discord)?;
    let command = names.data.and_then(|d| d.name);
    Ok(name(names.kind, command.as_deref()))
}
