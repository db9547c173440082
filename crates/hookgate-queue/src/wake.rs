//! Waking idle workers when deliveries become ready, instead of letting them
//! wait out their poll interval.
//!
//! A back-end owns a [`ReadySignal`] and calls [`ReadySignal::notify`] once
//! something became ready (an enqueue committed, a lease released, dead
//! letters replayed); [`Queue::wakeups`](crate::Queue::wakeups) hands out
//! [`Wakeups`] subscribed to it. A notification is a hint, never a promise:
//! a worker that wakes leases, and may find nothing (another worker was
//! faster). The poll interval stays as the safety net for what no signal
//! covers (a retry whose time has come, an enqueue by another process on a
//! back-end without server-side notifications).

use std::fmt;
use std::sync::Arc;

use tokio::sync::watch;

/// The sending side of wake-ups, owned by a back-end; cheap to clone (all
/// clones notify the same [`Wakeups`]).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use hookgate_queue::ReadySignal;
///
/// let signal = ReadySignal::new();
/// let mut wakeups = signal.subscribe();
/// signal.notify(); // an enqueue committed
/// wakeups.ready().await; // resolves at once: the notification was kept
/// # });
/// ```
#[derive(Clone)]
pub struct ReadySignal {
    /// A counter bumped by each notification: a receiver that has not seen
    /// the latest value has a wake-up pending, however many were sent.
    sender: Arc<watch::Sender<u64>>,
}

impl ReadySignal {
    /// A signal nobody listens to yet.
    pub fn new() -> Self {
        let (sender, _) = watch::channel(0);
        Self {
            sender: Arc::new(sender),
        }
    }

    /// Wakes every [`Wakeups`] subscribed to this signal (those waiting now,
    /// and those that will wait next). Costs no allocation and never blocks;
    /// with no subscriber it only bumps a counter.
    pub fn notify(&self) {
        self.sender.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A new subscriber. Notifications sent after this call wake it, even
    /// those sent before it starts waiting.
    pub fn subscribe(&self) -> Wakeups {
        Wakeups {
            ready: self.sender.subscribe(),
        }
    }
}

impl Default for ReadySignal {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for ReadySignal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadySignal")
            .field("subscribers", &self.sender.receiver_count())
            .finish()
    }
}

/// Resolves when deliveries may have become ready: from
/// [`Queue::wakeups`](crate::Queue::wakeups). A worker pool waits on it
/// *or* its poll interval, whichever comes first.
#[derive(Debug, Clone)]
pub struct Wakeups {
    ready: watch::Receiver<u64>,
}

impl Wakeups {
    /// Resolves once a notification arrived since this handle was made or
    /// this method last returned: at once if one arrived meanwhile, so a
    /// notification sent while the caller was busy leasing is not lost.
    /// Several notifications meanwhile resolve it once. Pending for ever
    /// once every [`ReadySignal`] of the back-end is gone.
    pub async fn ready(&mut self) {
        if self.ready.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Waker};

    use super::*;

    /// Whether `wakeups.ready()` would resolve now (polled once, not awaited).
    fn resolves_now(wakeups: &mut Wakeups) -> bool {
        let mut ready = pin!(wakeups.ready());
        ready
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
            .is_ready()
    }

    #[test]
    fn a_notification_before_waiting_is_kept_and_counted_once() {
        let signal = ReadySignal::new();
        let mut wakeups = signal.subscribe();
        assert!(!resolves_now(&mut wakeups), "nothing notified yet");
        signal.notify();
        signal.notify();
        assert!(resolves_now(&mut wakeups));
        assert!(
            !resolves_now(&mut wakeups),
            "two notifications, one wake-up"
        );
        signal.clone().notify();
        assert!(
            resolves_now(&mut wakeups),
            "clones notify the same subscribers"
        );
    }

    #[test]
    fn with_the_signal_gone_a_wakeup_never_resolves() {
        let signal = ReadySignal::new();
        let mut wakeups = signal.subscribe();
        drop(signal);
        assert!(!resolves_now(&mut wakeups));
    }
}
