//! The real dnf against mirrorfleet: three mirrors served from 127.0.0.1, one of them stale, an
//! inventory naming all of them, `mirrorfleet snapshot build`, `mirrorfleet-edge --snapshot`, and
//! `dnf makecache` / `dnf install` in an isolated installroot through `/metalink` and
//! `/mirrorlist`.
//!
//! Fixture (one temp dir per test):
//! - master tree `pub/fedora/linux/releases/40/Everything/x86_64/os/` with
//!   `mirrorfleet-hello-1.0-1.noarch.rpm` and repodata from `createrepo_c` (revision and
//!   timestamps [`CURRENT_REVISION`]); copied to two up-to-date mirrors;
//! - a stale mirror: the same path, but the tree as it was before 1.0 was published: only
//!   `mirrorfleet-hello-0.9-1.noarch.rpm`, repodata with the older [`STALE_REVISION`]. Its
//!   repomd.xml therefore differs from (and is older than) the current one, and metadata taken
//!   from it would install 0.9 (or find no 1.0 at all). The inventory's `repomd` history has only
//!   the current repomd.xml, and the stale host is still marked up to date (`**`): what keeps
//!   dnf away from it is the hash in the metalink.
//!
//! Requires `dnf`, `createrepo_c`, `rpmbuild` and `rpm` (Debian: `apt-get install dnf
//! createrepo-c rpm`): a missing one fails the test under `CI=true`, and skips it loudly
//! otherwise. Every wait is bounded (dnf [`DNF_TIMEOUT`], edge readiness, HTTP timeouts).

use std::fs;
use std::path::Path;
use std::thread;
use std::time::Duration;

use mirrorfleet_tests::repo::{REPO_SUBDIR, TOPDIR, fedora_40_inventory};
use mirrorfleet_tests::{
    DNF_TIMEOUT, DnfRoot, EdgeProcess, HELLO_NAME, Listening, RepomdDetails, StaticServer,
    build_rpm, build_rpm_with, build_snapshot, copy_tree, make_repo_with, repomd_details,
    repomd_locations, require_tools,
};
use serde_json::json;

/// createrepo_c `--revision` (and every `<timestamp>`) of the current and of the stale repodata.
const CURRENT_REVISION: u64 = 1_713_185_000;
const STALE_REVISION: u64 = 1_713_100_000;

const TOOLS: &[&str] = &["dnf", "createrepo_c", "rpmbuild", "rpm"];
const INSTALLED_1_0: &str = "mirrorfleet-hello-1.0-1.noarch";

fn repo_dir() -> String {
    format!("{TOPDIR}/{REPO_SUBDIR}")
}

/// URL path of a file in the repository, as the mirrors see it.
fn repo_path(rel: &str) -> String {
    format!("/{}/{rel}", repo_dir())
}

struct Mirrors {
    _tmp: tempfile::TempDir,
    good: Vec<StaticServer>,
    stale: StaticServer,
    /// The current repomd.xml (same bytes on both good mirrors).
    current: RepomdDetails,
    /// Metadata files named by the current repomd.xml (`repodata/<hash>-primary.xml.gz`, …).
    current_locations: Vec<String>,
    /// Metadata files named by the stale mirror's own, older repomd.xml.
    stale_locations: Vec<String>,
}

impl Mirrors {
    fn all_requests(&self) -> String {
        let mut s = String::new();
        for (name, srv) in [
            ("good-a", &self.good[0]),
            ("good-b", &self.good[1]),
            ("stale", &self.stale),
        ] {
            s.push_str(&format!("{name} ({}):\n", srv.url()));
            for r in srv.requests() {
                s.push_str(&format!("  {} {} -> {}\n", r.method, r.path, r.status));
            }
        }
        s
    }

    fn clear_requests(&self) {
        for s in self.good.iter().chain([&self.stale]) {
            s.clear_requests();
        }
    }
}

/// Builds the master tree, two up-to-date mirrors and one stale mirror, and serves the three.
fn make_mirrors() -> Mirrors {
    let tmp = tempfile::tempdir().unwrap();
    let rpms = tmp.path().join("rpms");
    let hello_10 = build_rpm(&rpms);
    let hello_09 = build_rpm_with(&rpms, HELLO_NAME, "0.9", "1");

    // The stale mirror first: the tree as it was when 0.9 was current.
    let stale_root = tmp.path().join("mirror-stale");
    let stale_os = stale_root.join(repo_dir());
    fs::create_dir_all(&stale_os).unwrap();
    fs::copy(&hello_09, stale_os.join(hello_09.file_name().unwrap())).unwrap();
    let stale_repomd = make_repo_with(&stale_os, Some(STALE_REVISION));

    // The master tree now: 1.0 published, repodata rebuilt later.
    let master = tmp.path().join("master");
    let os = master.join(repo_dir());
    fs::create_dir_all(&os).unwrap();
    fs::copy(&hello_10, os.join(hello_10.file_name().unwrap())).unwrap();
    let repomd = make_repo_with(&os, Some(CURRENT_REVISION));
    let current = repomd_details(&repomd);
    let stale_details = repomd_details(&stale_repomd);
    assert_ne!(
        current.sha256, stale_details.sha256,
        "stale repomd.xml must differ"
    );
    assert!(
        stale_details.timestamp < current.timestamp,
        "stale repomd.xml must be older"
    );
    assert_eq!(current.timestamp, CURRENT_REVISION as i64);

    let mut good = Vec::new();
    for name in ["mirror-a", "mirror-b"] {
        let root = tmp.path().join(name);
        copy_tree(&master, &root);
        good.push(StaticServer::start(&root).unwrap());
    }
    let stale = StaticServer::start(&stale_root).unwrap();
    Mirrors {
        current_locations: repomd_locations(&repomd),
        stale_locations: repomd_locations(&stale_repomd),
        current,
        good,
        stale,
        _tmp: tmp,
    }
}

/// One host of the inventory.
struct Host<'a> {
    site: &'a str,
    name: &'a str,
    country: &'a str,
    bandwidth: u32,
    netblocks: Vec<&'a str>,
    server: &'a StaticServer,
    up2date: Vec<&'a str>,
}

/// An inventory (data-model.md §11, shaped like the §11.2 example): category "Fedora Linux" at
/// `pub/fedora/linux`, repository `fedora-40`/x86_64 whose `repomd` history is only the current
/// repomd.xml (timestamp, size, sha256), one site per host.
fn inventory(current: &RepomdDetails, hosts: &[Host]) -> serde_json::Value {
    let sites: Vec<_> = hosts
        .iter()
        .map(|h| {
            json!({
                "name": h.site,
                "hosts": [{
                    "name": h.name,
                    "country": h.country,
                    "bandwidth": h.bandwidth,
                    "netblocks": h.netblocks,
                    "categories": {
                        "Fedora Linux": {
                            "urls": [format!("{}/{TOPDIR}", h.server.url())],
                            "up2date": h.up2date,
                        }
                    }
                }]
            })
        })
        .collect();
    fedora_40_inventory(&[current], sites)
}

/// The three mirrors, one site each: A (SE) and B (US) with bandwidth `good_bandwidth`, up to
/// date everywhere, and the stale C (DE, bandwidth 10000, netblock 127.0.0.0/8, which holds the
/// client) marked up to date for `stale_up2date`.
fn three_hosts<'a>(m: &'a Mirrors, good_bandwidth: u32, stale_up2date: &'a str) -> Vec<Host<'a>> {
    vec![
        Host {
            site: "Mirror A",
            name: "a.mirror.test",
            country: "SE",
            bandwidth: good_bandwidth,
            netblocks: vec![],
            server: &m.good[0],
            up2date: vec!["**"],
        },
        Host {
            site: "Mirror B",
            name: "b.mirror.test",
            country: "US",
            bandwidth: good_bandwidth,
            netblocks: vec![],
            server: &m.good[1],
            up2date: vec!["**"],
        },
        Host {
            site: "Mirror C (stale)",
            name: "stale.mirror.test",
            country: "DE",
            bandwidth: 10000,
            netblocks: vec!["127.0.0.0/8"],
            server: &m.stale,
            up2date: vec![stale_up2date],
        },
    ]
}

/// The three mirrors, and an edge (working in the returned directory) on a snapshot of their
/// inventory ([`three_hosts`]).
fn mirrors_behind_edge(
    good_bandwidth: u32,
    stale_up2date: &str,
) -> (Mirrors, EdgeProcess, tempfile::TempDir) {
    let m = make_mirrors();
    let work = tempfile::tempdir().unwrap();
    let inv = inventory(&m.current, &three_hosts(&m, good_bandwidth, stale_up2date));
    let edge = start_edge(work.path(), &inv);
    (m, edge, work)
}

/// Writes the inventory, builds the snapshot and starts an edge on it.
fn start_edge(dir: &Path, inv: &serde_json::Value) -> EdgeProcess {
    let inv_path = dir.join("inventory.json");
    fs::write(&inv_path, serde_json::to_string_pretty(inv).unwrap()).unwrap();
    let snap = dir.join("snapshot.mfs");
    let built = build_snapshot(&inv_path, &snap, &[]);
    if !built.stderr.trim().is_empty() {
        eprintln!("snapshot build said:\n{}", built.stderr);
    }
    EdgeProcess::start(&snap)
}

/// GET `target` from the edge; asserts 200 and returns the body.
fn edge_text(edge: &EdgeProcess, target: &str) -> String {
    let r = edge.get(target);
    let body = r.text();
    assert_eq!(r.status, 200, "{body}\n{}", edge.logs());
    body
}

/// `dnf ARGS…`, which must succeed (a failure shows the mirrors' requests and, when given, the
/// edge's logs).
#[track_caller]
fn dnf_ok(dnf: &DnfRoot, args: &[&str], what: &str, m: &Mirrors, edge: Option<&EdgeProcess>) {
    let out = dnf.run(args);
    let extra = edge.map(|e| e.logs()).unwrap_or_default();
    assert!(
        out.success(),
        "{what} failed (timeout {DNF_TIMEOUT:?}):\n{out}\n\nmirror requests:\n{}\n{extra}",
        m.all_requests()
    );
}

/// `dnf install mirrorfleet-hello`, which must succeed and install 1.0.
#[track_caller]
fn install_hello(dnf: &DnfRoot, what: &str, m: &Mirrors, edge: Option<&EdgeProcess>) {
    dnf_ok(dnf, &["install", HELLO_NAME], what, m, edge);
    assert_hello_10_installed(dnf, m);
}

#[track_caller]
fn assert_hello_10_installed(dnf: &DnfRoot, m: &Mirrors) {
    let installed = dnf.installed(HELLO_NAME);
    assert_eq!(
        installed.as_deref(),
        Some(INSTALLED_1_0),
        "wrong package in the installroot (0.9 means dnf used the stale mirror's metadata)\n{}",
        m.all_requests()
    );
    let f = dnf.root_file("usr/share/mirrorfleet-hello/hello.txt");
    assert_eq!(
        fs::read_to_string(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display())),
        "mirrorfleet-hello 1.0-1\n"
    );
}

/// The good mirrors handed out the current metadata and the 1.0 RPM between them.
#[track_caller]
fn assert_good_mirrors_used(m: &Mirrors) {
    let served: Vec<String> = m.good.iter().flat_map(|s| s.served_paths()).collect();
    let primary = m
        .current_locations
        .iter()
        .find(|l| l.ends_with("-primary.xml.gz") || l.contains("primary.xml"))
        .expect("current repomd.xml names a primary");
    for want in [
        repo_path("repodata/repomd.xml"),
        repo_path(primary),
        repo_path("mirrorfleet-hello-1.0-1.noarch.rpm"),
    ] {
        assert!(
            served.contains(&want),
            "no good mirror served {want}\n{}",
            m.all_requests()
        );
    }
}

/// Harness check, independent of mirrorfleet: dnf installs from a [`StaticServer`] with a plain
/// `baseurl`, in the isolated installroot.
#[test]
fn dnf_installs_from_static_mirror_with_baseurl() {
    if !require_tools(TOOLS) {
        return;
    }
    let m = make_mirrors();
    let dnf = DnfRoot::new();
    dnf.set_repo(
        "mf",
        &format!("baseurl={}/{}/", m.good[0].url(), repo_dir()),
    );

    dnf_ok(&dnf, &["makecache"], "dnf makecache", &m, None);
    install_hello(&dnf, "dnf install", &m, None);

    let served = m.good[0].served_paths();
    assert!(
        served.contains(&repo_path("repodata/repomd.xml")),
        "{served:?}"
    );
    assert!(
        served.contains(&repo_path("mirrorfleet-hello-1.0-1.noarch.rpm")),
        "{served:?}"
    );
    assert!(m.good[1].requests().is_empty() && m.stale.requests().is_empty());
}

/// The metalink path: all three mirrors up to date per the inventory, the stale one placed first
/// (its netblock 127.0.0.0/8 contains the client, so the edge's netblock tier puts it before the
/// global fallback, edge-protocol.md E42/E48; a much larger bandwidth also puts it first in a
/// weighted tier). dnf (librepo) fetches repomd.xml from it, finds that its SHA-256 is not the
/// metalink's, and moves to the next mirror: it must succeed, install 1.0, and never take
/// anything from the stale mirror but that rejected repomd.xml.
///
/// librepo keeps the stale mirror in its list after the rejection and may ask it for the current
/// metadata and the RPM; it does not have them (404), so requests are allowed there, successful
/// answers are not (other than repomd.xml), and its own, older metadata is never requested.
#[test]
fn dnf_metalink_through_edge_rejects_stale_mirror() {
    if !require_tools(TOOLS) {
        return;
    }
    let (m, edge, _work) = mirrors_behind_edge(1, "**");
    let metalink_target = "/metalink?repo=fedora-40&arch=x86_64";

    // What the edge tells dnf: the current repomd.xml's hash and all three mirrors.
    let body = edge_text(&edge, metalink_target);
    assert!(
        body.contains(&format!(
            "<hash type=\"sha256\">{}</hash>",
            m.current.sha256
        )),
        "metalink lacks the current sha256:\n{body}"
    );
    for srv in m.good.iter().chain([&m.stale]) {
        let url = format!("{}{}", srv.url(), repo_path("repodata/repomd.xml"));
        assert!(body.contains(&url), "metalink lacks {url}:\n{body}");
    }
    m.clear_requests();

    let dnf = DnfRoot::new();
    dnf.set_repo("mf", &format!("metalink={}{metalink_target}", edge.url()));

    // The order is random per client and second (edge-protocol.md §9); the stale mirror is first
    // by design here, but retry in a later second rather than pass without having exercised it.
    let stale_repomd = repo_path("repodata/repomd.xml");
    let mut tried_stale = false;
    for attempt in 1..=3 {
        dnf.clear_cache();
        dnf_ok(
            &dnf,
            &["makecache"],
            "dnf makecache (metalink)",
            &m,
            Some(&edge),
        );
        if m.stale.requested_paths().contains(&stale_repomd) {
            tried_stale = true;
            break;
        }
        eprintln!(
            "attempt {attempt}: dnf did not try the stale mirror first; metalink was:\n{}",
            edge.get(metalink_target).text()
        );
        thread::sleep(Duration::from_millis(1100));
    }
    assert!(
        tried_stale,
        "dnf never asked the stale mirror for repomd.xml, so the test proved nothing; the edge \
         should put it first (netblock tier)\nmetalink now:\n{}\n{}",
        edge.get(metalink_target).text(),
        m.all_requests()
    );

    install_hello(&dnf, "dnf install (metalink)", &m, Some(&edge));
    assert_good_mirrors_used(&m);

    // The stale mirror: nothing but the (rejected) repomd.xml was handed out; its own metadata and
    // packages were never even asked for.
    let stale_requests = m.stale.requests();
    let handed_out: Vec<_> = stale_requests
        .iter()
        .filter(|r| r.status == 200 && r.method == "GET" && r.path != stale_repomd)
        .collect();
    assert!(
        handed_out.is_empty(),
        "the stale mirror served more than repomd.xml: {handed_out:?}\n{}",
        m.all_requests()
    );
    let forbidden: Vec<String> = m
        .stale_locations
        .iter()
        .map(|l| repo_path(l))
        .chain([repo_path("mirrorfleet-hello-0.9-1.noarch.rpm")])
        .collect();
    let used_stale: Vec<_> = stale_requests
        .iter()
        .filter(|r| forbidden.contains(&r.path))
        .collect();
    assert!(
        used_stale.is_empty(),
        "dnf asked for the stale mirror's own metadata or package: {used_stale:?}\n{}",
        m.all_requests()
    );
    assert!(
        !m.stale.served_paths().iter().any(|p| p.ends_with(".rpm")),
        "the stale mirror served an RPM\n{}",
        m.all_requests()
    );
}

/// The mirrorlist path. A plain mirrorlist carries no hash: librepo takes the first mirror whose
/// repomd.xml downloads and uses it, so a stale mirror listed first WOULD be used (dnf then
/// installs 0.9). What protects mirrorlist users is the up-to-date state: here the stale host is
/// marked up to date only for the category's topdir (`"up2date": [""]`, as after a crawl that
/// found the repository behind), so the edge must leave it out of the list for the repository
/// directory (data-model.md §9, "carries"), and dnf must install 1.0 without ever contacting it.
#[test]
fn dnf_mirrorlist_through_edge() {
    if !require_tools(TOOLS) {
        return;
    }
    let (m, edge, _work) = mirrors_behind_edge(100, "");
    let target = "/mirrorlist?repo=fedora-40&arch=x86_64";

    let body = edge_text(&edge, target);
    let mut lines = body.lines();
    let header = lines.next().unwrap_or("");
    assert!(
        header.starts_with("# repo = fedora-40 arch = x86_64 "),
        "mirrorlist header: {header:?}\n{body}"
    );
    let mut urls: Vec<String> = lines
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(str::to_string)
        .collect();
    urls.sort();
    let mut want: Vec<String> = m
        .good
        .iter()
        .map(|s| format!("{}/{}/", s.url(), repo_dir()))
        .collect();
    want.sort();
    assert_eq!(
        urls, want,
        "mirrorlist must list exactly the two up-to-date mirrors:\n{body}"
    );
    m.clear_requests();

    let dnf = DnfRoot::new();
    dnf.set_repo("mf", &format!("mirrorlist={}{target}", edge.url()));
    dnf_ok(
        &dnf,
        &["makecache"],
        "dnf makecache (mirrorlist)",
        &m,
        Some(&edge),
    );
    install_hello(&dnf, "dnf install (mirrorlist)", &m, Some(&edge));
    assert_good_mirrors_used(&m);
    assert!(
        m.stale.requests().is_empty(),
        "dnf contacted the stale mirror through the mirrorlist\n{}",
        m.all_requests()
    );
}
