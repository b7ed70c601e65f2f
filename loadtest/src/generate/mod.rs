//! `generate`: a deterministic, Fedora-scale [`SnapshotData`].
//!
//! Shape (defaults): 700 hosts (300 private) in ~100 countries; three categories
//! (Fedora Linux, Fedora EPEL, Fedora Archive); ~30,000 directories laid out like
//! the Fedora master tree (releases, updates, updates/testing, rawhide, EPEL,
//! archived releases and their `Packages/<letter>` subdirectories), repositories
//! for every release/arch, `repomd.xml` file details with 2–3 versions in every
//! `repodata` directory; ~60,000 host netblocks (mostly on private hosts), peer
//! ASNs, a few allowed-country lists, and a ~1,000,000-entry prefix→ASN table
//! (90 % IPv4 /8–/24 with nested more-specifics, 10 % IPv6).
//!
//! Carriage follows how mirrors really sync: a host carries whole trees
//! (release × arch × debug/source), "complete" mirrors carry everything
//! including updates/testing and the archive, partial mirrors exclude arches,
//! debug or source trees and sometimes lag on an updates tree. So most public
//! hosts carry most directories (millions of pairs) while the distinct carrier
//! lists stay few, as in the real data.
//!
//! By construction the first and the last directory of the sorted list
//! (`pub/archive…` and `pub/fedora/linux/updates/testing/<newest>/…/x86_64/repodata`)
//! have the same carriers (the complete mirrors), so the E81 first-vs-last
//! comparison differs only in the directory's position.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use mirrorfleet_snapshot::countries::{self, COUNTRIES};
use mirrorfleet_snapshot::model::{
    Category, Code, Directory, Identity, Inputs, Policy, SnapshotData,
};
use mirrorfleet_snapshot::net::Prefix;
use sha2::{Digest, Sha256};

use crate::plan::{self, Plan};
use crate::rng::Rng;

mod asn;
mod hosts;
mod inventory;
mod master;
mod tree;

use self::asn::AsnTable;
use self::hosts::make_hosts;
pub use self::inventory::inventory;
pub use self::master::{TreeParams, write_master_tree};
use self::tree::{Group, make_repos, make_tree, repomd};

/// What to generate.
#[derive(Clone, Debug)]
pub struct Params {
    /// Dataset seed.
    pub seed: u64,
    /// Exported hosts.
    pub hosts: usize,
    /// Of which private.
    pub private: usize,
    /// Exported directories (exact).
    pub directories: usize,
    /// prefix→ASN entries (IPv4 + IPv6, exact).
    pub asn_prefixes: usize,
    /// (host, prefix) netblock pairs (exact).
    pub netblocks: usize,
    /// Snapshot version.
    pub version: u64,
    /// Snapshot creation time (Unix seconds).
    pub created_at: i64,
}

/// Category names and topdirs.
pub const FEDORA: &str = "Fedora Linux";
/// EPEL.
pub const EPEL: &str = "Fedora EPEL";
/// Archive.
pub const ARCHIVE: &str = "Fedora Archive";
const CATEGORIES: [(&str, &str); 3] = [
    (FEDORA, "pub/fedora/linux"),
    (EPEL, "pub/epel"),
    (ARCHIVE, "pub/archive"),
];
const CAT_FEDORA: u8 = 0;
const CAT_EPEL: u8 = 1;
const CAT_ARCHIVE: u8 = 2;

/// Current Fedora releases (the last is the newest), and rawhide's number.
pub const RELEASES: [u32; 3] = [41, 42, 43];
const RAWHIDE: u32 = 44;
/// Current EPEL versions.
const EPEL_VERSIONS: [&str; 4] = ["8", "9", "10.0", "10.1"];
/// Current primary arches.
pub const ARCHES: [&str; 4] = ["aarch64", "ppc64le", "s390x", "x86_64"];
const A_X86: u8 = 3;
const ALL: u8 = 255;
const SOURCE: u8 = 254;
const VARIANTS_ISO: [&str; 10] = [
    "Cloud",
    "Container",
    "KDE",
    "Kinoite",
    "Labs",
    "Sericea",
    "Silverblue",
    "Spins",
    "Workstation",
    "IoT",
];
const LETTERS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// Progress and summary of one generation.
#[derive(Debug, Default)]
pub struct Summary {
    /// IPv4 / IPv6 prefix→ASN entries.
    pub asn_v4: usize,
    /// IPv6 entries.
    pub asn_v6: usize,
    /// Directories before trimming the filler to the requested count.
    pub directories_available: usize,
    /// Distinct carrier lists.
    pub carrier_groups: usize,
    /// Archived releases included.
    pub archived_releases: usize,
}

/// Generates the logical snapshot. `progress` receives one line per phase.
pub fn generate(
    p: &Params,
    plan: &Plan,
    progress: &mut dyn FnMut(&str),
) -> anyhow::Result<(SnapshotData, Summary)> {
    anyhow::ensure!(
        p.private <= p.hosts,
        "--private ({}) exceeds --hosts ({})",
        p.private,
        p.hosts
    );
    anyhow::ensure!(p.hosts >= 1, "--hosts must be at least 1");
    let mut summary = Summary::default();

    progress(&format!("prefix→ASN table: {} entries …", p.asn_prefixes));
    let table = AsnTable::generate(p, plan);
    summary.asn_v4 = table.v4.len();
    summary.asn_v6 = table.v6.len();

    progress(&format!(
        "hosts: {} ({} private), {} netblock pairs …",
        p.hosts, p.private, p.netblocks
    ));
    let (hosts, profiles) = make_hosts(p, plan, &table);

    progress(&format!("directories: {} …", p.directories));
    let tree = make_tree(p.directories, &mut summary)?;

    progress("carriers, file details, repositories …");
    let mut carrier_cache: HashMap<Group, Vec<u64>> = HashMap::new();
    let mut rng = Rng::derive(p.seed, "files");
    let mut directories = Vec::with_capacity(tree.len());
    for d in &tree {
        let carriers = carrier_cache
            .entry(d.group)
            .or_insert_with(|| {
                hosts
                    .iter()
                    .zip(&profiles)
                    .filter(|(_, pr)| pr.carries(&d.group))
                    .map(|(h, _)| h.id)
                    .collect()
            })
            .clone();
        let files = if d.repomd {
            vec![repomd(&mut rng, p.created_at)]
        } else {
            Vec::new()
        };
        directories.push(Directory {
            name: d.name.clone(),
            category: CATEGORIES[usize::from(d.group.cat)].0.to_string(),
            carriers,
            files,
        });
    }
    summary.carrier_groups = carrier_cache.len();
    let names: HashSet<&str> = tree.iter().map(|d| d.name.as_str()).collect();
    let repositories = make_repos(&names);

    let mut asn_text = String::new();
    let mut prefix_asn = Vec::with_capacity(table.v4.len() + table.v6.len());
    for &(a, l, asn) in &table.v4 {
        let prefix = Prefix::new(IpAddr::V4(Ipv4Addr::from(a)), l).expect("canonical");
        prefix_asn.push((prefix, asn));
    }
    for &(a, l, asn) in &table.v6 {
        let prefix = Prefix::new(IpAddr::V6(Ipv6Addr::from(a)), l).expect("canonical");
        prefix_asn.push((prefix, asn));
    }
    for (prefix, asn) in &prefix_asn {
        use std::fmt::Write;
        let _ = writeln!(asn_text, "{prefix} {asn}");
    }
    let mut id_hash = Sha256::new();
    id_hash.update(b"mirrorfleet-loadtest/installation/");
    id_hash.update(p.seed.to_be_bytes());
    let id_digest = id_hash.finalize();
    let mut installation_id = [0u8; 16];
    installation_id.copy_from_slice(&id_digest[..16]);

    let data = SnapshotData {
        identity: Identity {
            version: p.version,
            created_at: p.created_at,
            source_generation: 0,
            installation_id,
            producer_name: "mirrorfleet-loadtest".into(),
            producer_version: env!("CARGO_PKG_VERSION").into(),
        },
        inputs: Inputs {
            asn_source: format!("mirrorfleet-loadtest synthetic table (seed {})", p.seed),
            asn_imported_at: p.created_at,
            asn_sha256: hex(&Sha256::digest(asn_text.as_bytes())),
            continents_source: countries::BUILTIN_REVISION.into(),
            geoip_type: Some(plan::GEOIP_TYPE.into()),
            geoip_build_epoch: Some(plan::GEOIP_BUILD_EPOCH),
            geoip_sha256: None,
        },
        policy: Policy::default(),
        hosts,
        categories: CATEGORIES
            .iter()
            .map(|&(name, topdir)| Category {
                name: name.into(),
                topdir: topdir.into(),
            })
            .collect(),
        directories,
        repositories,
        redirects: vec![
            ("epel-10".into(), "epel-10.1".into()),
            ("epel-testing-10".into(), "epel-testing-10.1".into()),
            ("fedora-rawhide".into(), "rawhide".into()),
        ],
        disabled: vec![
            "fedora-modular-39".into(),
            "updates-released-modular-f39".into(),
            "epel-modular-8".into(),
        ],
        netblock_countries: Vec::new(),
        continents: COUNTRIES
            .iter()
            .map(|c| (code(c.code), code(c.continent)))
            .collect(),
        prefix_asn,
    };
    Ok((data, summary))
}

fn code(s: &str) -> Code {
    let b = s.as_bytes();
    [b[0], b[1]]
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> Params {
        Params {
            seed: 7,
            hosts: 60,
            private: 20,
            directories: 3_000,
            asn_prefixes: 20_000,
            netblocks: 500,
            version: 3,
            created_at: 1_767_225_600,
        }
    }

    #[test]
    fn small_dataset_builds_and_is_deterministic() {
        let plan = Plan::new();
        let (a, _) = generate(&small(), &plan, &mut |_| {}).unwrap();
        let (b, _) = generate(&small(), &plan, &mut |_| {}).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.directories.len(), 3_000);
        assert_eq!(a.prefix_asn.len(), 20_000);
        let pairs: usize = a.hosts.iter().map(|h| h.netblocks.len()).sum();
        assert_eq!(pairs, 500);
        let bytes = mirrorfleet_snapshot::build(&a).unwrap();
        let snap = mirrorfleet_snapshot::Snapshot::from_bytes(bytes).unwrap();
        assert_eq!(snap.payload().counts.directories.to_native(), 3_000);
        // E81 layout: the first and the last directory have the same carriers.
        let dirs = &snap.payload().directories;
        let first = &dirs[0];
        let last = &dirs[dirs.len() - 1];
        assert!(
            last.name
                .as_str()
                .starts_with("pub/fedora/linux/updates/testing/43/"),
            "{}",
            last.name.as_str()
        );
        assert_eq!(
            snap.host_list(&first.by_host),
            snap.host_list(&last.by_host)
        );
    }
}
