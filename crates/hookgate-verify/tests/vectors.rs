//! Known-answer vectors published by the senders, and the samples of
//! `/work/shared/providers/` (the senders' own documentation).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hookgate_verify::{Scheme, Signer, Verifier, VerifyErrorKind};
use http::HeaderMap;

fn at(unix: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(unix)
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    map
}

// Standard Webhooks' published vector, verbatim from
// github.com/standard-webhooks/standard-webhooks,
// libraries/javascript/src/webhook.test.ts, test "sign function works".
const STANDARD_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const STANDARD_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const STANDARD_TIMESTAMP: u64 = 1614265330;
const STANDARD_BODY: &[u8] = br#"{"test": 2432232314}"#;
const STANDARD_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

#[test]
fn standard_webhooks_published_vector_verifies() {
    let verifier = Verifier::new(Scheme::Standard, STANDARD_SECRET).unwrap();
    let sent = headers(&[
        ("webhook-id", STANDARD_ID),
        ("webhook-timestamp", "1614265330"),
        ("webhook-signature", STANDARD_SIGNATURE),
    ]);
    let verified = verifier
        .verify_at(&sent, STANDARD_BODY, at(STANDARD_TIMESTAMP))
        .unwrap();
    assert_eq!(verified.delivery_id(), Some(STANDARD_ID));
    assert_eq!(verified.timestamp(), Some(STANDARD_TIMESTAMP));
    assert_eq!(verified.scheme(), Scheme::Standard);

    // The same secret without its prefix is the same key.
    let unprefixed = Verifier::new(Scheme::Standard, "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    assert!(
        unprefixed
            .verify_at(&sent, STANDARD_BODY, at(STANDARD_TIMESTAMP))
            .is_ok()
    );
}

#[test]
fn standard_webhooks_signer_reproduces_the_published_signature() {
    let signer = Signer::new(Scheme::Standard, STANDARD_SECRET).unwrap();
    let signed = signer
        .sign(STANDARD_ID, STANDARD_TIMESTAMP, STANDARD_BODY)
        .unwrap();
    assert_eq!(signed["webhook-signature"], STANDARD_SIGNATURE);
}

#[test]
fn svix_accepts_the_vector_under_both_header_families() {
    let verifier = Verifier::new(Scheme::Svix, STANDARD_SECRET).unwrap();
    for prefix in ["svix", "webhook"] {
        let sent = headers(&[
            (&format!("{prefix}-id"), STANDARD_ID),
            (&format!("{prefix}-timestamp"), "1614265330"),
            (&format!("{prefix}-signature"), STANDARD_SIGNATURE),
        ]);
        let verified = verifier
            .verify_at(&sent, STANDARD_BODY, at(STANDARD_TIMESTAMP))
            .unwrap();
        assert_eq!(verified.delivery_id(), Some(STANDARD_ID), "{prefix}");
    }
}

#[test]
fn svix_reads_its_own_headers_unless_only_the_webhook_signature_is_there() {
    let verifier = Verifier::new(Scheme::Svix, STANDARD_SECRET).unwrap();
    let missing = |sent: &http::HeaderMap| match verifier
        .verify_at(sent, STANDARD_BODY, at(STANDARD_TIMESTAMP))
        .unwrap_err()
        .into_kind()
    {
        VerifyErrorKind::MissingHeader { header } => header,
        other => panic!("{other:?}"),
    };
    // A `svix-signature` picks the svix family, even when only the webhook
    // family has an id: the id is reported missing under its svix name.
    let mixed = headers(&[
        ("svix-timestamp", "1614265330"),
        ("svix-signature", STANDARD_SIGNATURE),
        ("webhook-id", STANDARD_ID),
        ("webhook-timestamp", "1614265330"),
        ("webhook-signature", STANDARD_SIGNATURE),
    ]);
    assert_eq!(missing(&mixed), "svix-id");
    // No signature of either family: Svix names its own header.
    let unsigned = headers(&[
        ("webhook-id", STANDARD_ID),
        ("webhook-timestamp", "1614265330"),
    ]);
    assert_eq!(missing(&unsigned), "svix-id");
    let unsigned = headers(&[("svix-id", STANDARD_ID), ("svix-timestamp", "1614265330")]);
    assert_eq!(missing(&unsigned), "svix-signature");
    // Standard never reads the svix family.
    let standard = Verifier::new(Scheme::Standard, STANDARD_SECRET).unwrap();
    let svix_only = headers(&[
        ("svix-id", STANDARD_ID),
        ("svix-timestamp", "1614265330"),
        ("svix-signature", STANDARD_SIGNATURE),
    ]);
    let refused = standard
        .verify_at(&svix_only, STANDARD_BODY, at(STANDARD_TIMESTAMP))
        .unwrap_err();
    assert!(
        matches!(refused.kind(), VerifyErrorKind::MissingHeader { header } if header == "webhook-id"),
        "{refused:?}"
    );
}

#[test]
fn standard_signature_list_with_other_versions_and_wrong_entries_passes() {
    // As the spec's rotation example: several entries, any valid one passes.
    let verifier = Verifier::new(Scheme::Standard, STANDARD_SECRET).unwrap();
    let list = format!(
        "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4= v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg== {STANDARD_SIGNATURE}"
    );
    let sent = headers(&[
        ("webhook-id", STANDARD_ID),
        ("webhook-timestamp", "1614265330"),
        ("webhook-signature", &list),
    ]);
    assert!(
        verifier
            .verify_at(&sent, STANDARD_BODY, at(STANDARD_TIMESTAMP))
            .is_ok()
    );
}

// GitHub's published vector, verbatim from docs.github.com, "Validating webhook
// deliveries", section "Testing the webhook payload validation".
#[test]
fn github_published_vector_verifies() {
    let verifier = Verifier::new(Scheme::GitHub, "It's a Secret to Everybody").unwrap();
    let sent = headers(&[
        (
            "X-Hub-Signature-256",
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        ),
        ("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
    ]);
    let verified = verifier.verify(&sent, b"Hello, World!").unwrap();
    assert_eq!(
        verified.delivery_id(),
        Some("72d3162e-cc78-11e3-81ab-4c9367dc0958")
    );
    assert_eq!(verified.timestamp(), None);
    let err = verifier.verify(&sent, b"Hello, World?").unwrap_err();
    assert!(matches!(
        err.kind(),
        VerifyErrorKind::SignatureMismatch { .. }
    ));
}

// Slack's published example, verbatim from docs.slack.dev "Verifying requests
// from Slack", as reproduced in slackapi/python-slack-sdk
// tests/slack_sdk/signature/test_signature_verifier.py.
const SLACK_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const SLACK_BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
const SLACK_SIGNATURE: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

#[test]
fn slack_published_example_verifies() {
    let verifier = Verifier::new(Scheme::Slack, SLACK_SECRET).unwrap();
    let sent = headers(&[
        ("X-Slack-Request-Timestamp", "1531420618"),
        ("X-Slack-Signature", SLACK_SIGNATURE),
    ]);
    let verified = verifier
        .verify_at(&sent, SLACK_BODY.as_bytes(), at(1531420618))
        .unwrap();
    assert_eq!(verified.timestamp(), Some(1531420618));
    let signed = Signer::new(Scheme::Slack, SLACK_SECRET)
        .unwrap()
        .sign("", 1531420618, SLACK_BODY.as_bytes())
        .unwrap();
    assert_eq!(signed["x-slack-signature"], SLACK_SIGNATURE);
}

// Stripe publishes no secret/payload/signature triple, only the header shape;
// this is the example header verbatim from docs.stripe.com "Check the webhook
// signatures". It must parse (timestamp, a v1 and a v0 entry) and, with any
// secret we know, be a mismatch rather than a malformed header.
#[test]
fn stripe_published_header_example_parses() {
    let header = "t=1492774577,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd,v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39";
    let verifier = Verifier::new(Scheme::Stripe, "whsec_unknown").unwrap();
    let sent = headers(&[("Stripe-Signature", header)]);
    let err = verifier
        .verify_at(&sent, b"{}", at(1492774577))
        .unwrap_err();
    assert!(matches!(
        err.kind(),
        VerifyErrorKind::SignatureMismatch { .. }
    ));
    let stale = verifier
        .verify_at(&sent, b"{}", at(1492774577 + 301))
        .unwrap_err();
    assert!(matches!(
        stale.kind(),
        VerifyErrorKind::TimestampTooOld { .. }
    ));
}

#[test]
fn stripe_signs_timestamp_dot_body_with_the_whsec_string_as_key() {
    use hmac::{KeyInit, Mac};
    // Independent construction of Stripe's scheme with the hmac crate.
    let secret = "whsec_test_secret";
    let body = br#"{"id":"evt_1NG8Du2eZvKYlo2CUI79vXWy","object":"event"}"#;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(b"1700000000.");
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    // The event id is the delivery id without asking: what Stripe's retries repeat.
    let verifier = Verifier::new(Scheme::Stripe, secret).unwrap();
    let sent = headers(&[("Stripe-Signature", &format!("t=1700000000,v1={hex}"))]);
    let verified = verifier.verify_at(&sent, body, at(1700000010)).unwrap();
    assert_eq!(verified.delivery_id(), Some("evt_1NG8Du2eZvKYlo2CUI79vXWy"));
}

#[test]
fn clarife_sample_from_the_repository_verifies() {
    // samples/clarife.json is the payload of clarife's documentation; the
    // signature is HMAC-SHA256(body) with the documented sample secret.
    let body = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../samples/clarife.json"
    ))
    .unwrap();
    let verifier = Verifier::new(Scheme::Clarife, "whsec_sample").unwrap();
    let sent = headers(&[(
        "X-Clarife-Signature",
        "t=1774699200,v1=9c710756f7069d313542208bc0003147b1b1b7a6aa18bca44d4a4f3b585b2a74",
    )]);
    let verified = verifier.verify_at(&sent, &body, at(1774699200)).unwrap();
    assert_eq!(
        verified.delivery_id(),
        Some("evt_a1b2c3d4-5678-90ab-cdef-1234567890ab")
    );
    assert_eq!(verified.timestamp(), Some(1774699200));
}

#[test]
fn clarife_documented_header_shape_with_several_v1() {
    // The documented header shape `t=1711612800,v1=…`, with a rotated extra v1.
    let body = br#"{"id":"evt_a1b2c3d4-5678-90ab-cdef-1234567890ab","type":"document.updated","created_at":"2026-03-28T12:00:00Z","data":{}}"#;
    let signed = Signer::new(Scheme::Clarife, "sub-secret")
        .unwrap()
        .sign("", 1711612800, body)
        .unwrap();
    let value = signed["x-clarife-signature"].to_str().unwrap();
    assert!(value.starts_with("t=1711612800,v1="));
    let rotated = format!(
        "t=1711612800,v1={},{}",
        "0".repeat(64),
        &value["t=1711612800,".len()..]
    );
    let verifier = Verifier::new(Scheme::Clarife, "sub-secret").unwrap();
    let sent = headers(&[("X-Clarife-Signature", &rotated)]);
    assert!(
        verifier
            .verify_at(&sent, body, at(1711612800 + 299))
            .is_ok()
    );
    let err = verifier
        .verify_at(&sent, body, at(1711612800 + 301))
        .unwrap_err();
    assert!(matches!(
        err.kind(),
        VerifyErrorKind::TimestampTooOld { .. }
    ));
}

// Claravine's documented sample payload ("Submission Payloads, Completed"),
// token "client-secret" in the body and in `Authorization: Bearer`.
#[cfg(feature = "json")]
const CLARAVINE_SAMPLE: &str = r#"{
  "event": "submission",
  "event_time": 1770914863,
  "object_id": "26679e11-820c-407b-9c5a-17ed1181a81a",
  "href": "https://api.claravine.com/v1/datasets/fe11a4d2-7f4c-498e-819e-19c5081e997d/transactions/26679e11-820c-407b-9c5a-17ed1181a81a/data",
  "operation": "Completed",
  "version": 1,
  "token": "client-secret"
}"#;

#[cfg(feature = "json")] // Claravine reads the JSON body.
#[test]
fn claravine_sample_verifies_with_both_tokens() {
    let verifier = Verifier::new(Scheme::Claravine, "client-secret").unwrap();
    let sent = headers(&[("Authorization", "Bearer client-secret")]);
    let verified = verifier.verify(&sent, CLARAVINE_SAMPLE.as_bytes()).unwrap();
    assert_eq!(verified.scheme(), Scheme::Claravine);
    assert_eq!(verified.key().index(), 0);

    let forged_body = CLARAVINE_SAMPLE.replace("\"client-secret\"", "\"other\"");
    let err = verifier.verify(&sent, forged_body.as_bytes()).unwrap_err();
    assert_eq!(err.kind(), &VerifyErrorKind::BodyTokenMismatch);
}

#[test]
fn clarity_route_token_verifies() {
    // Clarity: `x-clarity-webhook-token`, one token per route.
    let verifier = Verifier::new(Scheme::Clarity, "route-token-1").unwrap();
    let sent = headers(&[("x-clarity-webhook-token", "route-token-1")]);
    assert!(verifier.verify(&sent, b"{\"identity_id\":\"u1\"}").is_ok());
    let wrong = headers(&[("x-clarity-webhook-token", "route-token-2")]);
    let err = verifier.verify(&wrong, b"{}").unwrap_err();
    assert!(matches!(err.kind(), VerifyErrorKind::TokenMismatch { .. }));
}

#[test]
fn shopify_accepts_both_header_spellings() {
    let signer = Signer::new(Scheme::Shopify, "shpss_secret").unwrap();
    let signed = signer
        .sign("b54557e4-bdd9-4b37-8a5f-bf7d70bcd043", 0, b"{\"id\":1}")
        .unwrap();
    let verifier = Verifier::new(Scheme::Shopify, "shpss_secret").unwrap();
    let verified = verifier.verify(&signed, b"{\"id\":1}").unwrap();
    assert_eq!(
        verified.delivery_id(),
        Some("b54557e4-bdd9-4b37-8a5f-bf7d70bcd043")
    );
    let newer = headers(&[
        (
            "shopify-hmac-sha256",
            signed["x-shopify-hmac-sha256"].to_str().unwrap(),
        ),
        ("shopify-webhook-id", "w1"),
    ]);
    assert_eq!(
        verifier
            .verify(&newer, b"{\"id\":1}")
            .unwrap()
            .delivery_id(),
        Some("w1")
    );
}

#[test]
fn an_empty_body_id_is_no_delivery_id() {
    // `"id":""` would otherwise be an empty delivery id, which a queue
    // refuses: absent, like an empty id header.
    let clarife = Verifier::new(Scheme::Clarife, "s").unwrap();
    let stripe = Verifier::new(Scheme::Stripe, "whsec_x").unwrap();
    let custom = Verifier::builder(Scheme::Custom)
        .header("x-signature")
        .and_then(|builder| builder.secret("s"))
        .unwrap()
        .delivery_id_from_body()
        .build()
        .unwrap();
    for verifier in [clarife, stripe, custom] {
        for body in [&br#"{"id":"","type":"x.y"}"#[..], br#"{ "id" : "" }"#] {
            let signed = verifier.signer().sign("", 1_700_000_000, body).unwrap();
            let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
            let verified = verifier.verify_at(&signed, body, now).unwrap();
            assert_eq!(verified.delivery_id(), None, "{:?}", verifier.scheme());
        }
        let body = br#"{"id":"evt_1"}"#;
        let signed = verifier.signer().sign("", 1_700_000_000, body).unwrap();
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let verified = verifier.verify_at(&signed, body, now).unwrap();
        assert_eq!(verified.delivery_id(), Some("evt_1"));
    }
}

#[test]
fn only_the_schemes_whose_body_carries_the_delivery_id_read_it() {
    // A body with a top-level `id`: clarife and Stripe take it, Slack (whose
    // body's `id` is not a delivery id) and a custom scheme that did not ask
    // for it do not.
    let body = br#"{"id":"evt_1","type":"x.y"}"#;
    let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let custom = Verifier::builder(Scheme::Custom)
        .header("x-signature")
        .and_then(|builder| builder.secret("s"))
        .and_then(|builder| builder.build())
        .unwrap();
    for (verifier, expected) in [
        (Verifier::new(Scheme::Clarife, "s").unwrap(), Some("evt_1")),
        (Verifier::new(Scheme::Stripe, "s").unwrap(), Some("evt_1")),
        (Verifier::new(Scheme::Slack, "s").unwrap(), None),
        (custom, None),
    ] {
        let signed = verifier.signer().sign("", 1_700_000_000, body).unwrap();
        let verified = verifier.verify_at(&signed, body, now).unwrap();
        assert_eq!(verified.delivery_id(), expected, "{}", verifier.scheme());
    }
}
