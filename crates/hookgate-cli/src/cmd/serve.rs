//! `hookgate serve`: a ready receiver built from `hookgate.toml`.
//!
//! One axum server carries the webhook routes (hookgate-tower's
//! `WebhookLayer` in queue mode: verify, enqueue durably, then 2xx), plus
//! `/healthz` and `/metrics`; a worker pool from hookgate-queue runs each
//! source's action on what was queued, on a thread and runtime of its own
//! (`[workers] threads`) so that intake cannot starve it. SIGTERM or Ctrl-C
//! stops accepting connections (on the admin listener too), lets requests in
//! progress finish (the admin listener's event streams end once the main
//! listener has drained), and gives the workers `[workers] shutdown_timeout`
//! to finish their attempts (unfinished ones are released, due again at the
//! next start).

use std::io::IsTerminal as _;
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
use hookgate_admin::Admin;
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
    `listening on http://ADDR` is printed on stdout, then `admin on http://ADDR` when the\n\
    admin listener runs ([admin] table or --admin-listen: API, event stream for\n\
    `hookgate tail`, console at /; off loopback it needs HOOKGATE_ADMIN_TOKEN).")]
pub(crate) struct ServeArgs {
    /// The configuration file.
    #[arg(long, short, value_name = "FILE", default_value = "hookgate.toml")]
    config: PathBuf,

    /// Listen here instead of `[server] listen` (port 0 picks a free port).
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,

    /// Run the admin listener here instead of `[admin] listen` (port 0 picks
    /// a free port); turns it on without an `[admin]` table.
    #[arg(long, value_name = "ADDR")]
    admin_listen: Option<SocketAddr>,

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
    let admin = admin_settings(&config, args.admin_listen, &env)?;
    if args.check {
        // The checks that concern several sources, with a queue that costs nothing.
        config
            .receiver(sources, Arc::new(MemoryQueue::new()), None)
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
    // The `# HELP` lines of /metrics.
    hookgate_receive::metrics::describe();
    hookgate_queue::observe::describe();
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
        let admin = admin
            .map(|settings| settings.build(&config, &queue))
            .transpose()?;
        let receiver = config
            .receiver(
                sources,
                queue.clone(),
                admin.as_ref().map(|(admin, _)| admin.observer()),
            )
            .map_err(Failure::usage)?;
        serve(config, listen, queue, receiver, actions, metrics, admin).await
    })
}

/// The admin listener's address and token, checked before anything starts:
/// off loopback, the token's environment variable must be set.
#[derive(Debug)]
struct AdminSettings {
    listen: SocketAddr,
    token: Option<String>,
}

fn admin_settings(
    config: &Config,
    listen: Option<SocketAddr>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<AdminSettings>, Failure> {
    let defaults;
    let admin = match (&config.admin, listen) {
        (Some(admin), _) => admin,
        (None, Some(_)) => {
            defaults = crate::config::AdminConfig::default();
            &defaults
        }
        (None, None) => return Ok(None),
    };
    let listen = listen.unwrap_or(admin.listen);
    let token = env(&admin.token_env).filter(|t| !t.is_empty());
    if token.is_none() && !listen.ip().is_loopback() {
        return Err(Failure::usage(format!(
            "admin: the admin listener {listen} is not on loopback, and {} is not set: set it to a token of at least {} characters (clients send it as `Authorization: Bearer TOKEN`), or listen on 127.0.0.1",
            admin.token_env,
            hookgate_admin::MIN_TOKEN_LEN
        )));
    }
    if let Some(token) = &token
        && token.chars().count() < hookgate_admin::MIN_TOKEN_LEN
    {
        return Err(Failure::usage(format!(
            "admin: {} holds a token of {} characters; use at least {} (e.g. `openssl rand -hex 32`)",
            admin.token_env,
            token.chars().count(),
            hookgate_admin::MIN_TOKEN_LEN
        )));
    }
    Ok(Some(AdminSettings { listen, token }))
}

impl AdminSettings {
    fn build(
        self,
        config: &Config,
        queue: &Arc<dyn Queue>,
    ) -> Result<(Admin, SocketAddr), Failure> {
        let settings = config.admin.clone().unwrap_or_default();
        let mut builder = Admin::builder(Arc::clone(queue))
            .sources(config.sources.iter().map(|s| s.name.clone()))
            .recent(settings.recent)
            .body_limit(settings.body_limit);
        if let Some(token) = self.token {
            builder = builder
                .token(token)
                .map_err(|e| Failure::usage(format!("admin: {e}")))?;
        }
        let admin = builder
            .build()
            .map_err(|e| Failure::usage(format!("admin: {e}")))?;
        admin
            .check_listen(self.listen)
            .map_err(|e| Failure::usage(format!("admin: {e}")))?;
        Ok((admin, self.listen))
    }
}

fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;

    let filter = EnvFilter::try_from_env("HOOKGATE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    // Colour only for a person at a terminal, never into a file or a pipe.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
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
    admin: Option<(Admin, SocketAddr)>,
) -> Result<(), Failure> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| {
            Failure::usage(format!(
                "cannot listen on {listen}: {e}; is another program using that port? Change [server] listen or pass --listen"
            ))
        })?;
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
    if let Some((admin, _)) = &admin {
        pool = pool.observer(admin.observer());
    }
    // On a thread and runtime of its own (`[workers] threads`, 1 by
    // default): among the connections' tasks, a flood of requests would
    // take the CPU from the workers and grow a backlog.
    if config.workers.threads > 0 {
        pool = pool.own_runtime(config.workers.threads);
    }
    let pool = pool.build();
    // The admin listener stops accepting with the main one; its event
    // streams end once the main listener has drained (a `hookgate tail`
    // sees the last requests' events), then its own requests in progress
    // finish, within the same shutdown timeout.
    let admin_running = match admin {
        Some((admin, addr)) => {
            Some(start_admin(admin, addr, &config, stopped(stop_rx.clone())).await?)
        }
        None => None,
    };
    let admin_addr = admin_running.as_ref().map(|running| running.addr);
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
    if let Some(addr) = admin_addr {
        println!("admin on http://{addr}");
    }

    // The hardened server: header and idle timeouts, a connection limit
    // (see hookgate_tower::server), and the peer address for `allow_ips`.
    Server::new()
        .header_read_timeout(config.server.header_timeout)
        .keep_alive(config.server.keep_alive)
        .max_connections(config.server.max_connections)
        .shutdown_timeout(SHUTDOWN_TIMEOUT)
        .serve(listener, app)
        .with_graceful_shutdown(stopped(stop_rx))
        .await;
    upkeep.abort();
    if let Some(running) = admin_running {
        running.stop().await;
    }
    let report = workers
        .await
        .map_err(|e| Failure::usage(format!("the worker pool failed: {e}")))?;
    tracing::info!(
        handled = report.handled,
        retried = report.retried,
        dead_lettered = report.dead_lettered,
        lease_lost = report.lease_lost,
        released = report.released,
        "stopped"
    );
    Ok(())
}

/// How long each listener waits for its requests in progress at shutdown.
const SHUTDOWN_TIMEOUT: Duration = hookgate_tower::server::DEFAULT_SHUTDOWN_TIMEOUT;

/// The admin listener, serving.
struct AdminRunning {
    admin: Admin,
    addr: SocketAddr,
    serving: tokio::task::JoinHandle<()>,
    sampler: tokio::task::JoinHandle<()>,
}

impl AdminRunning {
    /// Ends the event streams and waits for the listener's drain (it stopped
    /// accepting at the signal; bounded by [`SHUTDOWN_TIMEOUT`] from then).
    async fn stop(self) {
        self.sampler.abort();
        self.admin.close_streams();
        if let Err(error) = self.serving.await {
            tracing::warn!(%error, "admin listener: its task failed");
        }
        tracing::info!("admin listener stopped");
    }
}

/// Binds the admin listener and starts serving it until `stop` (then
/// draining), and the sampler of the console's depth chart.
async fn start_admin(
    admin: Admin,
    addr: SocketAddr,
    config: &Config,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<AdminRunning, Failure> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| Failure::usage(format!("admin: cannot listen on {addr}: {e}")))?;
    let local = listener
        .local_addr()
        .map_err(|e| Failure::usage(format!("admin: cannot read the listening address: {e}")))?;
    let server = Server::new()
        .header_read_timeout(config.server.header_timeout)
        .max_connections(64)
        .shutdown_timeout(SHUTDOWN_TIMEOUT)
        .serve(listener, admin.router())
        .with_graceful_shutdown(stop);
    let serving = tokio::spawn(server.into_future());
    let sampler = {
        let admin = admin.clone();
        tokio::spawn(async move { admin.sample_depth(Duration::from_secs(10)).await })
    };
    tracing::info!(
        address = %local,
        token = admin.requires_token(),
        "admin listener (API, event stream, console)"
    );
    Ok(AdminRunning {
        admin,
        addr: local,
        serving,
        sampler,
    })
}

/// Completes once the stop flag is raised (or its sender is gone).
async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopped| *stopped).await;
}

/// `GET /healthz`: 200 with the queue's counts while the queue answers and
/// takes deliveries; 503 `"full"` naming the limit (`capacity`, `max_bytes`,
/// `min_free_disk`, `storage_full`) while one refuses enqueues, and 503
/// `"unavailable"` when the queue does not answer.
async fn healthz(State(state): State<AppState>) -> Response {
    let (status, body) = health(state.queue.stats().await);
    (status, Json(body)).into_response()
}

/// The answer of `/healthz`. When the queue does not answer, the reason is
/// generic (the error may name files, hosts or users, and `/healthz` is often
/// public); the full error goes to the log.
fn health(
    stats: Result<hookgate_queue::Stats, hookgate_queue::QueueError>,
) -> (StatusCode, serde_json::Value) {
    use hookgate_queue::QueueErrorKind;
    match stats {
        Ok(stats) => {
            let limit = stats.storage.and_then(|usage| usage.limit_reached);
            let mut queue = json!({
                "depth": stats.depth(),
                "ready": stats.ready,
                "scheduled": stats.scheduled,
                "leased": stats.leased,
                "dead": stats.dead,
                "oldest_ready_age_seconds": stats.oldest_ready_age.map(|age| age.as_secs_f64()),
            });
            if let Some(usage) = stats.storage {
                queue["storage"] = json!({
                    "bytes": usage.bytes,
                    "wal_bytes": usage.wal_bytes,
                    "free_disk_bytes": usage.free_disk,
                });
            }
            match limit {
                None => (StatusCode::OK, json!({ "status": "ok", "queue": queue })),
                Some(limit) => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    json!({ "status": "full", "limit": limit.as_str(), "queue": queue }),
                ),
            }
        }
        Err(err) => {
            tracing::warn!(error = %err, "health check: the queue does not answer");
            let reason = match err.kind() {
                QueueErrorKind::Unavailable => "the queue's server cannot be reached",
                QueueErrorKind::Full => "the queue is full",
                _ => "the queue does not answer",
            };
            (
                StatusCode::SERVICE_UNAVAILABLE,
                json!({ "status": "unavailable", "reason": reason }),
            )
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use hookgate_queue::QueueError;

    #[test]
    fn health_never_shows_an_error_s_text() {
        for (error, reason) in [
            (
                QueueError::storage("/var/lib/hookgate/queue.db: disk I/O error"),
                "the queue does not answer",
            ),
            (
                QueueError::unavailable("redis://admin@10.0.0.7:6379: connection refused"),
                "the queue's server cannot be reached",
            ),
        ] {
            let (status, body) = health(Err(error));
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(body, json!({ "status": "unavailable", "reason": reason }));
        }
        let (status, body) = health(Ok(hookgate_queue::Stats::default()));
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["queue"]["depth"], 0);
    }
}
