//! Reading what should be mirrored: products with their versions, arches and
//! categories (data-model.md §2, §11.1).

use std::collections::BTreeMap;

use super::diagnostic::{Diagnostics, index};
use super::json::{Kind, Pos, Value};
use super::model::{Arch, Category, Inventory, Product, Version, folded};
use super::reader::{Obj, UniqueNames, int_in, raw_string, string, wrong_type};
use super::rules::{self, ARCH_NAME, CATEGORY_NAME, NameRule, PRODUCT_NAME, VERSION_NAME};

const PRODUCT_FIELDS: &[&str] = &["name", "publiclist", "versions"];
const VERSION_FIELDS: &[&str] = &["name", "display_name", "display", "is_test", "sort_order"];
const ARCH_FIELDS: &[&str] = &["name", "publiclist", "primary"];
const CATEGORY_FIELDS: &[&str] = &[
    "name",
    "product",
    "topdir",
    "publiclist",
    "admin_only",
    "repomap",
    "directories",
];

/// A required name member. A string that breaks the name rules is still
/// returned (its error is reported) so that references to it do not pile up
/// "unknown …" errors behind the one real problem.
pub fn required_name(
    d: &mut Diagnostics,
    obj: &Obj<'_>,
    field: &str,
    rule: NameRule,
) -> Option<String> {
    let value = obj.required(d, field)?;
    let ptr = obj.at(field);
    rules::name(d, value, &ptr, rule).or_else(|| raw_string(value))
}

/// `products`: names unique case-insensitively, versions unique exactly.
pub fn read_products(d: &mut Diagnostics, items: &[Value], inv: &mut Inventory) {
    let mut seen = UniqueNames::new("product name");
    for (i, item) in items.iter().enumerate() {
        let ptr = index("/products", i);
        let Some(obj) = Obj::open(d, item, &ptr, PRODUCT_FIELDS) else {
            continue;
        };
        let Some(name) = required_name(d, &obj, "name", PRODUCT_NAME) else {
            continue;
        };
        if let Some(v) = obj.get("name") {
            seen.check(d, folded(&name), &name, (v.pos, &obj.at("name")), &ptr);
        }
        let publiclist = obj.bool_or(d, "publiclist", true);
        let items = obj.array(d, "versions");
        let versions = read_versions(d, items, &obj.at("versions"));
        inv.products.push(Product {
            name,
            publiclist,
            versions,
        });
    }
}

fn read_versions(d: &mut Diagnostics, items: &[Value], list_ptr: &str) -> Vec<Version> {
    let mut seen = UniqueNames::new("version name");
    let mut versions = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let ptr = index(list_ptr, i);
        let (version, name_value, name_ptr) = match &item.kind {
            Kind::String(_) => {
                let Some(name) = rules::name(d, item, &ptr, VERSION_NAME) else {
                    continue;
                };
                (Version::named(&name), item, ptr.clone())
            }
            Kind::Object(_) => {
                let Some(obj) = Obj::open(d, item, &ptr, VERSION_FIELDS) else {
                    continue;
                };
                let Some(name) = required_name(d, &obj, "name", VERSION_NAME) else {
                    continue;
                };
                let version = Version {
                    display_name: obj.opt_text(d, "display_name", 64),
                    display: obj.bool_or(d, "display", true),
                    is_test: obj.bool_or(d, "is_test", false),
                    sort_order: obj
                        .get("sort_order")
                        .and_then(|v| {
                            int_in(
                                d,
                                v,
                                &obj.at("sort_order"),
                                i32::MIN.into(),
                                i32::MAX.into(),
                                "",
                            )
                        })
                        .and_then(|n| i32::try_from(n).ok())
                        .unwrap_or(0),
                    name,
                };
                let Some(v) = obj.get("name") else { continue };
                (version, v, obj.at("name"))
            }
            _ => {
                wrong_type(d, item, &ptr, "a string or an object");
                continue;
            }
        };
        let name = version.name.clone();
        seen.check(d, name.clone(), &name, (name_value.pos, &name_ptr), &ptr);
        versions.push(version);
    }
    versions
}

/// `arches`: names unique exactly.
pub fn read_arches(d: &mut Diagnostics, items: &[Value], inv: &mut Inventory) {
    let mut seen = UniqueNames::new("arch name");
    for (i, item) in items.iter().enumerate() {
        let ptr = index("/arches", i);
        let (arch, name_value, name_ptr) = match &item.kind {
            Kind::String(_) => {
                let Some(name) = rules::name(d, item, &ptr, ARCH_NAME) else {
                    continue;
                };
                (
                    Arch {
                        name,
                        publiclist: true,
                        primary: true,
                    },
                    item,
                    ptr.clone(),
                )
            }
            Kind::Object(_) => {
                let Some(obj) = Obj::open(d, item, &ptr, ARCH_FIELDS) else {
                    continue;
                };
                let Some(name) = required_name(d, &obj, "name", ARCH_NAME) else {
                    continue;
                };
                let arch = Arch {
                    name,
                    publiclist: obj.bool_or(d, "publiclist", true),
                    primary: obj.bool_or(d, "primary", true),
                };
                let Some(v) = obj.get("name") else { continue };
                (arch, v, obj.at("name"))
            }
            _ => {
                wrong_type(d, item, &ptr, "a string or an object");
                continue;
            }
        };
        let name = arch.name.clone();
        seen.check(d, name.clone(), &name, (name_value.pos, &name_ptr), &ptr);
        inv.arches.push(arch);
    }
}

/// `categories`: names unique case-insensitively, topdirs unique exactly,
/// products known.
pub fn read_categories(d: &mut Diagnostics, items: &[Value], inv: &mut Inventory) {
    let mut seen = UniqueNames::new("category name");
    let mut topdirs: BTreeMap<String, String> = BTreeMap::new();
    for (i, item) in items.iter().enumerate() {
        let ptr = index("/categories", i);
        let Some(obj) = Obj::open(d, item, &ptr, CATEGORY_FIELDS) else {
            continue;
        };
        let name = required_name(d, &obj, "name", CATEGORY_NAME);
        if let (Some(name), Some(v)) = (&name, obj.get("name")) {
            seen.check(d, folded(name), name, (v.pos, &obj.at("name")), &ptr);
        }
        let product = obj.required(d, "product").and_then(|v| {
            let p = obj.at("product");
            let s = string(d, v, &p)?;
            if inv.product(s).is_none() {
                d.error(v.pos, &p, format!("unknown product \"{s}\""));
            }
            Some(s.to_string())
        });
        let topdir = obj.required(d, "topdir").and_then(|v| {
            let p = obj.at("topdir");
            let Some(topdir) = rules::topdir(d, v, &p) else {
                // Keep the category (and so references to it) despite a bad topdir.
                return raw_string(v);
            };
            match topdirs.get(&topdir) {
                Some(first) => d.error(
                    v.pos,
                    &p,
                    format!("\"{topdir}\" is already the topdir of \"{first}\""),
                ),
                None => {
                    topdirs.insert(topdir.clone(), name.clone().unwrap_or_default());
                }
            }
            Some(topdir)
        });
        let mut directories = Vec::new();
        let dirs_ptr = obj.at("directories");
        for (j, v) in obj.array(d, "directories").iter().enumerate() {
            let p = index(&dirs_ptr, j);
            if let Some(dir) = rules::relative_path(d, v, &p) {
                check_full_length(d, (v.pos, &p), topdir.as_deref().unwrap_or(""), &dir);
                directories.push(dir);
            }
        }
        let category = Category {
            publiclist: obj.bool_or(d, "publiclist", true),
            admin_only: obj.bool_or(d, "admin_only", false),
            repomap: obj.opt_text(d, "repomap", 64),
            directories,
            name: name.unwrap_or_default(),
            product: product.unwrap_or_default(),
            topdir: topdir.unwrap_or_default(),
        };
        // A category without a name cannot be referred to; its error is reported.
        if !category.name.is_empty() {
            inv.categories.push(category);
        }
    }
}

/// Reports a directory whose full name (topdir + `/` + relative) would be
/// longer than a directory name may be.
pub fn check_full_length(
    d: &mut Diagnostics,
    (pos, ptr): (Pos, &str),
    topdir: &str,
    relative: &str,
) {
    let full = topdir.chars().count() + 1 + relative.chars().count();
    if !relative.is_empty() && full > rules::MAX_PATH {
        d.error(
            pos,
            ptr,
            format!(
                "the full directory name would have {full} characters; at most {} are allowed",
                rules::MAX_PATH
            ),
        );
    }
}
