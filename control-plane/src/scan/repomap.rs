//! Repository mapping rules (control-plane.md §4.5, §4.6): from a repository directory's path
//! below its category topdir to an arch, a version and a `repo=` prefix.
//!
//! A [`RuleSet`] is data: the built-in sets are the TOML of `rulesets.toml`, read by the same
//! parser as the `[[repomap.ruleset]]` tables of the configuration, so a configured set and a
//! built-in one cannot drift apart in meaning. [`RuleSet::map`] is the whole decision for one
//! path; the scanner and `mirrorfleet repomap test` both call it.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::OnceLock;

use regex::Regex;

/// Default `debug` patterns.
const DEBUG: &[&str] = &["debug"];
/// Default `source` patterns.
const SOURCE: &[&str] = &["source", "SRPMS"];
/// Default `skip_dirs`.
const SKIP_DIRS: &[&str] = &["Cloud", "Workstation", "Server"];
/// Default `version_patterns` (those of the `fedora` set): `(pattern, fixed value)`.
const VERSION_PATTERNS: &[(&str, Option<&str>)] = &[
    (r"development/(?P<version>\d+)/", None),
    (
        r"(^|/)(?P<version>\d+(\.\d+)*([-_][A-Za-z0-9]+)?)(/|$)",
        None,
    ),
    ("rawhide", Some("development")),
];

/// The built-in rule sets, in the configuration's format.
const BUILT_IN: &str = include_str!("rulesets.toml");

/// Longest prefix (data-model.md §2, `repository.prefix`).
const MAX_PREFIX: usize = 100;
/// Longest version name (`version.name`).
const MAX_VERSION: usize = 32;

/// A repository's kind, from the `debug` and `source` patterns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Debug,
    Source,
    Plain,
}

impl Kind {
    fn word(self) -> &'static str {
        match self {
            Kind::Debug => "debug",
            Kind::Source => "source",
            Kind::Plain => "",
        }
    }
}

/// One piece of a prefix template.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Text(String),
    /// `{v}`.
    Version,
    /// `{kind-}`: `debug-`, `source-` or nothing.
    KindDash,
    /// `{-kind}`: `-debug`, `-source` or nothing.
    DashKind,
    /// `{name}`: a named group of one of the rule's `all` patterns.
    Capture(String),
}

/// A rule: conditions on the path and the prefix template, if any.
#[derive(Clone, Debug)]
struct Rule {
    all: Vec<Regex>,
    any: Vec<Regex>,
    none: Vec<Regex>,
    prefix: Option<Vec<Piece>>,
}

impl Rule {
    fn matches(&self, path: &str) -> bool {
        self.all.iter().all(|r| r.is_match(path))
            && (self.any.is_empty() || self.any.iter().any(|r| r.is_match(path)))
            && !self.none.iter().any(|r| r.is_match(path))
    }
}

/// How a version is read from a path: the named group `version` of `regex`, or `value` when
/// the pattern matches.
#[derive(Clone, Debug)]
struct VersionPattern {
    regex: Regex,
    value: Option<String>,
}

/// `append` is added to any prefix of a path that `when` matches.
#[derive(Clone, Debug)]
struct Suffix {
    when: Regex,
    append: String,
}

/// A named set of mapping rules (§4.5).
#[derive(Clone, Debug)]
pub struct RuleSet {
    pub name: String,
    debug: Vec<Regex>,
    source: Vec<Regex>,
    skip_dirs: Vec<String>,
    version_patterns: Vec<VersionPattern>,
    rules: Vec<Rule>,
    suffixes: Vec<Suffix>,
}

/// What the rules give for a path (steps 1, 3–5 of §4.5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mapping {
    /// A component is one of the set's `skip_dirs`.
    Skipped { dir: String },
    /// A rule without a prefix matched (D9): no repository, no version.
    Excluded { rule: usize },
    /// No arch in the path.
    NoArch,
    /// No version pattern matched.
    NoVersion { arch: String },
    /// No rule matched: an unmapped repository.
    NoRule { arch: String, version: String },
    /// The rule's prefix is not a valid prefix (e.g. too long): an unmapped repository.
    BadPrefix {
        arch: String,
        version: String,
        prefix: String,
        rule: usize,
    },
    /// A prefix.
    Prefix {
        arch: String,
        version: String,
        prefix: String,
        rule: usize,
    },
}

impl fmt::Display for Mapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mapping::Skipped { dir } => write!(f, "skipped (component {dir:?})"),
            Mapping::Excluded { rule } => write!(f, "no repository (excluded by rule {rule})"),
            Mapping::NoArch => write!(f, "no repository (no arch)"),
            Mapping::NoVersion { arch } => {
                write!(f, "arch {arch}, no repository (no version)")
            }
            Mapping::NoRule { arch, version } => {
                write!(
                    f,
                    "arch {arch}, version {version}, unmapped (no rule matched)"
                )
            }
            Mapping::BadPrefix {
                arch,
                version,
                prefix,
                rule,
            } => write!(
                f,
                "arch {arch}, version {version}, unmapped (rule {rule} gives {prefix:?}, not a \
                 valid prefix)"
            ),
            Mapping::Prefix {
                arch,
                version,
                prefix,
                rule,
            } => write!(
                f,
                "arch {arch}, version {version}, prefix {prefix} (rule {rule})"
            ),
        }
    }
}

/// Is `prefix` a valid `repository.prefix`: `[A-Za-z0-9._-]+`, at most 100 characters?
pub fn valid_prefix(prefix: &str) -> bool {
    !prefix.is_empty()
        && prefix.len() <= MAX_PREFIX
        && prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Is `name` a valid `version.name`?
pub fn valid_version(name: &str) -> bool {
    !name.is_empty() && name.len() <= MAX_VERSION && valid_prefix(name)
}

impl RuleSet {
    /// The arch of repository path `path`: `source` when it contains `SRPMS`, else the first
    /// component that `is_arch` knows.
    pub fn arch(path: &str, is_arch: &dyn Fn(&str) -> bool) -> Option<String> {
        if path.contains("SRPMS") {
            return Some("source".to_string());
        }
        path.split('/').find(|c| is_arch(c)).map(str::to_string)
    }

    /// The version of `path`: the first version pattern that matches.
    pub fn version(&self, path: &str) -> Option<String> {
        self.version_patterns.iter().find_map(|p| {
            let caps = p.regex.captures(path)?;
            let v = match &p.value {
                Some(v) => v.clone(),
                None => caps.name("version")?.as_str().to_string(),
            };
            valid_version(&v).then_some(v)
        })
    }

    /// The component of `path` that is one of `skip_dirs`, if any.
    pub fn skipped_by(&self, path: &str) -> Option<&str> {
        path.split('/')
            .find_map(|c| self.skip_dirs.iter().find(|s| *s == c).map(String::as_str))
    }

    fn kind(&self, path: &str) -> Kind {
        if self.debug.iter().any(|r| r.is_match(path)) {
            Kind::Debug
        } else if self.source.iter().any(|r| r.is_match(path)) {
            Kind::Source
        } else {
            Kind::Plain
        }
    }

    /// The first rule matching `path`: (its number from 1, the rule).
    fn rule_for(&self, path: &str) -> Option<(usize, &Rule)> {
        self.rules
            .iter()
            .enumerate()
            .find(|(_, r)| r.matches(path))
            .map(|(i, r)| (i + 1, r))
    }

    /// Steps 1 and 3–5 of §4.5 for a yum repository at `path` (relative to the topdir):
    /// `skip_dirs`, the matching rule (a rule without a prefix ends there, D9), the arch, the
    /// version, the prefix with the suffixes.
    pub fn map(&self, path: &str, is_arch: &dyn Fn(&str) -> bool) -> Mapping {
        self.map_with(path, Self::arch(path, is_arch), self.version(path))
    }

    /// [`RuleSet::map`] with the arch and version already known (ostree repositories take them
    /// from elsewhere, §4.5 steps 3 and 4).
    pub fn map_with(&self, path: &str, arch: Option<String>, version: Option<String>) -> Mapping {
        if let Some(dir) = self.skipped_by(path) {
            return Mapping::Skipped {
                dir: dir.to_string(),
            };
        }
        let rule = self.rule_for(path);
        if let Some((n, r)) = rule
            && r.prefix.is_none()
        {
            return Mapping::Excluded { rule: n };
        }
        let Some(arch) = arch else {
            return Mapping::NoArch;
        };
        let Some(version) = version else {
            return Mapping::NoVersion { arch };
        };
        let Some((n, r)) = rule else {
            return Mapping::NoRule { arch, version };
        };
        let template = r.prefix.as_deref().unwrap_or_default();
        let kind = self.kind(path);
        let mut prefix = String::new();
        for piece in template {
            match piece {
                Piece::Text(t) => prefix.push_str(t),
                Piece::Version => prefix.push_str(&version),
                Piece::KindDash if kind != Kind::Plain => {
                    prefix.push_str(kind.word());
                    prefix.push('-');
                }
                Piece::DashKind if kind != Kind::Plain => {
                    prefix.push('-');
                    prefix.push_str(kind.word());
                }
                Piece::KindDash | Piece::DashKind => {}
                Piece::Capture(name) => {
                    let value = r.all.iter().find_map(|re| {
                        re.captures(path)
                            .and_then(|c| c.name(name).map(|m| m.as_str().to_string()))
                    });
                    prefix.push_str(value.as_deref().unwrap_or_default());
                }
            }
        }
        for s in &self.suffixes {
            if s.when.is_match(path) {
                prefix.push_str(&s.append);
            }
        }
        if valid_prefix(&prefix) {
            Mapping::Prefix {
                arch,
                version,
                prefix,
                rule: n,
            }
        } else {
            Mapping::BadPrefix {
                arch,
                version,
                prefix,
                rule: n,
            }
        }
    }

    /// Reads one `[[repomap.ruleset]]` table; `at` names it in messages
    /// (`repomap.ruleset[2]`). The error is one line naming the offending key.
    pub fn from_table(table: &toml::Table, at: &str) -> Result<RuleSet, String> {
        let t = Fields::new(
            table,
            at,
            &[
                "name",
                "debug",
                "source",
                "skip_dirs",
                "version_patterns",
                "rules",
                "suffixes",
            ],
        )?;
        let name = t
            .string("name")?
            .ok_or_else(|| format!("{at}: missing \"name\""))?;
        let patterns = |key: &str, default: &[&str]| -> Result<Vec<Regex>, String> {
            match t.strings(key)? {
                Some(list) => list
                    .iter()
                    .map(|p| regex(p, &format!("{at}.{key}")))
                    .collect(),
                None => Ok(default
                    .iter()
                    .map(|p| Regex::new(p).expect("valid"))
                    .collect()),
            }
        };
        let debug = patterns("debug", DEBUG)?;
        let source = patterns("source", SOURCE)?;
        let skip_dirs = t
            .strings("skip_dirs")?
            .unwrap_or_else(|| SKIP_DIRS.iter().map(|s| s.to_string()).collect());
        let version_patterns = match t.tables("version_patterns")? {
            None => VERSION_PATTERNS
                .iter()
                .map(|(p, v)| VersionPattern {
                    regex: Regex::new(p).expect("valid"),
                    value: v.map(str::to_string),
                })
                .collect(),
            Some(list) => list
                .iter()
                .enumerate()
                .map(|(i, vt)| {
                    let at = format!("{at}.version_patterns[{i}]");
                    let f = Fields::new(vt, &at, &["pattern", "value"])?;
                    let pattern = f
                        .string("pattern")?
                        .ok_or_else(|| format!("{at}: missing \"pattern\""))?;
                    let regex = regex(&pattern, &format!("{at}.pattern"))?;
                    let value = f.string("value")?;
                    match &value {
                        Some(v) if !valid_version(v) => {
                            return Err(format!(
                                "{at}.value: {v:?} is not a version name ([A-Za-z0-9._-], at \
                                 most {MAX_VERSION} characters)"
                            ));
                        }
                        None if regex.capture_names().all(|n| n != Some("version")) => {
                            return Err(format!(
                                "{at}.pattern: needs a group (?P<version>…), or give \"value\""
                            ));
                        }
                        _ => {}
                    }
                    Ok(VersionPattern { regex, value })
                })
                .collect::<Result<_, String>>()?,
        };
        let rules = t
            .tables("rules")?
            .unwrap_or_default()
            .iter()
            .enumerate()
            .map(|(i, rt)| rule(rt, &format!("{at}.rules[{i}]")))
            .collect::<Result<_, String>>()?;
        let suffixes = t
            .tables("suffixes")?
            .unwrap_or_default()
            .iter()
            .enumerate()
            .map(|(i, st)| {
                let at = format!("{at}.suffixes[{i}]");
                let f = Fields::new(st, &at, &["when", "append"])?;
                let when = f
                    .string("when")?
                    .ok_or_else(|| format!("{at}: missing \"when\""))?;
                let append = f
                    .string("append")?
                    .ok_or_else(|| format!("{at}: missing \"append\""))?;
                Ok(Suffix {
                    when: regex(&when, &format!("{at}.when"))?,
                    append,
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(RuleSet {
            name,
            debug,
            source,
            skip_dirs,
            version_patterns,
            rules,
            suffixes,
        })
    }
}

fn regex(pattern: &str, at: &str) -> Result<Regex, String> {
    Regex::new(pattern).map_err(|e| {
        let e = e.to_string().replace('\n', " ");
        format!("{at}: {pattern:?} is not a regular expression: {e}")
    })
}

fn rule(table: &toml::Table, at: &str) -> Result<Rule, String> {
    let f = Fields::new(table, at, &["all", "any", "none", "prefix"])?;
    let list = |key: &str| -> Result<Vec<Regex>, String> {
        f.strings(key)?
            .unwrap_or_default()
            .iter()
            .map(|p| regex(p, &format!("{at}.{key}")))
            .collect()
    };
    let all = list("all")?;
    let any = list("any")?;
    let none = list("none")?;
    let prefix = match f.string("prefix")? {
        Some(text) => Some(template(&text, &all, &format!("{at}.prefix"))?),
        None => None,
    };
    Ok(Rule {
        all,
        any,
        none,
        prefix,
    })
}

/// Parses a prefix template: text and `{v}`, `{kind-}`, `{-kind}`, `{name}`.
fn template(text: &str, all: &[Regex], at: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        if open > 0 {
            pieces.push(Piece::Text(rest[..open].to_string()));
        }
        let close = rest[open..]
            .find('}')
            .ok_or_else(|| format!("{at}: {text:?} has a \"{{\" without \"}}\""))?;
        let name = &rest[open + 1..open + close];
        pieces.push(match name {
            "v" => Piece::Version,
            "kind-" => Piece::KindDash,
            "-kind" => Piece::DashKind,
            n if all.iter().any(|r| r.capture_names().any(|c| c == Some(n))) => {
                Piece::Capture(n.to_string())
            }
            n => {
                return Err(format!(
                    "{at}: unknown placeholder {{{n}}} in {text:?}; use {{v}}, {{kind-}}, \
                     {{-kind}} or a named group of an \"all\" pattern"
                ));
            }
        });
        rest = &rest[open + close + 1..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest.to_string()));
    }
    if let Some(bad) = pieces.iter().find_map(|p| match p {
        Piece::Text(t) if !t.is_empty() && !valid_prefix(t) => Some(t),
        _ => None,
    }) {
        return Err(format!(
            "{at}: {bad:?} in {text:?} cannot be part of a prefix ([A-Za-z0-9._-])"
        ));
    }
    Ok(pieces)
}

/// `Err` naming the first key of `table` that is not `allowed`, with a suggestion.
pub(super) fn check_keys(table: &toml::Table, at: &str, allowed: &[&str]) -> Result<(), String> {
    let Some(k) = table.keys().find(|k| !allowed.contains(&k.as_str())) else {
        return Ok(());
    };
    let hint = allowed
        .iter()
        .map(|a| (strsim::jaro_winkler(a, k), a))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, a)| format!("; did you mean {a:?}?"))
        .unwrap_or_default();
    Err(format!("{at}.{k}: unknown key {k:?}{hint}"))
}

/// The keys of one TOML table, checked against the allowed ones.
struct Fields<'a> {
    table: &'a toml::Table,
    at: &'a str,
}

impl<'a> Fields<'a> {
    fn new(table: &'a toml::Table, at: &'a str, allowed: &[&str]) -> Result<Self, String> {
        check_keys(table, at, allowed)?;
        Ok(Fields { table, at })
    }

    fn string(&self, key: &str) -> Result<Option<String>, String> {
        match self.table.get(key) {
            None => Ok(None),
            Some(toml::Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(format!("{}.{key}: expected a string", self.at)),
        }
    }

    fn strings(&self, key: &str) -> Result<Option<Vec<String>>, String> {
        match self.table.get(key) {
            None => Ok(None),
            Some(toml::Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    toml::Value::String(s) => Ok(s.clone()),
                    _ => Err(format!("{}.{key}: expected a list of strings", self.at)),
                })
                .collect::<Result<_, _>>()
                .map(Some),
            Some(_) => Err(format!("{}.{key}: expected a list of strings", self.at)),
        }
    }

    fn tables(&self, key: &str) -> Result<Option<Vec<&'a toml::Table>>, String> {
        match self.table.get(key) {
            None => Ok(None),
            Some(toml::Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    toml::Value::Table(t) => Ok(t),
                    _ => Err(format!("{}.{key}: expected a list of tables", self.at)),
                })
                .collect::<Result<_, _>>()
                .map(Some),
            Some(_) => Err(format!("{}.{key}: expected a list of tables", self.at)),
        }
    }
}

/// The rule sets in force: the built-in ones, each replaced by a configured set of its name,
/// plus the other configured sets.
#[derive(Clone, Debug)]
pub struct RuleSets {
    sets: BTreeMap<String, RuleSet>,
}

impl RuleSets {
    /// The built-in sets overlaid with `configured` (`[[repomap.ruleset]]`).
    pub fn new(configured: &[toml::Table]) -> Result<RuleSets, String> {
        let mut sets = built_in().clone();
        let mut seen = BTreeMap::new();
        for (i, t) in configured.iter().enumerate() {
            let at = format!("repomap.ruleset[{i}]");
            let set = RuleSet::from_table(t, &at)?;
            if let Some(first) = seen.insert(set.name.clone(), i) {
                return Err(format!(
                    "{at}.name: {:?} is already the name of repomap.ruleset[{first}]",
                    set.name
                ));
            }
            sets.insert(set.name.clone(), set);
        }
        Ok(RuleSets { sets })
    }

    /// The set called `name`.
    pub fn get(&self, name: &str) -> Option<&RuleSet> {
        self.sets.get(name)
    }

    /// Every set's name.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.sets.keys().map(String::as_str)
    }
}

impl Default for RuleSets {
    fn default() -> Self {
        RuleSets {
            sets: built_in().clone(),
        }
    }
}

/// The sets of `rulesets.toml`, parsed once.
fn built_in() -> &'static BTreeMap<String, RuleSet> {
    static SETS: OnceLock<BTreeMap<String, RuleSet>> = OnceLock::new();
    SETS.get_or_init(|| {
        let doc: toml::Table = toml::from_str(BUILT_IN).expect("rulesets.toml is TOML");
        let list = doc
            .get("ruleset")
            .and_then(toml::Value::as_array)
            .expect("rulesets.toml has [[ruleset]] tables");
        list.iter()
            .enumerate()
            .map(|(i, v)| {
                let t = v.as_table().expect("a [[ruleset]] table");
                let set = RuleSet::from_table(t, &format!("built-in ruleset[{i}]"))
                    .unwrap_or_else(|e| panic!("rulesets.toml: {e}"));
                (set.name.clone(), set)
            })
            .collect()
    })
}

#[cfg(test)]
mod tests;
