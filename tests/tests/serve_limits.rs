//! `hookgate serve` on the open internet: clients that hold connections
//! (a trickling request head, more slow clients than the connection limit,
//! a slow body), and per-source IP allow-lists behind trusted proxies.
//!
//! The binary is the one `cargo test --workspace` built: see
//! [`hookgate_tests::hookgate_bin`].

use std::net::SocketAddr;
use std::time::Duration;

use hookgate_tests::{Sink, signed_github_delivery, spawn_serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A hang guard, not a performance expectation.
const PATIENCE: Duration = Duration::from_secs(60);
const SECRET: &str = "limits-github-secret";
/// The `[server] header_timeout` of these tests.
const HEADER_TIMEOUT: Duration = Duration::from_secs(2);

/// `hookgate serve` listening on `listen`, with `server` added to `[server]`
/// and `source` to `[sources.github]`, forwarding to `sink`.
async fn serve(
    dir: &std::path::Path,
    listen: &str,
    server: &str,
    source: &str,
    sink: SocketAddr,
) -> (tokio::process::Child, SocketAddr) {
    let config = format!(
        "[server]\nlisten = \"{listen}\"\n{server}\n\n[queue]\nsqlite = \"queue.db\"\n\n\
         [workers]\npoll_interval = \"20ms\"\n\n[action]\nforward = \"http://{sink}/github\"\n\n\
         [sources.github]\nscheme = \"github\"\nsecret_env = \"LIMITS_SECRET\"\n{source}\n"
    );
    spawn_serve(dir, "limits", &config, &[("LIMITS_SECRET", SECRET)]).await
}

async fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return seen,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

/// Posts delivery `d-<n>` to `addr` with `extra` headers (forwarding headers).
async fn post(addr: SocketAddr, n: usize, extra: &[(&str, &str)]) -> reqwest::Response {
    let (mut headers, body) = signed_github_delivery(n, SECRET);
    for (name, value) in extra {
        headers.append(
            reqwest::header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    let host = match addr {
        SocketAddr::V4(_) => addr.to_string(),
        SocketAddr::V6(v6) => format!("[{}]:{}", v6.ip(), v6.port()),
    };
    reqwest::Client::new()
        .post(format!("http://{host}/hooks/github"))
        .headers(headers)
        .body(body)
        .send()
        .await
        .unwrap()
}

/// Waits until the sink was handed `d-<n>`, then returns every id it was handed.
async fn handled(sink: &Sink, n: usize) -> Vec<String> {
    let wanted = format!("d-{n}");
    tokio::time::timeout(PATIENCE, async {
        loop {
            let (by_id, _) = sink.counts();
            if by_id.contains_key(&wanted) {
                let mut ids: Vec<String> = by_id.into_keys().collect();
                ids.sort();
                return ids;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{wanted} was never forwarded"))
}

#[tokio::test]
async fn slow_clients_lose_their_connections_and_deliveries_keep_flowing() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Sink::default();
    let sink_addr = sink.start().await;
    let (_child, addr) = serve(
        dir.path(),
        "127.0.0.1:0",
        "header_timeout = \"2s\"\nmax_connections = 4",
        "read_timeout = \"1s\"",
        sink_addr,
    )
    .await;

    // A request head trickling in, one byte every 0.5 s, is closed within
    // the header timeout plus 1 s.
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    writer
        .write_all(b"POST /hooks/github HTTP/1.1\r\nhost: 127.0.0.1\r\nx-trickle: ")
        .await
        .unwrap();
    let trickle = tokio::spawn(async move {
        for _ in 0..40 {
            tokio::time::sleep(Duration::from_millis(500)).await;
            if writer.write_all(b"a").await.is_err() {
                break;
            }
        }
    });
    let closed = tokio::time::timeout(HEADER_TIMEOUT + Duration::from_secs(1), async {
        let mut buf = [0u8; 64];
        // EOF or a reset; never an answer.
        if let Ok(n) = reader.read(&mut buf).await {
            assert_eq!(n, 0, "the trickling client got an answer");
        }
    })
    .await;
    trickle.abort();
    assert!(closed.is_ok(), "the trickling connection was still open");

    // Ten slow clients, more than the 4 connections allowed: a delivery on
    // a fresh connection waits for a slot and is acknowledged.
    let mut slow = Vec::new();
    for _ in 0..10 {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"POST /hooks/github HTTP/1.1\r\nhost: 127.0.0.1\r\n")
            .await
            .unwrap();
        slow.push(stream);
    }
    let answer = tokio::time::timeout(PATIENCE, post(addr, 1, &[]))
        .await
        .expect("the delivery behind slow clients was never answered");
    assert_eq!(answer.status(), 200);
    assert_eq!(handled(&sink, 1).await, ["d-1"]);
    for mut stream in slow {
        let seen = tokio::time::timeout(PATIENCE, read_until_closed(&mut stream))
            .await
            .expect("a slow client kept its connection");
        assert!(seen.is_empty(), "{:?}", String::from_utf8_lossy(&seen));
    }

    // A body that arrives too slowly is still refused with 408.
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            b"POST /hooks/github HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: 100\r\n\
              connection: close\r\n\r\n{\"a\":",
        )
        .await
        .unwrap();
    let seen = tokio::time::timeout(PATIENCE, read_until_closed(&mut stream))
        .await
        .expect("the slow body was never answered");
    let answer = String::from_utf8_lossy(&seen);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
}

/// The client is behind two trusted proxies (127.0.0.1, the peer here, and
/// 10.0.0.0/8): its address is read from `X-Forwarded-For` / `Forwarded`
/// right to left. Refusals are 403 problem+json, and nothing is queued.
#[tokio::test]
async fn allow_ips_through_a_chain_of_trusted_proxies() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Sink::default();
    let sink_addr = sink.start().await;
    let (_child, addr) = serve(
        dir.path(),
        "127.0.0.1:0",
        "trusted_proxies = [\"127.0.0.0/8\", \"10.0.0.0/8\"]",
        "allow_ips = [\"192.30.252.0/22\", \"2001:db8::/32\"]",
        sink_addr,
    )
    .await;

    let refused = [
        // No forwarding header: the client is the proxy itself.
        (2, vec![]),
        // A client outside the list, behind both proxies.
        (3, vec![("x-forwarded-for", "198.51.100.7, 10.1.2.3")]),
        // A client that wrote an allowed address first: the walk stops at its real one.
        (
            4,
            vec![("x-forwarded-for", "192.30.252.7, 198.51.100.7, 10.1.2.3")],
        ),
        // Unreadable, or the two headers disagreeing.
        (5, vec![("x-forwarded-for", "unknown, 10.1.2.3")]),
        (
            6,
            vec![
                ("x-forwarded-for", "192.30.252.7"),
                ("forwarded", "for=198.51.100.7"),
            ],
        ),
    ];
    for (n, headers) in &refused {
        let answer = post(addr, *n, headers).await;
        assert_eq!(answer.status(), 403, "{headers:?}");
        assert_eq!(
            answer.headers()["content-type"],
            "application/problem+json",
            "{headers:?}"
        );
    }
    let allowed = [
        (7, vec![("x-forwarded-for", "192.30.252.7, 10.1.2.3")]),
        (
            8,
            vec![(
                "forwarded",
                "for=\"[2001:db8::7]:4711\";proto=https, for=10.1.2.3",
            )],
        ),
    ];
    for (n, headers) in &allowed {
        let answer = post(addr, *n, headers).await;
        assert_eq!(answer.status(), 200, "{headers:?}");
    }
    // Only the allowed deliveries were queued and handled.
    handled(&sink, 7).await;
    assert_eq!(handled(&sink, 8).await, ["d-7", "d-8"]);
}

/// A peer that is not a trusted proxy cannot name another client: its
/// `X-Forwarded-For` is ignored and its own address checked, over IPv6 too.
#[tokio::test]
async fn a_spoofed_forwarding_header_from_an_untrusted_peer_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Sink::default();
    let sink_addr = sink.start().await;
    let (_v4, addr) = serve(
        dir.path(),
        "127.0.0.1:0",
        "trusted_proxies = [\"10.0.0.0/8\"]",
        "allow_ips = [\"192.30.252.0/22\", \"::1\"]",
        sink_addr,
    )
    .await;
    for spoofed in [
        ("x-forwarded-for", "192.30.252.7"),
        ("forwarded", "for=192.30.252.7"),
    ] {
        let answer = post(addr, 11, &[spoofed]).await;
        assert_eq!(answer.status(), 403, "{spoofed:?}");
        let problem: serde_json::Value = answer.json().await.unwrap();
        assert_eq!(problem["type"], "urn:hookgate:problem:client_not_allowed");
        assert_eq!(
            problem["detail"],
            "client address 127.0.0.1 is not allowed on this webhook route"
        );
    }

    // The same receiver over IPv6: ::1 is on the list.
    let dir6 = tempfile::tempdir().unwrap();
    let (_v6, addr6) = serve(
        dir6.path(),
        "[::1]:0",
        "trusted_proxies = [\"10.0.0.0/8\"]",
        "allow_ips = [\"192.30.252.0/22\", \"::1\"]",
        sink_addr,
    )
    .await;
    let answer = post(addr6, 12, &[("x-forwarded-for", "198.51.100.7")]).await;
    assert_eq!(answer.status(), 200);
    // Nothing from the refused requests reached the sink.
    assert_eq!(handled(&sink, 12).await, ["d-12"]);
}

/// SIGTERM (what `docker stop`, systemd and Kubernetes send) stops the
/// server gracefully: the delivery being received is still acknowledged,
/// then the process exits with success.
#[cfg(unix)]
#[tokio::test]
async fn sigterm_lets_the_delivery_in_progress_finish() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Sink::default();
    let sink_addr = sink.start().await;
    let (mut child, addr) = serve(dir.path(), "127.0.0.1:0", "", "", sink_addr).await;

    let (headers, body) = signed_github_delivery(21, SECRET);
    let mut head = format!(
        "POST /hooks/github HTTP/1.1\r\nhost: {addr}\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (name, value) in &headers {
        head.push_str(&format!("{name}: {}\r\n", value.to_str().unwrap()));
    }
    head.push_str("\r\n");
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    let (first, rest) = body.split_at(body.len() / 2);
    stream.write_all(first).await.unwrap();
    // Once the server has started receiving, the signal arrives mid-body.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let pid = child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    tokio::time::sleep(Duration::from_millis(200)).await;
    stream.write_all(rest).await.unwrap();

    let answer = tokio::time::timeout(PATIENCE, read_until_closed(&mut stream))
        .await
        .expect("the delivery in progress was never answered");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let status = tokio::time::timeout(PATIENCE, child.wait())
        .await
        .expect("hookgate serve did not stop")
        .unwrap();
    assert!(status.success(), "{status:?}");
}

/// A sink that holds each forward until released: tells `arrived` the
/// delivery id, waits for `release`, then answers 200.
#[derive(Clone)]
struct HeldSink {
    arrived: tokio::sync::mpsc::UnboundedSender<String>,
    release: tokio::sync::watch::Receiver<bool>,
}

async fn held(
    axum::extract::State(sink): axum::extract::State<HeldSink>,
    headers: axum::http::HeaderMap,
) -> axum::http::StatusCode {
    let id = headers
        .get("hookgate-delivery-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let _ = sink.arrived.send(id);
    let mut release = sink.release.clone();
    let _ = release.wait_for(|released| *released).await;
    axum::http::StatusCode::OK
}

/// SIGTERM while the workers (on their own thread, the default) forward a
/// delivery: the attempt finishes within `shutdown_timeout`, is recorded as
/// done, and the process exits with success, leaving an empty queue.
#[cfg(unix)]
#[tokio::test]
async fn sigterm_lets_the_attempt_in_progress_finish() {
    let dir = tempfile::tempdir().unwrap();
    let (arrived_tx, mut arrived) = tokio::sync::mpsc::unbounded_channel();
    let (release_tx, release) = tokio::sync::watch::channel(false);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sink_addr = listener.local_addr().unwrap();
    let app = axum::Router::new()
        .route("/github", axum::routing::post(held))
        .with_state(HeldSink {
            arrived: arrived_tx,
            release,
        });
    tokio::spawn(async move { axum::serve(listener, app).await });
    let (mut child, addr) = serve(dir.path(), "127.0.0.1:0", "", "", sink_addr).await;

    assert_eq!(post(addr, 41, &[]).await.status(), 200);
    let id = tokio::time::timeout(PATIENCE, arrived.recv())
        .await
        .expect("the delivery was never forwarded")
        .unwrap();
    assert_eq!(id, "d-41");
    let pid = child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    // Answered once the signal has arrived (the default shutdown_timeout
    // is 10 s, the hold is much shorter).
    tokio::time::sleep(Duration::from_millis(200)).await;
    release_tx.send(true).unwrap();
    let status = tokio::time::timeout(PATIENCE, child.wait())
        .await
        .expect("hookgate serve did not stop")
        .unwrap();
    assert!(status.success(), "{status:?}");

    let queue = hookgate_queue::SqliteQueue::open(dir.path().join("queue.db")).unwrap();
    let stats = hookgate_queue::Queue::stats(&queue).await.unwrap();
    assert_eq!(
        (stats.ready, stats.leased, stats.scheduled, stats.dead),
        (0, 0, 0, 0),
        "the attempt was recorded as done, not handed back"
    );
}
