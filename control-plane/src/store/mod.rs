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

/// Rows of `host_category_dir` read per page by [`for_each_up2date_dir`].
pub const HCD_PAGE: i64 = 200_000;

/// Calls `visit(host_category_id, directory_id)` for every up-to-date
/// `host_category_dir` row, in id order. The table has millions of rows at
/// Fedora scale, so it is read in keyset pages (`id > last ORDER BY id LIMIT n`)
/// and never held in memory at once.
pub async fn for_each_up2date_dir(
    tx: &mut Tx,
    mut visit: impl FnMut(i64, i64),
) -> Result<(), sqlx::Error> {
    let mut after = i64::MIN;
    loop {
        let page: Vec<(i64, i64, i64)> = crate::with_tx!(tx, c => sqlx::query_as(
            "SELECT id, host_category_id, directory_id FROM host_category_dir \
             WHERE up2date AND id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after)
        .bind(HCD_PAGE)
        .fetch_all(&mut *c)
        .await?);
        let n = page.len();
        for (id, hc_id, dir_id) in page {
            after = id;
            visit(hc_id, dir_id);
        }
        if (n as i64) < HCD_PAGE {
            return Ok(());
        }
    }
}
