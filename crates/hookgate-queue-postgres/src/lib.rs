//! A PostgreSQL back-end for the hookgate delivery queue.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod connect;
mod error;
mod listen;
mod migrate;
mod queue;
mod sql;
mod tls;
mod writer;

pub use listen::Wakeups;
pub use migrate::{MIGRATIONS, Migration};
pub use queue::{
    DEFAULT_MAX_BATCH, DEFAULT_OPERATION_TIMEOUT, DEFAULT_POOL_SIZE, DEFAULT_PRUNE_INTERVAL,
    DEFAULT_SCHEMA, Durability, PRUNE_BATCH, PostgresQueue, PostgresQueueBuilder,
};
