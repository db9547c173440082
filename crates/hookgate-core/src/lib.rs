//! The few types every hookgate crate shares, so that each is written once:
//! the [`Clock`] that verifiers, queues and workers read the time from, and
//! [`BoxError`], the boxed error of handlers and back-ends.
//!
//! It depends on nothing but `std`. The other hookgate crates re-export what
//! their API names (`hookgate_verify::ManualClock`,
//! `hookgate_queue::{Clock, BoxError}`, ...), so most users never name this
//! crate.
//!
//! ```
//! use std::time::{Duration, UNIX_EPOCH};
//! use hookgate_core::{BoxError, Clock, ManualClock, SystemClock};
//!
//! // Code that reads the time through a `Clock` can be tested without sleeping.
//! fn expired(clock: &dyn Clock, deadline: std::time::SystemTime) -> bool {
//!     clock.now() > deadline
//! }
//!
//! let start = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
//! let clock = ManualClock::new(start);
//! let deadline = start + Duration::from_secs(60);
//! assert!(!expired(&clock, deadline));
//! clock.advance(Duration::from_secs(61));
//! assert!(expired(&clock, deadline));
//! assert!(!expired(&SystemClock, UNIX_EPOCH + Duration::from_secs(u32::MAX.into())));
//!
//! // Any error converts into a `BoxError`.
//! let error: BoxError = "disk full".into();
//! assert_eq!(error.to_string(), "disk full");
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

mod clock;

pub use clock::{Clock, ManualClock, SystemClock};

/// A boxed error that can cross threads: what handlers return and what queue
/// back-ends wrap their client library's errors in.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;
