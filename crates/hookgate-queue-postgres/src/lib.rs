//! A PostgreSQL back-end for the hookgate delivery [`Queue`]: the database
//! most teams already run, as a durable queue shared by several receivers and
//! worker pools, on several machines.
//!
//! [`Queue`]: hookgate_queue::Queue
//!
//! # How it works
//!
//! - **Enqueue, group-committed.** Every enqueue of a queue handle goes to
//!   one writer task, which takes everything waiting (up to
//!   [`max_batch`](PostgresQueueBuilder::max_batch), default 256) and stores
//!   it with **one statement**: a multi-row `INSERT INTO seen ... ON CONFLICT`
//!   on the deduplication key, `RETURNING` the keys that are new, feeding the
//!   `INSERT INTO deliveries`. One statement is one transaction, so 64
//!   concurrent producers pay about one commit, not 64. `enqueue` returns
//!   only after the commit did, so a receiver answers `2xx` only for what is
//!   stored. Deliveries with a coalescing key take a transaction of their own
//!   kind (below); a batch that fails fails for all its callers, and nothing
//!   of it is stored.
//! - **Lease** with `FOR UPDATE SKIP LOCKED` over a partial index on the due
//!   time: concurrent workers, in any process, never wait for each other's
//!   rows and never take the same row. Deliveries of
//!   [`skip_sources`](hookgate_queue::LeaseRequest::skip_sources) (sources at
//!   their concurrency limit) are filtered while walking the index.
//! - **Wake-ups.** A trigger sends `NOTIFY "<schema>.ready"` when deliveries
//!   are inserted and when one becomes waiting again (retry, release,
//!   recovery, replay); leasing never notifies. [`PostgresQueue::wakeups`]
//!   listens on a connection of its own and gives idle workers a
//!   [`Wakeups`] to wait on instead of polling; a commit by the same handle
//!   wakes them without the round trip.
//! - **Acks, retries, dead letters** are one `UPDATE`/`DELETE` checked
//!   against the lease token, so a stale lease never touches a newer one.
//!   [`extend`](hookgate_queue::Queue::extend) (the worker pool's lease
//!   heartbeat) moves the expiry of all the given held leases in one
//!   `UPDATE ... FROM unnest(...)`.
//! - **Deduplication** keeps each key in `seen` for the window; a key older
//!   than the window counts as new again, and a background task deletes
//!   expired keys in statements of at most [`PRUNE_BATCH`] rows.
//! - **Coalescing**: a delivery with a coalescing key replaces the waiting
//!   version of its object, unless that one was received later (then it is
//!   `Superseded`). Receivers serialise on a transaction-scoped advisory lock
//!   per key, and a unique partial index holds the invariant of one waiting
//!   version per key.
//! - **Time** is the server's `now()` by default, so receivers with skewed
//!   clocks agree on lease expiry; retry times given by workers are absolute,
//!   so keep hosts on NTP. Tests pass a [`Clock`](hookgate_queue::Clock).
//!
//! # Tables and indexes
//!
//! Everything lives in one schema (default `hookgate`,
//! [`schema`](PostgresQueueBuilder::schema)), apart from the application's
//! tables. [`MIGRATIONS`] creates it:
//!
//! ```sql
//! -- One row per delivery not yet handled, or dead. Acknowledged rows are deleted.
//! CREATE TABLE hookgate.deliveries (
//!     id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
//!     source       text        NOT NULL,   -- e.g. 'clarife'
//!     delivery_id  text        NOT NULL,
//!     received_at  timestamptz NOT NULL,
//!     headers      bytea       NOT NULL,   -- (u32 BE len, name, u32 BE len, value)*
//!     body         bytea       NOT NULL,   -- the verified raw body
//!     coalesce_key text,
//!     state        text        NOT NULL,   -- 'waiting' | 'leased' | 'dead'
//!     due_at       timestamptz NOT NULL,   -- waiting: due; leased: lease expiry; dead: dead since
//!     lease_token  bigint,                 -- the current lease; a stale one does not match
//!     attempts     integer     NOT NULL DEFAULT 0,
//!     last_error   text
//! );
//! CREATE INDEX deliveries_due ON hookgate.deliveries (due_at) WHERE state IN ('waiting', 'leased');
//! CREATE INDEX deliveries_dead ON hookgate.deliveries (received_at) WHERE state = 'dead';
//! CREATE INDEX deliveries_dead_key ON hookgate.deliveries (source, delivery_id) WHERE state = 'dead';
//! CREATE UNIQUE INDEX deliveries_coalesce ON hookgate.deliveries (source, coalesce_key)
//!     WHERE coalesce_key IS NOT NULL AND state = 'waiting';
//!
//! -- Keys seen within the deduplication window.
//! CREATE TABLE hookgate.seen (
//!     source      text        NOT NULL,
//!     delivery_id text        NOT NULL,
//!     seen_at     timestamptz NOT NULL,
//!     PRIMARY KEY (source, delivery_id)
//! );
//! CREATE INDEX seen_by_time ON hookgate.seen (seen_at);
//!
//! -- Applied migrations; the triggers deliveries_ready_on_insert and
//! -- deliveries_ready_on_update call hookgate.notify_ready().
//! CREATE TABLE hookgate.schema_migrations (version integer PRIMARY KEY, name text, applied_at timestamptz);
//! ```
//!
//! # Reading the queue with plain SQL
//!
//! ```sql
//! -- What `hookgate queue stats` reports.
//! SELECT count(*) FILTER (WHERE state = 'waiting' AND due_at <= now()) AS ready,
//!        count(*) FILTER (WHERE state = 'waiting' AND due_at >  now()) AS scheduled,
//!        count(*) FILTER (WHERE state = 'leased')                     AS leased,
//!        count(*) FILTER (WHERE state = 'dead')                       AS dead,
//!        now() - min(received_at) FILTER (WHERE state = 'waiting' AND due_at <= now()) AS oldest_ready_age
//! FROM hookgate.deliveries;
//!
//! -- Dead letters, oldest first, with their last error and body as text.
//! SELECT source, delivery_id, received_at, attempts, last_error, convert_from(body, 'UTF8')
//! FROM hookgate.deliveries WHERE state = 'dead' ORDER BY received_at LIMIT 20;
//!
//! -- Leases that expired (a worker died): leased again or recovered soon.
//! SELECT source, delivery_id, attempts, now() - due_at AS expired_for
//! FROM hookgate.deliveries WHERE state = 'leased' AND due_at < now();
//!
//! -- Backlog by source.
//! SELECT source, count(*) FROM hookgate.deliveries WHERE state <> 'dead' GROUP BY source;
//!
//! -- Watch deliveries become ready, as idle workers do.
//! LISTEN "hookgate.ready";
//! ```
//!
//! Replay is best left to `hookgate queue replay` or [`Queue::replay`](hookgate_queue::Queue::replay)
//! (it keeps coalescing right); a plain
//! `UPDATE hookgate.deliveries SET state = 'waiting', due_at = now(), attempts = 0
//! WHERE state = 'dead' AND coalesce_key IS NULL AND ...` does the same for
//! deliveries without a coalescing key, and wakes the workers through the trigger.
//!
//! The statements a DBA sees most (from `pg_stat_statements`): the enqueue
//! (`WITH input AS (SELECT * FROM unnest(...)) ... INSERT INTO seen ...
//! ON CONFLICT ... INSERT INTO deliveries`), the lease (`WITH picked AS
//! (SELECT id ... ORDER BY due_at LIMIT $3 FOR UPDATE SKIP LOCKED) UPDATE
//! ...`), the ack (`DELETE ... WHERE id = $1 AND state = 'leased' AND
//! lease_token = $2`) and the prune (`DELETE FROM seen WHERE (source,
//! delivery_id) IN (SELECT ... LIMIT $3 FOR UPDATE SKIP LOCKED)`). `deliveries`
//! churns (a row is inserted, updated at lease, deleted at ack): keep
//! autovacuum on for it.
//!
//! # Migrations
//!
//! [`MIGRATIONS`] are embedded and versioned. [`connect`](PostgresQueueBuilder::connect)
//! applies the pending ones (unless [`migrate(false)`](PostgresQueueBuilder::migrate))
//! in one transaction holding an advisory lock, so receivers starting
//! together apply each once; [`PostgresQueue::pending_migrations`] lists
//! them (`hookgate queue migrate --check`). A schema migrated by a newer
//! version is refused rather than used.
//!
//! # Durability
//!
//! An `Enqueued` answer means PostgreSQL committed. How durable a commit is
//! depends on the server: [`PostgresQueue::check_durability`] reads the
//! settings as the queue's sessions see them and refuses
//! `synchronous_commit = off` (a commit answered before its WAL is written)
//! for any [`Durability`], and `fsync = off` or `full_page_writes = off` for
//! [`Durability::Fsync`]. `hookgate serve` runs it at start. With
//! synchronous replication, a failover keeps what the standby confirmed.
//!
//! # Connecting
//!
//! `postgres://user:password@host:port/database` (or a `key=value` string).
//! `sslmode=require` (or `verify-ca`, `verify-full`) connects with TLS
//! (rustls) and always verifies the certificate and host name against the
//! system's roots, or against the PEM file given as `sslrootcert=PATH`.
//! Without it connections are plain text: `prefer` does not try TLS.
//! The password is never printed: `Debug` of the builder and the queue
//! redacts it. Connections are pooled ([`pool_size`](PostgresQueueBuilder::pool_size));
//! a listener for wake-ups adds one.
//!
//! # Errors
//!
//! A refused or broken connection, a server shutting down, a deadlock or a
//! timeout (default 5 s per operation) is
//! [`QueueErrorKind::Unavailable`](hookgate_queue::QueueErrorKind::Unavailable)
//! with a `Retry-After` hint of 1 s; a full disk is `Full`. An operation that
//! timed out may still have been committed: an enqueue retried by the sender
//! is then a `Duplicate`.
//!
//! # Example
//!
//! ```no_run
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
//! use std::time::{Duration, SystemTime};
//! use hookgate_queue::{Enqueue, EnqueueOutcome, LeaseRequest, NewDelivery, Queue};
//! use hookgate_queue_postgres::{Durability, PostgresQueue};
//!
//! let queue = PostgresQueue::builder("postgres://hookgate@127.0.0.1/app")
//!     .schema("hookgate")
//!     .connect() // creates or migrates the schema
//!     .await?;
//! queue.check_durability(Durability::Fsync).await?;
//!
//! let delivery = NewDelivery::new("clarife", "evt_1", SystemTime::now(), &b"{}"[..]);
//! assert_eq!(queue.enqueue(delivery.clone()).await?, EnqueueOutcome::Enqueued);
//! assert_eq!(queue.enqueue(delivery).await?, EnqueueOutcome::Duplicate);
//!
//! // A worker: lease, or wait to be woken when nothing is due.
//! let mut wakeups = queue.wakeups();
//! loop {
//!     let leased = queue.lease(LeaseRequest::new(10, Duration::from_secs(30))).await?;
//!     if leased.is_empty() {
//!         tokio::select! {
//!             () = wakeups.ready() => continue,
//!             () = tokio::time::sleep(Duration::from_secs(1)) => continue,
//!         }
//!     }
//!     for leased in leased {
//!         // ... handle leased.delivery ...
//!         queue.ack(leased.lease).await?;
//!     }
//!     break;
//! }
//! # Ok::<(), hookgate_queue::QueueError>(())
//! # }).unwrap();
//! ```
//!
//! Building fails before connecting on a bad URL or schema name:
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use hookgate_queue::QueueErrorKind;
//! use hookgate_queue_postgres::PostgresQueue;
//!
//! let err = PostgresQueue::builder("postgres://h/db?sslmode=sometimes")
//!     .connect()
//!     .await
//!     .unwrap_err();
//! assert_eq!(err.kind(), QueueErrorKind::Invalid);
//! assert!(err.to_string().contains("sslmode"));
//!
//! let builder = PostgresQueue::builder("postgres://hookgate:s3cret@db/app").schema("Bad-Name");
//! assert!(!format!("{builder:?}").contains("s3cret"));
//! let err = builder.connect().await.unwrap_err();
//! assert!(err.to_string().contains("postgres schema name \"Bad-Name\""));
//! # });
//! ```

mod connect;
mod error;
mod listen;
mod migrate;
mod queue;
mod sql;
mod tls;
mod writer;

/// Re-exported from `hookgate-queue`: what [`PostgresQueue::wakeups`] returns.
pub use hookgate_queue::Wakeups;
pub use migrate::{MIGRATIONS, Migration};
pub use queue::{
    DEFAULT_MAX_BATCH, DEFAULT_OPERATION_TIMEOUT, DEFAULT_POOL_SIZE, DEFAULT_PRUNE_INTERVAL,
    DEFAULT_SCHEMA, Durability, PRUNE_BATCH, PostgresQueue, PostgresQueueBuilder,
};
