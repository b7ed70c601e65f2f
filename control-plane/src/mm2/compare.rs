//! The report's comparison (control-plane.md §8.1): for every directory, the hosts
//! MirrorManager2's cache generator would list for it (its `by_host`: active by all four
//! switches, a non-private URL in a host category of a category linked to the directory, up to
//! date there or always up to date) against the hosts that carry it after the import
//! (data-model.md §9 on the validated inventory, which the database derivation equals), each
//! difference with its reason.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::Write as _;

use super::convert::Converted;
use super::source::Source;
use crate::inventory::{BuildOptions, Inventory, to_snapshot_data};

/// One directory whose host lists differ.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectoryDifference {
    pub directory: String,
    /// Hosts MirrorManager2 lists and we do not: (host id, reason).
    pub only_mm2: Vec<(i64, String)>,
    /// Hosts we list and MirrorManager2 does not: (host id, reason).
    pub only_ours: Vec<(i64, String)>,
}

/// The comparison over every directory either side exports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Comparison {
    pub directories: usize,
    pub differences: Vec<DirectoryDifference>,
}

impl Comparison {
    /// The report section: the totals, then each differing directory (all of them when
    /// `all`, else the first five).
    pub fn render(&self, all: bool) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "hosts per directory against MirrorManager2's cache: {} directories, {} the same, {} \
             different",
            self.directories,
            self.directories - self.differences.len(),
            self.differences.len()
        );
        let shown = if all { self.differences.len() } else { 5 };
        for d in self.differences.iter().take(shown) {
            let _ = writeln!(out, "  {}", d.directory);
            for (id, reason) in &d.only_mm2 {
                let _ = writeln!(out, "    - host {id}: {reason}");
            }
            for (id, reason) in &d.only_ours {
                let _ = writeln!(out, "    + host {id}: {reason}");
            }
        }
        if self.differences.len() > shown {
            let _ = writeln!(
                out,
                "  … and {} more (--dry-run lists them all)",
                self.differences.len() - shown
            );
        }
        out
    }
}

/// Compares MirrorManager2's lists in `src` with those of `inv` (the validated inventory of
/// `conv`).
pub fn compare(src: &Source, conv: &Converted, inv: &Inventory) -> Comparison {
    let theirs = mm2_carriers(src);
    let (ours, categories) = our_carriers(conv, inv);
    let imported: BTreeSet<i64> = conv.hosts.iter().map(|h| h.id).collect();
    let mut names: BTreeSet<&String> = theirs.keys().collect();
    names.extend(ours.keys());
    let empty = BTreeSet::new();
    let mut out = Comparison {
        directories: names.len(),
        differences: Vec::new(),
    };
    for name in names {
        let a = theirs.get(name).unwrap_or(&empty);
        let b = ours.get(name).unwrap_or(&empty);
        if a == b {
            continue;
        }
        let category = categories.get(name);
        let reason_missing = |id: i64| -> String {
            if !imported.contains(&id) {
                "the host is not imported (see the host transformations)".to_string()
            } else if !ours.contains_key(name) {
                "the directory is not imported (see the directory transformations)".to_string()
            } else {
                match category {
                    Some(c) => format!(
                        "not carried in category {c:?} (the directory's category with the \
                         longest topdir, data-model.md §7.14): inactive after the import, no \
                         valid public URL left, or its up-to-date row dropped (see the \
                         transformations)"
                    ),
                    None => "not carried after the import".to_string(),
                }
            }
        };
        let only_mm2 = a
            .difference(b)
            .map(|id| (*id, reason_missing(*id)))
            .collect();
        let new_directory = !theirs.contains_key(name);
        let only_ours = b
            .difference(a)
            .map(|id| {
                (
                    *id,
                    match category {
                        _ if new_directory => "a directory MirrorManager2 did not list (the \
                                               import adds each repository's repodata child \
                                               and every ancestor), carried as its category is"
                            .to_string(),
                        Some(c) => format!(
                            "carried in category {c:?}, the directory's category with the \
                             longest topdir (data-model.md §7.14)"
                        ),
                        None => "carried after the import".to_string(),
                    },
                )
            })
            .collect();
        out.differences.push(DirectoryDifference {
            directory: name.clone(),
            only_mm2,
            only_ours,
        });
    }
    out
}

/// Directory name → host ids, as MirrorManager2's cache generator lists them.
fn mm2_carriers(src: &Source) -> BTreeMap<String, BTreeSet<i64>> {
    let sites: HashMap<i64, bool> = src
        .sites
        .iter()
        .map(|s| (s.id, s.admin_active && s.user_active))
        .collect();
    let active: BTreeSet<i64> = src
        .hosts
        .iter()
        .filter(|h| {
            h.admin_active
                && h.user_active
                && h.site_id.and_then(|s| sites.get(&s)).copied() == Some(true)
        })
        .map(|h| h.id)
        .collect();
    let with_url: BTreeSet<i64> = src
        .host_category_urls
        .iter()
        .filter(|u| !u.private)
        .map(|u| u.host_category_id)
        .collect();
    let names: HashMap<i64, String> = src
        .directories
        .iter()
        .map(|d| (d.id, d.name.trim_matches('/').to_string()))
        .collect();
    // Category → its directories.
    let mut linked: HashMap<i64, HashSet<i64>> = HashMap::new();
    for &(c, d) in &src.category_directories {
        linked.entry(c).or_default().insert(d);
    }
    let mut out: BTreeMap<String, BTreeSet<i64>> = BTreeMap::new();
    for dirs in linked.values() {
        for d in dirs {
            if let Some(name) = names.get(d) {
                out.entry(name.clone()).or_default();
            }
        }
    }
    let hcs: HashMap<i64, (i64, i64, bool)> = src
        .host_categories
        .iter()
        .filter_map(|hc| {
            let host = hc.host_id?;
            let category = hc.category_id?;
            (active.contains(&host) && with_url.contains(&hc.id))
                .then_some((hc.id, (host, category, hc.always_up2date)))
        })
        .collect();
    for (host, category, always) in hcs.values() {
        if *always {
            for d in linked.get(category).into_iter().flatten() {
                if let Some(name) = names.get(d) {
                    out.entry(name.clone()).or_default().insert(*host);
                }
            }
        }
    }
    for hcd in &src.host_category_dirs {
        let (Some((host, category, _)), Some(d)) =
            (hcs.get(&hcd.host_category_id), hcd.directory_id)
        else {
            continue;
        };
        if hcd.up2date
            && linked.get(category).is_some_and(|l| l.contains(&d))
            && let Some(name) = names.get(&d)
        {
            out.entry(name.clone()).or_default().insert(*host);
        }
    }
    out
}

/// Directory name → host ids (MirrorManager2's, which the import keeps) carrying it after the
/// import, and directory name → its category.
fn our_carriers(
    conv: &Converted,
    inv: &Inventory,
) -> (BTreeMap<String, BTreeSet<i64>>, BTreeMap<String, String>) {
    // The inventory derivation numbers hosts from 1 in (site name, host name) byte order.
    let site_names: HashMap<i64, &String> = conv.sites.iter().map(|s| (s.id, &s.name)).collect();
    let mut order: Vec<(&String, &String, i64)> = conv
        .hosts
        .iter()
        .filter_map(|h| Some((*site_names.get(&h.site_id)?, &h.name, h.id)))
        .collect();
    order.sort_by(|a, b| (a.0.as_bytes(), a.1.as_bytes()).cmp(&(b.0.as_bytes(), b.1.as_bytes())));
    let ids: Vec<i64> = order.into_iter().map(|(_, _, id)| id).collect();
    let (data, _warnings) = to_snapshot_data(inv, &BuildOptions::default());
    let mut carriers = BTreeMap::new();
    let mut categories = BTreeMap::new();
    for d in data.directories {
        let set = d
            .carriers
            .iter()
            .filter_map(|n| ids.get((*n as usize).wrapping_sub(1)).copied())
            .collect();
        let category = inv
            .category(&d.category)
            .map_or(d.category.clone(), |c| c.name.clone());
        categories.insert(d.name.clone(), category);
        carriers.insert(d.name, set);
    }
    (carriers, categories)
}
