//! What hangs under a host: netblocks, peer ASNs, allowed countries, host categories, their
//! URLs and their up-to-date directories (HCD rows).

use std::collections::{BTreeSet, HashMap, HashSet};

use super::mirrors::CategoryDirs;
use super::{Change, Importer, ObjectKind};
use crate::inventory::model::folded;
use crate::inventory::{Host, HostCategory, HostUrl, Netblock};
use crate::store::StoreError;
use crate::with_tx;

impl Importer<'_> {
    /// Reconciles everything below one host.
    pub(super) async fn host_children(
        &mut self,
        host_id: i64,
        host: &Host,
        dirs: &CategoryDirs,
    ) -> Result<(), StoreError> {
        let netblocks: BTreeSet<String> = host
            .netblocks
            .iter()
            .map(|n| match n {
                Netblock::Network(p) => p.to_string(),
                Netblock::DnsName(name) => name.clone(),
            })
            .collect();
        let rows: Vec<(i64, String)> = with_tx!(&mut self.tx, c => sqlx::query_as(
            "SELECT id, value FROM host_netblock WHERE host_id = $1",
        )
        .bind(host_id)
        .fetch_all(&mut *c)
        .await?);
        self.id_set(
            ObjectKind::HostNetblock,
            host_id,
            rows,
            netblocks,
            "DELETE FROM host_netblock WHERE id = $1",
            "INSERT INTO host_netblock (host_id, value) VALUES ($1, $2)",
        )
        .await?;
        let rows: Vec<(i64, i64)> = with_tx!(&mut self.tx, c => sqlx::query_as(
            "SELECT id, asn FROM host_peer_asn WHERE host_id = $1",
        )
        .bind(host_id)
        .fetch_all(&mut *c)
        .await?);
        let peers: BTreeSet<i64> = host.peer_asns.iter().map(|&a| i64::from(a)).collect();
        self.id_set(
            ObjectKind::HostPeerAsn,
            host_id,
            rows,
            peers,
            "DELETE FROM host_peer_asn WHERE id = $1",
            "INSERT INTO host_peer_asn (host_id, asn) VALUES ($1, $2)",
        )
        .await?;
        self.allowed_countries(host_id, &host.allowed_countries)
            .await?;
        self.host_categories(host_id, &host.categories, dirs).await
    }

    /// Reconciles rows (id, value) of one host to the set `wanted`.
    #[allow(clippy::too_many_arguments)]
    async fn id_set<V>(
        &mut self,
        kind: ObjectKind,
        host_id: i64,
        rows: Vec<(i64, V)>,
        wanted: BTreeSet<V>,
        delete: &'static str,
        insert: &'static str,
    ) -> Result<(), StoreError>
    where
        V: Ord
            + Clone
            + Send
            + Sync
            + for<'q> sqlx::Encode<'q, sqlx::Sqlite>
            + sqlx::Type<sqlx::Sqlite>
            + for<'q> sqlx::Encode<'q, sqlx::Postgres>
            + sqlx::Type<sqlx::Postgres>
            + 'static,
    {
        let mut present = BTreeSet::new();
        for (id, value) in rows {
            if wanted.contains(&value) {
                present.insert(value);
            } else {
                with_tx!(&mut self.tx, c => sqlx::query(delete)
                    .bind(id)
                    .execute(&mut *c)
                    .await?
                    .rows_affected());
                self.note(kind, Change::Deleted, true);
            }
        }
        for value in wanted.difference(&present) {
            with_tx!(&mut self.tx, c => sqlx::query(insert)
                .bind(host_id)
                .bind(value.clone())
                .execute(&mut *c)
                .await?
                    .rows_affected());
            self.note(kind, Change::Created, true);
        }
        Ok(())
    }

    async fn allowed_countries(
        &mut self,
        host_id: i64,
        countries: &[String],
    ) -> Result<(), StoreError> {
        let rows: Vec<String> = with_tx!(&mut self.tx, c => sqlx::query_scalar(
            "SELECT country FROM host_allowed_country WHERE host_id = $1",
        )
        .bind(host_id)
        .fetch_all(&mut *c)
        .await?);
        let existing: BTreeSet<String> = rows.into_iter().collect();
        let wanted: BTreeSet<String> = countries.iter().cloned().collect();
        for cc in existing.difference(&wanted) {
            with_tx!(&mut self.tx, c => sqlx::query(
                "DELETE FROM host_allowed_country WHERE host_id = $1 AND country = $2",
            )
            .bind(host_id)
            .bind(cc)
            .execute(&mut *c)
            .await?
                    .rows_affected());
            self.note(ObjectKind::HostAllowedCountry, Change::Deleted, true);
        }
        for cc in wanted.difference(&existing) {
            with_tx!(&mut self.tx, c => sqlx::query(
                "INSERT INTO host_allowed_country (host_id, country) VALUES ($1, $2)",
            )
            .bind(host_id)
            .bind(cc)
            .execute(&mut *c)
            .await?
                    .rows_affected());
            self.note(ObjectKind::HostAllowedCountry, Change::Created, true);
        }
        Ok(())
    }

    async fn host_categories(
        &mut self,
        host_id: i64,
        categories: &[HostCategory],
        dirs: &CategoryDirs,
    ) -> Result<(), StoreError> {
        let rows: Vec<(i64, i64, bool)> = with_tx!(&mut self.tx, c => sqlx::query_as(
            "SELECT id, category_id, always_up2date FROM host_category WHERE host_id = $1",
        )
        .bind(host_id)
        .fetch_all(&mut *c)
        .await?);
        let wanted: HashSet<i64> = categories
            .iter()
            .filter_map(|hc| self.categories.get(&folded(&hc.category)).map(|c| c.0))
            .collect();
        let mut existing = HashMap::new();
        for (id, category_id, always) in rows {
            if wanted.contains(&category_id) {
                existing.insert(category_id, (id, always));
            } else {
                with_tx!(&mut self.tx, c => sqlx::query(
                    "DELETE FROM host_category WHERE id = $1",
                )
                .bind(id)
                .execute(&mut *c)
                .await?
                    .rows_affected());
                self.note(ObjectKind::HostCategory, Change::Deleted, true);
            }
        }
        for hc in categories {
            let key = folded(&hc.category);
            let category_id = self
                .categories
                .get(&key)
                .map(|c| c.0)
                .ok_or_else(|| super::content::missing("category", &hc.category))?;
            let id = match existing.get(&category_id) {
                Some(&(id, always)) => {
                    if always != hc.always_up2date {
                        with_tx!(&mut self.tx, c => sqlx::query(
                            "UPDATE host_category SET always_up2date = $1, \
                             row_version = row_version + 1 WHERE id = $2",
                        )
                        .bind(hc.always_up2date)
                        .bind(id)
                        .execute(&mut *c)
                        .await?
                    .rows_affected());
                        self.note(ObjectKind::HostCategory, Change::Updated, true);
                    }
                    id
                }
                None => {
                    let id: i64 = with_tx!(&mut self.tx, c => sqlx::query_scalar(
                        "INSERT INTO host_category (host_id, category_id, always_up2date) \
                         VALUES ($1, $2, $3) RETURNING id",
                    )
                    .bind(host_id)
                    .bind(category_id)
                    .bind(hc.always_up2date)
                    .fetch_one(&mut *c)
                    .await?);
                    self.note(ObjectKind::HostCategory, Change::Created, true);
                    id
                }
            };
            self.urls(id, &hc.urls, &hc.private_urls).await?;
            let up2date: BTreeSet<i64> = if hc.always_up2date {
                BTreeSet::new()
            } else {
                dirs.get(&key)
                    .into_iter()
                    .flatten()
                    .filter(|(rel, _)| hc.up2date.iter().any(|p| p.matches(rel)))
                    .map(|(_, id)| *id)
                    .collect()
            };
            self.up2date_dirs(id, up2date).await?;
        }
        Ok(())
    }

    /// Reconciles a host category's URLs: public ones, then private ones, each at the
    /// position of its array index.
    async fn urls(
        &mut self,
        hc_id: i64,
        public: &[HostUrl],
        private: &[HostUrl],
    ) -> Result<(), StoreError> {
        type Row = (i64, String, bool, i64, Option<bool>, Option<bool>);
        let rows: Vec<Row> = with_tx!(&mut self.tx, c => sqlx::query_as(
            "SELECT id, url, private, CAST(position AS BIGINT), ipv4, ipv6 \
             FROM host_category_url WHERE host_category_id = $1",
        )
        .bind(hc_id)
        .fetch_all(&mut *c)
        .await?);
        let wanted: Vec<(&HostUrl, bool, i64)> = public
            .iter()
            .enumerate()
            .map(|(i, u)| (u, false, i as i64))
            .chain(private.iter().enumerate().map(|(i, u)| (u, true, i as i64)))
            .collect();
        let wanted_urls: HashSet<&str> = wanted.iter().map(|(u, ..)| u.url.as_str()).collect();
        let mut existing = HashMap::new();
        for row in rows {
            if wanted_urls.contains(row.1.as_str()) {
                existing.insert(row.1.clone(), row);
            } else {
                with_tx!(&mut self.tx, c => sqlx::query(
                    "DELETE FROM host_category_url WHERE id = $1",
                )
                .bind(row.0)
                .execute(&mut *c)
                .await?
                    .rows_affected());
                self.note(ObjectKind::HostCategoryUrl, Change::Deleted, true);
            }
        }
        for (u, is_private, position) in wanted {
            match existing.get(&u.url) {
                Some((_, _, p, pos, v4, v6))
                    if *p == is_private && *pos == position && *v4 == u.ipv4 && *v6 == u.ipv6 => {}
                Some((id, ..)) => {
                    with_tx!(&mut self.tx, c => sqlx::query(
                        "UPDATE host_category_url SET private = $1, position = $2, ipv4 = $3, \
                         ipv6 = $4, row_version = row_version + 1 WHERE id = $5",
                    )
                    .bind(is_private)
                    .bind(position as i32)
                    .bind(u.ipv4)
                    .bind(u.ipv6)
                    .bind(*id)
                    .execute(&mut *c)
                    .await?
                    .rows_affected());
                    self.note(ObjectKind::HostCategoryUrl, Change::Updated, true);
                }
                None => {
                    with_tx!(&mut self.tx, c => sqlx::query(
                        "INSERT INTO host_category_url (host_category_id, url, private, \
                         position, ipv4, ipv6) VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(hc_id)
                    .bind(&u.url)
                    .bind(is_private)
                    .bind(position as i32)
                    .bind(u.ipv4)
                    .bind(u.ipv6)
                    .execute(&mut *c)
                    .await?
                    .rows_affected());
                    self.note(ObjectKind::HostCategoryUrl, Change::Created, true);
                }
            }
        }
        Ok(())
    }

    /// Makes exactly the directories `wanted` up to date for a host category: missing rows
    /// are created (source `import`), rows that say "not up to date" are set, up-to-date rows
    /// outside `wanted` are deleted; rows saying "not up to date" outside `wanted` mean the
    /// same as no row and are kept.
    async fn up2date_dirs(&mut self, hc_id: i64, wanted: BTreeSet<i64>) -> Result<(), StoreError> {
        let rows: Vec<(i64, i64, bool)> = with_tx!(&mut self.tx, c => sqlx::query_as(
            "SELECT id, directory_id, up2date FROM host_category_dir \
             WHERE host_category_id = $1",
        )
        .bind(hc_id)
        .fetch_all(&mut *c)
        .await?);
        let mut present = HashSet::new();
        for (id, dir, up2date) in rows {
            present.insert(dir);
            match (wanted.contains(&dir), up2date) {
                (true, true) | (false, false) => {}
                (true, false) => {
                    with_tx!(&mut self.tx, c => sqlx::query(
                        "UPDATE host_category_dir SET up2date = $1, source = 'import', \
                         checked_at = NULL WHERE id = $2",
                    )
                    .bind(true)
                    .bind(id)
                    .execute(&mut *c)
                    .await?
                    .rows_affected());
                    self.note(ObjectKind::HostCategoryDir, Change::Updated, true);
                }
                (false, true) => {
                    with_tx!(&mut self.tx, c => sqlx::query(
                        "DELETE FROM host_category_dir WHERE id = $1",
                    )
                    .bind(id)
                    .execute(&mut *c)
                    .await?
                    .rows_affected());
                    self.note(ObjectKind::HostCategoryDir, Change::Deleted, true);
                }
            }
        }
        for dir in wanted {
            if present.contains(&dir) {
                continue;
            }
            with_tx!(&mut self.tx, c => sqlx::query(
                "INSERT INTO host_category_dir (host_category_id, directory_id, up2date, source) \
                 VALUES ($1, $2, $3, 'import')",
            )
            .bind(hc_id)
            .bind(dir)
            .bind(true)
            .execute(&mut *c)
            .await?
                    .rows_affected());
            self.note(ObjectKind::HostCategoryDir, Change::Created, true);
        }
        Ok(())
    }
}
