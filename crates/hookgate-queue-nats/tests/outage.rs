//! A broker outage: enqueue answers `Unavailable` promptly (never hangs, never
//! claims `Enqueued`), and the queue resumes by itself when NATS is back.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime};

use hookgate_queue::{Enqueue, EnqueueOutcome, NewDelivery, QueueError, QueueErrorKind};
use hookgate_queue_nats::NatsQueue;

const NATS_SERVER: &str = "/usr/sbin/nats-server";
/// Far above the queue's operation timeout: only a hang reaches it.
const HANG: Duration = Duration::from_secs(20);

/// A private, throw-away NATS with JetStream (never the shared one).
struct OwnNats {
    port: u16,
    store: tempfile::TempDir,
    child: Option<Child>,
}

impl OwnNats {
    fn start() -> Option<Self> {
        if !Path::new(NATS_SERVER).exists() {
            let reason = format!("{NATS_SERVER} is not installed");
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
        let mut nats = Self {
            port,
            store: tempfile::tempdir().expect("tempdir"),
            child: None,
        };
        nats.spawn();
        Some(nats)
    }

    fn spawn(&mut self) {
        let child = Command::new(NATS_SERVER)
            .args(["-js", "-a", "127.0.0.1", "-p", &self.port.to_string()])
            .arg("-sd")
            .arg(self.store.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nats-server");
        self.child = Some(child);
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("nats-server did not start on port {}", self.port);
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("kill nats-server");
            child.wait().expect("reap nats-server");
        }
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

impl Drop for OwnNats {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn enqueue(queue: &NatsQueue, id: &str) -> Result<EnqueueOutcome, QueueError> {
    let delivery = NewDelivery::new("clarife", id, SystemTime::now(), &b"{}"[..]);
    tokio::time::timeout(HANG, queue.enqueue(delivery))
        .await
        .expect("enqueue hung during the outage")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_down_means_unavailable_then_service_resumes() {
    let Some(mut nats) = OwnNats::start() else {
        return;
    };
    let queue = NatsQueue::builder(nats.url())
        .operation_timeout(Duration::from_millis(500))
        .connect()
        .await
        .expect("connect");
    assert_eq!(
        enqueue(&queue, "before").await.expect("up"),
        EnqueueOutcome::Enqueued
    );

    nats.kill();
    for i in 0..5 {
        let err = enqueue(&queue, &format!("during-{i}"))
            .await
            .expect_err("nats is down: nothing may be acknowledged");
        assert_eq!(err.kind(), QueueErrorKind::Unavailable, "{err}");
        assert!(
            err.retry_after().is_some(),
            "a Retry-After hint for the 503"
        );
    }

    nats.spawn();
    let mut back = None;
    for _ in 0..100 {
        match enqueue(&queue, "after").await {
            Ok(outcome) => {
                back = Some(outcome);
                break;
            }
            Err(err) => assert_eq!(err.kind(), QueueErrorKind::Unavailable, "{err}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A publish sent while down may have been flushed on reconnect, so the
    // first answer may already be Duplicate; never anything else.
    assert!(
        matches!(
            back,
            Some(EnqueueOutcome::Enqueued | EnqueueOutcome::Duplicate)
        ),
        "the queue did not reconnect: {back:?}"
    );
    assert_eq!(
        enqueue(&queue, "after").await.expect("up"),
        EnqueueOutcome::Duplicate
    );
    assert_eq!(
        enqueue(&queue, "before").await.expect("up"),
        EnqueueOutcome::Duplicate,
        "the stream (on disk) kept the first delivery and its id"
    );
}
