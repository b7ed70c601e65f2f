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
