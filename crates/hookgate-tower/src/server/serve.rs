//! The accept loop and graceful shutdown.

use std::future::{Future, IntoFuture};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use http::Request;
use hyper::body::Incoming;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tower_service::Service;

use super::accept::{Backoff, accept};
use super::connection::{Phase, http1_builder, serve_connection};
use super::limits::{connections_within, open_files_limit};
use super::{Server, raise_open_files_limit};

type Signal = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A server ready to run: `.await` it, after
/// [`with_graceful_shutdown`](Self::with_graceful_shutdown) if it should stop.
/// Made by [`Server::serve`].
#[must_use = "a server does nothing until awaited"]
pub struct Serve<S> {
    settings: Server,
    listener: TcpListener,
    service: S,
    signal: Option<Signal>,
}

impl<S> std::fmt::Debug for Serve<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Serve")
            .field("settings", &self.settings)
            .field("listener", &self.listener)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Serves `service` (an axum `Router`, or any tower service of hyper
    /// requests) on the connections of `listener`, with these settings.
    ///
    /// ```no_run
    /// use hookgate_tower::server::{Server, shutdown_signal};
    ///
    /// # async fn run() -> std::io::Result<()> {
    /// let app = axum::Router::new().route("/", axum::routing::get(|| async { "ok" }));
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
    /// Server::new()
    ///     .serve(listener, app)
    ///     .with_graceful_shutdown(shutdown_signal())
    ///     .await;
    /// # Ok(())
    /// # }
    /// ```
    pub fn serve<S, B>(self, listener: TcpListener, service: S) -> Serve<S>
    where
        S: Service<Request<Incoming>, Response = http::Response<B>> + Clone + Send + 'static,
        S::Future: Send + 'static,
        S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        Serve {
            settings: self,
            listener,
            service,
            signal: None,
        }
    }
}

impl<S> Serve<S> {
    /// The address the server listens on (with the port the system chose, for port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Stops when `signal` completes: no new connections, idle ones closed,
    /// requests in progress answered (for up to the
    /// [shutdown timeout](Server::shutdown_timeout)), then the server's
    /// future completes. [`shutdown_signal`] is SIGTERM or Ctrl-C.
    pub fn with_graceful_shutdown<F>(mut self, signal: F) -> Self
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.signal = Some(Box::pin(signal));
        self
    }
}

impl<S, B> IntoFuture for Serve<S>
where
    S: Service<Request<Incoming>, Response = http::Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Output = ();
    type IntoFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(run(self))
    }
}

async fn run<S, B>(serve: Serve<S>)
where
    S: Service<Request<Incoming>, Response = http::Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let Serve {
        settings,
        listener,
        service,
        signal,
    } = serve;
    if settings.raise_open_files_limit
        && let Err(error) = raise_open_files_limit()
    {
        tracing::info!(%error, "could not raise the open-file limit");
    }
    let max_connections = connections_within(settings.max_connections, open_files_limit());
    if max_connections < settings.max_connections {
        tracing::info!(
            max_connections,
            configured = settings.max_connections,
            "connection limit lowered to fit the open-file limit"
        );
    }
    let builder = Arc::new(http1_builder(&settings));
    let permits = Arc::new(Semaphore::new(max_connections));
    let (phase, _) = watch::channel(Phase::Serving);
    let mut signal = signal.unwrap_or_else(|| Box::pin(std::future::pending()));
    let mut backoff = Backoff::new();

    loop {
        // A permit first: past the limit, connections wait in the backlog.
        let permit = tokio::select! {
            permit = Arc::clone(&permits).acquire_owned() => permit.expect("the semaphore is never closed"),
            () = &mut signal => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = accept(&listener, &mut backoff) => accepted,
            () = &mut signal => break,
        };
        let connection = serve_connection(
            Arc::clone(&builder),
            settings.keep_alive,
            stream,
            peer,
            service.clone(),
            phase.subscribe(),
        );
        tokio::spawn(async move {
            connection.await;
            drop(permit);
        });
    }

    // Graceful shutdown: no new connections; the others finish what they
    // are doing, then close (each returns its permit).
    drop(listener);
    phase.send_replace(Phase::Draining);
    let all = u32::try_from(max_connections).unwrap_or(u32::MAX);
    let drained = tokio::time::timeout(settings.shutdown_timeout, permits.acquire_many(all)).await;
    if drained.is_err() {
        let open = max_connections - permits.available_permits();
        tracing::warn!(
            connections = open,
            timeout_ms = settings.shutdown_timeout.as_millis(),
            "closing connections still open after the shutdown timeout"
        );
        phase.send_replace(Phase::Closing);
    }
}

/// Completes on SIGTERM (what `docker stop`, systemd and Kubernetes send)
/// or Ctrl-C (SIGINT), whichever comes first; a signal that cannot be
/// listened for is left out.
///
/// ```no_run
/// # async fn run(app: axum::Router) -> std::io::Result<()> {
/// use hookgate_tower::server::{Server, shutdown_signal};
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// Server::new().serve(listener, app).with_graceful_shutdown(shutdown_signal()).await;
/// # Ok(())
/// # }
/// ```
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
