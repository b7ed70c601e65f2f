//! `generate-tree`: the directory layout of [`super::generate`] (≈30,000 directories laid out
//! like Fedora's master, ≈1,000 of them `repodata`) written to disk as a master tree, for the
//! scanner benchmark (`ops/bench-scan.sh`). Every `repodata` directory holds a repomd.xml shaped
//! like createrepo_c's and a metadata file, every `Packages/<letter>` directory some packages
//! (more than 10, so the crawler samples the 3 newest), every `iso` directory an image and its
//! `-CHECKSUM` file. Beside the tree: `fullfiletimelist` (the quick-fedora-mirror list of it,
//! paths relative to the output directory) and `inventory.json` (the products, arches and the
//! three categories, whose directories the scan creates, and one master host).
//!
//! Deterministic for a seed, but for the files' times (they are written now).

use std::fs;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use anyhow::Context;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::tree::make_tree;
use super::{ARCHES, CATEGORIES, Summary};
use crate::rng::Rng;

/// What to write.
#[derive(Clone, Debug)]
pub struct TreeParams {
    pub seed: u64,
    /// Directories (exact, as `generate`).
    pub directories: usize,
    /// Packages per `Packages/<letter>` directory.
    pub packages: usize,
    /// Reference time of the repomd.xml revisions (Unix seconds).
    pub created_at: i64,
}

/// What was written.
#[derive(Clone, Debug, Default)]
pub struct TreeSummary {
    pub directories: usize,
    pub repodata: usize,
    pub files: usize,
    pub list_lines: usize,
}

/// A repomd.xml as createrepo_c writes it (three `<data>` entries).
fn repomd_xml(rng: &mut Rng, revision: i64) -> String {
    let mut text = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<repomd \
         xmlns=\"http://linux.duke.edu/metadata/repo\" \
         xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\">\n  <revision>{revision}</revision>\n"
    );
    for kind in ["primary", "filelists", "other"] {
        let sum = rng.hex(32);
        let ts = revision - rng.below(60) as i64;
        text.push_str(&format!(
            "  <data type=\"{kind}\">\n    <checksum type=\"sha256\">{sum}</checksum>\n    \
             <location href=\"repodata/{sum}-{kind}.xml.zst\"/>\n    <timestamp>{ts}</timestamp>\n    \
             <size>{}</size>\n    <open-size>{}</open-size>\n  </data>\n",
            rng.range(10_000, 9_000_000),
            rng.range(100_000, 90_000_000)
        ));
    }
    text.push_str("</repomd>\n");
    text
}

fn write(path: &Path, content: &[u8], summary: &mut TreeSummary) -> anyhow::Result<()> {
    fs::write(path, content).with_context(|| format!("cannot write {}", path.display()))?;
    summary.files += 1;
    Ok(())
}

/// Writes the tree below `out` (created), `out/fullfiletimelist` and `out/inventory.json`.
pub fn write_master_tree(
    out: &Path,
    p: &TreeParams,
    progress: &mut dyn FnMut(&str),
) -> anyhow::Result<TreeSummary> {
    let dirs = make_tree(p.directories, &mut Summary::default())?;
    let mut summary = TreeSummary::default();
    let mut rng = Rng::derive(p.seed, "master-tree");
    progress(&format!("tree: {} directories …", dirs.len()));
    for d in &dirs {
        let path = out.join(&d.name);
        fs::create_dir_all(&path).with_context(|| format!("cannot create {}", path.display()))?;
        summary.directories += 1;
        let (parent, last) = d.name.rsplit_once('/').unwrap_or(("", &d.name));
        if d.repomd {
            summary.repodata += 1;
            let revision = p.created_at - rng.below(30 * 86_400) as i64;
            let xml = repomd_xml(&mut rng, revision);
            write(&path.join("repomd.xml"), xml.as_bytes(), &mut summary)?;
            let sum = super::hex(&Sha256::digest(xml.as_bytes()));
            write(
                &path.join(format!("{sum}-primary.xml.zst")),
                &xml.as_bytes()[..64],
                &mut summary,
            )?;
        } else if parent.ends_with("/Packages") && last.len() == 1 {
            for i in 0..p.packages {
                let name = format!("{last}pkg{i:02}-1.{}-1.fc43.noarch.rpm", rng.below(100));
                write(&path.join(name), &[0xed, 0xab, 0xee, 0xdb], &mut summary)?;
            }
        } else if last == "iso" {
            let image = format!("{}-{}.iso", parent.replace('/', "-"), rng.below(10));
            let bytes = image.as_bytes();
            write(&path.join(&image), bytes, &mut summary)?;
            let checksum = format!(
                "# {image}: {} bytes\nSHA256 ({image}) = {}\n",
                bytes.len(),
                super::hex(&Sha256::digest(bytes))
            );
            write(
                &path.join(format!("{}-CHECKSUM", parent.replace('/', "-"))),
                checksum.as_bytes(),
                &mut summary,
            )?;
        }
    }
    progress("fullfiletimelist …");
    let mut lines = Vec::new();
    list(out, &out.join("pub"), &mut lines)?;
    lines.sort();
    summary.list_lines = lines.len();
    let mut text = String::from("[Version]\n2\n\n[Files]\n");
    for (_, line) in &lines {
        text.push_str(line);
        text.push('\n');
    }
    text.push_str("\n[Checksums SHA1]\n");
    fs::write(out.join("fullfiletimelist"), text)?;
    progress("inventory.json …");
    let mut arches: Vec<&str> = ARCHES.to_vec();
    arches.extend([
        "source", "noarch", "armhfp", "i386", "i686", "mips64el", "ppc64",
    ]);
    let categories: Vec<_> = CATEGORIES
        .iter()
        .map(|&(name, topdir)| {
            let (product, repomap) = match name {
                super::FEDORA => ("Fedora", Some("fedora")),
                super::EPEL => ("EPEL", Some("epel")),
                _ => ("Fedora", None),
            };
            let mut c = json!({ "name": name, "product": product, "topdir": topdir });
            if let Some(r) = repomap {
                c["repomap"] = json!(r);
            }
            c
        })
        .collect();
    let host_categories: serde_json::Map<String, serde_json::Value> = CATEGORIES
        .iter()
        .map(|&(name, topdir)| {
            (
                name.to_string(),
                json!({ "urls": [format!("https://dl.example.org/{topdir}")], "always_up2date": true }),
            )
        })
        .collect();
    let inventory = json!({
        "format": "mirrorfleet-inventory",
        "format_version": 1,
        "generator": "mirrorfleet-loadtest generate-tree",
        "products": [ { "name": "Fedora", "versions": [] }, { "name": "EPEL", "versions": [] } ],
        "arches": arches,
        "categories": categories,
        "sites": [ { "name": "Master", "hosts": [ {
            "name": "dl.example.org", "country": "US", "categories": host_categories
        } ] } ],
    });
    let mut f = fs::File::create(out.join("inventory.json"))?;
    serde_json::to_writer_pretty(&mut f, &inventory)?;
    f.write_all(b"\n")?;
    Ok(summary)
}

/// `(path, line)` of every directory and file below `dir`, paths relative to `base`.
fn list(base: &Path, dir: &Path, out: &mut Vec<(String, String)>) -> anyhow::Result<()> {
    let meta = fs::metadata(dir)?;
    let rel = dir.strip_prefix(base)?.display().to_string();
    out.push((
        rel.clone(),
        format!("{}\td\t{}\t{rel}", meta.mtime(), meta.size()),
    ));
    for e in fs::read_dir(dir)? {
        let e = e?;
        let path = e.path();
        if e.file_type()?.is_dir() {
            list(base, &path, out)?;
        } else {
            let m = e.metadata()?;
            let rel = path.strip_prefix(base)?.display().to_string();
            out.push((
                rel.clone(),
                format!("{}\tf\t{}\t{rel}", m.mtime(), m.size()),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_tree_on_disk() {
        let out = std::env::temp_dir().join(format!("mf-generate-tree-{}", std::process::id()));
        let _ = fs::remove_dir_all(&out);
        let p = TreeParams {
            seed: 3,
            directories: 3_000,
            packages: 2,
            created_at: 1_767_225_600,
        };
        let s = write_master_tree(&out, &p, &mut |_| {}).unwrap();
        assert_eq!(s.directories, 3_000);
        assert!(s.repodata > 50, "{s:?}");
        let repomd =
            out.join("pub/fedora/linux/releases/43/Everything/x86_64/os/repodata/repomd.xml");
        let xml = fs::read_to_string(&repomd).unwrap();
        assert_eq!(xml.matches("<timestamp>").count(), 3);
        let list = fs::read_to_string(out.join("fullfiletimelist")).unwrap();
        assert!(list.contains("\td\t") && list.contains("\tf\t"));
        assert_eq!(
            list.lines().filter(|l| l.contains('\t')).count(),
            s.list_lines
        );
        let inv: serde_json::Value =
            serde_json::from_slice(&fs::read(out.join("inventory.json")).unwrap()).unwrap();
        assert_eq!(inv["categories"].as_array().unwrap().len(), 3);
        fs::remove_dir_all(&out).unwrap();
    }
}
