//! The derivation of data-model.md §9 from the database: the logical snapshot
//! ([`SnapshotData`]) the publisher encodes, read in ONE consistent read transaction
//! (SQLite: a deferred `BEGIN`, whose first read fixes the snapshot; PostgreSQL:
//! `REPEATABLE READ, READ ONLY`).
//!
//! The rules are those of [`crate::inventory::to_snapshot_data`], applied to rows: the same
//! data gives the same logical snapshot. As there, the lists the snapshot builder computes
//! itself (by_host, global, by_country, the netblock and ASN maps, counts) and bandwidth
//! clamping are left to [`mirrorfleet_snapshot::build`].
//!
//! Cost: a handful of set-based queries, none per host or per directory. The only large table,
//! `host_category_dir` (millions of rows at Fedora scale), is read in keyset pages of
//! [`HCD_PAGE`] host categories, each host category's directories as one row
//! ([`crate::store::for_each_up2date_group`]), and folded straight into the carrier lists, so
//! memory stays proportional to the carried pairs, not to the rows read.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use mirrorfleet_snapshot::countries;
use mirrorfleet_snapshot::model::{
    self as snap, Code, FileDetails, FileVersion, Identity, Inputs, Policy, RepoEntry, SnapshotData,
};
use mirrorfleet_snapshot::net::Prefix;

use crate::db::Database;
use crate::inventory::PRODUCER_NAME;
use crate::store::Tx;
use crate::with_tx;

pub use crate::store::HCD_PAGE;

/// What a snapshot needs besides the database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeriveOptions {
    /// Snapshot version (strictly increasing per installation).
    pub version: u64,
    /// Unix seconds, UTC.
    pub created_at: i64,
    /// Version of the software building the snapshot.
    pub producer_version: String,
    /// Selection settings carried to every edge.
    pub policy: Policy,
    /// Inputs outside the database (prefix→ASN table description, continent table source,
    /// GeoIP reference), copied as given.
    pub inputs: Inputs,
    /// The prefix→ASN table, IPv4 and IPv6 (it lives in a file, not in the database).
    pub prefix_asn: Vec<(Prefix, u32)>,
}

impl Default for DeriveOptions {
    fn default() -> Self {
        DeriveOptions {
            version: 0,
            created_at: 0,
            producer_version: env!("CARGO_PKG_VERSION").to_string(),
            policy: Policy::default(),
            inputs: Inputs {
                continents_source: countries::BUILTIN_REVISION.to_string(),
                ..Inputs::default()
            },
            prefix_asn: Vec::new(),
        }
    }
}

/// The result of a derivation: the logical snapshot and what the publish report lists.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Derived {
    /// The logical snapshot.
    pub data: SnapshotData,
    /// Entries kept with a caveat, and rows left out, in a stable order.
    pub warnings: Vec<DeriveWarning>,
}

/// Something the publish report lists (data-model.md §9, "Repositories"; netblocks).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeriveWarning {
    /// A repo-map entry whose `repodata` child is not exported: kept, but a metalink for it
    /// can only answer "no metalink".
    RepodataNotExported {
        prefix: String,
        arch: String,
        directory: String,
    },
    /// A repository without a prefix: left out.
    RepositoryUnmapped {
        id: i64,
        arch: String,
        directory: Option<String>,
    },
    /// A repository whose directory was removed: left out.
    RepositoryOrphaned {
        id: i64,
        prefix: String,
        arch: String,
        last_directory: Option<String>,
    },
    /// A repository whose directory has no category: left out.
    RepositoryNotExported {
        id: i64,
        prefix: String,
        arch: String,
        directory: String,
    },
    /// A netblock given as a DNS name that was never resolved: contributes nothing.
    NetblockUnresolved {
        host_id: u64,
        host: String,
        value: String,
    },
    /// A netblock (or an address of a DNS name's `resolved` list) that is not a network.
    NetblockInvalid {
        host_id: u64,
        host: String,
        value: String,
        reason: String,
    },
}

impl fmt::Display for DeriveWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeriveWarning::RepodataNotExported {
                prefix,
                arch,
                directory,
            } => write!(
                f,
                "repository {prefix}/{arch}: directory \"{directory}/repodata\" is not exported; \
                 its metalink answers \"no metalink\""
            ),
            DeriveWarning::RepositoryUnmapped {
                id,
                arch,
                directory,
            } => write!(
                f,
                "repository #{id} ({arch}, directory {}) has no prefix; left out",
                directory.as_deref().unwrap_or("none")
            ),
            DeriveWarning::RepositoryOrphaned {
                id,
                prefix,
                arch,
                last_directory,
            } => write!(
                f,
                "repository #{id} {prefix}/{arch} has no directory (last: {}); left out",
                last_directory.as_deref().unwrap_or("unknown")
            ),
            DeriveWarning::RepositoryNotExported {
                id,
                prefix,
                arch,
                directory,
            } => write!(
                f,
                "repository #{id} {prefix}/{arch}: directory \"{directory}\" has no category \
                 and is not exported; left out"
            ),
            DeriveWarning::NetblockUnresolved {
                host_id,
                host,
                value,
            } => write!(
                f,
                "host #{host_id} \"{host}\": netblock \"{value}\" is a DNS name not resolved yet; \
                 it contributes nothing"
            ),
            DeriveWarning::NetblockInvalid {
                host_id,
                host,
                value,
                reason,
            } => write!(
                f,
                "host #{host_id} \"{host}\": netblock \"{value}\" left out: {reason}"
            ),
        }
    }
}

/// Why no snapshot could be derived.
#[derive(Debug, thiserror::Error)]
pub enum DeriveError {
    #[error("the database is not initialised (no meta row); run `mirrorfleet init` first")]
    NotInitialised,
    #[error("the database holds a value a snapshot cannot carry: {0}")]
    Invalid(String),
    #[error("reading the database for the snapshot failed: {0}")]
    Query(#[from] sqlx::Error),
}

/// Derives the logical snapshot of data-model.md §9 from `db`, in one read transaction.
pub async fn derive_snapshot(db: &Database, opts: &DeriveOptions) -> Result<Derived, DeriveError> {
    let mut tx = Tx::begin_read(db).await?;
    let derived = derive_in(&mut tx, opts).await;
    // Read only: nothing to keep. A failed rollback after a good read changes nothing.
    let _ = tx.rollback().await;
    derived
}

/// A host category with at least one public URL, of an active host.
struct CarryingHc {
    host_id: u64,
    category_id: i64,
    always_up2date: bool,
}

/// A directory being exported.
struct Dir {
    name: String,
    category_id: i64,
    carriers: Vec<u64>,
    files: BTreeMap<String, Vec<FileVersion>>,
}

type HostRow = (i64, String, String, i64, i64, bool, bool, Option<i64>, bool);
type UrlRow = (i64, i64, i64, bool, String, Option<bool>, Option<bool>);
type FileRow = (
    i64,
    String,
    i64,
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);
type RepoRow = (
    i64,
    Option<String>,
    String,
    Option<i64>,
    Option<String>,
    Option<String>,
);

async fn derive_in(tx: &mut Tx, opts: &DeriveOptions) -> Result<Derived, DeriveError> {
    let mut warnings = Vec::new();

    // ---- identity
    let meta: Option<(String, i64)> = with_tx!(tx, c => sqlx::query_as(
        "SELECT installation_id, CAST(generation AS BIGINT) FROM meta WHERE id = 1",
    )
    .fetch_optional(&mut *c)
    .await?);
    let Some((installation_id, generation)) = meta else {
        return Err(DeriveError::NotInitialised);
    };
    let installation_id = uuid::Uuid::parse_str(&installation_id)
        .map_err(|e| invalid(format!("meta.installation_id {installation_id:?}: {e}")))?;
    let identity = Identity {
        version: opts.version,
        created_at: opts.created_at,
        source_generation: u64::try_from(generation)
            .map_err(|_| invalid(format!("meta.generation {generation} is negative")))?,
        installation_id: *installation_id.as_bytes(),
        producer_name: PRODUCER_NAME.to_string(),
        producer_version: opts.producer_version.clone(),
    };

    // ---- categories
    let category_rows: Vec<(i64, String, String)> = with_tx!(tx, c => sqlx::query_as(
        "SELECT id, name, topdir FROM category",
    )
    .fetch_all(&mut *c)
    .await?);
    let category_names: HashMap<i64, String> = category_rows
        .iter()
        .map(|(id, name, _)| (*id, name.clone()))
        .collect();
    let topdirs: HashMap<i64, String> = category_rows
        .iter()
        .map(|(id, _, topdir)| (*id, topdir.clone()))
        .collect();
    let mut categories: Vec<snap::Category> = category_rows
        .into_iter()
        .map(|(_, name, topdir)| snap::Category { name, topdir })
        .collect();
    categories.sort_by(|a, b| a.name.cmp(&b.name));

    // ---- active hosts
    let host_rows: Vec<HostRow> = with_tx!(tx, c => sqlx::query_as(
        "SELECT h.id, h.name, h.country, CAST(h.bandwidth AS BIGINT), \
                CAST(h.max_connections AS BIGINT), h.private, s.private, \
                CAST(h.asn AS BIGINT), h.asn_clients \
         FROM host h JOIN site s ON s.id = h.site_id \
         WHERE h.admin_active AND h.user_active AND h.auto_disabled_at IS NULL \
           AND s.admin_active AND s.user_active \
         ORDER BY h.id",
    )
    .fetch_all(&mut *c)
    .await?);
    let mut hosts: BTreeMap<u64, snap::Host> = BTreeMap::new();
    for (id, name, country, bandwidth, max_connections, h_private, s_private, asn, asn_clients) in
        host_rows
    {
        let id = to_u64(id, "host.id")?;
        let host = snap::Host {
            id,
            country: code(&country)
                .ok_or_else(|| invalid(format!("host #{id}: country {country:?}")))?,
            name,
            bandwidth: to_u32(bandwidth, "host.bandwidth")?,
            max_connections: to_u32(max_connections, "host.max_connections")?,
            private: h_private || s_private,
            asn: match asn {
                Some(asn) if asn_clients => Some(to_u32(asn, "host.asn")?),
                _ => None,
            },
            ..snap::Host::default()
        };
        hosts.insert(id, host);
    }

    // ---- public URLs, by host category, in (position, id) order
    let url_rows: Vec<UrlRow> = with_tx!(tx, c => sqlx::query_as(
        "SELECT hc.host_id, hc.id, hc.category_id, hc.always_up2date, u.url, u.ipv4, u.ipv6 \
         FROM host_category_url u JOIN host_category hc ON hc.id = u.host_category_id \
         WHERE NOT u.private \
         ORDER BY hc.host_id, hc.id, u.position, u.id",
    )
    .fetch_all(&mut *c)
    .await?);
    let mut carrying: HashMap<i64, CarryingHc> = HashMap::new();
    let mut host_categories: BTreeMap<u64, BTreeMap<String, Vec<snap::HostUrl>>> = BTreeMap::new();
    for (host_id, hc_id, category_id, always_up2date, url, ipv4, ipv6) in url_rows {
        let host_id = to_u64(host_id, "host_category.host_id")?;
        if !hosts.contains_key(&host_id) {
            continue;
        }
        let category = category_names
            .get(&category_id)
            .ok_or_else(|| invalid(format!("host category #{hc_id}: unknown category")))?;
        carrying.entry(hc_id).or_insert(CarryingHc {
            host_id,
            category_id,
            always_up2date,
        });
        host_categories
            .entry(host_id)
            .or_default()
            .entry(category.clone())
            .or_default()
            .push(snap::HostUrl { url, ipv4, ipv6 });
    }
    // Exported hosts: active, with a public URL in some category.
    hosts.retain(|id, _| host_categories.contains_key(id));
    for (host_id, cats) in host_categories {
        if let Some(host) = hosts.get_mut(&host_id) {
            host.categories = cats
                .into_iter()
                .map(|(category, urls)| snap::HostCategory { category, urls })
                .collect();
        }
    }

    // ---- peer ASNs, allowed countries, netblocks
    let peers: Vec<(i64, i64)> = with_tx!(tx, c => sqlx::query_as(
        "SELECT host_id, CAST(asn AS BIGINT) FROM host_peer_asn",
    )
    .fetch_all(&mut *c)
    .await?);
    let mut peer_sets: BTreeMap<u64, BTreeSet<u32>> = BTreeMap::new();
    for (host_id, asn) in peers {
        let host_id = to_u64(host_id, "host_peer_asn.host_id")?;
        if hosts.contains_key(&host_id) {
            peer_sets
                .entry(host_id)
                .or_default()
                .insert(to_u32(asn, "host_peer_asn.asn")?);
        }
    }
    let allowed: Vec<(i64, String)> = with_tx!(tx, c => sqlx::query_as(
        "SELECT host_id, country FROM host_allowed_country",
    )
    .fetch_all(&mut *c)
    .await?);
    let mut allowed_sets: BTreeMap<u64, BTreeSet<Code>> = BTreeMap::new();
    for (host_id, country) in allowed {
        let host_id = to_u64(host_id, "host_allowed_country.host_id")?;
        if hosts.contains_key(&host_id) {
            let cc = code(&country)
                .ok_or_else(|| invalid(format!("host #{host_id}: allowed country {country:?}")))?;
            allowed_sets.entry(host_id).or_default().insert(cc);
        }
    }
    let netblock_rows: Vec<(i64, String, Option<String>)> = with_tx!(tx, c => sqlx::query_as(
        "SELECT host_id, value, CAST(resolved AS TEXT) FROM host_netblock ORDER BY host_id, id",
    )
    .fetch_all(&mut *c)
    .await?);
    let mut netblock_sets: BTreeMap<u64, BTreeSet<Prefix>> = BTreeMap::new();
    for (host_id, value, resolved) in netblock_rows {
        let host_id = to_u64(host_id, "host_netblock.host_id")?;
        let Some(host) = hosts.get(&host_id) else {
            continue;
        };
        let set = netblock_sets.entry(host_id).or_default();
        let warn = |value: &str, reason: String| DeriveWarning::NetblockInvalid {
            host_id,
            host: host.name.clone(),
            value: value.to_string(),
            reason,
        };
        if looks_like_address(&value) {
            match Prefix::parse_lenient(&value) {
                Ok(p) => {
                    set.insert(p);
                }
                Err(e) => warnings.push(warn(&value, e.to_string())),
            }
            continue;
        }
        // A DNS name: its resolved addresses, or nothing.
        let Some(resolved) = resolved else {
            warnings.push(DeriveWarning::NetblockUnresolved {
                host_id,
                host: host.name.clone(),
                value,
            });
            continue;
        };
        match serde_json::from_str::<Vec<String>>(&resolved) {
            Ok(list) => {
                for address in list {
                    match Prefix::parse_lenient(&address) {
                        Ok(p) => {
                            set.insert(p);
                        }
                        Err(e) => warnings.push(warn(&value, format!("resolved {address:?}: {e}"))),
                    }
                }
            }
            Err(e) => warnings.push(warn(
                &value,
                format!("resolved is not a JSON list of networks: {e}"),
            )),
        }
    }
    for (id, host) in hosts.iter_mut() {
        host.peer_asns = peer_sets
            .remove(id)
            .unwrap_or_default()
            .into_iter()
            .collect();
        host.allowed_countries = allowed_sets
            .remove(id)
            .unwrap_or_default()
            .into_iter()
            .collect();
        host.netblocks = netblock_sets
            .remove(id)
            .unwrap_or_default()
            .into_iter()
            .collect();
    }

    // ---- directories: each served by its linked category with the longest topdir
    let link_rows: Vec<(i64, i64, String)> = with_tx!(tx, c => sqlx::query_as(
        "SELECT cd.directory_id, cd.category_id, d.name \
         FROM category_directory cd JOIN directory d ON d.id = cd.directory_id",
    )
    .fetch_all(&mut *c)
    .await?);
    let mut serving: HashMap<i64, (String, i64, usize)> = HashMap::new();
    for (dir_id, category_id, name) in link_rows {
        let Some(topdir) = topdirs.get(&category_id) else {
            continue;
        };
        let under = name == *topdir
            || (name.len() > topdir.len()
                && name.starts_with(topdir.as_str())
                && name.as_bytes()[topdir.len()] == b'/');
        if !under {
            continue;
        }
        match serving.get_mut(&dir_id) {
            Some(best) if best.2 >= topdir.len() => {}
            Some(best) => {
                best.1 = category_id;
                best.2 = topdir.len();
            }
            None => {
                serving.insert(dir_id, (name, category_id, topdir.len()));
            }
        }
    }
    let mut dirs: Vec<(i64, Dir)> = serving
        .into_iter()
        .map(|(id, (name, category_id, _))| {
            (
                id,
                Dir {
                    name,
                    category_id,
                    carriers: Vec::new(),
                    files: BTreeMap::new(),
                },
            )
        })
        .collect();
    dirs.sort_by(|a, b| a.1.name.cmp(&b.1.name));
    let dir_index: HashMap<i64, usize> = dirs
        .iter()
        .enumerate()
        .map(|(i, (id, _))| (*id, i))
        .collect();
    let mut dirs: Vec<Dir> = dirs.into_iter().map(|(_, d)| d).collect();

    // ---- carriers: always_up2date host categories, then up-to-date HCD rows
    let mut by_category: HashMap<i64, Vec<usize>> = HashMap::new();
    for (i, d) in dirs.iter().enumerate() {
        by_category.entry(d.category_id).or_default().push(i);
    }
    for hc in carrying.values().filter(|hc| hc.always_up2date) {
        for &i in by_category.get(&hc.category_id).into_iter().flatten() {
            dirs[i].carriers.push(hc.host_id);
        }
    }
    // Millions of (host category, directory) pairs: the host category is looked up once per
    // group, the directory in a table indexed by id.
    let dir_slots = IdIndex::new(&dir_index);
    crate::store::for_each_up2date_group(tx, |hc_id, dir_ids| {
        let Some(hc) = carrying.get(&hc_id) else {
            return;
        };
        if hc.always_up2date {
            return; // already added
        }
        for &dir_id in dir_ids {
            if let Some(i) = dir_slots.get(dir_id)
                && dirs[i].category_id == hc.category_id
            {
                dirs[i].carriers.push(hc.host_id);
            }
        }
    })
    .await?;
    for d in &mut dirs {
        d.carriers.sort_unstable();
        d.carriers.dedup();
    }

    // ---- file details, newest first by (timestamp desc, id desc)
    let file_rows: Vec<FileRow> = with_tx!(tx, c => sqlx::query_as(
        "SELECT fd.directory_id, fd.filename, fd.timestamp, fd.size, \
                fd.md5, fd.sha1, fd.sha256, fd.sha512 \
         FROM file_detail fd \
         ORDER BY fd.directory_id, fd.timestamp DESC, fd.id DESC",
    )
    .fetch_all(&mut *c)
    .await?);
    for (dir_id, filename, timestamp, size, md5, sha1, sha256, sha512) in file_rows {
        let Some(&i) = dir_index.get(&dir_id) else {
            continue;
        };
        dirs[i]
            .files
            .entry(filename)
            .or_default()
            .push(FileVersion {
                timestamp,
                size: to_u64(size, "file_detail.size")?,
                md5,
                sha1,
                sha256,
                sha512,
            });
    }

    // ---- repo map
    let repo_rows: Vec<RepoRow> = with_tx!(tx, c => sqlx::query_as(
        "SELECT r.id, r.prefix, a.name, r.directory_id, d.name, r.last_directory_name \
         FROM repository r JOIN arch a ON a.id = r.arch_id \
         LEFT JOIN directory d ON d.id = r.directory_id \
         ORDER BY r.id",
    )
    .fetch_all(&mut *c)
    .await?);
    let exported_name = |name: &str| dirs.binary_search_by(|d| d.name.as_str().cmp(name)).is_ok();
    let mut repositories = Vec::new();
    for (id, prefix, arch, dir_id, dir_name, last_directory) in repo_rows {
        let Some(prefix) = prefix else {
            warnings.push(DeriveWarning::RepositoryUnmapped {
                id,
                arch,
                directory: dir_name,
            });
            continue;
        };
        let (Some(dir_id), Some(directory)) = (dir_id, dir_name) else {
            warnings.push(DeriveWarning::RepositoryOrphaned {
                id,
                prefix,
                arch,
                last_directory,
            });
            continue;
        };
        if !dir_index.contains_key(&dir_id) {
            warnings.push(DeriveWarning::RepositoryNotExported {
                id,
                prefix,
                arch,
                directory,
            });
            continue;
        }
        if !exported_name(&format!("{directory}/repodata")) {
            warnings.push(DeriveWarning::RepodataNotExported {
                prefix: prefix.clone(),
                arch: arch.clone(),
                directory: directory.clone(),
            });
        }
        repositories.push(RepoEntry {
            prefix,
            arch,
            directory,
        });
    }
    repositories.sort();

    // ---- redirects, disabled prefixes
    let mut redirects: Vec<(String, String)> = with_tx!(tx, c => sqlx::query_as(
        "SELECT from_prefix, to_prefix FROM repository_redirect",
    )
    .fetch_all(&mut *c)
    .await?);
    redirects.sort();
    let mut disabled: Vec<String> = with_tx!(tx, c => sqlx::query_scalar(
        "SELECT prefix FROM disabled_repository",
    )
    .fetch_all(&mut *c)
    .await?);
    disabled.sort();
    disabled.dedup();

    // ---- geography
    let nc_rows: Vec<(String, String)> = with_tx!(tx, c => sqlx::query_as(
        "SELECT netblock, country FROM netblock_country",
    )
    .fetch_all(&mut *c)
    .await?);
    let mut netblock_countries = Vec::with_capacity(nc_rows.len());
    for (netblock, country) in nc_rows {
        let prefix = Prefix::parse_lenient(&netblock)
            .map_err(|e| invalid(format!("netblock_country {netblock:?}: {e}")))?;
        let cc = code(&country)
            .ok_or_else(|| invalid(format!("netblock_country {netblock:?}: {country:?}")))?;
        netblock_countries.push((prefix, cc));
    }
    netblock_countries.sort();
    let continent_rows: Vec<(String, String, Option<String>)> = with_tx!(tx, c => sqlx::query_as(
        "SELECT c.code, c.continent, o.continent \
         FROM country c LEFT JOIN continent_override o ON o.country = c.code",
    )
    .fetch_all(&mut *c)
    .await?);
    let mut continents = Vec::with_capacity(continent_rows.len());
    for (country, continent, over) in continent_rows {
        let effective = over.unwrap_or(continent);
        let pair = (code(&country), code(&effective));
        let (Some(cc), Some(ct)) = pair else {
            return Err(invalid(format!(
                "country {country:?}: continent {effective:?}"
            )));
        };
        continents.push((cc, ct));
    }
    continents.sort();

    let directories = dirs
        .into_iter()
        .map(|d| snap::Directory {
            name: d.name,
            category: category_names
                .get(&d.category_id)
                .cloned()
                .unwrap_or_default(),
            carriers: d.carriers,
            files: d
                .files
                .into_iter()
                .map(|(name, versions)| FileDetails { name, versions })
                .collect(),
        })
        .collect();

    let data = SnapshotData {
        identity,
        inputs: opts.inputs.clone(),
        policy: opts.policy,
        hosts: hosts.into_values().collect(),
        categories,
        directories,
        repositories,
        redirects,
        disabled,
        netblock_countries,
        continents,
        prefix_asn: opts.prefix_asn.clone(),
    };
    Ok(Derived { data, warnings })
}

/// Directory id → index into the exported directories: a table indexed by id when the ids
/// are dense enough (they are, short of mass deletions), a hash map otherwise.
enum IdIndex<'a> {
    Dense(Vec<u32>),
    Sparse(&'a HashMap<i64, usize>),
}

impl<'a> IdIndex<'a> {
    const NONE: u32 = u32::MAX;

    fn new(map: &'a HashMap<i64, usize>) -> IdIndex<'a> {
        let max = map.keys().copied().max().unwrap_or(0);
        let dense_ok = map.keys().all(|&id| id >= 0)
            && max < 4 * map.len() as i64 + 1_000_000
            && map.len() < Self::NONE as usize;
        if !dense_ok {
            return IdIndex::Sparse(map);
        }
        let mut table = vec![Self::NONE; max as usize + 1];
        for (&id, &i) in map {
            table[id as usize] = i as u32;
        }
        IdIndex::Dense(table)
    }

    fn get(&self, id: i64) -> Option<usize> {
        match self {
            IdIndex::Dense(table) => usize::try_from(id)
                .ok()
                .and_then(|k| table.get(k))
                .filter(|&&i| i != Self::NONE)
                .map(|&i| i as usize),
            IdIndex::Sparse(map) => map.get(&id).copied(),
        }
    }
}

/// True when a netblock value is an address or network rather than a DNS name: it has a `/`
/// or a `:`, or parses as an IPv4 address.
fn looks_like_address(value: &str) -> bool {
    value.contains('/') || value.contains(':') || value.parse::<std::net::IpAddr>().is_ok()
}

fn invalid(message: String) -> DeriveError {
    DeriveError::Invalid(message)
}

fn to_u64(v: i64, what: &str) -> Result<u64, DeriveError> {
    u64::try_from(v).map_err(|_| invalid(format!("{what} {v} is negative")))
}

fn to_u32(v: i64, what: &str) -> Result<u32, DeriveError> {
    u32::try_from(v).map_err(|_| invalid(format!("{what} {v} is out of range")))
}

/// A two-letter code as the snapshot stores it.
fn code(text: &str) -> Option<Code> {
    <[u8; 2]>::try_from(text.as_bytes()).ok()
}
