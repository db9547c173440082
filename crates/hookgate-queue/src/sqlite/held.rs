//! Leases kept in memory, for a queue file that one process serves alone
//! ([`SqliteQueueBuilder::exclusive`](super::SqliteQueueBuilder::exclusive)).
//!
//! Why. A lease written to the file costs a durable write of the delivery's
//! row and of the due index, only to be overwritten by the acknowledgement a
//! few milliseconds later: about a third of what a delivery cost the disk.
//! What a written lease protects against is another process taking the
//! delivery while it is in flight; an exclusive queue has no such process
//! (the lock on `<file>.lock` keeps other servers out, and the inspectors of
//! `hookgate queue` never lease), and a crash ends every lease anyway, which
//! is what opening the file does (every lease recovered). So the writer
//! keeps leases in this table instead: the row stays `waiting` in the file
//! until the delivery is acknowledged (deleted), retried, dead-lettered or
//! released (written once, with its attempt count).
//!
//! What changes, and is documented on the builder: an attempt cut short by
//! a crash is not counted (the file never knew of it), and a process that
//! opens the file beside the server sees deliveries in flight as ready.
//!
//! The writer changes the table while it runs a batch, before the batch
//! commits, so later commands of the same batch see the change (two leases
//! never take one delivery). Each change is logged, so that a command rolled
//! back to its savepoint, or a batch that fails to commit, puts the table
//! back as the file still has it.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use rusqlite::{Connection, params};

use super::codec::micros;
use super::store::{self, Finish, Live, storage};
use crate::{LeaseId, LeaseRequest, Leased, QueueError};

/// One lease held in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct HeldLease {
    /// 63 random bits: a stale lease holder cannot guess the current one.
    token: i64,
    /// When the lease expires; the delivery is due again from then on.
    until: SystemTime,
    /// The attempt this lease is (the file's count plus the leases of this
    /// delivery since it was last written).
    attempt: u32,
}

/// The leases held, by row id: shared by the writer (which changes them)
/// and the statistics (which count them).
#[derive(Debug, Clone, Default)]
pub(super) struct Held(Arc<Mutex<HashMap<i64, HeldLease>>>);

impl Held {
    fn table(&self) -> MutexGuard<'_, HashMap<i64, HeldLease>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The row ids with a lease, expired or not (an expired lease is held
    /// until the delivery is leased again or recovered, as a written one).
    pub(super) fn ids(&self) -> HashSet<i64> {
        self.table().keys().copied().collect()
    }

    fn get(&self, id: i64) -> Option<HeldLease> {
        self.table().get(&id).copied()
    }

    /// Whether `id` is leased: a coalescing enqueue must not supersede it.
    pub(super) fn holds(&self, id: i64) -> bool {
        self.table().contains_key(&id)
    }
}

/// The writer's side of [`Held`]: every change logged until the batch
/// commits.
#[derive(Debug, Default)]
pub(super) struct HeldLeases {
    held: Held,
    /// `(row id, lease before the change)`, oldest first.
    undo: Vec<(i64, Option<HeldLease>)>,
}

impl HeldLeases {
    pub(super) fn new(held: Held) -> Self {
        Self {
            held,
            undo: Vec::new(),
        }
    }

    pub(super) fn held(&self) -> &Held {
        &self.held
    }

    fn set(&mut self, id: i64, lease: Option<HeldLease>) {
        let mut table = self.held.table();
        let before = match lease {
            Some(lease) => table.insert(id, lease),
            None => table.remove(&id),
        };
        self.undo.push((id, before));
    }

    /// A point to roll back to (before a command runs).
    pub(super) fn mark(&self) -> usize {
        self.undo.len()
    }

    /// Undoes every change made since `mark`, newest first.
    pub(super) fn roll_back_to(&mut self, mark: usize) {
        let mut table = self.held.table();
        while self.undo.len() > mark {
            let Some((id, before)) = self.undo.pop() else {
                break;
            };
            match before {
                Some(lease) => table.insert(id, lease),
                None => table.remove(&id),
            };
        }
    }

    /// The batch committed: its changes stay.
    pub(super) fn committed(&mut self) {
        self.undo.clear();
    }

    /// The lease `lease` names, if it is the one held now.
    fn current(&self, lease: &LeaseId) -> Option<(i64, HeldLease)> {
        let (id, token) = store::parse_lease(lease)?;
        self.held
            .get(id)
            .filter(|held| held.token == token)
            .map(|held| (id, held))
    }
}

/// Leases up to `request.max` due deliveries without writing to the file:
/// rows held by an unexpired lease are stepped over, in due order.
pub(super) fn lease(
    conn: &Connection,
    request: &LeaseRequest,
    now: SystemTime,
    leases: &mut HeldLeases,
) -> Result<Vec<Leased>, QueueError> {
    if request.max == 0 {
        return Ok(Vec::new());
    }
    // Every row this steps over is in flight, so it reads at most the
    // pool's concurrency and prefetch in extra index entries.
    let (skip, args) = store::skip_clause(request, now);
    let mut picked = Vec::new();
    {
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {}, state FROM deliveries
                 WHERE state IN ('waiting', 'leased') AND due_at <= ?1{skip}
                 ORDER BY due_at",
                store::DELIVERY_COLUMNS
            ))
            .map_err(storage)?;
        let mut rows = stmt
            .query(rusqlite::params_from_iter(args))
            .map_err(storage)?;
        while picked.len() < request.max {
            let Some(row) = rows.next().map_err(storage)? else {
                break;
            };
            let id: i64 = row.get(0).map_err(storage)?;
            let before = leases.held.get(id);
            if before.is_some_and(|held| held.until > now) {
                continue;
            }
            let (_, delivery) = store::read_delivery(row).map_err(storage)?;
            let written_lease = row.get::<_, String>(9).map_err(storage)? == "leased";
            picked.push((id, delivery, before, written_lease));
        }
    }
    let until = crate::clock::later(now, request.visibility);
    let mut leased = Vec::with_capacity(picked.len());
    for (id, mut delivery, before, written_lease) in picked {
        if written_lease {
            // An expired lease written by a process that opened the file
            // without the lock (rare): the row becomes waiting, so that the
            // file says `waiting` for every delivery held here.
            conn.prepare_cached(
                "UPDATE deliveries SET state = 'waiting', lease_token = NULL WHERE id = ?1",
            )
            .and_then(|mut stmt| stmt.execute([id]))
            .map_err(storage)?;
        }
        // An expired lease of this process counted as an attempt.
        delivery.attempt = before.map_or(delivery.attempt, |held| held.attempt) + 1;
        let token = store::new_token();
        leases.set(
            id,
            Some(HeldLease {
                token,
                until,
                attempt: delivery.attempt,
            }),
        );
        leased.push(Leased::new(delivery, store::lease_id(id, token), until));
    }
    Ok(leased)
}

/// Moves the expiry of each lease still held to `until`.
pub(super) fn extend(
    ids: &[LeaseId],
    until: SystemTime,
    leases: &mut HeldLeases,
) -> Vec<Result<SystemTime, QueueError>> {
    ids.iter()
        .map(|lease| {
            let (id, held) = leases.current(lease).ok_or_else(QueueError::lease_lost)?;
            leases.set(id, Some(HeldLease { until, ..held }));
            Ok(until)
        })
        .collect()
}

/// Settles a lease held in memory: the one write the delivery's attempt
/// costs the file.
pub(super) fn finish(
    conn: &Connection,
    lease: &LeaseId,
    action: Finish,
    now: SystemTime,
    live: &mut Live,
    leases: &mut HeldLeases,
) -> Result<(), QueueError> {
    let (id, held) = leases.current(lease).ok_or_else(QueueError::lease_lost)?;
    leases.set(id, None);
    let attempts = i64::from(held.attempt);
    let (sql, args, becomes_waiting): (&str, Vec<rusqlite::types::Value>, bool) = match action {
        Finish::Ack => (
            "DELETE FROM deliveries WHERE id = ?1",
            vec![id.into()],
            false,
        ),
        Finish::Retry { at, error } => (
            "UPDATE deliveries SET state = 'waiting', due_at = ?2, last_error = ?3,
                 attempts = ?4
             WHERE id = ?1",
            vec![id.into(), micros(at).into(), error.into(), attempts.into()],
            true,
        ),
        Finish::Dead { error } => (
            "UPDATE deliveries SET state = 'dead', due_at = ?2, last_error = ?3,
                 attempts = ?4
             WHERE id = ?1",
            vec![id.into(), micros(now).into(), error.into(), attempts.into()],
            false,
        ),
        // Handed back untouched: this lease is not an attempt.
        Finish::Release => (
            "UPDATE deliveries SET due_at = ?2, attempts = ?3 WHERE id = ?1",
            vec![id.into(), micros(now).into(), (attempts - 1).max(0).into()],
            true,
        ),
    };
    let changed = conn
        .prepare_cached(sql)
        .and_then(|mut stmt| stmt.execute(rusqlite::params_from_iter(args)))
        .map_err(storage)?;
    if changed == 0 {
        // The row went away under the lease (only another process without
        // the lock could do that).
        return Err(QueueError::lease_lost());
    }
    if !becomes_waiting {
        live.0 -= 1;
    } else {
        store::place_waiting(conn, id, live, Some(leases.held()))?;
    }
    Ok(())
}

/// Ends the leases held here that expired by `now` (writing the attempts
/// they counted), and recovers expired leases written in the file; returns
/// how many.
pub(super) fn recover(
    conn: &Connection,
    now: SystemTime,
    live: &mut Live,
    leases: &mut HeldLeases,
) -> Result<u64, QueueError> {
    let expired: Vec<(i64, HeldLease)> = leases
        .held
        .table()
        .iter()
        .filter(|(_, held)| held.until <= now)
        .map(|(&id, &held)| (id, held))
        .collect();
    for &(id, held) in &expired {
        leases.set(id, None);
        conn.prepare_cached("UPDATE deliveries SET attempts = ?2 WHERE id = ?1")
            .and_then(|mut stmt| stmt.execute(params![id, i64::from(held.attempt)]))
            .map_err(storage)?;
        store::place_waiting(conn, id, live, Some(leases.held()))?;
    }
    let written = store::recover(conn, now, now, live, Some(leases.held()))?;
    Ok(expired.len() as u64 + written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(token: i64) -> HeldLease {
        HeldLease {
            token,
            until: SystemTime::UNIX_EPOCH,
            attempt: 1,
        }
    }

    #[test]
    fn rolled_back_changes_leave_the_table_as_the_file_has_it() {
        let held = Held::default();
        let mut leases = HeldLeases::new(held.clone());
        leases.set(1, Some(lease(10)));
        leases.committed();

        let batch = leases.mark();
        leases.set(1, None); // an ack
        leases.set(2, Some(lease(20))); // a lease
        let command = leases.mark();
        leases.set(2, Some(lease(21))); // a command rolled back to its savepoint
        leases.roll_back_to(command);
        assert_eq!(held.get(2), Some(lease(20)));
        assert_eq!(held.ids(), HashSet::from([2]));

        // The batch did not commit: the ack and the lease never happened.
        leases.roll_back_to(batch);
        assert_eq!(held.get(1), Some(lease(10)));
        assert!(!held.holds(2));
        assert_eq!(held.ids(), HashSet::from([1]));
    }
}
