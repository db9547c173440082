//! Delivery ids for senders that send none.

use sha2::{Digest, Sha256};

/// The id of a delivery whose sender gives none (Claravine, Clarity, Shopify
/// without its webhook-id header, ...): `sha256:` and the lowercase hex
/// SHA-256 of the raw body.
///
/// A sender's retry re-sends the same bytes, so it gets the same id and is
/// deduplicated by the queue; two distinct events with byte-identical bodies
/// are, by this definition, the same delivery. Claravine's body carries
/// `event_time`, `object_id`, `version` and `operation`, so distinct events
/// differ.
///
/// ```
/// let id = hookgate_receive::derived_delivery_id(b"{}");
/// assert_eq!(id, "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
/// ```
pub fn derived_delivery_id(body: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(body);
    let mut id = String::with_capacity(7 + 64);
    id.push_str("sha256:");
    for byte in digest.iter() {
        id.push(char::from(HEX[usize::from(byte >> 4)]));
        id.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answer_for_the_empty_body() {
        assert_eq!(
            derived_delivery_id(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn different_bodies_get_different_ids() {
        assert_ne!(derived_delivery_id(b"a"), derived_delivery_id(b"b"));
    }
}
