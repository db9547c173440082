//! How times are stored in Redis values (headers: `hookgate_queue::wire`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Microseconds since the Unix epoch; times before it are stored as 0.
pub(crate) fn micros(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

pub(crate) fn from_micros(micros: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_micros(micros)
}

/// The latest time, and the longest duration, sent to Redis in
/// milliseconds (about 35,000 years): Lua numbers are doubles, exact up to
/// 2^53, and `PX` refuses what overflows the server's clock.
pub(crate) const MAX_MILLIS: u64 = 1 << 50;

/// Milliseconds since the Unix epoch, at most [`MAX_MILLIS`].
pub(crate) fn millis(time: SystemTime) -> u64 {
    (micros(time) / 1000).min(MAX_MILLIS)
}

/// A duration in milliseconds for a script argument: at least 1, at most
/// [`MAX_MILLIS`], so a huge one means "for ever" instead of failing.
pub(crate) fn duration_millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis())
        .unwrap_or(u64::MAX)
        .clamp(1, MAX_MILLIS)
}

pub(crate) fn from_millis(millis: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip() {
        let t = UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_456);
        assert_eq!(from_micros(micros(t)), t);
        assert_eq!(micros(UNIX_EPOCH - Duration::from_secs(1)), 0);
        assert_eq!(
            from_millis(millis(t)),
            UNIX_EPOCH + Duration::from_millis(1_700_000_000_123)
        );
    }
}
