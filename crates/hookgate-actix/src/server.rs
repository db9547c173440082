//! Running actix-web's `HttpServer` on the open internet.
//!
//! actix-web has its own server, so `hookgate-tower`'s hardened `Server` does
//! not apply; set the equivalent `HttpServer` settings instead (the
//! `actix-receiver` example does):
//!
//! | `hookgate-tower` `Server` | `HttpServer` | actix-web's default |
//! |---|---|---|
//! | `header_read_timeout` (10 s) | `.client_request_timeout(d)`: the first request's head, then 408 and close | 5 s |
//! | `keep_alive` (5 s) | `.keep_alive(KeepAlive::Timeout(d))` (`KeepAlive::Disabled` for none) | 5 s |
//! | `max_connections` (1024 in all) | `.max_connections(n)`: **per worker**, so divide by `.workers(w)`; past it, new connections wait in the backlog | 25,000 per worker |
//! | `max_headers` / `max_header_bytes` | fixed: 96 headers, 128 KiB (431 past them) | |
//! | `shutdown_timeout` (30 s) | `.shutdown_timeout(secs)`, and `.client_disconnect_timeout(d)` for closing each connection | 30 s, 1 s |
//! | `shutdown_signal()` | built in: SIGINT, SIGTERM and SIGQUIT stop the server gracefully | |
//! | raising the open-file limit | [`raise_open_files_limit`], at the start of `main` | |
//!
//! The body limit and body read timeout (413, 408) are the webhook
//! middleware's, per source. actix-web passes the peer address on
//! (`HttpRequest::peer_addr`), which the middleware uses for a source's
//! `allow_ips`.

use std::io;

/// Raises the process's soft open-file limit (`RLIMIT_NOFILE`) to its hard
/// limit, and returns the soft limit now in force (`u64::MAX` on platforms
/// without one). Call it at the start of `main`: the soft limit is often
/// 1024, fewer than a receiver under a flood of connections needs, and
/// actix-web does not raise it.
///
/// ```
/// let soft = hookgate_actix::raise_open_files_limit()?;
/// assert!(soft > 0);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn raise_open_files_limit() -> io::Result<u64> {
    // `rlimit` caps the request at the hard limit (and, on macOS, at the
    // kernel's per-process maximum, which setrlimit would refuse to pass).
    rlimit::increase_nofile_limit(u64::MAX)
}
