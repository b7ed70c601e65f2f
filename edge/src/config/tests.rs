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
        "[store]\nurl = \"s3://bkt\"\n[store.s3]\nregion = \"file-region\"\n",
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
            bucket: "bkt".into(),
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
    assert!(run("MIRRORFLEET_EDGE__SERVER__LISTEN", "::1, [::1]:8081").contains("listed twice"));
    assert!(run("MIRRORFLEET_EDGE__LOG__LEVEL", "inf").starts_with("log.level: invalid log level"));
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
        "[store]\nurl = \"s3://bkt\"\n[store.s3]\nsecret_access_key = \"a\"\nsecret_access_key_file = \"f\"\n",
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
