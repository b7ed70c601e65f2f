//! Metalink 4 (RFC 5854, E62), for aria2 and libzypp; dnf cannot read it. Same hosts, URLs
//! and order as version 3; timestamps, alternates and the private flag have no place in it.

use super::date::rfc3339;
use super::escape::{xml_escape, xml_escape_bytes};
use super::url::UrlWriter;
use super::{HostUrls, MetalinkFile, push_u64};

/// Appends the first two lines of E62, shared with the failure document (E61).
pub(super) fn head(out: &mut Vec<u8>) {
    out.extend_from_slice(
        b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
          <metalink xmlns=\"urn:ietf:params:xml:ns:metalink\">\n",
    );
}

/// Appends a metalink 4 document (E62) for `file`'s current version, with every URL of
/// `hosts` in order.
///
/// `published_unix` is `now`, written in RFC 3339 UTC. `size` is left out when 0; hashes are
/// named md5, sha-1, sha-256, sha-512; `location` is the host's country lower-cased and
/// `priority` its position p from 1, shared by its URLs.
pub fn metalink4(out: &mut Vec<u8>, published_unix: i64, file: &MetalinkFile, hosts: &[HostUrls]) {
    head(out);
    out.extend_from_slice(b" <generator>mirrorfleet</generator>\n <published>");
    rfc3339(out, published_unix);
    out.extend_from_slice(b"</published>\n <file name=\"");
    xml_escape(out, file.name);
    out.extend_from_slice(b"\">\n");
    let v = &file.current;
    if v.size != 0 {
        out.extend_from_slice(b"  <size>");
        push_u64(out, v.size);
        out.extend_from_slice(b"</size>\n");
    }
    let hashes = [
        ("md5", v.md5),
        ("sha-1", v.sha1),
        ("sha-256", v.sha256),
        ("sha-512", v.sha512),
    ];
    for (kind, digest) in hashes {
        if let Some(digest) = digest {
            out.extend_from_slice(b"  <hash type=\"");
            out.extend_from_slice(kind.as_bytes());
            out.extend_from_slice(b"\">");
            xml_escape(out, digest);
            out.extend_from_slice(b"</hash>\n");
        }
    }
    let mut urls = UrlWriter::new(true);
    for (position, host) in (1u64..).zip(hosts) {
        let country = host.country.map(|b| b.to_ascii_lowercase());
        for url in host.urls {
            out.extend_from_slice(b"  <url location=\"");
            xml_escape_bytes(out, &country);
            out.extend_from_slice(b"\" priority=\"");
            push_u64(out, position);
            out.extend_from_slice(b"\">");
            urls.write(out, url);
            out.extend_from_slice(b"</url>\n");
        }
    }
    out.extend_from_slice(b" </file>\n</metalink>\n");
}
