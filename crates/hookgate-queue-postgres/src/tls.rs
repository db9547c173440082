//! TLS for `sslmode=require`: rustls (ring) under tokio-postgres.
//!
//! A small adapter instead of a TLS glue crate: the queue needs no channel
//! binding (SCRAM without `-PLUS` is what libpq does by default too), and the
//! glue crates bring X.509 parsers for it.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore, crypto};

/// Makes a TLS connection per connection attempt, verifying the server's
/// certificate and name. Without a configuration the connection's `sslmode`
/// is `disable` (see `connect.rs`), so tokio-postgres never asks for TLS.
#[derive(Clone)]
pub(crate) struct Tls {
    config: Option<Arc<ClientConfig>>,
}

impl Tls {
    /// Plain text (`sslmode=disable` or `prefer`).
    pub(crate) fn none() -> Self {
        Self { config: None }
    }

    /// Whether connections are encrypted.
    pub(crate) fn is_on(&self) -> bool {
        self.config.is_some()
    }

    /// TLS trusting the certificates of the PEM file `root_cert` when given,
    /// else the operating system's roots.
    pub(crate) fn rustls(root_cert: Option<&str>) -> Result<Self, String> {
        let mut roots = RootCertStore::empty();
        match root_cert {
            Some(path) => {
                let certs = CertificateDer::pem_file_iter(path)
                    .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                    .map_err(|e| format!("cannot read sslrootcert {path}: {e}"))?;
                for cert in certs {
                    roots
                        .add(cert)
                        .map_err(|e| format!("sslrootcert {path}: {e}"))?;
                }
            }
            None => {
                // A store that fails to load some entries still has the others.
                let native = rustls_native_certs::load_native_certs();
                roots.add_parsable_certificates(native.certs);
            }
        }
        if roots.is_empty() {
            return Err(
                "no trusted root certificate for sslmode=require (install the system's CA \
                 certificates or give sslrootcert=PATH in the URL)"
                    .to_owned(),
            );
        }
        let mut config =
            ClientConfig::builder_with_provider(Arc::new(crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(|e| format!("tls: {e}"))?
                .with_root_certificates(roots)
                .with_no_client_auth();
        // What PostgreSQL 17 expects for direct TLS negotiation; older servers ignore it.
        config.alpn_protocols = vec![b"postgresql".to_vec()];
        Ok(Self {
            config: Some(Arc::new(config)),
        })
    }
}

impl<S> MakeTlsConnect<S> for Tls
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type TlsConnect = RustlsConnect;
    type Error = io::Error;

    fn make_tls_connect(&mut self, domain: &str) -> io::Result<RustlsConnect> {
        let Some(config) = &self.config else {
            return Ok(RustlsConnect { inner: None });
        };
        let name = ServerName::try_from(domain.to_owned())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        Ok(RustlsConnect {
            inner: Some((name, Arc::clone(config))),
        })
    }
}

/// One connection's TLS handshake (`None`: plain text).
pub(crate) struct RustlsConnect {
    inner: Option<(ServerName<'static>, Arc<ClientConfig>)>,
}

impl<S> TlsConnect<S> for RustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<RustlsStream<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            let (name, config) = self.inner.ok_or_else(|| {
                io::Error::new(io::ErrorKind::Unsupported, "tls is off for this queue")
            })?;
            TlsConnector::from(config)
                .connect(name, stream)
                .await
                .map(RustlsStream)
        })
    }
}

/// An established TLS connection.
pub(crate) struct RustlsStream<S>(tokio_rustls::client::TlsStream<S>);

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for RustlsStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for RustlsStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> TlsStream for RustlsStream<S> {
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}
