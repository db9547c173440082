//! How many deliveries a pool runs at once, all sources together and per
//! source: what it asks the queue for, and the slot each attempt holds.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::LeaseRequest;

/// The concurrency limits of a pool, and the deliveries of each limited
/// source it holds a lease on (running or about to): never more than the
/// source's limit. Clones of a pool share one `Limits`.
#[derive(Debug)]
pub(super) struct Limits {
    /// At most this many deliveries at once, all sources together.
    pub(super) overall: usize,
    by_source: HashMap<String, usize>,
    per_other_source: Option<usize>,
    held: Arc<Mutex<HashMap<String, usize>>>,
}

impl Limits {
    pub(super) fn new(
        overall: usize,
        by_source: HashMap<String, usize>,
        per_other_source: Option<usize>,
    ) -> Self {
        Self {
            overall,
            by_source,
            per_other_source,
            held: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// The per-source limits set by name.
    pub(super) fn by_source(&self) -> &HashMap<String, usize> {
        &self.by_source
    }

    fn of(&self, source: &str) -> Option<usize> {
        self.by_source
            .get(source)
            .copied()
            .or(self.per_other_source)
    }

    /// The next lease request for `free` slots: sources at their limit are
    /// skipped, and no more is asked for than the limited source with the
    /// least room can run, so the pool never holds a lease it cannot start
    /// at once (one that would wait while its visibility timeout runs down,
    /// taking a slot from other sources). A limited source with nothing due
    /// can make batches smaller, never wrong.
    pub(super) fn next_request(&self, free: usize, visibility: Duration) -> LeaseRequest {
        let held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        let mut max = free;
        let mut skip = Vec::new();
        let mut consider = |source: &String, limit: usize, held: usize| {
            if held >= limit {
                skip.push(source.clone());
            } else {
                max = max.min(limit - held);
            }
        };
        for (source, &limit) in &self.by_source {
            consider(source, limit, held.get(source).copied().unwrap_or(0));
        }
        if let Some(limit) = self.per_other_source {
            for (source, &count) in held.iter() {
                if !self.by_source.contains_key(source) {
                    consider(source, limit, count);
                }
            }
            // A source not seen yet may fill the whole batch.
            max = max.min(limit);
        }
        LeaseRequest::new(max.max(1), visibility).skip_sources(skip)
    }

    /// Takes a slot of `source`'s limit, or `None` when it has no room (a
    /// back-end returned more than asked, or another clone of the pool took
    /// the room meanwhile). A source without a limit always gets one.
    pub(super) fn reserve(&self, source: &str) -> Option<SourceSlot> {
        let Some(limit) = self.of(source) else {
            return Some(SourceSlot {
                held: None,
                source: String::new(),
            });
        };
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        let count = held.entry(source.to_owned()).or_insert(0);
        if *count >= limit {
            return None;
        }
        *count += 1;
        Some(SourceSlot {
            held: Some(Arc::clone(&self.held)),
            source: source.to_owned(),
        })
    }
}

/// One unit of a source's concurrency limit, held while the pool holds the
/// lease of one of its deliveries; given back on drop (finished or aborted).
#[derive(Debug)]
pub(super) struct SourceSlot {
    /// `None` for a source without a limit.
    held: Option<Arc<Mutex<HashMap<String, usize>>>>,
    source: String,
}

impl Drop for SourceSlot {
    fn drop(&mut self) {
        let Some(held) = &self.held else {
            return;
        };
        let mut held = held.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = held.get_mut(&self.source) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                held.remove(&self.source);
            }
        }
    }
}
