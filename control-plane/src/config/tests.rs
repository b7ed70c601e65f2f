use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use mirrorfleet_config::Origin;
use mirrorfleet_snapshot::net::Prefix;

use super::*;
use crate::publish::ConditionalPut;

const NO_ENV: [(&str, &str); 0] = [];

fn flags() -> ConfigFlags {
    ConfigFlags::default()
}

fn with_file(dir: &Path, text: &str) {
    fs::write(dir.join(DEFAULT_CONFIG_FILE), text).unwrap();
}

fn load(dir: &Path, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
    Config::load_from(&flags(), env.iter().copied(), dir)
}

/// The error for one bad setting in the file, as the user sees it.
fn file_error(text: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    with_file(dir.path(), text);
    load(dir.path(), &[]).unwrap_err().to_string()
}

/// The error for one bad environment variable.
fn env_error(name: &str, value: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    load(dir.path(), &[(name, value)]).unwrap_err().to_string()
}

fn net(s: &str) -> Prefix {
    s.parse().unwrap()
}

fn setting<'a>(c: &'a Config, key: &str) -> &'a Setting {
    c.settings()
        .iter()
        .find(|s| s.key == key)
        .unwrap_or_else(|| panic!("no setting {key}"))
}

fn file_origin(line: usize) -> Origin {
    Origin::File {
        path: PathBuf::from(DEFAULT_CONFIG_FILE),
        line,
    }
}

#[test]
fn defaults_are_the_spec_table() {
    let dir = tempfile::tempdir().unwrap();
    let c = load(dir.path(), &[]).unwrap();
    assert_eq!(c.file, None);
    assert_eq!(
        c.server.listen,
        "127.0.0.1:8080".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(c.server.public_url, "http://localhost:8080");
    assert!(c.server.trusted_proxies.is_empty());
    assert_eq!(c.server.body_limit, 1 << 20);
    assert_eq!(c.data.dir, PathBuf::from("data"));
    assert_eq!(c.database.url, "sqlite://data/mirrorfleet.db");
    assert_eq!(
        (c.database.web_connections, c.database.job_connections),
        (16, 4)
    );
    assert_eq!(c.store.url, "file://data/store");
    assert_eq!(c.store.s3.region, "us-east-1");
    assert_eq!(c.store.s3.endpoint, None);
    assert!(!c.store.s3.allow_http && !c.store.s3.virtual_hosted);
    assert_eq!(c.store.s3.conditional_put, ConditionalPut::Etag);
    assert_eq!(
        c.publish,
        PublishSection {
            debounce: Duration::from_secs(1),
            max_delay: Duration::from_secs(10),
            min_gap: Duration::from_secs(5),
            interval: Duration::from_secs(600),
            poll_generation: Duration::from_millis(250),
            keep: 48,
            keep_manifests: 1000,
            keep_min_age: Duration::from_secs(3600),
            max_drop: 250_000,
            min_hosts: 1,
            min_directories: 1,
        }
    );
    assert_eq!((c.policy.min_mirrors, c.policy.max_hosts), (5, 100));
    assert_eq!(c.geo, GeoSection::default());
    assert_eq!(c.asn.max_bad_fraction, 0.01);
    let a = &c.auth;
    assert!(!a.signup && a.local_login);
    assert_eq!(a.session_idle, Duration::from_secs(12 * 3600));
    assert_eq!(a.session_max, Duration::from_secs(7 * 86400));
    assert_eq!(a.cookie_name, "mirrorfleet_session");
    // control-plane-decisions.md D4: not secure while public_url is http.
    assert!(!a.cookie_secure);
    assert_eq!(
        a.argon2,
        Argon2Section {
            memory_kib: 19456,
            time_cost: 2,
            parallelism: 1
        }
    );
    assert_eq!(
        (a.login_failures_per_account, a.login_failures_per_address),
        (5, 20)
    );
    assert_eq!(a.login_window, Duration::from_secs(900));
    assert!(a.oidc.is_empty());
    assert_eq!(
        c.sites,
        SitesSection {
            require_approval: true,
            url_schemes: vec!["https".into(), "http".into(), "rsync".into()],
            owner_max_ipv4_prefix: 16,
            owner_max_ipv6_prefix: 32,
        }
    );
    assert_eq!(c.netblocks.dns_refresh, Duration::from_secs(3600));
    let s = &c.scanner;
    assert!(s.enabled && s.delete_directories && s.checksum_files);
    assert_eq!(s.interval, Duration::from_secs(600));
    assert!(s.master.is_empty());
    assert_eq!(s.max_delete_fraction, 0.10);
    assert_eq!(s.hash_workers, 4);
    assert_eq!(s.skip_repo_prefixes, ["pub/alt"]);
    assert_eq!(s.ostree_arch, "x86_64");
    assert_eq!(
        c.file_details,
        FileDetailsSection {
            keep_days: 4,
            max_alternates: 16
        }
    );
    assert!(c.repomap.ruleset.is_empty());
    let cr = &c.crawler;
    assert!(cr.enabled);
    assert_eq!(
        (cr.repodata_interval, cr.full_interval, cr.disabled_recheck),
        (
            Duration::from_secs(1800),
            Duration::from_secs(12 * 3600),
            Duration::from_secs(6 * 3600)
        )
    );
    assert_eq!(
        (cr.concurrency, cr.per_host_connections, cr.retries),
        (64, 4, 3)
    );
    assert_eq!(
        (cr.connect_timeout, cr.request_timeout),
        (Duration::from_secs(5), Duration::from_secs(15))
    );
    assert_eq!(
        cr.host_timeout,
        HostTimeouts {
            repodata: Duration::from_secs(600),
            full: Duration::from_secs(3600)
        }
    );
    assert_eq!(
        (cr.run_timeout, cr.rsync_timeout),
        (Duration::from_secs(7200), Duration::from_secs(1800))
    );
    assert_eq!((cr.max_redirects, cr.full_recheck_fraction), (3, 0.05));
    assert_eq!(
        (
            cr.auto_disable_after,
            cr.owner_min_interval,
            cr.keep_logs_days
        ),
        (4, Duration::from_secs(600), 14)
    );
    assert_eq!(cr.rsync_binary, "rsync");
    assert_eq!(cr.propagation_prefixes, None);
    assert_eq!(
        c.checkin,
        CheckinSection {
            enabled: true,
            accept_site_password: true,
            allow_public_hosts: false,
            min_interval: Duration::from_secs(120),
            max_failures: 10,
            max_per_minute: 30,
            max_body: 16 << 20,
            max_decompressed: 64 << 20,
        }
    );
    assert_eq!(
        c.edges,
        EdgesSection {
            poll_interval: Duration::from_secs(15),
            stale_after: Duration::from_secs(300)
        }
    );
    assert_eq!(
        c.stats,
        StatsSection {
            ingest_interval: Duration::from_secs(300),
            access_keep_days: 90,
            countme_keep_days: 0,
            propagation_keep_days: 30,
            hidden_countries: vec![],
        }
    );
    assert!(!c.compat.public_mirroradmins);
    assert_eq!(
        (c.ui.items_per_page, c.ui.site_title.as_str()),
        (50, "mirrorfleet")
    );
    assert_eq!(c.notify, NotifySection::default());
    assert_eq!(c.metrics.allow, vec![net("127.0.0.0/8"), net("::1/128")]);
    assert!(c.metrics.allow[0].contains("127.0.0.1".parse().unwrap()));
    assert_eq!(
        c.log,
        LogSection {
            level: "info".into(),
            format: LogFormat::Text
        }
    );

    // Every key is shown once, in the table's order, all from the defaults.
    let keys: Vec<&str> = c.settings().iter().map(|s| s.key.as_str()).collect();
    assert_eq!(keys, KEYS);
    assert!(c.settings().iter().all(|s| s.origin == Origin::Default));

    let p = c.publish_config();
    assert_eq!(p.data_dir, PathBuf::from("data"));
    assert_eq!((p.keep, p.keep_manifests), (48, 1000));
    assert_eq!(p.max_drop_ppm, 250_000);
    assert_eq!(p.policy, c.policy);
    assert_eq!(
        p.lock_timeout,
        crate::publish::PublishConfig::default().lock_timeout
    );
}

const FULL: &str = r#"
[server]
listen = "0.0.0.0:9000"
public_url = "https://mirrors.example.org/"
trusted_proxies = ["10.0.0.0/8"]
body_limit = "2MiB"

[data]
dir = "/var/lib/mirrorfleet"

[database]
web_connections = 32
job_connections = 8

[store]
url = "s3://mirrorfleet/prod"

[store.s3]
endpoint = "https://s3.example.org"
region = "eu-north-1"
access_key_id = "AKID"
secret_access_key_file = "secret.txt"
virtual_hosted = true
conditional_put = "disabled"

[publish]
debounce = "2s"
max_delay = "30s"
min_gap = "0"
interval = "1h"
poll_generation = "1s"
keep = 10
keep_manifests = 100
keep_min_age = "30m"
max_drop = 0.1
min_hosts = 5
min_directories = 50

[policy]
min_mirrors = 3
max_hosts = 0

[geo]
continents_csv = "continents.csv"
geoip_reference = "/var/lib/GeoIP/GeoLite2-Country.mmdb"

[asn]
max_bad_fraction = 0.05

[auth]
signup = true
local_login = false
session_idle = "1h"
session_max = "1d"
cookie_name = "mf"
login_failures_per_account = 3
login_failures_per_address = 10
login_window = "5m"

[auth.argon2]
memory_kib = 65536
time_cost = 3
parallelism = 2

[auth.oidc]
issuer = "https://id.example.org"
client_secret = "oidc-secret"

[sites]
require_approval = false
url_schemes = ["https"]
owner_max_ipv4_prefix = 20
owner_max_ipv6_prefix = 48

[netblocks]
dns_refresh = "2h"

[scanner]
enabled = false
interval = "20m"
delete_directories = false
max_delete_fraction = 0.2
checksum_files = false
hash_workers = 8
skip_repo_prefixes = ["pub/alt", "pub/archive"]
ostree_arch = "aarch64"

[[scanner.master]]
category = "Fedora Linux"
path = "/srv/pub/fedora"

[[scanner.master]]
category = "Fedora EPEL"
path = "/srv/pub/epel"

[file_details]
keep_days = 7
max_alternates = 8

[[repomap.ruleset]]
name = "custom"

[crawler]
enabled = false
repodata_interval = "1h"
full_interval = "1d"
disabled_recheck = "12h"
concurrency = 16
per_host_connections = 2
connect_timeout = "3s"
request_timeout = "30s"
retries = 0
run_timeout = "4h"
rsync_timeout = "1h"
max_redirects = 5
full_recheck_fraction = 0.1
auto_disable_after = 0
owner_min_interval = "0"
keep_logs_days = 7
rsync_binary = "/usr/bin/rsync"
propagation_prefixes = ["*/x86_64/os"]

[crawler.host_timeout]
repodata = "5m"
full = "2h"

[checkin]
enabled = false
accept_site_password = false
allow_public_hosts = true
min_interval = "1m"
max_failures = 3
max_per_minute = 60
max_body = "1MiB"
max_decompressed = 8388608

[edges]
poll_interval = "30s"
stale_after = "10m"

[stats]
ingest_interval = "1m"
access_keep_days = 30
countme_keep_days = 365
propagation_keep_days = 7
hidden_countries = ["KP", "IR"]

[compat]
public_mirroradmins = true

[ui]
items_per_page = 25
site_title = "Fedora mirrors"

[notify]
smtp_url = "smtps://mailer:hunter2@smtp.example.org:465"
from = "mirrors@example.org"

[metrics]
allow = ["10.1.0.0/16", "192.0.2.1"]

[log]
level = "debug"
format = "json"
"#;

#[test]
fn file_with_every_section() {
    let dir = tempfile::tempdir().unwrap();
    with_file(dir.path(), FULL);
    fs::write(dir.path().join("secret.txt"), "s3cr3t\n").unwrap();
    let c = load(dir.path(), &[]).unwrap();
    assert_eq!(c.file, Some(PathBuf::from(DEFAULT_CONFIG_FILE)));
    assert_eq!(
        c.server.listen,
        "0.0.0.0:9000".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(c.server.public_url, "https://mirrors.example.org");
    assert_eq!(c.server.trusted_proxies, vec![net("10.0.0.0/8")]);
    assert_eq!(c.server.body_limit, 2 << 20);
    assert_eq!(c.data.dir, PathBuf::from("/var/lib/mirrorfleet"));
    assert_eq!(
        c.database.url,
        "sqlite:///var/lib/mirrorfleet/mirrorfleet.db"
    );
    assert_eq!(
        (c.database.web_connections, c.database.job_connections),
        (32, 8)
    );
    assert_eq!(c.store.url, "s3://mirrorfleet/prod");
    let s3 = &c.store.s3;
    assert_eq!(s3.endpoint.as_deref(), Some("https://s3.example.org"));
    assert_eq!(s3.region, "eu-north-1");
    assert_eq!(s3.access_key_id.as_deref(), Some("AKID"));
    assert_eq!(s3.secret_access_key.as_deref(), Some("s3cr3t"));
    assert!(s3.virtual_hosted);
    assert_eq!(s3.conditional_put, ConditionalPut::Disabled);
    assert!(!format!("{c:?}").contains("s3cr3t"));
    assert!(!format!("{c:?}").contains("hunter2"));
    assert_eq!(
        c.publish,
        PublishSection {
            debounce: Duration::from_secs(2),
            max_delay: Duration::from_secs(30),
            min_gap: Duration::ZERO,
            interval: Duration::from_secs(3600),
            poll_generation: Duration::from_secs(1),
            keep: 10,
            keep_manifests: 100,
            keep_min_age: Duration::from_secs(1800),
            max_drop: 100_000,
            min_hosts: 5,
            min_directories: 50,
        }
    );
    assert_eq!((c.policy.min_mirrors, c.policy.max_hosts), (3, 0));
    assert_eq!(c.geo.continents_csv, Some(PathBuf::from("continents.csv")));
    assert_eq!(c.asn.max_bad_fraction, 0.05);
    assert!(c.auth.signup && !c.auth.local_login);
    assert_eq!(c.auth.cookie_name, "mf");
    assert!(c.auth.cookie_secure, "https public_url: secure by default");
    assert_eq!(c.auth.argon2.memory_kib, 65536);
    assert_eq!(c.auth.login_window, Duration::from_secs(300));
    assert_eq!(
        c.auth.oidc.get("issuer").and_then(|v| v.as_str()),
        Some("https://id.example.org")
    );
    assert_eq!(c.sites.url_schemes, ["https"]);
    assert_eq!(c.sites.owner_max_ipv6_prefix, 48);
    assert_eq!(c.netblocks.dns_refresh, Duration::from_secs(7200));
    assert_eq!(c.scanner.master.len(), 2);
    assert_eq!(
        c.scanner.master[1].get("path").and_then(|v| v.as_str()),
        Some("/srv/pub/epel")
    );
    assert_eq!(c.scanner.hash_workers, 8);
    assert_eq!(c.scanner.ostree_arch, "aarch64");
    assert_eq!(c.file_details.keep_days, 7);
    assert_eq!(c.repomap.ruleset.len(), 1);
    assert_eq!(c.crawler.host_timeout.full, Duration::from_secs(7200));
    assert_eq!(c.crawler.retries, 0);
    assert_eq!(
        c.crawler.propagation_prefixes,
        Some(vec!["*/x86_64/os".to_string()])
    );
    assert_eq!(c.checkin.max_body, 1 << 20);
    assert_eq!(c.checkin.max_decompressed, 8 << 20);
    assert_eq!(c.edges.stale_after, Duration::from_secs(600));
    assert_eq!(c.stats.hidden_countries, ["KP", "IR"]);
    assert!(c.compat.public_mirroradmins);
    assert_eq!(c.ui.site_title, "Fedora mirrors");
    assert_eq!(c.notify.from.as_deref(), Some("mirrors@example.org"));
    assert_eq!(
        c.metrics.allow,
        vec![net("10.1.0.0/16"), net("192.0.2.1/32")]
    );
    assert_eq!(c.log.format, LogFormat::Json);

    assert_eq!(setting(&c, "server.listen").origin, file_origin(3));
    assert_eq!(setting(&c, "database.url").origin, Origin::Default);
    assert_eq!(
        setting(&c, "store.s3.secret_access_key").origin,
        file_origin(22)
    );
    assert_eq!(
        setting(&c, "auth.oidc.client_secret").value,
        toml::Value::String("***".into())
    );
}

#[test]
fn precedence_flag_environment_file_default() {
    let dir = tempfile::tempdir().unwrap();
    with_file(
        dir.path(),
        "[database]\nurl = \"sqlite://file.db\"\n[publish]\nkeep = 7\nkeep_manifests = 70\n",
    );
    let env = [
        ("MIRRORFLEET__DATABASE__URL", "sqlite://env.db"),
        ("MIRRORFLEET__PUBLISH__KEEP", "9"),
    ];
    let c = load(dir.path(), &env).unwrap();
    assert_eq!(c.database.url, "sqlite://env.db");
    assert_eq!(c.publish.keep, 9);
    assert_eq!(c.publish.keep_manifests, 70);
    assert_eq!(
        setting(&c, "database.url").origin,
        Origin::Env("MIRRORFLEET__DATABASE__URL".into())
    );
    assert_eq!(setting(&c, "publish.keep_manifests").origin, file_origin(5));
    assert_eq!(setting(&c, "publish.min_hosts").origin, Origin::Default);

    let flags = ConfigFlags {
        config: None,
        database_url: Some("sqlite://flag.db".into()),
    };
    let c = Config::load_from(&flags, env, dir.path()).unwrap();
    assert_eq!(c.database.url, "sqlite://flag.db");
    assert_eq!(
        setting(&c, "database.url").origin,
        Origin::Flag("--database-url".into())
    );

    // Without the environment the file wins; an empty variable unsets.
    let c = load(dir.path(), &[]).unwrap();
    assert_eq!(c.database.url, "sqlite://file.db");
    let c = load(dir.path(), &[("MIRRORFLEET__DATABASE__URL", "")]).unwrap();
    assert_eq!(c.database.url, "sqlite://data/mirrorfleet.db");
}

#[test]
fn the_file_is_the_flag_else_the_variable_else_the_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    with_file(dir.path(), "[ui]\nsite_title = \"cwd\"\n");
    fs::write(dir.path().join("env.toml"), "[ui]\nsite_title = \"env\"\n").unwrap();
    fs::write(
        dir.path().join("flag.toml"),
        "[ui]\nsite_title = \"flag\"\n",
    )
    .unwrap();
    assert_eq!(load(dir.path(), &[]).unwrap().ui.site_title, "cwd");
    let env = [(CONFIG_FILE_ENV, "env.toml")];
    let c = load(dir.path(), &env).unwrap();
    assert_eq!(c.ui.site_title, "env");
    assert_eq!(c.file, Some(PathBuf::from("env.toml")));
    let flags = ConfigFlags {
        config: Some("flag.toml".into()),
        database_url: None,
    };
    let c = Config::load_from(&flags, env, dir.path()).unwrap();
    assert_eq!(c.ui.site_title, "flag");
    let flags = ConfigFlags {
        config: Some("missing.toml".into()),
        database_url: None,
    };
    let e = Config::load_from(&flags, NO_ENV, dir.path()).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("missing.toml: cannot read configuration file (named by --config)"),
        "{e}"
    );
}

#[test]
fn paths_follow_the_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let c = load(dir.path(), &[("MIRRORFLEET__DATA__DIR", "/srv/mf")]).unwrap();
    assert_eq!(c.database.url, "sqlite:///srv/mf/mirrorfleet.db");
    assert_eq!(c.store.url, "file:///srv/mf/store");
    assert_eq!(c.publish_config().data_dir, PathBuf::from("/srv/mf"));
    // An empty variable is the default, as before the configuration file existed.
    let c = load(dir.path(), &[("MIRRORFLEET__DATA__DIR", "")]).unwrap();
    assert_eq!(c.data.dir, PathBuf::from("data"));
    // `config show` shows a relative file:// store absolute.
    let c = load(dir.path(), &[]).unwrap();
    let shown = setting(&c, "store.url").value.as_str().unwrap().to_string();
    assert_eq!(
        shown,
        format!("file://{}", dir.path().join("data/store").display())
    );
}

#[test]
fn unknown_keys_name_the_line_and_a_suggestion() {
    assert_eq!(
        file_error("[server]\nlisten = \"::1\"\n\n[publsh]\nkeep = 3\n"),
        "publsh: unknown key \"publsh\"; did you mean \"publish\"? (mirrorfleet.toml line 4)"
    );
    assert_eq!(
        file_error("[publish]\nkeep_manifest = 3\n"),
        "publish.keep_manifest: unknown key \"publish.keep_manifest\"; did you mean \
         \"publish.keep_manifests\"? (mirrorfleet.toml line 2)"
    );
    assert_eq!(
        env_error("MIRRORFLEET__DATABASE__URI", "sqlite://x.db"),
        "database.uri: unknown key \"database.uri\"; did you mean \"database.url\"? \
         (environment variable MIRRORFLEET__DATABASE__URI)"
    );
    assert!(env_error("MIRRORFLEET__CONFIG", "x").contains(CONFIG_FILE_ENV));
    assert!(env_error("MIRRORFLEET__DATA", "x").contains("is a section, not a key"));
    // Other families of variables are not ours.
    let dir = tempfile::tempdir().unwrap();
    load(
        dir.path(),
        &[
            ("MIRRORFLEET_EDGE__X", "1"),
            ("MIRRORFLEET_TEST_POSTGRES_URL", "x"),
        ],
    )
    .unwrap();
}

#[test]
fn bad_values_name_the_key_and_where_it_came_from() {
    assert_eq!(
        file_error("[publish]\ninterval = \"10x\"\n"),
        "publish.interval: invalid duration \"10x\": expected a number and a unit (ms, s, m, h, \
         d), e.g. \"500ms\", \"10s\", \"5m\", \"1h30m\", \"2d\" (mirrorfleet.toml line 2)"
    );
    assert_eq!(
        file_error("[publish]\ninterval = \"0s\"\n"),
        "publish.interval: must be greater than zero (mirrorfleet.toml line 2)"
    );
    assert_eq!(
        file_error("[crawler]\nconnect_timeout = 5\n"),
        "crawler.connect_timeout: a duration needs a unit: write \"5s\" or \"5ms\", not 5 \
         (mirrorfleet.toml line 2)"
    );
    assert_eq!(
        env_error("MIRRORFLEET__SCANNER__ENABLED", "maybe"),
        "scanner.enabled: expected true or false, got string \"maybe\" \
         (environment variable MIRRORFLEET__SCANNER__ENABLED)"
    );
    assert_eq!(
        file_error("[publish]\nmax_drop = 1.5\n"),
        "publish.max_drop: expected a number from 0 to 1 with at most six decimals, got 1.5 \
         (mirrorfleet.toml line 2)"
    );
    assert!(file_error("[publish]\nmax_drop = 0.1234567\n").contains("six decimals"));
    assert!(
        file_error("[scanner]\nhash_workers = 0\n")
            .starts_with("scanner.hash_workers: must be at least 1")
    );
    assert!(
        file_error("[server]\npublic_url = \"ftp://x\"\n")
            .starts_with("server.public_url: expected an http:// or https:// URL")
    );
    assert_eq!(
        file_error("[server]\nlisten = \"localhost:80\"\n"),
        "server.listen: invalid listen address \"localhost:80\": expected IP:PORT, [IPv6]:PORT \
         or a bare IP address (port 8080), e.g. \"0.0.0.0:8080\", \"[::]:8080\", \"::1\"; host \
         names are not accepted (mirrorfleet.toml line 2)"
    );
    assert_eq!(
        file_error("[metrics]\nallow = [\"10.0.0.1/8\"]\n"),
        "metrics.allow: \"10.0.0.1/8\" has host bits set; did you mean \"10.0.0.0/8\"? \
         (mirrorfleet.toml line 2)"
    );
    assert_eq!(
        file_error("[stats]\nhidden_countries = [\"uk\"]\n"),
        "stats.hidden_countries: \"uk\" is not an ISO 3166-1 country code; did you mean \"GB\"? \
         (mirrorfleet.toml line 2)"
    );
    assert!(file_error("[sites]\nurl_schemes = [\"gopher\"]\n").contains("unknown URL scheme"));
    assert!(
        file_error("[sites]\nowner_max_ipv4_prefix = 33\n")
            .starts_with("sites.owner_max_ipv4_prefix: must be from 0 to 32")
    );
    assert!(
        file_error("[sites]\nowner_max_ipv4_prefix = 300\n")
            .starts_with("sites.owner_max_ipv4_prefix: 300 is out of range")
    );
    assert!(
        file_error("[asn]\nmax_bad_fraction = 2\n")
            .starts_with("asn.max_bad_fraction: expected a number from 0 to 1, got 2")
    );
    assert!(file_error("[scanner]\nmaster = 1\n").contains("expected an array of tables"));
    assert!(file_error("[log]\nformat = \"xml\"\n").starts_with("log.format:"));
    assert!(
        file_error("[notify]\nsmtp_url = \"mail.example.org\"\n")
            .starts_with("notify.smtp_url: expected an smtp:// or smtps:// URL")
    );
    assert!(
        file_error("[checkin]\nmax_body = \"lots\"\n")
            .starts_with("checkin.max_body: invalid size \"lots\"")
    );
    assert!(
        file_error("[ui]\nsite_title = \"\"\n").starts_with("ui.site_title: must not be empty")
    );
    assert_eq!(
        env_error("MIRRORFLEET__STORE__URL", "http://x"),
        "store.url: invalid store URL \"http://x\": expected file://PATH or s3://BUCKET/PREFIX \
         (environment variable MIRRORFLEET__STORE__URL)"
    );
    let e = env_error("MIRRORFLEET__DATABASE__URL", "mysql://u:pw@h/db");
    assert!(
        e.starts_with("database.url: unsupported database URL \"mysql://u:***@h/db\""),
        "{e}"
    );
    assert!(
        e.ends_with("(environment variable MIRRORFLEET__DATABASE__URL)"),
        "{e}"
    );
    let dir = tempfile::tempdir().unwrap();
    let flags = ConfigFlags {
        config: None,
        database_url: Some("nope".into()),
    };
    let e = Config::load_from(&flags, NO_ENV, dir.path()).unwrap_err();
    assert!(e.to_string().ends_with("(flag --database-url)"), "{e}");
    assert!(!file_error("[auth]\nsession_idle = \"1x\"\n").contains('\n'));
}

#[test]
fn max_drop_is_exact() {
    let dir = tempfile::tempdir().unwrap();
    for (text, ppm) in [
        ("0.1", 100_000),
        ("0.25", 250_000),
        ("1", 1_000_000),
        ("0", 0),
        ("\"0.000001\"", 1),
        ("0.123456", 123_456),
    ] {
        with_file(dir.path(), &format!("[publish]\nmax_drop = {text}\n"));
        assert_eq!(
            load(dir.path(), &[]).unwrap().publish.max_drop,
            ppm,
            "{text}"
        );
    }
    let c = load(dir.path(), &[("MIRRORFLEET__PUBLISH__MAX_DROP", "0.3")]).unwrap();
    assert_eq!(c.publish.max_drop, 300_000);
    assert_eq!(c.publish_config().max_drop_ppm, 300_000);
    assert_eq!(
        setting(&c, "publish.max_drop").value,
        toml::Value::Float(0.3)
    );
}

#[test]
fn secrets_from_files() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("db-url"),
        "postgres://mf:pw@db.example.org/mf\n",
    )
    .unwrap();
    with_file(dir.path(), "[database]\nurl_file = \"db-url\"\n");
    let c = load(dir.path(), &[]).unwrap();
    assert_eq!(c.database.url, "postgres://mf:pw@db.example.org/mf");
    assert_eq!(
        setting(&c, "database.url").value,
        toml::Value::String("postgres://mf:***@db.example.org/mf".into())
    );
    let c = load(
        dir.path(),
        &[("MIRRORFLEET__DATABASE__URL", "sqlite://env.db")],
    )
    .unwrap();
    assert_eq!(c.database.url, "sqlite://env.db");
    with_file(
        dir.path(),
        "[database]\nurl = \"sqlite://a.db\"\nurl_file = \"db-url\"\n",
    );
    assert!(
        load(dir.path(), &[])
            .unwrap_err()
            .to_string()
            .contains("give one of them")
    );
    with_file(dir.path(), "[database]\nurl_file = \"nowhere\"\n");
    assert!(
        load(dir.path(), &[])
            .unwrap_err()
            .to_string()
            .starts_with("database.url_file: cannot read \"nowhere\"")
    );
    // Only secrets have a `_file` form.
    with_file(dir.path(), "[ui]\nsite_title_file = \"x\"\n");
    assert!(
        load(dir.path(), &[])
            .unwrap_err()
            .to_string()
            .contains("unknown key")
    );
}

#[test]
fn s3_settings_from_aws_variables_below_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let aws = [
        ("AWS_ENDPOINT_URL", "http://generic:9000"),
        ("AWS_DEFAULT_REGION", "default-region"),
        ("AWS_ACCESS_KEY_ID", "aws-id"),
        ("AWS_SECRET_ACCESS_KEY", "aws-secret"),
        ("AWS_SESSION_TOKEN", "aws-token"),
        ("AWS_ALLOW_HTTP", "true"),
    ];
    let c = load(dir.path(), &aws).unwrap();
    let s3 = &c.store.s3;
    assert_eq!(s3.endpoint.as_deref(), Some("http://generic:9000"));
    assert_eq!(s3.region, "default-region");
    assert_eq!(s3.access_key_id.as_deref(), Some("aws-id"));
    assert_eq!(s3.secret_access_key.as_deref(), Some("aws-secret"));
    assert_eq!(s3.session_token.as_deref(), Some("aws-token"));
    assert!(s3.allow_http);
    assert_eq!(
        setting(&c, "store.s3.region").origin,
        Origin::Aws("AWS_DEFAULT_REGION".into())
    );
    let shown = c.show();
    assert!(
        !shown.contains("aws-secret") && !shown.contains("aws-token"),
        "{shown}"
    );
    assert!(
        shown
            .contains("store.s3.secret_access_key = \"***\"  # AWS variable AWS_SECRET_ACCESS_KEY"),
        "{shown}"
    );

    // The more specific AWS variable wins; the file wins over AWS; ours over the file.
    with_file(
        dir.path(),
        "[store.s3]\nregion = \"file-region\"\nendpoint = \"https://file\"\n",
    );
    let env = [
        aws.as_slice(),
        &[
            ("AWS_ENDPOINT_URL_S3", "http://s3-specific"),
            ("AWS_REGION", "aws-region"),
            ("MIRRORFLEET__STORE__S3__ENDPOINT", "https://ours"),
        ],
    ]
    .concat();
    let c = load(dir.path(), &env).unwrap();
    assert_eq!(c.store.s3.region, "file-region");
    assert_eq!(c.store.s3.endpoint.as_deref(), Some("https://ours"));
    fs::remove_file(dir.path().join(DEFAULT_CONFIG_FILE)).unwrap();
    let c = load(dir.path(), &env[..env.len() - 1]).unwrap();
    assert_eq!(c.store.s3.region, "aws-region");
    assert_eq!(c.store.s3.endpoint.as_deref(), Some("http://s3-specific"));
    assert_eq!(
        setting(&c, "store.s3.endpoint").origin,
        Origin::Aws("AWS_ENDPOINT_URL_S3".into())
    );
    assert!(
        env_error("AWS_ALLOW_HTTP", "sometimes").contains("(environment variable AWS_ALLOW_HTTP)")
    );
}

#[test]
fn show_masks_secrets_and_names_origins() {
    let dir = tempfile::tempdir().unwrap();
    with_file(
        dir.path(),
        "[publish]\nkeep = 3\n\n[notify]\nsmtp_url = \"smtp://u:hunter2@mail:25\"\n\
         [auth.oidc]\nclient_secret = \"oidc-secret\"\n",
    );
    let env = [
        (
            "MIRRORFLEET__DATABASE__URL",
            "postgres://mf:pg-pass@db/mf?sslmode=require&password=pg-pass2",
        ),
        ("MIRRORFLEET__STORE__S3__SESSION_TOKEN", "tok"),
    ];
    let c = load(dir.path(), &env).unwrap();
    let shown = c.show();
    for secret in ["hunter2", "oidc-secret", "pg-pass", "\"tok\""] {
        assert!(!shown.contains(secret), "{secret} in:\n{shown}");
    }
    let lines: Vec<&str> = shown.lines().collect();
    assert_eq!(lines[0], "# configuration file: mirrorfleet.toml");
    for line in [
        "server.listen = \"127.0.0.1:8080\"  # default",
        "publish.keep = 3  # configuration file mirrorfleet.toml line 2",
        "publish.interval = \"10m\"  # default",
        "publish.poll_generation = \"250ms\"  # default",
        "publish.max_drop = 0.25  # default",
        "server.body_limit = \"1MiB\"  # default",
        "checkin.max_body = \"16MiB\"  # default",
        "database.url = \"postgres://mf:***@db/mf?sslmode=require&password=***\"  \
         # environment variable MIRRORFLEET__DATABASE__URL",
        "store.s3.session_token = \"***\"  # environment variable \
         MIRRORFLEET__STORE__S3__SESSION_TOKEN",
        "store.s3.secret_access_key = \"\"  # default",
        "notify.smtp_url = \"smtp://u:***@mail:25\"  # configuration file mirrorfleet.toml line 5",
        "auth.oidc.client_secret = \"***\"  # configuration file mirrorfleet.toml line 7",
        "metrics.allow = [\"127.0.0.0/8\", \"::1/128\"]  # default",
        "scanner.master = []  # default",
        "crawler.host_timeout.full = \"1h\"  # default",
        "auth.session_max = \"7d\"  # default",
        "log.format = \"text\"  # default",
    ] {
        assert!(lines.contains(&line), "{line} not in:\n{shown}");
    }
    assert_eq!(lines.len(), 1 + KEYS.len() + 1, "{shown}");
}

#[test]
fn every_key_is_documented() {
    let doc = include_str!("../../../docs/configuration.md");
    for key in KEYS {
        let last = key.rsplit('.').next().unwrap();
        assert!(
            doc.contains(&format!("`{key}`"))
                || doc.contains(&format!("`{last}`"))
                || doc.contains(&format!("[[{key}]]")),
            "{key} is not in docs/configuration.md"
        );
    }
}
