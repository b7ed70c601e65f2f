//! Reading who mirrors what: sites, their hosts and each host's categories
//! with URLs and `up2date` patterns (data-model.md §3, §11.1).

use std::collections::{BTreeSet, HashMap};

use super::catalog::required_name;
use super::diagnostic::{Diagnostics, child, index};
use super::json::{Kind, Value};
use super::model::{Host, HostCategory, HostUrl, Inventory, Netblock, Site, folded};
use super::reader::{FirstSeen, Obj, UniqueNames, entries, int_in, number, wrong_type};
use super::rules::{self, HOST_NAME, SITE_NAME};
use super::tree::category_directories;

const SITE_FIELDS: &[&str] = &[
    "name",
    "org_url",
    "private",
    "admin_active",
    "user_active",
    "comment",
    "owners",
    "hosts",
];
const HOST_FIELDS: &[&str] = &[
    "name",
    "country",
    "bandwidth",
    "max_connections",
    "private",
    "asn",
    "asn_clients",
    "admin_active",
    "user_active",
    "auto_disabled_at",
    "disable_reason",
    "comment",
    "contact_email",
    "latitude",
    "longitude",
    "netblocks",
    "peer_asns",
    "allowed_countries",
    "categories",
];
const HOST_CATEGORY_FIELDS: &[&str] = &["urls", "private_urls", "always_up2date", "up2date"];
const URL_FIELDS: &[&str] = &["url", "ipv4", "ipv6"];

/// Directories of every category, by folded category name, for pattern checks.
type CategoryDirs = HashMap<String, BTreeSet<String>>;

/// Reads `sites` into `inv`; products, categories, repositories and files
/// must already be in it (patterns are checked against their directories).
pub fn read_sites(d: &mut Diagnostics, items: &[Value], inv: &mut Inventory) {
    let dirs: CategoryDirs = inv
        .categories
        .iter()
        .map(|c| (folded(&c.name), category_directories(inv, c)))
        .collect();
    let mut seen = UniqueNames::new("site name");
    for (i, item) in items.iter().enumerate() {
        let ptr = index("/sites", i);
        let Some(obj) = Obj::open(d, item, &ptr, SITE_FIELDS) else {
            continue;
        };
        let Some(name) = required_name(d, &obj, "name", SITE_NAME) else {
            continue;
        };
        if let Some(v) = obj.get("name") {
            seen.check(d, folded(&name), &name, (v.pos, &obj.at("name")), &ptr);
        }
        let mut site = Site::named(&name);
        site.org_url = obj
            .get("org_url")
            .and_then(|v| rules::link_url(d, v, &obj.at("org_url")));
        site.private = obj.bool_or(d, "private", false);
        site.admin_active = obj.bool_or(d, "admin_active", true);
        site.user_active = obj.bool_or(d, "user_active", true);
        site.comment = obj.opt_text(d, "comment", 1000);
        site.owners = unique_list(d, &obj, "owners", rules::username, |s| s.clone());
        let mut hosts_seen = UniqueNames::new("host name");
        let hosts_ptr = obj.at("hosts");
        for (j, item) in obj.array(d, "hosts").iter().enumerate() {
            let host_ptr = index(&hosts_ptr, j);
            if let Some(host) = read_host(d, item, &host_ptr, inv, &dirs, &mut hosts_seen) {
                if (host.private || site.private)
                    && host.netblocks.is_empty()
                    && (host.asn.is_none() || !host.asn_clients)
                    && host.peer_asns.is_empty()
                {
                    d.warn(
                        item.pos,
                        &host_ptr,
                        "private host has no netblock, ASN or peer ASN; no client will ever get it",
                    );
                }
                site.hosts.push(host);
            }
        }
        inv.sites.push(site);
    }
}

fn read_host(
    d: &mut Diagnostics,
    item: &Value,
    ptr: &str,
    inv: &Inventory,
    dirs: &CategoryDirs,
    seen: &mut UniqueNames,
) -> Option<Host> {
    let obj = Obj::open(d, item, ptr, HOST_FIELDS)?;
    let name = required_name(d, &obj, "name", HOST_NAME);
    if let (Some(name), Some(v)) = (&name, obj.get("name")) {
        seen.check(d, folded(name), name, (v.pos, &obj.at("name")), ptr);
    }
    let country = obj
        .required(d, "country")
        .and_then(|v| rules::country(d, v, &obj.at("country")));
    let mut host = Host::new(
        name.as_deref().unwrap_or(""),
        country.as_deref().unwrap_or(""),
    );
    let int = |d: &mut Diagnostics, field: &str, hi: i128, unit: &str| {
        obj.get(field)
            .and_then(|v| int_in(d, v, &obj.at(field), 1, hi, unit))
            .and_then(|n| u32::try_from(n).ok())
    };
    host.bandwidth = int(d, "bandwidth", 1_000_000, " (Mbit/s)").unwrap_or(host.bandwidth);
    host.max_connections = int(d, "max_connections", 100, "").unwrap_or(host.max_connections);
    host.private = obj.bool_or(d, "private", false);
    host.asn = obj
        .get("asn")
        .and_then(|v| rules::asn(d, v, &obj.at("asn")));
    host.asn_clients = obj.bool_or(d, "asn_clients", true);
    host.admin_active = obj.bool_or(d, "admin_active", true);
    host.user_active = obj.bool_or(d, "user_active", true);
    host.auto_disabled_at = obj
        .get("auto_disabled_at")
        .and_then(|v| rules::time(d, v, &obj.at("auto_disabled_at")));
    host.disable_reason = obj.opt_text(d, "disable_reason", 500);
    host.comment = obj.opt_text(d, "comment", 1000);
    host.contact_email = obj
        .get("contact_email")
        .and_then(|v| rules::email(d, v, &obj.at("contact_email")));
    host.latitude = coordinate(d, &obj, "latitude", 90.0);
    host.longitude = coordinate(d, &obj, "longitude", 180.0);
    host.netblocks = unique_list(d, &obj, "netblocks", rules::netblock, |n| match n {
        Netblock::DnsName(name) => Netblock::DnsName(name.to_ascii_lowercase()),
        network => network.clone(),
    });
    host.peer_asns = unique_list(d, &obj, "peer_asns", rules::asn, |n| *n);
    host.allowed_countries =
        unique_list(d, &obj, "allowed_countries", rules::country, |c| c.clone());
    if let Some(v) = obj.get("categories") {
        host.categories = read_host_categories(d, v, &obj.at("categories"), inv, dirs);
    }
    // A host without a usable name or country is left out; its errors are reported.
    (name.is_some() && country.is_some()).then_some(host)
}

/// Latitude or longitude within ±`limit`.
fn coordinate(d: &mut Diagnostics, obj: &Obj<'_>, field: &str, limit: f64) -> Option<f64> {
    let v = obj.get(field)?;
    let f = number(d, v, &obj.at(field))?;
    if !(-limit..=limit).contains(&f) {
        d.error(
            v.pos,
            &obj.at(field),
            format!("{f} is out of range -{limit}–{limit}"),
        );
        return None;
    }
    Some(f)
}

/// A list whose entries must differ (under `key`): a repeated entry is
/// reported as `duplicates {pointer of the first}`.
fn unique_list<T, K: Eq + std::hash::Hash>(
    d: &mut Diagnostics,
    obj: &Obj<'_>,
    field: &str,
    read: fn(&mut Diagnostics, &Value, &str) -> Option<T>,
    key: impl Fn(&T) -> K,
) -> Vec<T> {
    let items = obj.array(d, field);
    let list_ptr = obj.at(field);
    let mut seen = FirstSeen::new();
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let ptr = index(&list_ptr, i);
        let Some(value) = read(d, item, &ptr) else {
            continue;
        };
        match seen.check(key(&value), &ptr) {
            Some(first) => d.error(item.pos, &ptr, format!("duplicates {first}")),
            None => out.push(value),
        }
    }
    out
}

/// `categories` of a host: category name → host category.
fn read_host_categories(
    d: &mut Diagnostics,
    value: &Value,
    ptr: &str,
    inv: &Inventory,
    dirs: &CategoryDirs,
) -> Vec<HostCategory> {
    let Some(members) = entries(d, value, ptr) else {
        return Vec::new();
    };
    let mut seen = FirstSeen::new();
    let mut out = Vec::new();
    for m in members {
        let hc_ptr = child(ptr, &m.key);
        let Some(category) = inv.category(&m.key) else {
            d.error(
                m.key_pos,
                &hc_ptr,
                format!("the inventory has no category \"{}\"", m.key),
            );
            continue;
        };
        if let Some(first) = seen.check(folded(&category.name), &hc_ptr) {
            d.error(
                m.key_pos,
                &hc_ptr,
                format!("host category \"{}\" is already at {first}", m.key),
            );
            continue;
        }
        let empty = BTreeSet::new();
        let category_dirs = dirs.get(&folded(&category.name)).unwrap_or(&empty);
        if let Some(hc) =
            read_host_category(d, &m.value, &hc_ptr, &m.key, &category.name, category_dirs)
        {
            out.push(hc);
        }
    }
    out
}

fn read_host_category(
    d: &mut Diagnostics,
    value: &Value,
    ptr: &str,
    key: &str,
    category_name: &str,
    category_dirs: &BTreeSet<String>,
) -> Option<HostCategory> {
    let obj = Obj::open(d, value, ptr, HOST_CATEGORY_FIELDS)?;
    let mut hc = HostCategory {
        category: key.to_string(),
        ..HostCategory::default()
    };
    // `urls` and `private_urls` are rows of one table, unique per host category.
    let mut seen = FirstSeen::new();
    let items = obj.array(d, "urls");
    hc.urls = read_urls(d, items, &obj.at("urls"), &mut seen);
    let items = obj.array(d, "private_urls");
    hc.private_urls = read_urls(d, items, &obj.at("private_urls"), &mut seen);
    hc.always_up2date = obj.bool_or(d, "always_up2date", false);
    let patterns_ptr = obj.at("up2date");
    let patterns = obj.array(d, "up2date");
    for (i, v) in patterns.iter().enumerate() {
        let p = index(&patterns_ptr, i);
        let Some(pattern) = rules::pattern(d, v, &p) else {
            continue;
        };
        if !pattern.matches_any(category_dirs) {
            d.error(
                v.pos,
                &p,
                format!("\"{pattern}\" matches no directory of category \"{category_name}\""),
            );
        }
        hc.up2date.push(pattern);
    }
    if hc.always_up2date && !patterns.is_empty() {
        d.error(
            obj.pos,
            ptr,
            "\"always_up2date\" is true and \"up2date\" is also given",
        );
    }
    // A mistyped "always_up2date" is already an error; no warning on top of it.
    let always_is_bool = obj
        .get("always_up2date")
        .is_none_or(|v| matches!(v.kind, Kind::Bool(_)));
    if !hc.always_up2date && always_is_bool && patterns.is_empty() {
        d.warn(
            obj.pos,
            ptr,
            "no \"up2date\" and not \"always_up2date\"; the host carries nothing here",
        );
    }
    Some(hc)
}

/// URL entries: a string, or `{url, ipv4?, ipv6?}`; array order is the position.
fn read_urls(
    d: &mut Diagnostics,
    items: &[Value],
    list_ptr: &str,
    seen: &mut FirstSeen<String>,
) -> Vec<HostUrl> {
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let ptr = index(list_ptr, i);
        let entry = match &item.kind {
            Kind::String(_) => rules::mirror_url(d, item, &ptr).map(|url| HostUrl {
                url,
                ipv4: None,
                ipv6: None,
            }),
            Kind::Object(_) => Obj::open(d, item, &ptr, URL_FIELDS).and_then(|obj| {
                let url = obj
                    .required(d, "url")
                    .and_then(|v| rules::mirror_url(d, v, &obj.at("url")))?;
                Some(HostUrl {
                    url,
                    ipv4: obj.opt_bool(d, "ipv4"),
                    ipv6: obj.opt_bool(d, "ipv6"),
                })
            }),
            _ => {
                wrong_type(d, item, &ptr, "a string or an object");
                None
            }
        };
        let Some(entry) = entry else { continue };
        match seen.check(entry.url.clone(), &ptr) {
            Some(first) => d.error(item.pos, &ptr, format!("duplicates {first}")),
            None => out.push(entry),
        }
    }
    out
}
