//! The payload types of each sender.

mod macros;

pub(crate) mod claimable;
pub(crate) mod claravine;
pub(crate) mod clarife;
pub(crate) mod clarity;
pub(crate) mod discord;
pub(crate) mod dropbox;
pub(crate) mod github;
pub(crate) mod gitlab;
pub(crate) mod linear;
pub(crate) mod meta;
pub(crate) mod msgraph;
pub(crate) mod paddle;
pub(crate) mod shopify;
pub(crate) mod slack;
pub(crate) mod standard;
pub(crate) mod stripe;
pub(crate) mod twilio;
pub(crate) mod twitch;
pub(crate) mod zoom;

use http::HeaderMap;

use crate::{ParseError, Sender};

/// The value of header `name` as text, `None` when absent.
pub(crate) fn header<'a>(
    sender: Sender,
    headers: &'a HeaderMap,
    name: &'static str,
) -> Result<Option<&'a str>, ParseError> {
    match headers.get(name) {
        None => Ok(None),
        Some(value) => value
            .to_str()
            .map(|v| Some(v.trim()))
            .map_err(|_| ParseError::invalid_header(sender, name, "not visible ASCII")),
    }
}

/// The value of a header the sender always sends.
pub(crate) fn required_header<'a>(
    sender: Sender,
    headers: &'a HeaderMap,
    name: &'static str,
) -> Result<&'a str, ParseError> {
    header(sender, headers, name)?.ok_or_else(|| ParseError::missing_header(sender, name))
}

/// Reads `body` as a JSON tree once, for both the fields that name the event
/// (`N`) and the payload (`D`, moved out of the tree, not copied, when it is
/// the JSON value). Only when that fails are the bytes read again, as `N` or
/// `D` directly, for an error that knows its line and column.
pub(crate) fn names_and_payload<N, D>(sender: Sender, body: &[u8]) -> Result<(N, D), ParseError>
where
    N: serde::de::DeserializeOwned,
    D: serde::de::DeserializeOwned,
{
    let tree: serde_json::Value = crate::error::from_body(sender, body)?;
    let names = match N::deserialize(&tree) {
        Ok(names) => names,
        Err(_) => crate::error::from_body(sender, body)?,
    };
    let payload = match D::deserialize(tree) {
        Ok(payload) => payload,
        Err(_) => crate::error::from_body(sender, body)?,
    };
    Ok((names, payload))
}

/// `IssueLabel` as `issue_label`: Linear's (and others') CamelCase type
/// names as the snake_case segments of the other senders' event names.
pub(crate) fn snake_case(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 4);
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// `resource.action` from raw parts, each kept through
/// [`EventName::new_lossy`](crate::EventName::new_lossy). The action is one
/// segment: a dot a sender put in it is written `%2E`, so that it cannot
/// move the split between [`resource`](crate::EventName::resource) and
/// [`action`](crate::EventName::action) (`call.completed.x` would name the
/// action `x` of the resource `call.completed`).
pub(crate) fn joined(resource: &str, action: Option<&str>) -> crate::EventName {
    let resource = crate::EventName::new_lossy(resource);
    match action.filter(|a| !a.is_empty()) {
        Some(action) => {
            let action = if action.contains('.') {
                crate::EventName::new_lossy(&action.replace('.', "%2E"))
            } else {
                crate::EventName::new_lossy(action)
            };
            crate::EventName::join(resource.as_str(), action.as_str())
        }
        None => resource,
    }
}

#[cfg(test)]
mod joined_tests {
    use super::joined;

    #[test]
    fn a_dot_in_the_action_stays_in_the_action() {
        let name = joined("call", Some("completed.x"));
        assert_eq!(name, "call.completed%2Ex");
        assert_eq!(name.resource(), "call");
        assert_eq!(name.action(), Some("completed%2Ex"));
        assert_eq!(joined("call", Some("completed")), "call.completed");
        assert_eq!(joined("chat_message", None), "chat_message");
    }
}
