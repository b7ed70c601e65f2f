//! The prefix→ASN table: reading an operator's `prefix/len ASN` file with the
//! rules of `asn import` (control-plane.md §9) and its normalised, hashed form.
//!
//! The same reader serves `asn import` and `snapshot build --asn-table`, so both
//! accept and reject exactly the same files. Routing-table dumps are messy, so a
//! few bad lines are skipped and reported rather than failing the import; a file
//! that is mostly wrong (more than `max_bad_fraction`) is rejected whole, since
//! it is more likely the wrong file than a file with a few typos.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use mirrorfleet_snapshot::net::Prefix;
use sha2::{Digest, Sha256};

/// The default for `asn.max_bad_fraction`: more than 1 % bad lines rejects a file.
pub const DEFAULT_MAX_BAD_FRACTION: f64 = 0.01;

/// AS_TRANS (RFC 6793): a placeholder that 2-byte speakers see, never a real origin.
const AS_TRANS: u32 = 23456;

/// The highest usable AS number; 4,294,967,295 is reserved (RFC 7300).
const MAX_ASN: u32 = 4_294_967_294;

/// A validated prefix→ASN table in normal order: IPv4 before IPv6, each family
/// sorted by network address then length, every prefix once.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AsnTable {
    /// `(prefix, origin AS)` pairs in normal order.
    pub entries: Vec<(Prefix, u32)>,
}

/// What kind of problem a [`LineIssue`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IssueKind {
    /// The line is not a valid `prefix/len ASN` line; it counts towards
    /// `max_bad_fraction`.
    Bad,
    /// The prefix was listed on an earlier line; the first ASN is kept.
    Duplicate,
    /// A valid line that is deliberately left out (a length-0 prefix).
    Skipped,
}

/// One problem found on one line of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineIssue {
    /// 1-based line number.
    pub line: usize,
    /// The message for the user, starting with `FILE:LINE: `.
    pub message: String,
    /// Whether the line was bad, a duplicate or skipped.
    pub kind: IssueKind,
}

impl fmt::Display for LineIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// What reading a table found, for the operator: counts and every issue in line order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AsnReport {
    /// The file name used in messages.
    pub source_name: String,
    /// Lines that are neither blank nor `#` comments.
    pub data_lines: usize,
    /// Entries in the resulting table.
    pub entries: usize,
    /// Lines of kind [`IssueKind::Bad`].
    pub bad: usize,
    /// Lines of kind [`IssueKind::Duplicate`].
    pub duplicates: usize,
    /// Lines of kind [`IssueKind::Skipped`].
    pub skipped: usize,
    /// Every issue, in line order.
    pub issues: Vec<LineIssue>,
}

impl AsnReport {
    fn add(&mut self, line: usize, kind: IssueKind, detail: String) {
        match kind {
            IssueKind::Bad => self.bad += 1,
            IssueKind::Duplicate => self.duplicates += 1,
            IssueKind::Skipped => self.skipped += 1,
        }
        let message = format!("{}:{line}: {detail}", self.source_name);
        self.issues.push(LineIssue {
            line,
            message,
            kind,
        });
    }
}

/// Why a table file was rejected; the current table stays in place.
#[derive(Debug, thiserror::Error)]
pub enum AsnTableError {
    /// More bad lines than `max_bad_fraction` allows.
    #[error(
        "{source_name}: {bad} of {data_lines} lines are bad (more than {limit_percent}%); first: {first}"
    )]
    TooManyBad {
        /// The file name.
        source_name: String,
        /// Bad lines.
        bad: usize,
        /// Lines that are neither blank nor comments.
        data_lines: usize,
        /// `max_bad_fraction` as a percentage, for the message.
        limit_percent: f64,
        /// The message of the first bad line.
        first: String,
        /// Every issue found, bad lines and others, in line order.
        issues: Vec<LineIssue>,
    },
    /// Not one line gave an entry (an empty file, or only comments or bad lines).
    #[error("{source_name}: no valid \"prefix/len ASN\" line")]
    NoValidLine {
        /// The file name.
        source_name: String,
    },
    /// The file could not be read.
    #[error("{}: cannot read the ASN table: {error}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        error: std::io::Error,
    },
    /// The file is not UTF-8 text (perhaps a compressed or binary dump).
    #[error(
        "{}:{line}: not UTF-8 text; the ASN table must be plain \"prefix/len ASN\" lines (decompress it first?)",
        path.display()
    )]
    NotUtf8 {
        /// The file.
        path: PathBuf,
        /// The 1-based line holding the first invalid byte.
        line: usize,
    },
}

impl AsnTable {
    /// The stored form: one `prefix/len ASN` line per entry, in normal order, with
    /// canonical addresses (dotted quad, RFC 5952 lower-case IPv6).
    pub fn normalised_text(&self) -> String {
        let mut text = String::with_capacity(self.entries.len() * 24);
        for (prefix, asn) in &self.entries {
            text.push_str(&format!("{prefix} {asn}\n"));
        }
        text
    }

    /// The table's identity: the SHA-256 of [`AsnTable::normalised_text`], lower-case hex.
    pub fn sha256_hex(&self) -> String {
        hex::encode(Sha256::digest(self.normalised_text().as_bytes()))
    }

    /// Number of IPv4 entries.
    pub fn count_v4(&self) -> usize {
        self.entries
            .iter()
            .filter(|(p, _)| p.addr().is_ipv4())
            .count()
    }

    /// Number of IPv6 entries.
    pub fn count_v6(&self) -> usize {
        self.entries
            .iter()
            .filter(|(p, _)| p.addr().is_ipv6())
            .count()
    }
}

/// Reads a table from text with the rules of `asn import`.
///
/// `source_name` names the file in every message. `max_bad_fraction` is the
/// largest share of bad lines (of the lines that are neither blank nor
/// comments) that is still accepted: `0.0` rejects any bad line.
pub fn parse_asn_table(
    text: &str,
    source_name: &str,
    max_bad_fraction: f64,
) -> Result<(AsnTable, AsnReport), AsnTableError> {
    let mut report = AsnReport {
        source_name: source_name.to_string(),
        ..AsnReport::default()
    };
    // prefix → (line, ASN) of its first good occurrence.
    let mut seen: HashMap<Prefix, (usize, u32)> = HashMap::new();
    let mut entries = Vec::new();

    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        report.data_lines += 1;
        let (prefix, asn) = match parse_line(trimmed) {
            Ok(parsed) => parsed,
            Err(detail) => {
                report.add(line, IssueKind::Bad, detail);
                continue;
            }
        };
        if prefix.len() == 0 {
            let detail = format!("{prefix} is a length-0 prefix (default route); skipped");
            report.add(line, IssueKind::Skipped, detail);
            continue;
        }
        if let Some(&(first_line, first_asn)) = seen.get(&prefix) {
            let detail = if first_asn == asn {
                format!("{prefix} is already listed on line {first_line} with the same AS {asn}")
            } else {
                format!(
                    "{prefix} is already listed on line {first_line}; kept AS {first_asn} from there, ignored AS {asn}"
                )
            };
            report.add(line, IssueKind::Duplicate, detail);
            continue;
        }
        seen.insert(prefix, (line, asn));
        entries.push((prefix, asn));
    }

    if report.bad > 0 && report.bad as f64 / report.data_lines as f64 > max_bad_fraction {
        let first = report
            .issues
            .iter()
            .find(|i| i.kind == IssueKind::Bad)
            .map(|i| i.message.clone())
            .unwrap_or_default();
        return Err(AsnTableError::TooManyBad {
            source_name: report.source_name,
            bad: report.bad,
            data_lines: report.data_lines,
            // Rounded so that 0.07 reads "7%", not "7.000000000000001%".
            limit_percent: (max_bad_fraction * 100.0 * 1e6).round() / 1e6,
            first,
            issues: report.issues,
        });
    }
    if entries.is_empty() {
        return Err(AsnTableError::NoValidLine {
            source_name: report.source_name,
        });
    }

    // IpAddr orders every IPv4 address before every IPv6 one, so this key is
    // exactly the normal order; prefixes are unique, so no tie needs breaking.
    entries.sort_unstable_by_key(|(p, _)| (p.addr(), p.len()));
    report.entries = entries.len();
    Ok((AsnTable { entries }, report))
}

/// Reads a table file with [`parse_asn_table`], naming the file by its path.
pub fn read_asn_table_file(
    path: &Path,
    max_bad_fraction: f64,
) -> Result<(AsnTable, AsnReport), AsnTableError> {
    let bytes = std::fs::read(path).map_err(|error| AsnTableError::Io {
        path: path.to_path_buf(),
        error,
    })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
        AsnTableError::NotUtf8 {
            path: path.to_path_buf(),
            line,
        }
    })?;
    parse_asn_table(&text, &path.display().to_string(), max_bad_fraction)
}

/// One non-blank, non-comment line: `prefix/len ASN`, fields separated by whitespace.
/// The error is the message for the user, without the `FILE:LINE: ` part.
fn parse_line(line: &str) -> Result<(Prefix, u32), String> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let [prefix_text, asn_text] = fields[..] else {
        return Err(wrong_shape(line, &fields));
    };
    let prefix: Prefix = prefix_text.parse().map_err(|e| format!("{e}"))?;
    let asn = parse_asn(asn_text)?;
    Ok((prefix, asn))
}

fn wrong_shape(line: &str, fields: &[&str]) -> String {
    let mut message = format!("expected \"prefix/len ASN\", found \"{line}\"");
    if fields.len() == 1 {
        message.push_str(" (no AS number)");
    } else if fields.iter().skip(1).any(|f| f.starts_with('#')) {
        message.push_str(" (comments must be on a line of their own)");
    } else {
        message.push_str(&format!(" ({} fields, not 2)", fields.len()));
    }
    message
}

fn parse_asn(text: &str) -> Result<u32, String> {
    let digits = text
        .strip_prefix("AS")
        .or_else(|| text.strip_prefix("as"))
        .filter(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()));
    if let Some(digits) = digits {
        return Err(format!(
            "\"{text}\" is not an AS number; write it without \"AS\": {digits}"
        ));
    }
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "\"{text}\" is not an AS number (a plain decimal number)"
        ));
    }
    let out_of_range = || format!("AS number {text} is out of range (1 to {MAX_ASN})");
    let asn: u32 = text.parse().map_err(|_| out_of_range())?;
    if asn == 0 || asn > MAX_ASN {
        return Err(out_of_range());
    }
    if asn == AS_TRANS {
        return Err(format!(
            "AS number {AS_TRANS} is AS_TRANS, a placeholder for 4-byte AS numbers, not an origin AS"
        ));
    }
    Ok(asn)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<(AsnTable, AsnReport), AsnTableError> {
        parse_asn_table(text, "FILE", DEFAULT_MAX_BAD_FRACTION)
    }

    fn table(text: &str) -> (AsnTable, AsnReport) {
        match parse(text) {
            Ok(ok) => ok,
            Err(e) => panic!("rejected: {e}"),
        }
    }

    fn pairs(table: &AsnTable) -> Vec<(String, u32)> {
        table
            .entries
            .iter()
            .map(|(p, a)| (p.to_string(), *a))
            .collect()
    }

    /// Parses one bad line with the threshold disabled and returns its message.
    fn bad_message(line: &str) -> String {
        let text = format!("192.0.2.0/24 64500\n{line}\n");
        let (_, report) = parse_asn_table(&text, "FILE", 1.0).expect("one good line");
        assert_eq!(report.bad, 1, "{line:?} not bad");
        report.issues[0].message.clone()
    }

    #[test]
    fn reads_good_lines_blank_lines_and_comments() {
        let (t, r) = table(
            "# origin table\n\n192.0.2.0/24 64500\n  \t\n   # indented comment\n2001:db8::/32\t\t65551\r\n198.51.100.0/24   4294967294\n",
        );
        assert_eq!(
            pairs(&t),
            [
                ("192.0.2.0/24".to_string(), 64500),
                ("198.51.100.0/24".to_string(), 4_294_967_294),
                ("2001:db8::/32".to_string(), 65551),
            ]
        );
        assert_eq!(
            (r.data_lines, r.entries, r.bad, r.duplicates, r.skipped),
            (3, 3, 0, 0, 0)
        );
        assert!(r.issues.is_empty());
        assert_eq!((t.count_v4(), t.count_v6()), (2, 1));
    }

    #[test]
    fn bad_lines_have_exact_messages() {
        let cases = [
            (
                "10.0.0.1/8 64500",
                "FILE:2: \"10.0.0.1/8\" has host bits set; did you mean \"10.0.0.0/8\"?",
            ),
            (
                "10.0.0.0 64500",
                "FILE:2: \"10.0.0.0\" is not an IP network",
            ),
            (
                "10.0.0.0/33 64500",
                "FILE:2: \"10.0.0.0/33\" is not an IP network",
            ),
            (
                "example.org/24 64500",
                "FILE:2: \"example.org/24\" is not an IP network",
            ),
            (
                "10.0.0.0/8",
                "FILE:2: expected \"prefix/len ASN\", found \"10.0.0.0/8\" (no AS number)",
            ),
            (
                "10.0.0.0/8 64500 64501",
                "FILE:2: expected \"prefix/len ASN\", found \"10.0.0.0/8 64500 64501\" (3 fields, not 2)",
            ),
            (
                "10.0.0.0/8 64500 # ours",
                "FILE:2: expected \"prefix/len ASN\", found \"10.0.0.0/8 64500 # ours\" (comments must be on a line of their own)",
            ),
            (
                "10.0.0.0/8 0",
                "FILE:2: AS number 0 is out of range (1 to 4294967294)",
            ),
            (
                "10.0.0.0/8 4294967295",
                "FILE:2: AS number 4294967295 is out of range (1 to 4294967294)",
            ),
            (
                "10.0.0.0/8 99999999999999999999999",
                "FILE:2: AS number 99999999999999999999999 is out of range (1 to 4294967294)",
            ),
            (
                "10.0.0.0/8 23456",
                "FILE:2: AS number 23456 is AS_TRANS, a placeholder for 4-byte AS numbers, not an origin AS",
            ),
            (
                "10.0.0.0/8 AS64500",
                "FILE:2: \"AS64500\" is not an AS number; write it without \"AS\": 64500",
            ),
            (
                "10.0.0.0/8 -5",
                "FILE:2: \"-5\" is not an AS number (a plain decimal number)",
            ),
            (
                "10.0.0.0/8 +5",
                "FILE:2: \"+5\" is not an AS number (a plain decimal number)",
            ),
            (
                "10.0.0.0/8 1.5",
                "FILE:2: \"1.5\" is not an AS number (a plain decimal number)",
            ),
        ];
        for (line, want) in cases {
            assert_eq!(bad_message(line), want, "{line:?}");
        }
    }

    #[test]
    fn bad_lines_below_the_threshold_are_skipped_and_reported() {
        let mut text = String::new();
        for i in 0..199u32 {
            text.push_str(&format!("10.{}.{}.0/24 {}\n", i / 256, i % 256, 64500 + i));
        }
        text.push_str("10.0.0.1/24 64500\n"); // line 200, bad
        let (t, r) = table(&text);
        assert_eq!(t.entries.len(), 199);
        assert_eq!((r.data_lines, r.bad), (200, 1));
        assert_eq!(r.issues[0].line, 200);
        assert_eq!(r.issues[0].kind, IssueKind::Bad);
    }

    #[test]
    fn exactly_the_limit_is_accepted_one_more_is_rejected() {
        let good: String = (0..98u32)
            .map(|i| format!("10.0.{i}.0/24 {}\n", 64500 + i))
            .collect();
        // 1 bad of 100 lines is exactly 1 %: accepted.
        let text = format!("{good}10.0.200.0/24 64999\n10.0.0.1/8 1\n");
        assert!(parse(&text).is_ok());
        // 2 bad of 100: rejected.
        let text = format!("{good}10.0.0.1/8 1\n10.0.0.0/8 0\n");
        let err = parse(&text).unwrap_err();
        assert_eq!(
            err.to_string(),
            "FILE: 2 of 100 lines are bad (more than 1%); first: FILE:99: \"10.0.0.1/8\" has host bits set; did you mean \"10.0.0.0/8\"?"
        );
        match err {
            AsnTableError::TooManyBad { issues, .. } => {
                assert_eq!(issues.iter().map(|i| i.line).collect::<Vec<_>>(), [99, 100]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn threshold_is_the_callers() {
        let text = "10.0.0.0/8 64500\n10.0.0.1/8 64500\n";
        assert!(parse_asn_table(text, "FILE", 0.5).is_ok());
        let err = parse_asn_table(text, "FILE", 0.0).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("FILE: 1 of 2 lines are bad (more than 0%); first: FILE:2:")
        );
        let err = parse_asn_table(&format!("{text}x\n"), "FILE", 0.07).unwrap_err();
        assert!(err.to_string().contains("(more than 7%)"), "{err}");
    }

    #[test]
    fn no_good_line_rejects_the_file() {
        for text in [
            "",
            "\n\n",
            "# only a comment\n",
            "0.0.0.0/0 64500\n::/0 64500\n",
        ] {
            let err = parse(text).unwrap_err();
            assert_eq!(
                err.to_string(),
                "FILE: no valid \"prefix/len ASN\" line",
                "{text:?}"
            );
        }
        // All bad with the threshold disabled is still no good line.
        let err = parse_asn_table("10.0.0.1/8 64500\n", "FILE", 1.0).unwrap_err();
        assert!(matches!(err, AsnTableError::NoValidLine { .. }));
    }

    #[test]
    fn length_zero_prefixes_are_skipped_not_bad() {
        let (t, r) = table("0.0.0.0/0 64500\n192.0.2.0/24 64501\n::/0 64502\n");
        assert_eq!(pairs(&t), [("192.0.2.0/24".to_string(), 64501)]);
        assert_eq!((r.bad, r.skipped), (0, 2));
        let messages: Vec<_> = r
            .issues
            .iter()
            .map(|i| (i.kind, i.message.as_str()))
            .collect();
        assert_eq!(
            messages,
            [
                (
                    IssueKind::Skipped,
                    "FILE:1: 0.0.0.0/0 is a length-0 prefix (default route); skipped"
                ),
                (
                    IssueKind::Skipped,
                    "FILE:3: ::/0 is a length-0 prefix (default route); skipped"
                ),
            ]
        );
    }

    #[test]
    fn a_duplicate_keeps_its_first_asn() {
        let (t, r) = table(
            "192.0.2.0/24 64500\n2001:DB8::/32 64510\n192.0.2.0/24 64501\n2001:db8:0::/32 64510\n",
        );
        assert_eq!(
            pairs(&t),
            [
                ("192.0.2.0/24".to_string(), 64500),
                ("2001:db8::/32".to_string(), 64510)
            ]
        );
        assert_eq!((r.bad, r.duplicates), (0, 2));
        let messages: Vec<_> = r
            .issues
            .iter()
            .map(|i| (i.kind, i.message.as_str()))
            .collect();
        assert_eq!(
            messages,
            [
                (
                    IssueKind::Duplicate,
                    "FILE:3: 192.0.2.0/24 is already listed on line 1; kept AS 64500 from there, ignored AS 64501"
                ),
                (
                    IssueKind::Duplicate,
                    "FILE:4: 2001:db8::/32 is already listed on line 2 with the same AS 64510"
                ),
            ]
        );
    }

    #[test]
    fn a_bad_first_occurrence_does_not_hide_a_later_good_one() {
        let (t, r) = parse_asn_table("192.0.2.0/24 0\n192.0.2.0/24 64500\n", "FILE", 1.0).unwrap();
        assert_eq!(pairs(&t), [("192.0.2.0/24".to_string(), 64500)]);
        assert_eq!((r.bad, r.duplicates), (1, 0));
    }

    #[test]
    fn entries_are_in_normal_order() {
        let (t, _) = table(
            "2001:db8::/48 6\n10.0.0.0/16 3\n2001:db8::/32 5\n10.0.0.0/8 2\n9.0.0.0/8 1\n::1/128 4\n192.0.2.0/24 7\n",
        );
        let got: Vec<_> = t.entries.iter().map(|(p, _)| p.to_string()).collect();
        assert_eq!(
            got,
            [
                "9.0.0.0/8",
                "10.0.0.0/8",
                "10.0.0.0/16",
                "192.0.2.0/24",
                "::1/128",
                "2001:db8::/32",
                "2001:db8::/48"
            ]
        );
    }

    #[test]
    fn normalised_text_is_canonical() {
        let (t, _) = table(
            "2001:0DB8:0000:0000:0000:0000:0000:0000/32 64500\n 192.0.2.0/24\t64501 \n2001:db8:0:1:0:0:0:0/64 64502\n",
        );
        assert_eq!(
            t.normalised_text(),
            "192.0.2.0/24 64501\n2001:db8::/32 64500\n2001:db8:0:1::/64 64502\n"
        );
    }

    #[test]
    fn sha256_is_of_the_normalised_text_and_stable() {
        let (a, _) = table("2001:DB8::/32 64500\n192.0.2.0/24 64501\n");
        let (b, _) =
            table("# same table, other spelling\n192.0.2.0/24 64501\n2001:db8:0::/32 64500\n");
        assert_eq!(a.sha256_hex(), b.sha256_hex());
        assert_eq!(
            a.sha256_hex(),
            hex::encode(Sha256::digest(a.normalised_text()))
        );
        // The text "192.0.2.0/24 64501\n2001:db8::/32 64500\n", hashed once and pinned.
        assert_eq!(a.sha256_hex(), PINNED_SHA256);
        let (c, _) = table("192.0.2.0/24 64502\n2001:db8::/32 64500\n");
        assert_ne!(a.sha256_hex(), c.sha256_hex());
    }

    const PINNED_SHA256: &str = "64546baedda77c760f1fb4764bce9aa3cfad035eec801505967dd27f877e7d4a";

    #[test]
    fn reads_a_file_and_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("table.txt");
        std::fs::write(&path, "192.0.2.0/24 64500\n10.0.0.1/8 1\n").unwrap();
        let (t, r) = read_asn_table_file(&path, 1.0).unwrap();
        assert_eq!(t.entries.len(), 1);
        assert_eq!(
            r.issues[0].message,
            format!(
                "{}:2: \"10.0.0.1/8\" has host bits set; did you mean \"10.0.0.0/8\"?",
                path.display()
            )
        );
    }

    #[test]
    fn a_missing_file_names_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing.txt");
        let err = read_asn_table_file(&path, DEFAULT_MAX_BAD_FRACTION).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with(&format!("{}: cannot read the ASN table: ", path.display())),
            "{text}"
        );
    }

    #[test]
    fn non_utf8_names_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("table.gz");
        std::fs::write(&path, b"192.0.2.0/24 64500\n# ok\n10.0.0.0/8 \xff\xfe\n").unwrap();
        let err = read_asn_table_file(&path, DEFAULT_MAX_BAD_FRACTION).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{}:3: not UTF-8 text; the ASN table must be plain \"prefix/len ASN\" lines (decompress it first?)",
                path.display()
            )
        );
    }
}
