//! What JetStream messages cannot carry, kept per message in the KV bucket.

use bytes::Bytes;

/// The side state of one message (key `s.<stream sequence>`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct State {
    /// Deliveries that were not attempts (released, or handed back because
    /// their source was skipped).
    pub(crate) uncounted: u32,
    /// When a retry is due (ms since the epoch), until it is delivered again.
    pub(crate) due: Option<u64>,
    /// The error of the last failed attempt.
    pub(crate) error: Option<String>,
}

impl State {
    /// `uncounted|due or -|error`, the error last so it may hold anything.
    pub(crate) fn encode(&self) -> Bytes {
        let due = self.due.map_or_else(|| "-".to_owned(), |d| d.to_string());
        let error = self
            .error
            .as_deref()
            .map_or_else(String::new, |e| format!("+{e}"));
        Bytes::from(format!("{}|{due}|{error}", self.uncounted))
    }

    pub(crate) fn decode(bytes: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(bytes).ok()?;
        let mut parts = text.splitn(3, '|');
        let uncounted = parts.next()?.parse().ok()?;
        let due = match parts.next()? {
            "-" => None,
            due => Some(due.parse().ok()?),
        };
        let error = parts.next()?.strip_prefix('+').map(str::to_owned);
        Some(Self {
            uncounted,
            due,
            error,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_with_and_without_fields() {
        for state in [
            State::default(),
            State {
                uncounted: 2,
                due: Some(1_700_000_000_000),
                error: Some("a|b|".to_owned()),
            },
            State {
                uncounted: 0,
                due: None,
                error: Some(String::new()),
            },
        ] {
            assert_eq!(State::decode(&state.encode()), Some(state));
        }
        assert_eq!(State::decode(b"x|-|"), None);
    }
}
