//! Values a sender asks a receiver to sign in a handshake.

use hmac::Mac as _;

use crate::Verifier;
use crate::key::Material;

impl Verifier {
    /// The lowercase hex HMAC-SHA256 of `message` under the first secret,
    /// for a sender that asks the receiver to prove it holds the secret:
    /// Zoom's `endpoint.url_validation` is answered with
    /// `encryptedToken` = hex(HMAC-SHA256(secret token, `plainToken`)).
    /// `None` when the first secret is a token, not an HMAC key.
    ///
    /// ```
    /// use hookgate_verify::{Scheme, Verifier};
    ///
    /// let zoom = Verifier::new(Scheme::Zoom, "Wvs0_T9rQ_2oVTNrjLjFDw")?;
    /// let answer = zoom.hmac_sha256_hex(b"qgg8vlvZRS6UYooatFL8Aw").unwrap();
    /// assert_eq!(answer.len(), 64);
    /// assert!(Verifier::new(Scheme::Clarity, "token")?.hmac_sha256_hex(b"x").is_none());
    /// # Ok::<(), hookgate_verify::ConfigError>(())
    /// ```
    pub fn hmac_sha256_hex(&self, message: &[u8]) -> Option<String> {
        let Material::Hmac(keyed) = &self.inner.keys.first()?.material else {
            return None;
        };
        let mut mac = (**keyed).clone();
        mac.update(message);
        let tag = mac.finalize().into_bytes();
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = String::with_capacity(tag.len() * 2);
        for b in tag {
            out.push(char::from(DIGITS[usize::from(b >> 4)]));
            out.push(char::from(DIGITS[usize::from(b & 0xf)]));
        }
        Some(out)
    }
}
