//! The maintenance commands end to end (control-plane.md §9): `emergency-expire-repo` through
//! the real control plane, the published snapshot, a store-mode edge and real dnf.
//!
//! A repository's repomd.xml has a history of two versions: the current one and an older one
//! that a mirror still serves. While the older one is an alternate, dnf accepts that mirror.
//! `mirrorfleet emergency-expire-repo Fedora 40` deletes the alternate and publishes at once,
//! with `mirrorfleet serve` running beside it under a one-minute debounce (so the quick change
//! is the command's own publish): the published snapshot keeps one version of the file, the
//! edge's metalink lists only the current hash (no `<mm0:alternates>`), and dnf refuses the
//! mirror with the old tree while it accepts one with the new tree.

use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use mirrorfleet_control::publish::layout::Manifest;
use mirrorfleet_snapshot::Snapshot;
use mirrorfleet_tests::control::{ControlPlane, store_edge};
use mirrorfleet_tests::fixture::Edge;
use mirrorfleet_tests::repo::{REPO_SUBDIR, TOPDIR, add_to_fedora_40_tree, fedora_40_inventory};
use mirrorfleet_tests::{
    DnfRoot, HELLO_NAME, Listening, RepomdDetails, StaticServer, build_rpm, build_rpm_with,
    require_tools,
};
use serde_json::json;

const OLD_REVISION: u64 = 1_713_100_000;
const NEW_REVISION: u64 = 1_713_185_000;
const OLD_HOST: &str = "old.mirror.test";
const NEW_HOST: &str = "new.mirror.test";
const METALINK: &str = "/metalink?repo=fedora-40&arch=x86_64";
/// How long the edge may take to show a published change (it polls every second).
const FOLLOW: Duration = Duration::from_secs(15);

/// One site per mirror, each up to date, and the repomd.xml history `repomd` (newest first).
fn inventory(
    old: &StaticServer,
    new: &StaticServer,
    repomd: &[&RepomdDetails],
) -> serde_json::Value {
    let site = |name: &str, host: &str, mirror: &StaticServer| {
        json!({
            "name": name,
            "hosts": [ {
                "name": host, "country": "SE", "bandwidth": 1000,
                "categories": { "Fedora Linux": {
                    "urls": [format!("{}/{TOPDIR}", mirror.url())], "up2date": ["**"],
                } }
            } ]
        })
    };
    fedora_40_inventory(
        repomd,
        vec![
            site("Mirror Old", OLD_HOST, old),
            site("Mirror New", NEW_HOST, new),
        ],
    )
}

/// What a metalink says about its file: the current sha256, the alternates' sha256 and its
/// URLs; read from the XML.
#[derive(Debug, PartialEq, Eq)]
struct Metalink {
    current: Option<String>,
    has_alternates: bool,
    alternates: Vec<String>,
    urls: Vec<String>,
}

impl Metalink {
    /// Every URL is on `mirror` (and there is one).
    fn only_on(&self, mirror: &StaticServer) -> bool {
        !self.urls.is_empty() && self.urls.iter().all(|u| u.starts_with(&mirror.url()))
    }
}

fn metalink(body: &str) -> Metalink {
    let doc = roxmltree::Document::parse(body)
        .unwrap_or_else(|e| panic!("the metalink is not well-formed XML: {e}\n{body}"));
    let sha256 = |node: roxmltree::Node| {
        node.children()
            .find(|n| n.has_tag_name("verification"))
            .and_then(|v| {
                v.children()
                    .find(|h| h.has_tag_name("hash") && h.attribute("type") == Some("sha256"))
            })
            .and_then(|h| h.text())
            .map(str::to_string)
    };
    let file = doc
        .descendants()
        .find(|n| n.has_tag_name("file"))
        .unwrap_or_else(|| panic!("no <file> in the metalink:\n{body}"));
    let alternates_node = file
        .children()
        .find(|n| n.tag_name().name() == "alternates");
    let alternates = alternates_node
        .iter()
        .flat_map(|a| a.children().filter(|n| n.tag_name().name() == "alternate"))
        .filter_map(sha256)
        .collect();
    let urls = doc
        .descendants()
        .filter(|n| n.has_tag_name("url"))
        .filter_map(|n| n.text())
        .map(str::to_string)
        .collect();
    Metalink {
        current: sha256(file),
        has_alternates: alternates_node.is_some(),
        alternates,
        urls,
    }
}

/// Waits until the edge's metalink satisfies `done`; returns it and how long it took.
fn wait_metalink(
    edge: &Edge,
    what: &str,
    done: impl Fn(&Metalink, &str) -> bool,
) -> (Metalink, Duration) {
    let t0 = Instant::now();
    loop {
        let r = edge.get(METALINK);
        let body = r.text();
        if r.status == 200 {
            let m = metalink(&body);
            if done(&m, &body) {
                return (m, t0.elapsed());
            }
        }
        assert!(
            t0.elapsed() < FOLLOW,
            "{what}: not seen after {FOLLOW:?}:\n{body}\n{}",
            edge.logs()
        );
        thread::sleep(Duration::from_millis(50));
    }
}

/// The history of `TOPDIR/REPO_SUBDIR/repodata/repomd.xml` in the snapshot `manifest.json`
/// names: (timestamp, sha256) newest first.
fn published_history(store: &Path) -> (u64, Vec<(i64, Option<String>)>) {
    let manifest: Manifest =
        serde_json::from_slice(&std::fs::read(store.join("manifest.json")).unwrap()).unwrap();
    let snap = Snapshot::read_file(&store.join(&manifest.snapshot.key)).expect("a valid snapshot");
    let dir = snap
        .find_directory(&format!("{TOPDIR}/{REPO_SUBDIR}/repodata"))
        .expect("the repodata directory is exported");
    let file = snap
        .find_file(dir, "repomd.xml")
        .expect("repomd.xml has details");
    let versions = snap
        .versions(file)
        .iter()
        .map(|v| {
            (
                v.timestamp.to_native(),
                v.sha256.as_ref().map(|s| s.as_str().to_string()),
            )
        })
        .collect();
    (manifest.snapshot.version, versions)
}

#[test]
fn emergency_expire_repo_leaves_dnf_only_the_current_repomd() {
    if !require_tools(&["dnf", "createrepo_c", "rpmbuild", "rpm"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let rpms = tmp.path().join("rpms");
    let hello_09 = build_rpm_with(&rpms, HELLO_NAME, "0.9", "1");
    let hello_10 = build_rpm(&rpms);
    // Two trees of the same repository: the older one (0.9), still on one mirror, and the
    // current one (1.0) on the other.
    let tree = |name: &str, rpm: &Path, revision: u64| {
        let root = tmp.path().join(name);
        let details = add_to_fedora_40_tree(&root, rpm, revision);
        (root, details)
    };
    let (old_root, old) = tree("old-mirror", &hello_09, OLD_REVISION);
    let (new_root, new) = tree("new-mirror", &hello_10, NEW_REVISION);
    assert_ne!(old.sha256, new.sha256);
    let old_mirror = StaticServer::start(&old_root).unwrap();
    let new_mirror = StaticServer::start(&new_root).unwrap();

    let store = tmp.path().join("store");
    let store_url = format!("file://{}", store.display());
    let cp = ControlPlane::init(
        &store_url,
        &[
            // serve alone would publish a change only after a minute.
            ("MIRRORFLEET__PUBLISH__DEBOUNCE", "60s"),
            ("MIRRORFLEET__PUBLISH__MAX_DELAY", "120s"),
            ("MIRRORFLEET__PUBLISH__MIN_GAP", "1s"),
        ],
    );
    cp.import(&inventory(&old_mirror, &new_mirror, &[&new, &old]));
    // dnf is to see one mirror at a time: the old one first.
    cp.cli(&["host", "disable", &format!("Mirror New/{NEW_HOST}")]);
    cp.cli(&["publish"]);
    let _serve = cp.serve();
    let edge = store_edge(&store_url, &tmp.path().join("cache"), "1s", &[]);
    edge.wait_for("/readyz", Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("edge not ready: {e}\n{}", edge.logs()));

    // Before: the old repomd.xml is an alternate, so dnf accepts the old mirror.
    let (before, _) = wait_metalink(&edge, "the first snapshot", |m, _| m.only_on(&old_mirror));
    assert_eq!(before.current.as_deref(), Some(new.sha256.as_str()));
    assert_eq!(before.alternates, std::slice::from_ref(&old.sha256));
    let dnf = DnfRoot::new();
    dnf.set_repo("fedora", &format!("metalink={}{METALINK}", edge.url()));
    let out = dnf.run(&["makecache"]);
    assert!(
        out.success(),
        "the old repomd.xml is an alternate:\n{out}\n{}",
        edge.logs()
    );

    // The expiry: committed and published by the command itself, at once.
    let t0 = Instant::now();
    let out = cp.cli(&["emergency-expire-repo", "Fedora", "40"]);
    assert!(
        out.stdout.contains(&format!(
            "- file_detail {TOPDIR}/{REPO_SUBDIR}/repodata/repomd.xml (timestamp {}, size {}, sha256 {})",
            old.timestamp, old.size, old.sha256
        )),
        "{out}"
    );
    assert!(
        out.stdout
            .contains("file_detail: 0 created, 0 updated, 1 deleted"),
        "{out}"
    );
    assert!(out.stdout.contains("published version "), "{out}");
    let (version, history) = published_history(&store);
    assert_eq!(
        history,
        [(new.timestamp, Some(new.sha256.clone()))],
        "snapshot {version} keeps only the current repomd.xml"
    );
    let (after, took) = wait_metalink(&edge, "the expiry", |m, body| {
        !m.has_alternates && !body.contains("mm0:alternates")
    });
    assert_eq!(after.current.as_deref(), Some(new.sha256.as_str()));
    assert!(after.alternates.is_empty());
    let body = edge.get(METALINK).text();
    assert!(!body.contains(&old.sha256), "the old hash is gone:\n{body}");
    let elapsed = t0.elapsed();
    eprintln!(
        "emergency-expire-repo → metalink without alternates in {} ms (edge after publish: {} ms)",
        elapsed.as_millis(),
        took.as_millis()
    );
    assert!(
        elapsed < Duration::from_secs(30),
        "not published at once: {elapsed:?} (serve's debounce is 60 s)"
    );

    // dnf now refuses the mirror that still serves the old repomd.xml …
    old_mirror.clear_requests();
    dnf.clear_cache();
    let refused = dnf.run(&["makecache"]);
    assert!(
        !refused.success(),
        "dnf accepted a repomd.xml the metalink no longer lists:\n{refused}"
    );
    assert!(
        old_mirror
            .requested_paths()
            .iter()
            .any(|p| p.ends_with("/repodata/repomd.xml")),
        "dnf did try the old mirror: {:?}",
        old_mirror.requested_paths()
    );

    // … and accepts the one with the current tree.
    cp.cli(&["host", "enable", &format!("Mirror New/{NEW_HOST}")]);
    cp.cli(&["host", "disable", &format!("Mirror Old/{OLD_HOST}")]);
    cp.cli(&["publish"]);
    wait_metalink(&edge, "the new mirror", |m, _| m.only_on(&new_mirror));
    dnf.clear_cache();
    let out = dnf.run(&["install", HELLO_NAME]);
    assert!(out.success(), "{out}\n{}", edge.logs());
    assert_eq!(
        dnf.installed(HELLO_NAME).as_deref(),
        Some("mirrorfleet-hello-1.0-1.noarch")
    );
    assert!(
        new_mirror
            .served_paths()
            .iter()
            .any(|p| p.ends_with("/repodata/repomd.xml")),
        "{:?}",
        new_mirror.served_paths()
    );
}
