//! The query string of `/metalink` and `/mirrorlist` (edge-protocol.md §2–§3, E10–E24).
//!
//! Decoding and validation happen in one pass, before anything looks at the snapshot, so a
//! bad request costs no more than parsing it (E8 step 4). Every failure is a 400 whose text
//! is fixed by the spec; [`QueryError`]'s `Display` is that text, without a trailing newline.
//! `ip=` is kept raw here: it is validated only when honoured (E28, [`super::client`]).

use std::borrow::Cow;
use std::fmt;

/// More pieces than this fail the request (E10): bounds work per request.
pub const MAX_PIECES: usize = 64;
/// Longest accepted `repo` value, in characters (E16).
pub const MAX_REPO_LEN: usize = 100;
/// Longest accepted `arch` value, in characters (E17).
pub const MAX_ARCH_LEN: usize = 32;
/// Longest accepted cleaned `path`, in bytes (E18).
pub const MAX_PATH_LEN: usize = 1024;
/// Error messages quote at most this many characters of a value (E14).
pub const QUOTE_CHARS: usize = 64;

/// The decoded, validated parameters of one request.
///
/// Absent and empty parameters look the same (E13). When `path` is present, `repo` and
/// `arch` are `None`: path wins (E18) and they were never validated (E15), so they must not
/// leak into anything downstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    /// `repo`, validated (E16); `None` when `path` is present.
    pub repo: Option<String>,
    /// `arch`, validated (E17); `None` when `path` is present.
    pub arch: Option<String>,
    /// `path`, cleaned (no leading, trailing or doubled `/`) and validated (E18).
    pub path: Option<String>,
    /// `country` entries in the order written, duplicates dropped (E19); empty when absent.
    pub countries: Vec<CountryReq>,
    /// Netblock and ASN tiers allowed: `netblock` absent or exactly `1` (E20).
    pub netblock: bool,
    /// `protocol` entries in the order written, duplicates dropped (E21); empty when absent.
    pub protocols: Vec<Scheme>,
    /// `redirect` present with any value but `0` (E22).
    pub redirect: bool,
    /// `time` present with any value but `0` (E22).
    pub time: bool,
    /// `explain` exactly `1` (E22).
    pub explain: bool,
    /// `countme` when it is `1`–`4` (E24).
    pub countme: Option<u8>,
    /// `countme` present with any other value (E24, E73): counted, never an error.
    pub countme_invalid: bool,
    /// `ip`, percent-decoded but not validated: only E28 knows whether it matters.
    pub ip: Option<String>,
}

impl Default for Params {
    /// The parameters of an empty query (which [`parse_query`] itself rejects, E23).
    fn default() -> Params {
        Params {
            repo: None,
            arch: None,
            path: None,
            countries: Vec::new(),
            netblock: true,
            protocols: Vec::new(),
            redirect: false,
            time: false,
            explain: false,
            countme: None,
            countme_invalid: false,
            ip: None,
        }
    }
}

/// One entry of `country=` (E19).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CountryReq {
    /// A two-letter code, upper-case ASCII.
    Code([u8; 2]),
    /// `global`: the global list of the directory.
    Global,
}

impl CountryReq {
    /// `SE` or `global`, as written in header words and explain.
    pub fn as_str(&self) -> &str {
        match self {
            // Only ASCII letters are ever stored, so this cannot fail; "--" keeps it total.
            CountryReq::Code(code) => std::str::from_utf8(code).unwrap_or("--"),
            CountryReq::Global => "global",
        }
    }

    /// Parses one entry, case-insensitively; `None` when it is neither two ASCII letters
    /// nor `global`.
    pub fn parse(entry: &str) -> Option<CountryReq> {
        match entry.as_bytes() {
            [a, b] if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() => {
                Some(CountryReq::Code([
                    a.to_ascii_uppercase(),
                    b.to_ascii_uppercase(),
                ]))
            }
            _ if entry.eq_ignore_ascii_case("global") => Some(CountryReq::Global),
            _ => None,
        }
    }
}

impl fmt::Display for CountryReq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A URL scheme a mirror serves and `protocol=` can ask for (E21, E52).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scheme {
    /// `http`
    Http,
    /// `https`
    Https,
    /// `ftp`
    Ftp,
    /// `rsync`
    Rsync,
}

impl Scheme {
    /// Every scheme, in the order the spec lists them.
    pub const ALL: [Scheme; 4] = [Scheme::Http, Scheme::Https, Scheme::Ftp, Scheme::Rsync];

    /// Lower-case name: `http`, `https`, `ftp`, `rsync` (also the metalink `type`, E58).
    pub fn as_str(&self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
            Scheme::Ftp => "ftp",
            Scheme::Rsync => "rsync",
        }
    }

    /// The scheme named `name`, ASCII case-insensitive (the `protocol=` entries).
    pub fn from_name(name: &str) -> Option<Scheme> {
        Scheme::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(name))
    }

    /// The scheme of a URL: the text before its first `:`, case-insensitive as RFC 3986
    /// says; `None` without `:` or for another scheme.
    pub fn from_url(url: &str) -> Option<Scheme> {
        let (scheme, _) = url.split_once(':')?;
        Scheme::from_name(scheme)
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a query was refused. Every case is HTTP 400; `Display` is the spec's exact message.
///
/// Quoted values are already cut to their first [`QUOTE_CHARS`] characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// E10: more than [`MAX_PIECES`] non-empty pieces.
    #[error("error: too many query parameters (at most 64)")]
    TooManyParameters,
    /// E11: a `%` not followed by two hex digits, anywhere in the query.
    #[error("error: invalid percent-encoding in the query")]
    PercentEncoding,
    /// E11: a decoded name or value that is not UTF-8.
    #[error("error: the query is not valid UTF-8")]
    NotUtf8,
    /// E14: a checked value holds a byte below 0x20 or 0x7F; carries the parameter name.
    #[error("error: control characters are not allowed in \"{0}\"")]
    ControlCharacters(&'static str),
    /// E16.
    #[error("error: invalid repo \"{0}\": use letters, digits, \".\", \"_\" and \"-\"")]
    InvalidRepo(String),
    /// E17.
    #[error("error: invalid arch \"{0}\"")]
    InvalidArch(String),
    /// E18: a `.` or `..` component.
    #[error("error: invalid path: \".\" and \"..\" components are not allowed")]
    PathDotComponent,
    /// E18: the cleaned path is longer than [`MAX_PATH_LEN`] bytes.
    #[error("error: invalid path: longer than 1024 bytes")]
    PathTooLong,
    /// E23: neither `path` nor both `repo` and `arch`. A comment line, as dnf users know it.
    #[error("# either path=, or repo= and arch= must be specified")]
    MissingRepoArch,
    /// E19: carries the offending entry.
    #[error("error: invalid country \"{0}\": use two-letter ISO 3166-1 codes or \"global\"")]
    InvalidCountry(String),
    /// E21: carries the offending entry.
    #[error("error: invalid protocol \"{0}\": use http, https, ftp or rsync")]
    InvalidProtocol(String),
}

impl QueryError {
    /// The HTTP status of every query error.
    pub fn status(&self) -> u16 {
        400
    }
}

/// The first [`QUOTE_CHARS`] characters of a value, for an error message (E14).
pub(crate) fn quote(value: &str) -> String {
    match value.char_indices().nth(QUOTE_CHARS) {
        Some((cut, _)) => value[..cut].to_string(),
        None => value.to_string(),
    }
}

/// True when `value` holds a byte E14 refuses.
pub(crate) fn has_control(value: &str) -> bool {
    value.bytes().any(|b| b < 0x20 || b == 0x7F)
}

/// The parameters this edge knows; everything else is ignored (E12).
#[derive(Clone, Copy)]
enum Name {
    Repo,
    Arch,
    Path,
    Country,
    Netblock,
    Protocol,
    Redirect,
    Time,
    Explain,
    Countme,
    Ip,
}

const NAMES: usize = 11;

impl Name {
    fn from_decoded(name: &str) -> Option<Name> {
        // Case-sensitive on purpose (E12): `Repo=` is not `repo=`.
        Some(match name {
            "repo" => Name::Repo,
            "arch" => Name::Arch,
            "path" => Name::Path,
            "country" => Name::Country,
            "netblock" => Name::Netblock,
            "protocol" => Name::Protocol,
            "redirect" => Name::Redirect,
            "time" => Name::Time,
            "explain" => Name::Explain,
            "countme" => Name::Countme,
            "ip" => Name::Ip,
            _ => return None,
        })
    }
}

/// Decodes and validates a raw query: the request target after the first `?`, not
/// percent-decoded. Implements E10–E24 in the order of E15.
pub fn parse_query(raw_query: &str) -> Result<Params, QueryError> {
    // E10 before E11: the piece count is a cheap bound checked before any decoding.
    let pieces = || raw_query.split('&').filter(|p| !p.is_empty());
    if pieces().nth(MAX_PIECES).is_some() {
        return Err(QueryError::TooManyParameters);
    }
    // "A malformed % anywhere in the query": checked over the whole text first, so the
    // answer does not depend on which piece a UTF-8 error happens to be in.
    check_percent(raw_query)?;

    let mut last: [Option<Cow<'_, str>>; NAMES] = Default::default();
    for piece in pieces() {
        // The value is everything after the first `=`, later `=` included (E10 fix).
        let (raw_name, raw_value) = piece.split_once('=').unwrap_or((piece, ""));
        let name = decode(raw_name)?;
        // Unknown names' values are decoded too: E11 holds for the whole query.
        let value = decode(raw_value)?;
        if let Some(known) = Name::from_decoded(&name) {
            last[known as usize] = Some(value); // the last occurrence wins (E12)
        }
    }
    let mut take = |n: Name| last[n as usize].take();

    // E15 order: path, else repo, arch and presence; then country, protocol.
    let path = match present(take(Name::Path)) {
        Some(raw) => clean_path(&raw)?,
        None => None,
    };
    let (repo, arch) = match path {
        Some(_) => (None, None),
        None => {
            let repo = present(take(Name::Repo));
            let arch = present(take(Name::Arch));
            let repo = repo
                .map(|v| check_repo(&v).map(|()| v.into_owned()))
                .transpose()?;
            let arch = arch
                .map(|v| check_arch(&v).map(|()| v.into_owned()))
                .transpose()?;
            if repo.is_none() || arch.is_none() {
                return Err(QueryError::MissingRepoArch);
            }
            (repo, arch)
        }
    };
    let countries = match present(take(Name::Country)) {
        Some(value) => parse_countries(&value)?,
        None => Vec::new(),
    };
    let protocols = match present(take(Name::Protocol)) {
        Some(value) => parse_protocols(&value)?,
        None => Vec::new(),
    };

    // Never errors from here on.
    let (countme, countme_invalid) = match take(Name::Countme).as_deref().map(str::as_bytes) {
        None => (None, false),
        Some([d @ b'1'..=b'4']) => (Some(d - b'0'), false),
        Some(_) => (None, true),
    };
    Ok(Params {
        repo,
        arch,
        path,
        countries,
        netblock: take(Name::Netblock).is_none_or(|v| v == "1"),
        protocols,
        redirect: take(Name::Redirect).is_some_and(|v| v != "0"),
        time: take(Name::Time).is_some_and(|v| v != "0"),
        explain: take(Name::Explain).is_some_and(|v| v == "1"),
        countme,
        countme_invalid,
        ip: present(take(Name::Ip)).map(Cow::into_owned),
    })
}

/// E13: an empty value is an absent one.
fn present(value: Option<Cow<'_, str>>) -> Option<Cow<'_, str>> {
    value.filter(|v| !v.is_empty())
}

/// E11: every `%` must start `%XX` with two hex digits, either case.
fn check_percent(raw: &str) -> Result<(), QueryError> {
    let bytes = raw.as_bytes();
    let mut i = 0;
    while let Some(offset) = bytes[i..].iter().position(|&b| b == b'%') {
        let at = i + offset;
        match bytes.get(at + 1..at + 3) {
            Some([h, l]) if h.is_ascii_hexdigit() && l.is_ascii_hexdigit() => i = at + 3,
            _ => return Err(QueryError::PercentEncoding),
        }
    }
    Ok(())
}

/// Percent-decodes one name or value; `+` stays `+` (E11: `libsigc++` must survive).
/// Borrows when there is nothing to decode, the common case.
fn decode(raw: &str) -> Result<Cow<'_, str>, QueryError> {
    if !raw.contains('%') {
        return Ok(Cow::Borrowed(raw));
    }
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hi = bytes.get(i + 1).copied().and_then(hex_value);
            let lo = bytes.get(i + 2).copied().and_then(hex_value);
            let (Some(hi), Some(lo)) = (hi, lo) else {
                return Err(QueryError::PercentEncoding);
            };
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out)
        .map(Cow::Owned)
        .map_err(|_| QueryError::NotUtf8)
}

fn hex_value(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// `A–Z a–z 0–9 . _ -`, shared by `repo` and `arch`.
fn is_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')
}

fn check_repo(value: &str) -> Result<(), QueryError> {
    if has_control(value) {
        return Err(QueryError::ControlCharacters("repo"));
    }
    // All characters allowed are ASCII, so bytes count characters here.
    if value.len() > MAX_REPO_LEN || !value.bytes().all(is_name_char) {
        return Err(QueryError::InvalidRepo(quote(value)));
    }
    Ok(())
}

fn check_arch(value: &str) -> Result<(), QueryError> {
    if has_control(value) {
        return Err(QueryError::ControlCharacters("arch"));
    }
    if value.len() > MAX_ARCH_LEN || !value.bytes().all(is_name_char) {
        return Err(QueryError::InvalidArch(quote(value)));
    }
    Ok(())
}

/// E18: cleans like the reference (strip and collapse `/`), then refuses what would lead
/// outside the tree. `None` when nothing is left.
fn clean_path(value: &str) -> Result<Option<String>, QueryError> {
    if has_control(value) {
        return Err(QueryError::ControlCharacters("path"));
    }
    let mut cleaned = String::with_capacity(value.len());
    for component in value.split('/').filter(|c| !c.is_empty()) {
        if !cleaned.is_empty() {
            cleaned.push('/');
        }
        cleaned.push_str(component);
    }
    if cleaned.len() > MAX_PATH_LEN {
        return Err(QueryError::PathTooLong);
    }
    if cleaned.split('/').any(|c| c == "." || c == "..") {
        return Err(QueryError::PathDotComponent);
    }
    Ok((!cleaned.is_empty()).then_some(cleaned))
}

/// E19: order kept because the order written is the order of the tiers.
fn parse_countries(value: &str) -> Result<Vec<CountryReq>, QueryError> {
    if has_control(value) {
        return Err(QueryError::ControlCharacters("country"));
    }
    let mut out = Vec::new();
    for entry in value.split(',').filter(|e| !e.is_empty()) {
        let country =
            CountryReq::parse(entry).ok_or_else(|| QueryError::InvalidCountry(quote(entry)))?;
        if !out.contains(&country) {
            out.push(country);
        }
    }
    Ok(out)
}

/// E21: a typo is reported rather than silently giving no URL.
fn parse_protocols(value: &str) -> Result<Vec<Scheme>, QueryError> {
    if has_control(value) {
        return Err(QueryError::ControlCharacters("protocol"));
    }
    let mut out = Vec::new();
    for entry in value.split(',').filter(|e| !e.is_empty()) {
        let scheme =
            Scheme::from_name(entry).ok_or_else(|| QueryError::InvalidProtocol(quote(entry)))?;
        if !out.contains(&scheme) {
            out.push(scheme);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const BASE: &str = "repo=fedora-40&arch=x86_64";

    fn ok(query: &str) -> Params {
        match parse_query(query) {
            Ok(p) => p,
            Err(e) => panic!("{query:?} refused: {e}"),
        }
    }

    fn err(query: &str) -> String {
        match parse_query(query) {
            Ok(p) => panic!("{query:?} accepted: {p:?}"),
            Err(e) => {
                assert_eq!(e.status(), 400);
                e.to_string()
            }
        }
    }

    fn with_base(extra: &str) -> String {
        format!("{BASE}&{extra}")
    }

    const CC: &str = ": use two-letter ISO 3166-1 codes or \"global\"";
    const REPO: &str = ": use letters, digits, \".\", \"_\" and \"-\"";
    const E23: &str = "# either path=, or repo= and arch= must be specified";
    const DOTS: &str = "error: invalid path: \".\" and \"..\" components are not allowed";

    /// One row per failing case of E10–E24: query, exact message.
    #[rustfmt::skip]
    #[test]
    fn refused_queries() {
        let many = vec!["a=1"; 65].join("&");
        let long_repo = "r".repeat(101);
        let long_arch = "a".repeat(33);
        let long_path = format!("p/{}", "x".repeat(1023));
        let rows: Vec<(&str, String, String)> = vec![
            ("E10", with_base("country=us=jp"), format!("error: invalid country \"us=jp\"{CC}")),
            ("E10", many, "error: too many query parameters (at most 64)".into()),
            ("E10", "repo=a;b&arch=x".into(), format!("error: invalid repo \"a;b\"{REPO}")),
            ("E11", "repo=%E2%28&arch=x".into(), "error: the query is not valid UTF-8".into()),
            ("E11", "repo=%G1&arch=x".into(), "error: invalid percent-encoding in the query".into()),
            ("E11", with_base("x=%"), "error: invalid percent-encoding in the query".into()),
            ("E11", with_base("x=%2"), "error: invalid percent-encoding in the query".into()),
            ("E11", with_base("%zz=1"), "error: invalid percent-encoding in the query".into()),
            ("E11", with_base("unknown=%FF"), "error: the query is not valid UTF-8".into()),
            // A percent error wins over an earlier UTF-8 error: "anywhere in the query".
            ("E11", "repo=%FF&arch=%G0".into(), "error: invalid percent-encoding in the query".into()),
            ("E13", "repo=&arch=x86_64".into(), E23.into()),
            ("E13", "repo=fedora-40&repo=&arch=x86_64".into(), E23.into()),
            ("E14", "repo=fedora%0A40&arch=x".into(), "error: control characters are not allowed in \"repo\"".into()),
            ("E14", "repo=a&arch=x%7F".into(), "error: control characters are not allowed in \"arch\"".into()),
            ("E14", "path=a%09b".into(), "error: control characters are not allowed in \"path\"".into()),
            ("E14", with_base("country=s%00e"), "error: control characters are not allowed in \"country\"".into()),
            ("E14", with_base("protocol=http%1F"), "error: control characters are not allowed in \"protocol\"".into()),
            ("E15", "path=a/../b&repo=!!".into(), DOTS.into()),
            ("E15", "repo=!!&arch=@@".into(), format!("error: invalid repo \"!!\"{REPO}")),
            ("E15", "repo=ok&arch=@@&country=zzz".into(), "error: invalid arch \"@@\"".into()),
            ("E15", "arch=x&country=zzz".into(), E23.into()),
            ("E15", "path=a&country=zzz&protocol=gopher".into(), format!("error: invalid country \"zzz\"{CC}")),
            ("E15", "path=a&country=se&protocol=gopher".into(), "error: invalid protocol \"gopher\": use http, https, ftp or rsync".into()),
            ("E16", "repo=fedora%2040&arch=x".into(), format!("error: invalid repo \"fedora 40\"{REPO}")),
            ("E16", format!("repo={long_repo}&arch=x"), format!("error: invalid repo \"{}\"{REPO}", "r".repeat(64))),
            ("E16", "repo=f%C3%A9&arch=x".into(), format!("error: invalid repo \"fé\"{REPO}")),
            ("E17", "repo=a&arch=x86/64".into(), "error: invalid arch \"x86/64\"".into()),
            ("E17", format!("repo=a&arch={long_arch}"), format!("error: invalid arch \"{long_arch}\"")),
            ("E18", "path=pub/fedora/linux/../x".into(), DOTS.into()),
            ("E18", "path=./pub".into(), DOTS.into()),
            ("E18", "path=pub/%2E%2E".into(), DOTS.into()),
            ("E18", format!("path={long_path}"), "error: invalid path: longer than 1024 bytes".into()),
            ("E18", "path=///&repo=a".into(), E23.into()),
            ("E19", with_base("country=usa"), format!("error: invalid country \"usa\"{CC}")),
            ("E19", with_base("country=se,u1"), format!("error: invalid country \"u1\"{CC}")),
            ("E19", with_base("country=se,%20us"), format!("error: invalid country \" us\"{CC}")),
            ("E21", with_base("protocol=gopher"), "error: invalid protocol \"gopher\": use http, https, ftp or rsync".into()),
            ("E23", "arch=x86_64".into(), E23.into()),
            ("E23", "repo=fedora-40".into(), E23.into()),
            ("E23", "".into(), E23.into()),
            ("E23", "&&&".into(), E23.into()),
        ];
        for (rule, query, message) in rows {
            assert_eq!(err(&query), message, "{rule}: {query:?}");
        }
    }

    #[test]
    fn e10_splitting() {
        // 64 pieces and any number of empty ones are fine.
        let mut q = String::from(BASE);
        for _ in 0..62 {
            q.push_str("&&x=1&");
        }
        let p = ok(&q);
        assert_eq!(p.repo.as_deref(), Some("fedora-40"));
        // A piece without `=` has an empty value; later `=` belong to the value.
        assert!(ok(&with_base("redirect")).redirect);
        assert_eq!(ok(&with_base("ip=a=b")).ip.as_deref(), Some("a=b"));
        // `;` is data, not a separator.
        assert_eq!(
            err("repo=a;arch=b"),
            format!("error: invalid repo \"a;arch=b\"{REPO}")
        );
    }

    #[test]
    fn e11_decoding() {
        let p = ok("repo=fedora%2D40&arch=x86%5f64");
        assert_eq!(p.repo.as_deref(), Some("fedora-40"));
        assert_eq!(p.arch.as_deref(), Some("x86_64"));
        // Names are decoded too.
        assert_eq!(
            ok("re%70o=fedora-40&arch=x").repo.as_deref(),
            Some("fedora-40")
        );
        // `+` stays `+`.
        let p = ok("path=pub/fedora/linux/Packages/l/libsigc++20-1.rpm");
        assert_eq!(
            p.path.as_deref(),
            Some("pub/fedora/linux/Packages/l/libsigc++20-1.rpm")
        );
        assert_eq!(ok("path=a%2Bb+c").path.as_deref(), Some("a+b+c"));
        // Multi-byte UTF-8 in a value that is not validated further is kept.
        assert_eq!(ok(&with_base("ip=%C3%A9")).ip.as_deref(), Some("é"));
    }

    #[test]
    fn e12_repetition_and_unknown_names() {
        assert_eq!(
            ok(&with_base("country=us&country=se")).countries,
            [CountryReq::Code(*b"SE")]
        );
        let p = ok("Repo=x&repo=fedora-40&arch=x86_64");
        assert_eq!(p.repo.as_deref(), Some("fedora-40"));
        let p = ok(&with_base("cc=us&version=2&location=x&Country=zz"));
        assert_eq!(
            p,
            Params {
                repo: p.repo.clone(),
                arch: p.arch.clone(),
                ..Params::default()
            }
        );
        // Last occurrence wins even when an earlier one was invalid.
        assert_eq!(
            ok("repo=!!&repo=epel-9&arch=x").repo.as_deref(),
            Some("epel-9")
        );
    }

    #[test]
    fn e13_empty_values_are_absent() {
        let p = ok(&with_base("path=&country=&protocol=&ip="));
        assert_eq!(p.path, None);
        assert!(p.countries.is_empty());
        assert!(p.protocols.is_empty());
        assert_eq!(p.ip, None);
        assert_eq!(ok(&with_base("country=,,")).countries, []);
    }

    #[test]
    fn e14_only_checked_values() {
        // repo is not checked when path is present; unknown names and ip never here.
        let p = ok("path=pub/x&repo=%0A&arch=%7F&foo=%01&ip=%0A");
        assert_eq!(p.path.as_deref(), Some("pub/x"));
        assert_eq!((p.repo, p.arch), (None, None));
        assert_eq!(p.ip.as_deref(), Some("\n"));
    }

    #[test]
    fn e15_path_wins() {
        let p = ok("path=pub/epel&repo=!!&arch=@@");
        assert_eq!(p.path.as_deref(), Some("pub/epel"));
        assert_eq!((p.repo, p.arch), (None, None));
    }

    #[test]
    fn e16_e17_limits() {
        let repo: String = "A-z_0.9".repeat(15).chars().take(100).collect();
        let arch = "x".repeat(32);
        let p = ok(&format!("repo={repo}&arch={arch}"));
        assert_eq!(p.repo.as_deref(), Some(repo.as_str()));
        assert_eq!(p.arch.as_deref(), Some(arch.as_str()));
    }

    #[test]
    fn e18_cleaning() {
        let p = ok("path=//pub//fedora/linux/releases/40/Everything/x86_64/os//");
        assert_eq!(
            p.path.as_deref(),
            Some("pub/fedora/linux/releases/40/Everything/x86_64/os")
        );
        assert_eq!(ok("path=a/..b/c.").path.as_deref(), Some("a/..b/c."));
        let exact = format!("p/{}", "x".repeat(1022));
        assert_eq!(
            ok(&format!("path=/{exact}/")).path.as_deref(),
            Some(exact.as_str())
        );
        assert_eq!(ok("path=///&repo=a&arch=b").path, None);
    }

    #[test]
    fn e19_countries() {
        use CountryReq::{Code, Global};
        let a = ok(&with_base("country=us,global"));
        let b = ok(&with_base("country=US,GLOBAL"));
        assert_eq!(a, b);
        assert_eq!(a.countries, [Code(*b"US"), Global]);
        let p = ok(&with_base("country=,se,,SE,us,Global,sE"));
        assert_eq!(p.countries, [Code(*b"SE"), Code(*b"US"), Global]);
        assert_eq!(
            p.countries.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
            ["SE", "US", "global"]
        );
    }

    #[test]
    fn e20_netblock() {
        for (extra, on) in [
            ("", true),
            ("&netblock=1", true),
            ("&netblock=0", false),
            ("&netblock=no", false),
            ("&netblock=", false),
            ("&netblock", false),
            ("&netblock=01", false),
        ] {
            assert_eq!(ok(&format!("{BASE}{extra}")).netblock, on, "{extra:?}");
        }
    }

    #[test]
    fn e21_protocols() {
        use Scheme::*;
        assert_eq!(
            ok(&with_base("protocol=HTTPS,http,,https")).protocols,
            [Https, Http]
        );
        assert_eq!(ok(&with_base("protocol=rsync,FTP")).protocols, [Rsync, Ftp]);
        assert_eq!(Scheme::from_url("https://example.org/x"), Some(Https));
        assert_eq!(Scheme::from_url("RSYNC://example.org/x"), Some(Rsync));
        assert_eq!(Scheme::from_url("gopher://example.org"), None);
        assert_eq!(Scheme::from_url("http"), None);
    }

    #[test]
    fn e22_flags() {
        for (extra, redirect, time, explain) in [
            ("", false, false, false),
            ("&redirect=0&time=0&explain=0", false, false, false),
            ("&redirect=1&time=1&explain=1", true, true, true),
            ("&redirect&time&explain", true, true, false),
            ("&redirect=no&time=yes&explain=true", true, true, false),
            ("&redirect=%30&time=00", false, true, false),
        ] {
            let p = ok(&format!("{BASE}{extra}"));
            assert_eq!(
                (p.redirect, p.time, p.explain),
                (redirect, time, explain),
                "{extra:?}"
            );
        }
    }

    #[test]
    fn e23_presence() {
        assert_eq!(ok("path=pub/epel").path.as_deref(), Some("pub/epel"));
    }

    #[test]
    fn e24_countme() {
        for (extra, countme, invalid) in [
            ("", None, false),
            ("&countme=1", Some(1), false),
            ("&countme=4", Some(4), false),
            ("&countme=7", None, true),
            ("&countme=0", None, true),
            ("&countme=", None, true),
            ("&countme=11", None, true),
        ] {
            let p = ok(&format!("{BASE}{extra}"));
            assert_eq!(
                (p.countme, p.countme_invalid),
                (countme, invalid),
                "{extra:?}"
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        /// E85: any text, and texts built from the query's own alphabet, never panic.
        #[test]
        fn never_panics(raw in ".{0,300}") {
            let _ = parse_query(&raw);
        }

        #[test]
        fn never_panics_structured(
            pieces in proptest::collection::vec(
                ("(repo|arch|path|country|protocol|netblock|redirect|time|explain|countme|ip|x)",
                 "[a-zA-Z0-9%,./=+;_-]{0,12}"),
                0..70,
            )
        ) {
            let raw = pieces.iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join("&");
            if let Ok(p) = parse_query(&raw) {
                prop_assert!(p.path.is_some() || (p.repo.is_some() && p.arch.is_some()));
            }
        }
    }
}
