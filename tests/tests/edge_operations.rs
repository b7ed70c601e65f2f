//! Black-box operations tests, edge-protocol.md §18 rows E66–E88: headers, content types,
//! explain and its redaction, countme and metrics, `/healthz` `/readyz` `/metrics` `/snapshot`,
//! file-mode snapshot loading, limits and timeouts, robustness, signals and start-up.
//!
//! Not here: E71 and E80 and the store-mode rows of E79 (they need object storage), E81 (a
//! benchmark). Statistics rows (E70) are only observable in statistics objects, which need a
//! store; the row keys are checked through the metrics that carry them (E72).
//!
//! Rows that read counters start their own edge, so no other test moves them.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use mirrorfleet_tests::HttpResponse;
use mirrorfleet_tests::binary_command;
use mirrorfleet_tests::fixture::*;
use mirrorfleet_tests::fixture_extra::{
    RawEdge, connect_with_rcvbuf, count_in_payload, metric, order_ref::SplitMix64, parse_http_date,
    parse_response, patch_snapshot, request_bytes as raw_request_bytes, rfc3339, unix_now,
    write_atomically,
};
use mirrorfleet_tests::tools::{is_ci, loud, run_with_timeout};
use serde_json::{Value, json};

const F40: &str = "/mirrorlist?repo=fedora-40&arch=x86_64";
const F40_ML: &str = "/metalink?repo=fedora-40&arch=x86_64";
const SE_F40: &str = "https://mirror.example.edu/fedora/linux/releases/40/Everything/x86_64/os/";
const DE_F40: &str =
    "http://mirror.corp.example.com/fedora/linux/releases/40/Everything/x86_64/os/";
const TEXT: &str = "text/plain; charset=utf-8";

/// One request of a table: method, target, extra header fields, expected status.
type Case<'a> = (&'a str, String, Vec<(&'a str, &'a str)>, u16);
/// A target, extra header fields and the expected `Content-Type`.
type TypeCase<'a> = (String, Vec<(&'a str, &'a str)>, &'a str);
const PROM: &str = "text/plain; version=0.0.4; charset=utf-8";

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn m(edge: &Edge, name: &str, labels: &[(&str, &str)]) -> f64 {
    edge.metric(&format!("mirrorfleet_edge_{name}"), labels)
}

/// Waits up to `timeout` for `cond`; false when it never held.
fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

fn served_version(r: &HttpResponse) -> Option<u64> {
    r.header("x-mirrorlist-snapshot")
        .and_then(|v| v.parse().ok())
}

fn json_of(r: &HttpResponse) -> Value {
    serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", r.text()))
}

fn toml_path(p: &Path) -> String {
    toml_string(&p.display().to_string())
}

/// The standard fixture with a short snapshot poll interval.
fn quick_poll() -> Fixture {
    Fixture::new().config("snapshot", "poll_interval", "\"200ms\"")
}

// ---------------------------------------------------------------------------------------------
// E66, E67 headers and content types
// ---------------------------------------------------------------------------------------------

fn oversize_target() -> String {
    let mut t = String::from("/mirrorlist?repo=");
    while t.len() < 5000 {
        t.push('a');
    }
    t
}

fn many_headers(n: usize) -> Vec<(String, String)> {
    (0..n)
        .map(|i| (format!("X-Test-{i}"), "v".to_string()))
        .collect()
}

/// E66 fix: every answer carries `Content-Type`, `Content-Length`, `Date`, `Cache-Control:
/// no-store` and `X-Mirrorlist-Snapshot: 1204`; no `Server`, no chunking, no compression;
/// `/metalink` answers add `Vary: Accept`.
#[test]
fn e66_fix_headers_on_every_answer() {
    let edge = standard_edge();
    let se = |t: &str| with_ip(t, SE_CLIENT);
    let many = many_headers(100);
    let many: Vec<(&str, &str)> = many.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let cases: Vec<Case> = vec![
        ("GET", se(F40_ML), vec![], 200),
        (
            "GET",
            se(F40_ML),
            vec![("Accept", "application/metalink4+xml")],
            200,
        ),
        ("HEAD", se(F40_ML), vec![], 200),
        ("GET", se(F40), vec![], 200),
        ("GET", se(&format!("{F40}&redirect=1")), vec![], 302),
        ("GET", se(&format!("{F40}&explain=1")), vec![], 200),
        ("GET", se("/metalink?repo=nope&arch=x86_64"), vec![], 404),
        (
            "GET",
            se("/mirrorlist?repo=fedora-39&arch=x86_64"),
            vec![],
            200,
        ),
        ("GET", "/metalink?repo=%ZZ".to_string(), vec![], 400),
        ("POST", se(F40_ML), vec![], 405),
        ("GET", "/foo".to_string(), vec![], 404),
        ("GET", "/healthz".to_string(), vec![], 200),
        ("GET", "/readyz".to_string(), vec![], 200),
        ("GET", "/metrics".to_string(), vec![], 200),
        ("GET", "/snapshot".to_string(), vec![], 200),
        ("GET", oversize_target(), vec![], 414),
        ("GET", se(F40), many.clone(), 431),
    ];
    for (method, target, headers, status) in cases {
        let r = edge.request(method, &target, &headers);
        let what = format!("{method} {}", &target[..target.len().min(80)]);
        assert_eq!(r.status, status, "{what}: {}", r.text());
        assert_eq!(r.header("cache-control"), Some("no-store"), "E66: {what}");
        assert_eq!(
            r.header("x-mirrorlist-snapshot"),
            Some("1204"),
            "E66: {what}"
        );
        assert!(
            r.header("content-type").is_some(),
            "E66: Content-Type on {what}"
        );
        let cl = r
            .header("content-length")
            .and_then(|v| v.parse::<usize>().ok());
        assert!(
            cl.is_some(),
            "E66: Content-Length on {what}: {:?}",
            r.headers
        );
        if method != "HEAD" {
            assert_eq!(
                cl,
                Some(r.body.len()),
                "E66: Content-Length = body on {what}"
            );
        }
        let date = r.header("date").and_then(parse_http_date);
        assert!(
            date.is_some_and(|d| (d - unix_now()).abs() <= 5),
            "E66: Date from now on {what}: {:?}",
            r.header("date")
        );
        assert!(r.header("server").is_none(), "E66: no Server on {what}");
        assert!(
            r.header("transfer-encoding").is_none(),
            "E66: no chunking on {what}"
        );
        assert!(
            r.header("content-encoding").is_none(),
            "E66: no compression on {what}"
        );
        if target.split('?').next().unwrap().ends_with("/metalink") && status == 200 {
            assert_eq!(r.header("vary"), Some("Accept"), "E66: Vary on {what}");
        }
    }
}

/// E66: `Vary: Accept` on every `/metalink` answer, errors included.
#[test]
fn e66_vary_accept_on_every_metalink_answer() {
    let edge = standard_edge();
    let many = many_headers(100);
    let many: Vec<(&str, &str)> = many.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let mut long = String::from("/metalink?repo=");
    while long.len() < 5000 {
        long.push('a');
    }
    let cases: Vec<Case> = vec![
        (
            "GET",
            "/metalink?repo=nope&arch=x86_64".to_string(),
            vec![],
            404,
        ),
        (
            "GET",
            "/metalink?repo=fedora-39&arch=x86_64".to_string(),
            vec![],
            200,
        ),
        ("GET", "/metalink?repo=%ZZ".to_string(), vec![], 400),
        ("GET", "/metalink?arch=x86_64".to_string(), vec![], 400),
        ("POST", F40_ML.to_string(), vec![], 405),
        ("GET", long, vec![], 414),
        ("GET", F40_ML.to_string(), many, 431),
    ];
    let mut failures = Vec::new();
    for (method, target, headers, status) in cases {
        let r = edge.request(method, &target, &headers);
        let what = format!(
            "{method} {} → {}",
            &target[..target.len().min(60)],
            r.status
        );
        assert_eq!(r.status, status, "{what}");
        if r.header("vary") != Some("Accept") {
            failures.push(what);
        }
    }
    assert!(
        failures.is_empty(),
        "E66: /metalink answers without `Vary: Accept`: {failures:?}"
    );
}

/// E67: content types of every output.
#[test]
fn e67_content_types() {
    let edge = standard_edge();
    let se = |t: &str| with_ip(t, SE_CLIENT);
    let cases: Vec<TypeCase> = vec![
        (se(F40_ML), vec![], "application/metalink+xml"),
        (
            se(F40_ML),
            vec![("Accept", "application/metalink4+xml")],
            "application/metalink4+xml",
        ),
        (se(F40), vec![], TEXT),
        (se(&format!("{F40}&redirect=1")), vec![], TEXT),
        (se(&format!("{F40}&explain=1")), vec![], "application/json"),
        (
            se(&format!("{F40_ML}&explain=1")),
            vec![],
            "application/json",
        ),
        ("/snapshot".to_string(), vec![], "application/json"),
        ("/metrics".to_string(), vec![], PROM),
        ("/healthz".to_string(), vec![], TEXT),
        ("/readyz".to_string(), vec![], TEXT),
        ("/nothing".to_string(), vec![], TEXT),
        (
            "/mirrorlist?repo=nope&arch=x86_64".to_string(),
            vec![],
            TEXT,
        ),
    ];
    for (target, headers, ctype) in cases {
        let r = edge.request("GET", &target, &headers);
        assert_eq!(
            r.header("content-type"),
            Some(ctype),
            "E67: GET {target} ({})",
            r.status
        );
    }
    let r = edge.request("DELETE", "/healthz", &[]);
    assert_eq!(r.header("content-type"), Some(TEXT), "E67: 405");
}

// ---------------------------------------------------------------------------------------------
// E68, E69 explain
// ---------------------------------------------------------------------------------------------

fn is_rfc3339(v: &Value) -> bool {
    v.as_str().is_some_and(|t| {
        t.len() == 20 && t.ends_with('Z') && t.as_bytes()[10] == b'T' && t.as_bytes()[4] == b'-'
    })
}

/// The explain tiers' words (each with its trailing space) and placed URLs by position.
fn explain_words_and_urls(ex: &Value) -> (String, Vec<String>) {
    let mut words = String::new();
    let mut placed: Vec<(u64, Vec<String>)> = Vec::new();
    for t in ex["tiers"].as_array().expect("tiers") {
        for w in t["words"].as_array().expect("words") {
            words.push_str(w.as_str().expect("word text"));
            words.push(' ');
        }
        for p in t["placed"].as_array().expect("placed") {
            let urls = p["urls"].as_array().expect("urls");
            let urls = urls
                .iter()
                .map(|u| u.as_str().unwrap().to_string())
                .collect();
            placed.push((p["position"].as_u64().expect("position"), urls));
        }
    }
    placed.sort_by_key(|p| p.0);
    let positions: Vec<u64> = placed.iter().map(|p| p.0).collect();
    let want: Vec<u64> = (1..=placed.len() as u64).collect();
    assert_eq!(positions, want, "E68: positions 1..n: {ex:#}");
    (words, placed.into_iter().flat_map(|p| p.1).collect())
}

/// E68: every field; the tiers match the plain answer (words and URL order).
#[test]
fn e68_explain_fields_and_consistency() {
    let edge = standard_edge();
    let ex = edge.explain_as(SE_CLIENT, F40);
    assert_eq!(ex["format"], "mirrorfleet-explain");
    assert_eq!(ex["format_version"], 1);
    let snap = json_of(&edge.get("/snapshot"));
    assert_eq!(ex["snapshot"]["version"], 1204, "E68 snapshot");
    assert_eq!(
        ex["snapshot"]["created_at"],
        rfc3339(CREATED_AT),
        "E68 snapshot.created_at"
    );
    let sha = ex["snapshot"]["sha256"].as_str().unwrap_or("");
    assert!(
        sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_hexdigit()),
        "E68 sha256 {sha}"
    );
    assert_eq!(
        ex["snapshot"]["sha256"], snap["snapshot"]["sha256"],
        "E68/E78: same sha256"
    );
    assert_eq!(ex["edge_id"], EDGE_ID);
    assert!(is_rfc3339(&ex["time"]), "E68 time {}", ex["time"]);
    let req = &ex["request"];
    assert_eq!(req["endpoint"], "mirrorlist");
    assert_eq!(req["output"], "mirrorlist");
    let p = &req["parameters"];
    assert_eq!(p["repo"], "fedora-40");
    assert_eq!(p["arch"], "x86_64");
    assert_eq!(p["path"], Value::Null);
    assert_eq!(p["country"], json!([]));
    assert_eq!(p["netblock"], true);
    assert_eq!(p["protocol"], json!([]));
    assert_eq!(p["redirect"], false);
    assert_eq!(p["time"], false);
    assert!(p.get("countme").is_some(), "E68: countme parameter: {p:#}");
    let c = &ex["client"];
    assert_eq!(c["address"], SE_CLIENT, "E68 client");
    assert_eq!(c["family"], "ipv4");
    assert_eq!(c["source"], "ip_param");
    assert_eq!(c["ip_param"], "used");
    assert_eq!(c["x_forwarded_for"], "absent");
    assert_eq!(
        c["peer"], "127.0.0.1",
        "E69: peer shown to a full network: {c:#}"
    );
    let l = &ex["location"];
    assert_eq!(l["country"], "SE", "E68 location");
    assert_eq!(l["country_source"], "geoip");
    assert_eq!(l["continent"], "EU");
    assert_eq!(l["asn"], 64500);
    assert_eq!(l["asn_prefix"], "192.0.2.0/24");
    let res = &ex["resolution"];
    assert_eq!(res["repo_asked"], "fedora-40", "E68 resolution");
    assert_eq!(res["redirect"], Value::Null);
    assert_eq!(res["arch"], "x86_64");
    assert_eq!(res["source_rule"], false);
    assert_eq!(
        res["directory"],
        "pub/fedora/linux/releases/40/Everything/x86_64/os"
    );
    assert_eq!(res["file"], Value::Null);
    assert_eq!(res["error"], Value::Null);
    let tiers = ex["tiers"].as_array().expect("tiers");
    let named: BTreeMap<&str, &Value> = tiers
        .iter()
        .map(|t| (t["name"].as_str().unwrap_or(""), t))
        .collect();
    for (name, slot) in [("netblock", 0), ("asn", 1), ("country", 3), ("global", 5)] {
        let t = named
            .get(name)
            .unwrap_or_else(|| panic!("E68: no {name} tier: {ex:#}"));
        assert_eq!(t["slot"], slot, "E56/E68: slot of {name}");
    }
    let placed = &named["netblock"]["placed"][0];
    assert_eq!(
        *placed,
        json!({
            "id": 3, "name": HOST_SE, "country": "SE", "bandwidth": 10000, "private": false,
            "matched": {"netblock": "192.0.2.0/24"}, "position": 1, "urls": [SE_F40]
        }),
        "E68: placed host"
    );
    let global_trim = named["global"]["trimmed"].as_array().unwrap();
    assert!(
        global_trim.contains(&json!({"id": 2, "name": HOST_US, "reason": "country_not_allowed"})),
        "E68: trimmed host with reason: {ex:#}"
    );
    assert!(
        global_trim.contains(&json!({"id": 3, "name": HOST_SE, "reason": "duplicate"})),
        "E68: duplicate reason: {ex:#}"
    );
    assert_eq!(
        ex["min_mirrors"],
        json!({"value": 5, "hosts_before_global": 1, "global_added": true}),
        "E68"
    );
    assert_eq!(
        ex["answer"],
        json!({"status": 200, "type": TEXT, "hosts": 1, "urls": 1, "redirect": null}),
        "E68 answer"
    );
    // Tiers match the plain answer, also with several hosts in random order (same second).
    for (client, target) in [
        (SE_CLIENT, F40.to_string()),
        (US_CLIENT, format!("{F40}&country=global")),
        (US_CLIENT, F40.to_string()),
        (DE_PRIVATE_CLIENT, F40.to_string()),
    ] {
        let mut done = false;
        for _ in 0..20 {
            let r = edge.get_as(client, &target);
            let ex = edge.explain_as(client, &target);
            let date = parse_http_date(r.header("date").unwrap()).unwrap();
            if ex["time"] != rfc3339(date) {
                continue;
            }
            let body = r.text();
            let header = body.lines().next().unwrap();
            let (words, urls) = explain_words_and_urls(&ex);
            assert_eq!(
                header,
                format!("# repo = fedora-40 arch = x86_64 {words}"),
                "E68: explain words = plain words ({client}, {target})"
            );
            let plain_urls: Vec<&str> = body.lines().skip(1).collect();
            assert_eq!(
                plain_urls, urls,
                "E68: explain hosts = plain hosts ({client}, {target})"
            );
            assert_eq!(ex["answer"]["hosts"], urls.len(), "E68 answer.hosts");
            done = true;
            break;
        }
        assert!(done, "E68: no explain and plain answer in one second");
    }
    // Redirect target; metalink output; resolution errors; 400s stay 400.
    let r = edge.get_as(SE_CLIENT, &format!("{F40}&redirect=1"));
    let ex = edge.explain_as(SE_CLIENT, &format!("{F40}&redirect=1"));
    assert_eq!(ex["request"]["output"], "redirect");
    assert_eq!(ex["answer"]["status"], 302);
    assert_eq!(
        ex["answer"]["redirect"].as_str(),
        r.header("location"),
        "E68 answer.redirect"
    );
    let ex = edge.explain_as(SE_CLIENT, F40_ML);
    assert_eq!(ex["request"]["output"], "metalink3");
    assert_eq!(ex["resolution"]["file"], "repomd.xml");
    assert_eq!(
        ex["resolution"]["directory"],
        "pub/fedora/linux/releases/40/Everything/x86_64/os/repodata"
    );
    let r = edge.request(
        "GET",
        &with_ip(&format!("{F40_ML}&explain=1"), SE_CLIENT),
        &[("Accept", "application/metalink4+xml")],
    );
    assert_eq!(json_of(&r)["request"]["output"], "metalink4", "E68 output");
    let ex = edge.explain_as(SE_CLIENT, "/mirrorlist?repo=epel-9.4&arch=x86_64");
    assert_eq!(ex["resolution"]["repo_asked"], "epel-9.4");
    assert_eq!(ex["resolution"]["redirect"], "epel-9");
    assert_eq!(ex["resolution"]["repo"], "epel-9");
    let ex = edge.explain_as(SE_CLIENT, "/mirrorlist?repo=nope&arch=x86_64");
    assert_eq!(ex["resolution"]["error"], "unknown_repo");
    assert_eq!(ex["answer"]["status"], 404);
    let ex = edge.explain_as(SE_CLIENT, "/mirrorlist?repo=fedora-39&arch=x86_64");
    assert_eq!(ex["resolution"]["error"], "repo_disabled");
    let r = edge.get("/mirrorlist?repo=%ZZ&explain=1");
    assert_eq!(r.status, 400, "E68: a 400 of §2 stays a 400 with explain");
    let r = edge.get("/mirrorlist?repo=fedora-40&arch=x86_64&ip=banana&explain=1");
    assert_eq!(r.status, 400, "E68: a 400 of §4 stays a 400 with explain");
}

/// E69: a requester outside `explain.full_networks` sees private hosts redacted.
#[test]
fn e69_explain_redacts_private_hosts() {
    let edge = shared("no full networks", || {
        Fixture::new().explain_full_networks(&[])
    });
    let ex = edge.explain_as(DE_PRIVATE_CLIENT, F40);
    let text = ex.to_string();
    let t0 = &ex["tiers"][0];
    assert_eq!(t0["name"], "netblock");
    let p = &t0["placed"][0];
    assert_eq!(p["id"], Value::Null, "E69: id null: {p:#}");
    assert_eq!(p["name"], Value::Null, "E69: name null: {p:#}");
    assert_eq!(
        p["matched"],
        json!({"netblock_prefix_length": 24}),
        "E69: prefix length only"
    );
    assert_eq!(p["private"], true);
    assert_eq!(
        p["urls"],
        json!([DE_F40]),
        "E69: the client still gets the URLs"
    );
    assert!(
        ex["client"].get("peer").is_none(),
        "E69: client.peer omitted: {:#}",
        ex["client"]
    );
    assert!(
        !text.contains("198.51.100.0/24\""),
        "E69: no private netblock: {ex:#}"
    );
    assert!(
        !text.contains(&format!("\"{HOST_DE_PRIVATE}\"")),
        "E69: no private name: {ex:#}"
    );
    // Trimmed private hosts are only counted.
    let target = format!("{F40}&protocol=https");
    let ex = edge.explain_as(DE_PRIVATE_CLIENT, &target);
    let t0 = &ex["tiers"][0];
    assert_eq!(
        t0["trimmed"],
        json!([]),
        "E69: trimmed private host not listed: {ex:#}"
    );
    assert_eq!(t0["redacted_private"], 1, "E69: counted");
    // The same from a full network (the standard fixture lists loopback).
    let ex = standard_edge().explain_as(DE_PRIVATE_CLIENT, &target);
    let t0 = &ex["tiers"][0];
    assert_eq!(
        t0["trimmed"],
        json!([{"id": 1, "name": HOST_DE_PRIVATE, "reason": "no_url"}]),
        "E69: unredacted for a full network"
    );
    let ex = standard_edge().explain_as(DE_PRIVATE_CLIENT, F40);
    assert_eq!(ex["tiers"][0]["placed"][0]["name"], HOST_DE_PRIVATE);
    assert_eq!(
        ex["tiers"][0]["placed"][0]["matched"],
        json!({"netblock": "198.51.100.0/24"})
    );
    // explain.enabled = false ignores the parameter.
    let off = shared("explain off", || {
        Fixture::new().config("explain", "enabled", "false")
    });
    let r = off.get_as(DE_PRIVATE_CLIENT, &format!("{F40}&explain=1"));
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some(TEXT),
        "E69: explain disabled"
    );
    assert_eq!(
        r.text(),
        off.get_as(DE_PRIVATE_CLIENT, F40).text(),
        "E69: the plain answer"
    );
}

// ---------------------------------------------------------------------------------------------
// E70, E72, E73 countme and metrics
// ---------------------------------------------------------------------------------------------

/// E70/E72: 3 × `countme=1` and 1 × `countme=4` for fedora-40/x86_64 from SE (200 and 302
/// answers, both endpoints); an unknown repo and a path request count under `?`.
#[test]
fn e70_e72_countme_counted_by_repo_and_bucket() {
    let edge = Fixture::new().start();
    for target in [
        format!("{F40}&countme=1"),
        format!("{F40_ML}&countme=1"),
        format!("{F40}&countme=1&redirect=1"),
        format!("{F40}&countme=4"),
    ] {
        let r = edge.get_as(SE_CLIENT, &target);
        assert!(matches!(r.status, 200 | 302), "{target}: {}", r.status);
    }
    let r = edge.get_as(SE_CLIENT, "/mirrorlist?repo=nope&arch=x86_64&countme=2");
    assert_eq!(r.status, 404);
    let r = edge.get_as(SE_CLIENT, "/mirrorlist?repo=nope&arch=sparc");
    assert_eq!(r.status, 404);
    let r = edge.get_as(SE_CLIENT, "/mirrorlist?path=pub/epel/9/Everything/x86_64");
    assert_eq!(r.status, 200);
    let text = edge.metrics();
    assert!(
        text.contains(
            "\nmirrorfleet_edge_countme_total{repo=\"fedora-40\",arch=\"x86_64\",bucket=\"1\"} 3\n"
        ),
        "E72: exact line for bucket 1\n{text}"
    );
    let f40 = [("repo", "fedora-40"), ("arch", "x86_64")];
    let bucket = |b: &str| {
        metric_value(
            &text,
            "mirrorfleet_edge_countme_total",
            &[f40[0], f40[1], ("bucket", b)],
        )
        .unwrap_or(0.0)
    };
    assert_eq!(
        [bucket("1"), bucket("2"), bucket("3"), bucket("4")],
        [3.0, 0.0, 0.0, 1.0],
        "E70"
    );
    let requests = |labels: &[(&str, &str)]| {
        metric_value(&text, "mirrorfleet_edge_requests_by_repo_total", labels).unwrap_or(0.0)
    };
    assert_eq!(
        requests(&f40),
        4.0,
        "E70: requests of the fedora-40/x86_64 row"
    );
    assert_eq!(
        requests(&[("repo", "?"), ("arch", "x86_64")]),
        1.0,
        "E70: unknown repo → `?`, arch from the repo map"
    );
    assert_eq!(
        requests(&[("repo", "?"), ("arch", "?")]),
        2.0,
        "E70: unknown arch and path requests → `?`/`?`"
    );
    assert_eq!(
        metric_value(
            &text,
            "mirrorfleet_edge_countme_total",
            &[("repo", "?"), ("arch", "x86_64"), ("bucket", "2")]
        )
        .unwrap_or(0.0),
        1.0,
        "E70: countme of the `?` row"
    );
    assert!(
        !text.contains("repo=\"nope\""),
        "E70: keys come from the snapshot, never raw input"
    );
    assert!(
        !text.contains("arch=\"sparc\""),
        "E70: keys come from the snapshot"
    );
}

/// E73: HEAD, explain and other statuses are not counted; an invalid countme counts the request
/// and `countme_invalid_total` only.
#[test]
fn e73_not_counted() {
    let edge = Fixture::new().start();
    let f40 = [("repo", "fedora-40"), ("arch", "x86_64")];
    let b1 = [f40[0], f40[1], ("bucket", "1")];
    assert_eq!(
        edge.head(&with_ip(&format!("{F40}&countme=1"), SE_CLIENT))
            .status,
        200
    );
    assert_eq!(
        edge.head(&with_ip(&format!("{F40_ML}&countme=1"), SE_CLIENT))
            .status,
        200
    );
    let _ = edge.explain_as(SE_CLIENT, &format!("{F40}&countme=1"));
    let _ = edge.explain_as(SE_CLIENT, &format!("{F40_ML}&countme=1"));
    let r = edge.get("/mirrorlist?repo=fedora-40&arch=x86_64&countme=1&country=usa");
    assert_eq!(r.status, 400);
    let r = edge.request("POST", &format!("{F40}&countme=1"), &[]);
    assert_eq!(r.status, 405);
    assert_eq!(
        m(&edge, "countme_total", &b1),
        0.0,
        "E73: HEAD/explain/400/405 counted"
    );
    assert_eq!(
        m(&edge, "requests_by_repo_total", &f40),
        0.0,
        "E73: requests counted"
    );
    // countme outside 1–4: the request counts, no bucket, countme_invalid +1.
    let r = edge.get_as(SE_CLIENT, &format!("{F40}&countme=7"));
    assert_eq!(r.status, 200, "E24: never an error");
    assert_eq!(m(&edge, "requests_by_repo_total", &f40), 1.0, "E73");
    assert_eq!(
        m(&edge, "countme_invalid_total", &[]),
        1.0,
        "E73: countme_invalid_total"
    );
    for b in ["1", "2", "3", "4"] {
        assert_eq!(
            m(&edge, "countme_total", &[f40[0], f40[1], ("bucket", b)]),
            0.0,
            "E73"
        );
    }
    // Control: a counted GET.
    edge.get_as(SE_CLIENT, &format!("{F40}&countme=1"));
    assert_eq!(m(&edge, "countme_total", &b1), 1.0, "E70: control");
}

/// E74 fix: no client address in the logs (at info) or the metrics.
#[test]
fn e74_fix_no_client_addresses_in_logs_or_metrics() {
    let edge = Fixture::new().trusted_proxies(&["127.0.0.0/8"]).start();
    let addresses = [
        "192.0.2.123",
        "203.0.113.211",
        "198.51.100.77",
        "2001:db8:2000::abcd",
        "192.0.2.231",
        "203.0.113.99",
        "198.51.100.201",
    ];
    for _ in 0..3 {
        edge.get_as("192.0.2.123", F40);
        edge.get_as("203.0.113.211", &format!("{F40_ML}&countme=1"));
        edge.get_as("2001:db8:2000::abcd", &format!("{F40}&redirect=1"));
        edge.get_as("198.51.100.77", "/mirrorlist?repo=nope&arch=x86_64");
        edge.request("GET", F40, &[("X-Forwarded-For", "192.0.2.231")]);
        edge.request("GET", F40, &[("X-Forwarded-For", "203.0.113.99, bogus")]);
        edge.request("GET", F40, &[("X-Forwarded-For", "198.51.100.201:80")]);
        edge.request("GET", "/metrics", &[("X-Forwarded-For", "203.0.113.99")]);
        edge.get_as("192.0.2.123", &format!("{F40}&explain=1"));
        edge.get("/mirrorlist?repo=fedora-40&arch=x86_64&ip=192.0.2.999");
    }
    let logs = edge.logs();
    let metrics = edge.metrics();
    for a in addresses {
        assert!(
            !logs.contains(a),
            "E74: client address {a} in the logs:\n{logs}"
        );
        assert!(
            !metrics.contains(a),
            "E74: client address {a} in the metrics"
        );
    }
    assert!(
        !logs.contains("192.0.2.999"),
        "E74: raw ip= value in the logs:\n{logs}"
    );
}

// ---------------------------------------------------------------------------------------------
// E75–E78 operational endpoints
// ---------------------------------------------------------------------------------------------

/// E75, E76, E78, E79, E88: before any snapshot the edge runs: `/healthz` 200, `/readyz` 503
/// naming the problem, `/snapshot` 503 with `"snapshot": null`; a file that appears later is
/// loaded.
#[test]
fn e75_e76_e78_without_snapshot_then_loaded() {
    let fixture = quick_poll().snapshot_mode(SnapshotMode::MissingFile);
    let edge = fixture.start();
    let r = edge.get("/healthz?x=1");
    assert_eq!((r.status, r.text().as_str()), (200, "ok\n"), "E75");
    assert_eq!(r.header("x-mirrorlist-snapshot"), Some("none"), "E66: none");
    let r = edge.get("/readyz");
    assert_eq!(r.status, 503, "E76: no snapshot");
    let body = r.text();
    assert!(
        body.starts_with("not ready: no snapshot loaded (last error: ") && body.ends_with(")\n"),
        "E76: reason {body:?}"
    );
    let r = edge.get("/snapshot");
    assert_eq!(r.status, 503, "E78: no snapshot");
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(json_of(&r)["snapshot"], Value::Null, "E78");
    let r = edge.get_as(SE_CLIENT, &format!("{F40_ML}&explain=1"));
    assert_eq!(r.status, 503, "E68/E9: explain keeps the 503");
    // The file appears: loaded without a restart.
    write_atomically(&edge.files.snapshot, &fixture.snapshot_bytes());
    assert!(
        wait_until(Duration::from_secs(10), || edge.get("/readyz").status
            == 200),
        "E79: the snapshot file written after start is loaded\n{}",
        edge.logs()
    );
    let r = edge.get_as(SE_CLIENT, F40);
    assert_eq!(r.status, 200);
    assert_eq!(served_version(&r), Some(1204));
    assert!(
        edge.wait_exit(Duration::ZERO).is_none(),
        "E88: still running"
    );
}

/// The age in seconds in a `/readyz` answer whose body is `prefix`, the age, `suffix`; panics
/// on any other body.
fn readyz_age(r: &HttpResponse, prefix: &str, suffix: &str) -> i64 {
    let body = r.text();
    body.strip_prefix(prefix)
        .and_then(|r| r.strip_suffix(suffix))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("E76: body {body:?}"))
}

/// E76: older than `max_age` → 503 with the age; fresh → 200; default config with an old
/// snapshot → 200.
#[test]
fn e76_readyz_age() {
    // The fixture snapshot was created at CREATED_AT (2024): over a year old.
    let old = Fixture::new()
        .config("snapshot", "max_age", "\"1h\"")
        .config("snapshot", "file", "\"snapshot.bin\"")
        .snapshot_mode(SnapshotMode::Custom)
        .start();
    let mut last = String::new();
    let loaded = wait_until(Duration::from_secs(10), || {
        last = old.get("/readyz").text();
        !last.contains("no snapshot loaded")
    });
    assert!(loaded, "snapshot not loaded: {last}\n{}", old.logs());
    let r = old.get("/readyz");
    let age = unix_now() - CREATED_AT;
    assert_eq!(r.status, 503, "E76: older than max_age: {}", r.text());
    let n = readyz_age(
        &r,
        "not ready: snapshot 1204 is ",
        "s old (max_age 3600s)\n",
    );
    assert!((n - age).abs() <= 5, "E76: age {n} vs {age}");
    assert_eq!(
        old.get_as(SE_CLIENT, F40).status,
        200,
        "E76: still answers (readiness only)"
    );
    // Fresh.
    let mut fresh = Fixture::new().config("snapshot", "max_age", "\"1h\"");
    fresh.created_at = unix_now();
    let fresh = fresh.start();
    let r = fresh.get("/readyz");
    assert_eq!(r.status, 200, "E76: fresh");
    let n = readyz_age(&r, "ready: snapshot 1204, age ", "s\n");
    assert!((0..=60).contains(&n), "E76: fresh age {n}");
    // Default config (no max_age), year-old snapshot.
    let r = standard_edge().get("/readyz");
    assert_eq!(r.status, 200, "E76: max_age off by default");
    let n = readyz_age(&r, "ready: snapshot 1204, age ", "s\n");
    assert!((n - age).abs() <= 5, "E76: age {n} vs {age}");
}

/// E77 fix: Prometheus text for loopback; 403 for 192.0.2.10 (behind a trusted proxy) or when
/// `metrics.allow` is empty; `ip=` never applies.
#[test]
fn e77_fix_metrics_access() {
    let edge = standard_edge();
    let r = edge.get("/metrics");
    assert_eq!(r.status, 200, "E77");
    assert_eq!(r.header("content-type"), Some(PROM), "E67");
    let text = r.text();
    for name in [
        "requests_total",
        "request_duration_seconds_bucket",
        "answers_total",
        "first_tier_total",
        "tier_used_total",
        "global_fallback_total",
        "hosts_trimmed_total",
        "client_address_events_total",
        "countme_total",
        "requests_by_repo_total",
        "countme_invalid_total",
        "snapshot_version",
        "snapshot_created_timestamp_seconds",
        "snapshot_age_seconds",
        "snapshot_load_duration_seconds",
        "snapshot_loads_total",
        "snapshot_rejected_total",
        "manifest_polls_total",
        "geoip_info",
        "geoip_mismatch",
        "stats_writes_total",
        "report_writes_total",
        "stats_rows_dropped_total",
        "connections_open",
        "timeouts_total",
        "panics_total",
        "ready",
        "build_info",
    ] {
        let full = format!("mirrorfleet_edge_{name}");
        assert!(
            text.lines().any(|l| l.starts_with(&full)
                && matches!(l.as_bytes().get(full.len()), Some(b'{') | Some(b' '))),
            "E77: metric {full} missing"
        );
    }
    assert_eq!(
        metric(&text, "mirrorfleet_edge_snapshot_version"),
        Some(1204.0),
        "E77"
    );
    assert_eq!(metric(&text, "mirrorfleet_edge_ready"), Some(1.0), "E77");
    for l in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        assert!(l.starts_with("mirrorfleet_edge_"), "E77: prefix: {l}");
    }
    let r = edge.get("/metrics?ip=192.0.2.10");
    assert_eq!(r.status, 200, "E77: ip= never applies to /metrics");
    let proxied = shared("trusted loopback", || {
        Fixture::new().trusted_proxies(&["127.0.0.0/8"])
    });
    let r = proxied.request("GET", "/metrics", &[("X-Forwarded-For", "192.0.2.10")]);
    assert_eq!(r.status, 403, "E77: requester 192.0.2.10");
    assert_eq!(r.text(), "error: forbidden\n");
    assert_eq!(r.header("content-type"), Some(TEXT));
    let r = proxied.request("GET", "/metrics", &[("X-Forwarded-For", "127.0.0.5")]);
    assert_eq!(r.status, 200, "E77: loopback requester through the proxy");
    let closed = shared("metrics closed", || {
        Fixture::new().config("metrics", "allow", "[]")
    });
    let r = closed.get("/metrics");
    assert_eq!(r.status, 403, "E77: metrics.allow = []");
}

/// E78: `/snapshot` JSON.
#[test]
fn e78_snapshot_endpoint() {
    let edge = standard_edge();
    let r = edge.get("/snapshot?x=1");
    assert_eq!(r.status, 200, "E78");
    assert_eq!(r.header("content-type"), Some("application/json"));
    let j = json_of(&r);
    assert_eq!(j["format"], "mirrorfleet-edge-snapshot");
    assert_eq!(j["format_version"], 1);
    assert_eq!(j["edge_id"], EDGE_ID);
    assert!(
        j["software_version"]
            .as_str()
            .is_some_and(|v| !v.is_empty())
    );
    assert!(is_rfc3339(&j["started_at"]), "E78 started_at");
    let s = &j["snapshot"];
    assert_eq!(s["version"], 1204, "E78 version");
    assert_eq!(
        s["policy"],
        json!({"min_mirrors": 5, "max_hosts": 100}),
        "E78 policy"
    );
    assert_eq!(s["created_at"], rfc3339(CREATED_AT));
    assert_eq!(s["format_version"], 1);
    let sha = s["sha256"].as_str().unwrap_or("");
    assert!(sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_hexdigit()));
    let bytes = fs::read(&edge.files.snapshot).unwrap();
    assert_eq!(sha, sha256_hex(&bytes), "E78: sha256 of the whole file");
    assert!(s["installation_id"].as_str().is_some_and(|u| u.len() == 36));
    assert_eq!(s["manifest_serial"], 0, "file mode");
    assert!(is_rfc3339(&s["loaded_at"]));
    assert!(s["producer"]["name"].is_string());
    assert!(s["age_s"].as_i64().is_some());
    assert!(s["load_duration_ms"].is_number());
    assert!(s["source_generation"].is_number());
    assert_eq!(s["counts"]["hosts"], 3, "E78 counts");
    assert_eq!(s["counts"]["public_hosts"], 2, "E78 counts");
    assert_eq!(s["counts"]["repo_map_entries"], 4, "E78 counts");
    assert_eq!(s["counts"]["prefix_asn_entries"], 1, "E78 counts");
    for key in [
        "directories",
        "carried_pairs",
        "file_details",
        "netblocks",
        "asn_map_entries",
    ] {
        assert!(s["counts"][key].is_u64(), "E78 counts.{key}");
    }
    assert!(s["inputs"]["prefix_asn"].is_object(), "E78 inputs");
    assert_eq!(j["geoip"]["type"], "GeoLite2-Country", "E78 geoip");
    assert!(j["geoip"]["path"].is_string());
    assert!(j["geoip"].get("matches_reference").is_some());
    assert_eq!(j["last_error"], Value::Null);
    assert_eq!(j["rejected_loads"], 0);
}

fn sha256_hex(b: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(b))
}

// ---------------------------------------------------------------------------------------------
// E79 file mode
// ---------------------------------------------------------------------------------------------

/// E79 fix: rewriting the snapshot file (atomically, then in place) during a request loop swaps
/// the new version in without a restart and without a failed request.
#[test]
fn e79_fix_file_rewrite_swaps_under_load_without_failures() {
    let edge = Arc::new(quick_poll().start());
    let pid = edge.pid();
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for w in 0..3 {
        let (edge, stop) = (edge.clone(), stop.clone());
        workers.push(thread::spawn(move || {
            let mut seen: Vec<u64> = Vec::new();
            let mut errors: Vec<String> = Vec::new();
            let target = with_ip(if w % 2 == 0 { F40 } else { F40_ML }, SE_CLIENT);
            while !stop.load(Ordering::Relaxed) {
                match edge.try_request("GET", &target, &[], None) {
                    Ok(r) if r.status == 200 => seen.push(served_version(&r).unwrap_or(0)),
                    Ok(r) => errors.push(format!("status {}: {}", r.status, r.text())),
                    Err(e) => errors.push(format!("transport: {e}")),
                }
            }
            (seen, errors)
        }));
    }
    thread::sleep(Duration::from_millis(500));
    write_atomically(
        &edge.files.snapshot,
        &Fixture::new().version(1205).snapshot_bytes(),
    );
    let version = |e: &Edge| served_version(&e.get_as(SE_CLIENT, F40));
    assert!(
        wait_until(Duration::from_secs(10), || version(&edge) == Some(1205)),
        "E79: 1205 not swapped in\n{}",
        edge.logs()
    );
    thread::sleep(Duration::from_millis(400));
    // In place, as an operator may do (E79: the edge never maps the operator's file).
    fs::write(
        &edge.files.snapshot,
        Fixture::new().version(1206).snapshot_bytes(),
    )
    .unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || version(&edge) == Some(1206)),
        "E79: 1206 (rewritten in place) not swapped in\n{}",
        edge.logs()
    );
    thread::sleep(Duration::from_millis(400));
    stop.store(true, Ordering::Relaxed);
    let mut total = 0;
    for w in workers {
        let (seen, errors) = w.join().unwrap();
        assert!(
            errors.is_empty(),
            "E79: failed requests during the swap: {errors:?}"
        );
        assert!(
            seen.windows(2).all(|p| p[0] <= p[1]),
            "E79: versions went back: {seen:?}"
        );
        assert!(
            seen.iter().all(|v| [1204, 1205, 1206].contains(v)),
            "E79: unexpected version header: {seen:?}"
        );
        total += seen.len();
    }
    assert!(total > 50, "only {total} requests in the loop");
    assert_eq!(edge.pid(), pid);
    assert!(edge.wait_exit(Duration::ZERO).is_none(), "E79: no restart");
    assert_eq!(json_of(&edge.get("/snapshot"))["snapshot"]["version"], 1206);
}

/// A snapshot of version 1205 with an extra repository (`fedora-40`/`x86_6z`) and a
/// netblock→country override 203.0.113.64/26 → FR, to be corrupted.
fn craftable() -> Vec<u8> {
    Fixture::new()
        .inventory(|inv| {
            inv["arches"].as_array_mut().unwrap().push(json!("x86_6z"));
            inv["repositories"].as_array_mut().unwrap().push(json!({
                "prefix": "fedora-40", "arch": "x86_6z", "category": "Fedora Linux",
                "version": "40", "dir": "releases/40/Everything/x86_6z/os"
            }));
        })
        .netblock_country("203.0.113.64/26", "FR")
        .version(1205)
        .snapshot_bytes()
}

/// The repo-map key (`fedora-40`, `x86_6z`) becomes a duplicate of (`fedora-40`, `x86_64`).
fn duplicate_repo_key(bytes: &[u8]) -> Vec<u8> {
    patch_snapshot(bytes, b"x86_6z\xff\xff", b"x86_64\xff\xff")
}

/// The override 203.0.113.64/26 becomes 203.0.113.65/26 (host bits set).
fn non_canonical_override(bytes: &[u8]) -> Vec<u8> {
    let mut find = vec![0u8; 10];
    find.extend([0xff, 0xff, 203, 0, 113, 64, 26]);
    let mut repl = find.clone();
    repl[15] = 65;
    patch_snapshot(bytes, &find, &repl)
}

/// The prefix→ASN entry 192.0.2.0/24 becomes 192.0.2.7/24 (host bits set).
fn asn_prefix_with_host_bits(bytes: &[u8]) -> Vec<u8> {
    // Asn4Rec: addr (u32 LE), len (u8).
    let find = [0x00, 0x02, 0x00, 0xc0, 24];
    let repl = [0x07, 0x02, 0x00, 0xc0, 24];
    assert_eq!(
        count_in_payload(bytes, &find),
        1,
        "one prefix→ASN entry 192.0.2.0/24"
    );
    patch_snapshot(bytes, &find, &repl)
}

/// E79 fix, E88 fix: corrupt or invalid snapshot files are rejected and counted by reason; the
/// old snapshot keeps being served; a good file afterwards is loaded.
#[test]
fn e79_fix_invalid_snapshots_rejected_old_one_served() {
    let edge = quick_poll().start();
    let good = craftable();
    mirrorfleet_snapshot::Snapshot::from_bytes(good.clone()).expect("the base of the crafts loads");
    let mut corrupt = good.clone();
    let mid = corrupt.len() / 2;
    corrupt[mid] ^= 0x55;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "duplicate repo-map key",
            duplicate_repo_key(&good),
            "validation",
        ),
        (
            "non-canonical override",
            non_canonical_override(&good),
            "validation",
        ),
        (
            "ASN prefix with host bits",
            asn_prefix_with_host_bits(&good),
            "validation",
        ),
        ("corrupt payload", corrupt, "hash"),
        ("truncated file", good[..good.len() / 2].to_vec(), "header"),
        ("not a snapshot", b"hello, world\n".repeat(20), "header"),
    ];
    let mut rejected_loads = 0;
    for (what, bytes, reason) in &cases {
        if *reason == "validation" {
            match mirrorfleet_snapshot::Snapshot::from_bytes(bytes.clone()) {
                Err(mirrorfleet_snapshot::SnapshotError::Validation(_)) => {}
                other => panic!("E79: {what}: the validator says {:?}", other.map(|_| "ok")),
            }
        }
        let before = m(&edge, "snapshot_rejected_total", &[("reason", reason)]);
        write_atomically(&edge.files.snapshot, bytes);
        assert!(
            wait_until(Duration::from_secs(10), || {
                m(&edge, "snapshot_rejected_total", &[("reason", reason)]) >= before + 1.0
            }),
            "E79: {what}: snapshot_rejected_total{{reason=\"{reason}\"}} not incremented\n{}",
            edge.logs()
        );
        rejected_loads += 1;
        let r = edge.get_as(SE_CLIENT, F40_ML);
        assert_eq!(r.status, 200, "E79: {what}: old one served");
        assert_eq!(
            served_version(&r),
            Some(1204),
            "E79: {what}: old one served"
        );
        assert_eq!(edge.get("/readyz").status, 200, "E79: {what}: still ready");
        let j = json_of(&edge.get("/snapshot"));
        assert!(
            j["last_error"].is_string(),
            "E78: last_error after {what}: {j:#}"
        );
        assert!(
            j["rejected_loads"].as_u64() >= Some(rejected_loads),
            "E78: rejected_loads"
        );
    }
    assert!(edge.wait_exit(Duration::ZERO).is_none(), "E88: no crash");
    write_atomically(&edge.files.snapshot, &good);
    assert!(
        wait_until(Duration::from_secs(10), || served_version(&edge.get(F40))
            == Some(1205)),
        "E79: a good file after the bad ones is loaded\n{}",
        edge.logs()
    );
}

fn tree_state(dir: &Path) -> Vec<(String, u64, std::time::SystemTime, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let md = e.metadata().unwrap();
            if md.is_dir() {
                stack.push(e.path());
            }
            let hash = if md.is_file() {
                sha256_hex(&fs::read(e.path()).unwrap())
            } else {
                String::new()
            };
            out.push((
                e.path().display().to_string(),
                md.len(),
                md.modified().unwrap(),
                hash,
            ));
        }
    }
    out.sort();
    out
}

/// E79: file mode serves the file's snapshot and neither reads nor writes `cache_dir`, even when
/// it holds a newer snapshot.
#[test]
fn e79_file_mode_never_uses_cache_dir() {
    let cache = tempfile::tempdir().unwrap();
    let newer = Fixture::new().version(1300).snapshot_bytes();
    fs::write(cache.path().join("1300.snapshot"), &newer).unwrap();
    fs::write(
        cache.path().join("current.json"),
        serde_json::to_vec_pretty(&json!({
            "manifest_serial": 50, "snapshot_key": "snapshots/1300.snapshot",
            "sha256": sha256_hex(&newer), "version": 1300,
            "installation_id": json_of(&standard_edge().get("/snapshot"))["snapshot"]["installation_id"],
        }))
        .unwrap(),
    )
    .unwrap();
    let before = tree_state(cache.path());
    let edge = quick_poll()
        .config("snapshot", "cache_dir", &toml_path(cache.path()))
        .start();
    assert_eq!(
        served_version(&edge.get(F40)),
        Some(1204),
        "E79: the file's snapshot"
    );
    write_atomically(
        &edge.files.snapshot,
        &Fixture::new().version(1205).snapshot_bytes(),
    );
    assert!(wait_until(Duration::from_secs(10), || served_version(
        &edge.get(F40)
    ) == Some(1205)));
    let mut bad = Fixture::new().version(1206).snapshot_bytes();
    bad[200] ^= 1;
    write_atomically(&edge.files.snapshot, &bad);
    assert!(wait_until(Duration::from_secs(10), || {
        m(&edge, "snapshot_rejected_total", &[("reason", "hash")]) >= 1.0
    }));
    assert_eq!(
        tree_state(cache.path()),
        before,
        "E79: file mode wrote into cache_dir"
    );
    // The default cache_dir (`cache` in the working directory) is not created either.
    let std_edge = standard_edge();
    std_edge.get(F40);
    assert!(
        !std_edge.files.dir.join("cache").exists() && !edge.files.dir.join("cache").exists(),
        "E79: file mode created a cache directory"
    );
}

// ---------------------------------------------------------------------------------------------
// E82–E85 limits and robustness
// ---------------------------------------------------------------------------------------------

/// E82: a target over 4 KiB → 414.
#[test]
fn e82_uri_too_long() {
    let edge = standard_edge();
    let target = oversize_target();
    assert_eq!(target.len(), 5000);
    let r = edge.get(&target);
    assert_eq!(r.status, 414, "E82");
    assert_eq!(
        r.text(),
        "error: URI too long (at most 4096 bytes)\n",
        "E82"
    );
    assert_eq!(r.header("content-type"), Some(TEXT), "E82/E67");
    let mut at_limit = String::from("/mirrorlist?repo=");
    while at_limit.len() < 4096 {
        at_limit.push('a');
    }
    assert_eq!(
        edge.get(&at_limit).status,
        400,
        "E82: 4096 bytes is not over the limit"
    );
    at_limit.push('a');
    assert_eq!(edge.get(&at_limit).status, 414, "E82: 4097 bytes");
}

/// E83: 100 header fields → 431; so are 17 KiB of header bytes.
#[test]
fn e83_too_many_header_fields() {
    let edge = standard_edge();
    let many = many_headers(100);
    let many: Vec<(&str, &str)> = many.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let r = edge.request("GET", &with_ip(F40, SE_CLIENT), &many);
    assert_eq!(r.status, 431, "E83: 100 fields");
    assert_eq!(r.header("content-type"), Some(TEXT), "E83");
    let few = many_headers(20);
    let few: Vec<(&str, &str)> = few.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    assert_eq!(
        edge.request("GET", &with_ip(F40, SE_CLIENT), &few).status,
        200,
        "E83: 24 fields"
    );
    let big = "x".repeat(17 * 1024);
    let r = edge.request("GET", &with_ip(F40, SE_CLIENT), &[("X-Big", big.as_str())]);
    assert_eq!(r.status, 431, "E83: 17 KiB of headers");
    // The same bound over HTTP/2.
    let many_h2 = many_headers(100);
    let many_h2: Vec<(&str, &str)> = many_h2
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let target = with_ip(F40, SE_CLIENT);
    let resp = edge.h2c(&[("GET", target.as_str(), &many_h2[..])]);
    assert_eq!(
        resp[0].status, 431,
        "E83: the same bound for HTTP/2 header lists"
    );
}

/// E84 fix: half a request line, then silence past `header_read_timeout` → closed without an
/// answer, `timeouts_total{kind="header_read"}` +1.
#[test]
fn e84_fix_header_read_timeout() {
    let edge = Fixture::new()
        .config("limits", "header_read_timeout", "\"1s\"")
        .config("limits", "idle_timeout", "\"1s\"")
        .start();
    let kind = [("kind", "header_read")];
    let before = m(&edge, "timeouts_total", &kind);
    let mut conn = edge.connect();
    conn.send(b"GET /metalink?repo=fed").unwrap();
    let started = Instant::now();
    let closed = conn.closed_by_peer(Duration::from_secs(8));
    let waited = started.elapsed();
    assert!(
        closed,
        "E84: connection not closed after 8 s (got {:?})",
        String::from_utf8_lossy(conn.pending())
    );
    assert!(conn.pending().is_empty(), "E84: closed without answer");
    assert!(
        waited >= Duration::from_millis(900),
        "E84: closed too early ({waited:?})"
    );
    assert!(
        wait_until(Duration::from_secs(2), || m(&edge, "timeouts_total", &kind)
            == before + 1.0),
        "E84: timeouts_total{{kind=\"header_read\"}} not +1"
    );
    assert_eq!(
        edge.get_as(SE_CLIENT, F40).status,
        200,
        "E84: serving goes on"
    );
    // Idle keep-alive connections are closed after idle_timeout, and counted.
    let idle = [("kind", "idle")];
    let before = m(&edge, "timeouts_total", &idle);
    let mut conn = edge.connect();
    let raw = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nConnection: keep-alive\r\n\r\n",
        with_ip(F40, SE_CLIENT),
        edge.addr()
    );
    conn.send(raw.as_bytes()).unwrap();
    assert_eq!(conn.read_response(false).unwrap().status, 200);
    let started = Instant::now();
    assert!(
        conn.closed_by_peer(Duration::from_secs(8)),
        "E84: idle keep-alive connection not closed after idle_timeout"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "E84: idle close too early"
    );
    assert!(
        wait_until(Duration::from_secs(2), || m(&edge, "timeouts_total", &idle)
            == before + 1.0),
        "E84: timeouts_total{{kind=\"idle\"}} not +1"
    );
}

/// Bytes allowed raw in a request target by this generator (hyper rejects others with 400,
/// which is also fine: an answer).
const TARGET_CHARS: &[u8] =
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$'()*+,;=:@/?%&";

fn pick<T: Copy>(rng: &mut SplitMix64, items: &[T]) -> T {
    items[rng.uniform(items.len() as u64) as usize]
}

fn random_value(rng: &mut SplitMix64) -> Vec<u8> {
    const PIECES: &[&[u8]] = &[
        b"fedora-40",
        b"x86_64",
        b"epel-9.4",
        b"source",
        b"se",
        b"US,global",
        b"global",
        b"http",
        b"https,rsync",
        b"gopher",
        b"1",
        b"0",
        b"4",
        b"7",
        b"-1",
        b"%ZZ",
        b"%",
        b"%2",
        b"%00",
        b"%0A",
        b"%7F",
        b"%E2%28",
        b"%C3%A9",
        b"%FF",
        b"..",
        b".",
        b"/",
        b"//",
        b"pub/fedora/linux",
        b"pub/epel/9/Everything/x86_64",
        b"192.0.2.10",
        b"2001:db8::1",
        b"::ffff:192.0.2.1",
        b"[::1]",
        b"banana",
        b"=",
        b"==",
        b";",
        b"+",
        b"%2B",
        b"%26",
        b"a--b",
    ];
    let mut v = Vec::new();
    for _ in 0..rng.uniform(4) {
        if rng.uniform(3) == 0 {
            for _ in 0..rng.uniform(12) {
                v.push(pick(rng, TARGET_CHARS));
            }
        } else {
            v.extend_from_slice(pick(rng, PIECES));
        }
    }
    if rng.uniform(8) == 0 {
        v.extend(std::iter::repeat_n(b'a', rng.uniform(300) as usize));
    }
    v
}

fn random_target(rng: &mut SplitMix64) -> Vec<u8> {
    const PATHS: &[&[u8]] = &[
        b"/metalink",
        b"/mirrorlist",
        b"/mm/metalink",
        b"//mirrorlist",
        b"/metalink/",
        b"/healthz",
        b"/readyz",
        b"/snapshot",
        b"/metrics",
        b"/x",
        b"/met%61link",
        b"/",
    ];
    const NAMES: &[&[u8]] = &[
        b"repo",
        b"arch",
        b"path",
        b"country",
        b"netblock",
        b"protocol",
        b"redirect",
        b"time",
        b"explain",
        b"countme",
        b"ip",
        b"cc",
        b"Repo",
        b"",
        b"%72epo",
        b"x%ZZ",
    ];
    const BASES: &[&[u8]] = &[
        b"repo=fedora-40&arch=x86_64",
        b"repo=epel-9.4&arch=x86_64",
        b"repo=fedora-39&arch=aarch64",
        b"repo=nope&arch=x86_64",
        b"repo=updates-released-f40&arch=x86_64",
        b"path=pub/fedora/linux/releases/40/Everything/x86_64/os",
        b"path=pub/fedora/linux/releases/40/Everything/x86_64/os/a%20b.rpm",
    ];
    const EXTRAS: &[&[u8]] = &[
        b"country=se",
        b"country=US,global",
        b"country=no",
        b"netblock=0",
        b"protocol=https",
        b"protocol=rsync,http",
        b"redirect=1",
        b"time=1",
        b"explain=1",
        b"countme=3",
        b"ip=192.0.2.10",
        b"ip=2001:db8:2000::1",
        b"ip=::ffff:198.51.100.7",
        b"ip=100.64.0.1",
        b"ip=2001:db8:1000::5",
        b"cc=xx",
        b"version=9",
    ];
    if rng.uniform(2) == 0 {
        // A valid request with random extras: exercises the client address, selection and
        // rendering, not only the validators.
        let mut t = pick(rng, &PATHS[..4]).to_vec();
        t.push(b'?');
        t.extend_from_slice(pick(rng, BASES));
        for _ in 0..rng.uniform(5) {
            t.extend_from_slice(b"&");
            if rng.uniform(4) == 0 {
                t.extend_from_slice(pick(rng, NAMES));
                t.push(b'=');
                t.extend(random_value(rng));
            } else {
                t.extend_from_slice(pick(rng, EXTRAS));
            }
        }
        return t;
    }
    let mut t = pick(rng, PATHS).to_vec();
    let pieces = match rng.uniform(10) {
        0 => 60 + rng.uniform(10),
        1 => 0,
        _ => rng.uniform(8),
    };
    if pieces > 0 || rng.uniform(2) == 0 {
        t.push(b'?');
    }
    for i in 0..pieces {
        if i > 0 {
            t.push(b'&');
        }
        t.extend_from_slice(pick(rng, NAMES));
        if rng.uniform(6) != 0 {
            t.push(b'=');
            t.extend(random_value(rng));
        }
    }
    if rng.uniform(20) == 0 {
        // Raw bytes hyper may refuse: still an answer, never a dropped connection.
        t.push(pick(
            rng,
            &[b' ', b'"', b'<', b'{', b'|', 0xc3, 0xa9, 0x80, 0xff],
        ));
    }
    t
}

fn random_xff(rng: &mut SplitMix64) -> Vec<u8> {
    const ELEMS: &[&[u8]] = &[
        b"203.0.113.5",
        b"192.0.2.10",
        b"10.0.0.7",
        b"127.0.0.1",
        b"203.0.113.5:80",
        b"[2001:db8:2000::1]:443",
        b"[2001:db8:2000::1]",
        b"2001:db8:2000::1",
        b"::ffff:192.0.2.9",
        b"fe80::1%eth0",
        b"unknown",
        b"",
        b" ",
        b"\t192.0.2.10 ",
        b"1.2.3",
        b"999.1.1.1",
        b"[::1",
        b"\xc3\xa9",
        b"\x80\xff",
        b"192.0.2.10\xc3\xa9",
        b"::",
        b"0.0.0.0",
    ];
    let mut v = Vec::new();
    let n = if rng.uniform(8) == 0 {
        30 + rng.uniform(15)
    } else {
        1 + rng.uniform(4)
    };
    for i in 0..n {
        if i > 0 {
            v.extend_from_slice(if rng.uniform(2) == 0 { b"," } else { b", " });
        }
        v.extend_from_slice(pick(rng, ELEMS));
    }
    v
}

fn random_request(rng: &mut SplitMix64, addr: SocketAddr) -> (Vec<u8>, bool) {
    let method = pick(
        rng,
        &["GET", "GET", "GET", "GET", "HEAD", "POST", "OPTIONS"],
    );
    let target = random_target(rng);
    let mut raw = Vec::new();
    raw.extend_from_slice(method.as_bytes());
    raw.push(b' ');
    raw.extend_from_slice(&target);
    raw.extend_from_slice(format!(" HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n").as_bytes());
    let mut add = |name: &str, value: &[u8]| {
        raw.extend_from_slice(name.as_bytes());
        raw.extend_from_slice(b": ");
        raw.extend_from_slice(value);
        raw.extend_from_slice(b"\r\n");
    };
    for _ in 0..rng.uniform(3) {
        let v = random_xff(rng);
        add("X-Forwarded-For", &v);
    }
    if rng.uniform(2) == 0 {
        let accept: &[u8] = pick(
            rng,
            &[
                &b"*/*"[..],
                b"application/metalink4+xml",
                b"application/metalink+xml, application/metalink4+xml;q=0.5",
                b"application/metalink4+xml;q=0",
                b"application/metalink4+xml;q=abc",
                b"application/METALINK4+XML;Q=0.9, */*;q=0.1",
                b";;;,,,",
                b"\xc3\xa9/\xff",
                b"text/html;q=1.5",
            ],
        );
        add("Accept", accept);
    }
    if rng.uniform(4) == 0 {
        add("Forwarded", b"for=192.0.2.60;proto=http");
        add("X-Real-IP", b"198.51.100.1");
    }
    if rng.uniform(10) == 0 {
        add("X-Junk", b"\x01\x7f");
    }
    raw.extend_from_slice(b"\r\n");
    (raw, method == "HEAD")
}

fn run_random_requests(edge: &Edge, seed: u64, cases: usize, snapshot_loaded: bool) {
    let mut rng = SplitMix64(seed);
    for case in 0..cases {
        let (raw, head) = random_request(&mut rng, edge.addr());
        let shown = String::from_utf8_lossy(&raw).into_owned();
        let mut conn = edge.connect();
        let sent = conn.send(&raw);
        let r = sent
            .and_then(|_| conn.read_response(head))
            .unwrap_or_else(|e| {
                panic!(
                    "E85/E29: seed {seed:#x} case {case}: no complete answer ({e}) to\n{shown}\n{}",
                    edge.logs()
                )
            });
        let path = shown
            .split(' ')
            .nth(1)
            .unwrap_or("")
            .split('?')
            .next()
            .unwrap_or("");
        let selection = path.ends_with("/metalink") || path.ends_with("/mirrorlist");
        let allowed_503 = !snapshot_loaded
            && r.status == 503
            && (selection || path == "/readyz" || path == "/snapshot");
        assert!(
            r.status < 500 || allowed_503,
            "E85: seed {seed:#x} case {case}: {} for\n{shown}\n{}",
            r.status,
            r.text()
        );
    }
}

/// E85 (and E29): random query strings, paths, `X-Forwarded-For` (non-ASCII bytes, 40
/// elements) and `Accept` values sent to the live edge: never a 5xx (except E9's 503 before a
/// snapshot), never a dropped connection, no panic counted.
#[test]
fn e85_random_requests_never_fail_the_edge() {
    let edge = Fixture::new().trusted_proxies(&["127.0.0.0/8"]).start();
    for seed in [0xE85, 0x5EED_0001, 0x5EED_0002] {
        run_random_requests(&edge, seed, 200, true);
    }
    assert_eq!(m(&edge, "panics_total", &[]), 0.0, "E85: panics counted");
    assert!(
        edge.wait_exit(Duration::ZERO).is_none(),
        "E85: the edge died"
    );
    let empty = Fixture::new()
        .trusted_proxies(&["127.0.0.0/8"])
        .snapshot_mode(SnapshotMode::MissingFile)
        .start();
    run_random_requests(&empty, 0xE9, 200, false);
    assert_eq!(
        m(&empty, "panics_total", &[]),
        0.0,
        "E85: panics counted (no snapshot)"
    );
}

// ---------------------------------------------------------------------------------------------
// E86, E87 signals
// ---------------------------------------------------------------------------------------------

/// E86 fix: SIGTERM during requests: `/readyz` 503 at once; serving goes on during
/// `drain_delay`; requests in flight (one still sending its header, one read slowly) complete;
/// exit status 0.
#[test]
fn e86_fix_sigterm_drains_and_exits_zero() {
    let mut fixture = Fixture::new()
        .config("shutdown", "drain_delay", "\"2s\"")
        .config("shutdown", "grace", "\"5s\"")
        .policy(5, 0);
    for i in 0..600 {
        let name = format!("h{i:03}.example.org");
        fixture = fixture.add_host(
            "Example Zeta",
            json!({"name": name, "country": "FR",
                   "categories": {"Fedora Linux": {"urls": [format!("https://{name}/fedora")],
                                                   "up2date": ["releases/40/**"]}}}),
        );
    }
    let edge = Arc::new(fixture.start());
    let addr = edge.addr();
    let big_target = with_ip(F40_ML, UNKNOWN_CLIENT);
    // A request whose header is still being sent when the signal comes.
    let mut slow_request = edge.connect();
    slow_request
        .send(
            format!(
                "GET {} HTTP/1.1\r\nHost: {addr}\r\n",
                with_ip(F40, SE_CLIENT)
            )
            .as_bytes(),
        )
        .unwrap();
    // A large answer read slowly (small receive window).
    let mut slow_reader = connect_with_rcvbuf(addr, 2048).expect("connect");
    slow_reader
        .write_all(
            format!("GET {big_target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .unwrap();
    // A request loop on new connections.
    let stop = Arc::new(AtomicBool::new(false));
    let signalled: Arc<std::sync::Mutex<Option<Instant>>> = Arc::default();
    let loop_handle = {
        let (edge, stop, signalled) = (edge.clone(), stop.clone(), signalled.clone());
        thread::spawn(move || {
            let mut log: Vec<(Option<Duration>, Result<u16, String>)> = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let since = signalled.lock().unwrap().map(|t| t.elapsed());
                let raw = raw_request_bytes(edge.addr(), "GET", &with_ip(F40, SE_CLIENT), &[]);
                let res =
                    std::net::TcpStream::connect_timeout(&edge.addr(), Duration::from_secs(2))
                        .and_then(|mut s| {
                            s.write_all(&raw)?;
                            s.set_read_timeout(Some(Duration::from_secs(10)))?;
                            let mut buf = Vec::new();
                            let _ = s.read_to_end(&mut buf);
                            Ok(buf)
                        });
                let outcome = match res {
                    Err(e) => Err(format!("connect/send: {e}")),
                    Ok(buf) if buf.is_empty() => Err("closed with no answer".to_string()),
                    Ok(buf) => match parse_response(&buf, false) {
                        Ok(r) => Ok(r.status),
                        Err(e) => Err(format!("PARTIAL: {e}")),
                    },
                };
                log.push((since, outcome));
                thread::sleep(Duration::from_millis(20));
            }
            log
        })
    };
    thread::sleep(Duration::from_millis(300));
    *signalled.lock().unwrap() = Some(Instant::now());
    let t0 = Instant::now();
    edge.signal(libc::SIGTERM);
    // Readiness off at once.
    let mut readyz = String::new();
    let off = wait_until(Duration::from_millis(1000), || {
        let r = edge.get("/readyz");
        readyz = format!("{} {}", r.status, r.text());
        r.status == 503
    });
    assert!(off, "E86: /readyz not 503 within 1 s of SIGTERM: {readyz}");
    assert_eq!(readyz, "503 not ready: shutting down\n", "E76/E86");
    // Serving goes on during the drain delay.
    let r = edge.get_as(SE_CLIENT, F40);
    assert_eq!(r.status, 200, "E86: serving during drain_delay");
    // Finish the slow request's header after the drain delay (accepting has stopped).
    let wait = Duration::from_millis(2500).saturating_sub(t0.elapsed());
    thread::sleep(wait);
    slow_request.send(b"Accept: */*\r\n\r\n").unwrap();
    let r = slow_request.read_response(false);
    let r = r.unwrap_or_else(|e| {
        panic!(
            "E86: in-flight request dropped after the drain: {e}\n{}",
            edge.logs()
        )
    });
    assert_eq!(r.status, 200, "E86: in-flight request answered");
    assert_eq!(
        r.header("connection")
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("close"),
        "E86"
    );
    // Read the big answer slowly.
    let mut big = Vec::new();
    let mut chunk = [0u8; 1024];
    slow_reader
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    loop {
        match slow_reader.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => big.extend_from_slice(&chunk[..n]),
            Err(e) => panic!("E86: slow answer broken after {} bytes: {e}", big.len()),
        }
        if big.len() < 64 * 1024 {
            thread::sleep(Duration::from_millis(5));
        }
    }
    let r =
        parse_response(&big, false).unwrap_or_else(|e| panic!("E86: slow answer incomplete: {e}"));
    assert_eq!(r.status, 200, "E86: slow answer");
    assert!(
        r.body.len() > 50_000,
        "the slow answer is large ({} bytes)",
        r.body.len()
    );
    let status = edge.wait_exit(Duration::from_secs(15));
    stop.store(true, Ordering::Relaxed);
    let log = loop_handle.join().unwrap();
    let status =
        status.unwrap_or_else(|| panic!("E86: still running 15 s after SIGTERM\n{}", edge.logs()));
    assert_eq!(status.code(), Some(0), "E86: exit status\n{}", edge.logs());
    for (since, outcome) in &log {
        match (since, outcome) {
            (_, Ok(200)) => {}
            (None, o) => panic!("E86: request before SIGTERM failed: {o:?}"),
            (Some(s), o) if *s < Duration::from_millis(1600) => {
                panic!("E86: request {s:?} after SIGTERM (in the drain delay) failed: {o:?}")
            }
            (Some(s), Err(e)) if e.starts_with("PARTIAL") => {
                panic!("E86: answer cut short {s:?} after SIGTERM: {e}")
            }
            (Some(_), Ok(code)) => panic!("E86: status {code} during shutdown"),
            (Some(_), Err(_)) => {} // not accepted any more: refused or closed unanswered
        }
    }
    assert!(
        log.iter()
            .any(|(s, o)| s.is_some_and(|s| s < Duration::from_millis(1600)) && *o == Ok(200)),
        "E86: no request answered during the drain delay: {log:?}"
    );
}

/// E86: a second signal exits at once with status 1.
#[test]
fn e86_second_signal_exits_one() {
    let edge = Fixture::new()
        .config("shutdown", "drain_delay", "\"10s\"")
        .start();
    edge.signal(libc::SIGTERM);
    thread::sleep(Duration::from_millis(300));
    assert!(
        edge.wait_exit(Duration::ZERO).is_none(),
        "E86: exited before the drain delay"
    );
    edge.signal(libc::SIGINT);
    let status = edge.wait_exit(Duration::from_secs(3));
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(1),
        "E86: second signal → exit 1"
    );
}

/// E87 fix: SIGHUP keeps the edge alive, re-reads the GeoIP file and polls the snapshot file.
#[test]
fn e87_fix_sighup_rereads_geoip_and_polls() {
    let edge = Fixture::new()
        .config("snapshot", "poll_interval", "\"1h\"")
        .start();
    let country = |e: &Edge| e.explain_as(SE_CLIENT, F40)["location"]["country"].clone();
    assert_eq!(country(&edge), "SE");
    let geoip = edge.files.geoip.clone().expect("GeoIP file");
    let records: Vec<(String, Value)> = STANDARD_GEOIP
        .iter()
        .map(|(net, cc)| {
            let cc = if *net == "192.0.2.0/24" { "NO" } else { cc };
            (net.to_string(), country_record(cc))
        })
        .collect();
    write_atomically(&geoip, &geoip_database("GeoLite2-Country", &records));
    edge.signal(libc::SIGHUP);
    assert!(
        wait_until(Duration::from_secs(5), || country(&edge) == "NO"),
        "E87: GeoIP not re-read at SIGHUP (country {})\n{}",
        country(&edge),
        edge.logs()
    );
    assert!(
        edge.wait_exit(Duration::ZERO).is_none(),
        "E87: SIGHUP killed the edge"
    );
    assert_eq!(edge.get("/healthz").status, 200);
    // The snapshot file is polled at once.
    write_atomically(
        &edge.files.snapshot,
        &Fixture::new().version(1205).snapshot_bytes(),
    );
    thread::sleep(Duration::from_millis(300));
    edge.signal(libc::SIGHUP);
    assert!(
        wait_until(Duration::from_secs(5), || served_version(&edge.get(F40))
            == Some(1205)),
        "E87: the snapshot source not polled at SIGHUP\n{}",
        edge.logs()
    );
    assert!(edge.wait_exit(Duration::ZERO).is_none(), "E87: alive");
}

// ---------------------------------------------------------------------------------------------
// E88 start-up
// ---------------------------------------------------------------------------------------------

/// E88 fix: `--listen ::1` takes the default port 8081.
#[test]
fn e88_fix_listen_bare_ipv6_uses_port_8081() {
    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join("snapshot.bin");
    fs::write(&snap, Fixture::new().snapshot_bytes()).unwrap();
    let snap_s = snap.display().to_string();
    let mut cmd = binary_command("mirrorfleet-edge", dir.path());
    cmd.args(["--check-config", "--snapshot", &snap_s, "--listen", "::1"]);
    let out = run_with_timeout(&mut cmd, Duration::from_secs(20));
    assert!(out.success(), "E88: --listen ::1 refused\n{out}");
    assert!(!out.stderr.contains("panicked"), "E88: panic\n{out}");
    if TcpListener::bind("[::1]:0").is_err() {
        let msg = "E88: IPv6 loopback (::1) is not available on this machine";
        assert!(!is_ci(), "{msg}; under CI=true this is a failure");
        loud(&format!("SKIP (listening part) {msg}"));
        return;
    }
    if let Err(e) = TcpListener::bind("[::1]:8081") {
        let msg = format!("E88: [::1]:8081 is in use ({e}); cannot check the default port");
        assert!(!is_ci(), "{msg}; under CI=true this is a failure");
        loud(&format!("SKIP (listening part) {msg}"));
        return;
    }
    let addr: SocketAddr = "[::1]:8081".parse().unwrap();
    let edge = RawEdge::spawn(&["--snapshot", &snap_s, "--listen", "::1"], None, None);
    let mut ok = false;
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if edge.try_status().is_some() {
            break;
        }
        if let Ok(r) = mirrorfleet_tests::fixture_extra::request(
            addr,
            "GET",
            "/snapshot",
            &[],
            Duration::from_secs(2),
        ) && r.status == 200
        {
            let j = json_of(&r);
            assert!(
                j["edge_id"]
                    .as_str()
                    .is_some_and(|id| id.ends_with("-8081")),
                "E88/§16: default edge_id from port 8081: {}",
                j["edge_id"]
            );
            ok = true;
            break;
        }
        thread::sleep(Duration::from_millis(100));
    }
    assert!(
        ok,
        "E88: nothing answers on [::1]:8081 ({:?})\n{}",
        edge.try_status(),
        edge.logs()
    );
}

/// E88 fix: a snapshot whose prefix→ASN entry has host bits set is rejected at start without a
/// crash: the edge runs, answers 503, names the problem, counts it, and loads a good file later.
#[test]
fn e88_fix_asn_prefix_with_host_bits_rejected_without_crash() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crafted.bin");
    let good = Fixture::new().snapshot_bytes();
    let bad = asn_prefix_with_host_bits(&good);
    match mirrorfleet_snapshot::Snapshot::from_bytes(bad.clone()) {
        Err(mirrorfleet_snapshot::SnapshotError::Validation(msg)) => {
            assert!(
                msg.contains("192.0.2.7"),
                "E88: the message names the entry: {msg}"
            )
        }
        other => panic!("E88: validator: {:?}", other.map(|_| "accepted")),
    }
    fs::write(&path, &bad).unwrap();
    let edge = quick_poll()
        .snapshot_mode(SnapshotMode::Custom)
        .config("snapshot", "file", &toml_path(&path))
        .start();
    assert!(
        wait_until(Duration::from_secs(10), || {
            m(
                &edge,
                "snapshot_rejected_total",
                &[("reason", "validation")],
            ) >= 1.0
        }),
        "E88: rejection not counted\n{}",
        edge.logs()
    );
    assert!(
        edge.wait_exit(Duration::ZERO).is_none(),
        "E88: crashed\n{}",
        edge.logs()
    );
    assert_eq!(edge.get("/healthz").status, 200);
    let r = edge.get("/readyz");
    assert_eq!(r.status, 503);
    assert!(
        r.text()
            .starts_with("not ready: no snapshot loaded (last error: ")
            && !r.text().contains("(last error: none)"),
        "E76: names the problem: {}",
        r.text()
    );
    assert_eq!(edge.get_as(SE_CLIENT, F40_ML).status, 503, "E9");
    assert!(
        !edge.logs().contains("panicked"),
        "E88: panic\n{}",
        edge.logs()
    );
    write_atomically(&path, &good);
    assert!(
        wait_until(Duration::from_secs(10), || edge.get("/readyz").status
            == 200),
        "E79: the good file is loaded\n{}",
        edge.logs()
    );
}

/// E88: start-up errors exit with status 2 and a message naming the key; never a panic.
#[test]
fn e88_startup_errors_exit_2_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join("missing.bin").display().to_string();
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_addr = busy.local_addr().unwrap().to_string();
    let cases: Vec<(&str, Option<&str>, Vec<String>, &str)> = vec![
        (
            "unknown key",
            Some("[server]\nbogus_key = 1\n"),
            vec![],
            "bogus_key",
        ),
        (
            "bad edge_id",
            Some("edge_id = \"a b\"\n"),
            vec![],
            "edge_id",
        ),
        (
            "bad listen",
            None,
            vec!["--listen".into(), "999.1.1.1".into()],
            "listen",
        ),
        (
            "bad listen in file",
            Some("[server]\nlisten = [\"nonsense\"]\n"),
            vec![],
            "listen",
        ),
        (
            "listen in use",
            None,
            vec!["--listen".into(), busy_addr.clone()],
            "listen",
        ),
        (
            "unreadable GeoIP",
            None,
            vec!["--geoip".into(), "/nonexistent/geo.mmdb".into()],
            "geoip",
        ),
        (
            "bad duration",
            Some("[limits]\nheader_read_timeout = \"soon\"\n"),
            vec![],
            "header_read_timeout",
        ),
    ];
    for (what, config, args, key) in cases {
        let mut cmd = binary_command("mirrorfleet-edge", dir.path());
        if let Some(text) = config {
            let p = dir.path().join("edge.toml");
            fs::write(&p, text).unwrap();
            cmd.arg("--config").arg(&p);
        }
        cmd.args(["--snapshot", &snap]).args(&args);
        let out = run_with_timeout(&mut cmd, Duration::from_secs(20));
        assert_eq!(
            out.status.and_then(|s| s.code()),
            Some(2),
            "E88: {what}: exit status\n{out}"
        );
        assert!(
            out.stderr.contains(key),
            "E88: {what}: the message names `{key}`\n{out}"
        );
        assert!(
            !out.stderr.contains("panicked"),
            "E88: {what}: panic\n{out}"
        );
        if what != "bad listen" {
            // (A command-line syntax error is reported by the argument parser with a hint.)
            let lines = out.stderr.lines().filter(|l| !l.trim().is_empty()).count();
            assert_eq!(lines, 1, "E88: {what}: one message\n{out}");
        }
    }
    drop(busy);
}
