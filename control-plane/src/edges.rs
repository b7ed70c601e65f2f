//! Edge reports (control-plane.md §7.7, §7.8): edges write `edges/<edge-id>.json` into the
//! object store; the control plane keeps the latest report per edge in `edge_report` and
//! derives the state of the fleet from it.
//!
//! One poll ([`EdgePoller::poll`]) is one LIST of `edges/`, one GET per report object that
//! changed since this process last read it (size, last-modified time and ETag as listed), and
//! a conditional GET of `manifest.json` (the version edges should serve). Then, in one
//! transaction, the new reports are upserted and the edges silent for 7 days are forgotten.
//!
//! **Time.** `received_at` is when the *store* received the report: the object's last-modified
//! time as listed (clamped to now). An edge is heard from when its object is rewritten, which
//! it does at every snapshot swap and at least once a minute; a dead edge's object stays in the
//! store but ages. So the state does not depend on the edges' clocks (`reported_at` is the
//! edge's own and only shown), nor on when this process started: a leftover report of an edge
//! that died while the control plane was down is stale from the first poll, and an object
//! older than 7 days is not read at all.
//!
//! - **fresh**: `received_at` within `edges.stale_after` (5 min); **stale** otherwise.
//! - **behind**: a fresh edge not serving the version the current manifest names (an older
//!   version, none loaded yet, or after a rollback the version rolled back from).
//! - **forgotten**: rows whose `received_at` is more than [`FORGET_AFTER`] (7 days) old are
//!   deleted.
//!
//! A malformed object (not JSON, another `format` or `format_version`, an `edge_id` other than
//! its file name, a bad time or checksum, a name that is not `<edge-id>.json`, larger than
//! [`MAX_REPORT_BYTES`]) is skipped with a warning, once per version of the object; the edge's
//! last good report stays and ages. Nothing here bumps the generation: edge reports are no
//! selection data.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use mirrorfleet_store::layout::{self, EdgeReport, Manifest};
use mirrorfleet_store::{Fetched, StoreHandle};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::watch;

use crate::config::Config;
use crate::db::Database;
use crate::serve::Metrics;
use crate::store::{StoreError, Tx};
use crate::with_tx;

/// Rows of edges not heard from for this long are deleted (§7.7), and report objects this old
/// are not read.
pub const FORGET_AFTER: Duration = Duration::from_secs(7 * 24 * 3600);

/// A report object larger than this is malformed and not read (a report is a few hundred
/// bytes; `last_error` is the only free text).
pub const MAX_REPORT_BYTES: u64 = 64 * 1024;

/// `[edges]` (control-plane.md §10).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EdgeSettings {
    /// `edges.poll_interval`: how often `serve` lists `edges/` (15 s).
    pub poll_interval: Duration,
    /// `edges.stale_after`: an edge not heard from for this long is stale (5 min).
    pub stale_after: Duration,
}

impl Default for EdgeSettings {
    fn default() -> Self {
        EdgeSettings {
            poll_interval: Duration::from_secs(15),
            stale_after: Duration::from_secs(300),
        }
    }
}

impl EdgeSettings {
    /// The `[edges]` settings of `config`.
    pub fn from_config(config: &Config) -> EdgeSettings {
        EdgeSettings {
            poll_interval: config.edges.poll_interval,
            stale_after: config.edges.stale_after,
        }
    }
}

/// Whether an edge reported within `edges.stale_after`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EdgeState {
    Fresh,
    Stale,
}

impl EdgeState {
    /// The `state` label of `mirrorfleet_edges`.
    pub fn as_str(self) -> &'static str {
        match self {
            EdgeState::Fresh => "fresh",
            EdgeState::Stale => "stale",
        }
    }
}

/// One row of `edge_report`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EdgeRow {
    pub edge_id: String,
    pub software_version: Option<String>,
    pub started_at: Option<OffsetDateTime>,
    /// The edge's own clock.
    pub reported_at: OffsetDateTime,
    pub manifest_serial: Option<i64>,
    pub snapshot_version: Option<i64>,
    pub snapshot_sha256: Option<String>,
    pub loaded_at: Option<OffsetDateTime>,
    pub last_error: Option<String>,
    pub rejected_loads: i64,
    /// When the store received the report (see the module documentation).
    pub received_at: OffsetDateTime,
}

/// An edge with its state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EdgeStatus {
    pub row: EdgeRow,
    pub state: EdgeState,
    /// Fresh and not serving the current manifest's version.
    pub behind: bool,
}

/// The gauges of §7.8.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EdgeCounts {
    pub fresh: u64,
    pub stale: u64,
    pub behind: u64,
}

/// An object of `edges/` that was skipped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Malformed {
    /// The key relative to the store prefix (`edges/x.json`).
    pub key: String,
    pub reason: String,
}

/// What one poll did and found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PollReport {
    /// Objects listed under `edges/`.
    pub listed: usize,
    /// Objects read (GET).
    pub read: usize,
    /// Objects not read because they did not change since the last poll, were already found
    /// malformed in this version, or are older than [`FORGET_AFTER`].
    pub skipped: usize,
    /// Edges whose row was written.
    pub upserted: Vec<String>,
    /// Objects found malformed by this poll (each version of an object is reported once).
    pub malformed: Vec<Malformed>,
    /// Edges whose rows were deleted after 7 days of silence.
    pub forgotten: Vec<String>,
    /// The version `manifest.json` names (none before the first publish).
    pub current_version: Option<u64>,
    /// Every edge of the table, by id.
    pub edges: Vec<EdgeStatus>,
    pub counts: EdgeCounts,
}

/// An object as listed; a change of any part means the edge rewrote it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Stamp {
    size: u64,
    last_modified: i128,
    e_tag: Option<String>,
}

/// Reads `edges/` into `edge_report` (see the module documentation). Keeps what it listed last
/// time, so an unchanged object is not read again.
pub struct EdgePoller {
    db: Database,
    store: StoreHandle,
    settings: EdgeSettings,
    seen: HashMap<String, Stamp>,
    manifest_e_tag: Option<String>,
    current_version: Option<u64>,
    manifest_error: Option<String>,
}

impl EdgePoller {
    pub fn new(db: Database, store: StoreHandle, settings: EdgeSettings) -> EdgePoller {
        EdgePoller {
            db,
            store,
            settings,
            seen: HashMap::new(),
            manifest_e_tag: None,
            current_version: None,
            manifest_error: None,
        }
    }

    pub fn settings(&self) -> EdgeSettings {
        self.settings
    }

    /// One poll: reads the store into the table, then the state of every edge.
    pub async fn poll(&mut self) -> anyhow::Result<PollReport> {
        let now = OffsetDateTime::now_utc();
        let mut report = self.ingest(now).await?;
        report.current_version = self.current_version;
        report.edges = self.status_at(now).await?;
        report.counts = counts(&report.edges);
        Ok(report)
    }

    /// The state of every edge from the table alone (e.g. when the store cannot be read),
    /// against the last manifest version this poller read.
    pub async fn status(&self) -> Result<Vec<EdgeStatus>, StoreError> {
        self.status_at(OffsetDateTime::now_utc()).await
    }

    async fn status_at(&self, now: OffsetDateTime) -> Result<Vec<EdgeStatus>, StoreError> {
        let rows = read_rows(&self.db).await?;
        Ok(classify(
            rows,
            now,
            self.settings.stale_after,
            self.current_version,
        ))
    }

    /// LIST, GETs, the manifest, and one transaction of upserts and deletions.
    async fn ingest(&mut self, now: OffsetDateTime) -> anyhow::Result<PollReport> {
        let mut report = PollReport::default();
        let listed = self.list().await.context("listing edges/ in the store")?;
        report.listed = listed.len();
        let forget_before = now - FORGET_AFTER;
        let mut rows = Vec::new();
        let mut stamps = Vec::new();
        let mut names = BTreeSet::new();
        for (name, stamp) in listed {
            names.insert(name.clone());
            let key = format!("{}/{name}", layout::EDGES_DIR);
            let received_at = received_at(stamp.last_modified, now);
            if received_at < forget_before || self.seen.get(&name) == Some(&stamp) {
                report.skipped += 1;
                continue;
            }
            let Some(edge_id) = layout::parse_edge_report_name(&name) else {
                self.seen.insert(name, stamp);
                report.malformed.push(Malformed {
                    key,
                    reason: "not an edge report name: expected <edge-id>.json, the id 1–64 of \
                             A-Za-z0-9._-"
                        .into(),
                });
                continue;
            };
            if stamp.size > MAX_REPORT_BYTES {
                let reason = format!(
                    "{} bytes; an edge report is at most {MAX_REPORT_BYTES}",
                    stamp.size
                );
                self.seen.insert(name, stamp);
                report.malformed.push(Malformed { key, reason });
                continue;
            }
            let edge_id = edge_id.to_string();
            report.read += 1;
            let Some((bytes, _, _)) = self
                .store
                .get_opt(&key)
                .await
                .with_context(|| format!("reading {key}"))?
            else {
                // Deleted between the LIST and the GET: nothing to read.
                continue;
            };
            match parse_report(&edge_id, &bytes, received_at) {
                Ok(row) => {
                    rows.push(row);
                    stamps.push((name, stamp));
                }
                Err(reason) => {
                    self.seen.insert(name, stamp);
                    report.malformed.push(Malformed { key, reason });
                }
            }
        }
        // Objects that went away are forgotten here; their rows age out.
        self.seen.retain(|name, _| names.contains(name));
        // A manifest that cannot be read keeps the version last read (logged once per
        // distinct error): the reports are still worth keeping.
        match self.read_manifest().await {
            Ok(()) => self.manifest_error = None,
            Err(e) => {
                let text = format!("{e:#}");
                if self.manifest_error.as_deref() != Some(text.as_str()) {
                    tracing::warn!(
                        "edge reports: cannot read the current version ({text}); \"behind\" is \
                         judged against version {:?}",
                        self.current_version
                    );
                    self.manifest_error = Some(text);
                }
            }
        }

        let mut tx = Tx::begin(&self.db).await?;
        for row in &rows {
            upsert(&mut tx, row).await?;
        }
        let ages: Vec<(String, OffsetDateTime)> = with_tx!(&mut tx, c => sqlx::query_as(
            "SELECT edge_id, received_at FROM edge_report")
            .fetch_all(&mut *c).await)?;
        for (edge_id, received) in ages {
            if received < forget_before {
                with_tx!(&mut tx, c => sqlx::query("DELETE FROM edge_report WHERE edge_id = $1")
                    .bind(&edge_id).execute(&mut *c).await.map(|_| ()))?;
                report.forgotten.push(edge_id);
            }
        }
        tx.commit().await?;
        // Only now: a failed transaction reads the objects again next time.
        for (name, stamp) in stamps {
            self.seen.insert(name, stamp);
        }
        report.upserted = rows.into_iter().map(|r| r.edge_id).collect();
        for m in &report.malformed {
            tracing::warn!(key = %m.key, "edge report skipped: {}", m.reason);
        }
        for id in &report.forgotten {
            tracing::info!(edge = %id, "edge forgotten after 7 days without a report");
        }
        Ok(report)
    }

    /// `edges/`: one LIST (`list_with_delimiter`), with what [`Stamp`] needs.
    async fn list(&self) -> anyhow::Result<Vec<(String, Stamp)>> {
        let dir = self.store.key(layout::EDGES_DIR);
        let listing = match self.store.store.list_with_delimiter(Some(&dir)).await {
            Ok(l) => l,
            Err(object_store::Error::NotFound { .. }) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        Ok(listing
            .objects
            .into_iter()
            .filter_map(|m| {
                let name = m.location.filename()?.to_string();
                let last_modified = m.last_modified.timestamp_nanos_opt().map_or(
                    i128::from(m.last_modified.timestamp()) * 1_000_000_000,
                    i128::from,
                );
                Some((
                    name,
                    Stamp {
                        size: m.size,
                        last_modified,
                        e_tag: m.e_tag,
                    },
                ))
            })
            .collect())
    }

    /// The version `manifest.json` names, by a conditional GET (usually "not modified").
    async fn read_manifest(&mut self) -> anyhow::Result<()> {
        let fetched = self
            .store
            .get_if_changed(layout::MANIFEST, self.manifest_e_tag.as_deref())
            .await
            .context("reading manifest.json")?;
        match fetched {
            Fetched::NotModified => {}
            Fetched::Missing => {
                self.manifest_e_tag = None;
                self.current_version = None;
            }
            Fetched::Changed { bytes, e_tag } => {
                let m: Manifest = serde_json::from_slice(&bytes)
                    .context("manifest.json in the store is not a manifest")?;
                self.manifest_e_tag = e_tag;
                self.current_version = Some(m.snapshot.version);
            }
        }
        Ok(())
    }
}

/// The store's time of an object, not after `now`.
fn received_at(last_modified_ns: i128, now: OffsetDateTime) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(last_modified_ns).map_or(now, |t| t.min(now))
}

fn time(field: &str, text: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(text, &Rfc3339)
        .map_err(|e| format!("{field} {text:?} is not an RFC 3339 time: {e}"))
}

fn signed(field: &str, n: u64) -> Result<i64, String> {
    i64::try_from(n).map_err(|_| format!("{field} {n} is out of range"))
}

/// A report object's bytes as a row, or why it is malformed. `edge_id` is its file name's.
pub fn parse_report(
    edge_id: &str,
    bytes: &[u8],
    received_at: OffsetDateTime,
) -> Result<EdgeRow, String> {
    let r: EdgeReport =
        serde_json::from_slice(bytes).map_err(|e| format!("not an edge report: {e}"))?;
    if r.format != layout::EDGE_REPORT_FORMAT {
        return Err(format!(
            "format {:?}, expected {:?}",
            r.format,
            layout::EDGE_REPORT_FORMAT
        ));
    }
    if r.format_version != layout::EDGE_REPORT_FORMAT_VERSION {
        return Err(format!(
            "format_version {} is not supported (this control plane reads {})",
            r.format_version,
            layout::EDGE_REPORT_FORMAT_VERSION
        ));
    }
    if r.edge_id != edge_id {
        return Err(format!(
            "edge_id {:?} differs from its file name ({edge_id}.json)",
            r.edge_id
        ));
    }
    if let Some(sha) = &r.snapshot_sha256
        && !(sha.len() == 64
            && sha
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
    {
        return Err(format!(
            "snapshot_sha256 {sha:?} is not 64 lower-case hex digits"
        ));
    }
    Ok(EdgeRow {
        edge_id: r.edge_id,
        software_version: Some(r.software_version),
        started_at: Some(time("started_at", &r.started_at)?),
        reported_at: time("reported_at", &r.reported_at)?,
        manifest_serial: r
            .manifest_serial
            .map(|n| signed("manifest_serial", n))
            .transpose()?,
        snapshot_version: r
            .snapshot_version
            .map(|n| signed("snapshot_version", n))
            .transpose()?,
        snapshot_sha256: r.snapshot_sha256,
        loaded_at: r
            .loaded_at
            .as_deref()
            .map(|t| time("loaded_at", t))
            .transpose()?,
        last_error: r.last_error,
        rejected_loads: signed("rejected_loads", r.rejected_loads)?,
        received_at,
    })
}

async fn upsert(tx: &mut Tx, r: &EdgeRow) -> Result<(), sqlx::Error> {
    with_tx!(tx, c => sqlx::query(
        "INSERT INTO edge_report (edge_id, software_version, started_at, reported_at, \
         manifest_serial, snapshot_version, snapshot_sha256, loaded_at, last_error, \
         rejected_loads, received_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         ON CONFLICT (edge_id) DO UPDATE SET software_version = excluded.software_version, \
         started_at = excluded.started_at, reported_at = excluded.reported_at, \
         manifest_serial = excluded.manifest_serial, \
         snapshot_version = excluded.snapshot_version, \
         snapshot_sha256 = excluded.snapshot_sha256, loaded_at = excluded.loaded_at, \
         last_error = excluded.last_error, rejected_loads = excluded.rejected_loads, \
         received_at = excluded.received_at")
        .bind(&r.edge_id)
        .bind(r.software_version.as_deref())
        .bind(r.started_at)
        .bind(r.reported_at)
        .bind(r.manifest_serial)
        .bind(r.snapshot_version)
        .bind(r.snapshot_sha256.as_deref())
        .bind(r.loaded_at)
        .bind(r.last_error.as_deref())
        .bind(r.rejected_loads)
        .bind(r.received_at)
        .execute(&mut *c)
        .await
        .map(|_| ()))
}

type Row = (
    String,
    Option<String>,
    Option<OffsetDateTime>,
    OffsetDateTime,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<OffsetDateTime>,
    Option<String>,
    i64,
    OffsetDateTime,
);

/// Every row of `edge_report`, by edge id.
pub async fn read_rows(db: &Database) -> Result<Vec<EdgeRow>, StoreError> {
    let mut tx = Tx::begin(db).await?;
    let rows: Vec<Row> = with_tx!(&mut tx, c => sqlx::query_as(
        "SELECT edge_id, software_version, started_at, reported_at, \
         CAST(manifest_serial AS BIGINT), CAST(snapshot_version AS BIGINT), snapshot_sha256, \
         loaded_at, last_error, CAST(rejected_loads AS BIGINT), received_at \
         FROM edge_report ORDER BY edge_id")
        .fetch_all(&mut *c).await)?;
    tx.rollback().await?;
    Ok(rows
        .into_iter()
        .map(|r| EdgeRow {
            edge_id: r.0,
            software_version: r.1,
            started_at: r.2,
            reported_at: r.3,
            manifest_serial: r.4,
            snapshot_version: r.5,
            snapshot_sha256: r.6,
            loaded_at: r.7,
            last_error: r.8,
            rejected_loads: r.9,
            received_at: r.10,
        })
        .collect())
}

/// The state of each row at `now`, against the current manifest's version.
pub fn classify(
    rows: Vec<EdgeRow>,
    now: OffsetDateTime,
    stale_after: Duration,
    current_version: Option<u64>,
) -> Vec<EdgeStatus> {
    rows.into_iter()
        .map(|row| {
            let state = if now - row.received_at <= stale_after {
                EdgeState::Fresh
            } else {
                EdgeState::Stale
            };
            let behind = state == EdgeState::Fresh
                && current_version
                    .is_some_and(|v| row.snapshot_version.map(|s| s as u64) != Some(v));
            EdgeStatus { row, state, behind }
        })
        .collect()
}

/// The gauges' values.
pub fn counts(edges: &[EdgeStatus]) -> EdgeCounts {
    let mut c = EdgeCounts::default();
    for e in edges {
        match e.state {
            EdgeState::Fresh => c.fresh += 1,
            EdgeState::Stale => c.stale += 1,
        }
        c.behind += u64::from(e.behind);
    }
    c
}

/// One poll with a new [`EdgePoller`] (no memory of earlier polls: every report is read):
/// for `mirrorfleet snapshot list` and tests.
pub async fn poll_once(
    db: &Database,
    store: &StoreHandle,
    settings: EdgeSettings,
) -> anyhow::Result<PollReport> {
    EdgePoller::new(db.clone(), store.clone(), settings)
        .poll()
        .await
}

/// The edge-report job of `mirrorfleet serve`: a poll every `poll_interval`, the gauges set
/// after each; returns when `shutdown` turns true (a poll under way finishes first). A store
/// or database failure is logged once until a poll succeeds again; the gauges then follow the
/// table alone, so edges turn stale rather than stay fresh while the store is unreadable.
pub async fn run(
    mut poller: EdgePoller,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut failing = false;
    loop {
        if *shutdown.borrow() {
            return;
        }
        match poller.poll().await {
            Ok(report) => {
                metrics.set_edges(&report.counts);
                if failing {
                    tracing::info!("edge reports are read again");
                    failing = false;
                }
            }
            Err(e) => {
                if !failing {
                    tracing::error!("cannot poll edge reports: {e:#}");
                    failing = true;
                }
                if let Ok(edges) = poller.status().await {
                    metrics.set_edges(&counts(&edges));
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(poller.settings.poll_interval) => {}
            changed = shutdown.changed() => {
                if changed.is_err() {
                    return; // the server is gone
                }
            }
        }
    }
}

/// `snapshot list`: the line under `version` naming the edges that serve it, stale ones
/// marked; `None` when no edge does.
pub fn serving_line(edges: &[EdgeStatus], version: u64) -> Option<String> {
    let names: Vec<String> = edges
        .iter()
        .filter(|e| e.row.snapshot_version.map(|v| v as u64) == Some(version))
        .map(describe)
        .collect();
    (!names.is_empty()).then(|| format!("          edges: {}", names.join(", ")))
}

/// `snapshot list`: the closing lines: edges serving no listed version (none loaded, or a
/// version missing from the log) and the counts.
pub fn summary_lines(edges: &[EdgeStatus], listed: &BTreeSet<u64>) -> Vec<String> {
    let mut lines = Vec::new();
    let others: Vec<String> = edges
        .iter()
        .filter(|e| {
            !e.row
                .snapshot_version
                .is_some_and(|v| listed.contains(&(v as u64)))
        })
        .map(|e| match e.row.snapshot_version {
            Some(v) => format!("{} (version {v})", describe(e)),
            None => format!("{} (no snapshot loaded)", describe(e)),
        })
        .collect();
    if !others.is_empty() {
        lines.push(format!(
            "edges serving no listed version: {}",
            others.join(", ")
        ));
    }
    let c = counts(edges);
    lines.push(if edges.is_empty() {
        "edges: none has reported (edges/ in the store is empty)".to_string()
    } else {
        format!(
            "edges: {} fresh, {} stale; {} behind the manifest",
            c.fresh, c.stale, c.behind
        )
    });
    lines
}

/// `id`, or `id (stale, last report 2026-11-25T10:00:03Z)`.
fn describe(e: &EdgeStatus) -> String {
    match e.state {
        EdgeState::Fresh => e.row.edge_id.clone(),
        EdgeState::Stale => format!(
            "{} (stale, last report {})",
            e.row.edge_id,
            e.row
                .received_at
                .replace_nanosecond(0)
                .ok()
                .and_then(|t| t.format(&Rfc3339).ok())
                .unwrap_or_default()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, version: Option<i64>, age_s: i64, now: OffsetDateTime) -> EdgeRow {
        EdgeRow {
            edge_id: id.into(),
            software_version: None,
            started_at: None,
            reported_at: now,
            manifest_serial: None,
            snapshot_version: version,
            snapshot_sha256: None,
            loaded_at: None,
            last_error: None,
            rejected_loads: 0,
            received_at: now - time::Duration::seconds(age_s),
        }
    }

    #[test]
    fn fresh_stale_behind() {
        let now = OffsetDateTime::now_utc();
        let rows = vec![
            row("a", Some(5), 10, now),
            row("b", Some(4), 10, now),
            row("c", None, 10, now),
            row("d", Some(4), 301, now),
            row("e", Some(6), 300, now),
        ];
        let s = classify(rows.clone(), now, Duration::from_secs(300), Some(5));
        let states: Vec<_> = s.iter().map(|e| (e.state, e.behind)).collect();
        assert_eq!(
            states,
            [
                (EdgeState::Fresh, false),
                (EdgeState::Fresh, true),
                (EdgeState::Fresh, true),
                (EdgeState::Stale, false),
                (EdgeState::Fresh, true),
            ]
        );
        assert_eq!(
            counts(&s),
            EdgeCounts {
                fresh: 4,
                stale: 1,
                behind: 3
            }
        );
        // Nothing published: nobody is behind.
        let s = classify(rows, now, Duration::from_secs(300), None);
        assert_eq!(counts(&s).behind, 0);
        assert_eq!(serving_line(&s, 4).unwrap().trim(), {
            let t = (now - time::Duration::seconds(301))
                .replace_nanosecond(0)
                .unwrap()
                .format(&Rfc3339)
                .unwrap();
            format!("edges: b, d (stale, last report {t})")
        });
        assert_eq!(serving_line(&s, 7), None);
        let listed: BTreeSet<u64> = [4, 5].into();
        assert_eq!(
            summary_lines(&s, &listed),
            [
                "edges serving no listed version: c (no snapshot loaded), e (version 6)",
                "edges: 4 fresh, 1 stale; 0 behind the manifest"
            ]
        );
    }

    fn report_json(edge_id: &str) -> serde_json::Value {
        serde_json::json!({
            "format": "mirrorfleet-edge-report", "format_version": 1, "edge_id": edge_id,
            "software_version": "0.1.0", "started_at": "2026-11-25T10:00:00Z",
            "reported_at": "2026-11-25T10:01:00Z", "manifest_serial": 3,
            "snapshot_version": 7, "snapshot_sha256": "a".repeat(64),
            "loaded_at": "2026-11-25T10:00:01Z", "last_error": null, "rejected_loads": 0
        })
    }

    #[test]
    fn report_rules() {
        let now = OffsetDateTime::now_utc();
        let ok = serde_json::to_vec(&report_json("e1")).unwrap();
        let r = parse_report("e1", &ok, now).unwrap();
        assert_eq!((r.snapshot_version, r.manifest_serial), (Some(7), Some(3)));
        assert_eq!(r.received_at, now);
        let err = |v: serde_json::Value| {
            parse_report("e1", &serde_json::to_vec(&v).unwrap(), now).unwrap_err()
        };
        assert!(
            parse_report("e2", &ok, now)
                .unwrap_err()
                .contains("differs from its file name")
        );
        assert!(
            parse_report("e1", b"{", now)
                .unwrap_err()
                .contains("not an edge report")
        );
        let mut v = report_json("e1");
        v["format"] = "mirrorfleet-edge-stats".into();
        assert!(err(v).contains("format"));
        let mut v = report_json("e1");
        v["format_version"] = 2.into();
        assert!(err(v).contains("format_version 2"));
        let mut v = report_json("e1");
        v["reported_at"] = "yesterday".into();
        assert!(err(v).contains("reported_at"));
        let mut v = report_json("e1");
        v["snapshot_sha256"] = "ABC".into();
        assert!(err(v).contains("snapshot_sha256"));
        let mut v = report_json("e1");
        v["snapshot_version"] = u64::MAX.into();
        assert!(err(v).contains("out of range"));
    }
}
