//! What the scanner reads inside files (control-plane.md §4.3, §4.4): the four digests of a
//! `repomd.xml` or ostree `summary` in one pass, the content timestamp of a `repomd.xml`, the
//! lines of checksum files (`*-CHECKSUM`, `SHA256SUM`, …), and the crawler's sample of a
//! directory's files. Hashing runs on a bounded pool of threads (`scanner.hash_workers`).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use md5::Md5;
use serde_json::json;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};

/// A regular file of a directory as discovery saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileEntry {
    pub name: String,
    pub size: u64,
    /// Modification time (epoch seconds).
    pub mtime: i64,
}

/// The digests of a file, lower-case hex; absent ones are `None`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digests {
    pub md5: Option<String>,
    pub sha1: Option<String>,
    pub sha256: Option<String>,
    pub sha512: Option<String>,
}

impl Digests {
    /// Whether at least one digest is present.
    pub fn any(&self) -> bool {
        self.md5.is_some() || self.sha1.is_some() || self.sha256.is_some() || self.sha512.is_some()
    }
}

/// A file read and hashed: its size, digests and bytes (for the timestamp).
pub struct Hashed {
    pub size: u64,
    pub digests: Digests,
    pub bytes: Vec<u8>,
}

/// Reads `path` once, computing md5, sha1, sha256 and sha512 (§4.4).
pub fn hash_file(path: &Path) -> std::io::Result<Hashed> {
    let mut file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    let digests = Digests {
        md5: Some(hex::encode(Md5::digest(&bytes))),
        sha1: Some(hex::encode(Sha1::digest(&bytes))),
        sha256: Some(hex::encode(Sha256::digest(&bytes))),
        sha512: Some(hex::encode(Sha512::digest(&bytes))),
    };
    Ok(Hashed {
        size: bytes.len() as u64,
        digests,
        bytes,
    })
}

/// The largest `<timestamp>` of the `<data>` entries of a repomd.xml, integer part; `Err`
/// says why there is none (the caller falls back to the file's mtime and logs it).
pub fn repomd_timestamp(bytes: &[u8]) -> Result<i64, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8".to_string())?;
    let doc = roxmltree::Document::parse(text).map_err(|e| format!("not XML: {e}"))?;
    doc.descendants()
        .filter(|n| n.has_tag_name("data") || n.tag_name().name() == "data")
        .flat_map(|d| d.children().filter(|c| c.tag_name().name() == "timestamp"))
        .filter_map(|t| {
            let v = t.text()?.trim();
            let int = v.split_once('.').map_or(v, |(i, _)| i);
            int.parse::<i64>().ok().filter(|n| *n >= 0)
        })
        .max()
        .ok_or_else(|| "no <data> entry has a <timestamp>".to_string())
}

/// A digest algorithm of checksum files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Algo {
    Md5,
    Sha1,
    Sha256,
    Sha512,
}

impl Algo {
    /// Hex digits of a digest.
    fn hex_len(self) -> usize {
        match self {
            Algo::Md5 => 32,
            Algo::Sha1 => 40,
            Algo::Sha256 => 64,
            Algo::Sha512 => 128,
        }
    }

    /// The name BSD-style lines use (`SHA256 (file) = …`).
    fn bsd_name(self) -> &'static str {
        match self {
            Algo::Md5 => "MD5",
            Algo::Sha1 => "SHA1",
            Algo::Sha256 => "SHA256",
            Algo::Sha512 => "SHA512",
        }
    }
}

/// The kind of checksum file `name` is, if it is one (§4.4).
pub fn checksum_kind(name: &str) -> Option<Algo> {
    match name {
        "sha256sum.txt" => Some(Algo::Sha256),
        "SHA512SUM" | "sha512sum.txt" => Some(Algo::Sha512),
        "SHA1SUM" | "sha1sum.txt" => Some(Algo::Sha1),
        "MD5SUM" | "md5sum.txt" => Some(Algo::Md5),
        n if n.ends_with("-CHECKSUM") => Some(Algo::Sha256),
        n if n.ends_with(".sha512sum") => Some(Algo::Sha512),
        n if n.ends_with(".sha1sum") => Some(Algo::Sha1),
        n if n.ends_with(".md5sum") => Some(Algo::Md5),
        _ => None,
    }
}

/// The `(file name, digest)` lines of a checksum file of kind `algo`: `HEX NAME`,
/// `HEX *NAME` (GNU) and `ALGO (NAME) = HEX` (BSD); a digest must have the kind's length.
/// Anything else (PGP armour, comments) is skipped.
pub fn parse_checksums(text: &str, algo: Algo) -> Vec<(String, String)> {
    let is_digest = |h: &str| h.len() == algo.hex_len() && h.bytes().all(|b| b.is_ascii_hexdigit());
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if let Some(rest) = line.strip_prefix(algo.bsd_name())
            && let Some(rest) = rest.trim_start().strip_prefix('(')
            && let Some((name, hex)) = rest.rsplit_once(") = ")
        {
            let hex = hex.trim();
            if is_digest(hex) && !name.is_empty() && !name.contains('/') {
                out.push((name.to_string(), hex.to_ascii_lowercase()));
            }
            continue;
        }
        let Some((hex, name)) = line.split_once(char::is_whitespace) else {
            continue;
        };
        let name = name.trim_start();
        let name = name.strip_prefix('*').unwrap_or(name);
        if is_digest(hex) && !name.is_empty() && !name.contains('/') {
            out.push((name.to_string(), hex.to_ascii_lowercase()));
        }
    }
    out
}

/// Merges digests read from checksum files into `into` (per file name); a second, different
/// digest of the same kind for one file keeps the first.
pub fn merge_checksums(
    into: &mut BTreeMap<String, Digests>,
    algo: Algo,
    lines: Vec<(String, String)>,
) {
    for (name, hex) in lines {
        let d = into.entry(name).or_default();
        let slot = match algo {
            Algo::Md5 => &mut d.md5,
            Algo::Sha1 => &mut d.sha1,
            Algo::Sha256 => &mut d.sha256,
            Algo::Sha512 => &mut d.sha512,
        };
        slot.get_or_insert(hex);
    }
}

/// Extensions of which more than [`SAMPLE_CROWD`] files in one directory make the crawler
/// check only the [`SAMPLE_NEWEST`] most recently modified files (§4.3).
const CROWDED_KINDS: &[&str] = &[".rpm", ".drpm", ".html", ".hdr"];
const SAMPLE_CROWD: usize = 10;
const SAMPLE_NEWEST: usize = 3;

/// The crawler's sample of a directory's regular files (§4.3), as the JSON stored in
/// `directory.sample_files`: every file, unless the directory holds more than 10 files of one
/// of the crowded kinds, then the 3 most recently modified (ties by name); by name.
pub fn sample_files(files: &[FileEntry]) -> serde_json::Value {
    let crowded = CROWDED_KINDS
        .iter()
        .any(|ext| files.iter().filter(|f| f.name.ends_with(ext)).count() > SAMPLE_CROWD);
    let mut chosen: Vec<&FileEntry> = files.iter().collect();
    if crowded {
        chosen.sort_by(|a, b| b.mtime.cmp(&a.mtime).then_with(|| a.name.cmp(&b.name)));
        chosen.truncate(SAMPLE_NEWEST);
    }
    chosen.sort_by(|a, b| a.name.cmp(&b.name));
    serde_json::Value::Array(
        chosen
            .into_iter()
            .map(|f| json!({"name": f.name, "size": f.size, "mtime": f.mtime}))
            .collect(),
    )
}

/// Runs `f` on every job with at most `workers` threads; results in job order.
pub fn on_pool<J: Sync, R: Send>(jobs: &[J], workers: usize, f: impl Fn(&J) -> R + Sync) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let workers = workers.clamp(1, jobs.len().max(1));
    let mut results: Vec<(usize, R)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(job) = jobs.get(i) else { break };
                        done.push((i, f(job)));
                    }
                    done
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a hash worker panicked"))
            .collect()
    });
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repomd_timestamps() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<repomd xmlns="http://linux.duke.edu/metadata/repo" xmlns:rpm="http://linux.duke.edu/metadata/rpm">
  <revision>1713185000</revision>
  <data type="primary"><timestamp>1713185000</timestamp></data>
  <data type="filelists"><timestamp>1713185042.75</timestamp></data>
  <tags><timestamp>1999999999</timestamp></tags>
</repomd>"#;
        assert_eq!(repomd_timestamp(xml.as_bytes()), Ok(1713185042));
        assert!(repomd_timestamp(b"<repomd><revision>1</revision></repomd>").is_err());
        assert!(
            repomd_timestamp(b"<repomd>")
                .unwrap_err()
                .starts_with("not XML")
        );
    }

    #[test]
    fn checksum_lines() {
        let sha = "a".repeat(64);
        let text = format!(
            "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n# Fedora-Server-40.iso: 123 bytes\n\
             SHA256 (Fedora-Server-40.iso) = {}\n{sha} *Fedora-Cloud.raw.xz\n{sha}  plain.img\n\
             {} short.img\nSHA1 (wrong-kind.iso) = {sha}\n-----BEGIN PGP SIGNATURE-----\n",
            sha.to_uppercase(),
            "b".repeat(63)
        );
        assert_eq!(
            parse_checksums(&text, Algo::Sha256),
            vec![
                ("Fedora-Server-40.iso".to_string(), sha.clone()),
                ("Fedora-Cloud.raw.xz".to_string(), sha.clone()),
                ("plain.img".to_string(), sha.clone()),
            ]
        );
        assert_eq!(
            checksum_kind("Fedora-Server-40-x86_64-CHECKSUM"),
            Some(Algo::Sha256)
        );
        assert_eq!(checksum_kind("SHA512SUM"), Some(Algo::Sha512));
        assert_eq!(checksum_kind("x.md5sum"), Some(Algo::Md5));
        assert_eq!(checksum_kind("repomd.xml"), None);
    }

    #[test]
    fn samples() {
        let f = |name: &str, mtime: i64| FileEntry {
            name: name.to_string(),
            size: 1,
            mtime,
        };
        let few = vec![f("b.rpm", 1), f("a.txt", 2)];
        let names = |v: serde_json::Value| -> Vec<String> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|e| e["name"].as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(names(sample_files(&few)), ["a.txt", "b.rpm"]);
        let mut many: Vec<FileEntry> = (0..11).map(|i| f(&format!("p{i:02}.rpm"), i)).collect();
        many.push(f("README", 5));
        assert_eq!(
            names(sample_files(&many)),
            ["p08.rpm", "p09.rpm", "p10.rpm"]
        );
    }

    #[test]
    fn pool_keeps_order() {
        let jobs: Vec<u32> = (0..100).collect();
        assert_eq!(
            on_pool(&jobs, 4, |j| j * 2),
            (0..100).map(|j| j * 2).collect::<Vec<_>>()
        );
        assert!(on_pool(&Vec::<u32>::new(), 4, |j| *j).is_empty());
    }
}
