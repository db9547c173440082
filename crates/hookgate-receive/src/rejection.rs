//! Refusals: what the sender is told when a delivery is not acknowledged.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Response, StatusCode, header};

use crate::admission::Refusal;

/// The media type of every rejection body (RFC 9457).
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Why a request was refused.
///
/// The status code follows from the kind, except for the two verification
/// kinds, which take the status the verifier chose (400 or 401).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RejectionKind {
    /// The route exists but not for this method (405, with `Allow`).
    MethodNotAllowed,
    /// The body is larger than the source's limit, announced or counted (413).
    PayloadTooLarge,
    /// The body did not arrive within the source's read timeout (408).
    RequestTimeout,
    /// The body could not be read (the connection failed mid-body) (400).
    BodyUnreadable,
    /// Verification refused a malformed delivery: a header or field is missing or unparsable (400).
    Malformed,
    /// Verification refused the delivery's credentials: bad signature, token or timestamp (401).
    Unauthenticated,
    /// A route with required context fields got a delivery without some of them (422).
    MissingContext,
    /// The queue refused the delivery (full, disk error, unreachable) (503, with `Retry-After`).
    QueueUnavailable,
    /// The queue did not confirm the delivery within the ACK budget (503, with `Retry-After`).
    AckBudgetExceeded,
    /// An extractor that needs a verified delivery found none: the route is not
    /// behind the webhook middleware in inline mode. A server bug, so 500.
    NotVerified,
    /// A verified payload did not deserialize into the type the handler asked for (422).
    InvalidPayload,
    /// The client's address is not in the source's `allow_ips`, or could not
    /// be determined (403).
    ClientNotAllowed,
    /// The source's [`max_in_flight`](crate::SourceBuilder::max_in_flight)
    /// requests are being received already (503, with `Retry-After`).
    TooManyInFlight,
    /// The source is over its [`rate_limit`](crate::SourceBuilder::rate_limit)
    /// (503, with `Retry-After`: when a request would be admitted).
    RateLimited,
    /// A handshake whose credentials do not match: Meta's `hub.verify_token`
    /// is not the source's verify token (403).
    HandshakeRefused,
    /// A handshake that cannot be answered: a field is missing, or the
    /// value to echo is too long or has characters that may not be echoed (400).
    InvalidHandshake,
}

impl RejectionKind {
    /// A stable snake_case name, used as the metrics `reason` label and in the problem `type`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MethodNotAllowed => "method_not_allowed",
            Self::PayloadTooLarge => "payload_too_large",
            Self::RequestTimeout => "request_timeout",
            Self::BodyUnreadable => "body_unreadable",
            Self::Malformed => "malformed",
            Self::Unauthenticated => "unauthenticated",
            Self::MissingContext => "missing_context",
            Self::QueueUnavailable => "queue_unavailable",
            Self::AckBudgetExceeded => "ack_budget_exceeded",
            Self::NotVerified => "not_verified",
            Self::InvalidPayload => "invalid_payload",
            Self::ClientNotAllowed => "client_not_allowed",
            Self::TooManyInFlight => "too_many_in_flight",
            Self::RateLimited => "rate_limited",
            Self::HandshakeRefused => "handshake_refused",
            Self::InvalidHandshake => "invalid_handshake",
        }
    }

    /// Whether this is a refusal of admission control (the source's
    /// in-flight or rate limit), decided before the body was read.
    pub fn is_admission(self) -> bool {
        matches!(self, Self::TooManyInFlight | Self::RateLimited)
    }

    fn title(self) -> &'static str {
        match self {
            Self::MethodNotAllowed => "method not allowed",
            Self::PayloadTooLarge => "payload too large",
            Self::RequestTimeout => "request body timed out",
            Self::BodyUnreadable => "request body unreadable",
            Self::Malformed => "malformed webhook delivery",
            Self::Unauthenticated => "webhook authentication failed",
            Self::MissingContext => "missing context fields",
            Self::QueueUnavailable => "queue unavailable",
            Self::AckBudgetExceeded => "queue too slow",
            Self::NotVerified => "delivery not verified",
            Self::InvalidPayload => "invalid payload",
            Self::ClientNotAllowed => "client address not allowed",
            Self::TooManyInFlight => "too many requests in flight",
            Self::RateLimited => "rate limit exceeded",
            Self::HandshakeRefused => "handshake refused",
            Self::InvalidHandshake => "invalid handshake",
        }
    }

    fn default_status(self) -> StatusCode {
        match self {
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::BodyUnreadable | Self::Malformed | Self::InvalidHandshake => {
                StatusCode::BAD_REQUEST
            }
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::MissingContext | Self::InvalidPayload => StatusCode::UNPROCESSABLE_ENTITY,
            Self::QueueUnavailable
            | Self::AckBudgetExceeded
            | Self::TooManyInFlight
            | Self::RateLimited => StatusCode::SERVICE_UNAVAILABLE,
            Self::NotVerified => StatusCode::INTERNAL_SERVER_ERROR,
            Self::ClientNotAllowed | Self::HandshakeRefused => StatusCode::FORBIDDEN,
        }
    }
}

impl fmt::Display for RejectionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refused delivery: the status, the headers and the problem+json body to answer with.
///
/// Like axum's rejections it exposes [`status`](Self::status) and
/// [`body_text`](Self::body_text); [`problem_json`](Self::problem_json) is the
/// RFC 9457 body and [`to_response`](Self::to_response) the whole default
/// response. The `detail` never contains a secret: it is built from hookgate's
/// own messages and the verifier's, which are safe to return to the sender.
///
/// ```
/// use hookgate_receive::{Rejection, RejectionKind};
/// use http::StatusCode;
///
/// let r = Rejection::new(RejectionKind::PayloadTooLarge, "body exceeds the limit of 16 bytes");
/// assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
/// assert_eq!(r.body_text(), "body exceeds the limit of 16 bytes");
/// let res = r.to_response();
/// assert_eq!(res.headers()["content-type"], "application/problem+json");
/// ```
#[derive(Debug, Clone)]
pub struct Rejection {
    kind: RejectionKind,
    status: StatusCode,
    detail: String,
    retry_after: Option<Duration>,
    allow: Vec<Method>,
    missing_fields: Vec<String>,
    /// One of a flood refused one request at a time (logged at debug).
    quiet: bool,
}

impl Rejection {
    /// A rejection of `kind` with its usual status and the given detail.
    pub fn new(kind: RejectionKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            status: kind.default_status(),
            detail: detail.into(),
            retry_after: None,
            allow: Vec::new(),
            missing_fields: Vec::new(),
            quiet: false,
        }
    }

    pub(crate) fn method_not_allowed(method: impl fmt::Display, allow: &[Method]) -> Self {
        let mut r = Self::new(
            RejectionKind::MethodNotAllowed,
            format!("method {method} is not accepted on this webhook route"),
        );
        r.allow = allow.to_vec();
        r
    }

    pub(crate) fn too_large(limit: usize) -> Self {
        Self::new(
            RejectionKind::PayloadTooLarge,
            format!("body exceeds the limit of {limit} bytes"),
        )
    }

    pub(crate) fn read_timeout(timeout: Duration) -> Self {
        Self::new(
            RejectionKind::RequestTimeout,
            format!("body was not received within {} ms", timeout.as_millis()),
        )
    }

    pub(crate) fn verification(error: &hookgate_verify::VerifyError) -> Self {
        let status = error.status();
        let kind = if status == StatusCode::UNAUTHORIZED {
            RejectionKind::Unauthenticated
        } else {
            RejectionKind::Malformed
        };
        let mut r = Self::new(kind, error.to_string());
        // The verifier knows best whether this is a malformed request (400) or
        // a failed authentication (401); keep its choice.
        if status.is_client_error() {
            r.status = status;
        }
        r
    }

    pub(crate) fn missing_context(missing: Vec<String>) -> Self {
        let mut r = Self::new(
            RejectionKind::MissingContext,
            format!("missing required context fields: {}", missing.join(", ")),
        );
        r.missing_fields = missing;
        r
    }

    /// The refusal of an inline-mode extractor that found no
    /// [`VerifiedDelivery`](crate::VerifiedDelivery) among the request's
    /// extensions: the route is not behind the webhook middleware in inline
    /// mode, a wiring mistake (500), never a reason to hand on unverified data.
    ///
    /// ```
    /// use hookgate_receive::{Rejection, RejectionKind, VerifiedDelivery};
    ///
    /// let attached: Option<&VerifiedDelivery> = None; // what a route without the middleware has
    /// let refused = attached.cloned().ok_or_else(Rejection::not_verified).unwrap_err();
    /// assert_eq!(refused.kind(), RejectionKind::NotVerified);
    /// assert_eq!(refused.status(), 500);
    /// ```
    pub fn not_verified() -> Self {
        Self::new(
            RejectionKind::NotVerified,
            "no verified webhook delivery: the route is not behind the webhook middleware \
             (hookgate-tower's WebhookLayer, hookgate-actix's Webhook) in inline mode",
        )
    }

    /// The 503 of a request admission control refused; `retry_after` is the
    /// source's delay for a full in-flight count.
    pub(crate) fn not_admitted(refusal: Refusal, retry_after: Duration) -> Self {
        match refusal {
            Refusal::InFlight(max) => Self::unavailable(
                RejectionKind::TooManyInFlight,
                format!("this source already has {max} requests in flight (its max_in_flight)"),
                retry_after,
            ),
            Refusal::Rate(limit, wait) => Self::unavailable(
                RejectionKind::RateLimited,
                format!(
                    "this source is over its rate limit of {limit} (burst {})",
                    limit.burst()
                ),
                wait,
            ),
        }
    }

    /// The 503 of a delivery the queue refused (`error`'s cause may name
    /// files or hosts: the sender is told only its kind); `retry_after` is
    /// the source's, for an error without a hint.
    pub(crate) fn queue_refused(error: &hookgate_queue::QueueError, retry_after: Duration) -> Self {
        Self::unavailable(
            RejectionKind::QueueUnavailable,
            format!("the delivery could not be queued: {}", error.kind()),
            error.retry_after().unwrap_or(retry_after),
        )
    }

    /// Marks one of a flood of refusals, logged at debug instead of info.
    pub(crate) fn quiet(mut self) -> Self {
        self.quiet = true;
        self
    }

    /// Whether this is one of a flood of refusals (see [`quiet`](Self::quiet)).
    pub(crate) fn is_quiet(&self) -> bool {
        self.quiet
    }

    pub(crate) fn unavailable(kind: RejectionKind, detail: String, retry_after: Duration) -> Self {
        let mut r = Self::new(kind, detail);
        r.retry_after = Some(retry_after);
        r
    }

    /// Why the request was refused.
    pub fn kind(&self) -> RejectionKind {
        self.kind
    }

    /// The HTTP status to answer with.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The human-readable detail, safe to show the sender.
    pub fn body_text(&self) -> &str {
        &self.detail
    }

    /// How long the sender should wait before retrying (503 only).
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// The methods the route accepts (405 only).
    pub fn allow(&self) -> &[Method] {
        &self.allow
    }

    /// The required context fields that were missing, in declared order (422 only).
    pub fn missing_fields(&self) -> &[String] {
        &self.missing_fields
    }

    /// The RFC 9457 problem document: `type`, `title`, `status`, `detail`, and
    /// `missing_fields` for a 422 about context fields.
    pub fn problem_json(&self) -> String {
        let mut doc = serde_json::json!({
            "type": format!("urn:hookgate:problem:{}", self.kind.as_str()),
            "title": self.kind.title(),
            "status": self.status.as_u16(),
            "detail": self.detail,
        });
        if !self.missing_fields.is_empty() {
            doc["missing_fields"] = serde_json::json!(self.missing_fields);
        }
        doc.to_string()
    }

    /// The `Retry-After` header value in whole seconds, rounded up, at least 1.
    pub fn retry_after_header(&self) -> Option<HeaderValue> {
        self.retry_after.map(|d| {
            let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
            HeaderValue::from(secs.max(1))
        })
    }

    /// The default response: status, `Content-Type: application/problem+json`,
    /// `Retry-After` (503) or `Allow` (405), and the problem document.
    pub fn to_response(&self) -> Response<Bytes> {
        let mut res = Response::new(Bytes::from(self.problem_json()));
        *res.status_mut() = self.status;
        let headers = res.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(value) = self.retry_after_header() {
            headers.insert(header::RETRY_AFTER, value);
        }
        if !self.allow.is_empty() {
            let allow = self
                .allow
                .iter()
                .map(Method::as_str)
                .collect::<Vec<_>>()
                .join(", ");
            if let Ok(value) = HeaderValue::from_str(&allow) {
                headers.insert(header::ALLOW, value);
            }
        }
        res
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.title(), self.detail)
    }
}

impl std::error::Error for Rejection {}

/// Turns a [`Rejection`] into the response sent back; swap it to change the
/// body format or add headers.
///
/// Implemented for every `Fn(&Rejection) -> http::Response<Bytes>`, so a
/// closure is enough:
///
/// ```
/// use bytes::Bytes;
/// use hookgate_receive::{Rejection, RejectionKind, RespondToRejection};
///
/// let plain = |r: &Rejection| {
///     let mut res = http::Response::new(Bytes::from(r.body_text().to_owned()));
///     *res.status_mut() = r.status();
///     res
/// };
/// let res = plain.respond(&Rejection::new(RejectionKind::Unauthenticated, "signature mismatch"));
/// assert_eq!(res.status(), 401);
/// assert_eq!(res.body().as_ref(), b"signature mismatch");
/// ```
pub trait RespondToRejection: Send + Sync + 'static {
    /// The response to send for `rejection`.
    ///
    /// Keep `Retry-After` on 503s (see [`Rejection::retry_after_header`]): without
    /// it senders retry on their own schedule.
    fn respond(&self, rejection: &Rejection) -> Response<Bytes>;
}

impl<F> RespondToRejection for F
where
    F: Fn(&Rejection) -> Response<Bytes> + Send + Sync + 'static,
{
    fn respond(&self, rejection: &Rejection) -> Response<Bytes> {
        self(rejection)
    }
}

/// The default rejection response: [`Rejection::to_response`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ProblemJson;

impl RespondToRejection for ProblemJson {
    fn respond(&self, rejection: &Rejection) -> Response<Bytes> {
        rejection.to_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_document_has_the_rfc_9457_members() {
        let r = Rejection::missing_context(vec!["identity_id".into(), "meta".into()]);
        let doc: serde_json::Value = serde_json::from_str(&r.problem_json()).unwrap();
        assert_eq!(doc["status"], 422);
        assert_eq!(doc["type"], "urn:hookgate:problem:missing_context");
        assert_eq!(doc["title"], "missing context fields");
        assert_eq!(
            doc["detail"],
            "missing required context fields: identity_id, meta"
        );
        assert_eq!(
            doc["missing_fields"],
            serde_json::json!(["identity_id", "meta"])
        );
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        let r = Rejection::unavailable(
            RejectionKind::QueueUnavailable,
            "queue is full".into(),
            Duration::from_millis(1500),
        );
        let res = r.to_response();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(res.headers()[header::RETRY_AFTER], "2");
        let r = Rejection::unavailable(
            RejectionKind::AckBudgetExceeded,
            "slow".into(),
            Duration::ZERO,
        );
        assert_eq!(r.retry_after_header().unwrap(), "1");
    }

    #[test]
    fn method_not_allowed_lists_allowed_methods() {
        let r = Rejection::method_not_allowed(Method::PUT, &[Method::GET, Method::POST]);
        let res = r.to_response();
        assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(res.headers()[header::ALLOW], "GET, POST");
    }
}
