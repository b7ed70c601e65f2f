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

mod histogram;
mod labels;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

pub use histogram::AtomicHistogram;
use histogram::DurationFamily;
pub use labels::*;

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
pub(super) type Label1 = [(&'static str, &'static str); 1];
/// Two static labels.
pub(super) type Label2 = [(&'static str, &'static str); 2];

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
