//! Where snapshots come from (E79). File mode (`snapshot.file`): the edge
//! reads the file into its own aligned memory, never mapping the operator's
//! file (rewriting it in place would SIGBUS a mapping), validates and indexes
//! it off the request path, then swaps it in. It re-reads when size or mtime
//! change, every `snapshot.poll_interval` and at SIGHUP. Store mode (object
//! storage with manifest polling and a local cache) is added by the fleet work.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Instant, SystemTime};

use mirrorfleet_snapshot::Snapshot;
use tokio::sync::Notify;

use crate::loaded::Loaded;
use crate::state::Edge;

/// Identity of a file version as seen by `stat`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    len: u64,
    mtime: Option<SystemTime>,
}

fn stamp(path: &Path) -> Option<Stamp> {
    let m = std::fs::metadata(path).ok()?;
    Some(Stamp {
        len: m.len(),
        mtime: m.modified().ok(),
    })
}

/// Loads, validates and indexes one snapshot file.
pub fn load_file(edge: &Edge, path: &Path) -> Result<Loaded, mirrorfleet_snapshot::SnapshotError> {
    let started = Instant::now();
    let snap = Snapshot::read_file(path)?;
    let key = edge.selection_key(&snap.installation_id());
    Ok(Loaded::new(snap, started, 0, key))
}

/// Tries to (re)load the file; on failure keeps what is served and records why.
fn try_load(edge: &Edge, path: &Path) {
    match load_file(edge, path) {
        Ok(loaded) => {
            let (version, load_ms) = (
                loaded.snap.version(),
                loaded.load_duration.as_secs_f64() * 1000.0,
            );
            edge.install(loaded);
            // The whole-file hash is computed on first use: after the swap, not before.
            let sha256 = edge
                .snapshot
                .load()
                .as_ref()
                .map(|l| l.snap.file_sha256_hex());
            tracing::info!(
                version,
                load_ms,
                sha256,
                "snapshot loaded from {}",
                path.display()
            );
        }
        Err(e) => {
            edge.metrics.snapshot_rejected(e.reason());
            edge.rejected_loads.fetch_add(1, Ordering::Relaxed);
            let msg = format!("{}: {e}", path.display());
            tracing::warn!(error = %msg, "snapshot rejected; keeping the current one");
            edge.set_error(msg);
        }
    }
}

/// Watches a snapshot file until the process ends. `wake` is notified on SIGHUP.
pub async fn watch_file(edge: Arc<Edge>, path: PathBuf, wake: Arc<Notify>) {
    let mut last: Option<Stamp> = None;
    let interval = edge
        .config
        .snapshot
        .poll_interval
        .max(std::time::Duration::from_millis(100));
    loop {
        let now = stamp(&path);
        if now.is_none() && last.is_none() && edge.snapshot.load().is_none() {
            edge.set_error(format!("{}: snapshot file not found (yet)", path.display()));
        }
        if now.is_some() && now != last {
            let (e, p) = (edge.clone(), path.clone());
            // Reading and validating a large file is blocking work.
            let _ = tokio::task::spawn_blocking(move || try_load(&e, &p)).await;
            last = now;
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = wake.notified() => { last = None; }
        }
    }
}
