//! Test databases for the control-plane tests: a migrated SQLite file in a temporary
//! directory, and a migrated fresh PostgreSQL schema (`mf_test_<random>`, dropped at the end)
//! so tests run in parallel. PostgreSQL: `MIRRORFLEET_TEST_POSTGRES_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`; unreachable → FAIL under `CI=true`, a loud SKIP
//! line otherwise. `s3`: a moto S3 server on loopback, per test (same FAIL/SKIP rule).
#![allow(dead_code)] // each test binary uses a different part

pub mod mm2;
pub mod s3;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use mirrorfleet_control::db::Database;

pub const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

pub fn pg_base_url() -> String {
    std::env::var("MIRRORFLEET_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_PG_URL.to_string())
}

pub fn unique_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{}_{}_{}",
        std::process::id(),
        nanos % 1_000_000_000_000,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

pub fn with_search_path(base: &str, schema: &str) -> String {
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}options=-c%20search_path%3D{schema}")
}

/// A fresh PostgreSQL schema, dropped when the guard goes away (also when the test panics).
pub struct PgSchema {
    /// Schema name.
    pub name: String,
    /// Server URL without a search path.
    pub base_url: String,
}

impl PgSchema {
    /// URL selecting this schema.
    pub fn url(&self) -> String {
        with_search_path(&self.base_url, &self.name)
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let base = self.base_url.clone();
        let name = self.name.clone();
        // Drop runs inside the test's runtime: use a thread with its own small runtime.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(db) = Database::connect_with(&base, 1).await {
                    let _ = db
                        .execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                        .await;
                    db.close().await;
                }
            });
        })
        .join();
    }
}

/// Reaches PostgreSQL and reserves a schema name (`create`: also creates the schema). `None`
/// (after a loud SKIP line) when the server is unreachable outside CI; a panic under CI.
pub async fn pg_schema(create: bool) -> Option<PgSchema> {
    let base_url = pg_base_url();
    let admin = match Database::connect_with(&base_url, 1).await {
        Ok(db) => db,
        Err(e) => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("PostgreSQL is required under CI=true but unreachable: {e}");
            }
            // Straight to the process's stderr, past the test harness's output capture.
            let _ = writeln!(
                std::io::stderr(),
                "\n*** SKIP: PostgreSQL test not run: {e}\n*** start it with: \
                 pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start\n"
            );
            return None;
        }
    };
    let name = format!("mf_test_{}", unique_suffix());
    if create {
        admin
            .execute(&format!("CREATE SCHEMA {name}"))
            .await
            .expect("create test schema");
    }
    admin.close().await;
    Some(PgSchema { name, base_url })
}

/// A migrated test database and what keeps it alive.
pub struct TestDb {
    /// The database.
    pub db: Database,
    _schema: Option<PgSchema>,
    _dir: Option<tempfile::TempDir>,
}

/// A migrated SQLite database in a fresh temporary directory.
pub async fn sqlite_db() -> TestDb {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}/test.db", dir.path().display());
    let db = Database::connect(&url).await.expect("open SQLite");
    db.migrate().await.expect("migrate SQLite");
    TestDb {
        db,
        _schema: None,
        _dir: Some(dir),
    }
}

/// A migrated fresh PostgreSQL schema; `None` (after a SKIP line) when the server is
/// unreachable outside CI.
pub async fn postgres_db() -> Option<TestDb> {
    let schema = pg_schema(true).await?;
    let db = Database::connect(&schema.url())
        .await
        .expect("connect PostgreSQL");
    db.migrate().await.expect("migrate PostgreSQL");
    Some(TestDb {
        db,
        _schema: Some(schema),
        _dir: None,
    })
}

/// Runs the `mirrorfleet` binary in `dir` (without an inherited database URL).
pub fn mirrorfleet(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mirrorfleet"))
        .args(args)
        .current_dir(dir)
        .env_remove("MIRRORFLEET__DATABASE__URL")
        .output()
        .expect("run mirrorfleet")
}

/// Standard output then standard error of a run, as text.
pub fn output_text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
