//! A small JSON reader that remembers where every value and key starts.
//!
//! serde_json forgets positions once a value is built and silently keeps the
//! last of two equal keys, while the inventory validator must point at the
//! exact line and column of every problem and report duplicate keys. So this
//! parser builds a plain tree in which each value and key carries its
//! [`Pos`], and objects keep all their members, duplicates included, in file
//! order. It accepts exactly RFC 8259 JSON (plus a leading byte-order mark):
//! no comments, no trailing commas.

use std::fmt;

/// Deepest nesting accepted; keeps a hostile file from exhausting the stack.
const MAX_DEPTH: usize = 128;

/// A position in the text: 1-based line and 1-based column, counted in
/// characters (what editors show).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pos {
    /// Line, from 1.
    pub line: u32,
    /// Column in characters, from 1.
    pub column: u32,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// A JSON value and where it starts.
#[derive(Clone, Debug, PartialEq)]
pub struct Value {
    /// Position of the value's first character.
    pub pos: Pos,
    /// The value itself.
    pub kind: Kind,
}

/// The kinds of JSON value.
#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number, kept as written so integers of any size stay exact.
    Number(String),
    /// A string, escapes resolved.
    String(String),
    /// An array.
    Array(Vec<Value>),
    /// An object: every member in file order, duplicate keys included.
    Object(Vec<Member>),
}

/// One `"key": value` member of an object.
#[derive(Clone, Debug, PartialEq)]
pub struct Member {
    /// The key, escapes resolved.
    pub key: String,
    /// Position of the key's opening quote.
    pub key_pos: Pos,
    /// The value.
    pub value: Value,
}

impl Kind {
    /// The kind as the validator names it in "expected …, found …" messages.
    pub fn describe(&self) -> &'static str {
        match self {
            Kind::Null => "null",
            Kind::Bool(_) => "a boolean",
            Kind::Number(n) if is_integer_text(n) => "an integer",
            Kind::Number(_) => "a number",
            Kind::String(_) => "a string",
            Kind::Array(_) => "an array",
            Kind::Object(_) => "an object",
        }
    }
}

/// True when a number was written without fraction or exponent.
pub fn is_integer_text(text: &str) -> bool {
    !text.contains(['.', 'e', 'E'])
}

/// A syntax error: where and what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    /// Where the parser stopped.
    pub pos: Pos,
    /// What it expected, e.g. `expected ',' or '}' after an object member`.
    pub message: String,
}

/// Parses a whole document.
pub fn parse(text: &str) -> Result<Value, SyntaxError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut parser = Parser {
        text,
        at: 0,
        line: 1,
        column: 1,
    };
    parser.skip_space();
    let value = parser.value(0)?;
    parser.skip_space();
    if parser.peek().is_some() {
        return Err(parser.error("unexpected text after the end of the document"));
    }
    Ok(value)
}

struct Parser<'t> {
    text: &'t str,
    /// Byte offset of the next character.
    at: usize,
    line: u32,
    column: u32,
}

impl Parser<'_> {
    fn pos(&self) -> Pos {
        Pos {
            line: self.line,
            column: self.column,
        }
    }

    fn error(&self, message: impl Into<String>) -> SyntaxError {
        SyntaxError {
            pos: self.pos(),
            message: message.into(),
        }
    }

    fn peek(&self) -> Option<char> {
        self.text[self.at..].chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.at += c.len_utf8();
        if c == '\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
        Some(c)
    }

    fn eat(&mut self, want: char) -> bool {
        if self.peek() == Some(want) {
            self.bump();
            true
        } else {
            false
        }
    }

    fn skip_space(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t' | '\n' | '\r')) {
            self.bump();
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, SyntaxError> {
        if depth > MAX_DEPTH {
            return Err(self.error(format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        let pos = self.pos();
        let kind = match self.peek() {
            Some('{') => self.object(depth)?,
            Some('[') => self.array(depth)?,
            Some('"') => Kind::String(self.string()?),
            Some('-' | '0'..='9') => Kind::Number(self.number()?),
            Some('t') => self.literal("true", Kind::Bool(true))?,
            Some('f') => self.literal("false", Kind::Bool(false))?,
            Some('n') => self.literal("null", Kind::Null)?,
            None => return Err(self.error("expected a value, found the end of the file")),
            Some(_) => return Err(self.error("expected a value")),
        };
        Ok(Value { pos, kind })
    }

    fn literal(&mut self, word: &str, kind: Kind) -> Result<Kind, SyntaxError> {
        if self.text[self.at..].starts_with(word) {
            for _ in 0..word.len() {
                self.bump();
            }
            Ok(kind)
        } else {
            Err(self.error("expected a value"))
        }
    }

    fn object(&mut self, depth: usize) -> Result<Kind, SyntaxError> {
        self.bump(); // '{'
        let mut members = Vec::new();
        self.skip_space();
        if self.eat('}') {
            return Ok(Kind::Object(members));
        }
        loop {
            if self.peek() != Some('"') {
                return Err(if members.is_empty() {
                    self.error("expected '\"' to start a key, or '}'")
                } else if self.peek() == Some('}') {
                    self.error("a ',' before '}' is not allowed")
                } else {
                    self.error("expected '\"' to start a key")
                });
            }
            let key_pos = self.pos();
            let key = self.string()?;
            self.skip_space();
            if !self.eat(':') {
                return Err(self.error("expected ':' after an object key"));
            }
            self.skip_space();
            let value = self.value(depth + 1)?;
            members.push(Member {
                key,
                key_pos,
                value,
            });
            self.skip_space();
            if self.eat('}') {
                return Ok(Kind::Object(members));
            }
            if !self.eat(',') {
                return Err(self.error("expected ',' or '}' after an object member"));
            }
            self.skip_space();
        }
    }

    fn array(&mut self, depth: usize) -> Result<Kind, SyntaxError> {
        self.bump(); // '['
        let mut items = Vec::new();
        self.skip_space();
        if self.eat(']') {
            return Ok(Kind::Array(items));
        }
        loop {
            if self.peek() == Some(']') {
                return Err(self.error("a ',' before ']' is not allowed"));
            }
            items.push(self.value(depth + 1)?);
            self.skip_space();
            if self.eat(']') {
                return Ok(Kind::Array(items));
            }
            if !self.eat(',') {
                return Err(self.error("expected ',' or ']' after an array element"));
            }
            self.skip_space();
        }
    }

    fn string(&mut self) -> Result<String, SyntaxError> {
        self.bump(); // '"'
        let mut out = String::new();
        loop {
            let c = match self.peek() {
                None => return Err(self.error("unterminated string")),
                Some(c) => c,
            };
            match c {
                '"' => {
                    self.bump();
                    return Ok(out);
                }
                '\\' => {
                    self.bump();
                    out.push(self.escape()?);
                }
                c if (c as u32) < 0x20 => {
                    return Err(self.error(format!(
                        "control character U+{:04X} in a string; write it as an escape such as \\n",
                        c as u32
                    )));
                }
                c => {
                    self.bump();
                    out.push(c);
                }
            }
        }
    }

    /// The character of an escape, after its backslash.
    fn escape(&mut self) -> Result<char, SyntaxError> {
        let c = match self.peek() {
            Some(c) => c,
            None => return Err(self.error("unterminated string")),
        };
        let plain = match c {
            '"' => '"',
            '\\' => '\\',
            '/' => '/',
            'b' => '\u{8}',
            'f' => '\u{c}',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'u' => return self.unicode_escape(),
            _ => return Err(self.error(format!("invalid escape '\\{c}' in a string"))),
        };
        self.bump();
        Ok(plain)
    }

    /// `\uXXXX`, including a UTF-16 surrogate pair written as two escapes.
    fn unicode_escape(&mut self) -> Result<char, SyntaxError> {
        let start = self.pos();
        self.bump(); // 'u'
        let first = self.hex4()?;
        let code = if (0xD800..0xDC00).contains(&first) {
            if !self.text[self.at..].starts_with("\\u") {
                return Err(SyntaxError {
                    pos: start,
                    message: "unpaired surrogate in \\u escape".into(),
                });
            }
            self.bump();
            self.bump();
            let second = self.hex4()?;
            if !(0xDC00..0xE000).contains(&second) {
                return Err(SyntaxError {
                    pos: start,
                    message: "unpaired surrogate in \\u escape".into(),
                });
            }
            0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
        } else {
            first
        };
        char::from_u32(code).ok_or_else(|| SyntaxError {
            pos: start,
            message: "unpaired surrogate in \\u escape".into(),
        })
    }

    fn hex4(&mut self) -> Result<u32, SyntaxError> {
        let mut code = 0;
        for _ in 0..4 {
            let digit = self.peek().and_then(|c| c.to_digit(16));
            match digit {
                Some(d) => {
                    code = code * 16 + d;
                    self.bump();
                }
                None => return Err(self.error("expected four hexadecimal digits after \\u")),
            }
        }
        Ok(code)
    }

    /// A number per RFC 8259: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    fn number(&mut self) -> Result<String, SyntaxError> {
        let start = self.at;
        self.eat('-');
        match self.peek() {
            Some('0') => {
                self.bump();
                if matches!(self.peek(), Some('0'..='9')) {
                    return Err(self.error("a number must not have leading zeros"));
                }
            }
            Some('1'..='9') => self.digits(),
            _ => return Err(self.error("expected a digit")),
        }
        if self.eat('.') {
            if !matches!(self.peek(), Some('0'..='9')) {
                return Err(self.error("expected a digit after '.'"));
            }
            self.digits();
        }
        if self.eat('e') || self.eat('E') {
            if !self.eat('+') {
                self.eat('-');
            }
            if !matches!(self.peek(), Some('0'..='9')) {
                return Err(self.error("expected a digit in the exponent"));
            }
            self.digits();
        }
        Ok(self.text[start..self.at].to_string())
    }

    fn digits(&mut self) {
        while matches!(self.peek(), Some('0'..='9')) {
            self.bump();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        match parse(text) {
            Ok(v) => panic!("parsed: {v:?}"),
            Err(e) => format!("{}: {}", e.pos, e.message),
        }
    }

    #[test]
    fn keeps_positions_and_duplicates() {
        let v = parse("{\n  \"a\": [1, \"é\\u00e9\"],\n  \"a\": null\n}").expect("valid");
        let Kind::Object(members) = &v.kind else {
            panic!("not an object")
        };
        assert_eq!(members.len(), 2);
        assert_eq!(members[0].key_pos, Pos { line: 2, column: 3 });
        assert_eq!(members[1].key_pos, Pos { line: 3, column: 3 });
        let Kind::Array(items) = &members[0].value.kind else {
            panic!("not an array")
        };
        assert_eq!(
            items[1].pos,
            Pos {
                line: 2,
                column: 12
            }
        );
        assert_eq!(items[1].kind, Kind::String("éé".into()));
        assert_eq!(members[1].value.pos, Pos { line: 3, column: 8 });
    }

    #[test]
    fn numbers_and_escapes() {
        let v = parse("[-0, 12, 1.5e-3, \"\\ud83d\\ude00\\n\"]").expect("valid");
        let Kind::Array(items) = v.kind else {
            panic!("not an array")
        };
        assert_eq!(items[0].kind, Kind::Number("-0".into()));
        assert_eq!(items[2].kind.describe(), "a number");
        assert_eq!(items[1].kind.describe(), "an integer");
        assert_eq!(items[3].kind, Kind::String("😀\n".into()));
    }

    #[test]
    fn reports_syntax_errors() {
        assert_eq!(
            err("{\"a\": 1\n  \"b\": 2}"),
            "2:3: expected ',' or '}' after an object member"
        );
        assert_eq!(
            err("[1 2]"),
            "1:4: expected ',' or ']' after an array element"
        );
        assert_eq!(err("[1,]"), "1:4: a ',' before ']' is not allowed");
        assert_eq!(err("{\"a\":1,}"), "1:8: a ',' before '}' is not allowed");
        assert_eq!(err("{\"a\" 1}"), "1:6: expected ':' after an object key");
        assert_eq!(err("{a:1}"), "1:2: expected '\"' to start a key, or '}'");
        assert_eq!(err("[01]"), "1:3: a number must not have leading zeros");
        assert_eq!(err("\"abc"), "1:5: unterminated string");
        assert_eq!(err("\"a\\x\""), "1:4: invalid escape '\\x' in a string");
        assert_eq!(
            err("[\"\\ud800\"]"),
            "1:4: unpaired surrogate in \\u escape"
        );
        assert_eq!(
            err("{} x"),
            "1:4: unexpected text after the end of the document"
        );
        assert_eq!(err(""), "1:1: expected a value, found the end of the file");
        assert_eq!(err("[tru]"), "1:2: expected a value");
        assert_eq!(
            err(&"[".repeat(200)),
            "1:130: nesting deeper than 128 levels"
        );
    }
}
