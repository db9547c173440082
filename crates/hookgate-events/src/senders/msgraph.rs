//! Microsoft Graph: change and lifecycle notifications.

use http::HeaderMap;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use super::{joined, snake_case};
use crate::error::from_body;
use crate::json::JsonBody;
use crate::{Event, EventName, FromDelivery, ParseError, Sender, Token};

/// A Microsoft Graph webhook notification: `{"value":[…]}`, a batch of
/// change notifications (or lifecycle notifications) for the endpoint's
/// subscriptions, and the rich notifications' `validationTokens`.
///
/// The event name is the first notification's:
///
/// * a change notification is named by the kind of resource and the
///   `changeType`: the kind is the snake_case last segment of
///   `resourceData.@odata.type` (`#Microsoft.Graph.Message` +
///   `created` is `message.created`, `#microsoft.graph.chatMessage` +
///   `updated` is `chat_message.updated`), or `resource` when the
///   notification has no `resourceData` type (`resource.updated`); so
///   `*.created` matches every creation;
/// * a lifecycle notification is `lifecycle.` and its snake_case
///   `lifecycleEvent`: `lifecycle.reauthorization_required`,
///   `lifecycle.subscription_removed`, `lifecycle.missed`;
/// * anything else (no `value`, an empty one, a notification with neither
///   field) is `notification`, not [known](Event::is_known), and kept.
///
/// A batch may mix resources and change types: handlers that care read
/// each of [`notifications`](Self::notifications) (each has its own
/// [`name`](GraphNotification::name)). Graph sends no delivery id.
///
/// Each notification's `clientState` is the subscription's secret (what the
/// `msgraph` scheme verifies): it is never printed by `Debug` and never
/// serialized.
///
/// ```
/// use hookgate_events::{Event, FromDelivery, GraphEvent};
///
/// let body = br##"{"value":[{"subscriptionId":"7f105c7d-2dc5-4530-97cd-4e7ae6534c07",
///     "changeType":"created","clientState":"SecretClientState",
///     "resource":"Users/7a7fded6/messages/AAMkADhAAATs28OAAA=",
///     "resourceData":{"@odata.type":"#Microsoft.Graph.Message","id":"AAMkADhAAATs28OAAA="},
///     "tenantId":"84bd8158-6d4d-4958-8b9f-9d6445542f95"}]}"##;
/// let event = GraphEvent::from_delivery(&http::HeaderMap::new(), body)?;
/// assert_eq!(event.event_name(), "message.created");
/// let first = &event.notifications[0];
/// assert_eq!(first.client_state.as_ref().map(|s| s.expose()), Some("SecretClientState"));
/// assert!(!serde_json::to_string(&event)?.contains("SecretClientState"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GraphEvent {
    /// `value`: the notifications, in the order sent.
    #[serde(default, rename = "value")]
    pub notifications: Vec<GraphNotification>,
    /// `validationTokens`: the JWTs that come with rich notifications
    /// (resource data included), to validate before trusting that data.
    #[serde(
        default,
        rename = "validationTokens",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub validation_tokens: Vec<String>,
    /// Every other member of the body.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One item of a Microsoft Graph notification's `value`: a change
/// notification (`changeType`) or a lifecycle notification
/// (`lifecycleEvent`). Fields are as Graph names them; new ones land in
/// [`extra`](Self::extra).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct GraphNotification {
    /// `subscriptionId`: the subscription this notification is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_id: Option<String>,
    /// `subscriptionExpirationDateTime`, as sent (ISO 8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_expiration_date_time: Option<String>,
    /// `changeType`: `created`, `updated` or `deleted`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_type: Option<String>,
    /// `lifecycleEvent`: `reauthorizationRequired`, `subscriptionRemoved`
    /// or `missed`, for a lifecycle notification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle_event: Option<String>,
    /// `resource`: the path of what changed, relative to the Graph URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// `resourceData`: `@odata.type`, `@odata.id`, `id` ... of what changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_data: Option<Value>,
    /// `tenantId`: the tenant the resource belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// `encryptedContent`, for rich notifications (decrypt it with the
    /// subscription's certificate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encrypted_content: Option<Value>,
    /// `clientState`: the subscription's secret, repeated in every
    /// notification; never printed, never serialized. A value that is not a
    /// string (which the `msgraph` scheme never verifies) reads as `None`.
    #[serde(default, skip_serializing, deserialize_with = "lenient_token")]
    pub client_state: Option<Token>,
    /// Every other field.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A `clientState` of any JSON type, never an error (so that an error
/// message can never quote the secret): a string is kept, the rest dropped.
fn lenient_token<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Token>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(state) => Some(Token::new(state)),
        _ => None,
    })
}

impl GraphNotification {
    /// This notification's event name (see [`GraphEvent`]), `None` when it
    /// has neither a `changeType` nor a `lifecycleEvent`.
    pub fn name(&self) -> Option<EventName> {
        name(
            self.change_type.as_deref(),
            self.lifecycle_event.as_deref(),
            self.resource_data.as_ref(),
        )
    }
}

impl Event for GraphEvent {
    fn event_name(&self) -> EventName {
        self.notifications
            .first()
            .and_then(GraphNotification::name)
            .unwrap_or_else(unknown)
    }

    fn is_known(&self) -> bool {
        self.notifications
            .first()
            .is_some_and(|first| first.name().is_some())
    }
}

fn unknown() -> EventName {
    EventName::from_static("notification")
}

/// The name of one notification from its fields.
fn name(
    change_type: Option<&str>,
    lifecycle_event: Option<&str>,
    resource_data: Option<&Value>,
) -> Option<EventName> {
    if let Some(event) = lifecycle_event.filter(|event| !event.is_empty()) {
        return Some(joined("lifecycle", Some(&snake_case(event))));
    }
    let change = change_type.filter(|change| !change.is_empty())?;
    let kind = resource_data
        .and_then(|data| data.get("@odata.type"))
        .and_then(Value::as_str)
        .and_then(|odata| odata.rsplit(['.', '#']).next())
        .filter(|kind| !kind.is_empty())
        .map_or_else(|| "resource".to_owned(), snake_case);
    Some(joined(&kind, Some(change)))
}

impl FromDelivery for GraphEvent {
    fn from_delivery(_headers: &HeaderMap, body: &[u8]) -> Result<Self, ParseError> {
        from_body(Sender::MsGraph, body)
    }
}

/// The fields that name the first notification.
#[derive(Deserialize)]
struct Names {
    #[serde(default)]
    value: Vec<NameFields>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NameFields {
    #[serde(default)]
    change_type: Option<String>,
    #[serde(default)]
    lifecycle_event: Option<String>,
    #[serde(default)]
    resource_data: Option<Value>,
}

/// Reads `value` and the naming fields of its items.
pub(crate) fn event_name(body: &JsonBody<'_>) -> Result<EventName, ParseError> {
    let names: Names = body.read(Sender::MsGraph)?;
    Ok(names
        .value
        .first()
        .and_then(|first| {
            name(
                first.change_type.as_deref(),
                first.lifecycle_event.as_deref(),
                first.resource_data.as_ref(),
            )
        })
        .unwrap_or_else(unknown))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &[u8]) -> Result<GraphEvent, ParseError> {
        GraphEvent::from_delivery(&HeaderMap::new(), body)
    }

    fn names_agree(body: &[u8]) -> EventName {
        let event = parse(body).unwrap_or_else(|e| panic!("{e}"));
        let name = event_name(&JsonBody::new(body)).unwrap();
        assert_eq!(event.event_name(), name);
        let json = JsonBody::new(body);
        json.is_object();
        assert_eq!(event_name(&json).unwrap(), name, "from the members");
        name
    }

    #[test]
    fn the_shipped_sample_is_a_created_message() {
        let body = include_bytes!("../../../../samples/msgraph.json");
        assert_eq!(names_agree(body), "message.created");
        let event = parse(body).unwrap();
        assert!(event.is_known());
        let first = &event.notifications[0];
        assert_eq!(
            first.subscription_id.as_deref(),
            Some("7f105c7d-2dc5-4530-97cd-4e7ae6534c07")
        );
        assert_eq!(
            first.tenant_id.as_deref(),
            Some("84bd8158-6d4d-4958-8b9f-9d6445542f95")
        );
        assert_eq!(
            first.resource_data.as_ref().unwrap()["id"],
            "AAMkADhAAATs28OAAA="
        );
        assert_eq!(
            first.client_state.as_ref().map(Token::expose),
            Some("SecretClientState")
        );
    }

    #[test]
    fn the_client_state_is_never_printed_nor_serialized() {
        let body = include_bytes!("../../../../samples/msgraph.json");
        let event = parse(body).unwrap();
        let json = serde_json::to_string(&event).unwrap();
        assert!(!json.contains("SecretClientState"), "{json}");
        assert!(!json.contains("clientState"), "{json}");
        assert!(!format!("{event:?}").contains("SecretClientState"));
        // A clientState of another type is no error, so no message quotes it.
        let odd = br#"{"value":[{"changeType":"updated","clientState":123456789}]}"#;
        let event = parse(odd).unwrap();
        assert_eq!(event.notifications[0].client_state, None);
        // An error elsewhere in the notification does not quote it either.
        let bad = br#"{"value":[{"clientState":"hunter2","changeType":7}]}"#;
        let err = parse(bad).unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert_eq!(err.path(), Some("value[0].changeType"), "{err}");
        // An error inside the secret itself is reported without its text.
        let broken = br#"{"value":[{"changeType":"updated","clientState":"hun\qter2"}]}"#;
        let err = parse(broken).unwrap_err();
        assert_eq!(err.path(), Some("value[0].clientState"), "{err}");
        assert!(err.to_string().contains("not shown"), "{err}");
        assert!(!err.to_string().contains("hun"), "{err}");
    }

    #[test]
    fn lifecycle_notifications_are_named_apart() {
        let body = br#"{"value":[{"subscriptionId":"s-1","subscriptionExpirationDateTime":"2026-12-04T18:23:45.9356913Z",
            "tenantId":"t-1","clientState":"c","lifecycleEvent":"reauthorizationRequired"}]}"#;
        assert_eq!(names_agree(body), "lifecycle.reauthorization_required");
        let removed = br#"{"value":[{"lifecycleEvent":"subscriptionRemoved"}]}"#;
        assert_eq!(names_agree(removed), "lifecycle.subscription_removed");
        let missed = br#"{"value":[{"lifecycleEvent":"missed","changeType":"created"}]}"#;
        assert_eq!(names_agree(missed), "lifecycle.missed");
    }

    #[test]
    fn the_resource_kind_comes_from_the_odata_type() {
        for (odata, name) in [
            ("#Microsoft.Graph.Message", "message.updated"),
            ("#microsoft.graph.chatMessage", "chat_message.updated"),
            ("#Microsoft.Graph.Event", "event.updated"),
            ("driveItem", "drive_item.updated"),
            ("#", "resource.updated"),
            ("", "resource.updated"),
        ] {
            let body = format!(
                r#"{{"value":[{{"changeType":"updated","resourceData":{{"@odata.type":"{odata}"}}}}]}}"#
            );
            assert_eq!(names_agree(body.as_bytes()), name, "{odata}");
        }
        let bare = br#"{"value":[{"changeType":"deleted","resource":"/me/drive/root"}]}"#;
        assert_eq!(names_agree(bare), "resource.deleted");
        // A batch is named by its first notification; each has its own name.
        let batch = br##"{"value":[{"changeType":"created","resourceData":{"@odata.type":"#Microsoft.Graph.Contact"}},
            {"lifecycleEvent":"missed"}],"validationTokens":["eyJ0eXAi"]}"##;
        assert_eq!(names_agree(batch), "contact.created");
        let event = parse(batch).unwrap();
        assert_eq!(event.notifications[1].name().unwrap(), "lifecycle.missed");
        assert_eq!(event.validation_tokens, ["eyJ0eXAi"]);
    }

    #[test]
    fn other_shapes_are_kept_as_unknown_notifications() {
        for body in [
            &b"{}"[..],
            br#"{"value":[]}"#,
            br#"{"value":[{"subscriptionId":"s"}]}"#,
            br#"{"value":[{"changeType":""}],"newField":1}"#,
        ] {
            assert_eq!(names_agree(body), "notification");
            assert!(!parse(body).unwrap().is_known());
        }
        let event =
            parse(br#"{"value":[{"changeType":"created","futureField":[1]}],"x":true}"#).unwrap();
        assert_eq!(
            event.notifications[0].extra["futureField"],
            serde_json::json!([1])
        );
        assert_eq!(event.extra["x"], true);
        // Unforeseen spellings are escaped into a name, not refused.
        let odd =
            br##"{"value":[{"changeType":"re named","resourceData":{"@odata.type":"#a.b*c"}}]}"##;
        assert_eq!(names_agree(odd), "b%2Ac.re%20named");
    }

    #[test]
    fn what_is_not_a_notification_body_is_refused() {
        for body in [
            &b"not json"[..],
            br#"{"value":{"changeType":"created"}}"#,
            b"[1]",
        ] {
            let err = parse(body).unwrap_err();
            assert_eq!(err.sender(), Sender::MsGraph);
        }
    }
}
