//! Finding the test Redis, unique prefixes, and cleaning up after a test.

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// The Redis the tests use: `HOOKGATE_REDIS_URL`, or the local one.
pub(crate) fn redis_url() -> Option<String> {
    let url =
        std::env::var("HOOKGATE_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let addr: SocketAddr = url
        .trim_start_matches("redis://")
        .split('/')
        .next()
        .and_then(|hostport| hostport.parse().ok())
        .unwrap_or_else(|| "127.0.0.1:6379".parse().expect("address"));
    if TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok() {
        return Some(url);
    }
    let reason = format!("redis is not reachable at {addr}");
    if std::env::var("HOOKGATE_REQUIRE_SERVICES").as_deref() == Ok("1") {
        panic!("{reason}, and HOOKGATE_REQUIRE_SERVICES=1");
    }
    eprintln!("skipped: {reason} (set HOOKGATE_REQUIRE_SERVICES=1 to fail instead)");
    None
}

/// A prefix no other test run uses.
pub(crate) fn unique_prefix(test: &str) -> String {
    format!(
        "hookgate-test:{test}:{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    )
}

/// Deletes every key under `prefix`.
pub(crate) async fn delete_prefix(url: &str, prefix: &str) {
    let client = redis::Client::open(url).expect("url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut conn)
        .await
        .expect("keys");
    if !keys.is_empty() {
        let _: () = redis::cmd("DEL")
            .arg(keys)
            .query_async(&mut conn)
            .await
            .expect("del");
    }
}
