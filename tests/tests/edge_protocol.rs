//! Black-box protocol tests of `mirrorfleet-edge`, edge-protocol.md §18 rows E1–E40 (and the
//! E66 headers of every answer they look at), against the real binary over loopback HTTP.
//!
//! Each test is a table of rows; every failing row is collected and the test fails once with
//! the list, each entry starting with its rule id (`E10 …`). The fixture (module
//! `mirrorfleet_tests::fixture`) is the §18 one: DM §11.2 inventory, snapshot 1204, K = 0, the
//! §18 GeoIP file and ASN table; clients are chosen with `ip=` (the fixture lets 127.0.0.1 set
//! it), except where the client-address rules themselves are under test.

use std::fmt::Debug;
use std::net::SocketAddr;
use std::time::Duration;

use mirrorfleet_tests::fixture::*;
use mirrorfleet_tests::{HttpResponse, free_port};
use serde_json::{Value, json};

const ML: &str = "/metalink?repo=fedora-40&arch=x86_64";
const MLS: &str = "/mirrorlist?repo=fedora-40&arch=x86_64";
const TEXT: &str = "text/plain; charset=utf-8";
const ML3: &str = "application/metalink+xml";
const ML4: &str = "application/metalink4+xml";
const JSON: &str = "application/json";
const NOT_FOUND: &str = "error: not found; this server answers /metalink and /mirrorlist\n";
const NOT_ALLOWED: &str = "error: method not allowed; use GET or HEAD\n";
const PRESENCE: &str = "# either path=, or repo= and arch= must be specified";
const PATH_DOTS: &str = r#"error: invalid path: "." and ".." components are not allowed"#;
const NO_SNAPSHOT: &str = "error: no snapshot loaded yet; try again shortly";
/// Plain header of `fedora-40/x86_64` for the SE client (E20, E48).
const SE_HEADER: &str = "# repo = fedora-40 arch = x86_64 Using preferred netblock Using ASN 64500 country = SE country = global ";
const SE_URL: &str = "https://mirror.example.edu/fedora/linux/releases/40/Everything/x86_64/os/";
const US_URL: &str =
    "https://fedora.example.net/pub/fedora/linux/releases/40/Everything/x86_64/os/";
const ML3_DECL: &str = r#"<?xml version="1.0" encoding="utf-8"?>"#;
const ML3_OPEN_A: &str =
    r#"<metalink version="3.0" xmlns="http://www.metalinker.org/" type="dynamic" pubdate=""#;
const ML3_OPEN_B: &str =
    r#"" generator="mirrormanager" xmlns:mm0="http://fedorahosted.org/mirrormanager">"#;
const ML4_DECL: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;
const ML4_OPEN: &str = r#"<metalink xmlns="urn:ietf:params:xml:ns:metalink">"#;

// ---------------------------------------------------------------------------------------------
// Reporting
// ---------------------------------------------------------------------------------------------

/// Collects failed rows; [`Report::finish`] fails the test listing all of them.
struct Report {
    test: &'static str,
    fails: Vec<String>,
    checks: usize,
    /// Expected `X-Mirrorlist-Snapshot` (E66).
    snapshot_header: &'static str,
}

impl Report {
    fn new(test: &'static str) -> Report {
        Report {
            test,
            fails: Vec::new(),
            checks: 0,
            snapshot_header: "1204",
        }
    }

    fn ok(&mut self, rule: &str, cond: bool, detail: impl FnOnce() -> String) {
        self.checks += 1;
        if !cond {
            self.fails.push(format!("{rule}: {}", detail()));
        }
    }

    fn eq<T: PartialEq + Debug>(&mut self, rule: &str, what: &str, got: T, want: T) {
        let cond = got == want;
        self.ok(rule, cond, || {
            format!("{what}\n      expected: {want:?}\n      got:      {got:?}")
        });
    }

    /// Fields of `location` in an explain answer, each a check named `WHAT: location.FIELD`.
    fn location(&mut self, rule: &str, what: &str, explain: &Value, want: &[(&str, &Value)]) {
        for (field, value) in want {
            self.eq(
                rule,
                &format!("{what}: location.{field}"),
                &explain["location"][*field],
                *value,
            );
        }
    }

    /// A 200 plain-text mirrorlist that is exactly `header` and the SE host's URL.
    fn se_list(&mut self, rule: &str, req: &str, r: &HttpResponse, header: &str) {
        self.resp(
            rule,
            req,
            r,
            200,
            TEXT,
            Some(&format!("{header}\n{SE_URL}\n")),
        );
    }

    /// GET every target for the SE client: the SE list under [`SE_HEADER`].
    fn se_lists(&mut self, rule: &str, edge: &Edge, targets: &[&str]) {
        for t in targets {
            let r = edge.get(&with_ip(t, SE_CLIENT));
            self.se_list(rule, t, &r, SE_HEADER);
        }
    }

    /// GET every target: the plain 404 "not found" answer.
    fn not_found(&mut self, rule: &str, edge: &Edge, targets: &[&str]) {
        for t in targets {
            let r = edge.get(t);
            self.resp(rule, t, &r, 404, TEXT, Some(NOT_FOUND));
        }
    }

    fn fail(&mut self, rule: &str, detail: String) {
        self.ok(rule, false, || detail);
    }

    /// Status, Content-Type, optional exact body, and the E66 headers of a GET/HEAD answer.
    fn resp(
        &mut self,
        rule: &str,
        req: &str,
        r: &HttpResponse,
        status: u16,
        ctype: &str,
        body: Option<&str>,
    ) {
        let before = self.fails.len();
        self.eq(rule, &format!("{req}: status"), r.status, status);
        self.eq(
            rule,
            &format!("{req}: Content-Type"),
            r.header("content-type"),
            Some(ctype),
        );
        if let Some(b) = body {
            self.eq(rule, &format!("{req}: body"), r.text().as_str(), b);
        }
        if self.fails.len() > before {
            let last = self.fails.last_mut().unwrap();
            last.push_str(&format!("\n      answer: {}", show(r)));
        }
        self.headers_e66(rule, req, r);
    }

    /// E66 on an answer of the handler: Cache-Control, X-Mirrorlist-Snapshot, Content-Length,
    /// Date, no Server, no chunked body; `Vary: Accept` on /metalink.
    fn headers_e66(&mut self, rule: &str, req: &str, r: &HttpResponse) {
        let tag = format!("E66 (answer of {rule} {req})");
        self.eq(
            &tag,
            "Cache-Control",
            r.header("cache-control"),
            Some("no-store"),
        );
        let snap = self.snapshot_header;
        self.eq(
            &tag,
            "X-Mirrorlist-Snapshot",
            r.header("x-mirrorlist-snapshot"),
            Some(snap),
        );
        self.ok(&tag, r.header("date").is_some(), || "no Date".into());
        self.ok(&tag, r.header("server").is_none(), || {
            format!("has Server: {:?}", r.header("server"))
        });
        self.ok(&tag, r.header("transfer-encoding").is_none(), || {
            "chunked body".into()
        });
        self.ok(&tag, r.header("content-length").is_some(), || {
            "no Content-Length".into()
        });
        let path = req
            .split(['?', ' '])
            .find(|s| s.starts_with('/'))
            .unwrap_or("");
        if path.ends_with("/metalink") {
            self.eq(&tag, "Vary", r.header("vary"), Some("Accept"));
        }
    }

    /// A plain-text error or message on /mirrorlist: status, type, body = message + `\n`.
    fn plain(&mut self, rule: &str, edge: &Edge, target: &str, status: u16, message: &str) {
        let r = edge.get(target);
        self.resp(
            rule,
            target,
            &r,
            status,
            TEXT,
            Some(&format!("{message}\n")),
        );
    }

    /// A metalink 3 failure document (E61) with `message` (already joined).
    fn failure_v3(&mut self, rule: &str, req: &str, r: &HttpResponse, status: u16, message: &str) {
        self.resp(rule, req, r, status, ML3, None);
        let body = r.text();
        let want_tail = format!("<!-- {}\n-->\n</metalink>\n", comment_escape(message));
        let mut lines = body.splitn(3, '\n');
        let (l1, l2, rest) = (
            lines.next().unwrap_or(""),
            lines.next().unwrap_or(""),
            lines.next().unwrap_or(""),
        );
        let shape = l1 == ML3_DECL
            && l2.starts_with(ML3_OPEN_A)
            && l2.ends_with(ML3_OPEN_B)
            && rest == want_tail;
        self.ok(rule, shape, || {
            format!(
                "{req}: metalink 3 failure document\n      expected: {ML3_DECL}\\n{ML3_OPEN_A}…{ML3_OPEN_B}\\n{want_tail:?}\n      got:      {body:?}"
            )
        });
    }

    /// A metalink 4 failure document (E62) with `message`.
    fn failure_v4(&mut self, rule: &str, req: &str, r: &HttpResponse, status: u16, message: &str) {
        self.resp(rule, req, r, status, ML4, None);
        let want = format!(
            "{ML4_DECL}\n{ML4_OPEN}\n<!-- {}\n-->\n</metalink>\n",
            comment_escape(message)
        );
        self.eq(
            rule,
            &format!("{req}: metalink 4 failure document"),
            r.text(),
            want,
        );
    }

    fn finish(self) {
        assert!(self.checks > 0, "{}: nothing checked", self.test);
        if !self.fails.is_empty() {
            panic!(
                "{}: {} of {} checks failed:\n  - {}",
                self.test,
                self.fails.len(),
                self.checks,
                self.fails.join("\n  - ")
            );
        }
    }
}

fn show(r: &HttpResponse) -> String {
    let mut body = r.text();
    if body.len() > 700 {
        let mut cut = 700;
        while !body.is_char_boundary(cut) {
            cut -= 1;
        }
        body.truncate(cut);
        body.push('…');
    }
    format!("{} {:?} {body:?}", r.status, r.headers)
}

/// E59 comment escaping: a space after every `-` followed by `-`, and after a final `-`.
fn comment_escape(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        out.push(c);
        if c == '-' && (i + 1 == chars.len() || chars[i + 1] == '-') {
            out.push(' ');
        }
    }
    out
}

fn first_line(r: &HttpResponse) -> String {
    r.text().lines().next().unwrap_or("").to_string()
}

fn urls(r: &HttpResponse) -> Vec<String> {
    r.text()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// All tier words of an explain answer, each followed by a space (as the plain header).
fn words(explain: &Value) -> String {
    let mut out = String::new();
    for tier in explain["tiers"].as_array().into_iter().flatten() {
        for w in tier["words"].as_array().into_iter().flatten() {
            out.push_str(w.as_str().unwrap_or("?"));
            out.push(' ');
        }
    }
    out
}

fn placed_names(explain: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for tier in explain["tiers"].as_array().into_iter().flatten() {
        for h in tier["placed"].as_array().into_iter().flatten() {
            out.push(h["name"].as_str().unwrap_or("<redacted>").to_string());
        }
    }
    out
}

fn tier<'a>(explain: &'a Value, name: &str) -> Option<&'a Value> {
    explain["tiers"]
        .as_array()?
        .iter()
        .find(|t| t["name"] == name)
}

fn metric_sum(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    // Sum of every sample of `name` whose labels include `labels`.
    let mut sum = 0.0;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let one: String = line.to_string();
        if let Some(v) = metric_value(&one, name, labels) {
            sum += v;
        }
    }
    sum
}

/// Percent-encodes every byte outside unreserved characters.
fn pct(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Sends raw bytes to `addr`, reads one answer.
fn raw_at(addr: SocketAddr, raw: &[u8]) -> std::io::Result<HttpResponse> {
    exchange(addr, raw, raw.starts_with(b"HEAD "))
}

// ---------------------------------------------------------------------------------------------
// Shared variants
// ---------------------------------------------------------------------------------------------

/// No snapshot yet (E9): `--snapshot` names a file that is never written.
fn no_snapshot_edge() -> &'static Edge {
    shared("protocol: no snapshot", || {
        Fixture::new().snapshot_mode(SnapshotMode::MissingFile)
    })
}

/// Trusts 127.0.0.0/8 and 10.0.0.0/8 as proxies (E27, E29).
fn trusting_edge() -> &'static Edge {
    shared("protocol: trusting", || {
        Fixture::new().trusted_proxies(&["127.0.0.0/8", "10.0.0.0/8"])
    })
}

fn opensource_repo() -> Value {
    json!({"prefix": "opensource-1", "arch": "x86_64", "category": "Fedora Linux", "version": "40",
           "dir": "opensource/1/x86_64",
           "repomd": [{"timestamp": 1713185100, "size": 1000,
                       "sha256": "1111111111111111111111111111111111111111111111111111111111111111"}]})
}

fn source_repo() -> Value {
    json!({"prefix": "fedora-source-40", "arch": "source", "category": "Fedora Linux", "version": "40",
           "dir": "releases/40/Everything/source/tree",
           "repomd": [{"timestamp": 1713185200, "size": 2000,
                       "sha256": "2222222222222222222222222222222222222222222222222222222222222222"}]})
}

fn nohost_repo() -> Value {
    json!({"prefix": "nohost-1", "arch": "x86_64", "category": "Fedora EPEL",
           "dir": "8/Everything/x86_64",
           "repomd": [{"timestamp": 1713185300, "size": 3000,
                       "sha256": "3333333333333333333333333333333333333333333333333333333333333333"}]})
}

/// Resolution variant (E30–E36): `opensource-1/x86_64`, `fedora-source-40/source`,
/// `nohost-1/x86_64` (directory nobody carries), `norepodata/x86_64` (repodata child not
/// exported), `updates-released-f40` disabled. (Redirect chains cannot be tested: the snapshot
/// validator refuses a redirect whose target is itself redirected.)
fn resolution_edge() -> &'static Edge {
    shared("protocol: resolution", || {
        Fixture::new()
            .add_repository(opensource_repo())
            .add_repository(source_repo())
            .add_repository(nohost_repo())
            .disabled_repo("updates-released-f40")
            .edit_snapshot(|data| {
                use mirrorfleet_snapshot::model::RepoEntry;
                for d in &mut data.directories {
                    if d.name.starts_with("pub/epel/8") {
                        d.carriers.clear();
                    }
                }
                data.repositories.push(RepoEntry {
                    prefix: "norepodata".into(),
                    arch: "x86_64".into(),
                    directory: "pub/fedora/linux/releases/40/Everything".into(),
                });
            })
    })
}

// ---------------------------------------------------------------------------------------------
// §1 Endpoints and HTTP
// ---------------------------------------------------------------------------------------------

#[test]
fn e01_e04_endpoints_and_methods() {
    let edge = standard_edge();
    let mut rep = Report::new("E1–E4");

    // E1: raw path ends with /metalink or /mirrorlist.
    for (target, ctype) in [
        (ML.to_string(), ML3),
        (format!("/mm{ML}"), ML3),
        (format!("/{ML}"), ML3),
        (
            "/a/b/c/metalink?repo=fedora-40&arch=x86_64".to_string(),
            ML3,
        ),
        (MLS.to_string(), TEXT),
        (format!("/mm{MLS}"), TEXT),
        (format!("/{MLS}"), TEXT),
    ] {
        let r = edge.get(&with_ip(&target, SE_CLIENT));
        rep.resp("E1", &target, &r, 200, ctype, None);
    }
    rep.not_found(
        "E1",
        edge,
        &[
            "/metalink/?repo=fedora-40&arch=x86_64",
            "/Metalink?repo=fedora-40&arch=x86_64",
            "/met%61link?repo=fedora-40&arch=x86_64",
            "/mirrorlist/?repo=fedora-40&arch=x86_64",
            "/MIRRORLIST?repo=fedora-40&arch=x86_64",
            "/mirrorlis%74?repo=fedora-40&arch=x86_64",
            "/metalinkx?repo=fedora-40&arch=x86_64",
        ],
    );

    // E2: operational endpoints match exactly, query ignored.
    let r = edge.get("/healthz?x=1");
    rep.resp("E2", "/healthz?x=1", &r, 200, TEXT, Some("ok\n"));
    let r = edge.get("/readyz?x=1&y");
    rep.resp("E2", "/readyz?x=1&y", &r, 200, TEXT, None);
    rep.ok(
        "E2",
        r.text().starts_with("ready: snapshot 1204, age "),
        || format!("/readyz?x=1: {}", show(&r)),
    );
    let r = edge.get("/snapshot?x=1");
    rep.resp("E2", "/snapshot?x=1", &r, 200, JSON, None);
    let r = edge.get("/metrics?x=1");
    rep.resp(
        "E2",
        "/metrics?x=1",
        &r,
        200,
        "text/plain; version=0.0.4; charset=utf-8",
        None,
    );
    rep.not_found(
        "E2",
        edge,
        &[
            "/healthz/",
            "/mm/healthz",
            "/Healthz",
            "/readyz/",
            "/metrics/",
            "/mm/snapshot",
            "/healthz%2F",
        ],
    );

    // E3: other paths, any method.
    for (method, target) in [
        ("GET", "/foo"),
        ("GET", "/"),
        ("GET", "/foo?repo=fedora-40&arch=x86_64"),
        ("POST", "/foo"),
        ("DELETE", "/foo"),
        ("PUT", "/metalink/"),
    ] {
        let r = edge.request(method, target, &[]);
        rep.resp(
            "E3",
            &format!("{method} {target}"),
            &r,
            404,
            TEXT,
            Some(NOT_FOUND),
        );
    }
    let r = edge.head("/foo");
    rep.resp("E3", "HEAD /foo", &r, 404, TEXT, Some(""));
    rep.eq(
        "E3",
        "HEAD /foo: Content-Length",
        r.header("content-length"),
        Some(NOT_FOUND.len().to_string().as_str()),
    );

    // E4: GET and HEAD are the methods.
    for target in ["/healthz", "/readyz", "/metrics", "/snapshot"] {
        let r = edge.head(target);
        rep.eq("E4", &format!("HEAD {target}: status"), r.status, 200);
        rep.eq("E4", &format!("HEAD {target}: body"), r.body.len(), 0);
    }
    // E4: methods other than GET and HEAD on E1/E2 paths.
    for (method, target) in [
        ("POST", ML),
        ("POST", MLS),
        ("DELETE", "/healthz"),
        ("PUT", "/metrics"),
        ("OPTIONS", "/readyz"),
        ("PATCH", "/snapshot"),
        ("TRACE", "/mm/metalink"),
    ] {
        let req = format!("{method} {target}");
        let r = edge.request(method, target, &[]);
        rep.resp("E4", &req, &r, 405, TEXT, Some(NOT_ALLOWED));
        rep.eq(
            "E4",
            &format!("{req}: Allow"),
            r.header("allow"),
            Some("GET, HEAD"),
        );
    }
    rep.finish();
}

#[test]
fn e05_head_matches_get() {
    let edge = standard_edge();
    let mut rep = Report::new("E5");
    for target in [
        with_ip(ML, SE_CLIENT),
        with_ip(ML, US_CLIENT),
        with_ip(MLS, US_CLIENT),
        "/metalink?repo=nope&arch=x86_64".to_string(),
    ] {
        let mut pair = None;
        for _ in 0..10 {
            let get = edge.get(&target);
            let mut conn = edge.connect();
            conn.send(&request_bytes(&edge.addr(), "HEAD", &target, &[], None))
                .unwrap();
            let head = conn.read_response(true).unwrap();
            let closed_clean = conn.closed_by_peer(Duration::from_secs(3));
            let extra = conn.pending().to_vec();
            if get.header("date") == head.header("date") {
                pair = Some((get, head, closed_clean, extra));
                break;
            }
        }
        let Some((get, head, closed_clean, extra)) = pair else {
            rep.fail("E5", format!("{target}: no GET/HEAD pair in one second"));
            continue;
        };
        rep.eq(
            "E5",
            &format!("HEAD {target}: status"),
            head.status,
            get.status,
        );
        let strip = |r: &HttpResponse| {
            r.headers
                .iter()
                .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
                .collect::<Vec<_>>()
        };
        rep.eq(
            "E5",
            &format!("HEAD {target}: headers"),
            strip(&head),
            strip(&get),
        );
        rep.eq(
            "E5",
            &format!("GET {target}: Content-Length = body length"),
            get.header("content-length"),
            Some(get.body.len().to_string().as_str()),
        );
        rep.ok("E5", closed_clean && extra.is_empty(), || {
            format!(
                "HEAD {target}: bytes after the head: {:?}",
                String::from_utf8_lossy(&extra)
            )
        });
        rep.headers_e66("E5", &format!("HEAD {target}"), &head);
    }
    rep.finish();
}

#[test]
fn e06_protocols() {
    let edge = standard_edge();
    let mut rep = Report::new("E6");
    let target = with_ip(MLS, SE_CLIENT);
    let host = edge.addr().to_string();

    // HTTP/1.0 without keep-alive: answered, then closed.
    let mut c = edge.connect();
    c.send(format!("GET {target} HTTP/1.0\r\nHost: {host}\r\n\r\n").as_bytes())
        .unwrap();
    match c.read_response(false) {
        Ok(r) => {
            rep.resp("E6", "HTTP/1.0 GET", &r, 200, TEXT, None);
            rep.eq(
                "E6",
                "HTTP/1.0 GET: first line",
                first_line(&r),
                SE_HEADER.to_string(),
            );
            rep.ok("E6", c.closed_by_peer(Duration::from_secs(3)), || {
                "HTTP/1.0 without keep-alive: connection not closed after the answer".into()
            });
        }
        Err(e) => rep.fail("E6", format!("HTTP/1.0 GET: {e}")),
    }
    // HTTP/1.0 without Host.
    let mut c = edge.connect();
    c.send(format!("GET {target} HTTP/1.0\r\n\r\n").as_bytes())
        .unwrap();
    match c.read_response(false) {
        Ok(r) => rep.resp("E6", "HTTP/1.0 GET without Host", &r, 200, TEXT, None),
        Err(e) => rep.fail("E6", format!("HTTP/1.0 GET without Host: {e}")),
    }

    // HTTP/1.0 with Connection: keep-alive: two requests on one connection.
    let mut c = edge.connect();
    for i in 0..2 {
        let sent = c.send(
            format!("GET {target} HTTP/1.0\r\nHost: {host}\r\nConnection: keep-alive\r\n\r\n")
                .as_bytes(),
        );
        match sent.and_then(|_| c.read_response(false)) {
            Ok(r) => rep.resp(
                "E6",
                &format!("HTTP/1.0 keep-alive request {}", i + 1),
                &r,
                200,
                TEXT,
                None,
            ),
            Err(e) => {
                rep.fail("E6", format!("HTTP/1.0 keep-alive request {}: {e}", i + 1));
                break;
            }
        }
    }

    // HTTP/1.1: two requests one after the other on one connection.
    let mut c = edge.connect();
    for (i, t) in [ML.to_string(), target.clone(), "/healthz".to_string()]
        .iter()
        .enumerate()
    {
        let sent = c.send(format!("GET {t} HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes());
        match sent.and_then(|_| c.read_response(false)) {
            Ok(r) => {
                rep.eq(
                    "E6",
                    &format!("HTTP/1.1 keep-alive request {}", i + 1),
                    r.status,
                    200,
                );
                rep.ok(
                    "E6",
                    !r.header("connection")
                        .is_some_and(|v| v.eq_ignore_ascii_case("close")),
                    || format!("HTTP/1.1 keep-alive request {}: Connection: close", i + 1),
                );
            }
            Err(e) => {
                rep.fail("E6", format!("HTTP/1.1 keep-alive request {}: {e}", i + 1));
                break;
            }
        }
    }

    // HTTP/1.1 pipelining: three requests in one write, three answers in order.
    let mut c = edge.connect();
    let pipeline = format!(
        "GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\nHEAD {target} HTTP/1.1\r\nHost: {host}\r\n\r\nGET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    );
    c.send(pipeline.as_bytes()).unwrap();
    let answers: Vec<_> = [false, true, false]
        .iter()
        .map(|&head| c.read_response(head))
        .collect();
    match (&answers[0], &answers[1], &answers[2]) {
        (Ok(a), Ok(b), Ok(d)) => {
            rep.resp("E6", "pipelined GET /healthz", a, 200, TEXT, Some("ok\n"));
            rep.resp("E6", "pipelined HEAD", b, 200, TEXT, Some(""));
            rep.resp("E6", "pipelined GET", d, 200, TEXT, None);
            rep.eq(
                "E6",
                "pipelined GET: first line",
                first_line(d),
                SE_HEADER.to_string(),
            );
        }
        _ => rep.fail("E6", format!("pipelined requests: {answers:?}")),
    }

    // Upgrade: h2c is ignored: an HTTP/1.1 answer, not 101.
    let r = edge.request(
        "GET",
        &target,
        &[
            ("Connection", "Upgrade, HTTP2-Settings"),
            ("Upgrade", "h2c"),
            ("HTTP2-Settings", "AAMAAABkAARAAAAAAAIAAAAA"),
        ],
    );
    rep.resp("E6", "GET with Upgrade: h2c", &r, 200, TEXT, None);

    // h2c with prior knowledge: several streams on one connection.
    let none: &[(&str, &str)] = &[];
    let accept4: &[(&str, &str)] = &[("accept", ML4)];
    let h2 = edge.h2c(&[
        ("GET", &target, none),
        ("GET", "/healthz", none),
        ("GET", &with_ip(ML, SE_CLIENT), accept4),
        ("HEAD", &target, none),
        ("GET", "/foo", none),
    ]);
    rep.resp("E6", "h2c GET mirrorlist", &h2[0], 200, TEXT, None);
    rep.eq(
        "E6",
        "h2c GET mirrorlist: first line",
        first_line(&h2[0]),
        SE_HEADER.to_string(),
    );
    rep.resp("E6", "h2c GET /healthz", &h2[1], 200, TEXT, Some("ok\n"));
    rep.resp("E6", "h2c GET /metalink (v4)", &h2[2], 200, ML4, None);
    rep.resp("E6", "h2c HEAD mirrorlist", &h2[3], 200, TEXT, Some(""));
    rep.resp("E6", "h2c GET /foo", &h2[4], 404, TEXT, Some(NOT_FOUND));
    rep.finish();
}

#[test]
fn e07_request_body_closes() {
    let edge = standard_edge();
    let mut rep = Report::new("E7");
    let target = with_ip(MLS, SE_CLIENT);
    let host = edge.addr().to_string();
    for (what, raw) in [
        (
            "Content-Length: 5",
            format!("GET {target} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 5\r\n\r\nhello"),
        ),
        (
            "chunked",
            format!(
                "GET {target} HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
            ),
        ),
        (
            "Content-Length: 5, body not sent yet",
            format!("GET {target} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 5\r\n\r\n"),
        ),
    ] {
        let mut c = edge.connect();
        c.send(raw.as_bytes()).unwrap();
        match c.read_response(false) {
            Ok(r) => {
                rep.resp(
                    "E7",
                    &format!("GET with a body ({what})"),
                    &r,
                    200,
                    TEXT,
                    None,
                );
                rep.eq(
                    "E7",
                    &format!("GET with a body ({what}): first line"),
                    first_line(&r),
                    SE_HEADER.to_string(),
                );
                rep.ok(
                    "E7",
                    r.header("connection")
                        .is_some_and(|v| v.eq_ignore_ascii_case("close")),
                    || {
                        format!(
                            "GET with a body ({what}): no Connection: close: {}",
                            show(&r)
                        )
                    },
                );
                rep.ok("E7", c.closed_by_peer(Duration::from_secs(3)), || {
                    format!("GET with a body ({what}): connection not closed after the answer")
                });
            }
            Err(e) => rep.fail("E7", format!("GET with a body ({what}): {e}")),
        }
    }
    rep.finish();
}

#[test]
fn e08_order_of_checks() {
    let edge = standard_edge();
    let mut rep = Report::new("E8");
    let r = edge.request("POST", "/metalink?repo=%ZZ", &[]);
    rep.resp(
        "E8",
        "POST /metalink?repo=%ZZ",
        &r,
        405,
        TEXT,
        Some(NOT_ALLOWED),
    );
    let r = edge.request("POST", "/foo?repo=%ZZ", &[]);
    rep.resp("E8", "POST /foo?repo=%ZZ", &r, 404, TEXT, Some(NOT_FOUND));
    let r = edge.get("/foo?repo=%ZZ");
    rep.resp("E8", "GET /foo?repo=%ZZ", &r, 404, TEXT, Some(NOT_FOUND));
    // (1) limits before the path.
    let long = format!("/foo?x={}", "a".repeat(5000));
    let r = edge.get(&long);
    rep.resp(
        "E8",
        "GET /foo?x=<5000 bytes>",
        &r,
        414,
        TEXT,
        Some("error: URI too long (at most 4096 bytes)\n"),
    );
    // (4) query before (5) client address before (7) resolution.
    rep.plain(
        "E8",
        edge,
        "/mirrorlist?repo=%ZZ&arch=x86_64&ip=banana",
        400,
        "error: invalid percent-encoding in the query",
    );
    rep.plain(
        "E8",
        edge,
        "/mirrorlist?repo=!!&arch=x86_64&ip=banana",
        400,
        r#"error: invalid repo "!!": use letters, digits, ".", "_" and "-""#,
    );
    rep.plain(
        "E8",
        edge,
        "/mirrorlist?repo=nope&arch=x86_64&ip=banana",
        400,
        r#"error: invalid ip "banana""#,
    );
    rep.plain(
        "E8",
        edge,
        "/mirrorlist?repo=nope&arch=x86_64&country=usa",
        400,
        r#"error: invalid country "usa": use two-letter ISO 3166-1 codes or "global""#,
    );
    // (5) before (6): E28's 400 wins over E9's 503.
    let mut rep_none = Report::new("E8");
    rep_none.snapshot_header = "none";
    let none = no_snapshot_edge();
    rep_none.plain(
        "E8",
        none,
        "/mirrorlist?repo=fedora-40&arch=x86_64&ip=banana",
        400,
        r#"error: invalid ip "banana""#,
    );
    rep_none.plain(
        "E8",
        none,
        "/mirrorlist?repo=!!&arch=x86_64",
        400,
        r#"error: invalid repo "!!": use letters, digits, ".", "_" and "-""#,
    );
    let r = none.request("POST", ML, &[]);
    rep_none.resp(
        "E8",
        "POST /metalink (no snapshot)",
        &r,
        405,
        TEXT,
        Some(NOT_ALLOWED),
    );
    rep.fails.extend(rep_none.fails);
    rep.checks += rep_none.checks;
    rep.finish();
}

#[test]
fn e09_no_snapshot_yet() {
    let edge = no_snapshot_edge();
    let mut rep = Report::new("E9");
    rep.snapshot_header = "none";
    let r = edge.get(ML);
    rep.failure_v3("E9", ML, &r, 503, NO_SNAPSHOT);
    rep.eq(
        "E9",
        "metalink: Retry-After",
        r.header("retry-after"),
        Some("5"),
    );
    let r = edge.request("GET", ML, &[("Accept", ML4)]);
    rep.failure_v4("E9", "metalink (v4)", &r, 503, NO_SNAPSHOT);
    rep.eq(
        "E9",
        "metalink v4: Retry-After",
        r.header("retry-after"),
        Some("5"),
    );
    let r = edge.get(MLS);
    rep.resp("E9", MLS, &r, 503, TEXT, Some(&format!("{NO_SNAPSHOT}\n")));
    rep.eq(
        "E9",
        "mirrorlist: Retry-After",
        r.header("retry-after"),
        Some("5"),
    );
    // explain keeps the 503 (E68); /healthz stays 200 (E75).
    let t = format!("{MLS}&explain=1");
    let r = edge.get(&t);
    rep.resp("E9", &t, &r, 503, TEXT, Some(&format!("{NO_SNAPSHOT}\n")));
    let t = format!("{MLS}&redirect=1");
    let r = edge.get(&t);
    rep.resp("E9", &t, &r, 503, TEXT, Some(&format!("{NO_SNAPSHOT}\n")));
    let r = edge.get("/healthz");
    rep.resp("E9", "/healthz", &r, 200, TEXT, Some("ok\n"));
    rep.finish();
}

// ---------------------------------------------------------------------------------------------
// §2 Query string
// ---------------------------------------------------------------------------------------------

#[test]
fn e10_e13_query_splitting_decoding_repetition() {
    let edge = standard_edge();
    let mut rep = Report::new("E10–E13");
    let se = |t: &str| with_ip(t, SE_CLIENT);

    // E10: later `=` belong to the value.
    rep.plain(
        "E10",
        edge,
        &format!("{MLS}&country=us=jp"),
        400,
        r#"error: invalid country "us=jp": use two-letter ISO 3166-1 codes or "global""#,
    );
    let r = edge.get("/metalink?repo=fedora-40&arch=x86_64&country=us=jp");
    rep.failure_v3(
        "E10",
        "/metalink … country=us=jp",
        &r,
        400,
        r#"error: invalid country "us=jp": use two-letter ISO 3166-1 codes or "global""#,
    );
    // E10: at most 64 pieces.
    let pieces = |n: usize| -> String {
        let mut q = vec![
            "repo=fedora-40".to_string(),
            "arch=x86_64".to_string(),
            format!("ip={SE_CLIENT}"),
        ];
        while q.len() < n {
            q.push(format!("x{}=1", q.len()));
        }
        format!("/mirrorlist?{}", q.join("&"))
    };
    rep.plain(
        "E10",
        edge,
        &pieces(65),
        400,
        "error: too many query parameters (at most 64)",
    );
    let r = edge.get(&pieces(64));
    rep.se_list("E10", "64 pieces", &r, SE_HEADER);
    let r = edge.get(&pieces(65).replace("/mirrorlist", "/metalink"));
    rep.failure_v3(
        "E10",
        "/metalink with 65 pieces",
        &r,
        400,
        "error: too many query parameters (at most 64)",
    );
    // E10: `&` only; `;` is data; empty pieces skipped; a piece without `=`.
    rep.plain(
        "E10",
        edge,
        "/mirrorlist?repo=fedora-40;arch=x86_64",
        400,
        r#"error: invalid repo "fedora-40;arch=x86_64": use letters, digits, ".", "_" and "-""#,
    );
    let t = format!("/mirrorlist?&&repo=fedora-40&&arch=x86_64&&ip={SE_CLIENT}&");
    let r = edge.get(&t);
    rep.se_list("E10", &t, &r, SE_HEADER);
    let t = format!("/mirrorlist?repo=fedora-40&arch=x86_64&ip={SE_CLIENT}&country");
    let r = edge.get(&t);
    rep.se_list(
        "E10",
        &format!("{t} (piece without =: empty value)"),
        &r,
        SE_HEADER,
    );
    let t = "/mirrorlist?repo&arch=x86_64".to_string();
    rep.plain("E10", edge, &t, 400, PRESENCE);

    // E11: percent-decoding of names and values, either case; `+` stays `+`.
    rep.se_lists(
        "E11",
        edge,
        &[
            "/mirrorlist?repo=fedora%2D40&arch=x86_64",
            "/mirrorlist?repo=fedora%2d40&arch=x86_64",
            "/mirrorlist?%72epo=fedora-40&arch=x86%5F64",
            "/mirrorlist?repo=%66%65%64%6F%72%61-40&arch=x86_64",
        ],
    );
    let r = edge.get(&se("/metalink?repo=fedora%2D40&arch=x86_64"));
    rep.resp("E11", "/metalink?repo=fedora%2D40", &r, 200, ML3, None);
    rep.ok(
        "E11",
        r.text().contains("<file name=\"repomd.xml\">"),
        || {
            format!(
                "/metalink?repo=fedora%2D40: not the fedora-40 metalink: {}",
                show(&r)
            )
        },
    );
    rep.plain(
        "E11",
        edge,
        "/mirrorlist?repo=%E2%28&arch=x86_64",
        400,
        "error: the query is not valid UTF-8",
    );
    rep.plain(
        "E11",
        edge,
        "/mirrorlist?repo=fedora-40&arch=x86_64&%FF=1",
        400,
        "error: the query is not valid UTF-8",
    );
    for t in [
        "/mirrorlist?repo=%G1&arch=x86_64",
        "/mirrorlist?repo=fedora-40&arch=x86_64&unknown=%4",
        "/mirrorlist?repo=fedora-40&arch=x86_64&x=%",
        "/mirrorlist?repo=fedora-40&arch=x86_64&%zz=1",
    ] {
        rep.plain(
            "E11",
            edge,
            t,
            400,
            "error: invalid percent-encoding in the query",
        );
    }
    for (t, file) in [
        (
            "/mirrorlist?path=pub/fedora/linux/releases/40/Everything/x86_64/os/libsigc++20-1.rpm",
            "libsigc++20-1.rpm",
        ),
        (
            "/mirrorlist?path=pub/fedora/linux/releases/40/Everything/x86_64/os/libsigc%2B%2B20-1.rpm",
            "libsigc++20-1.rpm",
        ),
    ] {
        let r = edge.get(&se(t));
        rep.resp("E11", t, &r, 200, TEXT, None);
        let u = urls(&r);
        rep.ok(
            "E11",
            !u.is_empty() && u.iter().all(|u| u.ends_with(&format!("/os/{file}"))),
            || format!("{t}: URLs should end in /os/{file}: {}", show(&r)),
        );
        rep.eq(
            "E11",
            &format!("{t}: header"),
            first_line(&r),
            format!(
                "# path = pub/fedora/linux/releases/40/Everything/x86_64/os/{file} Using preferred netblock Using ASN 64500 country = SE country = global "
            ),
        );
    }

    // E12: names case-sensitive, last occurrence wins, unknown names ignored.
    let v = edge.explain(&format!("{MLS}&country=us&country=se&ip={SE_CLIENT}"));
    rep.eq(
        "E12",
        "country=us&country=se: parameters.country",
        &v["request"]["parameters"]["country"],
        &json!(["SE"]),
    );
    let r = edge.get(&format!("{MLS}&country=us&country=se&ip={US_CLIENT}"));
    rep.ok(
        "E12",
        first_line(&r).contains("country = SE ") && !first_line(&r).contains("country = US "),
        || {
            format!(
                "country=us&country=se: header should use SE only: {}",
                show(&r)
            )
        },
    );
    rep.se_lists(
        "E12",
        edge,
        &[
            "/mirrorlist?Repo=x&repo=fedora-40&arch=x86_64",
            "/mirrorlist?repo=fedora-40&arch=x86_64&Repo=x&ARCH=y",
            "/mirrorlist?repo=x&repo=fedora-40&arch=aarch64&arch=x86_64",
            "/mirrorlist?repo=fedora-40&arch=x86_64&cc=us",
            "/mirrorlist?repo=fedora-40&arch=x86_64&version=99&location=jp",
            "/mirrorlist?repo=fedora-40&arch=x86_64&Country=zzz&PATH=..",
        ],
    );
    rep.plain(
        "E12",
        edge,
        "/mirrorlist?REPO=fedora-40&arch=x86_64",
        400,
        PRESENCE,
    );
    rep.plain(
        "E12",
        edge,
        "/mirrorlist?repo=fedora-40&Arch=x86_64",
        400,
        PRESENCE,
    );
    let v = edge.explain(&se(&format!("{MLS}&cc=us")));
    rep.eq(
        "E12",
        "cc=us: parameters.country",
        &v["request"]["parameters"]["country"],
        &json!([]),
    );

    // E13: empty values are absent.
    rep.plain("E13", edge, "/mirrorlist?repo=&arch=x86_64", 400, PRESENCE);
    rep.plain(
        "E13",
        edge,
        "/mirrorlist?repo=fedora-40&arch=",
        400,
        PRESENCE,
    );
    rep.se_lists(
        "E13",
        edge,
        &[
            "/mirrorlist?path=&repo=fedora-40&arch=x86_64",
            "/mirrorlist?repo=fedora-40&arch=x86_64&country=",
            "/mirrorlist?repo=fedora-40&arch=x86_64&protocol=",
        ],
    );
    let v = edge.explain(&format!("{MLS}&ip="));
    rep.eq(
        "E13",
        "ip= (empty): client.source",
        &v["client"]["source"],
        &json!("peer"),
    );
    rep.eq(
        "E13",
        "ip= (empty): client.address",
        &v["client"]["address"],
        &json!("127.0.0.1"),
    );
    let r = edge.get(&format!("{MLS}&ip="));
    rep.resp("E13", "ip= (empty)", &r, 200, TEXT, None);
    rep.finish();
}

#[test]
fn e14_e18_validation() {
    let edge = standard_edge();
    let mut rep = Report::new("E14–E18");
    let se = |t: &str| with_ip(t, SE_CLIENT);
    let ctl = |n: &str| format!(r#"error: control characters are not allowed in "{n}""#);
    let bad_repo =
        |v: &str| format!(r#"error: invalid repo "{v}": use letters, digits, ".", "_" and "-""#);

    // E14.
    rep.plain(
        "E14",
        edge,
        "/mirrorlist?repo=fedora%0A40&arch=x86_64",
        400,
        &ctl("repo"),
    );
    rep.plain(
        "E14",
        edge,
        "/mirrorlist?repo=fedora-40&arch=x86%7F64",
        400,
        &ctl("arch"),
    );
    rep.plain("E14", edge, "/mirrorlist?path=pub/%00x", 400, &ctl("path"));
    rep.plain(
        "E14",
        edge,
        &format!("{MLS}&country=u%09s"),
        400,
        &ctl("country"),
    );
    rep.plain(
        "E14",
        edge,
        &format!("{MLS}&protocol=ht%1Ftp"),
        400,
        &ctl("protocol"),
    );
    rep.plain(
        "E14",
        edge,
        &format!("{MLS}&ip=1.2.3.4%0D"),
        400,
        &ctl("ip"),
    );
    let r = edge.get(&se(&format!("{MLS}&unknown=%01%7F")));
    rep.resp("E14", "unknown=%01%7F (not checked)", &r, 200, TEXT, None);
    let r = edge.get(&se(&format!("{MLS}&countme=%01")));
    rep.resp("E14", "countme=%01 (not checked)", &r, 200, TEXT, None);
    // Quotes at most 64 characters.
    let long = "!".repeat(150);
    rep.plain(
        "E14",
        edge,
        &format!("/mirrorlist?repo={long}&arch=x86_64"),
        400,
        &bad_repo(&"!".repeat(64)),
    );
    let r = edge.get(&format!(
        "/metalink?repo={}&arch=x86_64",
        "é".repeat(70).replace('é', "%C3%A9")
    ));
    rep.failure_v3(
        "E14",
        "/metalink?repo=é×70",
        &r,
        400,
        &bad_repo(&"é".repeat(64)),
    );

    // E15: validation order.
    rep.plain(
        "E15",
        edge,
        "/mirrorlist?path=a/../b&repo=!!",
        400,
        PATH_DOTS,
    );
    let r = edge.get(&se(
        "/mirrorlist?path=pub/fedora/linux/releases/40/Everything/x86_64/os&repo=!!&arch=%0A",
    ));
    rep.resp(
        "E15",
        "path with bad repo and arch (not checked)",
        &r,
        200,
        TEXT,
        None,
    );
    rep.plain(
        "E15",
        edge,
        "/mirrorlist?repo=!!&arch=x/y",
        400,
        &bad_repo("!!"),
    );
    rep.plain("E15", edge, "/mirrorlist?repo=!!", 400, &bad_repo("!!"));
    rep.plain(
        "E15",
        edge,
        "/mirrorlist?repo=fedora-40&arch=x/y&country=usa",
        400,
        r#"error: invalid arch "x/y""#,
    );
    rep.plain(
        "E15",
        edge,
        "/mirrorlist?arch=x86_64&country=usa",
        400,
        PRESENCE,
    );
    rep.plain(
        "E15",
        edge,
        &format!("{MLS}&country=usa&protocol=gopher&ip=banana"),
        400,
        r#"error: invalid country "usa": use two-letter ISO 3166-1 codes or "global""#,
    );
    rep.plain(
        "E15",
        edge,
        &format!("{MLS}&protocol=gopher&ip=banana"),
        400,
        r#"error: invalid protocol "gopher": use http, https, ftp or rsync"#,
    );

    // E16.
    rep.plain(
        "E16",
        edge,
        "/mirrorlist?repo=fedora%2040&arch=x86_64",
        400,
        &bad_repo("fedora 40"),
    );
    rep.plain(
        "E16",
        edge,
        "/mirrorlist?repo=fedora/40&arch=x86_64",
        400,
        &bad_repo("fedora/40"),
    );
    rep.plain(
        "E16",
        edge,
        "/mirrorlist?repo=fedora+40&arch=x86_64",
        400,
        &bad_repo("fedora+40"),
    );
    rep.plain(
        "E16",
        edge,
        &format!("/mirrorlist?repo={}&arch=x86_64", "a".repeat(101)),
        400,
        &bad_repo(&"a".repeat(64)),
    );
    let r = edge.get(&format!(
        "/mirrorlist?repo={}&arch=x86_64",
        "aZ0._-".repeat(17).get(..100).unwrap()
    ));
    rep.resp("E16", "repo of 100 valid characters", &r, 404, TEXT, None);

    // E17.
    rep.plain(
        "E17",
        edge,
        "/mirrorlist?repo=fedora-40&arch=x86/64",
        400,
        r#"error: invalid arch "x86/64""#,
    );
    rep.plain(
        "E17",
        edge,
        &format!("/mirrorlist?repo=fedora-40&arch={}", "b".repeat(33)),
        400,
        &format!(r#"error: invalid arch "{}""#, "b".repeat(33)),
    );
    let r = edge.get(&format!(
        "/mirrorlist?repo=fedora-40&arch={}",
        "b".repeat(32)
    ));
    rep.resp("E17", "arch of 32 characters", &r, 404, TEXT, None);
    let r = edge.get("/metalink?repo=fedora-40&arch=x86/64");
    rep.failure_v3(
        "E17",
        "/metalink?arch=x86/64",
        &r,
        400,
        r#"error: invalid arch "x86/64""#,
    );

    // E18.
    let dir = "pub/fedora/linux/releases/40/Everything/x86_64/os";
    let want = format!(
        "# path = {dir} Using preferred netblock Using ASN 64500 country = SE country = global \n{SE_URL}\n"
    );
    for t in [
        "/mirrorlist?path=//pub//fedora/linux/releases/40/Everything/x86_64/os//".to_string(),
        format!("/mirrorlist?path={dir}"),
        format!("/mirrorlist?path=/{dir}/&repo=epel-9&arch=aarch64"),
        format!("/mirrorlist?path={}", pct(dir.as_bytes())),
    ] {
        let r = edge.get(&se(&t));
        rep.resp("E18", &t, &r, 200, TEXT, Some(&want));
    }
    for t in [
        "/mirrorlist?path=pub/fedora/linux/../x",
        "/mirrorlist?path=pub/fedora/linux/..",
        "/mirrorlist?path=./pub/fedora",
        "/mirrorlist?path=pub/./fedora",
        "/mirrorlist?path=pub/fedora/linux/%2E%2E/x",
    ] {
        rep.plain("E18", edge, t, 400, PATH_DOTS);
    }
    rep.plain(
        "E18",
        edge,
        &format!("/mirrorlist?path=pub/{}", "a".repeat(1021)),
        400,
        "error: invalid path: longer than 1024 bytes",
    );
    let r = edge.get(&format!("/mirrorlist?path=//pub/{}//", "a".repeat(1020)));
    rep.resp(
        "E18",
        "path of 1024 bytes after cleaning",
        &r,
        404,
        TEXT,
        Some("error: invalid path\n"),
    );
    let r = edge.get(&se("/mirrorlist?path=//&repo=fedora-40&arch=x86_64"));
    rep.se_list(
        "E18",
        "path=// (empty after cleaning: absent)",
        &r,
        SE_HEADER,
    );
    rep.plain("E18", edge, "/mirrorlist?path=///", 400, PRESENCE);
    rep.finish();
}

// ---------------------------------------------------------------------------------------------
// §3 Parameters
// ---------------------------------------------------------------------------------------------

#[test]
fn e19_e23_parameters() {
    let edge = standard_edge();
    let mut rep = Report::new("E19–E23");
    let bad_cc = |v: &str| {
        format!(r#"error: invalid country "{v}": use two-letter ISO 3166-1 codes or "global""#)
    };

    // E19: order as written, normalised case.
    let a = edge.get(&with_ip(&format!("{MLS}&country=us,global"), US_CLIENT));
    let b = edge.get(&with_ip(&format!("{MLS}&country=US,global"), US_CLIENT));
    let c = edge.get(&with_ip(
        &format!("{MLS}&country=uS,GLOBAL,us,,"),
        US_CLIENT,
    ));
    let want = format!(
        "# repo = fedora-40 arch = x86_64 country = US country = global \n{US_URL}\n{SE_URL}\n"
    );
    rep.resp("E19", "country=us,global", &a, 200, TEXT, Some(&want));
    rep.resp("E19", "country=US,global", &b, 200, TEXT, Some(&want));
    rep.resp("E19", "country=uS,GLOBAL,us,,", &c, 200, TEXT, Some(&want));
    let v = edge.explain(&with_ip(
        &format!("{MLS}&country=se,,Global,SE,us"),
        US_CLIENT,
    ));
    rep.eq(
        "E19",
        "country=se,,Global,SE,us: parameters.country",
        &v["request"]["parameters"]["country"],
        &json!(["SE", "global", "US"]),
    );
    let v = edge.explain(&with_ip(&format!("{MLS}&country=,,"), US_CLIENT));
    rep.eq(
        "E19",
        "country=,,: parameters.country",
        &v["request"]["parameters"]["country"],
        &json!([]),
    );
    for (q, v) in [
        ("usa", "usa"),
        ("us,usa", "usa"),
        ("u1", "u1"),
        ("globe", "globe"),
        ("u", "u"),
        ("se,%C3%A9e", "ée"),
    ] {
        rep.plain("E19", edge, &format!("{MLS}&country={q}"), 400, &bad_cc(v));
    }

    // E20: netblock=1 (or absent) allows the netblock and ASN tiers.
    for (q, on) in [
        ("&netblock=0", false),
        ("&netblock=1", true),
        ("&netblock=no", false),
        ("&netblock=", false),
        ("&netblock=true", false),
        ("", true),
    ] {
        let r = edge.get(&with_ip(&format!("{MLS}{q}"), SE_CLIENT));
        let want = if on {
            SE_HEADER.to_string()
        } else {
            "# repo = fedora-40 arch = x86_64 country = SE country = global ".to_string()
        };
        rep.se_list("E20", &format!("netblock {q:?}"), &r, &want);
    }
    let v = edge.explain(&with_ip(&format!("{MLS}&netblock=0"), DE_PRIVATE_CLIENT));
    rep.ok(
        "E20",
        !placed_names(&v).iter().any(|n| n == HOST_DE_PRIVATE),
        || {
            format!(
                "netblock=0 from {DE_PRIVATE_CLIENT}: the private host must not be placed: {:?}",
                placed_names(&v)
            )
        },
    );

    // E21: protocol.
    rep.plain(
        "E21",
        edge,
        &format!("{MLS}&protocol=gopher"),
        400,
        r#"error: invalid protocol "gopher": use http, https, ftp or rsync"#,
    );
    rep.plain(
        "E21",
        edge,
        &format!("{MLS}&protocol=https,HTTPx"),
        400,
        r#"error: invalid protocol "HTTPx": use http, https, ftp or rsync"#,
    );
    let r = edge.get(&with_ip(&format!("{MLS}&protocol="), SE_CLIENT));
    rep.se_list("E21", "protocol= (absent)", &r, SE_HEADER);
    let r = edge.get(&with_ip(&format!("{MLS}&protocol=,,"), SE_CLIENT));
    rep.se_list("E21", "protocol=,, (absent)", &r, SE_HEADER);
    let r = edge.get(&with_ip(
        &format!("{MLS}&protocol=HTTPS,https,,RSYNC"),
        SE_CLIENT,
    ));
    rep.resp(
        "E21",
        "protocol=HTTPS,https,,RSYNC",
        &r,
        200,
        TEXT,
        Some(&format!(
            "{SE_HEADER}protocol = https,rsync\n{SE_URL}\nrsync://mirror.example.edu/fedora/linux/releases/40/Everything/x86_64/os/\n"
        )),
    );
    let v = edge.explain(&with_ip(
        &format!("{MLS}&protocol=Rsync,FTP,rsync"),
        SE_CLIENT,
    ));
    rep.eq(
        "E21",
        "protocol=Rsync,FTP,rsync: parameters.protocol",
        &v["request"]["parameters"]["protocol"],
        &json!(["rsync", "ftp"]),
    );

    // E22: flags.
    let base = with_ip(MLS, SE_CLIENT);
    let r = edge.get(&format!("{base}&redirect=0"));
    rep.se_list("E22", "redirect=0", &r, SE_HEADER);
    for q in ["redirect=1", "redirect=", "redirect=no", "redirect"] {
        let r = edge.get(&format!("{base}&{q}"));
        rep.resp("E22", q, &r, 302, TEXT, Some(""));
        rep.eq(
            "E22",
            &format!("{q}: Location"),
            r.header("location"),
            Some(SE_URL),
        );
    }
    let r = edge.get(&format!("{}&redirect=1", with_ip(ML, SE_CLIENT)));
    rep.resp("E22", "/metalink redirect=1 (ignored)", &r, 200, ML3, None);
    let r = edge.get(&format!("{base}&time=0"));
    rep.se_list("E22", "time=0", &r, SE_HEADER);
    for q in ["time=1", "time=yes", "time="] {
        let r = edge.get(&format!("{base}&{q}"));
        rep.se_list(
            "E22",
            q,
            &r,
            &format!("{SE_HEADER}\n# database creation time: {CREATED_AT}"),
        );
    }
    for q in ["explain=0", "explain=true", "explain=", "explain=01"] {
        let r = edge.get(&format!("{base}&{q}"));
        rep.se_list("E22", q, &r, SE_HEADER);
    }
    let r = edge.get(&format!("{base}&explain=1"));
    rep.resp("E22", "explain=1", &r, 200, JSON, None);

    // E23: presence.
    let r = edge.get("/metalink?arch=x86_64");
    rep.failure_v3("E23", "/metalink?arch=x86_64", &r, 400, PRESENCE);
    let r = edge.request("GET", "/metalink?repo=fedora-40", &[("Accept", ML4)]);
    rep.failure_v4("E23", "/metalink?repo=fedora-40 (v4)", &r, 400, PRESENCE);
    for t in [
        "/mirrorlist?arch=x86_64",
        "/mirrorlist?repo=fedora-40",
        "/mirrorlist",
        "/mirrorlist?",
        "/mirrorlist?country=se",
    ] {
        rep.plain("E23", edge, t, 400, PRESENCE);
    }
    rep.finish();
}

#[test]
fn e24_countme() {
    let edge = Fixture::new().start();
    let mut rep = Report::new("E24");
    let repo = [("repo", "fedora-40"), ("arch", "x86_64")];
    let before = edge.metrics();
    let req0 = metric_sum(&before, "mirrorfleet_edge_requests_by_repo_total", &repo);
    let cm0 = metric_sum(&before, "mirrorfleet_edge_countme_total", &repo);
    let inv0 = metric_sum(&before, "mirrorfleet_edge_countme_invalid_total", &[]);
    let t = with_ip(&format!("{MLS}&countme=7"), SE_CLIENT);
    let r = edge.get(&t);
    rep.se_list("E24", &t, &r, SE_HEADER);
    let after = edge.metrics();
    rep.eq(
        "E24",
        "requests_by_repo_total{fedora-40,x86_64} increase",
        metric_sum(&after, "mirrorfleet_edge_requests_by_repo_total", &repo) - req0,
        1.0,
    );
    rep.eq(
        "E24",
        "countme_total{fedora-40,x86_64} increase",
        metric_sum(&after, "mirrorfleet_edge_countme_total", &repo) - cm0,
        0.0,
    );
    rep.eq(
        "E24",
        "countme_invalid_total increase",
        metric_sum(&after, "mirrorfleet_edge_countme_invalid_total", &[]) - inv0,
        1.0,
    );
    for q in [
        "countme=0",
        "countme=abc",
        "countme=",
        "countme=5",
        "countme=-1",
        "countme=99999999999999999999",
    ] {
        let t = with_ip(&format!("{ML}&{q}"), SE_CLIENT);
        let r = edge.get(&t);
        rep.resp("E24", &t, &r, 200, ML3, None);
    }
    rep.finish();
}

#[test]
fn e25_metalink_version_negotiation() {
    let edge = standard_edge();
    let mut rep = Report::new("E25");
    let t = with_ip(ML, SE_CLIENT);
    for (accept, v4) in [
        (Some("application/metalink4+xml"), true),
        (Some("*/*"), false),
        (
            Some("application/metalink+xml, application/metalink4+xml;q=0.5"),
            false,
        ),
        (None, false),
        (Some("APPLICATION/Metalink4+XML"), true),
        (Some("application/metalink4+xml;q=0"), false),
        (Some("application/metalink4+xml; q=0.000"), false),
        (Some("application/*"), false),
        (Some("application/*, */*;q=0.1"), false),
        (
            Some("application/metalink4+xml, application/metalink+xml;q=0.9"),
            true,
        ),
        (
            Some("application/metalink+xml;q=0.5, application/metalink4+xml;q=0.5"),
            true,
        ),
        (
            Some("application/metalink+xml;q=0.6, application/metalink4+xml;q=0.5"),
            false,
        ),
        (
            Some("text/html, application/metalink4+xml;q=0.3, */*;q=0.1"),
            true,
        ),
        (Some(";;;===,,,"), false),
        (Some(""), false),
    ] {
        let headers: Vec<(&str, &str)> = accept.map(|a| vec![("Accept", a)]).unwrap_or_default();
        let label = format!("Accept: {accept:?}");
        let r = edge.request("GET", &t, &headers);
        if v4 {
            rep.resp("E25", &label, &r, 200, ML4, None);
            rep.ok(
                "E25",
                r.text().starts_with(&format!("{ML4_DECL}\n{ML4_OPEN}\n")),
                || format!("{label}: not a metalink 4 body: {}", show(&r)),
            );
        } else {
            rep.resp("E25", &label, &r, 200, ML3, None);
            rep.ok(
                "E25",
                r.text().starts_with(&format!("{ML3_DECL}\n{ML3_OPEN_A}")),
                || format!("{label}: not a metalink 3 body: {}", show(&r)),
            );
        }
    }
    let r = edge.request("GET", &with_ip(MLS, SE_CLIENT), &[("Accept", ML4)]);
    rep.se_list("E25", "/mirrorlist with Accept v4", &r, SE_HEADER);
    rep.finish();
}

// ---------------------------------------------------------------------------------------------
// §4 Client address
// ---------------------------------------------------------------------------------------------

#[test]
fn e26_ipv4_mapped_addresses() {
    let v6_port = free_port();
    let edge = Fixture::new()
        .trusted_proxies(&["127.0.0.0/8"])
        .arg("--listen")
        .arg(format!("[::]:{v6_port}"))
        .start();
    let mut rep = Report::new("E26");
    let dual: SocketAddr = format!("127.0.0.1:{v6_port}").parse().unwrap();
    let get = |rep: &mut Report, target: &str, headers: &[(&str, &str)]| -> Option<HttpResponse> {
        match raw_at(dual, &request_bytes(&dual, "GET", target, headers, None)) {
            Ok(r) => Some(r),
            Err(e) => {
                rep.fail(
                    "E26",
                    format!("GET {target} via [::]:{v6_port}: {e}\n{}", edge.logs()),
                );
                None
            }
        }
    };
    let parse = |r: &HttpResponse| serde_json::from_slice::<Value>(&r.body).unwrap_or(Value::Null);

    // The peer is ::ffff:127.0.0.1 on the dual-stack socket: normalised, it is 127.0.0.1,
    // in ip_param_networks and metrics.allow.
    if let Some(r) = get(&mut rep, &format!("{MLS}&explain=1"), &[]) {
        let v = parse(&r);
        rep.eq(
            "E26",
            "peer ::ffff:127.0.0.1: client.requester",
            &v["client"]["requester"],
            &json!("127.0.0.1"),
        );
        rep.eq(
            "E26",
            "peer ::ffff:127.0.0.1: client.address",
            &v["client"]["address"],
            &json!("127.0.0.1"),
        );
        rep.eq(
            "E26",
            "peer ::ffff:127.0.0.1: client.family",
            &v["client"]["family"],
            &json!("ipv4"),
        );
    }
    if let Some(r) = get(&mut rep, &format!("{MLS}&ip={SE_CLIENT}"), &[]) {
        rep.se_list("E26", "peer ::ffff:127.0.0.1, ip=SE client", &r, SE_HEADER);
    }
    if let Some(r) = get(&mut rep, "/metrics", &[]) {
        rep.eq(
            "E26",
            "peer ::ffff:127.0.0.1: /metrics status",
            r.status,
            200,
        );
    }
    // Mapped addresses in ip= and X-Forwarded-For: as for 192.0.2.10.
    if let Some(r) = get(&mut rep, &format!("{MLS}&ip=::ffff:192.0.2.10"), &[]) {
        rep.se_list("E26", "ip=::ffff:192.0.2.10", &r, SE_HEADER);
    }
    if let Some(r) = get(&mut rep, &format!("{MLS}&ip=%3A%3Affff%3Ac000%3A020a"), &[]) {
        rep.se_list("E26", "ip=::ffff:c000:020a", &r, SE_HEADER);
    }
    if let Some(r) = get(&mut rep, MLS, &[("X-Forwarded-For", "::ffff:192.0.2.10")]) {
        rep.se_list("E26", "XFF ::ffff:192.0.2.10", &r, SE_HEADER);
    }
    if let Some(r) = get(
        &mut rep,
        MLS,
        &[("X-Forwarded-For", "[::ffff:192.0.2.10]:8080")],
    ) {
        rep.se_list("E26", "XFF [::ffff:192.0.2.10]:8080", &r, SE_HEADER);
    }
    if let Some(r) = get(
        &mut rep,
        &format!("{MLS}&explain=1&ip=::ffff:192.0.2.10"),
        &[],
    ) {
        let v = parse(&r);
        rep.eq(
            "E26",
            "ip=::ffff:192.0.2.10: client.address",
            &v["client"]["address"],
            &json!("192.0.2.10"),
        );
        rep.eq(
            "E26",
            "ip=::ffff:192.0.2.10: client.family",
            &v["client"]["family"],
            &json!("ipv4"),
        );
        rep.location("E26", "ip=::ffff:192.0.2.10", &v, &[("asn", &json!(64500))]);
    }
    // XFF naming a mapped trusted proxy is skipped like the IPv4 one.
    if let Some(r) = get(
        &mut rep,
        &format!("{MLS}&explain=1"),
        &[("X-Forwarded-For", "192.0.2.10, ::ffff:127.0.0.5")],
    ) {
        let v = parse(&r);
        rep.eq(
            "E26",
            "XFF 192.0.2.10, ::ffff:127.0.0.5: client.address",
            &v["client"]["address"],
            &json!("192.0.2.10"),
        );
    }
    rep.finish();
}

#[test]
fn e27_x_forwarded_for() {
    let edge = trusting_edge();
    let mut rep = Report::new("E27");
    let client_of = |headers: &[(&str, &str)]| -> Value {
        let r = edge.request("GET", &format!("{MLS}&explain=1"), headers);
        serde_json::from_slice::<Value>(&r.body)
            .unwrap_or_else(|_| json!({"status": r.status, "body": r.text()}))
    };
    #[allow(clippy::type_complexity)] // a table: headers, request, expected status, expected text
    let cases: &[(&[(&str, &str)], &str, &str, &str)] = &[
        // headers, client.address, client.source, x_forwarded_for event
        (
            &[("X-Forwarded-For", "203.0.113.5,192.0.2.10")],
            "192.0.2.10",
            "x_forwarded_for",
            "used",
        ),
        (
            &[("X-Forwarded-For", "192.0.2.10, 10.0.0.7")],
            "192.0.2.10",
            "x_forwarded_for",
            "used",
        ),
        (
            &[("X-Forwarded-For", "203.0.113.5")],
            "203.0.113.5",
            "x_forwarded_for",
            "used",
        ),
        (
            &[("X-Forwarded-For", "[2001:db8:2000::1]:443")],
            "2001:db8:2000::1",
            "x_forwarded_for",
            "used",
        ),
        (
            &[("X-Forwarded-For", "203.0.113.5:80")],
            "203.0.113.5",
            "x_forwarded_for",
            "used",
        ),
        (
            &[("X-Forwarded-For", "[2001:db8::5]")],
            "2001:db8::5",
            "x_forwarded_for",
            "used",
        ),
        (
            &[("X-Forwarded-For", "2001:db8::5")],
            "2001:db8::5",
            "x_forwarded_for",
            "used",
        ),
        (
            &[("X-Forwarded-For", " \t192.0.2.10\t , \t10.0.0.9 ")],
            "192.0.2.10",
            "x_forwarded_for",
            "used",
        ),
        (
            &[("X-Forwarded-For", "10.0.0.1, 10.0.0.2, 127.0.0.9")],
            "10.0.0.1",
            "x_forwarded_for",
            "used",
        ),
        (
            &[
                ("X-Forwarded-For", "203.0.113.5"),
                ("X-Forwarded-For", "192.0.2.10"),
            ],
            "192.0.2.10",
            "x_forwarded_for",
            "used",
        ),
        (
            &[
                ("X-Forwarded-For", "192.0.2.10"),
                ("X-Forwarded-For", "10.0.0.7"),
            ],
            "192.0.2.10",
            "x_forwarded_for",
            "used",
        ),
        (
            &[("X-Forwarded-For", "garbage, 192.0.2.10")],
            "192.0.2.10",
            "x_forwarded_for",
            "used",
        ),
        // Malformed: the requester is the peer.
        (
            &[("X-Forwarded-For", "unknown")],
            "127.0.0.1",
            "peer",
            "malformed",
        ),
        (
            &[("X-Forwarded-For", "192.0.2.10, unknown")],
            "127.0.0.1",
            "peer",
            "malformed",
        ),
        (
            &[("X-Forwarded-For", "fe80::1%eth0")],
            "127.0.0.1",
            "peer",
            "malformed",
        ),
        (
            &[("X-Forwarded-For", "192.0.2.10,")],
            "127.0.0.1",
            "peer",
            "malformed",
        ),
        (
            &[("X-Forwarded-For", "192.0.2.10:")],
            "127.0.0.1",
            "peer",
            "malformed",
        ),
        (
            &[("X-Forwarded-For", "[192.0.2.10]")],
            "127.0.0.1",
            "peer",
            "malformed",
        ),
        (
            &[("X-Forwarded-For", "2001:db8::5:443")],
            "2001:db8::5:443",
            "x_forwarded_for",
            "used",
        ),
        (
            &[("Forwarded", "for=192.0.2.10"), ("X-Real-IP", "192.0.2.10")],
            "127.0.0.1",
            "peer",
            "absent",
        ),
    ];
    for (headers, address, source, event) in cases {
        let v = client_of(headers);
        let label = format!("trusted peer, {headers:?}");
        rep.eq(
            "E27",
            &format!("{label}: client.address"),
            &v["client"]["address"],
            &json!(address),
        );
        rep.eq(
            "E27",
            &format!("{label}: client.source"),
            &v["client"]["source"],
            &json!(source),
        );
        rep.eq(
            "E27",
            &format!("{label}: client.x_forwarded_for"),
            &v["client"]["x_forwarded_for"],
            &json!(event),
        );
    }
    // 40 trusted elements: the walk passes 32 → malformed.
    let forty = vec!["10.0.0.1"; 40].join(", ");
    let v = client_of(&[("X-Forwarded-For", &forty)]);
    rep.eq(
        "E27",
        "40 trusted elements: client.address",
        &v["client"]["address"],
        &json!("127.0.0.1"),
    );
    rep.eq(
        "E27",
        "40 trusted elements: client.x_forwarded_for",
        &v["client"]["x_forwarded_for"],
        &json!("malformed"),
    );
    // 31 trusted + 1 untrusted is within the bound.
    let mut near: Vec<&str> = vec!["192.0.2.10"];
    near.extend(vec!["10.0.0.1"; 31]);
    let v = client_of(&[("X-Forwarded-For", &near.join(","))]);
    rep.eq(
        "E27",
        "31 trusted elements after 192.0.2.10: client.address",
        &v["client"]["address"],
        &json!("192.0.2.10"),
    );
    // Bytes C3 A9 in the header: answered, client = peer, malformed.
    let host = edge.addr().to_string();
    let mut raw = format!("GET {MLS}&explain=1 HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nX-Forwarded-For: 192.0.2.10").into_bytes();
    raw.extend_from_slice(b"\xC3\xA9\r\n\r\n");
    match raw_at(edge.addr(), &raw) {
        Ok(r) => {
            rep.resp("E27", "XFF with bytes C3 A9", &r, 200, JSON, None);
            let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
            rep.eq(
                "E27",
                "XFF with bytes C3 A9: client.address",
                &v["client"]["address"],
                &json!("127.0.0.1"),
            );
            rep.eq(
                "E27",
                "XFF with bytes C3 A9: client.x_forwarded_for",
                &v["client"]["x_forwarded_for"],
                &json!("malformed"),
            );
        }
        Err(e) => rep.fail("E27", format!("XFF with bytes C3 A9: no answer: {e}")),
    }
    // The plain answer follows the forwarded client.
    let r = edge.request(
        "GET",
        MLS,
        &[("X-Forwarded-For", "203.0.113.5, 192.0.2.10")],
    );
    rep.se_list("E27", "XFF 203.0.113.5, 192.0.2.10 (plain)", &r, SE_HEADER);

    // Untrusted peer: ignored, requester = peer.
    let std = standard_edge();
    let r = std.request(
        "GET",
        &format!("{MLS}&explain=1"),
        &[("X-Forwarded-For", "203.0.113.5")],
    );
    let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    rep.eq(
        "E27",
        "untrusted peer, XFF 203.0.113.5: client.address",
        &v["client"]["address"],
        &json!("127.0.0.1"),
    );
    rep.eq(
        "E27",
        "untrusted peer, XFF 203.0.113.5: client.source",
        &v["client"]["source"],
        &json!("peer"),
    );
    rep.eq(
        "E27",
        "untrusted peer, XFF 203.0.113.5: client.x_forwarded_for",
        &v["client"]["x_forwarded_for"],
        &json!("untrusted_peer"),
    );
    rep.finish();
}

#[test]
fn e27_e28_events_counted() {
    let mut rep = Report::new("E27/E28 metrics");
    let ev = |source: &'static str, event: &'static str| [("source", source), ("event", event)];
    let name = "mirrorfleet_edge_client_address_events_total";

    // Untrusted peer and ip= not allowed: an edge with neither list.
    let edge = Fixture::new().ip_param_networks(&[]).start();
    let before = edge.metrics();
    let r = edge.request("GET", MLS, &[("X-Forwarded-For", US_CLIENT)]);
    rep.resp(
        "E27",
        "untrusted peer, XFF 203.0.113.5",
        &r,
        200,
        TEXT,
        None,
    );
    let v = edge.explain(&format!("{MLS}&ip=192.0.2.10"));
    rep.eq(
        "E28",
        "untrusted requester, ip=192.0.2.10: client.address",
        &v["client"]["address"],
        &json!("127.0.0.1"),
    );
    rep.eq(
        "E28",
        "untrusted requester, ip=192.0.2.10: client.ip_param",
        &v["client"]["ip_param"],
        &json!("not_allowed"),
    );
    let r = edge.get(&format!("{MLS}&ip=192.0.2.10"));
    rep.resp(
        "E28",
        "untrusted requester, ip=192.0.2.10",
        &r,
        200,
        TEXT,
        None,
    );
    rep.ok(
        "E28",
        !first_line(&r).contains("Using preferred netblock"),
        || {
            format!(
                "untrusted requester, ip=192.0.2.10: answered for 192.0.2.10: {}",
                show(&r)
            )
        },
    );
    for q in ["ip=banana", "ip=%0A", "ip=[::1]:80"] {
        let r = edge.get(&format!("{MLS}&{q}"));
        rep.resp(
            "E28",
            &format!("untrusted requester, {q} (ignored)"),
            &r,
            200,
            TEXT,
            None,
        );
    }
    let after = edge.metrics();
    let d = |src, e| metric_sum(&after, name, &ev(src, e)) - metric_sum(&before, name, &ev(src, e));
    rep.ok("E27", d("x_forwarded_for", "untrusted_peer") >= 1.0, || {
        format!("{name}{{source=x_forwarded_for,event=untrusted_peer}} did not grow")
    });
    rep.ok("E28", d("ip_param", "not_allowed") >= 4.0, || {
        format!("{name}{{source=ip_param,event=not_allowed}} grew by {}, expected ≥ 4 (explain may not count)", d("ip_param", "not_allowed"))
    });

    // Malformed and used on a trusting edge.
    let edge = Fixture::new().trusted_proxies(&["127.0.0.0/8"]).start();
    let before = edge.metrics();
    let r = edge.request("GET", MLS, &[("X-Forwarded-For", "unknown")]);
    rep.resp("E27", "trusted peer, XFF unknown", &r, 200, TEXT, None);
    let host = edge.addr().to_string();
    let mut raw =
        format!("GET {MLS} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nX-Forwarded-For: ")
            .into_bytes();
    raw.extend_from_slice(b"\xC3\xA9\r\n\r\n");
    match raw_at(edge.addr(), &raw) {
        Ok(r) => rep.resp("E27", "trusted peer, XFF C3 A9", &r, 200, TEXT, None),
        Err(e) => rep.fail("E27", format!("trusted peer, XFF C3 A9: no answer: {e}")),
    }
    let r = edge.request("GET", MLS, &[("X-Forwarded-For", SE_CLIENT)]);
    rep.se_list("E27", "trusted peer, XFF SE client", &r, SE_HEADER);
    let after = edge.metrics();
    let d = |src, e| metric_sum(&after, name, &ev(src, e)) - metric_sum(&before, name, &ev(src, e));
    rep.eq(
        "E27",
        &format!("{name}{{x_forwarded_for,malformed}} increase"),
        d("x_forwarded_for", "malformed"),
        2.0,
    );
    rep.eq(
        "E27",
        &format!("{name}{{x_forwarded_for,used}} increase"),
        d("x_forwarded_for", "used"),
        1.0,
    );
    rep.finish();
}

#[test]
fn e28_ip_parameter() {
    let edge = standard_edge();
    let mut rep = Report::new("E28");
    for v in [
        "banana",
        "[::1]",
        "192.0.2.10:80",
        "192.0.2.10/24",
        "192.0.2",
        "1.2.3.4.5",
        "fe80::1%25eth0",
        "%20192.0.2.10",
    ] {
        let shown = v.replace("%25", "%").replace("%20", " ");
        rep.plain(
            "E28",
            edge,
            &format!("{MLS}&ip={v}"),
            400,
            &format!(r#"error: invalid ip "{shown}""#),
        );
    }
    let r = edge.get("/metalink?repo=fedora-40&arch=x86_64&ip=banana");
    rep.failure_v3(
        "E28",
        "/metalink … ip=banana",
        &r,
        400,
        r#"error: invalid ip "banana""#,
    );
    for (ip, addr, family) in [
        ("192.0.2.10", "192.0.2.10", "ipv4"),
        ("2001:db8:2000::1", "2001:db8:2000::1", "ipv6"),
        ("2001:DB8:2000:0::1", "2001:db8:2000::1", "ipv6"),
    ] {
        let v = edge.explain(&format!("{MLS}&ip={ip}"));
        rep.eq(
            "E28",
            &format!("ip={ip}: client.address"),
            &v["client"]["address"],
            &json!(addr),
        );
        rep.eq(
            "E28",
            &format!("ip={ip}: client.source"),
            &v["client"]["source"],
            &json!("ip_param"),
        );
        rep.eq(
            "E28",
            &format!("ip={ip}: client.ip_param"),
            &v["client"]["ip_param"],
            &json!("used"),
        );
        rep.eq(
            "E28",
            &format!("ip={ip}: client.family"),
            &v["client"]["family"],
            &json!(family),
        );
    }
    rep.finish();
}

#[test]
fn e28_ip_parameter_behind_a_proxy() {
    // The requester (after E27) decides, not the peer.
    let edge = shared("protocol: proxy and ip", || {
        Fixture::new()
            .trusted_proxies(&["127.0.0.0/8"])
            .ip_param_networks(&["10.0.0.0/8"])
    });
    let mut rep = Report::new("E28 (behind a proxy)");
    let ask = |xff: &str, ip: &str| -> Value {
        let r = edge.request(
            "GET",
            &format!("{MLS}&explain=1&ip={ip}"),
            &[("X-Forwarded-For", xff)],
        );
        serde_json::from_slice(&r.body)
            .unwrap_or_else(|_| json!({"status": r.status, "body": r.text()}))
    };
    let v = ask("10.0.0.5", SE_CLIENT);
    rep.eq(
        "E28",
        "requester 10.0.0.5 (allowed), ip=SE: client.address",
        &v["client"]["address"],
        &json!(SE_CLIENT),
    );
    rep.eq(
        "E28",
        "requester 10.0.0.5 (allowed), ip=SE: client.requester",
        &v["client"]["requester"],
        &json!("10.0.0.5"),
    );
    rep.eq(
        "E28",
        "requester 10.0.0.5 (allowed), ip=SE: client.source",
        &v["client"]["source"],
        &json!("ip_param"),
    );
    let v = ask(US_CLIENT, SE_CLIENT);
    rep.eq(
        "E28",
        "requester 203.0.113.5 (not allowed), ip=SE: client.address",
        &v["client"]["address"],
        &json!(US_CLIENT),
    );
    rep.eq(
        "E28",
        "requester 203.0.113.5 (not allowed), ip=SE: client.ip_param",
        &v["client"]["ip_param"],
        &json!("not_allowed"),
    );
    let v = edge.explain(&format!("{MLS}&ip={SE_CLIENT}"));
    rep.eq(
        "E28",
        "requester 127.0.0.1 (not allowed here), ip=SE: client.address",
        &v["client"]["address"],
        &json!("127.0.0.1"),
    );
    let r = edge.request(
        "GET",
        &format!("{MLS}&ip=banana"),
        &[("X-Forwarded-For", "10.0.0.5")],
    );
    rep.resp(
        "E28",
        "requester 10.0.0.5 (allowed), ip=banana",
        &r,
        400,
        TEXT,
        Some("error: invalid ip \"banana\"\n"),
    );
    rep.finish();
}

/// A small deterministic generator (SplitMix64).
struct Gen(u64);
impl Gen {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn e29_no_failure_from_addresses() {
    let edge = trusting_edge();
    let mut rep = Report::new("E29");
    let tokens: &[&[u8]] = &[
        b"192.0.2.10",
        b"10.0.0.1",
        b"127.0.0.1",
        b"::1",
        b"::ffff:192.0.2.10",
        b"[",
        b"]",
        b":",
        b",",
        b" ",
        b"\t",
        b".",
        b"0",
        b"255",
        b"256",
        b"99999999999",
        b"2001:db8::",
        b"fe80::1%eth0",
        b"unknown",
        b"[::1]:80",
        b":65536",
        b"\xC3\xA9",
        b"\xFF",
        b"\x01",
        b"a",
        b"-",
        b"%",
        b"::",
        b":::",
        b"1.2.3.4:0",
        b"[2001:db8::1]:",
        b"::192.0.2.10",
        b"64:ff9b::192.0.2.10",
        b"0x7f.1",
        b"017.0.0.1",
    ];
    let mut g = Gen(0xE29);
    for i in 0..400 {
        let mut value = Vec::new();
        let n = 1 + g.below(if i % 20 == 0 { 200 } else { 8 });
        for _ in 0..n {
            value.extend_from_slice(tokens[g.below(tokens.len())]);
        }
        let host = edge.addr().to_string();
        let (raw, what) = if i % 2 == 0 {
            let mut raw = format!(
                "GET {MLS} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nX-Forwarded-For: "
            )
            .into_bytes();
            raw.extend_from_slice(&value);
            raw.extend_from_slice(b"\r\n\r\n");
            (raw, format!("XFF {:?}", String::from_utf8_lossy(&value)))
        } else {
            let t = format!("{MLS}&ip={}", pct(&value));
            (
                request_bytes(&edge.addr(), "GET", &t, &[], None),
                format!("ip={:?}", String::from_utf8_lossy(&value)),
            )
        };
        match raw_at(edge.addr(), &raw) {
            Ok(r) => rep.ok("E29", r.status == 200 || r.status == 400, || {
                format!("{what}: {}", show(&r))
            }),
            Err(e) => rep.fail("E29", format!("{what}: no answer ({e})")),
        }
    }
    // IPv4-compatible and NAT64 addresses are not translated.
    for ip in ["::192.0.2.10", "64:ff9b::192.0.2.10", "::c000:20a"] {
        let v = edge.explain(&format!("{MLS}&ip={ip}"));
        rep.eq(
            "E29",
            &format!("ip={ip}: client.family"),
            &v["client"]["family"],
            &json!("ipv6"),
        );
        rep.location("E29", &format!("ip={ip}"), &v, &[("asn", &Value::Null)]);
        rep.ok(
            "E29",
            !words(&v).contains("Using preferred netblock"),
            || format!("ip={ip}: netblock tier used: {}", words(&v)),
        );
    }
    // The edge is still there.
    let r = edge.get("/healthz");
    rep.resp(
        "E29",
        "/healthz after the fuzzing",
        &r,
        200,
        TEXT,
        Some("ok\n"),
    );
    rep.finish();
}

// ---------------------------------------------------------------------------------------------
// §5 Resolution
// ---------------------------------------------------------------------------------------------

fn unknown_message(repo: &str, arch: &str, entries: &[(&str, &str)]) -> String {
    let mut sorted: Vec<(&str, &str)> = entries.to_vec();
    sorted.sort();
    let mut m = format!(
        "# repo = {repo} arch = {arch} error: invalid repo or arch\n# following repositories are available:\n"
    );
    for (p, a) in sorted {
        m.push_str(&format!("# repo={p}&arch={a}\n"));
    }
    m
}

/// E35: `repo=nope` on both endpoints: 404 with `msg`, as a plain line and as a metalink 3
/// failure document.
fn unknown_repo_nope(rep: &mut Report, edge: &Edge, msg: &str) {
    let t = "/mirrorlist?repo=nope&arch=x86_64";
    rep.plain("E35", edge, t, 404, msg.trim_end_matches('\n'));
    let t = "/metalink?repo=nope&arch=x86_64";
    let r = edge.get(t);
    rep.failure_v3("E35", t, &r, 404, msg);
}

const STANDARD_MAP: &[(&str, &str)] = &[
    ("fedora-40", "x86_64"),
    ("fedora-40", "aarch64"),
    ("updates-released-f40", "x86_64"),
    ("epel-9", "x86_64"),
];

#[test]
fn e30_e36_resolution_standard() {
    let edge = standard_edge();
    let mut rep = Report::new("E30–E36 (standard fixture)");
    let se = |t: &str| with_ip(t, SE_CLIENT);
    let epel_url = "https://mirror.example.edu/epel/9/Everything/x86_64/";

    // E30: redirect, then the map.
    let want = format!(
        "# repo = epel-9 arch = x86_64 Using preferred netblock Using ASN 64500 country = SE country = global \n{epel_url}\n"
    );
    for t in [
        "/mirrorlist?repo=epel-9.4&arch=x86_64",
        "/mirrorlist?repo=epel-9&arch=x86_64",
    ] {
        let r = edge.get(&se(t));
        rep.resp("E30", t, &r, 200, TEXT, Some(&want));
    }
    let r = edge.get(&se("/metalink?repo=epel-9.4&arch=x86_64"));
    rep.resp("E30", "/metalink?repo=epel-9.4", &r, 200, ML3, None);
    rep.ok(
        "E30",
        r.text()
            .contains(&format!("{epel_url}repodata/repomd.xml</url>"))
            && r.text()
                .contains("0a427eacd126174c038a013a1eafbfe513e361ef8da734f65a669a5dd98c3174"),
        || format!("/metalink?repo=epel-9.4: not epel-9's repomd: {}", show(&r)),
    );
    let v = edge.explain(&se("/mirrorlist?repo=epel-9.4&arch=x86_64"));
    rep.eq(
        "E30",
        "epel-9.4: resolution.redirect",
        &v["resolution"]["redirect"],
        &json!("epel-9"),
    );
    rep.eq(
        "E30",
        "epel-9.4: resolution.repo",
        &v["resolution"]["repo"],
        &json!("epel-9"),
    );
    for arch in ["ppc64le", "x86_64", "source"] {
        rep.plain(
            "E30",
            edge,
            &format!("/mirrorlist?repo=fedora-39&arch={arch}"),
            200,
            "repo disabled",
        );
        let t = format!("/metalink?repo=fedora-39&arch={arch}");
        let r = edge.get(&t);
        rep.failure_v3("E30", &t, &r, 200, "repo disabled");
    }
    // No `source` entry: arch stays as asked, unknown.
    rep.plain(
        "E30",
        edge,
        "/mirrorlist?repo=fedora-40&arch=ppc64le",
        404,
        unknown_message("fedora-40", "ppc64le", STANDARD_MAP).trim_end_matches('\n'),
    );
    rep.plain(
        "E30",
        edge,
        "/mirrorlist?repo=Fedora-40&arch=x86_64",
        404,
        unknown_message("Fedora-40", "x86_64", STANDARD_MAP).trim_end_matches('\n'),
    );

    // E31: a file below an exported directory; a path nowhere.
    let t = "/mirrorlist?path=pub/fedora/linux/releases/40/Everything/x86_64/os/repodata/none.rpm";
    let r = edge.get(&se(t));
    rep.resp(
        "E31",
        t,
        &r,
        200,
        TEXT,
        Some(&format!(
            "# path = pub/fedora/linux/releases/40/Everything/x86_64/os/repodata/none.rpm Using preferred netblock Using ASN 64500 country = SE country = global \n{SE_URL}repodata/none.rpm\n"
        )),
    );
    for t in [
        "/mirrorlist?path=pub/nothing/x",
        "/mirrorlist?path=pub/nothing",
        "/mirrorlist?path=pub/fedora/linux/releases/41/x/y",
    ] {
        rep.plain("E31", edge, t, 404, "error: invalid path");
        // E36: "path not found" on /metalink too (E31 resolves before E32 asks for details).
        let m = t.replace("/mirrorlist", "/metalink");
        let r = edge.get(&m);
        rep.failure_v3("E31/E36", &m, &r, 404, "error: invalid path");
    }
    let t = "/metalink?path=pub/fedora/linux/releases/40/Everything/x86_64/os/repodata/repomd.xml";
    let r = edge.get(&se(t));
    rep.resp("E31", t, &r, 200, ML3, None);
    rep.ok(
        "E31",
        r.text()
            .contains(&format!(">{SE_URL}repodata/repomd.xml</url>")),
        || format!("{t}: {}", show(&r)),
    );

    // E32: metalink needs file details.
    let d = "pub/fedora/linux/releases/40/Everything/x86_64/os";
    for (t, msg) in [
        (
            format!("/metalink?path={d}/repodata/none.rpm"),
            format!("{d}/repodata/none.rpm not found or has no metalink"),
        ),
        (
            format!("/metalink?path={d}"),
            format!("{d}/ not found or has no metalink"),
        ),
        (
            format!("/metalink?path={d}/none.rpm"),
            format!("{d}/none.rpm not found or has no metalink"),
        ),
    ] {
        let r = edge.get(&t);
        rep.failure_v3("E32", &t, &r, 404, &msg);
        let r = edge.request("GET", &t, &[("Accept", ML4)]);
        rep.failure_v4("E32", &format!("{t} (v4)"), &r, 404, &msg);
    }

    // E34: identity lines.
    let t = "/mirrorlist?path=pub/epel/9/Everything/x86_64/";
    let r = edge.get(&se(t));
    rep.resp("E34", t, &r, 200, TEXT, None);
    rep.eq(
        "E34",
        &format!("{t}: header starts"),
        first_line(&r).starts_with("# path = pub/epel/9/Everything/x86_64 "),
        true,
    );
    rep.eq("E34", &format!("{t}: header"), first_line(&r), "# path = pub/epel/9/Everything/x86_64 Using preferred netblock Using ASN 64500 country = SE country = global ".to_string());

    // E35, E36: unknown repository on both endpoints.
    let msg = unknown_message("nope", "x86_64", STANDARD_MAP);
    unknown_repo_nope(&mut rep, edge, &msg);
    let r = edge.request("GET", "/metalink?repo=nope&arch=x86_64", &[("Accept", ML4)]);
    rep.failure_v4("E36", "/metalink?repo=nope (v4)", &r, 404, &msg);
    let msg = unknown_message("a--b", "x86_64", STANDARD_MAP);
    let r = edge.get("/metalink?repo=a--b&arch=x86_64");
    rep.failure_v3("E36", "/metalink?repo=a--b", &r, 404, &msg);
    rep.ok("E36", r.text().contains("# repo = a- -b arch"), || {
        format!("repo=a--b: comment not escaped: {}", show(&r))
    });
    rep.finish();
}

#[test]
fn e30_e36_resolution_variants() {
    let edge = resolution_edge();
    let mut rep = Report::new("E30–E36 (resolution variant)");
    let se = |t: &str| with_ip(t, SE_CLIENT);
    let map: Vec<(&str, &str)> = vec![
        ("fedora-40", "x86_64"),
        ("fedora-40", "aarch64"),
        ("updates-released-f40", "x86_64"),
        ("epel-9", "x86_64"),
        ("opensource-1", "x86_64"),
        ("fedora-source-40", "source"),
        ("nohost-1", "x86_64"),
        ("norepodata", "x86_64"),
    ];
    let tail = "Using preferred netblock Using ASN 64500 country = SE country = global ";

    // E30 fix: a prefix containing `source` keeps its arch.
    let r = edge.get(&se("/mirrorlist?repo=opensource-1&arch=x86_64"));
    rep.resp(
        "E30",
        "repo=opensource-1&arch=x86_64",
        &r,
        200,
        TEXT,
        Some(&format!("# repo = opensource-1 arch = x86_64 {tail}\nhttps://mirror.example.edu/fedora/linux/opensource/1/x86_64/\n")),
    );
    let r = edge.get(&se("/metalink?repo=opensource-1&arch=x86_64"));
    rep.resp(
        "E30",
        "/metalink?repo=opensource-1&arch=x86_64",
        &r,
        200,
        ML3,
        None,
    );
    rep.ok("E30", r.text().contains(">https://mirror.example.edu/fedora/linux/opensource/1/x86_64/repodata/repomd.xml</url>"), || {
        format!("/metalink?repo=opensource-1: {}", show(&r))
    });
    rep.plain(
        "E30",
        edge,
        "/mirrorlist?repo=opensource-1&arch=source",
        404,
        unknown_message("opensource-1", "source", &map).trim_end_matches('\n'),
    );
    // E30: (prefix, source) exists only → arch becomes source.
    let want = format!(
        "# repo = fedora-source-40 arch = source {tail}\nhttps://mirror.example.edu/fedora/linux/releases/40/Everything/source/tree/\n"
    );
    for arch in ["x86_64", "aarch64", "source"] {
        let t = format!("/mirrorlist?repo=fedora-source-40&arch={arch}");
        let r = edge.get(&se(&t));
        rep.resp("E30", &t, &r, 200, TEXT, Some(&want));
    }
    let v = edge.explain(&se("/mirrorlist?repo=fedora-source-40&arch=x86_64"));
    rep.eq(
        "E30",
        "fedora-source-40/x86_64: resolution.arch",
        &v["resolution"]["arch"],
        &json!("source"),
    );
    rep.eq(
        "E30",
        "fedora-source-40/x86_64: resolution.source_rule",
        &v["resolution"]["source_rule"],
        &json!(true),
    );
    let r = edge.get(&se("/metalink?repo=fedora-source-40&arch=x86_64"));
    rep.resp(
        "E30",
        "/metalink?repo=fedora-source-40&arch=x86_64",
        &r,
        200,
        ML3,
        None,
    );
    rep.ok(
        "E30",
        r.text()
            .contains("releases/40/Everything/source/tree/repodata/repomd.xml</url>"),
        || format!("/metalink fedora-source-40: {}", show(&r)),
    );
    // E30: a disabled prefix with map entries answers "repo disabled" for every arch.
    for arch in ["x86_64", "ppc64le"] {
        rep.plain(
            "E30",
            edge,
            &format!("/mirrorlist?repo=updates-released-f40&arch={arch}"),
            200,
            "repo disabled",
        );
    }

    // E32 fix: repodata child not exported.
    let msg =
        "pub/fedora/linux/releases/40/Everything/repodata/repomd.xml not found or has no metalink";
    let r = edge.get(&se("/metalink?repo=norepodata&arch=x86_64"));
    rep.failure_v3("E32", "/metalink?repo=norepodata&arch=x86_64", &r, 404, msg);
    let r = edge.get(&se("/mirrorlist?repo=norepodata&arch=x86_64"));
    rep.resp("E32", "/mirrorlist?repo=norepodata", &r, 200, TEXT, None);
    rep.eq(
        "E32",
        "/mirrorlist?repo=norepodata: URLs",
        urls(&r),
        vec!["https://mirror.example.edu/fedora/linux/releases/40/Everything/".to_string()],
    );

    // E33: a known directory nobody carries.
    let r = edge.get(&se("/mirrorlist?repo=nohost-1&arch=x86_64"));
    rep.resp(
        "E33",
        "/mirrorlist?repo=nohost-1",
        &r,
        200,
        TEXT,
        Some("# repo = nohost-1 arch = x86_64 \n"),
    );
    let r = edge.get(&se("/mirrorlist?path=pub/epel/8/Everything/x86_64"));
    rep.resp(
        "E33",
        "/mirrorlist?path=pub/epel/8/Everything/x86_64",
        &r,
        200,
        TEXT,
        Some("# path = pub/epel/8/Everything/x86_64 \n"),
    );
    let r = edge.get(&se("/metalink?repo=nohost-1&arch=x86_64"));
    rep.resp("E33", "/metalink?repo=nohost-1", &r, 200, ML3, None);
    rep.ok(
        "E33",
        r.text()
            .contains("   <resources maxconnections=\"1\">\n   </resources>\n")
            && !r.text().contains("<url"),
        || format!("/metalink?repo=nohost-1: resources not empty: {}", show(&r)),
    );
    rep.ok("E33", r.text().contains("<hash type=\"sha256\">3333333333333333333333333333333333333333333333333333333333333333</hash>"), || {
        format!("/metalink?repo=nohost-1: no file details: {}", show(&r))
    });
    let r = edge.request(
        "GET",
        &se("/metalink?repo=nohost-1&arch=x86_64"),
        &[("Accept", ML4)],
    );
    rep.resp("E33", "/metalink?repo=nohost-1 (v4)", &r, 200, ML4, None);
    rep.ok("E33", !r.text().contains("<url"), || {
        format!("v4: {}", show(&r))
    });
    let r = edge.get(&se("/mirrorlist?repo=nohost-1&arch=x86_64&redirect=1"));
    rep.resp(
        "E33",
        "/mirrorlist?repo=nohost-1&redirect=1",
        &r,
        404,
        TEXT,
        Some("error: no http or https mirror for this request\n"),
    );

    // E35: every map entry, sorted, disabled prefix included, fedora-39 absent.
    let msg = unknown_message("nope", "x86_64", &map);
    unknown_repo_nope(&mut rep, edge, &msg);
    rep.finish();
}

// ---------------------------------------------------------------------------------------------
// §6 Client location
// ---------------------------------------------------------------------------------------------

#[test]
fn e37_country_override_without_geoip() {
    let edge = Fixture::new()
        .no_geoip()
        .netblock_country("192.0.2.0/28", "FR")
        .start();
    let mut rep = Report::new("E37 (no GeoIP)");
    let v = edge.explain(&with_ip(MLS, "192.0.2.1"));
    rep.location(
        "E37",
        "192.0.2.1",
        &v,
        &[
            ("country", &json!("FR")),
            ("country_source", &json!("netblock_country")),
            ("continent", &json!("EU")),
        ],
    );
    rep.ok("E37", !words(&v).contains("country = FR"), || {
        format!("192.0.2.1: a country tier for FR: {}", words(&v))
    });
    let r = edge.get(&with_ip(MLS, "192.0.2.1"));
    rep.se_list("E37", "192.0.2.1 mirrorlist", &r, SE_HEADER);
    // `country=` never changes c.
    let v = edge.explain(&with_ip(&format!("{MLS}&country=us"), "192.0.2.1"));
    rep.location(
        "E37",
        "192.0.2.1 country=us",
        &v,
        &[("country", &json!("FR"))],
    );
    // Outside the override, no GeoIP: unknown.
    let v = edge.explain(&with_ip(MLS, SE_CLIENT));
    rep.location(
        "E37",
        "192.0.2.200 without GeoIP",
        &v,
        &[
            ("country", &Value::Null),
            ("country_source", &Value::Null),
            ("continent", &Value::Null),
        ],
    );
    rep.finish();
}

/// GeoIP and overrides together, plus clients in IL, FR, JP and odd records.
fn geo_edge() -> &'static Edge {
    shared("protocol: geo", || {
        Fixture::new()
            .netblock_country("192.0.2.0/24", "DE")
            .netblock_country("192.0.2.0/28", "FR")
            .geoip("10.1.0.0/16", "se")
            .geoip("10.2.0.0/16", "SWE")
            .geoip_record(
                "10.3.0.0/16",
                json!({"city": {"geoname_id": 2673730, "names": {"en": "Stockholm"}},
                       "continent": {"code": "EU"},
                       "country": {"geoname_id": 2661886, "iso_code": "SE", "names": {"en": "Sweden"}},
                       "location": {"latitude": 59.3294, "longitude": 18.0686}}),
            )
            .geoip("10.4.0.0/16", "IL")
            .geoip("10.5.0.0/16", "FR")
            .geoip("10.6.0.0/16", "JP")
            .geoip_record("10.7.0.0/16", json!({"registered_country": {"iso_code": "SE"}}))
    })
}

#[test]
fn e37_e38_e40_location() {
    let edge = geo_edge();
    let mut rep = Report::new("E37, E38, E40");
    for (client, country, source) in [
        ("192.0.2.1", json!("FR"), json!("netblock_country")),
        ("192.0.2.100", json!("DE"), json!("netblock_country")),
        (US_CLIENT, json!("US"), json!("geoip")),
        ("10.1.2.3", json!("SE"), json!("geoip")),
        ("10.2.2.3", Value::Null, Value::Null),
        ("10.3.2.3", json!("SE"), json!("geoip")),
        ("10.7.2.3", Value::Null, Value::Null),
        (UNKNOWN_CLIENT, Value::Null, Value::Null),
        (SE_CLIENT_V6, json!("SE"), json!("geoip")),
    ] {
        let v = edge.explain(&with_ip(MLS, client));
        rep.location(
            "E37",
            client,
            &v,
            &[("country", &country), ("country_source", &source)],
        );
    }
    // E38: IL with the IL→EU override is in Europe: the continent tier holds the SE host.
    let v = edge.explain(&with_ip(MLS, "10.4.0.1"));
    rep.location("E38", "IL client", &v, &[("continent", &json!("EU"))]);
    rep.eq(
        "E38",
        "IL client: continent tier placed",
        tier(&v, "continent").map(|t| {
            t["placed"]
                .as_array()
                .map(|a| a.iter().map(|h| h["name"].clone()).collect::<Vec<_>>())
        }),
        Some(Some(vec![json!(HOST_SE)])),
    );
    let r = edge.get(&with_ip(MLS, "10.4.0.1"));
    rep.se_list(
        "E38",
        "IL client mirrorlist",
        &r,
        "# repo = fedora-40 arch = x86_64 country = SE country = global ",
    );
    for (client, continent) in [
        ("10.5.0.1", json!("EU")),
        ("10.6.0.1", json!("AS")),
        (US_CLIENT, json!("NA")),
        (UNKNOWN_CLIENT, Value::Null),
    ] {
        let v = edge.explain(&with_ip(MLS, client));
        rep.location("E38", client, &v, &[("continent", &continent)]);
    }
    // E40: a country without mirrors is served via its continent or the global list.
    let r = edge.get(&with_ip(MLS, "10.5.0.1"));
    rep.se_list(
        "E40",
        "FR client",
        &r,
        "# repo = fedora-40 arch = x86_64 country = SE country = global ",
    );
    let r = edge.get(&with_ip(MLS, "10.6.0.1"));
    rep.se_list(
        "E40",
        "JP client",
        &r,
        "# repo = fedora-40 arch = x86_64 country = global ",
    );
    let r = edge.get(&with_ip(ML, "10.6.0.1"));
    rep.resp("E40", "JP client metalink", &r, 200, ML3, None);
    rep.ok(
        "E40",
        r.text()
            .contains(&format!(">{SE_URL}repodata/repomd.xml</url>")),
        || format!("JP client metalink: {}", show(&r)),
    );
    rep.finish();
}

#[test]
fn e39_asn() {
    let mut rep = Report::new("E39");
    let std = standard_edge();
    let v = std.explain(&with_ip(MLS, SE_CLIENT));
    rep.location(
        "E39",
        "standard",
        &v,
        &[
            ("asn", &json!(64500)),
            ("asn_prefix", &json!("192.0.2.0/24")),
        ],
    );
    let v = std.explain(&with_ip(MLS, US_CLIENT));
    rep.location("E39", "203.0.113.5", &v, &[("asn", &Value::Null)]);

    let edge = shared("protocol: no ASN table", || Fixture::new().no_asn_table());
    let r = edge.get(&with_ip(MLS, SE_CLIENT));
    rep.se_list(
        "E39",
        "empty ASN table, SE client",
        &r,
        "# repo = fedora-40 arch = x86_64 Using preferred netblock country = SE country = global ",
    );
    let v = edge.explain(&with_ip(MLS, SE_CLIENT));
    rep.location("E39", "empty ASN table", &v, &[("asn", &Value::Null)]);
    rep.ok(
        "E39",
        tier(&v, "asn").is_none_or(|t| t["words"] == json!([]) && t["placed"] == json!([])),
        || format!("empty ASN table: an ASN tier: {:?}", tier(&v, "asn")),
    );
    let r = edge.get(&with_ip(ML, SE_CLIENT));
    rep.resp("E39", "empty ASN table, metalink", &r, 200, ML3, None);
    rep.finish();
}

#[test]
fn e38_country_without_continent() {
    // A located country absent from the country→continent table: k unknown, no continent
    // tier, the answer still served. (Every host country must have a continent, or the
    // snapshot is refused, so only host-less countries can be absent.)
    let edge = shared("protocol: JP without continent", || {
        Fixture::new()
            .geoip("10.6.0.0/16", "JP")
            .geoip("10.9.0.0/16", "XX")
            .edit_snapshot(|data| data.continents.retain(|(cc, _)| cc != b"JP"))
    });
    let mut rep = Report::new("E38 (country absent from the continent table)");
    for (client, cc) in [("10.6.0.1", "JP"), ("10.9.0.1", "XX")] {
        let v = edge.explain(&with_ip(MLS, client));
        rep.location(
            "E38",
            client,
            &v,
            &[("country", &json!(cc)), ("continent", &Value::Null)],
        );
        let r = edge.get(&with_ip(MLS, client));
        rep.se_list(
            "E38",
            &format!("{client} ({cc}) mirrorlist"),
            &r,
            "# repo = fedora-40 arch = x86_64 country = global ",
        );
    }
    rep.finish();
}

/// The fixture's GeoIP file reads back as §18 says (mmdb-writer output checked with maxminddb).
#[test]
fn fixture_geoip_file() {
    #[derive(serde::Deserialize)]
    struct Rec {
        country: Iso,
    }
    #[derive(serde::Deserialize)]
    struct Iso {
        iso_code: String,
    }
    let bytes = Fixture::new()
        .geoip_bytes()
        .expect("standard fixture has GeoIP");
    let reader = maxminddb::Reader::from_source(bytes).unwrap();
    assert_eq!(reader.metadata.database_type, "GeoLite2-Country");
    for (ip, cc) in [
        ("192.0.2.200", "SE"),
        ("192.0.2.0", "SE"),
        ("203.0.113.5", "US"),
        ("198.51.100.7", "DE"),
        ("2001:db8:2000::1", "SE"),
        ("2001:db8:2000:ffff::1", "SE"),
        ("::ffff:192.0.2.10", "SE"),
    ] {
        let rec: Option<Rec> = reader.lookup(ip.parse().unwrap()).unwrap();
        assert_eq!(rec.map(|r| r.country.iso_code).as_deref(), Some(cc), "{ip}");
    }
    for ip in ["192.0.3.1", "2001:db8:2001::1", "100.64.0.1"] {
        let rec: Option<Rec> = reader.lookup(ip.parse().unwrap()).unwrap();
        assert!(
            rec.is_none(),
            "{ip} should not be in the fixture GeoIP file"
        );
    }
}
