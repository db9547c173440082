//! What event handlers return, and what they are told about the delivery.

use std::error::Error as StdError;
use std::fmt;
use std::time::{Duration, SystemTime};

pub use hookgate_core::BoxError;

/// Why a handler could not process an event, and what should happen next.
///
/// Any error converts into a [`HandlerError`] that asks for a **retry** (the
/// safe default: a transient failure must not lose the event), so `?` works in
/// handlers. Use [`HandlerError::give_up`] for an event that will never succeed
/// (it goes to the dead letters at once) and [`HandlerError::retry_after`] to
/// ask for a specific delay.
///
/// Like `anyhow::Error`, this type deliberately does not implement
/// [`std::error::Error`], so that the blanket `From` conversion is possible.
pub struct HandlerError {
    disposition: Disposition,
    error: BoxError,
}

/// What the worker should do with a delivery whose handler failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Disposition {
    /// Try again later: after `after` when given, else per the retry policy.
    Retry {
        /// The delay the handler asked for, overriding the policy's backoff.
        after: Option<Duration>,
    },
    /// Never try again: move the delivery to the dead letters now.
    GiveUp,
}

impl HandlerError {
    /// A transient failure: retry per the worker's retry policy.
    pub fn retry(error: impl Into<BoxError>) -> Self {
        Self {
            disposition: Disposition::Retry { after: None },
            error: error.into(),
        }
    }

    /// A transient failure that should be retried after `delay`.
    pub fn retry_after(delay: Duration, error: impl Into<BoxError>) -> Self {
        Self {
            disposition: Disposition::Retry { after: Some(delay) },
            error: error.into(),
        }
    }

    /// A permanent failure: dead-letter the delivery, never retry it.
    pub fn give_up(error: impl Into<BoxError>) -> Self {
        Self {
            disposition: Disposition::GiveUp,
            error: error.into(),
        }
    }

    /// A failure with the given disposition.
    pub fn with_disposition(disposition: Disposition, error: impl Into<BoxError>) -> Self {
        Self {
            disposition,
            error: error.into(),
        }
    }

    /// What the worker should do next.
    pub fn disposition(&self) -> Disposition {
        self.disposition
    }

    /// The underlying error.
    pub fn error(&self) -> &(dyn StdError + Send + Sync + 'static) {
        &*self.error
    }

    /// Consumes `self`, returning the underlying error.
    pub fn into_error(self) -> BoxError {
        self.error
    }
}

impl<E: Into<BoxError>> From<E> for HandlerError {
    fn from(error: E) -> Self {
        Self::retry(error)
    }
}

impl fmt::Debug for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandlerError")
            .field("disposition", &self.disposition)
            .field("error", &self.error)
            .finish()
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}

/// What a handler is told about the delivery that carried its event.
///
/// Everything here was established before the handler ran: the signature was
/// verified when the delivery was received, and the queue counts attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeliveryInfo {
    /// The name of the source (route) the delivery arrived on, e.g. `clarife`.
    pub source: String,
    /// The delivery id: the sender's own when it has one, else one derived from the body.
    pub delivery_id: String,
    /// When hookgate received (and acknowledged) the delivery.
    pub received_at: SystemTime,
    /// 1 for the first attempt, 2 for the first retry, and so on.
    pub attempt: u32,
}

impl DeliveryInfo {
    /// Describes a delivery; `attempt` counts from 1.
    pub fn new(
        source: impl Into<String>,
        delivery_id: impl Into<String>,
        received_at: SystemTime,
        attempt: u32,
    ) -> Self {
        Self {
            source: source.into(),
            delivery_id: delivery_id.into(),
            received_at,
            attempt,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fails() -> Result<(), HandlerError> {
        let n: u32 = "not a number".parse()?;
        let _ = n;
        Ok(())
    }

    #[test]
    fn question_mark_asks_for_a_retry() {
        let err = fails().unwrap_err();
        assert_eq!(err.disposition(), Disposition::Retry { after: None });
        assert_eq!(err.to_string(), "invalid digit found in string");
    }

    #[test]
    fn give_up_and_retry_after_are_kept() {
        let err = HandlerError::give_up("bad payload");
        assert_eq!(err.disposition(), Disposition::GiveUp);
        let err = HandlerError::retry_after(Duration::from_secs(7), "busy");
        assert_eq!(
            err.disposition(),
            Disposition::Retry {
                after: Some(Duration::from_secs(7))
            }
        );
        assert_eq!(err.into_error().to_string(), "busy");
    }
}
