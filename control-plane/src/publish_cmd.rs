//! `mirrorfleet publish`, `mirrorfleet snapshot list` and `mirrorfleet snapshot rollback`: CLI
//! glue over [`crate::publish`]. Until the configuration file exists (control-plane.md §10),
//! the data directory is `MIRRORFLEET__DATA__DIR` (default `data`) and the store
//! `MIRRORFLEET__STORE__URL` (default `file://<data dir>/store`).

use std::io::Write;
use std::time::Duration;

use crate::db::Database;
use crate::publish::{PublishConfig, PublishError, Publisher, StoreHandle};
use crate::snapshot_cmd::Reported;

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Parses a duration as written in the configuration: `500ms`, `10s`, `10m`, `12h`, `7d`.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = t.split_at(split);
    let n: u64 = n.parse().ok()?;
    Some(match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.checked_mul(60)?),
        "h" => Duration::from_secs(n.checked_mul(3600)?),
        "d" => Duration::from_secs(n.checked_mul(86_400)?),
        _ => return None,
    })
}

async fn publisher(url: &str, lock_timeout: Option<&str>) -> anyhow::Result<Publisher> {
    let data_dir = crate::db_cmd::data_dir();
    let store_url = env("MIRRORFLEET__STORE__URL")
        .unwrap_or_else(|| format!("file://{}", data_dir.join("store").display()));
    let mut config = PublishConfig {
        data_dir,
        ..PublishConfig::default()
    };
    if let Some(t) = lock_timeout {
        config.lock_timeout = parse_duration(t).ok_or_else(|| {
            anyhow::anyhow!("--lock-timeout: {t:?} is not a duration (e.g. 30s, 5m)")
        })?;
    }
    let db = Database::connect(url).await?;
    db.prepare_schema().await?;
    Ok(Publisher {
        db,
        store: StoreHandle::from_url(&store_url)?,
        config,
    })
}

fn actor() -> String {
    env("USER").map_or_else(|| "cli".to_string(), |u| format!("cli:{u}"))
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
    url: &str,
    force: bool,
    reason: Option<&str>,
    lock_timeout: Option<&str>,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let p = publisher(url, lock_timeout).await?;
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
pub async fn resume(url: &str, out: &mut dyn Write) -> anyhow::Result<()> {
    let p = publisher(url, None).await?;
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

/// `mirrorfleet snapshot list`.
pub async fn list(url: &str, out: &mut dyn Write) -> anyhow::Result<()> {
    let p = publisher(url, None).await?;
    let lines = p.list().await;
    p.db.close().await;
    for l in lines.map_err(reported)? {
        writeln!(out, "{l}")?;
    }
    Ok(())
}

/// `mirrorfleet snapshot rollback VERSION [--reason TEXT]`.
pub async fn rollback(
    url: &str,
    version: u64,
    reason: Option<&str>,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let p = publisher(url, None).await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration("m"), None);
    }
}
