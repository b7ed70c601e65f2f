//! Products, versions, arches, categories, directories and category–directory links.

use std::collections::{BTreeSet, HashMap, HashSet};

use super::batch::{self, Val};
use super::{Change, Importer, ObjectKind};
use crate::inventory::model::{folded, full_name};
use crate::inventory::tree::category_directories;
use crate::store::StoreError;
use crate::with_tx;

impl Importer<'_> {
    /// Deletes the categories the file does not name (with their repositories, host
    /// categories and links), first, so that their topdirs are free for new ones.
    pub(super) async fn delete_categories(&mut self) -> Result<(), StoreError> {
        let wanted: HashSet<String> = self
            .inv
            .categories
            .iter()
            .map(|c| folded(&c.name))
            .collect();
        let rows: Vec<(i64, String)> = with_tx!(&mut self.tx, c => sqlx::query_as(
            "SELECT id, name_key FROM category",
        )
        .fetch_all(&mut *c)
        .await?);
        for (id, key) in rows {
            if !wanted.contains(&key) {
                with_tx!(&mut self.tx, c => sqlx::query("DELETE FROM category WHERE id = $1")
                    .bind(id)
                    .execute(&mut *c)
                    .await?
                    .rows_affected());
                self.note(ObjectKind::Category, Change::Deleted, true);
            }
        }
        Ok(())
    }

    /// Creates and updates the file's products; reconciles each one's versions.
    pub(super) async fn products_and_versions(&mut self) -> Result<(), StoreError> {
        let rows: Vec<(i64, String, String, bool)> = with_tx!(&mut self.tx, c => sqlx::query_as(
            "SELECT id, name, name_key, publiclist FROM product",
        )
        .fetch_all(&mut *c)
        .await?);
        let existing: HashMap<String, (i64, String, bool)> = rows
            .into_iter()
            .map(|(id, name, key, publiclist)| (key, (id, name, publiclist)))
            .collect();
        let inv = self.inv;
        for p in &inv.products {
            let key = folded(&p.name);
            let id = match existing.get(&key) {
                Some((id, name, publiclist)) => {
                    if *name != p.name || *publiclist != p.publiclist {
                        with_tx!(&mut self.tx, c => sqlx::query(
                            "UPDATE product SET name = $1, publiclist = $2, \
                             row_version = row_version + 1 WHERE id = $3",
                        )
                        .bind(&p.name)
                        .bind(p.publiclist)
                        .bind(*id)
                        .execute(&mut *c)
                        .await?
                    .rows_affected());
                        self.note(ObjectKind::Product, Change::Updated, false);
                    }
                    *id
                }
                None => {
                    let id: i64 = with_tx!(&mut self.tx, c => sqlx::query_scalar(
                        "INSERT INTO product (name, name_key, publiclist) VALUES ($1, $2, $3) \
                         RETURNING id",
                    )
                    .bind(&p.name)
                    .bind(&key)
                    .bind(p.publiclist)
                    .fetch_one(&mut *c)
                    .await?);
                    self.note(ObjectKind::Product, Change::Created, false);
                    id
                }
            };
            self.products.insert(key, id);
            self.versions(id, &p.versions).await?;
        }
        Ok(())
    }

    async fn versions(
        &mut self,
        product_id: i64,
        versions: &[crate::inventory::Version],
    ) -> Result<(), StoreError> {
        type Row = (i64, String, Option<String>, bool, bool, i64);
        let rows: Vec<Row> = with_tx!(&mut self.tx, c => sqlx::query_as(
            "SELECT id, name, display_name, display, is_test, CAST(sort_order AS BIGINT) \
             FROM version WHERE product_id = $1",
        )
        .bind(product_id)
        .fetch_all(&mut *c)
        .await?);
        let existing: HashMap<String, Row> = rows.into_iter().map(|r| (r.1.clone(), r)).collect();
        for v in versions {
            match existing.get(&v.name) {
                Some((id, _, display_name, display, is_test, sort_order)) => {
                    if *display_name != v.display_name
                        || *display != v.display
                        || *is_test != v.is_test
                        || *sort_order != i64::from(v.sort_order)
                    {
                        with_tx!(&mut self.tx, c => sqlx::query(
                            "UPDATE version SET display_name = $1, display = $2, is_test = $3, \
                             sort_order = $4, row_version = row_version + 1 WHERE id = $5",
                        )
                        .bind(&v.display_name)
                        .bind(v.display)
                        .bind(v.is_test)
                        .bind(v.sort_order)
                        .bind(*id)
                        .execute(&mut *c)
                        .await?
                    .rows_affected());
                        self.note(ObjectKind::Version, Change::Updated, false);
                    }
                }
                None => {
                    with_tx!(&mut self.tx, c => sqlx::query(
                        "INSERT INTO version (product_id, name, display_name, display, is_test, \
                         sort_order) VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(product_id)
                    .bind(&v.name)
                    .bind(&v.display_name)
                    .bind(v.display)
                    .bind(v.is_test)
                    .bind(v.sort_order)
                    .execute(&mut *c)
                    .await?
                    .rows_affected());
                    self.note(ObjectKind::Version, Change::Created, false);
                }
            }
        }
        let wanted: HashSet<&str> = versions.iter().map(|v| v.name.as_str()).collect();
        for (name, (id, ..)) in &existing {
            if !wanted.contains(name.as_str()) {
                with_tx!(&mut self.tx, c => sqlx::query("DELETE FROM version WHERE id = $1")
                    .bind(*id)
                    .execute(&mut *c)
                    .await?
                    .rows_affected());
                self.note(ObjectKind::Version, Change::Deleted, false);
            }
        }
        Ok(())
    }

    /// Reconciles the arches (deleting one deletes its repositories).
    pub(super) async fn arches(&mut self) -> Result<(), StoreError> {
        let rows: Vec<(i64, String, bool, bool)> = with_tx!(&mut self.tx, c => sqlx::query_as(
            "SELECT id, name, publiclist, is_primary FROM arch",
        )
        .fetch_all(&mut *c)
        .await?);
        let wanted: HashSet<&str> = self.inv.arches.iter().map(|a| a.name.as_str()).collect();
        let mut existing = HashMap::new();
        for (id, name, publiclist, primary) in rows {
            if wanted.contains(name.as_str()) {
                existing.insert(name, (id, publiclist, primary));
            } else {
                with_tx!(&mut self.tx, c => sqlx::query("DELETE FROM arch WHERE id = $1")
                    .bind(id)
                    .execute(&mut *c)
                    .await?
                    .rows_affected());
                self.note(ObjectKind::Arch, Change::Deleted, true);
            }
        }
        let inv = self.inv;
        for a in &inv.arches {
            let id = match existing.get(&a.name) {
                Some(&(id, publiclist, primary)) => {
                    if publiclist != a.publiclist || primary != a.primary {
                        with_tx!(&mut self.tx, c => sqlx::query(
                            "UPDATE arch SET publiclist = $1, is_primary = $2, \
                             row_version = row_version + 1 WHERE id = $3",
                        )
                        .bind(a.publiclist)
                        .bind(a.primary)
                        .bind(id)
                        .execute(&mut *c)
                        .await?
                    .rows_affected());
                        self.note(ObjectKind::Arch, Change::Updated, false);
                    }
                    id
                }
                None => {
                    let id: i64 = with_tx!(&mut self.tx, c => sqlx::query_scalar(
                        "INSERT INTO arch (name, publiclist, is_primary) VALUES ($1, $2, $3) \
                         RETURNING id",
                    )
                    .bind(&a.name)
                    .bind(a.publiclist)
                    .bind(a.primary)
                    .fetch_one(&mut *c)
                    .await?);
                    self.note(ObjectKind::Arch, Change::Created, true);
                    id
                }
            };
            self.arches.insert(a.name.clone(), id);
        }
        Ok(())
    }

    /// Creates and updates the file's categories (the others are already deleted).
    pub(super) async fn categories(&mut self) -> Result<(), StoreError> {
        type Row = (i64, String, String, i64, String, bool, bool, Option<String>);
        let rows: Vec<Row> = with_tx!(&mut self.tx, c => sqlx::query_as(
            "SELECT id, name, name_key, product_id, topdir, publiclist, admin_only, repomap \
             FROM category",
        )
        .fetch_all(&mut *c)
        .await?);
        let existing: HashMap<String, Row> = rows.into_iter().map(|r| (r.2.clone(), r)).collect();
        let inv = self.inv;
        for cat in &inv.categories {
            let key = folded(&cat.name);
            let product_id = *self
                .products
                .get(&folded(&cat.product))
                .ok_or_else(|| missing("product", &cat.product))?;
            let id = match existing.get(&key) {
                Some((id, name, _, pid, topdir, publiclist, admin_only, repomap)) => {
                    let selection = *name != cat.name || *topdir != cat.topdir;
                    if selection
                        || *pid != product_id
                        || *publiclist != cat.publiclist
                        || *admin_only != cat.admin_only
                        || *repomap != cat.repomap
                    {
                        with_tx!(&mut self.tx, c => sqlx::query(
                            "UPDATE category SET name = $1, product_id = $2, topdir = $3, \
                             publiclist = $4, admin_only = $5, repomap = $6, \
                             row_version = row_version + 1 WHERE id = $7",
                        )
                        .bind(&cat.name)
                        .bind(product_id)
                        .bind(&cat.topdir)
                        .bind(cat.publiclist)
                        .bind(cat.admin_only)
                        .bind(&cat.repomap)
                        .bind(*id)
                        .execute(&mut *c)
                        .await?
                    .rows_affected());
                        self.note(ObjectKind::Category, Change::Updated, selection);
                    }
                    *id
                }
                None => {
                    let id: i64 = with_tx!(&mut self.tx, c => sqlx::query_scalar(
                        "INSERT INTO category (name, name_key, product_id, topdir, publiclist, \
                         admin_only, repomap) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                    )
                    .bind(&cat.name)
                    .bind(&key)
                    .bind(product_id)
                    .bind(&cat.topdir)
                    .bind(cat.publiclist)
                    .bind(cat.admin_only)
                    .bind(&cat.repomap)
                    .fetch_one(&mut *c)
                    .await?);
                    self.note(ObjectKind::Category, Change::Created, true);
                    id
                }
            };
            self.categories
                .insert(key, (id, product_id, cat.topdir.clone()));
        }
        Ok(())
    }

    /// Reconciles `directory` to the directories the categories imply
    /// ([`category_directories`]) and the category–directory links.
    pub(super) async fn directories(&mut self) -> Result<(), StoreError> {
        let inv = self.inv;
        // (category id, full directory name) for every link the file implies.
        let mut links: BTreeSet<(i64, String)> = BTreeSet::new();
        for cat in &inv.categories {
            let (cat_id, ..) = self.categories[&folded(&cat.name)];
            for rel in category_directories(inv, cat) {
                links.insert((cat_id, full_name(&cat.topdir, &rel)));
            }
        }
        let wanted: BTreeSet<&str> = links.iter().map(|(_, d)| d.as_str()).collect();
        let rows: Vec<(i64, String)> = with_tx!(&mut self.tx, c => sqlx::query_as(
            "SELECT id, name FROM directory",
        )
        .fetch_all(&mut *c)
        .await?);
        let mut gone = Vec::new();
        for (id, name) in rows {
            if wanted.contains(name.as_str()) {
                self.directories.insert(name, id);
            } else {
                gone.push(id);
            }
        }
        let n = batch::delete_ids(&mut self.tx, "directory", &gone).await?;
        self.note_n(ObjectKind::Directory, Change::Deleted, n, true);
        // New directories in name order (so their ids follow it), ids read back by name.
        let new: Vec<Val<'_>> = wanted
            .iter()
            .filter(|name| !self.directories.contains_key(**name))
            .map(|name| Val::Text(name))
            .collect();
        let created: Vec<(i64, String)> = batch::insert_returning(
            &mut self.tx,
            "INSERT INTO directory (name)",
            1,
            &new,
            " RETURNING id, name",
        )
        .await?;
        self.note_n(
            ObjectKind::Directory,
            Change::Created,
            created.len() as u64,
            true,
        );
        self.directories
            .extend(created.into_iter().map(|(id, name)| (name, id)));
        let rows: Vec<(i64, i64)> = with_tx!(&mut self.tx, c => sqlx::query_as(
            "SELECT category_id, directory_id FROM category_directory",
        )
        .fetch_all(&mut *c)
        .await?);
        let wanted: HashSet<(i64, i64)> = links
            .iter()
            .map(|(cat, dir)| (*cat, self.directories[dir]))
            .collect();
        let existing: HashSet<(i64, i64)> = rows.into_iter().collect();
        for &(cat, dir) in existing.difference(&wanted) {
            with_tx!(&mut self.tx, c => sqlx::query(
                "DELETE FROM category_directory WHERE category_id = $1 AND directory_id = $2",
            )
            .bind(cat)
            .bind(dir)
            .execute(&mut *c)
            .await?
                    .rows_affected());
            self.note(ObjectKind::CategoryDirectory, Change::Deleted, true);
        }
        let mut new: Vec<(i64, i64)> = wanted.difference(&existing).copied().collect();
        new.sort_unstable();
        let vals: Vec<Val<'_>> = new
            .iter()
            .flat_map(|&(cat, dir)| [Val::I64(cat), Val::I64(dir)])
            .collect();
        let n = batch::insert(
            &mut self.tx,
            "INSERT INTO category_directory (category_id, directory_id)",
            2,
            &vals,
        )
        .await?;
        self.note_n(ObjectKind::CategoryDirectory, Change::Created, n, true);
        Ok(())
    }

    /// Deletes the products the file does not name (their categories are already gone).
    pub(super) async fn delete_products(&mut self) -> Result<(), StoreError> {
        let rows: Vec<(i64, String)> = with_tx!(&mut self.tx, c => sqlx::query_as(
            "SELECT id, name_key FROM product",
        )
        .fetch_all(&mut *c)
        .await?);
        for (id, key) in rows {
            if !self.products.contains_key(&key) {
                with_tx!(&mut self.tx, c => sqlx::query("DELETE FROM product WHERE id = $1")
                    .bind(id)
                    .execute(&mut *c)
                    .await?
                    .rows_affected());
                self.note(ObjectKind::Product, Change::Deleted, false);
            }
        }
        Ok(())
    }
}

/// A reference the validated inventory should have resolved.
pub(super) fn missing(what: &str, name: &str) -> StoreError {
    StoreError::Invalid(format!(
        "the inventory refers to an unknown {what} {name:?}; validate it with parse_inventory first"
    ))
}
