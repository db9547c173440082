//! Every error kind, produced by at least one request.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hookgate_verify::{
    ConfigError, Malformed, ManualClock, Scheme, SignatureEncoding, Signer, Verifier,
    VerifyErrorKind,
};
use http::{HeaderMap, HeaderValue, StatusCode};

const NOW: u64 = 1_700_000_000;

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(NOW)
}

fn one(name: &'static str, value: &str) -> HeaderMap {
    let mut map = HeaderMap::new();
    map.insert(name, HeaderValue::from_str(value).unwrap());
    map
}

fn malformed_reason(kind: &VerifyErrorKind) -> Malformed {
    match kind {
        VerifyErrorKind::MalformedHeader { reason, .. } => *reason,
        other => panic!("expected a malformed header, got {other:?}"),
    }
}

#[test]
fn missing_header() {
    let verifier = Verifier::new(Scheme::Slack, "s").unwrap();
    let err = verifier
        .verify_at(&HeaderMap::new(), b"", now())
        .unwrap_err();
    assert_eq!(
        err.kind(),
        &VerifyErrorKind::MissingHeader {
            header: http::HeaderName::from_static("x-slack-request-timestamp")
        }
    );
    assert_eq!(err.status(), StatusCode::BAD_REQUEST);
    assert_eq!(err.to_string(), "missing header x-slack-request-timestamp");
}

#[test]
fn malformed_not_text_and_empty() {
    let verifier = Verifier::new(Scheme::GitHub, "s").unwrap();
    let mut map = HeaderMap::new();
    map.insert(
        "x-hub-signature-256",
        HeaderValue::from_bytes(b"sha256=\xff").unwrap(),
    );
    let err = verifier.verify_at(&map, b"", now()).unwrap_err();
    assert_eq!(malformed_reason(err.kind()), Malformed::NotText);
    assert_eq!(err.status(), StatusCode::BAD_REQUEST);

    let err = verifier
        .verify_at(&one("x-hub-signature-256", "  "), b"", now())
        .unwrap_err();
    assert_eq!(malformed_reason(err.kind()), Malformed::Empty);
}

#[test]
fn malformed_timestamps() {
    let verifier = Verifier::new(Scheme::Clarife, "s").unwrap();
    let err = verifier
        .verify_at(&one("x-clarife-signature", "t=-1,v1=00"), b"", now())
        .unwrap_err();
    assert_eq!(malformed_reason(err.kind()), Malformed::InvalidTimestamp);
    assert_eq!(
        err.to_string(),
        "malformed header x-clarife-signature: timestamp is not a whole number of seconds"
    );
    let err = verifier
        .verify_at(&one("x-clarife-signature", "v1=00"), b"", now())
        .unwrap_err();
    assert_eq!(malformed_reason(err.kind()), Malformed::MissingTimestamp);
}

#[test]
fn malformed_signatures_never_pass() {
    let verifier =
        Verifier::new(Scheme::Standard, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    let good = Signer::new(Scheme::Standard, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        .unwrap()
        .sign("msg_1", NOW, b"{}")
        .unwrap();
    let full = good["webhook-signature"].to_str().unwrap().to_owned();
    // Empty (the svix `v1,` bug), truncated, and one character short.
    for bad in [
        "v1,".to_owned(),
        full[..10].to_owned(),
        full[..full.len() - 1].to_owned(),
    ] {
        let mut sent = good.clone();
        sent.insert("webhook-signature", HeaderValue::from_str(&bad).unwrap());
        let err = verifier.verify_at(&sent, b"{}", now()).unwrap_err();
        assert_eq!(
            malformed_reason(err.kind()),
            Malformed::InvalidSignature,
            "{bad:?}"
        );
    }
    // Odd-length hex for GitHub.
    let github = Verifier::new(Scheme::GitHub, "s").unwrap();
    let odd = format!("sha256={}", "a".repeat(63));
    let err = github
        .verify_at(&one("x-hub-signature-256", &odd), b"", now())
        .unwrap_err();
    assert_eq!(malformed_reason(err.kind()), Malformed::InvalidSignature);
}

#[test]
fn malformed_missing_prefix() {
    #[cfg(feature = "json")]
    {
        let claravine = Verifier::new(Scheme::Claravine, "client-secret").unwrap();
        let err = claravine
            .verify_at(&one("authorization", "Basic client-secret"), b"{}", now())
            .unwrap_err();
        assert_eq!(malformed_reason(err.kind()), Malformed::MissingPrefix);
    }

    let custom = Verifier::builder(Scheme::Custom)
        .header("x-sig")
        .unwrap()
        .prefix("sha256=")
        .unwrap()
        .secret("s")
        .unwrap()
        .build()
        .unwrap();
    let err = custom
        .verify_at(&one("x-sig", &"a".repeat(64)), b"", now())
        .unwrap_err();
    assert_eq!(malformed_reason(err.kind()), Malformed::MissingPrefix);
}

#[test]
fn malformed_syntax() {
    let hex = "a".repeat(64);
    // A `t=`/`v1=` list entry that is not `key=value`.
    let stripe = Verifier::new(Scheme::Stripe, "whsec_x").unwrap();
    for bad in [format!("t={NOW},{hex}"), format!("t={NOW},v1={hex},=x")] {
        let err = stripe
            .verify_at(&one("stripe-signature", &bad), b"", now())
            .unwrap_err();
        assert_eq!(
            malformed_reason(err.kind()),
            Malformed::InvalidSyntax,
            "{bad}"
        );
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            err.to_string(),
            "malformed header stripe-signature: entry is not of the expected form"
        );
    }
    let clarife = Verifier::new(Scheme::Clarife, "s").unwrap();
    let err = clarife
        .verify_at(
            &one("x-clarife-signature", &format!("v1={hex},t{NOW}")),
            b"",
            now(),
        )
        .unwrap_err();
    assert_eq!(malformed_reason(err.kind()), Malformed::InvalidSyntax);

    // Empty entries are not a syntax error: a trailing comma or `,,` in a
    // genuine header still verifies.
    let signed = Signer::new(Scheme::Stripe, "whsec_x")
        .unwrap()
        .sign("evt_1", NOW, b"{}")
        .unwrap();
    let header = signed["stripe-signature"].to_str().unwrap().to_owned();
    for tolerated in [format!("{header},"), header.replacen(',', ",,", 1)] {
        stripe
            .verify_at(&one("stripe-signature", &tolerated), b"{}", now())
            .unwrap_or_else(|e| panic!("{tolerated}: {e}"));
    }

    // A Standard Webhooks entry that is not `version,signature`.
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let standard = Verifier::new(Scheme::Standard, secret).unwrap();
    let mut signed = Signer::new(Scheme::Standard, secret)
        .unwrap()
        .sign("msg_1", NOW, b"{}")
        .unwrap();
    let list = signed["webhook-signature"]
        .to_str()
        .unwrap()
        .replace(',', "=");
    signed.insert("webhook-signature", HeaderValue::from_str(&list).unwrap());
    let err = standard.verify_at(&signed, b"{}", now()).unwrap_err();
    assert_eq!(malformed_reason(err.kind()), Malformed::InvalidSyntax);
}

#[test]
fn unknown_entries_of_the_right_form_are_still_accepted() {
    for scheme in [Scheme::Stripe, Scheme::Clarife] {
        let verifier = Verifier::new(scheme, "whsec_x").unwrap();
        let signed = verifier.signer().sign("", NOW, b"{}").unwrap();
        let name = signed.keys().next().unwrap().clone();
        let value = format!(
            "{}, v0=zz,scheme=hmac-sha256",
            signed[&name].to_str().unwrap()
        );
        let mut sent = HeaderMap::new();
        sent.insert(name, HeaderValue::from_str(&value).unwrap());
        assert!(verifier.verify_at(&sent, b"{}", now()).is_ok(), "{scheme}");
    }
}

#[test]
fn timestamp_too_old_and_in_the_future_are_distinct() {
    let verifier = Verifier::builder(Scheme::Slack)
        .secret("s")
        .unwrap()
        .past_tolerance(Duration::from_secs(60))
        .future_tolerance(Duration::from_secs(10))
        .build()
        .unwrap();
    let signer = verifier.signer();
    let old = signer.sign("", NOW - 61, b"x").unwrap();
    let err = verifier.verify_at(&old, b"x", now()).unwrap_err();
    assert_eq!(
        err.kind(),
        &VerifyErrorKind::TimestampTooOld {
            age: Duration::from_secs(61),
            tolerance: Duration::from_secs(60)
        }
    );
    assert_eq!(err.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        err.to_string(),
        "timestamp too old: signed 61 s ago, tolerance is 60 s"
    );
    assert!(
        verifier
            .verify_at(&signer.sign("", NOW - 60, b"x").unwrap(), b"x", now())
            .is_ok()
    );

    let ahead = signer.sign("", NOW + 11, b"x").unwrap();
    let err = verifier.verify_at(&ahead, b"x", now()).unwrap_err();
    assert_eq!(
        err.kind(),
        &VerifyErrorKind::TimestampInFuture {
            ahead: Duration::from_secs(11),
            tolerance: Duration::from_secs(10)
        }
    );
    assert!(
        verifier
            .verify_at(&signer.sign("", NOW + 10, b"x").unwrap(), b"x", now())
            .is_ok()
    );

    // Extremes saturate instead of overflowing.
    let far = signer.sign("", u64::MAX, b"x").unwrap();
    assert!(matches!(
        verifier
            .verify_at(&far, b"x", UNIX_EPOCH)
            .unwrap_err()
            .kind(),
        VerifyErrorKind::TimestampInFuture { .. }
    ));
    let epoch = signer.sign("", 0, b"x").unwrap();
    assert!(matches!(
        verifier.verify_at(&epoch, b"x", now()).unwrap_err().kind(),
        VerifyErrorKind::TimestampTooOld { .. }
    ));
}

#[test]
fn injected_clock_is_used_by_verify() {
    let verifier = Verifier::builder(Scheme::Slack)
        .secret("s")
        .unwrap()
        .clock(ManualClock::new(now()))
        .build()
        .unwrap();
    let signed = verifier.signer().sign("", NOW, b"x").unwrap();
    assert!(verifier.verify(&signed, b"x").is_ok());
}

#[test]
fn no_supported_signature() {
    let github = Verifier::new(Scheme::GitHub, "s").unwrap();
    let err = github
        .verify_at(
            &one("x-hub-signature-256", &format!("sha1={}", "a".repeat(40))),
            b"",
            now(),
        )
        .unwrap_err();
    assert!(matches!(
        err.kind(),
        VerifyErrorKind::NoSupportedSignature { .. }
    ));
    assert_eq!(err.status(), StatusCode::BAD_REQUEST);

    let stripe = Verifier::new(Scheme::Stripe, "whsec_x").unwrap();
    let only_v0 = format!("t={NOW},v0={}", "a".repeat(64));
    let err = stripe
        .verify_at(&one("stripe-signature", &only_v0), b"", now())
        .unwrap_err();
    assert!(matches!(
        err.kind(),
        VerifyErrorKind::NoSupportedSignature { .. }
    ));
}

#[test]
fn signature_mismatch_with_wrong_secret() {
    let signed = Signer::new(Scheme::GitHub, "right")
        .unwrap()
        .sign("", 0, b"{}")
        .unwrap();
    let err = Verifier::new(Scheme::GitHub, "wrong")
        .unwrap()
        .verify_at(&signed, b"{}", now())
        .unwrap_err();
    assert!(matches!(
        err.kind(),
        VerifyErrorKind::SignatureMismatch { .. }
    ));
    assert_eq!(err.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        err.to_string(),
        "no signature in header x-hub-signature-256 matches"
    );
}

#[cfg(feature = "json")] // Claravine reads the JSON body.
#[test]
fn token_mismatch() {
    let verifier = Verifier::new(Scheme::Claravine, "client-secret").unwrap();
    let err = verifier
        .verify_at(
            &one("authorization", "Bearer client-secreT"),
            br#"{"token":"client-secreT"}"#,
            now(),
        )
        .unwrap_err();
    assert!(matches!(err.kind(), VerifyErrorKind::TokenMismatch { .. }));
    assert_eq!(err.status(), StatusCode::UNAUTHORIZED);
    // The message never echoes either token.
    assert!(!err.to_string().contains("client-secre"));
}

#[cfg(feature = "json")] // Claravine reads the JSON body.
#[test]
fn body_not_json_and_missing_body_field() {
    let verifier = Verifier::new(Scheme::Claravine, "client-secret").unwrap();
    let auth = one("authorization", "Bearer client-secret");
    for body in [&b"token=client-secret"[..], b"[\"client-secret\"]"] {
        let err = verifier.verify_at(&auth, body, now()).unwrap_err();
        assert_eq!(err.kind(), &VerifyErrorKind::BodyNotJson);
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
    }
    for body in [&br#"{"event":"list"}"#[..], br#"{"token":5}"#] {
        let err = verifier.verify_at(&auth, body, now()).unwrap_err();
        assert_eq!(
            err.kind(),
            &VerifyErrorKind::MissingBodyField { field: "token" }
        );
    }
}

#[cfg(feature = "json")] // Claravine reads the JSON body.
#[test]
fn body_token_mismatch() {
    let verifier = Verifier::new(Scheme::Claravine, "client-secret").unwrap();
    let err = verifier
        .verify_at(
            &one("authorization", "Bearer client-secret"),
            br#"{"token":"client-secret-2"}"#,
            now(),
        )
        .unwrap_err();
    assert_eq!(err.kind(), &VerifyErrorKind::BodyTokenMismatch);
    assert_eq!(err.status(), StatusCode::UNAUTHORIZED);
}

#[cfg(feature = "json")] // Claravine reads the JSON body.
#[test]
fn claravine_body_naming_the_token_twice() {
    let verifier = Verifier::new(Scheme::Claravine, "client-secret").unwrap();
    let auth = one("authorization", "Bearer client-secret");
    // A wrong token then the right one, the other way round, and the second
    // key spelled with an escape: each one a body two readers read apart.
    for body in [
        &br#"{"token":"other","event":"list","token":"client-secret"}"#[..],
        br#"{"token":"client-secret","token":"other"}"#,
        br#"{"token":"client-secret","tok\u0065n":"client-secret"}"#,
    ] {
        let err = verifier.verify_at(&auth, body, now()).unwrap_err();
        assert_eq!(
            err.kind(),
            &VerifyErrorKind::DuplicateBodyField { field: "token" }
        );
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            err.to_string(),
            r#"body has the field "token" more than once"#
        );
    }
    // A nested `token` is another field.
    let nested = br#"{"token":"client-secret","data":{"token":"x","token":"y"}}"#;
    assert!(verifier.verify_at(&auth, nested, now()).is_ok());
}

/// Every scheme that reads its delivery id from the signed body refuses a
/// body naming `id` twice at its top level, and reads the one `id` otherwise.
#[test]
fn body_ids_named_twice() {
    let custom = || {
        Verifier::builder(Scheme::Custom)
            .header("x-signature")
            .unwrap()
            .secret("s3cret")
            .unwrap()
            .delivery_id_from_body()
            .build()
            .unwrap()
    };
    let verifiers = [
        Verifier::new(Scheme::Clarife, "s3cret").unwrap(),
        Verifier::new(Scheme::Stripe, "s3cret").unwrap(),
        custom(),
    ];
    for verifier in verifiers {
        let signed = |body: &[u8]| verifier.signer().sign("", NOW, body).unwrap();
        for body in [
            &br#"{"id":"evt_1","type":"x","id":"evt_2"}"#[..],
            br#"{"id":"evt_1","data":{},"\u0069d":"evt_1"}"#,
            br#"{"id":{"nested":true},"id":"evt_2"}"#,
        ] {
            let err = verifier.verify_at(&signed(body), body, now()).unwrap_err();
            assert_eq!(
                err.kind(),
                &VerifyErrorKind::DuplicateBodyField { field: "id" },
                "{:?}",
                verifier.scheme()
            );
            assert_eq!(err.status(), StatusCode::BAD_REQUEST);
        }
        let body = br#"{"id":"evt_1","data":{"id":"inner","id":"twice"}}"#;
        let verified = verifier.verify_at(&signed(body), body, now()).unwrap();
        assert_eq!(verified.delivery_id(), Some("evt_1"));
        // A forged body is refused for its signature, whatever its ids.
        let forged = br#"{"id":"evt_1","id":"evt_2"}"#;
        let err = verifier
            .verify_at(&signed(b"{}"), forged, now())
            .unwrap_err();
        assert!(matches!(
            err.kind(),
            VerifyErrorKind::SignatureMismatch { .. }
        ));
    }
}

/// Paddle's `event_id` and Linear's `webhookTimestamp`, read from the signed
/// body, are refused when named twice too.
#[cfg(feature = "json")] // Linear reads its timestamp from the JSON body.
#[test]
fn other_body_fields_named_twice() {
    let millis = NOW * 1000;
    for (scheme, field, body) in [
        (
            Scheme::Paddle,
            "event_id",
            r#"{"event_id":"evt_1","event_type":"x","event_id":"evt_2"}"#.to_owned(),
        ),
        (
            Scheme::Linear,
            "webhookTimestamp",
            format!(
                r#"{{"webhookTimestamp":{millis},"type":"Issue","webhookTimestamp":{millis}}}"#
            ),
        ),
    ] {
        let verifier = Verifier::new(scheme, "s3cret").unwrap();
        let headers = verifier.signer().sign("", NOW, body.as_bytes()).unwrap();
        let err = verifier
            .verify_at(&headers, body.as_bytes(), now())
            .unwrap_err();
        assert_eq!(err.kind(), &VerifyErrorKind::DuplicateBodyField { field });
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
    }
}

#[cfg(not(feature = "json"))]
#[test]
fn claravine_needs_the_json_feature() {
    assert_eq!(
        Verifier::new(Scheme::Claravine, "t").unwrap_err(),
        ConfigError::FeatureRequired {
            scheme: Scheme::Claravine,
            feature: "json"
        }
    );
}

#[test]
fn config_errors() {
    assert_eq!(
        Verifier::new(Scheme::Stripe, "").unwrap_err(),
        ConfigError::EmptySecret
    );
    assert!(matches!(
        Verifier::new(Scheme::Standard, "whsec_%%%").unwrap_err(),
        ConfigError::MalformedSecret { .. }
    ));
    assert_eq!(
        Verifier::builder(Scheme::GitHub).build().unwrap_err(),
        ConfigError::NoSecret
    );
    assert_eq!(
        Verifier::builder(Scheme::GitHub)
            .secret_with_id("k", "a")
            .unwrap()
            .secret_with_id("k", "b")
            .unwrap_err(),
        ConfigError::InvalidKeyId("k".to_owned())
    );
    assert_eq!(
        Verifier::builder(Scheme::GitHub)
            .header("x-sig")
            .unwrap_err(),
        ConfigError::NotApplicable {
            option: "header",
            scheme: Scheme::GitHub
        }
    );
    assert_eq!(
        Verifier::builder(Scheme::Clarity)
            .header("bad header")
            .unwrap_err(),
        ConfigError::InvalidHeaderName("bad header".to_owned())
    );
    assert!(matches!(
        Verifier::builder(Scheme::Clarity)
            .prefix("line\nbreak")
            .unwrap_err(),
        ConfigError::InvalidPrefix(_)
    ));
    assert_eq!(
        Verifier::new(Scheme::Custom, "s").unwrap_err(),
        ConfigError::MissingOption("header")
    );
    assert_eq!(
        Verifier::builder(Scheme::Custom)
            .header("x-sig")
            .unwrap()
            .signed_content("{id}.{body}")
            .unwrap()
            .secret("s")
            .unwrap()
            .build()
            .unwrap_err(),
        ConfigError::MissingOption("id_header")
    );
    assert!(matches!(
        Verifier::builder(Scheme::Custom)
            .signed_content("{ts}.{body}")
            .unwrap_err(),
        ConfigError::InvalidTemplate(_)
    ));
    // No secret ever appears in a configuration error.
    let err = Verifier::new(Scheme::Svix, "whsec_sup3r-s3cret!").unwrap_err();
    assert!(!err.to_string().contains("sup3r"));
}

#[test]
fn rotation_reports_the_matching_key() {
    let verifier = Verifier::builder(Scheme::GitHub)
        .secret("old")
        .unwrap()
        .secret_with_id("2026", "new")
        .unwrap()
        .build()
        .unwrap();
    let by_old = Signer::new(Scheme::GitHub, "old")
        .unwrap()
        .sign("", 0, b"b")
        .unwrap();
    let by_new = Signer::new(Scheme::GitHub, "new")
        .unwrap()
        .sign("", 0, b"b")
        .unwrap();
    let old = verifier.verify_at(&by_old, b"b", now()).unwrap();
    assert_eq!((old.key().index(), old.key().id()), (0, None));
    assert_eq!(old.key().to_string(), "0");
    let new = verifier.verify_at(&by_new, b"b", now()).unwrap();
    assert_eq!((new.key().index(), new.key().id()), (1, Some("2026")));
    assert_eq!(new.key().to_string(), "2026");
}

#[test]
fn debug_output_is_redacted() {
    let verifier = Verifier::builder(Scheme::Clarity)
        .secret_with_id("route-1", "t0ken-value")
        .unwrap()
        .build()
        .unwrap();
    let shown = format!("{verifier:?} {:?}", verifier.signer());
    assert!(shown.contains("[redacted]"), "{shown}");
    assert!(!shown.contains("t0ken-value"), "{shown}");
    assert!(shown.contains("route-1"));
}

#[test]
fn custom_hex_signatures_verify_in_either_case() {
    let verifier = Verifier::builder(Scheme::Custom)
        .header("x-sig")
        .unwrap()
        .prefix("sha256=")
        .unwrap()
        .secret("s")
        .unwrap()
        .build()
        .unwrap();
    let signed = verifier.signer().sign("", NOW, b"{}").unwrap();
    let lower = signed["x-sig"].to_str().unwrap().to_owned();
    assert!(
        lower.bytes().skip(7).any(|b| b.is_ascii_lowercase()),
        "{lower}"
    );
    let upper = format!("sha256={}", lower["sha256=".len()..].to_ascii_uppercase());
    for sent in [&lower, &upper] {
        assert!(
            verifier
                .verify_at(&one("x-sig", sent), b"{}", now())
                .is_ok(),
            "{sent}"
        );
    }
    // Still the same signature only: another body, or another digit, is refused.
    let err = verifier
        .verify_at(&one("x-sig", &upper), b"{ }", now())
        .unwrap_err();
    assert!(matches!(
        err.kind(),
        VerifyErrorKind::SignatureMismatch { .. }
    ));
    let last = if upper.ends_with('0') { "1" } else { "0" };
    let other = format!("{}{last}", &upper[..upper.len() - 1]);
    let err = verifier
        .verify_at(&one("x-sig", &other), b"{}", now())
        .unwrap_err();
    assert!(matches!(
        err.kind(),
        VerifyErrorKind::SignatureMismatch { .. }
    ));
    // The prefix keeps its case.
    let err = verifier
        .verify_at(
            &one("x-sig", &upper.replace("sha256=", "SHA256=")),
            b"{}",
            now(),
        )
        .unwrap_err();
    assert_eq!(malformed_reason(err.kind()), Malformed::MissingPrefix);
}

#[test]
fn custom_scheme_round_trips_with_all_options() {
    let verifier = Verifier::builder(Scheme::Custom)
        .header("X-Claimable-Signature")
        .unwrap()
        .prefix("sha256=")
        .unwrap()
        .encoding(SignatureEncoding::Base64)
        .unwrap()
        .timestamp_header("X-Claimable-Timestamp")
        .unwrap()
        .id_header("X-Claimable-Id")
        .unwrap()
        .signed_content("{id}:{timestamp}:{body}")
        .unwrap()
        .secret("claimable")
        .unwrap()
        .build()
        .unwrap();
    let signed = verifier
        .signer()
        .sign("evt_9", NOW, b"{\"event_name\":\"claim.created\"}")
        .unwrap();
    assert!(
        signed["x-claimable-signature"]
            .to_str()
            .unwrap()
            .starts_with("sha256=")
    );
    let verified = verifier
        .verify_at(&signed, b"{\"event_name\":\"claim.created\"}", now())
        .unwrap();
    assert_eq!(verified.delivery_id(), Some("evt_9"));
    assert_eq!(verified.timestamp(), Some(NOW));
    // The id is signed: changing it breaks the signature.
    let mut changed = signed.clone();
    changed.insert("x-claimable-id", HeaderValue::from_static("evt_8"));
    assert!(matches!(
        verifier
            .verify_at(&changed, b"{\"event_name\":\"claim.created\"}", now())
            .unwrap_err()
            .kind(),
        VerifyErrorKind::SignatureMismatch { .. }
    ));
}
