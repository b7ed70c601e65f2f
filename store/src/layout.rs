//! The object store layout of control-plane.md §7.4: the one place that knows the keys and
//! the manifest JSON.

use object_store::path::Path;
use serde::{Deserialize, Serialize};

/// The manifest edges poll.
pub const MANIFEST: &str = "manifest.json";
/// Every manifest ever written.
pub const MANIFESTS_DIR: &str = "manifests";
/// Snapshot objects.
pub const SNAPSHOTS_DIR: &str = "snapshots";
/// Edge reports (§7.7).
pub const EDGES_DIR: &str = "edges";
/// The `format` of an edge report.
pub const EDGE_REPORT_FORMAT: &str = "mirrorfleet-edge-report";

/// `manifest.json`, `manifests/<serial>.json` (control-plane.md §7.4).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub format_version: u32,
    pub serial: u64,
    pub installation_id: String,
    pub published_at: String,
    pub rollback: bool,
    pub snapshot: ManifestSnapshot,
}

/// The snapshot a manifest names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestSnapshot {
    pub version: u64,
    pub key: String,
    pub sha256: String,
    pub size: u64,
    pub format_version: u32,
    pub created_at: String,
    pub source_generation: u64,
}

/// The `format` of a manifest.
pub const MANIFEST_FORMAT: &str = "mirrorfleet-manifest";
/// The manifest `format_version` this build writes and follows.
pub const MANIFEST_FORMAT_VERSION: u32 = 1;
/// The edge report `format_version` this build writes and reads.
pub const EDGE_REPORT_FORMAT_VERSION: u32 = 1;

/// `edges/<edge-id>.json` (§7.7): what one edge serves, written by the edge on every swap and
/// at least once a minute, read by the control plane's edge poller.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EdgeReport {
    pub format: String,
    pub format_version: u32,
    pub edge_id: String,
    pub software_version: String,
    /// RFC 3339, UTC.
    pub started_at: String,
    /// RFC 3339, UTC.
    pub reported_at: String,
    /// The serial of the manifest followed last; null before the first load.
    pub manifest_serial: Option<u64>,
    pub snapshot_version: Option<u64>,
    pub snapshot_sha256: Option<String>,
    /// RFC 3339, UTC.
    pub loaded_at: Option<String>,
    pub last_error: Option<String>,
    pub rejected_loads: u64,
}

/// `edges/<edge-id>.json`, relative to the store prefix.
pub fn edge_report_key(edge_id: &str) -> String {
    format!("{EDGES_DIR}/{edge_id}.json")
}

/// The edge id of an `edges/` file name (`edge1-8081.json`): 1–64 of `A-Za-z0-9._-`.
pub fn parse_edge_report_name(name: &str) -> Option<&str> {
    let id = name.strip_suffix(".json")?;
    let ok = (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-');
    ok.then_some(id)
}

/// Joins `prefix` and a relative key.
pub fn key(prefix: &Path, rel: &str) -> Path {
    let mut p = prefix.clone();
    for part in rel.split('/') {
        p = p.clone().join(part);
    }
    p
}

/// `snapshots/<12-digit version>-<sha256>.mfs`, relative to the store prefix.
pub fn snapshot_key(version: u64, sha256: &str) -> String {
    format!("{SNAPSHOTS_DIR}/{version:012}-{sha256}.mfs")
}

/// `manifests/<serial>.json`, relative to the store prefix.
pub fn manifest_key(serial: u64) -> String {
    format!("{MANIFESTS_DIR}/{serial}.json")
}

/// The version of a snapshot object's file name (`000000001204-<sha>.mfs`).
pub fn parse_snapshot_name(name: &str) -> Option<(u64, String)> {
    let stem = name.strip_suffix(".mfs")?;
    let (v, sha) = stem.split_once('-')?;
    if v.len() != 12 || sha.len() != 64 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((v.parse().ok()?, sha.to_string()))
}

/// The serial of a `manifests/` file name (`812.json`).
pub fn parse_manifest_name(name: &str) -> Option<u64> {
    let stem = name.strip_suffix(".json")?;
    if stem.is_empty() || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

/// The manifest's bytes: pretty JSON and a final newline.
pub fn manifest_bytes(m: &Manifest) -> Vec<u8> {
    let mut v = serde_json::to_vec_pretty(m).expect("manifest serialises");
    v.push(b'\n');
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let sha = "a".repeat(64);
        let k = snapshot_key(1204, &sha);
        assert_eq!(k, format!("snapshots/000000001204-{sha}.mfs"));
        assert_eq!(
            parse_snapshot_name(k.strip_prefix("snapshots/").unwrap()),
            Some((1204, sha))
        );
        assert_eq!(parse_manifest_name("812.json"), Some(812));
        assert_eq!(parse_manifest_name("x.json"), None);
        assert_eq!(edge_report_key("e1-8081"), "edges/e1-8081.json");
        assert_eq!(parse_edge_report_name("e1-8081.json"), Some("e1-8081"));
        assert_eq!(parse_edge_report_name("a b.json"), None);
        assert_eq!(parse_edge_report_name(".json"), None);
        assert_eq!(
            parse_edge_report_name(&format!("{}.json", "a".repeat(65))),
            None
        );
        assert_eq!(
            key(&Path::from("a/b"), "snapshots/x.mfs").as_ref(),
            "a/b/snapshots/x.mfs"
        );
        assert_eq!(
            key(&Path::default(), "manifest.json").as_ref(),
            "manifest.json"
        );
    }
}
