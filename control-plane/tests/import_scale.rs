//! The batched import at a size that crosses its statement boundaries (more than 4,096
//! `host_category_dir` rows, more host categories than one page of the derivation's read), on
//! SQLite and on PostgreSQL: the database derives the same snapshot as the file; a re-import
//! is a no-op; a changed file (patterns, URLs, netblocks, hosts added and removed, rows a
//! crawler marked "not up to date") reconciles to exactly the new file, its dry run reports
//! the same changes, and rows saying "not up to date" outside the wanted set are kept.

use std::collections::{BTreeSet, HashMap};

use mirrorfleet_control::db::Database;
use mirrorfleet_control::derive_db::{DeriveOptions, HCD_PAGE, derive_snapshot};
use mirrorfleet_control::inventory::tree::category_directories;
use mirrorfleet_control::inventory::{BuildOptions, Inventory, parse_inventory, to_snapshot_data};
use mirrorfleet_control::store::import::{ObjectKind, import_inventory, init};
use mirrorfleet_control::with_pool;
use mirrorfleet_snapshot::model::{Host, SnapshotData};
use serde_json::{Value, json};

mod support;

macro_rules! on_both_backends {
    ($check:ident) => {
        mod $check {
            #[tokio::test]
            async fn sqlite() {
                let t = super::support::sqlite_db().await;
                super::$check(&t.db).await;
            }

            #[tokio::test]
            async fn postgres() {
                if let Some(t) = super::support::postgres_db().await {
                    super::$check(&t.db).await;
                }
            }
        }
    };
}

const INSTALLATION: &str = "6b1c5d1e-8f43-4c3e-9a57-0d6f1c2b3a4d";

/// SplitMix64, for a deterministic file.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const COUNTRIES: [&str; 5] = ["DE", "US", "FR", "JP", "BR"];
const LETTERS: &str = "abcdefghijklmnopqrstuvwxyz0123456789";

/// Every repository directory of a category (relative) and the leaf directories under it.
fn layout(versions: &[&str]) -> (Vec<String>, Vec<String>) {
    let mut repos = Vec::new();
    let mut leaves = Vec::new();
    for v in versions {
        for arch in ["x86_64", "aarch64"] {
            let repo = format!("releases/{v}/Everything/{arch}/os");
            for c in LETTERS.chars() {
                leaves.push(format!("{repo}/Packages/{c}"));
            }
            leaves.push(format!("{repo}/images/pxeboot"));
            repos.push(repo);
        }
    }
    (repos, leaves)
}

/// The inventory: 2 categories, ~340 directories each, `hosts` hosts in about
/// three quarters as many sites. `variant` 1 changes a third of the hosts' patterns, URLs and
/// netblocks, drops every 9th host and adds some.
fn inventory_text(hosts: usize, variant: u64) -> String {
    let cats = [
        ("Fedora Linux", "pub/fedora/linux", &["40", "41", "42"][..]),
        ("Fedora EPEL", "pub/epel", &["8", "9", "10"][..]),
    ];
    let mut repositories = Vec::new();
    let mut categories = Vec::new();
    // Per category: every directory a pattern may name.
    let mut names: Vec<Vec<String>> = Vec::new();
    for (ci, (name, topdir, versions)) in cats.iter().enumerate() {
        let (repos, leaves) = layout(versions);
        for (i, repo) in repos.iter().enumerate() {
            let v = repo.split('/').nth(1).unwrap();
            let arch = repo.split('/').nth(3).unwrap();
            repositories.push(json!({
                "prefix": format!("{}-{v}", if ci == 0 { "fedora" } else { "epel" }),
                "arch": arch, "category": name, "version": v, "dir": repo,
                "repomd": [{ "timestamp": 1_700_000_000 + i as i64, "size": 4000 + i,
                             "sha256": format!("{:064x}", ci * 1000 + i) }],
            }));
        }
        categories.push(json!({
            "name": name, "product": if ci == 0 { "Fedora" } else { "EPEL" },
            "topdir": topdir, "directories": leaves,
        }));
        let mut all: BTreeSet<String> = BTreeSet::new();
        for d in repos.iter().chain(&leaves) {
            let mut cut = d.as_str();
            all.insert(cut.to_string());
            while let Some(i) = cut.rfind('/') {
                cut = &cut[..i];
                all.insert(cut.to_string());
            }
        }
        names.push(all.into_iter().collect());
    }
    let mut sites: Vec<Value> = Vec::new();
    let mut count = 0;
    for h in 0..hosts + if variant == 1 { 2 } else { 0 } {
        // The same draws for every variant, so that unchanged hosts stay unchanged.
        let mut hr = Rng(1000 + h as u64);
        let changed = variant == 1 && h % 3 == 0;
        if variant == 1 && h % 9 == 4 {
            continue;
        }
        if variant == 0 && h >= hosts {
            break;
        }
        let mut hcs = serde_json::Map::new();
        for (ci, (cat, _, _)) in cats.iter().enumerate() {
            let has = hr.below(10) < 8 || ci == 0;
            if !has {
                continue;
            }
            let url_base = format!("https://m{h}.example.org/{}", ci);
            let mut urls = vec![json!(url_base)];
            if hr.below(2) == 0 || changed {
                urls.push(json!(format!("http://m{h}.example.org/{ci}")));
            }
            if hr.below(20) == 0 {
                hcs.insert(
                    cat.to_string(),
                    json!({ "urls": urls, "always_up2date": true }),
                );
                continue;
            }
            let mut pr = if changed {
                Rng(5000 + h as u64)
            } else {
                Rng(hr.next())
            };
            let mut patterns = BTreeSet::new();
            match pr.below(6) {
                0 => {
                    patterns.insert("**".to_string());
                }
                _ => {
                    for _ in 0..1 + pr.below(12) {
                        let d = &names[ci][pr.below(names[ci].len() as u64) as usize];
                        patterns.insert(if pr.below(3) == 0 {
                            d.clone()
                        } else {
                            format!("{d}/**")
                        });
                    }
                    if pr.below(2) == 0 {
                        patterns.insert(String::new());
                    }
                }
            }
            hcs.insert(
                cat.to_string(),
                json!({ "urls": urls, "up2date": patterns.into_iter().collect::<Vec<_>>() }),
            );
        }
        let private = h % 7 == 3;
        let nets: Vec<String> = (0..1 + hr.below(4) + u64::from(changed))
            .map(|k| format!("10.{}.{}.0/24", h % 250, k + u64::from(changed) * 100))
            .collect();
        let host = json!({
            "name": format!("mirror{h}.example.org"),
            "country": COUNTRIES[h % 5],
            "bandwidth": 100 + h,
            "private": private,
            "netblocks": nets,
            "peer_asns": if h % 11 == 0 { vec![64_500 + h as u64] } else { vec![] },
            "categories": hcs,
        });
        count += 1;
        // One host in four shares the site of the host before it (whether or not that one is
        // in this variant), so a host never changes site between variants.
        let site = format!("Site {:03}", if h % 4 == 1 { h - 1 } else { h });
        match sites.iter_mut().find(|s| s["name"] == site.as_str()) {
            Some(s) => s["hosts"].as_array_mut().unwrap().push(host),
            None => sites.push(json!({
                "name": site,
                "owners": [format!("owner{}", h % 13)],
                "hosts": [host],
            })),
        }
    }
    assert!(count > 0);
    let doc = json!({
        "format": "mirrorfleet-inventory",
        "format_version": 1,
        "products": [
            { "name": "Fedora", "versions": ["40", "41", "42"] },
            { "name": "EPEL", "versions": ["8", "9", "10"] },
        ],
        "arches": ["x86_64", "aarch64"],
        "categories": categories,
        "repositories": repositories,
        "sites": sites,
    });
    serde_json::to_string_pretty(&doc).unwrap()
}

fn parse(text: &str) -> Inventory {
    match parse_inventory("inventory.json", text) {
        Ok((inv, _)) => inv,
        Err(d) => panic!(
            "generated inventory invalid: {}",
            d.iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        ),
    }
}

/// Up-to-date (host category, directory) pairs the file implies.
fn expected_hcd(inv: &Inventory) -> usize {
    let mut n = 0;
    for site in &inv.sites {
        for host in &site.hosts {
            for hc in &host.categories {
                if hc.always_up2date {
                    continue;
                }
                let cat = inv.category(&hc.category).unwrap();
                n += category_directories(inv, cat)
                    .iter()
                    .filter(|d| hc.up2date.iter().any(|p| p.matches(d)))
                    .count();
            }
        }
    }
    n
}

async fn count(db: &Database, sql: &str) -> i64 {
    with_pool!(db, pool => sqlx::query_scalar::<_, i64>(sql).fetch_one(pool).await.unwrap())
}

async fn derived(db: &Database, inv: &Inventory) -> SnapshotData {
    let opts = DeriveOptions {
        version: 1,
        policy: inv.effective_policy(),
        ..DeriveOptions::default()
    };
    derive_snapshot(db, &opts).await.expect("derive").data
}

/// The derived snapshot carries what the file says. Host ids are the database's (after a
/// reconcile they are no longer 1…n in name order), so hosts and carriers are compared by name.
fn assert_same(inv: &Inventory, got: &SnapshotData) {
    let installation = *uuid::Uuid::parse_str(INSTALLATION).unwrap().as_bytes();
    let (expected, _) = to_snapshot_data(
        inv,
        &BuildOptions {
            version: 1,
            installation_id: installation,
            ..BuildOptions::default()
        },
    );
    let names = |data: &SnapshotData| -> HashMap<u64, String> {
        data.hosts.iter().map(|h| (h.id, h.name.clone())).collect()
    };
    let (got_names, expected_names) = (names(got), names(&expected));
    let without_id = |data: &SnapshotData| -> Vec<Host> {
        let mut hosts: Vec<Host> = data
            .hosts
            .iter()
            .map(|h| Host { id: 0, ..h.clone() })
            .collect();
        hosts.sort_by(|a, b| a.name.cmp(&b.name));
        hosts
    };
    assert_eq!(without_id(got), without_id(&expected), "hosts");
    assert_eq!(got.directories.len(), expected.directories.len());
    for (g, e) in got.directories.iter().zip(&expected.directories) {
        assert_eq!(g.name, e.name);
        assert_eq!(g.category, e.category, "{}", e.name);
        let carriers = |ids: &[u64], names: &HashMap<u64, String>| -> BTreeSet<String> {
            ids.iter().map(|id| names[id].clone()).collect()
        };
        assert_eq!(
            carriers(&g.carriers, &got_names),
            carriers(&e.carriers, &expected_names),
            "carriers of {}",
            e.name
        );
        assert_eq!(g.files, e.files, "files of {}", e.name);
    }
    assert_eq!(got.repositories, expected.repositories);
}

async fn import_at_scale(db: &Database) {
    let installation = *uuid::Uuid::parse_str(INSTALLATION).unwrap().as_bytes();
    init(db, Some(installation)).await.unwrap();
    let first = parse(&inventory_text(120, 0));
    let hcd = expected_hcd(&first);
    assert!(hcd > 4_096 * 2, "{hcd} rows do not cross two statements");
    let report = import_inventory(db, &first, false).await.unwrap();
    assert_eq!(
        report.counts(ObjectKind::HostCategoryDir).created,
        hcd as u64,
        "{report}"
    );
    let hcs = count(db, "SELECT count(*) FROM host_category").await;
    assert!(hcs > 2 * HCD_PAGE, "{hcs} host categories fit in two pages");
    assert_eq!(
        count(db, "SELECT count(*) FROM host_category_dir").await,
        hcd as i64
    );
    assert_same(&first, &derived(db, &first).await);

    // Re-import: nothing changes.
    let again = import_inventory(db, &first, false).await.unwrap();
    assert!(again.is_empty(), "{again}");
    assert_eq!(again.generation_after, again.generation_before);

    // A crawler found some rows out of date (and wrote some "not up to date" rows of its own).
    let crawler_rows = with_pool!(db, pool => {
        sqlx::query("UPDATE host_category_dir SET up2date = FALSE, source = 'crawl' \
                     WHERE id % 17 = 0")
            .execute(pool)
            .await
            .unwrap()
            .rows_affected()
    });
    assert!(crawler_rows > 0);

    // The changed file: dry run first, then for real; both report the same.
    let second = parse(&inventory_text(120, 1));
    let dry = import_inventory(db, &second, true).await.unwrap();
    let real = import_inventory(db, &second, false).await.unwrap();
    assert_eq!(dry.changes, real.changes);
    let hcd_counts = real.counts(ObjectKind::HostCategoryDir);
    assert!(
        hcd_counts.created > 0 && hcd_counts.updated > 0 && hcd_counts.deleted > 0,
        "{real}"
    );
    let host_counts = real.counts(ObjectKind::Host);
    assert!(host_counts.created > 0 && host_counts.deleted > 0, "{real}");
    assert_eq!(real.generation_after, real.generation_before + 1);
    // Exactly the wanted rows are up to date; "not up to date" rows outside them stay.
    assert_eq!(
        count(db, "SELECT count(*) FROM host_category_dir WHERE up2date").await,
        expected_hcd(&second) as i64
    );
    assert!(
        count(
            db,
            "SELECT count(*) FROM host_category_dir WHERE NOT up2date"
        )
        .await
            > 0
    );
    assert_same(&second, &derived(db, &second).await);
    let third = import_inventory(db, &second, false).await.unwrap();
    assert!(third.is_empty(), "{third}");
}
on_both_backends!(import_at_scale);
