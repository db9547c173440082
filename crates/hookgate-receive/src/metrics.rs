//! Metric names and recording, through the `metrics` facade.
//!
//! | name | type | labels |
//! |---|---|---|
//! | `hookgate_receive_requests_total` | counter | `source` |
//! | `hookgate_receive_refused_total` | counter | `source`, `reason` ([`RejectionKind::as_str`](crate::RejectionKind::as_str): admission control's are `too_many_in_flight` and `rate_limited`) |
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

/// Describes these metrics to the installed recorder (the `# HELP` lines of
/// Prometheus' text format). Call it once, after installing the recorder.
///
/// ```
/// hookgate_receive::metrics::describe();
/// ```
pub fn describe() {
    metrics::describe_counter!(REQUESTS, "Requests routed to a source.");
    metrics::describe_counter!(
        REFUSED,
        "Requests refused, by source and reason (bad signature, too large, rate limited...)."
    );
    metrics::describe_counter!(
        DUPLICATES,
        "Deliveries acknowledged as duplicates of one already queued."
    );
    metrics::describe_histogram!(
        ACK_SECONDS,
        metrics::Unit::Seconds,
        "Time from a request's arrival to its answer, by source and outcome."
    );
}

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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};

    use bytes::Bytes;
    use hookgate_queue::MemoryQueue;
    use hookgate_verify::{Scheme, Verifier};
    use http::{HeaderMap, Method};
    use metrics::{
        Counter, CounterFn, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
        SharedString, Unit,
    };

    use std::time::Duration;

    use crate::{RateLimit, Receiver, RequestHead, Source};

    /// Sums every counter and counts every histogram sample, by name and labels.
    #[derive(Default)]
    struct Totals(Mutex<BTreeMap<String, f64>>);

    struct Handle(Arc<Totals>, String);

    impl CounterFn for Handle {
        fn increment(&self, value: u64) {
            *self.0.0.lock().unwrap().entry(self.1.clone()).or_default() += value as f64;
        }
        fn absolute(&self, value: u64) {
            self.0
                .0
                .lock()
                .unwrap()
                .insert(self.1.clone(), value as f64);
        }
    }

    impl HistogramFn for Handle {
        fn record(&self, _value: f64) {
            *self.0.0.lock().unwrap().entry(self.1.clone()).or_default() += 1.0;
        }
    }

    struct TestRecorder(Arc<Totals>);

    fn render(key: &Key) -> String {
        let labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        format!("{}{{{}}}", key.name(), labels.join(","))
    }

    impl Recorder for TestRecorder {
        fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
            Counter::from_arc(Arc::new(Handle(Arc::clone(&self.0), render(key))))
        }
        fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
            Gauge::noop()
        }
        fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
            Histogram::from_arc(Arc::new(Handle(Arc::clone(&self.0), render(key))))
        }
    }

    #[test]
    fn requests_refusals_duplicates_and_ack_latency_are_counted() {
        let totals = Arc::new(Totals::default());
        let recorder = TestRecorder(Arc::clone(&totals));
        let receiver = Receiver::builder()
            .queue(Arc::new(MemoryQueue::new()))
            .source(
                Source::builder(
                    "clarity",
                    "/hooks/clarity",
                    Verifier::new(Scheme::Clarity, "route-token").unwrap(),
                )
                .build()
                .unwrap(),
            )
            .source(
                Source::builder(
                    "limited",
                    "/hooks/limited",
                    Verifier::new(Scheme::Clarity, "route-token").unwrap(),
                )
                .max_in_flight(1)
                .rate_limit(RateLimit::new(1, Duration::from_secs(3600)).unwrap())
                .build()
                .unwrap(),
            )
            .build()
            .unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        // The local recorder is per thread; the current-thread runtime polls
        // everything on this one.
        metrics::with_local_recorder(&recorder, || {
            runtime.block_on(async {
                let mut signed = HeaderMap::new();
                signed.insert("x-clarity-webhook-token", "route-token".parse().unwrap());
                let unsigned = HeaderMap::new();
                for headers in [&signed, &signed, &unsigned] {
                    let head = RequestHead {
                        method: &Method::POST,
                        query: None,
                        headers,
                        peer: None,
                    };
                    let reception = receiver.start("/hooks/clarity").unwrap();
                    let _ = reception.complete(head, Bytes::from_static(b"{}")).await;
                }
                let mut reception = receiver.start("/hooks/clarity").unwrap();
                let refused = reception
                    .check_head(&Method::GET, &signed, None)
                    .unwrap_err();
                reception.refuse(refused);
                // Admission control: one in flight, then one an hour.
                let mut first = receiver.start("/hooks/limited").unwrap();
                first.check_head(&Method::POST, &signed, None).unwrap();
                let mut second = receiver.start("/hooks/limited").unwrap();
                let refused = second.check_head(&Method::POST, &signed, None).unwrap_err();
                second.refuse(refused);
                drop(first);
                let mut third = receiver.start("/hooks/limited").unwrap();
                let refused = third.check_head(&Method::POST, &signed, None).unwrap_err();
                third.refuse(refused);
            });
        });
        let totals = totals.0.lock().unwrap();
        let get = |k: &str| totals.get(k).copied().unwrap_or_default();
        assert_eq!(get("hookgate_receive_requests_total{source=clarity}"), 4.0);
        assert_eq!(
            get("hookgate_receive_duplicates_total{source=clarity}"),
            1.0
        );
        assert_eq!(
            get("hookgate_receive_refused_total{source=clarity,reason=malformed}"),
            1.0
        );
        assert_eq!(
            get("hookgate_receive_refused_total{source=clarity,reason=method_not_allowed}"),
            1.0
        );
        assert_eq!(
            get("hookgate_receive_ack_seconds{source=clarity,outcome=queued}"),
            1.0
        );
        assert_eq!(
            get("hookgate_receive_ack_seconds{source=clarity,outcome=duplicate}"),
            1.0
        );
        assert_eq!(
            get("hookgate_receive_refused_total{source=limited,reason=too_many_in_flight}"),
            1.0
        );
        assert_eq!(
            get("hookgate_receive_refused_total{source=limited,reason=rate_limited}"),
            1.0
        );
    }
}
