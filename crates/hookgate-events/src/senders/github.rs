//! GitHub: the event name from `X-GitHub-Event` plus the payload's `action`.

use http::HeaderMap;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{header, required_header};
use crate::error::from_body;
use crate::json::JsonBody;
use crate::{Event, EventName, FromDelivery, ParseError, Sender};

/// A GitHub webhook delivery: the event from the `X-GitHub-Event` header,
/// the payload's `action`, the delivery id from `X-GitHub-Delivery`, and the
/// payload itself as `D`.
///
/// The event name is `event.action` when the payload has an action
/// (`pull_request.opened`) and the bare event otherwise (`push`); so
/// `pull_request.*` matches every pull request action but not `push`.
/// Only JSON payloads are read (configure the hook's content type as
/// `application/json`).
///
/// ```
/// use hookgate_events::{Event, FromDelivery, GitHubEvent};
///
/// let mut headers = http::HeaderMap::new();
/// headers.insert("x-github-event", "issues".parse()?);
/// let event: GitHubEvent = GitHubEvent::from_delivery(&headers, br#"{"action": "opened"}"#)?;
/// assert_eq!(event.event_name(), "issues.opened");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GitHubEvent<D = Value> {
    /// The `X-GitHub-Event` header, e.g. `pull_request` (an unforeseen
    /// spelling is kept escaped, see [`EventName::new_lossy`]).
    pub event: EventName,
    /// The payload's `action`, e.g. `opened`, when it has one.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::name::lossy_opt"
    )]
    pub action: Option<EventName>,
    /// The `X-GitHub-Delivery` header: the id of this delivery, the same on redelivery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<String>,
    /// The payload.
    pub payload: D,
}

impl<D> Event for GitHubEvent<D> {
    fn event_name(&self) -> EventName {
        name(&self.event, self.action.as_ref())
    }

    fn event_id(&self) -> Option<&str> {
        self.delivery.as_deref()
    }
}

fn name(event: &EventName, action: Option<&EventName>) -> EventName {
    match action {
        Some(action) => EventName::join(event.as_str(), action.as_str()),
        None => event.clone(),
    }
}

#[derive(Deserialize)]
struct Action {
    #[serde(default, deserialize_with = "crate::name::lossy_opt")]
    action: Option<EventName>,
}

fn event_header(headers: &HeaderMap) -> Result<EventName, ParseError> {
    let raw = required_header(Sender::GitHub, headers, "x-github-event")?;
    // Never refused for its spelling (see `EventName::new_lossy`); empty names nothing.
    if raw.is_empty() {
        return EventName::new(raw)
            .map_err(|e| ParseError::invalid_header(Sender::GitHub, "x-github-event", e));
    }
    Ok(EventName::new_lossy(raw))
}

impl<D: DeserializeOwned> FromDelivery for GitHubEvent<D> {
    fn from_delivery(headers: &HeaderMap, body: &[u8]) -> Result<Self, ParseError> {
        let event = event_header(headers)?;
        // The bytes are parsed once, into a tree that gives both the action
        // and the payload (moved, not copied, when `D` is the JSON value).
        // Only when that fails are the bytes read again as `D` directly:
        // for an error that knows its line and column, or for the rare
        // type a JSON tree cannot carry (an integer beyond 64 bits).
        let tree: Value = from_body(Sender::GitHub, body)?;
        let action = match Action::deserialize(&tree) {
            Ok(Action { action }) => action,
            Err(_) => from_body::<Action>(Sender::GitHub, body)?.action,
        };
        let payload = match D::deserialize(tree) {
            Ok(payload) => payload,
            Err(_) => from_body(Sender::GitHub, body)?,
        };
        let delivery = header(Sender::GitHub, headers, "x-github-delivery")?.map(str::to_owned);
        Ok(Self {
            event,
            action,
            delivery,
            payload,
        })
    }
}

/// Reads the header and just enough of the body to name the event.
pub(crate) fn event_name(
    headers: &HeaderMap,
    body: &JsonBody<'_>,
) -> Result<EventName, ParseError> {
    let event = event_header(headers)?;
    let Action { action } = body.read(Sender::GitHub)?;
    Ok(name(&event, action.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ParseErrorKind;

    fn headers(event: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-github-event", event.parse().unwrap());
        headers.insert(
            "x-github-delivery",
            "72d3162e-cc78-11e3-81ab-4c9367dc0958".parse().unwrap(),
        );
        headers
    }

    #[test]
    fn action_and_bare_events() {
        let body = br#"{"action": "opened", "number": 2, "pull_request": {"id": 1}}"#;
        let event = GitHubEvent::<Value>::from_delivery(&headers("pull_request"), body).unwrap();
        assert_eq!(event.event_name(), "pull_request.opened");
        assert_eq!(
            event.event_id(),
            Some("72d3162e-cc78-11e3-81ab-4c9367dc0958")
        );
        assert_eq!(event.payload["number"], 2);
        assert_eq!(
            event_name(&headers("pull_request"), &JsonBody::new(body)).unwrap(),
            "pull_request.opened"
        );

        let push =
            GitHubEvent::<Value>::from_delivery(&headers("push"), br#"{"ref": "refs/heads/main"}"#)
                .unwrap();
        assert_eq!(push.event_name(), "push");
        assert_eq!(push.action, None);

        let json = serde_json::to_string(&event).unwrap();
        assert_eq!(serde_json::from_str::<GitHubEvent>(&json).unwrap(), event);
    }

    #[test]
    fn the_body_is_deserialized_once() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static CALLS: AtomicUsize = AtomicUsize::new(0);

        /// Counts its deserializations and reads the whole value.
        #[derive(Debug)]
        struct Counted(Value);
        impl<'de> Deserialize<'de> for Counted {
            fn deserialize<De: serde::Deserializer<'de>>(de: De) -> Result<Self, De::Error> {
                CALLS.fetch_add(1, Ordering::SeqCst);
                Value::deserialize(de).map(Counted)
            }
        }

        let body = br#"{"action": "opened", "number": 2}"#;
        let event = GitHubEvent::<Counted>::from_delivery(&headers("issues"), body).unwrap();
        assert_eq!(CALLS.load(Ordering::SeqCst), 1);
        assert_eq!(event.action.as_ref().map(EventName::as_str), Some("opened"));
        assert_eq!(event.payload.0["action"], "opened");
        assert_eq!(event.payload.0["number"], 2);
    }

    #[test]
    fn payload_errors_keep_path_and_position() {
        #[derive(Debug, Deserialize)]
        struct Issue {
            #[allow(dead_code)]
            number: u64,
        }
        let body = b"{\"action\": \"opened\",\n \"number\": \"two\"}";
        let err = GitHubEvent::<Issue>::from_delivery(&headers("issues"), body).unwrap_err();
        assert_eq!(err.path(), Some("number"));
        let ParseErrorKind::Body { position, .. } = err.kind() else {
            panic!("{err:?}")
        };
        assert_eq!(position.map(|(line, _)| line), Some(2));

        // A number a JSON tree cannot hold still reaches a type that can.
        #[derive(Debug, Deserialize)]
        struct Big {
            id: u128,
        }
        let body = br#"{"id": 340282366920938463463374607431768211455}"#;
        let event = GitHubEvent::<Big>::from_delivery(&headers("push"), body).unwrap();
        assert_eq!(event.payload.id, u128::MAX);
    }

    #[test]
    fn header_is_required() {
        let err = GitHubEvent::<Value>::from_delivery(&HeaderMap::new(), b"{}").unwrap_err();
        assert_eq!(
            err.kind(),
            &ParseErrorKind::MissingHeader {
                header: "x-github-event"
            }
        );
        assert_eq!(
            err.to_string(),
            "not a github delivery: missing header `x-github-event`"
        );
        // An event name no one foresaw is kept, escaped, never refused ...
        let unforeseen =
            GitHubEvent::<Value>::from_delivery(&headers("pull request"), b"{}").unwrap();
        assert_eq!(unforeseen.event, "pull%20request");
        // ... but an empty one names nothing.
        let err = GitHubEvent::<Value>::from_delivery(&headers(""), b"{}").unwrap_err();
        assert!(
            matches!(err.kind(), ParseErrorKind::InvalidHeader { .. }),
            "{err:?}"
        );
        let err =
            GitHubEvent::<Value>::from_delivery(&headers("push"), br#"{"action": 3}"#).unwrap_err();
        assert_eq!(err.path(), Some("action"));
    }
}
