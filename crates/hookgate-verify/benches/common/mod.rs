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
/// the custom one, Discord's Ed25519 and Twilio's URL-signing HMAC-SHA1), in
/// the order of [`Scheme::ALL`].
pub(crate) fn schemes() -> impl Iterator<Item = Scheme> {
    Scheme::ALL.into_iter().filter(|scheme| {
        !scheme.is_token()
            && !scheme.needs_url()
            && !matches!(scheme, Scheme::Custom | Scheme::Discord)
    })
}

/// [`body`] as `scheme` sends it, still `size` bytes: Linear's ends with its
/// signed `webhookTimestamp` (milliseconds) and `webhookId`, after `data`, as
/// Linear sends them (samples/linear.json), so the verifier walks the whole
/// top level to reach it; Paddle's is laid out as Paddle sends it
/// ([`paddle_body`]).
pub(crate) fn body_for(scheme: Scheme, size: usize, unix: u64) -> Vec<u8> {
    if scheme == Scheme::Paddle {
        return paddle_body(size);
    }
    let mut body = body(size);
    if scheme == Scheme::Linear {
        let members = format!(
            r#","webhookTimestamp":{},"webhookId":"000042e3-d123-4980-b49f-8e140eef9329""#,
            unix * 1000
        );
        let end = body.len() - 1;
        body.splice(end..end, members.into_bytes());
        // Shorten the padding (before `"}`, `}` and the members) so the size
        // stays the same.
        let tail = size - 3;
        body.drain(tail - (body.len() - size)..tail);
    }
    body
}

/// A Paddle Billing notification of exactly `size` bytes, compact as Paddle
/// sends it and in its member order (samples/paddle.json, the SDK's
/// vectors): `event_id` first, then the event's type, time and notification
/// id, then `data`, here a transaction whose items fill the size (the last
/// bytes pad a note). The verifier reads `event_id` as the delivery id and
/// must still walk the whole top level to refuse a second one. Below about
/// 400 bytes, where a transaction does not fit, `data` holds the note alone.
pub(crate) fn paddle_body(size: usize) -> Vec<u8> {
    const HEAD: &str = concat!(
        r#"{"event_id":"evt_01h8bzakzx3hm2fmen703n5q45","event_type":"transaction.completed","#,
        r#""occurred_at":"2023-08-21T11:57:47.390028Z","#,
        r#""notification_id":"ntf_01h8bzam1z32agrxjwhjgqk8w6","data":{"#,
    );
    const TRANSACTION: &str = concat!(
        r#""id":"txn_01h8bz8vnexbnpdhm3cgzm8bnd","status":"completed","#,
        r#""customer_id":"ctm_01h8441jn5pcwrfhwh78jqt8hk","currency_code":"USD","#,
        r#""origin":"web","collection_mode":"automatic","items":["#,
    );
    const ITEM: &str = r#"{"price":{"id":"pri_01gsz8x8sawmvhz1pv30nge1ke"},"quantity":10}"#;
    const NOTE: &str = r#""custom_data":{"note":""#;
    const TAIL: &str = r#""}}}"#;
    let mut body = HEAD.to_owned();
    let fixed = HEAD.len() + NOTE.len() + TAIL.len();
    if fixed + TRANSACTION.len() + ITEM.len() + 2 <= size {
        body.push_str(TRANSACTION);
        body.push_str(ITEM);
        // Room for `,ITEM` and the `],` that closes the items.
        while body.len() + 1 + ITEM.len() + 2 + NOTE.len() + TAIL.len() <= size {
            body.push(',');
            body.push_str(ITEM);
        }
        body.push_str("],");
    }
    body.push_str(NOTE);
    let mut body = body.into_bytes();
    body.resize(size.saturating_sub(TAIL.len()).max(body.len()), b'x');
    body.extend_from_slice(TAIL.as_bytes());
    body
}

/// The message id every signed delivery carries.
pub(crate) const MESSAGE_ID: &str = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W";

/// A delivery of `body` signed for `scheme` at `unix`, as it arrives.
pub(crate) fn signed(scheme: Scheme, unix: u64, body: &[u8]) -> HeaderMap {
    let signer = hookgate_verify::Signer::new(scheme, secret_for(scheme)).unwrap();
    delivered(signer.sign(MESSAGE_ID, unix, body).unwrap())
}
