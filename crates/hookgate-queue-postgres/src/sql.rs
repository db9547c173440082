//! The statements of every operation, written once per schema.
//!
//! Times: `coalesce($n::timestamptz, now())` reads the server's clock unless
//! the queue was given a [`Clock`](hookgate_queue::Clock), whose time is
//! passed instead. Durations travel as microseconds (`bigint`).

/// The SQL of one queue's schema.
#[derive(Debug)]
pub(crate) struct Sql {
    pub(crate) enqueue: String,
    pub(crate) seen_keyed: String,
    pub(crate) waiting_with_key: String,
    pub(crate) insert_one: String,
    pub(crate) delete_one: String,
    pub(crate) lease: String,
    pub(crate) ack: String,
    pub(crate) dead_letter: String,
    pub(crate) extend: String,
    pub(crate) retry_plain: String,
    pub(crate) retry_any: String,
    pub(crate) release_plain: String,
    pub(crate) release_any: String,
    pub(crate) held: String,
    pub(crate) recover_plain: String,
    pub(crate) expired_keyed: String,
    pub(crate) held_expired: String,
    pub(crate) recover_one: String,
    pub(crate) replay_plain: String,
    pub(crate) dead_keyed: String,
    pub(crate) held_dead: String,
    pub(crate) replay_one: String,
    pub(crate) stats: String,
    pub(crate) list_dead: String,
    pub(crate) prune: String,
}

/// Which dead letters a replay selects: `$2`/`$3` a key, `$4`/`$5` a
/// received window (each pair NULL when not used).
const REPLAY_SELECTION: &str = "($2::text IS NULL OR (source = $2 AND delivery_id = $3::text))
      AND ($4::timestamptz IS NULL OR (received_at >= $4 AND received_at < $5::timestamptz))";

/// A held lease: row `$1` with token `$2`.
const HELD: &str = "id = $1 AND state = 'leased' AND lease_token = $2";

const DELIVERY_COLUMNS: &str =
    "source, delivery_id, received_at, headers, body, coalesce_key, attempts, last_error, due_at";

impl Sql {
    pub(crate) fn new(schema: &str) -> Self {
        let q = crate::migrate::quote(schema);
        let deliveries = format!("{q}.deliveries");
        let seen = format!("{q}.seen");
        Self {
            // One statement, so one commit, for a whole batch: the keys that
            // are new (or whose window ended) come back from `fresh`, and only
            // those deliveries are stored. Keys are inserted in order, so two
            // receivers' batches never wait on each other in a cycle.
            enqueue: format!(
                "WITH input AS (
                     SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::bytea[], $5::bytea[])
                         WITH ORDINALITY AS t(source, delivery_id, received_at, headers, body, n)
                 ), fresh AS (
                     INSERT INTO {seen} AS seen (source, delivery_id, seen_at)
                     SELECT source, delivery_id, coalesce($6::timestamptz, now()) FROM input
                     ORDER BY source, delivery_id
                     ON CONFLICT (source, delivery_id) DO UPDATE SET seen_at = excluded.seen_at
                         WHERE seen.seen_at <= excluded.seen_at - $7::bigint * interval '1 microsecond'
                     RETURNING source, delivery_id
                 ), stored AS (
                     INSERT INTO {deliveries} (source, delivery_id, received_at, headers, body, state, due_at)
                     SELECT input.source, input.delivery_id, input.received_at, input.headers, input.body,
                            'waiting', coalesce($6::timestamptz, now())
                     FROM input JOIN fresh USING (source, delivery_id)
                     ORDER BY input.n
                 )
                 SELECT input.n FROM input JOIN fresh USING (source, delivery_id)"
            ),
            seen_keyed: format!(
                "INSERT INTO {seen} AS seen (source, delivery_id, seen_at)
                 SELECT source, delivery_id, coalesce($3::timestamptz, now())
                 FROM unnest($1::text[], $2::text[]) AS t(source, delivery_id)
                 ORDER BY source, delivery_id
                 ON CONFLICT (source, delivery_id) DO UPDATE SET seen_at = excluded.seen_at
                     WHERE seen.seen_at <= excluded.seen_at - $4::bigint * interval '1 microsecond'
                 RETURNING source, delivery_id"
            ),
            waiting_with_key: format!(
                "SELECT id, received_at FROM {deliveries}
                 WHERE source = $1 AND coalesce_key = $2 AND state = 'waiting' AND id <> $3
                 FOR UPDATE"
            ),
            insert_one: format!(
                "INSERT INTO {deliveries}
                     (source, delivery_id, received_at, headers, body, coalesce_key, state, due_at)
                 VALUES ($1, $2, $3, $4, $5, $6, 'waiting', coalesce($7::timestamptz, now()))"
            ),
            delete_one: format!("DELETE FROM {deliveries} WHERE id = $1"),
            lease: format!(
                "WITH picked AS (
                     SELECT id FROM {deliveries}
                     WHERE state IN ('waiting', 'leased') AND due_at <= coalesce($1::timestamptz, now())
                       AND source <> ALL ($2::text[])
                     ORDER BY due_at LIMIT $3
                     FOR UPDATE SKIP LOCKED
                 )
                 UPDATE {deliveries} AS d
                 SET state = 'leased', lease_token = $5, attempts = d.attempts + 1,
                     due_at = coalesce($1::timestamptz, now()) + $4::bigint * interval '1 microsecond'
                 FROM picked WHERE d.id = picked.id
                 RETURNING d.id, {}",
                DELIVERY_COLUMNS
                    .split(", ")
                    .map(|c| format!("d.{c}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            ack: format!("DELETE FROM {deliveries} WHERE {HELD}"),
            dead_letter: format!(
                "UPDATE {deliveries} SET state = 'dead', due_at = coalesce($3::timestamptz, now()),
                     last_error = $4, lease_token = NULL
                 WHERE {HELD}"
            ),
            extend: format!(
                "UPDATE {deliveries} AS d
                 SET due_at = coalesce($3::timestamptz, now()) + $4::bigint * interval '1 microsecond'
                 FROM unnest($1::bigint[], $2::bigint[]) AS l(id, token)
                 WHERE d.id = l.id AND d.state = 'leased' AND d.lease_token = l.token
                 RETURNING d.id, d.lease_token, d.due_at"
            ),
            retry_plain: format!(
                "UPDATE {deliveries} SET state = 'waiting', due_at = $3, last_error = $4, lease_token = NULL
                 WHERE {HELD} AND coalesce_key IS NULL"
            ),
            retry_any: format!(
                "UPDATE {deliveries} SET state = 'waiting', due_at = $3, last_error = $4, lease_token = NULL
                 WHERE {HELD}"
            ),
            release_plain: format!(
                "UPDATE {deliveries} SET state = 'waiting', due_at = coalesce($3::timestamptz, now()),
                     lease_token = NULL, attempts = greatest(attempts - 1, 0)
                 WHERE {HELD} AND coalesce_key IS NULL"
            ),
            release_any: format!(
                "UPDATE {deliveries} SET state = 'waiting', due_at = coalesce($3::timestamptz, now()),
                     lease_token = NULL, attempts = greatest(attempts - 1, 0)
                 WHERE {HELD}"
            ),
            held: format!(
                "SELECT source, coalesce_key, received_at FROM {deliveries} WHERE {HELD} FOR UPDATE"
            ),
            recover_plain: format!(
                "UPDATE {deliveries} SET state = 'waiting', lease_token = NULL,
                     due_at = least(due_at, coalesce($1::timestamptz, now()))
                 WHERE state = 'leased' AND due_at <= coalesce($1::timestamptz, now())
                   AND coalesce_key IS NULL"
            ),
            expired_keyed: format!(
                "SELECT id FROM {deliveries}
                 WHERE state = 'leased' AND due_at <= coalesce($1::timestamptz, now())
                   AND coalesce_key IS NOT NULL"
            ),
            held_expired: format!(
                "SELECT source, coalesce_key, received_at FROM {deliveries}
                 WHERE id = $1 AND state = 'leased' AND due_at <= coalesce($2::timestamptz, now())
                 FOR UPDATE"
            ),
            recover_one: format!(
                "UPDATE {deliveries} SET state = 'waiting', lease_token = NULL,
                     due_at = least(due_at, coalesce($2::timestamptz, now()))
                 WHERE id = $1"
            ),
            replay_plain: format!(
                "UPDATE {deliveries} SET state = 'waiting', due_at = coalesce($1::timestamptz, now()),
                     attempts = 0
                 WHERE state = 'dead' AND coalesce_key IS NULL AND {REPLAY_SELECTION}"
            ),
            dead_keyed: format!(
                "SELECT id FROM {deliveries}
                 WHERE state = 'dead' AND coalesce_key IS NOT NULL
                   -- $1 (the time) is the same parameter as in replay_plain.
                   AND coalesce($1::timestamptz, now()) IS NOT NULL
                   AND {REPLAY_SELECTION}"
            ),
            held_dead: format!(
                "SELECT source, coalesce_key, received_at FROM {deliveries}
                 WHERE id = $1 AND state = 'dead' FOR UPDATE"
            ),
            replay_one: format!(
                "UPDATE {deliveries} SET state = 'waiting', due_at = coalesce($2::timestamptz, now()),
                     attempts = 0
                 WHERE id = $1"
            ),
            stats: format!(
                "SELECT count(*) FILTER (WHERE state = 'waiting' AND due_at <= c.now),
                        count(*) FILTER (WHERE state = 'waiting' AND due_at > c.now),
                        count(*) FILTER (WHERE state = 'leased'),
                        count(*) FILTER (WHERE state = 'dead'),
                        min(received_at) FILTER (WHERE state = 'waiting' AND due_at <= c.now),
                        c.now
                 FROM (SELECT coalesce($1::timestamptz, now()) AS now) c
                 LEFT JOIN {deliveries} ON true
                 GROUP BY c.now"
            ),
            list_dead: format!(
                "SELECT id, {DELIVERY_COLUMNS} FROM {deliveries} WHERE state = 'dead'
                 ORDER BY received_at, source, delivery_id LIMIT $1"
            ),
            prune: format!(
                "DELETE FROM {seen} WHERE (source, delivery_id) IN (
                     SELECT source, delivery_id FROM {seen}
                     WHERE seen_at <= coalesce($1::timestamptz, now()) - $2::bigint * interval '1 microsecond'
                     LIMIT $3 FOR UPDATE SKIP LOCKED
                 )"
            ),
        }
    }
}
