//! The error every queue operation returns.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

pub use hookgate_core::BoxError;

use crate::StorageLimit;

/// Why a queue operation failed.
///
/// The [`kind`](QueueError::kind) says what went wrong; [`retry_after`](QueueError::retry_after)
/// is a hint for callers that must tell someone else when to come back (the
/// receiving middleware answers `503` with a `Retry-After` header).
pub struct QueueError {
    kind: QueueErrorKind,
    retry_after: Option<Duration>,
    source: Option<BoxError>,
}

/// What kind of failure a [`QueueError`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum QueueErrorKind {
    /// The queue holds as many deliveries as it is allowed to; try again later.
    Full,
    /// The back-end cannot be reached or has shut down; try again later.
    Unavailable,
    /// The storage refused or failed the operation (disk full, I/O error, corrupt data).
    Storage,
    /// The delivery named by a replay does not exist among the dead letters.
    NotFound,
    /// The lease is no longer held: it expired and the delivery was leased
    /// again, or it was already acknowledged, retried or dead-lettered.
    LeaseLost,
    /// The request itself is invalid (an empty source name or delivery id).
    Invalid,
}

impl QueueError {
    /// An error of `kind` without an underlying cause.
    pub fn new(kind: QueueErrorKind) -> Self {
        Self {
            kind,
            retry_after: None,
            source: None,
        }
    }

    /// An error of `kind` caused by `source`.
    pub fn with_source(kind: QueueErrorKind, source: impl Into<BoxError>) -> Self {
        Self {
            kind,
            retry_after: None,
            source: Some(source.into()),
        }
    }

    /// The queue is full; callers should come back after `retry_after`.
    pub fn full(retry_after: Duration) -> Self {
        Self::new(QueueErrorKind::Full).retry_after_hint(retry_after)
    }

    /// The queue is full because `limit` is reached (`detail` says by how
    /// much, for logs); callers should come back after `retry_after`.
    pub fn full_at(limit: StorageLimit, detail: Option<String>, retry_after: Duration) -> Self {
        Self::with_source(
            QueueErrorKind::Full,
            crate::storage::LimitReached { limit, detail },
        )
        .retry_after_hint(retry_after)
    }

    /// Which limit refused the enqueue, for a `Full` error made with
    /// [`full_at`](Self::full_at) (`None` for other errors).
    pub fn limit(&self) -> Option<StorageLimit> {
        self.source
            .as_deref()
            .and_then(|source| source.downcast_ref::<crate::storage::LimitReached>())
            .map(|reached| reached.limit)
    }

    /// The back-end is unreachable or closed.
    pub fn unavailable(source: impl Into<BoxError>) -> Self {
        Self::with_source(QueueErrorKind::Unavailable, source)
    }

    /// The storage failed.
    pub fn storage(source: impl Into<BoxError>) -> Self {
        Self::with_source(QueueErrorKind::Storage, source)
    }

    /// The lease is no longer held.
    pub fn lease_lost() -> Self {
        Self::new(QueueErrorKind::LeaseLost)
    }

    /// Nothing matched the request.
    pub fn not_found(what: impl Into<BoxError>) -> Self {
        Self::with_source(QueueErrorKind::NotFound, what)
    }

    /// The request is invalid.
    pub fn invalid(reason: impl Into<BoxError>) -> Self {
        Self::with_source(QueueErrorKind::Invalid, reason)
    }

    /// Sets the hint for when to try again.
    #[must_use]
    pub fn retry_after_hint(mut self, after: Duration) -> Self {
        self.retry_after = Some(after);
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> QueueErrorKind {
        self.kind
    }

    /// When it is worth trying again, if the back-end knows.
    ///
    /// `Full` and `Unavailable` errors from the built-in back-ends always carry
    /// a hint; callers answering HTTP should still fall back to a default.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// Whether the same request may succeed later (`Full`, `Unavailable`, `Storage`).
    pub fn is_transient(&self) -> bool {
        matches!(
            self.kind,
            QueueErrorKind::Full | QueueErrorKind::Unavailable | QueueErrorKind::Storage
        )
    }
}

impl fmt::Display for QueueErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Full => "queue is full",
            Self::Unavailable => "queue is unavailable",
            Self::Storage => "queue storage failed",
            Self::NotFound => "no such delivery",
            Self::LeaseLost => "lease is no longer held",
            Self::Invalid => "invalid queue request",
        })
    }
}

impl fmt::Display for QueueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.kind, f)?;
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for QueueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueueError")
            .field("kind", &self.kind)
            .field("retry_after", &self.retry_after)
            .field("source", &self.source)
            .finish()
    }
}

impl StdError for QueueError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|source| source as &(dyn StdError + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_the_kind_and_the_cause() {
        let err = QueueError::storage("disk I/O error");
        assert_eq!(err.to_string(), "queue storage failed: disk I/O error");
        assert!(err.is_transient());
        let full = QueueError::full(Duration::from_secs(2));
        assert_eq!(full.kind(), QueueErrorKind::Full);
        assert_eq!(full.retry_after(), Some(Duration::from_secs(2)));
        assert!(!QueueError::lease_lost().is_transient());
        assert_eq!(full.limit(), None);
        let floor = QueueError::full_at(
            StorageLimit::MinFreeDisk,
            Some("10 MB free".to_owned()),
            Duration::from_secs(5),
        );
        assert_eq!(floor.kind(), QueueErrorKind::Full);
        assert_eq!(floor.limit(), Some(StorageLimit::MinFreeDisk));
        assert_eq!(
            floor.to_string(),
            "queue is full: min_free_disk reached (10 MB free)"
        );
    }
}
