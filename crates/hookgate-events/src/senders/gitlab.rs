//! GitLab: the event from the body's `object_kind` plus its action.

use http::HeaderMap;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{header, joined, names_and_payload};
use crate::json::JsonBody;
use crate::{Event, EventName, FromDelivery, ParseError, Sender};

/// A GitLab webhook delivery: the body's `object_kind` (`push`,
/// `merge_request`, `pipeline` ...), `object_attributes.action` when it has
/// one, the id from `X-Gitlab-Event-UUID`, and the body as `D`.
///
/// The event name is `object_kind.action` (`merge_request.open`) or the bare
/// kind (`push`).
///
/// ```
/// use hookgate_events::{Event, FromDelivery, GitLabEvent};
///
/// let body = br#"{"object_kind":"merge_request","event_type":"merge_request","object_attributes":{"iid":1,"action":"open"}}"#;
/// let event: GitLabEvent = GitLabEvent::from_delivery(&http::HeaderMap::new(), body)?;
/// assert_eq!(event.event_name(), "merge_request.open");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GitLabEvent<D = Value> {
    /// `object_kind`: `push`, `tag_push`, `issue`, `note`, `merge_request` ...
    pub object_kind: String,
    /// `object_attributes.action`, when present: `open`, `update`, `close` ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// `X-Gitlab-Event-UUID`: the id of this delivery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_uuid: Option<String>,
    /// The body.
    pub payload: D,
}

impl<D> Event for GitLabEvent<D> {
    fn event_name(&self) -> EventName {
        joined(&self.object_kind, self.action.as_deref())
    }

    fn event_id(&self) -> Option<&str> {
        self.event_uuid.as_deref()
    }
}

#[derive(Deserialize)]
struct Names {
    object_kind: String,
    #[serde(default)]
    object_attributes: Option<Attributes>,
}

#[derive(Deserialize)]
struct Attributes {
    #[serde(default)]
    action: Option<String>,
}

impl Names {
    fn action(&self) -> Option<&str> {
        self.object_attributes.as_ref()?.action.as_deref()
    }
}

impl<D: DeserializeOwned> FromDelivery for GitLabEvent<D> {
    fn from_delivery(headers: &HeaderMap, body: &[u8]) -> Result<Self, ParseError> {
        let (names, payload): (Names, D) = names_and_payload(Sender::GitLab, body)?;
        Ok(Self {
            action: names.action().map(str::to_owned),
            object_kind: names.object_kind,
            event_uuid: header(Sender::GitLab, headers, "x-gitlab-event-uuid")?.map(str::to_owned),
            payload,
        })
    }
}

/// Reads just enough of the body to name the event.
pub(crate) fn event_name(body: &JsonBody<'_>) -> Result<EventName, ParseError> {
    let names: Names = body.read(Sender::GitLab)?;
    Ok(joined(&names.object_kind, names.action()))
}
