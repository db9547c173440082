//! Framework-free webhook signature verification over raw bytes.
//!
//! Give a [`Verifier`] the request's headers and the body exactly as received;
//! it answers with a [`Verified`] delivery (scheme, delivery id, signed
//! timestamp, matched key) or a [`VerifyError`] that says precisely what is
//! wrong, which HTTP status to answer, and a message safe to send back.
//! Verify first, then parse the body once.
//!
//! | [`Scheme`] | reads |
//! |---|---|
//! | `standard` | `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64>…` (HMAC) and `v1a,<base64>…` (Ed25519) |
//! | `svix` | `svix-id`, `svix-timestamp`, `svix-signature` (or the `webhook-*` ones) |
//! | `clarife` | `X-Clarife-Signature: t=<unix>,v1=<hex>` |
//! | `stripe` | `Stripe-Signature: t=<unix>,v1=<hex>…` |
//! | `github` | `X-Hub-Signature-256: sha256=<hex>`, `X-GitHub-Delivery` |
//! | `slack` | `X-Slack-Signature: v0=<hex>`, `X-Slack-Request-Timestamp` |
//! | `shopify` | `X-Shopify-Hmac-Sha256: <base64>`, `X-Shopify-Webhook-Id` |
//! | `paddle` | `Paddle-Signature: ts=<unix>;h1=<hex>…`, the body's `event_id` |
//! | `linear` | `Linear-Signature: <hex>`, `Linear-Delivery`, the body's `webhookTimestamp` |
//! | `zoom` | `x-zm-signature: v0=<hex>`, `x-zm-request-timestamp` |
//! | `twitch` | `Twitch-Eventsub-Message-Signature: sha256=<hex>`, `-Message-Id`, `-Message-Timestamp` |
//! | `meta` | `X-Hub-Signature-256: sha256=<hex>` |
//! | `dropbox` | `X-Dropbox-Signature: <hex>` |
//! | `discord` | `X-Signature-Ed25519: <hex>` (Ed25519), `X-Signature-Timestamp` |
//! | `claravine` | `Authorization: Bearer <token>` and the body's `token` |
//! | `clarity` | `x-clarity-webhook-token` (any header, configurable) |
//! | `gitlab` | `X-Gitlab-Token`, `X-Gitlab-Event-UUID` |
//! | `twilio` | `X-Twilio-Signature` (HMAC-SHA1 of the URL and the form), `I-Twilio-Idempotency-Token` |
//! | `msgraph` | the body's `value[].clientState` |
//! | `custom` | a declared header, prefix, encoding and signed-content template |
//!
//! What each scheme protects against, and what it does not, is on the
//! [`security`] page.
//!
//! ```
//! use std::time::{Duration, UNIX_EPOCH};
//! use hookgate_verify::{Scheme, Verifier, VerifyErrorKind};
//!
//! let verifier = Verifier::new(Scheme::Clarife, "whsec_sample")?;
//! let body = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../samples/clarife.json"))?;
//! let mut headers = http::HeaderMap::new();
//! headers.insert(
//!     "x-clarife-signature",
//!     "t=1774699200,v1=9c710756f7069d313542208bc0003147b1b1b7a6aa18bca44d4a4f3b585b2a74".parse()?,
//! );
//! let now = UNIX_EPOCH + Duration::from_secs(1_774_699_230);
//!
//! let verified = verifier.verify_at(&headers, &body, now)?;
//! assert_eq!(verified.delivery_id(), Some("evt_a1b2c3d4-5678-90ab-cdef-1234567890ab"));
//! assert_eq!(verified.key().index(), 0);
//!
//! // One changed byte and the delivery is refused with 401.
//! let mut tampered = body.clone();
//! tampered[10] ^= 1;
//! let err = verifier.verify_at(&headers, &tampered, now).unwrap_err();
//! assert!(matches!(err.kind(), VerifyErrorKind::SignatureMismatch { .. }));
//! assert_eq!(err.status(), http::StatusCode::UNAUTHORIZED);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Performance
//!
//! Secrets are absorbed into the HMAC state once, when the verifier is built,
//! so a verification costs the SHA-256 of the signed content plus parsing a few
//! header bytes: at 1 KiB, 1.01x to 1.12x a bare HMAC-SHA256 of the body keyed
//! per call, depending on the scheme, and about 5.5x faster than the `svix`
//! crate (`cargo bench -p hookgate-verify --bench ratio`; figures in
//! `BENCHMARKS.md`). `sha2` 0.11 detects the CPU's SHA extensions (x86 SHA-NI,
//! ARMv8 SHA2) at run time through `cpufeatures` and uses them when present;
//! nothing needs configuring (`--cfg sha2_backend="soft"` would force the
//! portable code).
//!
//! # Features
//!
//! - `json` (default): Claravine's body token check, Linear's signed body
//!   timestamp, and decoding of escaped ids read from the body.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod answer;
pub mod error;
pub mod headers;
mod json;
mod key;
mod parse;
mod scheme;
pub mod security;
pub mod sign;
mod signed;
mod twilio;
mod verifier;

/// The `http` crate whose types this API uses, re-exported so users need not
/// keep its version in step.
pub use http;

// What `VerifierBuilder::clock` takes: the clock shared with the queues and workers.
pub use hookgate_core::{Clock, ManualClock, SystemClock};

pub use error::{ConfigError, Malformed, VerifyError, VerifyErrorKind};
pub use key::KeyId;
pub use parse::MAX_ED25519_SIGNATURES;
pub use scheme::{Scheme, UnknownScheme};
pub use sign::{SignError, Signer};
pub use verifier::{
    DEFAULT_TOLERANCE, RequestContext, SignatureEncoding, Verified, Verifier, VerifierBuilder,
};
