//! The configuration error: one line naming the key and where its value was set.

use std::fmt;

use crate::Origin;

/// A configuration error: one line naming the key (and where it was set). The binaries print
/// it and exit with status 2 (edge-protocol.md E88, control-plane.md §10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The key concerned (dotted, e.g. `limits.idle_timeout`), when there is one.
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
    /// Where the value came from: `FILE line N`, `environment variable NAME`, a flag.
    pub location: Option<String>,
}

impl ConfigError {
    /// An error about `key` (if any) set at `location` (if known); line breaks in the message
    /// and the location become spaces, so the error stays on one line.
    pub fn new(key: Option<&str>, message: impl Into<String>, location: Option<String>) -> Self {
        let one_line = |s: String| s.replace(['\n', '\r'], " ");
        ConfigError {
            key: key.map(str::to_string),
            message: one_line(message.into()),
            location: location.map(one_line),
        }
    }

    /// An error about `key`, whose value came from `origin`.
    pub fn at(key: &str, message: impl Into<String>, origin: &Origin) -> Self {
        let location = (!matches!(origin, Origin::Default)).then(|| origin.describe());
        ConfigError::new(Some(key), message, location)
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.key, &self.location) {
            (Some(k), Some(l)) => write!(f, "{k}: {} ({l})", self.message),
            (Some(k), None) => write!(f, "{k}: {}", self.message),
            (None, Some(l)) => write!(f, "{l}: {}", self.message),
            (None, None) => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ConfigError {}
