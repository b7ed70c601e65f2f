//! Label values of the edge metrics (E77): endpoints, outputs, and the fixed label
//! sets whose series are created at start-up, with the index of each value.

use std::fmt;

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
pub(super) const N_BUCKETS: usize = DURATION_BUCKETS.len() + 1;

pub(super) fn status_index(status: u16) -> Option<usize> {
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

pub(super) fn tier_index(tier: &str) -> Option<usize> {
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

pub(super) fn trim_index(reason: &str) -> Option<usize> {
    match reason {
        "not_carried" => Some(0),
        "country_not_allowed" => Some(1),
        "no_url" => Some(2),
        "duplicate" => Some(3),
        "over_max_hosts" => Some(4),
        _ => None,
    }
}

pub(super) fn source_index(source: &str) -> Option<usize> {
    match source {
        "x_forwarded_for" => Some(0),
        "ip_param" => Some(1),
        _ => None,
    }
}

pub(super) fn event_index(event: &str) -> Option<usize> {
    match event {
        "used" => Some(0),
        "untrusted_peer" => Some(1),
        "not_allowed" => Some(2),
        "malformed" => Some(3),
        _ => None,
    }
}

pub(super) fn reject_index(reason: &str) -> Option<usize> {
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

pub(super) fn poll_index(result: &str) -> Option<usize> {
    match result {
        "changed" => Some(0),
        "unchanged" => Some(1),
        "error" => Some(2),
        _ => None,
    }
}

pub(super) fn write_index(result: &str) -> Option<usize> {
    match result {
        "ok" => Some(0),
        "error" => Some(1),
        _ => None,
    }
}

pub(super) fn timeout_index(kind: &str) -> Option<usize> {
    match kind {
        "header_read" => Some(0),
        "idle" => Some(1),
        "write" => Some(2),
        _ => None,
    }
}
