//! Twilio: the URL is part of what is signed. Round trips over form and JSON
//! bodies, any changed byte of the URL or the body refused, and the URL
//! required.

use hookgate_verify::{RequestContext, Scheme, Signer, Verifier, VerifyErrorKind};
use http::HeaderValue;
use proptest::prelude::*;

fn pair(token: &str) -> (Signer, Verifier) {
    (
        Signer::new(Scheme::Twilio, token).unwrap(),
        Verifier::new(Scheme::Twilio, token).unwrap(),
    )
}

fn form(headers: &mut http::HeaderMap) {
    headers.insert(
        "content-type",
        HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn form_requests_round_trip_and_any_change_is_refused(
        token in "[!-~]{1,40}",
        params in prop::collection::vec(("[A-Za-z]{1,8}", "[ -~]{0,12}"), 0..6),
        path in "/[a-z]{0,10}",
        pick in any::<prop::sample::Index>(),
        mask in 1u8..=127,
    ) {
        let (signer, verifier) = pair(&token);
        let body: String = params
            .iter()
            .map(|(k, v)| format!("{k}={}", v.replace('%', "%25").replace('&', "%26").replace('+', "%2B").replace(' ', "+")))
            .collect::<Vec<_>>()
            .join("&");
        let url = format!("https://hooks.example.com{path}?tenant=7");
        let context = RequestContext::new().with_url(&url);
        let mut headers = signer.sign_with("", 0, body.as_bytes(), context).unwrap();
        form(&mut headers);
        prop_assert!(verifier.verify_with(&headers, body.as_bytes(), context).is_ok());

        // A changed URL byte is another URL.
        let mut changed = url.clone().into_bytes();
        let at = "https://".len() + pick.index(url.len() - "https://".len());
        changed[at] ^= mask;
        if let Ok(changed) = String::from_utf8(changed) {
            let other = RequestContext::new().with_url(&changed);
            // The port variants are the same URL to Twilio's validator.
            if !changed.contains(":443") && !changed.contains(':') {
                prop_assert!(verifier.verify_with(&headers, body.as_bytes(), other).is_err(), "{}", changed);
            }
        }
        // A changed body byte (one that changes what the form decodes to).
        if !body.is_empty() {
            let mut changed = body.clone().into_bytes();
            let at = pick.index(changed.len());
            changed[at] = if changed[at] == b'x' { b'y' } else { b'x' };
            if changed != body.as_bytes() {
                let refused = verifier.verify_with(&headers, &changed, context);
                // `a=1&b=2` and its reordering decode alike; a replaced byte never does.
                prop_assert!(refused.is_err());
            }
        }
    }
}

#[test]
fn json_bodies_are_checked_by_their_hash_in_the_url() {
    let (signer, verifier) = pair("12345");
    let body = br#"{"property": "value", "boolean": true}"#;
    let url = "https://mycompany.com/myapp.php?bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";
    let context = RequestContext::new().with_url(url);
    let mut headers = signer.sign_with("", 0, body, context).unwrap();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    assert!(verifier.verify_with(&headers, body, context).is_ok());
    let refused = verifier
        .verify_with(&headers, br#"{"property": "other"}"#, context)
        .unwrap_err();
    assert!(matches!(
        refused.kind(),
        VerifyErrorKind::SignatureMismatch { .. }
    ));
}

#[test]
fn the_url_is_required_and_the_idempotency_token_is_the_delivery_id() {
    let (signer, verifier) = pair("12345");
    let url = "https://hooks.example.com/sms";
    let context = RequestContext::new().with_url(url);
    let mut headers = signer
        .sign_with("idem-1", 0, b"Body=hi&From=%2B1", context)
        .unwrap();
    form(&mut headers);
    let verified = verifier
        .verify_with(&headers, b"Body=hi&From=%2B1", context)
        .unwrap();
    assert_eq!(verified.delivery_id(), Some("idem-1"));
    let refused = verifier.verify(&headers, b"Body=hi&From=%2B1").unwrap_err();
    assert_eq!(refused.kind(), &VerifyErrorKind::UrlRequired);
    assert_eq!(refused.status(), 500);
    assert_eq!(
        signer.sign("", 0, b"").unwrap_err(),
        hookgate_verify::SignError::UrlRequired
    );
    // A base64 value that is not 20 bytes is malformed, before the URL.
    let mut bad = headers.clone();
    bad.insert("x-twilio-signature", HeaderValue::from_static("c2hvcnQ="));
    assert!(matches!(
        verifier.verify(&bad, b"").unwrap_err().kind(),
        VerifyErrorKind::MalformedHeader { .. }
    ));
}

#[cfg(feature = "json")]
#[test]
fn microsoft_graph_checks_every_client_state() {
    let signer = Signer::new(Scheme::MsGraph, "state-1").unwrap();
    let verifier = Verifier::new(Scheme::MsGraph, "state-1").unwrap();
    let body =
        signer.prepare_body(r#"{"value":[{"resource":"a"},{"resource":"b","clientState":"x"}]}"#);
    let text = String::from_utf8(body.clone()).unwrap();
    assert_eq!(
        text.matches(r#""clientState":"state-1""#).count(),
        2,
        "{text}"
    );
    assert!(verifier.verify(&http::HeaderMap::new(), &body).is_ok());
    let forged = text.replacen("state-1", "state-2", 1);
    assert_eq!(
        verifier
            .verify(&http::HeaderMap::new(), forged.as_bytes())
            .unwrap_err()
            .kind(),
        &VerifyErrorKind::BodyFieldMismatch {
            field: "clientState"
        }
    );
}
