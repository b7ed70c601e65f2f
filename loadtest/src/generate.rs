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

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use mirrorfleet_snapshot::countries::{self, COUNTRIES};
use mirrorfleet_snapshot::model::{
    Category, Code, Directory, FileDetails, FileVersion, Host, HostCategory, HostUrl, Identity,
    Inputs, Policy, RepoEntry, SnapshotData,
};
use mirrorfleet_snapshot::net::Prefix;
use sha2::{Digest, Sha256};

use crate::plan::{self, Plan};
use crate::rng::{Rng, Weighted};

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

/// What decides whether a host carries a directory. Directories with the same
/// group share one carrier list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Kind {
    /// Every host with the category (topdirs and intermediate directories).
    Top,
    /// A current release tree.
    Release,
    /// An updates tree (may lag).
    Updates,
    /// updates/testing: complete mirrors only.
    Testing,
    /// rawhide.
    Rawhide,
    /// A current EPEL version.
    Epel,
    /// EPEL testing: complete mirrors only.
    EpelTesting,
    /// Anything under pub/archive: the archive hosts (= complete mirrors).
    Archive,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Group {
    cat: u8,
    kind: Kind,
    /// Index into RELEASES / EPEL_VERSIONS.
    rel: u8,
    /// Index into ARCHES, or ALL, or SOURCE.
    arch: u8,
    debug: bool,
}

impl Group {
    fn top(cat: u8) -> Group {
        Group {
            cat,
            kind: Kind::Top,
            rel: 0,
            arch: ALL,
            debug: false,
        }
    }
}

/// How a host syncs (never exported; decides carriage).
#[derive(Clone, Debug)]
struct Profile {
    complete: bool,
    fedora: bool,
    epel: bool,
    archive: bool,
    arches: [bool; 4],
    debug: bool,
    source: bool,
    releases: [bool; 3],
    lagging: [bool; 3],
    rawhide: bool,
    epel_versions: [bool; 4],
}

impl Profile {
    fn carries(&self, g: &Group) -> bool {
        let arch_ok = match g.arch {
            ALL => true,
            SOURCE => self.source,
            a => self.arches[usize::from(a)],
        };
        let debug_ok = !g.debug || self.debug;
        let r = usize::from(g.rel);
        match g.kind {
            Kind::Top => match g.cat {
                CAT_FEDORA => self.fedora,
                CAT_EPEL => self.epel,
                _ => self.archive,
            },
            Kind::Release => self.fedora && self.releases[r] && arch_ok && debug_ok,
            Kind::Updates => {
                self.fedora && self.releases[r] && arch_ok && debug_ok && !self.lagging[r]
            }
            Kind::Testing => self.fedora && self.complete,
            Kind::Rawhide => self.fedora && self.rawhide && arch_ok && debug_ok,
            Kind::Epel => self.epel && self.epel_versions[r] && arch_ok && debug_ok,
            Kind::EpelTesting => self.epel && self.complete,
            Kind::Archive => self.archive,
        }
    }
}

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

// ---------------------------------------------------------------------------------------------
// prefix → ASN
// ---------------------------------------------------------------------------------------------

/// The generated prefix→ASN table, sorted and canonical.
pub struct AsnTable {
    /// (address, length, ASN), sorted by (address, length), unique.
    pub v4: Vec<(u32, u8, u32)>,
    /// IPv6 likewise.
    pub v6: Vec<(u128, u8, u32)>,
    /// The ASN pool, most prefixes first.
    asns: Vec<u32>,
    zipf: Weighted,
}

fn mask32(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len))
    }
}

fn mask128(len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(len))
    }
}

/// Expected entries of one fragmented node of length `l` (see `fragment`).
fn expected_fragment(l: u8, q: f64) -> f64 {
    if l >= 24 {
        return 0.9;
    }
    q * 2.0 * expected_fragment(l + 1, q) + (1.0 - q) * 0.92 * 1.3
}

impl AsnTable {
    fn generate(p: &Params, plan: &Plan) -> AsnTable {
        let mut rng = Rng::derive(p.seed, "asn-pool");
        // ~75,000 ASes: 16-bit public ones and 4-byte ones, unique, in a random order
        // that doubles as size rank (rank 0 originates the most prefixes).
        let mut seen = HashSet::new();
        let mut asns = Vec::new();
        while asns.len() < 75_000 {
            let asn = if rng.chance(0.6) {
                rng.range(1, 64_495) as u32
            } else {
                rng.range(131_072, 401_308) as u32
            };
            if asn != 23_456 && seen.insert(asn) {
                asns.push(asn);
            }
        }
        let zipf = Weighted::zipf(asns.len(), 1.05);
        let mut t = AsnTable {
            v4: Vec::new(),
            v6: Vec::new(),
            asns,
            zipf,
        };
        let want_v6 = p.asn_prefixes / 10;
        let want_v4 = p.asn_prefixes - want_v6;
        t.generate_v4(p, plan, want_v4);
        t.generate_v6(p, want_v6);
        t
    }

    fn random_asn(&self, rng: &mut Rng) -> u32 {
        self.asns[self.zipf.sample(rng)]
    }

    fn generate_v4(&mut self, p: &Params, plan: &Plan, want: usize) {
        let mut rng = Rng::derive(p.seed, "asn-v4");
        let mut out: Vec<(u32, u8, u32)> = Vec::with_capacity(want + 64);
        // Legacy aggregates: a few whole /8s and some /9–/12s, with everything
        // generated below nested inside them.
        let eights: Vec<u32> = (1u32..224)
            .filter(|&a| plan::is_public_16((a << 8) as u16 | 1))
            .collect();
        let mut agg = BTreeSet::new();
        for _ in 0..12 {
            agg.insert((*rng.pick(&eights) << 24, 8u8));
        }
        for _ in 0..48 {
            let len = rng.range(9, 12) as u8;
            let a = (*rng.pick(&eights) << 24) | (rng.next_u64() as u32 & 0x00ff_ffff);
            agg.insert((a & mask32(len), len));
        }
        for (a, l) in agg {
            if out.len() < want {
                out.push((a, l, self.random_asn(&mut rng)));
            }
        }
        // The public /16s in random order; each is unannounced, announced whole
        // (with nested more-specifics), or fragmented into /17–/24s.
        let mut sixteens: Vec<u16> = plan.public_sixteens().map(|(i, _)| i).collect();
        rng.shuffle(&mut sixteens);
        // Fragmentation probability tuned so the expected total is ~3 % above `want`.
        let per16 = want as f64 * 1.03 / sixteens.len() as f64;
        let target_fragment = ((per16 - 0.2 * 6.0) / 0.7).max(0.0);
        let (mut lo, mut hi) = (0.0f64, 1.0f64);
        for _ in 0..50 {
            let mid = (lo + hi) / 2.0;
            if expected_fragment(16, mid) < target_fragment {
                lo = mid
            } else {
                hi = mid
            }
        }
        let q = (lo + hi) / 2.0;
        let mut block: Vec<(u32, u8, u32)> = Vec::new();
        for &i in &sixteens {
            if out.len() >= want {
                break;
            }
            block.clear();
            let base = u32::from(i) << 16;
            let owner = self.random_asn(&mut rng);
            let mode = rng.f64();
            if mode < 0.10 {
                continue;
            } else if mode < 0.30 {
                block.push((base, 16, owner));
                let nested = rng.below(11) as usize;
                for _ in 0..nested {
                    let len = rng.range(19, 24) as u8;
                    let a = (base | (rng.next_u64() as u32 & 0xffff)) & mask32(len);
                    let asn = if rng.chance(0.6) {
                        owner
                    } else {
                        self.random_asn(&mut rng)
                    };
                    block.push((a, len, asn));
                }
            } else {
                self.fragment(&mut rng, base, 16, owner, q, &mut block);
            }
            block.sort_unstable_by_key(|e| (e.0, e.1));
            block.dedup_by_key(|e| (e.0, e.1));
            let room = want - out.len();
            out.extend(block.iter().take(room));
        }
        // Still short (tiny tables or an unlucky draw): nest /24s under what exists.
        let mut keys: HashSet<(u32, u8)> = out.iter().map(|e| (e.0, e.1)).collect();
        let mut guard = 0usize;
        while out.len() < want && guard < want * 20 + 1000 {
            guard += 1;
            let &(a, l, _) = rng.pick(&out);
            if l >= 24 {
                continue;
            }
            let len = rng.range(u64::from(l) + 1, 24) as u8;
            let sub = (a | (rng.next_u64() as u32 & !mask32(l))) & mask32(len);
            if keys.insert((sub, len)) {
                out.push((sub, len, self.random_asn(&mut rng)));
            }
        }
        out.sort_unstable_by_key(|e| (e.0, e.1));
        out.dedup_by_key(|e| (e.0, e.1));
        self.v4 = out;
    }

    /// A /`len` node: split into halves with probability `q`, else announced (92 %),
    /// sometimes with nested /24 more-specifics of other origins.
    fn fragment(
        &self,
        rng: &mut Rng,
        base: u32,
        len: u8,
        owner: u32,
        q: f64,
        out: &mut Vec<(u32, u8, u32)>,
    ) {
        if len >= 24 {
            if rng.chance(0.9) {
                out.push((
                    base,
                    24,
                    if rng.chance(0.7) {
                        owner
                    } else {
                        self.random_asn(rng)
                    },
                ));
            }
            return;
        }
        if rng.chance(q) {
            let half = 1u32 << (32 - u32::from(len) - 1);
            self.fragment(rng, base, len + 1, owner, q, out);
            self.fragment(rng, base | half, len + 1, owner, q, out);
        } else if rng.chance(0.92) {
            let asn = if rng.chance(0.75) {
                owner
            } else {
                self.random_asn(rng)
            };
            out.push((base, len, asn));
            if rng.chance(0.15) {
                for _ in 0..rng.range(1, 3) {
                    let sub = (base | (rng.next_u64() as u32 & !mask32(len))) & mask32(24);
                    if sub != base || len != 24 {
                        out.push((sub, 24, self.random_asn(rng)));
                    }
                }
            }
        }
    }

    fn generate_v6(&mut self, p: &Params, want: usize) {
        let mut rng = Rng::derive(p.seed, "asn-v6");
        // Regions as in the plan (first 12 bits), weighted by size of the real registries.
        let regions: [(u128, u64); 5] = [
            (0x2400, 30),
            (0x2600, 25),
            (0x2800, 6),
            (0x2a00, 35),
            (0x2c00, 4),
        ];
        let w = Weighted::new(regions.iter().map(|r| r.1));
        let mut set: HashSet<(u128, u8)> = HashSet::with_capacity(want * 2);
        let mut out = Vec::with_capacity(want);
        while out.len() < want {
            let region = regions[w.sample(&mut rng)].0 << 112;
            let owner = self.random_asn(&mut rng);
            let r = rng.f64();
            // An allocation: an ISP /32 (or /29) with nested /40–/48s, or PI /48s.
            let (alloc_len, nested) = if r < 0.55 {
                (32u8, rng.below(6))
            } else if r < 0.65 {
                (29u8, rng.below(4))
            } else {
                (48u8, 0)
            };
            let random =
                (u128::from(rng.next_u64()) << 64 | u128::from(rng.next_u64())) & !mask128(12);
            let a = (region | random) & mask128(alloc_len);
            if set.insert((a, alloc_len)) {
                out.push((a, alloc_len, owner));
            }
            for _ in 0..nested {
                if out.len() >= want {
                    break;
                }
                let len = *rng.pick(&[36u8, 40, 44, 48, 48, 48]);
                let sub =
                    (a | ((u128::from(rng.next_u64()) << 64) & !mask128(alloc_len))) & mask128(len);
                let asn = if rng.chance(0.5) {
                    owner
                } else {
                    self.random_asn(&mut rng)
                };
                if set.insert((sub, len)) {
                    out.push((sub, len, asn));
                }
            }
        }
        out.truncate(want);
        out.sort_unstable_by_key(|e| (e.0, e.1));
        self.v6 = out;
    }
}

// ---------------------------------------------------------------------------------------------
// Hosts
// ---------------------------------------------------------------------------------------------

const NAME_WORDS: &[&str] = &[
    "uni", "net", "data", "cloud", "fiber", "tele", "linux", "open", "free", "fast", "mirror",
    "byte", "core", "edge", "nord", "sud", "ost", "west", "alpha", "nova", "polar", "terra",
    "astra", "kite", "lynx", "orbit", "pixel", "quark", "rapid", "sigma", "tech", "volt", "wave",
    "zen", "hub", "lab", "ix", "dc", "isp", "campus",
];

fn make_hosts(p: &Params, plan: &Plan, table: &AsnTable) -> (Vec<Host>, Vec<Profile>) {
    let mut rng = Rng::derive(p.seed, "hosts");
    let n = p.hosts;
    let mut ids: Vec<u64> = (1..=n as u64).collect();
    rng.shuffle(&mut ids);
    let private: HashSet<u64> = ids.iter().take(p.private).copied().collect();
    // Countries: every mirror country once (in a shuffled id order), then by weight.
    let mirror_countries: Vec<usize> = (0..plan.countries.len())
        .filter(|&c| plan.countries[c].mirror_weight > 0)
        .collect();
    let weights = Weighted::new(
        mirror_countries
            .iter()
            .map(|&c| u64::from(plan.countries[c].mirror_weight)),
    );
    rng.shuffle(&mut ids);
    let mut country_of: HashMap<u64, usize> = HashMap::new();
    for (k, id) in ids.iter().enumerate() {
        let c = if k < mirror_countries.len() {
            mirror_countries[k]
        } else {
            mirror_countries[weights.sample(&mut rng)]
        };
        country_of.insert(*id, c);
    }
    // Netblock counts: heavy-tailed; 85 % of the pairs on private hosts.
    let netblock_counts = netblock_counts(&mut rng, n, &private, p.netblocks);

    // Entries of the prefix→ASN table by country (IPv4, /12 and longer), for home networks.
    let mut v4_by_country: Vec<Vec<u32>> = vec![Vec::new(); plan.countries.len()];
    for (i, &(a, l, _)) in table.v4.iter().enumerate() {
        if l >= 12
            && let Some(c) = plan.country_of_16((a >> 16) as u16)
        {
            v4_by_country[c].push(i as u32);
        }
    }

    let bandwidths = Weighted::new([4, 20, 5, 35, 6, 20, 10]);
    let mut hosts = Vec::with_capacity(n);
    let mut profiles = Vec::with_capacity(n);
    for id in 1..=n as u64 {
        let is_private = private.contains(&id);
        let ci = country_of[&id];
        let country = plan.countries[ci].code;
        let cc = plan.countries[ci].name.to_ascii_lowercase();
        let tld = match cc.as_str() {
            "us" => ["edu", "com", "org", "net"][rng.below(4) as usize].to_string(),
            "gb" => "uk".to_string(),
            other => other.to_string(),
        };
        let prefix =
            ["mirror", "ftp", "mirrors", "fedora", "dl", "repo", "linux"][rng.below(7) as usize];
        let word = format!("{}{}", rng.pick(NAME_WORDS), rng.pick(NAME_WORDS));
        let name = format!("{prefix}.{word}{id}.{tld}");
        let bandwidth = match bandwidths.sample(&mut rng) {
            0 => 10,
            1 => 100,
            2 => 200,
            3 => 1000,
            4 => 2000,
            5 => 10_000,
            _ => rng.range(1, 10_000) as u32,
        };
        let max_connections = [0u32, 0, 0, 10, 20, 50, 100][rng.below(7) as usize];

        // How it syncs.
        let complete = rng.chance(if is_private { 0.2 } else { 0.6 });
        let mut fedora = complete || rng.chance(if is_private { 0.92 } else { 0.95 });
        let epel = if complete {
            rng.chance(0.9)
        } else {
            rng.chance(0.65)
        };
        if !fedora && !epel {
            fedora = true;
        }
        let mut arches = [rng.chance(0.75), rng.chance(0.35), rng.chance(0.25), true];
        if complete {
            arches = [true; 4];
        }
        let all_releases = complete || rng.chance(0.85);
        let profile = Profile {
            complete,
            fedora,
            epel,
            archive: complete,
            arches,
            debug: complete || rng.chance(0.3),
            source: complete || rng.chance(0.5),
            releases: if all_releases {
                [true; 3]
            } else {
                [false, true, true]
            },
            lagging: if complete {
                [false; 3]
            } else {
                [rng.chance(0.04), rng.chance(0.04), rng.chance(0.04)]
            },
            rawhide: complete || rng.chance(0.4),
            epel_versions: if complete || rng.chance(0.8) {
                [true; 4]
            } else {
                [false, true, true, true]
            },
        };

        // URLs: 1–3 per category, same schemes and families for all categories of a host.
        let schemes: &[&str] = match rng.below(100) {
            0..25 => &["https"],
            25..60 => &["https", "http"],
            60..85 => &["https", "http", "rsync"],
            85..92 => &["http"],
            92..97 => &["http", "rsync"],
            _ => &["https", "rsync"],
        };
        let mut schemes = schemes.to_vec();
        if schemes.len() >= 2 && schemes[1] == "http" && rng.chance(0.1) {
            schemes.swap(0, 1);
        }
        let ipv4 = if rng.chance(0.9) { Some(true) } else { None };
        let ipv6 = match rng.below(100) {
            0..45 => Some(true),
            45..85 => Some(false),
            _ => None,
        };
        let mut categories = Vec::new();
        let cat_paths: [(&str, bool, &[&str]); 3] = [
            (
                FEDORA,
                profile.fedora,
                &[
                    "pub/fedora/linux",
                    "fedora/linux",
                    "fedora",
                    "mirrors/fedora/linux",
                ],
            ),
            (
                EPEL,
                profile.epel,
                &["pub/epel", "epel", "fedora-epel", "pub/fedora/epel"],
            ),
            (
                ARCHIVE,
                profile.archive,
                &["pub/archive", "fedora-archive", "archive/fedora"],
            ),
        ];
        for (cat, has, paths) in cat_paths {
            if !has {
                continue;
            }
            let path = rng.pick(paths);
            let urls = schemes
                .iter()
                .map(|s| {
                    let url = if *s == "rsync" {
                        format!("rsync://{name}/{}", path.replace('/', "-"))
                    } else {
                        format!("{s}://{name}/{path}")
                    };
                    HostUrl { url, ipv4, ipv6 }
                })
                .collect();
            categories.push(HostCategory {
                category: cat.to_string(),
                urls,
            });
        }

        // Networks: a home position in the prefix→ASN table of its country.
        let home_list = &v4_by_country[ci];
        let home = if home_list.is_empty() {
            rng.below(table.v4.len() as u64) as usize
        } else {
            *rng.pick(home_list) as usize
        };
        let home_asn = table.v4[home].2;
        let asn = rng
            .chance(if is_private { 0.5 } else { 0.3 })
            .then_some(home_asn);
        let peer_asns = if rng.chance(0.08) {
            (0..rng.range(1, 5))
                .map(|_| table.random_asn(&mut rng))
                .collect()
        } else {
            Vec::new()
        };
        let allowed_countries = if rng.chance(0.03) {
            let mut v = vec![country];
            let continent = plan.countries[ci].continent;
            let same: Vec<_> = plan
                .countries
                .iter()
                .filter(|c| c.continent == continent)
                .collect();
            for _ in 0..rng.below(3) {
                v.push(rng.pick(&same).code);
            }
            v.sort_unstable();
            v.dedup();
            v
        } else {
            Vec::new()
        };
        let netblocks = host_netblocks(&mut rng, table, home, netblock_counts[(id - 1) as usize]);

        hosts.push(Host {
            id,
            name,
            country,
            bandwidth,
            max_connections,
            private: is_private,
            asn,
            peer_asns,
            allowed_countries,
            netblocks,
            categories,
        });
        profiles.push(profile);
    }
    (hosts, profiles)
}

/// Per host (by id − 1) how many netblocks it has; sums to exactly `total`.
fn netblock_counts(rng: &mut Rng, n: usize, private: &HashSet<u64>, total: usize) -> Vec<usize> {
    let mut counts = vec![0usize; n];
    let private_share = if private.is_empty() {
        0
    } else if private.len() == n {
        total
    } else {
        total * 85 / 100
    };
    for (group_private, share) in [(true, private_share), (false, total - private_share)] {
        // Which hosts of the group have netblocks: every private host, a quarter of the public ones.
        let members: Vec<usize> = (0..n)
            .filter(|&i| private.contains(&(i as u64 + 1)) == group_private)
            .filter(|_| group_private || rng.chance(0.25))
            .collect();
        if members.is_empty() || share == 0 {
            continue;
        }
        // Pareto-like weights: most have a few, a handful (ISPs) have thousands.
        let weights: Vec<f64> = members
            .iter()
            .map(|_| 1.0 / (rng.f64().max(1e-4)).powf(1.3))
            .collect();
        let sum: f64 = weights.iter().sum();
        let cap = (share / 4).max(1);
        let mut assigned = 0usize;
        for (k, &m) in members.iter().enumerate() {
            let c = ((weights[k] / sum) * share as f64).round() as usize;
            let c = c.clamp(1, cap);
            counts[m] = c;
            assigned += c;
        }
        // Fix the rounding on the members, largest first, within the cap.
        let mut order: Vec<usize> = members.clone();
        order.sort_by(|&a, &b| counts[b].cmp(&counts[a]).then(a.cmp(&b)));
        let mut k = 0;
        while assigned != share {
            let m = order[k % order.len()];
            if assigned < share && counts[m] < cap.max(share.div_ceil(order.len())) {
                counts[m] += 1;
                assigned += 1;
            } else if assigned > share && counts[m] > 1 {
                counts[m] -= 1;
                assigned -= 1;
            }
            k += 1;
            if k > 50 * order.len() + 10 * share {
                break;
            }
        }
    }
    counts
}

/// `count` distinct netblocks from consecutive table entries after `home`
/// (one organisation's announced space), some narrowed to a subnet, some IPv6.
fn host_netblocks(rng: &mut Rng, table: &AsnTable, home: usize, count: usize) -> Vec<Prefix> {
    let mut set = BTreeSet::new();
    if count == 0 {
        return Vec::new();
    }
    let v6 = if rng.chance(0.3) {
        (rng.range(1, 3) as usize).min(count)
    } else {
        0
    };
    for _ in 0..v6 {
        let (a, l, _) = *rng.pick(&table.v6);
        set.insert(Prefix::new(IpAddr::V6(Ipv6Addr::from(a)), l).expect("canonical"));
    }
    let mut i = home;
    let mut steps = 0;
    while set.len() < count && steps < table.v4.len() {
        let (a, l, _) = table.v4[i % table.v4.len()];
        i += 1;
        steps += 1;
        if l < 12 {
            continue;
        }
        let prefix = if (16..=24).contains(&l) && rng.chance(0.08) {
            let len = rng.range(u64::from(l).max(25), 30) as u8;
            let sub = (a | (rng.next_u64() as u32 & !mask32(l))) & mask32(len);
            Prefix::new(IpAddr::V4(Ipv4Addr::from(sub)), len).expect("canonical")
        } else {
            Prefix::new(IpAddr::V4(Ipv4Addr::from(a)), l).expect("canonical")
        };
        set.insert(prefix);
    }
    set.into_iter().collect()
}

// ---------------------------------------------------------------------------------------------
// Directory tree
// ---------------------------------------------------------------------------------------------

struct DirSpec {
    name: String,
    group: Group,
    repomd: bool,
    filler: bool,
}

#[derive(Default)]
struct Tree {
    dirs: Vec<DirSpec>,
    seen: HashSet<String>,
}

impl Tree {
    fn add(&mut self, name: String, group: Group, repomd: bool, filler: bool) {
        if self.seen.insert(name.clone()) {
            self.dirs.push(DirSpec {
                name,
                group,
                repomd,
                filler,
            });
        }
    }

    /// A repository directory: itself, `repodata` (with repomd.xml), `Packages` and
    /// its 36 letter subdirectories (filler).
    fn repo(&mut self, base: &str, g: Group) {
        self.add(base.to_string(), g, false, false);
        self.add(format!("{base}/repodata"), g, true, false);
        self.add(format!("{base}/Packages"), g, false, false);
        for &c in LETTERS {
            self.add(format!("{base}/Packages/{}", c as char), g, false, true);
        }
    }

    /// An installable tree: `os` repository plus `images`.
    fn os_tree(&mut self, arch_dir: &str, g: Group) {
        self.add(arch_dir.to_string(), g, false, false);
        self.repo(&format!("{arch_dir}/os"), g);
        self.add(format!("{arch_dir}/os/images"), g, false, true);
        self.add(format!("{arch_dir}/os/images/pxeboot"), g, false, true);
    }

    fn required(&self) -> usize {
        self.dirs.iter().filter(|d| !d.filler).count()
    }
}

fn g(cat: u8, kind: Kind, rel: u8, arch: u8, debug: bool) -> Group {
    Group {
        cat,
        kind,
        rel,
        arch,
        debug,
    }
}

fn current_fedora(t: &mut Tree) {
    let top = "pub/fedora/linux";
    for (ri, rel) in RELEASES.iter().enumerate() {
        let r = ri as u8;
        for (ai, arch) in ARCHES.iter().enumerate() {
            let a = ai as u8;
            let rg = g(CAT_FEDORA, Kind::Release, r, a, false);
            t.os_tree(&format!("{top}/releases/{rel}/Everything/{arch}"), rg);
            t.add(
                format!("{top}/releases/{rel}/Everything/{arch}/debug"),
                g(CAT_FEDORA, Kind::Release, r, a, true),
                false,
                false,
            );
            t.repo(
                &format!("{top}/releases/{rel}/Everything/{arch}/debug/tree"),
                g(CAT_FEDORA, Kind::Release, r, a, true),
            );
            t.os_tree(&format!("{top}/releases/{rel}/Server/{arch}"), rg);
            t.add(
                format!("{top}/releases/{rel}/Server/{arch}/iso"),
                rg,
                false,
                false,
            );
            if a == A_X86 || arch == &"aarch64" {
                for v in VARIANTS_ISO {
                    t.add(format!("{top}/releases/{rel}/{v}/{arch}"), rg, false, false);
                    t.add(
                        format!("{top}/releases/{rel}/{v}/{arch}/iso"),
                        rg,
                        false,
                        false,
                    );
                    t.add(
                        format!("{top}/releases/{rel}/{v}/{arch}/images"),
                        rg,
                        false,
                        false,
                    );
                }
            }
            for (testing, kind) in [(false, Kind::Updates), (true, Kind::Testing)] {
                let base = if testing {
                    format!("{top}/updates/testing/{rel}")
                } else {
                    format!("{top}/updates/{rel}")
                };
                let ug = g(CAT_FEDORA, kind, r, a, false);
                t.repo(&format!("{base}/Everything/{arch}"), ug);
                t.repo(
                    &format!("{base}/Everything/{arch}/debug"),
                    g(CAT_FEDORA, kind, r, a, true),
                );
            }
        }
        let sg = g(CAT_FEDORA, Kind::Release, r, SOURCE, false);
        t.add(
            format!("{top}/releases/{rel}/Everything/source"),
            sg,
            false,
            false,
        );
        t.repo(&format!("{top}/releases/{rel}/Everything/source/tree"), sg);
        for (testing, kind) in [(false, Kind::Updates), (true, Kind::Testing)] {
            let base = if testing {
                format!("{top}/updates/testing/{rel}")
            } else {
                format!("{top}/updates/{rel}")
            };
            let ug = g(CAT_FEDORA, kind, r, SOURCE, false);
            t.add(format!("{base}/Everything/source"), ug, false, false);
            t.repo(&format!("{base}/Everything/source/tree"), ug);
        }
    }
    for (ai, arch) in ARCHES.iter().enumerate() {
        let a = ai as u8;
        let base = format!("{top}/development/rawhide/Everything/{arch}");
        t.os_tree(&base, g(CAT_FEDORA, Kind::Rawhide, 0, a, false));
        t.add(
            format!("{base}/debug"),
            g(CAT_FEDORA, Kind::Rawhide, 0, a, true),
            false,
            false,
        );
        t.repo(
            &format!("{base}/debug/tree"),
            g(CAT_FEDORA, Kind::Rawhide, 0, a, true),
        );
    }
    let sg = g(CAT_FEDORA, Kind::Rawhide, 0, SOURCE, false);
    t.add(
        format!("{top}/development/rawhide/Everything/source"),
        sg,
        false,
        false,
    );
    t.repo(
        &format!("{top}/development/rawhide/Everything/source/tree"),
        sg,
    );
}

fn current_epel(t: &mut Tree) {
    for (vi, ver) in EPEL_VERSIONS.iter().enumerate() {
        let v = vi as u8;
        for (testing, kind) in [(false, Kind::Epel), (true, Kind::EpelTesting)] {
            let base = if testing {
                format!("pub/epel/testing/{ver}")
            } else {
                format!("pub/epel/{ver}")
            };
            for (ai, arch) in ARCHES.iter().enumerate() {
                let a = ai as u8;
                t.repo(
                    &format!("{base}/Everything/{arch}"),
                    g(CAT_EPEL, kind, v, a, false),
                );
                t.repo(
                    &format!("{base}/Everything/{arch}/debug"),
                    g(CAT_EPEL, kind, v, a, true),
                );
            }
            let sg = g(CAT_EPEL, kind, v, SOURCE, false);
            t.add(format!("{base}/Everything/source"), sg, false, false);
            t.repo(&format!("{base}/Everything/source/tree"), sg);
        }
    }
}

/// Arches of an archived Fedora release.
fn archived_arches(rel: u32) -> &'static [&'static str] {
    match rel {
        0..=16 => &["i386", "x86_64"],
        17..=25 => &["armhfp", "i386", "x86_64"],
        26..=36 => &["aarch64", "armhfp", "ppc64le", "s390x", "x86_64"],
        _ => &["aarch64", "ppc64le", "s390x", "x86_64"],
    }
}

/// One archived release of `root` (`fedora/linux` or `fedora-secondary`).
fn archived_release(t: &mut Tree, root: &str, rel: u32, arches: &[&str]) {
    let ag = g(CAT_ARCHIVE, Kind::Archive, 0, ALL, false);
    let base = format!("pub/archive/{root}");
    for arch in arches {
        t.os_tree(&format!("{base}/releases/{rel}/Everything/{arch}"), ag);
        t.add(
            format!("{base}/releases/{rel}/Everything/{arch}/debug"),
            ag,
            false,
            false,
        );
        t.repo(
            &format!("{base}/releases/{rel}/Everything/{arch}/debug/tree"),
            ag,
        );
        t.repo(&format!("{base}/updates/{rel}/Everything/{arch}"), ag);
        t.repo(&format!("{base}/updates/{rel}/Everything/{arch}/debug"), ag);
    }
    t.add(
        format!("{base}/releases/{rel}/Everything/source"),
        ag,
        false,
        false,
    );
    t.repo(&format!("{base}/releases/{rel}/Everything/source/tree"), ag);
    t.add(
        format!("{base}/updates/{rel}/Everything/source"),
        ag,
        false,
        false,
    );
    t.repo(&format!("{base}/updates/{rel}/Everything/source/tree"), ag);
}

fn archived_epel(t: &mut Tree, ver: u32) {
    let ag = g(CAT_ARCHIVE, Kind::Archive, 0, ALL, false);
    let arches: &[&str] = if ver >= 7 {
        &["aarch64", "ppc64le", "x86_64"]
    } else {
        &["i386", "ppc64", "x86_64"]
    };
    for arch in arches {
        t.repo(&format!("pub/archive/epel/{ver}/{arch}"), ag);
        t.repo(&format!("pub/archive/epel/{ver}/{arch}/debug"), ag);
    }
    t.repo(&format!("pub/archive/epel/{ver}/SRPMS"), ag);
}

/// The directory list: current trees first, then archived releases (newest
/// first) until there are enough; `Packages/<letter>` filler is then trimmed
/// (deterministically) to exactly `target` directories.
fn make_tree(target: usize, summary: &mut Summary) -> anyhow::Result<Vec<DirSpec>> {
    let mut t = Tree::default();
    current_fedora(&mut t);
    current_epel(&mut t);
    for ver in [7, 6, 5] {
        archived_epel(&mut t, ver);
    }
    // Archived releases, newest first: Fedora, then secondary arches, until enough.
    let mut candidates: Vec<(&str, u32, &[&str])> = Vec::new();
    for rel in (7..RELEASES[0]).rev() {
        candidates.push(("fedora/linux", rel, archived_arches(rel)));
    }
    for rel in (7..RELEASES[0]).rev() {
        candidates.push((
            "fedora-secondary",
            rel,
            &["armhfp", "i686", "ppc64", "s390x", "mips64el"],
        ));
    }
    for (root, rel, arches) in candidates {
        if t.dirs.len() >= target {
            break;
        }
        archived_release(&mut t, root, rel, arches);
        summary.archived_releases += 1;
    }
    // Every ancestor down to the topdir exists (carried by the whole category).
    let names: Vec<(String, u8)> = t
        .dirs
        .iter()
        .map(|d| (d.name.clone(), d.group.cat))
        .collect();
    for (name, cat) in names {
        let topdir = CATEGORIES[usize::from(cat)].1;
        let mut cut = name.as_str();
        while let Some((parent, _)) = cut.rsplit_once('/') {
            if parent.len() < topdir.len() {
                break;
            }
            t.add(parent.to_string(), Group::top(cat), false, false);
            cut = parent;
        }
    }
    summary.directories_available = t.dirs.len();
    let required = t.required();
    anyhow::ensure!(
        t.dirs.len() >= target,
        "cannot lay out {target} directories: the generated tree has at most {}",
        t.dirs.len()
    );
    anyhow::ensure!(
        required <= target,
        "--directories {target} is too small: the current trees alone need {required} directories"
    );
    let mut filler: Vec<usize> = (0..t.dirs.len()).filter(|&i| t.dirs[i].filler).collect();
    let mut rng = Rng::derive(0, "filler");
    rng.shuffle(&mut filler);
    let drop: HashSet<usize> = filler.into_iter().skip(target - required).collect();
    Ok(t.dirs
        .into_iter()
        .enumerate()
        .filter(|(i, _)| !drop.contains(i))
        .map(|(_, d)| d)
        .collect())
}

// ---------------------------------------------------------------------------------------------
// File details, repositories
// ---------------------------------------------------------------------------------------------

fn repomd(rng: &mut Rng, created_at: i64) -> FileDetails {
    let versions = rng.range(2, 3) as usize;
    let mut t = created_at - rng.below(30 * 86_400) as i64;
    let mut out = Vec::with_capacity(versions);
    for _ in 0..versions {
        out.push(FileVersion {
            timestamp: t,
            size: rng.range(2_500, 24_000),
            md5: rng.chance(0.3).then(|| rng.hex(16)),
            sha1: rng.chance(0.4).then(|| rng.hex(20)),
            sha256: Some(rng.hex(32)),
            sha512: rng.chance(0.8).then(|| rng.hex(64)),
        });
        t -= rng.range(3_600, 3 * 86_400) as i64;
    }
    FileDetails {
        name: "repomd.xml".into(),
        versions: out,
    }
}

fn make_repos(names: &HashSet<&str>) -> Vec<RepoEntry> {
    let mut out = Vec::new();
    let mut add = |prefix: String, arch: &str, dir: String| {
        if names.contains(dir.as_str()) {
            out.push(RepoEntry {
                prefix,
                arch: arch.to_string(),
                directory: dir,
            });
        }
    };
    let top = "pub/fedora/linux";
    for rel in RELEASES {
        for arch in ARCHES {
            add(
                format!("fedora-{rel}"),
                arch,
                format!("{top}/releases/{rel}/Everything/{arch}/os"),
            );
            add(
                format!("fedora-debug-{rel}"),
                arch,
                format!("{top}/releases/{rel}/Everything/{arch}/debug/tree"),
            );
            add(
                format!("updates-released-f{rel}"),
                arch,
                format!("{top}/updates/{rel}/Everything/{arch}"),
            );
            add(
                format!("updates-released-debug-f{rel}"),
                arch,
                format!("{top}/updates/{rel}/Everything/{arch}/debug"),
            );
            add(
                format!("updates-testing-f{rel}"),
                arch,
                format!("{top}/updates/testing/{rel}/Everything/{arch}"),
            );
            add(
                format!("updates-testing-debug-f{rel}"),
                arch,
                format!("{top}/updates/testing/{rel}/Everything/{arch}/debug"),
            );
        }
        add(
            format!("fedora-source-{rel}"),
            "source",
            format!("{top}/releases/{rel}/Everything/source/tree"),
        );
        add(
            format!("updates-released-source-f{rel}"),
            "source",
            format!("{top}/updates/{rel}/Everything/source/tree"),
        );
        add(
            format!("updates-testing-source-f{rel}"),
            "source",
            format!("{top}/updates/testing/{rel}/Everything/source/tree"),
        );
    }
    for arch in ARCHES {
        add(
            "rawhide".into(),
            arch,
            format!("{top}/development/rawhide/Everything/{arch}/os"),
        );
        add(
            "rawhide-debug".into(),
            arch,
            format!("{top}/development/rawhide/Everything/{arch}/debug/tree"),
        );
    }
    add(
        "rawhide-source".into(),
        "source",
        format!("{top}/development/rawhide/Everything/source/tree"),
    );
    add(
        format!("fedora-{RAWHIDE}"),
        "x86_64",
        format!("{top}/development/rawhide/Everything/x86_64/os"),
    );
    for ver in EPEL_VERSIONS {
        for arch in ARCHES {
            add(
                format!("epel-{ver}"),
                arch,
                format!("pub/epel/{ver}/Everything/{arch}"),
            );
            add(
                format!("epel-debug-{ver}"),
                arch,
                format!("pub/epel/{ver}/Everything/{arch}/debug"),
            );
            add(
                format!("epel-testing-{ver}"),
                arch,
                format!("pub/epel/testing/{ver}/Everything/{arch}"),
            );
            add(
                format!("epel-testing-debug-{ver}"),
                arch,
                format!("pub/epel/testing/{ver}/Everything/{arch}/debug"),
            );
        }
        add(
            format!("epel-source-{ver}"),
            "source",
            format!("pub/epel/{ver}/Everything/source/tree"),
        );
        add(
            format!("epel-testing-source-{ver}"),
            "source",
            format!("pub/epel/testing/{ver}/Everything/source/tree"),
        );
    }
    for ver in [5, 6, 7] {
        for arch in ["aarch64", "i386", "ppc64", "ppc64le", "x86_64"] {
            add(
                format!("epel-{ver}"),
                arch,
                format!("pub/archive/epel/{ver}/{arch}"),
            );
            add(
                format!("epel-debug-{ver}"),
                arch,
                format!("pub/archive/epel/{ver}/{arch}/debug"),
            );
        }
        add(
            format!("epel-source-{ver}"),
            "source",
            format!("pub/archive/epel/{ver}/SRPMS"),
        );
    }
    for rel in 7..RELEASES[0] {
        let base = "pub/archive/fedora/linux";
        for arch in archived_arches(rel) {
            add(
                format!("fedora-{rel}"),
                arch,
                format!("{base}/releases/{rel}/Everything/{arch}/os"),
            );
            add(
                format!("fedora-debug-{rel}"),
                arch,
                format!("{base}/releases/{rel}/Everything/{arch}/debug/tree"),
            );
            add(
                format!("updates-released-f{rel}"),
                arch,
                format!("{base}/updates/{rel}/Everything/{arch}"),
            );
            add(
                format!("updates-released-debug-f{rel}"),
                arch,
                format!("{base}/updates/{rel}/Everything/{arch}/debug"),
            );
        }
        add(
            format!("fedora-source-{rel}"),
            "source",
            format!("{base}/releases/{rel}/Everything/source/tree"),
        );
        add(
            format!("updates-released-source-f{rel}"),
            "source",
            format!("{base}/updates/{rel}/Everything/source/tree"),
        );
    }
    out.sort();
    out.dedup_by(|a, b| a.prefix == b.prefix && a.arch == b.arch);
    out
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
