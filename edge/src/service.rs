//! One request, start to finish (edge-protocol.md E8): limits → path → method
//! → query → client address → snapshot → resolution → selection → rendering.
//! Produces an [`Answer`]; `server` turns it into HTTP and adds the common
//! headers (E66). No lock, no I/O: the snapshot is one `arc-swap` load.

use std::net::{IpAddr, SocketAddr};
use std::time::{SystemTime, UNIX_EPOCH};

use hyper::HeaderMap;
use hyper::http::request::Parts;
use hyper::{Method, StatusCode};

use crate::explain;
use crate::loaded::Loaded;
use crate::metrics::{Endpoint as MetricEndpoint, Output};
use crate::render::{self, FileVersionRef, HostUrls, MetalinkFile, MirrorlistHeader, UrlParts};
use crate::request::accept::wants_metalink4;
use crate::request::client::{AddrEvent, ClientAddr, resolve_client};
use crate::request::query::{Params, parse_query};
use crate::resolve::{Endpoint, Resolution, resolve, stats_key};
use crate::select::{self, Location, Request, Selection, Trim, UrlRule};
use crate::state::Edge;

/// Content types (E67).
pub mod ctype {
    /// Metalink 3.
    pub const METALINK3: &str = "application/metalink+xml";
    /// Metalink 4.
    pub const METALINK4: &str = "application/metalink4+xml";
    /// JSON.
    pub const JSON: &str = "application/json";
    /// Prometheus.
    pub const METRICS: &str = "text/plain; version=0.0.4; charset=utf-8";
    /// Everything else.
    pub const TEXT: &str = "text/plain; charset=utf-8";
}

/// A computed answer, before HTTP framing.
#[derive(Debug)]
pub struct Answer {
    /// Status code.
    pub status: StatusCode,
    /// Content-Type.
    pub content_type: &'static str,
    /// Body (HEAD answers keep it for Content-Length; the server drops it).
    pub body: Vec<u8>,
    /// A `/metalink` answer: adds `Vary: Accept`.
    pub vary_accept: bool,
    /// `Retry-After` seconds (E9).
    pub retry_after: Option<u32>,
    /// `Allow` header (E4).
    pub allow: bool,
    /// `Location` (E65).
    pub location: Option<String>,
    /// Snapshot version served (`X-Mirrorlist-Snapshot`), if any.
    pub snapshot_version: Option<u64>,
    /// Unix seconds the answer was computed for (`Date`).
    pub now: i64,
    /// Metrics label.
    pub endpoint: MetricEndpoint,
}

impl Answer {
    /// An answer with the given type and body and no optional headers.
    pub fn new(
        status: StatusCode,
        content_type: &'static str,
        body: impl Into<Vec<u8>>,
        endpoint: MetricEndpoint,
        now: i64,
    ) -> Answer {
        Answer {
            status,
            content_type,
            body: body.into(),
            vary_accept: false,
            retry_after: None,
            allow: false,
            location: None,
            snapshot_version: None,
            now,
            endpoint,
        }
    }

    /// A `text/plain` answer.
    pub fn text(
        status: StatusCode,
        body: impl Into<Vec<u8>>,
        endpoint: MetricEndpoint,
        now: i64,
    ) -> Answer {
        Answer::new(status, ctype::TEXT, body, endpoint, now)
    }
}

/// One selection request after parsing: what every later step needs.
#[derive(Clone, Copy)]
pub struct Ask<'a> {
    /// Validated parameters.
    pub params: &'a Params,
    /// Requester and client.
    pub client: &'a ClientAddr,
    /// Which endpoint.
    pub kind: Endpoint,
    /// The request's second (E56, `Date`, pubdate).
    pub t: i64,
}

/// The output format of a selection request (E25).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Metalink3,
    Metalink4,
    Plain,
}

impl Format {
    fn content_type(self) -> &'static str {
        match self {
            Format::Metalink3 => ctype::METALINK3,
            Format::Metalink4 => ctype::METALINK4,
            Format::Plain => ctype::TEXT,
        }
    }
}

/// Header values of one name.
fn header_values<'a>(headers: &'a HeaderMap, name: &str) -> Vec<&'a [u8]> {
    headers.get_all(name).iter().map(|v| v.as_bytes()).collect()
}

fn unix(now: SystemTime) -> i64 {
    now.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Answers one request. `peer` is the TCP peer.
pub fn handle(edge: &Edge, parts: &Parts, peer: SocketAddr) -> Answer {
    let now = SystemTime::now();
    let t = unix(now);
    let limits = &edge.config.limits;
    let target_len = parts.uri.path_and_query().map_or(0, |pq| pq.as_str().len());
    let path = parts.uri.path();
    let endpoint = endpoint_of(path);
    // (1) limits, E82–E83.
    let vary_accept = endpoint == MetricEndpoint::Metalink;
    if target_len > limits.max_uri {
        let msg = format!("error: URI too long (at most {} bytes)\n", limits.max_uri);
        let mut a = Answer::text(StatusCode::URI_TOO_LONG, msg, endpoint, t);
        a.vary_accept = vary_accept;
        return a;
    }
    let header_bytes: usize = parts
        .headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    if parts.headers.len() > limits.max_headers || header_bytes > limits.max_header_bytes {
        let msg = format!(
            "error: request header fields too large (at most {} fields, {} bytes)\n",
            limits.max_headers, limits.max_header_bytes
        );
        let mut a = Answer::text(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            msg,
            endpoint,
            t,
        );
        a.vary_accept = vary_accept;
        return a;
    }
    // (2) path, (3) method.
    let kind = match endpoint {
        MetricEndpoint::Other => {
            let body = "error: not found; this server answers /metalink and /mirrorlist\n";
            return Answer::text(StatusCode::NOT_FOUND, body, endpoint, t);
        }
        MetricEndpoint::Metalink => Some(Endpoint::Metalink),
        MetricEndpoint::Mirrorlist => Some(Endpoint::Mirrorlist),
        _ => None,
    };
    if parts.method != Method::GET && parts.method != Method::HEAD {
        let mut a = Answer::text(
            StatusCode::METHOD_NOT_ALLOWED,
            "error: method not allowed; use GET or HEAD\n",
            endpoint,
            t,
        );
        a.allow = true;
        a.vary_accept = vary_accept;
        return a;
    }
    let peer_ip = mirrorfleet_snapshot::net::normalise(peer.ip());
    let Some(kind) = kind else {
        return crate::status::operational(edge, endpoint, parts, peer_ip, t);
    };
    let format = match kind {
        Endpoint::Metalink if wants_metalink4(&header_values(&parts.headers, "accept")) => {
            Format::Metalink4
        }
        Endpoint::Metalink => Format::Metalink3,
        Endpoint::Mirrorlist => Format::Plain,
    };
    let mut answer = selection(edge, parts, peer_ip, kind, format, t);
    answer.vary_accept = kind == Endpoint::Metalink;
    answer
}

fn endpoint_of(path: &str) -> MetricEndpoint {
    match path {
        "/healthz" => MetricEndpoint::Healthz,
        "/readyz" => MetricEndpoint::Readyz,
        "/metrics" => MetricEndpoint::Metrics,
        "/snapshot" => MetricEndpoint::Snapshot,
        p if p.ends_with("/metalink") => MetricEndpoint::Metalink,
        p if p.ends_with("/mirrorlist") => MetricEndpoint::Mirrorlist,
        _ => MetricEndpoint::Other,
    }
}

/// An answer whose type follows the output format.
fn typed(status: StatusCode, format: Format, body: Vec<u8>, kind: Endpoint, t: i64) -> Answer {
    let endpoint = match kind {
        Endpoint::Metalink => MetricEndpoint::Metalink,
        Endpoint::Mirrorlist => MetricEndpoint::Mirrorlist,
    };
    Answer::new(status, format.content_type(), body, endpoint, t)
}

/// A message answer in the output's format (E61, E64).
fn message(status: StatusCode, format: Format, lines: &[&str], kind: Endpoint, t: i64) -> Answer {
    let mut body = Vec::with_capacity(256);
    match format {
        Format::Plain => render::mirrorlist_failure(&mut body, lines),
        Format::Metalink3 => render::metalink_failure(&mut body, false, t, lines),
        Format::Metalink4 => render::metalink_failure(&mut body, true, t, lines),
    }
    typed(status, format, body, kind, t)
}

/// Records the client-address events (E27, E28, E77).
fn count_address_events(edge: &Edge, c: &ClientAddr) {
    if let Some(e) = c.xff_event {
        edge.metrics.address_event("x_forwarded_for", e.as_str());
    }
    if let Some(e) = c.ip_event {
        edge.metrics.address_event("ip_param", e.as_str());
    }
}

/// Locates a client (§6).
pub fn locate(edge: &Edge, loaded: &Loaded, client: IpAddr) -> Location {
    let snap = &loaded.snap;
    let mut loc = Location::default();
    if let Some((cc, len)) = loaded.override_country(client) {
        loc.country = Some(cc);
        loc.country_source = Some("netblock_country");
        loc.override_len = Some(len);
    } else if let Some(geo) = edge.geoip.load().as_ref()
        && let Some(cc) = geo.country(client)
    {
        loc.country = Some(cc);
        loc.country_source = Some("geoip");
    }
    loc.continent = loc.country.and_then(|c| loaded.continent_of(c));
    loc.asn = snap.asn_of(client);
    loc
}

fn selection(
    edge: &Edge,
    parts: &Parts,
    peer: IpAddr,
    kind: Endpoint,
    format: Format,
    t: i64,
) -> Answer {
    let raw_query = parts.uri.query().unwrap_or("");
    // (4) query.
    let params = match parse_query(raw_query) {
        Ok(p) => p,
        Err(e) => return message(StatusCode::BAD_REQUEST, format, &[&e.to_string()], kind, t),
    };
    // (5) client address.
    let xff = header_values(&parts.headers, "x-forwarded-for");
    let client = match resolve_client(&edge.proxy, peer, &xff, params.ip.as_deref()) {
        Ok(c) => c,
        Err(e) => return message(StatusCode::BAD_REQUEST, format, &[&e.to_string()], kind, t),
    };
    count_address_events(edge, &client);
    // (6) snapshot.
    let guard = edge.snapshot.load();
    let Some(loaded) = guard.as_deref() else {
        let mut a = message(
            StatusCode::SERVICE_UNAVAILABLE,
            format,
            &["error: no snapshot loaded yet; try again shortly"],
            kind,
            t,
        );
        a.retry_after = Some(5);
        return a;
    };
    let explain = params.explain && edge.config.explain.enabled;
    let head = parts.method == Method::HEAD;
    let ask = Ask {
        params: &params,
        client: &client,
        kind,
        t,
    };
    if explain {
        let mut answer = explain::answer(edge, loaded, ask, format_name(format, &params));
        answer.snapshot_version = Some(loaded.snap.version());
        return answer;
    }
    let resolution = resolve(loaded, &params, kind);
    let key = stats_key(loaded, &params, &resolution);
    let mut answer = answer_for(edge, loaded, ask, format, resolution, true);
    answer.snapshot_version = Some(loaded.snap.version());
    // E70–E73: GET answers 200/302/404, not explain.
    if !head && matches!(answer.status.as_u16(), 200 | 302 | 404) {
        edge.metrics.request_by_repo(key.repo, key.arch);
        if let Some(b) = params.countme {
            edge.metrics.countme(key.repo, key.arch, b);
        } else if params.countme_invalid {
            edge.metrics.countme_invalid();
        }
    }
    answer
}

fn format_name(format: Format, params: &Params) -> &'static str {
    match format {
        Format::Metalink3 => "metalink3",
        Format::Metalink4 => "metalink4",
        Format::Plain if params.redirect => "redirect",
        Format::Plain => "mirrorlist",
    }
}

/// The URL rule for an output (E52).
pub fn url_rule(kind: Endpoint, params: &Params) -> UrlRule<'_> {
    match kind {
        Endpoint::Mirrorlist if params.redirect => UrlRule::Redirect(&params.protocols),
        _ if !params.protocols.is_empty() => UrlRule::Protocols(&params.protocols),
        Endpoint::Metalink => UrlRule::All,
        Endpoint::Mirrorlist => UrlRule::Preferred,
    }
}

/// Runs selection for a resolved target.
pub fn run_selection(
    edge: &Edge,
    loaded: &Loaded,
    ask: Ask<'_>,
    dir: u32,
    explain: bool,
) -> (Selection, Location) {
    let location = locate(edge, loaded, ask.client.client);
    let req = Request {
        dir,
        client: ask.client.client,
        location,
        countries: &ask.params.countries,
        netblock: ask.params.netblock,
        rule: url_rule(ask.kind, ask.params),
        streams: select::streams(&loaded.key, loaded.snap.version(), ask.t, ask.client.client),
        explain,
        words: explain || ask.kind == Endpoint::Mirrorlist,
    };
    (select::select(loaded, &req), location)
}

fn answer_for(
    edge: &Edge,
    loaded: &Loaded,
    ask: Ask<'_>,
    format: Format,
    resolution: Resolution<'_>,
    record: bool,
) -> Answer {
    let snap = &loaded.snap;
    let Ask {
        params, kind, t, ..
    } = ask;
    let (dir, file, identity) = match resolution {
        Resolution::Target {
            dir,
            file,
            identity,
        } => (dir, file, identity),
        Resolution::Disabled { .. } => {
            return message(StatusCode::OK, format, &["repo disabled"], kind, t);
        }
        Resolution::InvalidPath => {
            return message(
                StatusCode::NOT_FOUND,
                format,
                &["error: invalid path"],
                kind,
                t,
            );
        }
        Resolution::NoMetalink { dir, file } => {
            let line = format!("{dir}/{file} not found or has no metalink");
            return message(StatusCode::NOT_FOUND, format, &[&line], kind, t);
        }
        Resolution::UnknownRepo { repo, arch } => {
            let mut body = Vec::with_capacity(loaded.available.len() + 256);
            match format {
                Format::Plain => render::mirrorlist_unknown_repo(
                    &mut body,
                    repo,
                    arch,
                    loaded.available.as_bytes(),
                ),
                f => render::metalink_unknown_repo(
                    &mut body,
                    f == Format::Metalink4,
                    t,
                    repo,
                    arch,
                    loaded.available.as_bytes(),
                ),
            }
            return typed(StatusCode::NOT_FOUND, format, body, kind, t);
        }
    };
    let (sel, _) = run_selection(edge, loaded, ask, dir, false);
    if record {
        record_selection(edge, &sel);
    }
    let Some(d) = snap.directory(dir) else {
        return message(
            StatusCode::NOT_FOUND,
            format,
            &["error: invalid path"],
            kind,
            t,
        );
    };
    let subpath = snap.subpath(d);
    let category = d.category.to_native();
    // Borrowed URL parts for every placed host, then the per-host slices.
    let mut parts: Vec<UrlParts> = Vec::with_capacity(sel.urls.len());
    let mut spans = Vec::with_capacity(sel.placed.len());
    for p in &sel.placed {
        let Some(host) = snap.host(p.host) else {
            continue;
        };
        let urls = snap.host_urls(host, category);
        let start = parts.len();
        for &i in &sel.urls[p.urls.0 as usize..(p.urls.0 + p.urls.1) as usize] {
            if let Some(u) = urls.get(i as usize) {
                parts.push(UrlParts {
                    base: u.url.as_str(),
                    subpath,
                    file,
                });
            }
        }
        spans.push((host.country, host.private, start, parts.len()));
    }
    let hosts: Vec<HostUrls> = spans
        .iter()
        .map(|&(country, private, s, e)| HostUrls {
            country,
            private,
            urls: &parts[s..e],
        })
        .collect();
    let mut body = Vec::with_capacity(1024 + 160 * parts.len());
    match (kind, format) {
        (Endpoint::Mirrorlist, _) if params.redirect => {
            if record {
                edge.metrics.answer(Output::Redirect);
            }
            return match parts.first().filter(|_| !hosts.is_empty()) {
                Some(first) => {
                    let mut url = Vec::new();
                    render::write_url(&mut url, first);
                    let mut a =
                        Answer::text(StatusCode::FOUND, Vec::new(), MetricEndpoint::Mirrorlist, t);
                    a.location = Some(String::from_utf8_lossy(&url).into_owned());
                    a
                }
                None => message(
                    StatusCode::NOT_FOUND,
                    format,
                    &["error: no http or https mirror for this request"],
                    kind,
                    t,
                ),
            };
        }
        (Endpoint::Mirrorlist, _) => {
            let protocols: Vec<&str> = params.protocols.iter().map(|p| p.as_str()).collect();
            let header = MirrorlistHeader {
                identity,
                words: &sel.words,
                protocols: (!params.protocols.is_empty()).then_some(&protocols[..]),
            };
            render::mirrorlist(
                &mut body,
                &header,
                params.time.then(|| snap.created_at()),
                &hosts,
            );
            if record {
                edge.metrics.answer(Output::Mirrorlist);
            }
        }
        (Endpoint::Metalink, f) => {
            let Some(fname) = file else {
                return message(
                    StatusCode::NOT_FOUND,
                    format,
                    &[&format!("{}/ not found or has no metalink", d.name)],
                    kind,
                    t,
                );
            };
            let Some(details) = snap.find_file(dir, fname) else {
                let line = format!("{}/{fname} not found or has no metalink", d.name);
                return message(StatusCode::NOT_FOUND, format, &[&line], kind, t);
            };
            let versions: Vec<FileVersionRef> = snap
                .versions(details)
                .iter()
                .map(|v| FileVersionRef {
                    timestamp: v.timestamp.to_native(),
                    size: v.size.to_native(),
                    md5: v.md5.as_ref().map(|s| s.as_str()),
                    sha1: v.sha1.as_ref().map(|s| s.as_str()),
                    sha256: v.sha256.as_ref().map(|s| s.as_str()),
                    sha512: v.sha512.as_ref().map(|s| s.as_str()),
                })
                .collect();
            let Some((current, alternates)) = versions.split_first() else {
                return message(
                    StatusCode::NOT_FOUND,
                    format,
                    &[&format!("{}/{fname} not found or has no metalink", d.name)],
                    kind,
                    t,
                );
            };
            let mf = MetalinkFile {
                name: fname,
                current: *current,
                alternates,
            };
            if f == Format::Metalink4 {
                render::metalink4(&mut body, t, &mf, &hosts);
                if record {
                    edge.metrics.answer(Output::Metalink4);
                }
            } else {
                render::metalink3(&mut body, t, &mf, &hosts);
                if record {
                    edge.metrics.answer(Output::Metalink3);
                }
            }
        }
    }
    typed(StatusCode::OK, format, body, kind, t)
}

/// The answer a request gets without explain (for explain's `answer` part); no metrics.
pub fn answer_for_explain(edge: &Edge, loaded: &Loaded, ask: Ask<'_>, output: &str) -> Answer {
    let format = match output {
        "metalink4" => Format::Metalink4,
        "metalink3" => Format::Metalink3,
        _ => Format::Plain,
    };
    answer_for(
        edge,
        loaded,
        ask,
        format,
        resolve(loaded, ask.params, ask.kind),
        false,
    )
}

/// Tier and trimming metrics of one selection (E77).
pub fn record_selection(edge: &Edge, sel: &Selection) {
    let m = &edge.metrics;
    m.first_tier(sel.placed.first().map_or("none", |p| p.tier.as_str()));
    for t in &sel.tiers_used {
        m.tier_used(t.as_str());
    }
    if sel.global_added {
        m.global_fallback();
    }
    for (reason, n) in Trim::ALL.iter().zip(sel.trim_counts) {
        if n > 0 {
            m.trimmed(reason.as_str(), n);
        }
    }
}

/// True when `event` is one that means the header or parameter was not used.
pub fn ignored(event: Option<AddrEvent>) -> bool {
    matches!(
        event,
        Some(AddrEvent::UntrustedPeer | AddrEvent::NotAllowed | AddrEvent::Malformed)
    )
}
