//! Store mode (edge-protocol.md E79, E80): a real `mirrorfleet-edge --store file://…` following
//! a store written by hand ([`FileStore`]): swaps, every rejection reason, retry, rollback,
//! serving the cache when the store is down, the `current.json` rule after a rollback, reports,
//! and the cache and mapping bounds.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use mirrorfleet_snapshot::read::uuid_text;
use mirrorfleet_tests::control::store_edge;
use mirrorfleet_tests::fixture::{Edge, Fixture};
use mirrorfleet_tests::store::FileStore;
use serde_json::Value;

const EDGE_ID: &str = "fixture-edge";
const F40_ML: &str = "/metalink?repo=fedora-40&arch=x86_64";
const WAIT: Duration = Duration::from_secs(10);

fn installation() -> String {
    uuid_text(&mirrorfleet_control::snapshot_cmd::inventory_installation_id())
}

/// The fixture's snapshot at `version`.
fn snapshot(version: u64) -> Vec<u8> {
    Fixture::new().version(version).snapshot_bytes()
}

/// An edge following `store`, polling every 100 ms, caching in `cache`.
fn start_edge(store_url: &str, cache: &Path, extra: &[(&str, &str)]) -> Edge {
    store_edge(store_url, cache, "100ms", extra)
}

fn status(edge: &Edge) -> Value {
    serde_json::from_slice(&edge.get("/snapshot").body).expect("/snapshot is JSON")
}

fn served_version(edge: &Edge) -> Option<u64> {
    status(edge)["snapshot"]["version"].as_u64()
}

fn wait_version(edge: &Edge, version: u64) {
    let deadline = Instant::now() + WAIT;
    while served_version(edge) != Some(version) {
        assert!(
            Instant::now() < deadline,
            "the edge does not serve version {version} after {WAIT:?}: {}\n{}",
            status(edge),
            edge.logs()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The value of one metric sample (`name{labels}`), 0 when absent.
fn metric(edge: &Edge, sample: &str) -> f64 {
    edge.metrics()
        .lines()
        .find_map(|l| l.strip_prefix(sample)?.strip_prefix(' '))
        .map_or(0.0, |v| v.trim().parse().unwrap_or(0.0))
}

fn wait_rejected(edge: &Edge, reason: &str, count: f64) {
    let sample = format!("mirrorfleet_edge_snapshot_rejected_total{{reason=\"{reason}\"}}");
    let deadline = Instant::now() + WAIT;
    while metric(edge, &sample) < count {
        assert!(
            Instant::now() < deadline,
            "{sample} did not reach {count}: {}\n{}",
            edge.metrics(),
            edge.logs()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Snapshot files of `cache`: (versions of `.mfs` files, names of other files).
fn cache_files(cache: &Path) -> (BTreeSet<u64>, BTreeSet<String>) {
    let mut versions = BTreeSet::new();
    let mut other = BTreeSet::new();
    for e in std::fs::read_dir(cache).unwrap().flatten() {
        let name = e.file_name().into_string().unwrap();
        match name.strip_suffix(".mfs") {
            Some(stem) => {
                versions.insert(stem[..12].parse().unwrap());
            }
            None => {
                other.insert(name);
            }
        }
    }
    (versions, other)
}

/// Distinct snapshot files mapped by process `pid`.
fn live_mappings(pid: u32) -> BTreeSet<String> {
    std::fs::read_to_string(format!("/proc/{pid}/maps"))
        .unwrap()
        .lines()
        .filter(|l| l.contains(".mfs"))
        .filter_map(|l| l.split_whitespace().nth(5).map(str::to_string))
        .collect()
}

#[test]
fn follows_the_manifest_swaps_reports_and_prunes_the_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = FileStore::new(&tmp.path().join("store"));
    let cache = tmp.path().join("cache");
    let id = installation();
    store.publish(&snapshot(100), 100, &id);
    let edge = start_edge(&store.url(), &cache, &[]);
    wait_version(&edge, 100);
    assert_eq!(edge.get("/readyz").status, 200);
    let s = status(&edge);
    assert_eq!(s["snapshot"]["manifest_serial"], 1, "{s}");
    assert_eq!(s["writes"], "enabled", "{s}");
    let r = edge.get(F40_ML);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-mirrorlist-snapshot"), Some("100"));

    // The report names what is served.
    let report = store.wait_report(EDGE_ID, WAIT, |r| r.snapshot_version == Some(100));
    assert_eq!(report.format, "mirrorfleet-edge-report");
    assert_eq!(report.manifest_serial, Some(1));
    assert_eq!(
        report.snapshot_sha256.as_deref(),
        s["snapshot"]["sha256"].as_str()
    );

    // Four more versions: each is swapped in, current.json follows, the cache keeps 3.
    for v in 101..=104 {
        store.publish(&snapshot(v), v, &id);
        wait_version(&edge, v);
        assert_eq!(
            edge.get(F40_ML).header("x-mirrorlist-snapshot"),
            Some(&*v.to_string())
        );
    }
    store.wait_report(EDGE_ID, WAIT, |r| r.snapshot_version == Some(104));
    let current: Value =
        serde_json::from_slice(&std::fs::read(cache.join("current.json")).unwrap()).unwrap();
    assert_eq!(current["version"], 104);
    assert_eq!(current["manifest_serial"], 5);
    assert_eq!(current["installation_id"], id.as_str());
    let (versions, other) = cache_files(&cache);
    assert_eq!(versions, BTreeSet::from([102, 103, 104]));
    assert_eq!(other, BTreeSet::from(["current.json".to_string()]));

    // The same snapshot under a newer manifest: only the serial moves.
    let mut m = store.upload(&snapshot(104), 104, &id);
    m.serial = 9;
    store.write_manifest(&m);
    store.wait_report(EDGE_ID, WAIT, |r| r.manifest_serial == Some(9));
    assert_eq!(served_version(&edge), Some(104));

    // Old mappings go with their last reader: one snapshot mapped at rest.
    let deadline = Instant::now() + WAIT;
    while live_mappings(edge.pid()).len() != 1 {
        assert!(
            Instant::now() < deadline,
            "mapped snapshots: {:?}",
            live_mappings(edge.pid())
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    let polls = metric(
        &edge,
        "mirrorfleet_edge_manifest_polls_total{result=\"changed\"}",
    );
    assert!(polls >= 6.0, "changed polls: {polls}");
    assert!(
        metric(
            &edge,
            "mirrorfleet_edge_manifest_polls_total{result=\"unchanged\"}"
        ) >= 1.0,
        "{}\n{}",
        edge.metrics(),
        edge.logs()
    );
    assert_eq!(
        metric(&edge, "mirrorfleet_edge_snapshot_version"),
        104.0,
        "{}",
        edge.metrics()
    );
}

#[test]
fn a_bad_snapshot_never_replaces_the_served_one() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = FileStore::new(&tmp.path().join("store"));
    let cache = tmp.path().join("cache");
    let id = installation();
    store.publish(&snapshot(10), 10, &id);
    let edge = start_edge(&store.url(), &cache, &[]);
    wait_version(&edge, 10);
    let still_serving = |edge: &Edge| {
        assert_eq!(served_version(edge), Some(10));
        assert_eq!(edge.get("/readyz").status, 200);
        assert_eq!(edge.get(F40_ML).header("x-mirrorlist-snapshot"), Some("10"));
        let (versions, other) = cache_files(&cache);
        assert_eq!(versions, BTreeSet::from([10]), "nothing rejected is cached");
        assert_eq!(other, BTreeSet::from(["current.json".to_string()]));
    };

    // hash: the object's bytes differ from the manifest's SHA-256 (same size).
    let good11 = snapshot(11);
    let m = store.upload(&good11, 11, &id);
    let mut flipped = good11.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0xff;
    std::fs::write(store.dir.join(&m.snapshot.key), &flipped).unwrap();
    store.write_manifest(&m);
    wait_rejected(&edge, "hash", 1.0);
    still_serving(&edge);
    let s = status(&edge);
    assert!(s["last_error"].as_str().unwrap().contains("hash"), "{s}");
    assert_eq!(s["rejected_loads"], 1);

    // SIGHUP retries at once: the object repaired in place is then followed.
    std::fs::write(store.dir.join(&m.snapshot.key), &good11).unwrap();
    edge.signal(libc::SIGHUP);
    wait_version(&edge, 11);

    // size: a truncated object.
    let good12 = snapshot(12);
    let m = store.upload(&good12, 12, &id);
    std::fs::write(store.dir.join(&m.snapshot.key), &good12[..good12.len() / 2]).unwrap();
    store.write_manifest(&m);
    wait_rejected(&edge, "size", 1.0);
    assert_eq!(served_version(&edge), Some(11));

    // The rest are checked against version 11.
    let still = |edge: &Edge| assert_eq!(served_version(edge), Some(11));

    // header: the file's header says another version than the manifest.
    let m = store.upload(&snapshot(13), 14, &id);
    store.write_manifest(&m);
    wait_rejected(&edge, "header", 1.0);
    still(&edge);

    // header again: not a snapshot at all (size and hash agree with the manifest).
    let m = store.upload(b"not a snapshot at all", 15, &id);
    store.write_manifest(&m);
    wait_rejected(&edge, "header", 2.0);
    still(&edge);

    // older_version: lower than the served one, not a rollback.
    let m = store.upload(&snapshot(5), 5, &id);
    store.write_manifest(&m);
    wait_rejected(&edge, "older_version", 1.0);
    still(&edge);

    // installation: another control plane's manifest.
    let other = "00000000-0000-4000-8000-000000000001";
    let m = store.upload(&snapshot(16), 16, other);
    store.write_manifest(&m);
    wait_rejected(&edge, "installation", 1.0);
    still(&edge);

    // A manifest of an unknown format version is not followed (a poll error, no load).
    let errors = metric(
        &edge,
        "mirrorfleet_edge_manifest_polls_total{result=\"error\"}",
    );
    let mut m = store.upload(&snapshot(17), 17, &id);
    m.format_version = 2;
    store.write_manifest(&m);
    let deadline = Instant::now() + WAIT;
    while metric(
        &edge,
        "mirrorfleet_edge_manifest_polls_total{result=\"error\"}",
    ) <= errors
    {
        assert!(Instant::now() < deadline, "{}", edge.metrics());
        std::thread::sleep(Duration::from_millis(20));
    }
    still(&edge);
    assert!(
        status(&edge)["last_error"]
            .as_str()
            .unwrap()
            .contains("format_version 2"),
        "{}",
        status(&edge)
    );

    // A rejected manifest does not raise the bar: the next correct one is followed.
    store.publish(&snapshot(18), 18, &id);
    wait_version(&edge, 18);
    assert_eq!(status(&edge)["last_error"], Value::Null);

    // A rollback may lower the version; version 11 is still cached and is used from there.
    let mut m = store.upload(&snapshot(11), 11, &id);
    m.rollback = true;
    store.write_manifest(&m);
    wait_version(&edge, 11);
    let (versions, _) = cache_files(&cache);
    assert!(
        versions.contains(&11) && versions.contains(&18),
        "{versions:?}"
    );
    assert_eq!(
        metric(
            &edge,
            "mirrorfleet_edge_snapshot_loads_total{result=\"rejected\"}"
        ),
        6.0,
        "{}",
        edge.metrics()
    );
}

#[test]
fn a_restarted_edge_serves_its_cache_and_the_rolled_back_version() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = FileStore::new(&tmp.path().join("store"));
    let cache = tmp.path().join("cache");
    let id = installation();
    store.publish(&snapshot(20), 20, &id);
    let edge = start_edge(&store.url(), &cache, &[]);
    wait_version(&edge, 20);
    store.publish(&snapshot(21), 21, &id);
    wait_version(&edge, 21);
    let mut m = store.upload(&snapshot(20), 20, &id);
    m.rollback = true;
    store.write_manifest(&m);
    wait_version(&edge, 20);
    drop(edge);

    // Restarted with the store unreachable (an S3 endpoint nobody listens on): it serves the
    // version current.json names, the rolled-back-to 20, not the newer 21 still cached, and
    // /readyz is 200 while the poll errors are counted and shown.
    let port = mirrorfleet_tests::free_port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let edge = start_edge(
        "s3://mirrorfleet-test/fleet",
        &cache,
        &[
            ("MIRRORFLEET_EDGE__STORE__S3__ENDPOINT", &endpoint),
            ("MIRRORFLEET_EDGE__STORE__S3__ALLOW_HTTP", "true"),
            ("MIRRORFLEET_EDGE__STORE__S3__ACCESS_KEY_ID", "test"),
            ("MIRRORFLEET_EDGE__STORE__S3__SECRET_ACCESS_KEY", "test"),
        ],
    );
    wait_version(&edge, 20);
    assert_eq!(edge.get("/readyz").status, 200);
    assert_eq!(edge.get(F40_ML).status, 200);
    let deadline = Instant::now() + WAIT;
    while metric(
        &edge,
        "mirrorfleet_edge_manifest_polls_total{result=\"error\"}",
    ) < 1.0
    {
        assert!(Instant::now() < deadline, "{}", edge.metrics());
        std::thread::sleep(Duration::from_millis(50));
    }
    let s = status(&edge);
    assert!(
        s["last_error"].as_str().unwrap().contains("manifest.json"),
        "{s}"
    );
    assert_eq!(s["snapshot"]["manifest_serial"], 3, "{s}");
    drop(edge);

    // A damaged cache file is never served: with 20 corrupted, the newest valid one (21) is.
    let (versions, _) = cache_files(&cache);
    assert_eq!(versions, BTreeSet::from([20, 21]));
    let f20 = std::fs::read_dir(&cache)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("000000000020-")
        })
        .unwrap();
    let mut bytes = std::fs::read(&f20).unwrap();
    bytes[200] ^= 0xff;
    std::fs::write(&f20, bytes).unwrap();
    std::fs::write(cache.join(".download-leftover.tmp"), b"partial").unwrap();
    let edge = start_edge(
        &format!("file://{}", tmp.path().join("empty").display()),
        &cache,
        &[],
    );
    wait_version(&edge, 21);
    assert_eq!(
        metric(
            &edge,
            "mirrorfleet_edge_snapshot_rejected_total{reason=\"hash\"}"
        ),
        1.0
    );
    let (versions, other) = cache_files(&cache);
    assert_eq!(
        versions,
        BTreeSet::from([21]),
        "the damaged file is deleted"
    );
    assert!(!other.contains(".download-leftover.tmp"), "{other:?}");
}

#[test]
fn an_empty_cache_and_no_manifest_waits_and_says_why() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = FileStore::new(&tmp.path().join("store"));
    let cache = tmp.path().join("cache");
    let edge = start_edge(&store.url(), &cache, &[]);
    let r = edge.get("/readyz");
    assert_eq!(r.status, 503);
    assert!(
        r.text().contains("not ready: no snapshot loaded"),
        "{}",
        r.text()
    );
    let deadline = Instant::now() + WAIT;
    while !edge.get("/readyz").text().contains("no manifest.json yet") {
        assert!(Instant::now() < deadline, "{}", edge.get("/readyz").text());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(edge.get(F40_ML).status, 503);
    store.publish(&snapshot(7), 7, &installation());
    wait_version(&edge, 7);
    assert_eq!(edge.get("/readyz").status, 200);
    assert_eq!(edge.get(F40_ML).status, 200);
}

#[test]
fn store_write_false_writes_no_report() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = FileStore::new(&tmp.path().join("store"));
    let cache = tmp.path().join("cache");
    store.publish(&snapshot(30), 30, &installation());
    let edge = start_edge(
        &store.url(),
        &cache,
        &[("MIRRORFLEET_EDGE__STORE__WRITE", "false")],
    );
    wait_version(&edge, 30);
    assert_eq!(status(&edge)["writes"], "disabled: store.write = false");
    std::thread::sleep(Duration::from_millis(300));
    assert!(store.report(EDGE_ID).is_none());
    assert!(!store.dir.join("edges").exists());
}

/// Makes a directory unwritable for this process for its lifetime: `chattr +i` as root (whom
/// permissions do not stop), mode 0555 otherwise.
struct ReadOnlyDir(std::path::PathBuf, bool);

impl ReadOnlyDir {
    fn new(dir: &Path) -> ReadOnlyDir {
        let root = unsafe { libc::geteuid() } == 0;
        let ok = if root {
            std::process::Command::new("chattr")
                .arg("+i")
                .arg(dir)
                .status()
                .is_ok_and(|s| s.success())
        } else {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o555)).is_ok()
        };
        assert!(ok, "cannot make {} read-only", dir.display());
        assert!(
            std::fs::write(dir.join("probe"), b"x").is_err(),
            "{} is still writable",
            dir.display()
        );
        ReadOnlyDir(dir.to_path_buf(), root)
    }
}

impl Drop for ReadOnlyDir {
    fn drop(&mut self) {
        if self.1 {
            let _ = std::process::Command::new("chattr")
                .arg("-i")
                .arg(&self.0)
                .status();
        } else {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&self.0, std::fs::Permissions::from_mode(0o755));
        }
    }
}

#[test]
fn store_write_auto_stops_at_the_first_permission_refusal() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = FileStore::new(&tmp.path().join("store"));
    let cache = tmp.path().join("cache");
    store.publish(&snapshot(40), 40, &installation());
    let edges = store.dir.join("edges");
    std::fs::create_dir_all(&edges).unwrap();
    let _ro = ReadOnlyDir::new(&edges);
    let edge = start_edge(&store.url(), &cache, &[]);
    wait_version(&edge, 40);
    let deadline = Instant::now() + WAIT;
    while status(&edge)["writes"] != "disabled: read-only store" {
        assert!(
            Instant::now() < deadline,
            "{}\n{}",
            status(&edge),
            edge.logs()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Serving is unaffected, and writing stopped after the one refusal (swaps included).
    let mut m = store.upload(&snapshot(41), 41, &installation());
    m.serial = 5;
    store.write_manifest(&m);
    wait_version(&edge, 41);
    std::thread::sleep(Duration::from_millis(200));
    let sample = "mirrorfleet_edge_report_writes_total{result=\"error\"}";
    assert_eq!(metric(&edge, sample), 1.0, "{}", edge.metrics());
    assert_eq!(edge.get(F40_ML).status, 200);
    assert_eq!(
        edge.logs().matches("read-only store").count(),
        1,
        "logged once:\n{}",
        edge.logs()
    );
}
