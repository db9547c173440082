//! A broker outage: enqueue answers `Unavailable` promptly (never hangs, never
//! claims `Enqueued`), and the queue resumes by itself when Redis is back.

mod common;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime};

use hookgate_queue::{Enqueue, EnqueueOutcome, NewDelivery, QueueErrorKind};
use hookgate_queue_redis::RedisQueue;

const REDIS_SERVER: &str = "/usr/bin/redis-server";
/// Far above the queue's operation timeout: only a hang reaches it.
const HANG: Duration = Duration::from_secs(20);
/// The Redis database the connection-kill test works in.
const KILL_DB: u32 = 13;

/// A private, throw-away Redis on its own port (never the shared one).
struct OwnRedis {
    port: u16,
    child: Option<Child>,
}

impl OwnRedis {
    fn start() -> Option<Self> {
        if !std::path::Path::new(REDIS_SERVER).exists() {
            let reason = format!("{REDIS_SERVER} is not installed");
            if std::env::var("HOOKGATE_REQUIRE_SERVICES").as_deref() == Ok("1") {
                panic!("{reason}, and HOOKGATE_REQUIRE_SERVICES=1");
            }
            eprintln!("skipped: {reason}");
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let mut redis = Self { port, child: None };
        redis.spawn();
        Some(redis)
    }

    fn spawn(&mut self) {
        let child = Command::new(REDIS_SERVER)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        // Wait until it accepts connections.
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("redis-server did not start on port {}", self.port);
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("kill redis-server");
            child.wait().expect("reap redis-server");
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

fn delivery(id: &str) -> NewDelivery {
    NewDelivery::new("clarife", id, SystemTime::now(), &b"{}"[..])
}

async fn enqueue(
    queue: &RedisQueue,
    id: &str,
) -> Result<EnqueueOutcome, hookgate_queue::QueueError> {
    tokio::time::timeout(HANG, queue.enqueue(delivery(id)))
        .await
        .expect("enqueue hung during the outage")
}

/// Enqueues until Redis answers again; the queue must reconnect by itself.
async fn until_back(queue: &RedisQueue, id: &str) -> EnqueueOutcome {
    for _ in 0..100 {
        match enqueue(queue, id).await {
            Ok(outcome) => return outcome,
            Err(err) => assert_eq!(err.kind(), QueueErrorKind::Unavailable, "{err}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the queue did not reconnect");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_means_unavailable_then_service_resumes() {
    let Some(mut redis) = OwnRedis::start() else {
        return;
    };
    let queue = RedisQueue::builder(redis.url())
        .operation_timeout(Duration::from_millis(500))
        .build()
        .expect("build");
    assert_eq!(
        enqueue(&queue, "before").await.expect("up"),
        EnqueueOutcome::Enqueued
    );

    redis.kill();
    for i in 0..5 {
        let err = enqueue(&queue, &format!("during-{i}"))
            .await
            .expect_err("redis is down: nothing may be acknowledged");
        assert_eq!(err.kind(), QueueErrorKind::Unavailable, "{err}");
        assert!(
            err.retry_after().is_some(),
            "a Retry-After hint for the 503"
        );
    }

    redis.spawn();
    // A fresh Redis (no persistence): the delivery is new to it.
    assert_eq!(until_back(&queue, "after").await, EnqueueOutcome::Enqueued);
    assert_eq!(
        enqueue(&queue, "after").await.expect("up"),
        EnqueueOutcome::Duplicate
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_connection_is_replaced() {
    let Some(url) = common::redis_url() else {
        return;
    };
    // A database no other test uses, so that only our connections are killed.
    let url = format!("{}/{KILL_DB}", url.trim_end_matches('/'));
    let prefix = common::unique_prefix("killed");
    let name = format!("{prefix}-client");
    let queue = RedisQueue::builder(url.clone())
        .prefix(prefix.clone())
        .build()
        .expect("build");
    assert_eq!(
        enqueue(&queue, "a").await.expect("up"),
        EnqueueOutcome::Enqueued
    );

    // Kill the queue's connection: the one in our database that ran a script.
    let client = redis::Client::open(url.as_str()).expect("url");
    let mut admin = client
        .get_multiplexed_async_connection()
        .await
        .expect("admin");
    let _: () = redis::cmd("CLIENT")
        .arg("SETNAME")
        .arg(&name)
        .query_async(&mut admin)
        .await
        .expect("name the admin connection");
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(&mut admin)
        .await
        .expect("client list");
    let ours: Vec<&str> = list
        .lines()
        .filter(|line| line.contains(&format!(" db={KILL_DB} ")))
        .filter(|line| line.contains("cmd=evalsha") || line.contains("cmd=eval "))
        .filter(|line| !line.contains(&format!("name={name}")))
        .filter_map(|line| line.split(' ').find_map(|kv| kv.strip_prefix("id=")))
        .collect();
    assert!(!ours.is_empty(), "our connection is listed");
    for id in ours {
        let _: redis::Value = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("ID")
            .arg(id)
            .query_async(&mut admin)
            .await
            .expect("client kill");
    }

    // The first call may fail (the connection was dropped under it) but only
    // as Unavailable; the queue then reconnects by itself.
    assert_eq!(until_back(&queue, "b").await, EnqueueOutcome::Enqueued);
    assert_eq!(
        enqueue(&queue, "a").await.expect("up"),
        EnqueueOutcome::Duplicate
    );
    common::delete_prefix(&url, &prefix).await;
}

/// A Redis without an append-only file meets no durability: the check
/// refuses it, naming the setting; the queue is still usable (the caller,
/// `hookgate serve`, decides to refuse to start).
#[tokio::test]
async fn a_redis_without_aof_fails_the_durability_check() {
    let Some(redis) = OwnRedis::start() else {
        return;
    };
    let queue = RedisQueue::builder(redis.url())
        .prefix("durability-check")
        .build()
        .unwrap();
    for required in [
        hookgate_queue_redis::Durability::Fsync,
        hookgate_queue_redis::Durability::ProcessCrash,
    ] {
        let err = queue.check_durability(required).await.unwrap_err();
        assert_eq!(err.kind(), QueueErrorKind::Invalid, "{err}");
        assert!(err.to_string().contains("set appendonly yes"), "{err}");
    }
}

/// Near Redis's `maxmemory`, enqueues are refused `Full` before Redis would
/// refuse the queue's own leases and acknowledgements; without `maxmemory`,
/// or with the guard set to 1.0, nothing is checked.
#[tokio::test]
async fn near_maxmemory_enqueues_are_full() {
    let Some(redis) = OwnRedis::start() else {
        return;
    };
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let info: String = redis::cmd("INFO")
        .arg("memory")
        .query_async(&mut conn)
        .await
        .unwrap();
    let used: u64 = info
        .lines()
        .find_map(|line| line.strip_prefix("used_memory:"))
        .and_then(|value| value.trim().parse().ok())
        .expect("used_memory");
    let delivery = |id: &str| NewDelivery::new("clarife", id, SystemTime::now(), &b"{}"[..]);

    // No maxmemory yet: the guard has nothing to compare with.
    let guarded = RedisQueue::builder(redis.url())
        .prefix("memory-guard")
        .max_memory_use(0.5)
        .build()
        .unwrap();
    assert_eq!(
        guarded.enqueue(delivery("d-1")).await.unwrap(),
        EnqueueOutcome::Enqueued
    );

    // Redis now at two thirds of its maxmemory, past the guard's half.
    let () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory")
        .arg((used * 3 / 2).to_string())
        .query_async(&mut conn)
        .await
        .unwrap();
    let fresh = RedisQueue::builder(redis.url())
        .prefix("memory-guard")
        .max_memory_use(0.5)
        .build()
        .unwrap();
    let err = fresh.enqueue(delivery("d-2")).await.unwrap_err();
    assert_eq!(err.kind(), QueueErrorKind::Full, "{err}");
    assert_eq!(
        err.limit(),
        Some(hookgate_queue::StorageLimit::StorageFull),
        "{err}"
    );
    assert!(err.retry_after().is_some(), "{err}");
    assert!(format!("{err:?}").contains("maxmemory"), "{err:?}");

    let unguarded = RedisQueue::builder(redis.url())
        .prefix("memory-guard")
        .max_memory_use(1.0)
        .build()
        .unwrap();
    assert_eq!(
        unguarded.enqueue(delivery("d-3")).await.unwrap(),
        EnqueueOutcome::Enqueued
    );
}

/// A Redis that refuses `INFO` (an ACL without it) does not make every
/// enqueue fail: the guard stands down, Redis's own `maxmemory` remains.
#[tokio::test]
async fn a_redis_refusing_info_still_takes_deliveries() {
    let Some(redis) = OwnRedis::start() else {
        return;
    };
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let () = redis::cmd("ACL")
        .arg("SETUSER")
        .arg("default")
        .arg("-info")
        .query_async(&mut conn)
        .await
        .unwrap();
    let queue = RedisQueue::builder(redis.url())
        .prefix("no-info")
        .max_memory_use(0.5)
        .build()
        .unwrap();
    for id in ["d-1", "d-2"] {
        let delivery = NewDelivery::new("clarife", id, SystemTime::now(), &b"{}"[..]);
        assert_eq!(
            queue.enqueue(delivery).await.unwrap(),
            EnqueueOutcome::Enqueued
        );
    }
}
