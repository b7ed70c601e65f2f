//! Repositories, file details (repomd.xml histories and other files), repository redirects,
//! disabled repositories, continent overrides and netblock countries.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::batch::{self, Val};
use super::content::missing;
use super::{Change, Importer, ObjectKind};
use crate::inventory::FileVersion;
use crate::inventory::model::{folded, full_name};
use crate::inventory::tree::repodata_of;
use crate::store::StoreError;
use crate::with_tx;

/// A repository as the file wants it, with references resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
struct RepoRow {
    prefix: Option<String>,
    arch_id: i64,
    category_id: i64,
    version_id: Option<i64>,
    directory_id: Option<i64>,
}

/// Natural key: (prefix, arch) for a mapped repository, (category, directory) otherwise.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum RepoKey {
    Mapped(String, i64),
    Unmapped(i64, Option<i64>),
}

impl RepoRow {
    fn key(&self) -> RepoKey {
        match &self.prefix {
            Some(p) => RepoKey::Mapped(p.clone(), self.arch_id),
            None => RepoKey::Unmapped(self.category_id, self.directory_id),
        }
    }
}

/// Natural key of a file version: directory, file name, timestamp, size and digests.
type FileKey = (
    i64,
    String,
    i64,
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn file_key(dir_id: i64, name: &str, v: &FileVersion) -> FileKey {
    (
        dir_id,
        name.to_string(),
        v.timestamp,
        v.size as i64,
        v.md5.clone(),
        v.sha1.clone(),
        v.sha256.clone(),
        v.sha512.clone(),
    )
}

impl Importer<'_> {
    fn directory_id(&self, topdir: &str, rel: &str) -> Result<i64, StoreError> {
        let name = full_name(topdir, rel);
        self.directories
            .get(&name)
            .copied()
            .ok_or_else(|| missing("directory", &name))
    }

    /// Reconciles the repositories by natural key.
    pub(super) async fn repositories(&mut self) -> Result<(), StoreError> {
        let versions: Vec<(i64, i64, String)> = with_tx!(&mut self.tx, c => sqlx::query_as(
            "SELECT id, product_id, name FROM version",
        )
        .fetch_all(&mut *c)
        .await?);
        let versions: HashMap<(i64, String), i64> = versions
            .into_iter()
            .map(|(id, product, name)| ((product, name), id))
            .collect();
        let inv = self.inv;
        let mut wanted: Vec<(RepoRow, Option<String>)> = Vec::new();
        for r in &inv.repositories {
            let (category_id, product_id, topdir) = self
                .categories
                .get(&folded(&r.category))
                .cloned()
                .ok_or_else(|| missing("category", &r.category))?;
            let arch_id = *self
                .arches
                .get(&r.arch)
                .ok_or_else(|| missing("arch", &r.arch))?;
            let version_id = match &r.version {
                Some(v) => Some(
                    *versions
                        .get(&(product_id, v.clone()))
                        .ok_or_else(|| missing("version", v))?,
                ),
                None => None,
            };
            let (directory_id, dir_name) = match &r.dir {
                Some(d) => (
                    Some(self.directory_id(&topdir, d)?),
                    Some(full_name(&topdir, d)),
                ),
                None => (None, None),
            };
            let row = RepoRow {
                prefix: r.prefix.clone(),
                arch_id,
                category_id,
                version_id,
                directory_id,
            };
            wanted.push((row, dir_name));
        }
        type Row = (i64, Option<String>, i64, i64, Option<i64>, Option<i64>);
        let rows: Vec<Row> = with_tx!(&mut self.tx, c => sqlx::query_as(
            "SELECT id, prefix, arch_id, category_id, version_id, directory_id FROM repository \
             ORDER BY id",
        )
        .fetch_all(&mut *c)
        .await?);
        let wanted_keys: HashSet<RepoKey> = wanted.iter().map(|(r, _)| r.key()).collect();
        let mut existing: HashMap<RepoKey, (i64, RepoRow)> = HashMap::new();
        let mut gone = Vec::new();
        for (id, prefix, arch_id, category_id, version_id, directory_id) in rows {
            let row = RepoRow {
                prefix,
                arch_id,
                category_id,
                version_id,
                directory_id,
            };
            let key = row.key();
            if wanted_keys.contains(&key) && !existing.contains_key(&key) {
                existing.insert(key, (id, row));
            } else {
                gone.push(id);
            }
        }
        let n = batch::delete_ids(&mut self.tx, "repository", &gone).await?;
        self.note_n(ObjectKind::Repository, Change::Deleted, n, true);
        // Updates first, one by one (rare), then the new rows in file order.
        let mut new = Vec::new();
        for (row, dir_name) in &wanted {
            match existing.get(&row.key()) {
                Some((_, old)) if old == row => {}
                Some((id, old)) => {
                    let selection = old.prefix != row.prefix
                        || old.arch_id != row.arch_id
                        || old.directory_id != row.directory_id;
                    with_tx!(&mut self.tx, c => sqlx::query(
                        "UPDATE repository SET prefix = $1, arch_id = $2, category_id = $3, \
                         version_id = $4, directory_id = $5, last_directory_name = \
                         coalesce($6, last_directory_name), row_version = row_version + 1 \
                         WHERE id = $7",
                    )
                    .bind(&row.prefix)
                    .bind(row.arch_id)
                    .bind(row.category_id)
                    .bind(row.version_id)
                    .bind(row.directory_id)
                    .bind(dir_name)
                    .bind(*id)
                    .execute(&mut *c)
                    .await?
                    .rows_affected());
                    self.note(ObjectKind::Repository, Change::Updated, selection);
                }
                None => new.extend([
                    Val::OptText(row.prefix.as_deref()),
                    Val::I64(row.arch_id),
                    Val::I64(row.category_id),
                    Val::OptI64(row.version_id),
                    Val::OptI64(row.directory_id),
                    Val::OptText(dir_name.as_deref()),
                    Val::Sql("'import'"),
                ]),
            }
        }
        let n = batch::insert(
            &mut self.tx,
            "INSERT INTO repository (prefix, arch_id, category_id, version_id, directory_id, \
             last_directory_name, origin)",
            7,
            &new,
        )
        .await?;
        self.note_n(ObjectKind::Repository, Change::Created, n, true);
        Ok(())
    }

    /// Reconciles `file_detail`: every repository's repomd.xml history and every `files`
    /// entry; versions are matched by their natural key, `mtime` is updated in place.
    pub(super) async fn file_details(&mut self) -> Result<(), StoreError> {
        let inv = self.inv;
        // Wanted versions with their mtime, in insertion order.
        let mut wanted: Vec<(FileKey, Option<i64>)> = Vec::new();
        for r in &inv.repositories {
            let Some(dir) = &r.dir else { continue };
            let (_, _, topdir) = self.categories[&folded(&r.category)].clone();
            let dir_id = self.directory_id(&topdir, &repodata_of(dir))?;
            // Reverse file order: among equal timestamps the first listed gets the
            // highest id, so it sorts first (history order is timestamp, then id, descending).
            for v in r.repomd.iter().rev() {
                wanted.push((file_key(dir_id, "repomd.xml", v), v.mtime));
            }
        }
        for f in &inv.files {
            let (_, _, topdir) = self
                .categories
                .get(&folded(&f.category))
                .cloned()
                .ok_or_else(|| missing("category", &f.category))?;
            let dir_id = self.directory_id(&topdir, &f.dir)?;
            for v in f.history.iter().rev() {
                wanted.push((file_key(dir_id, &f.name, v), v.mtime));
            }
        }
        type Row = (
            i64,
            i64,
            String,
            i64,
            i64,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<i64>,
        );
        let rows: Vec<Row> = with_tx!(&mut self.tx, c => sqlx::query_as(
            "SELECT id, directory_id, filename, timestamp, size, md5, sha1, sha256, sha512, mtime \
             FROM file_detail ORDER BY id",
        )
        .fetch_all(&mut *c)
        .await?);
        let wanted_keys: HashSet<&FileKey> = wanted.iter().map(|(k, _)| k).collect();
        let mut existing: HashMap<FileKey, (i64, Option<i64>)> = HashMap::new();
        let mut gone = Vec::new();
        for (id, dir, name, ts, size, md5, sha1, sha256, sha512, mtime) in rows {
            let key = (dir, name, ts, size, md5, sha1, sha256, sha512);
            if wanted_keys.contains(&key) {
                existing.insert(key, (id, mtime));
            } else {
                gone.push(id);
            }
        }
        let n = batch::delete_ids(&mut self.tx, "file_detail", &gone).await?;
        self.note_n(ObjectKind::FileDetail, Change::Deleted, n, true);
        // mtime updates one by one, then the new versions in order (ids follow it).
        let mut new = Vec::new();
        for (key, mtime) in &wanted {
            let mtime = *mtime;
            match existing.get(key) {
                Some(&(_, old)) if old == mtime => {}
                Some(&(id, _)) => {
                    with_tx!(&mut self.tx, c => sqlx::query(
                        "UPDATE file_detail SET mtime = $1 WHERE id = $2",
                    )
                    .bind(mtime)
                    .bind(id)
                    .execute(&mut *c)
                    .await?
                    .rows_affected());
                    self.note(ObjectKind::FileDetail, Change::Updated, false);
                }
                None => {
                    let (dir, name, ts, size, md5, sha1, sha256, sha512) = key;
                    new.extend([
                        Val::I64(*dir),
                        Val::Text(name),
                        Val::I64(*ts),
                        Val::OptI64(mtime),
                        Val::I64(*size),
                        Val::OptText(md5.as_deref()),
                        Val::OptText(sha1.as_deref()),
                        Val::OptText(sha256.as_deref()),
                        Val::OptText(sha512.as_deref()),
                        Val::Sql("'import'"),
                    ]);
                }
            }
        }
        let n = batch::insert(
            &mut self.tx,
            "INSERT INTO file_detail (directory_id, filename, timestamp, mtime, size, md5, sha1, \
             sha256, sha512, source)",
            10,
            &new,
        )
        .await?;
        self.note_n(ObjectKind::FileDetail, Change::Created, n, true);
        Ok(())
    }

    /// Reconciles `repository_redirect` and `disabled_repository`.
    pub(super) async fn redirects_and_disabled(&mut self) -> Result<(), StoreError> {
        let rows: Vec<(i64, String, String)> = with_tx!(&mut self.tx, c => sqlx::query_as(
            "SELECT id, from_prefix, to_prefix FROM repository_redirect",
        )
        .fetch_all(&mut *c)
        .await?);
        let inv = self.inv;
        self.keyed_text(
            ObjectKind::RepositoryRedirect,
            rows,
            &inv.repo_redirects,
            Sql {
                delete: "DELETE FROM repository_redirect WHERE id = $1",
                update: "UPDATE repository_redirect SET to_prefix = $1, \
                         row_version = row_version + 1 WHERE id = $2",
                insert: "INSERT INTO repository_redirect (from_prefix, to_prefix) VALUES ($1, $2)",
            },
            true,
        )
        .await?;
        let rows: Vec<(i64, String, Option<String>)> = with_tx!(&mut self.tx, c => sqlx::query_as(
            "SELECT id, prefix, reason FROM disabled_repository",
        )
        .fetch_all(&mut *c)
        .await?);
        let wanted: BTreeMap<&str, &Option<String>> = inv
            .disabled_repos
            .iter()
            .map(|d| (d.prefix.as_str(), &d.reason))
            .collect();
        let mut existing = HashMap::new();
        for (id, prefix, reason) in rows {
            if wanted.contains_key(prefix.as_str()) {
                existing.insert(prefix, (id, reason));
            } else {
                with_tx!(&mut self.tx, c => sqlx::query(
                    "DELETE FROM disabled_repository WHERE id = $1",
                )
                .bind(id)
                .execute(&mut *c)
                .await?
                    .rows_affected());
                self.note(ObjectKind::DisabledRepository, Change::Deleted, true);
            }
        }
        for d in &inv.disabled_repos {
            match existing.get(&d.prefix) {
                Some((_, reason)) if *reason == d.reason => {}
                Some((id, _)) => {
                    with_tx!(&mut self.tx, c => sqlx::query(
                        "UPDATE disabled_repository SET reason = $1, \
                         row_version = row_version + 1 WHERE id = $2",
                    )
                    .bind(&d.reason)
                    .bind(*id)
                    .execute(&mut *c)
                    .await?
                    .rows_affected());
                    self.note(ObjectKind::DisabledRepository, Change::Updated, false);
                }
                None => {
                    with_tx!(&mut self.tx, c => sqlx::query(
                        "INSERT INTO disabled_repository (prefix, reason) VALUES ($1, $2)",
                    )
                    .bind(&d.prefix)
                    .bind(&d.reason)
                    .execute(&mut *c)
                    .await?
                    .rows_affected());
                    self.note(ObjectKind::DisabledRepository, Change::Created, true);
                }
            }
        }
        Ok(())
    }

    /// Reconciles `continent_override` and `netblock_country`.
    pub(super) async fn geography(&mut self) -> Result<(), StoreError> {
        let inv = self.inv;
        let rows: Vec<(i64, String, String)> = with_tx!(&mut self.tx, c => sqlx::query_as(
            "SELECT id, country, continent FROM continent_override",
        )
        .fetch_all(&mut *c)
        .await?);
        self.keyed_text(
            ObjectKind::ContinentOverride,
            rows,
            &inv.continent_overrides,
            Sql {
                delete: "DELETE FROM continent_override WHERE id = $1",
                update: "UPDATE continent_override SET continent = $1, \
                         row_version = row_version + 1 WHERE id = $2",
                insert: "INSERT INTO continent_override (country, continent) VALUES ($1, $2)",
            },
            true,
        )
        .await?;
        let rows: Vec<(i64, String, String)> = with_tx!(&mut self.tx, c => sqlx::query_as(
            "SELECT id, netblock, country FROM netblock_country",
        )
        .fetch_all(&mut *c)
        .await?);
        let wanted: BTreeMap<String, String> = inv
            .netblock_countries
            .iter()
            .map(|(net, cc)| (net.to_string(), cc.clone()))
            .collect();
        self.keyed_text(
            ObjectKind::NetblockCountry,
            rows,
            &wanted,
            Sql {
                delete: "DELETE FROM netblock_country WHERE id = $1",
                update: "UPDATE netblock_country SET country = $1, \
                         row_version = row_version + 1 WHERE id = $2",
                insert: "INSERT INTO netblock_country (netblock, country) VALUES ($1, $2)",
            },
            true,
        )
        .await
    }

    /// Reconciles a table of (id, key, value) text rows to `wanted`.
    async fn keyed_text(
        &mut self,
        kind: ObjectKind,
        rows: Vec<(i64, String, String)>,
        wanted: &BTreeMap<String, String>,
        sql: Sql,
        selection: bool,
    ) -> Result<(), StoreError> {
        let mut existing = HashMap::new();
        for (id, key, value) in rows {
            if wanted.contains_key(&key) {
                existing.insert(key, (id, value));
            } else {
                with_tx!(&mut self.tx, c => sqlx::query(sql.delete)
                    .bind(id)
                    .execute(&mut *c)
                    .await?
                    .rows_affected());
                self.note(kind, Change::Deleted, selection);
            }
        }
        for (key, value) in wanted {
            match existing.get(key) {
                Some((_, old)) if old == value => {}
                Some((id, _)) => {
                    with_tx!(&mut self.tx, c => sqlx::query(sql.update)
                        .bind(value)
                        .bind(*id)
                        .execute(&mut *c)
                        .await?
                    .rows_affected());
                    self.note(kind, Change::Updated, selection);
                }
                None => {
                    with_tx!(&mut self.tx, c => sqlx::query(sql.insert)
                        .bind(key)
                        .bind(value)
                        .execute(&mut *c)
                        .await?
                    .rows_affected());
                    self.note(kind, Change::Created, selection);
                }
            }
        }
        Ok(())
    }
}

/// The statements of [`Importer::keyed_text`].
struct Sql {
    delete: &'static str,
    update: &'static str,
    insert: &'static str,
}
