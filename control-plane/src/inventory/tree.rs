//! The directories of a category, as the inventory implies them
//! (data-model.md §11.1): the file lists only some directories; the rest
//! follow from repositories, files and the ancestors of everything listed.
//! Validation (does an `up2date` pattern match anything?) and the derivation
//! (which directories are exported) must agree, so both ask this module.

use std::collections::BTreeSet;

use super::model::{Category, Inventory, folded};

/// Every directory of `category`, relative to its topdir (`""` is the topdir):
/// the topdir, each `directories` entry, each repository `dir` and its
/// `repodata` child, each `files` `dir`, and all their ancestors.
pub fn category_directories(inv: &Inventory, category: &Category) -> BTreeSet<String> {
    let key = folded(&category.name);
    let mut listed: Vec<String> = category.directories.clone();
    for repo in &inv.repositories {
        if folded(&repo.category) != key {
            continue;
        }
        if let Some(dir) = &repo.dir {
            listed.push(dir.clone());
            listed.push(repodata_of(dir));
        }
    }
    for file in &inv.files {
        if folded(&file.category) == key {
            listed.push(file.dir.clone());
        }
    }
    let mut all = BTreeSet::new();
    all.insert(String::new());
    for dir in listed {
        let mut end = dir.len();
        // Insert the directory, then cut one component at a time; an ancestor
        // already present means all of its own ancestors are too.
        while end > 0 && all.insert(dir[..end].to_string()) {
            end = dir[..end].rfind('/').unwrap_or(0);
        }
    }
    all
}

/// The `repodata` child of a repository directory given relative to the topdir.
pub fn repodata_of(dir: &str) -> String {
    if dir.is_empty() {
        "repodata".to_string()
    } else {
        format!("{dir}/repodata")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::model::{FileEntry, Repository};

    #[test]
    fn includes_ancestors_repodata_and_files() {
        let cat = Category {
            name: "EPEL".into(),
            product: "EPEL".into(),
            topdir: "pub/epel".into(),
            publiclist: true,
            admin_only: false,
            repomap: None,
            directories: vec!["a/b".into()],
        };
        let inv = Inventory {
            categories: vec![cat.clone()],
            repositories: vec![Repository {
                prefix: None,
                arch: "x86_64".into(),
                category: "epel".into(),
                version: None,
                dir: Some("9/x".into()),
                repomd: Vec::new(),
            }],
            files: vec![FileEntry {
                category: "EPEL".into(),
                dir: String::new(),
                name: "f".into(),
                history: vec![],
            }],
            ..Inventory::default()
        };
        let dirs: Vec<String> = category_directories(&inv, &cat).into_iter().collect();
        assert_eq!(dirs, ["", "9", "9/x", "9/x/repodata", "a", "a/b"]);
    }
}
