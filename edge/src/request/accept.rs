//! Metalink version negotiation (edge-protocol.md E25).
//!
//! dnf sends `Accept: */*` and must keep getting metalink 3.0 byte for byte, so only an
//! explicit `application/metalink4+xml` selects version 4; aria2 and libzypp send it.
//! The parser follows RFC 9110 §12.5.1 strictly: when in doubt the answer is version 3,
//! which every client reads.

/// Version 4 is wanted when the `Accept` field values (raw, in order; empty when the header
/// is absent) list `application/metalink4+xml` with q > 0 and do not list
/// `application/metalink+xml` with a higher q. Wildcards never count; an unparsable
/// header means version 3.
pub fn wants_metalink4(accept_values: &[&[u8]]) -> bool {
    let mut v4: Option<u16> = None;
    let mut v3: Option<u16> = None;
    for value in accept_values {
        // Field lines joined with `,` parse like each line on its own.
        let parsed = parse_accept(value, |ty, subtype, q| {
            if !ty.eq_ignore_ascii_case(b"application") {
                return;
            }
            // A range listed twice counts with its best weight.
            let slot = if subtype.eq_ignore_ascii_case(b"metalink4+xml") {
                &mut v4
            } else if subtype.eq_ignore_ascii_case(b"metalink+xml") {
                &mut v3
            } else {
                return;
            };
            *slot = Some(slot.map_or(q, |old| old.max(q)));
        });
        if parsed.is_none() {
            return false;
        }
    }
    match v4 {
        Some(q4) if q4 > 0 => v3.is_none_or(|q3| q3 <= q4),
        _ => false,
    }
}

/// Parses one `Accept` field value, calling `each(type, subtype, q in thousandths)` per
/// media range; `None` when it does not follow the grammar.
fn parse_accept(value: &[u8], mut each: impl FnMut(&[u8], &[u8], u16)) -> Option<()> {
    let mut cur = Cursor {
        bytes: value,
        pos: 0,
    };
    loop {
        // `#rule` lists allow empty elements: `a, , b`.
        while matches!(cur.peek(), Some(b' ' | b'\t' | b',')) {
            cur.pos += 1;
        }
        if cur.peek().is_none() {
            return Some(());
        }
        let ty = cur.token()?;
        cur.expect(b'/')?;
        let subtype = cur.token()?;
        let mut q = 1000;
        loop {
            cur.skip_ows();
            match cur.peek() {
                None | Some(b',') => break,
                Some(b';') => cur.pos += 1,
                Some(_) => return None,
            }
            cur.skip_ows();
            if matches!(cur.peek(), None | Some(b',' | b';')) {
                continue; // an empty parameter, which RFC 9110 allows
            }
            let name = cur.token()?;
            cur.expect(b'=')?;
            if name.eq_ignore_ascii_case(b"q") {
                q = qvalue(cur.token()?)?;
            } else if cur.peek() == Some(b'"') {
                cur.quoted_string()?;
            } else {
                cur.token()?;
            }
        }
        each(ty, subtype, q);
    }
}

/// `0[.ddd]` or `1[.000]`, in thousandths.
fn qvalue(text: &[u8]) -> Option<u16> {
    let (int, frac) = match text.iter().position(|&b| b == b'.') {
        Some(dot) => (&text[..dot], &text[dot + 1..]),
        None => (text, &[][..]),
    };
    if frac.len() > 3 || !frac.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut thousandths = 0u16;
    for i in 0..3 {
        thousandths = thousandths * 10 + frac.get(i).map_or(0, |d| u16::from(d - b'0'));
    }
    match int {
        b"0" => Some(thousandths),
        b"1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.peek() == Some(byte)).then(|| self.pos += 1)
    }

    /// One or more `tchar`s (RFC 9110 §5.6.2).
    fn token(&mut self) -> Option<&'a [u8]> {
        let start = self.pos;
        while self.peek().is_some_and(is_tchar) {
            self.pos += 1;
        }
        (self.pos > start).then(|| &self.bytes[start..self.pos])
    }

    /// A quoted string, escapes included (RFC 9110 §5.6.4).
    fn quoted_string(&mut self) -> Option<()> {
        self.expect(b'"')?;
        loop {
            match self.peek()? {
                b'"' => {
                    self.pos += 1;
                    return Some(());
                }
                b'\\' => {
                    self.pos += 1;
                    match self.peek()? {
                        b'\t' | 0x20..=0x7E | 0x80..=0xFF => self.pos += 1,
                        _ => return None,
                    }
                }
                b'\t' | 0x20..=0x7E | 0x80..=0xFF => self.pos += 1,
                _ => return None,
            }
        }
    }
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// E25 rows: `Accept` field lines, then whether version 4 is chosen.
    #[rustfmt::skip]
    #[test]
    fn e25_rows() {
        let rows: &[(&[&[u8]], bool)] = &[
            (&[b"application/metalink4+xml"], true),
            (&[b"*/*"], false),
            (&[b"application/metalink+xml, application/metalink4+xml;q=0.5"], false),
            (&[], false),
            (&[b""], false),
            (&[b"application/*"], false),
            (&[b"application/*, */*;q=0.1"], false),
            (&[b"APPLICATION/Metalink4+XML"], true),
            (&[b"application/metalink4+xml;q=0"], false),
            (&[b"application/metalink4+xml;q=0.000"], false),
            (&[b"application/metalink4+xml;q=0.001"], true),
            (&[b"application/metalink4+xml; q=1.0"], true),
            (&[b"application/metalink4+xml;Q=0.5"], true),
            (&[b"application/metalink4+xml, application/metalink+xml"], true),
            (&[b"application/metalink+xml;q=0.8, application/metalink4+xml;q=0.9"], true),
            (&[b"application/metalink4+xml;q=0.5, application/metalink+xml;q=0.6"], false),
            (&[b"application/metalink4+xml;q=0, application/metalink4+xml;q=0.2"], true),
            (&[b"application/metalink4+xml;charset=utf-8;q=0.7, */*;q=0.1"], true),
            (&[b"application/metalink4+xml;;q=0.7;"], true),
            (&[b"application/metalink4+xml, text/html;level=\"a,b;c\\\"\""], true),
            (&[b"application/metalink4+xml,, ,"], true),
            // Several field lines.
            (&[b"application/metalink+xml;q=0.4", b"application/metalink4+xml;q=0.5"], true),
            (&[b"application/metalink4+xml;q=0.5", b"application/metalink+xml"], false),
            // Unparsable anywhere: version 3.
            (&[b"application/metalink4+xml;q=1.5"], false),
            (&[b"application/metalink4+xml;q=0.0001"], false),
            (&[b"application/metalink4+xml;q=abc"], false),
            (&[b"application/metalink4+xml;q="], false),
            (&[b"application/metalink4+xml;q = 0.5"], false),
            (&[b"application/metalink4+xml, garbage"], false),
            (&[b"application/metalink4+xml", b"text/\xc3\xa9"], false),
            (&[b"application/metalink4+xml, text/html;level=\"open"], false),
            (&[b"application/metalink4+xml /x"], false),
        ];
        for (lines, v4) in rows {
            let text: Vec<_> = lines.iter().map(|l| String::from_utf8_lossy(l)).collect();
            assert_eq!(wants_metalink4(lines), *v4, "{text:?}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        /// E85: random bytes and near-valid headers never panic.
        #[test]
        fn never_panics(
            lines in proptest::collection::vec(
                prop_oneof![
                    proptest::collection::vec(any::<u8>(), 0..60),
                    "[a-z4*/+;=,. \t\"\\\\q0-9]{0,60}".prop_map(String::into_bytes),
                ],
                0..4,
            )
        ) {
            let lines: Vec<&[u8]> = lines.iter().map(Vec::as_slice).collect();
            let _ = wants_metalink4(&lines);
        }
    }
}
