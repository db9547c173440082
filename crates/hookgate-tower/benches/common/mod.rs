//! What both benches share: the GitHub-style signature and (d), the
//! hand-written handler that does the least work that still does the job, so
//! the in-process figures (`layer`) and the load run (`load`) compare the
//! layer against the same baseline.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, KeyInit, Mac};
use hookgate_queue::{BoxFuture, Enqueue, EnqueueOutcome, NewDelivery, QueueError};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The secret every bench signs with.
pub(crate) const SECRET: &[u8] = b"load-test-secret";

const HEX: &[u8; 16] = b"0123456789abcdef";

/// `sha256=<hex of HMAC-SHA256(SECRET, body)>`, as GitHub sends it.
pub(crate) fn sign(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET).expect("any key length");
    mac.update(body);
    let mut header = String::with_capacity(7 + 64);
    header.push_str("sha256=");
    for b in mac.finalize().into_bytes() {
        header.push(char::from(HEX[usize::from(b >> 4)]));
        header.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    header
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// The 32 bytes that 64 hex digits spell, decoded in place (no allocation).
fn decode_tag(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.as_bytes();
    if hex.len() != 64 {
        return None;
    }
    let mut tag = [0u8; 32];
    for (byte, pair) in tag.iter_mut().zip(hex.chunks_exact(2)) {
        *byte = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(tag)
}

/// (d): read the body, decode the given signature once, HMAC the body,
/// compare the tags in constant time, push the bytes into a bounded mpsc.
pub(crate) async fn hand_written(
    State(tx): State<tokio::sync::mpsc::Sender<Bytes>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let Some(given) = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("sha256="))
        .and_then(decode_tag)
    else {
        return StatusCode::BAD_REQUEST;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET).expect("any key length");
    mac.update(&body);
    let expected = mac.finalize().into_bytes();
    if !bool::from(expected.as_slice().ct_eq(&given)) {
        return StatusCode::UNAUTHORIZED;
    }
    match tx.try_send(body) {
        Ok(()) => StatusCode::OK,
        Err(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// A bench queue that only takes deliveries: `enqueue` hands each one to its
/// function. The queues behind scenarios (i) and (j) of the load run.
pub(crate) struct EnqueueOnly<F>(F);

impl<F> std::fmt::Debug for EnqueueOnly<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EnqueueOnly")
    }
}

/// The least a queue can do: hand the body to a bounded channel. Isolates
/// the layer's own cost from the in-memory queue's bookkeeping (dedup map,
/// due-time index).
pub(crate) fn channel_queue(
    tx: tokio::sync::mpsc::Sender<Bytes>,
) -> EnqueueOnly<impl Fn(NewDelivery) -> Result<EnqueueOutcome, QueueError> + Send + Sync + 'static>
{
    EnqueueOnly(move |d: NewDelivery| match tx.try_send(d.body) {
        Ok(()) => Ok(EnqueueOutcome::Enqueued),
        Err(_) => Err(QueueError::full(std::time::Duration::from_secs(1))),
    })
}

/// The least a queue that keeps what it acknowledges in memory can do: copy
/// each body into a `Vec` (no index, no dedup, no headers). The floor under
/// any in-memory back-end.
pub(crate) fn keeping_queue()
-> EnqueueOnly<impl Fn(NewDelivery) -> Result<EnqueueOutcome, QueueError> + Send + Sync + 'static> {
    let kept = std::sync::Mutex::new(Vec::new());
    EnqueueOnly(move |d: NewDelivery| {
        let body = Bytes::copy_from_slice(&d.body);
        kept.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(body);
        Ok(EnqueueOutcome::Enqueued)
    })
}

impl<F> Enqueue for EnqueueOnly<F>
where
    F: Fn(NewDelivery) -> Result<EnqueueOutcome, QueueError> + Send + Sync + 'static,
{
    fn enqueue(&self, d: NewDelivery) -> BoxFuture<'_, Result<EnqueueOutcome, QueueError>> {
        let result = (self.0)(d);
        Box::pin(async move { result })
    }
}
