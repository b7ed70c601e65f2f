//! The typed inventory (data-model.md §11.1): what a valid file says, with
//! every default filled in. Paths are as written, relative to their category
//! topdir; references (a repository's category, a host category's name) are
//! as written too and resolve with [`Inventory::category`] and friends, which
//! match names the way the database does (§1).

use std::collections::{BTreeMap, BTreeSet, HashSet};

use mirrorfleet_snapshot::net::Prefix;
use time::OffsetDateTime;

/// A whole inventory file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Inventory {
    /// `policy`: the values the file gives, each optional.
    pub policy: PolicySettings,
    /// `products`, file order.
    pub products: Vec<Product>,
    /// `arches`, file order.
    pub arches: Vec<Arch>,
    /// `categories`, file order.
    pub categories: Vec<Category>,
    /// `repositories`, file order.
    pub repositories: Vec<Repository>,
    /// `files`, file order.
    pub files: Vec<FileEntry>,
    /// `sites`, file order.
    pub sites: Vec<Site>,
    /// `repo_redirects`: from-prefix → to-prefix.
    pub repo_redirects: BTreeMap<String, String>,
    /// `disabled_repos`, file order.
    pub disabled_repos: Vec<DisabledRepo>,
    /// `continent_overrides`: country code → continent code.
    pub continent_overrides: BTreeMap<String, String>,
    /// `netblock_countries`: canonical network → country code.
    pub netblock_countries: BTreeMap<Prefix, String>,
}

/// The `policy` object (data-model.md §10); absent values take the defaults.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PolicySettings {
    /// `min_mirrors`, when given.
    pub min_mirrors: Option<u32>,
    /// `max_hosts`, when given.
    pub max_hosts: Option<u32>,
}

/// A product and its versions.
#[derive(Clone, Debug, PartialEq)]
pub struct Product {
    /// Unique (case-insensitively), at most 64 characters.
    pub name: String,
    /// Default true.
    pub publiclist: bool,
    /// File order.
    pub versions: Vec<Version>,
}

/// A release of a product.
#[derive(Clone, Debug, PartialEq)]
pub struct Version {
    /// `[A-Za-z0-9._-]+`, unique per product (exact).
    pub name: String,
    /// Shown instead of `name` on public pages.
    pub display_name: Option<String>,
    /// Default true.
    pub display: bool,
    /// Default false.
    pub is_test: bool,
    /// Default 0.
    pub sort_order: i32,
}

impl Version {
    /// A version with every default.
    pub fn named(name: &str) -> Version {
        Version {
            name: name.to_string(),
            display_name: None,
            display: true,
            is_test: false,
            sort_order: 0,
        }
    }
}

/// An architecture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Arch {
    /// `[a-z0-9_]+`, unique (exact).
    pub name: String,
    /// Default true.
    pub publiclist: bool,
    /// Default true.
    pub primary: bool,
}

/// A category: the unit of mirroring.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Category {
    /// Unique (case-insensitively).
    pub name: String,
    /// Product name (a reference).
    pub product: String,
    /// Root of the category on the master and every mirror, e.g. `pub/epel`.
    pub topdir: String,
    /// Default true.
    pub publiclist: bool,
    /// Default false.
    pub admin_only: bool,
    /// Repository-mapping rule set of the scanner.
    pub repomap: Option<String>,
    /// Further directories, relative to the topdir.
    pub directories: Vec<String>,
}

/// A repository: a dnf `repo=` prefix and an arch mapped to a directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Repository {
    /// `None` = unmapped.
    pub prefix: Option<String>,
    /// Arch name (a reference).
    pub arch: String,
    /// Category name (a reference).
    pub category: String,
    /// Version name within the category's product (a reference).
    pub version: Option<String>,
    /// Directory relative to the category topdir; `None` = orphaned.
    pub dir: Option<String>,
    /// History of `<dir>/repodata/repomd.xml`, file order.
    pub repomd: Vec<FileVersion>,
}

/// A file with details other than a repository's repomd.xml.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileEntry {
    /// Category name (a reference).
    pub category: String,
    /// Directory relative to the category topdir.
    pub dir: String,
    /// File name, no `/`.
    pub name: String,
    /// Versions, file order.
    pub history: Vec<FileVersion>,
}

/// One version of a file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileVersion {
    /// Content time, Unix seconds (0 = unknown).
    pub timestamp: i64,
    /// Bytes (0 = unknown).
    pub size: u64,
    /// Lower-case hex, 32 digits.
    pub md5: Option<String>,
    /// Lower-case hex, 40 digits.
    pub sha1: Option<String>,
    /// Lower-case hex, 64 digits.
    pub sha256: Option<String>,
    /// Lower-case hex, 128 digits.
    pub sha512: Option<String>,
    /// Modification time on the master, Unix seconds.
    pub mtime: Option<i64>,
}

/// An organisation running mirrors.
#[derive(Clone, Debug, PartialEq)]
pub struct Site {
    /// Unique (case-insensitively), 1–100 characters.
    pub name: String,
    /// http(s) link for the public mirror list.
    pub org_url: Option<String>,
    /// Every host of the site is private. Default false.
    pub private: bool,
    /// Default true.
    pub admin_active: bool,
    /// Default true.
    pub user_active: bool,
    /// Notes between owners and administrators.
    pub comment: Option<String>,
    /// Owner usernames.
    pub owners: Vec<String>,
    /// File order.
    pub hosts: Vec<Host>,
}

impl Site {
    /// A site with every default and no hosts.
    pub fn named(name: &str) -> Site {
        Site {
            name: name.to_string(),
            org_url: None,
            private: false,
            admin_active: true,
            user_active: true,
            comment: None,
            owners: Vec::new(),
            hosts: Vec::new(),
        }
    }
}

/// One mirror server.
#[derive(Clone, Debug, PartialEq)]
pub struct Host {
    /// `[A-Za-z0-9._-]+`, unique per site (case-insensitively).
    pub name: String,
    /// ISO 3166-1 alpha-2, upper case.
    pub country: String,
    /// Mbit/s, 1–1,000,000. Default 100.
    pub bandwidth: u32,
    /// 1–100. Default 1.
    pub max_connections: u32,
    /// Default false.
    pub private: bool,
    /// The host's own AS.
    pub asn: Option<u32>,
    /// Default true.
    pub asn_clients: bool,
    /// Default true.
    pub admin_active: bool,
    /// Default true.
    pub user_active: bool,
    /// Set when the crawler disabled the host.
    pub auto_disabled_at: Option<OffsetDateTime>,
    /// Why it is disabled.
    pub disable_reason: Option<String>,
    /// Public comment.
    pub comment: Option<String>,
    /// Where crawler notifications go.
    pub contact_email: Option<String>,
    /// −90..90.
    pub latitude: Option<f64>,
    /// −180..180.
    pub longitude: Option<f64>,
    /// Client networks that get this host first, file order.
    pub netblocks: Vec<Netblock>,
    /// Further ASes whose clients get this host, file order.
    pub peer_asns: Vec<u32>,
    /// Countries the host may serve (empty = all), file order.
    pub allowed_countries: Vec<String>,
    /// The categories the host carries, file order.
    pub categories: Vec<HostCategory>,
}

impl Host {
    /// A host with every default, no netblocks and no categories.
    pub fn new(name: &str, country: &str) -> Host {
        Host {
            name: name.to_string(),
            country: country.to_string(),
            bandwidth: 100,
            max_connections: 1,
            private: false,
            asn: None,
            asn_clients: true,
            admin_active: true,
            user_active: true,
            auto_disabled_at: None,
            disable_reason: None,
            comment: None,
            contact_email: None,
            latitude: None,
            longitude: None,
            netblocks: Vec::new(),
            peer_asns: Vec::new(),
            allowed_countries: Vec::new(),
            categories: Vec::new(),
        }
    }
}

/// A host netblock as the file gives it, networks in canonical form.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Netblock {
    /// A CIDR, a bare address (a /32 or /128) or an IPv4 network with a dotted mask.
    Network(Prefix),
    /// A DNS name whose addresses a control plane resolves in the background.
    DnsName(String),
}

/// A host carrying one category.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostCategory {
    /// Category name (a reference; the key in the host's `categories`).
    pub category: String,
    /// Public base URLs, in position order.
    pub urls: Vec<HostUrl>,
    /// URLs the crawler uses and the snapshot never contains.
    pub private_urls: Vec<HostUrl>,
    /// Up to date for every directory of the category.
    pub always_up2date: bool,
    /// Which directories are up to date.
    pub up2date: Vec<Pattern>,
}

/// One base URL of a host category.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostUrl {
    /// Absolute, lower-case scheme and host, no trailing `/`.
    pub url: String,
    /// Reachable over IPv4 (`None` = unknown).
    pub ipv4: Option<bool>,
    /// Reachable over IPv6 (`None` = unknown).
    pub ipv6: Option<bool>,
}

/// An `up2date` pattern, relative to the category topdir.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Pattern {
    /// `**`: every directory of the category.
    All,
    /// `a/b` (or `""`, the topdir): that directory only.
    Dir(String),
    /// `a/b/**`: that directory and every directory below it.
    Subtree(String),
}

impl Pattern {
    /// True when the pattern covers the directory at `relative` (relative to
    /// the topdir, `""` for the topdir itself).
    pub fn matches(&self, relative: &str) -> bool {
        match self {
            Pattern::All => true,
            Pattern::Dir(dir) => relative == dir,
            Pattern::Subtree(dir) => {
                relative == dir
                    || (relative.starts_with(dir.as_str())
                        && relative[dir.len()..].starts_with('/'))
            }
        }
    }
}

impl Pattern {
    /// True when the pattern matches at least one of `dirs`, all the directories of a
    /// category ([`super::tree::category_directories`], which holds every ancestor of each:
    /// a subtree matches something exactly when its root is there).
    pub fn matches_any(&self, dirs: &BTreeSet<String>) -> bool {
        match self {
            Pattern::All => !dirs.is_empty(),
            Pattern::Dir(dir) | Pattern::Subtree(dir) => dirs.contains(dir),
        }
    }
}

/// A host category's `up2date` patterns, asked about many directories: each question costs
/// the directory's depth in hash look-ups instead of one [`Pattern::matches`] per pattern
/// (a crawled host's up-to-date set can take thousands of patterns).
pub struct Coverage<'p> {
    all: bool,
    dirs: HashSet<&'p str>,
    subtrees: HashSet<&'p str>,
}

impl<'p> Coverage<'p> {
    /// The coverage of `patterns`.
    pub fn new(patterns: &'p [Pattern]) -> Coverage<'p> {
        let mut c = Coverage {
            all: false,
            dirs: HashSet::new(),
            subtrees: HashSet::new(),
        };
        for p in patterns {
            match p {
                Pattern::All => c.all = true,
                Pattern::Dir(d) => {
                    c.dirs.insert(d);
                }
                Pattern::Subtree(d) => {
                    c.subtrees.insert(d);
                }
            }
        }
        c
    }

    /// True when some pattern covers `relative`, exactly as [`Pattern::matches`] says.
    pub fn covers(&self, relative: &str) -> bool {
        if self.all || self.dirs.contains(relative) {
            return true;
        }
        // `relative` itself or one of its ancestors roots a subtree.
        let mut rest = relative;
        loop {
            if self.subtrees.contains(rest) {
                return true;
            }
            match rest.rfind('/') {
                Some(cut) => rest = &rest[..cut],
                None => return false,
            }
        }
    }
}

impl std::fmt::Display for Pattern {
    /// The pattern as the file writes it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Pattern::All => f.write_str("**"),
            Pattern::Dir(dir) => f.write_str(dir),
            Pattern::Subtree(dir) => write!(f, "{dir}/**"),
        }
    }
}

/// A prefix whose clients are told the repository is disabled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisabledRepo {
    /// `[A-Za-z0-9._-]+`.
    pub prefix: String,
    /// Why.
    pub reason: Option<String>,
}

/// The database's key for names that are unique after Unicode lower-casing
/// (data-model.md §1): product, category, site and host names.
pub fn folded(name: &str) -> String {
    name.to_lowercase()
}

impl Inventory {
    /// The category called `name`, matched as the database matches it
    /// (case-insensitively).
    pub fn category(&self, name: &str) -> Option<&Category> {
        let key = folded(name);
        self.categories.iter().find(|c| folded(&c.name) == key)
    }

    /// The product called `name` (case-insensitively).
    pub fn product(&self, name: &str) -> Option<&Product> {
        let key = folded(name);
        self.products.iter().find(|p| folded(&p.name) == key)
    }

    /// The arch called exactly `name`.
    pub fn arch(&self, name: &str) -> Option<&Arch> {
        self.arches.iter().find(|a| a.name == name)
    }

    /// The selection policy: the file's values, defaults for the rest
    /// (`min_mirrors` 5, `max_hosts` 100).
    pub fn effective_policy(&self) -> mirrorfleet_snapshot::model::Policy {
        let default = mirrorfleet_snapshot::model::Policy::default();
        mirrorfleet_snapshot::model::Policy {
            min_mirrors: self.policy.min_mirrors.unwrap_or(default.min_mirrors),
            max_hosts: self.policy.max_hosts.unwrap_or(default.max_hosts),
        }
    }
}

/// The full directory name of `relative` inside a category with `topdir`:
/// `topdir/relative`, or the topdir itself for `""`.
pub fn full_name(topdir: &str, relative: &str) -> String {
    if relative.is_empty() {
        topdir.to_string()
    } else {
        format!("{topdir}/{relative}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match() {
        let sub = Pattern::Subtree("releases/40".into());
        assert!(sub.matches("releases/40"));
        assert!(sub.matches("releases/40/Everything"));
        assert!(!sub.matches("releases/400"));
        assert!(!sub.matches("releases"));
        assert!(Pattern::Dir(String::new()).matches(""));
        assert!(!Pattern::Dir(String::new()).matches("a"));
        assert!(Pattern::All.matches("a/b"));
        assert_eq!(sub.to_string(), "releases/40/**");
        assert_eq!(full_name("pub/epel", ""), "pub/epel");
        assert_eq!(full_name("pub/epel", "9"), "pub/epel/9");
    }

    #[test]
    fn coverage_agrees_with_matches() {
        let names = [
            "", "a", "a-b", "a.b", "a/b", "a/b/c", "a/bc", "a/b-c", "a/b/c/d", "ab", "b", "b/a",
        ];
        let patterns = [
            Pattern::All,
            Pattern::Dir(String::new()),
            Pattern::Dir("a/b".into()),
            Pattern::Dir("zz".into()),
            Pattern::Subtree("a".into()),
            Pattern::Subtree("a/b".into()),
            Pattern::Subtree("b".into()),
            Pattern::Subtree(String::new()),
        ];
        let dirs: BTreeSet<String> = names.iter().map(|n| n.to_string()).collect();
        for p in &patterns {
            for q in &patterns {
                let set = [p.clone(), q.clone()];
                let coverage = Coverage::new(&set);
                for n in names {
                    assert_eq!(
                        coverage.covers(n),
                        set.iter().any(|p| p.matches(n)),
                        "{set:?} {n:?}"
                    );
                }
            }
            assert_eq!(
                p.matches_any(&dirs),
                dirs.iter().any(|d| p.matches(d)),
                "{p:?}"
            );
        }
    }
}
