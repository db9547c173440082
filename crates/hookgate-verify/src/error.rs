//! Errors: [`ConfigError`] when building, [`VerifyError`] when a delivery is refused.

use std::fmt;
use std::time::Duration;

use http::{HeaderName, StatusCode};

use crate::Scheme;

/// A mistake in a verifier's configuration, found when building it.
///
/// Never contains a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A secret or token was empty.
    #[error("secret is empty")]
    EmptySecret,
    /// A secret could not be decoded (for example a `whsec_` secret that is not base64).
    #[error("secret is malformed: {reason}")]
    MalformedSecret {
        /// Why the secret was refused; never quotes the secret.
        reason: &'static str,
    },
    /// `build` was called before any secret was given.
    #[error("no secret configured")]
    NoSecret,
    /// A key id was empty or used twice.
    #[error("key id {0:?} is empty or used twice")]
    InvalidKeyId(String),
    /// A header name is not a valid HTTP header name.
    #[error("{0:?} is not a valid header name")]
    InvalidHeaderName(String),
    /// A token prefix or signature prefix contains bytes a header value cannot hold.
    #[error("prefix {0:?} cannot appear in a header value")]
    InvalidPrefix(String),
    /// An option was set that the scheme does not use.
    #[error("option `{option}` does not apply to the {scheme} scheme")]
    NotApplicable {
        /// The builder method that was called.
        option: &'static str,
        /// The scheme being built.
        scheme: Scheme,
    },
    /// A custom HMAC scheme lacks a required option.
    #[error("the custom scheme needs `{0}`")]
    MissingOption(&'static str),
    /// The signed-content template of a custom HMAC scheme is invalid.
    #[error("signed-content template is invalid: {0}")]
    InvalidTemplate(String),
    /// The scheme needs a crate feature that is disabled.
    #[error("the {scheme} scheme needs the `{feature}` feature of hookgate-verify")]
    FeatureRequired {
        /// The scheme being built.
        scheme: Scheme,
        /// The missing feature.
        feature: &'static str,
    },
}

/// Why a header was malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Malformed {
    /// The value holds bytes other than visible ASCII and spaces.
    NotText,
    /// The value is empty.
    Empty,
    /// The timestamp is not a non-negative whole number of seconds.
    InvalidTimestamp,
    /// A timestamp entry (`t=`, Paddle's `ts=`) is required in this header
    /// but absent.
    MissingTimestamp,
    /// Signatures of a supported version are present but none is validly encoded
    /// with the right length (empty, truncated, odd-length, bad hex or base64).
    InvalidSignature,
    /// An entry of the header is not of the form the scheme defines: a
    /// `t=…,v1=…` entry (clarife, Stripe) that is not `key=value`, or a
    /// Standard Webhooks entry that is not `version,signature`. Entries of
    /// the right form with an unknown key or version are skipped, not this.
    InvalidSyntax,
    /// The `Authorization` header is not `Bearer <token>`, or a token lacks its
    /// configured prefix.
    MissingPrefix,
    /// A Standard Webhooks list holds more than
    /// [`MAX_ED25519_SIGNATURES`](crate::MAX_ED25519_SIGNATURES) `v1a`
    /// entries: refused before any is checked.
    TooManySignatures,
}

impl Malformed {
    fn as_str(self) -> &'static str {
        match self {
            Malformed::NotText => "not visible ASCII",
            Malformed::Empty => "empty",
            Malformed::InvalidTimestamp => "timestamp is not a whole number of seconds",
            Malformed::MissingTimestamp => "no timestamp entry",
            Malformed::InvalidSignature => {
                "signature is not validly encoded or has the wrong length"
            }
            Malformed::InvalidSyntax => "entry is not of the expected form",
            Malformed::MissingPrefix => "expected prefix is missing",
            Malformed::TooManySignatures => "too many asymmetric signatures",
        }
    }
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Exactly what is wrong with a refused delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyErrorKind {
    /// A header the scheme requires is absent.
    MissingHeader {
        /// The header.
        header: HeaderName,
    },
    /// A header is present but unusable.
    MalformedHeader {
        /// The header.
        header: HeaderName,
        /// Why.
        reason: Malformed,
    },
    /// The signed timestamp is older than the past tolerance.
    TimestampTooOld {
        /// How old it is.
        age: Duration,
        /// The tolerance it exceeds.
        tolerance: Duration,
    },
    /// The signed timestamp is further in the future than the future tolerance.
    TimestampInFuture {
        /// How far ahead it is.
        ahead: Duration,
        /// The tolerance it exceeds.
        tolerance: Duration,
    },
    /// The signature header holds no signature of a version this scheme supports
    /// (for example only `v0=` for Stripe or `sha1=` for GitHub).
    NoSupportedSignature {
        /// The header.
        header: HeaderName,
    },
    /// No signature matches any configured secret.
    SignatureMismatch {
        /// The header holding the signatures.
        header: HeaderName,
    },
    /// The token in a header matches no configured token.
    TokenMismatch {
        /// The header holding the token.
        header: HeaderName,
    },
    /// The scheme reads the JSON body but it is not a JSON object.
    BodyNotJson,
    /// The JSON body lacks the field the scheme needs (Linear's
    /// `webhookTimestamp`), or has a field read as a string (Claravine's
    /// `token`) as another type.
    MissingBodyField {
        /// The field.
        field: &'static str,
    },
    /// The token in the body differs from the authenticated header token.
    BodyTokenMismatch,
    /// A field of the JSON body the scheme reads is not of the expected form
    /// (Linear's `webhookTimestamp`: a whole number of milliseconds).
    InvalidBodyField {
        /// The field.
        field: &'static str,
    },
    /// The field the scheme reads from the JSON body (Claravine's `token`, the
    /// `id` of clarife, Stripe or a custom scheme reading its id from the
    /// body, Paddle's `event_id`, Linear's `webhookTimestamp`) appears more
    /// than once at the top level, so verification and a typed payload could
    /// read different values.
    DuplicateBodyField {
        /// The field.
        field: &'static str,
    },
    /// A secret the body repeats (Microsoft Graph's `clientState`) matches
    /// no configured secret.
    BodyFieldMismatch {
        /// The field.
        field: &'static str,
    },
    /// The scheme signs the URL the sender called (Twilio) and the receiver
    /// gave none: a mistake of the receiver's configuration, answered 500.
    UrlRequired,
}

impl VerifyErrorKind {
    /// The status a receiver should answer: 400 for a malformed request, 401 when
    /// authentication failed, 500 when the receiver did not give what its
    /// scheme needs (the URL, for Twilio).
    pub fn status(&self) -> StatusCode {
        match self {
            VerifyErrorKind::MissingHeader { .. }
            | VerifyErrorKind::MalformedHeader { .. }
            | VerifyErrorKind::NoSupportedSignature { .. }
            | VerifyErrorKind::BodyNotJson
            | VerifyErrorKind::MissingBodyField { .. }
            | VerifyErrorKind::InvalidBodyField { .. }
            | VerifyErrorKind::DuplicateBodyField { .. } => StatusCode::BAD_REQUEST,
            VerifyErrorKind::TimestampTooOld { .. }
            | VerifyErrorKind::TimestampInFuture { .. }
            | VerifyErrorKind::SignatureMismatch { .. }
            | VerifyErrorKind::TokenMismatch { .. }
            | VerifyErrorKind::BodyTokenMismatch
            | VerifyErrorKind::BodyFieldMismatch { .. } => StatusCode::UNAUTHORIZED,
            VerifyErrorKind::UrlRequired => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl fmt::Display for VerifyErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyErrorKind::MissingHeader { header } => write!(f, "missing header {header}"),
            VerifyErrorKind::MalformedHeader { header, reason } => {
                write!(f, "malformed header {header}: {reason}")
            }
            VerifyErrorKind::TimestampTooOld { age, tolerance } => write!(
                f,
                "timestamp too old: signed {} s ago, tolerance is {} s",
                age.as_secs(),
                tolerance.as_secs()
            ),
            VerifyErrorKind::TimestampInFuture { ahead, tolerance } => write!(
                f,
                "timestamp in the future by {} s, tolerance is {} s",
                ahead.as_secs(),
                tolerance.as_secs()
            ),
            VerifyErrorKind::NoSupportedSignature { header } => {
                write!(
                    f,
                    "header {header} holds no signature of a supported version"
                )
            }
            VerifyErrorKind::SignatureMismatch { header } => {
                write!(f, "no signature in header {header} matches")
            }
            VerifyErrorKind::TokenMismatch { header } => {
                write!(f, "token in header {header} does not match")
            }
            VerifyErrorKind::BodyNotJson => f.write_str("body is not a JSON object"),
            VerifyErrorKind::MissingBodyField { field } => {
                write!(
                    f,
                    "body has no field {field:?} of the type the scheme reads"
                )
            }
            VerifyErrorKind::BodyTokenMismatch => {
                f.write_str("body token does not match the authorization header")
            }
            VerifyErrorKind::InvalidBodyField { field } => {
                write!(f, "body field {field:?} is not of the expected form")
            }
            VerifyErrorKind::DuplicateBodyField { field } => {
                write!(f, "body has the field {field:?} more than once")
            }
            VerifyErrorKind::BodyFieldMismatch { field } => {
                write!(f, "body field {field:?} does not match")
            }
            VerifyErrorKind::UrlRequired => {
                f.write_str("the receiver did not give the request URL this scheme signs")
            }
        }
    }
}

/// A refused delivery: what is wrong, the status to answer, and a message that
/// is safe to send back (it never contains a secret or a computed signature).
///
/// ```
/// use hookgate_verify::{Scheme, Verifier, VerifyErrorKind};
///
/// let verifier = Verifier::new(Scheme::GitHub, "It's a Secret to Everybody").unwrap();
/// let err = verifier.verify(&http::HeaderMap::new(), b"{}").unwrap_err();
/// assert!(matches!(err.kind(), VerifyErrorKind::MissingHeader { .. }));
/// assert_eq!(err.status(), http::StatusCode::BAD_REQUEST);
/// assert_eq!(err.to_string(), "missing header x-hub-signature-256");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyError {
    kind: VerifyErrorKind,
}

impl VerifyError {
    pub(crate) fn new(kind: VerifyErrorKind) -> Self {
        Self { kind }
    }

    /// What is wrong.
    pub fn kind(&self) -> &VerifyErrorKind {
        &self.kind
    }

    /// Consumes the error, returning what is wrong.
    pub fn into_kind(self) -> VerifyErrorKind {
        self.kind
    }

    /// The status a receiver should answer (400, 401, or 500 for
    /// [`VerifyErrorKind::UrlRequired`]).
    pub fn status(&self) -> StatusCode {
        self.kind.status()
    }

    /// The message to return to the sender; the same as `Display`.
    pub fn body_text(&self) -> String {
        self.kind.to_string()
    }
}

impl From<VerifyErrorKind> for VerifyError {
    fn from(kind: VerifyErrorKind) -> Self {
        Self::new(kind)
    }
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.kind, f)
    }
}

impl std::error::Error for VerifyError {}
