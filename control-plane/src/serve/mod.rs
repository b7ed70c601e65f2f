//! `mirrorfleet serve` (control-plane.md §7.1, §7.7, §7.8): the HTTP server (for now
//! `/healthz`, `/readyz` and `/metrics`), the publisher that publishes after every change and
//! at a fixed interval, the edge-report poll ([`crate::edges`]), the daily expiry
//! ([`crate::maintenance::expiry`]: statistics, sessions, reset links, crawl logs) and the
//! scheduled scan ([`crate::scan::job`]).
//!
//! [`start`] runs them on the current runtime and returns a [`Running`] handle (tests use it
//! in-process); [`run`] is the command: start, wait for SIGINT or SIGTERM, stop.

pub mod http;
pub mod metrics;
pub mod scheduler;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use mirrorfleet_snapshot::net::Prefix;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::edges::{EdgePoller, EdgeSettings};
use crate::maintenance::expiry::{self, ExpirySettings};
use crate::publish::Publisher;
pub use metrics::Metrics;
pub use scheduler::Timings;

/// What `serve` needs besides the publisher (control-plane.md §10).
#[derive(Clone, Debug)]
pub struct ServeSettings {
    /// `server.listen`.
    pub listen: SocketAddr,
    /// `metrics.allow`.
    pub metrics_allow: Vec<Prefix>,
    /// `[publish]` timings.
    pub timings: Timings,
    /// `[edges]`: the edge-report poll.
    pub edges: EdgeSettings,
    /// The daily expiry (`[stats]`, `auth.session_idle`, `crawler.keep_logs_days`).
    pub expiry: ExpirySettings,
    /// `[scanner]`: the scheduled scan; `None`: off.
    pub scan: Option<Arc<crate::scan::ScanSettings>>,
}

/// A running server.
pub struct Running {
    /// The address it listens on (useful with port 0).
    pub addr: SocketAddr,
    pub metrics: Arc<Metrics>,
    shutdown: watch::Sender<bool>,
    http: JoinHandle<std::io::Result<()>>,
    publisher: JoinHandle<()>,
    edges: JoinHandle<()>,
    expiry: JoinHandle<()>,
    scanner: Option<JoinHandle<()>>,
}

impl Running {
    /// Stops accepting, lets requests, a publish, an edge poll and an expiry under way
    /// finish, stops a scan under way, and returns.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.shutdown.send(true);
        self.publisher.await.context("the publish loop panicked")?;
        self.edges.await.context("the edge-report poll panicked")?;
        self.expiry.await.context("the daily expiry panicked")?;
        if let Some(scanner) = self.scanner {
            scanner.await.context("the scheduled scan panicked")?;
        }
        self.http
            .await
            .context("the HTTP server panicked")?
            .context("the HTTP server failed")?;
        Ok(())
    }
}

/// Binds `settings.listen` and starts the HTTP server, the publish loop, the edge-report
/// poll, the daily expiry and the scheduled scan.
pub async fn start(settings: ServeSettings, publisher: Publisher) -> anyhow::Result<Running> {
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("cannot listen on {} (server.listen)", settings.listen))?;
    let addr = listener.local_addr()?;
    let metrics = Arc::new(Metrics::new());
    let (shutdown, rx) = watch::channel(false);
    let state = Arc::new(http::AppState {
        db: publisher.db.clone(),
        metrics: metrics.clone(),
        metrics_allow: settings.metrics_allow.clone(),
    });
    let app = http::router(state).into_make_service_with_connect_info::<SocketAddr>();
    let mut http_rx = rx.clone();
    let http = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = http_rx.wait_for(|stop| *stop).await;
            })
            .await
    });
    let poller = EdgePoller::new(
        publisher.db.clone(),
        publisher.store.clone(),
        settings.edges,
    );
    let edges = tokio::spawn(crate::edges::run(poller, metrics.clone(), rx.clone()));
    let expiry = tokio::spawn(expiry::run(
        publisher.db.clone(),
        settings.expiry,
        rx.clone(),
    ));
    let scanner = settings.scan.map(|scan| {
        tokio::spawn(crate::scan::job::run(
            publisher.db.clone(),
            scan,
            rx.clone(),
        ))
    });
    let publisher = tokio::spawn(scheduler::run(
        Arc::new(publisher),
        settings.timings,
        metrics.clone(),
        rx,
    ));
    tracing::info!("listening on http://{addr}");
    Ok(Running {
        addr,
        metrics,
        shutdown,
        http,
        publisher,
        edges,
        expiry,
        scanner,
    })
}

/// Waits for SIGINT or SIGTERM.
async fn signalled() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// How long the automatic publish waits for the publisher lock held by another process (a
/// CLI publish) before trying again later.
const SERVE_LOCK_TIMEOUT: Duration = Duration::from_secs(30);

impl ServeSettings {
    /// The settings of `config`.
    pub fn from_config(config: &Config) -> ServeSettings {
        ServeSettings {
            listen: config.server.listen,
            metrics_allow: config.metrics.allow.clone(),
            timings: Timings {
                debounce: config.publish.debounce,
                max_delay: config.publish.max_delay,
                min_gap: config.publish.min_gap,
                interval: config.publish.interval,
                poll_generation: config.publish.poll_generation,
            },
            edges: EdgeSettings::from_config(config),
            expiry: ExpirySettings::from_config(config),
            scan: None,
        }
    }
}

/// `mirrorfleet serve`: logging as `[log]` says, the database, the publisher, then [`run`].
pub async fn command(config: &Config) -> anyhow::Result<()> {
    mirrorfleet_config::init_logging(&config.log.level, config.log.format, "MIRRORFLEET_LOG");
    let publisher = crate::publish_cmd::publisher(config, Some(SERVE_LOCK_TIMEOUT)).await?;
    tracing::info!(
        database = %crate::db::redact_url(&config.database.url),
        store = %config.store.url,
        "mirrorfleet {} serving",
        env!("CARGO_PKG_VERSION")
    );
    let settings = ServeSettings {
        scan: crate::scan::job::settings(config)?,
        ..ServeSettings::from_config(config)
    };
    run(settings, publisher).await
}

/// Runs until SIGINT or SIGTERM.
pub async fn run(settings: ServeSettings, publisher: Publisher) -> anyhow::Result<()> {
    let running = start(settings, publisher).await?;
    signalled().await;
    tracing::info!("stopping: finishing requests and any publish under way");
    running.stop().await
}
