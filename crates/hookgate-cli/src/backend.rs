//! Opening the queue a configuration names, for `serve` and `queue`.

use std::sync::Arc;

use hookgate_queue::{Durability, MemoryQueue, Queue, RetryPolicy, RetrySchedule, SqliteQueue};

use crate::config::{DurabilityName, QueueBackend, QueueConfig, RetryConfig, ScheduleConfig};

/// Opens the configured queue. Blocking (SQLite opens the file): call it
/// before serving, or from `spawn_blocking`.
pub(crate) fn open(config: &QueueConfig) -> Result<Arc<dyn Queue>, String> {
    match &config.backend {
        QueueBackend::Sqlite { path, durability } => {
            if let Some(parent) = path.parent()
                && !parent.as_os_str().is_empty()
            {
                std::fs::create_dir_all(parent).map_err(|e| {
                    format!("cannot create the queue's folder {}: {e}", parent.display())
                })?;
            }
            let mut builder = SqliteQueue::builder(path).durability(match durability {
                DurabilityName::Fsync => Durability::Fsync,
                DurabilityName::ProcessCrash => Durability::ProcessCrash,
            });
            if let Some(window) = config.dedup_window {
                builder = builder.dedup_window(window);
            }
            if let Some(capacity) = config.capacity {
                builder = builder.capacity(capacity);
            }
            let queue = builder
                .open()
                .map_err(|e| format!("cannot open the queue {}: {e}", path.display()))?;
            Ok(Arc::new(queue))
        }
        QueueBackend::Memory => {
            let mut queue = MemoryQueue::new();
            if let Some(window) = config.dedup_window {
                queue = queue.with_dedup_window(window);
            }
            if let Some(capacity) = config.capacity {
                queue = queue.with_capacity(capacity);
            }
            Ok(Arc::new(queue))
        }
    }
}

/// A short description of the queue for logs and messages.
pub(crate) fn describe(config: &QueueConfig) -> String {
    match &config.backend {
        QueueBackend::Sqlite { path, .. } => format!("sqlite {}", path.display()),
        QueueBackend::Memory => "memory".to_owned(),
    }
}

/// The worker's retry policy for `[retry]`.
pub(crate) fn retry_policy(config: &RetryConfig) -> RetryPolicy {
    let schedule = match &config.schedule {
        ScheduleConfig::Exponential { base, cap, jitter } => {
            let schedule = RetrySchedule::exponential(*base, *cap);
            if *jitter {
                schedule
            } else {
                schedule.without_jitter()
            }
        }
        ScheduleConfig::Fixed(delays) => RetrySchedule::fixed(delays.iter().copied()),
    };
    let mut policy = RetryPolicy::new(schedule);
    if let Some(attempts) = config.max_attempts {
        policy = policy.max_attempts(attempts);
    }
    if let Some(age) = config.max_age {
        policy = policy.max_age(age);
    }
    policy
}
