//! What the conversion did to MirrorManager2's rows (control-plane.md §8.1 "every
//! transformation with its count and first examples"): per source table the rows read and
//! skipped, and per kind of transformation every row it touched, with the reason.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

/// One kind of transformation: which table it applies to, whether it drops the row, what it
/// means, and the rows it touched.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NoteKind {
    /// The MirrorManager2 table.
    pub table: &'static str,
    /// True when the row is not imported (skipped, merged or dropped).
    pub drops: bool,
    /// One line: what is done and why.
    pub reason: &'static str,
    /// One entry per row: which row, and what became of it.
    pub rows: Vec<String>,
}

/// Every transformation of one conversion, by code (`host.uk_to_gb`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Notes {
    pub kinds: BTreeMap<&'static str, NoteKind>,
    /// Rows read per MirrorManager2 table.
    pub read: BTreeMap<&'static str, usize>,
}

/// Examples shown per kind outside a dry run.
pub const EXAMPLES: usize = 5;

impl Notes {
    /// Records that `row` of `table` was changed: `code` names the transformation, `reason`
    /// says what it does (the same text for every row of one code).
    pub fn change(
        &mut self,
        table: &'static str,
        code: &'static str,
        reason: &'static str,
        row: String,
    ) {
        self.add(table, code, reason, false, row);
    }

    /// Records that `row` of `table` is not imported, and why.
    pub fn drop(
        &mut self,
        table: &'static str,
        code: &'static str,
        reason: &'static str,
        row: String,
    ) {
        self.add(table, code, reason, true, row);
    }

    fn add(
        &mut self,
        table: &'static str,
        code: &'static str,
        reason: &'static str,
        drops: bool,
        row: String,
    ) {
        let kind = self.kinds.entry(code).or_insert_with(|| NoteKind {
            table,
            drops,
            reason,
            rows: Vec::new(),
        });
        kind.rows.push(row);
    }

    /// Records how many rows of `table` were read.
    pub fn read(&mut self, table: &'static str, n: usize) {
        self.read.insert(table, n);
    }

    /// Rows of `table` not imported.
    pub fn skipped(&self, table: &str) -> usize {
        self.kinds
            .values()
            .filter(|k| k.drops && k.table == table)
            .map(|k| k.rows.len())
            .sum()
    }

    /// The rows noted under `code` (empty when none).
    pub fn rows(&self, code: &str) -> &[String] {
        self.kinds.get(code).map_or(&[], |k| k.rows.as_slice())
    }

    /// The report: rows read, imported and skipped per table, then each transformation with
    /// its count and its rows (all of them when `all`, else the first [`EXAMPLES`]).
    pub fn render(&self, all: bool) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "rows read from MirrorManager2:");
        for (table, read) in &self.read {
            let skipped = self.skipped(table);
            let _ = writeln!(
                out,
                "  {table}: {read} read, {} imported, {skipped} skipped",
                read.saturating_sub(skipped)
            );
        }
        if self.kinds.is_empty() {
            let _ = writeln!(out, "transformations: none");
            return out;
        }
        let _ = writeln!(out, "transformations:");
        for (code, kind) in &self.kinds {
            let _ = writeln!(out, "  {code} ({}): {}", kind.rows.len(), kind.reason);
            let shown = if all { kind.rows.len() } else { EXAMPLES };
            for row in kind.rows.iter().take(shown) {
                let _ = writeln!(out, "    {row}");
            }
            if kind.rows.len() > shown {
                let _ = writeln!(out, "    … and {} more", kind.rows.len() - shown);
            }
        }
        out
    }
}

impl fmt::Display for Notes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_examples() {
        let mut n = Notes::default();
        n.read("host", 3);
        n.drop("host", "host.no_site", "no site", "host 1".into());
        n.change("host", "host.uk", "UK → GB", "host 2".into());
        assert_eq!(n.skipped("host"), 1);
        let text = n.render(true);
        assert!(
            text.contains("host: 3 read, 2 imported, 1 skipped"),
            "{text}"
        );
        assert!(text.contains("host.uk (1): UK → GB\n    host 2"), "{text}");
    }
}
