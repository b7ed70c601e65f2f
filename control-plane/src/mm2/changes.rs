//! What an import changed, row by row: every table the import writes is read as a canonical
//! view (a key, a label, the fields the import sets) before and after, inside the import's
//! transaction, and the two are compared. That gives the `--dry-run` lines of
//! control-plane.md §2 (`+ kind key`, `~ kind key: field old → new`, `- kind key`), the counts
//! per kind, and whether anything that drives selection changed (the generation bump), from
//! what the database holds rather than from what each step believes it wrote.
//!
//! Sites and hosts are keyed by their kept MirrorManager2 ids, so a rename is one `~` line;
//! the other tables by their natural keys. Cost: the views hold every row of these tables
//! twice (at Fedora scale mostly `host_category_dir`, a few hundred MB).

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use sqlx::Row;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::store::Tx;
use crate::with_tx;

/// How a field is read and shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ty {
    Text,
    Int,
    Bool,
    Time,
    Float,
    /// Text compared as stored but never shown (a password hash).
    Secret,
}

/// One canonical view: SQL giving key, label, then one column per field.
struct View {
    kind: &'static str,
    /// Creating or deleting a row changes selection.
    selection: bool,
    sql: &'static str,
    /// (name, type, drives selection).
    fields: &'static [(&'static str, Ty, bool)],
}

const HOST_LABEL: &str = "(SELECT s.name || '/' || h.name || ' (#' || CAST(h.id AS TEXT) || ')' \
                          FROM host h JOIN site s ON s.id = h.site_id WHERE h.id = x.host_id)";

/// The views, in report order.
fn views() -> Vec<View> {
    use Ty::*;
    vec![
        View {
            kind: "product",
            selection: false,
            sql: "SELECT name_key, name, name, publiclist FROM product",
            fields: &[("name", Text, false), ("publiclist", Bool, false)],
        },
        View {
            kind: "version",
            selection: false,
            sql: "SELECT p.name_key || ' ' || v.name, p.name || ' ' || v.name, v.display_name, \
                  v.display, v.is_test, CAST(v.sort_order AS BIGINT) \
                  FROM version v JOIN product p ON p.id = v.product_id",
            fields: &[
                ("display_name", Text, false),
                ("display", Bool, false),
                ("is_test", Bool, false),
                ("sort_order", Int, false),
            ],
        },
        View {
            kind: "arch",
            selection: true,
            sql: "SELECT name, name, publiclist, is_primary FROM arch",
            fields: &[("publiclist", Bool, false), ("primary", Bool, false)],
        },
        View {
            kind: "category",
            selection: true,
            sql: "SELECT c.name_key, c.name, c.name, p.name, c.topdir, c.publiclist, \
                  c.admin_only, c.repomap FROM category c JOIN product p ON p.id = c.product_id",
            fields: &[
                ("name", Text, true),
                ("product", Text, false),
                ("topdir", Text, true),
                ("publiclist", Bool, false),
                ("admin_only", Bool, false),
                ("repomap", Text, false),
            ],
        },
        View {
            kind: "directory",
            selection: true,
            sql: "SELECT name, name, readable, CAST(ctime AS BIGINT), \
                  CAST(sample_files AS TEXT) FROM directory",
            fields: &[
                ("readable", Bool, false),
                ("ctime", Int, false),
                ("sample_files", Text, false),
            ],
        },
        View {
            kind: "category_directory",
            selection: true,
            sql: "SELECT c.name_key || ' ' || d.name, c.name || ': ' || d.name \
                  FROM category_directory x JOIN category c ON c.id = x.category_id \
                  JOIN directory d ON d.id = x.directory_id",
            fields: &[],
        },
        View {
            kind: "repository",
            selection: true,
            sql: "SELECT coalesce(r.prefix || ' ' || a.name, \
                  'unmapped ' || c.name_key || ' ' || coalesce(d.name, '(orphaned)')), \
                  coalesce(r.prefix || ' ' || a.name, \
                  '(unmapped) ' || a.name || ' ' || coalesce(d.name, '(orphaned)')), \
                  c.name, v.name, d.name FROM repository r JOIN arch a ON a.id = r.arch_id \
                  JOIN category c ON c.id = r.category_id \
                  LEFT JOIN version v ON v.id = r.version_id \
                  LEFT JOIN directory d ON d.id = r.directory_id",
            fields: &[
                ("category", Text, false),
                ("version", Text, false),
                ("directory", Text, true),
            ],
        },
        View {
            kind: "file_detail",
            selection: true,
            sql: "SELECT d.name || '/' || f.filename || ' ' || CAST(f.timestamp AS TEXT) || ' ' \
                  || CAST(f.size AS TEXT) || ' ' || coalesce(f.md5, '') || ' ' \
                  || coalesce(f.sha1, '') || ' ' || coalesce(f.sha256, '') || ' ' \
                  || coalesce(f.sha512, ''), d.name || '/' || f.filename || ' @' \
                  || CAST(f.timestamp AS TEXT), CAST(f.mtime AS BIGINT), f.recorded_at \
                  FROM file_detail f JOIN directory d ON d.id = f.directory_id",
            fields: &[("mtime", Int, false), ("recorded_at", Time, false)],
        },
        View {
            kind: "repository_redirect",
            selection: true,
            sql: "SELECT from_prefix, from_prefix, to_prefix FROM repository_redirect",
            fields: &[("to_prefix", Text, true)],
        },
        View {
            kind: "disabled_repository",
            selection: true,
            sql: "SELECT prefix, prefix, reason FROM disabled_repository",
            fields: &[("reason", Text, false)],
        },
        View {
            kind: "continent_override",
            selection: true,
            sql: "SELECT country, country, continent FROM continent_override",
            fields: &[("continent", Text, true)],
        },
        View {
            kind: "netblock_country",
            selection: true,
            sql: "SELECT netblock, netblock, country FROM netblock_country",
            fields: &[("country", Text, true)],
        },
        View {
            kind: "user",
            selection: false,
            sql: "SELECT username, username, email, display_name, is_admin FROM users",
            fields: &[
                ("email", Text, false),
                ("display_name", Text, false),
                ("is_admin", Bool, false),
            ],
        },
        View {
            kind: "site",
            selection: true,
            sql: "SELECT CAST(s.id AS TEXT), s.name || ' (#' || CAST(s.id AS TEXT) || ')', \
                  s.name, s.org_url, s.private, s.admin_active, s.user_active, s.comment, \
                  s.legacy_checkin_password, s.created_at, u.username \
                  FROM site s LEFT JOIN users u ON u.id = s.created_by",
            fields: &[
                ("name", Text, false),
                ("org_url", Text, false),
                ("private", Bool, true),
                ("admin_active", Bool, true),
                ("user_active", Bool, true),
                ("comment", Text, false),
                ("legacy_checkin_password", Secret, false),
                ("created_at", Time, false),
                ("created_by", Text, false),
            ],
        },
        View {
            kind: "site_owner",
            selection: false,
            sql: "SELECT CAST(x.site_id AS TEXT) || ' ' || u.username, \
                  s.name || ' (#' || CAST(s.id AS TEXT) || '): ' || u.username \
                  FROM site_owner x JOIN site s ON s.id = x.site_id \
                  JOIN users u ON u.id = x.user_id",
            fields: &[],
        },
        View {
            kind: "host",
            selection: true,
            sql: "SELECT CAST(h.id AS TEXT), \
                  s.name || '/' || h.name || ' (#' || CAST(h.id AS TEXT) || ')', \
                  CAST(h.site_id AS BIGINT), h.name, h.country, CAST(h.bandwidth AS BIGINT), \
                  CAST(h.max_connections AS BIGINT), h.private, CAST(h.asn AS BIGINT), \
                  h.asn_clients, h.admin_active, h.user_active, h.auto_disabled_at, \
                  h.disable_reason, h.comment, h.contact_email, h.latitude, h.longitude, \
                  h.last_checked_in, h.last_crawled, CAST(h.last_crawl_duration_ms AS BIGINT), \
                  CAST(h.crawl_failures AS BIGINT) FROM host h JOIN site s ON s.id = h.site_id",
            fields: &[
                ("site", Int, true),
                ("name", Text, true),
                ("country", Text, true),
                ("bandwidth", Int, true),
                ("max_connections", Int, true),
                ("private", Bool, true),
                ("asn", Int, true),
                ("asn_clients", Bool, true),
                ("admin_active", Bool, true),
                ("user_active", Bool, true),
                ("auto_disabled_at", Time, true),
                ("disable_reason", Text, false),
                ("comment", Text, false),
                ("contact_email", Text, false),
                ("latitude", Float, false),
                ("longitude", Float, false),
                ("last_checked_in", Time, false),
                ("last_crawled", Time, false),
                ("last_crawl_duration_ms", Int, false),
                ("crawl_failures", Int, false),
            ],
        },
        View {
            kind: "host_netblock",
            selection: true,
            sql: "SELECT CAST(x.host_id AS TEXT) || ' ' || x.value, HOST_LABEL || ' ' || x.value, \
                  x.name FROM host_netblock x",
            fields: &[("name", Text, false)],
        },
        View {
            kind: "host_peer_asn",
            selection: true,
            sql: "SELECT CAST(x.host_id AS TEXT) || ' ' || CAST(x.asn AS TEXT), \
                  HOST_LABEL || ' AS' || CAST(x.asn AS TEXT), x.name FROM host_peer_asn x",
            fields: &[("name", Text, false)],
        },
        View {
            kind: "host_allowed_country",
            selection: true,
            sql: "SELECT CAST(x.host_id AS TEXT) || ' ' || x.country, \
                  HOST_LABEL || ' ' || x.country FROM host_allowed_country x",
            fields: &[],
        },
        View {
            kind: "host_category",
            selection: true,
            sql: "SELECT CAST(x.host_id AS TEXT) || ' ' || c.name_key, \
                  HOST_LABEL || ': ' || c.name, x.always_up2date \
                  FROM host_category x JOIN category c ON c.id = x.category_id",
            fields: &[("always_up2date", Bool, true)],
        },
        View {
            kind: "host_category_url",
            selection: true,
            sql: "SELECT CAST(x.host_id AS TEXT) || ' ' || c.name_key || ' ' || u.url, \
                  HOST_LABEL || ': ' || u.url, u.private, CAST(u.position AS BIGINT), u.ipv4, \
                  u.ipv6 FROM host_category_url u \
                  JOIN host_category x ON x.id = u.host_category_id \
                  JOIN category c ON c.id = x.category_id",
            fields: &[
                ("private", Bool, true),
                ("position", Int, true),
                ("ipv4", Bool, true),
                ("ipv6", Bool, true),
            ],
        },
        View {
            kind: "access_stat",
            selection: false,
            sql: "SELECT CAST(day AS TEXT) || ' ' || dimension || ' ' || key, \
                  CAST(day AS TEXT) || ' ' || dimension || ' ' || key, \
                  CAST(requests AS BIGINT) FROM access_stat",
            fields: &[("requests", Int, false)],
        },
        View {
            kind: "propagation_stat",
            selection: false,
            sql: "SELECT coalesce(r.prefix || ' ' || a.name, 'repository ' || CAST(r.id AS TEXT)) \
                  || ' ' || CAST(p.run_at AS TEXT), \
                  coalesce(r.prefix || ' ' || a.name, 'repository ' || CAST(r.id AS TEXT)) \
                  || ' ' || CAST(p.run_at AS TEXT), CAST(p.same_day AS BIGINT), \
                  CAST(p.one_day AS BIGINT), CAST(p.two_day AS BIGINT), \
                  CAST(p.older AS BIGINT), CAST(p.no_info AS BIGINT) FROM propagation_stat p \
                  JOIN repository r ON r.id = p.repository_id JOIN arch a ON a.id = r.arch_id",
            fields: &[
                ("same_day", Int, false),
                ("one_day", Int, false),
                ("two_day", Int, false),
                ("older", Int, false),
                ("no_info", Int, false),
            ],
        },
    ]
}

/// One row of a view: label and field values as text (`None` = NULL).
type ViewRow = (String, Vec<Option<String>>);

/// Every view's rows by key, at one moment of a transaction; the up-to-date directories
/// (millions of rows at Fedora scale) apart, as sorted id triples resolved to names only
/// where they changed.
pub struct State {
    rows: Vec<BTreeMap<String, ViewRow>>,
    /// (host id, category id, directory id) of every up-to-date `host_category_dir` row.
    up2date: Vec<(i64, i64, i64)>,
    /// Host id → label; category id → name; directory id → name.
    hosts: HashMap<i64, String>,
    categories: HashMap<i64, String>,
    directories: HashMap<i64, String>,
}

/// The kind the up-to-date directories are reported under, after this view.
const UP2DATE_AFTER: &str = "host_category_url";

/// Reads every view inside `tx`.
pub async fn read_state(tx: &mut Tx) -> Result<State, sqlx::Error> {
    let hcs: HashMap<i64, (i64, i64)> = with_tx!(tx, c => sqlx::query_as::<_, (i64, i64, i64)>(
        "SELECT id, host_id, category_id FROM host_category",
    )
    .fetch_all(&mut *c)
    .await?)
    .into_iter()
    .map(|(id, host, category)| (id, (host, category)))
    .collect();
    let mut up2date = Vec::new();
    crate::store::for_each_up2date_group(tx, |hc, dirs| {
        if let Some(&(host, category)) = hcs.get(&hc) {
            up2date.extend(dirs.iter().map(|d| (host, category, *d)));
        }
    })
    .await?;
    up2date.sort_unstable();
    let hosts = with_tx!(tx, c => sqlx::query_as::<_, (i64, String)>(
        "SELECT h.id, s.name || '/' || h.name || ' (#' || CAST(h.id AS TEXT) || ')' \
         FROM host h JOIN site s ON s.id = h.site_id",
    )
    .fetch_all(&mut *c)
    .await?)
    .into_iter()
    .collect();
    let categories = with_tx!(tx, c => sqlx::query_as::<_, (i64, String)>(
        "SELECT id, name FROM category",
    )
    .fetch_all(&mut *c)
    .await?)
    .into_iter()
    .collect();
    let directories = with_tx!(tx, c => sqlx::query_as::<_, (i64, String)>(
        "SELECT id, name FROM directory",
    )
    .fetch_all(&mut *c)
    .await?)
    .into_iter()
    .collect();
    let mut rows = Vec::new();
    for view in views() {
        let sql = view.sql.replace("HOST_LABEL", HOST_LABEL);
        let map: BTreeMap<String, ViewRow> = with_tx!(tx, c => {
            let found = sqlx::query(&sql).fetch_all(&mut *c).await?;
            let mut map = BTreeMap::new();
            for r in &found {
                let key: Option<String> = r.try_get(0)?;
                let label: Option<String> = r.try_get(1)?;
                let mut values = Vec::with_capacity(view.fields.len());
                for (i, (_, ty, _)) in view.fields.iter().enumerate() {
                    let at = i + 2;
                    let text = match ty {
                        Ty::Text | Ty::Secret => r.try_get::<Option<String>, _>(at)?,
                        Ty::Int => r.try_get::<Option<i64>, _>(at)?.map(|v| v.to_string()),
                        Ty::Bool => r.try_get::<Option<bool>, _>(at)?.map(|v| v.to_string()),
                        Ty::Float => r.try_get::<Option<f64>, _>(at)?.map(|v| v.to_string()),
                        Ty::Time => r
                            .try_get::<Option<OffsetDateTime>, _>(at)?
                            .map(|t| t.format(&Rfc3339).unwrap_or_default()),
                    };
                    values.push(text);
                }
                let key = key.unwrap_or_default();
                map.insert(key.clone(), (label.unwrap_or(key), values));
            }
            map
        });
        rows.push(map);
    }
    Ok(State {
        rows,
        up2date,
        hosts,
        categories,
        directories,
    })
}

/// One changed row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Line {
    Created {
        kind: &'static str,
        label: String,
    },
    Updated {
        kind: &'static str,
        label: String,
        field: &'static str,
        old: String,
        new: String,
    },
    Deleted {
        kind: &'static str,
        label: String,
    },
}

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Line::Created { kind, label } => write!(f, "+ {kind} {label}"),
            Line::Updated {
                kind,
                label,
                field,
                old,
                new,
            } => write!(f, "~ {kind} {label}: {field} {old} → {new}"),
            Line::Deleted { kind, label } => write!(f, "- {kind} {label}"),
        }
    }
}

/// Rows created, updated and deleted of one kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KindCounts {
    pub created: u64,
    pub updated: u64,
    pub deleted: u64,
}

/// The difference between two [`State`]s.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// In view order, keys sorted, fields in view order.
    pub lines: Vec<Line>,
    /// Per kind with changes, in view order.
    pub counts: Vec<(&'static str, KindCounts)>,
    /// Something that drives selection changed.
    pub selection: bool,
}

impl Changes {
    /// True when nothing changed.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// The counts of `kind` (zero when unchanged).
    pub fn counts(&self, kind: &str) -> KindCounts {
        self.counts
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, c)| *c)
            .unwrap_or_default()
    }
}

/// What changed from `before` to `after`.
pub fn diff(before: &State, after: &State) -> Changes {
    let mut out = Changes::default();
    for ((view, old), new) in views().iter().zip(&before.rows).zip(&after.rows) {
        let mut counts = KindCounts::default();
        let kind = view.kind;
        for (key, (label, values)) in new {
            match old.get(key) {
                None => {
                    counts.created += 1;
                    out.selection |= view.selection;
                    out.lines.push(Line::Created {
                        kind,
                        label: label.clone(),
                    });
                }
                Some((_, was)) => {
                    let mut changed = false;
                    for (i, (field, ty, selection)) in view.fields.iter().enumerate() {
                        if was[i] == values[i] {
                            continue;
                        }
                        changed = true;
                        out.selection |= *selection;
                        out.lines.push(Line::Updated {
                            kind,
                            label: label.clone(),
                            field,
                            old: shown(*ty, &was[i]),
                            new: shown(*ty, &values[i]),
                        });
                    }
                    counts.updated += u64::from(changed);
                }
            }
        }
        for (key, (label, _)) in old {
            if !new.contains_key(key) {
                counts.deleted += 1;
                out.selection |= view.selection;
                out.lines.push(Line::Deleted {
                    kind,
                    label: label.clone(),
                });
            }
        }
        if counts != KindCounts::default() {
            out.counts.push((kind, counts));
        }
        if kind == UP2DATE_AFTER {
            diff_up2date(before, after, &mut out);
        }
    }
    out
}

/// The up-to-date directories: a row that says "not up to date" means the same as none, so
/// a directory becoming up to date is `+`, one ceasing to be `-`. The id triples are merged
/// first; only the rows found on one side are named, and a pair naming the same host,
/// category and directory (rows deleted and created again, `--replace`) is no change.
fn diff_up2date(before: &State, after: &State, out: &mut Changes) {
    const KIND: &str = "host_category_dir";
    let (mut gone, mut came) = (Vec::new(), Vec::new());
    let (mut i, mut j) = (0, 0);
    let (a, b) = (&before.up2date, &after.up2date);
    while i < a.len() || j < b.len() {
        match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) if x == y => {
                i += 1;
                j += 1;
            }
            (Some(x), Some(y)) if x < y => {
                gone.push(*x);
                i += 1;
            }
            (Some(x), None) => {
                gone.push(*x);
                i += 1;
            }
            (_, Some(y)) => {
                came.push(*y);
                j += 1;
            }
            (None, None) => break,
        }
    }
    let name = |m: &HashMap<i64, String>, id: i64| m.get(&id).cloned().unwrap_or_default();
    let named = |s: &State, list: &[(i64, i64, i64)]| -> BTreeMap<(i64, String, String), String> {
        list.iter()
            .map(|&(host, category, dir)| {
                (
                    (
                        host,
                        name(&s.categories, category),
                        name(&s.directories, dir),
                    ),
                    format!("{}: {}", name(&s.hosts, host), name(&s.directories, dir)),
                )
            })
            .collect()
    };
    let gone = named(before, &gone);
    let came = named(after, &came);
    let mut counts = KindCounts::default();
    for (key, label) in &came {
        if !gone.contains_key(key) {
            counts.created += 1;
            out.lines.push(Line::Created {
                kind: KIND,
                label: label.clone(),
            });
        }
    }
    for (key, label) in &gone {
        if !came.contains_key(key) {
            counts.deleted += 1;
            out.lines.push(Line::Deleted {
                kind: KIND,
                label: label.clone(),
            });
        }
    }
    if counts != KindCounts::default() {
        out.selection = true;
        out.counts.push((KIND, counts));
    }
}

/// A value as a change line shows it.
fn shown(ty: Ty, value: &Option<String>) -> String {
    match (ty, value) {
        (_, None) => "none".to_string(),
        (Ty::Secret, Some(_)) => "(argon2id hash)".to_string(),
        (Ty::Text | Ty::Time, Some(v)) => format!("{v:?}"),
        (_, Some(v)) => v.clone(),
    }
}
