//! Reading file details: version histories (a repository's `repomd` and the
//! `history` of `files` entries) and the `files` list (data-model.md §2
//! `file_detail`, §11.1).

use std::collections::HashMap;

use super::catalog::check_full_length;
use super::diagnostic::{Diagnostics, index};
use super::json::{Kind, Value};
use super::model::{FileEntry, FileVersion, Inventory, full_name};
use super::reader::{FirstSeen, Obj, int_in, string};
use super::rules;

const VERSION_FIELDS: &[&str] = &[
    "timestamp",
    "size",
    "md5",
    "sha1",
    "sha256",
    "sha512",
    "mtime",
];
const FILE_FIELDS: &[&str] = &["category", "dir", "name", "history"];

/// The digests and their lengths in hexadecimal digits.
const DIGESTS: [(&str, usize); 4] = [("md5", 32), ("sha1", 40), ("sha256", 64), ("sha512", 128)];

/// A version history. Each version needs a timestamp, a size and a digest;
/// two identical versions are an error (the database could not tell them
/// apart), a version dnf cannot verify (no SHA-256 or SHA-512) a warning.
pub fn read_history(d: &mut Diagnostics, items: &[Value], list_ptr: &str) -> Vec<FileVersion> {
    let mut seen = FirstSeen::new();
    let mut history = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let ptr = index(list_ptr, i);
        let Some(obj) = Obj::open(d, item, &ptr, VERSION_FIELDS) else {
            continue;
        };
        let timestamp = obj
            .required(d, "timestamp")
            .and_then(|v| rules::epoch(d, v, &obj.at("timestamp")));
        let size = obj
            .required(d, "size")
            .and_then(|v| int_in(d, v, &obj.at("size"), 0, i128::from(i64::MAX), ""))
            .and_then(|n| u64::try_from(n).ok());
        let mut digests: [Option<String>; 4] = Default::default();
        for (slot, (field, digits)) in digests.iter_mut().zip(DIGESTS) {
            *slot = obj
                .get(field)
                .and_then(|v| rules::digest(d, v, &obj.at(field), digits));
        }
        let given = |field: &str| obj.get(field).is_some();
        if !DIGESTS.iter().any(|(field, _)| given(field)) {
            d.error(
                obj.pos,
                &ptr,
                "a file version needs at least one of \"md5\", \"sha1\", \"sha256\", \"sha512\"",
            );
        } else if !given("sha256") && !given("sha512") {
            d.warn(
                obj.pos,
                &ptr,
                "without \"sha256\" or \"sha512\" dnf cannot check this version",
            );
        }
        let mtime = obj
            .get("mtime")
            .and_then(|v| rules::epoch(d, v, &obj.at("mtime")));
        let (Some(timestamp), Some(size)) = (timestamp, size) else {
            continue;
        };
        let [md5, sha1, sha256, sha512] = digests;
        let version = FileVersion {
            timestamp,
            size,
            md5,
            sha1,
            sha256,
            sha512,
            mtime,
        };
        // mtime is not part of a version's identity (data-model.md §2).
        let key = (
            timestamp,
            size,
            version.md5.clone(),
            version.sha1.clone(),
            version.sha256.clone(),
            version.sha512.clone(),
        );
        if let Some(first) = seen.check(key, &ptr) {
            d.error(obj.pos, &ptr, format!("identical to {first}"));
            continue;
        }
        history.push(version);
    }
    history
}

/// `files`: each (directory, file name) once, and not a repository's
/// `repomd.xml`, whose history belongs in the repository's `repomd`.
/// `repodata_dirs` maps the full name of each repository's `repodata`
/// directory to the repository's pointer.
pub fn read_files(
    d: &mut Diagnostics,
    items: &[Value],
    inv: &mut Inventory,
    repodata_dirs: &HashMap<String, String>,
) {
    let mut seen = FirstSeen::new();
    for (i, item) in items.iter().enumerate() {
        let ptr = index("/files", i);
        let Some(obj) = Obj::open(d, item, &ptr, FILE_FIELDS) else {
            continue;
        };
        let category = obj.required(d, "category").and_then(|v| {
            let p = obj.at("category");
            let s = string(d, v, &p)?;
            let found = inv.category(s).map(|c| (c.name.clone(), c.topdir.clone()));
            if found.is_none() {
                d.error(v.pos, &p, format!("unknown category \"{s}\""));
            }
            Some((s.to_string(), found))
        });
        let dir_value = obj.required(d, "dir");
        let dir = dir_value.and_then(|v| rules::relative_path(d, v, &obj.at("dir")));
        let name_value = obj.required(d, "name");
        let name = name_value.and_then(|v| rules::file_name(d, v, &obj.at("name")));
        let history_value = obj.required(d, "history");
        let items = obj.array(d, "history");
        let history = read_history(d, items, &obj.at("history"));
        if let Some(v) = history_value.filter(|v| matches!(&v.kind, Kind::Array(a) if a.is_empty()))
        {
            d.error(
                v.pos,
                &obj.at("history"),
                "a file needs at least one version in \"history\"",
            );
        }
        let (Some((category, found)), Some(dir), Some(name)) = (category, dir, name) else {
            continue;
        };
        if let (Some((_, topdir)), Some(v)) = (&found, dir_value) {
            check_full_length(d, (v.pos, &obj.at("dir")), topdir, &dir);
            let full = full_name(topdir, &dir);
            if let Some(v) = name_value {
                if name == "repomd.xml"
                    && let Some(repo) = repodata_dirs.get(&full)
                {
                    d.error(
                        v.pos,
                        &obj.at("name"),
                        format!(
                            "this is the repomd.xml of {repo}; give its versions in its \"repomd\""
                        ),
                    );
                } else if let Some(first) = seen.check((full, name.clone()), &ptr) {
                    d.error(
                        v.pos,
                        &obj.at("name"),
                        format!("file \"{name}\" in \"{dir}\" is already at {first}"),
                    );
                }
            }
        }
        inv.files.push(FileEntry {
            category,
            dir,
            name,
            history,
        });
    }
}
