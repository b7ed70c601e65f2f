//! `mirrorfleet init`, `mirrorfleet migrate`, `mirrorfleet import inventory` and
//! `mirrorfleet export inventory`: the database commands. The database URL is the
//! configuration's `database.url` (control-plane.md §10: `--database-url`, else
//! `MIRRORFLEET__DATABASE__URL`, else the file, else `sqlite://<data.dir>/mirrorfleet.db`).

use std::io::Write;
use std::path::Path;

use anyhow::Context;

use crate::db::{Database, redact_url};
use crate::export::export_inventory;
use crate::inventory::parse_inventory;
use crate::snapshot_cmd::{Reported, write_atomically};
use crate::store::import::{import_inventory_with_progress, init};

async fn open(url: &str) -> anyhow::Result<Database> {
    // The error already names the URL and what to do.
    Ok(Database::connect(url).await?)
}

/// Opens the database for a command other than `init` and `migrate` (schema checked,
/// SQLite migrated: `Database::prepare_schema`).
pub async fn open_prepared(url: &str) -> anyhow::Result<Database> {
    let db = open(url).await?;
    db.prepare_schema().await?;
    Ok(db)
}

/// `mirrorfleet migrate`: applies pending migrations.
pub async fn migrate(url: &str, out: &mut dyn Write) -> anyhow::Result<()> {
    let db = open(url).await?;
    db.migrate().await?;
    let applied = db.applied_migrations().await?;
    writeln!(
        out,
        "{}: schema up to date ({} migrations applied)",
        redact_url(url),
        applied.len()
    )?;
    db.close().await;
    Ok(())
}

/// `mirrorfleet init`: migrates, then creates the installation (id, countries, arches).
pub async fn initialise(
    url: &str,
    installation_id: Option<&str>,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let id = match installation_id {
        Some(text) => {
            let parsed = uuid::Uuid::parse_str(text)
                .with_context(|| format!("--installation-id: {text:?} is not a UUID"))?;
            Some(*parsed.as_bytes())
        }
        None => None,
    };
    let db = open(url).await?;
    db.migrate().await?;
    let report = init(&db, id).await?;
    if report.created {
        writeln!(
            out,
            "{}: initialised installation {} ({} countries, {} arches)",
            redact_url(url),
            report.installation_id,
            report.countries_added,
            report.arches_added
        )?;
    } else {
        writeln!(
            out,
            "{}: already initialised as installation {}",
            redact_url(url),
            report.installation_id
        )?;
    }
    db.close().await;
    Ok(())
}

/// `mirrorfleet import inventory FILE [--dry-run] [--strict]`: all or nothing.
pub async fn import(
    url: &str,
    file: &Path,
    dry_run: bool,
    strict: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<()> {
    let name = file.display().to_string();
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read inventory {name}"))?;
    let (inventory, warnings) = match parse_inventory(&name, &text) {
        Ok(ok) => ok,
        Err(diagnostics) => {
            for d in &diagnostics {
                writeln!(err, "{d}")?;
            }
            let errors = diagnostics.iter().filter(|d| d.is_error()).count();
            return Err(Reported {
                status: 2,
                message: format!("{name}: {errors} error(s); nothing imported"),
            }
            .into());
        }
    };
    for w in &warnings {
        writeln!(err, "{w}")?;
    }
    if strict && !warnings.is_empty() {
        return Err(Reported {
            status: 2,
            message: format!(
                "{name}: {} warning(s) and --strict; nothing imported",
                warnings.len()
            ),
        }
        .into());
    }
    let db = open(url).await?;
    db.prepare_schema().await?;
    // A long import (Fedora scale) says what it is doing on standard error.
    let report =
        import_inventory_with_progress(&db, &inventory, dry_run, &mut |line| eprintln!("{line}"))
            .await
            .with_context(|| format!("importing {name}"))?;
    write!(out, "{report}")?;
    if !report.to_string().ends_with('\n') {
        writeln!(out)?;
    }
    db.close().await;
    Ok(())
}

/// `mirrorfleet export inventory [--out FILE]`: the database as an inventory file, on `out`
/// (standard output) or written atomically to FILE.
pub async fn export(url: &str, file: Option<&Path>, out: &mut dyn Write) -> anyhow::Result<()> {
    let db = open(url).await?;
    db.prepare_schema().await?;
    let text = export_inventory(&db).await;
    db.close().await;
    let text = text.context("exporting the inventory")?;
    match file {
        Some(path) => write_atomically(path, text.as_bytes())?,
        None => {
            out.write_all(text.as_bytes())?;
            out.flush()?;
        }
    }
    Ok(())
}
