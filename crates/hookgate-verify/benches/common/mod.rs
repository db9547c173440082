//! What both benches measure on: bodies, secrets, and the headers a delivery
//! arrives with.

use hookgate_verify::Scheme;
use http::{HeaderMap, HeaderValue};

pub(crate) const STANDARD_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
pub(crate) const RAW_SECRET: &str = "a-32-byte-signing-secret-value!!";

/// A JSON envelope of exactly `size` bytes, like a real delivery.
pub(crate) fn body(size: usize) -> Vec<u8> {
    let head = br#"{"id":"evt_a1b2c3d4-5678-90ab-cdef-1234567890ab","type":"document.updated","data":{"text":""#;
    let tail = br#""}}"#;
    let mut body = head.to_vec();
    body.resize(size - tail.len(), b'x');
    body.extend_from_slice(tail);
    body
}

/// The signed headers among what a delivery really arrives with: the
/// sender's own headers before them, a proxy's after them. The verifier has to
/// find its headers among these, as it would in production.
pub(crate) fn delivered(signed: HeaderMap) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("host", "hooks.example.com"),
        ("user-agent", "Sender-Webhooks/1.0"),
        ("content-type", "application/json"),
        ("content-length", "1024"),
        ("accept-encoding", "gzip"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    for (name, value) in &signed {
        headers.append(name, value.clone());
    }
    for (name, value) in [
        ("x-forwarded-for", "203.0.113.7"),
        ("x-forwarded-proto", "https"),
        ("x-request-id", "4bf92f3577b34da6a3ce929d0e0e4736"),
        (
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    headers
}

pub(crate) fn secret_for(scheme: Scheme) -> &'static str {
    match scheme {
        Scheme::Standard | Scheme::Svix => STANDARD_SECRET,
        _ => RAW_SECRET,
    }
}

/// The HMAC schemes with a fixed header layout (every scheme but the tokens,
/// the custom one and Discord's Ed25519), in the order of [`Scheme::ALL`].
pub(crate) fn schemes() -> impl Iterator<Item = Scheme> {
    Scheme::ALL
        .into_iter()
        .filter(|scheme| !scheme.is_token() && !matches!(scheme, Scheme::Custom | Scheme::Discord))
}

/// [`body`] as `scheme` sends it, still `size` bytes: Linear's carries its
/// signed `webhookTimestamp` (milliseconds) as its first member.
pub(crate) fn body_for(scheme: Scheme, size: usize, unix: u64) -> Vec<u8> {
    let mut body = body(size);
    if scheme == Scheme::Linear {
        let member = format!(r#""webhookTimestamp":{},"#, unix * 1000);
        body.splice(1..1, member.into_bytes());
        // Shorten the padding so the size stays the same.
        let tail = body.len() - 3;
        body.drain(tail - (body.len() - size)..tail);
    }
    body
}

/// The message id every signed delivery carries.
pub(crate) const MESSAGE_ID: &str = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W";

/// A delivery of `body` signed for `scheme` at `unix`, as it arrives.
pub(crate) fn signed(scheme: Scheme, unix: u64, body: &[u8]) -> HeaderMap {
    let signer = hookgate_verify::Signer::new(scheme, secret_for(scheme)).unwrap();
    delivered(signer.sign(MESSAGE_ID, unix, body).unwrap())
}
