//! The builder: a logical [`SnapshotData`] in, snapshot file bytes out.
//!
//! It computes every derived list of data-model.md §9 (by_host, global,
//! by_country, the netblock and ASN maps, counts) so that the control plane
//! and `snapshot build` cannot disagree, then checks its own output with the
//! full validator: a builder bug can never publish a snapshot edges reject.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use sha2::{Digest, Sha256};

use crate::header::{FORMAT_VERSION, HEADER_LEN, Header};
use crate::intervals::{self, Range};
use crate::model::{Code, SnapshotData};
use crate::net::Prefix;
use crate::schema::*;
use crate::{Snapshot, SnapshotError};

/// Why the logical data cannot become a snapshot.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The logical data contradicts itself (e.g. a directory names an unknown category).
    #[error("inconsistent snapshot data: {0}")]
    Inconsistent(String),
    /// Serialisation failed.
    #[error("cannot encode the snapshot: {0}")]
    Encode(String),
    /// The result failed validation (a builder bug or data the format forbids).
    #[error("the built snapshot does not validate: {0}")]
    Invalid(#[from] SnapshotError),
}

/// Hands out spans in a shared pool, storing identical lists once.
struct Pool<T: Clone + Eq + std::hash::Hash> {
    items: Vec<T>,
    seen: HashMap<Vec<T>, Span>,
}

impl<T: Clone + Eq + std::hash::Hash> Pool<T> {
    fn new() -> Self {
        Pool {
            items: Vec::new(),
            seen: HashMap::new(),
        }
    }

    fn intern(&mut self, list: &[T]) -> Span {
        if list.is_empty() {
            return Span::default();
        }
        if let Some(span) = self.seen.get(list) {
            return *span;
        }
        let span = Span {
            start: self.items.len() as u32,
            len: list.len() as u32,
        };
        self.items.extend_from_slice(list);
        self.seen.insert(list.to_vec(), span);
        span
    }
}

fn net(p: &Prefix) -> NetRec {
    let (addr, len, v4) = p.to_raw();
    NetRec { addr, len, v4 }
}

fn inconsistent(msg: String) -> BuildError {
    BuildError::Inconsistent(msg)
}

/// Builds the snapshot file (header + payload) and validates it.
pub fn build(data: &SnapshotData) -> Result<Vec<u8>, BuildError> {
    let payload = assemble(data)?;
    let bytes = rkyv::to_bytes::<rkyv::rancor::Error>(&payload)
        .map_err(|e| BuildError::Encode(e.to_string()))?;
    let header = Header {
        format_version: FORMAT_VERSION,
        flags: 0,
        payload_len: bytes.len() as u64,
        payload_sha256: Sha256::digest(&bytes).into(),
        version: data.identity.version,
        created_at: data.identity.created_at,
    };
    let mut out = Vec::with_capacity(HEADER_LEN + bytes.len());
    out.extend_from_slice(&header.encode());
    out.extend_from_slice(&bytes);
    Snapshot::from_bytes(out.clone())?;
    Ok(out)
}

fn assemble(data: &SnapshotData) -> Result<Payload, BuildError> {
    let mut p = Payload::default();
    let id = &data.identity;
    p.identity = IdentityRec {
        version: id.version,
        created_at: id.created_at,
        source_generation: id.source_generation,
        installation_id: id.installation_id,
        producer_name: id.producer_name.clone(),
        producer_version: id.producer_version.clone(),
    };
    p.policy = PolicyRec {
        min_mirrors: data.policy.min_mirrors,
        max_hosts: data.policy.max_hosts,
    };

    // Categories, by name.
    let mut categories: Vec<_> = data.categories.iter().collect();
    categories.sort_by(|a, b| a.name.cmp(&b.name));
    let mut cat_index = HashMap::new();
    for (i, c) in categories.iter().enumerate() {
        if cat_index.insert(c.name.as_str(), i as u32).is_some() {
            return Err(inconsistent(format!(
                "category {:?} is listed twice",
                c.name
            )));
        }
        p.categories.push(CategoryRec {
            name: c.name.clone(),
            topdir: c.topdir.clone(),
        });
    }

    // Hosts, by id.
    let mut hosts: Vec<_> = data.hosts.iter().collect();
    hosts.sort_by_key(|h| h.id);
    let mut host_index = HashMap::new();
    for (i, h) in hosts.iter().enumerate() {
        if host_index.insert(h.id, i as u32).is_some() {
            return Err(inconsistent(format!("host id {} is listed twice", h.id)));
        }
        let mut peer_asns = h.peer_asns.clone();
        peer_asns.sort_unstable();
        peer_asns.dedup();
        let mut allowed = h.allowed_countries.clone();
        allowed.sort_unstable();
        allowed.dedup();
        let mut netblocks: Vec<NetRec> = h.netblocks.iter().map(net).collect();
        netblocks.sort_unstable();
        netblocks.dedup();
        let mut cats = Vec::new();
        for hc in &h.categories {
            let &category = cat_index.get(hc.category.as_str()).ok_or_else(|| {
                inconsistent(format!(
                    "host {} names unknown category {:?}",
                    h.name, hc.category
                ))
            })?;
            if hc.urls.is_empty() {
                continue;
            }
            let urls = hc
                .urls
                .iter()
                .map(|u| {
                    let scheme = scheme::of_url(&u.url).ok_or_else(|| {
                        inconsistent(format!(
                            "host {}: URL {:?} has a scheme edges do not serve",
                            h.name, u.url
                        ))
                    })?;
                    Ok(UrlRec {
                        url: u.url.clone(),
                        scheme,
                        ipv4: family::encode(u.ipv4),
                        ipv6: family::encode(u.ipv6),
                    })
                })
                .collect::<Result<Vec<_>, BuildError>>()?;
            cats.push(HostCatRec { category, urls });
        }
        cats.sort_by_key(|c| c.category);
        if cats.windows(2).any(|w| w[0].category == w[1].category) {
            return Err(inconsistent(format!(
                "host {} lists a category twice",
                h.name
            )));
        }
        p.hosts.push(HostRec {
            id: h.id,
            name: h.name.clone(),
            country: h.country,
            bandwidth: h.bandwidth.clamp(1, 10_000),
            max_connections: h.max_connections,
            private: h.private,
            asn: h.asn,
            peer_asns,
            allowed_countries: allowed,
            netblocks,
            categories: cats,
        });
    }

    let mut host_lists: Pool<u32> = Pool::new();
    let mut groups: Pool<CountryGroup> = Pool::new();

    // Directories, by name.
    let mut dirs: Vec<_> = data.directories.iter().collect();
    dirs.sort_by(|a, b| a.name.cmp(&b.name));
    if let Some(w) = dirs.windows(2).find(|w| w[0].name == w[1].name) {
        return Err(inconsistent(format!(
            "directory {:?} is listed twice",
            w[0].name
        )));
    }
    let mut carried_pairs = 0u64;
    let mut file_count = 0u64;
    for (di, d) in dirs.iter().enumerate() {
        let &category = cat_index.get(d.category.as_str()).ok_or_else(|| {
            inconsistent(format!(
                "directory {:?} names unknown category {:?}",
                d.name, d.category
            ))
        })?;
        let topdir = &p.categories[category as usize].topdir;
        let subpath_offset = if d.name == *topdir {
            d.name.len()
        } else if d.name.starts_with(topdir.as_str())
            && d.name.as_bytes().get(topdir.len()) == Some(&b'/')
        {
            topdir.len() + 1
        } else {
            return Err(inconsistent(format!(
                "directory {:?} is not below the topdir {topdir:?}",
                d.name
            )));
        };
        let mut by_host = Vec::with_capacity(d.carriers.len());
        for hid in &d.carriers {
            let &hi = host_index.get(hid).ok_or_else(|| {
                inconsistent(format!(
                    "directory {:?}: carrier {hid} is not an exported host",
                    d.name
                ))
            })?;
            let carries = p.hosts[hi as usize]
                .categories
                .iter()
                .any(|c| c.category == category);
            if !carries {
                return Err(inconsistent(format!(
                    "directory {:?}: host {} has no public URL for its category",
                    d.name, p.hosts[hi as usize].name
                )));
            }
            by_host.push(hi);
        }
        by_host.sort_unstable();
        by_host.dedup();
        carried_pairs += by_host.len() as u64;
        let global: Vec<u32> = by_host
            .iter()
            .copied()
            .filter(|&h| !p.hosts[h as usize].private)
            .collect();
        let mut by_country: BTreeMap<Code, Vec<u32>> = BTreeMap::new();
        for &h in &global {
            by_country
                .entry(p.hosts[h as usize].country)
                .or_default()
                .push(h);
        }
        let group_list: Vec<CountryGroup> = by_country
            .iter()
            .map(|(cc, hosts)| CountryGroup {
                country: *cc,
                hosts: host_lists.intern(hosts),
            })
            .collect();
        let by_host_span = host_lists.intern(&by_host);
        let global_span = host_lists.intern(&global);
        let by_country_span = groups.intern(&group_list);

        // Files of this directory, by name.
        let mut files: Vec<_> = d.files.iter().filter(|f| !f.versions.is_empty()).collect();
        files.sort_by(|a, b| a.name.cmp(&b.name));
        if let Some(w) = files.windows(2).find(|w| w[0].name == w[1].name) {
            return Err(inconsistent(format!(
                "directory {:?}: file {:?} is listed twice",
                d.name, w[0].name
            )));
        }
        let files_span = Span {
            start: p.files.len() as u32,
            len: files.len() as u32,
        };
        for f in files {
            let start = p.versions.len() as u32;
            let mut versions: Vec<_> = f.versions.iter().collect();
            // Stable: ties keep the producer's order.
            versions.sort_by_key(|v| std::cmp::Reverse(v.timestamp));
            for v in versions {
                p.versions.push(VersionRec {
                    timestamp: v.timestamp,
                    size: v.size,
                    md5: v.md5.clone(),
                    sha1: v.sha1.clone(),
                    sha256: v.sha256.clone(),
                    sha512: v.sha512.clone(),
                });
                file_count += 1;
            }
            let len = p.versions.len() as u32 - start;
            p.files.push(FileRec {
                dir: di as u32,
                name: f.name.clone(),
                versions: Span { start, len },
            });
        }
        p.directories.push(DirRec {
            name: d.name.clone(),
            category,
            subpath_offset: subpath_offset as u32,
            by_host: by_host_span,
            global: global_span,
            by_country: by_country_span,
            files: files_span,
        });
    }
    let dir_index = |name: &str| {
        p.directories
            .binary_search_by(|d| d.name.as_str().cmp(name))
            .ok()
    };

    // Repo map.
    let mut repos: Vec<_> = data.repositories.iter().collect();
    repos.sort();
    for r in repos {
        let dir = dir_index(&r.directory).ok_or_else(|| {
            inconsistent(format!(
                "repository {}/{}: directory {:?} is not exported",
                r.prefix, r.arch, r.directory
            ))
        })?;
        let repodata = if r.directory.rsplit('/').next() == Some("repodata") {
            Some(dir)
        } else {
            dir_index(&format!("{}/repodata", r.directory))
        };
        p.repo_map.push(RepoRec {
            prefix: r.prefix.clone(),
            arch: r.arch.clone(),
            dir: dir as u32,
            repodata: repodata.map_or(NONE, |i| i as u32),
        });
    }
    let mut redirects = data.redirects.clone();
    redirects.sort();
    p.redirects = redirects
        .into_iter()
        .map(|(from, to)| RedirectRec { from, to })
        .collect();
    let mut disabled = data.disabled.clone();
    disabled.sort();
    disabled.dedup();
    p.disabled = disabled;

    // Host netblock map and ASN map, from the hosts.
    let mut nb_map: BTreeMap<NetRec, Vec<u32>> = BTreeMap::new();
    let mut asn_map: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for (i, h) in p.hosts.iter().enumerate() {
        for n in &h.netblocks {
            nb_map.entry(*n).or_default().push(i as u32);
        }
        for asn in h.asn.iter().chain(h.peer_asns.iter()) {
            asn_map.entry(*asn).or_default().push(i as u32);
        }
    }
    let mut netblock_pairs = 0u64;
    for (prefix, mut hosts) in nb_map {
        hosts.dedup();
        netblock_pairs += hosts.len() as u64;
        p.netblocks.push(NetblockRec {
            prefix,
            hosts: host_lists.intern(&hosts),
        });
    }
    let mut asn_pairs = 0u64;
    for (asn, mut hosts) in asn_map {
        hosts.dedup();
        asn_pairs += hosts.len() as u64;
        p.asn_map.push(AsnRec {
            asn,
            hosts: host_lists.intern(&hosts),
        });
    }

    let mut overrides: Vec<_> = data
        .netblock_countries
        .iter()
        .map(|(n, c)| (net(n), *c))
        .collect();
    overrides.sort();
    p.netblock_countries = overrides
        .into_iter()
        .map(|(prefix, country)| NetCountryRec { prefix, country })
        .collect();
    let mut continents = data.continents.clone();
    continents.sort();
    p.continents = continents
        .into_iter()
        .map(|(country, continent)| ContinentRec { country, continent })
        .collect();

    add_prefix_asn(&mut p, &data.prefix_asn);

    p.inputs = InputsRec {
        asn_source: data.inputs.asn_source.clone(),
        asn_imported_at: data.inputs.asn_imported_at,
        asn_sha256: data.inputs.asn_sha256.clone(),
        asn_entries_v4: p.asn_v4.len() as u64,
        asn_entries_v6: p.asn_v6.len() as u64,
        continents_source: data.inputs.continents_source.clone(),
        geoip_type: data.inputs.geoip_type.clone(),
        geoip_build_epoch: data.inputs.geoip_build_epoch,
        geoip_sha256: data.inputs.geoip_sha256.clone(),
    };
    p.host_lists = host_lists.items;
    p.country_groups = groups.items;
    p.counts = Counts {
        hosts: p.hosts.len() as u64,
        public_hosts: p.hosts.iter().filter(|h| !h.private).count() as u64,
        directories: p.directories.len() as u64,
        carried_pairs,
        repo_map_entries: p.repo_map.len() as u64,
        file_details: file_count,
        netblocks: netblock_pairs,
        asn_map_entries: asn_pairs,
        prefix_asn_entries: (p.asn_v4.len() + p.asn_v6.len()) as u64,
    };
    Ok(p)
}

/// Stores the prefix→ASN table and its interval index. Length-0 prefixes are
/// never stored (`asn import` skips them); a prefix given twice keeps its first ASN.
fn add_prefix_asn(p: &mut Payload, table: &[(Prefix, u32)]) {
    let mut v4: Vec<(u32, u8, u32)> = Vec::new();
    let mut v6: Vec<(u128, u8, u32)> = Vec::new();
    for (prefix, asn) in table {
        if prefix.is_default_route() {
            continue;
        }
        match prefix.addr() {
            IpAddr::V4(a) => v4.push((u32::from(a), prefix.len(), *asn)),
            IpAddr::V6(a) => v6.push((u128::from(a), prefix.len(), *asn)),
        }
    }
    v4.sort_by_key(|e| (e.0, e.1));
    v4.dedup_by_key(|e| (e.0, e.1));
    v6.sort_by_key(|e| (e.0, e.1));
    v6.dedup_by_key(|e| (e.0, e.1));
    let ranges4: Vec<Range> = v4
        .iter()
        .map(|&(a, l, _)| Range {
            start: a as u128,
            end: (a | !crate::net::mask32(l)) as u128,
        })
        .collect();
    for (start, entry) in intervals::flatten(&ranges4, u32::MAX as u128) {
        p.asn_v4_spans.push(Span4Rec {
            start: start as u32,
            entry,
        });
    }
    p.asn_v4 = v4
        .into_iter()
        .map(|(addr, len, asn)| Asn4Rec { addr, len, asn })
        .collect();
    let ranges6: Vec<Range> = v6
        .iter()
        .map(|&(a, l, _)| Range {
            start: a,
            end: a | !crate::net::mask128(l),
        })
        .collect();
    for (start, entry) in intervals::flatten(&ranges6, u128::MAX) {
        p.asn_v6_spans.push(Span6Rec {
            hi: (start >> 64) as u64,
            lo: start as u64,
            entry,
        });
    }
    p.asn_v6 = v6
        .into_iter()
        .map(|(a, len, asn)| Asn6Rec {
            hi: (a >> 64) as u64,
            lo: a as u64,
            len,
            asn,
        })
        .collect();
}
