//! The whole inventory document: format check, then every section in the
//! order their cross-references need (a section is read after the ones it
//! refers to, whatever order the file uses), problems sorted at the end.

use super::diagnostic::{Diagnostic, Diagnostics};
use super::json::{self, Value};
use super::model::{Inventory, PolicySettings};
use super::reader::{Obj, array, int_in, integer, string};
use super::{catalog, files, geography, mirrors, redirects, repositories};

/// The `format` every inventory names.
pub const FORMAT: &str = "mirrorfleet-inventory";

/// The `format_version` this build reads.
pub const FORMAT_VERSION: i128 = 1;

const TOP_FIELDS: &[&str] = &[
    "format",
    "format_version",
    "generated_at",
    "generator",
    "policy",
    "products",
    "arches",
    "categories",
    "repositories",
    "files",
    "sites",
    "repo_redirects",
    "disabled_repos",
    "continent_overrides",
    "netblock_countries",
];

const POLICY_FIELDS: &[&str] = &["min_mirrors", "max_hosts"];

/// Reads and validates an inventory file (data-model.md §11).
///
/// `file_name` only labels the diagnostics. On success returns the inventory,
/// every default filled in, with its warnings; on failure every problem found
/// (errors and warnings, at most 200, sorted by position). Diagnostics print
/// as `FILE:LINE:COLUMN: JSON-POINTER: message`.
pub fn parse_inventory(
    file_name: &str,
    text: &str,
) -> Result<(Inventory, Vec<Diagnostic>), Vec<Diagnostic>> {
    let mut d = Diagnostics::new(file_name);
    let root = match json::parse(text) {
        Ok(root) => root,
        Err(e) => {
            // Past a syntax error nothing is reliable: report it alone.
            d.error(e.pos, "", e.message);
            return Err(d.finish());
        }
    };
    let mut inv = Inventory::default();
    read_document(&mut d, &root, &mut inv);
    if d.has_errors() {
        Err(d.finish())
    } else {
        Ok((inv, d.finish()))
    }
}

fn read_document(d: &mut Diagnostics, root: &Value, inv: &mut Inventory) {
    let Some(obj) = Obj::open(d, root, "", TOP_FIELDS) else {
        return;
    };
    if !format_supported(d, &obj) {
        return;
    }
    for field in ["generated_at", "generator"] {
        if let Some(v) = obj.get(field) {
            string(d, v, &obj.at(field));
        }
    }
    if let Some(v) = obj.get("policy") {
        inv.policy = read_policy(d, v);
    }
    let section = |d: &mut Diagnostics, field: &str, required: bool| -> &[Value] {
        let value = if required {
            obj.required(d, field)
        } else {
            obj.get(field)
        };
        value
            .and_then(|v| array(d, v, &obj.at(field)))
            .unwrap_or(&[])
    };
    let items = section(d, "products", true);
    catalog::read_products(d, items, inv);
    let items = section(d, "arches", true);
    catalog::read_arches(d, items, inv);
    let items = section(d, "categories", true);
    catalog::read_categories(d, items, inv);
    let items = section(d, "repositories", false);
    let repodata_dirs = repositories::read_repositories(d, items, inv);
    let items = section(d, "files", false);
    files::read_files(d, items, inv, &repodata_dirs);
    let items = section(d, "disabled_repos", false);
    redirects::read_disabled(d, items, inv);
    if let Some(v) = obj.get("repo_redirects") {
        redirects::read_redirects(d, v, inv);
    }
    if let Some(v) = obj.get("continent_overrides") {
        geography::read_continent_overrides(d, v, inv);
    }
    if let Some(v) = obj.get("netblock_countries") {
        geography::read_netblock_countries(d, v, inv);
    }
    let items = section(d, "sites", false);
    mirrors::read_sites(d, items, inv);
}

/// Checks `format` and `format_version`. A file of another format or version
/// is not checked further: its fields would only produce noise.
fn format_supported(d: &mut Diagnostics, obj: &Obj<'_>) -> bool {
    let mut supported = true;
    if let Some(v) = obj.required(d, "format")
        && let Some(format) = string(d, v, &obj.at("format"))
        && format != FORMAT
    {
        d.error(
            v.pos,
            &obj.at("format"),
            format!("unsupported inventory format \"{format}\" (this build reads \"{FORMAT}\")"),
        );
        supported = false;
    }
    if let Some(v) = obj.required(d, "format_version")
        && let Some(version) = integer(d, v, &obj.at("format_version"))
        && version != FORMAT_VERSION
    {
        d.error(
            v.pos,
            &obj.at("format_version"),
            format!(
                "unsupported inventory format version {version} (this build reads {FORMAT_VERSION})"
            ),
        );
        supported = false;
    }
    supported
}

fn read_policy(d: &mut Diagnostics, value: &Value) -> PolicySettings {
    let Some(obj) = Obj::open(d, value, "/policy", POLICY_FIELDS) else {
        return PolicySettings::default();
    };
    let field = |d: &mut Diagnostics, name: &str| {
        obj.get(name)
            .and_then(|v| int_in(d, v, &obj.at(name), 0, u32::MAX.into(), ""))
            .and_then(|n| u32::try_from(n).ok())
    };
    PolicySettings {
        min_mirrors: field(d, "min_mirrors"),
        max_hosts: field(d, "max_hosts"),
    }
}
