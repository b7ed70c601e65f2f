//! The builder: turns the merged sources ([`Layers`]) and the flags into an [`EdgeConfig`],
//! applying defaults, the AWS variable fallbacks for `[store.s3]`, the flags' precedence and the
//! checks that span keys (one snapshot source, no duplicate listen address).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::layers::Layers;
use super::values::{
    conv_bool, conv_conditional_put, conv_duration, conv_edge_id, conv_int, conv_listen,
    conv_log_format, conv_log_level, conv_networks, conv_opt_path, conv_opt_string, conv_path,
    conv_seed, conv_size, conv_store_url, conv_store_write, default_edge_id, host_name,
    parse_store_url, want_str,
};
use super::{
    Cli, ConfigError, EdgeConfig, ExplainConfig, GeoipConfig, LimitsConfig, LogConfig,
    MetricsConfig, S3Config, SelectionConfig, ServerConfig, ShutdownConfig, SnapshotConfig,
    StatsConfig, StoreConfig, StoreWrite,
};

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
                if let Some(raw) = &e.raw
                    && !matches!(value, toml::Value::String(_))
                {
                    match conv(&toml::Value::String(raw.clone())) {
                        Ok(v) => return Ok(Some(v)),
                        // A type mismatch on the TOML reading (`inf` read as a float for
                        // log.level): the plain-text reading's error says more.
                        Err(as_text) if msg.starts_with("expected") => {
                            return Err(err(as_text));
                        }
                        Err(_) => {}
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

pub(super) fn build(
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
