//! The publisher (control-plane.md §7.1–§7.6): derive and build a snapshot, check the guard
//! rails, upload it create-only to the object store, read it back and validate it, then write
//! `manifests/<serial>.json` and swap `manifest.json`; retention, rollback and hold.
//!
//! The store is any [`ObjectStore`] plus a key prefix, so S3 slots in next to the local
//! directory store. Manifest swap condition ([`ManifestCondition`]): on a local directory the
//! content hash of `manifest.json` read at the start is compared again, under the publisher
//! lock, just before the write (which `object_store`'s local store does through a temporary
//! file renamed over the target); on S3 the ETag (`PutMode::Update`, or create-only when there
//! was no manifest).

pub mod lock;

/// The store layout and S3 client live in `mirrorfleet-store`, shared with the edge.
pub use mirrorfleet_store::{ManifestCondition, StoreHandle, layout, s3};

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use mirrorfleet_snapshot::Snapshot;
use mirrorfleet_snapshot::model::{Inputs, Policy};
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::db::Database;
use crate::derive_db::{DeriveOptions, derive_snapshot};
use crate::store::Tx;
use crate::with_tx;
use layout::{Manifest, ManifestSnapshot};
pub use lock::PublishLock;
pub use s3::{ConditionalPut, S3Config};

/// Publisher settings (control-plane.md §10, `[publish]`, `[policy]`).
#[derive(Clone, Debug)]
pub struct PublishConfig {
    /// The data directory (SQLite lock file).
    pub data_dir: PathBuf,
    /// Versions kept (`publish.keep`).
    pub keep: usize,
    /// Manifests kept (`publish.keep_manifests`).
    pub keep_manifests: usize,
    /// Objects younger than this are never deleted (`publish.keep_min_age`).
    pub keep_min_age: Duration,
    /// `publish.max_drop` in millionths.
    pub max_drop_ppm: u64,
    /// `publish.min_hosts`.
    pub min_hosts: u64,
    /// `publish.min_directories`.
    pub min_directories: u64,
    /// How long to wait for the publisher lock.
    pub lock_timeout: Duration,
    /// `[policy]`.
    pub policy: Policy,
    /// Inputs outside the database.
    pub inputs: Inputs,
    /// Called between steps (see [`Checkpoint`]); `None` outside fault tests.
    pub checkpoint: Option<Checkpoint>,
}

/// A function the publisher calls at named points of a publish, so fault tests can break the
/// real database or store at an exact moment (after `"verified"`: the snapshot is uploaded and
/// read back, the manifest not yet written).
#[derive(Clone)]
pub struct Checkpoint(pub Arc<dyn Fn(&'static str) + Send + Sync>);

impl std::fmt::Debug for Checkpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Checkpoint")
    }
}

impl Default for PublishConfig {
    fn default() -> Self {
        let d = DeriveOptions::default();
        PublishConfig {
            data_dir: PathBuf::from("data"),
            keep: 48,
            keep_manifests: 1000,
            keep_min_age: Duration::from_secs(3600),
            max_drop_ppm: 250_000,
            min_hosts: 1,
            min_directories: 1,
            lock_timeout: Duration::from_secs(300),
            policy: d.policy,
            inputs: d.inputs,
            checkpoint: None,
        }
    }
}

/// Parses `publish.max_drop` (0 to 1, at most six decimals) into millionths.
pub fn parse_max_drop(text: &str) -> Option<u64> {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    if int.is_empty() && frac.is_empty() || frac.len() > 6 {
        return None;
    }
    if !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let i: u64 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let f: u64 = format!("{frac:0<6}").parse().ok()?;
    let v = i.checked_mul(1_000_000)?.checked_add(f)?;
    (v <= 1_000_000).then_some(v)
}

/// The manifest as read at the start of an operation.
#[derive(Clone, Debug, Default)]
pub struct CurrentManifest {
    pub manifest: Option<Manifest>,
    /// SHA-256 of the bytes read (local condition).
    pub content_sha256: Option<String>,
    pub e_tag: Option<String>,
    pub version: Option<String>,
}

/// What a publish did.
#[derive(Clone, Debug)]
pub struct PublishReport {
    pub version: u64,
    pub serial: u64,
    pub key: String,
    pub sha256: String,
    pub size: u64,
    pub counts: Value,
    pub forced_rails: Vec<String>,
    pub deleted: Vec<String>,
    pub warnings: Vec<String>,
    /// Where the rails took the current counts from.
    pub compared_with: String,
}

/// A guard rail that tripped: name, current, candidate, limit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RailTrip {
    pub rail: String,
    pub current: String,
    pub candidate: String,
    pub limit: String,
}

impl std::fmt::Display for RailTrip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: candidate {} against current {} (limit {})",
            self.rail, self.candidate, self.current, self.limit
        )
    }
}

/// Why a publish or rollback did not happen.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("publishing is on hold: {0}")]
    Held(String),
    #[error("publish refused by the guard rails ({}); pass --force --reason TEXT to override",
        .0.iter().map(|t| t.to_string()).collect::<Vec<_>>().join("; "))]
    Refused(Vec<RailTrip>),
    /// The publisher lock stayed with another process for the whole `lock_timeout`.
    #[error("{0}")]
    Busy(String),
    #[error("publish failed at stage {stage}: {error}")]
    Failed { stage: &'static str, error: String },
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// The stages a publish can fail at (`publish_log.stage`, `publish_failures_total{stage}`).
pub const FAILURE_STAGES: &[&str] = &["build", "upload", "verify", "manifest", "database"];

impl PublishError {
    /// The stage of a failure (one of [`FAILURE_STAGES`]); `None` for a refusal or a hold,
    /// which are not failures.
    pub fn stage(&self) -> Option<&'static str> {
        match self {
            PublishError::Held(_) | PublishError::Refused(_) | PublishError::Busy(_) => None,
            PublishError::Failed { stage, .. } => Some(stage),
            PublishError::Other(e) => Some(
                if e.chain().any(|c| {
                    c.is::<sqlx::Error>()
                        || c.is::<crate::store::StoreError>()
                        || c.is::<crate::db::DbError>()
                }) {
                    "database"
                } else if e.chain().any(|c| c.is::<object_store::Error>()) {
                    "upload"
                } else {
                    "build"
                },
            ),
        }
    }

    /// Process exit status (§7.3): 3 refused, 4 on hold, 1 otherwise.
    pub fn exit_status(&self) -> u8 {
        match self {
            PublishError::Held(_) => 4,
            PublishError::Refused(_) => 3,
            _ => 1,
        }
    }
}

impl From<sqlx::Error> for PublishError {
    fn from(e: sqlx::Error) -> Self {
        PublishError::Failed {
            stage: "database",
            error: e.to_string(),
        }
    }
}

impl From<crate::store::StoreError> for PublishError {
    fn from(e: crate::store::StoreError) -> Self {
        PublishError::Failed {
            stage: "database",
            error: e.to_string(),
        }
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.replace_nanosecond(0)
        .expect("0 ns")
        .format(&Rfc3339)
        .expect("formats")
}

fn unix_rfc3339(secs: i64) -> String {
    OffsetDateTime::from_unix_timestamp(secs)
        .map(rfc3339)
        .unwrap_or_default()
}

fn sha_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// The five counts the rails compare (DM §10 names).
const RAIL_COUNTS: &[&str] = &[
    "hosts",
    "public_hosts",
    "directories",
    "carried_pairs",
    "repo_map_entries",
];

/// The counts of a validated snapshot, as JSON (DM §10 names).
pub fn counts_json(snap: &Snapshot) -> Value {
    let c = &snap.payload().counts;
    Value::Object(
        c.named()
            .iter()
            .map(|&(k, v)| (k.to_string(), Value::from(v)))
            .collect(),
    )
}

/// The publisher: a database, a store and settings.
pub struct Publisher {
    pub db: Database,
    pub store: StoreHandle,
    pub config: PublishConfig,
}

/// `meta`: installation id and generation.
pub async fn read_meta(db: &Database) -> Result<(String, i64), PublishError> {
    let mut tx = Tx::begin(db).await?;
    let row: Option<(String, i64)> = with_tx!(&mut tx, c => sqlx::query_as(
        "SELECT installation_id, CAST(generation AS BIGINT) FROM meta WHERE id = 1")
        .fetch_optional(&mut *c).await)?;
    tx.rollback().await?;
    row.ok_or_else(|| {
        PublishError::Other(anyhow::anyhow!(
            "the database is not initialised (no meta row); run `mirrorfleet init` first"
        ))
    })
}

/// One row of `publish_log` for `snapshot list`.
#[derive(Clone, Debug, PartialEq)]
pub struct LogEntry {
    pub id: i64,
    pub kind: String,
    pub version: Option<i64>,
    pub status: String,
    pub started_at: OffsetDateTime,
    pub snapshot_key: Option<String>,
    pub sha256: Option<String>,
    pub size: Option<i64>,
    pub counts: Option<Value>,
    pub manifest_serial: Option<i64>,
    pub source_generation: Option<i64>,
    pub reason: Option<String>,
    pub error: Option<String>,
}

type LogRow = (
    i64,
    String,
    Option<i64>,
    String,
    OffsetDateTime,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<Value>,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<String>,
);

const LOG_COLUMNS: &str = "CAST(id AS BIGINT), kind, CAST(version AS BIGINT), status, started_at, \
     snapshot_key, sha256, CAST(size AS BIGINT), counts, CAST(manifest_serial AS BIGINT), \
     CAST(source_generation AS BIGINT), reason, error";

fn log_entry(r: LogRow) -> LogEntry {
    LogEntry {
        id: r.0,
        kind: r.1,
        version: r.2,
        status: r.3,
        started_at: r.4,
        snapshot_key: r.5,
        sha256: r.6,
        size: r.7,
        counts: r.8,
        manifest_serial: r.9,
        source_generation: r.10,
        reason: r.11,
        error: r.12,
    }
}

/// All rows of `publish_log`, newest first.
pub async fn log_entries(db: &Database) -> Result<Vec<LogEntry>, PublishError> {
    let mut tx = Tx::begin(db).await?;
    let sql = format!("SELECT {LOG_COLUMNS} FROM publish_log ORDER BY id DESC");
    let rows: Vec<LogRow> = with_tx!(&mut tx, c => sqlx::query_as(&sql).fetch_all(&mut *c).await)?;
    tx.rollback().await?;
    Ok(rows.into_iter().map(log_entry).collect())
}

/// `publish_state`: (on hold, hold reason, manifest serial).
pub async fn publish_state(db: &Database) -> Result<(bool, Option<String>, i64), PublishError> {
    let mut tx = Tx::begin(db).await?;
    let row: Option<(bool, Option<String>, i64)> = with_tx!(&mut tx, c => sqlx::query_as(
        "SELECT on_hold, hold_reason, CAST(manifest_serial AS BIGINT) FROM publish_state WHERE id = 1")
        .fetch_optional(&mut *c).await)?;
    tx.rollback().await?;
    Ok(row.unwrap_or((false, None, 0)))
}

impl Publisher {
    /// Reads `manifest.json` with what the swap condition needs.
    pub async fn read_manifest(&self) -> Result<CurrentManifest, PublishError> {
        let Some((bytes, e_tag, version)) = self.store.get_opt(layout::MANIFEST).await? else {
            return Ok(CurrentManifest::default());
        };
        let manifest: Manifest = serde_json::from_slice(&bytes)
            .map_err(|e| anyhow::anyhow!("manifest.json in the store is not a manifest: {e}"))?;
        Ok(CurrentManifest {
            manifest: Some(manifest),
            content_sha256: Some(sha_hex(&bytes)),
            e_tag,
            version,
        })
    }

    async fn take_lock(&self, installation_id: &str) -> Result<PublishLock, PublishError> {
        PublishLock::acquire(
            &self.db,
            &self.config.data_dir,
            installation_id,
            self.config.lock_timeout,
            &mut |holder| eprintln!("waiting for the publisher lock, held by {holder}"),
        )
        .await
        .map_err(|e| {
            if e.chain().any(|c| c.is::<sqlx::Error>()) {
                PublishError::Failed {
                    stage: "database",
                    error: format!("{e:#}"),
                }
            } else {
                PublishError::Busy(format!("{e:#}"))
            }
        })
    }

    /// Turns `started` rows left by a dead run (we hold the lock, so no live run has one) into
    /// `published` when the manifest names their snapshot, else `failed` (§7.5).
    async fn reconcile(&self, current: &CurrentManifest) -> Result<(), PublishError> {
        let named = current.manifest.as_ref().map(|m| m.snapshot.version as i64);
        let mut tx = Tx::begin(&self.db).await?;
        let now = OffsetDateTime::now_utc();
        with_tx!(&mut tx, c => {
            sqlx::query(
                "UPDATE publish_log SET status = 'published', finished_at = $2 \
                 WHERE status = 'started' AND version = $1")
                .bind(named).bind(now).execute(&mut *c).await?;
            sqlx::query(
                "UPDATE publish_log SET status = 'failed', finished_at = $1, \
                 error = 'left by a run that did not finish' WHERE status = 'started'")
                .bind(now).execute(&mut *c).await?;
        });
        tx.commit().await?;
        Ok(())
    }

    /// 1 + the largest of: publish_log versions, the manifest's, the keys under `snapshots/`.
    async fn next_version(&self, current: &CurrentManifest) -> Result<u64, PublishError> {
        let mut tx = Tx::begin(&self.db).await?;
        let max_log: Option<i64> = with_tx!(&mut tx, c => sqlx::query_scalar(
            "SELECT CAST(max(version) AS BIGINT) FROM publish_log").fetch_one(&mut *c).await)?;
        tx.rollback().await?;
        let mut max = max_log.unwrap_or(0).max(0) as u64;
        if let Some(m) = &current.manifest {
            max = max.max(m.snapshot.version);
        }
        for (name, _, _) in self.store.list(layout::SNAPSHOTS_DIR).await? {
            if let Some((v, _)) = layout::parse_snapshot_name(&name) {
                max = max.max(v);
            }
        }
        Ok(max + 1)
    }

    /// 1 + the largest of: publish_state's serial, the manifest's, the keys under `manifests/`.
    async fn next_serial(&self, current: &CurrentManifest) -> Result<u64, PublishError> {
        let (_, _, recorded) = publish_state(&self.db).await?;
        let mut max = recorded.max(0) as u64;
        if let Some(m) = &current.manifest {
            max = max.max(m.serial);
        }
        for (name, _, _) in self.store.list(layout::MANIFESTS_DIR).await? {
            if let Some(s) = layout::parse_manifest_name(&name) {
                max = max.max(s);
            }
        }
        Ok(max + 1)
    }

    /// The counts the rails compare with (§7.3): (counts, source generation, installation
    /// id, where from).
    async fn current_counts(
        &self,
        current: &CurrentManifest,
    ) -> Result<Option<(Value, Option<u64>, Option<String>, String)>, PublishError> {
        let log = log_entries(&self.db).await?;
        if let Some(m) = &current.manifest {
            if let Some(e) = log.iter().find(|e| {
                e.snapshot_key.as_deref() == Some(m.snapshot.key.as_str())
                    && e.sha256.as_deref() == Some(m.snapshot.sha256.as_str())
                    && e.counts.is_some()
            }) {
                return Ok(Some((
                    e.counts.clone().unwrap_or_default(),
                    Some(m.snapshot.source_generation),
                    Some(m.installation_id.clone()),
                    format!("version {} (publish log)", m.snapshot.version),
                )));
            }
            if let Ok(Some((bytes, _, _))) = self.store.get_opt(&m.snapshot.key).await
                && sha_hex(&bytes) == m.snapshot.sha256
                && let Ok(snap) = Snapshot::from_bytes(bytes)
            {
                return Ok(Some((
                    counts_json(&snap),
                    Some(m.snapshot.source_generation),
                    Some(m.installation_id.clone()),
                    format!("version {} (downloaded)", m.snapshot.version),
                )));
            }
        }
        if let Some(e) = log
            .iter()
            .filter(|e| e.status == "published" && e.kind == "publish" && e.counts.is_some())
            .max_by_key(|e| e.version)
        {
            return Ok(Some((
                e.counts.clone().unwrap_or_default(),
                e.source_generation.map(|g| g.max(0) as u64),
                None,
                format!(
                    "version {} (newest published entry of the publish log; the manifest's \
                     snapshot is missing or damaged)",
                    e.version.unwrap_or(0)
                ),
            )));
        }
        Ok(None)
    }

    /// The guard rails of §7.3: every rail that trips.
    fn rails(
        &self,
        candidate: &Value,
        cand_generation: u64,
        cand_installation: &str,
        current: Option<&(Value, Option<u64>, Option<String>, String)>,
    ) -> Vec<RailTrip> {
        let mut trips = Vec::new();
        let get = |v: &Value, k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
        if let Some((cur, gen_, inst, _)) = current {
            let p = self.config.max_drop_ppm.min(1_000_000) as u128;
            for k in RAIL_COUNTS {
                let (c, n) = (get(cur, k) as u128, get(candidate, k) as u128);
                if n * 1_000_000 < (1_000_000 - p) * c {
                    trips.push(RailTrip {
                        rail: format!("max_drop {k}"),
                        current: c.to_string(),
                        candidate: n.to_string(),
                        limit: format!(
                            "at least {} (max_drop {}.{:06})",
                            ((1_000_000 - p) * c).div_ceil(1_000_000),
                            p / 1_000_000,
                            p % 1_000_000
                        ),
                    });
                }
            }
            if let Some(g) = gen_
                && cand_generation < *g
            {
                trips.push(RailTrip {
                    rail: "source_generation".into(),
                    current: g.to_string(),
                    candidate: cand_generation.to_string(),
                    limit: "not lower than the current".into(),
                });
            }
            if let Some(i) = inst
                && i != cand_installation
            {
                trips.push(RailTrip {
                    rail: "installation_id".into(),
                    current: i.clone(),
                    candidate: cand_installation.to_string(),
                    limit: "the same installation".into(),
                });
            }
        }
        let h = get(candidate, "hosts");
        if h < self.config.min_hosts {
            trips.push(RailTrip {
                rail: "min_hosts".into(),
                current: current
                    .map(|c| get(&c.0, "hosts").to_string())
                    .unwrap_or("-".into()),
                candidate: h.to_string(),
                limit: self.config.min_hosts.to_string(),
            });
        }
        let d = get(candidate, "directories");
        if d < self.config.min_directories {
            trips.push(RailTrip {
                rail: "min_directories".into(),
                current: current
                    .map(|c| get(&c.0, "directories").to_string())
                    .unwrap_or("-".into()),
                candidate: d.to_string(),
                limit: self.config.min_directories.to_string(),
            });
        }
        trips
    }

    /// `mirrorfleet publish [--force --reason TEXT]`: builds and publishes a new version.
    pub async fn publish(
        &self,
        force: bool,
        reason: Option<&str>,
        actor: &str,
    ) -> Result<PublishReport, PublishError> {
        if force && reason.is_none_or(|r| r.trim().is_empty()) {
            return Err(anyhow::anyhow!("--force needs --reason TEXT").into());
        }
        let (installation_id, _) = read_meta(&self.db).await?;
        let mut lock = self.take_lock(&installation_id).await?;
        let result = self
            .publish_locked(&mut lock, &installation_id, force, reason, actor)
            .await;
        lock.release().await;
        result
    }

    async fn publish_locked(
        &self,
        lock: &mut PublishLock,
        installation_id: &str,
        force: bool,
        reason: Option<&str>,
        actor: &str,
    ) -> Result<PublishReport, PublishError> {
        // Read the store and the log, build (§7.2); a failure (not a hold) is logged as a
        // failed attempt when the database still answers.
        let (current, version, (bytes, snap, warnings)) = match self.prepare().await {
            Ok(prepared) => prepared,
            Err(e) => {
                if e.stage().is_some() {
                    self.record_failed_attempt(&e, actor).await;
                }
                return Err(e);
            }
        };
        let sha256 = snap.file_sha256_hex();
        let size = bytes.len() as u64;
        let counts = counts_json(&snap);
        let generation = snap.payload().identity.source_generation.to_native();
        let key = layout::snapshot_key(version, &sha256);

        // Guard rails (§7.3), before anything is written.
        let cur = self.current_counts(&current).await?;
        let trips = self.rails(&counts, generation, installation_id, cur.as_ref());
        let compared_with = cur
            .as_ref()
            .map(|c| c.3.clone())
            .unwrap_or_else(|| "nothing (no current snapshot)".into());
        let rails_json = json!({
            "compared_with": compared_with,
            "current": cur.as_ref().map(|c| c.0.clone()),
            "tripped": trips.iter().map(|t| json!({
                "rail": t.rail, "current": t.current, "candidate": t.candidate, "limit": t.limit,
            })).collect::<Vec<_>>(),
        });
        if !trips.is_empty() && !force {
            let mut tx = Tx::begin(&self.db).await?;
            let msg = trips
                .iter()
                .map(|t| t.to_string())
                .collect::<Vec<_>>()
                .join("; ");
            with_tx!(&mut tx, c => sqlx::query(
                "INSERT INTO publish_log (kind, status, finished_at, counts, rails, source_generation, \
                 reason, actor) VALUES ('publish', 'refused', $1, $2, $3, $4, $5, $6)")
                .bind(OffsetDateTime::now_utc()).bind(&counts).bind(&rails_json)
                .bind(generation as i64).bind(msg).bind(actor)
                .execute(&mut *c).await.map(|_| ()))?;
            tx.commit().await?;
            return Err(PublishError::Refused(trips));
        }

        // The `started` row, committed before any upload (§7.5).
        let mut tx = Tx::begin(&self.db).await?;
        let row_id: i64 = with_tx!(&mut tx, c => sqlx::query_scalar(
            "INSERT INTO publish_log (kind, version, status, snapshot_key, sha256, size, \
             source_generation, counts, rails, forced, reason, actor) \
             VALUES ('publish', $1, 'started', $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             RETURNING CAST(id AS BIGINT)")
            .bind(version as i64).bind(&key).bind(&sha256).bind(size as i64)
            .bind(generation as i64).bind(&counts).bind(&rails_json)
            .bind(force && !trips.is_empty()).bind(reason).bind(actor)
            .fetch_one(&mut *c).await)?;
        tx.commit().await?;

        let manifest_snapshot = ManifestSnapshot {
            version,
            key: key.clone(),
            sha256: sha256.clone(),
            size,
            format_version: snap.header().format_version,
            created_at: unix_rfc3339(snap.created_at()),
            source_generation: generation,
        };
        drop(snap);
        let outcome = self
            .upload_and_swap(
                lock,
                &current,
                installation_id,
                bytes,
                manifest_snapshot,
                false,
            )
            .await;
        let serial = match outcome {
            Ok(serial) => serial,
            Err((stage, error)) => {
                self.mark_failed(row_id, stage, &error).await;
                return Err(PublishError::Failed { stage, error });
            }
        };

        // Step 4: the log and the state.
        let mut tx = Tx::begin(&self.db).await?;
        with_tx!(&mut tx, c => {
            sqlx::query("UPDATE publish_log SET status = 'published', finished_at = $1, \
                         manifest_serial = $2 WHERE id = $3")
                .bind(OffsetDateTime::now_utc()).bind(serial as i64).bind(row_id)
                .execute(&mut *c).await?;
            sqlx::query("UPDATE publish_state SET manifest_serial = $1, \
                         row_version = row_version + 1 WHERE id = 1")
                .bind(serial as i64).execute(&mut *c).await?;
        });
        tx.commit().await?;

        let deleted = self.retention(version).await.unwrap_or_else(|e| {
            eprintln!("retention failed (will retry after the next publish): {e}");
            Vec::new()
        });
        Ok(PublishReport {
            version,
            serial,
            key,
            sha256,
            size,
            counts,
            forced_rails: if force {
                trips.iter().map(|t| t.to_string()).collect()
            } else {
                Vec::new()
            },
            deleted,
            warnings,
            compared_with,
        })
    }

    /// Everything before the guard rails: the hold, the current manifest, the log reconciled
    /// with it, the next version and its candidate snapshot.
    async fn prepare(
        &self,
    ) -> Result<(CurrentManifest, u64, (Vec<u8>, Snapshot, Vec<String>)), PublishError> {
        let (held, hold_reason, _) = publish_state(&self.db).await?;
        if held {
            return Err(PublishError::Held(hold_reason.unwrap_or_default()));
        }
        let current = self.read_manifest().await?;
        self.reconcile(&current).await?;
        let version = self.next_version(&current).await?;
        let built = self.build_candidate(version).await?;
        Ok((current, version, built))
    }

    /// Derives, encodes and validates version `version`: (bytes, the validated snapshot,
    /// derivation warnings).
    async fn build_candidate(
        &self,
        version: u64,
    ) -> Result<(Vec<u8>, Snapshot, Vec<String>), PublishError> {
        // The prefix→ASN table lives in the data directory (`mirrorfleet asn import`).
        let stored = crate::asn_cmd::stored_table(&self.db, &self.config.data_dir)
            .await
            .map_err(|e| PublishError::Failed {
                stage: "build",
                error: format!("{e:#}"),
            })?;
        let mut inputs = self.config.inputs.clone();
        let mut prefix_asn = Vec::new();
        if let Some(t) = stored {
            inputs.asn_source = t.source;
            inputs.asn_imported_at = t.imported_at;
            inputs.asn_sha256 = t.sha256;
            prefix_asn = t.entries;
        }
        let opts = DeriveOptions {
            version,
            created_at: OffsetDateTime::now_utc().unix_timestamp(),
            policy: self.config.policy,
            inputs,
            prefix_asn,
            ..DeriveOptions::default()
        };
        let derived = derive_snapshot(&self.db, &opts)
            .await
            .map_err(|e| PublishError::Failed {
                stage: match e {
                    crate::derive_db::DeriveError::Query(_) => "database",
                    _ => "build",
                },
                error: e.to_string(),
            })?;
        let warnings: Vec<String> = derived.warnings.iter().map(|w| w.to_string()).collect();
        let (bytes, snap) = tokio::task::spawn_blocking(move || {
            let bytes = mirrorfleet_snapshot::build(&derived.data).map_err(|e| e.to_string())?;
            let snap = Snapshot::from_bytes(bytes.clone()).map_err(|e| e.to_string())?;
            Ok::<_, String>((bytes, snap))
        })
        .await
        .map_err(|e| anyhow::anyhow!("build task: {e}"))?
        .map_err(|e| PublishError::Failed {
            stage: "build",
            error: e,
        })?;
        Ok((bytes, snap, warnings))
    }

    /// Records a publish that failed before its `started` row (build or database) as a
    /// `failed` row, when the database still answers.
    async fn record_failed_attempt(&self, e: &PublishError, actor: &str) {
        let stage = e.stage().unwrap_or("build");
        let error = e.to_string();
        let r: Result<(), PublishError> = async {
            let mut tx = Tx::begin(&self.db).await?;
            with_tx!(&mut tx, c => sqlx::query(
                "INSERT INTO publish_log (kind, status, finished_at, stage, error, actor) \
                 VALUES ('publish', 'failed', $1, $2, $3, $4)")
                .bind(OffsetDateTime::now_utc()).bind(stage).bind(&error).bind(actor)
                .execute(&mut *c).await.map(|_| ()))?;
            tx.commit().await?;
            Ok(())
        }
        .await;
        if let Err(e) = r {
            eprintln!("cannot record the failed publish in publish_log: {e}");
        }
    }

    async fn mark_failed(&self, row_id: i64, stage: &str, error: &str) {
        let r: Result<(), PublishError> = async {
            let mut tx = Tx::begin(&self.db).await?;
            with_tx!(&mut tx, c => sqlx::query(
                "UPDATE publish_log SET status = 'failed', finished_at = $1, stage = $2, error = $3 \
                 WHERE id = $4")
                .bind(OffsetDateTime::now_utc()).bind(stage).bind(error).bind(row_id)
                .execute(&mut *c).await.map(|_| ()))?;
            tx.commit().await?;
            Ok(())
        }
        .await;
        if let Err(e) = r {
            eprintln!("cannot record the failed publish in publish_log: {e}");
        }
    }

    /// Steps 1–3 of §7.5 (the snapshot is uploaded unless `existing`): returns the serial.
    async fn upload_and_swap(
        &self,
        lock: &mut PublishLock,
        current: &CurrentManifest,
        installation_id: &str,
        bytes: Vec<u8>,
        snapshot: ManifestSnapshot,
        rollback: bool,
    ) -> Result<u64, (&'static str, String)> {
        let s = &self.store;
        let loc = s.key(&snapshot.key);
        if !rollback {
            s.put_create(&loc, PutPayload::from(bytes))
                .await
                .map_err(|e| ("upload", format!("writing {}: {e}", snapshot.key)))?;
        }
        // Read back: size, SHA-256, validator.
        let got = s
            .store
            .get(&loc)
            .await
            .map_err(|e| ("verify", format!("reading back {}: {e}", snapshot.key)))?
            .bytes()
            .await
            .map_err(|e| ("verify", format!("reading back {}: {e}", snapshot.key)))?
            .to_vec();
        if got.len() as u64 != snapshot.size {
            return Err((
                "verify",
                format!(
                    "{}: size {} instead of {}",
                    snapshot.key,
                    got.len(),
                    snapshot.size
                ),
            ));
        }
        let sha = sha_hex(&got);
        if sha != snapshot.sha256 {
            return Err((
                "verify",
                format!(
                    "{}: SHA-256 {sha} instead of {}",
                    snapshot.key, snapshot.sha256
                ),
            ));
        }
        tokio::task::spawn_blocking(move || Snapshot::from_bytes(got).map(|_| ()))
            .await
            .map_err(|e| ("verify", e.to_string()))?
            .map_err(|e| ("verify", format!("{}: {e}", snapshot.key)))?;

        if let Some(Checkpoint(f)) = &self.config.checkpoint {
            f("verified");
        }
        // Database and lock still alive?
        let alive: Result<Option<i64>, PublishError> = async {
            let mut tx = Tx::begin(&self.db).await?;
            let v: Option<i64> = with_tx!(&mut tx, c => sqlx::query_scalar(
                "SELECT CAST(manifest_serial AS BIGINT) FROM publish_state WHERE id = 1")
                .fetch_optional(&mut *c).await)?;
            tx.rollback().await?;
            Ok(v)
        }
        .await;
        alive.map_err(|e| ("database", e.to_string()))?;
        lock.check()
            .await
            .map_err(|e| ("database", e.to_string()))?;

        let serial = self
            .next_serial(current)
            .await
            .map_err(|e| ("manifest", e.to_string()))?;
        let manifest = Manifest {
            format: layout::MANIFEST_FORMAT.into(),
            format_version: layout::MANIFEST_FORMAT_VERSION,
            serial,
            installation_id: installation_id.to_string(),
            published_at: rfc3339(OffsetDateTime::now_utc()),
            rollback,
            snapshot,
        };
        let body = layout::manifest_bytes(&manifest);
        s.put_create(
            &s.key(&layout::manifest_key(serial)),
            PutPayload::from(body.clone()),
        )
        .await
        .map_err(|e| {
            (
                "manifest",
                format!("writing {}: {e}", layout::manifest_key(serial)),
            )
        })?;
        self.swap_manifest(current, body)
            .await
            .map_err(|e| ("manifest", e))?;
        Ok(serial)
    }

    /// Replaces `manifest.json`, conditional on the manifest read at the start (§7.5).
    async fn swap_manifest(&self, current: &CurrentManifest, body: Vec<u8>) -> Result<(), String> {
        let s = &self.store;
        let loc = s.key(layout::MANIFEST);
        let mode = match s.condition {
            ManifestCondition::Disabled => PutMode::Overwrite,
            ManifestCondition::ContentHash => {
                // Under the publisher lock: nobody else may have changed it since the start.
                let now = s
                    .get_opt(layout::MANIFEST)
                    .await
                    .map_err(|e| e.to_string())?;
                let now_hash = now.map(|(b, _, _)| sha_hex(&b));
                if now_hash != current.content_sha256 {
                    return Err("manifest.json changed since this publish read it: another \
                                publisher wrote it; aborting"
                        .into());
                }
                PutMode::Overwrite
            }
            ManifestCondition::ETag => {
                if current.manifest.is_none() {
                    PutMode::Create
                } else {
                    PutMode::Update(UpdateVersion {
                        e_tag: current.e_tag.clone(),
                        version: current.version.clone(),
                    })
                }
            }
        };
        let opts = PutOptions {
            mode,
            ..PutOptions::default()
        };
        s.store
            .put_opts(&loc, PutPayload::from(body), opts)
            .await
            .map(|_| ())
            .map_err(|e| match e {
                object_store::Error::Precondition { .. }
                | object_store::Error::AlreadyExists { .. } => {
                    "manifest.json changed since this publish read it: another publisher wrote it; \
                     aborting"
                        .to_string()
                }
                e => format!("writing manifest.json: {e}"),
            })
    }

    /// Retention (§7.6): deletes snapshot objects except the newest `keep` published versions,
    /// the manifest's, versions edges report, and objects younger than `keep_min_age`; keeps
    /// the last `keep_manifests` manifests. Returns the deleted keys.
    pub async fn retention(&self, manifest_version: u64) -> anyhow::Result<Vec<String>> {
        let mut keep: BTreeSet<u64> = BTreeSet::new();
        keep.insert(manifest_version);
        let mut tx = Tx::begin(&self.db).await?;
        let published: Vec<i64> = with_tx!(&mut tx, c => sqlx::query_scalar(
            "SELECT CAST(version AS BIGINT) FROM publish_log WHERE status = 'published' \
             AND version IS NOT NULL ORDER BY version DESC LIMIT $1")
            .bind(self.config.keep as i64).fetch_all(&mut *c).await)?;
        let reported: Vec<Option<i64>> = with_tx!(&mut tx, c => sqlx::query_scalar(
            "SELECT CAST(snapshot_version AS BIGINT) FROM edge_report")
            .fetch_all(&mut *c).await)?;
        tx.rollback().await?;
        keep.extend(published.into_iter().map(|v| v as u64));
        keep.extend(reported.into_iter().flatten().map(|v| v as u64));
        let min_age = self.config.keep_min_age.as_secs() as i64;
        let mut deleted = Vec::new();
        for (name, _, age) in self.store.list(layout::SNAPSHOTS_DIR).await? {
            let Some((v, _)) = layout::parse_snapshot_name(&name) else {
                continue;
            };
            if keep.contains(&v) || age < min_age {
                continue;
            }
            let rel = format!("{}/{name}", layout::SNAPSHOTS_DIR);
            self.store.store.delete(&self.store.key(&rel)).await?;
            deleted.push(rel);
        }
        let mut serials: Vec<u64> = self
            .store
            .list(layout::MANIFESTS_DIR)
            .await?
            .iter()
            .filter_map(|(n, _, _)| layout::parse_manifest_name(n))
            .collect();
        serials.sort_unstable_by(|a, b| b.cmp(a));
        for s in serials.into_iter().skip(self.config.keep_manifests.max(1)) {
            let rel = layout::manifest_key(s);
            self.store.store.delete(&self.store.key(&rel)).await?;
            deleted.push(rel);
        }
        Ok(deleted)
    }

    /// `mirrorfleet snapshot rollback VERSION [--reason TEXT]` (§7.6): returns the new serial.
    pub async fn rollback(
        &self,
        version: u64,
        reason: Option<&str>,
        actor: &str,
    ) -> Result<u64, PublishError> {
        let (installation_id, _) = read_meta(&self.db).await?;
        let mut lock = self.take_lock(&installation_id).await?;
        let r = self
            .rollback_locked(&mut lock, &installation_id, version, reason, actor)
            .await;
        lock.release().await;
        r
    }

    async fn rollback_locked(
        &self,
        lock: &mut PublishLock,
        installation_id: &str,
        version: u64,
        reason: Option<&str>,
        actor: &str,
    ) -> Result<u64, PublishError> {
        let log = log_entries(&self.db).await?;
        let entry = log
            .iter()
            .find(|e| {
                e.kind == "publish" && e.status == "published" && e.version == Some(version as i64)
            })
            .ok_or_else(|| anyhow::anyhow!("version {version} was never published"))?;
        let (Some(key), Some(sha)) = (entry.snapshot_key.clone(), entry.sha256.clone()) else {
            return Err(anyhow::anyhow!("publish_log has no object for version {version}").into());
        };
        let current = self.read_manifest().await?;
        let Some((bytes, _, _)) = self.store.get_opt(&key).await? else {
            return Err(anyhow::anyhow!(
                "the object of version {version} ({key}) is no longer in the store"
            )
            .into());
        };
        if sha_hex(&bytes) != sha {
            return Err(anyhow::anyhow!(
                "the object of version {version} ({key}) does not match its recorded SHA-256"
            )
            .into());
        }
        let size = bytes.len() as u64;
        let snap = Snapshot::from_bytes(bytes).map_err(|e| {
            anyhow::anyhow!("the object of version {version} does not validate: {e}")
        })?;
        let ms = ManifestSnapshot {
            version,
            key: key.clone(),
            sha256: sha.clone(),
            size,
            format_version: snap.header().format_version,
            created_at: unix_rfc3339(snap.created_at()),
            source_generation: snap.payload().identity.source_generation.to_native(),
        };
        drop(snap);
        let serial = self
            .upload_and_swap(lock, &current, installation_id, Vec::new(), ms, true)
            .await
            .map_err(|(stage, error)| PublishError::Failed { stage, error })?;
        let now = OffsetDateTime::now_utc();
        let hold = format!(
            "rolled back to {version} by {actor} at {}{}",
            rfc3339(now),
            reason.map(|r| format!(": {r}")).unwrap_or_default()
        );
        let mut tx = Tx::begin(&self.db).await?;
        with_tx!(&mut tx, c => {
            sqlx::query(
                "INSERT INTO publish_log (kind, status, finished_at, snapshot_key, sha256, size, \
                 source_generation, manifest_serial, reason, actor) \
                 VALUES ('rollback', 'published', $1, $2, $3, $4, $5, $6, $7, $8)")
                .bind(now).bind(&key).bind(&sha).bind(size as i64)
                .bind(entry.source_generation).bind(serial as i64).bind(reason).bind(actor)
                .execute(&mut *c).await?;
            sqlx::query(
                "UPDATE publish_state SET on_hold = $1, hold_reason = $2, hold_by = $3, hold_at = $4, \
                 manifest_serial = $5, row_version = row_version + 1 WHERE id = 1")
                .bind(true).bind(&hold).bind(actor).bind(now).bind(serial as i64)
                .execute(&mut *c).await?;
        });
        tx.commit().await?;
        Ok(serial)
    }

    /// `mirrorfleet snapshot resume` (§7.6): lifts the hold and publishes a new version at
    /// once, guard rails included (`force` as for `publish`).
    pub async fn resume(
        &self,
        force: bool,
        reason: Option<&str>,
        actor: &str,
    ) -> Result<PublishReport, PublishError> {
        let mut tx = Tx::begin(&self.db).await?;
        with_tx!(&mut tx, c => sqlx::query(
            "UPDATE publish_state SET on_hold = $1, hold_reason = NULL, hold_by = NULL, \
             hold_at = NULL, row_version = row_version + 1 WHERE id = 1")
            .bind(false).execute(&mut *c).await.map(|_| ()))?;
        tx.commit().await?;
        self.publish(force, reason, actor).await
    }

    /// `snapshot list`: one line per version, newest first.
    pub async fn list(&self) -> Result<Vec<String>, PublishError> {
        self.list_with_edges(None).await
    }

    /// [`Publisher::list`], with `edges` (from [`crate::edges`]): under each version a line
    /// naming the edges that serve it (stale ones marked), then the edges serving no listed
    /// version and the counts.
    pub async fn list_with_edges(
        &self,
        edges: Option<&[crate::edges::EdgeStatus]>,
    ) -> Result<Vec<String>, PublishError> {
        let current = self.read_manifest().await?;
        let present: BTreeSet<String> = self
            .store
            .list(layout::SNAPSHOTS_DIR)
            .await?
            .into_iter()
            .map(|(n, _, _)| format!("{}/{n}", layout::SNAPSHOTS_DIR))
            .collect();
        let mut lines = vec![format!(
            "{:>8}  {:<9}  {:>10}  {:>6}  {:>8}  {:<20}  {}",
            "VERSION", "STATUS", "SIZE", "HOSTS", "DIRS", "CREATED", "NOTE"
        )];
        let mut listed = BTreeSet::new();
        for e in log_entries(&self.db).await? {
            let Some(v) = e.version else { continue };
            let get = |k: &str| {
                e.counts
                    .as_ref()
                    .and_then(|c| c.get(k))
                    .and_then(Value::as_u64)
                    .map(|n| n.to_string())
                    .unwrap_or_else(|| "-".into())
            };
            let mut note = Vec::new();
            if current
                .manifest
                .as_ref()
                .is_some_and(|m| m.snapshot.version == v as u64)
            {
                note.push(if current.manifest.as_ref().is_some_and(|m| m.rollback) {
                    "current (rollback)"
                } else {
                    "current"
                });
            }
            if e.status == "published" {
                note.push(match &e.snapshot_key {
                    Some(k) if present.contains(k) => "retained",
                    _ => "deleted",
                });
            }
            lines.push(format!(
                "{:>8}  {:<9}  {:>10}  {:>6}  {:>8}  {:<20}  {}",
                v,
                e.status,
                e.size.map(|s| s.to_string()).unwrap_or_else(|| "-".into()),
                get("hosts"),
                get("directories"),
                rfc3339(e.started_at),
                note.join(", ")
            ));
            if let Some(line) = edges.and_then(|edges| crate::edges::serving_line(edges, v as u64))
            {
                lines.push(line);
            }
            listed.insert(v as u64);
        }
        if let Some(edges) = edges {
            lines.extend(crate::edges::summary_lines(edges, &listed));
        }
        Ok(lines)
    }
}
