//! Discovering a category's directories on the master (control-plane.md §4.1, §4.2): a walk of
//! the tree, or its list file ([`super::listfile`]), giving the same [`Tree`].
//!
//! Incremental by design: a directory whose time is what the database recorded (and older than
//! the previous scan's start, D12) is *unchanged*: its entries are not read, its children are
//! the ones the database knows, each found again with one `stat`, and of its files only a
//! `repodata/repomd.xml` or an ostree `summary` is `stat`ed (§4.4 compares them with their
//! newest recorded version). Only new and changed directories are listed, their files
//! `stat`ed. Blocking I/O: run it on a blocking thread.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::details::FileEntry;
use super::settings::Master;

/// The repomd.xml of a yum repository's `repodata` directory.
pub const REPOMD: &str = "repomd.xml";
/// The summary file of an ostree repository.
pub const SUMMARY: &str = "summary";

/// What the database knows about one directory below a category's topdir.
#[derive(Clone, Debug)]
pub struct KnownDir {
    pub id: i64,
    /// `directory.ctime`: the time the last scan saw.
    pub time: i64,
    pub readable: bool,
    /// `directory.sample_files`.
    pub samples: serde_json::Value,
    /// Linked to the scanned category.
    pub linked: bool,
    /// Linked to another category too.
    pub linked_elsewhere: bool,
}

/// The database's directories below a category's topdir, by path relative to it (`""` is the
/// topdir).
#[derive(Clone, Debug, Default)]
pub struct Known {
    pub dirs: HashMap<String, KnownDir>,
    /// Known child names of each known directory.
    children: HashMap<String, Vec<String>>,
}

impl Known {
    pub fn new(dirs: HashMap<String, KnownDir>) -> Known {
        let mut children: HashMap<String, Vec<String>> = HashMap::new();
        for rel in dirs.keys().filter(|r| !r.is_empty()) {
            let (parent, name) = split(rel);
            children
                .entry(parent.to_string())
                .or_default()
                .push(name.to_string());
        }
        for list in children.values_mut() {
            list.sort();
        }
        Known { dirs, children }
    }

    /// The known children of `rel` (names).
    pub fn children(&self, rel: &str) -> &[String] {
        self.children.get(rel).map_or(&[], Vec::as_slice)
    }
}

/// `a/b/c` → (`a/b`, `c`); `c` → (``, `c`).
pub fn split(rel: &str) -> (&str, &str) {
    rel.rsplit_once('/').unwrap_or(("", rel))
}

/// `parent` + `/` + `name`, or `name` below the topdir.
pub fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}/{name}")
    }
}

/// One directory found on the master.
#[derive(Clone, Debug)]
pub struct Found {
    /// Its time: ctime when walking, the list's time with a list file.
    pub time: i64,
    /// Others may read and search it and its parent (§4.2).
    pub readable: bool,
    /// New, changed, or `--full`: its entries were read and `files` is every regular file.
    pub listed: bool,
    /// Listed: every regular file; otherwise the watched files (repomd.xml, summary) present.
    pub files: Vec<FileEntry>,
    /// Its entries could not be read: what is below it is unknown, so nothing below it is
    /// deleted (§4.7).
    pub unreadable: bool,
}

/// The directories of a category on the master, by path below the topdir, parents first.
#[derive(Clone, Debug, Default)]
pub struct Tree {
    pub dirs: BTreeMap<String, Found>,
    /// Problems that did not stop the scan (an unreadable directory, a vanished file).
    pub warnings: Vec<String>,
}

impl Tree {
    /// Whether `rel` is a yum repository (has a `repodata` child directory).
    pub fn is_yum(&self, rel: &str) -> bool {
        self.dirs.contains_key(&join(rel, "repodata"))
    }

    /// Whether `rel` is an ostree repository (a `summary` file and an `objects` directory).
    pub fn is_ostree(&self, rel: &str) -> bool {
        self.dirs.contains_key(&join(rel, "objects"))
            && self.dirs[rel].files.iter().any(|f| f.name == SUMMARY)
    }

    /// Whether `rel` is below (or is) a directory whose entries could not be read.
    pub fn below_unreadable(&self, rel: &str) -> bool {
        let mut at = rel;
        loop {
            if self.dirs.get(at).is_some_and(|f| f.unreadable) {
                return true;
            }
            if at.is_empty() {
                return false;
            }
            at = split(at).0;
        }
    }
}

/// Progress of a scan, shared with the progress reporter.
#[derive(Debug, Default)]
pub struct Counters {
    pub seen: AtomicU64,
    pub listed: AtomicU64,
    pub stats: AtomicU64,
    pub hashed: AtomicU64,
}

impl Counters {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// Why discovery stopped.
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    /// The category cannot be scanned (path missing or empty, list file empty): nothing
    /// changes (§4.7).
    #[error("{0}")]
    Refused(String),
    #[error("stopped")]
    Cancelled,
}

/// What a walk needs besides the master.
pub struct Walk<'a> {
    pub master: &'a Master,
    pub known: &'a Known,
    /// `--full`: every directory counts as changed.
    pub full: bool,
    /// The start (epoch second) of the previous scan of this category: a directory whose time
    /// is at or after it is listed again (control-plane-decisions.md D12).
    pub since: Option<i64>,
    pub counters: &'a Counters,
    pub cancel: &'a AtomicBool,
}

/// Others may read (r) and search (x): §4.2.
pub fn world_readable(mode: u32) -> bool {
    mode & 0o005 == 0o005
}

impl Walk<'_> {
    /// Whether a directory at `rel` with time `time` must be listed.
    pub fn changed(&self, rel: &str, time: i64) -> bool {
        self.full
            || match self.known.dirs.get(rel) {
                None => true,
                Some(k) => k.time != time || self.since.is_some_and(|s| time >= s),
            }
    }

    /// Walks the tree at `master.path`.
    pub fn walk(&self) -> Result<Tree, DiscoverError> {
        let root = &self.master.path;
        let meta = fs::metadata(root).map_err(|e| {
            DiscoverError::Refused(format!("{} is not readable: {e}", root.display()))
        })?;
        if !meta.is_dir() {
            return Err(DiscoverError::Refused(format!(
                "{} is not a directory",
                root.display()
            )));
        }
        let empty = fs::read_dir(root)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false);
        if empty {
            return Err(DiscoverError::Refused(format!(
                "{} is empty (not mounted or not synced yet?)",
                root.display()
            )));
        }
        let mut tree = Tree::default();
        // (relative path, metadata, parent readable); parents before children.
        let mut stack = vec![(String::new(), meta, true)];
        while let Some((rel, meta, parent_readable)) = stack.pop() {
            if self.cancel.load(Ordering::Relaxed) {
                return Err(DiscoverError::Cancelled);
            }
            Counters::add(&self.counters.seen, 1);
            let path = root.join(&rel);
            let time = meta.ctime();
            let readable = parent_readable && world_readable(meta.mode());
            let mut found = Found {
                time,
                readable,
                listed: false,
                files: Vec::new(),
                unreadable: false,
            };
            let mut children = Vec::new();
            if self.changed(&rel, time) {
                Counters::add(&self.counters.listed, 1);
                match self.list(&path, &rel, &mut found, &mut children) {
                    Ok(()) => found.listed = true,
                    Err(e) => {
                        tree.warnings
                            .push(format!("cannot read {}: {e}", path.display()));
                        found.unreadable = true;
                    }
                }
            } else {
                self.revisit(&path, &rel, &mut found, &mut children);
            }
            children.sort_by(|a: &(String, fs::Metadata), b| b.0.cmp(&a.0));
            for (child, meta) in children {
                stack.push((child, meta, readable));
            }
            tree.dirs.insert(rel, found);
        }
        Ok(tree)
    }

    /// Reads the entries of a new or changed directory: its files (one `stat` each) and
    /// child directories (one `stat` each, to be visited).
    fn list(
        &self,
        path: &Path,
        rel: &str,
        found: &mut Found,
        children: &mut Vec<(String, fs::Metadata)>,
    ) -> std::io::Result<()> {
        for entry in fs::read_dir(path)? {
            let entry = entry?;
            let Ok(name) = entry.file_name().into_string() else {
                continue; // not UTF-8: no directory name can hold it
            };
            let ty = entry.file_type()?;
            if ty.is_symlink() {
                continue;
            }
            Counters::add(&self.counters.stats, 1);
            let Ok(meta) = entry.metadata() else {
                continue; // vanished meanwhile
            };
            if meta.is_dir() {
                let child = join(rel, &name);
                if !self.master.excluded(&child) {
                    children.push((child, meta));
                }
            } else if meta.is_file() {
                found.files.push(FileEntry {
                    name,
                    size: meta.size(),
                    mtime: meta.mtime(),
                });
            }
        }
        found.files.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(())
    }

    /// An unchanged directory: its known children, one `stat` each, and its watched file.
    fn revisit(
        &self,
        path: &Path,
        rel: &str,
        found: &mut Found,
        children: &mut Vec<(String, fs::Metadata)>,
    ) {
        for name in self.known.children(rel) {
            let child = join(rel, name);
            if self.master.excluded(&child) {
                continue;
            }
            Counters::add(&self.counters.stats, 1);
            if let Ok(meta) = fs::symlink_metadata(path.join(name))
                && meta.is_dir()
            {
                children.push((child, meta));
            }
        }
        let watched = if split(rel).1 == "repodata" {
            Some(REPOMD)
        } else if self.known.children(rel).iter().any(|c| c == "objects") {
            Some(SUMMARY)
        } else {
            None
        };
        if let Some(name) = watched {
            Counters::add(&self.counters.stats, 1);
            if let Ok(meta) = fs::symlink_metadata(path.join(name))
                && meta.is_file()
            {
                found.files.push(FileEntry {
                    name: name.to_string(),
                    size: meta.size(),
                    mtime: meta.mtime(),
                });
            }
        }
    }
}
