//! `move-to-archive (--repository PREFIX | --product P --version V) [--archive-category NAME]
//! [--strip PREFIX] [--skip-category NAME]…` (control-plane.md §9): after end of life, the
//! repositories of a release move into the archive category's tree.
//!
//! Each matching repository is skipped when it has no directory (neither a current one nor,
//! for an orphan, the last one it had: control-plane-decisions.md D11), is already in the
//! archive category, or is in a skipped category. For the others the target is the archive
//! topdir + `/` + the directory name without the strip prefix:
//! `pub/fedora/linux/releases/38/Everything/x86_64/os` →
//! `pub/archive/fedora/linux/releases/38/Everything/x86_64/os`. **Every** target must exist,
//! else nothing changes and each missing one is named (MirrorManager2 stopped half-way, leaving
//! some repositories archived and some not). A target holding another repository is skipped
//! like in `move-devel-to-release` (a scanner's unmapped one is deleted instead, D10).
//! Directory and category change; the prefix and the version stay.

use serde_json::Value;

use super::{
    Change, Event, MaintenanceError, Operation, Report, Target, field_change, find_category,
    find_directory, find_product, find_version, free_target, repo_label, sort_repositories,
};
use crate::db::Database;
use crate::inventory::model::folded;
use crate::with_tx;

/// `--archive-category` when not given.
pub const DEFAULT_ARCHIVE_CATEGORY: &str = "Fedora Archive";
/// `--strip` when not given.
pub const DEFAULT_STRIP: &str = "pub/";
/// The skipped categories when no `--skip-category` is given.
pub const DEFAULT_SKIP_CATEGORIES: &[&str] = &["Fedora Codecs"];

/// Which repositories to archive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Selection<'a> {
    /// Every repository with this prefix (any arch).
    Repository(&'a str),
    /// Every repository of this version of this product.
    Version { product: &'a str, version: &'a str },
}

/// The arguments of [`move_to_archive`].
#[derive(Clone, Copy, Debug)]
pub struct ArchiveArgs<'a> {
    pub selection: Selection<'a>,
    /// The archive category's name ([`DEFAULT_ARCHIVE_CATEGORY`]).
    pub archive_category: &'a str,
    /// Removed from the front of a directory name before the archive topdir is put there
    /// ([`DEFAULT_STRIP`]); a path prefix, with or without its final `/`.
    pub strip: &'a str,
    /// Categories whose repositories stay where they are ([`DEFAULT_SKIP_CATEGORIES`]),
    /// matched ignoring case; names of no category are allowed.
    pub skip_categories: &'a [String],
}

/// The archive directory of `name`: `archive_topdir/` + `name` without the path prefix
/// `strip` (`name` whole when it does not start with it).
pub fn archive_target(archive_topdir: &str, strip: &str, name: &str) -> String {
    let strip = strip.trim_end_matches('/');
    let rest = if strip.is_empty() {
        name
    } else if name == strip {
        ""
    } else {
        name.strip_prefix(strip)
            .and_then(|r| r.strip_prefix('/'))
            .unwrap_or(name)
    };
    crate::inventory::model::full_name(archive_topdir, rest)
}

/// Moves the selected repositories into the archive category, all or nothing, in one
/// transaction (rolled back with `dry_run`), audited as `actor`. Unknown prefix, product,
/// version or archive category: [`MaintenanceError::NotFound`]; a missing target:
/// [`MaintenanceError::TargetsMissing`] listing every one.
pub async fn move_to_archive(
    db: &Database,
    args: &ArchiveArgs<'_>,
    dry_run: bool,
    actor: &str,
) -> Result<Report, MaintenanceError> {
    let mut op = Operation::begin(db, dry_run).await?;
    let Some((archive_id, archive_name, _, archive_topdir)) =
        find_category(&mut op.tx, args.archive_category).await?
    else {
        return Err(MaintenanceError::NotFound(format!(
            "no category named {:?} (the archive category; see --archive-category)",
            args.archive_category
        )));
    };
    // (id, prefix, arch, category id, category name, directory, last directory)
    type Row = (
        i64,
        Option<String>,
        String,
        i64,
        String,
        Option<String>,
        Option<String>,
    );
    const SELECT: &str = "SELECT r.id, r.prefix, a.name, r.category_id, c.name, d.name, \
         r.last_directory_name FROM repository r \
         JOIN arch a ON a.id = r.arch_id \
         JOIN category c ON c.id = r.category_id \
         LEFT JOIN directory d ON d.id = r.directory_id";
    let mut rows: Vec<Row> = match args.selection {
        Selection::Repository(prefix) => {
            let sql = format!("{SELECT} WHERE r.prefix = $1");
            let rows: Vec<Row> = with_tx!(&mut op.tx, c => sqlx::query_as(&sql)
                .bind(prefix).fetch_all(&mut *c).await)?;
            if rows.is_empty() {
                return Err(MaintenanceError::NotFound(format!(
                    "no repository has the prefix {prefix:?}"
                )));
            }
            rows
        }
        Selection::Version { product, version } => {
            let (product_id, product) = find_product(&mut op.tx, product).await?;
            let version_id = find_version(&mut op.tx, product_id, &product, version).await?;
            let sql = format!("{SELECT} WHERE r.version_id = $1");
            with_tx!(&mut op.tx, c => sqlx::query_as(&sql)
                .bind(version_id).fetch_all(&mut *c).await)?
        }
    };
    sort_repositories(&mut rows, |r| (r.1.as_deref(), r.2.as_str(), r.0));
    let skipped: Vec<String> = args.skip_categories.iter().map(|c| folded(c)).collect();
    let mut missing = Vec::new();
    for (id, prefix, arch, category_id, category, directory, last_directory) in rows {
        let label = repo_label(id, prefix.as_deref(), &arch);
        let Some(name) = directory.clone().or(last_directory) else {
            op.skip("repository", label, "no directory");
            continue;
        };
        if category_id == archive_id {
            op.skip(
                "repository",
                label,
                format!("already in the archive category {archive_name:?}"),
            );
            continue;
        }
        if skipped.contains(&folded(&category)) {
            op.skip(
                "repository",
                label,
                format!("in a skipped category ({category:?})"),
            );
            continue;
        }
        let target = archive_target(&archive_topdir, args.strip, &name);
        let Some((target_id, occupant)) = find_directory(&mut op.tx, &target).await? else {
            missing.push(target);
            continue;
        };
        let why = format!("free target of {label}");
        if let Target::Taken(other) = free_target(&mut op, occupant, &target, &why).await? {
            op.skip(
                "repository",
                label,
                format!("target already has repository {other}: {target}"),
            );
            continue;
        }
        with_tx!(&mut op.tx, c => sqlx::query(
            "UPDATE repository SET directory_id = $1, last_directory_name = $2, \
             category_id = $3, row_version = row_version + 1 WHERE id = $4")
            .bind(target_id).bind(&target).bind(archive_id).bind(id)
            .execute(&mut *c).await.map(|_| ()))?;
        let old_directory = match &directory {
            Some(d) => d.clone(),
            None => format!("(none; last {name})"),
        };
        op.change(
            Change::Update {
                kind: "repository",
                key: label.clone(),
                field: "directory",
                old: old_directory,
                new: target.clone(),
            },
            true,
        );
        op.change(
            Change::Update {
                kind: "repository",
                key: label,
                field: "category",
                old: category.clone(),
                new: archive_name.clone(),
            },
            false,
        );
        let mut changes = serde_json::Map::new();
        field_change(
            &mut changes,
            "directory",
            directory.map_or(Value::Null, Value::from),
            target.into(),
        );
        field_change(
            &mut changes,
            "category",
            category.into(),
            archive_name.clone().into(),
        );
        op.event(Event {
            action: "repository.move_to_archive",
            object_type: "repository",
            object_id: Some(id),
            site_id: None,
            changes: Value::Object(changes),
        });
    }
    if !missing.is_empty() {
        // Dropping the operation rolls everything back, deletions of D10 included.
        return Err(MaintenanceError::TargetsMissing(missing));
    }
    op.finish(actor).await
}

#[cfg(test)]
mod tests {
    use super::archive_target;

    #[test]
    fn targets() {
        let name = "pub/fedora/linux/releases/38/Everything/x86_64/os";
        let want = "pub/archive/fedora/linux/releases/38/Everything/x86_64/os";
        assert_eq!(archive_target("pub/archive", "pub/", name), want);
        assert_eq!(archive_target("pub/archive", "pub", name), want);
        assert_eq!(
            archive_target("pub/archive", "pub/fedora/linux/", name),
            "pub/archive/releases/38/Everything/x86_64/os"
        );
        // Not below the strip prefix: the whole name (whose target then usually is missing).
        assert_eq!(
            archive_target("pub/archive", "pub/", "alt/x"),
            "pub/archive/alt/x"
        );
        // A prefix that is not a whole component is not stripped.
        assert_eq!(
            archive_target("pub/archive", "pu", "pub/x"),
            "pub/archive/pub/x"
        );
        assert_eq!(
            archive_target("pub/archive", "", "pub/x"),
            "pub/archive/pub/x"
        );
        assert_eq!(
            archive_target("pub/archive", "pub/x", "pub/x"),
            "pub/archive"
        );
    }
}
