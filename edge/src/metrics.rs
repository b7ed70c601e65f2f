//! Prometheus metrics of the edge (E77), names prefixed `mirrorfleet_edge_`.
//!
//! Architecture invariant: the request path takes no lock. prometheus-client's
//! `Family::get_or_create` takes an `RwLock`, so every series whose labels come
//! from a fixed set is created once in [`Metrics::new`] and kept as a direct
//! handle (`Counter`/`Gauge` are `Arc`'d atomics) in an array indexed by a small
//! enum or by the position of a label in a fixed list. Recording is then one
//! atomic operation. String-keyed methods (`first_tier("country")`, …) map the
//! string to its handle with a `match`; an unknown string is ignored, never a
//! panic.
//!
//! Two deliberate departures from plain prometheus-client:
//!
//! * `request_duration_seconds` does not use prometheus-client's `Histogram`:
//!   in 0.23 that is an `Arc<RwLock<..>>` and `observe` takes the write lock.
//!   [`AtomicHistogram`] keeps one `AtomicU64` per bucket plus the sum as `f64`
//!   bits updated with a compare-and-swap loop, and encodes itself through
//!   prometheus-client's histogram encoder.
//! * `countme_total{repo,arch,bucket}` and `requests_by_repo_total{repo,arch}`
//!   have labels from the snapshot (a bounded set that changes with it). At
//!   every snapshot load [`Metrics::prepare_repos`] creates those series and
//!   publishes their handles in an `ArcSwap` table (repo → arch → counters), so
//!   the request path does one `ArcSwap` load, two hash look-ups by `&str` (no
//!   allocation) and an atomic add. A key missing from the table (e.g. E70's
//!   `?`) takes a slow path once: `get_or_create` (the `Family` lock) and a
//!   copy-on-write insert into the table, after which it is lock-free too.
//!   Callers must pass labels from the snapshot, never raw input (E70).
//!
//! `snapshot_age_seconds` is computed at scrape time in [`Metrics::encode`] from
//! the stored `created_at`.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Metric name prefix (the encoder adds the `_`).
pub const PREFIX: &str = "mirrorfleet_edge";

/// The endpoint label of `requests_total` and `request_duration_seconds`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `/metalink`.
    Metalink = 0,
    /// `/mirrorlist`.
    Mirrorlist = 1,
    /// `/healthz`.
    Healthz = 2,
    /// `/readyz`.
    Readyz = 3,
    /// `/metrics`.
    Metrics = 4,
    /// `/snapshot`.
    Snapshot = 5,
    /// Anything else.
    Other = 6,
}

impl Endpoint {
    /// Every endpoint, in discriminant order.
    pub const ALL: [Endpoint; 7] = [
        Endpoint::Metalink,
        Endpoint::Mirrorlist,
        Endpoint::Healthz,
        Endpoint::Readyz,
        Endpoint::Metrics,
        Endpoint::Snapshot,
        Endpoint::Other,
    ];

    /// Label text.
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::Metalink => "metalink",
            Endpoint::Mirrorlist => "mirrorlist",
            Endpoint::Healthz => "healthz",
            Endpoint::Readyz => "readyz",
            Endpoint::Metrics => "metrics",
            Endpoint::Snapshot => "snapshot",
            Endpoint::Other => "other",
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The output label of `answers_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Output {
    /// Metalink 3.0 (§10.1).
    Metalink3 = 0,
    /// Metalink 4 (§10.2).
    Metalink4 = 1,
    /// Plain mirrorlist (§10.3).
    Mirrorlist = 2,
    /// A 302 redirect.
    Redirect = 3,
    /// `explain=1` (E68).
    Explain = 4,
}

impl Output {
    /// Every output, in discriminant order.
    pub const ALL: [Output; 5] = [
        Output::Metalink3,
        Output::Metalink4,
        Output::Mirrorlist,
        Output::Redirect,
        Output::Explain,
    ];

    /// Label text.
    pub fn as_str(self) -> &'static str {
        match self {
            Output::Metalink3 => "metalink3",
            Output::Metalink4 => "metalink4",
            Output::Mirrorlist => "mirrorlist",
            Output::Redirect => "redirect",
            Output::Explain => "explain",
        }
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Statuses the edge answers, pre-created in `requests_total`; any other status
/// is counted through `get_or_create`.
pub const STATUSES: [u16; 10] = [200, 302, 400, 403, 404, 405, 414, 431, 500, 503];

/// `first_tier_total` / `tier_used_total` labels (`none`: empty answer).
pub const TIERS: [&str; 9] = [
    "netblock",
    "asn",
    "requested_country",
    "requested_global",
    "requested_continent",
    "country",
    "continent",
    "global",
    "none",
];

/// `hosts_trimmed_total` reasons (E68).
pub const TRIM_REASONS: [&str; 5] = [
    "not_carried",
    "country_not_allowed",
    "no_url",
    "duplicate",
    "over_max_hosts",
];

/// `client_address_events_total` sources.
pub const ADDRESS_SOURCES: [&str; 2] = ["x_forwarded_for", "ip_param"];

/// `client_address_events_total` events.
pub const ADDRESS_EVENTS: [&str; 4] = ["used", "untrusted_peer", "not_allowed", "malformed"];

/// `snapshot_loads_total` results.
pub const LOAD_RESULTS: [&str; 2] = ["ok", "rejected"];

/// `snapshot_rejected_total` reasons (E79).
pub const REJECT_REASONS: [&str; 10] = [
    "download",
    "size",
    "hash",
    "header",
    "format_version",
    "archive",
    "validation",
    "older_version",
    "installation",
    "io",
];

/// `manifest_polls_total` results.
pub const POLL_RESULTS: [&str; 3] = ["changed", "unchanged", "error"];

/// `stats_writes_total` / `report_writes_total` results.
pub const WRITE_RESULTS: [&str; 2] = ["ok", "error"];

/// `timeouts_total` kinds (E84).
pub const TIMEOUT_KINDS: [&str; 3] = ["header_read", "idle", "write"];

/// Upper bounds of `request_duration_seconds` (50 µs … 1 s; `+Inf` is added).
pub const DURATION_BUCKETS: [f64; 14] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0,
];

/// Number of buckets including `+Inf`.
const N_BUCKETS: usize = DURATION_BUCKETS.len() + 1;

fn status_index(status: u16) -> Option<usize> {
    match status {
        200 => Some(0),
        302 => Some(1),
        400 => Some(2),
        403 => Some(3),
        404 => Some(4),
        405 => Some(5),
        414 => Some(6),
        431 => Some(7),
        500 => Some(8),
        503 => Some(9),
        _ => None,
    }
}

fn tier_index(tier: &str) -> Option<usize> {
    match tier {
        "netblock" => Some(0),
        "asn" => Some(1),
        "requested_country" => Some(2),
        "requested_global" => Some(3),
        "requested_continent" => Some(4),
        "country" => Some(5),
        "continent" => Some(6),
        "global" => Some(7),
        "none" => Some(8),
        _ => None,
    }
}

fn trim_index(reason: &str) -> Option<usize> {
    match reason {
        "not_carried" => Some(0),
        "country_not_allowed" => Some(1),
        "no_url" => Some(2),
        "duplicate" => Some(3),
        "over_max_hosts" => Some(4),
        _ => None,
    }
}

fn source_index(source: &str) -> Option<usize> {
    match source {
        "x_forwarded_for" => Some(0),
        "ip_param" => Some(1),
        _ => None,
    }
}

fn event_index(event: &str) -> Option<usize> {
    match event {
        "used" => Some(0),
        "untrusted_peer" => Some(1),
        "not_allowed" => Some(2),
        "malformed" => Some(3),
        _ => None,
    }
}

fn reject_index(reason: &str) -> Option<usize> {
    match reason {
        "download" => Some(0),
        "size" => Some(1),
        "hash" => Some(2),
        "header" => Some(3),
        "format_version" => Some(4),
        "archive" => Some(5),
        "validation" => Some(6),
        "older_version" => Some(7),
        "installation" => Some(8),
        "io" => Some(9),
        _ => None,
    }
}

fn poll_index(result: &str) -> Option<usize> {
    match result {
        "changed" => Some(0),
        "unchanged" => Some(1),
        "error" => Some(2),
        _ => None,
    }
}

fn write_index(result: &str) -> Option<usize> {
    match result {
        "ok" => Some(0),
        "error" => Some(1),
        _ => None,
    }
}

fn timeout_index(kind: &str) -> Option<usize> {
    match kind {
        "header_read" => Some(0),
        "idle" => Some(1),
        "write" => Some(2),
        _ => None,
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    endpoint: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RepoLabels {
    repo: String,
    arch: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CountmeLabels {
    repo: String,
    arch: String,
    bucket: u8,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GeoipLabels {
    database_type: String,
    build_epoch: u64,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabels {
    version: String,
}

/// One label `name="value"` with both parts static.
type Label1 = [(&'static str, &'static str); 1];
/// Two static labels.
type Label2 = [(&'static str, &'static str); 2];

/// A lock-free histogram: per-bucket `AtomicU64` counts and the sum as `f64`
/// bits. `_count` is the sum of the buckets read at scrape time, so it always
/// equals the `+Inf` bucket.
#[derive(Debug)]
pub struct AtomicHistogram {
    buckets: [AtomicU64; N_BUCKETS],
    sum_bits: AtomicU64,
}

impl Default for AtomicHistogram {
    fn default() -> Self {
        AtomicHistogram {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_bits: AtomicU64::new(0f64.to_bits()),
        }
    }
}

impl AtomicHistogram {
    /// Records one value. NaN and negative values count as 0; `+inf` lands in
    /// the `+Inf` bucket without touching the sum.
    pub fn observe(&self, v: f64) {
        let v = if v.is_nan() || v < 0.0 { 0.0 } else { v };
        let i = DURATION_BUCKETS
            .iter()
            .position(|b| v <= *b)
            .unwrap_or(N_BUCKETS - 1);
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        if v.is_finite() {
            let _ = self
                .sum_bits
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                    Some((f64::from_bits(bits) + v).to_bits())
                });
        }
    }

    /// `(sum, count, non-cumulative buckets)`; the last bound is `f64::MAX`,
    /// which the encoder writes as `+Inf`.
    fn snapshot(&self) -> (f64, u64, [(f64, u64); N_BUCKETS]) {
        let mut out = [(f64::MAX, 0u64); N_BUCKETS];
        let mut count = 0u64;
        for (i, slot) in out.iter_mut().enumerate() {
            let n = self.buckets[i].load(Ordering::Relaxed);
            count = count.wrapping_add(n);
            *slot = (DURATION_BUCKETS.get(i).copied().unwrap_or(f64::MAX), n);
        }
        (
            f64::from_bits(self.sum_bits.load(Ordering::Relaxed)),
            count,
            out,
        )
    }
}

/// `request_duration_seconds{endpoint}`: one [`AtomicHistogram`] per endpoint,
/// registered as one metric and encoded as a labelled family.
#[derive(Clone, Debug, Default)]
struct DurationFamily(Arc<[AtomicHistogram; Endpoint::ALL.len()]>);

impl EncodeMetric for DurationFamily {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), fmt::Error> {
        for e in Endpoint::ALL {
            let (sum, count, buckets) = self.0[e as usize].snapshot();
            let labels: Label1 = [("endpoint", e.as_str())];
            let mut enc = encoder.encode_family(&labels)?;
            enc.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)?;
        }
        Ok(())
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

/// The per-(repo, arch) handles the request path uses.
#[derive(Clone, Debug)]
struct RepoCounters {
    requests: Counter,
    /// Buckets 1–4.
    countme: [Counter; 4],
}

/// repo → arch → handles; looked up by `&str` without allocating.
type RepoTable = HashMap<Box<str>, HashMap<Box<str>, RepoCounters>>;

/// Every metric of E77. `Send + Sync`; share it through `Arc` (or inside one).
pub struct Metrics {
    registry: Registry,

    requests_family: Family<RequestLabels, Counter>,
    requests: [[Counter; STATUSES.len()]; Endpoint::ALL.len()],
    durations: DurationFamily,
    answers: [Counter; Output::ALL.len()],
    first_tier: [Counter; TIERS.len()],
    tier_used: [Counter; TIERS.len()],
    global_fallback: Counter,
    trimmed: [Counter; TRIM_REASONS.len()],
    address_events: [[Counter; ADDRESS_EVENTS.len()]; ADDRESS_SOURCES.len()],

    countme_family: Family<CountmeLabels, Counter>,
    requests_by_repo_family: Family<RepoLabels, Counter>,
    repos: ArcSwap<RepoTable>,
    countme_invalid: Counter,

    snapshot_version: Gauge<u64, AtomicU64>,
    snapshot_created: Gauge,
    snapshot_age: Gauge,
    snapshot_load_duration: Gauge<f64, AtomicU64>,
    /// `created_at` of the snapshot served; meaningful when `snapshot_present`.
    created_at: AtomicI64,
    snapshot_present: AtomicBool,
    snapshot_loads: [Counter; LOAD_RESULTS.len()],
    snapshot_rejected: [Counter; REJECT_REASONS.len()],
    manifest_polls: [Counter; POLL_RESULTS.len()],

    geoip_info: Family<GeoipLabels, Gauge>,
    /// The labels `geoip_info` currently shows (touched only at GeoIP load).
    geoip_current: Mutex<Option<GeoipLabels>>,
    geoip_mismatch: Gauge,

    stats_writes: [Counter; WRITE_RESULTS.len()],
    report_writes: [Counter; WRITE_RESULTS.len()],
    stats_rows_dropped: Counter,

    connections_open: Gauge,
    timeouts: [Counter; TIMEOUT_KINDS.len()],
    panics: Counter,
    ready: Gauge,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// A family with one static label, every value pre-created.
fn family1<const N: usize>(
    registry: &mut Registry,
    name: &str,
    help: &str,
    key: &'static str,
    values: [&'static str; N],
) -> [Counter; N] {
    let family = Family::<Label1, Counter>::default();
    let handles = values.map(|v| family.get_or_create(&[(key, v)]).clone());
    registry.register(name, help, family);
    handles
}

/// A family with two static labels, every combination pre-created.
fn family2<const N: usize, const M: usize>(
    registry: &mut Registry,
    name: &str,
    help: &str,
    keys: (&'static str, &'static str),
    first: [&'static str; N],
    second: [&'static str; M],
) -> [[Counter; M]; N] {
    let family = Family::<Label2, Counter>::default();
    let handles =
        first.map(|a| second.map(|b| family.get_or_create(&[(keys.0, a), (keys.1, b)]).clone()));
    registry.register(name, help, family);
    handles
}

fn unlabelled<M: prometheus_client::registry::Metric + Clone + Default>(
    registry: &mut Registry,
    name: &str,
    help: &str,
) -> M {
    let m = M::default();
    registry.register(name, help, m.clone());
    m
}

fn now_unix() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

impl Metrics {
    /// Registers every E77 metric under `mirrorfleet_edge_`, with every
    /// fixed-label series created; `build_info{version}` is set to 1.
    pub fn new(software_version: &str) -> Metrics {
        let mut r = Registry::with_prefix(PREFIX);

        // Counters are registered without `_total`: the encoder appends it.
        let requests_family = Family::<RequestLabels, Counter>::default();
        let requests = Endpoint::ALL.map(|e| {
            STATUSES.map(|s| {
                requests_family
                    .get_or_create(&RequestLabels {
                        endpoint: e.as_str(),
                        status: s,
                    })
                    .clone()
            })
        });
        r.register(
            "requests",
            "Requests answered, by endpoint and HTTP status",
            requests_family.clone(),
        );

        let durations = DurationFamily::default();
        r.register(
            "request_duration_seconds",
            "Time to answer a request, by endpoint",
            durations.clone(),
        );

        let answers = family1(
            &mut r,
            "answers",
            "Answers by output format",
            "output",
            Output::ALL.map(Output::as_str),
        );
        let first_tier = family1(
            &mut r,
            "first_tier",
            "Answers by tier of the first host (none when empty)",
            "tier",
            TIERS,
        );
        let tier_used = family1(
            &mut r,
            "tier_used",
            "Tiers that placed at least one host",
            "tier",
            TIERS,
        );
        let global_fallback: Counter = unlabelled(
            &mut r,
            "global_fallback",
            "Answers completed with global hosts",
        );
        let trimmed = family1(
            &mut r,
            "hosts_trimmed",
            "Candidate hosts not placed, by reason",
            "reason",
            TRIM_REASONS,
        );
        let address_events = family2(
            &mut r,
            "client_address_events",
            "Client address sources seen, by source and outcome",
            ("source", "event"),
            ADDRESS_SOURCES,
            ADDRESS_EVENTS,
        );

        let countme_family = Family::<CountmeLabels, Counter>::default();
        r.register(
            "countme",
            "Counted requests with countme=N, by repo, arch and bucket",
            countme_family.clone(),
        );
        let requests_by_repo_family = Family::<RepoLabels, Counter>::default();
        r.register(
            "requests_by_repo",
            "Counted requests by repo and arch",
            requests_by_repo_family.clone(),
        );
        let countme_invalid: Counter =
            unlabelled(&mut r, "countme_invalid", "countme values outside 1-4");

        let snapshot_version: Gauge<u64, AtomicU64> = unlabelled(
            &mut r,
            "snapshot_version",
            "Version of the snapshot served (0: none)",
        );
        let snapshot_created: Gauge = unlabelled(
            &mut r,
            "snapshot_created_timestamp_seconds",
            "created_at of the snapshot served",
        );
        let snapshot_age: Gauge = unlabelled(
            &mut r,
            "snapshot_age_seconds",
            "Now minus created_at of the snapshot served (0: none)",
        );
        let snapshot_load_duration: Gauge<f64, AtomicU64> = unlabelled(
            &mut r,
            "snapshot_load_duration_seconds",
            "Time to load and index the snapshot served",
        );
        let snapshot_loads = family1(
            &mut r,
            "snapshot_loads",
            "Snapshot loads by result",
            "result",
            LOAD_RESULTS,
        );
        let snapshot_rejected = family1(
            &mut r,
            "snapshot_rejected",
            "Snapshots rejected, by reason",
            "reason",
            REJECT_REASONS,
        );
        let manifest_polls = family1(
            &mut r,
            "manifest_polls",
            "Manifest polls by result",
            "result",
            POLL_RESULTS,
        );

        let geoip_info = Family::<GeoipLabels, Gauge>::default();
        r.register(
            "geoip_info",
            "GeoIP database in use (1)",
            geoip_info.clone(),
        );
        let geoip_mismatch: Gauge = unlabelled(
            &mut r,
            "geoip_mismatch",
            "1 when the GeoIP database differs from the snapshot's reference",
        );

        let stats_writes = family1(
            &mut r,
            "stats_writes",
            "Statistics object writes by result",
            "result",
            WRITE_RESULTS,
        );
        let report_writes = family1(
            &mut r,
            "report_writes",
            "Report object writes by result",
            "result",
            WRITE_RESULTS,
        );
        let stats_rows_dropped: Counter = unlabelled(
            &mut r,
            "stats_rows_dropped",
            "Statistics rows dropped after failed writes",
        );

        let connections_open: Gauge =
            unlabelled(&mut r, "connections_open", "Open client connections");
        let timeouts = family1(
            &mut r,
            "timeouts",
            "Connections closed by a timeout, by kind",
            "kind",
            TIMEOUT_KINDS,
        );
        let panics: Counter = unlabelled(&mut r, "panics", "Handler panics answered 500");
        let ready: Gauge = unlabelled(&mut r, "ready", "1 when /readyz answers 200");

        let build_info = Family::<VersionLabels, Gauge>::default();
        build_info
            .get_or_create(&VersionLabels {
                version: software_version.to_owned(),
            })
            .set(1);
        r.register("build_info", "Software version (1)", build_info);

        Metrics {
            registry: r,
            requests_family,
            requests,
            durations,
            answers,
            first_tier,
            tier_used,
            global_fallback,
            trimmed,
            address_events,
            countme_family,
            requests_by_repo_family,
            repos: ArcSwap::from_pointee(RepoTable::new()),
            countme_invalid,
            snapshot_version,
            snapshot_created,
            snapshot_age,
            snapshot_load_duration,
            created_at: AtomicI64::new(0),
            snapshot_present: AtomicBool::new(false),
            snapshot_loads,
            snapshot_rejected,
            manifest_polls,
            geoip_info,
            geoip_current: Mutex::new(None),
            geoip_mismatch,
            stats_writes,
            report_writes,
            stats_rows_dropped,
            connections_open,
            timeouts,
            panics,
            ready,
        }
    }

    /// One request answered: `requests_total{endpoint,status}` +1 and
    /// `request_duration_seconds{endpoint}` observes `seconds`. A status outside
    /// [`STATUSES`] takes the `Family` lock (never happens for the edge's own
    /// answers).
    pub fn request(&self, endpoint: Endpoint, status: u16, seconds: f64) {
        let e = endpoint as usize;
        match status_index(status) {
            Some(s) => {
                self.requests[e][s].inc();
            }
            None => {
                self.requests_family
                    .get_or_create(&RequestLabels {
                        endpoint: endpoint.as_str(),
                        status,
                    })
                    .inc();
            }
        }
        self.durations.0[e].observe(seconds);
    }

    /// `answers_total{output}` +1.
    pub fn answer(&self, output: Output) {
        self.answers[output as usize].inc();
    }

    /// `first_tier_total{tier}` +1 (`none` for an empty answer); unknown tier ignored.
    pub fn first_tier(&self, tier: &str) {
        if let Some(i) = tier_index(tier) {
            self.first_tier[i].inc();
        }
    }

    /// `tier_used_total{tier}` +1; unknown tier ignored.
    pub fn tier_used(&self, tier: &str) {
        if let Some(i) = tier_index(tier) {
            self.tier_used[i].inc();
        }
    }

    /// `global_fallback_total` +1.
    pub fn global_fallback(&self) {
        self.global_fallback.inc();
    }

    /// `hosts_trimmed_total{reason}` +n; unknown reason ignored.
    pub fn trimmed(&self, reason: &str, n: u64) {
        if let Some(i) = trim_index(reason) {
            self.trimmed[i].inc_by(n);
        }
    }

    /// `client_address_events_total{source,event}` +1; unknown source or event
    /// (e.g. `peer`, `absent`) ignored.
    pub fn address_event(&self, source: &str, event: &str) {
        if let (Some(s), Some(e)) = (source_index(source), event_index(event)) {
            self.address_events[s][e].inc();
        }
    }

    /// Handles for (repo, arch): the published table, else the slow path.
    fn repo_counters<R>(&self, repo: &str, arch: &str, f: impl FnOnce(&RepoCounters) -> R) -> R {
        let table = self.repos.load();
        if let Some(c) = table.get(repo).and_then(|arches| arches.get(arch)) {
            return f(c);
        }
        drop(table);
        let c = self.create_repo_counters(repo, arch);
        let (repo_key, arch_key): (Box<str>, Box<str>) = (repo.into(), arch.into());
        self.repos.rcu(|t| {
            let mut t = RepoTable::clone(t);
            t.entry(repo_key.clone())
                .or_default()
                .insert(arch_key.clone(), c.clone());
            t
        });
        f(&c)
    }

    /// Creates (or finds) the five series of (repo, arch); takes the `Family` locks.
    fn create_repo_counters(&self, repo: &str, arch: &str) -> RepoCounters {
        let requests = self
            .requests_by_repo_family
            .get_or_create(&RepoLabels {
                repo: repo.to_owned(),
                arch: arch.to_owned(),
            })
            .clone();
        let countme = std::array::from_fn(|i| {
            self.countme_family
                .get_or_create(&CountmeLabels {
                    repo: repo.to_owned(),
                    arch: arch.to_owned(),
                    bucket: i as u8 + 1,
                })
                .clone()
        });
        RepoCounters { requests, countme }
    }

    /// Creates the `countme_total` and `requests_by_repo_total` series of every
    /// (repo, arch) of a snapshot and publishes their handles for the request
    /// path. Call at snapshot load, before the snapshot is swapped in. Existing
    /// series keep their values; series of keys no longer listed stay exported.
    pub fn prepare_repos(&self, keys: &[(String, String)]) {
        let mut table = RepoTable::new();
        for (repo, arch) in keys {
            let c = self.create_repo_counters(repo, arch);
            table
                .entry(repo.as_str().into())
                .or_default()
                .insert(arch.as_str().into(), c);
        }
        self.repos.store(Arc::new(table));
    }

    /// `countme_total{repo,arch,bucket}` +1 for `bucket` 1–4; any other bucket
    /// counts in `countme_invalid_total` instead (E73).
    pub fn countme(&self, repo: &str, arch: &str, bucket: u8) {
        match bucket {
            1..=4 => self.repo_counters(repo, arch, |c| {
                c.countme[usize::from(bucket - 1)].inc();
            }),
            _ => {
                self.countme_invalid.inc();
            }
        }
    }

    /// `requests_by_repo_total{repo,arch}` +1.
    pub fn request_by_repo(&self, repo: &str, arch: &str) {
        self.repo_counters(repo, arch, |c| {
            c.requests.inc();
        });
    }

    /// `countme_invalid_total` +1.
    pub fn countme_invalid(&self) {
        self.countme_invalid.inc();
    }

    /// A snapshot was swapped in: `snapshot_loads_total{result="ok"}` +1 and the
    /// version, created_at (Unix seconds) and load duration gauges set.
    pub fn snapshot_loaded(&self, version: u64, created_at: i64, load_seconds: f64) {
        self.snapshot_version.set(version);
        self.snapshot_created.set(created_at);
        self.snapshot_load_duration.set(load_seconds);
        self.created_at.store(created_at, Ordering::Relaxed);
        self.snapshot_present.store(true, Ordering::Release);
        self.snapshot_loads[0].inc();
    }

    /// A snapshot was refused: `snapshot_loads_total{result="rejected"}` +1 and
    /// `snapshot_rejected_total{reason}` +1 (an unknown reason only counts the former).
    pub fn snapshot_rejected(&self, reason: &str) {
        self.snapshot_loads[1].inc();
        if let Some(i) = reject_index(reason) {
            self.snapshot_rejected[i].inc();
        }
    }

    /// `manifest_polls_total{result}` +1 (`changed` `unchanged` `error`); unknown ignored.
    pub fn manifest_poll(&self, result: &str) {
        if let Some(i) = poll_index(result) {
            self.manifest_polls[i].inc();
        }
    }

    /// The GeoIP database in use: `geoip_info{database_type,build_epoch}` 1
    /// (replacing the previous series) and `geoip_mismatch` 1 for
    /// `Some(true)`, else 0 (`None`: no reference to compare with).
    pub fn set_geoip(&self, database_type: &str, build_epoch: u64, mismatch: Option<bool>) {
        let labels = GeoipLabels {
            database_type: database_type.to_owned(),
            build_epoch,
        };
        let mut current = self.geoip_current.lock().unwrap_or_else(|e| e.into_inner());
        self.geoip_info.get_or_create(&labels).set(1);
        if let Some(old) = current.take()
            && old != labels
        {
            self.geoip_info.remove(&old);
        }
        *current = Some(labels);
        self.geoip_mismatch.set(i64::from(mismatch == Some(true)));
    }

    /// No GeoIP database any more: `geoip_info` emptied, `geoip_mismatch` 0.
    pub fn clear_geoip(&self) {
        let mut current = self.geoip_current.lock().unwrap_or_else(|e| e.into_inner());
        *current = None;
        self.geoip_info.clear();
        self.geoip_mismatch.set(0);
    }

    /// `stats_writes_total{result}` +1 (`ok` `error`); unknown ignored.
    pub fn stats_write(&self, result: &str) {
        if let Some(i) = write_index(result) {
            self.stats_writes[i].inc();
        }
    }

    /// `report_writes_total{result}` +1 (`ok` `error`); unknown ignored.
    pub fn report_write(&self, result: &str) {
        if let Some(i) = write_index(result) {
            self.report_writes[i].inc();
        }
    }

    /// `stats_rows_dropped_total` +n.
    pub fn stats_rows_dropped(&self, n: u64) {
        self.stats_rows_dropped.inc_by(n);
    }

    /// `connections_open` +1.
    pub fn connection_opened(&self) {
        self.connections_open.inc();
    }

    /// `connections_open` −1.
    pub fn connection_closed(&self) {
        self.connections_open.dec();
    }

    /// `timeouts_total{kind}` +1 (`header_read` `idle` `write`); unknown ignored.
    pub fn timeout(&self, kind: &str) {
        if let Some(i) = timeout_index(kind) {
            self.timeouts[i].inc();
        }
    }

    /// `panics_total` +1.
    pub fn panic(&self) {
        self.panics.inc();
    }

    /// `ready` 1 or 0.
    pub fn set_ready(&self, ready: bool) {
        self.ready.set(i64::from(ready));
    }

    /// The Prometheus text exposition (OpenMetrics-style names, ending in
    /// `# EOF`); the caller sets the content type. Sets `snapshot_age_seconds`
    /// from the stored created_at first (0 while nothing is loaded).
    pub fn encode(&self) -> String {
        let age = if self.snapshot_present.load(Ordering::Acquire) {
            now_unix().saturating_sub(self.created_at.load(Ordering::Relaxed))
        } else {
            0
        };
        self.snapshot_age.set(age);
        let mut out = String::with_capacity(16 * 1024);
        // Writing to a String cannot fail; a metric's own error would only cut
        // the output short, never panic.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(text: &str, series: &str) -> Option<f64> {
        text.lines().find_map(|l| {
            l.strip_prefix(series)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
    }

    #[test]
    fn send_sync() {
        fn check<T: Send + Sync + 'static>() {}
        check::<Metrics>();
        check::<Arc<Metrics>>();
    }

    #[test]
    fn index_functions_match_the_lists() {
        for (i, s) in STATUSES.iter().enumerate() {
            assert_eq!(status_index(*s), Some(i));
        }
        for (i, t) in TIERS.iter().enumerate() {
            assert_eq!(tier_index(t), Some(i));
        }
        for (i, t) in TRIM_REASONS.iter().enumerate() {
            assert_eq!(trim_index(t), Some(i));
        }
        for (i, t) in ADDRESS_SOURCES.iter().enumerate() {
            assert_eq!(source_index(t), Some(i));
        }
        for (i, t) in ADDRESS_EVENTS.iter().enumerate() {
            assert_eq!(event_index(t), Some(i));
        }
        for (i, t) in REJECT_REASONS.iter().enumerate() {
            assert_eq!(reject_index(t), Some(i));
        }
        for (i, t) in POLL_RESULTS.iter().enumerate() {
            assert_eq!(poll_index(t), Some(i));
        }
        for (i, t) in WRITE_RESULTS.iter().enumerate() {
            assert_eq!(write_index(t), Some(i));
        }
        for (i, t) in TIMEOUT_KINDS.iter().enumerate() {
            assert_eq!(timeout_index(t), Some(i));
        }
        for (i, e) in Endpoint::ALL.iter().enumerate() {
            assert_eq!(*e as usize, i);
        }
        for (i, o) in Output::ALL.iter().enumerate() {
            assert_eq!(*o as usize, i);
        }
    }

    #[test]
    fn every_metric_name_is_present() {
        let m = Metrics::new("1.2.3");
        m.set_geoip("GeoLite2-Country", 1_700_000_000, Some(false));
        m.prepare_repos(&[("fedora-40".into(), "x86_64".into())]);
        let text = m.encode();
        for name in [
            "requests_total",
            "request_duration_seconds_bucket",
            "request_duration_seconds_sum",
            "request_duration_seconds_count",
            "answers_total",
            "first_tier_total",
            "tier_used_total",
            "global_fallback_total",
            "hosts_trimmed_total",
            "client_address_events_total",
            "countme_total",
            "requests_by_repo_total",
            "countme_invalid_total",
            "snapshot_version",
            "snapshot_created_timestamp_seconds",
            "snapshot_age_seconds",
            "snapshot_load_duration_seconds",
            "snapshot_loads_total",
            "snapshot_rejected_total",
            "manifest_polls_total",
            "geoip_info",
            "geoip_mismatch",
            "stats_writes_total",
            "report_writes_total",
            "stats_rows_dropped_total",
            "connections_open",
            "timeouts_total",
            "panics_total",
            "ready",
            "build_info",
        ] {
            let full = format!("\n{PREFIX}_{name}");
            assert!(text.contains(&full), "{full} missing in:\n{text}");
        }
        assert!(!text.contains("_total_total"));
        assert!(
            text.contains("mirrorfleet_edge_build_info{version=\"1.2.3\"} 1\n"),
            "{text}"
        );
        assert!(text.contains(
            "mirrorfleet_edge_geoip_info{database_type=\"GeoLite2-Country\",build_epoch=\"1700000000\"} 1\n"
        ));
        assert!(
            text.contains("mirrorfleet_edge_requests_total{endpoint=\"other\",status=\"503\"} 0\n")
        );
        assert!(text.contains("mirrorfleet_edge_first_tier_total{tier=\"none\"} 0\n"));
        assert!(text.contains(
            "mirrorfleet_edge_client_address_events_total{source=\"ip_param\",event=\"malformed\"} 0\n"
        ));
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn counters_move() {
        let m = Metrics::new("t");
        m.request(Endpoint::Metalink, 200, 0.0002);
        m.request(Endpoint::Metalink, 200, 0.003);
        m.request(Endpoint::Other, 404, 0.00001);
        m.request(Endpoint::Mirrorlist, 418, 0.1);
        m.answer(Output::Metalink4);
        m.first_tier("country");
        m.tier_used("country");
        m.tier_used("global");
        m.global_fallback();
        m.trimmed("duplicate", 3);
        m.address_event("x_forwarded_for", "untrusted_peer");
        m.countme_invalid();
        m.snapshot_rejected("hash");
        m.manifest_poll("unchanged");
        m.stats_write("ok");
        m.report_write("error");
        m.stats_rows_dropped(7);
        m.connection_opened();
        m.connection_opened();
        m.connection_closed();
        m.timeout("header_read");
        m.panic();
        m.set_ready(true);
        let t = m.encode();
        let p = |s: &str| sample(&t, &format!("{PREFIX}_{s}"));
        assert_eq!(
            p("requests_total{endpoint=\"metalink\",status=\"200\"}"),
            Some(2.0)
        );
        assert_eq!(
            p("requests_total{endpoint=\"other\",status=\"404\"}"),
            Some(1.0)
        );
        assert_eq!(
            p("requests_total{endpoint=\"mirrorlist\",status=\"418\"}"),
            Some(1.0)
        );
        assert_eq!(
            p("request_duration_seconds_count{endpoint=\"metalink\"}"),
            Some(2.0)
        );
        assert_eq!(p("answers_total{output=\"metalink4\"}"), Some(1.0));
        assert_eq!(p("answers_total{output=\"metalink3\"}"), Some(0.0));
        assert_eq!(p("first_tier_total{tier=\"country\"}"), Some(1.0));
        assert_eq!(p("tier_used_total{tier=\"global\"}"), Some(1.0));
        assert_eq!(p("global_fallback_total"), Some(1.0));
        assert_eq!(p("hosts_trimmed_total{reason=\"duplicate\"}"), Some(3.0));
        assert_eq!(
            p("client_address_events_total{source=\"x_forwarded_for\",event=\"untrusted_peer\"}"),
            Some(1.0)
        );
        assert_eq!(p("countme_invalid_total"), Some(1.0));
        assert_eq!(p("snapshot_loads_total{result=\"rejected\"}"), Some(1.0));
        assert_eq!(p("snapshot_rejected_total{reason=\"hash\"}"), Some(1.0));
        assert_eq!(p("manifest_polls_total{result=\"unchanged\"}"), Some(1.0));
        assert_eq!(p("stats_writes_total{result=\"ok\"}"), Some(1.0));
        assert_eq!(p("report_writes_total{result=\"error\"}"), Some(1.0));
        assert_eq!(p("stats_rows_dropped_total"), Some(7.0));
        assert_eq!(p("connections_open"), Some(1.0));
        assert_eq!(p("timeouts_total{kind=\"header_read\"}"), Some(1.0));
        assert_eq!(p("panics_total"), Some(1.0));
        assert_eq!(p("ready"), Some(1.0));
        m.set_ready(false);
        assert_eq!(sample(&m.encode(), &format!("{PREFIX}_ready")), Some(0.0));
    }

    #[test]
    fn countme_after_three_calls() {
        let m = Metrics::new("t");
        m.prepare_repos(&[("fedora-40".into(), "x86_64".into())]);
        for _ in 0..3 {
            m.countme("fedora-40", "x86_64", 1);
            m.request_by_repo("fedora-40", "x86_64");
        }
        m.countme("fedora-40", "x86_64", 4);
        m.request_by_repo("fedora-40", "x86_64");
        let t = m.encode();
        assert!(t.contains("mirrorfleet_edge_countme_total{repo=\"fedora-40\",arch=\"x86_64\",bucket=\"1\"} 3\n"), "{t}");
        assert!(t.contains(
            "mirrorfleet_edge_countme_total{repo=\"fedora-40\",arch=\"x86_64\",bucket=\"4\"} 1\n"
        ));
        assert!(t.contains(
            "mirrorfleet_edge_requests_by_repo_total{repo=\"fedora-40\",arch=\"x86_64\"} 4\n"
        ));
    }

    #[test]
    fn unprepared_repo_keys_are_learned_and_survive_a_new_table() {
        let m = Metrics::new("t");
        m.countme("?", "?", 2);
        m.countme("?", "?", 2);
        assert!(m.repos.load().get("?").and_then(|a| a.get("?")).is_some());
        // A new snapshot: the series keeps its value.
        m.prepare_repos(&[
            ("?".into(), "?".into()),
            ("epel-9".into(), "aarch64".into()),
        ]);
        m.countme("?", "?", 2);
        let t = m.encode();
        assert!(
            t.contains("mirrorfleet_edge_countme_total{repo=\"?\",arch=\"?\",bucket=\"2\"} 3\n"),
            "{t}"
        );
        assert!(t.contains(
            "mirrorfleet_edge_requests_by_repo_total{repo=\"epel-9\",arch=\"aarch64\"} 0\n"
        ));
    }

    /// `(le, cumulative count)` of the metalink buckets, `le` as written.
    fn metalink_buckets(text: &str) -> Vec<(String, f64)> {
        let start = format!("{PREFIX}_request_duration_seconds_bucket{{le=\"");
        text.lines()
            .filter_map(|l| {
                let rest = l.strip_prefix(&start)?;
                let (le, rest) = rest.split_once('"')?;
                let value = rest.strip_prefix(",endpoint=\"metalink\"} ")?;
                Some((le.to_owned(), value.parse().ok()?))
            })
            .collect()
    }

    #[test]
    fn histogram_has_the_50us_bucket() {
        let m = Metrics::new("t");
        m.request(Endpoint::Metalink, 200, 0.00004);
        m.request(Endpoint::Metalink, 200, 0.00005);
        m.request(Endpoint::Metalink, 200, 0.0006);
        m.request(Endpoint::Metalink, 200, 2.0);
        let t = m.encode();
        let buckets = metalink_buckets(&t);
        assert_eq!(buckets.len(), 15, "{t}");
        let bucket = |bound: f64| {
            buckets
                .iter()
                .find(|(le, _)| le.parse::<f64>().ok() == Some(bound))
                .map(|b| b.1)
        };
        assert_eq!(buckets[0].0.parse::<f64>().ok(), Some(0.000_05), "{t}");
        assert_eq!(bucket(0.000_05), Some(2.0), "{t}");
        assert!(t.contains(
            "mirrorfleet_edge_request_duration_seconds_bucket{le=\"0.00005\",endpoint=\"metalink\"} 2\n"
        ));
        assert_eq!(bucket(0.001), Some(3.0));
        assert_eq!(bucket(1.0), Some(3.0));
        assert_eq!(buckets[14], ("+Inf".to_owned(), 4.0));
        assert_eq!(
            sample(
                &t,
                &format!("{PREFIX}_request_duration_seconds_count{{endpoint=\"metalink\"}}")
            ),
            Some(4.0)
        );
        let sum = sample(
            &t,
            &format!("{PREFIX}_request_duration_seconds_sum{{endpoint=\"metalink\"}}"),
        )
        .unwrap();
        assert!((sum - 2.00069).abs() < 1e-9, "{sum}");
        assert!(t.contains("# TYPE mirrorfleet_edge_request_duration_seconds histogram\n"));
        // Fifteen buckets (14 bounds + +Inf) for each of the seven endpoints.
        assert_eq!(
            t.matches("request_duration_seconds_bucket{").count(),
            15 * 7
        );
    }

    #[test]
    fn snapshot_gauges_and_age() {
        let m = Metrics::new("t");
        let t = m.encode();
        assert_eq!(
            sample(&t, &format!("{PREFIX}_snapshot_age_seconds")),
            Some(0.0)
        );
        assert_eq!(sample(&t, &format!("{PREFIX}_snapshot_version")), Some(0.0));
        let created = now_unix() - 100;
        m.snapshot_loaded(1204, created, 0.25);
        let t = m.encode();
        let p = |s: &str| sample(&t, &format!("{PREFIX}_{s}"));
        assert_eq!(p("snapshot_version"), Some(1204.0));
        assert_eq!(
            p("snapshot_created_timestamp_seconds"),
            Some(created as f64)
        );
        assert_eq!(p("snapshot_load_duration_seconds"), Some(0.25));
        assert_eq!(p("snapshot_loads_total{result=\"ok\"}"), Some(1.0));
        let age = p("snapshot_age_seconds").unwrap();
        assert!((100.0..=105.0).contains(&age), "{age}");
    }

    #[test]
    fn geoip_series_is_replaced() {
        let m = Metrics::new("t");
        m.set_geoip("GeoLite2-Country", 1, None);
        m.set_geoip("GeoLite2-City", 2, Some(true));
        let t = m.encode();
        assert!(!t.contains("build_epoch=\"1\""), "{t}");
        assert!(t.contains(
            "mirrorfleet_edge_geoip_info{database_type=\"GeoLite2-City\",build_epoch=\"2\"} 1\n"
        ));
        assert_eq!(sample(&t, &format!("{PREFIX}_geoip_mismatch")), Some(1.0));
        m.set_geoip("GeoLite2-City", 2, Some(false));
        m.clear_geoip();
        let t = m.encode();
        assert!(!t.contains("mirrorfleet_edge_geoip_info{"), "{t}");
        assert_eq!(sample(&t, &format!("{PREFIX}_geoip_mismatch")), Some(0.0));
    }

    #[test]
    fn unknown_labels_do_not_panic() {
        let m = Metrics::new("t");
        m.first_tier("nope");
        m.tier_used("");
        m.trimmed("\u{0}weird\"", u64::MAX);
        m.address_event("peer", "used");
        m.address_event("x_forwarded_for", "absent");
        m.snapshot_rejected("cosmic_rays");
        m.manifest_poll("maybe");
        m.stats_write("partial");
        m.report_write("");
        m.timeout("forever");
        m.countme("fedora-40", "x86_64", 0);
        m.countme("fedora-40", "x86_64", 5);
        m.countme("fedora-40", "x86_64", u8::MAX);
        m.request(Endpoint::Other, 0, f64::NAN);
        m.request(Endpoint::Other, u16::MAX, -1.0);
        m.request(Endpoint::Other, 200, f64::INFINITY);
        m.set_geoip("", 0, None);
        m.connection_closed();
        let t = m.encode();
        let p = |s: &str| sample(&t, &format!("{PREFIX}_{s}"));
        assert_eq!(p("countme_invalid_total"), Some(3.0));
        assert_eq!(p("snapshot_loads_total{result=\"rejected\"}"), Some(1.0));
        assert_eq!(
            p("request_duration_seconds_count{endpoint=\"other\"}"),
            Some(3.0)
        );
        assert_eq!(
            p("request_duration_seconds_sum{endpoint=\"other\"}"),
            Some(0.0)
        );
        assert!(!t.contains("nope") && !t.contains("cosmic") && !t.contains("forever"));
        assert!(!t.contains("repo=\"fedora-40\""));
    }

    #[test]
    fn concurrent_recording() {
        let m = Arc::new(Metrics::new("t"));
        m.prepare_repos(&[("fedora-40".into(), "x86_64".into())]);
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let m = Arc::clone(&m);
                std::thread::spawn(move || {
                    for i in 0..1000 {
                        m.request(Endpoint::Metalink, 200, 0.001);
                        m.countme("fedora-40", "x86_64", 1);
                        m.countme("?", if i % 2 == 0 { "?" } else { "x86_64" }, 3);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let t = m.encode();
        let p = |s: &str| sample(&t, &format!("{PREFIX}_{s}"));
        assert_eq!(
            p("requests_total{endpoint=\"metalink\",status=\"200\"}"),
            Some(4000.0)
        );
        assert_eq!(
            p("countme_total{repo=\"fedora-40\",arch=\"x86_64\",bucket=\"1\"}"),
            Some(4000.0)
        );
        assert_eq!(
            p("countme_total{repo=\"?\",arch=\"?\",bucket=\"3\"}"),
            Some(2000.0)
        );
        assert_eq!(
            p("countme_total{repo=\"?\",arch=\"x86_64\",bucket=\"3\"}"),
            Some(2000.0)
        );
        let sum = p("request_duration_seconds_sum{endpoint=\"metalink\"}").unwrap();
        assert!((sum - 4.0).abs() < 1e-6, "{sum}");
    }
}
