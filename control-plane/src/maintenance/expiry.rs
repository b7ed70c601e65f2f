//! Expiry: `expire-stats [--propagation-days N] [--access-days N] [--countme-days N]`
//! (control-plane.md §9) and the daily job of `mirrorfleet serve` that runs it with the other
//! expiries: sessions, password reset links and crawl logs.
//!
//! Statistics older than the limits are deleted (defaults from `[stats]`; 0 keeps a kind
//! forever): `propagation_stat` and `propagation_host` by `run_at`/`checked_at` older than
//! N × 24 h, `access_stat` by `day` and `countme_stat` by `week` (its Monday) before the UTC
//! date N days ago. None of this is selection data: no generation bump, no publish
//! (control-plane-decisions.md D20). A table the schema does not have (yet) is skipped and
//! said so.
//!
//! The other expiries are housekeeping, logged but not audited: sessions past `expires_at` or
//! idle longer than `auth.session_idle`; reset links past `expires_at`; crawl logs
//! (`host_crawl.log`) older than `crawler.keep_logs_days`, keeping those of each host's last
//! 10 runs (control-plane.md §5.8); the crawl records themselves stay.

use std::fmt;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime};
use tokio::sync::watch;

use super::{Event, MaintenanceError, Operation};
use crate::config::Config;
use crate::db::{Backend, Database};
use crate::store::Tx;
use crate::with_tx;

/// How long statistics are kept, in days; 0 keeps them forever.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatsLimits {
    /// `stats.propagation_keep_days` (30).
    pub propagation_days: u32,
    /// `stats.access_keep_days` (90).
    pub access_days: u32,
    /// `stats.countme_keep_days` (0: forever).
    pub countme_days: u32,
}

impl Default for StatsLimits {
    fn default() -> Self {
        StatsLimits {
            propagation_days: 30,
            access_days: 90,
            countme_days: 0,
        }
    }
}

impl StatsLimits {
    /// The `[stats]` limits of `config`.
    pub fn from_config(config: &Config) -> StatsLimits {
        StatsLimits {
            propagation_days: config.stats.propagation_keep_days,
            access_days: config.stats.access_keep_days,
            countme_days: config.stats.countme_keep_days,
        }
    }
}

/// What expiry did to one table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Expired {
    pub table: &'static str,
    /// The rows it chose, e.g. `day before 2026-08-27`; for a table left alone, why.
    pub rule: String,
    /// Rows deleted (or logs cleared); `None` for a table left alone.
    pub rows: Option<u64>,
}

/// What an expiry run did (or, in a dry run, would do).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ExpiryReport {
    pub tables: Vec<Expired>,
    pub dry_run: bool,
}

impl ExpiryReport {
    /// Rows deleted from `table` (0 when it was left alone).
    pub fn rows(&self, table: &str) -> u64 {
        self.tables
            .iter()
            .filter(|t| t.table == table)
            .filter_map(|t| t.rows)
            .sum()
    }

    /// Rows deleted in all.
    pub fn total(&self) -> u64 {
        self.tables.iter().filter_map(|t| t.rows).sum()
    }
}

impl fmt::Display for ExpiryReport {
    /// One line per table, then whether anything was written.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for t in &self.tables {
            match t.rows {
                Some(n) => writeln!(f, "- {}: {n} rows ({})", t.table, t.rule)?,
                None => writeln!(f, "= {}: {}", t.table, t.rule)?,
            }
        }
        if self.dry_run {
            write!(f, "dry run: nothing written")
        } else {
            write!(f, "{} rows deleted", self.total())
        }
    }
}

/// `column` before the bound time `$n`. SQLite keeps times as RFC 3339 text, written by
/// the database (`…T…:SS.fffZ`) and by sqlx (`…:SS.fffffffffZ`, `…:SSZ`): compared as text,
/// `:05Z` would sort after `:05.5Z`, so both sides go through `julianday`.
fn time_before(backend: Backend, column: &str, n: u8) -> String {
    match backend {
        Backend::Sqlite => format!("julianday({column}) < julianday(${n})"),
        Backend::Postgres => format!("{column} < ${n}"),
    }
}

async fn table_exists(tx: &mut Tx, table: &str) -> Result<bool, sqlx::Error> {
    match tx {
        Tx::Sqlite(t) => {
            sqlx::query_scalar(
                "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = $1",
            )
            .bind(table)
            .fetch_one(&mut **t)
            .await
        }
        Tx::Postgres(t) => {
            sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
                .bind(table)
                .fetch_one(&mut **t)
                .await
        }
    }
}

/// A time or a date to bind.
#[derive(Clone, Copy)]
enum Bound {
    Time(OffsetDateTime),
    Date(Date),
}

/// Runs `sql` (a DELETE or UPDATE binding `bounds` as `$1`, `$2`, …) when `table` exists,
/// recording the rows it touched under `rule`.
async fn expire_table(
    tx: &mut Tx,
    report: &mut ExpiryReport,
    table: &'static str,
    rule: String,
    sql: &str,
    bounds: &[Bound],
) -> Result<(), sqlx::Error> {
    if !table_exists(tx, table).await? {
        report.tables.push(Expired {
            table,
            rule: "no such table in this schema; skipped".into(),
            rows: None,
        });
        return Ok(());
    }
    let rows = with_tx!(tx, c => {
        let mut q = sqlx::query(sql);
        for b in bounds {
            q = match *b {
                Bound::Time(t) => q.bind(t),
                Bound::Date(d) => q.bind(d),
            };
        }
        q.execute(&mut *c).await?.rows_affected()
    });
    report.tables.push(Expired {
        table,
        rule,
        rows: Some(rows),
    });
    Ok(())
}

/// `t` as RFC 3339 to the second, for messages.
fn rfc3339(t: OffsetDateTime) -> String {
    let t = t.replace_nanosecond(0).unwrap_or(t);
    t.format(&Rfc3339).unwrap_or_else(|_| t.to_string())
}

fn days(n: u32) -> time::Duration {
    time::Duration::days(i64::from(n))
}

/// Deletes the statistics older than `limits` at `now`, in one transaction (rolled back
/// with `dry_run`); audited as `actor` (one `statistics.expire` event) when rows went.
pub async fn expire_stats(
    db: &Database,
    limits: StatsLimits,
    now: OffsetDateTime,
    dry_run: bool,
    actor: &str,
) -> Result<ExpiryReport, MaintenanceError> {
    let backend = db.backend();
    let mut op = Operation::begin(db, dry_run).await?;
    let mut report = ExpiryReport {
        dry_run,
        ..ExpiryReport::default()
    };
    let forever = |table, flag: &str| Expired {
        table,
        rule: format!("kept forever ({flag} 0)"),
        rows: None,
    };
    if limits.propagation_days == 0 {
        report
            .tables
            .push(forever("propagation_stat", "propagation days"));
        report
            .tables
            .push(forever("propagation_host", "propagation days"));
    } else {
        let before = now - days(limits.propagation_days);
        let text = rfc3339(before);
        for (table, column) in [
            ("propagation_stat", "run_at"),
            ("propagation_host", "checked_at"),
        ] {
            let sql = format!(
                "DELETE FROM {table} WHERE {}",
                time_before(backend, column, 1)
            );
            let rule = format!("{column} before {text}");
            expire_table(
                &mut op.tx,
                &mut report,
                table,
                rule,
                &sql,
                &[Bound::Time(before)],
            )
            .await?;
        }
    }
    for (table, column, limit, flag) in [
        ("access_stat", "day", limits.access_days, "access days"),
        ("countme_stat", "week", limits.countme_days, "countme days"),
    ] {
        if limit == 0 {
            report.tables.push(forever(table, flag));
            continue;
        }
        let before = (now - days(limit)).date();
        let sql = format!("DELETE FROM {table} WHERE {column} < $1");
        let rule = format!("{column} before {before}");
        expire_table(
            &mut op.tx,
            &mut report,
            table,
            rule,
            &sql,
            &[Bound::Date(before)],
        )
        .await?;
    }
    if report.total() > 0 {
        let changes: serde_json::Map<String, Value> = report
            .tables
            .iter()
            .filter_map(|t| {
                let rows = t.rows.filter(|&n| n > 0)?;
                Some((
                    t.table.to_string(),
                    json!({"deleted": rows, "rule": t.rule}),
                ))
            })
            .collect();
        op.event(Event {
            action: "statistics.expire",
            object_type: "statistics",
            object_id: None,
            site_id: None,
            changes: Value::Object(changes),
        });
    }
    op.finish(actor).await?;
    Ok(report)
}

/// The limits of the housekeeping expiries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HousekeepingLimits {
    /// `auth.session_idle` (12 h): a session not seen for longer is gone.
    pub session_idle: Duration,
    /// `crawler.keep_logs_days` (14).
    pub crawl_log_days: u32,
}

impl Default for HousekeepingLimits {
    fn default() -> Self {
        HousekeepingLimits {
            session_idle: Duration::from_secs(12 * 3600),
            crawl_log_days: 14,
        }
    }
}

/// Crawl logs of each host's newest runs are kept whatever their age (control-plane.md §5.8).
pub const KEEP_CRAWL_LOGS: u32 = 10;

/// Deletes expired sessions and reset links and clears old crawl logs, in one transaction
/// (rolled back with `dry_run`). Not audited: housekeeping, logged by the caller.
pub async fn expire_housekeeping(
    db: &Database,
    limits: HousekeepingLimits,
    now: OffsetDateTime,
    dry_run: bool,
) -> Result<ExpiryReport, MaintenanceError> {
    let backend = db.backend();
    let mut tx = Tx::begin(db).await?;
    let mut report = ExpiryReport {
        dry_run,
        ..ExpiryReport::default()
    };
    let idle = now - limits.session_idle;
    let sql = format!(
        "DELETE FROM sessions WHERE {} OR {}",
        time_before(backend, "expires_at", 1),
        time_before(backend, "last_seen_at", 2)
    );
    let rule = format!(
        "expires_at before now, or last_seen_at before {}",
        rfc3339(idle)
    );
    expire_table(
        &mut tx,
        &mut report,
        "sessions",
        rule,
        &sql,
        &[Bound::Time(now), Bound::Time(idle)],
    )
    .await?;
    let sql = format!(
        "DELETE FROM password_reset WHERE {}",
        time_before(backend, "expires_at", 1)
    );
    expire_table(
        &mut tx,
        &mut report,
        "password_reset",
        "expires_at before now".into(),
        &sql,
        &[Bound::Time(now)],
    )
    .await?;
    if limits.crawl_log_days == 0 {
        report.tables.push(Expired {
            table: "host_crawl",
            rule: "logs kept forever (crawler.keep_logs_days 0)".into(),
            rows: None,
        });
    } else {
        let before = now - days(limits.crawl_log_days);
        let sql = format!(
            "UPDATE host_crawl SET log = NULL, log_encoding = NULL \
             WHERE log IS NOT NULL AND {} AND id NOT IN (\
               SELECT id FROM (SELECT id, row_number() OVER (\
                 PARTITION BY host_id ORDER BY started_at DESC, id DESC) AS n \
               FROM host_crawl) AS ranked WHERE ranked.n <= {KEEP_CRAWL_LOGS})",
            time_before(backend, "started_at", 1)
        );
        let rule = format!(
            "logs cleared: started_at before {}, except each host's last {KEEP_CRAWL_LOGS} runs",
            rfc3339(before)
        );
        expire_table(
            &mut tx,
            &mut report,
            "host_crawl",
            rule,
            &sql,
            &[Bound::Time(before)],
        )
        .await?;
    }
    if dry_run {
        tx.rollback().await?;
    } else {
        tx.commit().await?;
    }
    Ok(report)
}

/// The daily expiry job of `mirrorfleet serve`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExpirySettings {
    /// Time between runs (one day); the first run is at start.
    pub interval: Duration,
    /// After a failed run, the next try (an hour).
    pub retry: Duration,
    pub stats: StatsLimits,
    pub housekeeping: HousekeepingLimits,
}

impl Default for ExpirySettings {
    fn default() -> Self {
        ExpirySettings {
            interval: Duration::from_secs(24 * 3600),
            retry: Duration::from_secs(3600),
            stats: StatsLimits::default(),
            housekeeping: HousekeepingLimits::default(),
        }
    }
}

impl ExpirySettings {
    /// The limits of `config`: `[stats]`, `auth.session_idle`, `crawler.keep_logs_days`.
    pub fn from_config(config: &Config) -> ExpirySettings {
        ExpirySettings {
            stats: StatsLimits::from_config(config),
            housekeeping: HousekeepingLimits {
                session_idle: config.auth.session_idle,
                crawl_log_days: config.crawler.keep_logs_days,
            },
            ..ExpirySettings::default()
        }
    }
}

/// The actor of the audit events `serve`'s own jobs write.
pub const SERVE_ACTOR: &str = "serve";

/// One run of the daily job: statistics, then housekeeping; each logged.
pub async fn run_once(db: &Database, settings: &ExpirySettings) -> Result<(), MaintenanceError> {
    let now = OffsetDateTime::now_utc();
    let stats = expire_stats(db, settings.stats, now, false, SERVE_ACTOR).await?;
    let housekeeping = expire_housekeeping(db, settings.housekeeping, now, false).await?;
    for t in stats.tables.iter().chain(&housekeeping.tables) {
        if let Some(rows) = t.rows.filter(|&n| n > 0) {
            tracing::info!(table = t.table, rows, rule = %t.rule, "expired");
        }
    }
    tracing::debug!(
        rows = stats.total() + housekeeping.total(),
        "daily expiry done"
    );
    Ok(())
}

/// Runs [`run_once`] at start and then every `settings.interval` (after a failure, again
/// after `settings.retry`) until `shutdown` turns true; a run under way finishes first.
pub async fn run(db: Database, settings: ExpirySettings, mut shutdown: watch::Receiver<bool>) {
    loop {
        let wait = match run_once(&db, &settings).await {
            Ok(()) => settings.interval,
            Err(e) => {
                tracing::error!(
                    "daily expiry failed: {e}; next try in {} s",
                    settings.retry.as_secs()
                );
                settings.retry
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
    }
}
