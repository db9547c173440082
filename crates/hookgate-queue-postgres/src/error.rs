//! What PostgreSQL's and the pool's errors mean for callers.

use std::time::Duration;

use hookgate_queue::{QueueError, QueueErrorKind};

/// The `Retry-After` hint when the server cannot be reached.
pub(crate) const UNAVAILABLE_RETRY_AFTER: Duration = Duration::from_secs(1);
/// The `Retry-After` hint when the server is out of disk or memory.
const FULL_RETRY_AFTER: Duration = Duration::from_secs(5);

/// Connection trouble, a server shutting down or refusing connections, and
/// conflicts that a retry resolves (deadlock, serialization) are
/// `Unavailable`; a full disk is `Full`; anything else the server refused is
/// `Storage`. Errors without a server code (I/O, a closed connection, a
/// timeout while connecting) are `Unavailable`.
pub(crate) fn map_pg(err: tokio_postgres::Error) -> QueueError {
    let Some(db) = err.as_db_error() else {
        return unavailable(err);
    };
    let code = db.code().code().to_owned();
    // tokio-postgres prints a server error as "db error" alone: say what
    // the server said (its message names no row data; the detail would).
    let err = format!(
        "postgres {} {code}: {}",
        db.severity().to_lowercase(),
        db.message()
    );
    match code.as_str() {
        // connection_exception (08xxx), admin/crash shutdown, cannot connect
        // now, too many connections, serialization failure, deadlock, lock
        // not available, query canceled (statement_timeout).
        c if c.starts_with("08") => unavailable(err),
        "57P01" | "57P02" | "57P03" | "53300" | "40001" | "40P01" | "55P03" | "57014" => {
            unavailable(err)
        }
        // disk_full, out_of_memory, insufficient_resources.
        "53100" | "53200" | "53000" => {
            QueueError::with_source(QueueErrorKind::Full, err).retry_after_hint(FULL_RETRY_AFTER)
        }
        _ => QueueError::storage(err),
    }
}

/// A connection could not be had from the pool.
pub(crate) fn map_pool(err: deadpool_postgres::PoolError) -> QueueError {
    match err {
        deadpool_postgres::PoolError::Backend(err) => map_pg(err),
        other => unavailable(other),
    }
}

pub(crate) fn unavailable(err: impl Into<hookgate_queue::BoxError>) -> QueueError {
    QueueError::unavailable(err).retry_after_hint(UNAVAILABLE_RETRY_AFTER)
}

/// An operation that did not finish within the queue's operation timeout.
pub(crate) fn timed_out(limit: Duration) -> QueueError {
    unavailable(format!("postgres did not answer within {limit:?}"))
}
