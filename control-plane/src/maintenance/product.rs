//! `add-product --name NAME --version V… [--category NAME] [--topdir PATH] [--repomap NAME]
//! [--master-host SITE/HOST --master-url URL]` (control-plane.md §9,
//! control-plane-decisions.md D22): a new product line in one step: the product, its versions,
//! its category (default name NAME) with its topdir (default `pub/<name lower-case>`, which
//! needs a name of letters, digits and `-` only, else `--topdir` is required) and the topdir's
//! directory, and optionally the master download host carrying the category `always_up2date`
//! at the given URL.
//!
//! Re-running is safe: what exists is skipped with a reason, so a second run with one more
//! `--version` adds just that version. A category of that name with another product, topdir or
//! rule set is an error (it is not this product's category), as is a topdir another category
//! already has.

use serde_json::{Value, json};

use super::{Change, Event, MaintenanceError, Operation, Report, find_category};
use crate::db::Database;
use crate::inventory::model::folded;
use crate::inventory::rules::{CATEGORY_NAME, MAX_PATH, NameRule, PRODUCT_NAME, VERSION_NAME};
use crate::inventory::url::check_mirror_url;
use crate::store::host::parse_target;
use crate::with_tx;

/// The master download host and its base URL of the category topdir.
#[derive(Clone, Copy, Debug)]
pub struct Master<'a> {
    /// `SITE/HOST`, split at the last `/`.
    pub host: &'a str,
    pub url: &'a str,
}

/// The arguments of [`add_product`].
#[derive(Clone, Copy, Debug)]
pub struct NewProduct<'a> {
    pub name: &'a str,
    /// At least one.
    pub versions: &'a [String],
    /// Default: `name`.
    pub category: Option<&'a str>,
    /// Default: `pub/<name lower-case>`.
    pub topdir: Option<&'a str>,
    /// The category's rule set: a built-in one or a configured one.
    pub repomap: Option<&'a str>,
    pub master: Option<Master<'a>>,
}

/// The checked arguments: names trimmed, defaults applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checked {
    pub name: String,
    pub versions: Vec<String>,
    pub category: String,
    pub topdir: String,
    pub repomap: Option<String>,
    /// (site, host, URL).
    pub master: Option<(String, String, String)>,
}

fn check_name(rule: NameRule, flag: &str, text: &str) -> Result<String, MaintenanceError> {
    let text = text.trim();
    let invalid = |why: String| MaintenanceError::Invalid(format!("{flag} {text:?}: {why}"));
    if text.is_empty() {
        return Err(invalid(format!("the {} must not be empty", rule.what)));
    }
    if let Some(c) = text.chars().find(|c| c.is_control()) {
        return Err(invalid(format!(
            "contains the control character U+{:04X}",
            c as u32
        )));
    }
    let n = text.chars().count();
    if n > rule.max {
        return Err(invalid(format!(
            "a {} has at most {} characters, this has {n}",
            rule.what, rule.max
        )));
    }
    if !text.chars().all(rule.allowed) {
        return Err(invalid(format!(
            "not a valid {}: use only {}",
            rule.what, rule.described
        )));
    }
    Ok(text.to_string())
}

/// Checks the arguments before anything is read: names and paths (data-model.md §2), the
/// master host and URL, the rule set (one of `rule_sets`, the names the scanner knows:
/// [`crate::scan::repomap::RuleSets::names`]).
pub fn check(p: &NewProduct<'_>, rule_sets: &[String]) -> Result<Checked, MaintenanceError> {
    let name = check_name(PRODUCT_NAME, "--name", p.name)?;
    if p.versions.is_empty() {
        return Err(MaintenanceError::Invalid(
            "give at least one --version".into(),
        ));
    }
    let mut versions: Vec<String> = Vec::new();
    for v in p.versions {
        let v = check_name(VERSION_NAME, "--version", v)?;
        if versions.contains(&v) {
            return Err(MaintenanceError::Invalid(format!(
                "--version {v:?} is given twice"
            )));
        }
        versions.push(v);
    }
    let category = check_name(CATEGORY_NAME, "--category", p.category.unwrap_or(&name))?;
    let topdir = match p.topdir {
        Some(t) => t.trim().to_string(),
        None if name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') => {
            format!("pub/{}", name.to_lowercase())
        }
        None => {
            return Err(MaintenanceError::Invalid(format!(
                "--topdir is required: the product name {name:?} holds characters other than \
                 letters, digits and \"-\", so there is no default pub/<name>"
            )));
        }
    };
    let bad_topdir = |why: String| MaintenanceError::Invalid(format!("--topdir {topdir:?}: {why}"));
    if topdir.is_empty() {
        return Err(bad_topdir("a topdir must not be empty".into()));
    }
    if topdir.chars().count() > MAX_PATH {
        return Err(bad_topdir(format!("longer than {MAX_PATH} characters")));
    }
    crate::inventory::rules::check_relative(&topdir).map_err(bad_topdir)?;
    if let Some(c) = topdir.chars().find(|c| c.is_control()) {
        return Err(bad_topdir(format!(
            "contains the control character U+{:04X}",
            c as u32
        )));
    }
    let repomap = match p.repomap {
        None => None,
        Some(r) if rule_sets.iter().any(|known| known == r) => Some(r.to_string()),
        Some(r) => {
            return Err(MaintenanceError::Invalid(format!(
                "--repomap {r:?} is no rule set; known: {}",
                rule_sets.join(", ")
            )));
        }
    };
    let master = match p.master {
        None => None,
        Some(m) => {
            let (site, host) =
                parse_target(m.host).map_err(|e| MaintenanceError::Invalid(e.to_string()))?;
            check_mirror_url(m.url)
                .map_err(|e| MaintenanceError::Invalid(format!("--master-url: {e}")))?;
            Some((site.to_string(), host.to_string(), m.url.to_string()))
        }
    };
    Ok(Checked {
        name,
        versions,
        category,
        topdir,
        repomap,
        master,
    })
}

fn created(op: &mut Operation, kind: &'static str, key: String, selection: bool) {
    op.change(Change::Create { kind, key }, selection);
}

/// The audit event of a created row: every field as `{"old": null, "new": value}`.
fn creation_event(
    op: &mut Operation,
    action: &'static str,
    object_type: &'static str,
    object_id: i64,
    site_id: Option<i64>,
    fields: Value,
) {
    let changes = fields
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), json!({"old": null, "new": v})))
        .collect();
    op.event(Event {
        action,
        object_type,
        object_id: Some(object_id),
        site_id,
        changes: Value::Object(changes),
    });
}

/// Creates what `p` describes and does not exist yet, in one transaction (rolled back with
/// `dry_run`), audited as `actor`; see the module documentation.
pub async fn add_product(
    db: &Database,
    p: &Checked,
    dry_run: bool,
    actor: &str,
) -> Result<Report, MaintenanceError> {
    let mut op = Operation::begin(db, dry_run).await?;

    // ---- the product and its versions (no selection data)
    let existing: Option<(i64, String)> = with_tx!(&mut op.tx, c => sqlx::query_as(
        "SELECT id, name FROM product WHERE name_key = $1")
        .bind(folded(&p.name)).fetch_optional(&mut *c).await)?;
    let (product_id, product) = match existing {
        Some((id, name)) => {
            op.skip("product", &name, "already exists");
            (id, name)
        }
        None => {
            let id: i64 = with_tx!(&mut op.tx, c => sqlx::query_scalar(
                "INSERT INTO product (name, name_key) VALUES ($1, $2) RETURNING id")
                .bind(&p.name).bind(folded(&p.name)).fetch_one(&mut *c).await)?;
            created(&mut op, "product", p.name.clone(), false);
            creation_event(
                &mut op,
                "product.create",
                "product",
                id,
                None,
                json!({"name": p.name}),
            );
            (id, p.name.clone())
        }
    };
    for v in &p.versions {
        let key = format!("{product} {v}");
        let exists: Option<i64> = with_tx!(&mut op.tx, c => sqlx::query_scalar(
            "SELECT id FROM version WHERE product_id = $1 AND name = $2")
            .bind(product_id).bind(v).fetch_optional(&mut *c).await)?;
        if exists.is_some() {
            op.skip("version", key, "already exists");
            continue;
        }
        let id: i64 = with_tx!(&mut op.tx, c => sqlx::query_scalar(
            "INSERT INTO version (product_id, name) VALUES ($1, $2) RETURNING id")
            .bind(product_id).bind(v).fetch_one(&mut *c).await)?;
        created(&mut op, "version", key, false);
        creation_event(
            &mut op,
            "version.create",
            "version",
            id,
            None,
            json!({"product": product, "name": v}),
        );
    }

    // ---- the category, its topdir directory and the link
    let category_id = match find_category(&mut op.tx, &p.category).await? {
        Some((id, name, other_product, topdir)) => {
            let repomap: Option<String> = with_tx!(&mut op.tx, c => sqlx::query_scalar(
                "SELECT repomap FROM category WHERE id = $1")
                .bind(id).fetch_one(&mut *c).await)?;
            let conflict = if other_product != product_id {
                let owner: String = with_tx!(&mut op.tx, c => sqlx::query_scalar(
                    "SELECT name FROM product WHERE id = $1")
                    .bind(other_product).fetch_one(&mut *c).await)?;
                Some(format!("belongs to product {owner:?}"))
            } else if topdir != p.topdir {
                Some(format!("has the topdir {topdir:?}"))
            } else if p.repomap.is_some() && repomap != p.repomap {
                Some(format!(
                    "has the rule set {}",
                    repomap.map_or("(none)".to_string(), |r| format!("{r:?}"))
                ))
            } else {
                None
            };
            if let Some(conflict) = conflict {
                return Err(MaintenanceError::Invalid(format!(
                    "category {name:?} already exists and {conflict}; give another --category \
                     (or its own topdir and rule set)"
                )));
            }
            op.skip("category", &name, "already exists");
            id
        }
        None => {
            let holder: Option<String> = with_tx!(&mut op.tx, c => sqlx::query_scalar(
                "SELECT name FROM category WHERE topdir = $1")
                .bind(&p.topdir).fetch_optional(&mut *c).await)?;
            if let Some(holder) = holder {
                return Err(MaintenanceError::Invalid(format!(
                    "{:?} is already the topdir of category {holder:?}; give another --topdir",
                    p.topdir
                )));
            }
            let id: i64 = with_tx!(&mut op.tx, c => sqlx::query_scalar(
                "INSERT INTO category (name, name_key, product_id, topdir, repomap) \
                 VALUES ($1, $2, $3, $4, $5) RETURNING id")
                .bind(&p.category).bind(folded(&p.category)).bind(product_id).bind(&p.topdir)
                .bind(&p.repomap).fetch_one(&mut *c).await)?;
            created(
                &mut op,
                "category",
                format!("{} (topdir {})", p.category, p.topdir),
                true,
            );
            creation_event(
                &mut op,
                "category.create",
                "category",
                id,
                None,
                json!({"name": p.category, "product": product, "topdir": p.topdir,
                       "repomap": p.repomap}),
            );
            id
        }
    };
    let directory: Option<i64> = with_tx!(&mut op.tx, c => sqlx::query_scalar(
        "SELECT id FROM directory WHERE name = $1")
        .bind(&p.topdir).fetch_optional(&mut *c).await)?;
    let directory_id = match directory {
        Some(id) => id,
        None => {
            let id: i64 = with_tx!(&mut op.tx, c => sqlx::query_scalar(
                "INSERT INTO directory (name) VALUES ($1) RETURNING id")
                .bind(&p.topdir).fetch_one(&mut *c).await)?;
            created(&mut op, "directory", p.topdir.clone(), true);
            creation_event(
                &mut op,
                "directory.create",
                "directory",
                id,
                None,
                json!({"name": p.topdir}),
            );
            id
        }
    };
    let linked: Option<i64> = with_tx!(&mut op.tx, c => sqlx::query_scalar(
        "SELECT category_id FROM category_directory WHERE category_id = $1 AND directory_id = $2")
        .bind(category_id).bind(directory_id).fetch_optional(&mut *c).await)?;
    if linked.is_none() {
        with_tx!(&mut op.tx, c => sqlx::query(
            "INSERT INTO category_directory (category_id, directory_id) VALUES ($1, $2)")
            .bind(category_id).bind(directory_id).execute(&mut *c).await.map(|_| ()))?;
        created(
            &mut op,
            "category_directory",
            format!("{} {}", p.category, p.topdir),
            true,
        );
    }

    // ---- the master host
    if let Some((site, host, url)) = &p.master {
        add_master(&mut op, category_id, &p.category, site, host, url).await?;
    }
    op.finish(actor).await
}

/// The host `site`/`host` carries the category `always_up2date`, at `url`.
async fn add_master(
    op: &mut Operation,
    category_id: i64,
    category: &str,
    site: &str,
    host: &str,
    url: &str,
) -> Result<(), MaintenanceError> {
    let site_row: Option<(i64, String)> = with_tx!(&mut op.tx, c => sqlx::query_as(
        "SELECT id, name FROM site WHERE name_key = $1")
        .bind(folded(site)).fetch_optional(&mut *c).await)?;
    let Some((site_id, site_name)) = site_row else {
        return Err(MaintenanceError::NotFound(format!(
            "no site named {site:?} (--master-host)"
        )));
    };
    let host_row: Option<(i64, String)> = with_tx!(&mut op.tx, c => sqlx::query_as(
        "SELECT id, name FROM host WHERE site_id = $1 AND name_key = $2")
        .bind(site_id).bind(folded(host)).fetch_optional(&mut *c).await)?;
    let Some((host_id, host_name)) = host_row else {
        return Err(MaintenanceError::NotFound(format!(
            "site {site_name:?} has no host named {host:?} (--master-host)"
        )));
    };
    let target = format!("{site_name}/{host_name} {category}");
    let existing: Option<(i64, bool)> = with_tx!(&mut op.tx, c => sqlx::query_as(
        "SELECT id, always_up2date FROM host_category WHERE host_id = $1 AND category_id = $2")
        .bind(host_id).bind(category_id).fetch_optional(&mut *c).await)?;
    let hc_id = match existing {
        Some((id, always)) => {
            let reason = if always {
                "the host already carries the category, always up to date".to_string()
            } else {
                "the host already carries the category (not always_up2date; left as it is)"
                    .to_string()
            };
            op.skip("host_category", &target, reason);
            id
        }
        None => {
            let id: i64 = with_tx!(&mut op.tx, c => sqlx::query_scalar(
                "INSERT INTO host_category (host_id, category_id, always_up2date) \
                 VALUES ($1, $2, $3) RETURNING id")
                .bind(host_id).bind(category_id).bind(true).fetch_one(&mut *c).await)?;
            created(
                op,
                "host_category",
                format!("{target} (always_up2date)"),
                true,
            );
            creation_event(
                op,
                "host_category.create",
                "host_category",
                id,
                Some(site_id),
                json!({"host": host_name, "category": category, "always_up2date": true}),
            );
            id
        }
    };
    let url_row: Option<i64> = with_tx!(&mut op.tx, c => sqlx::query_scalar(
        "SELECT id FROM host_category_url WHERE host_category_id = $1 AND url = $2")
        .bind(hc_id).bind(url).fetch_optional(&mut *c).await)?;
    if url_row.is_some() {
        op.skip(
            "host_category_url",
            format!("{target} {url}"),
            "already listed",
        );
        return Ok(());
    }
    let position: i64 = with_tx!(&mut op.tx, c => sqlx::query_scalar(
        "SELECT CAST(coalesce(max(position) + 1, 0) AS BIGINT) FROM host_category_url \
         WHERE host_category_id = $1")
        .bind(hc_id).fetch_one(&mut *c).await)?;
    let id: i64 = with_tx!(&mut op.tx, c => sqlx::query_scalar(
        "INSERT INTO host_category_url (host_category_id, url, position) VALUES ($1, $2, $3) \
         RETURNING id")
        .bind(hc_id).bind(url).bind(position as i32).fetch_one(&mut *c).await)?;
    created(op, "host_category_url", format!("{target} {url}"), true);
    creation_event(
        op,
        "host_category_url.create",
        "host_category_url",
        id,
        Some(site_id),
        json!({"url": url, "position": position}),
    );
    Ok(())
}
