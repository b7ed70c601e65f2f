//! The control plane's configuration (control-plane.md §10): one struct ([`Config`]) with a
//! typed section per table of the spec, one loader ([`Config::load`]).
//!
//! Sources, lowest precedence first: built-in defaults; one TOML file (`--config FILE`, else
//! `$MIRRORFLEET_CONFIG`, else `mirrorfleet.toml` in the working directory when present);
//! environment variables `MIRRORFLEET__<SECTION>__<KEY>` (`MIRRORFLEET__STORE__S3__<KEY>`,
//! `MIRRORFLEET__CRAWLER__HOST_TIMEOUT__FULL`), each read as a TOML value; the flag
//! `--database-url`. S3 settings fall back to the standard AWS variables below the file.
//! Unknown keys and bad values are errors whose one-line message names the key and where its
//! value came from; the command prints it and exits with status 2.
//!
//! Reading the sources and parsing single values is `mirrorfleet_config`'s, shared with the
//! edge so both read `10s` and `10.0.0.0/8` alike. Here: the key table ([`KEYS`]), the
//! sections (`sections`), the builder that applies defaults and records where every value
//! came from (`build`), and `mirrorfleet config show` (`show`). `docs/configuration.md` is the
//! operators' reference; keep it in step with [`KEYS`].

use std::path::{Path, PathBuf};

use mirrorfleet_config::{Origin, Schema, Sources};

mod build;
mod sections;
mod show;

#[cfg(test)]
mod tests;

pub use mirrorfleet_config::{ConfigError, LogFormat};
pub use sections::*;

use crate::publish::PublishConfig;

/// Configuration file read from the working directory when no other is named.
pub const DEFAULT_CONFIG_FILE: &str = "mirrorfleet.toml";
/// Environment variable naming the configuration file (below `--config`).
pub const CONFIG_FILE_ENV: &str = "MIRRORFLEET_CONFIG";
/// Prefix of the per-key environment overrides: `MIRRORFLEET__DATABASE__URL`.
pub const ENV_PREFIX: &str = "MIRRORFLEET__";
/// Port of `server.listen` given as a bare IP.
pub const DEFAULT_PORT: u16 = 8080;

/// Every configuration key of control-plane.md §10, as written in the file.
pub const KEYS: &[&str] = &[
    "server.listen",
    "server.public_url",
    "server.trusted_proxies",
    "server.body_limit",
    "data.dir",
    "database.url",
    "database.web_connections",
    "database.job_connections",
    "store.url",
    "store.s3.endpoint",
    "store.s3.region",
    "store.s3.access_key_id",
    "store.s3.secret_access_key",
    "store.s3.session_token",
    "store.s3.allow_http",
    "store.s3.virtual_hosted",
    "store.s3.conditional_put",
    "publish.debounce",
    "publish.max_delay",
    "publish.min_gap",
    "publish.interval",
    "publish.poll_generation",
    "publish.keep",
    "publish.keep_manifests",
    "publish.keep_min_age",
    "publish.max_drop",
    "publish.min_hosts",
    "publish.min_directories",
    "policy.min_mirrors",
    "policy.max_hosts",
    "geo.continents_csv",
    "geo.geoip_reference",
    "asn.max_bad_fraction",
    "auth.signup",
    "auth.local_login",
    "auth.session_idle",
    "auth.session_max",
    "auth.cookie_name",
    "auth.cookie_secure",
    "auth.argon2.memory_kib",
    "auth.argon2.time_cost",
    "auth.argon2.parallelism",
    "auth.login_failures_per_account",
    "auth.login_failures_per_address",
    "auth.login_window",
    "sites.require_approval",
    "sites.url_schemes",
    "sites.owner_max_ipv4_prefix",
    "sites.owner_max_ipv6_prefix",
    "netblocks.dns_refresh",
    "scanner.enabled",
    "scanner.interval",
    "scanner.master",
    "scanner.delete_directories",
    "scanner.max_delete_fraction",
    "scanner.checksum_files",
    "scanner.hash_workers",
    "scanner.skip_repo_prefixes",
    "scanner.ostree_arch",
    "file_details.keep_days",
    "file_details.max_alternates",
    "repomap.ruleset",
    "crawler.enabled",
    "crawler.repodata_interval",
    "crawler.full_interval",
    "crawler.disabled_recheck",
    "crawler.concurrency",
    "crawler.per_host_connections",
    "crawler.connect_timeout",
    "crawler.request_timeout",
    "crawler.retries",
    "crawler.host_timeout.repodata",
    "crawler.host_timeout.full",
    "crawler.run_timeout",
    "crawler.rsync_timeout",
    "crawler.max_redirects",
    "crawler.full_recheck_fraction",
    "crawler.auto_disable_after",
    "crawler.owner_min_interval",
    "crawler.keep_logs_days",
    "crawler.rsync_binary",
    "crawler.propagation_prefixes",
    "checkin.enabled",
    "checkin.accept_site_password",
    "checkin.allow_public_hosts",
    "checkin.min_interval",
    "checkin.max_failures",
    "checkin.max_per_minute",
    "checkin.max_body",
    "checkin.max_decompressed",
    "edges.poll_interval",
    "edges.stale_after",
    "stats.ingest_interval",
    "stats.access_keep_days",
    "stats.countme_keep_days",
    "stats.propagation_keep_days",
    "stats.hidden_countries",
    "compat.public_mirroradmins",
    "ui.items_per_page",
    "ui.site_title",
    "notify.smtp_url",
    "notify.from",
    "metrics.allow",
    "log.level",
    "log.format",
];

/// Keys holding secrets, which may instead be given as `<key>_file` naming a file that holds
/// the value.
pub const FILE_KEYS: &[&str] = &[
    "database.url",
    "store.s3.access_key_id",
    "store.s3.secret_access_key",
    "store.s3.session_token",
    "notify.smtp_url",
];

/// Tables reserved for features not built yet, accepted with any keys (§1.5).
pub const OPAQUE_TABLES: &[&str] = &["auth.oidc"];

/// The control plane's configuration, as the shared reader sees it.
pub static SCHEMA: Schema = Schema {
    keys: KEYS,
    file_keys: FILE_KEYS,
    opaque: OPAQUE_TABLES,
    env_prefix: ENV_PREFIX,
    file_env: CONFIG_FILE_ENV,
    default_file: DEFAULT_CONFIG_FILE,
};

/// The global options of `mirrorfleet` that take part in the configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigFlags {
    /// `--config FILE`: overrides `$MIRRORFLEET_CONFIG` and `./mirrorfleet.toml`.
    pub config: Option<PathBuf>,
    /// `--database-url URL`: overrides `database.url` from the environment and the file.
    pub database_url: Option<String>,
}

/// One effective setting as `config show` prints it: the value (secrets already masked) and
/// where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Setting {
    /// Dotted key.
    pub key: String,
    /// The value, secrets masked.
    pub value: toml::Value,
    /// Where it came from.
    pub origin: Origin,
}

impl Config {
    /// Loads the configuration from the process environment, the working directory and the
    /// flags.
    pub fn load(flags: &ConfigFlags) -> Result<Config, ConfigError> {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        let env = mirrorfleet_config::process_env(&SCHEMA)?;
        Config::load_from(flags, env, &cwd)
    }

    /// [`Config::load`] with the environment and working directory given (for tests): `env`
    /// holds `(name, value)` pairs, `cwd` is where `mirrorfleet.toml` is looked for and
    /// relative `--config`, `$MIRRORFLEET_CONFIG` and `*_file` names are resolved.
    pub fn load_from<I, K, V>(
        flags: &ConfigFlags,
        env: I,
        cwd: &Path,
    ) -> Result<Config, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let sources = Sources::load(&SCHEMA, flags.config.as_deref(), env, cwd)?;
        build::build(flags, &sources)
    }

    /// Every key's effective value (secrets masked) and origin, in [`KEYS`] order, the keys
    /// of `auth.oidc` last.
    pub fn settings(&self) -> &[Setting] {
        &self.settings
    }

    /// The publisher's settings: `[publish]` retention and guard rails, `[policy]`, the data
    /// directory. The lock timeout is left at its default: it is the caller's (a flag).
    pub fn publish_config(&self) -> PublishConfig {
        PublishConfig {
            data_dir: self.data.dir.clone(),
            keep: self.publish.keep,
            keep_manifests: self.publish.keep_manifests,
            keep_min_age: self.publish.keep_min_age,
            max_drop_ppm: self.publish.max_drop,
            min_hosts: self.publish.min_hosts,
            min_directories: self.publish.min_directories,
            policy: self.policy,
            ..PublishConfig::default()
        }
    }
}
