//! Ed25519: Standard Webhooks' `v1a` entries and Discord. Signing and
//! verifying round trips, mixed `v1`/`v1a` lists, keys of the wrong kind, and
//! long lists answered in bounded work.

use std::time::{Duration, Instant, UNIX_EPOCH};

use base64::Engine as _;
use hookgate_verify::{
    ConfigError, MAX_ED25519_SIGNATURES, Malformed, Scheme, SignError, Signer, Verifier,
    VerifyErrorKind,
};
use http::HeaderValue;
use proptest::prelude::*;

const NOW: u64 = 1_700_000_000;
const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn at(unix: u64) -> std::time::SystemTime {
    UNIX_EPOCH + Duration::from_secs(unix)
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A Standard Webhooks signer and the verifier of its public key.
fn standard_pair(seed: [u8; 32]) -> (Signer, Verifier) {
    let signer = Signer::new(Scheme::Standard, format!("whsk_{}", b64(&seed))).unwrap();
    let verifier = Verifier::new(Scheme::Standard, signer.public_key().unwrap()).unwrap();
    (signer, verifier)
}

fn discord_pair(seed: [u8; 32]) -> (Signer, Verifier) {
    let hex: String = seed.iter().map(|byte| format!("{byte:02x}")).collect();
    let signer = Signer::new(Scheme::Discord, hex).unwrap();
    let verifier = Verifier::new(Scheme::Discord, signer.public_key().unwrap()).unwrap();
    (signer, verifier)
}

fn signature_list(signer: &Signer, body: &[u8]) -> String {
    let signed = signer.sign("msg_1", NOW, body).unwrap();
    signed["webhook-signature"].to_str().unwrap().to_owned()
}

fn with_list(signer: &Signer, body: &[u8], list: &str) -> http::HeaderMap {
    let mut headers = signer.sign("msg_1", NOW, body).unwrap();
    headers.insert("webhook-signature", HeaderValue::from_str(list).unwrap());
    headers
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn ed25519_sign_then_verify_and_any_changed_body_byte_is_refused(
        seed in any::<[u8; 32]>(),
        body in prop::collection::vec(any::<u8>(), 1..512),
        index in any::<prop::sample::Index>(),
        mask in 1u8..=255,
        discord in any::<bool>(),
    ) {
        let (signer, verifier) = if discord { discord_pair(seed) } else { standard_pair(seed) };
        let signed = signer.sign("msg_1", NOW, &body).unwrap();
        let verified = verifier.verify_at(&signed, &body, at(NOW)).unwrap();
        prop_assert_eq!(verified.timestamp(), Some(NOW));
        let mut changed = body.clone();
        changed[index.index(body.len())] ^= mask;
        let refused = verifier.verify_at(&signed, &changed, at(NOW)).unwrap_err();
        prop_assert!(
            matches!(refused.kind(), VerifyErrorKind::SignatureMismatch { .. }),
            "{:?}",
            refused
        );
    }
}

#[test]
fn a_mixed_list_verifies_under_either_kind_of_key_and_each_ignores_the_other_kind() {
    let body = br#"{"type":"contact.created"}"#;
    let (ed_signer, ed_verifier) = standard_pair([7; 32]);
    let hmac_signer = Signer::new(Scheme::Standard, WHSEC).unwrap();
    let hmac_verifier = Verifier::new(Scheme::Standard, WHSEC).unwrap();
    let mixed = format!(
        "{} {}",
        signature_list(&hmac_signer, body),
        signature_list(&ed_signer, body)
    );
    let headers = with_list(&ed_signer, body, &mixed);
    assert!(ed_verifier.verify_at(&headers, body, at(NOW)).is_ok());
    assert!(hmac_verifier.verify_at(&headers, body, at(NOW)).is_ok());
    // Both keys in one verifier: the HMAC one, given first, matches.
    let both = Verifier::builder(Scheme::Standard)
        .secret(WHSEC)
        .unwrap()
        .secret(ed_signer.public_key().unwrap())
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(
        both.verify_at(&headers, body, at(NOW))
            .unwrap()
            .key()
            .index(),
        0
    );

    // A list of one kind only: the other kind of key finds nothing it reads.
    let only_v1a = with_list(&ed_signer, body, &signature_list(&ed_signer, body));
    let only_v1 = with_list(&ed_signer, body, &signature_list(&hmac_signer, body));
    for (verifier, headers) in [(&hmac_verifier, &only_v1a), (&ed_verifier, &only_v1)] {
        let refused = verifier.verify_at(headers, body, at(NOW)).unwrap_err();
        assert!(
            matches!(refused.kind(), VerifyErrorKind::NoSupportedSignature { .. }),
            "{refused:?}"
        );
    }
    // The mixed verifier reads both: the v1a-only list matches its second key.
    assert_eq!(
        both.verify_at(&only_v1a, body, at(NOW))
            .unwrap()
            .key()
            .index(),
        1
    );
    // A v1a entry that is not 64 bytes of base64 is malformed.
    let bad = with_list(&ed_signer, body, "v1a,c2hvcnQ=");
    let refused = ed_verifier.verify_at(&bad, body, at(NOW)).unwrap_err();
    assert!(
        matches!(
            refused.kind(),
            VerifyErrorKind::MalformedHeader {
                reason: Malformed::InvalidSignature,
                ..
            }
        ),
        "{refused:?}"
    );
}

#[test]
fn a_list_of_a_thousand_entries_is_answered_in_bounded_work() {
    let body = b"{}";
    let (signer, verifier) = standard_pair([9; 32]);
    let good = signature_list(&signer, body);
    let forged = format!("v1a,{}", b64(&[0x55; 64]));

    // A thousand entries, the good one last: refused before any is checked.
    let mut entries = vec![forged.as_str(); 999];
    entries.push(&good);
    let headers = with_list(&signer, body, &entries.join(" "));
    let started = Instant::now();
    let refused = verifier.verify_at(&headers, body, at(NOW)).unwrap_err();
    // A hang guard, not a timing assertion: 1,000 verifications would take
    // tens of milliseconds; the refusal reads the list once.
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(
        matches!(
            refused.kind(),
            VerifyErrorKind::MalformedHeader {
                reason: Malformed::TooManySignatures,
                ..
            }
        ),
        "{refused:?}"
    );

    // Up to the limit every entry is tried: the good one last still passes.
    let mut entries = vec![forged.as_str(); MAX_ED25519_SIGNATURES - 1];
    entries.push(&good);
    let headers = with_list(&signer, body, &entries.join(" "));
    assert!(verifier.verify_at(&headers, body, at(NOW)).is_ok());

    // A thousand HMAC entries cost nothing per entry: the list is read whole.
    let hmac_signer = Signer::new(Scheme::Standard, WHSEC).unwrap();
    let hmac_verifier = Verifier::new(Scheme::Standard, WHSEC).unwrap();
    let v1 = signature_list(&hmac_signer, body);
    let decoy = format!("v1,{}", b64(&[0x55; 32]));
    let mut entries = vec![decoy.as_str(); 999];
    entries.push(&v1);
    let headers = with_list(&hmac_signer, body, &entries.join(" "));
    assert!(hmac_verifier.verify_at(&headers, body, at(NOW)).is_ok());
}

#[test]
fn keys_of_the_wrong_kind_are_refused_when_configured() {
    let seed = b64(&[3; 32]);
    let (signer, _) = standard_pair([3; 32]);
    let whpk = signer.public_key().unwrap();
    let malformed = |result: Result<Verifier, ConfigError>| {
        matches!(result, Err(ConfigError::MalformedSecret { .. }))
    };
    // A verifier takes the public key, a signer the secret one.
    assert!(malformed(Verifier::new(
        Scheme::Standard,
        format!("whsk_{seed}")
    )));
    assert!(matches!(
        Signer::new(Scheme::Standard, &whpk),
        Err(ConfigError::MalformedSecret { .. })
    ));
    // The 64-byte form: seed then public key, whose halves must agree.
    let public = base64::engine::general_purpose::STANDARD
        .decode(whpk.trim_start_matches("whpk_"))
        .unwrap();
    let full = [[3u8; 32].as_slice(), &public].concat();
    let long = Signer::new(Scheme::Standard, format!("whsk_{}", b64(&full))).unwrap();
    assert_eq!(long.public_key(), Some(whpk.clone()));
    let mismatched = [[4u8; 32].as_slice(), &public].concat();
    assert!(matches!(
        Signer::new(Scheme::Standard, format!("whsk_{}", b64(&mismatched))),
        Err(ConfigError::MalformedSecret { .. })
    ));
    // Wrong lengths, bad encodings.
    for bad in [
        format!("whpk_{}", b64(&[1; 31])),
        "whpk_not base64".to_owned(),
    ] {
        assert!(malformed(Verifier::new(Scheme::Standard, &bad)), "{bad}");
    }
    for bad in ["ab".repeat(31), "zz".repeat(32), String::from("whpk_x")] {
        assert!(malformed(Verifier::new(Scheme::Discord, &bad)), "{bad}");
    }
    // A small-order public key would accept forgeries: refused.
    let identity = format!("01{}", "00".repeat(31));
    assert!(malformed(Verifier::new(Scheme::Discord, identity)));
}

#[test]
fn a_verifiers_signer_cannot_sign_with_a_public_key_and_nothing_shows_the_seed() {
    let (signer, verifier) = discord_pair([5; 32]);
    assert_eq!(
        verifier.signer().sign("", NOW, b"{}").unwrap_err(),
        SignError::NoSigningKey
    );
    let shown = format!("{signer:?}");
    assert!(shown.contains("[redacted]"), "{shown}");
    assert!(!shown.contains(&"05".repeat(32)), "{shown}");
}

#[test]
fn discord_headers_are_checked_like_the_others() {
    let body = br#"{"id":"1180000000000000001","type":1}"#;
    let (signer, verifier) = discord_pair([6; 32]);
    let signed = signer.sign("", NOW, body).unwrap();
    let verified = verifier.verify_at(&signed, body, at(NOW)).unwrap();
    assert_eq!(verified.delivery_id(), Some("1180000000000000001"));
    let stale = verifier
        .verify_at(&signed, body, at(NOW + 301))
        .unwrap_err();
    assert!(matches!(
        stale.kind(),
        VerifyErrorKind::TimestampTooOld { .. }
    ));
    // The timestamp is signed: a fresh one beside the old signature fails.
    let mut moved = signed.clone();
    moved.insert(
        "x-signature-timestamp",
        HeaderValue::from_static("1700000001"),
    );
    assert!(matches!(
        verifier
            .verify_at(&moved, body, at(NOW))
            .unwrap_err()
            .kind(),
        VerifyErrorKind::SignatureMismatch { .. }
    ));
    let mut upper = signed.clone();
    let shouted = signed["x-signature-ed25519"]
        .to_str()
        .unwrap()
        .to_uppercase();
    upper.insert(
        "x-signature-ed25519",
        HeaderValue::from_str(&shouted).unwrap(),
    );
    assert!(matches!(
        verifier
            .verify_at(&upper, body, at(NOW))
            .unwrap_err()
            .kind(),
        VerifyErrorKind::MalformedHeader {
            reason: Malformed::InvalidSignature,
            ..
        }
    ));
}
