//! `hookgate queue` on a PostgreSQL queue: migrations listed, applied, and
//! required before inspecting. Needs the local PostgreSQL (127.0.0.1:5432):
//! skipped with a printed reason when absent, failed when
//! `HOOKGATE_REQUIRE_SERVICES=1`.
#![cfg(feature = "postgres")]

use std::net::TcpStream;
use std::process::{Command, Output};
use std::time::Duration;

const URL: &str = "postgres://postgres@127.0.0.1:5432/test";

fn available() -> bool {
    let addr = "127.0.0.1:5432".parse().expect("address");
    if TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok() {
        return true;
    }
    if std::env::var("HOOKGATE_REQUIRE_SERVICES").as_deref() == Ok("1") {
        panic!("postgres is not reachable at {addr}, and HOOKGATE_REQUIRE_SERVICES=1");
    }
    eprintln!("skipped: postgres is not reachable at {addr}");
    false
}

fn hookgate(config: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hookgate"))
        .args(["queue", "--config"])
        .arg(config)
        .args(args)
        .env("HOOKGATE_TEST_DATABASE", URL)
        .output()
        .expect("run hookgate")
}

/// Drops `schema` and everything in it.
fn drop_schema(schema: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(URL, tokio_postgres::NoTls)
            .await
            .expect("connect");
        tokio::spawn(connection);
        client
            .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
            .await
            .expect("drop the schema");
    });
}

fn stdout(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).expect("utf-8")
}

#[test]
fn migrate_lists_then_applies_and_inspecting_needs_it_first() {
    if !available() {
        return;
    }
    let schema = format!("hgcli_{}", std::process::id());
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("hookgate.toml");
    std::fs::write(
        &config,
        format!(
            "[queue]\npostgres_env = \"HOOKGATE_TEST_DATABASE\"\nschema = \"{schema}\"\n\n\
             [action]\nforward = \"http://127.0.0.1:9000/events\"\n\n\
             [sources.clarife]\nscheme = \"clarife\"\nsecret_env = \"HOOKGATE_SECRET_CLARIFE\"\n"
        ),
    )
    .expect("write the configuration");

    let early = hookgate(&config, &["stats"]);
    assert_eq!(early.status.code(), Some(2));
    let message = String::from_utf8_lossy(&early.stderr);
    assert!(
        message.contains("needs 1 migration(s) first: run `hookgate queue migrate`"),
        "{message}"
    );

    let check = stdout(&hookgate(&config, &["migrate", "--check", "--json"]));
    let check: serde_json::Value = serde_json::from_str(&check).expect("json");
    assert_eq!(check["schema"], schema.as_str());
    assert_eq!(check["pending"][0]["version"], 1);

    let applied = stdout(&hookgate(&config, &["migrate"]));
    assert!(
        applied.contains(&format!("postgres schema {schema}: applied")),
        "{applied}"
    );
    assert!(applied.contains("   1  deliveries"), "{applied}");
    let again = stdout(&hookgate(&config, &["migrate", "--check"]));
    assert_eq!(
        again.trim(),
        format!("postgres schema {schema} is up to date")
    );

    let stats = stdout(&hookgate(&config, &["stats", "--json"]));
    let stats: serde_json::Value = serde_json::from_str(&stats).expect("json");
    assert_eq!(stats["depth"], 0);
    let dead = stdout(&hookgate(&config, &["list", "--dead"]));
    assert_eq!(dead.trim(), "no dead letters");

    drop_schema(&schema);
}

#[test]
fn serve_refuses_a_server_that_answers_commits_before_writing_them() {
    if !available() {
        return;
    }
    let schema = format!("hgcli_durable_{}", std::process::id());
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("hookgate.toml");
    // The same server, with synchronous_commit off for hookgate's sessions.
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n\n\
             [queue]\npostgres = \"{URL}?options=-c%20synchronous_commit%3Doff\"\nschema = \"{schema}\"\n\n\
             [action]\nforward = \"http://127.0.0.1:9000/events\"\n\n\
             [sources.clarife]\nscheme = \"clarife\"\nsecret_env = \"HOOKGATE_SECRET_CLARIFE\"\n"
        ),
    )
    .expect("write the configuration");
    let out = Command::new(env!("CARGO_BIN_EXE_hookgate"))
        .args(["serve", "--config"])
        .arg(&config)
        .env("HOOKGATE_SECRET_CLARIFE", "whsec_test")
        .output()
        .expect("run hookgate serve");
    drop_schema(&schema);
    assert_eq!(out.status.code(), Some(2), "serve must not start");
    let message = String::from_utf8_lossy(&out.stderr);
    assert!(
        message.contains("does not meet durability = \"fsync\"")
            && message.contains("`synchronous_commit` is `off`"),
        "{message}"
    );
    assert!(out.stdout.is_empty(), "never listened");
}
