//! `Signer::request`, the test helper for receivers: for every scheme, the
//! request it builds verifies.

use std::time::{Duration, UNIX_EPOCH};

use hookgate_verify::{Scheme, SignatureEncoding, Verifier};

const NOW: u64 = 1_700_000_000;
const BODY: &[u8] = br#"{"event": "list", "operation": "updated", "id": "evt_1"}"#;

/// A verifier for each scheme, with whatever options it needs.
fn verifier(scheme: Scheme) -> Option<Verifier> {
    let built = match scheme {
        Scheme::Standard | Scheme::Svix => {
            Verifier::new(scheme, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        }
        Scheme::Custom => Verifier::builder(scheme)
            .header("x-sig")
            .and_then(|b| b.prefix("sha256="))
            .and_then(|b| b.encoding(SignatureEncoding::Hex))
            .and_then(|b| b.timestamp_header("x-ts"))
            .and_then(|b| b.id_header("x-id"))
            .and_then(|b| b.signed_content("{id}.{timestamp}.{body}"))
            .and_then(|b| b.secret("custom-secret"))
            .and_then(|b| b.build()),
        _ => Verifier::new(scheme, "a-secret-or-token"),
    };
    match built {
        Ok(verifier) => Some(verifier),
        // Claravine and Linear read the body as JSON: without the feature,
        // no verifier.
        Err(_)
            if matches!(scheme, Scheme::Claravine | Scheme::Linear | Scheme::MsGraph)
                && !cfg!(feature = "json") =>
        {
            None
        }
        Err(err) => panic!("{scheme}: {err}"),
    }
}

#[test]
fn the_request_of_every_scheme_verifies() {
    let mut verified = 0;
    for scheme in Scheme::ALL {
        let (signer, verifier) = if scheme == Scheme::Discord {
            // Ed25519: the signer holds the seed, the verifier the public key.
            let signer = hookgate_verify::Signer::new(scheme, "11".repeat(32)).unwrap();
            let verifier = Verifier::new(scheme, signer.public_key().unwrap()).unwrap();
            (signer, verifier)
        } else {
            let Some(verifier) = verifier(scheme) else {
                continue;
            };
            (verifier.signer(), verifier)
        };
        if scheme.needs_url() {
            // Twilio signs the URL, which a request to `/` does not have.
            assert_eq!(
                signer.request("msg_1", NOW, BODY).unwrap_err(),
                hookgate_verify::SignError::UrlRequired
            );
            verified += 1;
            continue;
        }
        // A Microsoft Graph delivery is a list of notifications.
        let body = if scheme == Scheme::MsGraph {
            br#"{"value":[{"resource":"Users/a/Messages/b"}]}"#
        } else {
            BODY
        };
        let request = signer.request("msg_1", NOW, body).unwrap();
        assert_eq!(request.method(), http::Method::POST, "{scheme}");
        assert_eq!(
            request.headers()[http::header::CONTENT_TYPE],
            "application/json"
        );
        let now = UNIX_EPOCH + Duration::from_secs(NOW);
        let result = verifier.verify_at(request.headers(), request.body(), now);
        assert!(result.is_ok(), "{scheme}: {result:?}");
        // Only Claravine's body (it must carry the token), Linear's (it
        // must carry its signed timestamp) and Microsoft Graph's (its items
        // carry the client state) are changed.
        if scheme == Scheme::MsGraph {
            assert_ne!(request.body(), body);
        } else if scheme == Scheme::Linear {
            let body = std::str::from_utf8(request.body()).unwrap();
            assert!(
                body.starts_with(r#"{"webhookTimestamp":1700000000000,"#),
                "{body}"
            );
        } else if scheme == Scheme::Claravine {
            assert_ne!(request.body(), BODY);
        } else {
            assert_eq!(request.body(), BODY, "{scheme}");
        }
        verified += 1;
    }
    let expected = if cfg!(feature = "json") { 20 } else { 17 };
    assert_eq!(verified, expected);
    assert_eq!(Scheme::ALL.len(), 20);
}

#[cfg(feature = "json")]
mod claravine {
    use super::*;
    use hookgate_verify::{Signer, VerifyErrorKind};

    fn signer() -> Signer {
        Signer::new(Scheme::Claravine, "client-secret").unwrap()
    }

    fn verifies(body: &[u8]) -> Result<(), VerifyErrorKind> {
        let request = signer().request("", 0, body.to_vec()).unwrap();
        Verifier::new(Scheme::Claravine, "client-secret")
            .unwrap()
            .verify(request.headers(), request.body())
            .map(drop)
            .map_err(|err| err.into_kind())
    }

    #[test]
    fn the_token_is_added_first_and_the_rest_kept() {
        let body = "{\n  \"event\": \"list\",\n  \"href\": \"https://x.y/\"\n}";
        let prepared = signer().prepare_body(body);
        assert_eq!(
            std::str::from_utf8(&prepared).unwrap(),
            "{\"token\":\"client-secret\",\n  \"event\": \"list\",\n  \"href\": \"https://x.y/\"\n}"
        );
        assert_eq!(
            signer().prepare_body(" { } "),
            br#" {"token":"client-secret" } "#
        );
        assert_eq!(verifies(body.as_bytes()), Ok(()));
        assert_eq!(verifies(b"{}"), Ok(()));
    }

    #[test]
    fn a_wrong_or_mistyped_token_is_replaced_in_place() {
        for (body, expected) in [
            (
                r#"{"event": "list", "token": "stale", "version": 1}"#,
                r#"{"event": "list", "token": "client-secret", "version": 1}"#,
            ),
            (
                r#"{"token": {"nested": "}"}, "event": "list"}"#,
                r#"{"token": "client-secret", "event": "list"}"#,
            ),
            (r#"{"token": 123}"#, r#"{"token": "client-secret"}"#),
        ] {
            assert_eq!(signer().prepare_body(body), expected.as_bytes());
            assert_eq!(verifies(body.as_bytes()), Ok(()), "{body}");
        }
    }

    #[test]
    fn a_body_already_carrying_the_token_is_unchanged() {
        let body = br#"{ "token" : "client-secret" ,"event":"list"}"#;
        assert_eq!(signer().prepare_body(body.to_vec()), body);
        assert_eq!(verifies(body), Ok(()));
    }

    #[test]
    fn keys_the_byte_edit_cannot_place_are_rewritten() {
        // An escaped key, then a duplicate whose last value wins in serde_json.
        for body in [
            r#"{"tok\u0065n": "stale", "event": "list"}"#,
            r#"{"token": "stale", "token": "staler"}"#,
        ] {
            let prepared = signer().prepare_body(body);
            let value: serde_json::Value = serde_json::from_slice(&prepared).unwrap();
            assert_eq!(value["token"], "client-secret", "{body}");
            assert_eq!(verifies(body.as_bytes()), Ok(()), "{body}");
        }
    }

    #[test]
    fn a_body_that_is_not_a_json_object_is_left_alone() {
        for body in [&b"[1, 2]"[..], b"not json", b""] {
            assert_eq!(signer().prepare_body(body.to_vec()), body);
            assert_eq!(verifies(body), Err(VerifyErrorKind::BodyNotJson));
        }
    }

    #[test]
    fn other_schemes_never_touch_the_body() {
        let github = Signer::new(Scheme::GitHub, "s").unwrap();
        assert_eq!(
            github.prepare_body(r#"{"token": "x"}"#),
            br#"{"token": "x"}"#
        );
    }
}
