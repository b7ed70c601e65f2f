//! The derivation database → logical snapshot (data-model.md §9), on SQLite and PostgreSQL:
//! a small data set written with plain SQL gives exactly the expected hosts, directories,
//! carriers, files, repo map and network tables, which the snapshot builder accepts; and an
//! inventory imported into an empty database derives the same logical snapshot as
//! `snapshot build` makes from the file.
//!
//! PostgreSQL: `MIRRORFLEET_TEST_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/test`
//! (unreachable: FAIL under `CI=true`, a SKIP line otherwise).

use mirrorfleet_control::db::Database;
use mirrorfleet_control::derive_db::{DeriveOptions, DeriveWarning, Derived, derive_snapshot};
use mirrorfleet_control::inventory::{BuildOptions, parse_inventory, to_snapshot_data};
use mirrorfleet_control::store::import::{import_inventory, init};
use mirrorfleet_snapshot::Snapshot;
use mirrorfleet_snapshot::model::{
    FileVersion, Host, HostCategory, HostUrl, Policy, RepoEntry, SnapshotData,
};
use mirrorfleet_snapshot::net::Prefix;

mod support;
use support::*;

const INSTALLATION: &str = "0b5b2c1e-7d3a-4c1f-9e2b-5a6d7c8e9f01";

/// The data set: every rule of §9 has a row that exercises it.
const DATA: &[&str] = &[
    "INSERT INTO meta (id, installation_id, generation) \
     VALUES (1, '0b5b2c1e-7d3a-4c1f-9e2b-5a6d7c8e9f01', 7)",
    "INSERT INTO country (code, name, continent) VALUES \
     ('SE', 'Sweden', 'EU'), ('US', 'United States', 'NA'), ('DE', 'Germany', 'EU'), \
     ('JP', 'Japan', 'AS'), ('TR', 'Türkiye', 'EU')",
    "INSERT INTO continent_override (country, continent, note) VALUES ('TR', 'AS', 'test')",
    "INSERT INTO netblock_country (netblock, country) VALUES \
     ('192.0.2.128/25', 'SE'), ('2001:db8:ff::/48', 'DE')",
    "INSERT INTO product (id, name, name_key) VALUES (1, 'Fedora', 'fedora')",
    "INSERT INTO arch (id, name) VALUES (1, 'x86_64'), (2, 'aarch64')",
    "INSERT INTO category (id, name, name_key, product_id, topdir) VALUES \
     (1, 'Fedora Linux', 'fedora linux', 1, 'pub/fedora/linux'), \
     (2, 'Fedora EPEL', 'fedora epel', 1, 'pub/epel'), \
     (3, 'Fedora Alt', 'fedora alt', 1, 'pub/fedora/linux/alt')",
    "INSERT INTO directory (id, name, readable) VALUES \
     (1, 'pub/fedora/linux', TRUE), \
     (2, 'pub/fedora/linux/releases/40/Everything/x86_64/os', TRUE), \
     (3, 'pub/fedora/linux/releases/40/Everything/x86_64/os/repodata', TRUE), \
     (4, 'pub/fedora/linux/updates/40/Everything/x86_64', TRUE), \
     (5, 'pub/fedora/linux/alt', TRUE), \
     (6, 'pub/fedora/linux/alt/stage/40', TRUE), \
     (7, 'pub/epel', TRUE), \
     (8, 'pub/epel/9/Everything/x86_64', TRUE), \
     (9, 'pub/epel/9/Everything/x86_64/repodata', TRUE), \
     (10, 'pub/unlinked/dir', TRUE), \
     (11, 'pub/fedora/linux/secret', FALSE)",
    // 5 and 6 are linked to Fedora Linux too: the longest topdir (Fedora Alt) serves them.
    "INSERT INTO category_directory (category_id, directory_id) VALUES \
     (1, 1), (1, 2), (1, 3), (1, 4), (1, 5), (1, 6), (3, 5), (3, 6), (1, 11), \
     (2, 7), (2, 8), (2, 9)",
    "INSERT INTO site (id, name, name_key, private, admin_active, user_active) VALUES \
     (1, 'Alpha', 'alpha', FALSE, TRUE, TRUE), \
     (2, 'Beta', 'beta', TRUE, TRUE, TRUE), \
     (3, 'Gamma', 'gamma', FALSE, FALSE, TRUE)",
    "INSERT INTO host (id, site_id, name, name_key, country, bandwidth, max_connections, \
                       private, asn, asn_clients, admin_active, user_active, auto_disabled_at) VALUES \
     (1, 1, 'a1.example.org', 'a1.example.org', 'SE', 20000, 3, FALSE, 64500, TRUE, TRUE, TRUE, NULL), \
     (2, 1, 'a2.example.org', 'a2.example.org', 'US', 100, 1, FALSE, 64501, FALSE, TRUE, TRUE, NULL), \
     (3, 1, 'a3.example.org', 'a3.example.org', 'DE', 100, 1, FALSE, NULL, TRUE, TRUE, TRUE, \
        '2026-11-01T00:00:00Z'), \
     (4, 2, 'b1.example.net', 'b1.example.net', 'DE', 1000, 2, FALSE, NULL, TRUE, TRUE, TRUE, NULL), \
     (5, 3, 'g1.example.com', 'g1.example.com', 'JP', 100, 1, FALSE, NULL, TRUE, TRUE, TRUE, NULL), \
     (6, 1, 'a4.example.org', 'a4.example.org', 'SE', 100, 1, FALSE, NULL, TRUE, TRUE, TRUE, NULL), \
     (7, 1, 'a5.example.org', 'a5.example.org', 'JP', 100, 1, TRUE, NULL, TRUE, TRUE, TRUE, NULL), \
     (8, 1, 'a6.example.org', 'a6.example.org', 'TR', 100, 1, FALSE, NULL, TRUE, TRUE, FALSE, NULL)",
    "INSERT INTO host_category (id, host_id, category_id, always_up2date) VALUES \
     (10, 1, 1, FALSE), (11, 1, 2, FALSE), (12, 1, 3, FALSE), (20, 2, 1, TRUE), \
     (30, 3, 1, FALSE), (40, 4, 1, FALSE), (41, 4, 2, FALSE), (50, 5, 1, FALSE), \
     (60, 6, 1, FALSE), (70, 7, 2, FALSE), (80, 8, 1, FALSE)",
    "INSERT INTO host_category_url (id, host_category_id, url, private, position, ipv4, ipv6) VALUES \
     (100, 10, 'https://a1.example.org/pub/fedora/linux', FALSE, 2, NULL, NULL), \
     (101, 10, 'http://a1.example.org/fedora', FALSE, 1, TRUE, FALSE), \
     (102, 10, 'rsync://a1.example.org/fedora', FALSE, 1, NULL, TRUE), \
     (103, 10, 'https://internal.a1.example.org/fedora', TRUE, 0, NULL, NULL), \
     (110, 11, 'https://a1.example.org/epel', FALSE, 0, NULL, NULL), \
     (120, 12, 'https://a1.example.org/alt', FALSE, 0, NULL, NULL), \
     (200, 20, 'https://a2.example.org/fedora', FALSE, 0, NULL, NULL), \
     (300, 30, 'https://a3.example.org/fedora', FALSE, 0, NULL, NULL), \
     (400, 40, 'https://b1.example.net/fedora', FALSE, 0, NULL, NULL), \
     (500, 50, 'https://g1.example.com/fedora', FALSE, 0, NULL, NULL), \
     (600, 60, 'https://a4.example.org/fedora', TRUE, 0, NULL, NULL), \
     (700, 70, 'https://a5.example.org/epel', FALSE, 0, NULL, NULL), \
     (800, 80, 'https://a6.example.org/fedora', FALSE, 0, NULL, NULL)",
    "INSERT INTO host_category_dir (host_category_id, directory_id, up2date, source) VALUES \
     (10, 1, TRUE, 'crawl'), (10, 2, TRUE, 'crawl'), (10, 3, TRUE, 'crawl'), \
     (10, 4, FALSE, 'crawl'), (10, 5, TRUE, 'crawl'), (10, 11, TRUE, 'checkin'), \
     (11, 8, FALSE, 'crawl'), (12, 5, TRUE, 'crawl'), (12, 6, FALSE, 'crawl'), \
     (30, 2, TRUE, 'crawl'), (40, 2, TRUE, 'crawl'), (40, 3, TRUE, 'crawl'), \
     (41, 8, TRUE, 'crawl'), (50, 2, TRUE, 'crawl'), (60, 2, TRUE, 'crawl'), \
     (70, 7, TRUE, 'crawl'), (70, 8, TRUE, 'crawl'), (70, 9, TRUE, 'crawl'), \
     (80, 2, TRUE, 'crawl')",
    "INSERT INTO host_netblock (host_id, value, resolved) VALUES \
     (1, '2001:db8::/32', NULL), (1, '192.0.2.0/24', NULL), \
     (1, 'mirror.example.org', '[\"198.51.100.7/32\", \"2001:db8:1::7/128\"]'), \
     (4, 'unresolved.example.net', NULL), (4, '203.0.113.0/24', NULL), \
     (3, '10.0.0.0/8', NULL)",
    "INSERT INTO host_peer_asn (host_id, asn) VALUES (1, 64510), (1, 64502), (4, 64520), (3, 64530)",
    "INSERT INTO host_allowed_country (host_id, country) VALUES (4, 'SE'), (4, 'DE'), (3, 'US')",
    "INSERT INTO repository (id, prefix, arch_id, category_id, directory_id, \
                             last_directory_name, origin) VALUES \
     (1, 'fedora-40', 1, 1, 2, NULL, 'admin'), \
     (2, 'updates-released-f40', 1, 1, 4, NULL, 'admin'), \
     (3, 'epel-9', 1, 2, 8, NULL, 'admin'), \
     (4, NULL, 1, 3, 6, NULL, 'scanner'), \
     (5, 'epel-9', 2, 2, NULL, 'pub/epel/9/Everything/aarch64', 'scanner'), \
     (6, 'other-1', 1, 1, 10, NULL, 'admin')",
    "INSERT INTO file_detail (id, directory_id, filename, timestamp, size, md5, sha256, source) VALUES \
     (1, 3, 'repomd.xml', 100, 10, NULL, \
        '1111111111111111111111111111111111111111111111111111111111111111', 'import'), \
     (2, 3, 'repomd.xml', 200, 11, NULL, \
        '2222222222222222222222222222222222222222222222222222222222222222', 'import'), \
     (3, 3, 'repomd.xml', 200, 12, '33333333333333333333333333333333', \
        '3333333333333333333333333333333333333333333333333333333333333333', 'import'), \
     (4, 2, 'summary', 0, 0, '44444444444444444444444444444444', NULL, 'manual'), \
     (5, 10, 'stray', 5, 5, '55555555555555555555555555555555', NULL, 'manual'), \
     (6, 9, 'repomd.xml', 300, 30, NULL, \
        '6666666666666666666666666666666666666666666666666666666666666666', 'scanner'), \
     (7, 3, 'repomd.xml.asc', 200, 1, '77777777777777777777777777777777', NULL, 'scanner')",
    "INSERT INTO repository_redirect (from_prefix, to_prefix) VALUES \
     ('fedora-rawhide', 'rawhide'), ('epel-6.0', 'epel-6')",
    "INSERT INTO disabled_repository (prefix, reason) VALUES ('fedora-30', 'EOL'), ('epel-5', 'EOL')",
];

async fn load(db: &Database) {
    for sql in DATA {
        db.execute(sql)
            .await
            .unwrap_or_else(|e| panic!("{e}\n{sql}"));
    }
}

fn options() -> DeriveOptions {
    DeriveOptions {
        version: 42,
        created_at: 1_764_000_000,
        policy: Policy {
            min_mirrors: 3,
            max_hosts: 50,
        },
        prefix_asn: vec![("192.0.2.0/24".parse().unwrap(), 64500)],
        ..DeriveOptions::default()
    }
}

fn p(text: &str) -> Prefix {
    text.parse().unwrap()
}

fn url(url: &str, ipv4: Option<bool>, ipv6: Option<bool>) -> HostUrl {
    HostUrl {
        url: url.to_string(),
        ipv4,
        ipv6,
    }
}

fn hc(category: &str, urls: Vec<HostUrl>) -> HostCategory {
    HostCategory {
        category: category.to_string(),
        urls,
    }
}

fn version(timestamp: i64, size: u64, md5: Option<&str>, sha256: Option<&str>) -> FileVersion {
    FileVersion {
        timestamp,
        size,
        md5: md5.map(str::to_string),
        sha1: None,
        sha256: sha256.map(str::to_string),
        sha512: None,
    }
}

fn check_small(derived: &Derived) {
    let data = &derived.data;
    // Identity, inputs, policy.
    assert_eq!(data.identity.version, 42);
    assert_eq!(data.identity.created_at, 1_764_000_000);
    assert_eq!(data.identity.source_generation, 7);
    assert_eq!(
        data.identity.installation_id,
        *uuid::Uuid::parse_str(INSTALLATION).unwrap().as_bytes()
    );
    assert_eq!(data.identity.producer_name, "mirrorfleet");
    assert_eq!(
        data.policy,
        Policy {
            min_mirrors: 3,
            max_hosts: 50
        }
    );
    assert_eq!(data.prefix_asn, vec![(p("192.0.2.0/24"), 64500)]);

    // Hosts: 3 auto-disabled, 5 on an inactive site, 6 only a private URL, 8 owner-disabled.
    let ids: Vec<u64> = data.hosts.iter().map(|h| h.id).collect();
    assert_eq!(ids, [1, 2, 4, 7]);
    assert_eq!(
        data.hosts[0],
        Host {
            id: 1,
            name: "a1.example.org".into(),
            country: *b"SE",
            bandwidth: 20000, // as stored; the builder clamps
            max_connections: 3,
            private: false,
            asn: Some(64500),
            peer_asns: vec![64502, 64510],
            allowed_countries: vec![],
            netblocks: vec![
                p("192.0.2.0/24"),
                p("198.51.100.7/32"),
                p("2001:db8::/32"),
                p("2001:db8:1::7/128"),
            ],
            categories: vec![
                hc(
                    "Fedora Alt",
                    vec![url("https://a1.example.org/alt", None, None)]
                ),
                hc(
                    "Fedora EPEL",
                    vec![url("https://a1.example.org/epel", None, None)]
                ),
                hc(
                    "Fedora Linux",
                    vec![
                        url("http://a1.example.org/fedora", Some(true), Some(false)),
                        url("rsync://a1.example.org/fedora", None, Some(true)),
                        url("https://a1.example.org/pub/fedora/linux", None, None),
                    ]
                ),
            ],
        }
    );
    let h2 = &data.hosts[1];
    assert_eq!(h2.asn, None, "asn_clients off");
    assert!(!h2.private);
    let h4 = &data.hosts[2];
    assert!(h4.private, "private site");
    assert_eq!(h4.allowed_countries, vec![*b"DE", *b"SE"]);
    assert_eq!(h4.peer_asns, vec![64520]);
    assert_eq!(h4.netblocks, vec![p("203.0.113.0/24")]);
    assert_eq!(
        h4.categories,
        vec![hc(
            "Fedora Linux",
            vec![url("https://b1.example.net/fedora", None, None)]
        )],
        "a host category without public URLs is left out"
    );
    let h7 = &data.hosts[3];
    assert!(h7.private, "private host");
    assert_eq!(h7.country, *b"JP");

    // Directories and carriers.
    let dirs: Vec<(&str, &str, Vec<u64>)> = data
        .directories
        .iter()
        .map(|d| (d.name.as_str(), d.category.as_str(), d.carriers.clone()))
        .collect();
    assert_eq!(
        dirs,
        vec![
            ("pub/epel", "Fedora EPEL", vec![7]),
            ("pub/epel/9/Everything/x86_64", "Fedora EPEL", vec![7]),
            (
                "pub/epel/9/Everything/x86_64/repodata",
                "Fedora EPEL",
                vec![7]
            ),
            ("pub/fedora/linux", "Fedora Linux", vec![1, 2]),
            ("pub/fedora/linux/alt", "Fedora Alt", vec![1]),
            ("pub/fedora/linux/alt/stage/40", "Fedora Alt", vec![]),
            (
                "pub/fedora/linux/releases/40/Everything/x86_64/os",
                "Fedora Linux",
                vec![1, 2, 4]
            ),
            (
                "pub/fedora/linux/releases/40/Everything/x86_64/os/repodata",
                "Fedora Linux",
                vec![1, 2, 4]
            ),
            ("pub/fedora/linux/secret", "Fedora Linux", vec![1, 2]),
            (
                "pub/fedora/linux/updates/40/Everything/x86_64",
                "Fedora Linux",
                vec![2]
            ),
        ]
    );
    let mut categories: Vec<(&str, &str)> = data
        .categories
        .iter()
        .map(|c| (c.name.as_str(), c.topdir.as_str()))
        .collect();
    categories.sort();
    assert_eq!(
        categories,
        vec![
            ("Fedora Alt", "pub/fedora/linux/alt"),
            ("Fedora EPEL", "pub/epel"),
            ("Fedora Linux", "pub/fedora/linux"),
        ]
    );

    // File details: newest first by (timestamp desc, id desc); unexported directory left out.
    let repodata = data
        .directories
        .iter()
        .find(|d| d.name == "pub/fedora/linux/releases/40/Everything/x86_64/os/repodata")
        .unwrap();
    let names: Vec<&str> = repodata.files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["repomd.xml", "repomd.xml.asc"]);
    assert_eq!(
        repodata.files[0].versions,
        vec![
            version(200, 12, Some(&"3".repeat(32)), Some(&"3".repeat(64))),
            version(200, 11, None, Some(&"2".repeat(64))),
            version(100, 10, None, Some(&"1".repeat(64))),
        ]
    );
    let total_files: usize = data
        .directories
        .iter()
        .flat_map(|d| &d.files)
        .map(|f| f.versions.len())
        .sum();
    assert_eq!(
        total_files, 6,
        "the file of pub/unlinked/dir is not exported"
    );

    // Repositories.
    let entry = |prefix: &str, arch: &str, directory: &str| RepoEntry {
        prefix: prefix.into(),
        arch: arch.into(),
        directory: directory.into(),
    };
    assert_eq!(
        data.repositories,
        vec![
            entry("epel-9", "x86_64", "pub/epel/9/Everything/x86_64"),
            entry(
                "fedora-40",
                "x86_64",
                "pub/fedora/linux/releases/40/Everything/x86_64/os"
            ),
            entry(
                "updates-released-f40",
                "x86_64",
                "pub/fedora/linux/updates/40/Everything/x86_64"
            ),
        ]
    );
    assert_eq!(
        data.redirects,
        vec![
            ("epel-6.0".to_string(), "epel-6".to_string()),
            ("fedora-rawhide".to_string(), "rawhide".to_string()),
        ]
    );
    assert_eq!(data.disabled, vec!["epel-5", "fedora-30"]);

    // Network and geography.
    assert_eq!(
        data.netblock_countries,
        vec![
            (p("192.0.2.128/25"), *b"SE"),
            (p("2001:db8:ff::/48"), *b"DE")
        ]
    );
    assert_eq!(
        data.continents,
        vec![
            (*b"DE", *b"EU"),
            (*b"JP", *b"AS"),
            (*b"SE", *b"EU"),
            (*b"TR", *b"AS"),
            (*b"US", *b"NA"),
        ]
    );

    // Warnings.
    assert_eq!(
        derived.warnings,
        vec![
            DeriveWarning::NetblockUnresolved {
                host_id: 4,
                host: "b1.example.net".into(),
                value: "unresolved.example.net".into(),
            },
            DeriveWarning::RepodataNotExported {
                prefix: "updates-released-f40".into(),
                arch: "x86_64".into(),
                directory: "pub/fedora/linux/updates/40/Everything/x86_64".into(),
            },
            DeriveWarning::RepositoryUnmapped {
                id: 4,
                arch: "x86_64".into(),
                directory: Some("pub/fedora/linux/alt/stage/40".into()),
            },
            DeriveWarning::RepositoryOrphaned {
                id: 5,
                prefix: "epel-9".into(),
                arch: "aarch64".into(),
                last_directory: Some("pub/epel/9/Everything/aarch64".into()),
            },
            DeriveWarning::RepositoryNotExported {
                id: 6,
                prefix: "other-1".into(),
                arch: "x86_64".into(),
                directory: "pub/unlinked/dir".into(),
            },
        ]
    );
    for w in &derived.warnings {
        assert!(!w.to_string().is_empty());
    }

    // The builder accepts it, and the snapshot reads back.
    let bytes = mirrorfleet_snapshot::build(data).expect("the builder accepts the derivation");
    let snapshot = Snapshot::from_bytes(bytes).expect("the snapshot validates");
    assert_eq!(snapshot.version(), 42);
    assert_eq!(snapshot.installation_id(), INSTALLATION);
    let dir = snapshot
        .find_directory("pub/fedora/linux/releases/40/Everything/x86_64/os")
        .unwrap();
    let rec = snapshot.directory(dir).unwrap();
    assert_eq!(snapshot.subpath(rec), "releases/40/Everything/x86_64/os");
    assert!(snapshot.find_repo("fedora-40", "x86_64").is_some());
    assert!(snapshot.find_repo("epel-9", "aarch64").is_none());
    assert_eq!(snapshot.redirect("fedora-rawhide"), Some("rawhide"));
    assert!(snapshot.is_disabled("epel-5"));
    assert_eq!(snapshot.continent_of(*b"TR"), Some(*b"AS"));
}

async fn small_data_set(db: &Database) {
    load(db).await;
    let derived = derive_snapshot(db, &options()).await.expect("derive");
    check_small(&derived);
    // Deterministic: a second derivation is identical.
    let again = derive_snapshot(db, &options()).await.expect("derive again");
    assert_eq!(again, derived);
}

#[tokio::test]
async fn small_data_set_sqlite() {
    let t = sqlite_db().await;
    small_data_set(&t.db).await;
}

#[tokio::test]
async fn small_data_set_postgres() {
    let Some(t) = postgres_db().await else {
        return;
    };
    small_data_set(&t.db).await;
}

async fn not_initialised(db: &Database) {
    let err = derive_snapshot(db, &options()).await.unwrap_err();
    assert!(err.to_string().contains("mirrorfleet init"), "{err}");
}

#[tokio::test]
async fn not_initialised_sqlite() {
    let t = sqlite_db().await;
    not_initialised(&t.db).await;
}

#[tokio::test]
async fn not_initialised_postgres() {
    let Some(t) = postgres_db().await else {
        return;
    };
    not_initialised(&t.db).await;
}

/// HCD rows are read in pages: more rows than one page still give every carrier.
async fn many_hcd_rows(db: &Database) {
    load(db).await;
    // Rows of an inactive host and of a host category without URLs, before the real ones.
    let before: i64 = mirrorfleet_control::derive_db::HCD_PAGE + 5;
    let sql = format!(
        "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < {before}) \
         INSERT INTO directory (id, name) \
         SELECT 1000 + n, 'pub/fedora/linux/bulk/' || CAST(n AS TEXT) FROM c"
    );
    db.execute(&sql).await.unwrap();
    db.execute(
        "INSERT INTO category_directory (category_id, directory_id) \
         SELECT 1, id FROM directory WHERE id >= 1000",
    )
    .await
    .unwrap();
    db.execute(
        "INSERT INTO host_category_dir (host_category_id, directory_id, up2date, source) \
         SELECT 30, id, TRUE, 'crawl' FROM directory WHERE id >= 1000",
    )
    .await
    .unwrap();
    db.execute(
        "INSERT INTO host_category_dir (host_category_id, directory_id, up2date, source) \
         SELECT 40, id, TRUE, 'crawl' FROM directory WHERE id >= 1000",
    )
    .await
    .unwrap();
    let derived = derive_snapshot(db, &options()).await.expect("derive");
    let bulk: Vec<_> = derived
        .data
        .directories
        .iter()
        .filter(|d| d.name.starts_with("pub/fedora/linux/bulk/"))
        .collect();
    assert_eq!(bulk.len() as i64, before);
    // Host 2 is always_up2date in Fedora Linux; host 4 has the HCD rows; host 3 is inactive.
    assert!(bulk.iter().all(|d| d.carriers == [2, 4]));
    mirrorfleet_snapshot::build(&derived.data).expect("the builder accepts it");
}

#[tokio::test]
async fn many_hcd_rows_sqlite() {
    let t = sqlite_db().await;
    many_hcd_rows(&t.db).await;
}

#[tokio::test]
async fn many_hcd_rows_postgres() {
    let Some(t) = postgres_db().await else {
        return;
    };
    many_hcd_rows(&t.db).await;
}

/// The key property (issue 4, step 3): importing an inventory into an empty, freshly
/// initialised database and deriving gives the same logical snapshot as `snapshot build` on
/// the same file (identity and inputs aside).
async fn same_as_inventory(db: &Database, text: &str) -> SnapshotData {
    let (inv, _) = parse_inventory("inventory.json", text).expect("the inventory parses");
    let installation = *uuid::Uuid::parse_str(INSTALLATION).unwrap().as_bytes();
    init(db, Some(installation)).await.expect("init");
    import_inventory(db, &inv, false).await.expect("import");

    let (expected, _) = to_snapshot_data(
        &inv,
        &BuildOptions {
            version: 1,
            installation_id: installation,
            ..BuildOptions::default()
        },
    );
    let opts = DeriveOptions {
        version: 1,
        policy: inv.effective_policy(),
        ..DeriveOptions::default()
    };
    let derived = derive_snapshot(db, &opts).await.expect("derive").data;
    assert!(!expected.hosts.is_empty());
    assert!(expected.directories.iter().any(|d| !d.carriers.is_empty()));
    assert!(expected.directories.iter().any(|d| !d.files.is_empty()));
    assert_same(&expected, &derived);
    mirrorfleet_snapshot::build(&derived).expect("the builder accepts it");
    derived
}

/// What the enriched example must exercise.
fn check_enriched(data: &SnapshotData) {
    let names: Vec<&str> = data.hosts.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(
        names,
        // Host ids follow (site name, host name): Dormant, Example Corp, … University.
        [
            "mirror.corp.example.com",
            "fedora.example.net",
            "mirror.example.edu"
        ]
    );
    let edu = &data.hosts[2];
    assert_eq!(edu.peer_asns, vec![64510, 64999]);
    let linux = edu
        .categories
        .iter()
        .find(|c| c.category == "Fedora Linux")
        .unwrap();
    assert_eq!(linux.urls.len(), 3, "private URL left out");
    assert_eq!(linux.urls[2].ipv4, Some(true));
    let iso = data
        .directories
        .iter()
        .find(|d| d.name == "pub/fedora/linux/releases/40/Everything/x86_64/iso")
        .unwrap();
    let sizes: Vec<u64> = iso.files[0].versions.iter().map(|v| v.size).collect();
    assert_eq!(sizes, [12, 10, 11], "ties keep the history order");
    assert_eq!(data.netblock_countries.len(), 2);
}

fn assert_same(expected: &SnapshotData, got: &SnapshotData) {
    assert_eq!(got.policy, expected.policy, "policy");
    assert_eq!(
        got.hosts.len(),
        expected.hosts.len(),
        "number of exported hosts"
    );
    for (g, e) in got.hosts.iter().zip(&expected.hosts) {
        assert_eq!(g, e, "host {}", e.name);
    }
    let mut ec = expected.categories.clone();
    ec.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(got.categories, ec, "categories");
    assert_eq!(
        got.directories.len(),
        expected.directories.len(),
        "number of directories: got {:?}, expected {:?}",
        got.directories.iter().map(|d| &d.name).collect::<Vec<_>>(),
        expected
            .directories
            .iter()
            .map(|d| &d.name)
            .collect::<Vec<_>>()
    );
    for (g, e) in got.directories.iter().zip(&expected.directories) {
        assert_eq!(g.name, e.name, "directory name");
        assert_eq!(g.category, e.category, "category of {}", e.name);
        let mut ecar = e.carriers.clone();
        ecar.sort_unstable();
        assert_eq!(g.carriers, ecar, "carriers of {}", e.name);
        assert_eq!(g.files, e.files, "files of {}", e.name);
    }
    assert_eq!(got.repositories, expected.repositories, "repo map");
    assert_eq!(got.redirects, expected.redirects, "redirects");
    assert_eq!(got.disabled, expected.disabled, "disabled");
    let mut enc = expected.netblock_countries.clone();
    enc.sort();
    assert_eq!(got.netblock_countries, enc, "netblock countries");
    let mut econt = expected.continents.clone();
    econt.sort();
    assert_eq!(got.continents, econt, "continents");
    assert_eq!(got.prefix_asn, expected.prefix_asn, "prefix→ASN");
}

fn example() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/inventory.json");
    std::fs::read_to_string(path).unwrap()
}

/// The example with what it lacks: inactive and URL-less hosts, private URLs, URL flags,
/// a DNS-name netblock, peer ASNs, a file history with equal timestamps, netblock countries.
fn enriched_example() -> String {
    let mut doc: serde_json::Value = serde_json::from_str(&example()).unwrap();
    let host = &mut doc["sites"][0]["hosts"][0];
    host["netblocks"]
        .as_array_mut()
        .unwrap()
        .push("mirror.example.edu".into());
    host["peer_asns"] = serde_json::json!([64999, 64510]);
    let linux = &mut host["categories"]["Fedora Linux"];
    linux["private_urls"] = serde_json::json!(["https://internal.example.edu/fedora/linux"]);
    linux["urls"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"url": "http://mirror.example.edu/fedora/linux", "ipv4": true, "ipv6": false}));
    let hosts = doc["sites"][0]["hosts"].as_array_mut().unwrap();
    let extra = |name: &str, field: &str, value: serde_json::Value| {
        let mut h = serde_json::json!({
            "name": name, "country": "SE",
            "categories": {"Fedora Linux": {"urls": [format!("https://{name}/fedora")], "up2date": ["**"]}}
        });
        h[field] = value;
        h
    };
    hosts.push(extra("aa-off.example.edu", "user_active", false.into()));
    hosts.push(extra(
        "ab-failing.example.edu",
        "auto_disabled_at",
        "2026-11-01T00:00:00Z".into(),
    ));
    hosts.push(serde_json::json!({
        "name": "ac-private-url.example.edu", "country": "SE",
        "categories": {"Fedora Linux": {"private_urls": ["https://ac.example.edu/f"], "always_up2date": true}}
    }));
    doc["sites"].as_array_mut().unwrap().push(serde_json::json!({
        "name": "Dormant", "admin_active": false,
        "hosts": [{"name": "z.example.org", "country": "US",
                   "categories": {"Fedora EPEL": {"urls": ["https://z.example.org/epel"], "always_up2date": true}}}]
    }));
    doc["files"] = serde_json::json!([{
        "category": "Fedora Linux", "dir": "releases/40/Everything/x86_64/iso", "name": "CHECKSUM",
        "history": [
            {"timestamp": 5, "size": 10, "sha256": "a".repeat(64)},
            {"timestamp": 5, "size": 11, "sha256": "b".repeat(64)},
            {"timestamp": 9, "size": 12, "sha256": "c".repeat(64)}
        ]
    }]);
    doc["netblock_countries"] =
        serde_json::json!({"203.0.113.0/24": "SE", "2001:db8:ff::/48": "DE"});
    serde_json::to_string_pretty(&doc).unwrap()
}

#[tokio::test]
async fn same_as_inventory_sqlite() {
    let t = sqlite_db().await;
    same_as_inventory(&t.db, &example()).await;
}

#[tokio::test]
async fn same_as_inventory_postgres() {
    let Some(t) = postgres_db().await else {
        return;
    };
    same_as_inventory(&t.db, &example()).await;
}

#[tokio::test]
async fn same_as_enriched_inventory_sqlite() {
    let t = sqlite_db().await;
    check_enriched(&same_as_inventory(&t.db, &enriched_example()).await);
}

#[tokio::test]
async fn same_as_enriched_inventory_postgres() {
    let Some(t) = postgres_db().await else {
        return;
    };
    check_enriched(&same_as_inventory(&t.db, &enriched_example()).await);
}

/// Timing at Fedora scale (≈700 hosts, 30,000 directories, 3,000,000 HCD rows); run with
/// `cargo test --release -p mirrorfleet-control --test derive_db -- --ignored --nocapture`.
async fn fedora_scale(db: &Database, label: &str) {
    const HOSTS: i64 = 700;
    const DIRS: i64 = 30_000;
    const HCD_HOSTS: i64 = 100;
    let started = std::time::Instant::now();
    for sql in [
        "INSERT INTO meta (id, installation_id, generation) \
         VALUES (1, '0b5b2c1e-7d3a-4c1f-9e2b-5a6d7c8e9f01', 1)"
            .to_string(),
        "INSERT INTO country (code, name, continent) VALUES ('SE', 'Sweden', 'EU')".to_string(),
        "INSERT INTO product (id, name, name_key) VALUES (1, 'Fedora', 'fedora')".to_string(),
        "INSERT INTO category (id, name, name_key, product_id, topdir) \
         VALUES (1, 'Fedora Linux', 'fedora linux', 1, 'pub/fedora/linux')"
            .to_string(),
        "INSERT INTO site (id, name, name_key) VALUES (1, 'S', 's')".to_string(),
        format!(
            "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < {HOSTS}) \
             INSERT INTO host (id, site_id, name, name_key, country) \
             SELECT n, 1, 'h' || CAST(n AS TEXT), 'h' || CAST(n AS TEXT), 'SE' FROM c"
        ),
        "INSERT INTO host_category (id, host_id, category_id) SELECT id, id, 1 FROM host"
            .to_string(),
        "INSERT INTO host_category_url (host_category_id, url) \
         SELECT id, 'https://h' || CAST(id AS TEXT) || '.example.org/fedora' FROM host_category"
            .to_string(),
        format!(
            "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < {DIRS}) \
             INSERT INTO directory (id, name) \
             SELECT n, 'pub/fedora/linux/d' || CAST(n AS TEXT) FROM c"
        ),
        "INSERT INTO category_directory (category_id, directory_id) SELECT 1, id FROM directory"
            .to_string(),
        format!(
            "INSERT INTO host_category_dir (host_category_id, directory_id, up2date, source) \
             SELECT hc.id, d.id, TRUE, 'crawl' FROM host_category hc CROSS JOIN directory d \
             WHERE hc.id <= {HCD_HOSTS}"
        ),
    ] {
        db.execute(&sql)
            .await
            .unwrap_or_else(|e| panic!("{e}\n{sql}"));
    }
    if db.backend() == mirrorfleet_control::db::Backend::Postgres {
        db.execute("ANALYZE").await.unwrap();
    }
    let loaded = started.elapsed();
    let started = std::time::Instant::now();
    let derived = derive_snapshot(db, &options()).await.expect("derive");
    let derive = started.elapsed();
    let started = std::time::Instant::now();
    let bytes = mirrorfleet_snapshot::build(&derived.data).expect("build");
    let build = started.elapsed();
    let pairs: usize = derived
        .data
        .directories
        .iter()
        .map(|d| d.carriers.len())
        .sum();
    assert_eq!(pairs as i64, DIRS * HCD_HOSTS);
    eprintln!(
        "{label}: load {loaded:?}, derive {derive:?}, build {build:?} ({} bytes, {pairs} pairs)",
        bytes.len()
    );
}

#[tokio::test]
#[ignore = "timing; run explicitly"]
async fn fedora_scale_sqlite() {
    let t = sqlite_db().await;
    fedora_scale(&t.db, "SQLite").await;
}

#[tokio::test]
#[ignore = "timing; run explicitly"]
async fn fedora_scale_postgres() {
    let Some(t) = postgres_db().await else {
        return;
    };
    fedora_scale(&t.db, "PostgreSQL").await;
}
