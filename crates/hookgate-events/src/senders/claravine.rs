//! Claravine: one fixed payload for templates, lists and submissions.

use std::borrow::Cow;
use std::fmt;

use http::HeaderMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use url::Url;
use uuid::Uuid;

use crate::error::from_body;
use crate::json::JsonBody;
use crate::{Event, EventName, FromDelivery, ParseError, Sender, Token};

/// A Claravine notification: `{event, event_time, object_id, href, version, operation, token}`.
///
/// Its [`event_name`](Event::event_name) joins the object type and the
/// operation in lowercase, `template.created` or `submission.completed`, so
/// it routes like the dotted senders. The `token` (Claravine's copy of the
/// bearer token) is never printed by `Debug` and never serialized, except
/// through [`with_token`](Self::with_token).
///
/// ```
/// use hookgate_events::{ClaravineEvent, ClaravineOperation, Event};
///
/// let event: ClaravineEvent = serde_json::from_str(r#"{
///     "event": "template", "event_time": 1770925732,
///     "object_id": "5445a6c9-5954-4cae-8f4e-8f1068ee1d4f",
///     "href": "https://api.claravine.com/v1/datasets/5445a6c9-5954-4cae-8f4e-8f1068ee1d4f/definition",
///     "operation": "added", "version": 1, "token": "client-secret"
/// }"#)?;
/// assert_eq!(event.operation, ClaravineOperation::Created);
/// assert_eq!(event.event_name(), "template.created");
/// assert!(!format!("{event:?}").contains("client-secret"));
/// assert!(!serde_json::to_string(&event)?.contains("client-secret"));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ClaravineEvent {
    /// The object type: template, list or submission.
    pub event: ClaravineObject,
    /// When the event occurred (a Unix timestamp in seconds on the wire).
    #[serde(with = "time::serde::timestamp")]
    pub event_time: OffsetDateTime,
    /// The affected object.
    pub object_id: Uuid,
    /// Where to fetch the full, updated object from the Claravine API.
    pub href: Url,
    /// The object's version at the time of the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// What happened to the object.
    pub operation: ClaravineOperation,
    /// The bearer token, repeated in the body; not serialized.
    #[serde(default, skip_serializing)]
    pub token: Option<Token>,
    /// Fields Claravine may add later, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ClaravineEvent {
    /// Serializes the event *including* the token, for forwarding it to a
    /// system that checks it again.
    pub fn with_token(&self) -> impl Serialize + '_ {
        #[derive(Serialize)]
        struct WithToken<'a> {
            #[serde(flatten)]
            event: &'a ClaravineEvent,
            #[serde(skip_serializing_if = "Option::is_none")]
            token: Option<&'a str>,
        }
        WithToken {
            event: self,
            token: self.token.as_ref().map(Token::expose),
        }
    }
}

impl Event for ClaravineEvent {
    fn event_name(&self) -> EventName {
        name(&self.event, &self.operation)
    }

    fn is_known(&self) -> bool {
        self.event.is_known() && self.operation.is_known()
    }
}

impl FromDelivery for ClaravineEvent {
    fn from_delivery(_headers: &HeaderMap, body: &[u8]) -> Result<Self, ParseError> {
        from_body(Sender::Claravine, body)
    }
}

/// `template.created`: Claravine's event name from its two fields, in
/// lowercase; an unfamiliar value routes under its
/// [`EventName::new_lossy`] (`list.up%20dated` for `"up dated"`).
fn name(object: &ClaravineObject, operation: &ClaravineOperation) -> EventName {
    let part = |raw: &str| EventName::new_lossy(&raw.to_ascii_lowercase());
    EventName::join(
        part(object.as_str()).as_str(),
        part(operation.as_str()).as_str(),
    )
}

/// Reads just enough of a Claravine body to name the event.
pub(crate) fn event_name(body: &JsonBody<'_>) -> Result<EventName, ParseError> {
    #[derive(Deserialize)]
    struct Names {
        event: ClaravineObject,
        operation: ClaravineOperation,
    }
    let names: Names = body.read(Sender::Claravine)?;
    Ok(name(&names.event, &names.operation))
}

/// The Claravine object type, the payload's `event` field.
///
/// Read case-insensitively; written in lowercase.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ClaravineObject {
    /// A template (dataset definition).
    Template,
    /// A list or a Powered List.
    List,
    /// A submission (transaction).
    Submission,
    /// An object type this crate does not know yet, kept exactly as sent
    /// (any non-empty string).
    Unknown(String),
}

impl ClaravineObject {
    /// The lowercase name, or the raw one for `Unknown`.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Template => "template",
            Self::List => "list",
            Self::Submission => "submission",
            Self::Unknown(raw) => raw,
        }
    }

    /// Whether this is a documented object type.
    pub fn is_known(&self) -> bool {
        !matches!(self, Self::Unknown(_))
    }

    fn parse(s: &str) -> Result<Self, crate::InvalidEventName> {
        Ok(match s {
            s if s.eq_ignore_ascii_case("template") => Self::Template,
            s if s.eq_ignore_ascii_case("list") => Self::List,
            s if s.eq_ignore_ascii_case("submission") => Self::Submission,
            s => Self::Unknown(crate::name::raw_name(s)?),
        })
    }
}

/// What happened to the object, the payload's `operation` field.
///
/// Claravine sends it in mixed case (`Created`, `Completed`, `updated`);
/// it is read case-insensitively, and `added` (what a template sends on
/// creation) reads as [`Created`](Self::Created). Written in lowercase.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ClaravineOperation {
    /// The object was created (`created`, `Created` or `added`).
    Created,
    /// The object was updated (for lists, also on a Powered List refresh).
    Updated,
    /// The object was deleted.
    Deleted,
    /// A submission was completed.
    Completed,
    /// An operation this crate does not know yet, kept exactly as sent
    /// (any non-empty string).
    Unknown(String),
}

impl ClaravineOperation {
    /// The lowercase name, or the raw one for `Unknown`.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Deleted => "deleted",
            Self::Completed => "completed",
            Self::Unknown(raw) => raw,
        }
    }

    /// Whether this is a documented operation.
    pub fn is_known(&self) -> bool {
        !matches!(self, Self::Unknown(_))
    }

    fn parse(s: &str) -> Result<Self, crate::InvalidEventName> {
        Ok(match s {
            s if s.eq_ignore_ascii_case("created") || s.eq_ignore_ascii_case("added") => {
                Self::Created
            }
            s if s.eq_ignore_ascii_case("updated") => Self::Updated,
            s if s.eq_ignore_ascii_case("deleted") => Self::Deleted,
            s if s.eq_ignore_ascii_case("completed") => Self::Completed,
            s => Self::Unknown(crate::name::raw_name(s)?),
        })
    }
}

macro_rules! string_serde {
    ($ty:ty) => {
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = Cow::<'de, str>::deserialize(deserializer)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

string_serde!(ClaravineObject);
string_serde!(ClaravineOperation);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ParseErrorKind;

    const SUBMISSION_HREF: &str = "https://api.claravine.com/v1/datasets/fe11a4d2-7f4c-498e-819e-19c5081e997d/transactions/26679e11-820c-407b-9c5a-17ed1181a81a/data";
    const LIST_HREF: &str =
        "https://api.claravine.com/v1/lists/ef512810-0919-4e47-ab41-d3c69ea27ed0";
    const TEMPLATE_HREF: &str =
        "https://api.claravine.com/v1/datasets/5445a6c9-5954-4cae-8f4e-8f1068ee1d4f/definition";

    fn sample(
        event: &str,
        time: i64,
        id: &str,
        href: &str,
        operation: &str,
        version: u64,
    ) -> String {
        // The exact layout of the samples in the Claravine documentation
        // (000_9a268e4f00671d17.txt), blank lines included.
        format!(
            "{{\n\n  \"event\": \"{event}\",\n\n  \"event_time\": {time},\n\n  \"object_id\": \"{id}\",\n\n  \"href\": \"{href}\",\n\n  \"operation\": \"{operation}\",\n\n  \"version\": {version},\n\n  \"token\": \"client-secret\"\n\n}}"
        )
    }

    /// The eight documented samples, with the typed values they must give.
    fn samples() -> Vec<(
        String,
        ClaravineObject,
        ClaravineOperation,
        i64,
        &'static str,
        u64,
        &'static str,
    )> {
        use ClaravineObject as O;
        use ClaravineOperation as Op;
        let sub = "26679e11-820c-407b-9c5a-17ed1181a81a";
        let list = "ef512810-0919-4e47-ab41-d3c69ea27ed0";
        let tpl = "5445a6c9-5954-4cae-8f4e-8f1068ee1d4f";
        vec![
            (
                sample(
                    "submission",
                    1770914863,
                    sub,
                    SUBMISSION_HREF,
                    "Completed",
                    1,
                ),
                O::Submission,
                Op::Completed,
                1770914863,
                sub,
                1,
                "submission.completed",
            ),
            (
                sample("submission", 1770914862, sub, SUBMISSION_HREF, "Created", 1),
                O::Submission,
                Op::Created,
                1770914862,
                sub,
                1,
                "submission.created",
            ),
            (
                sample("list", 1770923387, list, LIST_HREF, "created", 1),
                O::List,
                Op::Created,
                1770923387,
                list,
                1,
                "list.created",
            ),
            (
                sample("list", 1770923476, list, LIST_HREF, "updated", 2),
                O::List,
                Op::Updated,
                1770923476,
                list,
                2,
                "list.updated",
            ),
            (
                sample("list", 1770923501, list, LIST_HREF, "deleted", 2),
                O::List,
                Op::Deleted,
                1770923501,
                list,
                2,
                "list.deleted",
            ),
            (
                sample("template", 1770925732, tpl, TEMPLATE_HREF, "added", 1),
                O::Template,
                Op::Created,
                1770925732,
                tpl,
                1,
                "template.created",
            ),
            (
                sample("template", 1770925730, tpl, TEMPLATE_HREF, "updated", 1),
                O::Template,
                Op::Updated,
                1770925730,
                tpl,
                1,
                "template.updated",
            ),
            (
                sample("template", 1770925811, tpl, TEMPLATE_HREF, "deleted", 1),
                O::Template,
                Op::Deleted,
                1770925811,
                tpl,
                1,
                "template.deleted",
            ),
        ]
    }

    #[test]
    fn every_documented_sample_parses_and_round_trips() {
        let samples = samples();
        assert_eq!(samples.len(), 8);
        for (body, object, operation, time, id, version, name) in samples {
            let event = ClaravineEvent::from_delivery(&HeaderMap::new(), body.as_bytes()).unwrap();
            assert_eq!(event.event, object);
            assert_eq!(event.operation, operation);
            assert_eq!(event.event_time.unix_timestamp(), time);
            assert_eq!(event.object_id, Uuid::parse_str(id).unwrap());
            assert!(event.href.as_str().contains(id) || event.href.as_str().contains("fe11a4d2"));
            assert_eq!(event.version, Some(version));
            assert_eq!(event.token.as_ref().unwrap().expose(), "client-secret");
            assert!(event.extra.is_empty());
            assert_eq!(event.event_name(), name);
            assert!(event.is_known());
            assert_eq!(
                super::event_name(&crate::JsonBody::new(body.as_bytes())).unwrap(),
                name
            );

            let json = serde_json::to_string(&event).unwrap();
            assert!(!json.contains("client-secret"), "{json}");
            let again: ClaravineEvent = serde_json::from_str(&json).unwrap();
            assert_eq!(
                again,
                ClaravineEvent {
                    token: None,
                    ..event.clone()
                }
            );

            let with_token = serde_json::to_string(&event.with_token()).unwrap();
            let again: ClaravineEvent = serde_json::from_str(&with_token).unwrap();
            assert_eq!(again, event);
        }
    }

    #[test]
    fn errors_never_quote_the_token() {
        let head = r#"{"event": "list", "event_time": 1770914863, "object_id": "26679e11-820c-407b-9c5a-17ed1181a81a", "href": "https://x.y/", "operation": "created", "token": "#;
        for token in [
            "1234567890",
            "[\"client-secret\"]",
            "{\"client-secret\": 1}",
            "true",
        ] {
            let body = format!("{head}{token}}}");
            let err =
                ClaravineEvent::from_delivery(&HeaderMap::new(), body.as_bytes()).unwrap_err();
            assert_eq!(err.path(), Some("token"), "{err}");
            let ParseErrorKind::Body {
                position, message, ..
            } = err.kind()
            else {
                panic!("{err:?}")
            };
            assert!(position.is_some());
            assert!(!message.contains("1234567890") && !message.contains("client-secret"));
            let shown = err.to_string();
            assert!(
                !shown.contains("1234567890") && !shown.contains("client-secret"),
                "{shown}"
            );
            assert!(shown.contains("not shown"), "{shown}");
        }
    }

    #[test]
    fn token_is_redacted_in_debug() {
        let (body, ..) = &samples()[0];
        let event: ClaravineEvent = serde_json::from_str(body).unwrap();
        let debug = format!("{event:?}");
        assert!(debug.contains("[redacted]"), "{debug}");
        assert!(!debug.contains("client-secret"), "{debug}");
    }

    #[test]
    fn unknown_object_and_operation_are_kept() {
        let body = br#"{"event": "Dataset", "event_time": 1770914863,
            "object_id": "26679e11-820c-407b-9c5a-17ed1181a81a",
            "href": "https://api.claravine.com/v1/x", "operation": "Archived",
            "new_field": [1, 2]}"#;
        let event = ClaravineEvent::from_delivery(&HeaderMap::new(), body).unwrap();
        assert_eq!(event.event, ClaravineObject::Unknown("Dataset".to_owned()));
        assert_eq!(
            event.operation,
            ClaravineOperation::Unknown("Archived".to_owned())
        );
        assert_eq!(event.event_name(), "dataset.archived");
        assert!(!event.is_known());
        // Missing optional fields.
        assert_eq!(event.version, None);
        assert_eq!(event.token, None);
        assert_eq!(event.extra["new_field"], serde_json::json!([1, 2]));
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["event"], "Dataset");
        assert_eq!(json["operation"], "Archived");
        assert_eq!(json["new_field"], serde_json::json!([1, 2]));
    }

    #[test]
    fn errors_name_the_field_and_position() {
        let body = b"{\"event\": \"list\",\n \"event_time\": 1,\n \"object_id\": \"not-a-uuid\"}";
        let err = ClaravineEvent::from_delivery(&HeaderMap::new(), body).unwrap_err();
        assert_eq!(err.sender(), Sender::Claravine);
        assert_eq!(err.path(), Some("object_id"));
        let ParseErrorKind::Body { position, .. } = err.kind() else {
            panic!("{err:?}")
        };
        assert_eq!(position.map(|(line, _)| line), Some(3));
        assert!(
            err.to_string()
                .starts_with("not a claravine payload at `object_id` (line 3, column"),
            "{err}"
        );

        let err =
            ClaravineEvent::from_delivery(&HeaderMap::new(), br#"{"event": "list"}"#).unwrap_err();
        assert!(err.to_string().contains("missing field"), "{err}");
        let err = ClaravineEvent::from_delivery(&HeaderMap::new(), b"<html>").unwrap_err();
        assert_eq!(err.path(), Some("."));
        let err = super::event_name(&crate::JsonBody::new(
            br#"{"event": "list", "operation": ""}"#,
        ))
        .unwrap_err();
        assert_eq!(err.path(), Some("operation"));
    }

    #[test]
    fn unusual_names_are_kept_raw_and_still_route() {
        // Spaces, non-ASCII, a wildcard and 300 bytes: none is a valid event
        // name, all are values Claravine could send tomorrow.
        let long = "X".repeat(300);
        for (object, operation, routed) in [
            ("list", "up dated", "list.up%20dated".to_owned()),
            ("Liste", "Créée", "liste.cr%C3%A9%C3%A9e".to_owned()),
            ("list", "*", "list.%2A".to_owned()),
            ("list", long.as_str(), format!("list.{}", "x".repeat(255))),
        ] {
            let body = serde_json::json!({
                "event": object, "event_time": 1770914863,
                "object_id": "26679e11-820c-407b-9c5a-17ed1181a81a",
                "href": LIST_HREF, "operation": operation,
            })
            .to_string();
            let event = ClaravineEvent::from_delivery(&HeaderMap::new(), body.as_bytes())
                .unwrap_or_else(|err| panic!("{operation:?}: {err}"));
            assert_eq!(event.event.as_str(), object);
            assert_eq!(event.operation.as_str(), operation);
            assert!(!event.is_known());
            assert_eq!(event.event_name(), routed.as_str());
            assert_eq!(
                super::event_name(&crate::JsonBody::new(body.as_bytes())).unwrap(),
                routed.as_str()
            );
            let json = serde_json::to_value(&event).unwrap();
            assert_eq!(json["operation"], operation);
            assert_eq!(json["event"], object);
            let filter = crate::EventFilter::new(["*"]).unwrap();
            assert!(filter.allows(&event.event_name()));
        }
        let event = ClaravineEvent::from_delivery(
            &HeaderMap::new(),
            serde_json::json!({
                "event": "list", "event_time": 1, "object_id": "26679e11-820c-407b-9c5a-17ed1181a81a",
                "href": LIST_HREF, "operation": "up dated",
            })
            .to_string()
            .as_bytes(),
        )
        .unwrap();
        assert_eq!(
            event.operation,
            ClaravineOperation::Unknown("up dated".to_owned())
        );
        let filter = crate::EventFilter::new(["list.*"]).unwrap();
        assert!(filter.allows(&event.event_name()));
    }
}
