//! Sender events: every sender's typed event and event name from a fuzzed
//! body and naming headers, Twilio's form parser above all (a sender-chosen
//! form, percent-decoded into the payload).
//!
//! Whatever the bytes: no panic; when a body parses, the cheap name reader
//! (`Sender::event_name_in`, from the body or from its members read first,
//! as a receiver does) gives the same name; a Twilio form's payload holds
//! every parameter as an independent decoder reads it; and a Microsoft
//! Graph notification's `clientState` (the secret) is never serialized.
#![no_main]

use hookgate_events::{AnyEvent, Event, JsonBody, Sender, TwilioFormat};
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
#[allow(dead_code)] // Not every target uses every helper.
mod common;

/// `application/x-www-form-urlencoded` decoding written out plainly: `&`
/// separates pairs, the first `=` a name from its value, `+` is a space,
/// `%XX` a byte (a `%` without two hex digits stays), then lossy UTF-8.
fn reference_form(body: &[u8]) -> Vec<(String, String)> {
    fn decode(text: &[u8]) -> String {
        let hex = |b: u8| char::from(b).to_digit(16);
        let mut out = Vec::with_capacity(text.len());
        let mut i = 0;
        while i < text.len() {
            match text[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < text.len()
                    && hex(text[i + 1]).is_some()
                    && hex(text[i + 2]).is_some() =>
                {
                    let high = hex(text[i + 1]).unwrap_or_default();
                    let low = hex(text[i + 2]).unwrap_or_default();
                    out.push(u8::try_from(high * 16 + low).unwrap_or_default());
                    i += 2;
                }
                byte => out.push(byte),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    body.split(|&b| b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let at = pair.iter().position(|&b| b == b'=').unwrap_or(pair.len());
            let value = pair.get(at + 1..).unwrap_or_default();
            (decode(&pair[..at]), decode(value))
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let (values, body) = common::split(data, 5);
    let headers = common::headers(
        &[
            "x-github-event",
            "x-shopify-topic",
            "linear-event",
            "twitch-eventsub-message-type",
            "i-twilio-idempotency-token",
        ],
        &values,
    );
    for sender in Sender::ALL {
        let Ok(event) = sender.parse(&headers, body) else {
            continue;
        };
        let name = event.event_name();
        let direct = sender
            .event_name_in(&headers, &JsonBody::new(body))
            .expect("a body that parses is named");
        assert_eq!(direct, name, "{sender}");
        let json = JsonBody::new(body);
        json.is_object();
        let from_members = sender
            .event_name_in(&headers, &json)
            .expect("a body that parses is named from its members");
        assert_eq!(from_members, name, "{sender}");

        match &event {
            AnyEvent::Twilio(twilio) if twilio.format == TwilioFormat::Form => {
                let payload = twilio.payload.as_object().expect("a form is an object");
                let pairs = reference_form(body);
                for (name, value) in &pairs {
                    let kept = payload.get(name).expect("every name is kept");
                    let found = kept == value
                        || kept
                            .as_array()
                            .is_some_and(|all| all.iter().any(|v| v == value));
                    assert!(found, "{name:?}={value:?} not in {kept:?}");
                }
                let count: usize = payload
                    .values()
                    .map(|v| v.as_array().map_or(1, Vec::len))
                    .sum();
                // An exact repeat of a name and value is one parameter, as in
                // Twilio's signature.
                let distinct: std::collections::BTreeSet<_> = pairs.iter().collect();
                assert_eq!(count, distinct.len(), "no parameter made up or lost");
            }
            AnyEvent::MsGraph(graph) => {
                let serialized = serde_json::to_value(graph).expect("serializes");
                for item in serialized["value"].as_array().into_iter().flatten() {
                    assert!(item.get("clientState").is_none(), "{item}");
                }
            }
            _ => {}
        }
    }
});
