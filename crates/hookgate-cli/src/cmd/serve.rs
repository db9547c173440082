//! `hookgate serve`: a ready receiver built from `hookgate.toml`.
//!
//! One axum server carries the webhook routes (hookgate-tower's
//! `WebhookLayer` in queue mode: verify, enqueue durably, then 2xx), plus
//! `/healthz` and `/metrics`; a worker pool from hookgate-queue runs each
//! source's action on what was queued. SIGTERM or Ctrl-C stops accepting
//! connections, lets requests in progress finish, and gives the workers
//! `[workers] shutdown_timeout` to finish their attempts (unfinished ones are
//! released, due again at the next start).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use clap::Args;
use hookgate_queue::{MemoryQueue, Queue, WorkerPool};
use hookgate_tower::{Receiver, Server, WebhookLayer};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde_json::json;
use tokio::sync::watch;

use super::Failure;
use crate::action::Actions;
use crate::backend;
use crate::config::{Config, LogFormat};

/// Run a receiver: verify, queue durably, then forward or run a command.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  \
    hookgate init\n  \
    export HOOKGATE_SECRET_CLARIFE=whsec_...   # one variable per source, named in the file\n  \
    hookgate serve --config hookgate.toml\n\n\
    Routes: each source's path (/hooks/NAME by default), GET /healthz (queue depth and\n\
    oldest age, JSON), GET /metrics (Prometheus). Logs go to stderr; set HOOKGATE_LOG\n\
    (e.g. `hookgate=debug,info`) to change the level. Once listening, one line\n\
    `listening on http://ADDR` is printed on stdout.")]
pub(crate) struct ServeArgs {
    /// The configuration file.
    #[arg(long, short, value_name = "FILE", default_value = "hookgate.toml")]
    config: PathBuf,

    /// Listen here instead of `[server] listen` (port 0 picks a free port).
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,

    /// Check the configuration and the secrets' environment variables, then exit.
    #[arg(long)]
    check: bool,
}

pub(crate) fn run(args: ServeArgs) -> Result<(), Failure> {
    let config = Config::load(&args.config).map_err(Failure::config)?;
    let env = |name: &str| std::env::var(name).ok();
    let path_var = std::env::var_os("PATH");
    let sources = config
        .sources(&env, path_var.as_deref())
        .map_err(Failure::config)?;
    if args.check {
        // The checks that concern several sources, with a queue that costs nothing.
        config
            .receiver(sources, Arc::new(MemoryQueue::new()))
            .map_err(Failure::usage)?;
        println!(
            "{}: ok ({} sources, queue {})",
            args.config.display(),
            config.sources.len(),
            backend::describe(&config.queue)
        );
        return Ok(());
    }

    init_logging(config.server.log_format);
    for source in &config.sources {
        if source.uses_dev_secret(&env) {
            tracing::warn!(
                source = %source.name,
                "using insecure_dev_secret from the configuration file; set {} for real traffic",
                source.secrets.env.join(" / ")
            );
        }
    }
    let metrics = PrometheusBuilder::new()
        .install_recorder()
        .map_err(|e| Failure::usage(format!("cannot install the metrics recorder: {e}")))?;
    let actions = Actions::new(&config.sources).map_err(Failure::Usage)?;
    let listen = args.listen.unwrap_or(config.server.listen);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::usage(format!("cannot start the runtime: {e}")))?;
    runtime.block_on(async {
        // Inside the runtime: the distributed back-ends need it to connect.
        let mut queue = backend::open(&config, &env, backend::Opener::Receiver)
            .await
            .map_err(Failure::Usage)?;
        if let Some(max_age) = config.queue.max_backlog_age {
            queue = Arc::new(hookgate_queue::BacklogLimit::new(queue, max_age));
        }
        let receiver = config
            .receiver(sources, queue.clone())
            .map_err(Failure::usage)?;
        serve(config, listen, queue, receiver, actions, metrics).await
    })
}

fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;

    let filter = EnvFilter::try_from_env("HOOKGATE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second initialisation (never in this binary) would only be ignored.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

#[derive(Clone)]
struct AppState {
    queue: Arc<dyn Queue>,
    metrics: PrometheusHandle,
}

async fn serve(
    config: Config,
    listen: SocketAddr,
    queue: Arc<dyn Queue>,
    receiver: Receiver,
    actions: Actions,
    metrics: PrometheusHandle,
) -> Result<(), Failure> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| Failure::usage(format!("cannot listen on {listen}: {e}")))?;
    let local = listener
        .local_addr()
        .map_err(|e| Failure::usage(format!("cannot read the listening address: {e}")))?;

    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        hookgate_tower::server::shutdown_signal().await;
        tracing::info!("shutting down: no new connections, finishing work in progress");
        let _ = stop_tx.send(true);
    });

    let mut pool = WorkerPool::builder(Arc::clone(&queue), actions)
        .concurrency(config.workers.concurrency)
        .visibility_timeout(config.workers.visibility_timeout)
        .poll_interval(config.workers.poll_interval)
        .retry(backend::retry_policy(&config.retry));
    for source in &config.sources {
        pool = pool.source_attempt_timeout(&source.name, source.action.timeout());
    }
    let pool = pool.build();
    let workers = {
        let stop = stopped(stop_rx.clone());
        let deadline = config.workers.shutdown_timeout;
        tokio::spawn(async move { pool.run(stop, deadline).await })
    };

    let upkeep = {
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tick.tick().await;
                metrics.run_upkeep();
            }
        })
    };

    let app = axum::Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(render_metrics))
        .with_state(AppState {
            queue: Arc::clone(&queue),
            metrics,
        })
        .layer(WebhookLayer::new(receiver));

    for source in &config.sources {
        tracing::info!(
            source = %source.name,
            path = %source.path,
            scheme = %source.scheme,
            action = %source.action.describe(),
            "route"
        );
    }
    tracing::info!(address = %local, queue = %backend::describe(&config.queue), "listening");
    println!("listening on http://{local}");

    // The hardened server: header and idle timeouts, a connection limit
    // (see hookgate_tower::server), and the peer address for `allow_ips`.
    Server::new()
        .header_read_timeout(config.server.header_timeout)
        .keep_alive(config.server.keep_alive)
        .max_connections(config.server.max_connections)
        .serve(listener, app)
        .with_graceful_shutdown(stopped(stop_rx))
        .await;
    upkeep.abort();
    let report = workers
        .await
        .map_err(|e| Failure::usage(format!("the worker pool failed: {e}")))?;
    tracing::info!(?report, "stopped");
    Ok(())
}

/// Completes once the stop flag is raised (or its sender is gone).
async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopped| *stopped).await;
}

/// `GET /healthz`: 200 with the queue's counts while the queue answers, 503
/// when it does not.
async fn healthz(State(state): State<AppState>) -> Response {
    match state.queue.stats().await {
        Ok(stats) => Json(json!({
            "status": "ok",
            "queue": {
                "depth": stats.depth(),
                "ready": stats.ready,
                "scheduled": stats.scheduled,
                "leased": stats.leased,
                "dead": stats.dead,
                "oldest_ready_age_seconds": stats.oldest_ready_age.map(|age| age.as_secs_f64()),
            }
        }))
        .into_response(),
        Err(err) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unavailable", "error": err.to_string() })),
        )
            .into_response(),
    }
}

/// `GET /metrics`: the Prometheus text format.
async fn render_metrics(State(state): State<AppState>) -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}
