//! `[retry]`: the delays between attempts and when to give up.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer};
use toml::Spanned;

use super::error::{ConfigError, Ctx};
use super::values::Whole;
use crate::duration::HumanDuration;

/// The delays between attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ScheduleConfig {
    /// Exponential backoff from `base`, capped at `cap`, with full jitter unless disabled.
    Exponential {
        /// The first delay (the ceiling of the first, with jitter).
        base: Duration,
        /// The largest delay.
        cap: Duration,
        /// Whether delays are randomised.
        jitter: bool,
    },
    /// Exactly these delays, then dead letters.
    Fixed(Vec<Duration>),
}

/// The `[retry]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RetryConfig {
    /// The delays.
    pub(crate) schedule: ScheduleConfig,
    /// Attempts before dead letters (the schedule's own limit when absent).
    pub(crate) max_attempts: Option<u32>,
    /// Age after which a failing delivery goes to the dead letters.
    pub(crate) max_age: Option<Duration>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRetry {
    schedule: Option<Spanned<RawSchedule>>,
    base: Option<Spanned<HumanDuration>>,
    cap: Option<Spanned<HumanDuration>>,
    jitter: Option<bool>,
    max_attempts: Option<Spanned<Whole<u32>>>,
    max_age: Option<HumanDuration>,
}

enum RawSchedule {
    Named(String),
    Delays(Vec<Duration>),
}

impl<'de> Deserialize<'de> for RawSchedule {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;

        impl<'de> de::Visitor<'de> for Visitor {
            type Value = RawSchedule;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "\"exponential\", \"clarife\", \"svix\", \"clazar\" or a list of delays such as [\"1s\", \"10s\"]",
                )
            }

            fn visit_str<E: de::Error>(self, name: &str) -> Result<RawSchedule, E> {
                match name {
                    "exponential" | "clarife" | "svix" | "clazar" => {
                        Ok(RawSchedule::Named(name.to_owned()))
                    }
                    other => Err(E::custom(format!(
                        "unknown retry schedule {other:?}; expected \"exponential\", \"clarife\", \"svix\", \"clazar\" or a list of delays"
                    ))),
                }
            }

            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<RawSchedule, A::Error> {
                let mut delays = Vec::new();
                while let Some(HumanDuration(delay)) = seq.next_element()? {
                    delays.push(delay);
                }
                Ok(RawSchedule::Delays(delays))
            }
        }

        deserializer.deserialize_any(Visitor)
    }
}

pub(super) fn check_retry(ctx: &Ctx<'_>, raw: RawRetry) -> Result<RetryConfig, ConfigError> {
    let base = raw
        .base
        .as_ref()
        .map_or(Duration::from_secs(1), |d| d.get_ref().0);
    let cap = raw
        .cap
        .as_ref()
        .map_or(Duration::from_secs(600), |d| d.get_ref().0);
    let exponential = ScheduleConfig::Exponential {
        base,
        cap,
        jitter: raw.jitter.unwrap_or(true),
    };
    let (schedule, named_span) = match raw.schedule {
        None => (exponential, None),
        Some(spanned) => {
            let span = spanned.span();
            match spanned.into_inner() {
                RawSchedule::Named(name) => match name.as_str() {
                    "clarife" => (
                        ScheduleConfig::Fixed([1, 10, 60].map(Duration::from_secs).to_vec()),
                        Some(span),
                    ),
                    "svix" | "clazar" => (
                        ScheduleConfig::Fixed(
                            [5, 300, 1800, 7200, 18_000, 36_000, 36_000]
                                .map(Duration::from_secs)
                                .to_vec(),
                        ),
                        Some(span),
                    ),
                    _ => (exponential, None),
                },
                RawSchedule::Delays(delays) => {
                    if delays.is_empty() {
                        return Err(ctx.at(
                            span,
                            "retry: `schedule` lists no delays; use max_attempts = 1 to never retry",
                        ));
                    }
                    (ScheduleConfig::Fixed(delays), Some(span))
                }
            }
        }
    };
    if let (Some(span), true) = (named_span, raw.base.is_some() || raw.cap.is_some()) {
        return Err(ctx.at(
            span,
            "retry: `base` and `cap` apply to the exponential schedule only",
        ));
    }
    if base.is_zero() || cap < base {
        // Point at what is written: `base` when it is zero, else `cap`.
        let span = match (&raw.base, &raw.cap) {
            (Some(written), _) if base.is_zero() => Some(written.span()),
            (_, Some(written)) => Some(written.span()),
            (Some(written), None) => Some(written.span()),
            (None, None) => None,
        };
        let message = "retry: `base` must be above zero and `cap` at least `base`";
        return Err(match span {
            Some(span) => ctx.at(span, message),
            None => ctx.file_error(message),
        });
    }
    if let Some(attempts) = &raw.max_attempts
        && attempts.get_ref().0 == 0
    {
        return Err(ctx.at(attempts.span(), "retry: `max_attempts` must be at least 1"));
    }
    Ok(RetryConfig {
        schedule,
        max_attempts: raw.max_attempts.map(|a| a.into_inner().0),
        max_age: raw.max_age.map(|d| d.0),
    })
}
