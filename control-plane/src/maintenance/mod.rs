//! The maintenance operations of control-plane.md §9, which release engineering runs at fixed
//! moments of a release: `move-devel-to-release` ([`release`]), `move-to-archive`
//! ([`archive`]), `emergency-expire-repo` ([`expire_repo`]), `add-product` ([`product`]) and
//! `expire-stats` with the other daily expiries of `serve` ([`expiry`]). `cmd` is the CLI glue
//! (output, the publish that follows, exit statuses).
//!
//! Every operation is one transaction that plans and writes in the same pass: it reads, decides
//! each change or skip (with its reason), writes it, records one audit event per changed
//! object, and bumps `meta.generation` once when a field that drives selection changed. A dry
//! run does exactly the same and rolls back, so what it prints is what a real run would do,
//! against the same data. MirrorManager2's scripts committed row by row and stopped half-way on
//! errors; here an error anywhere leaves the database as it was.
//!
//! The operations know nothing about publishing: the CLI publishes after the commit
//! (control-plane-decisions.md D20), and `serve` would publish the generation bump anyway.

pub mod archive;
pub mod cmd;
pub mod expire_repo;
pub mod expiry;
pub mod product;
pub mod release;

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use serde_json::Value;

use crate::audit::{self, AuditEvent};
use crate::db::Database;
use crate::inventory::model::folded;
use crate::store::{StoreError, Tx};
use crate::with_tx;

/// Why an operation changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum MaintenanceError {
    /// A bad argument: a malformed name or path, a conflicting category (exit status 2).
    #[error("{0}")]
    Invalid(String),
    /// A named object does not exist: category, product, version, prefix, site or host (exit
    /// status 2).
    #[error("{0}")]
    NotFound(String),
    /// `move-to-archive`: these target directories do not exist (control-plane.md §9: every
    /// target must exist, else nothing changes).
    #[error(
        "{} target {} missing in the archive; nothing changed (scan the archive first):\n  {}",
        .0.len(),
        if .0.len() == 1 { "directory is" } else { "directories are" },
        .0.join("\n  ")
    )]
    TargetsMissing(Vec<String>),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for MaintenanceError {
    fn from(e: sqlx::Error) -> Self {
        MaintenanceError::Store(StoreError::Query(e))
    }
}

impl MaintenanceError {
    /// The exit status of the command (control-plane.md: 2 usage and validation, 1 runtime).
    pub fn exit_status(&self) -> u8 {
        match self {
            MaintenanceError::Invalid(_)
            | MaintenanceError::NotFound(_)
            | MaintenanceError::TargetsMissing(_) => 2,
            MaintenanceError::Store(_) => 1,
        }
    }
}

/// One change an operation made (or, in a dry run, would make), printed as control-plane.md
/// prints import changes: `+ kind key`, `~ kind key: field old → new`, `- kind key`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    Create {
        kind: &'static str,
        key: String,
    },
    Update {
        kind: &'static str,
        key: String,
        field: &'static str,
        old: String,
        new: String,
    },
    Delete {
        kind: &'static str,
        key: String,
    },
}

impl Change {
    fn kind(&self) -> &'static str {
        match self {
            Change::Create { kind, .. }
            | Change::Update { kind, .. }
            | Change::Delete { kind, .. } => kind,
        }
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Create { kind, key } => write!(f, "+ {kind} {key}"),
            Change::Update {
                kind,
                key,
                field,
                old,
                new,
            } => write!(f, "~ {kind} {key}: {field} {old} → {new}"),
            Change::Delete { kind, key } => write!(f, "- {kind} {key}"),
        }
    }
}

/// An object an operation left alone, and why (control-plane.md §9: "skipped with …").
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Skip {
    pub kind: &'static str,
    pub key: String,
    pub reason: String,
}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "skip {} {}: {}", self.kind, self.key, self.reason)
    }
}

/// What an operation did (or would do).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Every change, in the order made.
    pub changes: Vec<Change>,
    /// Every object left alone, with its reason.
    pub skips: Vec<Skip>,
    /// `meta.generation` before the operation.
    pub generation_before: i64,
    /// After it (the same when no selection data changed).
    pub generation_after: i64,
    /// True when nothing was written (the transaction was rolled back).
    pub dry_run: bool,
}

impl Report {
    /// True when the operation changed nothing.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

impl fmt::Display for Report {
    /// Every change and skip, a count per kind, then the generation.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in &self.changes {
            writeln!(f, "{c}")?;
        }
        for s in &self.skips {
            writeln!(f, "{s}")?;
        }
        // Rows per kind: an update of several fields of one row counts once.
        let mut counts: BTreeMap<&str, [Vec<&str>; 3]> = BTreeMap::new();
        for c in &self.changes {
            let (i, key) = match c {
                Change::Create { key, .. } => (0, key),
                Change::Update { key, .. } => (1, key),
                Change::Delete { key, .. } => (2, key),
            };
            let keys = &mut counts.entry(c.kind()).or_default()[i];
            if keys.last() != Some(&key.as_str()) {
                keys.push(key);
            }
        }
        if counts.is_empty() {
            writeln!(f, "no changes")?;
        }
        for (kind, [created, updated, deleted]) in &counts {
            writeln!(
                f,
                "{kind}: {} created, {} updated, {} deleted",
                created.len(),
                updated.len(),
                deleted.len()
            )?;
        }
        if !self.skips.is_empty() {
            writeln!(f, "{} skipped", self.skips.len())?;
        }
        if self.dry_run {
            write!(
                f,
                "dry run: nothing written (generation {} would be {})",
                self.generation_before, self.generation_after
            )
        } else {
            write!(
                f,
                "generation {} → {}",
                self.generation_before, self.generation_after
            )
        }
    }
}

/// How a repository is named in changes, skips and messages: `prefix/arch`, or for an
/// unmapped one (no prefix) `#id (unmapped, arch)`.
pub fn repo_label(id: i64, prefix: Option<&str>, arch: &str) -> String {
    match prefix {
        Some(p) => format!("{p}/{arch}"),
        None => format!("#{id} (unmapped, {arch})"),
    }
}

/// Sorts repository rows for output: by prefix (unmapped ones last), arch and id, byte-wise,
/// so both backends print the same (PostgreSQL's `ORDER BY` follows the database's
/// collation, which may ignore punctuation).
fn sort_repositories<T>(rows: &mut [T], key: impl Fn(&T) -> (Option<&str>, &str, i64)) {
    rows.sort_by(|a, b| {
        let (pa, aa, ia) = key(a);
        let (pb, ab, ib) = key(b);
        (pa.is_none(), pa, aa, ia).cmp(&(pb.is_none(), pb, ab, ib))
    });
}

/// One audit event to write when the operation finishes (its generation is known then).
#[derive(Clone, Debug)]
struct Event {
    action: &'static str,
    object_type: &'static str,
    object_id: Option<i64>,
    site_id: Option<i64>,
    changes: Value,
}

/// An operation under way: its transaction, its report, and the audit events to write.
struct Operation {
    tx: Tx,
    report: Report,
    events: Vec<Event>,
    /// A field that drives selection changed (data-model.md §1, "Generation").
    selection_changed: bool,
}

impl Operation {
    /// Begins the operation's transaction with a write, as the import does: it takes SQLite's
    /// write lock at once (a deferred transaction that reads first can fail to upgrade) and
    /// locks the meta row on PostgreSQL, so operations and other generation bumps run one
    /// after the other.
    async fn begin(db: &Database, dry_run: bool) -> Result<Operation, MaintenanceError> {
        let mut tx = Tx::begin(db).await?;
        let generation: Option<i64> = with_tx!(&mut tx, c => sqlx::query_scalar(
            "UPDATE meta SET generation = generation WHERE id = 1 \
             RETURNING CAST(generation AS BIGINT)")
            .fetch_optional(&mut *c).await)?;
        let Some(generation) = generation else {
            tx.rollback().await?;
            return Err(StoreError::NotInitialised.into());
        };
        Ok(Operation {
            tx,
            report: Report {
                generation_before: generation,
                generation_after: generation,
                dry_run,
                ..Report::default()
            },
            events: Vec::new(),
            selection_changed: false,
        })
    }

    fn change(&mut self, change: Change, selection: bool) {
        self.report.changes.push(change);
        self.selection_changed |= selection;
    }

    fn skip(&mut self, kind: &'static str, key: impl Into<String>, reason: impl Into<String>) {
        self.report.skips.push(Skip {
            kind,
            key: key.into(),
            reason: reason.into(),
        });
    }

    fn event(&mut self, event: Event) {
        self.events.push(event);
    }

    /// Bumps the generation when selection data changed, writes the audit events (actor
    /// `actor`, the generation after), and commits, or rolls back in a dry run.
    async fn finish(mut self, actor: &str) -> Result<Report, MaintenanceError> {
        if self.selection_changed {
            self.report.generation_after = with_tx!(&mut self.tx, c => sqlx::query_scalar(
                "UPDATE meta SET generation = generation + 1 WHERE id = 1 \
                 RETURNING CAST(generation AS BIGINT)")
                .fetch_one(&mut *c).await)?;
        }
        for e in &self.events {
            audit::record(
                &mut self.tx,
                &AuditEvent {
                    actor,
                    action: e.action,
                    object_type: e.object_type,
                    object_id: e.object_id.map(|id| id.to_string()),
                    site_id: e.site_id,
                    changes: e.changes.clone(),
                    generation_after: Some(self.report.generation_after),
                },
            )
            .await?;
        }
        if self.report.dry_run {
            self.tx.rollback().await?;
        } else {
            self.tx.commit().await?;
        }
        Ok(self.report)
    }
}

/// `{"field": {"old": old, "new": new}}` for the audit log.
fn field_change(changes: &mut serde_json::Map<String, Value>, field: &str, old: Value, new: Value) {
    changes.insert(
        field.to_string(),
        serde_json::json!({"old": old, "new": new}),
    );
}

/// Looks a product up by name (ignoring case, as the database keys it): (id, name).
async fn find_product(tx: &mut Tx, name: &str) -> Result<(i64, String), MaintenanceError> {
    let row: Option<(i64, String)> = with_tx!(tx, c => sqlx::query_as(
        "SELECT id, name FROM product WHERE name_key = $1")
        .bind(folded(name))
        .fetch_optional(&mut *c).await)?;
    row.ok_or_else(|| MaintenanceError::NotFound(format!("no product named {name:?}")))
}

/// The name of the product `id`.
async fn find_product_by_id(tx: &mut Tx, id: i64) -> Result<String, MaintenanceError> {
    let name: String = with_tx!(tx, c => sqlx::query_scalar(
        "SELECT name FROM product WHERE id = $1")
        .bind(id).fetch_one(&mut *c).await)?;
    Ok(name)
}

/// Looks a version of a product up (names matched exactly): its id.
async fn find_version(
    tx: &mut Tx,
    product_id: i64,
    product: &str,
    name: &str,
) -> Result<i64, MaintenanceError> {
    let id: Option<i64> = with_tx!(tx, c => sqlx::query_scalar(
        "SELECT id FROM version WHERE product_id = $1 AND name = $2")
        .bind(product_id).bind(name)
        .fetch_optional(&mut *c).await)?;
    id.ok_or_else(|| {
        MaintenanceError::NotFound(format!("product {product:?} has no version {name:?}"))
    })
}

/// A category: (id, name, product id, topdir).
type CategoryRow = (i64, String, i64, String);

/// Looks a category up by name (ignoring case).
async fn find_category(tx: &mut Tx, name: &str) -> Result<Option<CategoryRow>, MaintenanceError> {
    Ok(with_tx!(tx, c => sqlx::query_as(
        "SELECT id, name, product_id, topdir FROM category WHERE name_key = $1")
        .bind(folded(name))
        .fetch_optional(&mut *c).await)?)
}

/// The repository a directory holds, if any: (id, prefix, arch, origin).
type Occupant = (i64, Option<String>, String, String);

/// A directory by exact name: its id and the repository in it.
async fn find_directory(
    tx: &mut Tx,
    name: &str,
) -> Result<Option<(i64, Option<Occupant>)>, MaintenanceError> {
    type Row = (
        i64,
        Option<i64>,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let row: Option<Row> = with_tx!(tx, c => sqlx::query_as(
        "SELECT d.id, r.id, r.prefix, a.name, r.origin FROM directory d \
         LEFT JOIN repository r ON r.directory_id = d.id \
         LEFT JOIN arch a ON a.id = r.arch_id \
         WHERE d.name = $1")
        .bind(name)
        .fetch_optional(&mut *c).await)?;
    Ok(row.map(|(dir_id, repo_id, prefix, arch, origin)| {
        let occupant = repo_id.map(|id| {
            (
                id,
                prefix,
                arch.unwrap_or_default(),
                origin.unwrap_or_default(),
            )
        });
        (dir_id, occupant)
    }))
}

/// What to do with a target directory's repository (control-plane-decisions.md D10): an
/// unmapped repository created by the scanner is deleted (the target counts as free); any
/// other makes the target taken.
enum Target {
    /// No repository, or only a scanner's unmapped one (deleted by [`free_target`]).
    Free,
    /// Another repository is there: its label.
    Taken(String),
}

/// Frees `occupant`'s directory when D10 allows it (deleting the repository, recorded as a
/// change and an audit event), else says who holds it.
async fn free_target(
    op: &mut Operation,
    occupant: Option<Occupant>,
    directory: &str,
    why: &str,
) -> Result<Target, MaintenanceError> {
    let Some((id, prefix, arch, origin)) = occupant else {
        return Ok(Target::Free);
    };
    let label = repo_label(id, prefix.as_deref(), &arch);
    if prefix.is_some() || origin != "scanner" {
        return Ok(Target::Taken(label));
    }
    with_tx!(&mut op.tx, c => sqlx::query("DELETE FROM repository WHERE id = $1")
        .bind(id).execute(&mut *c).await.map(|_| ()))?;
    op.change(
        Change::Delete {
            kind: "repository",
            key: format!("{label} in {directory} ({why})"),
        },
        true,
    );
    let mut changes = serde_json::Map::new();
    field_change(&mut changes, "directory", directory.into(), Value::Null);
    field_change(&mut changes, "arch", arch.into(), Value::Null);
    field_change(&mut changes, "origin", origin.into(), Value::Null);
    op.event(Event {
        action: "repository.delete",
        object_type: "repository",
        object_id: Some(id),
        site_id: None,
        changes: Value::Object(changes),
    });
    Ok(Target::Free)
}
