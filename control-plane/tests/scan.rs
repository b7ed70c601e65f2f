//! The master-tree scanner (control-plane.md §4) on generated trees laid out like Fedora's and
//! EPEL's, on SQLite and PostgreSQL: directories created, changed and removed (with the
//! deletion guard and orphaned repositories coming back); the repository rules of both
//! layouts; file details with their history, alternates in the snapshot and aging; checksum
//! files; incremental rescans that list and hash nothing unchanged (the scan report's
//! counters); list files; dry runs; generation bumps per batch; the scanner lock; the
//! scheduled scan inside `serve`; and the `mirrorfleet scan` and `repomap test` commands.
//!
//! PostgreSQL: `MIRRORFLEET_TEST_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/test`
//! (unreachable: FAIL under `CI=true`, a SKIP line otherwise). createrepo_c: missing → FAIL
//! under `CI=true`, a SKIP line otherwise (`ops/dev-setup.sh` installs it).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use mirrorfleet_control::config::{Config, ConfigFlags};
use mirrorfleet_control::db::Database;
use mirrorfleet_control::derive_db::{DeriveOptions, derive_snapshot};
use mirrorfleet_control::inventory::parse_inventory;
use mirrorfleet_control::publish::lock::{JobLock, SCAN_JOB};
use mirrorfleet_control::scan::{
    ScanError, ScanOptions, ScanReport, ScanSettings, Status, TreeSource, scan,
};
use mirrorfleet_control::store::import::{SEED_ARCHES, import_inventory, init};
use mirrorfleet_control::with_pool;
use serde_json::{Value, json};
use time::OffsetDateTime;

mod support;
use support::*;

#[path = "scan/tree.rs"]
mod tree;
use tree::{MasterTree, next_second, repomd_xml, write_list};

const FEDORA: &str = "pub/fedora/linux";
const EPEL: &str = "pub/epel";

/// Two categories (Fedora Linux with the `fedora` rules, Fedora EPEL with `epel`) and one
/// host carrying both, so that the derived snapshot has something to say.
fn inventory() -> Value {
    json!({
        "format": "mirrorfleet-inventory",
        "format_version": 1,
        "products": [ { "name": "Fedora", "versions": ["40"] }, { "name": "EPEL", "versions": ["9"] } ],
        "arches": SEED_ARCHES,
        "categories": [
            { "name": "Fedora Linux", "product": "Fedora", "topdir": FEDORA, "repomap": "fedora" },
            { "name": "Fedora EPEL", "product": "EPEL", "topdir": EPEL, "repomap": "epel" }
        ],
        "sites": [ { "name": "Master", "hosts": [ {
            "name": "dl.example.org", "country": "SE",
            "categories": {
                "Fedora Linux": { "urls": ["https://dl.example.org/pub/fedora/linux"], "always_up2date": true },
                "Fedora EPEL": { "urls": ["https://dl.example.org/pub/epel"], "always_up2date": true }
            } } ] } ]
    })
}

async fn setup(db: &Database) {
    // A random installation id: PostgreSQL's advisory locks are per database, and the tests
    // run in parallel in one.
    init(db, None).await.expect("init");
    let text = serde_json::to_string(&inventory()).unwrap();
    let (inv, _) = parse_inventory("inventory.json", &text).expect("inventory parses");
    import_inventory(db, &inv, false).await.expect("import");
}

/// A test's directory: the master trees below `srv/`, the data directory, the configuration.
struct Site {
    dir: tempfile::TempDir,
    fedora: MasterTree,
    epel: MasterTree,
}

impl Site {
    fn new() -> Site {
        let dir = tempfile::tempdir().unwrap();
        let fedora = MasterTree::new(&dir.path().join("srv"), FEDORA);
        let epel = MasterTree::new(&dir.path().join("srv"), EPEL);
        Site { dir, fedora, epel }
    }

    fn srv(&self) -> PathBuf {
        self.dir.path().join("srv")
    }

    /// The scanner's settings from a configuration file: `[[scanner.master]]` for both
    /// categories (`fedora_extra` added to Fedora's entry), then `extra` TOML.
    fn settings_with(&self, fedora_extra: &str, extra: &str) -> ScanSettings {
        let text = format!(
            "[data]\ndir = {data:?}\n\n{extra}\n\n[[scanner.master]]\ncategory = \"Fedora Linux\"\n\
             path = {fedora:?}\n{fedora_extra}\n\n[[scanner.master]]\ncategory = \"Fedora EPEL\"\n\
             path = {epel:?}\n",
            data = self.dir.path().join("data").display().to_string(),
            fedora = self.fedora.root.display().to_string(),
            epel = self.epel.root.display().to_string(),
        );
        let file = self.dir.path().join("mirrorfleet.toml");
        std::fs::write(&file, text).unwrap();
        let config = Config::load_from(
            &ConfigFlags {
                config: Some(file),
                database_url: None,
            },
            Vec::<(String, String)>::new(),
            self.dir.path(),
        )
        .expect("configuration");
        ScanSettings::from_config(&config).expect("scanner settings")
    }

    fn settings(&self) -> ScanSettings {
        self.settings_with("", "")
    }
}

async fn run(db: &Database, settings: &ScanSettings, opts: ScanOptions) -> ScanReport {
    let report = scan(db, settings, &opts, &mut |_| {}).await.expect("scan");
    assert!(!report.failed(), "{report}");
    report
}

/// EPEL only, at `now`.
fn epel_at(now: OffsetDateTime) -> ScanOptions {
    ScanOptions {
        now: Some(now),
        ..only("Fedora EPEL")
    }
}

fn only(category: &str) -> ScanOptions {
    ScanOptions {
        categories: vec![category.to_string()],
        ..ScanOptions::default()
    }
}

async fn generation(db: &Database) -> i64 {
    with_pool!(db, p => sqlx::query_scalar::<_, i64>(
        "SELECT CAST(generation AS BIGINT) FROM meta WHERE id = 1").fetch_one(p).await)
    .unwrap()
}

/// Every repository: (prefix, arch, directory below `top`).
async fn repos(db: &Database) -> BTreeSet<(Option<String>, String, Option<String>)> {
    let rows: Vec<(Option<String>, String, Option<String>)> = with_pool!(db, p => sqlx::query_as(
        "SELECT r.prefix, a.name, d.name FROM repository r JOIN arch a ON a.id = r.arch_id \
         LEFT JOIN directory d ON d.id = r.directory_id")
        .fetch_all(p).await)
    .unwrap();
    rows.into_iter().collect()
}

fn repo(prefix: &str, arch: &str, dir: &str) -> (Option<String>, String, Option<String>) {
    (
        Some(prefix.to_string()),
        arch.to_string(),
        Some(dir.to_string()),
    )
}

/// Directory name → (readable, linked categories, sample file names).
async fn dirs(db: &Database) -> BTreeMap<String, (bool, i64, Vec<String>)> {
    let rows: Vec<(String, bool, i64, Value)> = with_pool!(db, p => sqlx::query_as(
        "SELECT d.name, d.readable, (SELECT count(*) FROM category_directory cd \
         WHERE cd.directory_id = d.id), d.sample_files FROM directory d")
        .fetch_all(p).await)
    .unwrap();
    rows.into_iter()
        .map(|(name, readable, links, samples)| {
            let names = samples
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["name"].as_str().unwrap().to_string())
                .collect();
            (name, (readable, links, names))
        })
        .collect()
}

/// The versions of one file, newest first: (timestamp, size, sha256, source).
async fn history(db: &Database, dir: &str, file: &str) -> Vec<(i64, i64, Option<String>, String)> {
    with_pool!(db, p => sqlx::query_as(
        "SELECT CAST(fd.timestamp AS BIGINT), CAST(fd.size AS BIGINT), fd.sha256, fd.source \
         FROM file_detail fd JOIN directory d ON d.id = fd.directory_id \
         WHERE d.name = $1 AND fd.filename = $2 ORDER BY fd.timestamp DESC, fd.id DESC")
        .bind(dir).bind(file).fetch_all(p).await)
    .unwrap()
}

/// The versions of `file` in directory `dir` of the derived snapshot, newest first:
/// (timestamp, sha256).
async fn exported(db: &Database, dir: &str, file: &str) -> Vec<(i64, Option<String>)> {
    let snap = derive_snapshot(db, &DeriveOptions::default())
        .await
        .unwrap()
        .data;
    let d = snap
        .directories
        .iter()
        .find(|d| d.name == dir)
        .unwrap_or_else(|| panic!("{dir} is not exported"));
    d.files
        .iter()
        .find(|f| f.name == file)
        .map(|f| {
            f.versions
                .iter()
                .map(|v| (v.timestamp, v.sha256.clone()))
                .collect()
        })
        .unwrap_or_default()
}

fn sha256(text: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

fn f(rel: &str) -> String {
    format!("{FEDORA}/{rel}")
}

fn e(rel: &str) -> String {
    format!("{EPEL}/{rel}")
}

/// Runs `body` on SQLite and on PostgreSQL.
macro_rules! both {
    ($name:ident) => {
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$name(super::sqlite_db().await.db).await;
            }
            #[tokio::test]
            async fn postgres() {
                let Some(t) = super::postgres_db().await else {
                    return;
                };
                super::$name(t.db.clone()).await;
            }
        }
    };
}

// ---------------------------------------------------------------------------------------------
// The repository rules on Fedora's and EPEL's layouts
// ---------------------------------------------------------------------------------------------

/// A Fedora tree: releases, updates, updates/testing, development (a branched release and
/// rawhide), source and debug trees, modular trees, and what the rules leave alone.
fn fedora_tree(t: &MasterTree) {
    let repos = [
        "releases/40/Everything/x86_64/os",
        "releases/40/Everything/aarch64/os",
        "releases/40/Everything/source/tree",
        "releases/40/Everything/x86_64/debug/tree",
        "releases/40/Server/x86_64/os",
        "releases/test/41_Beta/Everything/x86_64/os",
        "releases/40/Spins/x86_64/os",
        "releases/28/Modular/x86_64/os",
        "releases/20/Fedora/x86_64/os",
        "updates/40/Everything/x86_64",
        "updates/40/Everything/x86_64/debug",
        "updates/40/Everything/SRPMS",
        "updates/testing/40/Everything/x86_64",
        "updates/testing/40/Everything/source/tree",
        "updates/28/Modular/x86_64",
        "updates/testing/28/Modular/x86_64",
        "development/41/Everything/x86_64/os",
        "development/41/Everything/source/tree",
        "development/rawhide/Everything/x86_64/os",
        "development/rawhide/Everything/x86_64/debug/tree",
        "development/rawhide/Everything/source/tree",
        "development/rawhide/Modular/x86_64/os",
        "updates/40/Everything/riscv64",
    ];
    for (i, r) in repos.iter().enumerate() {
        t.repo(r, 1_713_000_000 + i as i64);
    }
    // An ostree repository: a summary file and an objects directory.
    t.file("atomic/29", "summary", b"ostree summary of 29");
    t.dir("atomic/29/objects/ab");
    t.packages(
        "releases/40/Everything/x86_64/os/Packages/h",
        12,
        ".rpm",
        1_713_000_000,
    );
    t.packages(
        "releases/40/Everything/aarch64/os/Packages/h",
        2,
        ".rpm",
        1_713_000_000,
    );
}

async fn fedora_layout(db: Database) {
    setup(&db).await;
    let site = Site::new();
    fedora_tree(&site.fedora);
    let report = run(&db, &site.settings(), only("Fedora Linux")).await;
    let c = &report.categories[0];
    assert_eq!(c.source, TreeSource::Walk);
    let want: BTreeSet<_> = [
        ("fedora-40", "x86_64", "releases/40/Everything/x86_64/os"),
        ("fedora-40", "aarch64", "releases/40/Everything/aarch64/os"),
        (
            "fedora-source-40",
            "source",
            "releases/40/Everything/source/tree",
        ),
        (
            "fedora-debug-40",
            "x86_64",
            "releases/40/Everything/x86_64/debug/tree",
        ),
        (
            "fedora-modular-28",
            "x86_64",
            "releases/28/Modular/x86_64/os",
        ),
        (
            "fedora-install-20",
            "x86_64",
            "releases/20/Fedora/x86_64/os",
        ),
        (
            "updates-released-f40",
            "x86_64",
            "updates/40/Everything/x86_64",
        ),
        (
            "updates-released-debug-f40",
            "x86_64",
            "updates/40/Everything/x86_64/debug",
        ),
        (
            "updates-released-source-f40",
            "source",
            "updates/40/Everything/SRPMS",
        ),
        (
            "updates-testing-f40",
            "x86_64",
            "updates/testing/40/Everything/x86_64",
        ),
        (
            "updates-testing-source-f40",
            "source",
            "updates/testing/40/Everything/source/tree",
        ),
        (
            "updates-released-modular-f28",
            "x86_64",
            "updates/28/Modular/x86_64",
        ),
        (
            "updates-testing-modular-f28",
            "x86_64",
            "updates/testing/28/Modular/x86_64",
        ),
        ("fedora-41", "x86_64", "development/41/Everything/x86_64/os"),
        (
            "fedora-source-41",
            "source",
            "development/41/Everything/source/tree",
        ),
        (
            "rawhide",
            "x86_64",
            "development/rawhide/Everything/x86_64/os",
        ),
        (
            "rawhide-debug",
            "x86_64",
            "development/rawhide/Everything/x86_64/debug/tree",
        ),
        (
            "rawhide-source",
            "source",
            "development/rawhide/Everything/source/tree",
        ),
        (
            "rawhide-modular",
            "x86_64",
            "development/rawhide/Modular/x86_64/os",
        ),
        ("atomic-29", "x86_64", "atomic/29"),
    ]
    .into_iter()
    .map(|(p, a, d)| repo(p, a, &f(d)))
    .collect();
    assert_eq!(repos(&db).await, want);
    assert_eq!(c.created_repos.len(), want.len(), "{c}");
    // What the rules left alone, and why.
    let notes: BTreeMap<&str, &str> = c
        .notes
        .iter()
        .map(|n| (n.path.as_str(), n.reason.as_str()))
        .collect();
    assert_eq!(
        notes.get("releases/test/41_Beta/Everything/x86_64/os"),
        Some(&"excluded by rule 1")
    );
    assert_eq!(
        notes.get("releases/40/Spins/x86_64/os"),
        Some(&"excluded by rule 6")
    );
    assert_eq!(notes.get("updates/40/Everything/riscv64"), Some(&"no arch"));
    assert!(
        !notes.contains_key("releases/40/Server/x86_64/os"),
        "skip_dirs are silent"
    );
    assert!(c.unmapped.is_empty(), "{c}");
    // Versions the scanner found; none for the excluded test release (D9).
    let versions: BTreeSet<(String, bool)> = with_pool!(db, p => sqlx::query_as(
        "SELECT v.name, v.is_test FROM version v JOIN product p ON p.id = v.product_id \
         WHERE p.name = 'Fedora'").fetch_all(p).await)
    .unwrap()
    .into_iter()
    .collect();
    let want_versions: BTreeSet<(String, bool)> = ["20", "28", "29", "40", "41", "development"]
        .iter()
        .map(|v| (v.to_string(), false))
        .collect();
    assert_eq!(versions, want_versions);
    // Samples: every file, or the 3 newest when a directory holds more than 10 rpms.
    let d = dirs(&db).await;
    assert_eq!(
        d[&f("releases/40/Everything/x86_64/os/Packages/h")].2,
        ["pkg-09.rpm", "pkg-10.rpm", "pkg-11.rpm"]
    );
    assert_eq!(
        d[&f("releases/40/Everything/aarch64/os/Packages/h")].2,
        ["pkg-00.rpm", "pkg-01.rpm"]
    );
    assert_eq!(
        history(&db, &f("atomic/29"), "summary").await[0].2,
        Some(sha256("ostree summary of 29")),
        "the ostree summary's details"
    );
    // The snapshot maps them, with the repomd.xml of each.
    let snap = derive_snapshot(&db, &DeriveOptions::default())
        .await
        .unwrap()
        .data;
    let fedora_40 = snap
        .repositories
        .iter()
        .find(|r| r.prefix == "fedora-40" && r.arch == "x86_64")
        .expect("fedora-40 exported");
    assert_eq!(fedora_40.directory, f("releases/40/Everything/x86_64/os"));
    assert_eq!(
        exported(
            &db,
            &f("releases/40/Everything/x86_64/os/repodata"),
            "repomd.xml"
        )
        .await,
        [(1_713_000_000, Some(sha256(&repomd_xml(1_713_000_000))))]
    );

    // A repository the scanner maps is never changed by it again, and a taken prefix gives an
    // unmapped repository noting the conflict.
    site.fedora
        .repo("releases/40/Everything/x86_64/os2/Everything/x86_64/os", 1);
    let report = run(&db, &site.settings(), only("Fedora Linux")).await;
    let c = &report.categories[0];
    assert_eq!(c.unmapped.len(), 1, "{c}");
    assert!(
        c.unmapped[0].reason.contains(
            "fedora-40/x86_64 is taken by pub/fedora/linux/releases/40/Everything/x86_64/os"
        ),
        "{c}"
    );
    assert!(repos(&db).await.contains(&(
        None,
        "x86_64".to_string(),
        Some(f("releases/40/Everything/x86_64/os2/Everything/x86_64/os"))
    )));
}
both!(fedora_layout);

/// EPEL: releases, debug and source trees, modular, testing, playground, the old EPEL 7
/// layout (arch and SRPMS directly below the version) and EPEL Next.
async fn epel_layout(db: Database) {
    setup(&db).await;
    let site = Site::new();
    for (i, r) in [
        "9/Everything/x86_64",
        "9/Everything/x86_64/debug",
        "9/Everything/source/tree",
        "9/Everything/aarch64",
        "8/Modular/aarch64",
        "testing/9/Everything/x86_64",
        "testing/9/Everything/source/tree",
        "testing/8/Modular/x86_64",
        "playground/8/Everything/x86_64",
        "next/9/Everything/x86_64",
        "next/9/Everything/x86_64/debug",
        "testing/next/9/Everything/x86_64",
        "7/x86_64",
        "7/SRPMS",
        "test/10/Everything/x86_64",
    ]
    .iter()
    .enumerate()
    {
        site.epel.repo(r, 1_732_500_000 + i as i64);
    }
    let report = run(&db, &site.settings(), only("Fedora EPEL")).await;
    let want: BTreeSet<_> = [
        ("epel-9", "x86_64", "9/Everything/x86_64"),
        ("epel-debug-9", "x86_64", "9/Everything/x86_64/debug"),
        ("epel-source-9", "source", "9/Everything/source/tree"),
        ("epel-9", "aarch64", "9/Everything/aarch64"),
        ("epel-modular-8", "aarch64", "8/Modular/aarch64"),
        ("testing-epel9", "x86_64", "testing/9/Everything/x86_64"),
        (
            "testing-source-epel9",
            "source",
            "testing/9/Everything/source/tree",
        ),
        (
            "testing-modular-epel8",
            "x86_64",
            "testing/8/Modular/x86_64",
        ),
        (
            "playground-epel8",
            "x86_64",
            "playground/8/Everything/x86_64",
        ),
        ("epel-next-9", "x86_64", "next/9/Everything/x86_64"),
        (
            "epel-next-debug-9",
            "x86_64",
            "next/9/Everything/x86_64/debug",
        ),
        (
            "epel-testing-next-9",
            "x86_64",
            "testing/next/9/Everything/x86_64",
        ),
        ("epel-7", "x86_64", "7/x86_64"),
        ("epel-source-7", "source", "7/SRPMS"),
    ]
    .into_iter()
    .map(|(p, a, d)| repo(p, a, &e(d)))
    .collect();
    assert_eq!(repos(&db).await, want, "{report}");
    let c = &report.categories[0];
    assert_eq!(
        c.notes
            .iter()
            .map(|n| (n.path.as_str(), n.reason.as_str()))
            .collect::<Vec<_>>(),
        [("test/10/Everything/x86_64", "excluded by rule 1")]
    );
    // The snapshot: EPEL Next has its own prefix (MirrorManager2 mapped it onto epel-9).
    let snap = derive_snapshot(&db, &DeriveOptions::default())
        .await
        .unwrap()
        .data;
    let next = snap
        .repositories
        .iter()
        .find(|r| r.prefix == "epel-next-9" && r.arch == "x86_64")
        .expect("exported");
    assert_eq!(next.directory, e("next/9/Everything/x86_64"));
}
both!(epel_layout);

// ---------------------------------------------------------------------------------------------
// Directories: created, changed, removed
// ---------------------------------------------------------------------------------------------

async fn directories_come_and_go(db: Database) {
    setup(&db).await;
    let site = Site::new();
    let t = &site.fedora;
    t.repo("releases/40/Everything/x86_64/os", 100);
    t.repo("updates/40/Everything/x86_64", 200);
    t.dir("updates/40/Everything/x86_64/Packages/a");
    t.dir("extras/one");
    t.dir("extras/two");
    t.dir("extras/three");
    t.dir("private/keys");
    t.dir(".snapshot/hourly.0/releases");
    t.dir("releases/.~tmp~/partial");
    t.dir("iso/scratch/deep");
    t.file("", "README", b"read me");
    let settings = site.settings_with(
        "excludes = ['^iso/scratch$']",
        "[scanner]\nmax_delete_fraction = 0.5",
    );
    let report = run(&db, &settings, only("Fedora Linux")).await;
    let c = &report.categories[0];
    let d = dirs(&db).await;
    let fedora: Vec<&String> = d.keys().filter(|n| n.starts_with(FEDORA)).collect();
    for name in [
        FEDORA.to_string(),
        f("releases/40/Everything/x86_64/os/repodata"),
        f("updates/40/Everything/x86_64/Packages/a"),
        f("extras/three"),
        f("iso"),
    ] {
        assert!(d.contains_key(&name), "{name} missing: {fedora:?}");
        assert_eq!(d[&name].1, 1, "{name} linked to its category");
    }
    for name in [f(".snapshot"), f("releases/.~tmp~"), f("iso/scratch")] {
        assert!(!d.contains_key(&name), "{name} is excluded");
    }
    assert_eq!(d[FEDORA].2, ["README"]);
    // The topdir existed (the inventory made it); everything else is new.
    assert_eq!(c.created as usize, fedora.len() - 1, "{c}");
    assert_eq!(c.seen as usize, fedora.len());

    // Changes: a directory is added, two removed (one holding a repository), one is made
    // unreadable for others, and one below it (now unreadable too).
    next_second();
    t.dir("extras/four");
    t.remove("extras/one");
    t.remove("releases");
    t.chmod("private", 0o700);
    let report = run(&db, &settings, only("Fedora Linux")).await;
    let c = &report.categories[0];
    let d = dirs(&db).await;
    assert!(d.contains_key(&f("extras/four")));
    for gone in [
        f("extras/one"),
        f("releases"),
        f("releases/40/Everything/x86_64/os/repodata"),
    ] {
        assert!(!d.contains_key(&gone), "{gone} deleted");
    }
    assert!(!d[&f("private")].0, "private is unreadable");
    assert!(!d[&f("private/keys")].0, "below an unreadable directory");
    assert_eq!(c.created, 1, "{c}");
    assert_eq!(c.deleted, 7, "extras/one and the 6 of releases/…: {c}");
    assert_eq!(c.unreadable, 2, "{c}");
    // The repository of the removed tree is orphaned, keeping its directory's name (D11).
    assert_eq!(c.orphaned.len(), 1, "{c}");
    let orphan: (Option<i64>, Option<String>) = with_pool!(db, p => sqlx::query_as(
        "SELECT directory_id, last_directory_name FROM repository WHERE prefix = 'fedora-40'")
        .fetch_one(p).await)
    .unwrap();
    assert_eq!(orphan, (None, Some(f("releases/40/Everything/x86_64/os"))));
    let snap = derive_snapshot(&db, &DeriveOptions::default())
        .await
        .unwrap()
        .data;
    assert!(!snap.repositories.iter().any(|r| r.prefix == "fedora-40"));

    // The tree comes back: the orphaned repository gets its directory again.
    next_second();
    t.repo("releases/40/Everything/x86_64/os", 300);
    let report = run(&db, &settings, only("Fedora Linux")).await;
    let c = &report.categories[0];
    assert_eq!(
        c.reattached,
        ["fedora-40/x86_64 releases/40/Everything/x86_64/os"],
        "{c}"
    );
    assert!(repos(&db).await.contains(&repo(
        "fedora-40",
        "x86_64",
        &f("releases/40/Everything/x86_64/os")
    )));

    // Most of the tree vanishes (an unmounted disk?): refused, nothing changes…
    next_second();
    let before = dirs(&db).await;
    let g = generation(&db).await;
    t.remove("updates");
    t.remove("extras");
    let failed = scan(&db, &settings, &only("Fedora Linux"), &mut |_| {})
        .await
        .unwrap();
    let c = &failed.categories[0];
    assert_eq!(c.status, Status::Failed);
    assert!(
        c.errors[0].contains("more than scanner.max_delete_fraction"),
        "{c}"
    );
    assert_eq!(dirs(&db).await, before);
    assert_eq!(generation(&db).await, g);
    // … unless forced.
    let forced = run(
        &db,
        &settings,
        ScanOptions {
            force: true,
            ..only("Fedora Linux")
        },
    )
    .await;
    assert_eq!(
        forced.categories[0].deleted, 11,
        "updates/… and extras/…: {forced}"
    );
    assert!(!dirs(&db).await.contains_key(&f("updates")));

    // A path that is missing or empty changes nothing.
    next_second();
    t.chmod("private", 0o755);
    std::fs::remove_dir_all(&t.root).unwrap();
    std::fs::create_dir_all(&t.root).unwrap();
    let failed = scan(&db, &settings, &only("Fedora Linux"), &mut |_| {})
        .await
        .unwrap();
    assert!(
        failed.categories[0].errors[0].contains("is empty"),
        "{failed}"
    );
    assert!(dirs(&db).await.contains_key(&f("private/keys")));
}
both!(directories_come_and_go);

// ---------------------------------------------------------------------------------------------
// File details: history, alternates, aging, checksum files
// ---------------------------------------------------------------------------------------------

async fn file_detail_history_and_aging(db: Database) {
    setup(&db).await;
    let site = Site::new();
    let t = &site.epel;
    let settings = site.settings_with("", "[file_details]\nkeep_days = 4\nmax_alternates = 2");
    let t0 = OffsetDateTime::now_utc();
    let hours = |h: i64| t0 + time::Duration::hours(h);
    let repodata = e("9/Everything/x86_64/repodata");
    t.repo("9/Everything/x86_64", 1_000);
    run(&db, &settings, epel_at(t0)).await;
    assert_eq!(
        history(&db, &repodata, "repomd.xml").await,
        [(
            1_000,
            repomd_xml(1_000).len() as i64,
            Some(sha256(&repomd_xml(1_000))),
            "scanner".into()
        )]
    );
    // A new repomd.xml: the history keeps the old one as an alternate, in the snapshot too.
    t.update_repomd("9/Everything/x86_64", 2_000);
    run(&db, &settings, epel_at(hours(1))).await;
    let h = history(&db, &repodata, "repomd.xml").await;
    assert_eq!(h.iter().map(|v| v.0).collect::<Vec<_>>(), [2_000, 1_000]);
    assert_eq!(
        exported(&db, &repodata, "repomd.xml").await,
        [
            (2_000, Some(sha256(&repomd_xml(2_000)))),
            (1_000, Some(sha256(&repomd_xml(1_000))))
        ],
        "current, then the alternate"
    );
    // Same content again, touched: no new version.
    let path = t.update_repomd("9/Everything/x86_64", 2_000);
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(std::time::SystemTime::now() + Duration::from_secs(5))
        .unwrap();
    let r = run(&db, &settings, epel_at(hours(2))).await;
    assert_eq!(r.categories[0].details_added, 0, "{r}");
    assert_eq!(history(&db, &repodata, "repomd.xml").await.len(), 2);
    // Three days after the old one was superseded it is still an alternate; five days after,
    // it is gone, however recent a scan recorded it.
    let r = run(&db, &settings, epel_at(hours(1 + 72))).await;
    assert_eq!(r.aged_out, 0);
    let g = generation(&db).await;
    let r = run(&db, &settings, epel_at(hours(1 + 5 * 24))).await;
    assert_eq!(r.aged_out, 1, "{r}");
    assert_eq!(generation(&db).await, g + 1, "aging changes the snapshot");
    assert_eq!(
        history(&db, &repodata, "repomd.xml")
            .await
            .iter()
            .map(|v| v.0)
            .collect::<Vec<_>>(),
        [2_000]
    );
    // At most `max_alternates` (2) alternates, whatever their age.
    for (i, rev) in [3_000, 4_000, 5_000].into_iter().enumerate() {
        t.update_repomd("9/Everything/x86_64", rev);
        run(&db, &settings, epel_at(hours(200 + i as i64))).await;
    }
    assert_eq!(
        history(&db, &repodata, "repomd.xml")
            .await
            .iter()
            .map(|v| v.0)
            .collect::<Vec<_>>(),
        [5_000, 4_000, 3_000]
    );

    // Checksum files: the images they name get file details (BSD lines, GNU lines, the PGP
    // armour skipped), merged across kinds.
    let iso = "9/Everything/x86_64/iso";
    let image = t.file(iso, "EPEL-9-x86_64.iso", b"an image");
    let img_sha256 = sha256("an image");
    let img_md5 = "ccc4e8a0b5b2c7b0b8f0b0b0b0b0b0b0";
    t.file(
        iso,
        "EPEL-9-x86_64-CHECKSUM",
        format!(
            "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n# EPEL-9-x86_64.iso: 8 bytes\n\
             SHA256 (EPEL-9-x86_64.iso) = {img_sha256}\nSHA256 (missing.iso) = {img_sha256}\n\
             -----BEGIN PGP SIGNATURE-----\nxyz\n-----END PGP SIGNATURE-----\n"
        )
        .as_bytes(),
    );
    t.file(
        iso,
        "MD5SUM",
        format!("{img_md5} *EPEL-9-x86_64.iso\n").as_bytes(),
    );
    let r = run(&db, &settings, epel_at(hours(300))).await;
    assert_eq!(r.categories[0].checksum_files, 2, "{r}");
    let mtime = std::fs::metadata(&image).unwrap();
    let mtime = {
        use std::os::unix::fs::MetadataExt;
        mtime.mtime()
    };
    let h = history(&db, &e(iso), "EPEL-9-x86_64.iso").await;
    assert_eq!(
        h,
        [(mtime, 8, Some(img_sha256.clone()), "checksum_file".into())]
    );
    let md5: Option<String> = with_pool!(db, p => sqlx::query_scalar(
        "SELECT md5 FROM file_detail WHERE filename = 'EPEL-9-x86_64.iso'").fetch_one(p).await)
    .unwrap();
    assert_eq!(md5.as_deref(), Some(img_md5));
    assert!(history(&db, &e(iso), "missing.iso").await.is_empty());
}
both!(file_detail_history_and_aging);

/// A repository made by the real createrepo_c: the content timestamp is the largest
/// `<timestamp>` of its `<data>` entries (what dnf and MirrorManager2 compare).
async fn createrepo_c_repository(db: Database) {
    if !tool("createrepo_c") {
        return;
    }
    setup(&db).await;
    let site = Site::new();
    let os = site.fedora.dir("releases/40/Everything/x86_64/os");
    let status = std::process::Command::new("createrepo_c")
        .args(["--quiet", "--no-database", "--revision", "1713185000"])
        .arg("--set-timestamp-to-revision")
        .arg(&os)
        .status()
        .unwrap();
    assert!(status.success());
    let repomd = std::fs::read_to_string(os.join("repodata/repomd.xml")).unwrap();
    run(&db, &site.settings(), only("Fedora Linux")).await;
    let h = history(
        &db,
        &f("releases/40/Everything/x86_64/os/repodata"),
        "repomd.xml",
    )
    .await;
    assert_eq!(
        h,
        [(
            1_713_185_000,
            repomd.len() as i64,
            Some(sha256(&repomd)),
            "scanner".into()
        )]
    );
    assert!(repos(&db).await.contains(&repo(
        "fedora-40",
        "x86_64",
        &f("releases/40/Everything/x86_64/os")
    )));
}
both!(createrepo_c_repository);

/// Whether `name` runs; missing is a FAIL under `CI=true`, a loud SKIP otherwise.
fn tool(name: &str) -> bool {
    let found = std::process::Command::new(name)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{name} is required under CI=true (ops/dev-setup.sh installs it)");
        }
        eprintln!("\n*** SKIP: {name} not installed\n");
    }
    found
}

// ---------------------------------------------------------------------------------------------
// Incremental rescans, --full, list files
// ---------------------------------------------------------------------------------------------

async fn incremental_rescans(db: Database) {
    setup(&db).await;
    let site = Site::new();
    fedora_tree(&site.fedora);
    let settings = site.settings();
    next_second();
    let first = run(&db, &settings, only("Fedora Linux")).await;
    let c = &first.categories[0];
    // 23 repomd.xml and one ostree summary.
    let repodata = 24;
    assert_eq!(c.listed, c.seen, "a first scan lists every directory");
    assert_eq!(c.hashed, repodata, "{c}");
    let g = generation(&db).await;

    // Nothing changed: one stat per directory (and one per repomd.xml), nothing listed,
    // nothing hashed, nothing written.
    let second = run(&db, &settings, only("Fedora Linux")).await;
    let c2 = &second.categories[0];
    assert_eq!(c2.seen, c.seen);
    assert_eq!((c2.listed, c2.hashed), (0, 0), "{c2}");
    assert_eq!(c2.stats, c2.seen - 1 + repodata, "{c2}");
    assert_eq!(
        (c2.created, c2.changed, c2.deleted, c2.details_added),
        (0, 0, 0, 0)
    );
    assert_eq!(generation(&db).await, g);

    // One repomd.xml replaced: its directory is listed and its file hashed, nothing else.
    next_second();
    site.fedora
        .update_repomd("updates/40/Everything/x86_64", 1_800_000_000);
    let third = run(&db, &settings, only("Fedora Linux")).await;
    let c3 = &third.categories[0];
    assert_eq!((c3.listed, c3.hashed, c3.details_added), (1, 1, 1), "{c3}");
    assert_eq!(generation(&db).await, g + 1);

    // --full lists and hashes everything again, and finds nothing new.
    let full = run(
        &db,
        &settings,
        ScanOptions {
            full: true,
            ..only("Fedora Linux")
        },
    )
    .await;
    let c4 = &full.categories[0];
    assert_eq!((c4.listed, c4.hashed), (c.seen, repodata), "{c4}");
    assert_eq!(c4.details_added, 0);
    assert_eq!(generation(&db).await, g + 1);

    // The scan runs are recorded, each with its summary.
    let runs: Vec<(String, String, bool)> = with_pool!(db, p => sqlx::query_as(
        "SELECT status, triggered_by, full_scan FROM scan_run ORDER BY id").fetch_all(p).await)
    .unwrap();
    assert_eq!(runs.len(), 4);
    assert!(runs.iter().all(|r| r.0 == "ok" && r.1 == "cli"));
    assert!(runs[3].2);
}
both!(incremental_rescans);

async fn list_files(db: Database) {
    setup(&db).await;
    let site = Site::new();
    fedora_tree(&site.fedora);
    site.epel.repo("9/Everything/x86_64", 42);
    next_second();
    // One list for both categories, as Fedora's master has one per module; its paths are
    // relative to srv/pub.
    let list = site.dir.path().join("fullfiletimelist");
    let base = site.srv().join("pub");
    write_list(&base, &list);
    let entry = format!(
        "list_file = {:?}\nlist_base = {:?}",
        list.display().to_string(),
        base.display().to_string()
    );
    let settings = site.settings_with(&entry, "");
    let r = run(&db, &settings, only("Fedora Linux")).await;
    let c = &r.categories[0];
    assert_eq!(c.source, TreeSource::List, "{c}");
    assert_eq!(c.created_repos.len(), 20, "{c}");
    assert!(
        !dirs(&db)
            .await
            .keys()
            .any(|d| d.starts_with(EPEL) && d != EPEL),
        "EPEL's entries are not Fedora's"
    );
    // The same list again: nothing to do.
    let r = run(&db, &settings, only("Fedora Linux")).await;
    assert_eq!(r.categories[0].status, Status::Unchanged, "{r}");
    // A new list naming a new repomd.xml: only what changed is read.
    next_second();
    site.fedora
        .update_repomd("updates/40/Everything/x86_64", 1_800_000_000);
    write_list(&base, &list);
    let r = run(&db, &settings, only("Fedora Linux")).await;
    let c = &r.categories[0];
    assert_eq!(
        (c.source, c.hashed, c.details_added),
        (TreeSource::List, 1, 1),
        "{c}"
    );
    // A list with too many bad lines is not used: the tree is walked instead.
    let text = std::fs::read_to_string(&list).unwrap();
    let broken = text
        .replace("\td\t", "\td\tx\t")
        .replace("\tf\t", "\tf\tx\t");
    std::fs::write(&list, broken).unwrap();
    let r = run(&db, &settings, only("Fedora Linux")).await;
    let c = &r.categories[0];
    assert_eq!(c.source, TreeSource::Walk, "{c}");
    assert!(
        c.errors.iter().any(|e| e.contains("list file not used")),
        "{c}"
    );
    // An empty list is an error, not an empty tree.
    std::fs::write(&list, "").unwrap();
    let r = scan(&db, &settings, &only("Fedora Linux"), &mut |_| {})
        .await
        .unwrap();
    assert_eq!(r.categories[0].status, Status::Failed);
    assert!(r.categories[0].errors[0].contains("is empty"), "{r}");
}
both!(list_files);

// ---------------------------------------------------------------------------------------------
// Dry run, generation, lock
// ---------------------------------------------------------------------------------------------

async fn dry_run_writes_nothing(db: Database) {
    setup(&db).await;
    let site = Site::new();
    fedora_tree(&site.fedora);
    let before = dirs(&db).await;
    let g = generation(&db).await;
    let r = run(
        &db,
        &site.settings(),
        ScanOptions {
            dry_run: true,
            ..only("Fedora Linux")
        },
    )
    .await;
    assert!(r.dry_run);
    assert!(r.categories[0].created > 30, "{r}");
    assert_eq!(r.categories[0].created_repos.len(), 20);
    assert_eq!(r.generation_after, g + 1, "would be bumped");
    assert!(
        r.to_string()
            .contains(&format!("generation {g} would be {}", g + 1)),
        "{r}"
    );
    assert_eq!(dirs(&db).await, before);
    assert_eq!(generation(&db).await, g);
    assert!(repos(&db).await.is_empty());
    let runs: i64 =
        with_pool!(db, p => sqlx::query_scalar("SELECT count(*) FROM scan_run").fetch_one(p).await)
            .unwrap();
    assert_eq!(runs, 0, "a dry run records no run");
}
both!(dry_run_writes_nothing);

async fn generation_bumps_per_batch(db: Database) {
    setup(&db).await;
    let site = Site::new();
    // 3,000 directories: 6,000 rows with their category links, two batches of at most 5,000.
    for i in 0..3_000 {
        site.epel.dir(&format!("bulk/{:02}/{i}", i % 50));
    }
    let g = generation(&db).await;
    let r = run(&db, &site.settings(), only("Fedora EPEL")).await;
    assert_eq!(r.categories[0].created, 3_051);
    assert_eq!(r.generation_after - r.generation_before, 2, "{r}");
    assert_eq!(generation(&db).await, g + 2);
    // A change the snapshot does not carry (readability) bumps nothing.
    next_second();
    site.epel.chmod("bulk/07", 0o750);
    let r = run(&db, &site.settings(), only("Fedora EPEL")).await;
    assert_eq!(
        r.categories[0].changed,
        1 + 60,
        "bulk/07 and its 60 directories: {r}"
    );
    assert_eq!(generation(&db).await, g + 2);
    site.epel.chmod("bulk/07", 0o755);
}
both!(generation_bumps_per_batch);

async fn scans_exclude_each_other(db: Database) {
    setup(&db).await;
    let site = Site::new();
    site.epel.repo("9/Everything/x86_64", 1);
    let settings = site.settings();
    let id: String = with_pool!(db, p => sqlx::query_scalar("SELECT installation_id FROM meta").fetch_one(p).await).unwrap();
    let held = JobLock::acquire_job(
        &SCAN_JOB,
        &db,
        &settings.data_dir,
        &id,
        Duration::from_secs(5),
        &mut |_| {},
    )
    .await
    .unwrap();
    let busy = scan(
        &db,
        &settings,
        &ScanOptions {
            lock_timeout: Duration::from_millis(200),
            ..only("Fedora EPEL")
        },
        &mut |_| {},
    )
    .await
    .unwrap_err();
    assert!(matches!(busy, ScanError::Busy(_)), "{busy}");
    assert!(
        busy.to_string().contains("the scanner lock is held by"),
        "{busy}"
    );
    // A dry run needs no lock.
    run(
        &db,
        &settings,
        ScanOptions {
            dry_run: true,
            ..only("Fedora EPEL")
        },
    )
    .await;
    held.release().await;
    run(&db, &settings, only("Fedora EPEL")).await;
}
both!(scans_exclude_each_other);

// ---------------------------------------------------------------------------------------------
// The scheduled scan inside serve
// ---------------------------------------------------------------------------------------------

async fn serve_scans_and_publishes(db: Database) {
    use mirrorfleet_control::edges::EdgeSettings;
    use mirrorfleet_control::maintenance::expiry::ExpirySettings;
    use mirrorfleet_control::publish::{PublishConfig, Publisher, StoreHandle};
    use mirrorfleet_control::serve::{ServeSettings, Timings, start};
    use std::sync::Arc;

    setup(&db).await;
    let site = Site::new();
    site.epel.repo("9/Everything/x86_64", 1_732_500_000);
    site.fedora
        .repo("releases/40/Everything/x86_64/os", 1_713_185_000);
    let mut settings = site.settings();
    settings.interval = Duration::from_millis(300);
    let store = site.dir.path().join("store");
    let publisher = Publisher {
        db: db.clone(),
        store: StoreHandle::local(&store).unwrap(),
        config: PublishConfig {
            data_dir: site.dir.path().join("data"),
            lock_timeout: Duration::from_secs(30),
            ..PublishConfig::default()
        },
    };
    let running = start(
        ServeSettings {
            listen: "127.0.0.1:0".parse().unwrap(),
            metrics_allow: Vec::new(),
            timings: Timings {
                debounce: Duration::from_millis(50),
                max_delay: Duration::from_millis(500),
                min_gap: Duration::from_millis(100),
                interval: Duration::from_secs(3600),
                poll_generation: Duration::from_millis(20),
            },
            edges: EdgeSettings::default(),
            expiry: ExpirySettings::default(),
            scan: Some(Arc::new(settings)),
        },
        publisher,
    )
    .await
    .unwrap();
    // Scheduled scans run (at start, then every 300 ms), and the publisher follows the
    // generation they bump: the manifest ends up naming a snapshot with epel-9.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let runs: i64 = with_pool!(db, p => sqlx::query_scalar(
            "SELECT count(*) FROM scan_run WHERE triggered_by = 'schedule' AND status = 'ok'")
            .fetch_one(p).await)
        .unwrap();
        let published = std::fs::read(store.join("manifest.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .and_then(|m| m["snapshot"]["source_generation"].as_i64());
        if runs >= 2 && published == Some(generation(&db).await) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "runs {runs}, published {published:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        repos(&db)
            .await
            .contains(&repo("epel-9", "x86_64", &e("9/Everything/x86_64")))
    );
    running.stop().await.unwrap();
}
both!(serve_scans_and_publishes);

// ---------------------------------------------------------------------------------------------
// The commands
// ---------------------------------------------------------------------------------------------

fn cli_in(dir: &Path, url: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_mirrorfleet"))
        .args(args)
        .current_dir(dir)
        .env("MIRRORFLEET__DATABASE__URL", url)
        .env_remove("MIRRORFLEET_CONFIG")
        .output()
        .expect("run mirrorfleet")
}

async fn commands(url: String) {
    let site = Site::new();
    fedora_tree(&site.fedora);
    site.epel.repo("9/Everything/x86_64", 1_732_500_000);
    next_second();
    site.settings(); // writes mirrorfleet.toml
    let dir = site.dir.path();
    let inv = dir.join("inventory.json");
    std::fs::write(&inv, serde_json::to_vec(&inventory()).unwrap()).unwrap();
    let ok = |args: &[&str]| {
        let o = cli_in(dir, &url, args);
        assert!(o.status.success(), "{args:?}: {}", output_text(&o));
        output_text(&o)
    };
    ok(&["init"]);
    ok(&["import", "inventory", inv.to_str().unwrap()]);
    let dry = ok(&["scan", "--dry-run", "--category", "fedora linux"]);
    assert!(dry.contains("Fedora Linux: "), "{dry}");
    assert!(
        dry.contains("created: fedora-40/x86_64 releases/40/Everything/x86_64/os (rule 3)"),
        "{dry}"
    );
    assert!(dry.contains("dry run: nothing was written"), "{dry}");
    let out = ok(&["scan"]);
    assert!(out.contains("repositories: 20 created"), "{out}");
    assert!(out.contains("Fedora EPEL: "), "{out}");
    assert!(
        out.contains("a running `mirrorfleet serve` publishes the change"),
        "{out}"
    );
    let again = ok(&["scan"]);
    assert!(again.contains("0 listed"), "{again}");

    // Usage errors: exit 2.
    let o = cli_in(dir, &url, &["scan", "--category", "Nope"]);
    assert_eq!(o.status.code(), Some(2), "{}", output_text(&o));
    assert!(output_text(&o).contains("no [[scanner.master]] entry for category \"Nope\""));
    std::fs::write(
        dir.join("mirrorfleet.toml"),
        "[[scanner.master]]\ncategory = \"Fedora Linux\"\npaht = \"/srv\"\n",
    )
    .unwrap();
    let o = cli_in(dir, &url, &["scan"]);
    assert_eq!(o.status.code(), Some(2), "{}", output_text(&o));
    assert!(
        output_text(&o).contains("scanner.master[0].paht: unknown key"),
        "{}",
        output_text(&o)
    );
    std::fs::remove_file(dir.join("mirrorfleet.toml")).unwrap();
    let o = cli_in(dir, &url, &["scan"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(output_text(&o).contains("no [[scanner.master]] is configured"));

    // repomap test, with a category (its topdir may be given) or a rule set.
    let out = ok(&[
        "repomap",
        "test",
        "--category",
        "Fedora EPEL",
        "pub/epel/next/9/Everything/x86_64",
        "7/SRPMS",
        "test/10/Everything/x86_64",
    ]);
    assert!(
        out.contains(
            "next/9/Everything/x86_64: arch x86_64, version 9, prefix epel-next-9 (rule 3)"
        ),
        "{out}"
    );
    assert!(
        out.contains("7/SRPMS: arch source, version 7, prefix epel-source-7 (rule 9)"),
        "{out}"
    );
    assert!(
        out.contains("test/10/Everything/x86_64: no repository (excluded by rule 1)"),
        "{out}"
    );
    let out = ok(&[
        "repomap",
        "test",
        "--ruleset",
        "fedora",
        "updates/testing/40/Everything/source/tree",
    ]);
    assert!(
        out.contains("prefix updates-testing-source-f40 (rule 13)"),
        "{out}"
    );
    let o = cli_in(dir, &url, &["repomap", "test", "--ruleset", "nope", "x"]);
    assert_eq!(o.status.code(), Some(2));
}

#[tokio::test]
async fn commands_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    commands(format!("sqlite://{}/cli.db", dir.path().display())).await;
}

#[tokio::test]
async fn commands_postgres() {
    let Some(schema) = pg_schema(false).await else {
        return;
    };
    commands(schema.url()).await;
}
