//! `mirrorfleet import mm2 --from postgres://…` (control-plane.md §8.1–§8.2): a MirrorManager2
//! database imported, and re-imported until the cut-over, into ours.
//!
//! The pipeline reads top-down: `source` reads MirrorManager2 in one read-only transaction
//! (missing tables, columns and forbidden NULLs named, never a panic); `convert` and `mirrors`
//! map its rows to an inventory (data-model.md §11) plus what the inventory cannot carry,
//! applying data-model.md §7's fixes and noting (`notes`) every row dropped or changed;
//! `document` validates that inventory with the inventory's own rules; `apply` runs the one
//! transaction on our database (kept site and host ids, the inventory reconciliation shared
//! with `import inventory`, the extras, `password` for the argon2id site passwords); `changes`
//! compares the database before and after inside that transaction, for the dry-run lines,
//! the counts and the generation; `compare` sets each directory's hosts beside those
//! MirrorManager2's cache would list, for the report.
//!
//! What never happens: a write to MirrorManager2, an unpickled value, a partial import.

pub mod apply;
pub mod changes;
pub mod compare;
pub mod convert;
pub mod document;
mod mirrors;
pub mod notes;
pub mod password;
pub mod source;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;

use time::OffsetDateTime;

use crate::config::{Argon2Section, Config};
use crate::db::Database;
use crate::snapshot_cmd::Reported;

pub use apply::{Applied, ApplyError};
pub use convert::{ConvertOptions, Converted, convert};
pub use notes::Notes;
pub use source::{ReadOptions, Source, SourceError, read_source};

/// What `import mm2` was asked to do.
#[derive(Clone, Debug)]
pub struct Mm2Options {
    /// `--from`: the MirrorManager2 PostgreSQL URL.
    pub from: String,
    /// `--dry-run`: everything, then roll back.
    pub dry_run: bool,
    /// `--replace`: delete content and mirror data of another source first.
    pub replace: bool,
    /// `--skip-stats`: leave the statistics alone.
    pub skip_stats: bool,
    /// `--admin-group NAME`…: their members become administrators.
    pub admin_groups: Vec<String>,
    /// `--host-country-as-allowed`.
    pub host_country_as_allowed: bool,
    /// `--lenient`: invalid host countries disable the host instead of stopping the import.
    pub lenient: bool,
    /// Site passwords are hashed with these parameters.
    pub argon2: Argon2Section,
}

/// Why an import stopped; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum Mm2Error {
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The source's data cannot be imported as it is (the problems are listed).
    #[error(
        "the MirrorManager2 data cannot be imported as it is; nothing imported:\n  {}",
        problems.join("\n  ")
    )]
    Invalid { problems: Vec<String> },
    #[error(transparent)]
    Apply(#[from] ApplyError),
}

impl Mm2Error {
    /// The exit status (control-plane.md §2): 2 for a source the import cannot take or a
    /// refusal, 1 for a failure to reach or write a database.
    pub fn status(&self) -> u8 {
        match self {
            Mm2Error::Source(e) if e.is_invalid_source() => 2,
            Mm2Error::Invalid { .. } => 2,
            Mm2Error::Apply(ApplyError::ForeignData { .. }) => 2,
            _ => 1,
        }
    }
}

/// What an import did (or, in a dry run, would do).
#[derive(Clone, Debug)]
pub struct Mm2Report {
    /// `host:port/database` of the source.
    pub source: String,
    pub dry_run: bool,
    /// Rows read and skipped per table, every transformation.
    pub notes: Notes,
    /// The inventory rules' warnings on the converted data.
    pub warnings: Vec<String>,
    /// Tables not imported: row counts (`None`: absent).
    pub not_imported: BTreeMap<&'static str, Option<i64>>,
    /// `embargoed_country` codes (a suggestion for `stats.hidden_countries`).
    pub embargoed: Vec<String>,
    /// Hosts per directory against MirrorManager2's cache.
    pub comparison: compare::Comparison,
    /// The changes and the generation.
    pub applied: Applied,
}

impl Mm2Report {
    /// The report as the command prints it: the source, rows per table and transformations
    /// (every row in a dry run, examples otherwise), what is not imported, then the changes
    /// (one line each in a dry run) with their counts, and the generation.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "MirrorManager2 {} (read in one REPEATABLE READ, READ ONLY transaction)",
            self.source
        );
        out.push_str(&self.notes.render(self.dry_run));
        if !self.warnings.is_empty() {
            let _ = writeln!(out, "warnings of the inventory rules:");
            for w in &self.warnings {
                let _ = writeln!(out, "  {w}");
            }
        }
        let _ = writeln!(out, "not imported (unused by selection):");
        for (table, count) in &self.not_imported {
            match count {
                Some(n) => {
                    let _ = writeln!(out, "  {table}: {n} rows");
                }
                None => {
                    let _ = writeln!(out, "  {table}: absent");
                }
            }
        }
        if !self.embargoed.is_empty() {
            let _ = writeln!(
                out,
                "embargoed_country is not imported; to hide these countries in statistics set \
                 stats.hidden_countries = [{}]",
                self.embargoed
                    .iter()
                    .map(|c| format!("\"{c}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        out.push_str(&self.comparison.render(self.dry_run));
        let changes = &self.applied.changes;
        if self.applied.replaced {
            let _ = writeln!(
                out,
                "--replace: earlier content and mirror data deleted first"
            );
        }
        if self.dry_run {
            for line in &changes.lines {
                let _ = writeln!(out, "{line}");
            }
        }
        if changes.is_empty() {
            let _ = writeln!(out, "no changes");
        }
        for (kind, c) in &changes.counts {
            let _ = writeln!(
                out,
                "{kind}: {} created, {} updated, {} deleted",
                c.created, c.updated, c.deleted
            );
        }
        let verb = if self.dry_run { "would be" } else { "is" };
        let _ = write!(
            out,
            "generation {} {verb} {}",
            self.applied.generation_before, self.applied.generation_after
        );
        if self.dry_run {
            out.push_str(" (dry run: nothing written)");
        }
        out.push('\n');
        out
    }
}

/// Imports the MirrorManager2 database `opts.from` into `db` (initialised), in one
/// transaction; `progress` hears what a long import is doing.
pub async fn import_mm2(
    db: &Database,
    opts: &Mm2Options,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<Mm2Report, Mm2Error> {
    progress("reading MirrorManager2");
    let source = read_source(
        &opts.from,
        ReadOptions {
            skip_stats: opts.skip_stats,
            host_country_required: opts.host_country_as_allowed,
            groups_required: !opts.admin_groups.is_empty(),
        },
    )
    .await?;
    let now = OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or(OffsetDateTime::now_utc());
    let existing = apply::existing_auto_disabled(db)
        .await
        .map_err(ApplyError::from)?;
    progress("converting");
    let converted = convert(
        &source,
        &ConvertOptions {
            host_country_as_allowed: opts.host_country_as_allowed,
            lenient: opts.lenient,
            admin_groups: opts.admin_groups.clone(),
            existing_auto_disabled: existing,
            now,
        },
    );
    if !converted.errors.is_empty() {
        return Err(Mm2Error::Invalid {
            problems: converted.errors.clone(),
        });
    }
    progress("validating with the inventory rules");
    let (inventory, warnings) = match document::validate(&converted.inventory) {
        Ok(ok) => ok,
        Err(diagnostics) => {
            return Err(Mm2Error::Invalid {
                problems: diagnostics
                    .iter()
                    .filter(|d| d.is_error())
                    .map(|d| describe(d, &converted))
                    .collect(),
            });
        }
    };
    progress("comparing with MirrorManager2's host lists");
    let comparison = compare::compare(&source, &converted, &inventory);
    let applied = apply::apply(
        db,
        &converted,
        &inventory,
        &apply::ApplyOptions {
            dry_run: opts.dry_run,
            replace: opts.replace,
            source_label: &source.label,
            argon2: &opts.argon2,
            now,
        },
        progress,
    )
    .await?;
    let warnings = warnings.iter().map(|d| describe(d, &converted)).collect();
    Ok(Mm2Report {
        source: source.label.clone(),
        dry_run: opts.dry_run,
        notes: converted.notes,
        warnings,
        not_imported: source.not_imported.clone(),
        embargoed: converted.embargoed,
        comparison,
        applied,
    })
}

/// A diagnostic of the converted inventory, with the MirrorManager2 site or host it is about.
fn describe(d: &crate::inventory::Diagnostic, conv: &Converted) -> String {
    let mut parts = d.pointer.split('/').skip(1);
    let mut what = String::new();
    if parts.next() == Some("sites")
        && let Some(site) = parts
            .next()
            .and_then(|i| i.parse::<usize>().ok())
            .and_then(|i| conv.sites.get(i))
    {
        what = format!("site {} {:?}", site.id, site.name);
        if parts.next() == Some("hosts")
            && let Some(host) = parts
                .next()
                .and_then(|i| i.parse::<usize>().ok())
                .and_then(|i| conv.hosts.iter().filter(|h| h.site_id == site.id).nth(i))
        {
            what = format!("host {} {:?} of {what}", host.id, host.name);
        }
    }
    if what.is_empty() {
        format!("{}: {}", d.pointer, d.message)
    } else {
        format!("{what}: {}: {}", d.pointer, d.message)
    }
}

/// `mirrorfleet import mm2`: the import on the configured database, the report on `out`,
/// progress on `err`. Exit status 2 (nothing imported) for a source that cannot be imported
/// or a refusal, 1 for other failures.
pub async fn command(config: &Config, opts: Mm2Options, out: &mut dyn Write) -> anyhow::Result<()> {
    let db = crate::db_cmd::open_prepared(&config.database.url).await?;
    let start = std::time::Instant::now();
    let result = import_mm2(&db, &opts, &mut |line| {
        eprintln!(
            "import mm2: [{:.1} s] {line}",
            start.elapsed().as_secs_f64()
        )
    })
    .await;
    db.close().await;
    match result {
        Ok(report) => {
            out.write_all(report.render().as_bytes())?;
            out.flush()?;
            Ok(())
        }
        Err(e) => Err(Reported {
            status: e.status(),
            message: format!("import mm2: {e}"),
        }
        .into()),
    }
}
