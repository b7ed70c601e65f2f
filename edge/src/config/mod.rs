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
//!
//! Reading the sources (the TOML file with the position of every key, the environment
//! variables, `*_file` secrets, unknown keys) and parsing durations, sizes, networks and
//! addresses is `mirrorfleet_config`'s job, shared with the control plane: this module brings
//! the edge's [`SCHEMA`]; `values` parses what only the edge has (seed, edge id,
//! `store.write`), and `build` turns the sources and the flags into an [`EdgeConfig`],
//! applying defaults and cross-key checks.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;
use mirrorfleet_config::{Schema, Sources};
use mirrorfleet_snapshot::net::Prefix;

mod build;
mod values;

#[cfg(test)]
mod tests;

pub use mirrorfleet_config::{
    ConditionalPut, ConfigError, LogFormat, S3Config, StoreLocation, parse_duration, parse_network,
    parse_size, parse_store_url,
};
pub use values::{default_edge_id, host_name, parse_edge_id, parse_listen, parse_seed};

use build::build;

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
pub const FILE_KEYS: &[&str] = &S3Config::FILE_KEYS;

/// The edge's configuration, as the shared reader sees it.
pub static SCHEMA: Schema = Schema {
    keys: KEYS,
    file_keys: FILE_KEYS,
    opaque: &[],
    env_prefix: ENV_PREFIX,
    file_env: CONFIG_FILE_ENV,
    default_file: DEFAULT_CONFIG_FILE,
};

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
// Loading
// ---------------------------------------------------------------------------------------------

/// Loads the configuration from the process environment, the working directory and `cli`.
pub fn load(cli: &Cli) -> Result<EdgeConfig, ConfigError> {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let env = mirrorfleet_config::process_env(&SCHEMA)?;
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
    let sources = Sources::load(&SCHEMA, cli.config.as_deref(), env, cwd)?;
    build(cli, &sources)
}
