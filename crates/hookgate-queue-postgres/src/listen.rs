//! `LISTEN "<schema>.ready"` on a connection of its own, turned into
//! [`Wakeups`](hookgate_queue::Wakeups) for idle workers.

use std::sync::Weak;
use std::time::Duration;

use hookgate_queue::ReadySignal;
use tokio::sync::watch;
use tokio_postgres::AsyncMessage;

use crate::queue::Shared;

/// How long the listener waits before connecting again after a failure.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// Listens until the queue is dropped (`stop`'s sender with it),
/// reconnecting after failures. Every (re)connection counts as a wake-up:
/// notifications sent while no one listened are lost, so workers look once.
pub(crate) async fn run(shared: Weak<Shared>, mut stop: watch::Receiver<()>) {
    let mut failing = false;
    loop {
        let Some(strong) = shared.upgrade() else {
            return;
        };
        let mut config = strong.target.config.clone();
        // A silently dead connection is found within a minute or so.
        config.keepalives_idle(Duration::from_secs(30));
        let tls = strong.target.tls.clone();
        let channel = format!("{}.ready", strong.schema);
        let ready = strong.ready.clone();
        drop(strong);
        let listened = tokio::select! {
            result = listen(config, tls, &channel, &ready, &mut failing) => result,
            _ = stop.changed() => return,
        };
        if let Err(err) = listened
            && !failing
        {
            failing = true;
            tracing::warn!(error = %err, channel, "postgres notification listener lost its connection; reconnecting");
        }
        ready.notify();
        tokio::select! {
            () = tokio::time::sleep(RECONNECT_AFTER) => {}
            _ = stop.changed() => return,
        }
    }
}

/// One connection's life: connect, `LISTEN`, count each notification.
async fn listen(
    config: tokio_postgres::Config,
    tls: crate::tls::Tls,
    channel: &str,
    ready: &ReadySignal,
    failing: &mut bool,
) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = config.connect(tls).await?;
    let counter = ready.clone();
    let mut driver = tokio::spawn(async move {
        loop {
            match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notification(_))) => {
                    counter.notify();
                }
                Some(Ok(_)) => {}
                Some(Err(err)) => return Err(err),
                None => return Ok(()),
            }
        }
    });
    let driver_guard = AbortOnDrop(driver.abort_handle());
    client
        .batch_execute(&format!("LISTEN \"{channel}\""))
        .await?;
    if std::mem::take(failing) {
        tracing::info!(channel, "postgres notification listener reconnected");
    }
    ready.notify();
    let ended = (&mut driver).await;
    drop(driver_guard);
    drop(client);
    match ended {
        Ok(result) => result,
        // The driver never panics; a cancelled one means we are stopping.
        Err(_) => Ok(()),
    }
}

/// Stops the connection's task when its listener is dropped (the queue went away).
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
