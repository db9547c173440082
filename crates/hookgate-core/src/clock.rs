//! Where hookgate reads the time, so tests can move it by hand.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

/// A source of wall-clock time.
///
/// The verifier's timestamp window, the queues' leases, scheduled retries and
/// deduplication window, and the workers' age limits all read the time
/// through this trait. Production code uses [`SystemClock`]; tests use
/// [`ManualClock`] and never sleep.
///
/// A clock of your own is a type with a `now` method:
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use hookgate_core::Clock;
///
/// /// The system clock, running a fixed time behind.
/// #[derive(Debug)]
/// struct Behind(Duration);
///
/// impl Clock for Behind {
///     fn now(&self) -> SystemTime {
///         SystemTime::now() - self.0
///     }
/// }
///
/// let clock = Behind(Duration::from_secs(3600));
/// assert!(clock.now() < SystemTime::now());
/// ```
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
/// use hookgate_core::{Clock, ManualClock};
///
/// let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
/// let start = clock.now();
/// clock.advance(Duration::from_secs(90));
/// assert_eq!(clock.now().duration_since(start).unwrap(), Duration::from_secs(90));
///
/// let shared = clock.clone();
/// shared.set(start);
/// assert_eq!(clock.now(), start);
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
    fn the_default_manual_clock_starts_now_on_a_whole_second() {
        let clock = ManualClock::default();
        let since_epoch = clock.now().duration_since(SystemTime::UNIX_EPOCH).unwrap();
        assert_eq!(since_epoch.subsec_nanos(), 0);
        assert!(clock.now() <= SystemTime::now());
    }

    #[test]
    fn a_clock_is_usable_as_a_shared_trait_object() {
        let manual = ManualClock::new(SystemTime::UNIX_EPOCH);
        let clock: Arc<dyn Clock> = Arc::new(manual.clone());
        manual.advance(Duration::from_secs(5));
        assert_eq!(clock.now(), SystemTime::UNIX_EPOCH + Duration::from_secs(5));
        assert!(format!("{clock:?}").starts_with("ManualClock"));
    }
}
