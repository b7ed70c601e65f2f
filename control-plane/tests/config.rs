//! The configuration through the real binary (control-plane.md §10): `mirrorfleet config show`
//! with its origins, precedence of flag, environment, file and defaults, the choice of the
//! file, and configuration errors exiting 2 for every command.

mod support;

use std::path::Path;
use std::process::{Command, Output};

use support::output_text;

/// Runs `mirrorfleet` in `dir` with only `env` of the variables the configuration reads.
fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mirrorfleet"));
    cmd.args(args).current_dir(dir);
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("MIRRORFLEET") || name.starts_with("AWS_") {
            cmd.env_remove(name.as_ref());
        }
    }
    cmd.envs(env.iter().copied())
        .output()
        .expect("run mirrorfleet")
}

fn show(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let all: Vec<&str> = args.iter().copied().chain(["config", "show"]).collect();
    let o = run(dir, &all, env);
    assert_eq!(o.status.code(), Some(0), "{}", output_text(&o));
    String::from_utf8(o.stdout).unwrap()
}

fn assert_lines(text: &str, lines: &[&str]) {
    for line in lines {
        assert!(
            text.lines().any(|l| l == *line),
            "missing line\n  {line}\nin\n{text}"
        );
    }
}

#[test]
fn show_prints_defaults_with_the_store_made_absolute() {
    let dir = tempfile::tempdir().unwrap();
    let text = show(dir.path(), &[], &[]);
    let store = format!(
        "store.url = \"file://{}\"  # default",
        dir.path().join("data/store").display()
    );
    assert_lines(
        &text,
        &[
            "# no configuration file: defaults, environment and flags",
            "server.listen = \"127.0.0.1:8080\"  # default",
            "data.dir = \"data\"  # default",
            "database.url = \"sqlite://data/mirrorfleet.db\"  # default",
            &store,
            "store.s3.region = \"us-east-1\"  # default",
            "store.s3.conditional_put = \"etag\"  # default",
            "publish.debounce = \"1s\"  # default",
            "publish.max_drop = 0.25  # default",
            "asn.max_bad_fraction = 0.01  # default",
            "checkin.max_decompressed = \"64MiB\"  # default",
            "metrics.allow = [\"127.0.0.0/8\", \"::1/128\"]  # default",
            "log.level = \"info\"  # default",
        ],
    );
    // Nothing was created: showing the configuration touches no database.
    assert!(!dir.path().join("data").exists());
}

#[test]
fn show_names_where_each_value_came_from() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("mirrorfleet.toml"),
        "[database]\nurl = \"sqlite://file.db\"\n\n[publish]\nkeep = 3\nkeep_manifests = 30\n\n\
         [store.s3]\nregion = \"file-region\"\n",
    )
    .unwrap();
    let env = [
        ("MIRRORFLEET__PUBLISH__KEEP", "5"),
        ("MIRRORFLEET__DATABASE__URL", "sqlite://env.db"),
        ("MIRRORFLEET__STORE__S3__SECRET_ACCESS_KEY", "topsecret"),
        ("AWS_REGION", "aws-region"),
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        ("AWS_SESSION_TOKEN", "aws-token-value"),
    ];
    let text = show(dir.path(), &["--database-url", "sqlite://flag.db"], &env);
    assert_lines(
        &text,
        &[
            "# configuration file: mirrorfleet.toml",
            "database.url = \"sqlite://flag.db\"  # flag --database-url",
            "publish.keep = 5  # environment variable MIRRORFLEET__PUBLISH__KEEP",
            "publish.keep_manifests = 30  # configuration file mirrorfleet.toml line 6",
            "publish.min_hosts = 1  # default",
            "store.s3.region = \"file-region\"  # configuration file mirrorfleet.toml line 9",
            "store.s3.access_key_id = \"AKIDEXAMPLE\"  # AWS variable AWS_ACCESS_KEY_ID",
            "store.s3.secret_access_key = \"***\"  # environment variable \
             MIRRORFLEET__STORE__S3__SECRET_ACCESS_KEY",
            "store.s3.session_token = \"***\"  # AWS variable AWS_SESSION_TOKEN",
        ],
    );
    assert!(!text.contains("topsecret") && !text.contains("aws-token-value"));

    // Without the flag the environment wins, without the environment the file.
    let text = show(dir.path(), &[], &env);
    assert_lines(
        &text,
        &["database.url = \"sqlite://env.db\"  # environment variable MIRRORFLEET__DATABASE__URL"],
    );
    let text = show(dir.path(), &[], &[]);
    assert_lines(
        &text,
        &[
            "database.url = \"sqlite://file.db\"  # configuration file mirrorfleet.toml line 2",
            "publish.keep = 3  # configuration file mirrorfleet.toml line 5",
        ],
    );
}

#[test]
fn config_flag_overrides_the_variable_and_the_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    for (name, title) in [
        ("a.toml", "a"),
        ("b.toml", "b"),
        ("mirrorfleet.toml", "cwd"),
    ] {
        std::fs::write(
            dir.path().join(name),
            format!("[ui]\nsite_title = \"{title}\"\n"),
        )
        .unwrap();
    }
    let env = [("MIRRORFLEET_CONFIG", "b.toml")];
    let text = show(dir.path(), &["--config", "a.toml"], &env);
    assert_lines(
        &text,
        &[
            "# configuration file: a.toml",
            "ui.site_title = \"a\"  # configuration file a.toml line 2",
        ],
    );
    // `--config` is global: it may follow the subcommand.
    let o = run(dir.path(), &["config", "show", "--config", "a.toml"], &env);
    assert!(
        output_text(&o).contains("ui.site_title = \"a\""),
        "{}",
        output_text(&o)
    );
    let text = show(dir.path(), &[], &env);
    assert_lines(
        &text,
        &["ui.site_title = \"b\"  # configuration file b.toml line 2"],
    );
    let text = show(dir.path(), &[], &[]);
    assert_lines(
        &text,
        &["ui.site_title = \"cwd\"  # configuration file mirrorfleet.toml line 2"],
    );
    let o = run(
        dir.path(),
        &["--config", "missing.toml", "config", "show"],
        &[],
    );
    assert_eq!(o.status.code(), Some(2), "{}", output_text(&o));
    assert!(
        output_text(&o).starts_with(
            "mirrorfleet: missing.toml: cannot read configuration file (named by --config)"
        ),
        "{}",
        output_text(&o)
    );
}

#[test]
fn configuration_errors_exit_2_for_every_command() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("mirrorfleet.toml"),
        "[server]\nlisten = \"127.0.0.1:8080\"\nlisen = \"::1\"\n",
    )
    .unwrap();
    let expected = "mirrorfleet: server.lisen: unknown key \"server.lisen\"; did you mean \
                    \"server.listen\"? (mirrorfleet.toml line 3)\n";
    for args in [&["config", "show"][..], &["migrate"], &["asn", "status"]] {
        let o = run(dir.path(), args, &[]);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", output_text(&o));
        assert_eq!(String::from_utf8_lossy(&o.stderr), expected, "{args:?}");
        assert!(o.stdout.is_empty());
    }
    assert!(!dir.path().join("data").exists(), "nothing ran");

    let other = tempfile::tempdir().unwrap();
    let o = run(
        other.path(),
        &["config", "show"],
        &[("MIRRORFLEET__PUBLISH__INTERVAL", "0s")],
    );
    assert_eq!(o.status.code(), Some(2), "{}", output_text(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "mirrorfleet: publish.interval: must be greater than zero (environment variable \
         MIRRORFLEET__PUBLISH__INTERVAL)\n"
    );
    let o = run(other.path(), &["publish", "--lock-timeout", "5"], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", output_text(&o));
    assert!(
        output_text(&o).contains("invalid duration \"5\""),
        "{}",
        output_text(&o)
    );
}

#[test]
fn commands_use_the_configured_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("MIRRORFLEET__DATA__DIR", "state")];
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/inventory.json");
    for args in [
        &["init"][..],
        &["import", "inventory", example],
        &["publish"],
    ] {
        let o = run(dir.path(), args, &env);
        assert!(o.status.success(), "{args:?}: {}", output_text(&o));
    }
    assert!(dir.path().join("state/mirrorfleet.db").exists());
    assert!(dir.path().join("state/store/manifest.json").exists());
    assert!(!dir.path().join("data").exists());
}
