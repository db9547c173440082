//! The error for bytes that are not a sender's payload.

use std::fmt;

use serde::de::DeserializeOwned;

use crate::sender::Sender;

/// Why a delivery could not be read as its sender's payload.
///
/// Only bytes that are not that sender's payload at all produce this error: an
/// event name or a field the sender adds later is kept, not refused. The
/// message names the sender, the field at fault (`data.title`) and, when
/// known, the line and column in the body. It never quotes the value of a
/// field that holds a secret (Claravine's and Slack's `token`). Other values
/// may be quoted, and not always escaped (serde's messages vary), so a tool
/// printing the message on one line should replace control characters.
///
/// ```
/// use hookgate_events::{ParseErrorKind, Sender};
///
/// let err = Sender::Clarife
///     .parse(&http::HeaderMap::new(), br#"{"id": "evt_1", "type": 7}"#)
///     .unwrap_err();
/// assert_eq!(err.path(), Some("type"));
/// assert!(matches!(err.kind(), ParseErrorKind::Body { .. }));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    sender: Sender,
    kind: ParseErrorKind,
}

/// What exactly is wrong, for [`ParseError`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// A header the sender always sends (GitHub's `X-GitHub-Event`) is absent.
    MissingHeader {
        /// The header name, lowercase.
        header: &'static str,
    },
    /// A header is present but unusable (not UTF-8, not an event name).
    InvalidHeader {
        /// The header name, lowercase.
        header: &'static str,
        /// Why it is unusable.
        reason: String,
    },
    /// The body is not JSON, or a field has the wrong shape.
    Body {
        /// The path to the field at fault, e.g. `data.title` or `items[2]`;
        /// `.` for the body as a whole.
        path: String,
        /// What is wrong with it.
        message: String,
        /// Line and column (from 1) in the body, when known.
        position: Option<(usize, usize)>,
    },
}

impl ParseError {
    pub(crate) fn new(sender: Sender, kind: ParseErrorKind) -> Self {
        Self { sender, kind }
    }

    pub(crate) fn missing_header(sender: Sender, header: &'static str) -> Self {
        Self::new(sender, ParseErrorKind::MissingHeader { header })
    }

    pub(crate) fn invalid_header(
        sender: Sender,
        header: &'static str,
        reason: impl fmt::Display,
    ) -> Self {
        Self::new(
            sender,
            ParseErrorKind::InvalidHeader {
                header,
                reason: reason.to_string(),
            },
        )
    }

    /// An error found by deserializing a body, with the path serde walked.
    pub(crate) fn from_json(
        sender: Sender,
        err: serde_path_to_error::Error<serde_json::Error>,
    ) -> Self {
        let path = err.path().to_string();
        let inner = err.into_inner();
        let position = (inner.line() != 0).then(|| (inner.line(), inner.column()));
        let mut message = inner.to_string();
        if holds_secret(sender, &path) {
            // serde quotes the offending value ("invalid type: integer `123`"):
            // for a token sent with the wrong type, that value is the secret.
            message = "invalid value, not shown: the field holds a secret".to_owned();
        } else if let Some((line, column)) = position {
            // serde_json appends the position to its message; we report it apart.
            let suffix = format!(" at line {line} column {column}");
            if let Some(stripped) = message.strip_suffix(&suffix) {
                message.truncate(stripped.len());
            }
        }
        Self::new(
            sender,
            ParseErrorKind::Body {
                path,
                message,
                position,
            },
        )
    }

    /// Prefixes the path of a body error with `prefix` (for a nested value
    /// deserialized on its own).
    pub(crate) fn nested_in(mut self, prefix: &str) -> Self {
        if prefix.is_empty() {
            return self;
        }
        if let ParseErrorKind::Body { path, .. } = &mut self.kind {
            *path = if path == "." {
                prefix.to_owned()
            } else if path.starts_with('[') {
                format!("{prefix}{path}")
            } else {
                format!("{prefix}.{path}")
            };
        }
        self
    }

    /// The sender whose payload was expected.
    pub fn sender(&self) -> Sender {
        self.sender
    }

    /// What is wrong.
    pub fn kind(&self) -> &ParseErrorKind {
        &self.kind
    }

    /// The path of the body field at fault, for body errors.
    pub fn path(&self) -> Option<&str> {
        match &self.kind {
            ParseErrorKind::Body { path, .. } => Some(path),
            _ => None,
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sender = self.sender;
        match &self.kind {
            ParseErrorKind::MissingHeader { header } => {
                write!(f, "not a {sender} delivery: missing header `{header}`")
            }
            ParseErrorKind::InvalidHeader { header, reason } => {
                write!(f, "not a {sender} delivery: header `{header}`: {reason}")
            }
            ParseErrorKind::Body {
                path,
                message,
                position,
            } => {
                write!(f, "not a {sender} payload")?;
                if path != "." {
                    write!(f, " at `{path}`")?;
                }
                if let Some((line, column)) = position {
                    write!(f, " (line {line}, column {column})")?;
                }
                write!(f, ": {message}")
            }
        }
    }
}

impl std::error::Error for ParseError {}

/// Whether the body field at `path` holds a secret the sender repeats there
/// (Claravine's and Slack's `token`, Microsoft Graph's `clientState`), whose
/// value an error must never quote.
fn holds_secret(sender: Sender, path: &str) -> bool {
    match sender {
        Sender::Claravine | Sender::Slack => path == "token",
        // Each notification's `clientState` (`value[0].clientState`).
        Sender::MsGraph => path.ends_with(".clientState") || path == "clientState",
        _ => false,
    }
}

/// Deserializes `body` as `T`, reporting the path and position of any error.
pub(crate) fn from_body<T: DeserializeOwned>(sender: Sender, body: &[u8]) -> Result<T, ParseError> {
    // Most bodies read. `serde_path_to_error` wraps every field and skipped
    // value to know where an error is, which doubled the cost of a read that
    // succeeds; it runs only to explain a failure, on the same bytes.
    if let Ok(value) = serde_json::from_slice(body) {
        return Ok(value);
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let value =
        serde_path_to_error::deserialize(&mut de).map_err(|e| ParseError::from_json(sender, e))?;
    de.end().map_err(|e| {
        ParseError::new(
            sender,
            ParseErrorKind::Body {
                path: ".".to_owned(),
                position: Some((e.line(), e.column())),
                message: "trailing characters after the JSON value".to_owned(),
            },
        )
    })?;
    Ok(value)
}

/// Deserializes an already parsed JSON value as `T`, errors naming the path
/// below `prefix` (`""` for the body itself).
pub(crate) fn from_value<T: DeserializeOwned>(
    sender: Sender,
    value: &serde_json::Value,
    prefix: &str,
) -> Result<T, ParseError> {
    serde_path_to_error::deserialize(value)
        .map_err(|e| ParseError::from_json(sender, e).nested_in(prefix))
}
