//! Reading a MirrorManager2 database (mm2-schema.md): one connection, one `REPEATABLE READ,
//! READ ONLY` transaction, so every table is read from the same state and nothing is ever
//! written. The tables and columns the import needs are checked first, and every missing one
//! is named; then each table is read into plain rows, every column as an `Option`, so a NULL
//! where MirrorManager2's model forbids one is a named problem ("host 12: country is NULL"),
//! never a panic. Pickled columns (`host.config`, `host.last_crawls`, `host_stats.data`) are
//! never selected; `directory.files` is read as bytes and only ever parsed as JSON.

use std::collections::{BTreeMap, BTreeSet};

use sqlx::postgres::{PgConnectOptions, PgConnection, PgRow};
use sqlx::{Connection, Row};
use time::{Date, OffsetDateTime, PrimitiveDateTime};

use crate::db::redact_url;

/// What went wrong reading the source.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// `--from` is not a PostgreSQL URL.
    #[error("--from {0}: not a PostgreSQL URL (postgres://USER@HOST/DB)")]
    NotPostgres(String),
    /// The server could not be reached or refused the login.
    #[error("cannot connect to the MirrorManager2 database {url}: {source}")]
    Connect {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    /// Tables or columns the import needs are missing: not a MirrorManager2 database, or a
    /// damaged one.
    #[error(
        "the MirrorManager2 database {url} lacks what the import needs: {}; nothing imported",
        missing.join(", ")
    )]
    Missing { url: String, missing: Vec<String> },
    /// Values the MirrorManager2 model forbids (NULLs in required columns).
    #[error(
        "the MirrorManager2 database {url} holds {found} value(s) its model forbids; nothing \
         imported:\n  {}",
        problems.join("\n  ")
    )]
    Damaged {
        url: String,
        found: usize,
        problems: Vec<String>,
    },
    /// A query failed.
    #[error("reading the MirrorManager2 database {url}: {source}")]
    Query {
        url: String,
        #[source]
        source: sqlx::Error,
    },
}

impl SourceError {
    /// True for problems of the source's content (exit status 2), false for failures to
    /// reach or read it (exit status 1).
    pub fn is_invalid_source(&self) -> bool {
        matches!(
            self,
            SourceError::NotPostgres(_) | SourceError::Missing { .. } | SourceError::Damaged { .. }
        )
    }
}

/// `product`.
#[derive(Clone, Debug, PartialEq)]
pub struct Product {
    pub id: i64,
    pub name: String,
    pub publiclist: bool,
}

/// `version`.
#[derive(Clone, Debug, PartialEq)]
pub struct Version {
    pub id: i64,
    pub name: Option<String>,
    pub product_id: Option<i64>,
    pub display_name: Option<String>,
    pub display: bool,
    pub is_test: bool,
    pub sortorder: i64,
}

/// `arch`.
#[derive(Clone, Debug, PartialEq)]
pub struct Arch {
    pub id: i64,
    pub name: String,
    pub publiclist: bool,
    pub primary_arch: bool,
}

/// `category`.
#[derive(Clone, Debug, PartialEq)]
pub struct Category {
    pub id: i64,
    pub name: String,
    pub product_id: Option<i64>,
    pub topdir_id: Option<i64>,
    pub publiclist: bool,
    pub admin_only: bool,
}

/// `directory` (`files` as stored: JSON bytes, or a legacy pickle that is never parsed).
#[derive(Clone, Debug, PartialEq)]
pub struct Directory {
    pub id: i64,
    pub name: String,
    pub files: Option<Vec<u8>>,
    pub readable: bool,
    pub ctime: Option<i64>,
}

/// `repository`.
#[derive(Clone, Debug, PartialEq)]
pub struct Repository {
    pub id: i64,
    pub prefix: Option<String>,
    pub category_id: Option<i64>,
    pub version_id: Option<i64>,
    pub arch_id: Option<i64>,
    pub directory_id: Option<i64>,
    pub disabled: bool,
}

/// `file_detail`.
#[derive(Clone, Debug, PartialEq)]
pub struct FileDetail {
    pub id: i64,
    pub directory_id: i64,
    pub filename: String,
    pub timestamp: Option<i64>,
    pub size: Option<i64>,
    pub md5: Option<String>,
    pub sha1: Option<String>,
    pub sha256: Option<String>,
    pub sha512: Option<String>,
}

/// `repository_redirect`.
#[derive(Clone, Debug, PartialEq)]
pub struct Redirect {
    pub id: i64,
    pub from_repo: String,
    pub to_repo: Option<String>,
}

/// `site`.
#[derive(Clone, Debug, PartialEq)]
pub struct Site {
    pub id: i64,
    pub name: String,
    pub password: Option<String>,
    pub org_url: Option<String>,
    pub private: bool,
    pub admin_active: bool,
    pub user_active: bool,
    pub created_at: Option<OffsetDateTime>,
    pub created_by: Option<String>,
}

/// `site_admin`.
#[derive(Clone, Debug, PartialEq)]
pub struct SiteAdmin {
    pub site_id: i64,
    pub username: Option<String>,
}

/// `host` (pickles, internet2 and push fields are not read).
#[derive(Clone, Debug, PartialEq)]
pub struct Host {
    pub id: i64,
    pub site_id: Option<i64>,
    pub name: String,
    pub country: String,
    pub bandwidth_int: Option<i64>,
    pub max_connections: i64,
    pub private: bool,
    pub asn: Option<i64>,
    pub asn_clients: bool,
    pub admin_active: bool,
    pub user_active: bool,
    pub comment: Option<String>,
    pub robot_email: Option<String>,
    pub last_checked_in: Option<OffsetDateTime>,
    pub last_crawled: Option<OffsetDateTime>,
    pub last_crawl_duration: Option<i64>,
    pub crawl_failures: i64,
    pub disable_reason: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
}

/// `host_category`.
#[derive(Clone, Debug, PartialEq)]
pub struct HostCategory {
    pub id: i64,
    pub host_id: Option<i64>,
    pub category_id: Option<i64>,
    pub always_up2date: bool,
}

/// `host_category_dir`.
#[derive(Clone, Debug, PartialEq)]
pub struct HostCategoryDir {
    pub id: i64,
    pub host_category_id: i64,
    pub directory_id: Option<i64>,
    pub up2date: bool,
}

/// `host_category_url`.
#[derive(Clone, Debug, PartialEq)]
pub struct HostCategoryUrl {
    pub id: i64,
    pub host_category_id: i64,
    pub url: String,
    pub private: bool,
}

/// `host_netblock`.
#[derive(Clone, Debug, PartialEq)]
pub struct HostNetblock {
    pub id: i64,
    pub host_id: Option<i64>,
    pub netblock: Option<String>,
    pub name: Option<String>,
}

/// `host_peer_asn`.
#[derive(Clone, Debug, PartialEq)]
pub struct HostPeerAsn {
    pub id: i64,
    pub host_id: Option<i64>,
    pub asn: i64,
    pub name: Option<String>,
}

/// `host_country_allowed`, or `host_country` joined with `country` (`country` is then the
/// code, `None` when the country row is missing).
#[derive(Clone, Debug, PartialEq)]
pub struct HostCountry {
    pub id: i64,
    pub host_id: Option<i64>,
    pub country: Option<String>,
}

/// `country_continent_redirect`.
#[derive(Clone, Debug, PartialEq)]
pub struct ContinentRedirect {
    pub id: i64,
    pub country: String,
    pub continent: String,
}

/// `netblock_country`.
#[derive(Clone, Debug, PartialEq)]
pub struct NetblockCountry {
    pub id: i64,
    pub netblock: String,
    pub country: String,
}

/// `access_stat` joined with `access_stat_category`.
#[derive(Clone, Debug, PartialEq)]
pub struct AccessStat {
    pub category: String,
    pub date: Date,
    pub name: String,
    pub requests: Option<i64>,
}

/// `propagation_stat`.
#[derive(Clone, Debug, PartialEq)]
pub struct PropagationStat {
    pub repository_id: i64,
    pub datetime: OffsetDateTime,
    pub same_day: i64,
    pub one_day: i64,
    pub two_day: i64,
    pub older: i64,
    pub no_info: i64,
}

/// `mm_user`, with the names of its groups.
#[derive(Clone, Debug, PartialEq)]
pub struct User {
    pub id: i64,
    pub user_name: String,
    pub email_address: Option<String>,
    pub display_name: Option<String>,
    pub groups: BTreeSet<String>,
}

/// Everything the import reads, in primary-key order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Source {
    /// `host:port/database`, plus ` schema NAME` outside `public`: what `meta.mm2_source`
    /// records.
    pub label: String,
    pub products: Vec<Product>,
    pub versions: Vec<Version>,
    pub arches: Vec<Arch>,
    pub categories: Vec<Category>,
    pub directories: Vec<Directory>,
    pub category_directories: Vec<(i64, i64)>,
    pub repositories: Vec<Repository>,
    pub file_details: Vec<FileDetail>,
    pub redirects: Vec<Redirect>,
    pub sites: Vec<Site>,
    pub site_admins: Vec<SiteAdmin>,
    pub hosts: Vec<Host>,
    pub host_categories: Vec<HostCategory>,
    pub host_category_dirs: Vec<HostCategoryDir>,
    pub host_category_urls: Vec<HostCategoryUrl>,
    pub host_netblocks: Vec<HostNetblock>,
    pub host_peer_asns: Vec<HostPeerAsn>,
    pub host_countries_allowed: Vec<HostCountry>,
    /// `host_country` (the UI's "Countries Allowed"); `None` when the table is absent.
    pub host_countries: Option<Vec<HostCountry>>,
    /// `country.code`; `None` when the table is absent.
    pub countries: Option<Vec<String>>,
    pub continent_redirects: Vec<ContinentRedirect>,
    pub netblock_countries: Vec<NetblockCountry>,
    /// `embargoed_country.country_code`; `None` when the table is absent.
    pub embargoed: Option<Vec<String>>,
    /// `None` when the tables are absent or `--skip-stats`.
    pub access_stats: Option<Vec<AccessStat>>,
    /// `None` when the table is absent or `--skip-stats`.
    pub propagation_stats: Option<Vec<PropagationStat>>,
    /// `None` when `mm_user` is absent.
    pub users: Option<Vec<User>>,
    /// Tables that are not imported: name → row count (`None`: the table is absent).
    pub not_imported: BTreeMap<&'static str, Option<i64>>,
}

/// Tables whose rows are counted and reported but not imported (control-plane.md §8.2).
pub const NOT_IMPORTED: &[&str] = &[
    "host_acl_ip",
    "site_to_site",
    "directory_exclusive_host",
    "location",
    "host_location",
    "file_group",
    "file_detail_file_group",
    "host_stats",
    "mm_user_visit",
];

/// A table and the columns the import needs from it. (Columns that later MirrorManager2
/// migrations added, `category.admin_only`, `host.latitude`/`longitude`, the user and statistics
/// tables, are read when present.)
struct Need {
    table: &'static str,
    columns: &'static [&'static str],
}

const REQUIRED: &[Need] = &[
    Need {
        table: "product",
        columns: &["id", "name", "publiclist"],
    },
    Need {
        table: "version",
        columns: &[
            "id",
            "name",
            "product_id",
            "display_name",
            "display",
            "is_test",
            "sortorder",
        ],
    },
    Need {
        table: "arch",
        columns: &["id", "name", "publiclist", "primary_arch"],
    },
    Need {
        table: "category",
        columns: &["id", "name", "product_id", "topdir_id", "publiclist"],
    },
    Need {
        table: "directory",
        columns: &["id", "name", "files", "readable", "ctime"],
    },
    Need {
        table: "category_directory",
        columns: &["category_id", "directory_id"],
    },
    Need {
        table: "repository",
        columns: &[
            "id",
            "prefix",
            "category_id",
            "version_id",
            "arch_id",
            "directory_id",
            "disabled",
        ],
    },
    Need {
        table: "file_detail",
        columns: &[
            "id",
            "directory_id",
            "filename",
            "timestamp",
            "size",
            "md5",
            "sha1",
            "sha256",
            "sha512",
        ],
    },
    Need {
        table: "repository_redirect",
        columns: &["id", "from_repo", "to_repo"],
    },
    Need {
        table: "site",
        columns: &[
            "id",
            "name",
            "password",
            "org_url",
            "private",
            "admin_active",
            "user_active",
            "created_at",
            "created_by",
        ],
    },
    Need {
        table: "site_admin",
        columns: &["site_id", "username"],
    },
    Need {
        table: "host",
        columns: &[
            "id",
            "site_id",
            "name",
            "country",
            "bandwidth_int",
            "max_connections",
            "private",
            "asn",
            "asn_clients",
            "admin_active",
            "user_active",
            "comment",
            "robot_email",
            "last_checked_in",
            "last_crawled",
            "last_crawl_duration",
            "crawl_failures",
            "disable_reason",
        ],
    },
    Need {
        table: "host_category",
        columns: &["id", "host_id", "category_id", "always_up2date"],
    },
    Need {
        table: "host_category_dir",
        columns: &["id", "host_category_id", "directory_id", "up2date"],
    },
    Need {
        table: "host_category_url",
        columns: &["id", "host_category_id", "url", "private"],
    },
    Need {
        table: "host_netblock",
        columns: &["id", "host_id", "netblock", "name"],
    },
    Need {
        table: "host_peer_asn",
        columns: &["id", "host_id", "asn", "name"],
    },
    Need {
        table: "host_country_allowed",
        columns: &["id", "host_id", "country"],
    },
    Need {
        table: "country_continent_redirect",
        columns: &["id", "country", "continent"],
    },
    Need {
        table: "netblock_country",
        columns: &["id", "netblock", "country"],
    },
];

/// What to read besides the required tables.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReadOptions {
    /// Leave the statistics tables unread.
    pub skip_stats: bool,
    /// `--host-country-as-allowed`: `host_country` and `country` become required.
    pub host_country_required: bool,
    /// `--admin-group`: the user and group tables become required.
    pub groups_required: bool,
}

/// Reads the MirrorManager2 database at `url` in one read-only transaction.
pub async fn read_source(url: &str, opts: ReadOptions) -> Result<Source, SourceError> {
    let shown = redact_url(url);
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(SourceError::NotPostgres(shown));
    }
    let options: PgConnectOptions = url.parse().map_err(|source| SourceError::Connect {
        url: shown.clone(),
        source,
    })?;
    let mut conn = PgConnection::connect_with(&options)
        .await
        .map_err(|source| SourceError::Connect {
            url: shown.clone(),
            source,
        })?;
    let query_error = |source| SourceError::Query {
        url: shown.clone(),
        source,
    };
    let mut tx = conn.begin().await.map_err(query_error)?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await
        .map_err(query_error)?;
    let schema: Option<String> = sqlx::query_scalar("SELECT current_schema()")
        .fetch_one(&mut *tx)
        .await
        .map_err(query_error)?;
    let mut label = format!(
        "{}:{}/{}",
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or("postgres")
    );
    match schema.as_deref() {
        Some("public") => {}
        Some(s) => label.push_str(&format!(" schema {s}")),
        None => {
            return Err(SourceError::Missing {
                url: shown,
                missing: vec!["the schema of its search_path".to_string()],
            });
        }
    }
    let columns = table_columns(&mut tx).await.map_err(query_error)?;
    let mut missing = Vec::new();
    for need in REQUIRED {
        check_need(&columns, need, &mut missing);
    }
    if opts.host_country_required {
        for (table, cols) in [
            ("host_country", &["id", "host_id", "country_id"][..]),
            ("country", &["id", "code"][..]),
        ] {
            check_need(
                &columns,
                &Need {
                    table,
                    columns: cols,
                },
                &mut missing,
            );
        }
    }
    if opts.groups_required {
        for (table, cols) in [
            ("mm_user", &["id", "user_name", "email_address"][..]),
            ("mm_group", &["id", "group_name"][..]),
            ("mm_user_group", &["user_id", "group_id"][..]),
        ] {
            check_need(
                &columns,
                &Need {
                    table,
                    columns: cols,
                },
                &mut missing,
            );
        }
    }
    if !missing.is_empty() {
        return Err(SourceError::Missing {
            url: shown,
            missing,
        });
    }
    let has = |table: &str, column: &str| columns.get(table).is_some_and(|c| c.contains(column));
    let mut r = Reader {
        problems: Vec::new(),
        found: 0,
    };
    let mut source = Source {
        label,
        ..Source::default()
    };
    let t = &mut *tx;
    macro_rules! rows {
        ($sql:expr) => {
            sqlx::query($sql)
                .fetch_all(&mut *t)
                .await
                .map_err(query_error)?
        };
    }
    for row in rows!("SELECT CAST(id AS BIGINT), name, publiclist FROM product ORDER BY id") {
        let id = r.id(&row, "product");
        source.products.push(Product {
            id,
            name: r.need(&row, 1, "product", id, "name"),
            publiclist: r.need(&row, 2, "product", id, "publiclist"),
        });
    }
    for row in rows!(
        "SELECT CAST(id AS BIGINT), name, CAST(product_id AS BIGINT), display_name, display, \
         is_test, CAST(sortorder AS BIGINT) FROM version ORDER BY id"
    ) {
        let id = r.id(&row, "version");
        source.versions.push(Version {
            id,
            name: r.opt(&row, 1),
            product_id: r.opt(&row, 2),
            display_name: r.opt(&row, 3),
            display: r.need(&row, 4, "version", id, "display"),
            is_test: r.need(&row, 5, "version", id, "is_test"),
            sortorder: r.need(&row, 6, "version", id, "sortorder"),
        });
    }
    for row in
        rows!("SELECT CAST(id AS BIGINT), name, publiclist, primary_arch FROM arch ORDER BY id")
    {
        let id = r.id(&row, "arch");
        source.arches.push(Arch {
            id,
            name: r.need(&row, 1, "arch", id, "name"),
            publiclist: r.need(&row, 2, "arch", id, "publiclist"),
            primary_arch: r.need(&row, 3, "arch", id, "primary_arch"),
        });
    }
    let admin_only = if has("category", "admin_only") {
        "admin_only"
    } else {
        "FALSE"
    };
    for row in rows!(&format!(
        "SELECT CAST(id AS BIGINT), name, CAST(product_id AS BIGINT), CAST(topdir_id AS BIGINT), \
         publiclist, {admin_only} FROM category ORDER BY id"
    )) {
        let id = r.id(&row, "category");
        source.categories.push(Category {
            id,
            name: r.need(&row, 1, "category", id, "name"),
            product_id: r.opt(&row, 2),
            topdir_id: r.opt(&row, 3),
            publiclist: r.need(&row, 4, "category", id, "publiclist"),
            // A NULL admin_only (the column is nullable in the model) is the default, false.
            admin_only: r.opt::<bool>(&row, 5).unwrap_or(false),
        });
    }
    for row in rows!(
        "SELECT CAST(id AS BIGINT), name, files, readable, CAST(ctime AS BIGINT) FROM directory \
         ORDER BY id"
    ) {
        let id = r.id(&row, "directory");
        source.directories.push(Directory {
            id,
            name: r.need(&row, 1, "directory", id, "name"),
            files: r.opt(&row, 2),
            readable: r.need(&row, 3, "directory", id, "readable"),
            ctime: r.opt(&row, 4),
        });
    }
    for row in rows!(
        "SELECT CAST(category_id AS BIGINT), CAST(directory_id AS BIGINT) \
         FROM category_directory ORDER BY category_id, directory_id"
    ) {
        // The primary key: never NULL.
        source
            .category_directories
            .push((r.opt(&row, 0).unwrap_or(0), r.opt(&row, 1).unwrap_or(0)));
    }
    for row in rows!(
        "SELECT CAST(id AS BIGINT), prefix, CAST(category_id AS BIGINT), \
         CAST(version_id AS BIGINT), CAST(arch_id AS BIGINT), CAST(directory_id AS BIGINT), \
         disabled FROM repository ORDER BY id"
    ) {
        let id = r.id(&row, "repository");
        source.repositories.push(Repository {
            id,
            prefix: r.opt(&row, 1),
            category_id: r.opt(&row, 2),
            version_id: r.opt(&row, 3),
            arch_id: r.opt(&row, 4),
            directory_id: r.opt(&row, 5),
            disabled: r.need(&row, 6, "repository", id, "disabled"),
        });
    }
    for row in rows!(
        "SELECT CAST(id AS BIGINT), CAST(directory_id AS BIGINT), filename, \
         CAST(timestamp AS BIGINT), CAST(size AS BIGINT), md5, sha1, sha256, sha512 \
         FROM file_detail ORDER BY id"
    ) {
        let id = r.id(&row, "file_detail");
        source.file_details.push(FileDetail {
            id,
            directory_id: r.need(&row, 1, "file_detail", id, "directory_id"),
            filename: r.need(&row, 2, "file_detail", id, "filename"),
            timestamp: r.opt(&row, 3),
            size: r.opt(&row, 4),
            md5: r.opt(&row, 5),
            sha1: r.opt(&row, 6),
            sha256: r.opt(&row, 7),
            sha512: r.opt(&row, 8),
        });
    }
    for row in
        rows!("SELECT CAST(id AS BIGINT), from_repo, to_repo FROM repository_redirect ORDER BY id")
    {
        let id = r.id(&row, "repository_redirect");
        source.redirects.push(Redirect {
            id,
            from_repo: r.need(&row, 1, "repository_redirect", id, "from_repo"),
            to_repo: r.opt(&row, 2),
        });
    }
    for row in rows!(
        "SELECT CAST(id AS BIGINT), name, password, org_url, private, admin_active, \
         user_active, CAST(created_at AS TIMESTAMP), created_by FROM site ORDER BY id"
    ) {
        let id = r.id(&row, "site");
        source.sites.push(Site {
            id,
            name: r.need(&row, 1, "site", id, "name"),
            password: r.opt(&row, 2),
            org_url: r.opt(&row, 3),
            private: r.need(&row, 4, "site", id, "private"),
            admin_active: r.need(&row, 5, "site", id, "admin_active"),
            user_active: r.need(&row, 6, "site", id, "user_active"),
            created_at: r.opt::<PrimitiveDateTime>(&row, 7).map(|t| t.assume_utc()),
            created_by: r.opt(&row, 8),
        });
    }
    for row in
        rows!("SELECT CAST(site_id AS BIGINT), username FROM site_admin ORDER BY site_id, username")
    {
        source.site_admins.push(SiteAdmin {
            site_id: r.opt(&row, 0).unwrap_or(0),
            username: r.opt(&row, 1),
        });
    }
    let (latitude, longitude) = if has("host", "latitude") && has("host", "longitude") {
        (
            "CAST(latitude AS DOUBLE PRECISION)",
            "CAST(longitude AS DOUBLE PRECISION)",
        )
    } else {
        (
            "CAST(NULL AS DOUBLE PRECISION)",
            "CAST(NULL AS DOUBLE PRECISION)",
        )
    };
    for row in rows!(&format!(
        "SELECT CAST(id AS BIGINT), CAST(site_id AS BIGINT), name, country, \
         CAST(bandwidth_int AS BIGINT), CAST(max_connections AS BIGINT), private, \
         CAST(asn AS BIGINT), asn_clients, admin_active, user_active, comment, robot_email, \
         CAST(last_checked_in AS TIMESTAMP), CAST(last_crawled AS TIMESTAMP), \
         CAST(last_crawl_duration AS BIGINT), CAST(crawl_failures AS BIGINT), disable_reason, \
         {latitude}, {longitude} FROM host ORDER BY id"
    )) {
        let id = r.id(&row, "host");
        source.hosts.push(Host {
            id,
            site_id: r.opt(&row, 1),
            name: r.need(&row, 2, "host", id, "name"),
            country: r.need(&row, 3, "host", id, "country"),
            bandwidth_int: r.opt(&row, 4),
            max_connections: r.need(&row, 5, "host", id, "max_connections"),
            private: r.need(&row, 6, "host", id, "private"),
            asn: r.opt(&row, 7),
            asn_clients: r.need(&row, 8, "host", id, "asn_clients"),
            admin_active: r.need(&row, 9, "host", id, "admin_active"),
            user_active: r.need(&row, 10, "host", id, "user_active"),
            comment: r.opt(&row, 11),
            robot_email: r.opt(&row, 12),
            last_checked_in: r.opt::<PrimitiveDateTime>(&row, 13).map(|t| t.assume_utc()),
            last_crawled: r.opt::<PrimitiveDateTime>(&row, 14).map(|t| t.assume_utc()),
            last_crawl_duration: r.opt(&row, 15),
            crawl_failures: r.need(&row, 16, "host", id, "crawl_failures"),
            disable_reason: r.opt(&row, 17),
            latitude: r.opt(&row, 18),
            longitude: r.opt(&row, 19),
        });
    }
    for row in rows!(
        "SELECT CAST(id AS BIGINT), CAST(host_id AS BIGINT), CAST(category_id AS BIGINT), \
         always_up2date FROM host_category ORDER BY id"
    ) {
        let id = r.id(&row, "host_category");
        source.host_categories.push(HostCategory {
            id,
            host_id: r.opt(&row, 1),
            category_id: r.opt(&row, 2),
            always_up2date: r.need(&row, 3, "host_category", id, "always_up2date"),
        });
    }
    for row in rows!(
        "SELECT CAST(id AS BIGINT), CAST(host_category_id AS BIGINT), \
         CAST(directory_id AS BIGINT), up2date FROM host_category_dir ORDER BY id"
    ) {
        let id = r.id(&row, "host_category_dir");
        source.host_category_dirs.push(HostCategoryDir {
            id,
            host_category_id: r.need(&row, 1, "host_category_dir", id, "host_category_id"),
            directory_id: r.opt(&row, 2),
            up2date: r.need(&row, 3, "host_category_dir", id, "up2date"),
        });
    }
    for row in rows!(
        "SELECT CAST(id AS BIGINT), CAST(host_category_id AS BIGINT), url, private \
         FROM host_category_url ORDER BY id"
    ) {
        let id = r.id(&row, "host_category_url");
        source.host_category_urls.push(HostCategoryUrl {
            id,
            host_category_id: r.need(&row, 1, "host_category_url", id, "host_category_id"),
            url: r.need(&row, 2, "host_category_url", id, "url"),
            private: r.need(&row, 3, "host_category_url", id, "private"),
        });
    }
    for row in rows!(
        "SELECT CAST(id AS BIGINT), CAST(host_id AS BIGINT), netblock, name FROM host_netblock \
         ORDER BY id"
    ) {
        let id = r.id(&row, "host_netblock");
        source.host_netblocks.push(HostNetblock {
            id,
            host_id: r.opt(&row, 1),
            netblock: r.opt(&row, 2),
            name: r.opt(&row, 3),
        });
    }
    for row in rows!(
        "SELECT CAST(id AS BIGINT), CAST(host_id AS BIGINT), CAST(asn AS BIGINT), name \
         FROM host_peer_asn ORDER BY id"
    ) {
        let id = r.id(&row, "host_peer_asn");
        source.host_peer_asns.push(HostPeerAsn {
            id,
            host_id: r.opt(&row, 1),
            asn: r.need(&row, 2, "host_peer_asn", id, "asn"),
            name: r.opt(&row, 3),
        });
    }
    for row in rows!(
        "SELECT CAST(id AS BIGINT), CAST(host_id AS BIGINT), country FROM host_country_allowed \
         ORDER BY id"
    ) {
        let id = r.id(&row, "host_country_allowed");
        let country: String = r.need(&row, 2, "host_country_allowed", id, "country");
        source.host_countries_allowed.push(HostCountry {
            id,
            host_id: r.opt(&row, 1),
            country: Some(country),
        });
    }
    if has("host_country", "country_id") && has("country", "code") {
        let mut list = Vec::new();
        for row in rows!(
            "SELECT CAST(hc.id AS BIGINT), CAST(hc.host_id AS BIGINT), c.code \
             FROM host_country hc LEFT JOIN country c ON c.id = hc.country_id ORDER BY hc.id"
        ) {
            let id = r.id(&row, "host_country");
            list.push(HostCountry {
                id,
                host_id: r.opt(&row, 1),
                country: r.opt(&row, 2),
            });
        }
        source.host_countries = Some(list);
    }
    if has("country", "code") {
        let mut list = Vec::new();
        for row in rows!("SELECT code FROM country ORDER BY code") {
            if let Some(code) = r.opt::<String>(&row, 0) {
                list.push(code);
            }
        }
        source.countries = Some(list);
    }
    for row in rows!(
        "SELECT CAST(id AS BIGINT), country, continent FROM country_continent_redirect \
         ORDER BY id"
    ) {
        let id = r.id(&row, "country_continent_redirect");
        source.continent_redirects.push(ContinentRedirect {
            id,
            country: r.need(&row, 1, "country_continent_redirect", id, "country"),
            continent: r.need(&row, 2, "country_continent_redirect", id, "continent"),
        });
    }
    for row in
        rows!("SELECT CAST(id AS BIGINT), netblock, country FROM netblock_country ORDER BY id")
    {
        let id = r.id(&row, "netblock_country");
        source.netblock_countries.push(NetblockCountry {
            id,
            netblock: r.need(&row, 1, "netblock_country", id, "netblock"),
            country: r.need(&row, 2, "netblock_country", id, "country"),
        });
    }
    if has("embargoed_country", "country_code") {
        let mut list = Vec::new();
        for row in rows!("SELECT country_code FROM embargoed_country ORDER BY country_code") {
            if let Some(code) = r.opt::<String>(&row, 0) {
                list.push(code);
            }
        }
        source.embargoed = Some(list);
    }
    if !opts.skip_stats {
        if has("access_stat", "requests") && has("access_stat_category", "name") {
            let mut list = Vec::new();
            for row in rows!(
                "SELECT c.name, a.date, a.name, CAST(a.requests AS BIGINT) FROM access_stat a \
                 JOIN access_stat_category c ON c.id = a.category_id \
                 ORDER BY c.name, a.date, a.name"
            ) {
                // The primary key: never NULL.
                list.push(AccessStat {
                    category: r.opt(&row, 0).unwrap_or_default(),
                    date: r.opt(&row, 1).unwrap_or(Date::MIN),
                    name: r.opt(&row, 2).unwrap_or_default(),
                    requests: r.opt(&row, 3),
                });
            }
            source.access_stats = Some(list);
        }
        if has("propagation_stat", "no_info") {
            let mut list = Vec::new();
            for row in rows!(
                "SELECT CAST(repository_id AS BIGINT), CAST(datetime AS TIMESTAMP), \
                 CAST(same_day AS BIGINT), CAST(one_day AS BIGINT), CAST(two_day AS BIGINT), \
                 CAST(older AS BIGINT), CAST(no_info AS BIGINT) FROM propagation_stat \
                 ORDER BY repository_id, datetime"
            ) {
                let repository_id: i64 = r.opt(&row, 0).unwrap_or(0);
                let count = |r: &mut Reader, i: usize, column: &str| -> i64 {
                    r.need(&row, i, "propagation_stat", repository_id, column)
                };
                let stat = PropagationStat {
                    repository_id,
                    datetime: r
                        .opt::<PrimitiveDateTime>(&row, 1)
                        .map_or(OffsetDateTime::UNIX_EPOCH, |t| t.assume_utc()),
                    same_day: count(&mut r, 2, "same_day"),
                    one_day: count(&mut r, 3, "one_day"),
                    two_day: count(&mut r, 4, "two_day"),
                    older: count(&mut r, 5, "older"),
                    no_info: count(&mut r, 6, "no_info"),
                };
                list.push(stat);
            }
            source.propagation_stats = Some(list);
        }
    }
    if has("mm_user", "user_name") {
        let mut groups: BTreeMap<i64, BTreeSet<String>> = BTreeMap::new();
        if has("mm_user_group", "group_id") && has("mm_group", "group_name") {
            for row in rows!(
                "SELECT CAST(ug.user_id AS BIGINT), g.group_name FROM mm_user_group ug \
                 JOIN mm_group g ON g.id = ug.group_id"
            ) {
                if let (Some(user), Some(group)) = (r.opt::<i64>(&row, 0), r.opt::<String>(&row, 1))
                {
                    groups.entry(user).or_default().insert(group);
                }
            }
        }
        let display = if has("mm_user", "display_name") {
            "display_name"
        } else {
            "CAST(NULL AS TEXT)"
        };
        let mut list = Vec::new();
        for row in rows!(&format!(
            "SELECT CAST(id AS BIGINT), user_name, email_address, {display} FROM mm_user \
             ORDER BY id"
        )) {
            let id = r.id(&row, "mm_user");
            list.push(User {
                id,
                user_name: r.need(&row, 1, "mm_user", id, "user_name"),
                email_address: r.opt(&row, 2),
                display_name: r.opt(&row, 3),
                groups: groups.remove(&id).unwrap_or_default(),
            });
        }
        source.users = Some(list);
    }
    for table in NOT_IMPORTED {
        let count = if columns.contains_key(*table) {
            let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
                .fetch_one(&mut *t)
                .await
                .map_err(query_error)?;
            Some(n)
        } else {
            None
        };
        source.not_imported.insert(table, count);
    }
    // Read-only: rolling back ends it.
    tx.rollback().await.map_err(query_error)?;
    let _ = conn.close().await;
    if r.found > 0 {
        return Err(SourceError::Damaged {
            url: shown,
            found: r.found,
            problems: r.problems,
        });
    }
    Ok(source)
}

/// Table → columns of the current schema.
async fn table_columns(
    conn: &mut PgConnection,
) -> Result<BTreeMap<String, BTreeSet<String>>, sqlx::Error> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT CAST(table_name AS TEXT), CAST(column_name AS TEXT) \
         FROM information_schema.columns WHERE table_schema = current_schema()",
    )
    .fetch_all(conn)
    .await?;
    let mut map: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (table, column) in rows {
        map.entry(table).or_default().insert(column);
    }
    Ok(map)
}

fn check_need(
    columns: &BTreeMap<String, BTreeSet<String>>,
    need: &Need,
    missing: &mut Vec<String>,
) {
    match columns.get(need.table) {
        None => missing.push(format!("table {}", need.table)),
        Some(have) => {
            for c in need.columns {
                if !have.contains(*c) {
                    missing.push(format!("column {}.{c}", need.table));
                }
            }
        }
    }
}

/// Reads columns and collects the problems of the whole source (at most
/// [`MAX_PROBLEMS`] are kept).
struct Reader {
    problems: Vec<String>,
    /// Problems found, listed or not.
    found: usize,
}

/// Problems listed at most; the count says how many there were.
const MAX_PROBLEMS: usize = 200;

impl Reader {
    /// Column `i` (NULL, or a type that does not decode, is `None`).
    fn opt<'r, T>(&mut self, row: &'r PgRow, i: usize) -> Option<T>
    where
        T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
    {
        row.try_get::<Option<T>, _>(i).ok().flatten()
    }

    /// The `id` in column 0 (a primary key, never NULL).
    fn id(&mut self, row: &PgRow, _table: &str) -> i64 {
        self.opt(row, 0).unwrap_or(0)
    }

    /// Column `i`, which MirrorManager2's model declares NOT NULL: a NULL is a problem
    /// ("TABLE ID: COLUMN is NULL") and the default value stands in until the import stops.
    fn need<'r, T>(&mut self, row: &'r PgRow, i: usize, table: &str, id: i64, column: &str) -> T
    where
        T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Default,
    {
        match self.opt(row, i) {
            Some(v) => v,
            None => {
                self.found += 1;
                if self.problems.len() < MAX_PROBLEMS {
                    self.problems
                        .push(format!("{table} {id}: {column} is NULL"));
                } else if self.problems.len() == MAX_PROBLEMS {
                    self.problems
                        .push("… (only the first 200 are listed)".to_string());
                }
                T::default()
            }
        }
    }
}
