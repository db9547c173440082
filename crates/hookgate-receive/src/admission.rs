//! Admission control per source: how many requests of one source are received
//! at once, and how fast they may come.
//!
//! Both are checked after the request head and before a byte of the body is
//! read, so a source flooded past its limits costs an atomic operation or two
//! per refused request, and the others' deliveries go on: each source has
//! its own counter and its own bucket.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use crate::{ConfigError, Source};

/// A rate limit: on average `count` requests per `period`, in bursts of up
/// to `burst` (by default `count`).
///
/// Enforced as a GCRA (a token bucket kept as one timestamp): a source
/// receives a burst right away, then one request per `period / count`.
/// Parsed from `"100/s"`, `"6000/min"` or `"10/h"`:
///
/// ```
/// use std::time::Duration;
/// use hookgate_receive::RateLimit;
///
/// let limit: RateLimit = "100/s".parse()?;
/// assert_eq!((limit.count(), limit.period(), limit.burst()), (100, Duration::from_secs(1), 100));
/// let limit = limit.with_burst(200)?;
/// assert_eq!(limit.burst(), 200);
/// assert!("100/fortnight".parse::<RateLimit>().is_err());
/// assert!("0/s".parse::<RateLimit>().is_err());
/// # Ok::<(), hookgate_receive::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    count: u32,
    period: Duration,
    burst: u32,
}

impl RateLimit {
    /// `count` requests per `period`, in bursts of up to `count`. Neither
    /// may be zero.
    pub fn new(count: u32, period: Duration) -> Result<Self, ConfigError> {
        if count == 0 {
            return Err(ConfigError::Zero("rate limit count"));
        }
        if period.is_zero() {
            return Err(ConfigError::Zero("rate limit period"));
        }
        Ok(Self {
            count,
            period,
            burst: count,
        })
    }

    /// `count` requests per second.
    pub fn per_second(count: u32) -> Result<Self, ConfigError> {
        Self::new(count, Duration::from_secs(1))
    }

    /// Allows bursts of up to `burst` requests (at least 1).
    pub fn with_burst(self, burst: u32) -> Result<Self, ConfigError> {
        if burst == 0 {
            return Err(ConfigError::Zero("burst"));
        }
        Ok(Self { burst, ..self })
    }

    /// Requests per [`period`](Self::period), on average.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// The period [`count`](Self::count) is counted over.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// The largest burst received at once.
    pub fn burst(&self) -> u32 {
        self.burst
    }

    /// The time one request uses up: `period / count`, at least 1 ns.
    fn interval(&self) -> u64 {
        let nanos = self.period.as_nanos() / u128::from(self.count);
        u64::try_from(nanos).unwrap_or(u64::MAX).max(1)
    }
}

impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.period.as_secs() {
            1 => "s",
            60 => "min",
            3600 => "h",
            _ => return write!(f, "{}/{:?}", self.count, self.period),
        };
        write!(f, "{}/{unit}", self.count)
    }
}

impl FromStr for RateLimit {
    type Err = ConfigError;

    /// `N/s`, `N/min` or `N/h` (also `N/sec`, `N/second`, `N/m`, `N/minute`,
    /// `N/hour`), with N at least 1; spaces around the parts are allowed.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || ConfigError::InvalidRate(text.to_owned());
        let (count, unit) = text.split_once('/').ok_or_else(invalid)?;
        let count: u32 = count.trim().parse().map_err(|_| invalid())?;
        let period = match unit.trim() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            _ => return Err(invalid()),
        };
        Self::new(count, period)
    }
}

/// The admission state of one source: its limits and what they have counted.
pub(crate) struct Admission {
    max_in_flight: Option<usize>,
    in_flight: AtomicUsize,
    rate: Option<Gcra>,
}

impl fmt::Debug for Admission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Admission")
            .field("max_in_flight", &self.max_in_flight)
            .field("rate", &self.rate.as_ref().map(|gcra| gcra.limit))
            .finish_non_exhaustive()
    }
}

/// Why a request was not admitted.
pub(crate) enum Refusal {
    /// `max_in_flight` requests of the source are being received.
    InFlight(usize),
    /// Over the rate limit; a request would be admitted after this wait.
    Rate(RateLimit, Duration),
}

impl Admission {
    pub(crate) fn new(max_in_flight: Option<usize>, rate: Option<RateLimit>) -> Self {
        Self {
            max_in_flight,
            in_flight: AtomicUsize::new(0),
            rate: rate.map(Gcra::new),
        }
    }

    pub(crate) fn max_in_flight(&self) -> Option<usize> {
        self.max_in_flight
    }

    pub(crate) fn rate_limit(&self) -> Option<RateLimit> {
        self.rate.as_ref().map(|gcra| gcra.limit)
    }

    /// Admits a request of `source` arrived at `now`: an in-flight place
    /// (held by the returned guard until it is dropped), then a rate token.
    /// A request refused for its rate gives its place back.
    pub(crate) fn admit(source: &Arc<Source>, now: Instant) -> Result<InFlight, Refusal> {
        let admission = &source.admission;
        let guard = match admission.max_in_flight {
            Some(max) => {
                // Counted up only below `max`, so the count never passes it
                // (not even for a moment, which would refuse another request).
                admission
                    .in_flight
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                        (n < max).then_some(n + 1)
                    })
                    .map_err(|_| Refusal::InFlight(max))?;
                InFlight(Some(Arc::clone(source)))
            }
            None => InFlight(None),
        };
        if let Some(gcra) = &admission.rate {
            gcra.take(now)
                .map_err(|wait| Refusal::Rate(gcra.limit, wait))?;
        }
        Ok(guard)
    }
}

/// A request's in-flight place in its source (none without `max_in_flight`),
/// given back on drop.
pub(crate) struct InFlight(Option<Arc<Source>>);

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(source) = &self.0 {
            source.admission.in_flight.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// The generic cell rate algorithm: the bucket is the "theoretical arrival
/// time" of the next request, in nanoseconds since `epoch`. A request at `t`
/// moves it to `max(tat, t) + interval` if that is at most `burst` intervals
/// ahead of `t`, and is refused otherwise. One atomic word per source, updated
/// by compare-and-swap: no lock on the request path.
struct Gcra {
    limit: RateLimit,
    interval: u64,
    /// How far ahead of now the arrival time may run: `burst` intervals.
    tolerance: u64,
    epoch: Instant,
    tat: AtomicU64,
}

impl Gcra {
    fn new(limit: RateLimit) -> Self {
        let interval = limit.interval();
        Self {
            limit,
            interval,
            tolerance: interval.saturating_mul(u64::from(limit.burst)),
            epoch: Instant::now(),
            tat: AtomicU64::new(0),
        }
    }

    /// Takes a token at `now`, or says how long until one is there.
    fn take(&self, now: Instant) -> Result<(), Duration> {
        let now =
            u64::try_from(now.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX);
        let mut tat = self.tat.load(Ordering::Acquire);
        loop {
            let next = tat.max(now).saturating_add(self.interval);
            let ahead = next - now;
            if ahead > self.tolerance {
                return Err(Duration::from_nanos(ahead - self.tolerance));
            }
            match self
                .tat
                .compare_exchange_weak(tat, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Ok(()),
                Err(current) => tat = current,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_in_three_units_and_refuse_the_rest() {
        for (text, count, secs) in [
            ("100/s", 100, 1),
            (" 5 / min ", 5, 60),
            ("10/h", 10, 3600),
            ("1/second", 1, 1),
        ] {
            let limit: RateLimit = text.parse().unwrap();
            assert_eq!(limit.count(), count, "{text}");
            assert_eq!(limit.period(), Duration::from_secs(secs), "{text}");
            assert_eq!(limit.burst(), count, "{text}");
        }
        for bad in [
            "",
            "100",
            "100/",
            "/s",
            "x/s",
            "-1/s",
            "1.5/s",
            "100/d",
            "100 per s",
        ] {
            assert_eq!(
                bad.parse::<RateLimit>(),
                Err(ConfigError::InvalidRate(bad.to_owned())),
                "{bad:?}"
            );
        }
        assert_eq!(
            "0/s".parse::<RateLimit>(),
            Err(ConfigError::Zero("rate limit count"))
        );
        assert_eq!(
            RateLimit::per_second(1).unwrap().with_burst(0),
            Err(ConfigError::Zero("burst"))
        );
        assert_eq!(
            ConfigError::InvalidRate("100/d".to_owned()).to_string(),
            "rate \"100/d\" is not N/s, N/min or N/h"
        );
        assert_eq!("100/s".parse::<RateLimit>().unwrap().to_string(), "100/s");
    }

    #[test]
    fn a_burst_then_one_request_per_interval() {
        // 10/s: one request per 100 ms, bursts of 3.
        let gcra = Gcra::new(RateLimit::per_second(10).unwrap().with_burst(3).unwrap());
        let at = |ms: u64| gcra.epoch + Duration::from_millis(ms);
        for _ in 0..3 {
            assert_eq!(gcra.take(at(0)), Ok(()));
        }
        assert_eq!(gcra.take(at(0)), Err(Duration::from_millis(100)));
        assert_eq!(gcra.take(at(40)), Err(Duration::from_millis(60)));
        // A refusal takes nothing: the next token is there at 100 ms.
        assert_eq!(gcra.take(at(100)), Ok(()));
        assert_eq!(gcra.take(at(100)), Err(Duration::from_millis(100)));
        // After a quiet second the whole burst is back, not more.
        for _ in 0..3 {
            assert_eq!(gcra.take(at(1_100)), Ok(()));
        }
        assert!(gcra.take(at(1_100)).is_err());
    }
}
