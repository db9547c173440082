//! Shopify: a base64 HMAC in `X-Shopify-Hmac-Sha256` (or `Shopify-Hmac-Sha256`).
#![no_main]

use hookgate_verify::{Scheme, Verifier};
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
#[allow(dead_code)] // Not every target uses every helper.
mod common;

fuzz_target!(|data: &[u8]| {
    let (values, body) = common::split(data, 2);
    let shopify = Verifier::new(Scheme::Shopify, "fuzz").unwrap();
    for names in [
        ["x-shopify-hmac-sha256", "x-shopify-webhook-id"],
        ["shopify-hmac-sha256", "shopify-webhook-id"],
    ] {
        let headers = common::headers(&names, &values);
        assert!(shopify.verify_at(&headers, body, common::now()).is_err());
    }
});
