//! What a receiver's questions to a 1 KiB JSON body cost (required context
//! fields, the event name), answered from one [`JsonBody`], next to the way
//! hookgate answered them before: a `serde_json::Value` of the whole body for
//! the context fields, and the event name read again with
//! `serde_path_to_error` tracking every field. Interleaved as the verify
//! crate's `ratio` bench: every round times each contender once, in turn,
//! and each keeps its fastest round, so the machine's drift hits all alike.
//!
//! Run with: `cargo bench -p hookgate-events --bench body_reads` (add
//! `-- ROUNDS` to change the 300 rounds).

use std::hint::black_box;
use std::time::Instant;

use hookgate_events::{ClaimableEventName, ClaravineObject, ClaravineOperation, EventName};
use hookgate_events::{JsonBody, Sender};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// `body` padded to 1 KiB inside its last string, then closed by `tail`.
fn padded(head: &str, tail: &str) -> Vec<u8> {
    let mut body = head.as_bytes().to_vec();
    body.resize(1024 - tail.len(), b'x');
    body.extend_from_slice(tail.as_bytes());
    body
}

/// The event name as hookgate read it before: `serde_path_to_error` on every read.
fn tracked<T: DeserializeOwned>(body: &[u8]) -> T {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de).expect("names");
    de.end().expect("one value");
    value
}

fn claravine_name_before(body: &[u8]) -> EventName {
    #[derive(Deserialize)]
    struct Names {
        event: ClaravineObject,
        operation: ClaravineOperation,
    }
    let names: Names = tracked(body);
    let part = |raw: &str| EventName::new_lossy(&raw.to_ascii_lowercase());
    EventName::new_lossy(&format!(
        "{}.{}",
        part(names.event.as_str()),
        part(names.operation.as_str())
    ))
}

fn claimable_name_before(body: &[u8]) -> EventName {
    #[derive(Deserialize)]
    struct Name {
        event_name: ClaimableEventName,
    }
    tracked::<Name>(body).event_name.name()
}

/// The required fields missing from `body`, as hookgate read them before.
fn missing_before(body: &[u8], required: &[&str]) -> usize {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => required
            .iter()
            .filter(|field| map.get(**field).is_none_or(Value::is_null))
            .count(),
        _ => required.len(),
    }
}

fn missing(body: &JsonBody<'_>, required: &[&str]) -> usize {
    required
        .iter()
        .filter(|field| body.member(field).is_none_or(|raw| raw == "null"))
        .count()
}

/// Nanoseconds per call over a batch long enough to dwarf the clock reads.
fn time_batch(run: &mut dyn FnMut() -> usize, calls: u32) -> f64 {
    let start = Instant::now();
    let mut sink = 0;
    for _ in 0..calls {
        sink += run();
    }
    black_box(sink);
    start.elapsed().as_secs_f64() * 1e9 / f64::from(calls)
}

fn main() {
    let rounds: usize = std::env::args()
        .skip(1)
        .find_map(|arg| arg.parse().ok())
        .unwrap_or(300);
    let headers = http::HeaderMap::new();
    let claravine = padded(
        r#"{"event":"submission","event_time":1770914863,"object_id":"26679e11-820c-407b-9c5a-17ed1181a81a","href":"https://api.claravine.com/v1/datasets/fe11a4d2/transactions/26679e11/data","operation":"Completed","version":1,"notes":""#,
        r#"","token":"claravine-client-secret"}"#,
    );
    let clarity = padded(
        r#"{"app_identifier":"salesforce","identity_id":"8f14e45f-ceea-467f-a8f5-1c3c3e0c2a9b","entitlement_id":"c9f0f895","grant_type":"temporary","meta":{"ticket":""#,
        r#""}}"#,
    );
    let claims = padded(
        r#"{"event_name":"claim.created","source":"ui","tenant":"t-1","claim":{"id":1,"notes":""#,
        r#""}}"#,
    );
    let context = ["app_identifier", "identity_id", "entitlement_id"];
    let claim_context = ["claim", "tenant"];

    // (question, before, after); each answers a number, equal for both.
    type Read<'a> = Box<dyn FnMut() -> usize + 'a>;
    let mut questions: Vec<(&str, Read<'_>, Read<'_>)> = vec![
        (
            "3 context fields (Clarity route)",
            Box::new(|| missing_before(black_box(&clarity), &context)),
            Box::new(|| missing(&JsonBody::new(black_box(&clarity)), &context)),
        ),
        (
            "2 context fields + event name (claimable)",
            Box::new(|| {
                let body = black_box(&claims[..]);
                missing_before(body, &claim_context) + claimable_name_before(body).as_str().len()
            }),
            Box::new(|| {
                // In the receiver's order: the context fields read the
                // members, the event name is then read from them.
                let body = JsonBody::new(black_box(&claims));
                let missing = missing(&body, &claim_context);
                let name = Sender::Claimable.event_name_in(&headers, &body).unwrap();
                missing + name.as_str().len()
            }),
        ),
        (
            "event name alone (Claravine)",
            Box::new(|| claravine_name_before(black_box(&claravine)).as_str().len()),
            Box::new(|| {
                let name = Sender::Claravine.event_name(&headers, black_box(&claravine));
                name.unwrap().as_str().len()
            }),
        ),
    ];

    println!("fastest of {rounds} interleaved rounds, 1 KiB bodies\n");
    println!("| question | before | one JsonBody | before / after |");
    println!("|---|---:|---:|---:|");
    for (question, before, after) in &mut questions {
        assert_eq!(before(), after(), "{question}: both read the same");
        let (mut fastest_before, mut fastest_after) = (f64::MAX, f64::MAX);
        for _ in 0..rounds {
            fastest_before = fastest_before.min(time_batch(before, 500));
            fastest_after = fastest_after.min(time_batch(after, 500));
        }
        println!(
            "| {question} | {fastest_before:.0} ns | {fastest_after:.0} ns | {:.2}x |",
            fastest_before / fastest_after
        );
    }
}
