//! The scanner's settings (control-plane.md §4, §10): `[scanner]`, the `[[scanner.master]]`
//! entries (§4.1), `[file_details]` and the rule sets of `[[repomap.ruleset]]`, read from the
//! [`Config`] and checked once, so a bad entry stops a command before it scans anything.

use std::path::PathBuf;
use std::time::Duration;

use mirrorfleet_config::{ConfigError, Origin};
use regex::Regex;

use super::repomap::{RuleSets, check_keys};
use crate::config::Config;

/// One `[[scanner.master]]` entry: where a category's tree is on this machine.
#[derive(Clone, Debug)]
pub struct Master {
    /// The category's name (matched as the database matches names, ignoring case).
    pub category: String,
    /// The local directory holding the category's topdir.
    pub path: PathBuf,
    /// A fullfiletimelist-style file describing the tree, used instead of walking when valid.
    pub list_file: Option<PathBuf>,
    /// What the list's paths are relative to (default: the list file's directory).
    pub list_base: Option<PathBuf>,
    /// Directories whose path below the topdir matches one of these are ignored, with
    /// everything below them.
    pub excludes: Vec<Regex>,
}

impl Master {
    /// The directory the list file's paths are relative to.
    pub fn list_base(&self) -> Option<PathBuf> {
        self.list_base.clone().or_else(|| {
            self.list_file
                .as_ref()
                .and_then(|f| f.parent().map(|p| p.to_path_buf()))
        })
    }

    /// Is the directory at `rel` (below the topdir, not empty) ignored?
    pub fn excluded(&self, rel: &str) -> bool {
        rel.split('/').any(|c| c == ".snapshot" || c == ".~tmp~")
            || self.excludes.iter().any(|r| r.is_match(rel))
    }
}

/// Everything the scanner reads from the configuration.
#[derive(Clone, Debug)]
pub struct ScanSettings {
    /// `scanner.enabled`: the scheduled scan inside `serve` (a CLI `scan` always runs).
    pub enabled: bool,
    /// `scanner.interval`.
    pub interval: Duration,
    /// `[[scanner.master]]`.
    pub masters: Vec<Master>,
    /// `scanner.delete_directories`.
    pub delete_directories: bool,
    /// `scanner.max_delete_fraction`.
    pub max_delete_fraction: f64,
    /// `scanner.checksum_files`.
    pub checksum_files: bool,
    /// `scanner.hash_workers` (at least 1).
    pub hash_workers: usize,
    /// `scanner.skip_repo_prefixes`.
    pub skip_repo_prefixes: Vec<String>,
    /// `scanner.ostree_arch`.
    pub ostree_arch: String,
    /// `file_details.keep_days`.
    pub keep_days: u32,
    /// `file_details.max_alternates`.
    pub max_alternates: u32,
    /// The built-in rule sets overlaid with `[[repomap.ruleset]]`.
    pub rulesets: RuleSets,
    /// `data.dir`: where the scanner's lock file lives on SQLite.
    pub data_dir: PathBuf,
}

impl ScanSettings {
    /// The settings of `config`; a malformed `[[scanner.master]]` or `[[repomap.ruleset]]`
    /// entry is a configuration error naming it.
    pub fn from_config(config: &Config) -> Result<ScanSettings, ConfigError> {
        let origin = |key: &str| {
            config
                .settings()
                .iter()
                .find(|s| s.key == key)
                .map_or(Origin::Default, |s| s.origin.clone())
        };
        let masters = config
            .scanner
            .master
            .iter()
            .enumerate()
            .map(|(i, t)| master(t, i))
            .collect::<Result<Vec<_>, String>>()
            .map_err(|e| error(e, &origin("scanner.master")))?;
        for (i, m) in masters.iter().enumerate() {
            if let Some(j) = masters[..i]
                .iter()
                .position(|o| o.category.to_lowercase() == m.category.to_lowercase())
            {
                return Err(error(
                    format!(
                        "scanner.master[{i}].category: {:?} is already scanned by \
                         scanner.master[{j}]",
                        m.category
                    ),
                    &origin("scanner.master"),
                ));
            }
        }
        let rulesets = RuleSets::new(&config.repomap.ruleset)
            .map_err(|e| error(e, &origin("repomap.ruleset")))?;
        Ok(ScanSettings {
            enabled: config.scanner.enabled,
            interval: config.scanner.interval,
            masters,
            delete_directories: config.scanner.delete_directories,
            max_delete_fraction: config.scanner.max_delete_fraction,
            checksum_files: config.scanner.checksum_files,
            hash_workers: config.scanner.hash_workers.max(1) as usize,
            skip_repo_prefixes: config.scanner.skip_repo_prefixes.clone(),
            ostree_arch: config.scanner.ostree_arch.clone(),
            keep_days: config.file_details.keep_days,
            max_alternates: config.file_details.max_alternates,
            rulesets,
            data_dir: config.data.dir.clone(),
        })
    }
}

/// `message` starts with the key it is about (`scanner.master[0].path: …`).
fn error(message: String, origin: &Origin) -> ConfigError {
    let (key, rest) = message.split_once(": ").unwrap_or(("", &message));
    let location = (!matches!(origin, Origin::Default)).then(|| origin.describe());
    ConfigError::new((!key.is_empty()).then_some(key), rest, location)
}

/// Reads the `[[scanner.master]]` table number `i`.
fn master(t: &toml::Table, i: usize) -> Result<Master, String> {
    let at = format!("scanner.master[{i}]");
    check_keys(
        t,
        &at,
        &["category", "path", "list_file", "list_base", "excludes"],
    )?;
    let text = |key: &str| -> Result<Option<String>, String> {
        match t.get(key) {
            None => Ok(None),
            Some(toml::Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.clone())),
            Some(_) => Err(format!("{at}.{key}: expected a non-empty string")),
        }
    };
    let category = text("category")?.ok_or_else(|| format!("{at}: missing \"category\""))?;
    let path = text("path")?.ok_or_else(|| format!("{at}: missing \"path\""))?;
    let excludes = match t.get("excludes") {
        None => Vec::new(),
        Some(toml::Value::Array(items)) => items
            .iter()
            .map(|v| {
                let p = v
                    .as_str()
                    .ok_or_else(|| format!("{at}.excludes: expected a list of strings"))?;
                Regex::new(p).map_err(|e| {
                    format!(
                        "{at}.excludes: {p:?} is not a regular expression: {}",
                        e.to_string().replace('\n', " ")
                    )
                })
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(format!("{at}.excludes: expected a list of strings")),
    };
    Ok(Master {
        category,
        path: PathBuf::from(path),
        list_file: text("list_file")?.map(PathBuf::from),
        list_base: text("list_base")?.map(PathBuf::from),
        excludes,
    })
}
