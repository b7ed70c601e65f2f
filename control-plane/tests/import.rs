//! `init` and `import inventory` (data-model.md §11.1, control-plane.md §8.3) on SQLite and on
//! PostgreSQL: a fresh import creates the expected rows with host ids in (site, host) byte
//! order; a re-import is a no-op; a modified file reconciles; a dry run changes nothing; a
//! failing import leaves the database untouched.

use mirrorfleet_control::db::Database;
use mirrorfleet_control::inventory::{Inventory, parse_inventory};
use mirrorfleet_control::store::StoreError;
use mirrorfleet_control::store::import::{
    Counts, ImportReport, ObjectKind, SEED_ARCHES, import_inventory, init,
};
use mirrorfleet_control::with_pool;

mod support;

/// Runs `check(&db)` on a fresh SQLite database and on a fresh PostgreSQL schema.
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

fn example() -> Inventory {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/inventory.json");
    let text = std::fs::read_to_string(path).expect("read examples/inventory.json");
    let (inv, _warnings) = parse_inventory("inventory.json", &text).expect("valid example");
    inv
}

/// The example without the host "fedora.example.net" and with a bandwidth of 5000 for
/// "mirror.example.edu".
fn modified() -> Inventory {
    let mut inv = example();
    for site in &mut inv.sites {
        site.hosts.retain(|h| h.name != "fedora.example.net");
        for host in &mut site.hosts {
            if host.name == "mirror.example.edu" {
                host.bandwidth = 5000;
            }
        }
    }
    inv
}

async fn count(db: &Database, table: &str) -> i64 {
    let sql = format!("SELECT count(*) FROM {table}");
    with_pool!(db, pool => sqlx::query_scalar::<_, i64>(&sql).fetch_one(pool).await.unwrap())
}

async fn generation(db: &Database) -> i64 {
    with_pool!(db, pool => sqlx::query_scalar::<_, i64>(
        "SELECT CAST(generation AS BIGINT) FROM meta WHERE id = 1",
    )
    .fetch_one(pool)
    .await
    .unwrap())
}

async fn hosts(db: &Database) -> Vec<(i64, String, i64)> {
    with_pool!(db, pool => sqlx::query_as::<_, (i64, String, i64)>(
        "SELECT id, name, CAST(bandwidth AS BIGINT) FROM host ORDER BY id",
    )
    .fetch_all(pool)
    .await
    .unwrap())
}

const TABLES: &[&str] = &[
    "product",
    "version",
    "arch",
    "category",
    "directory",
    "category_directory",
    "repository",
    "file_detail",
    "repository_redirect",
    "disabled_repository",
    "continent_override",
    "netblock_country",
    "users",
    "site",
    "site_owner",
    "host",
    "host_netblock",
    "host_peer_asn",
    "host_allowed_country",
    "host_category",
    "host_category_url",
    "host_category_dir",
    "country",
];

/// Row counts of every table an import writes, the generation and the hosts.
async fn state(db: &Database) -> (Vec<(&'static str, i64)>, i64, Vec<(i64, String, i64)>) {
    let mut counts = Vec::new();
    for table in TABLES {
        counts.push((*table, count(db, table).await));
    }
    (counts, generation(db).await, hosts(db).await)
}

fn counts(created: u64, updated: u64, deleted: u64) -> Counts {
    Counts {
        created,
        updated,
        deleted,
    }
}

async fn fresh(db: &Database) -> ImportReport {
    init(db, None).await.expect("init");
    import_inventory(db, &example(), false)
        .await
        .expect("import")
}

async fn init_is_idempotent(db: &Database) {
    let id = [0x42u8; 16];
    let first = init(db, Some(id)).await.unwrap();
    assert!(first.created);
    assert_eq!(
        first.installation_id,
        "42424242-4242-4242-4242-424242424242"
    );
    assert_eq!(
        first.countries_added as usize,
        mirrorfleet_snapshot::countries::COUNTRIES.len()
    );
    assert_eq!(first.arches_added as usize, SEED_ARCHES.len());
    let second = init(db, None).await.unwrap();
    assert!(!second.created);
    assert_eq!(second.installation_id, first.installation_id);
    assert_eq!((second.countries_added, second.arches_added), (0, 0));
    assert_eq!(generation(db).await, 0);
}
on_both_backends!(init_is_idempotent);

async fn random_installation_id(db: &Database) {
    let report = init(db, None).await.unwrap();
    let uuid = uuid::Uuid::parse_str(&report.installation_id).unwrap();
    assert_eq!(uuid.get_version_num(), 4);
    assert_eq!(
        report.installation_id,
        report.installation_id.to_lowercase()
    );
}
on_both_backends!(random_installation_id);

async fn import_before_init_is_refused(db: &Database) {
    let err = import_inventory(db, &example(), false).await.unwrap_err();
    assert!(matches!(err, StoreError::NotInitialised), "{err}");
    assert_eq!(count(db, "product").await, 0);
}
on_both_backends!(import_before_init_is_refused);

async fn fresh_import_creates_rows(db: &Database) {
    let report = fresh(db).await;
    assert_eq!((report.generation_before, report.generation_after), (0, 1));
    assert_eq!(generation(db).await, 1);
    // Host ids 1..3 in (site name, host name) byte order (data-model.md §9 "Ids").
    assert_eq!(
        hosts(db).await,
        [
            (1, "mirror.corp.example.com".to_string(), 100),
            (2, "fedora.example.net".to_string(), 1000),
            (3, "mirror.example.edu".to_string(), 10000),
        ]
    );
    let expected = [
        ("product", 2),
        ("version", 2),
        ("arch", 3), // the file's arches replace the seeded ones
        ("category", 2),
        // Fedora Linux: 15 directories, Fedora EPEL: 5.
        ("directory", 20),
        ("category_directory", 20),
        ("repository", 4),
        ("file_detail", 5),
        ("repository_redirect", 1),
        ("disabled_repository", 1),
        ("continent_override", 1),
        ("netblock_country", 0),
        ("users", 3),
        ("site", 3),
        ("site_owner", 3),
        ("host", 3),
        ("host_netblock", 3),
        ("host_peer_asn", 0),
        ("host_allowed_country", 2),
        ("host_category", 5),
        ("host_category_url", 7),
        // edu: 15 + 4 (9/**), US: 8 (releases/40/**), corp: 8 + 4, EPEL always_up2date.
        ("host_category_dir", 39),
    ];
    for (table, n) in expected {
        assert_eq!(count(db, table).await, n, "{table}");
    }
    assert_eq!(report.counts(ObjectKind::Host), counts(3, 0, 0));
    assert_eq!(report.counts(ObjectKind::Arch), counts(0, 0, 5));
    assert_eq!(report.counts(ObjectKind::HostCategoryDir), counts(39, 0, 0));
    assert_eq!(report.counts(ObjectKind::FileDetail), counts(5, 0, 0));
    assert_eq!(report.counts(ObjectKind::User), counts(3, 0, 0));

    // Repositories: key, directory and origin.
    let repos: Vec<(String, String, String, String)> = with_pool!(db, pool => sqlx::query_as(
        "SELECT r.prefix, a.name, d.name, r.origin FROM repository r \
         JOIN arch a ON a.id = r.arch_id JOIN directory d ON d.id = r.directory_id \
         ORDER BY r.prefix, a.name",
    )
    .fetch_all(pool)
    .await
    .unwrap());
    assert_eq!(
        repos[0],
        (
            "epel-9".into(),
            "x86_64".into(),
            "pub/epel/9/Everything/x86_64".into(),
            "import".into()
        )
    );
    assert_eq!(repos[3].0, "updates-released-f40");
    // The two-version history of updates-released-f40, newest first by (timestamp, id).
    let history: Vec<(i64, i64, Option<String>, String)> = with_pool!(db, pool => sqlx::query_as(
        "SELECT f.timestamp, f.size, f.md5, f.source FROM file_detail f \
         JOIN directory d ON d.id = f.directory_id \
         WHERE d.name = $1 AND f.filename = 'repomd.xml' \
         ORDER BY f.timestamp DESC, f.id DESC",
    )
    .bind("pub/fedora/linux/updates/40/Everything/x86_64/repodata")
    .fetch_all(pool)
    .await
    .unwrap());
    assert_eq!(
        history,
        [
            (
                1732520000,
                5120,
                Some("eb1dd1e55c9e393ce8934774838b09d2".into()),
                "import".into()
            ),
            (1732433600, 5098, None, "import".into()),
        ]
    );
    // HCDs of the private corp host (id 1): exactly releases/40/** and updates/40/**.
    let dirs: Vec<(String, bool, String)> = with_pool!(db, pool => sqlx::query_as(
        "SELECT d.name, hcd.up2date, hcd.source FROM host_category_dir hcd \
         JOIN host_category hc ON hc.id = hcd.host_category_id \
         JOIN directory d ON d.id = hcd.directory_id WHERE hc.host_id = 1 ORDER BY d.name",
    )
    .fetch_all(pool)
    .await
    .unwrap());
    assert_eq!(dirs.len(), 12);
    assert!(dirs.iter().all(|(name, up2date, source)| *up2date
        && source == "import"
        && (name.starts_with("pub/fedora/linux/releases/40")
            || name.starts_with("pub/fedora/linux/updates/40"))));
    // URLs in array order.
    let urls: Vec<(String, i64, bool)> = with_pool!(db, pool => sqlx::query_as(
        "SELECT u.url, CAST(u.position AS BIGINT), u.private FROM host_category_url u \
         JOIN host_category hc ON hc.id = u.host_category_id \
         WHERE hc.host_id = 2 ORDER BY u.position",
    )
    .fetch_all(pool)
    .await
    .unwrap());
    assert_eq!(
        urls,
        [
            (
                "https://fedora.example.net/pub/fedora/linux".into(),
                0,
                false
            ),
            (
                "http://fedora.example.net/pub/fedora/linux".into(),
                1,
                false
            ),
        ]
    );
    let netblocks: Vec<String> = with_pool!(db, pool => sqlx::query_scalar(
        "SELECT value FROM host_netblock WHERE host_id = 1 ORDER BY value",
    )
    .fetch_all(pool)
    .await
    .unwrap());
    assert_eq!(netblocks, ["198.51.100.0/24", "2001:db8:1000::/36"]);
    let owner: String = with_pool!(db, pool => sqlx::query_scalar(
        "SELECT u.username FROM site_owner o JOIN users u ON u.id = o.user_id \
         JOIN site s ON s.id = o.site_id WHERE s.name = 'Example Corp'",
    )
    .fetch_one(pool)
    .await
    .unwrap());
    assert_eq!(owner, "carol");
}
on_both_backends!(fresh_import_creates_rows);

async fn reimport_is_a_noop(db: &Database) {
    fresh(db).await;
    let before = state(db).await;
    let report = import_inventory(db, &example(), false).await.unwrap();
    assert!(report.is_empty(), "{report}");
    assert_eq!((report.generation_before, report.generation_after), (1, 1));
    assert_eq!(state(db).await, before);
}
on_both_backends!(reimport_is_a_noop);

async fn modified_file_reconciles(db: &Database) {
    fresh(db).await;
    let report = import_inventory(db, &modified(), false).await.unwrap();
    assert_eq!(report.counts(ObjectKind::Host), counts(0, 1, 1), "{report}");
    // Dependants of the deleted host go by cascade and are not counted.
    assert_eq!(report.changes.len(), 1, "{report}");
    assert_eq!((report.generation_before, report.generation_after), (1, 2));
    assert_eq!(generation(db).await, 2);
    assert_eq!(
        hosts(db).await,
        [
            (1, "mirror.corp.example.com".to_string(), 100),
            (3, "mirror.example.edu".to_string(), 5000),
        ]
    );
    assert_eq!(count(db, "host_allowed_country").await, 0);
    assert_eq!(count(db, "host_category").await, 4);
    assert_eq!(count(db, "host_category_url").await, 5);
    assert_eq!(count(db, "host_category_dir").await, 31);
    // The site stays, now without hosts.
    assert_eq!(count(db, "site").await, 3);
    // And the modified file is now a no-op.
    let again = import_inventory(db, &modified(), false).await.unwrap();
    assert!(again.is_empty(), "{again}");
    assert_eq!(generation(db).await, 2);
}
on_both_backends!(modified_file_reconciles);

async fn dry_run_changes_nothing(db: &Database) {
    fresh(db).await;
    let before = state(db).await;
    let report = import_inventory(db, &modified(), true).await.unwrap();
    assert!(report.dry_run);
    assert_eq!(report.counts(ObjectKind::Host), counts(0, 1, 1), "{report}");
    assert_eq!((report.generation_before, report.generation_after), (1, 2));
    assert!(
        report
            .to_string()
            .contains("host: 0 created, 1 updated, 1 deleted")
    );
    assert!(report.to_string().contains("generation 1 would be 2"));
    assert_eq!(state(db).await, before);
    // The real import reports the same.
    let real = import_inventory(db, &modified(), false).await.unwrap();
    assert_eq!(real.changes, report.changes);
}
on_both_backends!(dry_run_changes_nothing);

async fn dry_run_into_empty_database(db: &Database) {
    init(db, None).await.unwrap();
    let before = state(db).await;
    let report = import_inventory(db, &example(), true).await.unwrap();
    assert_eq!(report.counts(ObjectKind::Host), counts(3, 0, 0));
    assert_eq!(state(db).await, before);
}
on_both_backends!(dry_run_into_empty_database);

async fn failing_import_leaves_database_untouched(db: &Database) {
    fresh(db).await;
    let before = state(db).await;
    // The host deletion runs before the bad update; both must be rolled back.
    let mut bad = modified();
    for site in &mut bad.sites {
        for host in &mut site.hosts {
            if host.name == "mirror.example.edu" {
                host.bandwidth = 0; // out of range: only the schema's CHECK stops it
            }
        }
    }
    let err = import_inventory(db, &bad, false).await.unwrap_err();
    let StoreError::Query(sqlx::Error::Database(e)) = &err else {
        panic!("expected a constraint violation, got {err}");
    };
    assert_eq!(e.kind(), sqlx::error::ErrorKind::CheckViolation, "{err}");
    assert_eq!(state(db).await, before);

    // A foreign-key violation (a country the database does not know) in a new host.
    let mut bad = example();
    let mut host = bad.sites[0].hosts[0].clone();
    host.name = "new.example.edu".into();
    host.country = "ZZ".into();
    bad.sites[0].hosts.push(host);
    let err = import_inventory(db, &bad, false).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Query(sqlx::Error::Database(_))),
        "{err}"
    );
    assert_eq!(state(db).await, before);
}
on_both_backends!(failing_import_leaves_database_untouched);

/// Every optional field the importer stores, for the no-op check of values that could read
/// back differently from how they were written (times, floats, nulls, JSON-ish text).
const RICH: &str = r#"{
  "format": "mirrorfleet-inventory",
  "format_version": 1,
  "products": [
    { "name": "Fedora", "publiclist": false,
      "versions": ["40", { "name": "development", "display_name": "Rawhide", "display": false,
                           "is_test": true, "sort_order": -3 }] }
  ],
  "arches": ["x86_64", { "name": "source", "publiclist": false, "primary": false }],
  "categories": [
    { "name": "Fedora Linux", "product": "Fedora", "topdir": "pub/fedora/linux",
      "admin_only": true, "directories": ["extras/a/b"] }
  ],
  "repositories": [
    { "prefix": "rawhide", "arch": "x86_64", "category": "Fedora Linux",
      "version": "development", "dir": "development/rawhide/x86_64/os",
      "repomd": [
        { "timestamp": 1700000000, "size": 10, "mtime": 1700000001,
          "sha256": "0a427eacd126174c038a013a1eafbfe513e361ef8da734f65a669a5dd98c3174" },
        { "timestamp": 1700000000, "size": 11,
          "sha256": "b111f6a8e570313dab0baef06cc5497074f76120088d2b7ec09124fe079d8761" } ] },
    { "prefix": null, "arch": "source", "category": "Fedora Linux", "dir": "development/rawhide/source/tree" }
  ],
  "files": [
    { "category": "Fedora Linux", "dir": "releases/40/Cloud", "name": "CHECKSUM",
      "history": [ { "timestamp": 1713185000, "size": 99, "md5": "eb1dd1e55c9e393ce8934774838b09d2" } ] }
  ],
  "netblock_countries": { "203.0.113.0/24": "AU", "2001:db8::/32": "NZ" },
  "continent_overrides": { "TR": "AS" },
  "sites": [
    { "name": "Zeta", "org_url": "http://zeta.example", "private": true, "admin_active": false,
      "user_active": false, "comment": "pending", "owners": ["dave", "erin"],
      "hosts": [
        { "name": "b.zeta.example", "country": "AU", "bandwidth": 1000000, "max_connections": 100,
          "private": true, "asn": 4294967294, "asn_clients": false, "admin_active": false,
          "user_active": false, "auto_disabled_at": "2026-11-01T12:34:56Z",
          "disable_reason": "crawl failed 4 times", "comment": "hi", "contact_email": "ops@zeta.example",
          "latitude": -33.8688, "longitude": 151.2093,
          "netblocks": ["mirrors.zeta.example", "10.1.2.3", "10.0.0.0/255.255.0.0"],
          "peer_asns": [64501, 64502], "allowed_countries": ["NZ", "AU"],
          "categories": {
            "Fedora Linux": {
              "urls": [ { "url": "https://b.zeta.example/fedora", "ipv4": true, "ipv6": false },
                        "ftp://b.zeta.example/fedora" ],
              "private_urls": ["rsync://10.1.2.3/fedora"],
              "up2date": ["", "extras/a/**", "development/rawhide/x86_64/os"] } } },
        { "name": "A.zeta.example", "country": "NZ" } ] },
    { "name": "alpha", "hosts": [ { "name": "m.alpha.example", "country": "FR" } ] }
  ]
}"#;

/// url, private, position, ipv4, ipv6.
type UrlRow = (String, bool, i64, Option<bool>, Option<bool>);

fn rich() -> Inventory {
    let (inv, _warnings) = parse_inventory("rich.json", RICH).expect("valid rich inventory");
    inv
}

async fn rich_inventory_round_trips(db: &Database) {
    init(db, None).await.unwrap();
    let report = import_inventory(db, &rich(), false).await.unwrap();
    assert_eq!(report.generation_after, 1);
    // Byte order: "Zeta" < "alpha"; "A.zeta…" < "b.zeta…".
    assert_eq!(
        hosts(db).await,
        [
            (1, "A.zeta.example".to_string(), 100),
            (2, "b.zeta.example".to_string(), 1000000),
            (3, "m.alpha.example".to_string(), 100),
        ]
    );
    let before = state(db).await;
    let again = import_inventory(db, &rich(), false).await.unwrap();
    assert!(again.is_empty(), "{again}");
    assert_eq!(state(db).await, before);

    let disabled: Option<time::OffsetDateTime> = with_pool!(db, pool => sqlx::query_scalar(
        "SELECT auto_disabled_at FROM host WHERE id = 2",
    )
    .fetch_one(pool)
    .await
    .unwrap());
    assert_eq!(
        disabled,
        Some(time::macros::datetime!(2026-11-01 12:34:56 UTC))
    );
    let netblocks: Vec<String> = with_pool!(db, pool => sqlx::query_scalar(
        "SELECT value FROM host_netblock WHERE host_id = 2 ORDER BY value",
    )
    .fetch_all(pool)
    .await
    .unwrap());
    assert_eq!(
        netblocks,
        ["10.0.0.0/16", "10.1.2.3/32", "mirrors.zeta.example"]
    );
    let urls: Vec<UrlRow> = with_pool!(db, pool => sqlx::query_as(
            "SELECT url, private, CAST(position AS BIGINT), ipv4, ipv6 FROM host_category_url \
             ORDER BY private, position",
        )
        .fetch_all(pool)
        .await
        .unwrap());
    assert_eq!(
        urls,
        [
            (
                "https://b.zeta.example/fedora".into(),
                false,
                0,
                Some(true),
                Some(false)
            ),
            ("ftp://b.zeta.example/fedora".into(), false, 1, None, None),
            ("rsync://10.1.2.3/fedora".into(), true, 0, None, None),
        ]
    );
    // "" is the topdir only; extras/a/** is extras/a and extras/a/b.
    let dirs: Vec<String> = with_pool!(db, pool => sqlx::query_scalar(
        "SELECT d.name FROM host_category_dir hcd JOIN directory d ON d.id = hcd.directory_id \
         ORDER BY d.name",
    )
    .fetch_all(pool)
    .await
    .unwrap());
    assert_eq!(
        dirs,
        [
            "pub/fedora/linux",
            "pub/fedora/linux/development/rawhide/x86_64/os",
            "pub/fedora/linux/extras/a",
            "pub/fedora/linux/extras/a/b",
        ]
    );
    let unmapped: (Option<String>, String) = with_pool!(db, pool => sqlx::query_as(
        "SELECT r.prefix, d.name FROM repository r JOIN directory d ON d.id = r.directory_id \
         WHERE r.prefix IS NULL",
    )
    .fetch_one(pool)
    .await
    .unwrap());
    assert_eq!(
        unmapped.1,
        "pub/fedora/linux/development/rawhide/source/tree"
    );
    // Equal timestamps: the version listed first has the higher id, so it sorts first.
    let sizes: Vec<i64> = with_pool!(db, pool => sqlx::query_scalar(
        "SELECT size FROM file_detail WHERE filename = 'repomd.xml' \
         ORDER BY timestamp DESC, id DESC",
    )
    .fetch_all(pool)
    .await
    .unwrap());
    assert_eq!(sizes, [10, 11]);

    // Reorder the URLs and switch to the example: everything of the rich file goes.
    let mut reordered = rich();
    reordered.sites[0].hosts[0].categories[0].urls.reverse();
    let report = import_inventory(db, &reordered, false).await.unwrap();
    assert_eq!(report.counts(ObjectKind::HostCategoryUrl), counts(0, 2, 0));
    assert_eq!(report.changes.len(), 1, "{report}");
    assert_eq!(generation(db).await, 2);
    let report = import_inventory(db, &example(), false).await.unwrap();
    assert_eq!(report.counts(ObjectKind::Site), counts(3, 0, 2), "{report}");
    assert_eq!(count(db, "host").await, 3);
    assert_eq!(count(db, "netblock_country").await, 0);
    assert_eq!(count(db, "host_peer_asn").await, 0);
    assert_eq!(count(db, "file_detail").await, 5);
    // Users are never deleted by an import; the old owners lose their sites.
    assert_eq!(count(db, "users").await, 5);
    assert_eq!(count(db, "site_owner").await, 3);
    let again = import_inventory(db, &example(), false).await.unwrap();
    assert!(again.is_empty(), "{again}");
}
on_both_backends!(rich_inventory_round_trips);

async fn concurrent_imports_serialise(db: &Database) {
    init(db, None).await.unwrap();
    let inv = example();
    let (a, b) = tokio::join!(
        import_inventory(db, &inv, false),
        import_inventory(db, &inv, false)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    // One created everything, the other then found nothing to do.
    assert!(a.is_empty() != b.is_empty(), "{a}\n{b}");
    assert_eq!(generation(db).await, 1);
    assert_eq!(count(db, "host").await, 3);
}
on_both_backends!(concurrent_imports_serialise);
