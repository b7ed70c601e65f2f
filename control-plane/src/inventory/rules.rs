//! Field rules shared by every part of the inventory: names, paths, `up2date`
//! patterns, country and continent codes, AS numbers, netblocks, digests and
//! times (data-model.md §1–§4). Each reads one JSON value, reports what is
//! wrong at its position and returns `None` for a value that cannot be used.

use mirrorfleet_snapshot::countries;
use mirrorfleet_snapshot::net::{Prefix, PrefixError};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::diagnostic::Diagnostics;
use super::json::{Pos, Value};
use super::model::{Netblock, Pattern};
use super::reader::{check_text, int_in, integer, string, text};
use super::url;

/// Longest directory name (data-model.md §2, `directory.name`).
pub const MAX_PATH: usize = 1024;

/// AS_TRANS (RFC 6793): a placeholder, never a real AS.
const AS_TRANS: i128 = 23456;

/// Highest usable AS number (4,294,967,295 is reserved, RFC 7300).
const MAX_ASN: i128 = 4_294_967_294;

/// The character rule of a kind of name.
#[derive(Clone, Copy)]
pub struct NameRule {
    /// What the name is, for messages: "version name".
    pub what: &'static str,
    /// Longest allowed, in characters.
    pub max: usize,
    /// Which characters may appear.
    pub allowed: fn(char) -> bool,
    /// The allowed characters, in words.
    pub described: &'static str,
}

fn word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

fn arch_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'
}

fn any_char(_: char) -> bool {
    true
}

const WORD: &str = "letters, digits, \".\", \"_\" and \"-\"";

/// `version.name`: `[A-Za-z0-9._-]+`, at most 32.
pub const VERSION_NAME: NameRule = NameRule {
    what: "version name",
    max: 32,
    allowed: word_char,
    described: WORD,
};
/// `arch.name`: `[a-z0-9_]+`, at most 32.
pub const ARCH_NAME: NameRule = NameRule {
    what: "arch name",
    max: 32,
    allowed: arch_char,
    described: "lower-case letters, digits and \"_\"",
};
/// `host.name`: `[A-Za-z0-9._-]+`, at most 253.
pub const HOST_NAME: NameRule = NameRule {
    what: "host name",
    max: 253,
    allowed: word_char,
    described: WORD,
};
/// Repository, redirect and disabled prefixes: `[A-Za-z0-9._-]+`, at most 100.
pub const PREFIX: NameRule = NameRule {
    what: "repository prefix",
    max: 100,
    allowed: word_char,
    described: WORD,
};
/// `product.name`: free text, at most 64.
pub const PRODUCT_NAME: NameRule = NameRule {
    what: "product name",
    max: 64,
    allowed: any_char,
    described: "",
};
/// `category.name`: free text, at most 64.
pub const CATEGORY_NAME: NameRule = NameRule {
    what: "category name",
    max: 64,
    allowed: any_char,
    described: "",
};
/// `site.name`: free text, 1–100.
pub const SITE_NAME: NameRule = NameRule {
    what: "site name",
    max: 100,
    allowed: any_char,
    described: "",
};

/// A name: a non-empty string following `rule`.
pub fn name(d: &mut Diagnostics, value: &Value, ptr: &str, rule: NameRule) -> Option<String> {
    let s = string(d, value, ptr)?;
    check_name(d, value.pos, ptr, s, rule).then(|| s.to_string())
}

/// The rules of [`name`] on a string already read (e.g. an object key).
pub fn check_name(d: &mut Diagnostics, pos: Pos, ptr: &str, s: &str, rule: NameRule) -> bool {
    if s.is_empty() {
        d.error(pos, ptr, format!("the {} must not be empty", rule.what));
        return false;
    }
    if !check_text(d, pos, ptr, s, rule.max) {
        return false;
    }
    if !s.chars().all(rule.allowed) {
        d.error(
            pos,
            ptr,
            format!(
                "\"{s}\" is not a valid {}: use only {}",
                rule.what, rule.described
            ),
        );
        return false;
    }
    true
}

/// An owner's username (data-model.md §6): `[a-z0-9][a-z0-9._-]*`, 2–32.
pub fn username(d: &mut Diagnostics, value: &Value, ptr: &str) -> Option<String> {
    let s = string(d, value, ptr)?;
    let mut chars = s.chars();
    let ok = (2..=32).contains(&s.chars().count())
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
    if !ok {
        d.error(
            value.pos,
            ptr,
            format!(
                "\"{s}\" is not a valid username: use 2–32 lower-case letters, digits, \".\", \"_\" and \"-\", \
                 starting with a letter or digit"
            ),
        );
        return None;
    }
    Some(s.to_string())
}

/// A file name: 1–255 characters, no `/`, not `.` or `..`.
pub fn file_name(d: &mut Diagnostics, value: &Value, ptr: &str) -> Option<String> {
    let s = text(d, value, ptr, 255)?;
    let problem = if s.is_empty() {
        Some("a file name must not be empty".to_string())
    } else if s.contains('/') {
        Some(format!("\"{s}\" is a path; a file name has no \"/\""))
    } else if s == "." || s == ".." {
        Some(format!("\"{s}\" is not allowed"))
    } else {
        None
    };
    match problem {
        Some(message) => {
            d.error(value.pos, ptr, message);
            None
        }
        None => Some(s),
    }
}

/// A contact email address: one `@` with text on both sides, at most 254.
pub fn email(d: &mut Diagnostics, value: &Value, ptr: &str) -> Option<String> {
    let s = text(d, value, ptr, 254)?;
    let ok = s.split('@').count() == 2
        && s.split('@').all(|part| !part.is_empty())
        && !s.contains(char::is_whitespace);
    if !ok {
        d.error(value.pos, ptr, format!("\"{s}\" is not an email address"));
        return None;
    }
    Some(s)
}

/// A directory relative to a category topdir (`""` is the topdir itself).
pub fn relative_path(d: &mut Diagnostics, value: &Value, ptr: &str) -> Option<String> {
    let s = text(d, value, ptr, MAX_PATH)?;
    match check_relative(&s) {
        Ok(()) => Some(s),
        Err(message) => {
            d.error(value.pos, ptr, message);
            None
        }
    }
}

/// The rules of a relative directory: no leading or trailing `/`, no empty,
/// `.` or `..` component.
pub fn check_relative(s: &str) -> Result<(), String> {
    if s.starts_with('/') {
        return Err(format!(
            "\"{s}\" must be relative to the category topdir (no leading \"/\")"
        ));
    }
    if s.is_empty() {
        return Ok(());
    }
    check_components(s)
}

fn check_components(s: &str) -> Result<(), String> {
    if s.ends_with('/') {
        return Err(format!("\"{s}\" must not end with \"/\""));
    }
    for component in s.split('/') {
        match component {
            "" => return Err(format!("\"{s}\" has an empty component (\"//\")")),
            "." | ".." => return Err(format!("\"{component}\" is not allowed")),
            _ => {}
        }
    }
    Ok(())
}

/// A category topdir: a non-empty directory name below the master root.
pub fn topdir(d: &mut Diagnostics, value: &Value, ptr: &str) -> Option<String> {
    let s = text(d, value, ptr, MAX_PATH)?;
    let result = if s.is_empty() {
        Err("a topdir must not be empty".to_string())
    } else if s.starts_with('/') {
        Err(format!("\"{s}\" must not start with \"/\""))
    } else {
        check_components(&s)
    };
    match result {
        Ok(()) => Some(s),
        Err(message) => {
            d.error(value.pos, ptr, message);
            None
        }
    }
}

/// An `up2date` pattern: `a/b`, `a/b/**`, `**` or `""`.
pub fn pattern(d: &mut Diagnostics, value: &Value, ptr: &str) -> Option<Pattern> {
    let s = text(d, value, ptr, MAX_PATH)?;
    let parsed = if s == "**" {
        Ok(Pattern::All)
    } else {
        let (dir, subtree) = match s.strip_suffix("/**") {
            Some(dir) => (dir, true),
            None => (s.as_str(), false),
        };
        if dir.contains('*') || (subtree && dir.is_empty()) {
            Err(format!(
                "\"{s}\" is not a pattern: write \"a/b\", \"a/b/**\", \"**\" or \"\""
            ))
        } else {
            check_relative(dir).map(|()| {
                if subtree {
                    Pattern::Subtree(dir.to_string())
                } else {
                    Pattern::Dir(dir.to_string())
                }
            })
        }
    };
    match parsed {
        Ok(p) => Some(p),
        Err(message) => {
            d.error(value.pos, ptr, message);
            None
        }
    }
}

/// A country code of the built-in table, as a JSON string.
pub fn country(d: &mut Diagnostics, value: &Value, ptr: &str) -> Option<String> {
    let s = string(d, value, ptr)?;
    check_country(d, value.pos, ptr, s).then(|| s.to_string())
}

/// The rules of [`country`] on a string already read (e.g. an object key).
pub fn check_country(d: &mut Diagnostics, pos: Pos, ptr: &str, s: &str) -> bool {
    if countries::lookup(s).is_some() {
        return true;
    }
    let mut message = format!("\"{s}\" is not an ISO 3166-1 alpha-2 code");
    if let Some(meant) = countries::suggestion(s) {
        message.push_str(&format!(" (did you mean \"{meant}\"?)"));
    }
    d.error(pos, ptr, message);
    false
}

/// A continent code: one of AF, AN, AS, EU, NA, OC, SA.
pub fn continent(d: &mut Diagnostics, value: &Value, ptr: &str) -> Option<String> {
    let s = string(d, value, ptr)?;
    if !countries::is_continent(s) {
        d.error(
            value.pos,
            ptr,
            format!("\"{s}\" is not one of {}", countries::CONTINENTS.join(", ")),
        );
        return None;
    }
    Some(s.to_string())
}

/// An AS number: 1–4,294,967,294, not 23456 (AS_TRANS).
pub fn asn(d: &mut Diagnostics, value: &Value, ptr: &str) -> Option<u32> {
    let n = integer(d, value, ptr)?;
    if !(1..=MAX_ASN).contains(&n) || n == AS_TRANS {
        d.error(
            value.pos,
            ptr,
            format!("{n} is not a valid AS number (1–{MAX_ASN}, not {AS_TRANS})"),
        );
        return None;
    }
    u32::try_from(n).ok()
}

/// A host netblock: a CIDR, a bare address, an IPv4 network with a dotted
/// mask (all canonicalised by [`Prefix::parse_lenient`]), or a DNS name.
pub fn netblock(d: &mut Diagnostics, value: &Value, ptr: &str) -> Option<Netblock> {
    let s = text(d, value, ptr, 253)?;
    match Prefix::parse_lenient(&s) {
        Ok(prefix) => Some(Netblock::Network(prefix)),
        Err(PrefixError::Syntax(_)) if is_dns_name(&s) => Some(Netblock::DnsName(s)),
        Err(PrefixError::Syntax(_)) => {
            d.error(
                value.pos,
                ptr,
                format!("\"{s}\" is neither an IP network nor a DNS name"),
            );
            None
        }
        Err(e) => {
            d.error(value.pos, ptr, e.to_string());
            None
        }
    }
}

/// A network given as an object key (`netblock_countries`).
pub fn check_network(d: &mut Diagnostics, pos: Pos, ptr: &str, s: &str) -> Option<Prefix> {
    match Prefix::parse_lenient(s) {
        Ok(prefix) => Some(prefix),
        Err(e) => {
            d.error(pos, ptr, e.to_string());
            None
        }
    }
}

/// A host name with at least two labels of letters, digits and `-` (not at
/// either end of a label), at most 253, optionally ending with `.`; the last
/// label is not all digits, so a mistyped address such as `300.1.1.1` is not
/// taken for a name.
pub fn is_dns_name(s: &str) -> bool {
    let s = s.strip_suffix('.').unwrap_or(s);
    let labels: Vec<&str> = s.split('.').collect();
    labels.len() >= 2
        && s.len() <= 253
        && labels.iter().all(|l| {
            (1..=63).contains(&l.len())
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
        && labels
            .last()
            .is_some_and(|l| !l.bytes().all(|b| b.is_ascii_digit()))
}

/// A lower-case hexadecimal digest of `digits` digits.
pub fn digest(d: &mut Diagnostics, value: &Value, ptr: &str, digits: usize) -> Option<String> {
    let s = string(d, value, ptr)?;
    let found = s.chars().count();
    let problem = if found != digits {
        Some(format!(
            "expected {digits} hexadecimal digits, found {found}"
        ))
    } else if let Some((i, c)) = s.chars().enumerate().find(|(_, c)| !c.is_ascii_hexdigit()) {
        Some(format!(
            "expected {digits} hexadecimal digits, found \"{c}\" at position {}",
            i + 1
        ))
    } else if s.bytes().any(|b| b.is_ascii_uppercase()) {
        Some(format!(
            "write the digest in lower case: \"{}\"",
            s.to_ascii_lowercase()
        ))
    } else {
        None
    };
    match problem {
        Some(message) => {
            d.error(value.pos, ptr, message);
            None
        }
        None => Some(s.to_string()),
    }
}

/// Seconds since the epoch, 0 or more.
pub fn epoch(d: &mut Diagnostics, value: &Value, ptr: &str) -> Option<i64> {
    int_in(d, value, ptr, 0, i128::from(i64::MAX), "").and_then(|n| i64::try_from(n).ok())
}

/// An RFC 3339 time such as `2024-11-25T10:00:00Z`.
pub fn time(d: &mut Diagnostics, value: &Value, ptr: &str) -> Option<OffsetDateTime> {
    let s = string(d, value, ptr)?;
    match OffsetDateTime::parse(s, &Rfc3339) {
        Ok(t) => Some(t),
        Err(_) => {
            d.error(
                value.pos,
                ptr,
                format!("\"{s}\" is not an RFC 3339 time such as \"2024-11-25T10:00:00Z\""),
            );
            None
        }
    }
}

/// A mirror base URL (see [`url::check_mirror_url`]).
pub fn mirror_url(d: &mut Diagnostics, value: &Value, ptr: &str) -> Option<String> {
    checked_url(d, value, ptr, url::check_mirror_url)
}

/// A site's public link (see [`url::check_link_url`]).
pub fn link_url(d: &mut Diagnostics, value: &Value, ptr: &str) -> Option<String> {
    checked_url(d, value, ptr, url::check_link_url)
}

fn checked_url(
    d: &mut Diagnostics,
    value: &Value,
    ptr: &str,
    check: fn(&str) -> Result<(), String>,
) -> Option<String> {
    let s = text(d, value, ptr, MAX_PATH)?;
    match check(&s) {
        Ok(()) => Some(s),
        Err(message) => {
            d.error(value.pos, ptr, message);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_names() {
        assert!(is_dns_name("mirror.example.com"));
        assert!(is_dns_name("mirror.example.com."));
        assert!(!is_dns_name("300.1.1.1"));
        assert!(!is_dns_name("localhost"));
        assert!(!is_dns_name("-a.example.com"));
        assert!(!is_dns_name("a..b"));
    }

    #[test]
    fn relative_paths() {
        assert_eq!(check_relative(""), Ok(()));
        assert_eq!(check_relative("a/b"), Ok(()));
        assert_eq!(
            check_relative("/releases/40"),
            Err(
                "\"/releases/40\" must be relative to the category topdir (no leading \"/\")"
                    .into()
            )
        );
        assert_eq!(
            check_relative("a/../b"),
            Err("\"..\" is not allowed".into())
        );
        assert_eq!(check_relative("a/./b"), Err("\".\" is not allowed".into()));
        assert_eq!(
            check_relative("a//b"),
            Err("\"a//b\" has an empty component (\"//\")".into())
        );
        assert_eq!(
            check_relative("a/"),
            Err("\"a/\" must not end with \"/\"".into())
        );
    }
}
