//! Finding the test PostgreSQL, unique schemas, and dropping them after a test.

#![allow(dead_code, unreachable_pub)]

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// The database the tests use: `HOOKGATE_POSTGRES_URL`, or the local one
/// (trust authentication, database `test`).
pub fn postgres_url() -> Option<String> {
    let url = std::env::var("HOOKGATE_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let addr: SocketAddr = url
        .split('@')
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .and_then(|hostport| hostport.parse().ok())
        .unwrap_or_else(|| "127.0.0.1:5432".parse().expect("address"));
    if TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok() {
        return Some(url);
    }
    let reason = format!("postgres is not reachable at {addr}");
    if std::env::var("HOOKGATE_REQUIRE_SERVICES").as_deref() == Ok("1") {
        panic!("{reason}, and HOOKGATE_REQUIRE_SERVICES=1");
    }
    eprintln!("skipped: {reason} (set HOOKGATE_REQUIRE_SERVICES=1 to fail instead)");
    None
}

/// A schema name no other test run uses.
pub fn unique_schema(test: &str) -> String {
    format!(
        "hgtest_{test}_{}_{:08x}",
        std::process::id(),
        rand::random::<u32>()
    )
}

/// A plain connection for checks and clean-up, outside the queue.
pub async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect to the test postgres");
    tokio::spawn(connection);
    client
}

/// Drops `schemas` and everything in them.
pub async fn drop_schemas(url: &str, schemas: &[String]) {
    let client = connect(url).await;
    for schema in schemas {
        client
            .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
            .await
            .expect("drop the test schema");
    }
}
