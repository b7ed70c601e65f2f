//! Reading `repositories`: (prefix, arch) → directory, with the repomd.xml
//! history of each (data-model.md §2 `repository`, §11.1).

use std::collections::HashMap;

use super::catalog::check_full_length;
use super::diagnostic::{Diagnostics, index};
use super::files::read_history;
use super::json::{Kind, Value};
use super::model::{Inventory, Repository, full_name};
use super::reader::{FirstSeen, Obj, raw_string, string, wrong_type};
use super::rules::{self, PREFIX};
use super::tree::repodata_of;

const REPOSITORY_FIELDS: &[&str] = &["prefix", "arch", "category", "version", "dir", "repomd"];

/// Reads `repositories` into `inv` and returns the full name of each
/// repository's `repodata` directory with the repository's pointer (a `files`
/// entry must not give that repomd.xml a second history).
///
/// A (prefix, arch) pair names one repository and a directory holds at most
/// one repository; references to arches, categories and versions must exist.
pub fn read_repositories(
    d: &mut Diagnostics,
    items: &[Value],
    inv: &mut Inventory,
) -> HashMap<String, String> {
    let mut by_prefix = FirstSeen::new();
    let mut by_dir = FirstSeen::new();
    let mut repodata_dirs = HashMap::new();
    for (i, item) in items.iter().enumerate() {
        let ptr = index("/repositories", i);
        let Some(obj) = Obj::open(d, item, &ptr, REPOSITORY_FIELDS) else {
            continue;
        };
        // `prefix` must be present: null says "unmapped" on purpose. A broken
        // prefix is kept (or taken as unmapped) so the checks below still run.
        let prefix = obj.required(d, "prefix").and_then(|v| match &v.kind {
            Kind::Null => None,
            Kind::String(_) => {
                rules::name(d, v, &obj.at("prefix"), PREFIX).or_else(|| raw_string(v))
            }
            _ => {
                wrong_type(d, v, &obj.at("prefix"), "a string or null");
                None
            }
        });
        let arch = obj.required(d, "arch").and_then(|v| {
            let p = obj.at("arch");
            let s = string(d, v, &p)?;
            if inv.arch(s).is_none() {
                d.error(v.pos, &p, format!("unknown arch \"{s}\""));
            }
            Some(s.to_string())
        });
        let category = obj.required(d, "category").and_then(|v| {
            let p = obj.at("category");
            let s = string(d, v, &p)?;
            if inv.category(s).is_none() {
                d.error(v.pos, &p, format!("unknown category \"{s}\""));
            }
            Some(s.to_string())
        });
        let resolved = category.as_deref().and_then(|c| inv.category(c)).cloned();
        let version = obj.get("version").and_then(|v| {
            let p = obj.at("version");
            let s = string(d, v, &p)?;
            let product = resolved.as_ref().and_then(|c| inv.product(&c.product));
            if let Some(product) = product
                && !product.versions.iter().any(|ver| ver.name == s)
            {
                d.error(
                    v.pos,
                    &p,
                    format!("unknown version \"{s}\" of product \"{}\"", product.name),
                );
            }
            Some(s.to_string())
        });
        let dir_value = obj.get("dir");
        let dir = dir_value.and_then(|v| rules::relative_path(d, v, &obj.at("dir")));
        let items = obj.array(d, "repomd");
        let repomd = read_history(d, items, &obj.at("repomd"));
        if dir_value.is_none()
            && let Some(v) = obj
                .get("repomd")
                .filter(|v| !matches!(&v.kind, Kind::Array(a) if a.is_empty()))
        {
            d.error(
                v.pos,
                &obj.at("repomd"),
                "a repository without \"dir\" has no repomd.xml; give \"dir\" or drop \"repomd\"",
            );
        }

        if let (Some(prefix), Some(arch)) = (&prefix, &arch)
            && let Some(first) = by_prefix.check((prefix.clone(), arch.clone()), &ptr)
        {
            d.error(
                obj.pos,
                &ptr,
                format!("prefix \"{prefix}\" with arch \"{arch}\" is already at {first}"),
            );
        }
        if let (Some(dir), Some(category), Some(v)) = (&dir, &resolved, dir_value) {
            check_full_length(d, (v.pos, &obj.at("dir")), &category.topdir, dir);
            let full = full_name(&category.topdir, dir);
            if let Some(first) = by_dir.check(full.clone(), &ptr) {
                d.error(
                    v.pos,
                    &obj.at("dir"),
                    format!("directory already used by {first}"),
                );
            }
            repodata_dirs.insert(full_name(&category.topdir, &repodata_of(dir)), ptr.clone());
        }
        let Some(category) = category else {
            continue;
        };
        inv.repositories.push(Repository {
            prefix,
            arch: arch.unwrap_or_default(),
            category,
            version,
            dir,
            repomd,
        });
    }
    repodata_dirs
}
