//! The converted [`Inventory`] written as an inventory document (data-model.md §11.1) and
//! read back with [`parse_inventory`], so the MirrorManager2 data meets exactly the rules of
//! `import inventory` (§11.3) before anything is written, and the reconciliation gets the
//! validated inventory its contract asks for.

use serde_json::{Map, Value, json};

use crate::inventory::{
    Diagnostic, FORMAT, FORMAT_VERSION, FileVersion, Host, HostCategory, HostUrl, Inventory,
    Netblock, parse_inventory,
};

/// The name diagnostics are reported under.
pub const DOCUMENT_NAME: &str = "mirrormanager2";

/// `inv` as the JSON an inventory file holds.
pub fn to_json(inv: &Inventory) -> Value {
    let products: Vec<Value> = inv
        .products
        .iter()
        .map(|p| {
            json!({
                "name": p.name,
                "publiclist": p.publiclist,
                "versions": p.versions.iter().map(|v| {
                    let mut o = json!({
                        "name": v.name, "display": v.display, "is_test": v.is_test,
                        "sort_order": v.sort_order,
                    });
                    if let Some(d) = &v.display_name {
                        o["display_name"] = json!(d);
                    }
                    o
                }).collect::<Vec<_>>(),
            })
        })
        .collect();
    let arches: Vec<Value> = inv
        .arches
        .iter()
        .map(|a| json!({"name": a.name, "publiclist": a.publiclist, "primary": a.primary}))
        .collect();
    let categories: Vec<Value> = inv
        .categories
        .iter()
        .map(|c| {
            let mut o = json!({
                "name": c.name, "product": c.product, "topdir": c.topdir,
                "publiclist": c.publiclist, "admin_only": c.admin_only,
                "directories": c.directories,
            });
            if let Some(r) = &c.repomap {
                o["repomap"] = json!(r);
            }
            o
        })
        .collect();
    let repositories: Vec<Value> = inv
        .repositories
        .iter()
        .map(|r| {
            let mut o = json!({
                "prefix": r.prefix, "arch": r.arch, "category": r.category,
                "repomd": r.repomd.iter().map(file_version).collect::<Vec<_>>(),
            });
            if let Some(v) = &r.version {
                o["version"] = json!(v);
            }
            if let Some(d) = &r.dir {
                o["dir"] = json!(d);
            }
            o
        })
        .collect();
    let files: Vec<Value> = inv
        .files
        .iter()
        .map(|f| {
            json!({
                "category": f.category, "dir": f.dir, "name": f.name,
                "history": f.history.iter().map(file_version).collect::<Vec<_>>(),
            })
        })
        .collect();
    let sites: Vec<Value> = inv
        .sites
        .iter()
        .map(|s| {
            let mut o = json!({
                "name": s.name, "private": s.private, "admin_active": s.admin_active,
                "user_active": s.user_active, "owners": s.owners,
                "hosts": s.hosts.iter().map(host).collect::<Vec<_>>(),
            });
            if let Some(u) = &s.org_url {
                o["org_url"] = json!(u);
            }
            if let Some(c) = &s.comment {
                o["comment"] = json!(c);
            }
            o
        })
        .collect();
    let disabled: Vec<Value> = inv
        .disabled_repos
        .iter()
        .map(|d| json!({"prefix": d.prefix, "reason": d.reason}))
        .collect();
    let netblock_countries: Map<String, Value> = inv
        .netblock_countries
        .iter()
        .map(|(p, cc)| (p.to_string(), json!(cc)))
        .collect();
    json!({
        "format": FORMAT,
        "format_version": FORMAT_VERSION as i64,
        "products": products,
        "arches": arches,
        "categories": categories,
        "repositories": repositories,
        "files": files,
        "sites": sites,
        "repo_redirects": inv.repo_redirects,
        "disabled_repos": disabled,
        "continent_overrides": inv.continent_overrides,
        "netblock_countries": netblock_countries,
    })
}

fn file_version(v: &FileVersion) -> Value {
    let mut o = json!({"timestamp": v.timestamp, "size": v.size});
    for (k, d) in [
        ("md5", &v.md5),
        ("sha1", &v.sha1),
        ("sha256", &v.sha256),
        ("sha512", &v.sha512),
    ] {
        if let Some(d) = d {
            o[k] = json!(d);
        }
    }
    if let Some(m) = v.mtime {
        o["mtime"] = json!(m);
    }
    o
}

fn host(h: &Host) -> Value {
    let mut o = json!({
        "name": h.name, "country": h.country, "bandwidth": h.bandwidth,
        "max_connections": h.max_connections, "private": h.private,
        "asn_clients": h.asn_clients, "admin_active": h.admin_active,
        "user_active": h.user_active,
        "netblocks": h.netblocks.iter().map(|n| match n {
            Netblock::Network(p) => p.to_string(),
            Netblock::DnsName(d) => d.clone(),
        }).collect::<Vec<_>>(),
        "peer_asns": h.peer_asns,
        "allowed_countries": h.allowed_countries,
        "categories": h.categories.iter()
            .map(|c| (c.category.clone(), host_category(c)))
            .collect::<Map<String, Value>>(),
    });
    if let Some(a) = h.asn {
        o["asn"] = json!(a);
    }
    if let Some(t) = h.auto_disabled_at {
        o["auto_disabled_at"] = json!(
            t.format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default()
        );
    }
    for (k, v) in [
        ("disable_reason", &h.disable_reason),
        ("comment", &h.comment),
        ("contact_email", &h.contact_email),
    ] {
        if let Some(v) = v {
            o[k] = json!(v);
        }
    }
    if let Some(l) = h.latitude {
        o["latitude"] = json!(l);
    }
    if let Some(l) = h.longitude {
        o["longitude"] = json!(l);
    }
    o
}

fn host_category(c: &HostCategory) -> Value {
    let urls = |list: &[HostUrl]| list.iter().map(|u| json!(u.url)).collect::<Vec<_>>();
    let mut o = json!({"urls": urls(&c.urls), "private_urls": urls(&c.private_urls)});
    if c.always_up2date {
        o["always_up2date"] = json!(true);
    } else {
        o["up2date"] = json!(c.up2date.iter().map(|p| p.to_string()).collect::<Vec<_>>());
    }
    o
}

/// Writes `inv` as a document and validates it with the inventory's rules: the validated
/// inventory and its warnings, or every diagnostic.
pub fn validate(inv: &Inventory) -> Result<(Inventory, Vec<Diagnostic>), Vec<Diagnostic>> {
    let text = serde_json::to_string_pretty(&to_json(inv)).unwrap_or_default();
    parse_inventory(DOCUMENT_NAME, &text)
}
