//! The mirror side of the conversion: users, sites and their owners, hosts and everything
//! below them (host categories, URLs, up-to-date directories, netblocks, peer ASNs, allowed
//! countries), and the statistics (control-plane.md §8.2, data-model.md §7).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::export::Up2dateCompressor;
use crate::inventory::model::folded;
use crate::inventory::rules::{self, is_dns_name};
use crate::inventory::tree::category_directories;
use crate::inventory::url::{check_link_url, check_mirror_url, split};
use crate::inventory::{Host, HostCategory, HostUrl, Netblock, Pattern, Site};

use super::convert::{
    Converter, HostExtra, HostPin, LENIENT_COUNTRY, PropagationRow, SiteExtra, SitePin, UserExtra,
    name_ok, relative_to,
};

/// The start of the reason MirrorManager2's crawler writes when it disables a host by turning
/// off the owners' `user_active` (data-model.md §7.9).
pub const CRAWLER_DISABLE_REASON: &str = "Host has been disabled (user_active) after";

/// Longest AS number (4,294,967,295 is reserved) and AS_TRANS, a placeholder.
const MAX_ASN: i64 = 4_294_967_294;
const AS_TRANS: i64 = 23456;

impl Converter<'_> {
    /// `mm_user` → users: usernames lower-cased, administrators from `--admin-group`.
    pub(super) fn users(&mut self) {
        let Some(list) = &self.src.users else {
            return;
        };
        let mut users = Vec::new();
        let mut names = BTreeSet::new();
        let mut emails = BTreeSet::new();
        for u in list {
            let row = format!("mm_user {} {:?}", u.id, u.user_name);
            let Some(username) = username(&u.user_name) else {
                self.out.notes.drop(
                    "mm_user",
                    "mm_user.invalid_username",
                    "not 2–32 lower-case letters, digits, \".\", \"_\", \"-\" (after lower-casing)",
                    row,
                );
                continue;
            };
            if !names.insert(username.clone()) {
                self.out.notes.drop(
                    "mm_user",
                    "mm_user.duplicate",
                    "the same username as another user once lower-cased",
                    row,
                );
                continue;
            }
            let email = match u.email_address.as_deref().map(str::trim) {
                Some(e) if email_ok(e) && emails.insert(e.to_lowercase()) => Some(e.to_string()),
                Some(e) if !e.is_empty() => {
                    self.out.notes.change(
                        "mm_user",
                        "mm_user.email_dropped",
                        "not an email address, or another user's: left without email",
                        format!("{row}: {e:?}"),
                    );
                    None
                }
                _ => None,
            };
            let admin = u.groups.iter().any(|g| self.opts.admin_groups.contains(g));
            users.push(UserExtra {
                username,
                email,
                display_name: u
                    .display_name
                    .as_deref()
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| s.chars().take(100).collect()),
                admin,
            });
        }
        self.out.extras.users = Some(users);
    }

    /// Sites (duplicate names suffixed), their owners, hosts and everything below them.
    pub(super) fn sites_and_hosts(&mut self) {
        let known_users: BTreeSet<String> = self
            .out
            .extras
            .users
            .iter()
            .flatten()
            .map(|u| u.username.clone())
            .collect();
        let mut names: BTreeSet<String> = BTreeSet::new();
        // Site id → index in the inventory's sites.
        let mut sites: HashMap<i64, usize> = HashMap::new();
        for s in &self.src.sites {
            let row = format!("site {} {:?}", s.id, s.name);
            let mut name: String = s.name.trim().chars().take(100).collect();
            if name.is_empty() || name.chars().any(char::is_control) {
                name = format!("site {}", s.id);
                self.out.notes.change(
                    "site",
                    "site.invalid_name",
                    "an empty name or one with control characters: \"site ID\"",
                    format!("{row} → {name:?}"),
                );
            } else if name != s.name {
                self.out.notes.change(
                    "site",
                    "site.name_trimmed",
                    "white space trimmed, cut to 100 characters",
                    format!("{row} → {name:?}"),
                );
            }
            if names.contains(&folded(&name)) {
                let base: String = name.chars().take(94).collect();
                let mut n = 2;
                while names.contains(&folded(&format!("{base} ({n})"))) {
                    n += 1;
                }
                let new = format!("{base} ({n})");
                self.out.notes.change(
                    "site",
                    "site.duplicate_name",
                    "site names are unique (checkin finds sites by name): later duplicates get \
                     \" (2)\", \" (3)\"…",
                    format!("{row} → {new:?}"),
                );
                name = new;
            }
            names.insert(folded(&name));
            let org_url = match s.org_url.as_deref().map(str::trim) {
                Some(u) if !u.is_empty() => match check_link_url(u) {
                    Ok(()) => Some(u.to_string()),
                    Err(e) => {
                        self.out.notes.change(
                            "site",
                            "site.org_url_dropped",
                            "not an http(s) URL: left empty",
                            format!("{row}: {e}"),
                        );
                        None
                    }
                },
                _ => None,
            };
            let password = match s.password.as_deref() {
                Some(p) if !p.is_empty() => Some(p.to_string()),
                _ => None,
            };
            let created_by = s
                .created_by
                .as_deref()
                .and_then(username)
                .filter(|u| known_users.contains(u));
            self.out.extras.sites.insert(
                s.id,
                SiteExtra {
                    password,
                    created_at: s.created_at,
                    created_by,
                },
            );
            self.out.sites.push(SitePin {
                id: s.id,
                name: name.clone(),
            });
            sites.insert(s.id, self.out.inventory.sites.len());
            let mut site = Site::named(&name);
            site.org_url = org_url;
            site.private = s.private;
            site.admin_active = s.admin_active;
            site.user_active = s.user_active;
            self.out.inventory.sites.push(site);
        }
        for a in &self.src.site_admins {
            let text = a.username.as_deref().unwrap_or("");
            let row = format!("site_admin {:?} of site {}", text, a.site_id);
            let Some(&index) = sites.get(&a.site_id) else {
                self.out.notes.drop(
                    "site_admin",
                    "site_admin.no_site",
                    "its site is not imported",
                    row,
                );
                continue;
            };
            let Some(user) = username(text) else {
                self.out.notes.drop(
                    "site_admin",
                    "site_admin.invalid_username",
                    "not a valid username once lower-cased",
                    row,
                );
                continue;
            };
            if user != text {
                self.out.notes.change(
                    "site_admin",
                    "site_admin.lower_cased",
                    "usernames are lower-cased",
                    format!("{row} → {user:?}"),
                );
            }
            let owners = &mut self.out.inventory.sites[index].owners;
            if owners.contains(&user) {
                self.out.notes.drop(
                    "site_admin",
                    "site_admin.duplicate",
                    "the same owner twice: merged",
                    row,
                );
                continue;
            }
            if !known_users.contains(&user) {
                self.out.notes.change(
                    "site_admin",
                    "site_admin.user_created",
                    "no such MirrorManager2 user: created without a password",
                    row,
                );
            }
            owners.push(user);
        }
        // Host id → (site index, host index).
        let mut hosts: HashMap<i64, (usize, usize)> = HashMap::new();
        for h in &self.src.hosts {
            let row = format!("host {} {:?}", h.id, h.name);
            let Some(&site_index) = h.site_id.and_then(|id| sites.get(&id)) else {
                self.out.notes.drop(
                    "host",
                    "host.no_site",
                    "a host without a site is skipped",
                    row,
                );
                continue;
            };
            let name = h.name.trim().to_string();
            if !name_ok(&name, rules::HOST_NAME) {
                self.out.notes.drop(
                    "host",
                    "host.invalid_name",
                    "not 1–253 of letters, digits, \".\", \"_\", \"-\"",
                    row,
                );
                continue;
            }
            let site = &self.out.inventory.sites[site_index];
            if site.hosts.iter().any(|x| folded(&x.name) == folded(&name)) {
                self.out.notes.drop(
                    "host",
                    "host.duplicate",
                    "the same name as another host of its site (ignoring case)",
                    row,
                );
                continue;
            }
            let mut host = self.host(h, &row, name);
            if host.country.is_empty() {
                continue;
            }
            host.categories = Vec::new();
            let site_id = h.site_id.unwrap_or(0);
            self.out.hosts.push(HostPin {
                id: h.id,
                site_id,
                name: host.name.clone(),
                country: host.country.clone(),
            });
            self.out.extras.hosts.insert(
                h.id,
                HostExtra {
                    last_checked_in: h.last_checked_in,
                    last_crawled: h.last_crawled,
                    last_crawl_duration_ms: h
                        .last_crawl_duration
                        .filter(|s| *s >= 0)
                        .map(|s| s.saturating_mul(1000)),
                    crawl_failures: h.crawl_failures.clamp(0, i64::from(i32::MAX)),
                },
            );
            let list = &mut self.out.inventory.sites[site_index].hosts;
            hosts.insert(h.id, (site_index, list.len()));
            list.push(host);
        }
        self.host_children(&hosts);
    }

    /// One host's own fields; an empty `country` means "not imported" (an invalid country
    /// without `--lenient`, recorded as an error).
    fn host(&mut self, h: &super::source::Host, row: &str, name: String) -> Host {
        let mut admin_active = h.admin_active;
        let mut disable_reason = h
            .disable_reason
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| s.chars().take(500).collect::<String>());
        let country = match self.country_code("host", row, &h.country) {
            Some(cc) => cc,
            None if self.opts.lenient => {
                self.out.notes.change(
                    "host",
                    "host.invalid_country",
                    "--lenient: an invalid country disables the host (admin_active = false) \
                     until an administrator sets a real one",
                    format!("{row}: {:?}", h.country),
                );
                admin_active = false;
                disable_reason = Some(format!("invalid country {}", h.country.trim()));
                LENIENT_COUNTRY.to_string()
            }
            None => {
                self.out.errors.push(format!(
                    "{row}: country {:?} is not an ISO 3166-1 alpha-2 code; correct it in \
                     MirrorManager2, or import with --lenient (the host then comes in disabled)",
                    h.country
                ));
                String::new()
            }
        };
        let notes_after = &mut self.out.notes;
        let bandwidth = match h.bandwidth_int {
            None => {
                notes_after.change(
                    "host",
                    "host.bandwidth_default",
                    "NULL bandwidth becomes 100 (Mbit/s)",
                    row.to_string(),
                );
                100
            }
            Some(b) if b < 1 => {
                notes_after.change(
                    "host",
                    "host.bandwidth_raised",
                    "a bandwidth below 1 becomes 1",
                    format!("{row}: {b}"),
                );
                1
            }
            Some(b) if b > 1_000_000 => {
                notes_after.change(
                    "host",
                    "host.bandwidth_capped",
                    "a bandwidth over 1,000,000 becomes 1,000,000",
                    format!("{row}: {b}"),
                );
                1_000_000
            }
            Some(b) => b as u32,
        };
        let max_connections = h.max_connections.clamp(1, 100) as u32;
        if i64::from(max_connections) != h.max_connections {
            notes_after.change(
                "host",
                "host.max_connections_clamped",
                "max_connections is kept within 1–100",
                format!("{row}: {}", h.max_connections),
            );
        }
        let asn = match h.asn {
            None => None,
            Some(0) => {
                notes_after.change("host", "host.asn_zero", "ASN 0 means none", row.to_string());
                None
            }
            Some(a) if (1..=MAX_ASN).contains(&a) && a != AS_TRANS => Some(a as u32),
            Some(a) => {
                notes_after.change(
                    "host",
                    "host.asn_invalid",
                    "not a usable AS number (23456 is AS_TRANS; 1–4294967294): none",
                    format!("{row}: {a}"),
                );
                None
            }
        };
        let mut user_active = h.user_active;
        let mut auto_disabled_at = None;
        if !h.user_active
            && h.disable_reason
                .as_deref()
                .is_some_and(|r| r.trim_start().starts_with(CRAWLER_DISABLE_REASON))
        {
            user_active = true;
            auto_disabled_at = Some(
                h.last_crawled
                    .or_else(|| self.opts.existing_auto_disabled.get(&h.id).copied())
                    .unwrap_or(self.opts.now),
            );
            notes_after.change(
                "host",
                "host.auto_disabled",
                "disabled by MirrorManager2's crawler through the owners' user_active: \
                 user_active stays true, auto_disabled_at = last_crawled (or the import time)",
                row.to_string(),
            );
        }
        let contact_email = match h.robot_email.as_deref().map(str::trim) {
            Some(e) if email_ok(e) => Some(e.to_string()),
            Some(e) if !e.is_empty() => {
                notes_after.change(
                    "host",
                    "host.robot_email_dropped",
                    "robot_email is not an email address: no contact email",
                    format!("{row}: {e:?}"),
                );
                None
            }
            _ => None,
        };
        let comment = h
            .comment
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| s.chars().take(1000).collect());
        let mut host = Host::new(&name, &country);
        host.bandwidth = bandwidth;
        host.max_connections = max_connections;
        host.private = h.private;
        host.asn = asn;
        host.asn_clients = h.asn_clients;
        host.admin_active = admin_active;
        host.user_active = user_active;
        host.auto_disabled_at = auto_disabled_at;
        host.disable_reason = disable_reason;
        host.comment = comment;
        host.contact_email = contact_email;
        host.latitude = h.latitude.filter(|l| (-90.0..=90.0).contains(l));
        host.longitude = h.longitude.filter(|l| (-180.0..=180.0).contains(l));
        host
    }

    /// Host categories with their URLs and up-to-date directories, netblocks, peer ASNs and
    /// allowed countries of the imported hosts.
    fn host_children(&mut self, hosts: &HashMap<i64, (usize, usize)>) {
        // Each category's directories as the inventory will have them.
        let mut dirs: HashMap<i64, BTreeSet<String>> = HashMap::new();
        for (id, (name, _)) in &self.categories {
            if let Some(cat) = self.out.inventory.category(name) {
                dirs.insert(*id, category_directories(&self.out.inventory, cat));
            }
        }
        // Host category id → (host id, category id, host category).
        let mut hcs: BTreeMap<i64, (i64, i64, HostCategory)> = BTreeMap::new();
        let mut pairs: BTreeSet<(i64, i64)> = BTreeSet::new();
        for hc in &self.src.host_categories {
            let row = format!("host_category {}", hc.id);
            // Both ends must be imported rows.
            let ends = hc
                .host_id
                .zip(hc.category_id)
                .and_then(|(host_id, category_id)| {
                    let (name, _) = self.categories.get(&category_id)?;
                    hosts
                        .contains_key(&host_id)
                        .then_some((host_id, category_id, name))
                });
            let Some((host_id, category_id, name)) = ends else {
                self.out.notes.drop(
                    "host_category",
                    "host_category.dangling",
                    "its host or category is not imported",
                    row,
                );
                continue;
            };
            if !pairs.insert((host_id, category_id)) {
                self.out.notes.drop(
                    "host_category",
                    "host_category.duplicate",
                    "the host carries the category twice: merged",
                    row,
                );
                continue;
            }
            hcs.insert(
                hc.id,
                (
                    host_id,
                    category_id,
                    HostCategory {
                        category: name.clone(),
                        always_up2date: hc.always_up2date,
                        ..HostCategory::default()
                    },
                ),
            );
        }
        for u in &self.src.host_category_urls {
            let row = format!("host_category_url {} {:?}", u.id, u.url);
            let Some((_, _, hc)) = hcs.get_mut(&u.host_category_id) else {
                self.out.notes.drop(
                    "host_category_url",
                    "host_category_url.dangling",
                    "its host category is not imported",
                    row,
                );
                continue;
            };
            let Some(url) = normalise_url(&u.url, &row, &mut self.out.notes) else {
                continue;
            };
            if hc.urls.iter().chain(&hc.private_urls).any(|x| x.url == url) {
                self.out.notes.drop(
                    "host_category_url",
                    "host_category_url.duplicate",
                    "the same URL twice in one host category once normalised",
                    row,
                );
                continue;
            }
            let list = if u.private {
                &mut hc.private_urls
            } else {
                &mut hc.urls
            };
            list.push(HostUrl {
                url,
                ipv4: None,
                ipv6: None,
            });
        }
        // Host category id → directories (relative) up to date.
        let mut up: BTreeMap<i64, BTreeSet<String>> = BTreeMap::new();
        for d in &self.src.host_category_dirs {
            let row = format!("host_category_dir {}", d.id);
            let Some((_, category_id, hc)) = hcs.get(&d.host_category_id) else {
                self.out.notes.drop(
                    "host_category_dir",
                    "host_category_dir.dangling",
                    "its host category is not imported",
                    row,
                );
                continue;
            };
            let Some(dir) = d.directory_id.and_then(|id| self.dir_names.get(&id)) else {
                self.out.notes.drop(
                    "host_category_dir",
                    "host_category_dir.no_directory",
                    "no directory (NULL or not imported)",
                    row,
                );
                continue;
            };
            if hc.always_up2date {
                self.out.notes.drop(
                    "host_category_dir",
                    "host_category_dir.always_up2date",
                    "its host category is always up to date, which needs no rows",
                    row,
                );
                continue;
            }
            let (_, topdir) = &self.categories[category_id];
            let rel = relative_to(topdir, dir).map(str::to_string);
            let Some(rel) = rel.filter(|r| dirs.get(category_id).is_some_and(|s| s.contains(r)))
            else {
                self.out.notes.drop(
                    "host_category_dir",
                    "host_category_dir.not_in_category",
                    "the directory is not one of its category's",
                    format!("{row}: {dir:?}"),
                );
                continue;
            };
            if !d.up2date {
                self.out.notes.drop(
                    "host_category_dir",
                    "host_category_dir.not_up2date",
                    "\"not up to date\" means the same as no row: not imported",
                    row,
                );
                continue;
            }
            if !up.entry(d.host_category_id).or_default().insert(rel) {
                self.out.notes.drop(
                    "host_category_dir",
                    "host_category_dir.duplicate",
                    "a second row for the same directory (the path written with and without \
                     \"/\"): merged",
                    row,
                );
            }
        }
        let mut trees: HashMap<i64, Up2dateCompressor> = HashMap::new();
        for (hc_id, set) in up {
            if let Some((_, category_id, hc)) = hcs.get_mut(&hc_id) {
                let tree = trees.entry(*category_id).or_insert_with(|| {
                    Up2dateCompressor::new(dirs.get(category_id).unwrap_or(&BTreeSet::new()))
                });
                hc.up2date = tree.compress(&set).iter().map(|p| pattern(p)).collect();
            }
        }
        for (host_id, _, hc) in hcs.into_values() {
            let (s, h) = hosts[&host_id];
            self.out.inventory.sites[s].hosts[h].categories.push(hc);
        }
        self.netblocks(hosts);
        self.peer_asns(hosts);
        self.allowed_countries(hosts);
    }

    fn netblocks(&mut self, hosts: &HashMap<i64, (usize, usize)>) {
        for n in &self.src.host_netblocks {
            let text = n.netblock.as_deref().unwrap_or("").trim().to_string();
            let row = format!("host_netblock {} {text:?}", n.id);
            let Some(&(s, h)) = n.host_id.and_then(|id| hosts.get(&id)) else {
                self.out.notes.drop(
                    "host_netblock",
                    "host_netblock.no_host",
                    "its host is not imported",
                    row,
                );
                continue;
            };
            let value = match self.network("host_netblock", &row, &text) {
                Some(p) => Netblock::Network(p),
                None if is_dns_name(&text) => {
                    self.out.notes.change(
                        "host_netblock",
                        "host_netblock.dns_name",
                        "a DNS name: kept; a control plane resolves it in the background \
                         (never while publishing)",
                        row.clone(),
                    );
                    Netblock::DnsName(text.clone())
                }
                None => {
                    self.out.notes.drop(
                        "host_netblock",
                        "host_netblock.invalid",
                        "neither an IP network nor a DNS name",
                        row,
                    );
                    continue;
                }
            };
            let list = &mut self.out.inventory.sites[s].hosts[h].netblocks;
            if list.contains(&value) {
                self.out.notes.drop(
                    "host_netblock",
                    "host_netblock.duplicate",
                    "the same network twice for one host once normalised: merged",
                    row,
                );
                continue;
            }
            let key = match &value {
                Netblock::Network(p) => p.to_string(),
                Netblock::DnsName(d) => d.clone(),
            };
            list.push(value);
            if let Some(name) = n.name.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
                self.out.extras.netblock_names.insert(
                    (n.host_id.unwrap_or(0), key),
                    name.chars().take(100).collect(),
                );
            }
        }
    }

    fn peer_asns(&mut self, hosts: &HashMap<i64, (usize, usize)>) {
        for p in &self.src.host_peer_asns {
            let row = format!("host_peer_asn {} AS{}", p.id, p.asn);
            let Some(&(s, h)) = p.host_id.and_then(|id| hosts.get(&id)) else {
                self.out.notes.drop(
                    "host_peer_asn",
                    "host_peer_asn.no_host",
                    "its host is not imported",
                    row,
                );
                continue;
            };
            if !(1..=MAX_ASN).contains(&p.asn) || p.asn == AS_TRANS {
                self.out.notes.drop(
                    "host_peer_asn",
                    "host_peer_asn.invalid",
                    "not a usable AS number (0, 23456, over 4294967294)",
                    row,
                );
                continue;
            }
            let asn = p.asn as u32;
            let list = &mut self.out.inventory.sites[s].hosts[h].peer_asns;
            if list.contains(&asn) {
                continue;
            }
            list.push(asn);
            if let Some(name) = p.name.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
                self.out.extras.peer_asn_names.insert(
                    (p.host_id.unwrap_or(0), asn),
                    name.chars().take(100).collect(),
                );
            }
        }
    }

    /// `host_country_allowed` (upper-cased); `host_country` only with
    /// `--host-country-as-allowed` (data-model.md §7.3).
    fn allowed_countries(&mut self, hosts: &HashMap<i64, (usize, usize)>) {
        let allowed = self.src.host_countries_allowed.iter().map(|r| (r, false));
        let ui = self.src.host_countries.iter().flatten().map(|r| (r, true));
        let rows: Vec<_> = allowed.chain(ui).collect();
        for (r, from_ui) in rows {
            let table = if from_ui {
                "host_country"
            } else {
                "host_country_allowed"
            };
            let text = r.country.clone().unwrap_or_default();
            let row = format!("{table} {} {text:?}", r.id);
            if from_ui && !self.opts.host_country_as_allowed {
                self.out.notes.drop(
                    "host_country",
                    "host_country.not_imported",
                    "MirrorManager2's UI wrote it but selection never read it (it restricted \
                     nothing); --host-country-as-allowed adds it to the allowed countries",
                    row,
                );
                continue;
            }
            let Some(&(s, h)) = r.host_id.and_then(|id| hosts.get(&id)) else {
                self.out.notes.drop(
                    table,
                    "host_country.no_host",
                    "its host is not imported",
                    row,
                );
                continue;
            };
            let Some(cc) = self.country_code(table, &row, &text) else {
                self.out.notes.drop(
                    table,
                    "host_country.invalid",
                    "not an ISO 3166-1 country code",
                    row,
                );
                continue;
            };
            let list = &mut self.out.inventory.sites[s].hosts[h].allowed_countries;
            if list.contains(&cc) {
                continue;
            }
            if from_ui {
                self.out.notes.change(
                    "host_country",
                    "host_country.as_allowed",
                    "--host-country-as-allowed: added to the host's allowed countries",
                    row,
                );
            }
            list.push(cc);
        }
    }

    /// Access and propagation statistics (unless `--skip-stats` left them unread).
    pub(super) fn statistics(&mut self) {
        if let Some(list) = &self.src.access_stats {
            let mut map = BTreeMap::new();
            for a in list {
                let dimension = match a.category.as_str() {
                    "countries" => "country",
                    "archs" => "arch",
                    "repositories" => "repo",
                    _ => {
                        self.out.notes.drop(
                            "access_stat",
                            "access_stat.unknown_category",
                            "a category other than countries, archs, repositories",
                            format!("{} {} {}", a.category, a.date, a.name),
                        );
                        continue;
                    }
                };
                map.insert(
                    (a.date, dimension, a.name.clone()),
                    a.requests.unwrap_or(0).max(0),
                );
            }
            self.out.extras.access_stats = Some(map);
        }
        if let Some(list) = &self.src.propagation_stats {
            let mut rows = Vec::new();
            for p in list {
                let Some(repository) = self.repo_keys.get(&p.repository_id).cloned() else {
                    self.out.notes.drop(
                        "propagation_stat",
                        "propagation_stat.no_repository",
                        "its repository is not imported",
                        format!("repository {} at {}", p.repository_id, p.datetime),
                    );
                    continue;
                };
                rows.push(PropagationRow {
                    repository,
                    run_at: p.datetime,
                    counts: [p.same_day, p.one_day, p.two_day, p.older, p.no_info]
                        .map(|n| n.max(0)),
                });
            }
            self.out.extras.propagation_stats = Some(rows);
        }
    }
}

/// A username as data-model.md §6 wants it (lower-cased), or `None`.
fn username(text: &str) -> Option<String> {
    let s = text.trim().to_lowercase();
    let mut chars = s.chars();
    let ok = (2..=32).contains(&s.chars().count())
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
    ok.then_some(s)
}

/// One `@` with text on both sides, no white space, at most 254 characters.
fn email_ok(s: &str) -> bool {
    s.chars().count() <= 254
        && s.split('@').count() == 2
        && s.split('@').all(|part| !part.is_empty())
        && !s.contains(char::is_whitespace)
}

/// A MirrorManager2 URL as a mirror URL: trailing `/` removed, scheme and host lower-cased
/// (each noted); `None` (noted) when the result breaks the URL rules.
fn normalise_url(text: &str, row: &str, notes: &mut super::notes::Notes) -> Option<String> {
    let trimmed = text.trim();
    let mut url = trimmed.trim_end_matches('/').to_string();
    if url != trimmed {
        notes.change(
            "host_category_url",
            "host_category_url.trailing_slash",
            "trailing \"/\" removed",
            row.to_string(),
        );
    }
    if let Some(parts) = split(&url) {
        let scheme = parts.scheme.to_ascii_lowercase();
        let host = parts.host.to_ascii_lowercase();
        if scheme != parts.scheme || host != parts.host {
            let mut fixed = format!("{scheme}://");
            if let Some(u) = parts.userinfo {
                fixed.push_str(u);
            }
            fixed.push_str(&host);
            if let Some(p) = parts.port {
                fixed.push(':');
                fixed.push_str(p);
            }
            fixed.push_str(parts.path);
            fixed.push_str(parts.query.unwrap_or(""));
            fixed.push_str(parts.fragment.unwrap_or(""));
            notes.change(
                "host_category_url",
                "host_category_url.lower_cased",
                "scheme and host lower-cased",
                format!("{row} → {fixed:?}"),
            );
            url = fixed;
        }
    }
    match check_mirror_url(&url) {
        Ok(()) => Some(url),
        Err(e) => {
            notes.drop(
                "host_category_url",
                "host_category_url.invalid",
                "not a mirror URL (http, https, ftp or rsync; no user, query or fragment)",
                format!("{row}: {e}"),
            );
            None
        }
    }
}

/// An `up2date` pattern as [`crate::export::compress_up2date`] writes it.
fn pattern(text: &str) -> Pattern {
    if text == "**" {
        Pattern::All
    } else if let Some(dir) = text.strip_suffix("/**") {
        Pattern::Subtree(dir.to_string())
    } else {
        Pattern::Dir(text.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_and_urls() {
        assert_eq!(username(" Alice "), Some("alice".into()));
        assert_eq!(username("a"), None);
        assert_eq!(username("bob@example"), None);
        let mut notes = super::super::notes::Notes::default();
        assert_eq!(
            normalise_url("HTTPS://Mirror.Example.ORG/pub/", "u", &mut notes).as_deref(),
            Some("https://mirror.example.org/pub")
        );
        assert_eq!(notes.rows("host_category_url.trailing_slash").len(), 1);
        assert_eq!(notes.rows("host_category_url.lower_cased").len(), 1);
        assert_eq!(normalise_url("gopher://x.org/a", "u", &mut notes), None);
        assert_eq!(pattern("**"), Pattern::All);
        assert_eq!(pattern("a/**"), Pattern::Subtree("a".into()));
        assert_eq!(pattern(""), Pattern::Dir(String::new()));
    }
}
