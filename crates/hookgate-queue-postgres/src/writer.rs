//! Group commit: one task takes every enqueue waiting in its channel (up to
//! `max_batch`) and stores them with one statement, so one commit.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::error::Error as _;
use std::sync::Arc;
use std::time::SystemTime;

use deadpool_postgres::GenericClient;
use hookgate_queue::{EnqueueOutcome, NewDelivery, QueueError, observe, wire};
use tokio::sync::{mpsc, oneshot};

use crate::error::map_pg;
use crate::queue::{Shared, bounded, lock_key};

/// Histogram: enqueues per committed batch.
const BATCH_SIZE: &str = "hookgate_queue_postgres_batch_size";

/// An enqueue waiting for its batch's commit.
pub(crate) struct Pending {
    pub(crate) delivery: NewDelivery,
    pub(crate) reply: oneshot::Sender<Result<EnqueueOutcome, QueueError>>,
}

/// Commits batches until every queue handle is dropped (the channel closes).
pub(crate) async fn run(shared: Arc<Shared>, mut inbox: mpsc::UnboundedReceiver<Pending>) {
    let mut batch = Vec::with_capacity(shared.max_batch);
    while inbox.recv_many(&mut batch, shared.max_batch).await > 0 {
        metrics::histogram!(BATCH_SIZE).record(batch.len() as f64);
        match bounded(shared.operation_timeout, commit(&shared, &batch)).await {
            Ok(outcomes) => {
                if outcomes.contains(&EnqueueOutcome::Enqueued) {
                    shared.wake();
                }
                for (pending, outcome) in batch.drain(..).zip(outcomes) {
                    // A caller that stopped waiting is no error: its
                    // delivery is committed and will be handled.
                    let _ = pending.reply.send(Ok(outcome));
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, size = batch.len(), "postgres enqueue batch failed; its callers were told");
                for pending in batch.drain(..) {
                    let _ = pending.reply.send(Err(replicate(&err)));
                }
            }
        }
    }
}

/// The same error for another caller of the batch.
fn replicate(err: &QueueError) -> QueueError {
    let copy = match err.source() {
        Some(source) => QueueError::with_source(err.kind(), source.to_string()),
        None => QueueError::new(err.kind()),
    };
    match err.retry_after() {
        Some(after) => copy.retry_after_hint(after),
        None => copy,
    }
}

/// Stores a batch: the answers in the batch's order, or the error that
/// kept the whole batch from committing (then nothing of it is stored).
async fn commit(shared: &Shared, batch: &[Pending]) -> Result<Vec<EnqueueOutcome>, QueueError> {
    // A key twice in one batch (a sender's quick retry) is stored once: the
    // statement sees each key once, and later copies are duplicates of the first.
    let mut first_of: HashMap<(&str, &str), usize> = HashMap::with_capacity(batch.len());
    let mut copy_of = vec![None; batch.len()];
    let (mut plain, mut keyed) = (Vec::new(), Vec::new());
    for (i, pending) in batch.iter().enumerate() {
        let d = &pending.delivery;
        match first_of.entry((&d.source, &d.delivery_id)) {
            Entry::Occupied(first) => copy_of[i] = Some(*first.get()),
            Entry::Vacant(slot) => {
                slot.insert(i);
                if d.coalesce_key.is_some() {
                    keyed.push(i);
                } else {
                    plain.push(i);
                }
            }
        }
    }
    let mut outcomes = vec![EnqueueOutcome::Duplicate; batch.len()];
    let mut client = shared.client().await?;
    if keyed.is_empty() {
        store_plain(&client, shared, batch, &plain, &mut outcomes).await?;
    } else {
        let tx = client.transaction().await.map_err(map_pg)?;
        if !plain.is_empty() {
            store_plain(&tx, shared, batch, &plain, &mut outcomes).await?;
        }
        store_keyed(&tx, shared, batch, &keyed, &mut outcomes).await?;
        tx.commit().await.map_err(map_pg)?;
    }
    for (i, first) in copy_of.into_iter().enumerate() {
        if first.is_some() {
            outcomes[i] = EnqueueOutcome::Duplicate;
        }
    }
    Ok(outcomes)
}

/// Deliveries without a coalescing key: one statement records the keys and
/// stores the new ones.
async fn store_plain(
    client: &impl GenericClient,
    shared: &Shared,
    batch: &[Pending],
    indexes: &[usize],
    outcomes: &mut [EnqueueOutcome],
) -> Result<(), QueueError> {
    let deliveries: Vec<&NewDelivery> = indexes.iter().map(|&i| &batch[i].delivery).collect();
    let sources: Vec<&str> = deliveries.iter().map(|d| d.source.as_str()).collect();
    let ids: Vec<&str> = deliveries.iter().map(|d| d.delivery_id.as_str()).collect();
    let received: Vec<SystemTime> = deliveries.iter().map(|d| d.received_at).collect();
    let headers: Vec<Vec<u8>> = deliveries
        .iter()
        .map(|d| wire::encode_headers(&d.headers))
        .collect();
    let bodies: Vec<&[u8]> = deliveries.iter().map(|d| &d.body[..]).collect();
    let now = shared.now();
    let window = shared.window_micros();
    let stmt = client
        .prepare_cached(&shared.sql.enqueue)
        .await
        .map_err(map_pg)?;
    let rows = client
        .query(
            &stmt,
            &[&sources, &ids, &received, &headers, &bodies, &now, &window],
        )
        .await
        .map_err(map_pg)?;
    for row in rows {
        let n: i64 = row.get(0);
        let position = usize::try_from(n - 1)
            .ok()
            .and_then(|p| indexes.get(p))
            .ok_or_else(|| QueueError::storage("postgres returned an unknown batch position"))?;
        outcomes[*position] = EnqueueOutcome::Enqueued;
    }
    Ok(())
}

/// Deliveries with a coalescing key, inside the batch's transaction: record
/// the keys, then place each new one under its key's advisory lock (oldest
/// received first, so the newest of a batch is the one left waiting).
async fn store_keyed(
    tx: &impl GenericClient,
    shared: &Shared,
    batch: &[Pending],
    indexes: &[usize],
    outcomes: &mut [EnqueueOutcome],
) -> Result<(), QueueError> {
    let now = shared.now();
    let window = shared.window_micros();
    let sources: Vec<&str> = indexes
        .iter()
        .map(|&i| batch[i].delivery.source.as_str())
        .collect();
    let ids: Vec<&str> = indexes
        .iter()
        .map(|&i| batch[i].delivery.delivery_id.as_str())
        .collect();
    let rows = tx
        .query(&shared.sql.seen_keyed, &[&sources, &ids, &now, &window])
        .await
        .map_err(map_pg)?;
    let fresh: std::collections::HashSet<(String, String)> =
        rows.iter().map(|row| (row.get(0), row.get(1))).collect();
    let mut new: Vec<usize> = indexes
        .iter()
        .copied()
        .filter(|&i| {
            let d = &batch[i].delivery;
            fresh.contains(&(d.source.clone(), d.delivery_id.clone()))
        })
        .collect();
    // Keys in one order in every transaction: no lock cycles between receivers.
    new.sort_by(|&a, &b| {
        let (a, b) = (&batch[a].delivery, &batch[b].delivery);
        (&a.source, &a.coalesce_key, a.received_at).cmp(&(
            &b.source,
            &b.coalesce_key,
            b.received_at,
        ))
    });
    for i in new {
        let d = &batch[i].delivery;
        let key = d.coalesce_key.as_deref().unwrap_or_default();
        lock_key(tx, shared, &d.source, key).await?;
        let waiting = tx
            .query(&shared.sql.waiting_with_key, &[&d.source, &key, &-1_i64])
            .await
            .map_err(map_pg)?;
        let newer_waits = waiting
            .iter()
            .any(|row| row.get::<_, SystemTime>(1) > d.received_at);
        if newer_waits {
            outcomes[i] = EnqueueOutcome::Superseded;
            continue;
        }
        for row in &waiting {
            tx.execute(&shared.sql.delete_one, &[&row.get::<_, i64>(0)])
                .await
                .map_err(map_pg)?;
            metrics::counter!(observe::COALESCED, "source" => d.source.clone()).increment(1);
        }
        tx.execute(
            &shared.sql.insert_one,
            &[
                &d.source,
                &d.delivery_id,
                &d.received_at,
                &wire::encode_headers(&d.headers),
                &&d.body[..],
                &key,
                &now,
            ],
        )
        .await
        .map_err(map_pg)?;
        outcomes[i] = EnqueueOutcome::Enqueued;
    }
    Ok(())
}
