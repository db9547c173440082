//! The receiver: routing, per-request decisions and the enqueue under the ACK budget.

use std::collections::HashSet;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use hookgate_events::JsonBody;
use hookgate_queue::observe::{DeliveryEvent, EventKind, Headers, Observer};
use hookgate_queue::{Enqueue, EnqueueOutcome, NewDelivery};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode, header};
use tokio::time::Instant;
use tracing::{Span, field};

use crate::admission::{Admission, InFlight};
use crate::body::{BodyCollector, check_content_length};
use crate::client_ip::Cidr;
use crate::context::missing_fields;
use crate::handshake::Answer;
use crate::id::derived_delivery_id;
use crate::metrics as m;
use crate::{ConfigError, Mode, Rejection, RejectionKind, ReplayGuard, RespondToRejection, Source};

/// The webhook routes of one server and the queue behind them.
///
/// Cheap to clone (the configuration is shared). Both the tower layer and
/// the actix middleware drive it the same way, one [`Reception`] per request:
///
/// 1. [`Receiver::start`] routes by path (`None`: not a webhook route, pass it on);
/// 2. [`Reception::check_head`] (or [`check_raw_head`](Reception::check_raw_head))
///    refuses a wrong method (405) or an announced `Content-Length` over the
///    limit (413), a delivery the queue refuses already (its backlog bound
///    is reached: 503 with `Retry-After`), and a source at its in-flight
///    limit or over its rate (503 with `Retry-After`), before a byte is read;
/// 3. [`Reception::receive`] does the rest and says what to answer, as a
///    [`Decision`]: it reads the body ([`Reception::read_body`]: 413 past the
///    limit, 408 past [`Reception::read_deadline`]), then
///    [`Reception::complete`] verifies (400/401), checks context fields
///    (422), filters (200, not queued), and enqueues under the ACK budget
///    (2xx, duplicate 200, or 503 with `Retry-After`); in inline mode the
///    decision is to pass the verified delivery on to the application.
///
/// ```
/// use std::sync::Arc;
/// use hookgate_queue::MemoryQueue;
/// use hookgate_receive::{Receiver, Source};
/// use hookgate_verify::{Scheme, Verifier};
///
/// let receiver = Receiver::builder()
///     .queue(Arc::new(MemoryQueue::new()))
///     .source(Source::builder("github", "/hooks/github", Verifier::new(Scheme::GitHub, "s3cret")?).build()?)
///     .build()?;
/// assert!(receiver.start("/hooks/github").is_some());
/// assert!(receiver.start("/health").is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Receiver {
    inner: Arc<Inner>,
}

struct Inner {
    sources: Vec<Arc<Source>>,
    queue: Option<Arc<dyn Enqueue>>,
    observer: Option<Arc<dyn Observer>>,
}

impl fmt::Debug for Receiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("sources", &self.inner.sources)
            .field("queue", &self.inner.queue.as_ref().map(|_| "dyn Enqueue"))
            .field("observer", &self.inner.observer)
            .finish()
    }
}

impl Receiver {
    /// Starts an empty configuration.
    pub fn builder() -> ReceiverBuilder {
        ReceiverBuilder::default()
    }

    /// The configured sources.
    pub fn sources(&self) -> impl Iterator<Item = &Source> {
        self.inner.sources.iter().map(|s| &**s)
    }

    /// Begins handling a request for `path`, or `None` when no source is
    /// routed there (the request is not a webhook; pass it on untouched).
    pub fn start(&self, path: &str) -> Option<Reception> {
        // A handful of routes: a scan beats hashing the path.
        let source = Arc::clone(self.inner.sources.iter().find(|s| s.path == path)?);
        let span = tracing::info_span!(
            "webhook",
            source = %source.name,
            delivery_id = field::Empty,
            outcome = field::Empty,
        );
        m::received(&source.name);
        if let Some(observer) = &self.inner.observer {
            observer.observe(&DeliveryEvent::new(EventKind::Received, &source.name));
        }
        Some(Reception {
            source,
            queue: self.inner.queue.clone(),
            observer: self.inner.observer.clone(),
            started: Instant::now(),
            span,
            client_checked: false,
            admitted: None,
        })
    }
}

/// Builds a [`Receiver`].
#[derive(Default)]
#[must_use]
pub struct ReceiverBuilder {
    sources: Vec<Source>,
    queue: Option<Arc<dyn Enqueue>>,
    trusted_proxies: Vec<Cidr>,
    observer: Option<Arc<dyn Observer>>,
}

impl fmt::Debug for ReceiverBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReceiverBuilder")
            .field("sources", &self.sources)
            .field("queue", &self.queue.as_ref().map(|_| "dyn Enqueue"))
            .field("trusted_proxies", &self.trusted_proxies)
            .field("observer", &self.observer)
            .finish()
    }
}

impl ReceiverBuilder {
    /// The queue that sources in queue mode enqueue into: any queue
    /// (`Arc<dyn Queue>` converts), or anything else that takes deliveries.
    pub fn queue(mut self, queue: Arc<dyn Enqueue>) -> Self {
        self.queue = Some(queue);
        self
    }

    /// Tells `observer` about every request: received, then refused (with
    /// the reason), duplicate, queued, verified (inline mode) or skipped
    /// (filtered out, superseded); see [`hookgate_queue::observe`]. Accepted
    /// deliveries come with their headers (credentials removed) and body.
    /// Without an observer, nothing is built or copied for it.
    pub fn observer(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Adds a source.
    pub fn source(mut self, source: Source) -> Self {
        self.sources.push(source);
        self
    }

    /// The reverse proxies and load balancers in front of this server, whose
    /// forwarding headers are believed when a source has an
    /// [allow-list](crate::SourceBuilder::allow_ips) (default: none, so the
    /// client is always the socket's peer).
    ///
    /// When the peer is in one of these ranges, `X-Forwarded-For` and
    /// `Forwarded` (RFC 7239) are read right to left, skipping every address
    /// that is a trusted proxy too; the first that is not is the client.
    /// From any other peer, both headers are ignored: anyone can send them.
    /// List only your own proxies (their private range, or your load
    /// balancer's), never a range a sender could connect from. See the
    /// [`Cidr`] docs for what is refused rather than guessed.
    ///
    /// ```
    /// use hookgate_receive::{Receiver, Source};
    /// use hookgate_verify::{Scheme, Verifier};
    ///
    /// let receiver = Receiver::builder()
    ///     .trusted_proxies(["10.0.0.0/8".parse()?])
    ///     .source(
    ///         Source::builder("github", "/hooks/github", Verifier::new(Scheme::GitHub, "s3cret")?)
    ///             .allow_ips(["192.30.252.0/22".parse()?])
    ///             .mode(hookgate_receive::Mode::Inline)
    ///             .build()?,
    ///     )
    ///     .build()?;
    /// # let _ = receiver;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn trusted_proxies(mut self, ranges: impl IntoIterator<Item = Cidr>) -> Self {
        self.trusted_proxies = ranges.into_iter().collect();
        self
    }

    /// Checks that paths and names are unique and that queue-mode sources have a queue.
    pub fn build(self) -> Result<Receiver, ConfigError> {
        let mut paths = HashSet::new();
        let mut names = HashSet::new();
        for source in &self.sources {
            if !paths.insert(source.path.as_str()) {
                return Err(ConfigError::DuplicatePath(source.path.clone()));
            }
            if !names.insert(source.name.clone()) {
                return Err(ConfigError::DuplicateName(source.name.to_string()));
            }
            if source.mode == Mode::Queue && self.queue.is_none() {
                return Err(ConfigError::NoQueue(source.name.to_string()));
            }
        }
        let trusted: Arc<[Cidr]> = self.trusted_proxies.into();
        let mut sources = self.sources;
        for policy in sources.iter_mut().filter_map(|s| s.client_policy.as_mut()) {
            policy.trusted_proxies = Arc::clone(&trusted);
        }
        Ok(Receiver {
            inner: Arc::new(Inner {
                sources: sources.into_iter().map(Arc::new).collect(),
                queue: self.queue,
                observer: self.observer,
            }),
        })
    }
}

/// The parts of a request that the decisions read, whatever the framework.
#[derive(Debug, Clone, Copy)]
pub struct RequestHead<'a> {
    /// The request method.
    pub method: &'a Method,
    /// The query string, without `?`.
    pub query: Option<&'a str>,
    /// The request headers.
    pub headers: &'a HeaderMap,
    /// The address of the socket's peer (the client, or the last proxy), for
    /// sources with an [allow-list](crate::SourceBuilder::allow_ips); `None`
    /// when the server does not say, which such a source refuses.
    pub peer: Option<IpAddr>,
}

/// One webhook request in progress; see [`Receiver`] for the order of calls.
///
/// Every refusal goes through [`refuse`](Self::refuse) (or is returned by
/// [`complete`](Self::complete)), so each request is counted once.
pub struct Reception {
    source: Arc<Source>,
    queue: Option<Arc<dyn Enqueue>>,
    observer: Option<Arc<dyn Observer>>,
    started: Instant,
    span: Span,
    /// Whether [`check_head`](Self::check_head) admitted the client already
    /// (the allow-list is checked once, before admission).
    client_checked: bool,
    /// The request's place among its source's requests in flight, taken by
    /// [`check_head`](Self::check_head), given back when this is dropped.
    admitted: Option<InFlight>,
}

impl fmt::Debug for Reception {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reception")
            .field("source", &self.source.name)
            .field("started", &self.started)
            .finish_non_exhaustive()
    }
}

/// What became of an acknowledged delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// Durably queued (queue mode).
    Queued,
    /// Already queued before: acknowledged with 200, not queued twice.
    Duplicate,
    /// Recorded, but a newer delivery with the same coalescing key already
    /// waits, so this one will not be handled: 200.
    Superseded,
    /// Verified but excluded by the source's event filter: 200, not queued.
    FilteredOut,
    /// Verified, to be passed on to the application (inline mode).
    Verified,
    /// A sender's handshake (Slack's `url_verification`, Meta's
    /// `hub.challenge` ...), answered at once, never queued nor passed on;
    /// see [`handshake`](crate::handshake).
    Handshake,
}

impl Outcome {
    /// A stable snake_case name, used in logs and the `outcome` span field.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Duplicate => "duplicate",
            Self::Superseded => "superseded",
            Self::FilteredOut => "filtered_out",
            Self::Verified => "verified",
            Self::Handshake => "handshake",
        }
    }
}

/// An accepted delivery: its outcome, the status to answer with, and, in
/// inline mode, the verified delivery to hand on.
#[derive(Debug)]
pub struct Accepted {
    outcome: Outcome,
    status: StatusCode,
    delivery_id: String,
    delivery: Option<VerifiedDelivery>,
    /// The answer to a handshake ([`Outcome::Handshake`]).
    answer: Option<Answer>,
}

impl Accepted {
    fn handshake(answer: Answer, delivery_id: String) -> Self {
        Self {
            outcome: Outcome::Handshake,
            status: StatusCode::OK,
            delivery_id,
            delivery: None,
            answer: Some(answer),
        }
    }

    /// What became of the delivery.
    pub fn outcome(&self) -> Outcome {
        self.outcome
    }

    /// The status to answer with (irrelevant for [`Outcome::Verified`], where the application answers).
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The delivery id (the sender's, or derived from the body); empty for
    /// a handshake that is not signed (Meta's, Dropbox's and Microsoft
    /// Graph's), which has none.
    pub fn delivery_id(&self) -> &str {
        &self.delivery_id
    }

    /// The verified delivery to hand on: present exactly for [`Outcome::Verified`].
    pub fn delivery(&self) -> Option<&VerifiedDelivery> {
        self.delivery.as_ref()
    }

    /// Consumes `self`, returning the verified delivery to hand on (inline mode).
    pub fn into_delivery(self) -> Option<VerifiedDelivery> {
        self.delivery
    }

    /// The acknowledgement: the status with an empty body, or for a
    /// handshake its answer (200, `text/plain` or JSON, with
    /// `X-Content-Type-Options: nosniff`).
    pub fn to_response(&self) -> Response<Bytes> {
        if let Some(answer) = &self.answer {
            return answer.to_response();
        }
        let mut res = Response::new(Bytes::new());
        *res.status_mut() = self.status;
        res
    }
}

/// What an integration does with a webhook request once
/// [`Reception::receive`] has decided.
///
/// Unlike the crate's other enums this one is not `#[non_exhaustive]`: it is
/// the contract between the receiver and each integration, and a new variant
/// must break their build rather than fall into a catch-all arm.
#[derive(Debug)]
pub enum Decision {
    /// Answer with this response, the acknowledgement (queued, duplicate,
    /// superseded, filtered out) or the refusal, already recorded; the
    /// application is not called.
    Respond(Response<Bytes>),
    /// Inline mode: call the application, with `body` restored as the request
    /// body and `delivery` attached as a request extension (which the
    /// integrations' `Verified<T>` and `VerifiedBytes` extractors read).
    PassOn {
        /// The verified delivery, for the request's extensions.
        delivery: VerifiedDelivery,
        /// The request body as it was received.
        body: Bytes,
    },
}

/// A delivery that passed verification: the request extension of inline mode.
///
/// Only this crate creates one, after the verifier accepted the request, so an
/// extractor built on it cannot exist without verification (`hookgate-tower`'s
/// and `hookgate-actix`'s `Verified<T>` and `VerifiedBytes` read it). Cloning
/// is cheap. Without a framework, an inline-mode [`Accepted`] holds it:
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// use bytes::Bytes;
/// use hookgate_events::{ClaravineEvent, Event};
/// use hookgate_receive::{Mode, Receiver, RequestHead, Source, parse_event};
/// use hookgate_verify::{Scheme, Verifier};
/// use http::{HeaderMap, Method};
///
/// let receiver = Receiver::builder()
///     .source(
///         Source::builder("claravine", "/hooks/claravine", Verifier::new(Scheme::Claravine, "client-secret")?)
///             .mode(Mode::Inline)
///             .build()?,
///     )
///     .build()?;
/// let mut headers = HeaderMap::new();
/// headers.insert("authorization", "Bearer client-secret".parse()?);
/// let head = RequestHead { method: &Method::POST, query: None, headers: &headers, peer: None };
/// let body = Bytes::from_static(br#"{"event":"list","event_time":1770923476,"object_id":"ef512810-0919-4e47-ab41-d3c69ea27ed0",
///     "href":"https://api.claravine.com/v1/lists/ef512810-0919-4e47-ab41-d3c69ea27ed0","operation":"updated","version":2,"token":"client-secret"}"#);
/// let accepted = receiver.start("/hooks/claravine").expect("a route").complete(head, body.clone()).await?;
///
/// let delivery = accepted.into_delivery().expect("inline mode");
/// assert_eq!(delivery.source(), "claravine");
/// assert_eq!(delivery.body(), &body);
/// let event: ClaravineEvent = parse_event(&delivery)?;
/// assert_eq!(event.event_name(), "list.updated");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct VerifiedDelivery {
    inner: Arc<DeliveryInner>,
}

struct DeliveryInner {
    source: Arc<str>,
    delivery_id: String,
    event_name: Option<hookgate_events::EventName>,
    verified: hookgate_verify::Verified,
    headers: HeaderMap,
    body: Bytes,
    received_at: SystemTime,
}

impl fmt::Debug for VerifiedDelivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        f.debug_struct("VerifiedDelivery")
            .field("source", &inner.source)
            .field("delivery_id", &inner.delivery_id)
            .field("event_name", &inner.event_name)
            .field("verified", &inner.verified)
            .field("body_len", &inner.body.len())
            .finish_non_exhaustive()
    }
}

impl VerifiedDelivery {
    /// The name of the source the delivery arrived on.
    pub fn source(&self) -> &str {
        &self.inner.source
    }

    /// The sender's delivery id, or the derived one (see [`derived_delivery_id`](crate::derived_delivery_id)).
    pub fn delivery_id(&self) -> &str {
        &self.inner.delivery_id
    }

    /// The event name, when the source has a sender that names it.
    pub fn event_name(&self) -> Option<&hookgate_events::EventName> {
        self.inner.event_name.as_ref()
    }

    /// What the verifier established: scheme, signed timestamp, matched key.
    pub fn verified(&self) -> &hookgate_verify::Verified {
        &self.inner.verified
    }

    /// The request headers, without credentials and hop-by-hop headers (the
    /// ones a queue would store).
    pub fn headers(&self) -> &HeaderMap {
        &self.inner.headers
    }

    /// The payload: the raw body that was verified or, for a `GET` without a
    /// body (Clarity's GET routes), the query string, as a queue would store
    /// it (with `Content-Type: application/x-www-form-urlencoded` in
    /// [`headers`](Self::headers)). The request handed on to the application
    /// keeps its own body.
    pub fn body(&self) -> &Bytes {
        &self.inner.body
    }

    /// When the delivery was received.
    pub fn received_at(&self) -> SystemTime {
        self.inner.received_at
    }
}

/// Headers never written to the queue: credentials (Claravine's bearer
/// token, Clarity's route token, and `secret`, the header that carries the
/// source's own token whatever it is named) and hop-by-hop headers.
fn kept_headers(headers: &HeaderMap, secret: Option<&HeaderName>) -> HeaderMap {
    Headers::filtered(headers, &|name| is_kept(name, secret)).to_header_map()
}

/// Whether a header is kept with the delivery: not a credential (the
/// source's secret header among them) nor about the connection.
fn is_kept(name: &HeaderName, secret: Option<&HeaderName>) -> bool {
    let dropped = *name == header::AUTHORIZATION
        || *name == header::PROXY_AUTHORIZATION
        || *name == header::COOKIE
        || *name == hookgate_verify::headers::CLARITY_WEBHOOK_TOKEN
        || Some(name) == secret
        || *name == header::CONNECTION
        || *name == header::TRANSFER_ENCODING
        || *name == header::TE
        || *name == header::UPGRADE
        || *name == header::CONTENT_LENGTH
        || name.as_str() == "keep-alive";
    !dropped
}

impl Reception {
    /// The source the request was routed to.
    pub fn source(&self) -> &Source {
        &self.source
    }

    /// The span of this request (fields `source`, `delivery_id`, `outcome`);
    /// instrument the body read with it.
    pub fn span(&self) -> &Span {
        &self.span
    }

    /// Refuses a wrong method (405), an announced body over the limit (413)
    /// or a client outside the source's
    /// [allow-list](crate::SourceBuilder::allow_ips) (403; `peer` is the
    /// socket's peer address, see [`RequestHead::peer`]), then a delivery
    /// the queue would refuse anyway ([`Enqueue::refusal`]: a
    /// [`BacklogLimit`](hookgate_queue::BacklogLimit) at its bound; 503 with
    /// `Retry-After`, as the enqueue's refusal), then admits the request: a
    /// source at its [`max_in_flight`](crate::SourceBuilder::max_in_flight)
    /// or over its [`rate_limit`](crate::SourceBuilder::rate_limit) gets 503
    /// with `Retry-After`. All before a byte of the body is read. The
    /// admitted request holds its in-flight place until this `Reception` is
    /// done (answered, refused, or dropped).
    ///
    /// The allow-list comes first so that a client it refuses never spends
    /// the source's rate or in-flight budget: a flood from outside the list
    /// cannot crowd out the sender the list lets in. The queue's refusal
    /// comes before admission for the same reason: a request refused for the
    /// backlog spends none of the source's rate.
    ///
    /// The queue is asked only for a queue-mode source without a
    /// [handshake](crate::SourceBuilder::handshake) or an
    /// [event filter](crate::SourceBuilder::filter): their handshakes and
    /// filtered-out events are answered without the queue, which needs the
    /// body, so they are refused at the enqueue as before.
    pub fn check_head(
        &mut self,
        method: &Method,
        headers: &HeaderMap,
        peer: Option<IpAddr>,
    ) -> Result<(), Rejection> {
        if !self.source.accepts(method) {
            return Err(Rejection::method_not_allowed(method, &self.source.methods));
        }
        check_content_length(headers, self.source.body_limit)?;
        if !self.client_checked {
            self.check_client(peer, headers)?;
            self.client_checked = true;
        }
        if let Some(refused) = self.queue_refusal() {
            return Err(refused);
        }
        if self.admitted.is_none() {
            let place = Admission::admit(&self.source, self.started)
                .map_err(|refusal| Rejection::not_admitted(refusal, self.source.retry_after))?;
            self.admitted = Some(place);
        }
        Ok(())
    }

    /// [`check_head`](Self::check_head) for a framework whose method type is
    /// not `http` 1.x's (actix-web 4 uses `http` 0.2): the method is given as
    /// its bytes and returned parsed. Bytes that are no valid method are
    /// refused like any method the source does not accept (405 with `Allow`),
    /// so a failed conversion can never stand in for an accepted method.
    pub fn check_raw_head(
        &mut self,
        method: &[u8],
        headers: &HeaderMap,
        peer: Option<IpAddr>,
    ) -> Result<Method, Rejection> {
        let Ok(parsed) = Method::from_bytes(method) else {
            return Err(Rejection::method_not_allowed(
                String::from_utf8_lossy(method),
                &self.source.methods,
            ));
        };
        self.check_head(&parsed, headers, peer)?;
        Ok(parsed)
    }

    /// Reads the whole body, a stream of chunks (actix-web's `Payload`, or an
    /// `http_body::Body` through `http_body_util::BodyExt::into_data_stream`),
    /// under the source's limit (413, refused once passed, never buffered
    /// whole) and before the [read deadline](Self::read_deadline) (408); a
    /// chunk that fails (the connection broke mid-body) is a 400.
    ///
    /// Like [`check_head`](Self::check_head), a refusal is returned, not yet
    /// recorded: pass it to [`refuse`](Self::refuse). [`receive`](Self::receive)
    /// does both.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// use bytes::Bytes;
    /// use hookgate_receive::{Receiver, RejectionKind, Source};
    /// use hookgate_verify::{Scheme, Verifier};
    ///
    /// let receiver = Receiver::builder()
    ///     .source(
    ///         Source::builder("github", "/hooks/github", Verifier::new(Scheme::GitHub, "s3cret")?)
    ///             .mode(hookgate_receive::Mode::Inline)
    ///             .body_limit(8)
    ///             .build()?,
    ///     )
    ///     .build()?;
    /// let chunks = |parts: &[&'static [u8]]| {
    ///     futures_util::stream::iter(parts.iter().map(|p| Ok::<_, std::io::Error>(Bytes::from_static(p))).collect::<Vec<_>>())
    /// };
    /// let reception = receiver.start("/hooks/github").expect("a webhook route");
    /// assert_eq!(reception.read_body(chunks(&[b"{}", b""])).await?, "{}");
    /// let refused = reception.read_body(chunks(&[b"12345", b"6789"])).await.unwrap_err();
    /// assert_eq!(refused.kind(), RejectionKind::PayloadTooLarge);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn read_body<S, E>(&self, body: S) -> Result<Bytes, Rejection>
    where
        S: Stream<Item = Result<Bytes, E>>,
    {
        let mut collector = self.body_collector();
        let read = async {
            let mut body = std::pin::pin!(body);
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|_| {
                    Rejection::new(
                        RejectionKind::BodyUnreadable,
                        "the request body could not be read",
                    )
                })?;
                collector.push(chunk)?;
            }
            Ok(())
        };
        match tokio::time::timeout_at(self.read_deadline(), read).await {
            Ok(Ok(())) => Ok(collector.finish()),
            Ok(Err(rejection)) => Err(rejection),
            Err(_elapsed) => Err(self.read_timed_out()),
        }
    }

    /// Everything after [`check_head`](Self::check_head): reads the body
    /// ([`read_body`](Self::read_body)), [`complete`](Self::complete)s the
    /// delivery, and says what the integration does next. Refusals are
    /// recorded and turned into responses by `respond`; acknowledgements are
    /// [`Accepted::to_response`].
    pub async fn receive<S, E, R>(self, head: RequestHead<'_>, body: S, respond: &R) -> Decision
    where
        S: Stream<Item = Result<Bytes, E>>,
        R: RespondToRejection + ?Sized,
    {
        // A client that is not allowed is refused before its body is read.
        if let Err(rejection) = self.admit_client(&head) {
            return Decision::Respond(respond.respond(&self.refuse(rejection)));
        }
        let body = match self.read_body(body).await {
            Ok(body) => body,
            Err(rejection) => return Decision::Respond(respond.respond(&self.refuse(rejection))),
        };
        match self.finish(head, body.clone()).await {
            Err(rejection) => Decision::Respond(respond.respond(&rejection)),
            Ok(accepted) => {
                let ack = accepted.to_response();
                match accepted.into_delivery() {
                    Some(delivery) => Decision::PassOn { delivery, body },
                    None => Decision::Respond(ack),
                }
            }
        }
    }

    /// A collector enforcing the source's body limit.
    pub fn body_collector(&self) -> BodyCollector {
        BodyCollector::new(self.source.body_limit)
    }

    /// When the whole body must have arrived: the request start plus the read timeout.
    pub fn read_deadline(&self) -> Instant {
        self.started + self.source.read_timeout
    }

    /// The 408 to answer when the body missed [`read_deadline`](Self::read_deadline).
    pub fn read_timed_out(&self) -> Rejection {
        Rejection::read_timeout(self.source.read_timeout)
    }

    /// Records a refusal (metrics, span, log) and returns it for the response.
    pub fn refuse(self, rejection: Rejection) -> Rejection {
        self.record_refusal(&rejection);
        rejection
    }

    fn record_refusal(&self, rejection: &Rejection) {
        let reason = rejection.kind().as_str();
        self.span.record("outcome", reason);
        m::refused(&self.source.name, reason);
        let elapsed = self.started.elapsed();
        m::ack_latency(&self.source.name, reason, elapsed);
        if let Some(observer) = &self.observer {
            let mut event = DeliveryEvent::new(EventKind::Refused, &self.source.name);
            event.reason = Some(reason);
            event.status = Some(rejection.status().as_u16());
            event.latency = Some(elapsed);
            event.error = Some(rejection.body_text());
            observer.observe(&event);
        }
        self.span.in_scope(|| {
            if rejection.kind().is_admission() || rejection.is_quiet() {
                // A flood is refused one request at a time: a line each would
                // cost more than the refusal. The refused counter has them.
                tracing::debug!(
                    status = rejection.status().as_u16(),
                    detail = rejection.body_text(),
                    "webhook refused"
                );
            } else {
                tracing::info!(
                    status = rejection.status().as_u16(),
                    detail = rejection.body_text(),
                    "webhook refused"
                );
            }
        });
    }

    fn record_acceptance(&self, outcome: Outcome) {
        self.span.record("outcome", outcome.as_str());
        if outcome == Outcome::Duplicate {
            m::duplicate(&self.source.name);
        }
        m::ack_latency(&self.source.name, outcome.as_str(), self.started.elapsed());
        self.span.in_scope(|| tracing::debug!("webhook accepted"));
    }

    /// The queue's refusal of this source's next delivery, if known before
    /// the body is read (see [`check_head`](Self::check_head) for which
    /// sources ask).
    fn queue_refusal(&self) -> Option<Rejection> {
        let source = &*self.source;
        if source.mode != Mode::Queue || source.handshake.is_some() || source.filter.is_some() {
            return None;
        }
        let error = self.queue.as_ref()?.refusal(&source.name)?;
        // Refused at once, one request after another, for as long as the
        // queue's bound holds: the queue says so once (`BacklogLimit` logs
        // when it shuts and opens), so each refusal logs at debug only.
        Some(Rejection::queue_refused(&error, source.retry_after).quiet())
    }

    /// Refuses a client that the source's allow-list does not admit (403),
    /// unless [`check_head`](Self::check_head) admitted it already.
    fn admit_client(&self, head: &RequestHead<'_>) -> Result<(), Rejection> {
        if self.client_checked {
            return Ok(());
        }
        self.check_client(head.peer, head.headers)
    }

    fn check_client(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Result<(), Rejection> {
        match &self.source.client_policy {
            Some(policy) => policy.admit(peer, headers),
            None => Ok(()),
        }
    }

    /// Checks the client against the source's allow-list (403), verifies,
    /// checks context fields, filters and (in queue mode) enqueues under the
    /// ACK budget.
    pub async fn complete(self, head: RequestHead<'_>, body: Bytes) -> Result<Accepted, Rejection> {
        if let Err(rejection) = self.admit_client(&head) {
            return Err(self.refuse(rejection));
        }
        self.finish(head, body).await
    }

    /// [`complete`](Self::complete) once the client is admitted.
    async fn finish(self, head: RequestHead<'_>, body: Bytes) -> Result<Accepted, Rejection> {
        match self.decide(head, body).await {
            Ok(accepted) => {
                self.record_acceptance(accepted.outcome);
                Ok(accepted)
            }
            Err(rejection) => Err(self.refuse(rejection)),
        }
    }

    async fn decide(&self, head: RequestHead<'_>, body: Bytes) -> Result<Accepted, Rejection> {
        let source = &*self.source;
        // Unsigned handshakes (Meta's and Dropbox's GET, Microsoft Graph's
        // validationToken) have nothing to verify: answered first.
        if let Some(handshake) = &source.handshake
            && let Some(answer) = handshake.before_verification(head.method, head.query)
        {
            return answer.map(|answer| self.answered(answer, String::new()));
        }
        if !source.methods.contains(head.method) && source.accepts(head.method) {
            // A GET let through for a handshake that turned out not to be one.
            return Err(Rejection::method_not_allowed(head.method, &source.methods));
        }
        let verified = match &source.public_url {
            // The URL the sender called, as it saw it (Twilio signs it).
            Some(base) if source.verifier.scheme().needs_url() => {
                let url = match head.query {
                    Some(query) => format!("{base}{}?{query}", source.path),
                    None => format!("{base}{}", source.path),
                };
                let context = hookgate_verify::RequestContext::new().with_url(&url);
                source.verifier.verify_with(head.headers, &body, context)
            }
            _ => source.verifier.verify(head.headers, &body),
        }
        .map_err(|e| Rejection::verification(&e))?;

        // The body is read as JSON at most once, and only if a question needs
        // it: the handshake, the context fields and the event name are all
        // read from this.
        let json = JsonBody::new(&body);

        // A signed handshake is answered once verified, before the context
        // fields and the filter, which it would fail (it has neither).
        if let Some(handshake) = &source.handshake
            && let Some(answer) = handshake.after_verification(head.headers, &json)
        {
            let id = verified.delivery_id().unwrap_or_default().to_owned();
            if !id.is_empty() {
                self.span.record("delivery_id", id.as_str());
            }
            return answer.map(|answer| self.answered(answer, id));
        }
        let missing = missing_fields(
            &source.required_context,
            *head.method == Method::GET,
            head.query,
            &json,
        );
        if !missing.is_empty() {
            return Err(Rejection::missing_context(missing));
        }

        // A GET carries its payload in the query string (Clarity's GET
        // routes): that is the delivery, in both modes. It identifies it, it
        // is what is queued, and what the inline delivery holds.
        let query_payload = (*head.method == Method::GET && body.is_empty())
            .then(|| Bytes::copy_from_slice(head.query.unwrap_or_default().as_bytes()));
        // The id the queue deduplicates on: the sender's, unless the source
        // keys deliveries by what was signed (an unsigned id can be replaced).
        let delivery_id = match (source.replay_guard, verified.delivery_id()) {
            (ReplayGuard::Id, Some(id)) => id.to_owned(),
            (ReplayGuard::Id, None) | (ReplayGuard::Body, _) => {
                derived_delivery_id(query_payload.as_deref().unwrap_or(&body))
            }
        };
        self.span.record("delivery_id", delivery_id.as_str());
        let accepted = |outcome, status, delivery| Accepted {
            outcome,
            status,
            delivery_id: delivery_id.clone(),
            delivery,
            answer: None,
        };

        // A GET's payload is its query (a Twilio webhook set to GET sends
        // its form there): that is what names it.
        let event_name = source.sender.and_then(|sender| match &query_payload {
            Some(query) => sender.event_name(head.headers, query).ok(),
            None => sender.event_name_in(head.headers, &json).ok(),
        });
        // An event whose name cannot be read is kept: dropping what we cannot
        // classify would lose data silently.
        if let (Some(filter), Some(name)) = (&source.filter, &event_name)
            && !filter.allows(name)
        {
            if let Some(observer) = &self.observer {
                let mut event = self.accepted_event(
                    EventKind::Skipped,
                    Outcome::FilteredOut,
                    StatusCode::OK,
                    &delivery_id,
                );
                event.event_name = Some(name.as_str());
                observer.observe(&event);
            }
            return Ok(accepted(Outcome::FilteredOut, StatusCode::OK, None));
        }

        let received_at = SystemTime::now();
        let mut headers = kept_headers(head.headers, source.secret_header.as_ref());
        let form_payload = query_payload.is_some();
        let payload = match query_payload {
            Some(query) => {
                headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/x-www-form-urlencoded"),
                );
                query
            }
            None => body,
        };
        if source.mode == Mode::Inline {
            if let Some(observer) = &self.observer {
                let mut event = self.accepted_event(
                    EventKind::Verified,
                    Outcome::Verified,
                    source.success_status,
                    &delivery_id,
                );
                event.event_name = event_name.as_ref().map(|name| name.as_str());
                event.headers = Some(Headers::new(&headers));
                event.body = Some(&payload);
                observer.observe(&event);
            }
            let delivery = VerifiedDelivery {
                inner: Arc::new(DeliveryInner {
                    source: Arc::clone(&source.name),
                    delivery_id: delivery_id.clone(),
                    event_name,
                    verified,
                    headers,
                    body: payload,
                    received_at,
                }),
            };
            return Ok(accepted(
                Outcome::Verified,
                source.success_status,
                Some(delivery),
            ));
        }

        let Some(queue) = &self.queue else {
            // ReceiverBuilder::build refuses a queue-mode source without a queue.
            return Err(Rejection::unavailable(
                RejectionKind::QueueUnavailable,
                "no queue is configured".to_owned(),
                source.retry_after,
            ));
        };
        // Body and header values may be slices of the server's read buffer;
        // a queue that keeps them in memory copies them (`MemoryQueue` does).
        // An observer is told about them after the enqueue, which consumes
        // the copy: it is shown the request's own headers through the same
        // filter (a GET's form payload, whose content type was set above,
        // is the exception: its headers are kept aside), and the body's
        // handle is kept aside, only when there is an observer.
        let secret = source.secret_header.as_ref();
        let keep = move |name: &HeaderName| is_kept(name, secret);
        let told = self.observer.as_ref().map(|_| {
            let aside = form_payload.then(|| headers.clone());
            (aside, payload.clone())
        });
        let new = NewDelivery::new(&*source.name, delivery_id.as_str(), received_at, payload)
            .with_headers(headers);
        let enqueued = tokio::time::timeout(source.ack_budget, queue.enqueue(new)).await;
        let (kind, outcome, status) = match enqueued {
            Ok(Ok(EnqueueOutcome::Duplicate)) => {
                (EventKind::Duplicate, Outcome::Duplicate, StatusCode::OK)
            }
            Ok(Ok(EnqueueOutcome::Superseded)) => {
                (EventKind::Skipped, Outcome::Superseded, StatusCode::OK)
            }
            // `Enqueued`, and by the queue's contract any other outcome: the
            // delivery is safe to acknowledge.
            Ok(Ok(_)) => (EventKind::Queued, Outcome::Queued, source.success_status),
            Ok(Err(error)) => {
                // The error's cause may name files or hosts: log it, and tell
                // the sender only the kind.
                tracing::warn!(%error, "queue refused a webhook delivery");
                return Err(Rejection::queue_refused(&error, source.retry_after));
            }
            Err(_elapsed) => {
                return Err(Rejection::unavailable(
                    RejectionKind::AckBudgetExceeded,
                    format!(
                        "the delivery could not be queued within {} ms",
                        source.ack_budget.as_millis()
                    ),
                    source.retry_after,
                ));
            }
        };
        if let (Some(observer), Some((aside, body))) = (&self.observer, &told) {
            let mut event = self.accepted_event(kind, outcome, status, &delivery_id);
            event.event_name = event_name.as_ref().map(|name| name.as_str());
            event.headers = Some(match aside {
                Some(headers) => Headers::new(headers),
                None => Headers::filtered(head.headers, &keep),
            });
            event.body = Some(body);
            observer.observe(&event);
        }
        Ok(accepted(outcome, status, None))
    }

    /// A handshake answered: acknowledged, never queued (an observer hears
    /// of it as skipped, with the outcome `handshake`).
    fn answered(&self, answer: Answer, delivery_id: String) -> Accepted {
        if let Some(observer) = &self.observer {
            observer.observe(&self.accepted_event(
                EventKind::Skipped,
                Outcome::Handshake,
                StatusCode::OK,
                &delivery_id,
            ));
        }
        Accepted::handshake(answer, delivery_id)
    }

    /// The observer's event for an accepted delivery, without headers, body
    /// or event name.
    fn accepted_event<'a>(
        &'a self,
        kind: EventKind,
        outcome: Outcome,
        status: StatusCode,
        delivery_id: &'a str,
    ) -> DeliveryEvent<'a> {
        let mut event = DeliveryEvent::new(kind, &self.source.name);
        event.delivery_id = Some(delivery_id);
        event.outcome = Some(outcome.as_str());
        event.status = Some(status.as_u16());
        event.latency = Some(self.started.elapsed());
        event
    }
}

/// Parses a verified delivery into a typed event (`hookgate-events`): what the
/// `Verified<T>` extractors of both integrations do. A payload that does not
/// parse is refused with 422 ([`RejectionKind::InvalidPayload`]), the message
/// naming the JSON path at fault.
pub fn parse_event<T: hookgate_events::FromDelivery>(
    delivery: &VerifiedDelivery,
) -> Result<T, Rejection> {
    T::from_delivery(delivery.headers(), delivery.body()).map_err(|e| {
        Rejection::new(
            RejectionKind::InvalidPayload,
            format!("payload does not match the expected event type: {e}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RateLimit;
    use hookgate_queue::Queue;
    use hookgate_verify::{Scheme, Signer, Verifier};

    fn source(name: &str, path: &str, mode: Mode) -> Source {
        Source::builder(
            name,
            path,
            Verifier::new(Scheme::Clarity, "route-token").unwrap(),
        )
        .mode(mode)
        .body_limit(10)
        .build()
        .unwrap()
    }

    /// The headers of a request that carries the test sources' route token.
    fn token_headers() -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-clarity-webhook-token", "route-token".parse().unwrap());
        headers
    }

    #[test]
    fn paths_and_names_are_unique_and_queue_mode_needs_a_queue() {
        let dup_path = Receiver::builder()
            .source(source("a", "/x", Mode::Inline))
            .source(source("b", "/x", Mode::Inline))
            .build()
            .unwrap_err();
        assert_eq!(dup_path, ConfigError::DuplicatePath("/x".into()));
        let dup_name = Receiver::builder()
            .source(source("a", "/x", Mode::Inline))
            .source(source("a", "/y", Mode::Inline))
            .build()
            .unwrap_err();
        assert_eq!(dup_name, ConfigError::DuplicateName("a".into()));
        let no_queue = Receiver::builder()
            .source(source("a", "/x", Mode::Queue))
            .build()
            .unwrap_err();
        assert_eq!(no_queue, ConfigError::NoQueue("a".into()));
    }

    #[test]
    fn routing_is_by_exact_path_and_the_head_is_checked_before_the_body() {
        let receiver = Receiver::builder()
            .source(source("a", "/hooks/a", Mode::Inline))
            .build()
            .unwrap();
        assert!(receiver.start("/hooks/a/").is_none());
        let mut reception = receiver.start("/hooks/a").unwrap();
        assert_eq!(reception.source().name(), "a");
        let mut headers = HeaderMap::new();
        let refused = reception
            .check_head(&Method::GET, &headers, None)
            .unwrap_err();
        assert_eq!(refused.kind(), RejectionKind::MethodNotAllowed);
        headers.insert(header::CONTENT_LENGTH, http::HeaderValue::from_static("11"));
        let refused = reception
            .check_head(&Method::POST, &headers, None)
            .unwrap_err();
        assert_eq!(refused.kind(), RejectionKind::PayloadTooLarge);
        assert_eq!(
            reception.refuse(refused).status(),
            StatusCode::PAYLOAD_TOO_LARGE
        );
    }

    #[tokio::test]
    async fn a_body_that_fails_mid_read_is_a_400_and_one_past_the_limit_a_413() {
        let receiver = Receiver::builder()
            .source(source("a", "/hooks/a", Mode::Inline))
            .build()
            .unwrap();
        let reception = receiver.start("/hooks/a").unwrap();
        let broken = futures_util::stream::iter([
            Ok(Bytes::from_static(b"{")),
            Err(std::io::Error::from(std::io::ErrorKind::ConnectionReset)),
        ]);
        let refused = reception.read_body(broken).await.unwrap_err();
        assert_eq!(refused.kind(), RejectionKind::BodyUnreadable);
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
        // The limit is 10: the second chunk passes it, the third is never asked for.
        let long = futures_util::stream::iter([
            Ok::<_, std::io::Error>(Bytes::from_static(b"123456")),
            Ok(Bytes::from_static(b"7890a")),
        ])
        .chain(futures_util::stream::once(async {
            panic!("read past the limit")
        }));
        let refused = reception.read_body(long).await.unwrap_err();
        assert_eq!(refused.kind(), RejectionKind::PayloadTooLarge);
        let chunks = [
            Ok::<_, std::io::Error>(Bytes::from_static(b"12345")),
            Ok(Bytes::from_static(b"67890")),
        ];
        let whole = reception
            .read_body(futures_util::stream::iter(chunks))
            .await
            .unwrap();
        assert_eq!(whole, "1234567890");
    }

    #[test]
    fn a_method_that_does_not_convert_is_refused_not_guessed() {
        let receiver = Receiver::builder()
            .source(
                Source::builder(
                    "a",
                    "/hooks/a",
                    Verifier::new(Scheme::Clarity, "route-token").unwrap(),
                )
                .methods([Method::GET, Method::POST])
                .mode(Mode::Inline)
                .build()
                .unwrap(),
            )
            .build()
            .unwrap();
        let mut reception = receiver.start("/hooks/a").unwrap();
        let headers = HeaderMap::new();
        for invalid in [&b""[..], b"GE T", b"G\x00T"] {
            let refused = reception
                .check_raw_head(invalid, &headers, None)
                .unwrap_err();
            assert_eq!(
                refused.kind(),
                RejectionKind::MethodNotAllowed,
                "{invalid:?}"
            );
            assert_eq!(refused.allow(), [Method::GET, Method::POST]);
        }
        assert_eq!(
            reception.check_raw_head(b"GET", &headers, None).unwrap(),
            Method::GET
        );
        let refused = reception
            .check_raw_head(b"PURGE", &headers, None)
            .unwrap_err();
        assert_eq!(refused.kind(), RejectionKind::MethodNotAllowed);
    }

    #[test]
    fn credentials_and_hop_by_hop_headers_are_not_kept() {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, "Bearer t".parse().unwrap());
        headers.insert("x-clarity-webhook-token", "t".parse().unwrap());
        headers.insert(header::CONNECTION, "keep-alive".parse().unwrap());
        headers.insert("x-github-delivery", "d-1".parse().unwrap());
        let kept = kept_headers(&headers, None);
        assert_eq!(kept.len(), 1);
        assert_eq!(kept["x-github-delivery"], "d-1");
    }

    /// A header-token source with a header of its own: the token must not
    /// reach the queue (whose deliveries `hookgate serve` forwards) nor the
    /// inline delivery's headers.
    #[tokio::test]
    async fn a_token_in_a_custom_header_is_neither_queued_nor_handed_on() {
        let custom = || {
            Verifier::builder(Scheme::Clarity)
                .secret("route-token")
                .unwrap()
                .header("x-route-key")
                .unwrap()
                .build()
                .unwrap()
        };
        let queue = Arc::new(hookgate_queue::MemoryQueue::new());
        let receiver = Receiver::builder()
            .queue(queue.clone())
            .source(Source::builder("q", "/q", custom()).build().unwrap())
            .source(
                Source::builder("i", "/i", custom())
                    .mode(Mode::Inline)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-route-key", "route-token".parse().unwrap());
        headers.insert("x-request-id", "r-1".parse().unwrap());
        let head = RequestHead {
            method: &Method::POST,
            query: None,
            headers: &headers,
            peer: None,
        };
        let body = Bytes::from_static(b"{}");
        let queued = receiver.start("/q").unwrap();
        let accepted = queued.complete(head, body.clone()).await.unwrap();
        assert_eq!(accepted.outcome(), Outcome::Queued);
        let leased = queue
            .lease(hookgate_queue::LeaseRequest::new(
                1,
                std::time::Duration::from_secs(1),
            ))
            .await
            .unwrap();
        let stored = &leased[0].delivery.headers;
        assert!(stored.get("x-route-key").is_none(), "{stored:?}");
        assert_eq!(stored["x-request-id"], "r-1");

        let inline = receiver.start("/i").unwrap();
        let delivery = inline
            .complete(head, body)
            .await
            .unwrap()
            .into_delivery()
            .unwrap();
        assert!(delivery.headers().get("x-route-key").is_none());
        assert_eq!(delivery.headers()["x-request-id"], "r-1");
    }

    #[tokio::test]
    async fn a_delivery_in_the_memory_queue_does_not_pin_the_servers_buffer() {
        let queue = Arc::new(hookgate_queue::MemoryQueue::new());
        let receiver = Receiver::builder()
            .queue(queue.clone())
            .source(source("a", "/hooks/a", Mode::Queue))
            .build()
            .unwrap();
        // As a server would: body and header value are slices of one buffer.
        let buffer = Bytes::from_static(b"route-token{}");
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-github-event",
            HeaderValue::from_maybe_shared(buffer.slice(0..11)).unwrap(),
        );
        headers.insert("x-clarity-webhook-token", "route-token".parse().unwrap());
        let head = RequestHead {
            method: &Method::POST,
            query: None,
            headers: &headers,
            peer: None,
        };
        let body = buffer.slice(11..);
        let accepted = receiver
            .start("/hooks/a")
            .unwrap()
            .complete(head, body.clone())
            .await
            .unwrap();
        assert_eq!(accepted.outcome(), Outcome::Queued);
        assert!(accepted.delivery().is_none());
        let leased = queue
            .lease(hookgate_queue::LeaseRequest::new(
                1,
                std::time::Duration::from_secs(1),
            ))
            .await
            .unwrap();
        let queued = &leased[0].delivery;
        assert_eq!(queued.body, body);
        assert_ne!(queued.body.as_ptr(), body.as_ptr());
        let event = &queued.headers["x-github-event"];
        assert_eq!(event, "route-token");
        assert_ne!(event.as_bytes().as_ptr(), buffer.as_ptr());
    }

    #[tokio::test]
    async fn a_get_delivery_is_its_query_string() {
        let queue = Arc::new(hookgate_queue::MemoryQueue::new());
        let receiver = Receiver::builder()
            .queue(queue.clone())
            .source(
                Source::builder(
                    "clarity",
                    "/hooks/clarity",
                    Verifier::new(Scheme::Clarity, "route-token").unwrap(),
                )
                .methods([Method::GET])
                .require_context(["identity_id"])
                .build()
                .unwrap(),
            )
            .build()
            .unwrap();
        let headers = token_headers();
        for query in ["identity_id=1", "identity_id=2", "identity_id=1"] {
            let head = RequestHead {
                method: &Method::GET,
                query: Some(query),
                headers: &headers,
                peer: None,
            };
            let reception = receiver.start("/hooks/clarity").unwrap();
            reception.complete(head, Bytes::new()).await.unwrap();
        }
        // Two distinct deliveries; the repeated query is a duplicate.
        let leased = queue
            .lease(hookgate_queue::LeaseRequest::new(
                10,
                std::time::Duration::from_secs(1),
            ))
            .await
            .unwrap();
        assert_eq!(leased.len(), 2);
        let first = &leased[0].delivery;
        assert_eq!(first.body, Bytes::from_static(b"identity_id=1"));
        assert_eq!(
            first.delivery_id,
            crate::derived_delivery_id(b"identity_id=1")
        );
        assert_eq!(
            first.headers[header::CONTENT_TYPE],
            "application/x-www-form-urlencoded"
        );
    }

    /// A Twilio webhook set to GET sends its parameters in the query (and
    /// signs the URL with them): the query names the event, so an event
    /// filter keeps an incoming SMS and drops a call.
    #[tokio::test]
    async fn a_get_delivery_is_named_by_its_query() {
        use hookgate_events::{Event as _, EventFilter, Sender};

        let queue = Arc::new(hookgate_queue::MemoryQueue::new());
        let base = "https://hooks.example.com";
        let receiver = Receiver::builder()
            .queue(queue.clone())
            .source(
                Source::builder(
                    "twilio",
                    "/hooks/twilio",
                    Verifier::new(Scheme::Twilio, "auth-token").unwrap(),
                )
                .methods([Method::GET, Method::POST])
                .public_url(base)
                .sender(Sender::Twilio)
                .filter(EventFilter::new(["message.*"]).unwrap())
                .build()
                .unwrap(),
            )
            .build()
            .unwrap();
        let signer = Signer::new(Scheme::Twilio, "auth-token").unwrap();
        for query in [
            "CallSid=CA1&CallStatus=ringing&From=%2B14155238886",
            "MessageSid=SM1&SmsStatus=received&Body=Hello+there",
        ] {
            let url = format!("{base}/hooks/twilio?{query}");
            let context = hookgate_verify::RequestContext::new().with_url(&url);
            let headers = signer.sign_with("", 0, b"", context).unwrap();
            let head = RequestHead {
                method: &Method::GET,
                query: Some(query),
                headers: &headers,
                peer: None,
            };
            let reception = receiver.start("/hooks/twilio").unwrap();
            reception.complete(head, Bytes::new()).await.unwrap();
        }
        let leased = queue
            .lease(hookgate_queue::LeaseRequest::new(
                10,
                std::time::Duration::from_secs(1),
            ))
            .await
            .unwrap();
        assert_eq!(leased.len(), 1, "the call is filtered out, the SMS kept");
        let delivery = &leased[0].delivery;
        assert_eq!(
            delivery.body,
            Bytes::from_static(b"MessageSid=SM1&SmsStatus=received&Body=Hello+there")
        );
        let event = Sender::Twilio
            .parse(&delivery.headers, &delivery.body)
            .unwrap();
        assert_eq!(event.event_name(), "message.received");
    }

    /// A GitHub delivery captured and resent with a fresh `X-GitHub-Delivery`
    /// (which the signature does not cover) verifies: with the default guard
    /// it is a new delivery, with `ReplayGuard::Body` a duplicate.
    #[tokio::test]
    async fn a_replay_under_a_fresh_id_is_a_duplicate_only_with_the_body_guard() {
        let body = br#"{"action":"opened","number":1}"#;
        let signed = Signer::new(Scheme::GitHub, "s3cret")
            .unwrap()
            .sign("", 0, body)
            .unwrap();
        for (guard, outcomes) in [
            (
                ReplayGuard::Id,
                [Outcome::Queued, Outcome::Queued, Outcome::Duplicate],
            ),
            (
                ReplayGuard::Body,
                [Outcome::Queued, Outcome::Duplicate, Outcome::Duplicate],
            ),
        ] {
            let queue = Arc::new(hookgate_queue::MemoryQueue::new());
            let github = Source::builder(
                "github",
                "/hooks/github",
                Verifier::new(Scheme::GitHub, "s3cret").unwrap(),
            )
            .replay_guard(guard)
            .build()
            .unwrap();
            let receiver = Receiver::builder()
                .queue(queue.clone())
                .source(github)
                .build()
                .unwrap();
            // The original, the replay under a fresh id, the sender's retry.
            for (delivery, outcome) in ["d-1", "d-2", "d-1"].into_iter().zip(outcomes) {
                let mut headers = signed.clone();
                headers.insert("x-github-delivery", delivery.parse().unwrap());
                let head = RequestHead {
                    method: &Method::POST,
                    query: None,
                    headers: &headers,
                    peer: None,
                };
                let reception = receiver.start("/hooks/github").unwrap();
                let accepted = reception
                    .complete(head, Bytes::from_static(body))
                    .await
                    .unwrap();
                assert_eq!(accepted.outcome, outcome, "{guard} {delivery}");
                let expected_id = match guard {
                    ReplayGuard::Body => crate::derived_delivery_id(body),
                    _ => delivery.to_owned(),
                };
                assert_eq!(accepted.delivery_id, expected_id);
            }
            // The sender's own id is kept beside the delivery all the same.
            let leased = queue
                .lease(hookgate_queue::LeaseRequest::new(
                    10,
                    std::time::Duration::from_secs(1),
                ))
                .await
                .unwrap();
            assert_eq!(leased[0].delivery.headers["x-github-delivery"], "d-1");
        }
    }

    /// Inline mode holds the same delivery as queue mode for a GET: the
    /// query string, which its id is derived from; the application's request
    /// keeps its own (empty) body.
    #[tokio::test]
    async fn an_inline_get_delivery_is_its_query_string_too() {
        let receiver = Receiver::builder()
            .source(
                Source::builder(
                    "clarity",
                    "/hooks/clarity",
                    Verifier::new(Scheme::Clarity, "route-token").unwrap(),
                )
                .methods([Method::GET])
                .mode(Mode::Inline)
                .build()
                .unwrap(),
            )
            .build()
            .unwrap();
        let headers = token_headers();
        let head = RequestHead {
            method: &Method::GET,
            query: Some("identity_id=1"),
            headers: &headers,
            peer: None,
        };
        let empty = futures_util::stream::empty::<Result<Bytes, std::io::Error>>();
        let reception = receiver.start("/hooks/clarity").unwrap();
        let Decision::PassOn { delivery, body } =
            reception.receive(head, empty, &crate::ProblemJson).await
        else {
            panic!("inline mode passes the delivery on");
        };
        assert_eq!(delivery.body(), "identity_id=1");
        assert_eq!(
            delivery.delivery_id(),
            crate::derived_delivery_id(b"identity_id=1")
        );
        assert_eq!(
            delivery.headers()[header::CONTENT_TYPE],
            "application/x-www-form-urlencoded"
        );
        assert!(body.is_empty());
    }

    /// Collects the fields of `webhook` spans as they are set.
    #[derive(Clone, Default)]
    struct SpanFields(Arc<std::sync::Mutex<Vec<(String, String)>>>);

    impl tracing::field::Visit for SpanFields {
        fn record_debug(&mut self, field: &field::Field, value: &dyn fmt::Debug) {
            self.0
                .lock()
                .unwrap()
                .push((field.name().to_owned(), format!("{value:?}")));
        }
        fn record_str(&mut self, field: &field::Field, value: &str) {
            self.0
                .lock()
                .unwrap()
                .push((field.name().to_owned(), value.to_owned()));
        }
    }

    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for SpanFields {
        fn on_new_span(
            &self,
            attrs: &tracing::span::Attributes<'_>,
            _: &tracing::span::Id,
            _: tracing_subscriber::layer::Context<'_, S>,
        ) {
            attrs.record(&mut self.clone());
        }
        fn on_record(
            &self,
            _: &tracing::span::Id,
            values: &tracing::span::Record<'_>,
            _: tracing_subscriber::layer::Context<'_, S>,
        ) {
            values.record(&mut self.clone());
        }
    }

    #[test]
    fn the_span_carries_source_delivery_id_and_outcome() {
        use tracing_subscriber::layer::SubscriberExt;
        let fields = SpanFields::default();
        let subscriber = tracing_subscriber::registry().with(fields.clone());
        let receiver = Receiver::builder()
            .source(source("a", "/hooks/a", Mode::Inline))
            .build()
            .unwrap();
        let headers = token_headers();
        tracing::subscriber::with_default(subscriber, || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            runtime.block_on(async {
                let head = RequestHead {
                    method: &Method::POST,
                    query: None,
                    headers: &headers,
                    peer: None,
                };
                let reception = receiver.start("/hooks/a").unwrap();
                reception
                    .complete(head, Bytes::from_static(b"{}"))
                    .await
                    .unwrap();
            });
        });
        let fields = fields.0.lock().unwrap().clone();
        let id = crate::derived_delivery_id(b"{}");
        assert!(
            fields.contains(&("source".to_owned(), "a".to_owned())),
            "{fields:?}"
        );
        assert!(
            fields.contains(&("delivery_id".to_owned(), id)),
            "{fields:?}"
        );
        assert!(
            fields.contains(&("outcome".to_owned(), "verified".to_owned())),
            "{fields:?}"
        );
    }

    fn limited(name: &str, path: &str, max_in_flight: usize, rate: &str) -> Source {
        Source::builder(
            name,
            path,
            Verifier::new(Scheme::Clarity, "route-token").unwrap(),
        )
        .max_in_flight(max_in_flight)
        .rate_limit(rate.parse().unwrap())
        .retry_after(std::time::Duration::from_secs(3))
        .build()
        .unwrap()
    }

    #[tokio::test]
    async fn a_source_at_its_in_flight_limit_refuses_before_the_body_and_others_go_on() {
        let receiver = Receiver::builder()
            .queue(Arc::new(hookgate_queue::MemoryQueue::new()))
            .source(limited("a", "/a", 2, "1000/s"))
            .source(limited("b", "/b", 2, "1000/s"))
            .build()
            .unwrap();
        let headers = token_headers();
        let admitted = |path: &str| {
            let mut reception = receiver.start(path).unwrap();
            reception
                .check_head(&Method::POST, &headers, None)
                .map(|()| reception)
        };
        let first = admitted("/a").unwrap();
        let second = admitted("/a").unwrap();
        // A wrong method is refused before admission and takes no place.
        let mut wrong = receiver.start("/a").unwrap();
        assert_eq!(
            wrong
                .check_head(&Method::GET, &headers, None)
                .unwrap_err()
                .kind(),
            RejectionKind::MethodNotAllowed
        );
        let refused = admitted("/a").unwrap_err();
        assert_eq!(refused.kind(), RejectionKind::TooManyInFlight);
        assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(refused.retry_after_header().unwrap(), "3");
        assert!(refused.body_text().contains("max_in_flight"), "{refused}");
        // The other source has its own count.
        let other = admitted("/b").unwrap();
        let head = RequestHead {
            method: &Method::POST,
            query: None,
            headers: &headers,
            peer: None,
        };
        let accepted = other.complete(head, Bytes::from_static(b"{}")).await;
        assert_eq!(accepted.unwrap().outcome(), Outcome::Queued);
        // A place is given back when its request is answered, or dropped.
        let answered = first.complete(head, Bytes::from_static(b"[]")).await;
        assert_eq!(answered.unwrap().outcome(), Outcome::Queued);
        let third = admitted("/a").unwrap();
        drop(second);
        let fourth = admitted("/a").unwrap();
        assert!(admitted("/a").is_err());
        drop((third, fourth));
        assert!(admitted("/a").is_ok());
    }

    #[tokio::test]
    async fn a_client_outside_the_allow_list_spends_none_of_the_rate() {
        let source = Source::builder(
            "listed",
            "/listed",
            Verifier::new(Scheme::Clarity, "route-token").unwrap(),
        )
        .allow_ips(["10.0.0.0/8".parse().unwrap()])
        .max_in_flight(1)
        .rate_limit("1/min".parse().unwrap())
        .build()
        .unwrap();
        let receiver = Receiver::builder()
            .queue(Arc::new(hookgate_queue::MemoryQueue::new()))
            .source(source)
            .build()
            .unwrap();
        let headers = token_headers();
        let outsider = Some("192.0.2.7".parse().unwrap());
        for _ in 0..3 {
            let mut reception = receiver.start("/listed").unwrap();
            let refused = reception
                .check_head(&Method::POST, &headers, outsider)
                .unwrap_err();
            assert_eq!(refused.kind(), RejectionKind::ClientNotAllowed);
        }
        // The one request a minute, and the one place in flight, are still
        // there for the listed sender.
        let mut listed = receiver.start("/listed").unwrap();
        listed
            .check_head(&Method::POST, &headers, Some("10.1.2.3".parse().unwrap()))
            .unwrap();
        let mut second = receiver.start("/listed").unwrap();
        let refused = second
            .check_head(&Method::POST, &headers, Some("10.1.2.3".parse().unwrap()))
            .unwrap_err();
        assert_eq!(refused.kind(), RejectionKind::TooManyInFlight);
    }

    #[tokio::test(start_paused = true)]
    async fn a_source_over_its_rate_gets_503_with_when_to_come_back() {
        let receiver = Receiver::builder()
            .queue(Arc::new(hookgate_queue::MemoryQueue::new()))
            .source(limited("a", "/a", 1, "1/min"))
            .source(
                Source::builder(
                    "burst",
                    "/burst",
                    Verifier::new(Scheme::Clarity, "route-token").unwrap(),
                )
                .rate_limit(RateLimit::per_second(2).unwrap().with_burst(3).unwrap())
                .build()
                .unwrap(),
            )
            .build()
            .unwrap();
        let headers = token_headers();
        let admit = |path: &str| {
            let mut reception = receiver.start(path).unwrap();
            reception.check_head(&Method::POST, &headers, None)
        };
        for _ in 0..3 {
            admit("/burst").unwrap();
        }
        let refused = admit("/burst").unwrap_err();
        assert_eq!(refused.kind(), RejectionKind::RateLimited);
        assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            refused.retry_after(),
            Some(std::time::Duration::from_millis(500))
        );
        assert_eq!(refused.retry_after_header().unwrap(), "1");
        assert_eq!(
            refused.body_text(),
            "this source is over its rate limit of 2/s (burst 3)"
        );
        tokio::time::advance(std::time::Duration::from_millis(500)).await;
        admit("/burst").unwrap();
        assert!(admit("/burst").is_err());

        // A request refused for its rate gives its in-flight place back.
        admit("/a").unwrap();
        let refused = admit("/a").unwrap_err();
        assert_eq!(refused.kind(), RejectionKind::RateLimited);
        assert_eq!(refused.retry_after_header().unwrap(), "60");
        tokio::time::advance(std::time::Duration::from_secs(60)).await;
        admit("/a").unwrap();
    }

    /// The context fields and the event name come from one read of the
    /// body: a route that needs both gets both right.
    #[tokio::test]
    async fn context_fields_and_event_name_are_read_from_one_body() {
        let receiver = Receiver::builder()
            .queue(Arc::new(hookgate_queue::MemoryQueue::new()))
            .source(
                Source::builder(
                    "claims",
                    "/hooks/claims",
                    Verifier::new(Scheme::Clarity, "route-token").unwrap(),
                )
                .sender(hookgate_events::Sender::Claimable)
                .filter(hookgate_events::EventFilter::new(["claim.created"]).unwrap())
                .require_context(["claim", "tenant"])
                .build()
                .unwrap(),
            )
            .build()
            .unwrap();
        let headers = token_headers();
        let head = RequestHead {
            method: &Method::POST,
            query: None,
            headers: &headers,
            peer: None,
        };
        let deliver = |body: &'static str| {
            let reception = receiver.start("/hooks/claims").unwrap();
            reception.complete(head, Bytes::from_static(body.as_bytes()))
        };
        let created =
            r#"{"event_name":"claim.created","source":"ui","claim":{"id":1},"tenant":"t"}"#;
        assert_eq!(deliver(created).await.unwrap().outcome(), Outcome::Queued);
        let updated =
            r#"{"event_name":"claim.updated","source":"ui","claim":{"id":1},"tenant":"t"}"#;
        assert_eq!(
            deliver(updated).await.unwrap().outcome(),
            Outcome::FilteredOut
        );
        let no_tenant =
            r#"{"event_name":"claim.created","source":"ui","claim":{"id":2},"tenant":null}"#;
        let refused = deliver(no_tenant).await.unwrap_err();
        assert_eq!(refused.kind(), RejectionKind::MissingContext);
        assert_eq!(refused.missing_fields(), ["tenant"]);
        // A body that is not an object lacks every field.
        let refused = deliver("[1]").await.unwrap_err();
        assert_eq!(refused.missing_fields(), ["claim", "tenant"]);
    }

    #[tokio::test]
    async fn inline_mode_verifies_without_a_queue() {
        let receiver = Receiver::builder()
            .source(source("a", "/hooks/a", Mode::Inline))
            .build()
            .unwrap();
        let headers = token_headers();
        let head = RequestHead {
            method: &Method::POST,
            query: None,
            headers: &headers,
            peer: None,
        };
        let accepted = receiver
            .start("/hooks/a")
            .unwrap()
            .complete(head, Bytes::from_static(b"{}"))
            .await
            .unwrap();
        assert_eq!(accepted.outcome(), Outcome::Verified);
        let delivery = accepted.into_delivery().unwrap();
        assert_eq!(delivery.source(), "a");
        assert_eq!(delivery.delivery_id(), crate::derived_delivery_id(b"{}"));
        assert!(delivery.headers().get("x-clarity-webhook-token").is_none());
    }

    fn now_unix() -> u64 {
        SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    #[tokio::test]
    async fn a_signed_slack_url_verification_is_answered_and_not_queued() {
        let queue = Arc::new(hookgate_queue::MemoryQueue::new());
        let receiver = Receiver::builder()
            .queue(queue.clone())
            .source(
                Source::builder(
                    "slack",
                    "/hooks/slack",
                    Verifier::new(Scheme::Slack, "slack-secret").unwrap(),
                )
                .sender(hookgate_events::Sender::Slack)
                // Neither the filter nor the context fields apply to it.
                .filter(hookgate_events::EventFilter::new(["app_mention"]).unwrap())
                .require_context(["team_id"])
                .build()
                .unwrap(),
            )
            .build()
            .unwrap();
        assert_eq!(
            receiver
                .sources()
                .next()
                .unwrap()
                .handshake()
                .unwrap()
                .name(),
            "slack"
        );
        let body = Bytes::from_static(
            br#"{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#,
        );
        let signer = hookgate_verify::Signer::new(Scheme::Slack, "slack-secret").unwrap();
        let headers = signer.sign("", now_unix(), &body).unwrap();
        let head = RequestHead {
            method: &Method::POST,
            query: None,
            headers: &headers,
            peer: None,
        };
        let accepted = receiver
            .start("/hooks/slack")
            .unwrap()
            .complete(head, body.clone())
            .await
            .unwrap();
        assert_eq!(accepted.outcome(), Outcome::Handshake);
        let res = accepted.to_response();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(
            res.body(),
            "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
        );
        assert_eq!(
            res.headers()[header::CONTENT_TYPE],
            "text/plain; charset=utf-8"
        );
        assert_eq!(res.headers()["x-content-type-options"], "nosniff");

        // The same handshake signed with another secret is refused like a delivery.
        let forged = hookgate_verify::Signer::new(Scheme::Slack, "not-the-secret")
            .unwrap()
            .sign("", now_unix(), &body)
            .unwrap();
        let head = RequestHead {
            headers: &forged,
            ..head
        };
        let refused = receiver
            .start("/hooks/slack")
            .unwrap()
            .complete(head, body)
            .await
            .unwrap_err();
        assert_eq!(refused.kind(), RejectionKind::Unauthenticated);
        assert_eq!(queue.stats().await.unwrap().depth(), 0);
    }

    #[tokio::test]
    async fn a_meta_source_answers_get_for_its_handshake_only() {
        let queue = Arc::new(hookgate_queue::MemoryQueue::new());
        let receiver = Receiver::builder()
            .queue(queue.clone())
            .source(
                Source::builder(
                    "meta",
                    "/hooks/meta",
                    Verifier::new(Scheme::GitHub, "app-secret").unwrap(),
                )
                .handshake(crate::Handshake::meta("meatyhamhock").unwrap())
                .build()
                .unwrap(),
            )
            .build()
            .unwrap();
        let headers = HeaderMap::new();
        let get = |query: &'static str| {
            let receiver = receiver.clone();
            let headers = headers.clone();
            async move {
                let mut reception = receiver.start("/hooks/meta").unwrap();
                reception.check_head(&Method::GET, &headers, None)?;
                let head = RequestHead {
                    method: &Method::GET,
                    query: Some(query),
                    headers: &headers,
                    peer: None,
                };
                reception.complete(head, Bytes::new()).await
            }
        };
        let ok = get("hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=meatyhamhock")
            .await
            .unwrap();
        assert_eq!(ok.outcome(), Outcome::Handshake);
        assert_eq!(ok.to_response().body(), "1158201444");
        let refused = get("hub.mode=subscribe&hub.challenge=1&hub.verify_token=guess")
            .await
            .unwrap_err();
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        // A GET that is no handshake is not a delivery on a POST route.
        let refused = get("page=1").await.unwrap_err();
        assert_eq!(refused.kind(), RejectionKind::MethodNotAllowed);
        assert_eq!(refused.allow(), [Method::POST]);
        // Other methods are still refused before the body.
        let mut reception = receiver.start("/hooks/meta").unwrap();
        assert!(reception.check_head(&Method::PUT, &headers, None).is_err());
        assert_eq!(queue.stats().await.unwrap().depth(), 0);
    }

    #[tokio::test]
    async fn no_handshake_makes_a_url_verification_a_delivery() {
        let queue = Arc::new(hookgate_queue::MemoryQueue::new());
        let receiver = Receiver::builder()
            .queue(queue.clone())
            .source(
                Source::builder(
                    "slack",
                    "/hooks/slack",
                    Verifier::new(Scheme::Slack, "slack-secret").unwrap(),
                )
                .no_handshake()
                .build()
                .unwrap(),
            )
            .build()
            .unwrap();
        let body = Bytes::from_static(br#"{"challenge":"c","type":"url_verification"}"#);
        let headers = hookgate_verify::Signer::new(Scheme::Slack, "slack-secret")
            .unwrap()
            .sign("", now_unix(), &body)
            .unwrap();
        let head = RequestHead {
            method: &Method::POST,
            query: None,
            headers: &headers,
            peer: None,
        };
        let accepted = receiver
            .start("/hooks/slack")
            .unwrap()
            .complete(head, body)
            .await
            .unwrap();
        assert_eq!(accepted.outcome(), Outcome::Queued);
        assert_eq!(queue.stats().await.unwrap().depth(), 1);
    }

    /// Keeps each event as `kind outcome/reason id`, and the headers told.
    #[derive(Debug, Default)]
    struct Recorded(std::sync::Mutex<Vec<(String, Option<HeaderMap>, Option<Bytes>)>>);

    impl Observer for Recorded {
        fn observe(&self, event: &DeliveryEvent<'_>) {
            let line = format!(
                "{} {} {} {}",
                event.kind,
                event.source,
                event.outcome.or(event.reason).unwrap_or("-"),
                event.status.map_or("-".to_owned(), |s| s.to_string()),
            );
            self.0.lock().unwrap().push((
                line,
                event.headers.map(|h| h.to_header_map()),
                event.body.cloned(),
            ));
        }
    }

    #[tokio::test]
    async fn an_observer_is_told_each_request_and_what_became_of_it() {
        let observer = Arc::new(Recorded::default());
        let receiver = Receiver::builder()
            .queue(Arc::new(hookgate_queue::MemoryQueue::new()))
            .observer(observer.clone())
            .source(source("q", "/hooks/q", Mode::Queue))
            .source(source("i", "/hooks/i", Mode::Inline))
            .build()
            .unwrap();
        let mut headers = token_headers();
        headers.insert("x-trace", "<script>".parse().unwrap());
        let unsigned = HeaderMap::new();
        for (path, headers) in [
            ("/hooks/q", &headers),
            ("/hooks/q", &headers),
            ("/hooks/q", &unsigned),
            ("/hooks/i", &headers),
        ] {
            let head = RequestHead {
                method: &Method::POST,
                query: None,
                headers,
                peer: None,
            };
            let _ = receiver
                .start(path)
                .unwrap()
                .complete(head, Bytes::from_static(b"{}"))
                .await;
        }
        let events = observer.0.lock().unwrap();
        let lines: Vec<&str> = events.iter().map(|(line, ..)| line.as_str()).collect();
        assert_eq!(
            lines,
            [
                "received q - -",
                "queued q queued 200",
                "received q - -",
                "duplicate q duplicate 200",
                "received q - -",
                "refused q malformed 400",
                "received i - -",
                "verified i verified 200",
            ]
        );
        // Accepted deliveries come with what was queued, credentials removed.
        let (_, told_headers, body) = &events[1];
        let told_headers = told_headers.as_ref().unwrap();
        assert!(told_headers.get("x-clarity-webhook-token").is_none());
        assert_eq!(told_headers["x-trace"], "<script>");
        assert_eq!(body.as_deref(), Some(&b"{}"[..]));
        assert!(events[5].1.is_none(), "a refusal has no headers told");
    }

    /// A queue whose refusal is known in advance while `refusing`, and
    /// which counts the enqueues that reach it.
    #[derive(Debug, Default)]
    struct Gated {
        refusing: std::sync::atomic::AtomicBool,
        enqueued: std::sync::atomic::AtomicUsize,
    }

    impl Enqueue for Gated {
        fn enqueue(
            &self,
            _: NewDelivery,
        ) -> hookgate_queue::BoxFuture<'_, Result<EnqueueOutcome, hookgate_queue::QueueError>>
        {
            self.enqueued
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Box::pin(std::future::ready(Ok(EnqueueOutcome::Enqueued)))
        }

        fn refusal(&self, _source: &str) -> Option<hookgate_queue::QueueError> {
            self.refusing
                .load(std::sync::atomic::Ordering::SeqCst)
                .then(|| hookgate_queue::QueueError::full(std::time::Duration::from_secs(7)))
        }
    }

    #[tokio::test]
    async fn a_refusal_the_queue_knows_in_advance_comes_before_the_body_and_the_rate() {
        let queue = Arc::new(Gated::default());
        let filtered = Source::builder(
            "filtered",
            "/filtered",
            Verifier::new(Scheme::Clarity, "route-token").unwrap(),
        )
        .sender(hookgate_events::Sender::Clarife)
        .filter(hookgate_events::EventFilter::new(["document.*"]).unwrap())
        .build()
        .unwrap();
        let receiver = Receiver::builder()
            .queue(queue.clone())
            // One request an hour: a refusal that spent it would leave none.
            .source(limited("a", "/a", 8, "1/h"))
            .source(filtered)
            .source(source("inline", "/inline", Mode::Inline))
            .build()
            .unwrap();
        let headers = token_headers();
        let check = |path: &str| {
            let mut reception = receiver.start(path).unwrap();
            reception
                .check_head(&Method::POST, &headers, None)
                .map(|()| reception)
                .map_err(|refused| receiver.start(path).unwrap().refuse(refused))
        };
        queue
            .refusing
            .store(true, std::sync::atomic::Ordering::SeqCst);
        for _ in 0..3 {
            let refused = check("/a").unwrap_err();
            assert_eq!(refused.kind(), RejectionKind::QueueUnavailable);
            assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
            // The queue's hint, not the source's default.
            assert_eq!(refused.retry_after_header().unwrap(), "7");
            assert_eq!(
                refused.body_text(),
                "the delivery could not be queued: queue is full"
            );
        }
        // Sources that answer some requests without the queue (a filter, a
        // handshake) and inline sources are left to the enqueue.
        assert!(check("/filtered").is_ok());
        assert!(check("/inline").is_ok());
        assert_eq!(
            queue.enqueued.load(std::sync::atomic::Ordering::SeqCst),
            0,
            "nothing reached the queue"
        );

        // The refusals spent none of the source's rate: its one request of
        // the hour is admitted and queued once the queue takes deliveries.
        queue
            .refusing
            .store(false, std::sync::atomic::Ordering::SeqCst);
        let reception = check("/a").unwrap();
        let head = RequestHead {
            method: &Method::POST,
            query: None,
            headers: &headers,
            peer: None,
        };
        let accepted = reception
            .complete(head, Bytes::from_static(b"{}"))
            .await
            .unwrap();
        assert_eq!(accepted.outcome(), Outcome::Queued);
        assert_eq!(queue.enqueued.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert_eq!(
            check("/a").unwrap_err().kind(),
            RejectionKind::RateLimited,
            "the rate is spent by the admitted request"
        );
    }
}
