//! Writes a category's [`Plan`] (control-plane.md §4.8): in transactions of at most
//! [`BATCH_ROWS`] rows, so that a cold scan of a Fedora-sized tree never holds the database's
//! write lock for long, each transaction bumping `meta.generation` when it changed data a
//! snapshot carries (directories, their category links, file details, mapped repositories).
//! A batch that fails rolls back alone; the batches before it stay, and the next scan
//! finishes the work.

use std::collections::HashMap;

use time::OffsetDateTime;

use super::plan::{DirRef, Plan};
use crate::db::Database;
use crate::store::import::batch::{self, Val};
use crate::store::{StoreError, Tx};
use crate::with_tx;

/// Rows written per transaction at most (§4.8).
pub const BATCH_ROWS: usize = 5_000;

/// The open batch: its transaction, rows written, and whether they change a snapshot.
pub struct Writer<'a> {
    db: &'a Database,
    tx: Option<Tx>,
    rows: usize,
    exported: bool,
    /// Generation bumps committed.
    pub bumps: u64,
    /// `meta.generation` as the last batch left it.
    pub generation: Option<i64>,
}

impl<'a> Writer<'a> {
    pub fn new(db: &'a Database) -> Writer<'a> {
        Writer {
            db,
            tx: None,
            rows: 0,
            exported: false,
            bumps: 0,
            generation: None,
        }
    }

    /// The open transaction, begun when there is none.
    async fn tx(&mut self) -> Result<&mut Tx, StoreError> {
        if self.tx.is_none() {
            let mut tx = Tx::begin(self.db).await?;
            // A write first: it takes SQLite's write lock at once (a deferred transaction
            // that reads first can fail to upgrade) and locks the meta row on PostgreSQL.
            let generation: Option<i64> = with_tx!(&mut tx, c => sqlx::query_scalar(
                "UPDATE meta SET generation = generation WHERE id = 1 \
                 RETURNING CAST(generation AS BIGINT)")
                .fetch_optional(&mut *c)
                .await?);
            if generation.is_none() {
                return Err(StoreError::NotInitialised);
            }
            self.generation = generation;
            self.tx = Some(tx);
        }
        Ok(self.tx.as_mut().expect("begun"))
    }

    /// Counts `rows` written; `exported`: they change what a snapshot carries.
    fn wrote(&mut self, rows: u64, exported: bool) {
        self.rows += rows as usize;
        self.exported |= exported && rows > 0;
    }

    /// Commits the batch when it is full.
    async fn checkpoint(&mut self) -> Result<(), StoreError> {
        if self.rows >= BATCH_ROWS {
            self.commit().await?;
        }
        Ok(())
    }

    /// Commits what is open, bumping the generation when the batch changed exported data.
    pub async fn commit(&mut self) -> Result<(), StoreError> {
        let Some(mut tx) = self.tx.take() else {
            return Ok(());
        };
        if self.exported {
            with_tx!(&mut tx, c => sqlx::query(
                "UPDATE meta SET generation = generation + 1 WHERE id = 1")
                .execute(&mut *c)
                .await
                .map(|_| ()))?;
            self.bumps += 1;
            self.generation = self.generation.map(|g| g + 1);
        }
        tx.commit().await?;
        self.rows = 0;
        self.exported = false;
        Ok(())
    }

    /// Rolls back what is open (a failed category).
    pub fn abandon(&mut self) {
        self.tx = None;
        self.rows = 0;
        self.exported = false;
    }

    /// Deletes the file versions `ids` (aging, §4.4).
    pub async fn delete_details(&mut self, ids: &[i64]) -> Result<(), StoreError> {
        for chunk in ids.chunks(BATCH_ROWS) {
            let tx = self.tx().await?;
            let n = batch::delete_ids(tx, "file_detail", chunk).await?;
            self.wrote(n, true);
            self.checkpoint().await?;
        }
        Ok(())
    }
}

/// Rows of one multi-row statement here; a batch is committed between statements.
const CHUNK: usize = 1_000;

/// Writes `plan` for category `category_id` at `now`.
pub async fn apply(
    w: &mut Writer<'_>,
    plan: &Plan,
    category_id: i64,
    product_id: i64,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    // Directories first, parents before children, each with its link.
    let mut ids: HashMap<String, i64> = HashMap::new();
    for chunk in plan.create.chunks(CHUNK) {
        let tx = w.tx().await?;
        let vals: Vec<Val<'_>> = chunk
            .iter()
            .flat_map(|d| {
                [
                    Val::Text(&d.name),
                    Val::Bool(d.readable),
                    Val::I64(d.time),
                    Val::Json(&d.samples),
                ]
            })
            .collect();
        let created: Vec<(i64, String)> = batch::insert_returning(
            tx,
            "INSERT INTO directory (name, readable, ctime, sample_files)",
            4,
            &vals,
            " RETURNING id, name",
        )
        .await?;
        let links: Vec<Val<'_>> = created
            .iter()
            .flat_map(|(id, _)| [Val::I64(category_id), Val::I64(*id)])
            .collect();
        let n = batch::insert(
            tx,
            "INSERT INTO category_directory (category_id, directory_id)",
            2,
            &links,
        )
        .await?;
        w.wrote(created.len() as u64 + n, true);
        ids.extend(created.into_iter().map(|(id, name)| (name, id)));
        w.checkpoint().await?;
    }
    for chunk in plan.link.chunks(CHUNK) {
        let tx = w.tx().await?;
        let vals: Vec<Val<'_>> = chunk
            .iter()
            .flat_map(|id| [Val::I64(category_id), Val::I64(*id)])
            .collect();
        let n = batch::insert(
            tx,
            "INSERT INTO category_directory (category_id, directory_id)",
            2,
            &vals,
        )
        .await?;
        w.wrote(n, true);
        w.checkpoint().await?;
    }
    for d in &plan.update {
        let tx = w.tx().await?;
        let n = with_tx!(tx, c => sqlx::query(
            "UPDATE directory SET readable = $1, ctime = $2, sample_files = $3, updated_at = $4 \
             WHERE id = $5")
            .bind(d.readable)
            .bind(d.time)
            .bind(&d.samples)
            .bind(now)
            .bind(d.id)
            .execute(&mut *c)
            .await?
            .rows_affected());
        w.wrote(n, false);
        w.checkpoint().await?;
    }
    // Deleted directories take their links, HCDs and file details with them; their
    // repositories are orphaned, keeping the directory's name (D11).
    for chunk in plan.delete.chunks(CHUNK) {
        let tx = w.tx().await?;
        for (id, name) in chunk {
            with_tx!(tx, c => sqlx::query(
                "UPDATE repository SET last_directory_name = $1 WHERE directory_id = $2")
                .bind(name)
                .bind(*id)
                .execute(&mut *c)
                .await
                .map(|_| ()))?;
        }
        let ids: Vec<i64> = chunk.iter().map(|(id, _)| *id).collect();
        let n = batch::delete_ids(tx, "directory", &ids).await?;
        w.wrote(n, true);
        w.checkpoint().await?;
    }
    let resolve = |dir: &DirRef| -> Result<i64, StoreError> {
        match dir {
            DirRef::Id(id) => Ok(*id),
            DirRef::New(name) => ids.get(name).copied().ok_or_else(|| {
                StoreError::Invalid(format!("the scan did not create directory {name}"))
            }),
        }
    };
    for chunk in plan.details.chunks(CHUNK) {
        let tx = w.tx().await?;
        let mut vals = Vec::with_capacity(chunk.len() * 11);
        for d in chunk {
            vals.extend([
                Val::I64(resolve(&d.dir)?),
                Val::Text(&d.filename),
                Val::I64(d.timestamp),
                Val::OptI64(Some(d.mtime)),
                Val::I64(d.size),
                Val::OptText(d.digests.md5.as_deref()),
                Val::OptText(d.digests.sha1.as_deref()),
                Val::OptText(d.digests.sha256.as_deref()),
                Val::OptText(d.digests.sha512.as_deref()),
                Val::Text(d.source.as_str()),
                Val::Time(now),
            ]);
        }
        let n = batch::insert(
            tx,
            "INSERT INTO file_detail (directory_id, filename, timestamp, mtime, size, md5, sha1, \
             sha256, sha512, source, recorded_at)",
            11,
            &vals,
        )
        .await?;
        w.wrote(n, true);
        w.checkpoint().await?;
    }
    for (id, mtime) in &plan.detail_mtimes {
        let tx = w.tx().await?;
        let n = with_tx!(tx, c => sqlx::query("UPDATE file_detail SET mtime = $1 WHERE id = $2")
            .bind(*mtime)
            .bind(*id)
            .execute(&mut *c)
            .await?
            .rows_affected());
        w.wrote(n, false);
        w.checkpoint().await?;
    }
    // Versions, then repositories.
    let mut versions: HashMap<String, i64> = HashMap::new();
    if !plan.versions.is_empty() || !plan.repos.is_empty() {
        let tx = w.tx().await?;
        for (name, is_test) in &plan.versions {
            with_tx!(tx, c => sqlx::query(
                "INSERT INTO version (product_id, name, is_test) VALUES ($1, $2, $3) \
                 ON CONFLICT (product_id, name) DO NOTHING")
                .bind(product_id)
                .bind(name)
                .bind(*is_test)
                .execute(&mut *c)
                .await
                .map(|_| ()))?;
        }
        let rows: Vec<(String, i64)> = with_tx!(tx, c => sqlx::query_as(
            "SELECT name, id FROM version WHERE product_id = $1")
            .bind(product_id)
            .fetch_all(&mut *c)
            .await?);
        versions.extend(rows);
        w.wrote(plan.versions.len() as u64, false);
    }
    for r in &plan.repos {
        let dir = resolve(&r.dir)?;
        let tx = w.tx().await?;
        let n = with_tx!(tx, c => sqlx::query(
            "INSERT INTO repository (prefix, arch_id, category_id, version_id, directory_id, \
             last_directory_name, origin, note) VALUES ($1, $2, $3, $4, $5, $6, 'scanner', $7)")
            .bind(&r.prefix)
            .bind(r.arch_id)
            .bind(category_id)
            .bind(versions.get(&r.version).copied())
            .bind(dir)
            .bind(&r.dir_name)
            .bind(&r.note)
            .execute(&mut *c)
            .await?
            .rows_affected());
        w.wrote(n, r.prefix.is_some());
        w.checkpoint().await?;
    }
    for (id, dir, name) in &plan.reattach {
        let dir = resolve(dir)?;
        let tx = w.tx().await?;
        let n = with_tx!(tx, c => sqlx::query(
            "UPDATE repository SET directory_id = $1, last_directory_name = $2, \
             category_id = $3, row_version = row_version + 1 WHERE id = $4")
            .bind(dir)
            .bind(name)
            .bind(category_id)
            .bind(*id)
            .execute(&mut *c)
            .await?
            .rows_affected());
        w.wrote(n, true);
        w.checkpoint().await?;
    }
    Ok(())
}
