//! What hangs under the hosts: netblocks, peer ASNs, allowed countries, host categories, their
//! URLs and their up-to-date directories (HCD rows). Each table is read once for all hosts
//! (`host_category_dir` once per host category that existed before the import), compared in
//! memory, and written in multi-row statements.

use std::collections::{BTreeSet, HashMap, HashSet};

use super::batch::{self, Inserter, Val};
use super::mirrors::CategoryDirs;
use super::{Change, Importer, ObjectKind};
use crate::inventory::model::folded;
use crate::inventory::{Host, HostUrl, Netblock, Pattern};
use crate::store::StoreError;
use crate::with_tx;

/// The rows to delete (ids) and to create ((host id, value)) so that each host has exactly its
/// wanted values.
fn diff_sets<V: Ord>(
    rows: Vec<(i64, i64, V)>,
    wanted: Vec<(i64, BTreeSet<V>)>,
) -> (Vec<i64>, Vec<(i64, V)>) {
    let mut have: HashMap<i64, Vec<(i64, V)>> = HashMap::new();
    for (id, host, value) in rows {
        have.entry(host).or_default().push((id, value));
    }
    let mut gone = Vec::new();
    let mut new = Vec::new();
    for (host, mut want) in wanted {
        for (id, value) in have.remove(&host).unwrap_or_default() {
            // Present and wanted: keep (and no longer to create).
            if !want.remove(&value) {
                gone.push(id);
            }
        }
        new.extend(want.into_iter().map(|v| (host, v)));
    }
    // Rows of hosts not in the file went with their host; nothing is left here.
    (gone, new)
}

/// The ids of the directories of `list` (relative name, id; sorted by name) that `patterns`
/// match, ascending. A pattern is a look-up in the sorted list (`a/b`, and for `a/b/**` the
/// contiguous run of names starting with `a/b/`), not a scan.
pub(super) fn matched_dirs(list: &[(String, i64)], patterns: &[Pattern]) -> Vec<i64> {
    let exact = |name: &str| {
        list.binary_search_by(|(r, _)| r.as_str().cmp(name))
            .ok()
            .map(|i| list[i].1)
    };
    let mut out = Vec::new();
    for p in patterns {
        match p {
            Pattern::All => {
                out.clear();
                out.extend(list.iter().map(|(_, id)| *id));
                break;
            }
            Pattern::Dir(d) => out.extend(exact(d)),
            Pattern::Subtree(d) => {
                out.extend(exact(d));
                let below = format!("{d}/");
                let start = list.partition_point(|(r, _)| r.as_str() < below.as_str());
                out.extend(
                    list[start..]
                        .iter()
                        .take_while(|(r, _)| r.starts_with(below.as_str()))
                        .map(|(_, id)| *id),
                );
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

impl Importer<'_> {
    /// Reconciles everything below `hosts` (id, host), which are all the hosts of the file.
    pub(super) async fn host_children(
        &mut self,
        hosts: &[(i64, &Host)],
        dirs: &CategoryDirs,
    ) -> Result<(), StoreError> {
        // ---- netblocks
        let rows: Vec<(i64, i64, String)> = with_tx!(&mut self.tx, c => sqlx::query_as(
            "SELECT id, host_id, value FROM host_netblock",
        )
        .fetch_all(&mut *c)
        .await?);
        let wanted = hosts
            .iter()
            .map(|(id, host)| {
                let set = host
                    .netblocks
                    .iter()
                    .map(|n| match n {
                        Netblock::Network(p) => p.to_string(),
                        Netblock::DnsName(name) => name.clone(),
                    })
                    .collect();
                (*id, set)
            })
            .collect();
        let (gone, new) = diff_sets(rows, wanted);
        let vals: Vec<Val<'_>> = new
            .iter()
            .flat_map(|(host, v)| [Val::I64(*host), Val::Text(v)])
            .collect();
        self.delete_and_insert(
            ObjectKind::HostNetblock,
            "host_netblock",
            &gone,
            "INSERT INTO host_netblock (host_id, value)",
            &vals,
        )
        .await?;

        // ---- peer ASNs
        let rows: Vec<(i64, i64, i64)> = with_tx!(&mut self.tx, c => sqlx::query_as(
            "SELECT id, host_id, CAST(asn AS BIGINT) FROM host_peer_asn",
        )
        .fetch_all(&mut *c)
        .await?);
        let wanted = hosts
            .iter()
            .map(|(id, host)| (*id, host.peer_asns.iter().map(|&a| i64::from(a)).collect()))
            .collect();
        let (gone, new) = diff_sets(rows, wanted);
        let vals: Vec<Val<'_>> = new
            .iter()
            .flat_map(|(host, asn)| [Val::I64(*host), Val::I64(*asn)])
            .collect();
        self.delete_and_insert(
            ObjectKind::HostPeerAsn,
            "host_peer_asn",
            &gone,
            "INSERT INTO host_peer_asn (host_id, asn)",
            &vals,
        )
        .await?;

        self.allowed_countries(hosts).await?;
        self.host_categories(hosts, dirs).await
    }

    /// Deletes `gone` from `table` and inserts `vals` (host id, value), counting both.
    async fn delete_and_insert(
        &mut self,
        kind: ObjectKind,
        table: &str,
        gone: &[i64],
        insert: &str,
        vals: &[Val<'_>],
    ) -> Result<(), StoreError> {
        let n = batch::delete_ids(&mut self.tx, table, gone).await?;
        self.note_n(kind, Change::Deleted, n, true);
        let n = batch::insert(&mut self.tx, insert, 2, vals).await?;
        self.note_n(kind, Change::Created, n, true);
        Ok(())
    }

    async fn allowed_countries(&mut self, hosts: &[(i64, &Host)]) -> Result<(), StoreError> {
        let rows: Vec<(i64, String)> = with_tx!(&mut self.tx, c => sqlx::query_as(
            "SELECT host_id, country FROM host_allowed_country",
        )
        .fetch_all(&mut *c)
        .await?);
        let mut existing: HashMap<i64, BTreeSet<String>> = HashMap::new();
        for (host, cc) in rows {
            existing.entry(host).or_default().insert(cc);
        }
        let mut new = Vec::new();
        for (host_id, host) in hosts {
            let have = existing.remove(host_id).unwrap_or_default();
            let wanted: BTreeSet<&str> =
                host.allowed_countries.iter().map(String::as_str).collect();
            for cc in have.iter().filter(|cc| !wanted.contains(cc.as_str())) {
                with_tx!(&mut self.tx, c => sqlx::query(
                    "DELETE FROM host_allowed_country WHERE host_id = $1 AND country = $2",
                )
                .bind(*host_id)
                .bind(cc)
                .execute(&mut *c)
                .await?
                .rows_affected());
                self.note(ObjectKind::HostAllowedCountry, Change::Deleted, true);
            }
            for cc in wanted {
                if !have.contains(cc) {
                    new.extend([Val::I64(*host_id), Val::Text(cc)]);
                }
            }
        }
        let n = batch::insert(
            &mut self.tx,
            "INSERT INTO host_allowed_country (host_id, country)",
            2,
            &new,
        )
        .await?;
        self.note_n(ObjectKind::HostAllowedCountry, Change::Created, n, true);
        Ok(())
    }

    async fn host_categories(
        &mut self,
        hosts: &[(i64, &Host)],
        dirs: &CategoryDirs,
    ) -> Result<(), StoreError> {
        let rows: Vec<(i64, i64, i64, bool)> = with_tx!(&mut self.tx, c => sqlx::query_as(
            "SELECT id, host_id, category_id, always_up2date FROM host_category",
        )
        .fetch_all(&mut *c)
        .await?);
        // (host id, category key, category id, host category) in file order.
        let mut wanted = Vec::new();
        for (host_id, host) in hosts {
            for hc in &host.categories {
                let key = folded(&hc.category);
                let category_id = self
                    .categories
                    .get(&key)
                    .map(|c| c.0)
                    .ok_or_else(|| super::content::missing("category", &hc.category))?;
                wanted.push((*host_id, key, category_id, hc));
            }
        }
        let wanted_keys: HashSet<(i64, i64)> = wanted.iter().map(|w| (w.0, w.2)).collect();
        let mut existing: HashMap<(i64, i64), (i64, bool)> = HashMap::new();
        let mut gone = Vec::new();
        for (id, host_id, category_id, always) in rows {
            if wanted_keys.contains(&(host_id, category_id)) {
                existing.insert((host_id, category_id), (id, always));
            } else {
                gone.push(id);
            }
        }
        let n = batch::delete_ids(&mut self.tx, "host_category", &gone).await?;
        self.note_n(ObjectKind::HostCategory, Change::Deleted, n, true);
        // Existing ones: update `always_up2date`; new ones: one multi-row insert.
        // (host id, category id) → (id, existed before this import).
        let mut ids: HashMap<(i64, i64), (i64, bool)> = HashMap::new();
        let mut new = Vec::new();
        for (host_id, _, category_id, hc) in &wanted {
            match existing.get(&(*host_id, *category_id)) {
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
                    ids.insert((*host_id, *category_id), (id, true));
                }
                None => new.extend([
                    Val::I64(*host_id),
                    Val::I64(*category_id),
                    Val::Bool(hc.always_up2date),
                ]),
            }
        }
        let created: Vec<(i64, i64, i64)> = batch::insert_returning(
            &mut self.tx,
            "INSERT INTO host_category (host_id, category_id, always_up2date)",
            3,
            &new,
            " RETURNING id, host_id, category_id",
        )
        .await?;
        self.note_n(
            ObjectKind::HostCategory,
            Change::Created,
            created.len() as u64,
            true,
        );
        for (id, host_id, category_id) in created {
            ids.insert((host_id, category_id), (id, false));
        }

        // ---- URLs
        let list: Vec<(i64, &[HostUrl], &[HostUrl])> = wanted
            .iter()
            .map(|(host_id, _, category_id, hc)| {
                (
                    ids[&(*host_id, *category_id)].0,
                    hc.urls.as_slice(),
                    hc.private_urls.as_slice(),
                )
            })
            .collect();
        self.urls(&list).await?;

        // ---- up-to-date directories
        self.progress.step("host_category_dir");
        let mut inserter = Inserter::new(
            &self.tx,
            "INSERT INTO host_category_dir (host_category_id, directory_id, up2date, source)",
            &HCD_ROW,
        );
        let mut set_up2date = Vec::new();
        let mut gone = Vec::new();
        let total = wanted.len();
        for (i, (host_id, key, category_id, hc)) in wanted.iter().enumerate() {
            let (hc_id, existed) = ids[&(*host_id, *category_id)];
            let up2date: Vec<i64> = if hc.always_up2date {
                Vec::new()
            } else {
                matched_dirs(dirs.get(key).map_or(&[][..], Vec::as_slice), &hc.up2date)
            };
            let mut present = HashSet::new();
            if existed {
                let rows: Vec<(i64, i64, bool)> = with_tx!(&mut self.tx, c => sqlx::query_as(
                    "SELECT id, directory_id, up2date FROM host_category_dir \
                     WHERE host_category_id = $1",
                )
                .bind(hc_id)
                .fetch_all(&mut *c)
                .await?);
                for (id, dir, is_up) in rows {
                    present.insert(dir);
                    // Rows saying "not up to date" outside the wanted set mean the same as no
                    // row and are kept.
                    match (up2date.binary_search(&dir).is_ok(), is_up) {
                        (true, false) => set_up2date.push(id),
                        (false, true) => gone.push(id),
                        _ => {}
                    }
                }
            }
            for &dir in &up2date {
                if !present.contains(&dir) {
                    inserter
                        .push(
                            &mut self.tx,
                            &[Val::I64(hc_id), Val::I64(dir), HCD_ROW[2], HCD_ROW[3]],
                        )
                        .await?;
                }
            }
            let written = inserter.written;
            self.progress.tick(|| {
                format!(
                    "host_category_dir: {} of {total} host categories, {written} rows written",
                    i + 1
                )
            });
        }
        inserter.finish(&mut self.tx).await?;
        self.note_n(
            ObjectKind::HostCategoryDir,
            Change::Created,
            inserter.written,
            true,
        );
        let n = batch::for_ids(
            &mut self.tx,
            "UPDATE host_category_dir SET up2date = TRUE, source = 'import', checked_at = NULL \
             WHERE id IN",
            &set_up2date,
            "",
        )
        .await?;
        self.note_n(ObjectKind::HostCategoryDir, Change::Updated, n, true);
        let n = batch::delete_ids(&mut self.tx, "host_category_dir", &gone).await?;
        self.note_n(ObjectKind::HostCategoryDir, Change::Deleted, n, true);
        Ok(())
    }

    /// Reconciles the URLs of host categories (id, public, private): public ones, then private
    /// ones, each at the position of its array index.
    async fn urls(&mut self, list: &[(i64, &[HostUrl], &[HostUrl])]) -> Result<(), StoreError> {
        type Row = (i64, i64, String, bool, i64, Option<bool>, Option<bool>);
        let rows: Vec<Row> = with_tx!(&mut self.tx, c => sqlx::query_as(
            "SELECT id, host_category_id, url, private, CAST(position AS BIGINT), ipv4, ipv6 \
             FROM host_category_url",
        )
        .fetch_all(&mut *c)
        .await?);
        let mut by_hc: HashMap<i64, Vec<Row>> = HashMap::new();
        for row in rows {
            by_hc.entry(row.1).or_default().push(row);
        }
        let mut gone = Vec::new();
        let mut new = Vec::new();
        for &(hc_id, public, private) in list {
            let wanted: Vec<(&HostUrl, bool, i64)> = public
                .iter()
                .enumerate()
                .map(|(i, u)| (u, false, i as i64))
                .chain(private.iter().enumerate().map(|(i, u)| (u, true, i as i64)))
                .collect();
            let wanted_urls: HashSet<&str> = wanted.iter().map(|(u, ..)| u.url.as_str()).collect();
            let mut existing = HashMap::new();
            for row in by_hc.remove(&hc_id).unwrap_or_default() {
                if wanted_urls.contains(row.2.as_str()) {
                    existing.insert(row.2.clone(), row);
                } else {
                    gone.push(row.0);
                }
            }
            for (u, is_private, position) in wanted {
                match existing.get(&u.url) {
                    Some((_, _, _, p, pos, v4, v6))
                        if *p == is_private
                            && *pos == position
                            && *v4 == u.ipv4
                            && *v6 == u.ipv6 => {}
                    Some((id, ..)) => {
                        with_tx!(&mut self.tx, c => sqlx::query(
                            "UPDATE host_category_url SET private = $1, position = $2, \
                             ipv4 = $3, ipv6 = $4, row_version = row_version + 1 WHERE id = $5",
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
                    None => new.extend([
                        Val::I64(hc_id),
                        Val::Text(&u.url),
                        Val::Bool(is_private),
                        Val::I32(position as i32),
                        Val::OptBool(u.ipv4),
                        Val::OptBool(u.ipv6),
                    ]),
                }
            }
        }
        let n = batch::delete_ids(&mut self.tx, "host_category_url", &gone).await?;
        self.note_n(ObjectKind::HostCategoryUrl, Change::Deleted, n, true);
        let n = batch::insert(
            &mut self.tx,
            "INSERT INTO host_category_url (host_category_id, url, private, position, ipv4, ipv6)",
            6,
            &new,
        )
        .await?;
        self.note_n(ObjectKind::HostCategoryUrl, Change::Created, n, true);
        Ok(())
    }
}

/// The shape of a new `host_category_dir` row: host category, directory, up to date, from
/// the import.
const HCD_ROW: [Val<'static>; 4] = [
    Val::I64(0),
    Val::I64(0),
    Val::Sql("TRUE"),
    Val::Sql("'import'"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matched_dirs_agrees_with_pattern_matches() {
        let names = [
            "", "a", "a-b", "a.b", "a/b", "a/b/c", "a/bc", "a/b-c", "a/b/c/d", "ab", "b", "b/a",
        ];
        let mut list: Vec<(String, i64)> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.to_string(), i as i64 * 10))
            .collect();
        list.sort();
        let patterns = [
            Pattern::All,
            Pattern::Dir(String::new()),
            Pattern::Dir("a/b".into()),
            Pattern::Dir("zz".into()),
            Pattern::Subtree("a".into()),
            Pattern::Subtree("a/b".into()),
            Pattern::Subtree("b".into()),
            Pattern::Subtree(String::new()),
            Pattern::Subtree("a/b/c/d".into()),
        ];
        for p in &patterns {
            for q in &patterns {
                let set = [p.clone(), q.clone()];
                let mut expected: Vec<i64> = list
                    .iter()
                    .filter(|(r, _)| set.iter().any(|p| p.matches(r)))
                    .map(|(_, id)| *id)
                    .collect();
                expected.sort_unstable();
                assert_eq!(matched_dirs(&list, &set), expected, "{set:?}");
            }
        }
    }

    #[test]
    fn diff_sets_keeps_present_values() {
        let rows = vec![(1, 10, "a"), (2, 10, "b"), (3, 20, "c")];
        let wanted = vec![
            (10, ["b", "x"].into_iter().collect()),
            (20, BTreeSet::new()),
            (30, ["y"].into_iter().collect()),
        ];
        let (gone, new) = diff_sets(rows, wanted);
        assert_eq!(gone, [1, 3]);
        assert_eq!(new, [(10, "x"), (30, "y")]);
    }
}
