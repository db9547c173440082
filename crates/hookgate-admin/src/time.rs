//! Times as the API writes and reads them: RFC 3339, UTC.

use std::time::SystemTime;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// `at` in RFC 3339 (`2026-12-03T13:24:11.123Z`).
pub(crate) fn rfc3339(at: SystemTime) -> String {
    OffsetDateTime::from(at)
        .format(&Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_owned())
}

/// Parses an RFC 3339 time, or says what was expected.
pub(crate) fn parse_rfc3339(text: &str) -> Result<SystemTime, String> {
    OffsetDateTime::parse(text, &Rfc3339)
        .map(SystemTime::from)
        .map_err(|_| "expected an RFC 3339 time such as 2026-12-03T13:00:00Z".to_owned())
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn times_round_trip() {
        let at = UNIX_EPOCH + Duration::from_secs(1_764_768_000);
        assert_eq!(rfc3339(at), "2025-12-03T13:20:00Z");
        assert_eq!(parse_rfc3339("2025-12-03T13:20:00Z"), Ok(at));
        assert!(parse_rfc3339("yesterday").is_err());
    }
}
