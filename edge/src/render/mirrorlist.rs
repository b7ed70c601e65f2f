//! The plain mirrorlist (E63): a comment header dnf skips, then one URL per line. Scripts and
//! people read the header, so its words match the reference's (E34, E50).

use super::url::UrlWriter;
use super::{HostUrls, Identity, MirrorlistHeader, TierWord, push_i64, push_u64};

/// Appends the E34 identity, `# repo = R arch = A ` or `# path = P ` (trailing space, no
/// newline): the start of the plain-list header and of the unknown-repository message.
pub fn identity(out: &mut Vec<u8>, id: &Identity) {
    for piece in identity_pieces(id) {
        out.extend_from_slice(piece);
    }
}

/// The E34 identity as pieces, for writers that must see every byte (comment escaping).
pub(super) fn identity_pieces<'a>(id: &Identity<'a>) -> [&'a [u8]; 5] {
    match *id {
        Identity::Repo { repo, arch } => [
            b"# repo = ",
            repo.as_bytes(),
            b" arch = ",
            arch.as_bytes(),
            b" ",
        ],
        Identity::Path(path) => [b"# path = ", path.as_bytes(), b" ", b"", b""],
    }
}

/// Appends a plain mirrorlist (E63): the header line, `# database creation time: E` when
/// `time_line` is `Some(E)` (the snapshot's created_at, Unix seconds), then every URL of
/// `hosts` on its own line, in order. No hosts gives the header alone (E33).
pub fn mirrorlist(
    out: &mut Vec<u8>,
    header: &MirrorlistHeader,
    time_line: Option<i64>,
    hosts: &[HostUrls],
) {
    identity(out, &header.identity);
    for word in header.words {
        tier_word(out, word);
    }
    if let Some(protocols) = header.protocols {
        out.extend_from_slice(b"protocol = ");
        for (i, protocol) in protocols.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(protocol.as_bytes());
        }
    }
    out.push(b'\n');
    if let Some(created_at) = time_line {
        out.extend_from_slice(b"# database creation time: ");
        push_i64(out, created_at);
        out.push(b'\n');
    }
    let mut urls = UrlWriter::new(false);
    for url in hosts.iter().flat_map(|host| host.urls) {
        urls.write(out, url);
        out.push(b'\n');
    }
}

pub fn tier_word(out: &mut Vec<u8>, word: &TierWord) {
    match *word {
        TierWord::PreferredNetblock => out.extend_from_slice(b"Using preferred netblock "),
        TierWord::Asn(asn) => {
            out.extend_from_slice(b"Using ASN ");
            push_u64(out, u64::from(asn));
            out.push(b' ');
        }
        TierWord::Country(code) => {
            out.extend_from_slice(b"country = ");
            out.extend_from_slice(&code.map(|b| b.to_ascii_uppercase()));
            out.push(b' ');
        }
        TierWord::Global => out.extend_from_slice(b"country = global "),
    }
}
