//! A custom HMAC scheme with prefix, base64, timestamp and id headers.
#![no_main]

use hookgate_verify::{Scheme, SignatureEncoding, Verifier};
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
#[allow(dead_code)] // Not every target uses every helper.
mod common;

fuzz_target!(|data: &[u8]| {
    let (values, body) = common::split(data, 3);
    let verifier = Verifier::builder(Scheme::Custom)
        .header("x-sig")
        .and_then(|b| b.prefix("sha256="))
        .and_then(|b| b.encoding(SignatureEncoding::Base64))
        .and_then(|b| b.timestamp_header("x-ts"))
        .and_then(|b| b.id_header("x-id"))
        .and_then(|b| b.signed_content("{id}:{timestamp}:{body}"))
        .and_then(|b| b.secret("fuzz"))
        .and_then(|b| b.build())
        .unwrap();
    let headers = common::headers(&["x-sig", "x-ts", "x-id"], &values);
    assert!(verifier.verify_at(&headers, body, common::now()).is_err());
});
