//! The administrators' switch of a host (control-plane.md, `host disable SITE/HOST [--reason
//! TEXT]` and `host enable SITE/HOST`): `host.admin_active` and `host.disable_reason`, with an
//! audit event and the generation bump in the same transaction.
//!
//! - **disable** an enabled host: `admin_active = false`, `disable_reason` = the reason, or
//!   NULL without one (a reason left from an earlier disable would explain the wrong action);
//!   the generation is bumped.
//! - **disable** a disabled host: nothing changes, unless a different reason is given: then
//!   only `disable_reason` is updated (audited), and the generation is not bumped, the reason
//!   being no selection data (data-model.md: `disable_reason` is "–").
//! - **enable** a disabled host: `admin_active = true`, and `disable_reason` is cleared unless
//!   the host is still disabled by the crawler (`auto_disabled_at`), whose reason it may be;
//!   the generation is bumped.
//! - **enable** an enabled host: nothing changes.
//!
//! Nothing is published here: `mirrorfleet serve` notices the generation (control-plane.md
//! §7.1), or the next `mirrorfleet publish` carries the change.

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::audit::{self, AuditEvent};
use crate::db::Database;
use crate::inventory::model::folded;
use crate::store::{StoreError, Tx};
use crate::with_tx;

/// Longest `disable_reason` (data-model.md: text(500); a schema check too).
pub const MAX_REASON_CHARS: usize = 500;

/// What to do with the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostSwitch<'a> {
    /// `admin_active = false`, with an optional reason.
    Disable { reason: Option<&'a str> },
    /// `admin_active = true`.
    Enable,
}

/// What a switch did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SwitchOutcome {
    /// `admin_active` changed; the generation was bumped.
    Switched,
    /// The host was already disabled; only its reason changed (generation unchanged).
    ReasonUpdated,
    /// The host was already in that state: nothing written, nothing audited.
    Unchanged,
}

/// The report of [`switch_host`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostSwitchReport {
    /// The site's name as stored.
    pub site: String,
    /// The host's name as stored.
    pub host: String,
    pub site_id: i64,
    pub host_id: i64,
    pub outcome: SwitchOutcome,
    /// `admin_active` after the call.
    pub admin_active: bool,
    /// `disable_reason` after the call.
    pub disable_reason: Option<String>,
    /// `meta.generation` before and after (equal unless `outcome` is `Switched`).
    pub generation_before: i64,
    pub generation_after: i64,
    /// Why the host is still not *active* (data-model.md §9) apart from `admin_active`: its
    /// owners' switch, the crawler's auto-disable, its site's switches. Empty when
    /// `admin_active` is now the only thing that decides.
    pub also_inactive: Vec<String>,
}

impl HostSwitchReport {
    /// `site/host`, as the command takes it.
    pub fn target(&self) -> String {
        format!("{}/{}", self.site, self.host)
    }
}

/// Splits `SITE/HOST` at the last `/` (site names may hold `/`, host names may not). Both
/// parts must be non-empty.
pub fn parse_target(text: &str) -> Result<(&str, &str), StoreError> {
    match text.rsplit_once('/') {
        Some((site, host)) if !site.is_empty() && !host.is_empty() => Ok((site, host)),
        _ => Err(StoreError::Invalid(format!(
            "{text:?} is not SITE/HOST: expected the site name, `/`, and the host name \
             (split at the last `/`), e.g. \"Example University/mirror.example.edu\""
        ))),
    }
}

/// Checks a `--reason`: 1–500 characters.
pub fn check_reason(reason: &str) -> Result<(), StoreError> {
    let n = reason.chars().count();
    if reason.trim().is_empty() {
        return Err(StoreError::Invalid("--reason must not be empty".into()));
    }
    if n > MAX_REASON_CHARS {
        return Err(StoreError::Invalid(format!(
            "--reason is {n} characters long; at most {MAX_REASON_CHARS}"
        )));
    }
    Ok(())
}

type SiteRow = (i64, String, bool, bool);
type HostRow = (
    i64,
    String,
    bool,
    bool,
    Option<OffsetDateTime>,
    Option<String>,
);

/// Disables or enables the host `host` of the site `site` (names matched ignoring case, as
/// the database keys them), in one transaction with its audit event (actor `actor`) and,
/// when `admin_active` changes, the generation bump. An unknown site or host is
/// [`StoreError::NotFound`] naming what was not found.
pub async fn switch_host(
    db: &Database,
    site: &str,
    host: &str,
    switch: HostSwitch<'_>,
    actor: &str,
) -> Result<HostSwitchReport, StoreError> {
    if let HostSwitch::Disable {
        reason: Some(reason),
    } = switch
    {
        check_reason(reason)?;
    }
    let mut tx = Tx::begin(db).await?;
    // A write first, as the import does: it takes SQLite's write lock at once and locks the
    // meta row on PostgreSQL, so generation bumps run one after the other.
    let generation: Option<i64> = with_tx!(&mut tx, c => sqlx::query_scalar(
        "UPDATE meta SET generation = generation WHERE id = 1 \
         RETURNING CAST(generation AS BIGINT)")
        .fetch_optional(&mut *c).await)?;
    let Some(generation_before) = generation else {
        tx.rollback().await?;
        return Err(StoreError::NotInitialised);
    };
    let site_row: Option<SiteRow> = with_tx!(&mut tx, c => sqlx::query_as(
        "SELECT CAST(id AS BIGINT), name, admin_active, user_active FROM site WHERE name_key = $1")
        .bind(folded(site)).fetch_optional(&mut *c).await)?;
    let Some((site_id, site_name, site_admin_active, site_user_active)) = site_row else {
        tx.rollback().await?;
        return Err(StoreError::NotFound(format!("no site named {site:?}")));
    };
    let host_row: Option<HostRow> = with_tx!(&mut tx, c => sqlx::query_as(
        "SELECT CAST(id AS BIGINT), name, admin_active, user_active, auto_disabled_at, \
         disable_reason FROM host WHERE site_id = $1 AND name_key = $2")
        .bind(site_id).bind(folded(host)).fetch_optional(&mut *c).await)?;
    let Some((host_id, host_name, admin_active, user_active, auto_disabled_at, old_reason)) =
        host_row
    else {
        tx.rollback().await?;
        return Err(StoreError::NotFound(format!(
            "site {site_name:?} has no host named {host:?}"
        )));
    };

    let (new_active, new_reason, outcome) = match switch {
        HostSwitch::Disable { reason } if admin_active => {
            (false, reason.map(str::to_string), SwitchOutcome::Switched)
        }
        HostSwitch::Disable {
            reason: Some(reason),
        } if old_reason.as_deref() != Some(reason) => (
            false,
            Some(reason.to_string()),
            SwitchOutcome::ReasonUpdated,
        ),
        HostSwitch::Enable if !admin_active => {
            // The crawler's auto-disable still holds the host out; its reason may be the one.
            let keep = auto_disabled_at.is_some();
            (
                true,
                if keep { old_reason.clone() } else { None },
                SwitchOutcome::Switched,
            )
        }
        _ => (admin_active, old_reason.clone(), SwitchOutcome::Unchanged),
    };

    let mut also_inactive = Vec::new();
    if !user_active {
        also_inactive.push("the host's owners disabled it (user_active = false)".to_string());
    }
    if let Some(at) = auto_disabled_at {
        let at = at.format(&Rfc3339).unwrap_or_else(|_| at.to_string());
        also_inactive.push(format!(
            "the crawler disabled it automatically at {at} (auto_disabled_at; cleared by a \
             successful crawl or an administrator)"
        ));
    }
    if !site_admin_active {
        also_inactive.push(format!(
            "its site {site_name:?} is disabled by an administrator (site admin_active = false)"
        ));
    }
    if !site_user_active {
        also_inactive.push(format!(
            "its site {site_name:?} is disabled by its owners (site user_active = false)"
        ));
    }
    let mut report = HostSwitchReport {
        site: site_name,
        host: host_name,
        site_id,
        host_id,
        outcome,
        admin_active: new_active,
        disable_reason: new_reason.clone(),
        generation_before,
        generation_after: generation_before,
        also_inactive,
    };
    if outcome == SwitchOutcome::Unchanged {
        tx.rollback().await?;
        return Ok(report);
    }

    with_tx!(&mut tx, c => sqlx::query(
        "UPDATE host SET admin_active = $1, disable_reason = $2, row_version = row_version + 1 \
         WHERE id = $3")
        .bind(new_active).bind(new_reason.as_deref()).bind(host_id)
        .execute(&mut *c).await.map(|_| ()))?;
    if outcome == SwitchOutcome::Switched {
        // admin_active drives selection (data-model.md §9): a generation bump, which
        // `mirrorfleet serve` publishes (control-plane.md §7.1).
        report.generation_after = with_tx!(&mut tx, c => sqlx::query_scalar(
            "UPDATE meta SET generation = generation + 1 WHERE id = 1 \
             RETURNING CAST(generation AS BIGINT)")
            .fetch_one(&mut *c).await)?;
    }
    let mut changes = serde_json::Map::new();
    if new_active != admin_active {
        changes.insert(
            "admin_active".into(),
            json!({"old": admin_active, "new": new_active}),
        );
    }
    if new_reason != old_reason {
        changes.insert(
            "disable_reason".into(),
            json!({"old": old_reason, "new": new_reason}),
        );
    }
    audit::record(
        &mut tx,
        &AuditEvent {
            actor,
            action: match switch {
                HostSwitch::Disable { .. } => "host.disable",
                HostSwitch::Enable => "host.enable",
            },
            object_type: "host",
            object_id: Some(host_id.to_string()),
            site_id: Some(site_id),
            changes: Value::Object(changes),
            generation_after: Some(report.generation_after),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(report)
}
