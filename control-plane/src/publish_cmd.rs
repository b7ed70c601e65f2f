//! `mirrorfleet publish`, `mirrorfleet snapshot list` and `mirrorfleet snapshot rollback`: CLI
//! glue over [`crate::publish`]. The database, data directory, store (URL and S3 settings) and
//! the publisher's settings come from the [`Config`] (control-plane.md §10); the lock timeout
//! is the flag's.

use std::io::Write;
use std::time::Duration;

use crate::audit::cli_actor;
use crate::config::Config;
use crate::db::Database;
use crate::edges::{EdgeSettings, poll_once};
use crate::publish::{PublishError, Publisher, StoreHandle};
use crate::snapshot_cmd::Reported;

/// The publisher of `config`: its database (schema checked), store and settings.
pub async fn publisher(
    config: &Config,
    lock_timeout: Option<Duration>,
) -> anyhow::Result<Publisher> {
    let mut publish = config.publish_config();
    if let Some(t) = lock_timeout {
        publish.lock_timeout = t;
    }
    let db = Database::connect(&config.database.url).await?;
    db.prepare_schema().await?;
    Ok(Publisher {
        db,
        store: StoreHandle::open(&config.store.url, &config.store.s3)?,
        config: publish,
    })
}

/// `cli:<login name>` (control-plane-decisions.md D7).
fn actor() -> String {
    cli_actor()
}

fn reported(e: PublishError) -> anyhow::Error {
    Reported {
        status: e.exit_status(),
        message: e.to_string(),
    }
    .into()
}

/// `mirrorfleet publish [--force --reason TEXT] [--lock-timeout DURATION]`.
pub async fn publish(
    config: &Config,
    force: bool,
    reason: Option<&str>,
    lock_timeout: Option<Duration>,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let p = publisher(config, lock_timeout).await?;
    let r = p.publish(force, reason, &actor()).await;
    p.db.close().await;
    let r = r.map_err(reported)?;
    for w in &r.warnings {
        writeln!(out, "warning: {w}")?;
    }
    for t in &r.forced_rails {
        writeln!(out, "forced past guard rail: {t}")?;
    }
    writeln!(
        out,
        "published version {} (manifest serial {}): {} ({} bytes, sha256 {})",
        r.version, r.serial, r.key, r.size, r.sha256
    )?;
    writeln!(
        out,
        "  hosts {}, directories {}, carried pairs {}; rails compared with {}",
        r.counts["hosts"], r.counts["directories"], r.counts["carried_pairs"], r.compared_with
    )?;
    for d in &r.deleted {
        writeln!(out, "  retention: deleted {d}")?;
    }
    Ok(())
}

/// `mirrorfleet snapshot resume`: lifts the hold and publishes at once.
pub async fn resume(config: &Config, out: &mut dyn Write) -> anyhow::Result<()> {
    let p = publisher(config, None).await?;
    let r = p.resume(false, None, &actor()).await;
    p.db.close().await;
    let r = r.map_err(reported)?;
    writeln!(
        out,
        "publishing resumed; published version {} (manifest serial {})",
        r.version, r.serial
    )?;
    Ok(())
}

/// `mirrorfleet snapshot list`: the versions, each with the edges serving it. The edge
/// reports are polled once first (control-plane.md §7.7), so the list is current without a
/// running `mirrorfleet serve`.
pub async fn list(config: &Config, out: &mut dyn Write) -> anyhow::Result<()> {
    let p = publisher(config, None).await?;
    let listed = async {
        let polled = poll_once(&p.db, &p.store, EdgeSettings::from_config(config)).await?;
        let lines = p
            .list_with_edges(Some(&polled.edges))
            .await
            .map_err(reported)?;
        anyhow::Ok((lines, polled.malformed))
    }
    .await;
    p.db.close().await;
    let (lines, malformed) = listed?;
    for l in lines {
        writeln!(out, "{l}")?;
    }
    for m in malformed {
        writeln!(out, "warning: {} skipped: {}", m.key, m.reason)?;
    }
    Ok(())
}

/// `mirrorfleet snapshot rollback VERSION [--reason TEXT]`.
pub async fn rollback(
    config: &Config,
    version: u64,
    reason: Option<&str>,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let p = publisher(config, None).await?;
    let r = p.rollback(version, reason, &actor()).await;
    p.db.close().await;
    let serial = r.map_err(reported)?;
    writeln!(
        out,
        "rolled back to version {version} (manifest serial {serial}); publishing is on hold \
         until `mirrorfleet snapshot resume`"
    )?;
    Ok(())
}
