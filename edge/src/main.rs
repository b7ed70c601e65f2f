//! `mirrorfleet-edge`: the binary. Thin glue: configuration, logging, signals,
//! then the library's source watcher and server.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use clap::Parser;
use mirrorfleet_edge::config::{self, Cli};
use mirrorfleet_edge::follow::{self, Follower};
use mirrorfleet_edge::geoip::GeoIp;
use mirrorfleet_edge::state::Edge;
use mirrorfleet_edge::{server, source};
use mirrorfleet_store::StoreHandle;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{Notify, watch};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match config::load(&cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("mirrorfleet-edge: {e}");
            return ExitCode::from(2);
        }
    };
    if cli.check_config {
        println!("configuration ok (edge_id {})", config.edge_id);
        return ExitCode::SUCCESS;
    }
    mirrorfleet_config::init_logging(&config.log.level, config.log.format, "MIRRORFLEET_EDGE_LOG");
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("mirrorfleet-edge: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    runtime.block_on(run(config))
}

async fn run(config: config::EdgeConfig) -> ExitCode {
    // The store client is built before anything listens: a bad `store.*` setting is a
    // start-up error (E88); an unreachable store is not (E79).
    let store = match config.store.url.as_deref() {
        Some(url) => match StoreHandle::open_with(
            url,
            &config.store.s3,
            Some(follow::client_limits(&config)),
        ) {
            Ok(s) => Some(s),
            Err(e) => {
                eprintln!("mirrorfleet-edge: store.url: {e}");
                return ExitCode::from(2);
            }
        },
        None => None,
    };
    let edge = Edge::new(config);
    if let Some(path) = edge.config.geoip.path.clone() {
        match GeoIp::open(&path) {
            Ok(g) => {
                edge.metrics
                    .set_geoip(g.database_type(), g.build_epoch(), None);
                edge.geoip.store(Some(Arc::new(g)));
            }
            Err(e) => {
                eprintln!("mirrorfleet-edge: geoip.path: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let listeners = match server::bind(&edge).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("mirrorfleet-edge: {e}");
            return ExitCode::from(2);
        }
    };
    for l in &listeners {
        if let Ok(a) = l.local_addr() {
            tracing::info!(edge_id = %edge.config.edge_id, "listening on {a}");
        }
    }
    let wake = Arc::new(Notify::new());
    if let Some(file) = edge.config.snapshot.file.clone() {
        tokio::spawn(source::watch_file(edge.clone(), file, wake.clone()));
    }
    if let Some(store) = store {
        let swapped = Arc::new(Notify::new());
        // The cached snapshot is mapped and validated before the first poll, off the runtime.
        let (e, s, w) = (edge.clone(), store.clone(), swapped.clone());
        let follower = match tokio::task::spawn_blocking(move || Follower::start(e, s, w)).await {
            Ok(f) => f,
            Err(e) => {
                eprintln!("mirrorfleet-edge: loading the snapshot cache failed: {e}");
                return ExitCode::from(1);
            }
        };
        tracing::info!(store = %store.store, cache_dir = %edge.config.snapshot.cache_dir.display(), "following the store's manifest");
        tokio::spawn(follower.run(wake.clone()));
        tokio::spawn(follow::report::run(edge.clone(), store, swapped));
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(signals(edge.clone(), wake, stop_tx));
    server::serve(edge.clone(), listeners, stop_rx).await;
    tracing::info!("stopped");
    ExitCode::SUCCESS
}

/// SIGHUP re-reads GeoIP and the snapshot source (E87); SIGTERM/SIGINT drain
/// and stop (E86); a second one exits at once with status 1.
async fn signals(edge: Arc<Edge>, wake: Arc<Notify>, stop: watch::Sender<bool>) {
    let (Ok(mut hup), Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::hangup()),
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers");
        return;
    };
    loop {
        tokio::select! {
            _ = hup.recv() => {
                tracing::info!("SIGHUP: re-reading GeoIP and the snapshot source");
                reload_geoip(&edge);
                wake.notify_one();
            }
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    edge.shutting_down.store(true, Ordering::Relaxed);
    edge.metrics.set_ready(false);
    let drain = edge.config.shutdown.drain_delay;
    tracing::info!(drain_delay = ?drain, "shutting down: readiness off, draining");
    let second = async {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    };
    tokio::select! {
        _ = tokio::time::sleep(drain) => {}
        _ = second => {
            tracing::warn!("second signal: exiting now");
            std::process::exit(1);
        }
    }
    let _ = stop.send(true);
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    tracing::warn!("second signal: exiting now");
    std::process::exit(1);
}

fn reload_geoip(edge: &Edge) {
    let Some(path) = edge.config.geoip.path.as_ref() else {
        return;
    };
    match GeoIp::open(path) {
        Ok(g) => {
            edge.metrics
                .set_geoip(g.database_type(), g.build_epoch(), None);
            edge.geoip.store(Some(Arc::new(g)));
        }
        Err(e) => {
            tracing::warn!(error = %e, "GeoIP reload failed; keeping the previous database");
            edge.set_error(e.to_string());
        }
    }
}
