//! The configuration's sections, one struct per table of control-plane.md §10. Defaults live
//! in `build` next to each key, where `config show` also learns them.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use mirrorfleet_config::LogFormat;
use mirrorfleet_snapshot::model::Policy;
use mirrorfleet_snapshot::net::Prefix;

use super::Setting;
use crate::publish::S3Config;

/// The control plane's effective configuration (control-plane.md §10).
#[derive(Debug, Clone)]
pub struct Config {
    /// `[server]`.
    pub server: ServerSection,
    /// `[data]`.
    pub data: DataSection,
    /// `[database]`.
    pub database: DatabaseSection,
    /// `[store]` and `[store.s3]`.
    pub store: StoreSection,
    /// `[publish]` (§7).
    pub publish: PublishSection,
    /// `[policy]`: copied into every snapshot (edge-protocol.md E48, E49).
    pub policy: Policy,
    /// `[geo]`.
    pub geo: GeoSection,
    /// `[asn]`.
    pub asn: AsnSection,
    /// `[auth]` (§1).
    pub auth: AuthSection,
    /// `[sites]`.
    pub sites: SitesSection,
    /// `[netblocks]`.
    pub netblocks: NetblocksSection,
    /// `[scanner]` (§4).
    pub scanner: ScannerSection,
    /// `[file_details]` (§4.4).
    pub file_details: FileDetailsSection,
    /// `[repomap]` (§4.5).
    pub repomap: RepomapSection,
    /// `[crawler]` (§5).
    pub crawler: CrawlerSection,
    /// `[checkin]` (§6).
    pub checkin: CheckinSection,
    /// `[edges]` (§7.7).
    pub edges: EdgesSection,
    /// `[stats]`.
    pub stats: StatsSection,
    /// `[compat]`.
    pub compat: CompatSection,
    /// `[ui]`.
    pub ui: UiSection,
    /// `[notify]`.
    pub notify: NotifySection,
    /// `[metrics]`.
    pub metrics: MetricsSection,
    /// `[log]`.
    pub log: LogSection,
    /// The configuration file that was read, if any (as named).
    pub file: Option<PathBuf>,
    /// What `config show` prints.
    pub(super) settings: Vec<Setting>,
}

/// `[server]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSection {
    /// Address of the web server. Default `127.0.0.1:8080`.
    pub listen: SocketAddr,
    /// Base of links, cookie and CSRF origin, without a trailing `/`. Default
    /// `http://localhost:8080`.
    pub public_url: String,
    /// Peers whose `X-Forwarded-For`/`-Proto` are believed. Default none.
    pub trusted_proxies: Vec<Prefix>,
    /// Largest form or API body in bytes (checkin has its own). Default 1 MiB.
    pub body_limit: u64,
}

/// `[data]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataSection {
    /// SQLite file, local store, prefix→ASN table, lock file. Default `data`, relative to the
    /// working directory.
    pub dir: PathBuf,
}

/// `[database]`.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseSection {
    /// `sqlite://PATH` or `postgres://…`. Default `sqlite://<data.dir>/mirrorfleet.db`.
    pub url: String,
    /// Pool size for web requests. Default 16.
    pub web_connections: u32,
    /// Pool size for background jobs. Default 4.
    pub job_connections: u32,
}

impl fmt::Debug for DatabaseSection {
    /// The URL's password is masked.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseSection")
            .field("url", &super::show::mask_url(&self.url))
            .field("web_connections", &self.web_connections)
            .field("job_connections", &self.job_connections)
            .finish()
    }
}

/// `[store]`.
#[derive(Clone, PartialEq, Eq)]
pub struct StoreSection {
    /// `file://PATH` (relative to the working directory) or `s3://BUCKET/PREFIX`. Default
    /// `file://<data.dir>/store`.
    pub url: String,
    /// `[store.s3]`, merged with the AWS variables.
    pub s3: S3Config,
}

impl fmt::Debug for StoreSection {
    /// Secrets are masked.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mask = |s: &Option<String>| s.as_ref().map(|_| "***");
        f.debug_struct("StoreSection")
            .field("url", &self.url)
            .field("s3.endpoint", &self.s3.endpoint)
            .field("s3.region", &self.s3.region)
            .field("s3.access_key_id", &self.s3.access_key_id)
            .field("s3.secret_access_key", &mask(&self.s3.secret_access_key))
            .field("s3.session_token", &mask(&self.s3.session_token))
            .field("s3.allow_http", &self.s3.allow_http)
            .field("s3.virtual_hosted", &self.s3.virtual_hosted)
            .field("s3.conditional_put", &self.s3.conditional_put)
            .finish()
    }
}

/// `[publish]` (§7.1, §7.3, §7.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishSection {
    /// Quiet time after a change before publishing. Default 1s.
    pub debounce: Duration,
    /// Longest wait after the first change. Default 10s.
    pub max_delay: Duration,
    /// Shortest time between two publishes. Default 5s.
    pub min_gap: Duration,
    /// Publish at least this often. Default 10m.
    pub interval: Duration,
    /// How often the generation is polled. Default 250ms.
    pub poll_generation: Duration,
    /// Versions kept. Default 48.
    pub keep: usize,
    /// Manifests kept. Default 1000.
    pub keep_manifests: usize,
    /// Objects younger than this are never deleted. Default 1h.
    pub keep_min_age: Duration,
    /// Largest allowed drop of a guarded count, in millionths (0.25 → 250000), so the guard
    /// rail is exact integer arithmetic (§7.3). Default 250000.
    pub max_drop: u64,
    /// Fewest exported hosts. Default 1.
    pub min_hosts: u64,
    /// Fewest exported directories. Default 1.
    pub min_directories: u64,
}

/// `[geo]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GeoSection {
    /// `country,continent` CSV replacing the built-in table; `None`: built-in.
    pub continents_csv: Option<PathBuf>,
    /// GeoIP database whose type and build time snapshots record; `None`: none.
    pub geoip_reference: Option<PathBuf>,
}

/// `[asn]`.
#[derive(Debug, Clone, PartialEq)]
pub struct AsnSection {
    /// Largest fraction of bad lines `asn import` accepts. Default 0.01.
    pub max_bad_fraction: f64,
}

/// `[auth]` (§1.3, §1.5).
#[derive(Debug, Clone, PartialEq)]
pub struct AuthSection {
    /// Self-service sign-up. Default false.
    pub signup: bool,
    /// Username and password login. Default true.
    pub local_login: bool,
    /// Idle session lifetime. Default 12h.
    pub session_idle: Duration,
    /// Absolute session lifetime. Default 7d.
    pub session_max: Duration,
    /// Session cookie name. Default `mirrorfleet_session`.
    pub cookie_name: String,
    /// `Secure` cookies. Default: true when `server.public_url` is https
    /// (control-plane-decisions.md D4).
    pub cookie_secure: bool,
    /// `[auth.argon2]`.
    pub argon2: Argon2Section,
    /// Failed logins per account within `login_window` before 429. Default 5.
    pub login_failures_per_account: u32,
    /// Failed logins per client address within `login_window`. Default 20.
    pub login_failures_per_address: u32,
    /// Window of the failure counters. Default 15m.
    pub login_window: Duration,
    /// `[auth.oidc]`: reserved, kept as given (keys relative to `auth.oidc`, dotted).
    pub oidc: BTreeMap<String, toml::Value>,
}

/// `[auth.argon2]`: password hashing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Argon2Section {
    /// Memory in KiB. Default 19456.
    pub memory_kib: u32,
    /// Iterations. Default 2.
    pub time_cost: u32,
    /// Lanes. Default 1.
    pub parallelism: u32,
}

/// `[sites]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SitesSection {
    /// New sites start with `admin_active = false`. Default true.
    pub require_approval: bool,
    /// Schemes owners may add (of https, http, ftp, rsync). Default https, http, rsync.
    pub url_schemes: Vec<String>,
    /// Largest IPv4 netblock owners may add (shortest prefix length). Default 16.
    pub owner_max_ipv4_prefix: u8,
    /// Largest IPv6 netblock owners may add. Default 32.
    pub owner_max_ipv6_prefix: u8,
}

/// `[netblocks]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetblocksSection {
    /// Re-resolution of netblock DNS names. Default 1h.
    pub dns_refresh: Duration,
}

/// `[scanner]` (§4).
#[derive(Debug, Clone, PartialEq)]
pub struct ScannerSection {
    /// Default true.
    pub enabled: bool,
    /// Default 10m.
    pub interval: Duration,
    /// `[[scanner.master]]` (§4.1), as given; `scan::ScanSettings` validates them.
    pub master: Vec<toml::Table>,
    /// Delete directories gone from the master. Default true.
    pub delete_directories: bool,
    /// Refuse a scan deleting more than this fraction. Default 0.10.
    pub max_delete_fraction: f64,
    /// Read checksum files (`*-CHECKSUM`, `SHA256SUM`, …) into file details. Default true.
    pub checksum_files: bool,
    /// Default 4.
    pub hash_workers: u32,
    /// Repositories under these prefixes are not mapped. Default `["pub/alt"]`.
    pub skip_repo_prefixes: Vec<String>,
    /// Arch of ostree repositories. Default `x86_64`.
    pub ostree_arch: String,
}

/// `[file_details]` (§4.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDetailsSection {
    /// Days a superseded file detail stays valid. Default 4.
    pub keep_days: u32,
    /// Most alternates kept per file. Default 16.
    pub max_alternates: u32,
}

/// `[repomap]` (§4.5).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RepomapSection {
    /// `[[repomap.ruleset]]`, as given (`scan::ScanSettings` validates them); empty: the
    /// built-in rules.
    pub ruleset: Vec<toml::Table>,
}

/// `[crawler]` (§5).
#[derive(Debug, Clone, PartialEq)]
pub struct CrawlerSection {
    /// Default true.
    pub enabled: bool,
    /// Default 30m.
    pub repodata_interval: Duration,
    /// Default 12h.
    pub full_interval: Duration,
    /// Default 6h.
    pub disabled_recheck: Duration,
    /// Hosts crawled at once. Default 64.
    pub concurrency: u32,
    /// Default 4.
    pub per_host_connections: u32,
    /// Default 5s.
    pub connect_timeout: Duration,
    /// Default 15s.
    pub request_timeout: Duration,
    /// Default 3.
    pub retries: u32,
    /// `crawler.host_timeout.repodata` (default 10m) and `.full` (default 60m).
    pub host_timeout: HostTimeouts,
    /// Default 2h.
    pub run_timeout: Duration,
    /// Default 30m.
    pub rsync_timeout: Duration,
    /// Default 3.
    pub max_redirects: u32,
    /// Default 0.05.
    pub full_recheck_fraction: f64,
    /// Failed crawls in a row before a host is disabled. Default 4.
    pub auto_disable_after: u32,
    /// Shortest time between owner-requested crawls. Default 10m.
    pub owner_min_interval: Duration,
    /// Default 14.
    pub keep_logs_days: u32,
    /// Default `rsync`.
    pub rsync_binary: String,
    /// Glob patterns of the propagation set (§5.6); `None`: primary arches.
    pub propagation_prefixes: Option<Vec<String>>,
}

/// `crawler.host_timeout`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostTimeouts {
    /// Default 10m.
    pub repodata: Duration,
    /// Default 60m.
    pub full: Duration,
}

/// `[checkin]` (§6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckinSection {
    /// Default true.
    pub enabled: bool,
    /// Default true.
    pub accept_site_password: bool,
    /// Default false.
    pub allow_public_hosts: bool,
    /// Default 2m.
    pub min_interval: Duration,
    /// Default 10.
    pub max_failures: u32,
    /// Default 30.
    pub max_per_minute: u32,
    /// Bytes. Default 16 MiB.
    pub max_body: u64,
    /// Bytes. Default 64 MiB.
    pub max_decompressed: u64,
}

/// `[edges]` (§7.7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgesSection {
    /// Default 15s.
    pub poll_interval: Duration,
    /// Default 5m.
    pub stale_after: Duration,
}

/// `[stats]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsSection {
    /// Default 5m.
    pub ingest_interval: Duration,
    /// Default 90.
    pub access_keep_days: u32,
    /// 0: forever (default).
    pub countme_keep_days: u32,
    /// Default 30.
    pub propagation_keep_days: u32,
    /// Country codes (upper case) shown only as "other". Default none.
    pub hidden_countries: Vec<String>,
}

/// `[compat]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompatSection {
    /// Default false.
    pub public_mirroradmins: bool,
}

/// `[ui]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UiSection {
    /// Default 50.
    pub items_per_page: u32,
    /// Default `mirrorfleet`.
    pub site_title: String,
}

/// `[notify]`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct NotifySection {
    /// `smtp://…` or `smtps://…`; `None`: no mail.
    pub smtp_url: Option<String>,
    /// Sender address.
    pub from: Option<String>,
}

impl fmt::Debug for NotifySection {
    /// The SMTP URL's password is masked.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NotifySection")
            .field(
                "smtp_url",
                &self.smtp_url.as_deref().map(super::show::mask_url),
            )
            .field("from", &self.from)
            .finish()
    }
}

/// `[metrics]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsSection {
    /// Who may read `/metrics` (`Prefix::contains`). Default `127.0.0.0/8`, `::1/128`.
    pub allow: Vec<Prefix>,
}

/// `[log]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSection {
    /// A level (`trace` … `off`) or a `tracing` filter. Default `info`.
    pub level: String,
    /// Default text.
    pub format: LogFormat,
}
