//! XML escaping (E59). *Differs from the reference:* it escapes nothing, so a URL with `&` or
//! a message with `--` made invalid XML.

/// Appends `s` with `&`, `<`, `>`, `"` replaced by `&amp;`, `&lt;`, `&gt;`, `&quot;`: safe in
/// element text and in double-quoted attributes (E59).
pub fn xml_escape(out: &mut Vec<u8>, s: &str) {
    xml_escape_bytes(out, s.as_bytes());
}

/// [`xml_escape`] on bytes, for callers holding bytes that are ASCII by construction.
pub(super) fn xml_escape_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    // Almost nothing needs escaping: two SIMD scans and one copy beat the
    // byte-by-byte loop, which was a tenth of a 100-host metalink (docs/benchmarks.md).
    // Tiny inputs (schemes, country codes) go straight to the loop below.
    if bytes.len() >= 16
        && memchr::memchr3(b'&', b'<', b'>', bytes).is_none()
        && memchr::memchr(b'"', bytes).is_none()
    {
        out.extend_from_slice(bytes);
        return;
    }
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let entity: &[u8] = match b {
            b'&' => b"&amp;",
            b'<' => b"&lt;",
            b'>' => b"&gt;",
            b'"' => b"&quot;",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(entity);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// Appends `s` made safe inside `<!-- … -->` (E59): a space follows every `-` that precedes a
/// `-`, and a final `-`, so the text never holds `--` nor ends next to the closing `-->`.
pub fn comment_escape(out: &mut Vec<u8>, s: &str) {
    let mut escaper = CommentEscaper::default();
    escaper.push(out, s.as_bytes());
    escaper.finish(out);
}

/// [`comment_escape`] over a message given in pieces (lines and their separators): a `-`
/// ending one piece and one starting the next are still separated, and "final" means the end
/// of the whole message.
#[derive(Default)]
pub(super) struct CommentEscaper {
    after_dash: bool,
}

impl CommentEscaper {
    /// Appends the next piece of the message.
    pub(super) fn push(&mut self, out: &mut Vec<u8>, piece: &[u8]) {
        for &b in piece {
            if b == b'-' && self.after_dash {
                out.push(b' ');
            }
            out.push(b);
            self.after_dash = b == b'-';
        }
    }

    /// Ends the message: a final `-` gets its space.
    pub(super) fn finish(self, out: &mut Vec<u8>) {
        if self.after_dash {
            out.push(b' ');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xml(s: &str) -> String {
        let mut out = Vec::new();
        xml_escape(&mut out, s);
        String::from_utf8(out).unwrap()
    }

    fn comment(s: &str) -> String {
        let mut out = Vec::new();
        comment_escape(&mut out, s);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn xml_specials() {
        assert_eq!(xml(""), "");
        assert_eq!(xml("plain-text_ok"), "plain-text_ok");
        assert_eq!(xml(r#"a&b<c>d"e'f"#), "a&amp;b&lt;c&gt;d&quot;e'f");
        assert_eq!(xml("&&"), "&amp;&amp;");
        assert_eq!(xml("é<"), "é&lt;");
    }

    #[test]
    fn comment_dashes() {
        assert_eq!(comment("a--b"), "a- -b");
        assert_eq!(comment("a-b"), "a-b");
        assert_eq!(comment("---"), "- - - ");
        assert_eq!(comment("end-"), "end- ");
        assert_eq!(comment("-start"), "-start");
        assert_eq!(comment(""), "");
    }

    #[test]
    fn comment_pieces_are_one_message() {
        let mut out = Vec::new();
        let mut e = CommentEscaper::default();
        e.push(&mut out, b"a-");
        e.push(&mut out, b"-b-");
        e.push(&mut out, b"\n");
        e.finish(&mut out);
        assert_eq!(out, b"a- -b-\n");
    }
}
