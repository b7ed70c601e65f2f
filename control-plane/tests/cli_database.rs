//! The database commands as a user runs them: `mirrorfleet init`, `import inventory`
//! (with `--dry-run`), exit statuses and messages, on the embedded SQLite default.

use std::path::Path;
use std::process::{Command, Output};

mod support;

fn mirrorfleet(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mirrorfleet"))
        .args(args)
        .current_dir(dir)
        .env_remove("MIRRORFLEET__DATABASE__URL")
        .output()
        .expect("run mirrorfleet")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn init_import_reimport_on_the_embedded_default() {
    let dir = tempfile::tempdir().unwrap();
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/inventory.json");

    let o = mirrorfleet(dir.path(), &["init"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("initialised installation"),
        "{}",
        text(&o)
    );
    assert!(
        dir.path().join("data/mirrorfleet.db").exists(),
        "the default is sqlite://data/mirrorfleet.db"
    );
    let again = mirrorfleet(dir.path(), &["init"]);
    assert!(
        text(&again).contains("already initialised"),
        "{}",
        text(&again)
    );

    let dry = mirrorfleet(dir.path(), &["import", "inventory", example, "--dry-run"]);
    assert!(dry.status.success(), "{}", text(&dry));
    assert!(text(&dry).contains("host: 3 created"), "{}", text(&dry));
    assert!(
        text(&dry).contains("generation 0 would be 1"),
        "{}",
        text(&dry)
    );

    let real = mirrorfleet(dir.path(), &["import", "inventory", example]);
    assert!(real.status.success(), "{}", text(&real));
    assert!(text(&real).contains("generation 0 is 1"), "{}", text(&real));

    let noop = mirrorfleet(dir.path(), &["import", "inventory", example]);
    assert!(text(&noop).contains("no changes"), "{}", text(&noop));
    assert!(text(&noop).contains("generation 1 is 1"), "{}", text(&noop));
}

#[test]
fn bad_inventory_imports_nothing_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    assert!(mirrorfleet(dir.path(), &["init"]).status.success());
    std::fs::write(
        dir.path().join("bad.json"),
        "{\"format\": \"mirrorfleet-inventory\", \"format_version\": 1}\n",
    )
    .unwrap();
    let o = mirrorfleet(dir.path(), &["import", "inventory", "bad.json"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("bad.json:1:1: missing field \"products\""),
        "{}",
        text(&o)
    );
    assert!(text(&o).contains("nothing imported"), "{}", text(&o));
}

#[test]
fn unreachable_database_names_the_url_and_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let o = mirrorfleet(
        dir.path(),
        &[
            "--database-url",
            "postgres://postgres@127.0.0.1:9/test",
            "migrate",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("postgres://postgres@127.0.0.1:9/test") && t.contains("--database-url"),
        "{t}"
    );
}

#[tokio::test]
async fn postgres_commands_refuse_pending_migrations_with_exit_2() {
    let Some(schema) = support::pg_schema(true).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/inventory.json");
    let url = schema.url();
    let o = mirrorfleet(
        dir.path(),
        &["--database-url", &url, "import", "inventory", example],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("pending migrations") && text(&o).contains("mirrorfleet migrate"),
        "{}",
        text(&o)
    );
    let m = mirrorfleet(dir.path(), &["--database-url", &url, "migrate"]);
    assert!(m.status.success(), "{}", text(&m));
    let i = mirrorfleet(dir.path(), &["--database-url", &url, "init"]);
    assert!(i.status.success(), "{}", text(&i));
    let o = mirrorfleet(
        dir.path(),
        &["--database-url", &url, "import", "inventory", example],
    );
    assert!(o.status.success(), "{}", text(&o));
}
