//! Sources: one sender on one route, and everything the receiver needs to know about it.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use hookgate_events::{EventFilter, Sender};

use crate::client_ip::{Cidr, ClientPolicy};
use hookgate_verify::{Scheme, Verifier};
use http::{HeaderName, Method, StatusCode};

use crate::admission::Admission;
use crate::{Handshake, RateLimit};

/// The default ACK budget: 400 ms, below Claravine's 500 ms deadline.
pub const DEFAULT_ACK_BUDGET: Duration = Duration::from_millis(400);
/// The default body limit: 1 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;
/// The default read timeout for the whole body: 5 s.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// The default `Retry-After` when the queue gives no hint: 1 s.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// The payload format that usually comes with a signature scheme: what to
/// pass to [`SourceBuilder::sender`] when the configuration names only the
/// scheme (as `hookgate serve` does). `None` for schemes that many senders
/// use with payloads of their own (`custom`, Clarity's header token,
/// Claimable's unpublished scheme).
///
/// ```
/// use hookgate_events::Sender;
/// use hookgate_receive::default_sender;
/// use hookgate_verify::Scheme;
///
/// assert_eq!(default_sender(Scheme::Stripe), Some(Sender::Stripe));
/// assert_eq!(default_sender(Scheme::Custom), None);
/// ```
#[must_use]
pub fn default_sender(scheme: Scheme) -> Option<Sender> {
    match scheme {
        Scheme::Standard => Some(Sender::Standard),
        Scheme::Svix => Some(Sender::Svix),
        Scheme::Clarife => Some(Sender::Clarife),
        Scheme::Stripe => Some(Sender::Stripe),
        Scheme::GitHub => Some(Sender::GitHub),
        Scheme::Slack => Some(Sender::Slack),
        Scheme::Shopify => Some(Sender::Shopify),
        Scheme::Claravine => Some(Sender::Claravine),
        Scheme::Linear => Some(Sender::Linear),
        Scheme::GitLab => Some(Sender::GitLab),
        Scheme::Paddle => Some(Sender::Paddle),
        Scheme::Zoom => Some(Sender::Zoom),
        Scheme::Twitch => Some(Sender::Twitch),
        Scheme::Meta => Some(Sender::Meta),
        Scheme::Discord => Some(Sender::Discord),
        Scheme::Dropbox => Some(Sender::Dropbox),
        Scheme::MsGraph => Some(Sender::MsGraph),
        Scheme::Twilio => Some(Sender::Twilio),
        _ => None,
    }
}

/// A mistake in the configuration, found when building it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A source name must not be empty.
    #[error("source name is empty")]
    EmptyName,
    /// A route path must start with `/`.
    #[error("path {path:?} of source {source_name:?} does not start with '/'")]
    InvalidPath {
        /// The source at fault.
        source_name: String,
        /// The path given.
        path: String,
    },
    /// A source must accept at least one method.
    #[error("source {0:?} accepts no method")]
    NoMethod(String),
    /// The success status must be 200, 202 or 204.
    #[error("success status {0} is not one of 200, 202, 204")]
    SuccessStatus(u16),
    /// A limit or duration must be greater than zero.
    #[error("{0} must be greater than zero")]
    Zero(&'static str),
    /// An event filter needs a sender to name the events.
    #[error("source {0:?} has an event filter but no sender to name its events")]
    FilterWithoutSender(String),
    /// Two sources have the same path.
    #[error("path {0:?} is used by two sources")]
    DuplicatePath(String),
    /// Two sources have the same name.
    #[error("source name {0:?} is used twice")]
    DuplicateName(String),
    /// A source in queue mode needs a queue.
    #[error("source {0:?} is in queue mode but the receiver has no queue")]
    NoQueue(String),
    /// An allow-list must name at least one range (an empty one would refuse everyone).
    #[error("source {0:?} has an empty allow_ips list")]
    EmptyAllowIps(String),
    /// A rate is written `N/s`, `N/min` or `N/h`.
    #[error("rate {0:?} is not N/s, N/min or N/h")]
    InvalidRate(String),
    /// A replay guard is written `"id"` or `"body"`.
    #[error("replay guard {0:?} is not \"id\" or \"body\"")]
    InvalidReplayGuard(String),
    /// A handshake's secret (Meta's verify token, Zoom's secret token) must not be empty.
    #[error("the {0} handshake needs a secret that is not empty")]
    EmptyHandshakeSecret(&'static str),
    /// The source's scheme signs the URL the sender called (Twilio) and the
    /// source has no [public URL](SourceBuilder::public_url).
    #[error("source {0:?} needs its public URL (its scheme signs the URL the sender called)")]
    PublicUrlRequired(String),
    /// A public URL is `http://` or `https://`, a host, and an optional path.
    #[error("public URL {url:?} of source {source_name:?} is not an http(s) URL without query")]
    InvalidPublicUrl {
        /// The source at fault.
        source_name: String,
        /// The URL given.
        url: String,
    },
}

/// What happens to a verified delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Mode {
    /// Enqueue it durably, then acknowledge; the application's own handler is
    /// not called (the queue's workers process it later).
    #[default]
    Queue,
    /// Pass it on to the application with the raw body restored and the
    /// verification result attached; the application's handler answers.
    Inline,
}

/// What the queue deduplicates a source's deliveries on: the delivery id it
/// is given ([`VerifiedDelivery::delivery_id`](crate::VerifiedDelivery::delivery_id)).
///
/// The sender's id is what its retries repeat, but several schemes do not
/// sign it: GitHub's `X-GitHub-Delivery`, Shopify's `X-Shopify-Webhook-Id`
/// and Meta-style body-only HMACs sign the body alone and carry no signed
/// timestamp. Whoever captures one of their deliveries (a proxy log, a
/// misdirected request) can send it again with a fresh id; it verifies, and
/// with the default guard it is queued again, as often as they like, for as
/// long as the secret is valid. [`ReplayGuard::Body`] closes that.
///
/// ```
/// use hookgate_receive::{ReplayGuard, Source};
/// use hookgate_verify::{Scheme, Verifier};
///
/// let source = Source::builder("github", "/hooks/github", Verifier::new(Scheme::GitHub, "s3cret")?)
///     .replay_guard(ReplayGuard::Body)
///     .build()?;
/// assert_eq!(source.replay_guard(), ReplayGuard::Body);
/// assert_eq!("body".parse::<ReplayGuard>()?, ReplayGuard::Body);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
#[non_exhaustive]
pub enum ReplayGuard {
    /// The sender's delivery id ([`Verified::delivery_id`](hookgate_verify::Verified::delivery_id)),
    /// or, for senders that send none, the SHA-256 of the body (see
    /// [`derived_delivery_id`](crate::derived_delivery_id)). Written `"id"`.
    #[default]
    Id,
    /// The SHA-256 of the body, which the signature covers (for body-only
    /// HMACs it is the whole signed content), whatever id the request carries:
    /// a replay under a fresh id is a duplicate, answered 200 and not queued
    /// again, for as long as the queue remembers ids (its dedup window, 24 h
    /// by default). Written `"body"`.
    ///
    /// What it costs: two genuine deliveries with byte-identical bodies
    /// inside the window are one (the second is dropped as a duplicate);
    /// GitHub and Shopify bodies carry the object's state and timestamps, so
    /// distinct events rarely collide, but a sender that repeats an event
    /// with the same body on purpose is heard once. The queue and the
    /// handlers see `sha256:<hex>` as the delivery id; the sender's own id
    /// stays in its header, which is queued with the delivery. And one
    /// SHA-256 over the body per delivery, a fraction of the HMAC's cost.
    Body,
}

impl ReplayGuard {
    /// How the guard is written in configuration: `"id"` or `"body"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Id => "id",
            Self::Body => "body",
        }
    }
}

impl fmt::Display for ReplayGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ReplayGuard {
    type Err = ConfigError;

    /// `"id"` or `"body"`.
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        match s {
            "id" => Ok(Self::Id),
            "body" => Ok(Self::Body),
            other => Err(ConfigError::InvalidReplayGuard(other.to_owned())),
        }
    }
}

/// One sender on one route: the path, methods, verifier, optional event filter,
/// limits and deadlines.
///
/// ```
/// use std::time::Duration;
/// use hookgate_receive::Source;
/// use hookgate_verify::{Scheme, Verifier};
///
/// let source = Source::builder("clarife", "/hooks/clarife", Verifier::new(Scheme::Clarife, "whsec")?)
///     .ack_budget(Duration::from_millis(300))
///     .build()?;
/// assert_eq!(source.name(), "clarife");
/// assert_eq!(source.body_limit(), 1024 * 1024);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Source {
    pub(crate) name: Arc<str>,
    pub(crate) path: String,
    pub(crate) methods: Vec<Method>,
    pub(crate) verifier: Verifier,
    /// The header that carries the source's secret itself; never kept.
    pub(crate) secret_header: Option<HeaderName>,
    pub(crate) sender: Option<Sender>,
    pub(crate) filter: Option<EventFilter>,
    pub(crate) ack_budget: Duration,
    pub(crate) body_limit: usize,
    pub(crate) read_timeout: Duration,
    pub(crate) retry_after: Duration,
    pub(crate) success_status: StatusCode,
    pub(crate) required_context: Vec<String>,
    pub(crate) mode: Mode,
    /// The allow-list with the receiver's trusted proxies (set when the
    /// receiver is built); `None`: every client.
    pub(crate) client_policy: Option<ClientPolicy>,
    pub(crate) admission: Admission,
    pub(crate) replay_guard: ReplayGuard,
    /// The handshake answered on this route, if any.
    pub(crate) handshake: Option<Handshake>,
    /// Where senders reach the receiver (scheme, host, path prefix), without
    /// a trailing `/`: the signed URL is this, the source's path and the
    /// request's query.
    pub(crate) public_url: Option<String>,
}

impl Source {
    /// Starts a source named `name` (used in the queue, logs and metrics) on
    /// `path`, verified by `verifier`; by default it accepts `POST` only.
    pub fn builder(
        name: impl Into<String>,
        path: impl Into<String>,
        verifier: Verifier,
    ) -> SourceBuilder {
        SourceBuilder {
            name: name.into(),
            path: path.into(),
            methods: vec![Method::POST],
            verifier,
            sender: None,
            filter: None,
            ack_budget: DEFAULT_ACK_BUDGET,
            body_limit: DEFAULT_BODY_LIMIT,
            read_timeout: DEFAULT_READ_TIMEOUT,
            retry_after: DEFAULT_RETRY_AFTER,
            success_status: StatusCode::OK,
            required_context: Vec::new(),
            mode: Mode::Queue,
            allow_ips: None,
            max_in_flight: None,
            rate_limit: None,
            replay_guard: ReplayGuard::Id,
            handshake: HandshakeChoice::Default,
            public_url: None,
        }
    }

    /// The source's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The route path, matched exactly.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The accepted methods.
    pub fn methods(&self) -> &[Method] {
        &self.methods
    }

    /// The deadline for the enqueue.
    pub fn ack_budget(&self) -> Duration {
        self.ack_budget
    }

    /// The largest accepted body, in bytes.
    pub fn body_limit(&self) -> usize {
        self.body_limit
    }

    /// The deadline for receiving the whole body.
    pub fn read_timeout(&self) -> Duration {
        self.read_timeout
    }

    /// The status of an acknowledged, newly queued delivery.
    pub fn success_status(&self) -> StatusCode {
        self.success_status
    }

    /// The required context fields, in declared order.
    pub fn required_context(&self) -> &[String] {
        &self.required_context
    }

    /// Queue or inline mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The client ranges accepted, when the source has an allow-list.
    pub fn allow_ips(&self) -> Option<&[Cidr]> {
        self.client_policy.as_ref().map(|p| p.allow.as_slice())
    }

    /// How many requests of this source may be received at once, if limited.
    pub fn max_in_flight(&self) -> Option<usize> {
        self.admission.max_in_flight()
    }

    /// How fast requests of this source may come, if limited.
    pub fn rate_limit(&self) -> Option<RateLimit> {
        self.admission.rate_limit()
    }

    /// What the queue deduplicates this source's deliveries on.
    pub fn replay_guard(&self) -> ReplayGuard {
        self.replay_guard
    }
    /// The handshake answered on this route, if any (see [`Handshake`]).
    pub fn handshake(&self) -> Option<&Handshake> {
        self.handshake.as_ref()
    }

    /// Whether `method` is accepted: one of [`methods`](Self::methods), or
    /// `GET` for a handshake that comes as one.
    pub(crate) fn accepts(&self, method: &Method) -> bool {
        self.methods.contains(method)
            || (*method == Method::GET
                && self.handshake.as_ref().is_some_and(Handshake::answers_get))
    }
}

/// What [`SourceBuilder::handshake`] and [`SourceBuilder::no_handshake`] chose.
#[derive(Debug)]
enum HandshakeChoice {
    /// The verifier's ([`Handshake::for_verifier`]).
    Default,
    Set(Handshake),
    None,
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Source")
            .field("name", &self.name)
            .field("path", &self.path)
            .field("methods", &self.methods)
            .field("verifier", &self.verifier)
            .field("sender", &self.sender)
            .field("filter", &self.filter)
            .field("ack_budget", &self.ack_budget)
            .field("body_limit", &self.body_limit)
            .field("read_timeout", &self.read_timeout)
            .field("success_status", &self.success_status)
            .field("required_context", &self.required_context)
            .field("mode", &self.mode)
            .field("allow_ips", &self.allow_ips())
            .field("admission", &self.admission)
            .field("replay_guard", &self.replay_guard)
            .field("handshake", &self.handshake)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Source`]; see [`Source::builder`].
#[derive(Debug)]
#[must_use]
pub struct SourceBuilder {
    name: String,
    path: String,
    methods: Vec<Method>,
    verifier: Verifier,
    sender: Option<Sender>,
    filter: Option<EventFilter>,
    ack_budget: Duration,
    body_limit: usize,
    read_timeout: Duration,
    retry_after: Duration,
    success_status: StatusCode,
    required_context: Vec<String>,
    mode: Mode,
    allow_ips: Option<Vec<Cidr>>,
    max_in_flight: Option<usize>,
    rate_limit: Option<RateLimit>,
    replay_guard: ReplayGuard,
    handshake: HandshakeChoice,
    public_url: Option<String>,
}

impl SourceBuilder {
    /// Where senders reach this receiver, as they see it (a proxy may have
    /// rewritten the request on its way): scheme, host and any path prefix,
    /// e.g. `https://hooks.example.com`. The URL a sender signed (Twilio
    /// does) is this, then the source's path, then the request's query.
    /// Required by the schemes that sign the URL ([`Scheme::needs_url`]),
    /// ignored by the others.
    ///
    /// [`Scheme::needs_url`]: hookgate_verify::Scheme::needs_url
    pub fn public_url(mut self, url: impl Into<String>) -> Self {
        self.public_url = Some(url.into());
        self
    }

    /// Accepts exactly `methods` (Clarity routes may be `GET` or `POST`); others get 405.
    pub fn methods(mut self, methods: impl IntoIterator<Item = Method>) -> Self {
        self.methods = methods.into_iter().collect();
        self
    }

    /// Names the sender, so events can be named and filtered.
    pub fn sender(mut self, sender: Sender) -> Self {
        self.sender = Some(sender);
        self
    }

    /// Acknowledges events that do not match `filter` with 200 without queueing them.
    /// Needs a [`sender`](Self::sender).
    pub fn filter(mut self, filter: EventFilter) -> Self {
        self.filter = Some(filter);
        self
    }

    /// The deadline for the enqueue (default 400 ms); past it the answer is 503.
    pub fn ack_budget(mut self, budget: Duration) -> Self {
        self.ack_budget = budget;
        self
    }

    /// The largest accepted body (default 1 MiB); larger ones get 413.
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// The deadline for receiving the whole body (default 5 s); slower senders get 408.
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.read_timeout = timeout;
        self
    }

    /// The `Retry-After` of a 503 when the queue gives no hint (default 1 s).
    pub fn retry_after(mut self, delay: Duration) -> Self {
        self.retry_after = delay;
        self
    }

    /// The status of an acknowledged, newly queued delivery: 200 (default), 202 or 204.
    pub fn success_status(mut self, status: StatusCode) -> Result<Self, ConfigError> {
        if !matches!(status.as_u16(), 200 | 202 | 204) {
            return Err(ConfigError::SuccessStatus(status.as_u16()));
        }
        self.success_status = status;
        Ok(self)
    }

    /// Requires these context fields (JSON body members for `POST`, query
    /// parameters for `GET`); a delivery missing any gets 422 listing them in
    /// this order.
    pub fn require_context<I, F>(mut self, fields: I) -> Self
    where
        I: IntoIterator<Item = F>,
        F: Into<String>,
    {
        self.required_context = fields.into_iter().map(Into::into).collect();
        self
    }

    /// Queue mode (default) or inline mode.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// Accepts deliveries only from clients in these ranges (GitHub, Stripe,
    /// Shopify and others publish theirs); others get 403 before the body is
    /// read, nothing is queued, and the refusal is logged with the address.
    ///
    /// The client is the socket's peer, or, when the peer is one of the
    /// receiver's [trusted proxies](crate::ReceiverBuilder::trusted_proxies),
    /// the client named by the forwarding headers those proxies added (see
    /// [`Cidr`] and the rules in [`ReceiverBuilder::trusted_proxies`](crate::ReceiverBuilder::trusted_proxies)).
    /// The integration must pass the peer address
    /// ([`RequestHead::peer`](crate::RequestHead)): hookgate-tower's server and
    /// axum's `ConnectInfo`, and actix-web, do. Without it, every delivery is refused.
    ///
    /// An empty list is refused by [`build`](Self::build).
    ///
    /// ```
    /// use hookgate_receive::Source;
    /// use hookgate_verify::{Scheme, Verifier};
    ///
    /// let source = Source::builder("github", "/hooks/github", Verifier::new(Scheme::GitHub, "s3cret")?)
    ///     .allow_ips(["192.30.252.0/22".parse()?, "2001:db8::/32".parse()?])
    ///     .build()?;
    /// assert_eq!(source.allow_ips().unwrap().len(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn allow_ips(mut self, ranges: impl IntoIterator<Item = Cidr>) -> Self {
        self.allow_ips = Some(ranges.into_iter().collect());
        self
    }

    /// Receives at most `limit` requests of this source at once (default:
    /// no limit); past it the answer is 503 with `Retry-After` (the
    /// [`retry_after`](Self::retry_after) delay), before a byte of the body is
    /// read and without queueing anything. A request holds its place from its
    /// head to its answer (in inline mode, until it is handed to the
    /// application). Zero is refused by [`build`](Self::build).
    pub fn max_in_flight(mut self, limit: usize) -> Self {
        self.max_in_flight = Some(limit);
        self
    }

    /// Admits requests of this source at `limit`'s rate and burst (default:
    /// no limit); past it the answer is 503 with `Retry-After` (when the next
    /// request would be admitted), before a byte of the body is read and
    /// without queueing anything.
    ///
    /// ```
    /// use hookgate_receive::{RateLimit, Source};
    /// use hookgate_verify::{Scheme, Verifier};
    ///
    /// let source = Source::builder("github", "/hooks/github", Verifier::new(Scheme::GitHub, "s3cret")?)
    ///     .max_in_flight(64)
    ///     .rate_limit("100/s".parse::<RateLimit>()?.with_burst(200)?)
    ///     .build()?;
    /// assert_eq!(source.max_in_flight(), Some(64));
    /// assert_eq!(source.rate_limit().map(|r| r.burst()), Some(200));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn rate_limit(mut self, limit: RateLimit) -> Self {
        self.rate_limit = Some(limit);
        self
    }

    /// What the queue deduplicates this source's deliveries on (default
    /// [`ReplayGuard::Id`]). [`ReplayGuard::Body`] keys them by the SHA-256
    /// of the body, so that a delivery of a body-only HMAC scheme (GitHub,
    /// Shopify, Meta-style) captured and resent with a fresh, unsigned id is
    /// a duplicate; read its cost on [`ReplayGuard::Body`] first.
    pub fn replay_guard(mut self, guard: ReplayGuard) -> Self {
        self.replay_guard = guard;
        self
    }

    /// Answers `handshake` on this route (default: the one of the
    /// verifier's scheme, [`Handshake::for_verifier`]): Meta's, for one,
    /// needs the verify token given in Meta's dashboard.
    ///
    /// ```
    /// use hookgate_receive::{Handshake, Source};
    /// use hookgate_verify::{Scheme, Verifier};
    ///
    /// let source = Source::builder("meta", "/hooks/meta", Verifier::new(Scheme::Meta, "app-secret")?)
    ///     .handshake(Handshake::meta("verify-token")?)
    ///     .build()?;
    /// assert_eq!(source.handshake().unwrap().name(), "meta");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn handshake(mut self, handshake: Handshake) -> Self {
        self.handshake = HandshakeChoice::Set(handshake);
        self
    }

    /// Answers no handshake on this route, not even the scheme's: every
    /// request is a delivery (verified, then queued or passed on).
    pub fn no_handshake(mut self) -> Self {
        self.handshake = HandshakeChoice::None;
        self
    }

    /// Checks the configuration.
    pub fn build(self) -> Result<Source, ConfigError> {
        if self.name.is_empty() {
            return Err(ConfigError::EmptyName);
        }
        if !self.path.starts_with('/') {
            return Err(ConfigError::InvalidPath {
                source_name: self.name,
                path: self.path,
            });
        }
        if self.methods.is_empty() {
            return Err(ConfigError::NoMethod(self.name));
        }
        if self.filter.is_some() && self.sender.is_none() {
            return Err(ConfigError::FilterWithoutSender(self.name));
        }
        if self.allow_ips.as_ref().is_some_and(Vec::is_empty) {
            return Err(ConfigError::EmptyAllowIps(self.name));
        }
        let public_url = match self.public_url {
            Some(url) => {
                let rest = url
                    .strip_prefix("https://")
                    .or_else(|| url.strip_prefix("http://"));
                let valid = rest.is_some_and(|rest| {
                    !rest.is_empty()
                        && !rest.starts_with('/')
                        && !rest.contains(['?', '#'])
                        && rest.bytes().all(|b| b.is_ascii_graphic())
                });
                if !valid {
                    return Err(ConfigError::InvalidPublicUrl {
                        source_name: self.name,
                        url,
                    });
                }
                Some(url.trim_end_matches('/').to_owned())
            }
            None if self.verifier.scheme().needs_url() => {
                return Err(ConfigError::PublicUrlRequired(self.name));
            }
            None => None,
        };
        for (what, zero) in [
            ("ack budget", self.ack_budget.is_zero()),
            ("body limit", self.body_limit == 0),
            ("read timeout", self.read_timeout.is_zero()),
            ("max in flight", self.max_in_flight == Some(0)),
        ] {
            if zero {
                return Err(ConfigError::Zero(what));
            }
        }
        let handshake = match self.handshake {
            HandshakeChoice::Default => Handshake::for_verifier(&self.verifier),
            HandshakeChoice::Set(handshake) => Some(handshake),
            HandshakeChoice::None => None,
        };
        Ok(Source {
            handshake,
            name: self.name.into(),
            path: self.path,
            methods: self.methods,
            secret_header: self.verifier.secret_header(),
            public_url,
            verifier: self.verifier,
            sender: self.sender,
            filter: self.filter,
            ack_budget: self.ack_budget,
            body_limit: self.body_limit,
            read_timeout: self.read_timeout,
            retry_after: self.retry_after,
            success_status: self.success_status,
            required_context: self.required_context,
            mode: self.mode,
            client_policy: self.allow_ips.map(|allow| ClientPolicy {
                allow,
                trusted_proxies: Arc::from([]),
            }),
            admission: Admission::new(self.max_in_flight, self.rate_limit),
            replay_guard: self.replay_guard,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_default_sender_has_its_scheme_name() {
        let mut with_sender = 0;
        for scheme in Scheme::ALL {
            if let Some(sender) = default_sender(scheme) {
                assert_eq!(sender.as_str(), scheme.as_str());
                with_sender += 1;
            }
        }
        assert!(with_sender >= 8, "{with_sender}");
    }

    fn verifier() -> Verifier {
        Verifier::new(Scheme::Clarity, "route-token").unwrap()
    }

    #[test]
    fn defaults_follow_the_senders_deadlines() {
        let source = Source::builder("clarity", "/hooks/clarity", verifier())
            .build()
            .unwrap();
        assert_eq!(source.ack_budget(), Duration::from_millis(400));
        assert_eq!(source.body_limit(), 1 << 20);
        assert_eq!(source.methods(), [Method::POST]);
        assert_eq!(source.success_status(), StatusCode::OK);
        assert_eq!(source.mode(), Mode::Queue);
    }

    #[test]
    fn the_header_carrying_a_token_is_known_whatever_its_name() {
        let custom = Verifier::builder(Scheme::Clarity)
            .secret("route-token")
            .unwrap()
            .header("x-route-key")
            .unwrap()
            .build()
            .unwrap();
        let source = Source::builder("a", "/a", custom).build().unwrap();
        assert_eq!(source.secret_header.unwrap(), "x-route-key");
        let default = Source::builder("b", "/b", verifier()).build().unwrap();
        assert_eq!(default.secret_header.unwrap(), "x-clarity-webhook-token");
        // A signature is not the secret: GitHub's header is kept.
        let github = Verifier::new(Scheme::GitHub, "s").unwrap();
        let source = Source::builder("c", "/c", github).build().unwrap();
        assert!(source.secret_header.is_none());
    }

    #[test]
    fn a_source_whose_scheme_signs_the_url_needs_its_public_url() {
        let twilio = || Verifier::new(hookgate_verify::Scheme::Twilio, "auth-token").unwrap();
        assert_eq!(
            Source::builder("twilio", "/hooks/twilio", twilio())
                .build()
                .unwrap_err(),
            ConfigError::PublicUrlRequired("twilio".into())
        );
        for bad in [
            "hooks.example.com",
            "ftp://hooks.example.com",
            "https://",
            "https:///path",
            "https://hooks.example.com/?x=1",
            "https://hooks example.com",
        ] {
            assert!(
                matches!(
                    Source::builder("twilio", "/hooks/twilio", twilio())
                        .public_url(bad)
                        .build(),
                    Err(ConfigError::InvalidPublicUrl { .. })
                ),
                "{bad}"
            );
        }
        let built = Source::builder("twilio", "/hooks/twilio", twilio())
            .public_url("https://hooks.example.com/prefix/")
            .build()
            .unwrap();
        assert_eq!(
            built.public_url.as_deref(),
            Some("https://hooks.example.com/prefix")
        );
        // Schemes that do not sign the URL need none.
        assert!(Source::builder("a", "/x", verifier()).build().is_ok());
    }

    #[test]
    fn mistakes_are_found_at_build_time() {
        let err = |b: SourceBuilder| b.build().unwrap_err();
        assert_eq!(
            err(Source::builder("", "/x", verifier())),
            ConfigError::EmptyName
        );
        assert!(matches!(
            err(Source::builder("a", "x", verifier())),
            ConfigError::InvalidPath { .. }
        ));
        assert_eq!(
            err(Source::builder("a", "/x", verifier()).methods([])),
            ConfigError::NoMethod("a".into())
        );
        assert_eq!(
            err(Source::builder("a", "/x", verifier()).body_limit(0)),
            ConfigError::Zero("body limit")
        );
        assert_eq!(
            err(Source::builder("a", "/x", verifier()).ack_budget(Duration::ZERO)),
            ConfigError::Zero("ack budget")
        );
        assert_eq!(
            err(Source::builder("a", "/x", verifier()).max_in_flight(0)),
            ConfigError::Zero("max in flight")
        );
        assert_eq!(
            Source::builder("a", "/x", verifier())
                .success_status(StatusCode::CREATED)
                .unwrap_err(),
            ConfigError::SuccessStatus(201)
        );
        assert_eq!(
            ConfigError::SuccessStatus(201).to_string(),
            "success status 201 is not one of 200, 202, 204"
        );
    }
}
