//! Multi-row statements for the import (and the scanner's writes, `crate::scan::apply`):
//! `INSERT … VALUES (…), (…), …` and `… WHERE id IN (…)`, each within the backend's bind
//! limit (SQLite 32,766 variables, PostgreSQL 65,535) and at most [`MAX_ROWS`] rows, so that a
//! Fedora-scale import (millions of `host_category_dir` rows) takes a few thousand statements
//! instead of millions. Full chunks share one SQL text, which the driver prepares once per
//! connection.
//!
//! The statement is the same on both backends but for the placeholders: `$1, $2, …` on
//! PostgreSQL, anonymous `?` on SQLite. (SQLite accepts `$N` too, but then the driver looks
//! each parameter up by name, and `sqlite3_bind_parameter_name` walks the statement's whole
//! parameter list: quadratic in the parameters, 80 % of an import's time at 8,192 per
//! statement.)

use std::fmt::Write as _;

use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;

use crate::store::{StoreError, Tx};
use crate::with_tx;

/// SQLite's default `SQLITE_MAX_VARIABLE_NUMBER` (since 3.32).
pub(crate) const SQLITE_MAX_BINDS: usize = 32_766;
/// PostgreSQL's limit (the protocol counts parameters in 16 bits).
pub(crate) const PG_MAX_BINDS: usize = 65_535;
/// Rows per statement at most: beyond a few thousand a longer statement saves nothing.
pub(crate) const MAX_ROWS: usize = 4_096;

/// One value of a row: a bind parameter, or `Sql`, a constant written into the statement.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Val<'a> {
    /// SQL text (a literal such as `TRUE` or `'import'`), not a parameter.
    Sql(&'static str),
    I64(i64),
    OptI64(Option<i64>),
    I32(i32),
    Bool(bool),
    OptBool(Option<bool>),
    Text(&'a str),
    OptText(Option<&'a str>),
    Json(&'a serde_json::Value),
    Time(time::OffsetDateTime),
}

/// Binds every parameter of `$vals` (`&[Val]`) to the query `$q`, in order.
macro_rules! bind_vals {
    ($q:expr, $vals:expr) => {{
        let mut q = $q;
        for v in $vals {
            q = match *v {
                Val::Sql(_) => q,
                Val::I64(x) => q.bind(x),
                Val::OptI64(x) => q.bind(x),
                Val::I32(x) => q.bind(x),
                Val::Bool(x) => q.bind(x),
                Val::OptBool(x) => q.bind(x),
                Val::Text(x) => q.bind(x),
                Val::OptText(x) => q.bind(x),
                Val::Json(x) => q.bind(x),
                Val::Time(x) => q.bind(x),
            };
        }
        q
    }};
}

/// Bind parameters one statement may carry on this backend.
pub(crate) fn max_binds(tx: &Tx) -> usize {
    match tx {
        Tx::Sqlite(_) => SQLITE_MAX_BINDS,
        Tx::Postgres(_) => PG_MAX_BINDS,
    }
}

/// How a backend writes bind parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Placeholders {
    /// `$1`, `$2`, … (PostgreSQL).
    Numbered,
    /// `?` (SQLite).
    Anonymous,
}

impl Placeholders {
    fn of(tx: &Tx) -> Placeholders {
        match tx {
            Tx::Sqlite(_) => Placeholders::Anonymous,
            Tx::Postgres(_) => Placeholders::Numbered,
        }
    }

    /// Appends the `n`th (from 1) parameter.
    fn push(self, sql: &mut String, n: usize) {
        match self {
            Placeholders::Numbered => {
                let _ = write!(sql, "${n}");
            }
            Placeholders::Anonymous => sql.push('?'),
        }
    }
}

/// Rows per statement for rows shaped like `row`.
fn rows_per_statement(tx: &Tx, row: &[Val<'_>]) -> usize {
    let binds = row.iter().filter(|v| !matches!(v, Val::Sql(_))).count();
    (max_binds(tx) / binds.max(1)).clamp(1, MAX_ROWS)
}

/// `head VALUES (…), (…) tail` for `rows` rows shaped like `row`.
fn values_sql(style: Placeholders, head: &str, row: &[Val<'_>], rows: usize, tail: &str) -> String {
    let mut sql = String::with_capacity(head.len() + tail.len() + rows * row.len() * 8 + 16);
    sql.push_str(head);
    sql.push_str(" VALUES ");
    let mut n = 0usize;
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for (i, v) in row.iter().enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            match v {
                Val::Sql(text) => sql.push_str(text),
                _ => {
                    n += 1;
                    style.push(&mut sql, n);
                }
            }
        }
        sql.push(')');
    }
    sql.push_str(tail);
    sql
}

/// `head (…) tail` with one placeholder per id.
fn list_sql(style: Placeholders, head: &str, ids: usize, tail: &str) -> String {
    let mut sql = String::with_capacity(head.len() + ids * 8 + tail.len() + 4);
    sql.push_str(head);
    sql.push_str(" (");
    for n in 1..=ids {
        if n > 1 {
            sql.push_str(", ");
        }
        style.push(&mut sql, n);
    }
    sql.push(')');
    sql.push_str(tail);
    sql
}

/// Inserts `vals`, rows of `width` values each (every row shaped alike), with
/// `head VALUES …` (`head` = `INSERT INTO t (a, b)`). Returns the rows inserted.
pub(crate) async fn insert(
    tx: &mut Tx,
    head: &str,
    width: usize,
    vals: &[Val<'_>],
) -> Result<u64, StoreError> {
    if vals.is_empty() {
        return Ok(0);
    }
    let style = Placeholders::of(tx);
    let per = rows_per_statement(tx, &vals[..width]);
    let mut full_sql: Option<String> = None;
    let mut done = 0;
    for chunk in vals.chunks(per * width) {
        let rows = chunk.len() / width;
        let partial;
        let sql = if rows == per {
            full_sql.get_or_insert_with(|| values_sql(style, head, &chunk[..width], rows, ""))
        } else {
            partial = values_sql(style, head, &chunk[..width], rows, "");
            &partial
        };
        done += with_tx!(tx, c => bind_vals!(sqlx::query(sql), chunk)
            .execute(&mut *c)
            .await?
            .rows_affected());
    }
    Ok(done)
}

/// Like [`insert`] with `RETURNING …` (`tail`): the returned rows, chunk after chunk.
pub(crate) async fn insert_returning<O>(
    tx: &mut Tx,
    head: &str,
    width: usize,
    vals: &[Val<'_>],
    tail: &str,
) -> Result<Vec<O>, StoreError>
where
    O: for<'r> sqlx::FromRow<'r, SqliteRow> + for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin,
{
    let mut out = Vec::new();
    if vals.is_empty() {
        return Ok(out);
    }
    let style = Placeholders::of(tx);
    let per = rows_per_statement(tx, &vals[..width]);
    for chunk in vals.chunks(per * width) {
        let sql = values_sql(style, head, &chunk[..width], chunk.len() / width, tail);
        let rows: Vec<O> = with_tx!(tx, c => bind_vals!(sqlx::query_as::<_, O>(&sql), chunk)
            .fetch_all(&mut *c)
            .await?);
        out.extend(rows);
    }
    Ok(out)
}

/// Runs `head (id, id, …) tail` for `ids` in chunks (`head` = `DELETE FROM t WHERE id IN`).
/// Returns the rows affected.
pub(crate) async fn for_ids(
    tx: &mut Tx,
    head: &str,
    ids: &[i64],
    tail: &str,
) -> Result<u64, StoreError> {
    let style = Placeholders::of(tx);
    let per = max_binds(tx).min(MAX_ROWS);
    let mut full_sql: Option<String> = None;
    let mut done = 0;
    for chunk in ids.chunks(per) {
        let partial;
        let sql = if chunk.len() == per {
            full_sql.get_or_insert_with(|| list_sql(style, head, per, tail))
        } else {
            partial = list_sql(style, head, chunk.len(), tail);
            &partial
        };
        done += with_tx!(tx, c => {
            let mut q = sqlx::query(sql);
            for id in chunk {
                q = q.bind(*id);
            }
            q.execute(&mut *c).await?.rows_affected()
        });
    }
    Ok(done)
}

/// Deletes the rows of `table` with these ids.
pub(crate) async fn delete_ids(tx: &mut Tx, table: &str, ids: &[i64]) -> Result<u64, StoreError> {
    for_ids(tx, &format!("DELETE FROM {table} WHERE id IN"), ids, "").await
}

/// Buffers rows of one shape and inserts them [`MAX_ROWS`]-ish at a time, for tables too large
/// to collect first (`host_category_dir`).
pub(crate) struct Inserter {
    style: Placeholders,
    head: &'static str,
    width: usize,
    per: usize,
    vals: Vec<Val<'static>>,
    sql: Option<String>,
    /// Rows written so far.
    pub(crate) written: u64,
}

impl Inserter {
    /// For rows shaped like `row` (`width` = its length).
    pub(crate) fn new(tx: &Tx, head: &'static str, row: &[Val<'static>]) -> Inserter {
        let per = rows_per_statement(tx, row);
        Inserter {
            style: Placeholders::of(tx),
            head,
            width: row.len(),
            per,
            vals: Vec::with_capacity(per * row.len()),
            sql: None,
            written: 0,
        }
    }

    /// Adds one row; writes a full statement when the buffer is full.
    pub(crate) async fn push(
        &mut self,
        tx: &mut Tx,
        row: &[Val<'static>],
    ) -> Result<(), StoreError> {
        debug_assert_eq!(row.len(), self.width);
        self.vals.extend_from_slice(row);
        if self.vals.len() >= self.per * self.width {
            let sql = self
                .sql
                .get_or_insert_with(|| values_sql(self.style, self.head, row, self.per, ""));
            let vals = &self.vals;
            self.written += with_tx!(tx, c => bind_vals!(sqlx::query(sql.as_str()), vals)
                .execute(&mut *c)
                .await?
                .rows_affected());
            self.vals.clear();
        }
        Ok(())
    }

    /// Writes what is left.
    pub(crate) async fn finish(&mut self, tx: &mut Tx) -> Result<(), StoreError> {
        let vals = std::mem::take(&mut self.vals);
        self.written += insert(tx, self.head, self.width, &vals).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements() {
        let row = [Val::I64(1), Val::Sql("TRUE"), Val::Text("x")];
        let head = "INSERT INTO t (a, b, c)";
        assert_eq!(
            values_sql(Placeholders::Numbered, head, &row, 2, " RETURNING id"),
            "INSERT INTO t (a, b, c) VALUES ($1, TRUE, $2), ($3, TRUE, $4) RETURNING id"
        );
        assert_eq!(
            values_sql(Placeholders::Anonymous, head, &row, 2, ""),
            "INSERT INTO t (a, b, c) VALUES (?, TRUE, ?), (?, TRUE, ?)"
        );
        assert_eq!(
            list_sql(Placeholders::Numbered, "DELETE FROM t WHERE id IN", 3, ""),
            "DELETE FROM t WHERE id IN ($1, $2, $3)"
        );
        assert_eq!(
            list_sql(Placeholders::Anonymous, "DELETE FROM t WHERE id IN", 2, ""),
            "DELETE FROM t WHERE id IN (?, ?)"
        );
    }
}
