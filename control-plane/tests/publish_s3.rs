//! The publisher on an S3 store (control-plane.md §7.4–§7.6, §10 `store.s3.*`) against a real
//! S3-compatible server, moto, on 127.0.0.1 (`support::s3`): versions and serials under a key
//! prefix, rollback, hold and resume, retention, a store that refuses the write, the ETag
//! condition catching a manifest written by someone else, `conditional_put = "disabled"`, and
//! two publishes at once. SQLite, and the lifecycle also on PostgreSQL.
//!
//! moto missing: FAIL under `CI=true` (run `ops/dev-setup.sh`), a SKIP line otherwise.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use mirrorfleet_control::db::Database;
use mirrorfleet_control::inventory::parse_inventory;
use mirrorfleet_control::publish::layout::{self, Manifest};
use mirrorfleet_control::publish::{
    Checkpoint, ConditionalPut, ManifestCondition, PublishConfig, PublishError, Publisher,
    S3Config, StoreHandle, log_entries, publish_state,
};
use mirrorfleet_control::store::import::{import_inventory, init};
use mirrorfleet_snapshot::Snapshot;
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};
use sha2::{Digest, Sha256};

mod support;
use support::s3::{ACCESS_KEY_ID, Moto, SECRET_ACCESS_KEY, moto, raw_request};
use support::*;

const INVENTORY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/inventory.json");
const BUCKET: &str = "mirrorfleet-test";
/// A prefix of several segments: every key must land under it.
const PREFIX: &str = "fedora/prod";

struct Env {
    _db: TestDb,
    db: Database,
    dir: tempfile::TempDir,
    moto: Moto,
    settings: S3Config,
}

impl Env {
    fn url(&self) -> String {
        format!("s3://{BUCKET}/{PREFIX}/")
    }

    fn handle(&self) -> StoreHandle {
        StoreHandle::open(&self.url(), &self.settings).expect("open the S3 store")
    }

    fn config(&self, data_dir: PathBuf) -> PublishConfig {
        PublishConfig {
            data_dir,
            keep_min_age: Duration::ZERO,
            lock_timeout: Duration::from_secs(60),
            ..PublishConfig::default()
        }
    }

    fn publisher(&self) -> Publisher {
        Publisher {
            db: self.db.clone(),
            store: self.handle(),
            config: self.config(self.dir.path().to_path_buf()),
        }
    }

    /// An object under the prefix, read through a separate client.
    async fn get(&self, rel: &str) -> Option<Vec<u8>> {
        let h = self.handle();
        match h.store.get(&layout::key(&h.prefix, rel)).await {
            Ok(r) => Some(r.bytes().await.unwrap().to_vec()),
            Err(object_store::Error::NotFound { .. }) => None,
            Err(e) => panic!("reading {rel}: {e}"),
        }
    }

    async fn manifest(&self) -> Option<(Manifest, Vec<u8>)> {
        let bytes = self.get(layout::MANIFEST).await?;
        Some((serde_json::from_slice(&bytes).unwrap(), bytes))
    }

    /// Every key of the bucket, from the server's own listing (an unsigned ListObjectsV2).
    fn bucket_keys(&self) -> BTreeSet<String> {
        let (status, text) =
            raw_request(self.moto.port, "GET", &format!("/{BUCKET}?list-type=2")).unwrap();
        assert_eq!(status, 200, "{text}");
        assert!(!text.contains("<IsTruncated>true"), "{text}");
        text.split("<Key>")
            .skip(1)
            .map(|s| s.split("</Key>").next().unwrap().to_string())
            .collect()
    }

    /// Keys under the prefix, relative to it; asserts nothing lies outside it.
    fn keys(&self) -> BTreeSet<String> {
        let all = self.bucket_keys();
        all.iter()
            .map(|k| {
                k.strip_prefix(&format!("{PREFIX}/"))
                    .unwrap_or_else(|| panic!("key {k} outside the prefix {PREFIX}"))
                    .to_string()
            })
            .collect()
    }

    /// The manifest names an object whose size and SHA-256 match and which validates, and
    /// `manifests/<serial>.json` holds the same bytes.
    async fn check_consistent(&self) -> Manifest {
        let (m, bytes) = self.manifest().await.expect("manifest.json");
        assert_eq!(m.format, "mirrorfleet-manifest");
        assert_eq!(
            m.snapshot.key,
            layout::snapshot_key(m.snapshot.version, &m.snapshot.sha256)
        );
        let obj = self.get(&m.snapshot.key).await.expect("snapshot object");
        assert_eq!(obj.len() as u64, m.snapshot.size);
        assert_eq!(sha_hex(&obj), m.snapshot.sha256);
        let snap = Snapshot::from_bytes(obj).expect("snapshot validates");
        assert_eq!(snap.version(), m.snapshot.version);
        let copy = self.get(&layout::manifest_key(m.serial)).await;
        assert_eq!(copy.as_deref(), Some(&bytes[..]), "manifests/{}", m.serial);
        m
    }

    /// Every `manifests/<serial>.json` names an object that exists (true until retention
    /// deletes old snapshots, which it may while keeping their manifests).
    async fn check_manifests_name_objects(&self) {
        let keys = self.keys();
        for k in keys.iter().filter(|k| k.starts_with("manifests/")) {
            let other: Manifest = serde_json::from_slice(&self.get(k).await.unwrap()).unwrap();
            assert!(
                keys.contains(&other.snapshot.key),
                "{k} names {}, which is missing",
                other.snapshot.key
            );
        }
    }
}

fn sha_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// moto with the test bucket, and a database holding the example inventory. `None` when moto
/// is missing outside CI.
async fn setup(t: TestDb) -> Option<Env> {
    let moto = moto()?;
    moto.create_bucket(BUCKET);
    let db = t.db.clone();
    init(&db, Some(*b"0123456789abcdef")).await.expect("init");
    let text = std::fs::read_to_string(INVENTORY).unwrap();
    let (inv, _) = parse_inventory("inventory.json", &text).expect("inventory parses");
    import_inventory(&db, &inv, false).await.expect("import");
    let settings = moto.settings();
    Some(Env {
        _db: t,
        db,
        dir: tempfile::tempdir().unwrap(),
        moto,
        settings,
    })
}

async fn sqlite_env() -> Option<Env> {
    setup(sqlite_db().await).await
}

/// Publish twice, rollback and hold, resume: on SQLite, then on PostgreSQL when reachable.
async fn lifecycle(env: Env) {
    let p = env.publisher();
    assert_eq!(p.store.condition, ManifestCondition::ETag);
    let r1 = p.publish(false, None, "test").await.expect("first publish");
    assert_eq!((r1.version, r1.serial), (1, 1));
    let m = env.check_consistent().await;
    assert_eq!((m.snapshot.version, m.serial, m.rollback), (1, 1, false));
    assert_eq!(m.installation_id, "30313233-3435-3637-3839-616263646566");

    let r2 = p
        .publish(false, None, "test")
        .await
        .expect("second publish");
    assert_eq!((r2.version, r2.serial), (2, 2));
    let m = env.check_consistent().await;
    assert_eq!((m.snapshot.version, m.serial), (2, 2));
    assert_eq!(m.snapshot.key, r2.key);
    let expected: BTreeSet<String> = [
        "manifest.json".to_string(),
        "manifests/1.json".into(),
        "manifests/2.json".into(),
        r1.key.clone(),
        r2.key.clone(),
    ]
    .into();
    assert_eq!(env.keys(), expected);
    let log = log_entries(&env.db).await.unwrap();
    assert_eq!(log.len(), 2, "{log:?}");
    assert!(log.iter().all(|e| e.status == "published"), "{log:?}");
    assert_eq!(publish_state(&env.db).await.unwrap().2, 2);
    let lines = p.list().await.unwrap();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(lines[0].starts_with(" VERSION"), "{lines:?}");
    assert!(
        lines[1].trim_start().starts_with("2  published") && lines[1].contains("current"),
        "{lines:?}"
    );
    assert!(lines[1].contains("retained") && lines[2].contains("retained"));
    assert!(!lines[2].contains("current"), "{lines:?}");

    // Rollback: a new manifest (serial 3) names version 1 with rollback: true; on hold.
    let serial = p
        .rollback(1, Some("bad data"), "alice")
        .await
        .expect("rollback");
    assert_eq!(serial, 3);
    let m = env.check_consistent().await;
    assert_eq!((m.snapshot.version, m.serial, m.rollback), (1, 3, true));
    assert_eq!(m.snapshot.key, r1.key);
    let (held, reason, _) = publish_state(&env.db).await.unwrap();
    assert!(held);
    assert!(reason.unwrap().starts_with("rolled back to 1 by alice"));
    let err = p.publish(true, Some("x"), "test").await.unwrap_err();
    assert!(matches!(err, PublishError::Held(_)), "{err}");
    assert_eq!(err.exit_status(), 4);
    let lines = p.list().await.unwrap();
    assert!(lines.iter().any(|l| l.contains("current (rollback)")));

    // Resume publishes 1 + the highest version ever, serial 4.
    let r = p.resume(false, None, "alice").await.expect("resume");
    assert_eq!((r.version, r.serial), (3, 4));
    assert!(!publish_state(&env.db).await.unwrap().0);
    let m = env.check_consistent().await;
    assert_eq!((m.snapshot.version, m.serial, m.rollback), (3, 4, false));
}

mod lifecycle_t {
    use super::*;
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        if let Some(env) = sqlite_env().await {
            lifecycle(env).await;
        }
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        if let Some(t) = postgres_db().await
            && let Some(env) = setup(t).await
        {
            lifecycle(env).await;
        }
    }
}

/// Retention deletes old snapshot objects and manifests on S3; the next version is still
/// 1 + the highest ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention() {
    let Some(env) = sqlite_env().await else {
        return;
    };
    let mut p = env.publisher();
    p.config.keep = 2;
    p.config.keep_manifests = 3;
    let mut deleted = Vec::new();
    for v in 1..=5 {
        let r = p.publish(false, None, "test").await.unwrap();
        assert_eq!(r.version, v);
        deleted.extend(r.deleted);
    }
    let keys = env.keys();
    let snaps: Vec<&String> = keys
        .iter()
        .filter(|k| k.starts_with("snapshots/"))
        .collect();
    assert_eq!(snaps.len(), 2, "{keys:?}");
    assert!(snaps[0].starts_with("snapshots/000000000004-"), "{snaps:?}");
    assert!(snaps[1].starts_with("snapshots/000000000005-"), "{snaps:?}");
    let manifests: Vec<&String> = keys
        .iter()
        .filter(|k| k.starts_with("manifests/"))
        .collect();
    assert_eq!(
        manifests,
        ["manifests/3.json", "manifests/4.json", "manifests/5.json"]
    );
    assert!(
        deleted.contains(&"manifests/1.json".to_string()),
        "{deleted:?}"
    );
    assert_eq!(
        deleted
            .iter()
            .filter(|k| k.starts_with("snapshots/"))
            .count(),
        3
    );
    env.check_consistent().await;
    let lines = p.list().await.unwrap();
    assert!(
        lines
            .iter()
            .any(|l| l.trim_start().starts_with("1  ") && l.contains("deleted")),
        "{lines:?}"
    );
    assert_eq!(p.publish(false, None, "test").await.unwrap().version, 6);
}

/// A store that refuses the write: moto with IAM checks on, the publisher's key allowed
/// everything but `PutObject` on `manifest.json`. The snapshot and `manifests/2.json` are
/// written, the swap gets 403: the publish fails at stage manifest, its row becomes `failed`,
/// the previous manifest stays, no credential shows in the error, and an allowed key then
/// publishes version 3 (2 is never reused).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_denies_manifest_write() {
    let Some(mut env) = sqlite_env().await else {
        return;
    };
    let allow = r#"[{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]"#;
    let deny = format!(
        r#"[{{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}},
            {{"Effect": "Deny", "Action": "s3:PutObject",
              "Resource": "arn:aws:s3:::{BUCKET}/{PREFIX}/manifest.json"}}]"#
    );
    let (writer_id, writer_secret) = env.moto.iam_user("writer", allow);
    let (denied_id, denied_secret) = env.moto.iam_user("denied", &deny);
    env.settings.access_key_id = Some(writer_id);
    env.settings.secret_access_key = Some(writer_secret);
    env.moto.enforce_iam(true);
    let p = env.publisher();
    p.publish(false, None, "test")
        .await
        .expect("allowed key publishes");
    let (_, before) = env.manifest().await.unwrap();

    let mut denied = env.settings.clone();
    denied.access_key_id = Some(denied_id.clone());
    denied.secret_access_key = Some(denied_secret.clone());
    let d = Publisher {
        db: env.db.clone(),
        store: StoreHandle::open(&env.url(), &denied).unwrap(),
        config: env.config(env.dir.path().to_path_buf()),
    };
    let err = d.publish(false, None, "test").await.unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(
            err,
            PublishError::Failed {
                stage: "manifest",
                ..
            }
        ),
        "{text}"
    );
    assert_eq!(err.exit_status(), 1);
    assert!(text.contains("writing manifest.json"), "{text}");
    assert!(
        text.contains("AccessDenied") || text.contains("denied"),
        "{text}"
    );
    assert!(!text.contains(&denied_secret), "{text}");
    assert_eq!(
        env.manifest().await.unwrap().1,
        before,
        "manifest unchanged"
    );
    let log = log_entries(&env.db).await.unwrap();
    assert_eq!(
        (log[0].status.as_str(), log[0].version),
        ("failed", Some(2))
    );
    assert_eq!(log[0].manifest_serial, None);
    assert!(
        !log[0]
            .error
            .as_deref()
            .unwrap_or_default()
            .contains(&denied_secret)
    );

    env.moto.enforce_iam(false);
    let keys = env.keys();
    assert!(keys.contains("manifests/2.json"), "{keys:?}");
    assert_eq!(
        keys.iter().filter(|k| k.starts_with("snapshots/")).count(),
        2,
        "{keys:?}"
    );
    env.check_manifests_name_objects().await;
    env.moto.enforce_iam(true);
    let r = p.publish(false, None, "test").await.unwrap();
    assert_eq!((r.version, r.serial), (3, 3));
    env.moto.enforce_iam(false);
    let m = env.check_consistent().await;
    assert_eq!((m.snapshot.version, m.serial), (3, 3));
    // Retention removed the failed run's stray snapshot (version 2, never published).
    assert!(
        !env.keys()
            .iter()
            .any(|k| k.starts_with("snapshots/000000000002-")),
        "{:?}",
        env.keys()
    );
}

/// A store URL naming a bucket that does not exist: the publish fails (the store answers
/// NoSuchBucket), nothing is published, the store in use keeps its manifest, and no
/// credential shows in the error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_bucket_fails() {
    let Some(env) = sqlite_env().await else {
        return;
    };
    let p = env.publisher();
    p.publish(false, None, "test").await.unwrap();
    let (_, before) = env.manifest().await.unwrap();
    let keys_before = env.keys();

    let missing = Publisher {
        db: env.db.clone(),
        store: StoreHandle::open("s3://no-such-bucket/fedora/prod", &env.settings).unwrap(),
        config: env.config(env.dir.path().to_path_buf()),
    };
    let err = missing.publish(false, None, "test").await.unwrap_err();
    let text = err.to_string();
    assert_eq!(err.exit_status(), 1, "{text}");
    assert!(text.contains("NoSuchBucket"), "{text}");
    assert!(!text.contains(SECRET_ACCESS_KEY) && !text.contains(ACCESS_KEY_ID));
    let log = log_entries(&env.db).await.unwrap();
    assert_eq!(log.iter().filter(|e| e.status == "published").count(), 1);
    assert!(!log.iter().any(|e| e.status == "started"), "{log:?}");
    assert_eq!(
        env.manifest().await.unwrap().1,
        before,
        "manifest unchanged"
    );
    assert_eq!(env.keys(), keys_before, "nothing written");

    let r = p.publish(false, None, "test").await.unwrap();
    assert_eq!(r.serial, 2);
    env.check_consistent().await;
}

/// Someone else replaces manifest.json between this publish's read and its swap (written
/// through the store at the publisher's "verified" checkpoint): the If-Match on the ETag
/// read at the start fails, the publish aborts at stage manifest, the other writer's
/// manifest stays, and the next publish goes on from it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etag_condition_catches_foreign_manifest() {
    let Some(env) = sqlite_env().await else {
        return;
    };
    let p = env.publisher();
    p.publish(false, None, "test").await.unwrap();
    let (first, _) = env.manifest().await.unwrap();

    // The intruder: the same snapshot under a higher serial, as another control plane would.
    let mut foreign = first.clone();
    foreign.serial = 7;
    foreign.published_at = "2030-01-01T00:00:00Z".into();
    let foreign_bytes = layout::manifest_bytes(&foreign);
    let store = env.handle();
    let body = foreign_bytes.clone();
    let mut racing = env.publisher();
    racing.config.checkpoint = Some(Checkpoint(Arc::new(move |stage| {
        if stage != "verified" {
            return;
        }
        let (store, body) = (store.clone(), body.clone());
        // A plain unconditional PUT, from a thread with its own runtime (the callback is sync).
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                for rel in [layout::manifest_key(7).as_str(), layout::MANIFEST] {
                    let loc = layout::key(&store.prefix, rel);
                    let body = PutPayload::from(body.clone());
                    store.store.put(&loc, body).await.unwrap();
                }
            });
        })
        .join()
        .unwrap();
    })));
    let err = racing.publish(false, None, "test").await.unwrap_err();
    // The racing publish listed manifests/ after the intruder wrote 7: its serial was 8.
    let text = err.to_string();
    assert!(
        matches!(
            err,
            PublishError::Failed {
                stage: "manifest",
                ..
            }
        ),
        "{text}"
    );
    assert!(
        text.contains("changed since this publish read it"),
        "{text}"
    );
    assert_eq!(
        env.manifest().await.unwrap().1,
        foreign_bytes,
        "the other writer's manifest stays"
    );
    let log = log_entries(&env.db).await.unwrap();
    assert_eq!(
        (log[0].status.as_str(), log[0].version),
        ("failed", Some(2))
    );
    // manifests/8.json was written before the swap; it names an object that exists.
    env.check_consistent().await;
    env.check_manifests_name_objects().await;
    assert!(env.keys().contains("manifests/8.json"), "{:?}", env.keys());

    // The next publish goes on from the new manifest and the keys under manifests/.
    let r = p.publish(false, None, "test").await.unwrap();
    assert_eq!((r.version, r.serial), (3, 9));
    let m = env.check_consistent().await;
    assert_eq!((m.snapshot.version, m.serial), (3, 9));
}

/// The conditional writes the publisher relies on, straight against the server: create-only
/// (`If-None-Match: *`), update on the ETag read (`If-Match`), a stale ETag refused; and with
/// `conditional_put = "disabled"` the create-only emulation. Neither handle shows credentials.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_handle_conditional_writes() {
    let Some(moto) = moto() else {
        return;
    };
    moto.create_bucket(BUCKET);
    let h = StoreHandle::open(&format!("s3://{BUCKET}/a/b"), &moto.settings()).unwrap();
    let loc = layout::key(&h.prefix, "manifest.json");
    assert_eq!(loc.as_ref(), "a/b/manifest.json");

    h.put_create(&loc, PutPayload::from_static(b"one"))
        .await
        .expect("create");
    let e = h
        .put_create(&loc, PutPayload::from_static(b"two"))
        .await
        .unwrap_err();
    assert!(
        matches!(e, object_store::Error::AlreadyExists { .. }),
        "{e:?}"
    );

    let first = h.store.get(&loc).await.unwrap();
    let e1 = first.meta.e_tag.clone().expect("an ETag");
    assert_eq!(first.bytes().await.unwrap().as_ref(), b"one");
    let update = |e_tag: &str| PutOptions {
        mode: PutMode::Update(UpdateVersion {
            e_tag: Some(e_tag.to_string()),
            version: None,
        }),
        ..PutOptions::default()
    };
    let r = h
        .store
        .put_opts(&loc, PutPayload::from_static(b"two"), update(&e1))
        .await
        .expect("update on the current ETag");
    assert_ne!(r.e_tag.as_deref(), Some(e1.as_str()));
    let e = h
        .store
        .put_opts(&loc, PutPayload::from_static(b"three"), update(&e1))
        .await
        .unwrap_err();
    assert!(
        matches!(e, object_store::Error::Precondition { .. }),
        "{e:?}"
    );
    let now = h.store.get(&loc).await.unwrap().bytes().await.unwrap();
    assert_eq!(now.as_ref(), b"two", "a refused update changes nothing");
    let e = h
        .store
        .put_opts(
            &Path::from("a/b/absent.json"),
            PutPayload::from_static(b"x"),
            update(&e1),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(e, object_store::Error::Precondition { .. }),
        "{e:?}"
    );

    // conditional_put = "disabled": no conditional header is sent; create-only is a HEAD then
    // a PUT.
    let mut s = moto.settings();
    s.conditional_put = ConditionalPut::Disabled;
    let d = StoreHandle::open(&format!("s3://{BUCKET}/a/b"), &s).unwrap();
    assert_eq!(d.condition, ManifestCondition::Disabled);
    let e = d
        .put_create(&loc, PutPayload::from_static(b"four"))
        .await
        .unwrap_err();
    assert!(
        matches!(e, object_store::Error::AlreadyExists { .. }),
        "{e:?}"
    );
    d.put_create(&Path::from("a/b/new.json"), PutPayload::from_static(b"new"))
        .await
        .expect("create-only emulation");

    for text in [format!("{h:?}"), format!("{d:?}"), format!("{s:?}")] {
        assert!(!text.contains(SECRET_ACCESS_KEY), "{text}");
        assert!(!text.contains(ACCESS_KEY_ID), "{text}");
    }
    assert!(format!("{h:?}").contains(BUCKET));
}

/// `store.s3.conditional_put = "disabled"`: publishes, rolls back and resumes with
/// unconditional writes (the lock alone excludes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditional_put_disabled_publishes() {
    let Some(mut env) = sqlite_env().await else {
        return;
    };
    env.settings.conditional_put = ConditionalPut::Disabled;
    let p = env.publisher();
    assert_eq!(p.store.condition, ManifestCondition::Disabled);
    assert_eq!(p.publish(false, None, "test").await.unwrap().version, 1);
    assert_eq!(p.publish(false, None, "test").await.unwrap().version, 2);
    let m = env.check_consistent().await;
    assert_eq!((m.snapshot.version, m.serial), (2, 2));
    assert_eq!(p.rollback(1, None, "alice").await.unwrap(), 3);
    let r = p.resume(false, None, "alice").await.unwrap();
    assert_eq!((r.version, r.serial), (3, 4));
    let m = env.check_consistent().await;
    assert_eq!((m.snapshot.version, m.serial, m.rollback), (3, 4, false));
}

/// Two publishes at once on one installation: one waits for the lock, both publish, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_publishes_wait() {
    let Some(env) = sqlite_env().await else {
        return;
    };
    let (a, b) = (env.publisher(), env.publisher());
    let (ra, rb) = tokio::join!(a.publish(false, None, "a"), b.publish(false, None, "b"));
    let (ra, rb) = (ra.expect("publish a"), rb.expect("publish b"));
    let mut got = [(ra.version, ra.serial), (rb.version, rb.serial)];
    got.sort();
    assert_eq!(got, [(1, 1), (2, 2)]);
    let m = env.check_consistent().await;
    assert_eq!((m.snapshot.version, m.serial), (2, 2));
    assert_eq!(env.keys().len(), 5, "{:?}", env.keys());
}

/// Two control planes that share neither the lock nor the database (two SQLite databases
/// with the same data, separate data directories) race on the same store, so the create-only
/// writes and the ETag condition are all that excludes: at least one publishes, a loser fails
/// at upload or manifest, the manifest never names a missing object. (Retention is held back
/// by `keep_min_age` so neither deletes the other's upload.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_publishes_without_lock_stay_consistent() {
    let Some(env) = sqlite_env().await else {
        return;
    };
    let other = sqlite_db().await;
    init(&other.db, Some(*b"0123456789abcdef")).await.unwrap();
    let text = std::fs::read_to_string(INVENTORY).unwrap();
    let (inv, _) = parse_inventory("inventory.json", &text).unwrap();
    import_inventory(&other.db, &inv, false).await.unwrap();
    let other_dir = tempfile::tempdir().unwrap();
    for round in 0..3 {
        let mut a = env.publisher();
        let mut b = Publisher {
            db: other.db.clone(),
            store: env.handle(),
            config: env.config(other_dir.path().to_path_buf()),
        };
        a.config.keep_min_age = Duration::from_secs(3600);
        b.config.keep_min_age = Duration::from_secs(3600);
        // Round 0: identical candidates, so the same snapshot key (create-only upload decides).
        // Later rounds: different bytes, so both uploads land and the manifests race
        // (`manifests/<serial>.json` create-only, then the If-Match / If-None-Match swap).
        if round > 0 {
            b.config.policy.min_mirrors = a.config.policy.min_mirrors + round;
        }
        let (ra, rb) = tokio::join!(a.publish(false, None, "a"), b.publish(false, None, "b"));
        let ok = [&ra, &rb].iter().filter(|r| r.is_ok()).count();
        assert!(ok >= 1, "round {round}: {ra:?} / {rb:?}");
        for r in [&ra, &rb] {
            if let Err(e) = r {
                assert!(
                    matches!(
                        e,
                        PublishError::Failed {
                            stage: "upload" | "manifest",
                            ..
                        }
                    ),
                    "round {round}: {e}"
                );
            }
        }
        let m = env.check_consistent().await;
        env.check_manifests_name_objects().await;
        let newest = [&ra, &rb]
            .iter()
            .filter_map(|r| r.as_ref().ok())
            .map(|r| r.serial)
            .max()
            .unwrap();
        assert_eq!(m.serial, newest, "round {round}");
    }
}
