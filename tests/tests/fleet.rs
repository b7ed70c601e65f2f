//! The fleet end to end: a real control plane (`mirrorfleet serve` on SQLite) publishing to a
//! store, and store-mode edges following it (edge-protocol.md E79; control-plane.md §7.8).
//!
//! - A host disabled through the control plane disappears from both edges' answers within
//!   5 s; the propagation delay over 20 changes is measured and printed (run with
//!   `--no-capture` to see it), on a `file://` store and on a real S3 server (moto).
//! - Real dnf: a new repomd.xml on the master tree reaches the metalink once `mirrorfleet scan`
//!   has recorded it (the old one stays as an alternate), and dnf accepts the mirror serving it
//!   only from then on.
//! - Swap under load: requests while 50 snapshots are published back to back.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use mirrorfleet_tests::control::{ControlPlane, store_edge};
use mirrorfleet_tests::fixture::{Edge, Fixture, example_inventory};
use mirrorfleet_tests::moto::{ACCESS_KEY_ID, SECRET_ACCESS_KEY, moto};
use mirrorfleet_tests::repo::{TOPDIR, add_to_fedora_40_tree, fedora_40_inventory};
use mirrorfleet_tests::store::FileStore;
use mirrorfleet_tests::{
    DnfRoot, HELLO_NAME, Listening, StaticServer, build_rpm, build_rpm_with, require_tools,
};
use serde_json::json;

const SITE_HOST: &str = "Example University/mirror.example.edu";
const HOST: &str = "mirror.example.edu";
const F40: &str = "/mirrorlist?repo=fedora-40&arch=x86_64";
/// The bound: both edges reflect a change within 5 s.
const PROPAGATION_LIMIT: Duration = Duration::from_secs(5);
const READY: Duration = Duration::from_secs(30);

fn wait_ready(edge: &Edge) {
    edge.wait_for("/readyz", READY)
        .unwrap_or_else(|e| panic!("edge not ready: {e}\n{}", edge.logs()));
}

fn lists_host(edge: &Edge) -> bool {
    let r = edge.get(F40);
    assert_eq!(r.status, 200, "{}", r.text());
    r.text().contains(HOST)
}

/// Percentile `p` (0–100) of sorted durations.
fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

/// 20 alternating `host disable` / `host enable` commands; for each, the time from the
/// command's exit to both edges answering accordingly. Asserts every delay ≤ 5 s.
fn measure_propagation(label: &str, cp: &ControlPlane, edges: &[Edge]) -> Vec<Duration> {
    for e in edges {
        wait_ready(e);
        assert!(lists_host(e), "{HOST} not listed at start");
    }
    let mut delays = Vec::new();
    for i in 0..20 {
        let disable = i % 2 == 0;
        // Changes otherwise start right after an edge poll saw the previous one, in step with
        // the poll clock: spread them over the poll interval.
        thread::sleep(Duration::from_millis((i * 379 % 1000) as u64));
        if disable {
            cp.cli(&["host", "disable", SITE_HOST, "--reason", "fleet test"]);
        } else {
            cp.cli(&["host", "enable", SITE_HOST]);
        }
        let t0 = Instant::now();
        let mut pending: Vec<&Edge> = edges.iter().collect();
        while !pending.is_empty() {
            pending.retain(|e| lists_host(e) == disable);
            assert!(
                t0.elapsed() <= PROPAGATION_LIMIT || pending.is_empty(),
                "{label}: change {i} ({}) not on every edge after {PROPAGATION_LIMIT:?}\n{}",
                if disable { "disable" } else { "enable" },
                pending[0].logs()
            );
            thread::sleep(Duration::from_millis(10));
        }
        delays.push(t0.elapsed());
    }
    let mut sorted = delays.clone();
    sorted.sort();
    eprintln!(
        "propagation ({label}, 2 edges, poll 1s, debounce 1s, min_gap 1s): p50 {} ms, max {} ms; \
         all (ms): {:?}",
        percentile(&sorted, 50).as_millis(),
        sorted.last().unwrap().as_millis(),
        delays.iter().map(|d| d.as_millis()).collect::<Vec<_>>()
    );
    delays
}

/// Control plane settings of the fleet tests: publishing 1 s after a change (debounce,
/// the default) and at most once a second (`min_gap`, 5 s by default, would make 20 changes in
/// a row wait for it instead of measuring the path).
const CP_SETTINGS: &[(&str, &str)] = &[
    ("MIRRORFLEET__PUBLISH__MIN_GAP", "1s"),
    // Disabling one of the example's two public hosts halves `public_hosts`: above the
    // default guard rail (0.25), which would (rightly) hold the publish for an operator.
    ("MIRRORFLEET__PUBLISH__MAX_DROP", "0.6"),
];

#[test]
fn a_disabled_host_leaves_both_edges_within_5s_file_store() {
    let tmp = tempfile::tempdir().unwrap();
    let store_url = format!("file://{}", tmp.path().join("store").display());
    let cp = ControlPlane::init(&store_url, CP_SETTINGS);
    cp.import(&example_inventory());
    let serve = cp.serve();
    let edges: Vec<Edge> = (0..2)
        .map(|i| store_edge(&store_url, &tmp.path().join(format!("cache{i}")), "1s", &[]))
        .collect();
    measure_propagation("file store", &cp, &edges);
    // The edges reported what they serve, and the control plane read it.
    let store = FileStore::new(&tmp.path().join("store"));
    let r = store.wait_report("fixture-edge", READY, |r| r.snapshot_version.is_some());
    assert!(r.last_error.is_none(), "{r:?}");
    drop(serve);
}

#[test]
fn a_disabled_host_leaves_both_edges_within_5s_s3_store() {
    let Some(moto) = moto() else { return };
    moto.create_bucket("fleet");
    let endpoint = moto.endpoint();
    let store_url = "s3://fleet/prod";
    let mut cp_env: Vec<(&str, &str)> = CP_SETTINGS.to_vec();
    cp_env.extend([
        ("MIRRORFLEET__STORE__S3__ENDPOINT", endpoint.as_str()),
        ("MIRRORFLEET__STORE__S3__ALLOW_HTTP", "true"),
        ("MIRRORFLEET__STORE__S3__ACCESS_KEY_ID", ACCESS_KEY_ID),
        (
            "MIRRORFLEET__STORE__S3__SECRET_ACCESS_KEY",
            SECRET_ACCESS_KEY,
        ),
    ]);
    let edge_env = [
        ("MIRRORFLEET_EDGE__STORE__S3__ENDPOINT", endpoint.as_str()),
        ("MIRRORFLEET_EDGE__STORE__S3__ALLOW_HTTP", "true"),
        ("MIRRORFLEET_EDGE__STORE__S3__ACCESS_KEY_ID", ACCESS_KEY_ID),
        (
            "MIRRORFLEET_EDGE__STORE__S3__SECRET_ACCESS_KEY",
            SECRET_ACCESS_KEY,
        ),
    ];
    let tmp = tempfile::tempdir().unwrap();
    let cp = ControlPlane::init(store_url, &cp_env);
    cp.import(&example_inventory());
    let serve = cp.serve();
    let edges: Vec<Edge> = (0..2)
        .map(|i| {
            store_edge(
                store_url,
                &tmp.path().join(format!("cache{i}")),
                "1s",
                &edge_env,
            )
        })
        .collect();
    measure_propagation("S3 store (moto)", &cp, &edges);
    for e in &edges {
        let s: serde_json::Value = serde_json::from_slice(&e.get("/snapshot").body).unwrap();
        assert_eq!(s["writes"], "enabled", "{s}");
    }
    drop(serve);
}

// ---------------------------------------------------------------------------------------------
// Real dnf
// ---------------------------------------------------------------------------------------------

const OLD_REVISION: u64 = 1_713_100_000;
const NEW_REVISION: u64 = 1_713_185_000;

/// One mirror, up to date, and the repository's repomd.xml history `repomd`.
fn dnf_inventory(
    mirror: &StaticServer,
    repomd: &[&mirrorfleet_tests::RepomdDetails],
) -> serde_json::Value {
    let site = json!({
        "name": "Mirror A",
        "hosts": [ {
            "name": "a.mirror.test", "country": "SE", "bandwidth": 1000,
            "categories": { "Fedora Linux": {
                "urls": [format!("{}/{TOPDIR}", mirror.url())], "up2date": ["**"],
            } }
        } ]
    });
    fedora_40_inventory(repomd, vec![site])
}

#[test]
fn dnf_sees_the_new_repomd_hashes_after_the_control_plane_has_them() {
    if !require_tools(&["dnf", "createrepo_c", "rpmbuild", "rpm"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let rpms = tmp.path().join("rpms");
    let hello_09 = build_rpm_with(&rpms, HELLO_NAME, "0.9", "1");
    let hello_10 = build_rpm(&rpms);
    let root = tmp.path().join("mirror");
    let old = add_to_fedora_40_tree(&root, &hello_09, OLD_REVISION);
    let mirror = StaticServer::start(&root).unwrap();

    let store_url = format!("file://{}", tmp.path().join("store").display());
    // The master tree is the mirror's tree; only `mirrorfleet scan` reads it here (no scheduled
    // scan inside serve), so the test decides when the control plane learns of a change.
    let master = format!(
        "[{{ category = \"Fedora Linux\", path = {:?} }}]",
        root.join(TOPDIR).display().to_string()
    );
    let mut env: Vec<(&str, &str)> = CP_SETTINGS.to_vec();
    env.extend([
        ("MIRRORFLEET__SCANNER__MASTER", master.as_str()),
        ("MIRRORFLEET__SCANNER__ENABLED", "false"),
    ]);
    let cp = ControlPlane::init(&store_url, &env);
    // Sites, hosts and the repository from the inventory; the repomd.xml from the scan.
    cp.import(&dnf_inventory(&mirror, &[]));
    let scanned = cp.cli(&["scan"]);
    assert!(
        scanned.stdout.contains("file details: 1 added"),
        "{}",
        scanned.stdout
    );
    let _serve = cp.serve();
    let edge = store_edge(&store_url, &tmp.path().join("cache"), "1s", &[]);
    wait_ready(&edge);
    let metalink = format!("{}/metalink?repo=fedora-40&arch=x86_64", edge.url());
    let dnf = DnfRoot::new();
    dnf.set_repo("fedora", &format!("metalink={metalink}"));
    let out = dnf.run(&["install", HELLO_NAME]);
    assert!(out.success(), "{out}\n{}", edge.logs());
    assert_eq!(
        dnf.installed(HELLO_NAME).as_deref(),
        Some("mirrorfleet-hello-0.9-1.noarch")
    );

    // The master tree moves on: 1.0 published, repodata rebuilt (what the mirror now serves).
    let new = add_to_fedora_40_tree(&root, &hello_10, NEW_REVISION);
    assert_ne!(new.sha256, old.sha256);
    // Until the control plane knows the new repomd.xml, dnf refuses the mirror serving it.
    dnf.clear_cache();
    let refused = dnf.run(&["makecache"]);
    assert!(
        !refused.success(),
        "dnf accepted a repomd.xml the metalink does not list:\n{refused}"
    );

    // The scan records the new repomd.xml (history: new, then old); serve publishes it, the
    // edge follows.
    let scanned = cp.cli(&["scan"]);
    assert!(
        scanned.stdout.contains("file details: 1 added"),
        "{}",
        scanned.stdout
    );
    let t0 = Instant::now();
    loop {
        let body = edge.get("/metalink?repo=fedora-40&arch=x86_64").text();
        if body.contains(&new.sha256) {
            assert!(
                body.contains(&old.sha256),
                "the old hash is an alternate:\n{body}"
            );
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(15),
            "the metalink lacks the new hash after 15 s:\n{body}\n{}",
            edge.logs()
        );
        thread::sleep(Duration::from_millis(50));
    }
    eprintln!(
        "new repomd.xml: scan → metalink in {} ms",
        t0.elapsed().as_millis()
    );
    dnf.clear_cache();
    let out = dnf.run(&["upgrade", HELLO_NAME]);
    assert!(out.success(), "{out}\n{}", edge.logs());
    assert_eq!(
        dnf.installed(HELLO_NAME).as_deref(),
        Some("mirrorfleet-hello-1.0-1.noarch")
    );
}

// ---------------------------------------------------------------------------------------------
// Swap under load
// ---------------------------------------------------------------------------------------------

fn proc_status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| {
            l.strip_prefix(field)?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

fn live_mappings(pid: u32) -> usize {
    std::fs::read_to_string(format!("/proc/{pid}/maps"))
        .unwrap()
        .lines()
        .filter(|l| l.contains(".mfs"))
        .filter_map(|l| l.split_whitespace().nth(5))
        .collect::<BTreeSet<_>>()
        .len()
}

#[test]
fn fifty_swaps_under_load_lose_no_request() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = FileStore::new(&tmp.path().join("store"));
    let id = mirrorfleet_snapshot::read::uuid_text(
        &mirrorfleet_control::snapshot_cmd::inventory_installation_id(),
    );
    // Every version built before the clock starts: publishing is then back to back.
    let first = 1000u64;
    let snapshots: Vec<(u64, Vec<u8>)> = (first..first + 51)
        .map(|v| (v, Fixture::new().version(v).snapshot_bytes()))
        .collect();
    store.publish(&snapshots[0].1, first, &id);
    let edge = store_edge(&store.url(), &tmp.path().join("cache"), "50ms", &[]);
    wait_ready(&edge);
    // Warm up, then the resident set before.
    for _ in 0..200 {
        assert_eq!(edge.get("/metalink?repo=fedora-40&arch=x86_64").status, 200);
    }
    let pid = edge.pid();
    let rss_before = proc_status_kib(pid, "VmRSS:");

    let published: Arc<Mutex<BTreeSet<u64>>> = Arc::new(Mutex::new(BTreeSet::from([first])));
    let done = Arc::new(AtomicBool::new(false));
    let requests = Arc::new(AtomicU64::new(0));
    let seen: Arc<Mutex<BTreeSet<u64>>> = Arc::new(Mutex::new(BTreeSet::new()));
    let failures: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let addr = edge.addr();
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let (published, done, requests, seen, failures) = (
                published.clone(),
                done.clone(),
                requests.clone(),
                seen.clone(),
                failures.clone(),
            );
            thread::spawn(move || {
                let targets = [
                    "/metalink?repo=fedora-40&arch=x86_64",
                    "/mirrorlist?repo=fedora-40&arch=x86_64",
                ];
                let mut n = 0usize;
                // Bounded: until publishing is over, and at most 5,000 requests per worker.
                while !done.load(Ordering::Relaxed) && n < 5_000 {
                    let target = targets[(n + w) % 2];
                    n += 1;
                    // The versions published before the request was sent.
                    let known = published.lock().unwrap().clone();
                    let r = match mirrorfleet_tests::http_get(addr, target, Duration::from_secs(10)) {
                        Ok(r) => r,
                        Err(e) => {
                            failures.lock().unwrap().push(format!("{target}: {e}"));
                            continue;
                        }
                    };
                    requests.fetch_add(1, Ordering::Relaxed);
                    let version: Option<u64> = r
                        .header("x-mirrorlist-snapshot")
                        .and_then(|v| v.parse().ok());
                    let body = r.text();
                    let well_formed = if target.starts_with("/metalink") {
                        roxmltree::Document::parse(&body)
                            .is_ok_and(|d| d.root_element().tag_name().name() == "metalink")
                    } else {
                        body.starts_with("# repo = fedora-40 arch = x86_64")
                            && body.lines().filter(|l| l.starts_with("http")).count() > 0
                    };
                    let now_known = published.lock().unwrap().clone();
                    let version_ok = version.is_some_and(|v| known.contains(&v) || now_known.contains(&v));
                    if r.status != 200 || !well_formed || !version_ok {
                        failures.lock().unwrap().push(format!(
                            "{target}: status {}, version {version:?}, well-formed {well_formed}\n{body}",
                            r.status
                        ));
                    }
                    if let Some(v) = version {
                        seen.lock().unwrap().insert(v);
                    }
                }
            })
        })
        .collect();

    // 50 publishes back to back, each after the edge has had one poll to notice.
    let started = Instant::now();
    for (v, bytes) in &snapshots[1..] {
        published.lock().unwrap().insert(*v);
        store.publish(bytes, *v, &id);
        thread::sleep(Duration::from_millis(60));
    }
    let last = first + 50;
    let deadline = Instant::now() + Duration::from_secs(10);
    while edge
        .get("/snapshot")
        .text()
        .find(&format!("\"version\": {last}"))
        .is_none()
    {
        assert!(Instant::now() < deadline, "{}", edge.logs());
        thread::sleep(Duration::from_millis(20));
    }
    done.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    let elapsed = started.elapsed();
    let failures = failures.lock().unwrap();
    assert!(
        failures.is_empty(),
        "{} failed or malformed responses, first: {}",
        failures.len(),
        failures[0]
    );
    let n = requests.load(Ordering::Relaxed);
    let seen = seen.lock().unwrap().clone();
    assert!(n >= 1_000, "only {n} requests during the swaps");
    assert!(
        seen.len() >= 10,
        "answers came from only {} versions",
        seen.len()
    );

    // Back to rest: one live mapping, and the resident set near where it was.
    let deadline = Instant::now() + Duration::from_secs(10);
    while live_mappings(pid) != 1 {
        assert!(
            Instant::now() < deadline,
            "{} snapshot mappings still live",
            live_mappings(pid)
        );
        thread::sleep(Duration::from_millis(20));
    }
    let rss_after = proc_status_kib(pid, "VmRSS:");
    eprintln!(
        "swap under load: {n} requests in {:.1} s over 51 versions ({} seen in answers), 0 \
         failed; RSS {rss_before} KiB before, {rss_after} KiB after; 1 live mapping",
        elapsed.as_secs_f64(),
        seen.len()
    );
    assert!(
        rss_after <= rss_before + 32 * 1024,
        "RSS grew from {rss_before} KiB to {rss_after} KiB"
    );
    let rejected = edge
        .metrics()
        .lines()
        .filter(|l| l.starts_with("mirrorfleet_edge_snapshot_loads_total{result=\"rejected\"}"))
        .map(|l| l.ends_with(" 0"))
        .collect::<Vec<_>>();
    assert_eq!(rejected, [true], "no load was rejected");
}
