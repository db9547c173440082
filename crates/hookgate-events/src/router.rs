//! `Router::new().on("claim.*", handler)`: dispatch a typed event to its handlers.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::{DeliveryInfo, Disposition, Event, EventName, HandlerError, InvalidPattern, Pattern};

/// The boxed future a handler returns once erased.
type HandlerFuture = Pin<Box<dyn Future<Output = Result<(), HandlerError>> + Send + 'static>>;

type BoxedHandler<E> = Arc<dyn Fn(E, DeliveryInfo) -> HandlerFuture + Send + Sync + 'static>;

/// Sends each event to every handler whose [`Pattern`] matches its name.
///
/// * **Every matching handler runs**, one after the other in registration
///   order (the router needs no async runtime, and handlers of one delivery
///   never race each other). A failing handler does not stop the others.
/// * **Each handler gets the event by value.** The router clones it for every
///   matching handler but the last, which gets the original: one matching
///   handler means no clone. Events are small (a few fields and a JSON
///   value) next to the I/O a handler does; when cloning matters, route an
///   `Arc<...>`-holding wrapper type instead.
/// * **No match is reported**, not dropped: [`DispatchReport::Unhandled`],
///   with a `tracing` warning.
/// * **Failures combine** into one [`HandlerError`]: a single failure comes
///   back as it was; with several, the delivery is given up only if *every*
///   failing handler gave up, and otherwise retried after the longest delay
///   any of them asked for. A retry re-runs *all* matching handlers, those
///   that succeeded included (hookgate delivers at least once anyway), so
///   **handlers must be idempotent**: key their side effects on
///   [`DeliveryInfo::delivery_id`] or the event id.
/// * A handler that panics unwinds through [`dispatch`](Self::dispatch); the
///   worker running it decides what a panic means.
///
/// `on` panics on an invalid pattern, like axum does on conflicting routes:
/// routes are written in code and a typo should stop the program at start-up.
/// Use [`try_on`](Self::try_on) for patterns read from configuration.
///
/// ```
/// use hookgate_events::{
///     DeliveryInfo, DispatchReport, HandlerError, Router, Sender, Event, AnyEvent,
/// };
/// use std::sync::{Arc, Mutex};
/// use std::time::SystemTime;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let log = seen.clone();
/// let router = Router::new()
///     .on("claim.created", |event: AnyEvent, _info: DeliveryInfo| async move {
///         assert_eq!(event.event_name(), "claim.created");
///         Ok(())
///     })
///     .on("claim.*", move |event: AnyEvent, _info| {
///         let log = log.clone();
///         async move {
///             log.lock().unwrap().push(event.event_name());
///             Ok::<_, HandlerError>(())
///         }
///     });
///
/// let event = Sender::Claimable
///     .parse(&http::HeaderMap::new(), br#"{"event_name": "claim.created"}"#)?;
/// let info = DeliveryInfo::new("claimable", "d-1", SystemTime::now(), 1);
/// let report = router.dispatch(event, info.clone()).await.map_err(HandlerError::into_error)?;
/// assert_eq!(report.handlers(), 2);
///
/// let event = Sender::Claimable
///     .parse(&http::HeaderMap::new(), br#"{"event_name": "contact.created"}"#)?;
/// let report = router.dispatch(event, info).await.map_err(HandlerError::into_error)?;
/// assert!(matches!(report, DispatchReport::Unhandled { .. }));
/// assert_eq!(seen.lock().unwrap().len(), 1);
/// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
/// # }).unwrap();
/// ```
pub struct Router<E> {
    routes: Vec<Route<E>>,
}

struct Route<E> {
    pattern: Pattern,
    handler: BoxedHandler<E>,
}

impl<E> Clone for Route<E> {
    fn clone(&self) -> Self {
        Self {
            pattern: self.pattern.clone(),
            handler: Arc::clone(&self.handler),
        }
    }
}

impl<E> Clone for Router<E> {
    fn clone(&self) -> Self {
        Self {
            routes: self.routes.clone(),
        }
    }
}

impl<E> Default for Router<E> {
    fn default() -> Self {
        Self { routes: Vec::new() }
    }
}

impl<E> fmt::Debug for Router<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Router")
            .field(
                "routes",
                &self.routes.iter().map(|r| &r.pattern).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl<E> Router<E>
where
    E: Event + Send + 'static,
{
    /// A router with no handlers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `handler` for the events matching `pattern` (`claim.created`,
    /// `claim.*`, `*.deleted`, `*`).
    ///
    /// # Panics
    ///
    /// When `pattern` is not a valid [`Pattern`]; see [`try_on`](Self::try_on).
    #[must_use]
    #[track_caller]
    pub fn on<F, Fut>(self, pattern: &str, handler: F) -> Self
    where
        F: Fn(E, DeliveryInfo) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
    {
        match Pattern::new(pattern) {
            Ok(pattern) => self.on_pattern(pattern, handler),
            Err(err) => panic!("Router::on: {err}"),
        }
    }

    /// Like [`on`](Self::on), returning an error for an invalid pattern.
    pub fn try_on<F, Fut>(self, pattern: &str, handler: F) -> Result<Self, InvalidPattern>
    where
        F: Fn(E, DeliveryInfo) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
    {
        Ok(self.on_pattern(Pattern::new(pattern)?, handler))
    }

    /// Adds `handler` for the events matching an already parsed pattern.
    #[must_use]
    pub fn on_pattern<F, Fut>(mut self, pattern: Pattern, handler: F) -> Self
    where
        F: Fn(E, DeliveryInfo) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
    {
        let handler: BoxedHandler<E> =
            Arc::new(move |event, info| Box::pin(handler(event, info)) as HandlerFuture);
        self.routes.push(Route { pattern, handler });
        self
    }

    /// Adds `handler` for every event (the pattern `*`).
    #[must_use]
    pub fn on_any<F, Fut>(self, handler: F) -> Self
    where
        F: Fn(E, DeliveryInfo) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
    {
        self.on_pattern(Pattern::any(), handler)
    }

    /// Whether at least one handler would run for `name`.
    pub fn handles(&self, name: &EventName) -> bool {
        self.routes.iter().any(|r| r.pattern.matches(name))
    }

    /// The patterns of the handlers, in registration order.
    pub fn patterns(&self) -> impl Iterator<Item = &Pattern> {
        self.routes.iter().map(|r| &r.pattern)
    }

    /// Runs every handler matching the event's name, in registration order.
    ///
    /// `Ok` when all of them succeeded (or none matched, see
    /// [`DispatchReport::Unhandled`]); otherwise the failures combined as the
    /// [type docs](Router) describe.
    pub async fn dispatch(
        &self,
        event: E,
        info: DeliveryInfo,
    ) -> Result<DispatchReport, HandlerError>
    where
        E: Clone,
    {
        let name = event.event_name();
        // Indices rather than a filtering iterator: a closure held across the
        // awaits below would make this future not `Send`.
        let mut next = next_match(&self.routes, &name, 0);
        if next.is_none() {
            tracing::warn!(
                event = %name,
                source = %info.source,
                delivery_id = %info.delivery_id,
                "no handler matches the event"
            );
            return Ok(DispatchReport::Unhandled { event: name });
        }

        let mut event = Some(event);
        let mut handlers = 0;
        let mut failures = Vec::new();
        while let Some(index) = next {
            let route = &self.routes[index];
            next = next_match(&self.routes, &name, index + 1);
            let this_event = if next.is_some() {
                event.clone()
            } else {
                event.take()
            }
            .expect("the event is only taken for the last handler");
            handlers += 1;
            if let Err(err) = (route.handler)(this_event, info.clone()).await {
                tracing::debug!(
                    event = %name,
                    pattern = %route.pattern,
                    delivery_id = %info.delivery_id,
                    error = %err,
                    "event handler failed"
                );
                failures.push((route.pattern.clone(), err));
            }
        }
        match failures.len() {
            0 => Ok(DispatchReport::Handled {
                event: name,
                handlers,
            }),
            1 => Err(failures.pop().expect("one failure").1),
            _ => Err(combine(failures)),
        }
    }
}

/// The index of the first route from `from` on whose pattern matches `name`.
fn next_match<E>(routes: &[Route<E>], name: &EventName, from: usize) -> Option<usize> {
    (from..routes.len()).find(|&i| routes[i].pattern.matches(name))
}

fn combine(failures: Vec<(Pattern, HandlerError)>) -> HandlerError {
    let mut any_retry = false;
    let mut longest: Option<Duration> = None;
    for (_, err) in &failures {
        if let Disposition::Retry { after } = err.disposition() {
            any_retry = true;
            longest = longest.max(after);
        }
    }
    let disposition = if any_retry {
        Disposition::Retry { after: longest }
    } else {
        Disposition::GiveUp
    };
    HandlerError::with_disposition(disposition, HandlerFailures { failures })
}

/// What [`Router::dispatch`] did with an event whose handlers all succeeded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DispatchReport {
    /// At least one handler matched, and all that matched succeeded.
    Handled {
        /// The event's name.
        event: EventName,
        /// How many handlers ran.
        handlers: usize,
    },
    /// No handler matches the event's name; nothing ran. Usually a sign that
    /// the sender emits events the receiver does not route (or should filter).
    Unhandled {
        /// The event's name.
        event: EventName,
    },
}

impl DispatchReport {
    /// The event's name.
    pub fn event_name(&self) -> &EventName {
        match self {
            Self::Handled { event, .. } | Self::Unhandled { event } => event,
        }
    }

    /// How many handlers ran (0 when unhandled).
    pub fn handlers(&self) -> usize {
        match self {
            Self::Handled { handlers, .. } => *handlers,
            Self::Unhandled { .. } => 0,
        }
    }

    /// Whether any handler ran.
    pub fn is_handled(&self) -> bool {
        matches!(self, Self::Handled { .. })
    }
}

/// The error inside a [`HandlerError`] when several handlers of one event
/// failed: each failure with the pattern of its handler.
#[derive(Debug)]
pub struct HandlerFailures {
    failures: Vec<(Pattern, HandlerError)>,
}

impl HandlerFailures {
    /// The failures, in the order the handlers ran.
    pub fn iter(&self) -> impl Iterator<Item = (&Pattern, &HandlerError)> {
        self.failures.iter().map(|(p, e)| (p, e))
    }

    /// How many handlers failed.
    pub fn len(&self) -> usize {
        self.failures.len()
    }

    /// Always `false`: this error exists only for several failures.
    pub fn is_empty(&self) -> bool {
        self.failures.is_empty()
    }
}

impl fmt::Display for HandlerFailures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} handlers failed", self.failures.len())?;
        for (i, (pattern, err)) in self.failures.iter().enumerate() {
            let sep = if i == 0 { ": " } else { "; " };
            write!(f, "{sep}`{pattern}`: {err}")?;
        }
        Ok(())
    }
}

impl StdError for HandlerFailures {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AnyEvent, ClaimableEvent, FromDelivery, Sender};
    use std::sync::Mutex;
    use std::time::SystemTime;

    fn claimable(name: &str) -> ClaimableEvent {
        let body = format!(r#"{{"event_name": "{name}", "claim": {{"id": 1}}}}"#);
        ClaimableEvent::from_delivery(&http::HeaderMap::new(), body.as_bytes()).unwrap()
    }

    fn info() -> DeliveryInfo {
        DeliveryInfo::new("claimable", "delivery-1", SystemTime::UNIX_EPOCH, 1)
    }

    fn run<F: Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(future)
    }

    type Log = Arc<Mutex<Vec<String>>>;

    /// A handler that records `label` and the event name, then returns `result()`.
    fn recorder<E: Event + Send + 'static>(
        log: &Log,
        label: &'static str,
        result: fn() -> Result<(), HandlerError>,
    ) -> impl Fn(E, DeliveryInfo) -> HandlerFuture + Send + Sync + 'static {
        let log = log.clone();
        move |event: E, info: DeliveryInfo| {
            log.lock().unwrap().push(format!(
                "{label}:{}:{}",
                event.event_name(),
                info.delivery_id
            ));
            Box::pin(async move { result() })
        }
    }

    fn ok() -> Result<(), HandlerError> {
        Ok(())
    }

    #[test]
    fn every_matching_handler_runs_in_order() {
        let log = Log::default();
        let router = Router::new()
            .on("claim.created", recorder(&log, "exact", ok))
            .on("contact.*", recorder(&log, "contact", ok))
            .on("claim.*", recorder(&log, "claims", ok))
            .on_any(recorder(&log, "any", ok));
        let report = run(router.dispatch(claimable("claim.created"), info())).unwrap();
        assert_eq!(
            report,
            DispatchReport::Handled {
                event: EventName::from_static("claim.created"),
                handlers: 3
            }
        );
        assert_eq!(
            *log.lock().unwrap(),
            [
                "exact:claim.created:delivery-1",
                "claims:claim.created:delivery-1",
                "any:claim.created:delivery-1"
            ]
        );
        assert!(router.handles(&EventName::from_static("contact.created")));
        assert_eq!(router.patterns().count(), 4);
    }

    #[test]
    fn unmatched_events_are_reported() {
        let log = Log::default();
        let router = Router::new().on("claim.*", recorder(&log, "claims", ok));
        let report = run(router.dispatch(claimable("contact.created"), info())).unwrap();
        assert_eq!(
            report,
            DispatchReport::Unhandled {
                event: EventName::from_static("contact.created")
            }
        );
        assert!(!report.is_handled());
        assert_eq!(report.handlers(), 0);
        assert!(log.lock().unwrap().is_empty());
        let empty: Router<ClaimableEvent> = Router::new();
        assert!(
            !run(empty.dispatch(claimable("claim.created"), info()))
                .unwrap()
                .is_handled()
        );
    }

    #[test]
    fn a_single_failure_comes_back_unchanged_and_others_still_run() {
        let log = Log::default();
        let router = Router::new()
            .on(
                "claim.*",
                recorder(&log, "fails", || Err(HandlerError::give_up("bad claim"))),
            )
            .on_any(recorder(&log, "any", ok));
        let err = run(router.dispatch(claimable("claim.closed"), info())).unwrap_err();
        assert_eq!(err.disposition(), Disposition::GiveUp);
        assert_eq!(err.to_string(), "bad claim");
        assert_eq!(log.lock().unwrap().len(), 2);
    }

    #[test]
    fn retry_wins_over_give_up_with_the_longest_delay() {
        let log = Log::default();
        let router = Router::new()
            .on(
                "claim.*",
                recorder(&log, "a", || Err(HandlerError::give_up("never"))),
            )
            .on(
                "*.closed",
                recorder(&log, "b", || {
                    Err(HandlerError::retry_after(Duration::from_secs(30), "busy"))
                }),
            )
            .on_any(recorder(&log, "c", || Err(HandlerError::retry("flaky"))))
            .on_any(recorder(&log, "d", || {
                Err(HandlerError::retry_after(Duration::from_secs(5), "slow"))
            }));
        let err = run(router.dispatch(claimable("claim.closed"), info())).unwrap_err();
        assert_eq!(
            err.disposition(),
            Disposition::Retry {
                after: Some(Duration::from_secs(30))
            }
        );
        assert_eq!(
            err.to_string(),
            "4 handlers failed: `claim.*`: never; `*.closed`: busy; `*`: flaky; `*`: slow"
        );
        let failures = err
            .error()
            .downcast_ref::<HandlerFailures>()
            .expect("several failures are collected");
        assert_eq!(failures.len(), 4);
        assert_eq!(failures.iter().next().unwrap().0.as_str(), "claim.*");
    }

    #[test]
    fn give_up_only_when_every_failure_gives_up() {
        let log = Log::default();
        let router = Router::new()
            .on(
                "claim.*",
                recorder(&log, "a", || Err(HandlerError::give_up("no"))),
            )
            .on_any(recorder(&log, "b", || Err(HandlerError::give_up("nope"))))
            .on_any(recorder(&log, "c", ok));
        let err = run(router.dispatch(claimable("claim.closed"), info())).unwrap_err();
        assert_eq!(err.disposition(), Disposition::GiveUp);

        let router = Router::new()
            .on(
                "claim.*",
                recorder(&log, "a", || Err(HandlerError::retry("x"))),
            )
            .on_any(recorder(&log, "b", || Err(HandlerError::retry("y"))));
        let err = run(router.dispatch(claimable("claim.closed"), info())).unwrap_err();
        assert_eq!(err.disposition(), Disposition::Retry { after: None });
    }

    #[test]
    fn question_mark_in_a_handler_means_retry() {
        async fn parse_amount(
            _event: ClaimableEvent,
            _info: DeliveryInfo,
        ) -> Result<(), HandlerError> {
            let _amount: u32 = "twelve".parse()?;
            Ok(())
        }
        let router = Router::new().on("claim.created", parse_amount);
        let err = run(router.dispatch(claimable("claim.created"), info())).unwrap_err();
        assert_eq!(err.disposition(), Disposition::Retry { after: None });
    }

    #[test]
    fn mixed_senders_route_through_any_event() {
        let log = Log::default();
        let router: Router<AnyEvent> = Router::new()
            .on("*.deleted", recorder(&log, "deleted", ok))
            .on("list.*", recorder(&log, "lists", ok));
        let claravine = Sender::Claravine
            .parse(
                &http::HeaderMap::new(),
                br#"{"event": "list", "event_time": 1770923501, "object_id": "ef512810-0919-4e47-ab41-d3c69ea27ed0", "href": "https://api.claravine.com/v1/lists/ef512810-0919-4e47-ab41-d3c69ea27ed0", "operation": "deleted", "version": 2}"#,
            )
            .unwrap();
        let clarife = Sender::Clarife
            .parse(
                &http::HeaderMap::new(),
                br#"{"id": "evt_9", "type": "folder.deleted", "created_at": "2026-03-28T12:00:00Z", "data": {"id": "f"}}"#,
            )
            .unwrap();
        assert_eq!(
            run(router.dispatch(claravine, info())).unwrap().handlers(),
            2
        );
        assert_eq!(run(router.dispatch(clarife, info())).unwrap().handlers(), 1);
        assert_eq!(
            *log.lock().unwrap(),
            [
                "deleted:list.deleted:delivery-1",
                "lists:list.deleted:delivery-1",
                "deleted:folder.deleted:delivery-1"
            ]
        );
    }

    #[test]
    fn invalid_patterns() {
        let log = Log::default();
        let err = Router::<ClaimableEvent>::new()
            .try_on("claim.x*", recorder(&log, "a", ok))
            .unwrap_err();
        assert_eq!(err.pattern(), "claim.x*");
        let panicked = std::panic::catch_unwind(|| {
            Router::<ClaimableEvent>::new().on("claim..created", |_, _| async { Ok(()) })
        });
        assert!(panicked.is_err());
    }

    #[test]
    fn the_dispatch_future_is_send() {
        fn assert_send<T: Send>(_: &T) {}
        let router: Router<AnyEvent> = Router::new();
        let event = Sender::Claimable
            .parse(
                &http::HeaderMap::new(),
                br#"{"event_name": "claim.created"}"#,
            )
            .unwrap();
        let future = router.dispatch(event, info());
        assert_send(&future);
        assert!(!run(future).unwrap().is_handled());
    }
}
