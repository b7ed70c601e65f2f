//! Problems found in an inventory file, in the one format every tool prints:
//! `FILE:LINE:COLUMN: JSON-POINTER: message` (data-model.md §11.3).

use std::fmt;

use super::json::Pos;

/// Most problems reported for one file; past that, more are noise.
pub const MAX_DIAGNOSTICS: usize = 200;

/// Whether a problem stops the import.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Severity {
    /// Nothing is imported.
    Error,
    /// Printed; the import goes on (`--strict` makes it an error).
    Warning,
}

/// One problem, at one place of the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// The file name as given by the caller, e.g. `inventory.json`.
    pub file: String,
    /// Line, from 1.
    pub line: u32,
    /// Column in characters, from 1.
    pub column: u32,
    /// RFC 6901 pointer to the value concerned, e.g. `/sites/1/hosts/0/country`;
    /// empty for syntax errors and for the document itself.
    pub pointer: String,
    /// What is wrong, and where possible what to write instead.
    pub message: String,
}

impl Diagnostic {
    /// True for [`Severity::Error`].
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    /// `FILE:LINE:COLUMN: POINTER: message`; the pointer part is left out when
    /// the pointer is empty (syntax errors, the document itself).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        if !self.pointer.is_empty() {
            write!(f, "{}: ", self.pointer)?;
        }
        f.write_str(&self.message)
    }
}

/// Appends one RFC 6901 reference token to a pointer (`~` → `~0`, `/` → `~1`).
pub fn child(pointer: &str, token: &str) -> String {
    let mut out = String::with_capacity(pointer.len() + token.len() + 1);
    out.push_str(pointer);
    out.push('/');
    for c in token.chars() {
        match c {
            '~' => out.push_str("~0"),
            '/' => out.push_str("~1"),
            c => out.push(c),
        }
    }
    out
}

/// [`child`] for an array index.
pub fn index(pointer: &str, i: usize) -> String {
    format!("{pointer}/{i}")
}

/// Collects the problems of one file.
#[derive(Debug)]
pub struct Diagnostics {
    file: String,
    list: Vec<Diagnostic>,
}

impl Diagnostics {
    /// An empty collection for `file`.
    pub fn new(file: &str) -> Diagnostics {
        Diagnostics {
            file: file.to_string(),
            list: Vec::new(),
        }
    }

    /// Records an error.
    pub fn error(&mut self, pos: Pos, pointer: &str, message: impl Into<String>) {
        self.push(Severity::Error, pos, pointer, message.into());
    }

    /// Records a warning.
    pub fn warn(&mut self, pos: Pos, pointer: &str, message: impl Into<String>) {
        self.push(Severity::Warning, pos, pointer, message.into());
    }

    fn push(&mut self, severity: Severity, pos: Pos, pointer: &str, message: String) {
        self.list.push(Diagnostic {
            severity,
            file: self.file.clone(),
            line: pos.line,
            column: pos.column,
            pointer: pointer.to_string(),
            message,
        });
    }

    /// True when at least one error was recorded.
    pub fn has_errors(&self) -> bool {
        self.list.iter().any(Diagnostic::is_error)
    }

    /// The problems sorted by position (ties keep the order they were found
    /// in), at most [`MAX_DIAGNOSTICS`]. When there are more, warnings are
    /// dropped before errors: an error is what the user must fix first.
    pub fn finish(mut self) -> Vec<Diagnostic> {
        if self.list.len() > MAX_DIAGNOSTICS && self.has_errors() {
            self.list.retain(Diagnostic::is_error);
        }
        self.list.sort_by_key(|d| (d.line, d.column));
        self.list.truncate(MAX_DIAGNOSTICS);
        self.list
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_escapes() {
        let mut d = Diagnostics::new("inventory.json");
        d.warn(Pos { line: 9, column: 1 }, "/b", "later");
        d.error(
            Pos { line: 2, column: 5 },
            &child("/categories", "a/b~c"),
            "bad",
        );
        d.error(Pos { line: 1, column: 1 }, "", "syntax");
        let out: Vec<String> = d.finish().iter().map(ToString::to_string).collect();
        assert_eq!(
            out,
            [
                "inventory.json:1:1: syntax",
                "inventory.json:2:5: /categories/a~1b~0c: bad",
                "inventory.json:9:1: /b: later",
            ]
        );
    }

    #[test]
    fn keeps_errors_when_over_the_limit() {
        let mut d = Diagnostics::new("f");
        for i in 0..300 {
            d.warn(Pos { line: i, column: 1 }, "", "w");
        }
        d.error(
            Pos {
                line: 999,
                column: 1,
            },
            "",
            "e",
        );
        let out = d.finish();
        assert_eq!(out.len(), 1);
        assert!(out[0].is_error());
    }
}
