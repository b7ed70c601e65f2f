//! Operational endpoints (E75–E78): `/healthz`, `/readyz`, `/metrics`,
//! `/snapshot`. Their query is ignored (E2).

use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::time::UNIX_EPOCH;

use hyper::StatusCode;
use hyper::http::request::Parts;
use serde_json::{Value, json};

use crate::loaded::Loaded;
use crate::metrics::Endpoint;
use crate::render;
use crate::request::client::resolve_client;
use crate::service::{Answer, ctype};
use crate::state::Edge;

fn plain(status: StatusCode, body: String, endpoint: Endpoint, now: i64) -> Answer {
    Answer::text(status, body, endpoint, now)
}

/// Answers an operational endpoint.
pub fn operational(
    edge: &Edge,
    endpoint: Endpoint,
    parts: &Parts,
    peer: IpAddr,
    now: i64,
) -> Answer {
    let guard = edge.snapshot.load();
    let loaded = guard.as_deref();
    let mut a = match endpoint {
        Endpoint::Healthz => plain(StatusCode::OK, "ok\n".into(), endpoint, now),
        Endpoint::Readyz => readyz(edge, loaded, now),
        Endpoint::Metrics => {
            // The requester, after trusted proxies (E77); `ip=` never applies here.
            let xff: Vec<&[u8]> = parts
                .headers
                .get_all("x-forwarded-for")
                .iter()
                .map(|v| v.as_bytes())
                .collect();
            let requester =
                resolve_client(&edge.proxy, peer, &xff, None).map_or(peer, |c| c.requester);
            if edge
                .config
                .metrics
                .allow
                .iter()
                .any(|n| n.contains(requester))
            {
                Answer::new(
                    StatusCode::OK,
                    ctype::METRICS,
                    edge.metrics.encode(),
                    endpoint,
                    now,
                )
            } else {
                plain(
                    StatusCode::FORBIDDEN,
                    "error: forbidden\n".into(),
                    endpoint,
                    now,
                )
            }
        }
        _ => snapshot_status(edge, loaded, now),
    };
    a.snapshot_version = loaded.map(|l| l.snap.version());
    a
}

fn readyz(edge: &Edge, loaded: Option<&Loaded>, now: i64) -> Answer {
    let unavailable =
        |msg: String| plain(StatusCode::SERVICE_UNAVAILABLE, msg, Endpoint::Readyz, now);
    if edge.is_shutting_down() {
        return unavailable("not ready: shutting down\n".into());
    }
    let Some(l) = loaded else {
        let err = edge.last_error.load();
        let last = err.as_deref().unwrap_or("none");
        return unavailable(format!(
            "not ready: no snapshot loaded (last error: {last})\n"
        ));
    };
    let version = l.snap.version();
    let age = (now - l.snap.created_at()).max(0);
    let max_age = edge.config.snapshot.max_age.as_secs() as i64;
    if max_age > 0 && age > max_age {
        return unavailable(format!(
            "not ready: snapshot {version} is {age}s old (max_age {max_age}s)\n"
        ));
    }
    plain(
        StatusCode::OK,
        format!("ready: snapshot {version}, age {age}s\n"),
        Endpoint::Readyz,
        now,
    )
}

fn snapshot_status(edge: &Edge, loaded: Option<&Loaded>, now: i64) -> Answer {
    let started = edge
        .started_at
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let geoip = edge.geoip.load();
    let geoip_json = match geoip.as_deref() {
        Some(g) => {
            let reference = loaded.and_then(|l| {
                l.snap
                    .payload()
                    .inputs
                    .geoip_type
                    .as_ref()
                    .map(|t| t.to_string())
            });
            let matches = reference.map(|r| r == g.database_type());
            json!({
                "path": g.path.display().to_string(),
                "type": g.database_type(),
                "build_epoch": g.build_epoch(),
                "matches_reference": matches,
            })
        }
        None => Value::Null,
    };
    let err = edge.last_error.load();
    let writes = crate::follow::report::Writes::load(&edge.writes).text();
    let body = json!({
        "format": "mirrorfleet-edge-snapshot",
        "format_version": 1,
        "edge_id": edge.config.edge_id,
        "software_version": env!("CARGO_PKG_VERSION"),
        "started_at": render::rfc3339_string(started),
        "snapshot": loaded.map(|l| snapshot_json(l, now)),
        "geoip": geoip_json,
        "writes": writes,
        "last_error": err.as_deref(),
        "rejected_loads": edge.rejected_loads.load(Ordering::Relaxed),
    });
    let status = if loaded.is_some() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let mut text = serde_json::to_vec_pretty(&body).unwrap_or_default();
    text.push(b'\n');
    Answer::new(status, ctype::JSON, text, Endpoint::Snapshot, now)
}

/// The `snapshot` object of `/snapshot` (E78), also used in docs/explain.md.
pub fn snapshot_json(l: &Loaded, now: i64) -> Value {
    let s = &l.snap;
    let p = s.payload();
    let c = &p.counts;
    let i = &p.inputs;
    let loaded_at = l
        .loaded_at
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    json!({
        "version": s.version(),
        "sha256": s.file_sha256_hex(),
        "format_version": s.header().format_version,
        "created_at": render::rfc3339_string(s.created_at()),
        "source_generation": p.identity.source_generation.to_native(),
        "installation_id": s.installation_id(),
        "producer": {"name": p.identity.producer_name.as_str(), "software_version": p.identity.producer_version.as_str()},
        "manifest_serial": l.manifest_serial.load(Ordering::Relaxed),
        "loaded_at": render::rfc3339_string(loaded_at),
        "load_duration_ms": l.load_duration.as_secs_f64() * 1000.0,
        "age_s": (now - s.created_at()).max(0),
        "policy": {"min_mirrors": p.policy.min_mirrors.to_native(), "max_hosts": p.policy.max_hosts.to_native()},
        "counts": c.named().iter().map(|&(k, v)| (k.to_string(), Value::from(v))).collect::<serde_json::Map<_, _>>(),
        "inputs": {
            "prefix_asn": {
                "source": i.asn_source.as_str(), "imported_at": render::rfc3339_string(i.asn_imported_at.to_native()),
                "sha256": i.asn_sha256.as_str(),
                "entries_v4": i.asn_entries_v4.to_native(), "entries_v6": i.asn_entries_v6.to_native(),
            },
            "continents": i.continents_source.as_str(),
            "geoip_reference": {
                "database_type": i.geoip_type.as_ref().map(|t| t.as_str()),
                "build_epoch": i.geoip_build_epoch.as_ref().map(|e| e.to_native()),
                "sha256": i.geoip_sha256.as_ref().map(|t| t.as_str()),
            },
        },
    })
}
