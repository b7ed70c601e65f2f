//! The logical snapshot (data-model.md §9–§10): what a snapshot says, in owned,
//! convenient Rust types. The control plane's derivation and the inventory
//! builder produce a [`SnapshotData`]; [`crate::build`] turns it into bytes.
//!
//! The builder, not the producer, computes every derived list (by_host, global,
//! by_country, the netblock and ASN maps, counts), so two producers cannot
//! disagree about them.

use crate::net::Prefix;

/// A two-letter upper-case country code (`"SE"`), or a continent code (`"EU"`).
pub type Code = [u8; 2];

/// Everything one snapshot contains, before encoding.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SnapshotData {
    /// Who built it and when.
    pub identity: Identity,
    /// Inputs that live outside the database.
    pub inputs: Inputs,
    /// Selection settings every edge must share.
    pub policy: Policy,
    /// Exported hosts (any order; the builder orders them by id).
    pub hosts: Vec<Host>,
    /// Categories: name and topdir.
    pub categories: Vec<Category>,
    /// Exported directories (any order; the builder sorts them by name).
    pub directories: Vec<Directory>,
    /// Repo map entries.
    pub repositories: Vec<RepoEntry>,
    /// Repository redirects: from-prefix → to-prefix.
    pub redirects: Vec<(String, String)>,
    /// Disabled repository prefixes.
    pub disabled: Vec<String>,
    /// Netblock → country overrides.
    pub netblock_countries: Vec<(Prefix, Code)>,
    /// Effective country → continent table (overrides already applied).
    pub continents: Vec<(Code, Code)>,
    /// The global prefix → origin ASN table, IPv4 and IPv6.
    pub prefix_asn: Vec<(Prefix, u32)>,
}

/// Snapshot identity (data-model.md §10).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Identity {
    /// Strictly increasing per installation.
    pub version: u64,
    /// Unix seconds, UTC.
    pub created_at: i64,
    /// `meta.generation` read by the build (0 for an inventory build).
    pub source_generation: u64,
    /// UUID of the control plane installation.
    pub installation_id: [u8; 16],
    /// Name of the software that built it.
    pub producer_name: String,
    /// Its version.
    pub producer_version: String,
}

/// Inputs outside the database (data-model.md §10).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Inputs {
    /// Source label of the prefix→ASN table (empty when none).
    pub asn_source: String,
    /// When the table was imported, Unix seconds (0 when unknown).
    pub asn_imported_at: i64,
    /// SHA-256 (hex) of the table's normalised text (empty when no table).
    pub asn_sha256: String,
    /// `builtin-<revision>` or the SHA-256 of a configured CSV.
    pub continents_source: String,
    /// GeoIP database type the control plane expects (e.g. `GeoLite2-Country`).
    pub geoip_type: Option<String>,
    /// Its build epoch.
    pub geoip_build_epoch: Option<u64>,
    /// SHA-256 (hex) of the reference GeoIP file.
    pub geoip_sha256: Option<String>,
}

/// Selection policy carried to every edge (edge-protocol.md §0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Fewer usable hosts than this appends the global list (0 never does).
    pub min_mirrors: u32,
    /// Hosts after this position are cut (0 = no limit).
    pub max_hosts: u32,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            min_mirrors: 5,
            max_hosts: 100,
        }
    }
}

/// One exported host (data-model.md §9, "Hosts").
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Host {
    /// Database id (or the inventory numbering).
    pub id: u64,
    /// Host name (label).
    pub name: String,
    /// Country, upper-case.
    pub country: Code,
    /// Bandwidth in Mbit/s; the builder clamps it to 1..=10,000.
    pub bandwidth: u32,
    /// Advice to clients.
    pub max_connections: u32,
    /// `host.private ∨ site.private`.
    pub private: bool,
    /// The host's own ASN, present only when `asn_clients` is on.
    pub asn: Option<u32>,
    /// Further ASes whose clients get this host.
    pub peer_asns: Vec<u32>,
    /// Empty = unrestricted.
    pub allowed_countries: Vec<Code>,
    /// Client networks that get this host first.
    pub netblocks: Vec<Prefix>,
    /// Host categories with at least one public URL.
    pub categories: Vec<HostCategory>,
}

/// A host's public URLs for one category.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostCategory {
    /// Category name.
    pub category: String,
    /// Public URLs in position order.
    pub urls: Vec<HostUrl>,
}

/// One base URL of a host category.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostUrl {
    /// Absolute URL of the category topdir on the host, without trailing `/`.
    pub url: String,
    /// Reachable over IPv4 at the last crawl (`None` = unknown).
    pub ipv4: Option<bool>,
    /// Reachable over IPv6 at the last crawl (`None` = unknown).
    pub ipv6: Option<bool>,
}

/// A category: its name and topdir.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Category {
    /// Category name.
    pub name: String,
    /// Root of the category on every mirror, e.g. `pub/fedora/linux`.
    pub topdir: String,
}

/// One exported directory.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Directory {
    /// Full path below the master root.
    pub name: String,
    /// The category that serves it (longest linked topdir).
    pub category: String,
    /// Ids of the hosts that carry it (any order).
    pub carriers: Vec<u64>,
    /// File details, by file name.
    pub files: Vec<FileDetails>,
}

/// The history of one file in one directory.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileDetails {
    /// File name, e.g. `repomd.xml`.
    pub name: String,
    /// Newest first: the current version, then alternates.
    pub versions: Vec<FileVersion>,
}

/// One version of a file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileVersion {
    /// Content time (0 = unknown).
    pub timestamp: i64,
    /// Bytes (0 = unknown).
    pub size: u64,
    /// Lower-case hex digests.
    pub md5: Option<String>,
    /// SHA-1.
    pub sha1: Option<String>,
    /// SHA-256.
    pub sha256: Option<String>,
    /// SHA-512.
    pub sha512: Option<String>,
}

/// One repo map entry: (prefix, arch) → directory.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct RepoEntry {
    /// dnf `repo=` value.
    pub prefix: String,
    /// Architecture name.
    pub arch: String,
    /// The repository directory (parent of `repodata`).
    pub directory: String,
}
