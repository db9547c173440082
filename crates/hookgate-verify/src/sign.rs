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
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::headers as h;
use crate::key::Material;
use crate::signed::Fields;
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
    /// The scheme signs with Ed25519 and this signer holds only the public
    /// key (a [`Verifier::signer`] of a verifier): build it with
    /// [`Signer::new`] from the secret key.
    #[error("signing needs the Ed25519 secret key; this signer holds only the public key")]
    NoSigningKey,
    /// The scheme signs the URL the request is sent to (Twilio) and none was
    /// given: use [`Signer::sign_with`].
    #[error("this scheme signs the request URL: give it (--url)")]
    UrlRequired,
}

/// Produces the headers a sender sets, with the first secret of a verifier's
/// configuration, or the Ed25519 secret key it was built from.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use hookgate_verify::{Scheme, Signer, Verifier};
///
/// // Standard Webhooks v1a: sign with whsk_ (the seed), verify with whpk_.
/// let signer = Signer::new(Scheme::Standard, "whsk_nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=")?;
/// let headers = signer.sign("msg_1", 1_700_000_000, b"{}")?;
/// assert!(headers["webhook-signature"].to_str()?.starts_with("v1a,"));
/// let verifier = Verifier::new(Scheme::Standard, signer.public_key().unwrap())?;
/// let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
/// assert!(verifier.verify_at(&headers, b"{}", now).is_ok());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Signer {
    verifier: Verifier,
    /// The Ed25519 secret key (zeroized on drop), for the schemes that sign
    /// with one.
    signing: Option<std::sync::Arc<ed25519_dalek::SigningKey>>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("verifier", &self.verifier)
            .field("signing_key", &self.signing.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

impl Signer {
    /// A signer for `scheme` with `secret`, interpreted as [`Verifier::new`]
    /// does, except for Ed25519: Standard Webhooks' `whsk_<base64>` (the
    /// 32-byte seed, or the seed then the public key) signs `v1a` entries,
    /// and Discord's secret is the 32-byte seed in 64 hex digits.
    ///
    /// # Errors
    ///
    /// As [`Verifier::new`]; an Ed25519 public key (`whpk_…`) cannot sign. A
    /// custom scheme needs its options: build a [`Verifier`] and call
    /// [`Verifier::signer`].
    pub fn new(scheme: Scheme, secret: impl AsRef<[u8]>) -> Result<Self, ConfigError> {
        let secret = secret.as_ref();
        if secret.is_empty() {
            return Err(ConfigError::EmptySecret);
        }
        if let Some(signing) = crate::key::ed25519_signing_key(scheme, secret)? {
            let verifier = Verifier::builder(scheme)
                .ed25519_public(signing.verifying_key())
                .build()?;
            return Ok(Self {
                verifier,
                signing: Some(std::sync::Arc::new(signing)),
            });
        }
        Verifier::new(scheme, secret).map(|verifier| verifier.signer())
    }

    /// The public key that verifies this signer's Ed25519 signatures, as a
    /// verifier takes it (`whpk_<base64>` for Standard Webhooks, 64 hex
    /// digits for Discord); `None` for shared-secret schemes.
    pub fn public_key(&self) -> Option<String> {
        let public = self.signing.as_ref()?.verifying_key();
        Some(match self.scheme() {
            Scheme::Discord => hex(public.as_bytes()),
            _ => format!("whpk_{}", base64(public.as_bytes())),
        })
    }

    /// The Ed25519 signature of the scheme's signed content over `fields`.
    fn ed25519(&self, fields: Fields<'_>) -> Result<[u8; 64], SignError> {
        use ed25519_dalek::Signer as _;
        let signing = self.signing.as_ref().ok_or(SignError::NoSigningKey)?;
        let message = self.verifier.inner.signed.message(fields);
        Ok(signing.sign(&message).to_bytes())
    }

    /// The scheme this signer signs for.
    pub fn scheme(&self) -> Scheme {
        self.verifier.scheme()
    }

    /// The headers for a delivery of `body` with id `id` at `timestamp` (Unix
    /// seconds). Schemes without a timestamp or an id ignore them (GitHub,
    /// Shopify, Linear and GitLab set their id header when `id` is not
    /// empty). Twitch's timestamp is written in RFC 3339, as Twitch does.
    ///
    /// Linear's timestamp is inside the body (`webhookTimestamp`, in
    /// milliseconds), which headers cannot set: [`Signer::request`] sets it.
    ///
    /// Claravine's token must also be in the body's `token` field, which
    /// headers cannot do: [`Signer::request`] puts it there, or
    /// [`Signer::prepare_body`] for a body sent some other way.
    ///
    /// # Errors
    ///
    /// [`SignError::InvalidId`] when the scheme carries an id in a header and
    /// `id` is empty or not a valid header value.
    pub fn sign(&self, id: &str, timestamp: u64, body: &[u8]) -> Result<HeaderMap, SignError> {
        self.sign_with(id, timestamp, body, crate::RequestContext::new())
    }

    /// [`Signer::sign`] with what the scheme may need beyond the body: the
    /// full URL the request is sent to, which Twilio signs (with the body's
    /// form parameters, or alone when the URL carries `bodySHA256`).
    ///
    /// # Errors
    ///
    /// As [`Signer::sign`]; [`SignError::UrlRequired`] when the scheme signs
    /// the URL and `context` has none.
    pub fn sign_with(
        &self,
        id: &str,
        timestamp: u64,
        body: &[u8],
        context: crate::RequestContext<'_>,
    ) -> Result<HeaderMap, SignError> {
        let inner = &*self.verifier.inner;
        let ts = timestamp.to_string();
        let fields = Fields {
            id: id.as_bytes(),
            timestamp: ts.as_bytes(),
            body,
        };
        let mut headers = HeaderMap::new();
        match inner.scheme {
            Scheme::Standard | Scheme::Svix => {
                let id_value = required_id(id)?;
                let signature = match self.first_material() {
                    Some(Material::Ed25519(_)) => format!("v1a,{}", base64(&self.ed25519(fields)?)),
                    _ => format!("v1,{}", base64(&self.hmac(fields))),
                };
                let (id_name, ts_name, sig_name) = if inner.scheme == Scheme::Svix {
                    (h::SVIX_ID, h::SVIX_TIMESTAMP, h::SVIX_SIGNATURE)
                } else {
                    (h::WEBHOOK_ID, h::WEBHOOK_TIMESTAMP, h::WEBHOOK_SIGNATURE)
                };
                headers.insert(id_name, id_value);
                headers.insert(ts_name, value(&ts));
                headers.insert(sig_name, value(&signature));
            }
            Scheme::Twilio => {
                let url = context.url().ok_or(SignError::UrlRequired)?;
                let params = match crate::twilio::body_hash(url, body) {
                    crate::twilio::BodyHash::Absent => crate::twilio::form_params(body),
                    _ => crate::twilio::Form::default(),
                };
                if let Some(Material::HmacSha1(keyed)) = self.first_material() {
                    let tag = crate::twilio::mac(keyed, &crate::twilio::as_given(url), &params);
                    headers.insert(h::TWILIO_SIGNATURE, value(&base64(&tag)));
                }
                optional_id(&mut headers, h::TWILIO_IDEMPOTENCY_TOKEN, id)?;
            }
            // The secret travels in the body: see `Signer::prepare_body`.
            Scheme::MsGraph => {}
            Scheme::Discord => {
                let signature = self.ed25519(fields)?;
                headers.insert(h::DISCORD_TIMESTAMP, value(&ts));
                headers.insert(h::DISCORD_SIGNATURE, value(&hex(&signature)));
            }
            Scheme::Clarife | Scheme::Stripe => {
                let tag = self.hmac(fields);
                let name = if inner.scheme == Scheme::Stripe {
                    h::STRIPE_SIGNATURE
                } else {
                    h::CLARIFE_SIGNATURE
                };
                headers.insert(name, value(&format!("t={ts},v1={}", hex(&tag))));
            }
            Scheme::GitHub => {
                let tag = self.hmac(fields);
                headers.insert(
                    h::GITHUB_SIGNATURE_256,
                    value(&format!("sha256={}", hex(&tag))),
                );
                optional_id(&mut headers, h::GITHUB_DELIVERY, id)?;
            }
            Scheme::Slack => {
                let tag = self.hmac(fields);
                headers.insert(h::SLACK_REQUEST_TIMESTAMP, value(&ts));
                headers.insert(h::SLACK_SIGNATURE, value(&format!("v0={}", hex(&tag))));
            }
            Scheme::Shopify => {
                let tag = self.hmac(fields);
                headers.insert(h::SHOPIFY_HMAC_SHA256, value(&base64(&tag)));
                optional_id(&mut headers, h::SHOPIFY_WEBHOOK_ID, id)?;
            }
            Scheme::Paddle => {
                let tag = self.hmac(fields);
                headers.insert(
                    h::PADDLE_SIGNATURE,
                    value(&format!("ts={ts};h1={}", hex(&tag))),
                );
            }
            Scheme::Linear => {
                let tag = self.hmac(fields);
                headers.insert(h::LINEAR_SIGNATURE, value(&hex(&tag)));
                optional_id(&mut headers, h::LINEAR_DELIVERY, id)?;
            }
            Scheme::Zoom => {
                let tag = self.hmac(fields);
                headers.insert(h::ZOOM_REQUEST_TIMESTAMP, value(&ts));
                headers.insert(h::ZOOM_SIGNATURE, value(&format!("v0={}", hex(&tag))));
            }
            Scheme::Twitch => {
                let id_value = required_id(id)?;
                let sent_at = crate::parse::format_rfc3339(timestamp);
                let tag = self.hmac(Fields {
                    id: id.as_bytes(),
                    timestamp: sent_at.as_bytes(),
                    body,
                });
                headers.insert(h::TWITCH_MESSAGE_ID, id_value);
                headers.insert(h::TWITCH_MESSAGE_TIMESTAMP, value(&sent_at));
                headers.insert(
                    h::TWITCH_MESSAGE_SIGNATURE,
                    value(&format!("sha256={}", hex(&tag))),
                );
                headers.insert(
                    h::TWITCH_MESSAGE_TYPE,
                    HeaderValue::from_static("notification"),
                );
            }
            Scheme::Meta => {
                let tag = self.hmac(fields);
                headers.insert(
                    h::META_SIGNATURE_256,
                    value(&format!("sha256={}", hex(&tag))),
                );
            }
            Scheme::Dropbox => {
                let tag = self.hmac(fields);
                headers.insert(h::DROPBOX_SIGNATURE, value(&hex(&tag)));
            }
            Scheme::GitLab => {
                headers.insert(h::GITLAB_TOKEN, value(self.token()));
                optional_id(&mut headers, h::GITLAB_EVENT_UUID, id)?;
            }
            Scheme::Claravine => {
                let token = self.token();
                headers.insert(h::AUTHORIZATION, value(&format!("Bearer {token}")));
            }
            Scheme::Clarity => {
                let name = inner.header.clone().unwrap_or(h::CLARITY_WEBHOOK_TOKEN);
                let prefix = inner.prefix.as_deref().unwrap_or("");
                headers.insert(name, value(&format!("{prefix}{}", self.token())));
            }
            Scheme::Custom => {
                if let Some(id_name) = &inner.id_header {
                    headers.insert(id_name.clone(), required_id(id)?);
                }
                if let Some(ts_name) = &inner.timestamp_header {
                    headers.insert(ts_name.clone(), value(&ts));
                }
                let tag = self.hmac(fields);
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
    /// headers of [`Signer::sign`]: the test helper for receivers. The body
    /// goes through [`Signer::prepare_body`] first, so for every scheme the
    /// request verifies (Claravine's carries the token in its body too), and
    /// a Linear body gets `webhookTimestamp` set to `timestamp`, in
    /// milliseconds, unless it already has one.
    ///
    /// ```
    /// # #[cfg(feature = "json")] {
    /// use hookgate_verify::{Scheme, Signer, Verifier};
    ///
    /// let signer = Signer::new(Scheme::Claravine, "client-secret")?;
    /// let request = signer.request("", 0, br#"{"event": "list", "operation": "updated"}"#.to_vec())?;
    /// assert!(std::str::from_utf8(request.body())?.contains(r#""token":"client-secret""#));
    /// let verifier = Verifier::new(Scheme::Claravine, "client-secret")?;
    /// assert!(verifier.verify(request.headers(), request.body()).is_ok());
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
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
        let body = self.prepare_body_at(body, timestamp);
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

    /// The body as the scheme's sender would send it. For Claravine, whose
    /// body repeats the bearer token, a JSON object body gets its top-level
    /// `token` set to this signer's token: added as the first member when
    /// absent, its value replaced when it differs, every other byte kept as
    /// given. Any other body, and every other scheme's, comes back unchanged
    /// (a Claravine body that is not a JSON object cannot verify).
    ///
    /// ```
    /// # #[cfg(feature = "json")] {
    /// use hookgate_verify::{Scheme, Signer};
    ///
    /// let signer = Signer::new(Scheme::Claravine, "client-secret")?;
    /// assert_eq!(
    ///     signer.prepare_body(r#"{"event": "list", "token": "old"}"#),
    ///     br#"{"event": "list", "token": "client-secret"}"#
    /// );
    /// assert_eq!(signer.prepare_body("{}"), br#"{"token":"client-secret"}"#);
    /// # }
    /// # Ok::<(), hookgate_verify::ConfigError>(())
    /// ```
    pub fn prepare_body(&self, body: impl Into<Vec<u8>>) -> Vec<u8> {
        let body = body.into();
        #[cfg(feature = "json")]
        if self.scheme() == Scheme::Claravine {
            return with_top_level(body, "token", self.token().into(), true);
        }
        #[cfg(feature = "json")]
        if self.scheme() == Scheme::MsGraph {
            return with_client_state(body, self.token());
        }
        body
    }

    /// [`Signer::prepare_body`], and for Linear the signed `webhookTimestamp`
    /// (milliseconds) when the body has none.
    fn prepare_body_at(&self, body: impl Into<Vec<u8>>, timestamp: u64) -> Vec<u8> {
        let body = self.prepare_body(body);
        #[cfg(feature = "json")]
        if self.scheme() == Scheme::Linear {
            let millis = serde_json::Value::from(timestamp.saturating_mul(1000));
            return with_top_level(body, "webhookTimestamp", millis, false);
        }
        #[cfg(not(feature = "json"))]
        let _ = timestamp;
        body
    }

    /// The tag of the scheme's signed content over `fields`: the same call
    /// the verifier makes to compute the tag it expects.
    fn hmac(&self, fields: Fields<'_>) -> [u8; 32] {
        let Some(Material::Hmac(keyed)) = self.first_material() else {
            // Every key of an HMAC scheme is an HMAC key (see `Key::from_secret`).
            return [0; 32];
        };
        self.verifier.inner.signed.mac(keyed, fields)
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
    /// sign for a custom scheme, or a clarity one with its own header).
    ///
    /// An Ed25519 verifier holds only public keys: its signer cannot sign
    /// ([`SignError::NoSigningKey`]); use [`Signer::new`] with the secret key.
    pub fn signer(&self) -> Signer {
        Signer {
            verifier: self.clone(),
            signing: None,
        }
    }
}

/// `body` with its top-level `field` set to `wanted`, when it is a JSON
/// object: added as the first member when absent; when present with another
/// value, replaced if `replace`, else left as it is.
#[cfg(feature = "json")]
fn with_top_level(body: Vec<u8>, field: &str, wanted: serde_json::Value, replace: bool) -> Vec<u8> {
    use serde_json::Value;

    let carries = |bytes: &[u8]| match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(object)) => Some(match object.get(field) {
            Some(value) => !replace || *value == wanted,
            None => false,
        }),
        _ => None,
    };
    match carries(&body) {
        None | Some(true) => return body,
        Some(false) => {}
    }
    let encoded = wanted.to_string();
    let mut edited = body.clone();
    match crate::json::top_level_value(&body, field) {
        Some(Ok(range)) => {
            edited.splice(range, encoded.into_bytes());
        }
        Some(Err(at)) => {
            let empty = body[at..].trim_ascii_start().starts_with(b"}");
            let key = Value::from(field).to_string();
            let member = format!("{key}:{encoded}{}", if empty { "" } else { "," });
            edited.splice(at..at, member.into_bytes());
        }
        None => {}
    }
    if carries(&edited) == Some(true) {
        return edited;
    }
    // A body the byte edit cannot handle (a duplicate or escaped `token`
    // key): rewrite the object, which keeps its members but not its layout.
    match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(mut object)) => {
            object.insert(field.to_owned(), wanted);
            serde_json::to_vec(&object).unwrap_or(body)
        }
        _ => body,
    }
}

/// A Microsoft Graph notification body with every item of its `value`
/// carrying `clientState: state` (rewritten by serde_json, so the layout is
/// not kept); a body that is not an object with a `value` array is unchanged.
#[cfg(feature = "json")]
fn with_client_state(body: Vec<u8>, state: &str) -> Vec<u8> {
    use serde_json::Value;
    let Ok(Value::Object(mut object)) = serde_json::from_slice::<Value>(&body) else {
        return body;
    };
    let Some(Value::Array(items)) = object.get_mut("value") else {
        return body;
    };
    let mut changed = false;
    for item in items.iter_mut() {
        if let Value::Object(item) = item
            && item.get("clientState").and_then(Value::as_str) != Some(state)
        {
            item.insert("clientState".to_owned(), Value::from(state));
            changed = true;
        }
    }
    if !changed {
        return body;
    }
    serde_json::to_vec(&object).unwrap_or(body)
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
