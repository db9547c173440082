//! Dropbox: a notification that the files of some accounts changed.

use std::collections::BTreeMap;

use http::HeaderMap;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::joined;
use crate::error::from_body;
use crate::json::JsonBody;
use crate::{Event, EventName, FromDelivery, ParseError, Sender};

/// A Dropbox webhook notification: which users' files changed, and the body
/// as `D`.
///
/// Dropbox says only *that* something changed, never what: the app then calls
/// `/2/files/list_folder/continue` for each account. The body is
/// `{"list_folder":{"accounts":["dbid:…"]},"delta":{"users":[12345678]}}`
/// (`delta.users` is the legacy API v1 form, still sent beside it); team
/// apps get `list_folder.teams`, each team id with its members' ids. Dropbox
/// sends no delivery id and no event type.
///
/// The event name is `list_folder.changed` when the body has `list_folder`,
/// `delta.changed` when it has only `delta`, and `notification` (not
/// [known](Event::is_known)) for any other JSON: a shape Dropbox adds later
/// is kept, never refused. The lists are read leniently too (an entry of
/// another type is skipped there, and kept in the payload).
///
/// ```
/// use hookgate_events::{DropboxEvent, Event, FromDelivery};
///
/// let body = br#"{"list_folder":{"accounts":["dbid:AAH4f99T0taONIb-OurWxbNQ6ywGRopQngc"]},
///     "delta":{"users":[12345678]}}"#;
/// let event: DropboxEvent = DropboxEvent::from_delivery(&http::HeaderMap::new(), body)?;
/// assert_eq!(event.event_name(), "list_folder.changed");
/// assert_eq!(event.accounts, ["dbid:AAH4f99T0taONIb-OurWxbNQ6ywGRopQngc"]);
/// assert_eq!(event.users, [12345678]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DropboxEvent<D = Value> {
    /// The member that names the change: `list_folder`, or `delta` for a
    /// body with only the legacy list; `None` for another shape.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// `list_folder.accounts`: the account ids (`dbid:…`) with changes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accounts: Vec<String>,
    /// `list_folder.teams` (team apps): each team id (`dbtid:…`) with the
    /// ids of its members (`dbmid:…`) that have changes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub teams: BTreeMap<String, Vec<String>>,
    /// `delta.users`: the legacy API v1 user ids with changes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<u64>,
    /// The body.
    pub payload: D,
}

impl<D> Event for DropboxEvent<D> {
    fn event_name(&self) -> EventName {
        name(self.kind.as_deref())
    }

    fn is_known(&self) -> bool {
        self.kind.is_some()
    }
}

/// The member of the body that names the change.
fn kind(body: &Value) -> Option<&'static str> {
    let present = |key| body.get(key).is_some_and(|value| !value.is_null());
    if present("list_folder") {
        Some("list_folder")
    } else if present("delta") {
        Some("delta")
    } else {
        None
    }
}

fn name(kind: Option<&str>) -> EventName {
    match kind {
        Some(kind) => joined(kind, Some("changed")),
        None => EventName::from_static("notification"),
    }
}

/// The strings of a JSON array, others skipped.
fn strings(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

impl<D: DeserializeOwned> FromDelivery for DropboxEvent<D> {
    fn from_delivery(_headers: &HeaderMap, body: &[u8]) -> Result<Self, ParseError> {
        let tree: Value = from_body(Sender::Dropbox, body)?;
        let list_folder = tree.get("list_folder");
        let teams = list_folder
            .and_then(|list| list.get("teams"))
            .and_then(Value::as_object)
            .map(|teams| {
                teams
                    .iter()
                    .map(|(team, members)| (team.clone(), strings(Some(members))))
                    .collect()
            })
            .unwrap_or_default();
        let users = tree
            .get("delta")
            .and_then(|delta| delta.get("users"))
            .and_then(Value::as_array)
            .map(|users| users.iter().filter_map(Value::as_u64).collect())
            .unwrap_or_default();
        let kind = kind(&tree).map(str::to_owned);
        let accounts = strings(list_folder.and_then(|list| list.get("accounts")));
        let payload = match D::deserialize(tree) {
            Ok(payload) => payload,
            Err(_) => from_body(Sender::Dropbox, body)?,
        };
        Ok(Self {
            kind,
            accounts,
            teams,
            users,
            payload,
        })
    }
}

/// Reads which member names the change (the body is a few hundred bytes).
pub(crate) fn event_name(body: &JsonBody<'_>) -> Result<EventName, ParseError> {
    let tree: Value = body.read(Sender::Dropbox)?;
    Ok(name(kind(&tree)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &[u8]) -> Result<DropboxEvent, ParseError> {
        DropboxEvent::from_delivery(&HeaderMap::new(), body)
    }

    #[test]
    fn the_shipped_sample_names_its_accounts_and_users() {
        let body = include_bytes!("../../../../samples/dropbox.json");
        let event = parse(body).unwrap();
        assert_eq!(event.event_name(), "list_folder.changed");
        assert!(event.is_known());
        assert_eq!(event.accounts.len(), 2);
        assert_eq!(event.users, [12_345_678, 23_456_789]);
        assert_eq!(event.event_id(), None);
        assert_eq!(
            event_name(&JsonBody::new(body)).unwrap(),
            "list_folder.changed"
        );
    }

    #[test]
    fn team_apps_name_teams_and_their_members() {
        let body = br#"{"list_folder":{"teams":{"dbtid:AAC":["dbmid:AAB","dbmid:AAD",7]}},
            "delta":{"teams":{"dbtid:AAC":["dbmid:AAB"]}}}"#;
        let event = parse(body).unwrap();
        assert_eq!(event.event_name(), "list_folder.changed");
        assert_eq!(event.teams["dbtid:AAC"], ["dbmid:AAB", "dbmid:AAD"]);
        assert!(event.accounts.is_empty());
        // The entry of another type is skipped in the list, kept in the payload.
        assert_eq!(event.payload["list_folder"]["teams"]["dbtid:AAC"][2], 7);
    }

    #[test]
    fn other_shapes_are_kept_not_refused() {
        let cases: &[(&[u8], &str)] = &[
            (br#"{"delta":{"users":[1]}}"#, "delta.changed"),
            (
                br#"{"list_folder":{"accounts":"dbid:x"},"delta":null}"#,
                "list_folder.changed",
            ),
            (
                br#"{"list_folder":null,"delta":{"users":["x",-1,2]}}"#,
                "delta.changed",
            ),
            (
                br#"{"file_requests":{"accounts":["dbid:1"]}}"#,
                "notification",
            ),
            (b"[1,2]", "notification"),
            (b"{}", "notification"),
            (b"null", "notification"),
        ];
        for &(body, name) in cases {
            let event = parse(body).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(event.event_name(), name);
            assert_eq!(event.is_known(), name != "notification");
            assert_eq!(event_name(&JsonBody::new(body)).unwrap(), name);
            let json = JsonBody::new(body);
            json.is_object();
            assert_eq!(event_name(&json).unwrap(), name, "from the members");
        }
        let event = parse(br#"{"list_folder":null,"delta":{"users":["x",-1,2]}}"#).unwrap();
        assert_eq!(event.users, [2]);
    }

    #[test]
    fn bytes_that_are_not_json_are_refused_with_their_position() {
        let err = parse(b"{\"list_folder\": }").unwrap_err();
        assert_eq!(err.sender(), Sender::Dropbox);
        assert!(err.to_string().contains("line 1"), "{err}");
        assert!(event_name(&JsonBody::new(b"list_folder")).is_err());
    }
}
