//! Master trees for the scanner tests, laid out as Fedora's and EPEL's are: repositories with
//! a `repodata/repomd.xml` shaped like createrepo_c's, package directories, image directories
//! with checksum files, and the fullfiletimelist that quick-fedora-mirror publishes.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

/// A category's tree on the master: `root` is its topdir.
pub struct MasterTree {
    pub root: PathBuf,
}

/// A repomd.xml as createrepo_c writes it, every `<data>` of `revision` except `filelists`
/// (one second older), so the content timestamp is `revision`.
pub fn repomd_xml(revision: i64) -> String {
    let data = |kind: &str, ts: i64| {
        let sum = hex::encode(Sha256::digest(format!("{kind}{revision}")));
        format!(
            "  <data type=\"{kind}\">\n    <checksum type=\"sha256\">{sum}</checksum>\n    \
             <open-checksum type=\"sha256\">{sum}</open-checksum>\n    <location \
             href=\"repodata/{sum}-{kind}.xml.gz\"/>\n    <timestamp>{ts}</timestamp>\n    \
             <size>1204</size>\n    <open-size>4791</open-size>\n  </data>\n"
        )
    };
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<repomd \
         xmlns=\"http://linux.duke.edu/metadata/repo\" \
         xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\">\n  <revision>{revision}</revision>\n{}{}{}</repomd>\n",
        data("primary", revision),
        data("filelists", revision - 1),
        data("other", revision)
    )
}

impl MasterTree {
    /// The topdir `topdir` below `base` (created).
    pub fn new(base: &Path, topdir: &str) -> MasterTree {
        let root = base.join(topdir);
        fs::create_dir_all(&root).unwrap();
        MasterTree { root }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        if rel.is_empty() {
            self.root.clone()
        } else {
            self.root.join(rel)
        }
    }

    /// Creates the directory `rel` and its parents.
    pub fn dir(&self, rel: &str) -> PathBuf {
        let p = self.path(rel);
        fs::create_dir_all(&p).unwrap();
        p
    }

    /// Writes `rel/name`.
    pub fn file(&self, rel: &str, name: &str, content: &[u8]) -> PathBuf {
        let p = self.dir(rel).join(name);
        fs::write(&p, content).unwrap();
        p
    }

    /// A yum repository at `rel` whose repomd.xml has `revision`, written as createrepo_c
    /// does: a new `repodata` directory renamed into place. Returns the repomd.xml path.
    pub fn repo(&self, rel: &str, revision: i64) -> PathBuf {
        let dir = self.dir(rel);
        let tmp = dir.join(".repodata");
        fs::create_dir_all(&tmp).unwrap();
        fs::write(tmp.join("repomd.xml"), repomd_xml(revision)).unwrap();
        fs::write(
            tmp.join(format!("{revision}-primary.xml.gz")),
            revision.to_string(),
        )
        .unwrap();
        let repodata = dir.join("repodata");
        if repodata.exists() {
            fs::remove_dir_all(&repodata).unwrap();
        }
        fs::rename(&tmp, &repodata).unwrap();
        repodata.join("repomd.xml")
    }

    /// Replaces the repomd.xml of the repository at `rel` in place, as rsync does (a
    /// temporary file renamed over it): the `repodata` directory changes.
    pub fn update_repomd(&self, rel: &str, revision: i64) -> PathBuf {
        let repodata = self.path(rel).join("repodata");
        let tmp = repodata.join(".repomd.xml.tmp");
        fs::write(&tmp, repomd_xml(revision)).unwrap();
        let target = repodata.join("repomd.xml");
        fs::rename(&tmp, &target).unwrap();
        target
    }

    /// `n` packages `name-N.ext` in `rel`, the N-th modified at `base + N` seconds.
    pub fn packages(&self, rel: &str, n: usize, ext: &str, base: i64) {
        for i in 0..n {
            let p = self.file(rel, &format!("pkg-{i:02}{ext}"), format!("{i}").as_bytes());
            let t = UNIX_EPOCH + Duration::from_secs((base + i as i64) as u64);
            fs::File::options()
                .write(true)
                .open(&p)
                .unwrap()
                .set_modified(t)
                .unwrap();
        }
    }

    pub fn remove(&self, rel: &str) {
        fs::remove_dir_all(self.path(rel)).unwrap();
    }

    pub fn chmod(&self, rel: &str, mode: u32) {
        fs::set_permissions(self.path(rel), fs::Permissions::from_mode(mode)).unwrap();
    }
}

/// Writes a fullfiletimelist of everything below `base` (paths relative to it) to `list`:
/// `[Version]`, `[Files]` with `time\ttype\tsize\tpath` lines, then a checksum section.
pub fn write_list(base: &Path, list: &Path) {
    let mut lines = Vec::new();
    walk(base, base, &mut lines);
    lines.sort_by(|a: &(String, String), b| a.0.cmp(&b.0));
    let mut text = String::from("[Version]\n2\n\n[Files]\n");
    for (_, line) in &lines {
        text.push_str(line);
        text.push('\n');
    }
    text.push_str("\n[Checksums SHA1]\n");
    fs::write(list, text).unwrap();
}

fn walk(base: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
    for e in fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        let rel = p.strip_prefix(base).unwrap().display().to_string();
        let m = fs::symlink_metadata(&p).unwrap();
        if m.is_dir() {
            out.push((
                rel.clone(),
                format!("{}\td\t{}\t{rel}", m.mtime(), m.size()),
            ));
            walk(base, &p, out);
        } else if m.is_file() && !p.ends_with("fullfiletimelist") {
            out.push((
                rel.clone(),
                format!("{}\tf\t{}\t{rel}", m.mtime(), m.size()),
            ));
        }
    }
}

/// Sleeps into the next second of the wall clock, so that what was just written is older
/// than the second the next scan starts in (control-plane-decisions.md D12).
pub fn next_second() {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    std::thread::sleep(Duration::from_nanos(
        1_000_000_000 - u64::from(now.subsec_nanos()) + 20_000_000,
    ));
}
