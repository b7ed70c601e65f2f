//! The configuration sources: the TOML file (keeping the line of every key) and the
//! `MIRRORFLEET_EDGE__*` environment variables, merged into one map from key to value with
//! where it was set. Unknown keys are rejected here, with a suggestion when one is close.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use toml::Spanned;

use super::{CONFIG_FILE_ENV, ConfigError, FILE_KEYS, KEYS};

/// Where a value was set; higher rank wins.
#[derive(Debug, Clone)]
pub(super) enum Origin {
    File { path: PathBuf, line: usize },
    Env(String),
}

impl Origin {
    pub(super) fn rank(&self) -> u8 {
        match self {
            Origin::File { .. } => 1,
            Origin::Env(_) => 2,
        }
    }

    pub(super) fn describe(&self) -> String {
        match self {
            Origin::File { path, line } => format!("{} line {line}", path.display()),
            Origin::Env(name) => format!("environment variable {name}"),
        }
    }
}

#[derive(Debug, Clone)]
pub(super) struct Entry {
    pub(super) value: toml::Value,
    pub(super) origin: Origin,
    /// The variable's text, for an environment value that may be meant as a plain string.
    pub(super) raw: Option<String>,
    /// Given as `<key>_file`: `value` names a file holding the value.
    pub(super) via_file: bool,
}

#[derive(Debug, Default)]
pub(super) struct Layers {
    pub(super) entries: BTreeMap<&'static str, Entry>,
}

/// The canonical key for a spelled one, and whether it was the `_file` form.
fn canonical_key(path: &str) -> Option<(&'static str, bool)> {
    if let Some(k) = KEYS.iter().find(|k| **k == path) {
        return Some((k, false));
    }
    let base = path.strip_suffix("_file")?;
    FILE_KEYS.iter().find(|k| **k == base).map(|k| (*k, true))
}

fn is_section(path: &str) -> bool {
    KEYS.iter()
        .any(|k| k.len() > path.len() && k.starts_with(path) && k.as_bytes()[path.len()] == b'.')
}

fn unknown_key_message(path: &str) -> String {
    let mut msg = format!("unknown key \"{path}\"");
    if let Some(s) = suggest(path) {
        msg.push_str(&format!("; did you mean \"{s}\"?"));
    }
    msg
}

/// The known key closest to an unknown one, if any is close.
fn suggest(path: &str) -> Option<&'static str> {
    let last = path.rsplit('.').next().unwrap_or(path);
    let mut best: Option<(usize, &'static str)> = None;
    for k in KEYS {
        let d = if k.rsplit('.').next() == Some(last) {
            0
        } else {
            strsim::levenshtein(path, k)
        };
        if d <= 3 && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, k));
        }
    }
    best.map(|(_, k)| k)
}

impl Layers {
    fn insert(
        &mut self,
        path: &str,
        value: toml::Value,
        origin: Origin,
        raw: Option<String>,
    ) -> Result<(), ConfigError> {
        let Some((key, via_file)) = canonical_key(path) else {
            let msg = if is_section(path) {
                format!("\"{path}\" is a section, not a key")
            } else {
                unknown_key_message(path)
            };
            return Err(ConfigError::new(Some(path), msg, Some(origin.describe())));
        };
        if let Some(old) = self.entries.get(key) {
            if old.origin.rank() == origin.rank() {
                return Err(ConfigError::new(
                    Some(key),
                    format!("set both as \"{key}\" and as \"{key}_file\"; give one of them"),
                    Some(origin.describe()),
                ));
            }
            if old.origin.rank() > origin.rank() {
                return Ok(());
            }
        }
        self.entries.insert(
            key,
            Entry {
                value,
                origin,
                raw,
                via_file,
            },
        );
        Ok(())
    }

    pub(super) fn add_file(&mut self, path: &Path, text: &str) -> Result<(), ConfigError> {
        let tree: Node = toml::from_str(text).map_err(|e| {
            let at = e.span().map(|s| line_col(text, s.start));
            let location = match at {
                Some((l, c)) => format!("{} line {l}, column {c}", path.display()),
                None => path.display().to_string(),
            };
            let mut msg = e.message().trim().to_string();
            if msg.contains("toml_private_datetime") || msg.contains("datetime") {
                msg = "dates and times are not valid configuration values".to_string();
            }
            ConfigError::new(None, format!("invalid TOML: {msg}"), Some(location))
        })?;
        let Node::Table(items) = tree else {
            return Err(ConfigError::new(
                None,
                "not a TOML table",
                Some(path.display().to_string()),
            ));
        };
        self.walk(path, text, "", items)
    }

    fn walk(
        &mut self,
        file: &Path,
        text: &str,
        prefix: &str,
        items: Vec<(Spanned<String>, Node)>,
    ) -> Result<(), ConfigError> {
        for (k, v) in items {
            let line = line_col(text, k.span().start).0;
            let full = if prefix.is_empty() {
                k.get_ref().clone()
            } else {
                format!("{prefix}.{}", k.get_ref())
            };
            let origin = Origin::File {
                path: file.to_path_buf(),
                line,
            };
            if canonical_key(&full).is_some() {
                self.insert(&full, v.into_value(), origin, None)?;
            } else if is_section(&full) {
                match v {
                    Node::Table(sub) => self.walk(file, text, &full, sub)?,
                    Node::Value(_) => {
                        return Err(ConfigError::new(
                            Some(&full),
                            format!("must be a table ([{full}] section)"),
                            Some(origin.describe()),
                        ));
                    }
                }
            } else {
                return Err(ConfigError::new(
                    Some(&full),
                    unknown_key_message(&full),
                    Some(origin.describe()),
                ));
            }
        }
        Ok(())
    }

    pub(super) fn add_env(
        &mut self,
        name: &str,
        rest: &str,
        value: &str,
    ) -> Result<(), ConfigError> {
        let origin = Origin::Env(name.to_string());
        let segments: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
        if segments.iter().any(String::is_empty) {
            return Err(ConfigError::new(
                None,
                "malformed name: expected MIRRORFLEET_EDGE__<SECTION>__<KEY> or \
                 MIRRORFLEET_EDGE__<KEY>",
                Some(origin.describe()),
            ));
        }
        let path = segments.join(".");
        if canonical_key(&path).is_none() {
            let mut msg = if is_section(&path) {
                format!("\"{path}\" is a section, not a key")
            } else {
                unknown_key_message(&path)
            };
            if path == "config" {
                msg.push_str(&format!(
                    " (the configuration file is named by {CONFIG_FILE_ENV})"
                ));
            }
            return Err(ConfigError::new(Some(&path), msg, Some(origin.describe())));
        }
        let parsed = toml::from_str::<toml::Table>(&format!("v = {value}"))
            .ok()
            .filter(|t| t.len() == 1)
            .and_then(|mut t| t.remove("v"));
        let parsed = parsed.unwrap_or_else(|| toml::Value::String(value.to_string()));
        self.insert(&path, parsed, origin, Some(value.to_string()))
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// A TOML document kept with the spans of its keys.
enum Node {
    Table(Vec<(Spanned<String>, Node)>),
    Value(toml::Value),
}

impl Node {
    fn into_value(self) -> toml::Value {
        match self {
            Node::Value(v) => v,
            Node::Table(items) => toml::Value::Table(
                items
                    .into_iter()
                    .map(|(k, v)| (k.into_inner(), v.into_value()))
                    .collect(),
            ),
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a TOML value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Value(toml::Value::Boolean(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Value(toml::Value::Integer(v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
        i64::try_from(v)
            .map(|v| Node::Value(toml::Value::Integer(v)))
            .map_err(|_| E::custom("integer out of range"))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Value(toml::Value::Float(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Value(toml::Value::String(v.to_string())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Node, E> {
        Ok(Node::Value(toml::Value::String(v)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(n) = seq.next_element::<Node>()? {
            items.push(n.into_value());
        }
        Ok(Node::Value(toml::Value::Array(items)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(k) = map.next_key::<Spanned<String>>()? {
            let v = map.next_value::<Node>()?;
            items.push((k, v));
        }
        Ok(Node::Table(items))
    }
}
