//! Metric names, recorded through the [`metrics`] facade.
//!
//! Install any `metrics` recorder (e.g. `metrics-exporter-prometheus`) to
//! collect them; without one they cost almost nothing. Back-ends in other
//! crates call [`record_enqueue`] so every back-end reports the same series.

use std::time::Duration;

use crate::{EnqueueOutcome, QueueError, Stats};

/// Counter: deliveries stored, by `source`.
pub const RECEIVED: &str = "hookgate_queue_received_total";
/// Counter: enqueues refused as duplicates, by `source`.
pub const DUPLICATES: &str = "hookgate_queue_duplicates_total";
/// Counter: deliveries replaced by a newer one with the same coalescing key, by `source`.
pub const COALESCED: &str = "hookgate_queue_coalesced_total";
/// Counter: enqueues that failed, by `source` and error `kind`.
pub const ENQUEUE_ERRORS: &str = "hookgate_queue_enqueue_errors_total";
/// Histogram: seconds from calling enqueue to its answer.
pub const ENQUEUE_LATENCY: &str = "hookgate_queue_enqueue_seconds";
/// Gauge: deliveries by `state` (`ready`, `scheduled`, `leased`, `dead`).
pub const DEPTH: &str = "hookgate_queue_depth";
/// Gauge: age in seconds of the oldest ready delivery (0 when none).
pub const OLDEST_READY_AGE: &str = "hookgate_queue_oldest_ready_seconds";
/// Counter: deliveries handled successfully, by `source`.
pub const HANDLED: &str = "hookgate_queue_handled_total";
/// Counter: attempts that failed and were scheduled again, by `source`.
pub const RETRIES: &str = "hookgate_queue_retries_total";
/// Counter: deliveries moved to the dead letters, by `source`.
pub const DEAD_LETTERS: &str = "hookgate_queue_dead_letters_total";
/// Counter: enqueues refused because the backlog was too old
/// ([`BacklogLimit`](crate::BacklogLimit)), by `source`.
pub const BACKLOG_REFUSED: &str = "hookgate_queue_backlog_refused_total";
/// Histogram: seconds a handler took, by `source`.
pub const HANDLER_LATENCY: &str = "hookgate_queue_handler_seconds";

/// Records the result of one enqueue.
pub fn record_enqueue(
    source: &str,
    result: &Result<EnqueueOutcome, QueueError>,
    elapsed: Duration,
) {
    metrics::histogram!(ENQUEUE_LATENCY).record(elapsed.as_secs_f64());
    let source = source.to_owned();
    match result {
        Ok(EnqueueOutcome::Duplicate) => {
            metrics::counter!(DUPLICATES, "source" => source).increment(1)
        }
        Ok(_) => metrics::counter!(RECEIVED, "source" => source).increment(1),
        Err(err) => metrics::counter!(
            ENQUEUE_ERRORS,
            "source" => source,
            "kind" => format!("{:?}", err.kind())
        )
        .increment(1),
    }
}

/// Publishes queue statistics as gauges.
pub fn record_stats(stats: &Stats) {
    for (state, value) in [
        ("ready", stats.ready),
        ("scheduled", stats.scheduled),
        ("leased", stats.leased),
        ("dead", stats.dead),
    ] {
        metrics::gauge!(DEPTH, "state" => state).set(value as f64);
    }
    metrics::gauge!(OLDEST_READY_AGE).set(stats.oldest_ready_age.unwrap_or_default().as_secs_f64());
}
