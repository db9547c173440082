//! What the conformance suite does not cover: migrations racing, group
//! commit, wake-ups across handles, lease extension, pruning, the
//! durability check and TLS, against the real server.

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use hookgate_queue::{
    Clock, Enqueue, EnqueueOutcome, LeaseId, LeaseRequest, ManualClock, NewDelivery, Queue,
    QueueErrorKind,
};
use hookgate_queue_postgres::{Durability, MIGRATIONS, PostgresQueue};

/// Far above anything these tests wait for: only a hang reaches it.
const HANG: Duration = Duration::from_secs(20);

fn delivery(id: &str) -> NewDelivery {
    NewDelivery::new("clarife", id, SystemTime::now(), &b"{}"[..])
}

/// Drops the schemas when the test ends, passed or not.
struct Schemas {
    url: String,
    names: Vec<String>,
}

impl Schemas {
    fn new(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            names: Vec::new(),
        }
    }

    fn add(&mut self, test: &str) -> String {
        let name = common::unique_schema(test);
        self.names.push(name.clone());
        name
    }

    async fn drop_all(self) {
        common::drop_schemas(&self.url, &self.names).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receivers_starting_together_migrate_a_fresh_schema_once() {
    let Some(url) = common::postgres_url() else {
        return;
    };
    let mut schemas = Schemas::new(&url);
    let schema = schemas.add("race");
    // Four receivers start at the same moment on a schema that does not exist.
    let start = Arc::new(tokio::sync::Barrier::new(4));
    let mut receivers = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let (url, schema, start) = (url.clone(), schema.clone(), Arc::clone(&start));
        receivers.spawn(async move {
            start.wait().await;
            PostgresQueue::builder(url).schema(schema).connect().await
        });
    }
    let mut queues = Vec::new();
    while let Some(opened) = receivers.join_next().await {
        queues.push(opened.expect("task").expect("every receiver starts"));
    }
    let client = common::connect(&url).await;
    let versions: Vec<i32> = client
        .query(
            &format!("SELECT version FROM \"{schema}\".schema_migrations ORDER BY version"),
            &[],
        )
        .await
        .expect("migrations table")
        .iter()
        .map(|row| row.get(0))
        .collect();
    let expected: Vec<i32> = MIGRATIONS.iter().map(|m| m.version as i32).collect();
    assert_eq!(versions, expected, "each migration applied exactly once");
    for queue in &queues {
        assert!(
            queue
                .pending_migrations()
                .await
                .expect("pending")
                .is_empty()
        );
    }
    // They all work on the one queue.
    assert_eq!(
        queues[0].enqueue(delivery("a")).await.unwrap(),
        EnqueueOutcome::Enqueued
    );
    assert_eq!(
        queues[3].enqueue(delivery("a")).await.unwrap(),
        EnqueueOutcome::Duplicate
    );
    drop(queues);
    schemas.drop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_are_listed_applied_and_a_newer_schema_is_refused() {
    let Some(url) = common::postgres_url() else {
        return;
    };
    let mut schemas = Schemas::new(&url);
    let schema = schemas.add("migrate");
    let queue = PostgresQueue::builder(&url)
        .schema(&schema)
        .migrate(false)
        .prune_interval(None)
        .connect()
        .await
        .expect("connect without migrating");
    let pending = queue.pending_migrations().await.expect("pending");
    assert_eq!(pending, MIGRATIONS);
    let err = queue.stats().await.expect_err("no tables yet");
    assert_eq!(err.kind(), QueueErrorKind::Storage, "{err}");
    assert_eq!(queue.migrate().await.expect("migrate"), MIGRATIONS);
    assert!(
        queue.migrate().await.expect("again").is_empty(),
        "idempotent"
    );
    assert_eq!(queue.stats().await.expect("stats").depth(), 0);

    // A newer hookgate migrated the schema: this one must not touch it.
    let client = common::connect(&url).await;
    client
        .execute(
            &format!(
                "INSERT INTO \"{schema}\".schema_migrations (version, name) VALUES (999, 'future')"
            ),
            &[],
        )
        .await
        .expect("pretend a newer version");
    let err = PostgresQueue::builder(&url)
        .schema(&schema)
        .connect()
        .await
        .expect_err("newer schema");
    assert_eq!(err.kind(), QueueErrorKind::Invalid);
    assert!(err.to_string().contains("version 999"), "{err}");

    let bad = PostgresQueue::builder(&url)
        .schema("Not-A-Schema")
        .connect()
        .await
        .expect_err("bad schema name");
    assert!(bad.to_string().contains("postgres schema name"), "{bad}");
    drop(queue);
    schemas.drop_all().await;
}

// A current-thread runtime runs the writer only once the test task waits,
// so every enqueue below is in the channel by then: one batch.
#[tokio::test(flavor = "current_thread")]
async fn concurrent_enqueues_share_one_commit() {
    let Some(url) = common::postgres_url() else {
        return;
    };
    let mut schemas = Schemas::new(&url);
    let schema = schemas.add("group");
    let queue = Arc::new(
        PostgresQueue::builder(&url)
            .schema(&schema)
            .prune_interval(None)
            .connect()
            .await
            .expect("connect"),
    );
    let mut producers = tokio::task::JoinSet::new();
    for i in 0..64 {
        let queue = Arc::clone(&queue);
        producers.spawn(async move { queue.enqueue(delivery(&format!("evt-{i}"))).await });
    }
    // The same key twice in one batch: stored once.
    let queue_copy = Arc::clone(&queue);
    producers.spawn(async move { queue_copy.enqueue(delivery("evt-7")).await });
    let (mut enqueued, mut duplicates) = (0, 0);
    while let Some(done) = producers.join_next().await {
        match done.expect("task").expect("enqueue") {
            EnqueueOutcome::Enqueued => enqueued += 1,
            EnqueueOutcome::Duplicate => duplicates += 1,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!((enqueued, duplicates), (64, 1));
    let client = common::connect(&url).await;
    let row = client
        .query_one(
            &format!("SELECT count(*), count(DISTINCT xmin::text) FROM \"{schema}\".deliveries"),
            &[],
        )
        .await
        .expect("count");
    let (rows, transactions): (i64, i64) = (row.get(0), row.get(1));
    assert_eq!(rows, 64);
    assert_eq!(transactions, 1, "64 enqueues, one transaction");
    drop(queue);
    schemas.drop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enqueue_through_another_handle_wakes_an_idle_worker() {
    let Some(url) = common::postgres_url() else {
        return;
    };
    let mut schemas = Schemas::new(&url);
    let schema = schemas.add("wake");
    let open = || {
        PostgresQueue::builder(&url)
            .schema(&schema)
            .prune_interval(None)
            .connect()
    };
    // Two handles, as two receivers: only the database connects them.
    let worker_side = open().await.expect("connect");
    let producer_side = open().await.expect("connect");
    let mut wakeups = worker_side.wakeups();
    // The listener's (re)connection wakes once: it may have missed something.
    tokio::time::timeout(HANG, wakeups.ready())
        .await
        .expect("the listener connects");
    assert!(
        worker_side
            .lease(LeaseRequest::new(10, Duration::from_secs(30)))
            .await
            .expect("lease")
            .is_empty()
    );
    producer_side.enqueue(delivery("a")).await.expect("enqueue");
    tokio::time::timeout(HANG, wakeups.ready())
        .await
        .expect("woken by NOTIFY, not by polling");
    let leased = worker_side
        .lease(LeaseRequest::new(10, Duration::from_secs(30)))
        .await
        .expect("lease");
    assert_eq!(leased.len(), 1);

    // A release makes it ready again: that wakes too.
    producer_side
        .release(leased[0].lease.clone())
        .await
        .expect("release");
    tokio::time::timeout(HANG, wakeups.ready())
        .await
        .expect("woken by the release");
    drop((worker_side, producer_side));
    schemas.drop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_statement_extends_held_leases_and_answers_lost_for_the_others() {
    let Some(url) = common::postgres_url() else {
        return;
    };
    let mut schemas = Schemas::new(&url);
    let clock = ManualClock::default();
    let queue = PostgresQueue::builder(&url)
        .schema(schemas.add("extend"))
        .clock(clock.clone())
        .prune_interval(None)
        .connect()
        .await
        .expect("connect");
    queue.enqueue(delivery("long")).await.expect("enqueue");
    let short = Duration::from_secs(2);
    let leased = queue
        .lease(LeaseRequest::new(1, short))
        .await
        .expect("lease")
        .pop()
        .expect("leased");
    let minute = Duration::from_secs(60);
    let extended = queue
        .extend(
            vec![
                leased.lease.clone(),
                LeaseId::new("not-ours"),
                LeaseId::new("999999.1"),
            ],
            minute,
        )
        .await
        .expect("extend");
    assert_eq!(extended.len(), 3, "one answer per lease, in order");
    assert_eq!(extended[0].as_ref().ok(), Some(&(clock.now() + minute)));
    for lost in &extended[1..] {
        assert_eq!(lost.as_ref().unwrap_err().kind(), QueueErrorKind::LeaseLost);
    }
    clock.advance(Duration::from_secs(30));
    assert!(
        queue
            .lease(LeaseRequest::new(1, short))
            .await
            .expect("lease")
            .is_empty(),
        "the extended lease still holds after three times its visibility"
    );
    clock.advance(Duration::from_secs(31));
    let again = queue
        .lease(LeaseRequest::new(1, short))
        .await
        .expect("lease")
        .pop()
        .expect("expired at last");
    let both = queue
        .extend(vec![leased.lease.clone(), again.lease.clone()], minute)
        .await
        .expect("extend");
    assert_eq!(
        both[0].as_ref().unwrap_err().kind(),
        QueueErrorKind::LeaseLost,
        "the stale lease"
    );
    assert!(both[1].is_ok(), "the new lease");
    queue
        .ack(again.lease.clone())
        .await
        .expect("the new lease holds");
    let gone = queue
        .extend(vec![again.lease], minute)
        .await
        .expect("extend");
    assert_eq!(
        gone[0].as_ref().unwrap_err().kind(),
        QueueErrorKind::LeaseLost,
        "acknowledged"
    );
    drop(queue);
    schemas.drop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_dedup_keys_are_pruned_and_live_ones_kept() {
    let Some(url) = common::postgres_url() else {
        return;
    };
    let mut schemas = Schemas::new(&url);
    let schema = schemas.add("prune");
    let clock = ManualClock::default();
    let queue = PostgresQueue::builder(&url)
        .schema(&schema)
        .clock(clock.clone())
        .dedup_window(Duration::from_secs(3600))
        .prune_interval(None)
        .connect()
        .await
        .expect("connect");
    for id in ["a", "b", "c"] {
        queue.enqueue(delivery(id)).await.expect("enqueue");
    }
    clock.advance(Duration::from_secs(1800));
    queue.enqueue(delivery("d")).await.expect("enqueue");
    assert_eq!(
        queue.prune_seen().await.expect("prune"),
        0,
        "all within the window"
    );
    clock.advance(Duration::from_secs(1801));
    assert_eq!(
        queue.prune_seen().await.expect("prune"),
        3,
        "a, b and c expired"
    );
    let client = common::connect(&url).await;
    let left: i64 = client
        .query_one(&format!("SELECT count(*) FROM \"{schema}\".seen"), &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(left, 1, "d is still within its window");
    assert_eq!(
        queue.enqueue(delivery("d")).await.expect("enqueue"),
        EnqueueOutcome::Duplicate
    );
    drop(queue);
    schemas.drop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_durability_check_names_the_setting_that_is_off() {
    let Some(url) = common::postgres_url() else {
        return;
    };
    let mut schemas = Schemas::new(&url);
    let queue = PostgresQueue::builder(&url)
        .schema(schemas.add("durable"))
        .prune_interval(None)
        .connect()
        .await
        .expect("connect");
    queue
        .check_durability(Durability::Fsync)
        .await
        .expect("the local server commits with fsync");

    // The same server, with synchronous_commit off for these sessions only.
    let separator = if url.contains('?') { '&' } else { '?' };
    let relaxed = PostgresQueue::builder(format!(
        "{url}{separator}options=-c%20synchronous_commit%3Doff"
    ))
    .schema(queue.schema())
    .prune_interval(None)
    .connect()
    .await
    .expect("connect");
    for level in [Durability::Fsync, Durability::ProcessCrash] {
        let err = relaxed
            .check_durability(level)
            .await
            .expect_err("synchronous_commit is off");
        assert_eq!(err.kind(), QueueErrorKind::Invalid);
        assert!(
            err.to_string().contains("`synchronous_commit` is `off`"),
            "{err}"
        );
    }
    drop((queue, relaxed));
    schemas.drop_all().await;
}

const SNAKEOIL: &str = "/etc/ssl/certs/ssl-cert-snakeoil.pem";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslmode_require_encrypts_and_verifies_the_servers_name() {
    let Some(url) = common::postgres_url() else {
        return;
    };
    // Debian's PostgreSQL serves TLS with a self-signed certificate for
    // `localhost`; trusting it, `localhost` verifies and 127.0.0.1 does not.
    if !std::path::Path::new(SNAKEOIL).exists() || !url.contains("@127.0.0.1:5432/") {
        eprintln!("skipped: needs the local server and its certificate {SNAKEOIL}");
        return;
    }
    let mut schemas = Schemas::new(&url);
    let schema = schemas.add("tls");
    let over_tls = url.replace("@127.0.0.1:", "@localhost:")
        + &format!("?sslmode=verify-full&sslrootcert={SNAKEOIL}");
    let queue = PostgresQueue::builder(&over_tls)
        .schema(&schema)
        .prune_interval(None)
        .connect()
        .await
        .expect("TLS to localhost with its certificate trusted");
    assert!(queue.uses_tls());
    assert_eq!(
        queue.enqueue(delivery("tls")).await.expect("enqueue"),
        EnqueueOutcome::Enqueued
    );
    let client = common::connect(&url).await;
    let encrypted: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid)
             WHERE ssl AND application_name = 'hookgate'",
            &[],
        )
        .await
        .expect("pg_stat_ssl")
        .get(0);
    assert!(encrypted >= 1, "the queue's connections are encrypted");

    let wrong_name =
        PostgresQueue::builder(format!("{url}?sslmode=require&sslrootcert={SNAKEOIL}"))
            .schema(&schema)
            .connect()
            .await
            .expect_err("the certificate is for localhost, not 127.0.0.1");
    assert_eq!(wrong_name.kind(), QueueErrorKind::Unavailable);
    drop(queue);
    schemas.drop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nul_characters_are_refused_or_replaced_never_fail_a_batch() {
    let Some(url) = common::postgres_url() else {
        return;
    };
    let mut schemas = Schemas::new(&url);
    let queue = Arc::new(
        PostgresQueue::builder(&url)
            .schema(schemas.add("nul"))
            .prune_interval(None)
            .connect()
            .await
            .expect("connect"),
    );
    // An id read from a JSON body can hold "\u0000"; header values cannot.
    let hostile = Arc::clone(&queue);
    let refused = tokio::spawn(async move { hostile.enqueue(delivery("evt\0x")).await });
    let fine = queue.enqueue(delivery("evt-ok"));
    assert_eq!(fine.await.expect("enqueue"), EnqueueOutcome::Enqueued);
    let err = refused.await.expect("task").expect_err("refused");
    assert_eq!(err.kind(), QueueErrorKind::Invalid);
    assert!(
        err.to_string().contains("delivery id contains a NUL"),
        "{err}"
    );
    let coalesced = delivery("evt-k").with_coalesce_key("list\0");
    assert_eq!(
        queue.enqueue(coalesced).await.unwrap_err().kind(),
        QueueErrorKind::Invalid
    );

    // A handler's error may quote any bytes: stored with U+FFFD instead.
    let leased = queue
        .lease(LeaseRequest::new(1, Duration::from_secs(30)))
        .await
        .expect("lease")
        .pop()
        .expect("leased");
    queue
        .dead_letter(leased.lease, "bad byte \0 here".to_owned())
        .await
        .expect("dead letter");
    let dead = queue.list_dead(10).await.expect("list");
    assert_eq!(dead[0].error, "bad byte \u{fffd} here");
    drop(queue);
    schemas.drop_all().await;
}
