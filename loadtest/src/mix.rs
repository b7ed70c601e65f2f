//! Request mixes: lists of request targets (`/metalink?repo=…&arch=…&ip=…`)
//! built from a snapshot (its repo map, directories and host netblocks) and the
//! address plan (client addresses by country).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use anyhow::Context;
use mirrorfleet_snapshot::Snapshot;
use mirrorfleet_snapshot::read::prefix_of;

use crate::plan::Plan;
use crate::rng::{Rng, Weighted};

/// The built-in mixes.
pub const MIXES: &[&str] = &["realistic", "full-metalink", "first-dir", "last-dir"];

/// Countries whose clients reach the 100-host cap on a widely carried directory:
/// large mirror populations in the country and on its continent.
pub const FULL_COUNTRIES: &[&str] = &[
    "DE", "FR", "GB", "NL", "CZ", "SE", "PL", "IT", "CH", "AT", "ES", "FI", "DK", "NO", "BE",
];

/// Builds a named mix of `n` targets.
pub fn build(
    name: &str,
    snap: &Snapshot,
    plan: &Plan,
    seed: u64,
    n: usize,
) -> anyhow::Result<Vec<String>> {
    match name {
        "realistic" => Ok(realistic(snap, plan, seed, n)),
        "full-metalink" => {
            let (prefix, arch) = newest_updates(snap)
                .context("the snapshot has no updates-released-fN/x86_64 repository")?;
            let clients = clients_in(plan, FULL_COUNTRIES, seed, n);
            Ok(clients
                .iter()
                .map(|ip| format!("/metalink?repo={prefix}&arch={arch}&ip={ip}"))
                .collect())
        }
        "first-dir" | "last-dir" => {
            let (first, last) =
                metalink_ends(snap).context("the snapshot has no directory with repomd.xml")?;
            let dir = if name == "first-dir" { first.1 } else { last.1 };
            let clients = clients_in(plan, FULL_COUNTRIES, seed, n);
            Ok(clients
                .iter()
                .map(|ip| directory_metalink(&dir, *ip))
                .collect())
        }
        other => anyhow::bail!("unknown mix {other:?}; known: {}", MIXES.join(", ")),
    }
}

/// A metalink for `dir/repomd.xml` by path.
pub fn directory_metalink(dir: &str, ip: IpAddr) -> String {
    format!("/metalink?path={dir}/repomd.xml&ip={ip}")
}

/// `n` IPv4 clients spread over `countries`.
pub fn clients_in(plan: &Plan, countries: &[&str], seed: u64, n: usize) -> Vec<IpAddr> {
    let mut rng = Rng::derive(seed, "clients");
    let idx: Vec<usize> = countries
        .iter()
        .filter_map(|c| plan.country_index(c))
        .collect();
    (0..n)
        .map(|k| IpAddr::V4(plan.client_v4(idx[k % idx.len()], &mut rng)))
        .collect()
}

/// The repository of the newest current release's updates, x86_64.
pub fn newest_updates(snap: &Snapshot) -> Option<(String, String)> {
    let map = &snap.payload().repo_map;
    let newest = map
        .iter()
        .filter(|r| r.arch.as_str() == "x86_64")
        .filter_map(|r| {
            r.prefix
                .as_str()
                .strip_prefix("updates-released-f")
                .and_then(|n| n.parse::<u32>().ok())
        })
        .max()?;
    Some((format!("updates-released-f{newest}"), "x86_64".to_string()))
}

/// The first and the last directory (index, name) of the sorted directory
/// list that have a `repomd.xml`, i.e. can answer a metalink.
pub fn metalink_ends(snap: &Snapshot) -> Option<((usize, String), (usize, String))> {
    let dirs = &snap.payload().directories;
    let has = |i: usize| snap.find_file(i as u32, "repomd.xml").is_some();
    let first = (0..dirs.len()).find(|&i| has(i))?;
    let last = (0..dirs.len()).rev().find(|&i| has(i))?;
    Some((
        (first, dirs[first].name.to_string()),
        (last, dirs[last].name.to_string()),
    ))
}

/// A random address inside the `k`-th host netblock of the snapshot.
fn netblock_client(snap: &Snapshot, rng: &mut Rng) -> Option<IpAddr> {
    let nets = &snap.payload().netblocks;
    if nets.is_empty() {
        return None;
    }
    let n = &nets[rng.below(nets.len() as u64) as usize];
    let p = prefix_of(&n.prefix)?;
    Some(match p.addr() {
        IpAddr::V4(a) => {
            let host_bits = if p.len() == 0 {
                u32::MAX
            } else {
                !(u32::MAX << (32 - u32::from(p.len())))
            };
            IpAddr::V4(Ipv4Addr::from(
                u32::from(a) | (rng.next_u64() as u32 & host_bits),
            ))
        }
        IpAddr::V6(a) => {
            let host_bits = if p.len() == 0 {
                u128::MAX
            } else {
                !(u128::MAX << (128 - u32::from(p.len())))
            };
            let r = (u128::from(rng.next_u64()) << 64) | u128::from(rng.next_u64());
            IpAddr::V6(Ipv6Addr::from(u128::from(a) | (r & host_bits)))
        }
    })
}

/// Weight of a Fedora release number: the three current releases carry the
/// traffic; rawhide (above the newest) and end-of-life releases a little.
fn release_weight(n: u32, newest: u32) -> u64 {
    if n > newest {
        return 8;
    }
    match newest - n {
        0 => 200,
        1 => 160,
        2 => 80,
        _ => 2,
    }
}

/// dnf-like traffic: mostly metalinks for updates and release repositories of
/// current releases (x86_64 first, then aarch64), EPEL, some testing, debug,
/// source and archived releases, 0.5 % unknown repositories; 12 % mirrorlists
/// (by repo or by path); countme on a fifth of the metalinks. Clients: 85 %
/// IPv4 and 7 % IPv6 from countries by traffic weight, 8 % inside a host
/// netblock of the snapshot (netblock tier).
pub fn realistic(snap: &Snapshot, plan: &Plan, seed: u64, n: usize) -> Vec<String> {
    let mut rng = Rng::derive(seed, "realistic");
    let map = &snap.payload().repo_map;
    let newest = map
        .iter()
        .filter_map(|r| {
            r.prefix
                .as_str()
                .strip_prefix("updates-released-f")
                .and_then(|n| n.parse::<u32>().ok())
        })
        .filter(|n| *n < 100)
        .max()
        .unwrap_or(0);
    let number = |s: &str| -> Option<u32> {
        let digits: String = s
            .chars()
            .rev()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        digits
            .chars()
            .rev()
            .collect::<String>()
            .split('.')
            .next()?
            .parse()
            .ok()
    };
    let weights: Vec<u64> = map
        .iter()
        .map(|r| {
            let p = r.prefix.as_str();
            let dir = snap
                .directory(r.dir.to_native())
                .map(|d| d.name.as_str())
                .unwrap_or("");
            let archived = dir.starts_with("pub/archive/");
            let base: u64 = if p.contains("debug") || p.contains("source") {
                1
            } else if p.starts_with("updates-released-f") {
                40
            } else if p.starts_with("fedora-") {
                20
            } else if p.starts_with("updates-testing-f") {
                2
            } else if p.starts_with("epel-testing") {
                1
            } else if p.starts_with("epel-") {
                15
            } else {
                1
            };
            let rel = if archived {
                2
            } else if p.starts_with("epel") {
                match number(p) {
                    Some(10) => 160,
                    Some(9) => 200,
                    Some(8) => 80,
                    _ => 8,
                }
            } else {
                number(p).map_or(80, |n| release_weight(n, newest))
            };
            let arch: u64 = match r.arch.as_str() {
                "x86_64" => 75,
                "aarch64" => 18,
                "ppc64le" => 3,
                "s390x" => 2,
                "source" => 20,
                _ => 1,
            };
            base * rel * arch
        })
        .collect();
    let repos = Weighted::new(weights);
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        // The client.
        let kind = rng.below(100);
        let ip: IpAddr = if kind < 8 {
            netblock_client(snap, &mut rng).unwrap_or_else(|| {
                let c = plan.random_client_country(&mut rng);
                IpAddr::V4(plan.client_v4(c, &mut rng))
            })
        } else {
            let c = plan.random_client_country(&mut rng);
            match (kind < 15).then(|| plan.client_v6(c, &mut rng)).flatten() {
                Some(v6) => IpAddr::V6(v6),
                None => IpAddr::V4(plan.client_v4(c, &mut rng)),
            }
        };
        let r = &map[repos.sample(&mut rng)];
        let (prefix, arch) = (r.prefix.as_str(), r.arch.as_str());
        let roll = rng.below(1000);
        let target = if roll < 5 {
            format!(
                "/metalink?repo=fedora-9{}&arch=x86_64&ip={ip}",
                rng.below(10)
            )
        } else if roll < 880 {
            let countme = if rng.chance(0.2) {
                format!("&countme={}", rng.range(1, 4))
            } else {
                String::new()
            };
            format!("/metalink?repo={prefix}&arch={arch}&ip={ip}{countme}")
        } else if roll < 952 {
            format!("/mirrorlist?repo={prefix}&arch={arch}&ip={ip}")
        } else {
            let dir = snap
                .directory(r.dir.to_native())
                .map(|d| d.name.to_string())
                .unwrap_or_default();
            format!("/mirrorlist?path={dir}/&ip={ip}")
        };
        out.push(target);
    }
    out
}

/// Reads a requests file: one target per line (`/metalink?…`), `#` comments and
/// blank lines skipped. A full URL's scheme and authority are dropped.
pub fn read_requests_file(path: &std::path::Path) -> anyhow::Result<Vec<String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let target = match line.find("://") {
            Some(k) => match line[k + 3..].find('/') {
                Some(s) => &line[k + 3 + s..],
                None => "/",
            },
            None => line,
        };
        anyhow::ensure!(
            target.starts_with('/'),
            "{}:{}: a request target starts with /: {line:?}",
            path.display(),
            i + 1
        );
        out.push(target.to_string());
    }
    anyhow::ensure!(!out.is_empty(), "{}: no requests", path.display());
    Ok(out)
}
