//! Rendering: the bytes of every answer body (edge-protocol.md §10, E36, E53, E61, E64).
//!
//! It exists as a module of its own because dnf, librepo and existing tooling read the
//! reference server's text literally (the `mm0` prefix, one element per line, the plain-list
//! comment lines), so the whole byte layout lives in one place, pinned by byte-exact tests.
//!
//! **Architecture Invariant:** render knows nothing about HTTP, the snapshot's storage or
//! selection. Callers hand it plain borrowed data, already resolved, selected and ordered
//! (§5, §7–§9), and a reused `Vec<u8>` that every function only appends to; nothing here
//! allocates beyond growing that buffer. Escaping is done here and nowhere else: callers pass
//! raw text.

mod date;
mod escape;
mod failure;
mod metalink3;
mod metalink4;
mod mirrorlist;
mod url;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod well_formed;

pub use date::{http_date, rfc3339, rfc3339_string};
pub use escape::{comment_escape, xml_escape};
pub use failure::{
    available_list, metalink_failure, metalink_unknown_repo, mirrorlist_failure,
    mirrorlist_unknown_repo,
};
pub use metalink3::metalink3;
pub use metalink4::metalink4;
pub use mirrorlist::{identity, mirrorlist, tier_word};
pub use url::write_url;

/// One version of a file, as a metalink describes it (DM §9 file details).
///
/// Digests are lower-case hex as stored in the snapshot; `None` leaves the hash out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FileVersionRef<'a> {
    /// Modification time in Unix seconds; 0 leaves `<mm0:timestamp>` out (E57).
    pub timestamp: i64,
    /// Size in bytes; 0 leaves `<size>` out (E57, E62).
    pub size: u64,
    /// MD5 digest.
    pub md5: Option<&'a str>,
    /// SHA-1 digest.
    pub sha1: Option<&'a str>,
    /// SHA-256 digest.
    pub sha256: Option<&'a str>,
    /// SHA-512 digest.
    pub sha512: Option<&'a str>,
}

/// The file a metalink answers for (E32): its current version and older ones.
#[derive(Clone, Copy, Debug)]
pub struct MetalinkFile<'a> {
    /// File name, written in `<file name="…">` (escaped here).
    pub name: &'a str,
    /// The current version.
    pub current: FileVersionRef<'a>,
    /// Older versions still accepted, newest first; version 3 writes every one (E57),
    /// version 4 none (E62).
    pub alternates: &'a [FileVersionRef<'a>],
}

/// One placed host of the answer, in answer order (§7–§9): its position in the slice, from 1,
/// is its preference (E60) or priority (E62).
///
/// A host with no URL still takes a position; selection never places one (E41).
#[derive(Clone, Copy, Debug)]
pub struct HostUrls<'a> {
    /// The host's country, two ASCII letters (case is set per output: E58, E62).
    pub country: [u8; 2],
    /// A private host gets ` mm0:private="True"` in metalink 3 (E57).
    pub private: bool,
    /// The URLs selected for this output per E52, in that order.
    pub urls: &'a [UrlParts<'a>],
}

/// The parts of one answer URL, joined and encoded by [`write_url`] (E53).
#[derive(Clone, Copy, Debug)]
pub struct UrlParts<'a> {
    /// The host category URL, written as is; normally no trailing `/` (DM §9). Its text
    /// before the first `:` is the scheme written in metalink 3's `protocol` and `type`.
    pub base: &'a str,
    /// The directory below the category's top, `""` for the top directory itself.
    pub subpath: &'a str,
    /// The file name; `None` for a directory answer (URL ends with `/`).
    pub file: Option<&'a str>,
}

/// How the plain-list header names the request (E34).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Identity<'a> {
    /// `# repo = R arch = A `: R after redirect, A after the `source` rule.
    Repo {
        /// Repository prefix.
        repo: &'a str,
        /// Architecture.
        arch: &'a str,
    },
    /// `# path = P `, P cleaned (E18).
    Path(&'a str),
}

/// One word of the plain-list header (E50); the caller decides which are written and in what
/// order, render only spells them. Each is written with its trailing space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TierWord {
    /// `Using preferred netblock `.
    PreferredNetblock,
    /// `Using ASN n `.
    Asn(u32),
    /// `country = XX ` (the code is upper-cased here).
    Country([u8; 2]),
    /// `country = global `.
    Global,
}

/// Line 1 of a plain mirrorlist (E63).
#[derive(Clone, Copy, Debug)]
pub struct MirrorlistHeader<'a> {
    /// The E34 identity.
    pub identity: Identity<'a>,
    /// The E50 tier words, in tier order.
    pub words: &'a [TierWord],
    /// The normalised `protocol` list (E21) when the parameter was given: written as
    /// `protocol = a,b` with no trailing space.
    pub protocols: Option<&'a [&'a str]>,
}

/// Appends `n` in decimal without allocating.
fn push_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// Appends `n` in decimal, `-` first when negative, without allocating.
fn push_i64(out: &mut Vec<u8>, n: i64) {
    if n < 0 {
        out.push(b'-');
    }
    push_u64(out, n.unsigned_abs());
}

/// Appends `n` spaces of indentation (the layouts go at most 7 deep).
fn indent(out: &mut Vec<u8>, n: usize) {
    out.extend(std::iter::repeat_n(b' ', n));
}
