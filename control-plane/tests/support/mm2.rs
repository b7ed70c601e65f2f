//! A MirrorManager2 source for the `import mm2` tests: `fixtures/mm2/schema.sql` and
//! `fixtures/mm2/installation.sql` loaded into a fresh PostgreSQL schema `mm2_src_<random>`
//! (dropped when the guard goes away), plus whatever SQL a test adds to damage or change it.
//! PostgreSQL: `MIRRORFLEET_TEST_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/test`;
//! unreachable → FAIL under `CI=true`, a loud SKIP line otherwise. Self-contained (sqlx only),
//! so the end-to-end tests include it by path.
#![allow(dead_code)]

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::Connection;
use sqlx::postgres::PgConnection;

/// MirrorManager2's tables (written by us from its models).
pub const SCHEMA_SQL: &str = include_str!("../fixtures/mm2/schema.sql");
/// The small installation.
pub const INSTALLATION_SQL: &str = include_str!("../fixtures/mm2/installation.sql");

/// A loaded MirrorManager2 schema.
pub struct Mm2Source {
    /// Server URL without a search path.
    pub base_url: String,
    /// Schema name.
    pub schema: String,
}

impl Mm2Source {
    /// The URL `import mm2 --from` takes (selecting the schema).
    pub fn url(&self) -> String {
        let sep = if self.base_url.contains('?') {
            '&'
        } else {
            '?'
        };
        format!(
            "{}{sep}options=-c%20search_path%3D{}",
            self.base_url, self.schema
        )
    }

    /// Runs more SQL (several statements) in the schema.
    pub async fn run(&self, sql: &str) {
        let mut conn = PgConnection::connect(&self.url())
            .await
            .expect("connect to the MirrorManager2 schema");
        sqlx::raw_sql(sql)
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{e}\n--- SQL ---\n{sql}"));
        let _ = conn.close().await;
    }
}

impl Drop for Mm2Source {
    fn drop(&mut self) {
        let base = self.base_url.clone();
        let schema = self.schema.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(mut conn) = PgConnection::connect(&base).await {
                    let _ = sqlx::raw_sql(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                        .execute(&mut conn)
                        .await;
                    let _ = conn.close().await;
                }
            });
        })
        .join();
    }
}

/// Creates a schema with MirrorManager2's tables and the installation, then runs `edit`
/// (empty: none). `None` (after a SKIP line) when PostgreSQL is unreachable outside CI.
pub async fn mm2_source(edit: &str) -> Option<Mm2Source> {
    mm2_source_with(&[SCHEMA_SQL, INSTALLATION_SQL, edit]).await
}

/// Like [`mm2_source`], with the SQL scripts given.
pub async fn mm2_source_with(scripts: &[&str]) -> Option<Mm2Source> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let base_url = std::env::var("MIRRORFLEET_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string());
    let mut conn = match PgConnection::connect(&base_url).await {
        Ok(c) => c,
        Err(e) => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("PostgreSQL is required under CI=true but unreachable: {e}");
            }
            let _ = writeln!(
                std::io::stderr(),
                "\n*** SKIP: MirrorManager2 import test not run: PostgreSQL unreachable: {e}\n"
            );
            return None;
        }
    };
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let schema = format!(
        "mm2_src_{}_{}_{}",
        std::process::id(),
        nanos % 1_000_000_000_000,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    sqlx::raw_sql(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut conn)
        .await
        .expect("create the MirrorManager2 schema");
    let _ = conn.close().await;
    let source = Mm2Source { base_url, schema };
    for sql in scripts {
        if !sql.trim().is_empty() {
            source.run(sql).await;
        }
    }
    Some(source)
}
