//! Twilio: `X-Twilio-Signature` over a fuzzed URL and a fuzzed form (or JSON
//! body with `bodySHA256`); Discord's Ed25519 headers; Microsoft Graph's
//! `clientState` list.
#![no_main]

use hookgate_verify::{RequestContext, Scheme, Verifier};
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
#[allow(dead_code)] // Not every target uses every helper.
mod common;

fuzz_target!(|data: &[u8]| {
    let (values, body) = common::split(data, 3);
    let twilio = Verifier::new(Scheme::Twilio, "fuzz").unwrap();
    let headers = common::headers(&["x-twilio-signature", "content-type"], &values);
    let url = values
        .get(2)
        .and_then(|url| std::str::from_utf8(url).ok())
        .unwrap_or("https://hooks.example.com/hooks/twilio");
    let context = RequestContext::new().with_url(url);
    assert!(
        twilio
            .verify_with_at(&headers, body, context, common::now())
            .is_err()
    );

    let discord = Verifier::new(
        Scheme::Discord,
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
    )
    .unwrap();
    let headers = common::headers(&["x-signature-timestamp", "x-signature-ed25519"], &values);
    assert!(discord.verify_at(&headers, body, common::now()).is_err());

    // A client state the fuzzer does not guess: never accepted.
    let graph = Verifier::new(Scheme::MsGraph, "fuzz-client-state-not-guessed").unwrap();
    let _ = graph.verify_at(&headers, body, common::now());
});
