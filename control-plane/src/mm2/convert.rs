//! MirrorManager2's rows → an [`Inventory`] (data-model.md §11) plus what the inventory cannot
//! carry ([`Extras`]: kept ids, site passwords, crawl times, directory metadata, names of
//! netblocks and peer ASNs, users, statistics), applying the mapping of control-plane.md §8.2
//! and the fixes of data-model.md §7. Every row that is dropped or changed is noted with the
//! reason ([`Notes`]). Pure: no database, so each rule is a unit test.
//!
//! The inventory is the import's single path into the database: the import validates it with
//! the inventory's own rules (data-model.md §11.3) and reconciles the database to it exactly as
//! `import inventory` does. The conversion therefore brings every value into a form those rules
//! accept, noting what it changed; anything it missed is still refused by the validation.
//!
//! Code map: this file holds the types, the entry point and the content side (products to
//! redirects and geography); `mirrors` the sites, hosts and everything below them, users and
//! statistics.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use mirrorfleet_snapshot::countries;
use mirrorfleet_snapshot::net::{Prefix, PrefixError};
use time::{Date, OffsetDateTime};

use super::notes::Notes;
use super::source::Source;
use crate::inventory::model::folded;
use crate::inventory::rules::{self, NameRule, check_relative};
use crate::inventory::tree::{category_directories, repodata_of};
use crate::inventory::{
    Arch, Category, DisabledRepo, FileEntry, FileVersion, Inventory, Product, Repository, Version,
};
use crate::store::import::SEED_ARCHES;

/// The reason a disabled MirrorManager2 repository gives its prefix (control-plane.md §8.2).
pub const DISABLED_REASON: &str = "imported from MirrorManager2";

/// The stand-in country of a host whose MirrorManager2 country is invalid, with `--lenient`:
/// the host is imported disabled (`admin_active = false`, reason "invalid country X"), so the
/// value is in no snapshot; the schema needs a valid code.
pub const LENIENT_COUNTRY: &str = "AQ";

/// What the conversion needs besides the source.
#[derive(Clone, Debug)]
pub struct ConvertOptions {
    /// `--host-country-as-allowed`.
    pub host_country_as_allowed: bool,
    /// `--lenient`: an invalid host country disables the host instead of stopping the import.
    pub lenient: bool,
    /// `--admin-group`: members of these MirrorManager2 groups become administrators.
    pub admin_groups: Vec<String>,
    /// `auto_disabled_at` of hosts already in the database (by id): kept when the source says
    /// "auto-disabled" without saying when.
    pub existing_auto_disabled: HashMap<i64, OffsetDateTime>,
    /// The import's clock, for an auto-disable the source gives no time for.
    pub now: OffsetDateTime,
}

/// A site whose MirrorManager2 id is kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SitePin {
    pub id: i64,
    /// The name as imported (after de-duplication).
    pub name: String,
}

/// A host whose MirrorManager2 id is kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostPin {
    pub id: i64,
    pub site_id: i64,
    pub name: String,
    pub country: String,
}

/// Site data the inventory does not carry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SiteExtra {
    /// The MirrorManager2 password, in plaintext: hashed (argon2id) before it is stored.
    pub password: Option<String>,
    pub created_at: Option<OffsetDateTime>,
    /// A username (lower-cased), when such a user is imported.
    pub created_by: Option<String>,
}

/// Host data the inventory does not carry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostExtra {
    pub last_checked_in: Option<OffsetDateTime>,
    pub last_crawled: Option<OffsetDateTime>,
    pub last_crawl_duration_ms: Option<i64>,
    pub crawl_failures: i64,
}

/// Directory data the inventory does not carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectoryExtra {
    pub readable: bool,
    pub ctime: i64,
    /// `[{name, size, mtime}]`, as `directory.sample_files` holds it.
    pub sample_files: serde_json::Value,
}

/// A user of `mm_user`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserExtra {
    pub username: String,
    pub email: Option<String>,
    pub display_name: Option<String>,
    /// Member of an `--admin-group`.
    pub admin: bool,
}

/// A repository by natural key, for statistics: (prefix, arch) when mapped, else (category,
/// directory relative to its topdir).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RepoKey {
    Mapped {
        prefix: String,
        arch: String,
    },
    Unmapped {
        category: String,
        dir: Option<String>,
    },
}

/// One `propagation_stat` row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PropagationRow {
    pub repository: RepoKey,
    pub run_at: OffsetDateTime,
    /// same_day, one_day, two_day, older, no_info.
    pub counts: [i64; 5],
}

/// What the inventory cannot carry.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Extras {
    pub sites: BTreeMap<i64, SiteExtra>,
    pub hosts: BTreeMap<i64, HostExtra>,
    /// By directory name.
    pub directories: BTreeMap<String, DirectoryExtra>,
    /// (host id, netblock value) → name.
    pub netblock_names: BTreeMap<(i64, String), String>,
    /// (host id, ASN) → name.
    pub peer_asn_names: BTreeMap<(i64, u32), String>,
    /// `None` when the source has no user table.
    pub users: Option<Vec<UserExtra>>,
    /// (day, dimension, key) → requests; `None`: statistics are not imported.
    pub access_stats: Option<BTreeMap<(Date, &'static str, String), i64>>,
    /// `None`: statistics are not imported.
    pub propagation_stats: Option<Vec<PropagationRow>>,
}

/// The result of a conversion.
#[derive(Clone, Debug, Default)]
pub struct Converted {
    pub inventory: Inventory,
    /// In site id order.
    pub sites: Vec<SitePin>,
    /// In host id order.
    pub hosts: Vec<HostPin>,
    pub extras: Extras,
    pub notes: Notes,
    /// Problems that stop the import (exit 2), e.g. an invalid host country without
    /// `--lenient`.
    pub errors: Vec<String>,
    /// `embargoed_country` codes: a suggestion for `stats.hidden_countries`.
    pub embargoed: Vec<String>,
}

/// The repository-mapping rule set of a MirrorManager2 category, from its name
/// (control-plane.md §8.2).
pub fn repomap_for(category: &str) -> Option<String> {
    let name = category.trim();
    let fixed = match name {
        "Fedora Linux" | "Fedora Secondary Arches" | "Fedora Archive" => Some("fedora"),
        "Fedora EPEL" => Some("epel"),
        "Fedora Codecs" => Some("fedora-codecs"),
        "CentOS" => Some("centos"),
        "RHEL" => Some("rhel"),
        _ => None,
    };
    if let Some(f) = fixed {
        return Some(f.to_string());
    }
    // "RPMFUSION free EL" → rpmfusion-free-el, "RPMFUSION nonfree Fedora" → …
    if name.to_ascii_lowercase().starts_with("rpmfusion") {
        let slug: Vec<String> = name
            .split_whitespace()
            .map(|w| w.to_ascii_lowercase())
            .collect();
        return Some(slug.join("-"));
    }
    None
}

/// Converts `src` (already read in one transaction) with `opts`.
pub fn convert(src: &Source, opts: &ConvertOptions) -> Converted {
    let mut c = Converter {
        src,
        opts,
        out: Converted::default(),
        dir_names: HashMap::new(),
        products: HashMap::new(),
        versions: HashMap::new(),
        arches: HashMap::new(),
        categories: HashMap::new(),
        linked: HashMap::new(),
        repo_keys: HashMap::new(),
    };
    c.count_reads();
    c.directories();
    c.products_and_versions();
    c.arches();
    c.categories();
    c.repositories_and_files();
    c.unlinked_directories();
    c.redirects();
    c.geography();
    c.users();
    c.sites_and_hosts();
    c.statistics();
    c.out
}

/// The conversion in progress: the output and the look-ups from MirrorManager2 ids.
pub(super) struct Converter<'s> {
    pub(super) src: &'s Source,
    pub(super) opts: &'s ConvertOptions,
    pub(super) out: Converted,
    /// Directory id → name (slashes stripped).
    pub(super) dir_names: HashMap<i64, String>,
    /// Product id → name.
    products: HashMap<i64, String>,
    /// Version id → (product id, name).
    versions: HashMap<i64, (i64, String)>,
    /// Arch id → name.
    arches: HashMap<i64, String>,
    /// Category id → (name, topdir).
    pub(super) categories: HashMap<i64, (String, String)>,
    /// Category id → the directories linked to it (relative to its topdir).
    pub(super) linked: HashMap<i64, BTreeSet<String>>,
    /// Repository id → natural key.
    pub(super) repo_keys: HashMap<i64, RepoKey>,
}

impl Converter<'_> {
    fn count_reads(&mut self) {
        let s = self.src;
        let n = &mut self.out.notes;
        n.read("product", s.products.len());
        n.read("version", s.versions.len());
        n.read("arch", s.arches.len());
        n.read("category", s.categories.len());
        n.read("directory", s.directories.len());
        n.read("category_directory", s.category_directories.len());
        n.read("repository", s.repositories.len());
        n.read("file_detail", s.file_details.len());
        n.read("repository_redirect", s.redirects.len());
        n.read("site", s.sites.len());
        n.read("site_admin", s.site_admins.len());
        n.read("host", s.hosts.len());
        n.read("host_category", s.host_categories.len());
        n.read("host_category_dir", s.host_category_dirs.len());
        n.read("host_category_url", s.host_category_urls.len());
        n.read("host_netblock", s.host_netblocks.len());
        n.read("host_peer_asn", s.host_peer_asns.len());
        n.read("host_country_allowed", s.host_countries_allowed.len());
        if let Some(list) = &s.host_countries {
            n.read("host_country", list.len());
        }
        if let Some(list) = &s.countries {
            n.read("country", list.len());
        }
        n.read("country_continent_redirect", s.continent_redirects.len());
        n.read("netblock_country", s.netblock_countries.len());
        if let Some(list) = &s.embargoed {
            n.read("embargoed_country", list.len());
        }
        if let Some(list) = &s.access_stats {
            n.read("access_stat", list.len());
        }
        if let Some(list) = &s.propagation_stats {
            n.read("propagation_stat", list.len());
        }
        if let Some(list) = &s.users {
            n.read("mm_user", list.len());
        }
    }

    /// Directory names without `/` at either end; sample files from the `files` JSON.
    fn directories(&mut self) {
        let mut seen: HashMap<String, i64> = HashMap::new();
        for d in &self.src.directories {
            let name = d.name.trim_matches('/').to_string();
            if name != d.name {
                self.out.notes.change(
                    "directory",
                    "directory.slashes",
                    "\"/\" stripped at both ends of the name",
                    format!("directory {} {:?} → {name:?}", d.id, d.name),
                );
            }
            let valid = !name.is_empty()
                && name.chars().count() <= rules::MAX_PATH
                && check_relative(&name).is_ok()
                && !name.chars().any(char::is_control);
            if !valid {
                self.out.notes.drop(
                    "directory",
                    "directory.invalid_name",
                    "not a valid path (empty, \"//\", \".\" or \"..\" components, control \
                     characters, over 1024 characters)",
                    format!("directory {} {:?}", d.id, d.name),
                );
                continue;
            }
            if let Some(first) = seen.get(&name) {
                self.out.notes.drop(
                    "directory",
                    "directory.duplicate",
                    "the same name as another directory once slashes are stripped; merged \
                     into it",
                    format!("directory {} {:?} → directory {first}", d.id, d.name),
                );
                self.dir_names.insert(d.id, name);
                continue;
            }
            seen.insert(name.clone(), d.id);
            let sample_files = self.sample_files(d.id, d.files.as_deref());
            self.out.extras.directories.insert(
                name.clone(),
                DirectoryExtra {
                    readable: d.readable,
                    ctime: d.ctime.unwrap_or(0).max(0),
                    sample_files,
                },
            );
            self.dir_names.insert(d.id, name);
        }
    }

    /// `files` JSON (`[{name, size, timestamp}]`) → `[{name, size, mtime}]`; anything else
    /// (a legacy pickle) is skipped and never parsed: the next scan refills it.
    fn sample_files(&mut self, id: i64, files: Option<&[u8]>) -> serde_json::Value {
        let Some(bytes) = files else {
            return serde_json::json!([]);
        };
        let parsed: Option<Vec<serde_json::Value>> = serde_json::from_slice(bytes).ok();
        let entries = parsed.and_then(|list| {
            list.iter()
                .map(|e| {
                    Some(serde_json::json!({
                        "name": e.get("name")?.as_str()?,
                        "size": e.get("size")?.as_i64()?,
                        "mtime": e.get("timestamp")?.as_i64()?,
                    }))
                })
                .collect::<Option<Vec<_>>>()
        });
        match entries {
            Some(list) => serde_json::Value::Array(list),
            None => {
                self.out.notes.change(
                    "directory",
                    "directory.files_not_json",
                    "\"files\" is not the JSON list (a legacy pickle): left empty, never \
                     unpickled; the next scan refills it",
                    format!("directory {id}"),
                );
                serde_json::json!([])
            }
        }
    }

    fn products_and_versions(&mut self) {
        let mut names = BTreeSet::new();
        for p in &self.src.products {
            let name = p.name.trim().to_string();
            if !name_ok(&name, rules::PRODUCT_NAME) || !names.insert(folded(&name)) {
                self.out.notes.drop(
                    "product",
                    "product.invalid_name",
                    "empty, too long (over 64 characters) or a duplicate name",
                    format!("product {} {:?}", p.id, p.name),
                );
                continue;
            }
            self.products.insert(p.id, name.clone());
            self.out.inventory.products.push(Product {
                name,
                publiclist: p.publiclist,
                versions: Vec::new(),
            });
        }
        for v in &self.src.versions {
            let row = format!("version {} {:?}", v.id, v.name.as_deref().unwrap_or(""));
            let Some(product) = v.product_id.and_then(|id| self.products.get(&id)) else {
                self.out.notes.drop(
                    "version",
                    "version.no_product",
                    "no product (NULL or not imported)",
                    row,
                );
                continue;
            };
            let name = v.name.as_deref().unwrap_or("").trim().to_string();
            if !name_ok(&name, rules::VERSION_NAME) {
                self.out.notes.drop(
                    "version",
                    "version.invalid_name",
                    "the name is NULL or not 1–32 of letters, digits, \".\", \"_\", \"-\"",
                    row,
                );
                continue;
            }
            let key = folded(product);
            let Some(p) = self
                .out
                .inventory
                .products
                .iter_mut()
                .find(|p| folded(&p.name) == key)
            else {
                continue;
            };
            if p.versions.iter().any(|x| x.name == name) {
                self.out.notes.drop(
                    "version",
                    "version.duplicate",
                    "the same name twice in one product",
                    row,
                );
                continue;
            }
            let display_name = v
                .display_name
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty() && s.chars().count() <= 64)
                .map(str::to_string);
            p.versions.push(Version {
                name: name.clone(),
                display_name,
                display: v.display,
                is_test: v.is_test,
                sort_order: i32::try_from(v.sortorder).unwrap_or(0),
            });
            self.versions
                .insert(v.id, (v.product_id.unwrap_or(0), name));
        }
    }

    fn arches(&mut self) {
        for a in &self.src.arches {
            let name = a.name.trim().to_ascii_lowercase();
            if name != a.name {
                self.out.notes.change(
                    "arch",
                    "arch.lower_cased",
                    "arch names are lower case",
                    format!("arch {} {:?} → {name:?}", a.id, a.name),
                );
            }
            if !name_ok(&name, rules::ARCH_NAME) || self.out.inventory.arch(&name).is_some() {
                self.out.notes.drop(
                    "arch",
                    "arch.invalid_name",
                    "not 1–32 of lower-case letters, digits and \"_\", or a duplicate",
                    format!("arch {} {:?}", a.id, a.name),
                );
                continue;
            }
            self.arches.insert(a.id, name.clone());
            self.out.inventory.arches.push(Arch {
                name,
                publiclist: a.publiclist,
                primary: a.primary_arch,
            });
        }
        // The arches `init` seeds stay (control-plane-decisions.md D13: the scanner maps only
        // arches it knows), with the inventory's defaults.
        for seed in SEED_ARCHES {
            if self.out.inventory.arch(seed).is_none() {
                self.out.inventory.arches.push(Arch {
                    name: seed.to_string(),
                    publiclist: true,
                    primary: true,
                });
            }
        }
    }

    /// Notes the directories no imported category holds (the inventory creates a category's
    /// directories; others are not exported by MirrorManager2 either).
    fn unlinked_directories(&mut self) {
        let mut held = BTreeSet::new();
        for cat in &self.out.inventory.categories {
            for rel in category_directories(&self.out.inventory, cat) {
                held.insert(crate::inventory::model::full_name(&cat.topdir, &rel));
            }
        }
        let mut ids: Vec<(&i64, &String)> = self.dir_names.iter().collect();
        ids.sort();
        for (id, name) in ids {
            if !held.contains(name) {
                self.out.notes.drop(
                    "directory",
                    "directory.no_category",
                    "in no imported category: not imported",
                    format!("directory {id} {name:?}"),
                );
            }
        }
    }

    /// Categories with their topdir's name and the directories linked to them; links outside
    /// the topdir are dropped.
    fn categories(&mut self) {
        let mut topdirs: HashMap<String, i64> = HashMap::new();
        let mut names = BTreeSet::new();
        for cat in &self.src.categories {
            let row = format!("category {} {:?}", cat.id, cat.name);
            let name = cat.name.trim().to_string();
            let Some(product) = cat
                .product_id
                .and_then(|id| self.products.get(&id))
                .cloned()
            else {
                self.out.notes.drop(
                    "category",
                    "category.no_product",
                    "no product (NULL or not imported)",
                    row,
                );
                continue;
            };
            let Some(topdir) = cat
                .topdir_id
                .and_then(|id| self.dir_names.get(&id))
                .cloned()
            else {
                self.out.notes.drop(
                    "category",
                    "category.no_topdir",
                    "no topdir directory (NULL or not imported)",
                    row,
                );
                continue;
            };
            if !name_ok(&name, rules::CATEGORY_NAME) || !names.insert(folded(&name)) {
                self.out.notes.drop(
                    "category",
                    "category.invalid_name",
                    "empty, too long (over 64 characters) or a duplicate name",
                    row,
                );
                continue;
            }
            if let Some(other) = topdirs.get(&topdir) {
                self.out.notes.drop(
                    "category",
                    "category.duplicate_topdir",
                    "its topdir is already the topdir of another category",
                    format!("{row}: topdir {topdir:?} of category {other}"),
                );
                continue;
            }
            topdirs.insert(topdir.clone(), cat.id);
            self.categories
                .insert(cat.id, (name.clone(), topdir.clone()));
            self.linked.insert(cat.id, BTreeSet::new());
            self.out.inventory.categories.push(Category {
                name: name.clone(),
                product,
                topdir,
                publiclist: cat.publiclist,
                admin_only: cat.admin_only,
                repomap: repomap_for(&name),
                directories: Vec::new(),
            });
        }
        for &(category_id, directory_id) in &self.src.category_directories {
            let row = format!("category {category_id} – directory {directory_id}");
            let (Some((_, topdir)), Some(dir)) = (
                self.categories.get(&category_id),
                self.dir_names.get(&directory_id),
            ) else {
                self.out.notes.drop(
                    "category_directory",
                    "category_directory.dangling",
                    "its category or directory is not imported",
                    row,
                );
                continue;
            };
            match relative_to(topdir, dir) {
                Some(rel) => {
                    let rel = rel.to_string();
                    if let Some(set) = self.linked.get_mut(&category_id) {
                        set.insert(rel);
                    }
                }
                None => self.out.notes.drop(
                    "category_directory",
                    "category_directory.outside_topdir",
                    "the directory is not under the category's topdir",
                    format!("{row}: {dir:?} is not under {topdir:?}"),
                ),
            }
        }
        for cat in &mut self.out.inventory.categories {
            let id = self
                .categories
                .iter()
                .find(|(_, (n, _))| *n == cat.name)
                .map(|(id, _)| *id);
            if let Some(set) = id.and_then(|id| self.linked.get(&id)) {
                cat.directories = set.iter().filter(|d| !d.is_empty()).cloned().collect();
            }
        }
    }

    /// The category a directory's file details belong to: among the categories it is linked
    /// to, else among those whose topdir contains it, the one with the longest topdir
    /// (data-model.md §7.14).
    fn category_of(&self, dir: &str) -> Option<(String, String)> {
        let mut best: Option<&(String, String)> = None;
        let mut best_linked = false;
        for (id, cat) in &self.categories {
            let Some(rel) = relative_to(&cat.1, dir) else {
                continue;
            };
            let linked = self.linked.get(id).is_some_and(|set| set.contains(rel));
            let better = match best {
                None => true,
                Some(b) => (linked, cat.1.len()) > (best_linked, b.1.len()),
            };
            if better {
                best = Some(cat);
                best_linked = linked;
            }
        }
        best.map(|(name, topdir)| (name.clone(), topdir.clone()))
    }

    /// Repositories (disabled prefixes collected) and file details: repomd.xml histories of
    /// repository directories go to their repository, the other files to `files`.
    fn repositories_and_files(&mut self) {
        let mut histories = self.file_histories();
        let mut disabled = BTreeSet::new();
        let mut mapped: HashMap<(String, String), i64> = HashMap::new();
        let mut unmapped: HashMap<(String, Option<String>), i64> = HashMap::new();
        let mut dirs_used: HashMap<String, i64> = HashMap::new();
        for r in &self.src.repositories {
            let row = format!(
                "repository {} {}",
                r.id,
                r.prefix.as_deref().unwrap_or("(no prefix)")
            );
            let Some((category, topdir)) = r
                .category_id
                .and_then(|id| self.categories.get(&id))
                .cloned()
            else {
                self.out.notes.drop(
                    "repository",
                    "repository.no_category",
                    "no category (NULL or not imported)",
                    row,
                );
                continue;
            };
            let Some(arch) = r.arch_id.and_then(|id| self.arches.get(&id)).cloned() else {
                self.out.notes.drop(
                    "repository",
                    "repository.no_arch",
                    "no arch (NULL or not imported)",
                    row,
                );
                continue;
            };
            let product = self
                .out
                .inventory
                .category(&category)
                .map(|c| c.product.clone())
                .unwrap_or_default();
            let version = match r.version_id.map(|id| self.versions.get(&id)) {
                None => None,
                Some(Some((product_id, name)))
                    if self.products.get(product_id).map(|p| folded(p))
                        == Some(folded(&product)) =>
                {
                    Some(name.clone())
                }
                Some(_) => {
                    self.out.notes.change(
                        "repository",
                        "repository.version_dropped",
                        "its version is not imported or belongs to another product than its \
                         category's: left without a version",
                        row.clone(),
                    );
                    None
                }
            };
            let dir = match r.directory_id {
                None => None,
                Some(id) => match self.dir_names.get(&id) {
                    None => {
                        self.out.notes.change(
                            "repository",
                            "repository.orphaned",
                            "its directory is not imported: kept as orphaned",
                            row.clone(),
                        );
                        None
                    }
                    Some(name) => match relative_to(&topdir, name) {
                        Some(rel) => Some((rel.to_string(), name.clone())),
                        None => {
                            self.out.notes.drop(
                                "repository",
                                "repository.outside_topdir",
                                "its directory is not under its category's topdir",
                                format!("{row}: {name:?} is not under {topdir:?}"),
                            );
                            continue;
                        }
                    },
                },
            };
            if let Some((_, name)) = &dir
                && let Some(other) = dirs_used.get(name)
            {
                self.out.notes.drop(
                    "repository",
                    "repository.directory_taken",
                    "its directory already belongs to another repository",
                    format!("{row}: {name:?} is repository {other}'s"),
                );
                continue;
            }
            let prefix = match r.prefix.as_deref().map(str::trim) {
                Some(p) if name_ok(p, rules::PREFIX) => Some(p.to_string()),
                Some(p) => {
                    self.out.notes.change(
                        "repository",
                        "repository.invalid_prefix",
                        "the prefix is not 1–100 of letters, digits, \".\", \"_\", \"-\": \
                         imported unmapped",
                        format!("{row}: {p:?}"),
                    );
                    None
                }
                None => None,
            };
            let rel = dir.as_ref().map(|(rel, _)| rel.clone());
            let key = match &prefix {
                Some(p) => {
                    if let Some(other) = mapped.insert((p.clone(), arch.clone()), r.id) {
                        self.out.notes.drop(
                            "repository",
                            "repository.duplicate",
                            "the same prefix and arch as another repository",
                            format!("{row}: as repository {other}"),
                        );
                        continue;
                    }
                    RepoKey::Mapped {
                        prefix: p.clone(),
                        arch: arch.clone(),
                    }
                }
                None => {
                    if let Some(other) = unmapped.insert((category.clone(), rel.clone()), r.id) {
                        self.out.notes.drop(
                            "repository",
                            "repository.duplicate",
                            "unmapped, with the same category and directory as another",
                            format!("{row}: as repository {other}"),
                        );
                        continue;
                    }
                    RepoKey::Unmapped {
                        category: category.clone(),
                        dir: rel.clone(),
                    }
                }
            };
            if r.disabled
                && let Some(p) = &prefix
            {
                disabled.insert(p.clone());
            }
            let repomd = match &dir {
                Some((_, name)) => histories
                    .remove(&(repodata_of(name), "repomd.xml".to_string()))
                    .unwrap_or_default(),
                None => Vec::new(),
            };
            if let Some((_, name)) = &dir {
                dirs_used.insert(name.clone(), r.id);
            }
            self.repo_keys.insert(r.id, key);
            self.out.inventory.repositories.push(Repository {
                prefix,
                arch,
                category,
                version,
                dir: rel,
                repomd,
            });
        }
        for prefix in disabled {
            self.out.inventory.disabled_repos.push(DisabledRepo {
                prefix,
                reason: Some(DISABLED_REASON.to_string()),
            });
        }
        for ((dir, name), history) in histories {
            match self.category_of(&dir) {
                Some((category, topdir)) => self.out.inventory.files.push(FileEntry {
                    category,
                    dir: relative_to(&topdir, &dir).unwrap_or_default().to_string(),
                    name,
                    history,
                }),
                None => {
                    for _ in &history {
                        self.out.notes.drop(
                            "file_detail",
                            "file_detail.no_category",
                            "its directory belongs to no imported category",
                            format!("{dir}/{name}"),
                        );
                    }
                }
            }
        }
    }

    /// File details by (directory name, file name), digests checked, NULLs replaced,
    /// duplicates merged; in id order.
    fn file_histories(&mut self) -> BTreeMap<(String, String), Vec<FileVersion>> {
        let mut out: BTreeMap<(String, String), Vec<FileVersion>> = BTreeMap::new();
        for f in &self.src.file_details {
            let row = format!("file_detail {} {:?}", f.id, f.filename);
            let Some(dir) = self.dir_names.get(&f.directory_id).cloned() else {
                self.out.notes.drop(
                    "file_detail",
                    "file_detail.no_directory",
                    "its directory is not imported",
                    row,
                );
                continue;
            };
            let name = f.filename.clone();
            if name.is_empty()
                || name.contains('/')
                || name == "."
                || name == ".."
                || name.chars().count() > 255
                || name.chars().any(char::is_control)
            {
                self.out.notes.drop(
                    "file_detail",
                    "file_detail.invalid_name",
                    "not a file name (empty, \"/\", \".\", \"..\", over 255 characters)",
                    row,
                );
                continue;
            }
            let mut v = FileVersion::default();
            for (field, value, digits) in [
                ("md5", &f.md5, 32),
                ("sha1", &f.sha1, 40),
                ("sha256", &f.sha256, 64),
                ("sha512", &f.sha512, 128),
            ] {
                let Some(text) = value.as_deref().map(str::trim).filter(|s| !s.is_empty()) else {
                    continue;
                };
                let lower = text.to_ascii_lowercase();
                if lower.len() != digits || !lower.bytes().all(|b| b.is_ascii_hexdigit()) {
                    self.out.notes.change(
                        "file_detail",
                        "file_detail.invalid_digest",
                        "a digest that is not hexadecimal of the right length is dropped",
                        format!("{row}: {field}"),
                    );
                    continue;
                }
                if lower != text {
                    self.out.notes.change(
                        "file_detail",
                        "file_detail.digest_lower_cased",
                        "digests are lower-cased",
                        format!("{row}: {field}"),
                    );
                }
                let slot = match field {
                    "md5" => &mut v.md5,
                    "sha1" => &mut v.sha1,
                    "sha256" => &mut v.sha256,
                    _ => &mut v.sha512,
                };
                *slot = Some(lower);
            }
            if v.md5.is_none() && v.sha1.is_none() && v.sha256.is_none() && v.sha512.is_none() {
                self.out.notes.drop(
                    "file_detail",
                    "file_detail.no_digest",
                    "no valid digest left",
                    row,
                );
                continue;
            }
            v.timestamp = match f.timestamp {
                Some(t) if t >= 0 => t,
                other => {
                    self.out.notes.change(
                        "file_detail",
                        "file_detail.timestamp_zero",
                        "a NULL or negative timestamp becomes 0 (unknown, sorts last)",
                        format!("{row}: {other:?}"),
                    );
                    0
                }
            };
            v.size = match f.size {
                Some(s) if s >= 0 => s as u64,
                other => {
                    self.out.notes.change(
                        "file_detail",
                        "file_detail.size_zero",
                        "a NULL or negative size becomes 0 (unknown)",
                        format!("{row}: {other:?}"),
                    );
                    0
                }
            };
            let history = out.entry((dir, name)).or_default();
            if history.contains(&v) {
                self.out.notes.drop(
                    "file_detail",
                    "file_detail.duplicate",
                    "the same version (time, size, digests) twice: merged",
                    row,
                );
                continue;
            }
            history.push(v);
        }
        out
    }

    /// Redirects: NULL and self targets skipped, chains flattened to their final target,
    /// cycles dropped.
    fn redirects(&mut self) {
        let mut map: BTreeMap<String, String> = BTreeMap::new();
        for r in &self.src.redirects {
            let row = format!("repository_redirect {} {:?}", r.id, r.from_repo);
            let from = r.from_repo.trim().to_string();
            let Some(to) = r
                .to_repo
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
            else {
                self.out.notes.drop(
                    "repository_redirect",
                    "repository_redirect.no_target",
                    "NULL target",
                    row,
                );
                continue;
            };
            if !name_ok(&from, rules::PREFIX) || !name_ok(to, rules::PREFIX) || from == to {
                self.out.notes.drop(
                    "repository_redirect",
                    "repository_redirect.invalid",
                    "a prefix that is not 1–100 of letters, digits, \".\", \"_\", \"-\", or a \
                     redirect to itself",
                    format!("{row} → {to:?}"),
                );
                continue;
            }
            map.insert(from, to.to_string());
        }
        for (from, to) in &map {
            let mut target = to.clone();
            let mut seen = BTreeSet::from([from.clone()]);
            let mut cycle = false;
            while let Some(next) = map.get(&target) {
                if !seen.insert(target.clone()) {
                    cycle = true;
                    break;
                }
                target = next.clone();
            }
            if cycle || target == *from {
                self.out.notes.drop(
                    "repository_redirect",
                    "repository_redirect.cycle",
                    "part of a cycle of redirects",
                    format!("{from} → {to}"),
                );
                continue;
            }
            if target != *to {
                self.out.notes.change(
                    "repository_redirect",
                    "repository_redirect.flattened",
                    "a chain of redirects, flattened to its final target",
                    format!("{from} → {to} → … → {target}"),
                );
            }
            self.out
                .inventory
                .repo_redirects
                .insert(from.clone(), target);
        }
    }

    /// Continent overrides, netblock countries, the country table, embargoed countries.
    fn geography(&mut self) {
        for r in &self.src.continent_redirects {
            let cc = r.country.trim().to_ascii_uppercase();
            let continent = r.continent.trim().to_ascii_uppercase();
            if countries::lookup(&cc).is_none() || !countries::is_continent(&continent) {
                self.out.notes.drop(
                    "country_continent_redirect",
                    "country_continent_redirect.invalid",
                    "an unknown country code or continent",
                    format!("{} → {}", r.country, r.continent),
                );
                continue;
            }
            self.out.inventory.continent_overrides.insert(cc, continent);
        }
        for r in &self.src.netblock_countries {
            let row = format!("netblock_country {} {:?}", r.id, r.netblock);
            let Some(cc) = self.country_code("netblock_country", &row, &r.country) else {
                self.out.notes.drop(
                    "netblock_country",
                    "netblock_country.invalid_country",
                    "not an ISO 3166-1 country code",
                    format!("{row}: {:?}", r.country),
                );
                continue;
            };
            match self.network("netblock_country", &row, &r.netblock) {
                Some(prefix) => {
                    if self
                        .out
                        .inventory
                        .netblock_countries
                        .insert(prefix, cc)
                        .is_some()
                    {
                        self.out.notes.drop(
                            "netblock_country",
                            "netblock_country.duplicate",
                            "the same network as another row once normalised",
                            row,
                        );
                    }
                }
                None => self.out.notes.drop(
                    "netblock_country",
                    "netblock_country.invalid",
                    "not an IP network",
                    row,
                ),
            }
        }
        if let Some(codes) = &self.src.countries {
            for code in codes {
                if countries::lookup(&code.trim().to_ascii_uppercase()).is_none() {
                    self.out.notes.change(
                        "country",
                        "country.unknown",
                        "not in the built-in ISO 3166-1 table (the table is not imported; \
                         hosts must use known codes)",
                        code.clone(),
                    );
                }
            }
        }
        if let Some(codes) = &self.src.embargoed {
            self.out.embargoed = codes
                .iter()
                .map(|c| c.trim().to_ascii_uppercase())
                .collect();
        }
    }

    /// A country code: trimmed, upper-cased, `UK` → `GB` (noted under `table`); `None` when
    /// it is not a code of the built-in table.
    pub(super) fn country_code(
        &mut self,
        table: &'static str,
        row: &str,
        text: &str,
    ) -> Option<String> {
        let cc = text.trim().to_ascii_uppercase();
        if cc == "UK" {
            self.out.notes.change(
                table,
                "country.uk_to_gb",
                "\"UK\" is not an ISO 3166-1 code: GB",
                row.to_string(),
            );
            return Some("GB".to_string());
        }
        countries::lookup(&cc).map(|_| cc)
    }

    /// An IP network written as CIDR, a bare address or `a.b.c.d/255.255.0.0`; host bits are
    /// cleared (noted under `table`). `None` when it is not a network.
    pub(super) fn network(&mut self, table: &'static str, row: &str, text: &str) -> Option<Prefix> {
        match Prefix::parse_lenient(text.trim()) {
            Ok(p) => Some(p),
            Err(PrefixError::HostBits { canonical, .. }) => {
                self.out.notes.change(
                    table,
                    "netblock.host_bits_cleared",
                    "host bits set: cleared",
                    format!("{row} → {canonical}"),
                );
                Some(canonical)
            }
            Err(_) => None,
        }
    }
}

/// `dir` relative to `topdir` (`""` for the topdir itself), or `None` when it is not below.
pub(super) fn relative_to<'a>(topdir: &str, dir: &'a str) -> Option<&'a str> {
    if dir == topdir {
        return Some("");
    }
    dir.strip_prefix(topdir)?.strip_prefix('/')
}

/// True when `name` follows `rule` (not empty, no control characters, at most `rule.max`
/// characters of the allowed ones).
pub(super) fn name_ok(name: &str, rule: NameRule) -> bool {
    !name.is_empty()
        && name.chars().count() <= rule.max
        && !name.chars().any(char::is_control)
        && name.chars().all(rule.allowed)
}
