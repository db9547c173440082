//! [`Verifier`], its builder, and the [`Verified`] result.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hookgate_core::Clock;
use http::{HeaderMap, HeaderName, HeaderValue};
use subtle::ConstantTimeEq as _;

use crate::error::{Malformed, VerifyErrorKind};
use crate::headers as h;
use crate::key::{Key, KeyId, Material, token_digest};
use crate::parse::{self, Signatures, Tags, header_str, header_text, malformed};
use crate::signed::{Fields, Part, SignedContent};
use crate::{ConfigError, Scheme, VerifyError};

/// The default tolerance, in both directions, between a signed timestamp and
/// the receiver's clock: 5 minutes, as clarife, Stripe, Slack and Standard
/// Webhooks recommend. Paddle, Linear and Twitch have their own
/// ([`Scheme::default_tolerance`]).
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(5 * 60);

/// What a verification may need beyond the headers and the body: the full
/// URL the sender called, which Twilio signs. The URL is the public one (as
/// the sender saw it, before any proxy rewrote it), query string included.
///
/// ```
/// use hookgate_verify::{RequestContext, Scheme, Signer, Verifier};
///
/// let url = "https://hooks.example.com/hooks/twilio?tenant=7";
/// let body = b"From=%2B14158675309&Body=Hello";
/// let context = RequestContext::new().with_url(url);
/// let headers = Signer::new(Scheme::Twilio, "auth-token")?.sign_with("", 0, body, context)?;
/// let verifier = Verifier::new(Scheme::Twilio, "auth-token")?;
/// assert!(verifier.verify_with(&headers, body, context).is_ok());
/// // Another URL, or none, is refused.
/// assert!(verifier.verify_with(&headers, body, RequestContext::new().with_url("https://evil.example/")).is_err());
/// assert_eq!(verifier.verify(&headers, body).unwrap_err().status(), 500);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestContext<'a> {
    url: Option<&'a str>,
}

impl<'a> RequestContext<'a> {
    /// No URL.
    pub const fn new() -> Self {
        Self { url: None }
    }

    /// The full URL the sender called: scheme, host, path and query.
    #[must_use]
    pub const fn with_url(mut self, url: &'a str) -> Self {
        self.url = Some(url);
        self
    }

    /// The URL, if given.
    pub const fn url(&self) -> Option<&'a str> {
        self.url
    }
}

/// How a custom scheme encodes its signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SignatureEncoding {
    /// 64 hex digits; the verifier accepts either case, the signer writes
    /// lowercase.
    #[default]
    Hex,
    /// Standard base64 with padding (44 characters).
    Base64,
}

/// Decides whether a delivery really came from its sender.
///
/// Cheap to clone (the configuration sits behind an `Arc`), `Send + Sync`, and
/// its `Debug` output never shows a secret.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use hookgate_verify::{Scheme, Signer, Verifier, VerifyErrorKind};
///
/// let verifier = Verifier::builder(Scheme::Clarife)
///     .secret("old-secret")?
///     .secret_with_id("2026-03", "new-secret")?
///     .tolerance(Duration::from_secs(120))
///     .build()?;
///
/// // What clarife would send, signed with the new secret at 1711612800.
/// let body = br#"{"id":"evt_1","type":"document.updated","created_at":"2024-03-28T08:00:00Z","data":{}}"#;
/// let headers = Signer::new(Scheme::Clarife, "new-secret")?.sign("", 1_711_612_800, body)?;
///
/// let now = UNIX_EPOCH + Duration::from_secs(1_711_612_830);
/// let verified = verifier.verify_at(&headers, body, now)?;
/// assert_eq!(verified.key().id(), Some("2026-03"));
/// assert_eq!(verified.delivery_id(), Some("evt_1"));
///
/// let later = now + Duration::from_secs(600);
/// let refused = verifier.verify_at(&headers, body, later).unwrap_err();
/// assert!(matches!(refused.kind(), VerifyErrorKind::TimestampTooOld { .. }));
/// assert_eq!(refused.status(), 401);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Verifier {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) scheme: Scheme,
    pub(crate) keys: Vec<Key>,
    past_tolerance: Duration,
    future_tolerance: Duration,
    /// `None` reads `SystemTime::now()` directly, without a virtual call.
    clock: Option<Arc<dyn Clock>>,
    /// The header of a clarity (token) or custom scheme.
    pub(crate) header: Option<HeaderName>,
    pub(crate) prefix: Option<Box<str>>,
    pub(crate) encoding: SignatureEncoding,
    /// What the signature covers (nothing, for token schemes).
    pub(crate) signed: SignedContent,
    pub(crate) timestamp_header: Option<HeaderName>,
    pub(crate) id_header: Option<HeaderName>,
    /// The body's top-level string field holding the delivery id, read after
    /// the signature matched when no header carries one.
    body_id_field: Option<crate::json::BodyField>,
    /// The body's top-level member holding the signed timestamp (Linear's
    /// `webhookTimestamp`).
    #[cfg(feature = "json")]
    body_timestamp_field: Option<crate::json::TopLevelKey>,
    /// Whether any key is an HMAC key, and whether any is an Ed25519 public
    /// key (a Standard Webhooks verifier may hold both during a migration).
    has_hmac: bool,
    has_ed25519: bool,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        f.debug_struct("Verifier")
            .field("scheme", &inner.scheme)
            .field(
                "keys",
                &inner.keys.iter().map(|k| &k.id).collect::<Vec<_>>(),
            )
            .field("secrets", &format_args!("[redacted]"))
            .field("past_tolerance", &inner.past_tolerance)
            .field("future_tolerance", &inner.future_tolerance)
            .field("header", &inner.header)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// Starts configuring a verifier for `scheme`.
    pub fn builder(scheme: Scheme) -> VerifierBuilder {
        VerifierBuilder {
            scheme,
            keys: Vec::new(),
            past_tolerance: scheme.default_tolerance(),
            future_tolerance: scheme.default_tolerance(),
            clock: None,
            header: None,
            prefix: None,
            encoding: None,
            signed_content: None,
            timestamp_header: None,
            id_header: None,
            id_from_body: false,
        }
    }

    /// A verifier for `scheme` with one secret and the defaults.
    ///
    /// # Errors
    ///
    /// When the secret is empty or malformed, or the scheme needs more options
    /// (the custom scheme needs at least its header).
    pub fn new(scheme: Scheme, secret: impl AsRef<[u8]>) -> Result<Self, ConfigError> {
        Self::builder(scheme).secret(secret)?.build()
    }

    /// The scheme this verifier checks.
    pub fn scheme(&self) -> Scheme {
        self.inner.scheme
    }

    /// The header in which the sender sends the shared secret itself, for
    /// the schemes that send it in clear: the (configurable) token header of
    /// [`Scheme::Clarity`], and `Authorization` for [`Scheme::Claravine`].
    /// A receiver must never store, log or forward it. Signature schemes send
    /// only a MAC, which reveals nothing of the secret: `None`.
    ///
    /// ```
    /// use hookgate_verify::{Scheme, Verifier};
    ///
    /// let route = Verifier::builder(Scheme::Clarity)
    ///     .secret("route-token")?
    ///     .header("x-route-key")?
    ///     .build()?;
    /// assert_eq!(route.secret_header().unwrap(), "x-route-key");
    /// assert!(Verifier::new(Scheme::GitHub, "s")?.secret_header().is_none());
    /// # Ok::<(), hookgate_verify::ConfigError>(())
    /// ```
    pub fn secret_header(&self) -> Option<HeaderName> {
        match self.inner.scheme {
            Scheme::Clarity => Some(
                self.inner
                    .header
                    .clone()
                    .unwrap_or(h::CLARITY_WEBHOOK_TOKEN),
            ),
            Scheme::Claravine => Some(http::header::AUTHORIZATION),
            Scheme::GitLab => Some(h::GITLAB_TOKEN),
            _ => None,
        }
    }

    /// How old a signed timestamp may be.
    pub fn past_tolerance(&self) -> Duration {
        self.inner.past_tolerance
    }

    /// How far in the future a signed timestamp may be.
    pub fn future_tolerance(&self) -> Duration {
        self.inner.future_tolerance
    }

    /// Verifies a delivery against the configured clock (the system clock unless
    /// [`VerifierBuilder::clock`] replaced it).
    ///
    /// # Errors
    ///
    /// A [`VerifyError`] saying exactly why the delivery is refused.
    pub fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<Verified, VerifyError> {
        let now = match &self.inner.clock {
            Some(clock) => clock.now(),
            None => SystemTime::now(),
        };
        self.verify_at(headers, body, now)
    }

    /// Verifies a delivery as if the time were `now`: for replaying recorded
    /// deliveries and for tests.
    ///
    /// # Errors
    ///
    /// A [`VerifyError`] saying exactly why the delivery is refused.
    pub fn verify_at(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> Result<Verified, VerifyError> {
        self.verify_with_at(headers, body, RequestContext::new(), now)
    }

    /// [`Verifier::verify`] with what the scheme may need beyond headers and
    /// body: the URL the sender called, for Twilio
    /// ([`Scheme::needs_url`]). Other schemes ignore it.
    ///
    /// # Errors
    ///
    /// A [`VerifyError`]; [`VerifyErrorKind::UrlRequired`] when the scheme
    /// signs the URL and `context` has none.
    pub fn verify_with(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        context: RequestContext<'_>,
    ) -> Result<Verified, VerifyError> {
        let now = match &self.inner.clock {
            Some(clock) => clock.now(),
            None => SystemTime::now(),
        };
        self.verify_with_at(headers, body, context, now)
    }

    /// [`Verifier::verify_with`] as if the time were `now`.
    ///
    /// # Errors
    ///
    /// As [`Verifier::verify_with`].
    pub fn verify_with_at(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        context: RequestContext<'_>,
        now: SystemTime,
    ) -> Result<Verified, VerifyError> {
        let check = Check {
            inner: &self.inner,
            headers,
            body,
            now,
            url: context.url,
        };
        let outcome = match self.inner.scheme {
            Scheme::Standard | Scheme::Svix => check.standard(),
            Scheme::Clarife | Scheme::Stripe => check.timestamped(),
            Scheme::GitHub => check.github(),
            Scheme::Slack => check.slack(),
            Scheme::Shopify => check.shopify(),
            Scheme::Paddle => check.paddle(),
            Scheme::Linear => check.linear(),
            Scheme::Zoom => check.zoom(),
            Scheme::Twitch => check.twitch(),
            Scheme::Meta => check
                .body_hex(&h::META_SIGNATURE_256, "sha256=")
                .and_then(|key| check.verified(key, None, None)),
            Scheme::Dropbox => check
                .body_hex(&h::DROPBOX_SIGNATURE, "")
                .and_then(|key| check.verified(key, None, None)),
            Scheme::Discord => check.discord(),
            Scheme::Twilio => check.twilio(),
            Scheme::MsGraph => check.msgraph(),
            Scheme::Claravine => check.claravine(),
            Scheme::Clarity => check.header_token(),
            Scheme::GitLab => check.gitlab(),
            Scheme::Custom => check.custom(),
        };
        outcome.map_err(VerifyError::new)
    }
}

/// One verification in progress.
struct Check<'a> {
    inner: &'a Inner,
    headers: &'a HeaderMap,
    body: &'a [u8],
    now: SystemTime,
    url: Option<&'a str>,
}

impl Check<'_> {
    fn verified(
        &self,
        key: KeyId,
        timestamp: Option<u64>,
        header_id: Option<&str>,
    ) -> Result<Verified, VerifyErrorKind> {
        let delivery_id = match header_id {
            Some(id) => Some(DeliveryId::new(id)),
            // An empty `"id":""` identifies nothing: absent, like an empty header.
            None => match &self.inner.body_id_field {
                Some(field) => crate::json::body_field_string(self.body, field)
                    .map_err(|_| VerifyErrorKind::DuplicateBodyField {
                        field: field.name(),
                    })?
                    .filter(|id| !id.as_bytes().is_empty())
                    .map(|id| DeliveryId::of_field(&id)),
                None => None,
            },
        };
        Ok(Verified {
            scheme: self.inner.scheme,
            delivery_id,
            timestamp,
            key,
        })
    }

    /// Refuses timestamps (Unix seconds) outside the tolerance window.
    fn check_time(&self, timestamp: u64) -> Result<(), VerifyErrorKind> {
        let now = self
            .now
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        self.check_age(Duration::from_secs(timestamp), Duration::from_secs(now))
    }

    /// Refuses a signed instant (since the Unix epoch) outside the tolerance
    /// window around `now`, with saturating arithmetic.
    fn check_age(&self, timestamp: Duration, now: Duration) -> Result<(), VerifyErrorKind> {
        if timestamp <= now {
            let age = now.saturating_sub(timestamp);
            if age > self.inner.past_tolerance {
                return Err(VerifyErrorKind::TimestampTooOld {
                    age,
                    tolerance: self.inner.past_tolerance,
                });
            }
        } else {
            let ahead = timestamp.saturating_sub(now);
            if ahead > self.inner.future_tolerance {
                return Err(VerifyErrorKind::TimestampInFuture {
                    ahead,
                    tolerance: self.inner.future_tolerance,
                });
            }
        }
        Ok(())
    }

    /// A timestamp header: present, digits only, inside the window.
    fn timestamp_header<'h>(
        &self,
        name: &HeaderName,
        value: Option<&'h HeaderValue>,
    ) -> Result<(&'h [u8], u64), VerifyErrorKind> {
        // Digits alone need no text check (see `parse::after_prefix`).
        if let Some(value) = value
            && let Some(timestamp) = parse::parse_timestamp(value.as_bytes())
        {
            self.check_time(timestamp)?;
            return Ok((value.as_bytes(), timestamp));
        }
        let text = header_text(name, value)?;
        let timestamp = parse::parse_timestamp(text)
            .ok_or_else(|| malformed(name, Malformed::InvalidTimestamp))?;
        self.check_time(timestamp)?;
        Ok((text.as_bytes(), timestamp))
    }

    /// Computes the HMAC of the scheme's signed content over `fields` under
    /// each key, as the signer does, and compares it, in constant time, with
    /// every candidate tag.
    fn match_hmac(
        &self,
        fields: Fields<'_>,
        tags: &Tags<'_>,
        header: &HeaderName,
    ) -> Result<KeyId, VerifyErrorKind> {
        for key in &self.inner.keys {
            let Material::Hmac(keyed) = &key.material else {
                continue;
            };
            let expected = self.inner.signed.mac(keyed, fields);
            if tags.iter().any(|tag| tags_equal(&expected, tag)) {
                return Ok(key.id.clone());
            }
        }
        Err(VerifyErrorKind::SignatureMismatch {
            header: header.clone(),
        })
    }

    /// Finds the configured token equal to `token`, comparing SHA-256 digests in
    /// constant time so neither the position of the first difference nor the
    /// length of the token shows in the timing.
    fn match_token(&self, token: &[u8], header: &HeaderName) -> Result<&Key, VerifyErrorKind> {
        let presented = token_digest(token);
        self.inner
            .keys
            .iter()
            .find(|key| match &key.material {
                Material::Token { digest, .. } => bool::from(digest.ct_eq(&presented)),
                Material::Hmac(_) | Material::Ed25519(_) | Material::HmacSha1(_) => false,
            })
            .ok_or_else(|| VerifyErrorKind::TokenMismatch {
                header: header.clone(),
            })
    }

    fn standard(&self) -> Result<Verified, VerifyErrorKind> {
        // Svix reads `svix-*` unless only the `webhook-*` signature is present.
        static SVIX: [HeaderName; 3] = [h::SVIX_ID, h::SVIX_TIMESTAMP, h::SVIX_SIGNATURE];
        static WEBHOOK: [HeaderName; 3] =
            [h::WEBHOOK_ID, h::WEBHOOK_TIMESTAMP, h::WEBHOOK_SIGNATURE];
        let find = |[id, ts, sig]: &'static [HeaderName; 3]| {
            (
                [id, ts, sig],
                parse::find_headers(self.headers, [id, ts, sig]),
            )
        };
        let svix = (self.inner.scheme == Scheme::Svix).then(|| find(&SVIX));
        let ([id_name, ts_name, sig_name], [id_value, ts_value, sig_value]) = match svix {
            Some(signed @ (_, [_, _, Some(_)])) => signed,
            _ => {
                let webhook = find(&WEBHOOK);
                match svix {
                    // Neither signature: Svix reports its own headers missing.
                    Some(unsigned) if webhook.1[2].is_none() => unsigned,
                    _ => webhook,
                }
            }
        };
        let id = header_text(id_name, id_value)?;
        let (ts_text, timestamp) = self.timestamp_header(ts_name, ts_value)?;
        let mut signatures = Signatures::default();
        match parse::after_prefix(sig_value, b"v1,").and_then(parse::decode_base64_tag) {
            Some(tag) => signatures.push(Some(tag)),
            None => parse::standard_signatures(
                sig_name,
                header_text(sig_name, sig_value)?,
                &mut signatures,
            )?,
        }
        let fields = Fields {
            id: id.as_bytes(),
            timestamp: ts_text,
            body: self.body,
        };
        if !self.inner.has_ed25519 {
            let tags = signatures.tags(sig_name)?;
            let key = self.match_hmac(fields, &tags, sig_name)?;
            return self.verified(key, Some(timestamp), Some(id));
        }
        // Ed25519 keys read the `v1a` entries, HMAC keys the `v1` ones; a
        // verifier may hold both.
        let asymmetric =
            parse::standard_ed25519_signatures(sig_name, header_text(sig_name, sig_value)?)?;
        let mut candidates = false;
        if self.inner.has_hmac
            && let Ok(tags) = signatures.tags(sig_name)
        {
            candidates = true;
            if let Ok(key) = self.match_hmac(fields, &tags, sig_name) {
                return self.verified(key, Some(timestamp), Some(id));
            }
        }
        if !asymmetric.signatures.is_empty() {
            candidates = true;
            let message = self.inner.signed.message(fields);
            if let Some(key) = self.match_ed25519(&message, &asymmetric.signatures) {
                return self.verified(key, Some(timestamp), Some(id));
            }
        }
        let header = sig_name.clone();
        Err(if candidates {
            VerifyErrorKind::SignatureMismatch { header }
        } else if (self.inner.has_hmac && signatures.saw_supported) || asymmetric.saw_supported {
            malformed(&header, Malformed::InvalidSignature)
        } else {
            VerifyErrorKind::NoSupportedSignature { header }
        })
    }

    /// The first Ed25519 key under which one of `signatures` signs `message`
    /// (strict verification: non-canonical signatures are refused).
    fn match_ed25519(
        &self,
        message: &[u8],
        signatures: &[parse::Ed25519Signature],
    ) -> Option<KeyId> {
        self.inner.keys.iter().find_map(|key| {
            let Material::Ed25519(public) = &key.material else {
                return None;
            };
            signatures
                .iter()
                .any(|signature| {
                    let signature = ed25519_dalek::Signature::from_bytes(signature);
                    public.verify_strict(message, &signature).is_ok()
                })
                .then(|| key.id.clone())
        })
    }

    /// Twilio: the URL (tried with and without its port, as Twilio's
    /// validator does) and the sorted form parameters, or the URL alone
    /// when it carries the body's `bodySHA256`.
    // Never inlined: its form (some 1.5 KiB of parameters) and HMAC batch
    // would otherwise sit in `verify_with_at`'s stack frame for every
    // scheme (GitHub's verification measured 3-4% slower with them there).
    #[inline(never)]
    fn twilio(&self) -> Result<Verified, VerifyErrorKind> {
        use crate::twilio::{self, BodyHash};
        let name = h::TWILIO_SIGNATURE;
        // One pass over the headers for the three (the idempotency token is
        // often absent, so the pass walks them all anyway).
        let [signature, id, content_type] = parse::find_headers(
            self.headers,
            [
                &name,
                &h::TWILIO_IDEMPOTENCY_TOKEN,
                &http::header::CONTENT_TYPE,
            ],
        );
        // A value that decodes is base64 with nothing to trim: no text check
        // needed (see `parse::after_prefix`); any other takes the way that
        // says what is wrong with it.
        let tag = match signature.and_then(|value| parse::decode_base64_sha1_tag(value.as_bytes()))
        {
            Some(tag) => tag,
            None => parse::decode_base64_sha1_tag(header_text(&name, signature)?)
                .ok_or_else(|| malformed(&name, Malformed::InvalidSignature))?,
        };
        let url = self.url.ok_or(VerifyErrorKind::UrlRequired)?;
        // Read in place: the form is some 2 KiB, moved only by a copy.
        let mut params = twilio::Form::default();
        match twilio::body_hash(url, self.body) {
            BodyHash::Matches => {}
            BodyHash::Differs => return Err(VerifyErrorKind::SignatureMismatch { header: name }),
            BodyHash::Absent if form_body(content_type) => params.read(self.body),
            BodyHash::Absent => {}
        }
        // The other spelling of the URL (port added or removed) is worked out
        // only if the URL as given matches under no key.
        let mut other = None;
        for key in &self.inner.keys {
            let Material::HmacSha1(keyed) = &key.material else {
                continue;
            };
            let matches =
                |url: &twilio::UrlPieces<'_>| tags_equal(&twilio::mac(keyed, url, &params), &tag);
            let matched = matches(&twilio::as_given(url))
                || other
                    .get_or_insert_with(|| twilio::other_spelling(url))
                    .as_ref()
                    .is_some_and(matches);
            if matched {
                return self.verified(key.id.clone(), None, optional_id(id));
            }
        }
        Err(VerifyErrorKind::SignatureMismatch { header: name })
    }

    /// Microsoft Graph: every notification's `clientState` is a configured
    /// secret; the key of the first is reported.
    #[cfg(feature = "json")]
    fn msgraph(&self) -> Result<Verified, VerifyErrorKind> {
        const FIELD: &str = "clientState";
        let body: serde_json::Value =
            serde_json::from_slice(self.body).map_err(|_| VerifyErrorKind::BodyNotJson)?;
        let items = body
            .get("value")
            .and_then(serde_json::Value::as_array)
            .filter(|items| !items.is_empty())
            .ok_or(VerifyErrorKind::MissingBodyField { field: "value" })?;
        let mut first = None;
        for item in items {
            let state = item
                .get(FIELD)
                .and_then(serde_json::Value::as_str)
                .ok_or(VerifyErrorKind::MissingBodyField { field: FIELD })?;
            let presented = token_digest(state.as_bytes());
            let key = self
                .inner
                .keys
                .iter()
                .find(|key| match &key.material {
                    Material::Token { digest, .. } => bool::from(digest.ct_eq(&presented)),
                    _ => false,
                })
                .ok_or(VerifyErrorKind::BodyFieldMismatch { field: FIELD })?;
            first.get_or_insert_with(|| key.id.clone());
        }
        let key = first.ok_or(VerifyErrorKind::MissingBodyField { field: "value" })?;
        self.verified(key, None, None)
    }

    #[cfg(not(feature = "json"))]
    #[expect(clippy::unused_self, reason = "the same signature as with `json`")]
    fn msgraph(&self) -> Result<Verified, VerifyErrorKind> {
        // `VerifierBuilder::build` refuses Microsoft Graph without `json`.
        Err(VerifyErrorKind::BodyNotJson)
    }

    fn discord(&self) -> Result<Verified, VerifyErrorKind> {
        let name = h::DISCORD_SIGNATURE;
        let [timestamp, signature] =
            parse::find_headers(self.headers, [&h::DISCORD_TIMESTAMP, &name]);
        let (ts_text, timestamp) = self.timestamp_header(&h::DISCORD_TIMESTAMP, timestamp)?;
        let signature =
            match signature.and_then(|value| parse::decode_hex_signature(value.as_bytes())) {
                Some(signature) => signature,
                None => parse::decode_hex_signature(header_text(&name, signature)?)
                    .ok_or_else(|| malformed(&name, Malformed::InvalidSignature))?,
            };
        let message = self.inner.signed.message(Fields {
            id: b"",
            timestamp: ts_text,
            body: self.body,
        });
        let key = self
            .match_ed25519(&message, &[signature])
            .ok_or(VerifyErrorKind::SignatureMismatch { header: name })?;
        self.verified(key, Some(timestamp), None)
    }

    fn timestamped(&self) -> Result<Verified, VerifyErrorKind> {
        let name = if self.inner.scheme == Scheme::Stripe {
            h::STRIPE_SIGNATURE
        } else {
            h::CLARIFE_SIGNATURE
        };
        self.keyed_list(name, parse::T_V1)
    }

    /// A header listing a timestamp and HMACs over it and the body, as
    /// `list` spells them (clarife's and Stripe's `t=…,v1=…`, Paddle's
    /// `ts=…;h1=…`): the usual form (one timestamp, one tag) read straight
    /// from its bytes, any other through the general parser. Inlined into
    /// each scheme's method so that `list`'s keys are constants there: the
    /// prefix checks then compare a few bytes in place instead of calling
    /// `memcmp` (some 50 instructions a delivery).
    #[inline(always)]
    fn keyed_list(
        &self,
        name: HeaderName,
        list: parse::KeyedList,
    ) -> Result<Verified, VerifyErrorKind> {
        let [value] = parse::find_headers(self.headers, [&name]);
        let (ts_text, timestamp, signatures) =
            match value.and_then(|value| parse::usual_keyed_list(value.as_bytes(), list)) {
                Some((ts_text, timestamp, tag)) => (ts_text, timestamp, Signatures::of(tag)),
                None => {
                    let mut signatures = Signatures::default();
                    let (ts_text, timestamp) = parse::keyed_signatures(
                        &name,
                        header_text(&name, value)?,
                        list,
                        &mut signatures,
                    )?;
                    (ts_text.as_bytes(), timestamp, signatures)
                }
            };
        self.check_time(timestamp)?;
        let tags = signatures.tags(&name)?;
        let fields = Fields {
            id: b"",
            timestamp: ts_text,
            body: self.body,
        };
        let key = self.match_hmac(fields, &tags, &name)?;
        self.verified(key, Some(timestamp), None)
    }

    fn github(&self) -> Result<Verified, VerifyErrorKind> {
        let name = h::GITHUB_SIGNATURE_256;
        let [signature, delivery] = parse::find_headers(self.headers, [&name, &h::GITHUB_DELIVERY]);
        let signatures =
            match parse::after_prefix(signature, b"sha256=").and_then(parse::decode_hex_tag) {
                Some(tag) => Signatures::of(tag),
                None => parse::prefixed_hex_signature(header_text(&name, signature)?, "sha256="),
            };
        let key = self.match_hmac(
            Fields::body_only(self.body),
            &signatures.tags(&name)?,
            &name,
        )?;
        self.verified(key, None, optional_id(delivery))
    }

    fn slack(&self) -> Result<Verified, VerifyErrorKind> {
        self.v0(&h::SLACK_REQUEST_TIMESTAMP, &h::SLACK_SIGNATURE)
    }

    /// Slack's layout, which Zoom took: `v0=<hex>` over `v0:{ts}:{body}`.
    fn v0(&self, ts_name: &HeaderName, name: &HeaderName) -> Result<Verified, VerifyErrorKind> {
        let [timestamp, signature] = parse::find_headers(self.headers, [ts_name, name]);
        let (ts_text, timestamp) = self.timestamp_header(ts_name, timestamp)?;
        let signatures =
            match parse::after_prefix(signature, b"v0=").and_then(parse::decode_hex_tag) {
                Some(tag) => Signatures::of(tag),
                None => parse::prefixed_hex_signature(header_text(name, signature)?, "v0="),
            };
        let fields = Fields {
            id: b"",
            timestamp: ts_text,
            body: self.body,
        };
        let key = self.match_hmac(fields, &signatures.tags(name)?, name)?;
        self.verified(key, Some(timestamp), None)
    }

    fn shopify(&self) -> Result<Verified, VerifyErrorKind> {
        // `X-Shopify-Hmac-Sha256`, else the newer spelling; the same for the id.
        let [signature, unprefixed_signature, id, unprefixed_id] = parse::find_headers(
            self.headers,
            [
                &h::SHOPIFY_HMAC_SHA256,
                &h::SHOPIFY_HMAC_SHA256_UNPREFIXED,
                &h::SHOPIFY_WEBHOOK_ID,
                &h::SHOPIFY_WEBHOOK_ID_UNPREFIXED,
            ],
        );
        let (name, value) = match (signature, unprefixed_signature) {
            (None, Some(value)) => (h::SHOPIFY_HMAC_SHA256_UNPREFIXED, Some(value)),
            (value, _) => (h::SHOPIFY_HMAC_SHA256, value),
        };
        let signatures = match value.and_then(|value| parse::decode_base64_tag(value.as_bytes())) {
            Some(tag) => Signatures::of(tag),
            None => parse::base64_signature(header_text(&name, value)?),
        };
        let key = self.match_hmac(
            Fields::body_only(self.body),
            &signatures.tags(&name)?,
            &name,
        )?;
        self.verified(key, None, optional_id(id.or(unprefixed_id)))
    }

    /// A single hex signature, after `prefix`, over the body alone (Meta,
    /// Dropbox, Linear): the key that matched.
    fn body_hex(&self, name: &HeaderName, prefix: &str) -> Result<KeyId, VerifyErrorKind> {
        let [signature] = parse::find_headers(self.headers, [name]);
        self.body_hex_value(name, signature, prefix)
    }

    /// [`Check::body_hex`] of a value already looked up.
    fn body_hex_value(
        &self,
        name: &HeaderName,
        signature: Option<&HeaderValue>,
        prefix: &str,
    ) -> Result<KeyId, VerifyErrorKind> {
        let signatures = match parse::after_prefix(signature, prefix.as_bytes())
            .and_then(parse::decode_hex_tag)
        {
            Some(tag) => Signatures::of(tag),
            None => parse::prefixed_hex_signature(header_text(name, signature)?, prefix),
        };
        self.match_hmac(Fields::body_only(self.body), &signatures.tags(name)?, name)
    }

    fn paddle(&self) -> Result<Verified, VerifyErrorKind> {
        self.keyed_list(h::PADDLE_SIGNATURE, parse::TS_H1)
    }

    /// Linear signs the body alone; its timestamp, `webhookTimestamp` in
    /// milliseconds, is inside it, so it is read (and checked, to the
    /// millisecond, as Linear's SDK does) once the signature matched.
    fn linear(&self) -> Result<Verified, VerifyErrorKind> {
        let name = h::LINEAR_SIGNATURE;
        // Both headers in one pass: a `get` hashes `linear-delivery` a byte
        // at a time (see `parse::find_headers`).
        let [signature, id] = parse::find_headers(self.headers, [&name, &h::LINEAR_DELIVERY]);
        let key = self.body_hex_value(&name, signature, "")?;
        let millis = self.body_timestamp_millis()?;
        let now = self.now.duration_since(UNIX_EPOCH).unwrap_or_default();
        self.check_age(Duration::from_millis(millis), now)?;
        self.verified(key, Some(millis / 1000), optional_id(id))
    }

    /// The whole number at the body's top-level timestamp member.
    #[cfg(feature = "json")]
    fn body_timestamp_millis(&self) -> Result<u64, VerifyErrorKind> {
        use crate::json::Unreadable;

        let Some(key) = &self.inner.body_timestamp_field else {
            // Only Linear's verifiers check this, and every one has the key.
            return Err(VerifyErrorKind::BodyNotJson);
        };
        let field = key.name();
        match crate::json::unique_top_level_value(self.body, key) {
            Ok(Some(range)) => parse::parse_timestamp(&self.body[range])
                .ok_or(VerifyErrorKind::InvalidBodyField { field }),
            Ok(None) => Err(VerifyErrorKind::MissingBodyField { field }),
            Err(Unreadable::Duplicate) => Err(VerifyErrorKind::DuplicateBodyField { field }),
            Err(Unreadable::NotAnObject) => Err(VerifyErrorKind::BodyNotJson),
        }
    }

    #[cfg(not(feature = "json"))]
    #[expect(clippy::unused_self, reason = "the same signature as with `json`")]
    fn body_timestamp_millis(&self) -> Result<u64, VerifyErrorKind> {
        // `VerifierBuilder::build` refuses Linear without the `json` feature.
        Err(VerifyErrorKind::BodyNotJson)
    }

    fn zoom(&self) -> Result<Verified, VerifyErrorKind> {
        self.v0(&h::ZOOM_REQUEST_TIMESTAMP, &h::ZOOM_SIGNATURE)
    }

    fn twitch(&self) -> Result<Verified, VerifyErrorKind> {
        let [id_name, ts_name, sig_name] = [
            &h::TWITCH_MESSAGE_ID,
            &h::TWITCH_MESSAGE_TIMESTAMP,
            &h::TWITCH_MESSAGE_SIGNATURE,
        ];
        let [id, ts, signature] = parse::find_headers(self.headers, [id_name, ts_name, sig_name]);
        let id = header_text(id_name, id)?;
        let ts_text = header_text(ts_name, ts)?;
        let timestamp = parse::parse_rfc3339(ts_text)
            .ok_or_else(|| malformed(ts_name, Malformed::InvalidTimestamp))?;
        self.check_time(timestamp)?;
        let signatures =
            match parse::after_prefix(signature, b"sha256=").and_then(parse::decode_hex_tag) {
                Some(tag) => Signatures::of(tag),
                None => parse::prefixed_hex_signature(header_text(sig_name, signature)?, "sha256="),
            };
        let fields = Fields {
            id: id.as_bytes(),
            timestamp: ts_text.as_bytes(),
            body: self.body,
        };
        let key = self.match_hmac(fields, &signatures.tags(sig_name)?, sig_name)?;
        self.verified(key, Some(timestamp), Some(id))
    }

    fn gitlab(&self) -> Result<Verified, VerifyErrorKind> {
        let name = h::GITLAB_TOKEN;
        let [token, id] = parse::find_headers(self.headers, [&name, &h::GITLAB_EVENT_UUID]);
        let key = self.match_token(header_text(&name, token)?.as_bytes(), &name)?;
        self.verified(key.id.clone(), None, optional_id(id))
    }

    fn claravine(&self) -> Result<Verified, VerifyErrorKind> {
        let name = h::AUTHORIZATION;
        let token = parse::bearer_token(header_str(self.headers, &name)?)
            .ok_or_else(|| malformed(&name, Malformed::MissingPrefix))?;
        let key = self.match_token(token.as_bytes(), &name)?;
        self.check_body_token(key)?;
        self.verified(key.id.clone(), None, None)
    }

    #[cfg(feature = "json")]
    fn check_body_token(&self, key: &Key) -> Result<(), VerifyErrorKind> {
        // The whole body is read as JSON (one that is not is refused), but
        // nothing is built from it: a `serde_json::Value` of every member cost
        // four to six times this read on a 1 KiB Claravine body, and the
        // receiver reads the body once more for its own questions.
        use crate::json::Unreadable;

        let token = crate::json::checked_top_level_string(self.body, "token")
            .map_err(|unreadable| match unreadable {
                Unreadable::NotAnObject => VerifyErrorKind::BodyNotJson,
                Unreadable::Duplicate => VerifyErrorKind::DuplicateBodyField { field: "token" },
            })?
            .ok_or(VerifyErrorKind::MissingBodyField { field: "token" })?;
        let matches = match &key.material {
            Material::Token { digest, .. } => {
                bool::from(digest.ct_eq(&token_digest(token.as_bytes())))
            }
            Material::Hmac(_) | Material::Ed25519(_) | Material::HmacSha1(_) => false,
        };
        if matches {
            Ok(())
        } else {
            Err(VerifyErrorKind::BodyTokenMismatch)
        }
    }

    #[cfg(not(feature = "json"))]
    #[expect(clippy::unused_self, reason = "the same signature as with `json`")]
    fn check_body_token(&self, _key: &Key) -> Result<(), VerifyErrorKind> {
        // `VerifierBuilder::build` refuses Claravine without the `json` feature.
        Err(VerifyErrorKind::BodyNotJson)
    }

    fn header_token(&self) -> Result<Verified, VerifyErrorKind> {
        let name = self
            .inner
            .header
            .clone()
            .unwrap_or(h::CLARITY_WEBHOOK_TOKEN);
        let text = header_str(self.headers, &name)?;
        let token = match &self.inner.prefix {
            Some(prefix) => text
                .strip_prefix(&**prefix)
                .ok_or_else(|| malformed(&name, Malformed::MissingPrefix))?,
            None => text,
        };
        let key = self.match_token(token.as_bytes(), &name)?;
        self.verified(key.id.clone(), None, None)
    }

    fn custom(&self) -> Result<Verified, VerifyErrorKind> {
        let inner = self.inner;
        let Some(name) = &inner.header else {
            // `VerifierBuilder::build` refuses a custom scheme without a header.
            return Err(VerifyErrorKind::MissingHeader {
                header: HeaderName::from_static("signature"),
            });
        };
        let text = header_str(self.headers, name)?;
        let encoded = match &inner.prefix {
            Some(prefix) => text
                .strip_prefix(&**prefix)
                .ok_or_else(|| malformed(name, Malformed::MissingPrefix))?,
            None => text,
        };
        let mut signatures = Signatures::default();
        signatures.push(match inner.encoding {
            SignatureEncoding::Hex => parse::decode_hex_tag_any_case(encoded),
            SignatureEncoding::Base64 => parse::decode_base64_tag(encoded),
        });
        let tags = signatures.tags(name)?;
        let id = match &inner.id_header {
            Some(id_name) => Some(header_str(self.headers, id_name)?),
            None => None,
        };
        let timestamp = match &inner.timestamp_header {
            Some(ts_name) => Some(self.timestamp_header(ts_name, self.headers.get(ts_name))?),
            None => None,
        };
        let fields = Fields {
            id: id.unwrap_or_default().as_bytes(),
            timestamp: timestamp.map_or(&[][..], |(text, _)| text),
            body: self.body,
        };
        let key = self.match_hmac(fields, &tags, name)?;
        self.verified(key, timestamp.map(|(_, ts)| ts), id)
    }
}

/// Whether a body is form parameters: its `Content-Type` says so, or it has
/// none (as a replayed body on the command line).
fn form_body(content_type: Option<&HeaderValue>) -> bool {
    match content_type {
        None => true,
        Some(value) => value.as_bytes().get(..33).is_some_and(|essence| {
            essence.eq_ignore_ascii_case(b"application/x-www-form-urlencoded")
        }),
    }
}

/// An optional id header: its trimmed text, or `None` when it is absent,
/// blank or not text (the delivery is still verified, only without an id).
fn optional_id(value: Option<&HeaderValue>) -> Option<&str> {
    value
        .and_then(|value| value.to_str().ok())
        .map(str::trim_ascii)
        .filter(|id| !id.is_empty())
}

/// Compares two tags (HMAC-SHA256's 32 bytes, HMAC-SHA1's 20) in constant
/// time: the XOR of every 8-byte word (and of the bytes after the last whole
/// word) is folded into one word without branching, and only that word goes
/// through `subtle` (one optimisation barrier instead of one per byte).
fn tags_equal<const N: usize>(a: &[u8; N], b: &[u8; N]) -> bool {
    let mut diff = 0u64;
    let (words_a, words_b) = (a.chunks_exact(8), b.chunks_exact(8));
    for (x, y) in words_a.remainder().iter().zip(words_b.remainder()) {
        diff |= u64::from(x ^ y);
    }
    for (x, y) in words_a.zip(words_b) {
        let word = |bytes: &[u8]| u64::from_ne_bytes(bytes.try_into().unwrap_or_default());
        diff |= word(x) ^ word(y);
    }
    bool::from(diff.ct_eq(&0))
}

/// A delivery whose signature (or token) matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    scheme: Scheme,
    delivery_id: Option<DeliveryId>,
    timestamp: Option<u64>,
    key: KeyId,
}

/// Delivery ids up to this many bytes are kept inside [`Verified`] rather
/// than in an allocation of their own: senders' ids are shorter (a UUID is 36
/// bytes, a Svix `msg_…` id 31).
const INLINE_ID: usize = 46;

/// A delivery id, inline when it is short.
#[derive(Clone, PartialEq, Eq)]
enum DeliveryId {
    Inline { len: u8, bytes: [u8; INLINE_ID] },
    Heap(Box<str>),
}

impl DeliveryId {
    fn new(id: &str) -> Self {
        match u8::try_from(id.len()) {
            Ok(len) if id.len() <= INLINE_ID => Self::inline(len, id.as_bytes()),
            _ => Self::Heap(id.into()),
        }
    }

    /// An id read from the body, kept without validating its bytes again
    /// when they are ASCII.
    fn of_field(id: &crate::json::FieldText<'_>) -> Self {
        match id {
            crate::json::FieldText::Ascii(bytes) => match u8::try_from(bytes.len()) {
                Ok(len) if bytes.len() <= INLINE_ID => Self::inline(len, bytes),
                // Long ids are rare; `from_utf8` of ASCII cannot fail.
                _ => Self::new(std::str::from_utf8(bytes).unwrap_or_default()),
            },
            crate::json::FieldText::Text(text) => Self::new(text),
        }
    }

    /// `id` (`len` bytes of UTF-8, at most [`INLINE_ID`]) kept inline.
    fn inline(len: u8, id: &[u8]) -> Self {
        // Zeros past `len`, so equal ids are equal arrays.
        let mut bytes = [0; INLINE_ID];
        bytes[..id.len()].copy_from_slice(id);
        Self::Inline { len, bytes }
    }

    fn as_str(&self) -> &str {
        match self {
            // Copied from a `str`: always UTF-8, so the default is never used.
            Self::Inline { len, bytes } => {
                let id = std::str::from_utf8(&bytes[..usize::from(*len)]);
                debug_assert!(id.is_ok(), "an inline id is copied from a str");
                id.unwrap_or_default()
            }
            Self::Heap(id) => id,
        }
    }
}

impl fmt::Debug for DeliveryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl Verified {
    /// The scheme that verified it.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The sender's id for this delivery, when the scheme has one: `webhook-id`
    /// / `svix-id`, clarife's envelope `id`, Stripe's event `id` (`evt_…`),
    /// `X-GitHub-Delivery`, `X-Shopify-Webhook-Id`, a custom id header, or the
    /// body's top-level `id` when [`VerifierBuilder::delivery_id_from_body`]
    /// asked for it. Retries of one event carry the same id: deduplicate on it.
    pub fn delivery_id(&self) -> Option<&str> {
        self.delivery_id.as_ref().map(DeliveryId::as_str)
    }

    /// The timestamp of the delivery in Unix seconds, for schemes that send one.
    /// It is covered by the signature except for clarife (see the security page).
    pub fn timestamp(&self) -> Option<u64> {
        self.timestamp
    }

    /// [`Verified::timestamp`] as a `SystemTime`.
    pub fn signed_at(&self) -> Option<SystemTime> {
        self.timestamp
            .and_then(|secs| UNIX_EPOCH.checked_add(Duration::from_secs(secs)))
    }

    /// Which configured secret matched.
    pub fn key(&self) -> &KeyId {
        &self.key
    }
}

/// Configures a [`Verifier`]; start with [`Verifier::builder`].
///
/// Options that only some schemes use return a [`ConfigError::NotApplicable`]
/// when set on another scheme, so a typo in configuration fails at startup.
///
/// ```
/// use hookgate_verify::{Scheme, SignatureEncoding, Verifier};
///
/// // A sender that publishes no scheme yet, described declaratively.
/// let verifier = Verifier::builder(Scheme::Custom)
///     .header("X-Claimable-Signature")?
///     .prefix("sha256=")?
///     .encoding(SignatureEncoding::Hex)?
///     .timestamp_header("X-Claimable-Timestamp")?
///     .signed_content("{timestamp}.{body}")?
///     .secret("s3cret")?
///     .build()?;
/// assert_eq!(verifier.scheme(), Scheme::Custom);
/// # Ok::<(), hookgate_verify::ConfigError>(())
/// ```
pub struct VerifierBuilder {
    scheme: Scheme,
    keys: Vec<Key>,
    past_tolerance: Duration,
    future_tolerance: Duration,
    clock: Option<Arc<dyn Clock>>,
    header: Option<HeaderName>,
    prefix: Option<Box<str>>,
    encoding: Option<SignatureEncoding>,
    signed_content: Option<SignedContent>,
    timestamp_header: Option<HeaderName>,
    id_header: Option<HeaderName>,
    id_from_body: bool,
}

impl fmt::Debug for VerifierBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifierBuilder")
            .field("scheme", &self.scheme)
            .field("keys", &self.keys)
            .field("past_tolerance", &self.past_tolerance)
            .field("future_tolerance", &self.future_tolerance)
            .field("header", &self.header)
            .finish_non_exhaustive()
    }
}

impl VerifierBuilder {
    fn only_for(&self, option: &'static str, schemes: &[Scheme]) -> Result<(), ConfigError> {
        if schemes.contains(&self.scheme) {
            Ok(())
        } else {
            Err(ConfigError::NotApplicable {
                option,
                scheme: self.scheme,
            })
        }
    }

    fn push_secret(mut self, id: Option<String>, secret: &[u8]) -> Result<Self, ConfigError> {
        if let Some(id) = &id
            && (id.is_empty() || self.keys.iter().any(|k| k.id.id() == Some(id)))
        {
            return Err(ConfigError::InvalidKeyId(id.clone()));
        }
        let key = Key::from_secret(self.scheme, self.keys.len(), id.map(Arc::from), secret)?;
        self.keys.push(key);
        Ok(self)
    }

    /// An Ed25519 public key, for a signer built from the secret key.
    pub(crate) fn ed25519_public(mut self, public: ed25519_dalek::VerifyingKey) -> Self {
        let id = KeyId::new(self.keys.len(), None);
        self.keys.push(Key {
            id,
            material: Material::Ed25519(Box::new(public)),
        });
        self
    }

    /// Adds a secret (a token for Claravine, Clarity and GitLab; for Ed25519,
    /// the public key: Standard Webhooks' `whpk_<base64>`, Discord's 64 hex
    /// digits). Several secrets may be configured during a rotation; any of
    /// them verifies, and a Standard Webhooks verifier may hold `whsec_` and
    /// `whpk_` keys together.
    ///
    /// # Errors
    ///
    /// [`ConfigError::EmptySecret`] or [`ConfigError::MalformedSecret`]
    /// (a Standard/Svix secret must be `whsec_` + base64).
    pub fn secret(self, secret: impl AsRef<[u8]>) -> Result<Self, ConfigError> {
        self.push_secret(None, secret.as_ref())
    }

    /// Adds a secret under an id that [`Verified::key`] reports when it matches.
    ///
    /// # Errors
    ///
    /// As [`VerifierBuilder::secret`], and [`ConfigError::InvalidKeyId`] when
    /// the id is empty or already used.
    pub fn secret_with_id(
        self,
        id: impl Into<String>,
        secret: impl AsRef<[u8]>,
    ) -> Result<Self, ConfigError> {
        self.push_secret(Some(id.into()), secret.as_ref())
    }

    /// Sets both the past and the future tolerance (default 5 minutes).
    #[must_use]
    pub fn tolerance(mut self, tolerance: Duration) -> Self {
        self.past_tolerance = tolerance;
        self.future_tolerance = tolerance;
        self
    }

    /// How old a signed timestamp may be (default 5 minutes).
    #[must_use]
    pub fn past_tolerance(mut self, tolerance: Duration) -> Self {
        self.past_tolerance = tolerance;
        self
    }

    /// How far ahead of the receiver's clock a signed timestamp may be
    /// (default 5 minutes).
    #[must_use]
    pub fn future_tolerance(mut self, tolerance: Duration) -> Self {
        self.future_tolerance = tolerance;
        self
    }

    /// Replaces the system clock that [`Verifier::verify`] reads, so tests
    /// never sleep: a [`ManualClock`](crate::ManualClock), or any [`Clock`].
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use hookgate_verify::{ManualClock, Scheme, Signer, Verifier, VerifyErrorKind};
    ///
    /// let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
    /// let verifier = Verifier::builder(Scheme::Slack)
    ///     .secret("s3cret")?
    ///     .clock(clock.clone())
    ///     .build()?;
    /// let headers = Signer::new(Scheme::Slack, "s3cret")?.sign("", 1_700_000_000, b"{}")?;
    /// assert!(verifier.verify(&headers, b"{}").is_ok());
    ///
    /// clock.advance(Duration::from_secs(301));
    /// let err = verifier.verify(&headers, b"{}").unwrap_err();
    /// assert!(matches!(err.kind(), VerifyErrorKind::TimestampTooOld { .. }));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// Reads the delivery id from the body's top-level `id` string when the
    /// headers carry none: for a custom scheme whose sender puts its event id
    /// in the body. clarife and Stripe always do this (their event id is
    /// their delivery id). The body is read only after its signature matched.
    ///
    /// ```
    /// use std::time::UNIX_EPOCH;
    /// use hookgate_verify::{Scheme, Verifier};
    ///
    /// let verifier = Verifier::builder(Scheme::Custom)
    ///     .header("x-signature")?
    ///     .secret("s3cret")?
    ///     .delivery_id_from_body()
    ///     .build()?;
    /// let body = br#"{"id": "ev_42", "kind": "order.paid"}"#;
    /// let headers = verifier.signer().sign("", 0, body)?;
    /// let verified = verifier.verify_at(&headers, body, UNIX_EPOCH)?;
    /// assert_eq!(verified.delivery_id(), Some("ev_42"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn delivery_id_from_body(mut self) -> Self {
        self.id_from_body = true;
        self
    }

    /// The header carrying the token ([`Scheme::Clarity`], default
    /// `x-clarity-webhook-token`) or the signature ([`Scheme::Custom`]).
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidHeaderName`], or [`ConfigError::NotApplicable`]
    /// for other schemes.
    pub fn header(mut self, name: &str) -> Result<Self, ConfigError> {
        self.only_for("header", &[Scheme::Clarity, Scheme::Custom])?;
        self.header = Some(header_name(name)?);
        Ok(self)
    }

    /// Text before the token or signature in its header (`Bearer `, `sha256=`).
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidPrefix`], or [`ConfigError::NotApplicable`] for
    /// other schemes.
    pub fn prefix(mut self, prefix: &str) -> Result<Self, ConfigError> {
        self.only_for("prefix", &[Scheme::Clarity, Scheme::Custom])?;
        if HeaderValue::from_str(prefix).is_err() {
            return Err(ConfigError::InvalidPrefix(prefix.to_owned()));
        }
        self.prefix = Some(prefix.into());
        Ok(self)
    }

    /// How the custom scheme encodes the signature (default hex).
    ///
    /// # Errors
    ///
    /// [`ConfigError::NotApplicable`] for other schemes.
    pub fn encoding(mut self, encoding: SignatureEncoding) -> Result<Self, ConfigError> {
        self.only_for("encoding", &[Scheme::Custom])?;
        self.encoding = Some(encoding);
        Ok(self)
    }

    /// What the custom scheme signs: a template over `{id}`, `{timestamp}` and
    /// `{body}` (default `{body}`), e.g. `{id}.{timestamp}.{body}`.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidTemplate`], or [`ConfigError::NotApplicable`] for
    /// other schemes.
    pub fn signed_content(mut self, template: &str) -> Result<Self, ConfigError> {
        self.only_for("signed_content", &[Scheme::Custom])?;
        self.signed_content = Some(SignedContent::parse(template)?);
        Ok(self)
    }

    /// The header carrying the custom scheme's Unix timestamp; once set, it is
    /// required and checked against the tolerance.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidHeaderName`], or [`ConfigError::NotApplicable`]
    /// for other schemes.
    pub fn timestamp_header(mut self, name: &str) -> Result<Self, ConfigError> {
        self.only_for("timestamp_header", &[Scheme::Custom])?;
        self.timestamp_header = Some(header_name(name)?);
        Ok(self)
    }

    /// The header carrying the custom scheme's delivery id; once set, it is required.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidHeaderName`], or [`ConfigError::NotApplicable`]
    /// for other schemes.
    pub fn id_header(mut self, name: &str) -> Result<Self, ConfigError> {
        self.only_for("id_header", &[Scheme::Custom])?;
        self.id_header = Some(header_name(name)?);
        Ok(self)
    }

    /// Builds the verifier.
    ///
    /// # Errors
    ///
    /// [`ConfigError::NoSecret`]; for the custom scheme
    /// [`ConfigError::MissingOption`] when the header, or a header the template
    /// uses, is missing; [`ConfigError::FeatureRequired`] for Claravine without
    /// the `json` feature.
    pub fn build(self) -> Result<Verifier, ConfigError> {
        if self.keys.is_empty() {
            return Err(ConfigError::NoSecret);
        }
        if matches!(
            self.scheme,
            Scheme::Claravine | Scheme::Linear | Scheme::MsGraph
        ) && !cfg!(feature = "json")
        {
            return Err(ConfigError::FeatureRequired {
                scheme: self.scheme,
                feature: "json",
            });
        }
        let signed = self
            .signed_content
            .unwrap_or_else(|| SignedContent::of(self.scheme));
        if self.scheme == Scheme::Custom {
            if self.header.is_none() {
                return Err(ConfigError::MissingOption("header"));
            }
            if signed.uses(&Part::Timestamp) && self.timestamp_header.is_none() {
                return Err(ConfigError::MissingOption("timestamp_header"));
            }
            if signed.uses(&Part::Id) && self.id_header.is_none() {
                return Err(ConfigError::MissingOption("id_header"));
            }
        }
        let has_hmac = self
            .keys
            .iter()
            .any(|key| matches!(key.material, Material::Hmac(_)));
        let has_ed25519 = self
            .keys
            .iter()
            .any(|key| matches!(key.material, Material::Ed25519(_)));
        Ok(Verifier {
            inner: Arc::new(Inner {
                has_hmac,
                has_ed25519,
                scheme: self.scheme,
                keys: self.keys,
                past_tolerance: self.past_tolerance,
                future_tolerance: self.future_tolerance,
                clock: self.clock,
                header: self.header,
                prefix: self.prefix,
                encoding: self.encoding.unwrap_or_default(),
                signed,
                timestamp_header: self.timestamp_header,
                id_header: self.id_header,
                // clarife's envelope `id`, Stripe's event `id` and Paddle's
                // `event_id` are what their retries repeat: the delivery id
                // of those schemes.
                body_id_field: match self.scheme {
                    Scheme::Clarife | Scheme::Stripe => Some("id"),
                    Scheme::Paddle => Some("event_id"),
                    // The interaction's snowflake id.
                    Scheme::Discord => Some("id"),
                    _ => self.id_from_body.then_some("id"),
                }
                .map(crate::json::BodyField::new),
                #[cfg(feature = "json")]
                body_timestamp_field: (self.scheme == Scheme::Linear)
                    .then(|| crate::json::TopLevelKey::new("webhookTimestamp")),
            }),
        })
    }
}

fn header_name(name: &str) -> Result<HeaderName, ConfigError> {
    HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| ConfigError::InvalidHeaderName(name.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_ids_of_any_length_read_back_as_given() {
        for len in 0..=INLINE_ID + 20 {
            // Multi-byte characters too: the id is any `str` a header held.
            let id: String = "é-msg_2KWPBgLlAf".chars().cycle().take(len).collect();
            let kept = DeliveryId::new(&id);
            assert_eq!(kept.as_str(), id);
            assert_eq!(
                matches!(kept, DeliveryId::Inline { .. }),
                id.len() <= INLINE_ID
            );
            assert_eq!(kept, DeliveryId::new(&id));
            assert_eq!(format!("{kept:?}"), format!("{id:?}"));
        }
        assert_ne!(DeliveryId::new("a"), DeliveryId::new("a\0"));
    }
}
