//! The derivation of data-model.md §9 for an inventory: which hosts are
//! exported, which directories exist and who carries them, file histories,
//! the repo map and the network and geography tables, as a logical
//! [`SnapshotData`]. Lists the snapshot builder computes itself (by_host,
//! global, by_country, the netblock and ASN maps, counts) and bandwidth
//! clamping are deliberately left to it, so a database publish and an
//! inventory build cannot disagree about them.

use std::collections::{BTreeMap, BTreeSet};

use mirrorfleet_snapshot::countries;
use mirrorfleet_snapshot::model::{
    self as snap, Code, FileDetails, Identity, Inputs, RepoEntry, SnapshotData,
};
use mirrorfleet_snapshot::net::Prefix;

use super::model::{self, FileVersion, Inventory, Netblock, Site, full_name};
use super::tree::{category_directories, repodata_of};

/// The `producer_name` of every snapshot mirrorfleet builds.
pub const PRODUCER_NAME: &str = "mirrorfleet";

/// What a snapshot needs besides the inventory.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BuildOptions {
    /// Snapshot version (strictly increasing per installation).
    pub version: u64,
    /// Unix seconds, UTC.
    pub created_at: i64,
    /// Installation UUID bytes.
    pub installation_id: [u8; 16],
    /// Version of the software building the snapshot.
    pub producer_version: String,
    /// The prefix→ASN table, IPv4 and IPv6.
    pub prefix_asn: Vec<(Prefix, u32)>,
    /// Source label of that table (empty when none).
    pub asn_source: String,
    /// When it was imported, Unix seconds (0 when unknown).
    pub asn_imported_at: i64,
    /// SHA-256 (hex) of its normalised text (empty when none).
    pub asn_sha256: String,
}

/// Derives the logical snapshot of a (validated) inventory; also returns
/// warnings for what had to be left out, e.g. netblocks given as DNS names,
/// which only a control plane resolves.
///
/// Host ids are numbered from 1 in (site name, host name) byte order, the
/// order in which importing the file into an empty database creates them.
pub fn to_snapshot_data(inv: &Inventory, opts: &BuildOptions) -> (SnapshotData, Vec<String>) {
    let mut warnings = Vec::new();
    let hosts = exported_hosts(inv, &mut warnings);
    let directories = directories(inv, &hosts);
    let data = SnapshotData {
        identity: Identity {
            version: opts.version,
            created_at: opts.created_at,
            source_generation: 0,
            installation_id: opts.installation_id,
            producer_name: PRODUCER_NAME.to_string(),
            producer_version: opts.producer_version.clone(),
        },
        inputs: Inputs {
            asn_source: opts.asn_source.clone(),
            asn_imported_at: opts.asn_imported_at,
            asn_sha256: opts.asn_sha256.clone(),
            continents_source: countries::BUILTIN_REVISION.to_string(),
            ..Inputs::default()
        },
        policy: inv.effective_policy(),
        hosts: hosts.into_iter().map(|h| h.host).collect(),
        categories: inv
            .categories
            .iter()
            .map(|c| snap::Category {
                name: c.name.clone(),
                topdir: c.topdir.clone(),
            })
            .collect(),
        directories,
        repositories: repo_map(inv),
        redirects: inv
            .repo_redirects
            .iter()
            .map(|(from, to)| (from.clone(), to.clone()))
            .collect(),
        disabled: inv
            .disabled_repos
            .iter()
            .map(|r| r.prefix.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect(),
        netblock_countries: inv
            .netblock_countries
            .iter()
            .filter_map(|(p, cc)| Some((*p, code(cc)?)))
            .collect(),
        continents: continents(inv),
        prefix_asn: opts.prefix_asn.clone(),
    };
    (data, warnings)
}

/// An exported host with what the directory pass needs to know about it.
struct Exported<'i> {
    host: snap::Host,
    /// Its host categories with at least one public URL, by folded category name.
    carried: BTreeMap<String, &'i model::HostCategory>,
}

/// *active(h)*: the host's and its site's switches on, not auto-disabled.
fn active(site: &Site, host: &model::Host) -> bool {
    host.admin_active
        && host.user_active
        && host.auto_disabled_at.is_none()
        && site.admin_active
        && site.user_active
}

/// Every host numbered in (site name, host name) byte order; those active and
/// with a public URL in some category are exported, in id order.
fn exported_hosts<'i>(inv: &'i Inventory, warnings: &mut Vec<String>) -> Vec<Exported<'i>> {
    let mut all: Vec<(&Site, &model::Host)> = inv
        .sites
        .iter()
        .flat_map(|s| s.hosts.iter().map(move |h| (s, h)))
        .collect();
    all.sort_by(|a, b| {
        (a.0.name.as_bytes(), a.1.name.as_bytes()).cmp(&(b.0.name.as_bytes(), b.1.name.as_bytes()))
    });
    let mut out = Vec::new();
    for (n, (site, host)) in all.into_iter().enumerate() {
        let id = n as u64 + 1;
        let label = format!("host \"{}\" of site \"{}\"", host.name, site.name);
        let mut carried = BTreeMap::new();
        let mut categories = Vec::new();
        for hc in host.categories.iter().filter(|hc| !hc.urls.is_empty()) {
            let Some(category) = inv.category(&hc.category) else {
                warnings.push(format!(
                    "{label}: unknown category \"{}\" left out",
                    hc.category
                ));
                continue;
            };
            carried.insert(model::folded(&category.name), hc);
            let urls = hc.urls.iter().map(|u| snap::HostUrl {
                url: u.url.clone(),
                ipv4: u.ipv4,
                ipv6: u.ipv6,
            });
            categories.push(snap::HostCategory {
                category: category.name.clone(),
                urls: urls.collect(),
            });
        }
        if !active(site, host) || categories.is_empty() {
            continue;
        }
        categories.sort_by(|a, b| a.category.cmp(&b.category));
        let mut netblocks = BTreeSet::new();
        for netblock in &host.netblocks {
            match netblock {
                Netblock::Network(prefix) => {
                    netblocks.insert(*prefix);
                }
                Netblock::DnsName(name) => warnings.push(format!(
                    "{label}: netblock \"{name}\" is a DNS name; left out (a control plane resolves such names)"
                )),
            }
        }
        let Some(country) = code(&host.country) else {
            warnings.push(format!(
                "{label}: invalid country \"{}\"; host left out",
                host.country
            ));
            continue;
        };
        let host_data = snap::Host {
            id,
            name: host.name.clone(),
            country,
            bandwidth: host.bandwidth,
            max_connections: host.max_connections,
            private: host.private || site.private,
            asn: host.asn.filter(|_| host.asn_clients),
            peer_asns: host
                .peer_asns
                .iter()
                .copied()
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect(),
            allowed_countries: host
                .allowed_countries
                .iter()
                .filter_map(|c| code(c))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect(),
            netblocks: netblocks.into_iter().collect(),
            categories,
        };
        out.push(Exported {
            host: host_data,
            carried,
        });
    }
    out
}

/// Every directory of every category, each served by the linked category with
/// the longest topdir, with its carriers and file details.
fn directories(inv: &Inventory, hosts: &[Exported<'_>]) -> Vec<snap::Directory> {
    // Full name → (serving category, path relative to its topdir). Categories
    // are visited longest topdir first, so the first link of a directory wins.
    let mut order: Vec<&model::Category> = inv.categories.iter().collect();
    order.sort_by(|a, b| {
        b.topdir
            .len()
            .cmp(&a.topdir.len())
            .then_with(|| a.topdir.cmp(&b.topdir))
    });
    let mut serving: BTreeMap<String, (&model::Category, String)> = BTreeMap::new();
    for category in order {
        for relative in category_directories(inv, category) {
            serving
                .entry(full_name(&category.topdir, &relative))
                .or_insert((category, relative));
        }
    }
    let mut files = file_details(inv);
    // Per host, per carried category key: always up to date, or the coverage of its patterns.
    let coverage: Vec<BTreeMap<&String, (bool, model::Coverage<'_>)>> = hosts
        .iter()
        .map(|h| {
            h.carried
                .iter()
                .map(|(key, hc)| (key, (hc.always_up2date, model::Coverage::new(&hc.up2date))))
                .collect()
        })
        .collect();
    serving
        .into_iter()
        .map(|(name, (category, relative))| {
            let key = model::folded(&category.name);
            let carriers = hosts
                .iter()
                .zip(&coverage)
                .filter(|(_, carried)| {
                    carried
                        .get(&key)
                        .is_some_and(|(always, c)| *always || c.covers(&relative))
                })
                .map(|(h, _)| h.host.id)
                .collect();
            let files = files.remove(&name).unwrap_or_default();
            snap::Directory {
                name,
                category: category.name.clone(),
                carriers,
                files,
            }
        })
        .collect()
}

/// File details by full directory name, file names sorted, versions newest
/// first (timestamp descending; ties keep the file's order).
fn file_details(inv: &Inventory) -> BTreeMap<String, Vec<FileDetails>> {
    let mut by_dir: BTreeMap<String, BTreeMap<String, Vec<&FileVersion>>> = BTreeMap::new();
    for repo in &inv.repositories {
        let (Some(category), Some(dir)) = (inv.category(&repo.category), &repo.dir) else {
            continue;
        };
        if repo.repomd.is_empty() {
            continue;
        }
        let full = full_name(&category.topdir, &repodata_of(dir));
        by_dir
            .entry(full)
            .or_default()
            .entry("repomd.xml".to_string())
            .or_default()
            .extend(&repo.repomd);
    }
    for file in &inv.files {
        let Some(category) = inv.category(&file.category) else {
            continue;
        };
        let full = full_name(&category.topdir, &file.dir);
        by_dir
            .entry(full)
            .or_default()
            .entry(file.name.clone())
            .or_default()
            .extend(&file.history);
    }
    by_dir
        .into_iter()
        .map(|(dir, names)| {
            let details = names
                .into_iter()
                .map(|(name, mut versions)| {
                    // A stable sort keeps equal timestamps in file order.
                    versions.sort_by_key(|v| std::cmp::Reverse(v.timestamp));
                    FileDetails {
                        name,
                        versions: versions.into_iter().map(snapshot_version).collect(),
                    }
                })
                .collect();
            (dir, details)
        })
        .collect()
}

fn snapshot_version(v: &FileVersion) -> snap::FileVersion {
    snap::FileVersion {
        timestamp: v.timestamp,
        size: v.size,
        md5: v.md5.clone(),
        sha1: v.sha1.clone(),
        sha256: v.sha256.clone(),
        sha512: v.sha512.clone(),
    }
}

/// (prefix, arch) → directory for every mapped repository with a directory.
fn repo_map(inv: &Inventory) -> Vec<RepoEntry> {
    let mut entries: Vec<RepoEntry> = inv
        .repositories
        .iter()
        .filter_map(|repo| {
            let category = inv.category(&repo.category)?;
            Some(RepoEntry {
                prefix: repo.prefix.clone()?,
                arch: repo.arch.clone(),
                directory: full_name(&category.topdir, repo.dir.as_deref()?),
            })
        })
        .collect();
    entries.sort();
    entries
}

/// The built-in country → continent table with the overrides applied.
fn continents(inv: &Inventory) -> Vec<(Code, Code)> {
    countries::COUNTRIES
        .iter()
        .filter_map(|c| {
            let continent = inv
                .continent_overrides
                .get(c.code)
                .map_or(c.continent, String::as_str);
            Some((code(c.code)?, code(continent)?))
        })
        .collect()
}

/// A two-letter code as the snapshot stores it.
fn code(text: &str) -> Option<Code> {
    <[u8; 2]>::try_from(text.as_bytes()).ok()
}
