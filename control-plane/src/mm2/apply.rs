//! The import's one transaction on the target database (control-plane.md §8.1): the source
//! check (`meta.mm2_source`, `--replace`), the kept ids of sites and hosts, the inventory
//! reconciliation shared with `import inventory`, then what the inventory cannot carry
//! (password hashes, crawl times, directory metadata, names, users, statistics), the
//! sequences, the change list and the generation. All or nothing; a dry run rolls back.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use time::{Date, OffsetDateTime};

use super::changes::{self, Changes};
use super::convert::{Converted, RepoKey, relative_to};
use super::password;
use crate::config::Argon2Section;
use crate::db::Database;
use crate::inventory::Inventory;
use crate::store::import::reconcile_in;
use crate::store::{StoreError, Tx};
use crate::with_tx;

/// Why the transaction did not complete.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The target holds data of no or another MirrorManager2 source.
    #[error(
        "the database holds content or mirror data {}; importing {source_label} would mix them. \
         Use --replace to delete that data first",
        match .recorded { Some(s) => format!("imported from another MirrorManager2 ({s})"),
                          None => "not imported from MirrorManager2".to_string() }
    )]
    ForeignData {
        recorded: Option<String>,
        source_label: String,
    },
    #[error(transparent)]
    Hash(#[from] password::HashError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for ApplyError {
    fn from(e: sqlx::Error) -> Self {
        ApplyError::Store(StoreError::Query(e))
    }
}

/// How to apply.
pub struct ApplyOptions<'a> {
    pub dry_run: bool,
    pub replace: bool,
    /// What `meta.mm2_source` records.
    pub source_label: &'a str,
    pub argon2: &'a Argon2Section,
    pub now: OffsetDateTime,
}

/// What the transaction did (or, in a dry run, would do).
#[derive(Clone, Debug, Default)]
pub struct Applied {
    pub changes: Changes,
    pub generation_before: i64,
    pub generation_after: i64,
    /// `--replace` deleted earlier data first.
    pub replaced: bool,
}

/// The `auto_disabled_at` of every host (the conversion keeps an existing time).
pub async fn existing_auto_disabled(
    db: &Database,
) -> Result<HashMap<i64, OffsetDateTime>, StoreError> {
    let mut tx = Tx::begin_read(db).await?;
    let rows: Vec<(i64, OffsetDateTime)> = with_tx!(&mut tx, c => sqlx::query_as(
        "SELECT id, auto_disabled_at FROM host WHERE auto_disabled_at IS NOT NULL",
    )
    .fetch_all(&mut *c)
    .await?);
    tx.rollback().await?;
    Ok(rows.into_iter().collect())
}

/// Runs the import's transaction: `conv` from the source, `inv` its validated inventory.
pub async fn apply(
    db: &Database,
    conv: &Converted,
    inv: &Inventory,
    opts: &ApplyOptions<'_>,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<Applied, ApplyError> {
    let mut tx = Tx::begin(db).await?;
    let meta: Option<(i64, Option<String>)> = with_tx!(&mut tx, c => sqlx::query_as(
        // A write first: SQLite's write lock at once, PostgreSQL's row lock on meta.
        "UPDATE meta SET generation = generation WHERE id = 1 \
         RETURNING CAST(generation AS BIGINT), mm2_source",
    )
    .fetch_optional(&mut *c)
    .await?);
    let Some((generation_before, recorded)) = meta else {
        return Err(StoreError::NotInitialised.into());
    };
    let has_data: bool = with_tx!(&mut tx, c => sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM product) OR EXISTS (SELECT 1 FROM directory) \
         OR EXISTS (SELECT 1 FROM site) OR EXISTS (SELECT 1 FROM repository_redirect) \
         OR EXISTS (SELECT 1 FROM netblock_country)",
    )
    .fetch_one(&mut *c)
    .await?);
    if has_data && recorded.as_deref() != Some(opts.source_label) && !opts.replace {
        return Err(ApplyError::ForeignData {
            recorded,
            source_label: opts.source_label.to_string(),
        });
    }
    progress("reading the database as it is");
    let before = changes::read_state(&mut tx).await?;
    let hashes: HashMap<i64, String> = with_tx!(&mut tx, c => sqlx::query_as(
        "SELECT id, legacy_checkin_password FROM site WHERE legacy_checkin_password IS NOT NULL",
    )
    .fetch_all(&mut *c)
    .await?)
    .into_iter()
    .collect();
    let replaced = opts.replace && has_data;
    if replaced {
        progress("--replace: deleting the content and mirror data first");
        for table in [
            "site",
            "product",
            "directory",
            "repository_redirect",
            "disabled_repository",
            "continent_override",
            "netblock_country",
            "access_stat",
        ] {
            with_tx!(&mut tx, c => sqlx::query(&format!("DELETE FROM {table}"))
                .execute(&mut *c)
                .await?
                .rows_affected());
        }
    }
    pin_sites(&mut tx, conv).await?;
    pin_hosts(&mut tx, conv).await?;
    progress("reconciling to the converted inventory");
    let (mut tx, _report) = reconcile_in(tx, inv, progress).await?;
    progress("sites, hosts and directories: what the inventory does not carry");
    users(&mut tx, conv).await?;
    site_extras(&mut tx, conv, &hashes, opts).await?;
    host_extras(&mut tx, conv).await?;
    directory_extras(&mut tx, conv).await?;
    recorded_at(&mut tx).await?;
    names(&mut tx, conv).await?;
    statistics(&mut tx, conv).await?;
    if let Tx::Postgres(_) = &tx {
        for table in ["site", "host"] {
            with_tx!(&mut tx, c => sqlx::query(&format!(
                "SELECT setval(pg_get_serial_sequence('{table}', 'id'), \
                 coalesce((SELECT max(id) FROM {table}), 0) + 1, false)"
            ))
            .execute(&mut *c)
            .await?
            .rows_affected());
        }
    }
    progress("comparing the database with what it was");
    let after = changes::read_state(&mut tx).await?;
    let changes = changes::diff(&before, &after);
    let generation_after = generation_before + i64::from(changes.selection);
    if generation_after != generation_before
        || !changes.is_empty()
        || recorded.as_deref() != Some(opts.source_label)
    {
        with_tx!(&mut tx, c => sqlx::query(
            "UPDATE meta SET generation = $1, mm2_source = $2, mm2_imported_at = $3 WHERE id = 1",
        )
        .bind(generation_after)
        .bind(opts.source_label)
        .bind(opts.now)
        .execute(&mut *c)
        .await?
        .rows_affected());
    } else {
        // The reconciliation may have bumped the generation for writes that cancel out.
        with_tx!(&mut tx, c => sqlx::query("UPDATE meta SET generation = $1 WHERE id = 1")
            .bind(generation_before)
            .execute(&mut *c)
            .await?
            .rows_affected());
    }
    if opts.dry_run {
        tx.rollback().await?;
    } else {
        tx.commit().await?;
    }
    Ok(Applied {
        changes,
        generation_before,
        generation_after,
        replaced,
    })
}

/// A key no real name has, to step out of a unique constraint while rows swap names.
fn parked(id: i64) -> String {
    format!("\u{1}mm2 {id}")
}

/// Gives every site its MirrorManager2 id: a row holding the wanted name under another id
/// is deleted (MirrorManager2 deleted and re-created it), a row with the wanted id and
/// another name is renamed, missing ones are created; the reconciliation then finds each by
/// name.
async fn pin_sites(tx: &mut Tx, conv: &Converted) -> Result<(), ApplyError> {
    let rows: Vec<(i64, String)> = with_tx!(tx, c => sqlx::query_as(
        "SELECT id, name_key FROM site",
    )
    .fetch_all(&mut *c)
    .await?);
    let by_key: HashMap<String, i64> = rows.iter().map(|(id, k)| (k.clone(), *id)).collect();
    let existing: HashMap<i64, String> = rows.into_iter().collect();
    let mut rename = Vec::new();
    for s in &conv.sites {
        let key = s.name.to_lowercase();
        if let Some(&other) = by_key.get(&key)
            && other != s.id
        {
            with_tx!(tx, c => sqlx::query("DELETE FROM site WHERE id = $1")
                .bind(other)
                .execute(&mut *c)
                .await?
                .rows_affected());
        }
        match existing.get(&s.id) {
            Some(k) if *k == key => {}
            Some(_) => rename.push((s.id, s.name.clone(), key)),
            None => {
                with_tx!(tx, c => sqlx::query(
                    "INSERT INTO site (id, name, name_key) VALUES ($1, $2, $3)",
                )
                .bind(s.id)
                .bind(&s.name)
                .bind(&key)
                .execute(&mut *c)
                .await?
                .rows_affected());
            }
        }
    }
    for (id, ..) in &rename {
        with_tx!(tx, c => sqlx::query("UPDATE site SET name_key = $1 WHERE id = $2")
            .bind(parked(*id))
            .bind(*id)
            .execute(&mut *c)
            .await?
            .rows_affected());
    }
    for (id, name, key) in &rename {
        with_tx!(tx, c => sqlx::query(
            "UPDATE site SET name = $1, name_key = $2, row_version = row_version + 1 WHERE id = $3",
        )
        .bind(name)
        .bind(key)
        .bind(*id)
        .execute(&mut *c)
        .await?
        .rows_affected());
    }
    Ok(())
}

/// [`pin_sites`] for hosts, keyed by (site, name).
async fn pin_hosts(tx: &mut Tx, conv: &Converted) -> Result<(), ApplyError> {
    let rows: Vec<(i64, i64, String)> = with_tx!(tx, c => sqlx::query_as(
        "SELECT id, site_id, name_key FROM host",
    )
    .fetch_all(&mut *c)
    .await?);
    let by_key: HashMap<(i64, String), i64> = rows
        .iter()
        .map(|(id, site, k)| ((*site, k.clone()), *id))
        .collect();
    let existing: HashMap<i64, (i64, String)> = rows
        .into_iter()
        .map(|(id, site, k)| (id, (site, k)))
        .collect();
    let mut moves = Vec::new();
    for h in &conv.hosts {
        let key = (h.site_id, h.name.to_lowercase());
        if let Some(&other) = by_key.get(&key)
            && other != h.id
        {
            with_tx!(tx, c => sqlx::query("DELETE FROM host WHERE id = $1")
                .bind(other)
                .execute(&mut *c)
                .await?
                .rows_affected());
        }
        match existing.get(&h.id) {
            Some(k) if *k == key => {}
            Some(_) => moves.push(h),
            None => {
                with_tx!(tx, c => sqlx::query(
                    "INSERT INTO host (id, site_id, name, name_key, country) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(h.id)
                .bind(h.site_id)
                .bind(&h.name)
                .bind(h.name.to_lowercase())
                .bind(&h.country)
                .execute(&mut *c)
                .await?
                .rows_affected());
            }
        }
    }
    for h in &moves {
        with_tx!(tx, c => sqlx::query("UPDATE host SET name_key = $1 WHERE id = $2")
            .bind(parked(h.id))
            .bind(h.id)
            .execute(&mut *c)
            .await?
            .rows_affected());
    }
    for h in &moves {
        with_tx!(tx, c => sqlx::query(
            "UPDATE host SET site_id = $1, name = $2, name_key = $3, \
             row_version = row_version + 1 WHERE id = $4",
        )
        .bind(h.site_id)
        .bind(&h.name)
        .bind(h.name.to_lowercase())
        .bind(h.id)
        .execute(&mut *c)
        .await?
        .rows_affected());
    }
    Ok(())
}

/// Legacy checkin passwords (a stored hash that still verifies is kept), creation time and
/// creator.
async fn site_extras(
    tx: &mut Tx,
    conv: &Converted,
    hashes: &HashMap<i64, String>,
    opts: &ApplyOptions<'_>,
) -> Result<(), ApplyError> {
    let users: HashMap<String, i64> = with_tx!(tx, c => sqlx::query_as(
        "SELECT username, id FROM users",
    )
    .fetch_all(&mut *c)
    .await?)
    .into_iter()
    .collect();
    let argon = password::hasher(opts.argon2)?;
    for (id, extra) in &conv.extras.sites {
        let hash = match &extra.password {
            None => None,
            Some(p) => match hashes.get(id) {
                Some(old) if password::verifies(old, p) => Some(old.clone()),
                _ => Some(password::hash(&argon, p)?),
            },
        };
        let created_by = extra
            .created_by
            .as_ref()
            .and_then(|u| users.get(u))
            .copied();
        with_tx!(tx, c => sqlx::query(
            "UPDATE site SET legacy_checkin_password = $1, \
             created_at = coalesce($2, created_at), created_by = $3 \
             WHERE id = $4 AND (legacy_checkin_password IS DISTINCT FROM $1 \
             OR created_at IS DISTINCT FROM coalesce($2, created_at) \
             OR created_by IS DISTINCT FROM $3)",
        )
        .bind(&hash)
        .bind(extra.created_at)
        .bind(created_by)
        .bind(*id)
        .execute(&mut *c)
        .await?
        .rows_affected());
    }
    Ok(())
}

/// Check-in and crawl times, crawl duration and failures.
async fn host_extras(tx: &mut Tx, conv: &Converted) -> Result<(), ApplyError> {
    for (id, e) in &conv.extras.hosts {
        with_tx!(tx, c => sqlx::query(
            "UPDATE host SET last_checked_in = $1, last_crawled = $2, \
             last_crawl_duration_ms = $3, crawl_failures = $4 WHERE id = $5 \
             AND (last_checked_in IS DISTINCT FROM $1 OR last_crawled IS DISTINCT FROM $2 \
             OR last_crawl_duration_ms IS DISTINCT FROM $3 OR crawl_failures <> $4)",
        )
        .bind(e.last_checked_in)
        .bind(e.last_crawled)
        .bind(e.last_crawl_duration_ms)
        .bind(e.crawl_failures as i32)
        .bind(*id)
        .execute(&mut *c)
        .await?
        .rows_affected());
    }
    Ok(())
}

/// `readable`, `ctime` and sample files of the directories, where they differ.
async fn directory_extras(tx: &mut Tx, conv: &Converted) -> Result<(), ApplyError> {
    let rows: Vec<(i64, String, bool, i64, serde_json::Value)> = with_tx!(tx, c => sqlx::query_as(
        "SELECT id, name, readable, CAST(ctime AS BIGINT), sample_files FROM directory",
    )
    .fetch_all(&mut *c)
    .await?);
    for (id, name, readable, ctime, samples) in rows {
        let Some(e) = conv.extras.directories.get(&name) else {
            continue;
        };
        if e.readable == readable && e.ctime == ctime && e.sample_files == samples {
            continue;
        }
        with_tx!(tx, c => sqlx::query(
            "UPDATE directory SET readable = $1, ctime = $2, sample_files = $3 WHERE id = $4",
        )
        .bind(e.readable)
        .bind(e.ctime)
        .bind(&e.sample_files)
        .bind(id)
        .execute(&mut *c)
        .await?
        .rows_affected());
    }
    Ok(())
}

/// `recorded_at` of every file detail: its timestamp read as Unix time (control-plane.md
/// §8.2), where it differs.
async fn recorded_at(tx: &mut Tx) -> Result<(), ApplyError> {
    let rows: Vec<(i64, i64, OffsetDateTime)> = with_tx!(tx, c => sqlx::query_as(
        "SELECT id, timestamp, recorded_at FROM file_detail",
    )
    .fetch_all(&mut *c)
    .await?);
    for (id, timestamp, at) in rows {
        let want =
            OffsetDateTime::from_unix_timestamp(timestamp).unwrap_or(OffsetDateTime::UNIX_EPOCH);
        if want == at {
            continue;
        }
        with_tx!(tx, c => sqlx::query("UPDATE file_detail SET recorded_at = $1 WHERE id = $2")
            .bind(want)
            .bind(id)
            .execute(&mut *c)
            .await?
            .rows_affected());
    }
    Ok(())
}

/// Names (labels) of netblocks and peer ASNs.
async fn names(tx: &mut Tx, conv: &Converted) -> Result<(), ApplyError> {
    let rows: Vec<(i64, i64, String, Option<String>)> = with_tx!(tx, c => sqlx::query_as(
        "SELECT id, host_id, value, name FROM host_netblock",
    )
    .fetch_all(&mut *c)
    .await?);
    for (id, host, value, name) in rows {
        let want = conv.extras.netblock_names.get(&(host, value));
        if want == name.as_ref() {
            continue;
        }
        with_tx!(tx, c => sqlx::query("UPDATE host_netblock SET name = $1 WHERE id = $2")
            .bind(want)
            .bind(id)
            .execute(&mut *c)
            .await?
            .rows_affected());
    }
    let rows: Vec<(i64, i64, i64, Option<String>)> = with_tx!(tx, c => sqlx::query_as(
        "SELECT id, host_id, asn, name FROM host_peer_asn",
    )
    .fetch_all(&mut *c)
    .await?);
    for (id, host, asn, name) in rows {
        let want = u32::try_from(asn)
            .ok()
            .and_then(|a| conv.extras.peer_asn_names.get(&(host, a)));
        if want == name.as_ref() {
            continue;
        }
        with_tx!(tx, c => sqlx::query("UPDATE host_peer_asn SET name = $1 WHERE id = $2")
            .bind(want)
            .bind(id)
            .execute(&mut *c)
            .await?
            .rows_affected());
    }
    Ok(())
}

/// `mm_user` → users: created without a password, email and display name kept in step, made
/// administrators by `--admin-group` (never unmade: an import does not revoke rights given
/// here). Users are never deleted.
async fn users(tx: &mut Tx, conv: &Converted) -> Result<(), ApplyError> {
    let Some(list) = &conv.extras.users else {
        return Ok(());
    };
    type Row = (i64, String, Option<String>, Option<String>, bool);
    let rows: Vec<Row> = with_tx!(tx, c => sqlx::query_as(
        "SELECT id, username, email_key, display_name, is_admin FROM users",
    )
    .fetch_all(&mut *c)
    .await?);
    let mut emails: HashMap<String, String> = rows
        .iter()
        .filter_map(|r| Some((r.2.clone()?, r.1.clone())))
        .collect();
    let existing: HashMap<String, Row> = rows.into_iter().map(|r| (r.1.clone(), r)).collect();
    for u in list {
        // An email another user already has is left out rather than failing the import.
        let email = u.email.as_ref().filter(|e| {
            emails
                .get(&e.to_lowercase())
                .is_none_or(|owner| *owner == u.username)
        });
        if let Some(e) = email {
            emails.insert(e.to_lowercase(), u.username.clone());
        }
        let email_key = email.map(|e| e.to_lowercase());
        match existing.get(&u.username) {
            None => {
                with_tx!(tx, c => sqlx::query(
                    "INSERT INTO users (username, email, email_key, display_name, is_admin) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&u.username)
                .bind(email)
                .bind(&email_key)
                .bind(&u.display_name)
                .bind(u.admin)
                .execute(&mut *c)
                .await?
                .rows_affected());
            }
            Some((id, _, key, display, admin)) => {
                if *key != email_key || *display != u.display_name || (u.admin && !admin) {
                    with_tx!(tx, c => sqlx::query(
                        "UPDATE users SET email = $1, email_key = $2, display_name = $3, \
                         is_admin = (is_admin OR $4), row_version = row_version + 1 WHERE id = $5",
                    )
                    .bind(email)
                    .bind(&email_key)
                    .bind(&u.display_name)
                    .bind(u.admin)
                    .bind(*id)
                    .execute(&mut *c)
                    .await?
                    .rows_affected());
                }
            }
        }
    }
    Ok(())
}

/// Access and propagation statistics, reconciled to the source (when read).
async fn statistics(tx: &mut Tx, conv: &Converted) -> Result<(), ApplyError> {
    if let Some(wanted) = &conv.extras.access_stats {
        let rows: Vec<(Date, String, String, i64)> = with_tx!(tx, c => sqlx::query_as(
            "SELECT day, dimension, key, CAST(requests AS BIGINT) FROM access_stat",
        )
        .fetch_all(&mut *c)
        .await?);
        let mut have: BTreeMap<(Date, String, String), i64> = rows
            .into_iter()
            .map(|(d, dim, k, n)| ((d, dim, k), n))
            .collect();
        for ((day, dimension, key), requests) in wanted {
            let k = (*day, dimension.to_string(), key.clone());
            match have.remove(&k) {
                Some(n) if n == *requests => {}
                Some(_) => {
                    with_tx!(tx, c => sqlx::query(
                        "UPDATE access_stat SET requests = $1 \
                         WHERE day = $2 AND dimension = $3 AND key = $4",
                    )
                    .bind(*requests)
                    .bind(*day)
                    .bind(*dimension)
                    .bind(key)
                    .execute(&mut *c)
                    .await?
                    .rows_affected());
                }
                None => {
                    with_tx!(tx, c => sqlx::query(
                        "INSERT INTO access_stat (day, dimension, key, requests) \
                         VALUES ($1, $2, $3, $4)",
                    )
                    .bind(*day)
                    .bind(*dimension)
                    .bind(key)
                    .bind(*requests)
                    .execute(&mut *c)
                    .await?
                    .rows_affected());
                }
            }
        }
        for (day, dimension, key) in have.into_keys() {
            with_tx!(tx, c => sqlx::query(
                "DELETE FROM access_stat WHERE day = $1 AND dimension = $2 AND key = $3",
            )
            .bind(day)
            .bind(&dimension)
            .bind(&key)
            .execute(&mut *c)
            .await?
            .rows_affected());
        }
    }
    if let Some(wanted) = &conv.extras.propagation_stats {
        type RepoRow = (i64, Option<String>, String, String, String, Option<String>);
        let repos: Vec<RepoRow> = with_tx!(tx, c => sqlx::query_as(
            "SELECT r.id, r.prefix, a.name, c.name, c.topdir, d.name FROM repository r \
             JOIN arch a ON a.id = r.arch_id JOIN category c ON c.id = r.category_id \
             LEFT JOIN directory d ON d.id = r.directory_id",
        )
        .fetch_all(&mut *c)
        .await?);
        let ids: HashMap<RepoKey, i64> = repos
            .into_iter()
            .map(|(id, prefix, arch, category, topdir, dir)| {
                let key = match prefix {
                    Some(prefix) => RepoKey::Mapped { prefix, arch },
                    None => RepoKey::Unmapped {
                        category,
                        dir: dir
                            .as_deref()
                            .and_then(|d| relative_to(&topdir, d))
                            .map(str::to_string),
                    },
                };
                (key, id)
            })
            .collect();
        type StatRow = (i64, OffsetDateTime, i64, i64, i64, i64, i64);
        let rows: Vec<StatRow> = with_tx!(tx, c => sqlx::query_as(
            "SELECT repository_id, run_at, CAST(same_day AS BIGINT), CAST(one_day AS BIGINT), \
             CAST(two_day AS BIGINT), CAST(older AS BIGINT), CAST(no_info AS BIGINT) \
             FROM propagation_stat",
        )
        .fetch_all(&mut *c)
        .await?);
        let mut have: BTreeMap<(i64, OffsetDateTime), [i64; 5]> = rows
            .into_iter()
            .map(|(r, t, a, b, c, d, e)| ((r, t), [a, b, c, d, e]))
            .collect();
        let mut seen = BTreeSet::new();
        for p in wanted {
            let Some(&repo) = ids.get(&p.repository) else {
                continue;
            };
            if !seen.insert((repo, p.run_at)) {
                continue;
            }
            let n = p.counts.map(|x| i32::try_from(x).unwrap_or(i32::MAX));
            let sql = match have.remove(&(repo, p.run_at)) {
                Some(old) if old == p.counts => continue,
                Some(_) => {
                    "UPDATE propagation_stat SET same_day = $3, one_day = $4, two_day = $5, \
                     older = $6, no_info = $7 WHERE repository_id = $1 AND run_at = $2"
                }
                None => {
                    "INSERT INTO propagation_stat (repository_id, run_at, same_day, one_day, \
                     two_day, older, no_info) VALUES ($1, $2, $3, $4, $5, $6, $7)"
                }
            };
            with_tx!(tx, c => sqlx::query(sql)
                .bind(repo)
                .bind(p.run_at)
                .bind(n[0])
                .bind(n[1])
                .bind(n[2])
                .bind(n[3])
                .bind(n[4])
                .execute(&mut *c)
                .await?
                .rows_affected());
        }
        for (repo, at) in have.into_keys() {
            with_tx!(tx, c => sqlx::query(
                "DELETE FROM propagation_stat WHERE repository_id = $1 AND run_at = $2",
            )
            .bind(repo)
            .bind(at)
            .execute(&mut *c)
            .await?
            .rows_affected());
        }
    }
    Ok(())
}
