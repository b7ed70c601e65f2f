//! The database commands as a user runs them: `mirrorfleet init`, `import inventory`
//! (with `--dry-run`), exit statuses and messages, on the embedded SQLite default.

mod support;
use support::{mirrorfleet, output_text};

#[test]
fn init_import_reimport_on_the_embedded_default() {
    let dir = tempfile::tempdir().unwrap();
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/inventory.json");

    let o = mirrorfleet(dir.path(), &["init"]);
    assert!(o.status.success(), "{}", output_text(&o));
    assert!(
        output_text(&o).contains("initialised installation"),
        "{}",
        output_text(&o)
    );
    assert!(
        dir.path().join("data/mirrorfleet.db").exists(),
        "the default is sqlite://data/mirrorfleet.db"
    );
    let again = mirrorfleet(dir.path(), &["init"]);
    assert!(
        output_text(&again).contains("already initialised"),
        "{}",
        output_text(&again)
    );

    let dry = mirrorfleet(dir.path(), &["import", "inventory", example, "--dry-run"]);
    assert!(dry.status.success(), "{}", output_text(&dry));
    assert!(
        output_text(&dry).contains("host: 3 created"),
        "{}",
        output_text(&dry)
    );
    assert!(
        output_text(&dry).contains("generation 0 would be 1"),
        "{}",
        output_text(&dry)
    );

    let real = mirrorfleet(dir.path(), &["import", "inventory", example]);
    assert!(real.status.success(), "{}", output_text(&real));
    assert!(
        output_text(&real).contains("generation 0 is 1"),
        "{}",
        output_text(&real)
    );

    let noop = mirrorfleet(dir.path(), &["import", "inventory", example]);
    assert!(
        output_text(&noop).contains("no changes"),
        "{}",
        output_text(&noop)
    );
    assert!(
        output_text(&noop).contains("generation 1 is 1"),
        "{}",
        output_text(&noop)
    );
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
    assert_eq!(o.status.code(), Some(2), "{}", output_text(&o));
    assert!(
        output_text(&o).contains("bad.json:1:1: missing field \"products\""),
        "{}",
        output_text(&o)
    );
    assert!(
        output_text(&o).contains("nothing imported"),
        "{}",
        output_text(&o)
    );
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
    assert_eq!(o.status.code(), Some(1), "{}", output_text(&o));
    let t = output_text(&o);
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
    assert_eq!(o.status.code(), Some(2), "{}", output_text(&o));
    assert!(
        output_text(&o).contains("pending migrations")
            && output_text(&o).contains("mirrorfleet migrate"),
        "{}",
        output_text(&o)
    );
    let m = mirrorfleet(dir.path(), &["--database-url", &url, "migrate"]);
    assert!(m.status.success(), "{}", output_text(&m));
    let i = mirrorfleet(dir.path(), &["--database-url", &url, "init"]);
    assert!(i.status.success(), "{}", output_text(&i));
    let o = mirrorfleet(
        dir.path(),
        &["--database-url", &url, "import", "inventory", example],
    );
    assert!(o.status.success(), "{}", output_text(&o));
}

#[test]
fn asn_import_is_stored_and_published() {
    let dir = tempfile::tempdir().unwrap();
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/inventory.json");
    let table = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/prefix-asn.txt");
    for args in [&["init"][..], &["import", "inventory", example]] {
        let o = mirrorfleet(dir.path(), args);
        assert!(o.status.success(), "{}", output_text(&o));
    }
    let none = mirrorfleet(dir.path(), &["asn", "status"]);
    assert!(
        output_text(&none).contains("no prefix→ASN table imported"),
        "{}",
        output_text(&none)
    );
    let o = mirrorfleet(dir.path(), &["asn", "import", table, "--source", "sample"]);
    assert!(o.status.success(), "{}", output_text(&o));
    assert!(
        output_text(&o).contains("3 IPv4 and 1 IPv6 prefixes"),
        "{}",
        output_text(&o)
    );
    assert!(dir.path().join("data/prefix-asn.txt").exists());

    // A file with too many bad lines is refused and the stored table stays.
    std::fs::write(dir.path().join("bad.txt"), "10.0.0.1/8 1\nfoo\n").unwrap();
    let bad = mirrorfleet(dir.path(), &["asn", "import", "bad.txt"]);
    assert_eq!(bad.status.code(), Some(2), "{}", output_text(&bad));
    assert!(
        output_text(&bad).contains("bad.txt:1: \"10.0.0.1/8\" has host bits set"),
        "{}",
        output_text(&bad)
    );
    let status = mirrorfleet(dir.path(), &["asn", "status"]);
    assert!(
        output_text(&status).contains("source \"sample\""),
        "{}",
        output_text(&status)
    );

    // The publisher carries the stored table into the snapshot.
    let p = mirrorfleet(dir.path(), &["publish"]);
    assert!(p.status.success(), "{}", output_text(&p));
    let snapshots: Vec<_> = std::fs::read_dir(dir.path().join("data/store/snapshots"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(snapshots.len(), 1);
    let inspect = mirrorfleet(
        dir.path(),
        &[
            "snapshot",
            "inspect",
            "--json",
            snapshots[0].to_str().unwrap(),
        ],
    );
    let json: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
    assert_eq!(json["counts"]["prefix_asn_entries"], 4, "{json}");
    assert_eq!(json["inputs"]["prefix_asn"]["source"], "sample", "{json}");
}
