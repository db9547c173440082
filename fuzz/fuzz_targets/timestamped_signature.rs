//! clarife and Stripe: `t=<unix>,v1=<hex>[,v1=…][,v0=…]`.
#![no_main]

use hookgate_verify::{Scheme, Verifier};
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
#[allow(dead_code)] // Not every target uses every helper.
mod common;

fuzz_target!(|data: &[u8]| {
    let (values, body) = common::split(data, 1);
    for (scheme, name) in [
        (Scheme::Clarife, "x-clarife-signature"),
        (Scheme::Stripe, "stripe-signature"),
    ] {
        let verifier = Verifier::new(scheme, "whsec_fuzz").unwrap();
        let headers = common::headers(&[name], &values);
        assert!(verifier.verify_at(&headers, body, common::now()).is_err());
    }
});
