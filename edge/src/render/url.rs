//! Answer URLs (E53): base + subpath + file, with the names percent-encoded.
//!
//! *Differs from the reference:* it writes names raw, so a space or `#` in a file name made an
//! invalid URL. The base comes from the snapshot, already a valid URL, and is written as is.

use super::UrlParts;
use super::escape::xml_escape_bytes;

/// Appends the URL of `u` (E53): `base`, then `/` + `subpath` when not empty, then `/` for a
/// directory answer or `/` + file; no `/` is added after a part already ending in `/`. Bytes of
/// subpath and file outside `A–Z a–z 0–9 - . _ ~ ! $ & ' ( ) * + , ; = : @ /` are
/// percent-encoded with upper-case hex.
pub fn write_url(out: &mut Vec<u8>, u: &UrlParts) {
    write_url_as(out, u, false);
}

/// [`write_url`] as XML text (E59): the base escaped, and `&`, the one XML special the
/// encoding keeps, written `&amp;`.
#[cfg(test)]
pub(super) fn write_url_xml(out: &mut Vec<u8>, u: &UrlParts) {
    write_url_as(out, u, true);
}

/// The scheme of a base URL: its text before the first `:` (E58), empty without one.
pub(super) fn scheme<'a>(u: &UrlParts<'a>) -> &'a str {
    u.base.split_once(':').map_or("", |(scheme, _)| scheme)
}

fn write_url_as(out: &mut Vec<u8>, u: &UrlParts, xml: bool) {
    write_base(out, u.base, xml);
    write_tail(out, u, xml);
}

/// The base, then the `/` that separates it from what follows unless it ends with one.
fn write_base(out: &mut Vec<u8>, base: &str, xml: bool) {
    if xml {
        xml_escape_bytes(out, base.as_bytes());
    } else {
        out.extend_from_slice(base.as_bytes());
    }
    if !base.ends_with('/') {
        out.push(b'/');
    }
}

/// What follows the base's `/`: the encoded subpath and its `/`, then the encoded file.
/// It depends on the subpath and file only, never on the base.
fn write_tail(out: &mut Vec<u8>, u: &UrlParts, xml: bool) {
    if !u.subpath.is_empty() {
        percent_encode(out, u.subpath.as_bytes(), xml);
        if !u.subpath.ends_with('/') {
            out.push(b'/');
        }
    }
    if let Some(file) = u.file {
        percent_encode(out, file.as_bytes(), xml);
    }
}

/// Address and length of a subpath and of a file name.
type TailKey = (usize, usize, Option<(usize, usize)>);

/// Writes the URLs of one answer. They share subpath and file, so the encoded
/// tail is computed once per answer instead of once per URL (measured: encoding
/// was a third of rendering a 100-host metalink, docs/benchmarks.md).
pub(super) struct UrlWriter {
    xml: bool,
    /// Identity (address, length) of the subpath and file the tail was made for.
    key: Option<TailKey>,
    tail: Vec<u8>,
}

impl UrlWriter {
    /// A writer for plain text (`xml` false) or XML text.
    pub(super) fn new(xml: bool) -> UrlWriter {
        UrlWriter {
            xml,
            key: None,
            tail: Vec::new(),
        }
    }

    /// Appends one URL, exactly as [`write_url`] (or its XML form) would.
    pub(super) fn write(&mut self, out: &mut Vec<u8>, u: &UrlParts) {
        let key = (
            u.subpath.as_ptr() as usize,
            u.subpath.len(),
            u.file.map(|f| (f.as_ptr() as usize, f.len())),
        );
        if self.key != Some(key) {
            self.tail.clear();
            write_tail(&mut self.tail, u, self.xml);
            self.key = Some(key);
        }
        write_base(out, u.base, self.xml);
        out.extend_from_slice(&self.tail);
    }
}

/// The bytes E53 writes raw: RFC 3986 unreserved, sub-delims, `:`, `@` and `/`.
fn is_url_safe(b: u8) -> bool {
    matches!(b,
        b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9'
        | b'-' | b'.' | b'_' | b'~'
        | b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
        | b':' | b'@' | b'/')
}

fn percent_encode(out: &mut Vec<u8>, bytes: &[u8], xml: bool) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let safe = is_url_safe(b);
        if safe && !(xml && b == b'&') {
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        if safe {
            out.extend_from_slice(b"&amp;");
        } else {
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn url(base: &str, subpath: &str, file: Option<&str>) -> String {
        let mut out = Vec::new();
        write_url(
            &mut out,
            &UrlParts {
                base,
                subpath,
                file,
            },
        );
        String::from_utf8(out).unwrap()
    }

    fn url_xml(base: &str, subpath: &str, file: Option<&str>) -> String {
        let mut out = Vec::new();
        write_url_xml(
            &mut out,
            &UrlParts {
                base,
                subpath,
                file,
            },
        );
        String::from_utf8(out).unwrap()
    }

    /// The per-answer writer gives the same bytes as the one-off functions.
    #[test]
    fn writer_matches_write_url() {
        let cases = [
            ("https://m/pub", "a b/c", Some("x&y.iso")),
            ("https://m/", "", None),
            ("rsync://m/x", "d/", Some("f")),
        ];
        for xml in [false, true] {
            let mut w = UrlWriter::new(xml);
            for (base, subpath, file) in cases {
                let u = UrlParts {
                    base,
                    subpath,
                    file,
                };
                let (mut a, mut b) = (Vec::new(), Vec::new());
                w.write(&mut a, &u);
                write_url_as(&mut b, &u, xml);
                assert_eq!(a, b, "{base} {subpath} {file:?} xml={xml}");
            }
        }
    }

    /// E53, one row per case.
    #[test]
    fn building() {
        let b = "https://m.example/pub";
        let rows: &[(&str, &str, Option<&str>, &str)] = &[
            (b, "", None, "https://m.example/pub/"),
            (b, "", Some("f.iso"), "https://m.example/pub/f.iso"),
            (b, "a/b", None, "https://m.example/pub/a/b/"),
            (
                b,
                "a/b",
                Some("a b#.iso"),
                "https://m.example/pub/a/b/a%20b%23.iso",
            ),
            (
                "https://m.example/pub/",
                "a",
                Some("f"),
                "https://m.example/pub/a/f",
            ),
            ("https://m.example/pub/", "", None, "https://m.example/pub/"),
            (b, "a/", Some("f"), "https://m.example/pub/a/f"),
            (b, "a/", None, "https://m.example/pub/a/"),
            (
                b,
                "libsigc++/x",
                Some("é?%"),
                "https://m.example/pub/libsigc++/x/%C3%A9%3F%25",
            ),
            (
                b,
                "",
                Some("!$&'()*+,;=:@~"),
                "https://m.example/pub/!$&'()*+,;=:@~",
            ),
            (
                b,
                "",
                Some("<>\"\\^`{|}[]\n\x7f"),
                "https://m.example/pub/%3C%3E%22%5C%5E%60%7B%7C%7D%5B%5D%0A%7F",
            ),
            // The base is written as is, even when it holds bytes E53 would encode.
            ("https://m.example/a b", "", None, "https://m.example/a b/"),
        ];
        for &(base, subpath, file, expected) in rows {
            assert_eq!(
                url(base, subpath, file),
                expected,
                "{base:?} {subpath:?} {file:?}"
            );
        }
    }

    #[test]
    fn as_xml_text() {
        assert_eq!(
            url_xml("https://m.example/a&b<c", "d&e", Some("x&y<z.xml")),
            "https://m.example/a&amp;b&lt;c/d&amp;e/x&amp;y%3Cz.xml"
        );
    }

    #[test]
    fn schemes() {
        let u = |base| UrlParts {
            base,
            subpath: "",
            file: None,
        };
        assert_eq!(scheme(&u("https://m.example")), "https");
        assert_eq!(scheme(&u("rsync://m.example")), "rsync");
        assert_eq!(scheme(&u("no-scheme")), "");
    }

    fn percent_decode(s: &str) -> Vec<u8> {
        let b = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 3;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        out
    }

    proptest! {
        /// Whatever the names hold, the URL past the base is made of E53's safe bytes and
        /// upper-case escapes, and decodes back to the names.
        #[test]
        fn encoding_is_safe_and_reversible(file in "\\PC*") {
            let written = url("https://m.example", "", Some(&file));
            let tail = &written["https://m.example/".len()..];
            let bytes = tail.as_bytes();
            for (i, &b) in bytes.iter().enumerate() {
                let in_escape = (i >= 1 && bytes[i - 1] == b'%') || (i >= 2 && bytes[i - 2] == b'%');
                prop_assert!(is_url_safe(b) || b == b'%' || (in_escape && b.is_ascii_hexdigit() && !b.is_ascii_lowercase()));
            }
            prop_assert_eq!(percent_decode(tail), file.as_bytes());
        }
    }
}
