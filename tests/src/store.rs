//! A `file://` object store laid out as control-plane.md §7.4, written by hand so edge tests
//! can publish exactly what they want (good snapshots, bad ones, rollbacks) without a control
//! plane: snapshot objects under `snapshots/`, then `manifest.json` replaced by rename, as the
//! publisher does.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mirrorfleet_control::publish::layout::{self, EdgeReport, Manifest, ManifestSnapshot};

use crate::digest::sha256_hex;

/// A store directory and the serial of the last manifest written.
pub struct FileStore {
    pub dir: PathBuf,
    serial: u64,
}

impl FileStore {
    /// An empty store in `dir` (created).
    pub fn new(dir: &Path) -> FileStore {
        fs::create_dir_all(dir).expect("create the store directory");
        FileStore {
            dir: dir.to_path_buf(),
            serial: 0,
        }
    }

    /// `file://DIR`.
    pub fn url(&self) -> String {
        format!("file://{}", self.dir.display())
    }

    /// Uploads `bytes` as the snapshot object of `version` and returns the manifest that
    /// names it (next serial, not yet written).
    pub fn upload(&mut self, bytes: &[u8], version: u64, installation_id: &str) -> Manifest {
        let sha256 = sha256_hex(bytes);
        let key = layout::snapshot_key(version, &sha256);
        let path = self.dir.join(&key);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, bytes).unwrap();
        self.serial += 1;
        Manifest {
            format: layout::MANIFEST_FORMAT.into(),
            format_version: layout::MANIFEST_FORMAT_VERSION,
            serial: self.serial,
            installation_id: installation_id.into(),
            published_at: "2026-11-25T10:00:00Z".into(),
            rollback: false,
            snapshot: ManifestSnapshot {
                version,
                key,
                sha256,
                size: bytes.len() as u64,
                format_version: 1,
                created_at: "2026-11-25T10:00:00Z".into(),
                source_generation: version,
            },
        }
    }

    /// Writes `manifest.json` (temporary file + rename, as the publisher).
    pub fn write_manifest(&self, manifest: &Manifest) {
        self.write_manifest_bytes(&layout::manifest_bytes(manifest));
    }

    /// Writes arbitrary bytes as `manifest.json`.
    pub fn write_manifest_bytes(&self, bytes: &[u8]) {
        let tmp = self.dir.join(".manifest.json.tmp");
        fs::write(&tmp, bytes).unwrap();
        fs::rename(&tmp, self.dir.join(layout::MANIFEST)).unwrap();
    }

    /// Uploads and publishes in one step.
    pub fn publish(&mut self, bytes: &[u8], version: u64, installation_id: &str) -> Manifest {
        let m = self.upload(bytes, version, installation_id);
        self.write_manifest(&m);
        m
    }

    /// The report `edges/<edge_id>.json`, when there.
    pub fn report(&self, edge_id: &str) -> Option<EdgeReport> {
        let bytes = fs::read(self.dir.join(layout::edge_report_key(edge_id))).ok()?;
        Some(serde_json::from_slice(&bytes).expect("edge report parses"))
    }

    /// Waits until the edge report satisfies `pred`; panics with the last report after
    /// `timeout`.
    pub fn wait_report(
        &self,
        edge_id: &str,
        timeout: Duration,
        pred: impl Fn(&EdgeReport) -> bool,
    ) -> EdgeReport {
        let deadline = Instant::now() + timeout;
        loop {
            let r = self.report(edge_id);
            if let Some(r) = &r
                && pred(r)
            {
                return r.clone();
            }
            assert!(
                Instant::now() < deadline,
                "edge report of {edge_id} not as expected after {timeout:?}: {r:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
