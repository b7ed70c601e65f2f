//! `mirrorfleet scan` and `mirrorfleet repomap test`: CLI glue over [`crate::scan`]. Exit
//! status 2 for a bad `[[scanner.master]]` or `[[repomap.ruleset]]`, no master, or a
//! `--category` without one; 1 when a category's scan failed (the others are written).

use std::io::Write;
use std::time::Duration;

use super::repomap::{Mapping, RuleSet};
use super::{ScanOptions, ScanSettings, Trigger, state};
use crate::config::Config;
use crate::db_cmd::open_prepared;
use crate::snapshot_cmd::Reported;
use crate::store::import::SEED_ARCHES;
use crate::with_pool;

/// The flags of `mirrorfleet scan`.
#[derive(Clone, Debug, Default)]
pub struct ScanArgs {
    pub categories: Vec<String>,
    pub full: bool,
    pub dry_run: bool,
    pub force: bool,
    pub lock_timeout: Option<Duration>,
}

fn usage(message: String) -> anyhow::Error {
    Reported { status: 2, message }.into()
}

/// `mirrorfleet scan [--category NAME]… [--full] [--dry-run] [--force]`: progress on
/// `err`, the summary on `out`.
pub async fn scan(
    config: &Config,
    args: &ScanArgs,
    out: &mut dyn Write,
    err: &mut (dyn Write + Send),
) -> anyhow::Result<()> {
    let settings = ScanSettings::from_config(config).map_err(|e| usage(e.to_string()))?;
    let db = open_prepared(&config.database.url).await?;
    let defaults = ScanOptions::default();
    let opts = ScanOptions {
        categories: args.categories.clone(),
        full: args.full,
        dry_run: args.dry_run,
        force: args.force,
        trigger: Trigger::Cli,
        lock_timeout: args.lock_timeout.unwrap_or(defaults.lock_timeout),
        ..defaults
    };
    let result = super::scan(&db, &settings, &opts, &mut |line| {
        let _ = writeln!(err, "{line}");
    })
    .await;
    db.close().await;
    let report = result.map_err(|e| Reported {
        status: e.exit_status(),
        message: e.to_string(),
    })?;
    writeln!(out, "{report}")?;
    if args.dry_run {
        writeln!(out, "dry run: nothing was written")?;
    } else if report.generation_after != report.generation_before {
        writeln!(
            out,
            "a running `mirrorfleet serve` publishes the change; otherwise run `mirrorfleet publish`"
        )?;
    }
    let failed: Vec<&str> = report
        .categories
        .iter()
        .filter(|c| c.status == super::Status::Failed)
        .map(|c| c.category.as_str())
        .collect();
    if !failed.is_empty() {
        return Err(Reported {
            status: 1,
            message: format!("the scan of {} failed (see above)", failed.join(", ")),
        }
        .into());
    }
    Ok(())
}

/// `mirrorfleet repomap test (--category NAME | --ruleset NAME) PATH…`: for each path (below
/// the topdir, or a full directory name of the category), the arch, version and prefix the
/// rules give and the rule that matched.
pub async fn repomap_test(
    config: &Config,
    category: Option<&str>,
    ruleset: Option<&str>,
    paths: &[String],
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let settings = ScanSettings::from_config(config).map_err(|e| usage(e.to_string()))?;
    let (set_name, topdir, arches) = match (category, ruleset) {
        (Some(name), None) => {
            let db = open_prepared(&config.database.url).await?;
            let cat = state::category(&db, name).await;
            let arches: Result<Vec<String>, sqlx::Error> =
                with_pool!(db, p => sqlx::query_scalar("SELECT name FROM arch").fetch_all(p).await);
            db.close().await;
            let cat = cat?.ok_or_else(|| usage(format!("unknown category {name:?}")))?;
            let Some(set) = cat.repomap.clone() else {
                writeln!(
                    out,
                    "category {:?} names no rule set (repomap): the scanner creates no \
                     repositories for it",
                    cat.name
                )?;
                return Ok(());
            };
            (set, Some(cat.topdir), arches?)
        }
        (None, Some(set)) => (
            set.to_string(),
            None,
            SEED_ARCHES.iter().map(|a| a.to_string()).collect(),
        ),
        _ => {
            return Err(usage(
                "give either --category NAME or --ruleset NAME".into(),
            ));
        }
    };
    let set: &RuleSet = settings.rulesets.get(&set_name).ok_or_else(|| {
        let known: Vec<&str> = settings.rulesets.names().collect();
        usage(format!(
            "no rule set {set_name:?} (built in or configured: {})",
            known.join(", ")
        ))
    })?;
    writeln!(out, "rule set {set_name}")?;
    for path in paths {
        let trimmed = path.trim_matches('/');
        let rel = topdir
            .as_deref()
            .and_then(|t| trimmed.strip_prefix(t))
            .and_then(|r| r.strip_prefix('/'))
            .unwrap_or(trimmed);
        let full = topdir.as_deref().map(|t| format!("{t}/{rel}"));
        let skipped = full.as_deref().and_then(|f| {
            settings
                .skip_repo_prefixes
                .iter()
                .find(|s| f.starts_with(s.as_str()))
        });
        let answer: String = match skipped {
            Some(s) => format!("skipped (scanner.skip_repo_prefixes {s:?})"),
            None => {
                let mapping: Mapping = set.map(rel, &|a| arches.iter().any(|k| k == a));
                mapping.to_string()
            }
        };
        writeln!(out, "{rel}: {answer}")?;
    }
    Ok(())
}
