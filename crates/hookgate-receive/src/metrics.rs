//! Metric names and recording, through the `metrics` facade.
//!
//! | name | type | labels |
//! |---|---|---|
//! | `hookgate_receive_requests_total` | counter | `source` |
//! | `hookgate_receive_refused_total` | counter | `source`, `reason` ([`RejectionKind::as_str`](crate::RejectionKind::as_str)) |
//! | `hookgate_receive_duplicates_total` | counter | `source` |
//! | `hookgate_receive_ack_seconds` | histogram | `source`, `outcome` (an [`Outcome`](crate::Outcome) or a refusal reason) |

use std::sync::Arc;
use std::time::Duration;

/// Requests routed to a source.
pub const REQUESTS: &str = "hookgate_receive_requests_total";
/// Requests refused, by reason.
pub const REFUSED: &str = "hookgate_receive_refused_total";
/// Deliveries acknowledged as duplicates.
pub const DUPLICATES: &str = "hookgate_receive_duplicates_total";
/// Time from the request's arrival to the decision, in seconds.
pub const ACK_SECONDS: &str = "hookgate_receive_ack_seconds";

fn label(source: &Arc<str>) -> metrics::SharedString {
    metrics::SharedString::from(Arc::clone(source))
}

pub(crate) fn received(source: &Arc<str>) {
    metrics::counter!(REQUESTS, "source" => label(source)).increment(1);
}

pub(crate) fn refused(source: &Arc<str>, reason: &'static str) {
    metrics::counter!(REFUSED, "source" => label(source), "reason" => reason).increment(1);
}

pub(crate) fn duplicate(source: &Arc<str>) {
    metrics::counter!(DUPLICATES, "source" => label(source)).increment(1);
}

pub(crate) fn ack_latency(source: &Arc<str>, outcome: &'static str, elapsed: Duration) {
    metrics::histogram!(ACK_SECONDS, "source" => label(source), "outcome" => outcome)
        .record(elapsed.as_secs_f64());
}
