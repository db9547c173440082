//! Key material: pre-keyed HMAC states and token digests, zeroized on drop.

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use hmac::{Hmac, KeyInit as _};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::{ConfigError, Scheme};

pub(crate) type HmacSha256 = Hmac<Sha256>;

/// Which configured secret authenticated a delivery: its position in the order
/// the secrets were given, and the id given with it, if any.
///
/// `Display` prints the id when there is one, else the index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyId {
    index: usize,
    id: Option<Arc<str>>,
}

impl KeyId {
    pub(crate) fn new(index: usize, id: Option<Arc<str>>) -> Self {
        Self { index, id }
    }

    /// Position of the secret among the configured ones, from 0.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The id given with [`VerifierBuilder::secret_with_id`](crate::VerifierBuilder::secret_with_id), if any.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.id {
            Some(id) => f.write_str(id),
            None => write!(f, "{}", self.index),
        }
    }
}

/// What a configured secret became.
///
/// HMAC secrets are kept only as the HMAC state after absorbing the padded key
/// (this saves two SHA-256 blocks per request); `hmac`/`sha2` are built with
/// their `zeroize` feature so that state is wiped on drop. Tokens are compared
/// through their SHA-256 digest so the comparison takes the same time whatever
/// the presented token's length; the raw token is kept (zeroized) for signing.
pub(crate) enum Material {
    Hmac(Box<HmacSha256>),
    /// An Ed25519 public key (Standard Webhooks `whpk_`, Discord's hex key):
    /// it verifies, it cannot sign.
    Ed25519(Box<ed25519_dalek::VerifyingKey>),
    /// Twilio's auth token, absorbed into an HMAC-SHA1 state.
    HmacSha1(Box<crate::twilio::HmacSha1>),
    Token {
        digest: Zeroizing<[u8; 32]>,
        raw: Zeroizing<Vec<u8>>,
    },
}

pub(crate) struct Key {
    pub(crate) id: KeyId,
    pub(crate) material: Material,
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("id", &self.id)
            .field("secret", &format_args!("[redacted]"))
            .finish()
    }
}

pub(crate) fn token_digest(token: &[u8]) -> [u8; 32] {
    Sha256::digest(token).into()
}

impl Key {
    pub(crate) fn from_secret(
        scheme: Scheme,
        index: usize,
        id: Option<Arc<str>>,
        secret: &[u8],
    ) -> Result<Self, ConfigError> {
        if secret.is_empty() {
            return Err(ConfigError::EmptySecret);
        }
        let id = KeyId::new(index, id);
        if scheme.is_token() {
            if secret.iter().any(|b| !(0x20..0x7f).contains(b)) || secret.trim_ascii() != secret {
                return Err(ConfigError::MalformedSecret {
                    reason: "a token must be visible ASCII without surrounding spaces",
                });
            }
            return Ok(Key {
                id,
                material: Material::Token {
                    digest: Zeroizing::new(token_digest(secret)),
                    raw: Zeroizing::new(secret.to_vec()),
                },
            });
        }
        if scheme == Scheme::Twilio {
            let mac = crate::twilio::key(secret).ok_or(ConfigError::MalformedSecret {
                reason: "HMAC refused the key length",
            })?;
            return Ok(Key {
                id,
                material: Material::HmacSha1(Box::new(mac)),
            });
        }
        if let Some(public) = ed25519_public_key(scheme, secret)? {
            return Ok(Key {
                id,
                material: Material::Ed25519(Box::new(public)),
            });
        }
        let decoded;
        let key_bytes: &[u8] = match scheme {
            Scheme::Standard | Scheme::Svix => {
                decoded = decode_whsec(secret)?;
                &decoded
            }
            _ => secret,
        };
        let mac =
            HmacSha256::new_from_slice(key_bytes).map_err(|_| ConfigError::MalformedSecret {
                reason: "HMAC refused the key length",
            })?;
        Ok(Key {
            id,
            material: Material::Hmac(Box::new(mac)),
        })
    }
}

/// The Ed25519 public key a verifier's secret is, for the schemes that sign
/// with Ed25519: Standard Webhooks' `whpk_<base64>` (its `whsec_` secrets stay
/// HMAC keys) and Discord's application public key, 64 hex digits.
fn ed25519_public_key(
    scheme: Scheme,
    secret: &[u8],
) -> Result<Option<ed25519_dalek::VerifyingKey>, ConfigError> {
    let bytes: Zeroizing<Vec<u8>> = match scheme {
        Scheme::Standard => {
            if secret.starts_with(b"whsk_") {
                return Err(ConfigError::MalformedSecret {
                    reason: "a verifier takes the public key (whpk_...); whsk_ keys sign",
                });
            }
            let Some(encoded) = secret.strip_prefix(b"whpk_") else {
                return Ok(None);
            };
            decode_base64(encoded, "a whpk_ key must be base64 after its prefix")?
        }
        Scheme::Discord => decode_hex(secret).ok_or(ConfigError::MalformedSecret {
            reason: "a Discord public key is 64 hex digits",
        })?,
        _ => return Ok(None),
    };
    let bytes: [u8; 32] =
        bytes
            .as_slice()
            .try_into()
            .map_err(|_| ConfigError::MalformedSecret {
                reason: "an Ed25519 public key is 32 bytes",
            })?;
    let key = ed25519_dalek::VerifyingKey::from_bytes(&bytes).map_err(|_| {
        ConfigError::MalformedSecret {
            reason: "not an Ed25519 public key",
        }
    })?;
    // A key of small order would verify forged signatures.
    if key.is_weak() {
        return Err(ConfigError::MalformedSecret {
            reason: "a weak Ed25519 public key",
        });
    }
    Ok(Some(key))
}

/// The Ed25519 signing key of a signer's secret, for the schemes that sign
/// with Ed25519: Standard Webhooks' `whsk_<base64>` (of the 32-byte seed, or
/// of the seed then the public key, 64 bytes, whose public half must be the
/// seed's) and Discord's 64 hex digits of the seed. `None` for any other
/// secret (Standard's `whsec_` signs with HMAC).
pub(crate) fn ed25519_signing_key(
    scheme: Scheme,
    secret: &[u8],
) -> Result<Option<ed25519_dalek::SigningKey>, ConfigError> {
    let bytes: Zeroizing<Vec<u8>> = match scheme {
        Scheme::Standard => {
            if secret.starts_with(b"whpk_") {
                return Err(ConfigError::MalformedSecret {
                    reason: "signing takes the secret key (whsk_...); whpk_ keys verify",
                });
            }
            let Some(encoded) = secret.strip_prefix(b"whsk_") else {
                return Ok(None);
            };
            decode_base64(encoded, "a whsk_ key must be base64 after its prefix")?
        }
        Scheme::Discord => decode_hex(secret).ok_or(ConfigError::MalformedSecret {
            reason: "a Discord signing seed is 64 hex digits",
        })?,
        _ => return Ok(None),
    };
    let (seed, public) = match bytes.len() {
        32 => (&bytes[..], None),
        64 => (&bytes[..32], Some(&bytes[32..])),
        _ => {
            return Err(ConfigError::MalformedSecret {
                reason: "an Ed25519 secret key is a 32-byte seed (or the seed then the public key)",
            });
        }
    };
    let mut seed_bytes = Zeroizing::new([0u8; 32]);
    seed_bytes.copy_from_slice(seed);
    let key = ed25519_dalek::SigningKey::from_bytes(&seed_bytes);
    if public.is_some_and(|public| public != key.verifying_key().as_bytes()) {
        return Err(ConfigError::MalformedSecret {
            reason: "the public half of the whsk_ key is not the seed's",
        });
    }
    Ok(Some(key))
}

fn decode_base64(encoded: &[u8], reason: &'static str) -> Result<Zeroizing<Vec<u8>>, ConfigError> {
    base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map(Zeroizing::new)
        .map_err(|_| ConfigError::MalformedSecret { reason })
}

/// 64 hex digits, in either case, into 32 bytes.
fn decode_hex(text: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    if text.len() != 64 {
        return None;
    }
    let digit = |byte: u8| char::from(byte).to_digit(16);
    let mut out = Zeroizing::new(Vec::with_capacity(32));
    for pair in text.chunks_exact(2) {
        let value = digit(pair[0])? * 16 + digit(pair[1])?;
        out.push(u8::try_from(value).ok()?);
    }
    Some(out)
}

/// Decodes a Standard Webhooks secret: `whsec_` (optional) followed by base64.
fn decode_whsec(secret: &[u8]) -> Result<Zeroizing<Vec<u8>>, ConfigError> {
    let encoded = secret.strip_prefix(b"whsec_").unwrap_or(secret);
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map(Zeroizing::new)
        .map_err(|_| ConfigError::MalformedSecret {
            reason: "a Standard Webhooks secret must be base64 after the whsec_ prefix",
        })?;
    if decoded.is_empty() {
        return Err(ConfigError::EmptySecret);
    }
    Ok(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_malformed_secrets_are_refused() {
        for scheme in Scheme::ALL {
            assert_eq!(
                Key::from_secret(scheme, 0, None, b"").unwrap_err(),
                ConfigError::EmptySecret
            );
        }
        assert_eq!(
            Key::from_secret(Scheme::Standard, 0, None, b"whsec_").unwrap_err(),
            ConfigError::EmptySecret
        );
        assert!(matches!(
            Key::from_secret(Scheme::Svix, 0, None, b"whsec_not base64!").unwrap_err(),
            ConfigError::MalformedSecret { .. }
        ));
        assert!(matches!(
            Key::from_secret(Scheme::Clarity, 0, None, b" spaced ").unwrap_err(),
            ConfigError::MalformedSecret { .. }
        ));
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let key = Key::from_secret(Scheme::Clarife, 0, None, b"supersecret").unwrap();
        let shown = format!("{key:?}");
        assert!(shown.contains("[redacted]"));
        assert!(!shown.contains("supersecret"));
    }
}
