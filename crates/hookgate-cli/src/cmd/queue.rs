//! `hookgate queue`: inspect the configured queue and replay dead letters.
//!
//! Output is a table for people, or JSON with `--json`:
//!
//! - `stats`: one object `{"ready", "scheduled", "leased", "dead", "depth",
//!   "oldest_ready_age_seconds"}` (the age is `null` when nothing is ready).
//! - `list --dead`: one object per line (JSON Lines), oldest received first:
//!   `{"id": "SOURCE/DELIVERY_ID", "source", "delivery_id", "received_at"
//!   (Unix seconds), "attempts", "dead_at" (Unix seconds), "error", "body_bytes"}`.
//! - `replay`: one object `{"replayed": N}`.
//! - `migrate [--check]`: one object `{"schema", "applied"}` (or
//!   `"pending"` with `--check`), each a list of `{"version", "name"}`.
//!
//! The commands open the queue `hookgate serve` uses, and work while it runs:
//! each change is one transaction, and opening the SQLite file from here
//! leaves the leases of the running receiver alone (only `serve` recovers
//! those of a dead process). The in-memory queue lives inside `serve` and
//! cannot be reached from another process.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::{Args, Subcommand};
use hookgate_queue::{DeadLetter, DeliveryKey, Queue, QueueErrorKind, Replay, Stats};
use serde_json::json;

use super::Failure;
use crate::backend;
use crate::config::{Config, QueueBackend};
use crate::duration::{self, HumanDuration};

/// Inspect the queue of `hookgate serve` and replay dead letters.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    hookgate queue stats --config hookgate.toml\n  \
    hookgate queue list --dead --json\n  \
    hookgate queue replay clarife/evt_a1b2c3d4       # one dead letter, by SOURCE/DELIVERY_ID\n  \
    hookgate queue replay --dead --since 8h          # every dead letter received in the last 8 hours\n  \
    hookgate queue replay --dead                     # every dead letter\n  \
    hookgate queue migrate --check                   # postgres: the schema changes pending\n\n\
    --json prints stats and replay as one JSON object, list as one JSON object per line.")]
pub(crate) struct QueueArgs {
    /// The configuration naming the queue.
    #[arg(
        long,
        short,
        value_name = "FILE",
        default_value = "hookgate.toml",
        global = true
    )]
    config: PathBuf,

    /// Print JSON instead of a table.
    #[arg(long, global = true)]
    json: bool,

    #[command(subcommand)]
    command: QueueCommand,
}

#[derive(Debug, Subcommand)]
enum QueueCommand {
    /// Deliveries by state, and the age of the oldest ready one.
    #[command(after_help = "Example:\n  \
        hookgate queue stats --config hookgate.toml --json\n\n\
        Prints ready, scheduled (waiting for a retry), leased (being handled), dead, depth\n\
        and the age of the oldest ready delivery.")]
    Stats,
    /// List dead letters (deliveries that will not be retried), oldest first.
    #[command(after_help = "Example:\n  \
        hookgate queue list --dead --limit 20\n\n\
        Each line names the dead letter as SOURCE/DELIVERY_ID, which `hookgate queue replay`\n\
        takes, with its attempts and last error.")]
    List {
        /// List the dead letters (the only listing the queue offers; may be omitted).
        #[arg(long)]
        dead: bool,
        /// At most this many.
        #[arg(long, value_name = "N", default_value_t = 100)]
        limit: usize,
    },
    /// Put dead letters back in the queue, due now, their attempts reset.
    #[command(after_help = "Examples:\n  \
        hookgate queue replay clarife/evt_a1b2c3d4    # one dead letter\n  \
        hookgate queue replay --dead --since 8h       # those received in the last 8 hours\n  \
        hookgate queue replay --dead                  # all of them\n\n\
        Exit 1 when the named dead letter does not exist.")]
    Replay {
        /// One dead letter, as SOURCE/DELIVERY_ID (as `list` prints it).
        #[arg(
            value_name = "ID",
            required_unless_present = "dead",
            conflicts_with = "dead"
        )]
        id: Option<String>,
        /// Replay dead letters: all of them, or those received within --since.
        #[arg(long)]
        dead: bool,
        /// With --dead: only those received within this long (e.g. 8h, 30m, 2d).
        #[arg(long, value_name = "DURATION", requires = "dead")]
        since: Option<HumanDuration>,
    },
    /// PostgreSQL queue: apply the schema's pending migrations (what `serve` does at start).
    #[command(after_help = "Examples:\n  \
        hookgate queue migrate --check    # list the pending migrations, change nothing\n  \
        hookgate queue migrate            # apply them (safe while receivers run or start)\n\n\
        Receivers starting together take turns on an advisory lock: each migration runs once.")]
    Migrate {
        /// Only list the pending migrations.
        #[arg(long)]
        check: bool,
    },
}

pub(crate) fn run(args: QueueArgs) -> Result<(), Failure> {
    let config = Config::load(&args.config).map_err(Failure::config)?;
    if config.queue.backend == QueueBackend::Memory {
        return Err(Failure::usage(
            "the configured queue is \"memory\": it lives inside `hookgate serve` and cannot be inspected from another process",
        ));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::usage(format!("cannot start the runtime: {e}")))?;
    runtime.block_on(async {
        let env = |name: &str| std::env::var(name).ok();
        if let QueueCommand::Migrate { check } = args.command {
            let report = backend::migrate(&config, &env, check)
                .await
                .map_err(Failure::Usage)?;
            print_migrations(&report, check, args.json);
            return Ok(());
        }
        let queue = backend::open(&config, &env, backend::Opener::Inspector)
            .await
            .map_err(Failure::Usage)?;
        execute(queue, args.command, args.json).await
    })
}

async fn execute(queue: Arc<dyn Queue>, command: QueueCommand, json: bool) -> Result<(), Failure> {
    let failed = |e: hookgate_queue::QueueError| {
        Failure::Failed(format!(
            "the queue did not answer: {}; check [queue] in the configuration and that its server is running",
            super::with_causes(&e)
        ))
    };
    match command {
        QueueCommand::Stats => {
            let stats = queue.stats().await.map_err(failed)?;
            print_stats(&stats, json);
        }
        QueueCommand::List { dead: _, limit } => {
            let letters = queue.list_dead(limit).await.map_err(failed)?;
            print_dead(&letters, json);
        }
        QueueCommand::Migrate { .. } => unreachable!("handled before the queue is opened"),
        QueueCommand::Replay { id, dead: _, since } => {
            let wanted = id.clone();
            let selection = match (id, since) {
                (Some(id), _) => {
                    let (source, delivery_id) = id.split_once('/').ok_or_else(|| {
                        Failure::usage(format!(
                            "{id:?} is not SOURCE/DELIVERY_ID (as `hookgate queue list --dead` prints it)"
                        ))
                    })?;
                    Replay::One(DeliveryKey::new(source, delivery_id))
                }
                (None, Some(HumanDuration(window))) => {
                    let now = SystemTime::now();
                    Replay::ReceivedBetween {
                        from: now.checked_sub(window).unwrap_or(UNIX_EPOCH),
                        // Exclusive end: anything received up to now.
                        to: now + Duration::from_secs(1),
                    }
                }
                (None, None) => Replay::All,
            };
            let replayed = queue.replay(selection).await.map_err(|e| {
                if e.kind() == QueueErrorKind::NotFound {
                    Failure::Failed(format!(
                        "no dead letter {}; `hookgate queue list --dead` lists them",
                        wanted.as_deref().unwrap_or("in the selection")
                    ))
                } else {
                    failed(e)
                }
            })?;
            if json {
                println!("{}", json!({ "replayed": replayed }));
            } else {
                println!(
                    "replayed {replayed} dead letter{}",
                    if replayed == 1 { "" } else { "s" }
                );
            }
        }
    }
    Ok(())
}

fn print_migrations(report: &backend::MigrationReport, check: bool, json: bool) {
    let schema = &report.schema;
    if json {
        let list: Vec<_> = report
            .migrations
            .iter()
            .map(|(version, name)| json!({ "version": version, "name": name }))
            .collect();
        let key = if check { "pending" } else { "applied" };
        println!("{}", json!({ "schema": schema, key: list }));
        return;
    }
    match (report.migrations.is_empty(), check) {
        (true, _) => println!("postgres schema {schema} is up to date"),
        (false, true) => println!("postgres schema {schema}: pending migrations"),
        (false, false) => println!("postgres schema {schema}: applied"),
    }
    for (version, name) in &report.migrations {
        println!("  {version:>4}  {name}");
    }
}

fn print_stats(stats: &Stats, json: bool) {
    let age = stats.oldest_ready_age;
    if json {
        println!(
            "{}",
            json!({
                "ready": stats.ready,
                "scheduled": stats.scheduled,
                "leased": stats.leased,
                "dead": stats.dead,
                "depth": stats.depth(),
                "oldest_ready_age_seconds": age.map(|a| a.as_secs_f64()),
            })
        );
        return;
    }
    println!("ready      {}", stats.ready);
    println!("scheduled  {}", stats.scheduled);
    println!("leased     {}", stats.leased);
    println!("dead       {}", stats.dead);
    println!("depth      {}", stats.depth());
    println!(
        "oldest     {}",
        age.map_or_else(
            || "-".to_owned(),
            |a| duration::format(Duration::from_millis(
                u64::try_from(a.as_millis()).unwrap_or(u64::MAX)
            ))
        )
    );
}

fn unix(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn print_dead(letters: &[DeadLetter], json: bool) {
    if json {
        for letter in letters {
            let d = &letter.delivery;
            println!(
                "{}",
                json!({
                    "id": d.key().to_string(),
                    "source": d.source,
                    "delivery_id": d.delivery_id,
                    "received_at": unix(d.received_at),
                    "attempts": d.attempt,
                    "dead_at": unix(letter.dead_at),
                    "error": letter.error,
                    "body_bytes": d.body.len(),
                })
            );
        }
        return;
    }
    if letters.is_empty() {
        println!("no dead letters");
        return;
    }
    println!("{:<40} {:>12} {:>8}  ERROR", "ID", "RECEIVED", "ATTEMPTS");
    let now = SystemTime::now();
    for letter in letters {
        let d = &letter.delivery;
        let ago = now.duration_since(d.received_at).unwrap_or_default();
        let ago = duration::format(Duration::from_secs(ago.as_secs()));
        println!(
            "{:<40} {:>12} {:>8}  {}",
            d.key().to_string(),
            format!("{ago} ago"),
            d.attempt,
            letter.error
        );
    }
}
