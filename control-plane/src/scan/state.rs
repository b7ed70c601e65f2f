//! What the scanner reads from the database before it looks at a category's tree: the
//! category, its directories, their file details, the repositories, arches and versions, and
//! what the previous scan of the category recorded in `scan_run` (its start, for D12, and the
//! list file it read).

use std::collections::HashMap;

use serde_json::Value;
use time::OffsetDateTime;

use super::details::Digests;
use super::discover::{Known, KnownDir};
use super::listfile::ListStamp;
use crate::db::Database;
use crate::store::StoreError;
use crate::with_pool;

/// A category row.
#[derive(Clone, Debug)]
pub struct Category {
    pub id: i64,
    pub name: String,
    pub product_id: i64,
    pub topdir: String,
    pub repomap: Option<String>,
}

impl Category {
    /// The full directory name of `rel` (`""` is the topdir).
    pub fn full(&self, rel: &str) -> String {
        crate::inventory::model::full_name(&self.topdir, rel)
    }
}

/// The category called `name` (ignoring case, as names are keyed).
pub async fn category(db: &Database, name: &str) -> Result<Option<Category>, StoreError> {
    let row: Option<(i64, String, i64, String, Option<String>)> = with_pool!(db, p => sqlx::query_as(
        "SELECT id, name, product_id, topdir, repomap FROM category WHERE name_key = $1")
        .bind(name.to_lowercase())
        .fetch_optional(p)
        .await)?;
    Ok(row.map(|(id, name, product_id, topdir, repomap)| Category {
        id,
        name,
        product_id,
        topdir,
        repomap,
    }))
}

/// Every directory named `topdir` or below it, by path relative to the topdir.
pub async fn known(db: &Database, cat: &Category) -> Result<Known, StoreError> {
    type Row = (i64, String, bool, i64, Value, bool, bool);
    let below = format!("{}/", cat.topdir);
    let rows: Vec<Row> = with_pool!(db, p => sqlx::query_as(
        "SELECT d.id, d.name, d.readable, CAST(d.ctime AS BIGINT), d.sample_files, \
         EXISTS (SELECT 1 FROM category_directory cd \
                 WHERE cd.directory_id = d.id AND cd.category_id = $1), \
         EXISTS (SELECT 1 FROM category_directory cd \
                 WHERE cd.directory_id = d.id AND cd.category_id <> $1) \
         FROM directory d \
         WHERE d.name = $2 OR substr(d.name, 1, CAST($3 AS INTEGER)) = $4")
        .bind(cat.id)
        .bind(&cat.topdir)
        .bind(below.chars().count() as i64)
        .bind(&below)
        .fetch_all(p)
        .await)?;
    let dirs = rows
        .into_iter()
        .map(
            |(id, name, readable, time, samples, linked, linked_elsewhere)| {
                let rel = name
                    .strip_prefix(&below)
                    .map_or_else(String::new, str::to_string);
                (
                    rel,
                    KnownDir {
                        id,
                        time,
                        readable,
                        samples,
                        linked,
                        linked_elsewhere,
                    },
                )
            },
        )
        .collect();
    Ok(Known::new(dirs))
}

/// One recorded version of a file.
#[derive(Clone, Debug)]
pub struct Version {
    pub id: i64,
    pub timestamp: i64,
    pub size: i64,
    pub mtime: Option<i64>,
    pub digests: Digests,
}

/// The file details of the directories of `cat`: (directory id, file name) → versions, newest
/// first.
pub async fn details(
    db: &Database,
    cat: &Category,
) -> Result<HashMap<(i64, String), Vec<Version>>, StoreError> {
    type Row = (
        i64,
        i64,
        String,
        i64,
        i64,
        Option<i64>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let below = format!("{}/", cat.topdir);
    let rows: Vec<Row> = with_pool!(db, p => sqlx::query_as(
        "SELECT fd.id, fd.directory_id, fd.filename, CAST(fd.timestamp AS BIGINT), \
         CAST(fd.size AS BIGINT), CAST(fd.mtime AS BIGINT), fd.md5, fd.sha1, fd.sha256, fd.sha512 \
         FROM file_detail fd JOIN directory d ON d.id = fd.directory_id \
         WHERE d.name = $1 OR substr(d.name, 1, CAST($2 AS INTEGER)) = $3 \
         ORDER BY fd.directory_id, fd.filename, fd.timestamp DESC, fd.id DESC")
        .bind(&cat.topdir)
        .bind(below.chars().count() as i64)
        .bind(&below)
        .fetch_all(p)
        .await)?;
    let mut out: HashMap<(i64, String), Vec<Version>> = HashMap::new();
    for (id, dir, name, timestamp, size, mtime, md5, sha1, sha256, sha512) in rows {
        out.entry((dir, name)).or_default().push(Version {
            id,
            timestamp,
            size,
            mtime,
            digests: Digests {
                md5,
                sha1,
                sha256,
                sha512,
            },
        });
    }
    Ok(out)
}

/// A repository row, with its directory's name.
#[derive(Clone, Debug)]
pub struct Repository {
    pub id: i64,
    pub prefix: Option<String>,
    pub arch_id: i64,
    pub directory_id: Option<i64>,
    pub directory: Option<String>,
}

/// Every repository.
pub async fn repositories(db: &Database) -> Result<Vec<Repository>, StoreError> {
    type Row = (i64, Option<String>, i64, Option<i64>, Option<String>);
    let rows: Vec<Row> = with_pool!(db, p => sqlx::query_as(
        "SELECT r.id, r.prefix, r.arch_id, r.directory_id, d.name \
         FROM repository r LEFT JOIN directory d ON d.id = r.directory_id ORDER BY r.id")
        .fetch_all(p)
        .await)?;
    Ok(rows
        .into_iter()
        .map(
            |(id, prefix, arch_id, directory_id, directory)| Repository {
                id,
                prefix,
                arch_id,
                directory_id,
                directory,
            },
        )
        .collect())
}

/// Arch name → id.
pub async fn arches(db: &Database) -> Result<HashMap<String, i64>, StoreError> {
    let rows: Vec<(String, i64)> = with_pool!(db, p => sqlx::query_as(
        "SELECT name, id FROM arch")
        .fetch_all(p)
        .await)?;
    Ok(rows.into_iter().collect())
}

/// Version name → id, of one product.
pub async fn versions(db: &Database, product_id: i64) -> Result<HashMap<String, i64>, StoreError> {
    let rows: Vec<(String, i64)> = with_pool!(db, p => sqlx::query_as(
        "SELECT name, id FROM version WHERE product_id = $1")
        .bind(product_id)
        .fetch_all(p)
        .await)?;
    Ok(rows.into_iter().collect())
}

/// What the previous scan of a category recorded.
#[derive(Clone, Copy, Debug, Default)]
pub struct Previous {
    /// When its discovery started (epoch seconds).
    pub started: Option<i64>,
    /// The list file it read.
    pub list: Option<ListStamp>,
}

/// Scan runs looked back at for [`previous`].
const LOOK_BACK: i64 = 50;

/// The last scan that examined `category` (successfully, or found its list unchanged), from
/// the per-category summaries of the recent `scan_run` rows.
pub async fn previous(db: &Database, category: &str) -> Result<Previous, StoreError> {
    let rows: Vec<(Value,)> = with_pool!(db, p => sqlx::query_as(
        "SELECT summary FROM scan_run \
         WHERE NOT dry_run AND summary IS NOT NULL AND status <> 'running' \
         ORDER BY id DESC LIMIT $1")
        .bind(LOOK_BACK)
        .fetch_all(p)
        .await)?;
    let key = category.to_lowercase();
    for (summary,) in rows {
        let Some(cats) = summary.get("categories").and_then(Value::as_array) else {
            continue;
        };
        for c in cats {
            let name = c
                .get("category")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let status = c.get("status").and_then(Value::as_str).unwrap_or_default();
            if name.to_lowercase() == key && matches!(status, "ok" | "unchanged") {
                return Ok(Previous {
                    started: c.get("started").and_then(Value::as_i64),
                    list: c
                        .get("list")
                        .and_then(|l| serde_json::from_value(l.clone()).ok()),
                });
            }
        }
    }
    Ok(Previous::default())
}

/// Every file detail's (id, directory, file name, timestamp, recorded at), for aging.
pub async fn all_versions(
    db: &Database,
) -> Result<Vec<(i64, i64, String, i64, OffsetDateTime)>, StoreError> {
    Ok(with_pool!(db, p => sqlx::query_as(
        "SELECT id, directory_id, filename, CAST(timestamp AS BIGINT), recorded_at \
         FROM file_detail ORDER BY directory_id, filename, timestamp DESC, id DESC")
        .fetch_all(p)
        .await)?)
}
