//! The MirrorManager2 equivalence check (issue 9, control-plane.md §8): the MirrorManager2
//! fixture (`control-plane/tests/fixtures/mm2/`) is loaded into PostgreSQL, imported with
//! `mirrorfleet import mm2` into a real control plane, published, and served by a real
//! store-mode edge. For a table of clients and requests (addresses in netblocks, ASNs and
//! peer ASNs, GeoIP countries, a netblock→country override, `country=`, `netblock=0`,
//! `protocol=`, disabled, redirected and source-only repositories), the hosts the edge places
//! in each tier (`explain=1`) must be exactly those MirrorManager2's selection rules give on
//! the same rows (edge-protocol.md §5–§8 with data-model.md §7's fixes), computed here by a
//! small reference implementation that reads the MirrorManager2 tables itself.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::time::Duration;

use mirrorfleet_snapshot::countries;
use mirrorfleet_snapshot::net::{Prefix, PrefixError};
use mirrorfleet_tests::control::ControlPlane;
use mirrorfleet_tests::fixture::{Fixture, SnapshotMode, country_record};
use serde_json::Value;
use sqlx::postgres::PgConnection;
use sqlx::{Connection, Row};

#[path = "../../control-plane/tests/support/mm2.rs"]
mod mm2;

/// GeoIP records of the edge: (network, country).
const GEOIP: &[(&str, &str)] = &[
    ("192.0.2.0/24", "SE"),
    ("198.51.100.0/24", "DE"),
    ("100.64.2.0/24", "US"),
    ("100.64.3.0/24", "BR"),
    ("100.64.5.0/24", "US"),
    ("100.64.6.0/24", "CA"),
    ("100.64.7.0/24", "FR"),
    ("100.64.8.0/24", "AU"),
    ("100.64.9.0/24", "US"),
    ("100.64.11.0/24", "IL"),
];

/// The prefix→ASN table the control plane imports.
const ASN_TABLE: &[(&str, u32)] = &[
    ("192.0.2.0/24", 64500),
    ("100.64.2.0/24", 64501),
    ("100.64.3.0/24", 64510),
    ("100.64.4.0/24", 64600),
];

const CLIENTS: &[&str] = &[
    "192.0.2.10",       // SE, netblock of the university mirror, AS 64500
    "192.0.2.200",      // SE, also inside the master's /25
    "198.51.100.7",     // DE, the private corporate mirror's netblock
    "10.1.2.3",         // no country, the corporate a.b.c.d/255.255.0.0 netblock
    "2001:db8:1000::1", // IPv6 netblock of the corporate mirror
    "203.0.113.50",     // a netblock written with host bits set
    "100.64.2.5",       // US, AS 64501: the university's peer AS
    "100.64.3.5",       // BR, AS 64510: a private host's own AS
    "100.64.4.5",       // no country, AS 64600
    "100.64.5.5",       // US
    "100.64.6.5",       // CA: no CA host; the continent's, one allowed for CA only
    "100.64.7.5",       // FR
    "100.64.8.5",       // AU: the AU host allows AU only
    "100.64.9.5",       // GeoIP US, netblock_country says JP
    "100.64.10.5",      // unknown country
    "100.64.11.5",      // IL, moved to EU by country_continent_redirect
];

const QUERIES: &[&str] = &[
    "/mirrorlist?repo=fedora-40&arch=x86_64",
    "/metalink?repo=fedora-40&arch=x86_64",
    "/mirrorlist?repo=updates-released-f40&arch=x86_64",
    "/mirrorlist?repo=epel-9&arch=x86_64",
    "/mirrorlist?repo=fedora-rawhide&arch=x86_64",
    "/mirrorlist?repo=epel-9.4&arch=x86_64",
    "/mirrorlist?repo=fedora-39&arch=x86_64",
    "/mirrorlist?repo=fedora-source-40&arch=x86_64",
    "/mirrorlist?repo=fedora-40&arch=aarch64",
    "/mirrorlist?repo=fedora-40&arch=x86_64&country=US",
    "/mirrorlist?repo=fedora-40&arch=x86_64&country=global",
    "/mirrorlist?repo=fedora-40&arch=x86_64&country=CA",
    "/mirrorlist?repo=fedora-40&arch=x86_64&country=FR,global",
    "/mirrorlist?repo=fedora-40&arch=x86_64&country=ZZ",
    "/mirrorlist?repo=fedora-40&arch=x86_64&netblock=0",
    "/mirrorlist?repo=fedora-40&arch=x86_64&protocol=rsync",
    "/mirrorlist?repo=fedora-40&arch=x86_64&protocol=http",
    "/mirrorlist?repo=fedora-40&arch=x86_64&protocol=ftp&netblock=0",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_tiers_match_mirrormanager2_rules() {
    let Some(source) = mm2::mm2_source("").await else {
        return;
    };
    let reference = Reference::read(&source.url()).await;
    let url = source.url();
    // The control plane, the import, the prefix→ASN table and a publish; then an edge.
    let edge = tokio::task::spawn_blocking(move || {
        let store = tempfile::tempdir().unwrap();
        let store_url = format!("file://{}", store.path().display());
        let cp = ControlPlane::init(
            &store_url,
            &[
                ("MIRRORFLEET__AUTH__ARGON2__MEMORY_KIB", "8"),
                ("MIRRORFLEET__AUTH__ARGON2__TIME_COST", "1"),
            ],
        );
        let out = cp.cli(&["import", "mm2", "--from", &url]);
        assert!(out.stdout.contains("host: 15 created"), "{}", out.stdout);
        let asn = cp.dir.path().join("prefix-asn.txt");
        let text: String = ASN_TABLE
            .iter()
            .map(|(p, a)| format!("{p} {a}\n"))
            .collect();
        std::fs::write(&asn, text).unwrap();
        cp.cli(&["asn", "import", &asn.display().to_string()]);
        cp.cli(&["publish"]);
        let cache = tempfile::tempdir().unwrap();
        let mut fixture = Fixture::new()
            .snapshot_mode(SnapshotMode::Custom)
            .arg("--store")
            .arg(&store_url)
            .arg("--cache-dir")
            .arg(cache.path().display().to_string())
            .arg("--poll-interval")
            .arg("1s");
        fixture.geoip = Some(
            GEOIP
                .iter()
                .map(|(p, cc)| (p.to_string(), country_record(cc)))
                .collect(),
        );
        let edge = fixture.start();
        edge.wait_for("/readyz", Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("edge not ready: {e}\n{}", edge.logs()));
        (edge, cp, store, cache)
    })
    .await
    .unwrap();
    let (edge, _cp, _store, _cache) = edge;
    let mut checked = 0;
    let mut differences = Vec::new();
    for client in CLIENTS {
        for query in QUERIES {
            let target = format!("{query}&explain=1&ip={client}");
            let response = edge.get(&target);
            assert_eq!(response.status, 200, "{target}: {}", response.text());
            let explain: Value = serde_json::from_str(&response.text()).unwrap();
            let request = Request::parse(query, client.parse().unwrap());
            let expected = reference.select(&request);
            let got = edge_tiers(&explain);
            let error = explain["resolution"]["error"].as_str().map(str::to_string);
            if got != expected.tiers || error != expected.error {
                differences.push(format!(
                    "{client} {query}:\n  edge      {got:?} {error:?}\n  reference {:?} {:?}",
                    expected.tiers, expected.error
                ));
            }
            checked += 1;
        }
    }
    assert!(
        differences.is_empty(),
        "{} of {checked} answers differ:\n{}",
        differences.len(),
        differences.join("\n")
    );
    // Anchors: the reference itself, on cases worked out by hand from the fixture.
    let f40 = QUERIES[0];
    let tiers = |client: &str, query: &str| {
        reference
            .select(&Request::parse(query, client.parse().unwrap()))
            .tiers
            .into_iter()
            .map(|((_, name), ids)| (name, ids.into_iter().collect::<Vec<_>>()))
            .collect::<Vec<_>>()
    };
    let t = |name: &str, ids: &[u64]| (name.to_string(), ids.to_vec());
    // The private corporate mirror through its netblock, then DE and the rest of Europe
    // (the auto-disabled NL host nowhere).
    assert_eq!(
        tiers("198.51.100.7", f40),
        [
            t("netblock", &[3]),
            t("country", &[8]),
            t("continent", &[1, 7, 9])
        ]
    );
    // CA: no CA host; North America's, including the host allowed for US and CA only.
    assert_eq!(
        tiers("100.64.6.5", f40),
        [
            t("continent", &[2, 4, 6]),
            t("global", &[1, 7, 8, 9, 11, 14])
        ]
    );
    // IL is in Europe through country_continent_redirect; restricted hosts stay out.
    assert_eq!(
        tiers("100.64.11.5", f40),
        [t("continent", &[1, 7, 8, 9]), t("global", &[4, 6, 11, 14])]
    );
    // The peer AS of the university, then the US hosts.
    assert_eq!(tiers("100.64.2.5", f40)[0], t("asn", &[1]));
    let disabled = reference.select(&Request::parse(QUERIES[6], "100.64.5.5".parse().unwrap()));
    assert_eq!(disabled.error.as_deref(), Some("repo_disabled"));
    // The table exercises every tier.
    let mut names = BTreeSet::new();
    for client in CLIENTS {
        for query in QUERIES {
            let request = Request::parse(query, client.parse().unwrap());
            for (_, name) in reference.select(&request).tiers.keys() {
                names.insert(name.clone());
            }
        }
    }
    for tier in [
        "netblock",
        "asn",
        "requested_country",
        "requested_global",
        "requested_continent",
        "country",
        "continent",
        "global",
    ] {
        assert!(
            names.contains(tier),
            "no client reaches tier {tier}: {names:?}"
        );
    }
}

/// (slot, tier name) → ids placed, for the tiers that placed someone.
type Tiers = BTreeMap<(u64, String), BTreeSet<u64>>;

fn edge_tiers(explain: &Value) -> Tiers {
    let mut out = Tiers::new();
    for tier in explain["tiers"].as_array().into_iter().flatten() {
        let Some(slot) = tier["slot"].as_u64() else {
            continue; // the cap
        };
        let ids: BTreeSet<u64> = tier["placed"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|h| h["id"].as_u64().expect("full explain"))
            .collect();
        if !ids.is_empty() {
            out.insert((slot, tier["name"].as_str().unwrap().to_string()), ids);
        }
    }
    out
}

/// One request as the reference sees it.
struct Request {
    metalink: bool,
    repo: String,
    arch: String,
    countries: Option<Vec<String>>,
    netblock: bool,
    protocols: Option<Vec<String>>,
    client: IpAddr,
}

impl Request {
    fn parse(target: &str, client: IpAddr) -> Request {
        let (path, query) = target.split_once('?').unwrap();
        let params: HashMap<&str, &str> =
            query.split('&').filter_map(|p| p.split_once('=')).collect();
        let list = |name: &str| {
            params.get(name).map(|v| {
                v.split(',')
                    .map(|s| {
                        if s.eq_ignore_ascii_case("global") {
                            "global".to_string()
                        } else {
                            s.to_string()
                        }
                    })
                    .collect::<Vec<_>>()
            })
        };
        Request {
            metalink: path == "/metalink",
            repo: params["repo"].to_string(),
            arch: params["arch"].to_string(),
            countries: list("country"),
            netblock: params.get("netblock").is_none_or(|v| *v == "1"),
            protocols: list("protocol"),
            client,
        }
    }
}

/// What the reference expects.
struct Expected {
    tiers: Tiers,
    error: Option<String>,
}

/// A host as MirrorManager2's rows describe it, after data-model.md §7's fixes.
#[derive(Debug)]
struct RefHost {
    id: u64,
    country: String,
    private: bool,
    /// ASNs whose clients get this host: its own (when asn_clients) and its peers (§7.7).
    asns: BTreeSet<u32>,
    /// From host_country_allowed only (§7.3).
    allowed: BTreeSet<String>,
    netblocks: Vec<Prefix>,
    /// category id → (always up to date, public URLs in id order, up-to-date directory ids).
    categories: HashMap<i64, (bool, Vec<String>, BTreeSet<i64>)>,
}

/// The MirrorManager2 data the rules need, read straight from its tables.
struct Reference {
    hosts: Vec<RefHost>,
    /// directory name → (id, category id: the linked category with the longest topdir).
    directories: HashMap<String, (i64, i64)>,
    /// (prefix, arch) → directory name.
    repos: HashMap<(String, String), String>,
    disabled: BTreeSet<String>,
    /// Flattened.
    redirects: HashMap<String, String>,
    netblock_countries: Vec<(Prefix, String)>,
    continents: HashMap<String, String>,
    geoip: Vec<(Prefix, String)>,
    asn_table: Vec<(Prefix, u32)>,
}

fn prefix(text: &str) -> Option<Prefix> {
    match Prefix::parse_lenient(text.trim()) {
        Ok(p) => Some(p),
        Err(PrefixError::HostBits { canonical, .. }) => Some(canonical),
        Err(_) => None,
    }
}

fn country(text: &str) -> Option<String> {
    let cc = text.trim().to_ascii_uppercase();
    let cc = if cc == "UK" { "GB".to_string() } else { cc };
    countries::lookup(&cc).map(|_| cc)
}

fn valid_asn(a: i64) -> Option<u32> {
    ((1..=4_294_967_294).contains(&a) && a != 23456).then_some(a as u32)
}

impl Reference {
    async fn read(url: &str) -> Reference {
        let mut c = PgConnection::connect(url).await.unwrap();
        let q = async |c: &mut PgConnection, sql: &str| {
            sqlx::query(sql).fetch_all(&mut *c).await.unwrap()
        };
        // Sites: active (both switches) and private.
        let mut sites: HashMap<i32, (bool, bool)> = HashMap::new();
        for r in q(
            &mut c,
            "SELECT id, admin_active, user_active, private FROM site",
        )
        .await
        {
            sites.insert(
                r.get(0),
                (r.get::<bool, _>(1) && r.get::<bool, _>(2), r.get(3)),
            );
        }
        // Categories: topdir names.
        let mut topdirs: HashMap<i64, String> = HashMap::new();
        for r in q(
            &mut c,
            "SELECT c.id, d.name FROM category c JOIN directory d ON d.id = c.topdir_id",
        )
        .await
        {
            topdirs.insert(
                i64::from(r.get::<i32, _>(0)),
                r.get::<String, _>(1).trim_matches('/').to_string(),
            );
        }
        let mut directories: HashMap<String, (i64, i64)> = HashMap::new();
        for r in q(
            &mut c,
            "SELECT d.id, d.name, cd.category_id FROM directory d \
             JOIN category_directory cd ON cd.directory_id = d.id",
        )
        .await
        {
            let id = i64::from(r.get::<i32, _>(0));
            let name = r.get::<String, _>(1).trim_matches('/').to_string();
            let category = i64::from(r.get::<i32, _>(2));
            let topdir = &topdirs[&category];
            if name != *topdir && !name.starts_with(&format!("{topdir}/")) {
                continue;
            }
            let better = directories
                .get(&name)
                .is_none_or(|(_, other)| topdirs[other].len() < topdir.len());
            if better {
                directories.insert(name, (id, category));
            }
        }
        let mut hosts: HashMap<i32, RefHost> = HashMap::new();
        for r in q(
            &mut c,
            "SELECT id, site_id, country, private, asn, asn_clients, admin_active, user_active \
             FROM host",
        )
        .await
        {
            let Some(site) = r.get::<Option<i32>, _>(1).and_then(|s| sites.get(&s)) else {
                continue;
            };
            let active = site.0 && r.get::<bool, _>(6) && r.get::<bool, _>(7);
            let Some(cc) = country(&r.get::<String, _>(2)) else {
                continue;
            };
            if !active {
                continue;
            }
            let mut asns = BTreeSet::new();
            if r.get::<bool, _>(5)
                && let Some(a) = r.get::<Option<i32>, _>(4).and_then(|a| valid_asn(a.into()))
            {
                asns.insert(a);
            }
            let id: i32 = r.get(0);
            hosts.insert(
                id,
                RefHost {
                    id: id as u64,
                    country: cc,
                    private: site.1 || r.get::<bool, _>(3),
                    asns,
                    allowed: BTreeSet::new(),
                    netblocks: Vec::new(),
                    categories: HashMap::new(),
                },
            );
        }
        for r in q(&mut c, "SELECT host_id, asn FROM host_peer_asn").await {
            if let (Some(h), Some(a)) = (
                r.get::<Option<i32>, _>(0).and_then(|h| hosts.get_mut(&h)),
                valid_asn(r.get::<i32, _>(1).into()),
            ) {
                h.asns.insert(a);
            }
        }
        for r in q(&mut c, "SELECT host_id, country FROM host_country_allowed").await {
            if let (Some(h), Some(cc)) = (
                r.get::<Option<i32>, _>(0).and_then(|h| hosts.get_mut(&h)),
                country(&r.get::<String, _>(1)),
            ) {
                h.allowed.insert(cc);
            }
        }
        for r in q(&mut c, "SELECT host_id, netblock FROM host_netblock").await {
            // DNS names are resolved by a background job, never in this test: nothing.
            if let (Some(h), Some(p)) = (
                r.get::<Option<i32>, _>(0).and_then(|h| hosts.get_mut(&h)),
                r.get::<Option<String>, _>(1).and_then(|n| prefix(&n)),
            ) {
                h.netblocks.push(p);
            }
        }
        let mut hc_owner: HashMap<i32, (i32, i64)> = HashMap::new();
        for r in q(
            &mut c,
            "SELECT id, host_id, category_id, always_up2date FROM host_category",
        )
        .await
        {
            let (Some(host), Some(category)) =
                (r.get::<Option<i32>, _>(1), r.get::<Option<i32>, _>(2))
            else {
                continue;
            };
            if let Some(h) = hosts.get_mut(&host) {
                h.categories
                    .insert(category.into(), (r.get(3), Vec::new(), BTreeSet::new()));
                hc_owner.insert(r.get(0), (host, category.into()));
            }
        }
        for r in q(
            &mut c,
            "SELECT host_category_id, url FROM host_category_url WHERE NOT private ORDER BY id",
        )
        .await
        {
            let url = r
                .get::<String, _>(1)
                .trim_end_matches('/')
                .to_ascii_lowercase();
            let scheme = url.split("://").next().unwrap_or("");
            if !["http", "https", "ftp", "rsync"].contains(&scheme) {
                continue;
            }
            if let Some((host, category)) = hc_owner.get(&r.get::<i32, _>(0))
                && let Some(h) = hosts.get_mut(host)
            {
                h.categories.get_mut(category).unwrap().1.push(url);
            }
        }
        for r in q(
            &mut c,
            "SELECT host_category_id, directory_id FROM host_category_dir \
             WHERE up2date AND directory_id IS NOT NULL",
        )
        .await
        {
            if let Some((host, category)) = hc_owner.get(&r.get::<i32, _>(0))
                && let Some(h) = hosts.get_mut(host)
            {
                h.categories
                    .get_mut(category)
                    .unwrap()
                    .2
                    .insert(r.get::<i32, _>(1).into());
            }
        }
        let mut repos = HashMap::new();
        let mut disabled = BTreeSet::new();
        for r in q(
            &mut c,
            "SELECT r.prefix, a.name, d.name, r.disabled FROM repository r \
             JOIN arch a ON a.id = r.arch_id JOIN directory d ON d.id = r.directory_id \
             WHERE r.prefix IS NOT NULL",
        )
        .await
        {
            let prefix: String = r.get(0);
            if r.get::<bool, _>(3) {
                disabled.insert(prefix.clone());
            }
            repos.insert(
                (prefix, r.get::<String, _>(1)),
                r.get::<String, _>(2).trim_matches('/').to_string(),
            );
        }
        let mut raw: HashMap<String, String> = HashMap::new();
        for r in q(
            &mut c,
            "SELECT from_repo, to_repo FROM repository_redirect WHERE to_repo IS NOT NULL",
        )
        .await
        {
            raw.insert(r.get(0), r.get(1));
        }
        let mut redirects = HashMap::new();
        for (from, to) in &raw {
            let mut target = to.clone();
            let mut steps = 0;
            while let Some(next) = raw.get(&target) {
                target = next.clone();
                steps += 1;
                if steps > raw.len() {
                    break;
                }
            }
            if steps <= raw.len() && target != *from {
                redirects.insert(from.clone(), target);
            }
        }
        let mut netblock_countries = Vec::new();
        for r in q(&mut c, "SELECT netblock, country FROM netblock_country").await {
            if let (Some(p), Some(cc)) = (
                prefix(&r.get::<String, _>(0)),
                country(&r.get::<String, _>(1)),
            ) {
                netblock_countries.push((p, cc));
            }
        }
        let mut continents: HashMap<String, String> = countries::COUNTRIES
            .iter()
            .map(|c| (c.code.to_string(), c.continent.to_string()))
            .collect();
        for r in q(
            &mut c,
            "SELECT country, continent FROM country_continent_redirect",
        )
        .await
        {
            if let Some(cc) = country(&r.get::<String, _>(0)) {
                continents.insert(cc, r.get::<String, _>(1));
            }
        }
        let _ = c.close().await;
        let mut hosts: Vec<RefHost> = hosts.into_values().collect();
        hosts.sort_by_key(|h| h.id);
        // Exported hosts only: active (above) with a public URL somewhere (§9).
        hosts.retain(|h| h.categories.values().any(|(_, urls, _)| !urls.is_empty()));
        Reference {
            hosts,
            directories,
            repos,
            disabled,
            redirects,
            netblock_countries,
            continents,
            geoip: GEOIP
                .iter()
                .map(|(p, cc)| (p.parse().unwrap(), cc.to_string()))
                .collect(),
            asn_table: ASN_TABLE
                .iter()
                .map(|(p, a)| (p.parse().unwrap(), *a))
                .collect(),
        }
    }

    /// Edge-protocol §5–§8 on the MirrorManager2 data.
    fn select(&self, r: &Request) -> Expected {
        let mut out = Expected {
            tiers: Tiers::new(),
            error: None,
        };
        // §5 resolution (E30).
        let prefix = self
            .redirects
            .get(&r.repo)
            .cloned()
            .unwrap_or(r.repo.clone());
        if self.disabled.contains(&prefix) {
            out.error = Some("repo_disabled".into());
            return out;
        }
        let dir = match self
            .repos
            .get(&(prefix.clone(), r.arch.clone()))
            .or_else(|| self.repos.get(&(prefix.clone(), "source".to_string())))
        {
            Some(d) => d.clone(),
            None => {
                out.error = Some("unknown_repo".into());
                return out;
            }
        };
        let dir = if r.metalink && !dir.ends_with("/repodata") {
            format!("{dir}/repodata")
        } else {
            dir
        };
        let Some(&(dir_id, category)) = self.directories.get(&dir) else {
            out.error = Some("unknown_repo".into());
            return out;
        };
        // §6 location (E37–E39).
        let longest = |table: &[(Prefix, String)]| {
            table
                .iter()
                .filter(|(p, _)| p.contains(r.client))
                .max_by_key(|(p, _)| p.len())
                .map(|(_, v)| v.clone())
        };
        let c = longest(&self.netblock_countries).or_else(|| longest(&self.geoip));
        let k = c.as_ref().and_then(|c| self.continents.get(c).cloned());
        let n = self
            .asn_table
            .iter()
            .filter(|(p, _)| p.contains(r.client))
            .max_by_key(|(p, _)| p.len())
            .map(|(_, a)| *a);
        // §7 E41 usable; §8 E52 URL choice.
        let carries = |h: &RefHost| {
            h.categories
                .get(&category)
                .is_some_and(|(always, urls, dirs)| {
                    !urls.is_empty() && (*always || dirs.contains(&dir_id))
                })
        };
        let has_url = |h: &RefHost| {
            let urls = &h.categories[&category].1;
            let scheme = |u: &String| u.split("://").next().unwrap_or("").to_string();
            match &r.protocols {
                Some(list) => urls.iter().any(|u| list.contains(&scheme(u))),
                None if r.metalink => !urls.is_empty(),
                None => urls
                    .iter()
                    .any(|u| ["https", "http", "ftp"].contains(&scheme(u).as_str())),
            }
        };
        let usable = |h: &RefHost| {
            carries(h)
                && (h.allowed.is_empty() || c.as_ref().is_some_and(|c| h.allowed.contains(c)))
                && has_url(h)
        };
        let carriers: Vec<&RefHost> = self.hosts.iter().filter(|h| carries(h)).collect();
        let public_in = |cc: &str| -> Vec<u64> {
            carriers
                .iter()
                .filter(|h| !h.private && h.country == cc)
                .map(|h| h.id)
                .collect()
        };
        let by_id = |id: u64| self.hosts.iter().find(|h| h.id == id).unwrap();
        let mut placed: BTreeSet<u64> = BTreeSet::new();
        // Appends a tier: its usable candidates not placed yet; returns how many.
        let place = |placed: &mut BTreeSet<u64>,
                     slot: u64,
                     name: &str,
                     candidates: Vec<u64>,
                     out: &mut Tiers|
         -> usize {
            let ids: BTreeSet<u64> = candidates
                .into_iter()
                .filter(|id| usable(by_id(*id)) && !placed.contains(id))
                .collect();
            placed.extend(&ids);
            let count = ids.len();
            if count > 0 {
                out.insert((slot, name.to_string()), ids);
            }
            count
        };
        let mut tiers = Tiers::new();
        if r.countries.is_none() && r.netblock {
            // E42: every host netblock containing the client (the snapshot's netblock map
            // holds carriers and non-carriers alike; usable() keeps carriers).
            let ids = self
                .hosts
                .iter()
                .filter(|h| h.netblocks.iter().any(|p| p.contains(r.client)))
                .map(|h| h.id)
                .collect();
            place(&mut placed, 0, "netblock", ids, &mut tiers);
            if let Some(n) = n {
                let ids = self
                    .hosts
                    .iter()
                    .filter(|h| h.asns.contains(&n))
                    .map(|h| h.id)
                    .collect();
                place(&mut placed, 1, "asn", ids, &mut tiers);
            }
        }
        let mut complete = false;
        let mut q = 0;
        if let Some(list) = &r.countries {
            let mut seen = Vec::new();
            for entry in list {
                let entry = if entry == "global" {
                    entry.clone()
                } else {
                    entry.to_ascii_uppercase()
                };
                if !seen.contains(&entry) {
                    seen.push(entry);
                }
            }
            q = seen.len() as u64;
            let mut requested = 0;
            for (j, entry) in seen.iter().enumerate() {
                let (name, ids) = if entry == "global" {
                    (
                        "requested_global",
                        carriers
                            .iter()
                            .filter(|h| !h.private)
                            .map(|h| h.id)
                            .collect(),
                    )
                } else {
                    ("requested_country", public_in(entry))
                };
                requested += place(&mut placed, 2 + j as u64, name, ids, &mut tiers);
            }
            if requested == 0 {
                let continents: BTreeSet<&String> =
                    seen.iter().filter_map(|e| self.continents.get(e)).collect();
                let ids = carriers
                    .iter()
                    .filter(|h| {
                        !h.private
                            && !seen.contains(&h.country)
                            && self
                                .continents
                                .get(&h.country)
                                .is_some_and(|k| continents.contains(k))
                    })
                    .map(|h| h.id)
                    .collect();
                requested += place(&mut placed, 2 + q, "requested_continent", ids, &mut tiers);
            }
            complete = requested > 0;
        }
        if !complete {
            if let Some(c) = &c {
                place(&mut placed, 3 + q, "country", public_in(c), &mut tiers);
            }
            if let Some(k) = &k {
                let ids = carriers
                    .iter()
                    .filter(|h| {
                        !h.private
                            && Some(&h.country) != c.as_ref()
                            && self.continents.get(&h.country) == Some(k)
                    })
                    .map(|h| h.id)
                    .collect();
                place(&mut placed, 4 + q, "continent", ids, &mut tiers);
            }
            // E48: min_mirrors 5 (the policy default).
            if placed.len() < 5 {
                let ids = carriers
                    .iter()
                    .filter(|h| !h.private)
                    .map(|h| h.id)
                    .collect();
                place(&mut placed, 5 + q, "global", ids, &mut tiers);
            }
        }
        out.tiers = tiers;
        out
    }
}
