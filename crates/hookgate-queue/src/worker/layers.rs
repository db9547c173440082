//! The pieces a pool puts around the user's handler, each a [`Handler`]
//! wrapping another: what an attempt may cost ([`Timeout`]) and what a
//! failing handler may do to the pool ([`Isolated`]). The retry policy is
//! applied to what comes out ([`RetryPolicy::verdict`](crate::RetryPolicy)),
//! and the concurrency limits decide what goes in (`limits`).

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use hookgate_events::HandlerError;
use tokio::task::JoinHandle;
use tracing::Instrument;

use super::Handler;
use crate::{BoxFuture, Delivery};

/// Bounds each attempt: past its time, the handler's future is dropped
/// (whatever it was awaiting is cancelled) and the attempt fails with a
/// retryable "timed out" error, which the retry policy then treats as any
/// other failure.
pub(super) struct Timeout {
    inner: Arc<dyn Handler>,
    default: Option<Duration>,
    by_source: HashMap<String, Duration>,
}

impl Timeout {
    pub(super) fn new(
        inner: Arc<dyn Handler>,
        default: Option<Duration>,
        by_source: HashMap<String, Duration>,
    ) -> Self {
        Self {
            inner,
            default,
            by_source,
        }
    }

    fn of(&self, source: &str) -> Option<Duration> {
        self.by_source.get(source).copied().or(self.default)
    }
}

impl Handler for Timeout {
    fn handle(&self, delivery: Delivery) -> BoxFuture<'_, Result<(), HandlerError>> {
        let Some(limit) = self.of(&delivery.source) else {
            return self.inner.handle(delivery);
        };
        let attempt = self.inner.handle(delivery);
        Box::pin(async move {
            // `timeout` saturates a deadline too far ahead: `Duration::MAX` waits for ever.
            tokio::time::timeout(limit, attempt)
                .await
                .unwrap_or_else(|_| Err(timed_out(limit)))
        })
    }
}

/// The error of an attempt that ran out of time.
pub(super) fn timed_out(limit: Duration) -> HandlerError {
    HandlerError::retry(format!("attempt timed out after {limit:?}"))
}

impl fmt::Debug for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timeout")
            .field("default", &self.default)
            .field("by_source", &self.by_source)
            .finish_non_exhaustive()
    }
}

/// Runs each attempt in a task of its own: a panicking handler fails its
/// attempt (to be retried) instead of the worker, and dropping the attempt
/// (the shutdown deadline passed) aborts the handler.
pub(super) struct Isolated<H> {
    inner: Arc<H>,
}

impl<H> Isolated<H> {
    pub(super) fn new(inner: H) -> Self {
        Self {
            inner: Arc::new(inner),
        }
    }
}

impl<H: Handler> Handler for Isolated<H> {
    fn handle(&self, delivery: Delivery) -> BoxFuture<'_, Result<(), HandlerError>> {
        let inner = Arc::clone(&self.inner);
        let mut task = AbortOnDrop(tokio::spawn(
            async move { inner.handle(delivery).await }.in_current_span(),
        ));
        Box::pin(async move {
            match (&mut task.0).await {
                Ok(result) => result,
                Err(err) => Err(HandlerError::retry(format!("handler panicked: {err}"))),
            }
        })
    }
}

impl<H: fmt::Debug> fmt::Debug for Isolated<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Isolated").field(&self.inner).finish()
    }
}

/// Aborts the task when dropped.
pub(super) struct AbortOnDrop<T>(pub(super) JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
