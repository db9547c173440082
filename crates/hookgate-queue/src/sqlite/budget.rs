//! The byte budget and the free-space floor: enqueues are refused as
//! `Full` before the queue's data passes `max_bytes`, or the file system's
//! free space falls under `min_free_disk`, rather than when a write fails.
//!
//! Both are checked by the writer once per batch (two pragmas that read the
//! database header, and one `statvfs`), then per enqueue against what the
//! batch has taken so far, so a refused enqueue is refused inside its
//! savepoint: nothing of it is written.

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rusqlite::Connection;

use crate::StorageLimit;

/// How much of the file system the queue leaves free: enqueues are refused
/// while less is available (see [`SqliteQueueBuilder::min_free_disk`](super::SqliteQueueBuilder::min_free_disk)).
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum MinFreeDisk {
    /// At least this many bytes stay free.
    Bytes(u64),
    /// At least this share of the file system's size stays free, in percent
    /// (0 to 100).
    Percent(f64),
}

impl MinFreeDisk {
    /// The floor in bytes on a file system of `total` bytes.
    pub(super) fn floor(self, total: u64) -> u64 {
        match self {
            Self::Bytes(bytes) => bytes,
            // f64 holds file system sizes to well under a byte in a thousand.
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                clippy::cast_precision_loss
            )]
            Self::Percent(percent) => (total as f64 * percent.clamp(0.0, 100.0) / 100.0) as u64,
        }
    }
}

/// The space on the file system holding `path`: `(available, total)` bytes,
/// available as an unprivileged process sees it. `None` where it cannot be
/// read (or off Unix).
pub(super) fn disk_space(path: &Path) -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        let dir = path
            .parent()
            .filter(|dir| !dir.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let stat = rustix::fs::statvfs(dir).ok()?;
        Some((
            stat.f_bavail.saturating_mul(stat.f_frsize),
            stat.f_blocks.saturating_mul(stat.f_frsize),
        ))
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// The bytes the database file's pages in use take (deliveries, dedup keys,
/// indexes): `(page_count - freelist_count) * page_size`.
pub(super) fn used_bytes(conn: &Connection) -> Option<u64> {
    let pragma = |name: &str| {
        conn.query_row(&format!("PRAGMA {name}"), [], |row| row.get::<_, i64>(0))
            .ok()
            .and_then(|n| u64::try_from(n).ok())
    };
    let pages = pragma("page_count")?;
    let free = pragma("freelist_count")?;
    Some(
        pages
            .saturating_sub(free)
            .saturating_mul(pragma("page_size")?),
    )
}

/// Whether the last enqueues failed for want of space (`SQLITE_FULL`), and
/// the free space then: the statistics report [`StorageLimit::StorageFull`]
/// until an enqueue is stored again, or until [`FREED_ENOUGH`] more bytes
/// are free (so that `/healthz` turns healthy once space is freed, even if
/// a load balancer sends nothing while it says full).
#[derive(Debug, Default)]
pub(super) struct OutOfSpace(AtomicU64);

/// See [`OutOfSpace`].
const FREED_ENOUGH: u64 = 1 << 20;

impl OutOfSpace {
    /// Writes failed for want of space on the file system of `path`.
    pub(super) fn set(&self, path: &Path) {
        let free = disk_space(path).map_or(0, |(available, _)| available);
        self.0.store(free.saturating_add(1), Ordering::Relaxed);
    }

    /// An enqueue was stored.
    pub(super) fn clear(&self) {
        self.0.store(0, Ordering::Relaxed);
    }

    /// Whether writes failed for want of space since the last stored enqueue.
    #[cfg(test)]
    pub(super) fn is_set(&self) -> bool {
        self.0.load(Ordering::Relaxed) != 0
    }

    /// Whether the queue is still out of space with `available` bytes free now.
    pub(super) fn still(&self, available: Option<u64>) -> bool {
        match self.0.load(Ordering::Relaxed) {
            0 => false,
            then => available.is_none_or(|now| now < (then - 1).saturating_add(FREED_ENOUGH)),
        }
    }
}

/// The limits, as configured, and the size of the last delivery they
/// refused (shared by the writer and the statistics).
#[derive(Debug, Clone)]
pub(super) struct Limits {
    pub(super) capacity: u64,
    pub(super) max_bytes: Option<u64>,
    pub(super) min_free_disk: Option<MinFreeDisk>,
    pub(super) path: PathBuf,
    /// The bytes of the last enqueue refused by `max_bytes` or
    /// `min_free_disk`: the statistics report the limit reached while that
    /// delivery would still be refused (so `/healthz` agrees with the last
    /// `503`, and turns healthy once it would fit).
    pub(super) last_refused: Arc<AtomicU64>,
}

impl Limits {
    /// The limit reached with `live` deliveries, `used` bytes and `disk` =
    /// `(available, total)`, if any (for statistics; the writer checks per
    /// enqueue).
    pub(super) fn reached(
        &self,
        live: u64,
        used: u64,
        disk: Option<(u64, u64)>,
    ) -> Option<StorageLimit> {
        if live >= self.capacity {
            return Some(StorageLimit::Capacity);
        }
        let refused = self.last_refused.load(Ordering::Relaxed);
        if self
            .max_bytes
            .is_some_and(|max| used.saturating_add(refused) >= max)
        {
            return Some(StorageLimit::MaxBytes);
        }
        match (self.min_free_disk, disk) {
            (Some(floor), Some((available, total)))
                if available.saturating_sub(refused.saturating_mul(2)) < floor.floor(total) =>
            {
                Some(StorageLimit::MinFreeDisk)
            }
            _ => None,
        }
    }
}

/// The writer's view of the budget during one batch.
pub(super) struct Budget {
    limits: Limits,
    /// The database's bytes in use when the batch began.
    used: Cell<u64>,
    /// `(available, total)` disk bytes when the batch began.
    disk: Cell<Option<(u64, u64)>>,
    /// Payload bytes admitted in this batch so far.
    admitted: Cell<u64>,
}

impl Budget {
    pub(super) fn new(limits: Limits) -> Self {
        Self {
            limits,
            used: Cell::new(0),
            disk: Cell::new(None),
            admitted: Cell::new(0),
        }
    }

    /// The queue file.
    pub(super) fn path(&self) -> &Path {
        &self.limits.path
    }

    /// Reads what the checks need, once per batch (only what is configured).
    pub(super) fn start_batch(&self, conn: &Connection) {
        self.admitted.set(0);
        if self.limits.max_bytes.is_some() {
            self.used.set(used_bytes(conn).unwrap_or(0));
        }
        if self.limits.min_free_disk.is_some() {
            self.disk.set(disk_space(&self.limits.path));
        }
    }

    /// Whether an enqueue of `bytes` (body and headers) fits, with `live`
    /// deliveries stored; counts it in the batch when it does. A delivery
    /// takes its bytes in the WAL and again in the database file, so the
    /// free-space floor counts it twice.
    pub(super) fn admit(&self, live: u64, bytes: u64) -> Result<(), (StorageLimit, String)> {
        if live >= self.limits.capacity {
            let detail = format!("{live} deliveries of {}", self.limits.capacity);
            return Err((StorageLimit::Capacity, detail));
        }
        let admitted = self.admitted.get().saturating_add(bytes);
        if let Some(max) = self.limits.max_bytes {
            let would_use = self.used.get().saturating_add(admitted);
            if would_use > max {
                self.limits.last_refused.store(bytes, Ordering::Relaxed);
                let detail = format!("{} bytes in use of {max}", self.used.get());
                return Err((StorageLimit::MaxBytes, detail));
            }
        }
        if let (Some(floor), Some((available, total))) =
            (self.limits.min_free_disk, self.disk.get())
        {
            let floor = floor.floor(total);
            if available.saturating_sub(admitted.saturating_mul(2)) < floor {
                self.limits.last_refused.store(bytes, Ordering::Relaxed);
                let detail = format!("{available} bytes free, floor {floor}");
                return Err((StorageLimit::MinFreeDisk, detail));
            }
        }
        self.admitted.set(admitted);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(max_bytes: Option<u64>, min_free_disk: Option<MinFreeDisk>) -> Budget {
        Budget::new(Limits {
            capacity: 10,
            max_bytes,
            min_free_disk,
            path: PathBuf::from("queue.db"),
            last_refused: Arc::default(),
        })
    }

    #[test]
    fn a_batch_is_admitted_while_it_fits_and_refused_by_the_first_limit_it_passes() {
        let b = budget(Some(1000), None);
        b.used.set(600);
        assert!(b.admit(0, 300).is_ok());
        assert_eq!(b.admit(0, 200).unwrap_err().0, StorageLimit::MaxBytes);
        assert!(b.admit(0, 100).is_ok(), "a smaller one still fits");
        assert_eq!(b.admit(10, 0).unwrap_err().0, StorageLimit::Capacity);

        let b = budget(None, Some(MinFreeDisk::Percent(10.0)));
        b.disk.set(Some((1500, 10_000)));
        assert!(b.admit(0, 200).is_ok(), "1500 - 2 * 200 >= 1000");
        assert_eq!(b.admit(0, 100).unwrap_err().0, StorageLimit::MinFreeDisk);
        assert_eq!(MinFreeDisk::Bytes(7).floor(100), 7);
        assert_eq!(MinFreeDisk::Percent(250.0).floor(100), 100);
    }

    #[test]
    fn the_limit_reached_is_reported_for_statistics() {
        let limits = Limits {
            capacity: 5,
            max_bytes: Some(100),
            min_free_disk: Some(MinFreeDisk::Bytes(50)),
            path: PathBuf::from("q.db"),
            last_refused: Arc::default(),
        };
        assert_eq!(limits.reached(1, 10, Some((60, 1000))), None);
        assert_eq!(limits.reached(5, 10, None), Some(StorageLimit::Capacity));
        assert_eq!(limits.reached(1, 100, None), Some(StorageLimit::MaxBytes));
        assert_eq!(
            limits.reached(1, 10, Some((49, 1000))),
            Some(StorageLimit::MinFreeDisk)
        );
        // Until a refused delivery would fit again.
        limits.last_refused.store(20, Ordering::Relaxed);
        assert_eq!(limits.reached(1, 85, None), Some(StorageLimit::MaxBytes));
        assert_eq!(limits.reached(1, 79, Some((100, 1000))), None);
    }
}
