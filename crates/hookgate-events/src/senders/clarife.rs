//! clarife: the envelope `{id, type, created_at, data}` and its 16 event types.

use http::HeaderMap;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::macros::event_catalogue;
use crate::error::{from_body, from_value};
use crate::json::JsonBody;
use crate::{Event, EventName, FromDelivery, ParseError, Sender};

/// A clarife webhook delivery.
///
/// `data` is typed per resource where clarife documents its fields (the
/// document), and kept as JSON otherwise.
///
/// ```
/// use hookgate_events::{ClarifeData, ClarifeEvent, ClarifeEventType, Event};
///
/// let event: ClarifeEvent = serde_json::from_str(r#"{
///     "id": "evt_1", "type": "document.updated", "created_at": "2026-03-28T12:00:00Z",
///     "data": {"id": "d1", "title": "Updated Document"}
/// }"#)?;
/// assert_eq!(event.kind, ClarifeEventType::DocumentUpdated);
/// assert_eq!(event.event_id(), Some("evt_1"));
/// let ClarifeData::Document(document) = &event.data else { panic!() };
/// assert_eq!(document.title.as_deref(), Some("Updated Document"));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Wire")]
#[non_exhaustive]
pub struct ClarifeEvent {
    /// The event id, `evt_...`; the same on every retry of this event.
    pub id: String,
    /// The event type, `document.created` ...
    #[serde(rename = "type")]
    pub kind: ClarifeEventType,
    /// When the event happened.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The resource at the time of the event.
    pub data: ClarifeData,
    /// Envelope fields clarife may add later, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

event_catalogue! {
    /// The event types of clarife's table, plus any it adds later.
    pub enum ClarifeEventType {
        /// A new document was created.
        DocumentCreated = "document.created",
        /// A document's title, description, or content changed.
        DocumentUpdated = "document.updated",
        /// A document was soft-deleted (moved to trash).
        DocumentDeleted = "document.deleted",
        /// A new project was created.
        ProjectCreated = "project.created",
        /// A project was renamed or moved.
        ProjectUpdated = "project.updated",
        /// A project was deleted.
        ProjectDeleted = "project.deleted",
        /// A new folder was created.
        FolderCreated = "folder.created",
        /// A folder was renamed.
        FolderUpdated = "folder.updated",
        /// A folder was deleted.
        FolderDeleted = "folder.deleted",
        /// A media file was uploaded and confirmed.
        MediaUploaded = "media.uploaded",
        /// An AI video generation started.
        GenerationStarted = "generation.started",
        /// An AI video generation finished successfully.
        GenerationCompleted = "generation.completed",
        /// An AI video generation failed.
        GenerationFailed = "generation.failed",
        /// A share link was created.
        ShareCreated = "share.created",
        /// A share link's settings were changed.
        ShareUpdated = "share.updated",
        /// A share link was deleted.
        ShareDeleted = "share.deleted",
    }
}

/// The `data` of a clarife event: the resource, typed where documented.
///
/// A `document.*` event whose `data` is an object with an `id` is a
/// [`Document`](Self::Document); its documented fields must then have their
/// documented types. Anything else (`data` absent or `null`, or without the
/// document's `id`) is kept as [`Other`](Self::Other) rather than refused:
/// the envelope is clarife's, and what its `data` holds may change.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum ClarifeData {
    /// The document of a `document.*` event.
    Document(ClarifeDocument),
    /// Any other resource, as sent (`null` when `data` is absent); also the
    /// `data` of a `document.*` event that is not a document with an `id`.
    Other(Value),
}

/// A clarife document, as far as the webhook documentation shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ClarifeDocument {
    /// The document id.
    pub id: String,
    /// The title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// When the document last changed.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub updated_at: Option<OffsetDateTime>,
    /// Every other field of the API's document, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The envelope as it arrives, before `data` is typed by the event type.
#[derive(Deserialize)]
struct Wire {
    id: String,
    #[serde(rename = "type")]
    kind: ClarifeEventType,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(default)]
    data: Value,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

impl Wire {
    fn into_event(self) -> Result<ClarifeEvent, ParseError> {
        let is_document = self.kind.name().resource() == "document"
            && self.data.get("id").is_some_and(|id| !id.is_null());
        let data = if is_document {
            ClarifeData::Document(from_value(Sender::Clarife, &self.data, "data")?)
        } else {
            ClarifeData::Other(self.data)
        };
        Ok(ClarifeEvent {
            id: self.id,
            kind: self.kind,
            created_at: self.created_at,
            data,
            extra: self.extra,
        })
    }
}

impl TryFrom<Wire> for ClarifeEvent {
    type Error = ParseError;

    fn try_from(wire: Wire) -> Result<Self, Self::Error> {
        wire.into_event()
    }
}

impl Event for ClarifeEvent {
    fn event_name(&self) -> EventName {
        self.kind.name()
    }

    fn event_id(&self) -> Option<&str> {
        // An empty id identifies nothing (hookgate-verify ignores it too).
        Some(self.id.as_str()).filter(|id| !id.is_empty())
    }

    fn is_known(&self) -> bool {
        self.kind.is_known()
    }
}

impl FromDelivery for ClarifeEvent {
    fn from_delivery(_headers: &HeaderMap, body: &[u8]) -> Result<Self, ParseError> {
        // Through the wire type, so that an error in `data` keeps its path.
        from_body::<Wire>(Sender::Clarife, body)?.into_event()
    }
}

/// Reads just enough of a clarife body to name the event.
pub(crate) fn event_name(body: &JsonBody<'_>) -> Result<EventName, ParseError> {
    #[derive(Deserialize)]
    struct Name {
        #[serde(rename = "type")]
        kind: ClarifeEventType,
    }
    Ok(body.read::<Name>(Sender::Clarife)?.kind.name())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The payload of clarife's documentation (001_2ced5e2adcb71b9e.txt).
    const SAMPLE: &str = r#"{
  "id": "evt_a1b2c3d4-5678-90ab-cdef-1234567890ab",
  "type": "document.updated",
  "created_at": "2026-03-28T12:00:00Z",
  "data": {
    "id": "d1a2b3c4-...",
    "title": "Updated Document",
    "updated_at": "2026-03-28T12:00:00Z"
  }
}"#;

    fn parse(body: &str) -> Result<ClarifeEvent, ParseError> {
        ClarifeEvent::from_delivery(&HeaderMap::new(), body.as_bytes())
    }

    #[test]
    fn documented_sample_parses_and_round_trips() {
        let event = parse(SAMPLE).unwrap();
        assert_eq!(event.id, "evt_a1b2c3d4-5678-90ab-cdef-1234567890ab");
        assert_eq!(event.kind, ClarifeEventType::DocumentUpdated);
        assert_eq!(
            event.created_at,
            time::macros::datetime!(2026-03-28 12:00:00 UTC)
        );
        let ClarifeData::Document(document) = &event.data else {
            panic!("{:?}", event.data)
        };
        assert_eq!(document.id, "d1a2b3c4-...");
        assert_eq!(document.title.as_deref(), Some("Updated Document"));
        assert_eq!(
            document.updated_at,
            Some(time::macros::datetime!(2026-03-28 12:00:00 UTC))
        );
        assert!(document.extra.is_empty() && event.extra.is_empty());
        assert_eq!(event.event_name(), "document.updated");
        assert!(event.is_known());
        assert_eq!(
            super::event_name(&crate::JsonBody::new(SAMPLE.as_bytes())).unwrap(),
            "document.updated"
        );

        let json = serde_json::to_string(&event).unwrap();
        assert_eq!(parse(&json).unwrap(), event);
        assert_eq!(serde_json::from_str::<ClarifeEvent>(&json).unwrap(), event);
        assert_eq!(
            serde_json::from_str::<Value>(&json).unwrap(),
            serde_json::from_str::<Value>(SAMPLE).unwrap()
        );
    }

    #[test]
    fn all_sixteen_types_are_known() {
        assert_eq!(ClarifeEventType::KNOWN.len(), 16);
        for name in ClarifeEventType::KNOWN {
            let kind: ClarifeEventType = name.parse().unwrap();
            assert!(kind.is_known(), "{name}");
            assert_eq!(kind.as_str(), *name);
        }
    }

    #[test]
    fn unknown_type_extra_fields_and_missing_data() {
        let event = parse(
            r#"{"id": "evt_2", "type": "comment.created", "created_at": "2026-03-28T12:00:00Z",
                "workspace": "w1"}"#,
        )
        .unwrap();
        assert_eq!(
            event.kind,
            ClarifeEventType::Unknown("comment.created".to_owned())
        );
        assert!(!event.is_known());
        assert_eq!(event.data, ClarifeData::Other(Value::Null));
        assert_eq!(event.extra["workspace"], "w1");

        let event = parse(
            r#"{"id": "evt_3", "type": "project.created", "created_at": "2026-03-28T12:00:00Z",
                "data": {"id": "p1", "name": "Launch"}}"#,
        )
        .unwrap();
        assert_eq!(
            event.data,
            ClarifeData::Other(json!({"id": "p1", "name": "Launch"}))
        );

        // A document with fields beyond the documented ones, and without the optional ones.
        let event = parse(
            r#"{"id": "evt_4", "type": "document.deleted", "created_at": "2026-03-28T12:00:00Z",
                "data": {"id": "d1", "folder_id": "f1"}}"#,
        )
        .unwrap();
        let ClarifeData::Document(document) = &event.data else {
            panic!()
        };
        assert_eq!(document.title, None);
        assert_eq!(document.extra["folder_id"], "f1");
        let json = serde_json::to_string(&event).unwrap();
        assert_eq!(parse(&json).unwrap(), event);
    }

    #[test]
    fn document_events_without_a_document_are_kept_untyped() {
        for (data, expected) in [
            ("", Value::Null),
            (r#", "data": null"#, Value::Null),
            (r#", "data": {}"#, json!({})),
            (r#", "data": {"title": "No id"}"#, json!({"title": "No id"})),
            (
                r#", "data": {"id": null, "x": 1}"#,
                json!({"id": null, "x": 1}),
            ),
            (r#", "data": ["d1"]"#, json!(["d1"])),
        ] {
            let body = format!(
                r#"{{"id": "evt_5", "type": "document.deleted", "created_at": "2026-03-28T12:00:00Z"{data}}}"#
            );
            let event = parse(&body).unwrap_or_else(|err| panic!("{data}: {err}"));
            assert_eq!(event.kind, ClarifeEventType::DocumentDeleted);
            assert!(event.is_known());
            assert_eq!(event.data, ClarifeData::Other(expected), "{data}");
            let json = serde_json::to_string(&event).unwrap();
            assert_eq!(parse(&json).unwrap(), event);
        }
    }

    #[test]
    fn an_empty_id_is_no_event_id() {
        let event =
            parse(r#"{"id": "", "type": "share.created", "created_at": "2026-03-28T12:00:00Z"}"#)
                .unwrap();
        assert_eq!(event.id, "");
        assert_eq!(event.event_id(), None);
    }

    #[test]
    fn errors_name_the_field() {
        let err = parse(
            r#"{"id": "evt_2", "type": "document.created", "created_at": "2026-03-28T12:00:00Z",
                "data": {"id": "d1", "title": 5}}"#,
        )
        .unwrap_err();
        assert_eq!(err.path(), Some("data.title"));
        assert_eq!(
            err.to_string(),
            "not a clarife payload at `data.title`: invalid type: integer `5`, expected a string"
        );
        let err =
            parse(r#"{"id": "evt_2", "type": "document.created", "created_at": "yesterday"}"#)
                .unwrap_err();
        assert_eq!(err.path(), Some("created_at"));
        let err = parse(r#"{"id": "evt_2", "type": "", "created_at": "2026-03-28T12:00:00Z"}"#)
            .unwrap_err();
        assert_eq!(err.path(), Some("type"));
    }
}
