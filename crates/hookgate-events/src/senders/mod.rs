//! The payload types of each sender.

mod macros;

pub(crate) mod claimable;
pub(crate) mod claravine;
pub(crate) mod clarife;
pub(crate) mod clarity;
pub(crate) mod github;
pub(crate) mod shopify;
pub(crate) mod slack;
pub(crate) mod standard;
pub(crate) mod stripe;

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
