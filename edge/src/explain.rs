//! `explain=1` (E68, E69): the whole computation of one answer as JSON, for
//! users and operators who need to see why a mirror was (not) chosen. The
//! layout is frozen by `format_version` and documented in docs/explain.md.
//! Explain is never on the hot path: it may allocate freely.

use serde_json::{Value, json};

use crate::loaded::Loaded;
use crate::metrics::Output;
use crate::render::{self, TierWord};
use crate::request::client::AddrEvent;
use crate::resolve::{Endpoint, Identity, Resolution, resolve};
use crate::select::{Matched, Selection};
use crate::service::{Answer, Ask, ctype, run_selection};
use crate::state::Edge;

fn word_text(w: &TierWord) -> String {
    let mut out = Vec::new();
    render::tier_word(&mut out, w);
    String::from_utf8_lossy(&out).trim_end().to_string()
}

fn code(c: [u8; 2]) -> String {
    String::from_utf8_lossy(&c).into_owned()
}

fn event(e: Option<AddrEvent>) -> &'static str {
    e.map_or("absent", |e| e.as_str())
}

/// Builds the explain answer (200 `application/json`).
pub fn answer(edge: &Edge, loaded: &Loaded, ask: Ask<'_>, output: &'static str) -> Answer {
    let Ask {
        params,
        client,
        kind,
        t,
    } = ask;
    let full = edge
        .config
        .explain
        .full_networks
        .iter()
        .any(|n| n.contains(client.requester));
    let snap = &loaded.snap;
    let resolution = resolve(loaded, params, kind);
    let mut res = json!({
        "repo_asked": params.repo, "redirect": Value::Null, "repo": Value::Null, "arch": Value::Null,
        "source_rule": false, "path": params.path, "directory": Value::Null, "file": Value::Null, "error": Value::Null,
    });
    if let Some(asked) = params.repo.as_deref() {
        res["redirect"] = json!(snap.redirect(asked));
    }
    let mut target = None;
    match &resolution {
        Resolution::Target {
            dir,
            file,
            identity,
        } => {
            if let Identity::Repo { repo, arch } = identity {
                res["repo"] = json!(repo);
                res["arch"] = json!(arch);
                res["source_rule"] = json!(params.arch.as_deref() != Some(*arch));
            }
            res["directory"] = json!(snap.directory(*dir).map(|d| d.name.as_str()));
            res["file"] = json!(file);
            target = Some(*dir);
        }
        Resolution::Disabled { .. } => res["error"] = json!("repo_disabled"),
        Resolution::UnknownRepo { repo, arch } => {
            res["repo"] = json!(repo);
            res["arch"] = json!(arch);
            res["error"] = json!("unknown_repo");
        }
        Resolution::InvalidPath => res["error"] = json!("invalid_path"),
        Resolution::NoMetalink { dir, file } => {
            res["directory"] = json!(dir);
            res["file"] = json!(file);
            res["error"] = json!("no_metalink");
        }
    }
    // The answer the same request gets without explain, same second.
    let (sel, location) = match target {
        Some(dir) => {
            let (s, l) = run_selection(edge, loaded, ask, dir, true);
            (Some(s), l)
        }
        None => (None, crate::service::locate(edge, loaded, client.client)),
    };
    let plain = crate::service::answer_for_explain(edge, loaded, ask, output);
    let mut client_json = json!({
        "address": client.client.to_string(),
        "family": if client.client.is_ipv4() { "ipv4" } else { "ipv6" },
        "source": client.source.as_str(),
        "requester": client.requester.to_string(),
        "x_forwarded_for": event(client.xff_event),
        "ip_param": event(client.ip_event),
    });
    if full {
        client_json["peer"] = json!(client.requester.to_string());
    }
    let body = json!({
        "format": "mirrorfleet-explain",
        "format_version": 1,
        "snapshot": {
            "version": snap.version(),
            "created_at": render::rfc3339_string(snap.created_at()),
            "sha256": snap.file_sha256_hex(),
        },
        "edge_id": edge.config.edge_id,
        "time": render::rfc3339_string(t),
        "request": {
            "endpoint": match kind { Endpoint::Metalink => "metalink", Endpoint::Mirrorlist => "mirrorlist" },
            "output": output,
            "parameters": {
                "repo": params.repo, "arch": params.arch, "path": params.path,
                "country": params.countries.iter().map(|c| c.as_str().to_string()).collect::<Vec<_>>(),
                "netblock": params.netblock,
                "protocol": params.protocols.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
                "redirect": params.redirect, "time": params.time, "countme": params.countme,
            },
        },
        "client": client_json,
        "location": {
            "country": location.country.map(code),
            "country_source": location.country_source,
            "continent": location.continent.map(code),
            "asn": location.asn.map(|a| a.0),
            "asn_prefix": location.asn.map(|a| a.1.to_string()),
        },
        "resolution": res,
        "tiers": sel.as_ref().map_or(json!([]), |s| tiers_json(loaded, s, target.unwrap_or(0), full)),
        "min_mirrors": {
            "value": snap.payload().policy.min_mirrors.to_native(),
            "hosts_before_global": sel.as_ref().map(|s| s.hosts_before_global),
            "global_added": sel.as_ref().is_some_and(|s| s.global_added),
        },
        "answer": {
            "status": plain.status.as_u16(),
            "type": plain.content_type,
            "hosts": sel.as_ref().map_or(0, |s| s.placed.len()),
            "urls": sel.as_ref().map_or(0, |s| s.urls.len()),
            "redirect": plain.location,
        },
    });
    edge.metrics.answer(Output::Explain);
    let mut text = serde_json::to_vec_pretty(&body).unwrap_or_default();
    text.push(b'\n');
    let mut a = Answer::new(hyper::StatusCode::OK, ctype::JSON, text, plain.endpoint, t);
    a.snapshot_version = Some(snap.version());
    a
}

fn tiers_json(loaded: &Loaded, sel: &Selection, dir: u32, full: bool) -> Value {
    let snap = &loaded.snap;
    let category = snap.directory(dir).map_or(0, |d| d.category.to_native());
    let subpath = snap.directory(dir).map_or("", |d| snap.subpath(d));
    let mut position = 0usize;
    let log = sel.log.as_deref().unwrap_or(&[]);
    let tiers: Vec<Value> = log
        .iter()
        .map(|tier| {
            let placed: Vec<Value> = tier
                .placed
                .iter()
                .filter_map(|&h| {
                    let p = sel.placed.iter().find(|p| p.host == h)?;
                    position += 1;
                    let host = snap.host(h)?;
                    let urls = snap.host_urls(host, category);
                    let url_list: Vec<String> = sel.urls[p.urls.0 as usize..(p.urls.0 + p.urls.1) as usize]
                        .iter()
                        .filter_map(|&i| urls.get(i as usize))
                        .map(|u| {
                            let mut out = Vec::new();
                            render::write_url(&mut out, &render::UrlParts { base: u.url.as_str(), subpath, file: None });
                            String::from_utf8_lossy(&out).into_owned()
                        })
                        .collect();
                    let hide = host.private && !full;
                    let matched = match p.matched {
                        Matched::None => Value::Null,
                        Matched::Asn(a) => json!({"asn": a}),
                        Matched::Netblock(_, len) if hide => json!({"netblock_prefix_length": len}),
                        Matched::Netblock(nb, _) => {
                            let net = snap.payload().netblocks.get(nb as usize);
                            let text = net.and_then(|n| mirrorfleet_snapshot::read::prefix_of(&n.prefix)).map(|p| p.to_string());
                            json!({"netblock": text})
                        }
                    };
                    Some(json!({
                        "id": if hide { Value::Null } else { json!(host.id.to_native()) },
                        "name": if hide { Value::Null } else { json!(host.name.as_str()) },
                        "country": code(host.country),
                        "bandwidth": host.bandwidth.to_native(),
                        "private": host.private,
                        "matched": matched,
                        "position": position,
                        "urls": url_list,
                    }))
                })
                .collect();
            let mut redacted = 0u64;
            let trimmed: Vec<Value> = tier
                .trimmed
                .iter()
                .filter_map(|&(h, reason)| {
                    let host = snap.host(h)?;
                    if host.private && !full {
                        redacted += 1;
                        return None;
                    }
                    Some(json!({"id": host.id.to_native(), "name": host.name.as_str(), "reason": reason.as_str()}))
                })
                .collect();
            json!({
                "slot": tier.slot,
                "name": tier.tier.as_str(),
                "words": tier.words.iter().map(word_text).collect::<Vec<_>>(),
                "placed": placed,
                "trimmed": trimmed,
                "redacted_private": redacted,
            })
        })
        .collect();
    let mut all = tiers;
    if !sel.over_max.is_empty() {
        let over: Vec<Value> = sel
            .over_max
            .iter()
            .filter_map(|&h| snap.host(h))
            .filter(|h| full || !h.private)
            .map(|h| json!({"id": h.id.to_native(), "name": h.name.as_str(), "reason": "over_max_hosts"}))
            .collect();
        all.push(json!({"slot": Value::Null, "name": "cap", "words": [], "placed": [], "trimmed": over, "redacted_private": 0}));
    }
    Value::Array(all)
}
