//! Twitch EventSub: message id, an RFC 3339 timestamp and `sha256=<hex>`; and
//! the other new schemes that read a hex signature over the body (Zoom's
//! `v0=`, Meta's `sha256=`, Dropbox's and Linear's bare hex, Linear's body
//! timestamp after a match) and GitLab's token.
#![no_main]

use hookgate_verify::{Scheme, Verifier};
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
#[allow(dead_code)] // Not every target uses every helper.
mod common;

fuzz_target!(|data: &[u8]| {
    let (values, body) = common::split(data, 3);
    let twitch = Verifier::new(Scheme::Twitch, "fuzz").unwrap();
    let headers = common::headers(
        &[
            "twitch-eventsub-message-id",
            "twitch-eventsub-message-timestamp",
            "twitch-eventsub-message-signature",
        ],
        &values,
    );
    assert!(twitch.verify_at(&headers, body, common::now()).is_err());

    for (scheme, names) in [
        (
            Scheme::Zoom,
            &["x-zm-request-timestamp", "x-zm-signature"][..],
        ),
        (Scheme::Meta, &["x-hub-signature-256"][..]),
        (Scheme::Dropbox, &["x-dropbox-signature"][..]),
        (Scheme::Linear, &["linear-signature", "linear-delivery"][..]),
    ] {
        let verifier = Verifier::new(scheme, "fuzz").unwrap();
        let headers = common::headers(names, &values);
        assert!(verifier.verify_at(&headers, body, common::now()).is_err());
    }
    // A token other than the configured one never passes.
    let gitlab = Verifier::new(Scheme::GitLab, "fuzz-token-that-no-input-guesses").unwrap();
    let headers = common::headers(&["x-gitlab-token", "x-gitlab-event-uuid"], &values);
    let _ = gitlab.verify_at(&headers, body, common::now());
});
