//! The configuration sources: the TOML file (keeping the line of every key) and the
//! `<PREFIX><SECTION>__<KEY>` environment variables, merged into one map from key to value
//! with where it was set. Unknown keys are rejected here, with a suggestion when one is close;
//! the typed look-ups ([`Sources::get`]) read `<key>_file` secrets and retry an environment
//! value as plain text.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use crate::ConfigError;
use crate::document::{Node, line_col};
use crate::values::want_str;

/// What one binary's configuration looks like.
#[derive(Debug)]
pub struct Schema {
    /// Every key, as written in the file (dotted: section, key; arrays of tables by their
    /// dotted name).
    pub keys: &'static [&'static str],
    /// Secret keys that may instead be given as `<key>_file`, naming a file holding the
    /// value (control-plane §10).
    pub file_keys: &'static [&'static str],
    /// Tables reserved for later whose keys are kept as given, unchecked (`auth.oidc`).
    pub opaque: &'static [&'static str],
    /// Prefix of the per-key environment variables, with its trailing `__`
    /// (`MIRRORFLEET__`, `MIRRORFLEET_EDGE__`).
    pub env_prefix: &'static str,
    /// Environment variable naming the configuration file (below `--config`).
    pub file_env: &'static str,
    /// Configuration file read from the working directory when no other is named.
    pub default_file: &'static str,
}

impl Schema {
    /// The canonical key for a spelled one, and whether it was the `_file` form.
    fn canonical_key(&self, path: &str) -> Option<(&'static str, bool)> {
        if let Some(k) = self.keys.iter().find(|k| **k == path) {
            return Some((k, false));
        }
        let base = path.strip_suffix("_file")?;
        self.file_keys
            .iter()
            .find(|k| **k == base)
            .map(|k| (*k, true))
    }

    /// Strictly inside an opaque table (`auth.oidc.issuer`).
    fn in_opaque(&self, path: &str) -> bool {
        self.opaque.iter().any(|o| is_below(path, o))
    }

    /// A table: the parent of a key, an opaque table, or a table inside one.
    fn is_section(&self, path: &str) -> bool {
        self.keys
            .iter()
            .chain(self.opaque)
            .any(|k| is_below(k, path))
            || self.opaque.contains(&path)
            || self.in_opaque(path)
    }

    fn has_top_level_key(&self) -> bool {
        self.keys.iter().any(|k| !k.contains('.'))
    }

    fn unknown_key_message(&self, path: &str) -> String {
        let mut msg = format!("unknown key \"{path}\"");
        if let Some(s) = self.suggest(path) {
            msg.push_str(&format!("; did you mean \"{s}\"?"));
        }
        msg
    }

    /// The known key closest to an unknown one, if any is close; else a section whose name
    /// is close (`[publsh]` → `publish`).
    fn suggest(&self, path: &str) -> Option<&'static str> {
        let last = path.rsplit('.').next().unwrap_or(path);
        let mut best: Option<(usize, &'static str)> = None;
        for k in self.keys {
            let d = if k.rsplit('.').next() == Some(last) {
                0
            } else {
                strsim::levenshtein(path, k)
            };
            if d <= 3 && best.is_none_or(|(bd, _)| d < bd) {
                best = Some((d, k));
            }
        }
        if best.is_some() {
            return best.map(|(_, k)| k);
        }
        // Sections: every proper prefix of a key. Short names need a closer match.
        let sections = self
            .keys
            .iter()
            .chain(self.opaque)
            .flat_map(|k| k.match_indices('.').map(move |(i, _)| &k[..i]));
        for section in sections {
            let d = strsim::levenshtein(path, section);
            if d <= 3 && 2 * d < section.len() && best.is_none_or(|(bd, _)| d < bd) {
                best = Some((d, section));
            }
        }
        best.map(|(_, k)| k)
    }
}

/// `path` is `parent.<something>`.
fn is_below(path: &str, parent: &str) -> bool {
    path.len() > parent.len() && path.starts_with(parent) && path.as_bytes()[parent.len()] == b'.'
}

/// Where a value was set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The built-in default (or one derived from another key).
    Default,
    /// A standard AWS variable (S3 settings only), below the file.
    Aws(String),
    /// A line of the configuration file.
    File {
        /// The file, as named.
        path: PathBuf,
        /// 1-based line of the key.
        line: usize,
    },
    /// An environment variable.
    Env(String),
    /// A command-line flag (`--database-url`).
    Flag(String),
}

impl Origin {
    /// Precedence: a higher rank wins.
    pub fn rank(&self) -> u8 {
        match self {
            Origin::Default => 0,
            Origin::Aws(_) => 0,
            Origin::File { .. } => 1,
            Origin::Env(_) => 2,
            Origin::Flag(_) => 3,
        }
    }

    /// As an error message shows it: `FILE line N`, `environment variable NAME`, `flag NAME`.
    pub fn describe(&self) -> String {
        match self {
            Origin::Default => "default".to_string(),
            Origin::File { path, line } => format!("{} line {line}", path.display()),
            Origin::Env(name) | Origin::Aws(name) => format!("environment variable {name}"),
            Origin::Flag(name) => format!("flag {name}"),
        }
    }
}

impl fmt::Display for Origin {
    /// As `config show` labels a value: `configuration file FILE line N`, `environment
    /// variable NAME`, `AWS variable NAME`, `flag NAME`, `default`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::Aws(name) => write!(f, "AWS variable {name}"),
            Origin::File { path, line } => {
                write!(f, "configuration file {} line {line}", path.display())
            }
            Origin::Env(name) => write!(f, "environment variable {name}"),
            Origin::Flag(name) => write!(f, "flag {name}"),
        }
    }
}

#[derive(Debug, Clone)]
struct Entry {
    value: toml::Value,
    origin: Origin,
    /// The variable's text, for an environment value that may be meant as a plain string.
    raw: Option<String>,
    /// Given as `<key>_file`: `value` names a file holding the value.
    via_file: bool,
}

/// The environment of this process, as `(name, value)` pairs. A variable the configuration
/// may read (`<PREFIX>…`, the file variable, `AWS_*`) whose value is not UTF-8 is an error;
/// other non-UTF-8 variables are skipped.
pub fn process_env(schema: &Schema) -> Result<Vec<(String, String)>, ConfigError> {
    let family = schema.env_prefix.trim_end_matches('_');
    let mut env = Vec::new();
    for (name, value) in std::env::vars_os() {
        let Some(name) = name.to_str() else { continue };
        let ours = name.starts_with(family) || name == schema.file_env || name.starts_with("AWS_");
        match value.into_string() {
            Ok(v) => env.push((name.to_string(), v)),
            Err(_) if ours => {
                return Err(ConfigError::new(
                    None,
                    "value is not valid UTF-8",
                    Some(format!("environment variable {name}")),
                ));
            }
            Err(_) => {}
        }
    }
    Ok(env)
}

/// Every configured value of one binary with where it was set, the environment it was read
/// from, and the working directory (for `*_file` secrets).
#[derive(Debug)]
pub struct Sources {
    schema: &'static Schema,
    entries: BTreeMap<String, Entry>,
    env: HashMap<String, String>,
    cwd: PathBuf,
    file: Option<PathBuf>,
}

impl Sources {
    /// Reads the sources: the file (`config_flag`, else `$<file_env>`, else `default_file`
    /// in `cwd` when present; relative names are relative to `cwd`), then the variables
    /// `<env_prefix>…` of `env`. Errors stop at the first bad source, the file first.
    pub fn load<I, K, V>(
        schema: &'static Schema,
        config_flag: Option<&Path>,
        env: I,
        cwd: &Path,
    ) -> Result<Sources, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut env: Vec<(String, String)> = env
            .into_iter()
            .map(|(k, v)| (k.as_ref().to_string(), v.as_ref().to_string()))
            .collect();
        env.sort();
        let mut sources = Sources {
            schema,
            entries: BTreeMap::new(),
            env: env.iter().cloned().collect(),
            cwd: cwd.to_path_buf(),
            file: None,
        };

        // The file.
        let env_config = sources
            .env
            .get(schema.file_env)
            .filter(|v| !v.is_empty())
            .cloned();
        let (file, required, named_by) = match (config_flag, env_config) {
            (Some(p), _) => (p.to_path_buf(), true, "--config"),
            (None, Some(p)) => (PathBuf::from(p), true, schema.file_env),
            (None, None) => (PathBuf::from(schema.default_file), false, ""),
        };
        match std::fs::read_to_string(cwd.join(&file)) {
            Ok(text) => {
                sources.add_file(&file, &text)?;
                sources.file = Some(file);
            }
            Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                let how = if named_by.is_empty() {
                    String::new()
                } else {
                    format!(" (named by {named_by})")
                };
                return Err(ConfigError::new(
                    None,
                    format!("cannot read configuration file{how}: {e}"),
                    Some(file.display().to_string()),
                ));
            }
        }

        // The environment.
        for (name, value) in &env {
            if let Some(rest) = name.strip_prefix(schema.env_prefix) {
                sources.add_env(name, rest, value)?;
            }
        }
        Ok(sources)
    }

    /// The configuration file that was read, if any (as named, not made absolute).
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// The working directory relative names were resolved against.
    pub fn cwd(&self) -> &Path {
        &self.cwd
    }

    /// A variable of the environment the sources were read from (empty counts as unset).
    pub fn env_var(&self, name: &str) -> Option<&str> {
        self.env
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// The first of `names` set in the environment, with its name (the AWS fallbacks).
    pub fn first_env(&self, names: &[&'static str]) -> Option<(String, &'static str)> {
        names
            .iter()
            .find_map(|n| self.env_var(n).map(|v| (v.to_string(), *n)))
    }

    /// Where `key` was set, if it was.
    pub fn origin(&self, key: &str) -> Option<&Origin> {
        self.entries.get(key).map(|e| &e.origin)
    }

    /// The precedence of `key`'s source: 0 unset, 1 file, 2 environment.
    pub fn rank(&self, key: &str) -> u8 {
        self.origin(key).map_or(0, Origin::rank)
    }

    /// The keys set inside the opaque table `table` (full dotted names), their values and
    /// origins, in key order.
    pub fn opaque_entries(&self, table: &str) -> Vec<(&str, &toml::Value, &Origin)> {
        self.entries
            .iter()
            .filter(|(k, _)| is_below(k, table))
            .map(|(k, e)| (k.as_str(), &e.value, &e.origin))
            .collect()
    }

    /// The value of `key` if set, converted; an environment value that fails as TOML is
    /// retried as its plain text (so `…__EDGE_ID=123` is the string "123"); a `<key>_file`
    /// value is the named file's content without its trailing newline.
    pub fn get<T>(
        &self,
        key: &str,
        conv: impl Fn(&toml::Value) -> Result<T, String>,
    ) -> Result<Option<T>, ConfigError> {
        let Some(e) = self.entries.get(key) else {
            return Ok(None);
        };
        let err = |msg: String| {
            let shown = if e.via_file {
                format!("{key}_file")
            } else {
                key.to_string()
            };
            ConfigError::new(Some(&shown), msg, Some(e.origin.describe()))
        };
        let value = if e.via_file {
            let path = want_str(&e.value, "a file name").map_err(err)?;
            let text = std::fs::read_to_string(self.cwd.join(&path))
                .map_err(|x| err(format!("cannot read \"{path}\": {x}")))?;
            toml::Value::String(text.trim_end_matches(['\n', '\r']).to_string())
        } else {
            e.value.clone()
        };
        match conv(&value) {
            Ok(v) => Ok(Some(v)),
            Err(msg) => {
                if let Some(raw) = &e.raw
                    && !matches!(value, toml::Value::String(_))
                {
                    match conv(&toml::Value::String(raw.clone())) {
                        Ok(v) => return Ok(Some(v)),
                        // A type mismatch on the TOML reading (`inf` read as a float for
                        // log.level): the plain-text reading's error says more.
                        Err(as_text) if msg.starts_with("expected") => {
                            return Err(err(as_text));
                        }
                        Err(_) => {}
                    }
                }
                Err(err(msg))
            }
        }
    }

    /// [`Sources::get`], else `default`.
    pub fn or<T>(
        &self,
        key: &str,
        default: T,
        conv: impl Fn(&toml::Value) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        Ok(self.get(key, conv)?.unwrap_or(default))
    }

    /// An error about `key`'s value, located where it was set.
    pub fn invalid(&self, key: &str, msg: impl Into<String>) -> ConfigError {
        let location = self.origin(key).map(Origin::describe);
        ConfigError::new(Some(key), msg, location)
    }

    /// `d`, unless it is zero.
    pub fn positive(&self, key: &str, d: Duration) -> Result<Duration, ConfigError> {
        if d.is_zero() {
            Err(self.invalid(key, "must be greater than zero"))
        } else {
            Ok(d)
        }
    }

    /// `n`, unless it is below 1.
    pub fn at_least_one<T: PartialOrd + From<u8>>(
        &self,
        key: &str,
        n: T,
    ) -> Result<T, ConfigError> {
        if n < T::from(1) {
            Err(self.invalid(key, "must be at least 1"))
        } else {
            Ok(n)
        }
    }

    // -----------------------------------------------------------------------------------------
    // Reading
    // -----------------------------------------------------------------------------------------

    /// The key a spelled path stores under, and whether it was the `_file` form.
    fn resolve(&self, path: &str) -> Option<(String, bool)> {
        if let Some((k, via_file)) = self.schema.canonical_key(path) {
            return Some((k.to_string(), via_file));
        }
        self.schema
            .in_opaque(path)
            .then(|| (path.to_string(), false))
    }

    fn insert(
        &mut self,
        path: &str,
        value: toml::Value,
        origin: Origin,
        raw: Option<String>,
    ) -> Result<(), ConfigError> {
        let Some((key, via_file)) = self.resolve(path) else {
            let msg = if self.schema.is_section(path) {
                format!("\"{path}\" is a section, not a key")
            } else {
                self.schema.unknown_key_message(path)
            };
            return Err(ConfigError::new(Some(path), msg, Some(origin.describe())));
        };
        if let Some(old) = self.entries.get(&key) {
            if old.origin.rank() == origin.rank() {
                return Err(ConfigError::new(
                    Some(&key),
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

    fn add_file(&mut self, path: &Path, text: &str) -> Result<(), ConfigError> {
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
            let in_opaque =
                self.schema.opaque.contains(&full.as_str()) || self.schema.in_opaque(&full);
            match v {
                // Tables inside an opaque table are walked: their leaves are the keys.
                Node::Table(sub) if in_opaque => self.walk(file, text, &full, sub)?,
                v if self.resolve(&full).is_some() => {
                    self.insert(&full, v.into_value(), origin, None)?
                }
                Node::Table(sub) if self.schema.is_section(&full) => {
                    self.walk(file, text, &full, sub)?
                }
                Node::Value(_) if self.schema.is_section(&full) => {
                    return Err(ConfigError::new(
                        Some(&full),
                        format!("must be a table ([{full}] section)"),
                        Some(origin.describe()),
                    ));
                }
                _ => {
                    return Err(ConfigError::new(
                        Some(&full),
                        self.schema.unknown_key_message(&full),
                        Some(origin.describe()),
                    ));
                }
            }
        }
        Ok(())
    }

    fn add_env(&mut self, name: &str, rest: &str, value: &str) -> Result<(), ConfigError> {
        let origin = Origin::Env(name.to_string());
        let segments: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
        if segments.iter().any(String::is_empty) {
            let p = self.schema.env_prefix;
            let mut msg = format!("malformed name: expected {p}<SECTION>__<KEY>");
            if self.schema.has_top_level_key() {
                msg.push_str(&format!(" or {p}<KEY>"));
            }
            return Err(ConfigError::new(None, msg, Some(origin.describe())));
        }
        let path = segments.join(".");
        if self.resolve(&path).is_none() {
            let mut msg = if self.schema.is_section(&path) {
                format!("\"{path}\" is a section, not a key")
            } else {
                self.schema.unknown_key_message(&path)
            };
            if path == "config" {
                msg.push_str(&format!(
                    " (the configuration file is named by {})",
                    self.schema.file_env
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
