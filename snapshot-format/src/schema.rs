//! The rkyv payload of format version 1: the byte layout of data-model.md §10.
//!
//! Everything is an array indexed by `u32`. Hosts are sorted by id, so a host
//! index order is host id order. Per-directory host lists (by_host, global,
//! by_country) are [`Span`]s into the shared pools `host_lists` and
//! `country_groups`; identical lists are stored once, which keeps a
//! Fedora-scale snapshot small (most directories of a category share their
//! carriers). Look-ups by key use sorted arrays and binary search.
//!
//! Any change here is a new format version (ARCHITECTURE.md).

use rkyv::{Archive, Deserialize, Serialize};

/// A range `start .. start + len` into one of the pools.
#[derive(Archive, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Span {
    /// First index.
    pub start: u32,
    /// Number of elements.
    pub len: u32,
}

/// "No entry" in index fields.
pub const NONE: u32 = u32::MAX;

/// The root of the archive.
#[derive(Archive, Serialize, Deserialize, Debug, Default)]
pub struct Payload {
    /// Identity (data-model.md §10).
    pub identity: IdentityRec,
    /// Inputs outside the database.
    pub inputs: InputsRec,
    /// min_mirrors, max_hosts.
    pub policy: PolicyRec,
    /// Sizes, for guard rails and `snapshot inspect`.
    pub counts: Counts,
    /// Exported hosts, sorted by id.
    pub hosts: Vec<HostRec>,
    /// Categories, sorted by name.
    pub categories: Vec<CategoryRec>,
    /// Exported directories, sorted by name (byte-wise).
    pub directories: Vec<DirRec>,
    /// Pool of host indices that directory and map spans point into.
    pub host_lists: Vec<u32>,
    /// Pool of by-country groups that directory spans point into.
    pub country_groups: Vec<CountryGroup>,
    /// File details, sorted by (directory index, name).
    pub files: Vec<FileRec>,
    /// File versions; each file's span is newest first.
    pub versions: Vec<VersionRec>,
    /// Repo map, sorted by (prefix, arch); keys unique.
    pub repo_map: Vec<RepoRec>,
    /// Redirects, sorted by `from`.
    pub redirects: Vec<RedirectRec>,
    /// Disabled prefixes, sorted, unique.
    pub disabled: Vec<String>,
    /// Host netblock map, sorted by prefix; unique.
    pub netblocks: Vec<NetblockRec>,
    /// ASN → hosts, sorted by ASN; unique.
    pub asn_map: Vec<AsnRec>,
    /// Netblock → country overrides, sorted by prefix; unique.
    pub netblock_countries: Vec<NetCountryRec>,
    /// Country → continent (effective), sorted by country.
    pub continents: Vec<ContinentRec>,
    /// IPv4 prefix → ASN table, canonical, sorted by (address, length).
    pub asn_v4: Vec<Asn4Rec>,
    /// Disjoint IPv4 address intervals: the longest matching entry of each.
    pub asn_v4_spans: Vec<Span4Rec>,
    /// IPv6 prefix → ASN table, canonical, sorted by (address, length).
    pub asn_v6: Vec<Asn6Rec>,
    /// Disjoint IPv6 address intervals.
    pub asn_v6_spans: Vec<Span6Rec>,
}

/// Snapshot identity.
#[derive(Archive, Serialize, Deserialize, Debug, Default)]
pub struct IdentityRec {
    /// Snapshot version.
    pub version: u64,
    /// Unix seconds.
    pub created_at: i64,
    /// `meta.generation` read by the build.
    pub source_generation: u64,
    /// Installation UUID bytes.
    pub installation_id: [u8; 16],
    /// Producer name.
    pub producer_name: String,
    /// Producer software version.
    pub producer_version: String,
}

/// Inputs outside the database.
#[derive(Archive, Serialize, Deserialize, Debug, Default)]
pub struct InputsRec {
    /// prefix→ASN source label.
    pub asn_source: String,
    /// Its import time (Unix seconds).
    pub asn_imported_at: i64,
    /// SHA-256 of its normalised text.
    pub asn_sha256: String,
    /// IPv4 entries.
    pub asn_entries_v4: u64,
    /// IPv6 entries.
    pub asn_entries_v6: u64,
    /// Country→continent table identity.
    pub continents_source: String,
    /// Expected GeoIP database type.
    pub geoip_type: Option<String>,
    /// Its build epoch.
    pub geoip_build_epoch: Option<u64>,
    /// Its SHA-256.
    pub geoip_sha256: Option<String>,
}

/// Selection policy.
#[derive(Archive, Serialize, Deserialize, Debug, Default, Clone, Copy)]
pub struct PolicyRec {
    /// See [`crate::model::Policy`].
    pub min_mirrors: u32,
    /// See [`crate::model::Policy`].
    pub max_hosts: u32,
}

/// The data-model.md §10 counts.
#[derive(Archive, Serialize, Deserialize, Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Exported hosts.
    pub hosts: u64,
    /// Exported hosts that are not private.
    pub public_hosts: u64,
    /// Exported directories.
    pub directories: u64,
    /// Carried (host, directory) pairs.
    pub carried_pairs: u64,
    /// Repo map entries.
    pub repo_map_entries: u64,
    /// File-detail rows.
    pub file_details: u64,
    /// (host, prefix) pairs of the netblock map.
    pub netblocks: u64,
    /// (ASN, host) pairs.
    pub asn_map_entries: u64,
    /// IPv4 plus IPv6 prefix→ASN entries.
    pub prefix_asn_entries: u64,
}

impl ArchivedCounts {
    /// The counts under their data-model.md §10 names, in that order: the one list
    /// `snapshot inspect`, the publisher and the edge's `/snapshot` print.
    pub fn named(&self) -> [(&'static str, u64); 9] {
        [
            ("hosts", self.hosts.to_native()),
            ("public_hosts", self.public_hosts.to_native()),
            ("directories", self.directories.to_native()),
            ("carried_pairs", self.carried_pairs.to_native()),
            ("repo_map_entries", self.repo_map_entries.to_native()),
            ("file_details", self.file_details.to_native()),
            ("netblocks", self.netblocks.to_native()),
            ("asn_map_entries", self.asn_map_entries.to_native()),
            ("prefix_asn_entries", self.prefix_asn_entries.to_native()),
        ]
    }
}

/// URL scheme codes stored in [`UrlRec::scheme`].
pub mod scheme {
    /// `http`
    pub const HTTP: u8 = 1;
    /// `https`
    pub const HTTPS: u8 = 2;
    /// `ftp`
    pub const FTP: u8 = 3;
    /// `rsync`
    pub const RSYNC: u8 = 4;

    /// The code of a URL's scheme (text before the first `:`), if served.
    pub fn of_url(url: &str) -> Option<u8> {
        match url.split_once(':')?.0 {
            "http" => Some(HTTP),
            "https" => Some(HTTPS),
            "ftp" => Some(FTP),
            "rsync" => Some(RSYNC),
            _ => None,
        }
    }
}

/// Tri-state family flag: 0 unknown, 1 false, 2 true.
pub mod family {
    /// Unknown: allows the family.
    pub const UNKNOWN: u8 = 0;
    /// Known unreachable over the family.
    pub const NO: u8 = 1;
    /// Known reachable.
    pub const YES: u8 = 2;

    /// Encodes an optional flag.
    pub fn encode(v: Option<bool>) -> u8 {
        match v {
            None => UNKNOWN,
            Some(false) => NO,
            Some(true) => YES,
        }
    }
}

/// One exported host.
#[derive(Archive, Serialize, Deserialize, Debug, Default)]
pub struct HostRec {
    /// Database id.
    pub id: u64,
    /// Host name.
    pub name: String,
    /// Upper-case country code.
    pub country: [u8; 2],
    /// Clamped bandwidth, 1..=10,000.
    pub bandwidth: u32,
    /// Advice to clients.
    pub max_connections: u32,
    /// Private host.
    pub private: bool,
    /// Own ASN (only when asn_clients).
    pub asn: Option<u32>,
    /// Peer ASNs, sorted, unique.
    pub peer_asns: Vec<u32>,
    /// Allowed countries, sorted, unique; empty = unrestricted.
    pub allowed_countries: Vec<[u8; 2]>,
    /// Netblocks, sorted, unique.
    pub netblocks: Vec<NetRec>,
    /// Host categories, sorted by category index, unique.
    pub categories: Vec<HostCatRec>,
}

/// A host's URLs for one category.
#[derive(Archive, Serialize, Deserialize, Debug, Default)]
pub struct HostCatRec {
    /// Category index.
    pub category: u32,
    /// Public URLs in position order (at least one).
    pub urls: Vec<UrlRec>,
}

/// One base URL.
#[derive(Archive, Serialize, Deserialize, Debug, Default)]
pub struct UrlRec {
    /// Absolute URL of the category topdir on the host.
    pub url: String,
    /// [`scheme`] code.
    pub scheme: u8,
    /// [`family`] flag for IPv4.
    pub ipv4: u8,
    /// [`family`] flag for IPv6.
    pub ipv6: u8,
}

/// A network: 16 address bytes (IPv4 as `::ffff:a.b.c.d`), length, family.
#[derive(
    Archive, Serialize, Deserialize, Debug, Default, Clone, Copy, PartialEq, Eq, PartialOrd, Ord,
)]
pub struct NetRec {
    /// Address bytes.
    pub addr: [u8; 16],
    /// Prefix length.
    pub len: u8,
    /// IPv4 network.
    pub v4: bool,
}

/// A category.
#[derive(Archive, Serialize, Deserialize, Debug, Default)]
pub struct CategoryRec {
    /// Name.
    pub name: String,
    /// Topdir.
    pub topdir: String,
}

/// One exported directory.
#[derive(Archive, Serialize, Deserialize, Debug, Default)]
pub struct DirRec {
    /// Full name below the master root.
    pub name: String,
    /// Category index.
    pub category: u32,
    /// Byte offset in `name` where the subpath starts (`name.len()` for the topdir).
    pub subpath_offset: u32,
    /// Hosts carrying it, in `host_lists`, ascending.
    pub by_host: Span,
    /// Public carriers, in `host_lists`, ascending.
    pub global: Span,
    /// By-country groups, in `country_groups`, sorted by country.
    pub by_country: Span,
    /// File details, in `files`, sorted by name.
    pub files: Span,
}

/// The public carriers of one country for one directory.
#[derive(Archive, Serialize, Deserialize, Debug, Default, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CountryGroup {
    /// Upper-case country code.
    pub country: [u8; 2],
    /// Host indices in `host_lists`, ascending.
    pub hosts: Span,
}

/// One file's history.
#[derive(Archive, Serialize, Deserialize, Debug, Default)]
pub struct FileRec {
    /// Directory index.
    pub dir: u32,
    /// File name.
    pub name: String,
    /// Versions in `versions`, newest first; at least one.
    pub versions: Span,
}

/// One version of a file.
#[derive(Archive, Serialize, Deserialize, Debug, Default)]
pub struct VersionRec {
    /// Content time (0 = unknown).
    pub timestamp: i64,
    /// Bytes (0 = unknown).
    pub size: u64,
    /// Lower-case hex.
    pub md5: Option<String>,
    /// Lower-case hex.
    pub sha1: Option<String>,
    /// Lower-case hex.
    pub sha256: Option<String>,
    /// Lower-case hex.
    pub sha512: Option<String>,
}

/// One repo map entry.
#[derive(Archive, Serialize, Deserialize, Debug, Default)]
pub struct RepoRec {
    /// `repo=` prefix.
    pub prefix: String,
    /// Arch name.
    pub arch: String,
    /// Directory index of the repository.
    pub dir: u32,
    /// Directory index of its `repodata` child (itself when it is one), or [`NONE`].
    pub repodata: u32,
}

/// A repository redirect.
#[derive(Archive, Serialize, Deserialize, Debug, Default)]
pub struct RedirectRec {
    /// Asked prefix.
    pub from: String,
    /// Used prefix.
    pub to: String,
}

/// A host netblock and the hosts under it.
#[derive(Archive, Serialize, Deserialize, Debug, Default)]
pub struct NetblockRec {
    /// The network.
    pub prefix: NetRec,
    /// Host indices in `host_lists`, ascending.
    pub hosts: Span,
}

/// An ASN and its hosts.
#[derive(Archive, Serialize, Deserialize, Debug, Default)]
pub struct AsnRec {
    /// AS number.
    pub asn: u32,
    /// Host indices in `host_lists`, ascending.
    pub hosts: Span,
}

/// A netblock → country override.
#[derive(Archive, Serialize, Deserialize, Debug, Default)]
pub struct NetCountryRec {
    /// The network.
    pub prefix: NetRec,
    /// Upper-case country code.
    pub country: [u8; 2],
}

/// Country → continent.
#[derive(Archive, Serialize, Deserialize, Debug, Default)]
pub struct ContinentRec {
    /// Country code.
    pub country: [u8; 2],
    /// Continent code.
    pub continent: [u8; 2],
}

/// An IPv4 prefix → ASN entry.
#[derive(Archive, Serialize, Deserialize, Debug, Default)]
pub struct Asn4Rec {
    /// Network address.
    pub addr: u32,
    /// Prefix length, 1..=32.
    pub len: u8,
    /// Origin AS.
    pub asn: u32,
}

/// An IPv4 interval: from `start` up to the next interval's start.
#[derive(Archive, Serialize, Deserialize, Debug, Default)]
pub struct Span4Rec {
    /// First address.
    pub start: u32,
    /// Index into `asn_v4`, or [`NONE`].
    pub entry: u32,
}

/// An IPv6 prefix → ASN entry.
#[derive(Archive, Serialize, Deserialize, Debug, Default)]
pub struct Asn6Rec {
    /// High 64 bits of the network address.
    pub hi: u64,
    /// Low 64 bits.
    pub lo: u64,
    /// Prefix length, 1..=128.
    pub len: u8,
    /// Origin AS.
    pub asn: u32,
}

/// An IPv6 interval.
#[derive(Archive, Serialize, Deserialize, Debug, Default)]
pub struct Span6Rec {
    /// High 64 bits of the first address.
    pub hi: u64,
    /// Low 64 bits.
    pub lo: u64,
    /// Index into `asn_v6`, or [`NONE`].
    pub entry: u32,
}
