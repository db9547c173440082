//! `hookgate serve` checks that a server queue keeps what `durability`
//! promises before it answers anything (issue 13, item 5): a Redis without
//! the append-only file, or with a weaker `appendfsync` than asked for, and
//! a NATS stream in memory or with fewer replicas than configured make it
//! refuse to start, naming the setting; the right settings start it.
//!
//! Redis runs privately (`redis-server` on a free port, with the settings
//! under test), since the development machine's shared Redis keeps nothing on
//! disk; NATS is the shared server at 127.0.0.1:4222, with streams of the
//! test's own. Skipped with a printed reason when either is absent, failed
//! when `HOOKGATE_REQUIRE_SERVICES=1`.

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use hookgate_tests::{PrivateRedis, hookgate_bin, service_available, spawn_serve};
use tokio::io::{AsyncBufReadExt, BufReader};

const SECRET: &str = "durability-serve-secret";
const NATS_URL: &str = "nats://127.0.0.1:4222";
/// Only a hang reaches this.
const PATIENCE: Duration = Duration::from_secs(30);

fn config(queue: &str) -> String {
    format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n\n[queue]\n{queue}\n\n\
         [action]\nforward = \"http://127.0.0.1:9/\"\n\n\
         [sources.github]\nscheme = \"github\"\nsecret_env = \"DURABILITY_SECRET\"\n"
    )
}

/// Starts `hookgate serve` on `queue` (its config written to
/// `dir/<name>.toml`), output piped, killed on drop.
fn spawn(dir: &Path, name: &str, queue: &str) -> tokio::process::Child {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, config(queue)).unwrap();
    tokio::process::Command::new(hookgate_bin())
        .args(["serve", "--config"])
        .arg(&path)
        .env("DURABILITY_SECRET", SECRET)
        .env("HOOKGATE_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

/// Runs `hookgate serve` on `queue` and expects it to refuse to start:
/// its output, once it has exited.
async fn refused(dir: &Path, name: &str, queue: &str) -> Output {
    let child = spawn(dir, name, queue);
    let output = tokio::time::timeout(PATIENCE, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("hookgate serve ({name}) kept running"))
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(2),
        "{name}: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        !stdout.contains("listening on"),
        "{name} listened: {stdout}"
    );
    output
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// That `hookgate serve` on `queue` starts and answers `/healthz` 200.
async fn starts(dir: &Path, name: &str, queue: &str) {
    let (mut child, addr) =
        spawn_serve(dir, name, &config(queue), &[("DURABILITY_SECRET", SECRET)]).await;
    let health = reqwest::get(format!("http://{addr}/healthz"))
        .await
        .unwrap();
    assert_eq!(health.status(), 200, "{name}");
    child.kill().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_without_the_append_only_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let Some(redis) = PrivateRedis::start(dir.path(), &["--appendonly", "no"]) else {
        return;
    };
    let queue = format!("redis = \"{}\"", redis.url());
    for (name, durability) in [
        ("default", ""),
        ("process-crash", "durability = \"process-crash\""),
    ] {
        let out = refused(dir.path(), name, &format!("{queue}\n{durability}")).await;
        let err = stderr(&out);
        assert!(err.contains("does not meet durability"), "{name}: {err}");
        assert!(err.contains("appendonly \"no\""), "{name}: {err}");
        assert!(err.contains("set appendonly yes"), "{name}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_fsyncs_every_second_meets_process_crash_only() {
    let dir = tempfile::tempdir().unwrap();
    let Some(redis) = PrivateRedis::start(
        dir.path(),
        &["--appendonly", "yes", "--appendfsync", "everysec"],
    ) else {
        return;
    };
    let queue = format!("redis = \"{}\"", redis.url());
    // "fsync" is the default.
    let out = refused(dir.path(), "fsync", &queue).await;
    let err = stderr(&out);
    assert!(err.contains("durability = \"fsync\""), "{err}");
    assert!(err.contains("appendfsync \"everysec\""), "{err}");
    assert!(err.contains("set appendfsync always"), "{err}");
    starts(
        dir.path(),
        "process-crash",
        &format!("{queue}\ndurability = \"process-crash\""),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_fsyncs_every_write_meets_fsync() {
    let dir = tempfile::tempdir().unwrap();
    let Some(redis) = PrivateRedis::start(
        dir.path(),
        &["--appendonly", "yes", "--appendfsync", "always"],
    ) else {
        return;
    };
    starts(dir.path(), "fsync", &format!("redis = \"{}\"", redis.url())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_does_not_answer_is_not_served_on() {
    let dir = tempfile::tempdir().unwrap();
    // A port nothing listens on: serve cannot know what a 2xx would mean.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = refused(
        dir.path(),
        "down",
        &format!("redis = \"redis://127.0.0.1:{port}\""),
    )
    .await;
    let err = stderr(&out);
    assert!(
        err.contains("cannot check the redis queue's durability"),
        "{err}"
    );
    assert!(err.contains("is redis running"), "{err}");
}

/// Streams named for this test, deleted when it ends.
struct NatsStreams {
    js: async_nats::jetstream::Context,
    name: String,
}

impl NatsStreams {
    async fn new(name: &str) -> Self {
        let client = async_nats::connect(NATS_URL)
            .await
            .expect("connect to nats");
        let name = format!("HGDURABILITY_{name}_{}", std::process::id());
        let streams = NatsStreams {
            js: async_nats::jetstream::new(client),
            name,
        };
        streams.delete().await;
        streams
    }

    async fn delete(&self) {
        for stream in [
            self.name.clone(),
            format!("{}_DEAD", self.name),
            format!("KV_{}_STATE", self.name),
        ] {
            let _ = self.js.delete_stream(&stream).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nats_stream_in_memory_is_refused() {
    if !service_available("nats", "127.0.0.1:4222") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let streams = NatsStreams::new("memory").await;
    // Created by hand (or another tool) before hookgate, which uses it as it is.
    streams
        .js
        .create_stream(async_nats::jetstream::stream::Config {
            name: streams.name.clone(),
            subjects: vec![
                format!("hookgate.{}.work", streams.name),
                format!("hookgate.{}.superseded", streams.name),
            ],
            retention: async_nats::jetstream::stream::RetentionPolicy::WorkQueue,
            storage: async_nats::jetstream::stream::StorageType::Memory,
            ..Default::default()
        })
        .await
        .expect("create the memory stream");
    let out = refused(
        dir.path(),
        "memory",
        &format!("nats = \"{NATS_URL}\"\nstream = \"{}\"", streams.name),
    )
    .await;
    let err = stderr(&out);
    assert!(err.contains(&streams.name), "{err}");
    assert!(err.contains("storage: memory"), "{err}");
    assert!(err.contains("durability = \"process-crash\""), "{err}");
    streams.delete().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nats_stream_with_fewer_replicas_than_configured_is_refused() {
    if !service_available("nats", "127.0.0.1:4222") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let streams = NatsStreams::new("replicas").await;
    let queue = format!("nats = \"{NATS_URL}\"\nstream = \"{}\"", streams.name);
    // The defaults ("process-crash", one replica) are met by the file
    // streams the first start creates (a standalone server: one replica).
    starts(dir.path(), "one", &queue).await;
    let out = refused(dir.path(), "three", &format!("{queue}\nreplicas = 3")).await;
    let err = stderr(&out);
    assert!(
        err.contains("1 replica(s), fewer than the 3 configured"),
        "{err}"
    );
    assert!(err.contains("--replicas 3"), "{err}");
    streams.delete().await;
}

/// NATS's `sync_interval` cannot be read by a client: "fsync" starts, with a
/// warning that says what to check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_with_fsync_starts_with_a_warning_naming_sync_interval() {
    if !service_available("nats", "127.0.0.1:4222") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let streams = NatsStreams::new("fsync").await;
    let mut child = spawn(
        dir.path(),
        "fsync",
        &format!(
            "nats = \"{NATS_URL}\"\nstream = \"{}\"\ndurability = \"fsync\"",
            streams.name
        ),
    );
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let first = tokio::time::timeout(PATIENCE, stdout.next_line())
        .await
        .expect("serve printed its address")
        .unwrap()
        .unwrap_or_default();
    assert!(first.starts_with("listening on http://"), "{first}");
    let started = Instant::now();
    let mut seen = Vec::new();
    loop {
        let line = tokio::time::timeout(PATIENCE, stderr.next_line())
            .await
            .ok()
            .and_then(Result::ok)
            .flatten();
        let Some(line) = line else {
            panic!("no warning about sync_interval: {seen:?}");
        };
        if line.contains("durability not verified") {
            assert!(line.contains("sync_interval: always"), "{line}");
            break;
        }
        seen.push(line);
        assert!(started.elapsed() < PATIENCE, "{seen:?}");
    }
    child.kill().await.unwrap();
    streams.delete().await;
}
