//! The edge's shared state: configuration, the current snapshot behind
//! `arc-swap`, GeoIP, metrics and status. One `Arc<Edge>` is shared by every
//! connection; the request path reads it without locks.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::time::SystemTime;

use arc_swap::{ArcSwap, ArcSwapOption};

use crate::config::EdgeConfig;
use crate::geoip::GeoIp;
use crate::loaded::Loaded;
use crate::metrics::Metrics;
use crate::request::client::ProxyPolicy;

/// Shared state of one edge process.
pub struct Edge {
    /// Effective configuration.
    pub config: EdgeConfig,
    /// Client-address policy (from `server.*`).
    pub proxy: ProxyPolicy,
    /// The snapshot being served, if any.
    pub snapshot: ArcSwapOption<Loaded>,
    /// The GeoIP database, if configured and readable.
    pub geoip: ArcSwapOption<GeoIp>,
    /// Prometheus metrics.
    pub metrics: Metrics,
    /// Set at the first SIGTERM/SIGINT: `/readyz` answers 503.
    pub shutting_down: AtomicBool,
    /// The last snapshot or GeoIP problem (for `/readyz` and `/snapshot`).
    pub last_error: ArcSwap<Option<String>>,
    /// Snapshots refused since start.
    pub rejected_loads: AtomicU64,
    /// Process start.
    pub started_at: SystemTime,
    /// Whether reports and statistics go to the store ([`crate::follow::report::Writes`]).
    pub writes: AtomicU8,
}

impl Edge {
    /// Fresh state with nothing loaded.
    pub fn new(config: EdgeConfig) -> Arc<Edge> {
        let proxy = ProxyPolicy {
            trusted_proxies: config.server.trusted_proxies.clone(),
            ip_param_networks: config.server.ip_param_networks.clone(),
        };
        let writes = crate::follow::report::Writes::initial(&config) as u8;
        Arc::new(Edge {
            writes: AtomicU8::new(writes),
            config,
            proxy,
            snapshot: ArcSwapOption::empty(),
            geoip: ArcSwapOption::empty(),
            metrics: Metrics::new(env!("CARGO_PKG_VERSION")),
            shutting_down: AtomicBool::new(false),
            last_error: ArcSwap::from_pointee(None),
            rejected_loads: AtomicU64::new(0),
            started_at: SystemTime::now(),
        })
    }

    /// Records a problem for `/readyz` and `/snapshot`.
    pub fn set_error(&self, message: String) {
        self.last_error.store(Arc::new(Some(message)));
    }

    /// True after the first shutdown signal.
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Relaxed)
    }

    /// The E56 key for a snapshot: the configured seed, else the installation default.
    pub fn selection_key(&self, installation_id: &str) -> [u8; 32] {
        self.config
            .selection
            .seed
            .unwrap_or_else(|| crate::order::default_seed(installation_id))
    }

    /// Swaps a new snapshot in; requests in flight keep the old one.
    pub fn install(&self, loaded: Loaded) {
        let m = &self.metrics;
        let snap = &loaded.snap;
        m.snapshot_loaded(
            snap.version(),
            snap.created_at(),
            loaded.load_duration.as_secs_f64(),
        );
        let keys: Vec<(String, String)> = snap
            .payload()
            .repo_map
            .iter()
            .map(|r| (r.prefix.to_string(), r.arch.to_string()))
            .collect();
        m.prepare_repos(&keys);
        self.snapshot.store(Some(Arc::new(loaded)));
        self.last_error.store(Arc::new(None));
        m.set_ready(!self.is_shutting_down());
    }
}
