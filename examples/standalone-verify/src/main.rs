//! Run with: cargo run -p example-standalone-verify
//!
//! hookgate-verify needs no web framework and no async runtime: give it the
//! headers and the body bytes exactly as received, get a verified delivery
//! or a refusal that says what is wrong and which status to answer. This
//! example verifies clarife's documented sample delivery (`samples/clarife.json`,
//! secret `whsec_sample`), then a tampered copy, then a replay.

use std::time::{Duration, UNIX_EPOCH};

use hookgate_verify::{Scheme, Verifier, VerifyError};
use http::{HeaderMap, HeaderValue, StatusCode};

/// The body of clarife's documentation, byte for byte.
const BODY: &[u8] = include_bytes!("../../../samples/clarife.json");
/// The signature clarife would send for it at 1774699200 with `whsec_sample`.
const SIGNATURE: &str =
    "t=1774699200,v1=9c710756f7069d313542208bc0003147b1b1b7a6aa18bca44d4a4f3b585b2a74";

/// What a receiver of any kind (a CGI script, a lambda, a queue consumer)
/// does: verify, then answer with the status the verifier suggests.
fn receive(verifier: &Verifier, headers: &HeaderMap, body: &[u8], now_unix: u64) -> StatusCode {
    let now = UNIX_EPOCH + Duration::from_secs(now_unix);
    match verifier.verify_at(headers, body, now) {
        Ok(verified) => {
            println!(
                "accepted: scheme={} id={} signed at {} with key #{}",
                verified.scheme(),
                verified.delivery_id().unwrap_or("-"),
                verified.timestamp().unwrap_or_default(),
                verified.key().index()
            );
            StatusCode::OK
        }
        Err(refused) => {
            report(&refused);
            refused.status()
        }
    }
}

fn report(refused: &VerifyError) {
    // The message is safe to send back to the sender: it never holds a secret.
    println!("refused ({}): {refused}", refused.status());
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let verifier = Verifier::new(Scheme::Clarife, "whsec_sample")?;
    let mut headers = HeaderMap::new();
    headers.insert("x-clarife-signature", HeaderValue::from_static(SIGNATURE));

    // 30 seconds after it was signed: accepted.
    assert_eq!(
        receive(&verifier, &headers, BODY, 1_774_699_230),
        StatusCode::OK
    );

    // One byte changed on the way: refused with 401.
    let mut tampered = BODY.to_vec();
    tampered[20] ^= 0x01;
    assert_eq!(
        receive(&verifier, &headers, &tampered, 1_774_699_230),
        StatusCode::UNAUTHORIZED
    );

    // The same delivery replayed an hour later: outside the 5-minute tolerance.
    assert_eq!(
        receive(&verifier, &headers, BODY, 1_774_702_800),
        StatusCode::UNAUTHORIZED
    );
    Ok(())
}
