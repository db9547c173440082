//! What a queue's storage holds, and which of its limits refuses enqueues.

use std::fmt;

/// A limit on what a queue stores: once reached, enqueues fail with
/// [`QueueErrorKind::Full`](crate::QueueErrorKind::Full) (the receiving
/// side answers `503` with `Retry-After`) until work drains or space is
/// freed. [`QueueError::limit`](crate::QueueError::limit) says which one
/// refused an enqueue; [`StorageUsage::limit_reached`] which one is reached
/// now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StorageLimit {
    /// As many deliveries wait or are leased as the queue's `capacity`.
    Capacity,
    /// The queue's bytes reached its `max_bytes` budget.
    MaxBytes,
    /// The file system's free space is under the queue's `min_free_disk` floor.
    MinFreeDisk,
    /// The storage itself ran out of space (the disk, or the server's memory
    /// or stream limit).
    StorageFull,
}

impl StorageLimit {
    /// The limit's name as configured (`capacity`, `max_bytes`,
    /// `min_free_disk`), or `storage_full`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Capacity => "capacity",
            Self::MaxBytes => "max_bytes",
            Self::MinFreeDisk => "min_free_disk",
            Self::StorageFull => "storage_full",
        }
    }
}

impl fmt::Display for StorageLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a queue's storage holds, for `/healthz` and metrics
/// ([`Stats::storage`](crate::Stats::storage)); back-ends that cannot tell
/// leave it `None`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StorageUsage {
    /// The bytes the queue's data takes (for SQLite: the database file's
    /// pages in use, deliveries, dedup keys and indexes).
    pub bytes: u64,
    /// The write-ahead log's size on disk, where there is one.
    pub wal_bytes: Option<u64>,
    /// Free space on the queue's file system, where the queue knows it.
    pub free_disk: Option<u64>,
    /// The limit that refuses enqueues now, if any.
    pub limit_reached: Option<StorageLimit>,
}

/// Why an enqueue was refused as full: the source of a
/// [`QueueErrorKind::Full`](crate::QueueErrorKind::Full) error made by
/// [`QueueError::full_at`](crate::QueueError::full_at).
#[derive(Debug)]
pub(crate) struct LimitReached {
    pub(crate) limit: StorageLimit,
    pub(crate) detail: Option<String>,
}

impl fmt::Display for LimitReached {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} reached", self.limit)?;
        if let Some(detail) = &self.detail {
            write!(f, " ({detail})")?;
        }
        Ok(())
    }
}

impl std::error::Error for LimitReached {}
