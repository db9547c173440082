//! Where queues and workers read the time, so tests can move it by hand: the
//! clock of `hookgate-core`, and what the back-ends compute from it.

use std::time::{Duration, SystemTime};

pub use hookgate_core::{Clock, ManualClock, SystemClock};

/// A time far enough ahead to mean "never" (about 34,000 years after the
/// epoch), yet representable by every back-end's timestamps.
pub(crate) fn far_future() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1 << 40)
}

/// `time + by`, clamped to [`far_future`] instead of overflowing: a lease or
/// retry asked for with a huge duration lasts "forever", and never panics.
pub(crate) fn later(time: SystemTime, by: Duration) -> SystemTime {
    let far = far_future().max(time);
    time.checked_add(by).map_or(far, |t| t.min(far))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_clamps_instead_of_overflowing() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            later(now, Duration::from_secs(30)),
            now + Duration::from_secs(30)
        );
        assert_eq!(later(now, Duration::MAX), far_future());
        assert_eq!(later(now, Duration::from_secs(u64::MAX / 4)), far_future());
    }
}
