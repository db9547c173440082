//! Claravine (`Authorization: Bearer` plus the JSON body's `token`) and the
//! Clarity header token. The fuzzer may find the token itself ("fuzz-token"),
//! so this target only checks that nothing panics and that an accepted
//! delivery really carried the token.
#![no_main]

use hookgate_verify::{Scheme, Verifier};
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
#[allow(dead_code)] // Not every target uses every helper.
mod common;

fuzz_target!(|data: &[u8]| {
    let (values, body) = common::split(data, 1);
    let claravine = Verifier::new(Scheme::Claravine, "fuzz-token").unwrap();
    let headers = common::headers(&["authorization"], &values);
    if claravine.verify_at(&headers, body, common::now()).is_ok() {
        // `Bearer <token>`, compared as the verifier reads it: the header
        // trimmed, the scheme name in any case, the token trimmed.
        let value = values[0].trim_ascii();
        let space = value.iter().position(|&b| b == b' ').unwrap();
        assert!(value[..space].eq_ignore_ascii_case(b"bearer"));
        assert_eq!(value[space..].trim_ascii(), b"fuzz-token");
        // And the body repeats it.
        let json: serde_json::Value = serde_json::from_slice(body).unwrap();
        assert_eq!(json["token"], "fuzz-token");
    }
    let clarity = Verifier::new(Scheme::Clarity, "fuzz-token").unwrap();
    let headers = common::headers(&["x-clarity-webhook-token"], &values);
    if clarity.verify_at(&headers, body, common::now()).is_ok() {
        assert!(values[0].trim_ascii() == b"fuzz-token");
    }
});
