//! Keeping the queue's files small: checkpoints that keep the write-ahead
//! log (WAL) under its bound while the writer commits, and the pages of
//! handled deliveries given back to the file system.
//!
//! Why the writer does part of it. A checkpoint copies WAL frames into the
//! database file, but only a *reset* lets the next commit write the WAL from
//! its start again, and SQLite resets the WAL only when a commit begins after
//! every frame was copied. Under load the writer commits every millisecond or
//! so, a background `PASSIVE` checkpoint never catches the WAL complete, and
//! the WAL grows for as long as the load lasts (154 MB after 30 s in issue
//! 18). So the background thread still does the bulk of the copying (and its
//! `fsync`) off the enqueue path, and the writer, between two batches (when
//! no commit is waiting on it), takes a `RESTART` checkpoint once the WAL
//! passes half its bound: that copies what is left, and the next commit
//! starts the WAL over. `journal_size_limit` then cuts the file back.
//!
//! When nothing was written for [`IDLE_AFTER`], the writer gives freed pages
//! back (`PRAGMA incremental_vacuum`, in bounded steps) and takes a
//! `TRUNCATE` checkpoint, which applies the smaller size to the database
//! file and leaves a WAL of zero bytes.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rusqlite::Connection;

/// How long after the last write the writer tidies up.
pub(super) const IDLE_AFTER: Duration = Duration::from_secs(1);
/// The longest the writer waits for readers and the background checkpoint
/// when it takes a checkpoint itself: commands wait behind it.
const CHECKPOINT_BUSY_TIMEOUT: Duration = Duration::from_millis(250);
/// The same, once the WAL holds three quarters of its bound.
const CHECKPOINT_BUSY_TIMEOUT_NEAR_LIMIT: Duration = Duration::from_secs(2);
/// The busy timeout of the writer's connection otherwise.
pub(super) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// The most bytes of pages one `incremental_vacuum` step moves: a command
/// that arrives meanwhile waits for one step at most. (In bytes, as the
/// other bounds here: files made before 1 KiB pages keep their 4 KiB.)
const VACUUM_STEP_BYTES: u64 = 4 << 20;
/// Under load, free pages are given back only once they take at least this
/// many bytes and half the file: new deliveries reuse free pages, so moving
/// them while the queue is busy would mostly write pages twice.
const BUSY_VACUUM_MIN_BYTES: u64 = 16 << 20;
/// How often, under load, the writer looks at the free-page count.
const BUSY_VACUUM_CHECK: Duration = Duration::from_secs(1);
/// When idle, free pages are given back once they take at least this many
/// bytes and an eighth of the file.
const IDLE_VACUUM_MIN_BYTES: u64 = 64 << 10;
/// The size of a WAL frame's header, on top of the page it holds.
const WAL_FRAME_HEADER: u64 = 24;
/// With Durability::ProcessCrash, commits reach the disk only at checkpoints:
/// one is asked for at least this often while commits come.
const CHECKPOINT_AT_LEAST_EVERY: Duration = Duration::from_secs(1);

/// The WAL's bounds, from the builder's `wal_limit` and `checkpoint_after`.
#[derive(Debug, Clone, Copy)]
pub(super) struct WalPolicy {
    /// The bound on the WAL file, in bytes.
    pub(super) limit: u64,
    /// The WAL bytes between two background checkpoints; 0 asks for one
    /// after every commit.
    pub(super) checkpoint_after: u64,
}

impl WalPolicy {
    /// The WAL size past which the writer resets the WAL: half the bound, so
    /// that a batch committed on top of it still fits.
    pub(super) fn restart_at(&self) -> u64 {
        self.limit / 2
    }

    /// The most payload bytes one batch may carry, so that one batch cannot
    /// take the WAL past its bound by itself (a delivery larger than that
    /// still goes, alone in its batch).
    pub(super) fn max_batch_bytes(&self) -> usize {
        usize::try_from(self.limit / 8).unwrap_or(usize::MAX).max(1)
    }

    /// `journal_size_limit`: at a reset the WAL file is cut back to this.
    pub(super) fn journal_size_limit(&self) -> i64 {
        i64::try_from(self.restart_at()).unwrap_or(i64::MAX)
    }
}

/// The number of frames in the WAL after the last commit of the writer's
/// connection, kept by SQLite's WAL hook (which the writer's connection
/// installs, instead of the automatic checkpoint it replaces).
pub(super) fn track_wal_frames(conn: &mut Connection) -> rusqlite::Result<Arc<AtomicU64>> {
    let frames = Arc::new(AtomicU64::new(0));
    let hook = Arc::clone(&frames);
    conn.wal_hook(Some(
        move |_: &mut rusqlite::hooks::Wal, pages: std::ffi::c_int| {
            hook.store(u64::try_from(pages).unwrap_or(0), Ordering::Relaxed);
            Ok(())
        },
    ))?;
    Ok(frames)
}

/// What the writer does for the files between batches and when idle.
pub(super) struct Upkeep {
    policy: WalPolicy,
    page_size: u64,
    /// Bytes per WAL frame: the page size plus the frame header.
    frame_bytes: u64,
    wal_frames: Arc<AtomicU64>,
    /// Asks the checkpoint thread for a `PASSIVE` checkpoint.
    checkpoint: mpsc::SyncSender<()>,
    /// WAL frames when the background checkpoint was last asked for.
    asked_at_frames: u64,
    asked_at: Instant,
    vacuum_checked: Instant,
    /// Whether the idle work (vacuum, truncating checkpoint) is done since
    /// the last command.
    tidy: bool,
}

impl Upkeep {
    pub(super) fn new(
        conn: &Connection,
        policy: WalPolicy,
        wal_frames: Arc<AtomicU64>,
        checkpoint: mpsc::SyncSender<()>,
    ) -> Self {
        let page_size = pragma_u64(conn, "page_size").unwrap_or(4096);
        let now = Instant::now();
        Self {
            policy,
            page_size,
            frame_bytes: page_size + WAL_FRAME_HEADER,
            wal_frames,
            checkpoint,
            asked_at_frames: 0,
            asked_at: now,
            vacuum_checked: now,
            // A file just opened may hold a WAL or free pages from before.
            tidy: false,
        }
    }

    /// The bytes of WAL frames written since the WAL last started over.
    pub(super) fn wal_bytes(&self) -> u64 {
        self.wal_frames
            .load(Ordering::Relaxed)
            .saturating_mul(self.frame_bytes)
    }

    /// How long after the last write [`idle`](Self::idle) has work: `None`
    /// once everything is tidy.
    pub(super) fn idle_wait(&self) -> Option<Duration> {
        (!self.tidy).then_some(IDLE_AFTER)
    }

    /// Something freed pages or wrote the WAL outside a batch: tidy again
    /// at the next idle moment.
    pub(super) fn untidy(&mut self) {
        self.tidy = false;
    }

    /// After a batch was committed and answered: resets the WAL when it
    /// passed half its bound, asks for a background checkpoint when enough
    /// was written since the last, and now and then gives free pages back.
    pub(super) fn after_commit(&mut self, conn: &Connection) {
        self.tidy = false;
        let frames = self.wal_frames.load(Ordering::Relaxed);
        if frames < self.asked_at_frames {
            // The WAL started over since.
            self.asked_at_frames = 0;
        }
        if self.wal_bytes() >= self.policy.restart_at() {
            self.checkpoint_now(conn, "RESTART");
        } else {
            let written = (frames - self.asked_at_frames).saturating_mul(self.frame_bytes);
            let due = written >= self.policy.checkpoint_after
                || (frames > self.asked_at_frames
                    && self.asked_at.elapsed() >= CHECKPOINT_AT_LEAST_EVERY);
            // A full channel means a checkpoint is already pending.
            if due && self.checkpoint.try_send(()).is_ok() {
                self.asked_at_frames = frames;
                self.asked_at = Instant::now();
            }
        }
        if self.vacuum_checked.elapsed() >= BUSY_VACUUM_CHECK {
            self.vacuum_checked = Instant::now();
            if let Some((free, pages)) = free_pages(conn)
                && free >= self.pages(BUSY_VACUUM_MIN_BYTES)
                && free * 2 >= pages
            {
                vacuum_step(conn, self.pages(VACUUM_STEP_BYTES));
            }
        }
    }

    /// How many of this file's pages make `bytes`.
    fn pages(&self, bytes: u64) -> u64 {
        (bytes / self.page_size.max(1)).max(1)
    }

    /// Nothing was written for a while: does one bounded step of tidying (a
    /// vacuum step, or the final truncating checkpoint). Called again while
    /// [`idle_wait`](Self::idle_wait) says there is more to do.
    pub(super) fn idle(&mut self, conn: &Connection) {
        if let Some((free, pages)) = free_pages(conn)
            && free >= self.pages(IDLE_VACUUM_MIN_BYTES)
            && free * 8 >= pages
            && vacuum_step(conn, self.pages(VACUUM_STEP_BYTES))
        {
            return;
        }
        self.checkpoint_now(conn, "TRUNCATE");
        self.tidy = true;
    }

    /// A blocking checkpoint on the writer's connection (`RESTART` or
    /// `TRUNCATE`): waits a little for the background checkpoint and for
    /// readers, then gives up until the next batch.
    fn checkpoint_now(&mut self, conn: &Connection, mode: &str) {
        // Near the bound, waiting longer beats letting the WAL grow past it.
        let patience = if self.wal_bytes() >= self.policy.limit / 4 * 3 {
            CHECKPOINT_BUSY_TIMEOUT_NEAR_LIMIT
        } else {
            CHECKPOINT_BUSY_TIMEOUT
        };
        let _ = conn.busy_timeout(patience);
        let result = conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |row| {
            row.get::<_, i64>(0)
        });
        let _ = conn.busy_timeout(BUSY_TIMEOUT);
        match result {
            // Every frame copied and no reader left in the WAL: the next
            // commit starts it over.
            Ok(0) => {
                tracing::trace!(mode, "sqlite checkpoint done");
                self.wal_frames.store(0, Ordering::Relaxed);
                self.asked_at_frames = 0;
                self.asked_at = Instant::now();
            }
            Ok(_) => tracing::debug!(
                mode,
                "sqlite checkpoint could not finish (readers); retried later"
            ),
            Err(err) => tracing::warn!(error = %err, mode, "sqlite checkpoint failed"),
        }
    }
}

/// Turns incremental auto-vacuum on in a file created without it (by an
/// earlier version), which takes a `VACUUM`: the whole file is rewritten
/// once, through the WAL, and needs as much free disk again for a moment.
/// Called by the process that serves the queue, at open, before any
/// command. When it fails (a full disk, say) the queue works as before, its
/// file just keeps its free pages; the warning says how to migrate offline.
pub(super) fn migrate_auto_vacuum(conn: &Connection, path: &std::path::Path) {
    // 0 = NONE, 1 = FULL, 2 = INCREMENTAL.
    if pragma_u64(conn, "auto_vacuum") != Some(0) {
        return;
    }
    let started = Instant::now();
    let migrated = conn
        .pragma_update(None, "auto_vacuum", "INCREMENTAL")
        .and_then(|()| conn.execute_batch("VACUUM"))
        .and_then(|()| conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())));
    match migrated {
        Ok(()) => tracing::info!(
            path = %path.display(),
            elapsed_ms = started.elapsed().as_millis(),
            "queue file migrated to incremental auto-vacuum (freed pages are now given back)"
        ),
        Err(err) => tracing::warn!(
            path = %path.display(),
            error = %err,
            "could not turn on incremental auto-vacuum; the file keeps its free pages \
             (offline: sqlite3 FILE 'PRAGMA auto_vacuum = INCREMENTAL; VACUUM;')"
        ),
    }
}

/// The size of the WAL file next to the database at `db` (0 when absent).
pub(super) fn wal_file_len(db: &std::path::Path) -> u64 {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    std::fs::metadata(wal).map_or(0, |meta| meta.len())
}

/// `(freelist_count, page_count)` of the database file.
fn free_pages(conn: &Connection) -> Option<(u64, u64)> {
    Some((
        pragma_u64(conn, "freelist_count")?,
        pragma_u64(conn, "page_count")?,
    ))
}

fn pragma_u64(conn: &Connection, pragma: &str) -> Option<u64> {
    conn.query_row(&format!("PRAGMA {pragma}"), [], |row| row.get::<_, i64>(0))
        .ok()
        .and_then(|n| u64::try_from(n).ok())
}

/// Gives up to `step_pages` free pages back to the file system (in
/// one transaction of its own; the file shrinks at the next checkpoint).
/// Returns whether pages were freed. A file without incremental auto-vacuum
/// (created before it, and not migrated) frees none.
fn vacuum_step(conn: &Connection, step_pages: u64) -> bool {
    let before = pragma_u64(conn, "freelist_count").unwrap_or(0);
    let step = format!("PRAGMA incremental_vacuum({step_pages})");
    // The pragma returns no rows; each page it frees is a step of the statement.
    match conn.prepare_cached(&step).and_then(|mut stmt| {
        let mut rows = stmt.query([])?;
        while rows.next()?.is_some() {}
        Ok(())
    }) {
        Ok(()) => {
            let after = pragma_u64(conn, "freelist_count").unwrap_or(before);
            tracing::trace!(
                freed = before.saturating_sub(after),
                "incremental vacuum step"
            );
            after < before
        }
        Err(err) => {
            tracing::warn!(error = %err, "sqlite incremental vacuum failed");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wal_is_reset_at_half_its_bound_and_batches_fit_below_it() {
        let policy = WalPolicy {
            limit: 64 << 20,
            checkpoint_after: 4 << 20,
        };
        assert_eq!(policy.restart_at(), 32 << 20);
        assert_eq!(policy.journal_size_limit(), 32 << 20);
        assert_eq!(policy.max_batch_bytes(), 8 << 20);
        assert!(policy.restart_at() + policy.max_batch_bytes() as u64 * 3 < policy.limit);
    }
}
