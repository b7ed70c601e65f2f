//! `mirrorfleet import mm2` (control-plane.md §8.1–§8.2, data-model.md §7) from a real
//! MirrorManager2 schema on PostgreSQL (`fixtures/mm2/`) into SQLite and PostgreSQL: every
//! mapped table and every kind of dropped or changed row; a second import changes nothing; a
//! dry run writes nothing; a changed source reconciles by the kept ids; a damaged source
//! (missing table or column, NULLs the model forbids, an invalid country) is refused with the
//! problem named and exit status 2, never a panic or a partial import; data of another source
//! is refused unless `--replace`.

use std::collections::BTreeSet;
use std::path::Path;

use mirrorfleet_control::config::Argon2Section;
use mirrorfleet_control::db::Database;
use mirrorfleet_control::derive_db::{DeriveOptions, derive_snapshot};
use mirrorfleet_control::inventory::parse_inventory;
use mirrorfleet_control::mm2::{Mm2Error, Mm2Options, Mm2Report, import_mm2, password};
use mirrorfleet_control::store::import::{import_inventory, init};
use mirrorfleet_control::with_pool;

mod support;

use support::mm2::{Mm2Source, mm2_source, mm2_source_with};

/// Runs `check(&db)` on a fresh, initialised SQLite database and PostgreSQL schema.
macro_rules! on_both_backends {
    ($check:ident) => {
        mod $check {
            #[tokio::test]
            async fn sqlite() {
                let t = super::support::sqlite_db().await;
                super::initialise(&t.db).await;
                super::$check(&t.db).await;
            }

            #[tokio::test]
            async fn postgres() {
                if let Some(t) = super::support::postgres_db().await {
                    super::initialise(&t.db).await;
                    super::$check(&t.db).await;
                }
            }
        }
    };
}

async fn initialise(db: &Database) {
    init(db, None).await.expect("init");
}

/// Cheap argon2 parameters (control-plane-decisions.md D23).
fn cheap() -> Argon2Section {
    Argon2Section {
        memory_kib: 8,
        time_cost: 1,
        parallelism: 1,
    }
}

fn options(src: &Mm2Source) -> Mm2Options {
    Mm2Options {
        from: src.url(),
        dry_run: false,
        replace: false,
        skip_stats: false,
        admin_groups: vec!["sysadmin-main".to_string()],
        host_country_as_allowed: false,
        lenient: false,
        argon2: cheap(),
    }
}

async fn import(db: &Database, opts: &Mm2Options) -> Mm2Report {
    import_mm2(db, opts, &mut |_| {})
        .await
        .unwrap_or_else(|e| panic!("import mm2: {e}"))
}

/// Rows of a one-column text query.
async fn texts(db: &Database, sql: &str) -> Vec<String> {
    with_pool!(db, pool => sqlx::query_scalar::<_, Option<String>>(sql)
        .fetch_all(pool)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{sql}")))
    .into_iter()
    .map(|v| v.unwrap_or_else(|| "NULL".to_string()))
    .collect()
}

async fn text(db: &Database, sql: &str) -> String {
    let rows = texts(db, sql).await;
    assert_eq!(rows.len(), 1, "{sql}: {rows:?}");
    rows[0].clone()
}

async fn number(db: &Database, sql: &str) -> i64 {
    with_pool!(db, pool => sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(pool)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{sql}")))
}

/// `CASE WHEN x THEN 't' ELSE 'f' END`: booleans as text on both backends.
fn b(column: &str) -> String {
    format!("(CASE WHEN {column} THEN 't' ELSE 'f' END)")
}

/// The rows a fresh import must give, table by table.
async fn check_imported(db: &Database) {
    // product, version (NULL name skipped; sortorder → sort_order; codename dropped)
    assert_eq!(
        texts(db, "SELECT name FROM product ORDER BY name").await,
        ["EPEL", "Fedora"]
    );
    assert_eq!(
        texts(
            db,
            "SELECT p.name || ' ' || v.name || ' ' || coalesce(v.display_name, '-') || ' ' \
             || CAST(v.sort_order AS TEXT) FROM version v JOIN product p ON p.id = v.product_id \
             ORDER BY p.name, v.name"
        )
        .await,
        [
            "EPEL 9 - 9",
            "Fedora 39 - 39",
            "Fedora 40 - 40",
            "Fedora development Rawhide 99"
        ]
    );
    // arch: primary_arch → primary; the seeded arches stay
    assert_eq!(
        texts(
            db,
            &format!(
                "SELECT name || ' ' || {} || {} FROM arch WHERE name IN ('source', 'ppc64le', \
                 'x86_64', 'i386') ORDER BY name",
                b("publiclist"),
                b("is_primary")
            )
        )
        .await,
        ["i386 tt", "ppc64le tf", "source ft", "x86_64 tt"]
    );
    // category: topdir_id → topdir, repomap from the name
    assert_eq!(
        texts(
            db,
            "SELECT name || ' ' || topdir || ' ' || coalesce(repomap, '-') FROM category \
             ORDER BY name"
        )
        .await,
        [
            "Fedora EPEL pub/epel epel",
            "Fedora Linux pub/fedora/linux fedora"
        ]
    );
    // directory: slashes stripped; readable, ctime, files JSON → sample_files; a pickle left
    // empty; a directory of no category not imported
    assert_eq!(
        text(
            db,
            &format!(
                "SELECT {} FROM directory WHERE name = 'pub/epel/9/Everything/x86_64/debug'",
                b("readable")
            )
        )
        .await,
        "f"
    );
    assert_eq!(
        number(
            db,
            "SELECT count(*) FROM directory WHERE name LIKE 'pub/alt%'"
        )
        .await,
        0
    );
    let samples = text(
        db,
        "SELECT CAST(sample_files AS TEXT) FROM directory \
         WHERE name = 'pub/fedora/linux/releases/40/Everything/x86_64/os/repodata'",
    )
    .await;
    let samples: serde_json::Value = serde_json::from_str(&samples).unwrap();
    assert_eq!(
        samples,
        serde_json::json!([{"name": "repomd.xml", "size": 4381, "mtime": 1713185000}])
    );
    assert_eq!(
        text(
            db,
            "SELECT CAST(sample_files AS TEXT) FROM directory \
             WHERE name = 'pub/fedora/linux/releases/40/Everything/x86_64/os/Packages'"
        )
        .await
        .replace(' ', ""),
        "[]"
    );
    assert_eq!(
        number(
            db,
            "SELECT ctime FROM directory \
             WHERE name = 'pub/fedora/linux/releases/40/Everything/x86_64/os'"
        )
        .await,
        1713185000
    );
    // category_directory: the link outside the topdir is dropped
    assert_eq!(
        number(
            db,
            "SELECT count(*) FROM category_directory x JOIN category c ON c.id = x.category_id \
             JOIN directory d ON d.id = x.directory_id \
             WHERE c.name = 'Fedora Linux' AND d.name = 'pub/epel'"
        )
        .await,
        0
    );
    // repository: name dropped; NULL prefix → unmapped; NULL directory → orphaned; a version
    // of another product dropped
    assert_eq!(
        texts(
            db,
            "SELECT coalesce(r.prefix, '(unmapped)') || ' ' || a.name || ' ' \
             || coalesce(v.name, '-') || ' ' || coalesce(d.name, '(orphaned)') \
             FROM repository r JOIN arch a ON a.id = r.arch_id \
             LEFT JOIN version v ON v.id = r.version_id \
             LEFT JOIN directory d ON d.id = r.directory_id ORDER BY 1"
        )
        .await,
        [
            "(unmapped) x86_64 9 pub/epel/9/Everything/x86_64/debug",
            "epel-9 aarch64 - (orphaned)",
            "epel-9 x86_64 9 pub/epel/9/Everything/x86_64",
            "fedora-38 x86_64 - (orphaned)",
            "fedora-39 x86_64 39 pub/fedora/linux/releases/39/Everything/x86_64/os",
            "fedora-40 aarch64 40 pub/fedora/linux/releases/40/Everything/aarch64/os",
            "fedora-40 x86_64 40 pub/fedora/linux/releases/40/Everything/x86_64/os",
            "fedora-source-40 source 40 pub/fedora/linux/releases/40/Everything/source/tree",
            "rawhide x86_64 development pub/fedora/linux/development/rawhide/Everything/x86_64/os",
            "updates-released-f40 x86_64 40 pub/fedora/linux/updates/40/Everything/x86_64",
        ]
    );
    // disabled → disabled_repository per prefix
    assert_eq!(
        texts(
            db,
            "SELECT prefix || ': ' || reason FROM disabled_repository"
        )
        .await,
        ["fedora-39: imported from MirrorManager2"]
    );
    // file_detail: lower-cased, invalid digests dropped, digest-less rows skipped, NULL
    // timestamp and size → 0, duplicates merged, recorded_at = timestamp, source import
    assert_eq!(number(db, "SELECT count(*) FROM file_detail").await, 12);
    assert_eq!(
        number(
            db,
            "SELECT count(*) FROM file_detail WHERE source <> 'import'"
        )
        .await,
        0
    );
    assert_eq!(
        number(
            db,
            "SELECT count(*) FROM file_detail \
             WHERE sha256 = '910ea8655c2bb5a2e5a0c63aa064043bb682ea3972df23a3a3e59b73741bd5e4'"
        )
        .await,
        1
    );
    assert_eq!(
        texts(
            db,
            "SELECT coalesce(md5, '-') || ' ' || coalesce(sha256, '-') FROM file_detail \
             WHERE timestamp = 1732400000"
        )
        .await,
        ["66666666666666666666666666666666 -"]
    );
    assert_eq!(
        number(db, "SELECT count(*) FROM file_detail WHERE timestamp = 0").await,
        1
    );
    assert_eq!(
        number(
            db,
            "SELECT size FROM file_detail WHERE filename = 'Fedora-Everything-40-x86_64-CHECKSUM'"
        )
        .await,
        0
    );
    let recorded: Vec<(i64, time::OffsetDateTime)> = with_pool!(db, pool => sqlx::query_as(
        "SELECT timestamp, recorded_at FROM file_detail",
    )
    .fetch_all(pool)
    .await
    .unwrap());
    for (timestamp, at) in recorded {
        assert_eq!(at.unix_timestamp(), timestamp);
    }
    // repository_redirect: chains flattened, cycles and NULL targets dropped
    assert_eq!(
        texts(
            db,
            "SELECT from_prefix || ' → ' || to_prefix FROM repository_redirect ORDER BY 1"
        )
        .await,
        [
            "epel-9.3 → epel-9",
            "epel-9.4 → epel-9",
            "fedora-rawhide → rawhide"
        ]
    );
    // site: ids kept, duplicate names suffixed, passwords hashed, created_by → user
    assert_eq!(
        texts(
            db,
            "SELECT CAST(id AS TEXT) || ' ' || name FROM site ORDER BY id"
        )
        .await,
        [
            "1 Example University",
            "2 Example Hosting",
            "3 Example Corp",
            "4 Example Corp (2)",
            "5 Dormant Mirrors",
            "6 Tier One",
            "7 Euro Mirrors",
            "8 Asia Pacific",
            "9 Misc Mirrors"
        ]
    );
    let hash = text(db, "SELECT legacy_checkin_password FROM site WHERE id = 3").await;
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(password::verifies(&hash, "s3cret-corp"));
    assert_eq!(
        number(
            db,
            "SELECT count(*) FROM site WHERE legacy_checkin_password IS NOT NULL"
        )
        .await,
        1
    );
    assert_eq!(
        text(
            db,
            "SELECT u.username FROM site s JOIN users u ON u.id = s.created_by WHERE s.id = 2"
        )
        .await,
        "bob"
    );
    assert_eq!(
        text(
            db,
            "SELECT coalesce(org_url, 'NULL') FROM site WHERE id = 4"
        )
        .await,
        "NULL"
    );
    // site_admin → site_owner (lower-cased, missing users created, invalid ones dropped)
    assert_eq!(
        texts(
            db,
            "SELECT CAST(o.site_id AS TEXT) || ' ' || u.username FROM site_owner o \
             JOIN users u ON u.id = o.user_id ORDER BY o.site_id, u.username"
        )
        .await,
        ["1 alice", "2 bob", "3 carol", "4 dave", "6 alice"]
    );
    // mm_user → users; --admin-group members are administrators; no passwords
    assert_eq!(
        texts(
            db,
            &format!(
                "SELECT username || ' ' || coalesce(email, '-') || ' ' || {} FROM users \
                 ORDER BY username",
                b("is_admin")
            )
        )
        .await,
        [
            "alice alice@example.edu t",
            "bob bob@example.net f",
            "carol carol@corp.example.com f",
            "dave - f",
            "erin erin@example.org t"
        ]
    );
    assert_eq!(
        number(
            db,
            "SELECT count(*) FROM users WHERE password_hash IS NOT NULL"
        )
        .await,
        0
    );
    // host: ids kept; country upper-cased, UK → GB; bandwidth NULL → 100, 0 → 1; ASN 0 and
    // 23456 → none; the crawler's disable → auto_disabled_at; durations in ms; robot_email
    assert_eq!(
        texts(
            db,
            &format!(
                "SELECT CAST(id AS TEXT) || ' ' || country || ' ' || CAST(bandwidth AS TEXT) \
                 || ' ' || coalesce(CAST(asn AS TEXT), '-') || ' ' || {} || {} || ' ' \
                 || coalesce(CAST(last_crawl_duration_ms AS TEXT), '-') FROM host ORDER BY id",
                b("user_active"),
                b("auto_disabled_at IS NOT NULL")
            )
        )
        .await,
        [
            "1 SE 10000 64500 tf 812000",
            "2 US 1000 - tf 300000",
            "3 DE 100 - tf -",
            "4 US 500 - tf 100000",
            "5 US 100 - tf -",
            "6 US 10000 64600 tf -",
            "7 FR 100 - tf 50000",
            "8 DE 100 - tf 51000",
            "9 GB 1 - tf 52000",
            "10 NL 100 - tt 600000",
            "11 JP 100 - tf 70000",
            "12 AU 200 - tf 71000",
            "14 BR 300 - tf 90000",
            "15 US 100 - ff -",
            "16 US 100 64510 tf -",
        ]
    );
    let auto: time::OffsetDateTime = with_pool!(db, pool => sqlx::query_scalar(
        "SELECT auto_disabled_at FROM host WHERE id = 10",
    )
    .fetch_one(pool)
    .await
    .unwrap());
    assert_eq!(auto, time::macros::datetime!(2026-11-20 10:00:00 UTC));
    assert_eq!(
        texts(
            db,
            "SELECT coalesce(contact_email, '-') || ' ' || coalesce(disable_reason, '-') \
             FROM host WHERE id IN (1, 4, 15) ORDER BY id"
        )
        .await,
        ["mirror-admin@example.edu -", "- -", "- owner maintenance"]
    );
    // host_netblock: a.b.c.d/mask → CIDR, host bits cleared, DNS names kept, garbage dropped
    assert_eq!(
        texts(
            db,
            "SELECT CAST(host_id AS TEXT) || ' ' || value || ' ' || coalesce(name, '-') \
             FROM host_netblock ORDER BY host_id, value"
        )
        .await,
        [
            "1 192.0.2.0/24 campus",
            "3 10.1.0.0/16 -",
            "3 198.51.100.0/24 office",
            "3 2001:db8:1000::/36 -",
            "3 mirrors.corp.example.com resolved by name",
            "6 192.0.2.128/25 -",
            "11 203.0.113.0/24 -"
        ]
    );
    // host_peer_asn: 0 and 23456 dropped
    assert_eq!(
        texts(
            db,
            "SELECT CAST(host_id AS TEXT) || ' ' || CAST(asn AS TEXT) || ' ' || name \
             FROM host_peer_asn"
        )
        .await,
        ["1 64501 partner network"]
    );
    // host_country_allowed → host_allowed_country, upper-cased; host_country not imported
    assert_eq!(
        texts(
            db,
            "SELECT CAST(host_id AS TEXT) || ' ' || country FROM host_allowed_country \
             ORDER BY host_id, country"
        )
        .await,
        ["2 CA", "2 US", "12 AU"]
    );
    // host_category as is
    assert_eq!(number(db, "SELECT count(*) FROM host_category").await, 18);
    assert_eq!(
        texts(
            db,
            &format!(
                "SELECT c.name FROM host_category x JOIN category c ON c.id = x.category_id \
                 WHERE x.host_id = 3 AND {} = 't'",
                b("x.always_up2date")
            )
        )
        .await,
        ["Fedora EPEL"]
    );
    // host_category_url: trailing / removed, position in id order, private kept apart,
    // scheme and host lower-cased, invalid dropped
    assert_eq!(
        texts(
            db,
            &format!(
                "SELECT u.url || ' ' || {} || ' ' || CAST(u.position AS TEXT) \
                 FROM host_category_url u JOIN host_category x ON x.id = u.host_category_id \
                 JOIN category c ON c.id = x.category_id \
                 WHERE x.host_id IN (1, 14, 16) AND c.name = 'Fedora Linux' \
                 ORDER BY x.host_id, u.private, u.position",
                b("u.private")
            )
        )
        .await,
        [
            "https://mirror.example.edu/fedora/linux f 0",
            "rsync://mirror.example.edu/fedora/linux f 1",
            "http://internal.example.edu/fedora/linux t 0",
            "https://br.mirror.example.br/fedora f 0",
            "http://private-asn.example.org/fedora f 0"
        ]
    );
    // host_category_dir: up to date only, merged, rows without directory dropped, nothing for
    // always-up-to-date host categories; source import
    let hcd = |host: i64, category: &str| {
        format!(
            "SELECT d.name FROM host_category_dir y \
             JOIN host_category x ON x.id = y.host_category_id \
             JOIN category c ON c.id = x.category_id JOIN directory d ON d.id = y.directory_id \
             WHERE x.host_id = {host} AND c.name = '{category}' ORDER BY d.name"
        )
    };
    assert_eq!(
        texts(db, &hcd(4, "Fedora Linux")).await,
        [
            "pub/fedora/linux/releases/40/Everything/x86_64/os",
            "pub/fedora/linux/releases/40/Everything/x86_64/os/repodata"
        ]
    );
    let hosting = texts(db, &hcd(2, "Fedora Linux")).await;
    assert_eq!(hosting.len(), 11, "{hosting:?}");
    assert!(
        hosting
            .iter()
            .all(|d| d.starts_with("pub/fedora/linux/releases/40")),
        "{hosting:?}"
    );
    assert!(texts(db, &hcd(3, "Fedora EPEL")).await.is_empty());
    assert_eq!(texts(db, &hcd(1, "Fedora Linux")).await.len(), 29);
    assert_eq!(
        number(
            db,
            &format!(
                "SELECT count(*) FROM host_category_dir WHERE source <> 'import' OR {} = 'f'",
                b("up2date")
            )
        )
        .await,
        0
    );
    // geography: continent overrides as is, netblock countries normalised
    assert_eq!(
        texts(
            db,
            "SELECT country || ' ' || continent FROM continent_override"
        )
        .await,
        ["IL EU"]
    );
    assert_eq!(
        texts(
            db,
            "SELECT netblock || ' ' || country FROM netblock_country"
        )
        .await,
        ["100.64.9.0/24 JP"]
    );
    // statistics: dimension from the category name
    assert_eq!(
        texts(
            db,
            "SELECT dimension || ' ' || key || ' ' || CAST(requests AS TEXT) FROM access_stat \
             ORDER BY dimension, key"
        )
        .await,
        [
            "arch x86_64 1900",
            "country DE 800",
            "country US 1200",
            "repo fedora-40 1000"
        ]
    );
    assert_eq!(
        texts(
            db,
            "SELECT r.prefix || ' ' || CAST(p.same_day AS TEXT) || ' ' \
             || CAST(p.no_info AS TEXT) FROM propagation_stat p \
             JOIN repository r ON r.id = p.repository_id ORDER BY r.prefix"
        )
        .await,
        ["fedora-40 3 1", "updates-released-f40 2 0"]
    );
    // meta: the source
    let source = text(db, "SELECT mm2_source FROM meta").await;
    assert!(
        source.starts_with("127.0.0.1:5432/test schema mm2_src_"),
        "{source}"
    );
}

/// The transformations the report must list, by code and row.
fn check_notes(report: &Mm2Report) {
    let n = &report.notes;
    for (code, row) in [
        (
            "site.duplicate_name",
            "site 4 \"Example Corp\" → \"Example Corp (2)\"",
        ),
        ("site.org_url_dropped", "site 4"),
        ("host.no_site", "host 13"),
        ("country.uk_to_gb", "host 9"),
        ("host.bandwidth_default", "host 8"),
        ("host.bandwidth_raised", "host 9"),
        ("host.asn_zero", "host 11"),
        ("host.asn_invalid", "host 12"),
        ("host.auto_disabled", "host 10"),
        ("host.robot_email_dropped", "host 4"),
        ("host_netblock.dns_name", "mirrors.corp.example.com"),
        ("host_netblock.invalid", "not a netblock!"),
        ("netblock.host_bits_cleared", "203.0.113.0/24"),
        ("host_peer_asn.invalid", "AS23456"),
        ("host_country.not_imported", "host_country 1"),
        ("host_country.invalid", "Xx"),
        ("host_category_dir.not_up2date", "host_category_dir"),
        ("host_category_dir.no_directory", "host_category_dir"),
        ("host_category_dir.always_up2date", "host_category_dir"),
        ("host_category_url.trailing_slash", "host_category_url 1"),
        ("host_category_url.lower_cased", "br.mirror.example.br"),
        ("host_category_url.invalid", "gopher"),
        (
            "repository_redirect.flattened",
            "epel-9.4 → epel-9.3 → … → epel-9",
        ),
        ("repository_redirect.cycle", "loop-a → loop-b"),
        ("repository_redirect.no_target", "epel-7.9"),
        ("repository.version_dropped", "repository 10"),
        ("file_detail.digest_lower_cased", "file_detail 1"),
        ("file_detail.invalid_digest", "file_detail 12"),
        ("file_detail.no_digest", "file_detail 13"),
        ("file_detail.timestamp_zero", "file_detail 7"),
        ("file_detail.size_zero", "file_detail 14"),
        ("file_detail.duplicate", "file_detail 9"),
        ("directory.slashes", "directory 35"),
        ("directory.files_not_json", "directory 37"),
        ("directory.no_category", "pub/alt/stray"),
        ("category_directory.outside_topdir", "pub/epel"),
        ("version.invalid_name", "version 5"),
        ("site_admin.lower_cased", "Bob"),
        ("site_admin.user_created", "dave"),
        ("site_admin.duplicate", "carol"),
        ("site_admin.invalid_username", "not a user name!"),
        ("mm_user.invalid_username", "not valid!"),
        ("country_continent_redirect.invalid", "XX"),
        ("netblock_country.invalid", "banana"),
        ("country.unknown", "XX"),
        ("access_stat.unknown_category", "weird"),
    ] {
        assert!(
            n.rows(code).iter().any(|r| r.contains(row)),
            "{code}: no row with {row:?} in {:?}\n{}",
            n.rows(code),
            report.render()
        );
    }
    assert_eq!(n.read["host"], 16);
    assert_eq!(n.skipped("host"), 1);
    assert_eq!(report.not_imported["host_acl_ip"], Some(1));
    assert_eq!(report.embargoed, ["CU", "IR", "KP"]);
    let text = report.render();
    assert!(
        text.contains("host: 16 read, 15 imported, 1 skipped"),
        "{text}"
    );
    assert!(
        text.contains("stats.hidden_countries = [\"CU\", \"IR\", \"KP\"]"),
        "{text}"
    );
}

async fn fresh_import(db: &Database) {
    let Some(src) = mm2_source("").await else {
        return;
    };
    let report = import(db, &options(&src)).await;
    check_notes(&report);
    assert!(report.applied.changes.counts("host").created == 15);
    // Against MirrorManager2's cache, one directory differs: the repodata child the import adds
    // below the unmapped debug repository, carried by the always-up-to-date EPEL hosts.
    let differences = &report.comparison.differences;
    assert_eq!(differences.len(), 1, "{}", report.comparison.render(true));
    assert_eq!(
        differences[0].directory,
        "pub/epel/9/Everything/x86_64/debug/repodata"
    );
    assert_eq!(
        differences[0]
            .only_ours
            .iter()
            .map(|(id, _)| *id)
            .collect::<Vec<_>>(),
        [3, 6]
    );
    assert_eq!(report.applied.generation_before, 0);
    assert_eq!(report.applied.generation_after, 1);
    check_imported(db).await;
    // What an import writes is what an inventory can say (docs/decisions.md).
    mirrorfleet_control::export::export_inventory(db)
        .await
        .expect("export inventory after import mm2");
    // A new host gets an id past the kept ones.
    let next: i64 = with_pool!(db, pool => sqlx::query_scalar(
        "INSERT INTO host (site_id, name, name_key, country) VALUES (1, 'new', 'new', 'SE') \
         RETURNING id",
    )
    .fetch_one(pool)
    .await
    .unwrap());
    assert!(next > 16, "{next}");
}
on_both_backends!(fresh_import);

async fn second_import_changes_nothing(db: &Database) {
    let Some(src) = mm2_source("").await else {
        return;
    };
    import(db, &options(&src)).await;
    let hash = text(db, "SELECT legacy_checkin_password FROM site WHERE id = 3").await;
    let again = import(db, &options(&src)).await;
    assert!(
        again.applied.changes.is_empty(),
        "{:?}",
        again.applied.changes.lines
    );
    assert_eq!(again.applied.generation_before, 1);
    assert_eq!(again.applied.generation_after, 1);
    assert!(again.render().contains("no changes\ngeneration 1 is 1"));
    assert_eq!(
        text(db, "SELECT legacy_checkin_password FROM site WHERE id = 3").await,
        hash,
        "a hash that still verifies is kept"
    );
    check_imported(db).await;
}
on_both_backends!(second_import_changes_nothing);

async fn dry_run_writes_nothing(db: &Database) {
    let Some(src) = mm2_source("").await else {
        return;
    };
    let opts = Mm2Options {
        dry_run: true,
        ..options(&src)
    };
    let report = import(db, &opts).await;
    let text_report = report.render();
    for line in [
        "+ site Example Corp (2) (#4)",
        "+ host Example University/mirror.example.edu (#1)",
        "+ host_netblock Example Corp/mirror.corp.example.com (#3) mirrors.corp.example.com",
        "+ repository_redirect epel-9.4",
        "+ disabled_repository fedora-39",
        "host: 15 created, 0 updated, 0 deleted",
        "generation 0 would be 1 (dry run: nothing written)",
        // every transformed row, not only examples
        "host_category_dir.not_up2date (6)",
    ] {
        assert!(text_report.contains(line), "{line}\n{text_report}");
    }
    assert!(!text_report.contains("… and"), "a dry run lists every row");
    for table in [
        "product",
        "site",
        "host",
        "directory",
        "users",
        "file_detail",
        "access_stat",
    ] {
        assert_eq!(
            number(db, &format!("SELECT count(*) FROM {table}")).await,
            0,
            "{table}"
        );
    }
    assert_eq!(number(db, "SELECT generation FROM meta").await, 0);
    assert_eq!(
        text(db, "SELECT coalesce(mm2_source, 'NULL') FROM meta").await,
        "NULL"
    );
    // The arches init seeded are kept whatever the source says.
    assert_eq!(number(db, "SELECT count(*) FROM arch").await, 8);
}
on_both_backends!(dry_run_writes_nothing);

/// A changed source reconciles: matched by the kept ids, one line per changed field.
async fn changed_source_reconciles(db: &Database) {
    let Some(src) = mm2_source("").await else {
        return;
    };
    import(db, &options(&src)).await;
    src.run(
        "UPDATE site SET name = 'EuroMirrors Ltd' WHERE id = 7;
         UPDATE host SET bandwidth_int = 2000 WHERE id = 7;
         UPDATE site SET password = 'new-secret' WHERE id = 3;
         DELETE FROM host_category_url WHERE host_category_id = 17;
         DELETE FROM host_category_dir WHERE host_category_id = 17;
         DELETE FROM host_category WHERE id = 17;
         DELETE FROM host WHERE id = 15;
         INSERT INTO host_netblock (id, host_id, netblock, name) VALUES (50, 1, '2001:db8:5::/48', 'v6');
         UPDATE host_category_dir SET up2date = TRUE WHERE host_category_id = 3;
         UPDATE repository SET disabled = FALSE WHERE id = 6;",
    )
    .await;
    let report = import(db, &options(&src)).await;
    let lines: Vec<String> = report
        .applied
        .changes
        .lines
        .iter()
        .map(|l| l.to_string())
        .collect();
    for want in [
        "~ site EuroMirrors Ltd (#7): name \"Euro Mirrors\" → \"EuroMirrors Ltd\"",
        "~ host EuroMirrors Ltd/fr.euromirrors.example.eu (#7): bandwidth 100 → 2000",
        "~ site Example Corp (#3): legacy_checkin_password (argon2id hash) → (argon2id hash)",
        "- host Misc Mirrors/user-disabled.example.org (#15)",
        "+ host_netblock Example University/mirror.example.edu (#1) 2001:db8:5::/48",
        "- disabled_repository fedora-39",
        "+ host_category_dir Example Hosting/fedora.example.net (#2): \
         pub/fedora/linux/updates/40/Everything/x86_64/repodata",
    ] {
        assert!(lines.iter().any(|l| l == want), "{want}\n{lines:#?}");
    }
    assert_eq!(report.applied.changes.counts("host").deleted, 1);
    assert_eq!(
        report.applied.changes.counts("host_category_dir").created,
        5
    );
    assert_eq!(report.applied.generation_after, 2);
    let hash = text(db, "SELECT legacy_checkin_password FROM site WHERE id = 3").await;
    assert!(password::verifies(&hash, "new-secret"));
    assert_eq!(
        text(db, "SELECT name FROM host WHERE id = 7").await,
        "fr.euromirrors.example.eu",
        "ids kept"
    );
    assert!(import(db, &options(&src)).await.applied.changes.is_empty());
}
on_both_backends!(changed_source_reconciles);

/// The derived snapshot: kept host ids, private and inactive hosts, peer ASNs exported, DNS
/// netblocks not yet resolved, flattened redirects, disabled prefixes.
async fn derived_snapshot(db: &Database) {
    let Some(src) = mm2_source("").await else {
        return;
    };
    import(db, &options(&src)).await;
    let derived = derive_snapshot(db, &DeriveOptions::default())
        .await
        .expect("derive");
    let data = derived.data;
    let ids: BTreeSet<u64> = data.hosts.iter().map(|h| h.id).collect();
    assert_eq!(
        ids,
        BTreeSet::from([1, 2, 3, 4, 6, 7, 8, 9, 11, 12, 14, 16]),
        "5: inactive site, 10: auto-disabled, 15: disabled by its owners"
    );
    let host = |id: u64| data.hosts.iter().find(|h| h.id == id).unwrap();
    assert_eq!(host(1).asn, Some(64500));
    assert_eq!(host(1).peer_asns, [64501]);
    assert!(host(3).private, "private through its site");
    assert!(host(16).private);
    assert_eq!(
        host(3)
            .netblocks
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>(),
        ["10.1.0.0/16", "198.51.100.0/24", "2001:db8:1000::/36"],
        "a DNS name contributes once resolved"
    );
    assert_eq!(host(2).allowed_countries, [*b"CA", *b"US"]);
    assert!(
        host(9).allowed_countries.is_empty(),
        "host_country is not a restriction"
    );
    assert_eq!(host(9).country, *b"GB");
    let mut redirects = data.redirects.clone();
    redirects.sort();
    assert_eq!(
        redirects,
        [
            ("epel-9.3".to_string(), "epel-9".to_string()),
            ("epel-9.4".to_string(), "epel-9".to_string()),
            ("fedora-rawhide".to_string(), "rawhide".to_string()),
        ]
    );
    assert_eq!(data.disabled, ["fedora-39"]);
    let os = data
        .directories
        .iter()
        .find(|d| d.name == "pub/fedora/linux/releases/40/Everything/x86_64/os")
        .unwrap();
    let mut carriers = os.carriers.clone();
    carriers.sort();
    assert_eq!(carriers, [1, 2, 3, 4, 6, 7, 8, 9, 11, 12, 14, 16]);
}
on_both_backends!(derived_snapshot);

/// `--host-country-as-allowed`, `--skip-stats`, no `--admin-group`.
async fn options_change_the_mapping(db: &Database) {
    let Some(src) = mm2_source("").await else {
        return;
    };
    let opts = Mm2Options {
        host_country_as_allowed: true,
        skip_stats: true,
        admin_groups: Vec::new(),
        ..options(&src)
    };
    let report = import(db, &opts).await;
    assert!(
        report.notes.rows("host_country.as_allowed")[0].contains("host_country 1"),
        "{}",
        report.render()
    );
    assert_eq!(
        texts(
            db,
            "SELECT country FROM host_allowed_country WHERE host_id = 9"
        )
        .await,
        ["GB"]
    );
    assert_eq!(number(db, "SELECT count(*) FROM access_stat").await, 0);
    assert_eq!(number(db, "SELECT count(*) FROM propagation_stat").await, 0);
    assert_eq!(
        number(
            db,
            &format!("SELECT count(*) FROM users WHERE {} = 't'", b("is_admin"))
        )
        .await,
        0
    );
}
on_both_backends!(options_change_the_mapping);

/// Data of no (or another) MirrorManager2 source is refused unless `--replace`.
async fn foreign_data_needs_replace(db: &Database) {
    let Some(src) = mm2_source("").await else {
        return;
    };
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/inventory.json");
    let text_inv = std::fs::read_to_string(path).unwrap();
    let (inv, _) = parse_inventory("inventory.json", &text_inv).unwrap();
    import_inventory(db, &inv, false).await.unwrap();
    let err = import_mm2(db, &options(&src), &mut |_| {})
        .await
        .expect_err("refused");
    assert_eq!(err.status(), 2);
    assert!(
        err.to_string().contains("not imported from MirrorManager2")
            && err.to_string().contains("--replace"),
        "{err}"
    );
    let before = number(db, "SELECT count(*) FROM site").await;
    assert_eq!(before, 3, "nothing changed");
    let opts = Mm2Options {
        replace: true,
        ..options(&src)
    };
    let report = import(db, &opts).await;
    assert!(report.applied.replaced);
    check_imported(db).await;
    // The same source again needs no --replace.
    assert!(import(db, &options(&src)).await.applied.changes.is_empty());
}
on_both_backends!(foreign_data_needs_replace);

/// A damaged source is refused before anything is written, naming every problem.
#[tokio::test]
async fn damaged_sources_are_refused() {
    let cases: &[(&str, &[&str])] = &[
        ("DROP TABLE host_netblock;", &["table host_netblock"]),
        (
            "ALTER TABLE host DROP COLUMN asn_clients; ALTER TABLE site DROP COLUMN password;",
            &["column host.asn_clients", "column site.password"],
        ),
        (
            "ALTER TABLE host ALTER COLUMN country DROP NOT NULL;
             UPDATE host SET country = NULL WHERE id = 2;
             ALTER TABLE site ALTER COLUMN name DROP NOT NULL;
             UPDATE site SET name = NULL WHERE id = 5;
             ALTER TABLE host_category_url ALTER COLUMN url DROP NOT NULL;
             UPDATE host_category_url SET url = NULL WHERE id = 3;",
            &[
                "host 2: country is NULL",
                "site 5: name is NULL",
                "host_category_url 3: url is NULL",
            ],
        ),
        (
            "UPDATE host SET country = 'Atlantis' WHERE id = 7;",
            &[
                "host 7 \"fr.euromirrors.example.eu\": country \"Atlantis\"",
                "--lenient",
            ],
        ),
    ];
    for (damage, wanted) in cases {
        let Some(src) = mm2_source(damage).await else {
            return;
        };
        let t = support::sqlite_db().await;
        initialise(&t.db).await;
        let err = import_mm2(&t.db, &options(&src), &mut |_| {})
            .await
            .expect_err(damage);
        assert_eq!(err.status(), 2, "{err}");
        let message = err.to_string();
        for w in *wanted {
            assert!(message.contains(w), "{damage}: {w:?} not in\n{message}");
        }
        assert_eq!(number(&t.db, "SELECT count(*) FROM site").await, 0);
        assert_eq!(number(&t.db, "SELECT generation FROM meta").await, 0);
        assert!(matches!(
            err,
            Mm2Error::Source(_) | Mm2Error::Invalid { .. }
        ));
    }
    // Not a MirrorManager2 database at all.
    let Some(empty) = mm2_source_with(&[]).await else {
        return;
    };
    let t = support::sqlite_db().await;
    initialise(&t.db).await;
    let err = import_mm2(&t.db, &options(&empty), &mut |_| {})
        .await
        .expect_err("empty schema");
    assert_eq!(err.status(), 2);
    for table in ["table product", "table host", "table host_category_dir"] {
        assert!(err.to_string().contains(table), "{err}");
    }
}

/// The report explains where our host lists differ from MirrorManager2's: a host whose only
/// public URL is not a mirror URL, a host not imported.
#[tokio::test]
async fn comparison_names_each_difference() {
    let Some(src) = mm2_source(
        "UPDATE host_category_url SET url = 'gopher://fr.euromirrors.example.eu/fedora' \
         WHERE id = 14;
         UPDATE host SET name = 'bad name!' WHERE id = 8;",
    )
    .await
    else {
        return;
    };
    let t = support::sqlite_db().await;
    initialise(&t.db).await;
    let report = import(&t.db, &options(&src)).await;
    let os = report
        .comparison
        .differences
        .iter()
        .find(|d| d.directory == "pub/fedora/linux/releases/40/Everything/x86_64/os")
        .unwrap_or_else(|| panic!("{}", report.comparison.render(true)));
    let reasons: BTreeSet<(i64, bool)> = os
        .only_mm2
        .iter()
        .map(|(id, reason)| (*id, reason.contains("not imported")))
        .collect();
    assert_eq!(reasons, BTreeSet::from([(7, false), (8, true)]), "{os:?}");
    assert!(os.only_ours.is_empty());
    let text = report.render();
    assert!(
        text.contains("- host 7: not carried in category \"Fedora Linux\""),
        "{text}"
    );
    assert!(
        text.contains("… and"),
        "examples only outside a dry run: {text}"
    );
}

/// `--lenient`: a host with an invalid country comes in disabled, with the reason.
#[tokio::test]
async fn lenient_imports_invalid_countries_disabled() {
    let Some(src) = mm2_source("UPDATE host SET country = 'Atlantis' WHERE id = 7;").await else {
        return;
    };
    let t = support::sqlite_db().await;
    initialise(&t.db).await;
    let opts = Mm2Options {
        lenient: true,
        ..options(&src)
    };
    let report = import(&t.db, &opts).await;
    assert_eq!(report.notes.rows("host.invalid_country").len(), 1);
    assert_eq!(
        text(
            &t.db,
            &format!(
                "SELECT country || ' ' || {} || ' ' || disable_reason FROM host WHERE id = 7",
                b("admin_active")
            )
        )
        .await,
        "AQ f invalid country Atlantis"
    );
}

/// The command: exit status 2 with the problem on standard error, the report on standard
/// output, the plaintext site password nowhere in the database file.
#[tokio::test]
async fn command_line() {
    let Some(src) = mm2_source("").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("mirrorfleet.toml"),
        "[auth.argon2]\nmemory_kib = 8\ntime_cost = 1\n",
    )
    .unwrap();
    let db_url = format!("sqlite://{}/cp.db", dir.path().display());
    let run = |args: &[&str]| {
        let mut all = vec!["--database-url", &db_url];
        all.extend_from_slice(args);
        support::mirrorfleet(dir.path(), &all)
    };
    assert!(run(&["init"]).status.success());
    let url = src.url();
    let dry = run(&["import", "mm2", "--from", &url, "--dry-run"]);
    assert!(dry.status.success(), "{}", support::output_text(&dry));
    let out = String::from_utf8_lossy(&dry.stdout);
    assert!(out.contains("+ site Example Corp (2) (#4)"), "{out}");
    let real = run(&[
        "import",
        "mm2",
        "--from",
        &url,
        "--admin-group",
        "sysadmin-main",
    ]);
    assert!(real.status.success(), "{}", support::output_text(&real));
    let again = run(&[
        "import",
        "mm2",
        "--from",
        &url,
        "--admin-group",
        "sysadmin-main",
    ]);
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("no changes\ngeneration 1 is 1"),
        "{}",
        support::output_text(&again)
    );
    // A bad URL and a damaged source: exit 2, nothing more written.
    let bad = run(&["import", "mm2", "--from", "mysql://x/y"]);
    assert_eq!(bad.status.code(), Some(2), "{}", support::output_text(&bad));
    src.run("DROP TABLE host_peer_asn;").await;
    let damaged = run(&["import", "mm2", "--from", &url]);
    assert_eq!(damaged.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&damaged.stderr).contains("table host_peer_asn"),
        "{}",
        support::output_text(&damaged)
    );
    // The site password exists only as an argon2id hash.
    let _ = run(&["migrate"]);
    assert_no_plaintext(&dir.path().join("cp.db"), "s3cret-corp");
}

fn assert_no_plaintext(db_file: &Path, secret: &str) {
    for suffix in ["", "-wal"] {
        let path = format!("{}{suffix}", db_file.display());
        if let Ok(bytes) = std::fs::read(&path) {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{path} holds the plaintext password"
            );
        }
    }
}
