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
        let disabled = snap.payload().disabled.iter().map(|d| d.as_str());
        let target = if roll < 5 {
            // Error requests, 1 %: an unknown repository (404), a disabled one (404 with the
            // disabled message), an invalid `ip` (400).
            format!(
                "/metalink?repo=fedora-9{}&arch=x86_64&ip={ip}",
                rng.below(10)
            )
        } else if roll < 8 {
            match disabled.clone().nth(rng.below(3) as usize) {
                Some(d) => format!("/metalink?repo={d}&arch=x86_64&ip={ip}"),
                None => format!("/metalink?repo=disabled-none&arch=x86_64&ip={ip}"),
            }
        } else if roll < 10 {
            format!("/metalink?repo={prefix}&arch={arch}&ip=not-an-address")
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

/// The kind of a realistic-mix target, for the shares test and reports.
pub fn kind_of(target: &str) -> &'static str {
    if target.contains("ip=not-an-address") {
        "bad-ip"
    } else if target.contains("repo=fedora-9") {
        "unknown-repo"
    } else if target.contains("modular") {
        "disabled-repo"
    } else if target.starts_with("/mirrorlist?path=") {
        "path"
    } else if target.starts_with("/mirrorlist") {
        "mirrorlist"
    } else if target.contains("&countme=") {
        "metalink-countme"
    } else {
        "metalink"
    }
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::generate::{Params, generate};

    #[test]
    fn realistic_mix_shares_and_determinism() {
        let plan = Plan::new();
        let params = Params {
            seed: 3,
            hosts: 60,
            private: 20,
            directories: 3_000,
            asn_prefixes: 20_000,
            netblocks: 500,
            version: 1,
            created_at: 1_767_225_600,
        };
        let (data, _) = generate(&params, &plan, &mut |_| {}).unwrap();
        let snap = Snapshot::from_bytes(mirrorfleet_snapshot::build(&data).unwrap()).unwrap();
        let n = 100_000;
        let mix = realistic(&snap, &plan, 9, n);
        assert_eq!(
            mix,
            realistic(&snap, &plan, 9, n),
            "deterministic for a seed"
        );
        assert_ne!(
            mix,
            realistic(&snap, &plan, 10, n),
            "another seed, another mix"
        );
        let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
        for t in &mix {
            *kinds.entry(kind_of(t)).or_default() += 1;
        }
        let share = |k: &str| kinds.get(k).copied().unwrap_or(0) as f64 / n as f64;
        let near = |k: &str, want: f64| {
            let got = share(k);
            assert!(
                (got - want).abs() < 0.01 + want * 0.1,
                "{k}: {got} (want ≈ {want}): {kinds:?}"
            );
        };
        near("unknown-repo", 0.005);
        near("disabled-repo", 0.003);
        near("bad-ip", 0.002);
        near("metalink", 0.87 * 0.8);
        near("metalink-countme", 0.87 * 0.2);
        near("mirrorlist", 0.072);
        near("path", 0.048);
        // Popularity: x86_64 dominates, and the newest release's updates lead.
        let x86 = mix.iter().filter(|t| t.contains("arch=x86_64")).count() as f64 / n as f64;
        assert!(x86 > 0.5, "x86_64 share {x86}");
        let (prefix, _) = newest_updates(&snap).unwrap();
        let newest = mix
            .iter()
            .filter(|t| t.contains(&format!("repo={prefix}&")))
            .count();
        let rawhide = mix.iter().filter(|t| t.contains("repo=rawhide&")).count();
        assert!(newest > rawhide, "{prefix}: {newest}, rawhide: {rawhide}");
        // Clients: some IPv6, some inside host netblocks (the ASN/netblock tiers).
        let v6 = mix
            .iter()
            .filter(|t| {
                t.contains("&ip=") && t.split("&ip=").nth(1).is_some_and(|ip| ip.contains(':'))
            })
            .count();
        assert!(v6 > n / 50, "IPv6 clients: {v6}");
    }
}
