//! A fullfiletimelist-style list file (control-plane.md §4.2) as the source of a category's
//! [`Tree`]: only the `[Files]` section is read, lines `TIME<TAB>TYPE<TAB>SIZE<TAB>PATH`
//! (type `d` directory, `f` file, `l` link; later characters ignored), paths relative to
//! `list_base`. Entries outside the master's `path` are ignored, so one list serves several
//! categories. The list says nothing about permissions, so directories whose time changed are
//! `stat`ed for readability.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::Ordering;

use super::details::FileEntry;
use super::discover::{
    Counters, DiscoverError, Found, REPOMD, SUMMARY, Tree, Walk, join, split, world_readable,
};

/// A list's identity: its size and mtime; the same as at the last scan means "unchanged".
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ListStamp {
    pub size: u64,
    pub mtime: i64,
}

/// What reading the list gave.
pub enum Listed {
    Tree(Tree, ListStamp),
    /// The list is the one the last scan read (and not `--full`).
    Unchanged(ListStamp),
    /// Not a usable list (missing, no `[Files]` section, over 1 % bad lines): walk instead.
    Rejected(String),
}

/// Bad lines tolerated, as a fraction of the section's lines.
const MAX_BAD: f64 = 0.01;

/// One parsed `[Files]` line.
struct Entry<'a> {
    time: i64,
    kind: u8,
    size: u64,
    path: &'a str,
}

/// Parses the `[Files]` section: the entries, and the number of bad lines; `None` without a
/// section.
fn parse(text: &str) -> Option<(Vec<Entry<'_>>, usize)> {
    let mut lines = text.lines();
    lines.find(|l| l.trim_end() == "[Files]")?;
    let mut entries = Vec::new();
    let mut bad = 0;
    for line in lines {
        if line.starts_with('[') {
            break;
        }
        if line.trim().is_empty() {
            continue;
        }
        let mut f = line.splitn(4, '\t');
        let (Some(time), Some(kind), Some(size), Some(path)) =
            (f.next(), f.next(), f.next(), f.next())
        else {
            continue; // shorter lines are skipped (§4.2)
        };
        match (
            time.parse::<i64>(),
            size.parse::<u64>(),
            kind.bytes().next(),
        ) {
            (Ok(time), Ok(size), Some(kind @ (b'd' | b'f' | b'l'))) if !path.is_empty() => entries
                .push(Entry {
                    time,
                    kind,
                    size,
                    path,
                }),
            _ => bad += 1,
        }
    }
    Some((entries, bad))
}

/// `path` of a list entry, relative to the master's path, or `None` when outside it.
fn relative(base: &Path, root: &Path, entry: &str) -> Option<String> {
    let full: PathBuf = base.join(entry);
    let rel = full.strip_prefix(root).ok()?;
    let mut parts = Vec::new();
    for c in rel.components() {
        match c {
            Component::Normal(s) => parts.push(s.to_str()?),
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(parts.join("/"))
}

impl Walk<'_> {
    /// Reads the master's list file; `previous` is the list the last scan of the category read.
    pub fn read_list(
        &self,
        list: &Path,
        base: &Path,
        previous: Option<ListStamp>,
    ) -> Result<Listed, DiscoverError> {
        let meta = match fs::metadata(list) {
            Ok(m) => m,
            Err(e) => return Ok(Listed::Rejected(format!("{}: {e}", list.display()))),
        };
        let stamp = ListStamp {
            size: meta.size(),
            mtime: meta.mtime(),
        };
        if stamp.size == 0 {
            return Err(DiscoverError::Refused(format!(
                "the list file {} is empty",
                list.display()
            )));
        }
        if !self.full && previous == Some(stamp) {
            return Ok(Listed::Unchanged(stamp));
        }
        let root = &self.master.path;
        if !root.is_dir() {
            return Err(DiscoverError::Refused(format!(
                "{} is not a directory",
                root.display()
            )));
        }
        let bytes = fs::read(list)
            .map_err(|e| DiscoverError::Refused(format!("cannot read {}: {e}", list.display())))?;
        let text = String::from_utf8_lossy(&bytes);
        let Some((entries, bad)) = parse(&text) else {
            return Ok(Listed::Rejected(format!(
                "{} has no [Files] section",
                list.display()
            )));
        };
        let lines = entries.len() + bad;
        if bad as f64 > MAX_BAD * lines as f64 {
            return Ok(Listed::Rejected(format!(
                "{}: {bad} of {lines} lines of [Files] do not parse",
                list.display()
            )));
        }
        // Directories: relative path → time; excluded ones (and all below them) left out.
        let mut dirs: BTreeMap<String, i64> = BTreeMap::new();
        let mut excluded: HashMap<String, bool> = HashMap::new();
        let mut files: Vec<(String, &Entry<'_>)> = Vec::new();
        for e in &entries {
            let Some(rel) = relative(base, root, e.path) else {
                continue;
            };
            match e.kind {
                b'd' if !self.excluded_below(&rel, &mut excluded) => {
                    dirs.insert(rel, e.time);
                }
                b'f' if !rel.is_empty() => files.push((rel, e)),
                _ => {}
            }
        }
        if dirs.is_empty() && files.is_empty() {
            return Err(DiscoverError::Refused(format!(
                "the list file {} has nothing below {}",
                list.display(),
                root.display()
            )));
        }
        // Parents a list leaves out are there all the same.
        let mut missing = Vec::new();
        for rel in dirs.keys().chain(files.iter().map(|(r, _)| r)) {
            let mut at = split(rel).0;
            while !dirs.contains_key(at) && !self.excluded_below(at, &mut excluded) {
                missing.push(at.to_string());
                if at.is_empty() {
                    break;
                }
                at = split(at).0;
            }
        }
        for rel in missing {
            let time = self.known.dirs.get(&rel).map_or(0, |k| k.time);
            dirs.insert(rel, time);
        }
        let mut tree = Tree::default();
        for (rel, &time) in &dirs {
            if self.cancel.load(Ordering::Relaxed) {
                return Err(DiscoverError::Cancelled);
            }
            Counters::add(&self.counters.seen, 1);
            let listed = self.changed(rel, time);
            let known_readable = self.known.dirs.get(rel).is_none_or(|k| k.readable);
            let own = if listed || !known_readable {
                Counters::add(&self.counters.stats, 1);
                match fs::metadata(root.join(rel)) {
                    Ok(m) => world_readable(m.mode()),
                    Err(_) => known_readable,
                }
            } else {
                true
            };
            if listed {
                Counters::add(&self.counters.listed, 1);
            }
            let parent_readable = rel.is_empty()
                || tree
                    .dirs
                    .get(split(rel).0)
                    .is_none_or(|p: &Found| p.readable);
            tree.dirs.insert(
                rel.clone(),
                Found {
                    time,
                    readable: own && parent_readable,
                    listed,
                    files: Vec::new(),
                    unreadable: false,
                },
            );
        }
        for (rel, e) in files {
            let (parent, name) = split(&rel);
            let Some(found) = tree.dirs.get(parent) else {
                continue; // below an excluded directory
            };
            let watched = (name == REPOMD && split(parent).1 == "repodata")
                || (name == SUMMARY && dirs.contains_key(&join(parent, "objects")));
            if found.listed || watched {
                let found = tree.dirs.get_mut(parent).expect("present");
                found.files.push(FileEntry {
                    name: name.to_string(),
                    size: e.size,
                    mtime: e.time,
                });
            }
        }
        for found in tree.dirs.values_mut() {
            found.files.sort_by(|a, b| a.name.cmp(&b.name));
        }
        Ok(Listed::Tree(tree, stamp))
    }

    /// Whether `rel` or a directory above it is excluded (memoised in `seen`).
    fn excluded_below(&self, rel: &str, seen: &mut HashMap<String, bool>) -> bool {
        if rel.is_empty() {
            return false;
        }
        if let Some(&x) = seen.get(rel) {
            return x;
        }
        let x = self.master.excluded(rel) || self.excluded_below(split(rel).0, seen);
        seen.insert(rel.to_string(), x);
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_section() {
        let text = "[Version]\n2\n\n[Files]\n1700000000\td\t4096\tlinux\n\
                    1700000001\tf\t12\tlinux/a.txt\n1700000002\tlink\t0\tlinux/l\nshort\tline\n\
                    x\tf\t1\tbad\n\n[Checksums SHA1]\nabc\tlinux/a.txt\n";
        let (entries, bad) = parse(text).unwrap();
        assert_eq!(bad, 1);
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[1].path, "linux/a.txt");
        assert_eq!(entries[2].kind, b'l');
        assert!(parse("[Version]\n2\n").is_none());
    }

    #[test]
    fn paths_relative_to_the_master() {
        let base = Path::new("/srv/pub/fedora");
        let root = Path::new("/srv/pub/fedora/linux");
        assert_eq!(
            relative(base, root, "linux/releases/40").as_deref(),
            Some("releases/40")
        );
        assert_eq!(relative(base, root, "linux").as_deref(), Some(""));
        assert_eq!(relative(base, root, "epel/9"), None);
        assert_eq!(relative(base, root, "linux/../epel"), None);
    }
}
