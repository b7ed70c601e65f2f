//! Edge reports (control-plane.md §7.7, §7.8) on a local directory store, on SQLite and
//! PostgreSQL: reports written as edges write them are upserted into `edge_report`; a
//! malformed object is skipped (and reported once); an edge whose object has not been
//! rewritten for `edges.stale_after` is stale, one not serving the manifest's version is
//! behind; an unchanged object is not read again; an edge silent for 7 days is forgotten;
//! the gauges `mirrorfleet_edges{state}` and `mirrorfleet_edges_behind`; `snapshot list`
//! names the edges serving each version.
//!
//! PostgreSQL: `MIRRORFLEET_TEST_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/test`
//! (unreachable: FAIL under `CI=true`, a SKIP line otherwise).

use std::path::Path;
use std::time::{Duration, SystemTime};

use mirrorfleet_control::db::Database;
use mirrorfleet_control::edges::{
    EdgeCounts, EdgePoller, EdgeSettings, EdgeState, poll_once, read_rows,
};
use mirrorfleet_control::inventory::parse_inventory;
use mirrorfleet_control::publish::{PublishConfig, Publisher};
use mirrorfleet_control::serve::Metrics;
use mirrorfleet_control::store::import::{import_inventory, init};
use mirrorfleet_store::StoreHandle;
use mirrorfleet_store::layout::{EDGE_REPORT_FORMAT, EdgeReport, edge_report_key};

mod support;
use support::*;

const INVENTORY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/inventory.json");

fn settings() -> EdgeSettings {
    EdgeSettings {
        poll_interval: Duration::from_millis(200),
        stale_after: Duration::from_secs(300),
    }
}

fn report(edge_id: &str, version: Option<u64>) -> EdgeReport {
    EdgeReport {
        format: EDGE_REPORT_FORMAT.into(),
        format_version: 1,
        edge_id: edge_id.into(),
        software_version: "0.1.0".into(),
        started_at: "2026-11-25T10:00:00Z".into(),
        reported_at: "2026-11-25T10:05:00Z".into(),
        manifest_serial: version,
        snapshot_version: version,
        snapshot_sha256: version.map(|_| "ab".repeat(32)),
        loaded_at: version.map(|_| "2026-11-25T10:00:02Z".into()),
        last_error: None,
        rejected_loads: 0,
    }
}

/// Writes `edges/<id>.json` as an edge does.
fn write_report(store: &Path, r: &EdgeReport) {
    write_object(
        store,
        &edge_report_key(&r.edge_id),
        &serde_json::to_vec(r).unwrap(),
    );
}

fn write_object(store: &Path, key: &str, bytes: &[u8]) {
    let path = store.join(key);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// Sets the last-modified time of an object `age` in the past (the store's clock is what
/// decides freshness).
fn age_object(store: &Path, key: &str, age: Duration) {
    let f = std::fs::File::options()
        .write(true)
        .open(store.join(key))
        .unwrap();
    f.set_modified(SystemTime::now() - age).unwrap();
}

fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|l| {
        let rest = l.strip_prefix(series)?.strip_prefix(' ')?;
        rest.split(' ').next()?.parse().ok()
    })
}

async fn polls(db: Database) {
    init(&db, Some(*b"0123456789abcdef")).await.expect("init");
    let text = std::fs::read_to_string(INVENTORY).unwrap();
    let (inv, _) = parse_inventory("inventory.json", &text).expect("inventory parses");
    import_inventory(&db, &inv, false).await.expect("import");
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("store");
    let store = StoreHandle::local(&store_dir).unwrap();

    // Nothing published, no edges/ yet: an empty poll.
    let r = poll_once(&db, &store, settings())
        .await
        .expect("empty poll");
    assert_eq!((r.listed, r.current_version), (0, None));
    assert!(r.edges.is_empty());

    // Version 1 published.
    let publisher = Publisher {
        db: db.clone(),
        store: store.clone(),
        config: PublishConfig {
            data_dir: dir.path().to_path_buf(),
            keep_min_age: Duration::ZERO,
            ..PublishConfig::default()
        },
    };
    let published = publisher
        .publish(false, None, "test")
        .await
        .expect("publish");
    assert_eq!(published.version, 1);

    // e1 serves version 1, e2 nothing yet, e3 an old version 0 (behind), e4 is silent for 10
    // minutes (stale), bad-id's report names another edge, junk.json is not JSON, and
    // "bad name.json" is not an edge id.
    write_report(&store_dir, &report("e1", Some(1)));
    write_report(&store_dir, &report("e2", None));
    write_report(&store_dir, &report("e3", Some(0)));
    write_report(&store_dir, &report("e4", Some(1)));
    age_object(&store_dir, &edge_report_key("e4"), Duration::from_secs(600));
    write_object(
        &store_dir,
        &edge_report_key("bad-id"),
        &serde_json::to_vec(&report("someone-else", Some(1))).unwrap(),
    );
    write_object(&store_dir, "edges/junk.json", b"{\"format\": ");
    write_object(&store_dir, "edges/bad name.json", b"{}");

    let mut poller = EdgePoller::new(db.clone(), store.clone(), settings());
    let r = poller.poll().await.expect("poll");
    assert_eq!(r.listed, 7);
    assert_eq!(r.current_version, Some(1));
    let mut upserted = r.upserted.clone();
    upserted.sort();
    assert_eq!(upserted, ["e1", "e2", "e3", "e4"]);
    let mut bad: Vec<(&str, &str)> = r
        .malformed
        .iter()
        .map(|m| (m.key.as_str(), m.reason.as_str()))
        .collect();
    bad.sort();
    assert_eq!(bad.len(), 3, "{bad:?}");
    assert_eq!(bad[0].0, "edges/bad name.json");
    assert!(bad[0].1.contains("not an edge report name"), "{bad:?}");
    assert_eq!(bad[1].0, "edges/bad-id.json");
    assert!(bad[1].1.contains("differs from its file name"), "{bad:?}");
    assert_eq!(bad[2].0, "edges/junk.json");
    assert!(bad[2].1.contains("not an edge report"), "{bad:?}");

    let states: Vec<(String, EdgeState, bool)> = r
        .edges
        .iter()
        .map(|e| (e.row.edge_id.clone(), e.state, e.behind))
        .collect();
    assert_eq!(
        states,
        [
            ("e1".into(), EdgeState::Fresh, false),
            ("e2".into(), EdgeState::Fresh, true),
            ("e3".into(), EdgeState::Fresh, true),
            ("e4".into(), EdgeState::Stale, false),
        ]
    );
    assert_eq!(
        r.counts,
        EdgeCounts {
            fresh: 3,
            stale: 1,
            behind: 2
        }
    );

    // The table holds the reports as written.
    let rows = read_rows(&db).await.unwrap();
    assert_eq!(rows.len(), 4);
    let e1 = &rows[0];
    assert_eq!(e1.edge_id, "e1");
    assert_eq!(e1.software_version.as_deref(), Some("0.1.0"));
    assert_eq!(
        (e1.manifest_serial, e1.snapshot_version, e1.rejected_loads),
        (Some(1), Some(1), 0)
    );
    assert_eq!(
        e1.snapshot_sha256.as_deref(),
        Some("ab".repeat(32).as_str())
    );
    assert_eq!(
        e1.reported_at,
        time::macros::datetime!(2026-11-25 10:05:00 UTC)
    );
    assert!(rows[1].snapshot_version.is_none() && rows[1].loaded_at.is_none());

    // The gauges.
    let metrics = Metrics::new();
    metrics.set_edges(&r.counts);
    let text = metrics.encode();
    assert_eq!(
        sample(&text, r#"mirrorfleet_edges{state="fresh"}"#),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, r#"mirrorfleet_edges{state="stale"}"#),
        Some(1.0)
    );
    assert_eq!(sample(&text, "mirrorfleet_edges_behind"), Some(2.0));

    // A second poll reads nothing that did not change, and reports no malformed object again.
    let r = poller.poll().await.expect("second poll");
    assert_eq!((r.read, r.skipped), (0, 7), "{r:?}");
    assert!(r.upserted.is_empty() && r.malformed.is_empty());

    // e3 catches up, e4 comes back: both read again, all fresh and none behind.
    write_report(&store_dir, &report("e3", Some(1)));
    write_report(&store_dir, &report("e4", Some(1)));
    let r = poller.poll().await.expect("third poll");
    let mut upserted = r.upserted.clone();
    upserted.sort();
    assert_eq!(upserted, ["e3", "e4"]);
    assert_eq!(
        r.counts,
        EdgeCounts {
            fresh: 4,
            stale: 0,
            behind: 1
        }
    );

    // `snapshot list` names the edges serving each version, stale ones marked.
    age_object(&store_dir, &edge_report_key("e4"), Duration::from_secs(600));
    let r = poll_once(&db, &store, settings()).await.unwrap();
    let lines = publisher.list_with_edges(Some(&r.edges)).await.unwrap();
    let text = lines.join("\n");
    assert!(lines[1].trim_start().starts_with("1  published"), "{text}");
    assert!(
        lines[2]
            .trim_start()
            .starts_with("edges: e1, e3, e4 (stale, last report "),
        "{text}"
    );
    assert!(
        text.contains("edges serving no listed version: e2 (no snapshot loaded)"),
        "{text}"
    );
    assert!(
        text.contains("edges: 3 fresh, 1 stale; 1 behind the manifest"),
        "{text}"
    );

    // Silent for 7 days: forgotten, and the object is not read again.
    age_object(
        &store_dir,
        &edge_report_key("e2"),
        Duration::from_secs(8 * 24 * 3600),
    );
    db.execute("UPDATE edge_report SET received_at = '2026-01-01T00:00:00Z' WHERE edge_id = 'e2'")
        .await
        .unwrap();
    let r = poll_once(&db, &store, settings()).await.unwrap();
    assert_eq!(r.forgotten, ["e2"]);
    assert!(!r.upserted.contains(&"e2".to_string()));
    let ids: Vec<String> = read_rows(&db)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.edge_id)
        .collect();
    assert_eq!(ids, ["e1", "e3", "e4"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polls_sqlite() {
    polls(sqlite_db().await.db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polls_postgres() {
    let Some(t) = postgres_db().await else {
        return;
    };
    polls(t.db.clone()).await;
}

/// `mirrorfleet snapshot list` polls the reports once and names the edges under the version
/// they serve; a malformed object is a warning line.
#[test]
fn snapshot_list_names_the_edges() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["init"][..],
        &["import", "inventory", INVENTORY],
        &["publish"],
    ] {
        let o = mirrorfleet(dir.path(), args);
        assert!(o.status.success(), "{args:?}: {}", output_text(&o));
    }
    let store = dir.path().join("data/store");
    write_report(&store, &report("edge-a", Some(1)));
    write_report(&store, &report("edge-b", Some(1)));
    age_object(
        &store,
        &edge_report_key("edge-b"),
        Duration::from_secs(3600),
    );
    write_object(&store, "edges/broken.json", b"[]");
    let o = mirrorfleet(dir.path(), &["snapshot", "list"]);
    let text = output_text(&o);
    assert!(o.status.success(), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[1].trim_start().starts_with("1  published"), "{text}");
    assert!(
        lines[2]
            .trim_start()
            .starts_with("edges: edge-a, edge-b (stale, last report "),
        "{text}"
    );
    assert!(
        text.contains("edges: 1 fresh, 1 stale; 0 behind the manifest"),
        "{text}"
    );
    assert!(
        text.contains("warning: edges/broken.json skipped: not an edge report"),
        "{text}"
    );
}
