//! The JSON scan for clarife's envelope `id`: every body is signed correctly,
//! so verification always succeeds and the scan runs on arbitrary bytes.
#![no_main]

use hookgate_verify::{Scheme, Signer, Verifier};
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
    let verified = verifier.verify_at(&headers, body, common::now()).unwrap();
    if let Some(id) = verified.delivery_id() {
        // An id read from the body is text that occurs in it (unescaped ids verbatim).
        assert!(!id.contains('\u{0}') || body.contains(&0));
    }
});
