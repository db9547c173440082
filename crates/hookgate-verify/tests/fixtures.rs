//! Known-answer vectors produced by the senders' official libraries (or, where
//! a sender publishes none, derived from its documented layout): the JSON
//! fixtures of `tests/fixtures/vectors/`, written by the scripts in its `gen/`
//! folder. Each file names what produced it; each case is a delivery as sent,
//! the secrets configured, the receiver's clock, and whether the sender's own
//! library accepted it. No Python or Node is needed here: only the fixtures.
#![cfg(feature = "json")]

use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use hookgate_verify::{RequestContext, Scheme, Verifier};
use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/vectors")
}

/// Every fixture file, by scheme name.
fn fixtures() -> Vec<(String, Value)> {
    let mut found: Vec<(String, Value)> = std::fs::read_dir(vectors_dir())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            let fixture: Value = serde_json::from_str(&text).unwrap();
            let scheme = fixture["scheme"].as_str().unwrap().to_owned();
            (scheme, fixture)
        })
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
}

fn verifier(scheme: Scheme, secrets: &[Value]) -> Verifier {
    let mut builder = Verifier::builder(scheme);
    for secret in secrets {
        builder = builder.secret(secret.as_str().unwrap()).unwrap();
    }
    builder.build().unwrap()
}

fn headers(pairs: &[Value]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for pair in pairs {
        let name = HeaderName::from_bytes(pair[0].as_str().unwrap().as_bytes()).unwrap();
        let value = HeaderValue::from_str(pair[1].as_str().unwrap()).unwrap();
        map.append(name, value);
    }
    map
}

/// Checks every case of one fixture; answers how many there were.
fn check(scheme_name: &str, fixture: &Value) -> usize {
    let scheme: Scheme = scheme_name.parse().unwrap();
    let produced_by = fixture["produced_by"].as_str().unwrap();
    assert!(
        !produced_by.is_empty(),
        "{scheme_name}: say what produced it"
    );
    let cases = fixture["cases"].as_array().unwrap();
    for case in cases {
        let name = format!("{scheme_name}: {}", case["name"].as_str().unwrap());
        let verifier = verifier(scheme, case["secrets"].as_array().unwrap());
        let sent = headers(case["headers"].as_array().unwrap());
        let body = case["body"].as_str().unwrap().as_bytes();
        let now = UNIX_EPOCH + Duration::from_millis(case["now_ms"].as_u64().unwrap());
        let mut context = RequestContext::new();
        if let Some(url) = case["url"].as_str() {
            context = context.with_url(url);
        }
        let result = verifier.verify_with_at(&sent, body, context, now);
        if case["valid"].as_bool().unwrap() {
            let verified = result.unwrap_or_else(|err| panic!("{name}: refused: {err}"));
            assert_eq!(verified.scheme(), scheme, "{name}");
            assert_eq!(
                verified.delivery_id(),
                case["delivery_id"].as_str(),
                "{name}"
            );
            assert_eq!(
                verified.key().index() as u64,
                case["key_index"].as_u64().unwrap(),
                "{name}"
            );
        } else {
            assert!(
                result.is_err(),
                "{name}: accepted, but the library refused it"
            );
        }
    }
    cases.len()
}

#[test]
fn every_fixture_verifies_as_the_senders_library_says() {
    let fixtures = fixtures();
    let mut total = 0;
    for (scheme, fixture) in &fixtures {
        total += check(scheme, fixture);
    }
    let schemes: Vec<&str> = fixtures.iter().map(|(scheme, _)| scheme.as_str()).collect();
    for wanted in [
        "paddle", "linear", "gitlab", "zoom", "twitch", "meta", "dropbox",
    ] {
        assert!(
            schemes.contains(&wanted),
            "no fixture for {wanted}: {schemes:?}"
        );
    }
    assert!(total >= 30, "{total}");
}

/// Ed25519 signatures are deterministic: the signer, given the seed the
/// generators used, writes exactly the signatures the references wrote.
#[test]
fn ed25519_signers_reproduce_the_reference_signatures() {
    use hookgate_verify::Signer;

    let discord_seed = std::fs::read_to_string(vectors_dir().join("discord-seed.txt")).unwrap();
    let fixture: Value =
        serde_json::from_str(&std::fs::read_to_string(vectors_dir().join("discord.json")).unwrap())
            .unwrap();
    let first = &fixture["cases"][0];
    let signer = Signer::new(Scheme::Discord, discord_seed.trim()).unwrap();
    assert_eq!(
        Some(first["secrets"][0].as_str().unwrap().to_owned()),
        signer.public_key()
    );
    let sent = headers(first["headers"].as_array().unwrap());
    let signed = signer
        .sign(
            "",
            1_700_000_000,
            first["body"].as_str().unwrap().as_bytes(),
        )
        .unwrap();
    assert_eq!(signed["x-signature-ed25519"], sent["x-signature-ed25519"]);

    // RFC 8032's test 1 seed, as whsk_, signs the first v1a case.
    let fixture: Value = serde_json::from_str(
        &std::fs::read_to_string(vectors_dir().join("standard-v1a.json")).unwrap(),
    )
    .unwrap();
    let first = &fixture["cases"][0];
    let signer = Signer::new(
        Scheme::Standard,
        "whsk_nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=",
    )
    .unwrap();
    assert_eq!(
        Some(first["secrets"][0].as_str().unwrap().to_owned()),
        signer.public_key()
    );
    let sent = headers(first["headers"].as_array().unwrap());
    let signed = signer
        .sign(
            sent["webhook-id"].to_str().unwrap(),
            1_614_265_330,
            first["body"].as_str().unwrap().as_bytes(),
        )
        .unwrap();
    assert_eq!(signed["webhook-signature"], sent["webhook-signature"]);
}

/// The generators are checked in beside the fixtures they wrote.
#[test]
fn each_fixture_names_its_generator() {
    let gen_dir = vectors_dir().join("gen");
    let scripts: String = ["python_vectors.py", "node_vectors.mjs"]
        .iter()
        .map(|script| std::fs::read_to_string(gen_dir.join(script)).unwrap())
        .collect();
    for (scheme, _) in fixtures() {
        assert!(
            scripts.contains(&format!("(\"{scheme}\"")),
            "no generator writes {scheme}.json"
        );
    }
}
