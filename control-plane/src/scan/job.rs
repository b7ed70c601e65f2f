//! The scheduled scan inside `mirrorfleet serve` (control-plane.md §4.8): at start and then
//! every `scanner.interval`, every configured category. It runs beside the web server (the
//! tree is read on blocking threads, the writes are short batches) and never at the same time
//! as a CLI `scan`: when another process holds the scanner lock, this round is skipped. The
//! publisher notices the generation the scan bumped, like any other change. Stopping the
//! server stops a scan under way between two directories.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::watch;

use super::{ScanError, ScanOptions, ScanSettings, Trigger};
use crate::config::Config;
use crate::db::Database;
use crate::snapshot_cmd::Reported;

/// The scanner's settings for `serve`: `None` when `scanner.enabled` is false or no
/// `[[scanner.master]]` is configured; a bad entry is a configuration error (exit 2).
pub fn settings(config: &Config) -> anyhow::Result<Option<Arc<ScanSettings>>> {
    let settings = ScanSettings::from_config(config).map_err(|e| Reported {
        status: 2,
        message: e.to_string(),
    })?;
    if !settings.enabled {
        tracing::info!("scheduled scans are off (scanner.enabled = false)");
        return Ok(None);
    }
    if settings.masters.is_empty() {
        tracing::info!("no [[scanner.master]] configured: no scheduled scans");
        return Ok(None);
    }
    Ok(Some(Arc::new(settings)))
}

/// Scans at once, then every `settings.interval`, until `shutdown` turns true.
pub async fn run(db: Database, settings: Arc<ScanSettings>, mut shutdown: watch::Receiver<bool>) {
    loop {
        if *shutdown.borrow() {
            return;
        }
        let cancel = Arc::new(AtomicBool::new(false));
        let opts = ScanOptions {
            trigger: Trigger::Schedule,
            // Another process scanning: skip this round rather than queue behind it.
            lock_timeout: Duration::ZERO,
            cancel: cancel.clone(),
            ..ScanOptions::default()
        };
        let mut progress = |line: &str| tracing::info!("{line}");
        let scan = super::scan(&db, &settings, &opts, &mut progress);
        tokio::pin!(scan);
        let result = tokio::select! {
            r = &mut scan => r,
            _ = stopped(&mut shutdown) => {
                cancel.store(true, Ordering::Relaxed);
                scan.await
            }
        };
        match result {
            Ok(report) => {
                for line in report.to_string().lines() {
                    if report.failed() {
                        tracing::warn!("scan: {line}");
                    } else {
                        tracing::info!("scan: {line}");
                    }
                }
            }
            Err(ScanError::Busy(why)) => {
                tracing::info!("scheduled scan skipped: {why}");
            }
            Err(ScanError::Cancelled) => {
                tracing::info!("scan stopped");
                return;
            }
            Err(e) => tracing::error!("scheduled scan failed: {e}"),
        }
        tokio::select! {
            _ = tokio::time::sleep(settings.interval) => {}
            changed = shutdown.changed() => {
                if changed.is_err() {
                    return; // the server is gone
                }
            }
        }
    }
}

/// Returns when `shutdown` turns true or its sender is gone.
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}
