//! The files a scan reads (control-plane.md §4.4), on `scanner.hash_workers` threads: the
//! repomd.xml and summary files [`to_hash`] picks, hashed, and the checksum files
//! of new and changed directories, parsed into one version per file they name that is present.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use super::details::FileEntry;
use super::details::{
    self, Digests, checksum_kind, hash_file, merge_checksums, on_pool, parse_checksums,
};
use super::discover::{self, Counters, Known, Tree, join, split};
use super::plan::{ReadFiles, ReadVersion, Source};
use super::state::Version;

/// A file to read.
pub enum Job {
    /// A repomd.xml or summary to hash.
    Hash {
        rel: String,
        name: String,
        mtime: i64,
    },
    /// A checksum file of a listed directory.
    Checksums {
        rel: String,
        name: String,
        algo: details::Algo,
    },
}

/// The files of the tree that §4.4 hashes: a `repodata` directory's repomd.xml, an ostree
/// repository's summary, when the directory is new or listed, or no recorded version of the
/// file has its size and mtime. (Any version, not only the newest by content time: a version
/// imported with a later timestamp than the file on the master would otherwise be hashed
/// again at every scan.)
pub fn to_hash<'t>(
    tree: &'t Tree,
    known: &Known,
    details: &HashMap<(i64, String), Vec<Version>>,
) -> Vec<(&'t str, &'t FileEntry)> {
    let mut out = Vec::new();
    for (rel, found) in &tree.dirs {
        let name = if split(rel).1 == "repodata" {
            discover::REPOMD
        } else if tree.is_ostree(rel) {
            discover::SUMMARY
        } else {
            continue;
        };
        let Some(file) = found.files.iter().find(|f| f.name == name) else {
            continue;
        };
        let recorded = known
            .dirs
            .get(rel)
            .and_then(|k| details.get(&(k.id, name.to_string())));
        let same = recorded.is_some_and(|versions| {
            versions
                .iter()
                .any(|v| v.size == file.size as i64 && v.mtime == Some(file.mtime))
        });
        if found.listed || !same {
            out.push((rel.as_str(), file));
        }
    }
    out
}

/// The files of the tree to read (§4.4).
pub fn file_jobs(
    tree: &Tree,
    known: &Known,
    details: &HashMap<(i64, String), Vec<Version>>,
    checksum_files: bool,
) -> Vec<Job> {
    let mut jobs: Vec<Job> = to_hash(tree, known, details)
        .into_iter()
        .map(|(rel, f)| Job::Hash {
            rel: rel.to_string(),
            name: f.name.clone(),
            mtime: f.mtime,
        })
        .collect();
    if checksum_files {
        for (rel, found) in tree.dirs.iter().filter(|(_, f)| f.listed) {
            for f in &found.files {
                if let Some(algo) = checksum_kind(&f.name) {
                    jobs.push(Job::Checksums {
                        rel: rel.clone(),
                        name: f.name.clone(),
                        algo,
                    });
                }
            }
        }
    }
    jobs
}

/// What a job gave.
enum Done {
    Hashed(ReadVersion, Option<String>),
    Checksums(details::Algo, Vec<(String, String)>),
    Failed(String),
}

/// Reads `jobs` on `workers` threads: the file versions found, the number of checksum files
/// read, and warnings.
pub fn read_files(
    root: &Path,
    tree: &Tree,
    jobs: &[Job],
    workers: usize,
    counters: &Counters,
) -> (ReadFiles, u64, Vec<String>) {
    let done = on_pool(jobs, workers, |job| match job {
        Job::Hash { rel, name, mtime } => {
            let path = root.join(join(rel, name));
            match hash_file(&path) {
                Ok(h) => {
                    Counters::add(&counters.hashed, 1);
                    let (timestamp, warning) = if name == discover::REPOMD {
                        match details::repomd_timestamp(&h.bytes) {
                            Ok(t) => (t, None),
                            Err(why) => (
                                *mtime,
                                Some(format!(
                                    "{}: {why}; its mtime is the timestamp",
                                    path.display()
                                )),
                            ),
                        }
                    } else {
                        (*mtime, None)
                    };
                    let v = ReadVersion {
                        timestamp: timestamp.max(0),
                        mtime: *mtime,
                        size: h.size as i64,
                        digests: h.digests,
                        source: Source::Scanner,
                    };
                    Done::Hashed(v, warning)
                }
                Err(e) => Done::Failed(format!("cannot read {}: {e}", path.display())),
            }
        }
        Job::Checksums { rel, name, algo } => {
            let path = root.join(join(rel, name));
            match std::fs::read(&path) {
                Ok(bytes) => Done::Checksums(
                    *algo,
                    parse_checksums(&String::from_utf8_lossy(&bytes), *algo),
                ),
                Err(e) => Done::Failed(format!("cannot read {}: {e}", path.display())),
            }
        }
    });
    let mut read: ReadFiles = Vec::new();
    let mut checksums: BTreeMap<String, BTreeMap<String, Digests>> = BTreeMap::new();
    let mut checksum_files = 0;
    let mut warnings = Vec::new();
    for (job, done) in jobs.iter().zip(done) {
        let (rel, name) = match job {
            Job::Hash { rel, name, .. } | Job::Checksums { rel, name, .. } => (rel, name),
        };
        match done {
            Done::Hashed(v, warning) => {
                warnings.extend(warning);
                read.push(((rel.clone(), name.clone()), Ok(v)));
            }
            Done::Failed(e) => read.push(((rel.clone(), name.clone()), Err(e))),
            Done::Checksums(algo, lines) => {
                checksum_files += 1;
                merge_checksums(checksums.entry(rel.clone()).or_default(), algo, lines);
            }
        }
    }
    // One version per file named in the directory's checksum files and present in it.
    for (rel, named) in checksums {
        let Some(found) = tree.dirs.get(&rel) else {
            continue;
        };
        for f in &found.files {
            if let Some(digests) = named.get(&f.name)
                && digests.any()
            {
                read.push((
                    (rel.clone(), f.name.clone()),
                    Ok(ReadVersion {
                        timestamp: f.mtime.max(0),
                        mtime: f.mtime,
                        size: f.size as i64,
                        digests: digests.clone(),
                        source: Source::ChecksumFile,
                    }),
                ));
            }
        }
    }
    (read, checksum_files, warnings)
}
