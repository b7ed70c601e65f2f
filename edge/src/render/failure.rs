//! Answers that carry a message instead of mirrors (E36, E61, E64): a metalink failure
//! document, whose message sits in an XML comment, or plain lines on `/mirrorlist`.

use super::escape::CommentEscaper;
use super::mirrorlist::identity_pieces;
use super::{Identity, metalink3, metalink4};

/// Appends a metalink failure document (E61): the first two lines of E57 (version 3, with
/// `pubdate_unix` as its pubdate) or of E62 (`v4`, which ignores `pubdate_unix`), then
/// `<!-- ` + the message + `\n-->\n`, then `</metalink>\n`.
///
/// The message is `message_lines` joined by `\n`, comment-escaped as a whole (E59). A message
/// that must end with `\n` (the reference's empty line before `-->`) is given an empty last
/// line: `["a", ""]` writes `<!-- a\n\n-->`.
pub fn metalink_failure(out: &mut Vec<u8>, v4: bool, pubdate_unix: i64, message_lines: &[&str]) {
    failure_document(out, v4, pubdate_unix, |out, message| {
        for (i, line) in message_lines.iter().enumerate() {
            if i > 0 {
                message.push(out, b"\n");
            }
            message.push(out, line.as_bytes());
        }
    });
}

/// Appends the failure document of an unknown (prefix, arch) (E36): the message
/// `# repo = R arch = A error: invalid repo or arch`, `# following repositories are
/// available:`, then `available` (from [`available_list`]), ending with the empty line the
/// reference writes before `-->`.
pub fn metalink_unknown_repo(
    out: &mut Vec<u8>,
    v4: bool,
    pubdate_unix: i64,
    repo: &str,
    arch: &str,
    available: &[u8],
) {
    failure_document(out, v4, pubdate_unix, |out, message| {
        for piece in identity_pieces(&Identity::Repo { repo, arch }) {
            message.push(out, piece);
        }
        message.push(out, UNKNOWN_REPO);
        message.push(out, available);
        if !available.is_empty() && !available.ends_with(b"\n") {
            message.push(out, b"\n");
        }
    });
}

fn failure_document(
    out: &mut Vec<u8>,
    v4: bool,
    pubdate_unix: i64,
    message: impl FnOnce(&mut Vec<u8>, &mut CommentEscaper),
) {
    if v4 {
        metalink4::head(out);
    } else {
        metalink3::head(out, pubdate_unix);
    }
    out.extend_from_slice(b"<!-- ");
    let mut escaper = CommentEscaper::default();
    message(out, &mut escaper);
    escaper.finish(out);
    out.extend_from_slice(b"\n-->\n</metalink>\n");
}

/// Appends plain error lines for `/mirrorlist` (E64): each of `message_lines` followed by `\n`.
pub fn mirrorlist_failure(out: &mut Vec<u8>, message_lines: &[&str]) {
    for line in message_lines {
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
}

/// Appends the plain-list answer of an unknown (prefix, arch) (E36): the identity line with
/// `error: invalid repo or arch`, `# following repositories are available:`, then `available`.
pub fn mirrorlist_unknown_repo(out: &mut Vec<u8>, repo: &str, arch: &str, available: &[u8]) {
    for piece in identity_pieces(&Identity::Repo { repo, arch }) {
        out.extend_from_slice(piece);
    }
    out.extend_from_slice(UNKNOWN_REPO);
    out.extend_from_slice(available);
    if !available.is_empty() && !available.ends_with(b"\n") {
        out.push(b'\n');
    }
}

/// What follows the identity in the unknown-repository message (E36), up to the list.
const UNKNOWN_REPO: &[u8] =
    b"error: invalid repo or arch\n# following repositories are available:\n";

/// Appends the E35 available list, `# repo=PREFIX&arch=ARCH\n` per entry, in the order given
/// (the caller sorts by (prefix, arch) byte-wise). Rendered once per snapshot load and passed
/// as `available` to [`metalink_unknown_repo`] and [`mirrorlist_unknown_repo`].
pub fn available_list<'a>(
    out: &mut Vec<u8>,
    entries: impl IntoIterator<Item = (&'a str, &'a str)>,
) {
    for (prefix, arch) in entries {
        out.extend_from_slice(b"# repo=");
        out.extend_from_slice(prefix.as_bytes());
        out.extend_from_slice(b"&arch=");
        out.extend_from_slice(arch.as_bytes());
        out.push(b'\n');
    }
}
