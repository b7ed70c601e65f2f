//! `mirrorfleet init` and `mirrorfleet import inventory` (data-model.md §11.1,
//! control-plane.md §8.3): the database is reconciled to an inventory file by natural keys, in
//! one transaction, all or nothing.
//!
//! Code map: this file holds the report, `init` and the order of the steps; `content` the
//! products, versions, arches, categories and directories; `repos` the repositories, file
//! details, redirects, disabled repositories and geography; `mirrors` the users, sites and hosts;
//! `host_children` everything below the hosts; `batch` the multi-row statements.
//!
//! Cost: each table is read once (`host_category_dir` once per host category that existed
//! before the import), the differences are computed in memory, and rows are written in
//! multi-row statements (`batch`), so a Fedora-scale file (millions of up-to-date
//! directories) takes thousands of statements, not millions. Tables of a few hundred rows whose
//! new ids must follow the file's order (sites, hosts) are still written row by row.
//!
//! `meta.generation` is bumped once, in the same transaction, when any write changed a field
//! that drives selection (a ✔ field of data-model.md, or a row holding one); a re-import of the
//! same file writes nothing.

pub(crate) mod batch;
mod content;
mod host_children;
mod mirrors;
mod repos;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io::Read;
use std::time::{Duration, Instant};

use crate::db::Database;
use crate::inventory::Inventory;
use crate::store::{StoreError, Tx};
use crate::with_pool;
use crate::with_tx;

/// The arches `init` creates (control-plane-decisions.md D13).
pub const SEED_ARCHES: &[&str] = &[
    "x86_64", "aarch64", "ppc64le", "s390x", "i386", "armhfp", "noarch", "source",
];

/// What `init` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InitReport {
    /// The installation id (UUID text, lower case), new or existing.
    pub installation_id: String,
    /// True when this call created the `meta` row.
    pub created: bool,
    /// Countries added to `country`.
    pub countries_added: u64,
    /// Arches added.
    pub arches_added: u64,
}

/// Creates the `meta` row (with `installation_id`, else a random version-4 UUID) and seeds
/// countries and arches. Idempotent: existing rows are left alone.
pub async fn init(
    db: &Database,
    installation_id: Option<[u8; 16]>,
) -> Result<InitReport, StoreError> {
    let bytes = match installation_id {
        Some(b) => b,
        None => random_bytes()?,
    };
    let id = match installation_id {
        Some(b) => uuid::Uuid::from_bytes(b),
        None => uuid::Builder::from_random_bytes(bytes).into_uuid(),
    }
    .hyphenated()
    .to_string();
    let mut tx = Tx::begin(db).await?;
    let created = with_tx!(&mut tx, c => sqlx::query(
        "INSERT INTO meta (id, installation_id, generation) VALUES (1, $1, 0) \
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(&id)
    .execute(&mut *c)
    .await?
    .rows_affected())
        == 1;
    let mut countries_added = 0;
    for country in mirrorfleet_snapshot::countries::COUNTRIES {
        countries_added += with_tx!(&mut tx, c => sqlx::query(
            "INSERT INTO country (code, name, continent) VALUES ($1, $2, $3) \
             ON CONFLICT (code) DO NOTHING",
        )
        .bind(country.code)
        .bind(country.name)
        .bind(country.continent)
        .execute(&mut *c)
        .await?
        .rows_affected());
    }
    let mut arches_added = 0;
    for arch in SEED_ARCHES {
        arches_added += with_tx!(&mut tx, c => sqlx::query(
            "INSERT INTO arch (name) VALUES ($1) ON CONFLICT (name) DO NOTHING",
        )
        .bind(*arch)
        .execute(&mut *c)
        .await?
        .rows_affected());
    }
    tx.commit().await?;
    let installation_id: String = with_pool!(db, pool => sqlx::query_scalar(
        "SELECT installation_id FROM meta WHERE id = 1",
    )
    .fetch_one(pool)
    .await?);
    Ok(InitReport {
        installation_id,
        created,
        countries_added,
        arches_added,
    })
}

fn random_bytes() -> Result<[u8; 16], StoreError> {
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(StoreError::Random)?;
    Ok(bytes)
}

/// The object types an import reports on, in report order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ObjectKind {
    Product,
    Version,
    Arch,
    Category,
    Directory,
    CategoryDirectory,
    Repository,
    FileDetail,
    RepositoryRedirect,
    DisabledRepository,
    ContinentOverride,
    NetblockCountry,
    User,
    Site,
    SiteOwner,
    Host,
    HostNetblock,
    HostPeerAsn,
    HostAllowedCountry,
    HostCategory,
    HostCategoryUrl,
    HostCategoryDir,
}

impl ObjectKind {
    /// The table name.
    pub fn name(self) -> &'static str {
        match self {
            ObjectKind::Product => "product",
            ObjectKind::Version => "version",
            ObjectKind::Arch => "arch",
            ObjectKind::Category => "category",
            ObjectKind::Directory => "directory",
            ObjectKind::CategoryDirectory => "category_directory",
            ObjectKind::Repository => "repository",
            ObjectKind::FileDetail => "file_detail",
            ObjectKind::RepositoryRedirect => "repository_redirect",
            ObjectKind::DisabledRepository => "disabled_repository",
            ObjectKind::ContinentOverride => "continent_override",
            ObjectKind::NetblockCountry => "netblock_country",
            ObjectKind::User => "user",
            ObjectKind::Site => "site",
            ObjectKind::SiteOwner => "site_owner",
            ObjectKind::Host => "host",
            ObjectKind::HostNetblock => "host_netblock",
            ObjectKind::HostPeerAsn => "host_peer_asn",
            ObjectKind::HostAllowedCountry => "host_allowed_country",
            ObjectKind::HostCategory => "host_category",
            ObjectKind::HostCategoryUrl => "host_category_url",
            ObjectKind::HostCategoryDir => "host_category_dir",
        }
    }
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Rows created, updated and deleted of one object type. Deletions are the rows the import
/// deleted itself; rows removed by a cascade from a deleted parent are not counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub created: u64,
    pub updated: u64,
    pub deleted: u64,
}

/// What an import changed (or, in a dry run, would change).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Per object type; types without changes are absent.
    pub changes: BTreeMap<ObjectKind, Counts>,
    /// `meta.generation` before the import.
    pub generation_before: i64,
    /// `meta.generation` after it (the same when nothing that drives selection changed).
    pub generation_after: i64,
    /// True when nothing was written (the transaction was rolled back).
    pub dry_run: bool,
}

impl ImportReport {
    /// True when the file matched the database.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// The counts of one type (zero when unchanged).
    pub fn counts(&self, kind: ObjectKind) -> Counts {
        self.changes.get(&kind).copied().unwrap_or_default()
    }
}

impl fmt::Display for ImportReport {
    /// One line per changed type, then the generation.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.changes.is_empty() {
            writeln!(f, "no changes")?;
        }
        for (kind, c) in &self.changes {
            writeln!(
                f,
                "{kind}: {} created, {} updated, {} deleted",
                c.created, c.updated, c.deleted
            )?;
        }
        let verb = if self.dry_run { "would be" } else { "is" };
        write!(
            f,
            "generation {} {verb} {}",
            self.generation_before, self.generation_after
        )
    }
}

/// Reconciles the database to `inv` in one transaction (data-model.md §11.1). `inv` must come
/// from [`crate::inventory::parse_inventory`] without errors. With `dry_run`, the report is
/// computed the same way and the transaction rolled back.
pub async fn import_inventory(
    db: &Database,
    inv: &Inventory,
    dry_run: bool,
) -> Result<ImportReport, StoreError> {
    import_inventory_with_progress(db, inv, dry_run, &mut |_| {}).await
}

/// How long an import runs before it reports progress, and then how often at most.
pub const PROGRESS_EVERY: Duration = Duration::from_secs(2);

/// [`import_inventory`], telling `progress` what it is doing once it has run for
/// [`PROGRESS_EVERY`]: a line per step and, while writing up-to-date directories, at most one
/// line per [`PROGRESS_EVERY`] (a short import says nothing).
pub async fn import_inventory_with_progress(
    db: &Database,
    inv: &Inventory,
    dry_run: bool,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<ImportReport, StoreError> {
    let mut tx = Tx::begin(db).await?;
    let generation: Option<i64> = with_tx!(&mut tx, c => sqlx::query_scalar(
        // A write first: it takes SQLite's write lock at once (a deferred transaction that
        // reads first can fail to upgrade) and locks the meta row on PostgreSQL, so imports and
        // other generation bumps run one after the other.
        "UPDATE meta SET generation = generation WHERE id = 1 \
         RETURNING CAST(generation AS BIGINT)",
    )
    .fetch_optional(&mut *c)
    .await?);
    let Some(generation_before) = generation else {
        tx.rollback().await?;
        return Err(StoreError::NotInitialised);
    };
    let report = ImportReport {
        generation_before,
        generation_after: generation_before,
        dry_run,
        ..ImportReport::default()
    };
    let mut im = Importer::new(tx, inv, report, progress);
    im.run_with_cache().await?;
    im.progress.step(if dry_run {
        "rolling back (dry run)"
    } else {
        "committing"
    });
    if im.selection_changed {
        with_tx!(&mut im.tx, c => sqlx::query(
            "UPDATE meta SET generation = generation + 1 WHERE id = 1",
        )
        .execute(&mut *c)
        .await?
                    .rows_affected());
        im.report.generation_after = generation_before + 1;
    }
    if dry_run {
        im.tx.rollback().await?;
        return Ok(im.report);
    }
    im.tx.commit().await?;
    vacuum_analyze(db, &im.report, &mut im.progress).await;
    Ok(im.report)
}

/// Reconciles the database to `inv` inside the caller's open transaction, which `import mm2`
/// surrounds with steps of its own (control-plane.md §8.1); returns the transaction, still
/// open, and the report. `meta.generation` is neither read nor bumped: the caller decides.
/// `inv` must come from [`crate::inventory::parse_inventory`] without errors. On an error the
/// transaction is dropped, which rolls it back.
pub(crate) async fn reconcile_in(
    tx: Tx,
    inv: &Inventory,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<(Tx, ImportReport), StoreError> {
    let mut im = Importer::new(tx, inv, ImportReport::default(), progress);
    im.run_with_cache().await?;
    Ok((im.tx, im.report))
}

/// On PostgreSQL, after a commit that changed many rows of some tables (a fresh Fedora-scale
/// import writes 9.6 million `host_category_dir` rows): `VACUUM (ANALYZE)` of those tables.
/// Without it the publisher's first read finds no planner statistics (its queries are then
/// misjudged, and JIT-compiled) and sets the hint bits of every new row, which made the first
/// publish after such an import 2 s slower than the next ones, until autovacuum got there.
/// The import is committed by then: a failure is reported and otherwise ignored. SQLite plans
/// these queries alike without statistics.
async fn vacuum_analyze(db: &Database, report: &ImportReport, progress: &mut Progress<'_>) {
    if db.backend() != crate::db::Backend::Postgres {
        return;
    }
    let tables: Vec<&str> = report
        .changes
        .iter()
        .filter(|(_, c)| c.created + c.updated + c.deleted >= VACUUM_AFTER)
        .map(|(kind, _)| match kind {
            ObjectKind::User => "users",
            kind => kind.name(),
        })
        .collect();
    if tables.is_empty() {
        return;
    }
    progress.step("vacuuming and analysing the tables it filled");
    if let Err(e) = db
        .execute(&format!("VACUUM (ANALYZE) {}", tables.join(", ")))
        .await
    {
        progress.say(&format!(
            "committed; VACUUM (ANALYZE) {} failed ({e}); autovacuum will catch up",
            tables.join(", ")
        ));
    }
}

/// Rows of one table an import must change before it vacuums and analyses that table on
/// PostgreSQL ([`vacuum_analyze`]).
const VACUUM_AFTER: u64 = 10_000;

/// SQLite's page cache during an import (`PRAGMA cache_size`, negative: KiB): 512 MiB. With
/// the default 2 MiB a Fedora-scale import (a 450 MB database, millions of rows into the
/// `host_category_dir` indexes in one transaction) spends most of its time spilling pages to
/// the WAL and reading them back; the cache only grows as pages are used.
const SQLITE_IMPORT_CACHE: i64 = -512 * 1024;

/// On SQLite, sets the connection's `cache_size` and returns the previous value; on
/// PostgreSQL, nothing.
async fn sqlite_cache_size(tx: &mut Tx, value: i64) -> Result<Option<i64>, StoreError> {
    let Tx::Sqlite(t) = tx else {
        return Ok(None);
    };
    let old: i64 = sqlx::query_scalar("PRAGMA cache_size")
        .fetch_one(&mut **t)
        .await?;
    sqlx::query(&format!("PRAGMA cache_size = {value}"))
        .execute(&mut **t)
        .await?;
    // Statement journals (each multi-row INSERT keeps one, to undo itself on a constraint
    // error) in memory rather than in temporary files.
    let temp = if value == SQLITE_IMPORT_CACHE {
        "MEMORY"
    } else {
        "DEFAULT"
    };
    sqlx::query(&format!("PRAGMA temp_store = {temp}"))
        .execute(&mut **t)
        .await?;
    Ok(Some(old))
}

/// One import in progress: the transaction, the report and the ids resolved so far.
struct Importer<'a> {
    tx: Tx,
    inv: &'a Inventory,
    report: ImportReport,
    /// Some write changed a field that drives selection.
    selection_changed: bool,
    /// product name key → id.
    products: HashMap<String, i64>,
    /// arch name → id.
    arches: HashMap<String, i64>,
    /// category name key → (id, product id, topdir).
    categories: HashMap<String, (i64, i64, String)>,
    /// directory name → id.
    directories: HashMap<String, i64>,
    progress: Progress<'a>,
}

/// Progress lines for a long import.
impl<'a> Importer<'a> {
    /// An importer of `inv` writing in `tx`, nothing looked up yet.
    fn new(
        tx: Tx,
        inv: &'a Inventory,
        report: ImportReport,
        progress: &'a mut (dyn FnMut(&str) + Send),
    ) -> Importer<'a> {
        Importer {
            tx,
            inv,
            report,
            selection_changed: false,
            products: HashMap::new(),
            arches: HashMap::new(),
            categories: HashMap::new(),
            directories: HashMap::new(),
            progress: Progress {
                start: Instant::now(),
                last: None,
                sink: progress,
            },
        }
    }
}

struct Progress<'a> {
    start: Instant,
    /// When the last line was given.
    last: Option<Instant>,
    sink: &'a mut (dyn FnMut(&str) + Send),
}

impl Progress<'_> {
    /// A new step begins: said once the import has run for [`PROGRESS_EVERY`].
    fn step(&mut self, what: &str) {
        if self.start.elapsed() >= PROGRESS_EVERY {
            self.say(what);
        }
    }

    /// Work goes on: said at most every [`PROGRESS_EVERY`].
    fn tick(&mut self, what: impl FnOnce() -> String) {
        let due = match self.last {
            Some(t) => t.elapsed() >= PROGRESS_EVERY,
            None => self.start.elapsed() >= PROGRESS_EVERY,
        };
        if due {
            self.say(&what());
        }
    }

    fn say(&mut self, what: &str) {
        self.last = Some(Instant::now());
        (self.sink)(&format!(
            "import: [{:.1} s] {what}",
            self.start.elapsed().as_secs_f64()
        ));
    }
}

/// How a row changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Change {
    Created,
    Updated,
    Deleted,
}

impl Importer<'_> {
    /// [`Importer::run`] with SQLite's larger import cache, restored afterwards.
    async fn run_with_cache(&mut self) -> Result<(), StoreError> {
        let old_cache = sqlite_cache_size(&mut self.tx, SQLITE_IMPORT_CACHE).await?;
        // Any error drops the transaction, which rolls it back.
        let result = self.run().await;
        // The pooled connection gets its usual cache back (dirty pages are written first).
        let restored = match old_cache {
            Some(old) => sqlite_cache_size(&mut self.tx, old).await.map(|_| ()),
            None => Ok(()),
        };
        result?;
        restored
    }

    async fn run(&mut self) -> Result<(), StoreError> {
        self.delete_categories().await?;
        self.products_and_versions().await?;
        self.arches().await?;
        self.categories().await?;
        self.progress.step("directories");
        self.directories().await?;
        self.progress.step("repositories and file details");
        self.repositories().await?;
        self.file_details().await?;
        self.redirects_and_disabled().await?;
        self.geography().await?;
        self.delete_products().await?;
        self.progress.step("sites and hosts");
        self.sites_and_hosts().await?;
        Ok(())
    }

    /// Records one change; `selection`: it touched a field that drives selection.
    fn note(&mut self, kind: ObjectKind, change: Change, selection: bool) {
        self.note_n(kind, change, 1, selection);
    }

    /// Records `n` changes of one kind (nothing when `n` is 0).
    fn note_n(&mut self, kind: ObjectKind, change: Change, n: u64, selection: bool) {
        if n == 0 {
            return;
        }
        let c = self.report.changes.entry(kind).or_default();
        match change {
            Change::Created => c.created += n,
            Change::Updated => c.updated += n,
            Change::Deleted => c.deleted += n,
        }
        self.selection_changed |= selection;
    }
}
