//! `move-devel-to-release --category C --version V` (control-plane.md §9): after a release,
//! the repositories that served it from the development tree move to the releases tree.
//!
//! For every repository of C with a prefix and a directory whose name contains
//! `development/V/`, the target is that name with (its first) `development/V/` replaced by
//! `releases/V/`. When the target exists and has no repository (or only an unmapped one the
//! scanner created, which is deleted: control-plane-decisions.md D10), the repository moves
//! there and its version becomes V; otherwise it is skipped with "target missing" or "target
//! already has repository X". The prefix stays: `fedora-41` keeps answering, from the new tree.

use serde_json::Value;

use super::{
    Change, Event, MaintenanceError, Operation, Report, Target, field_change, find_category,
    find_directory, find_product_by_id, find_version, free_target, repo_label, sort_repositories,
};
use crate::db::Database;
use crate::with_tx;

/// Moves the development repositories of `category` for `version` to the releases tree, in
/// one transaction (rolled back with `dry_run`), audited as `actor`. An unknown category, or a
/// version its product does not have, is [`MaintenanceError::NotFound`].
pub async fn move_devel_to_release(
    db: &Database,
    category: &str,
    version: &str,
    dry_run: bool,
    actor: &str,
) -> Result<Report, MaintenanceError> {
    let mut op = Operation::begin(db, dry_run).await?;
    let Some((category_id, _, product_id, _)) = find_category(&mut op.tx, category).await? else {
        return Err(MaintenanceError::NotFound(format!(
            "no category named {category:?}"
        )));
    };
    let product = find_product_by_id(&mut op.tx, product_id).await?;
    let version_id = find_version(&mut op.tx, product_id, &product, version).await?;

    // (id, prefix, arch, directory, version id, version name)
    type Row = (i64, String, String, String, Option<i64>, Option<String>);
    let mut rows: Vec<Row> = with_tx!(&mut op.tx, c => sqlx::query_as(
        "SELECT r.id, r.prefix, a.name, d.name, r.version_id, v.name FROM repository r \
         JOIN arch a ON a.id = r.arch_id \
         JOIN directory d ON d.id = r.directory_id \
         LEFT JOIN version v ON v.id = r.version_id \
         WHERE r.category_id = $1 AND r.prefix IS NOT NULL")
        .bind(category_id)
        .fetch_all(&mut *c).await)?;
    sort_repositories(&mut rows, |r| (Some(r.1.as_str()), r.2.as_str(), r.0));
    let development = format!("development/{version}/");
    let releases = format!("releases/{version}/");
    for (id, prefix, arch, directory, old_version_id, old_version) in rows {
        if !directory.contains(&development) {
            continue;
        }
        let label = repo_label(id, Some(&prefix), &arch);
        let target = directory.replacen(&development, &releases, 1);
        let Some((target_id, occupant)) = find_directory(&mut op.tx, &target).await? else {
            op.skip("repository", label, format!("target missing: {target}"));
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
            "UPDATE repository SET directory_id = $1, last_directory_name = $2, version_id = $3, \
             row_version = row_version + 1 WHERE id = $4")
            .bind(target_id).bind(&target).bind(version_id).bind(id)
            .execute(&mut *c).await.map(|_| ()))?;
        let mut changes = serde_json::Map::new();
        op.change(
            Change::Update {
                kind: "repository",
                key: label.clone(),
                field: "directory",
                old: directory.clone(),
                new: target.clone(),
            },
            true,
        );
        field_change(&mut changes, "directory", directory.into(), target.into());
        if old_version_id != Some(version_id) {
            op.change(
                Change::Update {
                    kind: "repository",
                    key: label,
                    field: "version",
                    old: old_version.clone().unwrap_or_else(|| "(none)".into()),
                    new: version.to_string(),
                },
                false,
            );
            field_change(
                &mut changes,
                "version",
                old_version.map_or(Value::Null, Value::from),
                version.into(),
            );
        }
        op.event(Event {
            action: "repository.move_devel_to_release",
            object_type: "repository",
            object_id: Some(id),
            site_id: None,
            changes: Value::Object(changes),
        });
    }
    op.finish(actor).await
}
