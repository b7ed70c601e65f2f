//! The edge's snapshot cache (E79): `snapshot.cache_dir` holds the good snapshots it
//! downloaded, named like their store objects (`<12-digit version>-<sha256>.mfs`), and
//! `current.json`, naming the one it serves. Files only ever appear by rename after being
//! checked, are never rewritten, and are mapped read-only: a cached file is immutable.
//! Everything here is blocking file I/O, run off the request path.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use mirrorfleet_snapshot::Snapshot;
use mirrorfleet_store::layout::parse_snapshot_name;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Reject;

/// The name of the file naming the snapshot being served.
pub const CURRENT: &str = "current.json";
/// Prefix of a download in progress; leftovers are deleted at start.
const TEMP_PREFIX: &str = ".download-";

/// `current.json` (E79).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Current {
    pub manifest_serial: u64,
    pub snapshot_key: String,
    pub sha256: String,
    pub version: u64,
    pub installation_id: String,
}

/// One cached snapshot file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub version: u64,
    pub sha256: String,
    pub path: PathBuf,
}

/// The cache directory.
#[derive(Clone, Debug)]
pub struct Cache {
    pub dir: PathBuf,
}

fn io_reject(what: &str, path: &Path, e: std::io::Error) -> Reject {
    Reject::new("io", format!("{what} {}: {e}", path.display()))
}

/// The cache file name of a snapshot: the store object's file name.
pub fn file_name(version: u64, sha256: &str) -> String {
    format!("{version:012}-{sha256}.mfs")
}

impl Cache {
    /// Creates the directory when missing and deletes leftovers of interrupted downloads.
    pub fn open(dir: &Path) -> Result<Cache, Reject> {
        std::fs::create_dir_all(dir).map_err(|e| io_reject("cannot create", dir, e))?;
        let cache = Cache {
            dir: dir.to_path_buf(),
        };
        for entry in std::fs::read_dir(dir)
            .map_err(|e| io_reject("cannot list", dir, e))?
            .flatten()
        {
            let name = entry.file_name();
            if name.to_string_lossy().starts_with(TEMP_PREFIX) {
                let path = entry.path();
                match std::fs::remove_file(&path) {
                    Ok(()) => tracing::info!("removed the interrupted download {}", path.display()),
                    Err(e) => tracing::warn!("cannot remove {}: {e}", path.display()),
                }
            }
        }
        Ok(cache)
    }

    /// The path a snapshot has in the cache.
    pub fn path(&self, version: u64, sha256: &str) -> PathBuf {
        self.dir.join(file_name(version, sha256))
    }

    /// A fresh temporary path for a download.
    pub fn temp_path(&self, version: u64, sha256: &str) -> PathBuf {
        self.dir.join(format!(
            "{TEMP_PREFIX}{}.{}.tmp",
            file_name(version, sha256),
            std::process::id()
        ))
    }

    /// Cached snapshots, newest version first.
    pub fn entries(&self) -> Vec<Entry> {
        let mut out: Vec<Entry> = std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let (version, sha256) = parse_snapshot_name(&name)?;
                Some(Entry {
                    version,
                    sha256,
                    path: e.path(),
                })
            })
            .collect();
        out.sort_by(|a, b| (b.version, &b.sha256).cmp(&(a.version, &a.sha256)));
        out
    }

    /// `current.json`, when present and well-formed (else why not, for the log).
    pub fn read_current(&self) -> Result<Option<Current>, String> {
        let path = self.dir.join(CURRENT);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| format!("{}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }

    /// Writes `current.json` atomically: temporary file, fsync, rename, directory fsync.
    pub fn write_current(&self, current: &Current) -> Result<(), Reject> {
        let mut body = serde_json::to_vec_pretty(current).unwrap_or_default();
        body.push(b'\n');
        let tmp = self.dir.join(format!("{TEMP_PREFIX}{CURRENT}.tmp"));
        let path = self.dir.join(CURRENT);
        let write = || -> std::io::Result<()> {
            let mut f = File::create(&tmp)?;
            f.write_all(&body)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)?;
            sync_dir(&self.dir)
        };
        write().map_err(|e| io_reject("cannot write", &path, e))
    }

    /// Deletes cached snapshots beyond the newest `keep`, never `serving` (the one
    /// `current.json` names).
    pub fn prune(&self, keep: usize, serving: &Path) {
        let mut kept = usize::from(serving.exists());
        for e in self.entries() {
            if e.path == serving {
                continue;
            }
            if kept < keep.max(1) {
                kept += 1;
                continue;
            }
            match std::fs::remove_file(&e.path) {
                Ok(()) => tracing::debug!("cache: removed {}", e.path.display()),
                Err(err) => tracing::warn!("cache: cannot remove {}: {err}", e.path.display()),
            }
        }
    }
}

/// fsync of a directory, so a rename in it is durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Maps a cached (or just downloaded) file and validates it (DM §10), checking the whole
/// file's SHA-256 against `sha256` when `hash` is set (a file found in the cache; a download
/// was hashed as it arrived).
pub fn open_mapped(path: &Path, sha256: &str, hash: bool) -> Result<Snapshot, Reject> {
    let file = File::open(path).map_err(|e| io_reject("cannot open", path, e))?;
    // SAFETY: cache files are written once by this process (temporary file, fsync, rename)
    // and never modified afterwards; the mapping is read-only.
    let map = unsafe { Mmap::map(&file) }.map_err(|e| io_reject("cannot map", path, e))?;
    if hash {
        let got = hex::encode(Sha256::digest(&map[..]));
        if got != sha256 {
            return Err(Reject::new(
                "hash",
                format!("{}: SHA-256 {got}, expected {sha256}", path.display()),
            ));
        }
    }
    let snap = Snapshot::from_owner(map)
        .map_err(|e| Reject::new(e.reason(), format!("{}: {e}", path.display())))?;
    if let Ok(bytes) = hex::decode(sha256)
        && let Ok(sha) = <[u8; 32]>::try_from(bytes.as_slice())
    {
        snap.set_file_sha256(sha);
    }
    Ok(snap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_current_and_prune() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".download-x.tmp"), b"partial").unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        assert!(
            !dir.path().join(".download-x.tmp").exists(),
            "leftover removed"
        );
        assert_eq!(cache.read_current(), Ok(None));
        let sha = |c: char| c.to_string().repeat(64);
        for v in [3u64, 7, 5, 9] {
            std::fs::write(cache.path(v, &sha('a')), b"x").unwrap();
        }
        std::fs::write(dir.path().join("notes.txt"), b"x").unwrap();
        let versions: Vec<u64> = cache.entries().iter().map(|e| e.version).collect();
        assert_eq!(versions, [9, 7, 5, 3]);
        let current = Current {
            manifest_serial: 12,
            snapshot_key: "snapshots/x.mfs".into(),
            sha256: sha('a'),
            version: 3,
            installation_id: "i".into(),
        };
        cache.write_current(&current).unwrap();
        assert_eq!(cache.read_current(), Ok(Some(current)));
        // Keep 2: the served one (3, old) and the newest other (9).
        cache.prune(2, &cache.path(3, &sha('a')));
        let versions: Vec<u64> = cache.entries().iter().map(|e| e.version).collect();
        assert_eq!(versions, [9, 3]);
        std::fs::write(dir.path().join(CURRENT), b"{not json").unwrap();
        assert!(cache.read_current().unwrap_err().contains("current.json"));
    }
}
