//! Signing: the headers a sender would set, for tests, tools and the
//! `hookgate sign` command. Always available (no feature gate).
//!
//! ```
//! use hookgate_verify::{Scheme, Verifier, sign::Signer};
//!
//! let signer = Signer::new(Scheme::Standard, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")?;
//! let request = signer.request("msg_1", 1_700_000_000, br#"{"ok":true}"#.to_vec())?;
//! assert!(request.headers().contains_key("webhook-signature"));
//!
//! let verifier = Verifier::new(Scheme::Standard, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")?;
//! let now = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
//! let verified = verifier.verify_at(request.headers(), request.body(), now)?;
//! assert_eq!(verified.delivery_id(), Some("msg_1"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt::Write as _;

use base64::Engine as _;
use hmac::Mac as _;
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::headers as h;
use crate::key::Material;
use crate::template::Part;
use crate::verifier::SignatureEncoding;
use crate::{ConfigError, Scheme, Verifier};

/// Why headers could not be produced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// The scheme needs a delivery id and none was given, or it cannot be a
    /// header value.
    #[error("delivery id is empty or cannot be sent in a header")]
    InvalidId,
}

/// Produces the headers a sender sets, with the first secret of a verifier's
/// configuration.
#[derive(Debug, Clone)]
pub struct Signer {
    verifier: Verifier,
}

impl Signer {
    /// A signer for `scheme` with `secret`, interpreted as [`Verifier::new`] does.
    ///
    /// # Errors
    ///
    /// As [`Verifier::new`]. A custom scheme needs its options: build a
    /// [`Verifier`] and call [`Verifier::signer`].
    pub fn new(scheme: Scheme, secret: impl AsRef<[u8]>) -> Result<Self, ConfigError> {
        Verifier::new(scheme, secret).map(|verifier| verifier.signer())
    }

    /// The scheme this signer signs for.
    pub fn scheme(&self) -> Scheme {
        self.verifier.scheme()
    }

    /// The headers for a delivery of `body` with id `id` at `timestamp` (Unix
    /// seconds). Schemes without a timestamp or an id ignore them (GitHub and
    /// Shopify set their id header when `id` is not empty).
    ///
    /// Claravine's token must also be in the body's `token` field: that is
    /// the caller's part.
    ///
    /// # Errors
    ///
    /// [`SignError::InvalidId`] when the scheme carries an id in a header and
    /// `id` is empty or not a valid header value.
    pub fn sign(&self, id: &str, timestamp: u64, body: &[u8]) -> Result<HeaderMap, SignError> {
        let inner = &*self.verifier.inner;
        let ts = timestamp.to_string();
        let mut headers = HeaderMap::new();
        match inner.scheme {
            Scheme::Standard | Scheme::Svix => {
                let id_value = required_id(id)?;
                let tag = self.hmac(&[id.as_bytes(), b".", ts.as_bytes(), b".", body]);
                let (id_name, ts_name, sig_name) = if inner.scheme == Scheme::Svix {
                    (h::SVIX_ID, h::SVIX_TIMESTAMP, h::SVIX_SIGNATURE)
                } else {
                    (h::WEBHOOK_ID, h::WEBHOOK_TIMESTAMP, h::WEBHOOK_SIGNATURE)
                };
                headers.insert(id_name, id_value);
                headers.insert(ts_name, value(&ts));
                headers.insert(sig_name, value(&format!("v1,{}", base64(&tag))));
            }
            Scheme::Clarife => {
                let tag = self.hmac(&[body]);
                headers.insert(
                    h::CLARIFE_SIGNATURE,
                    value(&format!("t={ts},v1={}", hex(&tag))),
                );
            }
            Scheme::Stripe => {
                let tag = self.hmac(&[ts.as_bytes(), b".", body]);
                headers.insert(
                    h::STRIPE_SIGNATURE,
                    value(&format!("t={ts},v1={}", hex(&tag))),
                );
            }
            Scheme::Github => {
                let tag = self.hmac(&[body]);
                headers.insert(
                    h::GITHUB_SIGNATURE_256,
                    value(&format!("sha256={}", hex(&tag))),
                );
                optional_id(&mut headers, h::GITHUB_DELIVERY, id)?;
            }
            Scheme::Slack => {
                let tag = self.hmac(&[b"v0:", ts.as_bytes(), b":", body]);
                headers.insert(h::SLACK_REQUEST_TIMESTAMP, value(&ts));
                headers.insert(h::SLACK_SIGNATURE, value(&format!("v0={}", hex(&tag))));
            }
            Scheme::Shopify => {
                let tag = self.hmac(&[body]);
                headers.insert(h::SHOPIFY_HMAC_SHA256, value(&base64(&tag)));
                optional_id(&mut headers, h::SHOPIFY_WEBHOOK_ID, id)?;
            }
            Scheme::Claravine => {
                let token = self.token();
                headers.insert(h::AUTHORIZATION, value(&format!("Bearer {token}")));
            }
            Scheme::HeaderToken => {
                let name = inner.header.clone().unwrap_or(h::CLARITY_WEBHOOK_TOKEN);
                let prefix = inner.prefix.as_deref().unwrap_or("");
                headers.insert(name, value(&format!("{prefix}{}", self.token())));
            }
            Scheme::CustomHmac => {
                if let Some(id_name) = &inner.id_header {
                    headers.insert(id_name.clone(), required_id(id)?);
                }
                if let Some(ts_name) = &inner.timestamp_header {
                    headers.insert(ts_name.clone(), value(&ts));
                }
                let parts: Vec<&[u8]> = inner
                    .template
                    .parts
                    .iter()
                    .map(|part| match part {
                        Part::Literal(bytes) => &**bytes,
                        Part::Id => id.as_bytes(),
                        Part::Timestamp => ts.as_bytes(),
                        Part::Body => body,
                    })
                    .collect();
                let tag = self.hmac(&parts);
                let encoded = match inner.encoding {
                    SignatureEncoding::Hex => hex(&tag),
                    SignatureEncoding::Base64 => base64(&tag),
                };
                let prefix = inner.prefix.as_deref().unwrap_or("");
                if let Some(name) = &inner.header {
                    headers.insert(name.clone(), value(&format!("{prefix}{encoded}")));
                }
            }
        }
        Ok(headers)
    }

    /// A complete `POST /` request of `body` (as `application/json`) with the
    /// headers of [`Signer::sign`]: the test helper for receivers.
    ///
    /// # Errors
    ///
    /// As [`Signer::sign`].
    pub fn request(
        &self,
        id: &str,
        timestamp: u64,
        body: impl Into<Vec<u8>>,
    ) -> Result<http::Request<Vec<u8>>, SignError> {
        let body = body.into();
        let headers = self.sign(id, timestamp, &body)?;
        let mut request = http::Request::new(body);
        *request.method_mut() = http::Method::POST;
        request.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        request.headers_mut().extend(headers);
        Ok(request)
    }

    fn hmac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let Some(Material::Hmac(keyed)) = self.first_material() else {
            // Every key of an HMAC scheme is an HMAC key (see `Key::from_secret`).
            return [0; 32];
        };
        let mut mac = (**keyed).clone();
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    fn token(&self) -> &str {
        match self.first_material() {
            // Tokens were checked to be visible ASCII when configured.
            Some(Material::Token { raw, .. }) => std::str::from_utf8(raw).unwrap_or_default(),
            _ => "",
        }
    }

    fn first_material(&self) -> Option<&Material> {
        self.verifier.inner.keys.first().map(|key| &key.material)
    }
}

impl Verifier {
    /// A [`Signer`] using this verifier's first secret and options (the way to
    /// sign for a custom or header-token scheme).
    pub fn signer(&self) -> Signer {
        Signer {
            verifier: self.clone(),
        }
    }
}

fn value(text: &str) -> HeaderValue {
    // Everything passed here is ASCII we produced (digits, hex, base64,
    // validated prefixes and tokens), which is always a valid header value.
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn required_id(id: &str) -> Result<HeaderValue, SignError> {
    if id.is_empty() {
        return Err(SignError::InvalidId);
    }
    HeaderValue::from_str(id).map_err(|_| SignError::InvalidId)
}

fn optional_id(headers: &mut HeaderMap, name: HeaderName, id: &str) -> Result<(), SignError> {
    if !id.is_empty() {
        headers.insert(name, required_id(id)?);
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

fn base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
