//! The edge report (E80, control-plane.md §7.7): `edges/<edge-id>.json` in the store, written
//! after every swap and at least every [`INTERVAL`], so the control plane's snapshot page shows
//! which edge serves which version. A write never delays an answer: it runs on its own task.
//! With `store.write = auto` the first refusal for lack of permission (HTTP 401/403, `EACCES`,
//! `EROFS`) turns writing off for good, logged once and shown in `/snapshot`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mirrorfleet_store::StoreHandle;
use mirrorfleet_store::layout::{self, EdgeReport};
use object_store::{ObjectStoreExt, PutPayload};
use tokio::sync::Notify;

use crate::config::{EdgeConfig, StoreWrite};
use crate::render::rfc3339_string;
use crate::state::Edge;

/// Longest time between two reports.
pub const INTERVAL: Duration = Duration::from_secs(30);

/// Whether the edge writes reports (and statistics) to the store, for `/snapshot`'s `writes`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Writes {
    Enabled = 0,
    FileMode = 1,
    Off = 2,
    ReadOnly = 3,
}

impl Writes {
    /// The initial state for a configuration.
    pub fn initial(config: &EdgeConfig) -> Writes {
        match (config.is_store_mode(), config.store.write) {
            (false, _) => Writes::FileMode,
            (true, StoreWrite::False) => Writes::Off,
            (true, _) => Writes::Enabled,
        }
    }

    /// `/snapshot`'s `writes` text.
    pub fn text(self) -> &'static str {
        match self {
            Writes::Enabled => "enabled",
            Writes::FileMode => "disabled: file mode",
            Writes::Off => "disabled: store.write = false",
            Writes::ReadOnly => "disabled: read-only store",
        }
    }

    /// Reads the shared state.
    pub fn load(cell: &AtomicU8) -> Writes {
        match cell.load(Ordering::Relaxed) {
            0 => Writes::Enabled,
            1 => Writes::FileMode,
            2 => Writes::Off,
            _ => Writes::ReadOnly,
        }
    }
}

fn unix(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The report of what `edge` serves now.
pub fn report(edge: &Edge) -> EdgeReport {
    let loaded = edge.snapshot.load_full();
    let err = edge.last_error.load();
    EdgeReport {
        format: layout::EDGE_REPORT_FORMAT.into(),
        format_version: layout::EDGE_REPORT_FORMAT_VERSION,
        edge_id: edge.config.edge_id.clone(),
        software_version: env!("CARGO_PKG_VERSION").into(),
        started_at: rfc3339_string(unix(edge.started_at)),
        reported_at: rfc3339_string(unix(SystemTime::now())),
        manifest_serial: loaded
            .as_ref()
            .map(|l| l.manifest_serial.load(Ordering::Relaxed)),
        snapshot_version: loaded.as_ref().map(|l| l.snap.version()),
        snapshot_sha256: loaded.as_ref().map(|l| l.snap.file_sha256_hex()),
        loaded_at: loaded.as_ref().map(|l| rfc3339_string(unix(l.loaded_at))),
        last_error: err.as_ref().clone(),
        rejected_loads: edge.rejected_loads.load(Ordering::Relaxed),
    }
}

/// True when the store refused the write for lack of permission.
pub fn is_permission_error(e: &object_store::Error) -> bool {
    if matches!(
        e,
        object_store::Error::PermissionDenied { .. } | object_store::Error::Unauthenticated { .. }
    ) {
        return true;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>()
            && (matches!(
                io.kind(),
                std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem
            ) || matches!(
                io.raw_os_error(),
                Some(libc::EACCES | libc::EROFS | libc::EPERM)
            ))
        {
            return true;
        }
        source = s.source();
    }
    false
}

/// Writes one report; false when writing is now off.
pub async fn write_once(edge: &Edge, store: &StoreHandle) -> bool {
    let mut body = serde_json::to_vec_pretty(&report(edge)).unwrap_or_default();
    body.push(b'\n');
    let key = store.key(&layout::edge_report_key(&edge.config.edge_id));
    match store.store.put(&key, PutPayload::from(body)).await {
        Ok(_) => {
            edge.metrics.report_write("ok");
            true
        }
        Err(e) => {
            edge.metrics.report_write("error");
            if edge.config.store.write == StoreWrite::Auto && is_permission_error(&e) {
                edge.writes.store(Writes::ReadOnly as u8, Ordering::Relaxed);
                tracing::warn!(
                    error = %e,
                    "the store refused the edge report: read-only store, no more reports or \
                     statistics (store.write = auto; set it to false to silence this)"
                );
                return false;
            }
            tracing::warn!(error = %e, "cannot write the edge report; retrying later");
            true
        }
    }
}

/// Writes the report after every swap (`swapped`) and at least every [`INTERVAL`], while
/// writing is on.
pub async fn run(edge: Arc<Edge>, store: StoreHandle, swapped: Arc<Notify>) {
    while Writes::load(&edge.writes) == Writes::Enabled {
        if !write_once(&edge, &store).await {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(INTERVAL) => {}
            _ = swapped.notified() => {}
        }
    }
}
