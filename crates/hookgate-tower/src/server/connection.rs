//! One connection: the peer address on each request, the idle timer, and
//! graceful shutdown.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use pin_project_lite::pin_project;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;
use tower_service::Service;

use super::{PeerAddr, Server};

/// Where the server is in its life; connections watch it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Serving,
    /// Finish the current request, then close.
    Draining,
    /// Close now: the shutdown timeout passed.
    Closing,
}

/// Adds the peer address to each request, as [`PeerAddr`] and (feature
/// `axum`) axum's `ConnectInfo<SocketAddr>`.
#[derive(Clone)]
pub(crate) struct AddPeer<S> {
    inner: S,
    peer: SocketAddr,
}

impl<S> Service<Request<Incoming>> for AddPeer<S>
where
    S: Service<Request<Incoming>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<Incoming>) -> Self::Future {
        let extensions = req.extensions_mut();
        extensions.insert(PeerAddr(self.peer));
        #[cfg(feature = "axum")]
        extensions.insert(axum::extract::ConnectInfo(self.peer));
        self.inner.call(req)
    }
}

pin_project! {
    /// The connection's socket, noting when bytes last moved either way.
    struct Tracked {
        #[pin]
        stream: TcpStream,
        activity: Arc<Activity>,
    }
}

/// When bytes last moved on a connection, in nanoseconds since it was accepted.
#[derive(Debug)]
struct Activity {
    accepted: Instant,
    last: AtomicU64,
}

impl Activity {
    fn touch(&self) {
        let nanos = u64::try_from(self.accepted.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.last.store(nanos, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.accepted + Duration::from_nanos(self.last.load(Ordering::Relaxed))
    }
}

impl AsyncRead for Tracked {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.project();
        let before = buf.filled().len();
        let polled = this.stream.poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.activity.touch();
        }
        polled
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.project();
        let polled = this.stream.poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.touch();
        }
        polled
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.project();
        let polled = this.stream.poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().stream.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().stream.poll_shutdown(cx)
    }
}

/// The hyper connection builder for `settings`.
pub(crate) fn http1_builder(settings: &Server) -> hyper::server::conn::http1::Builder {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_read_timeout)
        .keep_alive(!settings.keep_alive.is_zero())
        .max_headers(settings.max_headers)
        .max_header_size(settings.max_header_bytes);
    builder
}

/// Serves one connection until it closes, the idle timer closes it, or the
/// server shuts down.
pub(crate) async fn serve_connection<S, B>(
    builder: Arc<hyper::server::conn::http1::Builder>,
    keep_alive: Duration,
    stream: TcpStream,
    peer: SocketAddr,
    service: S,
    mut phase: watch::Receiver<Phase>,
) where
    S: Service<Request<Incoming>, Response = http::Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let activity = Arc::new(Activity {
        accepted: Instant::now(),
        last: AtomicU64::new(0),
    });
    let io = TokioIo::new(Tracked {
        stream,
        activity: Arc::clone(&activity),
    });
    let service = TowerToHyperService::new(AddPeer {
        inner: service,
        peer,
    });
    let conn = builder.serve_connection(io, service).with_upgrades();
    let mut conn = std::pin::pin!(conn);
    // The idle timer: off once keep-alive is disabled for this connection.
    let mut idle_check = (!keep_alive.is_zero()).then(|| Box::pin(tokio::time::sleep(keep_alive)));
    let mut draining = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(error) = result {
                    // A client that went away or sent garbage: routine on the internet.
                    tracing::debug!(%peer, %error, "connection ended with an error");
                }
                return;
            }
            () = async { idle_check.as_mut().expect("checked by the guard").await }, if idle_check.is_some() => {
                let idle_until = activity.last() + keep_alive;
                if Instant::now() >= idle_until {
                    // Closes the connection if it is idle; otherwise it closes
                    // after the response in progress (a slow handler, say).
                    conn.as_mut().graceful_shutdown();
                    idle_check = None;
                } else if let Some(check) = idle_check.as_mut() {
                    check.as_mut().reset(idle_until);
                }
            }
            changed = phase.changed() => {
                // The server is gone: nothing waits for this connection any more.
                let now = if changed.is_err() { Phase::Closing } else { *phase.borrow_and_update() };
                match now {
                    Phase::Serving => {}
                    Phase::Draining => {
                        if !draining {
                            draining = true;
                            conn.as_mut().graceful_shutdown();
                        }
                    }
                    Phase::Closing => return,
                }
            }
        }
    }
}
