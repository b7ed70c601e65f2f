//! Users (site owners), sites and hosts; `host_children` does what hangs under a host.

use std::collections::{BTreeSet, HashMap, HashSet};

use sqlx::Row;
use time::OffsetDateTime;

use super::batch::{self, Val};
use super::{Change, Importer, ObjectKind};
use crate::inventory::model::{folded, full_name};
use crate::inventory::tree::category_directories;
use crate::inventory::{Host, Site};
use crate::store::StoreError;
use crate::with_tx;

/// The columns of `host` an inventory sets.
#[derive(Clone, Debug, PartialEq)]
struct HostRow {
    name: String,
    country: String,
    bandwidth: i64,
    max_connections: i64,
    private: bool,
    asn: Option<i64>,
    asn_clients: bool,
    admin_active: bool,
    user_active: bool,
    auto_disabled_at: Option<OffsetDateTime>,
    disable_reason: Option<String>,
    comment: Option<String>,
    contact_email: Option<String>,
    latitude: Option<f64>,
    longitude: Option<f64>,
}

impl HostRow {
    fn from_inventory(h: &Host) -> HostRow {
        HostRow {
            name: h.name.clone(),
            country: h.country.clone(),
            bandwidth: i64::from(h.bandwidth),
            max_connections: i64::from(h.max_connections),
            private: h.private,
            asn: h.asn.map(i64::from),
            asn_clients: h.asn_clients,
            admin_active: h.admin_active,
            user_active: h.user_active,
            auto_disabled_at: h.auto_disabled_at,
            disable_reason: h.disable_reason.clone(),
            comment: h.comment.clone(),
            contact_email: h.contact_email.clone(),
            latitude: h.latitude,
            longitude: h.longitude,
        }
    }

    /// True when a field that drives selection differs.
    fn selection_differs(&self, other: &HostRow) -> bool {
        self.name != other.name
            || self.country != other.country
            || self.bandwidth != other.bandwidth
            || self.max_connections != other.max_connections
            || self.private != other.private
            || self.asn != other.asn
            || self.asn_clients != other.asn_clients
            || self.admin_active != other.admin_active
            || self.user_active != other.user_active
            || self.auto_disabled_at != other.auto_disabled_at
    }
}

const HOST_COLUMNS: &str = "name, country, CAST(bandwidth AS BIGINT), \
    CAST(max_connections AS BIGINT), private, asn, asn_clients, admin_active, user_active, \
    auto_disabled_at, disable_reason, comment, contact_email, latitude, longitude";

/// Binds the fields of a [`HostRow`] in [`HOST_COLUMNS`] order.
macro_rules! bind_host {
    ($q:expr, $h:expr) => {
        $q.bind(&$h.name)
            .bind(&$h.country)
            .bind($h.bandwidth as i32)
            .bind($h.max_connections as i32)
            .bind($h.private)
            .bind($h.asn)
            .bind($h.asn_clients)
            .bind($h.admin_active)
            .bind($h.user_active)
            .bind($h.auto_disabled_at)
            .bind(&$h.disable_reason)
            .bind(&$h.comment)
            .bind(&$h.contact_email)
            .bind($h.latitude)
            .bind($h.longitude)
    };
}

/// A host's up-to-date directories per category key: (path relative to the topdir, id).
pub(super) type CategoryDirs = HashMap<String, Vec<(String, i64)>>;

impl Importer<'_> {
    /// Reconciles sites, owners and hosts, then everything below each host.
    pub(super) async fn sites_and_hosts(&mut self) -> Result<(), StoreError> {
        let inv = self.inv;
        let site_ids = self.sites(&inv.sites).await?;
        self.owners(&inv.sites, &site_ids).await?;
        let host_ids = self.hosts(&inv.sites, &site_ids).await?;
        let mut dirs: CategoryDirs = HashMap::new();
        for cat in &inv.categories {
            let list = category_directories(inv, cat)
                .into_iter()
                .map(|rel| {
                    let id = self.directories[&full_name(&cat.topdir, &rel)];
                    (rel, id)
                })
                .collect();
            dirs.insert(folded(&cat.name), list);
        }
        let hosts: Vec<(i64, &Host)> = inv
            .sites
            .iter()
            .flat_map(|site| {
                site.hosts
                    .iter()
                    .map(|host| (host_ids[&(folded(&site.name), folded(&host.name))], host))
            })
            .collect();
        self.host_children(&hosts, &dirs).await
    }

    /// Returns site name key → id.
    async fn sites(&mut self, sites: &[Site]) -> Result<HashMap<String, i64>, StoreError> {
        type Row = (
            i64,
            String,
            String,
            Option<String>,
            bool,
            bool,
            bool,
            Option<String>,
        );
        let rows: Vec<Row> = with_tx!(&mut self.tx, c => sqlx::query_as(
            "SELECT id, name, name_key, org_url, private, admin_active, user_active, comment \
             FROM site",
        )
        .fetch_all(&mut *c)
        .await?);
        let wanted: HashSet<String> = sites.iter().map(|s| folded(&s.name)).collect();
        let mut existing = HashMap::new();
        for row in rows {
            if wanted.contains(&row.2) {
                existing.insert(row.2.clone(), row);
            } else {
                with_tx!(&mut self.tx, c => sqlx::query("DELETE FROM site WHERE id = $1")
                    .bind(row.0)
                    .execute(&mut *c)
                    .await?
                    .rows_affected());
                self.note(ObjectKind::Site, Change::Deleted, true);
            }
        }
        let mut ordered: Vec<&Site> = sites.iter().collect();
        ordered.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
        let mut ids = HashMap::new();
        for s in ordered {
            let key = folded(&s.name);
            let id = match existing.get(&key) {
                Some((id, name, _, org_url, private, admin_active, user_active, comment)) => {
                    let selection = *private != s.private
                        || *admin_active != s.admin_active
                        || *user_active != s.user_active;
                    if selection
                        || *name != s.name
                        || *org_url != s.org_url
                        || *comment != s.comment
                    {
                        with_tx!(&mut self.tx, c => sqlx::query(
                            "UPDATE site SET name = $1, org_url = $2, private = $3, \
                             admin_active = $4, user_active = $5, comment = $6, \
                             row_version = row_version + 1 WHERE id = $7",
                        )
                        .bind(&s.name)
                        .bind(&s.org_url)
                        .bind(s.private)
                        .bind(s.admin_active)
                        .bind(s.user_active)
                        .bind(&s.comment)
                        .bind(*id)
                        .execute(&mut *c)
                        .await?
                    .rows_affected());
                        self.note(ObjectKind::Site, Change::Updated, selection);
                    }
                    *id
                }
                None => {
                    let id: i64 = with_tx!(&mut self.tx, c => sqlx::query_scalar(
                        "INSERT INTO site (name, name_key, org_url, private, admin_active, \
                         user_active, comment) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                    )
                    .bind(&s.name)
                    .bind(&key)
                    .bind(&s.org_url)
                    .bind(s.private)
                    .bind(s.admin_active)
                    .bind(s.user_active)
                    .bind(&s.comment)
                    .fetch_one(&mut *c)
                    .await?);
                    self.note(ObjectKind::Site, Change::Created, true);
                    id
                }
            };
            ids.insert(key, id);
        }
        Ok(ids)
    }

    /// Reconciles the sites' owners; unknown usernames become users without a password.
    async fn owners(
        &mut self,
        sites: &[Site],
        site_ids: &HashMap<String, i64>,
    ) -> Result<(), StoreError> {
        let rows: Vec<(i64, String)> = with_tx!(&mut self.tx, c => sqlx::query_as(
            "SELECT id, username FROM users",
        )
        .fetch_all(&mut *c)
        .await?);
        let mut users: HashMap<String, i64> = rows.into_iter().map(|(id, u)| (u, id)).collect();
        // Unknown usernames, once each, in file order.
        let mut seen = HashSet::new();
        let new: Vec<Val<'_>> = sites
            .iter()
            .flat_map(|s| s.owners.iter())
            .filter(|u| !users.contains_key(*u) && seen.insert(u.as_str()))
            .map(|u| Val::Text(u))
            .collect();
        let created: Vec<(i64, String)> = batch::insert_returning(
            &mut self.tx,
            "INSERT INTO users (username)",
            1,
            &new,
            " RETURNING id, username",
        )
        .await?;
        self.note_n(
            ObjectKind::User,
            Change::Created,
            created.len() as u64,
            false,
        );
        users.extend(created.into_iter().map(|(id, u)| (u, id)));
        let rows: Vec<(i64, i64)> = with_tx!(&mut self.tx, c => sqlx::query_as(
            "SELECT site_id, user_id FROM site_owner",
        )
        .fetch_all(&mut *c)
        .await?);
        let mut existing: HashMap<i64, BTreeSet<i64>> = HashMap::new();
        for (site, user) in rows {
            existing.entry(site).or_default().insert(user);
        }
        let mut add = Vec::new();
        for site in sites {
            let site_id = site_ids[&folded(&site.name)];
            let wanted: BTreeSet<i64> = site.owners.iter().map(|u| users[u]).collect();
            let have = existing.remove(&site_id).unwrap_or_default();
            for user in have.difference(&wanted) {
                with_tx!(&mut self.tx, c => sqlx::query(
                    "DELETE FROM site_owner WHERE site_id = $1 AND user_id = $2",
                )
                .bind(site_id)
                .bind(*user)
                .execute(&mut *c)
                .await?
                .rows_affected());
                self.note(ObjectKind::SiteOwner, Change::Deleted, false);
            }
            for user in wanted.difference(&have) {
                add.extend([Val::I64(site_id), Val::I64(*user)]);
            }
        }
        let n = batch::insert(
            &mut self.tx,
            "INSERT INTO site_owner (site_id, user_id)",
            2,
            &add,
        )
        .await?;
        self.note_n(ObjectKind::SiteOwner, Change::Created, n, false);
        Ok(())
    }

    /// Reconciles the hosts of every site; new hosts are created in (site name, host name)
    /// byte order, so that into an empty database their ids follow that order. Returns
    /// (site key, host key) → id.
    async fn hosts(
        &mut self,
        sites: &[Site],
        site_ids: &HashMap<String, i64>,
    ) -> Result<HashMap<(String, String), i64>, StoreError> {
        let sql = format!("SELECT id, site_id, name_key, {HOST_COLUMNS} FROM host");
        let rows: Vec<(i64, i64, String, HostRow)> = with_tx!(&mut self.tx, c => {
            let rows = sqlx::query(&sql).fetch_all(&mut *c).await?;
            rows.iter()
                .map(|r| {
                    Ok((
                        r.try_get(0)?,
                        r.try_get(1)?,
                        r.try_get(2)?,
                        HostRow {
                            name: r.try_get(3)?,
                            country: r.try_get(4)?,
                            bandwidth: r.try_get(5)?,
                            max_connections: r.try_get(6)?,
                            private: r.try_get(7)?,
                            asn: r.try_get(8)?,
                            asn_clients: r.try_get(9)?,
                            admin_active: r.try_get(10)?,
                            user_active: r.try_get(11)?,
                            auto_disabled_at: r.try_get(12)?,
                            disable_reason: r.try_get(13)?,
                            comment: r.try_get(14)?,
                            contact_email: r.try_get(15)?,
                            latitude: r.try_get(16)?,
                            longitude: r.try_get(17)?,
                        },
                    ))
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()?
        });
        let site_keys: HashMap<i64, &String> = site_ids.iter().map(|(k, id)| (*id, k)).collect();
        let wanted: HashSet<(String, String)> = sites
            .iter()
            .flat_map(|s| s.hosts.iter().map(|h| (folded(&s.name), folded(&h.name))))
            .collect();
        let mut existing = HashMap::new();
        for (id, site_id, key, row) in rows {
            let full_key = site_keys.get(&site_id).map(|s| ((*s).clone(), key));
            match full_key {
                Some(k) if wanted.contains(&k) => {
                    existing.insert(k, (id, row));
                }
                _ => {
                    with_tx!(&mut self.tx, c => sqlx::query("DELETE FROM host WHERE id = $1")
                        .bind(id)
                        .execute(&mut *c)
                        .await?
                    .rows_affected());
                    self.note(ObjectKind::Host, Change::Deleted, true);
                }
            }
        }
        let mut ordered: Vec<(&Site, &Host)> = sites
            .iter()
            .flat_map(|s| s.hosts.iter().map(move |h| (s, h)))
            .collect();
        ordered.sort_by(|a, b| {
            (a.0.name.as_bytes(), a.1.name.as_bytes())
                .cmp(&(b.0.name.as_bytes(), b.1.name.as_bytes()))
        });
        let mut ids = HashMap::new();
        for (site, host) in ordered {
            let key = (folded(&site.name), folded(&host.name));
            let row = HostRow::from_inventory(host);
            let id = match existing.get(&key) {
                Some((id, old)) if *old == row => *id,
                Some((id, old)) => {
                    let selection = old.selection_differs(&row);
                    with_tx!(&mut self.tx, c => bind_host!(sqlx::query(
                        "UPDATE host SET name = $1, country = $2, bandwidth = $3, \
                         max_connections = $4, private = $5, asn = $6, asn_clients = $7, \
                         admin_active = $8, user_active = $9, auto_disabled_at = $10, \
                         disable_reason = $11, comment = $12, contact_email = $13, \
                         latitude = $14, longitude = $15, row_version = row_version + 1 \
                         WHERE id = $16",
                    ), row)
                    .bind(*id)
                    .execute(&mut *c)
                    .await?
                    .rows_affected());
                    self.note(ObjectKind::Host, Change::Updated, selection);
                    *id
                }
                None => {
                    let id: i64 = with_tx!(&mut self.tx, c => bind_host!(sqlx::query_scalar(
                        "INSERT INTO host (name, country, bandwidth, max_connections, private, \
                         asn, asn_clients, admin_active, user_active, auto_disabled_at, \
                         disable_reason, comment, contact_email, latitude, longitude, site_id, \
                         name_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, \
                         $13, $14, $15, $16, $17) RETURNING id",
                    ), row)
                    .bind(site_ids[&key.0])
                    .bind(&key.1)
                    .fetch_one(&mut *c)
                    .await?);
                    self.note(ObjectKind::Host, Change::Created, true);
                    id
                }
            };
            ids.insert(key, id);
        }
        Ok(ids)
    }
}
