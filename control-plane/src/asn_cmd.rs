//! `mirrorfleet asn import FILE [--source LABEL]` and `mirrorfleet asn status`
//! (control-plane.md §9): the prefix→ASN table lives in the data directory as
//! normalised `prefix/len ASN` lines, replaced atomically; `asn_table_meta`
//! describes it and the import bumps the generation, in one transaction. The
//! publisher reads the stored table into every snapshot.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use mirrorfleet_snapshot::net::Prefix;
use time::OffsetDateTime;

use crate::asn_table::{AsnTableError, parse_asn_table, read_asn_table_file};
use crate::db::Database;
use crate::snapshot_cmd::{Reported, write_atomically};
use crate::store::Tx;
use crate::with_tx;

/// The stored table's file name inside the data directory.
pub const ASN_TABLE_FILE: &str = "prefix-asn.txt";

/// The stored table and what `asn_table_meta` says of it.
#[derive(Debug, Clone)]
pub struct StoredAsnTable {
    /// The entries, normalised.
    pub entries: Vec<(Prefix, u32)>,
    /// Source label.
    pub source: String,
    /// Import time, Unix seconds.
    pub imported_at: i64,
    /// SHA-256 of the normalised text.
    pub sha256: String,
}

fn table_path(data_dir: &Path) -> PathBuf {
    data_dir.join(ASN_TABLE_FILE)
}

/// Who runs the command, for `imported_by` (control-plane-decisions.md D7).
fn actor() -> String {
    crate::audit::cli_actor()
}

/// Imports a table file: validates it (bad lines reported with their numbers; more than
/// `max_bad_fraction` (`asn.max_bad_fraction`) rejects the file and keeps the current table),
/// stores it normalised, updates `asn_table_meta` and the generation.
pub async fn import(
    db: &Database,
    data_dir: &Path,
    file: &Path,
    source: Option<&str>,
    max_bad_fraction: f64,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<()> {
    let (table, report) = match read_asn_table_file(file, max_bad_fraction) {
        Ok(ok) => ok,
        Err(e @ (AsnTableError::TooManyBad { .. } | AsnTableError::NoValidLine { .. })) => {
            if let AsnTableError::TooManyBad { issues, .. } = &e {
                for issue in issues {
                    writeln!(err, "{issue}")?;
                }
            }
            return Err(Reported {
                status: 2,
                message: format!("{e}; the current table is kept"),
            }
            .into());
        }
        Err(e) => return Err(e.into()),
    };
    for issue in &report.issues {
        writeln!(err, "{issue}")?;
    }
    let text = table.normalised_text();
    let sha256 = table.sha256_hex();
    let source = source.map_or_else(
        || {
            file.file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
        },
        str::to_string,
    );
    let now = OffsetDateTime::now_utc();
    let mut tx = Tx::begin(db).await?;
    with_tx!(&mut tx, c => {
        sqlx::query("DELETE FROM asn_table_meta").execute(&mut *c).await?;
        sqlx::query(
            "INSERT INTO asn_table_meta (id, sha256, entries_v4, entries_v6, source, imported_at, imported_by) \
             VALUES (1, $1, $2, $3, $4, $5, $6)",
        )
        .bind(&sha256)
        .bind(table.count_v4() as i64)
        .bind(table.count_v6() as i64)
        .bind(&source)
        .bind(now)
        .bind(actor())
        .execute(&mut *c)
        .await?;
        sqlx::query("UPDATE meta SET generation = generation + 1").execute(&mut *c).await?;
    });
    // The file goes in place before the commit: a failed write rolls the metadata back.
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create {}", data_dir.display()))?;
    write_atomically(&table_path(data_dir), text.as_bytes())?;
    tx.commit().await?;
    writeln!(
        out,
        "imported {}: {} IPv4 and {} IPv6 prefixes ({} bad, {} duplicate, {} skipped lines), sha256 {sha256}",
        file.display(),
        table.count_v4(),
        table.count_v6(),
        report.bad,
        report.duplicates,
        report.skipped
    )?;
    Ok(())
}

/// The stored table, when one was imported.
pub async fn stored_table(
    db: &Database,
    data_dir: &Path,
) -> anyhow::Result<Option<StoredAsnTable>> {
    let mut tx = Tx::begin_read(db).await?;
    let meta: Option<(String, String, OffsetDateTime)> = with_tx!(&mut tx, c => sqlx::query_as(
        "SELECT sha256, source, imported_at FROM asn_table_meta WHERE id = 1",
    )
    .fetch_optional(&mut *c)
    .await?);
    let _ = tx.rollback().await;
    let Some((sha256, source, imported_at)) = meta else {
        return Ok(None);
    };
    let path = table_path(data_dir);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("the prefix→ASN table {} recorded in the database cannot be read; run `mirrorfleet asn import` again", path.display()))?;
    let (table, _) = parse_asn_table(&text, &path.display().to_string(), 0.0)
        .map_err(|e| anyhow::anyhow!("stored prefix→ASN table: {e}"))?;
    if table.sha256_hex() != sha256 {
        anyhow::bail!(
            "the stored prefix→ASN table {} does not match asn_table_meta (sha256 {sha256}); run `mirrorfleet asn import` again",
            path.display()
        );
    }
    Ok(Some(StoredAsnTable {
        entries: table.entries,
        source,
        imported_at: imported_at.unix_timestamp(),
        sha256,
    }))
}

/// `mirrorfleet asn status`.
pub async fn status(db: &Database, data_dir: &Path, out: &mut dyn Write) -> anyhow::Result<()> {
    match stored_table(db, data_dir).await? {
        None => writeln!(
            out,
            "no prefix→ASN table imported; snapshots carry an empty table"
        )?,
        Some(t) => {
            let v6 = t.entries.iter().filter(|(p, _)| p.addr().is_ipv6()).count();
            writeln!(
                out,
                "prefix→ASN table {}: {} IPv4 and {v6} IPv6 prefixes, source {:?}, imported at {}, sha256 {}",
                table_path(data_dir).display(),
                t.entries.len() - v6,
                t.source,
                OffsetDateTime::from_unix_timestamp(t.imported_at)
                    .map_or_else(|_| t.imported_at.to_string(), |d| d.to_string()),
                t.sha256
            )?;
        }
    }
    Ok(())
}
