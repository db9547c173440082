//! Paddle: `ts=<unix>;h1=<hex>[;h1=…]`, the body's `event_id` read after a match.
#![no_main]

use hookgate_verify::{Scheme, Verifier};
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
#[allow(dead_code)] // Not every target uses every helper.
mod common;

fuzz_target!(|data: &[u8]| {
    let (values, body) = common::split(data, 1);
    let verifier = Verifier::new(Scheme::Paddle, "pdl_ntfset_fuzz").unwrap();
    let headers = common::headers(&["paddle-signature"], &values);
    assert!(verifier.verify_at(&headers, body, common::now()).is_err());
});
