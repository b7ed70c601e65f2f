//! `/metrics` of `mirrorfleet serve` (control-plane.md §7.8): publishing, edges and HTTP,
//! names prefixed `mirrorfleet_`, OpenMetrics text from prometheus-client.
//!
//! Not exported yet: scanner, crawler and checkin counters come with those components.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::edges::{EdgeCounts, EdgeState};

/// Bounds of `publish_duration_seconds`: from a small installation (tens of milliseconds) to
/// the Fedora-scale goal (10 s) and beyond.
const PUBLISH_BUCKETS: &[f64] = &[
    0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 7.0, 10.0, 15.0, 30.0, 60.0,
];
/// Bounds of `http_request_duration_seconds`.
const HTTP_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RailLabel {
    pub rail: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StageLabel {
    pub stage: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabel {
    pub state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteStatus {
    pub route: String,
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Route {
    pub route: String,
}

/// Every metric `serve` exports.
pub struct Metrics {
    registry: Registry,
    pub publish_duration: Histogram,
    pub published_version: Gauge,
    pub last_success: Gauge<f64, AtomicU64>,
    pub refusals: Family<RailLabel, Counter>,
    pub failures: Family<StageLabel, Counter>,
    pub on_hold: Gauge,
    pub edges: Family<StateLabel, Gauge>,
    pub edges_behind: Gauge,
    pub http_requests: Family<RouteStatus, Counter>,
    pub http_duration: Family<Route, Histogram>,
}

fn http_histogram() -> Histogram {
    Histogram::new(HTTP_BUCKETS.iter().copied())
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("mirrorfleet");
        let publish_duration = Histogram::new(PUBLISH_BUCKETS.iter().copied());
        let published_version = Gauge::default();
        let last_success = Gauge::<f64, AtomicU64>::default();
        let refusals = Family::<RailLabel, Counter>::default();
        let failures = Family::<StageLabel, Counter>::default();
        let on_hold = Gauge::default();
        let edges = Family::<StateLabel, Gauge>::default();
        let edges_behind = Gauge::default();
        let http_requests = Family::<RouteStatus, Counter>::default();
        let http_duration =
            Family::<Route, Histogram>::new_with_constructor(http_histogram as fn() -> Histogram);
        registry.register(
            "publish_duration_seconds",
            "Duration of successful publishes, from start to manifest swapped",
            publish_duration.clone(),
        );
        registry.register(
            "published_version",
            "Snapshot version named by the manifest this process last wrote",
            published_version.clone(),
        );
        registry.register(
            "publish_last_success_timestamp_seconds",
            "Unix time of the last successful publish",
            last_success.clone(),
        );
        registry.register(
            "publish_refusals",
            "Publishes refused by a guard rail, by rail",
            refusals.clone(),
        );
        registry.register(
            "publish_failures",
            "Failed publish attempts, by stage (build, upload, verify, manifest, database)",
            failures.clone(),
        );
        registry.register(
            "publish_on_hold",
            "1 while publishing is on hold after a rollback",
            on_hold.clone(),
        );
        registry.register(
            "edges",
            "Edges by state: fresh (reported within edges.stale_after) or stale",
            edges.clone(),
        );
        registry.register(
            "edges_behind",
            "Fresh edges not serving the version the current manifest names",
            edges_behind.clone(),
        );
        registry.register(
            "http_requests",
            "HTTP requests answered, by route and status",
            http_requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request duration, by route",
            http_duration.clone(),
        );
        // Every stage appears from the start, so a dashboard sees 0 rather than nothing.
        for stage in crate::publish::FAILURE_STAGES {
            let _ = failures.get_or_create(&StageLabel {
                stage: (*stage).into(),
            });
        }
        for state in [EdgeState::Fresh, EdgeState::Stale] {
            let _ = edges.get_or_create(&StateLabel {
                state: state.as_str().into(),
            });
        }
        Metrics {
            registry,
            publish_duration,
            published_version,
            last_success,
            refusals,
            failures,
            on_hold,
            edges,
            edges_behind,
            http_requests,
            http_duration,
        }
    }

    /// Counts a failed attempt at `stage`.
    pub fn failed(&self, stage: &str) {
        self.failures
            .get_or_create(&StageLabel {
                stage: stage.into(),
            })
            .inc();
    }

    /// Sets `edges{state}` and `edges_behind` from one poll.
    pub fn set_edges(&self, counts: &EdgeCounts) {
        for (state, n) in [
            (EdgeState::Fresh, counts.fresh),
            (EdgeState::Stale, counts.stale),
        ] {
            self.edges
                .get_or_create(&StateLabel {
                    state: state.as_str().into(),
                })
                .set(n as i64);
        }
        self.edges_behind.set(counts.behind as i64);
    }

    /// The OpenMetrics text of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}
