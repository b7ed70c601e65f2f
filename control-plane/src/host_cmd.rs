//! `mirrorfleet host disable SITE/HOST [--reason TEXT]` and `mirrorfleet host enable
//! SITE/HOST`: CLI glue over [`crate::store::host`]. Exit status 2 for a malformed SITE/HOST, a
//! bad reason, or an unknown site or host; 0 also when the host already was in that state.

use std::io::Write;

use crate::audit::cli_actor;
use crate::config::Config;
use crate::db_cmd::open_prepared;
use crate::publish::publish_state;
use crate::snapshot_cmd::Reported;
use crate::store::StoreError;
use crate::store::host::{HostSwitch, SwitchOutcome, check_reason, parse_target, switch_host};

fn usage(e: StoreError) -> anyhow::Error {
    match e {
        StoreError::Invalid(message) | StoreError::NotFound(message) => {
            Reported { status: 2, message }.into()
        }
        other => other.into(),
    }
}

fn quoted(reason: Option<&str>) -> String {
    reason.map_or_else(
        || "no reason given".to_string(),
        |r| format!("reason: {r:?}"),
    )
}

/// `host disable` (`reason` given or not) or `host enable` (`enable`).
pub async fn switch(
    config: &Config,
    target: &str,
    switch: HostSwitch<'_>,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    // Usage errors before the database is opened.
    let (site, host) = parse_target(target).map_err(usage)?;
    if let HostSwitch::Disable {
        reason: Some(reason),
    } = switch
    {
        check_reason(reason).map_err(usage)?;
    }
    let db = open_prepared(&config.database.url).await?;
    let result = switch_host(&db, site, host, switch, &cli_actor()).await;
    let hold = match &result {
        Ok(r) if r.outcome == SwitchOutcome::Switched => publish_state(&db).await.ok(),
        _ => None,
    };
    db.close().await;
    let r = result.map_err(usage)?;
    let target = r.target();
    let state = if r.admin_active {
        "enabled"
    } else {
        "disabled"
    };
    // A disabled host's reason, as it is shown after its state.
    let reason = if r.admin_active {
        String::new()
    } else {
        format!(" ({})", quoted(r.disable_reason.as_deref()))
    };
    match r.outcome {
        SwitchOutcome::Unchanged => {
            writeln!(
                out,
                "host {target:?} is already {state}{reason}; nothing changed (generation {})",
                r.generation_after
            )?;
        }
        SwitchOutcome::ReasonUpdated => {
            writeln!(
                out,
                "host {target:?} is already disabled; reason changed to {:?} (generation {} \
                 unchanged: the reason is not part of a snapshot)",
                r.disable_reason.as_deref().unwrap_or_default(),
                r.generation_after
            )?;
        }
        SwitchOutcome::Switched => {
            writeln!(
                out,
                "host {target:?} {state}{reason}; generation {} → {}",
                r.generation_before, r.generation_after
            )?;
            if r.admin_active && !r.also_inactive.is_empty() {
                writeln!(
                    out,
                    "note: the host stays out of the snapshot: {}",
                    r.also_inactive.join("; ")
                )?;
            }
            match hold {
                Some((true, reason, _)) => writeln!(
                    out,
                    "publishing is on hold ({}): nothing is published until `mirrorfleet \
                     snapshot resume`",
                    reason.as_deref().unwrap_or("no reason recorded")
                )?,
                _ => writeln!(
                    out,
                    "not published by this command: published by `mirrorfleet serve` or the \
                     next `mirrorfleet publish`"
                )?,
            }
        }
    }
    Ok(())
}
