//! Black-box selection tests, edge-protocol.md §18 rows E41–E65: candidate tiers, URLs,
//! ordering and rendering, against the real `mirrorfleet-edge` over loopback.
//!
//! Every row asserts what §18 says (status, words, order, bytes). Facts the plain answer cannot
//! show (which tier placed a host, why a host was dropped) are read from `explain=1` and
//! `/metrics`. The standard fixture is DM §11.2 (host ids: 1 = the private DE host, 2 = the US
//! host allowing US and CA, 3 = the SE host in AS 64500 and 192.0.2.0/24); variants add hosts to
//! a site named "Example Zeta", so the standard ids stay and new hosts follow in name order.
//! E54/E55 are checked end to end too, against an independent implementation of §9
//! ([`order_ref`]) fed with the answer's own second (its `Date` header).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use mirrorfleet_tests::HttpResponse;
use mirrorfleet_tests::fixture::*;
use mirrorfleet_tests::fixture_extra::{order_ref, parse_http_date, rfc3339};
use serde_json::{Value, json};

const F40: &str = "/mirrorlist?repo=fedora-40&arch=x86_64";
const F40_ML: &str = "/metalink?repo=fedora-40&arch=x86_64";
const UPD_ML: &str = "/metalink?repo=updates-released-f40&arch=x86_64";

const SE_F40: &str = "https://mirror.example.edu/fedora/linux/releases/40/Everything/x86_64/os/";
const SE_F40_RSYNC: &str =
    "rsync://mirror.example.edu/fedora/linux/releases/40/Everything/x86_64/os/";
const US_F40: &str =
    "https://fedora.example.net/pub/fedora/linux/releases/40/Everything/x86_64/os/";
const US_F40_HTTP: &str =
    "http://fedora.example.net/pub/fedora/linux/releases/40/Everything/x86_64/os/";
const DE_F40: &str =
    "http://mirror.corp.example.com/fedora/linux/releases/40/Everything/x86_64/os/";
const F40_HEAD: &str = "# repo = fedora-40 arch = x86_64 ";
const ZETA: &str = "Example Zeta";

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// GET `target` for `client`; asserts 200 `text/plain; charset=utf-8`; the body.
fn plain(edge: &Edge, client: &str, target: &str) -> String {
    let r = edge.get_as(client, target);
    assert_eq!(r.status, 200, "GET {target} for {client}: {}", r.text());
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; charset=utf-8"),
        "GET {target} for {client}"
    );
    r.text()
}

/// GET a metalink for `client`; asserts 200 `application/metalink+xml`.
fn metalink(edge: &Edge, client: &str, target: &str) -> HttpResponse {
    let r = edge.get_as(client, target);
    assert_eq!(r.status, 200, "GET {target} for {client}: {}", r.text());
    assert_eq!(
        r.header("content-type"),
        Some("application/metalink+xml"),
        "GET {target} for {client}"
    );
    r
}

/// The URL lines of a plain list (every line not starting with `#`).
fn url_lines(body: &str) -> Vec<&str> {
    body.lines().filter(|l| !l.starts_with('#')).collect()
}

/// The first line of a plain list, without its `\n`.
fn header_line(body: &str) -> &str {
    body.lines().next().unwrap_or("")
}

/// The host name of a URL.
fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest)
}

/// One `<url>` line of a metalink 3.
#[derive(Debug, Clone, PartialEq)]
struct UrlLine {
    protocol: String,
    typ: String,
    location: String,
    preference: u32,
    private: bool,
    url: String,
    line: String,
}

fn attr<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let key = format!(" {name}=\"");
    let at = line.find(&key)? + key.len();
    let end = line[at..].find('"')?;
    Some(&line[at..at + end])
}

/// Every `<url …>URL</url>` line of a metalink 3 body, in order.
fn metalink_urls(body: &str) -> Vec<UrlLine> {
    body.lines()
        .filter(|l| l.trim_start().starts_with("<url "))
        .map(|l| {
            let text_start = l.find('>').expect("url element has text") + 1;
            let text_end = l.rfind("</url>").expect("url element closes");
            UrlLine {
                protocol: attr(l, "protocol").unwrap_or("").to_string(),
                typ: attr(l, "type").unwrap_or("").to_string(),
                location: attr(l, "location").unwrap_or("").to_string(),
                preference: attr(l, "preference")
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(0),
                private: l.contains(" mm0:private=\"True\""),
                url: l[text_start..text_end].to_string(),
                line: l.to_string(),
            }
        })
        .collect()
}

/// Hosts of a metalink in order, each once, with its preference.
fn metalink_hosts(body: &str) -> Vec<(String, u32)> {
    let mut out: Vec<(String, u32)> = Vec::new();
    for u in metalink_urls(body) {
        let h = host_of(&u.url).to_string();
        if out.last().is_none_or(|(last, _)| *last != h) {
            out.push((h, u.preference));
        }
    }
    out
}

/// The tiers of an explain answer: (name, words, placed host names, trimmed (name, reason)).
#[derive(Debug, Clone)]
struct TierView {
    name: String,
    words: Vec<String>,
    placed: Vec<Value>,
    trimmed: Vec<Value>,
}

fn tiers(explain: &Value) -> Vec<TierView> {
    explain["tiers"]
        .as_array()
        .unwrap_or_else(|| panic!("explain has no tiers array: {explain:#}"))
        .iter()
        .map(|t| TierView {
            name: t["name"].as_str().unwrap_or("").to_string(),
            words: t["words"]
                .as_array()
                .map(|w| {
                    w.iter()
                        .map(|x| x.as_str().unwrap_or("").to_string())
                        .collect()
                })
                .unwrap_or_default(),
            placed: t["placed"].as_array().cloned().unwrap_or_default(),
            trimmed: t["trimmed"].as_array().cloned().unwrap_or_default(),
        })
        .collect()
}

/// The tiers' names, in order.
fn tier_names(tiers: &[TierView]) -> Vec<&str> {
    tiers.iter().map(|t| t.name.as_str()).collect()
}

fn names(list: &[Value]) -> Vec<String> {
    list.iter()
        .map(|h| h["name"].as_str().unwrap_or("<null>").to_string())
        .collect()
}

/// A public host of category "Fedora Linux" (DM §11.1).
fn fedora_host(name: &str, country: &str, bandwidth: u32, urls: Value, up2date: &[&str]) -> Value {
    json!({
        "name": name, "country": country, "bandwidth": bandwidth,
        "categories": {"Fedora Linux": {"urls": urls, "up2date": up2date}}
    })
}

/// The standard URL of a test host: `https://NAME/fedora`.
fn zeta_urls(name: &str) -> Value {
    json!([format!("https://{name}/fedora")])
}

/// `https://NAME/fedora/releases/40/Everything/x86_64/os/`.
fn zeta_f40(name: &str) -> String {
    format!("https://{name}/fedora/releases/40/Everything/x86_64/os/")
}

/// Runs `attempt` until it reports the same second for its answers (`Some`), at most 20 times.
fn same_second<T>(what: &str, mut attempt: impl FnMut() -> Option<T>) -> T {
    for _ in 0..20 {
        if let Some(v) = attempt() {
            return v;
        }
    }
    panic!("{what}: could not get two answers within one second in 20 attempts");
}

fn date_of(r: &HttpResponse) -> i64 {
    let d = r
        .header("date")
        .unwrap_or_else(|| panic!("no Date header: {:?}", r.headers));
    parse_http_date(d).unwrap_or_else(|| panic!("unparsable Date {d:?}"))
}

// ---------------------------------------------------------------------------------------------
// E41 usable hosts
// ---------------------------------------------------------------------------------------------

/// E41 fix: the US host allows US and CA only; an SE client never gets it, in any tier.
#[test]
fn e41_fix_restricted_host_absent_from_every_tier_for_se_client() {
    let edge = standard_edge();
    for target in [
        F40.to_string(),
        F40_ML.to_string(),
        format!("{F40}&country=se,global"),
        format!("{F40}&country=global"),
        format!("{F40}&country=us"),
        format!("{F40}&netblock=0"),
    ] {
        let r = edge.get_as(SE_CLIENT, &target);
        assert_eq!(r.status, 200, "{target}: {}", r.text());
        assert!(
            !r.text().contains(HOST_US),
            "E41: {target} from {SE_CLIENT} gives the US-only host:\n{}",
            r.text()
        );
        let ex = edge.explain_as(SE_CLIENT, &target);
        for t in tiers(&ex) {
            assert!(
                !names(&t.placed).contains(&HOST_US.to_string()),
                "E41: tier {} placed {HOST_US} for an SE client ({target})",
                t.name
            );
            for tr in &t.trimmed {
                if tr["name"] == HOST_US {
                    assert_eq!(
                        tr["reason"], "country_not_allowed",
                        "E41/E68: {HOST_US} trimmed in tier {} for the wrong reason ({target})",
                        t.name
                    );
                }
            }
        }
    }
    // The global tier saw it and trimmed it for its allowed countries.
    let ex = edge.explain_as(SE_CLIENT, F40);
    let global = tiers(&ex).into_iter().find(|t| t.name == "global");
    let global = global.unwrap_or_else(|| panic!("E48: no global tier for SE: {ex:#}"));
    assert!(
        global
            .trimmed
            .iter()
            .any(|t| t["name"] == HOST_US && t["reason"] == "country_not_allowed"),
        "E41: the global tier does not report {HOST_US} as country_not_allowed: {:#}",
        Value::Array(global.trimmed.clone())
    );
}

/// E41: a US client gets the US-only host; a client of unknown country does not.
#[test]
fn e41_allowed_country_client_gets_it_unknown_country_does_not() {
    let edge = standard_edge();
    let us = plain(edge, US_CLIENT, F40);
    assert!(
        url_lines(&us).contains(&US_F40),
        "E41: {US_CLIENT} (US) does not get {HOST_US}:\n{us}"
    );
    let unknown = plain(edge, UNKNOWN_CLIENT, F40);
    assert!(
        !unknown.contains(HOST_US),
        "E41: a client of unknown country ({UNKNOWN_CLIENT}) gets the US-only host:\n{unknown}"
    );
    assert_eq!(
        unknown,
        format!("{F40_HEAD}country = global \n{SE_F40}\n"),
        "E41/E48: unknown-country client"
    );
    let m = metalink(edge, UNKNOWN_CLIENT, F40_ML).text();
    assert!(
        !m.contains(HOST_US),
        "E41: metalink for {UNKNOWN_CLIENT}:\n{m}"
    );
}

// ---------------------------------------------------------------------------------------------
// E42 netblock tier
// ---------------------------------------------------------------------------------------------

/// E42: 198.51.100.7 is in the private host's netblock: it comes first, flagged private, with
/// the netblock word.
#[test]
fn e42_private_netblock_host_first() {
    let edge = standard_edge();
    let m = metalink(edge, DE_PRIVATE_CLIENT, F40_ML).text();
    let urls = metalink_urls(&m);
    assert!(!urls.is_empty(), "E42: empty metalink:\n{m}");
    assert_eq!(
        urls[0].line,
        format!(
            "    <url protocol=\"http\" type=\"http\" location=\"DE\" preference=\"100\" \
             mm0:private=\"True\">{DE_F40}repodata/repomd.xml</url>"
        ),
        "E42/E57: the private netblock host must come first, flagged private:\n{m}"
    );
    assert!(
        urls[1..].iter().all(|u| !u.private),
        "E42: only the private host is flagged:\n{m}"
    );
    let p = plain(edge, DE_PRIVATE_CLIENT, F40);
    assert!(
        header_line(&p).starts_with(&format!("{F40_HEAD}Using preferred netblock ")),
        "E42: header {:?}",
        header_line(&p)
    );
    assert_eq!(url_lines(&p).first(), Some(&DE_F40), "E42: first URL\n{p}");
    let ex = edge.explain_as(DE_PRIVATE_CLIENT, F40);
    let t = tiers(&ex);
    assert_eq!(t[0].name, "netblock", "E42: first tier {ex:#}");
    assert_eq!(
        names(&t[0].placed),
        [HOST_DE_PRIVATE],
        "E42: netblock tier {ex:#}"
    );
    assert_eq!(
        t[0].placed[0]["matched"],
        json!({"netblock": "198.51.100.0/24"}),
        "E42/E68: matched netblock"
    );
    // IPv6 netblock of the same host.
    let p6 = plain(edge, "2001:db8:1000::5", F40);
    assert!(
        header_line(&p6).starts_with(&format!("{F40_HEAD}Using preferred netblock ")),
        "E42: IPv6 netblock 2001:db8:1000::/36: {p6}"
    );
    assert_eq!(
        url_lines(&p6).first(),
        Some(&DE_F40),
        "E42: IPv6 client\n{p6}"
    );
}

/// E42: a host on a /32 containing the client comes before one on the /24, whatever their ids.
#[test]
fn e42_longest_netblock_first() {
    let edge = shared("e42 /32", || {
        let mut h = fedora_host(
            "nb32.example.org",
            "DE",
            100,
            zeta_urls("nb32.example.org"),
            &["releases/40/**"],
        );
        h["netblocks"] = json!(["198.51.100.7/32"]);
        Fixture::new().add_host(ZETA, h)
    });
    for _ in 0..3 {
        let p = plain(edge, DE_PRIVATE_CLIENT, F40);
        let urls = url_lines(&p);
        assert_eq!(
            urls.get(..2),
            Some(&[zeta_f40("nb32.example.org").as_str(), DE_F40][..]),
            "E42: /32 host (id 4) first, then the /24 host (id 1):\n{p}"
        );
        std::thread::sleep(Duration::from_millis(400));
    }
    let ex = edge.explain_as(DE_PRIVATE_CLIENT, F40);
    let t = tiers(&ex);
    assert_eq!(t[0].name, "netblock");
    assert_eq!(
        names(&t[0].placed),
        ["nb32.example.org", HOST_DE_PRIVATE],
        "E42: netblock tier order {ex:#}"
    );
    assert_eq!(
        t[0].placed[0]["matched"],
        json!({"netblock": "198.51.100.7/32"})
    );
    // A neighbour outside the /32 gets the /24 host only from the netblock tier.
    let ex = edge.explain_as("198.51.100.8", F40);
    let t = tiers(&ex);
    assert_eq!(
        names(&t[0].placed),
        [HOST_DE_PRIVATE],
        "E42: 198.51.100.8 {ex:#}"
    );
}

// ---------------------------------------------------------------------------------------------
// E43 ASN tier
// ---------------------------------------------------------------------------------------------

fn asn_fixture() -> &'static Edge {
    shared("e43 asn", || {
        let mut own = fedora_host(
            "asnhost.example.org",
            "NL",
            100,
            zeta_urls("asnhost.example.org"),
            &["releases/40/**"],
        );
        own["asn"] = json!(64501);
        let mut peer = fedora_host(
            "peer.example.org",
            "NL",
            100,
            zeta_urls("peer.example.org"),
            &["releases/40/**"],
        );
        peer["peer_asns"] = json!([64511]);
        Fixture::new()
            .add_host(ZETA, own)
            .add_host(ZETA, peer)
            .asn("203.0.113.128/26", 64501)
            .asn("203.0.113.192/26", 64511)
    })
}

/// E43 fix: a host of AS 64501 that does not carry epel-9 is not given for epel-9, and no
/// `Using ASN` word is written.
#[test]
fn e43_fix_asn_host_not_carrying_the_directory_is_absent() {
    let edge = asn_fixture();
    let client = "203.0.113.130";
    let p = plain(edge, client, "/mirrorlist?repo=epel-9&arch=x86_64");
    assert_eq!(
        p,
        "# repo = epel-9 arch = x86_64 country = global \n\
         https://mirror.example.edu/epel/9/Everything/x86_64/\n",
        "E43: epel-9 from AS 64501 (its host does not carry epel-9)"
    );
    let ex = edge.explain_as(client, "/mirrorlist?repo=epel-9&arch=x86_64");
    assert_eq!(ex["location"]["asn"], 64501, "E39: {ex:#}");
    for t in tiers(&ex) {
        assert!(!names(&t.placed).contains(&"asnhost.example.org".to_string()));
        if t.name == "asn" {
            assert!(
                t.words.is_empty(),
                "E43/E50: ASN word for a host not carrying d: {ex:#}"
            );
            assert!(
                t.trimmed
                    .iter()
                    .any(|h| h["name"] == "asnhost.example.org" && h["reason"] == "not_carried"),
                "E43/E68: the ASN host must be trimmed as not_carried: {ex:#}"
            );
        }
    }
    // Control: for fedora-40, which it carries, the same client gets it through its ASN.
    let p = plain(edge, client, F40);
    assert!(
        header_line(&p).starts_with(&format!("{F40_HEAD}Using ASN 64501 ")),
        "E43: header {p:?}"
    );
    assert_eq!(
        url_lines(&p)[0],
        zeta_f40("asnhost.example.org"),
        "E43\n{p}"
    );
}

/// E43 fix: a host with peer ASN 64511 is in the ASN tier of a client in AS 64511.
#[test]
fn e43_fix_peer_asn_host_in_asn_tier() {
    let edge = asn_fixture();
    let client = "203.0.113.200";
    let p = plain(edge, client, F40);
    assert!(
        header_line(&p).starts_with(&format!("{F40_HEAD}Using ASN 64511 ")),
        "E43: header {:?}",
        header_line(&p)
    );
    assert_eq!(
        url_lines(&p)[0],
        zeta_f40("peer.example.org"),
        "E43: first host\n{p}"
    );
    let ex = edge.explain_as(client, F40);
    let asn = tiers(&ex).into_iter().find(|t| t.name == "asn");
    let asn = asn.unwrap_or_else(|| panic!("E43: no asn tier: {ex:#}"));
    assert_eq!(names(&asn.placed), ["peer.example.org"], "E43: {ex:#}");
    assert_eq!(asn.placed[0]["matched"], json!({"asn": 64511}));
    assert_eq!(asn.words, ["Using ASN 64511"]);
}

// ---------------------------------------------------------------------------------------------
// E44–E48 requested, geographic and global tiers
// ---------------------------------------------------------------------------------------------

/// E44: `country=se,us` from a US client: the SE tier, then the US tier.
#[test]
fn e44_requested_countries_in_order() {
    let edge = standard_edge();
    let p = plain(edge, US_CLIENT, &format!("{F40}&country=se,us"));
    assert_eq!(
        p,
        format!("{F40_HEAD}country = SE country = US \n{SE_F40}\n{US_F40}\n"),
        "E44"
    );
    let t = tiers(&edge.explain_as(US_CLIENT, &format!("{F40}&country=se,us")));
    let got = tier_names(&t);
    assert_eq!(
        got,
        ["requested_country", "requested_country"],
        "E44/E46: tiers"
    );
}

/// E45: `country=no` from SE: no usable NO host, so the requested continent (EU) tier.
#[test]
fn e45_requested_continent() {
    let edge = standard_edge();
    let target = format!("{F40}&country=no");
    let p = plain(edge, SE_CLIENT, &target);
    assert_eq!(p, format!("{F40_HEAD}country = SE \n{SE_F40}\n"), "E45");
    let t = tiers(&edge.explain_as(SE_CLIENT, &target));
    let names_ = tier_names(&t);
    assert_eq!(
        names_,
        ["requested_country", "requested_continent"],
        "E45/E46: {t:?}"
    );
    assert!(t[0].words.is_empty(), "E45: no word for NO: {t:?}");
    assert_eq!(t[1].words, ["country = SE"], "E45");
}

/// E46 fix: `country=us` from SE, where the only US host allows US and CA: the answer falls
/// through to the located tiers and is not empty.
#[test]
fn e46_fix_only_country_falls_through_when_nobody_is_usable() {
    let edge = standard_edge();
    let target = format!("{F40}&country=us");
    let p = plain(edge, SE_CLIENT, &target);
    assert_eq!(
        p,
        format!("{F40_HEAD}country = SE country = global \n{SE_F40}\n"),
        "E46: country=us from an SE client"
    );
    let t = tiers(&edge.explain_as(SE_CLIENT, &target));
    let got = tier_names(&t);
    assert!(
        !got.contains(&"netblock") && !got.contains(&"asn"),
        "E46: no netblock or ASN tier when country is given: {got:?}"
    );
    let pos = |n: &str| got.iter().position(|x| *x == n);
    assert!(
        pos("requested_country") < pos("country") && pos("country") < pos("global"),
        "E46: tiers in order requested_country … country … global: {got:?}"
    );
}

/// E46: `country=global` gives the global list only.
#[test]
fn e46_country_global_is_the_global_list_only() {
    let edge = standard_edge();
    let target = format!("{F40}&country=global");
    let p = plain(edge, US_CLIENT, &target);
    assert_eq!(
        header_line(&p),
        format!("{F40_HEAD}country = global "),
        "E46"
    );
    let got: BTreeSet<&str> = url_lines(&p).into_iter().collect();
    assert_eq!(got, BTreeSet::from([SE_F40, US_F40]), "E46: global(d)");
    let t = tiers(&edge.explain_as(US_CLIENT, &target));
    let got = tier_names(&t);
    assert_eq!(
        got,
        ["requested_global"],
        "E46: only the requested global tier"
    );
    // From SE (in the SE host's netblock): still the global list only, no netblock tier.
    let p = plain(edge, SE_CLIENT, &target);
    assert_eq!(p, format!("{F40_HEAD}country = global \n{SE_F40}\n"), "E46");
}

/// E47: an IPv6 SE client outside every netblock starts with the country tier; the private DE
/// host is absent.
#[test]
fn e47_country_tier_first_for_ipv6_se_client() {
    let edge = Fixture::new().start();
    let series = ("tier", "country");
    let before = edge.metric("mirrorfleet_edge_first_tier_total", &[series]);
    let p = plain(&edge, SE_CLIENT_V6, F40);
    let after = edge.metric("mirrorfleet_edge_first_tier_total", &[series]);
    assert_eq!(
        after - before,
        1.0,
        "E47: first_tier_total{{tier=\"country\"}} +1"
    );
    assert!(
        !p.contains(HOST_DE_PRIVATE),
        "E47: private host for {SE_CLIENT_V6}:\n{p}"
    );
    assert_eq!(
        p,
        format!("{F40_HEAD}country = SE country = global \n{SE_F40}\n"),
        "E47"
    );
}

/// E48: the SE client: one host placed, the global tier evaluated (fewer than 5), every word
/// written because their sources have a usable (already placed) host.
#[test]
fn e48_se_client_words_and_global_evaluated() {
    let edge = standard_edge();
    let p = plain(edge, SE_CLIENT, F40);
    assert_eq!(
        p,
        format!(
            "{F40_HEAD}Using preferred netblock Using ASN 64500 country = SE country = global \n\
             {SE_F40}\n"
        ),
        "E48/E20"
    );
    let ex = edge.explain_as(SE_CLIENT, F40);
    assert_eq!(
        ex["min_mirrors"],
        json!({"value": 5, "hosts_before_global": 1, "global_added": true}),
        "E48/E68"
    );
    assert_eq!(ex["answer"]["hosts"], 1, "E48: 1 host placed");
    let t = tiers(&ex);
    assert_eq!(
        t.last().map(|t| t.name.as_str()),
        Some("global"),
        "E48: {ex:#}"
    );
}

/// E48 fix: in a plain list an rsync-only host is not usable, so 4 usable hosts (< 5) append the
/// global list; the metalink, where rsync is usable, has 5 and does not.
#[test]
fn e48_fix_rsync_only_host_does_not_count_for_a_plain_list() {
    let edge = shared("e48 rsync-only", || {
        let mut f = Fixture::new();
        for n in ["us1.example.org", "us2.example.org", "us3.example.org"] {
            f = f.add_host(
                ZETA,
                fedora_host(n, "US", 100, zeta_urls(n), &["releases/40/**"]),
            );
        }
        f.add_host(
            ZETA,
            fedora_host(
                "us4-rsync.example.org",
                "US",
                100,
                json!(["rsync://us4-rsync.example.org/fedora"]),
                &["releases/40/**"],
            ),
        )
    });
    let p = plain(edge, US_CLIENT, F40);
    assert_eq!(
        header_line(&p),
        format!("{F40_HEAD}country = US country = global "),
        "E48 fix: 4 usable US hosts < min_mirrors 5 → global appended"
    );
    let urls = url_lines(&p);
    assert_eq!(urls.len(), 5, "E48: 4 US hosts + the SE host\n{p}");
    assert_eq!(urls[4], SE_F40, "E48: the global host comes last\n{p}");
    assert!(
        !p.contains("us4-rsync"),
        "E52: no rsync URL in a plain list\n{p}"
    );
    let ex = edge.explain_as(US_CLIENT, F40);
    assert_eq!(ex["min_mirrors"]["hosts_before_global"], 4, "E48: {ex:#}");
    assert_eq!(ex["min_mirrors"]["global_added"], true, "E48: {ex:#}");
    // The metalink takes rsync: 5 usable US hosts, no global tier.
    let m = metalink(edge, US_CLIENT, F40_ML).text();
    let hosts: Vec<String> = metalink_hosts(&m).into_iter().map(|(h, _)| h).collect();
    assert_eq!(hosts.len(), 5, "E48: 5 US hosts in the metalink\n{m}");
    assert!(
        !hosts.contains(&HOST_SE.to_string()),
        "E48: no global tier in the metalink\n{m}"
    );
}

// ---------------------------------------------------------------------------------------------
// E49, E60 cap and preference
// ---------------------------------------------------------------------------------------------

fn many_hosts(n: usize, f: Fixture) -> Fixture {
    let mut f = f;
    for i in 0..n {
        let name = format!("h{i:03}.example.org");
        f = f.add_host(
            ZETA,
            fedora_host(&name, "FR", 100, zeta_urls(&name), &["releases/40/**"]),
        );
    }
    f
}

/// E49 fix: 150 global hosts (plus the SE host) for a client of unknown country: 100 hosts, the
/// last with preference 1.
#[test]
fn e49_fix_max_hosts_caps_the_answer() {
    let edge = shared("e49 150 hosts", || many_hosts(150, Fixture::new()));
    let m = metalink(edge, UNKNOWN_CLIENT, F40_ML).text();
    let hosts = metalink_hosts(&m);
    assert_eq!(hosts.len(), 100, "E49: max_hosts 100");
    let distinct: BTreeSet<&str> = hosts.iter().map(|(h, _)| h.as_str()).collect();
    assert_eq!(distinct.len(), 100, "E41: each host once");
    assert_eq!(hosts[0].1, 100, "E60: first preference");
    assert_eq!(hosts[99].1, 1, "E49/E60: last preference");
    let prefs: Vec<u32> = hosts.iter().map(|(_, p)| *p).collect();
    let want: Vec<u32> = (1..=100).rev().collect();
    assert_eq!(prefs, want, "E60: 101 − position");
    let p = plain(edge, UNKNOWN_CLIENT, F40);
    assert_eq!(url_lines(&p).len(), 100, "E49: plain list capped too");
    let ex = edge.explain_as(UNKNOWN_CLIENT, F40);
    let cap = tiers(&ex).into_iter().find(|t| t.name == "cap");
    let cap = cap.unwrap_or_else(|| panic!("E68: no cap entry: {ex:#}"));
    assert_eq!(cap.trimmed.len(), 51, "E49: 151 usable, 51 cut");
    assert!(cap.trimmed.iter().all(|t| t["reason"] == "over_max_hosts"));
}

/// E60: 101 hosts with `max_hosts` 0: preferences 100 … 1, and host 101 gets 1 too.
#[test]
fn e60_preference_floor_with_no_cap() {
    let edge = shared("e60 101 hosts", || {
        many_hosts(100, Fixture::new().policy(5, 0))
    });
    let m = metalink(edge, UNKNOWN_CLIENT, F40_ML).text();
    let hosts = metalink_hosts(&m);
    assert_eq!(hosts.len(), 101, "E60: max_hosts 0 keeps all 101 hosts");
    let prefs: Vec<u32> = hosts.iter().map(|(_, p)| *p).collect();
    let mut want: Vec<u32> = (1..=100).rev().collect();
    want.push(1);
    assert_eq!(prefs, want, "E60: max(1, 101 − p)");
    // The SE host's two URLs share its preference (E58).
    let se: Vec<u32> = metalink_urls(&m)
        .into_iter()
        .filter(|u| host_of(&u.url) == HOST_SE)
        .map(|u| u.preference)
        .collect();
    assert_eq!(se.len(), 2);
    assert_eq!(se[0], se[1], "E58: one preference per host");
}

// ---------------------------------------------------------------------------------------------
// E50, E54, E55, E56 words and ordering
// ---------------------------------------------------------------------------------------------

/// EU hosts in five countries (ids 4–8 in name order) with distinct bandwidths, and private
/// netblock hosts: nb-a, nb-b on 198.51.100.7/32 (ids 9, 10), nb-c, nb-d on 198.51.100.0/24 (ids
/// 11, 12) beside the standard private host (id 1).
fn eu_fixture() -> Fixture {
    let mut f = Fixture::new();
    for (name, cc, bw) in [
        ("eu-at.example.org", "AT", 2000),
        ("eu-dk.example.org", "DK", 1000),
        ("eu-fi.example.org", "FI", 300),
        ("eu-nl.example.org", "NL", 100),
        ("eu-no.example.org", "NO", 50),
    ] {
        f = f.add_host(
            ZETA,
            fedora_host(name, cc, bw, zeta_urls(name), &["releases/40/**"]),
        );
    }
    for (name, net) in [
        ("nb-a.example.org", "198.51.100.7/32"),
        ("nb-b.example.org", "198.51.100.7/32"),
        ("nb-c.example.org", "198.51.100.0/24"),
        ("nb-d.example.org", "198.51.100.0/24"),
    ] {
        let mut h = fedora_host(name, "DE", 100, zeta_urls(name), &["releases/40/**"]);
        h["private"] = json!(true);
        h["netblocks"] = json!([net]);
        f = f.add_host(ZETA, h);
    }
    f
}

const EU_WORDS: &str = "country = AT country = DK country = FI country = NL country = NO ";

/// E50 fix: continent words in code order, the same after a restart.
#[test]
fn e50_fix_continent_words_in_code_order_across_restart() {
    let fixture = eu_fixture();
    let want = format!("{F40_HEAD}country = SE {EU_WORDS}");
    for run in 0..2 {
        let edge = fixture.start();
        let p = plain(&edge, SE_CLIENT_V6, F40);
        assert_eq!(
            header_line(&p),
            want,
            "E50: run {run} (a fresh process each time)"
        );
        assert_eq!(
            url_lines(&p).len(),
            6,
            "E48: 6 ≥ min_mirrors, no global tier\n{p}"
        );
        let p = plain(&edge, DE_PRIVATE_CLIENT, F40);
        assert_eq!(
            header_line(&p),
            format!("{F40_HEAD}Using preferred netblock {EU_WORDS}country = SE "),
            "E50: run {run}, DE client"
        );
        drop(edge);
    }
}

/// A plain list's hosts mapped to ids of [`eu_fixture`].
fn eu_id(url: &str) -> u64 {
    match host_of(url) {
        HOST_DE_PRIVATE => 1,
        HOST_US => 2,
        HOST_SE => 3,
        "eu-at.example.org" => 4,
        "eu-dk.example.org" => 5,
        "eu-fi.example.org" => 6,
        "eu-nl.example.org" => 7,
        "eu-no.example.org" => 8,
        "nb-a.example.org" => 9,
        "nb-b.example.org" => 10,
        "nb-c.example.org" => 11,
        "nb-d.example.org" => 12,
        other => panic!("unexpected host {other}"),
    }
}

/// Self-check of [`order_ref`] against the vectors of §9.
#[test]
fn e54_e55_e56_reference_vectors() {
    let mut s = order_ref::SplitMix64(0);
    assert_eq!(
        [s.next_u64(), s.next_u64(), s.next_u64()],
        [0xe220a8397b1dcdaf, 0x6e789e6aa1b965f4, 0x06c45d188009454f]
    );
    let base = order_ref::base(&[0; 32], 1204, 1795600803, "198.51.100.7".parse().unwrap());
    assert_eq!(base, 0xf75bb1575cca36cc);
    assert_eq!(order_ref::slot_seed(base, 0), 0x628073dcbe1f8f41);
    assert_eq!(order_ref::slot_seed(base, 3), 0xfa10d73502310527);
    let mut v = [5, 6, 7];
    order_ref::fisher_yates(&mut order_ref::stream(base, 0), &mut v);
    assert_eq!(v, [6, 7, 5]);
    let order = order_ref::weighted(&mut order_ref::stream(base, 3), &[2000, 1000, 300, 100]);
    let hosts: Vec<usize> = order.into_iter().map(|i| i + 1).collect();
    assert_eq!(hosts, [3, 1, 2, 4]);
}

/// E54, E55 end to end: the netblock groups (uniform, one stream, longest first) and the
/// continent tier (weighted) are in exactly the order §9 computes for the answer's second.
#[test]
fn e54_e55_orders_follow_the_spec_algorithm() {
    let edge = shared("eu", eu_fixture);
    let key = [0u8; 32];
    let client: std::net::IpAddr = DE_PRIVATE_CLIENT.parse().unwrap();
    for _ in 0..4 {
        let r = edge.get_as(DE_PRIVATE_CLIENT, F40);
        assert_eq!(r.status, 200);
        let t = date_of(&r);
        let body = r.text();
        let got: Vec<u64> = url_lines(&body).into_iter().map(eu_id).collect();
        let base = order_ref::base(&key, SNAPSHOT_VERSION, t, client);
        // Netblock: /32 group [9, 10], then /24 group [1, 11, 12], one stream (slot 0).
        let mut rng = order_ref::stream(base, 0);
        let mut g32 = vec![9u64, 10];
        order_ref::fisher_yates(&mut rng, &mut g32);
        let mut g24 = vec![1u64, 11, 12];
        order_ref::fisher_yates(&mut rng, &mut g24);
        // Continent (slot 4 with no requested entry): EU hosts ≠ DE in id order, weighted.
        let cands = [
            (3u64, 10000u64),
            (4, 2000),
            (5, 1000),
            (6, 300),
            (7, 100),
            (8, 50),
        ];
        let w: Vec<u64> = cands.iter().map(|c| c.1).collect();
        let order = order_ref::weighted(&mut order_ref::stream(base, 4), &w);
        let mut want = g32;
        want.extend(g24);
        want.extend(order.into_iter().map(|i| cands[i].0));
        assert_eq!(
            got,
            want,
            "E54/E55: order for t = {t} ({})\n{body}",
            rfc3339(t)
        );
        std::thread::sleep(Duration::from_millis(700));
    }
}

/// E56: two edges with the same snapshot and seed give identical bodies to the same request
/// from the same client in the same second; the next second draws again.
#[test]
fn e56_same_second_same_body_next_second_new_draw() {
    let fixture = many_hosts(12, Fixture::new());
    let a = fixture.start();
    let b = fixture.start();
    let key = [0u8; 32];
    let client: std::net::IpAddr = UNKNOWN_CLIENT.parse().unwrap();
    for target in [F40, F40_ML] {
        same_second(target, || {
            let ra = a.get_as(UNKNOWN_CLIENT, target);
            let rb = b.get_as(UNKNOWN_CLIENT, target);
            (date_of(&ra) == date_of(&rb)).then(|| {
                assert_eq!(ra.status, 200);
                assert_eq!(
                    ra.text(),
                    rb.text(),
                    "E56: two edges, same request, client and second"
                );
            })
        });
    }
    // Each second's order is §9's for that second; over a few seconds it changes.
    let mut orders: BTreeSet<Vec<String>> = BTreeSet::new();
    let started = Instant::now();
    while orders.len() < 2 && started.elapsed() < Duration::from_secs(8) {
        let r = a.get_as(UNKNOWN_CLIENT, F40);
        let t = date_of(&r);
        let body = r.text();
        let got: Vec<String> = url_lines(&body)
            .iter()
            .map(|u| host_of(u).to_string())
            .collect();
        // Global tier (slot 5): [SE (id 3), h000 … h011 (ids 4–15)], US host not allowed.
        let mut cands = vec![(HOST_SE.to_string(), 10000u64)];
        cands.extend((0..12).map(|i| (format!("h{i:03}.example.org"), 100)));
        let w: Vec<u64> = cands.iter().map(|c| c.1).collect();
        let base = order_ref::base(&key, SNAPSHOT_VERSION, t, client);
        let want: Vec<String> = order_ref::weighted(&mut order_ref::stream(base, 5), &w)
            .into_iter()
            .map(|i| cands[i].0.clone())
            .collect();
        assert_eq!(got, want, "E55/E56: global order at t = {t}");
        orders.insert(got);
        std::thread::sleep(Duration::from_millis(600));
    }
    assert!(
        orders.len() >= 2,
        "E56: the order never changed over 8 seconds"
    );
}

// ---------------------------------------------------------------------------------------------
// E51–E53 URLs
// ---------------------------------------------------------------------------------------------

/// E51: family flags. The SE host's https URL is `ipv6: false`, the US host's https URL
/// `ipv4: false`.
#[test]
fn e51_family_flags() {
    let edge = shared("e51 families", || {
        Fixture::new().inventory(|inv| {
            for site in inv["sites"].as_array_mut().unwrap() {
                for h in site["hosts"].as_array_mut().unwrap() {
                    let name = h["name"].clone();
                    let urls = &mut h["categories"]["Fedora Linux"]["urls"];
                    if name == HOST_SE {
                        *urls = json!([
                            {"url": "https://mirror.example.edu/fedora/linux", "ipv6": false},
                            "rsync://mirror.example.edu/fedora/linux"
                        ]);
                    } else if name == HOST_US {
                        *urls = json!([
                            {"url": "https://fedora.example.net/pub/fedora/linux", "ipv4": false},
                            "http://fedora.example.net/pub/fedora/linux"
                        ]);
                    }
                }
            }
        })
    });
    // IPv6 client: the https URL is gone; the plain list had only it, so the host is dropped.
    let m = metalink(edge, SE_CLIENT_V6, F40_ML).text();
    let urls: Vec<String> = metalink_urls(&m).into_iter().map(|u| u.url).collect();
    assert_eq!(
        urls,
        [format!("{SE_F40_RSYNC}repodata/repomd.xml")],
        "E51: IPv6 client, https URL ipv6:false\n{m}"
    );
    let p = plain(edge, SE_CLIENT_V6, F40);
    assert_eq!(
        p,
        format!("{F40_HEAD}\n"),
        "E51: host dropped from the plain list (E33 layout)"
    );
    // IPv4 client: ipv6:false does not matter.
    let p = plain(edge, SE_CLIENT, F40);
    assert_eq!(
        url_lines(&p),
        [SE_F40],
        "E51: IPv4 client keeps the ipv6:false URL"
    );
    // IPv4 client, ipv4:false https URL: the next one (http) is chosen.
    let p = plain(edge, US_CLIENT, F40);
    assert!(url_lines(&p).contains(&US_F40_HTTP), "E51/E52: {p}");
    assert!(
        !url_lines(&p).contains(&US_F40),
        "E51: ipv4:false URL to an IPv4 client: {p}"
    );
    // Flags absent (standard fixture): both families get the URL.
    let std_edge = standard_edge();
    assert_eq!(
        url_lines(&plain(std_edge, SE_CLIENT_V6, F40)),
        [SE_F40],
        "E51: v6, no flags"
    );
    assert_eq!(
        url_lines(&plain(std_edge, SE_CLIENT, F40)),
        [SE_F40],
        "E51: v4, no flags"
    );
}

fn reversed_us_urls() -> Fixture {
    Fixture::new().inventory(|inv| {
        for site in inv["sites"].as_array_mut().unwrap() {
            for h in site["hosts"].as_array_mut().unwrap() {
                if h["name"] == HOST_US {
                    h["categories"]["Fedora Linux"]["urls"] = json!([
                        "http://fedora.example.net/pub/fedora/linux",
                        "https://fedora.example.net/pub/fedora/linux"
                    ]);
                }
            }
        }
    })
}

/// E52 fix: a plain list takes the first https URL even when http comes first.
#[test]
fn e52_fix_plain_list_prefers_https() {
    let edge = shared("us http first", reversed_us_urls);
    let p = plain(edge, US_CLIENT, F40);
    assert_eq!(
        url_lines(&p)[0],
        US_F40,
        "E52: https over an earlier http\n{p}"
    );
    assert!(!p.contains(US_F40_HTTP), "E52: one URL per host\n{p}");
}

/// E52 fix: `protocol=http,https` with URLs [https A, https B, http C] gives A and C.
#[test]
fn e52_fix_protocol_list_takes_the_first_url_of_each_scheme() {
    let a = "https://mirror.example.edu/a/fedora/linux";
    let b = "https://mirror.example.edu/b/fedora/linux";
    let c = "http://mirror.example.edu/c/fedora/linux";
    let edge = shared("e52 abc", move || {
        Fixture::new().inventory(move |inv| {
            for site in inv["sites"].as_array_mut().unwrap() {
                for h in site["hosts"].as_array_mut().unwrap() {
                    if h["name"] == HOST_SE {
                        h["categories"]["Fedora Linux"]["urls"] = json!([a, b, c]);
                    }
                }
            }
        })
    });
    let sub = "/releases/40/Everything/x86_64/os/";
    let p = plain(edge, SE_CLIENT, &format!("{F40}&protocol=http,https"));
    assert_eq!(
        p,
        format!(
            "{F40_HEAD}Using preferred netblock Using ASN 64500 country = SE country = global \
             protocol = http,https\n{a}{sub}\n{c}{sub}\n"
        ),
        "E52/E63"
    );
    let m = metalink(edge, SE_CLIENT, &format!("{F40_ML}&protocol=http,https")).text();
    let urls: Vec<String> = metalink_urls(&m).into_iter().map(|u| u.url).collect();
    assert_eq!(
        urls,
        [
            format!("{a}{sub}repodata/repomd.xml"),
            format!("{c}{sub}repodata/repomd.xml")
        ],
        "E52: metalink with protocol"
    );
    // Without protocol, the plain list takes the first https URL (A).
    assert_eq!(
        url_lines(&plain(edge, SE_CLIENT, F40)),
        [format!("{a}{sub}")],
        "E52"
    );
}

/// E52: a metalink without `protocol` lists every URL, rsync included.
#[test]
fn e52_metalink_lists_all_urls_including_rsync() {
    let edge = standard_edge();
    let m = metalink(edge, SE_CLIENT, F40_ML).text();
    let urls: Vec<String> = metalink_urls(&m).into_iter().map(|u| u.url).collect();
    assert_eq!(
        urls,
        [
            format!("{SE_F40}repodata/repomd.xml"),
            format!("{SE_F40_RSYNC}repodata/repomd.xml")
        ],
        "E52\n{m}"
    );
    let m = metalink(edge, US_CLIENT, F40_ML).text();
    let us: Vec<String> = metalink_urls(&m)
        .into_iter()
        .filter(|u| host_of(&u.url) == HOST_US)
        .map(|u| u.url)
        .collect();
    assert_eq!(
        us,
        [
            format!("{US_F40}repodata/repomd.xml"),
            format!("{US_F40_HTTP}repodata/repomd.xml")
        ],
        "E52: all URLs in position order\n{m}"
    );
}

/// E53: the topdir gives host URL + `/`; file names are percent-encoded.
#[test]
fn e53_url_building() {
    let edge = standard_edge();
    let p = plain(edge, SE_CLIENT, "/mirrorlist?path=pub/fedora/linux");
    assert_eq!(
        url_lines(&p),
        ["https://mirror.example.edu/fedora/linux/"],
        "E53: directory = topdir\n{p}"
    );
    let p = plain(
        edge,
        SE_CLIENT,
        "/mirrorlist?path=pub/fedora/linux/releases/40/Everything/x86_64/os/a%20b%23.iso",
    );
    assert_eq!(
        url_lines(&p),
        [format!("{SE_F40}a%20b%23.iso")],
        "E53: file `a b#.iso`\n{p}"
    );
    let p = plain(
        edge,
        SE_CLIENT,
        "/mirrorlist?path=pub/fedora/linux/releases/40/Everything/x86_64/os/%C3%A9%25~!$%26'()*+,;=:@.rpm",
    );
    assert_eq!(
        url_lines(&p),
        [format!("{SE_F40}%C3%A9%25~!$&'()*+,;=:@.rpm")],
        "E53: the safe set raw, the rest upper-case %XX\n{p}"
    );
}

// ---------------------------------------------------------------------------------------------
// E57–E63 rendering
// ---------------------------------------------------------------------------------------------

const HEAD3: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n";

fn metalink3_open(pubdate: &str) -> String {
    format!(
        "{HEAD3}<metalink version=\"3.0\" xmlns=\"http://www.metalinker.org/\" type=\"dynamic\" \
         pubdate=\"{pubdate}\" generator=\"mirrormanager\" \
         xmlns:mm0=\"http://fedorahosted.org/mirrormanager\">\n"
    )
}

const UPD_URL: &str =
    "mirror.example.edu/fedora/linux/updates/40/Everything/x86_64/repodata/repomd.xml";

/// E57 fix: the §10.1 example, byte for byte (pubdate = the answer's `Date`).
#[test]
fn e57_fix_metalink3_example_byte_identical() {
    let edge = standard_edge();
    let r = metalink(edge, "192.0.2.10", UPD_ML);
    let date = r.header("date").expect("Date").to_string();
    let want = format!(
        "{}{}",
        metalink3_open(&date),
        r#" <files>
  <file name="repomd.xml">
   <mm0:timestamp>1732520000</mm0:timestamp>
   <size>5120</size>
   <verification>
    <hash type="md5">eb1dd1e55c9e393ce8934774838b09d2</hash>
    <hash type="sha1">d745eed7b51528a3e8e1f622b6636cadcd8e1e52</hash>
    <hash type="sha256">ad84617d95d2886ba5158f1458f95318fae009d94b41e2ec6ea0050d24dc8c30</hash>
    <hash type="sha512">e0e195b1ba327cce3346e976bebc6144cb461bf540064bacc393c4ee0371a27502b716ca2d16ee28f778b708ec251fdf3fd352acc0c367e187bbd5da77542ca9</hash>
   </verification>
   <mm0:alternates>
    <mm0:alternate>
      <mm0:timestamp>1732433600</mm0:timestamp>
      <size>5098</size>
      <verification>
       <hash type="sha256">05215df3ff853004ea9668d53ca97f7a5403352453761cf8bb827119e574a2dd</hash>
      </verification>
    </mm0:alternate>
   </mm0:alternates>
   <resources maxconnections="1">
    <url protocol="https" type="https" location="SE" preference="100">https://mirror.example.edu/fedora/linux/updates/40/Everything/x86_64/repodata/repomd.xml</url>
    <url protocol="rsync" type="rsync" location="SE" preference="100">rsync://mirror.example.edu/fedora/linux/updates/40/Everything/x86_64/repodata/repomd.xml</url>
   </resources>
  </file>
 </files>
</metalink>
"#
    );
    assert_eq!(r.text(), want, "E57: §10.1 example");
    assert!(
        date.ends_with(" GMT") && parse_http_date(&date).is_some(),
        "E57: pubdate format {date:?}"
    );
    parse_xml(&r.text());
}

/// E57: a version with timestamp 0 and size 0 is written without those lines (the oldest
/// alternate, and a current version).
#[test]
fn e57_zero_timestamp_and_size_are_omitted() {
    let zero = "1111111111111111111111111111111111111111111111111111111111111111";
    let edge = shared("e57 zero", move || {
        Fixture::new().inventory(move |inv| {
            for repo in inv["repositories"].as_array_mut().unwrap() {
                if repo["prefix"] == "updates-released-f40" {
                    repo["repomd"]
                        .as_array_mut()
                        .unwrap()
                        .push(json!({"timestamp": 0, "size": 0, "sha256": zero}));
                }
            }
            inv["files"] = json!([{
                "category": "Fedora Linux", "dir": "releases/40/Everything/x86_64/os",
                "name": "zero.iso", "history": [{"timestamp": 0, "size": 0, "sha256": zero}]
            }]);
        })
    });
    let m = metalink(edge, "192.0.2.10", UPD_ML).text();
    let want = format!(
        "   <mm0:alternates>
    <mm0:alternate>
      <mm0:timestamp>1732433600</mm0:timestamp>
      <size>5098</size>
      <verification>
       <hash type=\"sha256\">05215df3ff853004ea9668d53ca97f7a5403352453761cf8bb827119e574a2dd</hash>
      </verification>
    </mm0:alternate>
    <mm0:alternate>
      <verification>
       <hash type=\"sha256\">{zero}</hash>
      </verification>
    </mm0:alternate>
   </mm0:alternates>
   <resources maxconnections=\"1\">
"
    );
    assert!(
        m.contains(&want),
        "E57: the oldest alternate, without timestamp and size:\n{m}"
    );
    let m = metalink(
        edge,
        SE_CLIENT,
        "/metalink?path=pub/fedora/linux/releases/40/Everything/x86_64/os/zero.iso",
    )
    .text();
    let want = format!(
        "  <file name=\"zero.iso\">
   <verification>
    <hash type=\"sha256\">{zero}</hash>
   </verification>
   <resources maxconnections=\"1\">
"
    );
    assert!(
        m.contains(&want),
        "E57: current version with timestamp 0, size 0:\n{m}"
    );
    parse_xml(&m);
}

/// E58: a host's URLs are consecutive, share its preference, `protocol` = `type` = scheme,
/// `location` its country.
#[test]
fn e58_url_attributes() {
    let edge = standard_edge();
    for (client, host, cc) in [(SE_CLIENT, HOST_SE, "SE"), (US_CLIENT, HOST_US, "US")] {
        let m = metalink(edge, client, F40_ML).text();
        let urls = metalink_urls(&m);
        let idx: Vec<usize> = (0..urls.len())
            .filter(|&i| host_of(&urls[i].url) == host)
            .collect();
        assert_eq!(idx.len(), 2, "E58: two URLs of {host}\n{m}");
        assert_eq!(idx[1], idx[0] + 1, "E58: consecutive\n{m}");
        let (a, b) = (&urls[idx[0]], &urls[idx[1]]);
        assert_eq!(a.preference, b.preference, "E58: one preference\n{m}");
        for u in [a, b] {
            let scheme = u.url.split(':').next().unwrap();
            assert_eq!(u.protocol, scheme, "E58: protocol = scheme: {}", u.line);
            assert_eq!(u.typ, scheme, "E58: type = scheme: {}", u.line);
            assert_eq!(u.location, cc, "E58: location = country: {}", u.line);
        }
    }
}

/// E59 fix: `&` and `<` are escaped in text and attributes; `--` in a comment gets a space; both
/// documents parse as XML.
#[test]
fn e59_fix_escaping() {
    let edge = shared("e59 escaping", || {
        Fixture::new()
            .inventory(|inv| {
                inv["files"] = json!([{
                    "category": "Fedora Linux", "dir": "releases/40/Everything/x86_64/os",
                    "name": "a&b<c.iso",
                    "history": [{"timestamp": 1713185000, "size": 10,
                        "sha256": "2222222222222222222222222222222222222222222222222222222222222222"}]
                }]);
            })
            .add_host(
                ZETA,
                fedora_host("amp.example.org", "SE", 100, json!(["https://amp.example.org/a&b/fedora"]), &[
                    "releases/40/**",
                ]),
            )
    });
    let target = "/metalink?path=pub/fedora/linux/releases/40/Everything/x86_64/os/a%26b%3Cc.iso";
    let m = metalink(edge, SE_CLIENT, target).text();
    assert!(
        m.contains("  <file name=\"a&amp;b&lt;c.iso\">\n"),
        "E59: file name attribute\n{m}"
    );
    assert!(
        m.contains(&format!(">{SE_F40}a&amp;b%3Cc.iso</url>")),
        "E59/E53: URL text (`&` escaped, `<` percent-encoded)\n{m}"
    );
    let doc = parse_xml(&m);
    let file = doc
        .descendants()
        .find(|n| n.has_tag_name("file"))
        .expect("a file element");
    assert_eq!(
        file.attribute("name"),
        Some("a&b<c.iso"),
        "E59: the name parses back"
    );
    let m = metalink(edge, SE_CLIENT, F40_ML).text();
    assert!(
        m.contains(">https://amp.example.org/a&amp;b/fedora/releases/40/Everything/x86_64/os/repodata/repomd.xml</url>"),
        "E59: `&` in a host URL\n{m}"
    );
    let doc = parse_xml(&m);
    assert!(
        doc.descendants().any(|n| n.has_tag_name("url")
            && n.text()
                == Some("https://amp.example.org/a&b/fedora/releases/40/Everything/x86_64/os/repodata/repomd.xml")),
        "E59: the URL parses back\n{m}"
    );
    // `--` in a comment.
    let r = standard_edge().get_as(SE_CLIENT, "/metalink?repo=a--b&arch=x86_64");
    assert_eq!(r.status, 404, "E36: unknown repo");
    let body = r.text();
    assert!(
        body.contains("<!-- # repo = a- -b arch = x86_64 error: invalid repo or arch\n"),
        "E59: `- -` in the comment\n{body}"
    );
    let inner = body
        .split_once("<!--")
        .and_then(|(_, r)| r.rsplit_once("-->"))
        .map(|(c, _)| c)
        .expect("a comment");
    assert!(
        !inner.contains("--"),
        "E59: no `--` inside the comment\n{body}"
    );
    assert!(!inner.ends_with('-'), "E59: no final `-`\n{body}");
    parse_xml(&body);
}

fn parse_xml(text: &str) -> roxmltree::Document<'_> {
    roxmltree::Document::parse(text)
        .unwrap_or_else(|e| panic!("the answer is not well-formed XML: {e}\n{text}"))
}

/// E61: a disabled repository's metalink is a 200 failure document.
#[test]
fn e61_failure_document() {
    let edge = standard_edge();
    let r = edge.get_as(SE_CLIENT, "/metalink?repo=fedora-39&arch=x86_64");
    assert_eq!(r.status, 200, "E36/E61: repo disabled is 200");
    assert_eq!(
        r.header("content-type"),
        Some("application/metalink+xml"),
        "E61"
    );
    let date = r.header("date").expect("Date").to_string();
    assert_eq!(
        r.text(),
        format!(
            "{}<!-- repo disabled\n-->\n</metalink>\n",
            metalink3_open(&date)
        ),
        "E61"
    );
    parse_xml(&r.text());
    // The unknown-repository message ends with an empty line before `-->`.
    let r = edge.get_as(SE_CLIENT, "/metalink?repo=nope&arch=x86_64");
    assert_eq!(r.status, 404);
    let date = r.header("date").expect("Date").to_string();
    let body = r.text();
    assert!(
        body.starts_with(&format!(
            "{}<!-- # repo = nope arch = x86_64 error: invalid repo or arch\n\
             # following repositories are available:\n",
            metalink3_open(&date)
        )),
        "E61\n{body}"
    );
    assert!(
        body.ends_with("# repo=updates-released-f40&arch=x86_64\n\n-->\n</metalink>\n"),
        "E61: unknown-repository message ends with an empty line\n{body}"
    );
    // Version 4 failure document.
    let r = edge.request(
        "GET",
        &with_ip("/metalink?repo=fedora-39&arch=x86_64", SE_CLIENT),
        &[("Accept", "application/metalink4+xml")],
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("application/metalink4+xml"),
        "E61/E67"
    );
    assert_eq!(
        r.text(),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <metalink xmlns=\"urn:ietf:params:xml:ns:metalink\">\n\
         <!-- repo disabled\n-->\n</metalink>\n",
        "E62: v4 failure document"
    );
}

/// E62: metalink 4 layout, byte for byte, and the RFC 5854 schema's constraints.
#[test]
fn e62_metalink4_layout_and_schema() {
    let edge = standard_edge();
    let r = edge.request(
        "GET",
        &with_ip(UPD_ML, "192.0.2.10"),
        &[("Accept", "application/metalink4+xml")],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.header("content-type"),
        Some("application/metalink4+xml"),
        "E25/E67"
    );
    let published = rfc3339(date_of(&r));
    let want = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>
<metalink xmlns=\"urn:ietf:params:xml:ns:metalink\">
 <generator>mirrorfleet</generator>
 <published>{published}</published>
 <file name=\"repomd.xml\">
  <size>5120</size>
  <hash type=\"md5\">eb1dd1e55c9e393ce8934774838b09d2</hash>
  <hash type=\"sha-1\">d745eed7b51528a3e8e1f622b6636cadcd8e1e52</hash>
  <hash type=\"sha-256\">ad84617d95d2886ba5158f1458f95318fae009d94b41e2ec6ea0050d24dc8c30</hash>
  <hash type=\"sha-512\">e0e195b1ba327cce3346e976bebc6144cb461bf540064bacc393c4ee0371a27502b716ca2d16ee28f778b708ec251fdf3fd352acc0c367e187bbd5da77542ca9</hash>
  <url location=\"se\" priority=\"1\">https://{UPD_URL}</url>
  <url location=\"se\" priority=\"1\">rsync://{UPD_URL}</url>
 </file>
</metalink>
"
    );
    assert_eq!(r.text(), want, "E62 layout");
    check_metalink4_schema(&r.text());
    // Several hosts: priority = position, shared by a host's URLs.
    let r = edge.request(
        "GET",
        &with_ip(F40_ML, US_CLIENT),
        &[("Accept", "application/metalink4+xml")],
    );
    let text = r.text();
    check_metalink4_schema(&text);
    let doc = parse_xml(&text);
    let urls: Vec<(String, String, String)> = doc
        .descendants()
        .filter(|n| n.has_tag_name("url"))
        .map(|n| {
            (
                host_of(n.text().unwrap_or("")).to_string(),
                n.attribute("priority").unwrap_or("").to_string(),
                n.attribute("location").unwrap_or("").to_string(),
            )
        })
        .collect();
    let mut pos = 0;
    let mut last = String::new();
    for (host, prio, loc) in &urls {
        if *host != last {
            pos += 1;
            last = host.clone();
        }
        assert_eq!(
            prio,
            &pos.to_string(),
            "E62: priority = host position\n{text}"
        );
        let want_loc = if host == HOST_US { "us" } else { "se" };
        assert_eq!(loc, want_loc, "E62: lower-case location\n{text}");
    }
    assert_eq!(
        pos, 2,
        "E62: same hosts as v3 (US client: US and SE)\n{text}"
    );
    assert!(
        !text.contains("mm0:") && !text.contains("alternate"),
        "E62: no v3 extensions"
    );
}

/// The RFC 5854 schema's rules for what an edge writes: root `metalink` in the
/// `urn:ietf:params:xml:ns:metalink` namespace; children `generator`, `published` (RFC 3339
/// date-time), `file`+; `file` has a `name` attribute and at least one `url`; `hash` has a
/// `type` and hex text; `size` an unsigned integer; `url` has absolute-URI text, `location` two
/// letters, `priority` within 1–999999; no other element.
fn check_metalink4_schema(text: &str) {
    const NS: &str = "urn:ietf:params:xml:ns:metalink";
    let doc = parse_xml(text);
    let root = doc.root_element();
    assert_eq!(root.tag_name().namespace(), Some(NS), "RFC 5854: namespace");
    assert_eq!(root.tag_name().name(), "metalink", "RFC 5854: root");
    let mut files = 0;
    for child in root.children().filter(|n| n.is_element()) {
        assert_eq!(child.tag_name().namespace(), Some(NS));
        match child.tag_name().name() {
            "generator" => assert!(child.text().is_some_and(|t| !t.is_empty())),
            "published" => {
                let t = child.text().unwrap_or("");
                assert!(
                    t.len() == 20 && t.ends_with('Z') && t.as_bytes()[10] == b'T',
                    "RFC 5854: published is an RFC 3339 date-time: {t:?}"
                );
            }
            "file" => {
                files += 1;
                assert!(
                    child
                        .attribute("name")
                        .is_some_and(|n| !n.is_empty() && !n.contains('/'))
                );
                let mut urls = 0;
                for f in child.children().filter(|n| n.is_element()) {
                    assert_eq!(f.tag_name().namespace(), Some(NS));
                    match f.tag_name().name() {
                        "size" => assert!(f.text().unwrap_or("").parse::<u64>().is_ok()),
                        "hash" => {
                            let ty = f.attribute("type").unwrap_or("");
                            assert!(["md5", "sha-1", "sha-256", "sha-512"].contains(&ty), "{ty}");
                            assert!(
                                f.text()
                                    .unwrap_or("")
                                    .bytes()
                                    .all(|b| b.is_ascii_hexdigit())
                            );
                        }
                        "url" => {
                            urls += 1;
                            let loc = f.attribute("location").unwrap_or("xx-bad");
                            assert!(loc.len() == 2 && loc.bytes().all(|b| b.is_ascii_lowercase()));
                            let prio: u32 =
                                f.attribute("priority").unwrap_or("0").parse().unwrap_or(0);
                            assert!((1..=999_999).contains(&prio), "RFC 5854: priority {prio}");
                            assert!(f.text().unwrap_or("").contains("://"), "absolute URI");
                        }
                        other => {
                            panic!("RFC 5854 (as written by an edge): unexpected <{other}>\n{text}")
                        }
                    }
                }
                assert!(urls >= 1, "RFC 5854: a file needs a url or metaurl\n{text}");
            }
            other => panic!("RFC 5854: unexpected <{other}> in metalink\n{text}"),
        }
    }
    assert!(files >= 1, "RFC 5854: at least one file");
}

/// E63: the §10.3 example byte for byte; `protocol=https&time=1` adds the protocol words and the
/// time line.
#[test]
fn e63_plain_list_layout() {
    let edge = standard_edge();
    let p = plain(edge, DE_PRIVATE_CLIENT, F40);
    assert_eq!(
        p,
        "# repo = fedora-40 arch = x86_64 Using preferred netblock country = SE country = global \n\
         http://mirror.corp.example.com/fedora/linux/releases/40/Everything/x86_64/os/\n\
         https://mirror.example.edu/fedora/linux/releases/40/Everything/x86_64/os/\n",
        "E63: §10.3 example"
    );
    let p = plain(
        edge,
        DE_PRIVATE_CLIENT,
        &format!("{F40}&protocol=https&time=1"),
    );
    assert_eq!(
        p,
        format!(
            "{F40_HEAD}country = SE country = global protocol = https\n\
             # database creation time: {CREATED_AT}\n{SE_F40}\n"
        ),
        "E63: protocol and time line (the private host has no https URL)"
    );
}

/// E64 fix: errors on /mirrorlist are typed plain text with the case's status.
#[test]
fn e64_fix_mirrorlist_errors_are_typed() {
    let edge = standard_edge();
    let r = edge.get_as(SE_CLIENT, "/mirrorlist?repo=nope&arch=x86_64");
    assert_eq!(r.status, 404, "E64");
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; charset=utf-8"),
        "E64"
    );
    assert!(
        r.text().starts_with(
            "# repo = nope arch = x86_64 error: invalid repo or arch\n\
             # following repositories are available:\n# repo="
        ),
        "E64/E36\n{}",
        r.text()
    );
    for (target, status, body) in [
        (
            "/mirrorlist?repo=fedora%2040&arch=x86_64",
            400,
            "error: invalid repo \"fedora 40\": use letters, digits, \".\", \"_\" and \"-\"\n",
        ),
        (
            "/mirrorlist?repo=fedora-39&arch=x86_64",
            200,
            "repo disabled\n",
        ),
        (
            "/mirrorlist?path=pub/nothing/x",
            404,
            "error: invalid path\n",
        ),
    ] {
        let r = edge.get_as(SE_CLIENT, target);
        assert_eq!(r.status, status, "E64: {target}");
        assert_eq!(
            r.header("content-type"),
            Some("text/plain; charset=utf-8"),
            "E64: {target}"
        );
        assert_eq!(r.text(), body, "E64: {target}");
    }
}

/// E65 fix: `redirect=1` answers 302 to the first host's https URL (http listed first); with
/// `protocol=ftp` nothing qualifies: 404 with the E65 message.
#[test]
fn e65_fix_redirect() {
    let edge = shared("us http first", reversed_us_urls);
    let r = edge.get_as(US_CLIENT, &format!("{F40}&redirect=1"));
    assert_eq!(r.status, 302, "E65: {}", r.text());
    assert_eq!(
        r.header("location"),
        Some(US_F40),
        "E65: https over an earlier http"
    );
    assert!(r.body.is_empty(), "E65: empty body");
    assert_eq!(r.header("content-length"), Some("0"), "E65/E66");
    let r = edge.get_as(US_CLIENT, &format!("{F40}&redirect=1&protocol=http"));
    assert_eq!(r.status, 302);
    assert_eq!(
        r.header("location"),
        Some(US_F40_HTTP),
        "E52: redirect among allowed schemes"
    );
    let r = edge.get_as(US_CLIENT, &format!("{F40}&redirect=1&protocol=ftp"));
    assert_eq!(r.status, 404, "E65: no http(s) mirror");
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(
        r.text(),
        "error: no http or https mirror for this request\n",
        "E65"
    );
    // The redirect target follows the answer order: the SE client's first host.
    let r = standard_edge().get_as(SE_CLIENT, &format!("{F40}&redirect=1"));
    assert_eq!(r.status, 302);
    assert_eq!(r.header("location"), Some(SE_F40), "E65");
    // redirect acts on /mirrorlist only.
    let r = standard_edge().get_as(SE_CLIENT, &format!("{F40_ML}&redirect=1"));
    assert_eq!(r.status, 200, "E22/E65: redirect on /metalink is ignored");
}
