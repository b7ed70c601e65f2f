//! The builder: turns the merged sources ([`Sources`]) and the flags into an [`EdgeConfig`],
//! applying defaults, the flags' precedence and the checks that span keys (one snapshot
//! source, no duplicate listen address). `[store.s3]` and its AWS variable fallbacks are
//! resolved by the shared [`S3Config::resolve`].

use mirrorfleet_config::values::{
    conv_bool, conv_duration, conv_int, conv_log_format, conv_log_level, conv_networks,
    conv_opt_path, conv_path, conv_size, conv_store_url,
};
use std::path::Path;

use mirrorfleet_config::{Sources, parse_store_url};

use super::values::{
    conv_edge_id, conv_listen, conv_seed, conv_store_write, default_edge_id, host_name,
};
use super::{
    Cli, ConfigError, EdgeConfig, ExplainConfig, GeoipConfig, LimitsConfig, LogConfig,
    MetricsConfig, S3Config, SelectionConfig, ServerConfig, ShutdownConfig, SnapshotConfig,
    StatsConfig, StoreConfig, StoreWrite,
};

pub(super) fn build(cli: &Cli, b: &Sources) -> Result<EdgeConfig, ConfigError> {
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
                b.origin("server.listen").map(|o| o.describe())
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
    let (s3, _) = S3Config::resolve(b)?;
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
                    b.origin("store.url")
                        .map(|o| o.describe())
                        .unwrap_or_default(),
                    b.origin("snapshot.file")
                        .map(|o| o.describe())
                        .unwrap_or_default()
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
        config_file: b.file().map(Path::to_path_buf),
    })
}
