//! Run with: cargo bench -p hookgate-events
//!
//! What filtering before enqueueing costs (`Sender::event_name`) next to a
//! full parse, and what pattern matching costs.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use hookgate_events::{EventFilter, EventName, Pattern, Sender};

const CLARAVINE: &[u8] = br#"{"event": "submission", "event_time": 1770914863,
  "object_id": "26679e11-820c-407b-9c5a-17ed1181a81a",
  "href": "https://api.claravine.com/v1/datasets/fe11a4d2-7f4c-498e-819e-19c5081e997d/transactions/26679e11-820c-407b-9c5a-17ed1181a81a/data",
  "operation": "Completed", "version": 1, "token": "client-secret"}"#;

const CLARIFE: &[u8] =
    br#"{"id": "evt_a1b2c3d4-5678-90ab-cdef-1234567890ab", "type": "document.updated",
  "created_at": "2026-03-28T12:00:00Z",
  "data": {"id": "d1a2b3c4", "title": "Updated Document", "updated_at": "2026-03-28T12:00:00Z"}}"#;

fn parsing(c: &mut Criterion) {
    let headers = http::HeaderMap::new();
    for (sender, body) in [(Sender::Claravine, CLARAVINE), (Sender::Clarife, CLARIFE)] {
        c.bench_function(&format!("{sender}/event_name"), |b| {
            b.iter(|| sender.event_name(&headers, black_box(body)).unwrap())
        });
        c.bench_function(&format!("{sender}/parse"), |b| {
            b.iter(|| sender.parse(&headers, black_box(body)).unwrap())
        });
    }
}

fn matching(c: &mut Criterion) {
    let name = EventName::from_static("customer.subscription.deleted");
    for pattern in [
        "customer.subscription.deleted",
        "customer.*",
        "*.deleted",
        "a.*.b.*.c",
    ] {
        let pattern = Pattern::new(pattern).unwrap();
        c.bench_function(&format!("match/{pattern}"), |b| {
            b.iter(|| black_box(&pattern).matches(black_box(&name)))
        });
    }
    let filter = EventFilter::new(["claim.*", "contact.created", "*.deleted"]).unwrap();
    c.bench_function("filter/3 patterns", |b| {
        b.iter(|| black_box(&filter).allows(black_box(&name)))
    });
}

criterion_group!(benches, parsing, matching);
criterion_main!(benches);
