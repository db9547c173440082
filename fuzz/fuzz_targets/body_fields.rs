//! Fields read from the JSON body (clarife's and Stripe's `id`, Claravine's
//! `token`, Linear's `webhookTimestamp`) are read as serde_json reads them, and a body naming one twice at
//! its top level is refused: for every body serde_json takes as one object,
//! verification either reads the value every JSON reader agrees on or
//! answers `DuplicateBodyField`.
#![no_main]

use std::fmt;

use hookgate_verify::{Scheme, Signer, Verifier, VerifyErrorKind};
use libfuzzer_sys::fuzz_target;
use serde_core::de::{Deserialize, Deserializer, MapAccess, Visitor};

#[path = "common.rs"]
#[allow(dead_code)] // Not every target uses every helper.
mod common;

/// The top-level members of a JSON object, keys decoded, duplicates kept.
struct Members(Vec<(String, serde_json::Value)>);

impl<'de> Deserialize<'de> for Members {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Walk;
        impl<'de> Visitor<'de> for Walk {
            type Value = Members;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members, A::Error> {
                let mut all = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    all.push(entry);
                }
                Ok(Members(all))
            }
        }
        d.deserialize_map(Walk)
    }
}

/// How many times `field` is a top-level key, and its first value.
fn named<'m>(members: &'m Members, field: &str) -> (usize, Option<&'m serde_json::Value>) {
    let mut named = members.0.iter().filter(|(key, _)| key == field);
    let first = named.next().map(|(_, value)| value);
    (usize::from(first.is_some()) + named.count(), first)
}

fuzz_target!(|body: &[u8]| {
    let parsed = serde_json::from_slice::<Members>(body).ok();

    // clarife and Stripe: the id, read by the scanner after the signature.
    for scheme in [Scheme::Clarife, Scheme::Stripe] {
        let headers = Signer::new(scheme, "fuzz")
            .unwrap()
            .sign("", 1_700_000_000, body)
            .unwrap();
        let outcome =
            Verifier::new(scheme, "fuzz")
                .unwrap()
                .verify_at(&headers, body, common::now());
        let Some(members) = &parsed else {
            // Not JSON: no payload type reads it; only no panic is asked.
            continue;
        };
        match named(members, "id") {
            (0 | 1, value) => {
                let verified = outcome.expect("one id or none is accepted");
                let wanted = value
                    .and_then(serde_json::Value::as_str)
                    .filter(|id| !id.is_empty());
                assert_eq!(verified.delivery_id(), wanted);
            }
            _ => assert_eq!(
                outcome.unwrap_err().kind(),
                &VerifyErrorKind::DuplicateBodyField { field: "id" }
            ),
        }
    }

    // Linear: `webhookTimestamp`, found by search where that proves it, else
    // walked. Verified at the time it names, so a whole number of
    // milliseconds is accepted with its second.
    let signer = Signer::new(Scheme::Linear, "fuzz").unwrap();
    let headers = signer.sign("", 0, body).unwrap();
    let linear = Verifier::new(Scheme::Linear, "fuzz").unwrap();
    if let Some(members) = &parsed {
        const FIELD: &str = "webhookTimestamp";
        match named(members, FIELD) {
            (0, _) => assert_eq!(
                linear
                    .verify_at(&headers, body, common::now())
                    .unwrap_err()
                    .kind(),
                &VerifyErrorKind::MissingBodyField { field: FIELD }
            ),
            (1, Some(value)) => match value.as_u64() {
                // A float (`1e3`, `5.0`) or a negative number is not a
                // timestamp to verification, nor to serde_json's `as_u64`.
                Some(millis) => {
                    let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(millis);
                    let verified = linear
                        .verify_at(&headers, body, at)
                        .expect("accepted at its time");
                    assert_eq!(verified.timestamp(), Some(millis / 1000));
                }
                _ => assert!(linear.verify_at(&headers, body, common::now()).is_err()),
            },
            _ => assert_eq!(
                linear
                    .verify_at(&headers, body, common::now())
                    .unwrap_err()
                    .kind(),
                &VerifyErrorKind::DuplicateBodyField { field: FIELD }
            ),
        }
    }

    // Claravine: the body token, read by a visitor over serde_json.
    let headers = common::headers(&["authorization"], &[b"Bearer fuzz-token"]);
    let outcome = Verifier::new(Scheme::Claravine, "fuzz-token")
        .unwrap()
        .verify_at(&headers, body, common::now());
    match parsed.as_ref().map(|members| named(members, "token")) {
        Some((0 | 1, value)) => match value.and_then(serde_json::Value::as_str) {
            Some("fuzz-token") => assert!(outcome.is_ok()),
            Some(_) => assert_eq!(
                outcome.unwrap_err().kind(),
                &VerifyErrorKind::BodyTokenMismatch
            ),
            None => assert_eq!(
                outcome.unwrap_err().kind(),
                &VerifyErrorKind::MissingBodyField { field: "token" }
            ),
        },
        Some(_) => assert_eq!(
            outcome.unwrap_err().kind(),
            &VerifyErrorKind::DuplicateBodyField { field: "token" }
        ),
        None => assert!(
            outcome.is_err(),
            "a body that is not one JSON object is refused"
        ),
    }
});
