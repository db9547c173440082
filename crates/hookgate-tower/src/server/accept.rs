//! Accepting connections without spinning on errors.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

/// The first pause after an accept error; it doubles up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(5);
const MAX_PAUSE: Duration = Duration::from_secs(1);
/// Accept errors are logged at most once per interval.
pub(crate) const LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Errors about one connection (it went away before it was accepted): the
/// next accept can be tried at once.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// What to do after an accept error: the pause, and whether to log now.
#[derive(Debug)]
pub(crate) struct Backoff {
    pause: Duration,
    last_logged: Option<Instant>,
    unlogged: u64,
}

impl Backoff {
    pub(crate) fn new() -> Self {
        Self {
            pause: FIRST_PAUSE,
            last_logged: None,
            unlogged: 0,
        }
    }

    /// After an accept succeeded: the next error pauses briefly again.
    pub(crate) fn reset(&mut self) {
        self.pause = FIRST_PAUSE;
    }

    /// Records an error at `now`: the pause before the next accept, and the
    /// number of errors to log now (this one included), if it is time to.
    pub(crate) fn on_error(&mut self, now: Instant) -> (Duration, Option<u64>) {
        let pause = self.pause;
        self.pause = (self.pause * 2).min(MAX_PAUSE);
        self.unlogged += 1;
        let due = self
            .last_logged
            .is_none_or(|at| now.duration_since(at) >= LOG_INTERVAL);
        if !due {
            return (pause, None);
        }
        self.last_logged = Some(now);
        (pause, Some(std::mem::take(&mut self.unlogged)))
    }
}

/// The next connection. Errors about one connection are skipped; others
/// (`EMFILE`, `ENFILE`, `ENOBUFS` ...) pause the loop and are logged at most
/// once per [`LOG_INTERVAL`], so a process out of file descriptors neither
/// spins nor floods its log.
pub(crate) async fn accept(
    listener: &TcpListener,
    backoff: &mut Backoff,
) -> (TcpStream, SocketAddr) {
    loop {
        match listener.accept().await {
            Ok(accepted) => {
                backoff.reset();
                return accepted;
            }
            Err(e) if is_connection_error(&e) => {}
            Err(e) => {
                let (pause, log) = backoff.on_error(Instant::now());
                if let Some(errors) = log {
                    tracing::error!(
                        error = %e,
                        errors,
                        "cannot accept connections; new connections wait in the backlog \
                         (raise the open-file limit, or lower max_connections)"
                    );
                }
                tokio::time::sleep(pause).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_pause_longer_and_are_logged_once_per_interval() {
        let start = Instant::now();
        let mut backoff = Backoff::new();
        assert_eq!(backoff.on_error(start), (FIRST_PAUSE, Some(1)));
        let (pause, log) = backoff.on_error(start + Duration::from_millis(5));
        assert_eq!((pause, log), (FIRST_PAUSE * 2, None));
        let mut last = pause;
        for i in 0..20 {
            let (pause, log) = backoff.on_error(start + Duration::from_millis(10 + i));
            assert!(pause >= last && pause <= MAX_PAUSE);
            assert_eq!(log, None);
            last = pause;
        }
        assert_eq!(last, MAX_PAUSE);
        // The next log line counts every error since the previous one.
        let (_, log) = backoff.on_error(start + LOG_INTERVAL);
        assert_eq!(log, Some(22));
        backoff.reset();
        assert_eq!(backoff.on_error(start + LOG_INTERVAL).0, FIRST_PAUSE);
    }

    #[test]
    fn only_errors_about_one_connection_are_retried_at_once() {
        assert!(is_connection_error(
            &io::ErrorKind::ConnectionAborted.into()
        ));
        assert!(!is_connection_error(&io::Error::from_raw_os_error(24)));
    }
}
