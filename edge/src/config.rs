//! The edge's configuration: one struct ([`EdgeConfig`]), one loader ([`load`]),
//! edge-protocol §16.
//!
//! Sources, lowest precedence first: built-in defaults; one TOML file
//! (`--config FILE`, else `$MIRRORFLEET_EDGE_CONFIG`, else `mirrorfleet-edge.toml` in the
//! working directory when present); environment variables
//! `MIRRORFLEET_EDGE__<SECTION>__<KEY>` (`MIRRORFLEET_EDGE__EDGE_ID` for the top-level key,
//! `MIRRORFLEET_EDGE__STORE__S3__<KEY>` for S3), each value read as a TOML value; command-line
//! flags. S3 settings also fall back to the standard AWS variables (control-plane §10).
//! Unknown keys, bad values and a missing or doubled snapshot source are errors whose one-line
//! message names the key (and the file and line, or the variable); the binary prints it and
//! exits with status 2 (E88).
//!
//! `docs/edge-configuration.md` is the operators' reference; keep it in step with [`KEYS`].

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;
use mirrorfleet_snapshot::net::{Prefix, PrefixError};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use toml::Spanned;

/// Port of a listen address given as a bare IP, and of the default listen address.
pub const DEFAULT_PORT: u16 = 8081;
/// Configuration file read from the working directory when no other is named.
pub const DEFAULT_CONFIG_FILE: &str = "mirrorfleet-edge.toml";
/// Environment variable naming the configuration file (below `--config`).
pub const CONFIG_FILE_ENV: &str = "MIRRORFLEET_EDGE_CONFIG";
/// Prefix of the per-key environment overrides: `MIRRORFLEET_EDGE__SERVER__LISTEN`.
pub const ENV_PREFIX: &str = "MIRRORFLEET_EDGE__";
/// Longest `edge_id` (E80).
pub const MAX_EDGE_ID_LEN: usize = 64;

/// Every configuration key, as written in the file (dotted: section, key).
pub const KEYS: &[&str] = &[
    "edge_id",
    "server.listen",
    "server.h2c",
    "server.trusted_proxies",
    "server.ip_param_networks",
    "selection.seed",
    "geoip.path",
    "store.url",
    "store.write",
    "store.s3.endpoint",
    "store.s3.region",
    "store.s3.access_key_id",
    "store.s3.secret_access_key",
    "store.s3.session_token",
    "store.s3.allow_http",
    "store.s3.virtual_hosted",
    "store.s3.conditional_put",
    "snapshot.file",
    "snapshot.poll_interval",
    "snapshot.cache_dir",
    "snapshot.keep",
    "snapshot.download_timeout",
    "snapshot.max_age",
    "stats.period",
    "explain.enabled",
    "explain.full_networks",
    "metrics.allow",
    "limits.max_uri",
    "limits.max_header_bytes",
    "limits.max_headers",
    "limits.header_read_timeout",
    "limits.idle_timeout",
    "limits.write_timeout",
    "limits.max_connections",
    "limits.h2_max_streams",
    "shutdown.drain_delay",
    "shutdown.grace",
    "log.level",
    "log.format",
];

/// Secret keys that may instead be given as `<key>_file`, naming a file holding the value
/// (control-plane §10).
pub const FILE_KEYS: &[&str] = &[
    "store.s3.access_key_id",
    "store.s3.secret_access_key",
    "store.s3.session_token",
];

// ---------------------------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------------------------

/// Answers dnf `/metalink` and `/mirrorlist` requests from a mirrorfleet snapshot.
///
/// Configuration comes from built-in defaults, then one TOML file, then environment variables,
/// then these flags, each overriding the one before. The file is `--config FILE`, else
/// `$MIRRORFLEET_EDGE_CONFIG`, else `mirrorfleet-edge.toml` in the working directory if it is
/// there. Exactly one snapshot source is required: `--store URL` (or `store.url`) or
/// `--snapshot FILE` (or `snapshot.file`).
#[derive(Debug, Clone, Default, PartialEq, Parser)]
#[command(
    name = "mirrorfleet-edge",
    version,
    after_help = "Every configuration key can also be set by an environment variable \
MIRRORFLEET_EDGE__<SECTION>__<KEY> (e.g. MIRRORFLEET_EDGE__LIMITS__IDLE_TIMEOUT=2m, \
MIRRORFLEET_EDGE__SERVER__TRUSTED_PROXIES='[\"10.0.0.0/8\"]'), or MIRRORFLEET_EDGE__EDGE_ID \
for edge_id; values are TOML values. S3 settings: MIRRORFLEET_EDGE__STORE__S3__<KEY>, then the \
file, then the AWS_* variables.\n\nDurations: 500ms, 10s, 5m, 1h, 2d, 1h30m. \
Exit status: 0 on a clean shutdown (or a valid --check-config), 2 on a configuration error.\n\n\
Reference: docs/edge-configuration.md"
)]
pub struct Cli {
    /// Read the configuration from this TOML file [default: $MIRRORFLEET_EDGE_CONFIG, else
    /// ./mirrorfleet-edge.toml if present]
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// File mode: serve this snapshot file, re-read when it changes (snapshot.file)
    #[arg(long, value_name = "FILE", conflicts_with = "store")]
    pub snapshot: Option<PathBuf>,

    /// Store mode: follow the manifest in this object store, `file://PATH` or
    /// `s3://BUCKET/PREFIX` (store.url)
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,

    /// Listen on ADDR: IP:PORT, [IPv6]:PORT or a bare IP (port 8081); repeat for several
    /// addresses; replaces server.listen [default: 127.0.0.1:8081]
    #[arg(long, value_name = "ADDR", value_parser = parse_listen)]
    pub listen: Vec<SocketAddr>,

    /// Locate clients with this MaxMind Country or City database (geoip.path) [default: no
    /// GeoIP step]
    #[arg(long, value_name = "FILE")]
    pub geoip: Option<PathBuf>,

    /// Name of this edge in reports and explain: 1-64 of A-Za-z0-9._- (edge_id) [default: host
    /// name + "-" + port of the first listen address]
    #[arg(long, value_name = "ID", value_parser = parse_edge_id)]
    pub edge_id: Option<String>,

    /// Ordering seed, 64 hex digits (selection.seed) [default: derived from the snapshot's
    /// installation id, the same on every edge of an installation]
    #[arg(long, value_name = "HEX64", value_parser = parse_seed)]
    pub seed: Option<[u8; 32]>,

    /// How often to poll the store's manifest, or the snapshot file for changes, e.g. 2s, 500ms
    /// (snapshot.poll_interval) [default: 2s]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub poll_interval: Option<Duration>,

    /// Directory holding downloaded snapshots and current.json, store mode only
    /// (snapshot.cache_dir) [default: cache]
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,

    /// Validate the configuration and exit: 0 when valid, 2 with a message otherwise
    #[arg(long)]
    pub check_config: bool,
}

// ---------------------------------------------------------------------------------------------
// The configuration
// ---------------------------------------------------------------------------------------------

/// The edge's effective configuration (edge-protocol §16).
#[derive(Debug, Clone, PartialEq)]
pub struct EdgeConfig {
    /// Name of this edge in report and statistics object keys and in explain (E68, E80).
    pub edge_id: String,
    /// `[server]`.
    pub server: ServerConfig,
    /// `[selection]`.
    pub selection: SelectionConfig,
    /// `[geoip]`.
    pub geoip: GeoipConfig,
    /// `[store]` (store mode when `store.url` is set).
    pub store: StoreConfig,
    /// `[snapshot]` (file mode when `snapshot.file` is set).
    pub snapshot: SnapshotConfig,
    /// `[stats]`.
    pub stats: StatsConfig,
    /// `[explain]`.
    pub explain: ExplainConfig,
    /// `[metrics]`.
    pub metrics: MetricsConfig,
    /// `[limits]`.
    pub limits: LimitsConfig,
    /// `[shutdown]`.
    pub shutdown: ShutdownConfig,
    /// `[log]`.
    pub log: LogConfig,
    /// The configuration file that was read, if any (as given, not made absolute).
    pub config_file: Option<PathBuf>,
}

/// `[server]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Addresses to listen on; never empty, no duplicates. Default `127.0.0.1:8081`.
    pub listen: Vec<SocketAddr>,
    /// HTTP/2 cleartext with prior knowledge (E6). Default true.
    pub h2c: bool,
    /// Peers whose `X-Forwarded-For` is believed (E27). Default empty.
    pub trusted_proxies: Vec<Prefix>,
    /// Requesters whose `ip=` parameter is honoured (E28). Default empty.
    pub ip_param_networks: Vec<Prefix>,
}

/// `[selection]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SelectionConfig {
    /// K of E56; `None`: derived from the snapshot's installation id.
    pub seed: Option<[u8; 32]>,
}

/// `[geoip]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GeoipConfig {
    /// MaxMind Country or City database; `None`: no GeoIP step (E37).
    pub path: Option<PathBuf>,
}

/// `[store]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StoreConfig {
    /// `file://PATH` or `s3://BUCKET/PREFIX`; set in store mode only (validated, see
    /// [`StoreConfig::location`]).
    pub url: Option<String>,
    /// Whether reports and statistics are written (E80). Default `auto`.
    pub write: StoreWrite,
    /// `[store.s3]`, control-plane §10.
    pub s3: S3Config,
}

/// `store.write` (E80).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StoreWrite {
    /// Write when following a store; stop at the first permission refusal.
    #[default]
    Auto,
    /// Always try; count failures.
    True,
    /// Never write.
    False,
}

/// Where `store.url` points, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// `file://PATH`: everything after `file://`; a relative path is relative to the working
    /// directory.
    File(PathBuf),
    /// `s3://BUCKET/PREFIX`; `prefix` has no leading or trailing `/` and may be empty.
    S3 {
        /// Bucket name.
        bucket: String,
        /// Key prefix inside the bucket.
        prefix: String,
    },
}

/// `[store.s3]`: the control plane's S3 keys (control-plane §10), resolved in the order
/// `MIRRORFLEET_EDGE__STORE__S3__<KEY>`, file, AWS variables, default.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Config {
    /// Endpoint URL; `None`: AWS's endpoint for the region. (`AWS_ENDPOINT_URL_S3`, else
    /// `AWS_ENDPOINT_URL`.)
    pub endpoint: Option<String>,
    /// Region. (`AWS_REGION`, else `AWS_DEFAULT_REGION`, else `us-east-1`.)
    pub region: String,
    /// Access key id (`AWS_ACCESS_KEY_ID`); `None`: anonymous.
    pub access_key_id: Option<String>,
    /// Secret access key (`AWS_SECRET_ACCESS_KEY`).
    pub secret_access_key: Option<String>,
    /// Session token (`AWS_SESSION_TOKEN`).
    pub session_token: Option<String>,
    /// Allow `http://` endpoints (`AWS_ALLOW_HTTP`). Default false.
    pub allow_http: bool,
    /// Virtual-hosted addressing instead of path-style. Default false.
    pub virtual_hosted: bool,
    /// Manifest write condition; accepted for parity with the control plane (the edge never
    /// writes the manifest).
    pub conditional_put: ConditionalPut,
}

/// `store.s3.conditional_put`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConditionalPut {
    /// `etag` (default).
    #[default]
    Etag,
    /// `disabled`.
    Disabled,
}

/// `[snapshot]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotConfig {
    /// Snapshot file served in file mode; set in file mode only.
    pub file: Option<PathBuf>,
    /// Manifest poll (store mode) or file check (file mode) interval. Default 2s.
    pub poll_interval: Duration,
    /// Downloaded snapshots and `current.json`; store mode only. Default `cache`.
    pub cache_dir: PathBuf,
    /// Good snapshot files kept in `cache_dir`. Default 3.
    pub keep: u32,
    /// Bound on one snapshot download. Default 120s.
    pub download_timeout: Duration,
    /// `/readyz` fails above this snapshot age; zero: no limit (default) (E76).
    pub max_age: Duration,
}

/// `[stats]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsConfig {
    /// Statistics period, aligned on UTC (E71). Default 5m.
    pub period: Duration,
}

/// `[explain]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExplainConfig {
    /// `explain=1` honoured (E69). Default true.
    pub enabled: bool,
    /// Requesters who see private hosts unredacted (E69). Default empty.
    pub full_networks: Vec<Prefix>,
}

/// `[metrics]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsConfig {
    /// Requesters allowed to read `/metrics` (E77). Default `127.0.0.0/8`, `::1/128`.
    pub allow: Vec<Prefix>,
}

/// `[limits]` (E82–E84).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitsConfig {
    /// Longest request target in bytes. Default 4 KiB.
    pub max_uri: usize,
    /// Largest header block in bytes. Default 16 KiB.
    pub max_header_bytes: usize,
    /// Most header fields. Default 64.
    pub max_headers: usize,
    /// Time to receive a complete header block. Default 10s.
    pub header_read_timeout: Duration,
    /// Idle keep-alive connection lifetime. Default 60s.
    pub idle_timeout: Duration,
    /// Time to write an answer. Default 30s.
    pub write_timeout: Duration,
    /// Open connections before accepting pauses. Default 10000.
    pub max_connections: usize,
    /// Concurrent HTTP/2 streams per connection. Default 128.
    pub h2_max_streams: u32,
}

/// `[shutdown]` (E86).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShutdownConfig {
    /// Serving goes on this long after SIGTERM with `/readyz` at 503. Default 5s.
    pub drain_delay: Duration,
    /// In-flight requests get this long to finish. Default 10s.
    pub grace: Duration,
}

/// `[log]` (E74).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// A level (`trace`, `debug`, `info`, `warn`, `error`, `off`) or a `tracing` filter such as
    /// `info,mirrorfleet_edge=debug`. Default `info`.
    pub level: String,
    /// Default text.
    pub format: LogFormat,
}

/// `log.format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: vec![SocketAddr::from(([127, 0, 0, 1], DEFAULT_PORT))],
            h2c: true,
            trusted_proxies: Vec::new(),
            ip_param_networks: Vec::new(),
        }
    }
}

impl Default for S3Config {
    fn default() -> Self {
        S3Config {
            endpoint: None,
            region: "us-east-1".to_string(),
            access_key_id: None,
            secret_access_key: None,
            session_token: None,
            allow_http: false,
            virtual_hosted: false,
            conditional_put: ConditionalPut::Etag,
        }
    }
}

impl fmt::Debug for S3Config {
    /// Secrets are masked.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mask = |s: &Option<String>| s.as_ref().map(|_| "***");
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &mask(&self.secret_access_key))
            .field("session_token", &mask(&self.session_token))
            .field("allow_http", &self.allow_http)
            .field("virtual_hosted", &self.virtual_hosted)
            .field("conditional_put", &self.conditional_put)
            .finish()
    }
}

impl Default for SnapshotConfig {
    fn default() -> Self {
        SnapshotConfig {
            file: None,
            poll_interval: Duration::from_secs(2),
            cache_dir: PathBuf::from("cache"),
            keep: 3,
            download_timeout: Duration::from_secs(120),
            max_age: Duration::ZERO,
        }
    }
}

impl Default for StatsConfig {
    fn default() -> Self {
        StatsConfig {
            period: Duration::from_secs(300),
        }
    }
}

impl Default for ExplainConfig {
    fn default() -> Self {
        ExplainConfig {
            enabled: true,
            full_networks: Vec::new(),
        }
    }
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            allow: vec![
                "127.0.0.0/8".parse().expect("valid prefix"),
                "::1/128".parse().expect("valid prefix"),
            ],
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_uri: 4096,
            max_header_bytes: 16 * 1024,
            max_headers: 64,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            write_timeout: Duration::from_secs(30),
            max_connections: 10_000,
            h2_max_streams: 128,
        }
    }
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        ShutdownConfig {
            drain_delay: Duration::from_secs(5),
            grace: Duration::from_secs(10),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".to_string(),
            format: LogFormat::Text,
        }
    }
}

impl StoreConfig {
    /// The parsed `url` (`None` in file mode).
    pub fn location(&self) -> Option<StoreLocation> {
        self.url.as_deref().and_then(|u| parse_store_url(u).ok())
    }
}

impl EdgeConfig {
    /// True in store mode (`store.url` set), false in file mode (`snapshot.file` set).
    pub fn is_store_mode(&self) -> bool {
        self.store.url.is_some()
    }
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// A configuration error: one line naming the key (and where it was set). The binary prints
/// it and exits with status 2 (E88).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The key concerned (dotted, e.g. `limits.idle_timeout`), when there is one.
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
    /// Where the value came from: `FILE line N`, `environment variable NAME`, a flag.
    pub location: Option<String>,
}

impl ConfigError {
    fn new(key: Option<&str>, message: impl Into<String>, location: Option<String>) -> Self {
        let one_line = |s: String| s.replace(['\n', '\r'], " ");
        ConfigError {
            key: key.map(str::to_string),
            message: one_line(message.into()),
            location: location.map(one_line),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.key, &self.location) {
            (Some(k), Some(l)) => write!(f, "{k}: {} ({l})", self.message),
            (Some(k), None) => write!(f, "{k}: {}", self.message),
            (None, Some(l)) => write!(f, "{l}: {}", self.message),
            (None, None) => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

// ---------------------------------------------------------------------------------------------
// Value parsers (also used for the flags)
// ---------------------------------------------------------------------------------------------

/// A duration: one or more `<number><unit>` with units `ms`, `s`, `m`, `h`, `d` (`500ms`,
/// `10s`, `5m`, `1h30m`, `2d`); `0` alone is zero.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || {
        format!(
            "invalid duration \"{text}\": expected a number and a unit (ms, s, m, h, d), \
             e.g. \"500ms\", \"10s\", \"5m\", \"1h30m\", \"2d\""
        )
    };
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    if text.is_empty() {
        return Err(bad());
    }
    let b = text.as_bytes();
    let (mut i, mut total_ms) = (0usize, 0u64);
    while i < b.len() {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if start == i {
            return Err(bad());
        }
        let n: u64 = text[start..i]
            .parse()
            .map_err(|_| format!("duration \"{text}\" is too long"))?;
        let unit_start = i;
        while i < b.len() && b[i].is_ascii_alphabetic() {
            i += 1;
        }
        let ms_per_unit: u64 = match &text[unit_start..i] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return Err(bad()),
        };
        total_ms = n
            .checked_mul(ms_per_unit)
            .and_then(|x| total_ms.checked_add(x))
            .ok_or_else(|| format!("duration \"{text}\" is too long"))?;
    }
    Ok(Duration::from_millis(total_ms))
}

/// A size in bytes: a number, optionally followed by `B`, `KiB`, `MiB`, `GiB` (powers of
/// 1024) or `kB`, `MB`, `GB` (powers of 1000); units are case-insensitive.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let bad = || {
        format!(
            "invalid size \"{text}\": expected a number of bytes with an optional unit \
             (B, KiB, MiB, GiB, kB, MB, GB), e.g. \"4096\", \"16KiB\", \"1MiB\""
        )
    };
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err(bad());
    }
    let n: u64 = text[..digits]
        .parse()
        .map_err(|_| format!("size \"{text}\" is too large"))?;
    let unit = text[digits..].trim_start_matches(' ').to_ascii_lowercase();
    let mult: u64 = match unit.as_str() {
        "" | "b" => 1,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        _ => return Err(bad()),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("size \"{text}\" is too large"))
}

/// A listen address: `IP:PORT`, `[IPv6]:PORT`, or a bare IP (`127.0.0.1`, `::1`, `[::1]`)
/// taking port [`DEFAULT_PORT`] (E88).
pub fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    if let Ok(sa) = text.parse::<SocketAddr>() {
        return Ok(sa);
    }
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, DEFAULT_PORT));
    }
    if let Some(v6) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        if let Ok(ip) = v6.parse::<Ipv6Addr>() {
            return Ok(SocketAddr::new(IpAddr::V6(ip), DEFAULT_PORT));
        }
    }
    Err(format!(
        "invalid listen address \"{text}\": expected IP:PORT, [IPv6]:PORT or a bare IP address \
         (port {DEFAULT_PORT}), e.g. \"0.0.0.0:8081\", \"[::]:8081\", \"::1\"; host names are \
         not accepted"
    ))
}

/// A network: strict CIDR (`10.0.0.0/8`, `2001:db8::/32`, host bits zero), or a bare address
/// taken as a host prefix (`/32`, `/128`).
pub fn parse_network(text: &str) -> Result<Prefix, String> {
    let parsed = if text.contains('/') {
        text.parse::<Prefix>()
    } else {
        Prefix::parse_lenient(text)
    };
    parsed.map_err(|e| match e {
        PrefixError::Syntax(_) => format!(
            "{e} (expected a CIDR such as \"10.0.0.0/8\" or \"2001:db8::/32\", or a single address)"
        ),
        PrefixError::HostBits { .. } => e.to_string(),
    })
}

/// A seed: exactly 64 hex digits (32 bytes).
pub fn parse_seed(text: &str) -> Result<[u8; 32], String> {
    let mut out = [0u8; 32];
    if text.len() != 64 {
        return Err(format!(
            "invalid seed: expected 64 hex digits (32 bytes), got {} characters",
            text.chars().count()
        ));
    }
    hex::decode_to_slice(text, &mut out)
        .map_err(|_| "invalid seed: expected 64 hex digits (0-9, a-f)".to_string())?;
    Ok(out)
}

/// An edge id: 1–64 characters of `A-Za-z0-9._-` (E80).
pub fn parse_edge_id(text: &str) -> Result<String, String> {
    if text.is_empty() || text.len() > MAX_EDGE_ID_LEN || !text.bytes().all(is_edge_id_byte) {
        return Err(format!(
            "invalid edge id \"{text}\": expected 1-{MAX_EDGE_ID_LEN} characters of A-Z, a-z, 0-9, \
             '.', '_' and '-'"
        ));
    }
    Ok(text.to_string())
}

fn is_edge_id_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')
}

/// The default edge id: `host` + `-` + `port`, characters outside `A-Za-z0-9._-` replaced by
/// `-`, the host part cut so the whole has at most 64 characters.
pub fn default_edge_id(host: &str, port: u16) -> String {
    let suffix = format!("-{port}");
    let mut id: String = host
        .chars()
        .map(|c| {
            if c.is_ascii() && is_edge_id_byte(c as u8) {
                c
            } else {
                '-'
            }
        })
        .collect();
    id.truncate(MAX_EDGE_ID_LEN - suffix.len()); // all ASCII now
    id.push_str(&suffix);
    id
}

/// This machine's host name: `/proc/sys/kernel/hostname`, else `gethostname(2)`, else
/// `localhost`.
pub fn host_name() -> String {
    if let Ok(s) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        let s = s.trim();
        if !s.is_empty() {
            return s.to_string();
        }
    }
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for `buf.len()` bytes; gethostname NUL-terminates within it
    // or truncates, and we stop at the first NUL or the end.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc == 0 {
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        let s = String::from_utf8_lossy(&buf[..end]).trim().to_string();
        if !s.is_empty() {
            return s;
        }
    }
    "localhost".to_string()
}

/// A store URL: `file://PATH` (everything after `file://`) or `s3://BUCKET[/PREFIX]`.
pub fn parse_store_url(text: &str) -> Result<StoreLocation, String> {
    if let Some(path) = text.strip_prefix("file://") {
        if path.is_empty() {
            return Err(format!(
                "invalid store URL \"{text}\": no path after file://"
            ));
        }
        return Ok(StoreLocation::File(PathBuf::from(path)));
    }
    if let Some(rest) = text.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(format!(
                "invalid store URL \"{text}\": no bucket after s3://"
            ));
        }
        return Ok(StoreLocation::S3 {
            bucket: bucket.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
        });
    }
    Err(format!(
        "invalid store URL \"{text}\": expected file://PATH or s3://BUCKET/PREFIX"
    ))
}

fn parse_log_level(text: &str) -> Result<String, String> {
    const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];
    let lower = text.trim().to_ascii_lowercase();
    if LEVELS.contains(&lower.as_str()) {
        return Ok(lower);
    }
    if text.contains('=') || text.contains(',') {
        return tracing_subscriber::EnvFilter::try_new(text)
            .map(|_| text.to_string())
            .map_err(|e| format!("invalid log filter \"{text}\": {e}"));
    }
    Err(format!(
        "invalid log level \"{text}\": expected trace, debug, info, warn, error, off, or a filter \
         such as \"info,mirrorfleet_edge=debug\""
    ))
}

// ---------------------------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------------------------

/// Loads the configuration from the process environment, the working directory and `cli`.
pub fn load(cli: &Cli) -> Result<EdgeConfig, ConfigError> {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let mut env = Vec::new();
    for (name, value) in std::env::vars_os() {
        let Some(name) = name.to_str() else { continue };
        let ours = name.starts_with("MIRRORFLEET_EDGE") || name.starts_with("AWS_");
        match value.into_string() {
            Ok(v) => env.push((name.to_string(), v)),
            Err(_) if ours => {
                return Err(ConfigError::new(
                    None,
                    "value is not valid UTF-8",
                    Some(format!("environment variable {name}")),
                ));
            }
            Err(_) => {}
        }
    }
    load_from(cli, env, &cwd)
}

/// [`load`] with the environment and working directory given (for tests): `env` holds
/// `(name, value)` pairs, `cwd` is where `mirrorfleet-edge.toml` is looked for and relative
/// `--config`/`$MIRRORFLEET_EDGE_CONFIG` and `*_file` paths are resolved. The default edge id
/// still uses this machine's host name.
pub fn load_from<I, K, V>(cli: &Cli, env: I, cwd: &Path) -> Result<EdgeConfig, ConfigError>
where
    I: IntoIterator<Item = (K, V)>,
    K: AsRef<str>,
    V: AsRef<str>,
{
    let mut env: Vec<(String, String)> = env
        .into_iter()
        .map(|(k, v)| (k.as_ref().to_string(), v.as_ref().to_string()))
        .collect();
    env.sort();
    let env_map: HashMap<&str, &str> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();

    let mut layers = Layers::default();

    // The file.
    let env_config = env_map.get(CONFIG_FILE_ENV).filter(|v| !v.is_empty());
    let (file, required, named_by) = match (&cli.config, env_config) {
        (Some(p), _) => (Some(p.clone()), true, "--config"),
        (None, Some(p)) => (Some(PathBuf::from(p)), true, CONFIG_FILE_ENV),
        (None, None) => (Some(PathBuf::from(DEFAULT_CONFIG_FILE)), false, ""),
    };
    let mut config_file = None;
    if let Some(file) = file {
        let full = cwd.join(&file);
        match std::fs::read_to_string(&full) {
            Ok(text) => {
                layers.add_file(&file, &text)?;
                config_file = Some(file);
            }
            Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                let how = if named_by.is_empty() {
                    String::new()
                } else {
                    format!(" (named by {named_by})")
                };
                return Err(ConfigError::new(
                    None,
                    format!("cannot read configuration file{how}: {e}"),
                    Some(file.display().to_string()),
                ));
            }
        }
    }

    // The environment.
    for (name, value) in &env {
        if let Some(rest) = name.strip_prefix(ENV_PREFIX) {
            layers.add_env(name, rest, value)?;
        }
    }

    build(cli, &layers, &env_map, cwd, config_file)
}

/// Where a value was set; higher rank wins.
#[derive(Debug, Clone)]
enum Origin {
    File { path: PathBuf, line: usize },
    Env(String),
}

impl Origin {
    fn rank(&self) -> u8 {
        match self {
            Origin::File { .. } => 1,
            Origin::Env(_) => 2,
        }
    }

    fn describe(&self) -> String {
        match self {
            Origin::File { path, line } => format!("{} line {line}", path.display()),
            Origin::Env(name) => format!("environment variable {name}"),
        }
    }
}

#[derive(Debug, Clone)]
struct Entry {
    value: toml::Value,
    origin: Origin,
    /// The variable's text, for an environment value that may be meant as a plain string.
    raw: Option<String>,
    /// Given as `<key>_file`: `value` names a file holding the value.
    via_file: bool,
}

#[derive(Debug, Default)]
struct Layers {
    entries: BTreeMap<&'static str, Entry>,
}

/// The canonical key for a spelled one, and whether it was the `_file` form.
fn canonical_key(path: &str) -> Option<(&'static str, bool)> {
    if let Some(k) = KEYS.iter().find(|k| **k == path) {
        return Some((k, false));
    }
    let base = path.strip_suffix("_file")?;
    FILE_KEYS.iter().find(|k| **k == base).map(|k| (*k, true))
}

fn is_section(path: &str) -> bool {
    KEYS.iter()
        .any(|k| k.len() > path.len() && k.starts_with(path) && k.as_bytes()[path.len()] == b'.')
}

fn unknown_key_message(path: &str) -> String {
    let mut msg = format!("unknown key \"{path}\"");
    if let Some(s) = suggest(path) {
        msg.push_str(&format!("; did you mean \"{s}\"?"));
    }
    msg
}

/// The known key closest to an unknown one, if any is close.
fn suggest(path: &str) -> Option<&'static str> {
    let last = path.rsplit('.').next().unwrap_or(path);
    let mut best: Option<(usize, &'static str)> = None;
    for k in KEYS {
        let d = if k.rsplit('.').next() == Some(last) {
            0
        } else {
            edit_distance(path, k)
        };
        if d <= 3 && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, k));
        }
    }
    best.map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

impl Layers {
    fn insert(
        &mut self,
        path: &str,
        value: toml::Value,
        origin: Origin,
        raw: Option<String>,
    ) -> Result<(), ConfigError> {
        let Some((key, via_file)) = canonical_key(path) else {
            let msg = if is_section(path) {
                format!("\"{path}\" is a section, not a key")
            } else {
                unknown_key_message(path)
            };
            return Err(ConfigError::new(Some(path), msg, Some(origin.describe())));
        };
        if let Some(old) = self.entries.get(key) {
            if old.origin.rank() == origin.rank() {
                return Err(ConfigError::new(
                    Some(key),
                    format!("set both as \"{key}\" and as \"{key}_file\"; give one of them"),
                    Some(origin.describe()),
                ));
            }
            if old.origin.rank() > origin.rank() {
                return Ok(());
            }
        }
        self.entries.insert(
            key,
            Entry {
                value,
                origin,
                raw,
                via_file,
            },
        );
        Ok(())
    }

    fn add_file(&mut self, path: &Path, text: &str) -> Result<(), ConfigError> {
        let tree: Node = toml::from_str(text).map_err(|e| {
            let at = e.span().map(|s| line_col(text, s.start));
            let location = match at {
                Some((l, c)) => format!("{} line {l}, column {c}", path.display()),
                None => path.display().to_string(),
            };
            let mut msg = e.message().trim().to_string();
            if msg.contains("toml_private_datetime") || msg.contains("datetime") {
                msg = "dates and times are not valid configuration values".to_string();
            }
            ConfigError::new(None, format!("invalid TOML: {msg}"), Some(location))
        })?;
        let Node::Table(items) = tree else {
            return Err(ConfigError::new(
                None,
                "not a TOML table",
                Some(path.display().to_string()),
            ));
        };
        self.walk(path, text, "", items)
    }

    fn walk(
        &mut self,
        file: &Path,
        text: &str,
        prefix: &str,
        items: Vec<(Spanned<String>, Node)>,
    ) -> Result<(), ConfigError> {
        for (k, v) in items {
            let line = line_col(text, k.span().start).0;
            let full = if prefix.is_empty() {
                k.get_ref().clone()
            } else {
                format!("{prefix}.{}", k.get_ref())
            };
            let origin = Origin::File {
                path: file.to_path_buf(),
                line,
            };
            if canonical_key(&full).is_some() {
                self.insert(&full, v.into_value(), origin, None)?;
            } else if is_section(&full) {
                match v {
                    Node::Table(sub) => self.walk(file, text, &full, sub)?,
                    Node::Value(_) => {
                        return Err(ConfigError::new(
                            Some(&full),
                            format!("must be a table ([{full}] section)"),
                            Some(origin.describe()),
                        ));
                    }
                }
            } else {
                return Err(ConfigError::new(
                    Some(&full),
                    unknown_key_message(&full),
                    Some(origin.describe()),
                ));
            }
        }
        Ok(())
    }

    fn add_env(&mut self, name: &str, rest: &str, value: &str) -> Result<(), ConfigError> {
        let origin = Origin::Env(name.to_string());
        let segments: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
        if segments.iter().any(String::is_empty) {
            return Err(ConfigError::new(
                None,
                "malformed name: expected MIRRORFLEET_EDGE__<SECTION>__<KEY> or \
                 MIRRORFLEET_EDGE__<KEY>",
                Some(origin.describe()),
            ));
        }
        let path = segments.join(".");
        if canonical_key(&path).is_none() {
            let mut msg = if is_section(&path) {
                format!("\"{path}\" is a section, not a key")
            } else {
                unknown_key_message(&path)
            };
            if path == "config" {
                msg.push_str(&format!(
                    " (the configuration file is named by {CONFIG_FILE_ENV})"
                ));
            }
            return Err(ConfigError::new(Some(&path), msg, Some(origin.describe())));
        }
        let parsed = toml::from_str::<toml::Table>(&format!("v = {value}"))
            .ok()
            .filter(|t| t.len() == 1)
            .and_then(|mut t| t.remove("v"));
        let parsed = parsed.unwrap_or_else(|| toml::Value::String(value.to_string()));
        self.insert(&path, parsed, origin, Some(value.to_string()))
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// A TOML document kept with the spans of its keys.
enum Node {
    Table(Vec<(Spanned<String>, Node)>),
    Value(toml::Value),
}

impl Node {
    fn into_value(self) -> toml::Value {
        match self {
            Node::Value(v) => v,
            Node::Table(items) => toml::Value::Table(
                items
                    .into_iter()
                    .map(|(k, v)| (k.into_inner(), v.into_value()))
                    .collect(),
            ),
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a TOML value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Value(toml::Value::Boolean(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Value(toml::Value::Integer(v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
        i64::try_from(v)
            .map(|v| Node::Value(toml::Value::Integer(v)))
            .map_err(|_| E::custom("integer out of range"))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Value(toml::Value::Float(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Value(toml::Value::String(v.to_string())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Node, E> {
        Ok(Node::Value(toml::Value::String(v)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(n) = seq.next_element::<Node>()? {
            items.push(n.into_value());
        }
        Ok(Node::Value(toml::Value::Array(items)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(k) = map.next_key::<Spanned<String>>()? {
            let v = map.next_value::<Node>()?;
            items.push((k, v));
        }
        Ok(Node::Table(items))
    }
}

// ---------------------------------------------------------------------------------------------
// Typed values
// ---------------------------------------------------------------------------------------------

fn describe(v: &toml::Value) -> String {
    match v {
        toml::Value::Array(_) | toml::Value::Table(_) => format!(
            "a{} {}",
            if matches!(v, toml::Value::Array(_)) {
                "n"
            } else {
                ""
            },
            v.type_str()
        ),
        _ => format!("{} {v}", v.type_str()),
    }
}

fn want_str(v: &toml::Value, what: &str) -> Result<String, String> {
    match v {
        toml::Value::String(s) => Ok(s.clone()),
        _ => Err(format!("expected {what}, got {}", describe(v))),
    }
}

fn conv_opt_string(v: &toml::Value) -> Result<Option<String>, String> {
    let s = want_str(v, "a string")?;
    Ok((!s.is_empty()).then_some(s))
}

fn conv_opt_path(v: &toml::Value) -> Result<Option<PathBuf>, String> {
    let s = want_str(v, "a path")?;
    Ok((!s.is_empty()).then(|| PathBuf::from(s)))
}

fn conv_path(v: &toml::Value) -> Result<PathBuf, String> {
    let s = want_str(v, "a path")?;
    if s.is_empty() {
        return Err("must not be empty".to_string());
    }
    Ok(PathBuf::from(s))
}

fn conv_bool(v: &toml::Value) -> Result<bool, String> {
    match v {
        toml::Value::Boolean(b) => Ok(*b),
        _ => Err(format!("expected true or false, got {}", describe(v))),
    }
}

fn conv_duration(v: &toml::Value) -> Result<Duration, String> {
    match v {
        toml::Value::String(s) => parse_duration(s),
        toml::Value::Integer(0) => Ok(Duration::ZERO),
        toml::Value::Integer(n) => Err(format!(
            "a duration needs a unit: write \"{n}s\" or \"{n}ms\", not {n}"
        )),
        _ => Err(format!(
            "expected a duration such as \"10s\", got {}",
            describe(v)
        )),
    }
}

fn conv_size(v: &toml::Value) -> Result<usize, String> {
    let n = match v {
        toml::Value::Integer(n) => {
            u64::try_from(*n).map_err(|_| format!("expected a size, got the negative {n}"))?
        }
        toml::Value::String(s) => parse_size(s)?,
        _ => {
            return Err(format!(
                "expected a size such as \"16KiB\", got {}",
                describe(v)
            ));
        }
    };
    usize::try_from(n).map_err(|_| format!("size {n} is too large"))
}

fn conv_int<T: TryFrom<i64>>(v: &toml::Value) -> Result<T, String> {
    match v {
        toml::Value::Integer(n) => T::try_from(*n).map_err(|_| format!("{n} is out of range")),
        _ => Err(format!("expected an integer, got {}", describe(v))),
    }
}

/// A list given as a TOML array of strings, or as one string (comma-separated, for
/// environment variables).
fn conv_list<T>(v: &toml::Value, each: fn(&str) -> Result<T, String>) -> Result<Vec<T>, String> {
    match v {
        toml::Value::String(s) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(each)
            .collect(),
        toml::Value::Array(items) => items
            .iter()
            .map(|i| match i {
                toml::Value::String(s) => each(s),
                _ => Err(format!("expected a list of strings, found {}", describe(i))),
            })
            .collect(),
        _ => Err(format!("expected a list of strings, got {}", describe(v))),
    }
}

fn conv_networks(v: &toml::Value) -> Result<Vec<Prefix>, String> {
    conv_list(v, parse_network)
}

fn conv_listen(v: &toml::Value) -> Result<Vec<SocketAddr>, String> {
    conv_list(v, parse_listen)
}

fn conv_seed(v: &toml::Value) -> Result<Option<[u8; 32]>, String> {
    let s = want_str(v, "64 hex digits in a string")?;
    if s.is_empty() {
        return Ok(None);
    }
    parse_seed(&s).map(Some)
}

fn conv_store_write(v: &toml::Value) -> Result<StoreWrite, String> {
    match v {
        toml::Value::Boolean(true) => Ok(StoreWrite::True),
        toml::Value::Boolean(false) => Ok(StoreWrite::False),
        toml::Value::String(s) if s == "auto" => Ok(StoreWrite::Auto),
        toml::Value::String(s) if s == "true" => Ok(StoreWrite::True),
        toml::Value::String(s) if s == "false" => Ok(StoreWrite::False),
        _ => Err(format!(
            "expected \"auto\", true or false, got {}",
            describe(v)
        )),
    }
}

fn conv_log_format(v: &toml::Value) -> Result<LogFormat, String> {
    match want_str(v, "\"text\" or \"json\"")?.as_str() {
        "text" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        other => Err(format!("expected \"text\" or \"json\", got \"{other}\"")),
    }
}

fn conv_log_level(v: &toml::Value) -> Result<String, String> {
    parse_log_level(&want_str(v, "a log level")?)
}

fn conv_conditional_put(v: &toml::Value) -> Result<ConditionalPut, String> {
    match want_str(v, "\"etag\" or \"disabled\"")?.as_str() {
        "etag" => Ok(ConditionalPut::Etag),
        "disabled" => Ok(ConditionalPut::Disabled),
        other => Err(format!(
            "expected \"etag\" or \"disabled\", got \"{other}\""
        )),
    }
}

fn conv_edge_id(v: &toml::Value) -> Result<String, String> {
    parse_edge_id(&want_str(v, "a string")?)
}

fn conv_store_url(v: &toml::Value) -> Result<Option<String>, String> {
    let s = want_str(v, "a URL")?;
    if s.is_empty() {
        return Ok(None);
    }
    parse_store_url(&s)?;
    Ok(Some(s))
}

fn truthy(name: &str, text: &str) -> Result<bool, ConfigError> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" | "" => Ok(false),
        _ => Err(ConfigError::new(
            Some("store.s3.allow_http"),
            format!("expected true or false, got \"{text}\""),
            Some(format!("environment variable {name}")),
        )),
    }
}

struct Builder<'a> {
    layers: &'a Layers,
    cwd: &'a Path,
}

impl Builder<'_> {
    /// The value of `key` if set, converted; an environment value that fails as TOML is
    /// retried as its plain text (so `MIRRORFLEET_EDGE__EDGE_ID=123` is the string "123").
    fn get<T>(
        &self,
        key: &'static str,
        conv: fn(&toml::Value) -> Result<T, String>,
    ) -> Result<Option<T>, ConfigError> {
        let Some(e) = self.layers.entries.get(key) else {
            return Ok(None);
        };
        let err = |msg: String| {
            let shown = if e.via_file {
                format!("{key}_file")
            } else {
                key.to_string()
            };
            ConfigError::new(Some(&shown), msg, Some(e.origin.describe()))
        };
        let value = if e.via_file {
            let path = want_str(&e.value, "a file name").map_err(err)?;
            let text = std::fs::read_to_string(self.cwd.join(&path))
                .map_err(|x| err(format!("cannot read \"{path}\": {x}")))?;
            toml::Value::String(text.trim_end_matches(['\n', '\r']).to_string())
        } else {
            e.value.clone()
        };
        match conv(&value) {
            Ok(v) => Ok(Some(v)),
            Err(msg) => {
                if let Some(raw) = &e.raw {
                    if !matches!(value, toml::Value::String(_)) {
                        if let Ok(v) = conv(&toml::Value::String(raw.clone())) {
                            return Ok(Some(v));
                        }
                    }
                }
                Err(err(msg))
            }
        }
    }

    fn or<T>(
        &self,
        key: &'static str,
        default: T,
        conv: fn(&toml::Value) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        Ok(self.get(key, conv)?.unwrap_or(default))
    }

    fn rank(&self, key: &str) -> u8 {
        self.layers.entries.get(key).map_or(0, |e| e.origin.rank())
    }

    fn invalid(&self, key: &'static str, msg: impl Into<String>) -> ConfigError {
        let location = self.layers.entries.get(key).map(|e| e.origin.describe());
        ConfigError::new(Some(key), msg, location)
    }

    fn positive(&self, key: &'static str, d: Duration) -> Result<Duration, ConfigError> {
        if d.is_zero() {
            Err(self.invalid(key, "must be greater than zero"))
        } else {
            Ok(d)
        }
    }

    fn at_least_one<T: PartialOrd + From<u8>>(
        &self,
        key: &'static str,
        n: T,
    ) -> Result<T, ConfigError> {
        if n < T::from(1) {
            Err(self.invalid(key, "must be at least 1"))
        } else {
            Ok(n)
        }
    }
}

fn build(
    cli: &Cli,
    layers: &Layers,
    env: &HashMap<&str, &str>,
    cwd: &Path,
    config_file: Option<PathBuf>,
) -> Result<EdgeConfig, ConfigError> {
    let b = Builder { layers, cwd };
    let flag = |name: &str| Some(format!("flag {name}"));

    // [server]
    let d = ServerConfig::default();
    let mut server = ServerConfig {
        listen: b.or("server.listen", d.listen, conv_listen)?,
        h2c: b.or("server.h2c", d.h2c, conv_bool)?,
        trusted_proxies: b.or("server.trusted_proxies", d.trusted_proxies, conv_networks)?,
        ip_param_networks: b.or(
            "server.ip_param_networks",
            d.ip_param_networks,
            conv_networks,
        )?,
    };
    if !cli.listen.is_empty() {
        server.listen = cli.listen.clone();
    }
    if server.listen.is_empty() {
        return Err(b.invalid("server.listen", "at least one address is required"));
    }
    for (i, a) in server.listen.iter().enumerate() {
        if server.listen[..i].contains(a) {
            let location = if cli.listen.is_empty() {
                layers
                    .entries
                    .get("server.listen")
                    .map(|e| e.origin.describe())
            } else {
                flag("--listen")
            };
            return Err(ConfigError::new(
                Some("server.listen"),
                format!("{a} is listed twice"),
                location,
            ));
        }
    }

    // edge_id
    let edge_id = match (&cli.edge_id, b.get("edge_id", conv_edge_id)?) {
        (Some(id), _) => id.clone(),
        (None, Some(id)) => id,
        (None, None) => default_edge_id(&host_name(), server.listen[0].port()),
    };

    // [selection], [geoip]
    let mut selection = SelectionConfig {
        seed: b.get("selection.seed", conv_seed)?.flatten(),
    };
    if cli.seed.is_some() {
        selection.seed = cli.seed;
    }
    let mut geoip = GeoipConfig {
        path: b.get("geoip.path", conv_opt_path)?.flatten(),
    };
    if cli.geoip.is_some() {
        geoip.path = cli.geoip.clone();
    }

    // [store], [store.s3]
    let aws = |names: &[&'static str]| -> Option<(String, &'static str)> {
        names.iter().find_map(|n| {
            env.get(n)
                .filter(|v| !v.is_empty())
                .map(|v| (v.to_string(), *n))
        })
    };
    let ds = S3Config::default();
    let s3 = S3Config {
        endpoint: match b.get("store.s3.endpoint", conv_opt_string)? {
            Some(v) => v,
            None => aws(&["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]).map(|(v, _)| v),
        },
        region: match b.get("store.s3.region", conv_opt_string)? {
            Some(v) => v.unwrap_or(ds.region),
            None => aws(&["AWS_REGION", "AWS_DEFAULT_REGION"]).map_or(ds.region, |(v, _)| v),
        },
        access_key_id: match b.get("store.s3.access_key_id", conv_opt_string)? {
            Some(v) => v,
            None => aws(&["AWS_ACCESS_KEY_ID"]).map(|(v, _)| v),
        },
        secret_access_key: match b.get("store.s3.secret_access_key", conv_opt_string)? {
            Some(v) => v,
            None => aws(&["AWS_SECRET_ACCESS_KEY"]).map(|(v, _)| v),
        },
        session_token: match b.get("store.s3.session_token", conv_opt_string)? {
            Some(v) => v,
            None => aws(&["AWS_SESSION_TOKEN"]).map(|(v, _)| v),
        },
        allow_http: match b.get("store.s3.allow_http", conv_bool)? {
            Some(v) => v,
            None => match aws(&["AWS_ALLOW_HTTP"]) {
                Some((v, name)) => truthy(name, &v)?,
                None => ds.allow_http,
            },
        },
        virtual_hosted: b.or("store.s3.virtual_hosted", ds.virtual_hosted, conv_bool)?,
        conditional_put: b.or(
            "store.s3.conditional_put",
            ds.conditional_put,
            conv_conditional_put,
        )?,
    };
    let mut store = StoreConfig {
        url: b.get("store.url", conv_store_url)?.flatten(),
        write: b.or("store.write", StoreWrite::Auto, conv_store_write)?,
        s3,
    };

    // [snapshot]
    let d = SnapshotConfig::default();
    let mut snapshot = SnapshotConfig {
        file: b.get("snapshot.file", conv_opt_path)?.flatten(),
        poll_interval: b.or("snapshot.poll_interval", d.poll_interval, conv_duration)?,
        cache_dir: b.or("snapshot.cache_dir", d.cache_dir, conv_path)?,
        keep: b.or("snapshot.keep", d.keep, conv_int::<u32>)?,
        download_timeout: b.or(
            "snapshot.download_timeout",
            d.download_timeout,
            conv_duration,
        )?,
        max_age: b.or("snapshot.max_age", d.max_age, conv_duration)?,
    };
    b.positive("snapshot.poll_interval", snapshot.poll_interval)?;
    b.positive("snapshot.download_timeout", snapshot.download_timeout)?;
    b.at_least_one("snapshot.keep", snapshot.keep)?;
    if let Some(d) = cli.poll_interval {
        if d.is_zero() {
            return Err(ConfigError::new(
                Some("snapshot.poll_interval"),
                "must be greater than zero",
                flag("--poll-interval"),
            ));
        }
        snapshot.poll_interval = d;
    }
    if let Some(dir) = &cli.cache_dir {
        if dir.as_os_str().is_empty() {
            return Err(ConfigError::new(
                Some("snapshot.cache_dir"),
                "must not be empty",
                flag("--cache-dir"),
            ));
        }
        snapshot.cache_dir = dir.clone();
    }

    // The mode: exactly one of store.url and snapshot.file. A source that sets one replaces the
    // mode chosen by a source of lower precedence (flags 3, environment 2, file 1).
    let mut store_rank = store.url.as_ref().map(|_| b.rank("store.url"));
    let mut file_rank = snapshot.file.as_ref().map(|_| b.rank("snapshot.file"));
    if let Some(url) = &cli.store {
        parse_store_url(url)
            .map_err(|m| ConfigError::new(Some("store.url"), m, flag("--store")))?;
        store.url = Some(url.clone());
        store_rank = Some(3);
    }
    if let Some(file) = &cli.snapshot {
        snapshot.file = Some(file.clone());
        file_rank = Some(3);
    }
    match (store_rank, file_rank) {
        (None, None) => {
            return Err(ConfigError::new(
                Some("store.url, snapshot.file"),
                "exactly one is required, neither is set: store.url (--store URL) for store mode \
                 or snapshot.file (--snapshot FILE) for file mode",
                None,
            ));
        }
        (Some(s), Some(f)) if s == f => {
            let location = match s {
                3 => flag("--store and --snapshot"),
                _ => Some(format!(
                    "{} and {}",
                    layers.entries["store.url"].origin.describe(),
                    layers.entries["snapshot.file"].origin.describe()
                )),
            };
            return Err(ConfigError::new(
                Some("store.url, snapshot.file"),
                "exactly one is required, both are set: store.url for store mode or \
                 snapshot.file for file mode",
                location,
            ));
        }
        (Some(s), Some(f)) if s > f => snapshot.file = None,
        (Some(_), Some(_)) => store.url = None,
        _ => {}
    }

    // [stats], [explain], [metrics]
    let stats = StatsConfig {
        period: b.positive(
            "stats.period",
            b.or("stats.period", StatsConfig::default().period, conv_duration)?,
        )?,
    };
    let explain = ExplainConfig {
        enabled: b.or("explain.enabled", true, conv_bool)?,
        full_networks: b.or("explain.full_networks", Vec::new(), conv_networks)?,
    };
    let metrics = MetricsConfig {
        allow: b.or(
            "metrics.allow",
            MetricsConfig::default().allow,
            conv_networks,
        )?,
    };

    // [limits]
    let d = LimitsConfig::default();
    let limits = LimitsConfig {
        max_uri: b.at_least_one(
            "limits.max_uri",
            b.or("limits.max_uri", d.max_uri, conv_size)?,
        )?,
        max_header_bytes: b.at_least_one(
            "limits.max_header_bytes",
            b.or("limits.max_header_bytes", d.max_header_bytes, conv_size)?,
        )?,
        max_headers: b.at_least_one(
            "limits.max_headers",
            b.or("limits.max_headers", d.max_headers, conv_int)?,
        )?,
        header_read_timeout: b.positive(
            "limits.header_read_timeout",
            b.or(
                "limits.header_read_timeout",
                d.header_read_timeout,
                conv_duration,
            )?,
        )?,
        idle_timeout: b.positive(
            "limits.idle_timeout",
            b.or("limits.idle_timeout", d.idle_timeout, conv_duration)?,
        )?,
        write_timeout: b.positive(
            "limits.write_timeout",
            b.or("limits.write_timeout", d.write_timeout, conv_duration)?,
        )?,
        max_connections: b.at_least_one(
            "limits.max_connections",
            b.or("limits.max_connections", d.max_connections, conv_int)?,
        )?,
        h2_max_streams: b.at_least_one(
            "limits.h2_max_streams",
            b.or("limits.h2_max_streams", d.h2_max_streams, conv_int)?,
        )?,
    };

    // [shutdown], [log]
    let d = ShutdownConfig::default();
    let shutdown = ShutdownConfig {
        drain_delay: b.or("shutdown.drain_delay", d.drain_delay, conv_duration)?,
        grace: b.or("shutdown.grace", d.grace, conv_duration)?,
    };
    let d = LogConfig::default();
    let log = LogConfig {
        level: b.or("log.level", d.level, conv_log_level)?,
        format: b.or("log.format", d.format, conv_log_format)?,
    };

    Ok(EdgeConfig {
        edge_id,
        server,
        selection,
        geoip,
        store,
        snapshot,
        stats,
        explain,
        metrics,
        limits,
        shutdown,
        log,
        config_file,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn cli(args: &[&str]) -> Cli {
        let mut all = vec!["mirrorfleet-edge"];
        all.extend_from_slice(args);
        Cli::try_parse_from(all).expect("valid flags")
    }

    const NO_ENV: [(&str, &str); 0] = [];

    fn net(s: &str) -> Prefix {
        s.parse().unwrap()
    }

    #[test]
    fn defaults() {
        let dir = tempfile::tempdir().unwrap();
        let c = load_from(&cli(&["--snapshot", "snap.bin"]), NO_ENV, dir.path()).unwrap();
        assert_eq!(
            c.server,
            ServerConfig {
                listen: vec!["127.0.0.1:8081".parse().unwrap()],
                h2c: true,
                trusted_proxies: vec![],
                ip_param_networks: vec![],
            }
        );
        assert!(
            c.edge_id.ends_with("-8081") && parse_edge_id(&c.edge_id).is_ok(),
            "{}",
            c.edge_id
        );
        assert_eq!(c.selection.seed, None);
        assert_eq!(c.geoip.path, None);
        assert_eq!(c.store.url, None);
        assert_eq!(c.store.write, StoreWrite::Auto);
        assert_eq!(c.store.s3, S3Config::default());
        assert_eq!(c.store.s3.region, "us-east-1");
        assert_eq!(
            c.snapshot,
            SnapshotConfig {
                file: Some(PathBuf::from("snap.bin")),
                poll_interval: Duration::from_secs(2),
                cache_dir: PathBuf::from("cache"),
                keep: 3,
                download_timeout: Duration::from_secs(120),
                max_age: Duration::ZERO,
            }
        );
        assert_eq!(c.stats.period, Duration::from_secs(300));
        assert_eq!(
            c.explain,
            ExplainConfig {
                enabled: true,
                full_networks: vec![]
            }
        );
        assert_eq!(c.metrics.allow, vec![net("127.0.0.0/8"), net("::1/128")]);
        assert_eq!(
            c.limits,
            LimitsConfig {
                max_uri: 4096,
                max_header_bytes: 16384,
                max_headers: 64,
                header_read_timeout: Duration::from_secs(10),
                idle_timeout: Duration::from_secs(60),
                write_timeout: Duration::from_secs(30),
                max_connections: 10_000,
                h2_max_streams: 128,
            }
        );
        assert_eq!(
            c.shutdown,
            ShutdownConfig {
                drain_delay: Duration::from_secs(5),
                grace: Duration::from_secs(10)
            }
        );
        assert_eq!(
            c.log,
            LogConfig {
                level: "info".into(),
                format: LogFormat::Text
            }
        );
        assert_eq!(c.config_file, None);
        assert!(!c.is_store_mode());
    }

    const FULL: &str = r#"
edge_id = "edge-a.example.org"

[server]
listen = ["0.0.0.0:8080", "[::]:8080", "::1"]
h2c = false
trusted_proxies = ["10.0.0.0/8", "192.0.2.1"]
ip_param_networks = ["2001:db8::/32"]

[selection]
seed = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

[geoip]
path = "/var/lib/GeoIP/GeoLite2-Country.mmdb"

[store]
url = "s3://mirrors/fedora"
write = false

[store.s3]
endpoint = "https://s3.example.org"
region = "eu-north-1"
access_key_id = "AKID"
secret_access_key_file = "secret.txt"
allow_http = true
virtual_hosted = true
conditional_put = "disabled"

[snapshot]
poll_interval = "500ms"
cache_dir = "/var/cache/mirrorfleet-edge"
keep = 5
download_timeout = "1h30m"
max_age = "2d"

[stats]
period = "1m"

[explain]
enabled = false
full_networks = ["198.51.100.0/24"]

[metrics]
allow = ["10.1.0.0/16"]

[limits]
max_uri = "8KiB"
max_header_bytes = 32768
max_headers = 100
header_read_timeout = "5s"
idle_timeout = "2m"
write_timeout = "1m"
max_connections = 50000
h2_max_streams = 256

[shutdown]
drain_delay = "0s"
grace = "30s"

[log]
level = "debug"
format = "json"
"#;

    #[test]
    fn file_with_every_section() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("edge.toml"), FULL).unwrap();
        fs::write(dir.path().join("secret.txt"), "s3cr3t\n").unwrap();
        let c = load_from(&cli(&["--config", "edge.toml"]), NO_ENV, dir.path()).unwrap();
        assert_eq!(c.config_file, Some(PathBuf::from("edge.toml")));
        assert_eq!(c.edge_id, "edge-a.example.org");
        assert_eq!(
            c.server.listen,
            vec![
                "0.0.0.0:8080".parse::<SocketAddr>().unwrap(),
                "[::]:8080".parse().unwrap(),
                "[::1]:8081".parse().unwrap(),
            ]
        );
        assert!(!c.server.h2c);
        assert_eq!(
            c.server.trusted_proxies,
            vec![net("10.0.0.0/8"), net("192.0.2.1/32")]
        );
        assert_eq!(c.server.ip_param_networks, vec![net("2001:db8::/32")]);
        let seed = c.selection.seed.unwrap();
        assert_eq!(seed[0], 0);
        assert_eq!(seed[31], 0x1f);
        assert_eq!(
            c.geoip.path,
            Some(PathBuf::from("/var/lib/GeoIP/GeoLite2-Country.mmdb"))
        );
        assert_eq!(c.store.url.as_deref(), Some("s3://mirrors/fedora"));
        assert_eq!(
            c.store.location(),
            Some(StoreLocation::S3 {
                bucket: "mirrors".into(),
                prefix: "fedora".into()
            })
        );
        assert_eq!(c.store.write, StoreWrite::False);
        assert_eq!(
            c.store.s3,
            S3Config {
                endpoint: Some("https://s3.example.org".into()),
                region: "eu-north-1".into(),
                access_key_id: Some("AKID".into()),
                secret_access_key: Some("s3cr3t".into()),
                session_token: None,
                allow_http: true,
                virtual_hosted: true,
                conditional_put: ConditionalPut::Disabled,
            }
        );
        assert!(!format!("{:?}", c.store.s3).contains("s3cr3t"));
        assert!(c.is_store_mode());
        assert_eq!(
            c.snapshot,
            SnapshotConfig {
                file: None,
                poll_interval: Duration::from_millis(500),
                cache_dir: PathBuf::from("/var/cache/mirrorfleet-edge"),
                keep: 5,
                download_timeout: Duration::from_secs(5400),
                max_age: Duration::from_secs(2 * 86400),
            }
        );
        assert_eq!(c.stats.period, Duration::from_secs(60));
        assert_eq!(
            c.explain,
            ExplainConfig {
                enabled: false,
                full_networks: vec![net("198.51.100.0/24")]
            }
        );
        assert_eq!(c.metrics.allow, vec![net("10.1.0.0/16")]);
        assert_eq!(
            c.limits,
            LimitsConfig {
                max_uri: 8192,
                max_header_bytes: 32768,
                max_headers: 100,
                header_read_timeout: Duration::from_secs(5),
                idle_timeout: Duration::from_secs(120),
                write_timeout: Duration::from_secs(60),
                max_connections: 50_000,
                h2_max_streams: 256,
            }
        );
        assert_eq!(
            c.shutdown,
            ShutdownConfig {
                drain_delay: Duration::ZERO,
                grace: Duration::from_secs(30)
            }
        );
        assert_eq!(
            c.log,
            LogConfig {
                level: "debug".into(),
                format: LogFormat::Json
            }
        );
    }

    #[test]
    fn file_from_env_var_and_working_directory() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join("a.toml"),
            "edge_id = \"from-env-file\"\n[snapshot]\nfile = \"s\"\n",
        )
        .unwrap();
        fs::write(
            dir.path().join(DEFAULT_CONFIG_FILE),
            "edge_id = \"from-cwd\"\n[snapshot]\nfile = \"s\"\n",
        )
        .unwrap();
        let c = load_from(&cli(&[]), [(CONFIG_FILE_ENV, "a.toml")], dir.path()).unwrap();
        assert_eq!(c.edge_id, "from-env-file");
        let c = load_from(&cli(&[]), NO_ENV, dir.path()).unwrap();
        assert_eq!(c.edge_id, "from-cwd");
        assert_eq!(c.config_file, Some(PathBuf::from(DEFAULT_CONFIG_FILE)));
        let err = load_from(&cli(&["--config", "missing.toml"]), NO_ENV, dir.path()).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("missing.toml: cannot read configuration file"),
            "{err}"
        );
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join("e.toml"),
            "[snapshot]\nfile = \"x\"\n\n[server]\nlisen = [\"::1\"]\n",
        )
        .unwrap();
        let err = load_from(&cli(&["--config", "e.toml"]), NO_ENV, dir.path()).unwrap_err();
        assert_eq!(err.key.as_deref(), Some("server.lisen"));
        assert_eq!(
            err.to_string(),
            "server.lisen: unknown key \"server.lisen\"; did you mean \"server.listen\"? (e.toml line 5)"
        );

        fs::write(
            dir.path().join("e.toml"),
            "[snapshot]\nfile = \"x\"\n[bogus]\na = 1\n",
        )
        .unwrap();
        let err = load_from(&cli(&["--config", "e.toml"]), NO_ENV, dir.path()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "bogus: unknown key \"bogus\" (e.toml line 3)"
        );

        fs::write(dir.path().join("e.toml"), "server.max_uri = 10\n").unwrap();
        let err = load_from(&cli(&["--config", "e.toml"]), NO_ENV, dir.path()).unwrap_err();
        assert!(
            err.to_string().contains("did you mean \"limits.max_uri\"?"),
            "{err}"
        );

        let err = load_from(
            &cli(&["--snapshot", "x"]),
            [("MIRRORFLEET_EDGE__LIMITS__MAX_URL", "1")],
            dir.path(),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "limits.max_url: unknown key \"limits.max_url\"; did you mean \"limits.max_uri\"? \
             (environment variable MIRRORFLEET_EDGE__LIMITS__MAX_URL)"
        );
    }

    #[test]
    fn toml_syntax_error_is_one_line_with_position() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("e.toml"), "[server]\nh2c = yes\n").unwrap();
        let err = load_from(&cli(&["--config", "e.toml"]), NO_ENV, dir.path()).unwrap_err();
        let s = err.to_string();
        assert!(
            s.starts_with("e.toml line 2, column 7: invalid TOML"),
            "{s}"
        );
        assert!(!s.contains('\n'));
        fs::write(dir.path().join("e.toml"), "[snapshot]\nfile = 1979-05-27\n").unwrap();
        let err = load_from(&cli(&["--config", "e.toml"]), NO_ENV, dir.path()).unwrap_err();
        assert!(err.to_string().contains("dates and times"), "{err}");
    }

    #[test]
    fn env_overrides_list_and_top_level_key() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join(DEFAULT_CONFIG_FILE),
            "edge_id = \"file\"\n[server]\ntrusted_proxies = [\"10.0.0.0/8\"]\n[snapshot]\nfile = \"s\"\n",
        )
        .unwrap();
        let env = [
            ("MIRRORFLEET_EDGE__EDGE_ID", "from-env"),
            (
                "MIRRORFLEET_EDGE__SERVER__TRUSTED_PROXIES",
                r#"["192.0.2.0/24", "2001:db8::/32"]"#,
            ),
            (
                "MIRRORFLEET_EDGE__METRICS__ALLOW",
                "10.9.0.0/16, 10.8.0.0/16",
            ),
            ("MIRRORFLEET_EDGE__LIMITS__IDLE_TIMEOUT", "2m"),
            ("MIRRORFLEET_EDGE__LIMITS__MAX_URI", "8192"),
            ("MIRRORFLEET_EDGE__LOG__LEVEL", "warn"),
            ("MIRRORFLEET_EDGE__STORE__WRITE", "true"),
            ("MIRRORFLEET_EDGE__EXPLAIN__ENABLED", "false"),
            ("UNRELATED", "x"),
        ];
        let c = load_from(&cli(&[]), env, dir.path()).unwrap();
        assert_eq!(c.edge_id, "from-env");
        assert_eq!(
            c.server.trusted_proxies,
            vec![net("192.0.2.0/24"), net("2001:db8::/32")]
        );
        assert_eq!(
            c.metrics.allow,
            vec![net("10.9.0.0/16"), net("10.8.0.0/16")]
        );
        assert_eq!(c.limits.idle_timeout, Duration::from_secs(120));
        assert_eq!(c.limits.max_uri, 8192);
        assert_eq!(c.log.level, "warn");
        assert_eq!(c.store.write, StoreWrite::True);
        assert!(!c.explain.enabled);

        // A value that is valid TOML of another type is retried as a string.
        let c = load_from(
            &cli(&[]),
            [("MIRRORFLEET_EDGE__EDGE_ID", "123")],
            dir.path(),
        )
        .unwrap();
        assert_eq!(c.edge_id, "123");
    }

    #[test]
    fn s3_precedence_env_file_aws() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join(DEFAULT_CONFIG_FILE),
            "[store]\nurl = \"s3://b\"\n[store.s3]\nregion = \"file-region\"\n",
        )
        .unwrap();
        let env = [
            ("AWS_REGION", "aws-region"),
            ("AWS_ENDPOINT_URL", "http://generic"),
            ("AWS_ENDPOINT_URL_S3", "http://minio:9000"),
            ("AWS_ACCESS_KEY_ID", "aws-id"),
            ("AWS_ALLOW_HTTP", "true"),
            ("MIRRORFLEET_EDGE__STORE__S3__ACCESS_KEY_ID", "edge-id"),
        ];
        let c = load_from(&cli(&[]), env, dir.path()).unwrap();
        assert_eq!(c.store.s3.region, "file-region");
        assert_eq!(c.store.s3.endpoint.as_deref(), Some("http://minio:9000"));
        assert_eq!(c.store.s3.access_key_id.as_deref(), Some("edge-id"));
        assert!(c.store.s3.allow_http);
        assert_eq!(
            c.store.location(),
            Some(StoreLocation::S3 {
                bucket: "b".into(),
                prefix: String::new()
            })
        );
    }

    #[test]
    fn flags_override_env_and_file() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join(DEFAULT_CONFIG_FILE),
            "[store]\nurl = \"file://store\"\n",
        )
        .unwrap();
        let env = [
            ("MIRRORFLEET_EDGE__SERVER__LISTEN", r#"["10.0.0.1:9000"]"#),
            ("MIRRORFLEET_EDGE__EDGE_ID", "env-id"),
            ("MIRRORFLEET_EDGE__SNAPSHOT__POLL_INTERVAL", "30s"),
            ("MIRRORFLEET_EDGE__SNAPSHOT__CACHE_DIR", "/env/cache"),
            ("MIRRORFLEET_EDGE__GEOIP__PATH", "/env/geo.mmdb"),
            ("MIRRORFLEET_EDGE__SELECTION__SEED", &"ab".repeat(32)),
        ];
        let seed = "01".repeat(32);
        let flags = cli(&[
            "--listen",
            "::1",
            "--listen",
            "127.0.0.1:9001",
            "--edge-id",
            "flag-id",
            "--poll-interval",
            "250ms",
            "--cache-dir",
            "/flag/cache",
            "--geoip",
            "/flag/geo.mmdb",
            "--seed",
            &seed,
            "--snapshot",
            "local.snap",
        ]);
        let c = load_from(&flags, env, dir.path()).unwrap();
        assert_eq!(
            c.server.listen,
            vec![
                "[::1]:8081".parse::<SocketAddr>().unwrap(),
                "127.0.0.1:9001".parse().unwrap()
            ]
        );
        assert_eq!(c.edge_id, "flag-id");
        assert_eq!(c.snapshot.poll_interval, Duration::from_millis(250));
        assert_eq!(c.snapshot.cache_dir, PathBuf::from("/flag/cache"));
        assert_eq!(c.geoip.path, Some(PathBuf::from("/flag/geo.mmdb")));
        assert_eq!(c.selection.seed, Some([1; 32]));
        // --snapshot replaces the file's store mode.
        assert_eq!(c.snapshot.file, Some(PathBuf::from("local.snap")));
        assert_eq!(c.store.url, None);

        // Without the flags the environment wins over the file.
        let c = load_from(&cli(&[]), env, dir.path()).unwrap();
        assert_eq!(
            c.server.listen,
            vec!["10.0.0.1:9000".parse::<SocketAddr>().unwrap()]
        );
        assert_eq!(c.edge_id, "env-id");
        assert_eq!(c.selection.seed, Some([0xab; 32]));
        assert_eq!(
            c.store.location(),
            Some(StoreLocation::File(PathBuf::from("store")))
        );
    }

    #[test]
    fn bare_ipv6_listen_takes_default_port() {
        let dir = tempfile::tempdir().unwrap();
        let c = load_from(
            &cli(&["--listen", "::1", "--snapshot", "s"]),
            NO_ENV,
            dir.path(),
        )
        .unwrap();
        assert_eq!(
            c.server.listen,
            vec!["[::1]:8081".parse::<SocketAddr>().unwrap()]
        );
        assert!(c.edge_id.ends_with("-8081"));
        assert_eq!(parse_listen("[::1]"), Ok("[::1]:8081".parse().unwrap()));
        assert_eq!(
            parse_listen("192.0.2.1"),
            Ok("192.0.2.1:8081".parse().unwrap())
        );
        assert_eq!(
            parse_listen("[2001:db8::1]:80"),
            Ok("[2001:db8::1]:80".parse().unwrap())
        );
        assert!(
            parse_listen("localhost:8081")
                .unwrap_err()
                .contains("host names")
        );
        assert!(parse_listen("::1:8081:x").is_err());
        let c = load_from(
            &cli(&["--snapshot", "s"]),
            [("MIRRORFLEET_EDGE__SERVER__LISTEN", "::1")],
            dir.path(),
        )
        .unwrap();
        assert_eq!(
            c.server.listen,
            vec!["[::1]:8081".parse::<SocketAddr>().unwrap()]
        );
        assert!(Cli::try_parse_from(["e", "--listen", "nope"]).is_err());
    }

    #[test]
    fn bad_duration_names_key_and_value() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join("e.toml"),
            "[snapshot]\nfile = \"s\"\n[limits]\nidle_timeout = \"10x\"\n",
        )
        .unwrap();
        let err = load_from(&cli(&["--config", "e.toml"]), NO_ENV, dir.path()).unwrap_err();
        assert_eq!(err.key.as_deref(), Some("limits.idle_timeout"));
        let s = err.to_string();
        assert!(
            s.starts_with("limits.idle_timeout: invalid duration \"10x\""),
            "{s}"
        );
        assert!(s.ends_with("(e.toml line 4)"), "{s}");

        fs::write(
            dir.path().join("e.toml"),
            "[snapshot]\nfile = \"s\"\n[shutdown]\ngrace = 10\n",
        )
        .unwrap();
        let err = load_from(&cli(&["--config", "e.toml"]), NO_ENV, dir.path()).unwrap_err();
        assert!(err.to_string().contains("needs a unit"), "{err}");

        let err = load_from(
            &cli(&["--snapshot", "s"]),
            [("MIRRORFLEET_EDGE__STATS__PERIOD", "0s")],
            dir.path(),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "stats.period: must be greater than zero (environment variable MIRRORFLEET_EDGE__STATS__PERIOD)"
        );
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("1.5s").is_err());
        assert!(parse_duration("99999999999999999999d").is_err());
        assert!(Cli::try_parse_from(["e", "--poll-interval", "2"]).is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("4KiB"), Ok(4096));
        assert_eq!(parse_size("16KiB"), Ok(16384));
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_size("1KB"), Ok(1000));
        assert_eq!(parse_size("2 GiB"), Ok(2 << 30));
        assert!(parse_size("KiB").is_err());
        assert!(parse_size("4QiB").is_err());
        let dir = tempfile::tempdir().unwrap();
        let err = load_from(
            &cli(&["--snapshot", "s"]),
            [("MIRRORFLEET_EDGE__LIMITS__MAX_HEADER_BYTES", "lots")],
            dir.path(),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("limits.max_header_bytes: invalid size \"lots\""),
            "{err}"
        );
    }

    #[test]
    fn bad_cidr_carries_prefix_message() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join("e.toml"),
            "[snapshot]\nfile = \"s\"\n[server]\ntrusted_proxies = [\"10.0.0.0/8\", \"198.51.100.7/24\"]\n",
        )
        .unwrap();
        let err = load_from(&cli(&["--config", "e.toml"]), NO_ENV, dir.path()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "server.trusted_proxies: \"198.51.100.7/24\" has host bits set; did you mean \
             \"198.51.100.0/24\"? (e.toml line 4)"
        );
        let err = load_from(
            &cli(&["--snapshot", "s"]),
            [("MIRRORFLEET_EDGE__METRICS__ALLOW", "[\"nonsense\"]")],
            dir.path(),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("metrics.allow: \"nonsense\" is not an IP network"),
            "{err}"
        );
        assert!(parse_network("10.0.0.0/255.0.0.0").is_err());
        assert_eq!(parse_network("2001:db8::1"), Ok(net("2001:db8::1/128")));
    }

    #[test]
    fn exactly_one_snapshot_source() {
        let dir = tempfile::tempdir().unwrap();
        let err = load_from(&cli(&[]), NO_ENV, dir.path()).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("store.url, snapshot.file: exactly one is required, neither is set")
        );

        fs::write(
            dir.path().join("e.toml"),
            "[store]\nurl = \"file://st\"\n[snapshot]\nfile = \"s\"\n",
        )
        .unwrap();
        let err = load_from(&cli(&["--config", "e.toml"]), NO_ENV, dir.path()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "store.url, snapshot.file: exactly one is required, both are set: store.url for store \
             mode or snapshot.file for file mode (e.toml line 2 and e.toml line 4)"
        );
        assert!(Cli::try_parse_from(["e", "--store", "file://x", "--snapshot", "y"]).is_err());

        // The environment picks the mode over the file; an empty value unsets.
        let c = load_from(
            &cli(&["--config", "e.toml"]),
            [("MIRRORFLEET_EDGE__STORE__URL", "")],
            dir.path(),
        )
        .unwrap();
        assert_eq!(
            (c.store.url, c.snapshot.file),
            (None, Some(PathBuf::from("s")))
        );

        let err = load_from(&cli(&["--store", "http://x"]), NO_ENV, dir.path()).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("store.url: invalid store URL \"http://x\""),
            "{err}"
        );
        let c = load_from(&cli(&["--store", "file:///srv/store"]), NO_ENV, dir.path()).unwrap();
        assert_eq!(
            c.store.location(),
            Some(StoreLocation::File(PathBuf::from("/srv/store")))
        );
    }

    #[test]
    fn edge_id_default_and_validation() {
        assert_eq!(
            default_edge_id("edge1.example.org", 8081),
            "edge1.example.org-8081"
        );
        assert_eq!(default_edge_id("häst host_1", 8082), "h-st-host_1-8082");
        let long = "a".repeat(100);
        let id = default_edge_id(&long, 8081);
        assert_eq!(id.len(), 64);
        assert_eq!(id, format!("{}-8081", "a".repeat(59)));
        assert_eq!(default_edge_id(&"é".repeat(80), 80).len(), 64);
        assert!(parse_edge_id(&id).is_ok());
        assert!(parse_edge_id("").is_err());
        assert!(parse_edge_id(&"a".repeat(65)).is_err());
        assert!(parse_edge_id("a/b").is_err());
        let dir = tempfile::tempdir().unwrap();
        let c = load_from(
            &cli(&["--snapshot", "s", "--listen", "0.0.0.0:8082"]),
            NO_ENV,
            dir.path(),
        )
        .unwrap();
        assert!(c.edge_id.ends_with("-8082"));
        let err = load_from(
            &cli(&["--snapshot", "s"]),
            [("MIRRORFLEET_EDGE__EDGE_ID", "bad id")],
            dir.path(),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("edge_id: invalid edge id \"bad id\""),
            "{err}"
        );
        assert!(Cli::try_parse_from(["e", "--edge-id", "no spaces"]).is_err());
    }

    #[test]
    fn misc_validation() {
        let dir = tempfile::tempdir().unwrap();
        let run = |k: &'static str, v: &'static str| {
            load_from(&cli(&["--snapshot", "s"]), [(k, v)], dir.path())
                .map(|_| ())
                .unwrap_err()
                .to_string()
        };
        assert!(run("MIRRORFLEET_EDGE__SERVER__LISTEN", "[]").contains("at least one address"));
        assert!(
            run("MIRRORFLEET_EDGE__SERVER__LISTEN", "::1, [::1]:8081").contains("listed twice")
        );
        assert!(
            run("MIRRORFLEET_EDGE__LOG__LEVEL", "inf").starts_with("log.level: invalid log level")
        );
        assert!(run("MIRRORFLEET_EDGE__LOG__FORMAT", "xml").starts_with("log.format:"));
        assert!(
            run("MIRRORFLEET_EDGE__SNAPSHOT__KEEP", "0")
                .starts_with("snapshot.keep: must be at least 1")
        );
        assert!(run("MIRRORFLEET_EDGE__SELECTION__SEED", "abc").contains("64 hex digits"));
        assert!(run("MIRRORFLEET_EDGE__SERVER", "1").contains("is a section"));
        assert!(run("MIRRORFLEET_EDGE__CONFIG", "x").contains(CONFIG_FILE_ENV));
        assert!(
            run("MIRRORFLEET_EDGE__SERVER__H2C", "maybe")
                .starts_with("server.h2c: expected true or false")
        );
        assert!(run("MIRRORFLEET_EDGE____X", "1").contains("malformed name"));
        assert!(run("AWS_ALLOW_HTTP", "perhaps").contains("AWS_ALLOW_HTTP"));
        let c = load_from(
            &cli(&["--snapshot", "s"]),
            [
                (
                    "MIRRORFLEET_EDGE__LOG__LEVEL",
                    "info,mirrorfleet_edge=debug",
                ),
                ("MIRRORFLEET_EDGE__SNAPSHOT__MAX_AGE", "0"),
            ],
            dir.path(),
        )
        .unwrap();
        assert_eq!(c.log.level, "info,mirrorfleet_edge=debug");
        assert_eq!(c.snapshot.max_age, Duration::ZERO);
    }

    #[test]
    fn secret_given_twice_in_one_source() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join("e.toml"),
            "[store]\nurl = \"s3://b\"\n[store.s3]\nsecret_access_key = \"a\"\nsecret_access_key_file = \"f\"\n",
        )
        .unwrap();
        let err = load_from(&cli(&["--config", "e.toml"]), NO_ENV, dir.path()).unwrap_err();
        assert!(err.to_string().contains("give one of them"), "{err}");
    }

    #[test]
    fn check_config_and_version_flags() {
        assert!(cli(&["--check-config"]).check_config);
        let e = Cli::try_parse_from(["e", "--version"]).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::DisplayVersion);
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
