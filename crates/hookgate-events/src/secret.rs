//! Secrets that some senders repeat inside their payloads.

use std::fmt;

use serde::Deserialize;

/// A shared token a sender repeats in the body (Claravine's bearer token,
/// Slack's legacy verification token).
///
/// `Debug` prints `[redacted]`, and the payload types never serialize it
/// unless asked to explicitly, so it does not leak into logs or dead letters.
///
/// ```
/// let token = hookgate_events::Token::new("client-secret");
/// assert_eq!(format!("{token:?}"), "[redacted]");
/// assert_eq!(token.expose(), "client-secret");
/// ```
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Token(String);

impl Token {
    /// Wraps a token.
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// The token itself. Compare it in constant time.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}
