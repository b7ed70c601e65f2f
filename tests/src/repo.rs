//! Fixture RPMs and yum repositories: `rpmbuild` and `createrepo_c`, offline, in temp dirs.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::digest::{md5_hex, sha1_hex, sha256_hex, sha512_hex};
use crate::tools::run_with_timeout;

/// Name of the package [`build_rpm`] makes.
pub const HELLO_NAME: &str = "mirrorfleet-hello";

const TOOL_TIMEOUT: Duration = Duration::from_secs(120);

/// Builds `mirrorfleet-hello-1.0-1.noarch.rpm` into `dir` (created if needed) and returns its
/// path. See [`build_rpm_with`].
pub fn build_rpm(dir: &Path) -> PathBuf {
    build_rpm_with(dir, HELLO_NAME, "1.0", "1")
}

/// Builds one tiny noarch RPM `NAME-VERSION-RELEASE.noarch.rpm` into `dir` and returns its path.
///
/// The package holds one file, `/usr/share/NAME/hello.txt`, whose content is
/// `NAME VERSION-RELEASE\n` (so an installroot shows which version was installed). rpmbuild runs
/// offline in a temporary `_topdir` with `--nodeps`; nothing is written outside it but the
/// result. Panics (with rpmbuild's output) on failure.
pub fn build_rpm_with(dir: &Path, name: &str, version: &str, release: &str) -> PathBuf {
    fs::create_dir_all(dir).expect("create RPM output dir");
    let top = tempfile::tempdir().expect("temp rpmbuild topdir");
    let topdir = top.path();
    for d in ["SPECS", "SOURCES", "BUILD", "RPMS", "SRPMS", "tmp"] {
        fs::create_dir_all(topdir.join(d)).unwrap();
    }
    let spec = format!(
        "Name: {name}\n\
         Version: {version}\n\
         Release: {release}\n\
         Summary: Tiny package for the mirrorfleet end-to-end tests\n\
         License: Apache-2.0\n\
         BuildArch: noarch\n\
         \n\
         %description\n\
         One small text file; used to check that dnf installs through mirrorfleet.\n\
         \n\
         %prep\n\
         \n\
         %build\n\
         \n\
         %install\n\
         mkdir -p %{{buildroot}}/usr/share/{name}\n\
         echo '{name} {version}-{release}' > %{{buildroot}}/usr/share/{name}/hello.txt\n\
         \n\
         %files\n\
         /usr/share/{name}/hello.txt\n"
    );
    let spec_path = topdir.join("SPECS").join(format!("{name}.spec"));
    fs::write(&spec_path, spec).unwrap();
    let mut cmd = Command::new("rpmbuild");
    cmd.arg("-bb")
        .arg("--nodeps")
        .arg("--define")
        .arg(format!("_topdir {}", topdir.display()))
        .arg("--define")
        .arg(format!("_tmppath {}", topdir.join("tmp").display()))
        .arg("--define")
        .arg("_build_id_links none")
        .arg("--define")
        .arg("_buildhost mirrorfleet-tests")
        .arg(&spec_path)
        .env("LC_ALL", "C.UTF-8")
        .env("SOURCE_DATE_EPOCH", "1700000000");
    run_with_timeout(&mut cmd, TOOL_TIMEOUT).assert_success();
    let file = format!("{name}-{version}-{release}.noarch.rpm");
    let built = topdir.join("RPMS/noarch").join(&file);
    assert!(
        built.is_file(),
        "rpmbuild did not produce {}",
        built.display()
    );
    let dest = dir.join(&file);
    fs::copy(&built, &dest).expect("copy RPM");
    dest
}

/// `createrepo_c` on `dir`; returns the path of `dir/repodata/repomd.xml`.
pub fn make_repo(dir: &Path) -> PathBuf {
    make_repo_with(dir, None)
}

/// `createrepo_c` on `dir`. With `revision`, repomd.xml's `<revision>` and every `<timestamp>`
/// are set to it (`--revision N --set-timestamp-to-revision`), which gives fixtures a chosen,
/// reproducible age (a stale mirror gets a smaller one). Returns the repomd.xml path. Panics on
/// failure.
pub fn make_repo_with(dir: &Path, revision: Option<u64>) -> PathBuf {
    let mut cmd = Command::new("createrepo_c");
    cmd.arg("--quiet").arg("--no-database");
    if let Some(rev) = revision {
        cmd.arg("--revision")
            .arg(rev.to_string())
            .arg("--set-timestamp-to-revision");
    }
    cmd.arg(dir).env("LC_ALL", "C.UTF-8");
    run_with_timeout(&mut cmd, TOOL_TIMEOUT).assert_success();
    let repomd = dir.join("repodata/repomd.xml");
    assert!(
        repomd.is_file(),
        "createrepo_c wrote no {}",
        repomd.display()
    );
    repomd
}

/// What a metalink (and an inventory `repomd` history entry) says about one repomd.xml.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepomdDetails {
    /// The largest `<timestamp>` of its `<data>` entries (what MirrorManager records).
    pub timestamp: i64,
    pub size: u64,
    pub sha256: String,
    pub md5: String,
    pub sha1: String,
    pub sha512: String,
}

impl RepomdDetails {
    /// An inventory file-version object (DM §11.1) with every digest.
    pub fn to_inventory_json(&self) -> serde_json::Value {
        serde_json::json!({
            "timestamp": self.timestamp,
            "size": self.size,
            "md5": self.md5,
            "sha1": self.sha1,
            "sha256": self.sha256,
            "sha512": self.sha512,
        })
    }
}

/// Size, digests and timestamp of a repomd.xml file. Panics when it cannot be read or has no
/// `<timestamp>` in a `<data>` entry.
pub fn repomd_details(path: &Path) -> RepomdDetails {
    let data = fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let text = String::from_utf8_lossy(&data);
    let timestamp = data_blocks(&text)
        .flat_map(|b| tag_values(b, "timestamp"))
        .filter_map(|v| v.trim().parse::<i64>().ok())
        .max()
        .unwrap_or_else(|| panic!("{} has no <data> <timestamp>", path.display()));
    RepomdDetails {
        timestamp,
        size: data.len() as u64,
        sha256: sha256_hex(&data),
        md5: md5_hex(&data),
        sha1: sha1_hex(&data),
        sha512: sha512_hex(&data),
    }
}

/// The `href` of every `<location>` in a repomd.xml: the metadata files it names, relative to
/// the repository (e.g. `repodata/<hash>-primary.xml.gz`).
pub fn repomd_locations(path: &Path) -> Vec<String> {
    let text =
        fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut out = Vec::new();
    let mut rest = text.as_str();
    while let Some(i) = rest.find("<location") {
        rest = &rest[i..];
        let end = rest.find('>').unwrap_or(rest.len());
        let tag = &rest[..end];
        if let Some(h) = tag.find("href=\"") {
            let v = &tag[h + 6..];
            if let Some(q) = v.find('"') {
                out.push(v[..q].to_string());
            }
        }
        rest = &rest[end..];
    }
    out
}

/// The bodies of the `<data …>…</data>` elements.
fn data_blocks(text: &str) -> impl Iterator<Item = &str> {
    text.split("<data")
        .skip(1)
        .map(|b| b.split("</data>").next().unwrap_or(""))
}

fn tag_values<'a>(text: &'a str, tag: &str) -> Vec<&'a str> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    text.split(open.as_str())
        .skip(1)
        .filter_map(|s| s.split(close.as_str()).next())
        .collect()
}

/// Copies the directory tree `from` into `to` (created), files and directories only.
pub fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        let ty = entry.file_type().unwrap();
        if ty.is_dir() {
            copy_tree(&entry.path(), &target);
        } else if ty.is_file() {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The category topdir of the dnf tests' tree (category "Fedora Linux").
pub const TOPDIR: &str = "pub/fedora/linux";
/// The repository directory below [`TOPDIR`] (fedora-40, x86_64).
pub const REPO_SUBDIR: &str = "releases/40/Everything/x86_64/os";

/// An inventory (data-model.md §11, shaped like the §11.2 example) of one repository,
/// `fedora-40`/x86_64 in [`TOPDIR`]/[`REPO_SUBDIR`], whose `repomd` history is `repomd` (newest
/// first), with `sites` as given.
pub fn fedora_40_inventory(
    repomd: &[&RepomdDetails],
    sites: Vec<serde_json::Value>,
) -> serde_json::Value {
    let history: Vec<_> = repomd
        .iter()
        .map(|d| serde_json::json!({"timestamp": d.timestamp, "size": d.size, "sha256": d.sha256}))
        .collect();
    serde_json::json!({
        "format": "mirrorfleet-inventory",
        "format_version": 1,
        "policy": { "min_mirrors": 5, "max_hosts": 100 },
        "products": [ { "name": "Fedora", "versions": ["40"] } ],
        "arches": ["x86_64"],
        "categories": [
            { "name": "Fedora Linux", "product": "Fedora", "topdir": TOPDIR, "repomap": "fedora" }
        ],
        "repositories": [ {
            "prefix": "fedora-40", "arch": "x86_64", "category": "Fedora Linux", "version": "40",
            "dir": REPO_SUBDIR, "repomd": history,
        } ],
        "sites": sites,
    })
}

/// Puts `rpm` into the fedora-40 repository of the tree at `root` ([`TOPDIR`]/[`REPO_SUBDIR`],
/// created when missing; RPMs already there stay), rebuilds its repodata with `createrepo_c`
/// at `revision`, and returns what a metalink says of the new repomd.xml.
pub fn add_to_fedora_40_tree(root: &Path, rpm: &Path, revision: u64) -> RepomdDetails {
    let os = root.join(TOPDIR).join(REPO_SUBDIR);
    fs::create_dir_all(&os).unwrap_or_else(|e| panic!("create {}: {e}", os.display()));
    let name = rpm.file_name().expect("an RPM file name");
    fs::copy(rpm, os.join(name)).unwrap_or_else(|e| panic!("copy {}: {e}", rpm.display()));
    repomd_details(&make_repo_with(&os, Some(revision)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repomd_parsing() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("repomd.xml");
        fs::write(
            &p,
            "<repomd><revision>5</revision>\n<data type=\"primary\"><location href=\"repodata/a-primary.xml.gz\"/><timestamp>100</timestamp></data>\n\
             <data type=\"other\"><location href=\"repodata/b-other.xml.gz\"/><timestamp>300</timestamp></data><data type=\"x\"><timestamp>200</timestamp></data></repomd>\n",
        )
        .unwrap();
        let d = repomd_details(&p);
        assert_eq!(d.timestamp, 300);
        assert_eq!(d.size, fs::metadata(&p).unwrap().len());
        assert_eq!(d.sha256, sha256_hex(&fs::read(&p).unwrap()));
        assert_eq!(
            repomd_locations(&p),
            vec!["repodata/a-primary.xml.gz", "repodata/b-other.xml.gz"]
        );
    }
}
