//! Standard Webhooks / Svix: `webhook-id`, `webhook-timestamp` and the
//! space-separated `v1,<base64>` signature list.
#![no_main]

use hookgate_verify::{Scheme, Verifier};
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
#[allow(dead_code)] // Not every target uses every helper.
mod common;

fuzz_target!(|data: &[u8]| {
    let (values, body) = common::split(data, 3);
    for (scheme, names) in [
        (
            Scheme::Standard,
            ["webhook-id", "webhook-timestamp", "webhook-signature"],
        ),
        (
            Scheme::Svix,
            ["svix-id", "svix-timestamp", "svix-signature"],
        ),
    ] {
        let verifier = Verifier::new(scheme, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let headers = common::headers(&names, &values);
        // Nothing the fuzzer builds can carry a valid signature.
        assert!(verifier.verify_at(&headers, body, common::now()).is_err());
    }
});
