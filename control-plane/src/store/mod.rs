//! The storage layer: writes to the control-plane database that span many rows, each in one
//! transaction, with one code path for SQLite and PostgreSQL.
//!
//! Queries are written once and expanded per backend, like [`crate::with_pool!`]: inside a
//! transaction [`with_tx!`] binds the typed connection of the open [`Tx`]. Columns are read as
//! types both drivers decode the same way: `INTEGER` columns through `CAST(… AS BIGINT)` into
//! `i64` (PostgreSQL's `INTEGER` is 32-bit), booleans as `bool`, times as
//! `time::OffsetDateTime`.

pub mod host;
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
    /// A named object does not exist (the message names it).
    #[error("{0}")]
    NotFound(String),
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

/// Host categories whose up-to-date directories [`for_each_up2date_group`] reads per page.
pub const HCD_PAGE: i64 = 64;

/// Calls `visit(host_category_id, directory_id)` for every up-to-date
/// `host_category_dir` row; see [`for_each_up2date_group`].
pub async fn for_each_up2date_dir(
    tx: &mut Tx,
    mut visit: impl FnMut(i64, i64),
) -> Result<(), sqlx::Error> {
    for_each_up2date_group(tx, |hc_id, dirs| {
        for &dir_id in dirs {
            visit(hc_id, dir_id);
        }
    })
    .await
}

/// Calls `visit(host_category_id, directory_ids)` once per host category with up-to-date
/// `host_category_dir` rows, in host category id order.
///
/// The table has millions of rows at Fedora scale. It is read in keyset pages of [`HCD_PAGE`]
/// host categories (`host_category_id > last … ORDER BY host_category_id LIMIT n`), walking
/// the `(host_category_id, directory_id)` unique index, so no page needs a sort, and within a
/// page the database folds each host category's directory ids into one value. A page is one
/// row per host category instead of one per directory: the drivers' cost per row, not the
/// databases', was most of a Fedora-scale publish (9.6 million rows: 20 s through the SQLite
/// driver row by row).
///
/// The one place the backends differ is that value, [`UP2DATE_GROUPS`] with `{AGG}`:
/// PostgreSQL's `array_agg` (an `int8[]`, binary on the wire; `string_agg` costs its server a
/// second more at Fedora scale, turning 9.6 million ids into text) and SQLite's `string_agg`
/// text (SQLite ≥ 3.44), parsed here.
pub async fn for_each_up2date_group(
    tx: &mut Tx,
    mut visit: impl FnMut(i64, &[i64]),
) -> Result<(), sqlx::Error> {
    let mut after = i64::MIN;
    let mut dirs = Vec::new();
    loop {
        let n = match tx {
            Tx::Postgres(t) => {
                let page: Vec<(i64, Vec<i64>)> =
                    sqlx::query_as(&UP2DATE_GROUPS.replace("{AGG}", "array_agg(directory_id)"))
                        .bind(after)
                        .bind(HCD_PAGE)
                        .fetch_all(&mut **t)
                        .await?;
                let n = page.len() as i64;
                for (hc_id, list) in page {
                    after = hc_id;
                    visit(hc_id, &list);
                }
                n
            }
            Tx::Sqlite(t) => {
                let page: Vec<(i64, String)> = sqlx::query_as(
                    &UP2DATE_GROUPS.replace("{AGG}", "string_agg(CAST(directory_id AS TEXT), ',')"),
                )
                .bind(after)
                .bind(HCD_PAGE)
                .fetch_all(&mut **t)
                .await?;
                let n = page.len() as i64;
                for (hc_id, list) in page {
                    after = hc_id;
                    parse_id_list(&list, &mut dirs).ok_or_else(|| {
                        sqlx::Error::Decode(
                            format!("host_category_dir: host category {hc_id}: bad id list").into(),
                        )
                    })?;
                    visit(hc_id, &dirs);
                }
                n
            }
        };
        if n < HCD_PAGE {
            return Ok(());
        }
    }
}

/// One page of [`for_each_up2date_group`]; `{AGG}` is the backend's list aggregate.
const UP2DATE_GROUPS: &str = "SELECT host_category_id, {AGG} FROM host_category_dir \
     WHERE up2date AND host_category_id > $1 \
     GROUP BY host_category_id ORDER BY host_category_id LIMIT $2";

/// Parses `1,22,333` (decimal ids, comma-separated) into `out`; `None` on anything else.
/// Hand-rolled: millions of ids per publish.
fn parse_id_list(text: &str, out: &mut Vec<i64>) -> Option<()> {
    out.clear();
    for part in text.split(',') {
        let (negative, digits) = match part.strip_prefix('-') {
            Some(rest) => (true, rest.as_bytes()),
            None => (false, part.as_bytes()),
        };
        if digits.is_empty() || digits.len() > 18 {
            return None;
        }
        let mut n: i64 = 0;
        for &b in digits {
            if !b.is_ascii_digit() {
                return None;
            }
            n = n * 10 + i64::from(b - b'0');
        }
        out.push(if negative { -n } else { n });
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::parse_id_list;

    #[test]
    fn id_lists() {
        let mut v = Vec::new();
        assert_eq!(parse_id_list("1,22,333", &mut v), Some(()));
        assert_eq!(v, [1, 22, 333]);
        assert_eq!(parse_id_list("7", &mut v), Some(()));
        assert_eq!(v, [7]);
        assert_eq!(parse_id_list("-5,999999999999999999", &mut v), Some(()));
        assert_eq!(v, [-5, 999_999_999_999_999_999]);
        for bad in [
            "",
            "1,,2",
            "1,x",
            "1,2,",
            " 1",
            "1.5",
            "-",
            "1234567890123456789",
        ] {
            assert_eq!(parse_id_list(bad, &mut v), None, "{bad:?}");
        }
    }
}
