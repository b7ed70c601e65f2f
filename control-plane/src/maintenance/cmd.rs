//! The maintenance commands (control-plane.md §9): CLI glue over the operations of
//! [`crate::maintenance`]. Each prints every change and skip, then, unless it was a dry run,
//! publishes what it committed (control-plane-decisions.md D20): `emergency-expire-repo`
//! always, the others when they changed selection data, `expire-stats` never.
//!
//! Exit status: 0; 2 a usage or validation error (unknown category, product, version, prefix
//! or host, a conflicting category, missing archive targets), nothing changed; 1 a runtime
//! failure. After a commit the publish decides: 3 refused by a guard rail, 4 on hold, 1 failed,
//! each said as "saved, not published" with the reason.

use std::io::Write;

use time::OffsetDateTime;

use super::archive::{self, ArchiveArgs, Selection};
use super::expiry::{StatsLimits, expire_stats};
use super::product::{self, Master, NewProduct};
use super::{MaintenanceError, Report, expire_repo, release};
use crate::audit::cli_actor;
use crate::config::Config;
use crate::db_cmd::open_prepared;
use crate::publish_cmd;
use crate::scan::repomap::RuleSets;
use crate::snapshot_cmd::Reported;

/// The maintenance commands, flattened into `mirrorfleet`'s top level.
#[derive(clap::Subcommand)]
pub enum MaintenanceCommand {
    /// After a release: move a category's repositories from development/V/ to releases/V/
    /// (same prefix, version V); skipped when the target is missing or has a repository.
    /// Publishes when done.
    MoveDevelToRelease {
        /// The category, e.g. "Fedora Linux".
        #[arg(long, value_name = "NAME")]
        category: String,
        /// The released version; must be a version of the category's product.
        #[arg(long, value_name = "V")]
        version: String,
        /// Print what would change, change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// After end of life: move repositories into the archive category's tree, all or nothing
    /// (every target directory must exist). Publishes when done.
    MoveToArchive {
        /// Every repository with this prefix.
        #[arg(
            long,
            value_name = "PREFIX",
            required_unless_present = "product",
            conflicts_with = "product"
        )]
        repository: Option<String>,
        /// With --version: every repository of this version of this product.
        #[arg(long, value_name = "NAME", requires = "version")]
        product: Option<String>,
        /// With --product.
        #[arg(long, value_name = "V", requires = "product")]
        version: Option<String>,
        /// The archive category.
        #[arg(long, value_name = "NAME", default_value = archive::DEFAULT_ARCHIVE_CATEGORY)]
        archive_category: String,
        /// Removed from the front of a directory name before the archive topdir is put there.
        #[arg(long, value_name = "PREFIX", default_value = archive::DEFAULT_STRIP)]
        strip: String,
        /// Leave this category's repositories alone (repeatable; given, it replaces the
        /// default; `--skip-category ""` skips none).
        #[arg(long = "skip-category", value_name = "NAME", default_values = archive::DEFAULT_SKIP_CATEGORIES)]
        skip_category: Vec<String>,
        /// Print what would change, change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Delete every file detail but the newest below the repositories of a version, so
    /// metalinks carry no alternates; publishes at once (no debounce).
    EmergencyExpireRepo {
        /// The product, e.g. Fedora.
        product: String,
        /// The version, e.g. 40.
        version: String,
        /// Print what would be deleted, change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Delete statistics older than the limits (0 keeps forever). Not published: statistics
    /// are no selection data.
    ExpireStats {
        /// Propagation statistics [default: stats.propagation_keep_days, 30].
        #[arg(long, value_name = "N")]
        propagation_days: Option<u32>,
        /// Access statistics [default: stats.access_keep_days, 90].
        #[arg(long, value_name = "N")]
        access_days: Option<u32>,
        /// countme statistics [default: stats.countme_keep_days, 0 = forever].
        #[arg(long, value_name = "N")]
        countme_days: Option<u32>,
        /// Print what would be deleted, change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Create a product, its versions, its category with its topdir directory and optionally
    /// its master host (always up to date); what exists is skipped. Publishes when done.
    AddProduct {
        /// The product name.
        #[arg(long, value_name = "NAME")]
        name: String,
        /// Versions to create (repeatable, or several values).
        #[arg(long = "version", value_name = "V", required = true, num_args = 1..)]
        versions: Vec<String>,
        /// The category [default: the product name].
        #[arg(long, value_name = "NAME")]
        category: Option<String>,
        /// The category's topdir [default: pub/<name lower-case>; required when the name
        /// holds characters other than letters, digits and "-"].
        #[arg(long, value_name = "PATH")]
        topdir: Option<String>,
        /// The scanner's rule set for the category (a built-in one, or a
        /// [[repomap.ruleset]] name).
        #[arg(long, value_name = "NAME")]
        repomap: Option<String>,
        /// The master download host, which carries the category always up to date.
        #[arg(long, value_name = "SITE/HOST", requires = "master_url")]
        master_host: Option<String>,
        /// The master host's URL of the category topdir.
        #[arg(long, value_name = "URL", requires = "master_host")]
        master_url: Option<String>,
        /// Print what would be created, change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

fn reported(e: MaintenanceError) -> anyhow::Error {
    match e {
        MaintenanceError::Store(e) => e.into(),
        e => Reported {
            status: e.exit_status(),
            message: e.to_string(),
        }
        .into(),
    }
}

/// When to publish after the commit.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Publish {
    /// When the generation changed.
    OnChange,
    /// Always (`emergency-expire-repo`: the store must follow now, even when an earlier run
    /// committed the deletions and its publish failed).
    Always,
}

/// Runs one maintenance command.
pub async fn run(
    config: &Config,
    command: MaintenanceCommand,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let actor = cli_actor();
    match command {
        MaintenanceCommand::MoveDevelToRelease {
            category,
            version,
            dry_run,
        } => {
            let db = open_prepared(&config.database.url).await?;
            let r = release::move_devel_to_release(&db, &category, &version, dry_run, &actor).await;
            db.close().await;
            finish(config, r, Publish::OnChange, out).await
        }
        MaintenanceCommand::MoveToArchive {
            repository,
            product,
            version,
            archive_category,
            strip,
            skip_category,
            dry_run,
        } => {
            let selection = match (&repository, &product, &version) {
                (Some(prefix), _, _) => Selection::Repository(prefix),
                (None, Some(product), Some(version)) => Selection::Version { product, version },
                // clap requires one or the other.
                _ => anyhow::bail!("give --repository PREFIX or --product P --version V"),
            };
            let args = ArchiveArgs {
                selection,
                archive_category: &archive_category,
                strip: &strip,
                skip_categories: &skip_category,
            };
            let db = open_prepared(&config.database.url).await?;
            let r = archive::move_to_archive(&db, &args, dry_run, &actor).await;
            db.close().await;
            finish(config, r, Publish::OnChange, out).await
        }
        MaintenanceCommand::EmergencyExpireRepo {
            product,
            version,
            dry_run,
        } => {
            let db = open_prepared(&config.database.url).await?;
            let r =
                expire_repo::emergency_expire_repo(&db, &product, &version, dry_run, &actor).await;
            db.close().await;
            finish(config, r, Publish::Always, out).await
        }
        MaintenanceCommand::ExpireStats {
            propagation_days,
            access_days,
            countme_days,
            dry_run,
        } => {
            let defaults = StatsLimits::from_config(config);
            let limits = StatsLimits {
                propagation_days: propagation_days.unwrap_or(defaults.propagation_days),
                access_days: access_days.unwrap_or(defaults.access_days),
                countme_days: countme_days.unwrap_or(defaults.countme_days),
            };
            let db = open_prepared(&config.database.url).await?;
            let r = expire_stats(&db, limits, OffsetDateTime::now_utc(), dry_run, &actor).await;
            db.close().await;
            writeln!(out, "{}", r.map_err(reported)?)?;
            Ok(())
        }
        MaintenanceCommand::AddProduct {
            name,
            versions,
            category,
            topdir,
            repomap,
            master_host,
            master_url,
            dry_run,
        } => {
            let master = match (&master_host, &master_url) {
                (Some(host), Some(url)) => Some(Master { host, url }),
                _ => None,
            };
            let wanted = NewProduct {
                name: &name,
                versions: &versions,
                category: category.as_deref(),
                topdir: topdir.as_deref(),
                repomap: repomap.as_deref(),
                master,
            };
            let rule_sets = RuleSets::new(&config.repomap.ruleset)
                .map_err(|message| Reported { status: 2, message })?;
            let rule_sets: Vec<String> = rule_sets.names().map(str::to_string).collect();
            // Usage errors before the database is opened.
            let checked = product::check(&wanted, &rule_sets).map_err(reported)?;
            let db = open_prepared(&config.database.url).await?;
            let r = product::add_product(&db, &checked, dry_run, &actor).await;
            db.close().await;
            finish(config, r, Publish::OnChange, out).await
        }
    }
}

/// Prints the report and, after a commit, publishes as `when` says.
async fn finish(
    config: &Config,
    report: Result<Report, MaintenanceError>,
    when: Publish,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let report = report.map_err(reported)?;
    writeln!(out, "{report}")?;
    if report.dry_run {
        return Ok(());
    }
    let changed = report.generation_after != report.generation_before;
    if when == Publish::OnChange && !changed {
        writeln!(out, "no selection data changed; nothing to publish")?;
        return Ok(());
    }
    out.flush()?;
    publish_cmd::publish(config, false, None, None, out)
        .await
        .map_err(|e| match e.downcast::<Reported>() {
            Ok(r) => Reported {
                status: r.status,
                message: format!(
                    "saved (generation {}), not published: {}",
                    report.generation_after, r.message
                ),
            }
            .into(),
            Err(e) => e.context(format!(
                "saved (generation {}), not published",
                report.generation_after
            )),
        })
}
