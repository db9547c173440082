//! GitHub `sha256=<hex>` and Slack `v0=<hex>` with `X-Slack-Request-Timestamp`.
#![no_main]

use hookgate_verify::{Scheme, Verifier};
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
#[allow(dead_code)] // Not every target uses every helper.
mod common;

fuzz_target!(|data: &[u8]| {
    let (values, body) = common::split(data, 2);
    let github = Verifier::new(Scheme::GitHub, "fuzz").unwrap();
    let headers = common::headers(&["x-hub-signature-256", "x-github-delivery"], &values);
    assert!(github.verify_at(&headers, body, common::now()).is_err());

    let slack = Verifier::new(Scheme::Slack, "fuzz").unwrap();
    let headers = common::headers(&["x-slack-signature", "x-slack-request-timestamp"], &values);
    assert!(slack.verify_at(&headers, body, common::now()).is_err());
});
