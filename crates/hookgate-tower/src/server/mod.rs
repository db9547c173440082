//! A hardened HTTP/1.1 server for webhook receivers: use it instead of
//! `axum::serve`.
//!
//! A webhook endpoint is public by definition, and `axum::serve` (like a bare
//! hyper server) sets no header-read timer and no connection limit: a client
//! sending its request head one byte at a time holds a connection forever,
//! and a few thousand of them exhaust the process's open files. [`Server`]
//! serves any tower service (an axum `Router` included) with bounds on every
//! way a client can hold resources:
//!
//! | setting | default | what it bounds |
//! |---|---|---|
//! | [`header_read_timeout`](Server::header_read_timeout) | 10 s | receiving a request head (start line and headers); the connection is closed past it |
//! | [`keep_alive`](Server::keep_alive) | 5 s | an idle connection between requests (`Duration::ZERO`: one request per connection) |
//! | [`max_connections`](Server::max_connections) | 1024 | connections open at once; more wait in the listen backlog |
//! | [`max_headers`](Server::max_headers) | 100 | header lines of a request (431 past it) |
//! | [`max_header_bytes`](Server::max_header_bytes) | 64 KiB | bytes of a request head (431 past it) |
//! | [`shutdown_timeout`](Server::shutdown_timeout) | 30 s | the wait for requests in progress after the shutdown signal |
//!
//! The request body is bounded per source by the webhook layer (its limit,
//! 413, and its read timeout, 408): see [`SourceBuilder`](crate::Source).
//!
//! **Connections past the limit wait; they are not refused.** Deliveries
//! already being received keep their connections, and a new connection is
//! accepted as soon as one closes; clients that hold connections without
//! finishing a request head lose them after the header timeout, so a valid
//! delivery waits at most about that long. (Closing new connections instead
//! would turn a flood of slow clients into refusals of every sender.) The
//! limit is lowered to the open-file limit less [`RESERVED_FILES`] when that
//! is smaller, so accepting never fails for lack of file descriptors; an
//! accept error that happens anyway (`EMFILE` from files opened elsewhere in
//! the process) is retried after a short pause, doubling up to 1 s, and
//! logged at most once every 10 s with the number of errors.
//!
//! **Open files.** Unless [`raise_open_files_limit`](Server::raise_open_files_limit)
//! is turned off, serving starts by raising the process's soft open-file
//! limit to its hard limit ([`raise_open_files_limit`] does it alone, for a
//! `main` that serves with something else): the soft limit is often 1024,
//! less than one busy receiver needs.
//!
//! **Client address.** Each request carries the peer's socket address as a
//! [`PeerAddr`] extension and (feature `axum`) as axum's
//! `ConnectInfo<SocketAddr>`, so axum's extractor works unchanged and the
//! webhook layer can apply a source's IP allow-list.
//!
//! **Graceful shutdown.** With [`Serve::with_graceful_shutdown`], the signal
//! stops accepting, closes idle connections, lets requests in progress
//! finish (each connection closes after its current response), and waits up
//! to [`shutdown_timeout`](Server::shutdown_timeout) before closing what is
//! left. [`shutdown_signal`] completes on SIGTERM or Ctrl-C.
//!
//! **HTTP/1.1 only.** Webhook senders deliver over HTTP/1.1, and TLS is
//! terminated in front of the receiver (a proxy or load balancer), which
//! speaks HTTP/1.1 to it too; HTTP/2 would add a second set of limits to get
//! right (streams per connection, flow-control windows) for no sender.
//!
//! ```no_run
//! use std::time::Duration;
//! use hookgate_tower::server::{Server, shutdown_signal};
//!
//! # async fn run(app: axum::Router) -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("0.0.0.0:8080").await?;
//! Server::new()
//!     .header_read_timeout(Duration::from_secs(10))
//!     .max_connections(1024)
//!     .serve(listener, app)
//!     .with_graceful_shutdown(shutdown_signal())
//!     .await;
//! # Ok(())
//! # }
//! ```

mod accept;
mod connection;
mod limits;
mod serve;
#[cfg(all(test, feature = "axum"))]
mod tests;

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

pub use limits::{RESERVED_FILES, raise_open_files_limit};
pub use serve::{Serve, shutdown_signal};

/// The default [`Server::header_read_timeout`]: 10 s.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// The default [`Server::keep_alive`]: 5 s.
pub const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(5);
/// The default [`Server::max_connections`]: 1024.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// The default [`Server::max_headers`]: 100 (hyper's).
pub const DEFAULT_MAX_HEADERS: usize = 100;
/// The default [`Server::max_header_bytes`]: 64 KiB.
pub const DEFAULT_MAX_HEADER_BYTES: usize = 64 * 1024;
/// The default [`Server::shutdown_timeout`]: 30 s.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

/// The socket address of the connection's peer, a request extension set by
/// [`Server`]: the client, or the last proxy in front of it.
///
/// ```
/// use hookgate_tower::server::PeerAddr;
///
/// async fn handler(axum::Extension(PeerAddr(peer)): axum::Extension<PeerAddr>) -> String {
///     format!("hello {}", peer.ip())
/// }
/// # let _ = axum::Router::<()>::new().route("/", axum::routing::get(handler));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PeerAddr(pub SocketAddr);

/// The settings of a hardened HTTP/1.1 server; see the [module docs](self).
///
/// Consuming setters, then [`serve`](Self::serve).
#[derive(Clone)]
#[must_use]
pub struct Server {
    pub(crate) header_read_timeout: Duration,
    pub(crate) keep_alive: Duration,
    pub(crate) max_connections: usize,
    pub(crate) max_headers: usize,
    pub(crate) max_header_bytes: usize,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) raise_open_files_limit: bool,
}

impl Default for Server {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("header_read_timeout", &self.header_read_timeout)
            .field("keep_alive", &self.keep_alive)
            .field("max_connections", &self.max_connections)
            .field("max_headers", &self.max_headers)
            .field("max_header_bytes", &self.max_header_bytes)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("raise_open_files_limit", &self.raise_open_files_limit)
            .finish()
    }
}

impl Server {
    /// The defaults of the table in the [module docs](self).
    pub fn new() -> Self {
        Self {
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            keep_alive: DEFAULT_KEEP_ALIVE,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_headers: DEFAULT_MAX_HEADERS,
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            raise_open_files_limit: true,
        }
    }

    /// How long a client may take to send a request head, from the moment
    /// the server waits for it (accepting the connection, or answering the
    /// previous request): past it the connection is closed without an
    /// answer. Default 10 s; at least 1 ms. Behind a proxy that keeps
    /// connections open, this also bounds its idle connections (see
    /// [`keep_alive`](Self::keep_alive)).
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// How long a connection may stay idle between requests before it is
    /// closed (default 5 s); `Duration::ZERO` closes each connection after
    /// its response. An idle connection also counts against the
    /// [header timeout](Self::header_read_timeout), which is thus the
    /// longest idle time possible.
    ///
    /// Behind a load balancer that reuses connections, the balancer's idle
    /// timeout must be the shorter one (else it may send a request on a
    /// connection being closed, and answer its client 502): lower it, or
    /// raise both settings above it.
    pub fn keep_alive(mut self, idle: Duration) -> Self {
        self.keep_alive = idle;
        self
    }

    /// The most connections open at once (default 1024, at least 1); more
    /// wait in the listen backlog until one closes. Lowered at start to the
    /// open-file limit less [`RESERVED_FILES`] when that is smaller.
    pub fn max_connections(mut self, connections: usize) -> Self {
        self.max_connections = connections.max(1);
        self
    }

    /// The most header lines in a request (default 100, hyper's); more are
    /// answered 431. At most 100 keeps hyper's parsing on the stack.
    pub fn max_headers(mut self, headers: usize) -> Self {
        self.max_headers = headers.max(1);
        self
    }

    /// The most bytes in a request head, start line included (default
    /// 64 KiB, at least 1 KiB); more are answered 431.
    pub fn max_header_bytes(mut self, bytes: usize) -> Self {
        self.max_header_bytes = bytes.max(1024);
        self
    }

    /// How long graceful shutdown waits for requests in progress before
    /// closing their connections (default 30 s).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// Whether serving starts by raising the open-file soft limit to the
    /// hard limit (default `true`; see [`raise_open_files_limit`]).
    pub fn raise_open_files_limit(mut self, raise: bool) -> Self {
        self.raise_open_files_limit = raise;
        self
    }
}
