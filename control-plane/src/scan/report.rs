//! The scan's summary (control-plane.md §4.8): per category what was seen and changed, the
//! file details aged out, the generation. Printed by `mirrorfleet scan`, logged by `serve`,
//! and stored as JSON in `scan_run.summary`, where the next scan finds the start of this one
//! (D12) and the list file it read.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::listfile::ListStamp;

/// How a category's scan ended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Scanned (and written, unless a dry run).
    #[default]
    Ok,
    /// Its list file is the one the last scan read: nothing to do.
    Unchanged,
    /// Refused or failed: nothing of it was written (or, for a database failure during the
    /// writes, only whole batches).
    Failed,
}

/// Where the tree came from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TreeSource {
    #[default]
    Walk,
    List,
}

/// A repository directory and what became of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    pub path: String,
    pub reason: String,
}

impl Note {
    pub fn new(path: &str, reason: String) -> Note {
        Note {
            path: path.to_string(),
            reason,
        }
    }
}

/// One category's scan.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CategoryReport {
    pub category: String,
    pub status: Status,
    pub source: TreeSource,
    /// When discovery started (epoch seconds): the next scan lists directories changed since.
    pub started: Option<i64>,
    /// The list file read (or found unchanged).
    pub list: Option<ListStamp>,
    /// Directories found.
    pub seen: u64,
    /// Directories whose entries were read (new, changed, or `--full`).
    pub listed: u64,
    /// `stat` calls.
    pub stats: u64,
    /// Files hashed (repomd.xml, summary).
    pub hashed: u64,
    /// Checksum files read.
    pub checksum_files: u64,
    pub created: u64,
    pub changed: u64,
    pub deleted: u64,
    pub unreadable: u64,
    pub details_added: u64,
    /// `prefix/arch path (rule N)` of each repository created.
    pub created_repos: Vec<String>,
    /// `prefix/arch path` of each orphaned repository attached again.
    pub reattached: Vec<String>,
    /// Unmapped repositories created, with the reason.
    pub unmapped: Vec<Note>,
    /// `prefix/arch (was DIRECTORY)` of each repository orphaned by this scan.
    pub orphaned: Vec<String>,
    /// Repository directories of new or changed directories that got no repository.
    pub notes: Vec<Note>,
    /// Why the category failed, and problems that did not stop it.
    pub errors: Vec<String>,
}

/// A whole scan.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ScanReport {
    pub categories: Vec<CategoryReport>,
    /// File versions aged out (§4.4), over all directories.
    pub aged_out: u64,
    pub generation_before: i64,
    pub generation_after: i64,
    pub dry_run: bool,
}

impl ScanReport {
    /// Whether a category failed.
    pub fn failed(&self) -> bool {
        self.categories.iter().any(|c| c.status == Status::Failed)
    }

    /// The total of one counter over the categories.
    pub fn total(&self, f: impl Fn(&CategoryReport) -> u64) -> u64 {
        self.categories.iter().map(f).sum()
    }
}

/// Lines of one list shown; the rest is counted.
const SHOWN: usize = 20;

fn list<T>(
    f: &mut fmt::Formatter<'_>,
    what: &str,
    items: &[T],
    line: impl Fn(&T) -> String,
) -> fmt::Result {
    for item in items.iter().take(SHOWN) {
        writeln!(f, "  {what}: {}", line(item))?;
    }
    if items.len() > SHOWN {
        writeln!(f, "  {what}: … and {} more", items.len() - SHOWN)?;
    }
    Ok(())
}

impl fmt::Display for CategoryReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = &self.category;
        let source = match self.source {
            TreeSource::Walk => "walk",
            TreeSource::List => "list file",
        };
        let found = format!(
            "{} directories ({source}: {} listed, {} stat calls, {} files hashed, {} checksum \
             files read)",
            self.seen, self.listed, self.stats, self.hashed, self.checksum_files
        );
        match self.status {
            Status::Unchanged => return writeln!(f, "{name}: list file unchanged, nothing to do"),
            Status::Failed => {
                writeln!(f, "{name}: FAILED, nothing changed")?;
                list(f, "error", &self.errors, String::clone)?;
                if self.seen == 0 {
                    return Ok(());
                }
                // What the scan would have written, for the operator deciding on --force.
                writeln!(f, "  found {found}; not written:")?;
            }
            Status::Ok => writeln!(f, "{name}: {found}")?,
        }
        writeln!(
            f,
            "  directories: {} created, {} changed, {} deleted, {} unreadable; file details: {} \
             added",
            self.created, self.changed, self.deleted, self.unreadable, self.details_added
        )?;
        writeln!(
            f,
            "  repositories: {} created, {} re-attached, {} unmapped, {} orphaned",
            self.created_repos.len(),
            self.reattached.len(),
            self.unmapped.len(),
            self.orphaned.len()
        )?;
        list(f, "created", &self.created_repos, String::clone)?;
        list(f, "re-attached", &self.reattached, String::clone)?;
        list(f, "unmapped", &self.unmapped, |n| {
            format!("{} ({})", n.path, n.reason)
        })?;
        list(f, "orphaned", &self.orphaned, String::clone)?;
        list(f, "no repository", &self.notes, |n| {
            format!("{} ({})", n.path, n.reason)
        })?;
        if self.status == Status::Failed {
            return Ok(());
        }
        list(f, "warning", &self.errors, String::clone)
    }
}

impl fmt::Display for ScanReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in &self.categories {
            write!(f, "{c}")?;
        }
        let verb = if self.dry_run { "would be" } else { "is" };
        writeln!(f, "file details aged out: {}", self.aged_out)?;
        write!(
            f,
            "generation {} {verb} {}",
            self.generation_before, self.generation_after
        )
    }
}
