//! A snapshot ready to serve: the validated file plus the indexes built from
//! it at load time, off the request path, before the swap (E79, E81).
//!
//! Host netblocks and netblock→country overrides go into prefix tries
//! (`ip_network_table`); the prefix→ASN table is already an interval index
//! inside the snapshot, so it costs nothing here.

use std::net::IpAddr;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, SystemTime};

use ip_network::IpNetwork;
use ip_network_table::IpNetworkTable;
use mirrorfleet_snapshot::Snapshot;
use mirrorfleet_snapshot::net::Prefix;
use mirrorfleet_snapshot::read::prefix_of;

/// A snapshot and its load-time indexes.
pub struct Loaded {
    /// The validated snapshot.
    pub snap: Snapshot,
    /// Host netblock trie: network → index into `payload().netblocks`.
    netblocks: IpNetworkTable<u32>,
    /// Netblock→country override trie.
    overrides: IpNetworkTable<[u8; 2]>,
    /// The E35 "following repositories are available" lines, rendered once.
    pub available: String,
    /// Prefixes known to the repo map or the disabled list, sorted (E70 keys).
    prefixes: Vec<String>,
    /// Arch names of the repo map, sorted (E70 keys).
    arches: Vec<String>,
    /// `<dir>/repodata` names of repositories without an exported repodata child.
    repodata_names: Vec<(u32, String)>,
    /// When it was swapped in.
    pub loaded_at: SystemTime,
    /// Open → ready to swap.
    pub load_duration: Duration,
    /// Serial of the last manifest naming it (store mode; raised when a newer manifest names
    /// the same snapshot), 0 in file mode.
    pub manifest_serial: AtomicU64,
    /// The E56 key K for this snapshot.
    pub key: [u8; 32],
    /// Country → continent as a 26×26 table (zero = none): one index per look-up
    /// instead of a binary search, on every by-country group of a continent tier.
    continents: Vec<[u8; 2]>,
}

fn code_index(cc: [u8; 2]) -> Option<usize> {
    let [a, b] = cc;
    (a.is_ascii_uppercase() && b.is_ascii_uppercase())
        .then(|| usize::from(a - b'A') * 26 + usize::from(b - b'A'))
}

fn network(p: Prefix) -> Option<IpNetwork> {
    IpNetwork::new(p.addr(), p.len()).ok()
}

impl Loaded {
    /// Builds the indexes of a validated snapshot. `started` is when loading began.
    pub fn new(
        snap: Snapshot,
        started: std::time::Instant,
        manifest_serial: u64,
        key: [u8; 32],
    ) -> Loaded {
        let p = snap.payload();
        let mut netblocks = IpNetworkTable::new();
        for (i, n) in p.netblocks.iter().enumerate() {
            if let Some(net) = prefix_of(&n.prefix).and_then(network) {
                netblocks.insert(net, i as u32);
            }
        }
        let mut overrides = IpNetworkTable::new();
        for o in p.netblock_countries.iter() {
            if let Some(net) = prefix_of(&o.prefix).and_then(network) {
                overrides.insert(net, o.country);
            }
        }
        let mut available = String::new();
        for r in p.repo_map.iter() {
            available.push_str("# repo=");
            available.push_str(&r.prefix);
            available.push_str("&arch=");
            available.push_str(&r.arch);
            available.push('\n');
        }
        let mut prefixes: Vec<String> = p.repo_map.iter().map(|r| r.prefix.to_string()).collect();
        prefixes.extend(p.disabled.iter().map(|d| d.to_string()));
        prefixes.sort();
        prefixes.dedup();
        let mut arches: Vec<String> = p.repo_map.iter().map(|r| r.arch.to_string()).collect();
        arches.sort();
        arches.dedup();
        let mut repodata_names: Vec<(u32, String)> = p
            .repo_map
            .iter()
            .filter(|r| r.repodata.to_native() == mirrorfleet_snapshot::schema::NONE)
            .filter_map(|r| {
                let d = snap.directory(r.dir.to_native())?;
                Some((r.dir.to_native(), format!("{}/repodata", d.name)))
            })
            .collect();
        repodata_names.sort();
        repodata_names.dedup();
        let mut continents = vec![[0u8; 2]; 26 * 26];
        for c in p.continents.iter() {
            if let Some(i) = code_index(c.country) {
                continents[i] = c.continent;
            }
        }
        Loaded {
            continents,
            prefixes,
            arches,
            repodata_names,
            snap,
            netblocks,
            overrides,
            available,
            loaded_at: SystemTime::now(),
            load_duration: started.elapsed(),
            manifest_serial: AtomicU64::new(manifest_serial),
            key,
        }
    }

    /// The continent of a country (E38), from the snapshot's table.
    pub fn continent_of(&self, country: [u8; 2]) -> Option<[u8; 2]> {
        let c = *self.continents.get(code_index(country)?)?;
        (c != [0, 0]).then_some(c)
    }

    /// The snapshot's own copy of a repo prefix, when the repo map or the
    /// disabled list knows it.
    pub fn known_prefix(&self, prefix: &str) -> Option<&str> {
        let i = self
            .prefixes
            .binary_search_by(|p| p.as_str().cmp(prefix))
            .ok()?;
        Some(&self.prefixes[i])
    }

    /// The snapshot's own copy of an arch name of the repo map.
    pub fn known_arch(&self, arch: &str) -> Option<&str> {
        let i = self
            .arches
            .binary_search_by(|a| a.as_str().cmp(arch))
            .ok()?;
        Some(&self.arches[i])
    }

    /// `<dir>/repodata` of a repository directory that has no exported repodata child.
    pub fn repodata_name(&self, dir: u32) -> &str {
        match self.repodata_names.binary_search_by(|(d, _)| d.cmp(&dir)) {
            Ok(i) => &self.repodata_names[i].1,
            Err(_) => "",
        }
    }

    /// Every host netblock containing `ip`: (prefix, index into `payload().netblocks`).
    pub fn netblock_matches(&self, ip: IpAddr) -> impl Iterator<Item = (u8, u32)> + '_ {
        self.netblocks
            .matches(ip)
            .map(|(net, &i)| (net.netmask(), i))
    }

    /// The longest netblock→country override containing `ip`.
    pub fn override_country(&self, ip: IpAddr) -> Option<([u8; 2], u8)> {
        self.overrides
            .longest_match(ip)
            .map(|(net, &cc)| (cc, net.netmask()))
    }
}
