//! Metalink 3.0, the document dnf reads (E57–E60), byte-compatible with the reference server
//! where librepo looks: librepo matches element names as text (the `mm0` prefix is literal) and
//! tries URLs in document order.

use super::date::http_date;
use super::escape::{xml_escape, xml_escape_bytes};
use super::url::{UrlWriter, scheme};
use super::{FileVersionRef, HostUrls, MetalinkFile, indent, push_i64, push_u64};

/// Appends the first two lines of E57, shared with the failure document (E61).
pub(super) fn head(out: &mut Vec<u8>, pubdate_unix: i64) {
    out.extend_from_slice(
        b"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
          <metalink version=\"3.0\" xmlns=\"http://www.metalinker.org/\" type=\"dynamic\" pubdate=\"",
    );
    http_date(out, pubdate_unix);
    out.extend_from_slice(
        b"\" generator=\"mirrormanager\" xmlns:mm0=\"http://fedorahosted.org/mirrormanager\">\n",
    );
}

/// Appends a metalink 3.0 document (E57) for `file`, with every URL of `hosts` in order.
///
/// `pubdate_unix` is `now` in Unix seconds, written as an HTTP date. The host at position p
/// (from 1) gets preference max(1, 101 − p) (E60), shared by its URLs (E58); `location` is its
/// country upper-cased; a private host carries ` mm0:private="True"`. No hosts gives an empty
/// `<resources>` (E33). Every alternate is written, newest first as given.
pub fn metalink3(out: &mut Vec<u8>, pubdate_unix: i64, file: &MetalinkFile, hosts: &[HostUrls]) {
    head(out, pubdate_unix);
    out.extend_from_slice(b" <files>\n  <file name=\"");
    xml_escape(out, file.name);
    out.extend_from_slice(b"\">\n");
    version(out, &file.current, 3);
    if !file.alternates.is_empty() {
        out.extend_from_slice(b"   <mm0:alternates>\n");
        for alternate in file.alternates {
            out.extend_from_slice(b"    <mm0:alternate>\n");
            version(out, alternate, 6);
            out.extend_from_slice(b"    </mm0:alternate>\n");
        }
        out.extend_from_slice(b"   </mm0:alternates>\n");
    }
    out.extend_from_slice(b"   <resources maxconnections=\"1\">\n");
    let mut urls = UrlWriter::new(true);
    for (position, host) in (1u64..).zip(hosts) {
        let preference = 101u64.saturating_sub(position).max(1);
        let country = host.country.map(|b| b.to_ascii_uppercase());
        for url in host.urls {
            let scheme = scheme(url).as_bytes();
            out.extend_from_slice(b"    <url protocol=\"");
            xml_escape_bytes(out, scheme);
            out.extend_from_slice(b"\" type=\"");
            xml_escape_bytes(out, scheme);
            out.extend_from_slice(b"\" location=\"");
            xml_escape_bytes(out, &country);
            out.extend_from_slice(b"\" preference=\"");
            push_u64(out, preference);
            if host.private {
                out.extend_from_slice(b"\" mm0:private=\"True");
            }
            out.extend_from_slice(b"\">");
            urls.write(out, url);
            out.extend_from_slice(b"</url>\n");
        }
    }
    out.extend_from_slice(b"   </resources>\n  </file>\n </files>\n</metalink>\n");
}

/// One version's timestamp, size and `<verification>` at `depth`, hashes one deeper (E57).
fn version(out: &mut Vec<u8>, v: &FileVersionRef, depth: usize) {
    if v.timestamp != 0 {
        indent(out, depth);
        out.extend_from_slice(b"<mm0:timestamp>");
        push_i64(out, v.timestamp);
        out.extend_from_slice(b"</mm0:timestamp>\n");
    }
    if v.size != 0 {
        indent(out, depth);
        out.extend_from_slice(b"<size>");
        push_u64(out, v.size);
        out.extend_from_slice(b"</size>\n");
    }
    indent(out, depth);
    out.extend_from_slice(b"<verification>\n");
    let hashes = [
        ("md5", v.md5),
        ("sha1", v.sha1),
        ("sha256", v.sha256),
        ("sha512", v.sha512),
    ];
    for (kind, digest) in hashes {
        if let Some(digest) = digest {
            indent(out, depth + 1);
            out.extend_from_slice(b"<hash type=\"");
            out.extend_from_slice(kind.as_bytes());
            out.extend_from_slice(b"\">");
            xml_escape(out, digest);
            out.extend_from_slice(b"</hash>\n");
        }
    }
    indent(out, depth);
    out.extend_from_slice(b"</verification>\n");
}
