//! The storage layer: writes to the control-plane database that span many rows, each in one
//! transaction, with one code path for SQLite and PostgreSQL.
//!
//! Queries are written once and expanded per backend, like [`crate::with_pool!`]: inside a
//! transaction [`with_tx!`] binds the typed connection of the open [`Tx`]. Columns are read as
//! types both drivers decode the same way: `INTEGER` columns through `CAST(… AS BIGINT)` into
//! `i64` (PostgreSQL's `INTEGER` is 32-bit), booleans as `bool`, times as
//! `time::OffsetDateTime`.

pub mod import;

use sqlx::{Postgres, Sqlite, Transaction};

use crate::db::{Database, DbError, DbPool};

/// An error of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the database is not initialised (no meta row); run `mirrorfleet init` first")]
    NotInitialised,
    #[error("{0}")]
    Invalid(String),
    #[error("cannot create the installation id: {0}")]
    Random(#[source] std::io::Error),
    #[error("database query failed: {0}")]
    Query(#[from] sqlx::Error),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// An open transaction on either backend.
pub enum Tx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

/// Runs `$body` with `$conn` bound to the typed connection (`&mut SqliteConnection` or
/// `&mut PgConnection`) of the [`Tx`] `$tx`; the body is compiled once per backend. Use
/// `&mut *$conn` as the executor.
#[macro_export]
macro_rules! with_tx {
    ($tx:expr, $conn:ident => $body:expr) => {
        match $tx {
            $crate::store::Tx::Sqlite(t) => {
                let $conn: &mut sqlx::SqliteConnection = &mut **t;
                $body
            }
            $crate::store::Tx::Postgres(t) => {
                let $conn: &mut sqlx::PgConnection = &mut **t;
                $body
            }
        }
    };
}

impl Tx {
    /// Begins a transaction on `db`.
    pub async fn begin(db: &Database) -> Result<Tx, StoreError> {
        Ok(match db.pool() {
            DbPool::Sqlite(pool) => Tx::Sqlite(pool.begin().await?),
            DbPool::Postgres(pool) => Tx::Postgres(pool.begin().await?),
        })
    }

    /// Begins a read-only transaction that sees one consistent state of the database:
    /// on SQLite a deferred `BEGIN` (its first read fixes the snapshot), on PostgreSQL
    /// `REPEATABLE READ, READ ONLY`. Finish it with [`Tx::rollback`].
    pub async fn begin_read(db: &Database) -> Result<Tx, sqlx::Error> {
        Ok(match db.pool() {
            DbPool::Sqlite(pool) => Tx::Sqlite(pool.begin().await?),
            DbPool::Postgres(pool) => {
                let mut t = pool.begin().await?;
                sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    .execute(&mut *t)
                    .await?;
                Tx::Postgres(t)
            }
        })
    }

    /// Commits.
    pub async fn commit(self) -> Result<(), StoreError> {
        match self {
            Tx::Sqlite(t) => t.commit().await?,
            Tx::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }

    /// Rolls back.
    pub async fn rollback(self) -> Result<(), StoreError> {
        match self {
            Tx::Sqlite(t) => t.rollback().await?,
            Tx::Postgres(t) => t.rollback().await?,
        }
        Ok(())
    }
}
