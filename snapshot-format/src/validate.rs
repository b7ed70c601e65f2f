//! The semantic validator (data-model.md §10, "Validated on load"): every
//! reference in range, every list sorted and unique, every code and URL well
//! formed, counts equal to sizes. It runs on every load, by every edge and by
//! the publisher's read-back; a failure rejects the whole snapshot.
//!
//! After it passes, the edge may index arrays with stored indices without
//! bounds surprises and rely on sort orders for binary search.

use crate::SnapshotError;
use crate::header::Header;
use crate::net::Prefix;
use crate::read::span_of;
use crate::schema::*;

type R = Result<(), SnapshotError>;

fn fail(msg: String) -> R {
    Err(SnapshotError::Validation(msg))
}

macro_rules! ensure {
    ($cond:expr, $($arg:tt)*) => {
        if !$cond {
            return fail(format!($($arg)*));
        }
    };
}

fn span_ok(span: &ArchivedSpan, pool_len: usize) -> bool {
    (span.start.to_native() as u64 + span.len.to_native() as u64) <= pool_len as u64
}

fn is_code(c: &[u8; 2]) -> bool {
    c.iter().all(|b| b.is_ascii_uppercase())
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn strictly_sorted<'a, T, K: Ord + 'a>(items: &'a [T], key: impl Fn(&'a T) -> K) -> bool {
    items.windows(2).all(|w| key(&w[0]) < key(&w[1]))
}

fn check_net(n: &ArchivedNetRec, what: &dyn Fn() -> String) -> R {
    ensure!(
        Prefix::from_raw(n.addr, n.len, n.v4).is_some(),
        "{}: network with length {} is not canonical (host bits set or length out of range)",
        what(),
        n.len
    );
    Ok(())
}

fn check_host_list(p: &ArchivedPayload, span: &ArchivedSpan, what: &dyn Fn() -> String) -> R {
    ensure!(
        span_ok(span, p.host_lists.len()),
        "{}: host list out of range",
        what()
    );
    let list = span_of(&p.host_lists, span);
    ensure!(
        list.iter()
            .all(|h| (h.to_native() as usize) < p.hosts.len()),
        "{}: host index out of range",
        what()
    );
    ensure!(
        strictly_sorted(list, |h| h.to_native()),
        "{}: host list not sorted or has duplicates",
        what()
    );
    Ok(())
}

/// Runs every check; the first failure names what is wrong.
pub fn check(p: &ArchivedPayload, header: &Header) -> R {
    ensure!(
        p.identity.version.to_native() == header.version
            && p.identity.created_at.to_native() == header.created_at,
        "identity (version {}, created_at {}) disagrees with the header (version {}, created_at {})",
        p.identity.version,
        p.identity.created_at,
        header.version,
        header.created_at
    );
    // Geography first: hosts and overrides refer to it.
    ensure!(
        strictly_sorted(&p.continents, |c| c.country),
        "continent table not sorted or has duplicates"
    );
    for c in p.continents.iter() {
        ensure!(
            is_code(&c.country)
                && crate::countries::is_continent(std::str::from_utf8(&c.continent).unwrap_or("")),
            "continent table: bad entry {:?} → {:?}",
            String::from_utf8_lossy(&c.country),
            String::from_utf8_lossy(&c.continent)
        );
    }
    let known_country = |c: &[u8; 2]| p.continents.binary_search_by(|x| x.country.cmp(c)).is_ok();

    ensure!(
        strictly_sorted(&p.categories, |c| c.name.as_str()),
        "categories not sorted or duplicated"
    );
    check_hosts(p, &known_country)?;
    check_directories(p, &known_country)?;
    check_files(p)?;
    check_repositories(p)?;
    check_network(p, &known_country)?;
    check_counts(p)
}

fn check_hosts(p: &ArchivedPayload, known_country: &dyn Fn(&[u8; 2]) -> bool) -> R {
    ensure!(
        strictly_sorted(&p.hosts, |h| h.id.to_native()),
        "hosts not sorted by id or duplicated"
    );
    for h in p.hosts.iter() {
        let what = || format!("host {} ({})", h.id, h.name);
        ensure!(
            is_code(&h.country) && known_country(&h.country),
            "{}: country has no continent",
            what()
        );
        ensure!(
            (1..=10_000).contains(&h.bandwidth.to_native()),
            "{}: bandwidth out of 1..10000",
            what()
        );
        ensure!(
            strictly_sorted(&h.peer_asns, |a| a.to_native()),
            "{}: peer ASNs not sorted",
            what()
        );
        ensure!(
            strictly_sorted(&h.allowed_countries, |c| *c),
            "{}: allowed countries not sorted",
            what()
        );
        ensure!(
            h.allowed_countries.iter().all(is_code),
            "{}: bad allowed country",
            what()
        );
        for n in h.netblocks.iter() {
            check_net(n, &what)?;
        }
        ensure!(
            strictly_sorted(&h.netblocks, |n| (n.addr, n.len, n.v4)),
            "{}: netblocks not sorted",
            what()
        );
        ensure!(!h.categories.is_empty(), "{}: no host category", what());
        ensure!(
            strictly_sorted(&h.categories, |c| c.category.to_native()),
            "{}: categories not sorted",
            what()
        );
        for hc in h.categories.iter() {
            ensure!(
                (hc.category.to_native() as usize) < p.categories.len(),
                "{}: category out of range",
                what()
            );
            ensure!(!hc.urls.is_empty(), "{}: host category without URL", what());
            for u in hc.urls.iter() {
                let url = u.url.as_str();
                let ok = scheme::of_url(url) == Some(u.scheme)
                    && url
                        .split_once("://")
                        .is_some_and(|(_, rest)| !rest.is_empty() && !rest.starts_with('/'))
                    && url.bytes().all(|b| b.is_ascii_graphic());
                ensure!(
                    ok,
                    "{}: URL {url:?} is not absolute http, https, ftp or rsync",
                    what()
                );
                ensure!(
                    u.ipv4 <= family::YES && u.ipv6 <= family::YES,
                    "{}: bad family flag",
                    what()
                );
            }
        }
    }
    Ok(())
}

fn check_directories(p: &ArchivedPayload, known_country: &dyn Fn(&[u8; 2]) -> bool) -> R {
    ensure!(
        strictly_sorted(&p.directories, |d| d.name.as_str()),
        "directories not sorted or duplicated"
    );
    ensure!(
        p.country_groups
            .iter()
            .all(|g| span_ok(&g.hosts, p.host_lists.len())),
        "country group out of range"
    );
    // Most directories of a category share their lists (the builder interns
    // them), so each distinct combination is checked once: this keeps loading
    // a Fedora-scale snapshot (millions of carried pairs) fast.
    let mut verified = std::collections::HashSet::new();
    for d in p.directories.iter() {
        let Some(cat) = p.categories.get(d.category.to_native() as usize) else {
            return fail(format!("directory {}: category out of range", d.name));
        };
        let (name, topdir) = (d.name.as_str(), cat.topdir.as_str());
        let off = d.subpath_offset.to_native() as usize;
        let ok = if name == topdir {
            off == name.len()
        } else {
            name.starts_with(topdir)
                && name.as_bytes().get(topdir.len()) == Some(&b'/')
                && off == topdir.len() + 1
        };
        ensure!(
            ok,
            "directory {name}: not below its category topdir {topdir:?}"
        );
        ensure!(
            span_ok(&d.files, p.files.len()),
            "directory {name}: files out of range"
        );
        let key = [
            d.by_host.start.to_native(),
            d.by_host.len.to_native(),
            d.global.start.to_native(),
            d.global.len.to_native(),
            d.by_country.start.to_native(),
            d.by_country.len.to_native(),
            d.category.to_native(),
        ];
        if verified.insert(key) {
            check_directory_lists(p, d, known_country)?;
        }
    }
    Ok(())
}

/// by_host, global and by_country of one directory: in range, sorted, and
/// consistent with each other and with the hosts (data-model.md §9).
fn check_directory_lists(
    p: &ArchivedPayload,
    d: &ArchivedDirRec,
    known_country: &dyn Fn(&[u8; 2]) -> bool,
) -> R {
    let what = format!("directory {}", d.name);
    let name = || what.clone();
    check_host_list(p, &d.by_host, &name)?;
    check_host_list(p, &d.global, &name)?;
    let by_host = span_of(&p.host_lists, &d.by_host);
    let carried = |h: u32| by_host.binary_search_by(|x| x.to_native().cmp(&h)).is_ok();
    for &h in by_host {
        let host = &p.hosts[h.to_native() as usize];
        let has = host.categories.iter().any(|c| c.category == d.category);
        ensure!(
            has,
            "{what}: carrier {} has no URL for its category",
            host.id
        );
    }
    for &h in span_of(&p.host_lists, &d.global) {
        let host = &p.hosts[h.to_native() as usize];
        ensure!(
            !host.private && carried(h.to_native()),
            "{what}: global host {} is private or not a carrier",
            host.id
        );
    }
    ensure!(
        span_ok(&d.by_country, p.country_groups.len()),
        "{what}: by_country out of range"
    );
    let groups = span_of(&p.country_groups, &d.by_country);
    ensure!(
        strictly_sorted(groups, |g| g.country),
        "{what}: by_country not sorted"
    );
    for g in groups {
        ensure!(
            is_code(&g.country) && known_country(&g.country),
            "{what}: bad by_country key"
        );
        check_host_list(p, &g.hosts, &name)?;
        for &h in span_of(&p.host_lists, &g.hosts) {
            let host = &p.hosts[h.to_native() as usize];
            ensure!(
                host.country == g.country && !host.private && carried(h.to_native()),
                "{what}: by_country host {} misplaced",
                host.id
            );
        }
    }
    Ok(())
}

fn check_files(p: &ArchivedPayload) -> R {
    ensure!(
        strictly_sorted(&p.files, |f| (f.dir.to_native(), f.name.as_str())),
        "file details not sorted by (directory, name) or duplicated"
    );
    for (di, d) in p.directories.iter().enumerate() {
        for f in span_of(&p.files, &d.files) {
            ensure!(
                f.dir.to_native() as usize == di,
                "directory {}: file span holds another directory's file",
                d.name
            );
        }
    }
    let total: u64 = p
        .directories
        .iter()
        .map(|d| d.files.len.to_native() as u64)
        .sum();
    ensure!(
        total == p.files.len() as u64,
        "file details not all reachable from their directories"
    );
    for f in p.files.iter() {
        let what = || format!("file {} of directory {}", f.name, f.dir);
        ensure!(
            !f.name.is_empty() && !f.name.contains('/'),
            "{}: bad name",
            what()
        );
        ensure!(
            f.versions.len.to_native() > 0 && span_ok(&f.versions, p.versions.len()),
            "{}: versions out of range",
            what()
        );
        let versions = span_of(&p.versions, &f.versions);
        ensure!(
            versions
                .windows(2)
                .all(|w| w[0].timestamp.to_native() >= w[1].timestamp.to_native()),
            "{}: history not newest first",
            what()
        );
        for v in versions {
            let digests = [
                (v.md5.as_ref(), 32),
                (v.sha1.as_ref(), 40),
                (v.sha256.as_ref(), 64),
                (v.sha512.as_ref(), 128),
            ];
            ensure!(
                digests.iter().any(|(d, _)| d.is_some()),
                "{}: a version without digest",
                what()
            );
            for (d, len) in digests {
                if let Some(d) = d {
                    ensure!(
                        is_hex(d.as_str(), len),
                        "{}: digest is not {len} lower-case hex digits",
                        what()
                    );
                }
            }
        }
    }
    Ok(())
}

fn check_repositories(p: &ArchivedPayload) -> R {
    ensure!(
        strictly_sorted(&p.repo_map, |r| (r.prefix.as_str(), r.arch.as_str())),
        "repo map not sorted or has a duplicate (prefix, arch) key"
    );
    let ndirs = p.directories.len();
    for r in p.repo_map.iter() {
        let what = || format!("repository {}/{}", r.prefix, r.arch);
        let dir = r.dir.to_native() as usize;
        ensure!(dir < ndirs, "{}: directory out of range", what());
        let rd = r.repodata.to_native();
        if rd != NONE {
            ensure!((rd as usize) < ndirs, "{}: repodata out of range", what());
            let (dname, rname) = (
                p.directories[dir].name.as_str(),
                p.directories[rd as usize].name.as_str(),
            );
            let ok = if rd as usize == dir {
                dname.rsplit('/').next() == Some("repodata")
            } else {
                rname.strip_prefix(dname) == Some("/repodata")
            };
            ensure!(ok, "{}: repodata directory does not match", what());
        }
    }
    ensure!(
        strictly_sorted(&p.redirects, |r| r.from.as_str()),
        "redirects not sorted or duplicated"
    );
    for r in p.redirects.iter() {
        ensure!(r.from != r.to, "redirect {} points to itself", r.from);
        let chained = p
            .redirects
            .binary_search_by(|x| x.from.as_str().cmp(r.to.as_str()))
            .is_ok();
        ensure!(
            !chained,
            "redirect {} → {}: the target is itself redirected",
            r.from,
            r.to
        );
    }
    ensure!(
        strictly_sorted(&p.disabled, |d| d.as_str()),
        "disabled prefixes not sorted or duplicated"
    );
    Ok(())
}

fn check_network(p: &ArchivedPayload, known_country: &dyn Fn(&[u8; 2]) -> bool) -> R {
    ensure!(
        strictly_sorted(&p.netblocks, |n| (n.prefix.addr, n.prefix.len, n.prefix.v4)),
        "netblock map not sorted or duplicated"
    );
    for n in p.netblocks.iter() {
        check_net(&n.prefix, &|| "netblock map".into())?;
        check_host_list(p, &n.hosts, &|| "netblock map".into())?;
    }
    ensure!(
        strictly_sorted(&p.asn_map, |a| a.asn.to_native()),
        "ASN map not sorted or duplicated"
    );
    for a in p.asn_map.iter() {
        check_host_list(p, &a.hosts, &|| "ASN map".into())?;
    }
    ensure!(
        strictly_sorted(&p.netblock_countries, |n| (
            n.prefix.addr,
            n.prefix.len,
            n.prefix.v4
        )),
        "netblock→country overrides not sorted or duplicated"
    );
    for n in p.netblock_countries.iter() {
        check_net(&n.prefix, &|| "netblock→country override".into())?;
        ensure!(
            known_country(&n.country),
            "netblock→country override: country has no continent"
        );
    }
    // prefix→ASN, IPv4.
    ensure!(
        strictly_sorted(&p.asn_v4, |e| (e.addr.to_native(), e.len)),
        "IPv4 prefix→ASN table not sorted or duplicated"
    );
    for e in p.asn_v4.iter() {
        let ok = (1..=32).contains(&e.len) && e.addr.to_native() & !crate::net::mask32(e.len) == 0;
        ensure!(
            ok,
            "IPv4 prefix→ASN entry {}/{} is not canonical",
            std::net::Ipv4Addr::from(e.addr.to_native()),
            e.len
        );
    }
    let v4: Vec<(u128, u32)> = p
        .asn_v4_spans
        .iter()
        .map(|s| (s.start.to_native() as u128, s.entry.to_native()))
        .collect();
    check_spans(&v4, u32::MAX as u128, "IPv4", |i| {
        p.asn_v4.get(i as usize).map(|e| {
            let a = e.addr.to_native() as u128;
            (a, a | !crate::net::mask32(e.len) as u128)
        })
    })?;
    ensure!(
        !(p.asn_v4.is_empty() ^ p.asn_v4_spans.is_empty()),
        "IPv4 prefix→ASN index missing"
    );
    // IPv6.
    let net6 = |e: &ArchivedAsn6Rec| ((e.hi.to_native() as u128) << 64) | e.lo.to_native() as u128;
    ensure!(
        strictly_sorted(&p.asn_v6, |e| (net6(e), e.len)),
        "IPv6 prefix→ASN table not sorted or duplicated"
    );
    for e in p.asn_v6.iter() {
        let ok = (1..=128).contains(&e.len) && net6(e) & !crate::net::mask128(e.len) == 0;
        ensure!(
            ok,
            "IPv6 prefix→ASN entry {}/{} is not canonical",
            std::net::Ipv6Addr::from(net6(e)),
            e.len
        );
    }
    let v6: Vec<(u128, u32)> = p
        .asn_v6_spans
        .iter()
        .map(|s| {
            (
                ((s.hi.to_native() as u128) << 64) | s.lo.to_native() as u128,
                s.entry.to_native(),
            )
        })
        .collect();
    check_spans(&v6, u128::MAX, "IPv6", |i| {
        p.asn_v6
            .get(i as usize)
            .map(|e| (net6(e), net6(e) | !crate::net::mask128(e.len)))
    })?;
    ensure!(
        !(p.asn_v6.is_empty() ^ p.asn_v6_spans.is_empty()),
        "IPv6 prefix→ASN index missing"
    );
    Ok(())
}

/// Intervals start at 0, strictly increase, and each lies inside its entry.
fn check_spans(
    spans: &[(u128, u32)],
    max: u128,
    family: &str,
    entry: impl Fn(u32) -> Option<(u128, u128)>,
) -> R {
    if spans.is_empty() {
        return Ok(());
    }
    ensure!(
        spans[0].0 == 0,
        "{family} prefix→ASN index does not start at address 0"
    );
    for (i, &(start, e)) in spans.iter().enumerate() {
        let end = match spans.get(i + 1) {
            Some(&(next, _)) if next > start => next - 1,
            Some(_) => return fail(format!("{family} prefix→ASN index not sorted")),
            None => max,
        };
        if e != NONE {
            let Some((lo, hi)) = entry(e) else {
                return fail(format!("{family} prefix→ASN index entry out of range"));
            };
            ensure!(
                lo <= start && end <= hi,
                "{family} prefix→ASN index interval outside its prefix"
            );
        }
    }
    Ok(())
}

fn check_counts(p: &ArchivedPayload) -> R {
    let c = &p.counts;
    let carried: u64 = p
        .directories
        .iter()
        .map(|d| d.by_host.len.to_native() as u64)
        .sum();
    let netblocks: u64 = p
        .netblocks
        .iter()
        .map(|n| n.hosts.len.to_native() as u64)
        .sum();
    let asn: u64 = p
        .asn_map
        .iter()
        .map(|a| a.hosts.len.to_native() as u64)
        .sum();
    let actual = [
        ("hosts", c.hosts.to_native(), p.hosts.len() as u64),
        (
            "public_hosts",
            c.public_hosts.to_native(),
            p.hosts.iter().filter(|h| !h.private).count() as u64,
        ),
        (
            "directories",
            c.directories.to_native(),
            p.directories.len() as u64,
        ),
        ("carried_pairs", c.carried_pairs.to_native(), carried),
        (
            "repo_map_entries",
            c.repo_map_entries.to_native(),
            p.repo_map.len() as u64,
        ),
        (
            "file_details",
            c.file_details.to_native(),
            p.versions.len() as u64,
        ),
        ("netblocks", c.netblocks.to_native(), netblocks),
        ("asn_map_entries", c.asn_map_entries.to_native(), asn),
        (
            "prefix_asn_entries",
            c.prefix_asn_entries.to_native(),
            (p.asn_v4.len() + p.asn_v6.len()) as u64,
        ),
    ];
    for (name, stated, real) in actual {
        ensure!(
            stated == real,
            "count {name} says {stated}, the snapshot holds {real}"
        );
    }
    ensure!(
        p.inputs.asn_entries_v4.to_native() == p.asn_v4.len() as u64
            && p.inputs.asn_entries_v6.to_native() == p.asn_v6.len() as u64,
        "prefix→ASN per-family counts disagree with the table"
    );
    Ok(())
}
