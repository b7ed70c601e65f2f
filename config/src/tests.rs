//! The shared reader with a small schema of its own; each binary tests its keys and messages
//! through its own loader.

use std::fs;
use std::path::Path;
use std::time::Duration;

use crate::values::*;
use crate::*;

static SCHEMA: Schema = Schema {
    keys: &[
        "name",
        "server.listen",
        "server.timeout",
        "store.url",
        "store.s3.endpoint",
        "store.s3.region",
        "store.s3.access_key_id",
        "store.s3.secret_access_key",
        "store.s3.session_token",
        "store.s3.allow_http",
        "store.s3.virtual_hosted",
        "store.s3.conditional_put",
        "crawler.host_timeout.full",
        "scanner.master",
    ],
    file_keys: &S3Config::FILE_KEYS,
    opaque: &["auth.oidc"],
    env_prefix: "TEST__",
    file_env: "TEST_CONFIG",
    default_file: "test.toml",
};

fn load(dir: &Path, file: &str, env: &[(&str, &str)]) -> Result<Sources, ConfigError> {
    fs::write(dir.join("test.toml"), file).unwrap();
    Sources::load(&SCHEMA, None, env.iter().copied(), dir)
}

fn file_origin(line: usize) -> Origin {
    Origin::File {
        path: "test.toml".into(),
        line,
    }
}

#[test]
fn durations_round_trip() {
    for (text, d) in [
        ("500ms", Duration::from_millis(500)),
        ("10s", Duration::from_secs(10)),
        ("10m", Duration::from_secs(600)),
        ("12h", Duration::from_secs(12 * 3600)),
        ("7d", Duration::from_secs(7 * 86400)),
        ("1h30m", Duration::from_secs(5400)),
        ("1d2h3m4s5ms", Duration::from_millis(93_784_005)),
    ] {
        assert_eq!(parse_duration(text), Ok(d), "{text}");
        assert_eq!(format_duration(d), text);
    }
    assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
    assert_eq!(format_duration(Duration::ZERO), "0s");
    assert_eq!(parse_duration("90m"), Ok(Duration::from_secs(5400)));
    for bad in ["", "5", "1.5s", "10 s", "s", "10S", "99999999999999999999d"] {
        assert!(parse_duration(bad).is_err(), "{bad}");
    }
}

#[test]
fn sizes_round_trip() {
    assert_eq!(parse_size("16MiB"), Ok(16 << 20));
    assert_eq!(format_size(16 << 20), "16MiB");
    assert_eq!(format_size(1 << 30), "1GiB");
    assert_eq!(format_size(1536), "1536");
    assert_eq!(format_size(3 << 10), "3KiB");
    assert_eq!(format_size(0), "0");
    assert_eq!(parse_size("1kB"), Ok(1000));
    assert!(parse_size("16 MeB").is_err());
}

#[test]
fn listen_takes_the_callers_default_port() {
    assert_eq!(parse_listen("::1", 8080), Ok("[::1]:8080".parse().unwrap()));
    assert_eq!(
        parse_listen("10.0.0.1:99", 8080),
        Ok("10.0.0.1:99".parse().unwrap())
    );
    let e = parse_listen("localhost", 8080).unwrap_err();
    assert!(e.contains("(port 8080)") && e.contains("host names"), "{e}");
}

#[test]
fn fractions_and_lists() {
    assert_eq!(conv_fraction(&toml::Value::Float(0.25)), Ok(0.25));
    assert_eq!(conv_fraction(&toml::Value::Integer(1)), Ok(1.0));
    assert!(conv_fraction(&toml::Value::Float(1.5)).is_err());
    assert!(conv_fraction(&toml::Value::String("x".into())).is_err());
    assert_eq!(
        conv_strings(&toml::Value::String("a, b,,c".into())),
        Ok(vec!["a".to_string(), "b".into(), "c".into()])
    );
    assert_eq!(
        conv_nonempty_string(&toml::Value::String(String::new())),
        Err("must not be empty".to_string())
    );
    assert_eq!(LogFormat::Json.as_str(), "json");
}

#[test]
fn origins_of_file_and_environment() {
    let dir = tempfile::tempdir().unwrap();
    let s = load(
        dir.path(),
        "name = \"a\"\n\n[server]\ntimeout = \"5s\"\nlisten = \"::1\"\n",
        &[("TEST__SERVER__TIMEOUT", "7s"), ("OTHER", "x")],
    )
    .unwrap();
    assert_eq!(s.file(), Some(Path::new("test.toml")));
    assert_eq!(s.origin("name"), Some(&file_origin(1)));
    assert_eq!(s.origin("server.listen"), Some(&file_origin(5)));
    let env = Origin::Env("TEST__SERVER__TIMEOUT".into());
    assert_eq!(s.origin("server.timeout"), Some(&env));
    assert_eq!(s.rank("server.timeout"), 2);
    assert_eq!(s.rank("store.url"), 0);
    assert_eq!(
        s.get("server.timeout", conv_duration),
        Ok(Some(Duration::from_secs(7)))
    );
    assert_eq!(file_origin(3).describe(), "test.toml line 3");
    assert_eq!(
        file_origin(3).to_string(),
        "configuration file test.toml line 3"
    );
    assert_eq!(env.describe(), "environment variable TEST__SERVER__TIMEOUT");
    assert_eq!(
        Origin::Aws("AWS_REGION".into()).to_string(),
        "AWS variable AWS_REGION"
    );
    assert_eq!(Origin::Flag("--x".into()).to_string(), "flag --x");
    assert_eq!(Origin::Default.to_string(), "default");
}

#[test]
fn nested_keys_and_arrays_of_tables() {
    let dir = tempfile::tempdir().unwrap();
    let s = load(
        dir.path(),
        "[[scanner.master]]\nhost = \"a\"\n[[scanner.master]]\nhost = \"b\"\n\
         [crawler.host_timeout]\nfull = \"1h\"\n",
        &[],
    )
    .unwrap();
    let masters = s.get("scanner.master", |v| Ok(v.clone())).unwrap().unwrap();
    assert_eq!(masters.as_array().map(Vec::len), Some(2));
    assert_eq!(s.origin("scanner.master"), Some(&file_origin(1)));
    assert_eq!(
        s.get("crawler.host_timeout.full", conv_duration),
        Ok(Some(Duration::from_secs(3600)))
    );
    let s = load(
        dir.path(),
        "",
        &[("TEST__CRAWLER__HOST_TIMEOUT__FULL", "2h")],
    )
    .unwrap();
    assert_eq!(
        s.get("crawler.host_timeout.full", conv_duration),
        Ok(Some(Duration::from_secs(7200)))
    );
}

#[test]
fn unknown_keys_and_sections() {
    let dir = tempfile::tempdir().unwrap();
    let e = load(
        dir.path(),
        "[server]\nlisten = \"::1\"\ntimout = \"1s\"\n",
        &[],
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "server.timout: unknown key \"server.timout\"; did you mean \"server.timeout\"? \
         (test.toml line 3)"
    );
    let e = load(dir.path(), "[servr]\nlisten = \"::1\"\n", &[]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "servr: unknown key \"servr\"; did you mean \"server\"? (test.toml line 1)"
    );
    let e = load(dir.path(), "[xyz]\n", &[]).unwrap_err();
    assert_eq!(e.to_string(), "xyz: unknown key \"xyz\" (test.toml line 1)");
    let e = load(dir.path(), "server = 1\n", &[]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "server: must be a table ([server] section) (test.toml line 1)"
    );
    let e = load(dir.path(), "", &[("TEST__STORE", "x")]).unwrap_err();
    assert!(e.to_string().contains("is a section, not a key"), "{e}");
    // No top-level key would make `TEST__<KEY>` meaningful only because this schema has one.
    let e = load(dir.path(), "", &[("TEST__A____B", "x")]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "environment variable TEST__A____B: malformed name: expected TEST__<SECTION>__<KEY> \
         or TEST__<KEY>"
    );
    let e = load(dir.path(), "", &[("TEST__CONFIG", "x")]).unwrap_err();
    assert!(e.to_string().contains("named by TEST_CONFIG"), "{e}");
}

#[test]
fn opaque_tables_keep_any_key() {
    let dir = tempfile::tempdir().unwrap();
    let s = load(
        dir.path(),
        "[auth.oidc]\nissuer = \"https://id.example.org\"\n[auth.oidc.claims]\nrole = \"r\"\n",
        &[("TEST__AUTH__OIDC__CLIENT_ID", "mf")],
    )
    .unwrap();
    let keys: Vec<&str> = s
        .opaque_entries("auth.oidc")
        .iter()
        .map(|(k, _, _)| *k)
        .collect();
    assert_eq!(
        keys,
        [
            "auth.oidc.claims.role",
            "auth.oidc.client_id",
            "auth.oidc.issuer"
        ]
    );
    let e = load(dir.path(), "[auth]\noidc = 1\n", &[]).unwrap_err();
    assert!(e.to_string().contains("must be a table"), "{e}");
    let e = load(dir.path(), "[auth]\nsignup = true\n", &[]).unwrap_err();
    assert!(e.to_string().starts_with("auth.signup: unknown key"), "{e}");
}

#[test]
fn secret_from_a_file_and_plain_text_fallback() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("secret"), "s3cr3t\n").unwrap();
    let s = load(
        dir.path(),
        "[store.s3]\nsecret_access_key_file = \"secret\"\n",
        &[("TEST__NAME", "123")],
    )
    .unwrap();
    assert_eq!(
        s.get("store.s3.secret_access_key", conv_string),
        Ok(Some("s3cr3t".to_string()))
    );
    // `123` reads as a TOML integer; the key wants a string, so the plain text is used.
    assert_eq!(s.get("name", conv_string), Ok(Some("123".to_string())));
    let s = load(
        dir.path(),
        "[store.s3]\nsecret_access_key_file = \"missing\"\n",
        &[],
    )
    .unwrap();
    let e = s
        .get("store.s3.secret_access_key", conv_string)
        .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("store.s3.secret_access_key_file: cannot read \"missing\""),
        "{e}"
    );
}

#[test]
fn s3_resolution_and_origins() {
    let dir = tempfile::tempdir().unwrap();
    let aws = [
        ("AWS_ENDPOINT_URL", "http://generic"),
        ("AWS_ENDPOINT_URL_S3", "http://minio:9000"),
        ("AWS_DEFAULT_REGION", "default-region"),
        ("AWS_REGION", "aws-region"),
        ("AWS_ACCESS_KEY_ID", "aws-id"),
        ("AWS_SECRET_ACCESS_KEY", "aws-secret"),
        ("AWS_SESSION_TOKEN", "aws-token"),
        ("AWS_ALLOW_HTTP", "yes"),
    ];
    let s = load(dir.path(), "", &aws).unwrap();
    let (c, origins) = S3Config::resolve(&s).unwrap();
    assert_eq!(c.endpoint.as_deref(), Some("http://minio:9000"));
    assert_eq!(c.region, "aws-region");
    assert_eq!(c.access_key_id.as_deref(), Some("aws-id"));
    assert_eq!(c.secret_access_key.as_deref(), Some("aws-secret"));
    assert_eq!(c.session_token.as_deref(), Some("aws-token"));
    assert!(c.allow_http);
    assert_eq!(origins[0], Origin::Aws("AWS_ENDPOINT_URL_S3".into()));
    assert_eq!(origins[1], Origin::Aws("AWS_REGION".into()));
    assert_eq!(origins[6], Origin::Default);
    assert!(!format!("{c:?}").contains("aws-secret"));
    assert!(!format!("{c:?}").contains("aws-token"));

    // The file beats the AWS variables; the prefixed variable beats the file.
    let s = load(
        dir.path(),
        "[store.s3]\nregion = \"file-region\"\naccess_key_id = \"file-id\"\nallow_http = false\n\
         conditional_put = \"disabled\"\n",
        &[
            aws.as_slice(),
            &[("TEST__STORE__S3__ACCESS_KEY_ID", "env-id")],
        ]
        .concat(),
    )
    .unwrap();
    let (c, origins) = S3Config::resolve(&s).unwrap();
    assert_eq!(c.region, "file-region");
    assert_eq!(c.access_key_id.as_deref(), Some("env-id"));
    assert!(!c.allow_http);
    assert_eq!(c.conditional_put, ConditionalPut::Disabled);
    assert_eq!(origins[1], file_origin(2));
    assert_eq!(
        origins[2],
        Origin::Env("TEST__STORE__S3__ACCESS_KEY_ID".into())
    );
    assert_eq!(origins[7], file_origin(5));

    // Without anything: the defaults.
    let s = load(dir.path(), "", &[("AWS_DEFAULT_REGION", "fallback-region")]).unwrap();
    let (c, origins) = S3Config::resolve(&s).unwrap();
    assert_eq!(c.region, "fallback-region");
    assert_eq!(c.endpoint, None);
    assert_eq!(origins[0], Origin::Default);

    let s = load(dir.path(), "", &[("AWS_ALLOW_HTTP", "perhaps")]).unwrap();
    assert_eq!(
        S3Config::resolve(&s).unwrap_err().to_string(),
        "store.s3.allow_http: expected true or false, got \"perhaps\" \
         (environment variable AWS_ALLOW_HTTP)"
    );
    let s = load(dir.path(), "[store.s3]\nconditional_put = \"maybe\"\n", &[]).unwrap();
    assert_eq!(
        S3Config::resolve(&s).unwrap_err().to_string(),
        "store.s3.conditional_put: expected \"etag\" or \"disabled\", got \"maybe\" \
         (test.toml line 2)"
    );
}

#[test]
fn the_file_named_by_the_flag_or_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("a.toml"), "name = \"a\"\n").unwrap();
    fs::write(dir.path().join("b.toml"), "name = \"b\"\n").unwrap();
    let s = Sources::load(
        &SCHEMA,
        Some(Path::new("a.toml")),
        [("TEST_CONFIG", "b.toml")],
        dir.path(),
    )
    .unwrap();
    assert_eq!(s.get("name", conv_string), Ok(Some("a".to_string())));
    let s = Sources::load(&SCHEMA, None, [("TEST_CONFIG", "b.toml")], dir.path()).unwrap();
    assert_eq!(s.get("name", conv_string), Ok(Some("b".to_string())));
    let s = Sources::load(&SCHEMA, None, [("X", "y")], dir.path()).unwrap();
    assert_eq!(s.file(), None);
    let e = Sources::load(&SCHEMA, None, [("TEST_CONFIG", "c.toml")], dir.path()).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("c.toml: cannot read configuration file (named by TEST_CONFIG)"),
        "{e}"
    );
}
