//! `export inventory` (data-model.md §11.1, control-plane.md §8.3) on SQLite and on PostgreSQL:
//! the export of an imported inventory is a valid inventory; importing it into an empty database
//! and exporting again gives the same bytes and the same logical snapshot; re-importing it into
//! the database it came from changes nothing. Plus the `up2date` compression rule, and the
//! command as a user runs it.
//!
//! PostgreSQL: `MIRRORFLEET_TEST_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/test`
//! (unreachable: FAIL under `CI=true`, a SKIP line otherwise).

use std::collections::BTreeSet;

use mirrorfleet_control::db::Database;
use mirrorfleet_control::derive_db::{DeriveOptions, derive_snapshot};
use mirrorfleet_control::export::{compress_up2date, export_inventory};
use mirrorfleet_control::inventory::{Inventory, Pattern, parse_inventory};
use mirrorfleet_control::store::import::{import_inventory, init};
use mirrorfleet_control::with_pool;
use mirrorfleet_snapshot::model::SnapshotData;

mod support;
use support::{mirrorfleet, output_text};

/// Runs `check(&db1, &db2)` on two fresh SQLite databases and on two fresh PostgreSQL schemas.
macro_rules! on_both_backends {
    ($check:ident) => {
        mod $check {
            #[tokio::test]
            async fn sqlite() {
                let a = super::support::sqlite_db().await;
                let b = super::support::sqlite_db().await;
                super::$check(&a.db, &b.db).await;
            }

            #[tokio::test]
            async fn postgres() {
                let Some(a) = super::support::postgres_db().await else {
                    return;
                };
                let Some(b) = super::support::postgres_db().await else {
                    return;
                };
                super::$check(&a.db, &b.db).await;
            }
        }
    };
}

const INSTALLATION: [u8; 16] = *b"export-roundtrip";

fn example_text() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/inventory.json");
    std::fs::read_to_string(path).expect("read examples/inventory.json")
}

/// An inventory that sets every optional field somewhere: version and arch objects, a
/// category with its own directories, unmapped and orphaned repositories, other files with
/// equal timestamps, geography, site and host flags, DNS netblocks, peer ASNs, private URLs,
/// URLs with address families, and `up2date` lists with the topdir, leaves and subtrees.
const RICH: &str = r#"{
  "format": "mirrorfleet-inventory",
  "format_version": 1,
  "generated_at": "2026-11-25T10:00:00Z",
  "products": [
    { "name": "Fedora", "versions": ["40", { "name": "41", "display_name": "Forty-one",
      "display": false, "is_test": true, "sort_order": 7 }] },
    { "name": "Alt", "publiclist": false, "versions": ["1"] }
  ],
  "arches": ["x86_64", { "name": "ppc64le", "primary": false },
             { "name": "source", "publiclist": false }],
  "categories": [
    { "name": "Fedora Linux", "product": "Fedora", "topdir": "pub/fedora/linux",
      "repomap": "fedora", "directories": ["development/rawhide", "releases/41"] },
    { "name": "Fedora Alt", "product": "Alt", "topdir": "pub/alt", "publiclist": false,
      "admin_only": true, "directories": ["stage/40/iso", "testing", "a-b/c"] }
  ],
  "repositories": [
    { "prefix": "fedora-40", "arch": "x86_64", "category": "Fedora Linux", "version": "40",
      "dir": "releases/40/Everything/x86_64/os",
      "repomd": [
        { "timestamp": 1713185000, "size": 4381, "mtime": 1713185001,
          "sha256": "910ea8655c2bb5a2e5a0c63aa064043bb682ea3972df23a3a3e59b73741bd5e4" },
        { "timestamp": 1713185000, "size": 4380,
          "sha256": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" },
        { "timestamp": 1713000000, "size": 4000,
          "sha512": "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb" } ] },
    { "prefix": "fedora-41", "arch": "ppc64le", "category": "Fedora Linux", "version": "41",
      "dir": "releases/41/Everything/ppc64le/os" },
    { "prefix": "fedora-39", "arch": "x86_64", "category": "Fedora Linux" },
    { "prefix": null, "arch": "x86_64", "category": "Fedora Alt",
      "dir": "stage/40/x86_64" },
    { "prefix": "alt-src", "arch": "source", "category": "Fedora Alt", "version": "1",
      "dir": "" }
  ],
  "files": [
    { "category": "Fedora Alt", "dir": "stage/40/iso", "name": "CHECKSUM",
      "history": [
        { "timestamp": 100, "size": 10,
          "sha256": "1111111111111111111111111111111111111111111111111111111111111111" },
        { "timestamp": 100, "size": 10,
          "sha256": "2222222222222222222222222222222222222222222222222222222222222222" },
        { "timestamp": 200, "size": 0, "md5": "33333333333333333333333333333333",
          "sha256": "3333333333333333333333333333333333333333333333333333333333333333" } ] },
    { "category": "Fedora Linux", "dir": "", "name": "fullfiletimelist",
      "history": [ { "timestamp": 5, "size": 6,
        "sha256": "4444444444444444444444444444444444444444444444444444444444444444" } ] }
  ],
  "repo_redirects": { "fedora-rawhide": "fedora-40", "epel-9.4": "fedora-40" },
  "disabled_repos": [ { "prefix": "fedora-39", "reason": "end of life" }, { "prefix": "f38" } ],
  "continent_overrides": { "IL": "EU", "TR": "AS" },
  "netblock_countries": { "203.0.113.0/24": "JP", "2001:db8:ff::/48": "DE" },
  "sites": [
    { "name": "Zeta", "org_url": "https://zeta.example.org", "private": true,
      "admin_active": false, "user_active": false, "comment": "awaiting approval",
      "owners": ["zed", "amy"],
      "hosts": [
        { "name": "z2.example.org", "country": "JP", "bandwidth": 20000,
          "max_connections": 3, "asn": 64500, "asn_clients": false, "admin_active": false,
          "user_active": false, "auto_disabled_at": "2026-11-01T12:30:00Z",
          "disable_reason": "4 failed crawls", "comment": "public comment",
          "contact_email": "ops@zeta.example.org", "latitude": 35.68, "longitude": 139.0,
          "netblocks": ["mirror-clients.zeta.example.org", "198.51.100.0/24",
                        "2001:db8:1000::/36", "192.0.2.7"],
          "peer_asns": [64502, 64501], "allowed_countries": ["JP", "KR"],
          "categories": {
            "Fedora Alt": { "urls": ["https://z2.example.org/alt"],
                            "up2date": ["", "testing", "stage/40/iso"] },
            "Fedora Linux": {
              "urls": [ { "url": "https://z2.example.org/fedora", "ipv4": true, "ipv6": false },
                        "rsync://z2.example.org/fedora" ],
              "private_urls": ["http://10.0.0.1/fedora", { "url": "http://10.0.0.2/fedora",
                               "ipv6": true }],
              "up2date": ["releases/**", "development/rawhide", "releases/40/Everything/x86_64/os"] } } },
        { "name": "z1.example.org", "country": "KR", "private": true,
          "netblocks": ["203.0.113.0/24"],
          "categories": {
            "Fedora Alt": { "urls": ["https://z1.example.org/alt"], "up2date": ["stage/**", "a-b/**"] },
            "Fedora Linux": { "urls": ["https://z1.example.org/fedora"], "always_up2date": true } } } ] },
    { "name": "Alpha", "owners": ["amy"],
      "hosts": [
        { "name": "a.example.net", "country": "SE",
          "categories": {
            "Fedora Linux": { "urls": ["https://a.example.net/fedora"], "up2date": ["**"] } } } ] }
  ]
}
"#;

fn parse(name: &str, text: &str) -> Inventory {
    match parse_inventory(name, text) {
        Ok((inv, _warnings)) => inv,
        Err(diagnostics) => {
            let lines: Vec<String> = diagnostics.iter().map(|d| d.to_string()).collect();
            panic!("{name} is not a valid inventory:\n{}", lines.join("\n"));
        }
    }
}

async fn derived(db: &Database) -> SnapshotData {
    let opts = DeriveOptions {
        version: 1,
        ..DeriveOptions::default()
    };
    derive_snapshot(db, &opts).await.expect("derive").data
}

/// Imports `source` into `db1`, exports, checks the export is a valid inventory, imports it
/// into the empty `db2`, exports again: the same bytes and the same logical snapshot; and
/// re-importing the export into `db1` changes nothing. Returns the export.
async fn round_trip(db1: &Database, db2: &Database, source: &str) -> String {
    init(db1, Some(INSTALLATION)).await.expect("init db1");
    init(db2, Some(INSTALLATION)).await.expect("init db2");
    let inv = parse("source.json", source);
    import_inventory(db1, &inv, false)
        .await
        .expect("import source");
    export_and_compare(db1, db2).await
}

/// The second half of [`round_trip`], for a `db1` filled by other means and an initialised,
/// empty `db2`.
async fn export_and_compare(db1: &Database, db2: &Database) -> String {
    let first = export_inventory(db1).await.expect("export db1");
    assert!(first.ends_with("}\n"), "{first}");
    assert!(!first.contains("generated_at"), "{first}");
    let exported = parse("export.json", &first);

    let again = import_inventory(db1, &exported, false)
        .await
        .expect("re-import into db1");
    assert!(again.is_empty(), "re-import changed: {again}");
    assert_eq!(again.generation_after, again.generation_before);

    import_inventory(db2, &exported, false)
        .await
        .expect("import export into db2");
    let second = export_inventory(db2).await.expect("export db2");
    assert_eq!(
        first, second,
        "export → import → export is not byte-identical"
    );
    assert_eq!(
        derived(db1).await,
        derived(db2).await,
        "both databases derive the same logical snapshot"
    );
    first
}

async fn example_round_trip(db1: &Database, db2: &Database) {
    let text = round_trip(db1, db2, &example_text()).await;
    // Sorted by name, compressed patterns, defaults left out.
    let example_university = text.find("\"name\": \"Example University\"").unwrap();
    let example_corp = text.find("\"name\": \"Example Corp\"").unwrap();
    assert!(example_corp < example_university, "{text}");
    assert!(text.contains("\"9/**\""), "{text}");
    assert!(!text.contains("\"bandwidth\": 100,"), "{text}");
    assert!(
        text.contains("\n  \"format\": \"mirrorfleet-inventory\",\n"),
        "{text}"
    );
}
on_both_backends!(example_round_trip);

async fn rich_round_trip(db1: &Database, db2: &Database) {
    let text = round_trip(db1, db2, RICH).await;
    let inv = parse("export.json", &text);
    let source = parse("rich.json", RICH);

    // Everything the file said survives, in canonical order.
    assert_eq!(inv.products.len(), 2);
    assert_eq!(inv.products[0].name, "Alt");
    assert!(!inv.products[0].publiclist);
    let fedora = &inv.products[1];
    assert_eq!(fedora.versions[1], source.products[0].versions[1]);
    assert_eq!(
        inv.arches
            .iter()
            .map(|a| a.name.as_str())
            .collect::<Vec<_>>(),
        ["ppc64le", "source", "x86_64"]
    );
    assert!(!inv.arch("ppc64le").unwrap().primary);
    assert!(!inv.arch("source").unwrap().publiclist);
    let alt = inv.category("Fedora Alt").unwrap();
    assert!(alt.admin_only && !alt.publiclist && alt.repomap.is_none());
    // Only what repositories and files do not imply.
    assert_eq!(alt.directories, ["a-b/c", "testing"]);
    let linux = inv.category("Fedora Linux").unwrap();
    assert_eq!(linux.directories, ["development/rawhide"]);
    for cat in &source.categories {
        assert_eq!(
            mirrorfleet_control::inventory::tree::category_directories(&source, cat),
            mirrorfleet_control::inventory::tree::category_directories(
                &inv,
                inv.category(&cat.name).unwrap()
            ),
            "directories of {}",
            cat.name
        );
    }
    // Repositories: by (prefix, arch), unmapped last; histories newest first, ties kept.
    let keys: Vec<(Option<&str>, &str)> = inv
        .repositories
        .iter()
        .map(|r| (r.prefix.as_deref(), r.arch.as_str()))
        .collect();
    assert_eq!(
        keys,
        [
            (Some("alt-src"), "source"),
            (Some("fedora-39"), "x86_64"),
            (Some("fedora-40"), "x86_64"),
            (Some("fedora-41"), "ppc64le"),
            (None, "x86_64"),
        ]
    );
    assert_eq!(inv.repositories[2].repomd, source.repositories[0].repomd);
    assert_eq!(inv.repositories[1].dir, None);
    assert_eq!(inv.repositories[0].dir.as_deref(), Some(""));
    let checksum = inv.files.iter().find(|f| f.name == "CHECKSUM").unwrap();
    let sha: Vec<Option<&str>> = checksum
        .history
        .iter()
        .map(|v| v.sha256.as_deref().map(|s| &s[..1]))
        .collect();
    assert_eq!(sha, [Some("3"), Some("1"), Some("2")]);
    assert_eq!(inv.repo_redirects, source.repo_redirects);
    assert_eq!(inv.continent_overrides, source.continent_overrides);
    assert_eq!(inv.netblock_countries, source.netblock_countries);
    assert_eq!(inv.disabled_repos[0].prefix, "f38");
    assert_eq!(inv.disabled_repos[0].reason, None);

    // Sites and hosts by name; every field kept.
    assert_eq!(inv.sites[0].name, "Alpha");
    let zeta = &inv.sites[1];
    let src_zeta = &source.sites[0];
    assert_eq!(zeta.owners, ["amy", "zed"]);
    assert_eq!(
        (
            &zeta.org_url,
            zeta.private,
            zeta.admin_active,
            zeta.user_active,
            &zeta.comment
        ),
        (
            &src_zeta.org_url,
            src_zeta.private,
            src_zeta.admin_active,
            src_zeta.user_active,
            &src_zeta.comment
        )
    );
    assert_eq!(zeta.hosts[0].name, "z1.example.org");
    let z2 = &zeta.hosts[1];
    let mut src_z2 = src_zeta.hosts[0].clone();
    assert_eq!(z2.peer_asns, [64501, 64502]);
    assert_eq!(z2.allowed_countries, ["JP", "KR"]);
    src_z2.peer_asns.sort();
    src_z2.netblocks.sort_by_key(|n| match n {
        mirrorfleet_control::inventory::Netblock::Network(p) => p.to_string(),
        mirrorfleet_control::inventory::Netblock::DnsName(d) => d.clone(),
    });
    let mut src_categories = src_z2.categories.clone();
    src_categories.sort_by(|a, b| a.category.cmp(&b.category));
    src_z2.categories.clear();
    let mut z2_plain = z2.clone();
    let z2_categories = std::mem::take(&mut z2_plain.categories);
    assert_eq!(z2_plain, src_z2);
    assert_eq!(z2_categories.len(), 2);
    // URLs in position order, private ones apart.
    assert_eq!(z2_categories[1].urls, src_categories[1].urls);
    assert_eq!(
        z2_categories[1].private_urls,
        src_categories[1].private_urls
    );
    // Patterns compressed: the topdir and leaves stay plain; an explicit subdirectory inside
    // a covered subtree disappears.
    let patterns = |hc: &mirrorfleet_control::inventory::HostCategory| -> Vec<String> {
        hc.up2date.iter().map(|p| p.to_string()).collect()
    };
    assert_eq!(patterns(&z2_categories[0]), ["", "stage/40/iso", "testing"]);
    assert_eq!(
        patterns(&z2_categories[1]),
        ["development/rawhide", "releases/**"]
    );
    let z1 = &zeta.hosts[0];
    assert_eq!(patterns(&z1.categories[0]), ["a-b/**", "stage/**"]);
    assert!(z1.categories[1].always_up2date && z1.categories[1].up2date.is_empty());
    assert_eq!(patterns(&inv.sites[0].hosts[0].categories[0]), ["**"]);
    assert!(
        text.contains("\"auto_disabled_at\": \"2026-11-01T12:30:00Z\""),
        "{text}"
    );
}
on_both_backends!(rich_round_trip);

async fn execute(db: &Database, sql: &str) {
    with_pool!(db, pool => {
        sqlx::query(sql).execute(pool).await.expect(sql);
    });
}

/// Up-to-date rows written by a crawler, not an import (one "not up to date" in a tree that
/// was fully up to date, one more directory up to date): the export compresses what the
/// database says, and round-trips.
async fn crawled_state_round_trip(db1: &Database, db2: &Database) {
    init(db1, Some(INSTALLATION)).await.unwrap();
    init(db2, Some(INSTALLATION)).await.unwrap();
    import_inventory(db1, &parse("inventory.json", &example_text()), false)
        .await
        .unwrap();
    execute(
        db1,
        "UPDATE host_category_dir SET up2date = FALSE, source = 'crawl' \
         WHERE directory_id = (SELECT id FROM directory \
                               WHERE name = 'pub/fedora/linux/updates/40/Everything/x86_64/repodata') \
           AND host_category_id IN (SELECT hc.id FROM host_category hc \
                                    JOIN host h ON h.id = hc.host_id \
                                    WHERE h.name = 'mirror.example.edu')",
    )
    .await;
    execute(
        db1,
        "INSERT INTO host_category_dir (host_category_id, directory_id, up2date, source) \
         SELECT hc.id, d.id, TRUE, 'crawl' FROM host_category hc \
         JOIN host h ON h.id = hc.host_id JOIN directory d ON d.name = 'pub/fedora/linux/updates/40' \
         WHERE h.name = 'fedora.example.net'",
    )
    .await;
    let text = export_and_compare(db1, db2).await;
    let inv = parse("export.json", &text);
    let patterns = |host: &str| -> Vec<String> {
        let h = inv
            .sites
            .iter()
            .flat_map(|s| &s.hosts)
            .find(|h| h.name == host)
            .unwrap();
        let hc = h
            .categories
            .iter()
            .find(|c| c.category == "Fedora Linux")
            .unwrap();
        hc.up2date.iter().map(|p| p.to_string()).collect()
    };
    assert_eq!(
        patterns("mirror.example.edu"),
        [
            "",
            "releases/**",
            "updates",
            "updates/40",
            "updates/40/Everything",
            "updates/40/Everything/x86_64"
        ]
    );
    assert_eq!(
        patterns("fedora.example.net"),
        ["releases/40/**", "updates/40"]
    );
}
on_both_backends!(crawled_state_round_trip);

/// A repository whose version belongs to another product, or whose directory lies outside its
/// category, cannot be written as an inventory: the export fails and names it instead of
/// leaving it out.
async fn unrepresentable_repository_fails(db: &Database, _unused: &Database) {
    init(db, Some(INSTALLATION)).await.unwrap();
    import_inventory(db, &parse("inventory.json", &example_text()), false)
        .await
        .unwrap();
    execute(
        db,
        "UPDATE repository SET category_id = (SELECT id FROM category WHERE name = 'Fedora EPEL') \
         WHERE prefix = 'updates-released-f40'",
    )
    .await;
    let err = export_inventory(db).await.unwrap_err().to_string();
    assert!(
        err.contains("repository updates-released-f40 (x86_64) of category \"Fedora EPEL\"")
            && err.contains("its version \"40\" belongs to another product"),
        "{err}"
    );
    execute(
        db,
        "UPDATE repository SET version_id = NULL WHERE prefix = 'updates-released-f40'",
    )
    .await;
    let err = export_inventory(db).await.unwrap_err().to_string();
    assert!(
        err.contains("repository updates-released-f40 (x86_64) of category \"Fedora EPEL\"")
            && err.contains("is not below the category topdir \"pub/epel\""),
        "{err}"
    );
}
on_both_backends!(unrepresentable_repository_fails);

// ---------------------------------------------------------------- up2date compression

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn pattern(text: &str) -> Pattern {
    if text == "**" {
        Pattern::All
    } else if let Some(dir) = text.strip_suffix("/**") {
        Pattern::Subtree(dir.to_string())
    } else {
        Pattern::Dir(text.to_string())
    }
}

/// The compressed patterns for `up` among `dirs`, after checking that they match exactly
/// `up` and each matches at least one directory.
fn compress(dirs: &BTreeSet<String>, up: &[&str]) -> Vec<String> {
    let up = set(up);
    let out = compress_up2date(dirs, &up);
    let patterns: Vec<Pattern> = out.iter().map(|p| pattern(p)).collect();
    let matched: BTreeSet<String> = dirs
        .iter()
        .filter(|d| patterns.iter().any(|p| p.matches(d)))
        .cloned()
        .collect();
    assert_eq!(matched, up, "patterns {out:?} for {up:?}");
    for p in &patterns {
        assert!(dirs.iter().any(|d| p.matches(d)), "{p} matches nothing");
    }
    let mut sorted = out.clone();
    sorted.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    assert_eq!(out, sorted, "sorted byte-wise");
    out
}

fn tree() -> BTreeSet<String> {
    set(&[
        "", "a", "a/b", "a/b/c", "a/d", "a-b", "a-b/x", "e", "e/f", "g",
    ])
}

#[test]
fn whole_category_is_two_stars() {
    let dirs = tree();
    let all: Vec<&str> = dirs.iter().map(String::as_str).collect();
    assert_eq!(compress(&dirs, &all), ["**"]);
    assert_eq!(compress(&set(&[""]), &[""]), ["**"]);
}

#[test]
fn fully_up_to_date_subtree_is_x_stars() {
    let dirs = tree();
    assert_eq!(compress(&dirs, &["a", "a/b", "a/b/c", "a/d"]), ["a/**"]);
    assert_eq!(compress(&dirs, &["a/b", "a/b/c"]), ["a/b/**"]);
    // Byte order: '-' sorts before '/'.
    assert_eq!(
        compress(&dirs, &["a", "a/b", "a/b/c", "a/d", "a-b", "a-b/x"]),
        ["a-b/**", "a/**"]
    );
    // Every directory but the topdir: the subtrees below it.
    assert_eq!(
        compress(
            &dirs,
            &["a", "a/b", "a/b/c", "a/d", "a-b", "a-b/x", "e", "e/f", "g"]
        ),
        ["a-b/**", "a/**", "e/**", "g"]
    );
}

#[test]
fn leaf_is_plain() {
    let dirs = tree();
    assert_eq!(compress(&dirs, &["g"]), ["g"]);
    assert_eq!(compress(&dirs, &["a/b/c"]), ["a/b/c"]);
    // Up to date but not its whole subtree: plain too.
    assert_eq!(compress(&dirs, &["a", "a/d", "e"]), ["a", "a/d", "e"]);
}

#[test]
fn topdir_is_the_empty_pattern() {
    let dirs = tree();
    assert_eq!(compress(&dirs, &[""]), [""]);
    assert_eq!(
        compress(&dirs, &["", "a/b", "a/b/c", "g"]),
        ["", "a/b/**", "g"]
    );
}

#[test]
fn nothing_up_to_date_is_no_pattern() {
    assert!(compress(&tree(), &[]).is_empty());
    assert!(compress_up2date(&BTreeSet::new(), &set(&["x"])).is_empty());
    // Names outside the category are ignored.
    assert_eq!(compress_up2date(&tree(), &set(&["g", "zzz"])), ["g"]);
}

#[test]
fn missing_intermediate_directories_use_the_nearest_ancestor() {
    // "x/y" is listed without "x": its nearest ancestor is the topdir.
    let dirs = set(&["", "x/y", "x/y/z", "w"]);
    assert_eq!(compress(&dirs, &["x/y", "x/y/z"]), ["x/y/**"]);
    assert_eq!(compress(&dirs, &["x/y/z", "w"]), ["w", "x/y/z"]);
}

// ---------------------------------------------------------------- the command

#[test]
fn cli_export_then_import_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/inventory.json");
    for args in [
        &["init"][..],
        &["import", "inventory", example],
        &["export", "inventory", "--out", "out.json"],
    ] {
        let o = mirrorfleet(dir.path(), args);
        assert!(o.status.success(), "{args:?}: {}", output_text(&o));
    }
    let written = std::fs::read_to_string(dir.path().join("out.json")).expect("out.json");
    parse("out.json", &written);

    let stdout = mirrorfleet(dir.path(), &["export", "inventory"]);
    assert!(stdout.status.success(), "{}", output_text(&stdout));
    assert_eq!(String::from_utf8(stdout.stdout).unwrap(), written);

    let again = mirrorfleet(dir.path(), &["import", "inventory", "out.json"]);
    assert!(again.status.success(), "{}", output_text(&again));
    assert!(
        output_text(&again).contains("no changes"),
        "{}",
        output_text(&again)
    );
    assert!(
        output_text(&again).contains("generation 1 is 1"),
        "{}",
        output_text(&again)
    );
}

#[test]
fn cli_export_from_an_unreachable_database_exits_1_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let o = mirrorfleet(
        dir.path(),
        &[
            "--database-url",
            "postgres://postgres@127.0.0.1:9/test",
            "export",
            "inventory",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", output_text(&o));
    assert!(o.stdout.is_empty());
}
