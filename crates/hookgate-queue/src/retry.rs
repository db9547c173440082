//! When to try a failed delivery again, and when to stop.

use std::sync::Arc;
use std::time::Duration;

use hookgate_events::{Disposition, HandlerError};

/// The delays between attempts, as a value.
///
/// ```
/// use std::time::Duration;
/// use hookgate_queue::RetrySchedule;
///
/// let clarife = RetrySchedule::clarife();
/// assert_eq!(clarife.delay(1), Some(Duration::from_secs(1)));
/// assert_eq!(clarife.delay(3), Some(Duration::from_secs(60)));
/// assert_eq!(clarife.delay(4), None, "three retries, then dead letters");
///
/// let exp = RetrySchedule::exponential(Duration::from_secs(1), Duration::from_secs(60));
/// assert!(exp.delay(3).unwrap() <= Duration::from_secs(4), "full jitter: 0..=1s * 2^2");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule {
    kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Exponential {
        base: Duration,
        cap: Duration,
        jitter: bool,
    },
    Fixed(Arc<[Duration]>),
}

impl RetrySchedule {
    /// Exponential backoff with full jitter: before retry `n` (from 1), wait a
    /// random delay in `0..=min(cap, base * 2^(n-1))`. Never runs out; bound it
    /// with [`RetryPolicy::max_attempts`] or [`RetryPolicy::max_age`].
    pub fn exponential(base: Duration, cap: Duration) -> Self {
        Self {
            kind: Kind::Exponential {
                base,
                cap,
                jitter: true,
            },
        }
    }

    /// Removes the jitter: wait exactly `min(cap, base * 2^(n-1))`.
    ///
    /// Jitter spreads out retries of deliveries that failed together (say,
    /// while a database was down), so keep it unless a test needs exact times.
    #[must_use]
    pub fn without_jitter(mut self) -> Self {
        if let Kind::Exponential { jitter, .. } = &mut self.kind {
            *jitter = false;
        }
        self
    }

    /// Exactly these delays, then no more retries.
    pub fn fixed(delays: impl IntoIterator<Item = Duration>) -> Self {
        Self {
            kind: Kind::Fixed(delays.into_iter().collect()),
        }
    }

    /// clarife's own schedule: 1 s, 10 s, 60 s.
    pub fn clarife() -> Self {
        Self::fixed([1, 10, 60].map(Duration::from_secs))
    }

    /// Svix's schedule, which Clazar also uses: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
    pub fn svix() -> Self {
        Self::fixed([5, 300, 1800, 7200, 18_000, 36_000, 36_000].map(Duration::from_secs))
    }

    /// The same as [`svix`](Self::svix).
    pub fn clazar() -> Self {
        Self::svix()
    }

    /// How many retries the schedule allows, if it runs out.
    pub fn retries(&self) -> Option<u32> {
        match &self.kind {
            Kind::Exponential { .. } => None,
            Kind::Fixed(delays) => Some(u32::try_from(delays.len()).unwrap_or(u32::MAX)),
        }
    }

    /// The delay before retry `retry` (1 for the first retry), or `None` when
    /// the schedule has run out.
    pub fn delay(&self, retry: u32) -> Option<Duration> {
        let ceiling = self.max_delay(retry)?;
        match &self.kind {
            Kind::Exponential { jitter: true, .. } => {
                let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
                Some(Duration::from_nanos(rand::random_range(0..=nanos)))
            }
            _ => Some(ceiling),
        }
    }

    /// The longest delay before retry `retry` (the exact delay without jitter).
    pub fn max_delay(&self, retry: u32) -> Option<Duration> {
        let retry = retry.max(1);
        match &self.kind {
            Kind::Exponential { base, cap, .. } => {
                let factor = 1u32.checked_shl(retry - 1).unwrap_or(u32::MAX);
                Some(base.saturating_mul(factor).min(*cap))
            }
            Kind::Fixed(delays) => delays.get(usize::try_from(retry - 1).ok()?).copied(),
        }
    }
}

impl Default for RetrySchedule {
    /// Exponential from 1 s, capped at 10 min, with full jitter.
    fn default() -> Self {
        Self::exponential(Duration::from_secs(1), Duration::from_secs(600))
    }
}

/// A schedule plus the limits after which a delivery goes to the dead letters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    schedule: RetrySchedule,
    max_attempts: u32,
    max_age: Option<Duration>,
}

impl RetryPolicy {
    /// A policy following `schedule`. The attempt limit is the schedule's
    /// retries plus the first attempt, or 12 for schedules that never run out;
    /// no age limit.
    pub fn new(schedule: RetrySchedule) -> Self {
        let max_attempts = schedule.retries().map_or(12, |r| r.saturating_add(1));
        Self {
            schedule,
            max_attempts,
            max_age: None,
        }
    }

    /// Dead-letters a delivery after `attempts` attempts (at least 1).
    #[must_use]
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// Dead-letters a delivery that fails when older than `age` (since received).
    #[must_use]
    pub fn max_age(mut self, age: Duration) -> Self {
        self.max_age = Some(age);
        self
    }

    /// The schedule.
    pub fn schedule(&self) -> &RetrySchedule {
        &self.schedule
    }

    /// The attempt limit.
    pub fn attempt_limit(&self) -> u32 {
        self.max_attempts
    }

    /// The age limit.
    pub fn age_limit(&self) -> Option<Duration> {
        self.max_age
    }

    /// After failed attempt `attempt` of a delivery aged `age`: the delay
    /// before the next attempt (`requested` by the handler, else from the
    /// schedule), or `None` to give up.
    pub fn next_delay(
        &self,
        attempt: u32,
        age: Duration,
        requested: Option<Duration>,
    ) -> Option<Duration> {
        if attempt >= self.max_attempts {
            return None;
        }
        let delay = match requested {
            Some(delay) => delay,
            None => self.schedule.delay(attempt)?,
        };
        match self.max_age {
            Some(max) if age.saturating_add(delay) > max => None,
            _ => Some(delay),
        }
    }
}

/// What follows a failed attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Try again after this delay.
    RetryIn(Duration),
    /// Give up: dead letters, with this reason.
    GiveUp(String),
}

impl RetryPolicy {
    /// What follows failed attempt `attempt` of a delivery aged `age`: the
    /// handler's disposition, then this policy's limits, decide.
    pub(crate) fn verdict(&self, error: &HandlerError, attempt: u32, age: Duration) -> Verdict {
        let requested = match error.disposition() {
            Disposition::GiveUp => return Verdict::GiveUp(error.to_string()),
            Disposition::Retry { after } => after,
            // A disposition this version does not know: the safe default.
            _ => None,
        };
        match self.next_delay(attempt, age, requested) {
            Some(delay) => Verdict::RetryIn(delay),
            None => Verdict::GiveUp(format!("gave up after {attempt} attempts: {error}")),
        }
    }
}

impl Default for RetryPolicy {
    /// Exponential backoff (1 s to 10 min, full jitter), 12 attempts, give up after 3 days.
    fn default() -> Self {
        Self::new(RetrySchedule::default()).max_age(Duration::from_secs(3 * 24 * 3600))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_doubles_up_to_the_cap() {
        let s = RetrySchedule::exponential(Duration::from_millis(500), Duration::from_secs(5))
            .without_jitter();
        let delays: Vec<_> = (1..=6).map(|n| s.delay(n).unwrap().as_millis()).collect();
        assert_eq!(delays, [500, 1000, 2000, 4000, 5000, 5000]);
        assert_eq!(s.delay(200), Some(Duration::from_secs(5)), "no overflow");
    }

    #[test]
    fn full_jitter_stays_within_the_ceiling_and_varies() {
        let s = RetrySchedule::exponential(Duration::from_secs(1), Duration::from_secs(60));
        let samples: Vec<Duration> = (0..200).map(|_| s.delay(4).unwrap()).collect();
        assert!(samples.iter().all(|d| *d <= Duration::from_secs(8)));
        assert!(samples.iter().any(|d| *d != samples[0]), "jittered");
        assert!(
            samples.iter().any(|d| *d < Duration::from_secs(4)),
            "full jitter reaches low"
        );
    }

    #[test]
    fn presets_match_the_senders_documentation() {
        let svix: Vec<u64> = (1..=7)
            .map(|n| RetrySchedule::svix().delay(n).unwrap().as_secs())
            .collect();
        assert_eq!(svix, [5, 300, 1800, 7200, 18000, 36000, 36000]);
        assert_eq!(RetrySchedule::svix().delay(8), None);
        assert_eq!(
            RetryPolicy::new(RetrySchedule::clarife()).attempt_limit(),
            4
        );
        assert_eq!(RetryPolicy::new(RetrySchedule::clazar()).attempt_limit(), 8);
    }

    #[test]
    fn policy_stops_at_attempts_and_age() {
        let policy = RetryPolicy::new(RetrySchedule::clarife());
        assert_eq!(
            policy.next_delay(1, Duration::ZERO, None),
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            policy.next_delay(3, Duration::ZERO, None),
            Some(Duration::from_secs(60))
        );
        assert_eq!(policy.next_delay(4, Duration::ZERO, None), None);
        let requested = Some(Duration::from_secs(7));
        assert_eq!(policy.next_delay(1, Duration::ZERO, requested), requested);

        let aged = RetryPolicy::new(RetrySchedule::clarife()).max_age(Duration::from_secs(30));
        assert_eq!(
            aged.next_delay(2, Duration::from_secs(15), None),
            Some(Duration::from_secs(10))
        );
        assert_eq!(aged.next_delay(2, Duration::from_secs(25), None), None);
    }
}
