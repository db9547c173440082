//! The embedded durable back-end: one SQLite file in WAL mode, written by one
//! thread that group-commits.
//!
//! # How writes work
//!
//! Every change (enqueue, lease, extension, ack, retry, dead letter, replay) is sent to
//! one dedicated writer thread. The thread takes everything that has arrived,
//! up to [`SqliteQueueBuilder::max_batch`] commands, runs it in **one**
//! transaction (each command in its own savepoint, so one failure does not
//! sink the others), commits, and only then answers each caller. With
//! [`Durability::Fsync`] the commit waits for `fsync`, so an `Ok` from
//! [`enqueue`](crate::Enqueue::enqueue) means the delivery is on disk, and 64
//! concurrent enqueues cost about one `fsync`, not 64.
//!
//! Leases and acks go through the writer too: they are writes, and a single
//! writer never meets `SQLITE_BUSY`. Statistics and dead-letter listings read
//! through a second connection: WAL lets them see the last commit without
//! waiting for (or delaying) the writer's batch.
//!
//! # Disk use
//!
//! The write-ahead log stays under [`SqliteQueueBuilder::wal_limit`] (64 MiB
//! by default): a background thread copies it into the database file, the
//! writer resets it between batches once it holds half the bound, and once
//! nothing was written for a second (polling workers write nothing) it is
//! truncated to zero bytes. The
//! database file gives back the pages of handled deliveries (acknowledged
//! rows are deleted; their dedup keys stay for the window): new files use
//! incremental auto-vacuum and the writer frees pages in bounded steps when
//! it is idle (or when half the file is free under load). A file made by an
//! earlier version is migrated when the serving process opens it (one
//! `VACUUM`, which rewrites the file once; if that fails, say for want of
//! disk, the queue works as before and logs how to migrate offline).
//!
//! # Schema
//!
//! Inspect a queue with `sqlite3 queue.db` (times are microseconds since the
//! Unix epoch; `datetime(due_at / 1000000, 'unixepoch')` reads them):
//!
//! ```sql
//! -- One row per delivery not yet handled, or dead.
//! CREATE TABLE deliveries (
//!     id           INTEGER PRIMARY KEY,  -- enqueue order
//!     source       TEXT    NOT NULL,     -- e.g. 'clarife'
//!     delivery_id  TEXT    NOT NULL,
//!     received_at  INTEGER NOT NULL,
//!     headers      BLOB    NOT NULL,     -- (u32 BE len, name, u32 BE len, value)*
//!     body         BLOB    NOT NULL,     -- the verified raw body
//!     coalesce_key TEXT,
//!     state        TEXT    NOT NULL,     -- 'waiting' | 'leased' | 'dead'
//!     due_at       INTEGER NOT NULL,     -- waiting: due; leased: lease expiry; dead: dead since
//!     lease_token  INTEGER,              -- the current lease; a stale one does not match
//!     attempts     INTEGER NOT NULL DEFAULT 0,
//!     last_error   TEXT
//! );
//! -- Delivery keys seen within the deduplication window (pruned periodically).
//! CREATE TABLE seen (
//!     source      TEXT    NOT NULL,
//!     delivery_id TEXT    NOT NULL,
//!     seen_at     INTEGER NOT NULL,
//!     PRIMARY KEY (source, delivery_id)
//! ) WITHOUT ROWID;
//! ```
//!
//! plus partial indexes on `deliveries(due_at)` for waiting and leased rows,
//! `deliveries(received_at)` for dead ones, `deliveries(source, coalesce_key)`
//! for waiting ones, and `seen(seen_at)`. Acknowledged deliveries are deleted;
//! their key stays in `seen` for the window.
//!
//! A queue file is served by one process at a time: on open, every lease in
//! it is recovered (the process that held them is gone). A queue opened
//! [`exclusive`](SqliteQueueBuilder::exclusive)ly (as `hookgate serve` opens
//! it) does not write its leases at all: it holds them in memory, and a
//! leased row stays `waiting` in the file until the delivery is
//! acknowledged (deleted) or settled otherwise (written once). Other
//! processes then see its deliveries in flight as ready. A second process
//! that only inspects or repairs the file while the server runs (`hookgate
//! queue stats`, `list`, `replay`) opens it with
//! [`recover_leases_on_open(false)`](SqliteQueueBuilder::recover_leases_on_open),
//! so the server's deliveries in flight are not made leasable again. Changes
//! another process commits (a replay) are noticed at the writer's next batch
//! (`PRAGMA data_version`), which then recounts what the capacity limits.

mod budget;
mod codec;
mod held;
mod share;
mod store;
mod upkeep;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use rusqlite::{Connection, OpenFlags};
use tokio::sync::oneshot;

use crate::memory::{DEFAULT_CAPACITY, DEFAULT_DEDUP_WINDOW};
use crate::observe;
use crate::{
    BoxFuture, Clock, DeadLetter, Enqueue, EnqueueOutcome, LeaseId, LeaseRequest, Leased,
    NewDelivery, Queue, QueueError, ReadySignal, Replay, Stats, SystemClock, Wakeups,
};
pub use budget::MinFreeDisk;
use budget::{Budget, Limits, OutOfSpace};
use held::{Held, HeldLeases};
use share::IntakeShare;
use store::{Finish, Live, storage};
use upkeep::{Upkeep, WalPolicy};

pub use crate::durability::Durability;

/// The time after which a caller is told to retry when the writer is gone.
const UNAVAILABLE_RETRY_AFTER: Duration = Duration::from_secs(1);
/// How many expired dedup keys one batch deletes at most, so pruning a large
/// backlog never stalls enqueues for long.
const PRUNE_LIMIT: usize = 10_000;
/// The default page size of a new queue file (see
/// [`SqliteQueueBuilder::page_size`]). Every commit writes each page it
/// touched whole, to the WAL and again at the checkpoint, and most of what
/// a commit touches is not the deliveries' bytes but a page or two of each
/// index, the dedup table (a random page per key), the free list and the
/// header: 1 KiB pages write half as much per delivery as SQLite's default
/// 4 KiB (BENCHMARKS.md, issue 18). A larger body spills into overflow
/// pages, which it fills. 2 KiB would be worse than either: a delivery of
/// 1 KiB or so then takes a page of its own.
pub const DEFAULT_PAGE_SIZE: u32 = 1024;
/// The default bound on the WAL file (see [`SqliteQueueBuilder::wal_limit`]).
pub const DEFAULT_WAL_LIMIT: u64 = 64 << 20;
/// The default WAL bytes between two background checkpoints (see
/// [`SqliteQueueBuilder::checkpoint_after`]).
pub const DEFAULT_CHECKPOINT_AFTER: u64 = 4 << 20;

/// Configures and opens a [`SqliteQueue`].
#[must_use]
pub struct SqliteQueueBuilder {
    path: PathBuf,
    durability: Durability,
    capacity: u64,
    max_bytes: Option<u64>,
    min_free_disk: Option<MinFreeDisk>,
    dedup_window: Duration,
    prune_interval: Duration,
    max_batch: usize,
    clock: Arc<dyn Clock>,
    recover_leases_on_open: bool,
    exclusive: bool,
    page_size: u32,
    wal: WalPolicy,
}

impl SqliteQueueBuilder {
    /// Sets the durability (default: [`Durability::Fsync`]).
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// Refuses enqueues with `Full` once this many deliveries wait or are
    /// leased (dead letters do not count). Default one million.
    pub fn capacity(mut self, capacity: u64) -> Self {
        self.capacity = capacity;
        self
    }

    /// Refuses enqueues with `Full` ([`StorageLimit::MaxBytes`](crate::StorageLimit::MaxBytes)) once the
    /// queue's data would take more than `bytes`: the database file's pages
    /// in use (deliveries, dead letters, dedup keys and indexes; the WAL is
    /// bounded apart, by [`wal_limit`](Self::wal_limit)). Default: no budget.
    ///
    /// Checked before anything of the delivery is written, so a refused
    /// enqueue leaves nothing behind; the receiving side answers `503` with
    /// `Retry-After`, and enqueues succeed again once handled deliveries
    /// are acknowledged.
    pub fn max_bytes(mut self, bytes: u64) -> Self {
        self.max_bytes = Some(bytes);
        self
    }

    /// Refuses enqueues with `Full` ([`StorageLimit::MinFreeDisk`](crate::StorageLimit::MinFreeDisk)) while the
    /// file system holding the queue has less free space than `floor`
    /// (bytes, or a percentage of its size), counting what the delivery
    /// would take (twice its bytes: the WAL, then the database file).
    /// Default: no floor (a full disk still refuses enqueues, as
    /// [`StorageLimit::StorageFull`](crate::StorageLimit::StorageFull), once a write fails).
    ///
    /// Free space is read with `statvfs` on Unix, as an unprivileged
    /// process sees it (without the blocks reserved for root); elsewhere
    /// the floor is not checked.
    pub fn min_free_disk(mut self, floor: MinFreeDisk) -> Self {
        self.min_free_disk = Some(floor);
        self
    }

    /// How long delivery keys are remembered for deduplication (default 24 h).
    pub fn dedup_window(mut self, window: Duration) -> Self {
        self.dedup_window = window;
        self
    }

    /// How often expired dedup keys are pruned (default 1 minute).
    pub fn prune_interval(mut self, interval: Duration) -> Self {
        self.prune_interval = interval;
        self
    }

    /// The most commands committed in one transaction (default 1024). `1`
    /// commits every enqueue on its own: useful only to measure what group
    /// commit saves.
    pub fn max_batch(mut self, max_batch: usize) -> Self {
        self.max_batch = max_batch.max(1);
        self
    }

    /// The bound on the write-ahead log file, in bytes (default
    /// [`DEFAULT_WAL_LIMIT`], 64 MiB; at least 1 MiB).
    ///
    /// Once the WAL holds half of it, the writer resets it between two
    /// batches (a `RESTART` checkpoint), `journal_size_limit` cuts the file
    /// back to half the bound at the reset, and a batch carries at most an
    /// eighth of it in bodies, so at a sustainable rate the file stays under
    /// the bound. Once nothing was written for a second, the WAL is
    /// checkpointed and truncated to zero bytes.
    pub fn wal_limit(mut self, bytes: u64) -> Self {
        self.wal.limit = bytes.max(1 << 20);
        self
    }

    /// How many bytes the WAL grows by between two background (`PASSIVE`)
    /// checkpoints, which copy it into the database file off the enqueue
    /// path (default [`DEFAULT_CHECKPOINT_AFTER`], 4 MiB; at least once a
    /// second while commits come).
    ///
    /// A page changed by many commits (the end of a table, an index page)
    /// is copied once per checkpoint, so fewer checkpoints write less; `0`
    /// asks for one after every commit (at most every 50 ms), as earlier
    /// versions did: useful to measure what this saves.
    pub fn checkpoint_after(mut self, bytes: u64) -> Self {
        self.wal.checkpoint_after = bytes;
        self
    }

    /// Reads time from `clock` (tests use a [`ManualClock`](crate::ManualClock)).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Whether [`open`](Self::open) makes every lease in the file due again
    /// (default `true`): right for the process that serves the queue, since
    /// no one can still hold a lease taken before it opened the file.
    ///
    /// Set `false` to open a file that another process may be serving right
    /// now, to inspect it (stats, dead letters) or replay dead letters: that
    /// process's deliveries in flight keep their leases, instead of being
    /// handed to a worker a second time. Expired leases are still recovered
    /// by [`Queue::recover`] (worker pools call it at start), as always.
    pub fn recover_leases_on_open(mut self, recover: bool) -> Self {
        self.recover_leases_on_open = recover;
        self
    }

    /// Claims the file for this process while the queue is open (default
    /// `false`): [`open`](Self::open) takes an exclusive OS lock on
    /// `<file>.lock` beside it, and fails with `Invalid`, naming the file,
    /// when another exclusive open (in this process or any other) holds it.
    /// The lock goes with the process, so a crash never leaves it behind.
    ///
    /// For the process that serves the queue: two of them on one file would
    /// each recover the other's leases at start and handle those deliveries
    /// twice. Opens that only inspect the file (stats, dead letters,
    /// replays, with [`recover_leases_on_open`](Self::recover_leases_on_open)
    /// `false`) leave this off and keep working beside it.
    ///
    /// An exclusive queue keeps its leases in memory instead of writing
    /// them, which saves each delivery a durable write of its row (about a
    /// third of the bytes it costs the disk): no other process can take its
    /// deliveries, and a crash ends every lease anyway. What that changes:
    ///
    /// - A process that opens the file beside it (`hookgate queue stats`)
    ///   counts its deliveries in flight as ready, not leased. Dead letters,
    ///   and replays (which act on dead letters only), are as before.
    /// - An attempt cut short by a crash is not counted: after a restart,
    ///   the delivery is handed out again with the attempt number it had.
    ///   Retries, dead letters and releases write the count as always.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// use hookgate_queue::{QueueErrorKind, SqliteQueue};
    ///
    /// let path = dir.path().join("queue.db");
    /// let serving = SqliteQueue::builder(&path).exclusive(true).open()?;
    /// let second = SqliteQueue::builder(&path).exclusive(true).open().unwrap_err();
    /// assert_eq!(second.kind(), QueueErrorKind::Invalid);
    /// let inspecting = SqliteQueue::builder(&path).recover_leases_on_open(false).open()?;
    /// drop(serving);
    /// assert!(SqliteQueue::builder(&path).exclusive(true).open().is_ok());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn exclusive(mut self, exclusive: bool) -> Self {
        self.exclusive = exclusive;
        self
    }

    /// The page size of a file this creates (default [`DEFAULT_PAGE_SIZE`],
    /// 1 KiB; a power of two from 512 to 65536, others are rounded down to
    /// one). An existing file keeps the page size it was made with.
    ///
    /// Each commit writes every page it touched whole, to the WAL and again
    /// at the checkpoint; most of those pages are index, dedup and
    /// free-list pages touched for a few bytes, so small pages write less
    /// per delivery. Larger pages suit bodies of many KiB read back often.
    pub fn page_size(mut self, bytes: u32) -> Self {
        let bytes = bytes.clamp(512, 65536);
        // The largest power of two not above `bytes`.
        self.page_size = 1 << (31 - bytes.leading_zeros());
        self
    }

    /// Opens (creating if needed) the queue file, recovers its leases (see
    /// [`recover_leases_on_open`](Self::recover_leases_on_open)) and starts
    /// the writer thread. Blocks while the file is opened.
    pub fn open(self) -> Result<SqliteQueue, QueueError> {
        // Before anything is read: the leases recovered below are only
        // ours to recover if no other serving process has the file.
        let owner = if self.exclusive {
            Some(lock_owner(&self.path)?)
        } else {
            None
        };
        let mut conn = Connection::open(&self.path).map_err(storage)?;
        // Before the first table exists (a no-op on an existing file, which
        // keeps its page size): see `PAGE_SIZE`.
        conn.pragma_update(None, "page_size", self.page_size)
            .map_err(storage)?;
        // Before the first table exists (a no-op on an existing file): freed
        // pages can then be given back to the file system.
        conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")
            .map_err(storage)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(storage)?;
        let synchronous = match self.durability {
            Durability::Fsync => "FULL",
            Durability::ProcessCrash => "NORMAL",
        };
        conn.pragma_update(None, "synchronous", synchronous)
            .map_err(storage)?;
        conn.busy_timeout(upkeep::BUSY_TIMEOUT).map_err(storage)?;
        conn.set_prepared_statement_cache_capacity(32);
        conn.execute_batch(store::SCHEMA).map_err(storage)?;
        // Checkpoints run on their own thread (below), never inside a commit
        // that callers are waiting for; the writer resets the WAL between
        // batches (see `upkeep`). The WAL hook replaces the automatic
        // checkpoint, so this comes first.
        conn.pragma_update(None, "wal_autocheckpoint", 0)
            .map_err(storage)?;
        let wal_frames = upkeep::track_wal_frames(&mut conn).map_err(storage)?;
        conn.pragma_update(None, "journal_size_limit", self.wal.journal_size_limit())
            .map_err(storage)?;

        if self.recover_leases_on_open {
            upkeep::migrate_auto_vacuum(&conn, &self.path);
            let now = self.clock.now();
            let tx = conn.transaction().map_err(storage)?;
            let mut live = Live(0);
            // No process can still hold a lease taken before this open.
            let recovered = store::recover(&tx, crate::clock::far_future(), now, &mut live, None)?;
            tx.commit().map_err(storage)?;
            if recovered > 0 {
                tracing::info!(recovered, path = %self.path.display(), "recovered leases of a previous process");
            }
        }
        let live = store::count_live(&conn)?;
        let data_version = store::data_version(&conn)?;

        let reader = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(storage)?;
        reader
            .busy_timeout(Duration::from_secs(5))
            .map_err(storage)?;

        let checkpointer = Connection::open(&self.path).map_err(storage)?;
        checkpointer
            .busy_timeout(upkeep::BUSY_TIMEOUT)
            .map_err(storage)?;
        checkpointer
            .pragma_update(None, "journal_size_limit", self.wal.journal_size_limit())
            .map_err(storage)?;
        let (checkpoint, checkpoint_requests) = mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("hookgate-queue-checkpoint".to_owned())
            .spawn(move || run_checkpoints(&checkpointer, &checkpoint_requests))
            .map_err(QueueError::unavailable)?;

        let (commands, inbox) = mpsc::channel();
        let upkeep = Upkeep::new(&conn, self.wal, wal_frames, checkpoint);
        let ready = ReadySignal::new();
        let limits = Limits {
            capacity: self.capacity,
            max_bytes: self.max_bytes,
            min_free_disk: self.min_free_disk,
            path: self.path.clone(),
            last_refused: Arc::default(),
        };
        let disk_full = Arc::new(OutOfSpace::default());
        // See `held`: only a process holding the file's lock may keep its
        // leases where no other process can see them.
        let held = self.exclusive.then(Held::default);
        let writer = Writer {
            leases: held.clone().map(HeldLeases::new),
            budget: Budget::new(limits.clone()),
            disk_full: Arc::clone(&disk_full),
            upkeep,
            max_batch_bytes: self.wal.max_batch_bytes(),
            ready: ready.clone(),
            conn,
            inbox,
            share: IntakeShare::default(),
            clock: Arc::clone(&self.clock),
            dedup_window: self.dedup_window,
            prune_interval: self.prune_interval,
            max_batch: self.max_batch,
            live,
            data_version,
            last_prune: None,
            changes: 0,
            changed_at: Instant::now(),
        };
        std::thread::Builder::new()
            .name("hookgate-queue-writer".to_owned())
            .spawn(move || writer.run())
            .map_err(QueueError::unavailable)?;

        Ok(SqliteQueue {
            path: self.path,
            durability: self.durability,
            max_batch: self.max_batch,
            clock: self.clock,
            commands,
            reader: Arc::new(Mutex::new(reader)),
            ready,
            limits: Arc::new(limits),
            disk_full,
            held,
            _owner: owner,
        })
    }
}

/// Takes the exclusive lock of [`SqliteQueueBuilder::exclusive`] on
/// `<path>.lock`, held as long as the returned file is open.
fn lock_owner(path: &Path) -> Result<std::fs::File, QueueError> {
    let mut lock_path = path.as_os_str().to_owned();
    lock_path.push(".lock");
    let lock_path = PathBuf::from(lock_path);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| {
            QueueError::storage(format!(
                "cannot open the lock file {}: {e}",
                lock_path.display()
            ))
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(QueueError::invalid(format!(
            "the queue file {} is in use by another process serving it (it holds {}): \
             two would handle each other's deliveries twice; stop the other one, or give \
             this one its own queue file",
            path.display(),
            lock_path.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(QueueError::storage(format!(
            "cannot lock {}: {e}",
            lock_path.display()
        ))),
    }
}

impl fmt::Debug for SqliteQueueBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteQueueBuilder")
            .field("path", &self.path)
            .field("durability", &self.durability)
            .field("capacity", &self.capacity)
            .field("max_bytes", &self.max_bytes)
            .field("min_free_disk", &self.min_free_disk)
            .field("dedup_window", &self.dedup_window)
            .field("prune_interval", &self.prune_interval)
            .field("max_batch", &self.max_batch)
            .field("clock", &self.clock)
            .field("recover_leases_on_open", &self.recover_leases_on_open)
            .field("exclusive", &self.exclusive)
            .field("page_size", &self.page_size)
            .field("wal_limit", &self.wal.limit)
            .field("checkpoint_after", &self.wal.checkpoint_after)
            .finish()
    }
}

/// The embedded durable queue: one SQLite file (see the [module docs](self)).
///
/// ```
/// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
/// use std::time::{Duration, SystemTime};
/// use hookgate_queue::{EnqueueOutcome, LeaseRequest, NewDelivery, Enqueue, Queue, SqliteQueue};
///
/// let dir = tempfile::tempdir().unwrap();
/// let queue = SqliteQueue::open(dir.path().join("queue.db"))?;
/// let delivery = NewDelivery::new("clarife", "evt_1", SystemTime::now(), &b"{}"[..]);
/// assert_eq!(queue.enqueue(delivery).await?, EnqueueOutcome::Enqueued);
/// assert_eq!(queue.stats().await?.ready, 1);
/// # Ok::<(), hookgate_queue::QueueError>(())
/// # }).unwrap();
/// ```
pub struct SqliteQueue {
    path: PathBuf,
    durability: Durability,
    max_batch: usize,
    clock: Arc<dyn Clock>,
    commands: mpsc::Sender<Command>,
    reader: Arc<Mutex<Connection>>,
    /// Notified by the writer after a commit that made deliveries ready.
    ready: ReadySignal,
    limits: Arc<Limits>,
    /// Set by the writer while writes fail for want of space.
    disk_full: Arc<OutOfSpace>,
    /// The leases the writer holds in memory (exclusive queues only).
    held: Option<Held>,
    /// The lock of [`SqliteQueueBuilder::exclusive`], released on drop.
    _owner: Option<std::fs::File>,
}

impl SqliteQueue {
    /// Opens the queue at `path` with the defaults (fsync before ack, 24 h
    /// dedup window, group commit).
    pub fn open(path: impl AsRef<Path>) -> Result<Self, QueueError> {
        Self::builder(path).open()
    }

    /// Starts configuring a queue at `path`.
    pub fn builder(path: impl AsRef<Path>) -> SqliteQueueBuilder {
        SqliteQueueBuilder {
            path: path.as_ref().to_owned(),
            durability: Durability::default(),
            capacity: DEFAULT_CAPACITY,
            max_bytes: None,
            min_free_disk: None,
            dedup_window: DEFAULT_DEDUP_WINDOW,
            prune_interval: Duration::from_secs(60),
            max_batch: 1024,
            clock: Arc::new(SystemClock),
            recover_leases_on_open: true,
            exclusive: false,
            page_size: DEFAULT_PAGE_SIZE,
            wal: WalPolicy {
                limit: DEFAULT_WAL_LIMIT,
                checkpoint_after: DEFAULT_CHECKPOINT_AFTER,
            },
        }
    }

    /// The queue file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn send<T: Send + 'static>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, QueueError>>) -> Command,
    ) -> BoxFuture<'_, Result<T, QueueError>> {
        let (reply, answer) = oneshot::channel();
        let sent = self.commands.send(make(reply));
        Box::pin(async move {
            sent.map_err(|_| writer_gone())?;
            answer.await.map_err(|_| writer_gone())?
        })
    }

    fn read<T: Send + 'static>(
        &self,
        query: impl FnOnce(&Connection, SystemTime) -> Result<T, QueueError> + Send + 'static,
    ) -> BoxFuture<'_, Result<T, QueueError>> {
        let reader = Arc::clone(&self.reader);
        let now = self.clock.now();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let conn = reader.lock().unwrap_or_else(PoisonError::into_inner);
                query(&conn, now)
            })
            .await
            .map_err(QueueError::unavailable)?
        })
    }
}

fn writer_gone() -> QueueError {
    QueueError::unavailable("the sqlite writer dropped the request (stopped, or failed its batch)")
        .retry_after_hint(UNAVAILABLE_RETRY_AFTER)
}

impl fmt::Debug for SqliteQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteQueue")
            .field("path", &self.path)
            .field("durability", &self.durability)
            .field("max_batch", &self.max_batch)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

impl Enqueue for SqliteQueue {
    fn enqueue(&self, delivery: NewDelivery) -> BoxFuture<'_, Result<EnqueueOutcome, QueueError>> {
        let started = Instant::now();
        let source = delivery.source.clone();
        let invalid = delivery.validate().err();
        let sent = match invalid {
            Some(err) => Box::pin(std::future::ready(Err(err))),
            None => self.send(|reply| Command::Enqueue { delivery, reply }),
        };
        Box::pin(async move {
            let result = sent.await;
            observe::record_enqueue(&source, &result, started.elapsed());
            result
        })
    }
}

impl Queue for SqliteQueue {
    fn lease(&self, request: LeaseRequest) -> BoxFuture<'_, Result<Vec<Leased>, QueueError>> {
        self.send(|reply| Command::Lease { request, reply })
    }

    fn extend(
        &self,
        leases: Vec<LeaseId>,
        visibility: Duration,
    ) -> BoxFuture<'_, Result<Vec<Result<SystemTime, QueueError>>, QueueError>> {
        self.send(|reply| Command::Extend {
            leases,
            visibility,
            reply,
        })
    }

    fn ack(&self, lease: LeaseId) -> BoxFuture<'_, Result<(), QueueError>> {
        self.send(|reply| Command::Finish {
            lease,
            action: Finish::Ack,
            reply,
        })
    }

    fn retry_at(
        &self,
        lease: LeaseId,
        at: SystemTime,
        error: String,
    ) -> BoxFuture<'_, Result<(), QueueError>> {
        self.send(|reply| Command::Finish {
            lease,
            action: Finish::Retry { at, error },
            reply,
        })
    }

    fn dead_letter(&self, lease: LeaseId, error: String) -> BoxFuture<'_, Result<(), QueueError>> {
        self.send(|reply| Command::Finish {
            lease,
            action: Finish::Dead { error },
            reply,
        })
    }

    fn release(&self, lease: LeaseId) -> BoxFuture<'_, Result<(), QueueError>> {
        self.send(|reply| Command::Finish {
            lease,
            action: Finish::Release,
            reply,
        })
    }

    fn recover(&self) -> BoxFuture<'_, Result<u64, QueueError>> {
        self.send(|reply| Command::Recover { reply })
    }

    fn list_dead(&self, limit: usize) -> BoxFuture<'_, Result<Vec<DeadLetter>, QueueError>> {
        self.read(move |conn, _| store::list_dead(conn, limit))
    }

    fn replay(&self, selection: Replay) -> BoxFuture<'_, Result<u64, QueueError>> {
        self.send(|reply| Command::Replay { selection, reply })
    }

    /// Counts by state, and [`Stats::storage`]: the database's bytes in
    /// use, the WAL file's size, the free disk space, and the limit that
    /// refuses enqueues now, if any.
    fn stats(&self) -> BoxFuture<'_, Result<Stats, QueueError>> {
        let limits = Arc::clone(&self.limits);
        let disk_full = Arc::clone(&self.disk_full);
        let held = self.held.clone();
        self.read(move |conn, now| {
            let held = held.map(|held| held.ids()).unwrap_or_default();
            let mut stats = store::stats(conn, now, &held)?;
            let used = budget::used_bytes(conn).unwrap_or(0);
            let disk = budget::disk_space(&limits.path);
            let usage = crate::StorageUsage {
                bytes: used,
                wal_bytes: Some(upkeep::wal_file_len(&limits.path)),
                free_disk: disk.map(|(available, _)| available),
                limit_reached: if disk_full.still(disk.map(|(available, _)| available)) {
                    Some(crate::StorageLimit::StorageFull)
                } else {
                    limits.reached(stats.depth(), used, disk)
                },
            };
            stats.storage = Some(usage);
            Ok(stats)
        })
    }

    /// Wakes once a batch with an enqueue, a release, a retry, a recovery
    /// or a replay of this process committed. Changes by another process
    /// (a replay by `hookgate queue`) are found by polling.
    fn wakeups(&self) -> Option<Wakeups> {
        Some(self.ready.subscribe())
    }
}

type Reply<T> = oneshot::Sender<Result<T, QueueError>>;

enum Command {
    Enqueue {
        delivery: NewDelivery,
        reply: Reply<EnqueueOutcome>,
    },
    Lease {
        request: LeaseRequest,
        reply: Reply<Vec<Leased>>,
    },
    Extend {
        leases: Vec<LeaseId>,
        visibility: Duration,
        reply: Reply<Vec<Result<SystemTime, QueueError>>>,
    },
    Finish {
        lease: LeaseId,
        action: Finish,
        reply: Reply<()>,
    },
    Recover {
        reply: Reply<u64>,
    },
    Replay {
        selection: Replay,
        reply: Reply<u64>,
    },
}

impl Command {
    /// The body and header bytes the command writes (what bounds a batch).
    fn payload_bytes(&self) -> usize {
        match self {
            Self::Enqueue { delivery, .. } => {
                delivery.body.len()
                    + delivery
                        .headers
                        .iter()
                        .map(|(name, value)| name.as_str().len() + value.len())
                        .sum::<usize>()
            }
            _ => 0,
        }
    }

    /// Whether committing this command may make a delivery ready: idle
    /// workers are woken after the batch commits.
    fn may_make_ready(&self) -> bool {
        match self {
            Self::Enqueue { .. } | Self::Recover { .. } | Self::Replay { .. } => true,
            Self::Finish { action, .. } => matches!(action, Finish::Release | Finish::Retry { .. }),
            Self::Lease { .. } | Self::Extend { .. } => false,
        }
    }
}

/// A command's result, held until the transaction commits.
enum Answer {
    Enqueue(Reply<EnqueueOutcome>, Result<EnqueueOutcome, QueueError>),
    Lease(Reply<Vec<Leased>>, Result<Vec<Leased>, QueueError>),
    Extend(
        Reply<Vec<Result<SystemTime, QueueError>>>,
        Result<Vec<Result<SystemTime, QueueError>>, QueueError>,
    ),
    Unit(Reply<()>, Result<(), QueueError>),
    Count(Reply<u64>, Result<u64, QueueError>),
}

impl Answer {
    fn send(self) {
        // A caller that stopped waiting (deadline passed) is no error here:
        // its delivery is committed and will be handled.
        let _ = match self {
            Self::Enqueue(reply, result) => reply.send(result).map_err(drop),
            Self::Lease(reply, result) => reply.send(result).map_err(drop),
            Self::Extend(reply, result) => reply.send(result).map_err(drop),
            Self::Unit(reply, result) => reply.send(result).map_err(drop),
            Self::Count(reply, result) => reply.send(result).map_err(drop),
        };
    }

    /// Replaces a successful result by `err`: the transaction did not commit.
    fn fail(self, err: &rusqlite::Error) -> Self {
        let failed = || {
            if store::is_disk_full(err) {
                store::disk_full(err)
            } else {
                QueueError::storage(format!("commit failed: {err}"))
            }
        };
        match self {
            Self::Enqueue(reply, result) => Self::Enqueue(reply, result.and(Err(failed()))),
            Self::Lease(reply, result) => Self::Lease(reply, result.and(Err(failed()))),
            Self::Extend(reply, result) => Self::Extend(reply, result.and(Err(failed()))),
            Self::Unit(reply, result) => Self::Unit(reply, result.and(Err(failed()))),
            Self::Count(reply, result) => Self::Count(reply, result.and(Err(failed()))),
        }
    }
}

struct Writer {
    conn: Connection,
    /// The leases held in memory instead of in the file (see `held`);
    /// `None`: leases are written (a queue opened without the lock).
    leases: Option<HeldLeases>,
    /// Checkpoints and vacuum between batches (see `upkeep`).
    upkeep: Upkeep,
    /// The most body and header bytes one batch carries (see `WalPolicy`).
    max_batch_bytes: usize,
    /// Wakes idle worker pools after a commit that made deliveries ready.
    ready: ReadySignal,
    inbox: mpsc::Receiver<Command>,
    /// Enqueues waiting for a batch, and how many a batch takes while the
    /// workers are behind (see `share`).
    share: IntakeShare,
    clock: Arc<dyn Clock>,
    /// The capacity, the byte budget and the free-space floor.
    budget: Budget,
    /// Whether the last enqueues failed for want of space (for statistics).
    disk_full: Arc<OutOfSpace>,
    dedup_window: Duration,
    prune_interval: Duration,
    max_batch: usize,
    /// Deliveries not dead, kept in step with the file so `Full` costs no query.
    live: u64,
    /// The file's `PRAGMA data_version` when `live` was last right: it
    /// changes when another connection (another process) commits.
    data_version: i64,
    last_prune: Option<SystemTime>,
    /// The connection's `total_changes` after the last batch that changed
    /// the file, and when that was: the files are tidied once nothing was
    /// written for a while, even while commands that write nothing (the
    /// leases of polling workers on an empty queue) keep coming.
    changes: u64,
    changed_at: Instant,
}

impl Writer {
    fn run(mut self) {
        let mut batch = Vec::with_capacity(self.max_batch);
        loop {
            // Enqueues left over from the last batch go into this one without
            // waiting for a new command. Otherwise blocks until a command
            // arrives; ends when every queue handle is dropped (and nothing
            // waits, so every caller is answered).
            if self.share.waiting() == 0 {
                let Some(first) = self.next_command() else {
                    break;
                };
                self.share.sort(first, &mut batch);
            }
            while batch.len() + self.share.waiting() < self.max_batch {
                match self.inbox.try_recv() {
                    Ok(command) => self.share.sort(command, &mut batch),
                    Err(_) => break,
                }
            }
            self.share
                .admit(&mut batch, self.max_batch, self.max_batch_bytes);
            let size = batch.len();
            let span = tracing::trace_span!("sqlite_commit", size);
            let _entered = span.enter();
            // A panic in one batch must not stop the queue for good: the
            // transaction rolls back as it unwinds, the batch's callers get
            // `Unavailable` (their replies are dropped), and the next batch
            // runs as usual.
            let committed =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.commit(&mut batch)));
            if committed.is_err() {
                batch.clear();
                tracing::error!(
                    size,
                    "sqlite queue batch panicked; its callers were told to retry"
                );
                self.roll_back();
                self.recount();
            }
            metrics::histogram!("hookgate_queue_sqlite_batch_size").record(size as f64);
        }
    }

    /// Waits for the next command, tidying the files (see `upkeep`) while
    /// none comes; `None` once every queue handle is dropped.
    fn next_command(&mut self) -> Option<Command> {
        loop {
            // Once tidy, the writer still wakes to prune dedup keys whose
            // window passed while no command came (then tidies again).
            let wait = match self.upkeep.idle_wait() {
                Some(quiet) => quiet.saturating_sub(self.changed_at.elapsed()),
                None => self.prune_interval.max(upkeep::IDLE_AFTER),
            };
            if wait.is_zero() {
                // Nothing written for a while (commands that write nothing
                // may keep coming): one bounded step of tidying, then any
                // command that came meanwhile, before the next step.
                self.idle();
                match self.inbox.try_recv() {
                    Ok(command) => return Some(command),
                    Err(mpsc::TryRecvError::Empty) => continue,
                    Err(mpsc::TryRecvError::Disconnected) => return None,
                }
            }
            match self.inbox.recv_timeout(wait) {
                Ok(command) => return Some(command),
                Err(mpsc::RecvTimeoutError::Timeout) => self.idle(),
                Err(mpsc::RecvTimeoutError::Disconnected) => return None,
            }
        }
    }

    /// Nothing was written for a while: prunes expired dedup keys if that
    /// is due, or else does one step of the files' upkeep.
    fn idle(&mut self) {
        let now = self.clock.now();
        let dedup_cutoff = now
            .checked_sub(self.dedup_window)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let due = self
            .last_prune
            .is_none_or(|last| now.duration_since(last).unwrap_or_default() >= self.prune_interval);
        if due && sql(&self.conn, "BEGIN IMMEDIATE").is_ok() {
            let pruned = self.prune_if_due(now, dedup_cutoff);
            if let Err(err) = sql(&self.conn, "COMMIT") {
                tracing::warn!(error = %err, "could not commit the pruning of dedup keys");
                self.roll_back();
            } else if pruned > 0 {
                tracing::debug!(pruned, "pruned expired dedup keys");
                // Their pages are free now: give them back.
                self.upkeep.untidy();
                return;
            }
        }
        self.upkeep.idle(&self.conn);
    }

    /// Runs `batch` in one transaction and answers every caller once it is
    /// committed (or failed): each command in a savepoint of its own, so one
    /// failure does not sink the others.
    fn commit(&mut self, batch: &mut Vec<Command>) {
        let now = self.clock.now();
        let dedup_cutoff = now
            .checked_sub(self.dedup_window)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        // IMMEDIATE: the write lock is taken now, so no other process
        // commits between the data version check and the commit.
        if let Err(err) = sql(&self.conn, "BEGIN IMMEDIATE") {
            tracing::error!(error = %err, "sqlite queue could not begin a transaction");
            for command in batch.drain(..) {
                fail_command(command, &err);
            }
            return;
        }
        self.follow_other_processes();
        let wakes = batch.iter().any(Command::may_make_ready);
        self.budget.start_batch(&self.conn);
        let mut commands = batch.drain(..);
        match self.run_commands(&mut commands, now, dedup_cutoff) {
            Ok((answers, live)) => {
                let pruned = self.prune_if_due(now, dedup_cutoff);
                self.finish(answers, live, pruned, wakes);
            }
            Err((answers, err)) => self.abandon(answers, commands, &err),
        }
    }

    /// Reads the live count again when another process committed since the
    /// last batch (a replay by `hookgate queue`, say). Called inside the
    /// transaction, so no one else writes until it ends.
    fn follow_other_processes(&mut self) {
        match store::data_version(&self.conn) {
            Ok(version) if version != self.data_version => match store::count_live(&self.conn) {
                Ok(live) => {
                    self.live = live;
                    self.data_version = version;
                }
                Err(err) => tracing::warn!(error = %err, "could not recount the queue"),
            },
            Ok(_) => {}
            Err(err) => tracing::warn!(error = %err, "could not read the data version"),
        }
    }

    /// Runs each command in its own savepoint, keeping its changes or
    /// rolling them back. Returns the answers, to send once the transaction
    /// commits, and the live count after them.
    ///
    /// Fails, with the answers so far, when the transaction cannot go on: a
    /// command's changes could not be undone, or SQLite itself rolled the
    /// transaction back (it does after SQLITE_FULL, IOERR, NOMEM...). Then
    /// nothing of the batch may be committed, and no later command may run:
    /// outside the transaction each would commit on its own while its
    /// caller is told it failed.
    fn run_commands(
        &mut self,
        commands: &mut impl Iterator<Item = Command>,
        now: SystemTime,
        dedup_cutoff: SystemTime,
    ) -> Result<(Vec<Answer>, u64), (Vec<Answer>, rusqlite::Error)> {
        let conn = &self.conn;
        let mut leases = self.leases.as_mut();
        let share = &mut self.share;
        let mut live = self.live;
        let mut answers = Vec::with_capacity(commands.size_hint().0);
        for command in commands {
            if let Err(err) = sql(conn, "SAVEPOINT command") {
                fail_command(command, &err);
                continue;
            }
            let mut delta = Live(0);
            let room = match &command {
                Command::Enqueue { .. } => self.budget.admit(live, command.payload_bytes() as u64),
                _ => Ok(()),
            };
            let mark = leases.as_ref().map(|leases| leases.mark());
            let context = Context {
                now,
                dedup_cutoff,
                leases: leases.as_deref_mut(),
            };
            let asked = match &command {
                Command::Lease { request, .. } => Some(request.max),
                _ => None,
            };
            let (answer, ok) = execute(conn, command, context, room, &mut delta);
            if let (Some(asked), Answer::Lease(_, Ok(leased))) = (asked, &answer) {
                share.lease_answered(asked, leased.len());
            }
            let released = ok.then(|| sql(conn, "RELEASE command"));
            let (answer, kept) = kept(answer, released);
            answers.push(answer);
            if kept {
                live = live.saturating_add_signed(delta.0);
            } else {
                if let (Some(leases), Some(mark)) = (leases.as_deref_mut(), mark) {
                    leases.roll_back_to(mark);
                }
                if let Err(err) =
                    sql(conn, "ROLLBACK TO command").and_then(|()| sql(conn, "RELEASE command"))
                {
                    return Err((answers, err));
                }
            }
            if conn.is_autocommit() {
                return Err((answers, rolled_back()));
            }
        }
        Ok((answers, live))
    }

    /// Deletes expired dedup keys, at most once per prune interval (sooner
    /// while a backlog remains); returns how many.
    fn prune_if_due(&mut self, now: SystemTime, dedup_cutoff: SystemTime) -> usize {
        let due = self
            .last_prune
            .is_none_or(|last| now.duration_since(last).unwrap_or_default() >= self.prune_interval);
        if !due {
            return 0;
        }
        match store::prune_seen(&self.conn, dedup_cutoff, PRUNE_LIMIT) {
            // A full page means more to prune: try again next batch.
            Ok(n) if n < PRUNE_LIMIT => {
                self.last_prune = Some(now);
                n
            }
            Ok(n) => n,
            Err(err) => {
                tracing::warn!(error = %err, "pruning dedup keys failed");
                0
            }
        }
    }

    /// Commits, then answers every caller with its result; if the commit
    /// fails, every caller is told so. Idle worker pools are woken (when `wakes`) before the upkeep between
    /// batches, so a checkpoint never delays a handler's start.
    fn finish(&mut self, answers: Vec<Answer>, live: u64, pruned: usize, wakes: bool) {
        match sql(&self.conn, "COMMIT") {
            Ok(()) => {
                self.live = live;
                if let Some(leases) = &mut self.leases {
                    leases.committed();
                }
                if pruned > 0 {
                    tracing::debug!(pruned, "pruned expired dedup keys");
                }
                self.note_space(&answers);
                answers.into_iter().for_each(Answer::send);
                if wakes {
                    self.ready.notify();
                }
                // Between batches: no caller waits on what this does. A
                // batch that wrote nothing (leases held in memory, or none
                // due) leaves the files as they were.
                let changes = self.conn.total_changes();
                if changes != self.changes {
                    self.changes = changes;
                    self.changed_at = Instant::now();
                    self.upkeep.after_commit(&self.conn);
                }
            }
            Err(err) => {
                tracing::error!(error = %err, "sqlite queue commit failed");
                if store::is_disk_full(&err) {
                    self.disk_full.set(self.budget.path());
                }
                self.roll_back();
                answers
                    .into_iter()
                    .for_each(|answer| answer.fail(&err).send());
                self.recount();
            }
        }
    }

    /// Gives up a batch whose transaction cannot go on: rolls it back,
    /// fails the commands not run, and tells every caller it failed.
    fn abandon(
        &mut self,
        answers: Vec<Answer>,
        not_run: impl Iterator<Item = Command>,
        err: &rusqlite::Error,
    ) {
        tracing::error!(error = %err, "sqlite queue transaction broken; the batch is rolled back");
        let out_of_space = answers.iter().any(|answer| {
            matches!(answer, Answer::Enqueue(_, Err(e)) if e.limit() == Some(crate::StorageLimit::StorageFull))
        });
        if out_of_space || store::is_disk_full(err) {
            self.disk_full.set(self.budget.path());
        }
        for command in not_run {
            fail_command(command, err);
        }
        self.roll_back();
        answers
            .into_iter()
            .for_each(|answer| answer.fail(err).send());
        self.recount();
    }

    /// Keeps the disk-full flag of the statistics: set while enqueues fail
    /// for want of space, cleared once one is stored again.
    fn note_space(&self, answers: &[Answer]) {
        for answer in answers {
            match answer {
                Answer::Enqueue(_, Ok(_)) => self.disk_full.clear(),
                Answer::Enqueue(_, Err(err))
                    if err.limit() == Some(crate::StorageLimit::StorageFull) =>
                {
                    self.disk_full.set(self.budget.path());
                }
                _ => {}
            }
        }
    }

    /// Rolls back the open transaction, if SQLite has not already, and the
    /// leases the batch took or ended in memory.
    fn roll_back(&mut self) {
        if let Some(leases) = &mut self.leases {
            leases.roll_back_to(0);
        }
        if self.conn.is_autocommit() {
            return;
        }
        if let Err(err) = sql(&self.conn, "ROLLBACK") {
            tracing::error!(error = %err, "sqlite queue could not roll back a batch");
        }
    }

    /// Counts the live deliveries again after a batch that was not committed.
    fn recount(&mut self) {
        if let Ok(live) = store::count_live(&self.conn) {
            self.live = live;
        }
    }
}

/// The error of a batch whose transaction SQLite rolled back by itself.
fn rolled_back() -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ABORT),
        Some("the transaction was rolled back".to_owned()),
    )
}

/// Runs one statement without parameters through the statement cache: the
/// savepoint statements run around every command of every batch, and
/// preparing them each time (as rusqlite's `Savepoint` does) was a large
/// share of the writer's time.
fn sql(conn: &Connection, statement: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(statement)?.execute([]).map(drop)
}

/// Checkpoints the WAL after commits, at most every 50 ms, until the writer
/// is gone. `PASSIVE` never blocks the writer: the `fsync` of the database
/// file that a checkpoint needs happens here, off the enqueue path.
fn run_checkpoints(conn: &Connection, requests: &mpsc::Receiver<()>) {
    while requests.recv().is_ok() {
        match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            Ok(()) => tracing::trace!(mode = "PASSIVE", "sqlite checkpoint done"),
            Err(err) => tracing::warn!(error = %err, "sqlite checkpoint failed"),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A command's answer once its savepoint was released (`Some`) or rolled
/// back (`None`), and whether its changes stay. A savepoint that could not
/// be released was rolled back, so a success must not be answered: an
/// `Enqueued` for a delivery that is not stored would be acknowledged, then
/// lost.
fn kept(answer: Answer, released: Option<rusqlite::Result<()>>) -> (Answer, bool) {
    match released {
        Some(Ok(())) => (answer, true),
        Some(Err(err)) => {
            tracing::error!(error = %err, "sqlite queue could not release a savepoint");
            (answer.fail(&err), false)
        }
        None => (answer, false),
    }
}

/// What a command runs with besides the connection.
struct Context<'a> {
    now: SystemTime,
    dedup_cutoff: SystemTime,
    /// The leases held in memory, for an exclusive queue.
    leases: Option<&'a mut HeldLeases>,
}

/// Runs one command; returns its answer and whether its changes should stay.
fn execute(
    conn: &Connection,
    command: Command,
    context: Context<'_>,
    room: Result<(), (crate::StorageLimit, String)>,
    live: &mut Live,
) -> (Answer, bool) {
    let Context {
        now,
        dedup_cutoff,
        leases,
    } = context;
    match command {
        Command::Enqueue { delivery, reply } => {
            let held = leases.map(|leases| leases.held());
            let result = store::enqueue(conn, &delivery, now, dedup_cutoff, room, live, held);
            let ok = result.is_ok();
            (Answer::Enqueue(reply, result), ok)
        }
        Command::Lease { request, reply } => {
            let result = match leases {
                Some(leases) => held::lease(conn, &request, now, leases),
                None => store::lease(conn, &request, now),
            };
            let ok = result.is_ok();
            (Answer::Lease(reply, result), ok)
        }
        Command::Extend {
            leases: ids,
            visibility,
            reply,
        } => {
            let until = crate::clock::later(now, visibility);
            let result = match leases {
                Some(leases) => Ok(held::extend(&ids, until, leases)),
                None => store::extend(conn, &ids, until),
            };
            let ok = result.is_ok();
            (Answer::Extend(reply, result), ok)
        }
        Command::Finish {
            lease,
            action,
            reply,
        } => {
            let result = match leases {
                Some(leases) => held::finish(conn, &lease, action, now, live, leases),
                None => store::finish(conn, &lease, action, now, live),
            };
            let ok = result.is_ok();
            (Answer::Unit(reply, result), ok)
        }
        Command::Recover { reply } => {
            let result = match leases {
                Some(leases) => held::recover(conn, now, live, leases),
                None => store::recover(conn, now, now, live, None),
            };
            let ok = result.is_ok();
            (Answer::Count(reply, result), ok)
        }
        Command::Replay { selection, reply } => {
            let held = leases.map(|leases| leases.held());
            let result = store::replay(conn, &selection, now, live, held);
            let ok = result.is_ok();
            (Answer::Count(reply, result), ok)
        }
    }
}

fn fail_command(command: Command, err: &rusqlite::Error) {
    let err = || {
        if store::is_disk_full(err) {
            store::disk_full(err)
        } else {
            QueueError::storage(err.to_string())
        }
    };
    let _ = match command {
        Command::Enqueue { reply, .. } => reply.send(Err(err())).map_err(drop),
        Command::Lease { reply, .. } => reply.send(Err(err())).map_err(drop),
        Command::Extend { reply, .. } => reply.send(Err(err())).map_err(drop),
        Command::Finish { reply, .. } => reply.send(Err(err())).map_err(drop),
        Command::Recover { reply } | Command::Replay { reply, .. } => {
            reply.send(Err(err())).map_err(drop)
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::QueueErrorKind;

    fn io_error() -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_IOERR),
            Some("disk I/O error".to_owned()),
        )
    }

    #[test]
    fn a_savepoint_that_was_not_released_is_never_answered_enqueued() {
        let (reply, mut answer) = oneshot::channel();
        let (failed, stays) = kept(
            Answer::Enqueue(reply, Ok(EnqueueOutcome::Enqueued)),
            Some(Err(io_error())),
        );
        assert!(!stays, "its changes were rolled back");
        failed.send();
        let err = answer
            .try_recv()
            .expect("answered")
            .expect_err("not Enqueued");
        assert_eq!(err.kind(), QueueErrorKind::Storage);

        let (reply, mut answer) = oneshot::channel();
        let (released, stays) = kept(
            Answer::Enqueue(reply, Ok(EnqueueOutcome::Enqueued)),
            Some(Ok(())),
        );
        assert!(stays);
        released.send();
        assert_eq!(
            answer.try_recv().expect("answered").expect("stored"),
            EnqueueOutcome::Enqueued
        );

        let (reply, mut answer) = oneshot::channel::<Result<u64, QueueError>>();
        let (refused, stays) = kept(
            Answer::Count(reply, Err(QueueError::not_found("no dead letter"))),
            None,
        );
        assert!(!stays);
        refused.send();
        assert_eq!(
            answer.try_recv().expect("answered").unwrap_err().kind(),
            QueueErrorKind::NotFound,
            "a command's own error is kept"
        );
    }

    /// A writer on `path` whose file may grow by `spare_pages` pages at most,
    /// so that a large enough insert fails with `SQLITE_FULL`.
    fn cramped_writer(path: &Path, spare_pages: i64) -> Writer {
        let conn = Connection::open(path).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.execute_batch(store::SCHEMA).unwrap();
        let pages: i64 = conn
            .query_row("PRAGMA page_count", [], |row| row.get(0))
            .unwrap();
        conn.pragma_update(None, "max_page_count", pages + spare_pages)
            .unwrap();
        let data_version = store::data_version(&conn).unwrap();
        let (checkpoint, _) = mpsc::sync_channel(1);
        let (_, inbox) = mpsc::channel();
        let policy = WalPolicy {
            limit: DEFAULT_WAL_LIMIT,
            checkpoint_after: DEFAULT_CHECKPOINT_AFTER,
        };
        let frames = Arc::new(std::sync::atomic::AtomicU64::new(0));
        Writer {
            leases: None,
            upkeep: Upkeep::new(&conn, policy, frames, checkpoint),
            max_batch_bytes: policy.max_batch_bytes(),
            conn,
            ready: ReadySignal::new(),
            inbox,
            share: IntakeShare::default(),
            clock: Arc::new(crate::SystemClock),
            budget: Budget::new(Limits {
                capacity: DEFAULT_CAPACITY,
                max_bytes: None,
                min_free_disk: None,
                path: path.to_owned(),
                last_refused: Arc::default(),
            }),
            disk_full: Arc::new(OutOfSpace::default()),
            dedup_window: DEFAULT_DEDUP_WINDOW,
            prune_interval: Duration::from_secs(3600),
            max_batch: 16,
            live: 0,
            data_version,
            last_prune: None,
            changes: 0,
            changed_at: Instant::now(),
        }
    }

    // Whatever SQLite does on SQLITE_FULL (roll back the statement or the
    // whole transaction), a caller told `Ok` has its delivery stored and a
    // caller told `Err` has nothing stored.
    #[test]
    fn a_batch_with_a_command_that_fills_the_disk_answers_every_caller_truthfully() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("queue.db");
        let mut writer = cramped_writer(&path, 8);
        let bodies = [1_000, 200_000, 1_000, 1_000];
        let mut batch = Vec::new();
        let mut answers = Vec::new();
        for (i, size) in bodies.into_iter().enumerate() {
            let (reply, answer) = oneshot::channel();
            let delivery =
                NewDelivery::new("src", format!("d{i}"), SystemTime::now(), vec![b'x'; size]);
            batch.push(Command::Enqueue { delivery, reply });
            answers.push(answer);
        }
        writer.commit(&mut batch);

        let reader = Connection::open(&path).unwrap();
        let mut told_ok = 0;
        for (i, mut answer) in answers.into_iter().enumerate() {
            let result = answer.try_recv().expect("every caller is answered");
            let stored: i64 = reader
                .query_row(
                    "SELECT count(*) FROM deliveries WHERE delivery_id = ?1",
                    [format!("d{i}")],
                    |row| row.get(0),
                )
                .unwrap();
            let seen: i64 = reader
                .query_row(
                    "SELECT count(*) FROM seen WHERE delivery_id = ?1",
                    [format!("d{i}")],
                    |row| row.get(0),
                )
                .unwrap();
            match result {
                Ok(outcome) => {
                    assert_eq!(outcome, EnqueueOutcome::Enqueued);
                    assert_eq!((stored, seen), (1, 1), "d{i} was acknowledged");
                    told_ok += 1;
                }
                Err(err) => {
                    // Out of space is `Full` with a retry hint, as any
                    // limit; the others in the batch fail as SQLite says.
                    match err.kind() {
                        QueueErrorKind::Full => {
                            assert_eq!(err.limit(), Some(crate::StorageLimit::StorageFull));
                            assert!(err.retry_after().is_some());
                        }
                        kind => assert_eq!(kind, QueueErrorKind::Storage, "d{i}: {err}"),
                    }
                    assert_eq!((stored, seen), (0, 0), "d{i} was refused");
                }
            }
        }
        assert!(
            writer.disk_full.is_set() || told_ok > 0,
            "the statistics know the disk was full, unless a later enqueue succeeded"
        );
        let refused_big = reader
            .query_row(
                "SELECT count(*) FROM deliveries WHERE delivery_id = 'd1'",
                [],
                |row| row.get::<_, i64>(0),
            )
            .unwrap();
        assert_eq!(refused_big, 0, "the body over the limit is never stored");
        assert_eq!(
            writer.live,
            u64::try_from(told_ok).unwrap(),
            "the capacity count follows what was stored"
        );
    }
}
