//! What a worker runs on each delivery.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;

use hookgate_events::{AnyEvent, Event, HandlerError, Router, Sender};

use crate::{BoxFuture, Delivery};

/// Processes one delivery. Implemented for every
/// `Fn(Delivery) -> impl Future<Output = Result<(), HandlerError>>`, and by
/// [`RouterHandler`] for a `hookgate_events::Router`.
///
/// Handlers must be idempotent: delivery is at-least-once.
pub trait Handler: Send + Sync + 'static {
    /// Handles `delivery`; an error's [`Disposition`](hookgate_events::Disposition) decides retry or dead letter.
    fn handle(&self, delivery: Delivery) -> BoxFuture<'_, Result<(), HandlerError>>;
}

impl<F, Fut> Handler for F
where
    F: Fn(Delivery) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
{
    fn handle(&self, delivery: Delivery) -> BoxFuture<'_, Result<(), HandlerError>> {
        Box::pin(self(delivery))
    }
}

/// Runs a [`Router`] from `hookgate-events` on each delivery: parses the
/// stored body into the sender's typed event, then dispatches it.
///
/// By default the source name is the sender's name (`clarife`,
/// `claravine`, ...); map other source names with [`source`](Self::source).
/// A body that does not parse, or a source with no known sender, is given up
/// at once (dead letters): retrying cannot fix it, replaying after a fix can.
///
/// ```
/// use hookgate_events::{AnyEvent, DeliveryInfo, Router, Sender};
/// use hookgate_queue::{RouterHandler, WorkerPool, MemoryQueue};
/// use std::sync::Arc;
///
/// let router = Router::new().on("claim.*", |_event: AnyEvent, _info: DeliveryInfo| async { Ok(()) });
/// let handler = RouterHandler::new(router).source("claims-prod", Sender::Claimable);
/// let pool = WorkerPool::builder(Arc::new(MemoryQueue::new()), handler).build();
/// # drop(pool);
/// ```
pub struct RouterHandler<E = AnyEvent> {
    router: Router<E>,
    parse: Arc<ParseFn<E>>,
    senders: HashMap<String, Sender>,
}

type ParseFn<E> =
    dyn Fn(&HashMap<String, Sender>, &Delivery) -> Result<E, HandlerError> + Send + Sync;

impl RouterHandler<AnyEvent> {
    /// Dispatches typed events parsed with the source's [`Sender`].
    pub fn new(router: Router<AnyEvent>) -> Self {
        Self {
            router,
            parse: Arc::new(parse_any),
            senders: HashMap::new(),
        }
    }

    /// Parses deliveries of `source` as `sender`'s events.
    #[must_use]
    pub fn source(mut self, source: impl Into<String>, sender: Sender) -> Self {
        self.senders.insert(source.into(), sender);
        self
    }
}

fn parse_any(
    senders: &HashMap<String, Sender>,
    delivery: &Delivery,
) -> Result<AnyEvent, HandlerError> {
    let sender = match senders.get(&delivery.source) {
        Some(sender) => *sender,
        None => Sender::from_str(&delivery.source).map_err(HandlerError::give_up)?,
    };
    sender
        .parse(&delivery.headers, &delivery.body)
        .map_err(HandlerError::give_up)
}

impl<E> RouterHandler<E>
where
    E: Event + Clone + Send + Sync + 'static,
{
    /// Dispatches events made from each delivery by `parse` (any event type).
    pub fn with_parser(
        router: Router<E>,
        parse: impl Fn(&Delivery) -> Result<E, HandlerError> + Send + Sync + 'static,
    ) -> Self {
        Self {
            router,
            parse: Arc::new(move |_: &HashMap<String, Sender>, delivery: &Delivery| {
                parse(delivery)
            }),
            senders: HashMap::new(),
        }
    }
}

impl<E> fmt::Debug for RouterHandler<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RouterHandler")
            .field("router", &self.router)
            .field("senders", &self.senders)
            .finish_non_exhaustive()
    }
}

impl<E> Handler for RouterHandler<E>
where
    E: Event + Clone + Send + Sync + 'static,
{
    fn handle(&self, delivery: Delivery) -> BoxFuture<'_, Result<(), HandlerError>> {
        let event = (self.parse)(&self.senders, &delivery);
        Box::pin(async move {
            self.router.dispatch(event?, delivery.info()).await?;
            Ok(())
        })
    }
}
