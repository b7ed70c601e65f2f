//! The master-tree scanner (control-plane.md §4, MirrorManager2's
//! update-master-directory-list): it records what mirrors should have: the directories of
//! each category's tree, the crawler's sample files, file details with their history
//! (`repomd.xml`, ostree `summary`, files named in checksum files), and repositories mapped
//! by rules.
//!
//! One category at a time: read what the database knows ([`state`]), find the tree on the
//! master by walking it or reading its list file ([`discover`], [`listfile`]; incremental: an
//! unchanged directory costs one `stat`), read the files that changed on a bounded pool
//! ([`read`], with the hashing and parsers of [`details`]), decide every change in memory
//! ([`plan`], with the mapping rules of [`repomap`]), then write it in batches that bump the
//! generation when a snapshot would change ([`apply`]). Finally file versions age out
//! ([`aging`]). [`scan`] is the library entry point; [`cmd`] is `mirrorfleet scan` and
//! `mirrorfleet repomap test`, [`job`] the scheduled scan inside `serve`. A CLI scan and
//! `serve`'s never run at once: both take the scanner lock (`publish::lock::SCAN_JOB`).

pub mod aging;
pub mod apply;
pub mod cmd;
pub mod details;
pub mod discover;
pub mod job;
pub mod listfile;
pub mod plan;
pub mod read;
pub mod repomap;
pub mod report;
pub mod settings;
pub mod state;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use time::OffsetDateTime;

use crate::db::Database;
use crate::publish::lock::{JobLock, SCAN_JOB};
use crate::store::StoreError;
use crate::with_pool;
use discover::{Counters, DiscoverError, Walk};
use listfile::Listed;
use plan::Inputs;
use read::{file_jobs, read_files};
pub use report::{CategoryReport, ScanReport, Status, TreeSource};
pub use settings::{Master, ScanSettings};

/// How long a scan runs before it reports progress, and then how often.
pub const PROGRESS_EVERY: Duration = Duration::from_secs(2);

/// Who started a scan (`scan_run.triggered_by`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    Cli,
    Schedule,
}

impl Trigger {
    fn as_str(self) -> &'static str {
        match self {
            Trigger::Cli => "cli",
            Trigger::Schedule => "schedule",
        }
    }
}

/// What to scan and how.
#[derive(Clone, Debug)]
pub struct ScanOptions {
    /// Categories to scan (names of `[[scanner.master]]` entries); empty: all of them.
    pub categories: Vec<String>,
    /// List every directory and hash every file, as if nothing were known.
    pub full: bool,
    /// Decide and report, write nothing.
    pub dry_run: bool,
    /// Delete more than `scanner.max_delete_fraction` of a category's directories.
    pub force: bool,
    pub trigger: Trigger,
    /// How long to wait for the scanner lock.
    pub lock_timeout: Duration,
    /// The clock (`recorded_at`, aging); `None`: the system's. Tests move it.
    pub now: Option<OffsetDateTime>,
    /// Set to stop the scan between directories and between categories.
    pub cancel: Arc<AtomicBool>,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            categories: Vec::new(),
            full: false,
            dry_run: false,
            force: false,
            trigger: Trigger::Cli,
            lock_timeout: Duration::from_secs(300),
            now: None,
            cancel: Arc::new(AtomicBool::new(false)),
        }
    }
}

/// Why a scan did not run, or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error(
        "no [[scanner.master]] is configured: add one per category to scan (docs/configuration.md)"
    )]
    NoMasters,
    #[error("no [[scanner.master]] entry for category {0:?} (configured: {1})")]
    UnknownCategory(String, String),
    /// The scanner lock stayed with another process.
    #[error("{0}")]
    Busy(String),
    #[error("the scan was stopped")]
    Cancelled,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ScanError {
    /// The command's exit status: 2 for usage errors, 1 otherwise.
    pub fn exit_status(&self) -> u8 {
        match self {
            ScanError::NoMasters | ScanError::UnknownCategory(..) => 2,
            _ => 1,
        }
    }
}

impl From<sqlx::Error> for ScanError {
    fn from(e: sqlx::Error) -> Self {
        ScanError::Store(e.into())
    }
}

/// Scans the categories of `opts` (control-plane.md §4), taking the scanner lock (not for a
/// dry run, which writes nothing) and recording the run in `scan_run`. `progress` gets a line
/// every [`PROGRESS_EVERY`] once the scan has run that long. A category that fails is in the
/// report ([`ScanReport::failed`]); the others go on.
pub async fn scan(
    db: &Database,
    settings: &ScanSettings,
    opts: &ScanOptions,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<ScanReport, ScanError> {
    let masters = select(settings, &opts.categories)?;
    let (installation_id, generation_before): (Option<String>, Option<i64>) = with_pool!(db, p =>
        sqlx::query_as("SELECT installation_id, CAST(generation AS BIGINT) FROM meta WHERE id = 1")
            .fetch_optional(p)
            .await)?
    .map_or((None, None), |(i, g)| (Some(i), Some(g)));
    let (Some(installation_id), Some(generation_before)) = (installation_id, generation_before)
    else {
        return Err(StoreError::NotInitialised.into());
    };
    let lock = if opts.dry_run {
        None
    } else {
        let on_wait = &mut |holder: &str| {
            progress(&format!(
                "scan: waiting for the scanner lock, held by {holder}"
            ))
        };
        Some(
            JobLock::acquire_job(
                &SCAN_JOB,
                db,
                &settings.data_dir,
                &installation_id,
                opts.lock_timeout,
                on_wait,
            )
            .await
            .map_err(|e| ScanError::Busy(format!("{e:#}")))?,
        )
    };
    let run_id = if opts.dry_run {
        None
    } else {
        Some(start_run(db, opts).await?)
    };
    let mut scanner = Scanner {
        db,
        settings,
        opts,
        now: opts.now.unwrap_or_else(OffsetDateTime::now_utc),
        run_id,
        progress: Progress {
            start: Instant::now(),
            last: None,
            sink: progress,
        },
        writer: apply::Writer::new(db),
        report: ScanReport {
            generation_before,
            generation_after: generation_before,
            dry_run: opts.dry_run,
            ..ScanReport::default()
        },
    };
    let result = scanner.run(&masters).await;
    let report = scanner.report;
    if let Some(id) = run_id {
        finish_run(db, id, &report, result.as_ref().err()).await;
    }
    if let Some(lock) = lock {
        lock.release().await;
    }
    result.map(|_| report)
}

/// The masters to scan: those named, or all.
fn select<'s>(settings: &'s ScanSettings, names: &[String]) -> Result<Vec<&'s Master>, ScanError> {
    if settings.masters.is_empty() {
        return Err(ScanError::NoMasters);
    }
    if names.is_empty() {
        return Ok(settings.masters.iter().collect());
    }
    names
        .iter()
        .map(|n| {
            settings
                .masters
                .iter()
                .find(|m| m.category.to_lowercase() == n.to_lowercase())
                .ok_or_else(|| {
                    let known: Vec<String> = settings
                        .masters
                        .iter()
                        .map(|m| format!("{:?}", m.category))
                        .collect();
                    ScanError::UnknownCategory(n.clone(), known.join(", "))
                })
        })
        .collect()
}

async fn start_run(db: &Database, opts: &ScanOptions) -> Result<i64, ScanError> {
    Ok(with_pool!(db, p => sqlx::query_scalar(
        "INSERT INTO scan_run (status, full_scan, dry_run, triggered_by) \
         VALUES ('running', $1, FALSE, $2) RETURNING id")
        .bind(opts.full)
        .bind(opts.trigger.as_str())
        .fetch_one(p)
        .await)?)
}

/// Records how the run ended; a failure to record it is logged (the scan itself is done).
async fn finish_run(db: &Database, id: i64, report: &ScanReport, error: Option<&ScanError>) {
    let status = match error {
        None if report.failed() => "failed",
        None => "ok",
        Some(ScanError::Cancelled) => "aborted",
        Some(_) => "failed",
    };
    let summary = serde_json::to_value(report).unwrap_or_default();
    let error = error.map(ToString::to_string).or_else(|| {
        report
            .categories
            .iter()
            .find(|c| c.status == Status::Failed)
            .map(|c| format!("{}: {}", c.category, c.errors.join("; ")))
    });
    let done = with_pool!(db, p => sqlx::query(
        "UPDATE scan_run SET status = $1, finished_at = $2, summary = $3, error = $4 WHERE id = $5")
        .bind(status)
        .bind(OffsetDateTime::now_utc())
        .bind(&summary)
        .bind(&error)
        .bind(id)
        .execute(p)
        .await
        .map(|_| ()));
    if let Err(e) = done {
        tracing::error!("cannot record the end of scan run {id}: {e}");
    }
}

/// Progress lines for a long scan, like the inventory import's.
struct Progress<'a> {
    start: Instant,
    last: Option<Instant>,
    sink: &'a mut (dyn FnMut(&str) + Send),
}

impl Progress<'_> {
    /// Whether a line is due.
    fn due(&self) -> bool {
        match self.last {
            Some(t) => t.elapsed() >= PROGRESS_EVERY,
            None => self.start.elapsed() >= PROGRESS_EVERY,
        }
    }

    fn say(&mut self, what: &str) {
        self.last = Some(Instant::now());
        (self.sink)(&format!(
            "scan: [{:.1} s] {what}",
            self.start.elapsed().as_secs_f64()
        ));
    }
}

/// One scan in progress.
struct Scanner<'a> {
    db: &'a Database,
    settings: &'a ScanSettings,
    opts: &'a ScanOptions,
    now: OffsetDateTime,
    run_id: Option<i64>,
    progress: Progress<'a>,
    writer: apply::Writer<'a>,
    report: ScanReport,
}

impl Scanner<'_> {
    async fn run(&mut self, masters: &[&Master]) -> Result<(), ScanError> {
        for master in masters {
            if self.opts.cancel.load(Ordering::Relaxed) {
                return Err(ScanError::Cancelled);
            }
            let mut report = CategoryReport {
                category: master.category.clone(),
                ..CategoryReport::default()
            };
            let mut outcome = self.category(master, &mut report).await;
            // Whatever is open belongs to this category: committed, or rolled back with it.
            if outcome.is_ok() {
                outcome = self.writer.commit().await.map_err(ScanError::from);
            } else {
                self.writer.abandon();
            }
            match outcome {
                Ok(()) => {}
                Err(ScanError::Cancelled) => {
                    report.status = Status::Failed;
                    report.errors.push("stopped".to_string());
                    self.report.categories.push(report);
                    return Err(ScanError::Cancelled);
                }
                Err(e) => {
                    report.status = Status::Failed;
                    report.errors.push(e.to_string());
                }
            }
            self.report.categories.push(report);
        }
        self.age().await?;
        self.writer.commit().await?;
        self.report.generation_after = if self.opts.dry_run {
            self.report.generation_before + i64::from(self.would_bump())
        } else {
            self.report.generation_before + self.writer.bumps as i64
        };
        Ok(())
    }

    /// In a dry run: whether the writes would have bumped the generation.
    fn would_bump(&self) -> bool {
        self.report.aged_out > 0
            || self.report.categories.iter().any(|c| {
                c.status == Status::Ok
                    && (c.created
                        + c.deleted
                        + c.details_added
                        + c.created_repos.len() as u64
                        + c.reattached.len() as u64
                        > 0)
            })
    }

    /// Runs `f` on a blocking thread, giving a progress line (and updating the run's
    /// `progress`) every [`PROGRESS_EVERY`] meanwhile.
    async fn blocking<T: Send + 'static>(
        &mut self,
        category: &str,
        counters: &Arc<Counters>,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> T {
        let mut handle = tokio::task::spawn_blocking(f);
        loop {
            tokio::select! {
                done = &mut handle => return done.expect("a scanner thread panicked"),
                _ = tokio::time::sleep(Duration::from_millis(100)) => {
                    if self.progress.due() {
                        self.tell(category, counters).await;
                    }
                }
            }
        }
    }

    async fn tell(&mut self, category: &str, counters: &Counters) {
        let n = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        let (seen, listed, hashed) = (n(&counters.seen), n(&counters.listed), n(&counters.hashed));
        self.progress.say(&format!(
            "{category}: {seen} directories seen, {listed} new or changed, {hashed} files hashed"
        ));
        if let Some(id) = self.run_id {
            let progress =
                json!({"category": category, "seen": seen, "listed": listed, "hashed": hashed});
            let _ = with_pool!(self.db, p => sqlx::query("UPDATE scan_run SET progress = $1 WHERE id = $2")
                .bind(&progress)
                .bind(id)
                .execute(p)
                .await
                .map(|_| ()));
        }
    }

    /// Scans one category into `report`; an `Err` fails it (the caller records it).
    async fn category(
        &mut self,
        master: &Master,
        report: &mut CategoryReport,
    ) -> Result<(), ScanError> {
        let Some(cat) = state::category(self.db, &master.category).await? else {
            report.status = Status::Failed;
            report.errors.push(format!(
                "category {:?} does not exist (scanner.master names it); create it first",
                master.category
            ));
            return Ok(());
        };
        report.category = cat.name.clone();
        let known = Arc::new(state::known(self.db, &cat).await?);
        let previous = state::previous(self.db, &cat.name).await?;
        let details = state::details(self.db, &cat).await?;
        let counters = Arc::new(Counters::default());
        // The file system's clock, not the scan's (which tests move): D12 compares ctimes.
        report.started = Some(OffsetDateTime::now_utc().unix_timestamp());

        // Discovery, on a blocking thread.
        let walk_master = Arc::new(master.clone());
        let (m, k, c, x) = (
            walk_master.clone(),
            known.clone(),
            counters.clone(),
            self.opts.cancel.clone(),
        );
        let (full, since, prev_list) = (self.opts.full, previous.started, previous.list);
        let found = self
            .blocking(&cat.name, &counters, move || {
                let walk = Walk {
                    master: &m,
                    known: &k,
                    full,
                    since,
                    counters: &c,
                    cancel: &x,
                };
                let mut rejected = None;
                if let (Some(list), Some(base)) = (&m.list_file, m.list_base()) {
                    match walk.read_list(list, &base, prev_list)? {
                        Listed::Tree(tree, stamp) => return Ok((Some(tree), Some(stamp), None)),
                        Listed::Unchanged(stamp) => return Ok((None, Some(stamp), None)),
                        Listed::Rejected(why) => rejected = Some(why),
                    }
                }
                Ok::<_, DiscoverError>((Some(walk.walk()?), None, rejected))
            })
            .await;
        let (tree, stamp, rejected) = match found {
            Ok(found) => found,
            Err(DiscoverError::Cancelled) => return Err(ScanError::Cancelled),
            Err(DiscoverError::Refused(why)) => {
                report.status = Status::Failed;
                report.errors.push(format!("{why}; nothing changed"));
                return Ok(());
            }
        };
        report.list = stamp;
        let Some(tree) = tree else {
            report.status = Status::Unchanged;
            report.source = TreeSource::List;
            report.started = previous.started;
            return Ok(());
        };
        report.source = if stamp.is_some() {
            TreeSource::List
        } else {
            TreeSource::Walk
        };
        if let Some(why) = rejected {
            tracing::warn!(category = %cat.name, "list file not used, walking the tree: {why}");
            report
                .errors
                .push(format!("list file not used ({why}); walked the tree"));
        }
        report.errors.extend(tree.warnings.iter().cloned());

        // Files to read, on the hash workers.
        let tree = Arc::new(tree);
        let jobs = file_jobs(&tree, &known, &details, self.settings.checksum_files);
        let (root, workers, t, c) = (
            master.path.clone(),
            self.settings.hash_workers,
            tree.clone(),
            counters.clone(),
        );
        let (read, checksum_files, warnings) = self
            .blocking(&cat.name, &counters, move || {
                read_files(&root, &t, &jobs, workers, &c)
            })
            .await;
        let load = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        report.seen = load(&counters.seen);
        report.listed = load(&counters.listed);
        report.stats = load(&counters.stats);
        report.hashed = load(&counters.hashed);
        report.checksum_files = checksum_files;
        for w in warnings {
            tracing::warn!(category = %cat.name, "{w}");
            report.errors.push(w);
        }

        // Decide.
        let repositories = state::repositories(self.db).await?;
        let arches = state::arches(self.db).await?;
        let versions = state::versions(self.db, cat.product_id).await?;
        let plan = plan::plan(
            &Inputs {
                settings: self.settings,
                master,
                category: &cat,
                known: &known,
                tree: &tree,
                details: &details,
                read: &read,
                repositories: &repositories,
                arches: &arches,
                versions: &versions,
            },
            report,
        );
        let linked = known.dirs.values().filter(|k| k.linked).count();
        let limit = self.settings.max_delete_fraction * linked as f64;
        if plan.delete.len() as f64 > limit && !self.opts.force {
            report.status = Status::Failed;
            report.errors.push(format!(
                "would delete {} of its {linked} directories, more than scanner.max_delete_fraction \
                 ({}); nothing changed (is the tree complete? --force deletes them)",
                plan.delete.len(),
                self.settings.max_delete_fraction
            ));
            return Ok(());
        }
        if !self.opts.dry_run {
            apply::apply(&mut self.writer, &plan, cat.id, cat.product_id, self.now).await?;
        }
        Ok(())
    }

    /// §4.4 aging, over every directory.
    async fn age(&mut self) -> Result<(), ScanError> {
        let rows = state::all_versions(self.db).await?;
        let expired = aging::expired(
            &rows,
            self.now,
            self.settings.keep_days,
            self.settings.max_alternates,
        );
        self.report.aged_out = expired.len() as u64;
        if !self.opts.dry_run && !expired.is_empty() {
            self.writer.delete_details(&expired).await?;
        }
        Ok(())
    }
}
