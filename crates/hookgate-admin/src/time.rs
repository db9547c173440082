//! Times as the API writes and reads them: RFC 3339, UTC.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339 as Rfc3339Format;

/// `at` in RFC 3339 (`2026-12-03T13:24:11.123Z`).
pub(crate) fn rfc3339(at: SystemTime) -> String {
    OffsetDateTime::from(at)
        .format(&Rfc3339Format)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_owned())
}

/// Writes times as [`rfc3339`] does, without an allocation, reusing the
/// date and time of day while they stay within one second: the live stream
/// writes two times per delivery, mostly of the same second.
#[derive(Debug, Default)]
pub(crate) struct Rfc3339Writer {
    /// A second since the Unix epoch and its `YYYY-MM-DDTHH:MM:SS`.
    second: Option<(u64, String)>,
}

impl Rfc3339Writer {
    /// Appends `at` in RFC 3339, as [`rfc3339`] writes it, in double
    /// quotes (a JSON string: nothing in it to escape).
    pub(crate) fn write_quoted(&mut self, out: &mut Vec<u8>, at: SystemTime) {
        out.push(b'"');
        self.write(out, at);
        out.push(b'"');
    }

    /// Appends `at` in RFC 3339, as [`rfc3339`] writes it.
    pub(crate) fn write(&mut self, out: &mut Vec<u8>, at: SystemTime) {
        let Ok(since_epoch) = at.duration_since(UNIX_EPOCH) else {
            out.extend_from_slice(rfc3339(at).as_bytes());
            return;
        };
        let (seconds, nanos) = (since_epoch.as_secs(), since_epoch.subsec_nanos());
        if self
            .second
            .as_ref()
            .is_none_or(|(second, _)| *second != seconds)
        {
            let whole = rfc3339(UNIX_EPOCH + Duration::from_secs(seconds));
            let Some(prefix) = whole.strip_suffix('Z') else {
                out.extend_from_slice(rfc3339(at).as_bytes());
                return;
            };
            self.second = Some((seconds, prefix.to_owned()));
        }
        if let Some((_, prefix)) = &self.second {
            out.extend_from_slice(prefix.as_bytes());
        }
        // The fraction and the `Z` in one write.
        let mut tail = [b'.'; 11];
        let mut len = 0;
        if nanos != 0 {
            // Nine digits, trailing zeros left out (as the `time` crate does).
            let digits = format_nanos(nanos);
            let significant = 9 - digits.iter().rev().take_while(|d| **d == b'0').count();
            tail[1..=significant].copy_from_slice(&digits[..significant]);
            len = 1 + significant;
        }
        tail[len] = b'Z';
        out.extend_from_slice(&tail[..=len]);
    }
}

/// `nanos` (below 10^9) as nine decimal digits.
fn format_nanos(mut nanos: u32) -> [u8; 9] {
    let mut digits = [b'0'; 9];
    for digit in digits.iter_mut().rev() {
        // A remainder of 10 is one digit: the cast cannot truncate.
        *digit = b'0' + (nanos % 10) as u8;
        nanos /= 10;
    }
    digits
}

/// Parses an RFC 3339 time, or says what was expected.
pub(crate) fn parse_rfc3339(text: &str) -> Result<SystemTime, String> {
    OffsetDateTime::parse(text, &Rfc3339Format)
        .map(SystemTime::from)
        .map_err(|_| "expected an RFC 3339 time such as 2026-12-03T13:00:00Z".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip() {
        let at = UNIX_EPOCH + Duration::from_secs(1_764_768_000);
        assert_eq!(rfc3339(at), "2025-12-03T13:20:00Z");
        assert_eq!(parse_rfc3339("2025-12-03T13:20:00Z"), Ok(at));
        assert!(parse_rfc3339("yesterday").is_err());
    }

    #[test]
    fn the_writer_writes_what_rfc3339_writes() {
        let mut writer = Rfc3339Writer::default();
        let base = UNIX_EPOCH + Duration::from_secs(1_764_768_000);
        // Whole seconds, every count of trailing zeros, the same second
        // again (the cached date), the next second, and before 1970.
        let times = [0, 1, 10, 120, 123_000_000, 999_999_999, 500_000_000, 7]
            .into_iter()
            .map(|nanos| base + Duration::from_nanos(nanos))
            .chain([
                base + Duration::from_millis(1500),
                base + Duration::from_secs(86_399),
                UNIX_EPOCH,
                UNIX_EPOCH - Duration::from_millis(1),
            ]);
        let mut written = |at| {
            let mut out = Vec::new();
            writer.write(&mut out, at);
            String::from_utf8(out).unwrap()
        };
        for at in times {
            assert_eq!(written(at), rfc3339(at), "{at:?}");
        }
        assert_eq!(
            written(base + Duration::from_millis(123)),
            "2025-12-03T13:20:00.123Z"
        );
        let mut quoted = Vec::new();
        writer.write_quoted(&mut quoted, base);
        assert_eq!(quoted, b"\"2025-12-03T13:20:00Z\"");
    }
}
