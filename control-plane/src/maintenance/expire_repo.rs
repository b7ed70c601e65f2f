//! `emergency-expire-repo PRODUCT VERSION` (control-plane.md §9): when a repository was
//! broken and replaced, the broken metadata must stop verifying at once. For every repository
//! of the version, in its directory and every directory below it, every file detail but the
//! newest of each file is deleted. Metalinks then carry no alternates, so dnf accepts only
//! mirrors that serve the newest repomd.xml. The CLI publishes right after the commit, without
//! the debounce of `serve` (see `cmd`).
//!
//! Repository directories may nest (`updates/40/Everything/x86_64` holds
//! `…/x86_64/debug`): each file detail is deleted once, reported under the repository whose
//! directory is nearest to it.

use std::collections::{BTreeMap, HashSet};

use serde_json::json;

use super::{
    Change, Event, MaintenanceError, Operation, Report, find_product, find_version, repo_label,
    sort_repositories,
};
use crate::db::Database;
use crate::with_tx;

/// A file detail below a repository directory: (id, directory, filename, timestamp, size,
/// sha256, sha512, sha1, md5).
type DetailRow = (
    i64,
    String,
    String,
    i64,
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// Deletes every file detail but the newest of each file below the directories of the
/// repositories of `version` of `product`, in one transaction (rolled back with `dry_run`),
/// audited as `actor` (one event per repository). Unknown product or version:
/// [`MaintenanceError::NotFound`].
pub async fn emergency_expire_repo(
    db: &Database,
    product: &str,
    version: &str,
    dry_run: bool,
    actor: &str,
) -> Result<Report, MaintenanceError> {
    let mut op = Operation::begin(db, dry_run).await?;
    let (product_id, product) = find_product(&mut op.tx, product).await?;
    let version_id = find_version(&mut op.tx, product_id, &product, version).await?;
    // (id, prefix, arch, directory)
    let mut repos: Vec<(i64, Option<String>, String, Option<String>)> = with_tx!(&mut op.tx, c =>
        sqlx::query_as(
            "SELECT r.id, r.prefix, a.name, d.name FROM repository r \
             JOIN arch a ON a.id = r.arch_id \
             LEFT JOIN directory d ON d.id = r.directory_id \
             WHERE r.version_id = $1")
        .bind(version_id)
        .fetch_all(&mut *c).await)?;
    sort_repositories(&mut repos, |r| (r.1.as_deref(), r.2.as_str(), r.0));

    // Each file detail goes to the repository with the longest directory above it.
    let mut owner: BTreeMap<i64, (usize, usize)> = BTreeMap::new(); // detail id → (depth, repo)
    let mut details: BTreeMap<i64, DetailRow> = BTreeMap::new();
    let mut keep: HashSet<i64> = HashSet::new();
    for (i, (id, prefix, arch, directory)) in repos.iter().enumerate() {
        let Some(directory) = directory else {
            op.skip(
                "repository",
                repo_label(*id, prefix.as_deref(), arch),
                "no directory",
            );
            continue;
        };
        // `substr` rather than `LIKE 'dir/%'`: directory names hold `_`, a LIKE wildcard.
        let below = format!("{directory}/");
        let rows: Vec<DetailRow> = with_tx!(&mut op.tx, c => sqlx::query_as(
            "SELECT fd.id, d.name, fd.filename, fd.timestamp, fd.size, fd.sha256, fd.sha512, \
             fd.sha1, fd.md5 FROM file_detail fd JOIN directory d ON d.id = fd.directory_id \
             WHERE d.name = $1 OR substr(d.name, 1, $2) = $3 \
             ORDER BY d.name, fd.filename, fd.timestamp DESC, fd.id DESC")
            .bind(directory)
            .bind(below.chars().count() as i32)
            .bind(&below)
            .fetch_all(&mut *c).await)?;
        let mut previous: Option<(String, String)> = None;
        for row in rows {
            let file = (row.1.clone(), row.2.clone());
            // The first row of each (directory, file name) is the newest: kept.
            if previous.as_ref() != Some(&file) {
                keep.insert(row.0);
            }
            previous = Some(file);
            let depth = directory.len();
            match owner.get(&row.0) {
                Some(&(d, _)) if d >= depth => {}
                _ => {
                    owner.insert(row.0, (depth, i));
                }
            }
            details.insert(row.0, row);
        }
    }

    let mut per_repo: BTreeMap<usize, Vec<&DetailRow>> = BTreeMap::new();
    for (id, row) in &details {
        if !keep.contains(id) {
            per_repo.entry(owner[id].1).or_default().push(row);
        }
    }
    for (i, rows) in per_repo {
        let repo_id = repos[i].0;
        let mut deleted = Vec::new();
        for (id, dir, filename, timestamp, size, sha256, sha512, sha1, md5) in rows {
            with_tx!(&mut op.tx, c => sqlx::query("DELETE FROM file_detail WHERE id = $1")
                .bind(*id).execute(&mut *c).await.map(|_| ()))?;
            let digest = [
                ("sha256", sha256),
                ("sha512", sha512),
                ("sha1", sha1),
                ("md5", md5),
            ]
            .into_iter()
            .find_map(|(name, d)| d.as_ref().map(|d| format!("{name} {d}")))
            .unwrap_or_default();
            op.change(
                Change::Delete {
                    kind: "file_detail",
                    key: format!("{dir}/{filename} (timestamp {timestamp}, size {size}, {digest})"),
                },
                true,
            );
            deleted.push(json!({
                "directory": dir, "filename": filename, "timestamp": timestamp, "size": size,
                "sha256": sha256, "sha512": sha512, "sha1": sha1, "md5": md5,
            }));
        }
        op.event(Event {
            action: "repository.emergency_expire",
            object_type: "repository",
            object_id: Some(repo_id),
            site_id: None,
            changes: json!({"file_details": {"old": deleted, "new": []}}),
        });
    }
    op.finish(actor).await
}
