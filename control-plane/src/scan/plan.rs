//! What a category's scan changes (control-plane.md §4.3–§4.5, §4.7), decided in memory from
//! the database's state before the scan and the tree found on the master, before anything is
//! written: a dry run prints it, a refused scan (too many deletions) drops it whole, and
//! `apply` writes it.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde_json::Value;

use super::details::{Digests, sample_files};
use super::discover::{Known, Tree, split};
use super::repomap::{Mapping, RuleSet, valid_version};
use super::report::{CategoryReport, Note};
use super::settings::{Master, ScanSettings};
use super::state::{Category, Repository, Version};

/// A directory, existing (its id) or created by this scan (its full name).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum DirRef {
    Id(i64),
    New(String),
}

/// A directory to create.
#[derive(Clone, Debug)]
pub struct NewDir {
    pub name: String,
    pub readable: bool,
    pub time: i64,
    pub samples: Value,
}

/// New values of an existing directory.
#[derive(Clone, Debug)]
pub struct DirUpdate {
    pub id: i64,
    pub readable: bool,
    pub time: i64,
    pub samples: Value,
}

/// Where a file version came from (`file_detail.source`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Scanner,
    ChecksumFile,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Scanner => "scanner",
            Source::ChecksumFile => "checksum_file",
        }
    }
}

/// A file version to record.
#[derive(Clone, Debug)]
pub struct NewDetail {
    pub dir: DirRef,
    pub filename: String,
    pub timestamp: i64,
    pub mtime: i64,
    pub size: i64,
    pub digests: Digests,
    pub source: Source,
}

/// A repository to create.
#[derive(Clone, Debug)]
pub struct NewRepo {
    pub dir: DirRef,
    pub dir_name: String,
    pub prefix: Option<String>,
    pub arch_id: i64,
    pub version: String,
    pub note: String,
}

/// Everything one category's scan writes.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    pub create: Vec<NewDir>,
    /// Existing directories to link to the category.
    pub link: Vec<i64>,
    pub update: Vec<DirUpdate>,
    /// Directories to delete, children first: (id, full name).
    pub delete: Vec<(i64, String)>,
    pub details: Vec<NewDetail>,
    /// Recorded versions found again with another mtime: (id, mtime).
    pub detail_mtimes: Vec<(i64, i64)>,
    /// Versions to create in the category's product: (name, is_test).
    pub versions: Vec<(String, bool)>,
    pub repos: Vec<NewRepo>,
    /// Orphaned repositories to attach: (id, directory, full name).
    pub reattach: Vec<(i64, DirRef, String)>,
}

/// The files read: ((directory path, file name), its version or why it could not be read).
/// A file named in a checksum file may be there twice, hashed and as listed.
pub type ReadFiles = Vec<((String, String), Result<ReadVersion, String>)>;

/// A hashed file as recorded.
#[derive(Clone, Debug)]
pub struct ReadVersion {
    pub timestamp: i64,
    pub mtime: i64,
    pub size: i64,
    pub digests: Digests,
    pub source: Source,
}

/// The inputs of [`plan`].
pub struct Inputs<'a> {
    pub settings: &'a ScanSettings,
    pub master: &'a Master,
    pub category: &'a Category,
    pub known: &'a Known,
    pub tree: &'a Tree,
    pub details: &'a HashMap<(i64, String), Vec<Version>>,
    /// Files read this scan (repomd.xml, summary) and file versions from checksum files.
    pub read: &'a ReadFiles,
    pub repositories: &'a [Repository],
    pub arches: &'a HashMap<String, i64>,
    pub versions: &'a HashMap<String, i64>,
}

/// Longest `repository.note`.
const MAX_NOTE: usize = 255;

fn note(text: String) -> String {
    if text.chars().count() <= MAX_NOTE {
        text
    } else {
        text.chars().take(MAX_NOTE - 1).chain(['…']).collect()
    }
}

impl Inputs<'_> {
    fn dir_ref(&self, rel: &str) -> DirRef {
        match self.known.dirs.get(rel) {
            Some(k) => DirRef::Id(k.id),
            None => DirRef::New(self.category.full(rel)),
        }
    }

    /// Whether `rel` or a directory above it (below the topdir) is excluded.
    fn excluded(&self, rel: &str) -> bool {
        let mut at = rel;
        while !at.is_empty() {
            if self.master.excluded(at) {
                return true;
            }
            at = split(at).0;
        }
        false
    }
}

/// Decides what the scan of one category changes, counting it in `report`.
pub fn plan(i: &Inputs<'_>, report: &mut CategoryReport) -> Plan {
    let mut p = Plan::default();
    directories(i, &mut p, report);
    orphans(i, &p, report);
    file_details(i, &mut p, report);
    repositories(i, &mut p, report);
    p
}

/// §4.7: the repositories whose directory the scan deletes become orphaned (kept).
fn orphans(i: &Inputs<'_>, p: &Plan, report: &mut CategoryReport) {
    let deleted: HashSet<i64> = p.delete.iter().map(|(id, _)| *id).collect();
    let arch_names: BTreeMap<i64, &str> =
        i.arches.iter().map(|(n, id)| (*id, n.as_str())).collect();
    for r in i.repositories {
        if r.directory_id.is_some_and(|d| deleted.contains(&d)) {
            report.orphaned.push(format!(
                "{}/{} (was {})",
                r.prefix.as_deref().unwrap_or("(unmapped)"),
                arch_names.get(&r.arch_id).unwrap_or(&"?"),
                r.directory.as_deref().unwrap_or_default()
            ));
        }
    }
}

/// §4.3 and §4.7: created, updated, linked and deleted directories.
fn directories(i: &Inputs<'_>, p: &mut Plan, report: &mut CategoryReport) {
    for (rel, found) in &i.tree.dirs {
        let samples = found.listed.then(|| sample_files(&found.files));
        if !found.readable {
            report.unreadable += 1;
        }
        match i.known.dirs.get(rel) {
            Some(k) => {
                if !k.linked {
                    p.link.push(k.id);
                }
                let samples = samples.unwrap_or_else(|| k.samples.clone());
                if k.time != found.time || k.readable != found.readable || samples != k.samples {
                    report.changed += 1;
                    p.update.push(DirUpdate {
                        id: k.id,
                        readable: found.readable,
                        time: found.time,
                        samples,
                    });
                }
            }
            None => {
                report.created += 1;
                p.create.push(NewDir {
                    name: i.category.full(rel),
                    readable: found.readable,
                    time: found.time,
                    samples: samples.unwrap_or_else(|| Value::Array(Vec::new())),
                });
            }
        }
    }
    if !i.settings.delete_directories {
        return;
    }
    let mut gone: Vec<(&String, i64)> = i
        .known
        .dirs
        .iter()
        .filter(|(rel, k)| {
            !rel.is_empty()
                && k.linked
                && !k.linked_elsewhere
                && !i.tree.dirs.contains_key(rel.as_str())
                && !i.excluded(rel)
                && !i.tree.below_unreadable(rel)
        })
        .map(|(rel, k)| (rel, k.id))
        .collect();
    // Children first: a child's name sorts after its parent's.
    gone.sort_by(|a, b| b.0.cmp(a.0));
    report.deleted = gone.len() as u64;
    p.delete = gone
        .into_iter()
        .map(|(rel, id)| (id, i.category.full(rel)))
        .collect();
}

/// §4.4: new file versions, from the files read this scan.
fn file_details(i: &Inputs<'_>, p: &mut Plan, report: &mut CategoryReport) {
    let mut planned: HashSet<(DirRef, String, i64, i64, Digests)> = HashSet::new();
    let mut read: Vec<_> = i.read.iter().collect();
    read.sort_by(|a: &&(_, _), b| a.0.cmp(&b.0));
    for ((rel, name), result) in read {
        let v = match result {
            Ok(v) => v,
            Err(e) => {
                report.errors.push(e.clone());
                continue;
            }
        };
        let dir = i.dir_ref(rel);
        let recorded = match &dir {
            DirRef::Id(id) => i.details.get(&(*id, name.clone())),
            DirRef::New(_) => None,
        };
        let same = recorded.and_then(|versions| {
            versions
                .iter()
                .find(|r| r.size == v.size && r.timestamp == v.timestamp && r.digests == v.digests)
        });
        match same {
            Some(r) => {
                if r.mtime != Some(v.mtime) && v.source == Source::Scanner {
                    p.detail_mtimes.push((r.id, v.mtime));
                }
            }
            None => {
                let key = (
                    dir.clone(),
                    name.clone(),
                    v.size,
                    v.timestamp,
                    v.digests.clone(),
                );
                if planned.insert(key) {
                    report.details_added += 1;
                    p.details.push(NewDetail {
                        dir,
                        filename: name.clone(),
                        timestamp: v.timestamp,
                        mtime: v.mtime,
                        size: v.size,
                        digests: v.digests.clone(),
                        source: v.source,
                    });
                }
            }
        }
    }
}

/// §4.5: repositories for the yum and ostree repositories of the tree.
fn repositories(i: &Inputs<'_>, p: &mut Plan, report: &mut CategoryReport) {
    let Some(set_name) = &i.category.repomap else {
        return;
    };
    let Some(set) = i.settings.rulesets.get(set_name) else {
        report.errors.push(format!(
            "category {:?} names the rule set {set_name:?}, which does not exist; no \
             repositories mapped (configure it in [[repomap.ruleset]])",
            i.category.name
        ));
        return;
    };
    let deleted: HashSet<i64> = p.delete.iter().map(|(id, _)| *id).collect();
    let mut by_dir: HashSet<i64> = HashSet::new();
    // (prefix, arch id) → the directory holding it (None: orphaned) and the repository id.
    let mut by_key: HashMap<(String, i64), (Option<String>, i64)> = HashMap::new();
    for r in i.repositories {
        let mut dir = r.directory.clone();
        if let Some(d) = r.directory_id {
            if deleted.contains(&d) {
                dir = None;
            } else {
                by_dir.insert(d);
            }
        }
        if let Some(prefix) = &r.prefix {
            by_key.insert((prefix.clone(), r.arch_id), (dir, r.id));
        }
    }
    let mut new_versions: BTreeSet<String> = BTreeSet::new();
    for (rel, found) in &i.tree.dirs {
        let ostree = i.tree.is_ostree(rel);
        if !ostree && !i.tree.is_yum(rel) {
            continue;
        }
        let name = i.category.full(rel);
        if i.settings
            .skip_repo_prefixes
            .iter()
            .any(|s| name.starts_with(s.as_str()))
        {
            continue;
        }
        if i.known
            .dirs
            .get(rel)
            .is_some_and(|k| by_dir.contains(&k.id))
        {
            continue;
        }
        // Only news is told: what a directory listed this scan gave.
        let tell = found.listed;
        let mapping = map(set, rel, ostree, i);
        let (arch, version, prefix, why) = match mapping {
            Mapping::Skipped { .. } => continue,
            Mapping::Excluded { rule } => {
                if tell {
                    report
                        .notes
                        .push(Note::new(rel, format!("excluded by rule {rule}")));
                }
                continue;
            }
            Mapping::NoArch => {
                if tell {
                    report.notes.push(Note::new(rel, "no arch".to_string()));
                }
                continue;
            }
            Mapping::NoVersion { .. } => {
                if tell {
                    report.notes.push(Note::new(rel, "no version".to_string()));
                }
                continue;
            }
            Mapping::NoRule { arch, version } => {
                (arch, version, None, "no rule matched".to_string())
            }
            Mapping::BadPrefix {
                arch,
                version,
                prefix,
                rule,
            } => (
                arch,
                version,
                None,
                format!("rule {rule} gives {prefix:?}, not a valid prefix"),
            ),
            Mapping::Prefix {
                arch,
                version,
                prefix,
                rule,
            } => (arch, version, Some(prefix), format!("rule {rule}")),
        };
        let Some(&arch_id) = i.arches.get(&arch) else {
            if tell {
                report.notes.push(Note::new(
                    rel,
                    format!("no arch (arch {arch:?} is not known)"),
                ));
            }
            continue;
        };
        if !i.versions.contains_key(&version) && new_versions.insert(version.clone()) {
            let is_test = rel.split('/').any(|c| c == "test" || c == "stage");
            p.versions.push((version.clone(), is_test));
        }
        let dir = i.dir_ref(rel);
        let Some(prefix) = prefix else {
            report.unmapped.push(Note::new(rel, why.clone()));
            p.repos.push(NewRepo {
                dir,
                dir_name: name,
                prefix: None,
                arch_id,
                version,
                note: note(format!("unmapped: {why}")),
            });
            continue;
        };
        let key = (prefix.clone(), arch_id);
        match by_key.get(&key) {
            None => {
                report
                    .created_repos
                    .push(format!("{prefix}/{arch} {rel} ({why})"));
                by_key.insert(key, (Some(name.clone()), 0));
                p.repos.push(NewRepo {
                    dir,
                    dir_name: name,
                    prefix: Some(prefix),
                    arch_id,
                    version,
                    note: note(format!("scanner: {why}")),
                });
            }
            Some((None, id)) => {
                report.reattached.push(format!("{prefix}/{arch} {rel}"));
                p.reattach.push((*id, dir, name.clone()));
                by_key.insert(key, (Some(name), *id));
            }
            Some((Some(other), _)) => {
                let why = format!("{prefix}/{arch} is taken by {other}");
                report.unmapped.push(Note::new(rel, why.clone()));
                p.repos.push(NewRepo {
                    dir,
                    dir_name: name,
                    prefix: None,
                    arch_id,
                    version,
                    note: note(format!("unmapped: {why}")),
                });
            }
        }
    }
}

/// The rules' answer for a repository directory (§4.5 steps 3–5).
fn map(set: &RuleSet, rel: &str, ostree: bool, i: &Inputs<'_>) -> Mapping {
    if ostree {
        let last = split(rel).1;
        let version = if last == "rawhide" {
            "development".to_string()
        } else {
            last.to_string()
        };
        let version = valid_version(&version).then_some(version);
        set.map_with(rel, Some(i.settings.ostree_arch.clone()), version)
    } else {
        set.map(rel, &|a| i.arches.contains_key(a))
    }
}
