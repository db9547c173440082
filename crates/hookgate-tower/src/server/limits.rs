//! The process's open-file limit.

use std::io;

/// File descriptors kept free for everything but connections (the
/// listener, the queue's files and connections, logs, outgoing requests)
/// when [`Server::max_connections`](super::Server::max_connections) is
/// lowered to fit the open-file limit.
pub const RESERVED_FILES: u64 = 64;

/// Raises the process's soft open-file limit (`RLIMIT_NOFILE`) to its hard
/// limit, and returns the soft limit now in force. The soft limit is often
/// 1024, fewer than one receiver under a flood of connections needs; the
/// hard limit is what the administrator allows (raising it needs
/// privileges: `LimitNOFILE=` in a systemd unit, `ulimit -Hn`, a
/// container's `--ulimit nofile=`).
///
/// [`Server`](super::Server) calls it when serving starts (unless told not
/// to); call it at the start of `main` when serving with something else
/// (actix-web's `HttpServer`). On platforms without the limit it does
/// nothing and returns `u64::MAX`.
///
/// ```
/// let soft = hookgate_tower::server::raise_open_files_limit()?;
/// assert!(soft > 0);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn raise_open_files_limit() -> io::Result<u64> {
    // `rlimit` caps the request at the hard limit (and, on macOS, at the
    // kernel's per-process maximum, which setrlimit would refuse to pass).
    rlimit::increase_nofile_limit(u64::MAX)
}

/// The soft open-file limit, where the platform has one.
pub(crate) fn open_files_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        rlimit::Resource::NOFILE.get().ok().map(|(soft, _)| soft)
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// `wanted` connections, or fewer when the open-file limit `files` leaves
/// less room after [`RESERVED_FILES`] (never fewer than 1).
pub(crate) fn connections_within(wanted: usize, files: Option<u64>) -> usize {
    let Some(files) = files else {
        return wanted;
    };
    let room = usize::try_from(files.saturating_sub(RESERVED_FILES)).unwrap_or(usize::MAX);
    wanted.min(room).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_limit_fits_within_the_open_files() {
        assert_eq!(connections_within(1024, None), 1024);
        assert_eq!(connections_within(1024, Some(1024)), 960);
        assert_eq!(connections_within(1024, Some(1_048_576)), 1024);
        assert_eq!(connections_within(1024, Some(10)), 1);
        assert_eq!(connections_within(1024, Some(u64::MAX)), 1024);
    }

    #[test]
    fn raising_leaves_a_soft_limit_at_least_as_high() {
        let before = open_files_limit();
        let after = raise_open_files_limit().unwrap();
        if let Some(before) = before {
            assert!(after >= before, "{after} < {before}");
            assert_eq!(open_files_limit(), Some(after));
        }
    }
}
