//! `mirrorfleet export inventory` (data-model.md §11.1, control-plane.md §8.3): the database
//! written as an inventory file, read in one transaction.
//!
//! # Deterministic output
//!
//! The text depends only on the data, never on row ids, the backend or the time it runs, so
//! export → import into an empty database → export gives the same bytes:
//! - every object's keys in one fixed order (the order of the §11.1 table), two-space
//!   indentation, a final line end;
//! - an optional field is written only when it differs from its default (a `false` that
//!   defaults to false, a `100` bandwidth, an empty list and an absent value are left out); a
//!   version, an arch or a URL whose other fields are all defaults is written as a bare string;
//! - lists sorted by name, byte-wise: products, versions, arches, categories, sites, hosts in a
//!   site, owners, netblocks, allowed countries, files (category, directory, name); peer ASNs
//!   numerically; repositories by (prefix, arch), unmapped ones (null prefix) last by
//!   (arch, category, directory); objects keyed by name (host categories, redirects, continent
//!   overrides, netblock countries) in byte order of their keys; URLs in position order;
//! - file histories newest first, by (timestamp, id) descending, the order the importer
//!   reproduces;
//! - `up2date` in the compressed form of §11.1 ([`compress_up2date`]);
//! - a category's `directories` lists only what the repositories and files do not already
//!   imply: the deepest directories of the category (those without a subdirectory in it)
//!   that are neither a repository directory, its `repodata` child, a file's directory nor an
//!   ancestor of one.
//!
//! Secrets (token and password hashes), statistics, crawl state, users other than owners'
//! usernames and the `policy` (kept in the configuration, not the database) are not written.
//!
//! # What an inventory cannot say
//!
//! A repository whose directory is not its category's topdir or below it, or whose version
//! belongs to another product than its category's, makes the export fail
//! ([`ExportError::Unrepresentable`]): leaving it out would silently change the repo map on
//! re-import. File details in a directory that no category links (the edges never get them
//! either) and up-to-date rows for a directory outside the host category's category are not
//! written.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;
use sqlx::Row;
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

use crate::db::Database;
use crate::inventory::model::full_name;
use crate::inventory::tree::repodata_of;
use crate::inventory::{FORMAT, FORMAT_VERSION};
use crate::store::Tx;
use crate::with_tx;

/// Why the export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("database query failed: {0}")]
    Query(#[from] sqlx::Error),
    #[error("the database cannot be written as an inventory: {0}")]
    Unrepresentable(String),
    #[error("cannot encode the inventory: {0}")]
    Json(#[from] serde_json::Error),
    #[error("cannot format {what}: {source}")]
    Time {
        what: String,
        #[source]
        source: time::error::Format,
    },
}

/// The database as inventory text (JSON, ending with a line end), read in one read-only
/// transaction. See the module documentation for the exact form.
pub async fn export_inventory(db: &Database) -> Result<String, ExportError> {
    let mut tx = Tx::begin_read(db).await?;
    let doc = read_document(&mut tx).await;
    // Read only: nothing to keep. A failed rollback after a good read changes nothing.
    let _ = tx.rollback().await;
    let mut text = serde_json::to_string_pretty(&doc?)?;
    text.push('\n');
    Ok(text)
}

/// The shortest `up2date` pattern list (data-model.md §11.1) that matches exactly the
/// directories of `up2date` among `directories` (both relative to the category topdir, `""`
/// being the topdir; names of `up2date` outside `directories` are ignored):
/// `["**"]` when every directory is up to date; otherwise, for each largest fully up-to-date
/// subtree rooted at X, `X/**` when X has subdirectories in `directories` and plain `X`
/// otherwise, plus plain `X` for every other up-to-date directory; sorted byte-wise.
pub fn compress_up2date(directories: &BTreeSet<String>, up2date: &BTreeSet<String>) -> Vec<String> {
    Up2dateCompressor::new(directories).compress(up2date)
}

/// [`compress_up2date`] for many up-to-date sets within one category's directories: the
/// directory tree is built once (`import mm2` compresses every host category of a category).
pub struct Up2dateCompressor(DirTree);

impl Up2dateCompressor {
    /// The tree of `directories` (relative to the topdir, `""` being the topdir).
    pub fn new(directories: &BTreeSet<String>) -> Up2dateCompressor {
        Up2dateCompressor(DirTree::new(directories.iter().cloned().collect()))
    }

    /// The patterns of `up2date`, as [`compress_up2date`] gives them.
    pub fn compress(&self, up2date: &BTreeSet<String>) -> Vec<String> {
        let up: Vec<bool> = self.0.names.iter().map(|n| up2date.contains(n)).collect();
        self.0.compress(&up)
    }
}

/// The directories of one category (relative names, sorted byte-wise) with their nearest
/// ancestor in the set and whether they have a subdirectory in it.
struct DirTree {
    names: Vec<String>,
    parent: Vec<Option<usize>>,
    has_children: Vec<bool>,
}

impl DirTree {
    fn new(mut names: Vec<String>) -> DirTree {
        names.sort();
        names.dedup();
        let index: HashMap<&str, usize> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), i))
            .collect();
        let mut parent = vec![None; names.len()];
        let mut has_children = vec![false; names.len()];
        for (i, name) in names.iter().enumerate() {
            if name.is_empty() {
                continue;
            }
            // Walk up one component at a time to the nearest ancestor in the set; the topdir
            // `""` is the ancestor of every top-level directory.
            let mut rest = name.as_str();
            let found = loop {
                rest = match rest.rfind('/') {
                    Some(cut) => &rest[..cut],
                    None => "",
                };
                if let Some(&p) = index.get(rest) {
                    break Some(p);
                }
                if rest.is_empty() {
                    break None;
                }
            };
            parent[i] = found;
            if let Some(p) = found {
                has_children[p] = true;
            }
        }
        DirTree {
            names,
            parent,
            has_children,
        }
    }

    /// The patterns for the up-to-date flags `up` (one per name).
    fn compress(&self, up: &[bool]) -> Vec<String> {
        let n = self.names.len();
        if n == 0 || !up.contains(&true) {
            return Vec::new();
        }
        if up.iter().all(|&u| u) {
            return vec!["**".to_string()];
        }
        // full[i]: i and every directory below it are up to date. A directory that is not up
        // to date spoils itself and all its ancestors.
        let mut full = up.to_vec();
        for (&is_up, &parent) in up.iter().zip(&self.parent) {
            if is_up {
                continue;
            }
            let mut at = parent;
            while let Some(p) = at {
                if !full[p] {
                    break; // it and its ancestors are already spoilt
                }
                full[p] = false;
                at = self.parent[p];
            }
        }
        let mut patterns = Vec::new();
        for i in 0..n {
            if !up[i] {
                continue;
            }
            let parent_full = self.parent[i].is_some_and(|p| full[p]);
            if parent_full {
                continue; // inside a larger fully up-to-date subtree
            }
            let name = &self.names[i];
            if full[i] && self.has_children[i] {
                patterns.push(if name.is_empty() {
                    "**".to_string()
                } else {
                    format!("{name}/**")
                });
            } else {
                patterns.push(name.clone());
            }
        }
        patterns.sort();
        patterns
    }
}

// ---------------------------------------------------------------- the document

fn is_true(b: &bool) -> bool {
    *b
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

fn is_100(n: &i64) -> bool {
    *n == 100
}

fn is_1(n: &i64) -> bool {
    *n == 1
}

/// The whole file, keys in §11.1 order.
#[derive(Serialize)]
struct Document {
    format: &'static str,
    format_version: i128,
    generator: String,
    products: Vec<ProductOut>,
    arches: Vec<NameOr<ArchOut>>,
    categories: Vec<CategoryOut>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    repositories: Vec<RepositoryOut>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    files: Vec<FileOut>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    repo_redirects: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    disabled_repos: Vec<DisabledOut>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    continent_overrides: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    netblock_countries: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    sites: Vec<SiteOut>,
}

/// A value written as a bare name string when everything else is a default.
#[derive(Serialize)]
#[serde(untagged)]
enum NameOr<T> {
    Name(String),
    Full(T),
}

#[derive(Serialize)]
struct ProductOut {
    name: String,
    #[serde(skip_serializing_if = "is_true")]
    publiclist: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    versions: Vec<NameOr<VersionOut>>,
}

#[derive(Serialize)]
struct VersionOut {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    display_name: Option<String>,
    #[serde(skip_serializing_if = "is_true")]
    display: bool,
    #[serde(skip_serializing_if = "is_false")]
    is_test: bool,
    #[serde(skip_serializing_if = "is_zero")]
    sort_order: i64,
}

#[derive(Serialize)]
struct ArchOut {
    name: String,
    #[serde(skip_serializing_if = "is_true")]
    publiclist: bool,
    #[serde(skip_serializing_if = "is_true")]
    primary: bool,
}

#[derive(Serialize)]
struct CategoryOut {
    name: String,
    product: String,
    topdir: String,
    #[serde(skip_serializing_if = "is_true")]
    publiclist: bool,
    #[serde(skip_serializing_if = "is_false")]
    admin_only: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    repomap: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    directories: Vec<String>,
}

#[derive(Serialize)]
struct RepositoryOut {
    /// Always written: null says "unmapped".
    prefix: Option<String>,
    arch: String,
    category: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dir: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    repomd: Vec<FileVersionOut>,
}

#[derive(Serialize)]
struct FileOut {
    category: String,
    dir: String,
    name: String,
    history: Vec<FileVersionOut>,
}

#[derive(Clone, Serialize)]
struct FileVersionOut {
    timestamp: i64,
    size: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    md5: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sha1: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sha256: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sha512: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mtime: Option<i64>,
}

#[derive(Serialize)]
struct DisabledOut {
    prefix: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

#[derive(Serialize)]
struct SiteOut {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    org_url: Option<String>,
    #[serde(skip_serializing_if = "is_false")]
    private: bool,
    #[serde(skip_serializing_if = "is_true")]
    admin_active: bool,
    #[serde(skip_serializing_if = "is_true")]
    user_active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    comment: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    owners: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    hosts: Vec<HostOut>,
}

#[derive(Serialize)]
struct HostOut {
    name: String,
    country: String,
    #[serde(skip_serializing_if = "is_100")]
    bandwidth: i64,
    #[serde(skip_serializing_if = "is_1")]
    max_connections: i64,
    #[serde(skip_serializing_if = "is_false")]
    private: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    asn: Option<i64>,
    #[serde(skip_serializing_if = "is_true")]
    asn_clients: bool,
    #[serde(skip_serializing_if = "is_true")]
    admin_active: bool,
    #[serde(skip_serializing_if = "is_true")]
    user_active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    auto_disabled_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    disable_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    comment: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    contact_email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    latitude: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    longitude: Option<f64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    netblocks: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    peer_asns: Vec<i64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    allowed_countries: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    categories: BTreeMap<String, HostCategoryOut>,
}

#[derive(Default, Serialize)]
struct HostCategoryOut {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    urls: Vec<NameOr<UrlOut>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    private_urls: Vec<NameOr<UrlOut>>,
    #[serde(skip_serializing_if = "is_false")]
    always_up2date: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    up2date: Vec<String>,
}

#[derive(Serialize)]
struct UrlOut {
    url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    ipv4: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ipv6: Option<bool>,
}

// ---------------------------------------------------------------- reading

/// A category as read, with its directories.
struct CategoryRow {
    name: String,
    product_id: i64,
    topdir: String,
    publiclist: bool,
    admin_only: bool,
    repomap: Option<String>,
    /// Linked directories under the topdir: directory id → name relative to the topdir.
    dirs: HashMap<i64, String>,
}

/// The path of `name` relative to `topdir` (`""` for the topdir), or `None` when it is not
/// the topdir or below it.
fn relative_to<'a>(topdir: &str, name: &'a str) -> Option<&'a str> {
    if name == topdir {
        return Some("");
    }
    name.strip_prefix(topdir)?.strip_prefix('/')
}

fn sorted_by_name<T>(items: &mut [T], name: impl Fn(&T) -> &str) {
    items.sort_by(|a, b| name(a).as_bytes().cmp(name(b).as_bytes()));
}

/// A file version row: directory name, file name, version.
type FileRow = (
    String,
    String,
    i64,
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
);

/// A repository row: prefix, arch, category id, version name and product, directory name.
type RepoRow = (
    Option<String>,
    String,
    i64,
    Option<String>,
    Option<i64>,
    Option<String>,
);

async fn read_document(tx: &mut Tx) -> Result<Document, ExportError> {
    // ---- products and versions
    let product_rows: Vec<(i64, String, bool)> = with_tx!(tx, c => sqlx::query_as(
        "SELECT id, name, publiclist FROM product",
    )
    .fetch_all(&mut *c)
    .await?);
    type VersionRow = (i64, String, Option<String>, bool, bool, i64);
    let version_rows: Vec<VersionRow> = with_tx!(tx, c => sqlx::query_as(
        "SELECT product_id, name, display_name, display, is_test, CAST(sort_order AS BIGINT) \
         FROM version",
    )
    .fetch_all(&mut *c)
    .await?);
    let mut versions: HashMap<i64, Vec<VersionOut>> = HashMap::new();
    for (product_id, name, display_name, display, is_test, sort_order) in version_rows {
        versions.entry(product_id).or_default().push(VersionOut {
            name,
            display_name,
            display,
            is_test,
            sort_order,
        });
    }
    let product_names: HashMap<i64, String> = product_rows
        .iter()
        .map(|(id, name, _)| (*id, name.clone()))
        .collect();
    let mut products: Vec<ProductOut> = product_rows
        .into_iter()
        .map(|(id, name, publiclist)| {
            let mut list = versions.remove(&id).unwrap_or_default();
            sorted_by_name(&mut list, |v| &v.name);
            ProductOut {
                name,
                publiclist,
                versions: list
                    .into_iter()
                    .map(|v| {
                        if v.display_name.is_none() && v.display && !v.is_test && v.sort_order == 0
                        {
                            NameOr::Name(v.name)
                        } else {
                            NameOr::Full(v)
                        }
                    })
                    .collect(),
            }
        })
        .collect();
    sorted_by_name(&mut products, |p| &p.name);

    // ---- arches
    let mut arch_rows: Vec<(String, bool, bool)> = with_tx!(tx, c => sqlx::query_as(
        "SELECT name, publiclist, is_primary FROM arch",
    )
    .fetch_all(&mut *c)
    .await?);
    sorted_by_name(&mut arch_rows, |a| &a.0);
    let arches = arch_rows
        .into_iter()
        .map(|(name, publiclist, primary)| {
            if publiclist && primary {
                NameOr::Name(name)
            } else {
                NameOr::Full(ArchOut {
                    name,
                    publiclist,
                    primary,
                })
            }
        })
        .collect();

    // ---- categories and their directories
    type CatRow = (i64, String, i64, String, bool, bool, Option<String>);
    let category_rows: Vec<CatRow> = with_tx!(tx, c => sqlx::query_as(
        "SELECT id, name, product_id, topdir, publiclist, admin_only, repomap FROM category",
    )
    .fetch_all(&mut *c)
    .await?);
    let mut categories: HashMap<i64, CategoryRow> = category_rows
        .into_iter()
        .map(
            |(id, name, product_id, topdir, publiclist, admin_only, repomap)| {
                (
                    id,
                    CategoryRow {
                        name,
                        product_id,
                        topdir,
                        publiclist,
                        admin_only,
                        repomap,
                        dirs: HashMap::new(),
                    },
                )
            },
        )
        .collect();
    let link_rows: Vec<(i64, i64, String)> = with_tx!(tx, c => sqlx::query_as(
        "SELECT cd.category_id, cd.directory_id, d.name \
         FROM category_directory cd JOIN directory d ON d.id = cd.directory_id",
    )
    .fetch_all(&mut *c)
    .await?);
    // directory name → the linked category with the longest topdir (data-model.md §9).
    let mut serving: HashMap<String, (i64, usize)> = HashMap::new();
    for (category_id, dir_id, name) in link_rows {
        let Some(cat) = categories.get_mut(&category_id) else {
            continue;
        };
        let Some(rel) = relative_to(&cat.topdir, &name) else {
            continue;
        };
        cat.dirs.insert(dir_id, rel.to_string());
        let len = cat.topdir.len();
        match serving.get_mut(&name) {
            Some(best) if best.1 >= len => {}
            Some(best) => *best = (category_id, len),
            None => {
                serving.insert(name, (category_id, len));
            }
        }
    }

    // ---- file details, each (directory, file) newest first
    let file_rows: Vec<FileRow> = with_tx!(tx, c => sqlx::query_as(
        "SELECT d.name, fd.filename, CAST(fd.timestamp AS BIGINT), CAST(fd.size AS BIGINT), \
                fd.md5, fd.sha1, fd.sha256, fd.sha512, CAST(fd.mtime AS BIGINT) \
         FROM file_detail fd JOIN directory d ON d.id = fd.directory_id \
         ORDER BY fd.directory_id, fd.filename, fd.timestamp DESC, fd.id DESC",
    )
    .fetch_all(&mut *c)
    .await?);
    let mut histories: BTreeMap<(String, String), Vec<FileVersionOut>> = BTreeMap::new();
    for (dir, filename, timestamp, size, md5, sha1, sha256, sha512, mtime) in file_rows {
        histories
            .entry((dir, filename))
            .or_default()
            .push(FileVersionOut {
                timestamp,
                size,
                md5,
                sha1,
                sha256,
                sha512,
                mtime,
            });
    }

    // ---- repositories, with their repomd.xml histories
    let repo_rows: Vec<RepoRow> = with_tx!(tx, c => sqlx::query_as(
        "SELECT r.prefix, a.name, r.category_id, v.name, v.product_id, d.name \
         FROM repository r JOIN arch a ON a.id = r.arch_id \
         LEFT JOIN version v ON v.id = r.version_id \
         LEFT JOIN directory d ON d.id = r.directory_id",
    )
    .fetch_all(&mut *c)
    .await?);
    let mut repositories = Vec::with_capacity(repo_rows.len());
    // Relative names of each category's repository directories.
    let mut repo_dirs: HashMap<i64, Vec<String>> = HashMap::new();
    for (prefix, arch, category_id, version, version_product, dir_name) in repo_rows {
        let cat = categories.get(&category_id).ok_or_else(|| {
            ExportError::Unrepresentable(format!(
                "repository {} ({arch}) refers to a missing category",
                prefix.as_deref().unwrap_or("(unmapped)")
            ))
        })?;
        let what = || {
            format!(
                "repository {} ({arch}) of category {:?}",
                prefix.as_deref().unwrap_or("(unmapped)"),
                cat.name
            )
        };
        if version_product.is_some_and(|p| p != cat.product_id) {
            return Err(ExportError::Unrepresentable(format!(
                "{}: its version {:?} belongs to another product than the category's",
                what(),
                version.as_deref().unwrap_or_default()
            )));
        }
        let dir = match &dir_name {
            Some(name) => Some(
                relative_to(&cat.topdir, name)
                    .ok_or_else(|| {
                        ExportError::Unrepresentable(format!(
                            "{}: its directory {name:?} is not below the category topdir {:?}",
                            what(),
                            cat.topdir
                        ))
                    })?
                    .to_string(),
            ),
            None => None,
        };
        let repomd = match &dir {
            Some(rel) => {
                repo_dirs.entry(category_id).or_default().push(rel.clone());
                let repodata = full_name(&cat.topdir, &repodata_of(rel));
                histories
                    .remove(&(repodata, "repomd.xml".to_string()))
                    .unwrap_or_default()
            }
            None => Vec::new(),
        };
        repositories.push(RepositoryOut {
            prefix,
            arch,
            category: cat.name.clone(),
            version,
            dir,
            repomd,
        });
    }
    repositories.sort_by(|a, b| {
        let key = |r: &RepositoryOut| {
            (
                r.prefix.is_none(),
                r.prefix.clone().unwrap_or_default(),
                r.arch.clone(),
                r.category.clone(),
                r.dir.clone(),
            )
        };
        key(a).cmp(&key(b))
    });

    // ---- the other files, in the category that serves their directory
    let mut files = Vec::new();
    let mut file_dirs: HashMap<i64, Vec<String>> = HashMap::new();
    for ((dir, name), history) in histories {
        let Some(&(category_id, _)) = serving.get(&dir) else {
            continue; // no category links the directory: not part of any inventory
        };
        let cat = &categories[&category_id];
        let rel = relative_to(&cat.topdir, &dir)
            .unwrap_or_default()
            .to_string();
        file_dirs.entry(category_id).or_default().push(rel.clone());
        files.push(FileOut {
            category: cat.name.clone(),
            dir: rel,
            name,
            history,
        });
    }
    files.sort_by(|a, b| {
        (a.category.as_bytes(), a.dir.as_bytes(), a.name.as_bytes()).cmp(&(
            b.category.as_bytes(),
            b.dir.as_bytes(),
            b.name.as_bytes(),
        ))
    });

    // ---- category objects, with the directories nothing else implies
    let mut category_out = Vec::with_capacity(categories.len());
    for (id, cat) in &categories {
        let mut implied: BTreeSet<String> = BTreeSet::new();
        let listed = repo_dirs
            .get(id)
            .into_iter()
            .flatten()
            .flat_map(|d| [d.clone(), repodata_of(d)])
            .chain(file_dirs.get(id).into_iter().flatten().cloned());
        for dir in listed {
            let mut end = dir.len();
            while end > 0 && implied.insert(dir[..end].to_string()) {
                end = dir[..end].rfind('/').unwrap_or(0);
            }
        }
        let all: BTreeSet<&str> = cat.dirs.values().map(String::as_str).collect();
        let directories = all
            .iter()
            .filter(|d| !d.is_empty() && !implied.contains(**d))
            .filter(|d| {
                // A leaf: nothing in the set starts with "d/".
                let below = format!("{d}/");
                all.range(below.as_str()..)
                    .next()
                    .is_none_or(|next| !next.starts_with(&below))
            })
            .map(|d| d.to_string())
            .collect();
        category_out.push(CategoryOut {
            name: cat.name.clone(),
            product: product_names
                .get(&cat.product_id)
                .cloned()
                .unwrap_or_default(),
            topdir: cat.topdir.clone(),
            publiclist: cat.publiclist,
            admin_only: cat.admin_only,
            repomap: cat.repomap.clone(),
            directories,
        });
    }
    sorted_by_name(&mut category_out, |c| &c.name);

    // ---- redirects, disabled prefixes, geography
    let redirect_rows: Vec<(String, String)> = with_tx!(tx, c => sqlx::query_as(
        "SELECT from_prefix, to_prefix FROM repository_redirect",
    )
    .fetch_all(&mut *c)
    .await?);
    let repo_redirects: BTreeMap<String, String> = redirect_rows.into_iter().collect();
    let disabled_rows: Vec<(String, Option<String>)> = with_tx!(tx, c => sqlx::query_as(
        "SELECT prefix, reason FROM disabled_repository",
    )
    .fetch_all(&mut *c)
    .await?);
    let mut disabled_repos: Vec<DisabledOut> = disabled_rows
        .into_iter()
        .map(|(prefix, reason)| DisabledOut { prefix, reason })
        .collect();
    sorted_by_name(&mut disabled_repos, |d| &d.prefix);
    let override_rows: Vec<(String, String)> = with_tx!(tx, c => sqlx::query_as(
        "SELECT country, continent FROM continent_override",
    )
    .fetch_all(&mut *c)
    .await?);
    let continent_overrides: BTreeMap<String, String> = override_rows.into_iter().collect();
    let netblock_rows: Vec<(String, String)> = with_tx!(tx, c => sqlx::query_as(
        "SELECT netblock, country FROM netblock_country",
    )
    .fetch_all(&mut *c)
    .await?);
    let netblock_countries: BTreeMap<String, String> = netblock_rows.into_iter().collect();

    let sites = read_sites(tx, &categories).await?;

    Ok(Document {
        format: FORMAT,
        format_version: FORMAT_VERSION,
        generator: format!("mirrorfleet {}", env!("CARGO_PKG_VERSION")),
        products,
        arches,
        categories: category_out,
        repositories,
        files,
        repo_redirects,
        disabled_repos,
        continent_overrides,
        netblock_countries,
        sites,
    })
}

/// Sites with their owners and hosts, and everything below each host.
async fn read_sites(
    tx: &mut Tx,
    categories: &HashMap<i64, CategoryRow>,
) -> Result<Vec<SiteOut>, ExportError> {
    type SiteRow = (
        i64,
        String,
        Option<String>,
        bool,
        bool,
        bool,
        Option<String>,
    );
    let site_rows: Vec<SiteRow> = with_tx!(tx, c => sqlx::query_as(
        "SELECT id, name, org_url, private, admin_active, user_active, comment FROM site",
    )
    .fetch_all(&mut *c)
    .await?);
    let owner_rows: Vec<(i64, String)> = with_tx!(tx, c => sqlx::query_as(
        "SELECT o.site_id, u.username FROM site_owner o JOIN users u ON u.id = o.user_id",
    )
    .fetch_all(&mut *c)
    .await?);
    let mut owners: HashMap<i64, Vec<String>> = HashMap::new();
    for (site_id, username) in owner_rows {
        owners.entry(site_id).or_default().push(username);
    }

    let mut hosts = read_hosts(tx).await?;
    let netblock_rows: Vec<(i64, String)> = with_tx!(tx, c => sqlx::query_as(
        "SELECT host_id, value FROM host_netblock",
    )
    .fetch_all(&mut *c)
    .await?);
    for (host_id, value) in netblock_rows {
        if let Some((_, h)) = hosts.get_mut(&host_id) {
            h.netblocks.push(value);
        }
    }
    let peer_rows: Vec<(i64, i64)> = with_tx!(tx, c => sqlx::query_as(
        "SELECT host_id, CAST(asn AS BIGINT) FROM host_peer_asn",
    )
    .fetch_all(&mut *c)
    .await?);
    for (host_id, asn) in peer_rows {
        if let Some((_, h)) = hosts.get_mut(&host_id) {
            h.peer_asns.push(asn);
        }
    }
    let allowed_rows: Vec<(i64, String)> = with_tx!(tx, c => sqlx::query_as(
        "SELECT host_id, country FROM host_allowed_country",
    )
    .fetch_all(&mut *c)
    .await?);
    for (host_id, cc) in allowed_rows {
        if let Some((_, h)) = hosts.get_mut(&host_id) {
            h.allowed_countries.push(cc);
        }
    }

    // ---- host categories: URLs, then up-to-date directories
    let hc_rows: Vec<(i64, i64, i64, bool)> = with_tx!(tx, c => sqlx::query_as(
        "SELECT id, host_id, category_id, always_up2date FROM host_category",
    )
    .fetch_all(&mut *c)
    .await?);
    // host category id → (host id, category id, output)
    let mut hcs: HashMap<i64, (i64, i64, HostCategoryOut)> = hc_rows
        .into_iter()
        .map(|(id, host_id, category_id, always_up2date)| {
            let out = HostCategoryOut {
                always_up2date,
                ..HostCategoryOut::default()
            };
            (id, (host_id, category_id, out))
        })
        .collect();
    type UrlRow = (i64, String, bool, Option<bool>, Option<bool>);
    let url_rows: Vec<UrlRow> = with_tx!(tx, c => sqlx::query_as(
        "SELECT host_category_id, url, private, ipv4, ipv6 FROM host_category_url \
         ORDER BY host_category_id, position, id",
    )
    .fetch_all(&mut *c)
    .await?);
    for (hc_id, url, private, ipv4, ipv6) in url_rows {
        let Some((_, _, out)) = hcs.get_mut(&hc_id) else {
            continue;
        };
        let entry = if ipv4.is_none() && ipv6.is_none() {
            NameOr::Name(url)
        } else {
            NameOr::Full(UrlOut { url, ipv4, ipv6 })
        };
        if private {
            out.private_urls.push(entry);
        } else {
            out.urls.push(entry);
        }
    }
    let mut up: HashMap<i64, Vec<i64>> = HashMap::new();
    crate::store::for_each_up2date_dir(tx, |hc_id, dir_id| {
        up.entry(hc_id).or_default().push(dir_id)
    })
    .await?;
    // One tree per category, and directory id → index in it.
    let mut trees: HashMap<i64, (DirTree, HashMap<i64, usize>)> = HashMap::new();
    for (hc_id, (host_id, category_id, mut out)) in hcs {
        let Some(cat) = categories.get(&category_id) else {
            continue;
        };
        if !out.always_up2date
            && let Some(dir_ids) = up.get(&hc_id)
        {
            let (tree, index) = trees.entry(category_id).or_insert_with(|| {
                let tree = DirTree::new(cat.dirs.values().cloned().collect());
                let by_name: HashMap<&str, usize> = tree
                    .names
                    .iter()
                    .enumerate()
                    .map(|(i, n)| (n.as_str(), i))
                    .collect();
                let index = cat
                    .dirs
                    .iter()
                    .map(|(id, rel)| (*id, by_name[rel.as_str()]))
                    .collect();
                (tree, index)
            });
            let mut flags = vec![false; tree.names.len()];
            for dir_id in dir_ids {
                if let Some(&i) = index.get(dir_id) {
                    flags[i] = true;
                }
            }
            out.up2date = tree.compress(&flags);
        }
        if let Some((_, h)) = hosts.get_mut(&host_id) {
            h.categories.insert(cat.name.clone(), out);
        }
    }

    // ---- assemble, sorted by name
    let mut by_site: HashMap<i64, Vec<HostOut>> = HashMap::new();
    for (_, (site_id, mut h)) in hosts {
        sorted_by_name(&mut h.netblocks, |n| n);
        h.peer_asns.sort_unstable();
        sorted_by_name(&mut h.allowed_countries, |c| c);
        by_site.entry(site_id).or_default().push(h);
    }
    let mut sites: Vec<SiteOut> = site_rows
        .into_iter()
        .map(
            |(id, name, org_url, private, admin_active, user_active, comment)| {
                let mut owners = owners.remove(&id).unwrap_or_default();
                sorted_by_name(&mut owners, |o| o);
                let mut hosts = by_site.remove(&id).unwrap_or_default();
                sorted_by_name(&mut hosts, |h| &h.name);
                SiteOut {
                    name,
                    org_url,
                    private,
                    admin_active,
                    user_active,
                    comment,
                    owners,
                    hosts,
                }
            },
        )
        .collect();
    sorted_by_name(&mut sites, |s| &s.name);
    Ok(sites)
}

/// host id → (site id, host without its lists and categories).
async fn read_hosts(tx: &mut Tx) -> Result<HashMap<i64, (i64, HostOut)>, ExportError> {
    const SQL: &str = "SELECT id, site_id, name, country, CAST(bandwidth AS BIGINT), \
        CAST(max_connections AS BIGINT), private, CAST(asn AS BIGINT), asn_clients, \
        admin_active, user_active, auto_disabled_at, disable_reason, comment, contact_email, \
        latitude, longitude FROM host";
    let rows: Vec<(i64, i64, HostOut, Option<OffsetDateTime>)> = with_tx!(tx, c => {
        let rows = sqlx::query(SQL).fetch_all(&mut *c).await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get(0)?,
                    r.try_get(1)?,
                    HostOut {
                        name: r.try_get(2)?,
                        country: r.try_get(3)?,
                        bandwidth: r.try_get(4)?,
                        max_connections: r.try_get(5)?,
                        private: r.try_get(6)?,
                        asn: r.try_get(7)?,
                        asn_clients: r.try_get(8)?,
                        admin_active: r.try_get(9)?,
                        user_active: r.try_get(10)?,
                        auto_disabled_at: None,
                        disable_reason: r.try_get(12)?,
                        comment: r.try_get(13)?,
                        contact_email: r.try_get(14)?,
                        latitude: r.try_get(15)?,
                        longitude: r.try_get(16)?,
                        netblocks: Vec::new(),
                        peer_asns: Vec::new(),
                        allowed_countries: Vec::new(),
                        categories: BTreeMap::new(),
                    },
                    r.try_get(11)?,
                ))
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?
    });
    let mut hosts = HashMap::with_capacity(rows.len());
    for (id, site_id, mut host, disabled_at) in rows {
        if let Some(t) = disabled_at {
            host.auto_disabled_at = Some(t.to_offset(UtcOffset::UTC).format(&Rfc3339).map_err(
                |source| ExportError::Time {
                    what: format!("auto_disabled_at of host {:?}", host.name),
                    source,
                },
            )?);
        }
        hosts.insert(id, (site_id, host));
    }
    Ok(hosts)
}
