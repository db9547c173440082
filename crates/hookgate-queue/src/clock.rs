//! Where queues and workers read the time, so tests can move it by hand.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

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

/// A source of wall-clock time.
///
/// Leases, scheduled retries, the deduplication window and the workers' age
/// limits all read the time through this trait. Production code uses
/// [`SystemClock`]; tests use [`ManualClock`] and never sleep.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The current time.
    fn now(&self) -> SystemTime;
}

/// The operating system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that only moves when told to. Clones share the same time.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use hookgate_queue::{Clock, ManualClock};
///
/// let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
/// let start = clock.now();
/// clock.advance(Duration::from_secs(90));
/// assert_eq!(clock.now().duration_since(start).unwrap(), Duration::from_secs(90));
/// ```
#[derive(Clone)]
pub struct ManualClock {
    now: Arc<Mutex<SystemTime>>,
}

impl ManualClock {
    /// A clock stopped at `start`.
    pub fn new(start: SystemTime) -> Self {
        Self {
            now: Arc::new(Mutex::new(start)),
        }
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap_or_else(PoisonError::into_inner);
        *now += by;
    }

    /// Sets the clock to `to` (which may be in its past).
    pub fn set(&self, to: SystemTime) {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner) = to;
    }
}

impl Default for ManualClock {
    /// A clock stopped at the current system time, truncated to whole seconds
    /// so that times survive back-ends that store coarser timestamps.
    fn default() -> Self {
        let secs = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        Self::new(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualClock")
            .field("now", &self.now())
            .finish()
    }
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
