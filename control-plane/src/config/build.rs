//! The builder: turns the merged sources and the flags into a [`Config`], one key at a time in
//! [`KEYS`](super::KEYS) order, with the key's default next to it. Every key read is also
//! recorded with its effective value and origin for `config show`, so the list of keys, their
//! defaults and what `config show` prints cannot drift apart.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use mirrorfleet_config::values::{
    conv_bool, conv_duration, conv_fraction, conv_int, conv_log_format, conv_log_level,
    conv_networks, conv_nonempty_string, conv_opt_path, conv_opt_string, conv_size, conv_strings,
    describe_value, want_str,
};
use mirrorfleet_config::{
    ConfigError, Origin, S3Config, Sources, StoreLocation, format_duration, format_size,
    parse_listen, parse_store_url,
};
use mirrorfleet_snapshot::countries;
use mirrorfleet_snapshot::model::Policy;
use mirrorfleet_snapshot::net::Prefix;
use toml::Value;

use super::show::masked;
use super::*;
use crate::db::Backend;
use crate::publish::parse_max_drop;

/// Reads keys from the sources and records what `config show` prints.
struct Builder<'a> {
    src: &'a Sources,
    settings: Vec<Setting>,
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn mins(n: u64) -> Duration {
    Duration::from_secs(n * 60)
}

fn hours(n: u64) -> Duration {
    Duration::from_secs(n * 3600)
}

impl Builder<'_> {
    fn origin(&self, key: &str) -> Origin {
        self.src.origin(key).cloned().unwrap_or(Origin::Default)
    }

    fn record(&mut self, key: &str, value: Value, origin: Origin) {
        self.settings.push(Setting {
            key: key.to_string(),
            value: masked(key, value),
            origin,
        });
    }

    /// The value of `key` (else `default`), recorded as `shown` gives it.
    fn take<T>(
        &mut self,
        key: &str,
        default: T,
        conv: impl Fn(&Value) -> Result<T, String>,
        shown: impl Fn(&T) -> Value,
    ) -> Result<T, ConfigError> {
        let v = self.src.or(key, default, conv)?;
        let origin = self.origin(key);
        self.record(key, shown(&v), origin);
        Ok(v)
    }

    fn duration(&mut self, key: &str, default: Duration) -> Result<Duration, ConfigError> {
        self.take(key, default, conv_duration, |d| {
            Value::String(format_duration(*d))
        })
    }

    /// A duration that must not be zero (an interval or a timeout).
    fn period(&mut self, key: &str, default: Duration) -> Result<Duration, ConfigError> {
        let d = self.duration(key, default)?;
        self.src.positive(key, d)
    }

    fn size(&mut self, key: &str, default: u64) -> Result<u64, ConfigError> {
        let n = self.take(
            key,
            default,
            |v| conv_size(v).map(|n| n as u64),
            |n| Value::String(format_size(*n)),
        )?;
        self.src.at_least_one(key, n)
    }

    fn int<T>(&mut self, key: &str, default: T) -> Result<T, ConfigError>
    where
        T: TryFrom<i64> + TryInto<i64> + Copy,
    {
        self.take(key, default, conv_int, |n| {
            Value::Integer((*n).try_into().unwrap_or(i64::MAX))
        })
    }

    /// An integer of at least 1 (a pool size, a count of workers).
    fn count<T>(&mut self, key: &str, default: T) -> Result<T, ConfigError>
    where
        T: TryFrom<i64> + TryInto<i64> + Copy + PartialOrd + From<u8>,
    {
        let n = self.int(key, default)?;
        self.src.at_least_one(key, n)
    }

    fn flag(&mut self, key: &str, default: bool) -> Result<bool, ConfigError> {
        self.take(key, default, conv_bool, |b| Value::Boolean(*b))
    }

    fn fraction(&mut self, key: &str, default: f64) -> Result<f64, ConfigError> {
        self.take(key, default, conv_fraction, |f| Value::Float(*f))
    }

    /// A string that must not be empty.
    fn text(&mut self, key: &str, default: &str) -> Result<String, ConfigError> {
        self.take(key, default.to_string(), conv_nonempty_string, |s| {
            Value::String(s.clone())
        })
    }

    /// An optional string (empty: unset), shown as `""` when unset.
    fn opt_text(
        &mut self,
        key: &str,
        check: impl Fn(&str) -> Result<(), String>,
    ) -> Result<Option<String>, ConfigError> {
        let conv = |v: &Value| {
            let s = conv_opt_string(v)?;
            if let Some(s) = &s {
                check(s)?;
            }
            Ok(s)
        };
        self.take(key, None, conv, |s| {
            Value::String(s.clone().unwrap_or_default())
        })
    }

    fn opt_path(&mut self, key: &str) -> Result<Option<PathBuf>, ConfigError> {
        self.take(key, None, conv_opt_path, |p| {
            Value::String(p.as_deref().map_or_else(String::new, path_text))
        })
    }

    fn networks(&mut self, key: &str, default: &[&str]) -> Result<Vec<Prefix>, ConfigError> {
        let default = default
            .iter()
            .map(|n| n.parse().expect("valid built-in network"))
            .collect();
        self.take(key, default, conv_networks, |nets| {
            Value::Array(nets.iter().map(|n| Value::String(n.to_string())).collect())
        })
    }

    /// A list of strings, each checked (and possibly normalised) by `each`.
    fn strings(
        &mut self,
        key: &str,
        default: &[&str],
        each: impl Fn(&str) -> Result<String, String>,
    ) -> Result<Vec<String>, ConfigError> {
        let default = default.iter().map(|s| s.to_string()).collect();
        let conv = |v: &Value| conv_strings(v)?.iter().map(|s| each(s)).collect();
        self.take(key, default, conv, |list| strings_value(list))
    }

    /// An array of tables (`[[scanner.master]]`), kept as given.
    fn tables(&mut self, key: &str) -> Result<Vec<toml::Table>, ConfigError> {
        let conv = |v: &Value| match v {
            Value::Array(items) => items
                .iter()
                .map(|i| match i {
                    Value::Table(t) => Ok(t.clone()),
                    other => Err(format!(
                        "expected an array of tables ([[{key}]]), found {}",
                        describe_value(other)
                    )),
                })
                .collect(),
            other => Err(format!(
                "expected an array of tables ([[{key}]]), got {}",
                describe_value(other)
            )),
        };
        self.take(key, Vec::new(), conv, |list| {
            Value::Array(list.iter().cloned().map(Value::Table).collect())
        })
    }
}

fn path_text(p: &Path) -> String {
    p.display().to_string()
}

fn strings_value(list: &[String]) -> Value {
    Value::Array(list.iter().cloned().map(Value::String).collect())
}

fn conv_max_drop(v: &Value) -> Result<u64, String> {
    let text = match v {
        Value::Float(f) => format!("{f}"),
        Value::Integer(n) => n.to_string(),
        Value::String(s) => s.clone(),
        other => {
            return Err(format!(
                "expected a number from 0 to 1 such as 0.25, got {}",
                describe_value(other)
            ));
        }
    };
    parse_max_drop(&text).ok_or_else(|| {
        format!("expected a number from 0 to 1 with at most six decimals, got {text}")
    })
}

fn conv_public_url(v: &Value) -> Result<String, String> {
    let s = want_str(v, "a URL")?;
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"));
    match rest {
        Some(host) if !host.is_empty() && !host.starts_with('/') => {
            Ok(s.trim_end_matches('/').to_string())
        }
        _ => Err(format!(
            "expected an http:// or https:// URL such as \"https://mirrors.example.org\", got \"{s}\""
        )),
    }
}

fn check_cookie_name(s: &str) -> Result<String, String> {
    if s.is_empty()
        || !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(format!(
            "invalid cookie name \"{s}\": expected letters, digits, '-', '_' and '.'"
        ));
    }
    Ok(s.to_string())
}

fn check_url_scheme(s: &str) -> Result<String, String> {
    match s {
        "https" | "http" | "ftp" | "rsync" => Ok(s.to_string()),
        _ => Err(format!(
            "unknown URL scheme \"{s}\": expected some of \"https\", \"http\", \"ftp\", \"rsync\""
        )),
    }
}

fn check_country(s: &str) -> Result<String, String> {
    if countries::lookup(s).is_some() {
        return Ok(s.to_string());
    }
    let mut msg = format!("\"{s}\" is not an ISO 3166-1 country code");
    if let Some(meant) = countries::suggestion(s) {
        msg.push_str(&format!("; did you mean \"{meant}\"?"));
    }
    Err(msg)
}

fn check_smtp_url(s: &str) -> Result<(), String> {
    if s.starts_with("smtp://") || s.starts_with("smtps://") {
        Ok(())
    } else {
        Err("expected an smtp:// or smtps:// URL".to_string())
    }
}

pub(super) fn build(flags: &ConfigFlags, src: &Sources) -> Result<Config, ConfigError> {
    let mut b = Builder {
        src,
        settings: Vec::new(),
    };

    // [server]
    let server = ServerSection {
        listen: b.take(
            "server.listen",
            SocketAddr::from(([127, 0, 0, 1], DEFAULT_PORT)),
            |v| parse_listen(&want_str(v, "an address")?, DEFAULT_PORT),
            |a| Value::String(a.to_string()),
        )?,
        public_url: b.take(
            "server.public_url",
            "http://localhost:8080".to_string(),
            conv_public_url,
            |s| Value::String(s.clone()),
        )?,
        trusted_proxies: b.networks("server.trusted_proxies", &[])?,
        body_limit: b.size("server.body_limit", 1 << 20)?,
    };

    // [data]
    let data = DataSection {
        dir: b.take(
            "data.dir",
            PathBuf::from("data"),
            |v| Ok(conv_opt_path(v)?.unwrap_or_else(|| PathBuf::from("data"))),
            |p| Value::String(path_text(p)),
        )?,
    };

    // [database]: the flag, else the sources, else a file in the data directory.
    let (url, origin) = match (
        &flags.database_url,
        src.get("database.url", conv_opt_string)?,
    ) {
        (Some(url), _) => (url.clone(), Origin::Flag("--database-url".to_string())),
        (None, Some(Some(url))) => (url, b.origin("database.url")),
        (None, _) => (
            format!("sqlite://{}/mirrorfleet.db", data.dir.display()),
            Origin::Default,
        ),
    };
    if let Err(e) = Backend::from_url(&url) {
        return Err(ConfigError::at("database.url", e.to_string(), &origin));
    }
    b.record("database.url", Value::String(url.clone()), origin);
    let database = DatabaseSection {
        url,
        web_connections: b.count("database.web_connections", 16u32)?,
        job_connections: b.count("database.job_connections", 4u32)?,
    };

    // [store]: the sources, else a directory in the data directory.
    let (url, origin) = match src.get("store.url", conv_opt_string)? {
        Some(Some(url)) => (url, b.origin("store.url")),
        _ => (
            format!("file://{}/store", data.dir.display()),
            Origin::Default,
        ),
    };
    let location = parse_store_url(&url).map_err(|m| ConfigError::at("store.url", m, &origin))?;
    let shown = match location {
        StoreLocation::File(path) => format!("file://{}", src.cwd().join(path).display()),
        StoreLocation::S3 { .. } => url.clone(),
    };
    b.record("store.url", Value::String(shown), origin);
    let (s3, origins) = S3Config::resolve(src)?;
    let shown_s3 = [
        Value::String(s3.endpoint.clone().unwrap_or_default()),
        Value::String(s3.region.clone()),
        Value::String(s3.access_key_id.clone().unwrap_or_default()),
        Value::String(s3.secret_access_key.clone().unwrap_or_default()),
        Value::String(s3.session_token.clone().unwrap_or_default()),
        Value::Boolean(s3.allow_http),
        Value::Boolean(s3.virtual_hosted),
        Value::String(s3.conditional_put.as_str().to_string()),
    ];
    for ((key, value), origin) in S3Config::KEYS.iter().zip(shown_s3).zip(origins) {
        b.record(key, value, origin);
    }
    let store = StoreSection { url, s3 };

    // [publish], [policy]
    let publish = PublishSection {
        debounce: b.duration("publish.debounce", secs(1))?,
        max_delay: b.duration("publish.max_delay", secs(10))?,
        min_gap: b.duration("publish.min_gap", secs(5))?,
        interval: b.period("publish.interval", mins(10))?,
        poll_generation: b.period("publish.poll_generation", Duration::from_millis(250))?,
        keep: b.count("publish.keep", 48usize)?,
        keep_manifests: b.count("publish.keep_manifests", 1000usize)?,
        keep_min_age: b.duration("publish.keep_min_age", hours(1))?,
        max_drop: b.take("publish.max_drop", 250_000, conv_max_drop, |ppm| {
            Value::Float(*ppm as f64 / 1e6)
        })?,
        min_hosts: b.int("publish.min_hosts", 1u64)?,
        min_directories: b.int("publish.min_directories", 1u64)?,
    };
    let d = Policy::default();
    let policy = Policy {
        min_mirrors: b.int("policy.min_mirrors", d.min_mirrors)?,
        max_hosts: b.int("policy.max_hosts", d.max_hosts)?,
    };

    // [geo], [asn]
    let geo = GeoSection {
        continents_csv: b.opt_path("geo.continents_csv")?,
        geoip_reference: b.opt_path("geo.geoip_reference")?,
    };
    let asn = AsnSection {
        max_bad_fraction: b.fraction(
            "asn.max_bad_fraction",
            crate::asn_table::DEFAULT_MAX_BAD_FRACTION,
        )?,
    };

    // [auth]
    let signup = b.flag("auth.signup", false)?;
    let local_login = b.flag("auth.local_login", true)?;
    let session_idle = b.period("auth.session_idle", hours(12))?;
    let session_max = b.period("auth.session_max", hours(7 * 24))?;
    let cookie_name = b.take(
        "auth.cookie_name",
        "mirrorfleet_session".to_string(),
        |v| check_cookie_name(&want_str(v, "a cookie name")?),
        |s| Value::String(s.clone()),
    )?;
    // control-plane-decisions.md D4: secure cookies by default when the site is https.
    let cookie_secure = b.flag(
        "auth.cookie_secure",
        server.public_url.starts_with("https://"),
    )?;
    let argon2 = Argon2Section {
        memory_kib: b.count("auth.argon2.memory_kib", 19_456u32)?,
        time_cost: b.count("auth.argon2.time_cost", 2u32)?,
        parallelism: b.count("auth.argon2.parallelism", 1u32)?,
    };
    let login_failures_per_account = b.count("auth.login_failures_per_account", 5u32)?;
    let login_failures_per_address = b.count("auth.login_failures_per_address", 20u32)?;
    let login_window = b.period("auth.login_window", mins(15))?;
    let mut oidc = BTreeMap::new();
    for (key, value, origin) in src.opaque_entries("auth.oidc") {
        b.record(key, value.clone(), origin.clone());
        oidc.insert(key["auth.oidc.".len()..].to_string(), value.clone());
    }
    let auth = AuthSection {
        signup,
        local_login,
        session_idle,
        session_max,
        cookie_name,
        cookie_secure,
        argon2,
        login_failures_per_account,
        login_failures_per_address,
        login_window,
        oidc,
    };

    // [sites], [netblocks]
    let sites = SitesSection {
        require_approval: b.flag("sites.require_approval", true)?,
        url_schemes: b.strings(
            "sites.url_schemes",
            &["https", "http", "rsync"],
            check_url_scheme,
        )?,
        owner_max_ipv4_prefix: b.int("sites.owner_max_ipv4_prefix", 16u8)?,
        owner_max_ipv6_prefix: b.int("sites.owner_max_ipv6_prefix", 32u8)?,
    };
    if sites.owner_max_ipv4_prefix > 32 {
        return Err(src.invalid("sites.owner_max_ipv4_prefix", "must be from 0 to 32"));
    }
    if sites.owner_max_ipv6_prefix > 128 {
        return Err(src.invalid("sites.owner_max_ipv6_prefix", "must be from 0 to 128"));
    }
    let netblocks = NetblocksSection {
        dns_refresh: b.period("netblocks.dns_refresh", hours(1))?,
    };

    // [scanner], [file_details], [repomap]
    let scanner = ScannerSection {
        enabled: b.flag("scanner.enabled", true)?,
        interval: b.period("scanner.interval", mins(10))?,
        master: b.tables("scanner.master")?,
        delete_directories: b.flag("scanner.delete_directories", true)?,
        max_delete_fraction: b.fraction("scanner.max_delete_fraction", 0.10)?,
        checksum_files: b.flag("scanner.checksum_files", true)?,
        hash_workers: b.count("scanner.hash_workers", 4u32)?,
        skip_repo_prefixes: b.strings("scanner.skip_repo_prefixes", &["pub/alt"], |s| {
            Ok(s.to_string())
        })?,
        ostree_arch: b.text("scanner.ostree_arch", "x86_64")?,
    };
    let file_details = FileDetailsSection {
        keep_days: b.int("file_details.keep_days", 4u32)?,
        max_alternates: b.int("file_details.max_alternates", 16u32)?,
    };
    let repomap = RepomapSection {
        ruleset: b.tables("repomap.ruleset")?,
    };

    // [crawler]
    let crawler = CrawlerSection {
        enabled: b.flag("crawler.enabled", true)?,
        repodata_interval: b.period("crawler.repodata_interval", mins(30))?,
        full_interval: b.period("crawler.full_interval", hours(12))?,
        disabled_recheck: b.period("crawler.disabled_recheck", hours(6))?,
        concurrency: b.count("crawler.concurrency", 64u32)?,
        per_host_connections: b.count("crawler.per_host_connections", 4u32)?,
        connect_timeout: b.period("crawler.connect_timeout", secs(5))?,
        request_timeout: b.period("crawler.request_timeout", secs(15))?,
        retries: b.int("crawler.retries", 3u32)?,
        host_timeout: HostTimeouts {
            repodata: b.period("crawler.host_timeout.repodata", mins(10))?,
            full: b.period("crawler.host_timeout.full", mins(60))?,
        },
        run_timeout: b.period("crawler.run_timeout", hours(2))?,
        rsync_timeout: b.period("crawler.rsync_timeout", mins(30))?,
        max_redirects: b.int("crawler.max_redirects", 3u32)?,
        full_recheck_fraction: b.fraction("crawler.full_recheck_fraction", 0.05)?,
        auto_disable_after: b.int("crawler.auto_disable_after", 4u32)?,
        owner_min_interval: b.duration("crawler.owner_min_interval", mins(10))?,
        keep_logs_days: b.int("crawler.keep_logs_days", 14u32)?,
        rsync_binary: b.text("crawler.rsync_binary", "rsync")?,
        propagation_prefixes: b.take(
            "crawler.propagation_prefixes",
            None,
            |v| conv_strings(v).map(|l| (!l.is_empty()).then_some(l)),
            |l| strings_value(l.as_deref().unwrap_or_default()),
        )?,
    };

    // [checkin], [edges], [stats], [compat], [ui], [notify], [metrics], [log]
    let checkin = CheckinSection {
        enabled: b.flag("checkin.enabled", true)?,
        accept_site_password: b.flag("checkin.accept_site_password", true)?,
        allow_public_hosts: b.flag("checkin.allow_public_hosts", false)?,
        min_interval: b.duration("checkin.min_interval", mins(2))?,
        max_failures: b.int("checkin.max_failures", 10u32)?,
        max_per_minute: b.int("checkin.max_per_minute", 30u32)?,
        max_body: b.size("checkin.max_body", 16 << 20)?,
        max_decompressed: b.size("checkin.max_decompressed", 64 << 20)?,
    };
    let edges = EdgesSection {
        poll_interval: b.period("edges.poll_interval", secs(15))?,
        stale_after: b.period("edges.stale_after", mins(5))?,
    };
    let stats = StatsSection {
        ingest_interval: b.period("stats.ingest_interval", mins(5))?,
        access_keep_days: b.int("stats.access_keep_days", 90u32)?,
        countme_keep_days: b.int("stats.countme_keep_days", 0u32)?,
        propagation_keep_days: b.int("stats.propagation_keep_days", 30u32)?,
        hidden_countries: b.strings("stats.hidden_countries", &[], check_country)?,
    };
    let compat = CompatSection {
        public_mirroradmins: b.flag("compat.public_mirroradmins", false)?,
    };
    let ui = UiSection {
        items_per_page: b.count("ui.items_per_page", 50u32)?,
        site_title: b.text("ui.site_title", "mirrorfleet")?,
    };
    let notify = NotifySection {
        smtp_url: b.opt_text("notify.smtp_url", check_smtp_url)?,
        from: b.opt_text("notify.from", |_| Ok(()))?,
    };
    let metrics = MetricsSection {
        allow: b.networks("metrics.allow", &["127.0.0.0/8", "::1/128"])?,
    };
    let log = LogSection {
        level: b.take("log.level", "info".to_string(), conv_log_level, |s| {
            Value::String(s.clone())
        })?,
        format: b.take("log.format", LogFormat::Text, conv_log_format, |f| {
            Value::String(f.as_str().to_string())
        })?,
    };

    Ok(Config {
        server,
        data,
        database,
        store,
        publish,
        policy,
        geo,
        asn,
        auth,
        sites,
        netblocks,
        scanner,
        file_details,
        repomap,
        crawler,
        checkin,
        edges,
        stats,
        compat,
        ui,
        notify,
        metrics,
        log,
        file: src.file().map(PathBuf::from),
        settings: b.settings,
    })
}
