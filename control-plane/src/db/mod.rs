//! The database: connection to SQLite or PostgreSQL and the schema migrations
//! (`migrations/sqlite/`, `migrations/postgres/`; data-model.md §2–§6).
//!
//! # One code path for both backends
//!
//! [`Database`] holds an enum of *typed* sqlx pools ([`DbPool`]), and queries are written once
//! inside [`with_pool!`], which expands the same body for each backend. We chose this over
//! sqlx's `Any` driver because `Any` only decodes integers, floats, text and bytes: the
//! PostgreSQL schema keeps `BOOLEAN`, `TIMESTAMPTZ`, `DATE` and `JSONB`, and the typed drivers
//! decode both backends' columns into the same Rust types (`bool`, `time::OffsetDateTime`,
//! `time::Date`, `serde_json::Value`). SQL text is shared: both drivers accept `$1`-style
//! placeholders. Queries are checked at run time (there is no `DATABASE_URL` at build time).
//!
//! Migrations are embedded with `include_str!` and run through [`Migrator`] from an
//! in-memory [`MigrationSource`] instead of `sqlx::migrate!`, which keeps sqlx's proc-macro crate
//! (and a second build of its drivers) out of the build. The checksums recorded in
//! `_sqlx_migrations` are the ones `sqlx migrate` computes from the files, and a test checks that
//! the embedded list is exactly the files in the migration folders.

use std::borrow::Cow;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::str::FromStr;
use std::time::Duration;

use sqlx::Connection;
use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

/// The migration files of each backend, oldest first: `(file name, SQL)`. A new migration is a
/// new file in both folders and a new line in both lists (the `migrations` test enforces it).
const SQLITE_MIGRATIONS: &[(&str, &str)] = &[(
    "20261125000001_initial.sql",
    include_str!("../../../migrations/sqlite/20261125000001_initial.sql"),
)];
const POSTGRES_MIGRATIONS: &[(&str, &str)] = &[(
    "20261125000001_initial.sql",
    include_str!("../../../migrations/postgres/20261125000001_initial.sql"),
)];

/// Default number of pooled connections for [`Database::connect`].
pub const DEFAULT_MAX_CONNECTIONS: u32 = 8;

/// Which database engine a [`Database`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The backend a `database.url` selects, from its scheme.
    pub fn from_url(url: &str) -> Result<Backend, DbError> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(DbError::UnsupportedUrl {
                url: redact_url(url),
            })
        }
    }

    /// Short name, as in the migration folder: `sqlite` or `postgres`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    /// This backend's migrations, oldest first, as sqlx computes them from the files.
    pub fn migrations(self) -> Vec<Migration> {
        let files = match self {
            Backend::Sqlite => SQLITE_MIGRATIONS,
            Backend::Postgres => POSTGRES_MIGRATIONS,
        };
        files
            .iter()
            .map(|(file, sql)| {
                let stem = file.strip_suffix(".sql").unwrap_or(file);
                let (version, description) = stem.split_once('_').unwrap_or((stem, ""));
                let version = version
                    .parse::<i64>()
                    .expect("embedded migration file names start with a numeric version");
                Migration::new(
                    version,
                    Cow::Owned(description.replace('_', " ")),
                    MigrationType::Simple,
                    Cow::Borrowed(*sql),
                    false,
                )
            })
            .collect()
    }

    /// The embedded migration files `(file name, SQL)`, for checks against the folder.
    pub fn migration_files(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Backend::Sqlite => SQLITE_MIGRATIONS,
            Backend::Postgres => POSTGRES_MIGRATIONS,
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        })
    }
}

/// Errors of the database layer; each message says what to check or do.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(
        "unsupported database URL {url:?}: use sqlite://PATH, sqlite::memory: or \
         postgres://USER@HOST:PORT/DATABASE (set database.url or --database-url)"
    )]
    UnsupportedUrl { url: String },
    #[error("invalid database URL {url:?}: {source}; fix database.url or --database-url")]
    InvalidUrl {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error(
        "cannot create the directory {} for the SQLite database: {source}; check data.dir and \
         its permissions", path.display()
    )]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "cannot open the {backend} database at {url}: {source}; check database.url or \
         --database-url, and that the server is running and accepts this user"
    )]
    Connect {
        backend: Backend,
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error(
        "PostgreSQL search_path names no schema to create tables in; add \
         options=-c search_path=NAME to database.url"
    )]
    NoSchema,
    #[error(
        "applying the {backend} database migrations failed: {source}; if the database was \
         changed by hand or by another mirrorfleet version, restore a backup or run the \
         matching version"
    )]
    Migrate {
        backend: Backend,
        #[source]
        source: sqlx::migrate::MigrateError,
    },
    #[error("database query failed: {0}")]
    Query(#[from] sqlx::Error),
    #[error(
        "the database schema has pending migrations ({pending}); run `mirrorfleet migrate` first"
    )]
    PendingMigrations { pending: String },
}

/// The kind of schema constraint a failed write violated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConstraintKind {
    Unique,
    ForeignKey,
    NotNull,
    Check,
}

impl DbError {
    /// When this error is a write refused by a schema constraint, which kind.
    pub fn constraint_kind(&self) -> Option<ConstraintKind> {
        let DbError::Query(sqlx::Error::Database(e)) = self else {
            return None;
        };
        match e.kind() {
            sqlx::error::ErrorKind::UniqueViolation => Some(ConstraintKind::Unique),
            sqlx::error::ErrorKind::ForeignKeyViolation => Some(ConstraintKind::ForeignKey),
            sqlx::error::ErrorKind::NotNullViolation => Some(ConstraintKind::NotNull),
            sqlx::error::ErrorKind::CheckViolation => Some(ConstraintKind::Check),
            _ => None,
        }
    }
}

/// The typed pool of one backend. Use [`with_pool!`] to write a query once for both.
#[derive(Debug, Clone)]
pub enum DbPool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the typed pool of `$db` (a [`Database`]), whichever the
/// backend: the body is compiled once per backend, so it must only use SQL and types both
/// accept (e.g. `$1` placeholders, `bool`, `i64`, `String`, `time::OffsetDateTime`).
///
/// ```ignore
/// let n: i64 = with_pool!(db, pool => sqlx::query_scalar("SELECT count(*) FROM host").fetch_one(pool).await)?;
/// ```
#[macro_export]
macro_rules! with_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db.pool() {
            $crate::db::DbPool::Sqlite($pool) => $body,
            $crate::db::DbPool::Postgres($pool) => $body,
        }
    };
}

/// A connection pool to the control-plane database.
#[derive(Debug, Clone)]
pub struct Database {
    pool: DbPool,
}

/// One row of `_sqlx_migrations`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedMigration {
    pub version: i64,
    pub description: String,
    pub success: bool,
    pub checksum: Vec<u8>,
}

impl Database {
    /// Connects to `url` with [`DEFAULT_MAX_CONNECTIONS`] pooled connections; see
    /// [`Database::connect_with`].
    pub async fn connect(url: &str) -> Result<Database, DbError> {
        Self::connect_with(url, DEFAULT_MAX_CONNECTIONS).await
    }

    /// Connects to `url`:
    /// - `sqlite://PATH` (relative to the working directory; `sqlite:///ABS` for an absolute
    ///   path): the file and its parent directories are created when missing; WAL mode, foreign
    ///   keys on, a busy timeout;
    /// - `sqlite::memory:`: a private in-memory database shared by this pool's connections;
    /// - `postgres://…`: `options=-c search_path=NAME` selects the schema.
    pub async fn connect_with(url: &str, max_connections: u32) -> Result<Database, DbError> {
        let max_connections = max_connections.max(1);
        let pool = match Backend::from_url(url)? {
            Backend::Sqlite => {
                let in_memory = url.contains(":memory:") || url.contains("mode=memory");
                let mut options =
                    SqliteConnectOptions::from_str(url).map_err(|source| DbError::InvalidUrl {
                        url: redact_url(url),
                        source,
                    })?;
                options = options
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(10));
                let mut pool_options = SqlitePoolOptions::new().max_connections(max_connections);
                if in_memory {
                    // The database lives as long as one connection to it is open.
                    pool_options = pool_options
                        .min_connections(1)
                        .idle_timeout(None)
                        .max_lifetime(None);
                } else {
                    options = options
                        .create_if_missing(true)
                        .journal_mode(SqliteJournalMode::Wal)
                        .synchronous(SqliteSynchronous::Normal);
                    if let Some(dir) = options.get_filename().parent()
                        && !dir.as_os_str().is_empty()
                    {
                        std::fs::create_dir_all(dir).map_err(|source| DbError::CreateDir {
                            path: dir.to_path_buf(),
                            source,
                        })?;
                    }
                }
                let pool = pool_options.connect_with(options).await.map_err(|source| {
                    DbError::Connect {
                        backend: Backend::Sqlite,
                        url: redact_url(url),
                        source,
                    }
                })?;
                DbPool::Sqlite(pool)
            }
            Backend::Postgres => {
                let options =
                    PgConnectOptions::from_str(url).map_err(|source| DbError::InvalidUrl {
                        url: redact_url(url),
                        source,
                    })?;
                // One direct attempt first: the pool retries refused connections until its
                // acquire timeout, and a server that is down should be reported at once.
                let probe = PgConnection::connect_with(&options)
                    .await
                    .map_err(|source| DbError::Connect {
                        backend: Backend::Postgres,
                        url: redact_url(url),
                        source,
                    })?;
                probe.close().await?;
                let pool = PgPoolOptions::new()
                    .max_connections(max_connections)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(options)
                    .await
                    .map_err(|source| DbError::Connect {
                        backend: Backend::Postgres,
                        url: redact_url(url),
                        source,
                    })?;
                DbPool::Postgres(pool)
            }
        };
        Ok(Database { pool })
    }

    /// Which backend this database is.
    pub fn backend(&self) -> Backend {
        match self.pool {
            DbPool::Sqlite(_) => Backend::Sqlite,
            DbPool::Postgres(_) => Backend::Postgres,
        }
    }

    /// The typed pool; prefer [`with_pool!`] so that a query serves both backends.
    pub fn pool(&self) -> &DbPool {
        &self.pool
    }

    /// Applies every pending migration of this backend, in order; a no-op when the schema is
    /// current. On PostgreSQL, the first schema of `search_path` is created when missing.
    /// Fails when the recorded history does not match the embedded migrations (a modified or
    /// unknown migration).
    pub async fn migrate(&self) -> Result<(), DbError> {
        let backend = self.backend();
        if let DbPool::Postgres(pool) = &self.pool {
            ensure_pg_schema(pool).await?;
        }
        let migrator = Migrator::new(EmbeddedMigrations(backend))
            .await
            .map_err(|source| DbError::Migrate { backend, source })?;
        let result = match &self.pool {
            DbPool::Sqlite(pool) => migrator.run(pool).await,
            DbPool::Postgres(pool) => migrator.run(pool).await,
        };
        result.map_err(|source| DbError::Migrate { backend, source })
    }

    /// The rows of `_sqlx_migrations`, by version (empty before the first migration).
    pub async fn applied_migrations(&self) -> Result<Vec<AppliedMigration>, DbError> {
        const SQL: &str = "SELECT version, description, success, checksum \
                           FROM _sqlx_migrations ORDER BY version";
        let exists: bool = with_pool!(self, pool => {
            let sql = match self.backend() {
                Backend::Sqlite => "SELECT count(*) > 0 FROM sqlite_master \
                                    WHERE type = 'table' AND name = '_sqlx_migrations'",
                Backend::Postgres => "SELECT to_regclass('_sqlx_migrations') IS NOT NULL",
            };
            sqlx::query_scalar(sql).fetch_one(pool).await?
        });
        if !exists {
            return Ok(Vec::new());
        }
        let rows: Vec<(i64, String, bool, Vec<u8>)> =
            with_pool!(self, pool => sqlx::query_as(SQL).fetch_all(pool).await?);
        Ok(rows
            .into_iter()
            .map(
                |(version, description, success, checksum)| AppliedMigration {
                    version,
                    description,
                    success,
                    checksum,
                },
            )
            .collect())
    }

    /// Makes the schema usable for a command other than `init` and `migrate`
    /// (control-plane.md §2): SQLite, the embedded default, is migrated; on PostgreSQL
    /// pending migrations are an error naming them, since only `init` and `migrate` may
    /// change a production schema.
    pub async fn prepare_schema(&self) -> Result<(), DbError> {
        if self.backend() == Backend::Sqlite {
            return self.migrate().await;
        }
        let applied: Vec<i64> = self
            .applied_migrations()
            .await?
            .into_iter()
            .filter(|m| m.success)
            .map(|m| m.version)
            .collect();
        let pending: Vec<String> = self
            .backend()
            .migrations()
            .into_iter()
            .filter(|m| !applied.contains(&m.version))
            .map(|m| format!("{} {}", m.version, m.description))
            .collect();
        if pending.is_empty() {
            Ok(())
        } else {
            Err(DbError::PendingMigrations {
                pending: pending.join(", "),
            })
        }
    }

    /// Runs one SQL statement without parameters; returns the number of rows affected.
    pub async fn execute(&self, sql: &str) -> Result<u64, DbError> {
        let done = with_pool!(self, pool => sqlx::query(sql).execute(pool).await?.rows_affected());
        Ok(done)
    }

    /// Closes every pooled connection (an in-memory SQLite database is then gone).
    pub async fn close(&self) {
        with_pool!(self, pool => pool.close().await)
    }
}

/// Creates the first schema of `search_path` when `current_schema()` finds none (a fresh
/// `options=-c search_path=NAME`); `init` relies on it.
async fn ensure_pg_schema(pool: &PgPool) -> Result<(), DbError> {
    let current: Option<String> = sqlx::query_scalar("SELECT current_schema()")
        .fetch_one(pool)
        .await?;
    if current.is_some() {
        return Ok(());
    }
    let search_path: String = sqlx::query_scalar("SELECT current_setting('search_path')")
        .fetch_one(pool)
        .await?;
    let schema = search_path
        .split(',')
        .map(|s| s.trim())
        .map(|s| {
            s.strip_prefix('"')
                .and_then(|s| s.strip_suffix('"'))
                .map(|s| s.replace("\"\"", "\""))
                .unwrap_or_else(|| s.to_string())
        })
        .find(|s| !s.is_empty() && s != "$user")
        .ok_or(DbError::NoSchema)?;
    let quoted = format!("\"{}\"", schema.replace('"', "\"\""));
    sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {quoted}"))
        .execute(pool)
        .await?;
    Ok(())
}

/// The embedded migrations of one backend, as a sqlx [`MigrationSource`].
#[derive(Debug)]
struct EmbeddedMigrations(Backend);

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

impl MigrationSource<'static> for EmbeddedMigrations {
    fn resolve(self) -> BoxFuture<'static, Result<Vec<Migration>, BoxDynError>> {
        Box::pin(async move { Ok(self.0.migrations()) })
    }
}

/// `url` with any password replaced by `***`, for messages and logs.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_from_url() {
        assert_eq!(
            Backend::from_url("sqlite://data/x.db").unwrap(),
            Backend::Sqlite
        );
        assert_eq!(
            Backend::from_url("sqlite::memory:").unwrap(),
            Backend::Sqlite
        );
        assert_eq!(
            Backend::from_url("postgres://u@h/db").unwrap(),
            Backend::Postgres
        );
        assert_eq!(
            Backend::from_url("postgresql://u@h/db").unwrap(),
            Backend::Postgres
        );
        let err = Backend::from_url("mysql://root:pw@h/db").unwrap_err();
        assert!(err.to_string().contains("use sqlite://PATH"), "{err}");
        assert!(!err.to_string().contains("pw"), "{err}");
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact_url("postgres://mf:secret@db:5432/mf?sslmode=require"),
            "postgres://mf:***@db:5432/mf?sslmode=require"
        );
        assert_eq!(redact_url("postgres://mf@db/mf"), "postgres://mf@db/mf");
        assert_eq!(redact_url("sqlite::memory:"), "sqlite::memory:");
    }

    #[test]
    fn embedded_migrations_are_ordered() {
        for backend in [Backend::Sqlite, Backend::Postgres] {
            let versions: Vec<i64> = backend.migrations().iter().map(|m| m.version).collect();
            assert!(!versions.is_empty());
            assert!(versions.windows(2).all(|w| w[0] < w[1]), "{versions:?}");
        }
    }
}
