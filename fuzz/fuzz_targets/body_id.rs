//! The JSON scan for clarife's envelope `id`: every body is signed correctly,
//! so verification always succeeds and the scan runs on arbitrary bytes.
#![no_main]

use hookgate_verify::{Scheme, Signer, Verifier, VerifyErrorKind};
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
#[allow(dead_code)] // Not every target uses every helper.
mod common;

fuzz_target!(|body: &[u8]| {
    let headers = Signer::new(Scheme::Clarife, "fuzz")
        .unwrap()
        .sign("", 1_700_000_000, body)
        .unwrap();
    let verifier = Verifier::new(Scheme::Clarife, "fuzz").unwrap();
    let verified = match verifier.verify_at(&headers, body, common::now()) {
        Ok(verified) => verified,
        // A body naming `id` twice at its top level (the body_fields target
        // checks when that is right) is the one refusal a signed body meets.
        Err(refused) => {
            assert_eq!(
                refused.kind(),
                &VerifyErrorKind::DuplicateBodyField { field: "id" }
            );
            return;
        }
    };
    if let Some(id) = verified.delivery_id() {
        // An empty id is no id.
        assert!(!id.is_empty());
        // The id is what serde_json decodes from one string token of the body
        // (escapes such as `\u0000` decoded, so the id may hold characters the
        // raw bytes spell differently).
        let decodes_to_id = |at: usize| {
            serde_json::Deserializer::from_slice(&body[at..])
                .into_iter::<String>()
                .next()
                .and_then(Result::ok)
                .is_some_and(|text| text == id)
        };
        let found = body
            .iter()
            .enumerate()
            .any(|(at, &byte)| byte == b'"' && decodes_to_id(at));
        assert!(found, "{id:?} is no string of the body");
    }
});
