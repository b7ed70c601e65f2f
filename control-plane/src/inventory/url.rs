//! Mirror URLs: the strict form the database stores (data-model.md §3,
//! `host_category_url.url`) and the edges paste paths onto.
//!
//! The rules are checked on the text as written instead of through a
//! normalising URL library: a normaliser would quietly turn `HTTPS://X/a/`
//! into something else, and the inventory must say what the database will
//! hold, so every deviation is reported with the text to write instead.

use std::net::Ipv6Addr;

/// Schemes an edge may hand to dnf.
pub const MIRROR_SCHEMES: [&str; 4] = ["https", "http", "ftp", "rsync"];

/// Schemes of a site's `org_url` (a link on the public mirror list).
pub const LINK_SCHEMES: [&str; 2] = ["https", "http"];

/// An absolute URL split into its parts, borrowed from the text.
#[derive(Debug, PartialEq, Eq)]
pub struct Parts<'a> {
    /// Before `://`.
    pub scheme: &'a str,
    /// Before `@` in the authority, including the `@`.
    pub userinfo: Option<&'a str>,
    /// Host name, IPv4 address or `[IPv6]`.
    pub host: &'a str,
    /// After `:` in the authority.
    pub port: Option<&'a str>,
    /// From the first `/` after the authority (may be empty).
    pub path: &'a str,
    /// From `?`, including it.
    pub query: Option<&'a str>,
    /// From `#`, including it.
    pub fragment: Option<&'a str>,
}

/// Splits `scheme://[userinfo@]host[:port][/path][?query][#fragment]`;
/// `None` when the text has no scheme or no host, i.e. is not absolute.
pub fn split(text: &str) -> Option<Parts<'_>> {
    let (scheme, rest) = text.split_once("://")?;
    let mut chars = scheme.chars();
    if !chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        || !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '.' | '-'))
    {
        return None;
    }
    let (rest, fragment) = match rest.find('#') {
        Some(i) => (&rest[..i], Some(&rest[i..])),
        None => (rest, None),
    };
    let (rest, query) = match rest.find('?') {
        Some(i) => (&rest[..i], Some(&rest[i..])),
        None => (rest, None),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let (userinfo, hostport) = match authority.rfind('@') {
        Some(i) => (Some(&authority[..=i]), &authority[i + 1..]),
        None => (None, authority),
    };
    let (host, port) = if hostport.starts_with('[') {
        let end = hostport.find(']')?;
        let port = hostport[end + 1..].strip_prefix(':');
        if port.is_none() && end + 1 != hostport.len() {
            return None;
        }
        (&hostport[..=end], port)
    } else {
        match hostport.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    if host.is_empty() {
        return None;
    }
    Some(Parts {
        scheme,
        userinfo,
        host,
        port,
        path,
        query,
        fragment,
    })
}

/// Checks a mirror base URL; the error is the message to report.
pub fn check_mirror_url(text: &str) -> Result<(), String> {
    let parts = split(text).ok_or_else(|| format!("\"{text}\" is not an absolute URL"))?;
    check_scheme(&parts, &MIRROR_SCHEMES)?;
    let lower_host = parts.host.to_lowercase();
    if parts.scheme.bytes().any(|b| b.is_ascii_uppercase()) || lower_host != parts.host {
        let fixed = format!(
            "{}://{}{}{}{}",
            parts.scheme.to_ascii_lowercase(),
            parts.userinfo.unwrap_or(""),
            lower_host,
            parts.port.map(|p| format!(":{p}")).unwrap_or_default(),
            &text[text.find("://").map_or(0, |i| i + 3) + authority_len(&parts)..],
        );
        return Err(format!(
            "scheme and host must be lower case: write \"{fixed}\""
        ));
    }
    if let Some(part) = [parts.userinfo, parts.query, parts.fragment]
        .into_iter()
        .flatten()
        .next()
    {
        return Err(format!("a mirror URL must not contain \"{part}\""));
    }
    if parts.path.ends_with('/') {
        return Err(format!("\"{text}\" must not end with \"/\""));
    }
    check_authority(text, &parts)?;
    check_path(text, parts.path)
}

/// Checks a site's `org_url`: an absolute http(s) address.
pub fn check_link_url(text: &str) -> Result<(), String> {
    let parts = split(text).ok_or_else(|| format!("\"{text}\" is not an absolute URL"))?;
    check_scheme(&parts, &LINK_SCHEMES)?;
    check_authority(text, &parts)?;
    check_path(text, parts.path)
}

/// Length of `[userinfo@]host[:port]` in the text.
fn authority_len(parts: &Parts<'_>) -> usize {
    parts.userinfo.map_or(0, str::len) + parts.host.len() + parts.port.map_or(0, |p| p.len() + 1)
}

fn check_scheme(parts: &Parts<'_>, allowed: &[&str]) -> Result<(), String> {
    let lower = parts.scheme.to_ascii_lowercase();
    if allowed.contains(&lower.as_str()) {
        Ok(())
    } else {
        Err(format!(
            "scheme \"{}\" is not one of {}",
            parts.scheme,
            allowed.join(", ")
        ))
    }
}

fn check_authority(text: &str, parts: &Parts<'_>) -> Result<(), String> {
    let host = parts.host;
    let host_ok = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => v6.parse::<Ipv6Addr>().is_ok(),
        // A fully qualified name may end with one dot.
        None => host
            .strip_suffix('.')
            .unwrap_or(host)
            .split('.')
            .all(|label| {
                !label.is_empty()
                    && label
                        .chars()
                        .all(|c| c.is_alphanumeric() || c == '-' || c == '_')
            }),
    };
    if !host_ok {
        return Err(format!("\"{text}\" has an invalid host \"{host}\""));
    }
    if let Some(port) = parts.port
        && (port.is_empty()
            || !port.bytes().all(|b| b.is_ascii_digit())
            || port.parse::<u16>().is_err())
    {
        return Err(format!("\"{text}\" has an invalid port \"{port}\""));
    }
    Ok(())
}

/// The path may hold only what RFC 3986 allows unescaped, and `%XX` escapes.
fn check_path(text: &str, path: &str) -> Result<(), String> {
    let bytes = path.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let ok = bytes
                .get(i + 1..i + 3)
                .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit));
            if !ok {
                return Err(format!(
                    "\"{text}\" has a \"%\" that is not followed by two hexadecimal digits"
                ));
            }
            i += 3;
            continue;
        }
        let allowed = b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/".contains(&b);
        if !allowed {
            let c = path[i..].chars().next().unwrap_or('?');
            return Err(format!(
                "\"{text}\" contains \"{c}\", which a URL cannot hold; percent-encode it"
            ));
        }
        i += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_mirror_urls() {
        for ok in [
            "https://mirror.example.edu/fedora/linux",
            "rsync://mirror.example.edu/fedora/linux",
            "ftp://192.0.2.1:2121/pub",
            "http://[2001:db8::1]/pub%20x",
            "https://mirror.example.edu",
        ] {
            assert_eq!(check_mirror_url(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn rejects_mirror_urls() {
        let cases = [
            (
                "https//mirror.example.org",
                "\"https//mirror.example.org\" is not an absolute URL",
            ),
            ("https:///x", "\"https:///x\" is not an absolute URL"),
            (
                "gopher://x.org/a",
                "scheme \"gopher\" is not one of https, http, ftp, rsync",
            ),
            (
                "https://x.org/a?query",
                "a mirror URL must not contain \"?query\"",
            ),
            (
                "https://u:p@x.org/a",
                "a mirror URL must not contain \"u:p@\"",
            ),
            (
                "https://x.org/a#top",
                "a mirror URL must not contain \"#top\"",
            ),
            (
                "https://x.org/a/",
                "\"https://x.org/a/\" must not end with \"/\"",
            ),
            (
                "https://x.org/",
                "\"https://x.org/\" must not end with \"/\"",
            ),
            (
                "HTTPS://X.org:8443/A",
                "scheme and host must be lower case: write \"https://x.org:8443/A\"",
            ),
            (
                "https://x y.org/a",
                "\"https://x y.org/a\" has an invalid host \"x y.org\"",
            ),
            (
                "https://x.org:99999/a",
                "\"https://x.org:99999/a\" has an invalid port \"99999\"",
            ),
            (
                "https://x.org/a b",
                "\"https://x.org/a b\" contains \" \", which a URL cannot hold; percent-encode it",
            ),
            (
                "https://x.org/a%zz",
                "\"https://x.org/a%zz\" has a \"%\" that is not followed by two hexadecimal digits",
            ),
        ];
        for (url, want) in cases {
            assert_eq!(check_mirror_url(url), Err(want.to_string()), "{url}");
        }
    }

    #[test]
    fn links() {
        assert_eq!(check_link_url("https://www.example.edu/?a=b#c"), Ok(()));
        assert_eq!(
            check_link_url("ftp://www.example.edu"),
            Err("scheme \"ftp\" is not one of https, http".to_string())
        );
    }
}
