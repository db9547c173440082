//! Keeping the leases of running attempts: while a pool runs, one task
//! extends the leases of all its running attempts in one call to the queue,
//! every heartbeat interval (a third of the visibility timeout by default).
//!
//! One task per pool rather than a timer per attempt: a tick costs one call
//! whatever the number of attempts (one SQLite commit, one Redis script),
//! where timers started with each attempt would tick apart and cost a call
//! (a commit, an `fsync`) each.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::{LeaseId, Queue, QueueErrorKind};

/// The leases whose handler is running: what the heartbeat extends.
#[derive(Debug, Default)]
pub(super) struct Running {
    leases: Mutex<HashSet<LeaseId>>,
}

impl Running {
    fn leases(&self) -> std::sync::MutexGuard<'_, HashSet<LeaseId>> {
        // Each change is one insert or remove: consistent whatever panicked.
        self.leases.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers `lease` until the returned guard is dropped (the handler
    /// returned, or its attempt was aborted).
    pub(super) fn enter(self: &Arc<Self>, lease: LeaseId) -> Registration {
        self.leases().insert(lease.clone());
        Registration {
            running: Arc::clone(self),
            lease,
        }
    }

    /// Stops extending `lease`; whether it was still registered.
    fn forget(&self, lease: &LeaseId) -> bool {
        self.leases().remove(lease)
    }

    fn snapshot(&self) -> Vec<LeaseId> {
        self.leases().iter().cloned().collect()
    }
}

/// A lease registered with [`Running`] while its handler runs.
#[derive(Debug)]
pub(super) struct Registration {
    running: Arc<Running>,
    lease: LeaseId,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.running.forget(&self.lease);
    }
}

/// Extends every running lease by `visibility`, every `every`, for ever (the
/// pool aborts it when it stops).
///
/// A lease the queue reports lost is no longer extended, with a warning: it
/// expired before a heartbeat reached the queue (the pool stalled, or the
/// queue was unreachable for a whole visibility timeout), so another worker
/// may be handling the delivery too; the attempt runs on, and its outcome
/// will be refused as `LeaseLost`. A failed call is retried at the next tick.
pub(super) async fn keep_alive(
    queue: Arc<dyn Queue>,
    running: Arc<Running>,
    every: Duration,
    visibility: Duration,
) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let leases = running.snapshot();
        if leases.is_empty() {
            continue;
        }
        let extended = match queue.extend(leases.clone(), visibility).await {
            Ok(extended) => extended,
            Err(err) => {
                tracing::warn!(error = %err, leases = leases.len(), "could not extend leases; will try again");
                continue;
            }
        };
        for (lease, result) in leases.iter().zip(extended) {
            match result {
                Ok(_) => {}
                // Lost after its attempt finished (acknowledged meanwhile): expected.
                Err(err) if err.kind() == QueueErrorKind::LeaseLost => {
                    if running.forget(lease) {
                        tracing::warn!(
                            ?lease,
                            "lease lost while its attempt runs; the delivery may be handled again"
                        );
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %err, ?lease, "could not extend a lease; will try again")
                }
            }
        }
    }
}
