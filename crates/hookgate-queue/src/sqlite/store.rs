//! The SQL of every operation, run by the writer thread (and the reader for
//! statistics and dead letters).

use std::collections::HashSet;
use std::time::SystemTime;

use bytes::Bytes;
use rusqlite::{Connection, OptionalExtension, params};

use super::codec::{from_micros, micros};
use super::held::Held;
use crate::wire::{decode_headers, encode_headers};
use crate::{
    DeadLetter, Delivery, EnqueueOutcome, LeaseId, LeaseRequest, Leased, NewDelivery, QueueError,
    Replay, Stats, StorageLimit,
};

/// The schema, applied at open (idempotent). Documented in the module docs.
pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS deliveries (
    id           INTEGER PRIMARY KEY,
    source       TEXT    NOT NULL,
    delivery_id  TEXT    NOT NULL,
    received_at  INTEGER NOT NULL,
    headers      BLOB    NOT NULL,
    body         BLOB    NOT NULL,
    coalesce_key TEXT,
    state        TEXT    NOT NULL CHECK (state IN ('waiting', 'leased', 'dead')),
    due_at       INTEGER NOT NULL,
    lease_token  INTEGER,
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (due_at)
    WHERE state IN ('waiting', 'leased');
CREATE INDEX IF NOT EXISTS deliveries_dead ON deliveries (received_at)
    WHERE state = 'dead';
CREATE INDEX IF NOT EXISTS deliveries_coalesce ON deliveries (source, coalesce_key)
    WHERE coalesce_key IS NOT NULL AND state = 'waiting';
CREATE TABLE IF NOT EXISTS seen (
    source      TEXT    NOT NULL,
    delivery_id TEXT    NOT NULL,
    seen_at     INTEGER NOT NULL,
    PRIMARY KEY (source, delivery_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS seen_by_time ON seen (seen_at);
";

pub(super) const DELIVERY_COLUMNS: &str =
    "id, source, delivery_id, received_at, headers, body, coalesce_key, attempts, last_error";

pub(super) fn storage(err: rusqlite::Error) -> QueueError {
    if is_disk_full(&err) {
        return disk_full(&err);
    }
    QueueError::storage(err)
}

/// Whether SQLite failed for want of space (`SQLITE_FULL`: the disk, or
/// `max_page_count`).
pub(super) fn is_disk_full(err: &rusqlite::Error) -> bool {
    err.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull)
}

/// A write that failed for want of space is `Full`, with a retry hint: it
/// succeeds again once space is freed, so the sender should come back.
pub(super) fn disk_full(err: &rusqlite::Error) -> QueueError {
    QueueError::full_at(
        StorageLimit::StorageFull,
        Some(err.to_string()),
        crate::memory::FULL_RETRY_AFTER,
    )
}

/// Counts deliveries that are not dead: what the capacity limits.
pub(super) fn count_live(conn: &Connection) -> Result<u64, QueueError> {
    conn.query_row(
        // Waiting and leased rows: the partial due index counts them.
        "SELECT count(*) FROM deliveries WHERE state IN ('waiting', 'leased')",
        [],
        |row| row.get::<_, i64>(0),
    )
    .map(|n| n.unsigned_abs())
    .map_err(storage)
}

/// A number that changes whenever another connection commits to the file.
pub(super) fn data_version(conn: &Connection) -> Result<i64, QueueError> {
    conn.query_row("PRAGMA data_version", [], |row| row.get(0))
        .map_err(storage)
}

/// What a command changed, beyond its answer: the number of live deliveries.
pub(super) struct Live(pub(super) i64);

pub(super) fn enqueue(
    conn: &Connection,
    new: &NewDelivery,
    now: SystemTime,
    dedup_cutoff: SystemTime,
    room: Result<(), (StorageLimit, String)>,
    live: &mut Live,
    held: Option<&Held>,
) -> Result<EnqueueOutcome, QueueError> {
    // The upsert only overwrites a row older than the window (not yet pruned),
    // so "no row changed" means a duplicate within the window.
    let changed = conn
        .prepare_cached(
            "INSERT INTO seen (source, delivery_id, seen_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (source, delivery_id) DO UPDATE SET seen_at = excluded.seen_at
             WHERE seen.seen_at <= ?4",
        )
        .and_then(|mut stmt| {
            stmt.execute(params![
                new.source,
                new.delivery_id,
                micros(now),
                micros(dedup_cutoff)
            ])
        })
        .map_err(storage)?;
    if changed == 0 {
        return Ok(EnqueueOutcome::Duplicate);
    }
    if let Err((limit, detail)) = room {
        return Err(QueueError::full_at(
            limit,
            Some(detail),
            crate::memory::FULL_RETRY_AFTER,
        ));
    }
    conn.prepare_cached(
        "INSERT INTO deliveries
             (source, delivery_id, received_at, headers, body, coalesce_key, state, due_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'waiting', ?7)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            new.source,
            new.delivery_id,
            micros(new.received_at),
            encode_headers(&new.headers),
            &new.body[..],
            new.coalesce_key,
            micros(now),
        ])
    })
    .map_err(storage)?;
    live.0 += 1;
    // Without a coalescing key there is nothing to place (and no query to run).
    if new.coalesce_key.is_none() || place_waiting(conn, conn.last_insert_rowid(), live, held)? {
        Ok(EnqueueOutcome::Enqueued)
    } else {
        Ok(EnqueueOutcome::Superseded)
    }
}

/// Keeps at most one waiting delivery per `(source, coalescing key)`: the one
/// received last. Returns false when `id` itself was the one dropped. A
/// delivery whose lease is `held` in memory is in flight, not waiting, even
/// though its row says `waiting`: it is never superseded.
pub(super) fn place_waiting(
    conn: &Connection,
    id: i64,
    live: &mut Live,
    held: Option<&Held>,
) -> Result<bool, QueueError> {
    let mine: Option<(String, Option<String>, i64)> = conn
        .prepare_cached("SELECT source, coalesce_key, received_at FROM deliveries WHERE id = ?1")
        .and_then(|mut stmt| {
            stmt.query_row([id], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
                .optional()
        })
        .map_err(storage)?;
    let Some((source, Some(key), received_at)) = mine else {
        return Ok(true);
    };
    let others: Vec<(i64, i64)> = conn
        .prepare_cached(
            "SELECT id, received_at FROM deliveries
             WHERE source = ?1 AND coalesce_key = ?2 AND state = 'waiting' AND id != ?3",
        )
        .and_then(|mut stmt| {
            stmt.query_map(params![source, key, id], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })?
            .collect()
        })
        .map_err(storage)?;
    let mut keep = true;
    for (other, other_received) in others {
        if held.is_some_and(|held| held.holds(other)) {
            continue;
        }
        let victim = if other_received > received_at {
            keep = false;
            id
        } else {
            other
        };
        conn.prepare_cached("DELETE FROM deliveries WHERE id = ?1")
            .and_then(|mut stmt| stmt.execute([victim]))
            .map_err(storage)?;
        live.0 -= 1;
        metrics::counter!(crate::observe::COALESCED, "source" => source.clone()).increment(1);
        if !keep {
            break;
        }
    }
    Ok(keep)
}

pub(super) fn read_delivery(row: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, Delivery)> {
    let headers: Vec<u8> = row.get(4)?;
    let headers = decode_headers(&headers).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            4,
            rusqlite::types::Type::Blob,
            "corrupt headers blob".into(),
        )
    })?;
    let body: Vec<u8> = row.get(5)?;
    let mut new = NewDelivery::new(
        row.get::<_, String>(1)?,
        row.get::<_, String>(2)?,
        from_micros(row.get(3)?),
        Bytes::from(body),
    )
    .with_headers(headers);
    new.coalesce_key = row.get(6)?;
    let attempts: i64 = row.get(7)?;
    let delivery = Delivery::new(
        new,
        u32::try_from(attempts).unwrap_or(u32::MAX),
        row.get(8)?,
    );
    Ok((row.get(0)?, delivery))
}

pub(super) fn lease(
    conn: &Connection,
    request: &LeaseRequest,
    now: SystemTime,
) -> Result<Vec<Leased>, QueueError> {
    if request.max == 0 {
        return Ok(Vec::new());
    }
    let (skip, mut args) = skip_clause(request, now);
    args.push(i64::try_from(request.max).unwrap_or(i64::MAX).into());
    let picked: Vec<(i64, Delivery)> = conn
        .prepare_cached(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries
             WHERE state IN ('waiting', 'leased') AND due_at <= ?1{skip}
             ORDER BY due_at LIMIT ?{}",
            args.len()
        ))
        .and_then(|mut stmt| {
            stmt.query_map(rusqlite::params_from_iter(args), read_delivery)?
                .collect()
        })
        .map_err(storage)?;
    let until = crate::clock::later(now, request.visibility);
    let mut leased = Vec::with_capacity(picked.len());
    for (id, mut delivery) in picked {
        let token = new_token();
        conn.prepare_cached(
            "UPDATE deliveries SET state = 'leased', due_at = ?2, lease_token = ?3,
                 attempts = attempts + 1
             WHERE id = ?1",
        )
        .and_then(|mut stmt| stmt.execute(params![id, micros(until), token]))
        .map_err(storage)?;
        delivery.attempt += 1;
        leased.push(Leased::new(delivery, lease_id(id, token), until));
    }
    Ok(leased)
}

/// The condition that leaves out `request.skip_sources`, and the arguments
/// of a lease query: `?1` is `now`, the sources follow from `?2`.
///
/// Skipped sources are filtered by SQLite while it walks the due index, so a
/// backlog of a source at its limit costs an index step per row, never
/// decoding its headers and body inside the writer's transaction.
pub(super) fn skip_clause(
    request: &LeaseRequest,
    now: SystemTime,
) -> (String, Vec<rusqlite::types::Value>) {
    let skip = if request.skip_sources.is_empty() {
        String::new()
    } else {
        let placeholders: Vec<String> = (0..request.skip_sources.len())
            .map(|i| format!("?{}", i + 2))
            .collect();
        format!(" AND source NOT IN ({})", placeholders.join(", "))
    };
    let mut args: Vec<rusqlite::types::Value> = Vec::with_capacity(2 + request.skip_sources.len());
    args.push(micros(now).into());
    args.extend(request.skip_sources.iter().map(|s| s.clone().into()));
    (skip, args)
}

/// A fresh lease token: 63 random bits, so a stale lease holder cannot
/// guess the new one.
pub(super) fn new_token() -> i64 {
    i64::try_from(rand::random::<u64>() >> 1).unwrap_or(0)
}

/// The lease id handed to workers for row `id`, read back by [`parse_lease`].
pub(super) fn lease_id(id: i64, token: i64) -> LeaseId {
    LeaseId::new(format!("{id}.{token}"))
}

/// Splits a lease token into the row id and the lease token it names.
pub(super) fn parse_lease(lease: &LeaseId) -> Option<(i64, i64)> {
    let (id, token) = lease.as_str().split_once('.')?;
    Some((id.parse().ok()?, token.parse().ok()?))
}

/// Moves the expiry of each lease still held to `until`.
pub(super) fn extend(
    conn: &Connection,
    leases: &[LeaseId],
    until: SystemTime,
) -> Result<Vec<Result<SystemTime, QueueError>>, QueueError> {
    let mut stmt = conn
        .prepare_cached(
            "UPDATE deliveries SET due_at = ?3
             WHERE id = ?1 AND state = 'leased' AND lease_token = ?2",
        )
        .map_err(storage)?;
    leases
        .iter()
        .map(|lease| {
            let Some((id, token)) = parse_lease(lease) else {
                return Ok(Err(QueueError::lease_lost()));
            };
            let changed = stmt
                .execute(params![id, token, micros(until)])
                .map_err(storage)?;
            Ok(if changed == 1 {
                Ok(until)
            } else {
                Err(QueueError::lease_lost())
            })
        })
        .collect()
}

/// What to do with a leased delivery.
#[derive(Debug)]
pub(super) enum Finish {
    Ack,
    Retry { at: SystemTime, error: String },
    Dead { error: String },
    Release,
}

pub(super) fn finish(
    conn: &Connection,
    lease: &LeaseId,
    action: Finish,
    now: SystemTime,
    live: &mut Live,
) -> Result<(), QueueError> {
    let (id, token) = parse_lease(lease).ok_or_else(QueueError::lease_lost)?;
    if let Finish::Ack = action {
        // The most frequent write after enqueues: one statement, checked
        // against the lease token, instead of a check and a delete.
        let deleted = conn
            .prepare_cached(
                "DELETE FROM deliveries WHERE id = ?1 AND state = 'leased' AND lease_token = ?2",
            )
            .and_then(|mut stmt| stmt.execute(params![id, token]))
            .map_err(storage)?;
        if deleted == 0 {
            return Err(QueueError::lease_lost());
        }
        live.0 -= 1;
        return Ok(());
    }
    let held = conn
        .prepare_cached(
            "SELECT 1 FROM deliveries WHERE id = ?1 AND state = 'leased' AND lease_token = ?2",
        )
        .and_then(|mut stmt| stmt.exists(params![id, token]))
        .map_err(storage)?;
    if !held {
        return Err(QueueError::lease_lost());
    }
    let (sql, args, becomes_waiting): (&str, Vec<rusqlite::types::Value>, bool) = match action {
        // Done above.
        Finish::Ack => return Ok(()),
        Finish::Retry { at, error } => (
            "UPDATE deliveries SET state = 'waiting', due_at = ?2, last_error = ?3,
                 lease_token = NULL
             WHERE id = ?1",
            vec![id.into(), micros(at).into(), error.into()],
            true,
        ),
        Finish::Dead { error } => {
            live.0 -= 1;
            (
                "UPDATE deliveries SET state = 'dead', due_at = ?2, last_error = ?3,
                     lease_token = NULL
                 WHERE id = ?1",
                vec![id.into(), micros(now).into(), error.into()],
                false,
            )
        }
        Finish::Release => (
            "UPDATE deliveries SET state = 'waiting', due_at = ?2, lease_token = NULL,
                 attempts = max(attempts - 1, 0)
             WHERE id = ?1",
            vec![id.into(), micros(now).into()],
            true,
        ),
    };
    conn.prepare_cached(sql)
        .and_then(|mut stmt| stmt.execute(rusqlite::params_from_iter(args)))
        .map_err(storage)?;
    if becomes_waiting {
        place_waiting(conn, id, live, None)?;
    }
    Ok(())
}

/// Makes leases that ended by `cutoff` waiting again, due at the earlier of
/// their expiry and `now`.
pub(super) fn recover(
    conn: &Connection,
    cutoff: SystemTime,
    now: SystemTime,
    live: &mut Live,
    held: Option<&Held>,
) -> Result<u64, QueueError> {
    let ids: Vec<i64> = conn
        .prepare_cached("SELECT id FROM deliveries WHERE state = 'leased' AND due_at <= ?1")
        .and_then(|mut stmt| {
            stmt.query_map([micros(cutoff)], |row| row.get(0))?
                .collect()
        })
        .map_err(storage)?;
    for &id in &ids {
        conn.prepare_cached(
            "UPDATE deliveries SET state = 'waiting', due_at = min(due_at, ?2),
                 lease_token = NULL
             WHERE id = ?1",
        )
        .and_then(|mut stmt| stmt.execute(params![id, micros(now)]))
        .map_err(storage)?;
        place_waiting(conn, id, live, held)?;
    }
    Ok(ids.len() as u64)
}

pub(super) fn replay(
    conn: &Connection,
    selection: &Replay,
    now: SystemTime,
    live: &mut Live,
    held: Option<&Held>,
) -> Result<u64, QueueError> {
    let ids: Vec<i64> = match selection {
        Replay::One(key) => conn
            .prepare_cached(
                "SELECT id FROM deliveries
                 WHERE state = 'dead' AND source = ?1 AND delivery_id = ?2",
            )
            .and_then(|mut stmt| {
                stmt.query_map(params![key.source, key.delivery_id], |row| row.get(0))?
                    .collect()
            }),
        Replay::All => conn
            .prepare_cached("SELECT id FROM deliveries WHERE state = 'dead'")
            .and_then(|mut stmt| stmt.query_map([], |row| row.get(0))?.collect()),
        Replay::ReceivedBetween { from, to } => conn
            .prepare_cached(
                "SELECT id FROM deliveries
                 WHERE state = 'dead' AND received_at >= ?1 AND received_at < ?2",
            )
            .and_then(|mut stmt| {
                stmt.query_map(params![micros(*from), micros(*to)], |row| row.get(0))?
                    .collect()
            }),
    }
    .map_err(storage)?;
    if let (Replay::One(key), true) = (selection, ids.is_empty()) {
        return Err(QueueError::not_found(format!("no dead letter {key}")));
    }
    for &id in &ids {
        conn.prepare_cached(
            "UPDATE deliveries SET state = 'waiting', due_at = ?2, attempts = 0 WHERE id = ?1",
        )
        .and_then(|mut stmt| stmt.execute(params![id, micros(now)]))
        .map_err(storage)?;
        live.0 += 1;
        place_waiting(conn, id, live, held)?;
    }
    Ok(ids.len() as u64)
}

/// Deletes up to `limit` dedup keys older than `cutoff`; returns how many.
pub(super) fn prune_seen(
    conn: &Connection,
    cutoff: SystemTime,
    limit: usize,
) -> Result<usize, QueueError> {
    conn.prepare_cached(
        "DELETE FROM seen WHERE (source, delivery_id) IN
             (SELECT source, delivery_id FROM seen WHERE seen_at <= ?1 LIMIT ?2)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            micros(cutoff),
            i64::try_from(limit).unwrap_or(i64::MAX)
        ])
    })
    .map_err(storage)
}

/// Counts by state. `held` are the rows leased in memory by the process
/// that serves the file (this one), whose rows say `waiting`.
pub(super) fn stats(
    conn: &Connection,
    now: SystemTime,
    held: &HashSet<i64>,
) -> Result<Stats, QueueError> {
    if !held.is_empty() {
        return stats_beside(conn, now, held);
    }
    let mut stats = Stats::default();
    let mut stmt = conn
        .prepare_cached(
            "SELECT state, due_at <= ?1, count(*), min(received_at)
             FROM deliveries GROUP BY 1, 2",
        )
        .map_err(storage)?;
    let mut rows = stmt.query([micros(now)]).map_err(storage)?;
    while let Some(row) = rows.next().map_err(storage)? {
        let state: String = row.get(0).map_err(storage)?;
        let due: bool = row.get(1).map_err(storage)?;
        let count = row.get::<_, i64>(2).map_err(storage)?.unsigned_abs();
        match (state.as_str(), due) {
            ("waiting", true) => {
                stats.ready += count;
                let oldest = from_micros(row.get(3).map_err(storage)?);
                stats.oldest_ready_age = Some(now.duration_since(oldest).unwrap_or_default());
            }
            ("waiting", false) => stats.scheduled += count,
            ("leased", _) => stats.leased += count,
            _ => stats.dead += count,
        }
    }
    Ok(stats)
}

/// [`stats`] with leases held in memory: each row is classed here, since
/// SQLite cannot tell the held ones (at most the pool's concurrency and
/// prefetch) from the waiting ones.
fn stats_beside(
    conn: &Connection,
    now: SystemTime,
    held: &HashSet<i64>,
) -> Result<Stats, QueueError> {
    let mut stats = Stats::default();
    let mut oldest_ready: Option<i64> = None;
    let mut stmt = conn
        .prepare_cached("SELECT id, state, due_at <= ?1, received_at FROM deliveries")
        .map_err(storage)?;
    let mut rows = stmt.query([micros(now)]).map_err(storage)?;
    while let Some(row) = rows.next().map_err(storage)? {
        let id: i64 = row.get(0).map_err(storage)?;
        let state: String = row.get(1).map_err(storage)?;
        let due: bool = row.get(2).map_err(storage)?;
        match (state.as_str(), due) {
            ("waiting", _) if held.contains(&id) => stats.leased += 1,
            ("waiting", true) => {
                stats.ready += 1;
                let received: i64 = row.get(3).map_err(storage)?;
                oldest_ready = Some(oldest_ready.map_or(received, |o| o.min(received)));
            }
            ("waiting", false) => stats.scheduled += 1,
            ("leased", _) => stats.leased += 1,
            _ => stats.dead += 1,
        }
    }
    stats.oldest_ready_age =
        oldest_ready.map(|oldest| now.duration_since(from_micros(oldest)).unwrap_or_default());
    Ok(stats)
}

pub(super) fn list_dead(conn: &Connection, limit: usize) -> Result<Vec<DeadLetter>, QueueError> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {DELIVERY_COLUMNS}, due_at FROM deliveries WHERE state = 'dead'
             ORDER BY received_at, source, delivery_id LIMIT ?1"
        ))
        .map_err(storage)?;
    stmt.query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |row| {
        let (_, delivery) = read_delivery(row)?;
        let error = delivery.last_error.clone().unwrap_or_default();
        Ok(DeadLetter::new(delivery, error, from_micros(row.get(9)?)))
    })
    .and_then(|rows| rows.collect())
    .map_err(storage)
}
