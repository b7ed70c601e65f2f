//! `mirrorfleet serve` in-process (control-plane.md §7.1, §7.8): the startup publish, publish
//! on a change of `meta.generation` (made the way another process would: a committed row
//! change), `/healthz`, `/readyz` (also with the database gone), `/metrics` and its allow
//! list, and the fault of §7 "the database goes away mid-publish" on the real PostgreSQL: the
//! backends of the control plane are terminated after the snapshot is uploaded and verified,
//! before the manifest is written → nothing is published, the previous manifest stays, the
//! failure is logged and counted in `publish_failures_total{stage}`, and the retry after the
//! backoff publishes.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mirrorfleet_control::config::{Config, ConfigFlags};
use mirrorfleet_control::db::Database;
use mirrorfleet_control::edges::EdgeSettings;
use mirrorfleet_control::inventory::parse_inventory;
use mirrorfleet_control::maintenance::expiry::ExpirySettings;
use mirrorfleet_control::publish::layout::Manifest;
use mirrorfleet_control::publish::{
    Checkpoint, PublishConfig, Publisher, StoreHandle, log_entries,
};
use mirrorfleet_control::serve::{Running, ServeSettings, Timings, start};
use mirrorfleet_control::store::import::{import_inventory, init};
use mirrorfleet_snapshot::net::Prefix;

mod support;
use support::*;

const INVENTORY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/inventory.json");

/// Timings short enough for a test (§7.1's rules, scaled down).
fn fast() -> Timings {
    Timings {
        debounce: Duration::from_millis(50),
        max_delay: Duration::from_millis(500),
        min_gap: Duration::from_millis(100),
        interval: Duration::from_secs(3600),
        poll_generation: Duration::from_millis(20),
    }
}

async fn populate(db: &Database) {
    init(db, Some(*b"0123456789abcdef")).await.expect("init");
    let text = std::fs::read_to_string(INVENTORY).unwrap();
    let (inv, _) = parse_inventory("inventory.json", &text).expect("inventory parses");
    import_inventory(db, &inv, false).await.expect("import");
}

fn publisher(db: &Database, dir: &Path, checkpoint: Option<Checkpoint>) -> Publisher {
    Publisher {
        db: db.clone(),
        store: StoreHandle::local(&dir.join("store")).unwrap(),
        config: PublishConfig {
            data_dir: dir.to_path_buf(),
            lock_timeout: Duration::from_secs(30),
            checkpoint,
            ..PublishConfig::default()
        },
    }
}

async fn serve(publisher: Publisher, allow: &[&str]) -> Running {
    let settings = ServeSettings {
        listen: "127.0.0.1:0".parse().unwrap(),
        metrics_allow: allow
            .iter()
            .map(|p| Prefix::parse_lenient(p).unwrap())
            .collect(),
        timings: fast(),
        edges: EdgeSettings::default(),
        expiry: ExpirySettings::default(),
        scan: None,
    };
    start(settings, publisher).await.expect("serve starts")
}

fn manifest(store: &Path) -> Option<Manifest> {
    let bytes = std::fs::read(store.join("manifest.json")).ok()?;
    Some(serde_json::from_slice(&bytes).expect("manifest.json parses"))
}

/// Waits (at most `limit`) until the manifest names a version above `above`.
async fn wait_for_version(store: &Path, above: u64, limit: Duration) -> Manifest {
    let started = Instant::now();
    loop {
        if let Some(m) = manifest(store)
            && m.snapshot.version > above
        {
            return m;
        }
        assert!(
            started.elapsed() < limit,
            "no version above {above} published within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A plain HTTP/1.1 GET: (status, body).
async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let path = path.to_string();
    tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut raw = String::new();
        s.read_to_string(&mut raw).unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").expect("a response");
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        (status, body.to_string())
    })
    .await
    .unwrap()
}

/// `/metrics` once `ready` holds for it (at most 30 s).
async fn metrics_when(addr: SocketAddr, ready: impl Fn(&str) -> bool) -> String {
    let started = Instant::now();
    loop {
        let (status, m) = get(addr, "/metrics").await;
        assert_eq!(status, 200, "{m}");
        if ready(&m) {
            return m;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "metrics never got there:\n{m}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The value of one sample line of `/metrics` (`name{labels}` exactly as exported).
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|l| {
        let rest = l.strip_prefix(series)?.strip_prefix(' ')?;
        rest.split(' ').next()?.parse().ok()
    })
}

async fn publishes_on_start_and_change(db: Database) {
    populate(&db).await;
    let dir = tempfile::tempdir().unwrap();
    let store: PathBuf = dir.path().join("store");
    let running = serve(publisher(&db, dir.path(), None), &["127.0.0.0/8"]).await;
    let first = wait_for_version(&store, 0, Duration::from_secs(30)).await;

    let (status, body) = get(running.addr, "/healthz").await;
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    let (status, body) = get(running.addr, "/readyz").await;
    assert_eq!(status, 200, "{body}");
    let ready: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["database"], "ok");
    assert_eq!(ready["publish"]["on_hold"], false);
    assert_eq!(get(running.addr, "/nope").await.0, 404);

    // A committed change, as a CLI command in another process would make it.
    db.execute("UPDATE meta SET generation = generation + 1 WHERE id = 1")
        .await
        .unwrap();
    let second = wait_for_version(&store, first.snapshot.version, Duration::from_secs(30)).await;
    assert!(second.serial > first.serial);
    assert!(second.snapshot.source_generation > first.snapshot.source_generation);

    // The manifest is swapped just before the publish returns and is counted: wait for it.
    let metrics = metrics_when(running.addr, |m| {
        sample(m, "mirrorfleet_published_version") == Some(second.snapshot.version as f64)
    })
    .await;
    assert_eq!(
        sample(&metrics, "mirrorfleet_publish_duration_seconds_count"),
        Some(2.0),
        "{metrics}"
    );
    assert_eq!(sample(&metrics, "mirrorfleet_publish_on_hold"), Some(0.0));
    assert!(
        sample(
            &metrics,
            "mirrorfleet_publish_last_success_timestamp_seconds"
        )
        .unwrap()
            > 1e9
    );
    assert_eq!(
        sample(
            &metrics,
            r#"mirrorfleet_publish_failures_total{stage="database"}"#
        ),
        Some(0.0),
        "{metrics}"
    );
    for (route, status, n) in [
        ("/healthz", 200, 1.0),
        ("/readyz", 200, 1.0),
        ("other", 404, 1.0),
    ] {
        let series =
            format!(r#"mirrorfleet_http_requests_total{{route="{route}",status="{status}"}}"#);
        assert_eq!(sample(&metrics, &series), Some(n), "{series}\n{metrics}");
    }
    running.stop().await.expect("stops cleanly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishes_on_start_and_change_sqlite() {
    publishes_on_start_and_change(sqlite_db().await.db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishes_on_start_and_change_postgres() {
    let Some(t) = postgres_db().await else {
        return;
    };
    publishes_on_start_and_change(t.db.clone()).await;
}

/// `serve` polls `edges/` every `edges.poll_interval` (here 200 ms from the configuration):
/// a report written while it runs is in `edge_report` and `/metrics` within a few intervals.
async fn picks_up_edge_reports(db: Database) {
    use mirrorfleet_store::layout::{EDGE_REPORT_FORMAT, EdgeReport, edge_report_key};

    populate(&db).await;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let config = Config::load_from(
        &ConfigFlags::default(),
        [("MIRRORFLEET__EDGES__POLL_INTERVAL", "200ms")],
        dir.path(),
    )
    .expect("configuration");
    let settings = ServeSettings {
        listen: "127.0.0.1:0".parse().unwrap(),
        metrics_allow: vec![Prefix::parse_lenient("127.0.0.0/8").unwrap()],
        timings: fast(),
        ..ServeSettings::from_config(&config)
    };
    assert_eq!(settings.edges.poll_interval, Duration::from_millis(200));
    let running = start(settings, publisher(&db, dir.path(), None))
        .await
        .expect("serve starts");
    let m = wait_for_version(&store, 0, Duration::from_secs(30)).await;
    let metrics = metrics_when(running.addr, |m| {
        sample(m, r#"mirrorfleet_edges{state="fresh"}"#) == Some(0.0)
    })
    .await;
    assert_eq!(sample(&metrics, "mirrorfleet_edges_behind"), Some(0.0));

    let report = EdgeReport {
        format: EDGE_REPORT_FORMAT.into(),
        format_version: 1,
        edge_id: "edge-1".into(),
        software_version: "0.1.0".into(),
        started_at: "2026-11-25T10:00:00Z".into(),
        reported_at: "2026-11-25T10:00:05Z".into(),
        manifest_serial: Some(m.serial),
        snapshot_version: Some(m.snapshot.version),
        snapshot_sha256: Some(m.snapshot.sha256.clone()),
        loaded_at: Some("2026-11-25T10:00:01Z".into()),
        last_error: None,
        rejected_loads: 0,
    };
    let path = store.join(edge_report_key("edge-1"));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, serde_json::to_vec(&report).unwrap()).unwrap();
    let written = Instant::now();
    let metrics = metrics_when(running.addr, |m| {
        sample(m, r#"mirrorfleet_edges{state="fresh"}"#) == Some(1.0)
    })
    .await;
    let took = written.elapsed();
    // A few poll intervals, with room for a slow machine; the default interval is 15 s.
    assert!(took < Duration::from_secs(5), "picked up after {took:?}");
    assert_eq!(
        sample(&metrics, r#"mirrorfleet_edges{state="stale"}"#),
        Some(0.0),
        "{metrics}"
    );
    assert_eq!(sample(&metrics, "mirrorfleet_edges_behind"), Some(0.0));
    let rows = mirrorfleet_control::edges::read_rows(&db).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].snapshot_version, Some(m.snapshot.version as i64));
    running.stop().await.expect("stops cleanly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn picks_up_edge_reports_sqlite() {
    picks_up_edge_reports(sqlite_db().await.db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn picks_up_edge_reports_postgres() {
    let Some(t) = postgres_db().await else {
        return;
    };
    picks_up_edge_reports(t.db.clone()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_only_to_the_allow_list_and_readyz_without_database() {
    let t = sqlite_db().await;
    populate(&t.db).await;
    let dir = tempfile::tempdir().unwrap();
    let running = serve(publisher(&t.db, dir.path(), None), &["192.0.2.0/24"]).await;
    let (status, body) = get(running.addr, "/metrics").await;
    assert_eq!(status, 403);
    assert!(body.contains("metrics.allow"), "{body}");

    t.db.close().await; // the database is gone
    let (status, body) = get(running.addr, "/readyz").await;
    assert_eq!(status, 503, "{body}");
    let ready: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ready["status"], "not ready");
    assert!(!ready["database"].as_str().unwrap().is_empty());
    assert_eq!(
        get(running.addr, "/healthz").await.0,
        200,
        "alive all the same"
    );
    running.stop().await.expect("stops cleanly");
}

/// Log lines written by `tracing` during the test.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// Terminates every backend whose `application_name` is `name` (from another session).
async fn terminate_backends(name: &str) -> u64 {
    let admin = Database::connect_with(&pg_base_url(), 1).await.unwrap();
    let n = admin
        .execute(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '{name}'"
        ))
        .await
        .unwrap();
    admin.close().await;
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_lost_mid_publish_postgres() {
    let log = Captured::default();
    let writer = log.clone();
    tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();

    let Some(schema) = pg_schema(true).await else {
        return;
    };
    // Every connection of this control plane (pool and publisher lock) carries this name.
    let app = format!("mf_fault_{}", schema.name);
    let url = format!("{}&application_name={app}", schema.url());
    let db = Database::connect(&url).await.expect("connect");
    db.migrate().await.expect("migrate");
    populate(&db).await;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");

    // Armed after the first publish: at the next one, once the snapshot is uploaded and
    // verified, the database connections die.
    let armed = Arc::new(AtomicBool::new(false));
    let fired = Arc::new(AtomicBool::new(false));
    let hook = {
        let (armed, fired, app) = (armed.clone(), fired.clone(), app.clone());
        Checkpoint(Arc::new(move |point| {
            if point == "verified" && armed.swap(false, Ordering::SeqCst) {
                let target = app.clone();
                // A blocking call from the publisher's task: run it on its own runtime.
                let killed = std::thread::spawn(move || {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap()
                        .block_on(terminate_backends(&target))
                })
                .join()
                .unwrap();
                assert!(killed > 0, "no backend of {app} to terminate");
                fired.store(true, Ordering::SeqCst);
            }
        }))
    };
    let running = serve(publisher(&db, dir.path(), Some(hook)), &["127.0.0.0/8"]).await;
    let first = wait_for_version(&store, 0, Duration::from_secs(30)).await;
    let first_bytes = std::fs::read(store.join("manifest.json")).unwrap();

    armed.store(true, Ordering::SeqCst);
    db.execute("UPDATE meta SET generation = generation + 1 WHERE id = 1")
        .await
        .unwrap();
    // The failure is counted …
    let metrics = metrics_when(running.addr, |m| {
        sample(m, r#"mirrorfleet_publish_failures_total{stage="database"}"#) == Some(1.0)
    })
    .await;
    assert!(fired.load(Ordering::SeqCst));
    // … nothing was published: the manifest is the previous one, byte for byte …
    assert_eq!(
        std::fs::read(store.join("manifest.json")).unwrap(),
        first_bytes
    );
    assert_eq!(
        sample(&metrics, "mirrorfleet_published_version"),
        Some(first.snapshot.version as f64)
    );
    // … and it is logged with its stage.
    let text = log.text();
    assert!(
        text.contains("publish failed") && text.contains("stage=\"database\""),
        "{text}"
    );

    // The retry after the backoff (5 s) publishes on the reconnected pool.
    let second = wait_for_version(&store, first.snapshot.version, Duration::from_secs(30)).await;
    assert_eq!(
        second.serial,
        first.serial + 1,
        "the failed attempt wrote no manifest"
    );
    // The failed attempt's row says so, and its version is never reused.
    let failed = first.snapshot.version + 1;
    assert_eq!(second.snapshot.version, failed + 1);
    let log_rows = log_entries(&db).await.unwrap();
    assert!(
        log_rows
            .iter()
            .any(|e| e.status == "failed" && e.version == Some(failed as i64)),
        "{log_rows:?}"
    );
    running.stop().await.expect("stops cleanly");
    db.close().await;
}

/// The real `mirrorfleet serve` process: configured through the environment, it publishes
/// the imported inventory at start, answers `/healthz`, and stops cleanly on SIGTERM.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_serve_command_publishes_and_stops_on_sigterm() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};

    let dir = tempfile::tempdir().unwrap();
    for args in [vec!["init"], vec!["import", "inventory", INVENTORY]] {
        let o = mirrorfleet(dir.path(), &args);
        assert!(o.status.success(), "{args:?}: {}", output_text(&o));
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_mirrorfleet"))
        .arg("serve")
        .current_dir(dir.path())
        .env_remove("MIRRORFLEET__DATABASE__URL")
        .env("MIRRORFLEET__SERVER__LISTEN", "127.0.0.1:0")
        .env("MIRRORFLEET__LOG__FORMAT", "json")
        .stderr(Stdio::piped())
        .spawn()
        .expect("start mirrorfleet serve");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let mut seen = Vec::new();
    let addr: SocketAddr = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("no listening line; stderr so far:\n{}", seen.join("\n")));
        let event: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        seen.push(line);
        if let Some(a) = event["fields"]["message"]
            .as_str()
            .and_then(|m| m.strip_prefix("listening on http://"))
        {
            break a.parse().unwrap();
        }
    };
    assert_eq!(get(addr, "/healthz").await.0, 200);
    let store = dir.path().join("data/store");
    let m = wait_for_version(&store, 0, Duration::from_secs(30)).await;
    assert_eq!(m.snapshot.version, 1);

    // SAFETY: signalling our own child process.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "serve did not stop"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    reader.join().unwrap();
    seen.extend(rx.try_iter());
    assert!(status.success(), "{status}\n{}", seen.join("\n"));
    assert!(
        seen.iter().any(|l| l.contains("published snapshots/")),
        "{}",
        seen.join("\n")
    );
}
