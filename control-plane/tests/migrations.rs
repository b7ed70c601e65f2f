//! Schema migrations on both backends (issue 4, step 1): they apply from empty, a second run is
//! a no-op, the `_sqlx_migrations` history is linear and matches the files, both backends have
//! the same tables and columns, and the schema itself enforces the data-model constraints.
//!
//! PostgreSQL: `MIRRORFLEET_TEST_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/test`.
//! Every test gets its own schema (`mf_test_<random>`, dropped at the end), so tests run in
//! parallel. When the server is unreachable the tests FAIL under `CI=true` and print a SKIP line
//! otherwise.

use std::collections::BTreeSet;

use mirrorfleet_control::db::{Backend, ConstraintKind, Database, DbError};
use mirrorfleet_control::with_pool;

mod support;
use support::*;

/// Every table of data-model.md §2–§6 and the operational records.
const TABLES: &[&str] = &[
    "access_stat",
    "api_token",
    "arch",
    "asn_table_meta",
    "audit_event",
    "category",
    "category_directory",
    "checkin_failure",
    "continent_override",
    "countme_stat",
    "country",
    "crawl_run",
    "directory",
    "disabled_repository",
    "edge_report",
    "file_detail",
    "host",
    "host_allowed_country",
    "host_category",
    "host_category_dir",
    "host_category_url",
    "host_checkin_token",
    "host_crawl",
    "host_netblock",
    "host_peer_asn",
    "login_failure",
    "meta",
    "netblock_country",
    "password_reset",
    "product",
    "propagation_host",
    "propagation_stat",
    "publish_log",
    "publish_state",
    "repository",
    "repository_redirect",
    "scan_run",
    "sessions",
    "site",
    "site_owner",
    "stats_ingest",
    "users",
    "version",
];

/// (table, column) pairs of the schema, `_sqlx_migrations` excluded.
async fn columns(db: &Database) -> BTreeSet<(String, String)> {
    let sql = match db.backend() {
        Backend::Sqlite => {
            "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' \
             AND m.name <> '_sqlx_migrations'"
        }
        Backend::Postgres => {
            "SELECT table_name::text, column_name::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name <> '_sqlx_migrations'"
        }
    };
    let rows: Vec<(String, String)> =
        with_pool!(db, pool => sqlx::query_as(sql).fetch_all(pool).await.unwrap());
    rows.into_iter().collect()
}

async fn count(db: &Database, sql: &str) -> i64 {
    with_pool!(db, pool => sqlx::query_scalar(sql).fetch_one(pool).await.unwrap())
}

/// Migrations apply from empty, a second run changes nothing, and the history is linear and
/// matches the migration files byte for byte.
async fn check_apply_twice_and_history(db: &Database) {
    assert!(db.applied_migrations().await.unwrap().is_empty());
    db.migrate().await.expect("first migrate");
    let tables: BTreeSet<String> = columns(db).await.into_iter().map(|(t, _)| t).collect();
    let expected: BTreeSet<String> = TABLES.iter().map(|t| t.to_string()).collect();
    assert_eq!(tables, expected, "{} tables", db.backend());

    let first = db.applied_migrations().await.unwrap();
    let cols_before = columns(db).await;
    db.migrate().await.expect("second migrate is a no-op");
    assert_eq!(db.applied_migrations().await.unwrap(), first);
    assert_eq!(columns(db).await, cols_before);
    assert_eq!(count(db, "SELECT count(*) FROM publish_state").await, 1);

    // Linear history: versions strictly increasing, all applied, the same as the files.
    let expected = db.backend().migrations();
    assert_eq!(first.len(), expected.len());
    assert!(first.windows(2).all(|w| w[0].version < w[1].version));
    for (applied, file) in first.iter().zip(&expected) {
        assert!(applied.success, "migration {} not applied", applied.version);
        assert_eq!(applied.version, file.version);
        assert_eq!(applied.description, file.description);
        assert_eq!(applied.checksum, file.checksum.to_vec());
    }
}

#[tokio::test]
async fn sqlite_migrations_apply_from_empty_and_are_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    // Parent directories are created.
    let path = dir.path().join("data/nested/mirrorfleet.db");
    let url = format!("sqlite://{}", path.display());
    let db = Database::connect(&url).await.unwrap();
    assert_eq!(db.backend(), Backend::Sqlite);
    check_apply_twice_and_history(&db).await;
    db.close().await;
    assert!(path.exists());

    // Reopening the file: still current, nothing to apply.
    let db = Database::connect(&url).await.unwrap();
    db.migrate().await.unwrap();
    assert_eq!(db.applied_migrations().await.unwrap().len(), 1);
    db.close().await;
}

#[tokio::test]
async fn sqlite_in_memory_is_shared_by_the_pool() {
    let db = Database::connect("sqlite::memory:").await.unwrap();
    db.migrate().await.unwrap();
    // Several connections at once see the same database.
    let (a, b, c) = tokio::join!(
        count(&db, "SELECT count(*) FROM publish_state"),
        count(&db, "SELECT count(*) FROM publish_state"),
        count(&db, "SELECT count(*) FROM publish_state"),
    );
    assert_eq!((a, b, c), (1, 1, 1));
    db.close().await;
}

#[tokio::test]
async fn postgres_migrations_apply_from_empty_and_are_idempotent() {
    let Some(schema) = pg_schema(true).await else {
        return;
    };
    let db = Database::connect(&schema.url()).await.unwrap();
    assert_eq!(db.backend(), Backend::Postgres);
    let current: String = with_pool!(db, pool => sqlx::query_scalar("SELECT current_schema()")
        .fetch_one(pool)
        .await
        .unwrap());
    assert_eq!(current, schema.name);
    check_apply_twice_and_history(&db).await;
    db.close().await;
}

#[tokio::test]
async fn postgres_migrate_creates_the_search_path_schema() {
    let Some(schema) = pg_schema(false).await else {
        return;
    };
    let db = Database::connect(&schema.url()).await.unwrap();
    db.migrate().await.unwrap();
    assert_eq!(count(&db, "SELECT count(*) FROM publish_state").await, 1);
    db.close().await;
}

#[tokio::test]
async fn both_backends_have_the_same_tables_and_columns() {
    let Some(schema) = pg_schema(true).await else {
        return;
    };
    let pg = Database::connect(&schema.url()).await.unwrap();
    pg.migrate().await.unwrap();
    let lite = Database::connect("sqlite::memory:").await.unwrap();
    lite.migrate().await.unwrap();
    let (p, l) = (columns(&pg).await, columns(&lite).await);
    assert_eq!(
        p.symmetric_difference(&l).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "columns differ between PostgreSQL and SQLite"
    );
    pg.close().await;
    lite.close().await;
}

/// Rows the constraint checks hang under: countries SE and GB, one user, product, category,
/// directory, site, host and host category, each with id 1 (the first of a fresh table; ids are
/// not given explicitly because PostgreSQL identity columns do not advance past explicit ids).
const SEED: &[&str] = &[
    "INSERT INTO country (code, name, continent) VALUES ('SE', 'Sweden', 'EU'), ('GB', 'United Kingdom', 'EU')",
    "INSERT INTO users (username) VALUES ('alice')",
    "INSERT INTO product (name, name_key) VALUES ('Fedora', 'fedora')",
    "INSERT INTO arch (name) VALUES ('x86_64')",
    "INSERT INTO category (name, name_key, product_id, topdir) VALUES ('Fedora Linux', 'fedora linux', 1, 'pub/fedora/linux')",
    "INSERT INTO directory (name) VALUES ('pub/fedora/linux')",
    "INSERT INTO category_directory (category_id, directory_id) VALUES (1, 1)",
    "INSERT INTO site (name, name_key, created_by) VALUES ('Example University', 'example university', 1)",
    "INSERT INTO site_owner (site_id, user_id) VALUES (1, 1)",
    "INSERT INTO host (site_id, name, name_key, country) VALUES (1, 'mirror.example.edu', 'mirror.example.edu', 'SE')",
    "INSERT INTO host_category (host_id, category_id) VALUES (1, 1)",
    "INSERT INTO host_category_url (host_category_id, url, position) VALUES (1, 'https://mirror.example.edu/fedora', 0)",
    "INSERT INTO host_category_dir (host_category_id, directory_id, up2date, source) VALUES (1, 1, TRUE, 'import')",
    "INSERT INTO host_allowed_country (host_id, country) VALUES (1, 'SE')",
    "INSERT INTO host_netblock (host_id, value) VALUES (1, '192.0.2.0/24')",
    "INSERT INTO host_peer_asn (host_id, asn) VALUES (1, 64501)",
    "INSERT INTO host_checkin_token (host_id, token_hash) VALUES (1, '0000000000000000000000000000000000000000000000000000000000000000')",
    "INSERT INTO file_detail (directory_id, filename, timestamp, size, sha256, source) VALUES (1, 'repomd.xml', 1713185000, 4381, '910ea8655c2bb5a2e5a0c63aa064043bb682ea3972df23a3a3e59b73741bd5e4', 'import')",
];

const HOST: &str = "INSERT INTO host (site_id, name, name_key, country";
const DIGEST: &str = "'910ea8655c2bb5a2e5a0c63aa064043bb682ea3972df23a3a3e59b73741bd5e4'";

/// (what, statement, the constraint it must violate; None = must succeed)
fn constraint_cases() -> Vec<(&'static str, String, Option<ConstraintKind>)> {
    use ConstraintKind::*;
    let host = |extra_cols: &str, country: &str, extra_vals: &str| {
        format!(
            "{HOST}{extra_cols}) VALUES (1, 'h{n}', 'h{n}', '{country}'{extra_vals})",
            n = unique_suffix()
        )
    };
    vec![
        ("valid host", host("", "GB", ""), None),
        ("bandwidth 0", host(", bandwidth", "SE", ", 0"), Some(Check)),
        ("bandwidth 1000001", host(", bandwidth", "SE", ", 1000001"), Some(Check)),
        ("bandwidth 1000000", host(", bandwidth", "SE", ", 1000000"), None),
        ("max_connections 0", host(", max_connections", "SE", ", 0"), Some(Check)),
        ("max_connections 101", host(", max_connections", "SE", ", 101"), Some(Check)),
        ("asn 0", host(", asn", "SE", ", 0"), Some(Check)),
        ("asn 23456 (AS_TRANS)", host(", asn", "SE", ", 23456"), Some(Check)),
        ("asn 4294967295", host(", asn", "SE", ", 4294967295"), Some(Check)),
        ("asn 4294967294", host(", asn", "SE", ", 4294967294"), None),
        ("latitude 90.5", host(", latitude", "SE", ", 90.5"), Some(Check)),
        ("longitude -180.5", host(", longitude", "SE", ", -180.5"), Some(Check)),
        ("country 'uk' (lower case)", host("", "uk", ""), Some(Check)),
        ("country 'se' (lower case, known)", host("", "se", ""), Some(Check)),
        ("country 'SWE' (length 3)", host("", "SWE", ""), Some(Check)),
        ("country 'UK' (not in country)", host("", "UK", ""), Some(ForeignKey)),
        ("host without country", "INSERT INTO host (site_id, name, name_key) VALUES (1, 'x', 'x')".into(), Some(NotNull)),
        ("host of a missing site", "INSERT INTO host (site_id, name, name_key, country) VALUES (99, 'x', 'x', 'SE')".into(), Some(ForeignKey)),
        ("host name again in the site, other case", "INSERT INTO host (site_id, name, name_key, country) VALUES (1, 'MIRROR.example.edu', 'mirror.example.edu', 'SE')".into(), Some(Unique)),
        ("site name differing only in case", "INSERT INTO site (name, name_key) VALUES ('EXAMPLE University', 'example university')".into(), Some(Unique)),
        ("site org_url not http(s)", "INSERT INTO site (name, name_key, org_url) VALUES ('S2', 's2', 'ftp://example.org')".into(), Some(Check)),
        ("product name differing only in case", "INSERT INTO product (name, name_key) VALUES ('FEDORA', 'fedora')".into(), Some(Unique)),
        ("category topdir with leading /", "INSERT INTO category (name, name_key, product_id, topdir) VALUES ('C2', 'c2', 1, '/pub/epel')".into(), Some(Check)),
        ("directory with //", "INSERT INTO directory (name) VALUES ('pub//x')".into(), Some(Check)),
        ("directory name again (exact)", "INSERT INTO directory (name) VALUES ('pub/fedora/linux')".into(), Some(Unique)),
        ("file_detail without digest", "INSERT INTO file_detail (directory_id, filename, timestamp, size, source) VALUES (1, 'summary', 0, 0, 'scanner')".into(), Some(Check)),
        ("file_detail upper-case digest", "INSERT INTO file_detail (directory_id, filename, timestamp, size, md5, source) VALUES (1, 'summary', 0, 0, 'EB1DD1E55C9E393CE8934774838B09D2', 'scanner')".into(), Some(Check)),
        ("file_detail short sha256", "INSERT INTO file_detail (directory_id, filename, timestamp, size, sha256, source) VALUES (1, 'summary', 0, 0, 'abc', 'scanner')".into(), Some(Check)),
        ("file_detail bad source", format!("INSERT INTO file_detail (directory_id, filename, timestamp, size, sha256, source) VALUES (1, 'summary', 0, 0, {DIGEST}, 'magic')"), Some(Check)),
        ("file_detail identical version (absent = absent)", format!("INSERT INTO file_detail (directory_id, filename, timestamp, size, sha256, source) VALUES (1, 'repomd.xml', 1713185000, 4381, {DIGEST}, 'scanner')"), Some(Unique)),
        ("file_detail same version plus md5", format!("INSERT INTO file_detail (directory_id, filename, timestamp, size, md5, sha256, source) VALUES (1, 'repomd.xml', 1713185000, 4381, 'eb1dd1e55c9e393ce8934774838b09d2', {DIGEST}, 'scanner')"), None),
        ("file_detail name with /", format!("INSERT INTO file_detail (directory_id, filename, timestamp, size, sha256, source) VALUES (1, 'a/b', 0, 0, {DIGEST}, 'scanner')"), Some(Check)),
        ("url scheme gopher", "INSERT INTO host_category_url (host_category_id, url) VALUES (1, 'gopher://mirror.example.edu/f')".into(), Some(Check)),
        ("url with trailing /", "INSERT INTO host_category_url (host_category_id, url) VALUES (1, 'https://mirror.example.edu/f/')".into(), Some(Check)),
        ("url again in the host category", "INSERT INTO host_category_url (host_category_id, url) VALUES (1, 'https://mirror.example.edu/fedora')".into(), Some(Unique)),
        ("rsync url", "INSERT INTO host_category_url (host_category_id, url) VALUES (1, 'rsync://mirror.example.edu/fedora')".into(), None),
        ("host category twice", "INSERT INTO host_category (host_id, category_id) VALUES (1, 1)".into(), Some(Unique)),
        ("allowed country twice", "INSERT INTO host_allowed_country (host_id, country) VALUES (1, 'SE')".into(), Some(Unique)),
        ("allowed country lower case", "INSERT INTO host_allowed_country (host_id, country) VALUES (1, 'gb')".into(), Some(Check)),
        ("peer asn 23456", "INSERT INTO host_peer_asn (host_id, asn) VALUES (1, 23456)".into(), Some(Check)),
        ("HCD bad source", "INSERT INTO host_category_dir (host_category_id, directory_id, up2date, source) VALUES (1, 1, TRUE, 'guess')".into(), Some(Check)),
        ("continent XX", "INSERT INTO continent_override (country, continent) VALUES ('SE', 'XX')".into(), Some(Check)),
        ("repository (prefix, arch) twice", "INSERT INTO repository (prefix, arch_id, category_id, origin) VALUES ('fedora-40', 1, 1, 'admin'), ('fedora-40', 1, 1, 'admin')".into(), Some(Unique)),
        ("two unmapped repositories", "INSERT INTO repository (prefix, arch_id, category_id, origin) VALUES (NULL, 1, 1, 'scanner'), (NULL, 1, 1, 'scanner')".into(), None),
        ("redirect to itself", "INSERT INTO repository_redirect (from_prefix, to_prefix) VALUES ('epel-9', 'epel-9')".into(), Some(Check)),
        ("api token scope admin", "INSERT INTO api_token (user_id, name, token_hash, scope) VALUES (1, 't', '1111111111111111111111111111111111111111111111111111111111111111', 'admin')".into(), Some(Check)),
        ("second publish_state row", "INSERT INTO publish_state (id) VALUES (2)".into(), Some(Check)),
        ("username upper case", "INSERT INTO users (username) VALUES ('Bob')".into(), Some(Check)),
    ]
}

async fn check_constraints(db: &Database) {
    db.migrate().await.unwrap();
    for sql in SEED {
        db.execute(sql)
            .await
            .unwrap_or_else(|e| panic!("seed {sql}: {e}"));
    }
    let mut failures = Vec::new();
    for (what, sql, expected) in constraint_cases() {
        let got = match db.execute(&sql).await {
            Ok(_) => None,
            Err(e) => match e.constraint_kind() {
                Some(kind) => Some(kind),
                None => {
                    failures.push(format!("{what}: not a constraint error: {e}"));
                    continue;
                }
            },
        };
        if got != expected {
            failures.push(format!(
                "{what}: expected {expected:?}, got {got:?} ({sql})"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{}: {} constraint case(s) wrong:\n{}",
        db.backend(),
        failures.len(),
        failures.join("\n")
    );

    // Deleting a site deletes everything that hangs under it.
    assert!(count(db, "SELECT count(*) FROM host WHERE site_id = 1").await > 1);
    db.execute("DELETE FROM site WHERE id = 1").await.unwrap();
    for table in [
        "host",
        "site_owner",
        "host_category",
        "host_category_url",
        "host_category_dir",
        "host_allowed_country",
        "host_netblock",
        "host_peer_asn",
        "host_checkin_token",
    ] {
        assert_eq!(
            count(db, &format!("SELECT count(*) FROM {table}")).await,
            0,
            "{}: {table} rows left after deleting the site",
            db.backend()
        );
    }
    // ... but not what only refers to it: the user and the directory stay.
    assert_eq!(count(db, "SELECT count(*) FROM users").await, 1);
    assert_eq!(count(db, "SELECT count(*) FROM directory").await, 1);

    // Deleting a directory orphans its repository instead of deleting it.
    db.execute("INSERT INTO directory (name) VALUES ('pub/fedora/linux/releases')")
        .await
        .unwrap();
    db.execute(
        "INSERT INTO repository (prefix, arch_id, category_id, directory_id, origin) \
         SELECT 'orphan-me', 1, 1, id, 'admin' FROM directory \
         WHERE name = 'pub/fedora/linux/releases'",
    )
    .await
    .unwrap();
    db.execute("DELETE FROM directory WHERE name = 'pub/fedora/linux/releases'")
        .await
        .unwrap();
    assert_eq!(
        count(
            db,
            "SELECT count(*) FROM repository WHERE prefix = 'orphan-me' AND directory_id IS NULL"
        )
        .await,
        1
    );
    // Deleting a directory deletes its file details.
    db.execute("DELETE FROM directory WHERE id = 1")
        .await
        .unwrap();
    assert_eq!(count(db, "SELECT count(*) FROM file_detail").await, 0);
}

#[tokio::test]
async fn sqlite_enforces_constraints() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("mf.db").display());
    let db = Database::connect(&url).await.unwrap();
    check_constraints(&db).await;
    db.close().await;
}

#[tokio::test]
async fn postgres_enforces_constraints() {
    let Some(schema) = pg_schema(true).await else {
        return;
    };
    let db = Database::connect(&schema.url()).await.unwrap();
    check_constraints(&db).await;
    db.close().await;
}

#[tokio::test]
async fn embedded_migrations_are_the_files_in_the_folders() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations");
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let dir = root.join(backend.name());
        let mut on_disk: Vec<(String, String)> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "sql"))
            .map(|p| {
                (
                    p.file_name().unwrap().to_string_lossy().into_owned(),
                    std::fs::read_to_string(&p).unwrap(),
                )
            })
            .collect();
        on_disk.sort();
        let embedded: Vec<(String, String)> = backend
            .migration_files()
            .iter()
            .map(|(f, s)| (f.to_string(), s.to_string()))
            .collect();
        assert_eq!(
            embedded,
            on_disk,
            "{}: embedded list differs from {}",
            backend,
            dir.display()
        );
    }
    // Both backends migrate in the same steps.
    let names = |b: Backend| {
        b.migration_files()
            .iter()
            .map(|(f, _)| *f)
            .collect::<Vec<_>>()
    };
    assert_eq!(names(Backend::Sqlite), names(Backend::Postgres));
}

#[tokio::test]
async fn bad_urls_say_what_to_do() {
    let err = Database::connect("mysql://x@y/z").await.unwrap_err();
    assert!(matches!(err, DbError::UnsupportedUrl { .. }));
    assert!(err.to_string().contains("database.url"), "{err}");
    // A port nothing listens on: a connection error naming the setting, without the password.
    let err = Database::connect("postgres://u:hunter2@127.0.0.1:1/db?connect_timeout=2")
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, DbError::Connect { .. }), "{msg}");
    assert!(
        msg.contains("--database-url") && !msg.contains("hunter2"),
        "{msg}"
    );
}

#[tokio::test]
async fn prepare_schema_migrates_sqlite_but_refuses_pending_postgres_migrations() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/prep.db", dir.path().display());
    let db = Database::connect(&url).await.unwrap();
    db.prepare_schema()
        .await
        .expect("SQLite is migrated by any command");
    assert!(!db.applied_migrations().await.unwrap().is_empty());
    db.close().await;

    let Some(schema) = pg_schema(true).await else {
        return;
    };
    let db = Database::connect(&schema.url()).await.unwrap();
    let err = db
        .prepare_schema()
        .await
        .expect_err("pending migrations on PostgreSQL");
    let text = err.to_string();
    assert!(
        matches!(err, DbError::PendingMigrations { .. })
            && text.contains("20261125000001")
            && text.contains("mirrorfleet migrate"),
        "{text}"
    );
    db.migrate().await.unwrap();
    db.prepare_schema()
        .await
        .expect("nothing pending after migrate");
    db.close().await;
}
