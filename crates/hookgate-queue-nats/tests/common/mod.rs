//! Finding the test NATS, unique stream names, and cleaning up after a test.

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// The NATS the tests use: `HOOKGATE_NATS_URL`, or the local one.
pub(crate) fn nats_url() -> Option<String> {
    let url =
        std::env::var("HOOKGATE_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned());
    let addr: SocketAddr = url
        .trim_start_matches("nats://")
        .parse()
        .unwrap_or_else(|_| "127.0.0.1:4222".parse().expect("address"));
    if TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok() {
        return Some(url);
    }
    let reason = format!("nats is not reachable at {addr}");
    if std::env::var("HOOKGATE_REQUIRE_SERVICES").as_deref() == Ok("1") {
        panic!("{reason}, and HOOKGATE_REQUIRE_SERVICES=1");
    }
    eprintln!("skipped: {reason} (set HOOKGATE_REQUIRE_SERVICES=1 to fail instead)");
    None
}

/// A stream name no other test run uses.
pub(crate) fn unique_stream(test: &str) -> String {
    format!(
        "HGTEST_{test}_{}_{:08x}",
        std::process::id(),
        rand::random::<u32>()
    )
}

/// Deletes the streams and the bucket of queue `stream`.
pub(crate) async fn delete_queue(url: &str, stream: &str) {
    let client = async_nats::connect(url).await.expect("connect");
    let js = async_nats::jetstream::new(client);
    for name in [stream.to_owned(), format!("{stream}_DEAD")] {
        let _ = js.delete_stream(&name).await;
    }
    let _ = js.delete_key_value(format!("{stream}_STATE")).await;
}
