//! The maintenance commands of control-plane.md §9 on SQLite and PostgreSQL, against a
//! Fedora-shaped tree built through the inventory importer: "Fedora Linux" with
//! `development/41/`, `releases/`, `updates/`; "Fedora Secondary Arches"; "Fedora Codecs";
//! and the archive category "Fedora Archive" (topdir `pub/archive`). Each operation's changes,
//! its dry run (nothing written: the exported inventory, table counts, generation and audit
//! log compared before and after), every skip reason, `move-to-archive`'s all-or-nothing
//! failure, the audit rows and the generation bumps; the daily expiry inside `serve`; then
//! the binary's output and exit statuses (publishing after the commit, "saved, not published"
//! on hold).
//!
//! PostgreSQL: `MIRRORFLEET_TEST_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/test`
//! (unreachable: FAIL under `CI=true`, a SKIP line otherwise).

use std::time::Duration;

use mirrorfleet_control::db::Database;
use mirrorfleet_control::derive_db::{DeriveOptions, derive_snapshot};
use mirrorfleet_control::export::export_inventory;
use mirrorfleet_control::inventory::parse_inventory;
use mirrorfleet_control::maintenance::archive::{ArchiveArgs, Selection, move_to_archive};
use mirrorfleet_control::maintenance::expire_repo::emergency_expire_repo;
use mirrorfleet_control::maintenance::expiry::{
    ExpirySettings, HousekeepingLimits, StatsLimits, expire_housekeeping, expire_stats,
};
use mirrorfleet_control::maintenance::product::{Master, NewProduct, add_product, check};
use mirrorfleet_control::maintenance::release::move_devel_to_release;
use mirrorfleet_control::maintenance::{Change, MaintenanceError, Report};
use mirrorfleet_control::scan::repomap::RuleSets;
use mirrorfleet_control::store::import::{import_inventory, init};
use mirrorfleet_control::with_pool;
use serde_json::{Value, json};
use time::OffsetDateTime;

mod support;
use support::*;

/// Runs `check(&db)` on a fresh SQLite database and on a fresh PostgreSQL schema.
macro_rules! on_both_backends {
    ($check:ident) => {
        mod $check {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let t = super::support::sqlite_db().await;
                super::$check(&t.db).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(t) = super::support::postgres_db().await {
                    super::$check(&t.db).await;
                }
            }
        }
    };
}

const ACTOR: &str = "cli:release-engineer";
const LINUX: &str = "pub/fedora/linux";
const ARCHIVE: &str = "pub/archive";

/// `digits` hex digits of SHA-256(`seed`): distinct, deterministic digests for the fixtures.
fn digest(seed: &str, digits: usize) -> String {
    use sha2::{Digest, Sha256};
    let mut hex = hex::encode(Sha256::digest(seed.as_bytes()));
    hex.truncate(digits);
    hex
}

/// A file version (an inventory history entry) with a sha256 made from `seed`.
fn version(timestamp: i64, seed: &str) -> Value {
    json!({"timestamp": timestamp, "size": 4000 + timestamp % 1000, "sha256": digest(seed, 64)})
}

/// A repository entry of the inventory.
fn repo(
    prefix: Option<&str>,
    arch: &str,
    category: &str,
    version: Option<&str>,
    dir: &str,
) -> Value {
    let mut r = json!({"prefix": prefix, "arch": arch, "category": category, "dir": dir});
    if let Some(v) = version {
        r["version"] = json!(v);
    }
    r
}

/// The Fedora-shaped inventory every test starts from (see the module documentation).
fn fedora_inventory() -> Value {
    let linux = "Fedora Linux";
    let archive = "Fedora Archive";
    let mut repositories = vec![
        // ---- 41, branched: still served from development/41/
        repo(
            Some("fedora-41"),
            "x86_64",
            linux,
            Some("41"),
            "development/41/Everything/x86_64/os",
        ),
        // The scanner gave it the wrong version; the move sets 41.
        repo(
            Some("fedora-41"),
            "aarch64",
            linux,
            Some("development"),
            "development/41/Everything/aarch64/os",
        ),
        repo(
            Some("fedora-source-41"),
            "source",
            linux,
            None,
            "development/41/Everything/source/tree",
        ),
        repo(
            Some("fedora-debug-41"),
            "x86_64",
            linux,
            Some("41"),
            "development/41/Everything/x86_64/debug/tree",
        ),
        repo(
            Some("rawhide"),
            "x86_64",
            linux,
            Some("development"),
            "development/rawhide/Everything/x86_64/os",
        ),
        repo(
            Some("updates-testing-f41"),
            "x86_64",
            linux,
            Some("41"),
            "updates/testing/41/Everything/x86_64",
        ),
        // In the release tree already: an unmapped one the scanner made (D10: free) and one
        // an administrator mapped by hand (taken).
        repo(
            None,
            "aarch64",
            linux,
            Some("41"),
            "releases/41/Everything/aarch64/os",
        ),
        repo(
            Some("fedora-debug-41-rc"),
            "x86_64",
            linux,
            Some("41"),
            "releases/41/Everything/x86_64/debug/tree",
        ),
        repo(
            Some("fedora-41"),
            "s390x",
            "Fedora Secondary Arches",
            Some("41"),
            "development/41/Everything/s390x/os",
        ),
        // ---- 40, current
        repo(
            Some("fedora-40"),
            "x86_64",
            linux,
            Some("40"),
            "releases/40/Everything/x86_64/os",
        ),
        repo(
            Some("updates-released-f40"),
            "x86_64",
            linux,
            Some("40"),
            "updates/40/Everything/x86_64",
        ),
        repo(
            Some("updates-released-debug-f40"),
            "x86_64",
            linux,
            Some("40"),
            "updates/40/Everything/x86_64/debug",
        ),
        repo(
            Some("updates-testing-f40"),
            "x86_64",
            linux,
            Some("40"),
            "updates/testing/40/Everything/x86_64",
        ),
        // ---- 39 and 38, end of life
        repo(
            Some("fedora-39"),
            "x86_64",
            linux,
            Some("39"),
            "releases/39/Everything/x86_64/os",
        ),
        repo(
            Some("fedora-39"),
            "aarch64",
            linux,
            Some("39"),
            "releases/39/Everything/aarch64/os",
        ),
        repo(
            Some("fedora-38"),
            "x86_64",
            linux,
            Some("38"),
            "releases/38/Everything/x86_64/os",
        ),
        repo(
            Some("fedora-38"),
            "aarch64",
            linux,
            Some("38"),
            "releases/38/Everything/aarch64/os",
        ),
        repo(
            Some("updates-released-f38"),
            "x86_64",
            linux,
            Some("38"),
            "updates/38/Everything/x86_64",
        ),
        repo(
            Some("updates-released-f38"),
            "aarch64",
            linux,
            Some("38"),
            "updates/38/Everything/aarch64",
        ),
        repo(
            Some("updates-released-debug-f38"),
            "x86_64",
            linux,
            Some("38"),
            "updates/38/Everything/x86_64/debug",
        ),
        repo(
            Some("updates-testing-f38"),
            "x86_64",
            linux,
            Some("38"),
            "updates/testing/38/Everything/x86_64",
        ),
        repo(
            Some("updates-testing-debug-f38"),
            "x86_64",
            linux,
            Some("38"),
            "updates/testing/38/Everything/x86_64/debug",
        ),
        repo(
            Some("fedora-cisco-openh264-38"),
            "x86_64",
            "Fedora Codecs",
            Some("38"),
            "38/x86_64/os",
        ),
        repo(
            Some("fedora-source-38"),
            "source",
            archive,
            Some("38"),
            "fedora/linux/releases/38/Everything/source/tree",
        ),
        repo(
            Some("updates-released-debug-f38-archived"),
            "x86_64",
            archive,
            Some("38"),
            "fedora/linux/updates/38/Everything/x86_64/debug",
        ),
    ];
    let history = |prefix: &str, n: i64| -> Vec<Value> {
        (0..n)
            .map(|i| version(1_713_000_000 + 86_400 * i, &format!("{prefix}-{i}")))
            .collect()
    };
    for r in &mut repositories {
        let key = format!(
            "{}-{}",
            r["prefix"].as_str().unwrap_or("unmapped"),
            r["arch"].as_str().unwrap()
        );
        let n = match key.as_str() {
            "updates-released-f40-x86_64" => 3,
            "fedora-40-x86_64" | "updates-released-debug-f40-x86_64" | "fedora-41-x86_64" => 2,
            _ => 1,
        };
        r["repomd"] = json!(history(&key, n));
    }
    json!({
        "format": "mirrorfleet-inventory",
        "format_version": 1,
        "products": [
            {"name": "Fedora", "versions": ["38", "39", "40", "41", "development"]}
        ],
        "arches": ["x86_64", "aarch64", "s390x", "source"],
        "categories": [
            {"name": linux, "product": "Fedora", "topdir": LINUX, "repomap": "fedora",
             "directories": [
                 "releases/41/Everything/x86_64/os",
                 "releases/41/Everything/x86_64/os/repodata",
                 "releases/41/Everything/aarch64/os/repodata",
             ]},
            {"name": "Fedora Secondary Arches", "product": "Fedora", "topdir": "pub/fedora-secondary",
             "repomap": "fedora"},
            {"name": "Fedora Codecs", "product": "Fedora", "topdir": "openh264",
             "repomap": "fedora-codecs"},
            // The archive as scanned so far: the aarch64 trees of 38 are not there yet.
            {"name": archive, "product": "Fedora", "topdir": ARCHIVE, "repomap": "fedora",
             "directories": [
                 "fedora/linux/releases/39/Everything/x86_64/os/repodata",
                 "fedora/linux/releases/39/Everything/aarch64/os/repodata",
                 "fedora/linux/releases/38/Everything/x86_64/os/repodata",
                 "fedora/linux/updates/38/Everything/x86_64/repodata",
                 "fedora/linux/updates/testing/38/Everything/x86_64/repodata",
             ]},
        ],
        "repositories": repositories,
        "files": [
            {"category": linux, "dir": "releases/40/Everything/x86_64/os/images/pxeboot",
             "name": "vmlinuz", "history": [version(1_713_100_000, "vmlinuz-1"), version(1_713_000_000, "vmlinuz-0")]},
            // A sibling whose name starts like a repository directory: not below it.
            {"category": linux, "dir": "releases/40/Everything/x86_64/os-old",
             "name": "CHECKSUM", "history": [version(1_713_100_000, "old-1"), version(1_713_000_000, "old-0")]},
        ],
        "sites": [
            {"name": "Fedora Project", "hosts": [
                {"name": "dl.fedoraproject.org", "country": "US", "bandwidth": 10000,
                 "categories": {
                     linux: {"urls": ["https://dl.fedoraproject.org/pub/fedora/linux"], "always_up2date": true},
                     archive: {"urls": ["https://dl.fedoraproject.org/pub/archive"], "always_up2date": true}
                 }}
            ]},
            {"name": "Example University", "hosts": [
                {"name": "mirror.example.edu", "country": "SE", "bandwidth": 1000,
                 "categories": {
                     linux: {"urls": ["https://mirror.example.edu/fedora/linux"], "up2date": ["**"]},
                     archive: {"urls": ["https://mirror.example.edu/archive"], "up2date": ["**"]}
                 }}
            ]}
        ]
    })
}

/// `init`, the import, then what an inventory cannot say: the unmapped repository in
/// `releases/41/…/aarch64/os` was made by the scanner; `updates/testing/38` and
/// `updates/testing/40` were removed from the master (their repositories orphaned, keeping
/// their last directory names), and the debug one below the first lost even that.
async fn populate(db: &Database) {
    init(db, Some(*b"0123456789abcdef")).await.expect("init");
    let text = serde_json::to_string_pretty(&fedora_inventory()).unwrap();
    let (inv, _) = parse_inventory("fedora.json", &text).expect("inventory parses");
    import_inventory(db, &inv, false).await.expect("import");
    for sql in [
        "UPDATE repository SET origin = 'scanner' WHERE prefix IS NULL",
        "DELETE FROM directory WHERE name LIKE 'pub/fedora/linux/updates/testing/38/%' \
         OR name LIKE 'pub/fedora/linux/updates/testing/40/%'",
        "UPDATE repository SET last_directory_name = NULL WHERE prefix = 'updates-testing-debug-f38'",
    ] {
        db.execute(sql).await.unwrap();
    }
}

async fn generation(db: &Database) -> i64 {
    with_pool!(db, p => sqlx::query_scalar::<_, i64>(
        "SELECT CAST(generation AS BIGINT) FROM meta WHERE id = 1").fetch_one(p).await)
    .unwrap()
}

/// (actor, action, object_type, object_id, changes, generation_after), oldest first.
type AuditRow = (String, String, String, Option<String>, Value, Option<i64>);

async fn audit(db: &Database) -> Vec<AuditRow> {
    with_pool!(db, p => sqlx::query_as::<_, AuditRow>(
        "SELECT actor, action, object_type, object_id, changes, \
         CAST(generation_after AS BIGINT) FROM audit_event ORDER BY id")
        .fetch_all(p).await)
    .unwrap()
}

/// Everything a dry run must leave alone: the exported inventory, the row count of every
/// table the operations touch, the generation and the audit log.
async fn state(db: &Database) -> (String, Vec<i64>, i64, usize) {
    let export = export_inventory(db).await.expect("export");
    let mut counts = Vec::new();
    for table in [
        "product",
        "version",
        "category",
        "directory",
        "category_directory",
        "repository",
        "file_detail",
        "host_category",
        "host_category_url",
        "access_stat",
        "countme_stat",
        "propagation_stat",
        "propagation_host",
        "sessions",
        "password_reset",
    ] {
        let sql = format!("SELECT count(*) FROM {table}");
        counts.push(
            with_pool!(db, p => sqlx::query_scalar::<_, i64>(&sql).fetch_one(p).await).unwrap(),
        );
    }
    let crawl_logs: i64 = with_pool!(db, p => sqlx::query_scalar(
        "SELECT count(*) FROM host_crawl WHERE log IS NOT NULL").fetch_one(p).await)
    .unwrap();
    counts.push(crawl_logs);
    // Repository rows the export cannot tell apart (unmapped, orphaned) in full.
    type RepoRow = (i64, Option<i64>, Option<String>, i64, Option<i64>);
    let repos: Vec<RepoRow> = with_pool!(db, p =>
        sqlx::query_as("SELECT id, directory_id, last_directory_name, category_id, version_id \
                        FROM repository ORDER BY id").fetch_all(p).await)
    .unwrap();
    let export = format!("{export}\n{repos:?}");
    (export, counts, generation(db).await, audit(db).await.len())
}

/// (directory, category, version) of the repository `prefix`/`arch`.
async fn repo_row(
    db: &Database,
    prefix: &str,
    arch: &str,
) -> (Option<String>, String, Option<String>) {
    with_pool!(db, p => sqlx::query_as::<_, (Option<String>, String, Option<String>)>(
        "SELECT d.name, c.name, v.name FROM repository r \
         JOIN arch a ON a.id = r.arch_id JOIN category c ON c.id = r.category_id \
         LEFT JOIN directory d ON d.id = r.directory_id \
         LEFT JOIN version v ON v.id = r.version_id \
         WHERE r.prefix = $1 AND a.name = $2")
        .bind(prefix).bind(arch).fetch_one(p).await)
    .unwrap()
}

fn lines(report: &Report) -> Vec<String> {
    report.to_string().lines().map(str::to_string).collect()
}

#[track_caller]
fn has_line(report: &Report, line: &str) {
    assert!(
        lines(report).iter().any(|l| l == line),
        "no line {line:?} in:\n{report}"
    );
}

fn skips(report: &Report) -> Vec<(String, String)> {
    report
        .skips
        .iter()
        .map(|s| (s.key.clone(), s.reason.clone()))
        .collect()
}

fn linux(rel: &str) -> String {
    format!("{LINUX}/{rel}")
}

fn archive(rel: &str) -> String {
    format!("{ARCHIVE}/fedora/linux/{rel}")
}

// ---------------------------------------------------------------------------------------------
// move-devel-to-release
// ---------------------------------------------------------------------------------------------

async fn devel_to_release(db: &Database) {
    populate(db).await;
    let before = state(db).await;
    let g0 = before.2;

    // Unknown names: nothing read further, nothing written.
    let e = move_devel_to_release(db, "Fedora Linx", "41", false, ACTOR)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, MaintenanceError::NotFound(m) if m == "no category named \"Fedora Linx\""),
        "{e}"
    );
    assert_eq!(e.exit_status(), 2);
    let e = move_devel_to_release(db, "Fedora Linux", "42", false, ACTOR)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, MaintenanceError::NotFound(m) if m == "product \"Fedora\" has no version \"42\""),
        "{e}"
    );

    // The dry run: every change and skip, nothing written.
    let dry = move_devel_to_release(db, "fedora linux", "41", true, ACTOR)
        .await
        .expect("dry run");
    assert!(dry.dry_run);
    assert_eq!(state(db).await, before, "a dry run writes nothing");
    assert_eq!((dry.generation_before, dry.generation_after), (g0, g0 + 1));

    let r = move_devel_to_release(db, "Fedora Linux", "41", false, ACTOR)
        .await
        .expect("move");
    assert_eq!(
        (r.changes.clone(), r.skips.clone()),
        (dry.changes.clone(), dry.skips.clone()),
        "the dry run said what the run did"
    );
    has_line(
        &r,
        &format!(
            "~ repository fedora-41/x86_64: directory {} → {}",
            linux("development/41/Everything/x86_64/os"),
            linux("releases/41/Everything/x86_64/os")
        ),
    );
    // The scanner's unmapped repository in the target is deleted (D10), then the move.
    let unmapped = r.changes.iter().find_map(|c| match c {
        Change::Delete {
            kind: "repository",
            key,
        } => Some(key.clone()),
        _ => None,
    });
    let unmapped = unmapped.expect("the unmapped repository is deleted");
    assert!(
        unmapped.contains("(unmapped, aarch64) in pub/fedora/linux/releases/41/Everything/aarch64/os (free target of fedora-41/aarch64)"),
        "{unmapped}"
    );
    has_line(
        &r,
        "~ repository fedora-41/aarch64: version development → 41",
    );
    assert_eq!(
        skips(&r),
        vec![
            (
                "fedora-debug-41/x86_64".to_string(),
                format!(
                    "target already has repository fedora-debug-41-rc/x86_64: {}",
                    linux("releases/41/Everything/x86_64/debug/tree")
                )
            ),
            (
                "fedora-source-41/source".to_string(),
                format!(
                    "target missing: {}",
                    linux("releases/41/Everything/source/tree")
                )
            ),
        ]
    );
    has_line(&r, "repository: 0 created, 2 updated, 1 deleted");
    has_line(&r, "2 skipped");
    has_line(&r, &format!("generation {g0} → {}", g0 + 1));
    assert_eq!(generation(db).await, g0 + 1);

    // The rows: moved with their prefix, version 41; the others where they were.
    for arch in ["x86_64", "aarch64"] {
        assert_eq!(
            repo_row(db, "fedora-41", arch).await,
            (
                Some(linux(&format!("releases/41/Everything/{arch}/os"))),
                "Fedora Linux".into(),
                Some("41".into())
            )
        );
    }
    assert_eq!(
        repo_row(db, "fedora-41", "s390x").await.0,
        Some("pub/fedora-secondary/development/41/Everything/s390x/os".into()),
        "another category"
    );
    assert_eq!(
        repo_row(db, "rawhide", "x86_64").await.0,
        Some(linux("development/rawhide/Everything/x86_64/os"))
    );
    assert_eq!(
        repo_row(db, "fedora-source-41", "source").await.0,
        Some(linux("development/41/Everything/source/tree"))
    );
    assert_eq!(
        repo_row(db, "fedora-debug-41", "x86_64").await.0,
        Some(linux("development/41/Everything/x86_64/debug/tree"))
    );
    // The repo map the edges get follows.
    let derived = derive_snapshot(db, &DeriveOptions::default())
        .await
        .expect("derive");
    let entry = derived
        .data
        .repositories
        .iter()
        .find(|e| e.prefix == "fedora-41" && e.arch == "aarch64")
        .unwrap();
    assert_eq!(entry.directory, linux("releases/41/Everything/aarch64/os"));

    // Audit: one event per changed repository, with the generation after.
    let events = audit(db).await;
    let actions: Vec<&str> = events.iter().map(|e| e.1.as_str()).collect();
    assert_eq!(
        actions,
        [
            "repository.delete",
            "repository.move_devel_to_release",
            "repository.move_devel_to_release"
        ]
    );
    for e in &events {
        assert_eq!(
            (e.0.as_str(), e.2.as_str(), e.5),
            (ACTOR, "repository", Some(g0 + 1))
        );
    }
    let aarch64 = &events[1].4;
    assert_eq!(
        aarch64["directory"]["new"],
        linux("releases/41/Everything/aarch64/os")
    );
    assert_eq!(
        aarch64["version"],
        json!({"old": "development", "new": "41"})
    );
    assert!(
        events[2].4.get("version").is_none(),
        "x86_64 had version 41 already: {}",
        events[2].4
    );
    assert_eq!(events[0].4["origin"]["old"], "scanner");

    // Again: the moved ones no longer match; the skipped ones skip again; nothing written.
    let again = move_devel_to_release(db, "Fedora Linux", "41", false, ACTOR)
        .await
        .expect("again");
    assert!(again.is_empty(), "{again}");
    assert_eq!(again.skips.len(), 2);
    assert_eq!(generation(db).await, g0 + 1);
    assert_eq!(audit(db).await.len(), 3);
    export_inventory(db).await.expect("still exportable");
}
on_both_backends!(devel_to_release);

// ---------------------------------------------------------------------------------------------
// move-to-archive
// ---------------------------------------------------------------------------------------------

fn by_version<'a>(product: &'a str, version: &'a str, skip: &'a [String]) -> ArchiveArgs<'a> {
    ArchiveArgs {
        selection: Selection::Version { product, version },
        archive_category: "Fedora Archive",
        strip: "pub/",
        skip_categories: skip,
    }
}

/// What a scan of the archive adds: a directory of the archive category.
async fn scan_archive(db: &Database, rel: &str) {
    let name = archive(rel);
    with_pool!(db, p => {
        sqlx::query("INSERT INTO directory (name) VALUES ($1)").bind(&name).execute(p).await.unwrap();
        sqlx::query("INSERT INTO category_directory (category_id, directory_id) \
                     SELECT c.id, d.id FROM category c, directory d \
                     WHERE c.name = 'Fedora Archive' AND d.name = $1")
            .bind(&name).execute(p).await.unwrap();
    });
}

async fn to_archive(db: &Database) {
    populate(db).await;
    let codecs = vec!["Fedora Codecs".to_string()];
    let before = state(db).await;
    let g0 = before.2;

    // Unknown names.
    let e = move_to_archive(db, &by_version("Fedora", "37", &codecs), false, ACTOR)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, MaintenanceError::NotFound(m) if m.contains("has no version \"37\"")),
        "{e}"
    );
    let e = move_to_archive(db, &by_version("Fedoar", "38", &codecs), false, ACTOR)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, MaintenanceError::NotFound(m) if m == "no product named \"Fedoar\""),
        "{e}"
    );
    let mut args = by_version("Fedora", "38", &codecs);
    args.archive_category = "Fedora Attic";
    let e = move_to_archive(db, &args, false, ACTOR).await.unwrap_err();
    assert!(
        matches!(&e, MaintenanceError::NotFound(m) if m.contains("no category named \"Fedora Attic\"")),
        "{e}"
    );
    let mut args = by_version("Fedora", "38", &codecs);
    args.selection = Selection::Repository("fedora-37");
    let e = move_to_archive(db, &args, false, ACTOR).await.unwrap_err();
    assert!(
        matches!(&e, MaintenanceError::NotFound(m) if m == "no repository has the prefix \"fedora-37\""),
        "{e}"
    );

    // All or nothing: two targets are not in the archive yet. Nothing changes (not even the
    // moves whose targets exist), in a dry run as in a real one, and both are named.
    for dry_run in [true, false] {
        let e = move_to_archive(db, &by_version("Fedora", "38", &codecs), dry_run, ACTOR)
            .await
            .unwrap_err();
        let MaintenanceError::TargetsMissing(missing) = &e else {
            panic!("{e}")
        };
        assert_eq!(
            missing,
            &vec![
                archive("releases/38/Everything/aarch64/os"),
                archive("updates/38/Everything/aarch64"),
            ]
        );
        assert_eq!(e.exit_status(), 2);
        let text = e.to_string();
        assert!(
            text.starts_with("2 target directories are missing in the archive; nothing changed"),
            "{text}"
        );
        assert!(
            text.contains(&format!("\n  {}", archive("updates/38/Everything/aarch64"))),
            "{text}"
        );
        assert_eq!(
            state(db).await,
            before,
            "nothing written (dry run {dry_run})"
        );
    }

    // The archive scanned: the dry run, then the run.
    scan_archive(db, "releases/38/Everything/aarch64/os").await;
    scan_archive(db, "updates/38/Everything/aarch64").await;
    let before = state(db).await;
    let dry = move_to_archive(db, &by_version("Fedora", "38", &codecs), true, ACTOR)
        .await
        .expect("dry run");
    assert_eq!(state(db).await, before, "a dry run writes nothing");
    let r = move_to_archive(db, &by_version("Fedora", "38", &codecs), false, ACTOR)
        .await
        .expect("archive");
    assert_eq!((&r.changes, &r.skips), (&dry.changes, &dry.skips));
    has_line(
        &r,
        &format!(
            "~ repository fedora-38/x86_64: directory {} → {}",
            linux("releases/38/Everything/x86_64/os"),
            archive("releases/38/Everything/x86_64/os")
        ),
    );
    has_line(
        &r,
        "~ repository fedora-38/x86_64: category Fedora Linux → Fedora Archive",
    );
    // The orphan goes by its last directory name (D11).
    has_line(
        &r,
        &format!(
            "~ repository updates-testing-f38/x86_64: directory (none; last {}) → {}",
            linux("updates/testing/38/Everything/x86_64"),
            archive("updates/testing/38/Everything/x86_64")
        ),
    );
    assert_eq!(
        skips(&r),
        vec![
            (
                "fedora-cisco-openh264-38/x86_64".to_string(),
                "in a skipped category (\"Fedora Codecs\")".to_string()
            ),
            (
                "fedora-source-38/source".to_string(),
                "already in the archive category \"Fedora Archive\"".to_string()
            ),
            (
                "updates-released-debug-f38/x86_64".to_string(),
                format!(
                    "target already has repository updates-released-debug-f38-archived/x86_64: {}",
                    archive("updates/38/Everything/x86_64/debug")
                )
            ),
            (
                "updates-released-debug-f38-archived/x86_64".to_string(),
                "already in the archive category \"Fedora Archive\"".to_string()
            ),
            (
                "updates-testing-debug-f38/x86_64".to_string(),
                "no directory".to_string()
            ),
        ]
    );
    has_line(&r, "repository: 0 created, 5 updated, 0 deleted");
    assert_eq!(generation(db).await, g0 + 1);
    for (prefix, arch, rel) in [
        ("fedora-38", "x86_64", "releases/38/Everything/x86_64/os"),
        ("fedora-38", "aarch64", "releases/38/Everything/aarch64/os"),
        (
            "updates-released-f38",
            "x86_64",
            "updates/38/Everything/x86_64",
        ),
        (
            "updates-released-f38",
            "aarch64",
            "updates/38/Everything/aarch64",
        ),
        (
            "updates-testing-f38",
            "x86_64",
            "updates/testing/38/Everything/x86_64",
        ),
    ] {
        assert_eq!(
            repo_row(db, prefix, arch).await,
            (
                Some(archive(rel)),
                "Fedora Archive".into(),
                Some("38".into())
            ),
            "{prefix}/{arch}"
        );
    }
    assert_eq!(
        repo_row(db, "fedora-cisco-openh264-38", "x86_64").await.1,
        "Fedora Codecs"
    );
    let events = audit(db).await;
    assert_eq!(events.len(), 5);
    assert!(
        events
            .iter()
            .all(|e| e.1 == "repository.move_to_archive" && e.5 == Some(g0 + 1))
    );
    assert_eq!(
        events[0].4["category"],
        json!({"old": "Fedora Linux", "new": "Fedora Archive"})
    );
    let orphan = events
        .iter()
        .find(|e| e.4["directory"]["old"].is_null())
        .expect("the orphan's event");
    assert_eq!(
        orphan.4["directory"]["new"],
        archive("updates/testing/38/Everything/x86_64")
    );
    // Edges get the archive directories; the inventory can still say it all.
    let derived = derive_snapshot(db, &DeriveOptions::default())
        .await
        .expect("derive");
    let entry = derived
        .data
        .repositories
        .iter()
        .find(|e| e.prefix == "updates-testing-f38")
        .unwrap();
    assert_eq!(
        entry.directory,
        archive("updates/testing/38/Everything/x86_64")
    );
    export_inventory(db).await.expect("still exportable");

    // By prefix, with no skipped category and another strip prefix.
    let none: Vec<String> = Vec::new();
    let args = ArchiveArgs {
        selection: Selection::Repository("fedora-39"),
        archive_category: "fedora archive",
        strip: "pub",
        skip_categories: &none,
    };
    let r = move_to_archive(db, &args, false, ACTOR)
        .await
        .expect("fedora-39");
    has_line(&r, "repository: 0 created, 2 updated, 0 deleted");
    assert_eq!(
        repo_row(db, "fedora-39", "aarch64").await.0,
        Some(archive("releases/39/Everything/aarch64/os"))
    );
    assert_eq!(generation(db).await, g0 + 2);
    // Nothing left to move: no change, no bump.
    let r = move_to_archive(db, &args, false, ACTOR)
        .await
        .expect("again");
    assert!(r.is_empty() && r.skips.len() == 2, "{r}");
    assert_eq!(generation(db).await, g0 + 2);
}
on_both_backends!(to_archive);

// ---------------------------------------------------------------------------------------------
// emergency-expire-repo
// ---------------------------------------------------------------------------------------------

/// The history length of every (directory, file name) with file details, sorted.
async fn histories(db: &Database) -> Vec<(String, String, i64)> {
    with_pool!(db, p => sqlx::query_as::<_, (String, String, i64)>(
        "SELECT d.name, fd.filename, count(*) FROM file_detail fd \
         JOIN directory d ON d.id = fd.directory_id GROUP BY d.name, fd.filename")
        .fetch_all(p).await)
    .map(|mut v| {
        v.sort();
        v
    })
    .unwrap()
}

async fn expire_repo(db: &Database) {
    populate(db).await;
    let before = state(db).await;
    let g0 = before.2;
    let history_before = histories(db).await;
    let count = |h: &[(String, String, i64)], dir: &str, file: &str| {
        h.iter()
            .find(|(d, f, _)| d == &linux(dir) && f == file)
            .map(|x| x.2)
    };
    assert_eq!(
        count(
            &history_before,
            "updates/40/Everything/x86_64/repodata",
            "repomd.xml"
        ),
        Some(3)
    );

    let e = emergency_expire_repo(db, "Fedora", "99", false, ACTOR)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, MaintenanceError::NotFound(m) if m == "product \"Fedora\" has no version \"99\""),
        "{e}"
    );
    let e = emergency_expire_repo(db, "Fedroa", "40", false, ACTOR)
        .await
        .unwrap_err();
    assert!(matches!(&e, MaintenanceError::NotFound(_)), "{e}");

    let dry = emergency_expire_repo(db, "fedora", "40", true, ACTOR)
        .await
        .expect("dry run");
    assert_eq!(state(db).await, before, "a dry run writes nothing");
    let r = emergency_expire_repo(db, "Fedora", "40", false, ACTOR)
        .await
        .expect("expire");
    assert_eq!((&r.changes, &r.skips), (&dry.changes, &dry.skips));
    // 2 of updates-released-f40's 3 versions, 1 of the nested debug repository's 2 (once,
    // though it is below both), 1 of fedora-40's and 1 of the boot image's below it.
    has_line(&r, "file_detail: 0 created, 0 updated, 5 deleted");
    let first = version(1_713_000_000, "updates-released-f40-x86_64-0");
    has_line(
        &r,
        &format!(
            "- file_detail {}/repomd.xml (timestamp 1713000000, size {}, sha256 {})",
            linux("updates/40/Everything/x86_64/repodata"),
            first["size"],
            first["sha256"].as_str().unwrap()
        ),
    );
    assert_eq!(
        skips(&r),
        vec![(
            "updates-testing-f40/x86_64".to_string(),
            "no directory".to_string()
        )]
    );
    assert_eq!(generation(db).await, g0 + 1);

    let after = histories(db).await;
    for (dir, file) in [
        ("updates/40/Everything/x86_64/repodata", "repomd.xml"),
        ("updates/40/Everything/x86_64/debug/repodata", "repomd.xml"),
        ("releases/40/Everything/x86_64/os/repodata", "repomd.xml"),
        ("releases/40/Everything/x86_64/os/images/pxeboot", "vmlinuz"),
    ] {
        assert_eq!(count(&after, dir, file), Some(1), "{dir}/{file}");
    }
    // Another version and a sibling directory keep their alternates.
    assert_eq!(
        count(
            &after,
            "development/41/Everything/x86_64/os/repodata",
            "repomd.xml"
        ),
        Some(2)
    );
    assert_eq!(
        count(&after, "releases/40/Everything/x86_64/os-old", "CHECKSUM"),
        Some(2)
    );
    // The newest is what stays: the snapshot's history for the updates repomd.xml.
    let derived = derive_snapshot(db, &DeriveOptions::default())
        .await
        .expect("derive");
    let dir = derived
        .data
        .directories
        .iter()
        .find(|d| d.name == linux("updates/40/Everything/x86_64/repodata"))
        .unwrap();
    let newest = version(1_713_000_000 + 2 * 86_400, "updates-released-f40-x86_64-2");
    assert_eq!(dir.files[0].versions.len(), 1);
    assert_eq!(
        dir.files[0].versions[0].sha256.as_deref(),
        newest["sha256"].as_str()
    );

    // Audit: one event per repository that lost file details, listing them.
    let events = audit(db).await;
    assert_eq!(events.len(), 3, "{events:?}");
    assert!(
        events
            .iter()
            .all(|e| e.1 == "repository.emergency_expire" && e.5 == Some(g0 + 1))
    );
    let deleted: usize = events
        .iter()
        .map(|e| e.4["file_details"]["old"].as_array().unwrap().len())
        .sum();
    assert_eq!(deleted, 5);

    // Nothing left to expire: no change, no bump.
    let again = emergency_expire_repo(db, "Fedora", "40", false, ACTOR)
        .await
        .expect("again");
    assert!(again.is_empty(), "{again}");
    assert_eq!(generation(db).await, g0 + 1);
}
on_both_backends!(expire_repo);

// ---------------------------------------------------------------------------------------------
// expire-stats and the housekeeping expiries
// ---------------------------------------------------------------------------------------------

fn ago(now: OffsetDateTime, days: i64) -> OffsetDateTime {
    now - time::Duration::days(days) - time::Duration::minutes(1)
}

/// Statistics and operational rows of several ages: ages in days.
async fn fill_stats(db: &Database, now: OffsetDateTime) {
    let repo_id: i64 = with_pool!(db, p => sqlx::query_scalar(
        "SELECT id FROM repository WHERE prefix = 'fedora-40'").fetch_one(p).await)
    .unwrap();
    let host_ids: Vec<i64> = with_pool!(db, p => sqlx::query_scalar(
        "SELECT id FROM host ORDER BY id").fetch_all(p).await)
    .unwrap();
    with_pool!(db, p => {
        for days in [0i64, 10, 29, 31, 45, 400] {
            sqlx::query("INSERT INTO propagation_stat (repository_id, run_at, same_day) VALUES ($1, $2, 3)")
                .bind(repo_id).bind(ago(now, days)).execute(p).await.unwrap();
        }
        for (host, days) in host_ids.iter().zip([2i64, 40]) {
            sqlx::query("INSERT INTO propagation_host (repository_id, host_id, checked_at, state) \
                         VALUES ($1, $2, $3, 'current')")
                .bind(repo_id).bind(*host).bind(ago(now, days)).execute(p).await.unwrap();
        }
        for days in [0i64, 1, 89, 90, 91, 365] {
            for dimension in ["country", "repo"] {
                sqlx::query("INSERT INTO access_stat (day, dimension, key, requests) VALUES ($1, $2, 'x', 5)")
                    .bind((now - time::Duration::days(days)).date()).bind(dimension)
                    .execute(p).await.unwrap();
            }
        }
        for weeks in [0i64, 10, 100] {
            sqlx::query("INSERT INTO countme_stat (week, repo, arch, bucket, hits) VALUES ($1, 'fedora-40', 'x86_64', 1, 7)")
                .bind((now - time::Duration::weeks(weeks)).date()).execute(p).await.unwrap();
        }
        // Sessions, reset links and crawl logs.
        let user: i64 = sqlx::query_scalar("INSERT INTO users (username) VALUES ('alice') RETURNING id")
            .fetch_one(p).await.unwrap();
        for (i, (expires, seen)) in [(1i64, 0i64), (-1, 0), (3, 1)].into_iter().enumerate() {
            sqlx::query("INSERT INTO sessions (id_hash, user_id, csrf_secret, last_seen_at, expires_at) \
                         VALUES ($1, $2, 'csrf', $3, $4)")
                .bind(digest(&format!("session{i}"), 64)).bind(user)
                .bind(ago(now, seen)).bind(now + time::Duration::days(expires))
                .execute(p).await.unwrap();
        }
        for (i, expires) in [1i64, -1].into_iter().enumerate() {
            sqlx::query("INSERT INTO password_reset (token_hash, user_id, expires_at) VALUES ($1, $2, $3)")
                .bind(digest(&format!("reset{i}"), 64)).bind(user)
                .bind(now + time::Duration::days(expires)).execute(p).await.unwrap();
        }
        // Host 1: 12 runs, one a day from 30 days ago (the last 10 keep their logs, and the
        // 2 older ones go); host 2: 1 run, 20 days ago (its last: kept).
        let run: i64 = sqlx::query_scalar("INSERT INTO crawl_run (mode, status) VALUES ('full', 'ok') RETURNING id")
            .fetch_one(p).await.unwrap();
        for (host, days) in (0..12).map(|i| (host_ids[0], 30 - i)).chain([(host_ids[1], 20)]) {
            sqlx::query("INSERT INTO host_crawl (crawl_run_id, host_id, started_at, status, log, log_encoding) \
                         VALUES ($1, $2, $3, 'ok', $4, 'identity')")
                .bind(run).bind(host).bind(ago(now, days)).bind(b"12:00:00.000 INFO ok".to_vec())
                .execute(p).await.unwrap();
        }
    });
}

async fn table_count(db: &Database, sql: &str) -> i64 {
    with_pool!(db, p => sqlx::query_scalar::<_, i64>(sql).fetch_one(p).await).unwrap()
}

async fn stats(db: &Database) {
    populate(db).await;
    let now = OffsetDateTime::now_utc();
    fill_stats(db, now).await;
    let before = state(db).await;
    let g0 = before.2;

    let dry = expire_stats(db, StatsLimits::default(), now, true, ACTOR)
        .await
        .expect("dry run");
    assert_eq!(state(db).await, before, "a dry run writes nothing");
    let r = expire_stats(db, StatsLimits::default(), now, false, ACTOR)
        .await
        .expect("expire");
    assert_eq!(dry.tables, r.tables);
    // Defaults: propagation 30 days, access 90 days, countme forever.
    assert_eq!(
        (
            r.rows("propagation_stat"),
            r.rows("propagation_host"),
            r.rows("access_stat"),
            r.rows("countme_stat")
        ),
        (3, 1, 4, 0)
    );
    let text = r.to_string();
    assert!(
        text.contains("= countme_stat: kept forever (countme days 0)"),
        "{text}"
    );
    let cutoff = (now - time::Duration::days(90)).date();
    assert!(
        text.contains(&format!("- access_stat: 4 rows (day before {cutoff})")),
        "{text}"
    );
    assert!(text.ends_with("8 rows deleted"), "{text}");
    assert_eq!(
        table_count(db, "SELECT count(*) FROM propagation_stat").await,
        3
    );
    assert_eq!(table_count(db, "SELECT count(*) FROM access_stat").await, 8);
    assert_eq!(
        table_count(db, "SELECT count(*) FROM countme_stat").await,
        3
    );
    // No selection data: no generation bump; one audit event.
    assert_eq!(generation(db).await, g0);
    let events = audit(db).await;
    assert_eq!(events.len(), 1);
    let (actor, action, object_type, object_id, changes, after) = &events[0];
    assert_eq!(
        (
            actor.as_str(),
            action.as_str(),
            object_type.as_str(),
            object_id
        ),
        (ACTOR, "statistics.expire", "statistics", &None)
    );
    assert_eq!(*after, Some(g0));
    assert_eq!(changes["access_stat"]["deleted"], 4);
    assert!(changes.get("countme_stat").is_none(), "{changes}");

    // Chosen limits: countme 35 days (the week 10 and 100 weeks ago go), access 1 day.
    let limits = StatsLimits {
        propagation_days: 0,
        access_days: 1,
        countme_days: 35,
    };
    let r = expire_stats(db, limits, now, false, ACTOR)
        .await
        .expect("expire");
    assert_eq!(
        (
            r.rows("propagation_stat"),
            r.rows("access_stat"),
            r.rows("countme_stat")
        ),
        (0, 4, 2)
    );
    assert!(
        r.to_string()
            .contains("= propagation_stat: kept forever (propagation days 0)"),
        "{r}"
    );
    // Nothing older left: nothing deleted, nothing audited.
    let r = expire_stats(db, limits, now, false, ACTOR)
        .await
        .expect("again");
    assert_eq!(r.total(), 0);
    assert_eq!(audit(db).await.len(), 2);

    // Housekeeping: the expired and the idle session, the expired link, 2 crawl logs.
    let limits = HousekeepingLimits {
        session_idle: Duration::from_secs(12 * 3600),
        crawl_log_days: 14,
    };
    let before = state(db).await;
    let dry = expire_housekeeping(db, limits, now, true)
        .await
        .expect("dry run");
    assert_eq!(state(db).await, before);
    let r = expire_housekeeping(db, limits, now, false)
        .await
        .expect("housekeeping");
    assert_eq!(dry.tables, r.tables);
    assert_eq!(
        (
            r.rows("sessions"),
            r.rows("password_reset"),
            r.rows("host_crawl")
        ),
        (2, 1, 2),
        "{r}"
    );
    assert_eq!(table_count(db, "SELECT count(*) FROM sessions").await, 1);
    assert_eq!(
        table_count(db, "SELECT count(*) FROM host_crawl").await,
        13,
        "the records stay"
    );
    assert_eq!(
        table_count(db, "SELECT count(*) FROM host_crawl WHERE log IS NOT NULL").await,
        11
    );
    assert_eq!(audit(db).await.len(), 2, "housekeeping is not audited");
}
on_both_backends!(stats);

/// `serve` runs the expiries at start (then daily).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_expires_daily() {
    use mirrorfleet_control::config::{Config, ConfigFlags};
    use mirrorfleet_control::publish::{PublishConfig, Publisher, StoreHandle};
    use mirrorfleet_control::serve::{ServeSettings, start};

    let t = sqlite_db().await;
    populate(&t.db).await;
    let now = OffsetDateTime::now_utc();
    fill_stats(&t.db, now).await;
    let dir = tempfile::tempdir().unwrap();
    let publisher = Publisher {
        db: t.db.clone(),
        store: StoreHandle::local(&dir.path().join("store")).unwrap(),
        config: PublishConfig {
            data_dir: dir.path().to_path_buf(),
            ..PublishConfig::default()
        },
    };
    // The limits come from the configuration: `[stats]`, `auth.session_idle`.
    let config = Config::load_from(
        &ConfigFlags::default(),
        [("MIRRORFLEET__STATS__ACCESS_KEEP_DAYS", "90")],
        dir.path(),
    )
    .expect("configuration");
    let settings = ServeSettings {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..ServeSettings::from_config(&config)
    };
    assert_eq!(settings.expiry, ExpirySettings::default());
    let running = start(settings, publisher).await.expect("serve starts");
    let started = std::time::Instant::now();
    while table_count(&t.db, "SELECT count(*) FROM access_stat").await != 8
        || table_count(&t.db, "SELECT count(*) FROM sessions").await != 1
    {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no expiry 20 s after start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    running.stop().await.expect("stops");
    let events = audit(&t.db).await;
    assert!(
        events
            .iter()
            .any(|e| e.0 == "serve" && e.1 == "statistics.expire"),
        "{events:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// add-product
// ---------------------------------------------------------------------------------------------

/// The rule sets the scanner knows without configuration.
fn rule_sets() -> Vec<String> {
    RuleSets::default().names().map(str::to_string).collect()
}

fn epel<'a>(versions: &'a [String]) -> NewProduct<'a> {
    NewProduct {
        name: "EPEL",
        versions,
        category: Some("Fedora EPEL"),
        topdir: None,
        repomap: Some("epel"),
        master: Some(Master {
            host: "Fedora Project/dl.fedoraproject.org",
            url: "https://dl.fedoraproject.org/pub/epel",
        }),
    }
}

async fn product(db: &Database) {
    populate(db).await;
    let g0 = generation(db).await;
    let versions = vec!["9".to_string(), "10".to_string()];
    let checked = check(&epel(&versions), &rule_sets()).expect("valid");
    assert_eq!(checked.topdir, "pub/epel", "the default topdir");

    let before = state(db).await;
    let dry = add_product(db, &checked, true, ACTOR)
        .await
        .expect("dry run");
    assert_eq!(state(db).await, before, "a dry run writes nothing");
    let r = add_product(db, &checked, false, ACTOR).await.expect("add");
    assert_eq!(r.changes, dry.changes);
    let want = [
        "+ product EPEL",
        "+ version EPEL 9",
        "+ version EPEL 10",
        "+ category Fedora EPEL (topdir pub/epel)",
        "+ directory pub/epel",
        "+ category_directory Fedora EPEL pub/epel",
        "+ host_category Fedora Project/dl.fedoraproject.org Fedora EPEL (always_up2date)",
        "+ host_category_url Fedora Project/dl.fedoraproject.org Fedora EPEL https://dl.fedoraproject.org/pub/epel",
    ];
    assert_eq!(
        r.changes.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
        want
    );
    assert!(r.skips.is_empty(), "{r}");
    assert_eq!(generation(db).await, g0 + 1);
    let events = audit(db).await;
    let actions: Vec<&str> = events.iter().map(|e| e.1.as_str()).collect();
    assert_eq!(
        actions,
        [
            "product.create",
            "version.create",
            "version.create",
            "category.create",
            "directory.create",
            "host_category.create",
            "host_category_url.create"
        ]
    );
    assert_eq!(
        events[3].4["topdir"],
        json!({"old": null, "new": "pub/epel"})
    );
    assert_eq!(events[3].4["repomap"]["new"], "epel");
    // The master host serves the new category's topdir; the inventory round-trips it.
    let derived = derive_snapshot(db, &DeriveOptions::default())
        .await
        .expect("derive");
    let master = derived
        .data
        .hosts
        .iter()
        .find(|h| h.name == "dl.fedoraproject.org")
        .unwrap();
    assert!(
        master
            .categories
            .iter()
            .any(|c| c.category == "Fedora EPEL"),
        "{master:?}"
    );
    let text = export_inventory(db).await.expect("export");
    assert!(text.contains("\"topdir\": \"pub/epel\""), "{text}");

    // Again, with one more version: only the version is new; no selection data, no bump.
    let more = vec!["9".to_string(), "10".to_string(), "10.1".to_string()];
    let r = add_product(
        db,
        &check(&epel(&more), &rule_sets()).unwrap(),
        false,
        ACTOR,
    )
    .await
    .expect("again");
    assert_eq!(
        r.changes.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
        ["+ version EPEL 10.1"]
    );
    assert_eq!(
        skips(&r),
        vec![
            ("EPEL".into(), "already exists".into()),
            ("EPEL 9".into(), "already exists".into()),
            ("EPEL 10".into(), "already exists".into()),
            ("Fedora EPEL".into(), "already exists".into()),
            ("Fedora Project/dl.fedoraproject.org Fedora EPEL".into(), "the host already carries the category, always up to date".into()),
            ("Fedora Project/dl.fedoraproject.org Fedora EPEL https://dl.fedoraproject.org/pub/epel".into(), "already listed".into()),
        ]
    );
    assert_eq!(generation(db).await, g0 + 1);

    // Conflicts and bad arguments: errors, nothing written.
    let before = state(db).await;
    let one = vec!["1".to_string()];
    let cases: Vec<(NewProduct, &str)> = vec![
        (
            NewProduct {
                name: "CentOS",
                versions: &one,
                category: Some("fedora linux"),
                topdir: Some("pub/centos"),
                repomap: None,
                master: None,
            },
            "category \"Fedora Linux\" already exists and belongs to product \"Fedora\"",
        ),
        (
            NewProduct {
                name: "EPEL",
                versions: &one,
                category: Some("Fedora EPEL"),
                topdir: Some("pub/epel-next"),
                repomap: None,
                master: None,
            },
            "category \"Fedora EPEL\" already exists and has the topdir \"pub/epel\"",
        ),
        (
            NewProduct {
                name: "EPEL",
                versions: &one,
                category: Some("Fedora EPEL"),
                topdir: None,
                repomap: Some("fedora"),
                master: None,
            },
            "category \"Fedora EPEL\" already exists and has the rule set \"epel\"",
        ),
        (
            NewProduct {
                name: "Alt",
                versions: &one,
                category: None,
                topdir: Some("pub/fedora/linux"),
                repomap: None,
                master: None,
            },
            "\"pub/fedora/linux\" is already the topdir of category \"Fedora Linux\"",
        ),
        (
            NewProduct {
                name: "Alt",
                versions: &one,
                category: None,
                topdir: None,
                repomap: None,
                master: Some(Master {
                    host: "Fedora Project/dl2.fedoraproject.org",
                    url: "https://dl2.fedoraproject.org/pub/alt",
                }),
            },
            "site \"Fedora Project\" has no host named \"dl2.fedoraproject.org\" (--master-host)",
        ),
    ];
    for (p, message) in cases {
        let e = add_product(db, &check(&p, &rule_sets()).unwrap(), false, ACTOR)
            .await
            .unwrap_err();
        assert!(e.to_string().contains(message), "{e}\nwanted: {message}");
        assert_eq!(e.exit_status(), 2);
    }
    assert_eq!(state(db).await, before);
}
on_both_backends!(product);

#[test]
fn add_product_arguments() {
    let one = vec!["1".to_string()];
    let base = NewProduct {
        name: "Fedora Cisco",
        versions: &one,
        category: None,
        topdir: None,
        repomap: None,
        master: None,
    };
    let err = |p: NewProduct, configured: &[String]| check(&p, configured).unwrap_err().to_string();
    assert!(err(base, &[]).contains("--topdir is required: the product name \"Fedora Cisco\""));
    let ok = check(
        &NewProduct {
            topdir: Some("pub/cisco"),
            ..base
        },
        &[],
    )
    .unwrap();
    assert_eq!(
        (ok.category.as_str(), ok.topdir.as_str()),
        ("Fedora Cisco", "pub/cisco")
    );
    assert!(
        err(
            NewProduct {
                topdir: Some("/pub/x"),
                ..base
            },
            &[]
        )
        .contains("must be relative")
    );
    assert!(
        err(
            NewProduct {
                topdir: Some("pub/../x"),
                ..base
            },
            &[]
        )
        .contains("\"..\" is not allowed")
    );
    assert!(err(NewProduct { name: "", ..base }, &[]).contains("must not be empty"));
    let two = vec!["1".to_string(), "1".to_string()];
    assert!(
        err(
            NewProduct {
                versions: &two,
                topdir: Some("pub/c"),
                ..base
            },
            &[]
        )
        .contains("given twice")
    );
    let bad = vec!["4 0".to_string()];
    assert!(
        err(
            NewProduct {
                versions: &bad,
                topdir: Some("pub/c"),
                ..base
            },
            &[]
        )
        .contains("not a valid version name")
    );
    let fixed = NewProduct {
        name: "cisco",
        ..base
    };
    assert!(
        err(
            NewProduct {
                repomap: Some("nope"),
                ..fixed
            },
            &rule_sets()
        )
        .contains("--repomap \"nope\" is no rule set; known: centos, epel, fedora, ")
    );
    assert!(
        check(
            &NewProduct {
                repomap: Some("fedora-codecs"),
                ..fixed
            },
            &rule_sets()
        )
        .is_ok()
    );
    assert!(
        check(
            &NewProduct {
                repomap: Some("mine"),
                ..fixed
            },
            &["mine".to_string()]
        )
        .is_ok()
    );
    let master = |host, url| NewProduct {
        master: Some(Master { host, url }),
        ..fixed
    };
    assert!(
        err(master("dl.example.org", "https://dl.example.org"), &[]).contains("is not SITE/HOST")
    );
    assert!(
        err(master("S/dl.example.org", "https://dl.example.org/"), &[]).contains("--master-url")
    );
    assert!(
        err(master("S/dl.example.org", "gopher://dl.example.org/x"), &[]).contains("--master-url")
    );
}

// ---------------------------------------------------------------------------------------------
// The binary
// ---------------------------------------------------------------------------------------------

/// The commands' output and exit statuses, against `db_args` (none: the embedded SQLite
/// default; else `--database-url URL`), publishing to the default store `data/store`.
fn cli(db_args: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let inventory = dir.path().join("fedora.json");
    std::fs::write(
        &inventory,
        serde_json::to_vec_pretty(&fedora_inventory()).unwrap(),
    )
    .unwrap();
    let run = |args: &[&str]| {
        let mut all: Vec<&str> = db_args.to_vec();
        all.extend_from_slice(args);
        let o = mirrorfleet(dir.path(), &all);
        (o.status.code(), output_text(&o))
    };
    let manifest = dir.path().join("data/store/manifest.json");
    for args in [
        &["init"][..],
        &["import", "inventory", inventory.to_str().unwrap()],
    ] {
        let (code, text) = run(args);
        assert_eq!(code, Some(0), "{args:?}: {text}");
    }

    // A dry run prints the plan and publishes nothing.
    let (code, text) = run(&[
        "move-devel-to-release",
        "--category",
        "Fedora Linux",
        "--version",
        "41",
        "--dry-run",
    ]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("~ repository fedora-41/x86_64: directory pub/fedora/linux/development/41/Everything/x86_64/os → pub/fedora/linux/releases/41/Everything/x86_64/os"), "{text}");
    assert!(
        text.contains("skip repository fedora-source-41/source: target missing: "),
        "{text}"
    );
    assert!(
        text.contains("dry run: nothing written (generation 1 would be 2)"),
        "{text}"
    );
    assert!(!manifest.exists());
    // The run commits, then publishes (D20).
    let (code, text) = run(&[
        "move-devel-to-release",
        "--category",
        "Fedora Linux",
        "--version",
        "41",
    ]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("generation 1 → 2\n"), "{text}");
    assert!(
        text.contains("published version 1 (manifest serial 1)"),
        "{text}"
    );
    assert!(manifest.exists());

    // Usage and validation errors: exit 2, nothing changed.
    for (args, message) in [
        (
            &[
                "move-devel-to-release",
                "--category",
                "Nope",
                "--version",
                "41",
            ][..],
            "no category named \"Nope\"",
        ),
        (
            &["move-to-archive", "--product", "Fedora", "--version", "38"],
            "3 target directories are missing in the archive; nothing changed (scan the archive first):\n  pub/archive/fedora/linux/releases/38/Everything/aarch64/os\n  pub/archive/fedora/linux/updates/38/Everything/aarch64\n  pub/archive/fedora/linux/updates/testing/38/Everything/x86_64/debug\n",
        ),
        (
            &["move-to-archive", "--repository", "fedora-37"],
            "no repository has the prefix \"fedora-37\"",
        ),
        (&["move-to-archive"], "--repository <PREFIX>"),
        (
            &[
                "move-to-archive",
                "--repository",
                "fedora-39",
                "--product",
                "Fedora",
            ],
            "cannot be used with",
        ),
        (
            &["emergency-expire-repo", "Fedora", "99"],
            "product \"Fedora\" has no version \"99\"",
        ),
        (
            &["add-product", "--name", "Fedora Cisco", "--version", "1"],
            "--topdir is required",
        ),
        (
            &[
                "add-product",
                "--name",
                "cisco",
                "--version",
                "1",
                "--master-host",
                "S/h",
            ],
            "--master-url",
        ),
        (
            &[
                "add-product",
                "--name",
                "EPEL",
                "--version",
                "9",
                "--category",
                "Fedora Linux",
            ],
            "already exists and belongs to product \"Fedora\"",
        ),
        (&["expire-stats", "--access-days", "x"], "--access-days"),
    ] {
        let (code, text) = run(args);
        assert_eq!(code, Some(2), "{args:?}: {text}");
        assert!(text.contains(message), "{args:?}: {text}");
    }

    // emergency-expire-repo publishes at once; expire-stats never publishes.
    let (code, text) = run(&["emergency-expire-repo", "Fedora", "40"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("file_detail: 0 created, 0 updated, 5 deleted\n"),
        "{text}"
    );
    assert!(text.contains("generation 2 → 3\n"), "{text}");
    assert!(text.contains("published version 2 "), "{text}");
    let (code, text) = run(&["emergency-expire-repo", "Fedora", "40"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("no changes\ngeneration 3 → 3\n"), "{text}");
    assert!(
        text.contains("published version 3 "),
        "published even so: {text}"
    );
    let (code, text) = run(&["expire-stats", "--dry-run"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("- access_stat: 0 rows (day before ")
            && text.ends_with("dry run: nothing written\n"),
        "{text}"
    );
    let (code, text) = run(&["expire-stats", "--countme-days", "30"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("- countme_stat: 0 rows (week before ") && !text.contains("published"),
        "{text}"
    );

    // No selection data changed: nothing to publish.
    let (code, text) = run(&[
        "add-product",
        "--name",
        "Fedora",
        "--version",
        "42",
        "--category",
        "Fedora Linux",
        "--topdir",
        "pub/fedora/linux",
    ]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("+ version Fedora 42\nskip product Fedora: already exists\n"),
        "{text}"
    );
    assert!(
        text.ends_with("generation 3 → 3\nno selection data changed; nothing to publish\n"),
        "{text}"
    );

    // On hold: saved, not published, exit 4 (D20).
    let (code, text) = run(&["snapshot", "rollback", "2", "--reason", "bad metadata"]);
    assert_eq!(code, Some(0), "{text}");
    let (code, text) = run(&[
        "add-product",
        "--name",
        "EPEL",
        "--version",
        "9",
        "--category",
        "Fedora EPEL",
        "--repomap",
        "epel",
    ]);
    assert_eq!(code, Some(4), "{text}");
    assert!(
        text.contains("+ category Fedora EPEL (topdir pub/epel)"),
        "{text}"
    );
    assert!(
        text.contains("saved (generation 4), not published: publishing is on hold"),
        "{text}"
    );
    let (code, text) = run(&["export", "inventory"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("\"Fedora EPEL\""), "saved: {text}");
}

#[test]
fn cli_sqlite() {
    cli(&[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_postgres() {
    let Some(schema) = pg_schema(false).await else {
        return;
    };
    let url = schema.url();
    tokio::task::spawn_blocking(move || cli(&["--database-url", &url]))
        .await
        .unwrap();
}
