//! Hosts: countries, bandwidths, URLs, sync profiles, ASNs and netblocks.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use mirrorfleet_snapshot::model::{Host, HostCategory, HostUrl};
use mirrorfleet_snapshot::net::Prefix;

use super::asn::{AsnTable, mask32};
use super::tree::Profile;
use super::{ARCHIVE, EPEL, FEDORA, Params};
use crate::plan::Plan;
use crate::rng::{Rng, Weighted};

const NAME_WORDS: &[&str] = &[
    "uni", "net", "data", "cloud", "fiber", "tele", "linux", "open", "free", "fast", "mirror",
    "byte", "core", "edge", "nord", "sud", "ost", "west", "alpha", "nova", "polar", "terra",
    "astra", "kite", "lynx", "orbit", "pixel", "quark", "rapid", "sigma", "tech", "volt", "wave",
    "zen", "hub", "lab", "ix", "dc", "isp", "campus",
];

pub(super) fn make_hosts(p: &Params, plan: &Plan, table: &AsnTable) -> (Vec<Host>, Vec<Profile>) {
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
