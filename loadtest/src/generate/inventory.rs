//! `generate-inventory`: the dataset of [`super::generate`] as an inventory file
//! (data-model.md §11), the input of `mirrorfleet import inventory`.
//!
//! The logical snapshot is turned back into what an operator would keep: products with their
//! versions, arches, the three categories with their directories, one repository per repo-map
//! entry (with its `repomd.xml` history), the other `repomd.xml` histories as `files`, sites
//! grouping the hosts, and per host category the `up2date` patterns that match exactly the
//! directories the host carries (compressed as the exporter does: `X/**` for a fully carried
//! subtree). Importing the file gives one up-to-date `host_category_dir` row per carried
//! (host, directory) pair, so a database built from it publishes the same directories and
//! carrier sets as `generate` writes directly (host ids differ: the importer numbers hosts in
//! (site name, host name) order).
//!
//! The JSON is written with `serde_json` only; nothing here knows the control plane's types.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use mirrorfleet_snapshot::model::{FileVersion, SnapshotData};
use serde_json::{Map, Value, json};

use crate::rng::Rng;

/// Arches that are not primary (archived releases and secondary arches only).
const SECONDARY_ARCHES: [&str; 5] = ["armhfp", "i386", "i686", "mips64el", "ppc64"];

/// What the inventory holds.
#[derive(Debug, Default)]
pub struct InventorySummary {
    pub sites: usize,
    pub hosts: usize,
    pub private_hosts: usize,
    pub countries: usize,
    pub categories: usize,
    pub directories: usize,
    /// Of which ancestors `generate` had trimmed away.
    pub added_ancestors: usize,
    /// `directories` entries written (the rest follow from repositories, files and ancestors).
    pub listed_directories: usize,
    pub repositories: usize,
    pub files: usize,
    pub file_versions: usize,
    pub host_categories: usize,
    pub up2date_patterns: usize,
    /// Up-to-date (host category, directory) pairs the patterns expand to on import.
    pub hcd_rows: usize,
    pub netblocks: usize,
    pub peer_asns: usize,
}

/// One category's directories, relative to its topdir (`""` is the topdir), sorted byte-wise,
/// with each one's parent and whether it has a subdirectory.
struct CatTree {
    name: String,
    topdir: String,
    rel: Vec<String>,
    parent: Vec<Option<usize>>,
    has_children: Vec<bool>,
}

impl CatTree {
    fn new(name: &str, topdir: &str, mut rel: Vec<String>) -> anyhow::Result<CatTree> {
        rel.sort();
        rel.dedup();
        let index: HashMap<&str, usize> = rel
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), i))
            .collect();
        anyhow::ensure!(
            index.contains_key(""),
            "category {name}: the topdir is not a directory"
        );
        let mut parent = vec![None; rel.len()];
        let mut has_children = vec![false; rel.len()];
        for (i, r) in rel.iter().enumerate() {
            if r.is_empty() {
                continue;
            }
            let up = r.rfind('/').map_or("", |cut| &r[..cut]);
            let p = *index.get(up).ok_or_else(|| {
                anyhow::anyhow!("category {name}: directory {r:?} has no parent {up:?}")
            })?;
            parent[i] = Some(p);
            has_children[p] = true;
        }
        Ok(CatTree {
            name: name.to_string(),
            topdir: topdir.to_string(),
            rel,
            parent,
            has_children,
        })
    }

    /// The shortest pattern list matching exactly the directories flagged in `up`: `**` when
    /// all are, `X/**` for each largest fully flagged subtree with subdirectories, plain `X`
    /// for every other flagged directory; sorted byte-wise (data-model.md §11.1, as
    /// `mirrorfleet export inventory` writes them).
    fn compress(&self, up: &[bool]) -> Vec<String> {
        if !up.contains(&true) {
            return Vec::new();
        }
        if up.iter().all(|&u| u) {
            return vec!["**".into()];
        }
        // Parents sort before their children, so one backward pass settles `full`.
        let mut full = up.to_vec();
        for i in (0..self.rel.len()).rev() {
            if !full[i]
                && let Some(p) = self.parent[i]
            {
                full[p] = false;
            }
        }
        let mut out = Vec::new();
        for (i, name) in self.rel.iter().enumerate() {
            if !up[i] || self.parent[i].is_some_and(|p| full[p]) {
                continue;
            }
            if full[i] && self.has_children[i] {
                out.push(if name.is_empty() {
                    "**".to_string()
                } else {
                    format!("{name}/**")
                });
            } else {
                out.push(name.clone());
            }
        }
        out.sort();
        out
    }
}

/// The version a repository directory belongs to, from its path.
fn version_of(category: usize, rel: &str) -> Option<String> {
    let parts: Vec<&str> = rel.split('/').collect();
    let after = |key: &str| {
        parts
            .iter()
            .position(|p| *p == key)
            .and_then(|i| parts.get(i + 1))
            .map(|s| s.to_string())
    };
    match category {
        // Fedora Linux: releases/N, updates/N, updates/testing/N, development/rawhide.
        0 => {
            if parts.first() == Some(&"development") {
                return Some("rawhide".into());
            }
            match parts.first() {
                Some(&"releases") => after("releases"),
                Some(&"updates") if parts.get(1) == Some(&"testing") => after("testing"),
                Some(&"updates") => after("updates"),
                _ => None,
            }
        }
        // EPEL: V/… or testing/V/….
        1 => match parts.first() {
            Some(&"testing") => parts.get(1).map(|s| s.to_string()),
            Some(v) => Some(v.to_string()),
            None => None,
        },
        // Archive (product Fedora): only the archived Fedora Linux releases carry a version.
        _ => {
            if rel.starts_with("fedora/linux/releases/") {
                after("releases")
            } else if rel.starts_with("fedora/linux/updates/") {
                after("updates")
            } else {
                None
            }
        }
    }
}

/// Versions sorted as numbers where they are numbers (`8` < `10.0`), names after.
fn sort_versions(v: &mut [String]) {
    let key = |s: &String| -> (u8, Vec<u64>, String) {
        let nums: Option<Vec<u64>> = s.split('.').map(|p| p.parse().ok()).collect();
        match nums {
            Some(n) => (0, n, String::new()),
            None => (1, Vec::new(), s.clone()),
        }
    };
    v.sort_by_key(key);
}

fn file_version(v: &FileVersion) -> Value {
    let mut m = Map::new();
    m.insert("timestamp".into(), json!(v.timestamp));
    m.insert("size".into(), json!(v.size));
    for (k, d) in [
        ("md5", &v.md5),
        ("sha1", &v.sha1),
        ("sha256", &v.sha256),
        ("sha512", &v.sha512),
    ] {
        if let Some(d) = d {
            m.insert(k.into(), json!(d));
        }
    }
    Value::Object(m)
}

/// Builds the inventory document for `data` (from [`super::generate`]). `seed` decides the
/// grouping of hosts into sites and the owners.
pub fn inventory(
    data: &SnapshotData,
    seed: u64,
    progress: &mut dyn FnMut(&str),
) -> anyhow::Result<(Value, InventorySummary)> {
    let mut summary = InventorySummary::default();

    // ---- categories and their directory trees
    progress("inventory: categories and directories …");
    let cat_index: HashMap<&str, usize> = data
        .categories
        .iter()
        .enumerate()
        .map(|(i, c)| (c.name.as_str(), i))
        .collect();
    let mut rels: Vec<Vec<String>> = vec![Vec::new(); data.categories.len()];
    // Directory (full name) → (category, relative name).
    let mut where_is: HashMap<&str, (usize, String)> = HashMap::new();
    for d in &data.directories {
        let ci = *cat_index
            .get(d.category.as_str())
            .ok_or_else(|| anyhow::anyhow!("directory {}: unknown category", d.name))?;
        let topdir = &data.categories[ci].topdir;
        let rel = if d.name == *topdir {
            String::new()
        } else {
            d.name
                .strip_prefix(topdir.as_str())
                .and_then(|r| r.strip_prefix('/'))
                .ok_or_else(|| anyhow::anyhow!("directory {} is outside {topdir}", d.name))?
                .to_string()
        };
        rels[ci].push(rel.clone());
        where_is.insert(d.name.as_str(), (ci, rel));
    }
    // `generate` trims `Packages/<letter>` and image directories to hit its count, which can
    // leave a directory without its parent; an inventory implies every ancestor, so the
    // missing ones are added here, carried by whoever carries something below them.
    let mut added: Vec<BTreeSet<String>> = vec![BTreeSet::new(); rels.len()];
    for (ci, list) in rels.iter_mut().enumerate() {
        let present: BTreeSet<String> = list.iter().cloned().collect();
        for rel in list.iter() {
            let mut cut = rel.as_str();
            while let Some(i) = cut.rfind('/') {
                cut = &cut[..i];
                if present.contains(cut) || !added[ci].insert(cut.to_string()) {
                    break;
                }
            }
        }
        list.extend(added[ci].iter().cloned());
    }
    summary.added_ancestors = added.iter().map(BTreeSet::len).sum();
    let trees: Vec<CatTree> = data
        .categories
        .iter()
        .zip(rels)
        .map(|(c, r)| CatTree::new(&c.name, &c.topdir, r))
        .collect::<anyhow::Result<_>>()?;
    summary.categories = trees.len();
    summary.directories = trees.iter().map(|t| t.rel.len()).sum();

    // ---- repositories (one directory each), their repomd.xml histories, other files
    let files_of: HashMap<&str, &Vec<FileVersion>> = data
        .directories
        .iter()
        .flat_map(|d| {
            d.files
                .iter()
                .filter(|f| f.name == "repomd.xml")
                .map(move |f| (d.name.as_str(), &f.versions))
        })
        .collect();
    let mut used_dirs: BTreeSet<&str> = BTreeSet::new();
    let mut repos = Vec::new();
    let mut repo_repodata: BTreeSet<String> = BTreeSet::new();
    let mut versions: Vec<BTreeSet<String>> = vec![BTreeSet::new(); trees.len()];
    let mut arches: BTreeSet<String> = ["aarch64", "ppc64le", "s390x", "x86_64", "source"]
        .into_iter()
        .map(String::from)
        .collect();
    let mut dropped_prefixes = Vec::new();
    for r in &data.repositories {
        // A directory serves one repository: a second prefix on it (fedora-N for rawhide)
        // becomes a redirect to the first.
        if !used_dirs.insert(r.directory.as_str()) {
            dropped_prefixes.push(r.prefix.clone());
            continue;
        }
        let (ci, rel) = where_is
            .get(r.directory.as_str())
            .ok_or_else(|| anyhow::anyhow!("repository {}: unknown directory", r.prefix))?;
        let version = version_of(*ci, rel);
        if let Some(v) = &version {
            versions[*ci].insert(v.clone());
        }
        arches.insert(r.arch.clone());
        let repodata = format!("{}/repodata", r.directory);
        let repomd: Vec<Value> = files_of
            .get(repodata.as_str())
            .map(|v| v.iter().map(file_version).collect())
            .unwrap_or_default();
        summary.file_versions += repomd.len();
        repo_repodata.insert(repodata);
        let mut m = Map::new();
        m.insert("prefix".into(), json!(r.prefix));
        m.insert("arch".into(), json!(r.arch));
        m.insert("category".into(), json!(trees[*ci].name));
        if let Some(v) = version {
            m.insert("version".into(), json!(v));
        }
        m.insert("dir".into(), json!(rel));
        m.insert("repomd".into(), Value::Array(repomd));
        repos.push(Value::Object(m));
    }
    summary.repositories = repos.len();
    let mut files = Vec::new();
    for d in &data.directories {
        if repo_repodata.contains(&d.name) {
            continue;
        }
        let (ci, rel) = &where_is[d.name.as_str()];
        for f in &d.files {
            summary.file_versions += f.versions.len();
            files.push(json!({
                "category": trees[*ci].name,
                "dir": rel,
                "name": f.name,
                "history": f.versions.iter().map(file_version).collect::<Vec<_>>(),
            }));
        }
    }
    summary.files = files.len();

    // `directories` entries: the leaves the repositories and files do not imply.
    let mut implied: Vec<BTreeSet<String>> = vec![BTreeSet::new(); trees.len()];
    let mut imply = |ci: usize, rel: &str| {
        let set = &mut implied[ci];
        let mut end = rel.len();
        while end > 0 && set.insert(rel[..end].to_string()) {
            end = rel[..end].rfind('/').unwrap_or(0);
        }
    };
    for r in &data.repositories {
        if let Some((ci, rel)) = where_is.get(r.directory.as_str()) {
            imply(*ci, rel);
            imply(*ci, &format!("{rel}/repodata"));
        }
    }
    for d in &data.directories {
        if !d.files.is_empty() && !repo_repodata.contains(&d.name) {
            let (ci, rel) = &where_is[d.name.as_str()];
            imply(*ci, rel);
        }
    }

    // ---- products, arches, categories
    let mut fedora_versions: Vec<String> = versions[0].union(&versions[2]).cloned().collect();
    sort_versions(&mut fedora_versions);
    let mut epel_versions: Vec<String> = versions[1].iter().cloned().collect();
    sort_versions(&mut epel_versions);
    let version_list = |vs: &[String]| -> Vec<Value> {
        vs.iter()
            .enumerate()
            .map(|(i, v)| {
                if v == "rawhide" {
                    json!({ "name": v, "display_name": "Rawhide", "is_test": true,
                            "sort_order": i })
                } else {
                    json!({ "name": v, "sort_order": i })
                }
            })
            .collect()
    };
    let products = json!([
        { "name": "Fedora", "versions": version_list(&fedora_versions) },
        { "name": "EPEL", "versions": version_list(&epel_versions) },
    ]);
    let arches: Vec<Value> = arches
        .iter()
        .map(|a| {
            if SECONDARY_ARCHES.contains(&a.as_str()) {
                json!({ "name": a, "primary": false })
            } else {
                json!(a)
            }
        })
        .collect();
    let mut categories = Vec::new();
    for (ci, t) in trees.iter().enumerate() {
        let listed: Vec<&String> = t
            .rel
            .iter()
            .enumerate()
            .filter(|(i, r)| !t.has_children[*i] && !r.is_empty() && !implied[ci].contains(*r))
            .map(|(_, r)| r)
            .collect();
        summary.listed_directories += listed.len();
        let (product, repomap) = match ci {
            0 => ("Fedora", Some("fedora")),
            1 => ("EPEL", Some("epel")),
            _ => ("Fedora", None),
        };
        let mut m = Map::new();
        m.insert("name".into(), json!(t.name));
        m.insert("product".into(), json!(product));
        m.insert("topdir".into(), json!(t.topdir));
        if let Some(r) = repomap {
            m.insert("repomap".into(), json!(r));
        }
        m.insert("directories".into(), json!(listed));
        categories.push(Value::Object(m));
    }

    // ---- carriage: per (host, category), which directories it carries
    progress("inventory: up2date patterns per host category …");
    let host_index: HashMap<u64, usize> = data
        .hosts
        .iter()
        .enumerate()
        .map(|(i, h)| (h.id, i))
        .collect();
    // carried[host][category] = flags over trees[category].rel
    let mut carried: Vec<Vec<Option<Vec<bool>>>> = vec![vec![None; trees.len()]; data.hosts.len()];
    let rel_index: Vec<HashMap<&str, usize>> = trees
        .iter()
        .map(|t| {
            t.rel
                .iter()
                .enumerate()
                .map(|(i, r)| (r.as_str(), i))
                .collect()
        })
        .collect();
    for d in &data.directories {
        let (ci, rel) = &where_is[d.name.as_str()];
        let di = rel_index[*ci][rel.as_str()];
        // The added ancestors above this directory.
        let mut extra = Vec::new();
        let mut cut = rel.as_str();
        while let Some(i) = cut.rfind('/') {
            cut = &cut[..i];
            if !added[*ci].contains(cut) {
                break;
            }
            extra.push(rel_index[*ci][cut]);
        }
        for h in &d.carriers {
            let hi = host_index[h];
            let flags = carried[hi][*ci].get_or_insert_with(|| vec![false; trees[*ci].rel.len()]);
            flags[di] = true;
            for &a in &extra {
                flags[a] = true;
            }
        }
    }
    summary.hcd_rows = carried
        .iter()
        .flatten()
        .flatten()
        .map(|f| f.iter().filter(|&&b| b).count())
        .sum();

    // ---- sites and hosts
    progress("inventory: sites and hosts …");
    let mut rng = Rng::derive(seed, "inventory-sites");
    let mut sites: Vec<(String, Vec<Value>)> = Vec::new();
    let mut site_names: BTreeSet<String> = BTreeSet::new();
    let mut countries = BTreeSet::new();
    for (hi, h) in data.hosts.iter().enumerate() {
        summary.hosts += 1;
        summary.private_hosts += usize::from(h.private);
        countries.insert(h.country);
        let mut hc = Map::new();
        for cat in &h.categories {
            let ci = *cat_index
                .get(cat.category.as_str())
                .ok_or_else(|| anyhow::anyhow!("host {}: unknown category", h.name))?;
            let patterns = carried[hi][ci]
                .as_ref()
                .map(|flags| trees[ci].compress(flags))
                .unwrap_or_default();
            summary.host_categories += 1;
            summary.up2date_patterns += patterns.len();
            let urls: Vec<Value> = cat
                .urls
                .iter()
                .map(|u| match (u.ipv4, u.ipv6) {
                    (None, None) => json!(u.url),
                    (v4, v6) => {
                        let mut m = Map::new();
                        m.insert("url".into(), json!(u.url));
                        if let Some(b) = v4 {
                            m.insert("ipv4".into(), json!(b));
                        }
                        if let Some(b) = v6 {
                            m.insert("ipv6".into(), json!(b));
                        }
                        Value::Object(m)
                    }
                })
                .collect();
            hc.insert(
                cat.category.clone(),
                json!({ "urls": urls, "up2date": patterns }),
            );
        }
        let country = String::from_utf8_lossy(&h.country).into_owned();
        let mut m = Map::new();
        m.insert("name".into(), json!(h.name));
        m.insert("country".into(), json!(country));
        m.insert("bandwidth".into(), json!(h.bandwidth));
        if (1..=100).contains(&h.max_connections) {
            m.insert("max_connections".into(), json!(h.max_connections));
        }
        if h.private {
            m.insert("private".into(), json!(true));
        }
        if let Some(asn) = h.asn {
            m.insert("asn".into(), json!(asn));
        }
        if !h.netblocks.is_empty() {
            summary.netblocks += h.netblocks.len();
            let nets: Vec<String> = h.netblocks.iter().map(|p| p.to_string()).collect();
            m.insert("netblocks".into(), json!(nets));
        }
        if !h.peer_asns.is_empty() {
            // `generate` may draw the same peer twice; an inventory lists each once.
            let peers: BTreeSet<u32> = h.peer_asns.iter().copied().collect();
            summary.peer_asns += peers.len();
            m.insert("peer_asns".into(), json!(peers));
        }
        if !h.allowed_countries.is_empty() {
            let cc: Vec<String> = h
                .allowed_countries
                .iter()
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect();
            m.insert("allowed_countries".into(), json!(cc));
        }
        m.insert(
            "contact_email".into(),
            json!(format!("mirror-admin@{}", domain(&h.name))),
        );
        m.insert("categories".into(), Value::Object(hc));
        // About one host in eight shares the previous host's site (an organisation running
        // several mirrors); the others get a site named after their domain.
        match sites.last_mut() {
            Some(last) if rng.chance(0.12) => last.1.push(Value::Object(m)),
            _ => {
                let mut name = domain(&h.name).to_string();
                let mut n = 2;
                while !site_names.insert(name.clone()) {
                    name = format!("{} ({n})", domain(&h.name));
                    n += 1;
                }
                sites.push((name, vec![Value::Object(m)]));
            }
        }
    }
    summary.sites = sites.len();
    summary.countries = countries.len();
    let sites: Vec<Value> = sites
        .into_iter()
        .map(|(name, hosts)| {
            let owner: String = name
                .chars()
                .filter_map(|c| match c {
                    'a'..='z' | '0'..='9' => Some(c),
                    '.' => Some('-'),
                    _ => None,
                })
                .take(26)
                .collect();
            json!({
                "name": name,
                "org_url": format!("https://www.{}", name.split(' ').next().unwrap_or(&name)),
                "owners": [format!("{owner}-adm")],
                "hosts": hosts,
            })
        })
        .collect();

    // ---- redirects, disabled repositories, geography
    let mut redirects: BTreeMap<String, String> = data.redirects.iter().cloned().collect();
    for p in dropped_prefixes {
        if p != "rawhide" && !redirects.contains_key(&p) {
            redirects.insert(p, "rawhide".into());
        }
    }
    let disabled: Vec<Value> = data
        .disabled
        .iter()
        .map(|p| json!({ "prefix": p, "reason": "end of life" }))
        .collect();

    let mut doc = Map::new();
    doc.insert("format".into(), json!("mirrorfleet-inventory"));
    doc.insert("format_version".into(), json!(1));
    doc.insert("generator".into(), json!("mirrorfleet-loadtest"));
    doc.insert(
        "policy".into(),
        json!({ "min_mirrors": data.policy.min_mirrors, "max_hosts": data.policy.max_hosts }),
    );
    doc.insert("products".into(), products);
    doc.insert("arches".into(), Value::Array(arches));
    doc.insert("categories".into(), Value::Array(categories));
    doc.insert("repositories".into(), Value::Array(repos));
    doc.insert("files".into(), Value::Array(files));
    doc.insert("repo_redirects".into(), json!(redirects));
    doc.insert("disabled_repos".into(), Value::Array(disabled));
    doc.insert("sites".into(), Value::Array(sites));
    Ok((Value::Object(doc), summary))
}

/// `mirror.example.org` → `example.org`.
fn domain(host: &str) -> &str {
    host.split_once('.').map_or(host, |(_, d)| d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(rel: &[&str]) -> CatTree {
        CatTree::new("C", "pub/c", rel.iter().map(|s| s.to_string()).collect()).unwrap()
    }

    #[test]
    fn compress_matches_the_exporter_rules() {
        let t = tree(&["", "a", "a/b", "a/b/c", "a/d", "e", "e/f"]);
        let flags = |set: &[&str]| -> Vec<bool> {
            t.rel.iter().map(|r| set.contains(&r.as_str())).collect()
        };
        assert_eq!(t.compress(&flags(&[])), Vec::<String>::new());
        assert_eq!(
            t.compress(&flags(&["", "a", "a/b", "a/b/c", "a/d", "e", "e/f"])),
            ["**"]
        );
        // a/b fully, a not (a/d missing), e alone (e/f missing), topdir alone.
        assert_eq!(
            t.compress(&flags(&["", "a", "a/b", "a/b/c", "e"])),
            ["", "a", "a/b/**", "e"]
        );
        // A leaf is written plainly, never with /**.
        assert_eq!(t.compress(&flags(&["a/d", "e/f"])), ["a/d", "e/f"]);
    }

    /// What `mirrorfleet import inventory` makes of the file, recomputed from the JSON alone
    /// (data-model.md §11.1: a category's directories are the topdir, its `directories`, every
    /// repository `dir` and its `repodata`, every `files` `dir` and their ancestors; an
    /// `up2date` pattern `X` is X, `X/**` is X and below, `**` is everything), must be exactly
    /// the generated dataset: the same directories, each carried by the same hosts.
    #[test]
    fn the_file_describes_the_dataset() {
        use crate::generate::{Params, generate};
        use crate::plan::Plan;
        let params = Params {
            seed: 3,
            hosts: 40,
            private: 12,
            directories: 3_000,
            asn_prefixes: 5_000,
            netblocks: 200,
            version: 1,
            created_at: 1_767_225_600,
        };
        let plan = Plan::new();
        let (data, _) = generate(&params, &plan, &mut |_| {}).unwrap();
        let (doc, summary) = inventory(&data, 3, &mut |_| {}).unwrap();
        let (again, _) = inventory(&data, 3, &mut |_| {}).unwrap();
        assert_eq!(doc, again, "deterministic");

        let str_of = |v: &Value| v.as_str().unwrap().to_string();
        let topdirs: BTreeMap<String, String> = doc["categories"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (str_of(&c["name"]), str_of(&c["topdir"])))
            .collect();
        // Directories per category, relative.
        let mut dirs: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut add = |cat: &str, rel: &str| {
            let set = dirs.entry(cat.to_string()).or_default();
            set.insert(String::new());
            let mut cut = rel;
            while !cut.is_empty() {
                set.insert(cut.to_string());
                cut = cut.rfind('/').map_or("", |i| &cut[..i]);
            }
        };
        for c in doc["categories"].as_array().unwrap() {
            for d in c["directories"].as_array().unwrap() {
                add(c["name"].as_str().unwrap(), d.as_str().unwrap());
            }
        }
        for r in doc["repositories"].as_array().unwrap() {
            let dir = r["dir"].as_str().unwrap();
            add(r["category"].as_str().unwrap(), dir);
            add(r["category"].as_str().unwrap(), &format!("{dir}/repodata"));
        }
        for f in doc["files"].as_array().unwrap() {
            add(f["category"].as_str().unwrap(), f["dir"].as_str().unwrap());
        }
        let full = |cat: &str, rel: &str| {
            if rel.is_empty() {
                topdirs[cat].clone()
            } else {
                format!("{}/{rel}", topdirs[cat])
            }
        };
        let mut from_file: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (cat, set) in &dirs {
            for rel in set {
                from_file.entry(full(cat, rel)).or_default();
            }
        }
        // Carriers per directory, by host name.
        let mut hosts = 0;
        for site in doc["sites"].as_array().unwrap() {
            for host in site["hosts"].as_array().unwrap() {
                hosts += 1;
                let name = str_of(&host["name"]);
                for (cat, hc) in host["categories"].as_object().unwrap() {
                    let patterns: Vec<String> = hc["up2date"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(str_of)
                        .collect();
                    for rel in &dirs[cat] {
                        let hit = patterns.iter().any(|p| match p.strip_suffix("/**") {
                            _ if p == "**" => true,
                            Some(x) => rel == x || rel.starts_with(&format!("{x}/")),
                            None => rel == p,
                        });
                        if hit {
                            from_file
                                .get_mut(&full(cat, rel))
                                .unwrap()
                                .insert(name.clone());
                        }
                    }
                }
            }
        }
        assert_eq!(hosts, 40);
        let names: BTreeMap<u64, String> =
            data.hosts.iter().map(|h| (h.id, h.name.clone())).collect();
        let mut generated: BTreeMap<String, BTreeSet<String>> = data
            .directories
            .iter()
            .map(|d| {
                let carriers = d.carriers.iter().map(|id| names[id].clone()).collect();
                (d.name.clone(), carriers)
            })
            .collect();
        // Ancestors `generate` trimmed away come back, carried by whoever carries below them.
        let restored: Vec<String> = from_file
            .keys()
            .filter(|k| !generated.contains_key(*k))
            .cloned()
            .collect();
        assert_eq!(restored.len(), summary.added_ancestors);
        for name in restored {
            let below: BTreeSet<String> = generated
                .iter()
                .filter(|(k, _)| k.starts_with(&format!("{name}/")))
                .flat_map(|(_, v)| v.iter().cloned())
                .collect();
            generated.insert(name, below);
        }
        assert_eq!(from_file, generated);
        let pairs: usize = from_file.values().map(BTreeSet::len).sum();
        assert_eq!(pairs, summary.hcd_rows);
        assert_eq!(summary.directories, from_file.len());
    }

    #[test]
    fn versions_from_paths() {
        assert_eq!(
            version_of(0, "releases/43/Everything/x86_64/os").as_deref(),
            Some("43")
        );
        assert_eq!(
            version_of(0, "updates/testing/42/Everything/x86_64").as_deref(),
            Some("42")
        );
        assert_eq!(
            version_of(0, "updates/41/Everything/source/tree").as_deref(),
            Some("41")
        );
        assert_eq!(
            version_of(0, "development/rawhide/Everything/x86_64/os").as_deref(),
            Some("rawhide")
        );
        assert_eq!(
            version_of(1, "testing/10.1/Everything/x86_64").as_deref(),
            Some("10.1")
        );
        assert_eq!(
            version_of(2, "fedora/linux/releases/40/Everything/x86_64/os").as_deref(),
            Some("40")
        );
        assert_eq!(version_of(2, "epel/7/x86_64"), None);
        let mut v: Vec<String> = ["10.0", "9", "rawhide", "8", "10.1"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        sort_versions(&mut v);
        assert_eq!(v, ["8", "9", "10.0", "10.1", "rawhide"]);
    }
}
