//! The server through real sockets on 127.0.0.1.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::routing::{get, post};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::{PeerAddr, Server};

/// A hang guard, not a performance expectation.
const PATIENCE: Duration = Duration::from_secs(30);

fn app() -> axum::Router {
    axum::Router::new()
        .route(
            "/peer",
            get(
                |ConnectInfo(connect): ConnectInfo<SocketAddr>,
                 axum::Extension(PeerAddr(peer)): axum::Extension<PeerAddr>| async move {
                    assert_eq!(connect, peer);
                    peer.to_string()
                },
            ),
        )
        .route(
            "/slow",
            post(|| async {
                tokio::time::sleep(Duration::from_millis(300)).await;
                "done"
            }),
        )
}

/// Serves `app()` with `server` until `stop` is notified; returns the address
/// and the server's task.
async fn start(
    server: Server,
    stop: Option<tokio::sync::oneshot::Receiver<()>>,
) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let serve = server.raise_open_files_limit(false).serve(listener, app());
    let addr = serve.local_addr().unwrap();
    let serve = match stop {
        Some(stop) => serve.with_graceful_shutdown(async {
            let _ = stop.await;
        }),
        None => serve,
    };
    (addr, tokio::spawn(serve.into_future()))
}

use std::future::IntoFuture as _;

/// Reads until the server closes the connection (EOF or a reset).
async fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    tokio::time::timeout(PATIENCE, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .expect("the server did not close the connection");
    seen
}

async fn get_peer(addr: SocketAddr) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /peer HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let local = stream.local_addr().unwrap();
    let answer = String::from_utf8(read_to_close(&mut stream).await).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with(&local.to_string()), "{answer}");
    answer
}

#[tokio::test]
async fn handlers_see_the_peer_address_as_peer_addr_and_connect_info() {
    let (addr, _server) = start(Server::new(), None).await;
    get_peer(addr).await;
}

#[tokio::test]
async fn a_request_head_that_trickles_loses_its_connection() {
    let (addr, _server) = start(
        Server::new().header_read_timeout(Duration::from_millis(500)),
        None,
    )
    .await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"POST /slow HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    let trickle = async {
        loop {
            if stream.write_all(b"x").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(PATIENCE, trickle)
        .await
        .expect("the trickling connection was never closed");
    // Closed without an answer.
    assert!(read_to_close(&mut stream).await.is_empty());
}

#[tokio::test]
async fn an_idle_connection_is_closed_after_keep_alive() {
    // The header timeout, which also runs while idle, is past the test's patience.
    let server = Server::new()
        .keep_alive(Duration::from_millis(200))
        .header_read_timeout(PATIENCE * 2);
    let (addr, _server) = start(server, None).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /peer HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let answer = String::from_utf8(read_to_close(&mut stream).await).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn too_many_headers_are_answered_431() {
    let (addr, _server) = start(Server::new().max_headers(8), None).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut request = b"GET /peer HTTP/1.1\r\nhost: x\r\n".to_vec();
    for i in 0..10 {
        request.extend_from_slice(format!("x-h{i}: v\r\n").as_bytes());
    }
    request.extend_from_slice(b"\r\n");
    stream.write_all(&request).await.unwrap();
    let answer = String::from_utf8(read_to_close(&mut stream).await).unwrap();
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");

    let (addr, _server) = start(Server::new().max_header_bytes(2048), None).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let big = format!(
        "GET /peer HTTP/1.1\r\nhost: x\r\nx-big: {}\r\n\r\n",
        "a".repeat(4096)
    );
    stream.write_all(big.as_bytes()).await.unwrap();
    let answer = String::from_utf8(read_to_close(&mut stream).await).unwrap();
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
}

#[tokio::test]
async fn past_the_connection_limit_a_new_client_waits_for_a_slot_and_is_answered() {
    let (addr, _server) = start(
        Server::new()
            .max_connections(2)
            .header_read_timeout(Duration::from_millis(500)),
        None,
    )
    .await;
    // Two connections that never send a request hold both slots ...
    let mut idle = Vec::new();
    for _ in 0..2 {
        idle.push(TcpStream::connect(addr).await.unwrap());
    }
    // ... until the header timeout closes them; the third is then answered.
    tokio::time::timeout(PATIENCE, get_peer(addr))
        .await
        .expect("the waiting client was never answered");
    for mut stream in idle {
        assert!(read_to_close(&mut stream).await.is_empty());
    }
}

#[tokio::test]
async fn graceful_shutdown_answers_the_request_in_progress_then_stops() {
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let (addr, server) = start(Server::new(), Some(stopped)).await;
    let mut busy = TcpStream::connect(addr).await.unwrap();
    busy.write_all(b"POST /slow HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n")
        .await
        .unwrap();
    // An idle keep-alive connection is closed at once.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET /peer HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 512];
    let n = idle.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    tokio::time::sleep(Duration::from_millis(50)).await;
    stop.send(()).unwrap();
    let answer = String::from_utf8(read_to_close(&mut busy).await).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("done"), "{answer}");
    assert!(read_to_close(&mut idle).await.is_empty());
    tokio::time::timeout(PATIENCE, server)
        .await
        .expect("the server did not stop")
        .unwrap();
    // No longer listening.
    assert!(TcpStream::connect(addr).await.is_err());
}
